/* dns: asynchronous name resolution on the event loop, over c-ares.
 *
 * Two questions are asked, both answered through a callback:
 * - dns_resolve_mx(domain): the whole RFC 5321 5.1 routing answer for a
 *   mail domain: its MX hosts in the order to try them (preference, random
 *   among equal preference), each with its IPv6 and IPv4 addresses, or the
 *   implicit MX (the domain itself) when it has no MX record, or a final
 *   verdict (no such domain, null MX, temporary failure).
 * - dns_resolve_host(name): the addresses of one host (a smarthost).
 *
 * Addresses of a host: the AAAA answer first, then the A answer, each in
 * the order the server gave. At most DNS_ADDRS_MAX in all; when both
 * families have more than half of that, each keeps half, so neither family
 * is crowded out. Unusable addresses (unspecified, multicast, IPv4
 * broadcast, v4-mapped IPv6) are dropped. Ports are 0: the caller sets
 * relay_port or the smarthost port.
 *
 * The names come from DNS only (/etc/hosts is not read), except
 * "localhost", which is answered as ::1 and 127.0.0.1 (RFC 6761 6.3), and
 * numeric addresses ("192.0.2.1", "2001:db8::1", "[2001:db8::1]"), which
 * dns_resolve_host answers without a query. An address literal domain
 * ("[192.0.2.1]") is not a domain for dns_resolve_mx (PERMFAIL): route it
 * with dns_resolve_host. Domains must be ASCII (A-labels); IDNA
 * conversion is the caller's job.
 *
 * Callbacks never fire from inside the dns_resolve_* call that started the
 * request (even a numeric answer is delivered from the loop), never after
 * dns_cancel() of that request, and never after dns_free(). The callback
 * may call any function here, including dns_free() of the resolver that
 * runs it.
 *
 * Everything runs on the loop thread; nothing here blocks. Nothing logs:
 * reasons come back as text in the result. The assembly of the answer
 * (ordering, null MX, implicit MX, limits, status mapping) is made of the
 * pure functions at the end of this header, tested without sockets; a fake
 * resolver (dns_new_fake) lets other modules' tests script the answers. */
#ifndef KONVERT_NET_DNS_H
#define KONVERT_NET_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cfg_hostport; /* config/config.h */
struct event_base;
struct dns;
struct dns_req;

/* Limits on what a DNS answer can make us hold or try. */
#define DNS_MX_HOSTS_MAX 32 /* MX hosts kept, the best ones */
#define DNS_ADDRS_MAX 16 /* addresses kept per host, both families */
#define DNS_NAME_MAX 253 /* a domain name without its trailing dot */
#define DNS_REASON_MAX 512 /* reason texts, NUL included */

enum dns_status {
	DNS_OK, /* hosts[] has at least one address to try */
	DNS_TEMPFAIL, /* try again later (SERVFAIL, timeout, bad answer...) */
	DNS_PERMFAIL, /* no such domain, no MX and no address, bad name */
	DNS_NULL_MX, /* the domain accepts no mail (RFC 7505): 5.1.10 */
};

/* One host to connect to. */
struct dns_host {
	char *name; /* owned; lower case, no trailing dot */
	unsigned preference; /* MX preference; 0 for an implicit MX or a host */
	struct sockaddr_storage *addrs; /* owned; addr_count entries, port 0;
					   IPv6 first, then IPv4 */
	size_t addr_count; /* <= DNS_ADDRS_MAX */
	bool temporary; /* addr_count == 0 and the lookup may work later */
	char reason[DNS_REASON_MAX]; /* why addr_count == 0; "" otherwise */
};

/* The answer to one request. */
struct dns_result {
	enum dns_status status;
	/* RFC 3463 code matching status: "" for DNS_OK, "4.4.3" for
	 * TEMPFAIL, "5.1.2" (no such domain, bad name) or "5.4.4" (no
	 * address to route to) for PERMFAIL, "5.1.10" for NULL_MX. Static. */
	const char *enhanced;
	/* Plain words for logs, `queue list` and bounces, naming the domain
	 * or host; "" for DNS_OK. */
	char reason[DNS_REASON_MAX];
	bool implicit_mx; /* no MX record: hosts[0] is the domain itself */
	/* Owned; host_count <= DNS_MX_HOSTS_MAX entries in the order to try.
	 * Present whenever the MX stage got as far as naming hosts, whatever
	 * the status, so the caller can report each host's reason; none for
	 * NULL_MX, no such domain, or an MX query that failed. For
	 * dns_resolve_host exactly one entry, unless the name was refused or
	 * c-ares could not be started (TEMPFAIL). */
	struct dns_host *hosts;
	size_t host_count;
};

/* Receives the result and owns it (free it with dns_result_free). The
 * request handle is invalid from the moment the callback is entered. */
typedef void (*dns_result_fn)(struct dns_result *res, void *arg);

/* A resolver. servers: n numeric "ADDR" + port entries (dns_servers of
 * the config), tried in order; NULL/0 means /etc/resolv.conf. timeout_ms
 * bounds each request as a whole (MX and address lookups together): when
 * it passes, the request is answered with what it has (hosts that got an
 * address are kept, the others read "timed out"; no MX answer at all is
 * TEMPFAIL). Single queries are retried within that time. Returns NULL
 * and a message in err (err_size bytes) when c-ares cannot be set up or a
 * server is not a numeric address. The base is borrowed and must outlive
 * the resolver. */
struct dns *dns_new(struct event_base *base, const struct cfg_hostport *servers, size_t n,
		    unsigned timeout_ms, char *err, size_t err_size);

/* Frees the resolver and every request still open (their callbacks never
 * fire). Sets *pp = NULL; accepts *pp == NULL. May be called from a
 * callback of this resolver. */
void dns_free(struct dns **pp);

/* Starts the routing lookup for domain (borrowed, copied; a trailing dot
 * is allowed). Returns a handle valid until the callback is entered or
 * dns_cancel is called; never NULL. */
struct dns_req *dns_resolve_mx(struct dns *dns, const char *domain, dns_result_fn cb, void *arg);

/* Starts the A + AAAA lookup of one host name or numeric address (see
 * above). The result has implicit_mx false and one host of preference 0;
 * status OK, TEMPFAIL or PERMFAIL. */
struct dns_req *dns_resolve_host(struct dns *dns, const char *name, dns_result_fn cb, void *arg);

/* Abandons a request: its callback never fires. Sets *pp = NULL; accepts
 * *pp == NULL. Must not be called with a handle whose callback has been
 * entered. Queries already sent run out inside c-ares (bounded by the
 * timeout) and are ignored. */
void dns_cancel(struct dns_req **pp);

void dns_result_free(struct dns_result **pp);

const char *dns_status_name(enum dns_status status);

/* ---- The fake, for tests of the modules above this one ---- */

enum dns_kind { DNS_KIND_MX, DNS_KIND_HOST };

/* Returns an owned result for the question (use dns_result_new and the
 * functions below, or build it by hand with the alloc wrappers). */
typedef struct dns_result *(*dns_fake_fn)(enum dns_kind kind, const char *name, void *arg);

/* A resolver that asks fn instead of the network; results are delivered
 * from the loop exactly like real ones (timeout_ms is not applied). */
struct dns *dns_new_fake(struct event_base *base, dns_fake_fn fn, void *arg);

/* ---- Pure assembly: no sockets, no loop (used by the resolver) ---- */

/* Returns a uniformly distributed 32-bit number. */
typedef uint32_t (*dns_rand_fn)(void *arg);

/* What a c-ares status code means for routing. */
enum dns_answer {
	DNS_ANSWER_OK, /* ARES_SUCCESS */
	DNS_ANSWER_NODATA, /* the name exists, no record of that type */
	DNS_ANSWER_NXDOMAIN, /* the name does not exist */
	DNS_ANSWER_BADNAME, /* the name cannot be asked at all */
	DNS_ANSWER_TEMP, /* SERVFAIL, REFUSED, timeout, malformed... */
};
enum dns_answer dns_answer_class(int ares_status);

/* True when name (len bytes, an optional trailing dot) is a host name we
 * will look up: 1..DNS_NAME_MAX bytes of labels of 1..63 letters, digits,
 * '-' and '_', and not all-numeric like an IPv4 address. */
bool dns_is_hostname(const char *name, size_t len);

/* An empty result (status DNS_TEMPFAIL, no hosts), owned. */
struct dns_result *dns_result_new(void);

/* Appends a host (name copied, lower-cased, trailing dot dropped) with no
 * address; returns it (valid until the next append). KASSERTs
 * host_count < DNS_MX_HOSTS_MAX. */
struct dns_host *dns_result_add_host(struct dns_result *res, const char *name, unsigned preference);

/* Sets status, enhanced code and reason (printf format) together. */
void dns_result_set(struct dns_result *res, enum dns_status status, const char *enhanced,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* One MX record as parsed: exchange borrowed ("" or "." is the root). */
struct dns_mx_rr {
	const char *exchange;
	unsigned preference;
};

/* Plans the routing of domain (already checked with dns_is_hostname) from
 * the MX query's c-ares status and its n records (mx_status is the parse
 * status when the query itself succeeded):
 * - NXDOMAIN: PERMFAIL 5.1.2; BADNAME: PERMFAIL 5.1.2; TEMP: TEMPFAIL.
 * - NODATA, or success with no record: implicit MX (RFC 5321 5.1), the
 *   domain as the only host, preference 0.
 * - One record whose exchange is the root: DNS_NULL_MX (RFC 7505 says
 *   preference 0; a lone root exchange at any preference can mean nothing
 *   else). A root exchange among other records is dropped.
 * - Otherwise the hosts sorted by preference, random order among equal
 *   preference (rnd), a name listed twice kept once at its best
 *   preference, the best DNS_MX_HOSTS_MAX kept. An exchange that is an IP
 *   address (RFC 5321 5.1 wants a name; Exim refuses it too) or not a
 *   valid name is kept with that reason and no lookup.
 * Returns how many hosts need an address lookup; 0 means res is complete
 * once dns_result_settle() has run. */
size_t dns_mx_plan(struct dns_result *res, const char *domain, int mx_status,
		   const struct dns_mx_rr *rrs, size_t n, dns_rand_fn rnd, void *rnd_arg);

/* True when the host was planned for a lookup (no address, no reason). */
bool dns_host_needs_lookup(const struct dns_host *h);

/* The outcome of one address query (AAAA or A) of a host. */
struct dns_lookup {
	int status; /* c-ares code; ARES_SUCCESS with count 0 reads as NODATA */
	size_t count; /* <= DNS_ADDRS_MAX */
	unsigned char addr[DNS_ADDRS_MAX][16]; /* network order; 4 bytes for A */
};

/* Fills h's addresses from its AAAA (v6) and A (v4) lookups as described
 * at the top (order, limits, unusable addresses dropped), or its reason
 * and temporary flag when none is left: temporary when either lookup
 * failed temporarily. */
void dns_host_settle(struct dns_host *h, const struct dns_lookup *v6, const struct dns_lookup *v4);

/* Decides res->status from its hosts once each is settled: OK when any
 * host has an address; else TEMPFAIL 4.4.3 when any failure was
 * temporary; else PERMFAIL 5.4.4 ("no MX and no A/AAAA" for an implicit
 * MX). A result without hosts keeps the status dns_mx_plan gave it. name
 * (the domain or host asked for) and kind shape the reason text. */
void dns_result_settle(struct dns_result *res, enum dns_kind kind, const char *name);

#endif
