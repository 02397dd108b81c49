/* safefile: careful opens and mode checks for trusted files. It owns no
 * state; callers own the descriptors it returns. It must never follow a
 * link where the caller asked it not to, and never block on a FIFO. */
#include "core/safefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int safefile_open(int dirfd, const char *name, const char *shown, unsigned flags,
		  struct stat *st_out, char *err, size_t err_size)
{
	int oflags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	if (flags & SAFEFILE_NOFOLLOW)
		oflags |= O_NOFOLLOW;
	if (flags & SAFEFILE_DIR)
		oflags |= O_DIRECTORY;
	int fd = openat(dirfd, name, oflags);
	if (fd < 0) {
		int e = errno;
		struct stat lst;
		/* O_NOFOLLOW | O_DIRECTORY on a link says ENOTDIR: ask lstat. */
		if ((flags & SAFEFILE_NOFOLLOW) && (e == ELOOP || e == ENOTDIR) &&
		    fstatat(dirfd, name, &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(lst.st_mode))
			e = ELOOP;
		if (e == ELOOP && (flags & SAFEFILE_NOFOLLOW))
			(void)snprintf(err, err_size,
				       "%s: is a symbolic link; konvert does not follow links here "
				       "(replace it with a plain %s)",
				       shown, (flags & SAFEFILE_DIR) ? "directory" : "file");
		else if (e == ENOTDIR && (flags & SAFEFILE_DIR))
			(void)snprintf(err, err_size, "%s: not a directory", shown);
		else
			(void)snprintf(err, err_size, "%s: %s", shown, strerror(e));
		errno = e;
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		(void)snprintf(err, err_size, "%s: %s", shown, strerror(e));
		(void)close(fd);
		errno = e;
		return -1;
	}
	const char *bad = NULL;
	if (flags & SAFEFILE_DIR) {
		if (!S_ISDIR(st.st_mode))
			bad = "not a directory";
	} else if (!S_ISREG(st.st_mode)) {
		bad = "not a regular file";
	} else if ((flags & SAFEFILE_ONE_LINK) && st.st_nlink != 1) {
		bad = "has more than one hard link; refusing a file that may have been linked "
		      "in from elsewhere";
	}
	if (bad != NULL) {
		(void)snprintf(err, err_size, "%s: %s", shown, bad);
		(void)close(fd);
		errno = EINVAL;
		return -1;
	}
	/* Back to blocking reads for the caller (O_NONBLOCK only guarded the
	 * open against a FIFO). */
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		(void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	if (st_out != NULL)
		*st_out = st;
	return fd;
}

int safefile_check_mode(const struct stat *st, const char *shown, unsigned policy, char *err,
			size_t err_size)
{
	if ((policy & SAFEFILE_NO_FOREIGN_WRITE) && (st->st_mode & (S_IWGRP | S_IWOTH))) {
		(void)snprintf(err, err_size,
			       "%s: writable by %s, so they could change it; fix with: chmod go-w %s",
			       shown, (st->st_mode & S_IWOTH) ? "everyone" : "its group", shown);
		return -1;
	}
	if ((policy & SAFEFILE_NO_OTHER_READ) && (st->st_mode & S_IROTH)) {
		(void)snprintf(err, err_size,
			       "%s: private key readable by everyone; fix with: chmod o-rwx %s",
			       shown, shown);
		return -1;
	}
	return 0;
}

int safefile_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) { /* no progress: never spin */
			errno = EIO;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}
