/* fuzz_pop2_parse: libFuzzer target for src/pop2/pop2_parse.h. The input
 * is one command line without the line end. It is split with
 * pop2_parse_command, and the split goes to pop2_args_ok and
 * pop2_parse_helo (whatever the verb), the line, rest and arguments to
 * pop2_parse_msgno. Beyond "no crash, no read past len" (inputs sit in heap
 * blocks of their exact length), it checks the contracts against plain
 * reference readings: the verb is four letters matched case-insensitively
 * (upper- and lower-casing it changes nothing), verb, SP and rest put back
 * together give the line, arguments are the SP-separated words of rest,
 * argument counts follow RFC 937 as the header lists them, HELO user and
 * password put back together give rest, and message numbers are digits
 * only, 1..UINT32_MAX, and print back to the same value. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "pop2/pop2_parse.h"

static const char *const verbs[POP2_VERB_COUNT] = {
	[POP2_VERB_UNKNOWN] = "?", [POP2_VERB_HELO] = "HELO", [POP2_VERB_FOLD] = "FOLD",
	[POP2_VERB_READ] = "READ", [POP2_VERB_RETR] = "RETR", [POP2_VERB_ACKS] = "ACKS",
	[POP2_VERB_ACKD] = "ACKD", [POP2_VERB_NACK] = "NACK", [POP2_VERB_QUIT] = "QUIT",
};

static unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static unsigned char upper(unsigned char c)
{
	return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 32) : c;
}

static bool eq_nocase(const char *s, size_t n, const char *lit)
{
	if (strlen(lit) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s[i]) != lower((unsigned char)lit[i]))
			return false;
	return true;
}

/* Heap copy of exactly len bytes, so ASan sees any read past the end. */
static char *exact_copy(const char *s, size_t len)
{
	char *p = malloc(len > 0 ? len : 1);

	FUZZ_CHECK(p != NULL);
	if (len > 0)
		memcpy(p, s, len);
	return p;
}

/* Every verb name parses back to its verb, alone and with an argument. */
static void check_verb_names(void)
{
	static bool done;
	struct pop2_command c;
	char buf[8];

	if (done)
		return;
	done = true;
	FUZZ_CHECK(strcmp(pop2_verb_name(POP2_VERB_UNKNOWN), "?") == 0);
	for (int v = 1; v < POP2_VERB_COUNT; v++) {
		const char *name = pop2_verb_name((enum pop2_verb)v);

		FUZZ_CHECK(strcmp(name, verbs[v]) == 0 && strlen(name) == 4);
		pop2_parse_command(name, 4, &c);
		FUZZ_CHECK(c.verb == (enum pop2_verb)v && c.argc == 0 && c.rest_len == 0);
		memcpy(buf, name, 4);
		memcpy(buf + 4, " 1", 2);
		pop2_parse_command(buf, 6, &c);
		FUZZ_CHECK(c.verb == (enum pop2_verb)v && c.argc == 1 && c.rest_len == 1);
	}
}

/* Reference decimal reading: digits only (leading zeros allowed), false
 * on a non-digit, empty input or more than UINT64_MAX. */
static bool ref_decimal(const char *s, size_t len, uint64_t *v)
{
	*v = 0;
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (__builtin_mul_overflow(*v, 10u, v) ||
		    __builtin_add_overflow(*v, (uint64_t)(s[i] - '0'), v))
			return false;
	}
	return true;
}

/* pop2_parse_msgno against the reference; the value prints back to the
 * same number (the same text without leading zeros). A failure leaves
 * *out alone (the unit test relies on it too). */
static void check_msgno(const char *s, size_t len)
{
	char *p = exact_copy(s, len);
	uint64_t want;
	uint32_t v = 777, again = 0;
	bool ref_ok = ref_decimal(s, len, &want) && want >= 1 && want <= UINT32_MAX;
	int rc = pop2_parse_msgno(p, len, &v);
	char text[16];
	int n;

	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK((rc == 0) == ref_ok);
	if (rc == 0) {
		FUZZ_CHECK(v >= 1 && v == want);
		n = snprintf(text, sizeof(text), "%" PRIu32, v);
		FUZZ_CHECK(n > 0 && (size_t)n < sizeof(text));
		FUZZ_CHECK(pop2_parse_msgno(text, (size_t)n, &again) == 0 && again == v);
		if (s[0] != '0')
			FUZZ_CHECK((size_t)n == len && memcmp(text, s, len) == 0);
	} else {
		FUZZ_CHECK(v == 777);
	}
	free(p);
}

/* RFC 937 argument counts as the header lists them. */
static bool ref_args_ok(const struct pop2_command *c)
{
	switch (c->verb) {
	case POP2_VERB_HELO:
		return c->argc >= 2;
	case POP2_VERB_FOLD:
		return c->argc == 1;
	case POP2_VERB_READ:
		return c->argc <= 1;
	case POP2_VERB_RETR:
	case POP2_VERB_ACKS:
	case POP2_VERB_ACKD:
	case POP2_VERB_NACK:
	case POP2_VERB_QUIT:
		return c->argc == 0;
	default:
		return false;
	}
}

/* The structural contract of a split of line[0..len). */
static void check_split(const char *line, size_t len, const struct pop2_command *c)
{
	size_t vlen = 0, words = 0, i;
	enum pop2_verb want = POP2_VERB_UNKNOWN;
	const char *end;

	while (vlen < len && line[vlen] != ' ')
		vlen++;
	for (int v = 1; v < POP2_VERB_COUNT; v++)
		if (eq_nocase(line, vlen, verbs[v]))
			want = (enum pop2_verb)v;
	FUZZ_CHECK(c->verb == want);
	FUZZ_CHECK(c->verb_text == line && c->verb_len == vlen);
	FUZZ_CHECK(strcmp(pop2_verb_name(c->verb), verbs[want]) == 0);
	if (want != POP2_VERB_UNKNOWN)
		for (i = 0; i < vlen; i++)
			FUZZ_CHECK(upper((unsigned char)line[i]) ==
				   (unsigned char)pop2_verb_name(c->verb)[i]);

	/* verb, one SP, rest: exactly the line again. */
	if (vlen < len) {
		FUZZ_CHECK(c->rest == line + vlen + 1 && c->rest_len == len - vlen - 1);
	} else {
		FUZZ_CHECK(c->rest_len == 0);
		FUZZ_CHECK(c->rest >= line && c->rest <= line + len);
	}

	/* Arguments: the SP-separated words of rest, in order. */
	end = c->rest + c->rest_len;
	i = 0;
	while (i < c->rest_len) {
		size_t start, wlen;

		while (i < c->rest_len && c->rest[i] == ' ')
			i++;
		if (i == c->rest_len)
			break;
		start = i;
		while (i < c->rest_len && c->rest[i] != ' ')
			i++;
		wlen = i - start;
		if (words < POP2_ARGV_MAX) {
			const struct word *a = &c->argv[words];

			FUZZ_CHECK(a->p == c->rest + start && a->len == wlen);
			FUZZ_CHECK(a->p >= c->rest && a->p + a->len <= end);
		}
		words++;
	}
	FUZZ_CHECK(c->argc == words);
	FUZZ_CHECK(pop2_args_ok(c) == ref_args_ok(c));
}

/* HELO: user is rest up to the first SP, password all after that SP;
 * both non-empty. User, SP and password give rest again. On failure the
 * outputs are not looked at (the header promises nothing about them). */
static void check_helo(const struct pop2_command *c)
{
	struct word user = {NULL, 0}, pw = {NULL, 0};
	int rc = pop2_parse_helo(c, &user, &pw);
	size_t ulen = 0;
	bool ok;

	while (ulen < c->rest_len && c->rest[ulen] != ' ')
		ulen++;
	ok = ulen > 0 && ulen + 1 < c->rest_len;
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK((rc == 0) == ok);
	if (rc == 0) {
		FUZZ_CHECK(user.p == c->rest && user.len == ulen);
		FUZZ_CHECK(memchr(user.p, ' ', user.len) == NULL);
		FUZZ_CHECK(pw.p == c->rest + ulen + 1 && pw.len == c->rest_len - ulen - 1);
		FUZZ_CHECK(user.len > 0 && pw.len > 0);
		/* The user is the first argument. */
		FUZZ_CHECK(c->argc >= 1 && c->argv[0].p == user.p && c->argv[0].len == user.len);
	}
	/* A HELO with the right count and no SP before the user splits. */
	if (c->verb == POP2_VERB_HELO && pop2_args_ok(c) && c->rest_len > 0 && c->rest[0] != ' ')
		FUZZ_CHECK(rc == 0);
}

/* Build "line with the verb case-mapped" and compare the splits. */
static void check_case(const char *line, size_t len, const struct pop2_command *c, bool up)
{
	char *m = exact_copy(line, len);
	struct pop2_command d;

	for (size_t i = 0; i < c->verb_len; i++)
		m[i] = (char)(up ? upper((unsigned char)m[i]) : lower((unsigned char)m[i]));
	pop2_parse_command(m, len, &d);
	FUZZ_CHECK(d.verb == c->verb && d.verb_len == c->verb_len);
	FUZZ_CHECK(d.rest_len == c->rest_len && d.argc == c->argc);
	FUZZ_CHECK(pop2_args_ok(&d) == pop2_args_ok(c));
	check_split(m, len, &d);
	free(m);
}

/* "NAME arg1 arg2" rebuilt from a parse gives the same verb, arguments
 * and argument check. */
static void check_rebuild(const struct pop2_command *c)
{
	char *buf;
	size_t n = 4, cap;
	struct pop2_command d;

	if (c->verb == POP2_VERB_UNKNOWN || c->argc > POP2_ARGV_MAX)
		return;
	cap = 4 + c->rest_len + POP2_ARGV_MAX + 1;
	buf = malloc(cap);
	FUZZ_CHECK(buf != NULL);
	memcpy(buf, pop2_verb_name(c->verb), 4);
	for (size_t k = 0; k < c->argc; k++) {
		buf[n++] = ' ';
		memcpy(buf + n, c->argv[k].p, c->argv[k].len);
		n += c->argv[k].len;
	}
	FUZZ_CHECK(n <= cap);
	pop2_parse_command(buf, n, &d);
	FUZZ_CHECK(d.verb == c->verb && d.argc == c->argc);
	for (size_t k = 0; k < c->argc; k++)
		FUZZ_CHECK(d.argv[k].len == c->argv[k].len &&
			   memcmp(d.argv[k].p, c->argv[k].p, d.argv[k].len) == 0);
	FUZZ_CHECK(pop2_args_ok(&d) == pop2_args_ok(c));
	/* Rebuilt with single SPs, a two-word HELO always splits. */
	if (c->argc == 2) {
		struct word u, p;

		FUZZ_CHECK(pop2_parse_helo(&d, &u, &p) == 0);
		FUZZ_CHECK(u.len == c->argv[0].len && p.len == c->argv[1].len);
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line;
	struct pop2_command c;

	/* Lines are bounded by the line reader; stay near that bound. */
	if (size > 2 * POP2_CMD_LINE_MAX)
		return 0;
	check_verb_names();

	line = exact_copy((const char *)data, size);
	pop2_parse_command(line, size, &c);
	check_split(line, size, &c);
	check_case(line, size, &c, true);
	check_case(line, size, &c, false);
	check_rebuild(&c);
	check_helo(&c);

	check_msgno(line, size);
	check_msgno(c.verb_text, c.verb_len);
	check_msgno(c.rest, c.rest_len);
	for (size_t k = 0; k < c.argc && k < POP2_ARGV_MAX; k++)
		check_msgno(c.argv[k].p, c.argv[k].len);
	free(line);
	return 0;
}
