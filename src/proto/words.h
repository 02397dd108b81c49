/* words: splitting a protocol argument string at runs of spaces, shared by
 * the POP3 and POP2 command parsers. No allocation: words point into the
 * input. */
#ifndef KONVERT_PROTO_WORDS_H
#define KONVERT_PROTO_WORDS_H

#include <stddef.h>

struct word {
	const char *p; /* points into the split string */
	size_t len;
};

/* Splits s (len bytes) at runs of SP, storing at most max words in out.
 * Returns how many words there are, which may exceed max. */
size_t words_split(const char *s, size_t len, struct word *out, size_t max);

#endif
