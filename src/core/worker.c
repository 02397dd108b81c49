/* worker: fixed pool of pthreads fed from one mutex-protected FIFO. A job's
 * completion is handed back to the loop with event_active() on an event
 * made for the job, which libevent allows from other threads once
 * evthread_use_pthreads() is on. The pool knows nothing about what jobs do. */
#include "core/worker.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/kassert.h"

struct worker_pool;

struct worker_job {
	struct worker_pool *wp; /* borrowed */
	worker_fn fn;
	worker_fn done;
	void *arg; /* borrowed */
	struct event *ev; /* owned */
	struct worker_job *next; /* queue link, under mu */
	/* All jobs not yet done, loop thread only: freed by worker_pool_free
	 * when their done callback never ran. */
	struct worker_job *all_prev, *all_next;
};

struct worker_pool {
	struct event_base *base; /* borrowed */
	/* A shared handle (worker_pool_share): the pool whose threads and
	 * queue run our jobs (borrowed); NULL for a pool of its own. */
	struct worker_pool *owner;
	pthread_t *threads; /* owned */
	unsigned nthreads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct worker_job *head, *tail; /* owned queue */
	bool stopping;
	atomic_uint pending; /* changed on the loop thread only */
	struct worker_job *all; /* loop thread only: jobs whose done has not run */
};

static void all_unlink(struct worker_pool *wp, struct worker_job *job)
{
	if (job->all_prev)
		job->all_prev->all_next = job->all_next;
	else
		wp->all = job->all_next;
	if (job->all_next)
		job->all_next->all_prev = job->all_prev;
}

static void job_done_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct worker_job *job = arg;
	event_free(job->ev);
	atomic_fetch_sub(&job->wp->pending, 1);
	all_unlink(job->wp, job);
	worker_fn done = job->done;
	void *jarg = job->arg;
	free(job);
	done(jarg);
}

static void *worker_main(void *arg)
{
	struct worker_pool *wp = arg;
	for (;;) {
		pthread_mutex_lock(&wp->mu);
		while (wp->head == NULL && !wp->stopping)
			pthread_cond_wait(&wp->cv, &wp->mu);
		struct worker_job *job = wp->head;
		if (job == NULL) {
			pthread_mutex_unlock(&wp->mu);
			return NULL;
		}
		wp->head = job->next;
		if (wp->head == NULL)
			wp->tail = NULL;
		pthread_mutex_unlock(&wp->mu);
		job->fn(job->arg);
		event_active(job->ev, 0, 0);
	}
}

struct worker_pool *worker_pool_new(struct event_base *base, unsigned nthreads)
{
	struct worker_pool *wp = xcalloc(1, sizeof(*wp));
	wp->base = base;
	wp->nthreads = nthreads;
	wp->threads = xcalloc(nthreads, sizeof(pthread_t));
	KASSERT(pthread_mutex_init(&wp->mu, NULL) == 0);
	KASSERT(pthread_cond_init(&wp->cv, NULL) == 0);
	for (unsigned i = 0; i < nthreads; i++)
		KASSERT(pthread_create(&wp->threads[i], NULL, worker_main, wp) == 0);
	return wp;
}

void worker_pool_free(struct worker_pool **pp)
{
	struct worker_pool *wp = *pp;
	if (wp == NULL)
		return;
	if (wp->owner != NULL) {
		/* A handle: its jobs ran when the owner was freed (first). */
		while (wp->all != NULL) {
			struct worker_job *job = wp->all;
			wp->all = job->all_next;
			event_free(job->ev);
			free(job);
		}
		free(wp);
		*pp = NULL;
		return;
	}
	pthread_mutex_lock(&wp->mu);
	wp->stopping = true;
	pthread_cond_broadcast(&wp->cv);
	pthread_mutex_unlock(&wp->mu);
	for (unsigned i = 0; i < wp->nthreads; i++)
		(void)pthread_join(wp->threads[i], NULL);
	/* Every job has run by now; drop the completions never delivered. */
	while (wp->all != NULL) {
		struct worker_job *job = wp->all;
		wp->all = job->all_next;
		event_free(job->ev);
		free(job);
	}
	pthread_mutex_destroy(&wp->mu);
	pthread_cond_destroy(&wp->cv);
	free(wp->threads);
	free(wp);
	*pp = NULL;
}

void worker_submit(struct worker_pool *wp, worker_fn fn, worker_fn done, void *arg)
{
	struct worker_job *job = xcalloc(1, sizeof(*job));
	job->wp = wp;
	job->fn = fn;
	job->done = done;
	job->arg = arg;
	job->ev = event_new(wp->base, -1, 0, job_done_cb, job);
	KASSERT(job->ev != NULL);
	atomic_fetch_add(&wp->pending, 1);
	job->all_next = wp->all;
	if (wp->all)
		wp->all->all_prev = job;
	wp->all = job;
	struct worker_pool *q = wp->owner != NULL ? wp->owner : wp;
	pthread_mutex_lock(&q->mu);
	if (q->tail)
		q->tail->next = job;
	else
		q->head = job;
	q->tail = job;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

unsigned worker_pending(const struct worker_pool *wp)
{
	return atomic_load(&((struct worker_pool *)wp)->pending);
}

struct worker_pool *worker_pool_share(struct worker_pool *pool, struct event_base *base)
{
	KASSERT(pool->owner == NULL);
	struct worker_pool *wp = xcalloc(1, sizeof(*wp));
	wp->base = base;
	wp->owner = pool;
	return wp;
}
