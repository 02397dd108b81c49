/* smtp_internal: the session structs shared by the files of src/smtp/
 * (session driver, command handlers, DATA/BDAT intake). Not for use
 * outside src/smtp/. */
#ifndef KONVERT_SMTP_SMTP_INTERNAL_H
#define KONVERT_SMTP_SMTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"
#include "core/metrics.h"
#include "net/session.h"
#include "proto/dot.h"
#include "proto/smtp_parse.h"
#include "smtp/smtp_session.h"

/* Above this many queued reply bytes the session stops reading commands. */
#define SMTP_OUTPUT_HIGH (64 * 1024)

/* Decoded DATA is produced in pieces of at most this many wire bytes. */
#define SMTP_DECODE_CHUNK 32768

struct conn;
struct intake;
struct login;

enum smtp_state {
	SMTP_STATE_INIT, /* greeted, no HELO/EHLO yet */
	SMTP_STATE_HELO, /* HELO/EHLO done, no transaction */
	SMTP_STATE_MAIL, /* MAIL accepted */
	SMTP_STATE_RCPT, /* at least one RCPT accepted */
	SMTP_STATE_DATA, /* reading DATA bytes up to CRLF.CRLF */
	SMTP_STATE_BDAT, /* between BDAT chunks */
	SMTP_STATE_BDAT_CHUNK, /* reading the bytes of one BDAT chunk */
	SMTP_STATE_COMMIT, /* message handed to a worker, waiting */
	SMTP_STATE_TLS, /* TLS handshake running (STARTTLS or implicit) */
	SMTP_STATE_AUTH, /* AUTH exchange: reading a SASL response line */
	SMTP_STATE_AUTH_WAIT, /* AUTH: password check or failure delay running */
	SMTP_STATE_QUIT, /* closing: no more input is taken */
	SMTP_STATE_COUNT
};

#define SMTP_STATE_BIT(s) (1u << (s))

/* A recipient that leaves through the queue. */
struct smtp_remote_rcpt {
	char *addr; /* owned, "local@domain" */
	char *orcpt; /* owned or NULL: ORCPT as received */
	unsigned notify; /* SMTP_NOTIFY_* bits, 0 when not given */
	/* A local recipient that asked for NOTIFY=SUCCESS: it is delivered
	 * by the commit itself and enters the queue already delivered, only
	 * for its "delivered" notice (RFC 3461 6.2). */
	bool delivered_locally;
	/* Reached through a local alias that forwards outside: the
	 * envelope sender gets SRS (trust/srs). */
	bool forwarded;
};

/* One mail transaction: created by MAIL, freed by RSET, commit or end. */
struct smtp_txn {
	struct smtp_addr sender;
	struct smtp_mail_params params;
	char sender_text[SMTP_PATH_MAX + 8]; /* formatted, for headers/logs */
	char **rcpts; /* owned: formatted recipients as accepted */
	size_t rcpt_count;
	/* RCPT commands accepted, duplicates included: max_recipients counts
	 * these, so 1,000 identical RCPTs cannot slip past it. */
	size_t rcpt_accepted;
	char **mailboxes; /* owned: deduplicated local mailboxes */
	size_t mailbox_count;
	/* Inbound checks (SPF, DKIM, DMARC) in flight after the data */
	struct authcheck *check; /* owned */
	char *check_msg; /* owned: the message the checks read */
	size_t check_len;
	int check_rc; /* reading it back (worker): 0 or -1 */
	/* Remote recipients for the queue, with their RFC 3461 parameters. */
	struct smtp_remote_rcpt *remote; /* owned array */
	size_t remote_count;
	char id[ID_LEN + 1];
	struct intake *intake; /* owned, from DATA/first BDAT until commit */
	struct dot_decoder dec;
	uint64_t wire_bytes; /* message bytes received on the wire */
	bool too_big;
	bool quarantined; /* DMARC p=quarantine: local copies went to Junk */
	/* The start of the client's header block, for the Message-ID of the
	 * delivery log line; and when the message started (monotonic ms). */
	char head[4096];
	size_t head_len;
	bool head_done;
	int64_t started_ms;
	/* BDAT */
	uint64_t chunk_left; /* bytes of the current chunk still to read */
	bool chunk_last;
	bool chunk_discard; /* BDAT refused: read and drop the chunk */
	int chunk_code; /* reply to send when the discarded chunk ends */
	const char *chunk_ecode;
	const char *chunk_text;
};

struct smtp_session {
	char sid[ID_LEN + 1];
	struct smtp_env *env; /* borrowed */
	enum smtp_listener_kind kind;
	/* SMTP_LISTENER_LOCAL: who is on the other end of the socket */
	long local_uid;
	/* The shared skeleton (net/session): connection, line reader, list
	 * entry, deferred free. Owns the connection. */
	struct session core;
	struct conn *conn; /* borrowed: core.conn, for brevity */
	enum smtp_state state;
	bool esmtp; /* EHLO (not HELO) was used */
	bool relay_ok; /* client is in relay_networks */
	char helo[SMTP_DOMAIN_MAX + 1];
	unsigned bad_cmds; /* consecutive errors */
	unsigned messages; /* accepted in this session */
	struct smtp_txn *txn; /* owned, NULL outside a transaction */
	/* AUTH (RFC 4954) */
	struct login *auth; /* owned: the login flow, from the first AUTH on */
	bool authenticated;
	char auth_user[SMTP_PATH_MAX + 1]; /* login, normalised; "" before */
	char *decode_buf; /* owned scratch for DATA decoding */
};

/* smtp_session.c */
void smtp_set_state(struct smtp_session *s, enum smtp_state state);
const char *smtp_state_name(enum smtp_state state);
/* One reply line "CODE ECODE TEXT" (ecode may be NULL). Counts errors. */
void smtp_reply(struct smtp_session *s, int code, const char *ecode, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Raw continuation line "CODE-TEXT" (EHLO). */
void smtp_reply_cont(struct smtp_session *s, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Stops taking input, flushes what is queued, then the connection ends
 * (session_close). */
void smtp_close(struct smtp_session *s);
/* Scratch buffer of SMTP_DECODE_CHUNK + 2 bytes for message decoding. */
char *smtp_decode_buf(struct smtp_session *s);
void smtp_txn_free(struct smtp_txn **pp);
/* The listener="..." label of the session's listener (core/metrics). */
enum metrics_listener smtp_metrics_listener(enum smtp_listener_kind kind);

/* smtp_cmd.c */
void smtp_dispatch(struct smtp_session *s, const char *line, size_t len);

/* smtp_auth.c */
void smtp_cmd_auth(struct smtp_session *s, const char *args, size_t len);
/* One SASL response line while in SMTP_STATE_AUTH. */
void smtp_auth_line(struct smtp_session *s, const char *line, size_t len);
/* A SASL response longer than SASL_LINE_MAX: 500 5.5.6 (RFC 4954 4). */
void smtp_auth_too_long(struct smtp_session *s);
/* AUTH is offered on this connection (EHLO and the AUTH command agree). */
bool smtp_auth_offered(const struct smtp_session *s);
/* Plaintext mechanisms may be used here (plaintext_auth policy). */
bool smtp_plaintext_allowed(const struct smtp_session *s);
/* Frees AUTH state: the session is going away, or says goodbye (a
 * delayed failure reply must not follow). Not while smtp_auth_busy(). */
void smtp_auth_fini(struct smtp_session *s);
/* A password check runs on a worker: the session must stay allocated. */
bool smtp_auth_busy(const struct smtp_session *s);
/* The connection is gone: drops a pending AUTH reply. True while a check
 * is still in flight; its completion then frees the session. */
bool smtp_auth_abandon(struct smtp_session *s);

/* smtp_data.c */
void smtp_data_start(struct smtp_session *s);
int smtp_bdat_start(struct smtp_session *s, uint64_t size, bool last, bool refuse, int code,
		    const char *ecode, const char *text);
/* Consumes DATA / BDAT bytes from the input; returns after the end or when
 * the input is exhausted. */
void smtp_data_read(struct smtp_session *s);

#endif
