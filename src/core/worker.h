/* worker: a small thread pool for work that must not run on the event loop
 * (fsync, password hashing, directory scans).
 *
 * worker_submit() queues fn(arg) on a worker thread; when it returns,
 * done(arg) runs on the event loop thread of the pool's event_base. arg is
 * borrowed by both; the caller keeps it alive until done runs. Requires
 * evthread_use_pthreads() before the event_base was created. */
#ifndef KONVERT_CORE_WORKER_H
#define KONVERT_CORE_WORKER_H

struct event_base;
struct worker_pool;

typedef void (*worker_fn)(void *arg);

/* Starts nthreads threads. Aborts on failure (startup only). */
struct worker_pool *worker_pool_new(struct event_base *base, unsigned nthreads);

/* A handle on pool for another event loop: its jobs run on pool's
 * threads, in pool's one queue, and their done callbacks run on base's
 * loop thread. worker_pending counts the handle's own jobs. Free every
 * handle after its pool (whose free runs the queued jobs). */
struct worker_pool *worker_pool_share(struct worker_pool *pool, struct event_base *base);

/* Finishes queued jobs (their done callbacks are dropped), joins threads.
 * For a handle: drops its undelivered completions (the pool is freed). */
void worker_pool_free(struct worker_pool **pp);

void worker_submit(struct worker_pool *wp, worker_fn fn, worker_fn done, void *arg);

/* Jobs queued or running (of this handle). Any thread (a snapshot). */
unsigned worker_pending(const struct worker_pool *wp);

#endif
