/* spf_macro_test: the RFC 7208 7.4 examples, escapes, URL encoding,
 * syntax errors, and hostile expansions (7.3 left truncation to 253). */
#include "trust/spf_macro.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

struct macro_case {
	const char *spec;
	bool v6;
	enum spf_macro_mode mode;
	int rc;
	const char *want;
};

static const struct macro_case cases[] = {
	/* RFC 7208 7.4 */
	{.spec = "%{s}", .want = "strong-bad@email.example.com"},
	{.spec = "%{o}", .want = "email.example.com"},
	{.spec = "%{d}", .want = "email.example.com"},
	{.spec = "%{d4}", .want = "email.example.com"},
	{.spec = "%{d3}", .want = "email.example.com"},
	{.spec = "%{d2}", .want = "example.com"},
	{.spec = "%{d1}", .want = "com"},
	{.spec = "%{dr}", .want = "com.example.email"},
	{.spec = "%{d2r}", .want = "example.email"},
	{.spec = "%{l}", .want = "strong-bad"},
	{.spec = "%{l-}", .want = "strong.bad"},
	{.spec = "%{lr}", .want = "strong-bad"},
	{.spec = "%{lr-}", .want = "bad.strong"},
	{.spec = "%{l1r-}", .want = "strong"},
	{.spec = "%{ir}.%{v}._spf.%{d2}", .want = "3.2.0.192.in-addr._spf.example.com"},
	{.spec = "%{lr-}.lp._spf.%{d2}", .want = "bad.strong.lp._spf.example.com"},
	{.spec = "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
	 .want = "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
	{.spec = "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
	 .want = "3.2.0.192.in-addr.strong.lp._spf.example.com"},
	{.spec = "%{d2}.trusted-domains.example.net",
	 .want = "example.com.trusted-domains.example.net"},
	{.spec = "%{ir}.%{v}._spf.%{d2}",
	 .v6 = true,
	 .want = "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf."
		 "example.com"},
	/* escapes, case, URL encoding (7.3) */
	{.spec = "a%%b%_c%-d", .mode = SPF_MACRO_EXPLAIN, .want = "a%b c%20d"},
	{.spec = "%{L}", .want = "strong-bad"},
	{.spec = "%{S}", .want = "strong-bad%40email.example.com"},
	{.spec = "%{D99r}", .want = "com.example.email"},
	{.spec = "%{h}.%{p}", .want = "mx.example.org.unknown"},
	{.spec = "%{c} %{r} %{t}", .mode = SPF_MACRO_EXPLAIN,
	 .want = "192.0.2.3 mx.our.example 1700000000"},
	{.spec = "%{c}", .v6 = true, .mode = SPF_MACRO_EXPLAIN, .want = "2001:db8::cb01"},
	{.spec = "%{l_}", .want = "strong-bad"},
	{.spec = "%{o.-}", .want = "email.example.com"},
	/* syntax errors: permerror for the caller */
	{.spec = "%{c}", .rc = -1},
	{.spec = "%{t}", .rc = -1},
	{.spec = "%{d0}", .rc = -1},
	{.spec = "%{x}", .rc = -1},
	{.spec = "%{d", .rc = -1},
	{.spec = "%", .rc = -1},
	{.spec = "%a", .rc = -1},
	{.spec = "%{d*}", .rc = -1},
	{.spec = "a b", .rc = -1},
	{.spec = "a\tb", .rc = -1, .mode = SPF_MACRO_EXPLAIN},
};

static void vars_init(struct spf_macro_vars *v, bool v6)
{
	memset(v, 0, sizeof(*v));
	v->local = "strong-bad";
	v->sender_domain = "email.example.com";
	v->domain = "email.example.com";
	v->helo = "mx.example.org";
	v->receiver = "mx.our.example";
	v->now = 1700000000;
	v->family = v6 ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(v->family, v6 ? "2001:db8::cb01" : "192.0.2.3", v->ip), 1);
}

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct macro_case *c = &cases[i];
		struct spf_macro_vars v;
		char out[SPF_EXPLAIN_MAX + 1];
		const char *err = NULL;

		vars_init(&v, c->v6);
		int rc = spf_macro_expand(c->spec, strlen(c->spec), &v, c->mode, out, sizeof(out),
					  &err);
		if (rc != c->rc)
			fail_msg("case %zu (%s): rc %d err %s", i, c->spec, rc, err ? err : "-");
		if (rc == 0)
			assert_string_equal(out, c->want);
		else
			assert_non_null(err);
		assert_int_equal(spf_macro_is_valid(c->spec, strlen(c->spec),
						    c->mode == SPF_MACRO_ANY ? SPF_MACRO_ANY : c->mode,
						    NULL),
				 c->rc == 0);
	}
}

/* A record can multiply a long domain many times over: the result is the
 * right-most labels that fit in 253 bytes (7.3). */
static void test_hostile_truncation(void **state)
{
	(void)state;
	struct spf_macro_vars v;
	char spec[4096], out[SPF_DOMAIN_MAX + 1];
	size_t n = 0;

	vars_init(&v, true);
	/* 60 copies of the 63-byte IPv6 nibble name: ~4 KB */
	for (int k = 0; k < 60; k++)
		n += (size_t)snprintf(spec + n, sizeof(spec) - n, "%%{ir}.");
	n += (size_t)snprintf(spec + n, sizeof(spec) - n, "end.example");
	assert_int_equal(spf_macro_expand(spec, n, &v, SPF_MACRO_DOMAIN, out, sizeof(out), NULL),
			 0);
	assert_true(strlen(out) <= SPF_DOMAIN_MAX);
	assert_true(strlen(out) > SPF_DOMAIN_MAX - 3);
	assert_true(out[0] != '.');
	const char *tail = "end.example";
	assert_string_equal(out + strlen(out) - strlen(tail), tail);

	/* a 300-byte label goes whole; a name that is one such label
	 * cannot be cut at a label boundary */
	char big[400];
	memset(big, 'x', 300);
	memcpy(big + 300, ".com", 5);
	assert_int_equal(spf_macro_expand(big, strlen(big), &v, SPF_MACRO_DOMAIN, out, sizeof(out),
					  NULL),
			 0);
	assert_string_equal(out, "com");
	assert_int_equal(spf_macro_expand(big, 300, &v, SPF_MACRO_DOMAIN, out, sizeof(out), NULL),
			 -1);

	/* explanations are cut, not refused */
	char expl[SPF_EXPLAIN_MAX + 1];
	assert_int_equal(spf_macro_expand(spec, n, &v, SPF_MACRO_EXPLAIN, expl, sizeof(expl), NULL),
			 0);
	assert_int_equal(strlen(expl), SPF_EXPLAIN_MAX);
}

/* %{s} of a 64-byte local part: the whole local@domain, never empty. */
static void test_long_sender(void **state)
{
	(void)state;
	char local[65];
	memset(local, 'a', 64);
	local[64] = '\0';
	struct spf_macro_vars v = {.local = local, .sender_domain = "mail.example-company.com",
				   .domain = "example-company.com", .family = AF_INET};
	char out[600];
	assert_int_equal(spf_macro_expand("%{s}", 4, &v, SPF_MACRO_EXPLAIN, out, sizeof(out), NULL),
			 0);
	char want[200];
	(void)snprintf(want, sizeof(want), "%s@mail.example-company.com", local);
	assert_string_equal(out, want);
}

static void test_uses_p(void **state)
{
	(void)state;
	assert_true(spf_macro_uses_p("%{p}.x.com", 10));
	assert_true(spf_macro_uses_p("%{P2r}.x.com", 12));
	assert_false(spf_macro_uses_p("%%{p}.x.com", 11));
	assert_false(spf_macro_uses_p("%{d}.x.com", 10));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_hostile_truncation),
		cmocka_unit_test(test_uses_p),
		cmocka_unit_test(test_long_sender),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
