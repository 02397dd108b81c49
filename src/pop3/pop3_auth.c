/* pop3_auth: the AUTHORIZATION-state commands USER, PASS (RFC 1939 7),
 * AUTH (RFC 5034, on the shared SASL mechanisms of proto/sasl) and STLS
 * (RFC 2595), the asynchronous password check (auth/authn, which also
 * throttles and logs failed logins), the delayed failure reply ([AUTH],
 * or [SYS/TEMP] when the throttle refuses), and the per-session failure
 * limit. APOP is not offered. A
 * successful login hands over to pop3_maildrop_open(). Passwords are never
 * logged and are wiped from the line buffer once handed on. */
#include <event2/event.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "auth/authn.h"
#include "proto/scram.h"
#include "auth/userdb.h"
#include "config/config.h"
#include "core/kassert.h"
#include "core/log.h"
#include "net/conn.h"
#include "net/tls.h"
#include "pop3/pop3_internal.h"
#include "proto/sasl.h"

/* Dovecot's wording for a refused plaintext login (RFC 3206 [AUTH]). */
#define PLAINTEXT_REFUSED "[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections"

void pop3_auth_fini(struct pop3_session *s)
{
	sasl_server_free(&s->sasl);
	if (s->delay != NULL) {
		event_free(s->delay);
		s->delay = NULL;
	}
	OPENSSL_cleanse(s->login, sizeof(s->login));
}

static void forget_user(struct pop3_session *s)
{
	s->has_user = false;
	s->user[0] = '\0';
}

/* Leaves an AUTH exchange (any outcome): normal command lines again. */
static void sasl_end(struct pop3_session *s)
{
	sasl_server_free(&s->sasl);
	linereader_set_max(&s->lr, POP3_CMD_LINE_MAX);
}

/* The reply after the throttle's delay. RFC 3206 4: [AUTH] says the
 * credentials were wrong, [SYS/TEMP] that the throttle refused the
 * attempt without looking at them (try again later). The last failure
 * gets this same single reply, then the close. */
static void fail_reply(struct pop3_session *s, bool temporary)
{
	event_free(s->delay);
	s->delay = NULL;
	s->login[0] = '\0';
	pop3_set_state(s, POP3_STATE_AUTHORIZATION);
	if (temporary)
		pop3_reply(s, POP3_ERR, "[SYS/TEMP] Temporary authentication failure");
	else
		pop3_reply(s, POP3_ERR, "[AUTH] Authentication failed");
	if (s->auth_failures >= AUTHN_SESSION_FAILURES_MAX && s->state != POP3_STATE_CLOSED) {
		log_info(s->sid, "proto=pop3 event=disconnect reason=auth-failures");
		pop3_close(s);
		return;
	}
	pop3_process_input(s);
}

static void fail_reply_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fail_reply(arg, false);
}

static void temp_reply_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fail_reply(arg, true);
}

/* A failed login, already recorded and logged by authn: the reply waits
 * delay ms, and the session ends after AUTHN_SESSION_FAILURES_MAX. */
static void login_failed(struct pop3_session *s, enum authn_result result, unsigned delay)
{
	s->auth_failures++;
	sasl_end(s);
	forget_user(s);
	pop3_set_state(s, POP3_STATE_LOGIN);
	struct timeval tv = {.tv_sec = delay / 1000, .tv_usec = (delay % 1000) * 1000};
	KASSERT(s->delay == NULL);
	s->delay = evtimer_new(s->env->base, result == AUTHN_LOCKED ? temp_reply_cb : fail_reply_cb,
			       s);
	(void)evtimer_add(s->delay, &tv);
}

static void login_ok(struct pop3_session *s, const char *how)
{
	log_info(s->sid, "proto=pop3 event=auth result=ok mechanism=%s user=%s",
		 strcmp(how, "sasl") == 0 && s->sasl != NULL ? sasl_server_mech_name(s->sasl) : "USER",
		 s->login);
	sasl_end(s);
	forget_user(s);
	pop3_maildrop_open(s);
}

/* The attempt as authn sees it: s->login must be set (set_login). */
static void attempt_of(struct pop3_session *s, struct authn_attempt *at)
{
	const char *name = s->sasl != NULL ? sasl_authcid(s->sasl) : s->has_user ? s->user : NULL;
	*at = (struct authn_attempt){
		.sid = s->sid,
		.proto = "pop3",
		.mechanism = s->sasl != NULL ? sasl_server_mech_name(s->sasl) : "USER",
		.peer = conn_peer(s->conn),
		.peer_text = conn_peer_text(s->conn),
		.user = s->login,
		.name = name,
		.name_len = name != NULL ? strlen(name) : 0,
	};
}

static void set_login(struct pop3_session *s, const char *name, size_t len)
{
	if (authn_normalize_user(name, len, s->env->cfg->domains[0], s->login, sizeof(s->login)) !=
	    0)
		s->login[0] = '\0';
}

/* SCRAM verifies the proof inside the exchange, and its next challenge
 * would tell a right guess from a wrong one: a locked account is refused
 * before that (true: refused, the failure reply is on its way). */
static bool refused(struct pop3_session *s)
{
	struct authn_attempt at;
	unsigned delay;
	attempt_of(s, &at);
	if (authn_admit(s->env->authn, s->env->users, &at, &delay) == 0)
		return false;
	login_failed(s, AUTHN_LOCKED, delay);
	return true;
}

/* An outcome decided here, not by a password check (SCRAM, a refused
 * authzid): the throttle still has the last word. */
static void conclude(struct pop3_session *s, bool ok)
{
	const char *authcid = s->sasl != NULL ? sasl_authcid(s->sasl) : NULL;
	if (s->login[0] == '\0' && authcid != NULL)
		set_login(s, authcid, strlen(authcid));
	struct authn_attempt at;
	unsigned delay;
	attempt_of(s, &at);
	enum authn_result r =
		authn_conclude(s->env->authn, s->env->users, &at, ok && s->login[0] != '\0', &delay);
	if (r == AUTHN_OK)
		login_ok(s, "sasl");
	else
		login_failed(s, r, delay);
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

static void handle_status(struct pop3_session *s, enum sasl_status st, const char *challenge);

/* authn has recorded the outcome (and logged a failure) already. */
static void password_checked(void *arg, enum authn_result result, unsigned delay)
{
	struct pop3_session *s = arg;
	s->auth_job = false;
	if (s->dead) {
		pop3_session_free(s);
		return;
	}
	if (result != AUTHN_OK) {
		login_failed(s, result, delay);
	} else if (s->sasl != NULL) {
		char out[SASL_CHALLENGE_MAX];
		enum sasl_status st = sasl_password_result(s->sasl, true, out, sizeof(out));
		if (st == SASL_SUCCESS)
			login_ok(s, "sasl");
		else
			handle_status(s, st, out);
	} else {
		login_ok(s, "user");
	}
	pop3_process_input(s);
}

/* Starts the password check for s->login (may be "" for a name that is no
 * address: checked anyway so that timing tells nothing). */
static void check_password(struct pop3_session *s, const char *pw, size_t pw_len)
{
	pop3_set_state(s, POP3_STATE_LOGIN);
	s->auth_job = true;
	struct authn_attempt at;
	attempt_of(s, &at);
	authn_login(s->env->authn, s->env->auth_workers, s->env->users, &at, pw, pw_len,
		    password_checked, s);
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
	set_login(s, s->user, strlen(s->user));
	/* authn copies the password before returning. */
	check_password(s, secret, secret_len);
	OPENSSL_cleanse(secret, secret_len);
}

/* ---- AUTH (RFC 5034) ------------------------------------------------------- */

static void handle_status(struct pop3_session *s, enum sasl_status st, const char *challenge)
{
	char out[SASL_CHALLENGE_MAX];
	const char *authcid = sasl_authcid(s->sasl);
	switch (st) {
	case SASL_CHALLENGE:
		pop3_set_state(s, POP3_STATE_SASL);
		linereader_set_max(&s->lr, SASL_LINE_MAX);
		/* RFC 5034 4: "+" SP base64; not held to the 512-octet reply
		 * limit (a SCRAM server-first message may be longer). */
		conn_printf(s->conn, "+ %s\r\n", challenge);
		return;
	case SASL_CHECK_PASSWORD: {
		set_login(s, authcid, strlen(authcid));
		const char *pw = sasl_password(s->sasl);
		check_password(s, pw, strlen(pw));
		return;
	}
	case SASL_NEED_CREDS: {
		struct scram_creds creds;
		const struct scram_creds *cp = NULL;
		set_login(s, authcid, strlen(authcid));
		if (s->login[0] != '\0' && refused(s))
			return;
		if (s->login[0] != '\0') {
			const struct user_entry *u =
				userdb_find(s->env->users, s->login, strlen(s->login));
			if (u != NULL && u->extra != NULL && scram_parse_credentials(u->extra, &creds) == 0)
				cp = &creds;
		}
		enum sasl_status next = sasl_set_scram_creds(s->sasl, cp, out, sizeof(out));
		OPENSSL_cleanse(&creds, sizeof(creds));
		handle_status(s, next, out);
		return;
	}
	case SASL_SUCCESS:
		/* SCRAM: the proof was right; PLAIN and LOGIN end in
		 * password_checked(). */
		conclude(s, true);
		return;
	case SASL_FAIL_CANCELLED:
		sasl_end(s);
		pop3_set_state(s, POP3_STATE_AUTHORIZATION);
		pop3_reply(s, POP3_ERR, "authentication cancelled");
		return;
	case SASL_FAIL_BASE64:
		sasl_end(s);
		pop3_set_state(s, POP3_STATE_AUTHORIZATION);
		pop3_reply(s, POP3_ERR_BAD, "invalid base64 data");
		return;
	case SASL_FAIL_MALFORMED:
		sasl_end(s);
		pop3_set_state(s, POP3_STATE_AUTHORIZATION);
		pop3_reply(s, POP3_ERR_BAD, "malformed authentication response");
		return;
	case SASL_FAIL_AUTH:
		conclude(s, false);
		return;
	}
}

void pop3_auth_line(struct pop3_session *s, const char *line, size_t len)
{
	char out[SASL_CHALLENGE_MAX];
	/* Set once SCRAM knows the user: its next step checks the proof. */
	if (s->login[0] != '\0' && refused(s)) {
		if (line != NULL)
			OPENSSL_cleanse((char *)line, len);
		return;
	}
	/* Too long: fed as garbage, which fails the exchange as malformed. */
	enum sasl_status st = line != NULL ? sasl_server_step(s->sasl, line, len, out, sizeof(out))
					   : sasl_server_step(s->sasl, "\x01", 1, out, sizeof(out));
	if (line != NULL)
		OPENSSL_cleanse((char *)line, len);
	handle_status(s, st, out);
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
	s->login[0] = '\0';
	s->sasl = sasl_server_new(mech);
	char out[SASL_CHALLENGE_MAX];
	enum sasl_status st = sasl_server_start(s->sasl, initial, ilen, out, sizeof(out));
	if (initial != NULL)
		OPENSSL_cleanse((char *)initial, ilen);
	handle_status(s, st, out);
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
