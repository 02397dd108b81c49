/* dkim_canon_test: RFC 6376 3.4.5 examples (headers and body, both
 * canonicalisations), stored LF and wire CRLF giving the same hash,
 * every split of the input, trailing whitespace and empty lines, empty
 * bodies and l=. Body hashes are checked against SHA-256 of the expected
 * canonical text. */
#include "trust/dkim_canon.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "core/alloc.h"

struct hdr_case {
	enum dkim_canon c;
	const char *in;
	const char *out; /* with the final CRLF */
};

static const struct hdr_case hdr_cases[] = {
	/* RFC 6376 3.4.5 */
	{ .c = DKIM_CANON_RELAXED, .in = "A: X", .out = "a:X\r\n" },
	{ .c = DKIM_CANON_RELAXED, .in = "B : Y\t\r\n\tZ  ", .out = "b:Y Z\r\n" },
	{ .c = DKIM_CANON_SIMPLE, .in = "A: X", .out = "A: X\r\n" },
	{ .c = DKIM_CANON_SIMPLE, .in = "B : Y\t\r\n\tZ  ", .out = "B : Y\t\r\n\tZ  \r\n" },
	/* Stored LF folds give the same result. */
	{ .c = DKIM_CANON_RELAXED, .in = "B : Y\t\n\tZ  ", .out = "b:Y Z\r\n" },
	{ .c = DKIM_CANON_SIMPLE, .in = "B : Y\t\n\tZ  ", .out = "B : Y\t\r\n\tZ  \r\n" },
	{ .c = DKIM_CANON_RELAXED, .in = "Subject:", .out = "subject:\r\n" },
	{ .c = DKIM_CANON_RELAXED, .in = "Subject: \t ", .out = "subject:\r\n" },
	/* A ':' inside the value keeps the space after it. */
	{ .c = DKIM_CANON_RELAXED, .in = "X-A: b: c", .out = "x-a:b: c\r\n" },
	{ .c = DKIM_CANON_RELAXED, .in = "DKIM-Signature: v=1;\n b=", .out =
	  "dkim-signature:v=1; b=\r\n" },
};

static void test_headers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(hdr_cases) / sizeof(hdr_cases[0]); i++) {
		const struct hdr_case *c = &hdr_cases[i];
		size_t len = strlen(c->in), olen = strlen(c->out);
		char *out = xmalloc(olen);
		long n;

		n = dkim_canon_header(c->c, c->in, len, true, out, olen);
		assert_int_equal(n, (long)olen);
		assert_memory_equal(out, c->out, olen);
		/* Without CRLF, and one byte short refused. */
		assert_int_equal(dkim_canon_header(c->c, c->in, len, false, out, olen),
				 (long)olen - 2);
		assert_int_equal(dkim_canon_header(c->c, c->in, len, true, out, olen - 1), -1);
		assert_true(dkim_canon_header_max(len) >= olen);
		free(out);
	}
	char out[8];
	assert_int_equal(dkim_canon_header(DKIM_CANON_RELAXED, "nocolon", 7, true, out, 8), -1);
}

struct body_case {
	const char *why;
	enum dkim_canon c;
	int64_t limit;
	const char *in;	 /* stored form (LF); also tried as CRLF */
	const char *out; /* canonical text hashed */
	uint64_t total;	 /* canonical length; 0: strlen(out) */
};

static const struct body_case body_cases[] = {
	/* RFC 6376 3.4.5 */
	{ .why = "rfc relaxed", .c = DKIM_CANON_RELAXED, .limit = -1,
	  .in = " C \nD \t E\n\n\n", .out = " C\r\nD E\r\n" },
	{ .why = "rfc simple", .c = DKIM_CANON_SIMPLE, .limit = -1,
	  .in = " C \nD \t E\n\n\n", .out = " C \r\nD \t E\r\n" },
	{ .why = "empty relaxed", .c = DKIM_CANON_RELAXED, .limit = -1, .in = "", .out = "" },
	{ .why = "empty simple", .c = DKIM_CANON_SIMPLE, .limit = -1, .in = "", .out = "\r\n" },
	{ .why = "only empty lines relaxed", .c = DKIM_CANON_RELAXED, .limit = -1,
	  .in = "\n\n\n", .out = "" },
	{ .why = "only empty lines simple", .c = DKIM_CANON_SIMPLE, .limit = -1,
	  .in = "\n\n\n", .out = "\r\n" },
	{ .why = "whitespace lines at end relaxed", .c = DKIM_CANON_RELAXED, .limit = -1,
	  .in = "a\n \n\t\n", .out = "a\r\n" },
	{ .why = "whitespace lines at end simple kept", .c = DKIM_CANON_SIMPLE, .limit = -1,
	  .in = "a\n \n\t\n", .out = "a\r\n \r\n\t\r\n" },
	{ .why = "no final line end relaxed", .c = DKIM_CANON_RELAXED, .limit = -1,
	  .in = "a b", .out = "a b\r\n" },
	{ .why = "no final line end simple", .c = DKIM_CANON_SIMPLE, .limit = -1,
	  .in = "a b", .out = "a b\r\n" },
	{ .why = "trailing ws no line end", .c = DKIM_CANON_RELAXED, .limit = -1,
	  .in = "a  \t", .out = "a\r\n" },
	{ .why = "inner empty lines kept", .c = DKIM_CANON_RELAXED, .limit = -1,
	  .in = "a\n\n\nb\n\n", .out = "a\r\n\r\n\r\nb\r\n" },
	{ .why = "leading ws relaxed", .c = DKIM_CANON_RELAXED, .limit = -1,
	  .in = "\t\tx\n", .out = " x\r\n" },
	{ .why = "lone CR is text", .c = DKIM_CANON_SIMPLE, .limit = -1,
	  .in = "a\rb\n", .out = "a\rb\r\n" },
	{ .why = "l=3", .c = DKIM_CANON_RELAXED, .limit = 3, .in = "abc\ndef\n",
	  .out = "abc", .total = 4 },
	{ .why = "l=0", .c = DKIM_CANON_RELAXED, .limit = 0, .in = "abc\n", .out = "",
	  .total = 1 },
	{ .why = "l= exact", .c = DKIM_CANON_RELAXED, .limit = 5, .in = "abc\n\n", .out =
	  "abc\r\n", .total = 5 },
	{ .why = "l= beyond", .c = DKIM_CANON_RELAXED, .limit = 100, .in = "abc\n",
	  .out = "abc\r\n", .total = 5 },
	{ .why = "l=0 simple empty", .c = DKIM_CANON_SIMPLE, .limit = 0, .in = "",
	  .out = "", .total = 2 },
};

/* Replaces every LF by CRLF. */
static char *to_crlf(const char *s, size_t *len_out)
{
	size_t n = strlen(s), o = 0;
	char *out = xmalloc(2 * n + 1);

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			out[o++] = '\r';
		out[o++] = s[i];
	}
	*len_out = o;
	return out;
}

static void check_body(const struct body_case *c, const char *in, size_t len, size_t step)
{
	unsigned char want[DKIM_HASH_LEN], got[DKIM_HASH_LEN];
	struct dkim_body b;
	uint64_t total = 0;

	SHA256((const unsigned char *)c->out, strlen(c->out), want);
	assert_int_equal(dkim_body_init(&b, c->c, c->limit), 0);
	for (size_t i = 0; i < len; i += step)
		dkim_body_update(&b, in + i, i + step <= len ? step : len - i);
	assert_int_equal(dkim_body_final(&b, got, &total), 0);
	dkim_body_fini(&b);
	if (memcmp(want, got, sizeof(want)) != 0)
		fail_msg("%s: hash differs (step %zu)", c->why, step);
	if (c->total != 0)
		assert_true(total >= c->total);
	else
		assert_int_equal(total, strlen(c->out));
}

static void test_body(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++) {
		const struct body_case *c = &body_cases[i];
		size_t len = strlen(c->in), clen;
		char *crlf = to_crlf(c->in, &clen);
		size_t max = len > clen ? len : clen;

		for (size_t step = 1; step <= max + 1; step++) {
			check_body(c, c->in, len, step);
			check_body(c, crlf, clen, step);
		}
		free(crlf);
	}
}

/* Known body hashes of the empty body (published in many test suites). */
static void test_empty_known(void **state)
{
	unsigned char h[DKIM_HASH_LEN];
	static const unsigned char relaxed[] = { 0xe3, 0xb0, 0xc4, 0x42 };
	static const unsigned char simple[] = { 0x7e, 0xb7, 0x02, 0x57 };

	(void)state;
	assert_int_equal(dkim_body_hash(DKIM_CANON_RELAXED, -1, "", 0, h, NULL), 0);
	assert_memory_equal(h, relaxed, sizeof(relaxed));
	assert_int_equal(dkim_body_hash(DKIM_CANON_SIMPLE, -1, "", 0, h, NULL), 0);
	assert_memory_equal(h, simple, sizeof(simple));
}

/* A 16 MB body under l=10: the scan stops early and the total only tells
 * that the body is longer than l. */
static void test_big_body_limit(void **state)
{
	size_t n = 16u << 20;
	char *body = xmalloc(n);
	unsigned char h[DKIM_HASH_LEN], want[DKIM_HASH_LEN];
	uint64_t total = 0;

	(void)state;
	for (size_t i = 0; i < n; i++)
		body[i] = i % 80 == 79 ? '\n' : 'x';
	assert_int_equal(dkim_body_hash(DKIM_CANON_RELAXED, 10, body, n, h, &total), 0);
	SHA256((const unsigned char *)"xxxxxxxxxx", 10, want);
	assert_memory_equal(h, want, sizeof(want));
	assert_true(total > 10 && total < 100);
	free(body);
}

static void test_canon_names(void **state)
{
	enum dkim_canon c;

	(void)state;
	assert_int_equal(dkim_canon_parse("simple", 6, &c), 0);
	assert_int_equal(c, DKIM_CANON_SIMPLE);
	assert_int_equal(dkim_canon_parse("relaxed", 7, &c), 0);
	assert_int_equal(c, DKIM_CANON_RELAXED);
	assert_int_equal(dkim_canon_parse("Relaxed", 7, &c), -1);
	assert_int_equal(dkim_canon_parse("simpl", 5, &c), -1);
	assert_string_equal(dkim_canon_name(DKIM_CANON_RELAXED), "relaxed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_empty_known),
		cmocka_unit_test(test_big_body_limit),
		cmocka_unit_test(test_canon_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
