/* pop3_parse_test: table-driven tests for pop3_parse (verb and argument
 * splitting, argument counts, message numbers, TOP cuts) and for the
 * command table of pop3_cmd.c (which verb is legal in which state), without
 * sockets. Every input is copied into a heap block of exactly its length so
 * that ASan catches a read past len; the TOP filter is also fed byte by
 * byte and must cut at the same place. */
#include "pop3/pop3_parse.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pop3/pop3_internal.h"

#define S(x) .in = (x), .len = sizeof(x) - 1

static char *exact_copy(const char *s, size_t len)
{
	char *p = malloc(len > 0 ? len : 1);
	assert_non_null(p);
	memcpy(p, s, len);
	return p;
}

/* ---- pop3_parse_command / pop3_args_ok -------------------------------- */

struct cmd_case {
	const char *in;
	size_t len;
	enum pop3_verb verb;
	size_t argc;
	const char *arg0;
	const char *arg1;
	const char *rest;
	bool args_ok;
};

static const struct cmd_case cmd_cases[] = {
	{S("STAT"), POP3_VERB_STAT, 0, .rest = "", .args_ok = true},
	{S("stat"), POP3_VERB_STAT, 0, .rest = "", .args_ok = true},
	{S("sTaT"), POP3_VERB_STAT, 0, .rest = "", .args_ok = true},
	{S("STAT 1"), POP3_VERB_STAT, 1, "1", .rest = "1", .args_ok = false},
	{S("STATX"), POP3_VERB_UNKNOWN, 0, .rest = ""},
	{S("STA"), POP3_VERB_UNKNOWN, 0, .rest = ""},
	{S(""), POP3_VERB_UNKNOWN, 0, .rest = ""},
	{S(" STAT"), POP3_VERB_UNKNOWN, 1, "STAT", .rest = "STAT"},
	{S("APOP mrose c4c9334bac560ecc979e58001b3e22fb"), POP3_VERB_UNKNOWN, 2, "mrose",
	 "c4c9334bac560ecc979e58001b3e22fb", "mrose c4c9334bac560ecc979e58001b3e22fb"},
	{S("USER mrose"), POP3_VERB_USER, 1, "mrose", .rest = "mrose", .args_ok = true},
	{S("USER"), POP3_VERB_USER, 0, .rest = "", .args_ok = false},
	{S("USER a b"), POP3_VERB_USER, 2, "a", "b", "a b", false},
	{S("PASS secret"), POP3_VERB_PASS, 1, "secret", .rest = "secret", .args_ok = true},
	/* RFC 1939 7: spaces belong to the password. */
	{S("PASS  my secret "), POP3_VERB_PASS, 2, "my", "secret", " my secret ", true},
	{S("PASS"), POP3_VERB_PASS, 0, .rest = "", .args_ok = false},
	{S("PASS "), POP3_VERB_PASS, 0, .rest = "", .args_ok = false},
	{S("LIST"), POP3_VERB_LIST, 0, .rest = "", .args_ok = true},
	{S("LIST 2"), POP3_VERB_LIST, 1, "2", .rest = "2", .args_ok = true},
	{S("LIST 2 "), POP3_VERB_LIST, 1, "2", .rest = "2 ", .args_ok = true},
	{S("LIST 2 3"), POP3_VERB_LIST, 2, "2", "3", "2 3", false},
	{S("RETR 1"), POP3_VERB_RETR, 1, "1", .rest = "1", .args_ok = true},
	{S("RETR"), POP3_VERB_RETR, 0, .rest = "", .args_ok = false},
	{S("DELE 7"), POP3_VERB_DELE, 1, "7", .rest = "7", .args_ok = true},
	{S("TOP 1 10"), POP3_VERB_TOP, 2, "1", "10", "1 10", true},
	{S("top 1  0"), POP3_VERB_TOP, 2, "1", "0", "1  0", true},
	{S("TOP 1"), POP3_VERB_TOP, 1, "1", .rest = "1", .args_ok = false},
	{S("TOP 1 2 3"), POP3_VERB_TOP, 3, "1", "2", "1 2 3", false},
	{S("UIDL"), POP3_VERB_UIDL, 0, .rest = "", .args_ok = true},
	{S("UIDL 1"), POP3_VERB_UIDL, 1, "1", .rest = "1", .args_ok = true},
	{S("AUTH"), POP3_VERB_AUTH, 0, .rest = "", .args_ok = true},
	{S("AUTH PLAIN"), POP3_VERB_AUTH, 1, "PLAIN", .rest = "PLAIN", .args_ok = true},
	{S("AUTH PLAIN AGFsaWNlAHB3"), POP3_VERB_AUTH, 2, "PLAIN", "AGFsaWNlAHB3",
	 "PLAIN AGFsaWNlAHB3", true},
	{S("AUTH PLAIN a b"), POP3_VERB_AUTH, 3, "PLAIN", "a", "PLAIN a b", false},
	{S("STLS"), POP3_VERB_STLS, 0, .rest = "", .args_ok = true},
	{S("CAPA"), POP3_VERB_CAPA, 0, .rest = "", .args_ok = true},
	{S("NOOP"), POP3_VERB_NOOP, 0, .rest = "", .args_ok = true},
	{S("RSET"), POP3_VERB_RSET, 0, .rest = "", .args_ok = true},
	{S("LAST"), POP3_VERB_LAST, 0, .rest = "", .args_ok = true},
	{S("QUIT"), POP3_VERB_QUIT, 0, .rest = "", .args_ok = true},
	{S("QUIT now"), POP3_VERB_QUIT, 1, "now", .rest = "now", .args_ok = false},
	/* RFC 6856 2: UTF8 has no parameters; a UTF-8 user name is a word */
	{S("UTF8"), POP3_VERB_UTF8, 0, .rest = "", .args_ok = true},
	{S("utf8"), POP3_VERB_UTF8, 0, .rest = "", .args_ok = true},
	{S("UTF8 on"), POP3_VERB_UTF8, 1, "on", .rest = "on", .args_ok = false},
	{S("USER j\xc3\xb6rg@example.test"), POP3_VERB_USER, 1, "j\xc3\xb6rg@example.test",
	 .rest = "j\xc3\xb6rg@example.test", .args_ok = true},
	/* A tab is not a separator (RFC 2449 3: a single SPACE). */
	{S("RETR\t1"), POP3_VERB_UNKNOWN, 0, .rest = ""},
	/* A keyword of more than 40 characters is never a verb. */
	{S("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), POP3_VERB_UNKNOWN, 0, .rest = ""},
	/* NUL bytes are data to the splitter (the session refuses them). */
	{S("RETR \0"), POP3_VERB_RETR, 1, "\0", .rest = "\0", .args_ok = true},
};

static void check_arg(const struct word *a, const char *want)
{
	size_t wl = want[0] == '\0' && a->len == 1 ? 1 : strlen(want);
	assert_int_equal(a->len, wl);
	assert_memory_equal(a->p, want, wl);
}

static void test_command_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cmd_cases) / sizeof(cmd_cases[0]); i++) {
		const struct cmd_case *c = &cmd_cases[i];
		char *in = exact_copy(c->in, c->len);
		struct pop3_command cmd;
		pop3_parse_command(in, c->len, &cmd);
		assert_int_equal(cmd.verb, c->verb);
		assert_int_equal(cmd.argc, c->argc);
		if (c->argc >= 1 && c->arg0 != NULL)
			check_arg(&cmd.argv[0], c->arg0);
		if (c->argc >= 2 && c->arg1 != NULL)
			check_arg(&cmd.argv[1], c->arg1);
		if (c->rest != NULL) {
			size_t rl = c->rest[0] == '\0' && cmd.rest_len == 1 ? 1 : strlen(c->rest);
			assert_int_equal(cmd.rest_len, rl);
			assert_memory_equal(cmd.rest, c->rest, rl);
		}
		assert_int_equal(pop3_args_ok(&cmd), c->args_ok);
		free(in);
	}
}

/* Every proper prefix parses without reading past its end. */
static void test_command_prefixes(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cmd_cases) / sizeof(cmd_cases[0]); i++) {
		const struct cmd_case *c = &cmd_cases[i];
		for (size_t n = 0; n < c->len; n++) {
			char *in = exact_copy(c->in, n);
			struct pop3_command cmd;
			pop3_parse_command(in, n, &cmd);
			assert_true(cmd.rest_len <= n);
			free(in);
		}
	}
}

static void test_verb_names(void **state)
{
	(void)state;
	for (int v = 1; v < POP3_VERB_COUNT; v++) {
		const char *name = pop3_verb_name((enum pop3_verb)v);
		struct pop3_command cmd;
		pop3_parse_command(name, strlen(name), &cmd);
		assert_int_equal(cmd.verb, v);
	}
	assert_string_equal(pop3_verb_name(POP3_VERB_UNKNOWN), "?");
	assert_string_equal(pop3_verb_name(POP3_VERB_COUNT), "?");
}

/* ---- numbers ----------------------------------------------------------- */

struct num_case {
	const char *in;
	size_t len;
	int rc;
	uint64_t value;
};

static const struct num_case msgno_cases[] = {
	{S("1"), 0, 1},
	{S("2"), 0, 2},
	{S("50000"), 0, 50000},
	{S("007"), 0, 7},
	{S("4294967295"), 0, 4294967295u},
	{S("4294967296"), -1, 0},
	{S("99999999999999999999999999"), -1, 0},
	{S("18446744073709551616"), -1, 0},
	{S("0"), -1, 0},
	{S("00"), -1, 0},
	{S(""), -1, 0},
	{S("-1"), -1, 0},
	{S("+1"), -1, 0},
	{S(" 1"), -1, 0},
	{S("1 "), -1, 0},
	{S("1a"), -1, 0},
	{S("a"), -1, 0},
	{S("0x10"), -1, 0},
	{S("1.0"), -1, 0},
	{S("\xd9\xa1"), -1, 0}, /* ARABIC-INDIC DIGIT ONE */
	{S("1\0"), -1, 0},
};

static void test_msgno(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(msgno_cases) / sizeof(msgno_cases[0]); i++) {
		const struct num_case *c = &msgno_cases[i];
		char *in = exact_copy(c->in, c->len);
		uint32_t v = 12345;
		int rc = pop3_parse_msgno(in, c->len, &v);
		assert_int_equal(rc, c->rc);
		if (rc == 0)
			assert_int_equal(v, c->value);
		else
			assert_int_equal(v, 12345); /* untouched on error */
		free(in);
	}
}

static const struct num_case count_cases[] = {
	{S("0"), 0, 0},
	{S("10"), 0, 10},
	{S("18446744073709551615"), 0, UINT64_MAX},
	{S("18446744073709551616"), -1, 0},
	{S("-0"), -1, 0},
	{S("-5"), -1, 0},
	{S(""), -1, 0},
	{S("5x"), -1, 0},
};

static void test_count(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(count_cases) / sizeof(count_cases[0]); i++) {
		const struct num_case *c = &count_cases[i];
		char *in = exact_copy(c->in, c->len);
		uint64_t v = 777;
		int rc = pop3_parse_count(in, c->len, &v);
		assert_int_equal(rc, c->rc);
		assert_true(rc == 0 ? v == c->value : v == 777);
		free(in);
	}
}

/* ---- TOP --------------------------------------------------------------- */

struct top_case {
	const char *msg;
	uint64_t lines;
	const char *want; /* the prefix of msg that is sent */
};

static const struct top_case top_cases[] = {
	{"A: 1\nB: 2\n\nl1\nl2\nl3\n", 0, "A: 1\nB: 2\n\n"},
	{"A: 1\nB: 2\n\nl1\nl2\nl3\n", 1, "A: 1\nB: 2\n\nl1\n"},
	{"A: 1\nB: 2\n\nl1\nl2\nl3\n", 2, "A: 1\nB: 2\n\nl1\nl2\n"},
	{"A: 1\nB: 2\n\nl1\nl2\nl3\n", 3, "A: 1\nB: 2\n\nl1\nl2\nl3\n"},
	{"A: 1\nB: 2\n\nl1\nl2\nl3\n", 100, "A: 1\nB: 2\n\nl1\nl2\nl3\n"},
	/* body without a final line end */
	{"A: 1\n\nl1\nl2", 1, "A: 1\n\nl1\n"},
	{"A: 1\n\nl1\nl2", 5, "A: 1\n\nl1\nl2"},
	/* blank lines in the body count as lines */
	{"A: 1\n\n\n\nx\n", 2, "A: 1\n\n\n\n"},
	/* CR LF stored lines; "\r\n" alone is the blank line */
	{"A: 1\r\n\r\nl1\r\nl2\r\n", 0, "A: 1\r\n\r\n"},
	{"A: 1\r\n\r\nl1\r\nl2\r\n", 1, "A: 1\r\n\r\nl1\r\n"},
	/* no header at all: the first line is blank */
	{"\nbody\nmore\n", 0, "\n"},
	{"\nbody\nmore\n", 1, "\nbody\n"},
	/* no blank line: all header, sent whole */
	{"A: 1\nB: 2\n", 0, "A: 1\nB: 2\n"},
	{"A: 1\nB: 2", 3, "A: 1\nB: 2"},
	{"", 0, ""},
	/* two CRs make a non-blank line (found by fuzz_pop3_parse) */
	{"\r\r\n\n", 0, "\r\r\n\n"},
	{"A: 1\n\r\r\nB: 2\n\nx\n", 0, "A: 1\n\r\r\nB: 2\n\n"},
	/* a line of spaces is not blank */
	{"A: 1\n \nB: 2\n\nx\n", 0, "A: 1\n \nB: 2\n\n"},
	/* dots are data here (the dot encoder stuffs them) */
	{"A: 1\n\n.\n..\n.x\n", 2, "A: 1\n\n.\n..\n"},
};

static size_t top_all(const char *msg, size_t len, uint64_t lines, size_t step)
{
	struct pop3_top t;
	pop3_top_init(&t, lines);
	size_t sent = 0;
	for (size_t off = 0; off < len; off += step) {
		size_t n = len - off < step ? len - off : step;
		char *piece = exact_copy(msg + off, n);
		bool done = false;
		size_t k = pop3_top_feed(&t, piece, n, &done);
		free(piece);
		assert_true(k <= n);
		sent += k;
		if (done) {
			bool again = false;
			assert_int_equal(pop3_top_feed(&t, "x\n", 2, &again), 0);
			assert_true(again);
			return sent;
		}
		assert_int_equal(k, n);
	}
	return sent;
}

static void test_top(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(top_cases) / sizeof(top_cases[0]); i++) {
		const struct top_case *c = &top_cases[i];
		size_t len = strlen(c->msg);
		assert_int_equal(top_all(c->msg, len, c->lines, len > 0 ? len : 1), strlen(c->want));
		assert_int_equal(top_all(c->msg, len, c->lines, 1), strlen(c->want));
		assert_int_equal(top_all(c->msg, len, c->lines, 3), strlen(c->want));
	}
}

/* ---- the command table (pop3_cmd.c) -------------------------------------- */

struct check_case {
	const char *line;
	enum pop3_state state;
	enum pop3_check want;
};

static const struct check_case check_cases[] = {
	/* AUTHORIZATION (RFC 1939 4, RFC 2449, RFC 2595, RFC 5034) */
	{"USER a", POP3_STATE_AUTHORIZATION, POP3_CHECK_OK},
	{"PASS x y", POP3_STATE_AUTHORIZATION, POP3_CHECK_OK},
	{"AUTH PLAIN", POP3_STATE_AUTHORIZATION, POP3_CHECK_OK},
	{"STLS", POP3_STATE_AUTHORIZATION, POP3_CHECK_OK},
	{"CAPA", POP3_STATE_AUTHORIZATION, POP3_CHECK_OK},
	{"QUIT", POP3_STATE_AUTHORIZATION, POP3_CHECK_OK},
	{"STAT", POP3_STATE_AUTHORIZATION, POP3_CHECK_STATE},
	{"LIST", POP3_STATE_AUTHORIZATION, POP3_CHECK_STATE},
	{"RETR 1", POP3_STATE_AUTHORIZATION, POP3_CHECK_STATE},
	{"DELE 1", POP3_STATE_AUTHORIZATION, POP3_CHECK_STATE},
	{"NOOP", POP3_STATE_AUTHORIZATION, POP3_CHECK_STATE},
	{"RSET", POP3_STATE_AUTHORIZATION, POP3_CHECK_STATE},
	{"TOP 1 1", POP3_STATE_AUTHORIZATION, POP3_CHECK_STATE},
	{"UIDL", POP3_STATE_AUTHORIZATION, POP3_CHECK_STATE},
	{"LAST", POP3_STATE_AUTHORIZATION, POP3_CHECK_STATE},
	{"APOP a b", POP3_STATE_AUTHORIZATION, POP3_CHECK_UNKNOWN},
	{"XYZZY", POP3_STATE_AUTHORIZATION, POP3_CHECK_UNKNOWN},
	{"", POP3_STATE_AUTHORIZATION, POP3_CHECK_UNKNOWN},
	{"USER", POP3_STATE_AUTHORIZATION, POP3_CHECK_ARGS},
	{"PASS", POP3_STATE_AUTHORIZATION, POP3_CHECK_ARGS},
	{"STLS now", POP3_STATE_AUTHORIZATION, POP3_CHECK_ARGS},
	{"UTF8", POP3_STATE_AUTHORIZATION, POP3_CHECK_OK},
	{"UTF8 x", POP3_STATE_AUTHORIZATION, POP3_CHECK_ARGS},
	{"LANG", POP3_STATE_AUTHORIZATION, POP3_CHECK_UNKNOWN}, /* RFC 6856 3: not offered */
	/* TRANSACTION (RFC 1939 5, 7) */
	{"STAT", POP3_STATE_TRANSACTION, POP3_CHECK_OK},
	{"LIST", POP3_STATE_TRANSACTION, POP3_CHECK_OK},
	{"LIST 1", POP3_STATE_TRANSACTION, POP3_CHECK_OK},
	{"RETR 1", POP3_STATE_TRANSACTION, POP3_CHECK_OK},
	{"DELE 1", POP3_STATE_TRANSACTION, POP3_CHECK_OK},
	{"NOOP", POP3_STATE_TRANSACTION, POP3_CHECK_OK},
	{"RSET", POP3_STATE_TRANSACTION, POP3_CHECK_OK},
	{"TOP 1 0", POP3_STATE_TRANSACTION, POP3_CHECK_OK},
	{"UIDL", POP3_STATE_TRANSACTION, POP3_CHECK_OK},
	{"LAST", POP3_STATE_TRANSACTION, POP3_CHECK_OK},
	{"CAPA", POP3_STATE_TRANSACTION, POP3_CHECK_OK},
	{"QUIT", POP3_STATE_TRANSACTION, POP3_CHECK_OK},
	{"USER a", POP3_STATE_TRANSACTION, POP3_CHECK_STATE},
	{"PASS a", POP3_STATE_TRANSACTION, POP3_CHECK_STATE},
	{"AUTH PLAIN", POP3_STATE_TRANSACTION, POP3_CHECK_STATE},
	{"STLS", POP3_STATE_TRANSACTION, POP3_CHECK_STATE},
	{"UTF8", POP3_STATE_TRANSACTION, POP3_CHECK_STATE},
	{"RETR", POP3_STATE_TRANSACTION, POP3_CHECK_ARGS},
	{"DELE 1 2", POP3_STATE_TRANSACTION, POP3_CHECK_ARGS},
	{"TOP 1", POP3_STATE_TRANSACTION, POP3_CHECK_ARGS},
	{"NOOP x", POP3_STATE_TRANSACTION, POP3_CHECK_ARGS},
	/* States that take no lines accept nothing. */
	{"QUIT", POP3_STATE_LOGIN, POP3_CHECK_STATE},
	{"QUIT", POP3_STATE_SENDING, POP3_CHECK_STATE},
	{"QUIT", POP3_STATE_UPDATE, POP3_CHECK_STATE},
	{"CAPA", POP3_STATE_TLS_HANDSHAKE, POP3_CHECK_STATE},
	{"NOOP", POP3_STATE_CLOSED, POP3_CHECK_STATE},
	{"QUIT", POP3_STATE_SASL, POP3_CHECK_STATE},
};

static void test_cmd_check(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
		const struct check_case *c = &check_cases[i];
		struct pop3_command cmd;
		pop3_parse_command(c->line, strlen(c->line), &cmd);
		assert_int_equal(pop3_cmd_check(c->state, &cmd), c->want);
	}
}

/* Every known verb is legal in exactly the RFC states and nowhere else. */
static void test_cmd_states(void **state)
{
	(void)state;
	for (int v = 1; v < POP3_VERB_COUNT; v++) {
		for (int st = 0; st < POP3_STATE_COUNT; st++) {
			char line[64];
			const char *name = pop3_verb_name((enum pop3_verb)v);
			/* Give each verb arguments it accepts. */
			const char *args = "";
			if (v == POP3_VERB_USER || v == POP3_VERB_PASS || v == POP3_VERB_RETR ||
			    v == POP3_VERB_DELE)
				args = " 1";
			else if (v == POP3_VERB_TOP)
				args = " 1 1";
			(void)snprintf(line, sizeof(line), "%s%s", name, args);
			struct pop3_command cmd;
			pop3_parse_command(line, strlen(line), &cmd);
			enum pop3_check got = pop3_cmd_check((enum pop3_state)st, &cmd);
			bool auth = st == POP3_STATE_AUTHORIZATION, trans = st == POP3_STATE_TRANSACTION;
			bool legal;
			switch (v) {
			case POP3_VERB_USER:
			case POP3_VERB_PASS:
			case POP3_VERB_AUTH:
			case POP3_VERB_STLS:
			case POP3_VERB_UTF8:
				legal = auth;
				break;
			case POP3_VERB_CAPA:
			case POP3_VERB_QUIT:
				legal = auth || trans;
				break;
			default:
				legal = trans;
				break;
			}
			assert_int_equal(got, legal ? POP3_CHECK_OK : POP3_CHECK_STATE);
			assert_true(!legal || pop3_state_takes_lines((enum pop3_state)st));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command_table), cmocka_unit_test(test_command_prefixes),
		cmocka_unit_test(test_verb_names),    cmocka_unit_test(test_msgno),
		cmocka_unit_test(test_count),	      cmocka_unit_test(test_top),
		cmocka_unit_test(test_cmd_check),     cmocka_unit_test(test_cmd_states),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
