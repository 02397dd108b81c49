/* spf_record_test: the RFC 7208 4.6.1 grammar: each mechanism with its
 * arguments and cidr lengths, modifiers, and the syntax errors that make
 * a permerror. */
#include "trust/spf_record.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

struct rec_case {
	const char *text;
	int rc;
	size_t terms;
	enum spf_mech mech0;
	enum spf_qual qual0;
	const char *domain0; /* NULL: no domain-spec */
	unsigned cidr4, cidr6;
	const char *redirect, *exp;
};

static const struct rec_case cases[] = {
	{.text = "v=spf1", .terms = 0},
	{.text = "V=SPF1 -ALL", .terms = 1, .mech0 = SPF_MECH_ALL, .qual0 = SPF_QUAL_FAIL},
	{.text = "v=spf1  ~all  ", .terms = 1, .mech0 = SPF_MECH_ALL, .qual0 = SPF_QUAL_SOFTFAIL},
	{.text = "v=spf1 ?all", .terms = 1, .qual0 = SPF_QUAL_NEUTRAL},
	{.text = "v=spf1 ip4:192.0.2.0/24 -all", .terms = 2, .mech0 = SPF_MECH_IP4, .cidr4 = 24,
	 .cidr6 = 128},
	{.text = "v=spf1 ip6:2001:db8::/32", .terms = 1, .mech0 = SPF_MECH_IP6, .cidr4 = 32,
	 .cidr6 = 32},
	{.text = "v=spf1 a", .terms = 1, .mech0 = SPF_MECH_A, .cidr4 = 32, .cidr6 = 128},
	{.text = "v=spf1 a/24//64", .terms = 1, .mech0 = SPF_MECH_A, .cidr4 = 24, .cidr6 = 64},
	{.text = "v=spf1 a//64", .terms = 1, .mech0 = SPF_MECH_A, .cidr4 = 32, .cidr6 = 64},
	{.text = "v=spf1 mx:example.com/30", .terms = 1, .mech0 = SPF_MECH_MX,
	 .domain0 = "example.com", .cidr4 = 30, .cidr6 = 128},
	{.text = "v=spf1 +include:_spf.example.com", .terms = 1, .mech0 = SPF_MECH_INCLUDE,
	 .domain0 = "_spf.example.com", .cidr4 = 32, .cidr6 = 128},
	{.text = "v=spf1 exists:%{ir}.%{v}._spf.%{d}", .terms = 1, .mech0 = SPF_MECH_EXISTS,
	 .domain0 = "%{ir}.%{v}._spf.%{d}", .cidr4 = 32, .cidr6 = 128},
	{.text = "v=spf1 ptr", .terms = 1, .mech0 = SPF_MECH_PTR, .cidr4 = 32, .cidr6 = 128},
	{.text = "v=spf1 -ptr:example.com.", .terms = 1, .mech0 = SPF_MECH_PTR,
	 .qual0 = SPF_QUAL_FAIL, .domain0 = "example.com.", .cidr4 = 32, .cidr6 = 128},
	{.text = "v=spf1 redirect=_spf.example.com", .terms = 0, .redirect = "_spf.example.com"},
	{.text = "v=spf1 -all exp=explain._spf.%{d}", .terms = 1, .exp = "explain._spf.%{d}"},
	{.text = "v=spf1 foo=bar%{x} -all", .rc = -1},
	{.text = "v=spf1 foo=bar -all", .terms = 1},
	{.text = "v=spf1 moo.cow-far_out=man:dog/cat ip4:1.2.3.4", .terms = 1,
	 .mech0 = SPF_MECH_IP4, .cidr4 = 32, .cidr6 = 128},
	/* errors */
	{.text = "v=spf1 redirect=a.com redirect=b.com", .rc = -1},
	{.text = "v=spf1 exp=a.com exp=b.com", .rc = -1},
	{.text = "v=spf1 -redirect=a.com", .rc = -1},
	{.text = "v=spf1 all:x", .rc = -1},
	{.text = "v=spf1 include", .rc = -1},
	{.text = "v=spf1 include:", .rc = -1},
	{.text = "v=spf1 include:com", .rc = -1},
	{.text = "v=spf1 include:example.123", .rc = -1},
	{.text = "v=spf1 ip4:192.0.2.0/33", .rc = -1},
	{.text = "v=spf1 ip4:192.0.2.0/024", .rc = -1},
	{.text = "v=spf1 ip4:192.0.2", .rc = -1},
	{.text = "v=spf1 ip4:192.0.02.1", .rc = -1},
	{.text = "v=spf1 ip6:2001:db8::/129", .rc = -1},
	{.text = "v=spf1 ip6:192.0.2.1", .rc = -1},
	{.text = "v=spf1 a/", .rc = -1},
	{.text = "v=spf1 a:example.com/24/", .rc = -1},
	{.text = "v=spf1 mx//129", .rc = -1},
	{.text = "v=spf1 a:%{c}.example.com", .rc = -1},
	{.text = "v=spf1 a:%{d0}.example.com", .rc = -1},
	{.text = "v=spf1 foo", .rc = -1},
	{.text = "v=spf1 1a", .rc = -1},
	{.text = "v=spf1 *all", .rc = -1},
	{.text = "v=spf1\t-all", .rc = -1},
	{.text = "v=spf10 -all", .rc = -1},
	{.text = "spf1 -all", .rc = -1},
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rec_case *c = &cases[i];
		struct spf_record *r = (void *)1;
		const char *err = NULL;
		int rc = spf_record_parse(c->text, strlen(c->text), &r, &err);
		if (rc != c->rc)
			fail_msg("case %zu (%s): rc %d err %s", i, c->text, rc, err ? err : "-");
		if (rc < 0) {
			assert_null(r);
			assert_non_null(err);
			continue;
		}
		assert_int_equal(r->term_count, c->terms);
		if (c->terms > 0 && c->cidr4 != 0) {
			const struct spf_term *t = &r->terms[0];
			assert_int_equal(t->mech, c->mech0);
			assert_int_equal(t->qual, c->qual0);
			assert_int_equal(t->cidr4, c->cidr4);
			assert_int_equal(t->cidr6, c->cidr6);
			if (c->domain0 == NULL) {
				assert_null(t->domain);
			} else {
				assert_int_equal(t->domain_len, strlen(c->domain0));
				assert_memory_equal(t->domain, c->domain0, t->domain_len);
			}
		}
		if (c->redirect != NULL) {
			assert_int_equal(r->redirect_len, strlen(c->redirect));
			assert_memory_equal(r->redirect, c->redirect, r->redirect_len);
		}
		if (c->exp != NULL) {
			assert_int_equal(r->exp_len, strlen(c->exp));
			assert_memory_equal(r->exp, c->exp, r->exp_len);
		}
		spf_record_free(&r);
		assert_null(r);
	}
}

static void test_limits(void **state)
{
	(void)state;
	char buf[SPF_RECORD_MAX + 16];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "v=spf1");
	struct spf_record *r;

	while (n + 5 < SPF_RECORD_MAX)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, " +a");
	assert_int_equal(spf_record_parse(buf, n, &r, NULL), -1); /* > SPF_TERMS_MAX */
	n = (size_t)snprintf(buf, sizeof(buf), "v=spf1 -all");
	memset(buf + n, ' ', SPF_RECORD_MAX);
	assert_int_equal(spf_record_parse(buf, n + SPF_RECORD_MAX, &r, NULL), -1);
	assert_int_equal(spf_record_parse("v=spf1 a\0b", 10, &r, NULL), -1);
	spf_record_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
