/* login: the one login flow of every protocol (SMTP AUTH, POP3 USER/PASS
 * and AUTH, POP2 HELO), on top of auth/authn (password check, throttle,
 * failure log line) and proto/sasl (the mechanisms). A session owns one
 * login object and keeps its own state machine and reply wording; the
 * login object owns everything between "the client sent credentials" and
 * "reply now":
 *  - the password check on the auth worker pool (PLAIN, LOGIN, USER/PASS,
 *    HELO), and for SCRAM-SHA-256 the credential lookup and the throttle's
 *    say before the proof is checked;
 *  - the SASL exchange itself (the sasl_server object) once AUTH started;
 *  - the outcome through authn (counted, logged), the success log line
 *      proto=P event=auth result=ok user=U mechanism=M      (smtp)
 *      proto=P event=auth result=ok mechanism=M user=U      (pop3, pop2)
 *    and the count of failed attempts in this session;
 *  - the delay before a failure reply: a timer on the session's loop.
 *
 * Every attempt ends in exactly one call of done(arg, outcome), on the
 * loop thread, never inside a login_* call: at once (next loop turn) for
 * a success, after authn's delay for a failure. Between the call that
 * answered LOGIN_SASL_PENDING (or login_password()) and done, the session
 * takes no input; it may be closed at any time (see the rules below).
 *
 * Lifetime rules:
 *  - While login_is_busy() a password check runs on a worker and points
 *    at the login object: the session (which owns it, and is done's arg)
 *    must stay allocated. login_free() refuses (KASSERT).
 *  - When the connection ends, the session calls login_abandon(): a
 *    pending done is dropped; if it returns true a check is still in
 *    flight, and done runs with LOGIN_ABANDONED as soon as it returns (no
 *    delay), where the session frees itself.
 *  - At shutdown, a session not busy frees its login object (or calls
 *    login_abandon()) before its goodbye: a delayed failure reply never
 *    follows the goodbye and no timer outlives the session.
 * Everything here runs on the session's loop thread; the authn object is
 * shared between loops and thread-safe. */
#ifndef KONVERT_AUTH_LOGIN_H
#define KONVERT_AUTH_LOGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "proto/sasl.h"

struct authn;
struct config;
struct event_base;
struct login;
struct userdb;
struct worker_pool;

enum login_outcome {
	LOGIN_OK, /* authenticated as login_user() */
	LOGIN_FAILED, /* wrong credentials, unknown account, refused authzid */
	LOGIN_TEMPFAIL, /* refused by the throttle (locked): try later */
	LOGIN_ABANDONED, /* login_abandon() while the check ran: free now */
};

typedef void (*login_done_fn)(void *arg, enum login_outcome outcome);

/* What a session gives its login object; copied by login_new(). Pointers
 * are borrowed and must outlive the login object. */
struct login_params {
	const char *sid; /* session id, for the log lines */
	const char *proto; /* "smtp", "pop3", "pop2" (static) */
	const struct sockaddr *peer;
	const char *peer_text; /* numeric client address */
	struct event_base *base; /* the session's loop: the delay timer */
	struct worker_pool *auth_workers; /* the loop's password-hashing pool */
	struct authn *authn; /* shared throttle */
	/* Where the loop keeps its current users table and configuration
	 * (the env's fields, swapped on SIGHUP): read at each attempt and
	 * never kept across one. The default domain is (*cfg)->domains[0]. */
	const struct userdb *const *users;
	const struct config *const *cfg;
	login_done_fn done;
	void *arg; /* done's argument: the session */
};

/* Returns a new login object (owned by the session). */
struct login *login_new(const struct login_params *p);
/* Drops a pending done (failure delay or success not yet reported),
 * frees the SASL exchange and wipes its secrets; sets *pp = NULL;
 * accepts *pp == NULL. Never while login_is_busy() (KASSERT). */
void login_free(struct login **pp);

/* A password check runs on a worker (the session must stay allocated).
 * False for NULL. */
bool login_is_busy(const struct login *l);
/* The session's connection is gone (see the lifetime rules): drops a
 * pending done and any SASL exchange. Returns true while a check is in
 * flight; done then runs with LOGIN_ABANDONED when it returns. False for
 * NULL. */
bool login_abandon(struct login *l);

/* ---- plaintext logins outside SASL: POP3 USER/PASS, POP2 HELO ---------- */

/* Starts the password check for name (what the client sent, len bytes;
 * normalised here: a name that is no address is checked all the same, so
 * timing tells nothing). mechanism is static ("USER", "HELO"). The
 * password is copied; the caller wipes its own copy. done follows. Not
 * while an attempt is pending. */
void login_password(struct login *l, const char *mechanism, const char *name, size_t name_len,
		    const char *password, size_t password_len);

/* ---- SASL (SMTP AUTH, POP3 AUTH) --------------------------------------- */

/* What the session does after login_sasl_start() / login_sasl_step(). */
enum login_sasl {
	LOGIN_SASL_CHALLENGE, /* send challenge_out ("334 ", "+ "), read a line */
	LOGIN_SASL_PENDING, /* the outcome comes through done: wait */
	/* The exchange ended without an attempt (nothing counted or
	 * logged); the session replies in its own words. */
	LOGIN_SASL_CANCELLED, /* the client sent "*" */
	LOGIN_SASL_BASE64, /* not base64 */
	LOGIN_SASL_MALFORMED, /* mechanism syntax, too long */
};

/* Starts an exchange of mech (the session checked that mech may be used
 * here). initial: NULL for none, "=" for empty, else the base64 initial
 * response (len bytes; the caller wipes it). challenge_out as in
 * proto/sasl.h (SASL_CHALLENGE_MAX bytes). Not while an attempt is
 * pending. */
enum login_sasl login_sasl_start(struct login *l, enum sasl_mech mech, const char *initial,
				 size_t len, char *challenge_out, size_t out_size);
/* Feeds one client line answering LOGIN_SASL_CHALLENGE (len bytes, need
 * not be NUL-terminated; the caller wipes it). Once SCRAM knows the
 * account, a locked one is refused here before the proof is looked at
 * (LOGIN_SASL_PENDING, then LOGIN_TEMPFAIL). */
enum login_sasl login_sasl_step(struct login *l, const char *line, size_t len,
				char *challenge_out, size_t out_size);
/* Ends an exchange the session gave up on (a line too long for it):
 * nothing is counted or logged. No-op without an exchange (or for NULL). */
void login_sasl_end(struct login *l);

/* ---- after done ----------------------------------------------------------- */

/* The normalised account of the last attempt ("local@domain"), "" when
 * the name could not be one. Valid until the next attempt or free. */
const char *login_user(const struct login *l);
/* Failed attempts in this session (every LOGIN_FAILED and
 * LOGIN_TEMPFAIL). */
unsigned login_failures(const struct login *l);
/* AUTHN_SESSION_FAILURES_MAX attempts failed: after its failure reply
 * the session ends. */
bool login_limit_reached(const struct login *l);

#endif
