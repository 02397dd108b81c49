/* login_test: unit tests for auth/login.c on a real libevent loop, a real
 * auth worker pool and a real authn: plaintext logins (right, wrong,
 * unknown name, locked account) with their outcome, delay, failure count
 * and log lines (byte for byte); SASL PLAIN, a full SCRAM-SHA-256 exchange
 * with a small client written here, a wrong SCRAM proof, the throttle
 * refusing SCRAM at the credential lookup and before the proof; exchanges
 * that end without an attempt; done never running inside a login_* call;
 * login_abandon() while a check runs (done at once, the login freed from
 * done); and a cancelled failure delay never calling done. */
#include "auth/login.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/authn.h"
#include "auth/userdb.h"
#include "config/config.h"
#include "core/log.h"
#include "core/worker.h"
#include "proto/base64.h"
#include "proto/scram.h"

#define PW "s3cret pass"
#define SCRAM_PW "pencil"
#define CNONCE "rOprNGfwEbeRWgbNEkqO"
#define WATCHDOG_S 60

/* ---- the fixture: one loop, pool, authn and users file per test ---- */

struct fix {
	struct event_base *base;
	struct event *watchdog;
	struct worker_pool *wp;
	struct authn *a;
	struct userdb *users;
	const struct userdb *users_ref; /* what an env holds */
	struct config cfg;
	const struct config *cfg_ref;
	char *domains[2];
	struct sockaddr_in peer;
	char peer_text[32];
	struct login *l;
	/* done */
	unsigned calls;
	enum login_outcome outcome;
	bool in_call; /* inside a login_* call: done must not run */
	bool called_inside;
	bool free_on_abandon;
	struct timespec started, finished;
	/* log capture */
	int saved_stderr;
	FILE *log;
};

/* One authn for the whole run: authn_new() runs yescrypt once. Its clock
 * jumps past the throttle's window before each test, so that no test
 * sees another's failures or locks. */
static struct authn *shared_authn;
static int64_t clock_now = 1000000;
static unsigned next_net = 1;

static int64_t test_clock(void *arg)
{
	(void)arg;
	return clock_now;
}

static void done_cb(void *arg, enum login_outcome outcome)
{
	struct fix *f = arg;
	f->calls++;
	f->outcome = outcome;
	if (f->in_call)
		f->called_inside = true;
	(void)clock_gettime(CLOCK_MONOTONIC, &f->finished);
	if (outcome == LOGIN_ABANDONED && f->free_on_abandon)
		login_free(&f->l); /* as a session freeing itself */
	(void)event_base_loopbreak(f->base);
}

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct fix *f = arg;
	(void)event_base_loopbreak(f->base);
	fail_msg("watchdog: done never ran");
}

static void add_user(struct userdb *db, const char *addr, const char *password, bool scram)
{
	char hash[USERDB_HASH_MAX];
	char extra[SCRAM_CREDS_TEXT_MAX];
	assert_int_equal(userdb_hash_password(password, hash, sizeof(hash)), 0);
	if (scram)
		assert_int_equal(scram_make_credentials(password, 0, extra, sizeof(extra)), 0);
	assert_int_equal(userdb_add(db, addr, hash, scram ? extra : NULL), 0);
}

/* A fresh client network per test, so that delays start at the base. */
static void new_login(struct fix *f, const char *proto)
{
	f->peer.sin_family = AF_INET;
	f->peer.sin_port = htons(4000);
	(void)snprintf(f->peer_text, sizeof(f->peer_text), "10.%u.%u.1", next_net / 256,
		       next_net % 256);
	next_net++;
	assert_int_equal(inet_pton(AF_INET, f->peer_text, &f->peer.sin_addr), 1);
	const struct login_params p = {
		.sid = "SID",
		.proto = proto,
		.peer = (const struct sockaddr *)&f->peer,
		.peer_text = f->peer_text,
		.base = f->base,
		.auth_workers = f->wp,
		.authn = f->a,
		.users = &f->users_ref,
		.cfg = &f->cfg_ref,
		.done = done_cb,
		.arg = f,
	};
	f->l = login_new(&p);
	f->calls = 0;
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	f->base = event_base_new();
	f->wp = worker_pool_new(f->base, 2);
	f->a = shared_authn;
	clock_now += AUTHN_WINDOW_S + 1;
	f->users = userdb_new();
	f->users_ref = f->users;
	f->domains[0] = "example.test";
	f->cfg.domains = f->domains;
	f->cfg.domain_count = 1;
	f->cfg_ref = &f->cfg;
	f->watchdog = evtimer_new(f->base, watchdog_cb, f);
	struct timeval tv = {.tv_sec = WATCHDOG_S};
	(void)evtimer_add(f->watchdog, &tv);
	add_user(f->users, "bob@example.test", PW, false);
	add_user(f->users, "dave@example.test", SCRAM_PW, true);
	/* Log lines go to stderr: catch them in a file. */
	f->log = tmpfile();
	f->saved_stderr = dup(STDERR_FILENO);
	if (f->log == NULL || f->saved_stderr < 0 || dup2(fileno(f->log), STDERR_FILENO) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	(void)dup2(f->saved_stderr, STDERR_FILENO);
	(void)close(f->saved_stderr);
	(void)fclose(f->log);
	login_free(&f->l);
	worker_pool_free(&f->wp);
	event_free(f->watchdog);
	event_base_free(f->base);
	userdb_free(&f->users);
	free(f);
	return 0;
}

/* Runs the loop until done ran (the watchdog fails the test otherwise). */
static void run(struct fix *f)
{
	unsigned before = f->calls;
	while (f->calls == before)
		assert_int_equal(event_base_loop(f->base, EVLOOP_ONCE), 0);
}

static long elapsed_ms(const struct fix *f)
{
	return (f->finished.tv_sec - f->started.tv_sec) * 1000 +
	       (f->finished.tv_nsec - f->started.tv_nsec) / 1000000;
}

static long log_size(struct fix *f)
{
	(void)fflush(f->log);
	(void)fseek(f->log, 0, SEEK_END);
	return ftell(f->log);
}

/* Whether the captured log has a line ending in "] " + want. */
static bool logged(struct fix *f, const char *want)
{
	char line[2048];
	bool found = false;
	(void)fflush(f->log);
	rewind(f->log);
	while (fgets(line, sizeof(line), f->log) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		const char *p = strstr(line, "] ");
		if (p != NULL && strcmp(p + 2, want) == 0)
			found = true;
	}
	(void)fseek(f->log, 0, SEEK_END);
	return found;
}

static void password(struct fix *f, const char *mech, const char *name, const char *pw)
{
	(void)clock_gettime(CLOCK_MONOTONIC, &f->started);
	f->in_call = true;
	login_password(f->l, mech, name, strlen(name), pw, strlen(pw));
	f->in_call = false;
}

static char *b64(const char *s, size_t len, char *out, size_t size)
{
	assert_true(base64_encode(s, len, out, size) >= 0);
	return out;
}

static enum login_sasl sasl_start(struct fix *f, enum sasl_mech mech, const char *initial,
				  char *out)
{
	(void)clock_gettime(CLOCK_MONOTONIC, &f->started);
	f->in_call = true;
	enum login_sasl r = login_sasl_start(f->l, mech, initial,
					     initial != NULL ? strlen(initial) : 0, out,
					     SASL_CHALLENGE_MAX);
	f->in_call = false;
	return r;
}

static enum login_sasl sasl_step(struct fix *f, const char *line, char *out)
{
	(void)clock_gettime(CLOCK_MONOTONIC, &f->started);
	f->in_call = true;
	enum login_sasl r = login_sasl_step(f->l, line, strlen(line), out, SASL_CHALLENGE_MAX);
	f->in_call = false;
	return r;
}

/* Locks account for every network but its trusted ones. */
static void lock_account(struct fix *f, const char *account)
{
	for (unsigned i = 0; i < AUTHN_LOCK_FAILURES; i++) {
		struct sockaddr_in sin = {.sin_family = AF_INET};
		char addr[32];
		(void)snprintf(addr, sizeof(addr), "172.16.%u.%u", next_net % 256, i + 1);
		assert_int_equal(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
		(void)authn_failure(f->a, account, (struct sockaddr *)&sin);
	}
	next_net++;
}

/* ---- plaintext ---------------------------------------------------------------- */

static void test_password_ok(void **state)
{
	struct fix *f = *state;
	new_login(f, "pop3");
	password(f, "USER", "Bob", PW);
	assert_true(login_is_busy(f->l));
	run(f);
	assert_false(f->called_inside);
	assert_int_equal(f->outcome, LOGIN_OK);
	assert_false(login_is_busy(f->l));
	assert_string_equal(login_user(f->l), "bob@example.test");
	assert_int_equal(login_failures(f->l), 0);
	assert_true(
		logged(f, "proto=pop3 event=auth result=ok mechanism=USER user=bob@example.test"));
	/* the next attempt on the same object */
	password(f, "USER", "bob", "wrong");
	run(f);
	assert_int_equal(f->outcome, LOGIN_FAILED);
	assert_int_equal(f->calls, 2);
}

static void test_password_wrong(void **state)
{
	struct fix *f = *state;
	char want[256];
	new_login(f, "pop2");
	password(f, "HELO", "bob", "wrong");
	run(f);
	assert_int_equal(f->outcome, LOGIN_FAILED);
	/* the failure reply waits authn's delay */
	assert_true(elapsed_ms(f) >= AUTHN_DELAY_BASE_MS);
	assert_int_equal(login_failures(f->l), 1);
	assert_false(login_limit_reached(f->l));
	(void)snprintf(want, sizeof(want),
		       "event=auth-failure proto=pop2 client=%s user=\"bob@example.test\" "
		       "reason=bad-password delay_ms=%u mechanism=HELO",
		       f->peer_text, AUTHN_DELAY_BASE_MS);
	assert_true(logged(f, want));
	assert_false(
		logged(f, "proto=pop2 event=auth result=ok mechanism=HELO user=bob@example.test"));
}

static void test_password_not_an_address(void **state)
{
	struct fix *f = *state;
	char want[256];
	new_login(f, "pop3");
	password(f, "USER", "no body", PW);
	run(f);
	assert_int_equal(f->outcome, LOGIN_FAILED);
	assert_string_equal(login_user(f->l), "");
	(void)snprintf(want, sizeof(want),
		       "event=auth-failure proto=pop3 client=%s user=\"no body\" "
		       "reason=unknown delay_ms=%u mechanism=USER",
		       f->peer_text, AUTHN_DELAY_BASE_MS);
	assert_true(logged(f, want));
}

static void test_password_locked(void **state)
{
	struct fix *f = *state;
	new_login(f, "smtp");
	lock_account(f, "bob@example.test");
	password(f, "PLAIN", "bob", PW); /* right, but refused unchecked */
	run(f);
	assert_int_equal(f->outcome, LOGIN_TEMPFAIL);
	assert_int_equal(login_failures(f->l), 1);
	assert_true(elapsed_ms(f) >= AUTHN_DELAY_BASE_MS);
}

/* ---- SASL ----------------------------------------------------------------------- */

static void test_plain_ok_smtp_line(void **state)
{
	struct fix *f = *state;
	char out[SASL_CHALLENGE_MAX], ir[128];
	new_login(f, "smtp");
	b64("\0bob\0" PW, 5 + strlen(PW), ir, sizeof(ir));
	assert_int_equal(sasl_start(f, SASL_MECH_PLAIN, ir, out), LOGIN_SASL_PENDING);
	assert_true(login_is_busy(f->l));
	run(f);
	assert_int_equal(f->outcome, LOGIN_OK);
	assert_true(
		logged(f, "proto=smtp event=auth result=ok user=bob@example.test mechanism=PLAIN"));
}

static void test_login_mech_wrong(void **state)
{
	struct fix *f = *state;
	char out[SASL_CHALLENGE_MAX], line[64];
	new_login(f, "smtp");
	assert_int_equal(sasl_start(f, SASL_MECH_LOGIN, NULL, out), LOGIN_SASL_CHALLENGE);
	assert_int_equal(sasl_step(f, b64("bob", 3, line, sizeof(line)), out),
			 LOGIN_SASL_CHALLENGE);
	assert_int_equal(sasl_step(f, b64("nope", 4, line, sizeof(line)), out), LOGIN_SASL_PENDING);
	run(f);
	assert_int_equal(f->outcome, LOGIN_FAILED);
	assert_int_equal(login_failures(f->l), 1);
}

/* A refused authzid: decided in the exchange, still counted and delayed. */
static void test_plain_authzid_refused(void **state)
{
	struct fix *f = *state;
	char out[SASL_CHALLENGE_MAX], ir[128], want[256];
	new_login(f, "smtp");
	b64("carol\0bob\0" PW, 10 + strlen(PW), ir, sizeof(ir));
	assert_int_equal(sasl_start(f, SASL_MECH_PLAIN, ir, out), LOGIN_SASL_PENDING);
	assert_false(login_is_busy(f->l));
	assert_int_equal(f->calls, 0);
	run(f);
	assert_false(f->called_inside);
	assert_int_equal(f->outcome, LOGIN_FAILED);
	assert_true(elapsed_ms(f) >= AUTHN_DELAY_BASE_MS);
	(void)snprintf(want, sizeof(want),
		       "event=auth-failure proto=smtp client=%s user=\"bob@example.test\" "
		       "reason=bad-password delay_ms=%u mechanism=PLAIN",
		       f->peer_text, AUTHN_DELAY_BASE_MS);
	assert_true(logged(f, want));
}

struct ended_case {
	enum sasl_mech mech;
	const char *line;
	enum login_sasl want;
};

static const struct ended_case ended_cases[] = {
	{.mech = SASL_MECH_PLAIN, .line = "*", .want = LOGIN_SASL_CANCELLED},
	{.mech = SASL_MECH_LOGIN, .line = "*", .want = LOGIN_SASL_CANCELLED},
	{.mech = SASL_MECH_SCRAM_SHA_256, .line = "*", .want = LOGIN_SASL_CANCELLED},
	{.mech = SASL_MECH_PLAIN, .line = "!!!!", .want = LOGIN_SASL_BASE64},
	{.mech = SASL_MECH_LOGIN, .line = "Ym9i=", .want = LOGIN_SASL_BASE64},
	{.mech = SASL_MECH_PLAIN, .line = "Ym9i", .want = LOGIN_SASL_MALFORMED},
	{.mech = SASL_MECH_SCRAM_SHA_256, .line = "Ym9i", .want = LOGIN_SASL_MALFORMED},
};

/* Exchanges that end without an attempt: nothing counted, logged, or
 * called back, and the object takes the next attempt at once. */
static void test_sasl_ended(void **state)
{
	struct fix *f = *state;
	char out[SASL_CHALLENGE_MAX];
	new_login(f, "pop3");
	for (size_t i = 0; i < sizeof(ended_cases) / sizeof(ended_cases[0]); i++) {
		const struct ended_case *c = &ended_cases[i];
		assert_int_equal(sasl_start(f, c->mech, NULL, out), LOGIN_SASL_CHALLENGE);
		if (sasl_step(f, c->line, out) != c->want)
			fail_msg("case %zu: wrong result", i);
	}
	/* a session giving up on an exchange (line too long for it) */
	assert_int_equal(sasl_start(f, SASL_MECH_LOGIN, NULL, out), LOGIN_SASL_CHALLENGE);
	login_sasl_end(f->l);
	login_sasl_end(f->l);
	assert_int_equal(login_failures(f->l), 0);
	assert_int_equal(f->calls, 0);
	assert_int_equal(log_size(f), 0);
	/* nothing of ours is pending on the loop either */
	(void)event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(f->calls, 0);
}

/* ---- SCRAM-SHA-256 ---------------------------------------------------------------- */

/* From a base64 server-first message, the base64 client-final message
 * for password. */
static void scram_final(const char *bare, const char *sf_b64, const char *password, char *out,
			size_t out_size)
{
	char sf[1024], nonce[512], salt_b64[128], wp[700], am[2048], proof_b64[64], fin[800];
	unsigned char salt[64], salted[32], ck[32], stored[32], sig[32], proof[32];
	size_t sf_len, salt_len;
	assert_int_equal(base64_decode(sf_b64, strlen(sf_b64), sf, sizeof(sf) - 1, &sf_len), 0);
	sf[sf_len] = '\0';
	const char *s_at = strstr(sf, ",s=");
	const char *i_at = strstr(sf, ",i=");
	assert_true(strncmp(sf, "r=" CNONCE, 2 + strlen(CNONCE)) == 0);
	assert_non_null(s_at);
	assert_non_null(i_at);
	(void)snprintf(nonce, sizeof(nonce), "%.*s", (int)(s_at - sf - 2), sf + 2);
	(void)snprintf(salt_b64, sizeof(salt_b64), "%.*s", (int)(i_at - s_at - 3), s_at + 3);
	unsigned iter = (unsigned)strtoul(i_at + 3, NULL, 10);
	assert_int_equal(
		base64_decode(salt_b64, strlen(salt_b64), salt, sizeof(salt), &salt_len), 0);
	(void)snprintf(wp, sizeof(wp), "c=biws,r=%s", nonce);
	(void)snprintf(am, sizeof(am), "%s,%s,%s", bare, sf, wp);
	assert_int_equal(scram_salted_password(password, strlen(password), salt, salt_len, iter,
					       salted), 0);
	assert_int_equal(scram_client_key(salted, ck), 0);
	assert_int_equal(scram_hash(ck, 32, stored), 0);
	assert_int_equal(scram_hmac(stored, 32, am, strlen(am), sig), 0);
	for (int i = 0; i < 32; i++)
		proof[i] = ck[i] ^ sig[i];
	assert_int_equal(base64_encode(proof, 32, proof_b64, sizeof(proof_b64)), 44);
	(void)snprintf(fin, sizeof(fin), "%s,p=%s", wp, proof_b64);
	b64(fin, strlen(fin), out, out_size);
}

/* Start and server-first for account; returns the step's result. */
static enum login_sasl scram_begin(struct fix *f, const char *account, char *bare,
				   size_t bare_size, char *out)
{
	char first[256], ir[512];
	(void)snprintf(bare, bare_size, "n=%s,r=" CNONCE, account);
	(void)snprintf(first, sizeof(first), "n,,%s", bare);
	return sasl_start(f, SASL_MECH_SCRAM_SHA_256, b64(first, strlen(first), ir, sizeof(ir)),
			  out);
}

static void test_scram_ok(void **state)
{
	struct fix *f = *state;
	char out[SASL_CHALLENGE_MAX], bare[128], fin[1024];
	new_login(f, "pop3");
	assert_int_equal(scram_begin(f, "dave", bare, sizeof(bare), out), LOGIN_SASL_CHALLENGE);
	scram_final(bare, out, SCRAM_PW, fin, sizeof(fin));
	assert_int_equal(sasl_step(f, fin, out), LOGIN_SASL_CHALLENGE); /* v=... */
	assert_int_equal(sasl_step(f, "", out), LOGIN_SASL_PENDING);
	/* decided without a worker, reported on the next loop turn */
	assert_false(login_is_busy(f->l));
	assert_int_equal(f->calls, 0);
	run(f);
	assert_false(f->called_inside);
	assert_int_equal(f->outcome, LOGIN_OK);
	assert_string_equal(login_user(f->l), "dave@example.test");
	assert_true(logged(f, "proto=pop3 event=auth result=ok mechanism=SCRAM-SHA-256 "
			      "user=dave@example.test"));
}

static void test_scram_wrong_proof(void **state)
{
	struct fix *f = *state;
	char out[SASL_CHALLENGE_MAX], bare[128], fin[1024];
	new_login(f, "smtp");
	assert_int_equal(scram_begin(f, "dave", bare, sizeof(bare), out), LOGIN_SASL_CHALLENGE);
	scram_final(bare, out, "pencil2", fin, sizeof(fin));
	assert_int_equal(sasl_step(f, fin, out), LOGIN_SASL_PENDING);
	run(f);
	assert_int_equal(f->outcome, LOGIN_FAILED);
	assert_true(elapsed_ms(f) >= AUTHN_DELAY_BASE_MS);
	assert_int_equal(login_failures(f->l), 1);
}

/* An unknown account goes through the whole exchange (fake salt) and
 * fails at the proof, like a wrong password. */
static void test_scram_unknown(void **state)
{
	struct fix *f = *state;
	char out[SASL_CHALLENGE_MAX], bare[128], fin[1024];
	new_login(f, "smtp");
	assert_int_equal(scram_begin(f, "nobody", bare, sizeof(bare), out), LOGIN_SASL_CHALLENGE);
	scram_final(bare, out, SCRAM_PW, fin, sizeof(fin));
	assert_int_equal(sasl_step(f, fin, out), LOGIN_SASL_PENDING);
	run(f);
	assert_int_equal(f->outcome, LOGIN_FAILED);
}

/* The throttle refuses a locked account at the credential lookup, before
 * any challenge that could tell anything. */
static void test_scram_locked_at_lookup(void **state)
{
	struct fix *f = *state;
	char out[SASL_CHALLENGE_MAX], bare[128], want[256];
	new_login(f, "pop3");
	lock_account(f, "dave@example.test");
	assert_int_equal(scram_begin(f, "dave", bare, sizeof(bare), out), LOGIN_SASL_PENDING);
	run(f);
	assert_int_equal(f->outcome, LOGIN_TEMPFAIL);
	(void)snprintf(want, sizeof(want),
		       "event=auth-failure proto=pop3 client=%s user=\"dave@example.test\" "
		       "reason=locked delay_ms=%u mechanism=SCRAM-SHA-256",
		       f->peer_text, AUTHN_DELAY_BASE_MS);
	assert_true(logged(f, want));
}

/* Locked while the exchange ran: refused before the proof is looked at,
 * even a right one. */
static void test_scram_locked_before_proof(void **state)
{
	struct fix *f = *state;
	char out[SASL_CHALLENGE_MAX], bare[128], fin[1024];
	new_login(f, "smtp");
	assert_int_equal(scram_begin(f, "dave", bare, sizeof(bare), out), LOGIN_SASL_CHALLENGE);
	scram_final(bare, out, SCRAM_PW, fin, sizeof(fin));
	lock_account(f, "dave@example.test");
	assert_int_equal(sasl_step(f, fin, out), LOGIN_SASL_PENDING);
	run(f);
	assert_int_equal(f->outcome, LOGIN_TEMPFAIL);
}

/* ---- lifetime: abandon, cancel, the session limit ---------------------------------- */

/* The connection went while the check ran: done comes as soon as the
 * check returns, without the failure delay, and may free the login. */
static void test_abandon_while_checking(void **state)
{
	struct fix *f = *state;
	new_login(f, "pop3");
	f->free_on_abandon = true;
	password(f, "USER", "bob", "wrong");
	assert_true(login_abandon(f->l));
	assert_true(login_is_busy(f->l));
	run(f);
	assert_int_equal(f->outcome, LOGIN_ABANDONED);
	assert_null(f->l);
}

/* A failure waiting for its delay: login_abandon() / login_free() drop it,
 * done never runs. */
static void test_cancel_delay(void **state)
{
	struct fix *f = *state;
	char out[SASL_CHALLENGE_MAX], ir[128];
	for (int round = 0; round < 2; round++) {
		new_login(f, "smtp");
		b64("carol\0bob\0" PW, 10 + strlen(PW), ir, sizeof(ir));
		assert_int_equal(sasl_start(f, SASL_MECH_PLAIN, ir, out), LOGIN_SASL_PENDING);
		assert_int_equal(login_failures(f->l), 1);
		if (round == 0)
			assert_false(login_abandon(f->l));
		login_free(&f->l);
		struct timeval tv = {.tv_sec = 0, .tv_usec = 2 * AUTHN_DELAY_BASE_MS * 1000};
		assert_int_equal(event_base_loopexit(f->base, &tv), 0);
		assert_int_equal(event_base_dispatch(f->base), 0);
		assert_int_equal(f->calls, 0);
	}
}

/* Failures count per session up to AUTHN_SESSION_FAILURES_MAX; the delays
 * are dropped (login_abandon) to keep the test short. */
static void test_limit(void **state)
{
	struct fix *f = *state;
	char out[SASL_CHALLENGE_MAX], ir[128];
	new_login(f, "pop3");
	b64("carol\0bob\0" PW, 10 + strlen(PW), ir, sizeof(ir));
	for (unsigned i = 1; i <= AUTHN_SESSION_FAILURES_MAX; i++) {
		assert_false(login_limit_reached(f->l));
		assert_int_equal(sasl_start(f, SASL_MECH_PLAIN, ir, out), LOGIN_SASL_PENDING);
		assert_int_equal(login_failures(f->l), i);
		assert_false(login_abandon(f->l));
	}
	assert_true(login_limit_reached(f->l));
	assert_int_equal(f->calls, 0);
}

int main(void)
{
	if (evthread_use_pthreads() != 0)
		return 1;
	log_set_level(LOG_INFO);
	shared_authn = authn_new();
	if (shared_authn == NULL)
		return 1;
	authn_set_clock(shared_authn, test_clock, NULL);
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_password_ok),
		T(test_password_wrong),
		T(test_password_not_an_address),
		T(test_password_locked),
		T(test_plain_ok_smtp_line),
		T(test_login_mech_wrong),
		T(test_plain_authzid_refused),
		T(test_sasl_ended),
		T(test_scram_ok),
		T(test_scram_wrong_proof),
		T(test_scram_unknown),
		T(test_scram_locked_at_lookup),
		T(test_scram_locked_before_proof),
		T(test_abandon_while_checking),
		T(test_cancel_delay),
		T(test_limit),
	};
#undef T
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	authn_free(&shared_authn);
	return rc;
}
