/* session: the one session skeleton under every protocol front-end (SMTP,
 * POP3, POP2): how a client session lives and dies, apart from what its
 * commands mean. The core owns
 *  - the connection (net/conn) and its one event callback;
 *  - the line reader and the input loop: a complete line restarts the
 *    command deadline, goes to the protocol, and is wiped afterwards when
 *    it may hold a secret; raw message bytes (SMTP DATA) likewise;
 *  - reading on or off: off while the protocol waits for its own work (a
 *    worker job, a login check or delay) or produces a long reply, and
 *    while the client does not read our output (above output_high);
 *    buffered input waits and is taken up when the protocol says so;
 *  - deadlines: the command deadline set at start, restarted per line,
 *    never blamed on the client while the protocol works;
 *  - the session list and count of the env, the session limit slot, the
 *    metrics gauge and the "event=disconnect" log line;
 *  - "free after the job": when the connection dies while work of the
 *    protocol is in flight the session is marked dead and freed when that
 *    work returns (session_job_done);
 *  - graceful shutdown: a goodbye for every session not busy; a busy one
 *    is left for a later call (the serve code repeats it).
 *
 * The protocol keeps its own state enum, command table and reply writer,
 * and tells the core what it needs through struct session_ops. It embeds
 * struct session in its own session struct (the "owner") and hands that
 * struct over at session_start: the core frees it (free()) at the end,
 * after ops->release.
 *
 * Hooks run on the session's loop thread (the env's event base), never
 * from another thread. No hook may free the session: ending it is
 * session_close(), freeing it is the core's. Everything of one session
 * stays on its env->base; the list lives in the env of that loop. */
#ifndef KONVERT_NET_SESSION_H
#define KONVERT_NET_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "core/metrics.h"
#include "net/linereader.h"

struct conn;
struct event_base;
struct evbuffer;
struct sesslimit;
struct tls_server;

/* What the protocol's current state does with input (ops->mode). */
enum session_mode {
	SESSION_MODE_LINES, /* reading on: command lines go to ops->on_line */
	SESSION_MODE_BYTES, /* reading on: raw input goes to ops->on_bytes */
	/* Reading on, but input waits in the buffer: a TLS handshake, a
	 * closing session. */
	SESSION_MODE_HOLD,
	/* Reading off: a long reply is being produced (RETR); the deadlines
	 * run (a client that reads nothing times out). */
	SESSION_MODE_SENDING,
	/* Reading off: a worker job, a login check or the delay before a
	 * failure reply; no deadline fires (our slowness is not the
	 * client's fault). */
	SESSION_MODE_WORKING,
};

struct session_ops {
	const char *proto; /* "smtp", "pop3", "pop2": the log's proto= */
	/* Required: the mode of the owner's current state. */
	enum session_mode (*mode)(void *owner);
	/* Required: one input line (st LINEREADER_LINE: line, len bytes, NUL
	 * terminated but may contain NULs; valid during the call) or one line
	 * that was too long (st LINEREADER_TOO_LONG, already discarded). */
	void (*on_line)(void *owner, enum linereader_status st, const char *line, size_t len);
	/* Optional: whether a line holds a secret (asked before on_line, so a
	 * state change by the handler does not matter). The core wipes such
	 * a line from the reader's buffer after on_line. NULL: every line. */
	bool (*line_is_secret)(void *owner, const char *line, size_t len);
	/* Required for SESSION_MODE_BYTES: consume what it can of in.
	 * Returns true when its state changed (the core looks at the mode
	 * again), false when it needs more input. */
	bool (*on_bytes)(void *owner, struct evbuffer *in);
	/* Optional: the output buffer ran empty (pump a long reply). The core
	 * then takes buffered input. */
	void (*on_drained)(void *owner);
	/* Optional: the TLS handshake finished. The core then takes buffered
	 * input. */
	void (*on_tls_ready)(void *owner);
	/* Required: a deadline passed outside SESSION_MODE_WORKING. Logs and
	 * writes the protocol's timeout line if it can; the core closes. */
	void (*on_timeout)(void *owner);
	/* Required: work of the owner is in flight that points at it (a
	 * worker job, a password check): no goodbye now, and no free. */
	bool (*is_busy)(const void *owner);
	/* Required: the connection is gone. Drops pending replies (a login
	 * failure delay); returns true while work is still in flight, whose
	 * completion calls session_job_done(). */
	bool (*abandon)(void *owner);
	/* Required: shutdown goodbye. Drops pending replies (a login failure
	 * delay must not follow) and writes the goodbye line if it can (not
	 * inside a TLS handshake). The core logs and closes. */
	void (*goodbye)(void *owner);
	/* Required: the owner enters its closing state (no more commands). */
	void (*enter_closed)(void *owner);
	/* Required: state name for the log. */
	const char *(*state_name)(const void *owner);
	/* Required: the protocol's fields of the disconnect line, written to
	 * out ("messages=2", "user=a@b retrieved=1"). */
	void (*end_fields)(const void *owner, char *out, size_t size);
	/* Required: frees what the owner owns (transaction, login object),
	 * not the owner itself; the connection is still there. */
	void (*release)(void *owner);
};

struct session {
	const struct session_ops *ops; /* borrowed, static */
	void *owner; /* owned: the protocol session embedding this struct */
	const char *sid; /* borrowed: the owner's session id */
	struct conn *conn; /* owned */
	struct linereader lr;
	struct sesslimit *limits; /* borrowed, NULL when not counted */
	enum metrics_listener listener;
	size_t output_high; /* output bytes queued that stop the reading */
	bool out_blocked; /* reading paused until the client reads our replies */
	bool dead; /* connection gone; freed when the owner's work returns */
	struct session **list; /* borrowed: the env's list head */
	unsigned *live; /* borrowed: the env's count of live sessions */
	struct session *prev, *next; /* in *list */
};

struct session_params {
	const struct session_ops *ops;
	void *owner; /* ownership passes to the core (freed with free()) */
	const char *sid; /* must live as long as the session (in owner) */
	struct event_base *base;
	int fd; /* ownership passes to the connection */
	const struct sockaddr *peer;
	socklen_t peer_len;
	/* Non-NULL: implicit TLS from the first byte (conn_new_tls). */
	struct tls_server *tls;
	/* The env's list and count, updated by the core. */
	struct session **list;
	unsigned *live;
	/* Non-NULL: the session holds a slot, released once at the end. */
	struct sesslimit *limits;
	enum metrics_listener listener; /* gauge of live sessions */
	size_t line_max; /* the line reader's limit */
	size_t output_high;
};

/* Starts s (embedded in p->owner): the connection, the line reader, the
 * list entry, the count and the gauge. The protocol then logs its
 * connect line, greets or refuses, and sets the deadlines. */
void session_start(struct session *s, const struct session_params *p);

/* Sets the command deadline (and write timeout) and the TLS handshake
 * bound, in ms (0: off); see net/conn.h "Deadlines". */
void session_set_deadlines(struct session *s, unsigned command_ms, unsigned handshake_ms);

/* The line limit for the following lines (longer SASL responses). */
void session_set_line_max(struct session *s, size_t max);

/* The owner's state (and so ops->mode) changed: reading is paused or
 * resumed to match. Buffered input is not taken here: the owner calls
 * session_process_input() when it is ready for it. */
void session_state_changed(struct session *s);

/* Takes buffered input as far as the mode allows: lines to on_line,
 * bytes to on_bytes. Stops at SESSION_MODE_HOLD/SENDING/WORKING, when
 * the input runs out, above output_high, or when the session closes.
 * Call it after work of the owner ended (a job returned, a reply pump
 * finished). Never on a dead session. */
void session_process_input(struct session *s);

/* Ends the session: ops->enter_closed, then what is queued is flushed
 * and the connection closes; the session is freed on the next loop turn
 * (or, when busy, once session_job_done is called). Idempotent. */
void session_close(struct session *s);

/* True once the connection is gone while work of the owner ran. */
bool session_is_dead(const struct session *s);

/* Work of the owner returned (a worker job, a login check) and the owner
 * has dropped its record of it. Returns true when the session was dead:
 * it is freed now and the caller must not touch it; false otherwise (the
 * caller goes on, e.g. replies and calls session_process_input). */
bool session_job_done(struct session *s);

/* Shutdown of the sessions in list (the env's): every session neither
 * dead, closing nor busy gets its goodbye, a log line and is closed. Busy
 * ones are skipped: call again later (safe to repeat). */
void session_shutdown_all(struct session *list);

/* At exit, once no work is in flight: frees every session in *list. */
void session_free_all(struct session **list);

#endif
