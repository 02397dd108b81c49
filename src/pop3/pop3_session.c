/* pop3_session: drives one POP3 connection: greeting, the state variable,
 * the reply writer, error limits and the POP3 side of the session core's
 * hooks (what each state does with input, TLS restart, the timeout and
 * shutdown replies). How a session lives and dies (input loop, reading on
 * and off, deferred free after a job, teardown) is net/session.c. What a
 * command means lives in pop3_cmd.c (table and TRANSACTION commands),
 * pop3_auth.c (login), pop3_maildrop.c (lock and UPDATE) and pop3_send.c
 * (multi-line output); this file never decides it. */
#include "pop3/pop3_session.h"

#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/authn.h"
#include "config/config.h"
#include "core/alloc.h"
#include "core/id.h"
#include "core/kassert.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/utf8.h"
#include "net/conn.h"
#include "net/tls.h"
#include "pop3/pop3_internal.h"
#include "proto/sasl.h"
#include "store/maildrop.h"

static const char *const state_names[POP3_STATE_COUNT] = {
	[POP3_STATE_TLS_HANDSHAKE] = "tls-handshake",
	[POP3_STATE_AUTHORIZATION] = "authorization",
	[POP3_STATE_SASL] = "sasl",
	[POP3_STATE_LOGIN] = "login",
	[POP3_STATE_TRANSACTION] = "transaction",
	[POP3_STATE_SENDING] = "sending",
	[POP3_STATE_UPDATE] = "update",
	[POP3_STATE_CLOSED] = "closed",
};

const char *pop3_state_name(enum pop3_state state)
{
	return state < POP3_STATE_COUNT ? state_names[state] : "?";
}

void pop3_set_state(struct pop3_session *s, enum pop3_state state)
{
	/* Closing is final (a late timer must not reopen a session). */
	if (s->state == state || s->state == POP3_STATE_CLOSED)
		return;
	log_debug(s->sid, "proto=pop3 event=state from=%s to=%s", pop3_state_name(s->state),
		  pop3_state_name(state));
	s->state = state;
	session_state_changed(&s->core);
}

void pop3_close(struct pop3_session *s)
{
	session_close(&s->core);
}

/* Copies text into out (room bytes, no NUL) and returns the length. In
 * UTF-8 mode a well-formed UTF-8 sequence goes as it is, never cut;
 * every other byte >= 0x80 becomes \xNN (RFC 6856 2: UTF-8 in replies
 * only after UTF8), never cut either. The text is ours or escaped
 * already (log_escape); only a login name, UTF-8 checked by auth/userdb,
 * brings bytes >= 0x80. */
static size_t reply_text(char *out, size_t room, const char *text, bool utf8)
{
	static const char hex[] = "0123456789abcdef";
	size_t len = strlen(text), o = 0;
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)text[i];
		size_t take = 1, need = 1;
		if (c >= 0x80) {
			size_t n = utf8 ? utf8_seq_len(text + i, len - i) : 0;
			if (n > 1)
				take = need = n;
			else
				need = 4;
		}
		if (o + need > room)
			break;
		if (need == 4 && take == 1) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			memcpy(out + o, text + i, take);
			o += take;
		}
		i += take;
	}
	return o;
}

void pop3_reply(struct pop3_session *s, enum pop3_reply_kind kind, const char *fmt, ...)
{
	/* RFC 2449 4: at most 512 octets with the CRLF. */
	char line[POP3_REPLY_MAX + 1];
	const char *status = kind == POP3_OK ? "+OK" : "-ERR";
	size_t n = strlen(status);
	memcpy(line, status, n);
	char text[POP3_REPLY_MAX];
	va_list ap;
	va_start(ap, fmt);
	int tn = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (tn < 0)
		text[0] = '\0';
	if (text[0] != '\0') {
		line[n++] = ' ';
		n += reply_text(line + n, POP3_REPLY_MAX - 2 - n, text, s->utf8);
	}
	line[n++] = '\r';
	line[n++] = '\n';
	conn_write(s->conn, line, n);
	/* Before login every -ERR counts and nothing resets the count: a
	 * client that is refused (plaintext USER, AUTH PLAIN, a cancelled
	 * AUTH) gets POP3_BAD_CMDS_MAX answers in all, however it interleaves
	 * them with CAPA. Those refusals are logged at debug only; the
	 * disconnect is the one line at info. */
	bool preauth = s->txn == NULL;
	if (kind == POP3_OK) {
		if (!preauth)
			s->bad_cmds = 0;
		return;
	}
	char esc[256];
	(void)log_escape(esc, sizeof(esc), text, strlen(text));
	const char *st = pop3_state_name(s->state);
	if (preauth)
		log_debug(s->sid, "proto=pop3 event=reply result=err state=%s text=\"%s\"", st, esc);
	else
		log_info(s->sid, "proto=pop3 event=reply result=err state=%s text=\"%s\"", st, esc);
	if ((kind == POP3_ERR_BAD || preauth) && ++s->bad_cmds >= POP3_BAD_CMDS_MAX &&
	    s->state != POP3_STATE_CLOSED) {
		/* The -ERR just queued is the last line: one reply per command. */
		log_info(s->sid, "proto=pop3 event=disconnect reason=too-many-errors state=%s", st);
		pop3_close(s);
	}
}

void pop3_data_line(struct pop3_session *s, const char *fmt, ...)
{
	char line[POP3_REPLY_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)(sizeof(line) - 3);
	KASSERT(n == 0 || line[0] != '.');
	line[n++] = '\r';
	line[n++] = '\n';
	conn_write(s->conn, line, (size_t)n);
}

bool pop3_plaintext_allowed(const struct pop3_session *s)
{
	return authn_plaintext_allowed(s->env->cfg->plaintext_auth, conn_is_tls(s->conn),
				       conn_is_loopback(s->conn));
}

bool pop3_stls_offered(const struct pop3_session *s)
{
	return s->tls != NULL && !conn_is_tls(s->conn);
}

void pop3_txn_free(struct pop3_txn **pp)
{
	struct pop3_txn *t = *pp;
	if (t == NULL)
		return;
	pop3_send_free(&t->send);
	/* No UPDATE: the lock goes, the mailbox stays as it was. */
	maildrop_close(&t->md);
	free(t);
	*pp = NULL;
}

bool pop3_state_takes_lines(enum pop3_state state)
{
	return state == POP3_STATE_AUTHORIZATION || state == POP3_STATE_SASL ||
	       state == POP3_STATE_TRANSACTION;
}

static void greet(struct pop3_session *s)
{
	/* No APOP timestamp: APOP is not offered (RFC 1939 7). */
	pop3_reply(s, POP3_OK, "%s POP3 server ready (konvert)", s->env->cfg->hostname);
}

/* ---- the session core's hooks (net/session.h) ---------------------------- */

/* LOGIN and UPDATE wait for a worker or the login flow: no reading, no
 * timeout. SENDING produces a long reply: no reading either, which also
 * keeps the idle timer from firing while a 50 MB RETR is being written
 * (the write timeout still runs). */
static enum session_mode ops_mode(void *owner)
{
	const struct pop3_session *s = owner;
	if (pop3_state_takes_lines(s->state))
		return SESSION_MODE_LINES;
	switch (s->state) {
	case POP3_STATE_LOGIN:
	case POP3_STATE_UPDATE:
		return SESSION_MODE_WORKING;
	case POP3_STATE_SENDING:
		return SESSION_MODE_SENDING;
	default:
		return SESSION_MODE_HOLD;
	}
}

static void ops_enter_closed(void *owner)
{
	pop3_set_state(owner, POP3_STATE_CLOSED);
}

/* USER/PASS, AUTH and SASL lines carry secrets whatever the outcome
 * (refused, wrong state): every line is wiped once used (no
 * line_is_secret hook). */
static void ops_on_line(void *owner, enum linereader_status st, const char *line, size_t len)
{
	struct pop3_session *s = owner;
	if (s->state == POP3_STATE_SASL) {
		/* A too-long SASL response fails the exchange (RFC 5034 4). */
		pop3_auth_line(s, st == LINEREADER_LINE ? line : NULL, len);
		return;
	}
	if (st == LINEREADER_TOO_LONG || len > POP3_CMD_LINE_MAX) {
		pop3_reply(s, POP3_ERR_BAD, "line too long");
		return;
	}
	if (memchr(line, '\0', len) != NULL) {
		pop3_reply(s, POP3_ERR_BAD, "NUL character in command");
		return;
	}
	pop3_dispatch(s, line, len);
}

static void ops_on_drained(void *owner)
{
	struct pop3_session *s = owner;
	if (s->state == POP3_STATE_SENDING)
		pop3_send_pump(s);
}

static void ops_on_tls_ready(void *owner)
{
	struct pop3_session *s = owner;
	if (s->state != POP3_STATE_TLS_HANDSHAKE)
		return;
	char desc[TLS_DESCRIBE_SIZE];
	tls_describe(conn_ssl(s->conn), desc, sizeof(desc));
	log_info(s->sid, "proto=pop3 event=tls %s", desc);
	metrics_tls_session(tls_version_name(conn_ssl(s->conn)), METRICS_TLS_SERVER);
	/* RFC 2595 4: after STLS the session starts over in AUTHORIZATION;
	 * a USER given before is forgotten. */
	s->has_user = false;
	s->user[0] = '\0';
	pop3_set_state(s, POP3_STATE_AUTHORIZATION);
	if (s->kind == POP3_LISTENER_TLS)
		greet(s);
}

static void ops_on_timeout(void *owner)
{
	struct pop3_session *s = owner;
	/* RFC 1939 3: the autologout timer ends the session without
	 * entering UPDATE, so nothing is deleted. */
	log_info(s->sid, "proto=pop3 event=timeout state=%s deadline=%s",
		 pop3_state_name(s->state), conn_timeout_what(s->conn));
	if (s->state != POP3_STATE_TLS_HANDSHAKE && s->state != POP3_STATE_SENDING)
		pop3_reply(s, POP3_ERR, "disconnected for inactivity");
}

/* A maildrop job or a password check points at s. */
static bool ops_is_busy(const void *owner)
{
	const struct pop3_session *s = owner;
	return s->job != NULL || pop3_auth_busy(s);
}

/* The connection is gone: a job frees the session when it returns
 * (pop3_maildrop.c), a password check when it is answered. */
static bool ops_abandon(void *owner)
{
	struct pop3_session *s = owner;
	return s->job != NULL || pop3_auth_abandon(s);
}

static void ops_goodbye(void *owner)
{
	struct pop3_session *s = owner;
	/* A delayed login-failure reply must not follow the goodbye. */
	pop3_auth_fini(s);
	/* RFC 2449 8.1.2 [SYS/TEMP]: try again later; nothing is deleted
	 * (no UPDATE). No plaintext in the middle of a TLS handshake. */
	if (s->state != POP3_STATE_TLS_HANDSHAKE)
		pop3_reply(s, POP3_ERR, "[SYS/TEMP] shutting down");
}

static const char *ops_state_name(const void *owner)
{
	return pop3_state_name(((const struct pop3_session *)owner)->state);
}

static void ops_end_fields(const void *owner, char *out, size_t size)
{
	const struct pop3_session *s = owner;
	(void)snprintf(out, size, "user=%s retrieved=%u", s->txn ? s->txn->user : "-",
		       s->txn ? s->txn->retrieved : 0);
}

static void ops_release(void *owner)
{
	struct pop3_session *s = owner;
	KASSERT(s->job == NULL && !pop3_auth_busy(s));
	pop3_auth_fini(s);
	pop3_txn_free(&s->txn);
	tls_server_unref(&s->tls);
}

static const struct session_ops pop3_ops = {
	.proto = "pop3",
	.mode = ops_mode,
	.on_line = ops_on_line,
	.on_drained = ops_on_drained,
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

void pop3_session_start(struct pop3_env *env, enum pop3_listener_kind kind, int fd,
			const struct sockaddr *peer, socklen_t peer_len, bool allowed)
{
	metrics_connection(kind == POP3_LISTENER_TLS ? METRICS_LISTENER_POP3S : METRICS_LISTENER_POP3);
	struct pop3_session *s = xcalloc(1, sizeof(*s));
	id_new(s->sid);
	s->env = env;
	s->kind = kind;
	bool implicit_tls = kind == POP3_LISTENER_TLS && allowed && env->tls != NULL;
	s->state = implicit_tls ? POP3_STATE_TLS_HANDSHAKE : POP3_STATE_AUTHORIZATION;
	if (!implicit_tls && env->tls != NULL && kind == POP3_LISTENER_PLAIN) {
		/* STLS later uses the context this session started with. */
		tls_server_ref(env->tls);
		s->tls = env->tls;
	}
	const struct session_params p = {
		.ops = &pop3_ops,
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
		.listener = kind == POP3_LISTENER_TLS ? METRICS_LISTENER_POP3S : METRICS_LISTENER_POP3,
		.line_max = POP3_CMD_LINE_MAX,
		.output_high = POP3_OUTPUT_HIGH,
	};
	session_start(&s->core, &p);
	s->conn = s->core.conn;
	const struct config *cfg = env->cfg;
	log_info(s->sid, "proto=pop3 event=connect client=%s port=%u listener=%s loop=%u",
		 conn_peer_text(s->conn), conn_local_port(s->conn),
		 kind == POP3_LISTENER_TLS ? "pop3s" : "pop3", env->loop_index);
	/* On pop3s a plaintext -ERR would reach a TLS client as a broken
	 * handshake (and a handshake only to refuse costs CPU under exactly
	 * the load that hit the limit): there the connection just closes. */
	if (!allowed) {
		log_info(s->sid, "proto=pop3 event=refused reason=session-limit");
		if (kind == POP3_LISTENER_PLAIN)
			pop3_reply(s, POP3_ERR, "[SYS/TEMP] too many connections");
		pop3_close(s);
		return;
	}
	if (kind == POP3_LISTENER_TLS && !implicit_tls) {
		log_error(s->sid, "proto=pop3 event=refused reason=no-tls-context");
		pop3_close(s);
		return;
	}
	/* RFC 1939 3: an autologout timer of at least 10 minutes. */
	session_set_deadlines(&s->core, cfg->pop3_timeout_ms, cfg->tls_handshake_timeout_ms);
	if (!implicit_tls) /* pop3s greets after the handshake */
		greet(s);
}

void pop3_shutdown(struct pop3_env *env)
{
	session_shutdown_all(env->sessions);
}

void pop3_free_all(struct pop3_env *env)
{
	session_free_all(&env->sessions);
}
