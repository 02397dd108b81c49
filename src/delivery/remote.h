/* remote: delivers the scheduler's batches to other hosts.
 *
 * For one batch (the due recipients of one message at one destination) it
 * routes (smarthost, an address literal, or the domain's MX hosts through
 * net/dns, RFC 5321 5.1: preference order, A/AAAA fallback, null MX),
 * refuses to send to itself (an MX that names this host is a loop),
 * checks the hop count (over 100 Received: headers is a loop, 5.4.6),
 * then tries one address after the other with an mta_conn until every
 * recipient has a final answer or the addresses run out: the next address
 * on a connection failure, a timeout or a 4xx, the same address in clear
 * once when an opportunistic STARTTLS handshake failed before any mail
 * data. An 8-bit message for a server without 8BITMIME is converted to
 * quoted-printable (proto/mime8) or bounced with 5.6.3/5.6.7.
 *
 * Results go back through done with one struct queue_result per batch
 * recipient, never from inside remote_deliver. Everything runs on the
 * event loop; the message file is read with pread (page cache). */
#ifndef KONVERT_DELIVERY_REMOTE_H
#define KONVERT_DELIVERY_REMOTE_H

#include <stdbool.h>
#include <sys/socket.h>

#include "queue/queue_sched.h"
#include "trust/tlsrpt.h"

struct event_base;
struct config;
struct dns;
struct queue_store;
struct remote;
struct tlspolicy;
struct tlspolicy_result;
typedef struct ssl_ctx_st SSL_CTX;

typedef void (*remote_done_fn)(void *arg, struct queue_batch *b, const struct queue_result *res,
			       bool dest_failed);

/* cfg, dns, qs and tls_ctx are borrowed and must outlive the remote (a
 * reload that swaps cfg must call remote_set_config). */
struct remote *remote_new(struct event_base *base, const struct config *cfg, struct dns *dns,
			  struct queue_store *qs, SSL_CTX *tls_ctx, remote_done_fn done, void *arg);
void remote_set_config(struct remote *r, const struct config *cfg);
/* Cancels every delivery in flight without callbacks (at exit). */
void remote_free(struct remote **pp);

void remote_deliver(struct remote *r, struct queue_batch *b);

/* One outbound TLS outcome at a destination whose policy was looked up,
 * for TLS reports (RFC 8460). Everything is borrowed for the call. */
struct remote_tls_event {
	const char *domain; /* the policy domain (recipient domain) */
	const struct tlspolicy_result *policy;
	const char *mx; /* NULL for a policy failure (no session) */
	const struct sockaddr_storage *addr; /* NULL with mx */
	bool success;
	enum tlsrpt_result result; /* when !success */
	const char *reason; /* when !success */
};
typedef void (*remote_tls_fn)(void *arg, const struct remote_tls_event *ev);

/* DANE / MTA-STS decisions per destination come from tp (borrowed; NULL:
 * opportunistic TLS only, and REQUIRETLS messages bounce); obs (may be
 * NULL) hears every TLS outcome. */
void remote_set_tls(struct remote *r, struct tlspolicy *tp, remote_tls_fn obs, void *arg);

/* True when the header block of msg has "TLS-Required: No" (RFC 8689 5). */
bool remote_tls_required_no(const char *msg, size_t len);

/* Deliveries in flight. */
unsigned remote_active(const struct remote *r);

/* Pure helpers, exposed for tests. */
/* Counts "Received:" header fields in the header block of msg[0..len). */
unsigned remote_count_received(const char *msg, size_t len);

#endif
