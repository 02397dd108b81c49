/* fuzz_pop3_parse: libFuzzer target for src/pop3/pop3_parse.h. The input
 * is one command line without CRLF, optionally followed by LF and a stored
 * message for the TOP cut. The line is split with pop3_parse_command and
 * its verb, rest and arguments go to pop3_args_ok, pop3_parse_msgno and
 * pop3_parse_count; the message goes through pop3_top_feed with the TOP
 * count of the line (when it has one) and a few fixed counts. Beyond "no
 * crash, no read past len" (inputs sit in heap blocks of their exact
 * length), it checks the contracts against plain reference readings: the
 * verb is found case-insensitively (upper- and lower-casing it changes
 * nothing), verb, SP and rest put back together give the line, arguments
 * are the SP-separated words of rest, argument counts follow the table in
 * the header, numbers are digits only and in range and print back to the
 * same value, and the TOP cut is the same fed whole, byte by byte and in
 * random splits, and is where the header doc says it is. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "pop3/pop3_parse.h"

static const char *const verbs[POP3_VERB_COUNT] = {
	[POP3_VERB_UNKNOWN] = "?",   [POP3_VERB_USER] = "USER", [POP3_VERB_PASS] = "PASS",
	[POP3_VERB_AUTH] = "AUTH",   [POP3_VERB_STLS] = "STLS", [POP3_VERB_CAPA] = "CAPA",
	[POP3_VERB_STAT] = "STAT",   [POP3_VERB_LIST] = "LIST", [POP3_VERB_RETR] = "RETR",
	[POP3_VERB_DELE] = "DELE",   [POP3_VERB_NOOP] = "NOOP", [POP3_VERB_RSET] = "RSET",
	[POP3_VERB_TOP] = "TOP",     [POP3_VERB_UIDL] = "UIDL", [POP3_VERB_LAST] = "LAST",
	[POP3_VERB_QUIT] = "QUIT",   [POP3_VERB_UTF8] = "UTF8",
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
	struct pop3_command c;
	char buf[POP3_VERB_MAX + 8];

	if (done)
		return;
	done = true;
	FUZZ_CHECK(strcmp(pop3_verb_name(POP3_VERB_UNKNOWN), "?") == 0);
	for (int v = 1; v < POP3_VERB_COUNT; v++) {
		const char *name = pop3_verb_name((enum pop3_verb)v);
		size_t n = strlen(name);

		FUZZ_CHECK(strcmp(name, verbs[v]) == 0 && n <= POP3_VERB_MAX);
		pop3_parse_command(name, n, &c);
		FUZZ_CHECK(c.verb == (enum pop3_verb)v && c.argc == 0 && c.rest_len == 0);
		memcpy(buf, name, n);
		memcpy(buf + n, " 1", 2);
		pop3_parse_command(buf, n + 2, &c);
		FUZZ_CHECK(c.verb == (enum pop3_verb)v && c.argc == 1 && c.rest_len == 1);
	}
}

/* Reference decimal reading: digits only, value (leading zeros allowed)
 * in *v, false on a non-digit, empty input or more than UINT64_MAX. */
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

static bool no_leading_zero(const char *s, size_t len)
{
	return len > 0 && s[0] != '0';
}

/* pop3_parse_msgno and pop3_parse_count on one string, against the
 * reference reading and each other; values print back to the same number
 * (and to the same text without leading zeros). A failure leaves *out
 * alone (the unit test relies on it too). */
static void check_numbers(const char *s, size_t len)
{
	char *p = exact_copy(s, len);
	uint64_t want, count = 777;
	uint32_t msgno = 777;
	bool ref_ok = ref_decimal(s, len, &want);
	int rm = pop3_parse_msgno(p, len, &msgno);
	int rc = pop3_parse_count(p, len, &count);
	char text[32];
	int n;

	FUZZ_CHECK(rm == 0 || rm == -1);
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK((rc == 0) == ref_ok);
	FUZZ_CHECK((rm == 0) == (ref_ok && want >= 1 && want <= POP3_MSGNO_MAX));
	if (rc == 0) {
		FUZZ_CHECK(count == want);
		n = snprintf(text, sizeof(text), "%" PRIu64, count);
		FUZZ_CHECK(n > 0 && (size_t)n < sizeof(text));
		FUZZ_CHECK(pop3_parse_count(text, (size_t)n, &want) == 0 && want == count);
		if (no_leading_zero(s, len) || len == 1)
			FUZZ_CHECK((size_t)n == len && memcmp(text, s, len) == 0);
	} else {
		FUZZ_CHECK(count == 777);
	}
	if (rm == 0) {
		uint32_t again = 0;

		FUZZ_CHECK(msgno >= 1 && msgno == count);
		n = snprintf(text, sizeof(text), "%" PRIu32, msgno);
		FUZZ_CHECK(n > 0 && (size_t)n < sizeof(text));
		FUZZ_CHECK(pop3_parse_msgno(text, (size_t)n, &again) == 0 && again == msgno);
	} else {
		FUZZ_CHECK(msgno == 777);
	}
	free(p);
}

/* Argument counts as the header lists them. */
static bool ref_args_ok(const struct pop3_command *c)
{
	switch (c->verb) {
	case POP3_VERB_PASS:
		return c->rest_len > 0;
	case POP3_VERB_USER:
	case POP3_VERB_RETR:
	case POP3_VERB_DELE:
		return c->argc == 1;
	case POP3_VERB_LIST:
	case POP3_VERB_UIDL:
		return c->argc <= 1;
	case POP3_VERB_TOP:
		return c->argc == 2;
	case POP3_VERB_AUTH:
		return c->argc <= 2;
	case POP3_VERB_STLS:
	case POP3_VERB_CAPA:
	case POP3_VERB_STAT:
	case POP3_VERB_NOOP:
	case POP3_VERB_RSET:
	case POP3_VERB_LAST:
	case POP3_VERB_QUIT:
	case POP3_VERB_UTF8:
		return c->argc == 0;
	default:
		return false;
	}
}

/* The structural contract of a split of line[0..len). */
static void check_split(const char *line, size_t len, const struct pop3_command *c)
{
	size_t vlen = 0, words = 0, i;
	enum pop3_verb want = POP3_VERB_UNKNOWN;
	const char *end;

	while (vlen < len && line[vlen] != ' ')
		vlen++;
	if (vlen <= POP3_VERB_MAX)
		for (int v = 1; v < POP3_VERB_COUNT; v++)
			if (eq_nocase(line, vlen, verbs[v]))
				want = (enum pop3_verb)v;
	FUZZ_CHECK(c->verb == want);
	FUZZ_CHECK(c->verb_text == line && c->verb_len == vlen);
	FUZZ_CHECK(strcmp(pop3_verb_name(c->verb), verbs[want]) == 0);
	if (want != POP3_VERB_UNKNOWN)
		for (i = 0; i < vlen; i++)
			FUZZ_CHECK(upper((unsigned char)line[i]) ==
				   (unsigned char)pop3_verb_name(c->verb)[i]);

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
		if (words < POP3_ARGV_MAX) {
			const struct word *a = &c->argv[words];

			FUZZ_CHECK(a->p == c->rest + start && a->len == wlen);
			FUZZ_CHECK(a->p >= c->rest && a->p + a->len <= end);
		}
		words++;
	}
	FUZZ_CHECK(c->argc == words);
	FUZZ_CHECK(pop3_args_ok(c) == ref_args_ok(c));
}

/* Build "line with the verb case-mapped" and compare the splits. */
static void check_case(const char *line, size_t len, const struct pop3_command *c, bool up)
{
	char *m = exact_copy(line, len);
	struct pop3_command d;

	for (size_t i = 0; i < c->verb_len; i++)
		m[i] = (char)(up ? upper((unsigned char)m[i]) : lower((unsigned char)m[i]));
	pop3_parse_command(m, len, &d);
	FUZZ_CHECK(d.verb == c->verb && d.verb_len == c->verb_len);
	FUZZ_CHECK(d.rest_len == c->rest_len && d.argc == c->argc);
	FUZZ_CHECK(pop3_args_ok(&d) == pop3_args_ok(c));
	check_split(m, len, &d);
	free(m);
}

/* "NAME arg1 arg2" rebuilt from a parse gives the same verb and
 * arguments. PASS is left out of the args_ok comparison: its rest may be
 * all spaces, which the rebuilt line drops. */
static void check_rebuild(const struct pop3_command *c)
{
	char *buf;
	size_t n, cap;
	struct pop3_command d;
	const char *name = pop3_verb_name(c->verb);

	if (c->verb == POP3_VERB_UNKNOWN || c->argc > POP3_ARGV_MAX)
		return;
	cap = strlen(name) + c->rest_len + POP3_ARGV_MAX + 1;
	buf = malloc(cap);
	FUZZ_CHECK(buf != NULL);
	n = strlen(name);
	memcpy(buf, name, n);
	for (size_t k = 0; k < c->argc; k++) {
		buf[n++] = ' ';
		memcpy(buf + n, c->argv[k].p, c->argv[k].len);
		n += c->argv[k].len;
	}
	FUZZ_CHECK(n <= cap);
	pop3_parse_command(buf, n, &d);
	FUZZ_CHECK(d.verb == c->verb && d.argc == c->argc);
	for (size_t k = 0; k < c->argc; k++)
		FUZZ_CHECK(d.argv[k].len == c->argv[k].len &&
			   memcmp(d.argv[k].p, c->argv[k].p, d.argv[k].len) == 0);
	if (c->verb != POP3_VERB_PASS)
		FUZZ_CHECK(pop3_args_ok(&d) == pop3_args_ok(c));
	free(buf);
}

/* Where TOP must cut msg, per the header: after the first blank line
 * (empty, or a lone CR before the LF), then after n more LFs; the whole
 * message when there is no blank line or too few lines. */
static size_t ref_top(const char *msg, size_t len, uint64_t n)
{
	size_t i = 0, start = 0;

	for (;;) {
		const char *lf = memchr(msg + start, '\n', len - start);
		size_t l;

		if (lf == NULL)
			return len;
		i = (size_t)(lf - msg);
		l = i - start;
		start = i + 1;
		if (l == 0 || (l == 1 && msg[i - 1] == '\r'))
			break;
	}
	if (n == 0)
		return start;
	for (i = start; i < len; i++)
		if (msg[i] == '\n' && --n == 0)
			return i + 1;
	return len;
}

/* Feeds msg in pieces (step 0: random sizes from rng) and returns how
 * much was sent, checking the feed contract on the way. */
static size_t top_run(const char *msg, size_t len, uint64_t n, size_t step, uint64_t *rng)
{
	struct pop3_top t;
	size_t sent = 0, off = 0;
	bool done = false;

	pop3_top_init(&t, n);
	FUZZ_CHECK(!t.done && t.lines_left == n);
	while (off < len) {
		size_t k, piece = step ? step : 1 + (size_t)(fuzz_rand(rng) % 64);
		char *p;

		if (piece > len - off)
			piece = len - off;
		p = exact_copy(msg + off, piece);
		done = true;
		k = pop3_top_feed(&t, p, piece, &done);
		free(p);
		FUZZ_CHECK(k <= piece);
		FUZZ_CHECK(t.done == done);
		sent += k;
		off += piece;
		if (done) {
			bool again = false;

			FUZZ_CHECK(pop3_top_feed(&t, "x\n", 2, &again) == 0 && again);
			FUZZ_CHECK(pop3_top_feed(&t, "", 0, &again) == 0 && again);
			return sent;
		}
		FUZZ_CHECK(k == piece);
	}
	/* An empty piece at the end changes nothing. */
	done = true;
	FUZZ_CHECK(pop3_top_feed(&t, "", 0, &done) == 0 && !done);
	return sent;
}

static void check_top(const char *msg, size_t len, uint64_t n, bool bytewise, uint64_t *rng)
{
	size_t want = ref_top(msg, len, n);

	FUZZ_CHECK(top_run(msg, len, n, len > 0 ? len : 1, rng) == want);
	FUZZ_CHECK(top_run(msg, len, n, 0, rng) == want);
	if (bytewise)
		FUZZ_CHECK(top_run(msg, len, n, 1, rng) == want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *lf = memchr(in, '\n', size);
	size_t len = lf != NULL ? (size_t)(lf - in) : size;
	char *line;
	struct pop3_command c;
	uint64_t rng = fuzz_hash(data, size), n;

	/* Lines are bounded by the line reader; stay near that bound. */
	if (len > 2 * POP3_CMD_LINE_MAX || size > (1u << 20))
		return 0;
	check_verb_names();

	line = exact_copy(in, len);
	pop3_parse_command(line, len, &c);
	check_split(line, len, &c);
	check_case(line, len, &c, true);
	check_case(line, len, &c, false);
	check_rebuild(&c);

	check_numbers(line, len);
	check_numbers(c.verb_text, c.verb_len);
	check_numbers(c.rest, c.rest_len);
	for (size_t k = 0; k < c.argc && k < POP3_ARGV_MAX; k++)
		check_numbers(c.argv[k].p, c.argv[k].len);

	if (lf != NULL) {
		const char *msg = lf + 1;
		size_t mlen = size - len - 1;
		static const uint64_t fixed[] = {0, 1, 2, 3, UINT64_MAX};

		/* The line's own TOP count first (byte by byte too), then
		 * a few fixed ones and one from the input hash. */
		if (c.verb == POP3_VERB_TOP && c.argc >= 2 &&
		    pop3_parse_count(c.argv[1].p, c.argv[1].len, &n) == 0)
			check_top(msg, mlen, n, true, &rng);
		else
			check_top(msg, mlen, fuzz_rand(&rng) % 8, true, &rng);
		for (size_t k = 0; k < sizeof(fixed) / sizeof(fixed[0]); k++)
			check_top(msg, mlen, fixed[k], false, &rng);
	}
	free(line);
	return 0;
}
