/* rfc5322: header walking and address-list extraction for sendmail -t.
 * A small scanner over (pointer, length): quoted strings, nested comments
 * and angle brackets are tracked so that ',' ';' ':' split only where they
 * are syntax. It never allocates and never reads past len. */
#include "proto/rfc5322.h"

#include <string.h>

/* Longest addr-spec handed to the callback (RFC 5321 path is 256). */
#define RFC5322_ADDR_BUF 1024

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

bool rfc5322_name_is(const char *name, size_t len, const char *lit)
{
	if (strlen(lit) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (lower(name[i]) != lower(lit[i]))
			return false;
	return true;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Skips a comment starting at s[i] == '('; returns the index after it,
 * or len when it never closes (the caller reports the error). */
static size_t skip_comment(const char *s, size_t len, size_t i)
{
	int depth = 0;
	for (; i < len; i++) {
		if (s[i] == '\\') {
			i++;
			continue;
		}
		if (s[i] == '(')
			depth++;
		else if (s[i] == ')' && --depth == 0)
			return i + 1;
	}
	return len + 1;
}

/* Skips a quoted string starting at s[i] == '"'. */
static size_t skip_quoted(const char *s, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (s[i] == '\\') {
			i++;
			continue;
		}
		if (s[i] == '"')
			return i + 1;
	}
	return len + 1;
}

/* Copies [a,b) into buf without comments and unquoted white space.
 * Returns the length, or -1 when malformed or too long. */
static int clean_spec(const char *s, size_t a, size_t b, char *buf, size_t max)
{
	size_t n = 0;
	for (size_t i = a; i < b;) {
		char c = s[i];
		if (c == '(') {
			size_t e = skip_comment(s, b, i);
			if (e > b)
				return -1;
			i = e;
			continue;
		}
		if (is_wsp(c)) {
			i++;
			continue;
		}
		size_t e = c == '"' ? skip_quoted(s, b, i) : i + 1;
		if (e > b)
			return -1;
		if (e - i > max - n)
			return -1;
		memcpy(buf + n, s + i, e - i);
		n += e - i;
		i = e;
	}
	return (int)n;
}

/* One element of the list: a mailbox, with or without <...>. */
static int element(const char *s, size_t a, size_t b, size_t max, rfc5322_addr_fn fn, void *arg,
		   bool *stop)
{
	size_t lt = b, gt = b;
	for (size_t i = a; i < b;) {
		if (s[i] == '(') {
			i = skip_comment(s, b, i);
			continue;
		}
		if (s[i] == '"') {
			i = skip_quoted(s, b, i);
			continue;
		}
		if (s[i] == '<' && lt == b)
			lt = i;
		else if (s[i] == '>' && lt != b && gt == b)
			gt = i;
		i++;
	}
	if (lt != b && gt == b)
		return -1;
	size_t from = a, to = b;
	if (lt != b) {
		from = lt + 1;
		to = gt;
	}
	char buf[RFC5322_ADDR_BUF];
	size_t cap = max < sizeof(buf) ? max : sizeof(buf);
	int n = clean_spec(s, from, to, buf, cap);
	if (n < 0)
		return -1;
	size_t off = 0;
	/* obs-route "@a,@b:" before the address (RFC 5322 4.4) is dropped. */
	if (n > 0 && buf[0] == '@') {
		const char *colon = memchr(buf, ':', (size_t)n);
		if (colon == NULL)
			return 0;
		off = (size_t)(colon - buf) + 1;
	}
	if ((size_t)n == off || memchr(buf + off, '@', (size_t)n - off) == NULL)
		return 0; /* "undisclosed-recipients" and such */
	if (!fn(arg, buf + off, (size_t)n - off))
		*stop = true;
	return 1;
}

int rfc5322_addresses(const char *value, size_t len, size_t max_addr_len, rfc5322_addr_fn fn,
		      void *arg)
{
	int count = 0;
	size_t start = 0;
	bool in_angle = false, stop = false;
	for (size_t i = 0; i <= len && !stop;) {
		char c = i < len ? value[i] : ',';
		if (i < len && c == '(') {
			i = skip_comment(value, len, i);
			if (i > len)
				return -1;
			continue;
		}
		if (i < len && c == '"') {
			i = skip_quoted(value, len, i);
			if (i > len)
				return -1;
			continue;
		}
		if (c == '<')
			in_angle = true;
		else if (c == '>')
			in_angle = false;
		if (!in_angle && c == ':') {
			/* A group: the display name before ':' is no address. */
			start = i + 1;
		} else if ((!in_angle && (c == ',' || c == ';')) || i == len) {
			if (i == len && in_angle)
				return -1;
			int r = element(value, start, i, max_addr_len, fn, arg, &stop);
			if (r < 0)
				return -1;
			count += r;
			start = i + 1;
		}
		i++;
	}
	return count;
}

size_t rfc5322_header_end(const char *msg, size_t len)
{
	size_t i = 0;
	while (i < len) {
		/* At the start of a line. */
		if (msg[i] == '\n')
			return i + 1;
		if (msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n')
			return i + 2;
		const char *nl = memchr(msg + i, '\n', len - i);
		if (nl == NULL)
			return len;
		i = (size_t)(nl - msg) + 1;
	}
	return len;
}

bool rfc5322_next_field(const char *hdr, size_t len, size_t *pos, const char **name_out,
			size_t *name_len_out, const char **value_out, size_t *value_len_out,
			size_t *field_start, size_t *field_end)
{
	size_t i = *pos;
	while (i < len) {
		size_t start = i;
		/* The field runs to a line end not followed by WSP. */
		size_t end = i;
		for (;;) {
			const char *nl = memchr(hdr + end, '\n', len - end);
			if (nl == NULL) {
				end = len;
				break;
			}
			end = (size_t)(nl - hdr) + 1;
			if (end >= len || (hdr[end] != ' ' && hdr[end] != '\t'))
				break;
		}
		i = end;
		size_t text_end = end;
		if (text_end > start && hdr[text_end - 1] == '\n')
			text_end--;
		if (text_end > start && hdr[text_end - 1] == '\r')
			text_end--;
		if (text_end == start)
			break; /* the blank line: end of the header */
		const char *colon = memchr(hdr + start, ':', text_end - start);
		if (colon == NULL || colon == hdr + start)
			continue;
		size_t nlen = (size_t)(colon - (hdr + start));
		while (nlen > 0 && (hdr[start + nlen - 1] == ' ' || hdr[start + nlen - 1] == '\t'))
			nlen--;
		*name_out = hdr + start;
		*name_len_out = nlen;
		*value_out = colon + 1;
		*value_len_out = text_end - (size_t)(colon + 1 - hdr);
		*field_start = start;
		*field_end = end;
		*pos = end;
		return true;
	}
	*pos = len;
	return false;
}

long rfc5322_field_value(const char *msg, size_t len, const char *name, const char **value)
{
	size_t end = rfc5322_header_end(msg, len);
	size_t pos = 0, nl, vl, fs, fe;
	const char *n, *v;
	while (rfc5322_next_field(msg, end, &pos, &n, &nl, &v, &vl, &fs, &fe)) {
		if (!rfc5322_name_is(n, nl, name))
			continue;
		while (vl > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			vl--;
		}
		while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t' || v[vl - 1] == '\r'))
			vl--;
		*value = v;
		return (long)vl;
	}
	return -1;
}
