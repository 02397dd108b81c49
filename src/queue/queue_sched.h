/* queue_sched: the retry scheduler. It keeps every queued message's
 * envelope in memory, decides which recipients are due, groups them by
 * destination into batches (one transaction per message and destination),
 * applies delivery results to the per-recipient states, and says when an
 * envelope must be written, a message removed, or a notice (bounce, delay
 * warning, success) sent.
 *
 * It does no I/O and includes no protocol: the owner supplies struct
 * queue_sched_ops (delivery, durable writes, notices) and drives time with
 * queue_sched_tick(). Every op that does I/O is asynchronous; the owner
 * reports its end with the matching queue_sched_*_done call. All calls on
 * the event loop thread.
 *
 * Invariants (INTERNALS.md): a message has at most one write in flight;
 * a recipient is in at most one batch; results are applied in memory and
 * then written before anything that depends on them (removal, notices
 * counted as sent) happens; a FAILED/DELIVERED recipient whose notice was
 * not yet recorded (dsn_sent false) is noticed again after a restart, so a
 * bounce is sent at least once. */
#ifndef KONVERT_QUEUE_QUEUE_SCHED_H
#define KONVERT_QUEUE_QUEUE_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/queue_env.h"
#include "queue/queue_retry.h"

struct queue_sched;
struct queue_entry;

/* Per-recipient delivery result of a batch. */
enum queue_outcome {
	QUEUE_OUT_DELIVERED, /* the next hop took it */
	QUEUE_OUT_RELAYED, /* delivered, and the next hop does not do DSN */
	/* delivered to a next hop that does DSN: the notice is its job now
	 * (RFC 3461 4.1), none from us */
	QUEUE_OUT_DSN_PASSED,
	QUEUE_OUT_TEMPFAIL, /* try again later */
	QUEUE_OUT_PERMFAIL, /* bounce now */
	QUEUE_OUT_UNTRIED, /* never offered (connection failed first) */
};

struct queue_result {
	enum queue_outcome outcome;
	const char *reply; /* the reply or our reason (copied) */
	const char *remote_mta; /* host that answered, or NULL (copied) */
};

/* One transaction to hand over: recipients rcpt[0..count) of env (indexes
 * into env->rcpts), all in domain. Borrowed until queue_sched_batch_done. */
struct queue_batch {
	struct queue_entry *entry; /* opaque */
	const struct queue_env *env;
	const char *domain; /* lower case, or the smarthost key */
	size_t *rcpt; /* owned by the scheduler */
	size_t count;
};

enum queue_notice_kind {
	QUEUE_NOTICE_FAILED, /* RFC 3464 Action: failed */
	QUEUE_NOTICE_DELAYED, /* Action: delayed */
	QUEUE_NOTICE_DELIVERED, /* Action: delivered (NOTIFY=SUCCESS) */
	QUEUE_NOTICE_RELAYED, /* Action: relayed (NOTIFY=SUCCESS, no DSN next hop) */
};

struct queue_sched_ops {
	/* Start delivering b; finish with queue_sched_batch_done. */
	void (*deliver)(void *ctx, struct queue_batch *b);
	/* Write env durably (queue_store_update on a worker); finish with
	 * queue_sched_write_done. Encode env during the call: it may change
	 * as soon as the call returns (a snapshot is what gets written). */
	void (*write)(void *ctx, struct queue_entry *e, const struct queue_env *env);
	/* Remove the message's files; finish with queue_sched_remove_done. */
	void (*remove)(void *ctx, struct queue_entry *e, const char *id);
	/* Send one notice about recipients idx[0..n) of env (compose and
	 * queue it durably); finish with queue_sched_notice_done. */
	void (*notice)(void *ctx, struct queue_entry *e, const struct queue_env *env,
		       enum queue_notice_kind kind, const size_t *idx, size_t n);
	int64_t (*now)(void *ctx);
	void *ctx;
};

struct queue_sched_limits {
	unsigned total; /* batches in flight, all destinations */
	unsigned per_dest; /* batches in flight to one destination */
};

/* policy is copied (its schedule array is borrowed: keep the config). */
struct queue_sched *queue_sched_new(const struct queue_sched_ops *ops,
				    const struct queue_retry_policy *policy,
				    const struct queue_sched_limits *limits);
/* Entries still busy, and batches handed out and never answered, are
 * freed without callbacks: call at exit only. */
void queue_sched_free(struct queue_sched **pp);

/* A new retry policy (a configuration reload): it applies from the next
 * decision on; next-try times already set stay. */
void queue_sched_set_policy(struct queue_sched *s, const struct queue_retry_policy *policy);

/* Takes over *env (moved out; *env is left empty) as a queued message
 * already durable on disk (new submission or startup scan). A recipient
 * still PENDING is due at once. */
void queue_sched_add(struct queue_sched *s, struct queue_env *env);

/* Runs what is due now: expiries, delay warnings, owed notices, batches
 * within the limits. Call every second and after queue_sched_add. */
void queue_sched_tick(struct queue_sched *s);

/* Makes everything due now (domain NULL) or everything of one domain,
 * holds included (queue flush, ETRN). Returns the messages touched. */
size_t queue_sched_flush(struct queue_sched *s, const char *domain);

/* Forgets message id at once (queue delete): no more deliveries or
 * notices; the owner removes the files. Returns false when it is
 * unknown or busy (try again after the batch). */
bool queue_sched_forget(struct queue_sched *s, const char *id);

/* results[i] is about b->rcpt[i]. dest_failed: the destination itself
 * failed (no connection, DNS), so its other messages wait too. */
void queue_sched_batch_done(struct queue_sched *s, struct queue_batch *b,
			    const struct queue_result *results, bool dest_failed);
void queue_sched_write_done(struct queue_sched *s, struct queue_entry *e, bool ok);
void queue_sched_remove_done(struct queue_sched *s, struct queue_entry *e);
void queue_sched_notice_done(struct queue_sched *s, struct queue_entry *e, bool ok);

/* Numbers for logs and metrics. */
size_t queue_sched_count(const struct queue_sched *s);

/* created of the oldest message, 0 when empty. O(n): for scrapes. */
int64_t queue_sched_oldest_created(const struct queue_sched *s);
unsigned queue_sched_in_flight(const struct queue_sched *s);
/* The envelope of a queued message by id, or NULL (borrowed). */
const struct queue_env *queue_sched_find(const struct queue_sched *s, const char *id);

#endif
