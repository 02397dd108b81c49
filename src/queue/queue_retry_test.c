/* queue_retry_test: table-driven tests of the retry arithmetic with the
 * default schedule (5m 10m 20m 40m 1h 2h 4h, lifetime 5d, delay warning
 * 4h): the steps and the repeating last step, the clamp that puts the
 * final attempt at the expiry time, saturation instead of overflow, the
 * delay-warning conditions one by one, and per-destination backoff. */
#include "queue/queue_retry.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "queue/queue_env.h"

#define M 60
#define H 3600
#define D 86400
#define T0 1700000000 /* created */

static const unsigned default_schedule[] = { 5 * M, 10 * M, 20 * M, 40 * M, H, 2 * H, 4 * H };

static void default_policy(struct queue_retry_policy *p)
{
	queue_retry_policy_init(p, default_schedule,
				sizeof(default_schedule) / sizeof(default_schedule[0]), 5 * D,
				4 * H);
}

static void test_next(void **state)
{
	static const struct {
		unsigned attempts;
		int64_t now; /* offset from T0 */
		int64_t want; /* offset from T0 */
	} cases[] = {
		{ .attempts = 0, .now = 0, .want = 0 }, /* never tried: now */
		{ .attempts = 0, .now = 777, .want = 777 },
		{ .attempts = 1, .now = 0, .want = 5 * M },
		{ .attempts = 2, .now = 5 * M, .want = 15 * M },
		{ .attempts = 3, .now = 15 * M, .want = 35 * M },
		{ .attempts = 4, .now = 35 * M, .want = 75 * M },
		{ .attempts = 5, .now = 75 * M, .want = 135 * M },
		{ .attempts = 6, .now = 135 * M, .want = 255 * M },
		{ .attempts = 7, .now = 255 * M, .want = 495 * M },
		/* The last step repeats. */
		{ .attempts = 8, .now = 495 * M, .want = 735 * M },
		{ .attempts = 100, .now = 2 * D, .want = 2 * D + 4 * H },
		{ .attempts = UINT32_MAX, .now = 2 * D, .want = 2 * D + 4 * H },
		/* Slow attempts: the step counts from the failed attempt. */
		{ .attempts = 1, .now = 3 * M, .want = 8 * M },
		/* Clamped: the final attempt happens at expiry. */
		{ .attempts = 30, .now = 5 * D - 3 * H, .want = 5 * D },
		{ .attempts = 30, .now = 5 * D - 1, .want = 5 * D },
		{ .attempts = 30, .now = 5 * D - 4 * H, .want = 5 * D },
		{ .attempts = 30, .now = 5 * D - 4 * H - 1, .want = 5 * D - 1 },
		/* Past expiry (the caller bounces first): never before now. */
		{ .attempts = 30, .now = 6 * D, .want = 6 * D },
	};
	struct queue_retry_policy p;

	(void)state;
	default_policy(&p);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t got = queue_retry_next(&p, cases[i].attempts, T0, T0 + cases[i].now);

		if (got != T0 + cases[i].want)
			fail_msg("case %zu: attempts %u now +%lld: got +%lld want +%lld", i,
				 cases[i].attempts, (long long)cases[i].now, (long long)(got - T0),
				 (long long)cases[i].want);
	}
}

static void test_next_edges(void **state)
{
	static const unsigned one[] = { 0 };
	static const unsigned big[] = { UINT32_MAX };
	struct queue_retry_policy p;

	(void)state;
	/* A zero step means one second, not a tight loop. */
	queue_retry_policy_init(&p, one, 1, 100, 0);
	assert_int_equal(queue_retry_next(&p, 3, 0, 10), 11);
	/* Saturation: huge times and lifetimes do not overflow. */
	queue_retry_policy_init(&p, big, 1, UINT64_MAX, 0);
	assert_int_equal(queue_retry_expiry(&p, T0), INT64_MAX);
	assert_int_equal(queue_retry_next(&p, 1, T0, INT64_MAX - 5), INT64_MAX);
	assert_false(queue_retry_is_expired(&p, T0, INT64_MAX - 1));
	assert_true(queue_retry_is_expired(&p, T0, INT64_MAX));
	/* A lifetime of 0: expired at once, next attempt is now. */
	queue_retry_policy_init(&p, default_schedule, 7, 0, 0);
	assert_true(queue_retry_is_expired(&p, T0, T0));
	assert_int_equal(queue_retry_next(&p, 1, T0, T0), T0);
}

static void test_expired(void **state)
{
	static const struct {
		int64_t now;
		bool want;
	} cases[] = {
		{ 0, false }, { 4 * D, false }, { 5 * D - 1, false },
		{ 5 * D, true }, { 5 * D + 1, true }, { 50 * D, true },
	};
	struct queue_retry_policy p;

	(void)state;
	default_policy(&p);
	assert_int_equal(queue_retry_expiry(&p, T0), T0 + 5 * D);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(queue_retry_is_expired(&p, T0, T0 + cases[i].now), cases[i].want);
}

/* Walks the whole life of a recipient that always fails: the attempts
 * follow the schedule, then every 4 h, the last one at exactly 5 d. */
static void test_life_until_bounce(void **state)
{
	struct queue_retry_policy p;
	int64_t now = T0, last = T0;
	unsigned attempts = 0;

	(void)state;
	default_policy(&p);
	for (;;) {
		attempts++; /* an attempt at now fails */
		if (queue_retry_is_expired(&p, T0, now))
			break;
		now = queue_retry_next(&p, attempts, T0, now);
		assert_true(now > last);
		last = now;
	}
	assert_int_equal(now, T0 + 5 * D);
	/* 7 steps reach 495 min; then (7200 - 495) min / 240 min = 27.9 ->
	 * 27 more full steps and the clamped final one. */
	assert_int_equal(attempts, 1 + 7 + 27 + 1);
}

struct delay_case {
	const char *name;
	uint64_t delay_warning;
	const char *sender;
	unsigned notify;
	enum queue_rcpt_state st;
	bool notified;
	int64_t now; /* offset from T0 */
	bool want;
};

static const struct delay_case delay_cases[] = {
	{ "due", 4 * H, "a@b", 0, QUEUE_RCPT_DEFERRED, false, 4 * H, true },
	{ "due later", 4 * H, "a@b", 0, QUEUE_RCPT_DEFERRED, false, 3 * D, true },
	{ "pending counts", 4 * H, "a@b", 0, QUEUE_RCPT_PENDING, false, 5 * H, true },
	{ "too young", 4 * H, "a@b", 0, QUEUE_RCPT_DEFERRED, false, 4 * H - 1, false },
	{ "off", 0, "a@b", 0, QUEUE_RCPT_DEFERRED, false, 3 * D, false },
	{ "already notified", 4 * H, "a@b", 0, QUEUE_RCPT_DEFERRED, true, 5 * H, false },
	{ "delivered", 4 * H, "a@b", 0, QUEUE_RCPT_DELIVERED, false, 5 * H, false },
	{ "failed", 4 * H, "a@b", 0, QUEUE_RCPT_FAILED, false, 5 * H, false },
	{ "null sender", 4 * H, "", 0, QUEUE_RCPT_DEFERRED, false, 5 * H, false },
	{ "expired", 4 * H, "a@b", 0, QUEUE_RCPT_DEFERRED, false, 5 * D, false },
	{ "notify delay", 4 * H, "a@b", QUEUE_NOTIFY_DELAY, QUEUE_RCPT_DEFERRED, false, 5 * H,
	  true },
	{ "notify all", 4 * H, "a@b",
	  QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY, QUEUE_RCPT_DEFERRED,
	  false, 5 * H, true },
	{ "notify failure only", 4 * H, "a@b", QUEUE_NOTIFY_FAILURE, QUEUE_RCPT_DEFERRED, false,
	  5 * H, false },
	{ "notify success only", 4 * H, "a@b", QUEUE_NOTIFY_SUCCESS, QUEUE_RCPT_DEFERRED, false,
	  5 * H, false },
	{ "notify never", 4 * H, "a@b", QUEUE_NOTIFY_NEVER, QUEUE_RCPT_DEFERRED, false, 5 * H,
	  false },
	{ "warning after lifetime", 6 * D, "a@b", 0, QUEUE_RCPT_DEFERRED, false, 5 * D - 1,
	  false },
};

static void test_delay_due(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(delay_cases) / sizeof(delay_cases[0]); i++) {
		const struct delay_case *c = &delay_cases[i];
		struct queue_retry_policy p;
		struct queue_env env;
		struct queue_rcpt r;

		queue_retry_policy_init(&p, default_schedule, 7, 5 * D, c->delay_warning);
		memset(&env, 0, sizeof(env));
		env.sender = (char *)c->sender;
		env.created = T0;
		memset(&r, 0, sizeof(r));
		r.notify = c->notify;
		r.state = c->st;
		r.delay_notified = c->notified;
		if (queue_retry_is_delay_due(&p, &env, &r, T0 + c->now) != c->want)
			fail_msg("case %s: want %d", c->name, c->want);
	}
}

static void test_dest_hold(void **state)
{
	static const struct {
		unsigned failures;
		uint64_t want;
	} cases[] = {
		{ 0, 0 },      { 1, 60 },	  { 2, 120 },	    { 3, 240 },
		{ 6, 1920 },   { 7, 3600 },	  { 8, 3600 },	    { 64, 3600 },
		{ 65, 3600 },  { 1000, 3600 },	  { UINT32_MAX, 3600 },
	};
	struct queue_retry_policy p;

	(void)state;
	default_policy(&p);
	assert_int_equal(p.dest_hold_base, QUEUE_RETRY_DEST_HOLD_BASE);
	assert_int_equal(p.dest_hold_max, QUEUE_RETRY_DEST_HOLD_MAX);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(queue_retry_dest_hold(&p, cases[i].failures), cases[i].want);
	/* Unbounded max: doubling saturates instead of wrapping. */
	p.dest_hold_max = UINT64_MAX;
	assert_int_equal(queue_retry_dest_hold(&p, 200), UINT64_MAX);
	assert_int_equal(queue_retry_dest_hold(&p, 2), 120);
	/* Base 0 turns holding off. */
	p.dest_hold_base = 0;
	assert_int_equal(queue_retry_dest_hold(&p, UINT32_MAX), 0);
}

static void test_dest_sequence(void **state)
{
	struct queue_retry_policy p;
	struct queue_retry_dest d = { 0 };

	(void)state;
	default_policy(&p);
	assert_false(queue_retry_dest_is_held(&d, T0));
	queue_retry_dest_failed(&p, &d, T0);
	assert_int_equal(d.failures, 1);
	assert_true(queue_retry_dest_is_held(&d, T0));
	assert_true(queue_retry_dest_is_held(&d, T0 + 59));
	assert_false(queue_retry_dest_is_held(&d, T0 + 60));
	queue_retry_dest_failed(&p, &d, T0 + 60);
	assert_int_equal(d.hold_until, T0 + 60 + 120);
	queue_retry_dest_failed(&p, &d, T0 + 180);
	assert_int_equal(d.hold_until, T0 + 180 + 240);
	queue_retry_dest_succeeded(&d);
	assert_int_equal(d.failures, 0);
	assert_false(queue_retry_dest_is_held(&d, T0 + 181));
	/* The count saturates. */
	d.failures = UINT32_MAX;
	queue_retry_dest_failed(&p, &d, T0);
	assert_int_equal(d.failures, UINT32_MAX);
	assert_int_equal(d.hold_until, T0 + 3600);
	/* Hold saturates at the end of time. */
	queue_retry_dest_failed(&p, &d, INT64_MAX - 10);
	assert_int_equal(d.hold_until, INT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next),
		cmocka_unit_test(test_next_edges),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_life_until_bounce),
		cmocka_unit_test(test_delay_due),
		cmocka_unit_test(test_dest_hold),
		cmocka_unit_test(test_dest_sequence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
