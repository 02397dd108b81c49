/* words: lexical helpers for line protocols whose arguments are separated
 * by spaces (POP3, POP2). Pure; never reads past len. */
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

bool words_equal_nocase(const char *p, size_t len, const char *name)
{
	size_t i = 0;
	for (; i < len && name[i] != '\0'; i++) {
		char c = p[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c != name[i])
			return false;
	}
	return i == len && name[i] == '\0';
}

int words_parse_decimal(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	if (len == 0)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v) || v > max)
			return -1;
	}
	*out = v;
	return 0;
}
