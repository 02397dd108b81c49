/* pop3_session: the POP3 server side of one connection (RFC 1939 with
 * RFC 2449 CAPA, RFC 2595 STLS, RFC 3206 response codes and RFC 5034 AUTH),
 * on the plain listener (port 110, STLS offered) or with implicit TLS
 * (pop3s, port 995). Created by the serve code for each accepted socket;
 * the session frees itself when the connection ends. */
#ifndef KONVERT_POP3_POP3_SESSION_H
#define KONVERT_POP3_POP3_SESSION_H

#include <stdbool.h>
#include <sys/socket.h>

struct event_base;
struct config;
struct userdb;
struct worker_pool;
struct sesslimit;
struct authn;
struct tls_server;
struct session;

/* Process-wide objects a session borrows, owned by the serve code. cfg,
 * users and tls are read through this struct at the time of use (they are
 * replaced on SIGHUP); a session keeps no pointer into users. A session
 * that may start TLS later (STLS) takes its own tls_server_ref() at start. */
struct pop3_env {
	struct event_base *base;
	const struct config *cfg;
	const struct userdb *users; /* swapped on SIGHUP */
	struct worker_pool *workers;
	struct worker_pool *auth_workers; /* password hashing, apart from commits */
	struct sesslimit *limits;
	struct authn *authn;
	struct tls_server *tls; /* current TLS context, NULL if none */
	unsigned live_sessions; /* maintained by the sessions */
	struct session *sessions; /* live sessions (net/session), maintained by them */
	unsigned loop_index; /* which event loop (shard) runs them, for the log */
};

enum pop3_listener_kind {
	POP3_LISTENER_PLAIN, /* pop3: plaintext, STLS offered when tls is set */
	POP3_LISTENER_TLS, /* pop3s: implicit TLS (RFC 8314) */
};

/* Takes ownership of fd. allowed=false: the session limits refused the
 * client; it gets "-ERR [SYS/TEMP] too many connections" and is closed
 * (no limit slot to release). allowed=true: sesslimit_release() is called
 * once when the session ends. */
void pop3_session_start(struct pop3_env *env, enum pop3_listener_kind kind, int fd,
			const struct sockaddr *peer, socklen_t peer_len, bool allowed);

/* Server shutdown: every session not waiting for a worker gets
 * "-ERR [SYS/TEMP] shutting down" (nothing is deleted: no UPDATE) and is
 * closed; sessions in a job are closed on a later call. Safe to repeat. */
void pop3_shutdown(struct pop3_env *env);

/* At exit, once no worker job is in flight: frees every session left. */
void pop3_free_all(struct pop3_env *env);

#endif
