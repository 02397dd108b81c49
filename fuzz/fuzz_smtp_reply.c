/* fuzz_smtp_reply: libFuzzer target for src/proto/smtp_reply.h. The input
 * is what a server sends: lines separated by LF (a CR before the LF is
 * kept in the line, as a line reader that only strips LF would). Lines are
 * fed one by one, each from a heap block of its exact length; after a
 * complete reply the parser is reset and the next reply starts (pipelined
 * replies), after an error the rest is dropped, as the client would drop
 * the connection. The run is made twice, with the default limits and with
 * tiny ones (3 lines, 64 bytes). Checked besides "no crash":
 *   - every answer agrees with a reference reading of RFC 5321 4.2 (3
 *     digits, first 2..5, then end, '-' or ' '; one code per reply) and
 *     of the limits;
 *   - line texts are the bytes after "ddd-"/"ddd ", NUL-terminated;
 *   - the enhanced code is set exactly when the first line has a valid
 *     one of the reply's class;
 *   - smtp_reply_render gives printable ASCII without CR/LF, fits every
 *     buffer size, and a cut rendering is the full one's prefix + "...";
 *   - smtp_reply_parse_ehlo accepts exactly complete 250 replies and its
 *     flags are consistent. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "proto/smtp_reply.h"

static char *exact_copy(const char *s, size_t len)
{
	char *p = malloc(len > 0 ? len : 1);

	FUZZ_CHECK(p != NULL);
	if (len > 0)
		memcpy(p, s, len);
	return p;
}

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Reference: the line's code, or -1 when the line is malformed. */
static int ref_code(const char *s, size_t n)
{
	if (n < 3 || !digit(s[0]) || !digit(s[1]) || !digit(s[2]))
		return -1;
	if (n > 3 && s[3] != '-' && s[3] != ' ')
		return -1;
	return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

/* Reference enhanced code: "c.d{1,3}.d{1,3}" then end or SP, c == class. */
static size_t ref_enh(const char *s, size_t n, char cls)
{
	size_t i = 0, d;

	if (n < 5 || s[0] != cls || (cls != '2' && cls != '4' && cls != '5') || s[1] != '.')
		return 0;
	i = 2;
	for (d = 0; i < n && digit(s[i]) && d < 3; i++, d++)
		;
	if (d == 0 || i >= n || s[i] != '.')
		return 0;
	i++;
	for (d = 0; i < n && digit(s[i]) && d < 3; i++, d++)
		;
	if (d == 0 || (i < n && s[i] != ' '))
		return 0;
	return i;
}

static void check_render(const struct smtp_reply *r)
{
	static const size_t sizes[] = { 1, 2, 3, 4, 5, 8, 17, 64, 300 };
	static char full[SMTP_REPLY_TEXT_MAX * 4 + 64];
	size_t flen = smtp_reply_render(r, full, sizeof(full));

	FUZZ_CHECK(flen < sizeof(full) && full[flen] == '\0' && strlen(full) == flen);
	for (size_t i = 0; i < flen; i++)
		FUZZ_CHECK(full[i] >= 0x20 && full[i] < 0x7f);
	FUZZ_CHECK(flen >= 3 && (size_t)(full[0] - '0') == (size_t)(r->code / 100));
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t size = sizes[k];
		char *out = malloc(size);
		size_t n;

		FUZZ_CHECK(out != NULL);
		n = smtp_reply_render(r, out, size);
		FUZZ_CHECK(n < size && out[n] == '\0');
		if (flen < size) {
			FUZZ_CHECK(n == flen && memcmp(out, full, n) == 0);
		} else if (size >= 4) {
			FUZZ_CHECK(n >= 3 && memcmp(out + n - 3, "...", 3) == 0);
			FUZZ_CHECK(memcmp(out, full, n - 3) == 0);
		}
		free(out);
	}
}

static void check_complete(const struct smtp_reply *r)
{
	struct smtp_ehlo e;
	int rc = smtp_reply_parse_ehlo(r, &e);

	FUZZ_CHECK((rc == 0) == (r->code == 250));
	if (rc == 0) {
		FUZZ_CHECK(e.auth == 0 || e.has_auth);
		FUZZ_CHECK(e.size_max == 0 || e.has_size);
	}
	check_render(r);
}

static void run(const uint8_t *data, size_t size, size_t lines_max, size_t text_max)
{
	struct smtp_reply r;
	const char *p = (const char *)data, *end = p + size;
	size_t nlines = 0, text = 0;
	int code = 0;

	smtp_reply_init(&r, lines_max, text_max);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		char *line = exact_copy(p, len);
		int want_code = ref_code(p, len);
		bool last = len == 3 || (len > 3 && p[3] == ' ');
		size_t tlen = len > 4 ? len - 4 : 0;
		int rc = smtp_reply_feed(&r, line, len), want;
		enum smtp_reply_err want_err = SMTP_REPLY_ERR_NONE;

		if (want_code < 0)
			want_err = SMTP_REPLY_ERR_SYNTAX;
		else if (want_code < 200 || want_code > 599)
			want_err = SMTP_REPLY_ERR_CODE;
		else if (nlines > 0 && want_code != code)
			want_err = SMTP_REPLY_ERR_MISMATCH;
		else if (nlines >= lines_max)
			want_err = SMTP_REPLY_ERR_TOO_MANY_LINES;
		else if (text + tlen + 1 > text_max)
			want_err = SMTP_REPLY_ERR_TOO_LONG;
		want = want_err != SMTP_REPLY_ERR_NONE ? -1 : last ? 1 : 0;
		FUZZ_CHECK(rc == want);
		FUZZ_CHECK(r.err == want_err);
		if (rc >= 0) {
			size_t l;
			const char *t;

			if (nlines == 0) {
				size_t e = ref_enh(p + 4, tlen, p[0]);

				code = want_code;
				FUZZ_CHECK(strlen(r.enh) == e);
				FUZZ_CHECK(memcmp(r.enh, p + 4, e) == 0);
			}
			nlines++;
			text += tlen + 1;
			FUZZ_CHECK(r.code == code && r.nlines == nlines && r.text_len == text);
			FUZZ_CHECK(r.text_len <= text_max && r.text_cap <= text_max);
			t = smtp_reply_line(&r, nlines - 1, &l);
			FUZZ_CHECK(l == tlen && memcmp(t, p + 4, l) == 0 && t[l] == '\0');
		}
		free(line);
		if (rc == 1) {
			FUZZ_CHECK(smtp_reply_is_complete(&r));
			check_complete(&r);
			smtp_reply_reset(&r);
			nlines = 0;
			text = 0;
		} else if (rc == -1) {
			FUZZ_CHECK(smtp_reply_strerror(r.err) != NULL);
			break;
		} else {
			FUZZ_CHECK(!smtp_reply_is_complete(&r));
			FUZZ_CHECK(smtp_reply_parse_ehlo(&r, &(struct smtp_ehlo){ 0 }) == -1);
			check_render(&r);
		}
		p += len + (nl != NULL ? 1 : 0);
	}
	smtp_reply_fini(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A reply is bounded by the limits; inputs far past them add nothing. */
	if (size > 4 * SMTP_REPLY_TEXT_MAX)
		return 0;
	run(data, size, SMTP_REPLY_LINES_MAX, SMTP_REPLY_TEXT_MAX);
	run(data, size, 3, 64);
	return 0;
}
