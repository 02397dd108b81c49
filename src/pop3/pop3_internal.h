/* pop3_internal: the session structs and the functions shared by the files
 * of src/pop3/ (session driver, command table, login, multi-line output).
 * Not for use outside src/pop3/ (the cmocka test includes it to check the
 * command table without sockets). */
#ifndef KONVERT_POP3_POP3_INTERNAL_H
#define KONVERT_POP3_POP3_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"
#include "net/session.h"
#include "pop3/pop3_parse.h"
#include "pop3/pop3_session.h"
#include "proto/dot.h"

/* RFC 2449 4: a reply line is at most 512 octets, CRLF included. */
#define POP3_REPLY_MAX 512
/* Protocol errors in a row before the session is closed (Dovecot: 20);
 * before login, -ERR replies of any kind in total. */
#define POP3_BAD_CMDS_MAX 20
/* Output queued above this stops producing (RETR streaming, LIST lines,
 * and the reading of further commands) until the buffer drains. */
#define POP3_OUTPUT_HIGH (256 * 1024)
/* A message is read from its file in pieces of this size. */
#define POP3_READ_CHUNK (64 * 1024)
/* Room for a normalised login "local@domain" (RFC 5321 path). */
#define POP3_USER_MAX 320

struct conn;
struct login;
struct maildrop;
struct tls_server;

/* The one state variable (STYLE.md 3). RFC 1939 has three states;
 * AUTHORIZATION and TRANSACTION each get sub-states while the session
 * waits for something and takes no command lines:
 *   TLS_HANDSHAKE -> AUTHORIZATION  (pop3s, and after STLS)
 *   AUTHORIZATION <-> SASL          (AUTH exchange: lines are responses)
 *   AUTHORIZATION -> LOGIN -> TRANSACTION | AUTHORIZATION
 *                                   (password check, failure delay,
 *                                    maildrop lock and snapshot)
 *   TRANSACTION <-> SENDING         (multi-line reply being produced)
 *   TRANSACTION -> UPDATE -> CLOSED (QUIT: deleted messages removed)
 *   any -> CLOSED                   (QUIT before login, timeout, errors) */
enum pop3_state {
	POP3_STATE_TLS_HANDSHAKE,
	POP3_STATE_AUTHORIZATION,
	POP3_STATE_SASL,
	POP3_STATE_LOGIN,
	POP3_STATE_TRANSACTION,
	POP3_STATE_SENDING,
	POP3_STATE_UPDATE,
	POP3_STATE_CLOSED,
	POP3_STATE_COUNT
};

#define POP3_STATE_BIT(s) (1u << (s))

/* What is being streamed in POP3_STATE_SENDING. */
enum pop3_send_kind {
	POP3_SEND_LIST, /* LIST: "n size" per message not deleted */
	POP3_SEND_UIDL, /* UIDL: "n unique-id" per message not deleted */
	POP3_SEND_MESSAGE, /* RETR and TOP: the dot-stuffed message */
};

/* One multi-line reply in progress; freed when its "." is queued. */
struct pop3_send {
	enum pop3_send_kind kind;
	size_t next; /* LIST/UIDL: next index0 to list */
	int fd; /* MESSAGE: owned, the message file */
	bool is_top; /* MESSAGE: cut with top */
	struct pop3_top top;
	struct dot_encoder enc;
	char *in; /* owned, POP3_READ_CHUNK bytes */
	char *out; /* owned, 2 * POP3_READ_CHUNK + 2 bytes */
};

/* The transaction: from a successful login to the end of the session. It
 * owns the maildrop lock; freeing it without pop3 UPDATE changes nothing
 * on disk (RFC 1939 6: no UPDATE without QUIT), neither deletions nor the
 * seen marks of RETR (kept in the maildrop, maildrop_mark_seen). */
struct pop3_txn {
	char user[POP3_USER_MAX + 1]; /* normalised address */
	struct maildrop *md; /* owned */
	unsigned retrieved; /* RETR count, for the log */
	struct pop3_send *send; /* owned while SENDING */
};

/* A maildrop open or commit running on a worker thread (pop3_maildrop.c). */
struct pop3_job;

struct pop3_session {
	char sid[ID_LEN + 1];
	struct pop3_env *env; /* borrowed */
	enum pop3_listener_kind kind;
	/* The shared skeleton (net/session): connection, line reader, list
	 * entry, deferred free. Owns the connection. */
	struct session core;
	struct conn *conn; /* borrowed: core.conn, for brevity */
	enum pop3_state state;
	struct tls_server *tls; /* owned reference for STLS, NULL if none */
	unsigned bad_cmds; /* protocol errors in a row; before login: all -ERRs */
	/* USER name waiting for PASS (RFC 1939 7); forgotten after PASS,
	 * STLS or a failed login. */
	char user[POP3_USER_MAX + 1];
	bool has_user;
	/* RFC 6856 2: the client sent UTF8, so replies may carry UTF-8 (the
	 * login in "+OK jörg@...'s maildrop"); before, pop3_reply turns every
	 * byte >= 0x80 into \xNN. Forgotten after STLS, like USER. */
	bool utf8;
	/* The account that logged in (normalised), for the maildrop. */
	char login[POP3_USER_MAX + 1];
	/* owned: the login flow (SASL exchange, password check, failure
	 * delay), from the first PASS or AUTH on */
	struct login *auth;
	struct pop3_job *job; /* owned by the worker while in flight */
	struct pop3_txn *txn; /* owned, NULL before login */
};

/* "s" unless n is 1, for "1 message" / "2 messages" in reply texts. */
static inline const char *pop3_plural(size_t n)
{
	return n == 1 ? "" : "s";
}

/* pop3_session.c */
void pop3_set_state(struct pop3_session *s, enum pop3_state state);
const char *pop3_state_name(enum pop3_state state);

enum pop3_reply_kind {
	POP3_OK, /* "+OK" */
	POP3_ERR, /* "-ERR": a refusal that is not a protocol error */
	POP3_ERR_BAD, /* "-ERR": unknown command, wrong state, bad syntax or
		       * number; counts towards POP3_BAD_CMDS_MAX */
};
/* The one status-line writer: "+OK text" / "-ERR text", cut to
 * POP3_REPLY_MAX octets with the CRLF (never inside a UTF-8 sequence).
 * Outside UTF-8 mode (s->utf8) a byte >= 0x80 of text is sent as \xNN,
 * so the line is ASCII (RFC 6856 2). Logs -ERR replies (at debug before
 * login); closes the session, with no further line, after
 * POP3_BAD_CMDS_MAX protocol errors in a row, or before login after
 * POP3_BAD_CMDS_MAX -ERR replies of either kind in total. An empty
 * format gives a bare "+OK" / "-ERR". */
void pop3_reply(struct pop3_session *s, enum pop3_reply_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* One line of a multi-line reply (CAPA, AUTH list), CRLF added; the text
 * must not start with '.'. */
void pop3_data_line(struct pop3_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Stops taking input, flushes what is queued, then the connection ends
 * (session_close). */
void pop3_close(struct pop3_session *s);
void pop3_txn_free(struct pop3_txn **pp);
/* True when USER/PASS and AUTH PLAIN/LOGIN may be used now
 * (cfg->plaintext_auth, as for SMTP AUTH). */
bool pop3_plaintext_allowed(const struct pop3_session *s);
/* True when STLS can be offered: plain connection and a TLS context. */
bool pop3_stls_offered(const struct pop3_session *s);

/* pop3_cmd.c: the command table, the TRANSACTION commands, CAPA and UTF8. */
enum pop3_check {
	POP3_CHECK_OK,
	POP3_CHECK_UNKNOWN, /* no such command (or not offered: APOP) */
	POP3_CHECK_STATE, /* not valid in this state */
	POP3_CHECK_ARGS, /* wrong number of arguments */
};
/* The dispatcher's decision for cmd in state, from the command table
 * alone (no session needed: unit-tested). */
enum pop3_check pop3_cmd_check(enum pop3_state state, const struct pop3_command *cmd);
/* True when state takes command lines at all. */
bool pop3_state_takes_lines(enum pop3_state state);
void pop3_dispatch(struct pop3_session *s, const char *line, size_t len);

/* pop3_auth.c: USER, PASS, AUTH, STLS and the login that follows. */
void pop3_cmd_user(struct pop3_session *s, const struct pop3_command *cmd);
void pop3_cmd_pass(struct pop3_session *s, const struct pop3_command *cmd);
void pop3_cmd_auth(struct pop3_session *s, const struct pop3_command *cmd);
void pop3_cmd_stls(struct pop3_session *s, const struct pop3_command *cmd);
/* One line of an AUTH exchange (POP3_STATE_SASL); line NULL: too long. */
void pop3_auth_line(struct pop3_session *s, const char *line, size_t len);
/* Frees the login state: the session is going away, or says goodbye (a
 * delayed failure reply must not follow). Not while pop3_auth_busy(). */
void pop3_auth_fini(struct pop3_session *s);
/* A password check runs on a worker: the session must stay allocated. */
bool pop3_auth_busy(const struct pop3_session *s);
/* The connection is gone: drops a pending login reply. True while a check
 * is still in flight; its completion then frees the session. */
bool pop3_auth_abandon(struct pop3_session *s);

/* pop3_maildrop.c: the maildrop lock, snapshot and UPDATE on workers. */
/* After a successful authentication of s->login: locks and snapshots the
 * maildrop, then replies and enters TRANSACTION, or replies -ERR
 * ([IN-USE], [SYS/TEMP]) and returns to AUTHORIZATION. */
void pop3_maildrop_open(struct pop3_session *s);
/* QUIT in TRANSACTION (RFC 1939 6): removes the deleted messages, releases
 * the lock, replies and closes. */
void pop3_maildrop_update(struct pop3_session *s);

/* pop3_send.c: multi-line replies produced under output backpressure. */
/* Starts LIST or UIDL without argument (the +OK line is already sent). */
void pop3_send_listing(struct pop3_session *s, enum pop3_send_kind kind);
/* Starts RETR (top == NULL) or TOP of message index0 whose file is fd
 * (owned from here on; the +OK line is already sent). */
void pop3_send_message(struct pop3_session *s, int fd, const uint64_t *top_lines);
/* Produces more output; called on CONN_EV_DRAINED while SENDING. */
void pop3_send_pump(struct pop3_session *s);
void pop3_send_free(struct pop3_send **pp);

#endif
