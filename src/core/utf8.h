/* utf8: checks on UTF-8 text (RFC 3629) for the places that take
 * internationalised names (RFC 6530-6533 local parts) and echo them back:
 * well-formedness, decoding one character, and which characters are
 * unfit to show or to name an account. Pure functions on (pointer,
 * length) input that need not be NUL-terminated; no allocation. */
#ifndef KONVERT_CORE_UTF8_H
#define KONVERT_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length (1..4) of the well-formed UTF-8 sequence at s, which has len
 * bytes left, or 0 when it is ill-formed or cut short (len 0 included).
 * Refused as RFC 3629 3-4 demands: overlong forms (C0, C1, E0 80-9F,
 * F0 80-8F), UTF-16 surrogates (ED A0-BF), code points above U+10FFFF
 * (F4 90+, F5-FF) and stray continuation bytes; each would let a byte
 * sequence slip past a check made on the decoded character. An ASCII
 * byte (NUL too) is a sequence of length 1. */
size_t utf8_seq_len(const char *s, size_t len);

/* As utf8_seq_len, also storing the code point in *cp_out when the
 * result is not 0 (*cp_out untouched otherwise). */
size_t utf8_decode(const char *s, size_t len, uint32_t *cp_out);

/* True when all len bytes of s are well-formed UTF-8 (ASCII included). */
bool utf8_is_valid(const char *s, size_t len);

/* True for code points that must neither be echoed raw nor name an
 * account: the C0 and C1 controls and DEL; characters that break a line
 * or reorder text on display (U+2028/2029, the bidi embeddings,
 * overrides, isolates and marks: a reply or a directory listing could
 * be made to read differently from its bytes); spaces other than U+0020
 * (U+00A0, U+1680, U+2000-200A, U+202F, U+205F, U+3000) and invisible
 * format characters (soft hyphen, zero width space, word joiner and
 * friends, BOM, tag characters, interlinear annotation) with which two
 * different names look alike; and the noncharacters (U+FDD0-FDEF and
 * every U+xxFFFE/xxFFFF). ZWJ and ZWNJ (U+200C/200D) are allowed: some
 * scripts need them. */
bool utf8_is_hidden(uint32_t cp);

#endif
