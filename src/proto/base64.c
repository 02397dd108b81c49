/* base64: the one base64 codec of konvert (RFC 4648 section 4), used by
 * the SASL layer and for stored SCRAM keys. It owns the canonical-form
 * rules (see base64.h) and maps characters with masks instead of table
 * lookups or branches, so the time taken does not depend on secret data
 * (PLAIN/LOGIN passwords). It never allocates, logs or replies. */
#include "proto/base64.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

/* All-ones when a >= b, else zero; a and b below 2^31. */
static uint32_t ct_ge(uint32_t a, uint32_t b)
{
	return ((a - b) >> 31) - 1u;
}

static uint32_t ct_in_range(uint32_t c, uint32_t lo, uint32_t hi)
{
	return ct_ge(c, lo) & ct_ge(hi, c);
}

/* 6-bit value -> alphabet character. The offsets move each range of the
 * alphabet into place: 0..25 'A'.., 26..51 'a'.., 52..61 '0'.., 62 '+',
 * 63 '/'. */
static char enc_char(uint32_t v)
{
	uint32_t c = v + 'A';

	c += ct_ge(v, 26) & 6u;
	c -= ct_ge(v, 52) & 75u;
	c -= ct_ge(v, 62) & 15u;
	c += ct_ge(v, 63) & 3u;
	return (char)(c & 0xffu);
}

/* Alphabet character -> 6-bit value; a character outside the alphabet
 * ('=' included) sets bits in *bad. */
static uint32_t dec_char(unsigned char ch, uint32_t *bad)
{
	uint32_t c = ch;
	uint32_t m_upper = ct_in_range(c, 'A', 'Z');
	uint32_t m_lower = ct_in_range(c, 'a', 'z');
	uint32_t m_digit = ct_in_range(c, '0', '9');
	uint32_t m_plus = ct_in_range(c, '+', '+');
	uint32_t m_slash = ct_in_range(c, '/', '/');
	uint32_t v = (m_upper & (c - 'A')) | (m_lower & (c - 'a' + 26)) |
		     (m_digit & (c - '0' + 52)) | (m_plus & 62u) |
		     (m_slash & 63u);

	*bad |= ~(m_upper | m_lower | m_digit | m_plus | m_slash);
	return v & 63u;
}

size_t base64_encoded_len(size_t n)
{
	size_t groups = n / 3 + (n % 3 != 0);

	if (groups > SIZE_MAX / 4)
		return SIZE_MAX;
	return groups * 4;
}

size_t base64_decoded_max(size_t len)
{
	return len / 4 * 3;
}

int base64_encode(const void *in, size_t len, char *out, size_t out_size)
{
	const unsigned char *p = in;
	size_t need = base64_encoded_len(len);
	size_t o = 0;
	size_t i = 0;

	if (need > (size_t)INT_MAX || need >= out_size)
		return -1;
	for (; len - i >= 3; i += 3) {
		uint32_t w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 |
			     p[i + 2];

		out[o++] = enc_char(w >> 18);
		out[o++] = enc_char((w >> 12) & 63u);
		out[o++] = enc_char((w >> 6) & 63u);
		out[o++] = enc_char(w & 63u);
	}
	if (len - i == 1) {
		uint32_t w = (uint32_t)p[i] << 16;

		out[o++] = enc_char(w >> 18);
		out[o++] = enc_char((w >> 12) & 63u);
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		uint32_t w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

		out[o++] = enc_char(w >> 18);
		out[o++] = enc_char((w >> 12) & 63u);
		out[o++] = enc_char((w >> 6) & 63u);
		out[o++] = '=';
	}
	out[o] = '\0';
	return (int)o;
}

int base64_decode(const char *in, size_t len, void *out, size_t out_size, size_t *out_len)
{
	const unsigned char *s = (const unsigned char *)in;
	unsigned char *d = out;
	uint32_t bad = 0;
	size_t pad = 0;
	size_t full;
	size_t need;
	size_t o = 0;

	*out_len = 0;
	if (len % 4 != 0)
		return -1;
	if (len == 0)
		return 0;
	/* Where the padding sits is public (it is implied by the decoded
	 * length), so branching on it leaks nothing. */
	if (s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	if (pad == 2 && s[len - 3] == '=')
		return -1;
	need = len / 4 * 3 - pad;
	if (need > out_size)
		return -1;
	full = pad ? len - 4 : len;
	for (size_t i = 0; i < full; i += 4) {
		uint32_t w = dec_char(s[i], &bad) << 18 |
			     dec_char(s[i + 1], &bad) << 12 |
			     dec_char(s[i + 2], &bad) << 6 |
			     dec_char(s[i + 3], &bad);

		d[o++] = (unsigned char)(w >> 16);
		d[o++] = (unsigned char)(w >> 8);
		d[o++] = (unsigned char)w;
	}
	if (pad == 1) {
		uint32_t c2 = dec_char(s[full + 2], &bad);
		uint32_t w = dec_char(s[full], &bad) << 18 |
			     dec_char(s[full + 1], &bad) << 12 | c2 << 6;

		bad |= c2 & 3u; /* non-canonical: unused bits set */
		d[o++] = (unsigned char)(w >> 16);
		d[o++] = (unsigned char)(w >> 8);
	} else if (pad == 2) {
		uint32_t c1 = dec_char(s[full + 1], &bad);
		uint32_t w = dec_char(s[full], &bad) << 18 | c1 << 12;

		bad |= c1 & 15u;
		d[o++] = (unsigned char)(w >> 16);
	}
	if (bad != 0)
		return -1;
	*out_len = o;
	return 0;
}
