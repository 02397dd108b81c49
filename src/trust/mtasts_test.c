/* mtasts_test: the _mta-sts TXT parser (RFC 8461 3.1 examples, field
 * order, id bounds, extensions, blanks), the choice among several TXT
 * records, the policy parser (RFC examples, LF and CRLF, missing and
 * repeated fields, max_age bounds, mx patterns, size and count limits, NUL
 * bytes) and the MX matcher (RFC 8461 4.1 wildcards). Each parser case is
 * also run from an exactly sized heap copy and from every prefix. */
#include "trust/mtasts.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* An exactly sized heap copy, so that an over-read shows under ASan. */
static char *copy_of(const char *s, size_t len)
{
	char *c = malloc(len ? len : 1);
	assert_non_null(c);
	memcpy(c, s, len);
	return c;
}

struct txt_case {
	const char *in;
	int rc;
	const char *id;
};

static const struct txt_case txt_cases[] = {
	/* RFC 8461 3.1 example. */
	{.in = "v=STSv1; id=20160831085700Z;", .id = "20160831085700Z"},
	{.in = "v=STSv1;id=abc", .id = "abc"},
	{.in = "v=STSv1 \t;\t id=abc \t; ", .id = "abc"},
	/* 32 characters, the most an id may have; 33 are too many. */
	{.in = "v=STSv1; id=0123456789abcdefABCDEF0123456789",
	 .id = "0123456789abcdefABCDEF0123456789"},
	{.in = "v=STSv1; id=0123456789abcdefABCDEF0123456789a", .rc = -1},
	/* Extensions: anywhere after v, ignored when well-formed. */
	{.in = "v=STSv1; ext=1; id=x9; other.name-2_x=a:b/c", .id = "x9"},
	{.in = "v=STSv1; id=first; id=second", .id = "first"},
	{.in = "v=STSv1; id=first; id=not-alnum!", .id = "first"},
	/* Refused. */
	{.in = "v=STSv1", .rc = -1},
	{.in = "v=STSv1;", .rc = -1},
	{.in = "v=STSv1; ", .rc = -1},
	{.in = "id=abc; v=STSv1", .rc = -1},
	{.in = " v=STSv1; id=abc", .rc = -1},
	{.in = "v=STSv10; id=abc", .rc = -1},
	{.in = "v=stsv1; id=abc", .rc = -1},
	{.in = "v = STSv1; id=abc", .rc = -1},
	{.in = "v=STSv1; id = abc", .rc = -1},
	{.in = "v=STSv1; ID=abc", .rc = -1},
	{.in = "v=STSv1; id=", .rc = -1},
	{.in = "v=STSv1; id=ab-c", .rc = -1},
	{.in = "v=STSv1; id=ab c", .rc = -1},
	{.in = "v=STSv1;; id=abc", .rc = -1},
	{.in = "v=STSv1; id=abc;;", .rc = -1},
	{.in = "v=STSv1; id=abc; junk", .rc = -1},
	{.in = "v=STSv1; id=abc; x=a=b", .rc = -1},
	{.in = "v=STSv1; id=abc; x=", .rc = -1},
	{.in = "v=STSv1; id=abc; _x=1", .rc = -1},
	{.in = "v=STSv1; id=abc; x=\x7f", .rc = -1},
	{.in = "", .rc = -1},
};

static void test_txt_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < COUNT(txt_cases); i++) {
		const struct txt_case *c = &txt_cases[i];
		size_t len = strlen(c->in);
		char *buf = copy_of(c->in, len);
		char id[MTASTS_ID_SIZE];
		const char *err = NULL;
		int rc = mtasts_parse_txt(buf, len, id, sizeof(id), &err);
		if (rc != c->rc)
			fail_msg("%s: rc %d, expected %d (%s)", c->in, rc, c->rc, err ? err : "");
		if (rc == 0) {
			assert_string_equal(id, c->id);
			assert_true(mtasts_is_txt_record(buf, len));
		} else {
			assert_non_null(err);
			assert_string_equal(id, "");
		}
		for (size_t k = 0; k < len; k++)
			(void)mtasts_parse_txt(buf, k, id, sizeof(id), NULL);
		free(buf);
	}
}

static void test_txt_limits(void **state)
{
	(void)state;
	char id[MTASTS_ID_SIZE];
	const char *err = NULL;
	/* NUL bytes are not in the record alphabet. */
	assert_int_equal(mtasts_parse_txt("v=STSv1; id=ab\0c", 16, id, sizeof(id), &err), -1);
	assert_int_equal(mtasts_parse_txt("v=STSv1; id=abc; x=\0", 20, id, sizeof(id), &err), -1);
	assert_int_equal(mtasts_parse_txt("v=STSv1\0; id=abc", 16, id, sizeof(id), &err), -1);
	/* The id must fit the caller's buffer. */
	assert_int_equal(mtasts_parse_txt("v=STSv1; id=abc", 15, id, 4, &err), 0);
	assert_string_equal(id, "abc");
	assert_int_equal(mtasts_parse_txt("v=STSv1; id=abcd", 16, id, 4, &err), -1);
	assert_string_equal(err, "id buffer too small");
	assert_string_equal(id, "");
	assert_int_equal(mtasts_parse_txt("v=STSv1; id=abcd", 16, id, 0, NULL), -1);
}

static void test_txt_pick(void **state)
{
	(void)state;
	char id[MTASTS_ID_SIZE];
	const char *err = NULL;
	const char *const recs[] = {
		"v=spf1 -all", "v=STSv1; id=one", "v=STSv10; id=x", "v=STSv1; id=two",
		"v=STSv1; bad",
	};
	size_t lens[COUNT(recs)];
	for (size_t i = 0; i < COUNT(recs); i++)
		lens[i] = strlen(recs[i]);
	/* Other records are dropped before counting. */
	assert_int_equal(mtasts_pick_txt(recs, lens, 3, id, sizeof(id), &err), 0);
	assert_string_equal(id, "one");
	assert_int_equal(mtasts_pick_txt(recs + 2, lens + 2, 2, id, sizeof(id), &err), 0);
	assert_string_equal(id, "two");
	/* Two STSv1 records, even one of them invalid: no policy. */
	assert_int_equal(mtasts_pick_txt(recs, lens, 4, id, sizeof(id), &err), 1);
	assert_string_equal(err, "several v=STSv1 records");
	assert_string_equal(id, "");
	assert_int_equal(mtasts_pick_txt(recs + 3, lens + 3, 2, id, sizeof(id), &err), 1);
	/* The only STSv1 record is invalid, or there is none. */
	assert_int_equal(mtasts_pick_txt(recs + 4, lens + 4, 1, id, sizeof(id), &err), -1);
	assert_int_equal(mtasts_pick_txt(recs, lens, 1, id, sizeof(id), &err), -1);
	assert_string_equal(err, "no v=STSv1 record");
	assert_int_equal(mtasts_pick_txt(NULL, NULL, 0, id, sizeof(id), &err), -1);
}

struct policy_case {
	const char *in;
	int rc;
	enum mtasts_mode mode;
	unsigned long max_age;
	size_t mx_count;
	const char *mx0, *mx1;
};

static const struct policy_case policy_cases[] = {
	/* RFC 8461 3.2 example, with its CRLF line ends. */
	{.in = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
	       "mx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
	 .mode = MTASTS_MODE_ENFORCE, .max_age = 604800, .mx_count = 3,
	 .mx0 = "mail.example.com", .mx1 = "*.example.net"},
	/* LF, no final line end, any order; what `konvert dns-records` prints. */
	{.in = "version: STSv1\nmode: testing\nmx: mx.example.org\nmax_age: 604800\n",
	 .mode = MTASTS_MODE_TESTING, .max_age = 604800, .mx_count = 1,
	 .mx0 = "mx.example.org"},
	{.in = "max_age: 86400\r\nmx: a.example\nmode: testing\r\nversion: STSv1",
	 .mode = MTASTS_MODE_TESTING, .max_age = 86400, .mx_count = 1, .mx0 = "a.example"},
	/* Blanks after ':' and at the line end; empty lines skipped. */
	{.in = "\nversion:STSv1 \r\n\r\nmode:\t enforce\t\nmx:  MX.Example.COM. \nmax_age:1\n\n",
	 .mode = MTASTS_MODE_ENFORCE, .max_age = 1, .mx_count = 1, .mx0 = "mx.example.com"},
	/* mode none needs no mx. */
	{.in = "version: STSv1\nmode: none\nmax_age: 0\n", .mode = MTASTS_MODE_NONE},
	/* Unknown fields ignored (any value, UTF-8 too); first instance wins;
	 * a repeated mx is kept once. */
	{.in = "version: STSv1\nmode: enforce\nmode: none\nmax_age: 5\nmax_age: x\n"
	       "version: STSv2\nfoo: b=a;r \xc3\xa9\nMode: bogus\nx.y_z-1:\n"
	       "mx: a.example\nmx: A.EXAMPLE.\nmx: *.b.example\n",
	 .mode = MTASTS_MODE_ENFORCE, .max_age = 5, .mx_count = 2, .mx0 = "a.example",
	 .mx1 = "*.b.example"},
	/* max_age bounds: at most 10 digits, capped at one year. */
	{.in = "version: STSv1\nmode: none\nmax_age: 31557600\n", .max_age = 31557600},
	{.in = "version: STSv1\nmode: none\nmax_age: 31557601\n", .max_age = 31557600},
	{.in = "version: STSv1\nmode: none\nmax_age: 9999999999\n", .max_age = 31557600},
	{.in = "version: STSv1\nmode: none\nmax_age: 0000000007\n", .max_age = 7},
	{.in = "version: STSv1\nmode: none\nmax_age: 99999999999\n", .rc = -1},
	{.in = "version: STSv1\nmode: none\nmax_age: -1\n", .rc = -1},
	{.in = "version: STSv1\nmode: none\nmax_age: +1\n", .rc = -1},
	{.in = "version: STSv1\nmode: none\nmax_age: 1e3\n", .rc = -1},
	{.in = "version: STSv1\nmode: none\nmax_age: 1 2\n", .rc = -1},
	{.in = "version: STSv1\nmode: none\nmax_age:\n", .rc = -1},
	/* Missing or bad required fields. */
	{.in = "mode: enforce\nmx: a.example\nmax_age: 1\n", .rc = -1},
	{.in = "version: STSv1\nmx: a.example\nmax_age: 1\n", .rc = -1},
	{.in = "version: STSv1\nmode: enforce\nmx: a.example\n", .rc = -1},
	{.in = "version: STSv1\nmode: enforce\nmax_age: 1\n", .rc = -1},
	{.in = "version: STSv1\nmode: testing\nmax_age: 1\n", .rc = -1},
	{.in = "version: STSv2\nmode: none\nmax_age: 1\n", .rc = -1},
	{.in = "version: stsv1\nmode: none\nmax_age: 1\n", .rc = -1},
	{.in = "version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n", .rc = -1},
	{.in = "version: STSv1\nmode: report\nmx: a.example\nmax_age: 1\n", .rc = -1},
	{.in = "version: STSv1\nmode: bogus\nmode: enforce\nmx: a\nmax_age: 1\n", .rc = -1},
	{.in = "Version: STSv1\nmode: none\nmax_age: 1\n", .rc = -1},
	/* Malformed lines. */
	{.in = "version: STSv1\nmode: none\nmax_age: 1\njunk\n", .rc = -1},
	{.in = "version: STSv1\nmode : none\nmax_age: 1\n", .rc = -1},
	{.in = " version: STSv1\nmode: none\nmax_age: 1\n", .rc = -1},
	{.in = "version: STSv1\n: x\nmode: none\nmax_age: 1\n", .rc = -1},
	{.in = "version: STSv1\rmode: none\rmax_age: 1\r", .rc = -1},
	{.in = "version: STSv1\nmode: none\r\r\nmax_age: 1\n", .rc = -1},
	{.in = "version: STSv1\nmode: none\nmax_age: 1\nx: a\x01\n", .rc = -1},
	/* mx patterns. */
	{.in = "version: STSv1\nmode: enforce\nmax_age: 1\nmx: *.\n", .rc = -1},
	{.in = "version: STSv1\nmode: enforce\nmax_age: 1\nmx: *\n", .rc = -1},
	{.in = "version: STSv1\nmode: enforce\nmax_age: 1\nmx: a.*.example\n", .rc = -1},
	{.in = "version: STSv1\nmode: enforce\nmax_age: 1\nmx: **.example\n", .rc = -1},
	{.in = "version: STSv1\nmode: enforce\nmax_age: 1\nmx: .example\n", .rc = -1},
	{.in = "version: STSv1\nmode: enforce\nmax_age: 1\nmx: a..example\n", .rc = -1},
	{.in = "version: STSv1\nmode: enforce\nmax_age: 1\nmx: a.example..\n", .rc = -1},
	{.in = "version: STSv1\nmode: enforce\nmax_age: 1\nmx: -a.example\n", .rc = -1},
	{.in = "version: STSv1\nmode: enforce\nmax_age: 1\nmx: a-.example\n", .rc = -1},
	{.in = "version: STSv1\nmode: enforce\nmax_age: 1\nmx: a_b.example\n", .rc = -1},
	{.in = "version: STSv1\nmode: enforce\nmax_age: 1\nmx: a b.example\n", .rc = -1},
	{.in = "version: STSv1\nmode: enforce\nmax_age: 1\nmx: \xc3\xa9.example\n", .rc = -1},
	{.in = "version: STSv1\nmode: enforce\nmax_age: 1\nmx:\n", .rc = -1},
	{.in = "version: STSv1\nmode: none\nmax_age: 1\nmx: bad_\n", .rc = -1},
	{.in = "version: STSv1\nmode: enforce\nmax_age: 1\nmx: x-1.e-x.example\nmx: *.9\n",
	 .mode = MTASTS_MODE_ENFORCE, .max_age = 1, .mx_count = 2, .mx0 = "x-1.e-x.example",
	 .mx1 = "*.9"},
	{.in = "", .rc = -1},
	{.in = "\r\n\n", .rc = -1},
};

static void check_policy(const struct policy_case *c, const char *buf, size_t len)
{
	struct mtasts_policy p;
	const char *err = NULL;
	int rc = mtasts_parse_policy(buf, len, &p, &err);
	if (rc != c->rc)
		fail_msg("%s: rc %d, expected %d (%s)", c->in, rc, c->rc, err ? err : "");
	if (rc != 0) {
		assert_non_null(err);
		assert_int_equal(p.mx_count, 0);
		return;
	}
	assert_int_equal(p.mode, c->mode);
	assert_int_equal(p.max_age, c->max_age);
	assert_int_equal(p.mx_count, c->mx_count);
	if (c->mx0 != NULL)
		assert_string_equal(p.mx[0], c->mx0);
	if (c->mx1 != NULL)
		assert_string_equal(p.mx[1], c->mx1);
}

static void test_policy_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < COUNT(policy_cases); i++) {
		const struct policy_case *c = &policy_cases[i];
		size_t len = strlen(c->in);
		char *buf = copy_of(c->in, len);
		check_policy(c, buf, len);
		struct mtasts_policy p;
		for (size_t k = 0; k < len; k++)
			(void)mtasts_parse_policy(buf, k, &p, NULL);
		free(buf);
	}
}

static void test_policy_limits(void **state)
{
	(void)state;
	struct mtasts_policy p;
	const char *err = NULL;
	static const char head[] = "version: STSv1\nmode: enforce\nmax_age: 1\nmx: a.example\n";
	/* Exactly MTASTS_POLICY_MAX bytes, padded by an unknown field, parse;
	 * one byte more is refused. */
	char *big = malloc(MTASTS_POLICY_MAX + 1);
	assert_non_null(big);
	memcpy(big, head, sizeof(head) - 1);
	memcpy(big + sizeof(head) - 1, "pad: ", 5);
	memset(big + sizeof(head) + 4, 'x', MTASTS_POLICY_MAX + 1 - sizeof(head) - 4);
	assert_int_equal(mtasts_parse_policy(big, MTASTS_POLICY_MAX, &p, &err), 0);
	assert_int_equal(mtasts_parse_policy(big, MTASTS_POLICY_MAX + 1, &p, &err), -1);
	assert_string_equal(err, "policy longer than 65536 bytes");
	free(big);

	/* NUL bytes, wherever they are. */
	char nul[sizeof(head) + 8];
	memcpy(nul, head, sizeof(head));
	assert_int_equal(mtasts_parse_policy(nul, sizeof(head), &p, &err), -1);
	assert_string_equal(err, "NUL byte in policy");
	nul[3] = '\0';
	assert_int_equal(mtasts_parse_policy(nul, sizeof(head) - 1, &p, &err), -1);

	/* MTASTS_MX_MAX distinct patterns fit, one more is refused; repeats
	 * do not count. */
	char many[4096];
	size_t n = (size_t)snprintf(many, sizeof(many), "%s", head);
	for (int i = 1; i < MTASTS_MX_MAX; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "mx: m%d.example\nmx: M%d.example.\n",
				      i, i);
	assert_true(n < sizeof(many) - 64);
	assert_int_equal(mtasts_parse_policy(many, n, &p, &err), 0);
	assert_int_equal(p.mx_count, MTASTS_MX_MAX);
	assert_string_equal(p.mx[MTASTS_MX_MAX - 1], "m31.example");
	n += (size_t)snprintf(many + n, sizeof(many) - n, "mx: *.a.example\n");
	assert_int_equal(mtasts_parse_policy(many, n, &p, &err), -1);
	assert_string_equal(err, "too many mx patterns in policy");

	/* Host name length: 253 bytes (63-byte labels) fit, 254 do not. */
	char name[300];
	memset(name, 'a', sizeof(name));
	for (size_t i = 63; i < sizeof(name); i += 64)
		name[i] = '.';
	char pol[512];
	n = (size_t)snprintf(pol, sizeof(pol), "%smx: *.%.253s.\n", head, name);
	assert_int_equal(mtasts_parse_policy(pol, n, &p, &err), 0);
	assert_int_equal(strlen(p.mx[1]), 255);
	n = (size_t)snprintf(pol, sizeof(pol), "%smx: %.254s\n", head, name);
	assert_int_equal(mtasts_parse_policy(pol, n, &p, &err), -1);
	/* A 64-byte label is refused. */
	n = (size_t)snprintf(pol, sizeof(pol), "%smx: b%.63s\n", head, name);
	assert_int_equal(mtasts_parse_policy(pol, n, &p, &err), -1);
}

struct match_case {
	const char *host;
	bool allowed;
};

static void test_mx_match(void **state)
{
	(void)state;
	static const char pol[] = "version: STSv1\nmode: enforce\nmax_age: 1\n"
				  "mx: mail.example.com\nmx: *.example.net\nmx: *.Sub.Example.ORG.\n";
	static const struct match_case cases[] = {
		{"mail.example.com", true},
		{"MAIL.Example.COM", true},
		{"mail.example.com.", true},
		{"mail.example.com..", false},
		{"example.com", false},
		{"x.mail.example.com", false},
		{"mail.example.co", false},
		{"ail.example.com", false},
		/* RFC 8461 4.1: one extra leftmost label, no more, no less. */
		{"mx1.example.net", true},
		{"MX1.EXAMPLE.NET.", true},
		{"example.net", false},
		{".example.net", false},
		{"a.b.example.net", false},
		{"a..example.net", false},
		{"aexample.net", false},
		{"x.sub.example.org", true},
		{"sub.example.org", false},
		{"", false},
		{".", false},
	};
	struct mtasts_policy p;
	assert_int_equal(mtasts_parse_policy(pol, sizeof(pol) - 1, &p, NULL), 0);
	assert_string_equal(p.mx[2], "*.sub.example.org");
	for (size_t i = 0; i < COUNT(cases); i++)
		if (mtasts_is_mx_allowed(&p, cases[i].host) != cases[i].allowed)
			fail_msg("%s: expected %d", cases[i].host, cases[i].allowed);
	/* No patterns (mode none): nothing matches. */
	struct mtasts_policy none = {0};
	assert_false(mtasts_is_mx_allowed(&none, "mail.example.com"));
}

static void test_mode_name(void **state)
{
	(void)state;
	assert_string_equal(mtasts_mode_name(MTASTS_MODE_NONE), "none");
	assert_string_equal(mtasts_mode_name(MTASTS_MODE_TESTING), "testing");
	assert_string_equal(mtasts_mode_name(MTASTS_MODE_ENFORCE), "enforce");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_txt_table),   cmocka_unit_test(test_txt_limits),
		cmocka_unit_test(test_txt_pick),    cmocka_unit_test(test_policy_table),
		cmocka_unit_test(test_policy_limits), cmocka_unit_test(test_mx_match),
		cmocka_unit_test(test_mode_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
