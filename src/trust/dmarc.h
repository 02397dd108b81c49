/* dmarc: the DMARC record parser (RFC 7489 6.3, 6.4) and the policy
 * evaluation (RFC 7489 3.1 alignment, 6.6 receiver actions).
 *
 * Pure code: no DNS, no logging, no clock. The caller queries TXT at
 * dmarc_query_name() of the From domain; when that yields no DMARC record
 * it queries the organizational domain (dmarc_fallback_domain(), RFC 7489
 * 6.6.3 step 3), then feeds the record, the SPF and DKIM results and a
 * random number to dmarc_evaluate(). A temporary DNS failure is the
 * caller's "temperror" (RFC 7489 6.6.3): this module never turns it into a
 * policy. */
#ifndef KONVERT_TRUST_DMARC_H
#define KONVERT_TRUST_DMARC_H

#include <stdbool.h>
#include <stddef.h>

#include "trust/psl.h"

/* A record longer than this is refused (DNS answers are bounded anyway; a
 * TXT of several strings concatenated stays far below it). */
#define DMARC_RECORD_MAX 4096
/* rua/ruf URIs kept per record; later ones are ignored (RFC 7489 6.2
 * lets a receiver limit them, with at least two). */
#define DMARC_URI_COUNT_MAX 4
/* Longest URI kept (with its "!size" suffix removed); longer ones are
 * ignored. */
#define DMARC_URI_MAX 256

enum dmarc_policy {
	DMARC_POLICY_NONE,
	DMARC_POLICY_QUARANTINE,
	DMARC_POLICY_REJECT,
};

enum dmarc_align {
	DMARC_ALIGN_RELAXED, /* organizational domains equal (the default) */
	DMARC_ALIGN_STRICT, /* domains equal */
};

/* fo= options (RFC 7489 6.3), bits. */
enum dmarc_fo {
	DMARC_FO_ALL_FAIL = 1u << 0, /* "0", the default */
	DMARC_FO_ANY_FAIL = 1u << 1, /* "1" */
	DMARC_FO_DKIM = 1u << 2, /* "d" */
	DMARC_FO_SPF = 1u << 3, /* "s" */
};

struct dmarc_uri {
	char uri[DMARC_URI_MAX + 1]; /* "mailto:x@y", without "!size" */
	unsigned long long max_size; /* bytes from "!10m"; 0: no limit */
};

/* A parsed record: every field holds its RFC default when the tag was
 * absent or its value unusable. */
struct dmarc_record {
	enum dmarc_policy p;
	enum dmarc_policy sp; /* equals p when sp= is absent */
	bool p_implied; /* p= missing or bad, replaced by "none" because rua=
			   had a valid URI (RFC 7489 6.6.3) */
	enum dmarc_align adkim;
	enum dmarc_align aspf;
	unsigned pct; /* 0..100 */
	unsigned ri; /* seconds, bounded to 3600..86400 */
	unsigned fo; /* enum dmarc_fo bits, never 0 */
	bool rf_afrf; /* rf= names afrf (the only format defined) */
	struct dmarc_uri rua[DMARC_URI_COUNT_MAX];
	size_t rua_count;
	struct dmarc_uri ruf[DMARC_URI_COUNT_MAX];
	size_t ruf_count;
};

/* True when txt (len bytes) starts with the tag "v=DMARC1" (spaces around
 * '=' allowed), i.e. is a DMARC record at all. TXT records for which this
 * is false are discarded before counting (RFC 7489 6.6.3 step 3); more than
 * one record left means no DMARC processing. */
bool dmarc_is_record(const char *txt, size_t len);

/* Parses one record (len bytes, need not be NUL-terminated). Unknown tags
 * are ignored; a known tag with a bad or absurd value (pct=1000, ri=-1,
 * adkim=x) takes its default. Returns 0 with *out filled, or -1 with a
 * static reason in *err_out (may be NULL): not starting with v=DMARC1,
 * longer than DMARC_RECORD_MAX, a NUL byte, no usable p= and no usable
 * rua= (RFC 7489 6.6.3: then no DMARC processing). */
int dmarc_parse(const char *txt, size_t len, struct dmarc_record *out, const char **err_out);

/* Writes "_dmarc.DOMAIN" into out (trailing dot of domain dropped).
 * Returns 0, or -1 when it does not fit or domain is empty. */
int dmarc_query_name(const char *domain, char *out, size_t out_size);

/* When the From domain has no DMARC record: the domain to query next (its
 * organizational domain), as a pointer into from_domain; NULL when that is
 * the From domain itself (no second query) or the name is invalid. */
const char *dmarc_fallback_domain(const struct psl *psl, const char *from_domain);

/* Identifier alignment (RFC 7489 3.1): strict compares the names, relaxed
 * their organizational domains; case and one trailing dot are ignored. */
bool dmarc_is_aligned(const struct psl *psl, enum dmarc_align mode, const char *from_domain,
		      const char *auth_domain);

/* One DKIM signature's outcome: the d= domain and whether it verified. */
struct dmarc_dkim {
	const char *domain; /* borrowed */
	bool pass;
};

struct dmarc_input {
	const char *from_domain; /* RFC5322.From domain; borrowed */
	bool spf_pass; /* SPF result was "pass" */
	const char *spf_domain; /* MAIL FROM domain (HELO when MAIL FROM was
				   empty); borrowed, may be NULL */
	const struct dmarc_dkim *dkim; /* borrowed, dkim_count entries */
	size_t dkim_count;
};

enum dmarc_result {
	DMARC_RESULT_NONE, /* no record: no DMARC processing */
	DMARC_RESULT_PASS,
	DMARC_RESULT_FAIL,
};

struct dmarc_verdict {
	enum dmarc_result result;
	enum dmarc_policy policy; /* p or sp that applied (when a record) */
	enum dmarc_policy disposition; /* what to do: after pct sampling;
					  NONE unless result is FAIL */
	bool spf_aligned; /* SPF passed and aligned */
	bool dkim_aligned; /* a passing DKIM signature aligned */
	bool sampled_out; /* pct excluded the message: policy lowered */
};

/* Evaluates: rec is the record found (NULL: none), record_domain the name
 * it was found at (the From domain or its organizational domain; sp= is
 * used when the From domain is below it). random_0_99 decides the pct
 * sampling (the message is selected when random_0_99 < pct; a value over
 * 99 is taken modulo 100), so tests can fix it. Fills *out. */
void dmarc_evaluate(const struct psl *psl, const struct dmarc_record *rec,
		    const char *record_domain, const struct dmarc_input *in,
		    unsigned random_0_99, struct dmarc_verdict *out);

/* "none", "quarantine", "reject". */
const char *dmarc_policy_name(enum dmarc_policy p);
/* "none", "pass", "fail" (RFC 8601 result names). */
const char *dmarc_result_name(enum dmarc_result r);

#endif
