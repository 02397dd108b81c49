/* authcheck: runs SPF, DKIM and DMARC for one inbound message over the
 * caller's DNS ops and formats the Authentication-Results field. It owns
 * the query slots (one per question, never reused, so a late req_arg can
 * never alias another question), the SPF evaluator and the result. It
 * does no I/O of its own, keeps no timers (timeouts are the ops'), and
 * never logs: the session decides what to log and what to reply.
 *
 * Re-entrancy: an answer may arrive from inside ops->query. Every entry
 * point counts its depth, and done fires only when the outermost one
 * unwinds, as its last action, so the caller may free from done. */
#include "trust/authcheck.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "core/strbuf.h"
#include "proto/rfc5322.h"
#include "trust/dkim_tags.h"

enum ac_kind { AC_Q_SPF, AC_Q_DKIM, AC_Q_DMARC_FROM, AC_Q_DMARC_ORG };

struct ac_query {
	struct authcheck *ac; /* back pointer, borrowed */
	enum ac_kind kind;
	size_t idx; /* DKIM signature index */
	void *handle; /* the ops' handle, for cancel */
	bool pending; /* asked, not answered */
	bool in_call; /* inside ops->query */
};

struct authcheck {
	struct authcheck_dns_ops ops; /* copy; ctx borrowed */
	const struct psl *psl; /* borrowed */
	authcheck_done_fn done_cb;
	void *arg;
	const char *msg; /* borrowed until done or free */
	size_t msg_len;
	int64_t now;
	unsigned random_0_99;

	struct spf_eval *spf; /* owned; NULL once given up */
	bool spf_done;
	unsigned spf_queries;

	struct dkim_sig_ref refs[AUTHCHECK_DKIM_MAX]; /* point into msg */
	size_t dkim_pending;
	unsigned jobs; /* DKIM verifications on a worker */
	struct dkim_job *job_list; /* those jobs, owned */

	bool dmarc_dns_done; /* no DMARC question outstanding */
	bool dmarc_final; /* result decided before evaluation (permerror) */
	bool dmarc_temp; /* a DMARC query failed temporarily */
	bool dmarc_has_rec;
	struct dmarc_record rec;
	char rec_domain[AUTHCHECK_DOMAIN_MAX + 1];

	struct ac_query q[AUTHCHECK_DNS_QUERIES_MAX];
	size_t nq;

	struct authcheck_result res;
	int depth;
	bool started, done_fired;
};

/* Copies src into dst[0..size), cut to fit (the callers' sources are
 * bounded by the same limits; cutting only guards the invariant). */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = src ? strnlen(src, size - 1) : 0;

	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

static void evaluate_dmarc(struct authcheck *ac);

/* Fires done when everything is answered and no call is on the stack. */
static void maybe_done(struct authcheck *ac)
{
	if (ac->depth > 0 || ac->done_fired || !ac->started)
		return;
	if (!ac->spf_done || ac->dkim_pending > 0 || !ac->dmarc_dns_done)
		return;
	evaluate_dmarc(ac);
	ac->done_fired = true;
	ac->done_cb(ac, &ac->res, ac->arg); /* last: may free ac */
}

static void dispatch(struct ac_query *slot, int status, const struct authcheck_rr *rrs,
		     size_t n);

static void answer_cb(void *req_arg, int status, const struct authcheck_rr *rrs, size_t n)
{
	struct ac_query *slot = req_arg;
	struct authcheck *ac = slot->ac;

	KASSERT(slot->pending);
	slot->pending = false;
	slot->handle = NULL;
	if (status < AUTHCHECK_DNS_OK || status > AUTHCHECK_DNS_TEMPFAIL)
		status = AUTHCHECK_DNS_TEMPFAIL;
	if (status != AUTHCHECK_DNS_OK)
		n = 0;
	ac->depth++;
	dispatch(slot, status, rrs, n);
	ac->depth--;
	maybe_done(ac);
}

static void issue_query(struct authcheck *ac, enum ac_kind kind, size_t idx, int qtype,
			const char *name)
{
	struct ac_query *slot;
	void *h;

	/* The per-part budgets add up to the total (SPF's is checked by
	 * its caller), so this cannot fire on any input. */
	KASSERT(ac->nq < AUTHCHECK_DNS_QUERIES_MAX);
	slot = &ac->q[ac->nq++];
	ac->res.dns_queries = (unsigned)ac->nq;
	*slot = (struct ac_query){.ac = ac, .kind = kind, .idx = idx, .pending = true,
				  .in_call = true};
	ac->depth++;
	h = ac->ops.query(ac->ops.ctx, qtype, name, answer_cb, slot);
	slot->in_call = false;
	if (slot->pending) {
		if (h)
			slot->handle = h;
		else
			answer_cb(slot, AUTHCHECK_DNS_TEMPFAIL, NULL, 0);
	}
	ac->depth--;
}

/* Reads the TXT record starting at rrs[*pos] (its strings joined) into
 * buf[0..cap), advancing *pos past it. Returns false at the end. Sets
 * *too_long when it did not fit (the text is then cut at cap). */
static bool next_txt_record(const struct authcheck_rr *rrs, size_t n, size_t *pos, char *buf,
			    size_t cap, size_t *len_out, bool *too_long)
{
	size_t len = 0, i = *pos;

	*too_long = false;
	if (i >= n)
		return false;
	do {
		size_t take = rrs[i].len;
		if (take > cap - len) {
			take = cap - len;
			*too_long = true;
		}
		if (take > 0)
			memcpy(buf + len, rrs[i].data, take);
		len += take;
		i++;
	} while (i < n && !rrs[i].record_start);
	*pos = i;
	*len_out = len;
	return true;
}

/* ---- SPF ---- */

static void spf_finish(struct authcheck *ac, enum spf_result r, const char *expl)
{
	ac->res.spf = r;
	copy_str(ac->res.spf_explanation, sizeof(ac->res.spf_explanation), expl);
	ac->spf_done = true;
}

static void spf_query_cb(struct spf_eval *ev, const struct spf_query *q, void *arg)
{
	struct authcheck *ac = arg;
	static const int map[] = {
		[SPF_QTYPE_TXT] = AUTHCHECK_Q_TXT, [SPF_QTYPE_A] = AUTHCHECK_Q_A,
		[SPF_QTYPE_AAAA] = AUTHCHECK_Q_AAAA, [SPF_QTYPE_MX] = AUTHCHECK_Q_MX,
		[SPF_QTYPE_PTR] = AUTHCHECK_Q_PTR,
	};

	(void)ev;
	if (ac->spf_queries >= AUTHCHECK_SPF_QUERIES_MAX) {
		/* A record within RFC 7208's term limits can still fan out
		 * (10 mx terms of 10 names each); our own bound ends it with
		 * a definite result rather than an endless temperror. The
		 * query callback is the evaluator's last action: free is
		 * allowed here. */
		spf_eval_free(&ac->spf);
		spf_finish(ac, SPF_RESULT_PERMERROR, "too many DNS queries");
		return;
	}
	ac->spf_queries++;
	issue_query(ac, AC_Q_SPF, 0, map[q->type], q->name);
}

static void spf_done_cb(struct spf_eval *ev, enum spf_result result, const char *expl,
			void *arg)
{
	(void)ev;
	spf_finish(arg, result, expl);
}

static void spf_dispatch(struct authcheck *ac, int status, const struct authcheck_rr *rrs,
			 size_t n)
{
	struct spf_rr *srr = NULL;

	KASSERT(ac->spf != NULL);
	if (n > 0) {
		srr = xcalloc(n, sizeof(*srr));
		for (size_t i = 0; i < n; i++) {
			srr[i].data = rrs[i].data;
			srr[i].len = rrs[i].len;
			srr[i].record_start = rrs[i].record_start;
			memcpy(srr[i].addr, rrs[i].addr, sizeof(srr[i].addr));
		}
	}
	spf_eval_answer(ac->spf, (enum spf_dns_status)status, srr, n);
	free(srr);
}

/* ---- DKIM ---- */

static void dkim_set(struct authcheck *ac, size_t i, enum dkim_result r, const char *reason)
{
	ac->res.dkim[i].result = r;
	ac->res.dkim[i].reason = reason;
}

static void dkim_start(struct authcheck *ac)
{
	long total = dkim_verify_list(ac->msg, ac->msg_len, ac->refs, AUTHCHECK_DKIM_MAX);
	size_t count;
	struct dkim_sig *sig;
	char name[AUTHCHECK_DOMAIN_MAX + 2];
	bool ask[AUTHCHECK_DKIM_MAX] = {false};

	if (total < 0) {
		ac->res.dkim_count = 1;
		dkim_set(ac, 0, DKIM_RESULT_PERMERROR, "too many header fields");
		return;
	}
	count = (size_t)total < AUTHCHECK_DKIM_MAX ? (size_t)total : AUTHCHECK_DKIM_MAX;
	ac->res.dkim_count = count;
	ac->res.dkim_ignored = (size_t)total - count;
	sig = xmalloc(sizeof(*sig));
	for (size_t i = 0; i < count; i++) {
		struct authcheck_dkim *d = &ac->res.dkim[i];
		const char *reason = NULL;
		int w;

		memset(sig, 0, sizeof(*sig));
		if (dkim_sig_parse(ac->refs[i].field, ac->refs[i].len, sig, &reason) < 0) {
			dkim_set(ac, i, DKIM_RESULT_PERMERROR, reason ? reason : "bad signature");
			continue;
		}
		copy_str(d->domain, sizeof(d->domain), sig->domain);
		copy_str(d->selector, sizeof(d->selector), sig->selector);
		d->algorithm = dkim_alg_name(sig->alg);
		w = snprintf(name, sizeof(name), "%s._domainkey.%s", sig->selector, sig->domain);
		if (w < 0 || (size_t)w > AUTHCHECK_DOMAIN_MAX) {
			dkim_set(ac, i, DKIM_RESULT_PERMERROR, "key name too long");
			continue;
		}
		dkim_set(ac, i, DKIM_RESULT_TEMPERROR, "pending");
		ask[i] = true;
		ac->dkim_pending++;
	}
	free(sig);
	/* Counted above before any question goes out: answers may come back
	 * from inside issue_query. */
	for (size_t i = 0; i < count; i++) {
		if (!ask[i])
			continue;
		(void)snprintf(name, sizeof(name), "%s._domainkey.%s", ac->res.dkim[i].selector,
			       ac->res.dkim[i].domain);
		issue_query(ac, AC_Q_DKIM, i, AUTHCHECK_Q_TXT, name);
	}
}

/* One signature verified on a worker: only the job's own fields and the
 * message (read-only, the session waits) are touched there. */
struct dkim_job {
	struct authcheck *ac;
	struct dkim_job *next; /* in ac->job_list */
	size_t i;
	char *key; /* owned: the key record */
	size_t len;
	enum dkim_result r;
	const char *reason;
};

static void dkim_work(void *arg)
{
	struct dkim_job *j = arg;
	const struct authcheck *ac = j->ac;
	j->r = dkim_verify(ac->msg, ac->msg_len, &ac->refs[j->i], j->key, j->len, ac->now,
			   &j->reason);
}

static void dkim_work_done(void *arg)
{
	struct dkim_job *j = arg;
	struct authcheck *ac = j->ac;
	dkim_set(ac, j->i, j->r, j->reason ? j->reason : "");
	for (struct dkim_job **pp = &ac->job_list; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	}
	free(j->key);
	free(j);
	KASSERT(ac->dkim_pending > 0 && ac->jobs > 0);
	ac->dkim_pending--;
	ac->jobs--;
	maybe_done(ac);
}

static void dkim_dispatch(struct authcheck *ac, size_t i, int status,
			  const struct authcheck_rr *rrs, size_t n)
{
	size_t pos = 0, len = 0;
	bool too_long = false;
	char *buf;
	const char *reason = NULL;
	enum dkim_result r;

	KASSERT(ac->dkim_pending > 0);
	ac->dkim_pending--;
	if (status == AUTHCHECK_DNS_TEMPFAIL) {
		dkim_set(ac, i, DKIM_RESULT_TEMPERROR, "key lookup failed temporarily");
		return;
	}
	/* RFC 6376 3.6.2.2: with several records the outcome is the
	 * verifier's choice; we use the first. */
	buf = xmalloc(DKIM_TAGS_INPUT_MAX + 1);
	if (!next_txt_record(rrs, n, &pos, buf, DKIM_TAGS_INPUT_MAX + 1, &len, &too_long)) {
		dkim_set(ac, i, DKIM_RESULT_PERMERROR, "no key record");
	} else if (too_long || len > DKIM_TAGS_INPUT_MAX) {
		dkim_set(ac, i, DKIM_RESULT_PERMERROR, "key record too long");
	} else if (ac->ops.offload != NULL) {
		struct dkim_job *j = xcalloc(1, sizeof(*j));
		j->ac = ac;
		j->i = i;
		j->key = buf;
		j->len = len;
		ac->dkim_pending++; /* until the job is back */
		ac->jobs++;
		j->next = ac->job_list;
		ac->job_list = j;
		ac->ops.offload(ac->ops.offload_ctx, dkim_work, dkim_work_done, j);
		return;
	} else {
		r = dkim_verify(ac->msg, ac->msg_len, &ac->refs[i], buf, len, ac->now, &reason);
		dkim_set(ac, i, r, reason ? reason : "");
	}
	free(buf);
}

/* ---- DMARC ---- */

struct from_ctx {
	char domain[AUTHCHECK_DOMAIN_MAX + 2];
	size_t count;
	bool bad, mixed;
};

static bool from_addr_cb(void *arg, const char *addr, size_t len)
{
	struct from_ctx *fc = arg;
	const char *at = NULL;
	size_t dlen;

	for (size_t i = 0; i < len; i++)
		if (addr[i] == '@')
			at = addr + i;
	if (!at) {
		fc->bad = true;
		return false;
	}
	dlen = len - (size_t)(at + 1 - addr);
	if (dlen > 0 && at[dlen] == '.')
		dlen--;
	if (dlen == 0 || dlen > AUTHCHECK_DOMAIN_MAX) {
		fc->bad = true;
		return false;
	}
	if (fc->count == 0) {
		memcpy(fc->domain, at + 1, dlen);
		fc->domain[dlen] = '\0';
	} else if (strlen(fc->domain) != dlen || strncasecmp(fc->domain, at + 1, dlen) != 0) {
		fc->mixed = true;
		return false;
	}
	fc->count++;
	return true;
}

/* RFC 7489 6.6.1: exactly one From field whose addresses share one
 * domain; anything else is a permerror (the session may reject it). */
static const char *find_from_domain(struct authcheck *ac, char *out, size_t out_size)
{
	size_t hlen = rfc5322_header_end(ac->msg, ac->msg_len), pos = 0, fs, fe;
	const char *name, *value, *fvalue = NULL;
	size_t name_len, value_len, fvalue_len = 0, nfrom = 0;
	struct from_ctx fc = {.count = 0};

	while (rfc5322_next_field(ac->msg, hlen, &pos, &name, &name_len, &value, &value_len, &fs,
				  &fe)) {
		if (rfc5322_name_is(name, name_len, "From")) {
			if (++nfrom > 1)
				return "multiple From fields";
			fvalue = value;
			fvalue_len = value_len;
		}
	}
	if (nfrom == 0)
		return "no From field";
	if (rfc5322_addresses(fvalue, fvalue_len, 320, from_addr_cb, &fc) < 0 || fc.bad)
		return "malformed From address";
	if (fc.mixed)
		return "From addresses in several domains";
	if (fc.count == 0)
		return "no From address";
	if (psl_org_domain(ac->psl, fc.domain, strlen(fc.domain)) < 0)
		return "invalid From domain";
	for (char *p = fc.domain; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	copy_str(out, out_size, fc.domain);
	return NULL;
}

static void dmarc_start(struct authcheck *ac)
{
	char name[AUTHCHECK_DOMAIN_MAX + 16];
	const char *err = find_from_domain(ac, ac->res.from_domain, sizeof(ac->res.from_domain));

	if (!err && dmarc_query_name(ac->res.from_domain, name, sizeof(name)) < 0)
		err = "invalid From domain";
	if (err) {
		ac->res.from_domain[0] = '\0';
		ac->res.dmarc = AUTHCHECK_DMARC_PERMERROR;
		ac->res.dmarc_reason = err;
		ac->dmarc_final = true;
		ac->dmarc_dns_done = true;
		return;
	}
	issue_query(ac, AC_Q_DMARC_FROM, 0, AUTHCHECK_Q_TXT, name);
}

static void dmarc_dispatch(struct authcheck *ac, enum ac_kind kind, int status,
			   const struct authcheck_rr *rrs, size_t n)
{
	char buf[DMARC_RECORD_MAX + 1], found[DMARC_RECORD_MAX + 1];
	char name[AUTHCHECK_DOMAIN_MAX + 16];
	size_t pos = 0, len, found_len = 0, count = 0;
	bool too_long;
	const char *org;

	if (status == AUTHCHECK_DNS_TEMPFAIL) {
		ac->dmarc_temp = true; /* RFC 7489 6.6.3: temperror */
		ac->dmarc_dns_done = true;
		return;
	}
	/* Records not starting with v=DMARC1 are discarded before counting
	 * (6.6.3 step 3). */
	while (next_txt_record(rrs, n, &pos, buf, sizeof(buf), &len, &too_long)) {
		if (!dmarc_is_record(buf, len))
			continue;
		if (++count == 1) {
			memcpy(found, buf, len);
			/* A cut record keeps one byte too many so that
			 * dmarc_parse refuses it as too long. */
			found_len = len;
		}
	}
	if (count > 1) {
		ac->res.dmarc_reason = "multiple DMARC records";
		ac->dmarc_dns_done = true;
		return;
	}
	if (count == 1) {
		if (dmarc_parse(found, found_len, &ac->rec, NULL) < 0) {
			ac->res.dmarc_reason = "unusable DMARC record";
		} else {
			ac->dmarc_has_rec = true;
			if (kind == AC_Q_DMARC_FROM)
				copy_str(ac->rec_domain, sizeof(ac->rec_domain),
					 ac->res.from_domain);
		}
		ac->dmarc_dns_done = true;
		return;
	}
	if (kind == AC_Q_DMARC_FROM) {
		org = dmarc_fallback_domain(ac->psl, ac->res.from_domain);
		if (org && dmarc_query_name(org, name, sizeof(name)) == 0) {
			copy_str(ac->rec_domain, sizeof(ac->rec_domain), org);
			issue_query(ac, AC_Q_DMARC_ORG, 0, AUTHCHECK_Q_TXT, name);
			return;
		}
	}
	ac->dmarc_dns_done = true;
}

static void evaluate_dmarc(struct authcheck *ac)
{
	struct dmarc_dkim dk[AUTHCHECK_DKIM_MAX];
	size_t ndk = 0;
	bool temp = ac->res.spf == SPF_RESULT_TEMPERROR;
	struct dmarc_input in;
	struct dmarc_verdict v;

	if (ac->dmarc_final)
		return;
	if (ac->dmarc_temp) {
		ac->res.dmarc = AUTHCHECK_DMARC_TEMPERROR;
		ac->res.dmarc_reason = "DMARC lookup failed temporarily";
		return;
	}
	if (!ac->dmarc_has_rec) {
		ac->res.dmarc = AUTHCHECK_DMARC_NONE;
		return;
	}
	for (size_t i = 0; i < ac->res.dkim_count; i++) {
		if (ac->res.dkim[i].result == DKIM_RESULT_TEMPERROR)
			temp = true;
		if (ac->res.dkim[i].domain[0] == '\0')
			continue;
		dk[ndk].domain = ac->res.dkim[i].domain;
		dk[ndk].pass = ac->res.dkim[i].result == DKIM_RESULT_PASS;
		ndk++;
	}
	in = (struct dmarc_input){
		.from_domain = ac->res.from_domain,
		.spf_pass = ac->res.spf == SPF_RESULT_PASS,
		.spf_domain = ac->res.spf_domain[0] ? ac->res.spf_domain : NULL,
		.dkim = dk,
		.dkim_count = ndk,
	};
	dmarc_evaluate(ac->psl, &ac->rec, ac->rec_domain, &in, ac->random_0_99, &v);
	ac->res.dmarc_has_policy = true;
	ac->res.dmarc_policy = v.policy;
	ac->res.dmarc_disposition = DMARC_POLICY_NONE;
	switch (v.result) {
	case DMARC_RESULT_PASS:
		ac->res.dmarc = AUTHCHECK_DMARC_PASS;
		break;
	case DMARC_RESULT_FAIL:
		if (temp) {
			/* The pass that would have aligned may be the one DNS
			 * failed to deliver: never a permanent verdict. */
			ac->res.dmarc = AUTHCHECK_DMARC_TEMPERROR;
			ac->res.dmarc_reason = "SPF or DKIM temperror";
		} else {
			ac->res.dmarc = AUTHCHECK_DMARC_FAIL;
			ac->res.dmarc_disposition = v.disposition;
			if (v.sampled_out)
				ac->res.dmarc_reason = "sampled out by pct";
		}
		break;
	default:
		ac->res.dmarc = AUTHCHECK_DMARC_NONE;
		break;
	}
}

static void dispatch(struct ac_query *slot, int status, const struct authcheck_rr *rrs,
		     size_t n)
{
	switch (slot->kind) {
	case AC_Q_SPF:
		spf_dispatch(slot->ac, status, rrs, n);
		break;
	case AC_Q_DKIM:
		dkim_dispatch(slot->ac, slot->idx, status, rrs, n);
		break;
	case AC_Q_DMARC_FROM:
	case AC_Q_DMARC_ORG:
		dmarc_dispatch(slot->ac, slot->kind, status, rrs, n);
		break;
	}
}

/* ---- lifecycle ---- */

struct authcheck *authcheck_new(const struct authcheck_input *in,
				const struct authcheck_dns_ops *ops, const struct psl *psl,
				authcheck_done_fn done_cb, void *arg)
{
	struct authcheck *ac = xcalloc(1, sizeof(*ac));
	struct spf_input si;
	const char *helo = in->helo ? in->helo : "";

	KASSERT(ops && ops->query && ops->cancel && psl && done_cb && in->msg);
	ac->ops = *ops;
	ac->psl = psl;
	ac->done_cb = done_cb;
	ac->arg = arg;
	ac->msg = in->msg;
	ac->msg_len = in->msg_len;
	ac->now = in->now;
	ac->random_0_99 = in->random_0_99;
	ac->dmarc_dns_done = false;

	si = (struct spf_input){.family = in->family, .helo = helo,
				.receiver = in->hostname ? in->hostname : "", .now = in->now};
	memcpy(si.ip, in->ip, sizeof(si.ip));
	if (in->mailfrom_domain && in->mailfrom_domain[0]) {
		si.domain = in->mailfrom_domain;
		si.local = in->mailfrom_local;
		copy_str(ac->res.spf_local, sizeof(ac->res.spf_local),
			 in->mailfrom_local && in->mailfrom_local[0] ? in->mailfrom_local
								     : "postmaster");
	} else {
		/* RFC 7208 2.4: the null sender is checked as
		 * postmaster@HELO. */
		si.domain = helo;
		si.local = "postmaster";
		ac->res.spf_helo = true;
		copy_str(ac->res.spf_local, sizeof(ac->res.spf_local), "postmaster");
	}
	copy_str(ac->res.spf_domain, sizeof(ac->res.spf_domain), si.domain);
	ac->spf = spf_eval_new(&si, spf_query_cb, spf_done_cb, ac);
	return ac;
}

void authcheck_start(struct authcheck *ac)
{
	KASSERT(!ac->started);
	ac->started = true;
	ac->depth++;
	dkim_start(ac);
	dmarc_start(ac);
	spf_eval_start(ac->spf);
	ac->depth--;
	maybe_done(ac);
}

void authcheck_free(struct authcheck **pp)
{
	struct authcheck *ac = *pp;

	if (!ac)
		return;
	/* The owner waits for done, so jobs are left only at exit, after the
	 * worker pool was joined and dropped their done callbacks: no
	 * thread touches them any more. */
	while (ac->job_list != NULL) {
		struct dkim_job *j = ac->job_list;
		ac->job_list = j->next;
		free(j->key);
		free(j);
	}
	for (size_t i = 0; i < ac->nq; i++) {
		struct ac_query *slot = &ac->q[i];
		if (slot->pending && !slot->in_call && slot->handle)
			ac->ops.cancel(ac->ops.ctx, slot->handle);
		slot->pending = false;
	}
	spf_eval_free(&ac->spf);
	free(ac);
	*pp = NULL;
}

const struct authcheck_result *authcheck_result(const struct authcheck *ac)
{
	return &ac->res;
}

const char *authcheck_dmarc_result_name(enum authcheck_dmarc_result r)
{
	switch (r) {
	case AUTHCHECK_DMARC_NONE:
		return "none";
	case AUTHCHECK_DMARC_PASS:
		return "pass";
	case AUTHCHECK_DMARC_FAIL:
		return "fail";
	case AUTHCHECK_DMARC_TEMPERROR:
		return "temperror";
	case AUTHCHECK_DMARC_PERMERROR:
		return "permerror";
	}
	return "permerror";
}

/* ---- the header ---- */

#define AC_REASON_MAX 100

static bool is_tspecial(unsigned char c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

/* RFC 2045 token (RFC 8601 value = token / quoted-string). */
static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 0x20 || c >= 0x7f || is_tspecial(c))
			return false;
	}
	return true;
}

/* RFC 5322 dot-atom: what may stand unquoted before '@' in a pvalue. */
static bool is_dot_atom(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (s[i + 1] == '.')
				return false;
			continue;
		}
		if (!isalnum(c) && !strchr("!#$%&'*+-/=?^_`{|}~", c))
			return false;
	}
	return true;
}

/* A quoted-string of s (at most max bytes of it), made safe: '"' and '\'
 * escaped, controls and non-ASCII (and so every CR and LF) replaced. */
static void sb_quoted(struct strbuf *b, const char *s, size_t max)
{
	strbuf_add(b, "\"", 1);
	for (size_t i = 0; s[i] && i < max; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			strbuf_add(b, e, 2);
		} else if (c < 0x20 || c >= 0x7f) {
			strbuf_add(b, "?", 1);
		} else {
			strbuf_add(b, &c, 1);
		}
	}
	strbuf_add(b, "\"", 1);
}

static void sb_value(struct strbuf *b, const char *s)
{
	if (is_token(s))
		strbuf_add_str(b, s);
	else
		sb_quoted(b, s, AUTHCHECK_DOMAIN_MAX + 1);
}

static void sb_reason(struct strbuf *b, const char *reason)
{
	if (!reason || !*reason)
		return;
	strbuf_add_str(b, " reason=");
	sb_quoted(b, reason, AC_REASON_MAX);
}

static void sb_prop(struct strbuf *b, const char *prop, const char *value)
{
	if (!value || !*value)
		return;
	strbuf_add(b, " ", 1);
	strbuf_add_str(b, prop);
	strbuf_add(b, "=", 1);
	sb_value(b, value);
}

int authcheck_format_header(const struct authcheck_result *res, const char *authserv_id,
			    char **out)
{
	struct strbuf b;

	strbuf_init(&b, STRBUF_UNBOUNDED);

	strbuf_add_str(&b, "Authentication-Results: ");
	sb_value(&b, authserv_id ? authserv_id : "");

	strbuf_add_str(&b, ";\n\tspf=");
	strbuf_add_str(&b, spf_result_name(res->spf));
	sb_reason(&b, res->spf_explanation);
	if (res->spf_helo) {
		sb_prop(&b, "smtp.helo", res->spf_domain);
	} else if (res->spf_domain[0]) {
		strbuf_add_str(&b, " smtp.mailfrom=");
		if (is_dot_atom(res->spf_local) && is_token(res->spf_domain)) {
			strbuf_add_str(&b, res->spf_local);
			strbuf_add(&b, "@", 1);
			strbuf_add_str(&b, res->spf_domain);
		} else {
			char addr[sizeof(res->spf_local) + sizeof(res->spf_domain) + 1];
			(void)snprintf(addr, sizeof(addr), "%s@%s", res->spf_local,
				       res->spf_domain);
			sb_quoted(&b, addr, sizeof(addr));
		}
	}

	if (res->dkim_count == 0)
		strbuf_add_str(&b, ";\n\tdkim=none");
	for (size_t i = 0; i < res->dkim_count; i++) {
		const struct authcheck_dkim *d = &res->dkim[i];
		strbuf_add_str(&b, ";\n\tdkim=");
		strbuf_add_str(&b, dkim_result_name(d->result));
		if (d->result != DKIM_RESULT_PASS)
			sb_reason(&b, d->reason);
		sb_prop(&b, "header.d", d->domain);
		sb_prop(&b, "header.s", d->selector);
		sb_prop(&b, "header.a", d->algorithm);
	}

	strbuf_add_str(&b, ";\n\tdmarc=");
	strbuf_add_str(&b, authcheck_dmarc_result_name(res->dmarc));
	if (res->dmarc_has_policy) {
		strbuf_add_str(&b, " (p=");
		strbuf_add_str(&b, dmarc_policy_name(res->dmarc_policy));
		strbuf_add_str(&b, " dis=");
		strbuf_add_str(&b, dmarc_policy_name(res->dmarc_disposition));
		strbuf_add_str(&b, ")");
	}
	sb_reason(&b, res->dmarc_reason);
	sb_prop(&b, "header.from", res->from_domain);
	strbuf_add_str(&b, "\n");
	*out = strbuf_take(&b, NULL);
	return 0;
}

/* ---- forged fields ---- */

/* Skips CFWS (RFC 5322 3.2.2): whitespace, line ends, nested comments. */
static void skip_cfws(const char *v, size_t len, size_t *i)
{
	size_t depth = 0;

	while (*i < len) {
		char c = v[*i];
		if (depth > 0) {
			if (c == '\\' && *i + 1 < len)
				(*i)++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		} else if (c == '(') {
			depth = 1;
		} else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			return;
		}
		(*i)++;
	}
}

/* The authserv-id at the start of an A-R value, into out; false when it
 * cannot be read. */
static bool read_authserv_id(const char *v, size_t len, char *out, size_t out_size)
{
	size_t i = 0, n = 0;

	skip_cfws(v, len, &i);
	if (i < len && v[i] == '"') {
		for (i++; i < len && v[i] != '"'; i++) {
			if (v[i] == '\\' && i + 1 < len)
				i++;
			if (n + 1 >= out_size)
				return false;
			out[n++] = v[i];
		}
		if (i >= len)
			return false;
	} else {
		for (; i < len; i++) {
			unsigned char c = (unsigned char)v[i];
			if (c <= 0x20 || c >= 0x7f || is_tspecial(c))
				break;
			if (n + 1 >= out_size)
				return false;
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
	return n > 0;
}

size_t authcheck_strip_forged(const char *msg, size_t len, const char *authserv_id,
			      struct authcheck_range *out, size_t out_max)
{
	size_t hlen = rfc5322_header_end(msg, len), pos = 0, fs, fe, found = 0;
	const char *name, *value;
	size_t name_len, value_len;
	char id[AUTHCHECK_DOMAIN_MAX + 2];

	while (rfc5322_next_field(msg, hlen, &pos, &name, &name_len, &value, &value_len, &fs,
				  &fe)) {
		if (!rfc5322_name_is(name, name_len, "Authentication-Results"))
			continue;
		if (!read_authserv_id(value, value_len, id, sizeof(id)))
			continue;
		if (strcasecmp(id, authserv_id) != 0)
			continue;
		if (found < out_max)
			out[found] = (struct authcheck_range){fs, fe};
		found++;
	}
	return found;
}
