/* pop3_auth: the AUTHORIZATION-state commands USER, PASS (RFC 1939 7),
 * AUTH (RFC 5034) and STLS (RFC 2595) on top of the shared login flow
 * (auth/login: SASL exchange, password check, throttle, delay before a
 * failure reply, log lines): the "+" challenge loop, the wording of every
 * reply ([AUTH], or [SYS/TEMP] when the throttle refuses) and the close at
 * the per-session failure limit. APOP is not offered. A successful login
 * hands over to pop3_maildrop_open(). Passwords are never logged and are
 * wiped from the line buffer once handed on. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "auth/login.h"
#include "config/config.h"
#include "core/log.h"
#include "net/conn.h"
#include "net/tls.h"
#include "pop3/pop3_internal.h"
#include "proto/sasl.h"

/* Dovecot's wording for a refused plaintext login (RFC 3206 [AUTH]). */
#define PLAINTEXT_REFUSED "[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections"

void pop3_auth_fini(struct pop3_session *s)
{
	login_free(&s->auth);
	OPENSSL_cleanse(s->login, sizeof(s->login));
}

bool pop3_auth_busy(const struct pop3_session *s)
{
	return login_is_busy(s->auth);
}

bool pop3_auth_abandon(struct pop3_session *s)
{
	return login_abandon(s->auth);
}

static void forget_user(struct pop3_session *s)
{
	s->has_user = false;
	s->user[0] = '\0';
}

/* Leaves an AUTH exchange (any outcome): normal command lines again. */
static void sasl_end(struct pop3_session *s)
{
	session_set_line_max(&s->core, POP3_CMD_LINE_MAX);
}

/* The end of an attempt, after the throttle's delay for a failure. A
 * success opens the maildrop. RFC 3206 4: [AUTH] says the credentials
 * were wrong, [SYS/TEMP] that the throttle refused the attempt without
 * looking at them (try again later). The last failure allowed gets this
 * same single reply, then the close. */
static void login_done(void *arg, enum login_outcome outcome)
{
	struct pop3_session *s = arg;
	if (outcome == LOGIN_ABANDONED) {
		(void)session_job_done(&s->core); /* the connection is gone */
		return;
	}
	sasl_end(s);
	forget_user(s);
	if (outcome == LOGIN_OK) {
		(void)snprintf(s->login, sizeof(s->login), "%s", login_user(s->auth));
		pop3_maildrop_open(s);
		session_process_input(&s->core);
		return;
	}
	pop3_set_state(s, POP3_STATE_AUTHORIZATION);
	if (outcome == LOGIN_TEMPFAIL)
		pop3_reply(s, POP3_ERR, "[SYS/TEMP] Temporary authentication failure");
	else
		pop3_reply(s, POP3_ERR, "[AUTH] Authentication failed");
	if (login_limit_reached(s->auth) && s->state != POP3_STATE_CLOSED) {
		log_info(s->sid, "proto=pop3 event=disconnect reason=auth-failures");
		pop3_close(s);
		return;
	}
	session_process_input(&s->core);
}

/* The session's login flow, made at its first PASS or AUTH. */
static struct login *auth_login(struct pop3_session *s)
{
	if (s->auth == NULL) {
		const struct login_params p = {
			.sid = s->sid,
			.proto = "pop3",
			.peer = conn_peer(s->conn),
			.peer_text = conn_peer_text(s->conn),
			.base = s->env->base,
			.auth_workers = s->env->auth_workers,
			.authn = s->env->authn,
			.users = &s->env->users,
			.cfg = &s->env->cfg,
			.done = login_done,
			.arg = s,
		};
		s->auth = login_new(&p);
	}
	return s->auth;
}

/* ---- USER / PASS (RFC 1939 7) -------------------------------------------- */

void pop3_cmd_user(struct pop3_session *s, const struct pop3_command *cmd)
{
	if (!pop3_plaintext_allowed(s)) {
		pop3_reply(s, POP3_ERR, PLAINTEXT_REFUSED);
		return;
	}
	const struct word *a = &cmd->argv[0];
	if (a->len > POP3_USER_MAX) {
		pop3_reply(s, POP3_ERR_BAD, "user name too long");
		return;
	}
	memcpy(s->user, a->p, a->len);
	s->user[a->len] = '\0';
	s->has_user = true;
	/* No hint whether the account exists: PASS decides (as Dovecot). */
	pop3_reply(s, POP3_OK, "%s", "");
}

void pop3_cmd_pass(struct pop3_session *s, const struct pop3_command *cmd)
{
	/* The password sits in the line buffer; it is wiped on every path. */
	char *secret = (char *)cmd->rest;
	size_t secret_len = cmd->rest_len;
	if (!s->has_user) {
		OPENSSL_cleanse(secret, secret_len);
		pop3_reply(s, POP3_ERR_BAD, "no USER given");
		return;
	}
	if (!pop3_plaintext_allowed(s)) {
		OPENSSL_cleanse(secret, secret_len);
		forget_user(s);
		pop3_reply(s, POP3_ERR, PLAINTEXT_REFUSED);
		return;
	}
	pop3_set_state(s, POP3_STATE_LOGIN); /* until login_done() */
	/* The login flow copies the password before returning. */
	login_password(auth_login(s), "USER", s->user, strlen(s->user), secret, secret_len);
	OPENSSL_cleanse(secret, secret_len);
}

/* ---- AUTH (RFC 5034) ------------------------------------------------------- */

/* The session's side of a SASL step: the "+" challenge loop, the wait for
 * the login flow, and the replies to exchanges that ended without an
 * attempt. */
static void auth_next(struct pop3_session *s, enum login_sasl next, const char *challenge)
{
	switch (next) {
	case LOGIN_SASL_CHALLENGE:
		pop3_set_state(s, POP3_STATE_SASL);
		session_set_line_max(&s->core, SASL_LINE_MAX);
		/* RFC 5034 4: "+" SP base64; not held to the 512-octet reply
		 * limit (a SCRAM server-first message may be longer). */
		conn_printf(s->conn, "+ %s\r\n", challenge);
		return;
	case LOGIN_SASL_PENDING:
		pop3_set_state(s, POP3_STATE_LOGIN); /* until login_done() */
		return;
	case LOGIN_SASL_CANCELLED:
		sasl_end(s);
		pop3_set_state(s, POP3_STATE_AUTHORIZATION);
		pop3_reply(s, POP3_ERR, "authentication cancelled");
		return;
	case LOGIN_SASL_BASE64:
		sasl_end(s);
		pop3_set_state(s, POP3_STATE_AUTHORIZATION);
		pop3_reply(s, POP3_ERR_BAD, "invalid base64 data");
		return;
	case LOGIN_SASL_MALFORMED:
		sasl_end(s);
		pop3_set_state(s, POP3_STATE_AUTHORIZATION);
		pop3_reply(s, POP3_ERR_BAD, "malformed authentication response");
		return;
	}
}

void pop3_auth_line(struct pop3_session *s, const char *line, size_t len)
{
	char out[SASL_CHALLENGE_MAX];
	/* Too long: fed as garbage, which fails the exchange as malformed
	 * (after the throttle's look at a SCRAM account, as any step). */
	enum login_sasl next = line != NULL
				       ? login_sasl_step(s->auth, line, len, out, sizeof(out))
				       : login_sasl_step(s->auth, "\x01", 1, out, sizeof(out));
	if (line != NULL)
		OPENSSL_cleanse((char *)line, len);
	auth_next(s, next, out);
}

static void list_mechanisms(struct pop3_session *s)
{
	/* A bare AUTH lists the mechanisms, one a line (pre-RFC 5034
	 * clients such as old Outlook rely on it; Dovecot does the same). */
	pop3_reply(s, POP3_OK, "%s", "");
	if (pop3_plaintext_allowed(s)) {
		pop3_data_line(s, "%s", sasl_mech_name(SASL_MECH_PLAIN));
		pop3_data_line(s, "%s", sasl_mech_name(SASL_MECH_LOGIN));
	}
	pop3_data_line(s, "%s", sasl_mech_name(SASL_MECH_SCRAM_SHA_256));
	conn_write(s->conn, ".\r\n", 3);
}

void pop3_cmd_auth(struct pop3_session *s, const struct pop3_command *cmd)
{
	if (cmd->argc == 0) {
		list_mechanisms(s);
		return;
	}
	enum sasl_mech mech;
	if (!sasl_mech_from_name(cmd->argv[0].p, cmd->argv[0].len, &mech)) {
		pop3_reply(s, POP3_ERR_BAD, "unsupported authentication mechanism");
		return;
	}
	if (sasl_mech_is_plaintext(mech) && !pop3_plaintext_allowed(s)) {
		pop3_reply(s, POP3_ERR, PLAINTEXT_REFUSED);
		return;
	}
	/* A USER given before is not part of this exchange. */
	forget_user(s);
	const char *initial = cmd->argc == 2 ? cmd->argv[1].p : NULL;
	size_t ilen = cmd->argc == 2 ? cmd->argv[1].len : 0;
	char out[SASL_CHALLENGE_MAX];
	enum login_sasl next =
		login_sasl_start(auth_login(s), mech, initial, ilen, out, sizeof(out));
	if (initial != NULL)
		OPENSSL_cleanse((char *)initial, ilen);
	auth_next(s, next, out);
}

/* ---- STLS (RFC 2595 4) ---------------------------------------------------- */

void pop3_cmd_stls(struct pop3_session *s, const struct pop3_command *cmd)
{
	(void)cmd;
	if (conn_is_tls(s->conn)) {
		pop3_reply(s, POP3_ERR_BAD, "command not permitted when TLS active");
		return;
	}
	if (s->tls == NULL) {
		pop3_reply(s, POP3_ERR, "TLS is not available");
		return;
	}
	SSL *ssl = tls_server_new_ssl(s->tls);
	if (ssl == NULL) {
		pop3_reply(s, POP3_ERR, "[SYS/TEMP] TLS is not available");
		return;
	}
	pop3_reply(s, POP3_OK, "Begin TLS negotiation");
	forget_user(s);
	/* Nothing said in plaintext carries over (RFC 2595 4), UTF8 neither. */
	s->utf8 = false;
	pop3_set_state(s, POP3_STATE_TLS_HANDSHAKE);
	/* Drops any plaintext pipelined after STLS (CVE-2011-0411). */
	if (conn_starttls(s->conn, ssl) != 0) {
		log_error(s->sid, "proto=pop3 event=stls result=error");
		pop3_close(s);
	}
}
