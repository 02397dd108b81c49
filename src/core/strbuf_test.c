/* strbuf_test: appending bytes, strings and formatted text, handing the
 * result over, and the ceiling: an add that does not fit is refused whole,
 * sets over and stops all later adds; capacity never outgrows max. */
#include "core/strbuf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void assert_content(const struct strbuf *b, const char *want, size_t want_len)
{
	assert_int_equal(b->len, want_len);
	assert_non_null(b->p);
	assert_memory_equal(b->p, want, want_len);
	assert_int_equal(b->p[b->len], '\0');
	assert_true(b->cap > b->len);
}

static void test_empty(void **state)
{
	(void)state;
	struct strbuf b;
	strbuf_init(&b, STRBUF_UNBOUNDED);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	assert_false(b.over);
	size_t len = 99;
	char *s = strbuf_take(&b, &len);
	assert_non_null(s);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	free(s);
	assert_null(b.p);
	strbuf_fini(&b); /* on an empty buffer: nothing to free */
	strbuf_fini(&b);
}

static void test_add(void **state)
{
	(void)state;
	struct strbuf b;
	strbuf_init(&b, STRBUF_UNBOUNDED);
	strbuf_add(&b, "ab", 2);
	strbuf_add(&b, NULL, 0);
	strbuf_add(&b, "c\0d", 3); /* NULs are bytes like any other */
	strbuf_add_str(&b, "ef");
	strbuf_add_str(&b, "");
	assert_content(&b, "abc\0def", 7);
	size_t len;
	char *s = strbuf_take(&b, &len);
	assert_int_equal(len, 7);
	assert_memory_equal(s, "abc\0def", 8);
	free(s);
	/* Taken: empty again, and usable. */
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	strbuf_add_str(&b, "x");
	s = strbuf_take(&b, NULL);
	assert_string_equal(s, "x");
	free(s);
}

static void test_grow(void **state)
{
	(void)state;
	struct strbuf b;
	char want[5000];
	strbuf_init(&b, STRBUF_UNBOUNDED);
	for (size_t i = 0; i < sizeof(want); i++) {
		want[i] = (char)('a' + i % 26);
		strbuf_add(&b, &want[i], 1);
	}
	assert_content(&b, want, sizeof(want));
	strbuf_fini(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.max, STRBUF_UNBOUNDED);
}

static void test_printf(void **state)
{
	(void)state;
	struct strbuf b;
	strbuf_init(&b, STRBUF_UNBOUNDED);
	strbuf_printf(&b, "%s=%d;", "n", 42);
	strbuf_printf(&b, "%s", "");
	strbuf_printf(&b, "%llu", 18446744073709551615ull);
	assert_content(&b, "n=42;18446744073709551615", 25);
	/* Longer than the first block and than any fixed scratch array. */
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	strbuf_printf(&b, "[%s]", big);
	assert_int_equal(b.len, 25 + 2 + sizeof(big) - 1);
	assert_int_equal(b.p[25], '[');
	assert_int_equal(b.p[b.len - 1], ']');
	assert_int_equal(b.p[b.len], '\0');
	assert_int_equal(strlen(b.p), b.len);
	strbuf_fini(&b);
}

struct max_case {
	size_t max;
	const char *adds[4]; /* NULL-terminated */
	const char *want;
	bool over;
};

static const struct max_case max_cases[] = {
	{0, {NULL}, "", false},
	{0, {"", NULL}, "", false},
	{0, {"a", NULL}, "", true},
	{3, {"abc", NULL}, "abc", false},
	{3, {"ab", "c", "", NULL}, "abc", false},
	{3, {"abcd", NULL}, "", true},
	/* Refused whole, not cut; and nothing after it goes in, even a fit. */
	{3, {"ab", "cd", "x", NULL}, "ab", true},
	{3, {"ab", "cd", "", NULL}, "ab", true},
};

static void test_max(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(max_cases) / sizeof(max_cases[0]); i++) {
		const struct max_case *c = &max_cases[i];
		struct strbuf b;
		strbuf_init(&b, c->max);
		for (size_t k = 0; c->adds[k] != NULL; k++)
			strbuf_add_str(&b, c->adds[k]);
		assert_int_equal(b.over, c->over);
		assert_int_equal(b.len, strlen(c->want));
		if (b.len > 0)
			assert_memory_equal(b.p, c->want, b.len);
		assert_true(b.cap <= c->max + 1);
		if (c->over) {
			strbuf_fini(&b);
			assert_false(b.over);
			assert_int_equal(b.max, c->max);
		} else {
			char *s = strbuf_take(&b, NULL);
			assert_string_equal(s, c->want);
			free(s);
		}
	}
}

static void test_max_printf(void **state)
{
	(void)state;
	struct strbuf b;
	strbuf_init(&b, 8);
	strbuf_printf(&b, "%d", 1234);
	strbuf_printf(&b, "%d", 56789); /* 9 > 8: refused */
	assert_true(b.over);
	assert_content(&b, "1234", 4);
	strbuf_printf(&b, "%d", 5);
	strbuf_add_str(&b, "6");
	assert_content(&b, "1234", 4);
	strbuf_fini(&b);
	/* An exact fit, formatted straight into the last byte before the NUL. */
	strbuf_init(&b, 8);
	strbuf_printf(&b, "%s", "12345678");
	assert_false(b.over);
	assert_content(&b, "12345678", 8);
	assert_int_equal(b.cap, 9);
	strbuf_fini(&b);
}

/* Capacity doubles but stops at max + 1; SIZE_MAX means unbounded. */
static void test_capacity(void **state)
{
	(void)state;
	struct strbuf b;
	char chunk[257];
	memset(chunk, 'y', sizeof(chunk));
	strbuf_init(&b, 300);
	strbuf_add(&b, chunk, 10);
	assert_int_equal(b.cap, 256);
	strbuf_add(&b, chunk, 257);
	assert_int_equal(b.cap, 301);
	assert_false(b.over);
	strbuf_fini(&b);

	/* Sizes past the ceiling or that would wrap: refused before any copy
	 * or allocation. */
	static const size_t huge[] = {SIZE_MAX - 1, SIZE_MAX};
	for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		strbuf_init(&b, SIZE_MAX);
		assert_int_equal(b.max, STRBUF_UNBOUNDED);
		strbuf_add(&b, "z", 1);
		strbuf_add(&b, chunk, huge[i]);
		assert_true(b.over);
		assert_content(&b, "z", 1);
		strbuf_fini(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_max),
		cmocka_unit_test(test_max_printf),
		cmocka_unit_test(test_capacity),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
