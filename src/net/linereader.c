/* linereader: bounded line extraction from an evbuffer. Never allocates per
 * line and never lets a client grow memory past max: bytes of an over-long
 * line are drained as they arrive. Knows no protocol. */
#include "net/linereader.h"

#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <stdlib.h>

#include "core/alloc.h"

/* First allocation; most command lines fit. */
#define LINEREADER_INITIAL 256

void linereader_init(struct linereader *lr, size_t max)
{
	/* No buffer before the first line: a session that never sends one
	 * (a stalled TLS handshake) costs none. */
	lr->buf = NULL;
	lr->cap = 0;
	lr->max = max;
	lr->skipping = false;
}

void linereader_fini(struct linereader *lr)
{
	/* Lines may have held credentials (AUTH, PASS). */
	if (lr->buf != NULL)
		OPENSSL_cleanse(lr->buf, lr->cap);
	free(lr->buf);
	lr->buf = NULL;
	lr->cap = 0;
}

void linereader_set_max(struct linereader *lr, size_t max)
{
	lr->max = max;
}

enum linereader_status linereader_next(struct linereader *lr, struct evbuffer *in,
				       const char **line_out, size_t *len_out)
{
	for (;;) {
		struct evbuffer_ptr p = evbuffer_search(in, "\n", 1, NULL);
		if (lr->skipping) {
			if (p.pos < 0) {
				(void)evbuffer_drain(in, evbuffer_get_length(in));
				return LINEREADER_NEED_MORE;
			}
			(void)evbuffer_drain(in, (size_t)p.pos + 1);
			lr->skipping = false;
			continue;
		}
		if (p.pos < 0) {
			/* "max + 1" leaves room for a CR that may precede the LF. */
			if (evbuffer_get_length(in) > lr->max + 1) {
				(void)evbuffer_drain(in, evbuffer_get_length(in));
				lr->skipping = true;
				return LINEREADER_TOO_LONG;
			}
			return LINEREADER_NEED_MORE;
		}
		size_t n = (size_t)p.pos; /* bytes before LF */
		if (n > lr->max + 1) {
			(void)evbuffer_drain(in, n + 1);
			return LINEREADER_TOO_LONG;
		}
		if (n + 1 > lr->cap) {
			size_t cap = lr->cap * 2;
			if (cap < LINEREADER_INITIAL)
				cap = LINEREADER_INITIAL;
			if (cap < n + 1)
				cap = n + 1;
			if (cap > lr->max + 2)
				cap = lr->max + 2;
			/* Grow without leaving an old copy behind. */
			char *nbuf = xmalloc(cap);
			if (lr->buf != NULL)
				OPENSSL_cleanse(lr->buf, lr->cap);
			free(lr->buf);
			lr->buf = nbuf;
			lr->cap = cap;
		}
		(void)evbuffer_remove(in, lr->buf, n);
		(void)evbuffer_drain(in, 1);
		if (n > 0 && lr->buf[n - 1] == '\r')
			n--;
		if (n > lr->max)
			return LINEREADER_TOO_LONG;
		lr->buf[n] = '\0';
		*line_out = lr->buf;
		*len_out = n;
		return LINEREADER_LINE;
	}
}
