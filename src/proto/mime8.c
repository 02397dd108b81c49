/* mime8: re-encodes the 8-bit leaf parts of a message as quoted-printable
 * for a peer without 8BITMIME (RFC 6152 3). It owns a minimal MIME walk
 * (header block, Content-Type type and boundary, Content-Transfer-Encoding,
 * multipart delimiters) and the quoted-printable encoder; it must not grow
 * into a general MIME parser, log, or decide replies. */
#include "proto/mime8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/strbuf.h"

/* RFC 2046 5.1.1: boundaries are 1..70 characters; be generous. */
#define MIME8_BOUNDARY_MAX 200
/* RFC 2045 6.7 (5): encoded lines are at most 76 characters. */
#define QP_LINE_MAX 76

const char *mime8_strerror(enum mime8_err err)
{
	switch (err) {
	case MIME8_ERR_NONE:
		return "no error";
	case MIME8_ERR_HEADER_8BIT:
		return "8-bit header cannot be downgraded";
	case MIME8_ERR_MESSAGE_8BIT:
		return "8-bit data inside an attached message";
	case MIME8_ERR_ENCODED_8BIT:
		return "8-bit data in a base64 or quoted-printable part";
	case MIME8_ERR_MULTIPART:
		return "malformed multipart (boundary or encoding)";
	case MIME8_ERR_DEPTH:
		return "MIME nesting too deep";
	case MIME8_ERR_TOO_BIG:
		return "message too large after conversion";
	}
	return "unknown MIME error";
}

const char *mime8_status(enum mime8_err err, bool smtputf8)
{
	if (err == MIME8_ERR_HEADER_8BIT && smtputf8)
		return "5.6.7";
	if (err == MIME8_ERR_TOO_BIG)
		return "5.3.4";
	return "5.6.3";
}

bool mime8_is_7bit(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] >= 0x80)
			return false;
	return true;
}

/* ------------------------------------------------------------------ */
/* Lexing                                                              */

/* The line starting at pos: its text (without LF and a CR before it) is
 * [pos, pos + *text_len), the next line starts at the returned offset. */
static size_t line_at(const char *p, size_t len, size_t pos, size_t *text_len)
{
	const char *nl = memchr(p + pos, '\n', len - pos);
	size_t end = nl != NULL ? (size_t)(nl - p) : len;
	size_t t = end - pos;

	if (nl != NULL && t > 0 && p[end - 1] == '\r')
		t--;
	*text_len = t;
	return nl != NULL ? end + 1 : len;
}

static unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static bool name_is(const char *s, size_t n, const char *name)
{
	if (strlen(name) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s[i]) != (unsigned char)name[i])
			return false;
	return true;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* An entity's header: fields in [0, hdr_len), body from body_off. */
struct entity {
	const char *p;
	size_t len;
	size_t hdr_len; /* header fields, up to the empty line */
	size_t body_off; /* after the empty line; len when there is none */
	/* Unfolded values of the two fields we need (owned), NULL if absent. */
	char *ctype;
	char *cte;
	bool has_mime_version;
};

/* Unfolds the field value in [s, s + n): line breaks removed. */
static char *unfold(const char *s, size_t n)
{
	char *v = xmalloc(n + 1);
	size_t o = 0;

	for (size_t i = 0; i < n; i++)
		if (s[i] != '\r' && s[i] != '\n')
			v[o++] = s[i];
	v[o] = '\0';
	return v;
}

/* Splits header and body and picks up the fields. Returns false when the
 * header holds a byte >= 0x80. */
static bool entity_parse(struct entity *e, const char *p, size_t len)
{
	size_t pos = 0;

	memset(e, 0, sizeof(*e));
	e->p = p;
	e->len = len;
	e->hdr_len = len;
	e->body_off = len;
	while (pos < len) {
		size_t t, next = line_at(p, len, pos, &t);

		/* The empty line: "\n" or "\r\n" (t == 0 only when an LF
		 * ended the line). */
		if (t == 0) {
			e->hdr_len = pos;
			e->body_off = next;
			break;
		}
		pos = next;
	}
	if (!mime8_is_7bit(p, e->hdr_len))
		return false;
	/* Fields: a line not starting with WSP starts one; WSP lines continue
	 * it (RFC 5322 2.2.3). */
	pos = 0;
	while (pos < e->hdr_len) {
		size_t t, start = pos, colon, end;

		pos = line_at(p, e->hdr_len, pos, &t);
		while (pos < e->hdr_len && is_wsp(p[pos])) {
			size_t t2;

			pos = line_at(p, e->hdr_len, pos, &t2);
		}
		end = pos;
		colon = start;
		while (colon < end && p[colon] != ':' && p[colon] != '\n')
			colon++;
		if (colon >= end || p[colon] != ':')
			continue;
		{
			size_t nlen = colon;

			while (nlen > start && is_wsp(p[nlen - 1]))
				nlen--;
			nlen -= start;
			if (name_is(p + start, nlen, "content-type") && e->ctype == NULL)
				e->ctype = unfold(p + colon + 1, end - colon - 1);
			else if (name_is(p + start, nlen, "content-transfer-encoding") &&
				 e->cte == NULL)
				e->cte = unfold(p + colon + 1, end - colon - 1);
			else if (name_is(p + start, nlen, "mime-version"))
				e->has_mime_version = true;
		}
	}
	return true;
}

static void entity_fini(struct entity *e)
{
	free(e->ctype);
	free(e->cte);
	e->ctype = NULL;
	e->cte = NULL;
}

/* Skips WSP and (nested) comments (RFC 5322 3.2.2). */
static const char *skip_cfws(const char *s)
{
	for (;;) {
		while (is_wsp(*s))
			s++;
		if (*s != '(')
			return s;
		int depth = 0;

		do {
			if (*s == '\\' && s[1] != '\0')
				s++;
			else if (*s == '(')
				depth++;
			else if (*s == ')')
				depth--;
			s++;
		} while (*s != '\0' && depth > 0);
	}
}

/* RFC 2045 5.1 token characters. */
static bool is_token(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static size_t token_len(const char *s)
{
	size_t n = 0;

	while (is_token((unsigned char)s[n]))
		n++;
	return n;
}

struct ctype {
	char type[32]; /* lower case; "" when absent or unparsable */
	char subtype[64];
	char boundary[MIME8_BOUNDARY_MAX + 1];
	bool has_boundary;
};

static void copy_lower(char *dst, size_t size, const char *s, size_t n)
{
	if (n >= size)
		n = size - 1;
	for (size_t i = 0; i < n; i++)
		dst[i] = (char)lower((unsigned char)s[i]);
	dst[n] = '\0';
}

/* Content-Type: type "/" subtype *(";" attribute "=" value), value a token
 * or quoted-string (RFC 2045 5.1). Only the boundary parameter is kept. */
static void ctype_parse(const char *v, struct ctype *ct)
{
	const char *s = skip_cfws(v);
	size_t n;

	memset(ct, 0, sizeof(*ct));
	n = token_len(s);
	if (n == 0)
		return;
	copy_lower(ct->type, sizeof(ct->type), s, n);
	s = skip_cfws(s + n);
	if (*s != '/') {
		ct->type[0] = '\0';
		return;
	}
	s = skip_cfws(s + 1);
	n = token_len(s);
	copy_lower(ct->subtype, sizeof(ct->subtype), s, n);
	s += n;
	for (;;) {
		const char *name;
		size_t nlen, o = 0;
		char val[MIME8_BOUNDARY_MAX + 1];
		bool fits = true;

		s = skip_cfws(s);
		if (*s != ';')
			return;
		s = skip_cfws(s + 1);
		name = s;
		nlen = token_len(s);
		s = skip_cfws(s + nlen);
		if (nlen == 0 || *s != '=')
			return;
		s = skip_cfws(s + 1);
		if (*s == '"') {
			for (s++; *s != '\0' && *s != '"'; s++) {
				if (*s == '\\' && s[1] != '\0')
					s++;
				if (o < MIME8_BOUNDARY_MAX)
					val[o++] = *s;
				else
					fits = false;
			}
			if (*s == '"')
				s++;
		} else {
			n = token_len(s);
			fits = n <= MIME8_BOUNDARY_MAX;
			o = fits ? n : 0;
			memcpy(val, s, o);
			s += n;
		}
		val[o] = '\0';
		if (name_is(name, nlen, "boundary") && !ct->has_boundary && fits && o > 0) {
			memcpy(ct->boundary, val, o + 1);
			ct->has_boundary = true;
		}
	}
}

/* The encoding keyword, lower case, "" when absent. */
static void cte_parse(const char *v, char *out, size_t size)
{
	const char *s;

	out[0] = '\0';
	if (v == NULL)
		return;
	s = skip_cfws(v);
	copy_lower(out, size, s, token_len(s));
}

/* ------------------------------------------------------------------ */
/* Quoted-printable (RFC 2045 6.7)                                     */

static void qp_encode(struct strbuf *b, const char *p, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0, pos = 0;

	while (pos < len && !b->over) {
		size_t t, next = line_at(p, len, pos, &t);
		bool has_nl = next > pos + t; /* "\n" or "\r\n" consumed */

		for (size_t i = 0; i < t; i++) {
			unsigned char c = (unsigned char)p[pos + i];
			char tok[3];
			size_t tlen = 1;

			tok[0] = (char)c;
			/* (1) literal for printable ASCII except "="; (3) SP
			 * and HT literal except at the end of a line, where
			 * a transport could strip them. */
			if (!((c >= 33 && c <= 126 && c != '=') ||
			      ((c == ' ' || c == '\t') && i + 1 < t))) {
				tok[0] = '=';
				tok[1] = hex[c >> 4];
				tok[2] = hex[c & 15];
				tlen = 3;
			}
			/* (5) soft line break: "=" ends a line of at most 76. */
			if (col + tlen > QP_LINE_MAX - 1) {
				strbuf_add(b, "=\n", 2);
				col = 0;
			}
			strbuf_add(b, tok, tlen);
			col += tlen;
		}
		if (has_nl) {
			/* (4) a line break of the text is a line break. */
			strbuf_add(b, "\n", 1);
			col = 0;
		}
		pos = next;
	}
}

/* ------------------------------------------------------------------ */
/* The walk                                                            */

struct walk {
	struct strbuf out; /* bounded by out_max: over means MIME8_ERR_TOO_BIG */
};

static enum mime8_err do_entity(struct walk *w, const char *p, size_t len, int depth,
				bool digest, bool top);

/* Copies the header without its Content-Transfer-Encoding field, then
 * adds the new one (and MIME-Version at the top when missing) and the
 * empty line. */
static void put_header(struct walk *w, const struct entity *e, const char *cte, bool top)
{
	size_t pos = 0;

	while (pos < e->hdr_len) {
		size_t t, start = pos, colon;
		bool drop;

		pos = line_at(e->p, e->hdr_len, pos, &t);
		while (pos < e->hdr_len && is_wsp(e->p[pos])) {
			size_t t2;

			pos = line_at(e->p, e->hdr_len, pos, &t2);
		}
		colon = start;
		while (colon < pos && e->p[colon] != ':' && e->p[colon] != '\n')
			colon++;
		drop = false;
		if (colon < pos && e->p[colon] == ':') {
			size_t nlen = colon;

			while (nlen > start && is_wsp(e->p[nlen - 1]))
				nlen--;
			drop = name_is(e->p + start, nlen - start, "content-transfer-encoding");
		}
		if (!drop)
			strbuf_add(&w->out, e->p + start, pos - start);
	}
	/* A last field without its LF (header cut short by the empty line
	 * search cannot give this, but a header-only entity can). */
	if (e->hdr_len > 0 && e->p[e->hdr_len - 1] != '\n')
		strbuf_add(&w->out, "\n", 1);
	if (top && !e->has_mime_version)
		strbuf_add_str(&w->out, "MIME-Version: 1.0\n");
	strbuf_add_str(&w->out, "Content-Transfer-Encoding: ");
	strbuf_add_str(&w->out, cte);
	strbuf_add(&w->out, "\n", 1);
	/* The empty line as it was ("\n" or "\r\n"). */
	strbuf_add(&w->out, e->p + e->hdr_len, e->body_off - e->hdr_len);
}

/* A delimiter line: "--" boundary ["--"] *LWSP (RFC 2046 5.1.1). Sets
 * *close for the close delimiter. */
static bool is_delim(const char *s, size_t t, const char *bnd, size_t blen, bool *close)
{
	size_t i = 2 + blen;

	if (t < i || s[0] != '-' || s[1] != '-' || memcmp(s + 2, bnd, blen) != 0)
		return false;
	*close = t >= i + 2 && s[i] == '-' && s[i + 1] == '-';
	if (*close)
		i += 2;
	while (i < t && is_wsp(s[i]))
		i++;
	return i == t;
}

/* Preamble or epilogue: copied when 7-bit, else dropped (RFC 2046 5.1.1:
 * MIME readers ignore it). */
static void put_filler(struct walk *w, const char *p, size_t len)
{
	if (mime8_is_7bit(p, len))
		strbuf_add(&w->out, p, len);
}

static enum mime8_err do_multipart(struct walk *w, const struct entity *e, const char *bnd,
				   int depth, bool digest)
{
	const char *p = e->p + e->body_off;
	size_t len = e->len - e->body_off, blen = strlen(bnd);
	size_t pos = 0, seg = 0; /* seg: start of the current part or filler */
	bool in_part = false;

	while (pos < len) {
		size_t t, next = line_at(p, len, pos, &t);
		bool close;

		if (is_delim(p + pos, t, bnd, blen, &close)) {
			/* The line break before the delimiter belongs to it. */
			size_t cut = pos;
			enum mime8_err err;

			if (cut > seg && p[cut - 1] == '\n')
				cut--;
			if (cut > seg && p[cut - 1] == '\r')
				cut--;
			if (in_part) {
				err = do_entity(w, p + seg, cut - seg, depth + 1, digest, false);
				if (err != MIME8_ERR_NONE)
					return err;
			} else {
				put_filler(w, p + seg, cut - seg);
			}
			strbuf_add(&w->out, p + cut, next - cut);
			seg = next;
			in_part = !close;
			if (close)
				break;
		}
		pos = next;
	}
	if (in_part) {
		/* No close delimiter: the last part runs to the end. */
		return do_entity(w, p + seg, len - seg, depth + 1, digest, false);
	}
	put_filler(w, p + seg, len - seg);
	return MIME8_ERR_NONE;
}

static enum mime8_err do_entity(struct walk *w, const char *p, size_t len, int depth,
				bool digest, bool top)
{
	struct entity e;
	struct ctype ct;
	char cte[32];
	enum mime8_err err = MIME8_ERR_NONE;

	if (mime8_is_7bit(p, len)) {
		strbuf_add(&w->out, p, len);
		return MIME8_ERR_NONE;
	}
	if (depth > MIME8_DEPTH_MAX)
		return MIME8_ERR_DEPTH;
	if (!entity_parse(&e, p, len)) {
		entity_fini(&e);
		return MIME8_ERR_HEADER_8BIT;
	}
	if (e.ctype != NULL)
		ctype_parse(e.ctype, &ct);
	else
		memset(&ct, 0, sizeof(ct));
	/* RFC 2045 5.2 / RFC 2046 5.1.5: the defaults. */
	if (ct.type[0] == '\0') {
		if (digest) {
			memcpy(ct.type, "message", 8);
			memcpy(ct.subtype, "rfc822", 7);
		} else {
			memcpy(ct.type, "text", 5);
			memcpy(ct.subtype, "plain", 6);
		}
	}
	cte_parse(e.cte, cte, sizeof(cte));

	if (strcmp(ct.type, "multipart") == 0) {
		/* RFC 2045 6.4: a multipart is 7bit, 8bit or binary; after the
		 * walk it is 7bit. */
		if (!ct.has_boundary ||
		    (cte[0] != '\0' && strcmp(cte, "7bit") != 0 && strcmp(cte, "8bit") != 0 &&
		     strcmp(cte, "binary") != 0)) {
			err = MIME8_ERR_MULTIPART;
		} else {
			if (e.cte != NULL && strcmp(cte, "7bit") != 0)
				put_header(w, &e, "7bit", top);
			else
				strbuf_add(&w->out, p, e.body_off);
			err = do_multipart(w, &e, ct.boundary, depth,
					   strcmp(ct.subtype, "digest") == 0);
		}
	} else if (strcmp(ct.type, "message") == 0) {
		err = MIME8_ERR_MESSAGE_8BIT;
	} else if (strcmp(cte, "base64") == 0 || strcmp(cte, "quoted-printable") == 0) {
		err = MIME8_ERR_ENCODED_8BIT;
	} else {
		put_header(w, &e, "quoted-printable", top);
		qp_encode(&w->out, p + e.body_off, len - e.body_off);
	}
	entity_fini(&e);
	return err;
}

int mime8_downgrade(const char *in, size_t len, size_t out_max, char **out, size_t *out_len,
		    enum mime8_err *err_out)
{
	struct walk w;
	enum mime8_err err;

	strbuf_init(&w.out, out_max);
	*out = NULL;
	*out_len = 0;
	err = do_entity(&w, in, len, 0, false, true);
	if (err == MIME8_ERR_NONE && w.out.over)
		err = MIME8_ERR_TOO_BIG;
	*err_out = err;
	if (err != MIME8_ERR_NONE) {
		strbuf_fini(&w.out);
		return -1;
	}
	*out = strbuf_take(&w.out, out_len);
	return 0;
}
