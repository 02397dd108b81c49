/* authn: password authentication shared by every protocol (SMTP AUTH,
 * POP3 USER/PASS and AUTH, POP2 HELO).
 *
 * authn_check_password() looks the account up on the loop thread (the
 * in-memory users snapshot), copies the hash, and runs crypt(3) on a
 * worker thread; done() runs back on the loop. Unknown accounts cost the
 * same work as known ones, so timing does not reveal which exist.
 *
 * The throttle counts failures per client address: each failure makes
 * the next failure reply wait longer (authn_failure() returns the delay),
 * a success clears the count, entries expire after AUTHN_FORGET_S. */
#ifndef KONVERT_AUTH_AUTHN_H
#define KONVERT_AUTH_AUTHN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config/config.h"

struct authn;
struct userdb;
struct worker_pool;

/* Failures from one address are forgotten after this long. */
#define AUTHN_FORGET_S 900
/* Failed attempts in one session before it is disconnected. */
#define AUTHN_SESSION_FAILURES_MAX 3

/* Computes a dummy hash: slow (one yescrypt), call at startup. */
/* The plaintext_auth policy: may a password travel in clear (USER/PASS,
 * AUTH PLAIN/LOGIN, POP2 HELO) on a connection with these properties? */
bool authn_plaintext_allowed(enum cfg_plaintext_auth policy, bool tls, bool loopback);

struct authn *authn_new(void);
void authn_free(struct authn **pp);

/* Normalises a login name into "local@domain" lower case: a name without
 * '@' gets default_domain. Returns -1 when it cannot be an address. */
int authn_normalize_user(const char *name, size_t len, const char *default_domain, char *out,
			 size_t out_size);

/* ok is true when user (normalised) exists and password matches.
 * user and password are copied; the copy of the password is wiped after
 * use. arg is borrowed until done runs. */
typedef void (*authn_done_fn)(void *arg, bool ok);
void authn_check_password(struct authn *a, struct worker_pool *wp, const struct userdb *users,
			  const char *user, const char *password, size_t password_len,
			  authn_done_fn done, void *arg);

/* Records a failure from peer; returns how long to wait before replying. */
unsigned authn_failure(struct authn *a, const struct sockaddr *peer);
void authn_success(struct authn *a, const struct sockaddr *peer);
/* Failures recorded for peer (0 after expiry). */
unsigned authn_failures(struct authn *a, const struct sockaddr *peer);

#endif
