/* worker_test: unit tests for core/worker.c on a real libevent loop (with
 * evthread_use_pthreads()). Jobs run off the loop thread, every done
 * callback runs on it, worker_pending() counts jobs whose done has not run
 * yet, FIFO order with one thread, done may submit again, and freeing the
 * pool runs queued jobs but drops their done callbacks. A watchdog timer
 * turns a hang into a test failure. */
#include "core/worker.h"

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
#include <string.h>

#include <cmocka.h>

#define WATCHDOG_S 60

struct fixture {
	struct event_base *base;
	struct event *watchdog;
	bool timed_out;
	pthread_t loop_thread;
};

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct fixture *fx = arg;
	fx->timed_out = true;
	(void)event_base_loopbreak(fx->base);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (fx == NULL)
		return -1;
	fx->base = event_base_new();
	if (fx->base == NULL) {
		free(fx);
		return -1;
	}
	fx->watchdog = evtimer_new(fx->base, watchdog_cb, fx);
	struct timeval tv = { .tv_sec = WATCHDOG_S };
	if (fx->watchdog == NULL || evtimer_add(fx->watchdog, &tv) != 0)
		return -1;
	fx->loop_thread = pthread_self();
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	event_free(fx->watchdog);
	event_base_free(fx->base);
	free(fx);
	return 0;
}

/* Runs the loop until a callback breaks it; fails on the watchdog. */
static void run_loop(struct fixture *fx)
{
	assert_int_equal(event_base_dispatch(fx->base), 0);
	assert_false(fx->timed_out);
}

/* ---- many jobs ---- */

#define MANY_JOBS 1000

struct many {
	struct fixture *fx;
	struct worker_pool *wp;
	atomic_uint ran; /* fn calls, any thread */
	atomic_uint ran_on_loop; /* fn calls on the loop thread (must stay 0) */
	unsigned done; /* loop thread only */
	unsigned done_off_loop;
	unsigned pending_mismatch;
};

struct many_job {
	struct many *m;
	unsigned index;
	bool ran;
	bool done;
};

static void many_fn(void *arg)
{
	struct many_job *j = arg;
	if (pthread_equal(pthread_self(), j->m->fx->loop_thread))
		atomic_fetch_add(&j->m->ran_on_loop, 1);
	j->ran = true;
	atomic_fetch_add(&j->m->ran, 1);
}

static void many_done(void *arg)
{
	struct many_job *j = arg;
	struct many *m = j->m;
	if (!pthread_equal(pthread_self(), m->fx->loop_thread))
		m->done_off_loop++;
	/* fn finished before done, and done runs once */
	if (!j->ran || j->done)
		m->pending_mismatch++;
	j->done = true;
	m->done++;
	/* this job no longer counts */
	if (worker_pending(m->wp) != MANY_JOBS - m->done)
		m->pending_mismatch++;
	if (m->done == MANY_JOBS)
		(void)event_base_loopbreak(m->fx->base);
}

struct many_case {
	const char *name;
	unsigned threads;
};

static const struct many_case many_cases[] = {
	{ .name = "one thread", .threads = 1 },
	{ .name = "four threads", .threads = 4 },
	{ .name = "sixteen threads", .threads = 16 },
};

static void test_many_jobs(void **state)
{
	struct fixture *fx = *state;

	for (size_t c = 0; c < sizeof(many_cases) / sizeof(many_cases[0]);
	     c++) {
		struct many m = { .fx = fx };
		struct many_job *jobs = calloc(MANY_JOBS, sizeof(*jobs));

		assert_non_null(jobs);
		m.wp = worker_pool_new(fx->base, many_cases[c].threads);
		assert_non_null(m.wp);
		assert_int_equal(worker_pending(m.wp), 0);
		for (unsigned i = 0; i < MANY_JOBS; i++) {
			jobs[i] = (struct many_job){ .m = &m, .index = i };
			worker_submit(m.wp, many_fn, many_done, &jobs[i]);
			/* done cannot have run: the loop is not running */
			assert_int_equal(worker_pending(m.wp), i + 1);
		}
		run_loop(fx);
		assert_int_equal(atomic_load(&m.ran), MANY_JOBS);
		assert_int_equal(atomic_load(&m.ran_on_loop), 0);
		assert_int_equal(m.done, MANY_JOBS);
		assert_int_equal(m.done_off_loop, 0);
		assert_int_equal(m.pending_mismatch, 0);
		assert_int_equal(worker_pending(m.wp), 0);
		for (unsigned i = 0; i < MANY_JOBS; i++)
			assert_true(jobs[i].done);
		worker_pool_free(&m.wp);
		assert_null(m.wp);
		free(jobs);
	}
}

/* ---- FIFO with one thread ---- */

#define FIFO_JOBS 200

struct fifo {
	struct fixture *fx;
	unsigned order[FIFO_JOBS]; /* written by the single worker */
	unsigned next;
	unsigned done_order[FIFO_JOBS];
	unsigned done_next;
};

struct fifo_job {
	struct fifo *f;
	unsigned index;
};

static void fifo_fn(void *arg)
{
	struct fifo_job *j = arg;
	j->f->order[j->f->next++] = j->index;
}

static void fifo_done(void *arg)
{
	struct fifo_job *j = arg;
	j->f->done_order[j->f->done_next++] = j->index;
	if (j->f->done_next == FIFO_JOBS)
		(void)event_base_loopbreak(j->f->fx->base);
}

static void test_fifo_one_thread(void **state)
{
	struct fixture *fx = *state;
	struct fifo *f = calloc(1, sizeof(*f));
	struct fifo_job jobs[FIFO_JOBS];

	assert_non_null(f);
	f->fx = fx;
	struct worker_pool *wp = worker_pool_new(fx->base, 1);
	for (unsigned i = 0; i < FIFO_JOBS; i++) {
		jobs[i] = (struct fifo_job){ .f = f, .index = i };
		worker_submit(wp, fifo_fn, fifo_done, &jobs[i]);
	}
	run_loop(fx);
	worker_pool_free(&wp);
	/* The join in worker_pool_free orders the worker's writes before
	 * these reads. */
	assert_int_equal(f->next, FIFO_JOBS);
	assert_int_equal(f->done_next, FIFO_JOBS);
	for (unsigned i = 0; i < FIFO_JOBS; i++)
		assert_int_equal(f->order[i], i);
	free(f);
}

/* ---- done submits the next job ---- */

#define CHAIN_LEN 100

struct chain {
	struct fixture *fx;
	struct worker_pool *wp;
	unsigned fn_calls; /* one job at a time: no race */
	unsigned done_calls;
	unsigned bad_pending;
};

static void chain_fn(void *arg)
{
	struct chain *ch = arg;
	ch->fn_calls++;
}

static void chain_done(void *arg)
{
	struct chain *ch = arg;
	ch->done_calls++;
	if (worker_pending(ch->wp) != 0)
		ch->bad_pending++;
	if (ch->done_calls == CHAIN_LEN) {
		(void)event_base_loopbreak(ch->fx->base);
		return;
	}
	worker_submit(ch->wp, chain_fn, chain_done, ch);
	if (worker_pending(ch->wp) != 1)
		ch->bad_pending++;
}

static void test_submit_from_done(void **state)
{
	struct fixture *fx = *state;
	struct chain ch = { .fx = fx };

	ch.wp = worker_pool_new(fx->base, 3);
	worker_submit(ch.wp, chain_fn, chain_done, &ch);
	run_loop(fx);
	worker_pool_free(&ch.wp);
	assert_int_equal(ch.fn_calls, CHAIN_LEN);
	assert_int_equal(ch.done_calls, CHAIN_LEN);
	assert_int_equal(ch.bad_pending, 0);
}

/* ---- free with queued jobs ---- */

#define DROP_JOBS 50

struct drop {
	atomic_uint ran;
	unsigned done;
};

static void drop_fn(void *arg)
{
	struct drop *d = arg;
	atomic_fetch_add(&d->ran, 1);
}

static void drop_done(void *arg)
{
	struct drop *d = arg;
	d->done++;
}

/* worker.h: worker_pool_free "finishes queued jobs (their done callbacks
 * are dropped)". After the free nothing of the pool may stay in the
 * event_base: an event left there points at a freed job and pool (a later
 * loop run would touch freed memory, event_base_free would leak it).
 *
 * BUG (worker.c, found by this test): worker_main() calls event_active()
 * for every job it finishes, also while the pool is stopping, and
 * worker_pool_free() never frees those jobs or their events. They stay
 * active in the base: leaked, and a later dispatch would run
 * job_done_cb() on freed memory (job->wp->pending--). */
static void test_free_drops_done(void **state)
{
	struct fixture *fx = *state;
	struct drop d = { .done = 0 };
	int before = event_base_get_num_events(fx->base,
					       EVENT_BASE_COUNT_ACTIVE);

	struct worker_pool *wp = worker_pool_new(fx->base, 2);
	for (unsigned i = 0; i < DROP_JOBS; i++)
		worker_submit(wp, drop_fn, drop_done, &d);
	worker_pool_free(&wp);
	assert_null(wp);
	assert_int_equal(atomic_load(&d.ran), DROP_JOBS);
	assert_int_equal(d.done, 0);
	int after = event_base_get_num_events(fx->base,
					      EVENT_BASE_COUNT_ACTIVE);
	assert_int_equal(after, before); /* fails: see BUG above */
}

int main(void)
{
	if (evthread_use_pthreads() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_many_jobs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fifo_one_thread, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_submit_from_done, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_free_drops_done, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
