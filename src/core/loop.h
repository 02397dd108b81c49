/* loop: an event loop on a thread of its own, and calls into it from any
 * thread.
 *
 * The server runs one loop per core (config "threads"): loop 0 is the
 * main thread's loop (signals, the queue, the control socket), the others
 * run sessions. Everything a session touches belongs to its loop; what
 * one loop wants done on another goes through loop_call(): fn(arg) runs
 * on the target loop's thread, in the order of the calls. Requires
 * evthread_use_pthreads() before the bases are made. Knows no protocol. */
#ifndef KONVERT_CORE_LOOP_H
#define KONVERT_CORE_LOOP_H

#include <stdbool.h>

struct event_base;
struct loop;

typedef void (*loop_fn)(void *arg);

/* A loop over a new event_base (owned). The thread starts with
 * loop_start; a loop never started is driven by its owner (loop 0:
 * event_base_dispatch on the main thread). Aborts on failure (startup). */
struct loop *loop_new(void);

struct event_base *loop_base(const struct loop *lp);

/* Starts the thread running event_base_dispatch until loop_stop. */
void loop_start(struct loop *lp);

/* Runs fn(arg) on the loop's thread soon; callable from any thread,
 * including the loop's own (then it still runs later, never inside this
 * call). Calls run in the order they were made. */
void loop_call(struct loop *lp, loop_fn fn, void *arg);

/* True on the loop's own thread (the thread that dispatches it). */
bool loop_is_current(const struct loop *lp);

/* Makes the thread leave its dispatch and joins it (a started loop), then
 * runs the calls still queued on the calling thread, so that none is
 * lost. The base stays until loop_free. */
void loop_stop(struct loop *lp);

/* Frees the loop and its base (stopped first when still running; queued
 * calls run). The caller frees every event of the base before. */
void loop_free(struct loop **pp);

#endif
