/* notice: sends the scheduler's notices (RFC 3464 reports from
 * MAILER-DAEMON: failed, delayed, delivered, relayed) to the original
 * envelope sender, as ordinary mail from the null sender: into the
 * sender's local mailbox, or into the queue when the sender is remote, in
 * one durable intake commit like any received message.
 *
 * A failed bounce (the message was itself a bounce, sender <>) goes to
 * postmaster of the first local domain once (bounce_depth 1); a failure of
 * that is dropped by the scheduler with a log line. A sender that resolves
 * to nobody (an unknown local address) gets nothing: the notice counts as
 * sent and a log line says why. */
#ifndef KONVERT_DELIVERY_NOTICE_H
#define KONVERT_DELIVERY_NOTICE_H

#include <stdbool.h>
#include <stddef.h>

#include "delivery/intake.h"
#include "queue/queue_sched.h"

struct config;
struct event_base;
struct userdb;
struct aliases;
struct worker_pool;
struct queue_store;

/* Everything is borrowed. The users and aliases pointers are read at each
 * notice (the server swaps them on SIGHUP), so pass their addresses. */
struct notice_ctx {
	struct event_base *base;
	const struct config *const *cfg;
	struct userdb *const *users;
	struct aliases *const *aliases;
	struct worker_pool *workers;
	struct queue_store *qs;
	intake_queued_fn queued; /* a notice for a remote sender was queued */
	void *queued_arg;
};

typedef void (*notice_done_fn)(void *arg, bool ok);

/* Composes and submits one report about recipients idx[0..n) of env.
 * done(arg, ok) runs later on the loop (ok: durable or deliberately
 * dropped). env and idx are only read during the call. */
void notice_send(const struct notice_ctx *nc, const struct queue_env *env,
		 enum queue_notice_kind kind, const size_t *idx, size_t n, notice_done_fn done,
		 void *arg);

#endif
