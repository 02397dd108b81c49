/* authn_test: unit tests for auth/authn.c: login name normalisation, the
 * per-address failure throttle (doubling delays with a cap, reset on
 * success, independent addresses, IPv4 and v4-mapped IPv6 as one address)
 * and authn_check_password through a real worker pool on a libevent loop
 * (right and wrong passwords, unknown and locked accounts, passwords the
 * checker must refuse, the caller's buffer reused before the check runs).
 * Expiry after AUTHN_FORGET_S needs a clock and is not covered here. */
#include "auth/authn.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/userdb.h"
#include "core/alloc.h"
#include "core/worker.h"

/* One authn for the group: authn_new() runs yescrypt once. */
static int group_setup(void **state)
{
	struct authn *a = authn_new();

	if (a == NULL)
		return -1;
	*state = a;
	return 0;
}

static int group_teardown(void **state)
{
	struct authn *a = *state;

	authn_free(&a);
	return a == NULL ? 0 : -1;
}

/* ---- authn_normalize_user ---- */

struct norm_case {
	const char *name;
	size_t len; /* 0: strlen(name) */
	const char *domain;
	size_t out_size; /* 0: 320 */
	int rc;
	const char *want;
};

static const struct norm_case norm_cases[] = {
	{ .name = "bob", .domain = "example.test", .rc = 0,
	  .want = "bob@example.test" },
	{ .name = "Bob", .domain = "example.test", .rc = 0,
	  .want = "bob@example.test" },
	{ .name = "bob", .domain = "Example.TEST", .rc = 0,
	  .want = "bob@example.test" },
	{ .name = "bob@example.test", .domain = "other.test", .rc = 0,
	  .want = "bob@example.test" },
	{ .name = "BOB@Other.Test", .domain = "example.test", .rc = 0,
	  .want = "bob@other.test" },
	{ .name = "first.last+tag", .domain = "example.test", .rc = 0,
	  .want = "first.last+tag@example.test" },
	/* only len bytes count */
	{ .name = "bobXYZ", .len = 3, .domain = "example.test", .rc = 0,
	  .want = "bob@example.test" },
	{ .name = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	  .domain = "example.test", .rc = 0,
	  .want = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
		  "@example.test" },
	/* refused */
	{ .name = "", .domain = "example.test", .rc = -1 },
	{ .name = "bob\0x", .len = 5, .domain = "example.test", .rc = -1 },
	{ .name = "\0", .len = 1, .domain = "example.test", .rc = -1 },
	{ .name = "bob@", .domain = "example.test", .rc = -1 },
	{ .name = "@example.test", .domain = "example.test", .rc = -1 },
	{ .name = "@", .domain = "example.test", .rc = -1 },
	{ .name = "a@b@example.test", .domain = "example.test", .rc = -1 },
	{ .name = "bob smith", .domain = "example.test", .rc = -1 },
	{ .name = "bob\r\n", .domain = "example.test", .rc = -1 },
	{ .name = ".bob", .domain = "example.test", .rc = -1 },
	{ .name = "bob.", .domain = "example.test", .rc = -1 },
	{ .name = "bo..b", .domain = "example.test", .rc = -1 },
	{ .name = "b/ob", .domain = "example.test", .rc = -1 },
	{ .name = "../etc", .domain = "example.test", .rc = -1 },
	{ .name = "bob", .domain = "", .rc = -1 },
	{ .name = "bob", .domain = "bad domain", .rc = -1 },
	{ .name = "bob@[192.0.2.1]", .domain = "example.test", .rc = -1 },
	{ .name = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	  .domain = "example.test", .rc = -1 }, /* 65 bytes */
	/* output buffer: exactly enough, one byte short */
	{ .name = "bob", .domain = "example.test", .out_size = 17, .rc = 0,
	  .want = "bob@example.test" },
	{ .name = "bob", .domain = "example.test", .out_size = 16, .rc = -1 },
	{ .name = "bob@example.test", .domain = "x.test", .out_size = 16,
	  .rc = -1 },
};

static void test_normalize(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(norm_cases) / sizeof(norm_cases[0]);
	     i++) {
		const struct norm_case *c = &norm_cases[i];
		size_t len = c->len ? c->len : strlen(c->name);
		size_t out_size = c->out_size ? c->out_size : 320;
		/* exactly out_size bytes, so ASan sees an overrun */
		char *out = xmalloc(out_size);
		int rc = authn_normalize_user(c->name, len, c->domain, out,
					      out_size);

		if (rc != c->rc)
			fail_msg("case %zu \"%.*s\" + %s: rc %d, want %d", i,
				 (int)len, c->name, c->domain, rc, c->rc);
		if (c->rc == 0)
			assert_string_equal(out, c->want);
		free(out);
	}
}

/* ---- throttle ---- */

enum op { OP_END, OP_FAIL, OP_SUCCESS };

struct tstep {
	enum op op;
	const char *addr;
	unsigned delay; /* OP_FAIL: returned delay */
	unsigned failures; /* authn_failures(addr) afterwards */
};

#define FAIL(a, d, f) { .op = OP_FAIL, .addr = (a), .delay = (d), .failures = (f) }
#define OK(a) { .op = OP_SUCCESS, .addr = (a), .failures = 0 }

#define TSTEPS_MAX 24

struct tcase {
	const char *name;
	struct tstep steps[TSTEPS_MAX];
};

static const struct tcase tcases[] = {
	{ .name = "doubling up to the cap",
	  .steps = {
		FAIL("192.0.2.1", 250, 1), FAIL("192.0.2.1", 500, 2),
		FAIL("192.0.2.1", 1000, 3), FAIL("192.0.2.1", 2000, 4),
		FAIL("192.0.2.1", 4000, 5), FAIL("192.0.2.1", 8000, 6),
		FAIL("192.0.2.1", 8000, 7), FAIL("192.0.2.1", 8000, 8),
		FAIL("192.0.2.1", 8000, 9), FAIL("192.0.2.1", 8000, 10),
		OK("192.0.2.1"),
	  } },
	{ .name = "success resets",
	  .steps = {
		FAIL("192.0.2.2", 250, 1), FAIL("192.0.2.2", 500, 2),
		FAIL("192.0.2.2", 1000, 3), OK("192.0.2.2"),
		FAIL("192.0.2.2", 250, 1), OK("192.0.2.2"), OK("192.0.2.2"),
		FAIL("192.0.2.2", 250, 1), OK("192.0.2.2"),
	  } },
	{ .name = "addresses are independent",
	  .steps = {
		FAIL("192.0.2.3", 250, 1), FAIL("192.0.2.3", 500, 2),
		FAIL("192.0.2.3", 1000, 3), FAIL("192.0.2.4", 250, 1),
		FAIL("2001:db8::3", 250, 1), OK("192.0.2.4"),
		FAIL("192.0.2.3", 2000, 4), FAIL("2001:db8::3", 500, 2),
		FAIL("192.0.2.4", 250, 1), OK("192.0.2.3"),
		FAIL("2001:db8::3", 1000, 3), OK("2001:db8::3"),
		OK("192.0.2.4"),
	  } },
	{ .name = "v4 and v4-mapped are one address",
	  .steps = {
		FAIL("192.0.2.5", 250, 1), FAIL("::ffff:192.0.2.5", 500, 2),
		FAIL("192.0.2.5", 1000, 3), OK("::ffff:192.0.2.5"),
		FAIL("::ffff:192.0.2.5", 250, 1), OK("192.0.2.5"),
	  } },
	{ .name = "v4-compatible and 6to4 are not v4",
	  .steps = {
		FAIL("192.0.2.6", 250, 1), FAIL("::192.0.2.6", 250, 1),
		FAIL("2002:c000:206::", 250, 1), FAIL("192.0.2.6", 500, 2),
		OK("192.0.2.6"), OK("::192.0.2.6"), OK("2002:c000:206::"),
	  } },
	{ .name = "success without failures", .steps = { OK("192.0.2.7") } },
};

static void make_addr(const char *text, uint16_t port,
		      struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, text, &s4->sin_addr), 1);
	}
}

static void test_throttle(void **state)
{
	struct authn *a = *state;

	for (size_t c = 0; c < sizeof(tcases) / sizeof(tcases[0]); c++) {
		const struct tcase *k = &tcases[c];

		for (size_t i = 0; i < TSTEPS_MAX && k->steps[i].op != OP_END;
		     i++) {
			const struct tstep *s = &k->steps[i];
			struct sockaddr_storage ss;
			/* the client port changes with every connection */
			make_addr(s->addr, (uint16_t)(1024 + i), &ss);
			const struct sockaddr *sa = (struct sockaddr *)&ss;

			if (s->op == OP_FAIL) {
				unsigned d = authn_failure(a, sa);
				if (d != s->delay)
					fail_msg("%s: step %zu (%s): delay %u, "
						 "want %u", k->name, i, s->addr,
						 d, s->delay);
			} else {
				authn_success(a, sa);
			}
			unsigned f = authn_failures(a, sa);
			if (f != s->failures)
				fail_msg("%s: step %zu (%s): %u failures, "
					 "want %u", k->name, i, s->addr, f,
					 s->failures);
		}
	}
}

/* ---- authn_check_password ---- */

#define WATCHDOG_S 120

struct loop {
	struct event_base *base;
	struct event *watchdog;
	bool timed_out;
	pthread_t loop_thread;
	unsigned expected, calls, off_loop;
};

struct check_case {
	const char *user;
	const char *password;
	size_t password_len; /* 0: strlen(password) */
	bool ok;
};

static char long_password[USERDB_PASSWORD_MAX + 2];

static const struct check_case check_cases[] = {
	{ .user = "bob@example.test", .password = "s3cret pass", .ok = true },
	{ .user = "bob@example.test", .password = "s3cret pasS", .ok = false },
	{ .user = "bob@example.test", .password = "s3cret pas", .ok = false },
	{ .user = "bob@example.test", .password = "s3cret pass ", .ok = false },
	{ .user = "bob@example.test", .password = "", .ok = false },
	{ .user = "bob@example.test", .password = "s3cret pass\0",
	  .password_len = 12, .ok = false },
	{ .user = "bob@example.test", .password = "s3c\0ret pass",
	  .password_len = 12, .ok = false },
	{ .user = "carol@example.test", .password = "s3cret pass",
	  .ok = false },
	{ .user = "carol@example.test", .password = "other", .ok = true },
	{ .user = "nobody@example.test", .password = "s3cret pass",
	  .ok = false },
	{ .user = "nobody@example.test", .password = "", .ok = false },
	{ .user = "locked@example.test", .password = "", .ok = false },
	{ .user = "locked@example.test", .password = "!", .ok = false },
	{ .user = "bob@other.test", .password = "s3cret pass", .ok = false },
	/* over USERDB_PASSWORD_MAX: refused, still no crash or overrun */
	{ .user = "bob@example.test", .password = long_password,
	  .password_len = USERDB_PASSWORD_MAX + 1, .ok = false },
};

#define NCHECK (sizeof(check_cases) / sizeof(check_cases[0]))

struct check_rec {
	struct loop *lp;
	size_t index;
	unsigned calls;
	bool ok;
};

static void check_done_cb(void *arg, bool ok)
{
	struct check_rec *r = arg;
	struct loop *lp = r->lp;

	r->calls++;
	r->ok = ok;
	lp->calls++;
	if (!pthread_equal(pthread_self(), lp->loop_thread))
		lp->off_loop++;
	if (lp->calls == lp->expected)
		(void)event_base_loopbreak(lp->base);
}

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct loop *lp = arg;
	lp->timed_out = true;
	(void)event_base_loopbreak(lp->base);
}

static void test_check_password(void **state)
{
	struct authn *a = *state;
	struct loop lp = { .loop_thread = pthread_self() };
	struct check_rec recs[NCHECK];
	char hash[USERDB_HASH_MAX];
	struct userdb *db = userdb_new();

	memset(long_password, 'p', USERDB_PASSWORD_MAX + 1);
	long_password[USERDB_PASSWORD_MAX + 1] = '\0';
	assert_int_equal(userdb_hash_password("s3cret pass", hash,
					      sizeof(hash)), 0);
	assert_int_equal(userdb_add(db, "bob@example.test", hash, NULL), 0);
	assert_int_equal(userdb_hash_password("other", hash, sizeof(hash)), 0);
	assert_int_equal(userdb_add(db, "carol@example.test", hash, NULL), 0);
	assert_int_equal(userdb_add(db, "locked@example.test", "!", NULL), 0);

	lp.base = event_base_new();
	assert_non_null(lp.base);
	lp.watchdog = evtimer_new(lp.base, watchdog_cb, &lp);
	struct timeval tv = { .tv_sec = WATCHDOG_S };
	assert_int_equal(evtimer_add(lp.watchdog, &tv), 0);
	struct worker_pool *wp = worker_pool_new(lp.base, 4);

	lp.expected = NCHECK;
	for (size_t i = 0; i < NCHECK; i++) {
		const struct check_case *c = &check_cases[i];
		size_t len = c->password_len ? c->password_len
					     : strlen(c->password);
		/* the caller's buffer is reused right away: authn copies */
		char *pw = xmalloc(len + 1);

		memcpy(pw, c->password, len);
		pw[len] = '\0';
		recs[i] = (struct check_rec){ .lp = &lp, .index = i,
					      .ok = !c->ok };
		authn_check_password(a, wp, db, c->user, pw, len,
				     check_done_cb, &recs[i]);
		memset(pw, 'X', len);
		free(pw);
	}
	assert_int_equal(event_base_dispatch(lp.base), 0);
	assert_false(lp.timed_out);
	assert_int_equal(lp.calls, NCHECK);
	assert_int_equal(lp.off_loop, 0);
	assert_int_equal(worker_pending(wp), 0);
	for (size_t i = 0; i < NCHECK; i++) {
		const struct check_case *c = &check_cases[i];

		assert_int_equal(recs[i].calls, 1);
		if (recs[i].ok != c->ok)
			fail_msg("case %zu (%s): ok %d, want %d", i, c->user,
				 recs[i].ok, c->ok);
	}
	worker_pool_free(&wp);
	event_free(lp.watchdog);
	event_base_free(lp.base);
	userdb_free(&db);
}

int main(void)
{
	if (evthread_use_pthreads() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_throttle),
		cmocka_unit_test(test_check_password),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
