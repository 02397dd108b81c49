/* sasl_test: the SASL server state machines driven as a client would.
 * PLAIN and LOGIN run from tables, each message both as an initial
 * response and as a step. SCRAM-SHA-256 runs full exchanges with a small
 * client written here on top of auth/scram; that client is first checked
 * against the RFC 7677 section 3 example, then used to compute proofs
 * from the server-first messages the server sends (its nonce is random).
 * Challenge buffers are exactly SASL_CHALLENGE_MAX bytes so ASan sees any
 * overrun. */
#include "proto/sasl.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "proto/scram.h"
#include "core/alloc.h"
#include "proto/base64.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

/* Owned base64 text of n bytes. */
static char *b64(const void *p, size_t n)
{
	size_t size = base64_encoded_len(n) + 1;
	char *out = xmalloc(size);

	assert_true(base64_encode(p, n, out, size) >= 0);
	return out;
}

static char *b64s(const char *s)
{
	return b64(s, strlen(s));
}

/* Owned, NUL-terminated decoding of text. */
static char *unb64(const char *text)
{
	size_t len = strlen(text);
	char *out = xmalloc(base64_decoded_max(len) + 1);
	size_t n;

	assert_int_equal(base64_decode(text, len, out, base64_decoded_max(len), &n), 0);
	out[n] = '\0';
	return out;
}

struct ex {
	struct sasl_server *s;
	char *out; /* SASL_CHALLENGE_MAX bytes */
};

static struct ex ex_new(enum sasl_mech mech)
{
	struct ex e = { .s = sasl_server_new(mech), .out = xmalloc(SASL_CHALLENGE_MAX) };

	return e;
}

static void ex_free(struct ex *e)
{
	sasl_server_free(&e->s);
	assert_null(e->s);
	free(e->out);
}

static enum sasl_status start(struct ex *e, const char *initial)
{
	return sasl_server_start(e->s, initial, initial ? strlen(initial) : 0, e->out,
				 SASL_CHALLENGE_MAX);
}

static enum sasl_status step(struct ex *e, const char *line)
{
	return sasl_server_step(e->s, line, strlen(line), e->out, SASL_CHALLENGE_MAX);
}

/* Steps with base64(msg[0..n)). */
static enum sasl_status step_raw(struct ex *e, const char *msg, size_t n)
{
	char *line = b64(msg, n);
	enum sasl_status st = step(e, line);

	free(line);
	return st;
}

static enum sasl_status step_msg(struct ex *e, const char *msg)
{
	return step_raw(e, msg, strlen(msg));
}

static enum sasl_status password_result(struct ex *e, bool ok)
{
	return sasl_password_result(e->s, ok, e->out, SASL_CHALLENGE_MAX);
}

static enum sasl_status set_creds(struct ex *e, const struct scram_creds *c)
{
	return sasl_set_scram_creds(e->s, c, e->out, SASL_CHALLENGE_MAX);
}

/* ------------------------------------------------------------------ */
/* Mechanism names                                                     */

static void test_mech_names(void **state)
{
	enum sasl_mech m;

	(void)state;
	assert_true(sasl_mech_from_name("PLAIN", 5, &m));
	assert_int_equal(m, SASL_MECH_PLAIN);
	assert_true(sasl_mech_from_name("login", 5, &m));
	assert_int_equal(m, SASL_MECH_LOGIN);
	assert_true(sasl_mech_from_name("Scram-Sha-256", 13, &m));
	assert_int_equal(m, SASL_MECH_SCRAM_SHA_256);
	assert_true(sasl_mech_from_name("PLAIN AHVzZXI=", 5, &m));
	assert_int_equal(m, SASL_MECH_PLAIN);
	assert_false(sasl_mech_from_name("PLAI", 4, &m));
	assert_false(sasl_mech_from_name("PLAINX", 6, &m));
	assert_false(sasl_mech_from_name("SCRAM-SHA-1", 11, &m));
	assert_false(sasl_mech_from_name("SCRAM-SHA-256-PLUS", 18, &m));
	assert_false(sasl_mech_from_name("", 0, &m));
	assert_string_equal(sasl_mech_name(SASL_MECH_PLAIN), "PLAIN");
	assert_string_equal(sasl_mech_name(SASL_MECH_LOGIN), "LOGIN");
	assert_string_equal(sasl_mech_name(SASL_MECH_SCRAM_SHA_256), "SCRAM-SHA-256");
	assert_true(sasl_mech_is_plaintext(SASL_MECH_PLAIN));
	assert_true(sasl_mech_is_plaintext(SASL_MECH_LOGIN));
	assert_false(sasl_mech_is_plaintext(SASL_MECH_SCRAM_SHA_256));
}

/* ------------------------------------------------------------------ */
/* PLAIN                                                               */

struct plain_case {
	const char *name;
	const char *msg; /* may hold NULs */
	size_t len;
	enum sasl_status expect;
	const char *authcid; /* when expect is SASL_CHECK_PASSWORD */
	const char *authzid; /* NULL: none */
	const char *password;
};

#define M(s) .msg = (s), .len = sizeof(s) - 1

static const struct plain_case plain_cases[] = {
	{ "no authzid", M("\0user@example.org\0pencil"), SASL_CHECK_PASSWORD,
	  "user@example.org", NULL, "pencil" },
	{ "same authzid", M("user\0user\0pencil"), SASL_CHECK_PASSWORD, "user", "user", "pencil" },
	{ "authzid other case", M("USER\0user\0pencil"), SASL_CHECK_PASSWORD, "user", "USER",
	  "pencil" },
	{ "UTF-8 password", M("\0user\0p\xc3\xa4ss \xf0\x9f\x94\x91"), SASL_CHECK_PASSWORD, "user",
	  NULL, "p\xc3\xa4ss \xf0\x9f\x94\x91" },
	{ "proxy authzid", M("admin\0user\0pencil"), SASL_FAIL_AUTH, NULL, NULL, NULL },
	{ "one NUL", M("user\0pencil"), SASL_FAIL_MALFORMED, NULL, NULL, NULL },
	{ "no NUL", M("userpencil"), SASL_FAIL_MALFORMED, NULL, NULL, NULL },
	{ "empty", M(""), SASL_FAIL_MALFORMED, NULL, NULL, NULL },
	{ "only NULs", M("\0\0"), SASL_FAIL_MALFORMED, NULL, NULL, NULL },
	{ "empty password", M("\0user\0"), SASL_FAIL_MALFORMED, NULL, NULL, NULL },
	{ "empty authcid", M("\0\0pencil"), SASL_FAIL_MALFORMED, NULL, NULL, NULL },
	{ "third NUL", M("\0user\0pen\0cil"), SASL_FAIL_MALFORMED, NULL, NULL, NULL },
	{ "trailing NUL", M("\0user\0pencil\0"), SASL_FAIL_MALFORMED, NULL, NULL, NULL },
	{ "bad UTF-8 authcid", M("\0us\xff\0pencil"), SASL_FAIL_MALFORMED, NULL, NULL, NULL },
	{ "bad UTF-8 authzid", M("\x80\0user\0pencil"), SASL_FAIL_MALFORMED, NULL, NULL, NULL },
	{ "overlong UTF-8", M("\0user\0\xc0\xaf"), SASL_FAIL_MALFORMED, NULL, NULL, NULL },
	{ "surrogate", M("\0user\0\xed\xa0\x80"), SASL_FAIL_MALFORMED, NULL, NULL, NULL },
	{ "above U+10FFFF", M("\0user\0\xf4\x90\x80\x80"), SASL_FAIL_MALFORMED, NULL, NULL, NULL },
	{ "truncated UTF-8", M("\0user\0ab\xe2\x82"), SASL_FAIL_MALFORMED, NULL, NULL, NULL },
};

/* Runs one PLAIN message as initial response (as_initial) or as a step
 * after the empty challenge, and checks the outcome. */
static void run_plain(const char *name, const char *msg, size_t len, bool as_initial,
		      enum sasl_status expect, const char *authcid, const char *authzid,
		      const char *password)
{
	struct ex e = ex_new(SASL_MECH_PLAIN);
	char *line = b64(msg, len);
	enum sasl_status st;

	if (as_initial) {
		/* An empty message travels as "=" (RFC 4954 4). */
		st = start(&e, len ? line : "=");
	} else {
		assert_int_equal(start(&e, NULL), SASL_CHALLENGE);
		assert_string_equal(e.out, "");
		st = step(&e, line);
	}
	if (st != expect)
		fail_msg("%s (%s): status %d, want %d", name, as_initial ? "initial" : "step", st,
			 expect);
	assert_string_equal(e.out, "");
	if (expect == SASL_CHECK_PASSWORD) {
		assert_string_equal(sasl_authcid(e.s), authcid);
		if (authzid)
			assert_string_equal(sasl_authzid(e.s), authzid);
		else
			assert_null(sasl_authzid(e.s));
		assert_string_equal(sasl_password(e.s), password);
		assert_int_equal(password_result(&e, true), SASL_SUCCESS);
		assert_null(sasl_password(e.s));
		assert_string_equal(sasl_authcid(e.s), authcid);
	} else {
		assert_null(sasl_password(e.s));
		if (sasl_authzid(e.s))
			assert_string_equal(sasl_authzid(e.s), sasl_authcid(e.s));
	}
	free(line);
	ex_free(&e);
}

static void test_plain_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(plain_cases) / sizeof(plain_cases[0]); i++) {
		const struct plain_case *c = &plain_cases[i];

		for (int init = 0; init < 2; init++)
			run_plain(c->name, c->msg, c->len, init, c->expect, c->authcid, c->authzid,
				  c->password);
	}
}

/* Fields of exactly SASL_FIELD_MAX octets pass; one more fails. */
static void test_plain_field_limits(void **state)
{
	char field[SASL_FIELD_MAX + 2];
	char msg[3 * (SASL_FIELD_MAX + 2)];
	size_t n;

	(void)state;
	for (int which = 0; which < 3; which++) {
		for (size_t len = SASL_FIELD_MAX; len <= SASL_FIELD_MAX + 1; len++) {
			bool ok = len == SASL_FIELD_MAX;

			memset(field, 'a', len);
			field[len] = '\0';
			if (which == 0) /* authzid = authcid, both long */
				n = (size_t)snprintf(msg, sizeof(msg), "%s%c%s%cpw", field, 0,
						     field, 0);
			else if (which == 1)
				n = (size_t)snprintf(msg, sizeof(msg), "%c%s%cpw", 0, field, 0);
			else
				n = (size_t)snprintf(msg, sizeof(msg), "%cuser%c%s", 0, 0, field);
			run_plain("field limit", msg, n, false,
				  ok ? SASL_CHECK_PASSWORD : SASL_FAIL_MALFORMED,
				  which == 2 ? "user" : field, which == 0 ? field : NULL,
				  which == 2 ? field : "pw");
		}
	}
}

static void test_plain_password_rejected(void **state)
{
	struct ex e = ex_new(SASL_MECH_PLAIN);

	(void)state;
	assert_int_equal(start(&e, "AHVzZXIAcGVuY2ls"), SASL_CHECK_PASSWORD);
	assert_string_equal(sasl_password(e.s), "pencil");
	assert_int_equal(password_result(&e, false), SASL_FAIL_AUTH);
	assert_null(sasl_password(e.s));
	assert_string_equal(sasl_authcid(e.s), "user");
	ex_free(&e);
}

struct line_case {
	const char *name;
	const char *initial; /* NULL: no initial response, then step */
	const char *line;
	enum sasl_status expect;
};

static const struct line_case plain_line_cases[] = {
	{ "cancel", NULL, "*", SASL_FAIL_CANCELLED },
	{ "star as initial", "*", NULL, SASL_FAIL_BASE64 },
	{ "empty initial", "=", NULL, SASL_FAIL_MALFORMED },
	{ "empty line", NULL, "", SASL_FAIL_MALFORMED },
	{ "equals as step", NULL, "=", SASL_FAIL_BASE64 },
	{ "missing padding", "AHVzZXIAcGVuY2ls0", NULL, SASL_FAIL_BASE64 },
	{ "bad char", NULL, "AHVzZXIAcGVuY2l!", SASL_FAIL_BASE64 },
	{ "space", NULL, "AHVzZXIAcGVuY2ls ", SASL_FAIL_BASE64 },
	{ "CR", NULL, "AHVzZXIAcGVuY2ls\r", SASL_FAIL_BASE64 },
	{ "double star", NULL, "**", SASL_FAIL_BASE64 },
};

static void run_line_cases(enum sasl_mech mech, const struct line_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct line_case *c = &cases[i];
		struct ex e = ex_new(mech);
		enum sasl_status st = start(&e, c->initial);

		if (c->line != NULL) {
			assert_int_equal(st, SASL_CHALLENGE);
			st = step(&e, c->line);
		}
		if (st != c->expect)
			fail_msg("%s: status %d, want %d", c->name, st, c->expect);
		assert_null(sasl_password(e.s));
		/* Terminal: every later call fails the same way. */
		assert_int_equal(step(&e, "AHVzZXIAcGVuY2ls"), SASL_FAIL_MALFORMED);
		assert_int_equal(password_result(&e, true), SASL_FAIL_MALFORMED);
		ex_free(&e);
	}
}

static void test_plain_lines(void **state)
{
	(void)state;
	run_line_cases(SASL_MECH_PLAIN, plain_line_cases,
		       sizeof(plain_line_cases) / sizeof(plain_line_cases[0]));
}

/* Lines are bounded: SASL_LINE_MAX passes the length check, one more
 * byte fails even though it is not looked at. */
static void test_line_limit(void **state)
{
	char *line = xmalloc(SASL_LINE_MAX + 2);
	struct ex e;

	(void)state;
	memset(line, 'A', SASL_LINE_MAX + 1);
	line[SASL_LINE_MAX + 1] = '\0';
	e = ex_new(SASL_MECH_PLAIN);
	assert_int_equal(start(&e, line), SASL_FAIL_MALFORMED);
	ex_free(&e);
	e = ex_new(SASL_MECH_PLAIN);
	assert_int_equal(start(&e, NULL), SASL_CHALLENGE);
	assert_int_equal(step(&e, line), SASL_FAIL_MALFORMED);
	ex_free(&e);
	/* 12288 'A's is valid base64 for 9216 NULs: malformed PLAIN. */
	line[SASL_LINE_MAX] = '\0';
	e = ex_new(SASL_MECH_PLAIN);
	assert_int_equal(start(&e, line), SASL_FAIL_MALFORMED);
	ex_free(&e);
	/* SASL_LINE_MAX + 1 characters in a LOGIN step. */
	line[SASL_LINE_MAX] = 'A';
	e = ex_new(SASL_MECH_LOGIN);
	assert_int_equal(start(&e, NULL), SASL_CHALLENGE);
	assert_int_equal(step(&e, line), SASL_FAIL_MALFORMED);
	ex_free(&e);
	free(line);
}

/* Calls out of order end the exchange and never succeed later. */
static void test_wrong_phase(void **state)
{
	struct ex e;

	(void)state;
	/* Step before start. */
	e = ex_new(SASL_MECH_PLAIN);
	assert_int_equal(step(&e, "AHVzZXIAcGVuY2ls"), SASL_FAIL_MALFORMED);
	assert_int_equal(start(&e, NULL), SASL_FAIL_MALFORMED);
	ex_free(&e);

	/* Step while the password check is pending: the late result cannot
	 * turn the exchange into a success. */
	e = ex_new(SASL_MECH_PLAIN);
	assert_int_equal(start(&e, "AHVzZXIAcGVuY2ls"), SASL_CHECK_PASSWORD);
	assert_int_equal(step(&e, "AHVzZXIAcGVuY2ls"), SASL_FAIL_MALFORMED);
	assert_null(sasl_password(e.s));
	assert_int_equal(password_result(&e, true), SASL_FAIL_MALFORMED);
	ex_free(&e);

	/* Start twice. */
	e = ex_new(SASL_MECH_PLAIN);
	assert_int_equal(start(&e, NULL), SASL_CHALLENGE);
	assert_int_equal(start(&e, NULL), SASL_FAIL_MALFORMED);
	ex_free(&e);

	/* Result without a pending check; creds for a non-SCRAM exchange. */
	e = ex_new(SASL_MECH_PLAIN);
	assert_int_equal(start(&e, NULL), SASL_CHALLENGE);
	assert_int_equal(password_result(&e, true), SASL_FAIL_MALFORMED);
	ex_free(&e);
	e = ex_new(SASL_MECH_PLAIN);
	assert_int_equal(start(&e, NULL), SASL_CHALLENGE);
	assert_int_equal(set_creds(&e, NULL), SASL_FAIL_MALFORMED);
	ex_free(&e);

	/* Anything after success. */
	e = ex_new(SASL_MECH_PLAIN);
	assert_int_equal(start(&e, "AHVzZXIAcGVuY2ls"), SASL_CHECK_PASSWORD);
	assert_int_equal(password_result(&e, true), SASL_SUCCESS);
	assert_int_equal(password_result(&e, true), SASL_FAIL_MALFORMED);
	assert_int_equal(step(&e, ""), SASL_FAIL_MALFORMED);
	ex_free(&e);

	/* Freeing NULL and freeing mid-exchange (ASan checks the wipe). */
	struct sasl_server *none = NULL;
	sasl_server_free(&none);
	e = ex_new(SASL_MECH_LOGIN);
	assert_int_equal(start(&e, "dXNlcg=="), SASL_CHALLENGE);
	ex_free(&e);
}

/* ------------------------------------------------------------------ */
/* LOGIN                                                               */

static void test_login_flow(void **state)
{
	struct ex e;

	(void)state;
	/* Without initial response. */
	e = ex_new(SASL_MECH_LOGIN);
	assert_int_equal(start(&e, NULL), SASL_CHALLENGE);
	assert_string_equal(e.out, "VXNlcm5hbWU6");
	assert_null(sasl_authcid(e.s));
	assert_int_equal(step_msg(&e, "user@example.org"), SASL_CHALLENGE);
	assert_string_equal(e.out, "UGFzc3dvcmQ6");
	assert_string_equal(sasl_authcid(e.s), "user@example.org");
	assert_null(sasl_password(e.s));
	assert_int_equal(step_msg(&e, "pencil"), SASL_CHECK_PASSWORD);
	assert_string_equal(e.out, "");
	assert_string_equal(sasl_password(e.s), "pencil");
	assert_null(sasl_authzid(e.s));
	assert_int_equal(password_result(&e, true), SASL_SUCCESS);
	assert_null(sasl_password(e.s));
	ex_free(&e);

	/* With the user name as initial response. */
	e = ex_new(SASL_MECH_LOGIN);
	assert_int_equal(start(&e, "dXNlcg=="), SASL_CHALLENGE);
	assert_string_equal(e.out, "UGFzc3dvcmQ6");
	assert_string_equal(sasl_authcid(e.s), "user");
	assert_int_equal(step_msg(&e, "p\xc3\xa4ss"), SASL_CHECK_PASSWORD);
	assert_string_equal(sasl_password(e.s), "p\xc3\xa4ss");
	assert_int_equal(password_result(&e, false), SASL_FAIL_AUTH);
	ex_free(&e);
}

static const struct line_case login_line_cases[] = {
	{ "cancel at user", NULL, "*", SASL_FAIL_CANCELLED },
	{ "cancel at password", "dXNlcg==", "*", SASL_FAIL_CANCELLED },
	{ "empty user initial", "=", NULL, SASL_FAIL_MALFORMED },
	{ "empty user", NULL, "", SASL_FAIL_MALFORMED },
	{ "empty password", "dXNlcg==", "", SASL_FAIL_MALFORMED },
	{ "NUL in user", NULL, "dQBy", SASL_FAIL_MALFORMED },
	{ "NUL in password", "dXNlcg==", "cABx", SASL_FAIL_MALFORMED },
	{ "bad UTF-8 password", "dXNlcg==", "/w==", SASL_FAIL_MALFORMED },
	{ "bad base64 user", NULL, "dXNlcg=", SASL_FAIL_BASE64 },
	{ "bad base64 password", "dXNlcg==", "cGVuY2lsCg", SASL_FAIL_BASE64 },
	{ "star as initial", "*", NULL, SASL_FAIL_BASE64 },
};

static void test_login_lines(void **state)
{
	(void)state;
	run_line_cases(SASL_MECH_LOGIN, login_line_cases,
		       sizeof(login_line_cases) / sizeof(login_line_cases[0]));
}

static void test_login_field_limits(void **state)
{
	char field[SASL_FIELD_MAX + 2];

	(void)state;
	for (size_t len = SASL_FIELD_MAX; len <= SASL_FIELD_MAX + 1; len++) {
		struct ex e = ex_new(SASL_MECH_LOGIN);
		enum sasl_status want =
			len == SASL_FIELD_MAX ? SASL_CHALLENGE : SASL_FAIL_MALFORMED;

		memset(field, 'u', len);
		field[len] = '\0';
		assert_int_equal(start(&e, NULL), SASL_CHALLENGE);
		assert_int_equal(step_msg(&e, field), want);
		ex_free(&e);

		e = ex_new(SASL_MECH_LOGIN);
		want = len == SASL_FIELD_MAX ? SASL_CHECK_PASSWORD : SASL_FAIL_MALFORMED;
		assert_int_equal(start(&e, "dXNlcg=="), SASL_CHALLENGE);
		assert_int_equal(step_msg(&e, field), want);
		ex_free(&e);
	}
}

/* ------------------------------------------------------------------ */
/* SCRAM-SHA-256                                                       */

/* RFC 7677 section 3. */
#define RFC_SALT "W22ZaJ0SNY7soEsUEjb6gQ=="
#define RFC_CNONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC_NONCE RFC_CNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_PROOF "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_VERIFIER "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

/* Credentials for "pencil" with the RFC salt, as the users file would
 * hold them. */
static void rfc_creds(const char *password, struct scram_creds *c)
{
	unsigned char salted[32], ck[32];

	memset(c, 0, sizeof(*c));
	c->iterations = 4096;
	assert_int_equal(base64_decode(RFC_SALT, strlen(RFC_SALT), c->salt, sizeof(c->salt),
				       &c->salt_len), 0);
	assert_int_equal(scram_salted_password(password, strlen(password), c->salt, c->salt_len,
					       c->iterations, salted), 0);
	assert_int_equal(scram_client_key(salted, ck), 0);
	assert_int_equal(scram_hash(ck, 32, c->stored_key), 0);
	assert_int_equal(scram_server_key(salted, c->server_key), 0);
}

/* Test client: from a server-first message, computes the client-final
 * message and the ServerSignature it expects. without_proof is
 * "c=<cbind>,r=<nonce from server-first><ext>". */
struct scram_client {
	const char *password;
	const char *bare; /* client-first-message-bare */
	const char *cbind; /* base64 gs2 header for c= */
	const char *nonce_override; /* NULL: echo the server's */
	const char *ext; /* "" or ",x=..." before the proof */
	char final[1024]; /* client-final-message */
	char verifier[64]; /* expected base64 ServerSignature */
	char nonce[512]; /* parsed from server-first */
	char salt_b64[128];
	unsigned iterations;
};

static void parse_server_first(struct scram_client *c, const char *sf)
{
	const char *s_at = strstr(sf, ",s=");
	const char *i_at = strstr(sf, ",i=");

	assert_memory_equal(sf, "r=", 2);
	assert_non_null(s_at);
	assert_non_null(i_at);
	assert_true(s_at < i_at);
	assert_true((size_t)(s_at - sf - 2) < sizeof(c->nonce));
	memcpy(c->nonce, sf + 2, (size_t)(s_at - sf - 2));
	c->nonce[s_at - sf - 2] = '\0';
	assert_true((size_t)(i_at - s_at - 3) < sizeof(c->salt_b64));
	memcpy(c->salt_b64, s_at + 3, (size_t)(i_at - s_at - 3));
	c->salt_b64[i_at - s_at - 3] = '\0';
	c->iterations = (unsigned)strtoul(i_at + 3, NULL, 10);
}

static void client_final(struct scram_client *c, const char *server_first)
{
	unsigned char salt[64], salted[32], ck[32], sk[32], stored[32], sig[32], proof[32];
	char without_proof[600], am[2048], proof_b64[64];
	size_t salt_len;

	parse_server_first(c, server_first);
	assert_int_equal(base64_decode(c->salt_b64, strlen(c->salt_b64), salt, sizeof(salt),
				       &salt_len), 0);
	snprintf(without_proof, sizeof(without_proof), "c=%s,r=%s%s", c->cbind,
		 c->nonce_override ? c->nonce_override : c->nonce, c->ext);
	snprintf(am, sizeof(am), "%s,%s,%s", c->bare, server_first, without_proof);
	assert_int_equal(scram_salted_password(c->password, strlen(c->password), salt, salt_len,
					       c->iterations, salted), 0);
	assert_int_equal(scram_client_key(salted, ck), 0);
	assert_int_equal(scram_hash(ck, 32, stored), 0);
	assert_int_equal(scram_hmac(stored, 32, am, strlen(am), sig), 0);
	for (int i = 0; i < 32; i++)
		proof[i] = ck[i] ^ sig[i];
	assert_int_equal(base64_encode(proof, 32, proof_b64, sizeof(proof_b64)), 44);
	snprintf(c->final, sizeof(c->final), "%s,p=%s", without_proof, proof_b64);
	assert_int_equal(scram_server_key(salted, sk), 0);
	assert_int_equal(scram_hmac(sk, 32, am, strlen(am), sig), 0);
	assert_int_equal(base64_encode(sig, 32, c->verifier, sizeof(c->verifier)), 44);
}

/* The test client reproduces RFC 7677's proof and verifier. */
static void test_scram_client_matches_rfc(void **state)
{
	struct scram_client c = {
		.password = "pencil",
		.bare = "n=user,r=" RFC_CNONCE,
		.cbind = "biws",
		.ext = "",
	};

	(void)state;
	client_final(&c, "r=" RFC_NONCE ",s=" RFC_SALT ",i=4096");
	assert_string_equal(c.final, "c=biws,r=" RFC_NONCE ",p=" RFC_PROOF);
	assert_string_equal(c.verifier, RFC_VERIFIER);
}

/* Runs start + client-first; returns the status. */
static enum sasl_status scram_first(struct ex *e, const char *client_first, bool as_initial)
{
	enum sasl_status st;

	if (as_initial) {
		char *line = b64s(client_first);

		st = start(e, line);
		free(line);
		return st;
	}
	assert_int_equal(start(e, NULL), SASL_CHALLENGE);
	assert_string_equal(e->out, "");
	return step_msg(e, client_first);
}

/* Sets creds, checks and returns the decoded server-first (owned). */
static char *scram_server_first(struct ex *e, const struct scram_creds *creds, const char *cnonce)
{
	char *sf;

	assert_int_equal(set_creds(e, creds), SASL_CHALLENGE);
	assert_true(strlen(e->out) < SASL_CHALLENGE_MAX);
	sf = unb64(e->out);
	assert_memory_equal(sf, "r=", 2);
	assert_memory_equal(sf + 2, cnonce, strlen(cnonce));
	/* 24 characters of base64 server nonce, then ",s=". */
	for (size_t i = 0; i < 24; i++) {
		char ch = sf[2 + strlen(cnonce) + i];

		assert_true(ch != ',' && ch != '=' && ch > 0x20 && ch < 0x7f);
	}
	assert_memory_equal(sf + 2 + strlen(cnonce) + 24, ",s=", 3);
	return sf;
}

/* A full, successful exchange with the RFC user and credentials. */
static void run_scram_ok(const char *client_first, const char *cbind, const char *ext,
			 bool as_initial, const char *want_authzid)
{
	struct scram_creds creds;
	struct scram_client c = {
		.password = "pencil",
		.bare = strstr(client_first, "n=user"),
		.cbind = cbind,
		.ext = ext,
	};
	struct ex e = ex_new(SASL_MECH_SCRAM_SHA_256);
	char *sf;
	char *v;
	char want_v[80];

	rfc_creds("pencil", &creds);
	assert_int_equal(scram_first(&e, client_first, as_initial), SASL_NEED_CREDS);
	assert_string_equal(e.out, "");
	assert_string_equal(sasl_authcid(e.s), "user");
	if (want_authzid)
		assert_string_equal(sasl_authzid(e.s), want_authzid);
	else
		assert_null(sasl_authzid(e.s));
	assert_null(sasl_password(e.s));
	sf = scram_server_first(&e, &creds, RFC_CNONCE);
	assert_non_null(strstr(sf, ",s=" RFC_SALT ",i=4096"));
	client_final(&c, sf);
	assert_int_equal(step_msg(&e, c.final), SASL_CHALLENGE);
	v = unb64(e.out);
	snprintf(want_v, sizeof(want_v), "v=%s", c.verifier);
	assert_string_equal(v, want_v);
	/* The client acknowledges the server-final challenge. */
	assert_int_equal(step(&e, ""), SASL_SUCCESS);
	assert_string_equal(e.out, "");
	assert_string_equal(sasl_authcid(e.s), "user");
	free(v);
	free(sf);
	ex_free(&e);
}

static void test_scram_success(void **state)
{
	(void)state;
	run_scram_ok("n,,n=user,r=" RFC_CNONCE, "biws", "", false, NULL);
	run_scram_ok("n,,n=user,r=" RFC_CNONCE, "biws", "", true, NULL);
	/* "y": client could bind but thinks we cannot. */
	run_scram_ok("y,,n=user,r=" RFC_CNONCE, "eSws", "", false, NULL);
	/* authzid equal to the user. */
	run_scram_ok("n,a=user,n=user,r=" RFC_CNONCE, "bixhPXVzZXIs", "", false, "user");
	/* Extensions are ignored but signed. */
	run_scram_ok("n,,n=user,r=" RFC_CNONCE ",x=1,y=a=b", "biws", ",z=ext", false, NULL);
}

/* Variations of client-final against a real account. */
struct final_case {
	const char *name;
	const char *password;
	const char *cbind;
	const char *nonce_override;
	const char *ext;
	const char *raw_final; /* instead of the computed one */
	enum sasl_status expect;
};

static const struct final_case final_cases[] = {
	{ "wrong password", "pencil2", "biws", NULL, "", NULL, SASL_FAIL_AUTH },
	{ "empty password", "", "biws", NULL, "", NULL, SASL_FAIL_AUTH },
	{ "client nonce only", "pencil", "biws", RFC_CNONCE, "", NULL, SASL_FAIL_AUTH },
	{ "other nonce", "pencil", "biws", RFC_NONCE, "", NULL, SASL_FAIL_AUTH },
	{ "c= says y", "pencil", "eSws", NULL, "", NULL, SASL_FAIL_AUTH },
	{ "c= with authzid", "pencil", "bixhPXVzZXIs", NULL, "", NULL, SASL_FAIL_AUTH },
	{ "c= not base64", "pencil", "biw", NULL, "", NULL, SASL_FAIL_MALFORMED },
	{ "bad extension", "pencil", "biws", NULL, ",1=x", NULL, SASL_FAIL_MALFORMED },
	{ "empty extension", "pencil", "biws", NULL, ",", NULL, SASL_FAIL_MALFORMED },
	{ "no proof", NULL, NULL, NULL, NULL, "c=biws,r=" RFC_CNONCE, SASL_FAIL_MALFORMED },
	{ "proof first", NULL, NULL, NULL, NULL, "p=" RFC_PROOF ",c=biws,r=x",
	  SASL_FAIL_MALFORMED },
	{ "no c=", NULL, NULL, NULL, NULL, "r=x,p=" RFC_PROOF, SASL_FAIL_MALFORMED },
	{ "empty", NULL, NULL, NULL, NULL, "", SASL_FAIL_MALFORMED },
	{ "short proof", NULL, NULL, NULL, NULL, "c=biws,r=x,p=QUFB", SASL_FAIL_MALFORMED },
	{ "proof not base64", NULL, NULL, NULL, NULL, "c=biws,r=x,p=" RFC_PROOF "x",
	  SASL_FAIL_MALFORMED },
	{ "data after proof", NULL, NULL, NULL, NULL, "c=biws,r=x,p=" RFC_PROOF ",x=1",
	  SASL_FAIL_MALFORMED },
	{ "control char in nonce", NULL, NULL, NULL, NULL, "c=biws,r=x\x01,p=" RFC_PROOF,
	  SASL_FAIL_AUTH },
};

static void test_scram_final_cases(void **state)
{
	struct scram_creds creds;

	(void)state;
	rfc_creds("pencil", &creds);
	for (size_t i = 0; i < sizeof(final_cases) / sizeof(final_cases[0]); i++) {
		const struct final_case *fc = &final_cases[i];
		struct scram_client c = {
			.password = fc->password,
			.bare = "n=user,r=" RFC_CNONCE,
			.cbind = fc->cbind,
			.nonce_override = fc->nonce_override,
			.ext = fc->ext,
		};
		struct ex e = ex_new(SASL_MECH_SCRAM_SHA_256);
		char *sf;
		enum sasl_status st;

		assert_int_equal(scram_first(&e, "n,,n=user,r=" RFC_CNONCE, false),
				 SASL_NEED_CREDS);
		sf = scram_server_first(&e, &creds, RFC_CNONCE);
		if (fc->raw_final) {
			st = step_msg(&e, fc->raw_final);
		} else {
			client_final(&c, sf);
			st = step_msg(&e, c.final);
		}
		if (st != fc->expect)
			fail_msg("%s: status %d, want %d", fc->name, st, fc->expect);
		assert_string_equal(e.out, "");
		assert_int_equal(step(&e, ""), SASL_FAIL_MALFORMED);
		free(sf);
		ex_free(&e);
	}
}

/* A NUL byte inside the client-final message. */
static void test_scram_final_nul(void **state)
{
	static const char msg[] = "c=biws,r=x\0,p=" RFC_PROOF;
	struct scram_creds creds;
	struct ex e = ex_new(SASL_MECH_SCRAM_SHA_256);
	char *sf;

	(void)state;
	rfc_creds("pencil", &creds);
	assert_int_equal(scram_first(&e, "n,,n=user,r=abc", false), SASL_NEED_CREDS);
	sf = scram_server_first(&e, &creds, "abc");
	assert_int_equal(step_raw(&e, msg, sizeof(msg) - 1), SASL_FAIL_MALFORMED);
	free(sf);
	ex_free(&e);
}

struct first_case {
	const char *name;
	const char *msg;
	enum sasl_status expect;
	const char *authcid; /* for SASL_NEED_CREDS */
};

static const struct first_case first_cases[] = {
	{ "plain", "n,,n=user,r=abc", SASL_NEED_CREDS, "user" },
	{ "escapes", "n,,n=us=2Cer=3D,r=abc", SASL_NEED_CREDS, "us,er=" },
	{ "UTF-8 name", "n,,n=j\xc3\xb6rg,r=abc", SASL_NEED_CREDS, "j\xc3\xb6rg" },
	{ "authzid other case", "n,a=USER,n=user,r=abc", SASL_NEED_CREDS, "user" },
	{ "extension", "n,,n=user,r=abc,x=1", SASL_NEED_CREDS, "user" },
	{ "channel binding", "p=tls-unique,,n=user,r=abc", SASL_FAIL_MALFORMED, NULL },
	{ "channel binding exporter", "p=tls-exporter,,n=user,r=abc", SASL_FAIL_MALFORMED, NULL },
	{ "proxy authzid", "n,a=admin,n=user,r=abc", SASL_FAIL_AUTH, NULL },
	{ "mandatory ext", "n,,m=x,n=user,r=abc", SASL_FAIL_MALFORMED, NULL },
	{ "no gs2 header", "n=user,r=abc", SASL_FAIL_MALFORMED, NULL },
	{ "bad flag", "x,,n=user,r=abc", SASL_FAIL_MALFORMED, NULL },
	{ "one comma", "n,n=user,r=abc", SASL_FAIL_MALFORMED, NULL },
	{ "empty authzid", "n,a=,n=user,r=abc", SASL_FAIL_MALFORMED, NULL },
	{ "lowercase escape", "n,,n=us=2cer,r=abc", SASL_FAIL_MALFORMED, NULL },
	{ "bad escape", "n,,n=us=41er,r=abc", SASL_FAIL_MALFORMED, NULL },
	{ "trailing equals", "n,,n=user=,r=abc", SASL_FAIL_MALFORMED, NULL },
	{ "empty user", "n,,n=,r=abc", SASL_FAIL_MALFORMED, NULL },
	{ "no nonce", "n,,n=user", SASL_FAIL_MALFORMED, NULL },
	{ "empty nonce", "n,,n=user,r=", SASL_FAIL_MALFORMED, NULL },
	{ "nonce with space", "n,,n=user,r=a c", SASL_FAIL_MALFORMED, NULL },
	{ "nonce with DEL", "n,,n=user,r=a\x7f", SASL_FAIL_MALFORMED, NULL },
	{ "nonce first", "n,,r=abc,n=user", SASL_FAIL_MALFORMED, NULL },
	{ "trailing comma", "n,,n=user,r=abc,", SASL_FAIL_MALFORMED, NULL },
	{ "bad extension", "n,,n=user,r=abc,1=x", SASL_FAIL_MALFORMED, NULL },
	{ "extension without value", "n,,n=user,r=abc,x=", SASL_FAIL_MALFORMED, NULL },
	{ "bad UTF-8", "n,,n=us\xffr,r=abc", SASL_FAIL_MALFORMED, NULL },
	{ "empty", "", SASL_FAIL_MALFORMED, NULL },
};

static void test_scram_first_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(first_cases) / sizeof(first_cases[0]); i++) {
		const struct first_case *fc = &first_cases[i];

		for (int init = 0; init < 2; init++) {
			struct ex e = ex_new(SASL_MECH_SCRAM_SHA_256);
			enum sasl_status st;

			if (init && fc->msg[0] == '\0')
				st = start(&e, "=");
			else
				st = scram_first(&e, fc->msg, init);
			if (st != fc->expect)
				fail_msg("%s: status %d, want %d", fc->name, st,
					 fc->expect);
			assert_string_equal(e.out, "");
			if (fc->authcid)
				assert_string_equal(sasl_authcid(e.s), fc->authcid);
			if (sasl_authzid(e.s))
				assert_true(strcasecmp(sasl_authzid(e.s),
						       sasl_authcid(e.s)) == 0);
			ex_free(&e);
		}
	}
}

/* Username of SASL_FIELD_MAX octets passes, one more fails; escapes
 * count once decoded. */
static void test_scram_name_limit(void **state)
{
	char name[(SASL_FIELD_MAX + 1) * 3 + 1];
	char msg[sizeof(name) + 32];

	(void)state;
	for (size_t len = SASL_FIELD_MAX; len <= SASL_FIELD_MAX + 1; len++) {
		for (int esc = 0; esc < 2; esc++) {
			struct ex e = ex_new(SASL_MECH_SCRAM_SHA_256);
			size_t o = 0;

			for (size_t i = 0; i < len; i++) {
				if (esc) {
					memcpy(name + o, "=2C", 3);
					o += 3;
				} else {
					name[o++] = 'u';
				}
			}
			name[o] = '\0';
			snprintf(msg, sizeof(msg), "n,,n=%s,r=abc", name);
			assert_int_equal(scram_first(&e, msg, false),
					 len == SASL_FIELD_MAX ? SASL_NEED_CREDS
							       : SASL_FAIL_MALFORMED);
			ex_free(&e);
		}
	}
}

/* Unknown user: same shape of server-first, a salt stable per name (case
 * ignored) and different between names, failure only at the proof. */
static char *unknown_user_salt(const char *name, const char *password,
			       enum sasl_status *final_st)
{
	char msg[128];
	struct ex e = ex_new(SASL_MECH_SCRAM_SHA_256);
	struct scram_client c = {
		.password = password,
		.cbind = "biws",
		.ext = "",
	};
	char *sf;
	char *salt;

	snprintf(msg, sizeof(msg), "n,,n=%s,r=abc", name);
	c.bare = msg + 3;
	assert_int_equal(scram_first(&e, msg, false), SASL_NEED_CREDS);
	sf = scram_server_first(&e, NULL, "abc");
	client_final(&c, sf);
	assert_int_equal(c.iterations, SCRAM_DEFAULT_ITERATIONS);
	salt = xstrdup(c.salt_b64);
	*final_st = step_msg(&e, c.final);
	assert_string_equal(e.out, "");
	assert_string_equal(sasl_authcid(e.s), name);
	free(sf);
	ex_free(&e);
	return salt;
}

static void test_scram_unknown_user(void **state)
{
	enum sasl_status st;
	char *a, *b, *c, *d;
	unsigned char raw[64];
	size_t n;

	(void)state;
	a = unknown_user_salt("nobody@example.org", "pencil", &st);
	assert_int_equal(st, SASL_FAIL_AUTH);
	b = unknown_user_salt("nobody@example.org", "", &st);
	assert_int_equal(st, SASL_FAIL_AUTH);
	c = unknown_user_salt("NoBody@Example.ORG", "x", &st);
	assert_int_equal(st, SASL_FAIL_AUTH);
	d = unknown_user_salt("somebody@example.org", "pencil", &st);
	assert_int_equal(st, SASL_FAIL_AUTH);
	assert_string_equal(a, b);
	assert_string_equal(a, c);
	assert_string_not_equal(a, d);
	/* Same length as a real fresh salt. */
	assert_int_equal(base64_decode(a, strlen(a), raw, sizeof(raw), &n), 0);
	assert_int_equal(n, SCRAM_SALT_LEN);
	free(a);
	free(b);
	free(c);
	free(d);
}

/* Server nonces differ between exchanges. */
static void test_scram_nonce_fresh(void **state)
{
	struct scram_creds creds;
	struct ex e1 = ex_new(SASL_MECH_SCRAM_SHA_256);
	struct ex e2 = ex_new(SASL_MECH_SCRAM_SHA_256);
	char *sf1, *sf2;

	(void)state;
	rfc_creds("pencil", &creds);
	assert_int_equal(scram_first(&e1, "n,,n=user,r=abc", false), SASL_NEED_CREDS);
	assert_int_equal(scram_first(&e2, "n,,n=user,r=abc", false), SASL_NEED_CREDS);
	sf1 = scram_server_first(&e1, &creds, "abc");
	sf2 = scram_server_first(&e2, &creds, "abc");
	assert_string_not_equal(sf1, sf2);
	free(sf1);
	free(sf2);
	ex_free(&e1);
	ex_free(&e2);
}

/* After v=, only an empty response succeeds. */
static void test_scram_ack(void **state)
{
	static const struct {
		const char *line;
		enum sasl_status expect;
	} acks[] = {
		{ "", SASL_SUCCESS },
		{ "*", SASL_FAIL_CANCELLED },
		{ "=", SASL_FAIL_BASE64 },
		{ "AA==", SASL_FAIL_MALFORMED },
	};
	struct scram_creds creds;

	(void)state;
	rfc_creds("pencil", &creds);
	for (size_t i = 0; i < sizeof(acks) / sizeof(acks[0]); i++) {
		struct scram_client c = {
			.password = "pencil",
			.bare = "n=user,r=abc",
			.cbind = "biws",
			.ext = "",
		};
		struct ex e = ex_new(SASL_MECH_SCRAM_SHA_256);
		char *sf;

		assert_int_equal(scram_first(&e, "n,,n=user,r=abc", true), SASL_NEED_CREDS);
		sf = scram_server_first(&e, &creds, "abc");
		client_final(&c, sf);
		assert_int_equal(step_msg(&e, c.final), SASL_CHALLENGE);
		assert_int_equal(step(&e, acks[i].line), acks[i].expect);
		assert_string_equal(e.out, "");
		free(sf);
		ex_free(&e);
	}
}

/* Cancel and bad base64 at each SCRAM step; step while creds pending. */
static void test_scram_lines(void **state)
{
	struct scram_creds creds;
	struct ex e;
	char *sf;

	(void)state;
	rfc_creds("pencil", &creds);
	e = ex_new(SASL_MECH_SCRAM_SHA_256);
	assert_int_equal(start(&e, NULL), SASL_CHALLENGE);
	assert_int_equal(step(&e, "*"), SASL_FAIL_CANCELLED);
	ex_free(&e);

	e = ex_new(SASL_MECH_SCRAM_SHA_256);
	assert_int_equal(start(&e, "biws"), SASL_FAIL_MALFORMED);
	ex_free(&e);

	e = ex_new(SASL_MECH_SCRAM_SHA_256);
	assert_int_equal(start(&e, "n,,n=user,r=abc"), SASL_FAIL_BASE64);
	ex_free(&e);

	e = ex_new(SASL_MECH_SCRAM_SHA_256);
	assert_int_equal(scram_first(&e, "n,,n=user,r=abc", false), SASL_NEED_CREDS);
	assert_int_equal(step(&e, "*"), SASL_FAIL_MALFORMED);
	assert_int_equal(set_creds(&e, &creds), SASL_FAIL_MALFORMED);
	ex_free(&e);

	e = ex_new(SASL_MECH_SCRAM_SHA_256);
	assert_int_equal(scram_first(&e, "n,,n=user,r=abc", false), SASL_NEED_CREDS);
	sf = scram_server_first(&e, &creds, "abc");
	assert_int_equal(step(&e, "*"), SASL_FAIL_CANCELLED);
	free(sf);
	ex_free(&e);

	e = ex_new(SASL_MECH_SCRAM_SHA_256);
	assert_int_equal(scram_first(&e, "n,,n=user,r=abc", false), SASL_NEED_CREDS);
	sf = scram_server_first(&e, &creds, "abc");
	assert_int_equal(step(&e, "Yz1iaXdz!"), SASL_FAIL_BASE64);
	free(sf);
	ex_free(&e);
}

/* The largest client-first (a SASL_LINE_MAX line) with the largest salt
 * and iteration count: the server-first still fits SASL_CHALLENGE_MAX. */
static void test_scram_largest_challenge(void **state)
{
	size_t msg_len = SASL_LINE_MAX / 4 * 3;
	char *msg = xmalloc(msg_len + 1);
	char *line;
	struct scram_creds creds;
	struct ex e = ex_new(SASL_MECH_SCRAM_SHA_256);
	char *sf;

	(void)state;
	memcpy(msg, "n,,n=user,r=", 12);
	memset(msg + 12, 'x', msg_len - 12);
	msg[msg_len] = '\0';
	line = b64s(msg);
	assert_int_equal(strlen(line), SASL_LINE_MAX);
	memset(&creds, 0x11, sizeof(creds));
	creds.iterations = SCRAM_ITERATIONS_MAX;
	creds.salt_len = SCRAM_SALT_MAX;
	assert_int_equal(start(&e, line), SASL_NEED_CREDS);
	sf = scram_server_first(&e, &creds, msg + 12);
	assert_true(strlen(e.out) + 1 <= SASL_CHALLENGE_MAX);
	assert_non_null(strstr(sf, ",i=10000000"));
	free(sf);
	free(line);
	free(msg);
	ex_free(&e);
}

/* make_credentials -> parse -> a real login. */
static void test_scram_with_stored_creds(void **state)
{
	char text[SCRAM_CREDS_TEXT_MAX];
	char extra[SCRAM_CREDS_TEXT_MAX + 32];
	struct scram_creds creds;
	struct scram_client c = {
		.password = "s3cret!",
		.bare = "n=bob@example.org,r=Zz9",
		.cbind = "biws",
		.ext = "",
	};
	struct ex e = ex_new(SASL_MECH_SCRAM_SHA_256);
	char *sf;

	(void)state;
	assert_int_equal(scram_make_credentials("s3cret!", 0, text, sizeof(text)), 0);
	snprintf(extra, sizeof(extra), "quota=1:%s", text);
	assert_int_equal(scram_parse_credentials(extra, &creds), 0);
	assert_int_equal(scram_first(&e, "n,,n=bob@example.org,r=Zz9", true), SASL_NEED_CREDS);
	sf = scram_server_first(&e, &creds, "Zz9");
	client_final(&c, sf);
	assert_int_equal(step_msg(&e, c.final), SASL_CHALLENGE);
	assert_int_equal(step(&e, ""), SASL_SUCCESS);
	free(sf);
	ex_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mech_names),
		cmocka_unit_test(test_plain_table),
		cmocka_unit_test(test_plain_field_limits),
		cmocka_unit_test(test_plain_password_rejected),
		cmocka_unit_test(test_plain_lines),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_wrong_phase),
		cmocka_unit_test(test_login_flow),
		cmocka_unit_test(test_login_lines),
		cmocka_unit_test(test_login_field_limits),
		cmocka_unit_test(test_scram_client_matches_rfc),
		cmocka_unit_test(test_scram_success),
		cmocka_unit_test(test_scram_final_cases),
		cmocka_unit_test(test_scram_final_nul),
		cmocka_unit_test(test_scram_first_cases),
		cmocka_unit_test(test_scram_name_limit),
		cmocka_unit_test(test_scram_unknown_user),
		cmocka_unit_test(test_scram_nonce_fresh),
		cmocka_unit_test(test_scram_ack),
		cmocka_unit_test(test_scram_lines),
		cmocka_unit_test(test_scram_largest_challenge),
		cmocka_unit_test(test_scram_with_stored_creds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
