/* linereader: the one line reader for every protocol (STYLE.md 4).
 *
 * Takes lines from a libevent input buffer with a hard length limit. A line
 * ends at LF; a CR right before the LF is removed too. The returned line is
 * copied into the reader's own buffer and stays valid until the next
 * call. An over-long line is reported once as LINEREADER_TOO_LONG and then
 * discarded up to and including its LF, so the stream stays in sync
 * (Postfix smtp_stream skip flag). The buffer is allocated at the first
 * line, small, and grows (up to max + 2) only when a longer line arrives,
 * so an idle session costs little even when max is large. */
#ifndef KONVERT_NET_LINEREADER_H
#define KONVERT_NET_LINEREADER_H

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;

enum linereader_status {
	LINEREADER_LINE = 1, /* line_out and len_out are set */
	LINEREADER_NEED_MORE = 0,
	LINEREADER_TOO_LONG = -1, /* line longer than max; being discarded */
};

struct linereader {
	char *buf; /* owned, cap bytes; NULL until the first line */
	size_t cap; /* allocated size of buf */
	size_t max; /* longest line accepted, line end excluded */
	bool skipping; /* discarding the tail of an over-long line */
};

void linereader_init(struct linereader *lr, size_t max);
void linereader_fini(struct linereader *lr);

/* Changes the limit for the following lines (e.g. longer SASL lines while
 * AUTH runs). */
void linereader_set_max(struct linereader *lr, size_t max);

/* The line is NUL-terminated for convenience but may contain NUL bytes:
 * always use *len_out. */
enum linereader_status linereader_next(struct linereader *lr, struct evbuffer *in,
				       const char **line_out, size_t *len_out);

#endif
