/* smtp_session: the SMTP server side of one connection (RFC 5321 and the
 * extensions in SPEC.md). Created by the serve code for each accepted
 * socket; frees itself when the connection ends. */
#ifndef KONVERT_SMTP_SMTP_SESSION_H
#define KONVERT_SMTP_SMTP_SESSION_H

#include <stdbool.h>
#include <sys/socket.h>

struct event_base;
struct config;
struct userdb;
struct aliases;
struct worker_pool;
struct sesslimit;
struct authn;
struct tls_server;
struct queue_store;
struct queue_env;
struct signing;
struct authcheck_dns_ops;
struct psl;
struct session;

enum smtp_listener_kind {
	SMTP_LISTENER_MTA, /* port 25: local delivery from anyone */
	SMTP_LISTENER_SUBMISSION, /* port 587: AUTH required (RFC 6409) */
	SMTP_LISTENER_SMTPS, /* port 465: submission with implicit TLS (RFC 8314) */
	/* data_dir/public/submit.sock: "konvert sendmail" from local users.
	 * Trusted like relay_networks, no TLS or AUTH; the Received: line
	 * names the local user (SO_PEERCRED). */
	SMTP_LISTENER_LOCAL,
};

/* Process-wide objects a session borrows. Owned by the serve code; the
 * users/aliases pointers are replaced on SIGHUP (sessions read them at
 * lookup time and keep no pointer into them). */
struct smtp_env {
	struct event_base *base;
	const struct config *cfg;
	const struct userdb *users;
	const struct aliases *aliases;
	struct worker_pool *workers;
	struct worker_pool *auth_workers; /* password hashing, apart from commits */
	struct sesslimit *limits;
	struct authn *authn;
	/* Current TLS context; replaced on SIGHUP (an SSL keeps its own
	 * reference to the context it was made from). */
	struct tls_server *tls;
	/* Relaying: NULL queue means relaying is off (remote recipients get a
	 * temporary 451). queued takes the envelope of a message that is
	 * durable in the queue (the scheduler); etrn starts the queued mail
	 * of a domain at once (RFC 1985) and returns the messages touched. */
	struct queue_store *queue;
	void (*queued)(void *arg, struct queue_env *env);
	size_t (*etrn)(void *arg, const char *domain);
	void *queue_arg;
	/* DKIM keys of the local domains; NULL: no signing (dkim_sign = no). */
	const struct signing *signing;
	/* SRS (sender rewriting) secret for forwarding aliases: the
	 * envelope sender of forwarded mail is rewritten, bounces to SRS
	 * addresses are sent back. NULL: no SRS. */
	const unsigned char *srs_secret;
	size_t srs_secret_len;
	/* Inbound checks on the smtp listener (auth_checks): NULL when off. */
	const struct authcheck_dns_ops *authdns;
	const struct psl *psl;
	unsigned live_sessions; /* maintained by the sessions */
	struct session *sessions; /* live sessions (net/session), maintained by them */
	unsigned loop_index; /* which event loop (shard) runs them, for the log */
};

/* Takes ownership of fd. allowed=false: the session limits refused the
 * client; it gets "421 4.7.0" and is closed (no limit slot to release). */
void smtp_session_start(struct smtp_env *env, enum smtp_listener_kind kind, int fd,
			const struct sockaddr *peer, socklen_t peer_len, bool allowed);

/* Server shutdown: every session not waiting for a worker gets
 * "421 4.3.2" and is closed (an unfinished message is dropped and its
 * file removed); sessions in a commit are closed once it is answered.
 * Safe to call repeatedly. */
void smtp_shutdown(struct smtp_env *env);

/* At exit, once no worker job is in flight: frees every session left
 * (a client that never read its 421). */
void smtp_free_all(struct smtp_env *env);

#endif
