/* xtext_test: xtext encode/decode, ORCPT parse/build and the display form.
 * Inputs are copied into exact-size heap blocks; each decoder case also
 * runs on every prefix of its input (revealed byte by byte), which must be
 * accepted exactly when the prefix is itself valid by the reference
 * reading, and never read past its length. */
#include "proto/xtext.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define S(x) x, sizeof(x) - 1

static char *exact(const char *s, size_t n)
{
	char *p = malloc(n > 0 ? n : 1);

	assert_non_null(p);
	memcpy(p, s, n);
	return p;
}

struct dec_case {
	const char *in;
	size_t in_len;
	int rc;
	const char *out;
	size_t out_len;
};

static const struct dec_case dec_cases[] = {
	{ S(""), 0, "", 0 },
	{ S("abc"), 0, "abc", 3 },
	{ S("a+2Bb"), 0, "a+b", 3 },
	{ S("a+3Db"), 0, "a=b", 3 },
	{ S("+20"), 0, " ", 1 },
	{ S("+00x"), 0, "\0x", 2 },
	{ S("+FF"), 0, "\xff", 1 },
	{ S("+41"), 0, "A", 1 }, /* needless but valid */
	{ S("a+2bb"), -1, NULL, 0 }, /* lower-case hex */
	{ S("a+2"), -1, NULL, 0 },
	{ S("a+"), -1, NULL, 0 },
	{ S("+G0"), -1, NULL, 0 },
	{ S("a=b"), -1, NULL, 0 },
	{ S("a b"), -1, NULL, 0 },
	{ S("a\x7f"), -1, NULL, 0 },
	{ S("\xc3\xa9"), -1, NULL, 0 },
};

/* Reference: valid xtext. */
static bool ref_valid(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '+') {
			if (n - i < 3 || s[i + 1] == '\0' || s[i + 2] == '\0' ||
			    !strchr("0123456789ABCDEF", s[i + 1]) ||
			    !strchr("0123456789ABCDEF", s[i + 2]))
				return false;
			i += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			return false;
		}
	}
	return true;
}

static void test_decode(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(dec_cases) / sizeof(dec_cases[0]); k++) {
		const struct dec_case *c = &dec_cases[k];

		for (size_t cut = 0; cut <= c->in_len; cut++) {
			char *in = exact(c->in, cut);
			char out[64];
			size_t out_len = 99;
			int rc = xtext_decode(in, cut, out, sizeof(out), &out_len);

			assert_int_equal(rc == 0, ref_valid(c->in, cut));
			assert_int_equal(xtext_is_valid(in, cut), rc == 0);
			if (cut == c->in_len) {
				assert_int_equal(rc, c->rc);
				if (rc == 0) {
					assert_int_equal(out_len, c->out_len);
					assert_memory_equal(out, c->out, out_len);
				}
			}
			if (rc != 0)
				assert_int_equal(out_len, 0);
			free(in);
		}
	}
	/* Too small an output. */
	{
		char out[2];
		size_t n;

		assert_int_equal(xtext_decode(S("abc"), out, sizeof(out), &n), -1);
		assert_int_equal(n, 0);
		assert_int_equal(xtext_decode(S("ab"), out, sizeof(out), &n), 0);
		assert_int_equal(n, 2);
	}
}

static void test_encode(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(xtext_encode(S("a+b=c d"), out, sizeof(out)), 13);
	assert_string_equal(out, "a+2Bb+3Dc+20d");
	assert_int_equal(xtext_encoded_len(S("a+b=c d")), 13);
	assert_int_equal(xtext_encode(S("\0\xff~!"), out, sizeof(out)), 8);
	assert_string_equal(out, "+00+FF~!");
	assert_int_equal(xtext_encode("", 0, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	/* Room: exactly len + 1. */
	assert_int_equal(xtext_encode(S("a+"), out, 5), 4);
	assert_int_equal(xtext_encode(S("a+"), out, 4), -1);
	assert_string_equal(out, "");
	/* Round trip over all byte values. */
	{
		char all[256], enc[800], dec[256];
		size_t n;

		for (int i = 0; i < 256; i++)
			all[i] = (char)i;
		assert_int_equal(xtext_encode(all, 256, enc, sizeof(enc)),
				 (int)xtext_encoded_len(all, 256));
		assert_true(xtext_is_valid(enc, strlen(enc)));
		assert_int_equal(xtext_decode(enc, strlen(enc), dec, sizeof(dec), &n), 0);
		assert_int_equal(n, 256);
		assert_memory_equal(dec, all, 256);
	}
}

struct orcpt_case {
	const char *in;
	size_t len;
	bool utf8;
	int rc;
	enum xtext_addr_type type;
	const char *type_name;
	const char *addr;
};

static const struct orcpt_case orcpt_cases[] = {
	{ S("rfc822;bob@example.org"), false, 0, XTEXT_TYPE_RFC822, "rfc822", "bob@example.org" },
	{ S("RFC822;a+2Bb@x"), false, 0, XTEXT_TYPE_RFC822, "RFC822", "a+b@x" },
	{ S("rfc822;\"a+20b\"@x"), false, 0, XTEXT_TYPE_RFC822, "rfc822", "\"a b\"@x" },
	{ S("x400;c+3Dus+3Ba+3Dx"), false, 0, XTEXT_TYPE_OTHER, "x400", "c=us;a=x" },
	{ S("utf-8;j\\x{FC}rgen@x"), false, 0, XTEXT_TYPE_UTF8, "utf-8", "j\xc3\xbcrgen@x" },
	{ S("utf-8;\\x{2B}\\x{1F600}@x"), false, 0, XTEXT_TYPE_UTF8, "utf-8",
	  "+\xf0\x9f\x98\x80@x" },
	{ S("UTF-8;j\xc3\xbcrgen@x"), true, 0, XTEXT_TYPE_UTF8, "UTF-8", "j\xc3\xbcrgen@x" },
	{ S("utf-8;j\xc3\xbcrgen@x"), false, -1, 0, NULL, NULL }, /* raw needs SMTPUTF8 */
	{ S("utf-8;\\x{D800}@x"), false, -1, 0, NULL, NULL }, /* surrogate */
	{ S("utf-8;\\x{110000}@x"), false, -1, 0, NULL, NULL },
	{ S("utf-8;\\x{0A}@x"), false, -1, 0, NULL, NULL }, /* control */
	{ S("utf-8;\\x{A}@x"), false, -1, 0, NULL, NULL }, /* one digit */
	{ S("utf-8;\\x{2B@x"), false, -1, 0, NULL, NULL },
	{ S("utf-8;a+b@x"), false, -1, 0, NULL, NULL }, /* "+" not a QCHAR */
	{ S("utf-8;\xc3\x28@x"), true, -1, 0, NULL, NULL }, /* bad UTF-8 */
	{ S("rfc822;a+0Ab@x"), false, -1, 0, NULL, NULL }, /* decoded LF */
	{ S("rfc822;a+C3+A9@x"), false, -1, 0, NULL, NULL }, /* 8-bit needs utf-8 */
	{ S("rfc822;"), false, -1, 0, NULL, NULL },
	{ S(";bob@x"), false, -1, 0, NULL, NULL },
	{ S("rfc822"), false, -1, 0, NULL, NULL },
	{ S("rfc 822;bob@x"), false, -1, 0, NULL, NULL },
	{ S("rfc822;bob@x y"), false, -1, 0, NULL, NULL },
};

static void test_orcpt_parse(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(orcpt_cases) / sizeof(orcpt_cases[0]); k++) {
		const struct orcpt_case *c = &orcpt_cases[k];

		for (size_t cut = 0; cut <= c->len; cut++) {
			char *in = exact(c->in, cut);
			struct xtext_orcpt o;
			int rc = xtext_orcpt_parse(in, cut, c->utf8, &o);

			assert_true(rc == 0 || rc == -1);
			if (rc == 0) {
				assert_int_equal(strlen(o.addr), o.addr_len);
				assert_true(o.addr_len > 0);
			} else {
				assert_int_equal(o.addr_len, 0);
			}
			if (cut == c->len) {
				if (rc != c->rc)
					print_message("orcpt case %zu: rc %d\n", k, rc);
				assert_int_equal(rc, c->rc);
				if (rc == 0) {
					assert_int_equal(o.type, c->type);
					assert_string_equal(o.type_name, c->type_name);
					assert_string_equal(o.addr, c->addr);
				}
			}
			free(in);
		}
	}
	/* Longer than 500: refused. */
	{
		char big[520];
		struct xtext_orcpt o;

		memset(big, 'a', sizeof(big));
		memcpy(big, "rfc822;", 7);
		assert_int_equal(xtext_orcpt_parse(big, 500, false, &o), 0);
		assert_int_equal(xtext_orcpt_parse(big, 501, false, &o), -1);
	}
}

static void test_orcpt_build(void **state)
{
	char out[128];
	struct xtext_orcpt o;
	int n;

	(void)state;
	n = xtext_orcpt_build(S("a+b=c@x"), false, out, sizeof(out));
	assert_string_equal(out, "rfc822;a+2Bb+3Dc@x");
	assert_int_equal(n, (int)strlen(out));
	n = xtext_orcpt_build(S("j\xc3\xbcrgen+x@\xc3\xa9.x"), false, out, sizeof(out));
	assert_string_equal(out, "utf-8;j\\x{FC}rgen\\x{2B}x@\\x{E9}.x");
	assert_int_equal(xtext_orcpt_parse(out, (size_t)n, false, &o), 0);
	assert_string_equal(o.addr, "j\xc3\xbcrgen+x@\xc3\xa9.x");
	n = xtext_orcpt_build(S("j\xc3\xbcrgen+x@\xf0\x9f\x98\x80"), true, out, sizeof(out));
	assert_string_equal(out, "utf-8;j\xc3\xbcrgen\\x{2B}x@\xf0\x9f\x98\x80");
	assert_int_equal(xtext_orcpt_parse(out, (size_t)n, true, &o), 0);
	assert_string_equal(o.addr, "j\xc3\xbcrgen+x@\xf0\x9f\x98\x80");
	/* Refused: control byte, bad UTF-8, empty, too small. */
	assert_int_equal(xtext_orcpt_build(S("a\nb@x"), false, out, sizeof(out)), -1);
	assert_string_equal(out, "");
	assert_int_equal(xtext_orcpt_build(S("a\xc3@x"), true, out, sizeof(out)), -1);
	assert_int_equal(xtext_orcpt_build("", 0, false, out, sizeof(out)), -1);
	assert_int_equal(xtext_orcpt_build(S("bob@x"), false, out, 12), -1);
	assert_int_equal(xtext_orcpt_build(S("bob@x"), false, out, 13), 12);
}

static void test_display(void **state)
{
	char out[128];
	const char *type;

	(void)state;
	assert_int_equal(xtext_addr_display(S("a+b@x"), false, &type, out, sizeof(out)), 5);
	assert_string_equal(out, "a+b@x");
	assert_string_equal(type, "rfc822");
	assert_true(xtext_addr_display(S("j\xc3\xbc@x"), false, &type, out, sizeof(out)) > 0);
	assert_string_equal(out, "j\\x{FC}@x");
	assert_string_equal(type, "utf-8");
	assert_true(xtext_addr_display(S("j\xc3\xbc@x"), true, &type, out, sizeof(out)) > 0);
	assert_string_equal(out, "j\xc3\xbc@x");
	assert_string_equal(type, "utf-8");
	assert_int_equal(xtext_addr_display(S("a\rb"), true, &type, out, sizeof(out)), -1);
}

static void test_utf8_seq(void **state)
{
	(void)state;
	assert_int_equal(xtext_utf8_seq_len(S("a")), 1);
	assert_int_equal(xtext_utf8_seq_len(S("\xc3\xa9")), 2);
	assert_int_equal(xtext_utf8_seq_len(S("\xe2\x82\xac")), 3);
	assert_int_equal(xtext_utf8_seq_len(S("\xf0\x9f\x98\x80")), 4);
	assert_int_equal(xtext_utf8_seq_len(S("\xc0\x80")), 0); /* overlong */
	assert_int_equal(xtext_utf8_seq_len(S("\xe0\x80\x80")), 0);
	assert_int_equal(xtext_utf8_seq_len(S("\xed\xa0\x80")), 0); /* surrogate */
	assert_int_equal(xtext_utf8_seq_len(S("\xf4\x90\x80\x80")), 0);
	assert_int_equal(xtext_utf8_seq_len("\xc3\xa9", 1), 0); /* cut */
	assert_int_equal(xtext_utf8_seq_len("", 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode),	     cmocka_unit_test(test_encode),
		cmocka_unit_test(test_orcpt_parse),  cmocka_unit_test(test_orcpt_build),
		cmocka_unit_test(test_display),	     cmocka_unit_test(test_utf8_seq),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
