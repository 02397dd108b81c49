/* strbuf: growable strings with a ceiling. It owns the bytes until
 * strbuf_take hands them over; every size sum is checked, capacity doubles
 * from a small start but never past what max can use, and an add that
 * would pass max is refused whole (never cut), so the content is always a
 * prefix the writer meant. It knows nothing of what the text is. */
#include "core/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/kassert.h"

#define STRBUF_FIRST_CAP 256

void strbuf_init(struct strbuf *b, size_t max)
{
	/* max + 1 (the NUL) must stay representable. */
	*b = (struct strbuf){.max = max < SIZE_MAX ? max : STRBUF_UNBOUNDED};
}

void strbuf_fini(struct strbuf *b)
{
	free(b->p);
	strbuf_init(b, b->max);
}

/* Makes room for n more bytes and the NUL. Returns false, with over set,
 * when over already was or len + n would pass max. */
static bool reserve(struct strbuf *b, size_t n)
{
	size_t need;

	if (b->over)
		return false;
	if (ckd_add_size(&need, b->len, n) || need > b->max) {
		b->over = true;
		return false;
	}
	need++; /* the NUL: need <= max < SIZE_MAX before this */
	if (need > b->cap) {
		size_t cap = b->cap > 0 ? b->cap : STRBUF_FIRST_CAP;

		while (cap < need)
			if (ckd_mul_size(&cap, cap, 2))
				cap = need;
		if (cap > b->max + 1)
			cap = b->max + 1; /* >= need: a larger block could never fill */
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	return true;
}

void strbuf_add(struct strbuf *b, const void *s, size_t n)
{
	if (!reserve(b, n))
		return;
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void strbuf_add_str(struct strbuf *b, const char *s)
{
	strbuf_add(b, s, strlen(s));
}

void strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;

	if (b->over)
		return;
	/* Measure first, then format straight into the buffer: no scratch
	 * array, so no length limit but max. */
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	KASSERT(n >= 0);
	if (!reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	int w = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	KASSERT(w == n);
	b->len += (size_t)n;
}

char *strbuf_take(struct strbuf *b, size_t *len_out)
{
	KASSERT(!b->over);
	if (b->p == NULL)
		strbuf_add(b, "", 0);
	char *p = b->p;
	if (len_out != NULL)
		*len_out = b->len;
	strbuf_init(b, b->max);
	return p;
}
