/* safefile: opening the files that the administrator or root trusts
 * (configuration, users, aliases, private keys, the data_dir tree) without
 * being tricked by whoever else can write near them.
 *
 * data_dir belongs to the unprivileged run_as user, so anything inside it
 * may have been planted: a symbolic link to /etc/shadow, a hard link, a
 * FIFO. safefile_open() with SAFEFILE_NOFOLLOW refuses a link at the last
 * component and anything that is not what the caller expects, so root
 * never reads through, or chowns, a planted name (see cli_serve).
 * safefile_check_mode() refuses files that others could change (or, for
 * secrets, read), naming the chmod that fixes them. No logging here: the
 * messages go to err as "PATH: reason". */
#ifndef KONVERT_CORE_SAFEFILE_H
#define KONVERT_CORE_SAFEFILE_H

#include <stddef.h>
#include <sys/stat.h>

enum safefile_flags {
	/* A symbolic link at the last component is refused (ELOOP). */
	SAFEFILE_NOFOLLOW = 1u << 0,
	/* Must be a directory (otherwise a regular file). */
	SAFEFILE_DIR = 1u << 1,
	/* A regular file must have exactly one link (a hard link planted by
	 * another user is refused). */
	SAFEFILE_ONE_LINK = 1u << 2,
};

enum safefile_policy {
	/* Nobody but the owner may write it (users, aliases, config). */
	SAFEFILE_NO_FOREIGN_WRITE = 1u << 0,
	/* Others (not owner, not group) may not read it (private keys). */
	SAFEFILE_NO_OTHER_READ = 1u << 1,
};

/* Opens name (relative to dirfd, or AT_FDCWD) read-only, close-on-exec,
 * without blocking on a FIFO. shown is the path used in messages. On
 * success returns the descriptor and fills *st_out (may be NULL). Returns
 * -1 with errno set and "shown: reason" in err: errno ENOENT when it does
 * not exist, ELOOP for a refused link, EINVAL for the wrong kind of file or
 * too many links. */
int safefile_open(int dirfd, const char *name, const char *shown, unsigned flags,
		  struct stat *st_out, char *err, size_t err_size);

/* Applies policy (enum safefile_policy bits) to st. Returns 0, or -1 with
 * "shown: ... fix with: chmod ..." in err. */
int safefile_check_mode(const struct stat *st, const char *shown, unsigned policy, char *err,
			size_t err_size);

/* Writes all len bytes to fd (retrying short writes and EINTR). 0, or -1
 * with errno set. */
int safefile_write_all(int fd, const void *data, size_t len);

#endif
