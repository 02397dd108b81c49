/* maildir_test: unit tests for store/maildir.c in mkdtemp directories:
 * maildir_path's refusal of names that could escape the tree,
 * maildir_ensure (parents, tmp/new/cur, idempotence), the unique name
 * format and its uniqueness, and maildir_deliver: one inode hard-linked
 * into three maildirs, all-or-nothing rollback, and the copy fallback when
 * link() fails with EXDEV (source on /dev/shm, maildirs under /tmp; skipped
 * when both are one filesystem). Tests run as root in CI: permission cases
 * are skipped there and a non-directory new/ is used instead. Also the
 * pure info-flag helpers (has/add a flag, ASCII order, NAME_MAX). */
#include "store/maildir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"

/* ---- helpers ---- */

static char *make_tmpdir(const char *parent)
{
	char tmpl[256];
	int n = snprintf(tmpl, sizeof(tmpl), "%s/maildir_test.XXXXXX", parent);

	assert_true(n > 0 && (size_t)n < sizeof(tmpl));
	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void remove_tree(char **dirp)
{
	if (*dirp == NULL)
		return;
	assert_int_equal(nftw(*dirp, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
	free(*dirp);
	*dirp = NULL;
}

/* Path join into a static-size buffer with a truncation check. */
static void join(char *out, size_t out_size, const char *a, const char *b)
{
	int n = snprintf(out, out_size, "%s/%s", a, b);

	assert_true(n > 0 && (size_t)n < out_size);
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Entries in dir other than "." and ".."; -1 when it cannot be opened. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL)
		return -1;
	for (struct dirent *de; (de = readdir(d)) != NULL;)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	assert_int_equal(closedir(d), 0);
	return n;
}

static void write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void assert_file_content(const char *path, const char *data,
				size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf = xmalloc(len + 1);

	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, len + 1), (ssize_t)len);
	assert_memory_equal(buf, data, len);
	assert_int_equal(close(fd), 0);
	free(buf);
}

/* ---- maildir_path ---- */

struct path_case {
	const char *address;
	const char *want; /* NULL: refused */
};

static const struct path_case path_cases[] = {
	{ .address = "bob@example.test",
	  .want = "/srv/k/mail/example.test/bob" },
	{ .address = "first.last@example.test",
	  .want = "/srv/k/mail/example.test/first.last" },
	{ .address = "bob.@example.test",
	  .want = "/srv/k/mail/example.test/bob." },
	{ .address = "a+b=c@sub.example.test",
	  .want = "/srv/k/mail/sub.example.test/a+b=c" },
	/* the last '@' splits: the local part is one path component */
	{ .address = "a@b@example.test",
	  .want = "/srv/k/mail/example.test/a@b" },
	{ .address = "../x@d" },
	{ .address = "..@d" },
	{ .address = ".@d" },
	{ .address = ".x@d" },
	{ .address = "a/b@d" },
	{ .address = "/x@d" },
	{ .address = "x/@d" },
	{ .address = "x@../d" },
	{ .address = "x@.." },
	{ .address = "x@.d" },
	{ .address = "x@d/e" },
	{ .address = "x@d/../../etc" },
	{ .address = "@d" },
	{ .address = "x@" },
	{ .address = "@" },
	{ .address = "" },
	{ .address = "nodomain" },
	{ .address = "a\tb@d" },
	{ .address = "a\nb@d" },
	{ .address = "a\x7f@d" },
	{ .address = "x@d\r" },
	/* RFC 6531: a UTF-8 local part is its own bytes on disk... */
	{ .address = "j\xc3\xb6rg@example.test",
	  .want = "/srv/k/mail/example.test/j\xc3\xb6rg" },
	{ .address = "\xe7\x94\xb0\xe4\xb8\xad@example.test",
	  .want = "/srv/k/mail/example.test/\xe7\x94\xb0\xe4\xb8\xad" },
	/* ...but only well-formed and visible: */
	{ .address = "j\xf6rg@d" }, /* Latin-1, not UTF-8 */
	{ .address = "\xc0\xaf@d" }, /* overlong '/' */
	{ .address = "a\xed\xa0\x80@d" }, /* surrogate */
	{ .address = "a\xc3@d" }, /* truncated */
	{ .address = "a\xc2\x85@d" }, /* C1 NEL */
	{ .address = "a\xe2\x80\xae@d" }, /* right-to-left override */
	{ .address = "x@d\xc2\x9b" },
};

static void test_path_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]);
	     i++) {
		const struct path_case *c = &path_cases[i];
		char out[256];
		int rc = maildir_path("/srv/k", c->address, out, sizeof(out));

		if (c->want == NULL) {
			if (rc != -1)
				fail_msg("\"%s\" accepted as \"%s\"", c->address,
					 out);
			continue;
		}
		if (rc != 0)
			fail_msg("\"%s\" refused", c->address);
		assert_string_equal(out, c->want);
	}
}

static void test_path_too_long(void **state)
{
	(void)state;
	const char *want = "/srv/k/mail/example.test/bob";
	size_t len = strlen(want);
	char out[64];

	assert_int_equal(maildir_path("/srv/k", "bob@example.test", out,
				      len + 1), 0);
	assert_string_equal(out, want);
	assert_int_equal(maildir_path("/srv/k", "bob@example.test", out, len),
			 -1);
	assert_int_equal(maildir_path("/srv/k", "bob@example.test", out, 1),
			 -1);
}

/* ---- maildir_ensure ---- */

static void assert_maildir(const char *path)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	char sub[512];
	struct stat st;

	assert_true(is_dir(path));
	for (size_t i = 0; i < 3; i++) {
		join(sub, sizeof(sub), path, subs[i]);
		assert_int_equal(stat(sub, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		/* private to the server */
		assert_int_equal(st.st_mode & 077, 0);
	}
}

static void test_ensure(void **state)
{
	(void)state;
	char *root = make_tmpdir("/tmp");
	char md[512], file[600], err[256] = "";

	/* missing parents are made too */
	join(md, sizeof(md), root, "mail/example.test/bob");
	assert_int_equal(maildir_ensure(md, err, sizeof(err)), 0);
	assert_maildir(md);

	/* idempotent, and keeps what is there */
	join(file, sizeof(file), md, "new/1.M1P1Q1.h,S=1,W=1");
	write_file(file, "x", 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(maildir_ensure(md, err, sizeof(err)), 0);
	assert_maildir(md);
	assert_file_content(file, "x", 1);

	/* an existing empty directory gets its subdirectories */
	join(md, sizeof(md), root, "mail/example.test/carol");
	assert_int_equal(mkdir(md, 0700), 0);
	assert_int_equal(maildir_ensure(md, err, sizeof(err)), 0);
	assert_maildir(md);

	/* a file in the way is an error with a message */
	join(md, sizeof(md), root, "mail/example.test/file");
	write_file(md, "", 0);
	err[0] = '\0';
	assert_int_equal(maildir_ensure(md, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');

	remove_tree(&root);
}

/* maildir.h: maildir_ensure "creates path and its tmp/new/cur". A
 * maildir whose tmp/ was removed (by hand, or made by a tool that only
 * created new/ and cur/) must get it back, or the copy fallback of
 * maildir_deliver fails for it forever.
 *
 * BUG (maildir.c, found by this test): maildir_ensure() returns 0 as soon
 * as cur/ and new/ exist, without checking tmp/. */
static void test_ensure_repairs_tmp(void **state)
{
	(void)state;
	char *root = make_tmpdir("/tmp");
	char md[512], sub[600], err[256] = "";

	join(md, sizeof(md), root, "bob");
	assert_int_equal(maildir_ensure(md, err, sizeof(err)), 0);
	join(sub, sizeof(sub), md, "tmp");
	assert_int_equal(rmdir(sub), 0);
	int rc = maildir_ensure(md, err, sizeof(err));
	bool repaired = is_dir(sub);
	remove_tree(&root);
	assert_int_equal(rc, 0);
	assert_true(repaired); /* fails: see BUG above */
}

/* ---- maildir_unique_name ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct name_case {
	const char *host;
	const char *want_host; /* as it must appear in the name */
	uint64_t size, vsize;
};

static const struct name_case name_cases[] = {
	{ .host = "mx.example.test", .want_host = "mx.example.test",
	  .size = 0, .vsize = 0 },
	{ .host = "h", .want_host = "h", .size = 123, .vsize = 130 },
	/* '/' ':' ',' would break the path, the flags or the S=/W= list */
	{ .host = "a/b:c,d", .want_host = "a\\057b\\072c\\054d",
	  .size = 1, .vsize = 2 },
	{ .host = "big", .want_host = "big",
	  .size = UINT64_MAX, .vsize = UINT64_MAX },
};

static void test_unique_name_format(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]);
	     i++) {
		const struct name_case *c = &name_cases[i];
		char name[512], tail[400];
		long long secs;
		long usec;
		int pid, off = 0;
		unsigned q;
		struct timeval now;

		maildir_unique_name(name, sizeof(name), c->host, c->size,
				    c->vsize);
		assert_null(strchr(name, '/'));
		assert_null(strchr(name, ':'));
		/* SECS.M<usec, 6 digits>P<pid>Q<seq>.HOST,S=..,W=.. */
		regex_t re;
		assert_int_equal(regcomp(&re,
					 "^[0-9]+\\.M[0-9]{6}P[0-9]+Q[0-9]+\\.",
					 REG_EXTENDED | REG_NOSUB), 0);
		if (regexec(&re, name, 0, NULL, 0) != 0)
			fail_msg("bad name \"%s\"", name);
		regfree(&re);
		assert_int_equal(sscanf(name, "%lld.M%6ldP%dQ%u.%n", &secs,
					&usec, &pid, &q, &off), 4);
		assert_int_equal(pid, getpid());
		assert_true(usec >= 0 && usec < 1000000);
		assert_int_equal(gettimeofday(&now, NULL), 0);
		assert_true(secs <= (long long)now.tv_sec &&
			    secs >= (long long)now.tv_sec - 5);
		int n = snprintf(tail, sizeof(tail), "%s,S=%llu,W=%llu",
				 c->want_host, (unsigned long long)c->size,
				 (unsigned long long)c->vsize);
		assert_true(n > 0 && (size_t)n < sizeof(tail));
		assert_string_equal(name + off, tail);
	}
}

static void test_unique_name_long_host(void **state)
{
	(void)state;
	char host[1000], name[2048];

	/* escapes near the internal limit must not overflow */
	for (size_t i = 0; i < sizeof(host) - 1; i++)
		host[i] = i % 3 == 0 ? '/' : 'h';
	host[sizeof(host) - 1] = '\0';
	maildir_unique_name(name, sizeof(name), host, 1, 1);
	assert_null(strchr(name, '/'));
	assert_non_null(strstr(name, ",S=1,W=1"));
	/* a short output buffer truncates, NUL-terminated */
	memset(name, 'Z', sizeof(name));
	maildir_unique_name(name, 16, "host", 1, 1);
	assert_int_equal(strlen(name), 15);
}

#define UNIQUE_N 10000

static void test_unique_name_unique(void **state)
{
	(void)state;
	char **names = xcalloc(UNIQUE_N, sizeof(char *));
	char buf[256];

	for (size_t i = 0; i < UNIQUE_N; i++) {
		maildir_unique_name(buf, sizeof(buf), "mx.example.test", 10,
				    12);
		names[i] = xstrdup(buf);
	}
	qsort(names, UNIQUE_N, sizeof(char *), cmp_str);
	for (size_t i = 1; i < UNIQUE_N; i++)
		if (strcmp(names[i - 1], names[i]) == 0)
			fail_msg("duplicate name %s", names[i]);
	for (size_t i = 0; i < UNIQUE_N; i++)
		free(names[i]);
	free(names);
}

/* ---- maildir_deliver ---- */

static const char msg_text[] = "From: a@b\nSubject: hi\n\nbody\n\0bin\xff\n";
#define MSG_LEN (sizeof(msg_text) - 1)

#define NMD 3

struct deliv {
	char *src_root; /* owned tree */
	char *md_root; /* owned tree; may equal a second fs */
	char *md_root2; /* owned tree or NULL: maildirs[0] lives here */
	char src[512];
	int fd;
	char md[NMD][512];
	const char *mds[NMD];
};

/* Source file under src_parent, three ensured maildirs under md_parent
 * (the first one under md0_parent when not NULL). */
static void deliv_setup(struct deliv *d, const char *src_parent,
			const char *md_parent, const char *md0_parent)
{
	char err[256];

	memset(d, 0, sizeof(*d));
	d->src_root = make_tmpdir(src_parent);
	d->md_root = make_tmpdir(md_parent);
	if (md0_parent != NULL)
		d->md_root2 = make_tmpdir(md0_parent);
	join(d->src, sizeof(d->src), d->src_root, "incoming-1");
	write_file(d->src, msg_text, MSG_LEN);
	d->fd = open(d->src, O_RDONLY | O_CLOEXEC);
	assert_true(d->fd >= 0);
	for (size_t i = 0; i < NMD; i++) {
		char leaf[32];

		(void)snprintf(leaf, sizeof(leaf), "user%zu", i);
		join(d->md[i], sizeof(d->md[i]),
		     i == 0 && d->md_root2 != NULL ? d->md_root2 : d->md_root,
		     leaf);
		assert_int_equal(maildir_ensure(d->md[i], err, sizeof(err)),
				 0);
		d->mds[i] = d->md[i];
	}
}

static void deliv_teardown(struct deliv *d)
{
	assert_int_equal(close(d->fd), 0);
	remove_tree(&d->src_root);
	remove_tree(&d->md_root);
	remove_tree(&d->md_root2);
}

static void entry_path(char *out, size_t out_size, const char *md,
		       const char *sub, const char *name)
{
	int n = snprintf(out, out_size, "%s/%s/%s", md, sub, name);

	assert_true(n > 0 && (size_t)n < out_size);
}

static void test_deliver_links(void **state)
{
	(void)state;
	struct deliv d;
	char name[256], p[1024], err[256] = "";
	struct stat src_st, st;

	deliv_setup(&d, "/tmp", "/tmp", NULL);
	maildir_unique_name(name, sizeof(name), "h", MSG_LEN, MSG_LEN + 4);
	assert_int_equal(maildir_deliver(d.fd, d.src, d.mds, NMD, name, err,
					 sizeof(err)), 0);
	assert_int_equal(stat(d.src, &src_st), 0);
	assert_int_equal(src_st.st_nlink, 1 + NMD);
	for (size_t i = 0; i < NMD; i++) {
		entry_path(p, sizeof(p), d.md[i], "new", name);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_ino, src_st.st_ino);
		assert_int_equal(st.st_dev, src_st.st_dev);
		assert_file_content(p, msg_text, MSG_LEN);
		entry_path(p, sizeof(p), d.md[i], "tmp", "");
		assert_int_equal(count_entries(p), 0);
	}
	/* intake unlinks its incoming name afterwards: the copies stay */
	assert_int_equal(unlink(d.src), 0);
	entry_path(p, sizeof(p), d.md[0], "new", name);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_nlink, NMD);

	/* zero maildirs is a no-op success */
	assert_int_equal(maildir_deliver(d.fd, "/nonexistent", d.mds, 0, name,
					 err, sizeof(err)), 0);
	deliv_teardown(&d);
}

/* How the third maildir is broken for the rollback cases. */
enum breakage {
	BREAK_NEW_MISSING,
	BREAK_NEW_IS_FILE, /* works as root too */
	BREAK_NEW_READONLY, /* non-root only */
	BREAK_MAILDIR_MISSING,
	BREAK_NAME_EXISTS,
};

struct rollback_case {
	const char *name;
	enum breakage how;
	bool needs_nonroot;
};

static const struct rollback_case rollback_cases[] = {
	{ .name = "new/ missing", .how = BREAK_NEW_MISSING },
	{ .name = "new/ is a file", .how = BREAK_NEW_IS_FILE },
	{ .name = "new/ not writable", .how = BREAK_NEW_READONLY,
	  .needs_nonroot = true },
	{ .name = "maildir missing", .how = BREAK_MAILDIR_MISSING },
	{ .name = "name already taken", .how = BREAK_NAME_EXISTS },
};

static void break_maildir(const struct deliv *d, enum breakage how,
			  const char *name)
{
	char p[1024];

	switch (how) {
	case BREAK_NEW_MISSING:
		entry_path(p, sizeof(p), d->md[2], "new", "");
		assert_int_equal(rmdir(p), 0);
		break;
	case BREAK_NEW_IS_FILE:
		entry_path(p, sizeof(p), d->md[2], "new", "");
		assert_int_equal(rmdir(p), 0);
		p[strlen(p) - 1] = '\0'; /* drop the trailing '/' */
		write_file(p, "", 0);
		break;
	case BREAK_NEW_READONLY:
		entry_path(p, sizeof(p), d->md[2], "new", "");
		assert_int_equal(chmod(p, 0500), 0);
		break;
	case BREAK_MAILDIR_MISSING: {
		char *md = xstrdup(d->md[2]);

		assert_int_equal(nftw(md, rm_entry, 16, FTW_DEPTH | FTW_PHYS),
				 0);
		free(md);
		break;
	}
	case BREAK_NAME_EXISTS:
		entry_path(p, sizeof(p), d->md[2], "new", name);
		write_file(p, "older", 5);
		break;
	}
}

static void unbreak_maildir(const struct deliv *d, enum breakage how)
{
	char p[1024];

	if (how == BREAK_NEW_READONLY) {
		entry_path(p, sizeof(p), d->md[2], "new", "");
		assert_int_equal(chmod(p, 0700), 0);
	}
}

static void check_rolled_back(const struct deliv *d,
			      const struct rollback_case *c, const char *name,
			      const char *err)
{
	char p[1024];
	struct stat st;

	if (err[0] == '\0')
		fail_msg("%s: no error message", c->name);
	for (size_t i = 0; i < 2; i++) {
		entry_path(p, sizeof(p), d->md[i], "new", name);
		if (stat(p, &st) == 0)
			fail_msg("%s: %s left behind", c->name, p);
		entry_path(p, sizeof(p), d->md[i], "new", "");
		assert_int_equal(count_entries(p), 0);
	}
	for (size_t i = 0; i < NMD; i++) {
		entry_path(p, sizeof(p), d->md[i], "tmp", "");
		int n = count_entries(p);
		if (n > 0)
			fail_msg("%s: %d file(s) left in %s", c->name, n, p);
	}
	if (c->how == BREAK_NAME_EXISTS) {
		/* somebody else's file is not ours to remove */
		entry_path(p, sizeof(p), d->md[2], "new", name);
		assert_file_content(p, "older", 5);
	}
}

static void run_rollback_cases(const char *src_parent, const char *md_parent,
			       const char *md0_parent)
{
	for (size_t i = 0;
	     i < sizeof(rollback_cases) / sizeof(rollback_cases[0]); i++) {
		const struct rollback_case *c = &rollback_cases[i];
		struct deliv d;
		char name[256], err[256] = "";
		struct stat st;

		if (c->needs_nonroot && geteuid() == 0) {
			print_message("skipping \"%s\": running as root\n",
				      c->name);
			continue;
		}
		deliv_setup(&d, src_parent, md_parent, md0_parent);
		maildir_unique_name(name, sizeof(name), "h", MSG_LEN,
				    MSG_LEN + 4);
		break_maildir(&d, c->how, name);
		if (maildir_deliver(d.fd, d.src, d.mds, NMD, name, err,
				    sizeof(err)) != -1)
			fail_msg("%s: delivered", c->name);
		check_rolled_back(&d, c, name, err);
		/* the source is intact and unlinked from everywhere */
		assert_int_equal(stat(d.src, &st), 0);
		assert_int_equal(st.st_nlink, 1);
		assert_file_content(d.src, msg_text, MSG_LEN);
		unbreak_maildir(&d, c->how);
		deliv_teardown(&d);
	}
}

static void test_deliver_rollback(void **state)
{
	(void)state;
	run_rollback_cases("/tmp", "/tmp", NULL);
}

/* True when /dev/shm and /tmp are different filesystems, so link() from
 * one into the other fails with EXDEV. */
static bool have_two_filesystems(void)
{
	struct stat a, b;

	return stat("/dev/shm", &a) == 0 && S_ISDIR(a.st_mode) &&
	       access("/dev/shm", W_OK) == 0 && stat("/tmp", &b) == 0 &&
	       a.st_dev != b.st_dev;
}

static void test_deliver_copy_fallback(void **state)
{
	(void)state;
	if (!have_two_filesystems()) {
		print_message("skipping: /dev/shm and /tmp are one filesystem, "
			      "cannot force EXDEV\n");
		skip();
	}
	struct deliv d;
	char name[256], p[1024], err[256] = "";
	struct stat src_st, st;

	/* maildir 0 beside the source (linked), 1 and 2 elsewhere (copied) */
	deliv_setup(&d, "/dev/shm", "/tmp", "/dev/shm");
	maildir_unique_name(name, sizeof(name), "h", MSG_LEN, MSG_LEN + 4);
	assert_int_equal(maildir_deliver(d.fd, d.src, d.mds, NMD, name, err,
					 sizeof(err)), 0);
	assert_int_equal(stat(d.src, &src_st), 0);
	assert_int_equal(src_st.st_nlink, 2);
	for (size_t i = 0; i < NMD; i++) {
		entry_path(p, sizeof(p), d.md[i], "new", name);
		assert_int_equal(stat(p, &st), 0);
		if (i == 0) {
			assert_int_equal(st.st_ino, src_st.st_ino);
		} else {
			assert_true(st.st_dev != src_st.st_dev);
			assert_int_equal(st.st_nlink, 1);
			assert_int_equal(st.st_size, (off_t)MSG_LEN);
		}
		assert_file_content(p, msg_text, MSG_LEN);
		entry_path(p, sizeof(p), d.md[i], "tmp", "");
		assert_int_equal(count_entries(p), 0);
	}
	deliv_teardown(&d);
}

/* Rollback when the first entries were copies (and one a link). */
static void test_deliver_copy_rollback(void **state)
{
	(void)state;
	if (!have_two_filesystems()) {
		print_message("skipping: /dev/shm and /tmp are one filesystem, "
			      "cannot force EXDEV\n");
		skip();
	}
	run_rollback_cases("/dev/shm", "/tmp", "/dev/shm");
}

/* A large message crosses the 64 KiB copy buffer several times. */
static void test_deliver_copy_large(void **state)
{
	(void)state;
	if (!have_two_filesystems()) {
		print_message("skipping: /dev/shm and /tmp are one filesystem, "
			      "cannot force EXDEV\n");
		skip();
	}
	enum { BIG = 3 * 65536 + 17 };
	char *big = xmalloc(BIG);
	char *src_root = make_tmpdir("/dev/shm");
	char *md_root = make_tmpdir("/tmp");
	char src[512], md[512], p[1024], name[256], err[256] = "";

	for (size_t i = 0; i < BIG; i++)
		big[i] = (char)(i * 31 + i / 7);
	join(src, sizeof(src), src_root, "in");
	write_file(src, big, BIG);
	join(md, sizeof(md), md_root, "u");
	assert_int_equal(maildir_ensure(md, err, sizeof(err)), 0);
	int fd = open(src, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	const char *mds[1] = { md };
	maildir_unique_name(name, sizeof(name), "h", BIG, BIG);
	assert_int_equal(maildir_deliver(fd, src, mds, 1, name, err,
					 sizeof(err)), 0);
	entry_path(p, sizeof(p), md, "new", name);
	assert_file_content(p, big, BIG);
	assert_int_equal(close(fd), 0);
	free(big);
	remove_tree(&src_root);
	remove_tree(&md_root);
}

/* ---- info flags ---- */

struct flag_case {
	const char *name;
	char flag;
	int rc; /* maildir_name_add_flag */
	const char *want; /* out */
	bool had; /* maildir_name_has_flag before */
};

static const struct flag_case flag_cases[] = {
	/* No info: ":2,S" appended (new/ -> cur/ as Dovecot does). */
	{ .name = "1700000001.M1P2Q3.h,S=5,W=6", .flag = 'S', .rc = 1,
	  .want = "1700000001.M1P2Q3.h,S=5,W=6:2,S" },
	{ .name = "x:2,", .flag = 'S', .rc = 1, .want = "x:2,S" },
	/* ASCII order: D F R S T, keywords (a..z) after. */
	{ .name = "x:2,F", .flag = 'S', .rc = 1, .want = "x:2,FS" },
	{ .name = "x:2,T", .flag = 'S', .rc = 1, .want = "x:2,ST" },
	{ .name = "x:2,DFRT", .flag = 'S', .rc = 1, .want = "x:2,DFRST" },
	{ .name = "x:2,Fab", .flag = 'S', .rc = 1, .want = "x:2,FSab" },
	{ .name = "x:2,S", .flag = 'D', .rc = 1, .want = "x:2,DS" },
	/* Already there: unchanged, wherever it sits. */
	{ .name = "x:2,S", .flag = 'S', .rc = 0, .want = "x:2,S", .had = true },
	{ .name = "x:2,FS", .flag = 'S', .rc = 0, .want = "x:2,FS",
	  .had = true },
	{ .name = "x:2,TS", .flag = 'S', .rc = 0, .want = "x:2,TS",
	  .had = true },
	/* Another kind of info, or a ':' that starts none: left alone. */
	{ .name = "x:1,S", .flag = 'S', .rc = -1, .want = "" },
	{ .name = "x:2S", .flag = 'S', .rc = -1, .want = "" },
	{ .name = "x:", .flag = 'S', .rc = -1, .want = "" },
	{ .name = "x:1,a:2,S", .flag = 'S', .rc = -1, .want = "" },
	/* The flag letters in the base name do not count. */
	{ .name = "S,W=3", .flag = 'S', .rc = 1, .want = "S,W=3:2,S" },
};

static void test_name_flags(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(flag_cases) / sizeof(flag_cases[0]);
	     i++) {
		const struct flag_case *c = &flag_cases[i];
		char out[300];

		memset(out, 'z', sizeof(out));
		if (maildir_name_has_flag(c->name, c->flag) != c->had)
			fail_msg("has_flag(\"%s\", %c)", c->name, c->flag);
		int rc = maildir_name_add_flag(c->name, c->flag, out,
					       sizeof(out));
		if (rc != c->rc || strcmp(out, c->want) != 0)
			fail_msg("add_flag(\"%s\", %c): %d \"%s\"", c->name,
				 c->flag, rc, rc >= 0 ? out : "");
		if (rc >= 0 && !maildir_name_has_flag(out, c->flag))
			fail_msg("has_flag(\"%s\", %c) after", out, c->flag);
	}
}

/* The result must fit in out and in NAME_MAX (255): no truncation. */
static void test_name_flags_limits(void **state)
{
	(void)state;
	char name[300], out[300];

	/* 252 + ":2,S" = 256 > NAME_MAX */
	memset(name, 'n', 252);
	name[252] = '\0';
	assert_int_equal(maildir_name_add_flag(name, 'S', out, sizeof(out)),
			 -1);
	assert_string_equal(out, "");
	/* 251 + 4 = 255 fits, but not in an out of 255 bytes (no NUL). */
	name[251] = '\0';
	assert_int_equal(maildir_name_add_flag(name, 'S', out, 255), -1);
	assert_int_equal(maildir_name_add_flag(name, 'S', out, 256), 1);
	assert_int_equal(strlen(out), 255);
	assert_string_equal(out + 251, ":2,S");
	/* Already flagged but out too small for the copy. */
	assert_int_equal(maildir_name_add_flag("x:2,S", 'S', out, 5), -1);
	assert_int_equal(maildir_name_add_flag("x:2,S", 'S', out, 6), 0);
	assert_string_equal(out, "x:2,S");
	assert_int_equal(maildir_name_add_flag("x", 'S', out, 0), -1);
}

static void test_fsync_dir(void **state)
{
	(void)state;
	char *root = make_tmpdir("/tmp");
	char p[512];

	assert_int_equal(maildir_fsync_dir(root), 0);
	join(p, sizeof(p), root, "missing");
	assert_int_equal(maildir_fsync_dir(p), -1);
	assert_int_equal(errno, ENOENT);
	remove_tree(&root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_table),
		cmocka_unit_test(test_path_too_long),
		cmocka_unit_test(test_ensure),
		cmocka_unit_test(test_ensure_repairs_tmp),
		cmocka_unit_test(test_unique_name_format),
		cmocka_unit_test(test_unique_name_long_host),
		cmocka_unit_test(test_unique_name_unique),
		cmocka_unit_test(test_deliver_links),
		cmocka_unit_test(test_deliver_rollback),
		cmocka_unit_test(test_deliver_copy_fallback),
		cmocka_unit_test(test_deliver_copy_rollback),
		cmocka_unit_test(test_deliver_copy_large),
		cmocka_unit_test(test_fsync_dir),
		cmocka_unit_test(test_name_flags),
		cmocka_unit_test(test_name_flags_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
