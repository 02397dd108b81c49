/* queue_retry: the arithmetic of the retry schedule, message expiry, the
 * delay warning and per-destination backoff. Pure functions of their
 * arguments (times are unix seconds passed in, never read from a clock),
 * so the scheduler and `konvert queue list` compute the same answers and
 * tests need no clock.
 *
 * The life of a recipient after a temporary failure at time now:
 *   if queue_retry_is_expired(p, created, now): it fails for good (bounce);
 *   else next_try = queue_retry_next(p, attempts, created, now).
 * queue_retry_next never returns a time after created + lifetime, so the
 * last attempt happens at the expiry time and its failure bounces. */
#ifndef KONVERT_QUEUE_QUEUE_RETRY_H
#define KONVERT_QUEUE_QUEUE_RETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct queue_env;
struct queue_rcpt;

/* Default per-destination hold: 1 minute after the first failure in a
 * row, doubling per failure, at most 1 hour. */
#define QUEUE_RETRY_DEST_HOLD_BASE 60
#define QUEUE_RETRY_DEST_HOLD_MAX 3600

struct queue_retry_policy {
	/* Borrowed (usually config's queue_retry_s): seconds between
	 * attempts, step i after attempt i+1; the last step repeats. A step
	 * of 0 is read as 1 second. schedule_len >= 1. */
	const unsigned *schedule;
	size_t schedule_len;
	uint64_t lifetime; /* queue_lifetime: age at which recipients bounce */
	uint64_t delay_warning; /* age of the delay DSN; 0 = never */
	uint64_t dest_hold_base; /* first per-destination hold, seconds */
	uint64_t dest_hold_max; /* longest per-destination hold, seconds */
};

/* Fills p with the given schedule, lifetime and delay warning and the
 * QUEUE_RETRY_DEST_HOLD_* defaults. schedule is borrowed. */
void queue_retry_policy_init(struct queue_retry_policy *p, const unsigned *schedule,
			     size_t schedule_len, uint64_t lifetime, uint64_t delay_warning);

/* created + lifetime, saturated at INT64_MAX. */
int64_t queue_retry_expiry(const struct queue_retry_policy *p, int64_t created);

/* True when a recipient of a message created at created may not be tried
 * again after a failure at now: now >= created + lifetime. */
bool queue_retry_is_expired(const struct queue_retry_policy *p, int64_t created, int64_t now);

/* When to try next, attempts having been made (the last one failing at
 * now): attempts == 0 gives now (never tried: at once); otherwise
 * now + schedule[min(attempts, schedule_len) - 1], clamped to the expiry
 * time (and never before now). Saturates instead of overflowing. */
int64_t queue_retry_next(const struct queue_retry_policy *p, unsigned attempts, int64_t created,
			 int64_t now);

/* True when the delay DSN (RFC 3464 "delayed") is due for rcpt of env at
 * now: delay_warning > 0, the recipient is still pending or deferred, it
 * was not notified before, the message is at least delay_warning old and
 * not yet expired (then the failure notice is due instead), its effective
 * NOTIFY includes DELAY (no NOTIFY given means FAILURE,DELAY:
 * queue_env_notify_effective), and the sender is not <> (RFC 3461 6.2:
 * never notify the null reverse-path). */
bool queue_retry_is_delay_due(const struct queue_retry_policy *p, const struct queue_env *env,
			      const struct queue_rcpt *rcpt, int64_t now);

/* Per-destination backoff (a destination is a domain, or the smarthost):
 * failures counts whole-destination failures in a row (no MX answered,
 * every host refused the connection or answered 4xx to EHLO/MAIL); while
 * held, the scheduler does not connect there and the destination's
 * messages wait together. Kept in memory by the scheduler: a restart
 * forgets it, which costs one more try. */
struct queue_retry_dest {
	unsigned failures;
	int64_t hold_until; /* unix seconds; no attempt before */
};

/* Hold after the failures-th failure in a row: 0 for failures == 0, else
 * dest_hold_base * 2^(failures - 1), at most dest_hold_max. */
uint64_t queue_retry_dest_hold(const struct queue_retry_policy *p, unsigned failures);

/* Records a failure at now: failures + 1 (saturating) and the new hold. */
void queue_retry_dest_failed(const struct queue_retry_policy *p, struct queue_retry_dest *d,
			     int64_t now);

/* Records a success (any message accepted there): clears the state. */
void queue_retry_dest_succeeded(struct queue_retry_dest *d);

/* True while d may not be tried: now < hold_until. */
bool queue_retry_dest_is_held(const struct queue_retry_dest *d, int64_t now);

#endif
