/* metrics: the process-wide registry of counters, gauges and one histogram
 * behind the Prometheus endpoint (net/metrics_http). Every name and label
 * value is fixed here; the README table documents them.
 *
 * The registry is static storage of atomics, like the logger a process-wide
 * object rather than one passed down: any thread (the loop, workers) may
 * bump a metric at any time, without locks and without allocating. There
 * is nothing to create or free. Updates use relaxed atomics: each series is
 * exact, but a render racing with updates may show one series already
 * bumped and a related one not yet (Prometheus tolerates that).
 *
 * Label arguments are enums where the caller chooses the value and names
 * where the value comes from another module's own enum or from OpenSSL
 * (TLS version, DMARC result, protocol of a login): those are matched
 * against the documented label values, and a name that matches none is
 * noted under "other" where the family has it and dropped otherwise. An
 * enum argument out of range is a bug (KASSERT). */
#ifndef KONVERT_CORE_METRICS_H
#define KONVERT_CORE_METRICS_H

#include <stdint.h>

struct strbuf;

/* listener="..." on connections, sessions and messages received. The
 * first METRICS_LISTENER_SMTP_COUNT are the SMTP listeners, the only ones
 * that receive messages. */
enum metrics_listener {
	METRICS_LISTENER_SMTP, /* "smtp": port 25 */
	METRICS_LISTENER_SUBMISSION, /* "submission": port 587 */
	METRICS_LISTENER_SMTPS, /* "smtps": port 465 */
	METRICS_LISTENER_LOCAL, /* "local": the sendmail socket */
	METRICS_LISTENER_POP3, /* "pop3": port 110 */
	METRICS_LISTENER_POP3S, /* "pop3s": port 995 */
	METRICS_LISTENER_POP2, /* "pop2": port 109 */
	METRICS_LISTENER_COUNT
};
#define METRICS_LISTENER_SMTP_COUNT (METRICS_LISTENER_LOCAL + 1)

/* result="..." of konvert_deliveries_total */
enum metrics_result {
	METRICS_RESULT_DELIVERED, /* "delivered" */
	METRICS_RESULT_DEFERRED, /* "deferred" */
	METRICS_RESULT_BOUNCED, /* "bounced" */
	METRICS_RESULT_COUNT
};

/* where="..." of konvert_deliveries_total */
enum metrics_where {
	METRICS_WHERE_LOCAL, /* "local": into a mailbox here */
	METRICS_WHERE_REMOTE, /* "remote": to another server */
	METRICS_WHERE_COUNT
};

/* side="..." of konvert_tls_sessions_total */
enum metrics_tls_side {
	METRICS_TLS_SERVER, /* "server": our listeners (implicit TLS, STARTTLS/STLS) */
	METRICS_TLS_CLIENT, /* "client": outbound delivery */
	METRICS_TLS_SIDE_COUNT
};

/* pool="..." of konvert_worker_backlog */
enum metrics_pool {
	METRICS_POOL_MAIN, /* "main": commits, fsync, directory scans */
	METRICS_POOL_AUTH, /* "auth": password hashing */
	METRICS_POOL_COUNT
};

/* A connection accepted on a listener (also one then refused for the
 * session limits): konvert_connections_total. */
void metrics_connection(enum metrics_listener l);

/* A session object came to life / went away: the konvert_sessions gauge.
 * Every start needs exactly one end. */
void metrics_session_start(enum metrics_listener l);
void metrics_session_end(enum metrics_listener l);

/* A message accepted (the 250 after DATA/BDAT) on an SMTP listener
 * (l < METRICS_LISTENER_SMTP_COUNT): konvert_messages_received_total. */
void metrics_message_received(enum metrics_listener l);

/* n recipients (mailboxes, for local) reached a result. */
void metrics_deliveries(enum metrics_result r, enum metrics_where w, uint64_t n);

/* One remote recipient reached a final result (delivered or bounced),
 * ms after its message was queued: konvert_delivery_seconds. */
void metrics_delivery_latency_ms(uint64_t ms);

/* A failed login; proto is "smtp", "pop3" or "pop2" (anything else is
 * dropped): konvert_auth_failures_total. */
void metrics_auth_failure(const char *proto);

/* A TLS handshake completed. version is what SSL_get_version() says
 * ("TLSv1.3") or a tls_describe() text starting "version=TLSv1.3 ";
 * anything but TLSv1.2 and TLSv1.3, NULL included, counts as "other". */
void metrics_tls_session(const char *version, enum metrics_tls_side side);

/* A message left here with our DKIM signature: konvert_dkim_signed_total. */
void metrics_dkim_signed(void);

/* The DMARC verdict of the inbound checks on one message; result is
 * authcheck_dmarc_result_name(): "pass", "fail", "none", "temperror" or
 * "permerror" (anything else is dropped): konvert_auth_checks_total. */
void metrics_dmarc_result(const char *result);

/* Gauges the owner sets, typically from the refresh callback of
 * metrics_http just before a scrape. */
void metrics_set_queue(uint64_t messages, uint64_t oldest_age_s);
void metrics_set_worker_backlog(enum metrics_pool p, uint64_t jobs);

/* Appends every family in the Prometheus text exposition format 0.0.4:
 * "# HELP" and "# TYPE" lines, then every series, zeros included, in a
 * fixed order. About 4.5 KiB; a bounded out that runs over has over set
 * (strbuf.h) and the caller must not serve it. Safe from any thread. */
void metrics_render(struct strbuf *out);

/* Tests only: every metric back to zero. Not atomic as a whole: nothing
 * else may update the registry meanwhile. */
void metrics_reset(void);

#endif
