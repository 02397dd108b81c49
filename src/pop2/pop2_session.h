/* pop2_session: the POP2 server side of one connection (RFC 937) on the
 * same maildrops as POP3 (the same lock: a POP2 and a POP3 session never
 * hold one mailbox at once). Created by the serve code for each accepted
 * socket; the session frees itself when the connection ends.
 *
 * The state machine of RFC 937 is exported for the unit tests. */
#ifndef KONVERT_POP2_POP2_SESSION_H
#define KONVERT_POP2_POP2_SESSION_H

#include <stdbool.h>
#include <sys/socket.h>

struct event_base;
struct config;
struct userdb;
struct worker_pool;
struct sesslimit;
struct authn;
struct pop2_command;
struct session;

/* Process-wide objects a session borrows, owned by the serve code; cfg
 * and users are read through this struct at the time of use (replaced on
 * SIGHUP). */
struct pop2_session;

struct pop2_env {
	struct event_base *base;
	const struct config *cfg;
	const struct userdb *users; /* swapped on SIGHUP */
	struct worker_pool *workers;
	struct worker_pool *auth_workers; /* password hashing, apart from commits */
	struct sesslimit *limits;
	struct authn *authn;
	unsigned live_sessions; /* maintained by the sessions */
	struct session *sessions; /* live sessions (net/session), maintained by them */
	unsigned loop_index; /* which event loop (shard) runs them, for the log */
};

/* Takes ownership of fd. allowed=false: the session limits refused the
 * client; it gets "- too many connections" and is closed (no limit slot to
 * release). allowed=true: sesslimit_release() is called once at the end. */
void pop2_session_start(struct pop2_env *env, int fd, const struct sockaddr *peer,
			socklen_t peer_len, bool allowed);

/* RFC 937 server states (its diagram's names), plus the waits between. */
enum pop2_state {
	POP2_STATE_AUTH, /* greeted: HELO or QUIT */
	POP2_STATE_LOGIN, /* HELO checked / maildrop opened on a worker */
	POP2_STATE_MBOX, /* folder open, no current message: READ FOLD QUIT */
	POP2_STATE_ITEM, /* READ gave =ccc: RETR READ FOLD QUIT */
	POP2_STATE_XFER, /* RETR: the ccc octets of the message being sent */
	POP2_STATE_NEXT, /* message sent: ACKS ACKD NACK */
	POP2_STATE_UPDATE, /* QUIT: ACKD deletions applied on a worker */
	POP2_STATE_DONE, /* closing */
	POP2_STATE_COUNT
};

const char *pop2_state_name(enum pop2_state state);

enum pop2_check {
	POP2_CHECK_OK,
	POP2_CHECK_UNKNOWN, /* no such command */
	POP2_CHECK_STATE, /* not valid in this state */
	POP2_CHECK_ARGS, /* wrong arguments */
};

/* The dispatcher's decision for cmd in state, from the command table. */
enum pop2_check pop2_cmd_check(enum pop2_state state, const struct pop2_command *cmd);

/* Server shutdown: every session not waiting for a worker gets
 * "- shutting down, try again later" (nothing is deleted) and is closed;
 * sessions in a job are closed on a later call. Safe to repeat. */
void pop2_shutdown(struct pop2_env *env);

/* At exit, once no worker job is in flight: frees every session left. */
void pop2_free_all(struct pop2_env *env);

#endif
