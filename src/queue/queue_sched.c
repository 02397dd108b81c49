/* queue_sched: in-memory index of the queued messages and the decisions
 * about them (what is due, what failed for good, what must be written or
 * noticed). It owns the envelopes it was given and the batches it hands
 * out; it performs no I/O itself and never blocks. Linear scans are fine:
 * a tick visits each message once, and a busy queue holds thousands. */
#include "queue/queue_sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "core/log.h"
#include "core/metrics.h"

/* A failed write or notice is tried again this much later. */
#define QUEUE_SCHED_IO_RETRY_S 30
#define QUEUE_SCHED_DOMAIN_MAX 256

struct queue_entry {
	struct queue_env env; /* owned */
	bool *in_batch; /* owned, env.rcpt_count entries */
	bool *relayed; /* owned: delivered to a next hop without DSN */
	unsigned batches; /* in flight */
	bool writing, dirty, removing, noticing, forgotten;
	int64_t io_retry_at; /* after a failed write or notice */
	enum queue_notice_kind notice_kind;
	size_t *notice_idx; /* owned while noticing */
	size_t notice_n;
	bool force; /* flushed: holds ignored once */
};

/* A batch and its place in the list of batches handed out (so that
 * queue_sched_free can free the ones never answered). */
struct batch_node {
	struct queue_batch b; /* first: the public part */
	struct batch_node *prev, *next;
	/* The batch's own copy: the destination table may move (realloc)
	 * while the batch is out. */
	char domain[QUEUE_SCHED_DOMAIN_MAX];
};

struct queue_dest {
	char name[QUEUE_SCHED_DOMAIN_MAX];
	struct queue_retry_dest retry;
	unsigned in_flight;
};

struct queue_sched {
	struct queue_sched_ops ops;
	struct queue_retry_policy policy;
	struct queue_sched_limits limits;
	struct queue_entry **entries; /* owned */
	size_t count, cap;
	struct queue_dest *dests; /* owned */
	size_t dest_count, dest_cap;
	unsigned in_flight;
	bool in_tick;
	/* A due batch waited for a free slot in the last tick: a finished
	 * batch must look again (else nothing else can be waiting for it). */
	bool limited;
	struct batch_node *out; /* batches handed out, owned */
};

static void process_entry(struct queue_sched *s, struct queue_entry *e, int64_t now);

/* ---- helpers ---- */

static void domain_of(const char *addr, char *out, size_t out_size)
{
	const char *at = strrchr(addr, '@');
	const char *d = at ? at + 1 : "";
	size_t i = 0;
	for (; d[i] != '\0' && i + 1 < out_size; i++) {
		char c = d[i];
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
	}
	out[i] = '\0';
}

static struct queue_dest *dest_get(struct queue_sched *s, const char *name)
{
	for (size_t i = 0; i < s->dest_count; i++)
		if (strcmp(s->dests[i].name, name) == 0)
			return &s->dests[i];
	if (s->dest_count == s->dest_cap) {
		s->dest_cap = s->dest_cap ? s->dest_cap * 2 : 16;
		s->dests = xrealloc(s->dests, s->dest_cap * sizeof(*s->dests));
	}
	struct queue_dest *d = &s->dests[s->dest_count++];
	memset(d, 0, sizeof(*d));
	(void)snprintf(d->name, sizeof(d->name), "%s", name);
	return d;
}

static bool is_open(const struct queue_rcpt *r)
{
	return r->state == QUEUE_RCPT_PENDING || r->state == QUEUE_RCPT_DEFERRED;
}

static void set_text(char **field, const char *text)
{
	free(*field);
	*field = NULL;
	if (text != NULL && text[0] != '\0') {
		size_t n = strnlen(text, QUEUE_REPLY_MAX - 1);
		*field = xstrndup(text, n);
	}
}

/* Does this recipient owe its sender a failure notice? Never to <>:
 * except that a bounce of ours that fails goes to postmaster once. */
static bool owes_failure_notice(const struct queue_env *env, const struct queue_rcpt *r)
{
	if (r->state != QUEUE_RCPT_FAILED || r->dsn_sent)
		return false;
	if (env->sender[0] == '\0')
		return env->is_bounce && env->bounce_depth == 0;
	return (queue_env_notify_effective(r->notify) & QUEUE_NOTIFY_FAILURE) != 0;
}

static bool owes_success_notice(const struct queue_env *env, const struct queue_rcpt *r)
{
	return r->state == QUEUE_RCPT_DELIVERED && !r->dsn_sent && env->sender[0] != '\0' &&
	       (r->notify & QUEUE_NOTIFY_SUCCESS) != 0;
}

/* ---- lifecycle ---- */

void queue_sched_set_policy(struct queue_sched *s, const struct queue_retry_policy *policy)
{
	s->policy = *policy;
}

struct queue_sched *queue_sched_new(const struct queue_sched_ops *ops,
				    const struct queue_retry_policy *policy,
				    const struct queue_sched_limits *limits)
{
	struct queue_sched *s = xcalloc(1, sizeof(*s));
	s->ops = *ops;
	s->policy = *policy;
	s->limits = *limits;
	if (s->limits.total == 0)
		s->limits.total = 1;
	if (s->limits.per_dest == 0)
		s->limits.per_dest = 1;
	return s;
}

static void entry_free(struct queue_entry *e)
{
	queue_env_fini(&e->env);
	free(e->in_batch);
	free(e->relayed);
	free(e->notice_idx);
	free(e);
}

void queue_sched_free(struct queue_sched **pp)
{
	struct queue_sched *s = *pp;
	if (s == NULL)
		return;
	*pp = NULL;
	for (size_t i = 0; i < s->count; i++)
		entry_free(s->entries[i]);
	while (s->out != NULL) {
		struct batch_node *n = s->out;
		s->out = n->next;
		free(n->b.rcpt);
		free(n);
	}
	free(s->entries);
	free(s->dests);
	free(s);
}

void queue_sched_add(struct queue_sched *s, struct queue_env *env)
{
	struct queue_entry *e = xcalloc(1, sizeof(*e));
	e->env = *env;
	memset(env, 0, sizeof(*env));
	queue_env_init(env);
	size_t n = e->env.rcpt_count ? e->env.rcpt_count : 1;
	e->in_batch = xcalloc(n, sizeof(bool));
	e->relayed = xcalloc(n, sizeof(bool));
	if (s->count == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->entries = xrealloc(s->entries, s->cap * sizeof(*s->entries));
	}
	s->entries[s->count++] = e;
}

static void drop_entry(struct queue_sched *s, struct queue_entry *e)
{
	for (size_t i = 0; i < s->count; i++) {
		if (s->entries[i] == e) {
			s->entries[i] = s->entries[--s->count];
			break;
		}
	}
	entry_free(e);
}

/* ---- steps of one entry ---- */

static void start_write(struct queue_sched *s, struct queue_entry *e)
{
	e->dirty = false;
	e->writing = true;
	s->ops.write(s->ops.ctx, e, &e->env);
}

/* A recipient given up because the message outlived queue_lifetime: one
 * log line and one bounced delivery in the metrics (the attempt that ended
 * before counted as deferred). */
static void expired_one(const struct queue_entry *e, const struct queue_rcpt *r, int64_t now)
{
	char efrom[600], eto[600];
	log_info(NULL, "event=expire id=%s from=<%s> to=<%s> size=%llu delay=%llds result=bounced attempts=%u",
		 e->env.id, log_escape(efrom, sizeof(efrom), e->env.sender, strlen(e->env.sender)),
		 log_escape(eto, sizeof(eto), r->addr, strlen(r->addr)),
		 (unsigned long long)e->env.size, (long long)(now - e->env.created), r->attempts);
	metrics_deliveries(METRICS_RESULT_BOUNCED, METRICS_WHERE_REMOTE, 1);
}

/* Recipients that passed queue_lifetime fail for good (RFC 5321 4.5.4.1:
 * give up after 4-5 days). */
static void expire(struct queue_sched *s, struct queue_entry *e, int64_t now)
{
	if (!queue_retry_is_expired(&s->policy, e->env.created, now))
		return;
	for (size_t i = 0; i < e->env.rcpt_count; i++) {
		struct queue_rcpt *r = &e->env.rcpts[i];
		if (!is_open(r) || e->in_batch[i])
			continue;
		char text[QUEUE_REPLY_MAX];
		(void)snprintf(text, sizeof(text), "message expired in the queue; last reply: %s",
			       r->last_reply ? r->last_reply : "none");
		set_text(&r->last_reply, text);
		set_text(&r->remote_mta, NULL); /* the text is ours now */
		r->state = QUEUE_RCPT_FAILED;
		e->dirty = true;
		expired_one(e, r, now);
	}
}

/* Starts at most one notice; returns true when one started. The states
 * it reports must be on disk first (not dirty, not writing). */
static bool start_notice(struct queue_sched *s, struct queue_entry *e, int64_t now)
{
	if (e->noticing || e->writing || e->dirty || now < e->io_retry_at)
		return false;
	struct queue_env *env = &e->env;
	/* Most messages owe nothing: find out before allocating. */
	bool owed = false;
	for (size_t i = 0; i < env->rcpt_count && !owed; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];
		owed = owes_failure_notice(env, r) || owes_success_notice(env, r) ||
		       (!e->in_batch[i] && r->state == QUEUE_RCPT_DEFERRED && !r->delay_notified &&
			queue_retry_is_delay_due(&s->policy, env, r, now));
	}
	if (!owed)
		return false;
	size_t *idx = xcalloc(env->rcpt_count ? env->rcpt_count : 1, sizeof(size_t));
	size_t n = 0;
	enum queue_notice_kind kind = QUEUE_NOTICE_FAILED;
	for (size_t i = 0; i < env->rcpt_count; i++)
		if (owes_failure_notice(env, &env->rcpts[i]))
			idx[n++] = i;
	if (n == 0) {
		kind = QUEUE_NOTICE_DELAYED;
		for (size_t i = 0; i < env->rcpt_count; i++)
			if (!e->in_batch[i] && env->rcpts[i].state == QUEUE_RCPT_DEFERRED &&
			    queue_retry_is_delay_due(&s->policy, env, &env->rcpts[i], now))
				idx[n++] = i;
	}
	if (n == 0) {
		for (size_t i = 0; i < env->rcpt_count; i++)
			if (owes_success_notice(env, &env->rcpts[i]))
				idx[n++] = i;
		/* One notice is about one kind: relayed ones go separately. */
		size_t m = 0;
		bool relayed = n > 0 && e->relayed[idx[0]];
		for (size_t k = 0; k < n; k++)
			if (e->relayed[idx[k]] == relayed)
				idx[m++] = idx[k];
		n = m;
		kind = relayed ? QUEUE_NOTICE_RELAYED : QUEUE_NOTICE_DELIVERED;
	}
	if (n == 0) {
		free(idx);
		return false;
	}
	e->noticing = true;
	e->notice_kind = kind;
	e->notice_idx = idx;
	e->notice_n = n;
	s->ops.notice(s->ops.ctx, e, env, kind, idx, n);
	return true;
}

static bool dest_may_start(struct queue_sched *s, struct queue_dest *d, bool force, int64_t now)
{
	if (s->in_flight >= s->limits.total || d->in_flight >= s->limits.per_dest) {
		s->limited = true;
		return false;
	}
	return force || !queue_retry_dest_is_held(&d->retry, now);
}

/* Hands out the due recipients of e, one batch per destination. */
static void start_batches(struct queue_sched *s, struct queue_entry *e, int64_t now)
{
	struct queue_env *env = &e->env;
	char dom[QUEUE_SCHED_DOMAIN_MAX], other[QUEUE_SCHED_DOMAIN_MAX];
	for (size_t i = 0; i < env->rcpt_count; i++) {
		struct queue_rcpt *r = &env->rcpts[i];
		if (!is_open(r) || e->in_batch[i] || (r->next_try > now && !e->force))
			continue;
		domain_of(r->addr, dom, sizeof(dom));
		struct queue_dest *d = dest_get(s, dom);
		if (!dest_may_start(s, d, e->force, now))
			continue;
		/* Every due recipient of this message at this destination goes
		 * into one transaction. */
		struct batch_node *node = xcalloc(1, sizeof(*node));
		node->next = s->out;
		if (s->out)
			s->out->prev = node;
		s->out = node;
		struct queue_batch *b = &node->b;
		b->entry = e;
		b->env = env;
		(void)snprintf(node->domain, sizeof(node->domain), "%s", d->name);
		b->domain = node->domain;
		b->rcpt = xcalloc(env->rcpt_count, sizeof(size_t));
		for (size_t k = i; k < env->rcpt_count; k++) {
			struct queue_rcpt *rk = &env->rcpts[k];
			if (!is_open(rk) || e->in_batch[k] || (rk->next_try > now && !e->force))
				continue;
			domain_of(rk->addr, other, sizeof(other));
			if (strcmp(other, dom) != 0)
				continue;
			e->in_batch[k] = true;
			b->rcpt[b->count++] = k;
		}
		e->batches++;
		d->in_flight++;
		s->in_flight++;
		s->ops.deliver(s->ops.ctx, b);
	}
	e->force = false;
}

static bool is_finished(const struct queue_entry *e)
{
	const struct queue_env *env = &e->env;
	for (size_t i = 0; i < env->rcpt_count; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];
		if (is_open(r) || owes_failure_notice(env, r) || owes_success_notice(env, r))
			return false;
	}
	return true;
}

static void process_entry(struct queue_sched *s, struct queue_entry *e, int64_t now)
{
	if (e->removing || e->forgotten)
		return;
	expire(s, e, now);
	if (e->dirty && !e->writing && !e->noticing && e->batches == 0 && is_finished(e)) {
		/* Everything final and no notice owed: removing the envelope is
		 * the one durable step left (writing the final states first
		 * would add two fsyncs and change nothing after a crash). */
		e->dirty = false;
		e->removing = true;
		s->ops.remove(s->ops.ctx, e, e->env.id);
		return;
	}
	if (e->dirty && !e->writing && now >= e->io_retry_at) {
		start_write(s, e);
		return;
	}
	if (e->writing)
		return;
	if (start_notice(s, e, now))
		return;
	if (e->noticing)
		return;
	start_batches(s, e, now);
	if (e->batches == 0 && !e->dirty && is_finished(e)) {
		e->removing = true;
		s->ops.remove(s->ops.ctx, e, e->env.id);
	}
}

/* ---- public ---- */

void queue_sched_tick(struct queue_sched *s)
{
	if (s->in_tick)
		return;
	s->in_tick = true;
	s->limited = false;
	int64_t now = s->ops.now(s->ops.ctx);
	/* Index loop: callbacks may add entries (bounces) while we run. */
	for (size_t i = 0; i < s->count; i++)
		process_entry(s, s->entries[i], now);
	s->in_tick = false;
}

size_t queue_sched_flush(struct queue_sched *s, const char *domain)
{
	size_t touched = 0;
	char dom[QUEUE_SCHED_DOMAIN_MAX];
	for (size_t i = 0; i < s->count; i++) {
		struct queue_entry *e = s->entries[i];
		bool hit = false;
		for (size_t k = 0; k < e->env.rcpt_count; k++) {
			struct queue_rcpt *r = &e->env.rcpts[k];
			if (!is_open(r))
				continue;
			domain_of(r->addr, dom, sizeof(dom));
			if (domain != NULL && strcmp(dom, domain) != 0)
				continue;
			r->next_try = 0;
			hit = true;
		}
		if (hit) {
			e->force = true;
			touched++;
		}
	}
	for (size_t i = 0; i < s->dest_count; i++)
		if (domain == NULL || strcmp(s->dests[i].name, domain) == 0)
			queue_retry_dest_succeeded(&s->dests[i].retry);
	queue_sched_tick(s);
	return touched;
}

bool queue_sched_forget(struct queue_sched *s, const char *id)
{
	for (size_t i = 0; i < s->count; i++) {
		struct queue_entry *e = s->entries[i];
		if (strcmp(e->env.id, id) != 0)
			continue;
		if (e->batches > 0 || e->writing || e->noticing || e->removing)
			return false;
		drop_entry(s, e);
		return true;
	}
	return false;
}

void queue_sched_batch_done(struct queue_sched *s, struct queue_batch *b,
			    const struct queue_result *results, bool dest_failed)
{
	struct queue_entry *e = b->entry;
	int64_t now = s->ops.now(s->ops.ctx);
	struct queue_dest *d = dest_get(s, b->domain);
	KASSERT(d->in_flight > 0 && s->in_flight > 0 && e->batches > 0);
	d->in_flight--;
	s->in_flight--;
	e->batches--;
	bool progress = false;
	for (size_t k = 0; k < b->count; k++) {
		size_t i = b->rcpt[k];
		struct queue_rcpt *r = &e->env.rcpts[i];
		const struct queue_result *res = &results[k];
		e->in_batch[i] = false;
		set_text(&r->last_reply, res->reply);
		/* Remote-MTA goes with the reply it names: none for our own
		 * reasons (a later connect failure must not borrow the host of
		 * an earlier answer, RFC 3464 2.3.5). */
		set_text(&r->remote_mta, res->remote_mta);
		if (r->attempts < QUEUE_ATTEMPTS_MAX)
			r->attempts++;
		switch (res->outcome) {
		case QUEUE_OUT_DELIVERED:
		case QUEUE_OUT_RELAYED:
		case QUEUE_OUT_DSN_PASSED:
			r->state = QUEUE_RCPT_DELIVERED;
			e->relayed[i] = res->outcome == QUEUE_OUT_RELAYED;
			if (res->outcome == QUEUE_OUT_DSN_PASSED)
				r->dsn_sent = true;
			progress = true;
			break;
		case QUEUE_OUT_PERMFAIL:
			r->state = QUEUE_RCPT_FAILED;
			progress = true;
			break;
		case QUEUE_OUT_TEMPFAIL:
		case QUEUE_OUT_UNTRIED:
			if (queue_retry_is_expired(&s->policy, e->env.created, now)) {
				r->state = QUEUE_RCPT_FAILED;
				expired_one(e, r, now);
			} else {
				r->state = QUEUE_RCPT_DEFERRED;
				r->next_try =
					queue_retry_next(&s->policy, r->attempts, e->env.created, now);
			}
			break;
		}
	}
	/* A destination that cannot be reached holds its other messages
	 * back (they wait together instead of each hammering it). */
	if (dest_failed)
		queue_retry_dest_failed(&s->policy, &d->retry, now);
	else if (progress)
		queue_retry_dest_succeeded(&d->retry);
	e->dirty = true;
	struct batch_node *node = (struct batch_node *)b;
	if (node->prev)
		node->prev->next = node->next;
	else
		s->out = node->next;
	if (node->next)
		node->next->prev = node->prev;
	free(b->rcpt);
	free(node);
	process_entry(s, e, now);
	/* A slot came free: others may start, if any waited for one (a full
	 * scan per finished batch would be quadratic in the queue size). */
	if (s->limited)
		queue_sched_tick(s);
}

void queue_sched_write_done(struct queue_sched *s, struct queue_entry *e, bool ok)
{
	int64_t now = s->ops.now(s->ops.ctx);
	e->writing = false;
	if (!ok) {
		e->dirty = true;
		e->io_retry_at = now + QUEUE_SCHED_IO_RETRY_S;
		return;
	}
	process_entry(s, e, now);
}

void queue_sched_remove_done(struct queue_sched *s, struct queue_entry *e)
{
	drop_entry(s, e);
}

void queue_sched_notice_done(struct queue_sched *s, struct queue_entry *e, bool ok)
{
	int64_t now = s->ops.now(s->ops.ctx);
	e->noticing = false;
	if (ok) {
		for (size_t k = 0; k < e->notice_n; k++) {
			struct queue_rcpt *r = &e->env.rcpts[e->notice_idx[k]];
			if (e->notice_kind == QUEUE_NOTICE_DELAYED)
				r->delay_notified = true;
			else
				r->dsn_sent = true;
		}
		e->dirty = true;
	} else {
		e->io_retry_at = now + QUEUE_SCHED_IO_RETRY_S;
	}
	free(e->notice_idx);
	e->notice_idx = NULL;
	e->notice_n = 0;
	process_entry(s, e, now);
}

size_t queue_sched_count(const struct queue_sched *s)
{
	return s->count;
}

unsigned queue_sched_in_flight(const struct queue_sched *s)
{
	return s->in_flight;
}

const struct queue_env *queue_sched_find(const struct queue_sched *s, const char *id)
{
	for (size_t i = 0; i < s->count; i++)
		if (strcmp(s->entries[i]->env.id, id) == 0)
			return &s->entries[i]->env;
	return NULL;
}

int64_t queue_sched_oldest_created(const struct queue_sched *s)
{
	int64_t oldest = 0;
	for (size_t i = 0; i < s->count; i++)
		if (oldest == 0 || s->entries[i]->env.created < oldest)
			oldest = s->entries[i]->env.created;
	return oldest;
}
