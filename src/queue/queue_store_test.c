/* queue_store_test: unit tests for the queue's files, each in a fresh
 * mkdtemp data_dir: directory creation and modes, read-only opening, a
 * symbolic link in place of queue/ or a message, adopt (hard link, one
 * inode) / update / read / remove / list, refusals that leave nothing
 * behind, and the startup scan: crash leftovers (tmp files, a message
 * without envelope, young and old), corrupt envelopes of every kind moved
 * to corrupt/ while the rest of the queue is passed on, and a queue of
 * 200 envelopes. */
#include "queue/queue_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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
#include <openssl/evp.h>

#include "core/alloc.h"
#include "queue/queue_env.h"

#define MSG_TEXT "Return-Path: <a@b>\nSubject: hi\n\nbody\n"
#define MSG_SKIP 19 /* "Return-Path: <a@b>\n" */

struct fixture {
	char *dir; /* owned: the data_dir */
	struct queue_store *qs;
	char err[512];
};

/* ---- helpers ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char tmpl[] = "/tmp/queue_store_test.XXXXXX", path[600];

	(void)umask(022);
	assert_non_null(mkdtemp(tmpl));
	f->dir = xstrdup(tmpl);
	(void)snprintf(path, sizeof(path), "%s/incoming", f->dir);
	assert_int_equal(mkdir(path, 0750), 0);
	f->qs = queue_store_open(f->dir, 0, f->err, sizeof(f->err));
	assert_non_null(f->qs);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	queue_store_close(&f->qs);
	assert_null(f->qs);
	assert_int_equal(nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
	free(f->dir);
	free(f);
	return 0;
}

static const char *fpath(const struct fixture *f, const char *rel, char buf[600])
{
	(void)snprintf(buf, 600, "%s/%s", f->dir, rel);
	return buf;
}

static void write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static char *read_file(const char *path, size_t *len_out)
{
	char *buf = xmalloc(1 << 16);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, 1 << 16);
	assert_true(n >= 0);
	assert_int_equal(close(fd), 0);
	*len_out = (size_t)n;
	return buf;
}

static bool exists(const struct fixture *f, const char *rel)
{
	char p[600];
	struct stat st;

	return lstat(fpath(f, rel, p), &st) == 0;
}

static size_t count_entries(const struct fixture *f, const char *rel)
{
	char p[600];
	size_t n = 0;
	struct dirent *de;
	DIR *d = opendir(fpath(f, rel, p));

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' || strncmp(de->d_name, ".tmp.", 5) == 0)
			n++;
	assert_int_equal(closedir(d), 0);
	return n;
}

/* body_len bytes of body + a fresh "sha256 HEX" line (what the encoder
 * appends), so that the parser, not the checksum, meets the damage. */
static char *seal(const char *body, size_t body_len, size_t *len_out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int md_len = 0;
	char *out = xmalloc(body_len + 72);

	assert_int_equal(EVP_Digest(body, body_len, md, &md_len, EVP_sha256(), NULL), 1);
	memcpy(out, body, body_len);
	memcpy(out + body_len, "sha256 ", 7);
	for (int i = 0; i < 32; i++) {
		out[body_len + 7 + 2 * i] = hex[md[i] >> 4];
		out[body_len + 8 + 2 * i] = hex[md[i] & 15];
	}
	out[body_len + 71] = '\n';
	*len_out = body_len + 72;
	return out;
}

/* Writes incoming/ID with MSG_TEXT and fills env for it. */
static void make_incoming(struct fixture *f, const char *id, struct queue_env *env)
{
	char rel[64], p[600];
	struct queue_rcpt *r;

	(void)snprintf(rel, sizeof(rel), "incoming/%s", id);
	write_file(fpath(f, rel, p), MSG_TEXT, strlen(MSG_TEXT));
	queue_env_init(env);
	memcpy(env->id, id, ID_LEN + 1);
	env->sender = xstrdup("sender@example.org");
	env->created = 1700000000;
	env->size = strlen(MSG_TEXT);
	env->skip = MSG_SKIP;
	r = queue_env_add_rcpt(env, "rcpt@example.net");
	r->next_try = 1700000000;
}

/* make_incoming + adopt, then the incoming name goes as intake does. */
static void queue_one(struct fixture *f, const char *id)
{
	struct queue_env env;
	char rel[64], p[600];

	make_incoming(f, id, &env);
	(void)snprintf(rel, sizeof(rel), "incoming/%s", id);
	if (queue_store_adopt(f->qs, fpath(f, rel, p), &env, f->err, sizeof(f->err)) != 0)
		fail_msg("adopt %s: %s", id, f->err);
	assert_int_equal(unlink(p), 0);
	queue_env_fini(&env);
}

/* Ids in order: a fixed prefix and a 4-digit counter. */
static void id_n(char out[ID_LEN + 1], unsigned n)
{
	(void)snprintf(out, ID_LEN + 1, "00000000000%05u", n);
}

/* ---- open ---- */

static void test_open_creates_dirs(void **state)
{
	struct fixture *f = *state;
	static const char *const dirs[] = { "queue", "queue/msg", "queue/env", "queue/corrupt" };
	struct stat st;
	char p[600];

	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(lstat(fpath(f, dirs[i], p), &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0750);
	}
	/* Opening again is fine, and so is opening read-only. */
	struct queue_store *qs2 = queue_store_open(f->dir, 0, f->err, sizeof(f->err));

	assert_non_null(qs2);
	queue_store_close(&qs2);
	qs2 = queue_store_open(f->dir, QUEUE_STORE_RDONLY, f->err, sizeof(f->err));
	assert_non_null(qs2);
	queue_store_close(&qs2);
	queue_store_close(&qs2); /* NULL is fine */
}

static void env_never(void *arg, struct queue_env *env)
{
	(void)arg;
	(void)env;
	fail_msg("no envelope expected");
}

static void test_open_rdonly(void **state)
{
	struct fixture *f = *state;
	struct queue_store *ro;
	struct queue_env env;
	struct queue_scan_stats st;
	char p[600], sub[600];

	/* Read-only on a data_dir without queue/ creates nothing. */
	(void)snprintf(sub, sizeof(sub), "%s/other", f->dir);
	assert_int_equal(mkdir(sub, 0750), 0);
	ro = queue_store_open(sub, QUEUE_STORE_RDONLY, f->err, sizeof(f->err));
	assert_null(ro);
	assert_non_null(strstr(f->err, "other/queue: No such file or directory"));
	assert_false(exists(f, "other/queue"));
	/* A missing data_dir is not created either. */
	(void)snprintf(sub, sizeof(sub), "%s/nope", f->dir);
	assert_null(queue_store_open(sub, 0, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, "nope: No such file or directory"));

	/* Writes through a read-only store are refused. */
	ro = queue_store_open(f->dir, QUEUE_STORE_RDONLY, f->err, sizeof(f->err));
	assert_non_null(ro);
	make_incoming(f, "0000000000000001", &env);
	assert_int_equal(queue_store_adopt(ro, fpath(f, "incoming/0000000000000001", p), &env,
					   f->err, sizeof(f->err)),
			 -1);
	assert_non_null(strstr(f->err, "read-only"));
	assert_int_equal(queue_store_update(ro, &env, f->err, sizeof(f->err)), -1);
	assert_int_equal(queue_store_remove(ro, env.id, f->err, sizeof(f->err)), -1);
	assert_int_equal(queue_store_scan(ro, 0, env_never, NULL, NULL, &st,
					  f->err, sizeof(f->err)),
			 -1);
	assert_false(exists(f, "queue/msg/0000000000000001"));
	queue_env_fini(&env);
	queue_store_close(&ro);
}

static void test_open_symlink_refused(void **state)
{
	struct fixture *f = *state;
	char p[600], target[600], sub[600];

	/* data_dir/other/queue -> data_dir/queue: refused, not followed. */
	(void)snprintf(sub, sizeof(sub), "%s/other", f->dir);
	assert_int_equal(mkdir(sub, 0750), 0);
	assert_int_equal(symlink(fpath(f, "queue", target), fpath(f, "other/queue", p)), 0);
	assert_null(queue_store_open(sub, 0, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, "symbolic link"));
	assert_null(queue_store_open(sub, QUEUE_STORE_RDONLY, f->err, sizeof(f->err)));
	/* A link in place of queue/env. */
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkdir(p, 0750), 0);
	assert_int_equal(symlink(fpath(f, "queue/env", target), fpath(f, "other/queue/env", p)),
			 0);
	assert_null(queue_store_open(sub, 0, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, "other/queue/env: is a symbolic link"));
}

/* ---- adopt / update / read / remove ---- */

static void test_adopt_update_remove(void **state)
{
	struct fixture *f = *state;
	const char *id = "0123456789BCDFGH";
	struct queue_env env, back;
	struct queue_id *ids = NULL;
	size_t n = 0, len;
	struct stat in_st, msg_st, env_st;
	char p[600], p2[600], buf[256], *text;
	int fd;

	make_incoming(f, id, &env);
	assert_int_equal(queue_store_adopt(f->qs, fpath(f, "incoming/0123456789BCDFGH", p), &env,
					   f->err, sizeof(f->err)),
			 0);
	/* One inode: the message bytes were not copied. */
	assert_int_equal(stat(p, &in_st), 0);
	assert_int_equal(stat(fpath(f, "queue/msg/0123456789BCDFGH", p2), &msg_st), 0);
	assert_int_equal(in_st.st_ino, msg_st.st_ino);
	assert_int_equal(msg_st.st_nlink, 2);
	assert_int_equal(stat(fpath(f, "queue/env/0123456789BCDFGH", p2), &env_st), 0);
	assert_int_equal(env_st.st_mode & 0777, 0640);
	assert_int_equal(count_entries(f, "queue/env"), 1); /* no tmp left */

	/* The file is the encoder's output. */
	text = read_file(p2, &len);
	assert_true(len > 16 && memcmp(text, "konvert-queue 1\n", 16) == 0);
	free(text);

	assert_int_equal(queue_store_read(f->qs, id, &back, f->err, sizeof(f->err)), 0);
	assert_string_equal(back.sender, "sender@example.org");
	assert_int_equal(back.rcpts[0].state, QUEUE_RCPT_PENDING);
	queue_env_fini(&back);

	fd = queue_store_open_message(f->qs, id, f->err, sizeof(f->err));
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), (ssize_t)strlen(MSG_TEXT));
	assert_memory_equal(buf, MSG_TEXT, strlen(MSG_TEXT));
	assert_int_equal(close(fd), 0);

	/* Update: new state visible to a reader, still one file. */
	env.rcpts[0].state = QUEUE_RCPT_DEFERRED;
	env.rcpts[0].attempts = 1;
	env.rcpts[0].last_reply = xstrdup("451 4.3.0 try \"later\"\r\n");
	env.rcpts[0].remote_mta = xstrdup("mx.example.net");
	assert_int_equal(queue_store_update(f->qs, &env, f->err, sizeof(f->err)), 0);
	assert_int_equal(queue_store_read(f->qs, id, &back, f->err, sizeof(f->err)), 0);
	assert_int_equal(back.rcpts[0].state, QUEUE_RCPT_DEFERRED);
	assert_string_equal(back.rcpts[0].last_reply, "451 4.3.0 try \"later\"\r\n");
	queue_env_fini(&back);
	assert_int_equal(count_entries(f, "queue/env"), 1);

	assert_int_equal(queue_store_list_ids(f->qs, &ids, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0].s, id);
	free(ids);

	/* Remove: both names gone; the incoming link is the caller's. */
	assert_int_equal(queue_store_remove(f->qs, id, f->err, sizeof(f->err)), 0);
	assert_false(exists(f, "queue/env/0123456789BCDFGH"));
	assert_false(exists(f, "queue/msg/0123456789BCDFGH"));
	assert_true(exists(f, "incoming/0123456789BCDFGH"));
	/* Removing twice is fine; updating a removed message is not. */
	assert_int_equal(queue_store_remove(f->qs, id, f->err, sizeof(f->err)), 0);
	assert_int_equal(queue_store_update(f->qs, &env, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "queue/msg/0123456789BCDFGH: message not in the queue"));
	assert_false(exists(f, "queue/env/0123456789BCDFGH"));
	assert_int_equal(queue_store_read(f->qs, id, &back, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "queue/env/0123456789BCDFGH: No such file"));
	assert_int_equal(queue_store_open_message(f->qs, id, f->err, sizeof(f->err)), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(queue_store_list_ids(f->qs, &ids, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, 0);
	assert_null(ids);
	queue_env_fini(&env);
}

static void test_adopt_refusals(void **state)
{
	struct fixture *f = *state;
	struct queue_env env;
	char p[600];
	size_t len, len2;
	char *before, *after;

	/* An invalid envelope: nothing is linked. */
	make_incoming(f, "0000000000000001", &env);
	env.skip = env.size + 1;
	assert_int_equal(queue_store_adopt(f->qs, fpath(f, "incoming/0000000000000001", p), &env,
					   f->err, sizeof(f->err)),
			 -1);
	assert_non_null(strstr(f->err, "skip larger than size"));
	assert_false(exists(f, "queue/msg/0000000000000001"));
	assert_int_equal(count_entries(f, "queue/env"), 0);
	queue_env_fini(&env);

	/* A missing incoming file. */
	make_incoming(f, "0000000000000002", &env);
	assert_int_equal(queue_store_adopt(f->qs, fpath(f, "incoming/nonexistent", p), &env,
					   f->err, sizeof(f->err)),
			 -1);
	assert_non_null(strstr(f->err, "link "));
	assert_non_null(strstr(f->err, "No such file"));
	assert_false(exists(f, "queue/msg/0000000000000002"));

	/* Adopting an id twice: refused, the first copy intact. */
	assert_int_equal(queue_store_adopt(f->qs, fpath(f, "incoming/0000000000000002", p), &env,
					   f->err, sizeof(f->err)),
			 0);
	before = read_file(fpath(f, "queue/env/0000000000000002", p), &len);
	env.rcpts[0].state = QUEUE_RCPT_FAILED;
	assert_int_equal(queue_store_adopt(f->qs, fpath(f, "incoming/0000000000000002", p), &env,
					   f->err, sizeof(f->err)),
			 -1);
	assert_non_null(strstr(f->err, "File exists"));
	assert_true(exists(f, "queue/msg/0000000000000002"));
	after = read_file(fpath(f, "queue/env/0000000000000002", p), &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(before, after, len);
	free(before);
	free(after);

	/* A stray env/ID without msg/ID (damage): adopt refuses it and
	 * takes its link back. */
	queue_env_fini(&env);
	make_incoming(f, "0000000000000003", &env);
	write_file(fpath(f, "queue/env/0000000000000003", p), "junk", 4);
	assert_int_equal(queue_store_adopt(f->qs, fpath(f, "incoming/0000000000000003", p), &env,
					   f->err, sizeof(f->err)),
			 -1);
	assert_non_null(strstr(f->err, "queue/env/0000000000000003: File exists"));
	assert_false(exists(f, "queue/msg/0000000000000003"));
	assert_int_equal(count_entries(f, "queue/env"), 2); /* no tmp left */
	queue_env_fini(&env);

	/* Ids that could name another file never reach the disk. */
	assert_int_equal(queue_store_remove(f->qs, "../../x", f->err, sizeof(f->err)), -1);
	assert_string_equal(f->err, "queue: invalid message id");
	assert_int_equal(queue_store_open_message(f->qs, "../env/0000000000", f->err,
						  sizeof(f->err)),
			 -1);
	assert_int_equal(queue_store_read(f->qs, "0000000000000002/", &env, f->err,
					  sizeof(f->err)),
			 -1);
}

static void test_symlinks_not_followed(void **state)
{
	struct fixture *f = *state;
	struct queue_env env;
	char p[600], target[600];

	/* msg/ID and env/ID as links to a good message elsewhere. */
	queue_one(f, "0000000000000001");
	assert_int_equal(symlink(fpath(f, "queue/msg/0000000000000001", target),
				 fpath(f, "queue/msg/0000000000000002", p)),
			 0);
	assert_int_equal(symlink(fpath(f, "queue/env/0000000000000001", target),
				 fpath(f, "queue/env/0000000000000003", p)),
			 0);
	assert_int_equal(queue_store_open_message(f->qs, "0000000000000002", f->err,
						  sizeof(f->err)),
			 -1);
	assert_non_null(strstr(f->err, "symbolic link"));
	assert_int_equal(queue_store_read(f->qs, "0000000000000003", &env, f->err,
					  sizeof(f->err)),
			 -1);
	assert_non_null(strstr(f->err, "symbolic link"));
}

/* ---- scan ---- */

struct collected {
	struct queue_env envs[256];
	size_t n;
	char notes[64][700];
	enum queue_scan_action actions[64];
	size_t n_notes;
};

static void collect_env(void *arg, struct queue_env *env)
{
	struct collected *c = arg;

	assert_true(c->n < 256);
	/* Take ownership, as the header allows. */
	c->envs[c->n++] = *env;
	queue_env_init(env);
}

static void collect_note(void *arg, enum queue_scan_action a, const char *name,
			 const char *reason)
{
	struct collected *c = arg;

	assert_true(c->n_notes < 64);
	(void)snprintf(c->notes[c->n_notes], sizeof(c->notes[0]), "%s: %s", name, reason);
	c->actions[c->n_notes++] = a;
}

static bool has_note(const struct collected *c, enum queue_scan_action a, const char *text)
{
	for (size_t i = 0; i < c->n_notes; i++)
		if (c->actions[i] == a && strcmp(c->notes[i], text) == 0)
			return true;
	return false;
}

static void collected_free(struct collected *c)
{
	for (size_t i = 0; i < c->n; i++)
		queue_env_fini(&c->envs[i]);
	free(c);
}

static void print_notes(const struct collected *c)
{
	for (size_t i = 0; i < c->n_notes; i++)
		print_message("note %d %s\n", (int)c->actions[i], c->notes[i]);
}

static void test_scan_empty(void **state)
{
	struct fixture *f = *state;
	struct collected *c = xcalloc(1, sizeof(*c));
	struct queue_scan_stats st;

	assert_int_equal(queue_store_scan(f->qs, 0, collect_env, collect_note, c, &st, f->err,
					  sizeof(f->err)),
			 0);
	assert_int_equal(c->n, 0);
	assert_int_equal(c->n_notes, 0);
	assert_int_equal(st.envelopes + st.corrupt + st.removed + st.kept + st.failed, 0);
	collected_free(c);
}

static void test_scan_leftovers(void **state)
{
	struct fixture *f = *state;
	struct collected *c = xcalloc(1, sizeof(*c));
	struct queue_scan_stats st;
	char p[600];

	queue_one(f, "0000000000000001");
	/* A crash between link and envelope write: message, no envelope. */
	write_file(fpath(f, "queue/msg/0000000000000002", p), "x\n", 2);
	/* Crashes inside write_env: temporary files. */
	write_file(fpath(f, "queue/env/.tmp.0000000000000001.123.0", p), "konv", 4);
	write_file(fpath(f, "queue/env/.tmp.0000000000000003.99.7", p), "", 0);

	/* First with a long orphan age: the orphan is too young to judge. */
	assert_int_equal(queue_store_scan(f->qs, 3600, collect_env, collect_note, c, &st, f->err,
					  sizeof(f->err)),
			 0);
	print_notes(c);
	assert_int_equal(c->n, 1);
	assert_string_equal(c->envs[0].id, "0000000000000001");
	assert_int_equal(st.envelopes, 1);
	assert_int_equal(st.removed, 2);
	assert_int_equal(st.kept, 1);
	assert_true(has_note(c, QUEUE_SCAN_REMOVED_TMP,
			     "env/.tmp.0000000000000001.123.0: unfinished envelope write"));
	assert_true(has_note(c, QUEUE_SCAN_KEPT_ORPHAN,
			     "msg/0000000000000002: message without envelope, too recent to "
			     "remove"));
	assert_true(exists(f, "queue/msg/0000000000000002"));
	assert_int_equal(count_entries(f, "queue/env"), 1);
	collected_free(c);

	/* Then old enough (tests pass 0): removed. */
	c = xcalloc(1, sizeof(*c));
	assert_int_equal(queue_store_scan(f->qs, 0, collect_env, collect_note, c, &st, f->err,
					  sizeof(f->err)),
			 0);
	assert_int_equal(c->n, 1);
	assert_int_equal(st.removed, 1);
	assert_true(has_note(c, QUEUE_SCAN_REMOVED_ORPHAN,
			     "msg/0000000000000002: message without envelope"));
	assert_false(exists(f, "queue/msg/0000000000000002"));
	assert_true(exists(f, "queue/msg/0000000000000001"));
	assert_int_equal(count_entries(f, "queue/corrupt"), 0);
	collected_free(c);
}

static void test_scan_corrupt(void **state)
{
	struct fixture *f = *state;
	struct collected *c = xcalloc(1, sizeof(*c));
	struct queue_scan_stats st;
	char p[600], p2[600], id[ID_LEN + 1], *text, *enc;
	size_t len;

	for (unsigned i = 1; i <= 10; i++) {
		id_n(id, i);
		queue_one(f, id);
	}
	/* 2: one bit flipped. */
	text = read_file(fpath(f, "queue/env/0000000000000002", p), &len);
	text[40] ^= 4;
	write_file(p, text, len);
	free(text);
	/* 3: truncated by a byte. */
	text = read_file(fpath(f, "queue/env/0000000000000003", p), &len);
	write_file(p, text, len - 1);
	free(text);
	/* 4: envelope without its message. */
	assert_int_equal(unlink(fpath(f, "queue/msg/0000000000000004", p)), 0);
	/* 5: message shorter than the envelope says. */
	write_file(fpath(f, "queue/msg/0000000000000005", p), "short\n", 6);
	/* 6: a valid envelope of another id under this name. */
	text = read_file(fpath(f, "queue/env/0000000000000001", p), &len);
	write_file(fpath(f, "queue/env/0000000000000006", p), text, len);
	free(text);
	/* 7: a symbolic link in place of the envelope. */
	assert_int_equal(unlink(fpath(f, "queue/env/0000000000000007", p)), 0);
	assert_int_equal(symlink(fpath(f, "queue/env/0000000000000001", p2), p), 0);
	/* 8: an empty file. */
	write_file(fpath(f, "queue/env/0000000000000008", p), "", 0);
	/* 9: a valid checksum over an envelope with an unknown key. */
	text = read_file(fpath(f, "queue/env/0000000000000009", p), &len);
	memcpy(text + len - 72, "foo 1\n", 6);
	enc = seal(text, len - 72 + 6, &len);
	write_file(p, enc, len);
	free(enc);
	free(text);
	/* Strange names in env/ and msg/, and a directory. */
	write_file(fpath(f, "queue/env/notes.txt", p), "hello", 5);
	write_file(fpath(f, "queue/msg/core", p), "x", 1);
	assert_int_equal(mkdir(fpath(f, "queue/env/0000000000000099", p), 0750), 0);

	assert_int_equal(queue_store_scan(f->qs, 0, collect_env, collect_note, c, &st, f->err,
					  sizeof(f->err)),
			 0);
	print_notes(c);
	/* 1 and 10 survive, in id order. */
	assert_int_equal(c->n, 2);
	assert_string_equal(c->envs[0].id, "0000000000000001");
	assert_string_equal(c->envs[1].id, "0000000000000010");
	assert_int_equal(st.envelopes, 2);
	assert_int_equal(st.failed, 0);
	assert_true(has_note(c, QUEUE_SCAN_MOVED_CORRUPT,
			     "env/0000000000000002 -> corrupt/0000000000000002.env: checksum "
			     "mismatch"));
	assert_true(has_note(c, QUEUE_SCAN_MOVED_CORRUPT,
			     "msg/0000000000000002 -> corrupt/0000000000000002.msg: its envelope "
			     "is corrupt"));
	assert_true(has_note(c, QUEUE_SCAN_MOVED_CORRUPT,
			     "env/0000000000000003 -> corrupt/0000000000000003.env: truncated (no "
			     "checksum line)"));
	assert_true(has_note(c, QUEUE_SCAN_MOVED_CORRUPT,
			     "env/0000000000000004 -> corrupt/0000000000000004.env: envelope "
			     "without message"));
	assert_true(has_note(c, QUEUE_SCAN_MOVED_CORRUPT,
			     "msg/0000000000000005 -> corrupt/0000000000000005.msg: message has 6 "
			     "bytes, envelope says 37"));
	assert_true(has_note(c, QUEUE_SCAN_MOVED_CORRUPT,
			     "env/0000000000000006 -> corrupt/0000000000000006.env: envelope id "
			     "does not match its file name"));
	assert_true(has_note(c, QUEUE_SCAN_MOVED_CORRUPT,
			     "env/0000000000000007 -> corrupt/0000000000000007.env: envelope is a "
			     "symbolic link"));
	assert_true(has_note(c, QUEUE_SCAN_MOVED_CORRUPT,
			     "env/0000000000000008 -> corrupt/0000000000000008.env: empty file"));
	assert_true(has_note(c, QUEUE_SCAN_MOVED_CORRUPT,
			     "env/notes.txt -> corrupt/env.notes.txt: unexpected name"));
	assert_true(has_note(c, QUEUE_SCAN_MOVED_CORRUPT,
			     "msg/core -> corrupt/msg.core: unexpected name"));
	assert_true(has_note(c, QUEUE_SCAN_MOVED_CORRUPT,
			     "env/0000000000000099 -> corrupt/0000000000000099.env: envelope is not "
			     "a regular file"));
	/* Every message of a moved envelope went with it (4 had none). */
	assert_true(has_note(c, QUEUE_SCAN_MOVED_CORRUPT,
			     "env/0000000000000009 -> corrupt/0000000000000009.env: unknown key"));
	assert_true(exists(f, "queue/corrupt/0000000000000009.msg"));
	assert_false(exists(f, "queue/corrupt/0000000000000004.msg"));
	assert_int_equal(count_entries(f, "queue/env"), 2);
	assert_int_equal(count_entries(f, "queue/msg"), 2);
	assert_int_equal(st.corrupt, count_entries(f, "queue/corrupt"));
	collected_free(c);

	/* A second scan finds a clean queue. */
	c = xcalloc(1, sizeof(*c));
	assert_int_equal(queue_store_scan(f->qs, 0, collect_env, collect_note, c, &st, f->err,
					  sizeof(f->err)),
			 0);
	assert_int_equal(c->n, 2);
	assert_int_equal(c->n_notes, 0);
	collected_free(c);

	/* The same id corrupted again does not overwrite the first copy. */
	write_file(fpath(f, "queue/env/0000000000000002", p), "junk", 4);
	c = xcalloc(1, sizeof(*c));
	assert_int_equal(queue_store_scan(f->qs, 0, collect_env, collect_note, c, NULL, f->err,
					  sizeof(f->err)),
			 0);
	assert_true(has_note(c, QUEUE_SCAN_MOVED_CORRUPT,
			     "env/0000000000000002 -> corrupt/0000000000000002.env.1: truncated "
			     "(no checksum line)"));
	collected_free(c);
}

static void scan_count_only(void *arg, struct queue_env *env)
{
	size_t *n = arg;

	/* Leave env in place: the scan finis it. */
	assert_true(env->rcpt_count == 1);
	(*n)++;
}

static void test_scan_200(void **state)
{
	struct fixture *f = *state;
	struct collected *c = xcalloc(1, sizeof(*c));
	struct queue_scan_stats st;
	struct queue_id *ids = NULL;
	char id[ID_LEN + 1];
	size_t n = 0, count = 0;

	/* Queued in reverse order: the scan still reports them sorted. */
	for (unsigned i = 200; i >= 1; i--) {
		id_n(id, i);
		queue_one(f, id);
	}
	assert_int_equal(queue_store_scan(f->qs, 0, collect_env, collect_note, c, &st, f->err,
					  sizeof(f->err)),
			 0);
	assert_int_equal(c->n, 200);
	assert_int_equal(st.envelopes, 200);
	assert_int_equal(c->n_notes, 0);
	for (unsigned i = 0; i < 200; i++) {
		id_n(id, i + 1);
		assert_string_equal(c->envs[i].id, id);
		assert_int_equal(c->envs[i].size, strlen(MSG_TEXT));
	}
	collected_free(c);

	assert_int_equal(queue_store_list_ids(f->qs, &ids, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, 200);
	for (size_t i = 1; i < n; i++)
		assert_true(strcmp(ids[i - 1].s, ids[i].s) < 0);
	free(ids);

	/* Remove half; a scan sees the other half. */
	for (unsigned i = 1; i <= 200; i += 2) {
		id_n(id, i);
		assert_int_equal(queue_store_remove(f->qs, id, f->err, sizeof(f->err)), 0);
	}
	assert_int_equal(queue_store_scan(f->qs, 0, scan_count_only, NULL, &count, &st, f->err,
					  sizeof(f->err)),
			 0);
	assert_int_equal(count, 100);
	assert_int_equal(count_entries(f, "queue/msg"), 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_dirs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_rdonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_symlink_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopt_update_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopt_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlinks_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_leftovers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_200, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
