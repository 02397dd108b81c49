/* intake_test: unit tests for delivery/intake.c in a mkdtemp data_dir:
 * size/vsize accounting, mailbox dedup and refusal of unsafe addresses,
 * intake_new failures, intake_free and intake_cleanup removing incoming
 * files, and intake_commit through a real worker pool on a libevent loop:
 * byte-exact delivery into every maildir (one inode), the S=/W= sizes in
 * the file name, the incoming file gone, the done callback on the loop
 * thread, and all-or-nothing failure. */
#include "delivery/intake.h"

#include <dirent.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/worker.h"
#include "queue/queue_env.h"
#include "queue/queue_store.h"

#define WATCHDOG_S 60

/* ---- fixture: data_dir, event_base, worker pool ---- */

struct fixture {
	char *data_dir; /* owned, removed at teardown */
	struct event_base *base;
	struct event *watchdog;
	bool timed_out;
	struct worker_pool *wp;
	pthread_t loop_thread;
};

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct fixture *fx = arg;
	fx->timed_out = true;
	(void)event_base_loopbreak(fx->base);
}

static int setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));
	char tmpl[] = "/tmp/intake_test.XXXXXX";
	char err[256];

	if (mkdtemp(tmpl) == NULL)
		return -1;
	fx->data_dir = xstrdup(tmpl);
	if (intake_cleanup(fx->data_dir, err, sizeof(err)) != 0)
		return -1;
	fx->base = event_base_new();
	if (fx->base == NULL)
		return -1;
	fx->watchdog = evtimer_new(fx->base, watchdog_cb, fx);
	struct timeval tv = { .tv_sec = WATCHDOG_S };
	if (fx->watchdog == NULL || evtimer_add(fx->watchdog, &tv) != 0)
		return -1;
	fx->wp = worker_pool_new(fx->base, 2);
	fx->loop_thread = pthread_self();
	*state = fx;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	int rc = nftw(fx->data_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);

	worker_pool_free(&fx->wp);
	event_free(fx->watchdog);
	event_base_free(fx->base);
	free(fx->data_dir);
	free(fx);
	return rc == 0 ? 0 : -1;
}

/* ---- helpers ---- */

static void path_in(char *out, size_t out_size, const struct fixture *fx,
		    const char *rel)
{
	int n = snprintf(out, out_size, "%s/%s", fx->data_dir, rel);

	assert_true(n > 0 && (size_t)n < out_size);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Entries of dir (without "." and ".."), sorted; NULL-terminated owned
 * array in *names_out. Returns the count, or -1 when dir cannot be read. */
static int list_dir(const char *dir, char ***names_out)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	int n = 0;

	*names_out = NULL;
	if (d == NULL)
		return -1;
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		names = xrealloc(names, (size_t)(n + 2) * sizeof(char *));
		names[n++] = xstrdup(de->d_name);
		names[n] = NULL;
	}
	assert_int_equal(closedir(d), 0);
	*names_out = names;
	return n;
}

static void free_names(char **names)
{
	for (size_t i = 0; names != NULL && names[i] != NULL; i++)
		free(names[i]);
	free(names);
}

static int count_dir(const char *dir)
{
	char **names;
	int n = list_dir(dir, &names);

	free_names(names);
	return n;
}

static char *read_all(const char *path, size_t *len_out)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	char *buf = xmalloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		assert_true(r > 0);
		got += (size_t)r;
	}
	assert_int_equal(close(fd), 0);
	*len_out = got;
	return buf;
}

/* ---- message bodies ---- */

struct bytes {
	const char *p;
	size_t len;
};

#define B(s) { .p = (s), .len = sizeof(s) - 1 }
#define CHUNKS_MAX 6

/* A message written as a few chunks, or generated when gen_len != 0. */
struct body {
	struct bytes chunk[CHUNKS_MAX];
	size_t chunk_count;
	size_t gen_len; /* generated: bytes of a pattern with LFs */
	size_t gen_write; /* generated: written in pieces of this size */
};

/* Deterministic content with a LF every 61 bytes and some NULs. */
static char *gen_body(size_t len)
{
	char *p = xmalloc(len > 0 ? len : 1);

	for (size_t i = 0; i < len; i++)
		p[i] = i % 61 == 60 ? '\n' : i % 997 == 5 ? '\0'
					    : (char)('a' + i % 26);
	return p;
}

/* Writes body into in; returns the whole text (owned) and its length. */
static char *write_body(struct intake *in, const struct body *b,
			size_t *len_out)
{
	char *all;
	size_t len = 0;

	if (b->gen_len != 0) {
		all = gen_body(b->gen_len);
		len = b->gen_len;
		for (size_t off = 0; off < len; off += b->gen_write) {
			size_t n = len - off < b->gen_write ? len - off
							    : b->gen_write;
			assert_int_equal(intake_write(in, all + off, n), 0);
		}
	} else {
		size_t total = 0;
		for (size_t i = 0; i < b->chunk_count; i++)
			total += b->chunk[i].len;
		all = xmalloc(total + 1);
		for (size_t i = 0; i < b->chunk_count; i++) {
			assert_int_equal(intake_write(in, b->chunk[i].p,
						      b->chunk[i].len), 0);
			memcpy(all + len, b->chunk[i].p, b->chunk[i].len);
			len += b->chunk[i].len;
		}
	}
	*len_out = len;
	return all;
}

static size_t count_lf(const char *p, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += p[i] == '\n';
	return n;
}

/* ---- size accounting ---- */

struct size_case {
	const char *name;
	struct body body;
	uint64_t size, vsize;
};

static const struct size_case size_cases[] = {
	{ .name = "empty", .size = 0, .vsize = 0 },
	{ .name = "no lf", .body = { .chunk = { B("abc") }, .chunk_count = 1 },
	  .size = 3, .vsize = 3 },
	{ .name = "lines", .body = { .chunk = { B("a\nbb\n\n") },
				     .chunk_count = 1 },
	  .size = 6, .vsize = 9 },
	{ .name = "chunks with empty ones",
	  .body = { .chunk = { B("Subject: x\n"), B(""), B("\n"), B("bo"),
			       B("dy\n") },
		    .chunk_count = 5 },
	  .size = 17, .vsize = 20 },
	{ .name = "nul and cr are plain bytes",
	  .body = { .chunk = { B("a\0b\r\n\0\n") }, .chunk_count = 1 },
	  .size = 7, .vsize = 9 },
	{ .name = "one byte at a time", .body = { .gen_len = 1000,
						  .gen_write = 1 },
	  .size = 1000, .vsize = 1000 + 1000 / 61 },
	{ .name = "exactly the write buffer",
	  .body = { .gen_len = 65536, .gen_write = 65536 },
	  .size = 65536, .vsize = 65536 + 65536 / 61 },
	{ .name = "across buffer flushes",
	  .body = { .gen_len = 300001, .gen_write = 65535 },
	  .size = 300001, .vsize = 300001 + 300001 / 61 },
};

static void test_sizes(void **state)
{
	struct fixture *fx = *state;

	for (size_t i = 0; i < sizeof(size_cases) / sizeof(size_cases[0]);
	     i++) {
		const struct size_case *c = &size_cases[i];
		char err[256] = "", id[32], path[512];
		size_t len;

		(void)snprintf(id, sizeof(id), "size%zu", i);
		struct intake *in = intake_new(fx->data_dir, "mx.test", id,
					       err, sizeof(err));
		if (in == NULL)
			fail_msg("%s: intake_new: %s", c->name, err);
		char rel[64];
		(void)snprintf(rel, sizeof(rel), "incoming/%s", id);
		path_in(path, sizeof(path), fx, rel);
		assert_true(exists(path));
		assert_int_equal(intake_size(in), 0);
		assert_int_equal(intake_vsize(in), 0);
		char *all = write_body(in, &c->body, &len);
		assert_int_equal(len, c->size);
		assert_int_equal(c->vsize, len + count_lf(all, len));
		if (intake_size(in) != c->size || intake_vsize(in) != c->vsize)
			fail_msg("%s: size %llu vsize %llu, want %llu %llu",
				 c->name, (unsigned long long)intake_size(in),
				 (unsigned long long)intake_vsize(in),
				 (unsigned long long)c->size,
				 (unsigned long long)c->vsize);
		free(all);
		intake_free(&in);
		assert_null(in);
		assert_false(exists(path));
	}
}

/* ---- mailboxes ---- */

struct mbox_step {
	const char *address;
	int rc;
	size_t count; /* intake_mailbox_count() afterwards */
};

static const struct mbox_step mbox_steps[] = {
	{ .address = "bob@example.test", .rc = 0, .count = 1 },
	{ .address = "bob@example.test", .rc = 0, .count = 1 },
	{ .address = "carol@example.test", .rc = 0, .count = 2 },
	{ .address = "bob@other.test", .rc = 0, .count = 3 },
	{ .address = "carol@example.test", .rc = 0, .count = 3 },
	{ .address = "../x@example.test", .rc = -1, .count = 3 },
	{ .address = "..@example.test", .rc = -1, .count = 3 },
	{ .address = ".x@example.test", .rc = -1, .count = 3 },
	{ .address = "a/b@example.test", .rc = -1, .count = 3 },
	{ .address = "x@../etc", .rc = -1, .count = 3 },
	{ .address = "x@a/b", .rc = -1, .count = 3 },
	{ .address = "@example.test", .rc = -1, .count = 3 },
	{ .address = "x@", .rc = -1, .count = 3 },
	{ .address = "nodomain", .rc = -1, .count = 3 },
	{ .address = "", .rc = -1, .count = 3 },
	{ .address = "a\nb@example.test", .rc = -1, .count = 3 },
	{ .address = "postmaster@example.test", .rc = 0, .count = 4 },
};

static void test_add_mailbox(void **state)
{
	struct fixture *fx = *state;
	char err[256] = "";
	struct intake *in = intake_new(fx->data_dir, "mx.test", "mbox", err,
				       sizeof(err));

	assert_non_null(in);
	assert_int_equal(intake_mailbox_count(in), 0);
	for (size_t i = 0; i < sizeof(mbox_steps) / sizeof(mbox_steps[0]);
	     i++) {
		const struct mbox_step *s = &mbox_steps[i];
		int rc = intake_add_mailbox(in, s->address);

		if (rc != s->rc || intake_mailbox_count(in) != s->count)
			fail_msg("step %zu \"%s\": rc %d count %zu, want %d %zu",
				 i, s->address, rc, intake_mailbox_count(in),
				 s->rc, s->count);
	}
	intake_free(&in);
	intake_free(&in); /* NULL is accepted */
}

/* ---- intake_new failures ---- */

static void test_new_errors(void **state)
{
	struct fixture *fx = *state;
	char err[256] = "", dir[512];
	struct intake *a = intake_new(fx->data_dir, "mx.test", "dup", err,
				      sizeof(err));

	assert_non_null(a);
	/* an id in use is refused, the existing file stays */
	struct intake *b = intake_new(fx->data_dir, "mx.test", "dup", err,
				      sizeof(err));
	assert_null(b);
	assert_true(err[0] != '\0');
	path_in(dir, sizeof(dir), fx, "incoming/dup");
	assert_true(exists(dir));
	intake_free(&a);
	assert_false(exists(dir));

	/* no incoming/ directory */
	path_in(dir, sizeof(dir), fx, "nothere");
	err[0] = '\0';
	assert_null(intake_new(dir, "mx.test", "x", err, sizeof(err)));
	assert_true(err[0] != '\0');
}

/* ---- intake_free and intake_cleanup ---- */

static void test_free_removes_file(void **state)
{
	struct fixture *fx = *state;
	char err[256] = "", dir[512];
	struct body b = { .gen_len = 200000, .gen_write = 4096 };
	size_t len;
	struct intake *in = intake_new(fx->data_dir, "mx.test", "freed", err,
				       sizeof(err));

	assert_non_null(in);
	char *all = write_body(in, &b, &len);
	assert_int_equal(intake_add_mailbox(in, "bob@example.test"), 0);
	free(all);
	intake_free(&in);
	path_in(dir, sizeof(dir), fx, "incoming");
	assert_int_equal(count_dir(dir), 0);
	/* nothing was delivered */
	path_in(dir, sizeof(dir), fx, "mail");
	assert_false(exists(dir));
}

static void test_cleanup(void **state)
{
	struct fixture *fx = *state;
	char err[256] = "", p[512];
	static const char *const leftovers[] = { "A1B2C3", "x", "y.z" };

	for (size_t i = 0; i < 3; i++) {
		char rel[64];

		(void)snprintf(rel, sizeof(rel), "incoming/%s", leftovers[i]);
		path_in(p, sizeof(p), fx, rel);
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "partial", 7), 7);
		assert_int_equal(close(fd), 0);
	}
	path_in(p, sizeof(p), fx, "incoming");
	assert_int_equal(count_dir(p), 3);
	assert_int_equal(intake_cleanup(fx->data_dir, err, sizeof(err)), 0);
	assert_int_equal(count_dir(p), 0);
	/* idempotent; and it makes a missing incoming/ */
	assert_int_equal(intake_cleanup(fx->data_dir, err, sizeof(err)), 0);
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(intake_cleanup(fx->data_dir, err, sizeof(err)), 0);
	assert_int_equal(count_dir(p), 0);
	/* a data_dir that does not exist is an error with a message */
	path_in(p, sizeof(p), fx, "missing/deeper");
	err[0] = '\0';
	assert_int_equal(intake_cleanup(p, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
}

/* ---- commit ---- */

struct done_rec {
	struct fixture *fx;
	unsigned calls;
	unsigned off_loop;
	unsigned failures;
	unsigned expected_calls; /* loopbreak after this many */
	int result;
	char err[512];
};

static void commit_done_cb(void *arg, int result, const char *err)
{
	struct done_rec *r = arg;

	r->calls++;
	if (!pthread_equal(pthread_self(), r->fx->loop_thread))
		r->off_loop++;
	r->result = result;
	if (result != 0)
		r->failures++;
	if (result == 0) {
		/* intake.h: done(arg, 0, NULL) */
		if (err != NULL)
			(void)snprintf(r->err, sizeof(r->err),
				       "err set on success: %s", err);
	} else {
		(void)snprintf(r->err, sizeof(r->err), "%s",
			       err != NULL ? err : "(null)");
	}
	if (r->calls == r->expected_calls)
		(void)event_base_loopbreak(r->fx->base);
}

static void run_loop(struct fixture *fx)
{
	assert_int_equal(event_base_dispatch(fx->base), 0);
	assert_false(fx->timed_out);
}

#define MBOX_MAX 4

struct commit_case {
	const char *name;
	struct body body;
	const char *mailboxes[MBOX_MAX];
	size_t mailbox_count;
};

static const struct commit_case commit_cases[] = {
	{ .name = "one mailbox",
	  .body = { .chunk = { B("Subject: t\n\nhello\n") }, .chunk_count = 1 },
	  .mailboxes = { "bob@example.test" }, .mailbox_count = 1 },
	{ .name = "three mailboxes, two domains",
	  .body = { .chunk = { B("Subject: t\n"), B("\n"), B("a\0b\r\n") },
		    .chunk_count = 3 },
	  .mailboxes = { "bob@example.test", "carol@example.test",
			 "dave@other.test" },
	  .mailbox_count = 3 },
	{ .name = "duplicate mailbox delivered once",
	  .body = { .chunk = { B("x\n") }, .chunk_count = 1 },
	  .mailboxes = { "bob@example.test", "bob@example.test" },
	  .mailbox_count = 1 },
	{ .name = "empty message",
	  .mailboxes = { "bob@example.test" }, .mailbox_count = 1 },
	{ .name = "large message",
	  .body = { .gen_len = 3 * 65536 + 123, .gen_write = 1000 },
	  .mailboxes = { "bob@example.test", "carol@example.test" },
	  .mailbox_count = 2 },
};

/* Checks that each maildir's new/ holds exactly one file, equal to want,
 * one inode for all, named with the right S= and W=. */
static void check_delivered(const struct fixture *fx, const char *what,
			    const char *const *mailboxes, size_t n,
			    const char *want, size_t want_len)
{
	char suffix[64];
	ino_t ino = 0;

	(void)snprintf(suffix, sizeof(suffix), ",S=%zu,W=%zu", want_len,
		       want_len + count_lf(want, want_len));
	for (size_t i = 0; i < n; i++) {
		const char *at = strrchr(mailboxes[i], '@');
		char dir[512], rel[256], file[1024];
		char **names;
		struct stat st;

		assert_non_null(at);
		(void)snprintf(rel, sizeof(rel), "mail/%s/%.*s/new", at + 1,
			       (int)(at - mailboxes[i]), mailboxes[i]);
		path_in(dir, sizeof(dir), fx, rel);
		int cnt = list_dir(dir, &names);
		if (cnt != 1)
			fail_msg("%s: %d files in %s", what, cnt, dir);
		size_t nl = strlen(names[0]), sl = strlen(suffix);
		if (nl < sl || strcmp(names[0] + nl - sl, suffix) != 0)
			fail_msg("%s: name %s lacks %s", what, names[0],
				 suffix);
		(void)snprintf(file, sizeof(file), "%s/%s", dir, names[0]);
		free_names(names);
		size_t len;
		char *got = read_all(file, &len);
		if (len != want_len || memcmp(got, want, len) != 0)
			fail_msg("%s: %s differs (%zu bytes, want %zu)", what,
				 file, len, want_len);
		free(got);
		assert_int_equal(stat(file, &st), 0);
		if (i == 0)
			ino = st.st_ino;
		assert_int_equal(st.st_ino, ino);
		assert_int_equal(st.st_nlink, n);
	}
}

static void test_commit(void **state)
{
	struct fixture *fx = *state;

	for (size_t i = 0; i < sizeof(commit_cases) / sizeof(commit_cases[0]);
	     i++) {
		const struct commit_case *c = &commit_cases[i];
		char err[256] = "", id[32], p[512];
		size_t len;

		(void)snprintf(id, sizeof(id), "commit%zu", i);
		struct intake *in = intake_new(fx->data_dir, "mx.test", id,
					       err, sizeof(err));
		assert_non_null(in);
		char *all = write_body(in, &c->body, &len);
		for (size_t m = 0; m < MBOX_MAX && c->mailboxes[m] != NULL; m++)
			assert_int_equal(intake_add_mailbox(in,
							    c->mailboxes[m]),
					 0);
		assert_int_equal(intake_mailbox_count(in), c->mailbox_count);

		struct done_rec r = { .fx = fx, .expected_calls = 1,
				      .result = 99 };
		intake_commit(in, fx->wp, commit_done_cb, &r);
		in = NULL; /* owned by the commit now */
		run_loop(fx);
		assert_int_equal(r.calls, 1);
		assert_int_equal(r.off_loop, 0);
		if (r.result != 0 || r.err[0] != '\0')
			fail_msg("%s: result %d: %s", c->name, r.result, r.err);
		assert_int_equal(worker_pending(fx->wp), 0);

		/* the incoming file is gone, only links in new/ remain */
		path_in(p, sizeof(p), fx, "incoming");
		assert_int_equal(count_dir(p), 0);
		check_delivered(fx, c->name, c->mailboxes, c->mailbox_count,
				all, len);
		free(all);

		/* fresh mail/ for the next case */
		path_in(p, sizeof(p), fx, "mail");
		assert_int_equal(nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS),
				 0);
	}
}

/* No mailboxes: nothing to deliver, still a clean success. */
static void test_commit_no_mailboxes(void **state)
{
	struct fixture *fx = *state;
	char err[256] = "", p[512];
	struct intake *in = intake_new(fx->data_dir, "mx.test", "none", err,
				       sizeof(err));

	assert_non_null(in);
	assert_int_equal(intake_write(in, "x\n", 2), 0);
	struct done_rec r = { .fx = fx, .expected_calls = 1, .result = 99 };
	intake_commit(in, fx->wp, commit_done_cb, &r);
	run_loop(fx);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.result, 0);
	path_in(p, sizeof(p), fx, "incoming");
	assert_int_equal(count_dir(p), 0);
}

static void queued_cb(void *arg, struct queue_env *env)
{
	struct queue_env *out = arg;
	*out = *env;
	memset(env, 0, sizeof(*env));
	queue_env_init(env);
}

/* Remote recipients: the same inode is the queued message and the local
 * copy; the scheduler gets the envelope only after the commit. */
static void test_commit_queue(void **state)
{
	struct fixture *fx = *state;
	char err[256] = "", p[512], q[512];
	struct queue_store *qs = queue_store_open(fx->data_dir, 0, err, sizeof(err));
	assert_non_null(qs);
	struct intake *in = intake_new(fx->data_dir, "mx.test", "QID1QID1QID1QID1", err, sizeof(err));
	assert_non_null(in);
	const char *msg = "Return-Path: <a@b>\nSubject: q\n\nhi\n";
	assert_int_equal(intake_write(in, msg, strlen(msg)), 0);
	assert_int_equal(intake_add_mailbox(in, "bob@example.test"), 0);
	struct queue_env env, got;
	queue_env_init(&env);
	queue_env_init(&got);
	(void)snprintf(env.id, sizeof(env.id), "QID1QID1QID1QID1");
	env.sender = strdup("a@b");
	env.created = 1700000000;
	env.skip = 19;
	assert_non_null(queue_env_add_rcpt(&env, "far@remote.test"));
	intake_set_queue(in, qs, &env, queued_cb, &got);
	assert_int_equal(env.rcpt_count, 0); /* moved */
	struct done_rec r = {.fx = fx, .expected_calls = 1, .result = 99};
	intake_commit(in, fx->wp, commit_done_cb, &r);
	run_loop(fx);
	if (r.result != 0)
		fail_msg("commit: %s", r.err);
	assert_string_equal(got.id, "QID1QID1QID1QID1");
	assert_int_equal(got.size, strlen(msg));
	assert_int_equal(got.rcpt_count, 1);
	path_in(q, sizeof(q), fx, "queue/msg/QID1QID1QID1QID1");
	struct stat qst;
	assert_int_equal(stat(q, &qst), 0);
	assert_int_equal(qst.st_nlink, 2); /* queue + bob's Maildir */
	struct queue_env disk;
	queue_env_init(&disk);
	assert_int_equal(queue_store_read(qs, "QID1QID1QID1QID1", &disk, err, sizeof(err)), 0);
	assert_int_equal(disk.skip, 19);
	path_in(p, sizeof(p), fx, "incoming");
	assert_int_equal(count_dir(p), 0);
	queue_env_fini(&disk);
	queue_env_fini(&got);
	queue_env_fini(&env);
	queue_store_close(&qs);
}

/* The one file in DIR (relative to data_dir): its bytes, its name. */
static char *only_file(const struct fixture *fx, const char *rel, size_t *len, char *name,
		       size_t name_size, struct stat *st)
{
	char dir[512], file[1024];
	char **names;
	path_in(dir, sizeof(dir), fx, rel);
	int cnt = list_dir(dir, &names);
	if (cnt != 1)
		fail_msg("%d files in %s", cnt, dir);
	(void)snprintf(name, name_size, "%s", names[0]);
	(void)snprintf(file, sizeof(file), "%s/%s", dir, names[0]);
	free_names(names);
	assert_int_equal(stat(file, st), 0);
	return read_all(file, len);
}

/* intake_write_return_path: Delivered-To of the first mailbox is in the
 * file itself (linked into its Maildir and into the queue, where skip
 * passes over it); the second mailbox gets a copy with its own line and
 * its own S=/W= sizes. */
static void test_commit_delivered_to(void **state)
{
	struct fixture *fx = *state;
	char err[256] = "", name[512], want[256];
	struct queue_store *qs = queue_store_open(fx->data_dir, 0, err, sizeof(err));
	assert_non_null(qs);
	struct intake *in = intake_new(fx->data_dir, "mx.test", "QID2QID2QID2QID2", err, sizeof(err));
	assert_non_null(in);
	assert_int_equal(intake_add_mailbox(in, "bob@example.test"), 0);
	assert_int_equal(intake_add_mailbox(in, "carolyn@example.test"), 0);
	assert_int_equal(intake_write_return_path(in, "a@b"), 0);
	assert_int_equal(intake_write_return_path(in, "a@b"), -1); /* only first */
	const char *msg = "Received: by mx.test\nSubject: q\n\nhi\n";
	assert_int_equal(intake_write(in, msg, strlen(msg)), 0);
	struct queue_env env, got;
	queue_env_init(&env);
	queue_env_init(&got);
	(void)snprintf(env.id, sizeof(env.id), "QID2QID2QID2QID2");
	env.sender = strdup("a@b");
	env.created = 1700000000;
	assert_non_null(queue_env_add_rcpt(&env, "far@remote.test"));
	intake_set_queue(in, qs, &env, queued_cb, &got);
	struct done_rec r = {.fx = fx, .expected_calls = 1, .result = 99};
	intake_commit(in, fx->wp, commit_done_cb, &r);
	run_loop(fx);
	if (r.result != 0)
		fail_msg("commit: %s", r.err);
	const char *head0 = "Return-Path: <a@b>\nDelivered-To: bob@example.test\n";
	assert_int_equal(got.skip, strlen(head0));
	assert_int_equal(got.size, strlen(head0) + strlen(msg));

	struct stat st, qst;
	size_t len;
	char *bob = only_file(fx, "mail/example.test/bob/new", &len, name, sizeof(name), &st);
	(void)snprintf(want, sizeof(want), "%s%s", head0, msg);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(bob, want, len);
	char suffix[64];
	(void)snprintf(suffix, sizeof(suffix), ",S=%zu,W=%zu", len, len + count_lf(want, len));
	assert_non_null(strstr(name, suffix));
	free(bob);
	char q[512];
	path_in(q, sizeof(q), fx, "queue/msg/QID2QID2QID2QID2");
	assert_int_equal(stat(q, &qst), 0);
	assert_int_equal(qst.st_ino, st.st_ino); /* one file, two names */

	char *carol = only_file(fx, "mail/example.test/carolyn/new", &len, name, sizeof(name), &st);
	(void)snprintf(want, sizeof(want),
		       "Return-Path: <a@b>\nDelivered-To: carolyn@example.test\n%s", msg);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(carol, want, len);
	assert_int_equal(st.st_nlink, 1);
	(void)snprintf(suffix, sizeof(suffix), ",S=%zu,W=%zu", len, len + count_lf(want, len));
	assert_non_null(strstr(name, suffix));
	free(carol);
	path_in(q, sizeof(q), fx, "mail/example.test/carolyn/tmp");
	assert_int_equal(count_dir(q), 0);
	queue_env_fini(&got);
	queue_env_fini(&env);
	queue_store_close(&qs);
}

/* Many messages committed at once into one mailbox get distinct names. */
static void test_commit_concurrent(void **state)
{
	struct fixture *fx = *state;
	enum { N = 40 };
	struct done_rec r = { .fx = fx, .expected_calls = N, .result = 99 };
	char p[512];

	for (int i = 0; i < N; i++) {
		char err[256] = "", id[32], body[32];

		(void)snprintf(id, sizeof(id), "conc%d", i);
		struct intake *in = intake_new(fx->data_dir, "mx.test", id,
					       err, sizeof(err));
		assert_non_null(in);
		int n = snprintf(body, sizeof(body), "message %d\n", i);
		assert_int_equal(intake_write(in, body, (size_t)n), 0);
		assert_int_equal(intake_add_mailbox(in, "bob@example.test"), 0);
		intake_commit(in, fx->wp, commit_done_cb, &r);
	}
	run_loop(fx);
	assert_int_equal(r.calls, N);
	assert_int_equal(r.off_loop, 0);
	assert_int_equal(r.failures, 0);
	assert_string_equal(r.err, "");
	path_in(p, sizeof(p), fx, "mail/example.test/bob/new");
	assert_int_equal(count_dir(p), N);
	path_in(p, sizeof(p), fx, "incoming");
	assert_int_equal(count_dir(p), 0);
}

/* A mailbox whose maildir cannot be made fails the whole commit: nothing
 * in the other mailboxes, no incoming file, an error message. A regular
 * file in the way works as root too. */
static void test_commit_failure(void **state)
{
	struct fixture *fx = *state;
	char err[256] = "", p[512];

	path_in(p, sizeof(p), fx, "mail");
	assert_int_equal(mkdir(p, 0700), 0);
	path_in(p, sizeof(p), fx, "mail/example.test");
	assert_int_equal(mkdir(p, 0700), 0);
	path_in(p, sizeof(p), fx, "mail/example.test/zed");
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(close(fd), 0);

	struct intake *in = intake_new(fx->data_dir, "mx.test", "fail", err,
				       sizeof(err));
	assert_non_null(in);
	assert_int_equal(intake_write(in, "Subject: x\n\nbody\n", 17), 0);
	assert_int_equal(intake_add_mailbox(in, "bob@example.test"), 0);
	assert_int_equal(intake_add_mailbox(in, "zed@example.test"), 0);
	assert_int_equal(intake_add_mailbox(in, "carol@example.test"), 0);
	struct done_rec r = { .fx = fx, .expected_calls = 1, .result = 99 };
	intake_commit(in, fx->wp, commit_done_cb, &r);
	run_loop(fx);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.result, -1);
	assert_true(r.err[0] != '\0' && strcmp(r.err, "(null)") != 0);
	path_in(p, sizeof(p), fx, "mail/example.test/bob/new");
	assert_true(count_dir(p) <= 0); /* missing or empty */
	path_in(p, sizeof(p), fx, "mail/example.test/carol/new");
	assert_true(count_dir(p) <= 0);
	path_in(p, sizeof(p), fx, "incoming");
	assert_int_equal(count_dir(p), 0);
}

int main(void)
{
	if (evthread_use_pthreads() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_mailbox, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_new_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_free_removes_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cleanup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_delivered_to, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_no_mailboxes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_commit_concurrent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_commit_failure, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
