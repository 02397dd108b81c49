/* smtp_reply: parses the replies an SMTP server sends our client, line by
 * line, into code, enhanced status code and text; reads EHLO keywords;
 * renders a reply on one safe line. It owns the reply's text buffer and
 * nothing else: it never logs, never talks to a socket, never decides what
 * a reply means for a message (that is the mta session's reply table). */
#include "proto/smtp_reply.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "proto/words.h"

enum { REPLY_MORE = 0, REPLY_DONE, REPLY_FAILED };

void smtp_reply_init(struct smtp_reply *r, size_t lines_max, size_t text_max)
{
	KASSERT(lines_max >= 1);
	memset(r, 0, sizeof(*r));
	r->lines_max = lines_max;
	r->text_max = text_max;
	r->line_off = xcalloc(lines_max, sizeof(*r->line_off));
	r->line_len = xcalloc(lines_max, sizeof(*r->line_len));
}

void smtp_reply_fini(struct smtp_reply *r)
{
	free(r->text);
	free(r->line_off);
	free(r->line_len);
	memset(r, 0, sizeof(*r));
}

void smtp_reply_reset(struct smtp_reply *r)
{
	r->code = 0;
	r->enh[0] = '\0';
	r->nlines = 0;
	r->text_len = 0;
	r->state = REPLY_MORE;
	r->err = SMTP_REPLY_ERR_NONE;
}

bool smtp_reply_is_complete(const struct smtp_reply *r)
{
	return r->state == REPLY_DONE;
}

const char *smtp_reply_strerror(enum smtp_reply_err err)
{
	switch (err) {
	case SMTP_REPLY_ERR_NONE:
		return "no error";
	case SMTP_REPLY_ERR_SYNTAX:
		return "malformed reply line";
	case SMTP_REPLY_ERR_CODE:
		return "reply code not 2xx-5xx";
	case SMTP_REPLY_ERR_MISMATCH:
		return "reply lines with different codes";
	case SMTP_REPLY_ERR_TOO_MANY_LINES:
		return "reply has too many lines";
	case SMTP_REPLY_ERR_TOO_LONG:
		return "reply text too long";
	}
	return "unknown reply error";
}

static int fail(struct smtp_reply *r, enum smtp_reply_err err)
{
	r->state = REPLY_FAILED;
	r->err = err;
	return -1;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 3463 2: class "." subject "." detail, subject and detail 1..3
 * digits, followed by SP or the end of the text. Returns its length or 0. */
static size_t enh_len(const char *s, size_t len)
{
	size_t i = 1;

	if (len < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	for (int part = 0; part < 2; part++) {
		size_t start = ++i;

		while (i < len && is_digit((unsigned char)s[i]) && i - start < 3)
			i++;
		if (i == start || (part == 0 && (i >= len || s[i] != '.')))
			return 0;
	}
	if (i < len && s[i] != ' ')
		return 0;
	return i;
}

/* Makes room for n more bytes of text; the caller checked text_max. */
static void text_reserve(struct smtp_reply *r, size_t n)
{
	size_t need = r->text_len + n, cap = r->text_cap;

	if (need <= cap)
		return;
	if (cap == 0)
		cap = 256;
	while (cap < need)
		cap *= 2;
	if (cap > r->text_max)
		cap = r->text_max;
	r->text = xrealloc(r->text, cap);
	r->text_cap = cap;
}

int smtp_reply_feed(struct smtp_reply *r, const char *line, size_t len)
{
	const unsigned char *p = (const unsigned char *)line;
	int code;
	bool last;
	size_t tlen, need;

	KASSERT(r->state == REPLY_MORE);
	/* RFC 5321 4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF )
	 * Reply-code [ SP textstring ] CRLF. */
	if (len < 3 || !is_digit(p[0]) || !is_digit(p[1]) || !is_digit(p[2]))
		return fail(r, SMTP_REPLY_ERR_SYNTAX);
	if (len > 3 && p[3] != '-' && p[3] != ' ')
		return fail(r, SMTP_REPLY_ERR_SYNTAX);
	code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	if (code < 200 || code > 599)
		return fail(r, SMTP_REPLY_ERR_CODE);
	if (r->nlines > 0 && code != r->code)
		return fail(r, SMTP_REPLY_ERR_MISMATCH);
	if (r->nlines >= r->lines_max)
		return fail(r, SMTP_REPLY_ERR_TOO_MANY_LINES);
	last = len == 3 || p[3] == ' ';
	tlen = len > 4 ? len - 4 : 0;
	/* Each line's text plus its NUL counts against text_max. */
	KASSERT(r->text_len <= r->text_max);
	if (ckd_add_size(&need, tlen, 1) || need > r->text_max - r->text_len)
		return fail(r, SMTP_REPLY_ERR_TOO_LONG);

	text_reserve(r, need);
	if (tlen > 0)
		memcpy(r->text + r->text_len, line + 4, tlen);
	r->text[r->text_len + tlen] = '\0';
	r->line_off[r->nlines] = r->text_len;
	r->line_len[r->nlines] = tlen;
	if (r->nlines == 0) {
		size_t e = enh_len(line + 4, tlen);

		r->code = code;
		/* RFC 2034 3: the class must match the reply code's. */
		if (e > 0 && e < sizeof(r->enh) && line[4] == line[0]) {
			memcpy(r->enh, line + 4, e);
			r->enh[e] = '\0';
		}
	}
	r->text_len += need;
	r->nlines++;
	if (!last)
		return 0;
	r->state = REPLY_DONE;
	return 1;
}

const char *smtp_reply_line(const struct smtp_reply *r, size_t i, size_t *len_out)
{
	KASSERT(i < r->nlines);
	*len_out = r->line_len[i];
	return r->text + r->line_off[i];
}

/* Output with a hard bound: a piece (a byte or a whole escape) is written
 * whole or not at all, and once one does not fit nothing more is written.
 * mark is the last piece boundary that leaves room for "...". */
struct render {
	char *out;
	size_t size; /* usable bytes (out_size - 1) */
	size_t len;
	size_t mark;
	bool cut;
};

static void put(struct render *w, const char *s, size_t n)
{
	if (w->cut)
		return;
	if (n > w->size - w->len) {
		w->cut = true;
		return;
	}
	memcpy(w->out + w->len, s, n);
	w->len += n;
	if (w->size >= 3 && w->len <= w->size - 3)
		w->mark = w->len;
}

static void put_escaped(struct render *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n && !w->cut; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };

		if (c == '\\')
			put(w, "\\\\", 2);
		else if (c < 0x20 || c >= 0x7f)
			put(w, esc, 4);
		else
			put(w, s + i, 1);
	}
}

size_t smtp_reply_render(const struct smtp_reply *r, char *out, size_t out_size)
{
	struct render w = { .out = out, .size = out_size > 0 ? out_size - 1 : 0 };
	size_t elen = strlen(r->enh);
	char code[4] = { 0 };

	if (out_size == 0)
		return 0;
	KASSERT(r->nlines > 0);
	code[0] = (char)('0' + r->code / 100);
	code[1] = (char)('0' + r->code / 10 % 10);
	code[2] = (char)('0' + r->code % 10);
	put(&w, code, 3);
	if (elen > 0) {
		put(&w, " ", 1);
		put(&w, r->enh, elen);
	}
	for (size_t i = 0; i < r->nlines; i++) {
		size_t n;
		const char *s = smtp_reply_line(r, i, &n);

		/* "550-5.1.1 a" / "550 5.1.1 b": the code is said once. */
		if (elen > 0 && n >= elen && memcmp(s, r->enh, elen) == 0 &&
		    (n == elen || s[elen] == ' ')) {
			s += elen;
			n -= elen;
		}
		while (n > 0 && *s == ' ')
			s++, n--;
		if (n == 0)
			continue;
		put(&w, " ", 1);
		put_escaped(&w, s, n);
	}
	if (w.cut && w.size >= 3) {
		memcpy(out + w.mark, "...", 3);
		w.len = w.mark + 3;
	}
	out[w.len] = '\0';
	return w.len;
}

int smtp_reply_parse_ehlo(const struct smtp_reply *r, struct smtp_ehlo *out)
{
	memset(out, 0, sizeof(*out));
	if (!smtp_reply_is_complete(r) || r->code != 250)
		return -1;
	for (size_t i = 1; i < r->nlines; i++) {
		size_t n, kw = 0, nw;
		const char *s = smtp_reply_line(r, i, &n);
		struct word w[64];

		/* RFC 5321 4.1.1.1: ehlo-keyword = (ALPHA / DIGIT)
		 * *(ALPHA / DIGIT / "-"); params after SP. "AUTH=" is the
		 * pre-standard form some servers still send. */
		while (kw < n && s[kw] != ' ' && s[kw] != '=')
			kw++;
		if (words_equal_nocase(s, kw, "PIPELINING")) {
			out->pipelining = true;
		} else if (words_equal_nocase(s, kw, "8BITMIME")) {
			out->eightbitmime = true;
		} else if (words_equal_nocase(s, kw, "SMTPUTF8")) {
			out->smtputf8 = true;
		} else if (words_equal_nocase(s, kw, "DSN")) {
			out->dsn = true;
		} else if (words_equal_nocase(s, kw, "STARTTLS")) {
			out->starttls = true;
		} else if (words_equal_nocase(s, kw, "CHUNKING")) {
			out->chunking = true;
		} else if (words_equal_nocase(s, kw, "BINARYMIME")) {
			out->binarymime = true;
		} else if (words_equal_nocase(s, kw, "REQUIRETLS")) {
			out->requiretls = true;
		} else if (words_equal_nocase(s, kw, "ENHANCEDSTATUSCODES")) {
			out->enhancedstatuscodes = true;
		} else if (words_equal_nocase(s, kw, "SIZE")) {
			uint64_t v = 0;

			nw = words_split(s + kw, n - kw, w, 2);
			out->has_size = true;
			/* RFC 1870 4: "SIZE 0" or no value: no fixed limit. */
			if (nw >= 1 && w[0].len <= 20 &&
			    words_parse_decimal(w[0].p, w[0].len, UINT64_MAX, &v) == 0)
				out->size_max = v;
		} else if (words_equal_nocase(s, kw, "AUTH")) {
			const char *a = s + kw;
			size_t alen = n - kw;

			if (alen > 0 && *a == '=')
				a++, alen--;
			out->has_auth = true;
			nw = words_split(a, alen, w, sizeof(w) / sizeof(w[0]));
			if (nw > sizeof(w) / sizeof(w[0]))
				nw = sizeof(w) / sizeof(w[0]);
			for (size_t k = 0; k < nw; k++) {
				if (words_equal_nocase(w[k].p, w[k].len, "PLAIN"))
					out->auth |= SMTP_EHLO_AUTH_PLAIN;
				else if (words_equal_nocase(w[k].p, w[k].len, "LOGIN"))
					out->auth |= SMTP_EHLO_AUTH_LOGIN;
				else if (words_equal_nocase(w[k].p, w[k].len, "CRAM-MD5"))
					out->auth |= SMTP_EHLO_AUTH_CRAM_MD5;
				else if (words_equal_nocase(w[k].p, w[k].len, "SCRAM-SHA-1"))
					out->auth |= SMTP_EHLO_AUTH_SCRAM_SHA_1;
				else if (words_equal_nocase(w[k].p, w[k].len, "SCRAM-SHA-256"))
					out->auth |= SMTP_EHLO_AUTH_SCRAM_SHA_256;
				else if (words_equal_nocase(w[k].p, w[k].len, "XOAUTH2"))
					out->auth |= SMTP_EHLO_AUTH_XOAUTH2;
				else
					out->auth |= SMTP_EHLO_AUTH_OTHER;
			}
		}
	}
	return 0;
}
