/* smtp_reply_test: the reply parser, the EHLO reader and the renderer.
 * Each case is a reply given as lines separated by LF; every line is fed
 * from a heap block of exactly its length (ASan sees any over-read). The
 * byte-by-byte run reveals every line one byte at a time: each prefix of
 * each line is fed to a fresh parser primed with the lines before it, and
 * must give a defined answer without reading past its length; the full
 * run must give the table's result. */
#include "proto/smtp_reply.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct reply_case {
	const char *in; /* lines separated by "\n" */
	size_t lines_max, text_max; /* 0: defaults */
	int rc; /* result of the last call made */
	int code;
	const char *enh;
	size_t nlines;
	enum smtp_reply_err err;
	const char *render; /* NULL: not checked */
};

static const struct reply_case cases[] = {
	{ .in = "250 ok", .rc = 1, .code = 250, .enh = "", .nlines = 1, .render = "250 ok" },
	{ .in = "250", .rc = 1, .code = 250, .enh = "", .nlines = 1, .render = "250" },
	{ .in = "220 mx.example.org ESMTP", .rc = 1, .code = 220, .enh = "", .nlines = 1 },
	{ .in = "250-mx\n250-PIPELINING\n250 8BITMIME", .rc = 1, .code = 250, .enh = "",
	  .nlines = 3, .render = "250 mx PIPELINING 8BITMIME" },
	{ .in = "250-a\n250-b", .rc = 0, .code = 250, .enh = "", .nlines = 2 },
	{ .in = "250-", .rc = 0, .code = 250, .enh = "", .nlines = 1 },
	{ .in = "250-\n250 ", .rc = 1, .code = 250, .enh = "", .nlines = 2, .render = "250" },
	{ .in = "550 5.1.1 <bob@example.org>: user unknown", .rc = 1, .code = 550,
	  .enh = "5.1.1", .nlines = 1, .render = "550 5.1.1 <bob@example.org>: user unknown" },
	{ .in = "550-5.1.1 The email account that you tried to reach does\n"
		"550-5.1.1 not exist.\n550 5.1.1  https://support.example/x",
	  .rc = 1, .code = 550, .enh = "5.1.1", .nlines = 3,
	  .render = "550 5.1.1 The email account that you tried to reach does not exist. "
		    "https://support.example/x" },
	{ .in = "451 4.7.1 try later", .rc = 1, .code = 451, .enh = "4.7.1", .nlines = 1 },
	{ .in = "250 2.0.0", .rc = 1, .code = 250, .enh = "2.0.0", .nlines = 1,
	  .render = "250 2.0.0" },
	{ .in = "250 2.123.456 ok", .rc = 1, .code = 250, .enh = "2.123.456", .nlines = 1 },
	/* Not enhanced codes: class mismatch, too many digits, glued text. */
	{ .in = "550 4.1.1 x", .rc = 1, .code = 550, .enh = "", .nlines = 1,
	  .render = "550 4.1.1 x" },
	{ .in = "550 5.1.1234 x", .rc = 1, .code = 550, .enh = "", .nlines = 1 },
	{ .in = "550 5.1.1x", .rc = 1, .code = 550, .enh = "", .nlines = 1 },
	{ .in = "550 5..1 x", .rc = 1, .code = 550, .enh = "", .nlines = 1 },
	{ .in = "550 3.1.1 x", .rc = 1, .code = 550, .enh = "", .nlines = 1 },
	/* Enhanced code only on a later line is not the reply's. */
	{ .in = "550-no\n550 5.1.1 x", .rc = 1, .code = 550, .enh = "", .nlines = 2 },
	/* Control bytes and 8-bit text are kept, and escaped on rendering. */
	{ .in = "554 a\tb\x01\xff\\", .rc = 1, .code = 554, .enh = "", .nlines = 1,
	  .render = "554 a\\x09b\\x01\\xff\\\\" },
	/* Errors. */
	{ .in = "", .rc = -1, .err = SMTP_REPLY_ERR_SYNTAX },
	{ .in = "25", .rc = -1, .err = SMTP_REPLY_ERR_SYNTAX },
	{ .in = "2500 x", .rc = -1, .err = SMTP_REPLY_ERR_SYNTAX },
	{ .in = "250\tx", .rc = -1, .err = SMTP_REPLY_ERR_SYNTAX },
	{ .in = "25a ok", .rc = -1, .err = SMTP_REPLY_ERR_SYNTAX },
	{ .in = " 250 ok", .rc = -1, .err = SMTP_REPLY_ERR_SYNTAX },
	{ .in = "HTTP/1.1 400 Bad", .rc = -1, .err = SMTP_REPLY_ERR_SYNTAX },
	{ .in = "150 x", .rc = -1, .err = SMTP_REPLY_ERR_CODE },
	{ .in = "600 x", .rc = -1, .err = SMTP_REPLY_ERR_CODE },
	{ .in = "099 x", .rc = -1, .err = SMTP_REPLY_ERR_CODE },
	{ .in = "250-a\n251 b", .rc = -1, .code = 250, .nlines = 1,
	  .err = SMTP_REPLY_ERR_MISMATCH },
	{ .in = "250-a\n250-b\n250-c\n250 d", .lines_max = 3, .rc = -1, .code = 250, .nlines = 3,
	  .err = SMTP_REPLY_ERR_TOO_MANY_LINES },
	{ .in = "250-a\n250-b\n250 c", .lines_max = 3, .rc = 1, .code = 250, .nlines = 3 },
	/* text_max counts each line's text plus one. */
	{ .in = "250-abc\n250 defg", .text_max = 9, .rc = 1, .code = 250, .nlines = 2 },
	{ .in = "250-abc\n250 defgh", .text_max = 9, .rc = -1, .code = 250, .nlines = 1,
	  .err = SMTP_REPLY_ERR_TOO_LONG },
	{ .in = "250 abcdefghij", .text_max = 10, .rc = -1, .err = SMTP_REPLY_ERR_TOO_LONG },
};

/* Splits c->in into lines; returns their count. */
static size_t split_lines(const char *in, const char **start, size_t *len, size_t max)
{
	size_t n = 0;
	const char *p = in;

	for (;;) {
		const char *nl = strchr(p, '\n');

		assert_true(n < max);
		start[n] = p;
		len[n] = nl != NULL ? (size_t)(nl - p) : strlen(p);
		n++;
		if (nl == NULL)
			return n;
		p = nl + 1;
	}
}

/* Feeds line from an exact-size heap block. */
static int feed_exact(struct smtp_reply *r, const char *line, size_t len)
{
	char *copy = malloc(len > 0 ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, line, len);
	rc = smtp_reply_feed(r, copy, len);
	free(copy);
	return rc;
}

static void init_for(struct smtp_reply *r, const struct reply_case *c)
{
	smtp_reply_init(r, c->lines_max ? c->lines_max : SMTP_REPLY_LINES_MAX,
			c->text_max ? c->text_max : SMTP_REPLY_TEXT_MAX);
}

static void run_case(const struct reply_case *c)
{
	const char *start[16];
	size_t len[16], n = split_lines(c->in, start, len, 16);
	struct smtp_reply r;
	int rc = 0;

	init_for(&r, c);
	for (size_t i = 0; i < n; i++) {
		rc = feed_exact(&r, start[i], len[i]);
		if (i + 1 < n && rc != 0) {
			print_message("case \"%s\": line %zu gave %d\n", c->in, i, rc);
			fail();
		}
	}
	if (rc != c->rc)
		print_message("case \"%s\": rc %d, want %d (%s)\n", c->in, rc, c->rc,
			      smtp_reply_strerror(r.err));
	assert_int_equal(rc, c->rc);
	assert_int_equal(r.err, c->err);
	assert_int_equal(r.nlines, c->nlines);
	assert_int_equal(r.code, c->code);
	assert_true(smtp_reply_is_complete(&r) == (rc == 1));
	if (c->enh != NULL)
		assert_string_equal(r.enh, c->enh);
	if (c->render != NULL) {
		char out[512];

		assert_int_equal(smtp_reply_render(&r, out, sizeof(out)), strlen(c->render));
		assert_string_equal(out, c->render);
	}
	/* Line texts are what followed "ddd-"/"ddd ". */
	for (size_t i = 0; i < r.nlines; i++) {
		size_t l;
		const char *s = smtp_reply_line(&r, i, &l);

		assert_int_equal(l, len[i] > 4 ? len[i] - 4 : 0);
		assert_memory_equal(s, start[i] + 4, l);
		assert_int_equal(s[l], '\0');
	}
	/* Reset gives a parser as good as new. */
	smtp_reply_reset(&r);
	assert_int_equal(smtp_reply_feed(&r, "221 bye", 7), 1);
	assert_int_equal(r.code, 221);
	assert_int_equal(r.nlines, 1);
	smtp_reply_fini(&r);
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/* Every prefix of every line, after the lines before it. */
static void test_cases_byte_by_byte(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct reply_case *c = &cases[k];
		const char *start[16];
		size_t len[16], n = split_lines(c->in, start, len, 16);

		for (size_t i = 0; i < n; i++) {
			for (size_t cut = 0; cut <= len[i]; cut++) {
				struct smtp_reply r;
				bool ok = true;
				int rc;

				init_for(&r, c);
				for (size_t j = 0; j < i && ok; j++)
					ok = feed_exact(&r, start[j], len[j]) == 0;
				if (!ok) {
					smtp_reply_fini(&r);
					break;
				}
				rc = feed_exact(&r, start[i], cut);
				assert_true(rc >= -1 && rc <= 1);
				/* A prefix shorter than "ddd" never parses. */
				if (cut < 3)
					assert_int_equal(rc, -1);
				if (cut == len[i] && i + 1 == n)
					assert_int_equal(rc, c->rc);
				smtp_reply_fini(&r);
			}
		}
	}
}

/* A peer that never ends its reply fails at the line limit, and memory
 * stays under the text limit. */
static void test_endless_reply(void **state)
{
	struct smtp_reply r;
	int rc = 0;
	size_t i;

	(void)state;
	smtp_reply_init(&r, SMTP_REPLY_LINES_MAX, SMTP_REPLY_TEXT_MAX);
	for (i = 0; i < 100000 && rc == 0; i++)
		rc = smtp_reply_feed(&r, "250-xxxxxxxxxx", 14);
	assert_int_equal(rc, -1);
	assert_int_equal(r.err, SMTP_REPLY_ERR_TOO_MANY_LINES);
	assert_int_equal(i, SMTP_REPLY_LINES_MAX + 1);
	smtp_reply_fini(&r);

	/* Long lines hit the text limit first. */
	{
		char line[1004];

		memset(line, 'y', sizeof(line));
		memcpy(line, "250-", 4);
		smtp_reply_init(&r, 1000, 4096);
		rc = 0;
		for (i = 0; i < 1000 && rc == 0; i++)
			rc = smtp_reply_feed(&r, line, sizeof(line));
		assert_int_equal(rc, -1);
		assert_int_equal(r.err, SMTP_REPLY_ERR_TOO_LONG);
		assert_true(r.text_cap <= 4096);
		assert_int_equal(i, 5);
		smtp_reply_fini(&r);
	}
}

static void test_render_truncation(void **state)
{
	struct smtp_reply r;
	char out[16];
	size_t n;

	(void)state;
	smtp_reply_init(&r, 10, 1024);
	assert_int_equal(smtp_reply_feed(&r, "550 5.1.1 abcdefghijklmnop", 26), 1);
	n = smtp_reply_render(&r, out, sizeof(out));
	assert_int_equal(n, 15);
	assert_string_equal(out, "550 5.1.1 ab...");
	/* Escapes are never cut in half. */
	smtp_reply_reset(&r);
	assert_int_equal(smtp_reply_feed(&r, "550 abcdefg\x01\x02", 13), 1);
	n = smtp_reply_render(&r, out, 16);
	assert_string_equal(out, "550 abcdefg...");
	assert_int_equal(n, strlen(out));
	n = smtp_reply_render(&r, out, 1);
	assert_int_equal(n, 0);
	assert_string_equal(out, "");
	n = smtp_reply_render(&r, out, 4);
	assert_string_equal(out, "...");
	/* Exactly fitting: no marker. */
	smtp_reply_reset(&r);
	assert_int_equal(smtp_reply_feed(&r, "250 abcdefghijk", 15), 1);
	n = smtp_reply_render(&r, out, 16);
	assert_string_equal(out, "250 abcdefghijk");
	smtp_reply_fini(&r);
}

struct ehlo_case {
	const char *in;
	int rc;
	struct smtp_ehlo want;
};

static const struct ehlo_case ehlo_cases[] = {
	{ "250 mx.example.org", 0, { 0 } },
	{ "250-mx.example.org Hello\n250-PIPELINING\n250-SIZE 10240000\n250-8BITMIME\n"
	  "250-SMTPUTF8\n250-DSN\n250-STARTTLS\n250-CHUNKING\n250-BINARYMIME\n"
	  "250-ENHANCEDSTATUSCODES\n250 AUTH PLAIN LOGIN CRAM-MD5",
	  0,
	  { .pipelining = true, .has_size = true, .size_max = 10240000, .eightbitmime = true,
	    .smtputf8 = true, .dsn = true, .starttls = true, .chunking = true,
	    .binarymime = true, .enhancedstatuscodes = true, .has_auth = true,
	    .auth = SMTP_EHLO_AUTH_PLAIN | SMTP_EHLO_AUTH_LOGIN | SMTP_EHLO_AUTH_CRAM_MD5 } },
	/* Case-insensitive, old AUTH= form, SIZE without value, bad SIZE. */
	{ "250-x\n250-pipelining\n250-size\n250-auth=login\n250 Auth scram-sha-256 XOAUTH2 GSSAPI",
	  0,
	  { .pipelining = true, .has_size = true, .has_auth = true,
	    .auth = SMTP_EHLO_AUTH_LOGIN | SMTP_EHLO_AUTH_SCRAM_SHA_256 | SMTP_EHLO_AUTH_XOAUTH2 |
		    SMTP_EHLO_AUTH_OTHER } },
	{ "250-x\n250 SIZE 12x", 0, { .has_size = true } },
	{ "250-x\n250 SIZE 0", 0, { .has_size = true } },
	{ "250-x\n250 SIZE 18446744073709551615", 0,
	  { .has_size = true, .size_max = UINT64_MAX } },
	{ "250-x\n250 SIZE 18446744073709551616", 0, { .has_size = true } },
	/* Keywords must match whole; the greeting line is no keyword. */
	{ "250-PIPELINING\n250-PIPELININGX\n250-8BITMIMEX\n250 STARTTLSX", 0, { 0 } },
	{ "250-x\n250 AUTH", 0, { .has_auth = true } },
	/* Not a 250 or not complete. */
	{ "550 no", -1, { 0 } },
	{ "220 hi", -1, { 0 } },
	{ "250-x\n250-PIPELINING", -1, { 0 } },
};

static void test_ehlo(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(ehlo_cases) / sizeof(ehlo_cases[0]); k++) {
		const struct ehlo_case *c = &ehlo_cases[k];
		const char *start[16];
		size_t len[16], n = split_lines(c->in, start, len, 16);
		struct smtp_reply r;
		struct smtp_ehlo e;

		smtp_reply_init(&r, SMTP_REPLY_LINES_MAX, SMTP_REPLY_TEXT_MAX);
		for (size_t i = 0; i < n; i++)
			(void)feed_exact(&r, start[i], len[i]);
		memset(&e, 0xa5, sizeof(e));
		assert_int_equal(smtp_reply_parse_ehlo(&r, &e), c->rc);
		assert_int_equal(e.pipelining, c->want.pipelining);
		assert_int_equal(e.has_size, c->want.has_size);
		assert_int_equal(e.size_max, c->want.size_max);
		assert_int_equal(e.eightbitmime, c->want.eightbitmime);
		assert_int_equal(e.smtputf8, c->want.smtputf8);
		assert_int_equal(e.dsn, c->want.dsn);
		assert_int_equal(e.starttls, c->want.starttls);
		assert_int_equal(e.chunking, c->want.chunking);
		assert_int_equal(e.binarymime, c->want.binarymime);
		assert_int_equal(e.enhancedstatuscodes, c->want.enhancedstatuscodes);
		assert_int_equal(e.has_auth, c->want.has_auth);
		assert_int_equal(e.auth, c->want.auth);
		smtp_reply_fini(&r);
	}
}

static void test_strerror(void **state)
{
	(void)state;
	for (int e = SMTP_REPLY_ERR_NONE; e <= SMTP_REPLY_ERR_TOO_LONG; e++)
		assert_non_null(smtp_reply_strerror((enum smtp_reply_err)e));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_cases_byte_by_byte),
		cmocka_unit_test(test_endless_reply),
		cmocka_unit_test(test_render_truncation),
		cmocka_unit_test(test_ehlo),
		cmocka_unit_test(test_strerror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
