/* authcheck: the inbound authentication checks of one message -- SPF
 * (RFC 7208) for the MAIL FROM identity, DKIM (RFC 6376, 8463) for each
 * signature, DMARC (RFC 7489) for the From domain -- run in parallel over
 * an abstract DNS, and the Authentication-Results field (RFC 8601) that
 * reports them.
 *
 * DNS goes through struct authcheck_dns_ops, so the server adapts its
 * c-ares module and tests answer from a table. Timeouts are the ops'
 * business: a query that times out is answered AUTHCHECK_DNS_TEMPFAIL.
 *
 * Bounds: at most AUTHCHECK_DNS_QUERIES_MAX queries per message, of which
 * SPF may use AUTHCHECK_SPF_QUERIES_MAX (past that, SPF is permerror
 * "too many DNS queries"); the first AUTHCHECK_DKIM_MAX DKIM-Signature
 * fields (top first) are evaluated, later ones are ignored and only
 * counted (dkim_ignored); one TXT query per signature; at most two DMARC
 * queries (the From domain, then its organizational domain).
 *
 * A temporary DNS failure never becomes a permanent verdict: SPF and DKIM
 * report temperror, and a DMARC fail while SPF or any DKIM signature was
 * temperror is reported as DMARC temperror (disposition none).
 *
 * Nothing logs; no clock or randomness is read (both come in the input). */
#ifndef KONVERT_TRUST_AUTHCHECK_H
#define KONVERT_TRUST_AUTHCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trust/dkim_verify.h"
#include "trust/dmarc.h"
#include "trust/psl.h"
#include "trust/spf_eval.h"

#define AUTHCHECK_DNS_QUERIES_MAX 40
#define AUTHCHECK_SPF_QUERIES_MAX 30
#define AUTHCHECK_DKIM_MAX 8
/* Forged Authentication-Results fields reported by strip_forged. */
#define AUTHCHECK_STRIP_MAX 32
#define AUTHCHECK_DOMAIN_MAX 253

enum authcheck_qtype {
	AUTHCHECK_Q_TXT,
	AUTHCHECK_Q_A,
	AUTHCHECK_Q_AAAA,
	AUTHCHECK_Q_MX,
	AUTHCHECK_Q_PTR,
};

enum authcheck_dns_status {
	AUTHCHECK_DNS_OK, /* records follow (none: like NODATA) */
	AUTHCHECK_DNS_NXDOMAIN,
	AUTHCHECK_DNS_NODATA,
	AUTHCHECK_DNS_TEMPFAIL, /* SERVFAIL, timeout, truncated or bad answer */
};

/* One piece of an answer, as struct spf_rr: TXT data/len is one
 * character-string with record_start true on the first string of each
 * record; MX and PTR data/len the name; A addr[0..3], AAAA addr[0..15].
 * Borrowed for the duration of the answer call. */
struct authcheck_rr {
	const char *data;
	size_t len;
	bool record_start;
	uint8_t addr[16];
};

/* status is an enum authcheck_dns_status; rrs[0..n) borrowed. */
typedef void (*authcheck_answer_fn)(void *req_arg, int status, const struct authcheck_rr *rrs,
				    size_t n);

/* The DNS the checks run over. query starts one question (name: no
 * trailing dot; PTR names are the reverse names) and calls answer(req_arg,
 * ...) exactly once later, unless cancelled. It returns a handle for
 * cancel, or NULL when it cannot start the query (answer must then not be
 * called; it counts as TEMPFAIL). answer may also be called from inside
 * query (then the returned handle is ignored); authcheck copes with that
 * re-entrancy. cancel(ctx, handle) stops a query in flight: its answer
 * must not fire afterwards. */
struct authcheck_dns_ops {
	void *(*query)(void *ctx, int qtype, const char *name, authcheck_answer_fn answer,
		       void *req_arg);
	void (*cancel)(void *ctx, void *handle);
	void *ctx;
	/* Optional: runs work(arg) on another thread, then done(arg) on the
	 * loop thread (a worker pool). DKIM verification (the body hash of up
	 * to max_message_size bytes, and the RSA/Ed25519 check) goes there so
	 * the loop never hashes a message. NULL: inline. While such a job
	 * runs, authcheck_free must not be called (the session waits), except
	 * once the pool has been joined (at exit): then the jobs are freed. */
	void (*offload)(void *offload_ctx, void (*work)(void *), void (*done)(void *), void *arg);
	void *offload_ctx;
};

/* What is checked. Strings are copied by authcheck_new; msg is borrowed
 * until done fires or authcheck_free. */
struct authcheck_input {
	int family; /* AF_INET or AF_INET6 */
	uint8_t ip[16]; /* the client address (v4 in ip[0..3]) */
	const char *helo; /* HELO/EHLO argument */
	/* MAIL FROM; domain NULL or "" for the null sender, and then the
	 * HELO identity "postmaster@HELO" is checked (RFC 7208 2.4). */
	const char *mailfrom_local;
	const char *mailfrom_domain;
	const char *hostname; /* our host name: %{r} in SPF */
	const char *msg; /* stored form: header block, blank line, body */
	size_t msg_len;
	int64_t now; /* seconds since the epoch */
	unsigned random_0_99; /* DMARC pct= sampling (dmarc_evaluate) */
};

enum authcheck_dmarc_result {
	AUTHCHECK_DMARC_NONE,
	AUTHCHECK_DMARC_PASS,
	AUTHCHECK_DMARC_FAIL,
	AUTHCHECK_DMARC_TEMPERROR,
	AUTHCHECK_DMARC_PERMERROR,
};

struct authcheck_dkim {
	char domain[AUTHCHECK_DOMAIN_MAX + 1]; /* d=; "" when unparsable */
	char selector[AUTHCHECK_DOMAIN_MAX + 1]; /* s=; "" when unparsable */
	const char *algorithm; /* static "rsa-sha256"...; NULL if unknown */
	enum dkim_result result;
	const char *reason; /* static */
};

struct authcheck_result {
	enum spf_result spf;
	bool spf_helo; /* the HELO identity was checked (null sender) */
	char spf_local[65]; /* MAIL FROM local part ("postmaster" for HELO) */
	char spf_domain[AUTHCHECK_DOMAIN_MAX + 1]; /* the identity's domain */
	char spf_explanation[SPF_REASON_MAX + 1];

	struct authcheck_dkim dkim[AUTHCHECK_DKIM_MAX];
	size_t dkim_count; /* evaluated signatures */
	size_t dkim_ignored; /* signatures past AUTHCHECK_DKIM_MAX */

	enum authcheck_dmarc_result dmarc;
	char from_domain[AUTHCHECK_DOMAIN_MAX + 1]; /* "" when none/bad */
	bool dmarc_has_policy; /* a record applied: policy is meaningful */
	enum dmarc_policy dmarc_policy; /* p= or sp= that applied */
	enum dmarc_policy dmarc_disposition; /* NONE unless result is FAIL */
	const char *dmarc_reason; /* static; NULL when nothing to say */

	unsigned dns_queries; /* queries started */
};

struct authcheck;

/* Fires once, with the result (valid until authcheck_free). It is the
 * last thing authcheck does in the call that fires it, so it may free ac.
 * It never fires from inside authcheck_new. */
typedef void (*authcheck_done_fn)(struct authcheck *ac, const struct authcheck_result *res,
				  void *arg);

/* Returns an owned checker; nothing is asked yet. ops and psl are
 * borrowed and must outlive it. */
struct authcheck *authcheck_new(const struct authcheck_input *in,
				const struct authcheck_dns_ops *ops, const struct psl *psl,
				authcheck_done_fn done_cb, void *arg);

/* Starts every check; done may fire from here (when no answer is
 * awaited, or the ops answer synchronously). Call once. */
void authcheck_start(struct authcheck *ac);

/* Cancels every query in flight (ops->cancel; no callback fires after)
 * and frees. Not to be called from inside ops->query. Sets *pp = NULL;
 * accepts *pp == NULL. */
void authcheck_free(struct authcheck **pp);

/* The result so far (complete once done fired). */
const struct authcheck_result *authcheck_result(const struct authcheck *ac);

/* "none", "pass", "fail", "temperror", "permerror". */
const char *authcheck_dmarc_result_name(enum authcheck_dmarc_result r);

/* The whole field in stored form, ended by LF:
 *   Authentication-Results: HOSTNAME;
 *   <TAB>spf=pass smtp.mailfrom=a@example.com;
 *   <TAB>dkim=pass header.d=example.com header.s=s1 header.a=ed25519-sha256;
 *   <TAB>dmarc=pass (p=reject dis=none) header.from=example.com
 * RFC 8601 syntax. Anything that came from DNS or the message is written
 * as a token when it is one, else as a quoted-string with '"' and '\'
 * escaped and control or non-ASCII bytes replaced by '?', so no line end
 * can be injected; reasons are cut at 100 bytes. Returns 0 with an owned
 * string (free()) in *out. */
int authcheck_format_header(const struct authcheck_result *res, const char *authserv_id,
			    char **out);

/* A byte range [start, end) of the message: a whole field with its line
 * end. */
struct authcheck_range {
	size_t start, end;
};

/* Finds the Authentication-Results fields in the header block of
 * msg[0..len) whose authserv-id equals authserv_id (case-insensitive),
 * i.e. forged claims in our name (RFC 8601 5), top first, into
 * out[0..out_max). Returns how many exist (may exceed out_max: only
 * out_max are stored). Bounded by the header block; fields whose
 * authserv-id cannot be parsed are left alone. */
size_t authcheck_strip_forged(const char *msg, size_t len, const char *authserv_id,
			      struct authcheck_range *out, size_t out_max);

#endif
