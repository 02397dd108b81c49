/* queue_retry: retry, expiry, delay-warning and destination backoff
 * arithmetic. It owns no state and reads no clock; every addition
 * saturates, because lifetimes and schedules come from the configuration
 * and times from files that may be damaged. */
#include "queue/queue_retry.h"

#include <limits.h>

#include "queue/queue_env.h"

static int64_t add_sat(int64_t t, uint64_t d)
{
	int64_t r;

	if (d > (uint64_t)INT64_MAX || __builtin_add_overflow(t, (int64_t)d, &r))
		return INT64_MAX;
	return r;
}

void queue_retry_policy_init(struct queue_retry_policy *p, const unsigned *schedule,
			     size_t schedule_len, uint64_t lifetime, uint64_t delay_warning)
{
	p->schedule = schedule;
	p->schedule_len = schedule_len;
	p->lifetime = lifetime;
	p->delay_warning = delay_warning;
	p->dest_hold_base = QUEUE_RETRY_DEST_HOLD_BASE;
	p->dest_hold_max = QUEUE_RETRY_DEST_HOLD_MAX;
}

int64_t queue_retry_expiry(const struct queue_retry_policy *p, int64_t created)
{
	return add_sat(created, p->lifetime);
}

bool queue_retry_is_expired(const struct queue_retry_policy *p, int64_t created, int64_t now)
{
	return now >= queue_retry_expiry(p, created);
}

int64_t queue_retry_next(const struct queue_retry_policy *p, unsigned attempts, int64_t created,
			 int64_t now)
{
	int64_t next, expiry = queue_retry_expiry(p, created);
	uint64_t step;
	size_t i;

	if (attempts == 0 || p->schedule_len == 0)
		return now;
	i = attempts <= p->schedule_len ? attempts - 1 : p->schedule_len - 1;
	/* A zero step would retry in a tight loop. */
	step = p->schedule[i] > 0 ? p->schedule[i] : 1;
	next = add_sat(now, step);
	/* The last attempt happens at expiry, not a whole step later (the
	 * message would bounce up to 4 hours late) nor never. */
	if (next > expiry)
		next = expiry;
	return next < now ? now : next;
}

bool queue_retry_is_delay_due(const struct queue_retry_policy *p, const struct queue_env *env,
			      const struct queue_rcpt *rcpt, int64_t now)
{
	if (p->delay_warning == 0 || rcpt->delay_notified)
		return false;
	if (rcpt->state != QUEUE_RCPT_PENDING && rcpt->state != QUEUE_RCPT_DEFERRED)
		return false;
	if (env->sender == NULL || env->sender[0] == '\0')
		return false;
	if (!(queue_env_notify_effective(rcpt->notify) & QUEUE_NOTIFY_DELAY))
		return false;
	if (queue_retry_is_expired(p, env->created, now))
		return false;
	return now >= add_sat(env->created, p->delay_warning);
}

uint64_t queue_retry_dest_hold(const struct queue_retry_policy *p, unsigned failures)
{
	uint64_t hold = p->dest_hold_base;

	if (failures == 0 || hold == 0)
		return 0;
	/* hold >= 1 doubles past any max within 64 rounds. */
	for (unsigned i = 1; i < failures && hold < p->dest_hold_max; i++) {
		if (__builtin_mul_overflow(hold, 2, &hold))
			hold = UINT64_MAX;
	}
	return hold < p->dest_hold_max ? hold : p->dest_hold_max;
}

void queue_retry_dest_failed(const struct queue_retry_policy *p, struct queue_retry_dest *d,
			     int64_t now)
{
	if (d->failures < UINT_MAX)
		d->failures++;
	d->hold_until = add_sat(now, queue_retry_dest_hold(p, d->failures));
}

void queue_retry_dest_succeeded(struct queue_retry_dest *d)
{
	d->failures = 0;
	d->hold_until = 0;
}

bool queue_retry_dest_is_held(const struct queue_retry_dest *d, int64_t now)
{
	return now < d->hold_until;
}
