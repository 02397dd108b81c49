/* smtp_parse_test: table-driven tests for smtp_parse. Every input is copied
 * into a heap block of exactly its length (no NUL after it), and every
 * proper prefix of it is parsed too, so that ASan catches any read past
 * len; explicit prefix cases check that bytes after len are ignored.
 * Cases follow RFC 5321 4.1.2/4.1.3/4.5.3.1, RFC 3461, RFC 3030 and
 * RFC 6531/6533. */
#include "proto/smtp_parse.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* String literal with its length, so that inputs may contain NUL bytes. */
#define S(x) .in = (x), .len = sizeof(x) - 1

#define GREEK_LOCAL "\xce\xb4\xce\xbf\xce\xba\xce\xb9\xce\xbc\xce\xae" /* δοκιμή */
#define GREEK_DOMAIN                                                        \
	"\xcf\x80\xce\xb1\xcf\x81\xce\xac\xce\xb4\xce\xb5\xce\xb9\xce\xb3"  \
	"\xce\xbc\xce\xb1." GREEK_LOCAL /* παράδειγμα.δοκιμή */

/* Heap copy of exactly len bytes: reading s[len] is a heap overflow. */
static char *exact_copy(const char *s, size_t len)
{
	char *p = malloc(len);

	if (len > 0) {
		assert_non_null(p);
		memcpy(p, s, len);
	}
	return p;
}

/* ---- smtp_parse_path ---------------------------------------------- */

struct path_case {
	const char *in;
	size_t len;
	bool utf8;
	bool null;
	enum smtp_parse_err err;
	const char *local; /* expected on SMTP_PERR_OK */
	const char *domain;
	bool is_null;
	bool is_postmaster;
	bool is_literal;
	bool had_route;
	bool has_utf8;
};

static const struct path_case path_cases[] = {
	/* RFC 5321 4.1.2 basics */
	{ S("<a@b>"), .local = "a", .domain = "b" },
	{ S("<a.b@c>"), .local = "a.b", .domain = "c" },
	{ S("<User.Name@Example.COM>"), .local = "User.Name", .domain = "example.com" },
	{ S("<a@sub.example.org>"), .local = "a", .domain = "sub.example.org" },
	{ S("<!#$%&'*+-/=?^_`{|}~@x>"), .local = "!#$%&'*+-/=?^_`{|}~", .domain = "x" },
	{ S("<a@1.2.3.4>"), .local = "a", .domain = "1.2.3.4" },
	{ S("<a@xn--bcher-kva.example>"), .local = "a", .domain = "xn--bcher-kva.example" },
	{ S("<a@b-c.d>"), .local = "a", .domain = "b-c.d" },
	/* lenient: '_' in labels, like Postfix */
	{ S("<a@my_host.example>"), .local = "a", .domain = "my_host.example" },
	{ S("<a@_dmarc.example>"), .local = "a", .domain = "_dmarc.example" },
	/* Quoted-string local parts, decoded */
	{ S("<\"John Doe\"@example.com>"), .local = "John Doe", .domain = "example.com" },
	{ S("<\"a\\\"b\"@x>"), .local = "a\"b", .domain = "x" },
	{ S("<\"a\\\\b\"@x>"), .local = "a\\b", .domain = "x" },
	{ S("<\"a>b\"@x>"), .local = "a>b", .domain = "x" },
	{ S("<\"\\a\"@x>"), .local = "a", .domain = "x" },
	{ S("<\"a..b\"@x>"), .local = "a..b", .domain = "x" },
	{ S("<\" \"@x>"), .local = " ", .domain = "x" },
	/* open-relay tricks are plain local parts of the given domain */
	{ S("<user%remote@local>"), .local = "user%remote", .domain = "local" },
	{ S("<remote!user@local>"), .local = "remote!user", .domain = "local" },
	{ S("<\"user@remote\"@local>"), .local = "user@remote", .domain = "local" },
	{ S("<\"user%remote@other\"@local>"), .local = "user%remote@other", .domain = "local" },
	/* address literals (RFC 5321 4.1.3), kept as sent */
	{ S("<user@[192.168.1.1]>"), .local = "user", .domain = "[192.168.1.1]",
	  .is_literal = true },
	{ S("<user@[001.002.003.255]>"), .local = "user", .domain = "[001.002.003.255]",
	  .is_literal = true },
	{ S("<user@[IPv6:::1]>"), .local = "user", .domain = "[IPv6:::1]", .is_literal = true },
	{ S("<user@[ipv6:2001:DB8::1]>"), .local = "user", .domain = "[ipv6:2001:DB8::1]",
	  .is_literal = true },
	{ S("<user@[IPv6:::ffff:1.2.3.4]>"), .local = "user", .domain = "[IPv6:::ffff:1.2.3.4]",
	  .is_literal = true },
	{ S("<user@[x-tag:Some-Text:here]>"), .local = "user", .domain = "[x-tag:Some-Text:here]",
	  .is_literal = true },
	/* source routes: parsed, dropped */
	{ S("<@a.example,@b.example:user@c.example>"), .local = "user", .domain = "c.example",
	  .had_route = true },
	{ S("<@A:u@B>"), .local = "u", .domain = "b", .had_route = true },
	/* null path and postmaster */
	{ S("<>"), .null = true, .local = "", .domain = "", .is_null = true },
	{ S("<>"), .err = SMTP_PERR_NULL_NOT_ALLOWED },
	{ S("<postmaster>"), .local = "postmaster", .domain = "", .is_postmaster = true },
	{ S("<PostMaster>"), .local = "postmaster", .domain = "", .is_postmaster = true },
	{ S("<postmaster@Example.com>"), .local = "postmaster", .domain = "example.com" },
	/* RFC 6531: UTF-8 local parts and U-labels */
	{ S("<" GREEK_LOCAL "@" GREEK_DOMAIN ">"), .utf8 = true, .local = GREEK_LOCAL,
	  .domain = GREEK_DOMAIN, .has_utf8 = true },
	{ S("<" GREEK_LOCAL "@" GREEK_DOMAIN ">"), .err = SMTP_PERR_NEED_SMTPUTF8 },
	{ S("<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a>"),
	  .utf8 = true, .local = "\xe7\x94\xa8\xe6\x88\xb7",
	  .domain = "\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", .has_utf8 = true },
	{ S("<a@EXAMPLE.\xce\x94\xce\x9f>"), .utf8 = true, .local = "a",
	  .domain = "example.\xce\x94\xce\x9f", .has_utf8 = true },
	{ S("<\"\xce\xb4 x\"@b>"), .utf8 = true, .local = "\xce\xb4 x", .domain = "b",
	  .has_utf8 = true },
	{ S("<\xf0\x9f\x98\x80@b>"), .utf8 = true, .local = "\xf0\x9f\x98\x80", .domain = "b",
	  .has_utf8 = true },
	{ S("<\xf4\x8f\xbf\xbf@b>"), .utf8 = true, .local = "\xf4\x8f\xbf\xbf", .domain = "b",
	  .has_utf8 = true },
	{ S("<\xef\xbf\xbd@b>"), .utf8 = true, .local = "\xef\xbf\xbd", .domain = "b",
	  .has_utf8 = true },
	{ S("<a@b>"), .utf8 = true, .local = "a", .domain = "b" },
	{ S("<a@b\xc3\xa9>"), .err = SMTP_PERR_NEED_SMTPUTF8 },
	{ S("<\xff@b>"), .err = SMTP_PERR_NEED_SMTPUTF8 },
	{ S("<\"\xc3\xa9\"@b>"), .err = SMTP_PERR_NEED_SMTPUTF8 },

	/* no brackets */
	{ S(""), .err = SMTP_PERR_SYNTAX },
	{ S("<"), .err = SMTP_PERR_SYNTAX },
	{ S(">"), .err = SMTP_PERR_SYNTAX },
	{ S("a@b"), .err = SMTP_PERR_SYNTAX },
	{ S("<a@b"), .err = SMTP_PERR_SYNTAX },
	{ S("a@b>"), .err = SMTP_PERR_SYNTAX },
	{ S("<a@b>x"), .err = SMTP_PERR_SYNTAX },
	{ S("<a@b> "), .err = SMTP_PERR_SYNTAX },
	{ S(" <a@b>"), .err = SMTP_PERR_SYNTAX },
	/* dot-string errors */
	{ S("<a..b@c>"), .err = SMTP_PERR_ADDR },
	{ S("<.a@c>"), .err = SMTP_PERR_ADDR },
	{ S("<a.@c>"), .err = SMTP_PERR_ADDR },
	{ S("<@c>"), .err = SMTP_PERR_ADDR },
	{ S("<a>"), .err = SMTP_PERR_ADDR },
	{ S("<a@>"), .err = SMTP_PERR_ADDR },
	{ S("<a@b@c>"), .err = SMTP_PERR_ADDR },
	{ S("<a b@c>"), .err = SMTP_PERR_ADDR },
	{ S("< a@b>"), .err = SMTP_PERR_ADDR },
	{ S("<a@b >"), .err = SMTP_PERR_ADDR },
	{ S("<a\tb@c>"), .err = SMTP_PERR_ADDR },
	{ S("<a,b@c>"), .err = SMTP_PERR_ADDR },
	{ S("<a(b)@c>"), .err = SMTP_PERR_ADDR },
	{ S("<a[b@c>"), .err = SMTP_PERR_ADDR },
	{ S("<a;b@c>"), .err = SMTP_PERR_ADDR },
	{ S("<a:b@c>"), .err = SMTP_PERR_ADDR },
	{ S("<a<b@c>"), .err = SMTP_PERR_ADDR },
	{ S("<a>b@c>"), .err = SMTP_PERR_ADDR },
	{ S("<a\\b@c>"), .err = SMTP_PERR_ADDR },
	{ S("<a\x7f@c>"), .err = SMTP_PERR_ADDR },
	{ S("<a\0b@c>"), .err = SMTP_PERR_ADDR },
	{ S("<a@b\0c>"), .err = SMTP_PERR_ADDR },
	{ S("<a@b>\0"), .err = SMTP_PERR_SYNTAX },
	/* quoted-string errors */
	{ S("<\"a@b>"), .err = SMTP_PERR_ADDR },
	{ S("<a\"b@c>"), .err = SMTP_PERR_ADDR },
	{ S("<\"a\"b@c>"), .err = SMTP_PERR_ADDR },
	{ S("<\"a\"\"b\"@c>"), .err = SMTP_PERR_ADDR },
	{ S("<\"a\\\"@c>"), .err = SMTP_PERR_ADDR },
	{ S("<\"\"@c>"), .err = SMTP_PERR_ADDR },
	{ S("<\"a\x01\"@c>"), .err = SMTP_PERR_ADDR },
	{ S("<\"a\tb\"@c>"), .err = SMTP_PERR_ADDR },
	{ S("<\"a\\\x01\"@c>"), .err = SMTP_PERR_ADDR },
	{ S("<\"a\0b\"@c>"), .err = SMTP_PERR_ADDR },
	{ S("<\"a\\\xc3\xa9\"@c>"), .utf8 = true, .err = SMTP_PERR_ADDR },
	/* domain errors */
	{ S("<a@b..c>"), .err = SMTP_PERR_ADDR },
	{ S("<a@.b>"), .err = SMTP_PERR_ADDR },
	{ S("<a@b.c.>"), .err = SMTP_PERR_ADDR },
	{ S("<a@-b.c>"), .err = SMTP_PERR_ADDR },
	{ S("<a@b-.c>"), .err = SMTP_PERR_ADDR },
	{ S("<a@b.-c>"), .err = SMTP_PERR_ADDR },
	{ S("<a@b-->"), .err = SMTP_PERR_ADDR },
	{ S("<a@b%c>"), .err = SMTP_PERR_ADDR },
	{ S("<a@b!c>"), .err = SMTP_PERR_ADDR },
	{ S("<a@b:c>"), .err = SMTP_PERR_ADDR },
	{ S("<a@\"b\">"), .err = SMTP_PERR_ADDR },
	/* literal errors */
	{ S("<a@[1.2.3]>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[1.2.3.4.5]>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[1.2.3.256]>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[1.2.3.0004]>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[1..2.3]>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[1.2.3.4.]>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[]>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[ 1.2.3.4]>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[1.2.3.4 ]>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[1.2.3.4>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[1.2.3.4]x>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[1.2.3.4].b>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[IPv6:zz]>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[IPv6:]>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[IPv6:1.2.3.4]>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[IPv6:1:2:3:4:5:6:7:8:9]>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[IPv6:fe80::1%eth0]>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[::1]>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[tag:]>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[tag-:x]>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[t_g:x]>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[x:a b]>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[x:a\\b]>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[x:a[b]>"), .err = SMTP_PERR_ADDR },
	{ S("<a@[x:\xc3\xa9]>"), .utf8 = true, .err = SMTP_PERR_ADDR },
	/* source route errors */
	{ S("<@a,b:u@c>"), .err = SMTP_PERR_ADDR },
	{ S("<@a:>"), .err = SMTP_PERR_ADDR },
	{ S("<@:u@c>"), .err = SMTP_PERR_ADDR },
	{ S("<@a u@c>"), .err = SMTP_PERR_ADDR },
	{ S("<@a,@b>"), .err = SMTP_PERR_ADDR },
	{ S("<@[1.2.3.4]:u@c>"), .err = SMTP_PERR_ADDR },
	{ S("<@a:@b:u@c>"), .err = SMTP_PERR_ADDR },
	{ S("<@a:postmaster>"), .err = SMTP_PERR_ADDR },
	{ S("<postmaster@>"), .err = SMTP_PERR_ADDR },
	{ S("<postmaster >"), .err = SMTP_PERR_ADDR },
	/* ill-formed UTF-8 (RFC 3629 10), even when UTF-8 is allowed */
	{ S("<\xc0\x80@b>"), .utf8 = true, .err = SMTP_PERR_ADDR },
	{ S("<\xc1\xbf@b>"), .utf8 = true, .err = SMTP_PERR_ADDR },
	{ S("<\xe0\x80\xaf@b>"), .utf8 = true, .err = SMTP_PERR_ADDR },
	{ S("<\xf0\x8f\xbf\xbf@b>"), .utf8 = true, .err = SMTP_PERR_ADDR },
	{ S("<\xed\xa0\x80@b>"), .utf8 = true, .err = SMTP_PERR_ADDR },
	{ S("<\xed\xbf\xbf@b>"), .utf8 = true, .err = SMTP_PERR_ADDR },
	{ S("<\xf4\x90\x80\x80@b>"), .utf8 = true, .err = SMTP_PERR_ADDR },
	{ S("<\xf5\x80\x80\x80@b>"), .utf8 = true, .err = SMTP_PERR_ADDR },
	{ S("<\xff@b>"), .utf8 = true, .err = SMTP_PERR_ADDR },
	{ S("<\xfe@b>"), .utf8 = true, .err = SMTP_PERR_ADDR },
	{ S("<\x80@b>"), .utf8 = true, .err = SMTP_PERR_ADDR },
	{ S("<a\xbf@b>"), .utf8 = true, .err = SMTP_PERR_ADDR },
	{ S("<\xc3@b>"), .utf8 = true, .err = SMTP_PERR_ADDR },
	{ S("<\xe2\x82@b>"), .utf8 = true, .err = SMTP_PERR_ADDR },
	{ S("<a@b\xc3>"), .utf8 = true, .err = SMTP_PERR_ADDR },
	{ S("<a@\xed\xa0\x80.b>"), .utf8 = true, .err = SMTP_PERR_ADDR },
	{ S("<\"\xc3\"@b>"), .utf8 = true, .err = SMTP_PERR_ADDR },
	{ S("<\"\xe0\x80\x80\"@b>"), .utf8 = true, .err = SMTP_PERR_ADDR },
};

static void check_path(size_t idx, const struct path_case *c)
{
	struct smtp_addr a;
	enum smtp_parse_err err;
	char *in = exact_copy(c->in, c->len);
	size_t k;

	err = smtp_parse_path(in, c->len, c->utf8, c->null, &a);
	if (err != c->err)
		fail_msg("path case %zu \"%.*s\": got %d (%s), want %d", idx, (int)c->len, c->in,
			 err, smtp_parse_strerror(err), c->err);
	if (err == SMTP_PERR_OK) {
		if (a.local_len != strlen(c->local) || memcmp(a.local, c->local, a.local_len) != 0 ||
		    a.local[a.local_len] != '\0')
			fail_msg("path case %zu: local \"%s\", want \"%s\"", idx, a.local, c->local);
		if (strcmp(a.domain, c->domain) != 0)
			fail_msg("path case %zu: domain \"%s\", want \"%s\"", idx, a.domain,
				 c->domain);
		if (a.is_null != c->is_null || a.is_postmaster != c->is_postmaster ||
		    a.is_literal != c->is_literal || a.had_route != c->had_route ||
		    a.has_utf8 != c->has_utf8)
			fail_msg("path case %zu: flags null=%d pm=%d lit=%d route=%d utf8=%d", idx,
				 a.is_null, a.is_postmaster, a.is_literal, a.had_route, a.has_utf8);
	} else {
		assert_int_equal(a.local_len, 0);
		assert_int_equal(a.domain[0], '\0');
	}
	free(in);
	/* every proper prefix, each in its own exact-size block */
	for (k = 0; k < c->len; k++) {
		in = exact_copy(c->in, k);
		(void)smtp_parse_path(in, k, c->utf8, c->null, &a);
		free(in);
	}
}

static void test_path_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++)
		check_path(i, &path_cases[i]);
}

/* Fills buf with "<" local "@" domain ">" where local is llen 'a's and
 * the domain is dlen bytes of 63-octet labels; returns the length. */
static size_t build_path(char *buf, size_t size, size_t llen, size_t dlen, size_t label)
{
	size_t n = 0, i;

	assert_true(llen + dlen + 3 <= size);
	buf[n++] = '<';
	memset(buf + n, 'a', llen);
	n += llen;
	buf[n++] = '@';
	for (i = 0; i < dlen; i++)
		buf[n++] = (i % (label + 1) == label) ? '.' : 'b';
	buf[n++] = '>';
	return n;
}

static void test_path_lengths(void **state)
{
	char buf[600], *in;
	struct smtp_addr a;
	size_t n;

	(void)state;
	/* 64-octet local part is the maximum (RFC 5321 4.5.3.1.1) */
	n = build_path(buf, sizeof(buf), 64, 1, 63);
	in = exact_copy(buf, n);
	assert_int_equal(smtp_parse_path(in, n, false, false, &a), SMTP_PERR_OK);
	assert_int_equal(a.local_len, 64);
	free(in);
	n = build_path(buf, sizeof(buf), 65, 1, 63);
	in = exact_copy(buf, n);
	assert_int_equal(smtp_parse_path(in, n, false, false, &a), SMTP_PERR_ADDR_TOO_LONG);
	free(in);
	/* the limit counts quotes: "62 chars" is 64 octets, "63 chars" 65 */
	memcpy(buf, "<\"", 2);
	memset(buf + 2, 'x', 62);
	memcpy(buf + 64, "\"@b>", 4);
	assert_int_equal(smtp_parse_path(buf, 68, false, false, &a), SMTP_PERR_OK);
	assert_int_equal(a.local_len, 62);
	memcpy(buf, "<\"", 2);
	memset(buf + 2, 'x', 63);
	memcpy(buf + 65, "\"@b>", 4);
	assert_int_equal(smtp_parse_path(buf, 69, false, false, &a), SMTP_PERR_ADDR_TOO_LONG);
	/* labels: 63 fine, 64 not (RFC 1035 2.3.4) */
	n = build_path(buf, sizeof(buf), 1, 63, 63);
	assert_int_equal(smtp_parse_path(buf, n, false, false, &a), SMTP_PERR_OK);
	n = build_path(buf, sizeof(buf), 1, 64, 64);
	assert_int_equal(smtp_parse_path(buf, n, false, false, &a), SMTP_PERR_ADDR);
	/* whole path: 256 octets with brackets is the maximum */
	n = build_path(buf, sizeof(buf), 64, 189, 63);
	assert_int_equal(n, 256);
	in = exact_copy(buf, n);
	assert_int_equal(smtp_parse_path(in, n, false, false, &a), SMTP_PERR_OK);
	assert_int_equal(strlen(a.domain), 189);
	free(in);
	n = build_path(buf, sizeof(buf), 64, 190, 63);
	assert_int_equal(smtp_parse_path(buf, n, false, false, &a), SMTP_PERR_ADDR_TOO_LONG);
	n = build_path(buf, sizeof(buf), 10, 500, 63);
	assert_int_equal(smtp_parse_path(buf, n, false, false, &a), SMTP_PERR_ADDR_TOO_LONG);
}

static void test_path_prefix(void **state)
{
	static const char buf[] = "<a@b>xyz";
	struct smtp_addr a;

	(void)state;
	assert_int_equal(smtp_parse_path(buf, 5, false, false, &a), SMTP_PERR_OK);
	assert_string_equal(a.domain, "b");
	assert_int_equal(smtp_parse_path(buf, 4, false, false, &a), SMTP_PERR_SYNTAX);
	assert_int_equal(smtp_parse_path("<ab@cd>", 6, false, false, &a), SMTP_PERR_SYNTAX);
	assert_int_equal(smtp_parse_path("<>>", 2, false, true, &a), SMTP_PERR_OK);
	assert_true(a.is_null);
	assert_int_equal(smtp_parse_path("<postmaster>x", 12, false, false, &a), SMTP_PERR_OK);
	assert_true(a.is_postmaster);
}

/* ---- smtp_parse_mail ---------------------------------------------- */

struct mail_case {
	const char *in;
	size_t len;
	enum smtp_parse_err err;
	const char *local;
	const char *domain;
	bool is_null;
	bool has_size;
	uint64_t size;
	enum smtp_body body;
	bool smtputf8;
	bool requiretls;
	enum smtp_ret ret;
	const char *envid;
	const char *auth;
};

static const struct mail_case mail_cases[] = {
	{ S("FROM:<a@b>"), .local = "a", .domain = "b" },
	{ S("from:<a@B>"), .local = "a", .domain = "b" },
	{ S("From: <a@b>"), .local = "a", .domain = "b" },
	{ S("FROM:<>"), .local = "", .domain = "", .is_null = true },
	{ S("FROM:<> SIZE=10"), .local = "", .domain = "", .is_null = true, .has_size = true,
	  .size = 10 },
	{ S("FROM:<@r.example:a@b>"), .local = "a", .domain = "b" },
	{ S("FROM:<\"a b\"@c> SIZE=5"), .local = "a b", .domain = "c", .has_size = true,
	  .size = 5 },
	{ S("FROM:<\"a>b\"@c>"), .local = "a>b", .domain = "c" },
	{ S("FROM:<user%remote@local>"), .local = "user%remote", .domain = "local" },
	{ S("FROM:<a@b> SIZE=0"), .local = "a", .domain = "b", .has_size = true, .size = 0 },
	{ S("FROM:<a@b> size=1000"), .local = "a", .domain = "b", .has_size = true,
	  .size = 1000 },
	{ S("FROM:<a@b> SIZE=18446744073709551615"), .local = "a", .domain = "b",
	  .has_size = true, .size = UINT64_MAX },
	{ S("FROM:<a@b> SIZE=00000000000000000001"), .local = "a", .domain = "b",
	  .has_size = true, .size = 1 },
	{ S("FROM:<a@b>   SIZE=10    BODY=8BITMIME  "), .local = "a", .domain = "b",
	  .has_size = true, .size = 10, .body = SMTP_BODY_8BITMIME },
	{ S("FROM:<a@b> BODY=7bit"), .local = "a", .domain = "b", .body = SMTP_BODY_7BIT },
	{ S("FROM:<a@b> body=BinaryMIME"), .local = "a", .domain = "b",
	  .body = SMTP_BODY_BINARYMIME },
	{ S("FROM:<a@b> SMTPUTF8"), .local = "a", .domain = "b", .smtputf8 = true },
	{ S("FROM:<a@b> REQUIRETLS"), .local = "a", .domain = "b", .requiretls = true },
	{ S("FROM:<a@b> requiretls SIZE=1"), .local = "a", .domain = "b", .requiretls = true,
	  .has_size = true, .size = 1 },
	{ S("FROM:<a@b> REQUIRETLS=1"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> REQUIRETLS REQUIRETLS"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<" GREEK_LOCAL "@" GREEK_DOMAIN "> SMTPUTF8 BODY=8BITMIME"),
	  .local = GREEK_LOCAL, .domain = GREEK_DOMAIN, .smtputf8 = true,
	  .body = SMTP_BODY_8BITMIME },
	{ S("FROM:<a@b> smtputf8"), .local = "a", .domain = "b", .smtputf8 = true },
	{ S("FROM:<a@b> RET=HDRS ENVID=QQ+2B314159"), .local = "a", .domain = "b",
	  .ret = SMTP_RET_HDRS, .envid = "QQ+2B314159" },
	{ S("FROM:<a@b> ret=full"), .local = "a", .domain = "b", .ret = SMTP_RET_FULL },
	{ S("FROM:<a@b> AUTH=<>"), .local = "a", .domain = "b", .auth = "<>" },
	{ S("FROM:<a@b> AUTH=e+2Bx@example.com"), .local = "a", .domain = "b",
	  .auth = "e+2Bx@example.com" },

	/* RFC 6531 3.4: UTF-8 needs SMTPUTF8 on this very command */
	{ S("FROM:<" GREEK_LOCAL "@b>"), .err = SMTP_PERR_NEED_SMTPUTF8 },
	{ S("FROM:<" GREEK_LOCAL "@b> BODY=8BITMIME"), .err = SMTP_PERR_NEED_SMTPUTF8 },
	{ S("FROM:<\xff@b>"), .err = SMTP_PERR_NEED_SMTPUTF8 },
	{ S("FROM:<\xff@b> SMTPUTF8"), .err = SMTP_PERR_ADDR },
	{ S("FROM:<" GREEK_LOCAL "@b> SMTPUTF8=yes"), .err = SMTP_PERR_PARAM_VALUE },
	/* command syntax */
	{ S(""), .err = SMTP_PERR_SYNTAX },
	{ S("FROM"), .err = SMTP_PERR_SYNTAX },
	{ S("FROM:"), .err = SMTP_PERR_SYNTAX },
	{ S("FROM:a@b"), .err = SMTP_PERR_SYNTAX },
	{ S("FROM:<a@b"), .err = SMTP_PERR_SYNTAX },
	{ S("FROM:a@b>"), .err = SMTP_PERR_SYNTAX },
	{ S("FROM:  <a@b>"), .err = SMTP_PERR_SYNTAX },
	{ S("FROM :<a@b>"), .err = SMTP_PERR_SYNTAX },
	{ S("FROM <a@b>"), .err = SMTP_PERR_SYNTAX },
	{ S(" FROM:<a@b>"), .err = SMTP_PERR_SYNTAX },
	{ S("FROM:\t<a@b>"), .err = SMTP_PERR_SYNTAX },
	{ S("FROM:<a@b>SIZE=1"), .err = SMTP_PERR_SYNTAX },
	{ S("FROM:<a@b>x"), .err = SMTP_PERR_SYNTAX },
	{ S("FROM:<\"a@b>"), .err = SMTP_PERR_SYNTAX },
	{ S("TO:<a@b>"), .err = SMTP_PERR_SYNTAX },
	{ S("FROM:<a@b>\tSIZE=1"), .err = SMTP_PERR_SYNTAX },
	/* address */
	{ S("FROM:<postmaster>"), .err = SMTP_PERR_ADDR },
	{ S("FROM:<a..b@c>"), .err = SMTP_PERR_ADDR },
	{ S("FROM:<a@b\0>"), .err = SMTP_PERR_ADDR },
	{ S("FROM:<a@b.>"), .err = SMTP_PERR_ADDR },
	{ S("FROM:<a\"b@c>"), .err = SMTP_PERR_SYNTAX },
	/* parameters are checked first */
	{ S("FROM:<a..b@c> FOO=1"), .err = SMTP_PERR_PARAM_UNKNOWN },
	/* keyword syntax */
	{ S("FROM:<a@b> =1"), .err = SMTP_PERR_SYNTAX },
	{ S("FROM:<a@b> -X=1"), .err = SMTP_PERR_SYNTAX },
	{ S("FROM:<a@b> SI_ZE=1"), .err = SMTP_PERR_SYNTAX },
	{ S("FROM:<a@b> SIZE\0=1"), .err = SMTP_PERR_SYNTAX },
	/* unknown */
	{ S("FROM:<a@b> FOO=bar"), .err = SMTP_PERR_PARAM_UNKNOWN },
	{ S("FROM:<a@b> X-FOO"), .err = SMTP_PERR_PARAM_UNKNOWN },
	{ S("FROM:<a@b> NOTIFY=NEVER"), .err = SMTP_PERR_PARAM_UNKNOWN },
	{ S("FROM:<a@b> ORCPT=rfc822;a@b"), .err = SMTP_PERR_PARAM_UNKNOWN },
	{ S("FROM:<a@b> SIZES=1"), .err = SMTP_PERR_PARAM_UNKNOWN },
	/* values */
	{ S("FROM:<a@b> SIZE"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> SIZE="), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> SIZE=-1"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> SIZE=+1"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> SIZE=1a"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> SIZE= 1"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> SIZE=1=2"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> SIZE=1\t"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> SIZE=1\0"), .err = SMTP_PERR_PARAM_VALUE },
	/* 20 digits are legal (RFC 1870); beyond 2^64-1 saturates. */
	{ S("FROM:<a@b> SIZE=18446744073709551616"), .local = "a", .domain = "b",
	  .has_size = true, .size = UINT64_MAX },
	{ S("FROM:<a@b> SIZE=99999999999999999999"), .local = "a", .domain = "b",
	  .has_size = true, .size = UINT64_MAX },
	{ S("FROM:<a@b> SIZE=000000000000000000001"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> BODY=8BIT"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> BODY"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> RET=NONE"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> RET"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> ENVID=a+2b"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> ENVID=a+2"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> ENVID=a+"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> ENVID=a+G0"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> ENVID=\xc3\xa9"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> ENVID"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> AUTH=a\x7f"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> AUTH=a+2"), .err = SMTP_PERR_PARAM_VALUE },
	/* duplicates */
	{ S("FROM:<a@b> SIZE=1 SIZE=2"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> SIZE=1 size=1"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> SMTPUTF8 SMTPUTF8"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> BODY=7BIT BODY=7BIT"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> RET=FULL RET=HDRS"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> ENVID=x ENVID=x"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("FROM:<a@b> AUTH=<>  AUTH=<>"), .err = SMTP_PERR_PARAM_VALUE },
};

static void check_mail(size_t idx, const struct mail_case *c)
{
	struct smtp_addr a;
	struct smtp_mail_params p;
	enum smtp_parse_err err;
	char *in = exact_copy(c->in, c->len);
	size_t k;

	err = smtp_parse_mail(in, c->len, &a, &p);
	if (err != c->err)
		fail_msg("mail case %zu \"%.*s\": got %d (%s), want %d", idx, (int)c->len, c->in,
			 err, smtp_parse_strerror(err), c->err);
	if (err == SMTP_PERR_OK) {
		if (strcmp(a.local, c->local) != 0 || strcmp(a.domain, c->domain) != 0 ||
		    a.is_null != c->is_null)
			fail_msg("mail case %zu: addr \"%s\"@\"%s\" null=%d", idx, a.local, a.domain,
				 a.is_null);
		if (p.has_size != c->has_size || p.size != c->size || p.body != c->body ||
		    p.smtputf8 != c->smtputf8 || p.ret != c->ret || p.requiretls != c->requiretls)
			fail_msg("mail case %zu: params size=%d/%llu body=%d utf8=%d ret=%d", idx,
				 p.has_size, (unsigned long long)p.size, p.body, p.smtputf8, p.ret);
		if (strcmp(p.envid, c->envid ? c->envid : "") != 0 ||
		    strcmp(p.auth, c->auth ? c->auth : "") != 0)
			fail_msg("mail case %zu: envid \"%s\" auth \"%s\"", idx, p.envid, p.auth);
	} else {
		assert_false(p.has_size);
		assert_int_equal(a.local_len, 0);
	}
	free(in);
	for (k = 0; k < c->len; k++) {
		in = exact_copy(c->in, k);
		(void)smtp_parse_mail(in, k, &a, &p);
		free(in);
	}
}

static void test_mail_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]); i++)
		check_mail(i, &mail_cases[i]);
}

static void test_mail_long_values(void **state)
{
	char buf[700], *in;
	struct smtp_addr a;
	struct smtp_mail_params p;
	size_t n;

	(void)state;
	/* ENVID: at most 100 characters (RFC 3461 4.4) */
	n = (size_t)snprintf(buf, sizeof(buf), "FROM:<a@b> ENVID=");
	memset(buf + n, 'E', 100);
	n += 100;
	in = exact_copy(buf, n);
	assert_int_equal(smtp_parse_mail(in, n, &a, &p), SMTP_PERR_OK);
	assert_int_equal(strlen(p.envid), 100);
	free(in);
	buf[n++] = 'E';
	assert_int_equal(smtp_parse_mail(buf, n, &a, &p), SMTP_PERR_PARAM_VALUE);
	/* AUTH: at most SMTP_PATH_MAX + 2, never truncated */
	n = (size_t)snprintf(buf, sizeof(buf), "FROM:<a@b> AUTH=");
	memset(buf + n, 'x', SMTP_PATH_MAX + 2);
	n += SMTP_PATH_MAX + 2;
	assert_int_equal(smtp_parse_mail(buf, n, &a, &p), SMTP_PERR_OK);
	assert_int_equal(strlen(p.auth), SMTP_PATH_MAX + 2);
	buf[n++] = 'x';
	assert_int_equal(smtp_parse_mail(buf, n, &a, &p), SMTP_PERR_PARAM_VALUE);
}

static void test_mail_prefix(void **state)
{
	static const char line[] = "FROM:<a@b> SIZE=100 BODY=8BITMIME";
	struct smtp_addr a;
	struct smtp_mail_params p;

	(void)state;
	assert_int_equal(smtp_parse_mail(line, 18, &a, &p), SMTP_PERR_OK);
	assert_true(p.has_size);
	assert_int_equal(p.size, 10);
	assert_int_equal(p.body, SMTP_BODY_NONE);
	assert_int_equal(smtp_parse_mail(line, 10, &a, &p), SMTP_PERR_OK);
	assert_false(p.has_size);
	assert_int_equal(smtp_parse_mail(line, 9, &a, &p), SMTP_PERR_SYNTAX);
	assert_int_equal(smtp_parse_mail(line, 29, &a, &p), SMTP_PERR_PARAM_VALUE); /* BODY=8BIT */
	assert_int_equal(smtp_parse_mail("FROM:<a@b> SMTPUTF8=", 19, &a, &p), SMTP_PERR_OK);
	assert_true(p.smtputf8);
	assert_int_equal(smtp_parse_mail("FROM:<a@b> ENVID=A+2B", 19, &a, &p),
			 SMTP_PERR_PARAM_VALUE);
}

/* ---- smtp_parse_rcpt ---------------------------------------------- */

struct rcpt_case {
	const char *in;
	size_t len;
	bool utf8;
	enum smtp_parse_err err;
	const char *local;
	const char *domain;
	bool is_postmaster;
	unsigned notify;
	const char *orcpt;
};

static const struct rcpt_case rcpt_cases[] = {
	{ S("TO:<a@b>"), .local = "a", .domain = "b" },
	{ S("to: <A@B>"), .local = "A", .domain = "b" },
	{ S("TO:<postmaster>"), .local = "postmaster", .domain = "", .is_postmaster = true },
	{ S("TO:<POSTMASTER> NOTIFY=NEVER"), .local = "postmaster", .domain = "",
	  .is_postmaster = true, .notify = SMTP_NOTIFY_NEVER },
	{ S("TO:<@x.example:a@b>"), .local = "a", .domain = "b" },
	/* relay tricks stay local parts of the named domain */
	{ S("TO:<user%remote@local>"), .local = "user%remote", .domain = "local" },
	{ S("TO:<remote!user@local>"), .local = "remote!user", .domain = "local" },
	{ S("TO:<\"user@remote\"@local>"), .local = "user@remote", .domain = "local" },
	{ S("TO:<a@b> NOTIFY=SUCCESS,FAILURE,DELAY"), .local = "a", .domain = "b",
	  .notify = SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY },
	{ S("TO:<a@b> notify=never"), .local = "a", .domain = "b",
	  .notify = SMTP_NOTIFY_NEVER },
	{ S("TO:<a@b> NOTIFY=delay,Failure"), .local = "a", .domain = "b",
	  .notify = SMTP_NOTIFY_DELAY | SMTP_NOTIFY_FAILURE },
	{ S("TO:<a@b> NOTIFY=SUCCESS,SUCCESS"), .local = "a", .domain = "b",
	  .notify = SMTP_NOTIFY_SUCCESS },
	{ S("TO:<a@b> ORCPT=rfc822;a@b"), .local = "a", .domain = "b", .orcpt = "rfc822;a@b" },
	{ S("TO:<a@b>  ORCPT=RFC822;a+2Bb@c  NOTIFY=FAILURE "), .local = "a", .domain = "b",
	  .orcpt = "RFC822;a+2Bb@c", .notify = SMTP_NOTIFY_FAILURE },
	{ S("TO:<a@b> ORCPT=utf-8;\\x{3B4}@b"), .local = "a", .domain = "b",
	  .orcpt = "utf-8;\\x{3B4}@b" },
	{ S("TO:<a@b> ORCPT=utf-8;\xce\xb4@b"), .utf8 = true, .local = "a", .domain = "b",
	  .orcpt = "utf-8;\xce\xb4@b" },
	{ S("TO:<" GREEK_LOCAL "@" GREEK_DOMAIN ">"), .utf8 = true, .local = GREEK_LOCAL,
	  .domain = GREEK_DOMAIN },

	{ S("TO:<>"), .err = SMTP_PERR_NULL_NOT_ALLOWED },
	{ S("TO:<" GREEK_LOCAL "@" GREEK_DOMAIN ">"), .err = SMTP_PERR_NEED_SMTPUTF8 },
	{ S("TO:<a@b> SMTPUTF8"), .utf8 = true, .err = SMTP_PERR_PARAM_UNKNOWN },
	{ S("TO:a@b"), .err = SMTP_PERR_SYNTAX },
	{ S("TO:<a@b"), .err = SMTP_PERR_SYNTAX },
	{ S("TO:  <a@b>"), .err = SMTP_PERR_SYNTAX },
	{ S("FROM:<a@b>"), .err = SMTP_PERR_SYNTAX },
	{ S("T:<a@b>"), .err = SMTP_PERR_SYNTAX },
	{ S("TO:<a@b>NOTIFY=NEVER"), .err = SMTP_PERR_SYNTAX },
	{ S("TO:<a@b..c>"), .err = SMTP_PERR_ADDR },
	{ S("TO:<a@b> SIZE=1"), .err = SMTP_PERR_PARAM_UNKNOWN },
	{ S("TO:<a@b> BODY=8BITMIME"), .err = SMTP_PERR_PARAM_UNKNOWN },
	{ S("TO:<a@b> NOTIFY"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("TO:<a@b> NOTIFY="), .err = SMTP_PERR_PARAM_VALUE },
	{ S("TO:<a@b> NOTIFY=NEVER,SUCCESS"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("TO:<a@b> NOTIFY=SUCCESS,NEVER"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("TO:<a@b> NOTIFY=NEVER,NEVER"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("TO:<a@b> NOTIFY=SUCCESS,"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("TO:<a@b> NOTIFY=,SUCCESS"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("TO:<a@b> NOTIFY=SUCCESS,,DELAY"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("TO:<a@b> NOTIFY=SUCCESS;DELAY"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("TO:<a@b> NOTIFY=ALWAYS"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("TO:<a@b> NOTIFY=DELAY NOTIFY=DELAY"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("TO:<a@b> ORCPT"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("TO:<a@b> ORCPT=rfc822"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("TO:<a@b> ORCPT=rfc822;"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("TO:<a@b> ORCPT=;a@b"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("TO:<a@b> ORCPT=rf(c;a@b"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("TO:<a@b> ORCPT=rfc822;a+zz"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("TO:<a@b> ORCPT=rfc822;a=b"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("TO:<a@b> ORCPT=utf-8;\xce\xb4@b"), .err = SMTP_PERR_PARAM_VALUE },
	{ S("TO:<a@b> ORCPT=rfc822;\xce\xb4@b"), .utf8 = true, .err = SMTP_PERR_PARAM_VALUE },
	{ S("TO:<a@b> ORCPT=utf-8;\xc0\x80@b"), .utf8 = true, .err = SMTP_PERR_PARAM_VALUE },
	{ S("TO:<a@b> ORCPT=rfc822;a@b ORCPT=rfc822;a@b"), .err = SMTP_PERR_PARAM_VALUE },
};

static void check_rcpt(size_t idx, const struct rcpt_case *c)
{
	struct smtp_addr a;
	struct smtp_rcpt_params p;
	enum smtp_parse_err err;
	char *in = exact_copy(c->in, c->len);
	size_t k;

	err = smtp_parse_rcpt(in, c->len, c->utf8, &a, &p);
	if (err != c->err)
		fail_msg("rcpt case %zu \"%.*s\": got %d (%s), want %d", idx, (int)c->len, c->in,
			 err, smtp_parse_strerror(err), c->err);
	if (err == SMTP_PERR_OK) {
		if (strcmp(a.local, c->local) != 0 || strcmp(a.domain, c->domain) != 0 ||
		    a.is_postmaster != c->is_postmaster)
			fail_msg("rcpt case %zu: addr \"%s\"@\"%s\" pm=%d", idx, a.local, a.domain,
				 a.is_postmaster);
		if (p.notify != c->notify || strcmp(p.orcpt, c->orcpt ? c->orcpt : "") != 0)
			fail_msg("rcpt case %zu: notify %u orcpt \"%s\"", idx, p.notify, p.orcpt);
	} else {
		assert_int_equal(p.notify, 0);
		assert_int_equal(a.local_len, 0);
	}
	free(in);
	for (k = 0; k < c->len; k++) {
		in = exact_copy(c->in, k);
		(void)smtp_parse_rcpt(in, k, c->utf8, &a, &p);
		free(in);
	}
}

static void test_rcpt_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]); i++)
		check_rcpt(i, &rcpt_cases[i]);
}

static void test_rcpt_orcpt_length(void **state)
{
	char buf[700];
	struct smtp_addr a;
	struct smtp_rcpt_params p;
	size_t n, head;

	(void)state;
	head = (size_t)snprintf(buf, sizeof(buf), "TO:<a@b> ORCPT=rfc822;");
	/* RFC 3461 4.2: the whole ORCPT value may be 500 characters */
	n = head + (SMTP_ORCPT_MAX - strlen("rfc822;"));
	memset(buf + head, 'x', n - head);
	assert_int_equal(smtp_parse_rcpt(buf, n, false, &a, &p), SMTP_PERR_OK);
	assert_int_equal(strlen(p.orcpt), SMTP_ORCPT_MAX);
	buf[n++] = 'x';
	assert_int_equal(smtp_parse_rcpt(buf, n, false, &a, &p), SMTP_PERR_PARAM_VALUE);
}

static void test_rcpt_prefix(void **state)
{
	static const char line[] = "TO:<a@b> NOTIFY=SUCCESS,DELAY";
	struct smtp_addr a;
	struct smtp_rcpt_params p;

	(void)state;
	assert_int_equal(smtp_parse_rcpt(line, 23, false, &a, &p), SMTP_PERR_OK);
	assert_int_equal(p.notify, SMTP_NOTIFY_SUCCESS);
	assert_int_equal(smtp_parse_rcpt(line, 24, false, &a, &p), SMTP_PERR_PARAM_VALUE);
	assert_int_equal(smtp_parse_rcpt(line, 8, false, &a, &p), SMTP_PERR_OK);
	assert_int_equal(p.notify, 0);
	assert_int_equal(smtp_parse_rcpt(line, 7, false, &a, &p), SMTP_PERR_SYNTAX);
}

/* ---- smtp_parse_verb ---------------------------------------------- */

struct verb_case {
	const char *in;
	size_t len;
	enum smtp_verb verb;
	const char *args;
};

static const struct verb_case verb_cases[] = {
	{ S("MAIL FROM:<a@b>"), SMTP_VERB_MAIL, "FROM:<a@b>" },
	{ S("mail FROM:<a@b> SIZE=1"), SMTP_VERB_MAIL, "FROM:<a@b> SIZE=1" },
	{ S("MaIl    FROM:<a@b>  \t "), SMTP_VERB_MAIL, "FROM:<a@b>" },
	{ S("MAIL"), SMTP_VERB_MAIL, "" },
	{ S("MAIL "), SMTP_VERB_MAIL, "" },
	{ S("MAIL   \t"), SMTP_VERB_MAIL, "" },
	{ S("MAILX"), SMTP_VERB_UNKNOWN, "" },
	{ S("MAI"), SMTP_VERB_UNKNOWN, "" },
	{ S("XMAIL FROM:<a@b>"), SMTP_VERB_UNKNOWN, "FROM:<a@b>" },
	{ S("MAIL\tFROM:<a@b>"), SMTP_VERB_UNKNOWN, "" },
	{ S(" MAIL FROM:<a@b>"), SMTP_VERB_UNKNOWN, "MAIL FROM:<a@b>" },
	{ S("RCPT TO:<a@b>"), SMTP_VERB_RCPT, "TO:<a@b>" },
	{ S("EHLO example.com"), SMTP_VERB_EHLO, "example.com" },
	{ S("helo x"), SMTP_VERB_HELO, "x" },
	{ S("HELO"), SMTP_VERB_HELO, "" },
	{ S("DATA"), SMTP_VERB_DATA, "" },
	{ S("data\t"), SMTP_VERB_UNKNOWN, "" },
	{ S("BDAT 100 LAST"), SMTP_VERB_BDAT, "100 LAST" },
	{ S("NOOP \t"), SMTP_VERB_NOOP, "" },
	{ S("NOOP a b  c"), SMTP_VERB_NOOP, "a b  c" },
	{ S("STARTTLS"), SMTP_VERB_STARTTLS, "" },
	{ S("starttls"), SMTP_VERB_STARTTLS, "" },
	{ S("STARTTL"), SMTP_VERB_UNKNOWN, "" },
	{ S("STARTTLSX"), SMTP_VERB_UNKNOWN, "" },
	{ S("AUTH PLAIN dGVzdA=="), SMTP_VERB_AUTH, "PLAIN dGVzdA==" },
	{ S("QUIT"), SMTP_VERB_QUIT, "" },
	{ S("RSET\0"), SMTP_VERB_UNKNOWN, "" },
	{ S(""), SMTP_VERB_UNKNOWN, "" },
	{ S(" "), SMTP_VERB_UNKNOWN, "" },
	{ S("\xc3\xa9"), SMTP_VERB_UNKNOWN, "" },
};

static void test_verb_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(verb_cases) / sizeof(verb_cases[0]); i++) {
		const struct verb_case *c = &verb_cases[i];
		char *in = exact_copy(c->in, c->len);
		const char *args = NULL;
		size_t args_len = 99;
		enum smtp_verb v = smtp_parse_verb(in, c->len, &args, &args_len);

		if (v != c->verb || args_len != strlen(c->args) ||
		    memcmp(args, c->args, args_len) != 0)
			fail_msg("verb case %zu \"%.*s\": verb %d args \"%.*s\"", i, (int)c->len,
				 c->in, v, (int)args_len, args);
		assert_true(args >= in && args + args_len <= in + c->len);
		free(in);
	}
}

static void test_verb_all(void **state)
{
	static const struct {
		const char *name;
		enum smtp_verb verb;
	} all[] = {
		{ "HELO", SMTP_VERB_HELO },	    { "EHLO", SMTP_VERB_EHLO },
		{ "MAIL", SMTP_VERB_MAIL },	    { "RCPT", SMTP_VERB_RCPT },
		{ "DATA", SMTP_VERB_DATA },	    { "BDAT", SMTP_VERB_BDAT },
		{ "RSET", SMTP_VERB_RSET },	    { "VRFY", SMTP_VERB_VRFY },
		{ "EXPN", SMTP_VERB_EXPN },	    { "HELP", SMTP_VERB_HELP },
		{ "NOOP", SMTP_VERB_NOOP },	    { "QUIT", SMTP_VERB_QUIT },
		{ "STARTTLS", SMTP_VERB_STARTTLS }, { "AUTH", SMTP_VERB_AUTH },
		{ "ETRN", SMTP_VERB_ETRN },	    { "TURN", SMTP_VERB_TURN },
		{ "SEND", SMTP_VERB_SEND },	    { "SOML", SMTP_VERB_SOML },
		{ "SAML", SMTP_VERB_SAML },
	};
	char buf[32];
	const char *args;
	size_t i, j, n, args_len;

	(void)state;
	assert_int_equal(sizeof(all) / sizeof(all[0]), SMTP_VERB_COUNT - 1);
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		n = strlen(all[i].name);
		assert_int_equal(smtp_parse_verb(all[i].name, n, &args, &args_len), all[i].verb);
		for (j = 0; j < n; j++)
			buf[j] = (char)(all[i].name[j] | 0x20);
		assert_int_equal(smtp_parse_verb(buf, n, &args, &args_len), all[i].verb);
		memcpy(buf + n, " x", 2);
		assert_int_equal(smtp_parse_verb(buf, n + 2, &args, &args_len), all[i].verb);
		assert_int_equal(args_len, 1);
		assert_int_equal(args[0], 'x');
		/* the verb must end at SP or end of line */
		buf[n] = 'x';
		assert_int_equal(smtp_parse_verb(buf, n + 1, &args, &args_len), SMTP_VERB_UNKNOWN);
		assert_int_equal(smtp_parse_verb(buf, n - 1, &args, &args_len), SMTP_VERB_UNKNOWN);
	}
	/* prefix: "MAILX" cut at 4 is "MAIL" */
	assert_int_equal(smtp_parse_verb("MAILX", 4, &args, &args_len), SMTP_VERB_MAIL);
	assert_int_equal(args_len, 0);
	assert_int_equal(smtp_parse_verb("DATA xyz", 5, &args, &args_len), SMTP_VERB_DATA);
	assert_int_equal(args_len, 0);
}

/* ---- smtp_parse_bdat ---------------------------------------------- */

struct bdat_case {
	const char *in;
	size_t len;
	int ret;
	uint64_t size;
	bool last;
};

static const struct bdat_case bdat_cases[] = {
	{ S("0"), 0, 0, false },
	{ S("0 LAST"), 0, 0, true },
	{ S("123"), 0, 123, false },
	{ S("123 LAST"), 0, 123, true },
	{ S("123 last"), 0, 123, true },
	{ S("123 LaSt"), 0, 123, true },
	{ S("1  LAST"), 0, 1, true },
	{ S("0123"), 0, 123, false },
	{ S("18446744073709551615"), 0, UINT64_MAX, false },
	{ S("18446744073709551615 LAST"), 0, UINT64_MAX, true },
	{ S(""), -1, 0, false },
	{ S(" "), -1, 0, false },
	{ S("-1"), -1, 0, false },
	{ S("+1"), -1, 0, false },
	{ S("12a"), -1, 0, false },
	{ S("1 LAST x"), -1, 0, false },
	{ S("1 LASTX"), -1, 0, false },
	{ S("1 LAS"), -1, 0, false },
	{ S("1 "), -1, 0, false },
	{ S("1 LAST "), -1, 0, false },
	{ S(" 1"), -1, 0, false },
	{ S("1\tLAST"), -1, 0, false },
	{ S("LAST"), -1, 0, false },
	{ S("1 1"), -1, 0, false },
	{ S("1\0"), -1, 0, false },
	{ S("18446744073709551616"), -1, 0, false },
	{ S("99999999999999999999"), -1, 0, false },
	{ S("000000000000000000001"), -1, 0, false },
};

static void test_bdat_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bdat_cases) / sizeof(bdat_cases[0]); i++) {
		const struct bdat_case *c = &bdat_cases[i];
		char *in = exact_copy(c->in, c->len);
		uint64_t size = 7;
		bool last = true;
		int r = smtp_parse_bdat(in, c->len, &size, &last);

		if (r != c->ret)
			fail_msg("bdat case %zu \"%.*s\": got %d", i, (int)c->len, c->in, r);
		if (r == 0 && (size != c->size || last != c->last))
			fail_msg("bdat case %zu: size %llu last %d", i, (unsigned long long)size,
				 last);
		if (r < 0 && (size != 7 || !last))
			fail_msg("bdat case %zu: outputs touched on error", i);
		free(in);
	}
}

static void test_bdat_prefix(void **state)
{
	uint64_t size;
	bool last;

	(void)state;
	assert_int_equal(smtp_parse_bdat("12 LAST", 2, &size, &last), 0);
	assert_int_equal(size, 12);
	assert_false(last);
	assert_int_equal(smtp_parse_bdat("123", 2, &size, &last), 0);
	assert_int_equal(size, 12);
	assert_int_equal(smtp_parse_bdat("1 LASTX", 6, &size, &last), 0);
	assert_true(last);
}

/* ---- smtp_is_valid_helo ------------------------------------------- */

struct helo_case {
	const char *in;
	size_t len;
	bool ok;
};

static const struct helo_case helo_cases[] = {
	{ S("example.com"), true },
	{ S("EXAMPLE.COM"), true },
	{ S("localhost"), true },
	{ S("a"), true },
	{ S("my_host.example"), true },
	{ S("mail-1.example.org"), true },
	{ S("xn--bcher-kva.ch"), true },
	{ S("[192.168.1.1]"), true },
	{ S("[IPv6:::1]"), true },
	{ S("[IPv6:2001:db8::25]"), true },
	{ S(""), false },
	{ S("example.com."), false },
	{ S(".example"), false },
	{ S("a..b"), false },
	{ S("-a.b"), false },
	{ S("a-.b"), false },
	{ S("exa mple"), false },
	{ S("example.com x"), false },
	{ S("example.com "), false },
	{ S("a@b"), false },
	{ S("host\0"), false },
	{ S("\xce\xb4.com"), false },
	{ S("[1.2.3]"), false },
	{ S("[1.2.3.4"), false },
	{ S("[1.2.3.4] x"), false },
	{ S("[IPv6:zz]"), false },
	{ S("[]"), false },
	{ S("1.2.3.4]"), false },
};

static void test_helo_table(void **state)
{
	char buf[300];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(helo_cases) / sizeof(helo_cases[0]); i++) {
		const struct helo_case *c = &helo_cases[i];
		char *in = exact_copy(c->in, c->len);

		if (smtp_is_valid_helo(in, c->len) != c->ok)
			fail_msg("helo case %zu \"%.*s\": want %d", i, (int)c->len, c->in, c->ok);
		free(in);
	}
	/* label 63 ok, 64 not; total 255 ok, 256 not */
	memset(buf, 'h', 64);
	assert_true(smtp_is_valid_helo(buf, 63));
	assert_false(smtp_is_valid_helo(buf, 64));
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (i % 64 == 63) ? '.' : 'h';
	assert_true(smtp_is_valid_helo(buf, 255));
	assert_false(smtp_is_valid_helo(buf, 256));
	/* prefix */
	assert_true(smtp_is_valid_helo("example.com.", 11));
	assert_true(smtp_is_valid_helo("ab cd", 2));
}

/* ---- smtp_addr_format --------------------------------------------- */

struct fmt_case {
	const char *in;
	size_t len;
	const char *out;
};

static const struct fmt_case fmt_cases[] = {
	{ S("<a@b>"), "a@b" },
	{ S("<A.B@Example.COM>"), "A.B@example.com" },
	{ S("<\"John Doe\"@example.com>"), "\"John Doe\"@example.com" },
	{ S("<\"a\\\"b\"@x>"), "\"a\\\"b\"@x" },
	{ S("<\"a\\\\b\"@x>"), "\"a\\\\b\"@x" },
	{ S("<\"abc\"@x>"), "abc@x" },
	{ S("<\"\\a\\b\\c\"@x>"), "abc@x" },
	{ S("<\"a..b\"@x>"), "\"a..b\"@x" },
	{ S("<\".a\"@x>"), "\".a\"@x" },
	{ S("<\"a.\"@x>"), "\"a.\"@x" },
	{ S("<\"a@b\"@x>"), "\"a@b\"@x" },
	{ S("<\"a>b\"@x>"), "\"a>b\"@x" },
	{ S("<\" \"@x>"), "\" \"@x" },
	{ S("<user%remote@local>"), "user%remote@local" },
	{ S("<@r:a@B>"), "a@b" },
	{ S("<>"), "" },
	{ S("<postmaster>"), "postmaster" },
	{ S("<POSTMASTER>"), "postmaster" },
	{ S("<a@[IPv6:::1]>"), "a@[IPv6:::1]" },
	{ S("<a@[1.2.3.4]>"), "a@[1.2.3.4]" },
	{ S("<" GREEK_LOCAL "@" GREEK_DOMAIN ">"), GREEK_LOCAL "@" GREEK_DOMAIN },
	{ S("<\"\xce\xb4 x\"@b>"), "\"\xce\xb4 x\"@b" },
};

static void test_format_table(void **state)
{
	char out[600], wrapped[610];
	struct smtp_addr a, b;
	size_t i, n;
	int r;

	(void)state;
	for (i = 0; i < sizeof(fmt_cases) / sizeof(fmt_cases[0]); i++) {
		const struct fmt_case *c = &fmt_cases[i];

		assert_int_equal(smtp_parse_path(c->in, c->len, true, true, &a), SMTP_PERR_OK);
		r = smtp_addr_format(&a, out, sizeof(out));
		if (r < 0 || strcmp(out, c->out) != 0 || (size_t)r != strlen(c->out))
			fail_msg("format case %zu: got %d \"%s\", want \"%s\"", i, r, out, c->out);
		/* round trip: the formatted address parses to the same thing */
		n = (size_t)snprintf(wrapped, sizeof(wrapped), "<%s>", out);
		assert_int_equal(smtp_parse_path(wrapped, n, true, true, &b), SMTP_PERR_OK);
		if (b.local_len != a.local_len || memcmp(b.local, a.local, a.local_len) != 0 ||
		    strcmp(b.domain, a.domain) != 0 || b.is_null != a.is_null ||
		    b.is_postmaster != a.is_postmaster)
			fail_msg("format case %zu: round trip \"%s\" differs", i, wrapped);
		/* never longer than the path as sent without its brackets */
		assert_true((size_t)r <= c->len - 2);
		/* exact buffer fits, one byte less does not */
		assert_int_equal(smtp_addr_format(&a, out, strlen(c->out) + 1), r);
		assert_int_equal(smtp_addr_format(&a, out, strlen(c->out)), -1);
		assert_int_equal(smtp_addr_format(&a, out, 0), -1);
	}
}

static void test_format_max(void **state)
{
	char in[80], out[400];
	struct smtp_addr a;
	size_t n;

	(void)state;
	/* 62 quotes inside a quoted local part: the longest local part
	 * formats to 2 + 62 * 2 octets plus "@b" */
	in[0] = '<';
	in[1] = '"';
	for (n = 2; n < 64; n += 2)
		memcpy(in + n, "\\\"", 2);
	memcpy(in + 64, "\"@b>", 4);
	assert_int_equal(smtp_parse_path(in, 68, false, false, &a), SMTP_PERR_OK);
	assert_int_equal(a.local_len, 31);
	assert_int_equal(smtp_addr_format(&a, out, sizeof(out)), 2 + 62 + 2);
}

static void test_strerror(void **state)
{
	int e;

	(void)state;
	for (e = SMTP_PERR_OK; e <= SMTP_PERR_PARAM_VALUE; e++) {
		const char *s = smtp_parse_strerror((enum smtp_parse_err)e);

		assert_non_null(s);
		assert_true(strlen(s) > 0);
	}
	assert_string_equal(smtp_parse_strerror(SMTP_PERR_ADDR), "bad address syntax");
	assert_string_not_equal(smtp_parse_strerror(SMTP_PERR_SYNTAX),
				smtp_parse_strerror(SMTP_PERR_PARAM_VALUE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_table),     cmocka_unit_test(test_path_lengths),
		cmocka_unit_test(test_path_prefix),    cmocka_unit_test(test_mail_table),
		cmocka_unit_test(test_mail_long_values), cmocka_unit_test(test_mail_prefix),
		cmocka_unit_test(test_rcpt_table),     cmocka_unit_test(test_rcpt_orcpt_length),
		cmocka_unit_test(test_rcpt_prefix),    cmocka_unit_test(test_verb_table),
		cmocka_unit_test(test_verb_all),       cmocka_unit_test(test_bdat_table),
		cmocka_unit_test(test_bdat_prefix),    cmocka_unit_test(test_helo_table),
		cmocka_unit_test(test_format_table),   cmocka_unit_test(test_format_max),
		cmocka_unit_test(test_strerror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
