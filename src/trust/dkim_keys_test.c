/* dkim_keys_test: first generation, idempotence, rotation in the same
 * month (letter suffix) and a later month, the selectors file, file modes,
 * key records, and refusals (bad domain, malformed list, planted link). */
#include "trust/dkim_keys.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* 2026-07-15 and 2026-09-01, UTC. */
#define T_JULY ((time_t)1784073600)
#define T_SEPT ((time_t)1788220800)

struct fixture {
	char dir[64];
	char path[256];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/dkim_keys_test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static const char *fpath(struct fixture *f, const char *rel)
{
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, rel);
	return f->path;
}

static void test_ensure_and_rotate(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";
	struct dkim_keys_list l;
	if (dkim_keys_ensure(f->dir, "example.test", T_JULY, &l, err, sizeof(err)) != 1)
		fail_msg("%s", err);
	assert_int_equal(l.count, 2);
	assert_string_equal(l.sel[0].name, "ed202607");
	assert_int_equal(l.sel[0].alg, DKIM_KEYS_ED25519);
	assert_true(l.sel[0].signing);
	assert_string_equal(l.sel[1].name, "rsa202607");
	assert_int_equal(l.sel[1].alg, DKIM_KEYS_RSA);

	struct stat st;
	assert_int_equal(stat(fpath(f, "dkim/example.test/ed202607.pem"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(fpath(f, "dkim/example.test/selectors"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(fpath(f, "dkim/example.test"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);

	/* Already there: nothing generated. */
	assert_int_equal(dkim_keys_ensure(f->dir, "example.test", T_SEPT, &l, err, sizeof(err)), 0);
	assert_int_equal(l.count, 2);

	/* Rotation in the same month takes the next letter. */
	if (dkim_keys_rotate(f->dir, "example.test", T_JULY, &l, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(l.count, 4);
	assert_false(l.sel[0].signing);
	assert_false(l.sel[1].signing);
	assert_string_equal(l.sel[2].name, "ed202607b");
	assert_string_equal(l.sel[3].name, "rsa202607b");
	assert_true(l.sel[2].signing && l.sel[3].signing);
	assert_int_equal(dkim_keys_rotate(f->dir, "example.test", T_SEPT, &l, err, sizeof(err)), 0);
	assert_string_equal(l.sel[4].name, "ed202609");

	/* What was saved is what load reads. */
	struct dkim_keys_list r;
	assert_int_equal(dkim_keys_load(f->dir, "example.test", &r, err, sizeof(err)), 0);
	assert_int_equal(r.count, 6);
	for (size_t i = 0; i < r.count; i++) {
		assert_string_equal(r.sel[i].name, l.sel[i].name);
		assert_int_equal(r.sel[i].alg, l.sel[i].alg);
		assert_int_equal(r.sel[i].signing, l.sel[i].signing);
	}

	char *rec = dkim_keys_record(f->dir, "example.test", "ed202607", err, sizeof(err));
	assert_non_null(rec);
	assert_true(strncmp(rec, "v=DKIM1; k=ed25519; p=", 22) == 0);
	assert_int_equal(strlen(rec), 22 + 44); /* 32 bytes in base64 */
	free(rec);
	rec = dkim_keys_record(f->dir, "example.test", "rsa202609", err, sizeof(err));
	assert_non_null(rec);
	assert_true(strncmp(rec, "v=DKIM1; k=rsa; p=MIIB", 22) == 0);
	free(rec);
	EVP_PKEY *k = dkim_keys_private(f->dir, "example.test", "rsa202607", err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_get_bits(k), 2048);
	EVP_PKEY_free(k);
	assert_null(dkim_keys_private(f->dir, "example.test", "nosuch", err, sizeof(err)));
	assert_null(dkim_keys_private(f->dir, "example.test", "../x", err, sizeof(err)));
}

static void test_limits_and_refusals(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";
	struct dkim_keys_list l;
	assert_int_equal(dkim_keys_ensure(f->dir, "../etc", T_JULY, &l, err, sizeof(err)), -1);
	assert_int_equal(dkim_keys_ensure(f->dir, "Example.test", T_JULY, &l, err, sizeof(err)), -1);
	assert_int_equal(dkim_keys_ensure(f->dir, "a..b", T_JULY, &l, err, sizeof(err)), -1);
	assert_false(dkim_keys_is_valid_domain(""));
	assert_true(dkim_keys_is_valid_domain("mail-1.example.test"));

	/* No directory yet: an empty list. */
	assert_int_equal(dkim_keys_load(f->dir, "none.test", &l, err, sizeof(err)), 0);
	assert_int_equal(l.count, 0);

	/* A malformed list is an error naming the line. */
	assert_int_equal(mkdir(fpath(f, "dkim"), 0700), 0);
	assert_int_equal(mkdir(fpath(f, "dkim/bad.test"), 0700), 0);
	FILE *fp = fopen(fpath(f, "dkim/bad.test/selectors"), "w");
	assert_non_null(fp);
	fputs("# comment\n\nsel1 ed25519 sign\nsel2 dsa sign\n", fp);
	fclose(fp);
	assert_int_equal(dkim_keys_load(f->dir, "bad.test", &l, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "selectors:4:"));
	assert_int_equal(dkim_keys_rotate(f->dir, "bad.test", T_JULY, &l, err, sizeof(err)), -1);

	/* A planted symbolic link as key file is refused. */
	assert_int_equal(mkdir(fpath(f, "dkim/link.test"), 0700), 0);
	assert_int_equal(symlink("/etc/passwd", fpath(f, "dkim/link.test/s1.pem")), 0);
	assert_null(dkim_keys_private(f->dir, "link.test", "s1", err, sizeof(err)));

	/* The list is bounded: rotations past the maximum are refused. */
	assert_int_equal(dkim_keys_ensure(f->dir, "full.test", T_JULY, &l, err, sizeof(err)), 1);
	int ok = 0;
	while (dkim_keys_rotate(f->dir, "full.test", T_JULY, &l, err, sizeof(err)) == 0)
		ok++;
	assert_int_equal(ok, DKIM_KEYS_SELECTORS_MAX / 2 - 1);
	assert_non_null(strstr(err, "remove retired ones"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ensure_and_rotate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits_and_refusals, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
