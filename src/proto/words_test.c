/* words_test: argument splitting, keyword matching and decimal numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/words.h"

#define S(x) x, sizeof(x) - 1

struct split_case {
	const char *in;
	size_t len;
	size_t count;
	const char *first;
	const char *second;
};

static const struct split_case split_cases[] = {
	{S(""), 0, NULL, NULL},
	{S("   "), 0, NULL, NULL},
	{S("a"), 1, "a", NULL},
	{S(" a  b "), 2, "a", "b"},
	{S("1 2 3"), 3, "1", "2"},
	{S("tab\there"), 1, "tab\there", NULL},
};

static void test_split(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
		const struct split_case *c = &split_cases[i];
		struct word w[2];
		memset(w, 0, sizeof(w));
		assert_int_equal(words_split(c->in, c->len, w, 2), c->count);
		if (c->first) {
			assert_int_equal(w[0].len, strlen(c->first));
			assert_memory_equal(w[0].p, c->first, w[0].len);
		}
		if (c->second) {
			assert_int_equal(w[1].len, strlen(c->second));
			assert_memory_equal(w[1].p, c->second, w[1].len);
		}
	}
	/* never reads past len: "a b" cut to "a" */
	struct word w[2];
	assert_int_equal(words_split("a b", 1, w, 2), 1);
}

static void test_equal_nocase(void **state)
{
	(void)state;
	assert_true(words_equal_nocase(S("retr"), "RETR"));
	assert_true(words_equal_nocase(S("ReTr"), "RETR"));
	assert_false(words_equal_nocase(S("RET"), "RETR"));
	assert_false(words_equal_nocase(S("RETRX"), "RETR"));
	assert_false(words_equal_nocase("RETR", 0, "RETR"));
	assert_true(words_equal_nocase("", 0, ""));
	/* only ASCII letters fold: 0xe9 is not 'I' */
	assert_false(words_equal_nocase(S("\xe9"), "I"));
}

struct dec_case {
	const char *in;
	size_t len;
	uint64_t max;
	int rc;
	uint64_t value;
};

static const struct dec_case dec_cases[] = {
	{S("0"), 10, 0, 0},
	{S("10"), 10, 0, 10},
	{S("11"), 10, -1, 0},
	{S(""), 10, -1, 0},
	{S("-1"), 10, -1, 0},
	{S("+1"), 10, -1, 0},
	{S("1 "), 10, -1, 0},
	{S("1a"), 10, -1, 0},
	{S("18446744073709551615"), UINT64_MAX, 0, UINT64_MAX},
	{S("18446744073709551616"), UINT64_MAX, -1, 0},
	{S("99999999999999999999999"), UINT64_MAX, -1, 0},
	{S("4294967295"), UINT32_MAX, 0, UINT32_MAX},
	{S("4294967296"), UINT32_MAX, -1, 0},
	{S("007"), 10, 0, 7},
};

static void test_decimal(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dec_cases) / sizeof(dec_cases[0]); i++) {
		const struct dec_case *c = &dec_cases[i];
		uint64_t v = 12345;
		assert_int_equal(words_parse_decimal(c->in, c->len, c->max, &v), c->rc);
		if (c->rc == 0)
			assert_int_equal(v, c->value);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_equal_nocase),
		cmocka_unit_test(test_decimal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
