/* maildir: creation of Maildirs and atomic, durable delivery into them.
 * Owns the on-disk naming of message files, their info flags included. It
 * does not know about sessions, recipients or aliases; it is given paths.
 * All functions but the pure name helpers block (fsync) and belong on
 * worker threads. */
#include "store/maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/utf8.h"

static atomic_uint maildir_seq;

/* One path component that stays in its directory and lists cleanly: not
 * empty, no leading '.' ("..", hidden Maildir++ folders), no '/', no
 * control byte. Bytes >= 0x80 must be well-formed UTF-8 (an RFC 6531
 * local part is stored as its UTF-8 bytes) and no character that
 * utf8_is_hidden() refuses (C1 controls, bidi overrides: a listing of
 * mail/DOMAIN/ must show what is there). */
static bool is_safe_component(const char *s, size_t len)
{
	if (len == 0 || s[0] == '.')
		return false;
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x80) {
			if (c == '/' || c < 0x20 || c == 0x7f)
				return false;
			i++;
			continue;
		}
		uint32_t cp;
		size_t n = utf8_decode(s + i, len - i, &cp);
		if (n == 0 || utf8_is_hidden(cp))
			return false;
		i += n;
	}
	return true;
}

int maildir_path(const char *data_dir, const char *address, char *out, size_t out_size)
{
	const char *at = strrchr(address, '@');
	if (at == NULL)
		return -1;
	size_t llen = (size_t)(at - address);
	const char *domain = at + 1;
	if (!is_safe_component(address, llen) || !is_safe_component(domain, strlen(domain)))
		return -1;
	int n = snprintf(out, out_size, "%s/mail/%s/%.*s", data_dir, domain, (int)llen, address);
	if (n < 0 || (size_t)n >= out_size)
		return -1;
	return 0;
}

int maildir_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int saved = errno;
	(void)close(fd);
	errno = saved;
	return rc;
}

/* ---- info flags ---- */

#define INFO_PREFIX ":2,"

/* The flags of name (after ":2,"), or NULL when its info is missing or of
 * another kind. */
static const char *info_flags(const char *name)
{
	const char *colon = strchr(name, ':');
	if (colon == NULL || strncmp(colon, INFO_PREFIX, 3) != 0)
		return NULL;
	return colon + 3;
}

bool maildir_name_has_flag(const char *name, char flag)
{
	const char *flags = info_flags(name);
	return flags != NULL && strchr(flags, flag) != NULL;
}

int maildir_name_add_flag(const char *name, char flag, char *out, size_t out_size)
{
	if (out_size > 0)
		out[0] = '\0';
	size_t len = strlen(name);
	const char *flags = info_flags(name);
	size_t at; /* where flag goes */
	const char *prefix = "";
	if (flags != NULL) {
		if (strchr(flags, flag) != NULL) {
			if (len >= out_size)
				return -1;
			memcpy(out, name, len + 1);
			return 0;
		}
		at = (size_t)(flags - name);
		while (name[at] != '\0' && (unsigned char)name[at] < (unsigned char)flag)
			at++;
	} else if (strchr(name, ':') == NULL) {
		at = len;
		prefix = INFO_PREFIX;
	} else {
		return -1; /* ":1," or something else: not ours to rewrite */
	}
	size_t plen = strlen(prefix);
	size_t total = len + plen + 1;
	if (total > NAME_MAX || total >= out_size)
		return -1;
	memcpy(out, name, at);
	memcpy(out + at, prefix, plen);
	out[at + plen] = flag;
	memcpy(out + at + plen + 1, name + at, len - at + 1);
	return 1;
}

/* mkdir that fsyncs the parent, also when the entry already existed:
 * another worker may have just made it without having synced it yet, and
 * our 250 must not depend on its timing. */
static int mkdir_durable(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0 || errno == EEXIST) {
		char parent[4096];
		int n = snprintf(parent, sizeof(parent), "%s", path);
		if (n < 0 || (size_t)n >= sizeof(parent))
			return -1;
		char *slash = strrchr(parent, '/');
		if (slash != NULL && slash != parent) {
			*slash = '\0';
			if (maildir_fsync_dir(parent) != 0)
				return -1;
		}
		return 0;
	}
	return -1;
}

static int mkdir_parents(const char *path)
{
	char tmp[4096];
	int n = snprintf(tmp, sizeof(tmp), "%s", path);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir_durable(tmp, 0750) != 0)
			return -1;
		*p = '/';
	}
	return mkdir_durable(tmp, 0700);
}

int maildir_ensure(const char *path, char *err, size_t err_size)
{
	static const char *const subs[] = {"tmp", "new", "cur"};
	char sub[4096];
	struct stat st;
	bool complete = true;
	for (size_t i = 0; i < 3 && complete; i++) {
		(void)snprintf(sub, sizeof(sub), "%s/%s", path, subs[i]);
		complete = stat(sub, &st) == 0 && S_ISDIR(st.st_mode);
	}
	if (complete)
		return 0;
	if (mkdir_parents(path) != 0) {
		(void)snprintf(err, err_size, "mkdir %s: %s", path, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < 3; i++) {
		int n = snprintf(sub, sizeof(sub), "%s/%s", path, subs[i]);
		if (n < 0 || (size_t)n >= sizeof(sub) || mkdir_durable(sub, 0700) != 0) {
			(void)snprintf(err, err_size, "mkdir %s: %s", sub, strerror(errno));
			return -1;
		}
	}
	return 0;
}

int maildir_folder_path(const char *maildir, const char *name, char *out, size_t out_size,
			char *err, size_t err_size)
{
	size_t nl = strlen(name);
	if (nl == 0 || nl > 200) {
		(void)snprintf(err, err_size, "bad folder name");
		return -1;
	}
	for (size_t i = 0; i < nl;) {
		const char *slash = memchr(name + i, '/', nl - i);
		size_t len = slash != NULL ? (size_t)(slash - (name + i)) : nl - i;
		/* A '.' would alias another level ("a.b" is "a/b" on disk). */
		if (memchr(name + i, '.', len) != NULL || !is_safe_component(name + i, len) ||
		    (slash != NULL && slash[1] == '\0')) {
			(void)snprintf(err, err_size, "bad folder name");
			return -1;
		}
		i += len + 1;
	}
	int n = snprintf(out, out_size, "%s/.%s", maildir, name);
	if (n < 0 || (size_t)n >= out_size || nl + 1 > NAME_MAX) {
		(void)snprintf(err, err_size, "folder path too long");
		return -1;
	}
	for (char *p = out + n - nl; *p != '\0'; p++)
		if (*p == '/')
			*p = '.';
	return 0;
}

int maildir_ensure_folder(const char *maildir, const char *name, char *out, size_t out_size,
			  char *err, size_t err_size)
{
	if (maildir_folder_path(maildir, name, out, out_size, err, err_size) != 0)
		return -1;
	if (maildir_ensure(out, err, err_size) != 0)
		return -1;
	char marker[4096];
	int n = snprintf(marker, sizeof(marker), "%s/maildirfolder", out);
	if (n < 0 || (size_t)n >= sizeof(marker)) {
		(void)snprintf(err, err_size, "folder path too long");
		return -1;
	}
	if (access(marker, F_OK) == 0)
		return 0;
	int fd = open(marker, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		(void)snprintf(err, err_size, "create %s: %s", marker, strerror(errno));
		return -1;
	}
	(void)close(fd);
	if (maildir_fsync_dir(out) != 0) {
		(void)snprintf(err, err_size, "fsync %s: %s", out, strerror(errno));
		return -1;
	}
	return 0;
}

void maildir_unique_name(char *out, size_t out_size, const char *hostname, uint64_t size,
			 uint64_t vsize)
{
	struct timeval tv;
	(void)gettimeofday(&tv, NULL);
	/* The Maildir spec asks to encode '/' and ':' in the host part. */
	char host[128];
	size_t o = 0;
	for (const char *h = hostname; *h && o + 5 < sizeof(host); h++) {
		if (*h == '/' || *h == ':' || *h == ',') {
			o += (size_t)snprintf(host + o, sizeof(host) - o, "\\%03o",
					      (unsigned)(unsigned char)*h);
		} else {
			host[o++] = *h;
		}
	}
	host[o] = '\0';
	unsigned q = atomic_fetch_add(&maildir_seq, 1);
	(void)snprintf(out, out_size, "%lld.M%06ldP%dQ%u.%s,S=%llu,W=%llu", (long long)tv.tv_sec,
		       (long)tv.tv_usec, (int)getpid(), q, host, (unsigned long long)size,
		       (unsigned long long)vsize);
}

/* Writes DIR/tmp/NAME as head followed by src_fd from skip on, fsyncs it
 * and renames it into new/. */
static int deliver_copy(int src_fd, uint64_t skip, const char *head, size_t head_len,
			const char *dir, const char *name, char *err, size_t err_size)
{
	char tmp[4096], dst[4096];
	(void)snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, name);
	(void)snprintf(dst, sizeof(dst), "%s/new/%s", dir, name);
	int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		(void)snprintf(err, err_size, "open %s: %s", tmp, strerror(errno));
		return -1;
	}
	char buf[65536];
	off_t off = (off_t)skip;
	for (size_t done = 0; done < head_len;) {
		ssize_t w = write(out, head + done, head_len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail;
		done += (size_t)w;
	}
	for (;;) {
		ssize_t r = pread(src_fd, buf, sizeof(buf), off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		off += r;
		for (ssize_t done = 0; done < r;) {
			ssize_t w = write(out, buf + done, (size_t)(r - done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				goto fail;
			done += w;
		}
	}
	if (fsync(out) != 0 || close(out) != 0) {
		out = -1;
		goto fail;
	}
	out = -1;
	if (rename(tmp, dst) != 0)
		goto fail;
	return 0;
fail:
	(void)snprintf(err, err_size, "copy to %s: %s", tmp, strerror(errno));
	if (out >= 0)
		(void)close(out);
	(void)unlink(tmp);
	return -1;
}

int maildir_deliver_copies(int src_fd, const char *src_path, uint64_t skip,
			   const struct maildir_copy *copies, size_t n, char *err, size_t err_size)
{
	if (fsync(src_fd) != 0) {
		(void)snprintf(err, err_size, "fsync %s: %s", src_path, strerror(errno));
		return -1;
	}
	size_t done = 0;
	char path[4096];
	for (; done < n; done++) {
		const struct maildir_copy *c = &copies[done];
		int len = snprintf(path, sizeof(path), "%s/new/%s", c->dir, c->name);
		if (len < 0 || (size_t)len >= sizeof(path)) {
			(void)snprintf(err, err_size, "path too long");
			goto rollback;
		}
		if (c->head != NULL) {
			if (deliver_copy(src_fd, skip, c->head, c->head_len, c->dir, c->name, err,
					 err_size) != 0)
				goto rollback;
			continue;
		}
		if (link(src_path, path) != 0) {
			if (errno == EEXIST) {
				(void)snprintf(err, err_size, "link %s: exists", path);
				goto rollback;
			}
			if (deliver_copy(src_fd, 0, NULL, 0, c->dir, c->name, err, err_size) != 0)
				goto rollback;
		}
	}
	for (size_t i = 0; i < n; i++) {
		int len = snprintf(path, sizeof(path), "%s/new", copies[i].dir);
		if (len < 0 || (size_t)len >= sizeof(path) || maildir_fsync_dir(path) != 0) {
			(void)snprintf(err, err_size, "fsync %s: %s", path, strerror(errno));
			done = n;
			goto rollback;
		}
	}
	return 0;
rollback:
	for (size_t i = 0; i < done; i++) {
		int len = snprintf(path, sizeof(path), "%s/new/%s", copies[i].dir, copies[i].name);
		if (len > 0 && (size_t)len < sizeof(path))
			(void)unlink(path);
	}
	return -1;
}

int maildir_deliver(int src_fd, const char *src_path, const char *const *maildirs, size_t n,
		    const char *name, char *err, size_t err_size)
{
	struct maildir_copy *c = xcalloc(n ? n : 1, sizeof(*c));
	for (size_t i = 0; i < n; i++) {
		c[i].dir = maildirs[i];
		c[i].name = name;
	}
	int rc = maildir_deliver_copies(src_fd, src_path, 0, c, n, err, err_size);
	free(c);
	return rc;
}
