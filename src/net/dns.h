/* dns: asynchronous name resolution on the event loop, over c-ares.
 *
 * Three kinds of question are asked, all answered through a callback:
 * - dns_resolve_mx(domain): the whole RFC 5321 5.1 routing answer for a
 *   mail domain: its MX hosts in the order to try them (preference, random
 *   among equal preference), each with its IPv6 and IPv4 addresses, or the
 *   implicit MX (the domain itself) when it has no MX record, or a final
 *   verdict (no such domain, null MX, temporary failure).
 * - dns_resolve_host(name): the addresses of one host (a smarthost).
 * - dns_query(type, name): one raw question (TXT, A, AAAA, MX, PTR, TLSA)
 *   for mail authentication (SPF, DKIM keys, DMARC) and DANE, answered
 *   with every record as the server gave it, unfiltered; see "Raw
 *   queries" below.
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
 * from the loop exactly like real ones (timeout_ms is not applied). fn may
 * be NULL for tests that only use dns_query: routing requests then get
 * TEMPFAIL "no fake answer". */
struct dns *dns_new_fake(struct event_base *base, dns_fake_fn fn, void *arg);

/* ---- Raw queries for mail authentication (SPF, DKIM, DMARC) and DANE ---- */

#define DNS_ANSWER_RECS_MAX 256 /* arecs kept per answer */
#define DNS_ANSWER_DATA_MAX 65536 /* bytes of data kept per answer */

enum dns_qtype { DNS_Q_TXT, DNS_Q_A, DNS_Q_AAAA, DNS_Q_MX, DNS_Q_PTR, DNS_Q_TLSA };

/* The verdict of one query, mapped from c-ares as dns_answer_class does:
 * NXDOMAIN, NODATA (ENODATA, or a NOERROR answer without a record of the
 * type, e.g. a bare CNAME), everything else TEMPFAIL (SERVFAIL, REFUSED,
 * timeout, malformed or cut answers, c-ares failures). A name that cannot
 * be asked (empty, over DNS_NAME_MAX, an empty or 64+ byte label, a
 * control, space, non-ASCII or backslash byte) cannot exist in DNS and is
 * answered NXDOMAIN without a query, with a reason saying so (RFC 7208 4.3
 * treats a malformed domain like NXDOMAIN). */
enum dns_astatus {
	DNS_A_OK, /* count >= 1 */
	DNS_A_NXDOMAIN, /* the name does not exist; count 0 */
	DNS_A_NODATA, /* the name exists, no record of the type; count 0 */
	DNS_A_TEMPFAIL, /* try again later; count 0 */
};

/* One piece of an answer. Fields not used by the query type are 0/NULL.
 * - TXT: data/len one character-string, unjoined and unfiltered (may hold
 *   any byte, NUL included); record_start true on the first string of
 *   each TXT record (RFC 7208 3.3 and RFC 6376 3.6.2.2 join the strings
 *   of one record; that is the caller's job).
 * - A / AAAA: addr (4 or 16 bytes, network order) and family (AF_INET or
 *   AF_INET6); every address of exactly that type, nothing dropped.
 * - MX: data the exchange (lower case, no trailing dot; "" for the root,
 *   i.e. a null MX) and preference; no address lookups, no implicit MX.
 * - PTR: data the target name (lower case, no trailing dot).
 * - TLSA (RFC 6698 2.1): usage, selector and mtype (matching type) as
 *   published, none judged (unknown values are the caller's "unusable"
 *   records, RFC 7671); data/len the certificate association data,
 *   binary, possibly empty, never NULL. Every record of type TLSA and
 *   class IN in the answer section, whatever its owner name (the records
 *   at the end of a CNAME chain, RFC 7671, carry the target's name); a
 *   record too short to hold the three bytes is dropped and the answer
 *   marked malformed. Parsed by dns_parse_tlsa (c-ares 1.18 has no TLSA
 *   parser).
 * data is owned by the answer and NUL-terminated after len bytes (NULL
 * for A/AAAA). record_start is true on every non-TXT arec. */
struct dns_arec {
	char *data; /* owned by the answer */
	size_t len;
	bool record_start;
	unsigned char addr[16];
	int family;
	unsigned preference;
	unsigned char usage, selector, mtype; /* TLSA */
};

/* The answer to one dns_query. Bounds: at most DNS_ANSWER_RECS_MAX arecs
 * and DNS_ANSWER_DATA_MAX bytes of data in all (a DNS message is at most
 * 64 KiB, so the second bound only matters for the fake). When the server
 * gave more, the answer keeps what fits, status stays DNS_A_OK and
 * truncated is set. A TXT record is never cut: the strings of a record
 * that does not fit are all dropped, so the answer holds whole records
 * only. A caller that must see every record (SPF: "exactly one v=spf1
 * record", DKIM, DMARC likewise) should treat truncated as a temporary
 * failure. */
struct dns_answer {
	enum dns_astatus status;
	/* The AD bit of the answer (RFC 4035 3.2.3). We set AD in the query
	 * (RFC 6840 5.7) so a validating resolver reports it. It is only as
	 * trustworthy as the path to the resolver (use one on localhost);
	 * false for TEMPFAIL, the fake unless it sets it, and names refused
	 * without a query. */
	bool ad;
	bool truncated; /* records were dropped at the bounds above */
	/* TLSA only: the answer held TLSA records with RDATA under 3 bytes,
	 * which were dropped (RFC 7672 2.2: malformed records are unusable
	 * and ignored). With DNS_A_OK the others were kept. When every TLSA
	 * record was malformed the status is DNS_A_TEMPFAIL (a published but
	 * unreadable RRset must not read as NODATA, which would let DANE fall
	 * back to opportunistic TLS), with malformed still set and the
	 * reason saying so. The fake sets it only if it wants to. */
	bool malformed;
	size_t count; /* entries in recs; 0 unless DNS_A_OK */
	struct dns_arec *recs; /* owned; count entries */
	/* Plain words for logs ("" for DNS_A_OK), naming the query. */
	char reason[DNS_REASON_MAX];
};

/* Receives the answer and owns it (free it with dns_answer_free). The
 * request handle is invalid from the moment the callback is entered. */
typedef void (*dns_query_fn)(struct dns_answer *ans, void *arg);

/* Starts one query of type for name (borrowed, copied; any case, a
 * trailing dot is allowed). For PTR, name is the reverse name itself
 * (dns_reverse_name builds it); for TLSA the "_25._tcp.host" name of RFC
 * 7672, built by the caller. ares_search is not used: the name is
 * absolute. Truncated UDP answers are retried over TCP (c-ares). The
 * request is bounded by the resolver's timeout_ms (then TEMPFAIL "timed
 * out"). Same callback rules as dns_resolve_*: never from inside this
 * call, never after dns_cancel or dns_free; cancel with dns_cancel.
 * Returns a handle valid until the callback is entered; never NULL.
 *
 * Answers are cached per resolver (type and name): an answer with
 * records for its smallest TTL, at most DNS_CACHE_TTL_MAX seconds, when
 * its data is at most DNS_CACHE_ANSWER_MAX bytes; negative answers (their
 * TTL is in the SOA, RFC 2308), failures, truncated answers and TTL 0
 * not at all. A validating
 * resolver on loopback caches too; ours saves the round trip and the
 * channel set-up for the three or four lookups every inbound message
 * needs (SPF, DKIM key, DMARC), which are the same for a busy sender. */
#define DNS_CACHE_TTL_MAX 300
#define DNS_CACHE_ANSWER_MAX 8192
#define DNS_CACHE_SIZE 1024
struct dns_req *dns_query(struct dns *dns, enum dns_qtype type, const char *name, dns_query_fn cb,
			  void *arg);

/* Writes the reverse-lookup name of sa's address into out:
 * "4.3.2.1.in-addr.arpa" for AF_INET (and for a v4-mapped AF_INET6
 * address, which is an IPv4 peer on a dual-stack socket), 32 nibbles and
 * "ip6.arpa" for AF_INET6 (RFC 3596 2.5). No trailing dot. Returns 0, or
 * -1 for another family or when out_size is too small (73 bytes always
 * suffice). */
int dns_reverse_name(const struct sockaddr *sa, char *out, size_t out_size);

/* An empty answer with status, owned (for fakes and tests). */
struct dns_answer *dns_answer_new(enum dns_astatus status);

/* Appends one arec with data copied (len bytes; data may be NULL when len
 * is 0) and record_start as given; returns it for the other fields to be
 * set, valid until the next append. Returns NULL and sets truncated once
 * a bound is reached (then every later append fails too); when that
 * happens inside a TXT record (record_start false), the record's earlier
 * strings are removed as well. */
struct dns_arec *dns_answer_add(struct dns_answer *ans, const void *data, size_t len,
				bool record_start);

/* Sets status and reason (printf format) together. */
void dns_answer_set(struct dns_answer *ans, enum dns_astatus status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void dns_answer_free(struct dns_answer **pp);

/* The TXT records of an answer with the strings of each record joined
 * (RFC 7208 3.3, RFC 8461 3.1, RFC 8460 3 read a record that way), for
 * callers that must find exactly one record of a kind. */
#define DNS_TXT_SET_MAX 64
struct dns_txt_set {
	size_t n; /* records in rec[] */
	char *rec[DNS_TXT_SET_MAX]; /* owned, NUL-terminated */
	size_t len[DNS_TXT_SET_MAX];
	/* The record was longer than max_len: rec holds its first max_len
	 * bytes only (enough to see what kind of record it is; never parse
	 * it as whole). */
	bool cut[DNS_TXT_SET_MAX];
	bool more; /* records past DNS_TXT_SET_MAX were left out */
};

/* Fills *out from a DNS_A_OK TXT answer (any other answer: empty).
 * Release with dns_txt_set_fini. */
void dns_txt_set_from(const struct dns_answer *ans, size_t max_len, struct dns_txt_set *out);
void dns_txt_set_fini(struct dns_txt_set *set);

/* "ok", "nxdomain", "nodata", "tempfail" */
const char *dns_astatus_name(enum dns_astatus status);
/* "TXT", "A", "AAAA", "MX", "PTR", "TLSA" */
const char *dns_qtype_name(enum dns_qtype type);

/* Returns an owned answer (dns_answer_new, dns_answer_add) for a query
 * made on a fake resolver; name as the caller passed it, trailing dot
 * dropped. */
typedef struct dns_answer *(*dns_fake_query_fn)(enum dns_qtype type, const char *name, void *arg);

/* Gives a fake resolver (dns_new_fake only; KASSERTed) its answers to
 * dns_query, delivered from the loop like real ones. Without it, queries
 * on a fake get TEMPFAIL "no fake answer". */
void dns_fake_set_query(struct dns *dns, dns_fake_query_fn fn, void *arg);

/* The smallest TTL of the answer section of a DNS message (seconds), or
 * -1 when it has no answer record or is malformed. */
long dns_answer_min_ttl(const unsigned char *abuf, size_t alen);

/* A copy of ans (records, data, flags), owned. */
struct dns_answer *dns_answer_copy(const struct dns_answer *ans);

/* ---- Pure assembly: no sockets, no loop (used by the resolver) ---- */

/* Returns a uniformly distributed 32-bit number. */
typedef uint32_t (*dns_rand_fn)(void *arg);

/* What a c-ares status code means for routing (and, via dns_query, for
 * mail authentication). The tag was "enum dns_answer" before struct
 * dns_answer existed; constants and values are unchanged. */
enum dns_answer_class {
	DNS_ANSWER_OK, /* ARES_SUCCESS */
	DNS_ANSWER_NODATA, /* the name exists, no record of that type */
	DNS_ANSWER_NXDOMAIN, /* the name does not exist */
	DNS_ANSWER_BADNAME, /* the name cannot be asked at all */
	DNS_ANSWER_TEMP, /* SERVFAIL, REFUSED, timeout, malformed... */
};
enum dns_answer_class dns_answer_class(int ares_status);

/* Parses the raw DNS answer abuf (alen bytes, as it came off the wire) of
 * a TLSA query into ans (dns_query's parser; public for tests and
 * fuzzing). Checks the header, skips the question section, reads every
 * record of the answer section (compressed names followed with bounds:
 * no loops, at most 255 octets and 128 pointer jumps per name) and adds
 * each TLSA record of class IN to ans as struct dns_arec describes,
 * within ans's bounds (then truncated is set). The authority and
 * additional sections are not read. Returns a c-ares status, read like
 * the other types' (dns_answer_class):
 * - ARES_SUCCESS: at least one record added; malformed is set when
 *   records too short were dropped beside them.
 * - ARES_ENODATA: NOERROR without a TLSA record (none at all, or e.g. a
 *   bare CNAME).
 * - ARES_ENOTFOUND, ARES_ESERVFAIL, ARES_EREFUSED, ARES_EFORMERR,
 *   ARES_ENOTIMP: the rcode said so.
 * - ARES_EBADRESP: shorter than a header, an unknown rcode, TC set, a
 *   name or record running off the message (an answer count larger than
 *   the records present included), a bad name, or every TLSA record too
 *   short (then malformed is set).
 * Only recs, count, truncated and malformed of ans are touched, and no
 * record is added unless ARES_SUCCESS is returned. status, reason and ad
 * are left to the caller (dns_query reads AD from the header). */
int dns_parse_tlsa(const unsigned char *abuf, size_t alen, struct dns_answer *ans);

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
