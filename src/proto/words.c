/* words: the one argument splitter for line protocols whose arguments are
 * separated by spaces (POP3, POP2). Pure; never reads past len. */
#include "proto/words.h"

size_t words_split(const char *s, size_t len, struct word *out, size_t max)
{
	const char *p = s;
	const char *end = s + len;
	size_t n = 0;
	while (p < end) {
		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		const char *start = p;
		while (p < end && *p != ' ')
			p++;
		if (n < max) {
			out[n].p = start;
			out[n].len = (size_t)(p - start);
		}
		n++;
	}
	return n;
}
