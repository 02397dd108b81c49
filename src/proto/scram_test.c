/* scram_test: the RFC 7677 section 3 SCRAM-SHA-256 example recomputed
 * from the password, making and parsing the users-file field, and the
 * malformed fields the parser must refuse. */
#include "proto/scram.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/base64.h"

/* RFC 7677 section 3. */
#define RFC_SALT "W22ZaJ0SNY7soEsUEjb6gQ=="
#define RFC_NONCE "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_CLIENT_FIRST_BARE "n=user,r=rOprNGfwEbeRWgbNEkqO"
#define RFC_SERVER_FIRST "r=" RFC_NONCE ",s=" RFC_SALT ",i=4096"
#define RFC_CLIENT_FINAL_NO_PROOF "c=biws,r=" RFC_NONCE
#define RFC_PROOF "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_VERIFIER "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static void b64(const unsigned char *in, size_t len, char *out, size_t size)
{
	assert_true(base64_encode(in, len, out, size) >= 0);
}

static void test_rfc7677_example(void **state)
{
	static const char auth_msg[] = RFC_CLIENT_FIRST_BARE "," RFC_SERVER_FIRST
		"," RFC_CLIENT_FINAL_NO_PROOF;
	unsigned char salt[16], salted[32], client_key[32], stored_key[32];
	unsigned char server_key[32], sig[32], proof[32];
	char text[64];
	size_t salt_len;

	(void)state;
	assert_int_equal(base64_decode(RFC_SALT, strlen(RFC_SALT), salt,
				       sizeof(salt), &salt_len), 0);
	assert_int_equal(salt_len, 16);
	assert_int_equal(scram_salted_password("pencil", 6, salt, salt_len,
					       4096, salted), 0);
	assert_int_equal(scram_client_key(salted, client_key), 0);
	assert_int_equal(scram_hash(client_key, 32, stored_key), 0);
	assert_int_equal(scram_server_key(salted, server_key), 0);

	assert_int_equal(scram_hmac(stored_key, 32, auth_msg,
				    strlen(auth_msg), sig), 0);
	for (int i = 0; i < 32; i++)
		proof[i] = client_key[i] ^ sig[i];
	b64(proof, 32, text, sizeof(text));
	assert_string_equal(text, RFC_PROOF);

	assert_int_equal(scram_hmac(server_key, 32, auth_msg,
				    strlen(auth_msg), sig), 0);
	b64(sig, 32, text, sizeof(text));
	assert_string_equal(text, RFC_VERIFIER);
}

static void test_salted_password_args(void **state)
{
	unsigned char salted[32], again[32];

	(void)state;
	assert_int_equal(scram_salted_password("x", 1, (const unsigned char *)"s",
					       1, 0, salted), -1);
	/* Empty password (NULL pointer with length 0 is fine). */
	assert_int_equal(scram_salted_password(NULL, 0, (const unsigned char *)"s",
					       1, 1, salted), 0);
	assert_int_equal(scram_salted_password("", 0, (const unsigned char *)"s",
					       1, 1, again), 0);
	assert_memory_equal(salted, again, 32);
}

/* make -> parse, then rederive the keys from the parsed salt. */
static void check_round_trip(const char *password, unsigned iterations,
			     unsigned expect_iter)
{
	char text[SCRAM_CREDS_TEXT_MAX];
	char prefix[32];
	struct scram_creds c;
	unsigned char salted[32], ck[32], stored[32], server[32];

	assert_int_equal(scram_make_credentials(password, iterations, text,
						sizeof(text)), 0);
	snprintf(prefix, sizeof(prefix), "scram-sha-256=%u,", expect_iter);
	assert_memory_equal(text, prefix, strlen(prefix));
	assert_null(strchr(text, ':'));
	assert_int_equal(scram_parse_credentials(text, &c), 0);
	assert_int_equal(c.iterations, expect_iter);
	assert_int_equal(c.salt_len, SCRAM_SALT_LEN);
	assert_int_equal(scram_salted_password(password, strlen(password),
					       c.salt, c.salt_len,
					       c.iterations, salted), 0);
	assert_int_equal(scram_client_key(salted, ck), 0);
	assert_int_equal(scram_hash(ck, 32, stored), 0);
	assert_int_equal(scram_server_key(salted, server), 0);
	assert_memory_equal(c.stored_key, stored, 32);
	assert_memory_equal(c.server_key, server, 32);
}

static void test_make_parse_round_trip(void **state)
{
	(void)state;
	check_round_trip("pencil", 0, SCRAM_DEFAULT_ITERATIONS);
	check_round_trip("pencil", 5000, 5000);
	check_round_trip("", 0, SCRAM_DEFAULT_ITERATIONS);
	check_round_trip("p\xc3\xa4ss:w,o=rd", 0, SCRAM_DEFAULT_ITERATIONS);
}

static void test_make_fresh_salt(void **state)
{
	char a[SCRAM_CREDS_TEXT_MAX], b[SCRAM_CREDS_TEXT_MAX];

	(void)state;
	assert_int_equal(scram_make_credentials("pencil", 0, a, sizeof(a)), 0);
	assert_int_equal(scram_make_credentials("pencil", 0, b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
}

static void test_make_refuses(void **state)
{
	char text[SCRAM_CREDS_TEXT_MAX];
	char small[64];

	(void)state;
	assert_int_equal(scram_make_credentials("x", SCRAM_MIN_ITERATIONS - 1,
						text, sizeof(text)), -1);
	assert_int_equal(scram_make_credentials("x", SCRAM_ITERATIONS_MAX + 1,
						text, sizeof(text)), -1);
	memset(small, 'x', sizeof(small));
	assert_int_equal(scram_make_credentials("x", 0, small, sizeof(small)),
			 -1);
	assert_int_equal(small[0], '\0');
}

#define S16 "W22ZaJ0SNY7soEsUEjb6gQ=="
#define K32 "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define K32B "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
#define GOOD "scram-sha-256=4096," S16 "," K32 "," K32B

static void test_parse_finds_field(void **state)
{
	static const char *const ok[] = {
		GOOD,
		"foo=bar:" GOOD,
		GOOD ":quota=1G",
		"a:" GOOD ":b",
		":" GOOD ":",
		"SCRAM-SHA-256=4096," S16 "," K32 "," K32B,
		"scram-sha-256=1," S16 "," K32 "," K32B,
		"scram-sha-256=10000000," S16 "," K32 "," K32B,
		"scram-sha-256=4096,QQ==," K32 "," K32B,
	};
	struct scram_creds c;
	unsigned char k32[32], k32b[32];
	size_t n;

	(void)state;
	assert_int_equal(base64_decode(K32, strlen(K32), k32, 32, &n), 0);
	assert_int_equal(base64_decode(K32B, strlen(K32B), k32b, 32, &n), 0);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (scram_parse_credentials(ok[i], &c) != 0)
			fail_msg("refused: %s", ok[i]);
		assert_true(scram_has_credentials(ok[i]));
		assert_memory_equal(c.stored_key, k32, 32);
		assert_memory_equal(c.server_key, k32b, 32);
	}
	assert_int_equal(scram_parse_credentials(GOOD, &c), 0);
	assert_int_equal(c.iterations, 4096);
	assert_int_equal(c.salt_len, 16);
}

static void test_parse_refuses(void **state)
{
	static const struct {
		const char *extra;
		bool has; /* scram_has_credentials */
	} bad[] = {
		{ "", false },
		{ "foo=bar", false },
		{ "scram-sha-1=4096," S16 "," K32 "," K32B, false },
		{ "xscram-sha-256=4096," S16 "," K32 "," K32B, false },
		{ GOOD ":" GOOD, true },
		{ "scram-sha-256=", true },
		{ "scram-sha-256=0," S16 "," K32 "," K32B, true },
		{ "scram-sha-256=04096," S16 "," K32 "," K32B, true },
		{ "scram-sha-256=+4096," S16 "," K32 "," K32B, true },
		{ "scram-sha-256=-1," S16 "," K32 "," K32B, true },
		{ "scram-sha-256=10000001," S16 "," K32 "," K32B, true },
		{ "scram-sha-256=99999999999," S16 "," K32 "," K32B, true },
		{ "scram-sha-256=4096 ," S16 "," K32 "," K32B, true },
		{ "scram-sha-256=," S16 "," K32 "," K32B, true },
		{ "scram-sha-256=4096,," K32 "," K32B, true },
		{ "scram-sha-256=4096," S16 "," K32, true },
		{ "scram-sha-256=4096," S16 "," K32 "," K32B ",", true },
		{ "scram-sha-256=4096," S16 "," K32 "," K32B "," K32B, true },
		{ "scram-sha-256=4096," S16 ",QQ==," K32B, true },
		{ "scram-sha-256=4096," S16 "," K32 "," K32B "QQ==", true },
		/* 32 bytes, but non-zero unused bits: not canonical. */
		{ "scram-sha-256=4096," S16 "," K32 ","
		  "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G5=", true },
		{ "scram-sha-256=4096,W22ZaJ0SNY7soEsUEjb6g," K32 "," K32B, true },
		/* 66-byte salt (88 characters) is over SCRAM_SALT_MAX. */
		{ "scram-sha-256=4096,"
		  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA," K32 "," K32B, true },
	};
	struct scram_creds c;

	(void)state;
	assert_int_equal(scram_parse_credentials(NULL, &c), -1);
	assert_false(scram_has_credentials(NULL));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 0xa5, sizeof(c));
		if (scram_parse_credentials(bad[i].extra, &c) != -1)
			fail_msg("accepted: %s", bad[i].extra);
		assert_int_equal(c.iterations, 0);
		assert_int_equal(c.salt_len, 0);
		assert_int_equal(scram_has_credentials(bad[i].extra),
				 bad[i].has);
	}
}

/* 64-byte salt (the maximum) is fine. */
static void test_parse_salt_max(void **state)
{
	unsigned char salt[64];
	char salt_b64[100], text[300];
	struct scram_creds c;

	(void)state;
	memset(salt, 0x5a, sizeof(salt));
	b64(salt, sizeof(salt), salt_b64, sizeof(salt_b64));
	snprintf(text, sizeof(text), "scram-sha-256=4096,%s," K32 "," K32B,
		 salt_b64);
	assert_int_equal(scram_parse_credentials(text, &c), 0);
	assert_int_equal(c.salt_len, 64);
	assert_memory_equal(c.salt, salt, 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7677_example),
		cmocka_unit_test(test_salted_password_args),
		cmocka_unit_test(test_make_parse_round_trip),
		cmocka_unit_test(test_make_fresh_salt),
		cmocka_unit_test(test_make_refuses),
		cmocka_unit_test(test_parse_finds_field),
		cmocka_unit_test(test_parse_refuses),
		cmocka_unit_test(test_parse_salt_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
