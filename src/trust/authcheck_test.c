/* authcheck_test: the inbound checks over a fake DNS that answers from a
 * zone table, later, from a queue the test pumps (one case answers from
 * inside query, for re-entrancy): SPF results, DKIM pass/fail/temperror
 * with an Ed25519 signature made here, DMARC alignment, policies and the
 * organizational-domain fallback, the query bounds, cancellation, the
 * header checked by python3-authres, and forged fields found. */
#include "trust/authcheck.h"

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
#include <openssl/evp.h>

#include "trust/dkim_sign.h"

#define NOW 1700000000

/* type "TXT" (strings split on '|', records on '#'), "A", "MX" (names
 * split on '|'), or "FAIL" (TEMPFAIL for every type). A name starting
 * with "*." matches every name below. value "KEY" is the test key. */
struct rr_line {
	const char *type, *name, *value;
};

#define ZONE_MAX 8
#define R(t, n, v) {.type = t, .name = n, .value = v}

static EVP_PKEY *ed_key;
static char *key_record;
static struct psl *psl;

/* ---- the fake DNS ---- */

#define FQ_MAX 64
struct fake_q {
	int qtype;
	char name[300];
	authcheck_answer_fn answer;
	void *req_arg;
	bool done, cancelled;
};

struct fake_dns {
	const struct rr_line *zone;
	bool sync;
	struct fake_q q[FQ_MAX];
	size_t nq, next;
	size_t cancels;
};

static bool name_matches(const char *pat, const char *name)
{
	if (strncmp(pat, "*.", 2) == 0) {
		size_t pl = strlen(pat + 1), nl = strlen(name);
		return nl > pl && strcasecmp(name + nl - pl, pat + 1) == 0;
	}
	return strcasecmp(pat, name) == 0;
}

static const char *qtype_name(int t)
{
	static const char *names[] = {"TXT", "A", "AAAA", "MX", "PTR"};
	return names[t];
}

static void fake_answer(struct fake_dns *fd, struct fake_q *q)
{
	struct authcheck_rr rrs[32];
	char store[32][512];
	size_t n = 0;
	bool exists = false;

	for (size_t i = 0; i < ZONE_MAX && fd->zone[i].type; i++) {
		const struct rr_line *r = &fd->zone[i];
		if (!name_matches(r->name, q->name))
			continue;
		exists = true;
		if (strcmp(r->type, "FAIL") == 0) {
			q->answer(q->req_arg, AUTHCHECK_DNS_TEMPFAIL, NULL, 0);
			return;
		}
		if (strcmp(r->type, qtype_name(q->qtype)) != 0)
			continue;
		const char *v = strcmp(r->value, "KEY") == 0 ? key_record : r->value;
		bool start = true;
		while (*v && n < 32) {
			size_t l = strcspn(v, "|#");
			assert_true(l < sizeof(store[0]));
			memcpy(store[n], v, l);
			rrs[n] = (struct authcheck_rr){.data = store[n], .len = l,
						       .record_start = start};
			if (q->qtype == AUTHCHECK_Q_A) {
				store[n][l] = '\0';
				assert_int_equal(inet_pton(AF_INET, store[n], rrs[n].addr), 1);
			}
			n++;
			start = v[l] == '#' || q->qtype != AUTHCHECK_Q_TXT;
			v += l;
			if (*v)
				v++;
		}
		if (q->qtype != AUTHCHECK_Q_TXT)
			continue;
	}
	if (n > 0)
		q->answer(q->req_arg, AUTHCHECK_DNS_OK, rrs, n);
	else
		q->answer(q->req_arg, exists ? AUTHCHECK_DNS_NODATA : AUTHCHECK_DNS_NXDOMAIN,
			  NULL, 0);
}

static void *fake_query(void *ctx, int qtype, const char *name, authcheck_answer_fn answer,
			void *req_arg)
{
	struct fake_dns *fd = ctx;
	struct fake_q *q;

	assert_true(fd->nq < FQ_MAX);
	q = &fd->q[fd->nq++];
	*q = (struct fake_q){.qtype = qtype, .answer = answer, .req_arg = req_arg};
	assert_true(strlen(name) < sizeof(q->name));
	strcpy(q->name, name);
	if (fd->sync) {
		q->done = true;
		fake_answer(fd, q);
		return NULL; /* ignored: answered already */
	}
	return q;
}

static void fake_cancel(void *ctx, void *handle)
{
	struct fake_dns *fd = ctx;
	struct fake_q *q = handle;

	assert_false(q->done);
	assert_false(q->cancelled);
	q->cancelled = true;
	fd->cancels++;
}

/* Answers queued questions in order until none is left. */
static void fake_pump(struct fake_dns *fd)
{
	while (fd->next < fd->nq) {
		struct fake_q *q = &fd->q[fd->next++];
		if (q->done || q->cancelled)
			continue;
		q->done = true;
		fake_answer(fd, q);
	}
}

/* ---- messages ---- */

static const char msg_plain[] = "From: Alice <alice@example.com>\n"
				"To: bob@example.net\n"
				"Subject: hi\n"
				"Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
				"Message-ID: <1@example.com>\n"
				"\n"
				"Hello.\n";

static const char msg_sub[] = "From: alice@mail.example.com\n"
			      "To: bob@example.net\n"
			      "Subject: hi\n"
			      "\n"
			      "Hello.\n";

static const char msg_twofrom[] = "From: alice@example.com\n"
				  "From: eve@evil.example\n"
				  "Subject: hi\n"
				  "\n"
				  "Hello.\n";

enum msg_kind { M_PLAIN, M_SIGNED, M_TAMPERED, M_SUB, M_TWOFROM, M_TENSIGS };

/* The message of the kind, owned. */
static char *make_msg(enum msg_kind k)
{
	struct dkim_sign_params p = {.domain = "example.com", .selector = "sel", .key = ed_key,
				     .timestamp = NOW};
	const char *err = NULL;
	char *field = NULL, *out;
	size_t fl, ml = strlen(msg_plain);
	int copies = k == M_TENSIGS ? 10 : 1;

	switch (k) {
	case M_PLAIN:
		return strdup(msg_plain);
	case M_SUB:
		return strdup(msg_sub);
	case M_TWOFROM:
		return strdup(msg_twofrom);
	default:
		break;
	}
	assert_int_equal(dkim_sign(&p, msg_plain, ml, &field, &err), 0);
	fl = strlen(field);
	out = malloc(fl * (size_t)copies + ml + 1);
	assert_non_null(out);
	for (int i = 0; i < copies; i++)
		memcpy(out + fl * (size_t)i, field, fl);
	memcpy(out + fl * (size_t)copies, msg_plain, ml + 1);
	free(field);
	if (k == M_TAMPERED) {
		char *h = strstr(out, "Hello.");
		assert_non_null(h);
		h[4] = 'x';
	}
	return out;
}

/* ---- scenarios ---- */

struct scenario {
	const char *name;
	const char *ip;
	const char *mf_local, *mf_domain; /* domain NULL: null sender */
	const char *helo;
	enum msg_kind msg;
	bool sync;
	struct rr_line zone[ZONE_MAX];
	enum spf_result spf;
	const char *spf_expl; /* substring, or NULL */
	int ndkim;
	enum dkim_result dkim; /* of every signature */
	size_t dkim_ignored;
	enum authcheck_dmarc_result dmarc;
	enum dmarc_policy policy, disp;
	const char *dmarc_reason; /* substring, or NULL */
};

#define SPF_OK R("TXT", "example.com", "v=spf1 ip4:192.0.2.0/24 -all")
#define DKEY R("TXT", "sel._domainkey.example.com", "KEY")
#define GOOD "192.0.2.10"
#define BAD "198.51.100.1"

static const struct scenario scenarios[] = {
	{.name = "spf pass", .ip = GOOD, .zone = {SPF_OK}, .spf = SPF_RESULT_PASS},
	{.name = "spf fail", .ip = BAD, .zone = {SPF_OK}, .spf = SPF_RESULT_FAIL},
	{.name = "spf softfail", .ip = BAD,
	 .zone = {R("TXT", "example.com", "v=spf1 ip4:192.0.2.0/24 ~all")},
	 .spf = SPF_RESULT_SOFTFAIL},
	{.name = "spf temperror", .ip = GOOD, .zone = {R("FAIL", "example.com", "")},
	 .spf = SPF_RESULT_TEMPERROR},
	{.name = "null sender uses HELO", .ip = GOOD, .helo = "mx.example.com",
	 .zone = {R("TXT", "mx.example.com", "v=spf1 ip4:192.0.2.10 -all")},
	 .spf = SPF_RESULT_PASS},
	{.name = "spf query bound", .ip = BAD,
	 .zone = {R("TXT", "example.com",
		    "v=spf1 mx:a.fan.example mx:b.fan.example mx:c.fan.example -all"),
		  R("MX", "*.fan.example",
		    "m1.x.fan.example|m2.x.fan.example|m3.x.fan.example|m4.x.fan.example|"
		    "m5.x.fan.example|m6.x.fan.example|m7.x.fan.example|m8.x.fan.example|"
		    "m9.x.fan.example|m0.x.fan.example"),
		  R("A", "*.fan.example", "203.0.113.1")},
	 .spf = SPF_RESULT_PERMERROR, .spf_expl = "too many DNS queries"},
	{.name = "dkim pass", .ip = GOOD, .msg = M_SIGNED, .zone = {SPF_OK, DKEY},
	 .spf = SPF_RESULT_PASS, .ndkim = 1, .dkim = DKIM_RESULT_PASS},
	{.name = "dkim pass, answers from inside query", .ip = GOOD, .msg = M_SIGNED,
	 .sync = true,
	 .zone = {SPF_OK, DKEY, R("TXT", "_dmarc.example.com", "v=DMARC1; p=reject")},
	 .spf = SPF_RESULT_PASS, .ndkim = 1, .dkim = DKIM_RESULT_PASS,
	 .dmarc = AUTHCHECK_DMARC_PASS, .policy = DMARC_POLICY_REJECT},
	{.name = "dkim fail (tampered)", .ip = GOOD, .msg = M_TAMPERED, .zone = {SPF_OK, DKEY},
	 .spf = SPF_RESULT_PASS, .ndkim = 1, .dkim = DKIM_RESULT_FAIL},
	{.name = "dkim temperror", .ip = GOOD, .msg = M_SIGNED,
	 .zone = {SPF_OK, R("FAIL", "sel._domainkey.example.com", "")}, .spf = SPF_RESULT_PASS,
	 .ndkim = 1, .dkim = DKIM_RESULT_TEMPERROR},
	{.name = "dkim no key", .ip = GOOD, .msg = M_SIGNED, .zone = {SPF_OK},
	 .spf = SPF_RESULT_PASS, .ndkim = 1, .dkim = DKIM_RESULT_PERMERROR},
	{.name = "ten signatures: eight evaluated", .ip = GOOD, .msg = M_TENSIGS,
	 .zone = {SPF_OK, DKEY}, .spf = SPF_RESULT_PASS, .ndkim = 8, .dkim = DKIM_RESULT_PASS,
	 .dkim_ignored = 2},
	{.name = "dmarc pass via spf", .ip = GOOD,
	 .zone = {SPF_OK, R("TXT", "_dmarc.example.com", "v=DMARC1; p=reject")},
	 .spf = SPF_RESULT_PASS, .dmarc = AUTHCHECK_DMARC_PASS, .policy = DMARC_POLICY_REJECT},
	{.name = "dmarc pass via dkim", .ip = GOOD, .mf_local = "b", .mf_domain = "other.net",
	 .msg = M_SIGNED,
	 .zone = {R("TXT", "other.net", "v=spf1 -all"), DKEY,
		  R("TXT", "_dmarc.example.com", "v=DMARC1; p=reject")},
	 .spf = SPF_RESULT_FAIL, .ndkim = 1, .dkim = DKIM_RESULT_PASS,
	 .dmarc = AUTHCHECK_DMARC_PASS, .policy = DMARC_POLICY_REJECT},
	{.name = "dmarc fail p=reject", .ip = BAD,
	 .zone = {SPF_OK, R("TXT", "_dmarc.example.com", "v=DMARC1; p=reject")},
	 .spf = SPF_RESULT_FAIL, .dmarc = AUTHCHECK_DMARC_FAIL, .policy = DMARC_POLICY_REJECT,
	 .disp = DMARC_POLICY_REJECT},
	{.name = "dmarc fail p=quarantine", .ip = BAD, .msg = M_TAMPERED,
	 .zone = {SPF_OK, DKEY,
		  R("TXT", "_dmarc.example.com", "other text#v=DMARC1; p=quarantine")},
	 .spf = SPF_RESULT_FAIL, .ndkim = 1, .dkim = DKIM_RESULT_FAIL,
	 .dmarc = AUTHCHECK_DMARC_FAIL, .policy = DMARC_POLICY_QUARANTINE,
	 .disp = DMARC_POLICY_QUARANTINE},
	{.name = "dmarc fail p=none", .ip = BAD,
	 .zone = {SPF_OK, R("TXT", "_dmarc.example.com", "v=DMARC1; |p=none")},
	 .spf = SPF_RESULT_FAIL, .dmarc = AUTHCHECK_DMARC_FAIL, .policy = DMARC_POLICY_NONE,
	 .disp = DMARC_POLICY_NONE},
	{.name = "dmarc none without record", .ip = BAD, .zone = {SPF_OK},
	 .spf = SPF_RESULT_FAIL, .dmarc = AUTHCHECK_DMARC_NONE},
	{.name = "dmarc fallback to the organizational domain", .ip = BAD, .msg = M_SUB,
	 .zone = {SPF_OK,
		  R("TXT", "_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine")},
	 .spf = SPF_RESULT_FAIL, .dmarc = AUTHCHECK_DMARC_FAIL,
	 .policy = DMARC_POLICY_QUARANTINE, .disp = DMARC_POLICY_QUARANTINE},
	{.name = "dmarc: two records mean none", .ip = BAD,
	 .zone = {SPF_OK, R("TXT", "_dmarc.example.com", "v=DMARC1; p=reject#v=DMARC1; p=none")},
	 .spf = SPF_RESULT_FAIL, .dmarc = AUTHCHECK_DMARC_NONE,
	 .dmarc_reason = "multiple DMARC records"},
	{.name = "dmarc temperror on DNS failure", .ip = BAD,
	 .zone = {SPF_OK, R("FAIL", "_dmarc.example.com", "")}, .spf = SPF_RESULT_FAIL,
	 .dmarc = AUTHCHECK_DMARC_TEMPERROR},
	{.name = "dmarc fail with spf temperror is temperror", .ip = BAD,
	 .zone = {R("FAIL", "example.com", ""),
		  R("TXT", "_dmarc.example.com", "v=DMARC1; p=reject")},
	 .spf = SPF_RESULT_TEMPERROR, .dmarc = AUTHCHECK_DMARC_TEMPERROR,
	 .policy = DMARC_POLICY_REJECT, .disp = DMARC_POLICY_NONE},
	{.name = "two From fields: permerror", .ip = GOOD, .msg = M_TWOFROM, .zone = {SPF_OK},
	 .spf = SPF_RESULT_PASS, .dmarc = AUTHCHECK_DMARC_PERMERROR,
	 .dmarc_reason = "multiple From"},
};

struct done_rec {
	int calls;
	struct authcheck_result res;
};

static void done_cb(struct authcheck *ac, const struct authcheck_result *res, void *arg)
{
	struct done_rec *d = arg;

	(void)ac;
	d->calls++;
	d->res = *res;
}

/* A fake worker pool: jobs wait until pumped, as on real threads. */
struct fake_job {
	void (*work)(void *);
	void (*done)(void *);
	void *arg;
};
static struct fake_job fake_jobs[64];
static size_t fake_job_count;

static void fake_offload(void *ctx, void (*work)(void *), void (*done)(void *), void *arg)
{
	(void)ctx;
	assert_true(fake_job_count < 64);
	fake_jobs[fake_job_count++] = (struct fake_job){work, done, arg};
}

/* A checker for the scenario over the fake DNS fd; offload: DKIM is
 * verified through the fake worker pool. */
static struct authcheck *make_check(const struct scenario *s, const char *msg,
				    struct fake_dns *fd, struct authcheck_dns_ops *ops,
				    struct done_rec *dr, bool offload)
{
	struct authcheck_input in = {
		.family = AF_INET,
		.helo = s->helo ? s->helo : "client.example.com",
		.mailfrom_local = s->mf_domain ? s->mf_local : "alice",
		.mailfrom_domain = s->mf_domain ? s->mf_domain : "example.com",
		.hostname = "mx.example.net",
		.msg = msg,
		.msg_len = strlen(msg),
		.now = NOW,
		.random_0_99 = 0,
	};

	if (s->helo) {
		in.mailfrom_local = NULL;
		in.mailfrom_domain = NULL;
	}
	assert_int_equal(inet_pton(AF_INET, s->ip, in.ip), 1);
	*ops = (struct authcheck_dns_ops){.query = fake_query, .cancel = fake_cancel, .ctx = fd};
	if (offload)
		ops->offload = fake_offload;
	return authcheck_new(&in, ops, psl, done_cb, dr);
}


/* Runs a check; returns the formatted header (owned). offload: DKIM
 * verification goes through the fake worker pool. */
static char *run_mode(const struct scenario *s, struct done_rec *dr, bool offload)
{
	struct fake_dns *fd = calloc(1, sizeof(*fd));
	struct authcheck_dns_ops ops;
	char *msg = make_msg(s->msg), *hdr = NULL;
	struct authcheck *ac;

	assert_non_null(fd);
	fd->zone = s->zone;
	fd->sync = s->sync;
	memset(dr, 0, sizeof(*dr));
	ac = make_check(s, msg, fd, &ops, dr, offload);
	authcheck_start(ac);
	if (!s->sync)
		assert_int_equal(dr->calls, 0);
	fake_pump(fd);
	while (fake_job_count > 0) {
		/* The checks wait for the job; then they finish. */
		assert_int_equal(dr->calls, 0);
		struct fake_job j = fake_jobs[--fake_job_count];
		j.work(j.arg);
		j.done(j.arg);
		fake_pump(fd);
	}
	assert_int_equal(dr->calls, 1);
	assert_true(dr->res.dns_queries <= AUTHCHECK_DNS_QUERIES_MAX);
	assert_int_equal(authcheck_format_header(&dr->res, "mx.example.net", &hdr), 0);
	authcheck_free(&ac);
	assert_null(ac);
	assert_int_equal(fd->cancels, 0);
	free(msg);
	free(fd);
	return hdr;
}

static char *run(const struct scenario *s, struct done_rec *dr)
{
	return run_mode(s, dr, false);
}

static void test_scenarios(void **state)
{
	(void)state;
	for (size_t k = 0; k < 2 * sizeof(scenarios) / sizeof(scenarios[0]); k++) {
		size_t i = k / 2;
		bool offload = k % 2 == 1;
		const struct scenario *s = &scenarios[i];
		struct done_rec dr;
		char *hdr;

		print_message("-- %s%s\n", s->name, offload ? " (verified on a worker)" : "");
		hdr = run_mode(s, &dr, offload);
		if (dr.res.spf != s->spf)
			fail_msg("%s: spf %s (%s)\n%s", s->name, spf_result_name(dr.res.spf),
				 dr.res.spf_explanation, hdr);
		if (s->spf_expl)
			assert_non_null(strstr(dr.res.spf_explanation, s->spf_expl));
		assert_int_equal(dr.res.dkim_count, s->ndkim);
		assert_int_equal(dr.res.dkim_ignored, s->dkim_ignored);
		for (int j = 0; j < s->ndkim; j++) {
			if (dr.res.dkim[j].result != s->dkim)
				fail_msg("%s: dkim %s (%s)", s->name,
					 dkim_result_name(dr.res.dkim[j].result),
					 dr.res.dkim[j].reason);
			assert_string_equal(dr.res.dkim[j].domain, "example.com");
			assert_string_equal(dr.res.dkim[j].selector, "sel");
			assert_string_equal(dr.res.dkim[j].algorithm, "ed25519-sha256");
		}
		if (dr.res.dmarc != s->dmarc)
			fail_msg("%s: dmarc %s (%s)\n%s", s->name,
				 authcheck_dmarc_result_name(dr.res.dmarc),
				 dr.res.dmarc_reason ? dr.res.dmarc_reason : "", hdr);
		if (dr.res.dmarc_has_policy) {
			assert_int_equal(dr.res.dmarc_policy, s->policy);
			assert_int_equal(dr.res.dmarc_disposition, s->disp);
		}
		if (s->dmarc_reason) {
			assert_non_null(dr.res.dmarc_reason);
			assert_non_null(strstr(dr.res.dmarc_reason, s->dmarc_reason));
		}
		{
			static const char head[] = "Authentication-Results: mx.example.net;\n\tspf=";
			assert_true(strncmp(hdr, head, sizeof(head) - 1) == 0);
		}
		free(hdr);
	}
}

static void test_header_shape(void **state)
{
	const struct scenario *s = &scenarios[7]; /* dkim pass + dmarc pass, sync */
	struct done_rec dr;
	char *hdr;

	(void)state;
	hdr = run(s, &dr);
	assert_string_equal(hdr, "Authentication-Results: mx.example.net;\n"
				 "\tspf=pass reason=\"matched ip4 at example.com\""
				 " smtp.mailfrom=alice@example.com;\n"
				 "\tdkim=pass header.d=example.com header.s=sel"
				 " header.a=ed25519-sha256;\n"
				 "\tdmarc=pass (p=reject dis=none) header.from=example.com\n");
	free(hdr);
}

/* Hostile text in every field that comes from outside: the header stays
 * one field, and python3-authres parses it. */
static void test_header_hostile(void **state)
{
	struct authcheck_result r = {0};
	char *hdr = NULL, path[] = "/tmp/authcheck_test_XXXXXX", cmd[512];
	FILE *f;
	int fd, rc;

	(void)state;
	r.spf = SPF_RESULT_FAIL;
	strcpy(r.spf_local, "we ird\"\\");
	strcpy(r.spf_domain, "example.com\r\nX-Injected: 1");
	strcpy(r.spf_explanation, "see \"http://x\"\r\nBcc: evil@x \x01\xff");
	r.dkim_count = 2;
	strcpy(r.dkim[0].domain, "example.com");
	strcpy(r.dkim[0].selector, "s;1");
	r.dkim[0].algorithm = "rsa-sha256";
	r.dkim[0].result = DKIM_RESULT_FAIL;
	r.dkim[0].reason = "signature did not verify";
	r.dkim[1].result = DKIM_RESULT_PERMERROR;
	r.dkim[1].reason = "bad\nreason";
	r.dmarc = AUTHCHECK_DMARC_FAIL;
	r.dmarc_has_policy = true;
	r.dmarc_policy = DMARC_POLICY_REJECT;
	r.dmarc_disposition = DMARC_POLICY_REJECT;
	strcpy(r.from_domain, "example.com");
	assert_int_equal(authcheck_format_header(&r, "mx.example.net", &hdr), 0);

	/* Every line end is a fold (LF TAB) but the last; nothing else below
	 * 0x20 except TAB, nothing over 0x7e. */
	for (const char *p = hdr; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\n')
			assert_true(p[1] == '\t' || p[1] == '\0');
		else
			assert_true(c == '\t' || (c >= 0x20 && c < 0x7f));
	}
	assert_null(strstr(hdr, "\nX-Injected"));

	if (access("/usr/bin/python3", X_OK) != 0 ||
	    system("/usr/bin/python3 -c 'import authres' 2>/dev/null") != 0) {
		free(hdr);
		skip();
	}
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(fputs(hdr, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	rc = snprintf(cmd, sizeof(cmd),
		      "/usr/bin/python3 -c '"
		      "import authres,sys\n"
		      "h=open(sys.argv[1]).read().rstrip(\"\\n\")\n"
		      "r=authres.AuthenticationResultsHeader.parse(h)\n"
		      "m=[(x.method,x.result) for x in r.results]\n"
		      "assert r.authserv_id==\"mx.example.net\",r.authserv_id\n"
		      "assert m==[(\"spf\",\"fail\"),(\"dkim\",\"fail\"),(\"dkim\",\"permerror\"),"
		      "(\"dmarc\",\"fail\")],m\n"
		      "f=[p.value for p in r.results[0].properties if p.name==\"mailfrom\"]\n"
		      "assert len(f)==1 and \"X-Injected\" in f[0],f\n"
		      "' %s",
		      path);
	assert_true(rc > 0 && (size_t)rc < sizeof(cmd));
	rc = system(cmd);
	(void)unlink(path);
	if (rc != 0)
		fail_msg("authres refused:\n%s", hdr);
	free(hdr);
}

static void test_header_real_parses(void **state)
{
	char path[] = "/tmp/authcheck_test_XXXXXX", cmd[512];
	FILE *f;
	int fd, rc;

	(void)state;
	if (access("/usr/bin/python3", X_OK) != 0 ||
	    system("/usr/bin/python3 -c 'import authres' 2>/dev/null") != 0)
		skip();
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		struct done_rec dr;
		char *hdr = run(&scenarios[i], &dr);
		/* One header per line for the script: folds joined. */
		for (char *p = hdr; *p; p++)
			if (*p == '\n' && p[1] == '\t')
				*p = ' ';
		assert_true(fputs(hdr, f) >= 0);
		free(hdr);
	}
	assert_int_equal(fclose(f), 0);
	rc = snprintf(cmd, sizeof(cmd),
		      "/usr/bin/python3 -c '"
		      "import authres,sys\n"
		      "for h in open(sys.argv[1]):\n"
		      " r=authres.AuthenticationResultsHeader.parse(h.rstrip(\"\\n\"))\n"
		      " assert [x.method for x in r.results][0]==\"spf\",h\n"
		      " assert r.results[-1].method==\"dmarc\",h\n"
		      "' %s",
		      path);
	assert_true(rc > 0 && (size_t)rc < sizeof(cmd));
	rc = system(cmd);
	(void)unlink(path);
	assert_int_equal(rc, 0);
}

static void test_cancel(void **state)
{
	const struct scenario *s = &scenarios[14]; /* spf + dkim + dmarc queries */
	struct fake_dns *fd = calloc(1, sizeof(*fd));
	struct authcheck_dns_ops ops;
	struct done_rec dr = {0};
	char *msg = make_msg(M_SIGNED);
	struct authcheck *ac;

	(void)state;
	assert_non_null(fd);
	fd->zone = s->zone;
	ac = make_check(s, msg, fd, &ops, &dr, false);
	authcheck_start(ac);
	assert_int_equal(fd->nq, 3); /* key, _dmarc, TXT example.com */
	fd->next = 1;
	fake_answer(fd, &fd->q[0]); /* the key: no further question */
	fd->q[0].done = true;
	authcheck_free(&ac);
	assert_int_equal(fd->cancels, 2);
	fake_pump(fd); /* cancelled questions are not answered */
	assert_int_equal(dr.calls, 0);
	free(msg);
	free(fd);
}

static void test_strip_forged(void **state)
{
	static const char msg[] =
		"Authentication-Results: MX.Example.NET; spf=pass smtp.mailfrom=a@b\n"
		"Received: from x\n"
		"Authentication-Results: other.example; dkim=pass\n"
		"Authentication-Results: (comment (nested)) \"mx.example.net\";\n"
		"\tdmarc=pass header.from=b\n"
		"Authentication-Results: mx.example.net.evil; spf=pass\n"
		"Authentication-Results: mx.example.netx\n"
		"From: a@b\n"
		"\n"
		"Authentication-Results: mx.example.net; in the body\n";
	struct authcheck_range r[AUTHCHECK_STRIP_MAX];
	size_t n;

	(void)state;
	n = authcheck_strip_forged(msg, sizeof(msg) - 1, "mx.example.net", r, AUTHCHECK_STRIP_MAX);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].start, 0);
	assert_true(strncmp(msg + r[0].end, "Received:", 9) == 0);
	assert_true(strncmp(msg + r[1].start, "Authentication-Results: (comment", 32) == 0);
	assert_true(strncmp(msg + r[1].end, "Authentication-Results: mx.example.net.evil", 43) ==
		    0);
	/* Bounded output: the count still tells how many exist. */
	n = authcheck_strip_forged(msg, sizeof(msg) - 1, "mx.example.net", r, 1);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].start, 0);
}

static int setup(void **state)
{
	static const char list[] = "com\nnet\nexample\n";

	(void)state;
	ed_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(ed_key);
	key_record = dkim_key_record(ed_key);
	assert_non_null(key_record);
	assert_int_equal(psl_load_buf(list, strlen(list), &psl, NULL, 0), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(ed_key);
	free(key_record);
	psl_free(&psl);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scenarios),
		cmocka_unit_test(test_header_shape),
		cmocka_unit_test(test_header_hostile),
		cmocka_unit_test(test_header_real_parses),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_strip_forged),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
