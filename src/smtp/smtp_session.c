/* smtp_session: drives one SMTP connection: greeting, the state variable,
 * the reply writer, the SMTP side of the session core's hooks (what each
 * state does with input, the timeout and shutdown replies, TLS restart)
 * and error limits. How a session lives and dies (input loop, reading on
 * and off, deferred free, teardown) is net/session.c; command semantics
 * live in smtp_cmd.c and message intake in smtp_data.c; this file never
 * decides what a command means. */
#include "smtp/smtp_session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <strings.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/id.h"
#include "core/kassert.h"
#include "core/log.h"
#include "core/metrics.h"
#include "delivery/intake.h"
#include "net/conn.h"
#include "net/listener.h"
#include "net/tls.h"
#include "smtp/smtp_internal.h"
#include "trust/authcheck.h"


static const char *const state_names[SMTP_STATE_COUNT] = {
	[SMTP_STATE_INIT] = "init",	    [SMTP_STATE_HELO] = "helo",
	[SMTP_STATE_MAIL] = "mail",	    [SMTP_STATE_RCPT] = "rcpt",
	[SMTP_STATE_DATA] = "data",	    [SMTP_STATE_BDAT] = "bdat",
	[SMTP_STATE_BDAT_CHUNK] = "bdat-chunk", [SMTP_STATE_COMMIT] = "commit",
	[SMTP_STATE_TLS] = "tls",	    [SMTP_STATE_AUTH] = "auth",
	[SMTP_STATE_AUTH_WAIT] = "auth-wait", [SMTP_STATE_QUIT] = "quit",
};

const char *smtp_state_name(enum smtp_state state)
{
	return state < SMTP_STATE_COUNT ? state_names[state] : "?";
}

/* What each state does with input (net/session.h). A commit or password
 * check waits for a worker: no reading, and the idle timer does not blame
 * the client. */
static enum session_mode ops_mode(void *owner)
{
	const struct smtp_session *s = owner;
	switch (s->state) {
	case SMTP_STATE_DATA:
	case SMTP_STATE_BDAT_CHUNK:
		return SESSION_MODE_BYTES;
	case SMTP_STATE_COMMIT:
	case SMTP_STATE_AUTH_WAIT:
		return SESSION_MODE_WORKING;
	case SMTP_STATE_TLS:
	case SMTP_STATE_QUIT:
		return SESSION_MODE_HOLD;
	default:
		return SESSION_MODE_LINES;
	}
}

/* The states of one message transfer: DATA, or BDAT up to its LAST. */
static bool is_transfer_state(enum smtp_state state)
{
	return state == SMTP_STATE_DATA || state == SMTP_STATE_BDAT ||
	       state == SMTP_STATE_BDAT_CHUNK;
}

void smtp_set_state(struct smtp_session *s, enum smtp_state state)
{
	/* A closing session stays closing whatever a late handler says. */
	if (s->state == state || s->state == SMTP_STATE_QUIT)
		return;
	log_debug(s->sid, "proto=smtp event=state from=%s to=%s", smtp_state_name(s->state),
		  smtp_state_name(state));
	/* RFC 5321 4.5.3.2.6 data_timeout: one bound for the whole message,
	 * from DATA (its 354 follows at once) or the first BDAT chunk to the
	 * end of the message (commit) or of the transaction (error, RSET),
	 * however the client spaces its bytes. */
	bool was_transfer = is_transfer_state(s->state);
	s->state = state;
	if (is_transfer_state(state) && !was_transfer)
		conn_start_transfer_deadline(s->conn, s->env->cfg->data_timeout_ms);
	else if (!is_transfer_state(state) && was_transfer)
		conn_stop_transfer_deadline(s->conn);
	session_state_changed(&s->core);
}

static void reply_vline(struct smtp_session *s, int code, char sep, const char *ecode,
			const char *fmt, va_list ap)
{
	char text[1024];
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	if (n < 0)
		text[0] = '\0';
	if (ecode != NULL)
		conn_printf(s->conn, "%03d%c%s %s\r\n", code, sep, ecode, text);
	else
		conn_printf(s->conn, "%03d%c%s\r\n", code, sep, text);
	if (code >= 400 && sep == ' ') {
		char esc[256];
		log_info(s->sid, "proto=smtp event=reply code=%d ecode=%s state=%s text=\"%s\"", code,
			 ecode ? ecode : "-", smtp_state_name(s->state),
			 log_escape(esc, sizeof(esc), text, strlen(text)));
	}
}

void smtp_reply(struct smtp_session *s, int code, const char *ecode, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	reply_vline(s, code, ' ', ecode, fmt, ap);
	va_end(ap);
	/* Syntax and sequence errors count towards the bad-command limit;
	 * recipient refusals do not (they are policy, not protocol abuse). */
	/* 504/538: refused AUTH attempts count too, so they cannot repeat
	 * forever. */
	if (code == 500 || code == 501 || code == 502 || code == 503 || code == 504 ||
	    code == 538 || code == 555)
		s->bad_cmds++;
	else if (code < 400)
		s->bad_cmds = 0;
	if (s->bad_cmds >= SMTP_BAD_CMDS_MAX && s->state != SMTP_STATE_QUIT) {
		conn_printf(s->conn, "421 4.7.0 %s Error: too many errors\r\n", s->env->cfg->hostname);
		log_info(s->sid, "proto=smtp event=disconnect reason=too-many-errors");
		smtp_close(s);
	}
}

void smtp_reply_cont(struct smtp_session *s, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	reply_vline(s, code, '-', NULL, fmt, ap);
	va_end(ap);
}

void smtp_txn_free(struct smtp_txn **pp)
{
	struct smtp_txn *t = *pp;
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->rcpt_count; i++)
		free(t->rcpts[i]);
	free(t->rcpts);
	for (size_t i = 0; i < t->mailbox_count; i++)
		free(t->mailboxes[i]);
	free(t->mailboxes);
	for (size_t i = 0; i < t->remote_count; i++) {
		free(t->remote[i].addr);
		free(t->remote[i].orcpt);
	}
	free(t->remote);
	authcheck_free(&t->check);
	free(t->check_msg);
	intake_free(&t->intake);
	free(t);
	*pp = NULL;
}

void smtp_close(struct smtp_session *s)
{
	session_close(&s->core);
}

/* ---- the session core's hooks (net/session.h) ---------------------------- */

static void ops_enter_closed(void *owner)
{
	smtp_set_state(owner, SMTP_STATE_QUIT);
}

static void ops_on_line(void *owner, enum linereader_status st, const char *line, size_t len)
{
	struct smtp_session *s = owner;
	if (s->state == SMTP_STATE_AUTH) {
		if (st == LINEREADER_TOO_LONG)
			smtp_auth_too_long(s);
		else
			smtp_auth_line(s, line, len);
		return;
	}
	if (st == LINEREADER_TOO_LONG) {
		smtp_reply(s, 500, "5.5.0", "Error: line too long");
		return;
	}
	if (len > SMTP_CMD_LINE_MAX && !(len >= 5 && strncasecmp(line, "AUTH ", 5) == 0)) {
		smtp_reply(s, 500, "5.5.0", "Error: line too long");
		return;
	}
	if (memchr(line, '\0', len) != NULL) {
		smtp_reply(s, 500, "5.5.2", "Error: NUL character in command");
		return;
	}
	smtp_dispatch(s, line, len);
}

/* A SASL response or an AUTH initial response holds a secret. */
static bool ops_line_is_secret(void *owner, const char *line, size_t len)
{
	const struct smtp_session *s = owner;
	return s->state == SMTP_STATE_AUTH || (len >= 5 && strncasecmp(line, "AUTH ", 5) == 0);
}

/* DATA / BDAT bytes; true once the state moved on (end of the message or
 * of the chunk). */
static bool ops_on_bytes(void *owner, struct evbuffer *in)
{
	(void)in;
	struct smtp_session *s = owner;
	enum smtp_state before = s->state;
	smtp_data_read(s);
	return s->state != before;
}

static void ops_on_tls_ready(void *owner)
{
	struct smtp_session *s = owner;
	char desc[TLS_DESCRIBE_SIZE];
	tls_describe(conn_ssl(s->conn), desc, sizeof(desc));
	log_info(s->sid, "proto=smtp event=tls %s", desc);
	metrics_tls_session(tls_version_name(conn_ssl(s->conn)), METRICS_TLS_SERVER);
	/* RFC 3207 4.2: forget everything learnt before TLS; the client
	 * starts over with EHLO. */
	smtp_txn_free(&s->txn);
	s->helo[0] = '\0';
	s->esmtp = false;
	/* A login made in plaintext must not carry over: otherwise a
	 * man in the middle could log in as himself before STARTTLS. */
	s->authenticated = false;
	s->auth_user[0] = '\0';
	smtp_set_state(s, SMTP_STATE_INIT);
	if (s->kind == SMTP_LISTENER_SMTPS)
		conn_printf(s->conn, "220 %s ESMTP konvert\r\n", s->env->cfg->hostname);
}

static void ops_on_timeout(void *owner)
{
	struct smtp_session *s = owner;
	log_info(s->sid, "proto=smtp event=timeout state=%s deadline=%s",
		 smtp_state_name(s->state), conn_timeout_what(s->conn));
	/* During a handshake a plaintext reply could not be sent. */
	if (s->state != SMTP_STATE_TLS)
		conn_printf(s->conn, "421 4.4.2 %s Error: timeout exceeded\r\n",
			    s->env->cfg->hostname);
}

/* A commit (worker, inbound checks) or a password check points at s. */
static bool ops_is_busy(const void *owner)
{
	const struct smtp_session *s = owner;
	return s->state == SMTP_STATE_COMMIT || smtp_auth_busy(s);
}

/* The connection is gone: a commit in flight frees the session when it
 * returns (smtp_data.c), a password check when it is answered. */
static bool ops_abandon(void *owner)
{
	struct smtp_session *s = owner;
	return s->state == SMTP_STATE_COMMIT || smtp_auth_abandon(s);
}

static void ops_goodbye(void *owner)
{
	struct smtp_session *s = owner;
	/* A pending AUTH failure reply must not follow the 421. */
	smtp_auth_fini(s);
	/* RFC 5321 3.8: a server going down answers 421 and closes (not in
	 * the middle of a TLS handshake: no plaintext there). An unfinished
	 * message is dropped with its transaction. */
	if (s->state != SMTP_STATE_TLS)
		conn_printf(s->conn, "421 4.3.2 %s Service shutting down\r\n",
			    s->env->cfg->hostname);
}

static const char *ops_state_name(const void *owner)
{
	return smtp_state_name(((const struct smtp_session *)owner)->state);
}

static void ops_end_fields(const void *owner, char *out, size_t size)
{
	(void)snprintf(out, size, "messages=%u", ((const struct smtp_session *)owner)->messages);
}

static void ops_release(void *owner)
{
	struct smtp_session *s = owner;
	smtp_auth_fini(s);
	smtp_txn_free(&s->txn);
	free(s->decode_buf);
}

static const struct session_ops smtp_ops = {
	.proto = "smtp",
	.mode = ops_mode,
	.on_line = ops_on_line,
	.line_is_secret = ops_line_is_secret,
	.on_bytes = ops_on_bytes,
	.on_tls_ready = ops_on_tls_ready,
	.on_timeout = ops_on_timeout,
	.is_busy = ops_is_busy,
	.abandon = ops_abandon,
	.goodbye = ops_goodbye,
	.enter_closed = ops_enter_closed,
	.state_name = ops_state_name,
	.end_fields = ops_end_fields,
	.release = ops_release,
};

enum metrics_listener smtp_metrics_listener(enum smtp_listener_kind kind)
{
	switch (kind) {
	case SMTP_LISTENER_MTA:
		return METRICS_LISTENER_SMTP;
	case SMTP_LISTENER_SUBMISSION:
		return METRICS_LISTENER_SUBMISSION;
	case SMTP_LISTENER_SMTPS:
		return METRICS_LISTENER_SMTPS;
	case SMTP_LISTENER_LOCAL:
		break;
	}
	return METRICS_LISTENER_LOCAL;
}

void smtp_session_start(struct smtp_env *env, enum smtp_listener_kind kind, int fd,
			const struct sockaddr *peer, socklen_t peer_len, bool allowed)
{
	metrics_connection(smtp_metrics_listener(kind));
	if (!allowed && kind == SMTP_LISTENER_SMTPS) {
		/* A refusal in plaintext on a TLS port would reach the client
		 * as garbage (RFC 8314): just close. */
		char text[64];
		conn_sockaddr_text(peer, text, sizeof(text));
		log_info(NULL, "proto=smtp event=refused listener=smtps client=%s reason=session-limit",
			 text);
		(void)close(fd);
		return;
	}
	if (kind == SMTP_LISTENER_SMTPS && env->tls == NULL) {
		/* Never speak plaintext on the implicit-TLS port. Nothing is
		 * allocated yet; the limit slot taken for it goes back. */
		log_error(NULL, "proto=smtp event=refused listener=smtps reason=no-tls-context");
		if (allowed)
			sesslimit_release(env->limits, peer);
		(void)close(fd);
		return;
	}
	struct smtp_session *s = xcalloc(1, sizeof(*s));
	id_new(s->sid);
	s->env = env;
	s->kind = kind;
	bool implicit_tls = kind == SMTP_LISTENER_SMTPS && allowed;
	s->state = implicit_tls ? SMTP_STATE_TLS : SMTP_STATE_INIT;
	const struct session_params p = {
		.ops = &smtp_ops,
		.owner = s,
		.sid = s->sid,
		.base = env->base,
		.fd = fd,
		.peer = peer,
		.peer_len = peer_len,
		.tls = implicit_tls ? env->tls : NULL,
		.list = &env->sessions,
		.live = &env->live_sessions,
		.limits = allowed ? env->limits : NULL,
		.listener = smtp_metrics_listener(kind),
		.line_max = SMTP_AUTH_CMD_LINE_MAX,
		.output_high = SMTP_OUTPUT_HIGH,
	};
	session_start(&s->core, &p);
	s->conn = s->core.conn;
	const struct config *cfg = env->cfg;
	s->relay_ok = cfg_in_relay_networks(cfg, peer);
	s->local_uid = -1;
	if (kind == SMTP_LISTENER_LOCAL) {
		/* The local command line: trusted like relay_networks (any
		 * local user may send mail, as with every sendmail), and the
		 * kernel says who it is. */
		s->relay_ok = true;
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		/* Only the uid: a name lookup (NSS: LDAP, sssd) may block. */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0)
			s->local_uid = (long)cred.uid;
	}
	log_info(s->sid, "proto=smtp event=connect client=%s port=%u listener=%s relay=%s loop=%u",
		 kind == SMTP_LISTENER_LOCAL ? "local" : conn_peer_text(s->conn),
		 conn_local_port(s->conn),
		 kind == SMTP_LISTENER_MTA	      ? "smtp"
		 : kind == SMTP_LISTENER_SUBMISSION ? "submission"
		 : kind == SMTP_LISTENER_LOCAL	      ? "local"
						      : "smtps",
		 s->relay_ok ? "yes" : "no", env->loop_index);
	if (!allowed) {
		log_info(s->sid, "proto=smtp event=refused reason=session-limit");
		conn_printf(s->conn, "421 4.7.0 %s Error: too many connections\r\n", cfg->hostname);
		smtp_close(s);
		return;
	}
	session_set_deadlines(&s->core, cfg->smtp_timeout_ms, cfg->tls_handshake_timeout_ms);
	if (s->state != SMTP_STATE_TLS) /* smtps greets after the handshake */
		conn_printf(s->conn, "220 %s ESMTP konvert\r\n", cfg->hostname);
}

char *smtp_decode_buf(struct smtp_session *s)
{
	if (s->decode_buf == NULL)
		s->decode_buf = xmalloc(SMTP_DECODE_CHUNK + 2);
	return s->decode_buf;
}

void smtp_shutdown(struct smtp_env *env)
{
	session_shutdown_all(env->sessions);
}

void smtp_free_all(struct smtp_env *env)
{
	session_free_all(&env->sessions);
}
