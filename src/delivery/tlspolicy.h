/* tlspolicy: how the TLS of each MX host of one destination must be
 * checked, decided before the first connection (RFC 7672 DANE, RFC 8461
 * MTA-STS), for remote delivery.
 *
 * For a domain and its routed MX hosts it asks, all asynchronously:
 * - with dnssec = yes: the MX RRset again (only its AD bit counts: the
 *   routing answer does not carry it) and, when it is DNSSEC-signed, the
 *   TLSA records at _PORT._tcp.HOST of each host (RFC 7672 2.2). A host
 *   with usable, signed TLSA records is DANE: its certificate must match
 *   them, or nothing is sent to it; a signed TLSA RRset with no usable
 *   record means TLS is required but not authenticated (2.2); a failed
 *   TLSA lookup on a signed zone makes the host unusable for now.
 * - MTA-STS: the TXT record at _mta-sts.DOMAIN; its id against the cached
 *   policy; the policy fetched over HTTPS from mta-sts.DOMAIN (port
 *   mta_sts_port, certificate checked against tls_trust_file or the
 *   system store) when the id changed or the cache expired (max_age).
 *   A cached policy that has not expired stays in force when the TXT
 *   record is missing or the fetch fails (RFC 8461 5.1). In enforce mode
 *   only hosts that match the policy's mx patterns are tried, with the
 *   certificate checked against the host name; in testing mode delivery
 *   goes on as opportunistic TLS.
 * DANE wins where both exist (RFC 8461 2).
 *
 * The policy cache is kept in memory and in data_dir/mta-sts/DOMAIN (one
 * file a domain: fetch time, id, then the policy body), read at start,
 * written without fsync (a lost cache only costs a fetch).
 *
 * Everything runs on the loop thread; the callback never fires from
 * inside tlspolicy_start, never after tlspolicy_cancel. */
#ifndef KONVERT_DELIVERY_TLSPOLICY_H
#define KONVERT_DELIVERY_TLSPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "net/tls_client.h"
#include "trust/mtasts.h"

struct event_base;
struct dns;
struct dns_result;
struct tlspolicy;
struct tlspolicy_req;
typedef struct ssl_ctx_st SSL_CTX;

#define TLSPOLICY_HOSTS_MAX 8 /* hosts whose TLSA records are looked up */
#define TLSPOLICY_TLSA_MAX 8 /* TLSA records kept per host */
#define TLSPOLICY_REASON_MAX 640

enum tlspolicy_kind {
	TLSPOLICY_OPPORTUNISTIC, /* no policy: STARTTLS when offered, unverified */
	TLSPOLICY_DANE, /* TLS required, certificate matches the TLSA records */
	TLSPOLICY_DANE_NOAUTH, /* signed TLSA, none usable: TLS required, unverified */
	TLSPOLICY_STS, /* MTA-STS enforce: TLS required, WebPKI + host name */
	TLSPOLICY_SKIP, /* do not use this host now (reason) */
};

struct tlspolicy_host {
	enum tlspolicy_kind kind;
	/* DANE: the usable records (each data owned by the result). */
	struct tls_client_tlsa tlsa[TLSPOLICY_TLSA_MAX];
	size_t tlsa_count;
	/* MTA-STS testing: the host does not match the policy (reported,
	 * not enforced). */
	bool sts_mismatch;
	/* SKIP: why ("4.7.5 ..."), and whether it may pass later. */
	char reason[TLSPOLICY_REASON_MAX];
};

struct tlspolicy_result {
	bool mx_secure; /* dnssec = yes and the MX RRset was signed */
	bool has_sts; /* an MTA-STS policy applies (any mode) */
	struct mtasts_policy sts; /* when has_sts */
	char sts_id[MTASTS_ID_SIZE];
	/* The policy could not be fetched and none was cached: for TLS
	 * reports ("sts-policy-fetch-error" / "sts-policy-invalid"). */
	bool sts_failed;
	bool sts_invalid;
	char sts_reason[TLSPOLICY_REASON_MAX];
	size_t host_count; /* = the route's host_count */
	struct tlspolicy_host *hosts; /* owned, parallel to the route's hosts */
};

typedef void (*tlspolicy_fn)(void *arg, struct tlspolicy_result *res);

/* dns, ctx (client context for the HTTPS fetch) and base are borrowed.
 * data_dir: where the policy cache lives (its "mta-sts" folder is made).
 * dnssec: trust AD bits (DANE); relay_port: the port of the TLSA name;
 * sts_port: mta_sts_port. */
struct tlspolicy *tlspolicy_new(struct event_base *base, struct dns *dns, SSL_CTX *ctx,
				const char *data_dir, bool dnssec, unsigned relay_port,
				unsigned sts_port);
void tlspolicy_set_options(struct tlspolicy *tp, bool dnssec, unsigned relay_port,
			   unsigned sts_port);
/* Cancels every request in flight (no callbacks) and frees. */
void tlspolicy_free(struct tlspolicy **pp);

/* Starts the decision for domain (copied) and its route (borrowed until
 * the callback; its hosts are only read). cb owns the result
 * (tlspolicy_result_free). Never NULL. */
struct tlspolicy_req *tlspolicy_start(struct tlspolicy *tp, const char *domain,
				      const struct dns_result *route, tlspolicy_fn cb, void *arg);
void tlspolicy_cancel(struct tlspolicy_req **pp);
void tlspolicy_result_free(struct tlspolicy_result **pp);

const char *tlspolicy_kind_name(enum tlspolicy_kind k);

/* Pure parts, exposed for tests. */

/* True when the TLSA record is usable for SMTP (RFC 7672 3.1): usage
 * DANE-TA(2) or DANE-EE(3), selector 0 or 1, matching type 0 (full
 * data, non-empty), 1 (32 bytes) or 2 (64 bytes). */
bool tlspolicy_tlsa_usable(unsigned usage, unsigned selector, unsigned mtype, size_t len);

/* The cache file text for a policy body fetched at fetched with id:
 * "fetched SECONDS\nid ID\n\n" then the body. Owned, NUL-terminated. */
char *tlspolicy_cache_format(time_t fetched, const char *id, const char *body, size_t len,
			     size_t *out_len);
/* Parses cache text; 0 with the fields (body points into text), -1 when
 * malformed. */
int tlspolicy_cache_parse(const char *text, size_t len, time_t *fetched, char *id,
			  size_t id_size, const char **body, size_t *body_len);

#endif
