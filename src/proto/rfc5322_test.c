/* Tests for proto/rfc5322: address lists as sendmail -t meets them, and
 * header walking with folded fields. Each list also runs cut at every
 * length (nothing read past len, no crash). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/rfc5322.h"

struct collect {
	char out[2048];
	size_t n;
	int stop_after;
	int seen;
};

static bool collect_cb(void *arg, const char *addr, size_t len)
{
	struct collect *c = arg;
	int k = snprintf(c->out + c->n, sizeof(c->out) - c->n, "%s%.*s", c->n ? "|" : "", (int)len,
			 addr);
	c->n += (size_t)k;
	c->seen++;
	return c->stop_after == 0 || c->seen < c->stop_after;
}

static const struct {
	const char *in;
	int rc;
	const char *want;
} cases[] = {
	{"a@x.test", 1, "a@x.test"},
	{"  a@x.test , b@y.test  ", 2, "a@x.test|b@y.test"},
	{"Alice Example <alice@x.test>", 1, "alice@x.test"},
	{"\"Doe, John\" <jd@x.test>, bob@y.test", 2, "jd@x.test|bob@y.test"},
	{"team: a@x.test, B <b@x.test>; c@y.test", 3, "a@x.test|b@x.test|c@y.test"},
	{"undisclosed-recipients:;", 0, ""},
	{"a@x.test (Alice, the \"boss\"), (c) b@y.test", 2, "a@x.test|b@y.test"},
	{"<@relay.test,@r2.test:old@x.test>", 1, "old@x.test"},
	{"\"a b\"@x.test", 1, "\"a b\"@x.test"},
	{"a@x.test,\r\n\tb@y.test", 2, "a@x.test|b@y.test"},
	{"Name <a@x.test", -1, ""},
	{"\"unterminated <a@x.test>", -1, ""},
	{"(open a@x.test", -1, ""},
	{"justaword", 0, ""},
	{",,,", 0, ""},
	{"", 0, ""},
	{"Ünïcode <ü@exämple.test>", 1, "ü@exämple.test"},
};

static void test_addresses(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct collect c = {0};
		int rc = rfc5322_addresses(cases[i].in, strlen(cases[i].in), 256, collect_cb, &c);
		if (rc != cases[i].rc)
			fail_msg("case %zu '%s': rc %d, want %d", i, cases[i].in, rc, cases[i].rc);
		if (rc >= 0 && strcmp(c.out, cases[i].want) != 0)
			fail_msg("case %zu: got '%s', want '%s'", i, c.out, cases[i].want);
		/* Every prefix: bounded reads, no crash (ASan checks). */
		for (size_t cut = 0; cut < strlen(cases[i].in); cut++) {
			char *copy = malloc(cut ? cut : 1);
			memcpy(copy, cases[i].in, cut);
			struct collect c2 = {0};
			(void)rfc5322_addresses(copy, cut, 256, collect_cb, &c2);
			free(copy);
		}
	}
}

static void test_limits_and_stop(void **state)
{
	(void)state;
	struct collect c = {0};
	assert_int_equal(rfc5322_addresses("abcdefghij@x.test", 17, 10, collect_cb, &c), -1);
	struct collect s = {.stop_after = 1};
	assert_int_equal(rfc5322_addresses("a@x.test, b@x.test", 18, 256, collect_cb, &s), 1);
	assert_string_equal(s.out, "a@x.test");
}

static void test_header_fields(void **state)
{
	(void)state;
	const char msg[] = "From: a@x.test\n"
			   "To: b@y.test,\n"
			   " c@y.test\n"
			   "Bcc: hidden@z.test\r\n"
			   "X-Bad line without colon\n"
			   "Subject: hi\n"
			   "\n"
			   "Body: not a header\n";
	size_t hend = rfc5322_header_end(msg, strlen(msg));
	assert_int_equal(hend, (size_t)(strstr(msg, "\n\nBody") - msg) + 2);
	size_t pos = 0, fs, fe, nl, vl;
	const char *name, *val;
	const char *want[] = {"From", "To", "Bcc", "Subject"};
	size_t k = 0;
	while (rfc5322_next_field(msg, hend, &pos, &name, &nl, &val, &vl, &fs, &fe)) {
		assert_true(k < 4);
		assert_true(rfc5322_name_is(name, nl, want[k]));
		if (k == 1)
			assert_memory_equal(val, " b@y.test,\n c@y.test", vl);
		if (k == 2) {
			assert_memory_equal(msg + fs, "Bcc: hidden@z.test\r\n", fe - fs);
			assert_int_equal(vl, strlen(" hidden@z.test"));
		}
		k++;
	}
	assert_int_equal(k, 4);
	assert_true(rfc5322_name_is("bCc", 3, "Bcc"));
	assert_false(rfc5322_name_is("Bc", 2, "Bcc"));
	assert_int_equal(rfc5322_header_end("No: body", 8), 8);
	assert_int_equal(rfc5322_header_end("\r\nbody", 6), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_limits_and_stop),
		cmocka_unit_test(test_header_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
