/* mime8_test: the 8BITMIME downgrade. Cases are input -> exact output (or
 * error). Each input is also revealed byte by byte: every prefix, in a
 * heap block of exactly its size, must give either an error or a 7-bit
 * result under out_max, never a crash or an over-read. Encoded bodies are
 * decoded again by a reference quoted-printable decoder and compared. */
#include "proto/mime8.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"

struct mcase {
	const char *name;
	const char *in;
	const char *out; /* NULL: same as in */
	enum mime8_err err;
};

static const struct mcase cases[] = {
	{ "7bit untouched", "Subject: x\n\nhello\n", NULL, MIME8_ERR_NONE },
	{ "empty", "", NULL, MIME8_ERR_NONE },
	{ "no MIME headers: text/plain",
	  "Subject: x\n\ncaf\xc3\xa9\n",
	  "Subject: x\nMIME-Version: 1.0\nContent-Transfer-Encoding: quoted-printable\n\n"
	  "caf=C3=A9\n",
	  MIME8_ERR_NONE },
	{ "8bit CTE replaced",
	  "MIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\nContent-Type: text/plain;\n"
	  " charset=utf-8\nSubject: x\n\n\xc3\xa9=\n",
	  "MIME-Version: 1.0\nContent-Type: text/plain;\n charset=utf-8\nSubject: x\n"
	  "Content-Transfer-Encoding: quoted-printable\n\n=C3=A9=3D\n",
	  MIME8_ERR_NONE },
	{ "folded CTE field dropped whole",
	  "MIME-Version: 1.0\ncontent-transfer-encoding:\n\t8bit\nX: y\n\n\xff",
	  "MIME-Version: 1.0\nX: y\nContent-Transfer-Encoding: quoted-printable\n\n=FF",
	  MIME8_ERR_NONE },
	{ "trailing whitespace encoded",
	  "MIME-Version: 1.0\n\n\xc3\xa9 \na\t\nb c\n \n",
	  "MIME-Version: 1.0\nContent-Transfer-Encoding: quoted-printable\n\n"
	  "=C3=A9=20\na=09\nb c\n=20\n",
	  MIME8_ERR_NONE },
	{ "CRLF kept in header, LF in encoded body, bare CR encoded",
	  "Subject: x\r\nMIME-Version: 1.0\r\n\r\n\xe9\r\na\rb\r\n",
	  "Subject: x\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\n"
	  "\r\n=E9\na=0Db\n",
	  MIME8_ERR_NONE },
	{ "soft line breaks at 76",
	  "MIME-Version: 1.0\n\n"
	  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\n",
	  "MIME-Version: 1.0\nContent-Transfer-Encoding: quoted-printable\n\n"
	  "=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=\n"
	  "=A9=C3=A9\n",
	  MIME8_ERR_NONE },
	{ "multipart, quoted boundary with spaces, QP part untouched, epilogue",
	  "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"a b; c\"\n\n"
	  "preamble\n"
	  "--a b; c\n"
	  "Content-Type: text/plain; charset=utf-8\n"
	  "Content-Transfer-Encoding: 8bit\n\n"
	  "na\xc3\xafve\n"
	  "--a b; c  \n"
	  "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
	  "na=C3=AFve=\n more\n"
	  "--a b; c\n\n"
	  "no header \xff\n"
	  "--a b; c--\n"
	  "epilogue\n",
	  "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"a b; c\"\n\n"
	  "preamble\n"
	  "--a b; c\n"
	  "Content-Type: text/plain; charset=utf-8\n"
	  "Content-Transfer-Encoding: quoted-printable\n\n"
	  "na=C3=AFve\n"
	  "--a b; c  \n"
	  "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
	  "na=C3=AFve=\n more\n"
	  "--a b; c\n"
	  "Content-Transfer-Encoding: quoted-printable\n\n"
	  "no header =FF\n"
	  "--a b; c--\n"
	  "epilogue\n",
	  MIME8_ERR_NONE },
	{ "nested multipart, 8bit multipart CTE becomes 7bit, 8-bit epilogue dropped",
	  "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=outer\n"
	  "Content-Transfer-Encoding: 8bit\n\n"
	  "--outer\n"
	  "Content-Type: multipart/alternative; boundary=\"inner\"\n\n"
	  "--inner\n\n\xc3\xa9\n"
	  "--inner\nContent-Type: text/html\n\n<p>ok</p>\n"
	  "--inner--\n"
	  "--outerx\n"
	  "--outer--\n"
	  "\xff\xfe\n",
	  "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=outer\n"
	  "Content-Transfer-Encoding: 7bit\n\n"
	  "--outer\n"
	  "Content-Type: multipart/alternative; boundary=\"inner\"\n\n"
	  "--inner\nContent-Transfer-Encoding: quoted-printable\n\n=C3=A9\n"
	  "--inner\nContent-Type: text/html\n\n<p>ok</p>\n"
	  "--inner--\n"
	  "--outerx\n"
	  "--outer--\n",
	  MIME8_ERR_NONE },
	{ "7-bit message/rfc822 part kept",
	  "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
	  "--b\n\n\xe9\n"
	  "--b\nContent-Type: message/rfc822\n\nSubject: in\n\nplain\n"
	  "--b--\n",
	  "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
	  "--b\nContent-Transfer-Encoding: quoted-printable\n\n=E9\n"
	  "--b\nContent-Type: message/rfc822\n\nSubject: in\n\nplain\n"
	  "--b--\n",
	  MIME8_ERR_NONE },
	{ "missing close delimiter: last part to the end",
	  "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
	  "--b\n\n\xe9",
	  "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
	  "--b\nContent-Transfer-Encoding: quoted-printable\n\n=E9",
	  MIME8_ERR_NONE },
	{ "CRLF multipart",
	  "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
	  "--b\r\n\r\n\xe9\r\n--b--\r\n",
	  "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
	  "--b\r\nContent-Transfer-Encoding: quoted-printable\n\r\n=E9\r\n--b--\r\n",
	  MIME8_ERR_NONE },
	{ "comments and case in Content-Type",
	  "MIME-Version: 1.0\nContent-Type: (c) Multipart/Mixed (x); BOUNDARY = b\n\n"
	  "--b\n\n\xe9\n--b--\n",
	  "MIME-Version: 1.0\nContent-Type: (c) Multipart/Mixed (x); BOUNDARY = b\n\n"
	  "--b\nContent-Transfer-Encoding: quoted-printable\n\n=E9\n--b--\n",
	  MIME8_ERR_NONE },
	/* Errors. */
	{ "8-bit header", "Subject: caf\xc3\xa9\n\nbody\n", NULL, MIME8_ERR_HEADER_8BIT },
	{ "8-bit part header",
	  "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
	  "--b\nContent-Disposition: attachment; filename=\"\xc3\xa9.txt\"\n\nx\n--b--\n",
	  NULL, MIME8_ERR_HEADER_8BIT },
	{ "8-bit message/rfc822",
	  "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
	  "--b\nContent-Type: message/rfc822\n\nSubject: in\n\n\xe9\n--b--\n",
	  NULL, MIME8_ERR_MESSAGE_8BIT },
	{ "digest parts default to message/rfc822",
	  "MIME-Version: 1.0\nContent-Type: multipart/digest; boundary=b\n\n"
	  "--b\n\nSubject: in\n\n\xe9\n--b--\n",
	  NULL, MIME8_ERR_MESSAGE_8BIT },
	{ "8-bit in base64",
	  "MIME-Version: 1.0\nContent-Transfer-Encoding: base64\n\n\xe9\n", NULL,
	  MIME8_ERR_ENCODED_8BIT },
	{ "8-bit in quoted-printable",
	  "MIME-Version: 1.0\nContent-Transfer-Encoding: Quoted-Printable\n\n\xe9\n", NULL,
	  MIME8_ERR_ENCODED_8BIT },
	{ "multipart without boundary",
	  "MIME-Version: 1.0\nContent-Type: multipart/mixed\n\n\xe9\n", NULL,
	  MIME8_ERR_MULTIPART },
	{ "multipart in base64",
	  "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n"
	  "Content-Transfer-Encoding: base64\n\n--b\n\n\xe9\n--b--\n",
	  NULL, MIME8_ERR_MULTIPART },
};

static char *exact(const char *s, size_t n)
{
	char *p = xmalloc(n > 0 ? n : 1);

	memcpy(p, s, n);
	return p;
}

static void run(const char *in, size_t len, size_t out_max, int *rc, char **out, size_t *out_len,
		enum mime8_err *err)
{
	char *copy = exact(in, len);

	*rc = mime8_downgrade(copy, len, out_max, out, out_len, err);
	free(copy);
	assert_true(*rc == 0 || *rc == -1);
	if (*rc == 0) {
		assert_non_null(*out);
		assert_int_equal(*err, MIME8_ERR_NONE);
		assert_true(*out_len <= out_max);
		assert_true(mime8_is_7bit(*out, *out_len));
		assert_int_equal((*out)[*out_len], '\0');
	} else {
		assert_null(*out);
		assert_int_not_equal(*err, MIME8_ERR_NONE);
	}
}

/* Every encoded line is at most 76 characters. */
static void assert_qp_lines(const char *out)
{
	size_t col = 0;

	for (; *out != '\0'; out++) {
		if (*out == '\n') {
			col = 0;
			continue;
		}
		assert_true(++col <= 998);
	}
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct mcase *c = &cases[k];
		size_t len = strlen(c->in), out_len;
		const char *want = c->out != NULL ? c->out : c->in;
		enum mime8_err err;
		char *out;
		int rc;

		run(c->in, len, 1 << 20, &rc, &out, &out_len, &err);
		if (err != c->err || (rc == 0 && strcmp(out, want) != 0)) {
			fprintf(stderr, "case \"%s\": err %s\n", c->name, mime8_strerror(err));
			if (rc == 0)
				fprintf(stderr, "got:\n%s\nwant:\n%s\n", out, want);
			fail();
		}
		if (rc == 0)
			assert_qp_lines(out);
		free(out);
	}
}

static void test_prefixes(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct mcase *c = &cases[k];
		size_t len = strlen(c->in);

		for (size_t cut = 0; cut <= len; cut++) {
			size_t out_len;
			enum mime8_err err;
			char *out;
			int rc;

			run(c->in, cut, 1 << 20, &rc, &out, &out_len, &err);
			free(out);
		}
	}
}

/* Reference decoder for RFC 2045 6.7 (LF lines). */
static size_t qp_decode(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=' && i + 1 < n && s[i + 1] == '\n') {
			i++;
		} else if (s[i] == '=') {
			unsigned v;

			assert_true(i + 2 < n);
			assert_int_equal(sscanf(s + i + 1, "%2X", &v), 1);
			out[o++] = (char)v;
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	return o;
}

/* Random bodies: QP lines stay within 76 and decode to the original. */
static void test_round_trip(void **state)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;

	(void)state;
	for (int round = 0; round < 300; round++) {
		char body[600], in[700], *out, *dec;
		size_t blen = 0, out_len, dlen, col = 0;
		enum mime8_err err;
		const char *p;
		int rc;

		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		blen = seed % sizeof(body);
		for (size_t i = 0; i < blen; i++) {
			seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
			body[i] = (char)(seed % 7 == 0 ? '\n' : seed % 5 == 0 ? ' ' : (seed >> 8));
			if (body[i] == '\r')
				body[i] = '\xe9';
		}
		body[0] = (char)0xff; /* always 8-bit */
		memcpy(in, "MIME-Version: 1.0\n\n", 19);
		memcpy(in + 19, body, blen);
		run(in, 19 + blen, 1 << 20, &rc, &out, &out_len, &err);
		assert_int_equal(rc, 0);
		p = strstr(out, "\n\n");
		assert_non_null(p);
		p += 2;
		for (const char *q = p; *q != '\0'; q++) {
			col = *q == '\n' ? 0 : col + 1;
			assert_true(col <= 76);
			/* No whitespace right before a hard line break. */
			if (*q == '\n' && q > p)
				assert_true(q[-1] != ' ' && q[-1] != '\t');
		}
		dec = xmalloc(out_len + 1);
		dlen = qp_decode(p, strlen(p), dec);
		assert_int_equal(dlen, blen);
		assert_memory_equal(dec, body, blen);
		free(dec);
		free(out);
	}
}

static void test_limits(void **state)
{
	static const char in[] = "MIME-Version: 1.0\n\n\xe9\xe9\xe9\n";
	size_t out_len, need;
	enum mime8_err err;
	char *out, *deep;
	size_t dlen = 0;
	int rc;

	(void)state;
	run(in, sizeof(in) - 1, 1 << 20, &rc, &out, &out_len, &err);
	assert_int_equal(rc, 0);
	need = out_len;
	free(out);
	run(in, sizeof(in) - 1, need, &rc, &out, &out_len, &err);
	assert_int_equal(rc, 0);
	free(out);
	run(in, sizeof(in) - 1, need - 1, &rc, &out, &out_len, &err);
	assert_int_equal(rc, -1);
	assert_int_equal(err, MIME8_ERR_TOO_BIG);
	/* A 7-bit message larger than out_max is too big as well. */
	run("abc", 3, 2, &rc, &out, &out_len, &err);
	assert_int_equal(err, MIME8_ERR_TOO_BIG);

	/* Nesting: MIME8_DEPTH_MAX levels pass, one more fails. */
	for (int levels = MIME8_DEPTH_MAX; levels <= MIME8_DEPTH_MAX + 1; levels++) {
		deep = xmalloc(100 * (size_t)(levels + 2));
		dlen = 0;
		for (int i = 0; i < levels; i++)
			dlen += (size_t)sprintf(deep + dlen,
						"Content-Type: multipart/mixed; boundary=b%d\n\n"
						"--b%d\n",
						i, i);
		dlen += (size_t)sprintf(deep + dlen, "\n\xe9\n");
		run(deep, dlen, 1 << 20, &rc, &out, &out_len, &err);
		assert_int_equal(rc, levels <= MIME8_DEPTH_MAX ? 0 : -1);
		if (rc != 0)
			assert_int_equal(err, MIME8_ERR_DEPTH);
		free(out);
		free(deep);
	}
}

static void test_status(void **state)
{
	(void)state;
	assert_string_equal(mime8_status(MIME8_ERR_HEADER_8BIT, true), "5.6.7");
	assert_string_equal(mime8_status(MIME8_ERR_HEADER_8BIT, false), "5.6.3");
	assert_string_equal(mime8_status(MIME8_ERR_MESSAGE_8BIT, true), "5.6.3");
	assert_string_equal(mime8_status(MIME8_ERR_TOO_BIG, false), "5.3.4");
	for (int e = MIME8_ERR_NONE; e <= MIME8_ERR_TOO_BIG; e++)
		assert_non_null(mime8_strerror((enum mime8_err)e));
	assert_true(mime8_is_7bit("abc\n\0", 5));
	assert_false(mime8_is_7bit("ab\x80", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),	   cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_round_trip), cmocka_unit_test(test_limits),
		cmocka_unit_test(test_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
