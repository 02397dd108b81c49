/* queue_store: the files of the queue. It owns data_dir/queue/ (msg/,
 * env/, corrupt/), the order in which they are written and fsynced, and
 * the startup recovery scan; INTERNALS.md explains why each step is where
 * it is. It must not decide anything about delivery, log, or touch the
 * event loop: every call may block on the disk. All paths are resolved
 * relative to directory descriptors opened once, never through a symbolic
 * link, so a link planted in data_dir cannot redirect a write. */
#include "queue/queue_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "core/safefile.h"
#include "queue/queue_env.h"

#define DIR_MODE 0750
#define ENV_MODE 0640
/* Temporary envelope names start with this; ids never contain a dot. */
#define TMP_PREFIX ".tmp."
#define PATH_LEN 4096

enum qdir { QDIR_MSG, QDIR_ENV, QDIR_CORRUPT, QDIR_COUNT };
static const char *const qdir_names[QDIR_COUNT] = { "msg", "env", "corrupt" };

struct queue_store {
	char *root; /* owned: "DATA_DIR/queue", for messages */
	int root_fd; /* owned */
	int fd[QDIR_COUNT]; /* owned: msg/, env/, corrupt/ */
	bool rdonly;
	atomic_uint_fast64_t tmp_seq; /* makes temporary names unique */
};

__attribute__((format(printf, 3, 4))) static int errf(char *err, size_t err_size,
						       const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && err_size > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(err, err_size, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* "ROOT/SUB/NAME" for messages (truncation only shortens a message). */
static const char *shown(const struct queue_store *qs, enum qdir d, const char *name,
			 char buf[PATH_LEN])
{
	(void)snprintf(buf, PATH_LEN, "%s/%s/%s", qs->root, qdir_names[d], name);
	return buf;
}

static int check_id(const char *id, char *err, size_t err_size)
{
	if (!queue_env_is_valid_id(id))
		return errf(err, err_size, "queue: invalid message id");
	return 0;
}

static int check_writable(const struct queue_store *qs, char *err, size_t err_size)
{
	if (qs->rdonly)
		return errf(err, err_size, "%s: queue opened read-only", qs->root);
	return 0;
}

/* ---- open / close ---- */

/* mkdir (unless rdonly) and open a directory without following a link.
 * The parent is fsynced whether or not we made the entry: another process
 * may have just made it without having synced it (same reasoning as
 * store/maildir's mkdir_durable). */
static int open_dir(int parent_fd, const char *name, const char *path, bool create, char *err,
		    size_t err_size)
{
	int fd;

	if (create && mkdirat(parent_fd, name, DIR_MODE) != 0 && errno != EEXIST)
		return errf(err, err_size, "%s: %s", path, strerror(errno));
	fd = safefile_open(parent_fd, name, path, SAFEFILE_NOFOLLOW | SAFEFILE_DIR, NULL, err,
			   err_size);
	if (fd < 0)
		return -1;
	if (create && fsync(parent_fd) != 0) {
		int e = errno;

		(void)close(fd);
		return errf(err, err_size, "%s: fsync of parent: %s", path, strerror(e));
	}
	return fd;
}

struct queue_store *queue_store_open(const char *data_dir, unsigned flags, char *err,
				     size_t err_size)
{
	struct queue_store *qs = xcalloc(1, sizeof(*qs));
	bool create = !(flags & QUEUE_STORE_RDONLY);
	char path[PATH_LEN];
	int n, data_fd;

	qs->rdonly = !create;
	qs->root_fd = -1;
	for (int d = 0; d < QDIR_COUNT; d++)
		qs->fd[d] = -1;
	n = snprintf(path, sizeof(path), "%s/queue", data_dir);
	if (n < 0 || (size_t)n >= sizeof(path) - NAME_MAX - 16) {
		(void)errf(err, err_size, "%s: path too long", data_dir);
		goto fail;
	}
	qs->root = xstrdup(path);
	data_fd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (data_fd < 0) {
		(void)errf(err, err_size, "%s: %s", data_dir, strerror(errno));
		goto fail;
	}
	qs->root_fd = open_dir(data_fd, "queue", qs->root, create, err, err_size);
	(void)close(data_fd);
	if (qs->root_fd < 0)
		goto fail;
	for (int d = 0; d < QDIR_COUNT; d++) {
		(void)snprintf(path, sizeof(path), "%s/%s", qs->root, qdir_names[d]);
		qs->fd[d] = open_dir(qs->root_fd, qdir_names[d], path, create, err, err_size);
		if (qs->fd[d] < 0)
			goto fail;
	}
	atomic_init(&qs->tmp_seq, 0);
	return qs;
fail:
	queue_store_close(&qs);
	return NULL;
}

void queue_store_close(struct queue_store **pp)
{
	struct queue_store *qs = *pp;

	if (qs == NULL)
		return;
	for (int d = 0; d < QDIR_COUNT; d++)
		if (qs->fd[d] >= 0)
			(void)close(qs->fd[d]);
	if (qs->root_fd >= 0)
		(void)close(qs->root_fd);
	free(qs->root);
	free(qs);
	*pp = NULL;
}

/* ---- envelope files ---- */

/* Writes env/ID through a temporary file: create it (O_EXCL|O_NOFOLLOW:
 * never through a planted name), write, fsync, then put it in place and
 * fsync env/. exclusive: link() the name in, failing with EEXIST when it
 * exists (adopt); otherwise rename() over the old one (update). */
static int write_env(struct queue_store *qs, const struct queue_env *env, bool exclusive,
		     char *err, size_t err_size)
{
	int envfd = qs->fd[QDIR_ENV], fd, e;
	const char *why = NULL;
	char *buf = NULL, tmp[NAME_MAX + 1], path[PATH_LEN];
	size_t len;
	uint64_t seq = (uint64_t)atomic_fetch_add(&qs->tmp_seq, 1);

	if (queue_env_encode(env, &buf, &len, &why) != 0)
		return errf(err, err_size, "%s: cannot encode envelope: %s",
			    shown(qs, QDIR_ENV, env->id, path), why);
	/* Unique across threads (seq) and processes (pid). */
	(void)snprintf(tmp, sizeof(tmp), TMP_PREFIX "%s.%ld.%llu", env->id, (long)getpid(),
		       (unsigned long long)seq);
	fd = openat(envfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, ENV_MODE);
	if (fd < 0) {
		e = errno;
		free(buf);
		return errf(err, err_size, "%s: %s", shown(qs, QDIR_ENV, tmp, path), strerror(e));
	}
	if (safefile_write_all(fd, buf, len) != 0 || fsync(fd) != 0) {
		e = errno;
		(void)close(fd);
		goto fail_tmp;
	}
	free(buf);
	buf = NULL;
	if (close(fd) != 0) {
		e = errno;
		goto fail_tmp;
	}
	if (exclusive) {
		if (linkat(envfd, tmp, envfd, env->id, 0) != 0) {
			e = errno;
			(void)unlinkat(envfd, tmp, 0);
			return errf(err, err_size, "%s: %s", shown(qs, QDIR_ENV, env->id, path),
				    strerror(e));
		}
		/* A leftover tmp name is harmless: the scan removes it. */
		(void)unlinkat(envfd, tmp, 0);
	} else if (renameat(envfd, tmp, envfd, env->id) != 0) {
		e = errno;
		(void)unlinkat(envfd, tmp, 0);
		return errf(err, err_size, "%s: %s", shown(qs, QDIR_ENV, env->id, path),
			    strerror(e));
	}
	if (fsync(envfd) != 0) {
		e = errno;
		(void)snprintf(path, sizeof(path), "%s/env", qs->root);
		return errf(err, err_size, "%s: fsync: %s", path, strerror(e));
	}
	return 0;
fail_tmp:
	free(buf);
	(void)unlinkat(envfd, tmp, 0);
	return errf(err, err_size, "%s: %s", shown(qs, QDIR_ENV, tmp, path), strerror(e));
}

int queue_store_adopt(struct queue_store *qs, const char *incoming_path,
		      const struct queue_env *env, char *err, size_t err_size)
{
	const char *why = NULL;
	char path[PATH_LEN];
	int e;

	if (check_id(env->id, err, err_size) != 0 || check_writable(qs, err, err_size) != 0)
		return -1;
	/* Refuse a bad envelope before anything touches the disk. */
	if (queue_env_validate(env, &why) != 0)
		return errf(err, err_size, "%s: cannot encode envelope: %s",
			    shown(qs, QDIR_ENV, env->id, path), why);
	/* linkat without AT_SYMLINK_FOLLOW links a planted symbolic link
	 * itself, never its target; open_message then refuses it. */
	if (linkat(AT_FDCWD, incoming_path, qs->fd[QDIR_MSG], env->id, 0) != 0) {
		e = errno;
		return errf(err, err_size, "link %s -> %s: %s", incoming_path,
			    shown(qs, QDIR_MSG, env->id, path), strerror(e));
	}
	/* msg/ID is durable before env/ID exists, so a durable envelope
	 * always has its message (INTERNALS.md, invariant 1). */
	if (fsync(qs->fd[QDIR_MSG]) != 0) {
		e = errno;
		(void)snprintf(path, sizeof(path), "%s/msg", qs->root);
		(void)errf(err, err_size, "%s: fsync: %s", path, strerror(e));
		goto undo;
	}
	if (write_env(qs, env, true, err, err_size) != 0)
		goto undo;
	return 0;
undo:
	/* Not acknowledged: the caller answers 4xx, so the message must not
	 * stay half-queued. A failed unlink leaves an orphan for the scan. */
	(void)unlinkat(qs->fd[QDIR_MSG], env->id, 0);
	return -1;
}

int queue_store_update(struct queue_store *qs, const struct queue_env *env, char *err,
		       size_t err_size)
{
	struct stat st;
	char path[PATH_LEN];

	if (check_id(env->id, err, err_size) != 0 || check_writable(qs, err, err_size) != 0)
		return -1;
	if (fstatat(qs->fd[QDIR_MSG], env->id, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		int e = errno;

		if (e == ENOENT)
			return errf(err, err_size, "%s: message not in the queue",
				    shown(qs, QDIR_MSG, env->id, path));
		return errf(err, err_size, "%s: %s", shown(qs, QDIR_MSG, env->id, path),
			    strerror(e));
	}
	return write_env(qs, env, false, err, err_size);
}

int queue_store_remove(struct queue_store *qs, const char *id, char *err, size_t err_size)
{
	char path[PATH_LEN];
	int e;

	if (check_id(id, err, err_size) != 0 || check_writable(qs, err, err_size) != 0)
		return -1;
	if (unlinkat(qs->fd[QDIR_ENV], id, 0) != 0 && errno != ENOENT) {
		e = errno;
		return errf(err, err_size, "%s: %s", shown(qs, QDIR_ENV, id, path), strerror(e));
	}
	if (fsync(qs->fd[QDIR_ENV]) != 0) {
		e = errno;
		(void)snprintf(path, sizeof(path), "%s/env", qs->root);
		return errf(err, err_size, "%s: fsync: %s", path, strerror(e));
	}
	/* No fsync of msg/: if the removal is lost in a crash, the scan finds
	 * a message without envelope and removes it; one fsync saved per
	 * message. */
	if (unlinkat(qs->fd[QDIR_MSG], id, 0) != 0 && errno != ENOENT) {
		e = errno;
		return errf(err, err_size, "%s: %s", shown(qs, QDIR_MSG, id, path), strerror(e));
	}
	return 0;
}

int queue_store_open_message(struct queue_store *qs, const char *id, char *err,
			     size_t err_size)
{
	char path[PATH_LEN];

	if (check_id(id, err, err_size) != 0) {
		errno = EINVAL;
		return -1;
	}
	/* Not SAFEFILE_ONE_LINK: local recipients hold hard links of it. */
	return safefile_open(qs->fd[QDIR_MSG], id, shown(qs, QDIR_MSG, id, path),
			     SAFEFILE_NOFOLLOW, NULL, err, err_size);
}

/* Reads a whole regular file of at most max bytes; *buf_out owned. */
static int read_small(int fd, size_t max, char **buf_out, size_t *len_out)
{
	size_t cap = 4096, len = 0;
	char *buf = xmalloc(cap);

	for (;;) {
		ssize_t r;

		if (len == cap) {
			if (cap > max) {
				free(buf);
				errno = EFBIG;
				return -1;
			}
			cap *= 2; /* cap <= 2 * (max + 1): no overflow */
			buf = xrealloc(buf, cap);
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(buf);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > max) {
		free(buf);
		errno = EFBIG;
		return -1;
	}
	*buf_out = buf;
	*len_out = len;
	return 0;
}

/* Reads env/NAME; -1 with err (a full message) and *why (short, for the
 * scan's notes). */
static int read_env(struct queue_store *qs, const char *id, struct queue_env *env_out,
		    const char **why, char *err, size_t err_size)
{
	char path[PATH_LEN], *buf = NULL;
	size_t len = 0;
	int fd, rc;

	queue_env_init(env_out);
	*why = NULL;
	fd = safefile_open(qs->fd[QDIR_ENV], id, shown(qs, QDIR_ENV, id, path),
			   SAFEFILE_NOFOLLOW, NULL, err, err_size);
	if (fd < 0) {
		*why = errno == ENOENT ? "no such envelope" :
		       errno == ELOOP  ? "envelope is a symbolic link" :
		       errno == EINVAL ? "envelope is not a regular file" :
					 "cannot open envelope";
		return -1;
	}
	rc = read_small(fd, QUEUE_ENV_FILE_MAX, &buf, &len);
	if (rc != 0) {
		int e = errno;

		(void)close(fd);
		*why = e == EFBIG ? "file too large" : "read error";
		return errf(err, err_size, "%s: %s", path, strerror(e));
	}
	(void)close(fd); /* read-only: close cannot lose data */
	rc = queue_env_decode(buf, len, env_out, why);
	free(buf);
	if (rc != 0)
		return errf(err, err_size, "%s: %s", path, *why);
	if (strcmp(env_out->id, id) != 0) {
		queue_env_fini(env_out);
		*why = "envelope id does not match its file name";
		return errf(err, err_size, "%s: %s", path, *why);
	}
	return 0;
}

int queue_store_read(struct queue_store *qs, const char *id, struct queue_env *env_out,
		     char *err, size_t err_size)
{
	const char *why;

	queue_env_init(env_out);
	if (check_id(id, err, err_size) != 0)
		return -1;
	return read_env(qs, id, env_out, &why, err, err_size);
}

/* ---- directory listings ---- */

struct name_list {
	char **names; /* owned, each owned */
	size_t count, cap;
};

static void names_add(struct name_list *l, const char *name)
{
	if (l->count == l->cap) {
		size_t cap = l->cap == 0 ? 64 : l->cap, bytes;
		bool overflow = ckd_mul_size(&cap, cap, 2) ||
				ckd_mul_size(&bytes, cap, sizeof(*l->names));

		KASSERT(!overflow);
		l->names = xrealloc(l->names, bytes);
		l->cap = cap;
	}
	l->names[l->count++] = xstrdup(name);
}

static void names_free(struct name_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->names[i]);
	free(l->names);
	memset(l, 0, sizeof(*l));
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every entry of directory d except . and .., sorted. A fresh open of
 * "." gives this listing its own offset, so threads may list at once. */
static int list_dir(struct queue_store *qs, enum qdir d, struct name_list *out, char *err,
		    size_t err_size)
{
	char path[PATH_LEN];
	struct dirent *de;
	DIR *dir;
	int fd, e;

	memset(out, 0, sizeof(*out));
	(void)snprintf(path, sizeof(path), "%s/%s", qs->root, qdir_names[d]);
	fd = openat(qs->fd[d], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errf(err, err_size, "%s: %s", path, strerror(errno));
	dir = fdopendir(fd);
	if (dir == NULL) {
		e = errno;
		(void)close(fd);
		return errf(err, err_size, "%s: %s", path, strerror(e));
	}
	for (;;) {
		errno = 0;
		de = readdir(dir);
		if (de == NULL)
			break;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		names_add(out, de->d_name);
	}
	e = errno;
	(void)closedir(dir);
	if (e != 0) {
		names_free(out);
		return errf(err, err_size, "%s: %s", path, strerror(e));
	}
	if (out->count > 1)
		qsort(out->names, out->count, sizeof(*out->names), cmp_name);
	return 0;
}

int queue_store_list_ids(struct queue_store *qs, struct queue_id **ids_out, size_t *count_out,
			 char *err, size_t err_size)
{
	struct name_list l;
	struct queue_id *ids = NULL;
	size_t n = 0, bytes;

	*ids_out = NULL;
	*count_out = 0;
	if (list_dir(qs, QDIR_ENV, &l, err, err_size) != 0)
		return -1;
	if (l.count > 0) {
		bool overflow = ckd_mul_size(&bytes, l.count, sizeof(*ids));

		KASSERT(!overflow);
		ids = xmalloc(bytes);
	}
	for (size_t i = 0; i < l.count; i++) {
		if (queue_env_is_valid_id(l.names[i]))
			memcpy(ids[n++].s, l.names[i], ID_LEN + 1);
	}
	names_free(&l);
	if (n == 0) {
		free(ids);
		ids = NULL;
	}
	*ids_out = ids;
	*count_out = n;
	return 0;
}

/* ---- the startup scan ---- */

struct scan {
	struct queue_store *qs;
	queue_store_note_fn note_cb;
	void *arg;
	struct queue_scan_stats st;
	bool dirty[QDIR_COUNT]; /* directories to fsync at the end */
};

static void note(struct scan *sc, enum queue_scan_action a, const char *name, const char *why)
{
	switch (a) {
	case QUEUE_SCAN_MOVED_CORRUPT:
		sc->st.corrupt++;
		break;
	case QUEUE_SCAN_REMOVED_TMP:
	case QUEUE_SCAN_REMOVED_ORPHAN:
		sc->st.removed++;
		break;
	case QUEUE_SCAN_KEPT_ORPHAN:
		sc->st.kept++;
		break;
	case QUEUE_SCAN_FAILED:
		sc->st.failed++;
		break;
	}
	if (sc->note_cb != NULL)
		sc->note_cb(sc->arg, a, name, why);
}

/* Renames D/NAME to corrupt/NAME.D (ids) or corrupt/D.NAME (anything
 * else), adding .1, .2, ... rather than replacing an earlier file. */
static void move_corrupt(struct scan *sc, enum qdir d, const char *name, const char *why)
{
	struct queue_store *qs = sc->qs;
	char base[NAME_MAX + 1], target[NAME_MAX + 8], shown_name[PATH_LEN];
	int n;

	if (queue_env_is_valid_id(name))
		n = snprintf(base, sizeof(base), "%s.%s", name, qdir_names[d]);
	else
		n = snprintf(base, sizeof(base), "%s.%s", qdir_names[d], name);
	/* Room for ".NN"; a long planted name is cut short. */
	if (n < 0 || (size_t)n > sizeof(base) - 4)
		base[sizeof(base) - 4] = '\0';
	for (int i = 0; i < 100; i++) {
		if (i == 0)
			(void)snprintf(target, sizeof(target), "%s", base);
		else
			(void)snprintf(target, sizeof(target), "%s.%d", base, i);
		/* RENAME_NOREPLACE: never overwrite an earlier corrupt file. */
		if (renameat2(qs->fd[d], name, qs->fd[QDIR_CORRUPT], target, RENAME_NOREPLACE) ==
		    0) {
			sc->dirty[d] = sc->dirty[QDIR_CORRUPT] = true;
			(void)snprintf(shown_name, sizeof(shown_name), "%s/%s -> corrupt/%s",
				       qdir_names[d], name, target);
			note(sc, QUEUE_SCAN_MOVED_CORRUPT, shown_name, why);
			return;
		}
		if (errno != EEXIST)
			break;
	}
	(void)snprintf(shown_name, sizeof(shown_name), "%s/%s", qdir_names[d], name);
	(void)snprintf(target, sizeof(target), "cannot move to corrupt/: %s", strerror(errno));
	note(sc, QUEUE_SCAN_FAILED, shown_name, target);
}

static void remove_entry(struct scan *sc, enum qdir d, const char *name,
			 enum queue_scan_action a, const char *why)
{
	char shown_name[PATH_LEN], msg[128];

	(void)snprintf(shown_name, sizeof(shown_name), "%s/%s", qdir_names[d], name);
	if (unlinkat(sc->qs->fd[d], name, 0) != 0) {
		(void)snprintf(msg, sizeof(msg), "cannot remove: %s", strerror(errno));
		note(sc, QUEUE_SCAN_FAILED, shown_name, msg);
		return;
	}
	sc->dirty[d] = true;
	note(sc, a, shown_name, why);
}

static bool names_has(const struct name_list *l, const char *name)
{
	return bsearch(&name, l->names, l->count, sizeof(*l->names), cmp_name) != NULL;
}

/* One env/ID: usable (passed on) or moved aside with its message. */
static void scan_env(struct scan *sc, const char *id, bool has_msg, queue_store_env_fn env_cb)
{
	struct queue_store *qs = sc->qs;
	struct queue_env env;
	struct stat st;
	const char *why;
	char err[PATH_LEN + 128], msg[128];

	if (read_env(qs, id, &env, &why, err, sizeof(err)) != 0) {
		move_corrupt(sc, QDIR_ENV, id, why != NULL ? why : err);
		if (has_msg)
			move_corrupt(sc, QDIR_MSG, id, "its envelope is corrupt");
		return;
	}
	if (!has_msg) {
		queue_env_fini(&env);
		move_corrupt(sc, QDIR_ENV, id, "envelope without message");
		return;
	}
	msg[0] = '\0';
	if (fstatat(qs->fd[QDIR_MSG], id, &st, AT_SYMLINK_NOFOLLOW) != 0)
		(void)snprintf(msg, sizeof(msg), "message: %s", strerror(errno));
	else if (!S_ISREG(st.st_mode))
		(void)snprintf(msg, sizeof(msg), "message is not a regular file");
	else if ((uint64_t)st.st_size != env.size)
		(void)snprintf(msg, sizeof(msg), "message has %lld bytes, envelope says %llu",
			       (long long)st.st_size, (unsigned long long)env.size);
	if (msg[0] != '\0') {
		queue_env_fini(&env);
		move_corrupt(sc, QDIR_ENV, id, msg);
		move_corrupt(sc, QDIR_MSG, id, msg);
		return;
	}
	sc->st.envelopes++;
	env_cb(sc->arg, &env);
	queue_env_fini(&env);
}

static void scan_orphan(struct scan *sc, const char *id, int64_t orphan_age, int64_t now)
{
	char shown_name[PATH_LEN];
	struct stat st;

	if (fstatat(sc->qs->fd[QDIR_MSG], id, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return; /* gone meanwhile */
	if (!S_ISREG(st.st_mode)) {
		move_corrupt(sc, QDIR_MSG, id, "message is not a regular file");
		return;
	}
	/* ctime, not mtime: link() sets ctime, while mtime is when the
	 * intake file was last written, which may be long before. */
	if (now - (int64_t)st.st_ctime >= orphan_age) {
		remove_entry(sc, QDIR_MSG, id, QUEUE_SCAN_REMOVED_ORPHAN,
			     "message without envelope");
		return;
	}
	(void)snprintf(shown_name, sizeof(shown_name), "msg/%s", id);
	note(sc, QUEUE_SCAN_KEPT_ORPHAN, shown_name,
	     "message without envelope, too recent to remove");
}

int queue_store_scan(struct queue_store *qs, int64_t orphan_age, queue_store_env_fn env_cb,
		     queue_store_note_fn note_cb, void *arg, struct queue_scan_stats *stats_out,
		     char *err, size_t err_size)
{
	struct scan sc = { .qs = qs, .note_cb = note_cb, .arg = arg };
	struct name_list envs, msgs, env_ids = { 0 }, msg_ids = { 0 };
	int64_t now = (int64_t)time(NULL);

	KASSERT(env_cb != NULL);
	if (stats_out != NULL)
		memset(stats_out, 0, sizeof(*stats_out));
	if (check_writable(qs, err, err_size) != 0)
		return -1;
	if (list_dir(qs, QDIR_ENV, &envs, err, err_size) != 0)
		return -1;
	if (list_dir(qs, QDIR_MSG, &msgs, err, err_size) != 0) {
		names_free(&envs);
		return -1;
	}
	for (size_t i = 0; i < envs.count; i++) {
		const char *name = envs.names[i];

		if (strncmp(name, TMP_PREFIX, sizeof(TMP_PREFIX) - 1) == 0)
			remove_entry(&sc, QDIR_ENV, name, QUEUE_SCAN_REMOVED_TMP,
				     "unfinished envelope write");
		else if (queue_env_is_valid_id(name))
			names_add(&env_ids, name);
		else
			move_corrupt(&sc, QDIR_ENV, name, "unexpected name");
	}
	for (size_t i = 0; i < msgs.count; i++) {
		if (queue_env_is_valid_id(msgs.names[i]))
			names_add(&msg_ids, msgs.names[i]);
		else
			move_corrupt(&sc, QDIR_MSG, msgs.names[i], "unexpected name");
	}
	/* Both lists are sorted subsets of sorted lists: still sorted. */
	for (size_t i = 0; i < env_ids.count; i++)
		scan_env(&sc, env_ids.names[i], names_has(&msg_ids, env_ids.names[i]), env_cb);
	for (size_t i = 0; i < msg_ids.count; i++)
		if (!names_has(&env_ids, msg_ids.names[i]))
			scan_orphan(&sc, msg_ids.names[i], orphan_age, now);
	names_free(&envs);
	names_free(&msgs);
	names_free(&env_ids);
	names_free(&msg_ids);
	/* Make the moves and removals durable, so that a second crash does
	 * not bring back what this scan already judged. */
	for (int d = 0; d < QDIR_COUNT; d++) {
		if (sc.dirty[d] && fsync(qs->fd[d]) != 0) {
			char path[PATH_LEN], msg[128];

			(void)snprintf(path, sizeof(path), "%s", qdir_names[d]);
			(void)snprintf(msg, sizeof(msg), "fsync: %s", strerror(errno));
			note(&sc, QUEUE_SCAN_FAILED, path, msg);
		}
	}
	if (stats_out != NULL)
		*stats_out = sc.st;
	return 0;
}
