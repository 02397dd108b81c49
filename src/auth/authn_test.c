/* authn_test: unit tests for auth/authn.c: login name normalisation, the
 * password check of authn_login through a real worker pool on a libevent
 * loop (right and wrong passwords, unknown and locked accounts, passwords
 * the checker must refuse, the caller's buffer reused before the check
 * runs), and the login throttle. The throttle runs on an injected clock: the window, per-account locks,
 * the allowance of trusted networks, a success taking back only its own
 * share, IPv6 /64 networks, expiry, and the table bounds under floods;
 * then authn_login/authn_conclude with overlapping checks. */
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
#include "core/log.h"
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

struct fake_clock {
	int64_t now;
};

static int64_t fake_now(void *arg)
{
	return ((struct fake_clock *)arg)->now;
}

struct tfix {
	struct authn *a;
	struct fake_clock clock;
};

/* Each throttle test gets fresh tables and a clock of its own. */
static int throttle_setup(void **state)
{
	struct tfix *f = xcalloc(1, sizeof(*f));

	f->a = authn_new();
	f->clock.now = 1000000;
	authn_set_clock(f->a, fake_now, &f->clock);
	*state = f;
	return 0;
}

static int throttle_teardown(void **state)
{
	struct tfix *f = *state;

	authn_free(&f->a);
	free(f);
	return 0;
}

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

enum op { OP_END, OP_FAIL, OP_OK, OP_WAIT, OP_CHECK };

#define ANY (-1)

/* One step of a scenario; after it the counters named are compared (ANY:
 * not checked). */
struct tstep {
	enum op op;
	const char *user; /* normalised, "" for no account */
	const char *addr;
	int64_t secs; /* OP_WAIT */
	int delay; /* OP_FAIL: the returned delay */
	int net, acct, pair; /* failures afterwards */
	int locked, trusted; /* 0 or 1 */
};

#define FAIL(u, a, d, n, c, p, l)                                            \
	{ .op = OP_FAIL, .user = (u), .addr = (a), .delay = (d), .net = (n), \
	  .acct = (c), .pair = (p), .locked = (l), .trusted = ANY }
#define OK(u, a)                                                             \
	{ .op = OP_OK, .user = (u), .addr = (a), .delay = ANY, .net = ANY,   \
	  .acct = ANY, .pair = 0, .locked = 0, .trusted = 1 }
#define WAIT(s)                                                              \
	{ .op = OP_WAIT, .secs = (s) }
#define CHECK(u, a, n, c, p, l, t)                                           \
	{ .op = OP_CHECK, .user = (u), .addr = (a), .delay = ANY, .net = (n),  \
	  .acct = (c), .pair = (p), .locked = (l), .trusted = (t) }

#define TSTEPS_MAX 40

struct tcase {
	const char *name;
	struct tstep steps[TSTEPS_MAX];
};

#define BOB "bob@example.test"
#define EVE "eve@example.test"
#define ALICE "alice@example.test"

static const struct tcase tcases[] = {
	{ .name = "delay grows with the network and the pair",
	  .steps = {
		/* n = network + pair - 1 failures: 250 ms doubled, 8 s cap */
		FAIL(BOB, "192.0.2.1", 250, 1, 1, 1, 0),
		FAIL(BOB, "192.0.2.1", 1000, 2, 2, 2, 0),
		FAIL(BOB, "192.0.2.1", 4000, 3, 3, 3, 0),
		FAIL(BOB, "192.0.2.1", 8000, 4, 4, 4, 0),
		FAIL(BOB, "192.0.2.1", 8000, 5, 5, 5, 0),
		/* another account from there: the network's count only */
		FAIL(EVE, "192.0.2.1", 8000, 6, 1, 1, 0),
		/* no valid name: the network's count alone */
		FAIL("", "192.0.2.2", 250, 1, ANY, ANY, 0),
		FAIL("", "192.0.2.2", 500, 2, ANY, ANY, 0),
		FAIL("", "192.0.2.2", 1000, 3, ANY, ANY, 0),
		FAIL("", "192.0.2.2", 2000, 4, ANY, ANY, 0),
		FAIL("", "192.0.2.2", 4000, 5, ANY, ANY, 0),
		FAIL("", "192.0.2.2", 8000, 6, ANY, ANY, 0),
		FAIL("", "192.0.2.2", 8000, 7, ANY, ANY, 0),
	  } },
	{ .name = "ten failures from ten addresses lock the account",
	  .steps = {
		FAIL(BOB, "198.51.100.1", 250, 1, 1, 1, 0),
		FAIL(BOB, "198.51.100.2", 250, 1, 2, 1, 0),
		FAIL(BOB, "198.51.100.3", 250, 1, 3, 1, 0),
		FAIL(BOB, "198.51.100.4", 250, 1, 4, 1, 0),
		FAIL(BOB, "198.51.100.5", 250, 1, 5, 1, 0),
		FAIL(BOB, "198.51.100.6", 250, 1, 6, 1, 0),
		FAIL(BOB, "198.51.100.7", 250, 1, 7, 1, 0),
		FAIL(BOB, "198.51.100.8", 250, 1, 8, 1, 0),
		FAIL(BOB, "198.51.100.9", 250, 1, 9, 1, 0),
		FAIL(BOB, "198.51.100.9", 1000, 2, 10, 2, 1),
		/* for everyone without trust, whoever asks */
		CHECK(BOB, "203.0.113.99", 0, 10, 0, 1, 0),
		CHECK(BOB, "198.51.100.1", 1, 10, 1, 1, 0),
		CHECK(BOB, "198.51.100.9", 2, 10, 2, 1, 0),
		CHECK(BOB, "2001:db8::1", 0, 10, 0, 1, 0),
		/* other accounts are not touched */
		CHECK(EVE, "198.51.100.1", 1, 0, 0, 0, 0),
		/* the window counts from the last failure */
		WAIT(AUTHN_WINDOW_S),
		CHECK(BOB, "203.0.113.99", 0, 10, 0, 1, 0),
		WAIT(1),
		CHECK(BOB, "203.0.113.99", 0, 0, 0, 0, 0),
		CHECK(BOB, "198.51.100.9", 0, 0, 0, 0, 0),
		/* and counting starts afresh */
		FAIL(BOB, "198.51.100.9", 250, 1, 1, 1, 0),
	  } },
	{ .name = "a locked account stays locked while attempts go on",
	  .steps = {
		FAIL(BOB, "198.51.100.1", ANY, ANY, 1, ANY, 0),
		FAIL(BOB, "198.51.100.2", ANY, ANY, 2, ANY, 0),
		FAIL(BOB, "198.51.100.3", ANY, ANY, 3, ANY, 0),
		FAIL(BOB, "198.51.100.4", ANY, ANY, 4, ANY, 0),
		FAIL(BOB, "198.51.100.5", ANY, ANY, 5, ANY, 0),
		FAIL(BOB, "198.51.100.6", ANY, ANY, 6, ANY, 0),
		FAIL(BOB, "198.51.100.7", ANY, ANY, 7, ANY, 0),
		FAIL(BOB, "198.51.100.8", ANY, ANY, 8, ANY, 0),
		FAIL(BOB, "198.51.100.9", ANY, ANY, 9, ANY, 0),
		FAIL(BOB, "198.51.100.10", ANY, ANY, 10, ANY, 1),
		WAIT(600),
		/* a refused attempt counts too (authn_conclude/login record
		 * it as a failure), so the window starts again */
		FAIL(BOB, "198.51.100.11", ANY, ANY, 11, ANY, 1),
		WAIT(600),
		CHECK(BOB, "203.0.113.1", 0, 11, 0, 1, 0),
		WAIT(301),
		CHECK(BOB, "203.0.113.1", 0, 0, 0, 0, 0),
	  } },
	{ .name = "a trusted network keeps its own allowance",
	  .steps = {
		OK(BOB, "192.0.2.10"),
		CHECK(BOB, "192.0.2.10", 0, 0, 0, 0, 1),
		CHECK(BOB, "192.0.2.11", 0, 0, 0, 0, 0),
		FAIL(BOB, "198.51.100.1", ANY, ANY, 1, ANY, 0),
		FAIL(BOB, "198.51.100.2", ANY, ANY, 2, ANY, 0),
		FAIL(BOB, "198.51.100.3", ANY, ANY, 3, ANY, 0),
		FAIL(BOB, "198.51.100.4", ANY, ANY, 4, ANY, 0),
		FAIL(BOB, "198.51.100.5", ANY, ANY, 5, ANY, 0),
		FAIL(BOB, "198.51.100.6", ANY, ANY, 6, ANY, 0),
		FAIL(BOB, "198.51.100.7", ANY, ANY, 7, ANY, 0),
		FAIL(BOB, "198.51.100.8", ANY, ANY, 8, ANY, 0),
		FAIL(BOB, "198.51.100.9", ANY, ANY, 9, ANY, 0),
		FAIL(BOB, "198.51.100.10", ANY, ANY, 10, ANY, 1),
		/* locked for the world, not at home */
		CHECK(BOB, "192.0.2.11", 0, 10, 0, 1, 0),
		CHECK(BOB, "192.0.2.10", 0, 10, 0, 0, 1),
		/* typos at home count for home only */
		FAIL(BOB, "192.0.2.10", 250, 1, 10, 1, 0),
		FAIL(BOB, "192.0.2.10", 1000, 2, 10, 2, 0),
		OK(BOB, "192.0.2.10"),
		CHECK(BOB, "192.0.2.10", 0, 10, 0, 0, 1),
		/* ten of them lock home too (its own counter) */
		FAIL(BOB, "192.0.2.10", ANY, 1, 10, 1, 0),
		FAIL(BOB, "192.0.2.10", ANY, 2, 10, 2, 0),
		FAIL(BOB, "192.0.2.10", ANY, 3, 10, 3, 0),
		FAIL(BOB, "192.0.2.10", ANY, 4, 10, 4, 0),
		FAIL(BOB, "192.0.2.10", ANY, 5, 10, 5, 0),
		FAIL(BOB, "192.0.2.10", ANY, 6, 10, 6, 0),
		FAIL(BOB, "192.0.2.10", ANY, 7, 10, 7, 0),
		FAIL(BOB, "192.0.2.10", ANY, 8, 10, 8, 0),
		FAIL(BOB, "192.0.2.10", ANY, 9, 10, 9, 0),
		FAIL(BOB, "192.0.2.10", 8000, 10, 10, 10, 1),
		/* ... and only home: a fresh trusted network still works */
		OK(BOB, "192.0.2.10"), /* (the test API skips the lock) */
		WAIT(AUTHN_WINDOW_S + 1),
		CHECK(BOB, "192.0.2.11", 0, 0, 0, 0, 0),
		/* trust lasts AUTHN_TRUST_S after the last success */
		WAIT(AUTHN_TRUST_S - AUTHN_WINDOW_S - 1),
		CHECK(BOB, "192.0.2.10", 0, 0, 0, 0, 1),
		WAIT(1),
		CHECK(BOB, "192.0.2.10", 0, 0, 0, 0, 0),
	  } },
	{ .name = "a success takes back its own share only",
	  .steps = {
		FAIL(BOB, "192.0.2.20", 250, 1, 1, 1, 0),
		FAIL(BOB, "192.0.2.20", 1000, 2, 2, 2, 0),
		FAIL(BOB, "192.0.2.20", 4000, 3, 3, 3, 0),
		FAIL(EVE, "192.0.2.20", 2000, 4, 1, 1, 0),
		/* the attacker logs in to their own account in between */
		OK(EVE, "192.0.2.20"),
		CHECK(BOB, "192.0.2.20", 3, 3, 3, 0, 0),
		CHECK(EVE, "192.0.2.20", 3, 0, 0, 0, 1),
		/* no reset: the next guess at bob waits longer still */
		FAIL(BOB, "192.0.2.20", 8000, 4, 4, 4, 0),
		/* bob from elsewhere, then bob's success from here */
		FAIL(BOB, "192.0.2.21", 250, 1, 5, 1, 0),
		FAIL(BOB, "192.0.2.21", 1000, 2, 6, 2, 0),
		OK(BOB, "192.0.2.20"),
		CHECK(BOB, "192.0.2.20", 0, 2, 0, 0, 1),
		CHECK(BOB, "192.0.2.21", 2, 2, 2, 0, 0),
		OK(BOB, "192.0.2.21"),
		CHECK(BOB, "192.0.2.21", 0, 0, 0, 0, 1),
		/* a success without failures changes nothing else */
		OK(ALICE, "192.0.2.22"),
		CHECK(ALICE, "192.0.2.22", 0, 0, 0, 0, 1),
	  } },
	{ .name = "IPv6 counts per /64, IPv4 per address",
	  .steps = {
		FAIL(BOB, "2001:db8:1:2::1", 250, 1, 1, 1, 0),
		FAIL(BOB, "2001:db8:1:2:ffff:ffff:ffff:ffff", 1000, 2, 2, 2, 0),
		FAIL(EVE, "2001:db8:1:2:abcd::9", 1000, 3, 1, 1, 0),
		FAIL(BOB, "2001:db8:1:3::1", 250, 1, 3, 1, 0),
		CHECK(BOB, "2001:db8:1:2::77", 3, 3, 2, 0, 0),
		OK(BOB, "2001:db8:1:2::5"),
		CHECK(BOB, "2001:db8:1:2:1:2:3:4", 1, 1, 0, 0, 1),
		CHECK(BOB, "2001:db8:1:3::1", 1, 1, 1, 0, 0),
		CHECK(BOB, "2001:db8:1:4::1", 0, 1, 0, 0, 0),
		FAIL(BOB, "192.0.2.30", 250, 1, 2, 1, 0),
		FAIL(BOB, "192.0.2.31", 250, 1, 3, 1, 0),
		/* v4-mapped is the same client as plain IPv4 */
		FAIL(BOB, "::ffff:192.0.2.30", 1000, 2, 4, 2, 0),
		/* v4-compatible and 6to4 are IPv6 networks, not 192.0.2.30 */
		FAIL(BOB, "::192.0.2.30", 250, 1, 5, 1, 0),
		FAIL(BOB, "2002:c000:21e::", 250, 1, 6, 1, 0),
	  } },
};

static void run_step(struct tfix *f, const struct tcase *k, size_t i)
{
	const struct tstep *s = &k->steps[i];
	struct sockaddr_storage ss;
	const struct sockaddr *sa = (struct sockaddr *)&ss;

	if (s->op == OP_WAIT) {
		f->clock.now += s->secs;
		return;
	}
	/* the client port changes with every connection */
	make_addr(s->addr, (uint16_t)(1024 + i), &ss);
	if (s->op == OP_FAIL) {
		unsigned d = authn_failure(f->a, s->user, sa);
		if (s->delay != ANY && d != (unsigned)s->delay)
			fail_msg("%s: step %zu (%s %s): delay %u, want %d",
				 k->name, i, s->user, s->addr, d, s->delay);
	} else if (s->op == OP_OK) {
		authn_success(f->a, s->user, sa);
	}
	int got[5] = {
		(int)authn_net_failures(f->a, sa),
		(int)authn_account_failures(f->a, s->user),
		(int)authn_pair_failures(f->a, s->user, sa),
		authn_is_locked(f->a, s->user, sa),
		authn_is_trusted(f->a, s->user, sa),
	};
	int want[5] = { s->net, s->acct, s->pair, s->locked, s->trusted };
	static const char *const what[5] = { "network failures",
					     "account failures",
					     "pair failures", "locked",
					     "trusted" };

	for (size_t w = 0; w < 5; w++)
		if (want[w] != ANY && got[w] != want[w])
			fail_msg("%s: step %zu (%s %s): %s %d, want %d",
				 k->name, i, s->user, s->addr, what[w],
				 got[w], want[w]);
}

static void test_throttle(void **state)
{
	struct tfix *f = *state;

	for (size_t c = 0; c < sizeof(tcases) / sizeof(tcases[0]); c++) {
		const struct tcase *k = &tcases[c];

		for (size_t i = 0; i < TSTEPS_MAX && k->steps[i].op != OP_END;
		     i++)
			run_step(f, k, i);
		/* the next case starts from nothing */
		f->clock.now += AUTHN_TRUST_S + 1;
	}
}

static void test_delay_ms(void **state)
{
	(void)state;
	static const unsigned want[] = { 250, 250, 500, 1000, 2000, 4000,
					 8000, 8000, 8000 };

	for (unsigned n = 0; n < sizeof(want) / sizeof(want[0]); n++)
		assert_int_equal(authn_delay_ms(n), want[n]);
	assert_int_equal(authn_delay_ms(UINT32_MAX), AUTHN_DELAY_MAX_MS);
}

static void addr6(struct sockaddr_storage *ss, uint32_t n)
{
	char text[64];

	/* one /64 per n */
	(void)snprintf(text, sizeof(text), "2001:db8:%x:%x::1", n >> 16,
		       n & 0xffff);
	make_addr(text, 4242, ss);
}

static void lock_account(struct tfix *f, const char *user)
{
	struct sockaddr_storage ss;

	for (unsigned i = 0; i < AUTHN_LOCK_FAILURES; i++) {
		addr6(&ss, 0xf0000000u + i);
		(void)authn_failure(f->a, user, (struct sockaddr *)&ss);
	}
}

/* Hostile names and networks fill the tables up to their bounds and no
 * further; the locks set before the flood survive it. */
static void test_bounds(void **state)
{
	struct tfix *f = *state;
	struct authn_usage u;
	struct sockaddr_storage ss, victim_net;
	char user[64];

	make_addr("192.0.2.200", 1, &victim_net);
	const struct sockaddr *vsa = (struct sockaddr *)&victim_net;
	lock_account(f, BOB);
	assert_true(authn_is_locked(f->a, BOB, vsa));
	/* a network flood (IPv6: one /64 each), then a name flood */
	for (uint32_t i = 0; i < AUTHN_NETS_MAX + 1000; i++) {
		addr6(&ss, i);
		(void)authn_failure(f->a, "", (struct sockaddr *)&ss);
	}
	authn_get_usage(f->a, &u);
	assert_int_equal(u.nets, AUTHN_NETS_MAX);
	for (uint32_t i = 0; i < AUTHN_PAIRS_MAX + 1000; i++) {
		(void)snprintf(user, sizeof(user), "u%u@example.test", i);
		addr6(&ss, i % 4096);
		(void)authn_failure(f->a, user, (struct sockaddr *)&ss);
	}
	authn_get_usage(f->a, &u);
	assert_int_equal(u.nets, AUTHN_NETS_MAX);
	assert_int_equal(u.accounts, AUTHN_ACCOUNTS_MAX);
	assert_int_equal(u.pairs, AUTHN_PAIRS_MAX);
	assert_int_equal(u.trusted, 0);
	/* the oldest entries, but locking ones: spared */
	assert_true(authn_is_locked(f->a, BOB, vsa));
	assert_int_equal(authn_account_failures(f->a, BOB),
			 AUTHN_LOCK_FAILURES);
	/* the newest are there */
	assert_int_equal(authn_account_failures(f->a, user), 1);

	/* once expired, everything goes first, locks included */
	f->clock.now += AUTHN_WINDOW_S + 1;
	for (uint32_t i = 0; i < AUTHN_ACCOUNTS_MAX; i++) {
		(void)snprintf(user, sizeof(user), "w%u@example.test", i);
		(void)authn_failure(f->a, user, vsa);
	}
	assert_false(authn_is_locked(f->a, BOB, vsa));
	assert_int_equal(authn_account_failures(f->a, "w0@example.test"), 1);
	authn_get_usage(f->a, &u);
	assert_int_equal(u.accounts, AUTHN_ACCOUNTS_MAX);

	/* trusted networks: at most AUTHN_TRUST_PER_ACCOUNT_MAX per account,
	 * the oldest go */
	for (uint32_t i = 0; i < AUTHN_TRUST_PER_ACCOUNT_MAX + 4; i++) {
		addr6(&ss, 0x10000u + i);
		f->clock.now++;
		authn_success(f->a, ALICE, (struct sockaddr *)&ss);
	}
	authn_get_usage(f->a, &u);
	assert_int_equal(u.trusted, AUTHN_TRUST_PER_ACCOUNT_MAX);
	for (uint32_t i = 0; i < AUTHN_TRUST_PER_ACCOUNT_MAX + 4; i++) {
		addr6(&ss, 0x10000u + i);
		assert_int_equal(authn_is_trusted(f->a, ALICE,
						  (struct sockaddr *)&ss),
				 i >= 4);
	}
	/* and all accounts together at most AUTHN_TRUST_MAX */
	addr6(&ss, 7);
	for (uint32_t i = 0; i < AUTHN_TRUST_MAX + 10; i++) {
		(void)snprintf(user, sizeof(user), "t%u@example.test", i);
		authn_success(f->a, user, (struct sockaddr *)&ss);
	}
	authn_get_usage(f->a, &u);
	assert_int_equal(u.trusted, AUTHN_TRUST_MAX);
	assert_true(authn_is_trusted(f->a, user, (struct sockaddr *)&ss));
	assert_false(authn_is_trusted(f->a, "t0@example.test",
				      (struct sockaddr *)&ss));
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
	enum authn_result result;
};

static void check_done_cb(void *arg, enum authn_result result,
			  unsigned delay_ms)
{
	struct check_rec *r = arg;
	struct loop *lp = r->lp;

	r->calls++;
	r->ok = result == AUTHN_OK;
	r->result = result;
	if ((result == AUTHN_OK) != (delay_ms == 0))
		r->calls += 100; /* a delay with every failure, none else */
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
		struct sockaddr_storage ss;
		char addr[32];

		/* one address each: no lock, whatever the order */
		(void)snprintf(addr, sizeof(addr), "192.0.2.%zu", i + 1);
		make_addr(addr, 2000, &ss);
		const struct authn_attempt at = {
			.sid = "T", .proto = "test",
			.peer = (struct sockaddr *)&ss, .peer_text = addr,
			.user = c->user, .name = c->user,
			.name_len = strlen(c->user),
		};
		authn_login(a, wp, db, &at, pw, len, check_done_cb, &recs[i]);
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

/* ---- authn_login and authn_conclude with the throttle ---- */

struct login_case {
	const char *user;
	const char *password;
	const char *addr;
};

/* Starts every login at once on a real pool (so the checks overlap, as
 * parallel sessions' do) and collects the results. */
static void run_logins(struct authn *a, const struct userdb *db,
		       const struct login_case *cases, size_t n,
		       enum authn_result *out)
{
	struct loop lp = { .loop_thread = pthread_self(), .expected = n };
	struct check_rec *recs = xcalloc(n, sizeof(*recs));

	lp.base = event_base_new();
	assert_non_null(lp.base);
	lp.watchdog = evtimer_new(lp.base, watchdog_cb, &lp);
	struct timeval tv = { .tv_sec = WATCHDOG_S };
	assert_int_equal(evtimer_add(lp.watchdog, &tv), 0);
	struct worker_pool *wp = worker_pool_new(lp.base, 2);

	for (size_t i = 0; i < n; i++) {
		struct sockaddr_storage ss;

		make_addr(cases[i].addr, (uint16_t)(3000 + i), &ss);
		const struct authn_attempt at = {
			.sid = "T", .proto = "test",
			.peer = (struct sockaddr *)&ss,
			.peer_text = cases[i].addr, .user = cases[i].user,
		};
		recs[i] = (struct check_rec){ .lp = &lp, .index = i };
		authn_login(a, wp, db, &at, cases[i].password,
			    strlen(cases[i].password), check_done_cb,
			    &recs[i]);
	}
	assert_int_equal(event_base_dispatch(lp.base), 0);
	assert_false(lp.timed_out);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(recs[i].calls, 1);
		out[i] = recs[i].result;
	}
	worker_pool_free(&wp);
	event_free(lp.watchdog);
	event_base_free(lp.base);
	free(recs);
}

static unsigned count_results(const enum authn_result *r, size_t n,
			      enum authn_result want)
{
	unsigned k = 0;

	for (size_t i = 0; i < n; i++)
		k += r[i] == want;
	return k;
}

#define PW "s3cret pass"
#define NGUESS 25

static void test_login_lock(void **state)
{
	struct tfix *f = *state;
	struct userdb *db = userdb_new();
	char hash[USERDB_HASH_MAX];
	enum authn_result r[NGUESS];
	struct login_case guesses[NGUESS];
	char addrs[NGUESS][32];

	assert_int_equal(userdb_hash_password(PW, hash, sizeof(hash)), 0);
	assert_int_equal(userdb_add(db, BOB, hash, NULL), 0);

	/* bob at home */
	const struct login_case home = { BOB, PW, "192.0.2.50" };
	run_logins(f->a, db, &home, 1, r);
	assert_int_equal(r[0], AUTHN_OK);

	/* parallel guesses from many addresses: only AUTHN_LOCK_FAILURES
	 * get an answer, the rest are refused even though their checks
	 * were already running when the lock came */
	for (size_t i = 0; i < NGUESS; i++) {
		(void)snprintf(addrs[i], sizeof(addrs[i]), "198.51.100.%zu",
			       i + 1);
		guesses[i] = (struct login_case){ BOB, "guess", addrs[i] };
	}
	run_logins(f->a, db, guesses, NGUESS, r);
	assert_int_equal(count_results(r, NGUESS, AUTHN_FAILED),
			 AUTHN_LOCK_FAILURES);
	assert_int_equal(count_results(r, NGUESS, AUTHN_LOCKED),
			 NGUESS - AUTHN_LOCK_FAILURES);

	/* the right password from a fresh network: refused, unchecked;
	 * from home: in; home's own typo: a plain failure */
	const struct login_case after[] = {
		{ BOB, PW, "203.0.113.1" },
		{ BOB, PW, "192.0.2.50" },
		{ BOB, "typo", "192.0.2.50" },
	};
	run_logins(f->a, db, after, 3, r);
	assert_int_equal(r[0], AUTHN_LOCKED);
	assert_int_equal(r[1], AUTHN_OK);
	assert_int_equal(r[2], AUTHN_FAILED);

	/* a SCRAM proof that was right, from a fresh network: refused */
	struct sockaddr_storage ss;
	unsigned delay = 0;

	make_addr("203.0.113.2", 1, &ss);
	const struct authn_attempt at = {
		.sid = "T", .proto = "test", .peer = (struct sockaddr *)&ss,
		.peer_text = "203.0.113.2", .user = BOB,
	};
	assert_int_equal(authn_conclude(f->a, db, &at, true, &delay),
			 AUTHN_LOCKED);
	assert_true(delay >= AUTHN_DELAY_BASE_MS);
	/* a window without attempts lifts the lock */
	f->clock.now += AUTHN_WINDOW_S + 1;
	assert_int_equal(authn_conclude(f->a, db, &at, true, &delay),
			 AUTHN_OK);
	assert_int_equal(delay, 0);
	/* and a wrong proof is a plain failure again */
	assert_int_equal(authn_conclude(f->a, db, &at, false, &delay),
			 AUTHN_FAILED);
	assert_true(delay >= AUTHN_DELAY_BASE_MS);
	userdb_free(&db);
}

int main(void)
{
	if (evthread_use_pthreads() != 0)
		return 1;
	log_set_level(LOG_WARN); /* one line per failed login otherwise */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_delay_ms),
		cmocka_unit_test_setup_teardown(test_throttle, throttle_setup,
						throttle_teardown),
		cmocka_unit_test_setup_teardown(test_bounds, throttle_setup,
						throttle_teardown),
		cmocka_unit_test_setup_teardown(test_login_lock,
						throttle_setup,
						throttle_teardown),
		cmocka_unit_test(test_check_password),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
