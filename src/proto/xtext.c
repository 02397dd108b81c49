/* xtext: RFC 3461 xtext and the ORCPT value, with RFC 6533's utf-8
 * address type. Owns the only decoder of these encodings in konvert; the
 * SMTP server, the queue and the DSN composer all come here. Pure: no
 * allocation, no logging, never reads past the given length. */
#include "proto/xtext.h"

#include <string.h>

static const char hexdig[] = "0123456789ABCDEF";

static bool is_xchar(unsigned char c)
{
	return c >= 33 && c <= 126 && c != '+' && c != '=';
}

static int hexval_upper(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int hexval(unsigned char c)
{
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return hexval_upper(c);
}

bool xtext_is_valid(const char *in, size_t len)
{
	const unsigned char *p = (const unsigned char *)in;

	for (size_t i = 0; i < len; i++) {
		if (p[i] == '+') {
			/* RFC 3461 4: "+" and exactly two upper-case hex digits. */
			if (len - i < 3 || hexval_upper(p[i + 1]) < 0 || hexval_upper(p[i + 2]) < 0)
				return false;
			i += 2;
		} else if (!is_xchar(p[i])) {
			return false;
		}
	}
	return true;
}

size_t xtext_encoded_len(const char *in, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += is_xchar((unsigned char)in[i]) ? 1 : 3;
	return n;
}

int xtext_encode(const char *in, size_t len, char *out, size_t out_size)
{
	size_t need = xtext_encoded_len(in, len), o = 0;

	if (need >= out_size || need > (size_t)__INT_MAX__) {
		if (out_size > 0)
			out[0] = '\0';
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (is_xchar(c)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '+';
			out[o++] = hexdig[c >> 4];
			out[o++] = hexdig[c & 15];
		}
	}
	out[o] = '\0';
	return (int)o;
}

int xtext_decode(const char *in, size_t len, char *out, size_t out_size, size_t *out_len)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0;

	*out_len = 0;
	if (!xtext_is_valid(in, len))
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];

		if (c == '+') {
			c = (unsigned char)(hexval_upper(p[i + 1]) << 4 | hexval_upper(p[i + 2]));
			i += 2;
		}
		if (o >= out_size)
			return -1;
		out[o++] = (char)c;
	}
	if (o < out_size)
		out[o] = '\0';
	*out_len = o;
	return 0;
}

size_t xtext_utf8_seq_len(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;
	unsigned cp, min;

	if (len == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2, cp = p[0] & 0x1fu, min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3, cp = p[0] & 0x0fu, min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4, cp = p[0] & 0x07u, min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are not UTF-8
	 * (RFC 3629 3). */
	if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

static size_t utf8_put(unsigned cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static unsigned utf8_get(const unsigned char *p, size_t n)
{
	static const unsigned char mask[5] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
	unsigned cp = p[0] & mask[n];

	for (size_t i = 1; i < n; i++)
		cp = cp << 6 | (p[i] & 0x3fu);
	return cp;
}

static bool is_ctl(unsigned cp)
{
	return cp < 0x20 || cp == 0x7f;
}

static bool is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool eq_nocase(const char *s, size_t n, const char *lit)
{
	if (strlen(lit) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char a = (unsigned char)s[i], b = (unsigned char)lit[i];

		if (a >= 'A' && a <= 'Z')
			a = (unsigned char)(a + 32);
		if (a != b)
			return false;
	}
	return true;
}

/* RFC 6533 3: utf-8-addr-xtext / utf-8-addr-unitext. QCHAR is printable
 * ASCII except "+", "=", "\"; "\x{HEX}" embeds any other scalar value. */
static int utf8_addr_decode(const unsigned char *p, size_t len, bool allow_utf8,
			    struct xtext_orcpt *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len;) {
		unsigned cp;
		size_t n;

		if (p[i] == '\\') {
			size_t j = i + 1, digits = 0;

			if (len - i < 5 || p[j] != 'x' || p[j + 1] != '{')
				return -1;
			j += 2;
			cp = 0;
			while (j < len && p[j] != '}' && digits < 7) {
				int v = hexval(p[j]);

				if (v < 0)
					return -1;
				cp = cp << 4 | (unsigned)v;
				j++, digits++;
			}
			/* HEXPOINT is 2..6 digits. */
			if (j >= len || p[j] != '}' || digits < 2 || digits > 6)
				return -1;
			if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
				return -1;
			i = j + 1;
		} else if (p[i] >= 0x80) {
			if (!allow_utf8)
				return -1;
			n = xtext_utf8_seq_len((const char *)p + i, len - i);
			if (n == 0)
				return -1;
			cp = utf8_get(p + i, n);
			i += n;
		} else if (p[i] >= 33 && p[i] <= 126 && p[i] != '+' && p[i] != '=') {
			cp = p[i++];
		} else {
			return -1;
		}
		if (is_ctl(cp) || o + 4 > XTEXT_ORCPT_MAX)
			return -1;
		o += utf8_put(cp, out->addr + o);
	}
	out->addr[o] = '\0';
	out->addr_len = o;
	return 0;
}

int xtext_orcpt_parse(const char *in, size_t len, bool allow_utf8, struct xtext_orcpt *out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t semi = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > XTEXT_ORCPT_MAX)
		return -1;
	while (semi < len && p[semi] != ';') {
		if (!is_atext(p[semi]))
			return -1;
		semi++;
	}
	if (semi == 0 || semi >= len || semi > XTEXT_ADDR_TYPE_MAX || semi + 1 == len)
		goto fail;
	memcpy(out->type_name, in, semi);
	out->type_name[semi] = '\0';
	if (eq_nocase(in, semi, "utf-8")) {
		out->type = XTEXT_TYPE_UTF8;
		rc = utf8_addr_decode(p + semi + 1, len - semi - 1, allow_utf8, out);
	} else {
		out->type = eq_nocase(in, semi, "rfc822") ? XTEXT_TYPE_RFC822 : XTEXT_TYPE_OTHER;
		rc = xtext_decode(in + semi + 1, len - semi - 1, out->addr, sizeof(out->addr),
				  &out->addr_len);
		for (size_t i = 0; rc == 0 && i < out->addr_len; i++) {
			unsigned char c = (unsigned char)out->addr[i];

			/* Bytes >= 0x80 need the utf-8 type (RFC 6533). */
			if (is_ctl(c) || c >= 0x80)
				rc = -1;
		}
		if (rc == 0)
			out->addr[out->addr_len] = '\0';
	}
	if (rc == 0)
		return 0;
fail:
	memset(out, 0, sizeof(*out));
	return -1;
}

/* Checks addr: valid UTF-8, no control byte. Sets *ascii. */
static bool addr_ok(const char *addr, size_t len, bool *ascii)
{
	*ascii = true;
	if (len == 0)
		return false;
	for (size_t i = 0; i < len;) {
		size_t n = xtext_utf8_seq_len(addr + i, len - i);

		if (n == 0 || (n == 1 && is_ctl((unsigned char)addr[i])))
			return false;
		if (n > 1)
			*ascii = false;
		i += n;
	}
	return true;
}

/* Appends s (n bytes) at out[*o], keeping room for the NUL. */
static bool put(char *out, size_t out_size, size_t *o, const char *s, size_t n)
{
	if (n >= out_size - *o)
		return false;
	memcpy(out + *o, s, n);
	*o += n;
	return true;
}

/* Writes addr in utf-8-addr-xtext form (escape_utf8) or unitext form. */
static bool put_utf8_addr(const char *addr, size_t len, bool escape_utf8, char *out,
			  size_t out_size, size_t *o)
{
	for (size_t i = 0; i < len;) {
		size_t n = xtext_utf8_seq_len(addr + i, len - i);
		unsigned cp = utf8_get((const unsigned char *)addr + i, n);

		if ((n == 1 && (cp < 33 || cp == '+' || cp == '=' || cp == '\\')) ||
		    (n > 1 && escape_utf8)) {
			char esc[12];
			size_t e = 0, digits = 2;

			while (digits < 6 && (cp >> (4 * digits)) != 0)
				digits++;
			esc[e++] = '\\';
			esc[e++] = 'x';
			esc[e++] = '{';
			for (size_t d = digits; d > 0; d--)
				esc[e++] = hexdig[(cp >> (4 * (d - 1))) & 15];
			esc[e++] = '}';
			if (!put(out, out_size, o, esc, e))
				return false;
		} else if (!put(out, out_size, o, addr + i, n)) {
			return false;
		}
		i += n;
	}
	return true;
}

int xtext_orcpt_build(const char *addr, size_t len, bool allow_utf8, char *out, size_t out_size)
{
	size_t o = 0;
	bool ascii;
	int n;

	if (out_size == 0)
		return -1;
	out[0] = '\0';
	if (!addr_ok(addr, len, &ascii))
		return -1;
	if (ascii) {
		if (!put(out, out_size, &o, "rfc822;", 7))
			goto fail;
		n = xtext_encode(addr, len, out + o, out_size - o);
		if (n < 0)
			goto fail;
		return (int)o + n;
	}
	if (!put(out, out_size, &o, "utf-8;", 6) ||
	    !put_utf8_addr(addr, len, !allow_utf8, out, out_size, &o) || o > (size_t)__INT_MAX__)
		goto fail;
	out[o] = '\0';
	return (int)o;
fail:
	out[0] = '\0';
	return -1;
}

int xtext_addr_display(const char *addr, size_t len, bool allow_utf8, const char **type_out,
		       char *out, size_t out_size)
{
	size_t o = 0;
	bool ascii;

	*type_out = "rfc822";
	if (out_size == 0)
		return -1;
	out[0] = '\0';
	if (!addr_ok(addr, len, &ascii))
		return -1;
	if (ascii || allow_utf8) {
		/* RFC 6533 3: message/global-delivery-status carries the
		 * utf-8-address itself. */
		if (!ascii)
			*type_out = "utf-8";
		if (!put(out, out_size, &o, addr, len))
			goto fail;
	} else {
		*type_out = "utf-8";
		if (!put_utf8_addr(addr, len, true, out, out_size, &o))
			goto fail;
	}
	if (o > (size_t)__INT_MAX__)
		goto fail;
	out[o] = '\0';
	return (int)o;
fail:
	out[0] = '\0';
	return -1;
}
