/* textfile: line-by-line reading of the administrator's data files
 * (users, aliases): LF or CRLF line ends, a hard line limit, NUL bytes
 * refused, line numbers for "path:line: message" errors. */
#ifndef KONVERT_CORE_TEXTFILE_H
#define KONVERT_CORE_TEXTFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct textfile {
	FILE *f; /* owned */
	const char *path; /* borrowed, for messages */
	char *line; /* owned, getline buffer */
	size_t cap;
	unsigned long lineno; /* of the line last returned */
};

/* Opens path. Returns 1 when open, 0 when the file does not exist (an
 * empty file for callers), -1 with "path: reason" in err, also when path
 * is a symbolic link, not a regular file, has several hard links, or is
 * writable by group or others (see core/safefile.h). */
int textfile_open(struct textfile *tf, const char *path, char *err, size_t err_size);

/* Next line without its line end, NUL-terminated in *line_out (valid until
 * the next call). Returns 1 for a line, 0 at the end, -1 with
 * "path:line: message" in err (read error, line over FILE_LINE_MAX, NUL). */
int textfile_next(struct textfile *tf, char **line_out, size_t *len_out, char *err,
		  size_t err_size);

void textfile_close(struct textfile *tf);

#endif
