/* Tests for core/safefile: links, hard links, FIFOs and directories are
 * told apart and refused where asked; modes name the fixing chmod. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/safefile.h"

struct fx {
	char dir[64];
	int dfd;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/safefile_test.XXXXXX");
	if (f == NULL || mkdtemp(f->dir) == NULL)
		return -1;
	f->dfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	*state = f;
	return f->dfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = {"plain", "link", "hard", "fifo", "sub", "dirlink"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (unlinkat(f->dfd, names[i], 0) != 0)
			(void)unlinkat(f->dfd, names[i], AT_REMOVEDIR);
	(void)close(f->dfd);
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

static void make_file(int dfd, const char *name, mode_t mode)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x\n", 2), 2);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static void test_open_kinds(void **state)
{
	struct fx *f = *state;
	char err[512];
	struct stat st;
	make_file(f->dfd, "plain", 0600);
	assert_int_equal(symlinkat("plain", f->dfd, "link"), 0);
	assert_int_equal(mkfifoat(f->dfd, "fifo", 0600), 0);
	assert_int_equal(mkdirat(f->dfd, "sub", 0700), 0);
	assert_int_equal(symlinkat("sub", f->dfd, "dirlink"), 0);

	const unsigned nf = SAFEFILE_NOFOLLOW | SAFEFILE_ONE_LINK;
	int fd = safefile_open(f->dfd, "plain", "plain", nf, &st, err, sizeof(err));
	assert_true(fd >= 0);
	assert_true(S_ISREG(st.st_mode));
	(void)close(fd);

	/* A link is refused with NOFOLLOW and followed without it. */
	assert_int_equal(safefile_open(f->dfd, "link", "D/link", nf, NULL, err, sizeof(err)), -1);
	assert_int_equal(errno, ELOOP);
	assert_non_null(strstr(err, "D/link: is a symbolic link"));
	fd = safefile_open(f->dfd, "link", "link", 0, NULL, err, sizeof(err));
	assert_true(fd >= 0);
	(void)close(fd);

	/* A link to a directory is a link, not "not a directory". */
	assert_int_equal(safefile_open(f->dfd, "dirlink", "dirlink",
				       SAFEFILE_DIR | SAFEFILE_NOFOLLOW, NULL, err, sizeof(err)),
			 -1);
	assert_int_equal(errno, ELOOP);
	fd = safefile_open(f->dfd, "sub", "sub", SAFEFILE_DIR | SAFEFILE_NOFOLLOW, NULL, err,
			   sizeof(err));
	assert_true(fd >= 0);
	(void)close(fd);
	assert_int_equal(safefile_open(f->dfd, "plain", "plain", SAFEFILE_DIR, NULL, err,
				       sizeof(err)),
			 -1);
	assert_int_equal(safefile_open(f->dfd, "sub", "sub", 0, NULL, err, sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);

	/* A FIFO neither blocks the open nor passes as a file. */
	assert_int_equal(safefile_open(f->dfd, "fifo", "fifo", nf, NULL, err, sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "not a regular file"));

	/* A second hard link is refused with ONE_LINK. */
	assert_int_equal(linkat(f->dfd, "plain", f->dfd, "hard", 0), 0);
	assert_int_equal(safefile_open(f->dfd, "hard", "hard", nf, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than one hard link"));

	assert_int_equal(safefile_open(f->dfd, "missing", "missing", nf, NULL, err, sizeof(err)),
			 -1);
	assert_int_equal(errno, ENOENT);
}

static void test_modes(void **state)
{
	(void)state;
	char err[512];
	static const struct {
		mode_t mode;
		unsigned policy;
		const char *want; /* NULL: accepted */
	} cases[] = {
		{0600, SAFEFILE_NO_FOREIGN_WRITE, NULL},
		{0644, SAFEFILE_NO_FOREIGN_WRITE, NULL},
		{0664, SAFEFILE_NO_FOREIGN_WRITE, "writable by its group"},
		{0646, SAFEFILE_NO_FOREIGN_WRITE, "writable by everyone"},
		{0640, SAFEFILE_NO_FOREIGN_WRITE | SAFEFILE_NO_OTHER_READ, NULL},
		{0644, SAFEFILE_NO_FOREIGN_WRITE | SAFEFILE_NO_OTHER_READ, "chmod o-rwx F"},
		{0660, SAFEFILE_NO_FOREIGN_WRITE | SAFEFILE_NO_OTHER_READ, "chmod go-w F"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct stat st = {.st_mode = S_IFREG | cases[i].mode};
		err[0] = '\0';
		int rc = safefile_check_mode(&st, "F", cases[i].policy, err, sizeof(err));
		if (cases[i].want == NULL) {
			assert_int_equal(rc, 0);
		} else {
			assert_int_equal(rc, -1);
			if (strstr(err, cases[i].want) == NULL)
				fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].want);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_kinds, setup, teardown),
		cmocka_unit_test(test_modes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
