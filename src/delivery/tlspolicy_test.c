/* tlspolicy_test: the per-host TLS decision of delivery/tlspolicy.c, run on
 * a real event loop with the fake resolver, whose dns_query answers are
 * scripted per (type, name) and whose questions are recorded. Cases: DANE
 * (signed and unsigned MX and TLSA, usable and unusable records, lookup
 * failures), MTA-STS from the on-disk cache (enforce, testing, TXT missing
 * or failing, an id change with a fetch that fails at its DNS step,
 * expired and broken cache files), the pure helpers (TLSA usability, the
 * cache file format), and cancel/free with requests in flight. */
#include "delivery/tlspolicy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "net/dns.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define ASKED_MAX 64
#define LOOP_ROUNDS 200

/* ---- the scripted resolver ---- */

struct tlsa_spec {
	unsigned char usage, selector, mtype;
	size_t len;
};

/* One scripted answer; a question without one gets NXDOMAIN. */
struct ans_spec {
	enum dns_qtype type;
	const char *name;
	enum dns_astatus status;
	bool ad;
	const char *txt[4]; /* TXT: one string per record */
	struct tlsa_spec tlsa[12];
	size_t tlsa_count;
};

struct asked {
	enum dns_qtype type;
	char name[300];
};

struct fixture {
	char dir[64]; /* mkdtemp data_dir */
	struct event_base *base;
	struct dns *dns;
	struct dns_result *route;
	struct tlspolicy *tp;
	const struct ans_spec *script;
	size_t script_len;
	struct asked asked[ASKED_MAX];
	size_t asked_count;
	char host_asked[8][300]; /* routing (HOST) lookups: the HTTPS fetch */
	size_t host_count;
	/* Activated from inside a fake answer, to cancel or free while
	 * questions are still open. */
	struct event *hook;
	struct tlspolicy_req **hook_req; /* cancel this one */
	bool hook_free; /* or free the whole tp */
	bool hook_on_host; /* fire on the fetch's host lookup */
	bool hook_on_tlsa; /* fire on the first TLSA question */
};

/* The byte pattern of the k-th TLSA record's data, so copies can be
 * checked. */
static unsigned char tlsa_byte(size_t k, size_t i)
{
	return (unsigned char)(0xa0 + k * 7 + i);
}

static struct dns_answer *fake_query(enum dns_qtype type, const char *name, void *arg)
{
	struct fixture *fx = arg;
	assert_true(fx->asked_count < ASKED_MAX);
	fx->asked[fx->asked_count].type = type;
	(void)snprintf(fx->asked[fx->asked_count].name, sizeof(fx->asked[0].name), "%s", name);
	fx->asked_count++;
	if (type == DNS_Q_TLSA && fx->hook_on_tlsa) {
		fx->hook_on_tlsa = false;
		event_active(fx->hook, EV_TIMEOUT, 1);
	}
	for (size_t i = 0; i < fx->script_len; i++) {
		const struct ans_spec *s = &fx->script[i];
		if (s->type != type || strcmp(s->name, name) != 0)
			continue;
		struct dns_answer *ans = dns_answer_new(s->status);
		if (s->status != DNS_A_OK)
			dns_answer_set(ans, s->status, "fake: %s %s for %s",
				       dns_astatus_name(s->status), dns_qtype_name(type), name);
		ans->ad = s->ad;
		for (size_t k = 0; k < COUNT(s->txt) && s->txt[k] != NULL; k++)
			assert_non_null(dns_answer_add(ans, s->txt[k], strlen(s->txt[k]), true));
		for (size_t k = 0; k < s->tlsa_count; k++) {
			unsigned char data[80];
			assert_true(s->tlsa[k].len <= sizeof(data));
			for (size_t b = 0; b < s->tlsa[k].len; b++)
				data[b] = tlsa_byte(k, b);
			struct dns_arec *r = dns_answer_add(ans, data, s->tlsa[k].len, true);
			assert_non_null(r);
			r->usage = s->tlsa[k].usage;
			r->selector = s->tlsa[k].selector;
			r->mtype = s->tlsa[k].mtype;
		}
		if (type == DNS_Q_MX && s->status == DNS_A_OK) {
			struct dns_arec *r = dns_answer_add(ans, "mx1.example.com", 15, true);
			assert_non_null(r);
			r->preference = 10;
		}
		return ans;
	}
	struct dns_answer *ans = dns_answer_new(DNS_A_NXDOMAIN);
	dns_answer_set(ans, DNS_A_NXDOMAIN, "fake: no %s for %s", dns_qtype_name(type), name);
	return ans;
}

/* Routing questions come only from the policy fetch (https_get resolving
 * mta-sts.DOMAIN); they fail at once, as a dead DNS would make them. */
static struct dns_result *fake_route(enum dns_kind kind, const char *name, void *arg)
{
	struct fixture *fx = arg;
	assert_int_equal(kind, DNS_KIND_HOST);
	assert_true(fx->host_count < COUNT(fx->host_asked));
	(void)snprintf(fx->host_asked[fx->host_count++], sizeof(fx->host_asked[0]), "%s", name);
	if (fx->hook_on_host) {
		fx->hook_on_host = false;
		event_active(fx->hook, EV_TIMEOUT, 1);
	}
	struct dns_result *res = dns_result_new();
	dns_result_set(res, DNS_TEMPFAIL, "4.4.3", "fake: lookup of %s failed", name);
	return res;
}

static void hook_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct fixture *fx = arg;
	if (fx->hook_free)
		tlspolicy_free(&fx->tp);
	else if (fx->hook_req != NULL)
		tlspolicy_cancel(fx->hook_req);
}

static size_t asked_of(const struct fixture *fx, enum dns_qtype type)
{
	size_t n = 0;
	for (size_t i = 0; i < fx->asked_count; i++)
		n += fx->asked[i].type == type;
	return n;
}

static bool was_asked(const struct fixture *fx, enum dns_qtype type, const char *name)
{
	for (size_t i = 0; i < fx->asked_count; i++)
		if (fx->asked[i].type == type && strcmp(fx->asked[i].name, name) == 0)
			return true;
	return false;
}

/* ---- fixture ---- */

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	(void)snprintf(fx->dir, sizeof(fx->dir), "/tmp/tlspolicy_test.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->base = event_base_new();
	assert_non_null(fx->base);
	fx->dns = dns_new_fake(fx->base, fake_route, fx);
	dns_fake_set_query(fx->dns, fake_query, fx);
	fx->route = dns_result_new();
	(void)dns_result_add_host(fx->route, "mx1.example.com", 10);
	(void)dns_result_add_host(fx->route, "mx2.example.com", 20);
	fx->route->status = DNS_OK;
	fx->hook = event_new(fx->base, -1, 0, hook_cb, fx);
	assert_non_null(fx->hook);
	*state = fx;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	tlspolicy_free(&fx->tp);
	event_free(fx->hook);
	dns_free(&fx->dns);
	dns_result_free(&fx->route);
	event_base_free(fx->base);
	int rc = nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return rc == 0 ? 0 : -1;
}

static void fx_script(struct fixture *fx, const struct ans_spec *s, size_t n)
{
	fx->script = s;
	fx->script_len = n;
}

static void fx_tp(struct fixture *fx, bool dnssec, unsigned relay_port)
{
	fx->tp = tlspolicy_new(fx->base, fx->dns, NULL, fx->dir, dnssec, relay_port, 443);
	assert_non_null(fx->tp);
}

/* ---- outcomes ---- */

struct outcome {
	unsigned calls;
	struct tlspolicy_result *res;
};

static void outcome_cb(void *arg, struct tlspolicy_result *res)
{
	struct outcome *o = arg;
	o->calls++;
	tlspolicy_result_free(&o->res);
	o->res = res;
}

/* Turns the loop until o has its answer (fake answers and the policy's
 * own kick are all immediate), then a few more rounds to catch a second
 * call. */
static void run_until(struct fixture *fx, struct outcome *o)
{
	for (int i = 0; i < LOOP_ROUNDS && o->calls == 0; i++)
		assert_true(event_base_loop(fx->base, EVLOOP_ONCE | EVLOOP_NONBLOCK) >= 0);
	for (int i = 0; i < 5; i++)
		assert_true(event_base_loop(fx->base, EVLOOP_ONCE | EVLOOP_NONBLOCK) >= 0);
	assert_int_equal(o->calls, 1);
	assert_non_null(o->res);
}

static void run_idle(struct fixture *fx)
{
	for (int i = 0; i < 20; i++)
		assert_true(event_base_loop(fx->base, EVLOOP_ONCE | EVLOOP_NONBLOCK) >= 0);
}

/* Starts a request for domain over the fixture's route and waits for it. */
static struct tlspolicy_result *decide(struct fixture *fx, const char *domain)
{
	struct outcome o = {0};
	struct tlspolicy_req *req = tlspolicy_start(fx->tp, domain, fx->route, outcome_cb, &o);
	assert_non_null(req);
	assert_int_equal(o.calls, 0); /* never from inside tlspolicy_start */
	run_until(fx, &o);
	assert_int_equal(o.res->host_count, fx->route->host_count);
	assert_non_null(o.res->hosts);
	return o.res;
}

static void check_host(const struct tlspolicy_result *res, size_t i, enum tlspolicy_kind kind)
{
	assert_true(i < res->host_count);
	if (res->hosts[i].kind != kind)
		fail_msg("host %zu: %s, expected %s (reason \"%s\")", i,
			 tlspolicy_kind_name(res->hosts[i].kind), tlspolicy_kind_name(kind),
			 res->hosts[i].reason);
}

static void check_tlsa_data(const struct tls_client_tlsa *t, size_t k, size_t len)
{
	assert_int_equal(t->len, len);
	assert_non_null(t->data);
	for (size_t b = 0; b < len; b++)
		assert_int_equal(t->data[b], tlsa_byte(k, b));
}

/* ---- cache files ---- */

static const char enforce_body[] = "version: STSv1\n"
				   "mode: enforce\n"
				   "mx: mx1.example.com\n"
				   "max_age: 86400\n";
static const char testing_body[] = "version: STSv1\n"
				   "mode: testing\n"
				   "mx: mx1.example.com\n"
				   "max_age: 86400\n";

static void cache_path(const struct fixture *fx, const char *name, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/mta-sts/%s", fx->dir, name);
	assert_true(n > 0 && (size_t)n < size);
}

static void write_raw(const struct fixture *fx, const char *name, const char *text, size_t len)
{
	char dir[128], path[192];
	int n = snprintf(dir, sizeof(dir), "%s/mta-sts", fx->dir);
	assert_true(n > 0 && (size_t)n < sizeof(dir));
	assert_true(mkdir(dir, 0700) == 0 || access(dir, F_OK) == 0);
	cache_path(fx, name, path, sizeof(path));
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void write_cache(const struct fixture *fx, const char *domain, time_t fetched,
			const char *id, const char *body)
{
	size_t len;
	char *text = tlspolicy_cache_format(fetched, id, body, strlen(body), &len);
	assert_non_null(text);
	write_raw(fx, domain, text, len);
	free(text);
}

static bool file_exists(const struct fixture *fx, const char *name)
{
	char path[192];
	cache_path(fx, name, path, sizeof(path));
	return access(path, F_OK) == 0;
}

/* ---- scripts ---- */

#define NO_STS {.type = DNS_Q_TXT, .name = "_mta-sts.example.com", .status = DNS_A_NXDOMAIN}
#define MX(st, signed) {.type = DNS_Q_MX, .name = "example.com", .status = (st), .ad = (signed)}
#define TLSA_NODATA(host) \
	{.type = DNS_Q_TLSA, .name = "_25._tcp." host, .status = DNS_A_NODATA, .ad = true}
#define TLSA_311(host, signed)                                                           \
	{.type = DNS_Q_TLSA, .name = "_25._tcp." host, .status = DNS_A_OK, .ad = (signed), \
	 .tlsa = {{3, 1, 1, 32}}, .tlsa_count = 1}

/* ---- 1. dnssec off, no MTA-STS ---- */

static void test_no_dnssec_no_sts(void **state)
{
	struct fixture *fx = *state;
	/* Even signed TLSA records must not be looked at with dnssec off. */
	static const struct ans_spec script[] = {
		NO_STS, MX(DNS_A_OK, true), TLSA_311("mx1.example.com", true)};
	fx_script(fx, script, COUNT(script));
	fx_tp(fx, false, 25);
	struct tlspolicy_result *res = decide(fx, "example.com");
	assert_int_equal(asked_of(fx, DNS_Q_MX), 0);
	assert_int_equal(asked_of(fx, DNS_Q_TLSA), 0);
	assert_int_equal(fx->asked_count, 1);
	assert_true(was_asked(fx, DNS_Q_TXT, "_mta-sts.example.com"));
	assert_int_equal(fx->host_count, 0); /* no fetch */
	assert_false(res->mx_secure);
	assert_false(res->has_sts);
	assert_false(res->sts_failed);
	assert_false(res->sts_invalid);
	check_host(res, 0, TLSPOLICY_OPPORTUNISTIC);
	check_host(res, 1, TLSPOLICY_OPPORTUNISTIC);
	assert_int_equal(res->hosts[0].tlsa_count, 0);
	assert_false(res->hosts[0].sts_mismatch);
	tlspolicy_result_free(&res);
	assert_null(res);
}

/* ---- 2. DANE ---- */

static void test_dane_signed(void **state)
{
	struct fixture *fx = *state;
	static const struct ans_spec script[] = {
		NO_STS, MX(DNS_A_OK, true), TLSA_311("mx1.example.com", true),
		TLSA_NODATA("mx2.example.com")};
	fx_script(fx, script, COUNT(script));
	fx_tp(fx, true, 25);
	struct tlspolicy_result *res = decide(fx, "example.com");
	assert_true(was_asked(fx, DNS_Q_MX, "example.com"));
	assert_true(was_asked(fx, DNS_Q_TLSA, "_25._tcp.mx1.example.com"));
	assert_true(was_asked(fx, DNS_Q_TLSA, "_25._tcp.mx2.example.com"));
	assert_int_equal(asked_of(fx, DNS_Q_TLSA), 2);
	assert_true(res->mx_secure);
	assert_false(res->has_sts);
	check_host(res, 0, TLSPOLICY_DANE);
	assert_int_equal(res->hosts[0].tlsa_count, 1);
	const struct tls_client_tlsa *t = &res->hosts[0].tlsa[0];
	assert_int_equal(t->usage, 3);
	assert_int_equal(t->selector, 1);
	assert_int_equal(t->mtype, 1);
	check_tlsa_data(t, 0, 32);
	check_host(res, 1, TLSPOLICY_OPPORTUNISTIC);
	assert_int_equal(res->hosts[1].tlsa_count, 0);
	tlspolicy_result_free(&res);
}

/* The TLSA name carries relay_port; usable records are kept in order,
 * unusable ones dropped, at most TLSPOLICY_TLSA_MAX. */
static void test_dane_port_and_bounds(void **state)
{
	struct fixture *fx = *state;
	static const struct ans_spec script[] = {
		NO_STS,
		MX(DNS_A_OK, true),
		{.type = DNS_Q_TLSA, .name = "_2525._tcp.mx1.example.com", .status = DNS_A_OK,
		 .ad = true,
		 .tlsa = {{1, 1, 1, 32}, /* PKIX-EE: unusable for SMTP */
			  {2, 0, 0, 40},
			  {3, 1, 2, 64},
			  {3, 1, 1, 31}, /* bad length */
			  {3, 0, 1, 32},
			  {3, 1, 1, 32},
			  {2, 1, 1, 32},
			  {3, 1, 1, 32},
			  {3, 1, 1, 32},
			  {3, 1, 1, 32},
			  {3, 1, 1, 32}, /* the 9th usable: dropped */
			  {3, 1, 1, 32}},
		 .tlsa_count = 12},
		{.type = DNS_Q_TLSA, .name = "_2525._tcp.mx2.example.com", .status = DNS_A_NXDOMAIN,
		 .ad = true},
	};
	fx_script(fx, script, COUNT(script));
	fx_tp(fx, true, 2525);
	struct tlspolicy_result *res = decide(fx, "example.com");
	assert_false(was_asked(fx, DNS_Q_TLSA, "_25._tcp.mx1.example.com"));
	assert_true(was_asked(fx, DNS_Q_TLSA, "_2525._tcp.mx2.example.com"));
	check_host(res, 0, TLSPOLICY_DANE);
	assert_int_equal(res->hosts[0].tlsa_count, TLSPOLICY_TLSA_MAX);
	/* scripted index of each kept record */
	static const size_t kept[] = {1, 2, 4, 5, 6, 7, 8, 9};
	for (size_t k = 0; k < COUNT(kept); k++) {
		const struct tls_client_tlsa *t = &res->hosts[0].tlsa[k];
		const struct tlsa_spec *s = &script[2].tlsa[kept[k]];
		assert_int_equal(t->usage, s->usage);
		assert_int_equal(t->selector, s->selector);
		assert_int_equal(t->mtype, s->mtype);
		check_tlsa_data(t, kept[k], s->len);
	}
	check_host(res, 1, TLSPOLICY_OPPORTUNISTIC);
	tlspolicy_result_free(&res);
}

/* ---- 3. unsigned TLSA ---- */

static void test_dane_tlsa_unsigned(void **state)
{
	struct fixture *fx = *state;
	static const struct ans_spec script[] = {
		NO_STS, MX(DNS_A_OK, true), TLSA_311("mx1.example.com", false),
		TLSA_311("mx2.example.com", false)};
	fx_script(fx, script, COUNT(script));
	fx_tp(fx, true, 25);
	struct tlspolicy_result *res = decide(fx, "example.com");
	assert_int_equal(asked_of(fx, DNS_Q_TLSA), 2);
	assert_true(res->mx_secure);
	check_host(res, 0, TLSPOLICY_OPPORTUNISTIC);
	check_host(res, 1, TLSPOLICY_OPPORTUNISTIC);
	assert_int_equal(res->hosts[0].tlsa_count, 0);
	tlspolicy_result_free(&res);
}

/* ---- 4. signed TLSA, nothing usable ---- */

static void test_dane_noauth(void **state)
{
	struct fixture *fx = *state;
	static const struct ans_spec script[] = {
		NO_STS,
		MX(DNS_A_OK, true),
		{.type = DNS_Q_TLSA, .name = "_25._tcp.mx1.example.com", .status = DNS_A_OK,
		 .ad = true, .tlsa = {{1, 1, 1, 32}}, .tlsa_count = 1},
		{.type = DNS_Q_TLSA, .name = "_25._tcp.mx2.example.com", .status = DNS_A_OK,
		 .ad = true,
		 .tlsa = {{3, 1, 1, 31}, {3, 2, 1, 32}, {3, 1, 3, 32}},
		 .tlsa_count = 3},
	};
	fx_script(fx, script, COUNT(script));
	fx_tp(fx, true, 25);
	struct tlspolicy_result *res = decide(fx, "example.com");
	check_host(res, 0, TLSPOLICY_DANE_NOAUTH);
	check_host(res, 1, TLSPOLICY_DANE_NOAUTH);
	assert_int_equal(res->hosts[0].tlsa_count, 0);
	assert_int_equal(res->hosts[1].tlsa_count, 0);
	tlspolicy_result_free(&res);
}

/* ---- 5. TLSA lookup failure in a signed zone ---- */

static void test_dane_tlsa_tempfail(void **state)
{
	struct fixture *fx = *state;
	static const struct ans_spec script[] = {
		NO_STS, MX(DNS_A_OK, true),
		{.type = DNS_Q_TLSA, .name = "_25._tcp.mx1.example.com", .status = DNS_A_TEMPFAIL},
		TLSA_NODATA("mx2.example.com")};
	fx_script(fx, script, COUNT(script));
	fx_tp(fx, true, 25);
	struct tlspolicy_result *res = decide(fx, "example.com");
	check_host(res, 0, TLSPOLICY_SKIP);
	assert_int_equal(strncmp(res->hosts[0].reason, "4.7.5", 5), 0);
	assert_non_null(strstr(res->hosts[0].reason, "mx1.example.com"));
	check_host(res, 1, TLSPOLICY_OPPORTUNISTIC);
	assert_string_equal(res->hosts[1].reason, "");
	tlspolicy_result_free(&res);
}

/* ---- 6. MX AD lookup failure ---- */

static void test_mx_tempfail(void **state)
{
	struct fixture *fx = *state;
	static const struct ans_spec script[] = {
		NO_STS, MX(DNS_A_TEMPFAIL, false), TLSA_311("mx1.example.com", true)};
	fx_script(fx, script, COUNT(script));
	fx_tp(fx, true, 25);
	struct tlspolicy_result *res = decide(fx, "example.com");
	assert_int_equal(asked_of(fx, DNS_Q_MX), 1);
	assert_int_equal(asked_of(fx, DNS_Q_TLSA), 0);
	assert_false(res->mx_secure);
	for (size_t i = 0; i < res->host_count; i++) {
		check_host(res, i, TLSPOLICY_SKIP);
		assert_int_equal(strncmp(res->hosts[i].reason, "4.7.5", 5), 0);
		assert_non_null(strstr(res->hosts[i].reason, "DNSSEC"));
	}
	tlspolicy_result_free(&res);
}

/* ---- 7. unsigned MX ---- */

static void test_mx_unsigned(void **state)
{
	struct fixture *fx = *state;
	static const struct ans_spec script[] = {
		NO_STS, MX(DNS_A_OK, false), TLSA_311("mx1.example.com", true)};
	fx_script(fx, script, COUNT(script));
	fx_tp(fx, true, 25);
	struct tlspolicy_result *res = decide(fx, "example.com");
	assert_int_equal(asked_of(fx, DNS_Q_MX), 1);
	assert_int_equal(asked_of(fx, DNS_Q_TLSA), 0);
	assert_false(res->mx_secure);
	check_host(res, 0, TLSPOLICY_OPPORTUNISTIC);
	check_host(res, 1, TLSPOLICY_OPPORTUNISTIC);
	tlspolicy_result_free(&res);
}

/* A signed denial of the MX RRset (implicit MX) is secure too; an
 * NXDOMAIN, signed or not, is not. */
static void test_mx_signed_nodata(void **state)
{
	struct fixture *fx = *state;
	static const struct ans_spec script[] = {
		NO_STS, MX(DNS_A_NODATA, true), TLSA_311("mx1.example.com", true)};
	fx_script(fx, script, COUNT(script));
	fx_tp(fx, true, 25);
	struct tlspolicy_result *res = decide(fx, "example.com");
	assert_true(res->mx_secure);
	assert_int_equal(asked_of(fx, DNS_Q_TLSA), 2);
	check_host(res, 0, TLSPOLICY_DANE);
	/* mx2: no script, NXDOMAIN */
	check_host(res, 1, TLSPOLICY_OPPORTUNISTIC);
	tlspolicy_result_free(&res);

	static const struct ans_spec script2[] = {
		NO_STS, MX(DNS_A_NXDOMAIN, true), TLSA_311("mx1.example.com", true)};
	fx_script(fx, script2, COUNT(script2));
	fx->asked_count = 0;
	res = decide(fx, "example.com");
	assert_false(res->mx_secure);
	assert_int_equal(asked_of(fx, DNS_Q_TLSA), 0);
	check_host(res, 0, TLSPOLICY_OPPORTUNISTIC);
	tlspolicy_result_free(&res);
}

/* Only the first TLSPOLICY_HOSTS_MAX hosts are checked; in a signed zone
 * the rest are not used. */
static void test_dane_hosts_max(void **state)
{
	struct fixture *fx = *state;
	static const struct ans_spec script[] = {
		NO_STS, MX(DNS_A_OK, true), TLSA_311("mx1.example.com", true)};
	fx_script(fx, script, COUNT(script));
	for (int i = 3; i <= TLSPOLICY_HOSTS_MAX + 2; i++) {
		char name[64];
		(void)snprintf(name, sizeof(name), "mx%d.example.com", i);
		(void)dns_result_add_host(fx->route, name, 30);
	}
	fx_tp(fx, true, 25);
	struct tlspolicy_result *res = decide(fx, "example.com");
	assert_int_equal(res->host_count, TLSPOLICY_HOSTS_MAX + 2);
	assert_int_equal(asked_of(fx, DNS_Q_TLSA), TLSPOLICY_HOSTS_MAX);
	check_host(res, 0, TLSPOLICY_DANE);
	for (size_t i = 1; i < TLSPOLICY_HOSTS_MAX; i++)
		check_host(res, i, TLSPOLICY_OPPORTUNISTIC);
	for (size_t i = TLSPOLICY_HOSTS_MAX; i < res->host_count; i++) {
		check_host(res, i, TLSPOLICY_SKIP);
		assert_int_equal(strncmp(res->hosts[i].reason, "4.7.5", 5), 0);
	}
	tlspolicy_result_free(&res);
}

/* ---- 8. MTA-STS from the cache ---- */

static void test_sts_cache_enforce(void **state)
{
	struct fixture *fx = *state;
	static const struct ans_spec script[] = {
		{.type = DNS_Q_TXT, .name = "_mta-sts.example.com", .status = DNS_A_OK,
		 .txt = {"v=STSv1; id=abc;"}},
	};
	fx_script(fx, script, COUNT(script));
	write_cache(fx, "example.com", time(NULL), "abc", enforce_body);
	fx_tp(fx, false, 25);
	struct tlspolicy_result *res = decide(fx, "example.com");
	assert_int_equal(fx->host_count, 0); /* same id: no fetch */
	assert_true(res->has_sts);
	assert_false(res->sts_failed);
	assert_int_equal(res->sts.mode, MTASTS_MODE_ENFORCE);
	assert_int_equal(res->sts.max_age, 86400);
	assert_int_equal(res->sts.mx_count, 1);
	assert_string_equal(res->sts_id, "abc");
	check_host(res, 0, TLSPOLICY_STS);
	check_host(res, 1, TLSPOLICY_SKIP);
	assert_int_equal(strncmp(res->hosts[1].reason, "4.7.5", 5), 0);
	assert_non_null(strstr(res->hosts[1].reason, "not listed in the MTA-STS policy"));
	assert_non_null(strstr(res->hosts[1].reason, "mx2.example.com"));
	tlspolicy_result_free(&res);

	/* The domain in any case, with a trailing dot, finds the same
	 * policy. */
	fx->asked_count = 0;
	res = decide(fx, "EXAMPLE.Com.");
	assert_true(was_asked(fx, DNS_Q_TXT, "_mta-sts.example.com"));
	assert_true(res->has_sts);
	check_host(res, 0, TLSPOLICY_STS);
	check_host(res, 1, TLSPOLICY_SKIP);
	tlspolicy_result_free(&res);
}

/* DANE wins over MTA-STS (RFC 8461 2) where both exist. */
static void test_sts_and_dane(void **state)
{
	struct fixture *fx = *state;
	static const struct ans_spec script[] = {
		{.type = DNS_Q_TXT, .name = "_mta-sts.example.com", .status = DNS_A_OK,
		 .txt = {"v=STSv1; id=abc;"}},
		MX(DNS_A_OK, true), TLSA_311("mx1.example.com", true),
		TLSA_NODATA("mx2.example.com")};
	fx_script(fx, script, COUNT(script));
	write_cache(fx, "example.com", time(NULL), "abc", enforce_body);
	fx_tp(fx, true, 25);
	struct tlspolicy_result *res = decide(fx, "example.com");
	assert_true(res->has_sts);
	assert_true(res->mx_secure);
	check_host(res, 0, TLSPOLICY_DANE);
	assert_int_equal(res->hosts[0].tlsa_count, 1);
	check_host(res, 1, TLSPOLICY_SKIP);
	assert_non_null(strstr(res->hosts[1].reason, "not listed in the MTA-STS policy"));
	tlspolicy_result_free(&res);
}

/* Testing mode: delivery goes on opportunistically; the mismatch is
 * only flagged. */
static void test_sts_testing(void **state)
{
	struct fixture *fx = *state;
	static const struct ans_spec script[] = {
		{.type = DNS_Q_TXT, .name = "_mta-sts.example.com", .status = DNS_A_OK,
		 .txt = {"v=STSv1; id=t1;"}},
	};
	fx_script(fx, script, COUNT(script));
	write_cache(fx, "example.com", time(NULL), "t1", testing_body);
	fx_tp(fx, false, 25);
	struct tlspolicy_result *res = decide(fx, "example.com");
	assert_true(res->has_sts);
	assert_int_equal(res->sts.mode, MTASTS_MODE_TESTING);
	check_host(res, 0, TLSPOLICY_OPPORTUNISTIC);
	assert_false(res->hosts[0].sts_mismatch);
	check_host(res, 1, TLSPOLICY_OPPORTUNISTIC);
	assert_true(res->hosts[1].sts_mismatch);
	tlspolicy_result_free(&res);
}

/* ---- 9. cache kept without TXT; expired and broken files ---- */

static void test_sts_cache_no_txt(void **state)
{
	struct fixture *fx = *state;
	static const struct ans_spec script[] = {NO_STS};
	fx_script(fx, script, COUNT(script));
	write_cache(fx, "example.com", time(NULL) - 100, "abc", enforce_body);
	fx_tp(fx, false, 25);
	struct tlspolicy_result *res = decide(fx, "example.com");
	assert_int_equal(fx->host_count, 0);
	assert_true(res->has_sts);
	assert_string_equal(res->sts_id, "abc");
	check_host(res, 0, TLSPOLICY_STS);
	check_host(res, 1, TLSPOLICY_SKIP);
	tlspolicy_result_free(&res);

	/* A failing TXT lookup and a TXT answer without a usable record
	 * leave the cached policy in force as well. */
	static const struct ans_spec fail[] = {
		{.type = DNS_Q_TXT, .name = "_mta-sts.example.com", .status = DNS_A_TEMPFAIL}};
	fx_script(fx, fail, COUNT(fail));
	res = decide(fx, "example.com");
	assert_true(res->has_sts);
	check_host(res, 1, TLSPOLICY_SKIP);
	tlspolicy_result_free(&res);

	static const struct ans_spec two[] = {
		{.type = DNS_Q_TXT, .name = "_mta-sts.example.com", .status = DNS_A_OK,
		 .txt = {"v=STSv1; id=x1;", "v=STSv1; id=x2;", "other"}}};
	fx_script(fx, two, COUNT(two));
	res = decide(fx, "example.com");
	assert_int_equal(fx->host_count, 0); /* two records: no fetch */
	assert_true(res->has_sts);
	assert_string_equal(res->sts_id, "abc");
	tlspolicy_result_free(&res);
}

static void test_sts_cache_expired(void **state)
{
	struct fixture *fx = *state;
	static const struct ans_spec script[] = {NO_STS};
	fx_script(fx, script, COUNT(script));
	time_t now = time(NULL);
	write_cache(fx, "example.com", now - 2 * 86400, "abc", enforce_body);
	write_cache(fx, "future.example", now + 3600, "abc", enforce_body);
	write_cache(fx, "ok.example", now, "abc", enforce_body);
	write_raw(fx, "broken.example", "fetched 1\nid abc\n\nnonsense", 26);
	write_raw(fx, ".tmp.example.com", "partial", 7);
	fx_tp(fx, false, 25);
	assert_false(file_exists(fx, "example.com"));
	assert_false(file_exists(fx, "future.example"));
	assert_false(file_exists(fx, ".tmp.example.com"));
	assert_true(file_exists(fx, "ok.example"));
	assert_true(file_exists(fx, "broken.example")); /* ignored, kept */
	struct tlspolicy_result *res = decide(fx, "example.com");
	assert_false(res->has_sts);
	assert_false(res->sts_failed);
	check_host(res, 0, TLSPOLICY_OPPORTUNISTIC);
	check_host(res, 1, TLSPOLICY_OPPORTUNISTIC);
	tlspolicy_result_free(&res);

	/* the loaded one applies to its own domain */
	static const struct ans_spec ok[] = {
		{.type = DNS_Q_TXT, .name = "_mta-sts.ok.example", .status = DNS_A_NXDOMAIN}};
	fx_script(fx, ok, COUNT(ok));
	res = decide(fx, "ok.example");
	assert_true(res->has_sts);
	check_host(res, 0, TLSPOLICY_STS);
	check_host(res, 1, TLSPOLICY_SKIP);
	tlspolicy_result_free(&res);
}

/* ---- 10. new id, the fetch fails ---- */

static void test_sts_fetch_fails_cache_kept(void **state)
{
	struct fixture *fx = *state;
	static const struct ans_spec script[] = {
		{.type = DNS_Q_TXT, .name = "_mta-sts.example.com", .status = DNS_A_OK,
		 .txt = {"v=STSv1; id=def;"}},
	};
	fx_script(fx, script, COUNT(script));
	write_cache(fx, "example.com", time(NULL), "abc", enforce_body);
	fx_tp(fx, false, 25);
	struct tlspolicy_result *res = decide(fx, "example.com");
	assert_int_equal(fx->host_count, 1);
	assert_string_equal(fx->host_asked[0], "mta-sts.example.com");
	/* RFC 8461 5.1: the valid cached policy stays in force. */
	assert_true(res->has_sts);
	assert_false(res->sts_failed);
	assert_string_equal(res->sts_id, "abc");
	check_host(res, 0, TLSPOLICY_STS);
	check_host(res, 1, TLSPOLICY_SKIP);
	tlspolicy_result_free(&res);
}

static void test_sts_fetch_fails_no_cache(void **state)
{
	struct fixture *fx = *state;
	static const struct ans_spec script[] = {
		{.type = DNS_Q_TXT, .name = "_mta-sts.example.com", .status = DNS_A_OK,
		 .txt = {"v=spf1 -all", "v=STSv1; id=def;"}},
	};
	fx_script(fx, script, COUNT(script));
	fx_tp(fx, false, 25);
	struct tlspolicy_result *res = decide(fx, "example.com");
	assert_int_equal(fx->host_count, 1);
	assert_string_equal(fx->host_asked[0], "mta-sts.example.com");
	assert_false(res->has_sts);
	assert_true(res->sts_failed);
	assert_false(res->sts_invalid);
	assert_true(res->sts_reason[0] != '\0');
	assert_non_null(strstr(res->sts_reason, "mta-sts.example.com"));
	check_host(res, 0, TLSPOLICY_OPPORTUNISTIC);
	check_host(res, 1, TLSPOLICY_OPPORTUNISTIC);
	tlspolicy_result_free(&res);
	/* Nothing was cached by the failure. */
	assert_false(file_exists(fx, "example.com"));
}

/* ---- 11. pure functions ---- */

struct usable_case {
	unsigned usage, selector, mtype;
	size_t len;
	bool usable;
};

static const struct usable_case usable_cases[] = {
	{3, 1, 1, 32, true},   {3, 0, 1, 32, true},  {2, 0, 1, 32, true},  {2, 1, 2, 64, true},
	{3, 1, 0, 1, true},    {3, 0, 0, 500, true}, {3, 1, 0, 0, false},  {3, 1, 1, 31, false},
	{3, 1, 1, 33, false},  {3, 1, 1, 0, false},  {3, 1, 2, 32, false}, {3, 1, 2, 63, false},
	{3, 1, 2, 65, false},  {3, 1, 3, 32, false}, {3, 1, 255, 32, false},
	{3, 2, 1, 32, false},  {3, 255, 1, 32, false},
	{0, 1, 1, 32, false}, /* PKIX-TA */
	{1, 1, 1, 32, false}, /* PKIX-EE */
	{4, 1, 1, 32, false},  {255, 1, 1, 32, false},
};

static void test_tlsa_usable(void **state)
{
	(void)state;
	for (size_t i = 0; i < COUNT(usable_cases); i++) {
		const struct usable_case *c = &usable_cases[i];
		if (tlspolicy_tlsa_usable(c->usage, c->selector, c->mtype, c->len) != c->usable)
			fail_msg("case %zu: %u %u %u len %zu: expected %s", i, c->usage,
				 c->selector, c->mtype, c->len, c->usable ? "usable" : "unusable");
	}
}

static void test_kind_name(void **state)
{
	(void)state;
	assert_string_equal(tlspolicy_kind_name(TLSPOLICY_OPPORTUNISTIC), "opportunistic");
	assert_string_equal(tlspolicy_kind_name(TLSPOLICY_DANE), "dane");
	assert_string_equal(tlspolicy_kind_name(TLSPOLICY_DANE_NOAUTH), "dane-noauth");
	assert_string_equal(tlspolicy_kind_name(TLSPOLICY_STS), "mta-sts");
	assert_string_equal(tlspolicy_kind_name(TLSPOLICY_SKIP), "skip");
}

/* An exactly sized heap copy, so that an over-read shows under ASan. */
static char *copy_of(const char *s, size_t len)
{
	char *c = malloc(len ? len : 1);
	assert_non_null(c);
	memcpy(c, s, len);
	return c;
}

/* What tlspolicy_cache_parse gave for an exactly sized heap copy of the
 * text (copy: free it). */
struct parsed {
	int rc;
	time_t fetched;
	char id[MTASTS_ID_SIZE];
	const char *body;
	size_t body_len;
	char *copy;
};

static void parse_copy(const char *text, size_t len, size_t id_size, struct parsed *p)
{
	assert_true(id_size <= sizeof(p->id));
	memset(p, 0, sizeof(*p));
	p->fetched = -1;
	p->copy = copy_of(text, len);
	p->rc = tlspolicy_cache_parse(p->copy, len, &p->fetched, p->id, id_size, &p->body,
				      &p->body_len);
}

static void test_cache_round_trip(void **state)
{
	(void)state;
	static const struct {
		time_t fetched;
		const char *id;
		const char *body;
	} cases[] = {
		{1700000000, "abc", enforce_body},
		{0, "Z", ""},
		{1, "0123456789abcdefABCDEF0123456789", "x\ny\n\nz"}, /* 32 characters */
		{(time_t)9223372036854775807LL, "id1", "body"}, /* the largest fetched */
	};
	for (size_t i = 0; i < COUNT(cases); i++) {
		size_t blen = strlen(cases[i].body), len = 0;
		char *text = tlspolicy_cache_format(cases[i].fetched, cases[i].id, cases[i].body,
						    blen, &len);
		assert_non_null(text);
		assert_int_equal(strlen(text), len);
		char head[128];
		(void)snprintf(head, sizeof(head), "fetched %lld\nid %s\n\n",
			       (long long)cases[i].fetched, cases[i].id);
		size_t head_len = strlen(head);
		assert_int_equal(len, head_len + blen);
		assert_memory_equal(text, head, head_len);
		struct parsed p;
		parse_copy(text, len, MTASTS_ID_SIZE, &p);
		assert_int_equal(p.rc, 0);
		assert_true(p.fetched == cases[i].fetched);
		assert_string_equal(p.id, cases[i].id);
		assert_int_equal(p.body_len, blen);
		assert_true(p.body == p.copy + head_len);
		assert_memory_equal(p.body, cases[i].body, blen);
		free(p.copy);
		/* Every prefix cut before the body is malformed. */
		for (size_t cut = 0; cut < head_len; cut++) {
			parse_copy(text, cut, MTASTS_ID_SIZE, &p);
			if (p.rc != -1)
				fail_msg("case %zu cut at %zu accepted", i, cut);
			free(p.copy);
		}
		free(text);
	}
}

static void test_cache_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"fetched",
		"fetched \nid abc\n\nbody",
		"fetched 9999999999999999999\nid abc\n\nbody", /* over INT64_MAX */
		"fetched 12\n",
		"fetched 12\nid abc",
		"fetched 12\nid abc\n",
		"fetched 12\nid abc\nbody",
		"fetched 12\nid \n\nbody",
		"fetched 12\nidabc\n\nbody",
		"fetched 12 \nid abc\n\nbody",
		"fetched -12\nid abc\n\nbody",
		"fetched x\nid abc\n\nbody",
		"Fetched 12\nid abc\n\nbody",
		"fetched 12\r\nid abc\r\n\r\nbody",
		"fetched 12\nid ab-c\n\nbody",
		"fetched 12\nid ab c\n\nbody",
		"fetched 12\nid ab.c\n\nbody",
		"fetched 12\nid abc;\n\nbody",
		"fetched 12\nid 0123456789abcdef0123456789abcdefX\n\nbody", /* 33 */
		"fetched 12345678901234567890\nid abc\n\nbody", /* 20 digits */
		"id abc\nfetched 12\n\nbody",
		"\nfetched 12\nid abc\n\nbody",
	};
	struct parsed p;
	for (size_t i = 0; i < COUNT(bad); i++) {
		parse_copy(bad[i], strlen(bad[i]), MTASTS_ID_SIZE, &p);
		if (p.rc != -1)
			fail_msg("case %zu accepted: \"%s\"", i, bad[i]);
		free(p.copy);
	}
	/* A NUL inside the id. */
	static const char nul[] = "fetched 12\nid a\0c\n\nbody";
	parse_copy(nul, sizeof(nul) - 1, MTASTS_ID_SIZE, &p);
	assert_int_equal(p.rc, -1);
	free(p.copy);
	/* An id that does not fit the caller's buffer, and one that just
	 * fits. */
	static const char ok[] = "fetched 12\nid abcd\n\nbody";
	parse_copy(ok, sizeof(ok) - 1, 4, &p);
	assert_int_equal(p.rc, -1);
	free(p.copy);
	parse_copy(ok, sizeof(ok) - 1, 5, &p);
	assert_int_equal(p.rc, 0);
	assert_string_equal(p.id, "abcd");
	assert_int_equal(p.fetched, 12);
	assert_int_equal(p.body_len, 4);
	assert_memory_equal(p.body, "body", 4);
	free(p.copy);
}

/* ---- 12. cancel and free in flight ---- */

static void never_cb(void *arg, struct tlspolicy_result *res)
{
	(void)arg;
	(void)res;
	fail_msg("callback after cancel or free");
}

static const struct ans_spec busy_script[] = {
	{.type = DNS_Q_TXT, .name = "_mta-sts.example.com", .status = DNS_A_OK,
	 .txt = {"v=STSv1; id=new;"}},
	MX(DNS_A_OK, true), TLSA_311("mx1.example.com", true), TLSA_311("mx2.example.com", true)};

static struct tlspolicy_req *start_never(struct fixture *fx)
{
	struct tlspolicy_req *req =
		tlspolicy_start(fx->tp, "example.com", fx->route, never_cb, NULL);
	assert_non_null(req);
	return req;
}

static void test_cancel_before_answers(void **state)
{
	struct fixture *fx = *state;
	fx_script(fx, busy_script, COUNT(busy_script));
	fx_tp(fx, true, 25);
	struct tlspolicy_req *req = start_never(fx);
	tlspolicy_cancel(&req);
	assert_null(req);
	tlspolicy_cancel(&req); /* NULL is fine */
	run_idle(fx);
	/* the policy object still works afterwards */
	struct tlspolicy_result *res = decide(fx, "example.com");
	check_host(res, 0, TLSPOLICY_DANE);
	tlspolicy_result_free(&res);
}

/* Cancelled while its TLSA questions are out. */
static void test_cancel_during_tlsa(void **state)
{
	struct fixture *fx = *state;
	fx_script(fx, busy_script, COUNT(busy_script));
	fx_tp(fx, true, 25);
	struct tlspolicy_req *req = start_never(fx);
	fx->hook_req = &req;
	fx->hook_on_tlsa = true;
	run_idle(fx);
	assert_null(req);
	assert_true(asked_of(fx, DNS_Q_TLSA) >= 1);
}

/* Cancelled while the policy fetch is out (its host lookup pending). */
static void test_cancel_during_fetch(void **state)
{
	struct fixture *fx = *state;
	fx_script(fx, busy_script, COUNT(busy_script));
	fx_tp(fx, true, 25);
	struct tlspolicy_req *req = start_never(fx);
	fx->hook_req = &req;
	fx->hook_on_host = true;
	run_idle(fx);
	assert_null(req);
	assert_int_equal(fx->host_count, 1);
}

static void test_free_in_flight(void **state)
{
	struct fixture *fx = *state;
	fx_script(fx, busy_script, COUNT(busy_script));
	fx_tp(fx, true, 25);
	for (int i = 0; i < 3; i++)
		(void)start_never(fx);
	tlspolicy_free(&fx->tp);
	assert_null(fx->tp);
	tlspolicy_free(&fx->tp); /* NULL is fine */
	run_idle(fx);
}

/* Freed from the loop while one request waits on its fetch and another
 * on its answers. */
static void test_free_during_fetch(void **state)
{
	struct fixture *fx = *state;
	fx_script(fx, busy_script, COUNT(busy_script));
	fx_tp(fx, true, 25);
	(void)start_never(fx);
	(void)start_never(fx);
	fx->hook_free = true;
	fx->hook_on_host = true;
	run_idle(fx);
	assert_null(fx->tp);
	assert_true(fx->host_count >= 1);
}

/* The callback may free the whole policy object. */
struct free_in_cb {
	struct fixture *fx;
	unsigned calls;
};

static void free_cb(void *arg, struct tlspolicy_result *res)
{
	struct free_in_cb *f = arg;
	f->calls++;
	tlspolicy_free(&f->fx->tp);
	tlspolicy_result_free(&res);
}

static void test_free_in_callback(void **state)
{
	struct fixture *fx = *state;
	static const struct ans_spec script[] = {NO_STS};
	fx_script(fx, script, COUNT(script));
	fx_tp(fx, false, 25);
	struct free_in_cb f = {.fx = fx};
	(void)tlspolicy_start(fx->tp, "example.com", fx->route, free_cb, &f);
	(void)tlspolicy_start(fx->tp, "example.com", fx->route, free_cb, &f);
	run_idle(fx);
	assert_int_equal(f.calls, 1); /* the second died with the object */
	assert_null(fx->tp);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_no_dnssec_no_sts),
		T(test_dane_signed),
		T(test_dane_port_and_bounds),
		T(test_dane_tlsa_unsigned),
		T(test_dane_noauth),
		T(test_dane_tlsa_tempfail),
		T(test_mx_tempfail),
		T(test_mx_unsigned),
		T(test_mx_signed_nodata),
		T(test_dane_hosts_max),
		T(test_sts_cache_enforce),
		T(test_sts_and_dane),
		T(test_sts_testing),
		T(test_sts_cache_no_txt),
		T(test_sts_cache_expired),
		T(test_sts_fetch_fails_cache_kept),
		T(test_sts_fetch_fails_no_cache),
		cmocka_unit_test(test_tlsa_usable),
		cmocka_unit_test(test_kind_name),
		cmocka_unit_test(test_cache_round_trip),
		cmocka_unit_test(test_cache_malformed),
		T(test_cancel_before_answers),
		T(test_cancel_during_tlsa),
		T(test_cancel_during_fetch),
		T(test_free_in_flight),
		T(test_free_during_fetch),
		T(test_free_in_callback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
