/* utf8: the one strict UTF-8 decoder of core/ and the list of characters
 * konvert neither echoes raw nor accepts in a name. Knows no protocol and
 * no Unicode tables beyond that short list: no normalisation, no case
 * folding (both would need the Unicode database). */
#include "core/utf8.h"

size_t utf8_decode(const char *s, size_t len, uint32_t *cp_out)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
	size_t n;
	uint32_t cp;

	if (len == 0)
		return 0;
	if (p[0] < 0x80) {
		*cp_out = p[0];
		return 1;
	}
	if (p[0] >= 0xC2 && p[0] <= 0xDF) {
		n = 2;
		cp = p[0] & 0x1Fu;
	} else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
		n = 3;
		cp = p[0] & 0x0Fu;
		if (p[0] == 0xE0)
			lo = 0xA0; /* overlong below U+0800 */
		else if (p[0] == 0xED)
			hi = 0x9F; /* surrogates U+D800-DFFF */
	} else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
		n = 4;
		cp = p[0] & 0x07u;
		if (p[0] == 0xF0)
			lo = 0x90; /* overlong below U+10000 */
		else if (p[0] == 0xF4)
			hi = 0x8F; /* above U+10FFFF */
	} else {
		return 0; /* continuation byte, C0/C1 (overlong), F5-FF */
	}
	if (len < n || p[1] < lo || p[1] > hi)
		return 0;
	cp = cp << 6 | (p[1] & 0x3Fu);
	for (size_t i = 2; i < n; i++) {
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
		cp = cp << 6 | (p[i] & 0x3Fu);
	}
	*cp_out = cp;
	return n;
}

size_t utf8_seq_len(const char *s, size_t len)
{
	uint32_t cp;
	return utf8_decode(s, len, &cp);
}

bool utf8_is_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq_len(s + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

bool utf8_is_hidden(uint32_t cp)
{
	/* Inclusive ranges, ascending. */
	static const struct {
		uint32_t lo, hi;
	} hidden[] = {
		{0x0000, 0x001F}, /* C0 controls */
		{0x007F, 0x00A0}, /* DEL, C1 controls, no-break space */
		{0x00AD, 0x00AD}, /* soft hyphen */
		{0x061C, 0x061C}, /* Arabic letter mark (bidi) */
		{0x115F, 0x1160}, /* Hangul fillers */
		{0x1680, 0x1680}, /* Ogham space mark */
		{0x180E, 0x180E}, /* Mongolian vowel separator */
		{0x2000, 0x200B}, /* spaces, zero width space */
		{0x200E, 0x200F}, /* LRM, RLM */
		{0x2028, 0x202F}, /* line/paragraph separators, bidi embeddings
				   * and overrides, narrow no-break space */
		{0x205F, 0x2064}, /* math space, word joiner, invisible operators */
		{0x2066, 0x206F}, /* bidi isolates, deprecated format characters */
		{0x3000, 0x3000}, /* ideographic space */
		{0x3164, 0x3164}, /* Hangul filler */
		{0xFDD0, 0xFDEF}, /* noncharacters */
		{0xFEFF, 0xFEFF}, /* BOM, zero width no-break space */
		{0xFFA0, 0xFFA0}, /* halfwidth Hangul filler */
		{0xFFF9, 0xFFFB}, /* interlinear annotation */
		{0xE0000, 0xE007F}, /* tag characters */
	};
	if ((cp & 0xFFFEu) == 0xFFFEu)
		return true; /* U+xxFFFE and U+xxFFFF of every plane */
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
		if (cp < hidden[i].lo)
			return false;
		if (cp <= hidden[i].hi)
			return true;
	}
	return false;
}
