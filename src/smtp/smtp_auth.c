/* smtp_auth: the AUTH command (RFC 4954) on top of the shared login flow
 * (auth/login: SASL exchange, password check, throttle, delay before a
 * failure reply, log lines): which mechanisms are offered where, the 334
 * challenge loop, the wording of every reply (535, or 454 when the
 * throttle refuses) and the disconnect at the per-session failure limit. */
#include <stdio.h>
#include <string.h>

#include "auth/authn.h"
#include "auth/login.h"
#include "config/config.h"
#include "core/log.h"
#include "net/conn.h"
#include "proto/sasl.h"
#include "smtp/smtp_internal.h"

bool smtp_auth_offered(const struct smtp_session *s)
{
	/* RFC 4954 4 / RFC 3207 6: on the MTA port AUTH only inside TLS. */
	if (s->kind == SMTP_LISTENER_MTA)
		return conn_is_tls(s->conn);
	return s->kind != SMTP_LISTENER_LOCAL; /* the kernel vouched already */
}

bool smtp_plaintext_allowed(const struct smtp_session *s)
{
	return authn_plaintext_allowed(s->env->cfg->plaintext_auth, conn_is_tls(s->conn),
				       conn_is_loopback(s->conn));
}

void smtp_auth_fini(struct smtp_session *s)
{
	login_free(&s->auth);
}

bool smtp_auth_busy(const struct smtp_session *s)
{
	return login_is_busy(s->auth);
}

bool smtp_auth_abandon(struct smtp_session *s)
{
	return login_abandon(s->auth);
}

static void auth_end(struct smtp_session *s)
{
	session_set_line_max(&s->core, SMTP_AUTH_CMD_LINE_MAX);
	smtp_set_state(s, SMTP_STATE_HELO);
}

/* The end of an attempt (after the throttle's delay for a failure): 235,
 * 535 for wrong credentials, or 454 (RFC 4954 6) when the throttle
 * refused the attempt without looking at the credentials. A failure
 * counts against the session's limit. */
static void auth_done(void *arg, enum login_outcome outcome)
{
	struct smtp_session *s = arg;
	switch (outcome) {
	case LOGIN_ABANDONED:
		(void)session_job_done(&s->core); /* the connection is gone */
		return;
	case LOGIN_OK:
		s->authenticated = true;
		(void)snprintf(s->auth_user, sizeof(s->auth_user), "%s", login_user(s->auth));
		auth_end(s);
		smtp_reply(s, 235, "2.7.0", "Authentication successful");
		break;
	case LOGIN_FAILED:
	case LOGIN_TEMPFAIL:
		auth_end(s);
		if (outcome == LOGIN_TEMPFAIL)
			smtp_reply(s, 454, "4.7.0", "Temporary authentication failure");
		else
			smtp_reply(s, 535, "5.7.8", "Error: authentication failed");
		if (login_limit_reached(s->auth) && s->state != SMTP_STATE_QUIT) {
			log_info(s->sid, "proto=smtp event=disconnect reason=auth-failures");
			conn_printf(s->conn, "421 4.7.0 %s Error: too many failed logins\r\n",
				    s->env->cfg->hostname);
			smtp_close(s);
			return;
		}
		break;
	}
	session_process_input(&s->core);
}

/* The session's login flow, made at its first AUTH. */
static struct login *auth_login(struct smtp_session *s)
{
	if (s->auth == NULL) {
		const struct login_params p = {
			.sid = s->sid,
			.proto = "smtp",
			.peer = conn_peer(s->conn),
			.peer_text = conn_peer_text(s->conn),
			.base = s->env->base,
			.auth_workers = s->env->auth_workers,
			.authn = s->env->authn,
			.users = &s->env->users,
			.cfg = &s->env->cfg,
			.done = auth_done,
			.arg = s,
		};
		s->auth = login_new(&p);
	}
	return s->auth;
}

/* The session's side of a SASL step: the 334 challenge loop, the wait for
 * the login flow, and the replies to exchanges that ended without an
 * attempt. */
static void auth_next(struct smtp_session *s, enum login_sasl next, const char *challenge)
{
	switch (next) {
	case LOGIN_SASL_CHALLENGE:
		smtp_set_state(s, SMTP_STATE_AUTH);
		session_set_line_max(&s->core, SASL_LINE_MAX);
		conn_printf(s->conn, "334 %s\r\n", challenge);
		return;
	case LOGIN_SASL_PENDING:
		smtp_set_state(s, SMTP_STATE_AUTH_WAIT); /* until auth_done() */
		return;
	case LOGIN_SASL_CANCELLED:
		auth_end(s);
		smtp_reply(s, 501, "5.0.0", "Authentication cancelled");
		return;
	case LOGIN_SASL_BASE64:
		auth_end(s);
		smtp_reply(s, 501, "5.5.2", "Error: invalid base64 data");
		return;
	case LOGIN_SASL_MALFORMED:
		auth_end(s);
		smtp_reply(s, 501, "5.5.2", "Error: malformed authentication response");
		return;
	}
}

void smtp_auth_too_long(struct smtp_session *s)
{
	login_sasl_end(s->auth);
	auth_end(s);
	smtp_reply(s, 500, "5.5.6", "Error: authentication exchange line is too long");
}

void smtp_auth_line(struct smtp_session *s, const char *line, size_t len)
{
	char out[SASL_CHALLENGE_MAX];
	enum login_sasl next = login_sasl_step(s->auth, line, len, out, sizeof(out));
	auth_next(s, next, out);
}

void smtp_cmd_auth(struct smtp_session *s, const char *args, size_t len)
{
	if (!smtp_auth_offered(s)) {
		smtp_reply(s, 503, "5.5.1", "Error: authentication not enabled");
		return;
	}
	if (s->authenticated) {
		/* RFC 4954 4: no second AUTH in a session. */
		smtp_reply(s, 503, "5.5.1", "Error: already authenticated");
		return;
	}
	if (!s->esmtp) {
		smtp_reply(s, 503, "5.5.1", "Error: send EHLO first");
		return;
	}
	size_t mlen = 0;
	while (mlen < len && args[mlen] != ' ')
		mlen++;
	enum sasl_mech mech;
	if (mlen == 0) {
		smtp_reply(s, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
		return;
	}
	if (!sasl_mech_from_name(args, mlen, &mech)) {
		smtp_reply(s, 504, "5.5.4", "Error: unrecognized authentication type");
		return;
	}
	if (sasl_mech_is_plaintext(mech) && !smtp_plaintext_allowed(s)) {
		/* RFC 4954 6: 538 when the mechanism needs an encrypted channel. */
		smtp_reply(s, 538, "5.7.11", "Encryption required for requested authentication mechanism");
		return;
	}
	const char *initial = NULL;
	size_t ilen = 0;
	if (mlen < len) {
		initial = args + mlen + 1;
		ilen = len - mlen - 1;
		if (ilen == 0 || memchr(initial, ' ', ilen) != NULL) {
			smtp_reply(s, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
			return;
		}
	}
	char out[SASL_CHALLENGE_MAX];
	enum login_sasl next =
		login_sasl_start(auth_login(s), mech, initial, ilen, out, sizeof(out));
	auth_next(s, next, out);
}
