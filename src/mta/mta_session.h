/* mta_session: the outbound SMTP client's protocol logic (RFC 5321 client
 * side; RFC 2920 PIPELINING, RFC 3207 STARTTLS, RFC 4954 AUTH, RFC 1870
 * SIZE, RFC 6152 8BITMIME, RFC 6531 SMTPUTF8, RFC 3461 DSN).
 *
 * One session is one connection to one mail exchanger. It carries one or
 * more jobs; a job is one message with all its recipients at this host,
 * sent in one transaction. The session is transport-agnostic: its owner
 * feeds it complete replies (mta_session_reply) and transport events
 * (TLS ready, connection lost), and it writes commands through struct
 * mta_io. So the same code runs over the conn layer in client mode and
 * under cmocka with a scripted peer (STYLE.md 11).
 *
 * Results are written into each job's rcpt results; job_done fires once
 * per job, session_done once at the end, both never re-entrantly from
 * inside mta_session_start/mta_session_add_job. After session_done the
 * owner frees the session. Nothing here logs (the owner logs results). */
#ifndef KONVERT_MTA_MTA_SESSION_H
#define KONVERT_MTA_MTA_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One reply line rendered for queue files and bounces, bounded. */
#define MTA_REPLY_MAX 512

enum mta_state {
	MTA_STATE_GREETING, /* waiting for 220 */
	MTA_STATE_EHLO,
	MTA_STATE_HELO, /* EHLO refused: RFC 5321 4.1.4 fallback */
	MTA_STATE_STARTTLS,
	MTA_STATE_TLS, /* handshake running in the transport */
	MTA_STATE_AUTH,
	MTA_STATE_READY, /* between transactions */
	MTA_STATE_MAIL, /* MAIL/RCPT/DATA replies pending */
	MTA_STATE_BODY, /* message data being written */
	MTA_STATE_DOT, /* waiting for the final reply */
	MTA_STATE_RSET,
	MTA_STATE_QUIT,
	MTA_STATE_DONE,
	MTA_STATE_COUNT
};

enum mta_tls_policy { MTA_TLS_OFF, MTA_TLS_OPPORTUNISTIC, MTA_TLS_REQUIRE };

/* What the server announced in its EHLO reply. */
struct mta_caps {
	bool esmtp; /* EHLO accepted */
	bool pipelining, eightbitmime, smtputf8, dsn, starttls, chunking, enhanced;
	bool auth_plain, auth_login;
	bool requiretls; /* RFC 8689 */
	bool size; /* SIZE announced (RFC 1870: only then is SIZE= sent) */
	uint64_t size_max; /* SIZE n; 0: no limit given */
};

/* One complete reply, as the owner's line parser assembled it. */
struct mta_reply {
	int code; /* 200..599 */
	const char *text; /* "550 5.1.1 <x@y>: user unknown" (one line, bounded) */
	const struct mta_caps *caps; /* set for a 250 to EHLO, else NULL */
};

/* The transport. All calls are made from inside session calls. */
struct mta_io {
	void (*write)(void *ctx, const void *data, size_t len);
	/* Starts the client TLS handshake; the owner later calls
	 * mta_session_tls_ready() or mta_session_lost(). */
	void (*starttls)(void *ctx);
	/* Bytes queued and not yet sent: the body stops above a mark. */
	size_t (*output_len)(void *ctx);
	void *ctx;
};

/* Reads up to len bytes of the stored message (LF line ends) at offset;
 * returns bytes read, 0 at the end, -1 on error. */
typedef ssize_t (*mta_body_read_fn)(void *arg, uint64_t offset, void *buf, size_t len);

enum mta_rcpt_outcome {
	MTA_RCPT_UNTRIED = 0, /* never got a reply (session failed first) */
	MTA_RCPT_DELIVERED, /* RCPT 2xx and final 2xx */
	MTA_RCPT_TEMPFAIL, /* 4xx at any step, or the connection broke */
	MTA_RCPT_PERMFAIL, /* 5xx at MAIL, RCPT or after DATA */
};

struct mta_rcpt_result {
	enum mta_rcpt_outcome outcome;
	int code; /* the reply that decided it, 0 for a local reason */
	char reply[MTA_REPLY_MAX]; /* that reply, or our own reason */
};

struct mta_job;

/* Called when the job has 8-bit content and the server lacks 8BITMIME
 * (RFC 6152 3): the owner converts the message to 7 bit (quoted-printable)
 * and updates job->read, read_arg, size and body_8bit, returning 0; or
 * returns -1 with a reply-style reason ("554 5.6.3 ...") in why. */
typedef int (*mta_downgrade_fn)(void *arg, struct mta_job *job, char *why, size_t why_size);

/* One message for this host. Inputs are borrowed until job_done. */
struct mta_job {
	const char *sender; /* "" for <> */
	uint64_t size; /* bytes the body read callback gives */
	bool body_8bit; /* needs 8BITMIME (else the owner converts first) */
	bool smtputf8; /* needs SMTPUTF8 */
	/* RFC 8689: sent with MAIL FROM ... REQUIRETLS, only over TLS to a
	 * server that offers REQUIRETLS; else every recipient gets the
	 * temporary "5.7.30" reason (another MX may offer it). Verifying the
	 * server (DANE, MTA-STS) is the owner's job. */
	bool requiretls;
	const char *dsn_mail_params; /* "RET=HDRS ENVID=x" or NULL; sent only to a DSN server */
	size_t rcpt_count;
	const char *const *rcpts; /* addresses without brackets */
	const char *const *rcpt_dsn_params; /* per rcpt "NOTIFY=.. ORCPT=.." or NULL */
	mta_body_read_fn read;
	void *read_arg;
	mta_downgrade_fn downgrade; /* NULL: an 8-bit job needs 8BITMIME */
	void *downgrade_arg;
	struct mta_rcpt_result *results; /* rcpt_count entries, filled in */
	/* Set when the final reply was lost after the whole message was sent:
	 * the peer may have it (the only duplicate window). */
	bool maybe_delivered;
	/* Set when the transaction started: the server announced DSN, so
	 * the DSN parameters went with it (else success is only "relayed"). */
	bool peer_dsn;
	/* private */
	uint64_t sent;
	size_t replies_pending; /* pipelined replies still expected */
	size_t next_rcpt_reply;
	size_t accepted;
	bool data_ok;
	bool mail_ok;
};

struct mta_options {
	const char *helo; /* our name for EHLO/HELO */
	enum mta_tls_policy tls;
	bool tls_active; /* the transport is TLS from the start (smarthost on 465) */
	const char *auth_user; /* NULL: no AUTH */
	const char *auth_pass;
	bool pipelining; /* use PIPELINING when announced (tests may turn it off) */
};

struct mta_session;

typedef void (*mta_job_done_fn)(void *arg, struct mta_job *job);
/* ok: the session ended normally (QUIT). reason: why it ended otherwise,
 * e.g. "greeting: 554 ...". temp: the failure is temporary (try another
 * host or later). Jobs not yet done when a session fails have had
 * job_done with their recipients set by then. */
typedef void (*mta_session_done_fn)(void *arg, bool ok, bool temp, const char *reason);

struct mta_session *mta_session_new(const struct mta_options *opt, const struct mta_io *io,
				    mta_job_done_fn job_done, mta_session_done_fn session_done,
				    void *arg);
void mta_session_free(struct mta_session **pp);

/* Queues a job (borrowed until its job_done). Jobs run in order. */
void mta_session_add_job(struct mta_session *s, struct mta_job *job);
/* No more jobs will come: QUIT once the queued ones are done. */
void mta_session_finish(struct mta_session *s);

/* Transport events. */
void mta_session_reply(struct mta_session *s, const struct mta_reply *r);
void mta_session_tls_ready(struct mta_session *s);
/* Output drained below the mark: body streaming continues. */
void mta_session_drained(struct mta_session *s);
/* The connection failed or closed, or a reply was garbage: every open
 * job gets reason (a temporary failure) and session_done fires. */
void mta_session_lost(struct mta_session *s, const char *reason);

enum mta_state mta_session_state(const struct mta_session *s);
/* How long the reply (or the next step) may take in the current state:
 * RFC 5321 4.5.3.2 (greeting 5 min, MAIL/RCPT 5 min, DATA 2 min, a data
 * block 3 min, the final dot 10 min). The transport arms its timer with
 * this after every event and reports expiry with mta_session_lost. */
unsigned mta_session_timeout_ms(const struct mta_session *s);
const char *mta_state_name(enum mta_state st);
const struct mta_caps *mta_session_caps(const struct mta_session *s);
bool mta_session_is_tls(const struct mta_session *s);

#endif
