/* spf_eval: RFC 7208 check_host() as a resumable state machine that does
 * no I/O. It asks its caller for DNS data one question at a time (the
 * query callback) and is resumed with the answer (spf_eval_answer), so it
 * runs on the event loop over c-ares and on canned data in tests alike.
 *
 * Limits (RFC 7208 4.6.4, 5): at most 10 terms that query DNS (include,
 * a, mx, ptr, exists, redirect) per evaluation, include and redirect
 * chains included, else permerror; at most 2 void lookups (NXDOMAIN or an
 * empty answer) else permerror; more than 10 MX names in an mx term is a
 * permerror; PTR names past the 10th are ignored. A record that includes
 * or redirects to itself therefore ends at the lookup limit. Two SPF
 * records at one name are a permerror; the character-strings of one TXT
 * record are joined (3.3). A DNS failure (SERVFAIL, timeout) is a
 * temperror, never a fail.
 *
 * Callbacks: the query callback fires from spf_eval_start or
 * spf_eval_answer, once per question, and the evaluator then waits for
 * exactly one spf_eval_answer; the answer may be given from inside the
 * query callback (recursion is bounded by the limits above) or later.
 * The done callback fires exactly once, also from those two calls. Both
 * are the last thing the evaluator does in the call that fires them, so
 * either may free the evaluator. Nothing logs. */
#ifndef KONVERT_TRUST_SPF_EVAL_H
#define KONVERT_TRUST_SPF_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trust/spf_macro.h"

#define SPF_LOOKUPS_MAX 10 /* DNS-querying terms (4.6.4) */
#define SPF_VOID_MAX 2 /* void lookups (4.6.4) */
#define SPF_MX_NAMES_MAX 10 /* MX names per mx term; more is permerror */
#define SPF_PTR_NAMES_MAX 10 /* PTR names checked; the rest ignored */
#define SPF_REASON_MAX 256

enum spf_result {
	SPF_RESULT_NONE,
	SPF_RESULT_NEUTRAL,
	SPF_RESULT_PASS,
	SPF_RESULT_FAIL,
	SPF_RESULT_SOFTFAIL,
	SPF_RESULT_TEMPERROR,
	SPF_RESULT_PERMERROR,
};

enum spf_qtype { SPF_QTYPE_TXT, SPF_QTYPE_A, SPF_QTYPE_AAAA, SPF_QTYPE_MX, SPF_QTYPE_PTR };

enum spf_dns_status {
	SPF_DNS_OK, /* records follow (possibly none: then like NODATA) */
	SPF_DNS_NXDOMAIN, /* the name does not exist */
	SPF_DNS_NODATA, /* the name exists, no record of the type */
	SPF_DNS_TEMPFAIL, /* SERVFAIL, timeout, truncated or bad answer */
};

/* One question. name is lower or mixed case, no trailing dot; for PTR it
 * is the reverse name ("4.3.2.1.in-addr.arpa", nibbles ".ip6.arpa"). */
struct spf_query {
	enum spf_qtype type;
	char name[SPF_DOMAIN_MAX + 1];
};

/* One piece of an answer; only the fields of the query's type are read.
 * TXT: data/len is one character-string, record_start true on the first
 * string of each record (as c-ares ares_txt_ext gives them). MX: data/len
 * the exchange (the preference is not needed). PTR: data/len the name.
 * A: addr[0..3]; AAAA: addr[0..15]. Everything borrowed for the call. */
struct spf_rr {
	const char *data;
	size_t len;
	bool record_start;
	uint8_t addr[16];
};

/* What check_host() is asked about; strings borrowed and copied. */
struct spf_input {
	int family; /* AF_INET or AF_INET6 (v4-mapped IPv6 is taken as v4) */
	uint8_t ip[16];
	const char *domain; /* MAIL FROM domain, or the HELO name */
	const char *local; /* MAIL FROM local-part; NULL/"" -> "postmaster" */
	const char *helo; /* HELO/EHLO argument, for %{h} */
	const char *receiver; /* our host name, for %{r} */
	long long now; /* seconds since the epoch, for %{t} */
};

struct spf_eval;

/* q is valid only during the call; answer with spf_eval_answer. */
typedef void (*spf_query_fn)(struct spf_eval *ev, const struct spf_query *q, void *arg);
/* explanation: the exp= text for a fail when the record gave one, else a
 * short reason ("matched ip4:192.0.2.0/24 at example.com", "too many DNS
 * lookups"); valid until spf_eval_free. */
typedef void (*spf_done_fn)(struct spf_eval *ev, enum spf_result result, const char *explanation,
			    void *arg);

/* An evaluator for one identity; returns an owned object, nothing asked
 * yet. in->domain over 253 bytes or malformed gives result none (4.3). */
struct spf_eval *spf_eval_new(const struct spf_input *in, spf_query_fn query_cb,
			      spf_done_fn done_cb, void *arg);

/* Starts the evaluation: fires the first query (or done). Once only. */
void spf_eval_start(struct spf_eval *ev);

/* Answers the pending query with n records (borrowed). KASSERTs that a
 * query is pending. */
void spf_eval_answer(struct spf_eval *ev, enum spf_dns_status status, const struct spf_rr *rrs,
		     size_t n);

/* Frees the evaluator at any point (a pending query is just dropped).
 * Sets *pp = NULL; accepts *pp == NULL. */
void spf_eval_free(struct spf_eval **pp);

/* The result once done fired (SPF_RESULT_NONE before), and its text. */
enum spf_result spf_eval_result(const struct spf_eval *ev);
const char *spf_eval_explanation(const struct spf_eval *ev);
/* DNS-querying terms and void lookups used so far (for logs). */
unsigned spf_eval_lookups(const struct spf_eval *ev);

/* "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror" */
const char *spf_result_name(enum spf_result result);

#endif
