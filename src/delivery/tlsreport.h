/* tlsreport: SMTP TLS Reporting (RFC 8460) for the mail konvert relays.
 *
 * Every outbound TLS outcome at a destination whose policy was looked up
 * (remote's observer) is counted per recipient domain and UTC day
 * (trust/tlsrpt). The day's counters are written to
 * data_dir/tlsrpt/DAYSTART/DOMAIN every minute and at exit (no fsync: a
 * lost minute of counts is a rounding error in a report). Once a day is
 * over, each domain's counters become one report: the TXT record
 * "_smtp._tls.DOMAIN" is looked up, and for every mailto: rua address a
 * gzip JSON report (multipart/report; report-type=tlsrpt) from
 * tlsrpt-noreply@FIRST_DOMAIN, DKIM-signed when keys exist, enters the
 * queue with the null sender and "TLS-Required: No" (RFC 8460 3: a report
 * must not be held back by the policy it reports on). A domain without the
 * record gets nothing; its counters are dropped.
 *
 * All on the loop thread; DNS through net/dns; the message is committed
 * by the intake on a worker like any other. */
#ifndef KONVERT_DELIVERY_TLSREPORT_H
#define KONVERT_DELIVERY_TLSREPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "delivery/intake.h"
#include "delivery/remote.h"

struct config;
struct dns;
struct event_base;
struct queue_store;
struct signing;
struct tlsreport;
struct worker_pool;

#define TLSREPORT_DOMAINS_MAX 10000 /* domains counted per day */

/* Everything borrowed; cfgp is read at each use (reloads swap it);
 * signing may be NULL. queued(arg, env) receives each queued report. */
struct tlsreport *tlsreport_new(struct event_base *base, struct dns *dns,
				const struct config *const *cfgp, struct worker_pool *wp,
				struct queue_store *qs, const struct signing *signing,
				intake_queued_fn queued, void *queued_arg);

/* The DKIM keys reports are signed with (borrowed; NULL: none). */
void tlsreport_set_signing(struct tlsreport *t, const struct signing *signing);

/* remote's observer (remote_set_tls): counts one outcome. */
void tlsreport_observe(void *arg, const struct remote_tls_event *ev);

/* Sends the reports of every finished day now, and with today true also
 * today's counts so far (then today starts again from zero). For `konvert
 * queue tls-report`. Writes what it started into msg. */
int tlsreport_send_now(struct tlsreport *t, bool today, char *msg, size_t msg_size);

/* Saves today's counters and frees (reports in flight are dropped; their
 * counter files stay for the next start). */
void tlsreport_free(struct tlsreport **pp);

#endif
