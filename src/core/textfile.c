/* textfile: the one reader of line-oriented data files. It owns the FILE
 * and the line buffer; what a line means is the caller's business. */
#include "core/textfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "core/safefile.h"

int textfile_open(struct textfile *tf, const char *path, char *err, size_t err_size)
{
	memset(tf, 0, sizeof(*tf));
	tf->path = path;
	/* These files decide who may log in and where mail goes, and root
	 * reads them too (konvert user, check-config): never through a link
	 * planted in data_dir, never when others could have written them. */
	struct stat st;
	int fd = safefile_open(AT_FDCWD, path, path, SAFEFILE_NOFOLLOW | SAFEFILE_ONE_LINK, &st,
			       err, err_size);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (safefile_check_mode(&st, path, SAFEFILE_NO_FOREIGN_WRITE, err, err_size) != 0) {
		(void)close(fd);
		return -1;
	}
	tf->f = fdopen(fd, "r");
	if (tf->f == NULL) {
		(void)snprintf(err, err_size, "%s: %s", path, strerror(errno));
		(void)close(fd);
		return -1;
	}
	return 1;
}

int textfile_next(struct textfile *tf, char **line_out, size_t *len_out, char *err,
		  size_t err_size)
{
	errno = 0;
	ssize_t got = getline(&tf->line, &tf->cap, tf->f);
	if (got < 0) {
		if (ferror(tf->f)) {
			(void)snprintf(err, err_size, "%s: %s", tf->path,
				       strerror(errno ? errno : EIO));
			return -1;
		}
		return 0;
	}
	tf->lineno++;
	size_t len = (size_t)got;
	if (len > 0 && tf->line[len - 1] == '\n')
		tf->line[--len] = '\0';
	if (len > 0 && tf->line[len - 1] == '\r')
		tf->line[--len] = '\0';
	if (len > FILE_LINE_MAX) {
		(void)snprintf(err, err_size, "%s:%lu: line too long", tf->path, tf->lineno);
		return -1;
	}
	if (strlen(tf->line) != len) {
		(void)snprintf(err, err_size, "%s:%lu: NUL byte in line", tf->path, tf->lineno);
		return -1;
	}
	*line_out = tf->line;
	*len_out = len;
	return 1;
}

void textfile_close(struct textfile *tf)
{
	if (tf->f != NULL)
		(void)fclose(tf->f);
	free(tf->line);
	memset(tf, 0, sizeof(*tf));
}
