/* loop_test: unit tests for core/loop.c: calls made from another thread
 * run on the loop's own thread, in order; a call made from inside a call
 * runs later, not inside; loop_stop joins the thread and runs what was
 * still queued; a loop never started is driven by its owner; and a
 * worker_pool_share handle delivers its completions to its own loop while
 * the jobs run on the shared pool's threads. A bounded wait turns a hang
 * into a failure. */
#include "core/loop.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/worker.h"

#define N_CALLS 1000

struct rec {
	struct loop *lp;
	atomic_int count;
	atomic_int wrong_thread;
	atomic_int out_of_order;
	int last; /* loop thread only */
	atomic_bool inner_ran;
	atomic_bool inside; /* set while a call runs */
	atomic_bool nested_inside;
};

struct call {
	struct rec *r;
	int seq;
};

static void counted(void *arg)
{
	struct call *c = arg;
	struct rec *r = c->r;
	if (!loop_is_current(r->lp))
		atomic_fetch_add(&r->wrong_thread, 1);
	if (c->seq != r->last + 1)
		atomic_fetch_add(&r->out_of_order, 1);
	r->last = c->seq;
	free(c);
	atomic_fetch_add(&r->count, 1);
}

static void wait_for(atomic_int *v, int want)
{
	for (int i = 0; i < 10000 && atomic_load(v) < want; i++)
		usleep(1000);
	assert_int_equal(atomic_load(v), want);
}

static void test_calls_run_on_loop_thread_in_order(void **state)
{
	(void)state;
	struct rec r = {0};
	r.lp = loop_new();
	loop_start(r.lp);
	assert_false(loop_is_current(r.lp));
	for (int i = 1; i <= N_CALLS; i++) {
		struct call *c = malloc(sizeof(*c));
		c->r = &r;
		c->seq = i;
		loop_call(r.lp, counted, c);
	}
	wait_for(&r.count, N_CALLS);
	assert_int_equal(atomic_load(&r.wrong_thread), 0);
	assert_int_equal(atomic_load(&r.out_of_order), 0);
	loop_free(&r.lp);
	assert_null(r.lp);
}

static void inner(void *arg)
{
	struct rec *r = arg;
	if (atomic_load(&r->inside))
		atomic_store(&r->nested_inside, true);
	atomic_store(&r->inner_ran, true);
	atomic_fetch_add(&r->count, 1);
}

static void outer(void *arg)
{
	struct rec *r = arg;
	atomic_store(&r->inside, true);
	loop_call(r->lp, inner, r); /* from the loop's own thread */
	atomic_store(&r->inside, false);
	atomic_fetch_add(&r->count, 1);
}

static void test_call_from_inside_runs_later(void **state)
{
	(void)state;
	struct rec r = {0};
	r.lp = loop_new();
	loop_start(r.lp);
	loop_call(r.lp, outer, &r);
	wait_for(&r.count, 2);
	assert_true(atomic_load(&r.inner_ran));
	assert_false(atomic_load(&r.nested_inside));
	loop_free(&r.lp);
}

static void test_stop_runs_queued_calls(void **state)
{
	(void)state;
	/* Never started: the owner drives it; stop runs the queue here. */
	struct rec r = {0};
	r.lp = loop_new();
	assert_true(loop_is_current(r.lp));
	for (int i = 1; i <= 10; i++) {
		struct call *c = malloc(sizeof(*c));
		c->r = &r;
		c->seq = i;
		loop_call(r.lp, counted, c);
	}
	assert_int_equal(atomic_load(&r.count), 0);
	loop_stop(r.lp);
	assert_int_equal(atomic_load(&r.count), 10);
	assert_int_equal(atomic_load(&r.out_of_order), 0);
	/* A started loop: stop joins, nothing queued is lost. */
	struct rec r2 = {0};
	r2.lp = loop_new();
	loop_start(r2.lp);
	for (int i = 1; i <= N_CALLS; i++) {
		struct call *c = malloc(sizeof(*c));
		c->r = &r2;
		c->seq = i;
		loop_call(r2.lp, counted, c);
	}
	loop_stop(r2.lp);
	assert_int_equal(atomic_load(&r2.count), N_CALLS);
	loop_free(&r2.lp);
	loop_free(&r.lp);
}

struct job {
	struct loop *lp;
	struct worker_pool *h;
	atomic_int ran_off_loop, done_on_loop, done_elsewhere;
};

static void job_fn(void *arg)
{
	struct job *j = arg;
	if (!loop_is_current(j->lp))
		atomic_fetch_add(&j->ran_off_loop, 1);
}

static void job_done(void *arg)
{
	struct job *j = arg;
	if (loop_is_current(j->lp))
		atomic_fetch_add(&j->done_on_loop, 1);
	else
		atomic_fetch_add(&j->done_elsewhere, 1);
}

/* On the handle's own loop, as sessions submit. */
static void submit_many(void *arg)
{
	struct job *j = arg;
	for (int i = 0; i < 100; i++)
		worker_submit(j->h, job_fn, job_done, j);
}

static void test_shared_pool_handle(void **state)
{
	(void)state;
	struct loop *main_lp = loop_new();
	struct worker_pool *pool = worker_pool_new(loop_base(main_lp), 2);
	struct job j = {0};
	j.lp = loop_new();
	struct worker_pool *h = worker_pool_share(pool, loop_base(j.lp));
	j.h = h;
	loop_start(j.lp);
	loop_call(j.lp, submit_many, &j);
	wait_for(&j.done_on_loop, 100);
	assert_int_equal(atomic_load(&j.ran_off_loop), 100);
	assert_int_equal(atomic_load(&j.done_elsewhere), 0);
	assert_int_equal(worker_pending(pool), 0);
	loop_stop(j.lp);
	assert_int_equal(worker_pending(h), 0);
	worker_pool_free(&pool);
	worker_pool_free(&h);
	assert_null(h);
	loop_free(&j.lp);
	loop_free(&main_lp);
}

int main(void)
{
	if (evthread_use_pthreads() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_calls_run_on_loop_thread_in_order),
		cmocka_unit_test(test_call_from_inside_runs_later),
		cmocka_unit_test(test_stop_runs_queued_calls),
		cmocka_unit_test(test_shared_pool_handle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
