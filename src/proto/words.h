/* words: the small lexical pieces the POP3 and POP2 command parsers share:
 * splitting arguments at runs of spaces, case-insensitive keyword match,
 * checked decimal numbers. No allocation: words point into the input. */
#ifndef KONVERT_PROTO_WORDS_H
#define KONVERT_PROTO_WORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct word {
	const char *p; /* points into the split string */
	size_t len;
};

/* Splits s (len bytes) at runs of SP, storing at most max words in out.
 * Returns how many words there are, which may exceed max. */
size_t words_split(const char *s, size_t len, struct word *out, size_t max);

/* True when p (len bytes) equals the NUL-terminated upper-case name,
 * ignoring ASCII case. */
bool words_equal_nocase(const char *p, size_t len, const char *name);

/* A protocol number: 1..n decimal digits, no sign or spaces, at most max.
 * Returns 0 with *out set, or -1 (empty, non-digit, above max). */
int words_parse_decimal(const char *s, size_t len, uint64_t max, uint64_t *out);

#endif
