/* srs_test: a vector from postsrsd's own tests (the format is theirs), round
 * trips, the timestamp window and its 1024-day wrap, tampered and
 * case-folded addresses, SRS1 chains across two forwarders with different
 * secrets, length limits, and a table of malformed addresses, each also
 * reversed from every prefix of an exactly sized heap copy. */
#include "trust/srs.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define DAY 86400
/* postsrsd tests/unit/test_srs2.c: 2020-01-01 00:01:00 UTC, day slot 854. */
#define T0 ((time_t)1577836860)

static const unsigned char key_a[] = "tops3cr3t";
#define KEY_A key_a, sizeof(key_a) - 1
static const unsigned char key_b[32] = {0x01, 0x02, 0x03, 0xfe, 0xff, 0x00, 0x42};
#define KEY_B key_b, sizeof(key_b)

static void fwd_ok(const unsigned char *k, size_t k_len, const char *sender, const char *dom,
		   time_t now, char *out, size_t out_size)
{
	const char *err = NULL;
	int rc = srs_forward(k, k_len, sender, dom, now, out, out_size, &err);
	if (rc != 0)
		fail_msg("forward %s: rc %d (%s)", sender, rc, err ? err : "");
}

static void rev_expect(const unsigned char *k, size_t k_len, const char *addr, time_t now,
		       unsigned max_age, const char *want, const char *want_err)
{
	char out[SRS_ADDR_MAX + 1];
	const char *err = NULL;
	int rc = srs_reverse(k, k_len, addr, now, max_age, out, sizeof(out), &err);
	if (want != NULL) {
		if (rc != 0)
			fail_msg("reverse %s: rc %d (%s)", addr, rc, err ? err : "");
		assert_string_equal(out, want);
	} else {
		if (rc != -1)
			fail_msg("reverse %s: accepted as %s", addr, out);
		assert_string_equal(err, want_err);
		assert_string_equal(out, "");
	}
}

static void test_postsrsd_vector(void **state)
{
	(void)state;
	char out[SRS_ADDR_MAX + 1];
	fwd_ok(KEY_A, "test@otherdomain.com", "example.com", T0, out, sizeof(out));
	assert_string_equal(out, "SRS0=vmyz=2W=otherdomain.com=test@example.com");
	rev_expect(KEY_A, out, T0, SRS_MAX_AGE_DEFAULT, "test@otherdomain.com", NULL);
	/* The SRS1 form, hash computed apart with Python's hmac module. */
	char out1[SRS_ADDR_MAX + 1];
	fwd_ok(KEY_A, out, "fwd2.example", T0, out1, sizeof(out1));
	assert_string_equal(out1, "SRS1=JO9m=example.com==vmyz=2W=otherdomain.com=test@fwd2.example");
	rev_expect(KEY_A, out1, T0, 0, out, NULL);
}

static void test_round_trip(void **state)
{
	(void)state;
	static const char *const senders[] = {
		"user@orig.example",
		"First.Last+tag@Mail.Orig.EXAMPLE",
		"a=b=c@orig.example", /* '=' in the user: the last field */
		"=@orig.example",
		"SRS0@orig.example", /* no separator: an ordinary local part */
		"SRS1=x@orig.example", /* looks like SRS1 but is not: wrapped */
		"o'neil&co!{x}@xn--bcher-kva.example",
		"j\303\274rgen@b\303\274cher.example", /* SMTPUTF8 */
	};
	for (size_t i = 0; i < sizeof(senders) / sizeof(senders[0]); i++) {
		char out[SRS_ADDR_MAX + 1];
		fwd_ok(KEY_B, senders[i], "our.example", T0, out, sizeof(out));
		assert_true(strncmp(out, "SRS0=", 5) == 0);
		assert_true(srs_is_srs(out));
		rev_expect(KEY_B, out, T0 + 3 * DAY, SRS_MAX_AGE_DEFAULT, senders[i], NULL);
		/* Another secret does not accept it. */
		rev_expect(KEY_A, out, T0, SRS_MAX_AGE_DEFAULT, NULL, "bad hash");
	}
}

static void test_not_rewritten(void **state)
{
	(void)state;
	char out[SRS_ADDR_MAX + 1] = "junk";
	assert_int_equal(srs_forward(KEY_B, "", "our.example", T0, out, sizeof(out), NULL), 1);
	assert_string_equal(out, "");
	assert_int_equal(srs_forward(KEY_B, "me@OUR.example", "our.example", T0, out,
				     sizeof(out), NULL), 1);
}

static void test_timestamp(void **state)
{
	(void)state;
	char out[SRS_ADDR_MAX + 1];
	fwd_ok(KEY_B, "user@orig.example", "our.example", T0, out, sizeof(out));
	rev_expect(KEY_B, out, T0 + 21 * DAY, 21, "user@orig.example", NULL);
	rev_expect(KEY_B, out, T0 + 22 * DAY, 21, NULL, "expired");
	rev_expect(KEY_B, out, T0 + 1 * DAY, 0, NULL, "expired");
	rev_expect(KEY_B, out, T0 + 1 * DAY, 1, "user@orig.example", NULL);
	/* A stamp from tomorrow wrapped: 1023 days old. */
	rev_expect(KEY_B, out, T0 - DAY, 21, NULL, "expired");

	/* Made on slot 1020, checked on slots 1..6 of the next round. */
	time_t t = (time_t)(1024 * 18 + 1020) * DAY + 3600;
	fwd_ok(KEY_B, "user@orig.example", "our.example", t, out, sizeof(out));
	assert_true(strncmp(out + 10, "74=", 3) == 0); /* 1020 = 31 * 32 + 28 */
	rev_expect(KEY_B, out, t + 10 * DAY, 21, "user@orig.example", NULL);
	rev_expect(KEY_B, out, t + 21 * DAY, 21, "user@orig.example", NULL);
	rev_expect(KEY_B, out, t + 22 * DAY, 21, NULL, "expired");
	/* The stamp only knows days modulo 1024: the same address is good
	 * again 1024 days later (libsrs2 has this too). */
	rev_expect(KEY_B, out, t + 1024 * DAY, 21, "user@orig.example", NULL);
	rev_expect(KEY_B, out, t + 1046 * DAY, 21, NULL, "expired");
}

/* Replaces the first occurrence of from by to (same length) in s. */
static void patch(char *s, const char *from, const char *to)
{
	char *p = strstr(s, from);
	assert_non_null(p);
	assert_int_equal(strlen(from), strlen(to));
	memcpy(p, to, strlen(to));
}

static void test_tampered(void **state)
{
	(void)state;
	char good[SRS_ADDR_MAX + 1], bad[SRS_ADDR_MAX + 1];
	fwd_ok(KEY_A, "test@otherdomain.com", "example.com", T0, good, sizeof(good));
	static const char *const edits[][2] = {
		{"=vmyz=", "=vmyy="}, {"=vmyz=", "=vmz/="}, {"otherdomain", "otherdomaim"},
		{"=test@", "=tesu@"}, {"=2W=", "=2X="}, /* the stamp is hashed too */
	};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		memcpy(bad, good, sizeof(good));
		patch(bad, edits[i][0], edits[i][1]);
		rev_expect(KEY_A, bad, T0, 21, NULL, "bad hash");
	}
	/* A user or host added or cut. */
	rev_expect(KEY_A, "SRS0=vmyz=2W=otherdomain.com=test2@example.com", T0, 21, NULL,
		   "bad hash");
	rev_expect(KEY_A, "SRS0=vmyz=2W=otherdomain.co=test@example.com", T0, 21, NULL,
		   "bad hash");
	rev_expect(KEY_A, "SRS0=vmyz=2W=otherdomain.com=test=x@example.com", T0, 21, NULL,
		   "bad hash");
}

static void test_case_folded(void **state)
{
	(void)state;
	/* Relays may fold a local part: tag, hash, stamp and fields all. */
	rev_expect(KEY_A, "srs0=VMYZ=2w=otherdomain.com=test@example.com", T0, 21,
		   "test@otherdomain.com", NULL);
	rev_expect(KEY_A, "SRS0=VMYZ=2W=OTHERDOMAIN.COM=TEST@EXAMPLE.COM", T0, 21,
		   "TEST@OTHERDOMAIN.COM", NULL);
	rev_expect(KEY_A, "srs0=vmyz=2w=otherdomain.com=test@example.com", T0, 21,
		   "test@otherdomain.com", NULL);
	/* libsrs2 separators after the tag; the hash does not cover it. */
	rev_expect(KEY_A, "SRS0+vmyz=2W=otherdomain.com=test@example.com", T0, 21,
		   "test@otherdomain.com", NULL);
	rev_expect(KEY_A, "SRS0-vmyz=2W=otherdomain.com=test", T0, 21, "test@otherdomain.com",
		   NULL);
}

static void test_srs1_chain(void **state)
{
	(void)state;
	char a[SRS_ADDR_MAX + 1], b[SRS_ADDR_MAX + 1], c[SRS_ADDR_MAX + 1];
	/* orig -> fwd-a (key A) -> fwd-b (key B) -> fwd-c (key A again). */
	fwd_ok(KEY_A, "user@orig.example", "fwd-a.example", T0, a, sizeof(a));
	fwd_ok(KEY_B, a, "fwd-b.example", T0, b, sizeof(b));
	assert_true(strncmp(b, "SRS1=", 5) == 0);
	/* The opaque part is a's local part without "SRS0". */
	size_t la = (size_t)(strchr(a, '@') - a);
	assert_non_null(strstr(b, "=fwd-a.example=="));
	assert_memory_equal(strstr(b, "==") + 1, a + 4, la - 4 + 1);
	fwd_ok(KEY_A, b, "fwd-c.example", T0, c, sizeof(c));
	/* Same host and opaque part, a hash of our own, our domain. */
	size_t lb = (size_t)(strchr(b, '@') - b);
	assert_true(strncmp(c, "SRS1=", 5) == 0);
	assert_memory_equal(c + 9, b + 9, lb - 9 + 1);
	assert_true(memcmp(c + 5, b + 5, 4) != 0);
	assert_string_equal(c + lb, "@fwd-c.example");

	/* Bounces: fwd-c sends straight to fwd-a, which knows the sender. */
	char addr_a[SRS_ADDR_MAX + 1];
	memcpy(addr_a, a, sizeof(a));
	rev_expect(KEY_A, c, T0, 21, addr_a, NULL);
	rev_expect(KEY_B, b, T0, 21, addr_a, NULL);
	rev_expect(KEY_A, addr_a, T0 + DAY, 21, "user@orig.example", NULL);
	/* SRS1 under the wrong key, or tampered. */
	rev_expect(KEY_A, b, T0, 21, NULL, "bad hash");
	patch(c, "fwd-a.example", "fwd-x.example");
	rev_expect(KEY_A, c, T0, 21, NULL, "bad hash");

	/* An SRS0 sender with a '+' separator keeps it in the opaque part. */
	fwd_ok(KEY_B, "SRS0+vmyz=2W=otherdomain.com=test@example.com", "fwd.example", T0, b,
	       sizeof(b));
	assert_non_null(strstr(b, "=example.com=+vmyz=2W=otherdomain.com=test@fwd.example"));
	rev_expect(KEY_B, b, T0, 21, "SRS0+vmyz=2W=otherdomain.com=test@example.com", NULL);
}

static void test_lengths(void **state)
{
	(void)state;
	char out[SRS_ADDR_MAX + 1], sender[128];
	const char *err = NULL;
	/* SRS0 adds 14 octets to user + host: 50 fit in 64, 51 do not. */
	snprintf(sender, sizeof(sender), "%0*d@h.example", 50 - 9, 0);
	fwd_ok(KEY_B, sender, "our.example", T0, out, sizeof(out));
	assert_int_equal(strchr(out, '@') - out, 64);
	rev_expect(KEY_B, out, T0, 21, sender, NULL);
	snprintf(sender, sizeof(sender), "%0*d@h.example", 51 - 9, 0);
	assert_int_equal(srs_forward(KEY_B, sender, "our.example", T0, out, sizeof(out), &err), -1);
	assert_string_equal(err, "too long");
	assert_string_equal(out, "");
	/* The whole address: 254 octets at most. */
	char dom[256];
	memset(dom, 'd', sizeof(dom));
	dom[254 - 25] = '\0'; /* "SRS0=HHHH=TT=h.example=u@" is 25 */
	fwd_ok(KEY_B, "u@h.example", dom, T0, out, sizeof(out));
	assert_int_equal(strlen(out), 254);
	dom[254 - 25] = 'd';
	dom[254 - 24] = '\0';
	assert_int_equal(srs_forward(KEY_B, "u@h.example", dom, T0, out, sizeof(out), &err), -1);
	assert_string_equal(err, "too long");
	/* Output buffers one short. */
	size_t n = strlen("SRS0=vmyz=2W=otherdomain.com=test@example.com");
	fwd_ok(KEY_A, "test@otherdomain.com", "example.com", T0, out, n + 1);
	assert_int_equal(srs_forward(KEY_A, "test@otherdomain.com", "example.com", T0, out, n,
				     &err), -1);
	assert_string_equal(err, "buffer too small");
	char small[21];
	assert_int_equal(srs_reverse(KEY_A, "SRS0=vmyz=2W=otherdomain.com=test@example.com", T0,
				     21, small, 20, &err), -1);
	assert_string_equal(err, "buffer too small");
	assert_int_equal(srs_reverse(KEY_A, "SRS0=vmyz=2W=otherdomain.com=test@example.com", T0,
				     21, small, 21, &err), 0);
	/* An input over SRS_ADDR_MAX is not looked at further. */
	char big[300];
	snprintf(big, sizeof(big), "SRS0=vmyz=2W=otherdomain.com=test@%0*d", 221, 0);
	rev_expect(KEY_A, big, T0, 21, NULL, "malformed");
}

struct bad_fwd {
	const char *sender, *err;
};

static void test_forward_refused(void **state)
{
	(void)state;
	static const struct bad_fwd cases[] = {
		{"nodomain", "malformed sender"},
		{"@orig.example", "malformed sender"},
		{"user@", "malformed sender"},
		{"\"john doe\"@orig.example", "unsupported sender"},
		{"a b@orig.example", "unsupported sender"},
		{"user@[192.0.2.1]", "unsupported sender"},
		{"user@orig=example", "unsupported sender"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[SRS_ADDR_MAX + 1];
		const char *err = NULL;
		if (srs_forward(KEY_B, cases[i].sender, "our.example", T0, out, sizeof(out),
				&err) != -1)
			fail_msg("%s: rewritten as %s", cases[i].sender, out);
		assert_string_equal(err, cases[i].err);
		assert_string_equal(out, "");
	}
}

struct bad_rev {
	const char *addr, *err;
};

static const struct bad_rev bad_rev_cases[] = {
	{"", "not SRS"},
	{"user@example.com", "not SRS"},
	{"SRS0@example.com", "not SRS"},
	{"SRS0", "not SRS"},
	{"SRS2=vmyz=2W=otherdomain.com=test@example.com", "not SRS"},
	{"SRS0*vmyz=2W=otherdomain.com=test@example.com", "not SRS"},
	{"SRS=vmyz=2W=otherdomain.com=test@example.com", "not SRS"},
	{"SRS0=@example.com", "malformed"},
	{"SRS0=vmyz@example.com", "malformed"},
	{"SRS0=vmyz=2W@example.com", "malformed"},
	{"SRS0=vmyz=2W=otherdomain.com@example.com", "malformed"},
	{"SRS0=vmyz=2W=otherdomain.com=@example.com", "malformed"}, /* empty user */
	{"SRS0=vmyz=2W==test@example.com", "malformed"}, /* empty host */
	{"SRS0=vmyz==otherdomain.com=test@example.com", "malformed"},
	{"SRS0==2W=otherdomain.com=test@example.com", "malformed"},
	{"SRS0=vmy=2W=otherdomain.com=test@example.com", "malformed"},
	{"SRS0=vmyzz=2W=otherdomain.com=test@example.com", "malformed"},
	{"SRS0=vmyz=2=otherdomain.com=test@example.com", "malformed"},
	{"SRS0=vmyz=2W2=otherdomain.com=test@example.com", "malformed"},
	{"SRS0=vmyz=21=otherdomain.com=test@example.com", "malformed"}, /* not base32 */
	{"SRS0=vmyz=2W=other@domain.com=test", "malformed"}, /* '@' ends it */
	{"SRS1=@example.com", "malformed"},
	{"SRS1=JO9m@example.com", "malformed"},
	{"SRS1=JO9m=example.com@fwd2.example", "malformed"},
	{"SRS1=JO9m=example.com=@fwd2.example", "malformed"},
	{"SRS1=JO9m=example.com==@fwd2.example", "malformed"}, /* opaque only "=" */
	{"SRS1=JO9m=example.com=xvmyz=2W=otherdomain.com=test@fwd2.example", "malformed"},
	{"SRS1=JO9m==vmyz=2W=otherdomain.com=test@fwd2.example", "malformed"},
	{"SRS1=JO9=example.com==vmyz=2W=otherdomain.com=test@fwd2.example", "malformed"},
	{"SRS1==example.com==vmyz=2W=otherdomain.com=test@fwd2.example", "malformed"},
	{"SRS1=JO9m=exa[mple.com==vmyz=2W=otherdomain.com=test@fwd2.example", "malformed"},
};

static void test_reverse_malformed(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_rev_cases) / sizeof(bad_rev_cases[0]); i++)
		rev_expect(KEY_A, bad_rev_cases[i].addr, T0, 21, NULL, bad_rev_cases[i].err);
}

/* Every prefix, each in an exactly sized heap copy (ASan sees over-reads):
 * only prefixes that keep the whole local part can be accepted. */
static void test_prefixes(void **state)
{
	(void)state;
	static const char *const addrs[] = {
		"SRS0=vmyz=2W=otherdomain.com=test@example.com",
		"SRS1=JO9m=example.com==vmyz=2W=otherdomain.com=test@fwd2.example",
	};
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		size_t len = strlen(addrs[i]), local_len = (size_t)(strchr(addrs[i], '@') - addrs[i]);
		for (size_t k = 0; k <= len; k++) {
			char *copy = malloc(k + 1), out[SRS_ADDR_MAX + 1];
			assert_non_null(copy);
			memcpy(copy, addrs[i], k);
			copy[k] = '\0';
			int rc = srs_reverse(KEY_A, copy, T0, 21, out, sizeof(out), NULL);
			assert_int_equal(rc, k >= local_len ? 0 : -1);
			(void)srs_is_srs(copy);
			rc = srs_forward(KEY_A, copy, "our.example", T0, out, sizeof(out), NULL);
			assert_true(rc >= -1 && rc <= 1);
			free(copy);
		}
	}
	for (size_t i = 0; i < sizeof(bad_rev_cases) / sizeof(bad_rev_cases[0]); i++) {
		size_t len = strlen(bad_rev_cases[i].addr);
		for (size_t k = 0; k <= len; k++) {
			char *copy = malloc(k + 1), out[SRS_ADDR_MAX + 1];
			assert_non_null(copy);
			memcpy(copy, bad_rev_cases[i].addr, k);
			copy[k] = '\0';
			assert_int_equal(srs_reverse(KEY_A, copy, T0, 21, out, sizeof(out), NULL), -1);
			free(copy);
		}
	}
}

static void test_is_srs(void **state)
{
	(void)state;
	assert_true(srs_is_srs("SRS0=x"));
	assert_true(srs_is_srs("srs1+x"));
	assert_true(srs_is_srs("Srs0-"));
	assert_true(srs_is_srs("SRS0=vmyz=2W=otherdomain.com=test@example.com"));
	assert_false(srs_is_srs("SRS0"));
	assert_false(srs_is_srs("SRS2=x"));
	assert_false(srs_is_srs("SRS0_x"));
	assert_false(srs_is_srs("xSRS0=x"));
	assert_false(srs_is_srs(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_postsrsd_vector),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_not_rewritten),
		cmocka_unit_test(test_timestamp),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_case_folded),
		cmocka_unit_test(test_srs1_chain),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_forward_refused),
		cmocka_unit_test(test_reverse_malformed),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_is_srs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
