/* mailbox: the Maildir folder layer under the protocol views. Owns the
 * reading of message names (base name, flags, delivery time, ",S=" and
 * ",W="), the one CR LF size rule, the scan and its order, and the file
 * operations on messages (flag renames, append, copy, expunge, fsync). It
 * knows no protocol: no locks, numbers, unique-ids or UIDs (those belong
 * to the views), and it never logs. Blocking I/O only: worker threads or
 * the CLI. See mailbox.h for the contracts. */
#include "store/mailbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "store/maildir.h"

#define INFO_PREFIX ":2,"

struct mailbox {
	int fd; /* O_DIRECTORY fd of the folder; owned */
	bool no_renameat2; /* the file system refused RENAME_NOREPLACE once */
	bool dirty_cur, dirty_new; /* changed since the last mailbox_flush() */
};

static void fail(char *err, size_t err_size, const char *what, const char *obj)
{
	int saved = errno;
	(void)snprintf(err, err_size, "%s %s: %s", what, obj, strerror(saved));
	errno = saved;
}

/* ---- names ---- */

size_t mailbox_base_len(const char *name)
{
	const char *info = strstr(name, INFO_PREFIX);
	return info != NULL ? (size_t)(info - name) : strlen(name);
}

static bool is_letter(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* The info starts at the first ':' (store/maildir.h). */
uint64_t mailbox_name_flags(const char *name, bool *foreign_out)
{
	*foreign_out = false;
	const char *colon = strchr(name, ':');
	if (colon == NULL)
		return 0;
	if (strncmp(colon, INFO_PREFIX, 3) != 0) {
		*foreign_out = true;
		return 0;
	}
	uint64_t flags = 0;
	for (const char *p = colon + 3; *p != '\0'; p++)
		if (is_letter(*p))
			flags |= MAILBOX_FLAG(*p);
	return flags;
}

/* Parses 1..19 decimal digits at s (no overflow possible at 19); *end
 * points past them. Returns 0, or -1 when there is no digit or too many. */
static int parse_digits(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		if (i == 19)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == 0)
		return -1;
	*end = s + i;
	*out = v;
	return 0;
}

/* ",K=N" (key "S" or "W") inside the base name, ended by ',', ':' or the
 * end of the name. A field in the info part does not count. */
static bool has_field(const char *name, size_t blen, char key, uint64_t *out)
{
	const char pat[3] = {',', key, '='};
	const char *p = name;
	const char *lim = name + blen;
	while ((p = memmem(p, (size_t)(lim - p), pat, 3)) != NULL) {
		const char *end;
		uint64_t v;
		p += 3;
		if (parse_digits(p, &end, &v) == 0 && end <= lim &&
		    (*end == '\0' || *end == ',' || *end == ':')) {
			*out = v;
			return true;
		}
	}
	return false;
}

/* Maildir names start "SECS." and, in the modern form, "SECS.M<usec>". */
static bool has_time(const char *name, uint64_t *secs_out, uint32_t *usec_out)
{
	const char *end;
	if (parse_digits(name, &end, secs_out) != 0 || *end != '.')
		return false;
	*usec_out = 0;
	if (end[1] == 'M') {
		uint64_t usec;
		const char *uend;
		if (parse_digits(end + 2, &uend, &usec) == 0)
			*usec_out = (uint32_t)usec;
	}
	return true;
}

/* "new/NAME" or "cur/NAME" as an owned string. */
static char *make_file(const char *sub, const char *name)
{
	size_t nlen = strlen(name);
	char *file = xmalloc(nlen + 5);
	memcpy(file, sub, 3);
	file[3] = '/';
	memcpy(file + 4, name, nlen + 1);
	return file;
}

static void set_file(struct mailbox_msg *m, const char *sub, const char *name)
{
	char *file = make_file(sub, name);
	free(m->file);
	m->file = file;
	m->flags = mailbox_name_flags(name, &m->foreign_info);
}

/* The letters of flags in ASCII order into out (room for 53). */
static size_t flag_letters(uint64_t flags, char *out)
{
	size_t n = 0;
	for (int i = 0; i < 52; i++)
		if (flags & (UINT64_C(1) << i))
			out[n++] = (char)(i < 26 ? 'A' + i : 'a' + (i - 26));
	out[n] = '\0';
	return n;
}

/* ---- sizes ---- */

struct crlf_count {
	uint64_t total;
	bool prev_cr; /* a CR ending one buffer pairs with an LF starting the next */
	char last; /* last byte so far; '\n' for none: no content needs no line end */
};

static void crlf_feed(struct crlf_count *c, const char *buf, size_t len)
{
	c->total += len;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\n' && !c->prev_cr)
			c->total++;
		c->prev_cr = buf[i] == '\r';
	}
	if (len > 0)
		c->last = buf[len - 1];
}

/* The line end proto/dot's encoder adds to an unterminated last line: CR
 * LF after a last byte other than LF, or LF after a lone CR. */
static uint64_t crlf_end(const struct crlf_count *c)
{
	if (c->last == '\r')
		return c->total + 1;
	if (c->last != '\n')
		return c->total + 2;
	return c->total;
}

int mailbox_crlf_size(int fd, uint64_t *out)
{
	struct crlf_count c = {.last = '\n'};
	char buf[16384];
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		crlf_feed(&c, buf, (size_t)r);
	}
	*out = crlf_end(&c);
	return 0;
}

/* ---- files ---- */

/* Opens a regular file without following symlinks or blocking on a FIFO
 * someone placed in the maildir. Not a regular file: ENOENT. */
static int open_regular(int dir_fd, const char *path, struct stat *st)
{
	int fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	int saved = 0;
	if (fstat(fd, st) != 0) {
		saved = errno;
	} else if (!S_ISREG(st->st_mode)) {
		saved = ENOENT; /* not a message (any more) */
	} else {
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
			saved = errno;
	}
	if (saved == 0)
		return fd;
	(void)close(fd);
	errno = saved;
	return -1;
}

/* Regular file by d_type, or by lstat where the file system leaves it
 * unknown. Vanished entries count as not regular. */
static bool is_regular_entry(int dir_fd, const struct dirent *de)
{
	if (de->d_type == DT_REG)
		return true;
	if (de->d_type != DT_UNKNOWN)
		return false;
	struct stat st;
	return fstatat(dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

static int open_subdir(int root_fd, const char *sub)
{
	return openat(root_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void mark_dirty(struct mailbox *mb, const char *file)
{
	if (file[0] == 'n')
		mb->dirty_new = true;
	else
		mb->dirty_cur = true;
}

/* ---- open, close ---- */

int mailbox_open(const char *path, struct mailbox **out, char *err, size_t err_size)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fail(err, err_size, "open", path);
		return -1;
	}
	struct mailbox *mb = xcalloc(1, sizeof(*mb));
	mb->fd = fd;
	*out = mb;
	return 0;
}

void mailbox_close(struct mailbox **pp)
{
	struct mailbox *mb = *pp;
	if (mb == NULL)
		return;
	if (mb->fd >= 0)
		(void)close(mb->fd);
	free(mb);
	*pp = NULL;
}

int mailbox_fd(const struct mailbox *mb)
{
	return mb->fd;
}

/* ---- scan ---- */

void mailbox_msg_fini(struct mailbox_msg *m)
{
	free(m->file);
	m->file = NULL;
}

static struct mailbox_msg *list_add(struct mailbox_list *l)
{
	if (l->n == l->cap) {
		size_t bytes;
		l->cap = l->cap ? l->cap * 2 : 64;
		KASSERT(!ckd_mul_size(&bytes, l->cap, sizeof(*l->msgs)));
		l->msgs = xrealloc(l->msgs, bytes);
	}
	struct mailbox_msg *m = &l->msgs[l->n++];
	memset(m, 0, sizeof(*m));
	return m;
}

void mailbox_list_fini(struct mailbox_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		mailbox_msg_fini(&l->msgs[i]);
	free(l->msgs);
	memset(l, 0, sizeof(*l));
}

/* Fills m from SUB/NAME's name, reading the file only for what the name
 * lacks. Returns 1 when filled, 0 when the file vanished (or is no
 * regular file), -1 with errno. */
static int read_msg(int dir_fd, const char *sub, const char *name, ino_t ino,
		    struct mailbox_msg *m)
{
	size_t blen = mailbox_base_len(name);
	bool has_w = has_field(name, blen, 'W', &m->crlf_size);
	bool has_s = has_field(name, blen, 'S', &m->size);
	bool timed = has_time(name, &m->secs, &m->usec);
	struct stat st;
	bool have_st = false;
	if (!has_w) {
		int fd = open_regular(dir_fd, name, &st);
		if (fd < 0)
			return errno == ENOENT || errno == ELOOP ? 0 : -1;
		int rc = mailbox_crlf_size(fd, &m->crlf_size);
		int saved = errno;
		(void)close(fd);
		if (rc != 0) {
			errno = saved;
			return -1;
		}
		have_st = true;
	}
	if ((!has_s || !timed) && !have_st) {
		if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			return errno == ENOENT ? 0 : -1;
	}
	if (!has_s)
		m->size = st.st_size < 0 ? 0 : (uint64_t)st.st_size;
	if (!timed) {
		m->secs = st.st_mtim.tv_sec < 0 ? 0 : (uint64_t)st.st_mtim.tv_sec;
		m->usec = (uint32_t)(st.st_mtim.tv_nsec / 1000);
	}
	m->file = make_file(sub, name);
	m->flags = mailbox_name_flags(name, &m->foreign_info);
	m->ino = ino;
	return 1;
}

/* Lists SUB ("cur" or "new"): regular files, no dotfiles. */
static int scan_dir(struct mailbox *mb, const char *sub, struct mailbox_list *out, char *err,
		    size_t err_size)
{
	int dir_fd = open_subdir(mb->fd, sub);
	DIR *d = dir_fd >= 0 ? fdopendir(dir_fd) : NULL;
	if (d == NULL) {
		fail(err, err_size, "opendir", sub);
		if (dir_fd >= 0)
			(void)close(dir_fd);
		return -1;
	}
	int rc = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !is_regular_entry(dir_fd, de)) {
			errno = 0;
			continue;
		}
		struct mailbox_msg m = {0};
		int r = read_msg(dir_fd, sub, de->d_name, de->d_ino, &m);
		if (r < 0) {
			(void)snprintf(err, err_size, "read %s/%s: %s", sub, de->d_name,
				       strerror(errno));
			rc = -1;
			break;
		}
		if (r > 0)
			*list_add(out) = m;
		errno = 0;
	}
	if (rc == 0 && errno != 0) {
		fail(err, err_size, "readdir", sub);
		rc = -1;
	}
	(void)closedir(d);
	return rc;
}

int mailbox_scan(struct mailbox *mb, struct mailbox_list *out, char *err, size_t err_size)
{
	/* cur/ first: a message another client moves out of new/ meanwhile is
	 * missed for this scan rather than listed twice. */
	if (scan_dir(mb, "cur", out, err, err_size) != 0)
		return -1;
	return scan_dir(mb, "new", out, err, err_size);
}

int mailbox_msg_cmp(const struct mailbox_msg *x, const struct mailbox_msg *y)
{
	if (x->secs != y->secs)
		return x->secs < y->secs ? -1 : 1;
	if (x->usec != y->usec)
		return x->usec < y->usec ? -1 : 1;
	int c = strcmp(x->file + 4, y->file + 4);
	return c != 0 ? c : strcmp(x->file, y->file);
}

static int cmp_msg(const void *a, const void *b)
{
	return mailbox_msg_cmp(a, b);
}

void mailbox_sort(struct mailbox_list *l)
{
	if (l->n > 1)
		qsort(l->msgs, l->n, sizeof(*l->msgs), cmp_msg);
}

/* ---- reading, relocating ---- */

int mailbox_open_msg(struct mailbox *mb, const struct mailbox_msg *m)
{
	struct stat st;
	return open_regular(mb->fd, m->file, &st);
}

int mailbox_relocate(struct mailbox *mb, struct mailbox_msg *m)
{
	const char *old = m->file + 4;
	bool in_cur = !mailbox_msg_in_new(m);
	size_t blen = mailbox_base_len(old);
	int cur_fd = open_subdir(mb->fd, "cur");
	DIR *d = cur_fd >= 0 ? fdopendir(cur_fd) : NULL;
	if (d == NULL) {
		if (cur_fd >= 0)
			(void)close(cur_fd);
		return -1;
	}
	int rc = -1;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		if (name[0] == '.' || (in_cur && strcmp(name, old) == 0) ||
		    strncmp(name, old, blen) != 0 || mailbox_base_len(name) != blen)
			continue;
		set_file(m, "cur", name);
		rc = 0;
		break;
	}
	(void)closedir(d);
	if (rc != 0)
		errno = ENOENT;
	return rc;
}

/* ---- changing ---- */

/* Renames without replacing anything at the target: renameat2
 * (RENAME_NOREPLACE), or link + unlink where the file system lacks it
 * (that refuses to replace too). */
static int rename_noreplace(struct mailbox *mb, const char *from, const char *to)
{
	if (!mb->no_renameat2) {
		if (renameat2(mb->fd, from, mb->fd, to, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno != EINVAL && errno != ENOSYS)
			return -1;
		mb->no_renameat2 = true;
	}
	if (linkat(mb->fd, from, mb->fd, to, 0) != 0)
		return -1;
	return unlinkat(mb->fd, from, 0);
}

/* Name with the letters of del taken out of its ":2," info. */
static void remove_letters(char *name, uint64_t del)
{
	char *info = strstr(name, INFO_PREFIX);
	if (info == NULL)
		return;
	char *w = info + 3;
	for (const char *r = w; *r != '\0'; r++)
		if (!is_letter(*r) || !(del & MAILBOX_FLAG(*r)))
			*w++ = *r;
	*w = '\0';
}

int mailbox_set_flags(struct mailbox *mb, struct mailbox_msg *m, uint64_t flags, char *err,
		      size_t err_size)
{
	const char *name = m->file + 4;
	char target[NAME_MAX + 1], tmp[NAME_MAX + 1];
	int n = snprintf(target, sizeof(target), "%s", name);
	KASSERT(n >= 0 && (size_t)n < sizeof(target));
	uint64_t add = flags & ~m->flags, del = m->flags & ~flags;
	if (m->foreign_info && (add | del) != 0) {
		errno = EINVAL;
		(void)snprintf(err, err_size, "flags of %s: info not \":2,\"", m->file);
		return -1;
	}
	for (int i = 0; i < 52; i++) {
		if (!(add & (UINT64_C(1) << i)))
			continue;
		char c = (char)(i < 26 ? 'A' + i : 'a' + (i - 26));
		if (maildir_name_add_flag(target, c, tmp, sizeof(tmp)) < 0) {
			errno = ENAMETOOLONG;
			(void)snprintf(err, err_size, "flags of %s: name too long", m->file);
			return -1;
		}
		memcpy(target, tmp, strlen(tmp) + 1);
	}
	remove_letters(target, del);
	bool in_new = mailbox_msg_in_new(m);
	if (!in_new && strcmp(target, name) == 0)
		return 0;
	/* new/ holds names without info; in cur/ every name has one. */
	if (in_new && strchr(target, ':') == NULL) {
		size_t len = strlen(target);
		if (len + 3 > NAME_MAX) {
			errno = ENAMETOOLONG;
			(void)snprintf(err, err_size, "flags of %s: name too long", m->file);
			return -1;
		}
		memcpy(target + len, INFO_PREFIX, 4);
	}
	char to[NAME_MAX + 8];
	(void)snprintf(to, sizeof(to), "cur/%s", target);
	if (rename_noreplace(mb, m->file, to) != 0) {
		fail(err, err_size, "rename", m->file);
		return -1;
	}
	mark_dirty(mb, m->file);
	mb->dirty_cur = true;
	set_file(m, "cur", target);
	return 1;
}

int mailbox_expunge(struct mailbox *mb, const struct mailbox_msg *m, char *err,
		    size_t err_size)
{
	if (unlinkat(mb->fd, m->file, 0) != 0) {
		fail(err, err_size, "unlink", m->file);
		return -1;
	}
	mark_dirty(mb, m->file);
	return 0;
}

static int fsync_sub(struct mailbox *mb, const char *sub, char *err, size_t err_size)
{
	int fd = open_subdir(mb->fd, sub);
	if (fd < 0 || fsync(fd) != 0) {
		fail(err, err_size, "fsync", sub);
		if (fd >= 0)
			(void)close(fd);
		return -1;
	}
	(void)close(fd);
	return 0;
}

int mailbox_flush(struct mailbox *mb, char *err, size_t err_size)
{
	int rc = 0;
	if (mb->dirty_cur) {
		mb->dirty_cur = false;
		if (fsync_sub(mb, "cur", err, err_size) != 0)
			rc = -1;
	}
	if (mb->dirty_new) {
		char scratch[128]; /* the first error is the one reported */
		mb->dirty_new = false;
		if (fsync_sub(mb, "new", rc == 0 ? err : scratch,
			      rc == 0 ? err_size : sizeof(scratch)) != 0)
			rc = -1;
	}
	return rc;
}

/* ---- append, copy ---- */

/* Writes len bytes, retrying short writes. */
static int write_all(int fd, const char *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t w = write(fd, buf + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		done += (size_t)w;
	}
	return 0;
}

/* Copies src_fd from offset 0 into a fresh tmp/ file, counting both
 * sizes, and fsyncs it. On success tmp_out names it ("tmp/NAME"). */
static int write_tmp(struct mailbox *mb, int src_fd, time_t mtime, const char *hostname,
		     char *tmp_out, size_t tmp_size, uint64_t *size_out, uint64_t *crlf_out)
{
	char name[NAME_MAX + 1];
	maildir_unique_name(name, sizeof(name), hostname, 0, 0);
	int n = snprintf(tmp_out, tmp_size, "tmp/%s", name);
	if (n < 0 || (size_t)n >= tmp_size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int out = openat(mb->fd, tmp_out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			 0600);
	if (out < 0)
		return -1;
	struct crlf_count c = {.last = '\n'};
	char buf[65536];
	off_t off = 0;
	for (;;) {
		ssize_t r = pread(src_fd, buf, sizeof(buf), off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (r > 0 && write_all(out, buf, (size_t)r) != 0))
			goto fail;
		if (r == 0)
			break;
		off += r;
		crlf_feed(&c, buf, (size_t)r);
	}
	if (mtime != 0) {
		struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = mtime}};
		if (futimens(out, ts) != 0)
			goto fail;
	}
	if (fsync(out) != 0)
		goto fail;
	if (close(out) != 0) {
		out = -1;
		goto fail;
	}
	*size_out = (uint64_t)off;
	*crlf_out = crlf_end(&c);
	return 0;
fail:;
	int saved = errno;
	if (out >= 0)
		(void)close(out);
	(void)unlinkat(mb->fd, tmp_out, 0);
	errno = saved;
	return -1;
}

/* The final "new/NAME" or "cur/NAME:2,FLAGS" of a fresh message. */
static int final_file(uint64_t flags, const char *hostname, uint64_t size, uint64_t crlf,
		      char *out, size_t out_size)
{
	char name[NAME_MAX + 1], letters[53];
	maildir_unique_name(name, sizeof(name), hostname, size, crlf);
	flag_letters(flags, letters);
	int n = flags == 0 ? snprintf(out, out_size, "new/%s", name)
			   : snprintf(out, out_size, "cur/%s" INFO_PREFIX "%s", name, letters);
	if (n < 0 || (size_t)n >= out_size || n - 4 > NAME_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Fills *out for the new file and fsyncs its directory. */
static int finish_new(struct mailbox *mb, const char *file, uint64_t size, uint64_t crlf,
		      char *err, size_t err_size, struct mailbox_msg *out)
{
	struct stat st;
	if (fstatat(mb->fd, file, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    fsync_sub(mb, file[0] == 'n' ? "new" : "cur", err, err_size) != 0) {
		fail(err, err_size, "sync", file);
		return -1;
	}
	memset(out, 0, sizeof(*out));
	out->file = xstrdup(file);
	out->flags = mailbox_name_flags(file + 4, &out->foreign_info);
	if (!has_time(file + 4, &out->secs, &out->usec)) {
		out->secs = (uint64_t)st.st_mtim.tv_sec;
		out->usec = (uint32_t)(st.st_mtim.tv_nsec / 1000);
	}
	out->size = size;
	out->crlf_size = crlf;
	out->ino = st.st_ino;
	return 0;
}

int mailbox_append(struct mailbox *mb, int src_fd, uint64_t flags, time_t mtime,
		   const char *hostname, struct mailbox_msg *out, char *err, size_t err_size)
{
	char tmp[NAME_MAX + 8], file[NAME_MAX + 8];
	uint64_t size, crlf;
	if (write_tmp(mb, src_fd, mtime, hostname, tmp, sizeof(tmp), &size, &crlf) != 0) {
		fail(err, err_size, "write", "tmp/");
		return -1;
	}
	if (final_file(flags, hostname, size, crlf, file, sizeof(file)) != 0 ||
	    rename_noreplace(mb, tmp, file) != 0) {
		fail(err, err_size, "rename", tmp);
		int saved = errno;
		(void)unlinkat(mb->fd, tmp, 0);
		errno = saved;
		return -1;
	}
	if (finish_new(mb, file, size, crlf, err, err_size, out) != 0) {
		int saved = errno;
		(void)unlinkat(mb->fd, file, 0);
		errno = saved;
		return -1;
	}
	return 0;
}

int mailbox_copy(struct mailbox *from, const struct mailbox_msg *m, struct mailbox *to,
		 const char *hostname, struct mailbox_msg *out, char *err, size_t err_size)
{
	char file[NAME_MAX + 8];
	if (final_file(m->flags, hostname, m->size, m->crlf_size, file, sizeof(file)) != 0) {
		fail(err, err_size, "copy", m->file);
		return -1;
	}
	/* The source is durable since its delivery: a link needs only the
	 * target directory's fsync. */
	if (linkat(from->fd, m->file, to->fd, file, 0) != 0) {
		if (errno == ENOENT || errno == EEXIST) {
			fail(err, err_size, "link", m->file);
			return -1;
		}
		/* EXDEV (another file system), EMLINK, EPERM: write a copy. */
		struct stat st;
		int src = open_regular(from->fd, m->file, &st);
		if (src < 0) {
			fail(err, err_size, "open", m->file);
			return -1;
		}
		/* The copy keeps m's sizes (its name has them): same content. */
		char tmp[NAME_MAX + 8];
		uint64_t ignored_size, ignored_crlf;
		int rc = write_tmp(to, src, st.st_mtim.tv_sec, hostname, tmp, sizeof(tmp),
				   &ignored_size, &ignored_crlf);
		int saved = errno;
		(void)close(src);
		if (rc != 0) {
			errno = saved;
			fail(err, err_size, "copy", m->file);
			return -1;
		}
		if (rename_noreplace(to, tmp, file) != 0) {
			fail(err, err_size, "rename", tmp);
			saved = errno;
			(void)unlinkat(to->fd, tmp, 0);
			errno = saved;
			return -1;
		}
	}
	if (finish_new(to, file, m->size, m->crlf_size, err, err_size, out) != 0) {
		int saved = errno;
		(void)unlinkat(to->fd, file, 0);
		errno = saved;
		return -1;
	}
	return 0;
}
