/* listener_test: unit tests for the session accounting of net/listener.c
 * (sesslimit_*): the total and per-address limits, release, reload via
 * sesslimit_set, IPv6, and IPv4 vs v4-mapped IPv6 counting as one address.
 * Each case is a script of acquire/release/set steps; the listening socket
 * itself is exercised by the pytest suites. */
#include "net/listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

enum op { OP_END, OP_ACQUIRE, OP_RELEASE, OP_SET };

struct step {
	enum op op;
	const char *addr; /* numeric, v4 or v6 */
	uint16_t port;
	bool want; /* OP_ACQUIRE */
	unsigned total; /* sesslimit_total() after the step */
	unsigned max_total, max_per_ip; /* OP_SET */
};

#define ACQ(a, w, t) { .op = OP_ACQUIRE, .addr = (a), .want = (w), .total = (t) }
#define ACQP(a, p, w, t) \
	{ .op = OP_ACQUIRE, .addr = (a), .port = (p), .want = (w), .total = (t) }
#define REL(a, t) { .op = OP_RELEASE, .addr = (a), .total = (t) }
#define SET(mt, mp, t) \
	{ .op = OP_SET, .max_total = (mt), .max_per_ip = (mp), .total = (t) }

#define STEPS_MAX 24

struct sl_case {
	const char *name;
	unsigned max_total, max_per_ip;
	struct step steps[STEPS_MAX]; /* ends at OP_END */
};

static const struct sl_case sl_cases[] = {
	{ .name = "total limit", .max_total = 3, .max_per_ip = 10,
	  .steps = {
		ACQ("192.0.2.1", true, 1), ACQ("192.0.2.2", true, 2),
		ACQ("192.0.2.3", true, 3), ACQ("192.0.2.4", false, 3),
		ACQ("192.0.2.1", false, 3),
		REL("192.0.2.2", 2), ACQ("192.0.2.4", true, 3),
		ACQ("192.0.2.5", false, 3),
		REL("192.0.2.1", 2), REL("192.0.2.3", 1), REL("192.0.2.4", 0),
	  } },
	{ .name = "per-ip limit", .max_total = 100, .max_per_ip = 2,
	  .steps = {
		ACQ("192.0.2.1", true, 1), ACQ("192.0.2.1", true, 2),
		ACQ("192.0.2.1", false, 2), ACQ("192.0.2.2", true, 3),
		ACQ("192.0.2.2", true, 4), ACQ("192.0.2.2", false, 4),
		REL("192.0.2.1", 3), ACQ("192.0.2.1", true, 4),
		ACQ("192.0.2.1", false, 4),
		REL("192.0.2.1", 3), REL("192.0.2.1", 2),
		REL("192.0.2.2", 1), REL("192.0.2.2", 0),
		/* entry gone, counting starts again */
		ACQ("192.0.2.1", true, 1), REL("192.0.2.1", 0),
	  } },
	{ .name = "port does not matter", .max_total = 10, .max_per_ip = 1,
	  .steps = {
		ACQP("198.51.100.7", 1000, true, 1),
		ACQP("198.51.100.7", 2000, false, 1),
		ACQP("2001:db8::7", 1000, true, 2),
		ACQP("2001:db8::7", 2000, false, 2),
		REL("198.51.100.7", 1), REL("2001:db8::7", 0),
	  } },
	{ .name = "ipv6", .max_total = 10, .max_per_ip = 2,
	  .steps = {
		ACQ("2001:db8::1", true, 1), ACQ("2001:db8::1", true, 2),
		ACQ("2001:db8::1", false, 2), ACQ("2001:db8::2", true, 3),
		ACQ("::1", true, 4), ACQ("fe80::1", true, 5),
		REL("2001:db8::1", 4), ACQ("2001:db8::1", true, 5),
		REL("2001:db8::1", 4), REL("2001:db8::1", 3),
		REL("2001:db8::2", 2), REL("::1", 1), REL("fe80::1", 0),
	  } },
	{ .name = "ipv4 and v4-mapped are one address", .max_total = 10,
	  .max_per_ip = 2,
	  .steps = {
		ACQ("192.0.2.9", true, 1), ACQ("::ffff:192.0.2.9", true, 2),
		ACQ("192.0.2.9", false, 2), ACQ("::ffff:192.0.2.9", false, 2),
		/* released under the other spelling */
		REL("::ffff:192.0.2.9", 1), ACQ("::ffff:192.0.2.9", true, 2),
		REL("192.0.2.9", 1), REL("192.0.2.9", 0),
	  } },
	{ .name = "v4-mapped is not v4-compatible or 6to4", .max_total = 10,
	  .max_per_ip = 1,
	  .steps = {
		ACQ("192.0.2.9", true, 1), ACQ("::192.0.2.9", true, 2),
		ACQ("2002:c000:209::", true, 3),
		REL("192.0.2.9", 2), REL("::192.0.2.9", 1),
		REL("2002:c000:209::", 0),
	  } },
	{ .name = "reload lowers limits", .max_total = 10, .max_per_ip = 5,
	  .steps = {
		ACQ("192.0.2.1", true, 1), ACQ("192.0.2.1", true, 2),
		ACQ("192.0.2.1", true, 3), ACQ("192.0.2.2", true, 4),
		SET(3, 1, 4),
		/* live sessions stay; new ones wait until below the limits */
		ACQ("192.0.2.3", false, 4), REL("192.0.2.2", 3),
		ACQ("192.0.2.3", false, 3), REL("192.0.2.1", 2),
		ACQ("192.0.2.3", true, 3), ACQ("192.0.2.1", false, 3),
		REL("192.0.2.1", 2), REL("192.0.2.1", 1),
		ACQ("192.0.2.1", true, 2),
		SET(10, 2, 2), ACQ("192.0.2.1", true, 3),
		REL("192.0.2.1", 2), REL("192.0.2.1", 1), REL("192.0.2.3", 0),
	  } },
	{ .name = "limits of one", .max_total = 1, .max_per_ip = 1,
	  .steps = {
		ACQ("::1", true, 1), ACQ("127.0.0.1", false, 1),
		REL("::1", 0), ACQ("127.0.0.1", true, 1),
		REL("127.0.0.1", 0),
	  } },
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

static void test_table(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(sl_cases) / sizeof(sl_cases[0]); c++) {
		const struct sl_case *k = &sl_cases[c];
		struct sesslimit *sl = sesslimit_new(k->max_total,
						     k->max_per_ip);

		assert_non_null(sl);
		assert_int_equal(sesslimit_total(sl), 0);
		for (size_t i = 0; i < STEPS_MAX && k->steps[i].op != OP_END;
		     i++) {
			const struct step *s = &k->steps[i];
			struct sockaddr_storage ss;

			if (s->addr != NULL)
				make_addr(s->addr, s->port, &ss);
			switch (s->op) {
			case OP_ACQUIRE: {
				bool got = sesslimit_acquire(
					sl, (struct sockaddr *)&ss);
				if (got != s->want)
					fail_msg("%s: step %zu acquire %s: %d, "
						 "want %d", k->name, i,
						 s->addr, got, s->want);
				break;
			}
			case OP_RELEASE:
				sesslimit_release(sl, (struct sockaddr *)&ss);
				break;
			case OP_SET:
				sesslimit_set(sl, s->max_total, s->max_per_ip);
				break;
			case OP_END:
				break;
			}
			if (sesslimit_total(sl) != s->total)
				fail_msg("%s: step %zu: total %u, want %u",
					 k->name, i, sesslimit_total(sl),
					 s->total);
		}
		/* every script ends with all sessions released */
		assert_int_equal(sesslimit_total(sl), 0);
		sesslimit_free(&sl);
		assert_null(sl);
	}
}

/* Many addresses (more than the hash buckets, so chains form); sessions
 * left counted when the table is freed must not leak. */
static void test_many_addresses(void **state)
{
	(void)state;
	enum { N = 20000 };
	struct sesslimit *sl = sesslimit_new(N, 2);
	struct sockaddr_storage ss;
	char text[64];

	for (unsigned i = 0; i < N; i++) {
		(void)snprintf(text, sizeof(text), "2001:db8::%x:%x",
			       i >> 16, i & 0xffff);
		make_addr(text, 25, &ss);
		assert_true(sesslimit_acquire(sl, (struct sockaddr *)&ss));
	}
	assert_int_equal(sesslimit_total(sl), N);
	make_addr("192.0.2.1", 25, &ss);
	assert_false(sesslimit_acquire(sl, (struct sockaddr *)&ss));
	/* release the even ones, then every address takes one more */
	for (unsigned i = 0; i < N; i += 2) {
		(void)snprintf(text, sizeof(text), "2001:db8::%x:%x",
			       i >> 16, i & 0xffff);
		make_addr(text, 25, &ss);
		sesslimit_release(sl, (struct sockaddr *)&ss);
	}
	assert_int_equal(sesslimit_total(sl), N / 2);
	sesslimit_set(sl, N * 2, 2);
	for (unsigned i = 0; i < N; i++) {
		(void)snprintf(text, sizeof(text), "2001:db8::%x:%x",
			       i >> 16, i & 0xffff);
		make_addr(text, 25, &ss);
		assert_true(sesslimit_acquire(sl, (struct sockaddr *)&ss));
		if (i % 2 == 1)
			assert_false(sesslimit_acquire(
				sl, (struct sockaddr *)&ss));
	}
	assert_int_equal(sesslimit_total(sl), N + N / 2);
	sesslimit_free(&sl);
	assert_null(sl);
	sesslimit_free(&sl); /* NULL is accepted */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_many_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
