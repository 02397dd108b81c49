/* spf_eval_test: check_host() scenarios over a scripted DNS (no sockets):
 * each mechanism, include/redirect, the lookup and void limits, loops,
 * DNS failures, duplicate records; then the same zones cross-checked
 * against pyspf (python3-spf) with its DNSLookup replaced by the zone. */
#include "trust/spf_eval.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

/* One DNS record: type "TXT" (character-strings split on '|'), "A",
 * "AAAA", "MX", "PTR", or "FAIL" (the name answers SERVFAIL to all). */
struct rr_line {
	const char *type, *name, *value;
};

#define ZONE_MAX 24
struct scenario {
	const char *name;
	const char *ip;
	const char *domain;
	const char *local;
	struct rr_line zone[ZONE_MAX];
	enum spf_result want;
	const char *expl; /* substring of the explanation, or NULL */
	bool cross; /* also ask pyspf */
};

#define R(t, n, v) {.type = t, .name = n, .value = v}
#define D "example.com"

static const struct scenario scenarios[] = {
	/* 6.1: a redirect inside an included record answers the include */
	{.name = "include of a record that redirects", .ip = "192.0.2.9",
	 .want = SPF_RESULT_PASS, .cross = true,
	 .zone = {R("TXT", D, "v=spf1 include:a.example.com ip4:192.0.2.9 -all"),
		  R("TXT", "a.example.com", "v=spf1 redirect=b.example.com"),
		  R("TXT", "b.example.com", "v=spf1 ip4:192.0.2.1 -all")}},
	/* 5.5: a DNS error on the PTR lookup is no match, not temperror */
	{.name = "ptr lookup failure is no match", .ip = "192.0.2.9", .want = SPF_RESULT_PASS,
	 .zone = {R("TXT", D, "v=spf1 ptr ip4:192.0.2.9 -all"),
		  R("FAIL", "9.2.0.192.in-addr.arpa", "")}},
	{.name = "pass via ip4", .ip = "192.0.2.10", .want = SPF_RESULT_PASS, .cross = true,
	 .zone = {R("TXT", D, "v=spf1 ip4:192.0.2.0/24 -all")}},
	{.name = "fail -all", .ip = "198.51.100.1", .want = SPF_RESULT_FAIL, .cross = true,
	 .zone = {R("TXT", D, "v=spf1 ip4:192.0.2.0/24 -all")}},
	{.name = "softfail ~all", .ip = "198.51.100.1", .want = SPF_RESULT_SOFTFAIL, .cross = true,
	 .zone = {R("TXT", D, "v=spf1 ip4:192.0.2.0/24 ~all")}},
	{.name = "neutral, no match", .ip = "198.51.100.1", .want = SPF_RESULT_NEUTRAL,
	 .cross = true, .zone = {R("TXT", D, "v=spf1 ip4:192.0.2.0/24")}},
	{.name = "none without record", .ip = "192.0.2.1", .want = SPF_RESULT_NONE, .cross = true,
	 .zone = {R("TXT", D, "google-site-verification=xyz")}},
	{.name = "include chain", .ip = "192.0.2.1", .want = SPF_RESULT_PASS, .cross = true,
	 .zone = {R("TXT", D, "v=spf1 include:a.example.com -all"),
		  R("TXT", "a.example.com", "v=spf1 include:b.example.com -all"),
		  R("TXT", "b.example.com", "v=spf1 ip4:192.0.2.1 -all")}},
	{.name = "include fail is no match", .ip = "192.0.2.9", .want = SPF_RESULT_SOFTFAIL,
	 .cross = true,
	 .zone = {R("TXT", D, "v=spf1 include:a.example.com ~all"),
		  R("TXT", "a.example.com", "v=spf1 ip4:192.0.2.1 -all")}},
	{.name = "include without record", .ip = "192.0.2.9", .want = SPF_RESULT_PERMERROR,
	 .cross = true, .zone = {R("TXT", D, "v=spf1 include:nx.example.com ~all")}},
	{.name = "redirect", .ip = "192.0.2.5", .want = SPF_RESULT_FAIL, .cross = true,
	 .zone = {R("TXT", D, "v=spf1 ip4:10.0.0.1 redirect=_spf.example.net"),
		  R("TXT", "_spf.example.net", "v=spf1 ip4:10.0.0.2 -all")}},
	{.name = "mx", .ip = "192.0.2.20", .want = SPF_RESULT_PASS, .cross = true,
	 .zone = {R("TXT", D, "v=spf1 mx -all"), R("MX", D, "mx1.example.com"),
		  R("MX", D, "mx2.example.com"), R("A", "mx1.example.com", "192.0.2.19"),
		  R("A", "mx2.example.com", "192.0.2.20")}},
	{.name = "a/24", .ip = "192.0.2.77", .want = SPF_RESULT_PASS, .cross = true,
	 .zone = {R("TXT", D, "v=spf1 a/24 -all"), R("A", D, "192.0.2.1")}},
	{.name = "a without /24", .ip = "192.0.2.77", .want = SPF_RESULT_FAIL, .cross = true,
	 .zone = {R("TXT", D, "v=spf1 a -all"), R("A", D, "192.0.2.1")}},
	{.name = "exists with macros", .ip = "192.0.2.10", .local = "user.name",
	 .want = SPF_RESULT_PASS, .cross = true,
	 .zone = {R("TXT", D, "v=spf1 exists:%{ir}.%{l1r.}._spf.%{d} -all"),
		  R("A", "10.2.0.192.user._spf.example.com", "127.0.0.2")}},
	{.name = "void lookup limit", .ip = "192.0.2.10", .want = SPF_RESULT_PERMERROR,
	 .cross = true,
	 .zone = {R("TXT", D,
		    "v=spf1 a:n1.example.com a:n2.example.com a:n3.example.com -all")}},
	{.name = "two voids are fine", .ip = "192.0.2.10", .want = SPF_RESULT_FAIL, .cross = true,
	 .zone = {R("TXT", D, "v=spf1 a:n1.example.com a:n2.example.com -all")}},
	{.name = "10-lookup limit", .ip = "192.0.2.10", .want = SPF_RESULT_PERMERROR,
	 .expl = "10 DNS", .cross = true,
	 .zone = {R("TXT", D,
		    "v=spf1 a:h.example.com a:h.example.com a:h.example.com a:h.example.com "
		    "a:h.example.com a:h.example.com a:h.example.com a:h.example.com "
		    "a:h.example.com a:h.example.com a:h.example.com -all"),
		  R("A", "h.example.com", "10.9.9.9")}},
	{.name = "10 lookups are fine", .ip = "192.0.2.10", .want = SPF_RESULT_PASS, .cross = true,
	 .zone = {R("TXT", D,
		    "v=spf1 a:h.example.com a:h.example.com a:h.example.com a:h.example.com "
		    "a:h.example.com a:h.example.com a:h.example.com a:h.example.com "
		    "a:h.example.com a:h.example.com ip4:192.0.2.10 -all"),
		  R("A", "h.example.com", "10.9.9.9")}},
	{.name = "self-including record", .ip = "192.0.2.10", .want = SPF_RESULT_PERMERROR,
	 .cross = true, .zone = {R("TXT", D, "v=spf1 include:example.com -all")}},
	{.name = "self-redirecting record", .ip = "192.0.2.10", .want = SPF_RESULT_PERMERROR,
	 .zone = {R("TXT", D, "v=spf1 redirect=example.com")}},
	{.name = "temperror on TXT failure", .ip = "192.0.2.10", .want = SPF_RESULT_TEMPERROR,
	 .cross = true, .zone = {R("FAIL", D, "")}},
	{.name = "temperror in a", .ip = "192.0.2.10", .want = SPF_RESULT_TEMPERROR, .cross = true,
	 .zone = {R("TXT", D, "v=spf1 a:broken.example.com -all"),
		  R("FAIL", "broken.example.com", "")}},
	{.name = "permerror on two records", .ip = "192.0.2.10", .want = SPF_RESULT_PERMERROR,
	 .cross = true,
	 .zone = {R("TXT", D, "v=spf1 -all"), R("TXT", D, "v=spf1 +all")}},
	{.name = "syntax error", .ip = "192.0.2.10", .want = SPF_RESULT_PERMERROR, .cross = true,
	 .zone = {R("TXT", D, "v=spf1 ip4:192.0.2.300 -all")}},
	{.name = "TXT strings joined", .ip = "192.0.2.10", .want = SPF_RESULT_PASS, .cross = true,
	 .zone = {R("TXT", D, "v=spf1 ip4:192.0.2.0/24|  -all")}},
	{.name = "ip6", .ip = "2001:db8::5", .want = SPF_RESULT_PASS,
	 .zone = {R("TXT", D, "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/64 -all")}},
	{.name = "v4-mapped client", .ip = "::ffff:192.0.2.10", .want = SPF_RESULT_PASS,
	 .zone = {R("TXT", D, "v=spf1 ip6:::/0 ip4:192.0.2.0/24 -all")}},
	{.name = "ptr", .ip = "192.0.2.10", .want = SPF_RESULT_PASS, .cross = true,
	 .zone = {R("TXT", D, "v=spf1 ptr -all"),
		  R("PTR", "10.2.0.192.in-addr.arpa", "evil.example.net"),
		  R("PTR", "10.2.0.192.in-addr.arpa", "mail.example.com"),
		  R("A", "mail.example.com", "192.0.2.10")}},
	{.name = "ptr not validated", .ip = "192.0.2.10", .want = SPF_RESULT_FAIL, .cross = true,
	 .zone = {R("TXT", D, "v=spf1 ptr -all"),
		  R("PTR", "10.2.0.192.in-addr.arpa", "mail.example.com"),
		  R("A", "mail.example.com", "192.0.2.11")}},
	{.name = "p macro", .ip = "192.0.2.10", .want = SPF_RESULT_PASS,
	 .zone = {R("TXT", D, "v=spf1 exists:%{p}.ok.example.org -all"),
		  R("PTR", "10.2.0.192.in-addr.arpa", "mail.example.com"),
		  R("A", "mail.example.com", "192.0.2.10"),
		  R("A", "mail.example.com.ok.example.org", "127.0.0.2")}},
	{.name = "exp", .ip = "192.0.2.99", .want = SPF_RESULT_FAIL,
	 .expl = "192.0.2.99 is not allowed to send for example.com",
	 .zone = {R("TXT", D, "v=spf1 -all exp=why.example.com"),
		  R("TXT", "why.example.com", "%{i} is not allowed to send for %{d}")}},
	{.name = "too many MX names", .ip = "192.0.2.10", .want = SPF_RESULT_PERMERROR,
	 .cross = true,
	 .zone = {R("TXT", D, "v=spf1 mx -all"), R("MX", D, "m1.example.com"),
		  R("MX", D, "m2.example.com"), R("MX", D, "m3.example.com"),
		  R("MX", D, "m4.example.com"), R("MX", D, "m5.example.com"),
		  R("MX", D, "m6.example.com"), R("MX", D, "m7.example.com"),
		  R("MX", D, "m8.example.com"), R("MX", D, "m9.example.com"),
		  R("MX", D, "m10.example.com"), R("MX", D, "m11.example.com")}},
	{.name = "malformed domain", .ip = "192.0.2.10", .domain = "localhost",
	 .want = SPF_RESULT_NONE},
};

static const char *qtype_name(enum spf_qtype t)
{
	static const char *const n[] = {"TXT", "A", "AAAA", "MX", "PTR"};
	return n[t];
}

struct fake {
	const struct scenario *sc;
	bool pending;
	struct spf_query q;
	bool done;
	enum spf_result result;
	char expl[SPF_EXPLAIN_MAX + 1];
	unsigned queries;
};

static void query_cb(struct spf_eval *ev, const struct spf_query *q, void *arg)
{
	struct fake *f = arg;
	(void)ev;
	assert_false(f->pending);
	f->pending = true;
	f->q = *q;
	f->queries++;
}

static void done_cb(struct spf_eval *ev, enum spf_result r, const char *expl, void *arg)
{
	struct fake *f = arg;
	(void)ev;
	assert_false(f->done);
	f->done = true;
	f->result = r;
	(void)snprintf(f->expl, sizeof(f->expl), "%s", expl);
}

#define RRS_MAX 32
static void answer(struct spf_eval *ev, struct fake *f)
{
	struct spf_rr rrs[RRS_MAX];
	char bufs[RRS_MAX][512];
	size_t n = 0;
	bool exists = false;
	const char *type = qtype_name(f->q.type);

	f->pending = false;
	for (size_t i = 0; i < ZONE_MAX && f->sc->zone[i].type != NULL; i++) {
		const struct rr_line *l = &f->sc->zone[i];
		if (strcasecmp(l->name, f->q.name) != 0)
			continue;
		if (strcmp(l->type, "FAIL") == 0) {
			spf_eval_answer(ev, SPF_DNS_TEMPFAIL, NULL, 0);
			return;
		}
		exists = true;
		if (strcmp(l->type, type) != 0)
			continue;
		if (strcmp(type, "TXT") == 0) {
			const char *s = l->value;
			bool first = true;
			for (;;) {
				const char *bar = strchr(s, '|');
				size_t len = bar != NULL ? (size_t)(bar - s) : strlen(s);
				assert_true(n < RRS_MAX);
				rrs[n++] = (struct spf_rr){.data = s, .len = len, .record_start = first};
				first = false;
				if (bar == NULL)
					break;
				s = bar + 1;
			}
		} else if (strcmp(type, "MX") == 0 || strcmp(type, "PTR") == 0) {
			assert_true(n < RRS_MAX);
			rrs[n++] = (struct spf_rr){.data = l->value, .len = strlen(l->value)};
		} else {
			assert_true(n < RRS_MAX);
			(void)snprintf(bufs[n], sizeof(bufs[n]), "%s", l->value);
			memset(&rrs[n], 0, sizeof(rrs[n]));
			assert_int_equal(inet_pton(f->q.type == SPF_QTYPE_A ? AF_INET : AF_INET6,
						   bufs[n], rrs[n].addr),
					 1);
			n++;
		}
	}
	if (n > 0)
		spf_eval_answer(ev, SPF_DNS_OK, rrs, n);
	else
		spf_eval_answer(ev, exists ? SPF_DNS_NODATA : SPF_DNS_NXDOMAIN, NULL, 0);
}

static void run_scenario(const struct scenario *sc, struct fake *f)
{
	struct spf_input in = {
		.domain = sc->domain != NULL ? sc->domain : D,
		.local = sc->local,
		.helo = "mail.example.org",
		.receiver = "mx.our.example",
		.now = 1700000000,
	};
	in.family = strchr(sc->ip, ':') != NULL ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(in.family, sc->ip, in.ip), 1);
	memset(f, 0, sizeof(*f));
	f->sc = sc;
	struct spf_eval *ev = spf_eval_new(&in, query_cb, done_cb, f);
	spf_eval_start(ev);
	while (f->pending) {
		assert_true(f->queries < 200); /* bounded whatever the zone */
		answer(ev, f);
	}
	assert_true(f->done);
	assert_int_equal(spf_eval_result(ev), f->result);
	spf_eval_free(&ev);
	assert_null(ev);
}

static void test_scenarios(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		const struct scenario *sc = &scenarios[i];
		struct fake f;
		run_scenario(sc, &f);
		if (f.result != sc->want)
			fail_msg("%s: got %s (%s), want %s", sc->name, spf_result_name(f.result),
				 f.expl, spf_result_name(sc->want));
		if (sc->expl != NULL && strstr(f.expl, sc->expl) == NULL)
			fail_msg("%s: explanation \"%s\"", sc->name, f.expl);
	}
}

/* Answering from inside the query callback works too (bounded recursion),
 * and freeing from the done callback is allowed. */
struct sync_ctx {
	struct fake f;
	struct spf_eval *ev;
};

static void sync_query_cb(struct spf_eval *ev, const struct spf_query *q, void *arg)
{
	struct sync_ctx *c = arg;
	query_cb(ev, q, &c->f);
	answer(ev, &c->f);
}

static void sync_done_cb(struct spf_eval *ev, enum spf_result r, const char *expl, void *arg)
{
	struct sync_ctx *c = arg;
	done_cb(ev, r, expl, &c->f);
	spf_eval_free(&c->ev);
}

static void test_sync_answers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		struct sync_ctx c;
		struct spf_input in = {.domain = D, .helo = "h.example", .receiver = "r.example"};
		in.family = strchr(scenarios[i].ip, ':') != NULL ? AF_INET6 : AF_INET;
		assert_int_equal(inet_pton(in.family, scenarios[i].ip, in.ip), 1);
		if (scenarios[i].domain != NULL || scenarios[i].local != NULL)
			continue;
		memset(&c, 0, sizeof(c));
		c.f.sc = &scenarios[i];
		c.ev = spf_eval_new(&in, sync_query_cb, sync_done_cb, &c);
		spf_eval_start(c.ev);
		assert_null(c.ev);
		assert_int_equal(c.f.result, scenarios[i].want);
	}
}

/* The same zones through pyspf. The zone and cases go to a file; the
 * script prints one verdict per case. */
static const char pyspf_script[] =
	"import sys, spf\n"
	"zone = {}; cases = []\n"
	"for line in open(sys.argv[1], encoding='utf-8'):\n"
	"    f = line.rstrip('\\n').split('\\t')\n"
	"    if f[0] == 'CASE': cases.append((f[1], f[2], f[3], int(f[4]))); continue\n"
	"    zone.setdefault(int(f[0]), []).append((f[1], f[2].lower(), f[3]))\n"
	"cur = [0]\n"
	"def lookup(name, qtype, strict=True, timeout=None, *a, **k):\n"
	"    out = []; exists = False\n"
	"    for t, n, v in zone.get(cur[0], []):\n"
	"        if n != name.lower(): continue\n"
	"        if t == 'FAIL': raise spf.TempError('DNS SERVFAIL')\n"
	"        if t != qtype: continue\n"
	"        if t == 'TXT': out.append(((name, t), [s.encode() for s in v.split('|')]))\n"
	"        elif t == 'MX': out.append(((name, t), (10, v)))\n"
	"        else: out.append(((name, t), v))\n"
	"    return out\n"
	"spf.DNSLookup = lookup\n"
	"for ip, sender, helo, idx in cases:\n"
	"    cur[0] = idx\n"
	"    r = spf.query(i=ip, s=sender, h=helo, receiver='mx.our.example')\n"
	"    print(r.check()[0])\n";

static void test_pyspf_cross_check(void **state)
{
	(void)state;
	const char *py = "/usr/bin/python3";
	char dir[] = "/tmp/spf_eval_test.XXXXXX", script[64], data[64], out[64], cmd[256];

	if (access(py, X_OK) != 0 || system("/usr/bin/python3 -c 'import spf' 2>/dev/null") != 0) {
		skip();
		return;
	}
	assert_non_null(mkdtemp(dir));
	(void)snprintf(script, sizeof(script), "%s/x.py", dir);
	(void)snprintf(data, sizeof(data), "%s/zone", dir);
	(void)snprintf(out, sizeof(out), "%s/out", dir);
	FILE *fp = fopen(script, "w");
	assert_non_null(fp);
	assert_true(fputs(pyspf_script, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	fp = fopen(data, "w");
	assert_non_null(fp);
	size_t ncases = 0;
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		const struct scenario *sc = &scenarios[i];
		if (!sc->cross)
			continue;
		for (size_t k = 0; k < ZONE_MAX && sc->zone[k].type != NULL; k++)
			fprintf(fp, "%zu\t%s\t%s\t%s\n", i, sc->zone[k].type, sc->zone[k].name,
				sc->zone[k].value);
		fprintf(fp, "CASE\t%s\t%s@%s\tmail.example.org\t%zu\n", sc->ip,
			sc->local != NULL ? sc->local : "postmaster",
			sc->domain != NULL ? sc->domain : D, i);
		ncases++;
	}
	assert_int_equal(fclose(fp), 0);
	assert_true(ncases >= 15);
	(void)snprintf(cmd, sizeof(cmd), "%s %s %s > %s", py, script, data, out);
	assert_int_equal(system(cmd), 0);
	fp = fopen(out, "r");
	assert_non_null(fp);
	char line[64];
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		if (!scenarios[i].cross)
			continue;
		assert_non_null(fgets(line, sizeof(line), fp));
		line[strcspn(line, "\n")] = '\0';
		struct fake f;
		run_scenario(&scenarios[i], &f);
		if (strcmp(line, spf_result_name(f.result)) != 0)
			fail_msg("%s: pyspf says %s, we say %s", scenarios[i].name, line,
				 spf_result_name(f.result));
	}
	assert_int_equal(fclose(fp), 0);
	(void)unlink(script);
	(void)unlink(data);
	(void)unlink(out);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scenarios),
		cmocka_unit_test(test_sync_answers),
		cmocka_unit_test(test_pyspf_cross_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
