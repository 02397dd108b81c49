/* spf_eval: the check_host() function of RFC 7208 4-6 as a state machine
 * over an abstract DNS. It owns the order of evaluation, the include and
 * redirect stack, the lookup and void limits and the result mapping; it
 * must not do I/O or log. One question is outstanding at a time: the
 * evaluator parks in a wait state until spf_eval_answer resumes it. */
#include "trust/spf_eval.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "trust/spf_record.h"

/* include adds a frame; every include counts as a lookup, so the depth is
 * bounded by the lookup limit plus the root. */
#define SPF_DEPTH_MAX (SPF_LOOKUPS_MAX + 2)

enum frame_kind { FRAME_ROOT, FRAME_INCLUDE, FRAME_REDIRECT };

struct frame {
	enum frame_kind kind;
	char domain[SPF_DOMAIN_MAX + 1];
	struct spf_record *rec; /* owned; NULL until the TXT answer */
	size_t term; /* next term to evaluate */
};

enum wait {
	WAIT_NONE,
	WAIT_TXT, /* the record of the top frame */
	WAIT_ADDR, /* a, exists: the target's addresses */
	WAIT_MX, /* mx: the exchange names */
	WAIT_MX_ADDR, /* mx: addresses of names[name_idx] */
	WAIT_PTR, /* ptr or %{p}: names of the client address */
	WAIT_PTR_ADDR, /* ptr or %{p}: addresses of names[name_idx] */
	WAIT_EXP, /* exp=: the explanation TXT */
};

struct spf_eval {
	struct spf_input in; /* strings below, owned copies */
	char *domain, *local, *helo, *receiver; /* owned */
	spf_query_fn query_cb;
	spf_done_fn done_cb;
	void *arg;
	struct frame frames[SPF_DEPTH_MAX];
	size_t depth; /* frames in use */
	unsigned lookups, voids;
	enum wait wait;
	struct spf_query pending; /* valid while wait != WAIT_NONE */
	bool started, done;
	/* the term being evaluated */
	char target[SPF_DOMAIN_MAX + 1];
	char names[SPF_PTR_NAMES_MAX][SPF_DOMAIN_MAX + 1];
	size_t name_count, name_idx;
	bool for_p; /* the PTR walk serves %{p}, not the ptr mechanism */
	bool p_ready; /* validated holds the %{p} value for this term */
	char validated[SPF_DOMAIN_MAX + 1];
	char p_any[SPF_DOMAIN_MAX + 1]; /* first validated name, any domain */
	enum spf_result result;
	char expl[SPF_EXPLAIN_MAX + 1];
};

static void run(struct spf_eval *ev);

const char *spf_result_name(enum spf_result r)
{
	static const char *const names[] = {"none",	"neutral",   "pass",	 "fail",
					    "softfail", "temperror", "permerror"};
	return (size_t)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

/* 4.3: a <domain> we evaluate: 1..253 bytes, labels 1..63, two labels at
 * least (a trailing dot allowed). */
static bool is_good_domain(const char *d)
{
	size_t len = strlen(d), label = 0, labels = 0;

	if (len > 0 && d[len - 1] == '.')
		len--;
	if (len == 0 || len > SPF_DOMAIN_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || d[i] == '.') {
			if (label == 0 || label > 63)
				return false;
			labels++;
			label = 0;
		} else {
			label++;
		}
	}
	return labels >= 2;
}

static void copy_name(char *dst, const char *src, size_t len)
{
	if (len > 0 && src[len - 1] == '.')
		len--;
	if (len > SPF_DOMAIN_MAX)
		len = SPF_DOMAIN_MAX;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

struct spf_eval *spf_eval_new(const struct spf_input *in, spf_query_fn query_cb,
			      spf_done_fn done_cb, void *arg)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	struct spf_eval *ev = xcalloc(1, sizeof(*ev));

	ev->in = *in;
	if (in->family == AF_INET6 && memcmp(in->ip, mapped, 12) == 0) {
		ev->in.family = AF_INET;
		memmove(ev->in.ip, in->ip + 12, 4);
		memset(ev->in.ip + 4, 0, 12);
	}
	ev->domain = xstrdup(in->domain != NULL ? in->domain : "");
	ev->local = xstrdup(in->local != NULL && in->local[0] != '\0' ? in->local : "postmaster");
	ev->helo = xstrdup(in->helo != NULL ? in->helo : "");
	ev->receiver = xstrdup(in->receiver != NULL ? in->receiver : "");
	ev->in.domain = ev->domain;
	ev->in.local = ev->local;
	ev->in.helo = ev->helo;
	ev->in.receiver = ev->receiver;
	ev->query_cb = query_cb;
	ev->done_cb = done_cb;
	ev->arg = arg;
	return ev;
}

void spf_eval_free(struct spf_eval **pp)
{
	struct spf_eval *ev = *pp;

	if (ev == NULL)
		return;
	for (size_t i = 0; i < ev->depth; i++)
		spf_record_free(&ev->frames[i].rec);
	free(ev->domain);
	free(ev->local);
	free(ev->helo);
	free(ev->receiver);
	free(ev);
	*pp = NULL;
}

enum spf_result spf_eval_result(const struct spf_eval *ev)
{
	return ev->result;
}

const char *spf_eval_explanation(const struct spf_eval *ev)
{
	return ev->expl;
}

unsigned spf_eval_lookups(const struct spf_eval *ev)
{
	return ev->lookups;
}

static struct frame *top(struct spf_eval *ev)
{
	KASSERT(ev->depth > 0);
	return &ev->frames[ev->depth - 1];
}

__attribute__((format(printf, 3, 4))) static void finish(struct spf_eval *ev, enum spf_result r,
							  const char *fmt, ...)
{
	va_list ap;

	ev->result = r;
	ev->done = true;
	va_start(ap, fmt);
	(void)vsnprintf(ev->expl, sizeof(ev->expl), fmt, ap);
	va_end(ap);
}

static void ask(struct spf_eval *ev, enum wait w, enum spf_qtype type, const char *name)
{
	ev->wait = w;
	ev->pending.type = type;
	copy_name(ev->pending.name, name, strlen(name));
}

static enum spf_qtype addr_type(const struct spf_eval *ev)
{
	return ev->in.family == AF_INET6 ? SPF_QTYPE_AAAA : SPF_QTYPE_A;
}

static bool addr_match(const struct spf_eval *ev, const uint8_t *addr, unsigned bits)
{
	size_t full = bits / 8;
	unsigned rest = bits % 8;

	if (memcmp(addr, ev->in.ip, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (addr[full] & mask) == (ev->in.ip[full] & mask);
}

static struct spf_macro_vars vars_of(const struct spf_eval *ev, const char *domain)
{
	struct spf_macro_vars v = {
		.local = ev->local,
		.sender_domain = ev->domain,
		.domain = domain,
		.family = ev->in.family,
		.validated = ev->p_ready ? ev->validated : NULL,
		.helo = ev->helo,
		.receiver = ev->receiver,
		.now = ev->in.now,
	};
	memcpy(v.ip, ev->in.ip, sizeof(v.ip));
	return v;
}

/* The reverse name of the client address (RFC 1035 3.5, RFC 3596 2.5). */
static void reverse_name(const struct spf_eval *ev, char *out, size_t out_size)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *ip = ev->in.ip;
	size_t n = 0;

	if (ev->in.family == AF_INET) {
		(void)snprintf(out, out_size, "%u.%u.%u.%u.in-addr.arpa", ip[3], ip[2], ip[1],
			       ip[0]);
		return;
	}
	for (size_t k = 32; k-- > 0 && n + 2 < out_size;) {
		uint8_t b = ip[k / 2];
		out[n++] = hex[k % 2 == 0 ? b >> 4 : b & 15];
		out[n++] = '.';
	}
	(void)snprintf(out + n, out_size - n, "ip6.arpa");
}

/* A term's result: match -> the qualifier ends this frame. */
static void term_done(struct spf_eval *ev, bool match);

static void count_void(struct spf_eval *ev, enum spf_dns_status st, size_t n)
{
	if (st == SPF_DNS_NXDOMAIN || st == SPF_DNS_NODATA || (st == SPF_DNS_OK && n == 0))
		ev->voids++;
}

static bool void_exceeded(struct spf_eval *ev)
{
	if (ev->voids <= SPF_VOID_MAX)
		return false;
	finish(ev, SPF_RESULT_PERMERROR, "too many void DNS lookups");
	return true;
}

/* Expands the term's domain-spec (or takes <domain>) into ev->target.
 * Returns 1 when ready, 0 when a %{p} PTR walk was started, -1 done. */
static int expand_target(struct spf_eval *ev, const char *spec, size_t len)
{
	struct frame *f = top(ev);
	const char *err = NULL;

	if (spec == NULL) {
		copy_name(ev->target, f->domain, strlen(f->domain));
		return 1;
	}
	if (!ev->p_ready && spf_macro_uses_p(spec, len)) {
		char rev[80];
		ev->for_p = true;
		ev->p_any[0] = '\0';
		reverse_name(ev, rev, sizeof(rev));
		ask(ev, WAIT_PTR, SPF_QTYPE_PTR, rev);
		return 0;
	}
	struct spf_macro_vars v = vars_of(ev, f->domain);
	if (spf_macro_expand(spec, len, &v, SPF_MACRO_DOMAIN, ev->target, sizeof(ev->target),
			     &err) < 0) {
		finish(ev, SPF_RESULT_PERMERROR, "macro expansion: %s", err);
		return -1;
	}
	copy_name(ev->target, ev->target, strlen(ev->target));
	return 1;
}

static bool count_lookup(struct spf_eval *ev)
{
	if (++ev->lookups <= SPF_LOOKUPS_MAX)
		return true;
	finish(ev, SPF_RESULT_PERMERROR, "more than 10 DNS-querying terms");
	return false;
}

static void push_frame(struct spf_eval *ev, enum frame_kind kind, const char *domain)
{
	struct frame *f;

	if (kind == FRAME_REDIRECT) {
		f = top(ev);
		spf_record_free(&f->rec);
		/* 6.1: a redirect replaces the record it is in; inside an
		 * include it still answers that include, never the whole
		 * evaluation. */
		if (f->kind == FRAME_INCLUDE)
			kind = FRAME_INCLUDE;
	} else {
		KASSERT(ev->depth < SPF_DEPTH_MAX);
		f = &ev->frames[ev->depth++];
	}
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	copy_name(f->domain, domain, strlen(domain));
	if (!is_good_domain(f->domain)) {
		/* 4.3: none; include and redirect turn it into permerror */
		if (kind == FRAME_ROOT)
			finish(ev, SPF_RESULT_NONE, "malformed domain %s", f->domain);
		else
			finish(ev, SPF_RESULT_PERMERROR, "malformed domain %s", f->domain);
		return;
	}
	ask(ev, WAIT_TXT, SPF_QTYPE_TXT, f->domain);
}

/* Evaluates terms of the top frame until one needs DNS or ends it. */
static void step_term(struct spf_eval *ev)
{
	struct frame *f = top(ev);
	struct spf_record *r = f->rec;

	if (f->term >= r->term_count) {
		if (r->redirect != NULL) {
			/* 6.1: redirect only when no mechanism matched */
			if ((!ev->p_ready && !count_lookup(ev)) ||
			    expand_target(ev, r->redirect, r->redirect_len) != 1)
				return;
			if (ev->wait != WAIT_NONE)
				return;
			push_frame(ev, FRAME_REDIRECT, ev->target);
			return;
		}
		term_done(ev, false);
		return;
	}
	const struct spf_term *t = &r->terms[f->term];
	int rc;

	switch (t->mech) {
	case SPF_MECH_ALL:
		term_done(ev, true);
		return;
	case SPF_MECH_IP4:
		term_done(ev, ev->in.family == AF_INET && addr_match(ev, t->ip, t->cidr4));
		return;
	case SPF_MECH_IP6:
		term_done(ev, ev->in.family == AF_INET6 && addr_match(ev, t->ip, t->cidr6));
		return;
	default:
		break;
	}
	/* A %{p} walk resumes here with p_ready set: do not count twice. */
	if (!ev->p_ready && !count_lookup(ev))
		return;
	rc = expand_target(ev, t->domain, t->domain_len);
	if (rc != 1)
		return;
	switch (t->mech) {
	case SPF_MECH_INCLUDE:
		push_frame(ev, FRAME_INCLUDE, ev->target);
		return;
	case SPF_MECH_A:
		ask(ev, WAIT_ADDR, addr_type(ev), ev->target);
		return;
	case SPF_MECH_EXISTS: /* 5.7: always an A query */
		ask(ev, WAIT_ADDR, SPF_QTYPE_A, ev->target);
		return;
	case SPF_MECH_MX:
		ask(ev, WAIT_MX, SPF_QTYPE_MX, ev->target);
		return;
	case SPF_MECH_PTR: {
		char rev[80];
		ev->for_p = false;
		reverse_name(ev, rev, sizeof(rev));
		ask(ev, WAIT_PTR, SPF_QTYPE_PTR, rev);
		return;
	}
	default:
		KASSERT(0);
	}
}

static void term_done(struct spf_eval *ev, bool match)
{
	static const enum spf_result by_qual[] = {
		[SPF_QUAL_PASS] = SPF_RESULT_PASS,
		[SPF_QUAL_FAIL] = SPF_RESULT_FAIL,
		[SPF_QUAL_SOFTFAIL] = SPF_RESULT_SOFTFAIL,
		[SPF_QUAL_NEUTRAL] = SPF_RESULT_NEUTRAL,
	};
	struct frame *f = top(ev);
	enum spf_result res;

	ev->p_ready = false;
	ev->wait = WAIT_NONE;
	if (!match) {
		if (f->term < f->rec->term_count) {
			f->term++;
			return;
		}
		res = SPF_RESULT_NEUTRAL; /* 4.7: no match, no redirect */
		(void)snprintf(ev->expl, sizeof(ev->expl), "no term matched at %s", f->domain);
	} else {
		const struct spf_term *t = &f->rec->terms[f->term];
		res = by_qual[t->qual];
		(void)snprintf(ev->expl, sizeof(ev->expl), "matched %s at %s",
			       spf_mech_name(t->mech), f->domain);
	}
	/* The frame is finished with res. */
	if (f->kind != FRAME_INCLUDE) {
		ev->result = res;
		ev->done = true;
		if (res == SPF_RESULT_FAIL && f->rec->exp != NULL) {
			/* 6.2: explanation from this record (after redirects) */
			struct spf_macro_vars v = vars_of(ev, f->domain);
			const char *err;
			if (spf_macro_expand(f->rec->exp, f->rec->exp_len, &v, SPF_MACRO_DOMAIN,
					     ev->target, sizeof(ev->target), &err) == 0 &&
			    ev->target[0] != '\0') {
				ev->done = false;
				ask(ev, WAIT_EXP, SPF_QTYPE_TXT, ev->target);
			}
		}
		return;
	}
	spf_record_free(&f->rec);
	ev->depth--;
	/* 5.2: what the included result means for the include term */
	switch (res) {
	case SPF_RESULT_PASS:
		term_done(ev, true);
		return;
	case SPF_RESULT_FAIL:
	case SPF_RESULT_SOFTFAIL:
	case SPF_RESULT_NEUTRAL:
		term_done(ev, false);
		return;
	default:
		KASSERT(0);
	}
}

/* 4.5: pick the one SPF record out of a TXT answer. */
static void on_txt(struct spf_eval *ev, enum spf_dns_status st, const struct spf_rr *rrs,
		   size_t n)
{
	struct frame *f = top(ev);
	size_t found = 0, start = 0, end = 0;

	if (st == SPF_DNS_TEMPFAIL) {
		finish(ev, SPF_RESULT_TEMPERROR, "DNS failure looking up TXT %s", f->domain);
		return;
	}
	for (size_t i = 0; st == SPF_DNS_OK && i < n;) {
		size_t j = i + 1;
		while (j < n && !rrs[j].record_start)
			j++;
		/* v=spf1 must be in the record's first string, whole */
		if (spf_record_is_spf(rrs[i].data, rrs[i].len) ||
		    (rrs[i].len < 7 && j > i + 1)) {
			char head[8];
			size_t hl = 0;
			for (size_t k = i; k < j && hl < 7; k++)
				for (size_t c = 0; c < rrs[k].len && hl < 7; c++)
					head[hl++] = rrs[k].data[c];
			if (spf_record_is_spf(head, hl)) {
				found++;
				start = i;
				end = j;
			}
		}
		i = j;
	}
	if (found == 0) {
		if (f->kind == FRAME_ROOT)
			finish(ev, SPF_RESULT_NONE, "no SPF record at %s", f->domain);
		else
			finish(ev, SPF_RESULT_PERMERROR, "no SPF record at %s (include/redirect)", f->domain);
		return;
	}
	if (found > 1) {
		finish(ev, SPF_RESULT_PERMERROR, "more than one SPF record at %s", f->domain);
		return;
	}
	size_t total = 0;
	for (size_t k = start; k < end; k++) {
		if (ckd_add_size(&total, total, rrs[k].len) || total > SPF_RECORD_MAX) {
			finish(ev, SPF_RESULT_PERMERROR, "SPF record at %s too long", f->domain);
			return;
		}
	}
	char *text = xmalloc(total + 1);
	size_t pos = 0;
	for (size_t k = start; k < end; k++) {
		memcpy(text + pos, rrs[k].data, rrs[k].len);
		pos += rrs[k].len;
	}
	const char *err = NULL;
	int rc = spf_record_parse(text, total, &f->rec, &err);
	free(text);
	if (rc < 0) {
		finish(ev, SPF_RESULT_PERMERROR, "bad SPF record at %s: %s", f->domain, err);
		return;
	}
	ev->wait = WAIT_NONE;
}

static void next_name_addr(struct spf_eval *ev, enum wait w)
{
	ask(ev, w, addr_type(ev), ev->names[ev->name_idx]);
}

static bool name_in(const char *name, const char *domain)
{
	size_t nl = strlen(name), dl = strlen(domain);

	if (nl == dl)
		return strcasecmp(name, domain) == 0;
	return nl > dl && name[nl - dl - 1] == '.' && strcasecmp(name + nl - dl, domain) == 0;
}

/* The PTR walk is over (all names tried or one chosen). */
static void ptr_walk_done(struct spf_eval *ev, bool matched)
{
	if (!ev->for_p) {
		term_done(ev, matched);
		return;
	}
	if (!matched && ev->p_any[0] != '\0')
		copy_name(ev->validated, ev->p_any, strlen(ev->p_any));
	else if (!matched)
		copy_name(ev->validated, "unknown", 7);
	ev->p_ready = true;
	ev->wait = WAIT_NONE; /* step_term re-runs the term with %{p} known */
}

static void on_answer(struct spf_eval *ev, enum spf_dns_status st, const struct spf_rr *rrs,
		      size_t n)
{
	enum wait w = ev->wait;
	bool is_a = ev->pending.type == SPF_QTYPE_A || ev->pending.type == SPF_QTYPE_AAAA;
	size_t alen = ev->pending.type == SPF_QTYPE_A ? 4 : 16;
	unsigned bits = 0;

	if (st != SPF_DNS_OK)
		n = 0;
	if (w == WAIT_ADDR || w == WAIT_MX_ADDR) {
		const struct spf_term *t = &top(ev)->rec->terms[top(ev)->term];
		bits = ev->in.family == AF_INET ? t->cidr4 : t->cidr6;
	}
	switch (w) {
	case WAIT_TXT:
		on_txt(ev, st, rrs, n);
		return;
	case WAIT_EXP: {
		/* 6.2: any problem means no explanation, never an error */
		const struct spf_macro_vars v = vars_of(ev, top(ev)->domain);
		size_t records = 0;
		for (size_t i = 0; i < n; i++)
			records += rrs[i].record_start || i == 0;
		ev->done = true;
		ev->wait = WAIT_NONE;
		if (records != 1 || n > 16)
			return;
		char text[SPF_EXPLAIN_MAX + 1];
		size_t len = 0;
		for (size_t i = 0; i < n; i++)
			for (size_t c = 0; c < rrs[i].len && len < SPF_EXPLAIN_MAX; c++)
				text[len++] = rrs[i].data[c];
		char out[SPF_EXPLAIN_MAX + 1];
		if (spf_macro_expand(text, len, &v, SPF_MACRO_EXPLAIN, out, sizeof(out), NULL) == 0)
			memcpy(ev->expl, out, sizeof(out));
		return;
	}
	default:
		break;
	}
	/* 5.5: a DNS error in the ptr mechanism (or %{p}) means no match /
	 * skip that name, never temperror. */
	if (st == SPF_DNS_TEMPFAIL && (w == WAIT_PTR || w == WAIT_PTR_ADDR)) {
		st = SPF_DNS_NXDOMAIN;
		n = 0;
	}
	if (st == SPF_DNS_TEMPFAIL) {
		finish(ev, SPF_RESULT_TEMPERROR, "DNS failure looking up %s", ev->pending.name);
		return;
	}
	switch (w) {
	case WAIT_ADDR:
		count_void(ev, st, n);
		if (void_exceeded(ev))
			return;
		for (size_t i = 0; i < n; i++) {
			if (top(ev)->rec->terms[top(ev)->term].mech == SPF_MECH_EXISTS ||
			    (is_a && addr_match(ev, rrs[i].addr, bits))) {
				term_done(ev, true);
				return;
			}
		}
		term_done(ev, false);
		return;
	case WAIT_MX:
		count_void(ev, st, n);
		if (void_exceeded(ev))
			return;
		if (n > SPF_MX_NAMES_MAX) {
			finish(ev, SPF_RESULT_PERMERROR, "more than 10 MX names at %s", ev->target);
			return;
		}
		ev->name_count = 0;
		for (size_t i = 0; i < n; i++)
			copy_name(ev->names[ev->name_count++], rrs[i].data, rrs[i].len);
		ev->name_idx = 0;
		if (ev->name_count == 0) {
			term_done(ev, false);
			return;
		}
		next_name_addr(ev, WAIT_MX_ADDR);
		return;
	case WAIT_MX_ADDR:
		for (size_t i = 0; i < n; i++) {
			if (addr_match(ev, rrs[i].addr, bits)) {
				term_done(ev, true);
				return;
			}
		}
		if (++ev->name_idx < ev->name_count) {
			next_name_addr(ev, WAIT_MX_ADDR);
			return;
		}
		term_done(ev, false);
		return;
	case WAIT_PTR:
		/* 5.5: PTR names past the 10th are ignored */
		ev->name_count = 0;
		for (size_t i = 0; i < n && ev->name_count < SPF_PTR_NAMES_MAX; i++)
			copy_name(ev->names[ev->name_count++], rrs[i].data, rrs[i].len);
		ev->name_idx = 0;
		if (ev->name_count == 0) {
			ptr_walk_done(ev, false);
			return;
		}
		next_name_addr(ev, WAIT_PTR_ADDR);
		return;
	case WAIT_PTR_ADDR: {
		const char *name = ev->names[ev->name_idx];
		bool valid = false;
		for (size_t i = 0; i < n; i++)
			if (memcmp(rrs[i].addr, ev->in.ip, alen) == 0)
				valid = true;
		if (valid) {
			/* ptr: target-name or a subdomain of it; %{p}: prefer
			 * <domain> or a subdomain, else any validated name */
			const char *want = ev->for_p ? top(ev)->domain : ev->target;
			if (name_in(name, want)) {
				if (ev->for_p)
					copy_name(ev->validated, name, strlen(name));
				ptr_walk_done(ev, true);
				return;
			}
			if (ev->p_any[0] == '\0')
				copy_name(ev->p_any, name, strlen(name));
		}
		if (++ev->name_idx < ev->name_count) {
			next_name_addr(ev, WAIT_PTR_ADDR);
			return;
		}
		ptr_walk_done(ev, false);
		return;
	}
	default:
		KASSERT(0);
	}
}

/* Runs until a question is pending or the result is known, then fires
 * the one callback; nothing touches ev after it. */
static void run(struct spf_eval *ev)
{
	while (!ev->done && ev->wait == WAIT_NONE)
		step_term(ev);
	if (ev->done) {
		ev->wait = WAIT_NONE;
		ev->done_cb(ev, ev->result, ev->expl, ev->arg);
		return;
	}
	ev->query_cb(ev, &ev->pending, ev->arg);
}

void spf_eval_start(struct spf_eval *ev)
{
	KASSERT(!ev->started);
	ev->started = true;
	push_frame(ev, FRAME_ROOT, ev->domain);
	run(ev);
}

void spf_eval_answer(struct spf_eval *ev, enum spf_dns_status status, const struct spf_rr *rrs,
		     size_t n)
{
	KASSERT(ev->started && !ev->done && ev->wait != WAIT_NONE);
	on_answer(ev, status, rrs, n);
	run(ev);
}
