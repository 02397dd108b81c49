/* loop: an event_base, the thread that dispatches it, and a mutex-guarded
 * FIFO of calls that one persistent event drains on that thread; other
 * threads wake it with event_active() (allowed with evthread). */
#include "core/loop.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/kassert.h"

struct loop_call {
	loop_fn fn;
	void *arg; /* borrowed */
	struct loop_call *next;
};

struct loop {
	struct event_base *base; /* owned */
	struct event *wake; /* owned: runs the queued calls */
	pthread_t thread;
	bool started;
	pthread_t owner; /* the dispatching thread, once known */
	bool owner_known;
	pthread_mutex_t mu;
	struct loop_call *head, *tail; /* owned FIFO, under mu */
};

/* Takes the whole FIFO and runs it; calls made meanwhile wake us again. */
static void run_calls(struct loop *lp)
{
	pthread_mutex_lock(&lp->mu);
	struct loop_call *c = lp->head;
	lp->head = lp->tail = NULL;
	pthread_mutex_unlock(&lp->mu);
	while (c != NULL) {
		struct loop_call *next = c->next;
		loop_fn fn = c->fn;
		void *arg = c->arg;
		free(c);
		fn(arg);
		c = next;
	}
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct loop *lp = arg;
	if (!lp->owner_known) {
		lp->owner = pthread_self();
		lp->owner_known = true;
	}
	run_calls(lp);
}

struct loop *loop_new(void)
{
	struct loop *lp = xcalloc(1, sizeof(*lp));
	lp->base = event_base_new();
	KASSERT(lp->base != NULL);
	lp->wake = event_new(lp->base, -1, EV_PERSIST, wake_cb, lp);
	KASSERT(lp->wake != NULL);
	/* Fires only through event_active (loop_call). */
	KASSERT(pthread_mutex_init(&lp->mu, NULL) == 0);
	return lp;
}

struct event_base *loop_base(const struct loop *lp)
{
	return lp->base;
}

static void *loop_main(void *arg)
{
	struct loop *lp = arg;
	/* The wake event has no fd: without this flag an idle base would
	 * count as empty and the loop would end at once. */
	(void)event_base_loop(lp->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

void loop_start(struct loop *lp)
{
	KASSERT(!lp->started);
	lp->started = true;
	KASSERT(pthread_create(&lp->thread, NULL, loop_main, lp) == 0);
	lp->owner = lp->thread;
	lp->owner_known = true;
}

void loop_call(struct loop *lp, loop_fn fn, void *arg)
{
	struct loop_call *c = xcalloc(1, sizeof(*c));
	c->fn = fn;
	c->arg = arg;
	pthread_mutex_lock(&lp->mu);
	if (lp->tail)
		lp->tail->next = c;
	else
		lp->head = c;
	lp->tail = c;
	pthread_mutex_unlock(&lp->mu);
	event_active(lp->wake, EV_READ, 0);
}

bool loop_is_current(const struct loop *lp)
{
	if (lp->owner_known)
		return pthread_equal(lp->owner, pthread_self()) != 0;
	return !lp->started; /* loop 0 before its first call: the main thread */
}

static void stop_cb(void *arg)
{
	struct loop *lp = arg;
	(void)event_base_loopbreak(lp->base);
}

void loop_stop(struct loop *lp)
{
	if (lp->started) {
		loop_call(lp, stop_cb, lp);
		(void)pthread_join(lp->thread, NULL);
		lp->started = false;
	}
	/* Whatever was queued behind the stop runs here, on our thread. */
	for (;;) {
		pthread_mutex_lock(&lp->mu);
		bool empty = lp->head == NULL;
		pthread_mutex_unlock(&lp->mu);
		if (empty)
			break;
		run_calls(lp);
	}
}

void loop_free(struct loop **pp)
{
	struct loop *lp = *pp;
	if (lp == NULL)
		return;
	loop_stop(lp);
	event_free(lp->wake);
	event_base_free(lp->base);
	pthread_mutex_destroy(&lp->mu);
	free(lp);
	*pp = NULL;
}
