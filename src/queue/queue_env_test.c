/* queue_env_test: unit tests for the envelope codec. Round trips of nasty
 * values (every byte but NUL, values at their maxima, every enum and
 * NOTIFY combination), the canonical-form property (decode then encode
 * gives the same bytes), a table of corruptions each refused with its own
 * reason (the test re-seals the damaged text with a fresh SHA-256 so the
 * parser, not the checksum, must catch it), every truncation and every
 * single-bit flip of a valid file, and the encoder's refusals. */
#include "queue/queue_env.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "core/alloc.h"

#define TEST_ID "0123456789BCDFGH"

/* ---- helpers ---- */

static void env_basic(struct queue_env *env)
{
	struct queue_rcpt *r;

	queue_env_init(env);
	memcpy(env->id, TEST_ID, ID_LEN + 1);
	env->sender = xstrdup("alice@example.org");
	env->created = 1700000000;
	env->size = 1234;
	env->skip = 40;
	r = queue_env_add_rcpt(env, "bob@example.net");
	assert_non_null(r);
	r->next_try = 1700000000;
}

/* Every byte 1..255 in one string. */
static char *all_bytes(void)
{
	char *s = xmalloc(256);

	for (int i = 1; i < 256; i++)
		s[i - 1] = (char)i;
	s[255] = '\0';
	return s;
}

static char *repeat(char c, size_t n)
{
	char *s = xmalloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void assert_str_eq_or_null(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_env_equal(const struct queue_env *a, const struct queue_env *b)
{
	assert_string_equal(a->id, b->id);
	assert_string_equal(a->sender, b->sender);
	assert_str_eq_or_null(a->envid, b->envid);
	assert_int_equal(a->ret, b->ret);
	assert_int_equal(a->body, b->body);
	assert_int_equal(a->smtputf8, b->smtputf8);
	assert_int_equal(a->requiretls, b->requiretls);
	assert_int_equal(a->created, b->created);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->skip, b->skip);
	assert_int_equal(a->is_bounce, b->is_bounce);
	assert_int_equal(a->bounce_depth, b->bounce_depth);
	assert_int_equal(a->rcpt_count, b->rcpt_count);
	for (size_t i = 0; i < a->rcpt_count; i++) {
		const struct queue_rcpt *x = &a->rcpts[i], *y = &b->rcpts[i];

		assert_string_equal(x->addr, y->addr);
		assert_str_eq_or_null(x->orcpt, y->orcpt);
		assert_int_equal(x->notify, y->notify);
		assert_int_equal(x->state, y->state);
		assert_int_equal(x->attempts, y->attempts);
		assert_int_equal(x->next_try, y->next_try);
		assert_str_eq_or_null(x->last_reply, y->last_reply);
		assert_str_eq_or_null(x->remote_mta, y->remote_mta);
		assert_int_equal(x->delay_notified, y->delay_notified);
		assert_int_equal(x->dsn_sent, y->dsn_sent);
	}
}

/* Encodes env, decodes the result, compares, and checks that the decoded
 * envelope encodes to the very same bytes. */
static void round_trip(const struct queue_env *env)
{
	struct queue_env back;
	const char *err = NULL;
	char *buf = NULL, *buf2 = NULL;
	size_t len = 0, len2 = 0;

	assert_int_equal(queue_env_encode(env, &buf, &len, &err), 0);
	assert_non_null(buf);
	assert_int_equal(strlen(buf), len);
	/* The file is printable ASCII, LF-terminated lines. */
	for (size_t i = 0; i < len; i++)
		assert_true(buf[i] == '\n' || (buf[i] >= 0x20 && buf[i] < 0x7f));
	assert_int_equal(queue_env_decode(buf, len, &back, &err), 0);
	assert_env_equal(env, &back);
	assert_int_equal(queue_env_encode(&back, &buf2, &len2, &err), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, buf2, len);
	queue_env_fini(&back);
	free(buf);
	free(buf2);
}

/* Text + a fresh "sha256 HEX" line: what the encoder would append. */
static char *seal(const char *body, size_t *len_out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int md_len = 0;
	size_t n = strlen(body);
	char *out = xmalloc(n + 7 + 64 + 2);

	assert_int_equal(EVP_Digest(body, n, md, &md_len, EVP_sha256(), NULL), 1);
	assert_int_equal(md_len, 32);
	memcpy(out, body, n);
	memcpy(out + n, "sha256 ", 7);
	for (int i = 0; i < 32; i++) {
		out[n + 7 + 2 * i] = hex[md[i] >> 4];
		out[n + 7 + 2 * i + 1] = hex[md[i] & 15];
	}
	out[n + 71] = '\n';
	out[n + 72] = '\0';
	*len_out = n + 72;
	return out;
}

/* The encoding of env without its checksum line. */
static char *body_of(const struct queue_env *env)
{
	char *buf = NULL;
	size_t len = 0;

	assert_int_equal(queue_env_encode(env, &buf, &len, NULL), 0);
	assert_true(len > 72);
	buf[len - 72] = '\0';
	return buf;
}

/* ---- round trips ---- */

static void test_round_trip_basic(void **state)
{
	struct queue_env env;

	(void)state;
	env_basic(&env);
	round_trip(&env);
	queue_env_fini(&env);
	queue_env_fini(&env); /* twice is fine */
}

static void test_round_trip_file_text(void **state)
{
	static const char want[] = "konvert-queue 1\n"
				   "id " TEST_ID "\n"
				   "sender alice@example.org\n"
				   "ret unset\n"
				   "body 7bit\n"
				   "smtputf8 0\n"
				   "created 1700000000\n"
				   "size 1234\n"
				   "skip 40\n"
				   "bounce 0\n"
				   "bounce-depth 0\n"
				   "rcpts 1\n"
				   "rcpt bob@example.net\n"
				   "notify -\n"
				   "state pending\n"
				   "attempts 0\n"
				   "next-try 1700000000\n"
				   "delay-notified 0\n"
				   "dsn-sent 0\n";
	struct queue_env env;
	char *body;

	(void)state;
	env_basic(&env);
	body = body_of(&env);
	assert_string_equal(body, want);
	free(body);
	queue_env_fini(&env);
}

struct nasty {
	const char *name;
	const char *sender;
	const char *addr;
	const char *orcpt;
	const char *envid;
	const char *reply;
	const char *mta;
};

static const struct nasty nasty_cases[] = {
	{ .name = "null sender", .sender = "", .addr = "a@b" },
	{ .name = "crlf", .sender = "x\r\ny@z", .addr = "a\r\n.\r\n@b",
	  .reply = "550 5.1.1 <x@y>:\r\n user unknown\n" },
	{ .name = "percent", .sender = "%41%", .addr = "%%@%", .orcpt = "rfc822;a+2Bb%",
	  .envid = "%00" },
	{ .name = "utf8", .sender = "j\xc3\xb6rg@b\xc3\xbc\x63her.example",
	  .addr = "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\x85\xac\xe5\x8f\xb8",
	  .mta = "mx.\xe4\xbe\x8b\xe5\xad\x90" },
	{ .name = "quotes and spaces", .sender = "\"a b\"@c", .addr = " \" ' \\ @ ",
	  .reply = "  leading and trailing  ", .mta = "[192.0.2.1]" },
	{ .name = "controls", .sender = "\x01\x7f\x1b[0m", .addr = "\t\v\f\b@x",
	  .envid = "", .orcpt = "", .reply = "", .mta = "" },
	{ .name = "invalid utf8", .sender = "\xff\xfe", .addr = "\xc3@\x80" },
	{ .name = "keys as values", .sender = "sha256 0000", .addr = "rcpt x\nstate failed",
	  .reply = "\nsha256 abc\n" },
};

static void test_round_trip_nasty(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(nasty_cases) / sizeof(nasty_cases[0]); i++) {
		const struct nasty *c = &nasty_cases[i];
		struct queue_env env;
		struct queue_rcpt *r;

		print_message("case: %s\n", c->name);
		env_basic(&env);
		free(env.sender);
		env.sender = xstrdup(c->sender);
		env.envid = c->envid != NULL ? xstrdup(c->envid) : NULL;
		r = queue_env_add_rcpt(&env, c->addr);
		r->orcpt = c->orcpt != NULL ? xstrdup(c->orcpt) : NULL;
		r->last_reply = c->reply != NULL ? xstrdup(c->reply) : NULL;
		r->remote_mta = c->mta != NULL ? xstrdup(c->mta) : NULL;
		round_trip(&env);
		queue_env_fini(&env);
	}
}

static void test_round_trip_every_byte(void **state)
{
	struct queue_env env;
	struct queue_rcpt *r;

	(void)state;
	env_basic(&env);
	free(env.sender);
	env.sender = all_bytes();
	env.envid = all_bytes();
	r = queue_env_add_rcpt(&env, "x");
	free(r->addr);
	r->addr = all_bytes();
	r->orcpt = all_bytes();
	r->last_reply = all_bytes();
	r->remote_mta = all_bytes();
	round_trip(&env);
	queue_env_fini(&env);
}

static void test_round_trip_maxima(void **state)
{
	struct queue_env env;
	struct queue_rcpt *r;

	(void)state;
	/* Longest values, plain and fully escaped (three bytes each). */
	for (int esc = 0; esc < 2; esc++) {
		char c = esc ? '\n' : 'a';

		env_basic(&env);
		free(env.sender);
		env.sender = repeat(c, QUEUE_ADDR_MAX);
		env.envid = repeat(c, QUEUE_ENVID_MAX);
		r = &env.rcpts[0];
		free(r->addr);
		r->addr = repeat(c, QUEUE_ADDR_MAX);
		r->orcpt = repeat(c, QUEUE_ORCPT_MAX);
		r->last_reply = repeat(c, QUEUE_REPLY_MAX);
		r->remote_mta = repeat(c, QUEUE_MTA_MAX);
		r->attempts = QUEUE_ATTEMPTS_MAX;
		r->next_try = INT64_MAX;
		env.created = INT64_MAX;
		env.size = UINT64_MAX;
		env.skip = UINT64_MAX;
		env.bounce_depth = QUEUE_BOUNCE_DEPTH_MAX;
		round_trip(&env);
		queue_env_fini(&env);
	}
}

static void test_round_trip_enums(void **state)
{
	static const unsigned notifies[] = {
		0,
		QUEUE_NOTIFY_SUCCESS,
		QUEUE_NOTIFY_FAILURE,
		QUEUE_NOTIFY_DELAY,
		QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE,
		QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_DELAY,
		QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY,
		QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY,
		QUEUE_NOTIFY_NEVER,
	};
	struct queue_env env;

	(void)state;
	env_basic(&env);
	env.ret = QUEUE_RET_HDRS;
	env.body = QUEUE_BODY_BINARYMIME;
	env.smtputf8 = true;
	env.requiretls = true;
	env.is_bounce = true;
	env.bounce_depth = 2;
	for (size_t i = 0; i < sizeof(notifies) / sizeof(notifies[0]); i++) {
		struct queue_rcpt *r = queue_env_add_rcpt(&env, "r@x");

		r->notify = notifies[i];
		r->state = (enum queue_rcpt_state)(i % 4);
		r->attempts = (unsigned)i * 7;
		r->next_try = (int64_t)i * 1000003;
		r->delay_notified = i % 2 == 0;
		r->dsn_sent = i % 3 == 0;
	}
	round_trip(&env);
	env.ret = QUEUE_RET_FULL;
	env.body = QUEUE_BODY_8BITMIME;
	round_trip(&env);
	queue_env_fini(&env);
}

static void test_round_trip_many_rcpts(void **state)
{
	struct queue_env env;
	char addr[64];

	(void)state;
	env_basic(&env);
	for (int i = 0; i < 5000; i++) {
		(void)snprintf(addr, sizeof(addr), "user%d@example.com", i);
		assert_non_null(queue_env_add_rcpt(&env, addr));
	}
	round_trip(&env);
	queue_env_fini(&env);
}

/* ---- corruption table ---- */

struct corrupt_case {
	const char *name;
	const char *find; /* replaced once in the canonical body... */
	const char *repl; /* ...by this; the result is re-sealed */
	const char *err;
};

static const struct corrupt_case corrupt_cases[] = {
	{ "unknown key", "smtputf8 0\n", "smtputf8 0\nfoo 1\n", "unknown key" },
	{ "unknown key in rcpt", "dsn-sent 0\n", "dsn-sent 0\nxyz 0\n", "unknown key" },
	{ "unknown key replaces field", "ret unset\n", "rett unset\n", "unknown key" },
	{ "missing id", "id " TEST_ID "\n", "", "field missing or out of order" },
	{ "missing sender", "sender alice@example.org\n", "", "field missing or out of order" },
	{ "missing state", "state pending\n", "", "field missing or out of order" },
	{ "missing last field", "dsn-sent 0\n", "", "missing field" },
	{ "duplicate field", "size 1234\n", "size 1234\nsize 1234\n",
	  "field missing or out of order" },
	{ "out of order", "size 1234\nskip 40\n", "skip 40\nsize 1234\n",
	  "field missing or out of order" },
	{ "version 2", "konvert-queue 1\n", "konvert-queue 2\n", "unsupported version" },
	{ "not a queue file", "konvert-queue 1\n", "hello world\n", "not a queue file" },
	{ "empty body", NULL, NULL, "not a queue file" },
	{ "bad id lower case", "id " TEST_ID, "id 0123456789bcdfgh", "bad id" },
	{ "bad id short", "id " TEST_ID, "id 0123", "bad id" },
	{ "bad id long", "id " TEST_ID, "id " TEST_ID "X", "field too long" },
	{ "bad id escape", "id " TEST_ID, "id 0123456789BCDF%20", "bad id" },
	{ "number leading zero", "size 1234\n", "size 01234\n", "bad number" },
	{ "number plus", "size 1234\n", "size +1234\n", "bad number" },
	{ "number minus", "created 1700000000\n", "created -1\n", "bad number" },
	{ "number empty", "size 1234\n", "size \n", "bad number" },
	{ "number hex", "size 1234\n", "size 0x10\n", "bad number" },
	{ "number overflow", "size 1234\n", "size 18446744073709551616\n", "bad number" },
	{ "created over int64", "created 1700000000\n", "created 9223372036854775808\n",
	  "number out of range" },
	{ "attempts too many", "attempts 0\n", "attempts 1000001\n", "number out of range" },
	{ "bounce depth", "bounce-depth 0\n", "bounce-depth 101\n", "number out of range" },
	{ "skip over size", "skip 40\n", "skip 1235\n", "skip larger than size" },
	{ "bad state", "state pending\n", "state sent\n", "bad state" },
	{ "bad state case", "state pending\n", "state PENDING\n", "bad state" },
	{ "bad ret", "ret unset\n", "ret all\n", "bad ret" },
	{ "bad body", "body 7bit\n", "body 8bit\n", "bad body" },
	{ "bad boolean", "smtputf8 0\n", "smtputf8 yes\n", "bad boolean" },
	{ "bad boolean 2", "dsn-sent 0\n", "dsn-sent 2\n", "bad boolean" },
	{ "notify empty", "notify -\n", "notify \n", "bad notify" },
	{ "notify unknown", "notify -\n", "notify sometimes\n", "bad notify" },
	{ "notify order", "notify -\n", "notify delay,failure\n", "bad notify" },
	{ "notify repeat", "notify -\n", "notify success,success\n", "bad notify" },
	{ "notify trailing comma", "notify -\n", "notify success,\n", "bad notify" },
	{ "notify leading comma", "notify -\n", "notify ,success\n", "bad notify" },
	{ "notify never and more", "notify -\n", "notify success,never\n", "bad notify" },
	{ "notify upper case", "notify -\n", "notify SUCCESS\n", "bad notify" },
	{ "rcpts zero", "rcpts 1\n", "rcpts 0\n", "no recipients" },
	{ "rcpts more than present", "rcpts 1\n", "rcpts 2\n", "missing field" },
	{ "too many recipients", "rcpts 1\n", "rcpts 100001\n", "too many recipients" },
	{ "too many recipients huge", "rcpts 1\n", "rcpts 99999999999999999999\n",
	  "bad number" },
	{ "empty rcpt", "rcpt bob@example.net\n", "rcpt \n", "empty recipient address" },
	{ "NUL escaped", "sender alice", "sender al%00ice", "NUL in value" },
	{ "lower case escape", "sender alice", "sender al%0aice", "bad escape" },
	{ "short escape", "sender alice@example.org\n", "sender alice@example.org%4\n",
	  "bad escape" },
	{ "needless escape", "sender alice", "sender %41lice", "needless escape" },
	{ "escaped percent ok", "sender alice", "sender %25lice", NULL },
	{ "raw space in value", "sender alice", "sender al ice", "bad byte in value" },
	{ "raw tab in value", "sender alice", "sender al\tice", "bad byte in value" },
	{ "raw 8-bit in value", "sender alice", "sender al\xc3\xa9ice", "bad byte in value" },
	{ "CRLF line end", "size 1234\n", "size 1234\r\n", "bad byte in value" },
	{ "no space", "smtputf8 0\n", "smtputf8\n", "malformed line" },
	{ "empty line", "smtputf8 0\n", "smtputf8 0\n\n", "malformed line" },
	{ "upper case key", "smtputf8 0\n", "SMTPUTF8 0\n", "malformed key" },
	{ "key with space", "smtputf8 0\n", " smtputf8 0\n", "malformed line" },
	{ "extra rcpt block", "dsn-sent 0\n", "dsn-sent 0\nrcpt x@y\n",
	  "more recipients than declared" },
	{ "trailing known key", "dsn-sent 0\n", "dsn-sent 0\nsize 1\n",
	  "field missing or out of order" },
	{ "header key in rcpt", "attempts 0\n", "sender x\nattempts 0\n",
	  "field missing or out of order" },
	{ "sha256 inside body", "smtputf8 0\n", "smtputf8 0\nsha256 00\n",
	  "field missing or out of order" },
};

static char *replace_once(const char *s, const char *find, const char *repl)
{
	const char *at = strstr(s, find);
	size_t fl = strlen(find), rl = strlen(repl), n = strlen(s);
	char *out;

	assert_non_null(at);
	out = xmalloc(n - fl + rl + 1);
	memcpy(out, s, (size_t)(at - s));
	memcpy(out + (at - s), repl, rl);
	memcpy(out + (at - s) + rl, at + fl, n - (size_t)(at - s) - fl + 1);
	return out;
}

static void test_corrupt_table(void **state)
{
	struct queue_env env;
	char *body;

	(void)state;
	env_basic(&env);
	body = body_of(&env);
	queue_env_fini(&env);
	for (size_t i = 0; i < sizeof(corrupt_cases) / sizeof(corrupt_cases[0]); i++) {
		const struct corrupt_case *c = &corrupt_cases[i];
		char *text = c->find != NULL ? replace_once(body, c->find, c->repl) : xstrdup("");
		const char *err = NULL;
		size_t len;
		char *file = seal(text, &len);
		int rc;

		print_message("case: %s\n", c->name);
		memset(&env, 0x5a, sizeof(env)); /* decode must not read it */
		rc = queue_env_decode(file, len, &env, &err);
		if (c->err == NULL) {
			assert_int_equal(rc, 0);
			queue_env_fini(&env);
		} else {
			assert_int_equal(rc, -1);
			assert_non_null(err);
			assert_string_equal(err, c->err);
			/* Zeroed on failure: fini is harmless. */
			assert_null(env.sender);
			assert_null(env.rcpts);
			assert_int_equal(env.rcpt_count, 0);
		}
		free(file);
		free(text);
	}
	free(body);
}

/* Fields longer than their maxima are refused by the decoder even when
 * sealed correctly. */
static void test_corrupt_too_long(void **state)
{
	static const struct {
		const char *key;
		size_t max;
		const char *after; /* the line the field follows */
	} fields[] = {
		{ "sender", QUEUE_ADDR_MAX, NULL },
		{ "envid", QUEUE_ENVID_MAX, "sender alice@example.org\n" },
		{ "orcpt", QUEUE_ORCPT_MAX, "rcpt bob@example.net\n" },
		{ "reply", QUEUE_REPLY_MAX, "next-try 1700000000\n" },
		{ "mta", QUEUE_MTA_MAX, "next-try 1700000000\n" },
	};
	struct queue_env env;
	char *body;

	(void)state;
	env_basic(&env);
	body = body_of(&env);
	queue_env_fini(&env);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		for (int esc = 0; esc < 2; esc++) {
			/* max + 1 bytes, raw or escaped ("%0A" x (max+1)). */
			size_t n = fields[i].max + 1, vlen = esc ? 3 * n : n, len;
			char *line = xmalloc(strlen(fields[i].key) + vlen + 3), *text, *file;
			const char *err = NULL;
			size_t o = strlen(fields[i].key);

			memcpy(line, fields[i].key, o);
			line[o++] = ' ';

			for (size_t k = 0; k < n; k++) {
				if (esc) {
					memcpy(line + o, "%0A", 3);
					o += 3;
				} else {
					line[o++] = 'a';
				}
			}
			line[o++] = '\n';
			line[o] = '\0';
			if (fields[i].after == NULL) {
				text = replace_once(body, "sender alice@example.org\n", line);
			} else {
				size_t al = strlen(fields[i].after);
				char *with = xmalloc(al + o + 1);

				memcpy(with, fields[i].after, al);
				memcpy(with + al, line, o + 1);
				text = replace_once(body, fields[i].after, with);
				free(with);
			}
			file = seal(text, &len);
			print_message("field %s escaped %d\n", fields[i].key, esc);
			assert_int_equal(queue_env_decode(file, len, &env, &err), -1);
			assert_string_equal(err, "field too long");
			free(file);
			free(text);
			free(line);
		}
	}
	free(body);
}

/* Too many recipient blocks for real (not just the count line). */
static void test_corrupt_too_many_rcpts(void **state)
{
	struct queue_env env;
	const char *err = NULL;
	char *buf = NULL;
	size_t len = 0;

	(void)state;
	env_basic(&env);
	while (env.rcpt_count < QUEUE_RCPTS_MAX)
		assert_non_null(queue_env_add_rcpt(&env, "x@y"));
	/* add_rcpt stops at the maximum. */
	assert_null(queue_env_add_rcpt(&env, "x@y"));
	assert_int_equal(env.rcpt_count, QUEUE_RCPTS_MAX);
	assert_int_equal(queue_env_encode(&env, &buf, &len, &err), 0);
	queue_env_fini(&env);
	assert_int_equal(queue_env_decode(buf, len, &env, &err), 0);
	assert_int_equal(env.rcpt_count, QUEUE_RCPTS_MAX);
	queue_env_fini(&env);
	free(buf);
}

static void test_checksum(void **state)
{
	struct queue_env env;
	const char *err = NULL;
	char *buf = NULL;
	size_t len = 0;

	(void)state;
	env_basic(&env);
	assert_int_equal(queue_env_encode(&env, &buf, &len, &err), 0);
	queue_env_fini(&env);

	/* Wrong digit in the checksum. */
	char saved = buf[len - 2];

	buf[len - 2] = saved == '0' ? '1' : '0';
	assert_int_equal(queue_env_decode(buf, len, &env, &err), -1);
	assert_string_equal(err, "checksum mismatch");
	buf[len - 2] = saved;
	assert_int_equal(queue_env_decode(buf, len, &env, &err), 0);
	queue_env_fini(&env);

	/* Upper-case hex is not what we write. */
	for (size_t i = len - 65; i < len - 1; i++)
		if (buf[i] >= 'a' && buf[i] <= 'f')
			buf[i] = (char)(buf[i] - 'a' + 'A');
	assert_int_equal(queue_env_decode(buf, len, &env, &err), -1);
	assert_string_equal(err, "checksum mismatch");

	/* Trailing garbage after the checksum line. */
	free(buf);
	env_basic(&env);
	assert_int_equal(queue_env_encode(&env, &buf, &len, &err), 0);
	queue_env_fini(&env);
	buf = xrealloc(buf, len + 2);
	memcpy(buf + len, "x\n", 2);
	assert_int_equal(queue_env_decode(buf, len + 2, &env, &err), -1);
	assert_string_equal(err, "truncated (no checksum line)");
	assert_int_equal(queue_env_decode(buf, len + 1, &env, &err), -1);
	assert_string_equal(err, "truncated (no checksum line)");

	/* A NUL anywhere: checksum or parser refuses it. */
	buf[10] = '\0';
	assert_int_equal(queue_env_decode(buf, len, &env, &err), -1);
	free(buf);

	/* Empty and too large. */
	assert_int_equal(queue_env_decode("", 0, &env, &err), -1);
	assert_string_equal(err, "empty file");
	assert_int_equal(queue_env_decode("x", (size_t)QUEUE_ENV_FILE_MAX + 1, &env, &err), -1);
	assert_string_equal(err, "file too large");
}

/* Every proper prefix of a valid file is refused, and so is every
 * single-bit flip. */
static void test_truncation_and_bit_flips(void **state)
{
	struct queue_env env;
	struct queue_rcpt *r;
	const char *err = NULL;
	char *buf = NULL, *copy;
	size_t len = 0;

	(void)state;
	env_basic(&env);
	env.envid = xstrdup("ENV%2BID");
	r = queue_env_add_rcpt(&env, "carol@example.com");
	r->orcpt = xstrdup("rfc822;carol@example.com");
	r->last_reply = xstrdup("451 4.7.1 try later\r\n");
	r->remote_mta = xstrdup("mx1.example.com");
	r->state = QUEUE_RCPT_DEFERRED;
	r->attempts = 3;
	assert_int_equal(queue_env_encode(&env, &buf, &len, &err), 0);
	queue_env_fini(&env);
	for (size_t cut = 0; cut < len; cut++) {
		/* An exact-size copy so ASan sees any read past the end. */
		copy = xmalloc(cut > 0 ? cut : 1);
		memcpy(copy, buf, cut);
		if (queue_env_decode(copy, cut, &env, &err) != -1)
			fail_msg("prefix of %zu bytes accepted", cut);
		free(copy);
	}
	copy = xmalloc(len);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(copy, buf, len);
			copy[i] = (char)(copy[i] ^ (1 << bit));
			if (queue_env_decode(copy, len, &env, &err) != -1)
				fail_msg("bit %d of byte %zu flipped accepted", bit, i);
		}
	}
	memcpy(copy, buf, len);
	assert_int_equal(queue_env_decode(copy, len, &env, &err), 0);
	queue_env_fini(&env);
	free(copy);
	free(buf);
}

/* ---- encoder refusals ---- */

enum mutation {
	M_BAD_ID,
	M_NO_SENDER,
	M_LONG_SENDER,
	M_SKIP,
	M_NO_RCPTS,
	M_EMPTY_ADDR,
	M_NOTIFY_NEVER_MIX,
	M_NOTIFY_BITS,
	M_STATE,
	M_RET,
	M_BODY,
	M_CREATED,
	M_NEXT_TRY,
	M_ATTEMPTS,
	M_DEPTH,
	M_LONG_REPLY,
};

static const struct {
	enum mutation m;
	const char *err;
} encode_cases[] = {
	{ M_BAD_ID, "bad id" },
	{ M_NO_SENDER, "missing sender" },
	{ M_LONG_SENDER, "sender too long" },
	{ M_SKIP, "skip larger than size" },
	{ M_NO_RCPTS, "no recipients" },
	{ M_EMPTY_ADDR, "empty recipient address" },
	{ M_NOTIFY_NEVER_MIX, "bad notify" },
	{ M_NOTIFY_BITS, "bad notify" },
	{ M_STATE, "bad state" },
	{ M_RET, "bad ret" },
	{ M_BODY, "bad body" },
	{ M_CREATED, "bad created time" },
	{ M_NEXT_TRY, "bad next-try time" },
	{ M_ATTEMPTS, "attempts too large" },
	{ M_DEPTH, "bounce depth too large" },
	{ M_LONG_REPLY, "reply too long" },
};

static void mutate(struct queue_env *env, enum mutation m)
{
	struct queue_rcpt *r = &env->rcpts[0];

	switch (m) {
	case M_BAD_ID:
		env->id[3] = '/';
		break;
	case M_NO_SENDER:
		free(env->sender);
		env->sender = NULL;
		break;
	case M_LONG_SENDER:
		free(env->sender);
		env->sender = repeat('s', QUEUE_ADDR_MAX + 1);
		break;
	case M_SKIP:
		env->skip = env->size + 1;
		break;
	case M_NO_RCPTS:
		/* fini only frees rcpt_count entries: free this one here. */
		free(r->addr);
		r->addr = NULL;
		env->rcpt_count = 0;
		break;
	case M_EMPTY_ADDR:
		r->addr[0] = '\0';
		break;
	case M_NOTIFY_NEVER_MIX:
		r->notify = QUEUE_NOTIFY_NEVER | QUEUE_NOTIFY_DELAY;
		break;
	case M_NOTIFY_BITS:
		r->notify = 16;
		break;
	case M_STATE:
		r->state = (enum queue_rcpt_state)4;
		break;
	case M_RET:
		env->ret = (enum queue_ret)3;
		break;
	case M_BODY:
		env->body = (enum queue_body)3;
		break;
	case M_CREATED:
		env->created = -1;
		break;
	case M_NEXT_TRY:
		r->next_try = -5;
		break;
	case M_ATTEMPTS:
		r->attempts = QUEUE_ATTEMPTS_MAX + 1;
		break;
	case M_DEPTH:
		env->bounce_depth = QUEUE_BOUNCE_DEPTH_MAX + 1;
		break;
	case M_LONG_REPLY:
		r->last_reply = repeat('r', QUEUE_REPLY_MAX + 1);
		break;
	}
}

static void test_encode_refusals(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(encode_cases) / sizeof(encode_cases[0]); i++) {
		struct queue_env env;
		const char *err = NULL;
		char *buf = (char *)"x";
		size_t len = 7;

		env_basic(&env);
		mutate(&env, encode_cases[i].m);
		assert_int_equal(queue_env_validate(&env, &err), -1);
		assert_string_equal(err, encode_cases[i].err);
		err = NULL;
		assert_int_equal(queue_env_encode(&env, &buf, &len, &err), -1);
		assert_string_equal(err, encode_cases[i].err);
		assert_null(buf);
		assert_int_equal(len, 0);
		/* NULL err_out is allowed. */
		assert_int_equal(queue_env_encode(&env, &buf, &len, NULL), -1);
		queue_env_fini(&env);
	}
}

/* ---- small helpers ---- */

static void test_ids(void **state)
{
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
		{ TEST_ID, true },
		{ "AAAAAAAAAAAAAAAA", true },
		{ "0000000000000000", true },
		{ "0123456789BCDFG", false },
		{ "0123456789BCDFGHJ", false },
		{ "0123456789bcdfgh", false },
		{ "../../etc/passwd", false },
		{ ".tmp.0123456789B", false },
		{ "0123456789BCDF/H", false },
		{ "", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(queue_env_is_valid_id(cases[i].s), cases[i].ok);
}

static void test_notify_and_names(void **state)
{
	(void)state;
	assert_int_equal(queue_env_notify_effective(0),
			 QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY);
	assert_int_equal(queue_env_notify_effective(QUEUE_NOTIFY_NEVER), QUEUE_NOTIFY_NEVER);
	assert_int_equal(queue_env_notify_effective(QUEUE_NOTIFY_SUCCESS), QUEUE_NOTIFY_SUCCESS);
	assert_string_equal(queue_env_state_name(QUEUE_RCPT_PENDING), "pending");
	assert_string_equal(queue_env_state_name(QUEUE_RCPT_DEFERRED), "deferred");
	assert_string_equal(queue_env_state_name(QUEUE_RCPT_DELIVERED), "delivered");
	assert_string_equal(queue_env_state_name(QUEUE_RCPT_FAILED), "failed");
	assert_string_equal(queue_env_state_name((enum queue_rcpt_state)9), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_basic),
		cmocka_unit_test(test_round_trip_file_text),
		cmocka_unit_test(test_round_trip_nasty),
		cmocka_unit_test(test_round_trip_every_byte),
		cmocka_unit_test(test_round_trip_maxima),
		cmocka_unit_test(test_round_trip_enums),
		cmocka_unit_test(test_round_trip_many_rcpts),
		cmocka_unit_test(test_corrupt_table),
		cmocka_unit_test(test_corrupt_too_long),
		cmocka_unit_test(test_corrupt_too_many_rcpts),
		cmocka_unit_test(test_checksum),
		cmocka_unit_test(test_truncation_and_bit_flips),
		cmocka_unit_test(test_encode_refusals),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_notify_and_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
