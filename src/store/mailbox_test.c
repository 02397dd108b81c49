/* mailbox_test: the Maildir folder layer in mkdtemp directories: scan order
 * and flag parsing, CR LF sizes from ",W=" and from content (bare LFs, CR
 * LF already there, a last line without a line end, a lone CR at the end,
 * a CR LF split across reads), flag changes and the new/ -> cur/ move,
 * relocation, append, copy between folders (hard link, and the written
 * copy across file systems), expunge and flush, the change stamp, folder
 * names (refusal of names that could leave the tree) and listing. */
#include "store/mailbox.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "store/mailbox_folder.h"
#include "store/maildir.h"

struct tmpdir {
	char dir[64];
	char box[128]; /* dir/box, a Maildir */
};

static void tmp_make_in(struct tmpdir *t, const char *parent)
{
	int n = snprintf(t->dir, sizeof(t->dir), "%s/mailbox_test.XXXXXX", parent);
	assert_true(n > 0 && (size_t)n < sizeof(t->dir));
	assert_non_null(mkdtemp(t->dir));
	n = snprintf(t->box, sizeof(t->box), "%s/box", t->dir);
	assert_true(n > 0 && (size_t)n < sizeof(t->box));
	char err[256] = "";
	if (maildir_ensure(t->box, err, sizeof(err)) != 0)
		fail_msg("maildir_ensure: %s", err);
}

static void tmp_make(struct tmpdir *t)
{
	tmp_make_in(t, "/tmp");
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

static void path_in(char *out, size_t out_size, const struct tmpdir *t, const char *file)
{
	int n = snprintf(out, out_size, "%s/%s", t->box, file);
	assert_true(n > 0 && (size_t)n < out_size);
}

static void put_bytes(const struct tmpdir *t, const char *file, const char *buf, size_t len)
{
	char path[512];
	path_in(path, sizeof(path), t, file);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void put(const struct tmpdir *t, const char *file, const char *content)
{
	put_bytes(t, file, content, strlen(content));
}

static bool exists(const struct tmpdir *t, const char *file)
{
	char path[512];
	struct stat st;
	path_in(path, sizeof(path), t, file);
	return lstat(path, &st) == 0;
}

static struct mailbox *open_ok(const char *path)
{
	struct mailbox *mb = NULL;
	char err[256] = "";
	if (mailbox_open(path, &mb, err, sizeof(err)) != 0)
		fail_msg("mailbox_open: %s", err);
	return mb;
}

static void scan_ok(struct mailbox *mb, struct mailbox_list *l)
{
	char err[256] = "";
	memset(l, 0, sizeof(*l));
	if (mailbox_scan(mb, l, err, sizeof(err)) != 0)
		fail_msg("mailbox_scan: %s", err);
	mailbox_sort(l);
}

static void read_fd(int fd, char *buf, size_t size)
{
	assert_true(fd >= 0);
	ssize_t n = read(fd, buf, size - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	assert_int_equal(close(fd), 0);
}

/* ---- scan, order, flags ---- */

static void test_scan_order_and_flags(void **state)
{
	(void)state;
	struct tmpdir t;
	tmp_make(&t);
	put(&t, "new/1700000002.M5P1Q1.h,S=2,W=3", "c\n");
	put(&t, "cur/1700000001.M10P1Q2.h,S=2,W=3:2,FRS", "b\n");
	put(&t, "new/1700000001.M9P1Q3.h,S=2,W=3", "a\n");
	put(&t, "cur/1700000002.M5P1Q2.h,S=2,W=3:2,DTab", "c2\n"); /* by name, not dir */
	put(&t, "cur/1700000003.M1P1Q1.h:1,odd", "o\n");	  /* foreign info */
	put(&t, "cur/1700000004.M1P1Q1.h:2,P", "p\n");	  /* unknown letter kept */
	put(&t, "new/999999999.P7.h", "z\n");			  /* old style, no M part */
	put(&t, "cur/handmade", "m\n");				  /* time from mtime */
	char p[512];
	path_in(p, sizeof(p), &t, "cur/handmade");
	struct timespec ts[2] = {{.tv_sec = 5, .tv_nsec = 7000}, {.tv_sec = 5, .tv_nsec = 7000}};
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	put(&t, "new/.hidden", "x\n");
	path_in(p, sizeof(p), &t, "cur/subdir");
	assert_int_equal(mkdir(p, 0700), 0);
	path_in(p, sizeof(p), &t, "cur/1600000000.M1P1.link");
	assert_int_equal(symlink("/etc/passwd", p), 0);

	struct mailbox *mb = open_ok(t.box);
	struct mailbox_list l;
	scan_ok(mb, &l);
	static const struct {
		const char *file;
		uint64_t flags;
		bool foreign;
		uint64_t secs;
		uint32_t usec;
	} want[] = {
		{"cur/handmade", 0, false, 5, 7},
		{"new/999999999.P7.h", 0, false, 999999999, 0},
		{"new/1700000001.M9P1Q3.h,S=2,W=3", 0, false, 1700000001, 9},
		{"cur/1700000001.M10P1Q2.h,S=2,W=3:2,FRS",
		 MAILBOX_FLAGGED | MAILBOX_ANSWERED | MAILBOX_SEEN, false, 1700000001, 10},
		{"new/1700000002.M5P1Q1.h,S=2,W=3", 0, false, 1700000002, 5},
		{"cur/1700000002.M5P1Q2.h,S=2,W=3:2,DTab",
		 MAILBOX_DRAFT | MAILBOX_DELETED | MAILBOX_FLAG('a') | MAILBOX_FLAG('b'), false,
		 1700000002, 5},
		{"cur/1700000003.M1P1Q1.h:1,odd", 0, true, 1700000003, 1},
		{"cur/1700000004.M1P1Q1.h:2,P", MAILBOX_FLAG('P'), false, 1700000004, 1},
	};
	assert_int_equal(l.n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < l.n; i++) {
		const struct mailbox_msg *m = &l.msgs[i];
		assert_string_equal(m->file, want[i].file);
		assert_true(m->flags == want[i].flags);
		assert_int_equal(m->foreign_info, want[i].foreign);
		assert_int_equal(m->secs, want[i].secs);
		assert_int_equal(m->usec, want[i].usec);
		assert_true(m->ino != 0);
	}
	assert_true((l.msgs[5].flags & MAILBOX_KEYWORDS) ==
		    (MAILBOX_FLAG('a') | MAILBOX_FLAG('b')));
	/* Base names: up to the first ":2,". */
	assert_int_equal(mailbox_base_len("1.M1.h:2,S"), 6);
	assert_int_equal(mailbox_base_len("1.M1.h:1,x"), 10);
	assert_int_equal(mailbox_base_len("plain"), 5);
	bool foreign = true;
	assert_true(mailbox_name_flags("x", &foreign) == 0);
	assert_false(foreign);
	assert_true(mailbox_name_flags("x:2,", &foreign) == 0);
	assert_false(foreign);
	mailbox_list_fini(&l);
	assert_int_equal(l.n, 0);
	mailbox_close(&mb);
	mailbox_close(&mb); /* NULL is fine */
	tmp_remove(&t);
}

/* ---- sizes ---- */

static void test_sizes(void **state)
{
	(void)state;
	struct tmpdir t;
	tmp_make(&t);
	/* W= and S= are trusted as they are (deliberately not the truth). */
	put(&t, "new/1700000001.M1P1Q1.h,S=40,W=1234", "a\nb\n");
	put(&t, "new/1700000002.M1P1Q1.h", "a\nb\n");	      /* bare LFs: 6 */
	put(&t, "new/1700000003.M1P1Q1.h", "a\r\nb\r\n");    /* CR LF already: 6 */
	put(&t, "new/1700000004.M1P1Q1.h", "a\nlast");	      /* no line end: 9 */
	put(&t, "new/1700000005.M1P1Q1.h", "a\n\r");	      /* lone CR at the end: 5 */
	put(&t, "new/1700000006.M1P1Q1.h", "");		      /* empty: 0 */
	put(&t, "new/1700000007.M1P1Q1.h,W=12x", "x\n");      /* malformed W=: counted */
	put(&t, "cur/1700000008.M1P1Q1.h:2,W=5", "x\n");      /* W= in the info: no */
	put(&t, "cur/1700000009.M1P1Q1.h,W=77,S=9:2,S", "x\n"); /* fields in any order */
	/* A CR ending one 16 KiB read, its LF starting the next. */
	size_t big_len = 16384 * 2 + 10;
	char *big = xmalloc(big_len);
	memset(big, 'y', big_len);
	big[16383] = '\r';
	big[16384] = '\n';
	big[20000] = '\n';
	big[big_len - 1] = '\n';
	put_bytes(&t, "cur/1700000010.M1P1Q1.h", big, big_len);
	free(big);

	static const struct {
		uint64_t size, crlf;
	} want[] = {
		{40, 1234}, {4, 6}, {6, 6}, {6, 9}, {3, 5}, {0, 0},
		{2, 3},	    {2, 3}, {9, 77}, {16384 * 2 + 10, 16384 * 2 + 12},
	};
	struct mailbox *mb = open_ok(t.box);
	struct mailbox_list l;
	scan_ok(mb, &l);
	assert_int_equal(l.n, 10);
	for (size_t i = 0; i < l.n; i++) {
		assert_int_equal(l.msgs[i].size, want[i].size);
		assert_int_equal(l.msgs[i].crlf_size, want[i].crlf);
	}
	mailbox_list_fini(&l);
	mailbox_close(&mb);

	/* mailbox_crlf_size reads from the offset on, also from a pipe. */
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(write(pfd[1], "ab\r", 3), 3);
	assert_int_equal(close(pfd[1]), 0);
	uint64_t v = 0;
	assert_int_equal(mailbox_crlf_size(pfd[0], &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(close(pfd[0]), 0);
	tmp_remove(&t);
}

/* ---- flags ---- */

static void test_set_flags(void **state)
{
	(void)state;
	struct tmpdir t;
	tmp_make(&t);
	put(&t, "new/1700000001.M1P1Q1.h,S=2,W=3", "a\n");
	put(&t, "new/1700000002.M1P1Q1.h,S=2,W=3", "b\n");
	put(&t, "cur/1700000003.M1P1Q1.h:2,FS", "c\n");
	put(&t, "cur/1700000004.M1P1Q1.h:1,odd", "d\n");
	put(&t, "cur/1700000005.M1P1Q1.h:2,", "e\n");
	put(&t, "cur/1700000005.M1P1Q1.h:2,S", "intruder\n");
	struct mailbox *mb = open_ok(t.box);
	struct mailbox_list l;
	scan_ok(mb, &l);
	assert_int_equal(l.n, 6);
	char err[256] = "";

	/* new/ -> cur/ with ":2," and no flags (Dovecot's move). */
	assert_int_equal(mailbox_set_flags(mb, &l.msgs[0], 0, err, sizeof(err)), 1);
	assert_string_equal(l.msgs[0].file, "cur/1700000001.M1P1Q1.h,S=2,W=3:2,");
	assert_false(exists(&t, "new/1700000001.M1P1Q1.h,S=2,W=3"));
	assert_true(exists(&t, "cur/1700000001.M1P1Q1.h,S=2,W=3:2,"));
	assert_int_equal(mailbox_set_flags(mb, &l.msgs[0], 0, err, sizeof(err)), 0);
	/* Flags in ASCII order, keywords after the capitals. */
	uint64_t f = MAILBOX_SEEN | MAILBOX_FLAGGED | MAILBOX_FLAG('c') | MAILBOX_DRAFT;
	assert_int_equal(mailbox_set_flags(mb, &l.msgs[0], f, err, sizeof(err)), 1);
	assert_string_equal(l.msgs[0].file, "cur/1700000001.M1P1Q1.h,S=2,W=3:2,DFSc");
	assert_true(l.msgs[0].flags == f);
	/* Clearing. */
	assert_int_equal(
		mailbox_set_flags(mb, &l.msgs[0], MAILBOX_FLAGGED, err, sizeof(err)), 1);
	assert_string_equal(l.msgs[0].file, "cur/1700000001.M1P1Q1.h,S=2,W=3:2,F");
	/* new/ straight to flagged. */
	assert_int_equal(mailbox_set_flags(mb, &l.msgs[1], MAILBOX_SEEN, err, sizeof(err)), 1);
	assert_string_equal(l.msgs[1].file, "cur/1700000002.M1P1Q1.h,S=2,W=3:2,S");
	assert_false(exists(&t, "new/1700000002.M1P1Q1.h,S=2,W=3"));
	/* Adding R between F and S. */
	assert_int_equal(mailbox_set_flags(mb, &l.msgs[2],
					   l.msgs[2].flags | MAILBOX_ANSWERED, err, sizeof(err)),
			 1);
	assert_string_equal(l.msgs[2].file, "cur/1700000003.M1P1Q1.h:2,FRS");
	/* A foreign info is never rewritten. */
	errno = 0;
	assert_int_equal(mailbox_set_flags(mb, &l.msgs[3], MAILBOX_SEEN, err, sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);
	assert_true(exists(&t, "cur/1700000004.M1P1Q1.h:1,odd"));
	/* An existing name is never replaced. */
	assert_string_equal(l.msgs[4].file, "cur/1700000005.M1P1Q1.h:2,");
	errno = 0;
	assert_int_equal(mailbox_set_flags(mb, &l.msgs[4], MAILBOX_SEEN, err, sizeof(err)), -1);
	assert_int_equal(errno, EEXIST);
	assert_string_equal(l.msgs[4].file, "cur/1700000005.M1P1Q1.h:2,");
	char buf[64];
	read_fd(mailbox_open_msg(mb, &l.msgs[5]), buf, sizeof(buf));
	assert_string_equal(buf, "intruder\n");

	/* Renamed by another client: ENOENT, then found by its base name. */
	char from[512], to[512];
	path_in(from, sizeof(from), &t, "cur/1700000003.M1P1Q1.h:2,FRS");
	path_in(to, sizeof(to), &t, "cur/1700000003.M1P1Q1.h:2,T");
	assert_int_equal(rename(from, to), 0);
	errno = 0;
	assert_int_equal(mailbox_set_flags(mb, &l.msgs[2], 0, err, sizeof(err)), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(mailbox_open_msg(mb, &l.msgs[2]), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(mailbox_relocate(mb, &l.msgs[2]), 0);
	assert_string_equal(l.msgs[2].file, "cur/1700000003.M1P1Q1.h:2,T");
	assert_true(l.msgs[2].flags == MAILBOX_DELETED);
	read_fd(mailbox_open_msg(mb, &l.msgs[2]), buf, sizeof(buf));
	assert_string_equal(buf, "c\n");
	assert_int_equal(unlink(to), 0);
	errno = 0;
	assert_int_equal(mailbox_relocate(mb, &l.msgs[2]), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(mailbox_flush(mb, err, sizeof(err)), 0);
	mailbox_list_fini(&l);
	mailbox_close(&mb);
	tmp_remove(&t);
}

/* ---- append, copy, expunge ---- */

static int src_file(const char *content)
{
	char path[] = "/tmp/mailbox_test_src.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	size_t len = strlen(content);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	return fd; /* the offset is at the end: append must read from 0 */
}

static void test_append(void **state)
{
	(void)state;
	struct tmpdir t;
	tmp_make(&t);
	struct mailbox *mb = open_ok(t.box);
	char err[256] = "";
	int src = src_file("Subject: a\n\nbody\nlast");
	struct mailbox_msg a, b;
	assert_int_equal(mailbox_append(mb, src, 0, 0, "host/x:y", &a, err, sizeof(err)), 0);
	assert_true(mailbox_msg_in_new(&a));
	assert_int_equal(a.size, 21);
	assert_int_equal(a.crlf_size, 21 + 3 + 2);
	assert_true(a.flags == 0);
	assert_non_null(strstr(a.file, ",S=21,W=26"));
	assert_null(strchr(a.file, ':'));
	assert_true(exists(&t, a.file));
	time_t when = 1000000000;
	assert_int_equal(mailbox_append(mb, src, MAILBOX_SEEN | MAILBOX_FLAG('k'), when, "h", &b,
					err, sizeof(err)),
			 0);
	assert_int_equal(close(src), 0);
	assert_int_equal(strncmp(b.file, "cur/", 4), 0);
	size_t blen = strlen(b.file);
	assert_string_equal(b.file + blen - 5, ":2,Sk");
	char p[512];
	struct stat st;
	path_in(p, sizeof(p), &t, b.file);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, when);
	/* Nothing is left in tmp/; a scan finds both, same sizes. */
	struct mailbox_list l;
	scan_ok(mb, &l);
	assert_int_equal(l.n, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct mailbox_msg *m = strcmp(l.msgs[i].file, a.file) == 0 ? &a : &b;
		assert_string_equal(l.msgs[i].file, m->file);
		assert_int_equal(l.msgs[i].crlf_size, m->crlf_size);
		assert_int_equal(l.msgs[i].ino, m->ino);
		char buf[64];
		read_fd(mailbox_open_msg(mb, &l.msgs[i]), buf, sizeof(buf));
		assert_string_equal(buf, "Subject: a\n\nbody\nlast");
	}
	mailbox_list_fini(&l);
	path_in(p, sizeof(p), &t, "tmp");
	assert_int_equal(rmdir(p), 0); /* empty */
	assert_int_equal(mkdir(p, 0700), 0);
	mailbox_msg_fini(&a);
	mailbox_msg_fini(&b);
	mailbox_close(&mb);
	tmp_remove(&t);
}

/* Copies m from one folder to another; returns the copy's inode. */
static ino_t copy_ok(struct mailbox *from, const struct mailbox_msg *m, struct mailbox *to,
		     const char *to_box, const char *want_content)
{
	struct mailbox_msg c;
	char err[256] = "";
	if (mailbox_copy(from, m, to, "h", &c, err, sizeof(err)) != 0)
		fail_msg("mailbox_copy: %s", err);
	assert_true(c.flags == m->flags);
	assert_int_equal(c.size, m->size);
	assert_int_equal(c.crlf_size, m->crlf_size);
	assert_int_equal(mailbox_base_len(mailbox_msg_name(&c)) < strlen(mailbox_msg_name(&c)),
			 m->flags != 0);
	char buf[64];
	read_fd(mailbox_open_msg(to, &c), buf, sizeof(buf));
	assert_string_equal(buf, want_content);
	char p[512];
	struct stat st;
	(void)snprintf(p, sizeof(p), "%s/%s", to_box, c.file);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_ino, c.ino);
	mailbox_msg_fini(&c);
	return st.st_ino;
}

static void test_copy_and_expunge(void **state)
{
	(void)state;
	struct tmpdir t, shm;
	tmp_make(&t);
	char err[256] = "", junk[256];
	assert_int_equal(mailbox_folder_create(t.box, "Junk", err, sizeof(err)), 0);
	assert_int_equal(mailbox_folder_path(t.box, "Junk", junk, sizeof(junk), err, sizeof(err)),
			 0);
	put(&t, "cur/1700000001.M1P1Q1.h,S=2,W=3:2,FS", "a\n");
	put(&t, "new/1700000002.M1P1Q1.h", "bb\n");
	struct mailbox *inbox = open_ok(t.box);
	struct mailbox *jb = open_ok(junk);
	struct mailbox_list l;
	scan_ok(inbox, &l);
	assert_int_equal(l.n, 2);
	struct stat st;
	char p[512];
	/* Same file system: a hard link, flags kept (cur/), none -> new/. */
	path_in(p, sizeof(p), &t, l.msgs[0].file);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(copy_ok(inbox, &l.msgs[0], jb, junk, "a\n"), st.st_ino);
	assert_int_equal(copy_ok(inbox, &l.msgs[1], jb, junk, "bb\n"), l.msgs[1].ino);
	/* Within the same folder too: a new base name. */
	assert_int_equal(copy_ok(inbox, &l.msgs[1], inbox, t.box, "bb\n"), l.msgs[1].ino);
	/* Another file system (tmpfs): linking fails with EXDEV, the copy is
	 * written through tmp/. */
	struct stat shm_st, tmp_st;
	if (stat("/dev/shm", &shm_st) == 0 && stat("/tmp", &tmp_st) == 0 &&
	    shm_st.st_dev != tmp_st.st_dev && access("/dev/shm", W_OK) == 0) {
		tmp_make_in(&shm, "/dev/shm");
		struct mailbox *other = open_ok(shm.box);
		assert_int_not_equal(copy_ok(inbox, &l.msgs[0], other, shm.box, "a\n"),
				     l.msgs[0].ino);
		struct mailbox_list ol;
		scan_ok(other, &ol);
		assert_int_equal(ol.n, 1);
		assert_true(ol.msgs[0].flags == (MAILBOX_FLAGGED | MAILBOX_SEEN));
		assert_int_equal(ol.msgs[0].crlf_size, 3);
		mailbox_list_fini(&ol);
		mailbox_close(&other);
		tmp_remove(&shm);
	} else {
		print_message("copy fallback not provoked: /dev/shm is no other file system\n");
	}
	/* Copy of a message that is gone. */
	struct mailbox_msg gone = {.file = xstrdup("cur/nothere:2,S"), .flags = MAILBOX_SEEN};
	struct mailbox_msg c;
	errno = 0;
	assert_int_equal(mailbox_copy(inbox, &gone, jb, "h", &c, err, sizeof(err)), -1);
	assert_int_equal(errno, ENOENT);
	/* Expunge: unlink, ENOENT when gone, flush fsyncs. */
	errno = 0;
	assert_int_equal(mailbox_expunge(inbox, &gone, err, sizeof(err)), -1);
	assert_int_equal(errno, ENOENT);
	mailbox_msg_fini(&gone);
	assert_int_equal(mailbox_expunge(inbox, &l.msgs[0], err, sizeof(err)), 0);
	assert_false(exists(&t, l.msgs[0].file));
	assert_int_equal(mailbox_flush(inbox, err, sizeof(err)), 0);
	assert_int_equal(mailbox_flush(inbox, err, sizeof(err)), 0); /* nothing dirty */
	mailbox_list_fini(&l);
	scan_ok(jb, &l);
	assert_int_equal(l.n, 2);
	mailbox_list_fini(&l);
	scan_ok(inbox, &l);
	assert_int_equal(l.n, 2); /* bb and its copy */
	mailbox_list_fini(&l);
	mailbox_close(&jb);
	mailbox_close(&inbox);
	tmp_remove(&t);
}

/* ---- change check ---- */

/* Moves the times of cur/ and new/ a minute back, so a stamp is not
 * "too recent". */
static void age_dirs(const struct tmpdir *t)
{
	struct timespec now;
	assert_int_equal(clock_gettime(CLOCK_REALTIME, &now), 0);
	struct timespec ts[2] = {{.tv_sec = now.tv_sec - 60}, {.tv_sec = now.tv_sec - 60}};
	char p[512];
	path_in(p, sizeof(p), t, "cur");
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	path_in(p, sizeof(p), t, "new");
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static bool changed(struct mailbox *mb, const struct mailbox_stamp *s)
{
	bool c = false;
	char err[256] = "";
	if (mailbox_changed(mb, s, &c, err, sizeof(err)) != 0)
		fail_msg("mailbox_changed: %s", err);
	return c;
}

static void test_change_stamp(void **state)
{
	(void)state;
	struct tmpdir t;
	tmp_make(&t);
	struct mailbox *mb = open_ok(t.box);
	char err[256] = "";
	struct mailbox_stamp s;
	/* Just made: too recent to tell, so "changed". */
	assert_int_equal(mailbox_stamp(mb, &s, err, sizeof(err)), 0);
	assert_true(changed(mb, &s));
	age_dirs(&t);
	assert_int_equal(mailbox_stamp(mb, &s, err, sizeof(err)), 0);
	assert_false(changed(mb, &s));
	assert_false(changed(mb, &s));
	put(&t, "new/1700000001.M1P1Q1.h", "a\n");
	assert_true(changed(mb, &s));
	/* A flag change (rename within cur/) and an expunge are seen too. */
	struct mailbox_list l;
	scan_ok(mb, &l);
	assert_int_equal(mailbox_set_flags(mb, &l.msgs[0], 0, err, sizeof(err)), 1);
	age_dirs(&t);
	assert_int_equal(mailbox_stamp(mb, &s, err, sizeof(err)), 0);
	assert_false(changed(mb, &s));
	assert_int_equal(mailbox_set_flags(mb, &l.msgs[0], MAILBOX_SEEN, err, sizeof(err)), 1);
	assert_true(changed(mb, &s));
	age_dirs(&t);
	assert_int_equal(mailbox_stamp(mb, &s, err, sizeof(err)), 0);
	assert_false(changed(mb, &s));
	assert_int_equal(mailbox_expunge(mb, &l.msgs[0], err, sizeof(err)), 0);
	assert_true(changed(mb, &s));
	mailbox_list_fini(&l);
	mailbox_close(&mb);
	tmp_remove(&t);
}

/* ---- folders ---- */

static void test_folder_names(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		const char *dir; /* under /m, or NULL: refused */
	} cases[] = {
		{"INBOX", "/m"},
		{"inbox", "/m"},
		{"Junk", "/m/.Junk"},
		{"Lists/konvert", "/m/.Lists.konvert"},
		{"INBOX/sub", "/m/.INBOX.sub"},
		{"Entw\xc3\xbcrfe", "/m/.Entw\xc3\xbcrfe"},
		{"", NULL},
		{".", NULL},
		{"..", NULL},
		{"../x", NULL},
		{"x/..", NULL},
		{"a/../b", NULL},
		{".hidden", NULL},
		{"a.b", NULL}, /* would be a/b on disk */
		{"/a", NULL},
		{"a/", NULL},
		{"a//b", NULL},
		{"a\nb", NULL},
		{"a\x7f", NULL},
		{"\xff", NULL},		/* not UTF-8 */
		{"a\xe2\x80\xae" "b", NULL}, /* U+202E right-to-left override */
		{"a\xc2\x85", NULL},	/* U+0085, a C1 control */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[256], err[128] = "";
		int rc = mailbox_folder_path("/m", cases[i].name, out, sizeof(out), err, sizeof(err));
		if (cases[i].dir == NULL) {
			if (rc != -1)
				fail_msg("case %zu accepted: %s", i, out);
			assert_true(err[0] != '\0');
		} else {
			if (rc != 0)
				fail_msg("case %zu refused: %s", i, err);
			assert_string_equal(out, cases[i].dir);
		}
	}
	char long_name[260], out[512], err[128];
	memset(long_name, 'x', 201);
	long_name[201] = '\0';
	assert_int_equal(mailbox_folder_path("/m", long_name, out, sizeof(out), err, sizeof(err)),
			 -1);
	long_name[200] = '\0';
	assert_int_equal(mailbox_folder_path("/m", long_name, out, sizeof(out), err, sizeof(err)),
			 0);
	assert_int_equal(mailbox_folder_path("/m", long_name, out, 20, err, sizeof(err)), -1);
}

static void test_folder_list(void **state)
{
	(void)state;
	struct tmpdir t;
	tmp_make(&t);
	char err[256] = "";
	static const char *const make[] = {"Trash", "Lists/konvert", "Junk", "inbox"};
	for (size_t i = 0; i < 4; i++)
		if (mailbox_folder_create(t.box, make[i], err, sizeof(err)) != 0)
			fail_msg("create %s: %s", make[i], err);
	assert_true(exists(&t, ".Junk/maildirfolder"));
	assert_true(exists(&t, ".Lists.konvert/cur"));
	assert_int_equal(mailbox_folder_create(t.box, "../evil", err, sizeof(err)), -1);
	/* Entries that are no folder of ours are left out. */
	char p[512];
	static const char *const stray[] = {".bad..x", ".INBOX", ".x.", ".\x01"};
	for (size_t i = 0; i < 4; i++) {
		path_in(p, sizeof(p), &t, stray[i]);
		assert_int_equal(mkdir(p, 0700), 0);
	}
	put(&t, ".notdir", "x");
	struct mailbox_folders f;
	assert_int_equal(mailbox_folders_list(t.box, &f, err, sizeof(err)), 0);
	static const char *const want[] = {"INBOX", "Junk", "Lists/konvert", "Trash"};
	assert_int_equal(f.n, 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(f.names[i], want[i]);
	mailbox_folders_fini(&f);
	assert_int_equal(f.n, 0);
	/* Every listed name opens. */
	char path[512];
	assert_int_equal(
		mailbox_folder_path(t.box, "Lists/konvert", path, sizeof(path), err, sizeof(err)),
		0);
	struct mailbox *mb = open_ok(path);
	mailbox_close(&mb);
	assert_int_equal(mailbox_open("/nonexistent/x", &mb, err, sizeof(err)), -1);
	assert_null(mb);
	tmp_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_order_and_flags),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_set_flags),
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_copy_and_expunge),
		cmocka_unit_test(test_change_stamp),
		cmocka_unit_test(test_folder_names),
		cmocka_unit_test(test_folder_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
