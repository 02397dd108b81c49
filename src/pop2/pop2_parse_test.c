/* pop2_parse_test: table-driven tests for pop2_parse (verbs, arguments,
 * HELO user/password, message numbers) and for the RFC 937 state table of
 * pop2_session.c, without sockets. Inputs are heap copies of exactly their
 * length so that ASan catches a read past len. */
#include "pop2/pop2_parse.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pop2/pop2_session.h"

#define S(x) .in = (x), .len = sizeof(x) - 1

static char *exact_copy(const char *s, size_t len)
{
	char *p = malloc(len > 0 ? len : 1);
	assert_non_null(p);
	memcpy(p, s, len);
	return p;
}

struct cmd_case {
	const char *in;
	size_t len;
	enum pop2_verb verb;
	size_t argc;
	bool args_ok;
};

static const struct cmd_case cmd_cases[] = {
	{S("HELO user pass"), POP2_VERB_HELO, 2, true},
	{S("helo user pass word"), POP2_VERB_HELO, 3, true},
	{S("HELO user"), POP2_VERB_HELO, 1, false},
	{S("HELO"), POP2_VERB_HELO, 0, false},
	{S("FOLD INBOX"), POP2_VERB_FOLD, 1, true},
	{S("fold inbox"), POP2_VERB_FOLD, 1, true},
	{S("FOLD"), POP2_VERB_FOLD, 0, false},
	{S("FOLD a b"), POP2_VERB_FOLD, 2, false},
	{S("READ"), POP2_VERB_READ, 0, true},
	{S("READ 3"), POP2_VERB_READ, 1, true},
	{S("READ 3 4"), POP2_VERB_READ, 2, false},
	{S("RETR"), POP2_VERB_RETR, 0, true},
	{S("RETR 1"), POP2_VERB_RETR, 1, false},
	{S("ACKS"), POP2_VERB_ACKS, 0, true},
	{S("ACKD"), POP2_VERB_ACKD, 0, true},
	{S("NACK"), POP2_VERB_NACK, 0, true},
	{S("QUIT"), POP2_VERB_QUIT, 0, true},
	{S("QUIT x"), POP2_VERB_QUIT, 1, false},
	{S("QUI"), POP2_VERB_UNKNOWN, 0, false},
	{S("QUITT"), POP2_VERB_UNKNOWN, 0, false},
	{S("USER a"), POP2_VERB_UNKNOWN, 1, false},
	{S(""), POP2_VERB_UNKNOWN, 0, false},
	{S(" READ"), POP2_VERB_UNKNOWN, 1, false},
};

static void test_commands(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cmd_cases) / sizeof(cmd_cases[0]); i++) {
		const struct cmd_case *c = &cmd_cases[i];
		char *in = exact_copy(c->in, c->len);
		struct pop2_command cmd;
		pop2_parse_command(in, c->len, &cmd);
		assert_int_equal(cmd.verb, c->verb);
		assert_int_equal(cmd.argc, c->argc);
		assert_int_equal(pop2_args_ok(&cmd), c->args_ok);
		free(in);
		for (size_t n = 0; n < c->len; n++) {
			in = exact_copy(c->in, n);
			pop2_parse_command(in, n, &cmd);
			assert_true(cmd.rest_len <= n);
			free(in);
		}
	}
	for (int v = 1; v < POP2_VERB_COUNT; v++) {
		const char *name = pop2_verb_name((enum pop2_verb)v);
		struct pop2_command cmd;
		pop2_parse_command(name, strlen(name), &cmd);
		assert_int_equal(cmd.verb, v);
	}
}

struct helo_case {
	const char *in;
	int rc;
	const char *user;
	const char *pw;
};

static const struct helo_case helo_cases[] = {
	{"HELO alice secret", 0, "alice", "secret"},
	{"HELO alice@example.test two words", 0, "alice@example.test", "two words"},
	{"HELO alice  lead-space", 0, "alice", " lead-space"},
	{"HELO alice", -1, NULL, NULL},
	{"HELO alice ", -1, NULL, NULL},
	{"HELO  alice pw", -1, NULL, NULL}, /* empty user */
	{"HELO", -1, NULL, NULL},
};

static void test_helo(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(helo_cases) / sizeof(helo_cases[0]); i++) {
		const struct helo_case *c = &helo_cases[i];
		size_t len = strlen(c->in);
		char *in = exact_copy(c->in, len);
		struct pop2_command cmd;
		pop2_parse_command(in, len, &cmd);
		struct word u, p;
		int rc = pop2_parse_helo(&cmd, &u, &p);
		assert_int_equal(rc, c->rc);
		if (rc == 0) {
			assert_int_equal(u.len, strlen(c->user));
			assert_memory_equal(u.p, c->user, u.len);
			assert_int_equal(p.len, strlen(c->pw));
			assert_memory_equal(p.p, c->pw, p.len);
		}
		free(in);
	}
}

struct num_case {
	const char *in;
	size_t len;
	int rc;
	uint32_t value;
};

static const struct num_case num_cases[] = {
	{S("1"), 0, 1},	       {S("42"), 0, 42},	{S("0042"), 0, 42},
	{S("4294967295"), 0, 4294967295u}, {S("4294967296"), -1, 0}, {S("99999999999999999999"), -1, 0},
	{S("0"), -1, 0},       {S("-1"), -1, 0},	{S("+1"), -1, 0},
	{S(""), -1, 0},	       {S("1x"), -1, 0},	{S("x"), -1, 0},
	{S("1\0"), -1, 0},
};

static void test_msgno(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(num_cases) / sizeof(num_cases[0]); i++) {
		const struct num_case *c = &num_cases[i];
		char *in = exact_copy(c->in, c->len);
		uint32_t v = 99;
		int rc = pop2_parse_msgno(in, c->len, &v);
		assert_int_equal(rc, c->rc);
		assert_int_equal(v, rc == 0 ? c->value : 99);
		free(in);
	}
}

struct check_case {
	const char *line;
	enum pop2_state state;
	enum pop2_check want;
};

/* RFC 937's state diagram, line by line. */
static const struct check_case check_cases[] = {
	{"HELO a b", POP2_STATE_AUTH, POP2_CHECK_OK},
	{"QUIT", POP2_STATE_AUTH, POP2_CHECK_OK},
	{"READ", POP2_STATE_AUTH, POP2_CHECK_STATE},
	{"FOLD INBOX", POP2_STATE_AUTH, POP2_CHECK_STATE},
	{"RETR", POP2_STATE_AUTH, POP2_CHECK_STATE},
	{"ACKS", POP2_STATE_AUTH, POP2_CHECK_STATE},
	{"HELO a", POP2_STATE_AUTH, POP2_CHECK_ARGS},
	{"READ", POP2_STATE_MBOX, POP2_CHECK_OK},
	{"READ 2", POP2_STATE_MBOX, POP2_CHECK_OK},
	{"FOLD INBOX", POP2_STATE_MBOX, POP2_CHECK_OK},
	{"QUIT", POP2_STATE_MBOX, POP2_CHECK_OK},
	{"RETR", POP2_STATE_MBOX, POP2_CHECK_STATE},
	{"ACKD", POP2_STATE_MBOX, POP2_CHECK_STATE},
	{"HELO a b", POP2_STATE_MBOX, POP2_CHECK_STATE},
	{"RETR", POP2_STATE_ITEM, POP2_CHECK_OK},
	{"READ", POP2_STATE_ITEM, POP2_CHECK_OK},
	{"FOLD INBOX", POP2_STATE_ITEM, POP2_CHECK_OK},
	{"QUIT", POP2_STATE_ITEM, POP2_CHECK_OK},
	{"ACKS", POP2_STATE_ITEM, POP2_CHECK_STATE},
	{"NACK", POP2_STATE_ITEM, POP2_CHECK_STATE},
	{"ACKS", POP2_STATE_NEXT, POP2_CHECK_OK},
	{"ACKD", POP2_STATE_NEXT, POP2_CHECK_OK},
	{"NACK", POP2_STATE_NEXT, POP2_CHECK_OK},
	{"QUIT", POP2_STATE_NEXT, POP2_CHECK_STATE},
	{"READ", POP2_STATE_NEXT, POP2_CHECK_STATE},
	{"RETR", POP2_STATE_NEXT, POP2_CHECK_STATE},
	{"ACKS x", POP2_STATE_NEXT, POP2_CHECK_ARGS},
	{"QUIT", POP2_STATE_LOGIN, POP2_CHECK_STATE},
	{"QUIT", POP2_STATE_XFER, POP2_CHECK_STATE},
	{"QUIT", POP2_STATE_UPDATE, POP2_CHECK_STATE},
	{"QUIT", POP2_STATE_DONE, POP2_CHECK_STATE},
	{"STAT", POP2_STATE_MBOX, POP2_CHECK_UNKNOWN},
};

static void test_states(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
		const struct check_case *c = &check_cases[i];
		struct pop2_command cmd;
		pop2_parse_command(c->line, strlen(c->line), &cmd);
		assert_int_equal(pop2_cmd_check(c->state, &cmd), c->want);
	}
	for (int st = 0; st < POP2_STATE_COUNT; st++)
		assert_string_not_equal(pop2_state_name((enum pop2_state)st), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_helo),
		cmocka_unit_test(test_msgno),
		cmocka_unit_test(test_states),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
