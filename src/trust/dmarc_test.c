/* dmarc_test: the record parser (defaults, every tag, bad and absurd
 * values, RFC 7489 6.6.3's p=/rua= rule), each case also parsed from an
 * exactly sized heap copy and from every prefix; alignment strict and
 * relaxed; the evaluation with sp=, pct sampling and the lookup names. */
#include "trust/dmarc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char test_list[] = "com\nuk\nco.uk\ntest\n*.ck\n!www.ck\n";

struct parse_case {
	const char *in;
	int rc;
	enum dmarc_policy p, sp;
	bool p_implied;
	enum dmarc_align adkim, aspf;
	unsigned pct, ri, fo;
	bool rf_afrf;
	size_t rua_count, ruf_count;
	const char *rua0;
	unsigned long long rua0_size;
};

#define OK_DEFAULTS .pct = 100, .ri = 86400, .fo = DMARC_FO_ALL_FAIL, .rf_afrf = true

static const struct parse_case parse_cases[] = {
	{.in = "v=DMARC1; p=none", OK_DEFAULTS},
	{.in = "v=DMARC1;p=reject", .p = DMARC_POLICY_REJECT, .sp = DMARC_POLICY_REJECT,
	 OK_DEFAULTS},
	{.in = " v = DMARC1 ; p = Quarantine ; ", .p = DMARC_POLICY_QUARANTINE,
	 .sp = DMARC_POLICY_QUARANTINE, OK_DEFAULTS},
	{.in = "v=DMARC1; p=reject; sp=none; adkim=s; aspf=s; pct=20; ri=3600; fo=1:d:s; "
	       "rf=afrf; rua=mailto:agg@example.com!10m, mailto:b@example.net; "
	       "ruf=mailto:f@example.com",
	 .p = DMARC_POLICY_REJECT, .sp = DMARC_POLICY_NONE, .adkim = DMARC_ALIGN_STRICT,
	 .aspf = DMARC_ALIGN_STRICT, .pct = 20, .ri = 3600,
	 .fo = DMARC_FO_ANY_FAIL | DMARC_FO_DKIM | DMARC_FO_SPF, .rf_afrf = true,
	 .rua_count = 2, .ruf_count = 1, .rua0 = "mailto:agg@example.com",
	 .rua0_size = 10ull << 20},
	/* Absurd or bad values fall back to the defaults. */
	{.in = "v=DMARC1; p=reject; pct=1000; ri=99999999999999999999999999999; adkim=x; "
	       "aspf=; fo=0:x; rf=iodef",
	 .p = DMARC_POLICY_REJECT, .sp = DMARC_POLICY_REJECT, .pct = 100, .ri = 86400,
	 .fo = DMARC_FO_ALL_FAIL, .rf_afrf = false},
	{.in = "v=DMARC1; p=reject; pct=-5; ri=5", .p = DMARC_POLICY_REJECT,
	 .sp = DMARC_POLICY_REJECT, .pct = 100, .ri = 3600, .fo = DMARC_FO_ALL_FAIL,
	 .rf_afrf = true},
	{.in = "v=DMARC1; p=reject; pct=0; ri=4000000000", .p = DMARC_POLICY_REJECT,
	 .sp = DMARC_POLICY_REJECT, .pct = 0, .ri = 86400, .fo = DMARC_FO_ALL_FAIL,
	 .rf_afrf = true},
	/* A repeated tag: the first counts; unknown tags are ignored. */
	{.in = "v=DMARC1; p=none; p=reject; x=y; junk", OK_DEFAULTS},
	/* rua: bad URIs skipped, more than DMARC_URI_COUNT_MAX ignored, a
	 * size that overflows saturates. */
	{.in = "v=DMARC1; p=none; rua=nocolon, mailto:a@x!99999999999999999999t, "
	       "mailto:b@x, mailto:c@x, mailto:d@x, mailto:e@x",
	 OK_DEFAULTS, .rua_count = 4, .rua0 = "mailto:a@x", .rua0_size = ~0ull},
	{.in = "v=DMARC1; p=none; rua=mailto:a@x!12q, mailto:with space, :x, mailto:",
	 OK_DEFAULTS},
	/* RFC 7489 6.6.3: no valid p= but a valid rua: treated as p=none. */
	{.in = "v=DMARC1; rua=mailto:a@example.com", OK_DEFAULTS, .p_implied = true,
	 .rua_count = 1, .rua0 = "mailto:a@example.com"},
	{.in = "v=DMARC1; p=bogus; rua=mailto:a@example.com", OK_DEFAULTS, .p_implied = true,
	 .rua_count = 1, .rua0 = "mailto:a@example.com"},
	{.in = "v=DMARC1; p=reject; sp=bogus; rua=mailto:a@example.com", OK_DEFAULTS,
	 .p_implied = true, .rua_count = 1, .rua0 = "mailto:a@example.com"},
	/* Refused. */
	{.in = "v=DMARC1", .rc = -1},
	{.in = "v=DMARC1; p=bogus", .rc = -1},
	{.in = "v=DMARC1; p=reject; sp=bogus", .rc = -1},
	{.in = "p=reject; v=DMARC1", .rc = -1},
	{.in = "v=dmarc1; p=reject", .rc = -1},
	{.in = "v=DMARC10; p=reject", .rc = -1},
	{.in = "v=spf1 -all", .rc = -1},
	{.in = "", .rc = -1},
};

static void check_parse(const struct parse_case *c, const char *buf, size_t len)
{
	struct dmarc_record r;
	const char *err = NULL;
	int rc = dmarc_parse(buf, len, &r, &err);
	if (rc != c->rc)
		fail_msg("%s: rc %d, expected %d (%s)", c->in, rc, c->rc, err ? err : "");
	if (rc != 0) {
		assert_non_null(err);
		return;
	}
	assert_int_equal(r.p, c->p);
	assert_int_equal(r.sp, c->sp);
	assert_int_equal(r.p_implied, c->p_implied);
	assert_int_equal(r.adkim, c->adkim);
	assert_int_equal(r.aspf, c->aspf);
	assert_int_equal(r.pct, c->pct);
	assert_int_equal(r.ri, c->ri);
	assert_int_equal(r.fo, c->fo);
	assert_int_equal(r.rf_afrf, c->rf_afrf);
	assert_int_equal(r.rua_count, c->rua_count);
	assert_int_equal(r.ruf_count, c->ruf_count);
	if (c->rua0 != NULL) {
		assert_string_equal(r.rua[0].uri, c->rua0);
		assert_true(r.rua[0].max_size == c->rua0_size);
	}
}

static void test_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		size_t len = strlen(c->in);
		/* An exactly sized copy: an over-read shows under ASan. */
		char *copy = malloc(len ? len : 1);
		assert_non_null(copy);
		memcpy(copy, c->in, len);
		check_parse(c, copy, len);
		/* Every prefix parses or fails cleanly. */
		for (size_t k = 0; k < len; k++) {
			struct dmarc_record r;
			(void)dmarc_parse(copy, k, &r, NULL);
			(void)dmarc_is_record(copy, k);
		}
		free(copy);
	}
}

static void test_parse_limits(void **state)
{
	(void)state;
	struct dmarc_record r;
	const char *err = NULL;
	char big[DMARC_RECORD_MAX + 2];
	memset(big, ' ', sizeof(big));
	memcpy(big, "v=DMARC1; p=reject;", 19);
	assert_int_equal(dmarc_parse(big, DMARC_RECORD_MAX, &r, &err), 0);
	assert_int_equal(dmarc_parse(big, DMARC_RECORD_MAX + 1, &r, &err), -1);
	assert_string_equal(err, "record too long");
	assert_int_equal(dmarc_parse("v=DMARC1; p=reject\0x", 21, &r, &err), -1);
	/* A URI over DMARC_URI_MAX is ignored, one at the limit kept. */
	char rec[600];
	int n = snprintf(rec, sizeof(rec), "v=DMARC1; p=none; rua=mailto:%0*d", DMARC_URI_MAX - 7, 0);
	assert_true(n > 0 && (size_t)n < sizeof(rec));
	assert_int_equal(dmarc_parse(rec, (size_t)n, &r, &err), 0);
	assert_int_equal(r.rua_count, 1);
	n = snprintf(rec, sizeof(rec), "v=DMARC1; p=none; rua=mailto:%0*d", DMARC_URI_MAX - 6, 0);
	assert_int_equal(dmarc_parse(rec, (size_t)n, &r, &err), 0);
	assert_int_equal(r.rua_count, 0);
}

static void test_is_record(void **state)
{
	(void)state;
	assert_true(dmarc_is_record("v=DMARC1", 8));
	assert_true(dmarc_is_record("V = DMARC1;p=none", 17));
	assert_false(dmarc_is_record("v=DMARC1x", 9));
	assert_false(dmarc_is_record("v=DMARC", 7));
	assert_false(dmarc_is_record("p=none; v=DMARC1", 16));
}

static void test_names(void **state)
{
	(void)state;
	struct psl *psl = NULL;
	assert_int_equal(psl_load_buf(test_list, strlen(test_list), &psl, NULL, 0), 0);
	char q[64];
	assert_int_equal(dmarc_query_name("mail.example.com.", q, sizeof(q)), 0);
	assert_string_equal(q, "_dmarc.mail.example.com");
	assert_int_equal(dmarc_query_name("", q, sizeof(q)), -1);
	assert_int_equal(dmarc_query_name("a-very-long-name.example.com", q, 20), -1);
	assert_string_equal(dmarc_fallback_domain(psl, "a.b.example.co.uk"), "example.co.uk");
	assert_null(dmarc_fallback_domain(psl, "example.co.uk"));
	assert_null(dmarc_fallback_domain(psl, "co.uk"));
	assert_null(dmarc_fallback_domain(psl, "bad..name"));
	psl_free(&psl);
}

struct align_case {
	enum dmarc_align mode;
	const char *from, *auth;
	bool aligned;
};

static const struct align_case align_cases[] = {
	{DMARC_ALIGN_STRICT, "example.com", "example.com", true},
	{DMARC_ALIGN_STRICT, "Example.COM", "example.com.", true},
	{DMARC_ALIGN_STRICT, "example.com", "mail.example.com", false},
	{DMARC_ALIGN_RELAXED, "example.com", "mail.example.com", true},
	{DMARC_ALIGN_RELAXED, "news.example.com", "bounce.EXAMPLE.com", true},
	{DMARC_ALIGN_RELAXED, "example.com", "example.net", false},
	{DMARC_ALIGN_RELAXED, "example.com", "notexample.com", false},
	{DMARC_ALIGN_RELAXED, "a.example.co.uk", "b.example.co.uk", true},
	{DMARC_ALIGN_RELAXED, "a.example.co.uk", "b.other.co.uk", false},
	/* Public suffixes are not one organization. */
	{DMARC_ALIGN_RELAXED, "x.co.uk", "y.co.uk", false},
	{DMARC_ALIGN_RELAXED, "a.b.test.ck", "c.b.test.ck", true},
	{DMARC_ALIGN_RELAXED, "a.test.ck", "b.test.ck", false},
	{DMARC_ALIGN_RELAXED, "a.www.ck", "www.ck", true},
	{DMARC_ALIGN_RELAXED, "example.com", "", false},
	{DMARC_ALIGN_RELAXED, "example.com", NULL, false},
	{DMARC_ALIGN_STRICT, "", "", false},
	{DMARC_ALIGN_RELAXED, "bad..example.com", "example.com", false},
};

static void test_alignment(void **state)
{
	(void)state;
	struct psl *psl = NULL;
	assert_int_equal(psl_load_buf(test_list, strlen(test_list), &psl, NULL, 0), 0);
	for (size_t i = 0; i < sizeof(align_cases) / sizeof(align_cases[0]); i++) {
		const struct align_case *c = &align_cases[i];
		if (dmarc_is_aligned(psl, c->mode, c->from, c->auth) != c->aligned)
			fail_msg("%s %s %s: expected %d", c->mode ? "strict" : "relaxed",
				 c->from, c->auth ? c->auth : "(null)", c->aligned);
	}
	psl_free(&psl);
}

struct eval_case {
	const char *record; /* NULL: no record found */
	const char *record_domain;
	const char *from;
	bool spf_pass;
	const char *spf_domain;
	const char *dkim_domain; /* NULL: no signature */
	bool dkim_pass;
	unsigned random;
	enum dmarc_result result;
	enum dmarc_policy policy, disposition;
	bool spf_aligned, dkim_aligned, sampled_out;
};

static const struct eval_case eval_cases[] = {
	{.record = NULL, .from = "example.com", .result = DMARC_RESULT_NONE},
	/* Pass by SPF, by DKIM, relaxed. */
	{.record = "v=DMARC1; p=reject", .record_domain = "example.com", .from = "example.com",
	 .spf_pass = true, .spf_domain = "bounce.example.com", .result = DMARC_RESULT_PASS,
	 .policy = DMARC_POLICY_REJECT, .spf_aligned = true},
	{.record = "v=DMARC1; p=reject", .record_domain = "example.com", .from = "example.com",
	 .spf_pass = true, .spf_domain = "other.net", .dkim_domain = "mail.example.com",
	 .dkim_pass = true, .result = DMARC_RESULT_PASS, .policy = DMARC_POLICY_REJECT,
	 .dkim_aligned = true},
	/* SPF passes but not aligned, DKIM aligned but failed: fail. */
	{.record = "v=DMARC1; p=reject", .record_domain = "example.com", .from = "example.com",
	 .spf_pass = true, .spf_domain = "other.net", .dkim_domain = "example.com",
	 .dkim_pass = false, .result = DMARC_RESULT_FAIL, .policy = DMARC_POLICY_REJECT,
	 .disposition = DMARC_POLICY_REJECT},
	/* Aligned domain but SPF did not pass. */
	{.record = "v=DMARC1; p=quarantine", .record_domain = "example.com",
	 .from = "example.com", .spf_pass = false, .spf_domain = "example.com",
	 .result = DMARC_RESULT_FAIL, .policy = DMARC_POLICY_QUARANTINE,
	 .disposition = DMARC_POLICY_QUARANTINE},
	/* Strict: a subdomain does not align. */
	{.record = "v=DMARC1; p=reject; aspf=s; adkim=s", .record_domain = "example.com",
	 .from = "example.com", .spf_pass = true, .spf_domain = "bounce.example.com",
	 .dkim_domain = "mail.example.com", .dkim_pass = true, .result = DMARC_RESULT_FAIL,
	 .policy = DMARC_POLICY_REJECT, .disposition = DMARC_POLICY_REJECT},
	/* sp= for a From domain below the record's domain. */
	{.record = "v=DMARC1; p=reject; sp=quarantine", .record_domain = "example.com",
	 .from = "news.example.com", .result = DMARC_RESULT_FAIL,
	 .policy = DMARC_POLICY_QUARANTINE, .disposition = DMARC_POLICY_QUARANTINE},
	{.record = "v=DMARC1; p=reject", .record_domain = "example.com",
	 .from = "news.example.com", .result = DMARC_RESULT_FAIL,
	 .policy = DMARC_POLICY_REJECT, .disposition = DMARC_POLICY_REJECT},
	{.record = "v=DMARC1; p=reject; sp=none", .record_domain = "Example.com.",
	 .from = "example.COM", .result = DMARC_RESULT_FAIL, .policy = DMARC_POLICY_REJECT,
	 .disposition = DMARC_POLICY_REJECT},
	/* pct: selected below pct, else one step down. */
	{.record = "v=DMARC1; p=reject; pct=30", .record_domain = "example.com",
	 .from = "example.com", .random = 29, .result = DMARC_RESULT_FAIL,
	 .policy = DMARC_POLICY_REJECT, .disposition = DMARC_POLICY_REJECT},
	{.record = "v=DMARC1; p=reject; pct=30", .record_domain = "example.com",
	 .from = "example.com", .random = 30, .result = DMARC_RESULT_FAIL,
	 .policy = DMARC_POLICY_REJECT, .disposition = DMARC_POLICY_QUARANTINE,
	 .sampled_out = true},
	{.record = "v=DMARC1; p=quarantine; pct=0", .record_domain = "example.com",
	 .from = "example.com", .random = 0, .result = DMARC_RESULT_FAIL,
	 .policy = DMARC_POLICY_QUARANTINE, .disposition = DMARC_POLICY_NONE,
	 .sampled_out = true},
	{.record = "v=DMARC1; p=reject; pct=100", .record_domain = "example.com",
	 .from = "example.com", .random = 199, .result = DMARC_RESULT_FAIL,
	 .policy = DMARC_POLICY_REJECT, .disposition = DMARC_POLICY_REJECT},
	{.record = "v=DMARC1; p=none", .record_domain = "example.com", .from = "example.com",
	 .result = DMARC_RESULT_FAIL, .policy = DMARC_POLICY_NONE,
	 .disposition = DMARC_POLICY_NONE},
};

static void test_evaluate(void **state)
{
	(void)state;
	struct psl *psl = NULL;
	assert_int_equal(psl_load_buf(test_list, strlen(test_list), &psl, NULL, 0), 0);
	for (size_t i = 0; i < sizeof(eval_cases) / sizeof(eval_cases[0]); i++) {
		const struct eval_case *c = &eval_cases[i];
		struct dmarc_record rec;
		if (c->record != NULL)
			assert_int_equal(dmarc_parse(c->record, strlen(c->record), &rec, NULL), 0);
		struct dmarc_dkim dk = {.domain = c->dkim_domain, .pass = c->dkim_pass};
		struct dmarc_input in = {
			.from_domain = c->from,
			.spf_pass = c->spf_pass,
			.spf_domain = c->spf_domain,
			.dkim = c->dkim_domain ? &dk : NULL,
			.dkim_count = c->dkim_domain ? 1 : 0,
		};
		struct dmarc_verdict v;
		dmarc_evaluate(psl, c->record ? &rec : NULL, c->record_domain, &in, c->random, &v);
		if (v.result != c->result || v.policy != c->policy ||
		    v.disposition != c->disposition || v.spf_aligned != c->spf_aligned ||
		    v.dkim_aligned != c->dkim_aligned || v.sampled_out != c->sampled_out)
			fail_msg("case %zu (%s, from %s): result %s policy %s disposition %s "
				 "spf %d dkim %d sampled_out %d",
				 i, c->record ? c->record : "-", c->from,
				 dmarc_result_name(v.result), dmarc_policy_name(v.policy),
				 dmarc_policy_name(v.disposition), v.spf_aligned, v.dkim_aligned,
				 v.sampled_out);
	}
	psl_free(&psl);
}

static void test_several_signatures(void **state)
{
	(void)state;
	struct psl *psl = NULL;
	assert_int_equal(psl_load_buf(test_list, strlen(test_list), &psl, NULL, 0), 0);
	struct dmarc_record rec;
	assert_int_equal(dmarc_parse("v=DMARC1; p=reject", 18, &rec, NULL), 0);
	/* A passing signature of another domain and a failing aligned one
	 * come before the passing aligned one. */
	const struct dmarc_dkim dk[] = {
		{.domain = "esp.net", .pass = true},
		{.domain = "example.com", .pass = false},
		{.domain = "example.com", .pass = true},
	};
	struct dmarc_input in = {.from_domain = "example.com", .dkim = dk, .dkim_count = 3};
	struct dmarc_verdict v;
	dmarc_evaluate(psl, &rec, "example.com", &in, 0, &v);
	assert_int_equal(v.result, DMARC_RESULT_PASS);
	assert_true(v.dkim_aligned);
	in.dkim_count = 2;
	dmarc_evaluate(psl, &rec, "example.com", &in, 0, &v);
	assert_int_equal(v.result, DMARC_RESULT_FAIL);
	assert_int_equal(v.disposition, DMARC_POLICY_REJECT);
	psl_free(&psl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_is_record),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_evaluate),
		cmocka_unit_test(test_several_signatures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
