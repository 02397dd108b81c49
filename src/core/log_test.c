/* log_test: the two escapers. log_escape keeps printable ASCII only;
 * log_escape_utf8 also keeps well-formed UTF-8 of shown characters and
 * escapes overlongs, surrogates, truncated sequences, C1 controls and
 * bidi overrides byte by byte. Both cut with "..." without splitting a
 * sequence or an escape, and always NUL-terminate. */
#include "core/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/utf8.h"

struct esc_case {
	const char *name;
	const char *in;
	size_t len; /* 0: strlen(in) */
	const char *ascii; /* log_escape */
	const char *utf8; /* log_escape_utf8 */
};

static const struct esc_case esc_cases[] = {
	{"plain", "bob@example.test", 0, "bob@example.test", "bob@example.test"},
	{"quote and backslash", "a\"b\\c", 0, "a\\x22b\\x5cc", "a\\x22b\\x5cc"},
	{"controls", "a\r\nb\tc\x7f", 0, "a\\x0d\\x0ab\\x09c\\x7f", "a\\x0d\\x0ab\\x09c\\x7f"},
	{"nul", "a\0b", 3, "a\\x00b", "a\\x00b"},
	{"well-formed 2 byte", "j\xc3\xb6rg", 0, "j\\xc3\\xb6rg", "j\xc3\xb6rg"},
	{"well-formed 3 byte", "\xe7\x94\xb0\xe4\xb8\xad", 0, "\\xe7\\x94\\xb0\\xe4\\xb8\\xad",
	 "\xe7\x94\xb0\xe4\xb8\xad"},
	{"well-formed 4 byte", "\xf0\x9f\x93\xa7", 0, "\\xf0\\x9f\\x93\\xa7", "\xf0\x9f\x93\xa7"},
	{"u+00a1 kept", "\xc2\xa1", 0, "\\xc2\\xa1", "\xc2\xa1"},
	{"no-break space escaped", "a\xc2\xa0z", 0, "a\\xc2\\xa0z", "a\\xc2\\xa0z"},
	{"c1 control", "a\xc2\x85z", 0, "a\\xc2\\x85z", "a\\xc2\\x85z"},
	{"c1 csi", "\xc2\x9b[2J", 0, "\\xc2\\x9b[2J", "\\xc2\\x9b[2J"},
	{"overlong slash", "\xc0\xaf", 0, "\\xc0\\xaf", "\\xc0\\xaf"},
	{"overlong nul", "\xc0\x80", 0, "\\xc0\\x80", "\\xc0\\x80"},
	{"overlong 3 byte", "\xe0\x80\xaf", 0, "\\xe0\\x80\\xaf", "\\xe0\\x80\\xaf"},
	{"surrogate", "\xed\xa0\x80", 0, "\\xed\\xa0\\x80", "\\xed\\xa0\\x80"},
	{"past u+10ffff", "\xf4\x90\x80\x80", 0, "\\xf4\\x90\\x80\\x80", "\\xf4\\x90\\x80\\x80"},
	{"truncated at the end", "ab\xe7\x94", 0, "ab\\xe7\\x94", "ab\\xe7\\x94"},
	{"truncated before ascii", "\xc3z", 0, "\\xc3z", "\\xc3z"},
	{"latin-1", "j\xf6rg", 0, "j\\xf6rg", "j\\xf6rg"},
	{"lone continuation then valid", "\x80\xc3\xb6", 0, "\\x80\\xc3\\xb6", "\\x80\xc3\xb6"},
	{"rlo override", "a\xe2\x80\xae" "b", 0, "a\\xe2\\x80\\xaeb", "a\\xe2\\x80\\xaeb"},
	{"line separator", "a\xe2\x80\xa8" "b", 0, "a\\xe2\\x80\\xa8b", "a\\xe2\\x80\\xa8b"},
	{"bom", "\xef\xbb\xbf" "a", 0, "\\xef\\xbb\\xbfa", "\\xef\\xbb\\xbfa"},
	{"empty", "", 0, "", ""},
};

static void test_escape_table(void **state)
{
	(void)state;
	char out[256];
	for (size_t i = 0; i < sizeof(esc_cases) / sizeof(esc_cases[0]); i++) {
		const struct esc_case *c = &esc_cases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		if (strcmp(log_escape(out, sizeof(out), c->in, len), c->ascii) != 0)
			fail_msg("%s: log_escape gave \"%s\", want \"%s\"", c->name, out, c->ascii);
		if (strcmp(log_escape_utf8(out, sizeof(out), c->in, len), c->utf8) != 0)
			fail_msg("%s: log_escape_utf8 gave \"%s\", want \"%s\"", c->name, out,
				 c->utf8);
		assert_true(utf8_is_valid(out, strlen(out)));
	}
}

/* The cut: "..." only where it fits, never half a sequence or escape,
 * the result at most dst_size - 1 bytes and always valid UTF-8. */
static void test_escape_cut(void **state)
{
	(void)state;
	char out[64];
	/* Room for 8 bytes: a second "\xc3\xb6" would leave no room for
	 * the "..." (4 bytes are always kept for it). */
	assert_string_equal(log_escape_utf8(out, 9, "ab\xc3\xb6\xc3\xb6\xc3\xb6", 8), "ab\xc3\xb6...");
	assert_string_equal(log_escape(out, 9, "ab\xc3\xb6", 4), "ab...");
	assert_string_equal(log_escape_utf8(out, 8, "\xe7\x94\xb0\xe7\x94\xb0", 6),
			    "\xe7\x94\xb0...");
	assert_string_equal(log_escape_utf8(out, 6, "\xe7\x94\xb0", 3), "...");
	assert_string_equal(log_escape_utf8(out, 1, "abc", 3), "");
	assert_string_equal(log_escape_utf8(out, 4, "abc", 3), "...");
	/* As log_escape always did: room for "..." is kept to the end. */
	assert_string_equal(log_escape_utf8(out, 5, "abc", 3), "a...");
	assert_string_equal(log_escape_utf8(out, 8, "abc", 3), "abc");
	log_escape_utf8(out, 0, "abc", 3); /* writes nothing */

	/* Every size and every input prefix of a mixed text. */
	static const char mixed[] = "j\xc3\xb6rg\xf6\x01\xe7\x94\xb0\xc2\x85\xf0\x9f\x93\xa7z";
	for (size_t size = 1; size < sizeof(out); size++) {
		for (size_t len = 0; len < sizeof(mixed); len++) {
			memset(out, 'X', sizeof(out));
			log_escape_utf8(out, size, mixed, len);
			size_t n = strlen(out);
			assert_true(n < size);
			assert_true(utf8_is_valid(out, n));
			for (size_t k = 0; k < n; k++)
				assert_true((unsigned char)out[k] >= 0x20 && out[k] != 0x7f);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_table),
		cmocka_unit_test(test_escape_cut),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
