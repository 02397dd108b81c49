/* strbuf: a growable byte string with a ceiling, for building headers,
 * reports and files piece by piece. Growth is checked (ckd_*) and stops at
 * the max given to strbuf_init: an add that would pass it is dropped, sets
 * over, and every later add is dropped too, so a writer can add freely and
 * look once at the end. Allocation failure aborts (core/alloc).
 *
 *	struct strbuf b;
 *	strbuf_init(&b, STRBUF_UNBOUNDED);
 *	strbuf_add_str(&b, "To: ");
 *	strbuf_printf(&b, "%s\r\n", rcpt);
 *	char *text = strbuf_take(&b, &len);	// owned by the caller now
 */
#ifndef KONVERT_CORE_STRBUF_H
#define KONVERT_CORE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* For text whose size is bounded by its inputs rather than by a limit of
 * its own: only arithmetic overflow could pass it. */
#define STRBUF_UNBOUNDED (SIZE_MAX - 1)

struct strbuf {
	char *p;    /* owned; NULL until the first add, then NUL-terminated */
	size_t len; /* bytes held, the NUL not counted; never above max */
	size_t cap; /* bytes allocated at p */
	size_t max; /* ceiling for len */
	bool over;  /* an add did not fit under max; the content stops before it */
};

/* An empty buffer whose content may grow to max bytes (the NUL comes on
 * top). A max of SIZE_MAX counts as STRBUF_UNBOUNDED. Allocates nothing.
 * Required: a zero-filled struct strbuf has max 0 and refuses every byte. */
void strbuf_init(struct strbuf *b, size_t max);

/* Frees the content and leaves b as strbuf_init left it (same max, over
 * cleared). */
void strbuf_fini(struct strbuf *b);

/* Appends n bytes of s (they may include NULs). s may be NULL when n is 0.
 * Does nothing once over is set. */
void strbuf_add(struct strbuf *b, const void *s, size_t n);

/* Appends the NUL-terminated s. */
void strbuf_add_str(struct strbuf *b, const char *s);

/* Appends the formatted text. A formatting error (vsnprintf < 0) is a bug
 * in the caller and aborts. */
__attribute__((format(printf, 2, 3))) void strbuf_printf(struct strbuf *b, const char *fmt, ...);

/* Hands the content to the caller: returns a NUL-terminated heap string
 * (the caller frees it; "" when nothing was added) and sets *len_out (may
 * be NULL) to its length. b is left empty as after strbuf_init. Must not be
 * called with over set: a bounded writer checks over and calls
 * strbuf_fini instead. */
char *strbuf_take(struct strbuf *b, size_t *len_out);

#endif
