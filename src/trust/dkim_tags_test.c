/* dkim_tags_test: RFC 6376 3.2 tag-list grammar: accepted forms with FWS
 * (CRLF and stored LF folds), every rejected form, the bounds, and each
 * case again on every prefix of an exact-size buffer (so ASan sees any
 * read past the end). */
#include "trust/dkim_tags.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"

struct good_case {
	const char *in;
	size_t count;
	const char *names;  /* space-separated expected names */
	const char *values; /* '|'-separated expected values */
};

static const struct good_case good_cases[] = {
	{ .in = "", .count = 0, .names = "", .values = "" },
	{ .in = "  ", .count = 0, .names = "", .values = "" },
	{ .in = "v=1", .count = 1, .names = "v", .values = "1" },
	{ .in = "v=1;", .count = 1, .names = "v", .values = "1" },
	{ .in = "v=1; ", .count = 1, .names = "v", .values = "1" },
	{ .in = " v = 1 ; a=rsa-sha256", .count = 2, .names = "v a", .values = "1|rsa-sha256" },
	{ .in = "p=", .count = 1, .names = "p", .values = "" },
	{ .in = "p= ;k=rsa", .count = 2, .names = "p k", .values = "|rsa" },
	{ .in = "b=abc\r\n def\r\n\tghi", .count = 1, .names = "b",
	  .values = "abc\r\n def\r\n\tghi" },
	{ .in = "h=from : to :\n subject;\n bh=x", .count = 2, .names = "h bh",
	  .values = "from : to :\n subject|x" },
	{ .in = "a_b1=x y", .count = 1, .names = "a_b1", .values = "x y" },
	{ .in = "n=a=b", .count = 1, .names = "n", .values = "a=b" },
	{ .in = "\r\n v=1", .count = 1, .names = "v", .values = "1" },
};

struct bad_case {
	const char *in;
	size_t len; /* 0: strlen */
	const char *why;
};

static const struct bad_case bad_cases[] = {
	{ .in = "b=abc\n def\n", .why = "bare line end at the end" },
	{ .in = "a=1;;b=2", .why = "empty tag-spec" },
	{ .in = ";", .why = "lone semicolon" },
	{ .in = "a=1;a=2", .why = "duplicate" },
	{ .in = "1a=x", .why = "name starts with digit" },
	{ .in = "a-b=x", .why = "dash in name" },
	{ .in = "=x", .why = "no name" },
	{ .in = "a", .why = "no =" },
	{ .in = "a x=1", .why = "space in name" },
	{ .in = "a=1\nb=2", .why = "bare LF" },
	{ .in = "a=1\r\nb=2", .why = "bare CRLF" },
	{ .in = "a=1\rb", .why = "bare CR" },
	{ .in = "a=x\x01y", .why = "control char" },
	{ .in = "a=x\x80", .why = "8-bit" },
	{ .in = "a=x\0y", .len = 5, .why = "NUL" },
	{ .in = "a=1;\n", .why = "trailing bare LF" },
};

static void check_good(const struct good_case *c)
{
	size_t len = strlen(c->in);
	char *in = xmalloc(len ? len : 1);
	struct dkim_tag_list l;
	const char *err = NULL;
	char names[256], values[256];
	size_t np = 0, vp = 0;

	memcpy(in, c->in, len);
	if (dkim_tags_parse(in, len, &l, &err) != 0)
		fail_msg("refused %s: %s", c->in, err);
	assert_int_equal(l.count, c->count);
	names[0] = values[0] = '\0';
	for (size_t i = 0; i < l.count; i++) {
		np += (size_t)snprintf(names + np, sizeof(names) - np, "%s%.*s", i ? " " : "",
				       (int)l.tags[i].name_len, l.tags[i].name);
		vp += (size_t)snprintf(values + vp, sizeof(values) - vp, "%s%.*s", i ? "|" : "",
				       (int)l.tags[i].value_len, l.tags[i].value);
	}
	assert_string_equal(names, c->names);
	assert_string_equal(values, c->values);
	/* Every prefix parses or fails, in an exact-size copy. */
	for (size_t k = 0; k <= len; k++) {
		char *p = xmalloc(k ? k : 1);
		memcpy(p, c->in, k);
		(void)dkim_tags_parse(p, k, &l, &err);
		free(p);
	}
	free(in);
}

static void test_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++)
		check_good(&good_cases[i]);
}

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		char *in = xmalloc(len);
		struct dkim_tag_list l;
		const char *err = NULL;

		memcpy(in, c->in, len);
		if (dkim_tags_parse(in, len, &l, &err) != -1)
			fail_msg("accepted: %s", c->why);
		assert_non_null(err);
		assert_int_equal(l.count, 0);
		for (size_t k = 0; k < len; k++)
			(void)dkim_tags_parse(in, k, &l, &err);
		free(in);
	}
}

static void test_bounds(void **state)
{
	struct dkim_tag_list l;
	const char *err;
	char *buf = xmalloc(DKIM_TAGS_INPUT_MAX + 16);
	size_t n = 0;

	(void)state;
	/* DKIM_TAGS_MAX tags pass, one more does not. */
	for (int i = 0; i < DKIM_TAGS_MAX; i++)
		n += (size_t)snprintf(buf + n, 32, "t%d=%d;", i, i);
	assert_int_equal(dkim_tags_parse(buf, n, &l, &err), 0);
	assert_int_equal(l.count, DKIM_TAGS_MAX);
	n += (size_t)snprintf(buf + n, 32, "z=1");
	assert_int_equal(dkim_tags_parse(buf, n, &l, &err), -1);
	assert_string_equal(err, "too many tags");

	/* Value length: exactly the maximum, then one more. */
	buf[0] = 'p';
	buf[1] = '=';
	memset(buf + 2, 'A', DKIM_TAG_VALUE_MAX + 1);
	assert_int_equal(dkim_tags_parse(buf, 2 + DKIM_TAG_VALUE_MAX, &l, &err), 0);
	assert_int_equal(l.tags[0].value_len, DKIM_TAG_VALUE_MAX);
	assert_int_equal(dkim_tags_parse(buf, 3 + DKIM_TAG_VALUE_MAX, &l, &err), -1);
	assert_string_equal(err, "tag value too long");

	/* A 100 KB key record is refused before parsing. */
	free(buf);
	buf = xmalloc(100000);
	memset(buf, 'A', 100000);
	memcpy(buf, "v=DKIM1; p=", 11);
	assert_int_equal(dkim_tags_parse(buf, 100000, &l, &err), -1);
	assert_string_equal(err, "tag list too long");

	/* Name length. */
	memset(buf, 'a', DKIM_TAG_NAME_MAX + 1);
	buf[DKIM_TAG_NAME_MAX + 1] = '=';
	assert_int_equal(dkim_tags_parse(buf, DKIM_TAG_NAME_MAX + 2, &l, &err), -1);
	free(buf);
}

static void test_helpers(void **state)
{
	static const char in[] = "b=ab\r\n cd\n\tef; k=rsa";
	struct dkim_tag_list l;
	const char *err;
	char out[16];

	(void)state;
	assert_int_equal(dkim_tags_parse(in, sizeof(in) - 1, &l, &err), 0);
	assert_non_null(dkim_tags_find(&l, "b"));
	assert_null(dkim_tags_find(&l, "B")); /* names are case-sensitive */
	assert_int_equal(dkim_tags_copy_nows(dkim_tags_find(&l, "b"), out, sizeof(out)), 6);
	assert_string_equal(out, "abcdef");
	assert_int_equal(dkim_tags_copy_nows(dkim_tags_find(&l, "b"), out, 6), -1);
	assert_true(dkim_tags_value_is(dkim_tags_find(&l, "k"), "rsa"));
	assert_false(dkim_tags_value_is(dkim_tags_find(&l, "k"), "rs"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
