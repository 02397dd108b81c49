/* alloc: allocation wrappers that abort on failure, and checked size
 * arithmetic. Memory is bounded by limits on client input, not by OOM
 * recovery (STYLE.md 5), so callers never test for NULL. */
#ifndef KONVERT_CORE_ALLOC_H
#define KONVERT_CORE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Copies n bytes of s and a terminating NUL. */
char *xstrndup(const char *s, size_t n);

/* Checked arithmetic: return true on overflow, leaving *out undefined. */
static inline bool ckd_add_size(size_t *out, size_t a, size_t b)
{
	return __builtin_add_overflow(a, b, out);
}
static inline bool ckd_mul_size(size_t *out, size_t a, size_t b)
{
	return __builtin_mul_overflow(a, b, out);
}

#endif
