/* Tests for queue_sched with recording ops and a fake clock: batching per
 * destination, retries and expiry, destination holds, limits, notices
 * only after the states are written, removal when done, flush. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "queue/queue_sched.h"

#define MAXREC 64

struct rec {
	int64_t now;
	struct queue_batch *batches[MAXREC];
	size_t nbatch;
	struct queue_entry *writes[MAXREC];
	size_t nwrite;
	struct queue_entry *removes[MAXREC];
	char removed_ids[MAXREC][32];
	size_t nremove;
	struct queue_entry *notices[MAXREC];
	enum queue_notice_kind kinds[MAXREC];
	size_t notice_n[MAXREC];
	size_t nnotice;
};

static void op_deliver(void *ctx, struct queue_batch *b)
{
	struct rec *r = ctx;
	assert_true(r->nbatch < MAXREC);
	r->batches[r->nbatch++] = b;
}

static void op_write(void *ctx, struct queue_entry *e, const struct queue_env *env)
{
	(void)env;
	struct rec *r = ctx;
	r->writes[r->nwrite++] = e;
}

static void op_remove(void *ctx, struct queue_entry *e, const char *id)
{
	struct rec *r = ctx;
	(void)snprintf(r->removed_ids[r->nremove], sizeof(r->removed_ids[0]), "%s", id);
	r->removes[r->nremove++] = e;
}

static void op_notice(void *ctx, struct queue_entry *e, const struct queue_env *env,
		      enum queue_notice_kind kind, const size_t *idx, size_t n)
{
	(void)env;
	(void)idx;
	struct rec *r = ctx;
	r->notices[r->nnotice] = e;
	r->kinds[r->nnotice] = kind;
	r->notice_n[r->nnotice++] = n;
}

static int64_t op_now(void *ctx)
{
	return ((struct rec *)ctx)->now;
}

static const unsigned schedule[] = {300, 600};

struct fx {
	struct rec rec;
	struct queue_sched *s;
	struct queue_retry_policy policy;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->rec.now = 1000000;
	struct queue_sched_ops ops = {op_deliver, op_write, op_remove, op_notice, op_now, &f->rec};
	queue_retry_policy_init(&f->policy, schedule, 2, 5 * 86400, 4 * 3600);
	struct queue_sched_limits lim = {.total = 10, .per_dest = 2};
	f->s = queue_sched_new(&ops, &f->policy, &lim);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	/* Batches never answered are the scheduler's to free. */
	queue_sched_free(&f->s);
	free(f);
	return 0;
}

static void add_msg(struct fx *f, const char *id, const char *sender, const char *const *rcpts,
		    size_t n)
{
	struct queue_env env;
	queue_env_init(&env);
	(void)snprintf(env.id, sizeof(env.id), "%s", id);
	env.sender = strdup(sender);
	env.created = f->rec.now;
	env.size = 10;
	for (size_t i = 0; i < n; i++)
		assert_non_null(queue_env_add_rcpt(&env, rcpts[i]));
	queue_sched_add(f->s, &env);
	queue_env_fini(&env);
}

/* Completes batch i with one outcome for every recipient. */
static void finish_batch(struct fx *f, size_t i, enum queue_outcome o, const char *reply,
			 bool dest_failed)
{
	struct queue_batch *b = f->rec.batches[i];
	struct queue_result res[16];
	for (size_t k = 0; k < b->count; k++)
		res[k] = (struct queue_result){o, reply, "mx.far.test"};
	f->rec.batches[i] = NULL;
	queue_sched_batch_done(f->s, b, res, dest_failed);
}

static void finish_writes(struct fx *f)
{
	while (f->rec.nwrite > 0) {
		struct queue_entry *e = f->rec.writes[--f->rec.nwrite];
		queue_sched_write_done(f->s, e, true);
	}
}

static void test_batches_per_destination(void **state)
{
	struct fx *f = *state;
	const char *r[] = {"a@one.test", "b@two.test", "c@ONE.test"};
	add_msg(f, "M1", "s@here.test", r, 3);
	queue_sched_tick(f->s);
	assert_int_equal(f->rec.nbatch, 2);
	struct queue_batch *b0 = f->rec.batches[0];
	assert_string_equal(b0->domain, "one.test");
	assert_int_equal(b0->count, 2); /* a and c: one transaction */
	assert_string_equal(f->rec.batches[1]->domain, "two.test");
	assert_int_equal(queue_sched_in_flight(f->s), 2);
	/* Nothing more starts while they run. */
	queue_sched_tick(f->s);
	assert_int_equal(f->rec.nbatch, 2);

	finish_batch(f, 0, QUEUE_OUT_DELIVERED, "250 ok", false);
	assert_int_equal(f->rec.nwrite, 1);
	finish_writes(f);
	assert_int_equal(f->rec.nremove, 0);
	finish_batch(f, 1, QUEUE_OUT_DELIVERED, "250 ok", false);
	finish_writes(f);
	assert_int_equal(f->rec.nremove, 1);
	assert_string_equal(f->rec.removed_ids[0], "M1");
	queue_sched_remove_done(f->s, f->rec.removes[0]);
	assert_int_equal(queue_sched_count(f->s), 0);
}

static void test_retry_then_bounce_after_write(void **state)
{
	struct fx *f = *state;
	const char *r[] = {"a@one.test"};
	add_msg(f, "M2", "s@here.test", r, 1);
	queue_sched_tick(f->s);
	finish_batch(f, 0, QUEUE_OUT_TEMPFAIL, "451 4.3.0 later", false);
	const struct queue_env *env = queue_sched_find(f->s, "M2");
	assert_int_equal(env->rcpts[0].state, QUEUE_RCPT_DEFERRED);
	assert_int_equal(env->rcpts[0].next_try, f->rec.now + 300);
	assert_string_equal(env->rcpts[0].last_reply, "451 4.3.0 later");
	finish_writes(f);
	f->rec.now += 299;
	queue_sched_tick(f->s);
	assert_int_equal(f->rec.nbatch, 1); /* not yet */
	f->rec.now += 1;
	queue_sched_tick(f->s);
	assert_int_equal(f->rec.nbatch, 2);
	finish_batch(f, 1, QUEUE_OUT_PERMFAIL, "550 5.1.1 unknown", false);
	/* The failure is written before the bounce goes out. */
	assert_int_equal(f->rec.nnotice, 0);
	assert_int_equal(f->rec.nwrite, 1);
	finish_writes(f);
	assert_int_equal(f->rec.nnotice, 1);
	assert_int_equal(f->rec.kinds[0], QUEUE_NOTICE_FAILED);
	assert_int_equal(f->rec.nremove, 0);
	queue_sched_notice_done(f->s, f->rec.notices[0], true);
	assert_true(env->rcpts[0].dsn_sent);
	finish_writes(f);
	assert_int_equal(f->rec.nremove, 1);
	queue_sched_remove_done(f->s, f->rec.removes[0]);
}

/* NOTIFY=SUCCESS: "relayed" from us when the next hop has no DSN, none
 * when it has (it reports itself). */
static void test_success_notices(void **state)
{
	struct fx *f = *state;
	const char *r[] = {"a@one.test"};
	add_msg(f, "S1", "s@here.test", r, 1);
	add_msg(f, "S2", "s@here.test", r, 1);
	((struct queue_env *)queue_sched_find(f->s, "S1"))->rcpts[0].notify = QUEUE_NOTIFY_SUCCESS;
	((struct queue_env *)queue_sched_find(f->s, "S2"))->rcpts[0].notify = QUEUE_NOTIFY_SUCCESS;
	queue_sched_tick(f->s);
	assert_int_equal(f->rec.nbatch, 2);
	const char *first = f->rec.batches[0]->env->id;
	bool s1_first = strcmp(first, "S1") == 0;
	finish_batch(f, s1_first ? 0 : 1, QUEUE_OUT_RELAYED, "250 ok", false);
	finish_batch(f, s1_first ? 1 : 0, QUEUE_OUT_DSN_PASSED, "250 ok", false);
	finish_writes(f);
	assert_int_equal(f->rec.nnotice, 1);
	assert_int_equal(f->rec.kinds[0], QUEUE_NOTICE_RELAYED);
	assert_int_equal(f->rec.nremove, 1);
	assert_string_equal(f->rec.removed_ids[0], "S2");
}

static void test_null_sender_never_bounced(void **state)
{
	struct fx *f = *state;
	const char *r[] = {"a@one.test"};
	add_msg(f, "M3", "", r, 1);
	queue_sched_tick(f->s);
	finish_batch(f, 0, QUEUE_OUT_PERMFAIL, "550 no", false);
	finish_writes(f);
	assert_int_equal(f->rec.nnotice, 0);
	assert_int_equal(f->rec.nremove, 1);
	queue_sched_remove_done(f->s, f->rec.removes[0]);
}

static void test_expiry_and_delay_warning(void **state)
{
	struct fx *f = *state;
	const char *r[] = {"a@one.test"};
	add_msg(f, "M4", "s@here.test", r, 1);
	queue_sched_tick(f->s);
	finish_batch(f, 0, QUEUE_OUT_TEMPFAIL, "421 busy", true);
	finish_writes(f);
	/* 4 h later a delay warning (default NOTIFY includes DELAY). */
	f->rec.now += 4 * 3600;
	queue_sched_tick(f->s);
	size_t b = f->rec.nbatch;
	assert_int_equal(f->rec.nnotice, 1);
	assert_int_equal(f->rec.kinds[0], QUEUE_NOTICE_DELAYED);
	queue_sched_notice_done(f->s, f->rec.notices[0], true);
	finish_writes(f);
	const struct queue_env *env = queue_sched_find(f->s, "M4");
	assert_true(env->rcpts[0].delay_notified);
	for (size_t i = 1; i < b; i++)
		if (f->rec.batches[i] != NULL)
			finish_batch(f, i, QUEUE_OUT_TEMPFAIL, "421 busy", true);
	finish_writes(f);
	/* Past the lifetime: failed, bounced. */
	f->rec.now += 5 * 86400;
	queue_sched_tick(f->s);
	for (size_t i = 0; i < f->rec.nbatch; i++)
		if (f->rec.batches[i] != NULL)
			finish_batch(f, i, QUEUE_OUT_TEMPFAIL, "421 busy", true);
	finish_writes(f);
	queue_sched_tick(f->s);
	finish_writes(f);
	assert_int_equal(env->rcpts[0].state, QUEUE_RCPT_FAILED);
	assert_int_equal(f->rec.kinds[f->rec.nnotice - 1], QUEUE_NOTICE_FAILED);
}

static void test_destination_hold_and_flush(void **state)
{
	struct fx *f = *state;
	const char *r[] = {"a@down.test"};
	add_msg(f, "M5", "s@here.test", r, 1);
	queue_sched_tick(f->s);
	assert_int_equal(f->rec.nbatch, 1);
	finish_batch(f, 0, QUEUE_OUT_UNTRIED, "connect: refused", true);
	finish_writes(f);
	/* A new message for the failing destination waits with the others. */
	add_msg(f, "M6", "s@here.test", r, 1);
	queue_sched_tick(f->s);
	assert_int_equal(f->rec.nbatch, 1);
	f->rec.now += QUEUE_RETRY_DEST_HOLD_BASE;
	queue_sched_tick(f->s);
	assert_int_equal(f->rec.nbatch, 2); /* M6 after the hold */
	finish_batch(f, 1, QUEUE_OUT_UNTRIED, "connect: refused", true);
	finish_writes(f);
	/* Flush ignores holds and retry times (queue flush, ETRN). */
	assert_int_equal(queue_sched_flush(f->s, "other.test"), 0);
	assert_int_equal(f->rec.nbatch, 2);
	assert_int_equal(queue_sched_flush(f->s, "down.test"), 2);
	assert_int_equal(f->rec.nbatch, 4);
}

static void test_limits(void **state)
{
	struct fx *f = *state;
	const char *r[] = {"a@busy.test"};
	for (int i = 0; i < 5; i++) {
		char id[8];
		(void)snprintf(id, sizeof(id), "L%d", i);
		add_msg(f, id, "s@here.test", r, 1);
	}
	queue_sched_tick(f->s);
	assert_int_equal(f->rec.nbatch, 2); /* per_dest = 2 */
	finish_batch(f, 0, QUEUE_OUT_DELIVERED, "250", false);
	assert_int_equal(f->rec.nbatch, 3); /* a slot came free */
}

/* Many destinations in flight at once: the destination table grows while
 * batches are out, and every batch keeps its own domain. */
static void test_many_destinations(void **state)
{
	struct fx *f = *state;
	char addr[40];
	const char *r[1] = {addr};
	struct queue_sched_limits lim = {.total = 64, .per_dest = 2};
	struct queue_sched_ops ops = {op_deliver, op_write, op_remove, op_notice, op_now, &f->rec};
	queue_sched_free(&f->s);
	f->s = queue_sched_new(&ops, &f->policy, &lim);
	for (int i = 0; i < 40; i++) {
		char id[8];
		(void)snprintf(addr, sizeof(addr), "x@d%02d.test", i);
		(void)snprintf(id, sizeof(id), "N%02d", i);
		add_msg(f, id, "s@here.test", r, 1);
	}
	queue_sched_tick(f->s);
	assert_int_equal(f->rec.nbatch, 40);
	for (size_t i = 0; i < 40; i++) {
		char want[16];
		(void)snprintf(want, sizeof(want), "d%02zu.test", i);
		bool seen = false;
		for (size_t k = 0; k < 40; k++)
			seen = seen || strcmp(f->rec.batches[k]->domain, want) == 0;
		assert_true(seen);
	}
	for (size_t i = 0; i < 40; i++)
		finish_batch(f, i, QUEUE_OUT_DELIVERED, "250 ok", false);
	assert_int_equal(queue_sched_in_flight(f->s), 0);
}

static void test_forget(void **state)
{
	struct fx *f = *state;
	const char *r[] = {"a@one.test"};
	add_msg(f, "M7", "s@here.test", r, 1);
	queue_sched_tick(f->s);
	assert_false(queue_sched_forget(f->s, "M7")); /* busy */
	finish_batch(f, 0, QUEUE_OUT_TEMPFAIL, "451", false);
	finish_writes(f);
	assert_true(queue_sched_forget(f->s, "M7"));
	assert_null(queue_sched_find(f->s, "M7"));
	assert_false(queue_sched_forget(f->s, "nope"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_batches_per_destination, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_then_bounce_after_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_sender_never_bounced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_success_notices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_and_delay_warning, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destination_hold_and_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_destinations, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
