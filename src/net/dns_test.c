/* dns_test: unit tests for net/dns.c. The routing assembly (status
 * mapping, name checks, MX ordering and randomizing, null and implicit MX,
 * limits, address selection, the final verdict) is tested as pure
 * functions from tables. Then the resolver runs for real against a tiny
 * UDP DNS responder inside this process on 127.0.0.1 (hand-built answers,
 * one canned answer per name and type), covering the loop integration,
 * timeouts, cancellation and freeing with requests open; and the fake.
 * The TLSA parser (ours: c-ares 1.18 has none) runs on hand-built
 * messages, each also cut at every length. */
#include "net/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"

/* ---- helpers ---- */

/* Replays keys from a list (then zeros): a fixed "random" order. */
struct seq_rand {
	const uint32_t *keys;
	size_t n, i;
};

static uint32_t seq_rand(void *arg)
{
	struct seq_rand *s = arg;
	return s->i < s->n ? s->keys[s->i++] : 0;
}

static uint32_t lcg_rand(void *arg)
{
	uint64_t *st = arg;
	*st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(*st >> 33);
}

static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, buf,
			  (socklen_t)size);
	else if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf,
			  (socklen_t)size);
	else
		snprintf(buf, size, "?");
}

/* ---- dns_answer_class ---- */

static void test_answer_class(void **state)
{
	(void)state;
	static const struct {
		int status;
		enum dns_answer_class want;
	} cases[] = {
		{ ARES_SUCCESS, DNS_ANSWER_OK },
		{ ARES_ENODATA, DNS_ANSWER_NODATA },
		{ ARES_ENOTFOUND, DNS_ANSWER_NXDOMAIN },
		{ ARES_ENONAME, DNS_ANSWER_NXDOMAIN },
		{ ARES_EBADNAME, DNS_ANSWER_BADNAME },
		{ ARES_ESERVFAIL, DNS_ANSWER_TEMP },
		{ ARES_EREFUSED, DNS_ANSWER_TEMP },
		{ ARES_ETIMEOUT, DNS_ANSWER_TEMP },
		{ ARES_EBADRESP, DNS_ANSWER_TEMP },
		{ ARES_EFORMERR, DNS_ANSWER_TEMP },
		{ ARES_ENOTIMP, DNS_ANSWER_TEMP },
		{ ARES_ECONNREFUSED, DNS_ANSWER_TEMP },
		{ ARES_EOF, DNS_ANSWER_TEMP },
		{ ARES_ECANCELLED, DNS_ANSWER_TEMP },
		{ 9999, DNS_ANSWER_TEMP },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(dns_answer_class(cases[i].status), cases[i].want);
}

/* ---- dns_is_hostname ---- */

static void test_is_hostname(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		bool want;
	} cases[] = {
		{ "example.com", true },
		{ "example.com.", true },
		{ "EXAMPLE.Com", true },
		{ "localhost", true },
		{ "mx-1.example.com", true },
		{ "_25._tcp.example.com", true },
		{ "1.example.com", true },
		{ "", false },
		{ ".", false },
		{ "example..com", false },
		{ ".example.com", false },
		{ "example.com..", false },
		{ "exa mple.com", false },
		{ "exa\\032mple.com", false },
		{ "ex\xc3\xa9.com", false },
		{ "192.0.2.1", false },
		{ "1.2.3", false },
		{ "2001:db8::1", false },
		{ "[192.0.2.1]", false },
		{ "a@b.com", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool got = dns_is_hostname(cases[i].name, strlen(cases[i].name));
		if (got != cases[i].want)
			fail_msg("%s: got %d", cases[i].name, got);
	}
	/* Label and name lengths. */
	char buf[300];
	memset(buf, 'a', 63);
	memcpy(buf + 63, ".com", 5);
	assert_true(dns_is_hostname(buf, strlen(buf)));
	memset(buf, 'a', 64);
	memcpy(buf + 64, ".com", 5);
	assert_false(dns_is_hostname(buf, strlen(buf)));
	/* 253 bytes: 63.63.63.61 */
	size_t p = 0;
	for (int l = 0; l < 4; l++) {
		size_t n = l < 3 ? 63 : 61;
		memset(buf + p, 'b', n);
		p += n;
		buf[p++] = '.';
	}
	buf[--p] = '\0';
	assert_int_equal(strlen(buf), 253);
	assert_true(dns_is_hostname(buf, 253));
	buf[253] = '.';
	buf[254] = '\0';
	assert_true(dns_is_hostname(buf, 254)); /* trailing dot */
	buf[253] = 'c';
	assert_false(dns_is_hostname(buf, 254));
}

/* ---- dns_mx_plan + dns_result_settle (no lookups) ---- */

#define RR_MAX 8
#define HOSTS_MAX 8

struct want_host {
	const char *name;
	unsigned pref;
	bool lookup; /* planned for an address lookup */
	const char *reason; /* substring, when not looked up */
};

struct plan_case {
	const char *name;
	int mx_status;
	struct dns_mx_rr rrs[RR_MAX];
	size_t n;
	uint32_t keys[RR_MAX]; /* random tie-break keys, in record order */
	size_t need;
	bool implicit;
	struct want_host hosts[HOSTS_MAX];
	size_t host_count;
	/* After dns_result_settle with no lookups done (need == 0) or with
	 * every lookup NODATA (need > 0): */
	enum dns_status status;
	const char *enhanced;
	const char *reason; /* substring */
};

#define RR(x, p) { .exchange = (x), .preference = (p) }

static const struct plan_case plan_cases[] = {
	{ .name = "nxdomain", .mx_status = ARES_ENOTFOUND, .status = DNS_PERMFAIL,
	  .enhanced = "5.1.2", .reason = "example.com does not exist" },
	{ .name = "servfail", .mx_status = ARES_ESERVFAIL, .status = DNS_TEMPFAIL,
	  .enhanced = "4.4.3", .reason = "MX lookup for example.com failed" },
	{ .name = "timeout", .mx_status = ARES_ETIMEOUT, .status = DNS_TEMPFAIL,
	  .enhanced = "4.4.3" },
	{ .name = "malformed", .mx_status = ARES_EBADRESP, .status = DNS_TEMPFAIL,
	  .enhanced = "4.4.3" },
	{ .name = "refused", .mx_status = ARES_EREFUSED, .status = DNS_TEMPFAIL,
	  .enhanced = "4.4.3" },
	{ .name = "badname", .mx_status = ARES_EBADNAME, .status = DNS_PERMFAIL,
	  .enhanced = "5.1.2" },
	{ .name = "nodata: implicit mx", .mx_status = ARES_ENODATA, .need = 1, .implicit = true,
	  .hosts = { { "example.com", 0, true, NULL } }, .host_count = 1,
	  .status = DNS_PERMFAIL, .enhanced = "5.4.4", .reason = "no MX and no A/AAAA" },
	{ .name = "success, no records: implicit mx", .mx_status = ARES_SUCCESS, .n = 0,
	  .need = 1, .implicit = true, .hosts = { { "example.com", 0, true, NULL } },
	  .host_count = 1, .status = DNS_PERMFAIL, .enhanced = "5.4.4" },
	{ .name = "null mx", .mx_status = ARES_SUCCESS, .rrs = { RR("", 0) }, .n = 1,
	  .status = DNS_NULL_MX, .enhanced = "5.1.10", .reason = "null MX" },
	{ .name = "null mx written with a dot", .mx_status = ARES_SUCCESS,
	  .rrs = { RR(".", 0) }, .n = 1, .status = DNS_NULL_MX, .enhanced = "5.1.10" },
	{ .name = "lone root at preference 10", .mx_status = ARES_SUCCESS,
	  .rrs = { RR("", 10) }, .n = 1, .status = DNS_NULL_MX, .enhanced = "5.1.10" },
	{ .name = "root among real records is dropped", .mx_status = ARES_SUCCESS,
	  .rrs = { RR("", 0), RR("mx.example.com", 10) }, .n = 2, .need = 1,
	  .hosts = { { "mx.example.com", 10, true, NULL } }, .host_count = 1,
	  .status = DNS_PERMFAIL, .enhanced = "5.4.4", .reason = "no MX host" },
	{ .name = "sorted by preference", .mx_status = ARES_SUCCESS,
	  .rrs = { RR("c.example.com", 30), RR("a.example.com", 10), RR("b.example.com", 20) },
	  .n = 3, .keys = { 1, 2, 3 }, .need = 3,
	  .hosts = { { "a.example.com", 10, true, NULL }, { "b.example.com", 20, true, NULL },
		     { "c.example.com", 30, true, NULL } },
	  .host_count = 3, .status = DNS_PERMFAIL },
	{ .name = "equal preference follows the random keys", .mx_status = ARES_SUCCESS,
	  .rrs = { RR("a.example.com", 10), RR("b.example.com", 10), RR("c.example.com", 5) },
	  .n = 3, .keys = { 900, 100, 500 }, .need = 3,
	  .hosts = { { "c.example.com", 5, true, NULL }, { "b.example.com", 10, true, NULL },
		     { "a.example.com", 10, true, NULL } },
	  .host_count = 3, .status = DNS_PERMFAIL },
	{ .name = "case, trailing dot, duplicates keep the best preference",
	  .mx_status = ARES_SUCCESS,
	  .rrs = { RR("MX.Example.COM.", 20), RR("mx.example.com", 10),
		   RR("other.example.com", 15) },
	  .n = 3, .need = 2,
	  .hosts = { { "mx.example.com", 10, true, NULL },
		     { "other.example.com", 15, true, NULL } },
	  .host_count = 2, .status = DNS_PERMFAIL },
	{ .name = "ip literal exchange is kept, not looked up", .mx_status = ARES_SUCCESS,
	  .rrs = { RR("192.0.2.1", 10), RR("[2001:db8::1]", 20), RR("mx.example.com", 30) },
	  .n = 3, .need = 1,
	  .hosts = { { "192.0.2.1", 10, false, "IP address" },
		     { "[2001:db8::1]", 20, false, "IP address" },
		     { "mx.example.com", 30, true, NULL } },
	  .host_count = 3, .status = DNS_PERMFAIL },
	{ .name = "only an ip literal: permanent", .mx_status = ARES_SUCCESS,
	  .rrs = { RR("192.0.2.1", 10) }, .n = 1, .need = 0,
	  .hosts = { { "192.0.2.1", 10, false, "IP address" } }, .host_count = 1,
	  .status = DNS_PERMFAIL, .enhanced = "5.4.4", .reason = "IP address" },
	{ .name = "garbage exchange names", .mx_status = ARES_SUCCESS,
	  .rrs = { RR("bad name.example.com", 10), RR("x\x01y.example.com", 20),
		   RR("a..b", 30) },
	  .n = 3, .need = 0,
	  .hosts = { { "bad name.example.com", 10, false, "not a valid host name" },
		     { "x\\x01y.example.com", 20, false, "not a valid host name" },
		     { "a..b", 30, false, "not a valid host name" } },
	  .host_count = 3, .status = DNS_PERMFAIL, .enhanced = "5.4.4" },
};

static void check_plan(const struct plan_case *c)
{
	struct dns_result *res = dns_result_new();
	struct seq_rand sr = { .keys = c->keys, .n = RR_MAX };
	size_t need = dns_mx_plan(res, "example.com", c->mx_status, c->rrs, c->n, seq_rand, &sr);
	if (need != c->need)
		fail_msg("%s: need %zu, want %zu", c->name, need, c->need);
	assert_int_equal(res->implicit_mx, c->implicit);
	if (res->host_count != c->host_count)
		fail_msg("%s: %zu hosts, want %zu", c->name, res->host_count, c->host_count);
	for (size_t i = 0; i < c->host_count; i++) {
		const struct dns_host *h = &res->hosts[i];
		const struct want_host *w = &c->hosts[i];
		if (strcmp(h->name, w->name) != 0 || h->preference != w->pref)
			fail_msg("%s: host %zu is %s/%u, want %s/%u", c->name, i, h->name,
				 h->preference, w->name, w->pref);
		assert_int_equal(dns_host_needs_lookup(h), w->lookup);
		if (w->reason != NULL && strstr(h->reason, w->reason) == NULL)
			fail_msg("%s: host %zu reason '%s'", c->name, i, h->reason);
	}
	/* Every planned lookup answers NODATA. */
	struct dns_lookup nodata = { .status = ARES_ENODATA };
	for (size_t i = 0; i < res->host_count; i++)
		if (dns_host_needs_lookup(&res->hosts[i]))
			dns_host_settle(&res->hosts[i], &nodata, &nodata);
	dns_result_settle(res, DNS_KIND_MX, "example.com");
	if (res->status != c->status)
		fail_msg("%s: status %s, want %s", c->name, dns_status_name(res->status),
			 dns_status_name(c->status));
	if (c->enhanced != NULL)
		assert_string_equal(res->enhanced, c->enhanced);
	if (c->reason != NULL && strstr(res->reason, c->reason) == NULL)
		fail_msg("%s: reason '%s'", c->name, res->reason);
	if (res->status != DNS_OK)
		assert_true(res->reason[0] != '\0');
	dns_result_free(&res);
	assert_null(res);
}

static void test_mx_plan_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(plan_cases) / sizeof(plan_cases[0]); i++)
		check_plan(&plan_cases[i]);
}

/* Equal preferences come out in every order over many runs; the order of
 * preference groups never changes. */
static void test_mx_plan_random(void **state)
{
	(void)state;
	const struct dns_mx_rr rrs[] = { RR("a.test", 10), RR("b.test", 10), RR("c.test", 10),
					 RR("z.test", 20), RR("first.test", 5) };
	unsigned seen_first[3] = { 0 };
	uint64_t st = 42;
	for (int run = 0; run < 300; run++) {
		struct dns_result *res = dns_result_new();
		assert_int_equal(dns_mx_plan(res, "test", ARES_SUCCESS, rrs, 5, lcg_rand, &st), 5);
		assert_string_equal(res->hosts[0].name, "first.test");
		assert_string_equal(res->hosts[4].name, "z.test");
		for (size_t i = 1; i <= 3; i++)
			assert_int_equal(res->hosts[i].preference, 10);
		seen_first[res->hosts[1].name[0] - 'a']++;
		dns_result_free(&res);
	}
	for (int i = 0; i < 3; i++)
		assert_true(seen_first[i] > 50); /* about 100 each */
}

/* 100 MX records: the best DNS_MX_HOSTS_MAX are kept, in order. */
static void test_mx_plan_limits(void **state)
{
	(void)state;
	enum { N = 100 };
	struct dns_mx_rr rrs[N];
	char names[N][32];
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "mx%d.test", i);
		rrs[i].exchange = names[i];
		rrs[i].preference = (unsigned)(N - i); /* the last are best */
	}
	uint64_t st = 7;
	struct dns_result *res = dns_result_new();
	assert_int_equal(dns_mx_plan(res, "test", ARES_SUCCESS, rrs, N, lcg_rand, &st),
			 DNS_MX_HOSTS_MAX);
	assert_int_equal(res->host_count, DNS_MX_HOSTS_MAX);
	for (size_t i = 0; i < res->host_count; i++)
		assert_int_equal(res->hosts[i].preference, i + 1);
	dns_result_free(&res);

	/* The same host 100 times is one host. */
	for (int i = 0; i < N; i++)
		rrs[i].exchange = "same.test";
	res = dns_result_new();
	assert_int_equal(dns_mx_plan(res, "test", ARES_SUCCESS, rrs, N, lcg_rand, &st), 1);
	assert_int_equal(res->host_count, 1);
	assert_int_equal(res->hosts[0].preference, 1);
	dns_result_free(&res);

	/* A 1000-byte exchange is shown cut, and refused. */
	char longname[1001];
	memset(longname, 'x', 1000);
	longname[1000] = '\0';
	rrs[0].exchange = longname;
	res = dns_result_new();
	assert_int_equal(dns_mx_plan(res, "test", ARES_SUCCESS, rrs, 1, lcg_rand, &st), 0);
	assert_true(strlen(res->hosts[0].name) <= DNS_NAME_MAX);
	assert_non_null(strstr(res->hosts[0].reason, "not a valid host name"));
	dns_result_free(&res);
}

/* ---- dns_host_settle ---- */

struct settle_case {
	const char *name;
	int s6, s4; /* c-ares status of the AAAA and A lookups */
	size_t n6, n4; /* addresses answered: 2001:db8::N and 192.0.2.N */
	const char *extra6, *extra4; /* one more address, put first */
	size_t want_count;
	size_t want_v6; /* how many of them IPv6 (they come first) */
	bool temporary;
	const char *reason; /* substring, when want_count == 0 */
};

static const struct settle_case settle_cases[] = {
	{ .name = "both families", .s6 = ARES_SUCCESS, .s4 = ARES_SUCCESS, .n6 = 2, .n4 = 3,
	  .want_count = 5, .want_v6 = 2 },
	{ .name = "v4 only", .s6 = ARES_ENODATA, .s4 = ARES_SUCCESS, .n4 = 1, .want_count = 1 },
	{ .name = "v6 only, A servfail", .s6 = ARES_SUCCESS, .s4 = ARES_ESERVFAIL, .n6 = 1,
	  .want_count = 1, .want_v6 = 1 },
	{ .name = "both overflow: half each", .s6 = ARES_SUCCESS, .s4 = ARES_SUCCESS,
	  .n6 = 16, .n4 = 16, .want_count = 16, .want_v6 = 8 },
	{ .name = "few v6, many v4", .s6 = ARES_SUCCESS, .s4 = ARES_SUCCESS, .n6 = 3,
	  .n4 = 16, .want_count = 16, .want_v6 = 3 },
	{ .name = "many v6, few v4", .s6 = ARES_SUCCESS, .s4 = ARES_SUCCESS, .n6 = 16,
	  .n4 = 2, .want_count = 16, .want_v6 = 14 },
	{ .name = "success with no address reads as nodata", .s6 = ARES_SUCCESS,
	  .s4 = ARES_SUCCESS, .reason = "no AAAA or A record" },
	{ .name = "nodata both", .s6 = ARES_ENODATA, .s4 = ARES_ENODATA,
	  .reason = "no AAAA or A record" },
	{ .name = "nxdomain", .s6 = ARES_ENOTFOUND, .s4 = ARES_ENOTFOUND,
	  .reason = "does not exist" },
	{ .name = "timeout both", .s6 = ARES_ETIMEOUT, .s4 = ARES_ETIMEOUT, .temporary = true,
	  .reason = "failed" },
	{ .name = "aaaa servfail, a nodata: defer", .s6 = ARES_ESERVFAIL, .s4 = ARES_ENODATA,
	  .temporary = true, .reason = "AAAA lookup" },
	{ .name = "different temp failures", .s6 = ARES_ESERVFAIL, .s4 = ARES_ETIMEOUT,
	  .temporary = true, .reason = "AAAA: " },
	{ .name = "unusable addresses dropped", .s6 = ARES_SUCCESS, .s4 = ARES_SUCCESS,
	  .extra6 = "::", .extra4 = "0.0.0.0", .n4 = 1, .want_count = 1 },
	{ .name = "only unusable", .s6 = ARES_SUCCESS, .s4 = ARES_SUCCESS,
	  .extra6 = "ff02::1", .extra4 = "224.0.0.1", .reason = "unusable" },
	{ .name = "v4-mapped and broadcast", .s6 = ARES_SUCCESS, .s4 = ARES_SUCCESS,
	  .extra6 = "::ffff:192.0.2.1", .extra4 = "255.255.255.255", .reason = "unusable" },
	{ .name = "loopback is allowed (tests, and the caller's own check)",
	  .s6 = ARES_SUCCESS, .s4 = ARES_SUCCESS, .extra6 = "::1", .extra4 = "127.0.0.1",
	  .want_count = 2, .want_v6 = 1 },
};

static void fill_lookup(struct dns_lookup *lk, int fam, int status, size_t n, const char *extra)
{
	memset(lk, 0, sizeof(*lk));
	lk->status = status;
	if (extra != NULL) {
		assert_int_equal(inet_pton(fam, extra, lk->addr[lk->count]), 1);
		lk->count++;
	}
	for (size_t i = 0; i < n && lk->count < DNS_ADDRS_MAX; i++) {
		char buf[64];
		if (fam == AF_INET6)
			snprintf(buf, sizeof(buf), "2001:db8::%zx", i + 1);
		else
			snprintf(buf, sizeof(buf), "192.0.2.%zu", i + 1);
		assert_int_equal(inet_pton(fam, buf, lk->addr[lk->count]), 1);
		lk->count++;
	}
}

static void test_host_settle_table(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(settle_cases) / sizeof(settle_cases[0]); k++) {
		const struct settle_case *c = &settle_cases[k];
		struct dns_lookup v6, v4;
		fill_lookup(&v6, AF_INET6, c->s6, c->n6, c->extra6);
		fill_lookup(&v4, AF_INET, c->s4, c->n4, c->extra4);
		struct dns_result *res = dns_result_new();
		struct dns_host *h = dns_result_add_host(res, "mx.test", 10);
		dns_host_settle(h, &v6, &v4);
		if (h->addr_count != c->want_count)
			fail_msg("%s: %zu addresses, want %zu", c->name, h->addr_count,
				 c->want_count);
		for (size_t i = 0; i < h->addr_count; i++) {
			int fam = i < c->want_v6 ? AF_INET6 : AF_INET;
			if (h->addrs[i].ss_family != fam)
				fail_msg("%s: address %zu has family %d", c->name, i,
					 h->addrs[i].ss_family);
			/* Port 0: the caller sets it. */
			if (fam == AF_INET6)
				assert_int_equal(((struct sockaddr_in6 *)&h->addrs[i])->sin6_port,
						 0);
			else
				assert_int_equal(((struct sockaddr_in *)&h->addrs[i])->sin_port, 0);
		}
		if (h->temporary != c->temporary)
			fail_msg("%s: temporary %d", c->name, h->temporary);
		if (c->want_count > 0)
			assert_string_equal(h->reason, "");
		else if (strstr(h->reason, c->reason) == NULL ||
			 strstr(h->reason, "mx.test") == NULL)
			fail_msg("%s: reason '%s'", c->name, h->reason);
		/* Settling again replaces, never leaks or appends. */
		dns_host_settle(h, &v6, &v4);
		assert_int_equal(h->addr_count, c->want_count);
		dns_result_free(&res);
	}
}

/* ---- dns_result_settle over several hosts ---- */

static void test_result_settle(void **state)
{
	(void)state;
	struct dns_lookup ok4, nodata = { .status = ARES_ENODATA },
			       tmo = { .status = ARES_ETIMEOUT },
			       nx = { .status = ARES_ENOTFOUND };
	fill_lookup(&ok4, AF_INET, ARES_SUCCESS, 1, NULL);
	static const struct {
		int h1, h2; /* 0 ok, 1 nodata, 2 timeout, 3 nxdomain */
		enum dns_status want;
		const char *enhanced;
	} cases[] = {
		{ 0, 2, DNS_OK, "" },
		{ 2, 0, DNS_OK, "" },
		{ 1, 2, DNS_TEMPFAIL, "4.4.3" },
		{ 3, 1, DNS_PERMFAIL, "5.4.4" },
		{ 3, 3, DNS_PERMFAIL, "5.4.4" },
	};
	const struct dns_lookup *pick[] = { &ok4, &nodata, &tmo, &nx };
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct dns_result *res = dns_result_new();
		struct dns_host *h = dns_result_add_host(res, "mx1.test", 10);
		dns_host_settle(h, &nodata, pick[cases[k].h1]);
		h = dns_result_add_host(res, "mx2.test", 20);
		dns_host_settle(h, &nodata, pick[cases[k].h2]);
		dns_result_settle(res, DNS_KIND_MX, "test");
		assert_int_equal(res->status, cases[k].want);
		assert_string_equal(res->enhanced, cases[k].enhanced);
		if (res->status != DNS_OK)
			assert_non_null(strstr(res->reason, "mx1.test"));
		else
			assert_string_equal(res->reason, "");
		dns_result_free(&res);
	}
	/* Implicit MX with nothing behind it. */
	struct dns_result *res = dns_result_new();
	assert_int_equal(dns_mx_plan(res, "test", ARES_ENODATA, NULL, 0, seq_rand, NULL), 1);
	dns_host_settle(&res->hosts[0], &nodata, &nodata);
	dns_result_settle(res, DNS_KIND_MX, "test");
	assert_int_equal(res->status, DNS_PERMFAIL);
	assert_non_null(strstr(res->reason, "no MX and no A/AAAA"));
	dns_result_free(&res);
	/* A reason longer than the buffer is cut with "...". */
	res = dns_result_new();
	char big[600];
	memset(big, 'r', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	dns_result_set(res, DNS_TEMPFAIL, "4.4.3", "%s", big);
	assert_int_equal(strlen(res->reason), DNS_REASON_MAX - 1);
	assert_string_equal(res->reason + DNS_REASON_MAX - 4, "...");
	dns_result_free(&res);
}

/* ---- A tiny DNS responder on 127.0.0.1 for the real resolver ---- */

enum { T_A = 1, T_CNAME = 5, T_PTR = 12, T_MX = 15, T_TXT = 16, T_AAAA = 28, T_TLSA = 52 };

struct canned_rr {
	int type;
	unsigned pref; /* MX */
	/* MX exchange ("" = root), PTR or CNAME target, address text, TXT
	 * character-strings separated by '|', or the whole TLSA RDATA in hex */
	const char *data;
};

enum canned_mode {
	M_ANSWER,
	M_SILENT, /* never answer */
	M_GARBAGE, /* answer with a broken packet */
	M_TC, /* truncated: TC bit, no records (nothing listens on TCP) */
	M_AD, /* answer, with AD set when the query had it (a validator) */
};

struct canned {
	const char *name; /* lower case */
	int qtype;
	int rcode; /* 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED */
	enum canned_mode mode;
	struct canned_rr rr[6];
};

static const struct canned canned[] = {
	{ "example.test", T_MX, 0, M_ANSWER,
	  { { T_MX, 20, "mx2.example.test" }, { T_MX, 10, "mx1.example.test" } } },
	{ "mx1.example.test", T_AAAA, 0, M_ANSWER, { { T_AAAA, 0, "2001:db8::1" } } },
	{ "mx1.example.test", T_A, 0, M_ANSWER,
	  { { T_A, 0, "192.0.2.1" }, { T_A, 0, "192.0.2.11" } } },
	{ "mx2.example.test", T_AAAA, 0, M_ANSWER, { { 0 } } }, /* NODATA */
	{ "mx2.example.test", T_A, 0, M_ANSWER, { { T_A, 0, "192.0.2.2" } } },
	{ "noma.test", T_MX, 0, M_ANSWER, { { 0 } } },
	{ "noma.test", T_A, 0, M_ANSWER, { { T_A, 0, "192.0.2.3" } } },
	{ "noma.test", T_AAAA, 0, M_ANSWER, { { 0 } } },
	{ "nothing.test", T_MX, 0, M_ANSWER, { { 0 } } },
	{ "nothing.test", T_A, 0, M_ANSWER, { { 0 } } },
	{ "nothing.test", T_AAAA, 0, M_ANSWER, { { 0 } } },
	{ "null.test", T_MX, 0, M_ANSWER, { { T_MX, 0, "" } } },
	{ "fail.test", T_MX, 2, M_ANSWER, { { 0 } } },
	{ "refused.test", T_MX, 5, M_ANSWER, { { 0 } } },
	{ "silent.test", T_MX, 0, M_SILENT, { { 0 } } },
	{ "garbage.test", T_MX, 0, M_GARBAGE, { { 0 } } },
	{ "half.test", T_MX, 0, M_ANSWER, { { T_MX, 10, "mx.half.test" } } },
	{ "mx.half.test", T_A, 0, M_ANSWER, { { T_A, 0, "192.0.2.5" } } },
	{ "mx.half.test", T_AAAA, 0, M_SILENT, { { 0 } } },
	{ "smart.test", T_A, 0, M_ANSWER, { { T_A, 0, "192.0.2.25" } } },
	{ "smart.test", T_AAAA, 0, M_ANSWER, { { T_AAAA, 0, "2001:db8::25" } } },
	{ "tc.test", T_MX, 0, M_TC, { { 0 } } },
	/* Raw queries (dns_query). */
	{ "txt.test", T_TXT, 0, M_ANSWER,
	  { { T_TXT, 0, "v=spf1 ip4:192.0.2.0/24 | -all" },
	    { T_TXT, 0, "hello" },
	    { T_TXT, 0, "a||c" } } },
	{ "txt.test", T_AAAA, 0, M_ANSWER, { { 0 } } }, /* NODATA */
	{ "addrs.test", T_A, 0, M_ANSWER,
	  { { T_A, 0, "192.0.2.1" },
	    { T_A, 0, "0.0.0.0" },
	    { T_A, 0, "224.0.0.1" },
	    { T_A, 0, "255.255.255.255" } } },
	{ "addrs.test", T_AAAA, 0, M_ANSWER,
	  { { T_AAAA, 0, "2001:db8::1" },
	    { T_AAAA, 0, "::ffff:192.0.2.1" },
	    { T_AAAA, 0, "ff02::1" } } },
	{ "mx.test", T_MX, 0, M_ANSWER,
	  { { T_MX, 20, "MX2.Example.TEST" }, { T_MX, 10, "mx1.example.test" }, { T_MX, 0, "" } } },
	{ "1.2.0.192.in-addr.arpa", T_PTR, 0, M_ANSWER,
	  { { T_PTR, 0, "mail.example.test" }, { T_PTR, 0, "Other.Example.TEST" } } },
	{ "fail.test", T_TXT, 2, M_ANSWER, { { 0 } } },
	{ "ad.test", T_TXT, 0, M_AD, { { T_TXT, 0, "v=DMARC1; p=reject" } } },
	{ "tc.test", T_TXT, 0, M_TC, { { 0 } } },
	{ "silent.test", T_TXT, 0, M_SILENT, { { 0 } } },
	/* TLSA (dns_parse_tlsa behind dns_query). */
	{ "_25._tcp.mx.tlsa.test", T_TLSA, 0, M_AD,
	  { { T_TLSA, 0,
	      "030101"
	      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" },
	    { T_TLSA, 0, "02000100ff" } } },
	{ "cname.tlsa.test", T_TLSA, 0, M_ANSWER,
	  { { T_CNAME, 0, "_25._tcp.mx.tlsa.test" }, { T_TLSA, 0, "030102beef" } } },
	{ "short.tlsa.test", T_TLSA, 0, M_ANSWER, { { T_TLSA, 0, "0301" } } },
	{ "mixed.tlsa.test", T_TLSA, 0, M_ANSWER,
	  { { T_TLSA, 0, "0301" }, { T_TLSA, 0, "030101aa" } } },
	{ "nodata.tlsa.test", T_TLSA, 0, M_ANSWER, { { 0 } } },
	{ "fail.tlsa.test", T_TLSA, 2, M_ANSWER, { { 0 } } },
};

struct responder {
	int fd;
	uint16_t port;
	struct event *ev;
	unsigned queries;
};

static size_t put_name(unsigned char *p, const char *name)
{
	size_t n = 0;
	while (*name != '\0') {
		const char *dot = strchr(name, '.');
		size_t len = dot != NULL ? (size_t)(dot - name) : strlen(name);
		p[n++] = (unsigned char)len;
		memcpy(p + n, name, len);
		n += len;
		name += len;
		if (*name == '.')
			name++;
	}
	p[n++] = 0;
	return n;
}

/* Hex text to bytes; the canned data is ours, so no error handling. */
static size_t put_hex(unsigned char *p, const char *hex)
{
	size_t n = 0;
	for (; hex[0] != '\0' && hex[1] != '\0'; hex += 2) {
		char two[3] = { hex[0], hex[1], '\0' };
		p[n++] = (unsigned char)strtoul(two, NULL, 16);
	}
	return n;
}

static void responder_cb(evutil_socket_t fd, short what, void *arg)
{
	struct responder *r = arg;
	(void)what;
	unsigned char q[512], a[1024];
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	ssize_t len = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&peer, &plen);
	if (len < 12)
		return;
	r->queries++;
	/* The question: uncompressed labels after the 12-byte header. */
	char name[256];
	size_t p = 12, np = 0;
	while (p < (size_t)len && q[p] != 0) {
		size_t l = q[p++];
		if (p + l > (size_t)len || np + l + 1 >= sizeof(name))
			return;
		if (np > 0)
			name[np++] = '.';
		for (size_t i = 0; i < l; i++) {
			char c = (char)q[p + i];
			name[np++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
		}
		p += l;
	}
	name[np] = '\0';
	if (p + 5 > (size_t)len)
		return;
	int qtype = q[p + 1] << 8 | q[p + 2];
	size_t qend = p + 5;

	const struct canned *c = NULL;
	for (size_t i = 0; i < sizeof(canned) / sizeof(canned[0]); i++)
		if (strcmp(canned[i].name, name) == 0 && canned[i].qtype == qtype)
			c = &canned[i];
	if (c != NULL && c->mode == M_SILENT)
		return;
	memcpy(a, q, qend);
	a[2] = (unsigned char)(0x84 | (q[2] & 0x01)); /* QR, AA, RD copied */
	a[3] = (unsigned char)(0x80 | (c == NULL ? 3 : c->rcode)); /* RA, rcode */
	a[4] = 0;
	a[5] = 1;
	memset(a + 6, 0, 6);
	size_t n = qend;
	unsigned an = 0;
	for (size_t i = 0; c != NULL && i < 6 && c->rr[i].type != 0; i++) {
		const struct canned_rr *rr = &c->rr[i];
		a[n++] = 0xc0; /* owner: the question name */
		a[n++] = 12;
		a[n++] = 0;
		a[n++] = (unsigned char)rr->type;
		a[n++] = 0;
		a[n++] = 1;
		memcpy(a + n, "\0\0\0\x3c", 4);
		n += 4;
		size_t rdlen_at = n;
		n += 2;
		size_t rd = n;
		if (rr->type == T_MX) {
			a[n++] = (unsigned char)(rr->pref >> 8);
			a[n++] = (unsigned char)rr->pref;
			n += put_name(a + n, rr->data);
		} else if (rr->type == T_PTR || rr->type == T_CNAME) {
			n += put_name(a + n, rr->data);
		} else if (rr->type == T_TLSA) {
			n += put_hex(a + n, rr->data);
		} else if (rr->type == T_TXT) {
			for (const char *d = rr->data;;) {
				const char *bar = strchr(d, '|');
				size_t l = bar != NULL ? (size_t)(bar - d) : strlen(d);
				a[n++] = (unsigned char)l;
				memcpy(a + n, d, l);
				n += l;
				if (bar == NULL)
					break;
				d = bar + 1;
			}
		} else if (rr->type == T_A) {
			assert_int_equal(inet_pton(AF_INET, rr->data, a + n), 1);
			n += 4;
		} else {
			assert_int_equal(inet_pton(AF_INET6, rr->data, a + n), 1);
			n += 16;
		}
		a[rdlen_at] = (unsigned char)((n - rd) >> 8);
		a[rdlen_at + 1] = (unsigned char)(n - rd);
		an++;
	}
	a[7] = (unsigned char)an;
	if (c != NULL && c->mode == M_AD)
		a[3] |= (unsigned char)(q[3] & 0x20);
	if (c != NULL && c->mode == M_TC) {
		a[2] |= 0x02;
		a[7] = 0;
		n = qend;
	}
	if (c != NULL && c->mode == M_GARBAGE) {
		/* Claims an answer, then stops in the middle of it. */
		a[7] = 1;
		a[qend] = 0xc0;
		n = qend + 1;
	}
	(void)sendto(fd, a, n, 0, (struct sockaddr *)&peer, plen);
}

static void responder_start(struct responder *r, struct event_base *base)
{
	memset(r, 0, sizeof(*r));
	r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(r->fd >= 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(r->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	socklen_t sl = sizeof(sin);
	assert_int_equal(getsockname(r->fd, (struct sockaddr *)&sin, &sl), 0);
	r->port = ntohs(sin.sin_port);
	r->ev = event_new(base, r->fd, EV_READ | EV_PERSIST, responder_cb, r);
	assert_int_equal(event_add(r->ev, NULL), 0);
}

static void responder_stop(struct responder *r)
{
	event_free(r->ev);
	close(r->fd);
}

/* ---- the real resolver ---- */

struct outcome {
	bool done;
	struct dns_result *res;
	struct event_base *base;
	unsigned *left; /* shared countdown; loop breaks at 0 */
	struct dns **free_in_cb; /* freed from inside the callback */
};

static void outcome_cb(struct dns_result *res, void *arg)
{
	struct outcome *o = arg;
	assert_false(o->done);
	o->done = true;
	o->res = res;
	if (o->free_in_cb != NULL)
		dns_free(o->free_in_cb);
	if (--*o->left == 0)
		event_base_loopbreak(o->base);
}

static void never_cb(struct dns_result *res, void *arg)
{
	(void)res;
	(void)arg;
	fail_msg("callback after cancel or free");
}

struct fixture {
	struct event_base *base;
	struct responder resp;
	struct dns *dns;
	unsigned left;
};

static int fx_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	fx->base = event_base_new();
	responder_start(&fx->resp, fx->base);
	struct cfg_hostport srv = { .host = "127.0.0.1", .port = fx->resp.port };
	char err[200] = "";
	fx->dns = dns_new(fx->base, &srv, 1, 600, err, sizeof(err));
	if (fx->dns == NULL)
		fail_msg("dns_new: %s", err);
	*state = fx;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fixture *fx = *state;
	dns_free(&fx->dns);
	responder_stop(&fx->resp);
	event_base_free(fx->base);
	free(fx);
	return 0;
}

static void fx_run(struct fixture *fx)
{
	struct timeval guard = { .tv_sec = 5 };
	assert_int_equal(event_base_loopexit(fx->base, &guard), 0);
	assert_int_equal(event_base_dispatch(fx->base), 0);
	assert_int_equal(fx->left, 0);
}

static struct outcome *ask(struct fixture *fx, enum dns_kind kind, const char *name,
			   struct dns_req **req_out)
{
	struct outcome *o = calloc(1, sizeof(*o));
	o->base = fx->base;
	o->left = &fx->left;
	fx->left++;
	struct dns_req *req = kind == DNS_KIND_MX ? dns_resolve_mx(fx->dns, name, outcome_cb, o)
						  : dns_resolve_host(fx->dns, name, outcome_cb, o);
	assert_non_null(req);
	assert_false(o->done); /* never synchronously */
	if (req_out != NULL)
		*req_out = req;
	return o;
}

static void check_addrs(const struct dns_host *h, const char *const *want, size_t n)
{
	if (h->addr_count != n)
		fail_msg("%s: %zu addresses, want %zu", h->name, h->addr_count, n);
	for (size_t i = 0; i < n; i++) {
		char buf[64];
		addr_text(&h->addrs[i], buf, sizeof(buf));
		assert_string_equal(buf, want[i]);
	}
}

static void outcome_free(struct outcome *o)
{
	dns_result_free(&o->res);
	free(o);
}

struct qoutcome {
	bool done;
	struct dns_answer *ans;
	struct event_base *base;
	unsigned *left;
};

static void qoutcome_cb(struct dns_answer *ans, void *arg)
{
	struct qoutcome *o = arg;
	assert_false(o->done);
	o->done = true;
	o->ans = ans;
	if (--*o->left == 0)
		event_base_loopbreak(o->base);
}

static void qnever_cb(struct dns_answer *ans, void *arg)
{
	(void)ans;
	(void)arg;
	fail_msg("query callback after cancel or free");
}

static struct qoutcome *qask(struct fixture *fx, struct dns *dns, enum dns_qtype type,
			     const char *name)
{
	struct qoutcome *o = calloc(1, sizeof(*o));
	o->base = fx->base;
	o->left = &fx->left;
	fx->left++;
	assert_non_null(dns_query(dns, type, name, qoutcome_cb, o));
	assert_false(o->done); /* never synchronously */
	return o;
}

static void qoutcome_free(struct qoutcome *o)
{
	dns_answer_free(&o->ans);
	assert_null(o->ans);
	free(o);
}

static void test_real_queries(void **state)
{
	struct fixture *fx = *state;
	struct outcome *mx = ask(fx, DNS_KIND_MX, "Example.TEST.", NULL);
	struct outcome *noma = ask(fx, DNS_KIND_MX, "noma.test", NULL);
	struct outcome *nothing = ask(fx, DNS_KIND_MX, "nothing.test", NULL);
	struct outcome *nx = ask(fx, DNS_KIND_MX, "nx.test", NULL);
	struct outcome *null = ask(fx, DNS_KIND_MX, "null.test", NULL);
	struct outcome *fail = ask(fx, DNS_KIND_MX, "fail.test", NULL);
	struct outcome *refused = ask(fx, DNS_KIND_MX, "refused.test", NULL);
	struct outcome *bad = ask(fx, DNS_KIND_MX, "bad domain.test", NULL);
	struct outcome *lit = ask(fx, DNS_KIND_MX, "[192.0.2.1]", NULL);
	struct outcome *host = ask(fx, DNS_KIND_HOST, "smart.test", NULL);
	struct outcome *num4 = ask(fx, DNS_KIND_HOST, "192.0.2.9", NULL);
	struct outcome *num6 = ask(fx, DNS_KIND_HOST, "[2001:db8::9]", NULL);
	struct outcome *lh = ask(fx, DNS_KIND_HOST, "localhost", NULL);
	struct outcome *nohost = ask(fx, DNS_KIND_HOST, "nowhere.test", NULL);
	fx_run(fx);

	assert_int_equal(mx->res->status, DNS_OK);
	assert_false(mx->res->implicit_mx);
	assert_int_equal(mx->res->host_count, 2);
	assert_string_equal(mx->res->hosts[0].name, "mx1.example.test");
	assert_int_equal(mx->res->hosts[0].preference, 10);
	const char *mx1[] = { "2001:db8::1", "192.0.2.1", "192.0.2.11" };
	check_addrs(&mx->res->hosts[0], mx1, 3);
	assert_string_equal(mx->res->hosts[1].name, "mx2.example.test");
	const char *mx2[] = { "192.0.2.2" };
	check_addrs(&mx->res->hosts[1], mx2, 1);

	assert_int_equal(noma->res->status, DNS_OK);
	assert_true(noma->res->implicit_mx);
	assert_string_equal(noma->res->hosts[0].name, "noma.test");
	const char *n3[] = { "192.0.2.3" };
	check_addrs(&noma->res->hosts[0], n3, 1);

	assert_int_equal(nothing->res->status, DNS_PERMFAIL);
	assert_non_null(strstr(nothing->res->reason, "no MX and no A/AAAA"));

	assert_int_equal(nx->res->status, DNS_PERMFAIL); /* unknown names: NXDOMAIN */
	assert_string_equal(nx->res->enhanced, "5.1.2");
	assert_int_equal(null->res->status, DNS_NULL_MX);
	assert_string_equal(null->res->enhanced, "5.1.10");
	assert_int_equal(fail->res->status, DNS_TEMPFAIL);
	assert_string_equal(fail->res->enhanced, "4.4.3");
	assert_int_equal(refused->res->status, DNS_TEMPFAIL);
	assert_int_equal(bad->res->status, DNS_PERMFAIL);
	assert_int_equal(lit->res->status, DNS_PERMFAIL);

	assert_int_equal(host->res->status, DNS_OK);
	const char *sm[] = { "2001:db8::25", "192.0.2.25" };
	check_addrs(&host->res->hosts[0], sm, 2);
	const char *a9[] = { "192.0.2.9" };
	check_addrs(&num4->res->hosts[0], a9, 1);
	const char *a69[] = { "2001:db8::9" };
	check_addrs(&num6->res->hosts[0], a69, 1);
	const char *lo[] = { "::1", "127.0.0.1" };
	check_addrs(&lh->res->hosts[0], lo, 2);
	assert_int_equal(nohost->res->status, DNS_PERMFAIL);
	assert_non_null(strstr(nohost->res->reason, "does not exist"));

	struct outcome *all[] = { mx, noma, nothing, nx, null, fail, refused,
				  bad, lit, host, num4, num6, lh, nohost };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		outcome_free(all[i]);
}

static void test_real_timeouts(void **state)
{
	struct fixture *fx = *state;
	struct outcome *silent = ask(fx, DNS_KIND_MX, "silent.test", NULL);
	struct outcome *garbage = ask(fx, DNS_KIND_MX, "garbage.test", NULL);
	struct outcome *half = ask(fx, DNS_KIND_MX, "half.test", NULL);
	/* Truncated, and TCP refused: only this request fails (c-ares resets
	 * every query of a channel on a TCP error; each request has its own). */
	struct outcome *tc1 = ask(fx, DNS_KIND_MX, "tc.test", NULL);
	struct outcome *tc2 = ask(fx, DNS_KIND_MX, "tc.test", NULL);
	struct outcome *ok = ask(fx, DNS_KIND_MX, "example.test", NULL);
	struct qoutcome *qsilent = qask(fx, fx->dns, DNS_Q_TXT, "silent.test");
	fx_run(fx);
	assert_int_equal(qsilent->ans->status, DNS_A_TEMPFAIL);
	assert_non_null(strstr(qsilent->ans->reason, "TXT lookup for silent.test"));
	qoutcome_free(qsilent);
	assert_int_equal(tc1->res->status, DNS_TEMPFAIL);
	assert_int_equal(tc2->res->status, DNS_TEMPFAIL);
	assert_int_equal(ok->res->status, DNS_OK);
	assert_int_equal(ok->res->host_count, 2);
	outcome_free(tc1);
	outcome_free(tc2);
	outcome_free(ok);
	assert_int_equal(silent->res->status, DNS_TEMPFAIL);
	if (garbage->res->status != DNS_TEMPFAIL)
		fail_msg("garbage: %s: %s", dns_status_name(garbage->res->status),
			 garbage->res->reason);
	/* AAAA never answered, A did: the address found is used. */
	assert_int_equal(half->res->status, DNS_OK);
	const char *h5[] = { "192.0.2.5" };
	check_addrs(&half->res->hosts[0], h5, 1);
	outcome_free(silent);
	outcome_free(garbage);
	outcome_free(half);
}

static void test_real_cancel(void **state)
{
	struct fixture *fx = *state;
	struct dns_req *r1 = dns_resolve_mx(fx->dns, "example.test", never_cb, NULL);
	struct dns_req *r2 = dns_resolve_mx(fx->dns, "silent.test", never_cb, NULL);
	struct dns_req *r3 = dns_resolve_host(fx->dns, "192.0.2.1", never_cb, NULL);
	struct outcome *ok = ask(fx, DNS_KIND_MX, "example.test", NULL);
	dns_cancel(&r1);
	dns_cancel(&r2);
	dns_cancel(&r3);
	assert_null(r1);
	dns_cancel(&r1); /* NULL is fine */
	fx_run(fx);
	assert_int_equal(ok->res->status, DNS_OK);
	outcome_free(ok);
	/* Requests still open when the resolver goes: no callback. */
	(void)dns_resolve_mx(fx->dns, "silent.test", never_cb, NULL);
	(void)dns_resolve_mx(fx->dns, "example.test", never_cb, NULL);
	(void)dns_resolve_host(fx->dns, "localhost", never_cb, NULL);
	dns_free(&fx->dns);
	assert_null(fx->dns);
	struct timeval tv = { .tv_usec = 100000 };
	event_base_loopexit(fx->base, &tv);
	event_base_dispatch(fx->base);
}

/* The first callback frees the resolver; the second request is dropped
 * silently. */
static void test_free_in_callback(void **state)
{
	struct fixture *fx = *state;
	struct outcome *o = ask(fx, DNS_KIND_HOST, "192.0.2.1", NULL);
	o->free_in_cb = &fx->dns;
	(void)dns_resolve_mx(fx->dns, "example.test", never_cb, NULL);
	fx_run(fx);
	assert_null(fx->dns);
	struct timeval tv = { .tv_usec = 100000 };
	event_base_loopexit(fx->base, &tv);
	event_base_dispatch(fx->base);
	outcome_free(o);
}

static void test_bad_servers(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct cfg_hostport srv = { .host = "dns.example.com", .port = 53 };
	char err[200] = "";
	assert_null(dns_new(base, &srv, 1, 1000, err, sizeof(err)));
	assert_non_null(strstr(err, "not a numeric address"));
	struct cfg_hostport v6 = { .host = "::1", .port = 5353 };
	struct dns *dns = dns_new(base, &v6, 1, 1000, err, sizeof(err));
	assert_non_null(dns);
	dns_free(&dns);
	event_base_free(base);
}

/* ---- raw queries (dns_query) ---- */

static void check_arec(const struct dns_answer *ans, size_t i, const char *data, bool start)
{
	if (i >= ans->count)
		fail_msg("arec %zu missing (%zu)", i, ans->count);
	const struct dns_arec *r = &ans->recs[i];
	if (r->len != strlen(data) || memcmp(r->data, data, r->len) != 0 || r->data[r->len] != '\0')
		fail_msg("arec %zu: '%.*s', want '%s'", i, (int)r->len, r->data, data);
	if (r->record_start != start)
		fail_msg("arec %zu: record_start %d", i, r->record_start);
}

static void check_addr_recs(const struct dns_answer *ans, int fam, const char *const *want,
			    size_t n)
{
	assert_int_equal(ans->status, DNS_A_OK);
	if (ans->count != n)
		fail_msg("%zu addresses, want %zu", ans->count, n);
	for (size_t i = 0; i < n; i++) {
		char buf[64];
		assert_int_equal(ans->recs[i].family, fam);
		assert_true(ans->recs[i].record_start);
		assert_null(ans->recs[i].data);
		assert_non_null(inet_ntop(fam, ans->recs[i].addr, buf, sizeof(buf)));
		assert_string_equal(buf, want[i]);
	}
}

static void test_query_real(void **state)
{
	struct fixture *fx = *state;
	struct dns *d = fx->dns;
	struct qoutcome *txt = qask(fx, d, DNS_Q_TXT, "TXT.test.");
	struct qoutcome *a = qask(fx, d, DNS_Q_A, "addrs.test");
	struct qoutcome *aaaa = qask(fx, d, DNS_Q_AAAA, "addrs.test");
	struct qoutcome *mx = qask(fx, d, DNS_Q_MX, "mx.test");
	struct qoutcome *ptr = qask(fx, d, DNS_Q_PTR, "1.2.0.192.in-addr.arpa");
	struct qoutcome *nx = qask(fx, d, DNS_Q_TXT, "nx.test");
	struct qoutcome *nodata = qask(fx, d, DNS_Q_AAAA, "txt.test");
	struct qoutcome *fail = qask(fx, d, DNS_Q_TXT, "fail.test");
	struct qoutcome *ad = qask(fx, d, DNS_Q_TXT, "ad.test");
	struct qoutcome *tc = qask(fx, d, DNS_Q_TXT, "tc.test");
	struct qoutcome *bad = qask(fx, d, DNS_Q_TXT, "bad name.test");
	struct qoutcome *empty = qask(fx, d, DNS_Q_A, "");
	/* Local-part characters an SPF macro can put in a name are asked. */
	struct qoutcome *odd = qask(fx, d, DNS_Q_A, "a+b=c.txt.test");
	fx_run(fx);

	/* TXT: three records, strings unjoined, the empty one kept. */
	assert_int_equal(txt->ans->status, DNS_A_OK);
	assert_false(txt->ans->truncated);
	assert_false(txt->ans->ad); /* our responder is no validator */
	assert_string_equal(txt->ans->reason, "");
	assert_int_equal(txt->ans->count, 6);
	check_arec(txt->ans, 0, "v=spf1 ip4:192.0.2.0/24 ", true);
	check_arec(txt->ans, 1, " -all", false);
	check_arec(txt->ans, 2, "hello", true);
	check_arec(txt->ans, 3, "a", true);
	check_arec(txt->ans, 4, "", false);
	check_arec(txt->ans, 5, "c", false);

	/* A/AAAA: every address, none filtered out. */
	const char *w4[] = { "192.0.2.1", "0.0.0.0", "224.0.0.1", "255.255.255.255" };
	check_addr_recs(a->ans, AF_INET, w4, 4);
	const char *w6[] = { "2001:db8::1", "::ffff:192.0.2.1", "ff02::1" };
	check_addr_recs(aaaa->ans, AF_INET6, w6, 3);

	/* MX: all exchanges as given, lower case, the root as "". */
	assert_int_equal(mx->ans->status, DNS_A_OK);
	assert_int_equal(mx->ans->count, 3);
	check_arec(mx->ans, 0, "mx2.example.test", true);
	assert_int_equal(mx->ans->recs[0].preference, 20);
	check_arec(mx->ans, 1, "mx1.example.test", true);
	assert_int_equal(mx->ans->recs[1].preference, 10);
	check_arec(mx->ans, 2, "", true);
	assert_int_equal(mx->ans->recs[2].preference, 0);

	assert_int_equal(ptr->ans->status, DNS_A_OK);
	assert_int_equal(ptr->ans->count, 2);
	check_arec(ptr->ans, 0, "mail.example.test", true);
	check_arec(ptr->ans, 1, "other.example.test", true);

	assert_int_equal(nx->ans->status, DNS_A_NXDOMAIN);
	assert_int_equal(nx->ans->count, 0);
	assert_non_null(strstr(nx->ans->reason, "nx.test"));
	assert_int_equal(nodata->ans->status, DNS_A_NODATA);
	assert_int_equal(nodata->ans->count, 0);
	assert_int_equal(fail->ans->status, DNS_A_TEMPFAIL);
	assert_int_equal(fail->ans->count, 0);
	assert_non_null(strstr(fail->ans->reason, "TXT lookup for fail.test failed"));

	/* AD was asked for, so the "validator" set it. */
	assert_int_equal(ad->ans->status, DNS_A_OK);
	assert_true(ad->ans->ad);
	check_arec(ad->ans, 0, "v=DMARC1; p=reject", true);

	/* Truncated over UDP, TCP refused here. */
	assert_int_equal(tc->ans->status, DNS_A_TEMPFAIL);

	assert_int_equal(bad->ans->status, DNS_A_NXDOMAIN);
	assert_non_null(strstr(bad->ans->reason, "can exist in DNS"));
	assert_int_equal(empty->ans->status, DNS_A_NXDOMAIN);
	assert_int_equal(odd->ans->status, DNS_A_NXDOMAIN); /* asked: unknown to the responder */
	assert_non_null(strstr(odd->ans->reason, "a+b=c.txt.test does not exist"));

	struct qoutcome *all[] = { txt, a,    aaaa, mx, ptr,   nx, nodata,
				   fail, ad, tc,   bad, empty, odd };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		qoutcome_free(all[i]);
}

static void test_query_cancel(void **state)
{
	struct fixture *fx = *state;
	unsigned before = fx->resp.queries;
	struct dns_req *r1 = dns_query(fx->dns, DNS_Q_TXT, "txt.test", qnever_cb, NULL);
	struct dns_req *r2 = dns_query(fx->dns, DNS_Q_TXT, "silent.test", qnever_cb, NULL);
	struct dns_req *r3 = dns_query(fx->dns, DNS_Q_A, "bad name", qnever_cb, NULL);
	struct qoutcome *ok = qask(fx, fx->dns, DNS_Q_TXT, "txt.test");
	dns_cancel(&r1);
	dns_cancel(&r2);
	dns_cancel(&r3);
	assert_null(r1);
	fx_run(fx);
	assert_int_equal(ok->ans->status, DNS_A_OK);
	assert_true(fx->resp.queries > before);
	qoutcome_free(ok);
	/* Open queries when the resolver goes: no callback. */
	(void)dns_query(fx->dns, DNS_Q_TXT, "silent.test", qnever_cb, NULL);
	(void)dns_query(fx->dns, DNS_Q_MX, "mx.test", qnever_cb, NULL);
	(void)dns_query(fx->dns, DNS_Q_A, "", qnever_cb, NULL);
	dns_free(&fx->dns);
	struct timeval tv = { .tv_usec = 100000 };
	event_base_loopexit(fx->base, &tv);
	event_base_dispatch(fx->base);
}

/* Bounds: record count, data size, whole TXT records only. */
static void test_answer_bounds(void **state)
{
	(void)state;
	struct dns_answer *ans = dns_answer_new(DNS_A_OK);
	for (int i = 0; i < 300; i++) {
		struct dns_arec *r = dns_answer_add(ans, NULL, 0, true);
		assert_true((r != NULL) == (i < DNS_ANSWER_RECS_MAX));
	}
	assert_int_equal(ans->count, DNS_ANSWER_RECS_MAX);
	assert_true(ans->truncated);
	dns_answer_free(&ans);

	/* Records of three strings: the one that does not fit goes whole. */
	ans = dns_answer_new(DNS_A_OK);
	for (int i = 0; i < 100; i++)
		for (int k = 0; k < 3; k++)
			(void)dns_answer_add(ans, "abc", 3, k == 0);
	assert_true(ans->truncated);
	assert_int_equal(ans->count, DNS_ANSWER_RECS_MAX / 3 * 3);
	for (size_t i = 0; i < ans->count; i++)
		assert_int_equal(ans->recs[i].record_start, i % 3 == 0);
	dns_answer_free(&ans);

	/* 64 KiB of data: the string past it drops its record's first one. */
	static char big[40000];
	memset(big, 'k', sizeof(big));
	ans = dns_answer_new(DNS_A_OK);
	assert_non_null(dns_answer_add(ans, big, 10, true));
	assert_non_null(dns_answer_add(ans, big, sizeof(big), true));
	assert_null(dns_answer_add(ans, big, sizeof(big), false));
	assert_int_equal(ans->count, 1);
	assert_int_equal(ans->recs[0].len, 10);
	assert_null(dns_answer_add(ans, "x", 1, true)); /* stays full */
	assert_true(ans->truncated);
	dns_answer_free(&ans);
	dns_answer_free(&ans); /* NULL is fine */

	assert_string_equal(dns_astatus_name(DNS_A_NODATA), "nodata");
	assert_string_equal(dns_qtype_name(DNS_Q_AAAA), "AAAA");
}

static void test_reverse_name(void **state)
{
	(void)state;
	char out[80];
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	assert_int_equal(inet_pton(AF_INET, "192.0.2.1", &s4.sin_addr), 1);
	assert_int_equal(dns_reverse_name((struct sockaddr *)&s4, out, sizeof(out)), 0);
	assert_string_equal(out, "1.2.0.192.in-addr.arpa");
	char small[22];
	assert_int_equal(dns_reverse_name((struct sockaddr *)&s4, small, sizeof(small)), -1);
	assert_int_equal(dns_reverse_name((struct sockaddr *)&s4, out, 23), 0);

	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::567:89ab", &s6.sin6_addr), 1);
	assert_int_equal(dns_reverse_name((struct sockaddr *)&s6, out, sizeof(out)), 0);
	/* RFC 3596 2.5 example style. */
	assert_string_equal(out, "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2."
				 "ip6.arpa");
	assert_int_equal(strlen(out), 72);
	assert_int_equal(dns_reverse_name((struct sockaddr *)&s6, out, 72), -1);
	assert_int_equal(inet_pton(AF_INET6, "::ffff:198.51.100.7", &s6.sin6_addr), 1);
	assert_int_equal(dns_reverse_name((struct sockaddr *)&s6, out, sizeof(out)), 0);
	assert_string_equal(out, "7.100.51.198.in-addr.arpa");

	struct sockaddr un = { .sa_family = AF_UNIX };
	assert_int_equal(dns_reverse_name(&un, out, sizeof(out)), -1);
}

/* ---- the fake ---- */

static struct dns_result *fake_answer(enum dns_kind kind, const char *name, void *arg)
{
	unsigned *calls = arg;
	(*calls)++;
	struct dns_result *res = dns_result_new();
	if (kind == DNS_KIND_MX && strcmp(name, "fake.test") == 0) {
		struct dns_host *h = dns_result_add_host(res, "mx.fake.test", 10);
		struct dns_lookup v6 = { .status = ARES_ENODATA }, v4;
		fill_lookup(&v4, AF_INET, ARES_SUCCESS, 1, NULL);
		dns_host_settle(h, &v6, &v4);
		dns_result_settle(res, kind, name);
	} else {
		dns_result_set(res, DNS_TEMPFAIL, "4.4.3", "fake: %s", name);
	}
	return res;
}

static void test_fake(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	unsigned calls = 0, left = 0;
	struct dns *dns = dns_new_fake(base, fake_answer, &calls);
	struct outcome a = { .base = base, .left = &left }, b = a;
	left = 2;
	(void)dns_resolve_mx(dns, "FAKE.test.", outcome_cb, &a);
	(void)dns_resolve_host(dns, "other.test", outcome_cb, &b);
	struct dns_req *c = dns_resolve_mx(dns, "x.test", never_cb, NULL);
	dns_cancel(&c);
	assert_false(a.done);
	event_base_dispatch(base);
	assert_int_equal(calls, 3);
	assert_int_equal(a.res->status, DNS_OK);
	assert_string_equal(a.res->hosts[0].name, "mx.fake.test");
	assert_int_equal(b.res->status, DNS_TEMPFAIL);
	assert_string_equal(b.res->reason, "fake: other.test");
	dns_result_free(&a.res);
	dns_result_free(&b.res);
	dns_free(&dns);
	event_base_free(base);
}

static struct dns_answer *fake_query(enum dns_qtype type, const char *name, void *arg)
{
	unsigned *calls = arg;
	(*calls)++;
	if (type == DNS_Q_TXT && strcmp(name, "_dmarc.fake.test") == 0) {
		struct dns_answer *ans = dns_answer_new(DNS_A_OK);
		(void)dns_answer_add(ans, "v=DMARC1; ", 10, true);
		(void)dns_answer_add(ans, "p=none", 6, false);
		ans->ad = true;
		return ans;
	}
	if (type == DNS_Q_A && strcmp(name, "a.fake.test") == 0) {
		struct dns_answer *ans = dns_answer_new(DNS_A_OK);
		struct dns_arec *r = dns_answer_add(ans, NULL, 0, true);
		r->family = AF_INET;
		memcpy(r->addr, "\xc0\x00\x02\x07", 4);
		return ans;
	}
	struct dns_answer *ans = dns_answer_new(DNS_A_NXDOMAIN);
	dns_answer_set(ans, DNS_A_NXDOMAIN, "fake: %s", name);
	return ans;
}

static void test_fake_query(void **state)
{
	(void)state;
	struct fixture fx = { .base = event_base_new() };
	unsigned calls = 0;
	/* Queries only: no routing hook. */
	struct dns *dns = dns_new_fake(fx.base, NULL, NULL);
	struct qoutcome *none = qask(&fx, dns, DNS_Q_TXT, "x.test");
	struct outcome route = { .base = fx.base, .left = &fx.left };
	fx.left++;
	(void)dns_resolve_mx(dns, "x.test", outcome_cb, &route);
	fx_run(&fx);
	assert_int_equal(none->ans->status, DNS_A_TEMPFAIL);
	assert_non_null(strstr(none->ans->reason, "no fake answer"));
	assert_int_equal(route.res->status, DNS_TEMPFAIL);
	dns_result_free(&route.res);
	qoutcome_free(none);

	dns_fake_set_query(dns, fake_query, &calls);
	struct qoutcome *dm = qask(&fx, dns, DNS_Q_TXT, "_dmarc.fake.test.");
	struct qoutcome *a = qask(&fx, dns, DNS_Q_A, "a.fake.test");
	struct qoutcome *nx = qask(&fx, dns, DNS_Q_MX, "nx.fake.test");
	struct qoutcome *bad = qask(&fx, dns, DNS_Q_A, "a..b");
	struct dns_req *c = dns_query(dns, DNS_Q_TXT, "x.test", qnever_cb, NULL);
	dns_cancel(&c);
	fx_run(&fx);
	assert_int_equal(calls, 4); /* not for the refused name */
	assert_int_equal(dm->ans->status, DNS_A_OK);
	assert_true(dm->ans->ad);
	check_arec(dm->ans, 0, "v=DMARC1; ", true);
	check_arec(dm->ans, 1, "p=none", false);
	const char *w4[] = { "192.0.2.7" };
	check_addr_recs(a->ans, AF_INET, w4, 1);
	assert_int_equal(nx->ans->status, DNS_A_NXDOMAIN);
	assert_string_equal(nx->ans->reason, "fake: nx.fake.test");
	assert_int_equal(bad->ans->status, DNS_A_NXDOMAIN);
	qoutcome_free(dm);
	qoutcome_free(a);
	qoutcome_free(nx);
	qoutcome_free(bad);
	/* Freed with a query open: no callback. */
	(void)dns_query(dns, DNS_Q_TXT, "_dmarc.fake.test", qnever_cb, NULL);
	dns_free(&dns);
	struct timeval tv = { .tv_usec = 20000 };
	event_base_loopexit(fx.base, &tv);
	event_base_dispatch(fx.base);
	event_base_free(fx.base);
}

/* ---- TLSA: the wire parser (dns_parse_tlsa) ---- */

/* A DNS message under construction, built the way servers lay them out.
 * Offsets are kept so tests can aim compression pointers. */
struct msg {
	unsigned char b[8192];
	size_t n;
};

static void m_u8(struct msg *m, unsigned v)
{
	assert_true(m->n < sizeof(m->b));
	m->b[m->n++] = (unsigned char)v;
}

static void m_u16(struct msg *m, unsigned v)
{
	m_u8(m, v >> 8);
	m_u8(m, v & 0xff);
}

static void m_bytes(struct msg *m, const void *p, size_t len)
{
	assert_true(len <= sizeof(m->b) - m->n);
	memcpy(m->b + m->n, p, len);
	m->n += len;
}

/* Labels of name, then the root byte (none when ptr >= 0: a compression
 * pointer to offset ptr ends the name instead). Returns the name's
 * offset. */
static size_t m_name(struct msg *m, const char *name, int ptr)
{
	size_t at = m->n;
	while (*name != '\0') {
		const char *dot = strchr(name, '.');
		size_t len = dot != NULL ? (size_t)(dot - name) : strlen(name);
		m_u8(m, (unsigned)len);
		m_bytes(m, name, len);
		name += len + (dot != NULL);
	}
	if (ptr >= 0)
		m_u16(m, 0xc000 | (unsigned)ptr);
	else
		m_u8(m, 0);
	return at;
}

#define F_NOERROR 0x8180 /* QR, RD, RA */
#define Q_NAME "_25._tcp.mx.example.test"
#define Q_OFF 12 /* where the question's name starts */
#define Q_MX_OFF (Q_OFF + 9) /* "mx.example.test" inside it */

/* Header and the usual one question (TLSA IN for Q_NAME). */
static void m_start(struct msg *m, unsigned flags, unsigned ancount)
{
	m->n = 0;
	m_u16(m, 0x1234);
	m_u16(m, flags);
	m_u16(m, 1);
	m_u16(m, ancount);
	m_u16(m, 0);
	m_u16(m, 0);
	assert_int_equal(m_name(m, Q_NAME, -1), Q_OFF);
	m_u16(m, T_TLSA);
	m_u16(m, 1);
}

/* TYPE, CLASS, TTL and RDLENGTH after an owner name already written. */
static void m_rr_fixed(struct msg *m, unsigned type, unsigned class, unsigned rdlen)
{
	m_u16(m, type);
	m_u16(m, class);
	m_u16(m, 0);
	m_u16(m, 300);
	m_u16(m, rdlen);
}

/* One TLSA record owned by a pointer to owner_off. */
static void m_tlsa(struct msg *m, size_t owner_off, unsigned u, unsigned s, unsigned t,
		   const void *data, size_t len)
{
	m_u16(m, 0xc000 | (unsigned)owner_off);
	m_rr_fixed(m, T_TLSA, 1, (unsigned)(3 + len));
	m_u8(m, u);
	m_u8(m, s);
	m_u8(m, t);
	m_bytes(m, data, len);
}

static const unsigned char sha256[32] = { 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03,
					  0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
					  0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13,
					  0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0xff };

static void b_one(struct msg *m)
{
	m_start(m, F_NOERROR, 1);
	m_tlsa(m, Q_OFF, 3, 1, 1, sha256, sizeof(sha256));
}

/* Two records; the second owner is written as labels plus a pointer
 * into the question ("_25._tcp" + -> "mx.example.test"). */
static void b_two(struct msg *m)
{
	m_start(m, F_NOERROR, 2);
	m_tlsa(m, Q_OFF, 3, 1, 1, sha256, sizeof(sha256));
	m_name(m, "_25._tcp", Q_MX_OFF);
	m_rr_fixed(m, T_TLSA, 1, 3 + 4);
	m_bytes(m, "\x02\x00\x02" "a\0b\n", 7); /* binary data, NUL inside */
}

/* The owner of a pointer that leads to a pointer that leads to labels
 * ending in a pointer into the question: three jumps, all fine. */
static void b_chain(struct msg *m)
{
	m_start(m, F_NOERROR, 3);
	/* A CNAME first, its target written with a pointer at the end. */
	m_u16(m, 0xc000 | Q_OFF);
	m_rr_fixed(m, T_CNAME, 1, 0);
	size_t rdlen_at = m->n - 2, rd = m->n;
	size_t target = m_name(m, "_25._tcp.mx.hoster", Q_MX_OFF + 3); /* + "example.test" */
	m->b[rdlen_at + 1] = (unsigned char)(m->n - rd);
	/* A pointer to the CNAME target, itself as an RR owner. */
	size_t p1 = m->n;
	m_u16(m, 0xc000 | (unsigned)target);
	m_rr_fixed(m, 46, 1, 2); /* an RRSIG-typed record: skipped */
	m_u16(m, 0);
	/* Owner: pointer to p1's pointer (-> target -> question). */
	m_tlsa(m, p1, 2, 0, 1, "\xaa\xbb", 2);
}

/* CNAME before the TLSA: the owner of the TLSA is the CNAME's target. */
static void b_cname(struct msg *m)
{
	m_start(m, F_NOERROR, 2);
	m_u16(m, 0xc000 | Q_OFF);
	m_rr_fixed(m, T_CNAME, 1, 0);
	size_t rdlen_at = m->n - 2, rd = m->n;
	size_t target = m_name(m, "_25._tcp.mail.hoster.test", -1);
	m->b[rdlen_at + 1] = (unsigned char)(m->n - rd);
	m_tlsa(m, target, 3, 1, 1, sha256, sizeof(sha256));
}

static void b_cname_only(struct msg *m)
{
	m_start(m, F_NOERROR, 1);
	m_u16(m, 0xc000 | Q_OFF);
	m_rr_fixed(m, T_CNAME, 1, 0);
	size_t rdlen_at = m->n - 2, rd = m->n;
	m_name(m, "elsewhere.test", -1);
	m->b[rdlen_at + 1] = (unsigned char)(m->n - rd);
}

static void b_zero(struct msg *m)
{
	m_start(m, F_NOERROR, 0);
}

/* RDATA of 2 bytes (no matching type) among a good record. */
static void b_short_mixed(struct msg *m)
{
	m_start(m, F_NOERROR, 3);
	m_u16(m, 0xc000 | Q_OFF);
	m_rr_fixed(m, T_TLSA, 1, 2);
	m_u16(m, 0x0301);
	m_tlsa(m, Q_OFF, 3, 1, 1, sha256, sizeof(sha256));
	m_u16(m, 0xc000 | Q_OFF);
	m_rr_fixed(m, T_TLSA, 1, 0); /* empty RDATA */
}

static void b_short_only(struct msg *m)
{
	m_start(m, F_NOERROR, 1);
	m_u16(m, 0xc000 | Q_OFF);
	m_rr_fixed(m, T_TLSA, 1, 2);
	m_u16(m, 0x0301);
}

/* Exactly the three fixed bytes: a record with empty data. */
static void b_empty_data(struct msg *m)
{
	m_start(m, F_NOERROR, 1);
	m_tlsa(m, Q_OFF, 1, 0, 0, "", 0);
}

/* RDLENGTH promises more than the message holds. */
static void b_rdata_cut(struct msg *m)
{
	b_one(m);
	m->b[m->n - 32 - 3 - 1] += 1; /* RDLENGTH low byte: 35 -> 36 */
}

/* The owner pointer points at itself. */
static void b_loop_self(struct msg *m)
{
	m_start(m, F_NOERROR, 1);
	size_t at = m->n;
	m_u16(m, 0xc000 | (unsigned)at);
	m_rr_fixed(m, T_TLSA, 1, 3);
	m_bytes(m, "\x03\x01\x01", 3);
}

/* Two pointers pointing at each other, reached after a label. */
static void b_loop_pair(struct msg *m)
{
	m_start(m, F_NOERROR, 1);
	size_t at = m->n;
	m_u8(m, 1);
	m_u8(m, 'x');
	m_u16(m, 0xc000 | (unsigned)(at + 4)); /* -> the next pointer */
	m_u16(m, 0xc000 | (unsigned)(at + 2)); /* -> the previous one */
	m_rr_fixed(m, T_TLSA, 1, 3);
	m_bytes(m, "\x03\x01\x01", 3);
}

/* The question's own name loops. */
static void b_loop_question(struct msg *m)
{
	m->n = 0;
	m_bytes(m, "\x12\x34\x81\x80\0\x01\0\x01\0\0\0\0", 12);
	m_u16(m, 0xc000 | 12);
	m_u16(m, T_TLSA);
	m_u16(m, 1);
	m_tlsa(m, 12, 3, 1, 1, "x", 1);
}

/* Five labels of 63: 320 octets, over RFC 1035's 255. */
static void b_name_long(struct msg *m)
{
	m_start(m, F_NOERROR, 1);
	char label[64];
	memset(label, 'l', 63);
	label[63] = '\0';
	for (int i = 0; i < 5; i++) {
		m_u8(m, 63);
		m_bytes(m, label, 63);
	}
	m_u8(m, 0);
	m_rr_fixed(m, T_TLSA, 1, 3);
	m_bytes(m, "\x03\x01\x01", 3);
}

/* A 0x40 label type (RFC 6891 5: retired), followed by enough bytes to
 * pass for a 65-byte label: refused for its type, not its length. */
static void b_label_type(struct msg *m)
{
	m_start(m, F_NOERROR, 1);
	m_u8(m, 0x41);
	for (int i = 0; i < 65; i++)
		m_u8(m, 'x');
	m_u8(m, 0);
	m_rr_fixed(m, T_TLSA, 1, 3);
	m_bytes(m, "\x03\x01\x01", 3);
}

/* ANCOUNT says 3, two records follow. */
static void b_count_high(struct msg *m)
{
	b_two(m);
	m->b[7] = 3;
}

/* ANCOUNT says 1, two records follow: the second is not an answer. */
static void b_count_low(struct msg *m)
{
	b_two(m);
	m->b[7] = 1;
}

/* A huge ANCOUNT with one record: runs off the message, no long loop. */
static void b_count_huge(struct msg *m)
{
	b_one(m);
	m->b[6] = 0xff;
	m->b[7] = 0xff;
}

static void b_nxdomain(struct msg *m)
{
	m_start(m, F_NOERROR | 3, 0);
}

/* SERVFAIL with a record anyway: the rcode wins. */
static void b_servfail(struct msg *m)
{
	b_one(m);
	m->b[3] |= 2;
}

static void b_refused(struct msg *m)
{
	m_start(m, F_NOERROR | 5, 0);
}

static void b_rcode_unknown(struct msg *m)
{
	b_one(m);
	m->b[3] |= 9;
}

static void b_tc(struct msg *m)
{
	b_one(m);
	m->b[2] |= 0x02;
}

static void b_short_header(struct msg *m)
{
	b_one(m);
	m->n = 11;
}

/* TLSA records of class CH, and of another type: not ours. */
static void b_other_class(struct msg *m)
{
	m_start(m, F_NOERROR, 2);
	m_u16(m, 0xc000 | Q_OFF);
	m_rr_fixed(m, T_TLSA, 3, 4);
	m_bytes(m, "\x03\x01\x01\x00", 4);
	m_u16(m, 0xc000 | Q_OFF);
	m_rr_fixed(m, T_TXT, 1, 4);
	m_bytes(m, "\x03" "abc", 4);
}

/* AD set by a validating resolver: the parser leaves ad to the caller. */
static void b_ad(struct msg *m)
{
	b_one(m);
	m->b[3] |= 0x20;
}

/* 300 small records: DNS_ANSWER_RECS_MAX kept, truncated. */
static void b_many(struct msg *m)
{
	m_start(m, F_NOERROR, 300);
	for (unsigned i = 0; i < 300; i++) {
		unsigned char d = (unsigned char)i;
		m_tlsa(m, Q_OFF, 3, 1, 1, &d, 1);
	}
}

struct tlsa_want {
	unsigned char usage, selector, mtype;
	const char *data;
	size_t len;
};

struct tlsa_case {
	const char *name;
	void (*build)(struct msg *m);
	int want; /* c-ares status */
	size_t count;
	bool malformed;
	bool truncated;
	struct tlsa_want recs[3];
	/* Every shorter cut of the message must fail as EBADRESP (true when
	 * the message ends with its last counted record). */
	bool cuts;
};

#define SHA256_REC { 3, 1, 1, (const char *)sha256, sizeof(sha256) }

static const struct tlsa_case tlsa_cases[] = {
	{ .name = "one record", .build = b_one, .want = ARES_SUCCESS, .count = 1,
	  .recs = { SHA256_REC }, .cuts = true },
	{ .name = "two records, owner labels + pointer", .build = b_two,
	  .want = ARES_SUCCESS, .count = 2,
	  .recs = { SHA256_REC, { 2, 0, 2, "a\0b\n", 4 } }, .cuts = true },
	{ .name = "pointer chains, RRSIG skipped", .build = b_chain, .want = ARES_SUCCESS,
	  .count = 1, .recs = { { 2, 0, 1, "\xaa\xbb", 2 } }, .cuts = true },
	{ .name = "CNAME then TLSA of the target", .build = b_cname, .want = ARES_SUCCESS,
	  .count = 1, .recs = { SHA256_REC }, .cuts = true },
	{ .name = "bare CNAME: NODATA", .build = b_cname_only, .want = ARES_ENODATA,
	  .cuts = true },
	{ .name = "zero answers: NODATA", .build = b_zero, .want = ARES_ENODATA },
	{ .name = "short RDATA beside a good one", .build = b_short_mixed,
	  .want = ARES_SUCCESS, .count = 1, .malformed = true, .recs = { SHA256_REC },
	  .cuts = true },
	{ .name = "only short RDATA: malformed, EBADRESP", .build = b_short_only,
	  .want = ARES_EBADRESP, .malformed = true, .cuts = true },
	{ .name = "three bytes: empty data", .build = b_empty_data, .want = ARES_SUCCESS,
	  .count = 1, .recs = { { 1, 0, 0, "", 0 } }, .cuts = true },
	{ .name = "RDLENGTH past the end", .build = b_rdata_cut, .want = ARES_EBADRESP },
	{ .name = "owner pointer loops on itself", .build = b_loop_self,
	  .want = ARES_EBADRESP },
	{ .name = "two pointers in a loop", .build = b_loop_pair, .want = ARES_EBADRESP },
	{ .name = "question name loops", .build = b_loop_question, .want = ARES_EBADRESP },
	{ .name = "owner over 255 octets", .build = b_name_long, .want = ARES_EBADRESP },
	{ .name = "0x40 label type", .build = b_label_type, .want = ARES_EBADRESP },
	{ .name = "ANCOUNT above the records", .build = b_count_high,
	  .want = ARES_EBADRESP },
	{ .name = "ANCOUNT below the records", .build = b_count_low, .want = ARES_SUCCESS,
	  .count = 1, .recs = { SHA256_REC } },
	{ .name = "ANCOUNT 65535", .build = b_count_huge, .want = ARES_EBADRESP },
	{ .name = "NXDOMAIN", .build = b_nxdomain, .want = ARES_ENOTFOUND },
	{ .name = "SERVFAIL", .build = b_servfail, .want = ARES_ESERVFAIL },
	{ .name = "REFUSED", .build = b_refused, .want = ARES_EREFUSED },
	{ .name = "unknown rcode", .build = b_rcode_unknown, .want = ARES_EBADRESP },
	{ .name = "TC bit", .build = b_tc, .want = ARES_EBADRESP },
	{ .name = "11-byte header", .build = b_short_header, .want = ARES_EBADRESP },
	{ .name = "class CH and type TXT skipped: NODATA", .build = b_other_class,
	  .want = ARES_ENODATA, .cuts = true },
	{ .name = "AD set", .build = b_ad, .want = ARES_SUCCESS, .count = 1,
	  .recs = { SHA256_REC } },
	{ .name = "300 records", .build = b_many, .want = ARES_SUCCESS,
	  .count = DNS_ANSWER_RECS_MAX, .truncated = true,
	  .recs = { { 3, 1, 1, "\x00", 1 }, { 3, 1, 1, "\x01", 1 }, { 3, 1, 1, "\x02", 1 } } },
};

/* Parses len bytes of m from an exactly sized heap copy (so ASan sees any
 * read past the end). */
static int tlsa_parse(const unsigned char *m, size_t len, struct dns_answer *ans)
{
	unsigned char *copy = malloc(len > 0 ? len : 1);
	assert_non_null(copy);
	memcpy(copy, m, len);
	int st = dns_parse_tlsa(copy, len, ans);
	free(copy);
	return st;
}

static void check_tlsa_case(const struct tlsa_case *c)
{
	struct msg *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	c->build(m);
	struct dns_answer *ans = dns_answer_new(DNS_A_TEMPFAIL);
	int st = tlsa_parse(m->b, m->n, ans);
	if (st != c->want)
		fail_msg("%s: status %d (%s), want %d", c->name, st, ares_strerror(st), c->want);
	if (ans->count != c->count)
		fail_msg("%s: %zu records, want %zu", c->name, ans->count, c->count);
	if (ans->malformed != c->malformed || ans->truncated != c->truncated)
		fail_msg("%s: malformed %d truncated %d", c->name, ans->malformed,
			 ans->truncated);
	/* Status, reason and AD are the caller's. */
	assert_int_equal(ans->status, DNS_A_TEMPFAIL);
	assert_false(ans->ad);
	for (size_t i = 0; i < c->count && i < 3; i++) {
		const struct dns_arec *r = &ans->recs[i];
		const struct tlsa_want *w = &c->recs[i];
		if (w->data == NULL)
			break;
		if (r->usage != w->usage || r->selector != w->selector || r->mtype != w->mtype)
			fail_msg("%s: record %zu is %u %u %u", c->name, i, r->usage, r->selector,
				 r->mtype);
		assert_non_null(r->data);
		if (r->len != w->len || memcmp(r->data, w->data, w->len) != 0 ||
		    r->data[r->len] != '\0')
			fail_msg("%s: record %zu data differs (%zu bytes)", c->name, i, r->len);
		assert_true(r->record_start);
		assert_int_equal(r->family, 0);
	}
	dns_answer_free(&ans);

	/* Cut anywhere, the message is malformed: EBADRESP, nothing kept. */
	for (size_t len = 0; c->cuts && len < m->n; len++) {
		ans = dns_answer_new(DNS_A_TEMPFAIL);
		st = tlsa_parse(m->b, len, ans);
		if (st != ARES_EBADRESP || ans->count != 0)
			fail_msg("%s: cut at %zu of %zu: status %d, %zu records", c->name, len,
				 m->n, st, ans->count);
		dns_answer_free(&ans);
	}
	free(m);
}

static void test_tlsa_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(tlsa_cases) / sizeof(tlsa_cases[0]); i++)
		check_tlsa_case(&tlsa_cases[i]);
	/* What dns_query makes of each status, as for the other types. */
	assert_int_equal(dns_answer_class(ARES_ENOTFOUND), DNS_ANSWER_NXDOMAIN);
	assert_int_equal(dns_answer_class(ARES_ENODATA), DNS_ANSWER_NODATA);
	assert_int_equal(dns_answer_class(ARES_EBADRESP), DNS_ANSWER_TEMP);
	assert_int_equal(dns_answer_class(ARES_ESERVFAIL), DNS_ANSWER_TEMP);
	assert_string_equal(dns_qtype_name(DNS_Q_TLSA), "TLSA");
	/* NULL and empty input. */
	struct dns_answer *ans = dns_answer_new(DNS_A_TEMPFAIL);
	assert_int_equal(dns_parse_tlsa(NULL, 0, ans), ARES_EBADRESP);
	assert_int_equal(ans->count, 0);
	dns_answer_free(&ans);
}

/* A pointer chain right at the jump limit is accepted, one more jump is
 * refused: the bound is exact, not just "some". The chain sits in the
 * RDATA of a record of another type (skipped), the TLSA owner points
 * into it. */
static void test_tlsa_parse_jumps(void **state)
{
	(void)state;
	struct msg *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	for (unsigned k = 0; k <= 1; k++) {
		m_start(m, F_NOERROR, 2);
		m_u16(m, 0xc000 | Q_OFF);
		m_rr_fixed(m, 0xff00, 1, 256); /* private type: skipped */
		size_t first = m->n;
		/* 128 names that are each one pointer: P0 -> P1 -> ... ->
		 * P127 -> the question's name. */
		for (unsigned i = 0; i < 127; i++)
			m_u16(m, 0xc000 | (unsigned)(first + 2 * (i + 1)));
		m_u16(m, 0xc000 | Q_OFF);
		/* Owner -> P(k): 1 + (128 - k) jumps. */
		m_tlsa(m, first + 2 * k, 3, 1, 1, "z", 1);
		struct dns_answer *ans = dns_answer_new(DNS_A_TEMPFAIL);
		int st = tlsa_parse(m->b, m->n, ans);
		if (k == 0) {
			assert_int_equal(st, ARES_EBADRESP); /* 129 jumps */
			assert_int_equal(ans->count, 0);
		} else {
			assert_int_equal(st, ARES_SUCCESS); /* 128 */
			assert_int_equal(ans->count, 1);
			assert_int_equal(ans->recs[0].data[0], 'z');
		}
		dns_answer_free(&ans);
	}
	free(m);
}

/* ---- TLSA through dns_query: the real resolver and the fake ---- */

static void check_tlsa_rec(const struct dns_answer *ans, size_t i, unsigned u, unsigned s,
			   unsigned t, const void *data, size_t len)
{
	if (i >= ans->count)
		fail_msg("TLSA record %zu missing (%zu)", i, ans->count);
	const struct dns_arec *r = &ans->recs[i];
	if (r->usage != u || r->selector != s || r->mtype != t)
		fail_msg("TLSA record %zu is %u %u %u", i, r->usage, r->selector, r->mtype);
	assert_non_null(r->data);
	assert_int_equal(r->len, len);
	assert_memory_equal(r->data, data, len);
	assert_int_equal(r->data[len], '\0');
	assert_true(r->record_start);
}

static void test_query_tlsa_real(void **state)
{
	struct fixture *fx = *state;
	struct dns *d = fx->dns;
	struct qoutcome *two = qask(fx, d, DNS_Q_TLSA, "_25._tcp.MX.tlsa.test.");
	struct qoutcome *cname = qask(fx, d, DNS_Q_TLSA, "cname.tlsa.test");
	struct qoutcome *shortr = qask(fx, d, DNS_Q_TLSA, "short.tlsa.test");
	struct qoutcome *mixed = qask(fx, d, DNS_Q_TLSA, "mixed.tlsa.test");
	struct qoutcome *nodata = qask(fx, d, DNS_Q_TLSA, "nodata.tlsa.test");
	struct qoutcome *nx = qask(fx, d, DNS_Q_TLSA, "nx.tlsa.test");
	struct qoutcome *fail = qask(fx, d, DNS_Q_TLSA, "fail.tlsa.test");
	fx_run(fx);

	/* Both records as published, and AD from the "validator". */
	assert_int_equal(two->ans->status, DNS_A_OK);
	assert_string_equal(two->ans->reason, "");
	assert_true(two->ans->ad);
	assert_false(two->ans->malformed);
	assert_int_equal(two->ans->count, 2);
	static const unsigned char h[32] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
					     0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
					     0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
					     0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };
	check_tlsa_rec(two->ans, 0, 3, 1, 1, h, sizeof(h));
	check_tlsa_rec(two->ans, 1, 2, 0, 1, "\x00\xff", 2);

	assert_int_equal(cname->ans->status, DNS_A_OK);
	assert_false(cname->ans->ad);
	assert_int_equal(cname->ans->count, 1);
	check_tlsa_rec(cname->ans, 0, 3, 1, 2, "\xbe\xef", 2);

	/* Only a malformed record: not NODATA (that would be a downgrade). */
	assert_int_equal(shortr->ans->status, DNS_A_TEMPFAIL);
	assert_true(shortr->ans->malformed);
	assert_int_equal(shortr->ans->count, 0);
	assert_non_null(strstr(shortr->ans->reason, "TLSA lookup for short.tlsa.test failed"));
	assert_non_null(strstr(shortr->ans->reason, "malformed TLSA record"));

	assert_int_equal(mixed->ans->status, DNS_A_OK);
	assert_true(mixed->ans->malformed);
	assert_int_equal(mixed->ans->count, 1);
	check_tlsa_rec(mixed->ans, 0, 3, 1, 1, "\xaa", 1);

	assert_int_equal(nodata->ans->status, DNS_A_NODATA);
	assert_string_equal(nodata->ans->reason, "nodata.tlsa.test has no TLSA record");
	assert_int_equal(nx->ans->status, DNS_A_NXDOMAIN);
	assert_int_equal(fail->ans->status, DNS_A_TEMPFAIL);
	assert_false(fail->ans->malformed);
	assert_non_null(strstr(fail->ans->reason, "TLSA lookup for fail.tlsa.test failed"));

	struct qoutcome *all[] = { two, cname, shortr, mixed, nodata, nx, fail };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		qoutcome_free(all[i]);
}

static struct dns_answer *fake_tlsa(enum dns_qtype type, const char *name, void *arg)
{
	(void)arg;
	if (type == DNS_Q_TLSA && strcmp(name, "_25._tcp.mx.fake.test") == 0) {
		struct dns_answer *ans = dns_answer_new(DNS_A_OK);
		struct dns_arec *r = dns_answer_add(ans, sha256, sizeof(sha256), true);
		r->usage = 3;
		r->selector = 1;
		r->mtype = 1;
		r = dns_answer_add(ans, "", 0, true);
		r->usage = 2;
		ans->ad = true;
		return ans;
	}
	struct dns_answer *ans = dns_answer_new(DNS_A_NODATA);
	dns_answer_set(ans, DNS_A_NODATA, "fake: no %s for %s", dns_qtype_name(type), name);
	return ans;
}

/* dns_txt_set_from: strings of one record joined, long ones cut and
 * marked, records past the limit reported. */
static void test_txt_set(void **state)
{
	(void)state;
	struct dns_answer *ans = dns_answer_new(DNS_A_OK);
	assert_non_null(dns_answer_add(ans, "v=STSv1; ", 9, true));
	assert_non_null(dns_answer_add(ans, "id=1;", 5, false));
	assert_non_null(dns_answer_add(ans, "other", 5, true));
	assert_non_null(dns_answer_add(ans, "0123456789", 10, true));
	struct dns_txt_set set;
	dns_txt_set_from(ans, 8, &set);
	assert_int_equal(set.n, 3);
	assert_string_equal(set.rec[0], "v=STSv1;");
	assert_true(set.cut[0]); /* 14 bytes, cut at 8 */
	assert_string_equal(set.rec[1], "other");
	assert_false(set.cut[1]);
	assert_int_equal(set.len[2], 8);
	assert_true(set.cut[2]);
	assert_false(set.more);
	dns_txt_set_fini(&set);
	dns_txt_set_from(ans, 100, &set);
	assert_string_equal(set.rec[0], "v=STSv1; id=1;");
	assert_int_equal(set.len[0], 14);
	assert_false(set.cut[0]);
	dns_txt_set_fini(&set);
	dns_answer_free(&ans);
	ans = dns_answer_new(DNS_A_OK);
	for (int i = 0; i < DNS_TXT_SET_MAX + 2; i++)
		assert_non_null(dns_answer_add(ans, "x", 1, true));
	dns_txt_set_from(ans, 100, &set);
	assert_int_equal(set.n, DNS_TXT_SET_MAX);
	assert_true(set.more);
	dns_txt_set_fini(&set);
	dns_answer_free(&ans);
	ans = dns_answer_new(DNS_A_NODATA);
	dns_txt_set_from(ans, 100, &set);
	assert_int_equal(set.n, 0);
	dns_answer_free(&ans);
}

static void test_fake_tlsa(void **state)
{
	(void)state;
	struct fixture fx = { .base = event_base_new() };
	struct dns *dns = dns_new_fake(fx.base, NULL, NULL);
	dns_fake_set_query(dns, fake_tlsa, NULL);
	struct qoutcome *ok = qask(&fx, dns, DNS_Q_TLSA, "_25._tcp.mx.fake.test.");
	struct qoutcome *none = qask(&fx, dns, DNS_Q_TLSA, "_25._tcp.other.fake.test");
	fx_run(&fx);
	assert_int_equal(ok->ans->status, DNS_A_OK);
	assert_true(ok->ans->ad);
	assert_int_equal(ok->ans->count, 2);
	check_tlsa_rec(ok->ans, 0, 3, 1, 1, sha256, sizeof(sha256));
	check_tlsa_rec(ok->ans, 1, 2, 0, 0, "", 0);
	assert_int_equal(none->ans->status, DNS_A_NODATA);
	assert_string_equal(none->ans->reason, "fake: no TLSA for _25._tcp.other.fake.test");
	qoutcome_free(ok);
	qoutcome_free(none);
	dns_free(&dns);
	event_base_free(fx.base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer_class),
		cmocka_unit_test(test_is_hostname),
		cmocka_unit_test(test_mx_plan_table),
		cmocka_unit_test(test_mx_plan_random),
		cmocka_unit_test(test_mx_plan_limits),
		cmocka_unit_test(test_host_settle_table),
		cmocka_unit_test(test_result_settle),
		cmocka_unit_test_setup_teardown(test_real_queries, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_real_timeouts, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_real_cancel, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_free_in_callback, fx_setup, fx_teardown),
		cmocka_unit_test(test_bad_servers),
		cmocka_unit_test(test_fake),
		cmocka_unit_test(test_answer_bounds),
		cmocka_unit_test(test_reverse_name),
		cmocka_unit_test_setup_teardown(test_query_real, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_query_cancel, fx_setup, fx_teardown),
		cmocka_unit_test(test_fake_query),
		cmocka_unit_test(test_tlsa_parse_table),
		cmocka_unit_test(test_tlsa_parse_jumps),
		cmocka_unit_test_setup_teardown(test_query_tlsa_real, fx_setup, fx_teardown),
		cmocka_unit_test(test_fake_tlsa),
		cmocka_unit_test(test_txt_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
