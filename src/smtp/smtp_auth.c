/* smtp_auth: the AUTH command (RFC 4954) on top of the shared SASL
 * mechanisms (proto/sasl) and password checks (auth/authn): which
 * mechanisms are offered where, the 334 challenge loop, the asynchronous
 * password check, the delay before a failure reply and the 454 when the
 * throttle refuses (both decided and logged by authn), and the
 * per-session failure limit. */
#include <event2/event.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "auth/authn.h"
#include "proto/scram.h"
#include "auth/userdb.h"
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
	sasl_server_free(&s->sasl);
	if (s->auth_delay != NULL) {
		event_free(s->auth_delay);
		s->auth_delay = NULL;
	}
}

static void auth_end(struct smtp_session *s)
{
	sasl_server_free(&s->sasl);
	s->auth_pending[0] = '\0';
	linereader_set_max(&s->lr, SMTP_AUTH_CMD_LINE_MAX);
	smtp_set_state(s, SMTP_STATE_HELO);
}

/* The reply after the throttle's delay: 535 for wrong credentials, or
 * 454 (RFC 4954 6) when the throttle refused the attempt without looking
 * at the credentials. Either counts against the session's limit. */
static void fail_reply(struct smtp_session *s, bool temporary)
{
	event_free(s->auth_delay);
	s->auth_delay = NULL;
	auth_end(s);
	if (temporary)
		smtp_reply(s, 454, "4.7.0", "Temporary authentication failure");
	else
		smtp_reply(s, 535, "5.7.8", "Error: authentication failed");
	if (++s->auth_failures >= AUTHN_SESSION_FAILURES_MAX && s->state != SMTP_STATE_QUIT) {
		log_info(s->sid, "proto=smtp event=disconnect reason=auth-failures");
		conn_printf(s->conn, "421 4.7.0 %s Error: too many failed logins\r\n",
			    s->env->cfg->hostname);
		smtp_close(s);
		return;
	}
	smtp_process_input(s);
}

static void auth_fail_reply_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fail_reply(arg, false);
}

static void auth_temp_reply_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fail_reply(arg, true);
}

/* authn has recorded and logged the failure; the reply waits delay ms. */
static void auth_failed(struct smtp_session *s, enum authn_result result, unsigned delay)
{
	sasl_server_free(&s->sasl);
	smtp_set_state(s, SMTP_STATE_AUTH_WAIT);
	struct timeval tv = {.tv_sec = delay / 1000, .tv_usec = (delay % 1000) * 1000};
	s->auth_delay = evtimer_new(s->env->base,
				    result == AUTHN_LOCKED ? auth_temp_reply_cb : auth_fail_reply_cb, s);
	(void)evtimer_add(s->auth_delay, &tv);
}

static void auth_ok(struct smtp_session *s)
{
	s->authenticated = true;
	(void)snprintf(s->auth_user, sizeof(s->auth_user), "%s", s->auth_pending);
	log_info(s->sid, "proto=smtp event=auth result=ok user=%s mechanism=%s", s->auth_user,
		 s->sasl != NULL ? sasl_server_mech_name(s->sasl) : "-");
	auth_end(s);
	smtp_reply(s, 235, "2.7.0", "Authentication successful");
}

/* The attempt as authn sees it; normalises the authcid into auth_pending
 * when no step has done so yet (a refused authzid fails that early). */
static void attempt_of(struct smtp_session *s, struct authn_attempt *at)
{
	const char *name = s->sasl != NULL ? sasl_authcid(s->sasl) : NULL;
	if (s->auth_pending[0] == '\0' && name != NULL &&
	    authn_normalize_user(name, strlen(name), s->env->cfg->domains[0], s->auth_pending,
				 sizeof(s->auth_pending)) != 0)
		s->auth_pending[0] = '\0';
	*at = (struct authn_attempt){
		.sid = s->sid,
		.proto = "smtp",
		.mechanism = s->sasl != NULL ? sasl_server_mech_name(s->sasl) : NULL,
		.peer = conn_peer(s->conn),
		.peer_text = conn_peer_text(s->conn),
		.user = s->auth_pending,
		.name = name,
		.name_len = name != NULL ? strlen(name) : 0,
	};
}

/* An outcome decided here, not by a password check (SCRAM, a refused
 * authzid): the throttle still has the last word. */
static void conclude(struct smtp_session *s, bool ok)
{
	struct authn_attempt at;
	unsigned delay;
	attempt_of(s, &at);
	enum authn_result r = authn_conclude(s->env->authn, s->env->users, &at, ok, &delay);
	if (r == AUTHN_OK)
		auth_ok(s);
	else
		auth_failed(s, r, delay);
}

/* SCRAM verifies the proof inside the exchange, and its next challenge
 * would tell a right guess from a wrong one: a locked account is refused
 * before that (true: refused, the failure reply is on its way). */
static bool refused(struct smtp_session *s)
{
	struct authn_attempt at;
	unsigned delay;
	attempt_of(s, &at);
	if (authn_admit(s->env->authn, s->env->users, &at, &delay) == 0)
		return false;
	auth_failed(s, AUTHN_LOCKED, delay);
	return true;
}

static void handle_status(struct smtp_session *s, enum sasl_status st, const char *challenge);

/* authn has recorded the outcome (and logged a failure) already. */
static void password_checked(void *arg, enum authn_result result, unsigned delay)
{
	struct smtp_session *s = arg;
	s->auth_job = false;
	if (s->dead) {
		smtp_session_end_after_commit(s);
		return;
	}
	if (result != AUTHN_OK) {
		auth_failed(s, result, delay);
	} else {
		char out[SASL_CHALLENGE_MAX];
		enum sasl_status st = sasl_password_result(s->sasl, true, out, sizeof(out));
		if (st == SASL_SUCCESS)
			auth_ok(s);
		else
			handle_status(s, st, out);
	}
	smtp_process_input(s);
}

static void handle_status(struct smtp_session *s, enum sasl_status st, const char *challenge)
{
	const char *default_domain = s->env->cfg->domains[0];
	const char *authcid = sasl_authcid(s->sasl);
	char out[SASL_CHALLENGE_MAX];
	switch (st) {
	case SASL_CHALLENGE:
		smtp_set_state(s, SMTP_STATE_AUTH);
		linereader_set_max(&s->lr, SASL_LINE_MAX);
		conn_printf(s->conn, "334 %s\r\n", challenge);
		return;
	case SASL_CHECK_PASSWORD: {
		if (authn_normalize_user(authcid, strlen(authcid), default_domain, s->auth_pending,
					 sizeof(s->auth_pending)) != 0)
			s->auth_pending[0] = '\0'; /* checked anyway: same cost */
		smtp_set_state(s, SMTP_STATE_AUTH_WAIT);
		s->auth_job = true;
		struct authn_attempt at;
		attempt_of(s, &at);
		const char *pw = sasl_password(s->sasl);
		authn_login(s->env->authn, s->env->auth_workers, s->env->users, &at, pw, strlen(pw),
			    password_checked, s);
		return;
	}
	case SASL_NEED_CREDS: {
		struct scram_creds creds;
		const struct scram_creds *cp = NULL;
		if (authn_normalize_user(authcid, strlen(authcid), default_domain, s->auth_pending,
					 sizeof(s->auth_pending)) == 0) {
			if (refused(s))
				return;
			const struct user_entry *u =
				userdb_find(s->env->users, s->auth_pending, strlen(s->auth_pending));
			if (u != NULL && u->extra != NULL && scram_parse_credentials(u->extra, &creds) == 0)
				cp = &creds;
		} else {
			s->auth_pending[0] = '\0';
		}
		enum sasl_status next = sasl_set_scram_creds(s->sasl, cp, out, sizeof(out));
		OPENSSL_cleanse(&creds, sizeof(creds));
		handle_status(s, next, out);
		return;
	}
	case SASL_SUCCESS:
		/* SCRAM: the proof was right; PLAIN and LOGIN end in
		 * password_checked(). */
		conclude(s, s->auth_pending[0] != '\0');
		return;
	case SASL_FAIL_CANCELLED:
		auth_end(s);
		smtp_reply(s, 501, "5.0.0", "Authentication cancelled");
		return;
	case SASL_FAIL_BASE64:
		auth_end(s);
		smtp_reply(s, 501, "5.5.2", "Error: invalid base64 data");
		return;
	case SASL_FAIL_MALFORMED:
		auth_end(s);
		smtp_reply(s, 501, "5.5.2", "Error: malformed authentication response");
		return;
	case SASL_FAIL_AUTH:
		conclude(s, false);
		return;
	}
}

void smtp_auth_too_long(struct smtp_session *s)
{
	auth_end(s);
	smtp_reply(s, 500, "5.5.6", "Error: authentication exchange line is too long");
}

void smtp_auth_line(struct smtp_session *s, const char *line, size_t len)
{
	char out[SASL_CHALLENGE_MAX];
	/* Set once SCRAM knows the user: its next step checks the proof. */
	if (s->auth_pending[0] != '\0' && refused(s))
		return;
	enum sasl_status st = sasl_server_step(s->sasl, line, len, out, sizeof(out));
	handle_status(s, st, out);
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
	s->sasl = sasl_server_new(mech);
	char out[SASL_CHALLENGE_MAX];
	enum sasl_status st = sasl_server_start(s->sasl, initial, ilen, out, sizeof(out));
	handle_status(s, st, out);
}
