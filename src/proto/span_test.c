/* span_test: trimming, literal comparison and separator cutting. Inputs
 * are copied into heap blocks of exactly their length (no NUL after them),
 * so ASan catches any read past the span. */
#include "proto/span.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"

#define S(x) x, sizeof(x) - 1

/* An exact-size copy of [p, p + len): nothing readable after it. */
static char *exact(const char *p, size_t len)
{
	char *q = xmalloc(len);
	if (len > 0)
		memcpy(q, p, len);
	return q;
}

static void assert_span(struct span s, const char *want)
{
	assert_int_equal(s.len, strlen(want));
	if (s.len > 0)
		assert_memory_equal(s.p, want, s.len);
}

static void test_is_wsp(void **state)
{
	(void)state;
	assert_true(span_is_wsp(' '));
	assert_true(span_is_wsp('\t'));
	/* WSP only: line ends and the other C white space are not trimmed. */
	static const char not_wsp[] = {'\r', '\n', '\v', '\f', '\0', 'a', ';', '\xa0'};
	for (size_t i = 0; i < sizeof(not_wsp); i++)
		assert_false(span_is_wsp(not_wsp[i]));
}

/* The trimmed result is in[offset, offset + want_len). */
struct trim_case {
	const char *in;
	size_t len;
	size_t offset, want_len;
};

static const struct trim_case trim_cases[] = {
	{S(""), 0, 0},
	{S("a"), 0, 1},
	{S("   "), 3, 0},
	{S("\t \t"), 3, 0},
	{S(" a"), 1, 1},
	{S("a\t"), 0, 1},
	{S(" \t a b \t "), 3, 3},
	{S("\ra\n"), 0, 3},
	{S(" \r\n "), 1, 2},
	{S("\va\f"), 0, 3},
	{S("a\0 "), 0, 2},
	{S("\0 "), 0, 1},
};

static void test_trim(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(trim_cases) / sizeof(trim_cases[0]); i++) {
		const struct trim_case *c = &trim_cases[i];
		char *in = exact(c->in, c->len);
		struct span s = span_trim(in, c->len);
		assert_int_equal(s.len, c->want_len);
		if (s.len > 0)
			assert_ptr_equal(s.p, in + c->offset);
		free(in);
	}
	/* Only len bytes are looked at. */
	assert_span(span_trim("ab  ", 1), "a");
	assert_int_equal(span_trim(NULL, 0).len, 0);
}

struct eq_case {
	const char *in;
	size_t len;
	const char *lit;
	bool eq, ieq;
};

static const struct eq_case eq_cases[] = {
	{S(""), "", true, true},
	{S("id"), "id", true, true},
	{S("ID"), "id", false, true},
	{S("MailTo"), "mailto", false, true},
	{S("i"), "id", false, false},
	{S("idx"), "id", false, false},
	{S("id "), "id", false, false},
	{S(" id"), "id", false, false},
	{S("i\0"), "id", false, false},
	{S("a\0b"), "a", false, false},
	{S("STSv1"), "STSv1", true, true},
	{S("stsv1"), "STSv1", false, true},
	{S("\xc4"), "\xe4", false, false}, /* ASCII case only */
	{S("_"), "\x7f", false, false},
	{S("@"), "`", false, false}, /* 0x40 and 0x60 differ by the case bit */
	{S("["), "{", false, false},
};

static void test_eq(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(eq_cases) / sizeof(eq_cases[0]); i++) {
		const struct eq_case *c = &eq_cases[i];
		char *in = exact(c->in, c->len);
		struct span s = {in, c->len};
		assert_int_equal(span_eq(s, c->lit), c->eq);
		assert_int_equal(span_ieq(s, c->lit), c->ieq);
		free(in);
	}
	/* An empty span may have no pointer at all. */
	assert_true(span_eq((struct span){NULL, 0}, ""));
	assert_true(span_ieq((struct span){NULL, 0}, ""));
	assert_false(span_eq((struct span){NULL, 0}, "a"));
	assert_false(span_ieq((struct span){NULL, 0}, "a"));
}

struct next_case {
	const char *in;
	size_t len;
	char sep;
	const char *parts[6]; /* NULL-terminated */
};

static const struct next_case next_cases[] = {
	{S(""), ';', {NULL}},
	{S("a"), ';', {"a", NULL}},
	{S(" a "), ';', {"a", NULL}},
	{S("a;b"), ';', {"a", "b", NULL}},
	{S("a; b ;;\tc\t;"), ';', {"a", "b", "", "c", NULL}},
	{S(";"), ';', {"", NULL}},
	{S(" ; "), ';', {"", "", NULL}},
	{S("x=1, y=2"), ',', {"x=1", "y=2", NULL}},
	{S("a;b"), ',', {"a;b", NULL}},
};

static void test_next(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(next_cases) / sizeof(next_cases[0]); i++) {
		const struct next_case *c = &next_cases[i];
		char *in = exact(c->in, c->len);
		const char *p = in, *end = in + c->len;
		size_t n = 0;
		while (p < end) {
			const char *before = p;
			assert_non_null(c->parts[n]);
			assert_span(span_next(&p, end, c->sep), c->parts[n]);
			assert_true(p > before && p <= end);
			n++;
		}
		assert_null(c->parts[n]);
		assert_ptr_equal(p, end);
		free(in);
	}
	/* At the end: an empty part, and the position stays. */
	const char *t = "a";
	const char *p = t + 1;
	struct span s = span_next(&p, t + 1, ';');
	assert_int_equal(s.len, 0);
	assert_ptr_equal(p, t + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_wsp),
		cmocka_unit_test(test_trim),
		cmocka_unit_test(test_eq),
		cmocka_unit_test(test_next),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
