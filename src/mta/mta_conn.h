/* mta_conn: one outbound SMTP connection on the event loop: TCP connect to
 * one address (bounded by a connect timeout), the client side of TLS
 * (STARTTLS, or implicit TLS for a smarthost on port 465), reply lines
 * assembled with proto/smtp_reply (EHLO keywords into struct mta_caps),
 * the RFC 5321 4.5.3.2 timeouts (mta_session_timeout_ms), and an
 * mta_session that drives the protocol.
 *
 * Lifetime: mta_conn_new starts connecting at once. job_done fires once
 * per job added; done fires once at the end, after the last job_done.
 * Neither ever fires from inside mta_conn_new, mta_conn_add_job or
 * mta_conn_finish: they come from the event loop. After done the owner
 * calls mta_conn_free (it may do so from inside done or job_done: the
 * conn is then only marked and freed once the loop's callback returns;
 * no callback fires after mta_conn_free). Freeing before done cancels:
 * the socket closes, no more callbacks fire, and jobs not done yet keep
 * whatever results they had (the owner treats them as not delivered).
 *
 * Timeouts: one timer. Before the TCP connection is up it is the
 * connect timeout; after, mta_session_timeout_ms of the current state,
 * restarted only when a complete reply arrives, when we write and when
 * written data leaves (never by a partial line: a server dripping one
 * byte a second is still cut at the state's timeout). Expiry ends the
 * connection ("4.4.2 timeout waiting for the server in state X"), except
 * in state ready (no job running), where the conn says QUIT by itself.
 *
 * Reasons in mta_conn_end.reason (and in the jobs' results when the
 * connection breaks) start with an RFC 3463 code: "4.4.1 connect: ...",
 * "4.4.2 connection closed by the server in state X", "4.4.2 protocol
 * error in state X: ...", "4.4.2 TLS handshake failed: <OpenSSL error>",
 * or the session's own ("greeting: 554 ..."); "4.7.0 ..." when no TLS
 * could be set up locally (no tls_ctx, bad peer name for verification).
 *
 * A server may reset the connection while we write: the process must
 * ignore SIGPIPE (konvert serve does). */
#ifndef KONVERT_MTA_MTA_CONN_H
#define KONVERT_MTA_MTA_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "mta/mta_session.h"
#include "net/tls_client.h"

struct event_base;
struct mta_conn;
typedef struct ssl_ctx_st SSL_CTX;

struct mta_conn_options {
	struct sockaddr_storage addr; /* with the port */
	socklen_t addr_len;
	const char *peer_name; /* MX host name: TLS SNI, logs */
	struct mta_options session; /* helo, TLS policy, AUTH, pipelining */
	SSL_CTX *tls_ctx; /* client context, borrowed (SSL objects keep a ref) */
	bool implicit_tls; /* TLS from the first byte (smarthost on 465) */
	unsigned connect_timeout_ms; /* 0: 30 s */
	/* Added: how the server's certificate is checked (STARTTLS and
	 * implicit TLS alike). TLS_CLIENT_VERIFY_NONE (0) is opportunistic
	 * TLS (RFC 7435); TLS_CLIENT_VERIFY_HOSTNAME checks the chain and
	 * peer_name. DANE / MTA-STS modes come later (net/tls_client.h). */
	enum tls_client_verify tls_verify;
	/* Added: the TLSA records for TLS_CLIENT_VERIFY_DANE (copied by
	 * mta_conn_new). */
	const struct tls_client_tlsa *tlsa;
	size_t tlsa_count;
	/* Added, tests only: 0 = real time; else every second of the
	 * session's RFC 5321 timeouts lasts this many milliseconds (1: the
	 * 5-minute greeting wait takes 300 ms). connect_timeout_ms is not
	 * scaled. */
	unsigned timeout_scale_ms;
};

/* Why the connection ended, for the router's next decision. */
struct mta_conn_end {
	bool ok; /* QUIT answered after the jobs */
	bool temp; /* the failure may pass (next host / later) */
	bool connected; /* TCP connection was established */
	bool tls_failed; /* the TLS handshake failed (before any mail data) */
	/* Where the session was when the event that ended it came:
	 * MTA_STATE_TLS for a failed STARTTLS handshake (GREETING for
	 * implicit TLS), MTA_STATE_BODY / MTA_STATE_DOT for a break during or
	 * after the message, MTA_STATE_QUIT for an orderly end. */
	enum mta_state state;
	/* Added: TLS was set up (the handshake completed); and when the
	 * handshake failed on the certificate, OpenSSL's X509_V_ERR_* code
	 * (else 0), for TLS reports (RFC 8460 4.3). */
	bool tls_up;
	long verify_result;
	char reason[MTA_REPLY_MAX];
};

typedef void (*mta_conn_done_fn)(void *arg, struct mta_conn *c, const struct mta_conn_end *end);

/* Starts connecting to opt->addr. opt is copied (peer_name too); the
 * strings in opt->session (helo, AUTH) and opt->tls_ctx stay borrowed for
 * the conn's life. Never fails: a socket or connect error is reported
 * through done from the loop. */
struct mta_conn *mta_conn_new(struct event_base *base, const struct mta_conn_options *opt,
			      mta_job_done_fn job_done, mta_conn_done_fn done, void *arg);
/* Queues a job (borrowed until its job_done; its results are cleared
 * here). Jobs run in order. Allowed on a new conn, on one with a job
 * running, and on one for which mta_conn_is_idle is true; not after
 * mta_conn_finish or done (KASSERT). */
void mta_conn_add_job(struct mta_conn *c, struct mta_job *job);
/* No more jobs: QUIT once the queued ones are done, then done. */
void mta_conn_finish(struct mta_conn *c);
/* True while connected and between transactions with no job queued: a
 * new job for the same host may reuse it. */
bool mta_conn_is_idle(const struct mta_conn *c);
/* Hands an idle connection to another owner (a connection cache, then
 * the next delivery to the same host): later callbacks go to arg. */
void mta_conn_set_owner(struct mta_conn *c, mta_job_done_fn job_done, mta_conn_done_fn done,
			void *arg);
/* Added: "version=TLSv1.3 cipher=... bits=256" once TLS is up, else ""
 * (for the owner's delivery log line; out as in tls_describe). */
void mta_conn_describe_tls(const struct mta_conn *c, char *out, size_t out_size);
/* Added: TLS is up on the connection; the certificate verification
 * result of its handshake (X509_V_OK unless checked and failed, or
 * recorded by TLS_CLIENT_VERIFY_HOSTNAME_REPORT). */
bool mta_conn_tls_up(const struct mta_conn *c);
long mta_conn_verify_result(const struct mta_conn *c);
void mta_conn_free(struct mta_conn **pp);

#endif
