/* span: SP/HTAB trimming, literal comparison and separator cutting over
 * borrowed (pointer, length) runs. Pure: no allocation, no I/O, no state;
 * it never reads outside [p, p + len) and never needs a NUL. What a field
 * means, and whether its names are case-sensitive, is the caller's. */
#include "proto/span.h"

#include <string.h>
#include <strings.h>

bool span_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

struct span span_trim(const char *p, size_t len)
{
	while (len > 0 && span_is_wsp(p[0])) {
		p++;
		len--;
	}
	while (len > 0 && span_is_wsp(p[len - 1]))
		len--;
	return (struct span){p, len};
}

bool span_eq(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	/* n == 0 first: an empty span may have p == NULL. */
	return s.len == n && (n == 0 || memcmp(s.p, lit, n) == 0);
}

bool span_ieq(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	/* lit has no NUL in its first n bytes, so a NUL in s is a mismatch
	 * here, as with memcmp: strncasecmp stopping early changes nothing. */
	return s.len == n && (n == 0 || strncasecmp(s.p, lit, n) == 0);
}

struct span span_next(const char **pp, const char *end, char sep)
{
	const char *s = *pp;
	const char *hit = memchr(s, sep, (size_t)(end - s));
	const char *e = hit ? hit : end;
	*pp = hit ? hit + 1 : end;
	return span_trim(s, (size_t)(e - s));
}
