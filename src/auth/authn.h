/* authn: password authentication shared by every protocol (SMTP AUTH,
 * POP3 USER/PASS and AUTH, POP2 HELO): the asynchronous password check,
 * the login throttle and the one log line per failed login.
 *
 * authn_login() looks the account up on the loop thread (the in-memory
 * users snapshot), copies the hash, and runs crypt(3) on a worker thread;
 * done() runs back on the loop. Unknown accounts cost the same work as
 * known ones, so timing does not reveal which exist.
 *
 * The throttle (all in memory, all tables of fixed size):
 *  - Failures are counted per client network (IPv4: the address, IPv6: its
 *    /64), per account, and per (account, network) pair. A counter is
 *    forgotten once AUTHN_WINDOW_S pass without a new failure for it.
 *  - Each failure reply waits authn_delay_ms(network failures + pair
 *    failures - 1): 250 ms doubled per failure, at most 8 s.
 *  - AUTHN_LOCK_FAILURES failures for one account from networks it is not
 *    trusted on lock it for every such network, whoever sends them: login
 *    attempts are refused with a temporary error without checking the
 *    password (AUTHN_LOCKED), and count as failures themselves, so the
 *    lock ends AUTHN_WINDOW_S after the last attempt.
 *  - A network on which the account logged in successfully within
 *    AUTHN_TRUST_S is trusted for it: its failures do not count for the
 *    account, and it is locked only by AUTHN_LOCK_FAILURES failures of its
 *    own pair. So the real user keeps logging in from home during an
 *    attack from elsewhere.
 *  - A success takes back only what its own pair added: the pair's
 *    failures leave the network and account counters, the pair is
 *    forgotten. Other accounts' failures from that network stay.
 *  - Bounds: AUTHN_NETS_MAX networks, AUTHN_ACCOUNTS_MAX accounts,
 *    AUTHN_PAIRS_MAX pairs with failures, AUTHN_TRUST_MAX trusted pairs
 *    (AUTHN_TRUST_PER_ACCOUNT_MAX per account). Account names and networks
 *    are stored as 16-byte keyed hashes, so an entry has a fixed size
 *    (64 bytes, plus 4 of hash index: under 11 MB when every table is
 *    full; memory is reserved at start and used as entries fill). A full
 *    table evicts an expired entry first, else the least recently failed
 *    one that does not lock an account (among the AUTHN_EVICT_SCAN oldest),
 *    else the oldest.
 *
 * Log: every failed login, whatever the protocol, gives exactly one line
 * (level info, the session id in brackets, then)
 *   event=auth-failure proto=P client=ADDR user="NAME" reason=R delay_ms=N mechanism=M
 * P is smtp, pop3 or pop2; M the SASL mechanism (PLAIN, LOGIN,
 * SCRAM-SHA-256), USER for POP3 USER/PASS, HELO for POP2, "-" unknown; ADDR the numeric client address; NAME the
 * normalised account, or what the client sent when it is no address,
 * escaped with log_escape(); R is bad-password (the account exists),
 * unknown (it does not) or locked (refused by the throttle, password not
 * checked). Passwords are never logged. */
#ifndef KONVERT_AUTH_AUTHN_H
#define KONVERT_AUTH_AUTHN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"

struct authn;
struct userdb;
struct worker_pool;

/* Failures of one network, account or pair are forgotten after this long
 * without a new one. */
#define AUTHN_WINDOW_S 900
/* Failures of one account within the window that lock it. */
#define AUTHN_LOCK_FAILURES 10
/* A successful login trusts its network for that account this long. */
#define AUTHN_TRUST_S (30 * 86400)
/* Table sizes (entries; memory is fixed at authn_new()). */
#define AUTHN_NETS_MAX 32768
#define AUTHN_ACCOUNTS_MAX 32768
#define AUTHN_PAIRS_MAX 65536
#define AUTHN_TRUST_MAX 32768
#define AUTHN_TRUST_PER_ACCOUNT_MAX 16
/* How many of the oldest entries eviction looks at to spare a lock. */
#define AUTHN_EVICT_SCAN 32
/* Delay before a failure reply: 250 ms doubled per failure, capped. */
#define AUTHN_DELAY_BASE_MS 250
#define AUTHN_DELAY_MAX_MS 8000
/* Failed attempts in one session before it is disconnected. */
#define AUTHN_SESSION_FAILURES_MAX 3

/* The plaintext_auth policy: may a password travel in clear (USER/PASS,
 * AUTH PLAIN/LOGIN, POP2 HELO) on a connection with these properties? */
bool authn_plaintext_allowed(enum cfg_plaintext_auth policy, bool tls, bool loopback);

/* Computes a dummy hash: slow (one yescrypt), call at startup. */
struct authn *authn_new(void);
void authn_free(struct authn **pp);

/* Seconds on a clock that never goes backwards. */
typedef int64_t (*authn_clock_fn)(void *arg);
/* Replaces the clock (default: CLOCK_MONOTONIC) for tests; arg is
 * borrowed while set. The clock must never go backwards. */
void authn_set_clock(struct authn *a, authn_clock_fn clock, void *arg);

/* Normalises a login name into "local@domain" lower case: a name without
 * '@' gets default_domain. Returns -1 when it cannot be an address. */
int authn_normalize_user(const char *name, size_t len, const char *default_domain, char *out,
			 size_t out_size);

/* One login attempt as a session sees it. Everything is borrowed for the
 * call; authn_login() copies what it keeps. */
struct authn_attempt {
	const char *sid; /* session id, for the log line */
	const char *proto; /* "smtp", "pop3", "pop2" (static) */
	/* "PLAIN", "LOGIN", "SCRAM-SHA-256", "USER" (POP3 USER/PASS),
	 * "HELO" (POP2); static, may be NULL (logged as "-"). */
	const char *mechanism;
	const struct sockaddr *peer;
	const char *peer_text; /* numeric address, logged as client= */
	const char *user; /* authn_normalize_user() result, "" if none */
	const char *name; /* as sent (logged when user is ""), may be NULL */
	size_t name_len;
};

enum authn_result {
	AUTHN_OK,
	AUTHN_FAILED, /* wrong credentials or no such account */
	AUTHN_LOCKED, /* refused by the throttle: temporary error */
};

/* delay_ms: how long to wait before the failure reply (0 for AUTHN_OK). */
typedef void (*authn_done_fn)(void *arg, enum authn_result result, unsigned delay_ms);

/* The whole password login: refuses a locked account without a check,
 * else checks the password off the loop, records the outcome in the
 * throttle and logs a failure. An account that got locked while its
 * check ran is refused all the same (parallel guesses). done always runs
 * later on the loop thread, never inside this call. The password is
 * copied and the copy wiped after use; arg is borrowed until done runs. */
void authn_login(struct authn *a, struct worker_pool *wp, const struct userdb *users,
		 const struct authn_attempt *at, const char *password, size_t password_len,
		 authn_done_fn done, void *arg);

/* Before a step that verifies credentials inside an exchange (a SCRAM
 * client-final message; its answer would tell a right guess from a wrong
 * one): 0 when the attempt may go on, -1 when the account is locked for
 * this client; the refusal is then recorded and logged like a failure and
 * *delay_ms_out set, and the session answers AUTHN_LOCKED's temporary
 * error. */
int authn_admit(struct authn *a, const struct userdb *users, const struct authn_attempt *at,
		unsigned *delay_ms_out);

/* For outcomes the session decided itself (SCRAM proofs, a refused
 * authzid): ok says whether the credentials were right. A locked account
 * gets AUTHN_LOCKED whatever ok says. Records, logs a failure, and sets
 * *delay_ms_out (0 for AUTHN_OK). */
enum authn_result authn_conclude(struct authn *a, const struct userdb *users,
				 const struct authn_attempt *at, bool ok, unsigned *delay_ms_out);

/* ---- the throttle itself (no logging; used by the above and by tests) ---
 * user is a normalised name; "" counts for the network only. */

/* Would an attempt for user from peer be refused now? */
bool authn_is_locked(struct authn *a, const char *user, const struct sockaddr *peer);
/* Records a failure; returns the delay for its reply. */
unsigned authn_failure(struct authn *a, const char *user, const struct sockaddr *peer);
/* Records a success: takes the pair's failures back and trusts peer's
 * network for user. */
void authn_success(struct authn *a, const char *user, const struct sockaddr *peer);
/* Live counters (0 when unknown or expired). */
unsigned authn_net_failures(struct authn *a, const struct sockaddr *peer);
unsigned authn_account_failures(struct authn *a, const char *user);
unsigned authn_pair_failures(struct authn *a, const char *user, const struct sockaddr *peer);
bool authn_is_trusted(struct authn *a, const char *user, const struct sockaddr *peer);
/* Entries held per table (expired ones included until evicted). */
struct authn_usage {
	size_t nets, accounts, pairs, trusted;
};
void authn_get_usage(const struct authn *a, struct authn_usage *out);
/* The reply delay after the n-th failure (n >= 1). */
unsigned authn_delay_ms(unsigned n);

#endif
