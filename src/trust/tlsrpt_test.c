/* tlsrpt_test: the TXT record parser (each case also from an exactly sized
 * heap copy and from every prefix), picking one record among several, the
 * counters with merging keys and a full failure table, the text form
 * (exact text, round trip, appended records, a torn tail, corrupt input
 * and every prefix), the JSON report as exact text, gzip against zlib's
 * inflate, and the report message (headers, base64 back to the gzip,
 * refused inputs). */
#include "trust/tlsrpt.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "core/alloc.h"
#include "proto/base64.h"

/* 2026-12-06T00:00:00Z */
#define DAY 1796515200

/* ------------------------------------------------------------------ */
/* TXT record                                                          */

struct txt_case {
	const char *in;
	int rc;
	size_t rua_count, https_count, ignored_count;
	const char *rua0, *rua1;
};

static const struct txt_case txt_cases[] = {
	{.in = "v=TLSRPTv1; rua=mailto:tlsrpt@example.com", .rua_count = 1,
	 .rua0 = "tlsrpt@example.com"},
	{.in = "v=TLSRPTv1;rua=mailto:reports@Example.COM", .rua_count = 1,
	 .rua0 = "reports@example.com"},
	/* Spaces around fields, around '=' and ','; a trailing ';'. */
	{.in = "v=TLSRPTv1 ;  rua = mailto:a@x.test , https://r.example/v1/tlsrpt ; ",
	 .rua_count = 1, .https_count = 1, .rua0 = "a@x.test"},
	/* Only https: a valid record with nowhere to mail to. */
	{.in = "v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt", .https_count = 1},
	/* %XX decoded, hfields after '?' dropped. */
	{.in = "v=TLSRPTv1; rua=mailto:tls%2Drpt@x.test?subject=hi", .rua_count = 1,
	 .rua0 = "tls-rpt@x.test"},
	/* rua= may repeat; unknown fields are ignored. */
	{.in = "v=TLSRPTv1; ext.v1=abc; rua=mailto:a@x.test; rua=mailto:b@y.test;", .rua_count = 2,
	 .rua0 = "a@x.test", .rua1 = "b@y.test"},
	/* At most TLSRPT_RUA_MAX; duplicates skipped. */
	{.in = "v=TLSRPTv1; rua=mailto:a@x.test,mailto:a@X.test,mailto:b@x.test,mailto:c@x.test,"
	       "mailto:d@x.test,mailto:e@x.test",
	 .rua_count = 4, .ignored_count = 2, .rua0 = "a@x.test", .rua1 = "b@x.test"},
	/* Unusable addresses and other schemes are skipped. */
	{.in = "v=TLSRPTv1; rua=mailto:bad, mailto:ok@x.test", .rua_count = 1, .ignored_count = 1,
	 .rua0 = "ok@x.test"},
	{.in = "v=TLSRPTv1; rua=ftp://x.test/r", .ignored_count = 1},
	{.in = "v=TLSRPTv1; rua=mailto:a@x.test!10m", .ignored_count = 1},
	{.in = "v=TLSRPTv1; rua=mailto:%22a%20b%22@x.test", .ignored_count = 1},
	{.in = "v=TLSRPTv1; rua=mailto:a%zz@x.test", .ignored_count = 1},
	{.in = "v=TLSRPTv1; rua=mailto:a@x.test%2Cb@x.test", .ignored_count = 1},
	{.in = "v=TLSRPTv1; rua=mailto:a@x.test%", .ignored_count = 1},
	{.in = "v=TLSRPTv1; rua=mailto:", .rc = -1},
	{.in = "v=TLSRPTv1; rua=mailto:postmaster", .ignored_count = 1},
	/* Refused. */
	{.in = "v=TLSRPTv1; RUA=mailto:a@x.test", .rc = -1}, /* %s"rua=" */
	{.in = "v=TLSRPTv1; rua=mailto:a@x.test; junk", .rc = -1},
	{.in = "v=TLSRPTv1; _x=1; rua=mailto:a@x.test", .rc = -1},
	{.in = "v=TLSRPTv1; =1; rua=mailto:a@x.test", .rc = -1},
	{.in = "v=tlsrptv1; rua=mailto:a@x.test", .rc = -1},
	{.in = " v=TLSRPTv1; rua=mailto:a@x.test", .rc = -1},
	{.in = "v=TLSRPTv1 rua=mailto:a@x.test", .rc = -1},
	{.in = "v=TLSRPTv10; rua=mailto:a@x.test", .rc = -1},
	{.in = "rua=mailto:a@x.test; v=TLSRPTv1", .rc = -1},
	{.in = "v=TLSRPTv1", .rc = -1},
	{.in = "v=TLSRPTv1;", .rc = -1},
	{.in = "v=TLSRPTv1; rua=", .rc = -1},
	{.in = "v=TLSRPTv1; rua=nocolon", .rc = -1},
	{.in = "v=TLSRPTv1; rua=mailto:not an address", .rc = -1},
	{.in = "v=STSv1; id=1", .rc = -1},
	{.in = "", .rc = -1},
};

static void check_txt(const struct txt_case *c, const char *buf, size_t len)
{
	struct tlsrpt_record r;
	int rc = tlsrpt_parse_txt(buf, len, &r);
	if (rc != c->rc)
		fail_msg("%s: rc %d, expected %d", c->in, rc, c->rc);
	if (rc != 0) {
		assert_int_equal(r.rua_count, 0);
		return;
	}
	if (r.rua_count != c->rua_count || r.https_count != c->https_count ||
	    r.ignored_count != c->ignored_count)
		fail_msg("%s: rua %zu https %zu ignored %zu", c->in, r.rua_count, r.https_count,
			 r.ignored_count);
	if (c->rua0 != NULL)
		assert_string_equal(r.rua[0], c->rua0);
	if (c->rua1 != NULL)
		assert_string_equal(r.rua[1], c->rua1);
}

static void test_txt_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(txt_cases) / sizeof(txt_cases[0]); i++) {
		const struct txt_case *c = &txt_cases[i];
		size_t len = strlen(c->in);
		/* An exactly sized copy: an over-read shows under ASan. */
		char *copy = xmalloc(len ? len : 1);
		memcpy(copy, c->in, len);
		check_txt(c, copy, len);
		for (size_t k = 0; k < len; k++) {
			struct tlsrpt_record r;
			int rc = tlsrpt_parse_txt(copy, k, &r);
			assert_true(rc == 0 || rc == -1);
			assert_true(r.rua_count <= TLSRPT_RUA_MAX);
			(void)tlsrpt_is_record(copy, k);
		}
		free(copy);
	}
}

static void test_txt_limits(void **state)
{
	(void)state;
	struct tlsrpt_record r;
	char *big = xmalloc(TLSRPT_RECORD_MAX + 1);
	memset(big, ' ', TLSRPT_RECORD_MAX + 1);
	memcpy(big, "v=TLSRPTv1; rua=mailto:a@x.test;", 32);
	assert_int_equal(tlsrpt_parse_txt(big, TLSRPT_RECORD_MAX, &r), 0);
	assert_int_equal(tlsrpt_parse_txt(big, TLSRPT_RECORD_MAX + 1, &r), -1);
	free(big);
	assert_int_equal(tlsrpt_parse_txt("v=TLSRPTv1; rua=mailto:a@x.test\0", 32, &r), -1);

	/* An address of TLSRPT_ADDR_MAX is kept, one longer skipped. */
	char rec[400], local[65];
	memset(local, 'l', 64);
	local[64] = '\0';
	char dom[256];
	size_t dl = TLSRPT_ADDR_MAX - 64 - 1;
	for (size_t i = 0; i < dl; i++)
		dom[i] = (i % 60 == 59) ? '.' : 'd';
	dom[dl] = '\0';
	snprintf(rec, sizeof(rec), "v=TLSRPTv1; rua=mailto:%s@%s", local, dom);
	assert_int_equal(tlsrpt_parse_txt(rec, strlen(rec), &r), 0);
	assert_int_equal(r.rua_count, 1);
	assert_int_equal(strlen(r.rua[0]), TLSRPT_ADDR_MAX);
	snprintf(rec, sizeof(rec), "v=TLSRPTv1; rua=mailto:%s@d%s", local, dom);
	assert_int_equal(tlsrpt_parse_txt(rec, strlen(rec), &r), 0);
	assert_int_equal(r.rua_count, 0);
}

static void test_is_and_pick(void **state)
{
	(void)state;
	assert_true(tlsrpt_is_record("v=TLSRPTv1;", 11));
	assert_true(tlsrpt_is_record("v=TLSRPTv1 \t;rua=x", 18));
	assert_false(tlsrpt_is_record("v=TLSRPTv1", 10));
	assert_false(tlsrpt_is_record("v=TLSRPTv1x;", 12));
	assert_false(tlsrpt_is_record("v=TLSRPT", 8));

	const char *a[] = {"v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@x.test", "hello"};
	size_t al[] = {11, 31, 5};
	assert_int_equal(tlsrpt_pick_record(a, al, 3), 1);
	const char *b[] = {"v=TLSRPTv1; rua=mailto:a@x.test", "v=TLSRPTv1;rua=mailto:b@x.test"};
	size_t bl[] = {31, 30};
	assert_int_equal(tlsrpt_pick_record(b, bl, 2), -1);
	assert_int_equal(tlsrpt_pick_record(a, al, 1), -1);
	assert_int_equal(tlsrpt_pick_record(NULL, NULL, 0), -1);
	/* A TLSRPTv1 record that is not "v=TLSRPTv1;" does not count. */
	const char *c[] = {"v=TLSRPTv1", "v=TLSRPTv1 ; rua=mailto:a@x.test"};
	size_t cl[] = {10, 32};
	assert_int_equal(tlsrpt_pick_record(c, cl, 2), 1);

	char q[64];
	assert_int_equal(tlsrpt_query_name("example.com.", q, sizeof(q)), 0);
	assert_string_equal(q, "_smtp._tls.example.com");
	assert_int_equal(tlsrpt_query_name("", q, sizeof(q)), -1);
	assert_int_equal(tlsrpt_query_name("a-long-name.example.com", q, 20), -1);
}

/* ------------------------------------------------------------------ */
/* Counters                                                            */

static void test_names(void **state)
{
	(void)state;
	static const char *const names[] = {
		"starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
		"certificate-not-trusted", "validation-failure", "tlsa-invalid",
		"dnssec-invalid", "dane-required", "sts-policy-fetch-error",
		"sts-policy-invalid", "sts-webpki-invalid",
	};
	assert_int_equal(sizeof(names) / sizeof(names[0]), TLSRPT_RESULT_COUNT);
	for (unsigned i = 0; i < TLSRPT_RESULT_COUNT; i++) {
		enum tlsrpt_result r;
		assert_string_equal(tlsrpt_result_name((enum tlsrpt_result)i), names[i]);
		assert_int_equal(tlsrpt_result_from_name(names[i], strlen(names[i]), &r), 0);
		assert_int_equal(r, i);
	}
	enum tlsrpt_result r;
	assert_int_equal(tlsrpt_result_from_name("Certificate-expired", 19, &r), -1);
	assert_int_equal(tlsrpt_result_from_name("certificate-expire", 18, &r), -1);
	assert_string_equal(tlsrpt_result_name(TLSRPT_RESULT_COUNT), "?");
	assert_string_equal(tlsrpt_policy_type_name(TLSRPT_POLICY_NO_POLICY_FOUND),
			    "no-policy-found");
	assert_string_equal(tlsrpt_policy_type_name(TLSRPT_POLICY_STS), "sts");
	assert_string_equal(tlsrpt_policy_type_name(TLSRPT_POLICY_TLSA), "tlsa");
}

static void test_day_and_init(void **state)
{
	(void)state;
	assert_int_equal(tlsrpt_day_start(DAY), DAY);
	assert_int_equal(tlsrpt_day_start(DAY + 86399), DAY);
	assert_int_equal(tlsrpt_day_start(DAY + 86400), DAY + 86400);
	assert_int_equal(tlsrpt_day_start(-1), -86400);

	struct tlsrpt_domain_stats s;
	assert_int_equal(tlsrpt_stats_init(&s, "Example.COM.", DAY), 0);
	assert_string_equal(s.domain, "example.com");
	assert_int_equal(s.policy_type, TLSRPT_POLICY_NO_POLICY_FOUND);
	tlsrpt_stats_fini(&s);
	tlsrpt_stats_fini(&s);
	assert_int_equal(tlsrpt_stats_init(&s, "example.com", DAY + 1), -1);
	tlsrpt_stats_fini(&s);
	assert_int_equal(tlsrpt_stats_init(&s, "example.com", -86400), -1);
	assert_int_equal(tlsrpt_stats_init(&s, "exa mple.com", DAY), -1);
	assert_int_equal(tlsrpt_stats_init(&s, "a..b", DAY), -1);
	assert_int_equal(tlsrpt_stats_init(&s, "", DAY), -1);
	assert_int_equal(tlsrpt_stats_init(&s, NULL, DAY), -1);
	assert_int_equal(tlsrpt_stats_init(&s, "*.example.com", DAY), -1);
	char longname[300];
	memset(longname, 'a', sizeof(longname));
	for (size_t i = 50; i < sizeof(longname); i += 51)
		longname[i] = '.';
	longname[254] = '\0';
	assert_int_equal(tlsrpt_stats_init(&s, longname, DAY), -1);
	longname[253] = '\0';
	assert_int_equal(tlsrpt_stats_init(&s, longname, DAY), 0);
	tlsrpt_stats_fini(&s);
}

static void test_policy(void **state)
{
	(void)state;
	struct tlsrpt_domain_stats s;
	assert_int_equal(tlsrpt_stats_init(&s, "example.com", DAY), 0);
	const char *lines[] = {"version: STSv1", "mode: enforce"};
	const char *mx[] = {"*.MX.example.com", "mx2.example.com."};
	assert_int_equal(tlsrpt_stats_set_policy(&s, TLSRPT_POLICY_STS, lines, 2, mx, 2), 0);
	assert_int_equal(s.policy_count, 2);
	assert_string_equal(s.policy_strings[1], "mode: enforce");
	assert_string_equal(s.mx_hosts[0], "*.mx.example.com");
	assert_string_equal(s.mx_hosts[1], "mx2.example.com");
	/* Refused: the old policy stays. */
	const char *badmx[] = {"mx .example.com"};
	assert_int_equal(tlsrpt_stats_set_policy(&s, TLSRPT_POLICY_TLSA, lines, 1, badmx, 1), -1);
	const char *wild2[] = {"*.*.example.com"};
	assert_int_equal(tlsrpt_stats_set_policy(&s, TLSRPT_POLICY_TLSA, lines, 1, wild2, 1), -1);
	assert_int_equal(tlsrpt_stats_set_policy(&s, (enum tlsrpt_policy_type)7, NULL, 0, NULL, 0),
			 -1);
	const char *many[TLSRPT_POLICY_STRINGS_MAX + 1];
	for (size_t i = 0; i <= TLSRPT_POLICY_STRINGS_MAX; i++)
		many[i] = "x";
	assert_int_equal(tlsrpt_stats_set_policy(&s, TLSRPT_POLICY_TLSA, many,
						 TLSRPT_POLICY_STRINGS_MAX + 1, NULL, 0),
			 -1);
	char *huge = xmalloc(TLSRPT_POLICY_STRING_MAX + 2);
	memset(huge, 'h', TLSRPT_POLICY_STRING_MAX + 1);
	huge[TLSRPT_POLICY_STRING_MAX + 1] = '\0';
	const char *hp[] = {huge};
	assert_int_equal(tlsrpt_stats_set_policy(&s, TLSRPT_POLICY_TLSA, hp, 1, NULL, 0), -1);
	assert_int_equal(s.policy_type, TLSRPT_POLICY_STS);
	assert_int_equal(s.policy_count, 2);
	huge[TLSRPT_POLICY_STRING_MAX] = '\0';
	assert_int_equal(tlsrpt_stats_set_policy(&s, TLSRPT_POLICY_TLSA, hp, 1, NULL, 0), 0);
	assert_int_equal(s.policy_type, TLSRPT_POLICY_TLSA);
	assert_int_equal(s.mx_count, 0);
	free(huge);
	/* no-policy-found drops both lists, whatever is passed. */
	assert_int_equal(tlsrpt_stats_set_policy(&s, TLSRPT_POLICY_NO_POLICY_FOUND, lines, 2, mx,
						 2),
			 0);
	assert_int_equal(s.policy_count, 0);
	assert_int_equal(s.mx_count, 0);
	tlsrpt_stats_fini(&s);
}

static void test_counters(void **state)
{
	(void)state;
	struct tlsrpt_domain_stats s;
	assert_int_equal(tlsrpt_stats_init(&s, "example.com", DAY), 0);
	tlsrpt_stats_success(&s);
	tlsrpt_stats_success(&s);
	assert_int_equal(s.success_count, 2);

	/* One key, written differently, is one entry; the first reason
	 * given stays. */
	assert_int_equal(tlsrpt_stats_failure(&s, TLSRPT_RESULT_CERTIFICATE_EXPIRED,
					      "MX1.example.com", "2001:DB8::0:1", "192.0.2.1", NULL),
			 0);
	assert_int_equal(tlsrpt_stats_failure(&s, TLSRPT_RESULT_CERTIFICATE_EXPIRED,
					      "mx1.example.com.", "2001:db8::1", "192.0.2.1",
					      "X509_V_ERR_CERT_HAS_EXPIRED"),
			 0);
	assert_int_equal(tlsrpt_stats_failure(&s, TLSRPT_RESULT_CERTIFICATE_EXPIRED,
					      "mx1.example.com", "2001:db8::1", "192.0.2.1",
					      "other\r\ntext"),
			 0);
	assert_int_equal(s.failure_detail_count, 1);
	assert_int_equal(s.failures[0].count, 3);
	assert_string_equal(s.failures[0].receiving_mx, "mx1.example.com");
	assert_string_equal(s.failures[0].receiving_ip, "2001:db8::1");
	assert_string_equal(s.failures[0].reason, "X509_V_ERR_CERT_HAS_EXPIRED");
	/* Another result or IP is another key; unknown fields are "". */
	assert_int_equal(tlsrpt_stats_failure(&s, TLSRPT_RESULT_STARTTLS_NOT_SUPPORTED,
					      "mx1.example.com", "2001:db8::1", "192.0.2.1",
					      "bad\x01\xff"),
			 0);
	assert_string_equal(s.failures[1].reason, "bad??");
	assert_int_equal(tlsrpt_stats_failure(&s, TLSRPT_RESULT_STS_POLICY_FETCH_ERROR, NULL, "",
					      NULL, NULL),
			 0);
	assert_string_equal(s.failures[2].receiving_mx, "");
	assert_int_equal(s.failure_detail_count, 3);
	assert_int_equal(s.failure_count, 5);

	/* Unusable fields: counted in the total only. */
	assert_int_equal(tlsrpt_stats_failure(&s, TLSRPT_RESULT_DANE_REQUIRED, "bad host", NULL,
					      NULL, NULL),
			 -1);
	assert_int_equal(tlsrpt_stats_failure(&s, TLSRPT_RESULT_DANE_REQUIRED, NULL, "1.2.3",
					      NULL, NULL),
			 -1);
	assert_int_equal(tlsrpt_stats_failure(&s, TLSRPT_RESULT_DANE_REQUIRED, NULL, NULL,
					      "192.0.2.1 ", NULL),
			 -1);
	assert_int_equal(tlsrpt_stats_failure(&s, TLSRPT_RESULT_COUNT, NULL, NULL, NULL, NULL),
			 -1);
	assert_int_equal(s.failure_detail_count, 3);
	assert_int_equal(s.failure_count, 9);

	/* Overflow of distinct entries: the table stops at
	 * TLSRPT_FAILURES_MAX, the total keeps counting, known keys still
	 * count into their entry. */
	for (int i = 0; i < 40; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "198.51.100.%d", i);
		int rc = tlsrpt_stats_failure(&s, TLSRPT_RESULT_VALIDATION_FAILURE, "mx.example.com",
					      ip, NULL, NULL);
		assert_int_equal(rc, i < TLSRPT_FAILURES_MAX - 3 ? 0 : -1);
	}
	assert_int_equal(s.failure_detail_count, TLSRPT_FAILURES_MAX);
	assert_int_equal(s.failure_count, 49);
	assert_int_equal(tlsrpt_stats_failure(&s, TLSRPT_RESULT_CERTIFICATE_EXPIRED,
					      "mx1.example.com", "2001:db8::1", "192.0.2.1", NULL),
			 0);
	assert_int_equal(s.failures[0].count, 4);
	assert_int_equal(s.failure_count, 50);

	/* Counts saturate. */
	s.success_count = UINT64_MAX - 1;
	tlsrpt_stats_success(&s);
	tlsrpt_stats_success(&s);
	assert_true(s.success_count == UINT64_MAX);
	s.failures[0].count = UINT64_MAX;
	s.failure_count = UINT64_MAX;
	assert_int_equal(tlsrpt_stats_failure(&s, TLSRPT_RESULT_CERTIFICATE_EXPIRED,
					      "mx1.example.com", "2001:db8::1", "192.0.2.1", NULL),
			 0);
	assert_true(s.failures[0].count == UINT64_MAX);
	assert_true(s.failure_count == UINT64_MAX);
	tlsrpt_stats_fini(&s);
}

/* ------------------------------------------------------------------ */
/* Text form                                                           */

/* The stats most tests use: an MTA-STS policy, successes and two
 * failure entries, one failure outside them. */
static void sample_stats(struct tlsrpt_domain_stats *s)
{
	const char *lines[] = {"version: STSv1", "mode: testing", "mx: *.mail.company-y.example",
			       "max_age: 86400"};
	const char *mx[] = {"*.mail.company-y.example"};
	assert_int_equal(tlsrpt_stats_init(s, "company-y.example", DAY), 0);
	assert_int_equal(tlsrpt_stats_set_policy(s, TLSRPT_POLICY_STS, lines, 4, mx, 1), 0);
	for (int i = 0; i < 5; i++)
		tlsrpt_stats_success(s);
	for (int i = 0; i < 2; i++)
		assert_int_equal(tlsrpt_stats_failure(s, TLSRPT_RESULT_CERTIFICATE_EXPIRED,
						      "mx1.mail.company-y.example", "203.0.113.56",
						      "2001:db8:abcd:0012::1", NULL),
				 0);
	assert_int_equal(tlsrpt_stats_failure(s, TLSRPT_RESULT_STARTTLS_NOT_SUPPORTED,
					      "mx2.mail.company-y.example", "203.0.113.57", NULL,
					      "X509_V_ERR 100%"),
			 0);
	assert_int_equal(tlsrpt_stats_failure(s, TLSRPT_RESULT_DANE_REQUIRED, "bad name", NULL,
					      NULL, NULL),
			 -1);
}

static const char sample_text[] =
	"tlsrpt-stats 1 company-y.example 1796515200\n"
	"policy sts\n"
	"policy-string version:%20STSv1\n"
	"policy-string mode:%20testing\n"
	"policy-string mx:%20*.mail.company-y.example\n"
	"policy-string max_age:%2086400\n"
	"mx-host *.mail.company-y.example\n"
	"success 5\n"
	"failure certificate-expired mx1.mail.company-y.example 203.0.113.56 2001:db8:abcd:12::1 "
	"2 -\n"
	"failure starttls-not-supported mx2.mail.company-y.example 203.0.113.57 - 1 "
	"X509_V_ERR%20100%25\n"
	"failure-other 1\n";

static void assert_stats_equal(const struct tlsrpt_domain_stats *a,
			       const struct tlsrpt_domain_stats *b)
{
	assert_string_equal(a->domain, b->domain);
	assert_int_equal(a->day_start, b->day_start);
	assert_int_equal(a->policy_type, b->policy_type);
	assert_int_equal(a->policy_count, b->policy_count);
	for (size_t i = 0; i < a->policy_count; i++)
		assert_string_equal(a->policy_strings[i], b->policy_strings[i]);
	assert_int_equal(a->mx_count, b->mx_count);
	for (size_t i = 0; i < a->mx_count; i++)
		assert_string_equal(a->mx_hosts[i], b->mx_hosts[i]);
	assert_true(a->success_count == b->success_count);
	assert_true(a->failure_count == b->failure_count);
	assert_int_equal(a->failure_detail_count, b->failure_detail_count);
	for (size_t i = 0; i < a->failure_detail_count; i++) {
		const struct tlsrpt_failure *x = &a->failures[i], *y = &b->failures[i];
		assert_int_equal(x->result, y->result);
		assert_string_equal(x->receiving_mx, y->receiving_mx);
		assert_string_equal(x->receiving_ip, y->receiving_ip);
		assert_string_equal(x->sending_ip, y->sending_ip);
		assert_string_equal(x->reason, y->reason);
		assert_true(x->count == y->count);
	}
}

static void test_serialize_roundtrip(void **state)
{
	(void)state;
	struct tlsrpt_domain_stats s, t;
	sample_stats(&s);
	size_t len;
	char *text = tlsrpt_stats_serialize(&s, &len);
	assert_string_equal(text, sample_text);
	assert_int_equal(len, strlen(sample_text));

	const char *err = "x";
	assert_int_equal(tlsrpt_stats_parse(text, len, &t, &err), 0);
	assert_null(err);
	assert_stats_equal(&s, &t);
	char *again = tlsrpt_stats_serialize(&t, NULL);
	assert_string_equal(again, text);
	free(again);
	tlsrpt_stats_fini(&t);

	/* Strings with every awkward byte survive; "-" is not "". */
	const char *odd[] = {"-", "a b%c\td\n\x01\x7f\xc3\xa9", "--"};
	assert_int_equal(tlsrpt_stats_set_policy(&s, TLSRPT_POLICY_TLSA, odd, 3, NULL, 0), 0);
	free(text);
	text = tlsrpt_stats_serialize(&s, &len);
	assert_non_null(strstr(text, "policy-string %2D\n"));
	assert_non_null(strstr(text, "policy-string a%20b%25c%09d%0A%01%7F%C3%A9\n"));
	assert_non_null(strstr(text, "policy-string --\n"));
	assert_int_equal(tlsrpt_stats_parse(text, len, &t, NULL), 0);
	assert_stats_equal(&s, &t);
	tlsrpt_stats_fini(&t);

	/* Every prefix parses (cut at a line end) or fails cleanly. */
	for (size_t k = 0; k <= len; k++) {
		char *copy = xmalloc(k ? k : 1);
		memcpy(copy, text, k);
		int rc = tlsrpt_stats_parse(copy, k, &t, &err);
		assert_true(rc == 0 || rc == -1);
		if (rc == 0) {
			assert_true(t.success_count <= s.success_count);
			tlsrpt_stats_fini(&t);
		} else {
			assert_non_null(err);
			assert_null(t.failures);
		}
		free(copy);
	}
	free(text);
	tlsrpt_stats_fini(&s);

	/* An empty day. */
	assert_int_equal(tlsrpt_stats_init(&s, "example.org", 0), 0);
	text = tlsrpt_stats_serialize(&s, &len);
	assert_string_equal(text, "tlsrpt-stats 1 example.org 0\npolicy no-policy-found\n"
				  "success 0\n");
	assert_int_equal(tlsrpt_stats_parse(text, len, &t, NULL), 0);
	assert_stats_equal(&s, &t);
	tlsrpt_stats_fini(&t);
	free(text);
	tlsrpt_stats_fini(&s);
}

static void test_parse_append(void **state)
{
	(void)state;
	struct tlsrpt_domain_stats s;
	const char *err = NULL;
	/* Records appended one after another add up; the last policy wins;
	 * a torn final line is ignored. */
	static const char text[] =
		"tlsrpt-stats 1 example.com 1796515200\n"
		"policy sts\n"
		"policy-string mode:%20enforce\n"
		"success 3\n"
		"failure certificate-expired mx.example.com - - 1 -\n"
		"tlsrpt-stats 1 EXAMPLE.com. 1796515200\n"
		"policy tlsa\n"
		"policy-string 3%201%201%20abcd\n"
		"mx-host mx.example.com\n"
		"success 2\n"
		"failure certificate-expired mx.example.com - - 4 late\n"
		"failure-other 5\n"
		"success 7";
	assert_int_equal(tlsrpt_stats_parse(text, sizeof(text) - 1, &s, &err), 0);
	assert_int_equal(s.policy_type, TLSRPT_POLICY_TLSA);
	assert_int_equal(s.policy_count, 1);
	assert_string_equal(s.policy_strings[0], "3 1 1 abcd");
	assert_int_equal(s.mx_count, 1);
	assert_int_equal(s.success_count, 5);
	assert_int_equal(s.failure_detail_count, 1);
	assert_int_equal(s.failures[0].count, 5);
	assert_string_equal(s.failures[0].reason, "late");
	assert_int_equal(s.failure_count, 10);
	tlsrpt_stats_fini(&s);

	/* More distinct failures than the table holds: total only. */
	char *big = xmalloc(64 * 80 + 100);
	size_t n = (size_t)snprintf(big, 100, "tlsrpt-stats 1 example.com 1796515200\n");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(big + n, 80, "failure tlsa-invalid - 192.0.2.%d - 2 -\n", i);
	assert_int_equal(tlsrpt_stats_parse(big, n, &s, &err), 0);
	assert_int_equal(s.failure_detail_count, TLSRPT_FAILURES_MAX);
	assert_int_equal(s.failure_count, 80);
	char *out = tlsrpt_stats_serialize(&s, NULL);
	assert_non_null(strstr(out, "failure-other 16\n"));
	free(out);
	free(big);
	tlsrpt_stats_fini(&s);
}

static const char *const corrupt[] = {
	"",
	"\n",
	"success 1\n",
	"tlsrpt-stats 2 example.com 1796515200\n",
	"tlsrpt-stats 1 example.com 1796515201\n",
	"tlsrpt-stats 1 example.com -86400\n",
	"tlsrpt-stats 1 exa%20mple.com 1796515200\n",
	"tlsrpt-stats 1 - 1796515200\n",
	"tlsrpt-stats 1 example.com 1796515200 x\n",
	"tlsrpt-stats 1 example.com 253402300800\n",
	"tlsrpt-stats 1 example.com 1796515200\nsuccess 1\ntlsrpt-stats 1 example.org 1796515200\n",
	"tlsrpt-stats 1 example.com 1796515200\ntlsrpt-stats 1 example.com 1796601600\n",
	"tlsrpt-stats 1 example.com 1796515200\n\n",
	"tlsrpt-stats 1 example.com 1796515200\r\n",
	"tlsrpt-stats 1 example.com 1796515200\nsuccess  1\n",
	"tlsrpt-stats 1 example.com 1796515200\nsuccess 1 \n",
	"tlsrpt-stats 1 example.com 1796515200\n success 1\n",
	"tlsrpt-stats 1 example.com 1796515200\nsuccess\t1\n",
	"tlsrpt-stats 1 example.com 1796515200\nsuccess -1\n",
	"tlsrpt-stats 1 example.com 1796515200\nsuccess +1\n",
	"tlsrpt-stats 1 example.com 1796515200\nsuccess 18446744073709551616\n",
	"tlsrpt-stats 1 example.com 1796515200\nsuccess 000000000000000000001\n",
	"tlsrpt-stats 1 example.com 1796515200\nsuccess\n",
	"tlsrpt-stats 1 example.com 1796515200\nbogus 1\n",
	"tlsrpt-stats 1 example.com 1796515200\npolicy dane\n",
	"tlsrpt-stats 1 example.com 1796515200\npolicy-string x\n",
	"tlsrpt-stats 1 example.com 1796515200\npolicy sts\npolicy-string x y\n",
	"tlsrpt-stats 1 example.com 1796515200\npolicy sts\npolicy-string %00\n",
	"tlsrpt-stats 1 example.com 1796515200\npolicy sts\npolicy-string %4\n",
	"tlsrpt-stats 1 example.com 1796515200\npolicy sts\npolicy-string %G0\n",
	"tlsrpt-stats 1 example.com 1796515200\npolicy sts\npolicy-string \xc3\xa9\n",
	"tlsrpt-stats 1 example.com 1796515200\nmx-host mx.example.com\n",
	"tlsrpt-stats 1 example.com 1796515200\npolicy sts\nmx-host mx..example.com\n",
	"tlsrpt-stats 1 example.com 1796515200\nfailure bogus - - - 1 -\n",
	"tlsrpt-stats 1 example.com 1796515200\nfailure tlsa-invalid - - - 0 -\n",
	"tlsrpt-stats 1 example.com 1796515200\nfailure tlsa-invalid - - - 1\n",
	"tlsrpt-stats 1 example.com 1796515200\nfailure tlsa-invalid - - - 1 - x\n",
	"tlsrpt-stats 1 example.com 1796515200\nfailure tlsa-invalid bad%20mx - - 1 -\n",
	"tlsrpt-stats 1 example.com 1796515200\nfailure tlsa-invalid - 1.2.3 - 1 -\n",
	"tlsrpt-stats 1 example.com 1796515200\nfailure tlsa-invalid - - ::g - 1 -\n",
	"tlsrpt-stats 1 example.com 1796515200\nfailure-other x\n",
};

static void test_parse_corrupt(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(corrupt) / sizeof(corrupt[0]); i++) {
		struct tlsrpt_domain_stats s;
		const char *err = NULL;
		size_t len = strlen(corrupt[i]);
		char *copy = xmalloc(len ? len : 1);
		memcpy(copy, corrupt[i], len);
		if (tlsrpt_stats_parse(copy, len, &s, &err) != -1)
			fail_msg("accepted corrupt input %zu: %s", i, corrupt[i]);
		assert_non_null(err);
		assert_null(s.failures);
		assert_null(s.policy_strings);
		tlsrpt_stats_fini(&s);
		free(copy);
	}

	/* Too many policy strings; a line over TLSRPT_LINE_MAX. */
	struct tlsrpt_domain_stats s;
	const char *err;
	char *big = xmalloc(TLSRPT_LINE_MAX + 200);
	size_t n = (size_t)snprintf(big, 100, "tlsrpt-stats 1 example.com 1796515200\npolicy sts\n");
	char *text = xmalloc(n + (TLSRPT_POLICY_STRINGS_MAX + 1) * 20);
	memcpy(text, big, n);
	size_t tn = n;
	for (int i = 0; i <= TLSRPT_POLICY_STRINGS_MAX; i++)
		tn += (size_t)snprintf(text + tn, 20, "policy-string s%d\n", i);
	assert_int_equal(tlsrpt_stats_parse(text, tn, &s, &err), -1);
	assert_string_equal(err, "policy-string not allowed here");
	free(text);
	memcpy(big + n, "policy-string ", 14);
	memset(big + n + 14, 'a', TLSRPT_LINE_MAX - 14 + 1);
	big[n + TLSRPT_LINE_MAX + 1] = '\n';
	assert_int_equal(tlsrpt_stats_parse(big, n + TLSRPT_LINE_MAX + 2, &s, &err), -1);
	assert_string_equal(err, "line too long");
	free(big);
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */

static const char sample_json[] =
	"{\"organization-name\":\"Company-X\","
	"\"date-range\":{\"start-datetime\":\"2026-12-06T00:00:00Z\","
	"\"end-datetime\":\"2026-12-06T23:59:59Z\"},"
	"\"contact-info\":\"sts-reporting@company-x.example\","
	"\"report-id\":\"5065427c-23d3@company-x.example\","
	"\"policies\":[{\"policy\":{\"policy-type\":\"sts\","
	"\"policy-string\":[\"version: STSv1\",\"mode: testing\","
	"\"mx: *.mail.company-y.example\",\"max_age: 86400\"],"
	"\"policy-domain\":\"company-y.example\","
	"\"mx-host\":[\"*.mail.company-y.example\"]},"
	"\"summary\":{\"total-successful-session-count\":5,"
	"\"total-failure-session-count\":4},"
	"\"failure-details\":["
	"{\"result-type\":\"certificate-expired\",\"sending-mta-ip\":\"2001:db8:abcd:12::1\","
	"\"receiving-mx-hostname\":\"mx1.mail.company-y.example\","
	"\"receiving-ip\":\"203.0.113.56\",\"failed-session-count\":2},"
	"{\"result-type\":\"starttls-not-supported\","
	"\"receiving-mx-hostname\":\"mx2.mail.company-y.example\","
	"\"receiving-ip\":\"203.0.113.57\",\"failed-session-count\":1,"
	"\"failure-reason-code\":\"X509_V_ERR 100%\"}]}]}";

static void test_json(void **state)
{
	(void)state;
	struct tlsrpt_domain_stats s;
	sample_stats(&s);
	size_t len;
	char *j = tlsrpt_report_json(&s, "Company-X", "sts-reporting@company-x.example",
				     "5065427c-23d3@company-x.example", DAY, &len);
	assert_non_null(j);
	assert_string_equal(j, sample_json);
	assert_int_equal(len, strlen(sample_json));
	free(j);
	tlsrpt_stats_fini(&s);

	/* No policy, no failures; escaping and UTF-8 repair. */
	assert_int_equal(tlsrpt_stats_init(&s, "example.net", 0), 0);
	j = tlsrpt_report_json(&s, "a\"b\\c\n\x01\x7f\xc3\xa9\xff\xe2\x82", NULL,
			       "id\xed\xa0\x80", 0, NULL);
	assert_string_equal(j, "{\"organization-name\":\"a\\\"b\\\\c\\u000a\\u0001\\u007f"
			       "\xc3\xa9\\ufffd\\ufffd\\ufffd\","
			       "\"date-range\":{\"start-datetime\":\"1970-01-01T00:00:00Z\","
			       "\"end-datetime\":\"1970-01-01T23:59:59Z\"},"
			       "\"contact-info\":\"\",\"report-id\":\"id\\ufffd\\ufffd\\ufffd\","
			       "\"policies\":[{\"policy\":{\"policy-type\":\"no-policy-found\","
			       "\"policy-domain\":\"example.net\"},"
			       "\"summary\":{\"total-successful-session-count\":0,"
			       "\"total-failure-session-count\":0},\"failure-details\":[]}]}");
	free(j);
	/* Four-byte UTF-8 passes; the year must have four digits. */
	j = tlsrpt_report_json(&s, "\xf0\x9f\x93\xa7", "c", "r", 253402214400LL, NULL);
	assert_non_null(strstr(j, "\"organization-name\":\"\xf0\x9f\x93\xa7\""));
	assert_non_null(strstr(j, "\"end-datetime\":\"9999-12-31T23:59:59Z\""));
	free(j);
	assert_null(tlsrpt_report_json(&s, "o", "c", "r", 253402300800LL, NULL));
	tlsrpt_stats_fini(&s);
}

/* ------------------------------------------------------------------ */
/* gzip                                                                */

static unsigned char *gunzip(const unsigned char *in, size_t len, size_t expect_len)
{
	unsigned char *out = xmalloc(expect_len + 1);
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)(expect_len + 1);
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	assert_int_equal(zs.total_out, expect_len);
	assert_int_equal(zs.avail_in, 0);
	inflateEnd(&zs);
	return out;
}

static void test_gzip(void **state)
{
	(void)state;
	unsigned char *gz, *back;
	size_t gz_len;
	assert_int_equal(tlsrpt_gzip(sample_json, strlen(sample_json), &gz, &gz_len), 0);
	assert_true(gz_len > 18);
	assert_int_equal(gz[0], 0x1f);
	assert_int_equal(gz[1], 0x8b);
	assert_int_equal(gz[2], 8); /* deflate */
	back = gunzip(gz, gz_len, strlen(sample_json));
	assert_memory_equal(back, sample_json, strlen(sample_json));
	free(back);
	free(gz);

	assert_int_equal(tlsrpt_gzip("", 0, &gz, &gz_len), 0);
	back = gunzip(gz, gz_len, 0);
	free(back);
	free(gz);

	/* Incompressible data: the output outgrows a tight buffer. */
	size_t n = 1 << 20;
	unsigned char *rnd = xmalloc(n);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		rnd[i] = (unsigned char)x;
	}
	assert_int_equal(tlsrpt_gzip(rnd, n, &gz, &gz_len), 0);
	back = gunzip(gz, gz_len, n);
	assert_memory_equal(back, rnd, n);
	free(back);
	free(gz);
	free(rnd);
}

/* ------------------------------------------------------------------ */
/* The message                                                         */

static void test_filename(void **state)
{
	(void)state;
	char f[600];
	assert_int_equal(tlsrpt_report_filename("mail.Sender.example", "example.com", DAY, "001",
						f, sizeof(f)),
			 0);
	assert_string_equal(f, "mail.sender.example!example.com!1796515200!1796601599!001.json.gz");
	assert_int_equal(tlsrpt_report_filename("mail.sender.example", "example.com", DAY, "0-1",
						f, sizeof(f)),
			 -1);
	assert_int_equal(tlsrpt_report_filename("mail.sender.example", "example.com", DAY, "", f,
						sizeof(f)),
			 -1);
	assert_int_equal(tlsrpt_report_filename("mail!sender", "example.com", DAY, "1", f,
						sizeof(f)),
			 -1);
	assert_int_equal(tlsrpt_report_filename("a.example", "example.com", DAY, "1", f, 20), -1);
	assert_string_equal(f, "");
}

/* The value of header name in msg (first occurrence, unfolded as is). */
static const char *header(const char *msg, const char *name, char *out, size_t out_size)
{
	size_t nl = strlen(name);
	const char *end = strstr(msg, "\r\n\r\n");
	for (const char *p = msg; p != NULL && p < end; p = strstr(p, "\r\n"), p = p ? p + 2 : p) {
		if (strncmp(p, name, nl) == 0 && p[nl] == ':' && p[nl + 1] == ' ') {
			const char *e = strstr(p, "\r\n");
			snprintf(out, out_size, "%.*s", (int)(e - p - nl - 2), p + nl + 2);
			return out;
		}
	}
	return NULL;
}

static struct tlsrpt_message_params sample_params(const unsigned char *gz, size_t gz_len)
{
	return (struct tlsrpt_message_params){
		.from = "tlsrpt-noreply@mail.sender.example",
		.to = "tlsrpt@example.com",
		.policy_domain = "example.com",
		.submitter = "mail.sender.example",
		.report_id = "735ff.e317+bf22029@mail.sender.example",
		.unique_id = "a1b2",
		.day_start = DAY,
		.now = DAY + 86400 + 3600,
		.gz = gz,
		.gz_len = gz_len,
	};
}

static void test_message(void **state)
{
	(void)state;
	unsigned char *gz;
	size_t gz_len, len;
	char h[512];
	const char *err = "x";
	assert_int_equal(tlsrpt_gzip(sample_json, strlen(sample_json), &gz, &gz_len), 0);
	struct tlsrpt_message_params p = sample_params(gz, gz_len);
	char *m = tlsrpt_message(&p, &len, &err);
	assert_non_null(m);
	assert_null(err);
	assert_int_equal(len, strlen(m));

	assert_string_equal(header(m, "From", h, sizeof(h)), "tlsrpt-noreply@mail.sender.example");
	assert_string_equal(header(m, "To", h, sizeof(h)), "tlsrpt@example.com");
	assert_string_equal(header(m, "Date", h, sizeof(h)), "Mon, 07 Dec 2026 01:00:00 +0000");
	assert_string_equal(header(m, "Message-ID", h, sizeof(h)),
			    "<735ff.e317+bf22029@mail.sender.example>");
	/* 118 characters unfolded: folded at the FWS of RFC 8460 5.3. */
	assert_non_null(strstr(m, "\r\nSubject: Report Domain: example.com\r\n"
				  " Submitter: mail.sender.example\r\n"
				  " Report-ID: <735ff.e317+bf22029@mail.sender.example>\r\n"));
	assert_string_equal(header(m, "TLS-Report-Domain", h, sizeof(h)), "example.com");
	assert_string_equal(header(m, "TLS-Report-Submitter", h, sizeof(h)),
			    "mail.sender.example");
	assert_string_equal(header(m, "MIME-Version", h, sizeof(h)), "1.0");
	assert_string_equal(header(m, "Auto-Submitted", h, sizeof(h)), "auto-generated");
	assert_non_null(strstr(m, "\r\nContent-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
				  " boundary=\"=_tlsrpt_a1b2\"\r\n\r\n"));
	assert_non_null(strstr(m, "\r\n--=_tlsrpt_a1b2\r\nContent-Type: text/plain; "
				  "charset=us-ascii\r\n"));
	assert_non_null(strstr(m, "covering 2026-12-06 (UTC)"));
	static const char fname[] =
		"mail.sender.example!example.com!1796515200!1796601599!a1b2.json.gz";
	char want[512];
	snprintf(want, sizeof(want),
		 "\r\n--=_tlsrpt_a1b2\r\nContent-Type: application/tlsrpt+gzip;\r\n name=\"%s\"\r\n"
		 "Content-Transfer-Encoding: base64\r\n"
		 "Content-Disposition: attachment;\r\n filename=\"%s\"\r\n\r\n",
		 fname, fname);
	const char *b64 = strstr(m, want);
	assert_non_null(b64);
	b64 += strlen(want);
	const char *b64_end = strstr(b64, "\r\n--=_tlsrpt_a1b2--\r\n");
	assert_non_null(b64_end);
	assert_string_equal(b64_end, "\r\n--=_tlsrpt_a1b2--\r\n");

	/* CRLF only, every line short. */
	for (size_t i = 0, col = 0; i < len; i++, col++) {
		if (m[i] == '\n') {
			assert_true(i > 0 && m[i - 1] == '\r');
			col = 0;
			continue;
		}
		assert_true(m[i] != '\r' || m[i + 1] == '\n');
		assert_true(col < 998);
	}

	/* The base64 lines: 76 characters but the last, decoding to gz. */
	char *joined = xmalloc((size_t)(b64_end - b64) + 1);
	size_t jn = 0;
	for (const char *p = b64; p < b64_end;) {
		const char *e = strstr(p, "\r\n");
		size_t ll = (size_t)((e < b64_end ? e : b64_end) - p);
		const char *next = e < b64_end ? e + 2 : b64_end;
		assert_true(ll == 76 || next == b64_end);
		assert_true(ll <= 76);
		memcpy(joined + jn, p, ll);
		jn += ll;
		p = next;
	}
	unsigned char *dec = xmalloc(base64_decoded_max(jn) + 1);
	size_t dn;
	assert_int_equal(base64_decode(joined, jn, dec, base64_decoded_max(jn), &dn), 0);
	assert_int_equal(dn, gz_len);
	assert_memory_equal(dec, gz, gz_len);
	free(dec);
	free(joined);
	free(m);

	/* A short subject stays on one line. */
	p.report_id = "r@s.ex";
	p.submitter = "s.ex";
	p.policy_domain = "d.ex";
	m = tlsrpt_message(&p, NULL, NULL);
	assert_non_null(strstr(m, "\r\nSubject: Report Domain: d.ex Submitter: s.ex "
				  "Report-ID: <r@s.ex>\r\n"));
	free(m);
	free(gz);
}

static void test_message_refused(void **state)
{
	(void)state;
	static const unsigned char gz[] = {0x1f, 0x8b};
	struct {
		const char *field, *value, *err;
	} bad[] = {
		{"from", "a@x.test\r\nBcc: victim@y.test", "bad From address"},
		{"from", "", "bad From address"},
		{"from", NULL, "bad From address"},
		{"to", "not-an-address", "bad To address"},
		{"to", "postmaster", "bad To address"},
		{"policy_domain", "example.com\r\nX: y", "bad policy domain"},
		{"submitter", "*.example.com", "bad submitter domain"},
		{"report_id", "no-at-sign", "bad report id"},
		{"report_id", "a b@c", "bad report id"},
		{"report_id", "a..b@c", "bad report id"},
		{"report_id", "a@c>\r\nX: y", "bad report id"},
		{"unique_id", "a-b", "bad unique id"},
		{"unique_id", "", "bad unique id"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tlsrpt_message_params p = sample_params(gz, sizeof(gz));
		const char **f = strcmp(bad[i].field, "from") == 0	    ? &p.from
				 : strcmp(bad[i].field, "to") == 0	    ? &p.to
				 : strcmp(bad[i].field, "policy_domain") == 0 ? &p.policy_domain
				 : strcmp(bad[i].field, "submitter") == 0   ? &p.submitter
				 : strcmp(bad[i].field, "report_id") == 0   ? &p.report_id
									    : &p.unique_id;
		*f = bad[i].value;
		const char *err = NULL;
		size_t len = 99;
		assert_null(tlsrpt_message(&p, &len, &err));
		assert_string_equal(err, bad[i].err);
	}
	struct tlsrpt_message_params p = sample_params(NULL, 5);
	const char *err = NULL;
	assert_null(tlsrpt_message(&p, NULL, &err));
	assert_string_equal(err, "no report");
	p = sample_params(gz, sizeof(gz));
	p.day_start = DAY + 1;
	assert_non_null(p.gz);
	char *m = tlsrpt_message(&p, NULL, &err);
	/* An unaligned day still names its own seconds; only the date
	 * range must be representable. */
	assert_non_null(m);
	free(m);
	p.day_start = 253402300800LL;
	assert_null(tlsrpt_message(&p, NULL, &err));
	assert_string_equal(err, "bad report day");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_txt_table),
		cmocka_unit_test(test_txt_limits),
		cmocka_unit_test(test_is_and_pick),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_day_and_init),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_serialize_roundtrip),
		cmocka_unit_test(test_parse_append),
		cmocka_unit_test(test_parse_corrupt),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_gzip),
		cmocka_unit_test(test_filename),
		cmocka_unit_test(test_message),
		cmocka_unit_test(test_message_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
