/* utf8_test: the strict decoder against a table of well-formed and
 * ill-formed sequences (RFC 3629 and the Unicode "maximal subpart" cases:
 * overlongs, surrogates, values past U+10FFFF, stray continuation bytes,
 * truncation), every lead byte, and the hidden-character list at and
 * around its edges. */
#include "core/utf8.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

struct seq_case {
	const char *name;
	const char *in;
	size_t len; /* 0: strlen(in) */
	size_t want; /* utf8_seq_len of the first sequence */
	uint32_t cp; /* decoded when want > 0 */
};

static const struct seq_case seq_cases[] = {
	{.name = "ascii", .in = "a", .want = 1, .cp = 'a'},
	{.name = "nul", .in = "\0", .len = 1, .want = 1, .cp = 0},
	{.name = "del", .in = "\x7f", .want = 1, .cp = 0x7f},
	{.name = "u+0080", .in = "\xc2\x80", .want = 2, .cp = 0x80},
	{.name = "o umlaut", .in = "\xc3\xb6", .want = 2, .cp = 0xf6},
	{.name = "u+07ff", .in = "\xdf\xbf", .want = 2, .cp = 0x7ff},
	{.name = "u+0800", .in = "\xe0\xa0\x80", .want = 3, .cp = 0x800},
	{.name = "cjk", .in = "\xe7\x94\xb0", .want = 3, .cp = 0x7530},
	{.name = "u+d7ff", .in = "\xed\x9f\xbf", .want = 3, .cp = 0xd7ff},
	{.name = "u+e000", .in = "\xee\x80\x80", .want = 3, .cp = 0xe000},
	{.name = "u+fffd", .in = "\xef\xbf\xbd", .want = 3, .cp = 0xfffd},
	{.name = "u+10000", .in = "\xf0\x90\x80\x80", .want = 4, .cp = 0x10000},
	{.name = "emoji", .in = "\xf0\x9f\x93\xa7", .want = 4, .cp = 0x1f4e7},
	{.name = "u+10ffff", .in = "\xf4\x8f\xbf\xbf", .want = 4, .cp = 0x10ffff},
	/* ill-formed */
	{.name = "empty", .in = "", .want = 0},
	{.name = "lone continuation", .in = "\x80", .want = 0},
	{.name = "lone continuation bf", .in = "\xbf", .want = 0},
	{.name = "overlong nul c0 80", .in = "\xc0\x80", .want = 0},
	{.name = "overlong slash c0 af", .in = "\xc0\xaf", .want = 0},
	{.name = "overlong c1 bf", .in = "\xc1\xbf", .want = 0},
	{.name = "overlong 3 byte", .in = "\xe0\x80\xaf", .want = 0},
	{.name = "overlong 3 byte max", .in = "\xe0\x9f\xbf", .want = 0},
	{.name = "overlong 4 byte", .in = "\xf0\x80\x80\xaf", .want = 0},
	{.name = "overlong 4 byte max", .in = "\xf0\x8f\xbf\xbf", .want = 0},
	{.name = "high surrogate", .in = "\xed\xa0\x80", .want = 0},
	{.name = "low surrogate", .in = "\xed\xbf\xbf", .want = 0},
	{.name = "past u+10ffff", .in = "\xf4\x90\x80\x80", .want = 0},
	{.name = "f5 lead", .in = "\xf5\x80\x80\x80", .want = 0},
	{.name = "ff", .in = "\xff", .want = 0},
	{.name = "fe", .in = "\xfe", .want = 0},
	{.name = "truncated 2", .in = "\xc3", .want = 0},
	{.name = "truncated 3", .in = "\xe7\x94", .want = 0},
	{.name = "truncated 4", .in = "\xf0\x9f\x93", .want = 0},
	{.name = "ascii in place of continuation", .in = "\xc3" "a", .want = 0},
	{.name = "lead in place of continuation", .in = "\xe7\xc3\xb6", .want = 0},
	{.name = "third byte not continuation", .in = "\xe7\x94" "a", .want = 0},
	{.name = "fourth byte not continuation", .in = "\xf0\x9f\x93" "a", .want = 0},
	{.name = "latin-1 o umlaut", .in = "\xf6" "rg", .want = 0},
};

static void test_seq_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(seq_cases) / sizeof(seq_cases[0]); i++) {
		const struct seq_case *c = &seq_cases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		uint32_t cp = 0xdeadbeef;
		size_t got = utf8_decode(c->in, len, &cp);
		if (got != c->want)
			fail_msg("%s: length %zu, want %zu", c->name, got, c->want);
		if (got > 0 && cp != c->cp)
			fail_msg("%s: U+%04X, want U+%04X", c->name, (unsigned)cp, (unsigned)c->cp);
		if (got == 0 && cp != 0xdeadbeef)
			fail_msg("%s: code point written on failure", c->name);
		assert_int_equal(utf8_seq_len(c->in, len), got);
		/* Every shorter input is truncated, so ill-formed. */
		for (size_t cut = 1; got > 1 && cut < got; cut++)
			if (utf8_seq_len(c->in, cut) != 0)
				fail_msg("%s: cut to %zu bytes accepted", c->name, cut);
	}
}

/* Each lead byte with a continuation that suits it: exactly C2-F4
 * start a multi-byte sequence. */
static void test_lead_bytes(void **state)
{
	(void)state;
	for (unsigned b = 0x80; b <= 0xff; b++) {
		unsigned char s[4] = {(unsigned char)b, 0, 0x80, 0x80};
		/* the smallest second byte the lead allows */
		s[1] = b == 0xe0 ? 0xa0 : b == 0xf0 ? 0x90 : 0x80;
		size_t got = utf8_seq_len((const char *)s, sizeof(s));
		size_t want = b < 0xc2 ? 0 : b <= 0xdf ? 2 : b <= 0xef ? 3 : b <= 0xf4 ? 4 : 0;
		if (got != want)
			fail_msg("lead %02X: %zu, want %zu", b, got, want);
	}
}

static void test_is_valid(void **state)
{
	(void)state;
	assert_true(utf8_is_valid("", 0));
	assert_true(utf8_is_valid("plain ascii", 11));
	assert_true(utf8_is_valid("j\xc3\xb6rg@\xe7\x94\xb0\xf0\x9f\x93\xa7", 13));
	assert_false(utf8_is_valid("j\xf6rg", 4));
	assert_false(utf8_is_valid("ok\xc3", 3)); /* truncated at the end */
	assert_false(utf8_is_valid("a\xed\xa0\x80z", 5));
	assert_false(utf8_is_valid("\xc0\xaf", 2));
	/* The length bounds the check: the NUL-free valid prefix passes. */
	assert_true(utf8_is_valid("ab\xff", 2));
}

static void test_hidden(void **state)
{
	(void)state;
	static const uint32_t hidden[] = {
		0x00, 0x09, 0x0a, 0x1f, 0x7f, 0x80, 0x85, 0x9f, 0xa0, 0xad, 0x61c,
		0x115f, 0x1680, 0x180e, 0x2000, 0x200a, 0x200b, 0x200e, 0x200f,
		0x2028, 0x2029, 0x202a, 0x202e, 0x202f, 0x205f, 0x2060, 0x2064,
		0x2066, 0x2069, 0x206f, 0x3000, 0x3164, 0xfdd0, 0xfdef, 0xfeff,
		0xffa0, 0xfff9, 0xfffb, 0xfffe, 0xffff, 0x1fffe, 0x10ffff,
		0xe0001, 0xe0041, 0xe007f,
	};
	static const uint32_t shown[] = {
		0x20, 'a', '~', 0xa1, 0xa9, 0xdf, 0xf6, 0xac, 0xae, 0x300, 0x3b1,
		0x5d0, 0x627, 0x61b, 0x61d, 0x1161, 0x200c, 0x200d, 0x2010,
		0x2027, 0x2030, 0x205e, 0x2065, 0x2070, 0x3001, 0x7530, 0xfdcf,
		0xfdf0, 0xfe0f, 0xfefe, 0xff21, 0xfffc, 0xfffd, 0x10000, 0x1f4e7,
		0xe0080, 0xe0100, 0x10fffd,
	};
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
		if (!utf8_is_hidden(hidden[i]))
			fail_msg("U+%04X should be hidden", (unsigned)hidden[i]);
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
		if (utf8_is_hidden(shown[i]))
			fail_msg("U+%04X should be shown", (unsigned)shown[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seq_table),
		cmocka_unit_test(test_lead_bytes),
		cmocka_unit_test(test_is_valid),
		cmocka_unit_test(test_hidden),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
