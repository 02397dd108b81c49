/* login: one login attempt after another for one session, whatever the
 * protocol: the SASL exchange and the statuses that need the user
 * directory (password check on the auth pool, SCRAM credentials, the
 * throttle's verdict), the outcome through authn, the success log line,
 * the session's failure count and the delay timer before done reports a
 * failure. It never replies and never sees the session: the protocol
 * words every reply from the outcome it is given (login.h). */
#include "auth/login.h"

#include <event2/event.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/authn.h"
#include "auth/userdb.h"
#include "config/config.h"
#include "core/alloc.h"
#include "core/kassert.h"
#include "core/limits.h"
#include "core/log.h"
#include "proto/scram.h"

enum login_phase {
	LOGIN_IDLE, /* no attempt, or the last one reported */
	LOGIN_EXCHANGE, /* SASL exchange waiting for the client's next line */
	LOGIN_CHECKING, /* password check on a worker (it points at us) */
	LOGIN_REPORTING, /* outcome known, done waits for the timer */
};

struct login {
	struct login_params p;
	enum login_phase phase;
	struct event *timer; /* owned: runs done after the delay */
	enum login_outcome outcome; /* what the timer reports */
	bool abandoned; /* the session went away while checking */
	struct sasl_server *sasl; /* owned during an AUTH exchange */
	const char *mechanism; /* static, of the current attempt */
	/* authn_normalize_user() of the name sent, "" when it is no address
	 * (a valid one is at most SMTP_PATH_MAX - 2 octets). */
	char user[SMTP_PATH_MAX + 1];
	unsigned failures; /* failed attempts in this session */
};

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct login *l = arg;
	KASSERT(l->phase == LOGIN_REPORTING);
	l->phase = LOGIN_IDLE;
	l->p.done(l->p.arg, l->outcome); /* may free l */
}

struct login *login_new(const struct login_params *p)
{
	KASSERT(p->done != NULL && p->base != NULL && p->users != NULL && p->cfg != NULL);
	struct login *l = xcalloc(1, sizeof(*l));
	l->p = *p;
	l->timer = evtimer_new(p->base, timer_cb, l);
	KASSERT(l->timer != NULL);
	return l;
}

static void end_exchange(struct login *l)
{
	sasl_server_free(&l->sasl);
}

void login_free(struct login **pp)
{
	struct login *l = *pp;
	if (l == NULL)
		return;
	KASSERT(l->phase != LOGIN_CHECKING);
	event_free(l->timer);
	end_exchange(l);
	free(l);
	*pp = NULL;
}

bool login_is_busy(const struct login *l)
{
	return l != NULL && l->phase == LOGIN_CHECKING;
}

bool login_abandon(struct login *l)
{
	if (l == NULL)
		return false;
	(void)evtimer_del(l->timer);
	end_exchange(l);
	if (l->phase == LOGIN_CHECKING) {
		l->abandoned = true;
		return true;
	}
	l->phase = LOGIN_IDLE;
	return false;
}

const char *login_user(const struct login *l)
{
	return l->user;
}

unsigned login_failures(const struct login *l)
{
	return l->failures;
}

bool login_limit_reached(const struct login *l)
{
	return l->failures >= AUTHN_SESSION_FAILURES_MAX;
}

/* ---- one attempt ---------------------------------------------------------- */

static void begin(struct login *l, const char *mechanism)
{
	KASSERT(l->phase == LOGIN_IDLE);
	l->mechanism = mechanism;
	l->user[0] = '\0';
}

static void set_user(struct login *l, const char *name, size_t len)
{
	if (authn_normalize_user(name, len, (*l->p.cfg)->domains[0], l->user, sizeof(l->user)) != 0)
		l->user[0] = '\0'; /* still goes through authn: the same cost */
}

/* The attempt as authn sees it; name is what the client sent. */
static void attempt_of(const struct login *l, const char *name, size_t name_len,
		       struct authn_attempt *at)
{
	*at = (struct authn_attempt){
		.sid = l->p.sid,
		.proto = l->p.proto,
		.mechanism = l->mechanism,
		.peer = l->p.peer,
		.peer_text = l->p.peer_text,
		.user = l->user,
		.name = name,
		.name_len = name != NULL ? name_len : 0,
	};
}

/* The success line. SMTP's has always named the user first, POP3's and
 * POP2's the mechanism: both stay as they are for those who match them. */
static void log_success(const struct login *l)
{
	const char *mech = l->mechanism != NULL ? l->mechanism : "-";
	if (strcmp(l->p.proto, "smtp") == 0)
		log_info(l->p.sid, "proto=smtp event=auth result=ok user=%s mechanism=%s", l->user,
			 mech);
	else
		log_info(l->p.sid, "proto=%s event=auth result=ok mechanism=%s user=%s", l->p.proto,
			 mech, l->user);
}

static void report_later(struct login *l, enum login_outcome outcome, unsigned delay_ms)
{
	l->phase = LOGIN_REPORTING;
	l->outcome = outcome;
	struct timeval tv = {.tv_sec = delay_ms / 1000, .tv_usec = (delay_ms % 1000) * 1000};
	(void)evtimer_add(l->timer, &tv);
}

/* authn has recorded the outcome (and logged a failure). A success is
 * reported at once when we are in a callback of our own (now_ok), else on
 * the next loop turn, so that done never runs inside a login_* call; a
 * failure after authn's delay (which slows guessing down and does not
 * tell a wrong password from a locked account by timing). */
static void settle(struct login *l, enum authn_result r, unsigned delay_ms, bool now_ok)
{
	end_exchange(l);
	if (r == AUTHN_OK) {
		log_success(l);
		if (!now_ok) {
			report_later(l, LOGIN_OK, 0);
			return;
		}
		l->phase = LOGIN_IDLE;
		l->p.done(l->p.arg, LOGIN_OK); /* may free l */
		return;
	}
	l->failures++;
	report_later(l, r == AUTHN_LOCKED ? LOGIN_TEMPFAIL : LOGIN_FAILED, delay_ms);
}

static void password_checked(void *arg, enum authn_result r, unsigned delay_ms)
{
	struct login *l = arg;
	KASSERT(l->phase == LOGIN_CHECKING);
	l->phase = LOGIN_IDLE;
	if (l->abandoned) {
		l->abandoned = false;
		l->p.done(l->p.arg, LOGIN_ABANDONED); /* frees l */
		return;
	}
	if (r == AUTHN_OK && l->sasl != NULL) {
		char out[SASL_CHALLENGE_MAX];
		/* Right after SASL_CHECK_PASSWORD this is SASL_SUCCESS
		 * (proto/sasl.h); it also wipes the exchange's password. */
		enum sasl_status st = sasl_password_result(l->sasl, true, out, sizeof(out));
		KASSERT(st == SASL_SUCCESS);
	}
	settle(l, r, delay_ms, true);
}

static void start_check(struct login *l, const char *name, size_t name_len, const char *password,
			size_t password_len)
{
	set_user(l, name, name_len);
	struct authn_attempt at;
	attempt_of(l, name, name_len, &at);
	l->phase = LOGIN_CHECKING;
	authn_login(l->p.authn, l->p.auth_workers, *l->p.users, &at, password, password_len,
		    password_checked, l);
}

void login_password(struct login *l, const char *mechanism, const char *name, size_t name_len,
		    const char *password, size_t password_len)
{
	begin(l, mechanism);
	start_check(l, name, name_len, password, password_len);
}

/* ---- SASL ------------------------------------------------------------------- */

static const char *authcid_of(const struct login *l)
{
	return sasl_authcid(l->sasl);
}

/* SCRAM verifies the proof inside the exchange, and its next challenge
 * would tell a right guess from a wrong one: a locked account is refused
 * before that (true: refused, done follows with LOGIN_TEMPFAIL). */
static bool refused(struct login *l)
{
	const char *name = authcid_of(l);
	struct authn_attempt at;
	unsigned delay;
	attempt_of(l, name, name != NULL ? strlen(name) : 0, &at);
	if (authn_admit(l->p.authn, *l->p.users, &at, &delay) == 0)
		return false;
	settle(l, AUTHN_LOCKED, delay, false);
	return true;
}

/* An outcome decided in the exchange, not by a password check (a SCRAM
 * proof, a refused authzid): the throttle still has the last word. */
static void conclude(struct login *l, bool ok)
{
	const char *name = authcid_of(l);
	size_t name_len = name != NULL ? strlen(name) : 0;
	/* A refused authzid fails before any step normalised the name. */
	if (l->user[0] == '\0' && name != NULL)
		set_user(l, name, name_len);
	struct authn_attempt at;
	unsigned delay;
	attempt_of(l, name, name_len, &at);
	enum authn_result r =
		authn_conclude(l->p.authn, *l->p.users, &at, ok && l->user[0] != '\0', &delay);
	settle(l, r, delay, false);
}

/* SASL_NEED_CREDS: the account's SCRAM credentials, or NULL (unknown, or
 * none: the exchange goes on with fake ones and fails at the proof).
 * False when the throttle refused the account (done follows). */
static bool give_creds(struct login *l, enum sasl_status *st, char *out, size_t out_size)
{
	const char *name = authcid_of(l);
	struct scram_creds creds;
	const struct scram_creds *cp = NULL;
	set_user(l, name, strlen(name));
	if (l->user[0] != '\0') {
		if (refused(l))
			return false;
		const struct user_entry *u = userdb_find(*l->p.users, l->user, strlen(l->user));
		if (u != NULL && u->extra != NULL && scram_parse_credentials(u->extra, &creds) == 0)
			cp = &creds;
	}
	*st = sasl_set_scram_creds(l->sasl, cp, out, out_size);
	OPENSSL_cleanse(&creds, sizeof(creds));
	return true;
}

/* Runs the statuses that belong to the login flow and returns what the
 * session must do next. */
static enum login_sasl drive(struct login *l, enum sasl_status st, char *out, size_t out_size)
{
	for (;;) {
		switch (st) {
		case SASL_CHALLENGE:
			l->phase = LOGIN_EXCHANGE;
			return LOGIN_SASL_CHALLENGE;
		case SASL_CHECK_PASSWORD: {
			const char *name = authcid_of(l);
			const char *pw = sasl_password(l->sasl);
			start_check(l, name, strlen(name), pw, strlen(pw));
			return LOGIN_SASL_PENDING;
		}
		case SASL_NEED_CREDS:
			if (!give_creds(l, &st, out, out_size))
				return LOGIN_SASL_PENDING;
			continue;
		case SASL_SUCCESS:
			/* SCRAM: the proof was right (PLAIN and LOGIN end in
			 * password_checked()). */
			conclude(l, true);
			return LOGIN_SASL_PENDING;
		case SASL_FAIL_AUTH:
			conclude(l, false);
			return LOGIN_SASL_PENDING;
		case SASL_FAIL_CANCELLED:
		case SASL_FAIL_BASE64:
		case SASL_FAIL_MALFORMED:
			end_exchange(l);
			l->phase = LOGIN_IDLE;
			return st == SASL_FAIL_CANCELLED ? LOGIN_SASL_CANCELLED
			       : st == SASL_FAIL_BASE64	 ? LOGIN_SASL_BASE64
							 : LOGIN_SASL_MALFORMED;
		}
		KASSERT(!"unknown sasl status");
	}
}

enum login_sasl login_sasl_start(struct login *l, enum sasl_mech mech, const char *initial,
				 size_t len, char *challenge_out, size_t out_size)
{
	begin(l, sasl_mech_name(mech));
	l->sasl = sasl_server_new(mech);
	l->phase = LOGIN_EXCHANGE;
	enum sasl_status st = sasl_server_start(l->sasl, initial, len, challenge_out, out_size);
	return drive(l, st, challenge_out, out_size);
}

enum login_sasl login_sasl_step(struct login *l, const char *line, size_t len,
				char *challenge_out, size_t out_size)
{
	KASSERT(l->phase == LOGIN_EXCHANGE && l->sasl != NULL);
	/* Set once SCRAM knows the account: this step checks the proof. */
	if (l->user[0] != '\0' && refused(l)) {
		challenge_out[0] = '\0';
		return LOGIN_SASL_PENDING;
	}
	enum sasl_status st = sasl_server_step(l->sasl, line, len, challenge_out, out_size);
	return drive(l, st, challenge_out, out_size);
}

void login_sasl_end(struct login *l)
{
	if (l == NULL || l->phase != LOGIN_EXCHANGE)
		return;
	end_exchange(l);
	l->phase = LOGIN_IDLE;
}
