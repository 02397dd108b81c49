/* fuzz_smtp_parse: libFuzzer target for src/proto/smtp_parse.h. The input is
 * one command line without CRLF. It is split with smtp_parse_verb and its
 * arguments are given to every argument parser (MAIL, RCPT with and
 * without SMTPUTF8, BDAT, HELO, bare paths with every flag combination), so
 * one corpus covers them all. Beyond "no crash, no read past len" (inputs
 * sit in heap blocks of their exact length), it checks the contracts:
 * outputs stay in bounds, an accepted address formatted with
 * smtp_addr_format re-parses to the same struct, a HELO name is accepted
 * exactly when it is accepted as an address domain, BDAT sizes match a
 * plain decimal reading of the digits. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "proto/smtp_parse.h"

static unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
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

static bool addr_equal(const struct smtp_addr *a, const struct smtp_addr *b)
{
	return a->is_null == b->is_null && a->is_postmaster == b->is_postmaster &&
	       a->has_utf8 == b->has_utf8 && a->is_literal == b->is_literal &&
	       a->local_len == b->local_len && memcmp(a->local, b->local, a->local_len) == 0 &&
	       strcmp(a->domain, b->domain) == 0;
}

/* Invariants of any accepted address, then the format/re-parse round
 * trip. The source route is dropped by the parser, so the re-parsed form
 * has had_route false and is otherwise identical. */
static void check_addr(const struct smtp_addr *a, bool allow_utf8, bool allow_null)
{
	char text[SMTP_PATH_MAX - 1];
	char *path;
	struct smtp_addr again;
	size_t dlen = strlen(a->domain);
	int n;

	FUZZ_CHECK(a->local_len <= SMTP_LOCAL_MAX);
	FUZZ_CHECK(a->local[a->local_len] == '\0');
	FUZZ_CHECK(dlen <= SMTP_DOMAIN_MAX);
	FUZZ_CHECK(!a->is_null || allow_null);
	FUZZ_CHECK(!a->has_utf8 || allow_utf8);
	FUZZ_CHECK(!(a->is_null && a->is_postmaster));
	if (a->is_null) {
		FUZZ_CHECK(a->local_len == 0 && dlen == 0);
	} else if (a->is_postmaster) {
		FUZZ_CHECK(dlen == 0 && strcmp(a->local, "postmaster") == 0);
	} else {
		FUZZ_CHECK(a->local_len > 0 && dlen > 0);
		FUZZ_CHECK(a->is_literal == (a->domain[0] == '['));
		for (size_t i = 0; i < dlen && !a->is_literal; i++)
			FUZZ_CHECK(!(a->domain[i] >= 'A' && a->domain[i] <= 'Z'));
	}

	/* smtp_parse_path promises SMTP_PATH_MAX - 1 bytes always suffice. */
	n = smtp_addr_format(a, text, sizeof(text));
	FUZZ_CHECK(n >= 0 && (size_t)n < sizeof(text) && strlen(text) == (size_t)n);
	/* Too small by one must fail cleanly with "". */
	if (n > 0) {
		char *small = malloc((size_t)n);

		FUZZ_CHECK(small != NULL);
		FUZZ_CHECK(smtp_addr_format(a, small, (size_t)n) == -1 && small[0] == '\0');
		free(small);
	}
	FUZZ_CHECK(smtp_addr_format(a, NULL, 0) == -1);

	path = malloc((size_t)n + 2);
	FUZZ_CHECK(path != NULL);
	path[0] = '<';
	memcpy(path + 1, text, (size_t)n);
	path[n + 1] = '>';
	FUZZ_CHECK(smtp_parse_path(path, (size_t)n + 2, a->has_utf8, a->is_null, &again) ==
		   SMTP_PERR_OK);
	FUZZ_CHECK(!again.had_route);
	FUZZ_CHECK(addr_equal(a, &again));
	free(path);

	/* The domain of an address is a valid HELO name and back (ASCII
	 * only: HELO takes no U-labels). */
	if (!a->is_null && !a->is_postmaster && !a->has_utf8)
		FUZZ_CHECK(smtp_is_valid_helo(a->domain, dlen));
}

static bool is_xtext(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 33 || c > 126 || c == '=')
			return false;
	}
	return true;
}

static void check_mail(const char *args, size_t len)
{
	struct smtp_addr a;
	struct smtp_mail_params mp;
	char *p = exact_copy(args, len);

	if (smtp_parse_mail(p, len, &a, &mp) == SMTP_PERR_OK) {
		FUZZ_CHECK(!a.is_postmaster);
		FUZZ_CHECK(!a.has_utf8 || mp.smtputf8);
		FUZZ_CHECK(mp.has_size || mp.size == 0);
		FUZZ_CHECK(strlen(mp.envid) <= 100 && is_xtext(mp.envid));
		FUZZ_CHECK(strlen(mp.auth) <= SMTP_PATH_MAX + 2 && is_xtext(mp.auth));
		FUZZ_CHECK(mp.body <= SMTP_BODY_BINARYMIME && mp.ret <= SMTP_RET_HDRS);
		check_addr(&a, mp.smtputf8, true);
	}
	free(p);
}

static void check_rcpt(const char *args, size_t len, bool utf8)
{
	struct smtp_addr a;
	struct smtp_rcpt_params rp;
	char *p = exact_copy(args, len);

	if (smtp_parse_rcpt(p, len, utf8, &a, &rp) == SMTP_PERR_OK) {
		FUZZ_CHECK(!a.is_null);
		FUZZ_CHECK(rp.notify == 0 || rp.notify == SMTP_NOTIFY_NEVER ||
			   (rp.notify & ~(SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE |
					  SMTP_NOTIFY_DELAY)) == 0);
		FUZZ_CHECK(strlen(rp.orcpt) <= SMTP_ORCPT_MAX);
		FUZZ_CHECK(rp.orcpt[0] == '\0' || strchr(rp.orcpt, ';') != NULL);
		check_addr(&a, utf8, false);
	}
	free(p);
}

static void check_path(const char *s, size_t len)
{
	char *p = exact_copy(s, len);

	for (int flags = 0; flags < 4; flags++) {
		bool utf8 = flags & 1, null = flags & 2;
		struct smtp_addr a;
		enum smtp_parse_err err = smtp_parse_path(p, len, utf8, null, &a);

		FUZZ_CHECK(smtp_parse_strerror(err) != NULL);
		if (err == SMTP_PERR_OK)
			check_addr(&a, utf8, null);
	}
	free(p);
}

/* Oracle for BDAT: digits, then optionally spaces and LAST. */
static void check_bdat(const char *args, size_t len)
{
	char *p = exact_copy(args, len);
	uint64_t size = 12345, want = 0;
	bool last = true, overflow = false;
	size_t i = 0, j;
	int rc = smtp_parse_bdat(p, len, &size, &last);
	bool ok;

	while (i < len && args[i] >= '0' && args[i] <= '9') {
		if (__builtin_mul_overflow(want, 10u, &want) ||
		    __builtin_add_overflow(want, (uint64_t)(args[i] - '0'), &want))
			overflow = true;
		i++;
	}
	ok = i > 0 && i <= 20 && !overflow;
	j = i;
	if (ok && j < len) {
		ok = args[j] == ' ';
		while (j < len && args[j] == ' ')
			j++;
		ok = ok && eq_nocase(args + j, len - j, "LAST");
	}
	FUZZ_CHECK((rc == 0) == ok);
	if (rc == 0)
		FUZZ_CHECK(size == want && last == (i < len));
	else
		FUZZ_CHECK(size == 12345 && last);
	free(p);
}

/* smtp_is_valid_helo(d) must agree with smtp_parse_path("<x@d>"), which
 * uses the same domain and literal grammar. */
static void check_helo(const char *args, size_t len)
{
	char *p = exact_copy(args, len);
	bool ok = smtp_is_valid_helo(p, len);

	if (ok) {
		FUZZ_CHECK(len > 0 && len <= SMTP_DOMAIN_MAX);
		FUZZ_CHECK(memchr(args, ' ', len) == NULL);
	}
	if (len > 0 && len + 4 <= SMTP_PATH_MAX && memchr(args, '>', len) == NULL) {
		char *path = malloc(len + 4);
		struct smtp_addr a;
		enum smtp_parse_err err;

		FUZZ_CHECK(path != NULL);
		memcpy(path, "<x@", 3);
		memcpy(path + 3, args, len);
		path[len + 3] = '>';
		err = smtp_parse_path(path, len + 4, false, false, &a);
		FUZZ_CHECK((err == SMTP_PERR_OK) == ok);
		free(path);
	}
	free(p);
}

static const char *const verbs[SMTP_VERB_COUNT] = {
	[SMTP_VERB_HELO] = "HELO", [SMTP_VERB_EHLO] = "EHLO", [SMTP_VERB_MAIL] = "MAIL",
	[SMTP_VERB_RCPT] = "RCPT", [SMTP_VERB_DATA] = "DATA", [SMTP_VERB_BDAT] = "BDAT",
	[SMTP_VERB_RSET] = "RSET", [SMTP_VERB_VRFY] = "VRFY", [SMTP_VERB_EXPN] = "EXPN",
	[SMTP_VERB_HELP] = "HELP", [SMTP_VERB_NOOP] = "NOOP", [SMTP_VERB_QUIT] = "QUIT",
	[SMTP_VERB_STARTTLS] = "STARTTLS", [SMTP_VERB_AUTH] = "AUTH", [SMTP_VERB_ETRN] = "ETRN",
	[SMTP_VERB_TURN] = "TURN", [SMTP_VERB_SEND] = "SEND", [SMTP_VERB_SOML] = "SOML",
	[SMTP_VERB_SAML] = "SAML",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data;
	char *copy;
	const char *args;
	size_t args_len, vlen = 0, off;
	enum smtp_verb verb, want = SMTP_VERB_UNKNOWN;

	/* Lines are bounded by the line reader; stay near that bound. */
	if (size > 2 * SMTP_CMD_LINE_MAX)
		return 0;
	copy = exact_copy(line, size);
	verb = smtp_parse_verb(copy, size, &args, &args_len);
	while (vlen < size && line[vlen] != ' ')
		vlen++;
	for (int v = 1; v < SMTP_VERB_COUNT; v++)
		if (eq_nocase(line, vlen, verbs[v]))
			want = (enum smtp_verb)v;
	FUZZ_CHECK(verb == want);
	FUZZ_CHECK(args >= copy && args <= copy + size);
	off = (size_t)(args - copy);
	FUZZ_CHECK(args_len <= size - off);
	if (args_len > 0) {
		FUZZ_CHECK(off > vlen && args[0] != ' ');
		FUZZ_CHECK(args[args_len - 1] != ' ' && args[args_len - 1] != '\t');
	}
	/* Work on the original bytes at the same offset: the copy goes. */
	args = line + off;
	free(copy);

	check_mail(args, args_len);
	check_rcpt(args, args_len, false);
	check_rcpt(args, args_len, true);
	check_bdat(args, args_len);
	check_helo(args, args_len);
	check_path(args, args_len);
	if (off > 0)
		check_path(line, size);
	return 0;
}
