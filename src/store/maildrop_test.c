/* maildrop_test: the POP3 view of a Maildir in temp directories: empty and
 * missing mailboxes, ordering, unique-ids (stable, hashed, deduplicated),
 * CRLF sizes with and without ",W=", the lock against this process and a
 * forked one, commit (deletes, new/ -> cur/ move) versus close, files that
 * vanish (searched for once) or are moved by another client, the STAT
 * totals through DELE and RSET, seen marks (LAST, RSET, the S flag added at
 * commit, seen messages listed first), and 50,000 messages, timed. */
#include "store/maildrop.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "core/alloc.h"

struct tmpdir {
	char dir[64];
	char box[128]; /* dir/mail/example.org/bob */
};

static void tmp_make(struct tmpdir *t)
{
	int n = snprintf(t->dir, sizeof(t->dir), "/tmp/maildrop_test.XXXXXX");
	assert_true(n > 0 && (size_t)n < sizeof(t->dir));
	assert_non_null(mkdtemp(t->dir));
	n = snprintf(t->box, sizeof(t->box), "%s/mail/example.org/bob", t->dir);
	assert_true(n > 0 && (size_t)n < sizeof(t->box));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void tmp_remove(struct tmpdir *t)
{
	assert_int_equal(nftw(t->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static void path_in(char *out, size_t out_size, const struct tmpdir *t, const char *sub,
		    const char *name)
{
	int n = snprintf(out, out_size, "%s/%s/%s", t->box, sub, name);
	assert_true(n > 0 && (size_t)n < out_size);
}

/* Writes content to box/sub/name (sub is "new" or "cur"). */
static void put(const struct tmpdir *t, const char *sub, const char *name, const char *content)
{
	char path[512];
	path_in(path, sizeof(path), t, sub, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(content, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static bool exists(const struct tmpdir *t, const char *sub, const char *name)
{
	char path[512];
	struct stat st;
	path_in(path, sizeof(path), t, sub, name);
	return lstat(path, &st) == 0;
}

static struct maildrop *open_ok(const struct tmpdir *t)
{
	struct maildrop *md = NULL;
	bool busy = true;
	char err[256] = "";
	int rc = maildrop_open(t->box, &md, &busy, err, sizeof(err));
	if (rc != 0)
		fail_msg("maildrop_open: %s", err);
	assert_false(busy);
	assert_non_null(md);
	return md;
}

static void prepare_box(struct tmpdir *t)
{
	tmp_make(t);
	struct maildrop *md = open_ok(t); /* creates the maildir */
	maildrop_close(&md);
	assert_null(md);
}

/* ---- empty ---- */

static void test_missing_maildir_is_empty(void **state)
{
	(void)state;
	struct tmpdir t;
	tmp_make(&t);
	struct maildrop *md = open_ok(&t);
	assert_int_equal(maildrop_count(md), 0);
	size_t count = 99;
	uint64_t octets = 99;
	maildrop_stat(md, &count, &octets);
	assert_int_equal(count, 0);
	assert_int_equal(octets, 0);
	char err[128] = "";
	assert_int_equal(maildrop_commit(md, err, sizeof(err)), 0);
	maildrop_close(&md);
	maildrop_close(&md); /* NULL is fine */
	assert_true(exists(&t, "cur", "."));
	assert_true(exists(&t, "new", "."));
	assert_true(exists(&t, "tmp", "."));
	assert_true(exists(&t, ".", "konvert-pop.lock"));
	tmp_remove(&t);
}

/* ---- snapshot, ordering ---- */

static void test_new_and_cur_ordering(void **state)
{
	(void)state;
	struct tmpdir t;
	prepare_box(&t);
	/* Numeric, not lexical, order of SECS and MUSEC; the name breaks ties. */
	put(&t, "new", "1700000002.M5P1Q1.h,S=2,W=3", "c\n");
	put(&t, "cur", "1700000001.M10P1Q2.h,S=2,W=3:2,S", "b\n");
	put(&t, "new", "1700000001.M9P1Q3.h,S=2,W=3", "a\n");
	put(&t, "new", "1700000002.M5P1Q0.h,S=2,W=3", "c0\n");
	put(&t, "cur", "1700000002.M5P1Q2.h,S=2,W=3:2,", "c2\n"); /* by name, not dir */
	put(&t, "new", "999999999.P7.h", "z\n"); /* old style, no M part */
	/* No time in the name: its mtime (1 s after the epoch) decides. */
	put(&t, "cur", "handmade", "m\n");
	char p[512];
	path_in(p, sizeof(p), &t, "cur", "handmade");
	struct timespec ts[2] = {{.tv_sec = 1}, {.tv_sec = 1}};
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	/* Skipped: dotfiles, directories, symlinks. */
	put(&t, "new", ".hidden", "x\n");
	put(&t, "cur", ".hidden2", "x\n");
	path_in(p, sizeof(p), &t, "cur", "subdir");
	assert_int_equal(mkdir(p, 0700), 0);
	path_in(p, sizeof(p), &t, "cur", "1600000000.M1P1.link");
	assert_int_equal(symlink("/etc/passwd", p), 0);

	struct maildrop *md = open_ok(&t);
	/* The seen message (flag S) first, then the others. */
	static const char *const want[] = {
		"cur/1700000001.M10P1Q2.h,S=2,W=3:2,S",
		"cur/handmade",
		"new/999999999.P7.h",
		"new/1700000001.M9P1Q3.h,S=2,W=3",
		"new/1700000002.M5P1Q0.h,S=2,W=3",
		"new/1700000002.M5P1Q1.h,S=2,W=3",
		"cur/1700000002.M5P1Q2.h,S=2,W=3:2,",
	};
	char uids[7][MAILDROP_UID_MAX + 1];
	assert_int_equal(maildrop_count(md), 7);
	for (size_t i = 0; i < 7; i++) {
		const struct maildrop_msg *m = maildrop_get(md, i);
		assert_string_equal(m->file, want[i]);
		assert_false(m->deleted);
		memcpy(uids[i], m->uid, sizeof(uids[i]));
	}
	assert_string_equal(uids[0], "1700000001.M10P1Q2.h,S=2,W=3");
	assert_string_equal(uids[1], "handmade");
	assert_string_equal(uids[3], "1700000001.M9P1Q3.h,S=2,W=3");
	assert_true(maildrop_get(md, 0)->seen);
	for (size_t i = 1; i < 7; i++)
		assert_false(maildrop_get(md, i)->seen);
	assert_int_equal(maildrop_last_seen(md), 1);
	/* Nothing moves before UPDATE. */
	assert_true(exists(&t, "new", "1700000002.M5P1Q1.h,S=2,W=3"));
	char err[256] = "";
	assert_int_equal(maildrop_commit(md, err, sizeof(err)), 0);
	assert_string_equal(maildrop_get(md, 5)->file, "cur/1700000002.M5P1Q1.h,S=2,W=3:2,");
	maildrop_close(&md);
	/* UPDATE moved the kept new/ messages, leaving the dotfile. */
	assert_false(exists(&t, "new", "1700000002.M5P1Q1.h,S=2,W=3"));
	assert_true(exists(&t, "cur", "1700000002.M5P1Q1.h,S=2,W=3:2,"));
	assert_true(exists(&t, "cur", "999999999.P7.h:2,"));
	assert_true(exists(&t, "cur", "1700000001.M10P1Q2.h,S=2,W=3:2,S"));
	assert_true(exists(&t, "new", ".hidden"));

	/* Same order and ids from cur/. */
	md = open_ok(&t);
	assert_int_equal(maildrop_count(md), 7);
	for (size_t i = 0; i < 7; i++) {
		const struct maildrop_msg *m = maildrop_get(md, i);
		assert_int_equal(strncmp(m->file, "cur/", 4), 0);
		assert_string_equal(m->uid, uids[i]);
	}
	maildrop_close(&md);
	tmp_remove(&t);
}

/* A message delivered after open is not part of the snapshot. */
static void test_snapshot_is_fixed(void **state)
{
	(void)state;
	struct tmpdir t;
	prepare_box(&t);
	put(&t, "new", "1700000001.M1P1Q1.h,S=2,W=3", "a\n");
	struct maildrop *md = open_ok(&t);
	put(&t, "new", "1700000002.M1P1Q1.h,S=2,W=3", "b\n");
	assert_int_equal(maildrop_count(md), 1);
	maildrop_close(&md);
	md = open_ok(&t);
	assert_int_equal(maildrop_count(md), 2);
	maildrop_close(&md);
	tmp_remove(&t);
}

/* ---- unique ids ---- */

static void read_all(int fd, char *buf, size_t size);
static const char *uid_of_content(struct maildrop *md, const char *want);

static bool is_hex32(const char *s)
{
	if (strlen(s) != 32)
		return false;
	for (size_t i = 0; i < 32; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static void test_uid_stability(void **state)
{
	(void)state;
	struct tmpdir t;
	prepare_box(&t);
	char longname[128];
	memset(longname, 'x', 80);
	memcpy(longname, "1700000003.M1P1.", 16);
	longname[80] = '\0';
	put(&t, "new", "1700000001.M1P1Q1.host,S=2,W=3", "a\n");
	put(&t, "new", "1700000002.M1P1Q1.bad host", "b\n"); /* space: not 0x21..0x7e */
	put(&t, "new", longname, "c\n");
	put(&t, "cur", "1700000004.M1P1Q1.host:2,S", "d\n");

	static const char *const contents[4] = {"a\n", "b\n", "c\n", "d\n"};

	struct maildrop *md = open_ok(&t);
	assert_int_equal(maildrop_count(md), 4);
	char uids[4][MAILDROP_UID_MAX + 1];
	for (size_t i = 0; i < 4; i++)
		(void)snprintf(uids[i], sizeof(uids[i]), "%s", uid_of_content(md, contents[i]));
	/* The seen one (S) is listed first. */
	assert_string_equal(maildrop_get(md, 0)->uid, uids[3]);
	char err[256] = "";
	assert_int_equal(maildrop_commit(md, err, sizeof(err)), 0); /* new/ -> cur/ */
	maildrop_close(&md);
	assert_string_equal(uids[0], "1700000001.M1P1Q1.host,S=2,W=3");
	assert_true(is_hex32(uids[1]));
	assert_true(is_hex32(uids[2]));
	assert_string_not_equal(uids[1], uids[2]);
	assert_string_equal(uids[3], "1700000004.M1P1Q1.host");

	/* Another client changes flags between sessions: ids stay. */
	char from[512], to[512];
	path_in(from, sizeof(from), &t, "cur", "1700000001.M1P1Q1.host,S=2,W=3:2,");
	path_in(to, sizeof(to), &t, "cur", "1700000001.M1P1Q1.host,S=2,W=3:2,RS");
	assert_int_equal(rename(from, to), 0);
	char name[160];
	(void)snprintf(name, sizeof(name), "%s:2,", longname);
	path_in(from, sizeof(from), &t, "cur", name);
	(void)snprintf(name, sizeof(name), "%s:2,F", longname);
	path_in(to, sizeof(to), &t, "cur", name);
	assert_int_equal(rename(from, to), 0);

	md = open_ok(&t);
	assert_int_equal(maildrop_count(md), 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(uid_of_content(md, contents[i]), uids[i]);
	maildrop_close(&md);
	tmp_remove(&t);
}

/* 32 hex digits of SHA-256 of len bytes at p: the documented id formula. */
static void sha_hex32(const char *p, size_t len, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	assert_int_equal(EVP_Digest(p, len, md, &md_len, EVP_sha256(), NULL), 1);
	for (size_t i = 0; i < 16; i++)
		(void)snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The uid of the message whose content is want (each one is read);
 * fails when there is none. */
static const char *uid_of_content(struct maildrop *md, const char *want)
{
	for (size_t i = 0; i < maildrop_count(md); i++) {
		char buf[64];
		int fd = maildrop_open_msg(md, i);
		assert_true(fd >= 0);
		read_all(fd, buf, sizeof(buf));
		if (strcmp(buf, want) == 0)
			return maildrop_get(md, i)->uid;
	}
	fail_msg("no message \"%s\"", want);
	return NULL;
}

/* Same base name three times (a broken maildir): ids must still be unique
 * and must not change when another client moves or flags the files. */
static void test_uid_duplicates(void **state)
{
	(void)state;
	struct tmpdir t;
	prepare_box(&t);
	static const char base[] = "1700000001.M1P1Q1.h";
	put(&t, "cur", "1700000001.M1P1Q1.h:2,S", "aaa\n"); /* size 5 */
	put(&t, "cur", "1700000001.M1P1Q1.h:2,T", "b\n"); /* size 3 */
	put(&t, "new", "1700000001.M1P1Q1.h", "c\n"); /* size 3 */
	struct maildrop *md = open_ok(&t);
	assert_int_equal(maildrop_count(md), 3);
	char a[MAILDROP_UID_MAX + 1], b[MAILDROP_UID_MAX + 1], c[MAILDROP_UID_MAX + 1];
	(void)snprintf(a, sizeof(a), "%s", uid_of_content(md, "aaa\n"));
	(void)snprintf(b, sizeof(b), "%s", uid_of_content(md, "b\n"));
	(void)snprintf(c, sizeof(c), "%s", uid_of_content(md, "c\n"));
	/* The bigger one: hash of base NUL "5" NUL "0" (first of its size). */
	char want[33], in[64];
	int n = snprintf(in, sizeof(in), "%s%c5%c0", base, '\0', '\0');
	sha_hex32(in, (size_t)n, want);
	assert_string_equal(a, want);
	/* The two of size 3: one keeps the base name (the lower inode), the
	 * other is hash of base NUL "3" NUL "1". */
	n = snprintf(in, sizeof(in), "%s%c3%c1", base, '\0', '\0');
	sha_hex32(in, (size_t)n, want);
	assert_true((strcmp(b, base) == 0 && strcmp(c, want) == 0) ||
		    (strcmp(c, base) == 0 && strcmp(b, want) == 0));
	/* UPDATE moves new/ to cur/ (it gets ":2,"): no id changes. */
	char err[256] = "";
	assert_int_equal(maildrop_commit(md, err, sizeof(err)), 0);
	maildrop_close(&md);
	assert_true(exists(&t, "cur", "1700000001.M1P1Q1.h:2,"));
	md = open_ok(&t);
	assert_string_equal(uid_of_content(md, "aaa\n"), a);
	assert_string_equal(uid_of_content(md, "b\n"), b);
	assert_string_equal(uid_of_content(md, "c\n"), c);
	maildrop_close(&md);
	/* Another client changes the flags of all three. */
	static const char *const moves[][2] = {
		{"1700000001.M1P1Q1.h:2,S", "1700000001.M1P1Q1.h:2,RS"},
		{"1700000001.M1P1Q1.h:2,T", "1700000001.M1P1Q1.h:2,"},
		{"1700000001.M1P1Q1.h:2,", "1700000001.M1P1Q1.h:2,FS"},
	};
	for (size_t i = 0; i < 3; i++) {
		char from[512], to[512];
		path_in(from, sizeof(from), &t, "cur", moves[2 - i][0]);
		path_in(to, sizeof(to), &t, "cur", moves[2 - i][1]);
		assert_int_equal(rename(from, to), 0);
	}
	md = open_ok(&t);
	assert_int_equal(maildrop_count(md), 3);
	assert_string_equal(uid_of_content(md, "aaa\n"), a);
	assert_string_equal(uid_of_content(md, "b\n"), b);
	assert_string_equal(uid_of_content(md, "c\n"), c);
	maildrop_close(&md);
	tmp_remove(&t);
}

/* ---- sizes ---- */

static void put_bytes(const struct tmpdir *t, const char *sub, const char *name, const char *buf,
		      size_t len)
{
	char path[512];
	path_in(path, sizeof(path), t, sub, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void test_sizes(void **state)
{
	(void)state;
	struct tmpdir t;
	prepare_box(&t);
	/* W= is trusted as is (deliberately not the real size here). */
	put(&t, "new", "1700000001.M1P1Q1.h,S=4,W=1234", "a\nb\n");
	/* No W=: bytes plus bare LFs; CRLF already there is not doubled;
	 * the final lone CR gets the LF that RETR adds to it. */
	put(&t, "new", "1700000002.M1P1Q1.h,S=9", "a\nb\r\nc\n\r");
	/* Malformed W= values fall back to counting. */
	put(&t, "new", "1700000003.M1P1Q1.h,W=12x", "x\n");
	put(&t, "new", "1700000004.M1P1Q1.h,W=99999999999999999999999", "x\n");
	/* W= in the info part does not count; W= before more fields does. */
	put(&t, "cur", "1700000005.M1P1Q1.h:2,W=5", "x\n");
	put(&t, "cur", "1700000006.M1P1Q1.h,W=77,X=1:2,S", "x\n");
	/* A CR ending one 16 KiB read, its LF starting the next. */
	size_t big_len = 16384 * 2 + 10;
	char *big = xmalloc(big_len);
	memset(big, 'y', big_len);
	big[16383] = '\r';
	big[16384] = '\n';
	big[20000] = '\n';
	big[big_len - 1] = '\n';
	put_bytes(&t, "cur", "1700000007.M1P1Q1.h", big, big_len);
	free(big);
	put_bytes(&t, "cur", "1700000008.M1P1Q1.h", "", 0);
	/* No final LF (BDAT allows it): RETR adds CR LF, so the size does. */
	put_bytes(&t, "cur", "1700000009.M1P1Q1.h", "x", 1);
	put_bytes(&t, "cur", "1700000010.M1P1Q1.h", "a\nb\r\nlast", 9);

	struct maildrop *md = open_ok(&t);
	/* The seen one (W=77, flag S) first. */
	static const uint64_t want[] = {77, 1234, 11, 3, 3, 3, 16384 * 2 + 12, 0, 3, 12};
	assert_int_equal(maildrop_count(md), 10);
	uint64_t total = 0;
	for (size_t i = 0; i < 10; i++) {
		assert_int_equal(maildrop_get(md, i)->size, want[i]);
		total += want[i];
	}
	size_t count;
	uint64_t octets;
	maildrop_stat(md, &count, &octets);
	assert_int_equal(count, 10);
	assert_int_equal(octets, total);
	maildrop_mark_deleted(md, 1, true);
	maildrop_stat(md, &count, &octets);
	assert_int_equal(count, 9);
	assert_int_equal(octets, total - 1234);
	maildrop_close(&md);
	tmp_remove(&t);
}

/* ---- lock ---- */

static void test_lock_same_process(void **state)
{
	(void)state;
	struct tmpdir t;
	prepare_box(&t);
	struct maildrop *a = open_ok(&t);
	struct maildrop *b = (struct maildrop *)&t; /* must be reset to NULL */
	bool busy = false;
	char err[256] = "";
	assert_int_equal(maildrop_open(t.box, &b, &busy, err, sizeof(err)), -1);
	assert_true(busy);
	assert_null(b);
	assert_true(err[0] != '\0');
	maildrop_close(&a);
	b = open_ok(&t);
	maildrop_close(&b);
	tmp_remove(&t);
}

/* Exit codes of the child: 0 busy, 1 opened, 2 other error. */
static int child_try_open(const struct tmpdir *t)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct maildrop *md = NULL;
		bool busy = false;
		char err[256];
		int rc = maildrop_open(t->box, &md, &busy, err, sizeof(err));
		int code = rc == 0 ? 1 : busy ? 0 : 2;
		maildrop_close(&md);
		_exit(code);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_lock_other_process(void **state)
{
	(void)state;
	struct tmpdir t;
	prepare_box(&t);
	struct maildrop *md = open_ok(&t);
	assert_int_equal(child_try_open(&t), 0);
	maildrop_close(&md);
	assert_int_equal(child_try_open(&t), 1);
	tmp_remove(&t);
}

/* ---- reading ---- */

static void read_all(int fd, char *buf, size_t size)
{
	ssize_t n = read(fd, buf, size - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	assert_int_equal(close(fd), 0);
}

static void test_open_msg(void **state)
{
	(void)state;
	struct tmpdir t;
	prepare_box(&t);
	put(&t, "new", "1700000001.M1P1Q1.h,S=6,W=7", "hello\n");
	put(&t, "new", "1700000002.M1P1Q1.h,S=4,W=5", "bye\n");
	put(&t, "new", "1700000003.M1P1Q1.h,S=4,W=5", "mid\n");
	struct maildrop *md = open_ok(&t);
	char buf[64];
	int fd = maildrop_open_msg(md, 0);
	assert_true(fd >= 0);
	read_all(fd, buf, sizeof(buf));
	assert_string_equal(buf, "hello\n");

	/* Removed by another client since the snapshot. */
	char p[512], q[512];
	path_in(p, sizeof(p), &t, "new", "1700000002.M1P1Q1.h,S=4,W=5");
	assert_int_equal(unlink(p), 0);
	errno = 0;
	assert_int_equal(maildrop_open_msg(md, 1), -1);
	assert_int_equal(errno, ENOENT);

	/* Moved to cur/ and flagged by another client: found there. */
	path_in(p, sizeof(p), &t, "new", "1700000003.M1P1Q1.h,S=4,W=5");
	path_in(q, sizeof(q), &t, "cur", "1700000003.M1P1Q1.h,S=4,W=5:2,S");
	assert_int_equal(rename(p, q), 0);
	fd = maildrop_open_msg(md, 2);
	assert_true(fd >= 0);
	read_all(fd, buf, sizeof(buf));
	assert_string_equal(buf, "mid\n");
	assert_string_equal(maildrop_get(md, 2)->file, "cur/1700000003.M1P1Q1.h,S=4,W=5:2,S");
	assert_string_equal(maildrop_get(md, 2)->uid, "1700000003.M1P1Q1.h,S=4,W=5");
	/* And again once it is flagged differently within cur/. */
	path_in(p, sizeof(p), &t, "cur", "1700000003.M1P1Q1.h,S=4,W=5:2,S");
	path_in(q, sizeof(q), &t, "cur", "1700000003.M1P1Q1.h,S=4,W=5:2,RS");
	assert_int_equal(rename(p, q), 0);
	fd = maildrop_open_msg(md, 2);
	assert_true(fd >= 0);
	read_all(fd, buf, sizeof(buf));
	assert_string_equal(buf, "mid\n");
	assert_string_equal(maildrop_get(md, 2)->file, "cur/1700000003.M1P1Q1.h,S=4,W=5:2,RS");
	maildrop_close(&md);
	tmp_remove(&t);
}

/* A message that is gone is searched for once: later opens fail at once
 * (no listing of cur/, so even a file reappearing is not seen), and
 * commit counts it as removed already. */
static void test_gone_remembered(void **state)
{
	(void)state;
	struct tmpdir t;
	prepare_box(&t);
	put(&t, "new", "1700000001.M1P1Q1.h,S=2,W=3", "a\n");
	put(&t, "new", "1700000002.M1P1Q1.h,S=2,W=3", "b\n");
	struct maildrop *md = open_ok(&t);
	char p[512];
	path_in(p, sizeof(p), &t, "new", "1700000001.M1P1Q1.h,S=2,W=3");
	assert_int_equal(unlink(p), 0);
	errno = 0;
	assert_int_equal(maildrop_open_msg(md, 0), -1);
	assert_int_equal(errno, ENOENT);
	/* Were cur/ searched again, this would be found. */
	put(&t, "cur", "1700000001.M1P1Q1.h,S=2,W=3:2,S", "a\n");
	for (int i = 0; i < 3; i++) {
		errno = 0;
		assert_int_equal(maildrop_open_msg(md, 0), -1);
		assert_int_equal(errno, ENOENT);
	}
	assert_string_equal(maildrop_get(md, 0)->file, "new/1700000001.M1P1Q1.h,S=2,W=3");
	int fd = maildrop_open_msg(md, 1);
	assert_true(fd >= 0);
	assert_int_equal(close(fd), 0);
	/* Deleted and gone: nothing to unlink (the reappeared file stays). */
	maildrop_mark_deleted(md, 0, true);
	char err[256] = "";
	assert_int_equal(maildrop_commit(md, err, sizeof(err)), 0);
	maildrop_close(&md);
	assert_true(exists(&t, "cur", "1700000001.M1P1Q1.h,S=2,W=3:2,S"));
	assert_true(exists(&t, "cur", "1700000002.M1P1Q1.h,S=2,W=3:2,"));
	tmp_remove(&t);
}

/* STAT's running totals follow DELE, a repeated mark, unmarking and RSET
 * (maildrop_reset), also across repeated rounds. */
static void test_stat_totals(void **state)
{
	(void)state;
	struct tmpdir t;
	prepare_box(&t);
	put(&t, "new", "1700000001.M1P1Q1.h,S=2,W=10", "a\n");
	put(&t, "new", "1700000002.M1P1Q1.h,S=2,W=200", "b\n");
	put(&t, "new", "1700000003.M1P1Q1.h,S=2,W=3000", "c\n");
	struct maildrop *md = open_ok(&t);
	size_t count;
	uint64_t octets;
	maildrop_stat(md, &count, &octets);
	assert_int_equal(count, 3);
	assert_int_equal(octets, 3210);
	for (int round = 0; round < 3; round++) {
		maildrop_mark_deleted(md, 1, true);
		maildrop_mark_deleted(md, 1, true); /* no double count */
		maildrop_mark_deleted(md, 2, true);
		maildrop_stat(md, &count, &octets);
		assert_int_equal(count, 1);
		assert_int_equal(octets, 10);
		maildrop_mark_deleted(md, 2, false);
		maildrop_mark_deleted(md, 2, false);
		maildrop_stat(md, &count, &octets);
		assert_int_equal(count, 2);
		assert_int_equal(octets, 3010);
		maildrop_mark_deleted(md, 2, true);
		maildrop_mark_deleted(md, 0, true);
		maildrop_stat(md, &count, &octets);
		assert_int_equal(count, 0);
		assert_int_equal(octets, 0);
		maildrop_reset(md);
		maildrop_stat(md, &count, &octets);
		assert_int_equal(count, 3);
		assert_int_equal(octets, 3210);
		for (size_t i = 0; i < 3; i++)
			assert_false(maildrop_get(md, i)->deleted);
	}
	maildrop_reset(md); /* nothing marked: fine */
	maildrop_mark_deleted(md, 0, true);
	char err[256] = "";
	assert_int_equal(maildrop_commit(md, err, sizeof(err)), 1);
	maildrop_close(&md);
	tmp_remove(&t);
}

/* ---- close versus commit ---- */

static void test_close_deletes_nothing(void **state)
{
	(void)state;
	struct tmpdir t;
	prepare_box(&t);
	put(&t, "new", "1700000001.M1P1Q1.h,S=2,W=3", "a\n");
	put(&t, "new", "1700000002.M1P1Q1.h,S=2,W=3", "b\n");
	struct maildrop *md = open_ok(&t);
	maildrop_mark_deleted(md, 0, true);
	maildrop_mark_deleted(md, 1, true);
	maildrop_close(&md);
	assert_true(exists(&t, "new", "1700000001.M1P1Q1.h,S=2,W=3"));
	assert_true(exists(&t, "new", "1700000002.M1P1Q1.h,S=2,W=3"));
	md = open_ok(&t);
	assert_int_equal(maildrop_count(md), 2);
	assert_false(maildrop_get(md, 0)->deleted);
	maildrop_close(&md);
	tmp_remove(&t);
}

static void test_commit_deletes_marked(void **state)
{
	(void)state;
	struct tmpdir t;
	prepare_box(&t);
	put(&t, "new", "1700000001.M1P1Q1.h,S=2,W=3", "a\n");
	put(&t, "new", "1700000002.M1P1Q1.h,S=2,W=3", "b\n");
	put(&t, "new", "1700000003.M1P1Q1.h,S=2,W=3", "c\n");
	put(&t, "new", "1700000004.M1P1Q1.h,S=2,W=3", "d\n");
	put(&t, "new", "1700000005.M1P1Q1.h,S=2,W=3", "e\n");
	struct maildrop *md = open_ok(&t);
	assert_int_equal(maildrop_count(md), 5);
	maildrop_mark_deleted(md, 0, true);
	maildrop_mark_deleted(md, 1, true);
	maildrop_mark_deleted(md, 1, false); /* RSET-like unmark */
	maildrop_mark_deleted(md, 2, true);
	maildrop_mark_deleted(md, 3, true);
	/* 3 was removed meanwhile (tolerated), 4 moved and flagged by another
	 * client (found in cur/). */
	char p[512], q[512];
	path_in(p, sizeof(p), &t, "new", "1700000003.M1P1Q1.h,S=2,W=3");
	assert_int_equal(unlink(p), 0);
	path_in(p, sizeof(p), &t, "new", "1700000004.M1P1Q1.h,S=2,W=3");
	path_in(q, sizeof(q), &t, "cur", "1700000004.M1P1Q1.h,S=2,W=3:2,RS");
	assert_int_equal(rename(p, q), 0);
	/* 5's cur/ name is taken (broken maildir): it must not be replaced. */
	put(&t, "cur", "1700000005.M1P1Q1.h,S=2,W=3:2,", "other\n");
	char err[256] = "";
	assert_int_equal(maildrop_commit(md, err, sizeof(err)), 2);
	maildrop_close(&md);
	assert_false(exists(&t, "cur", "1700000004.M1P1Q1.h,S=2,W=3:2,RS"));
	assert_false(exists(&t, "new", "1700000002.M1P1Q1.h,S=2,W=3"));
	assert_true(exists(&t, "cur", "1700000002.M1P1Q1.h,S=2,W=3:2,"));
	assert_true(exists(&t, "new", "1700000005.M1P1Q1.h,S=2,W=3"));

	md = open_ok(&t);
	assert_int_equal(maildrop_count(md), 3);
	assert_string_equal(maildrop_get(md, 0)->uid, "1700000002.M1P1Q1.h,S=2,W=3");
	/* The kept 5 first (shorter name), then the intruder; of these two
	 * (same base name, same W=) one keeps the plain id, the other gets a
	 * hashed one (maildrop.h). */
	assert_string_equal(maildrop_get(md, 1)->file, "new/1700000005.M1P1Q1.h,S=2,W=3");
	assert_string_equal(maildrop_get(md, 2)->file, "cur/1700000005.M1P1Q1.h,S=2,W=3:2,");
	const char *u1 = maildrop_get(md, 1)->uid, *u2 = maildrop_get(md, 2)->uid;
	assert_true((strcmp(u1, "1700000005.M1P1Q1.h,S=2,W=3") == 0 && is_hex32(u2)) ||
		    (strcmp(u2, "1700000005.M1P1Q1.h,S=2,W=3") == 0 && is_hex32(u1)));
	int fd = maildrop_open_msg(md, 1);
	assert_true(fd >= 0);
	char buf[64];
	read_all(fd, buf, sizeof(buf));
	assert_string_equal(buf, "e\n");
	maildrop_close(&md);
	tmp_remove(&t);
}

/* ---- seen flag and LAST ---- */

static void read_file_in(const struct tmpdir *t, const char *sub, const char *name, char *buf,
			 size_t size)
{
	char p[512];
	path_in(p, sizeof(p), t, sub, name);
	int fd = open(p, O_RDONLY);
	if (fd < 0)
		fail_msg("open %s: %s", p, strerror(errno));
	read_all(fd, buf, size);
}

/* RETR marks (maildrop_mark_seen), LAST, RSET, and the S flag at commit:
 * new/ -> cur/NAME:2,S, other flags kept in ASCII order, a file moved and
 * flagged by another client meanwhile found in cur/, deleted ones simply
 * removed; seen messages are listed first in the next session, with the
 * same ids. */
static void test_seen_marks(void **state)
{
	(void)state;
	struct tmpdir t;
	prepare_box(&t);
	put(&t, "new", "1700000001.M1P1Q1.h,S=2,W=3", "a\n");
	put(&t, "new", "1700000002.M1P1Q1.h,S=2,W=3", "b\n");
	put(&t, "cur", "1700000003.M1P1Q1.h,S=2,W=3:2,F", "c\n");
	put(&t, "cur", "1700000004.M1P1Q1.h,S=2,W=3:2,FS", "d\n");
	put(&t, "cur", "1700000005.M1P1Q1.h,S=2,W=3:2,T", "e\n");
	struct maildrop *md = open_ok(&t);
	assert_int_equal(maildrop_count(md), 5);
	/* d was seen (S) before: first, and LAST is 1. */
	assert_string_equal(maildrop_get(md, 0)->file, "cur/1700000004.M1P1Q1.h,S=2,W=3:2,FS");
	assert_string_equal(maildrop_get(md, 1)->file, "new/1700000001.M1P1Q1.h,S=2,W=3");
	assert_string_equal(maildrop_get(md, 4)->file, "cur/1700000005.M1P1Q1.h,S=2,W=3:2,T");
	assert_true(maildrop_get(md, 0)->seen);
	assert_int_equal(maildrop_last_seen(md), 1);

	maildrop_mark_seen(md, 2);
	assert_true(maildrop_get(md, 2)->seen);
	assert_int_equal(maildrop_last_seen(md), 3);
	maildrop_mark_seen(md, 0); /* seen already: nothing changes */
	maildrop_mark_seen(md, 1);
	maildrop_mark_seen(md, 1);
	assert_int_equal(maildrop_last_seen(md), 3);
	maildrop_mark_deleted(md, 3, true);
	/* RSET: back to what open found, marks and deletions gone. */
	maildrop_reset(md);
	assert_int_equal(maildrop_last_seen(md), 1);
	assert_true(maildrop_get(md, 0)->seen);
	for (size_t i = 1; i < 5; i++) {
		assert_false(maildrop_get(md, i)->seen);
		assert_false(maildrop_get(md, i)->deleted);
	}
	maildrop_reset(md); /* nothing marked: fine */
	assert_int_equal(maildrop_last_seen(md), 1);

	maildrop_mark_seen(md, 2); /* b, new/ */
	maildrop_mark_seen(md, 3); /* c, cur/ :2,F */
	maildrop_mark_seen(md, 4); /* e, cur/ :2,T, then deleted */
	maildrop_mark_deleted(md, 4, true);
	assert_int_equal(maildrop_last_seen(md), 5);
	/* Another client (mutt) moves b to cur/ and flags it R meanwhile. */
	char p[512], q[512];
	path_in(p, sizeof(p), &t, "new", "1700000002.M1P1Q1.h,S=2,W=3");
	path_in(q, sizeof(q), &t, "cur", "1700000002.M1P1Q1.h,S=2,W=3:2,R");
	assert_int_equal(rename(p, q), 0);
	/* Nothing is written before commit. */
	assert_true(exists(&t, "cur", "1700000003.M1P1Q1.h,S=2,W=3:2,F"));
	char err[256] = "";
	assert_int_equal(maildrop_commit(md, err, sizeof(err)), 1);
	assert_string_equal(maildrop_get(md, 2)->file, "cur/1700000002.M1P1Q1.h,S=2,W=3:2,RS");
	assert_string_equal(maildrop_get(md, 3)->file, "cur/1700000003.M1P1Q1.h,S=2,W=3:2,FS");
	maildrop_close(&md);
	assert_true(exists(&t, "cur", "1700000001.M1P1Q1.h,S=2,W=3:2,")); /* kept, unseen */
	assert_true(exists(&t, "cur", "1700000002.M1P1Q1.h,S=2,W=3:2,RS"));
	assert_false(exists(&t, "cur", "1700000002.M1P1Q1.h,S=2,W=3:2,R"));
	assert_true(exists(&t, "cur", "1700000003.M1P1Q1.h,S=2,W=3:2,FS"));
	assert_false(exists(&t, "cur", "1700000003.M1P1Q1.h,S=2,W=3:2,F"));
	assert_true(exists(&t, "cur", "1700000004.M1P1Q1.h,S=2,W=3:2,FS"));
	assert_false(exists(&t, "cur", "1700000005.M1P1Q1.h,S=2,W=3:2,T"));
	assert_false(exists(&t, "cur", "1700000005.M1P1Q1.h,S=2,W=3:2,ST"));
	char buf[64];
	read_file_in(&t, "cur", "1700000003.M1P1Q1.h,S=2,W=3:2,FS", buf, sizeof(buf));
	assert_string_equal(buf, "c\n");

	/* Next session: b, c, d seen (delivery order), then a; same ids. */
	md = open_ok(&t);
	static const char *const want[] = {
		"1700000002.M1P1Q1.h,S=2,W=3",
		"1700000003.M1P1Q1.h,S=2,W=3",
		"1700000004.M1P1Q1.h,S=2,W=3",
		"1700000001.M1P1Q1.h,S=2,W=3",
	};
	assert_int_equal(maildrop_count(md), 4);
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(maildrop_get(md, i)->uid, want[i]);
		assert_true(maildrop_get(md, i)->seen == (i < 3));
	}
	assert_int_equal(maildrop_last_seen(md), 3);
	maildrop_close(&md);
	tmp_remove(&t);
}

/* Seen marks without commit change nothing; odd names: no info in cur/
 * gets ":2,S", an info of another kind is left alone, a name with info in
 * new/ moves as it is, and a taken target name is never replaced. */
static void test_seen_odd_names(void **state)
{
	(void)state;
	struct tmpdir t;
	prepare_box(&t);
	put(&t, "new", "1700000001.M1P1Q1.h,S=2,W=3", "a\n");
	put(&t, "cur", "1700000002.M1P1Q1.h", "b\n");
	put(&t, "cur", "1700000003.M1P1Q1.h:1,odd", "c\n");
	put(&t, "new", "1700000004.M1P1Q1.h:2,F", "d\n");
	put(&t, "cur", "1700000005.M1P1Q1.h:2,", "e\n");
	put(&t, "cur", "1700000005.M1P1Q1.h:2,S", "intruder\n");
	struct maildrop *md = open_ok(&t);
	assert_int_equal(maildrop_count(md), 6);
	assert_string_equal(maildrop_get(md, 0)->file, "cur/1700000005.M1P1Q1.h:2,S");
	for (size_t i = 1; i < 6; i++)
		maildrop_mark_seen(md, i);
	assert_int_equal(maildrop_last_seen(md), 6);
	maildrop_close(&md); /* no UPDATE */
	assert_true(exists(&t, "new", "1700000001.M1P1Q1.h,S=2,W=3"));
	assert_true(exists(&t, "cur", "1700000002.M1P1Q1.h"));
	assert_true(exists(&t, "cur", "1700000005.M1P1Q1.h:2,"));

	md = open_ok(&t);
	assert_int_equal(maildrop_last_seen(md), 1);
	for (size_t i = 1; i < 6; i++)
		maildrop_mark_seen(md, i);
	char err[256] = "";
	assert_int_equal(maildrop_commit(md, err, sizeof(err)), 0);
	maildrop_close(&md);
	assert_true(exists(&t, "cur", "1700000001.M1P1Q1.h,S=2,W=3:2,S"));
	assert_true(exists(&t, "cur", "1700000002.M1P1Q1.h:2,S"));
	assert_true(exists(&t, "cur", "1700000003.M1P1Q1.h:1,odd"));
	assert_true(exists(&t, "cur", "1700000004.M1P1Q1.h:2,FS"));
	/* e's seen name is taken by the intruder: e stays, both intact. */
	assert_true(exists(&t, "cur", "1700000005.M1P1Q1.h:2,"));
	char buf[64];
	read_file_in(&t, "cur", "1700000005.M1P1Q1.h:2,S", buf, sizeof(buf));
	assert_string_equal(buf, "intruder\n");
	tmp_remove(&t);
}

/* ---- scale ---- */

#define BIG_N 50000

static double now_s(void)
{
	struct timespec ts;
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_50000_messages(void **state)
{
	(void)state;
	struct tmpdir t;
	prepare_box(&t);
	char dir[256];
	(void)snprintf(dir, sizeof(dir), "%s/new", t.box);
	int new_fd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(new_fd >= 0);
	/* One file hard-linked 50,000 times (as a multi-recipient delivery
	 * does): much quicker to set up than 50,000 files, the same to scan. */
	static const char body[] = "Subject: x\n\nbody\n";
	put(&t, "tmp", "src", body);
	(void)snprintf(dir, sizeof(dir), "%s/tmp", t.box);
	int tmp_fd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(tmp_fd >= 0);
	double t0 = now_s();
	for (unsigned i = 0; i < BIG_N; i++) {
		char name[128];
		/* Index i is delivery order; creation order differs. */
		unsigned k = (i * 7919u) % BIG_N;
		(void)snprintf(name, sizeof(name), "%u.M%06uP4242Q%u.test.example,S=%zu,W=%zu",
			       1700000000u + k / 1000, (k % 1000) * 1000, k, sizeof(body) - 1,
			       sizeof(body) + 2);
		assert_int_equal(linkat(tmp_fd, "src", new_fd, name, 0), 0);
	}
	assert_int_equal(unlinkat(tmp_fd, "src", 0), 0);
	assert_int_equal(close(tmp_fd), 0);
	assert_int_equal(close(new_fd), 0);
	double t1 = now_s();

	struct maildrop *md = open_ok(&t);
	double t2 = now_s();
	assert_int_equal(maildrop_count(md), BIG_N);
	for (unsigned k = 0; k < BIG_N; k++) {
		const struct maildrop_msg *m = maildrop_get(md, k);
		char want[64];
		(void)snprintf(want, sizeof(want), "Q%u.test", k);
		assert_non_null(strstr(m->uid, want));
		assert_int_equal(m->size, sizeof(body) + 2);
	}
	char err[256] = "";
	double t3 = now_s();
	assert_int_equal(maildrop_commit(md, err, sizeof(err)), 0); /* moves all */
	double t4 = now_s();
	maildrop_close(&md);

	double t5 = now_s();
	md = open_ok(&t);
	double t6 = now_s();
	assert_int_equal(maildrop_count(md), BIG_N);
	assert_int_equal(strncmp(maildrop_get(md, 0)->file, "cur/", 4), 0);
	for (size_t i = 0; i < BIG_N; i++)
		maildrop_mark_deleted(md, i, true);
	double t7 = now_s();
	assert_int_equal(maildrop_commit(md, err, sizeof(err)), BIG_N);
	double t8 = now_s();
	maildrop_close(&md);
	printf("maildrop %d messages: create %.3f s; open, all in new/ %.3f s; "
	       "commit keeping all (new/->cur/) %.3f s; open, all in cur/ %.3f s; "
	       "commit deleting all %.3f s\n",
	       BIG_N, t1 - t0, t2 - t1, t4 - t3, t6 - t5, t8 - t7);
	md = open_ok(&t);
	assert_int_equal(maildrop_count(md), 0);
	maildrop_close(&md);
	tmp_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_maildir_is_empty),
		cmocka_unit_test(test_new_and_cur_ordering),
		cmocka_unit_test(test_snapshot_is_fixed),
		cmocka_unit_test(test_uid_stability),
		cmocka_unit_test(test_uid_duplicates),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_lock_same_process),
		cmocka_unit_test(test_lock_other_process),
		cmocka_unit_test(test_open_msg),
		cmocka_unit_test(test_gone_remembered),
		cmocka_unit_test(test_stat_totals),
		cmocka_unit_test(test_close_deletes_nothing),
		cmocka_unit_test(test_commit_deletes_marked),
		cmocka_unit_test(test_seen_marks),
		cmocka_unit_test(test_seen_odd_names),
		cmocka_unit_test(test_50000_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
