/* dkim_canon: RFC 6376 3.4 header and body canonicalisation over stored
 * (LF) or wire (CRLF) text, and the streaming SHA-256 body hash with the
 * l= limit. Owns no message data; knows nothing of signatures, keys or
 * DNS. Never logs. */
#include "trust/dkim_canon.h"

#include <string.h>

#include "core/kassert.h"

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int dkim_canon_parse(const char *s, size_t len, enum dkim_canon *out)
{
	if (len == 6 && memcmp(s, "simple", 6) == 0)
		*out = DKIM_CANON_SIMPLE;
	else if (len == 7 && memcmp(s, "relaxed", 7) == 0)
		*out = DKIM_CANON_RELAXED;
	else
		return -1;
	return 0;
}

const char *dkim_canon_name(enum dkim_canon c)
{
	return c == DKIM_CANON_SIMPLE ? "simple" : "relaxed";
}

size_t dkim_canon_header_max(size_t len)
{
	size_t n;

	/* simple turns every LF into CRLF: at most twice the input. */
	if (__builtin_mul_overflow(len, 2, &n) || __builtin_add_overflow(n, 2, &n))
		return SIZE_MAX;
	return n;
}

static long header_simple(const char *f, size_t len, bool crlf, char *out, size_t out_size)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (f[i] == '\n' && (i == 0 || f[i - 1] != '\r')) {
			if (o + 2 > out_size)
				return -1;
			out[o++] = '\r';
			out[o++] = '\n';
			continue;
		}
		if (o + 1 > out_size)
			return -1;
		out[o++] = f[i];
	}
	if (crlf) {
		if (o + 2 > out_size)
			return -1;
		out[o++] = '\r';
		out[o++] = '\n';
	}
	return (long)o;
}

/* 3.4.2: lowercase the name, unfold, WSP runs to one SP, no WSP at the
 * end of the value or around the ':'. */
static long header_relaxed(const char *f, size_t len, bool crlf, char *out, size_t out_size)
{
	const char *colon = memchr(f, ':', len);
	size_t o = 0;
	size_t nlen;
	bool wsp = false;
	bool started = false; /* a value character was written */

	if (colon == NULL)
		return -1;
	nlen = (size_t)(colon - f);
	while (nlen > 0 && (is_wsp(f[nlen - 1]) || f[nlen - 1] == '\r' || f[nlen - 1] == '\n'))
		nlen--;
	if (nlen + 1 > out_size)
		return -1;
	for (size_t i = 0; i < nlen; i++)
		out[o++] = lower(f[i]);
	out[o++] = ':';
	for (size_t i = (size_t)(colon - f) + 1; i < len; i++) {
		char c = f[i];
		if (c == '\r' || c == '\n')
			continue; /* unfold */
		if (is_wsp(c)) {
			wsp = true;
			continue;
		}
		/* No SP right after the ':' (leading WSP of the value). */
		if (wsp && started) {
			if (o + 1 > out_size)
				return -1;
			out[o++] = ' ';
		}
		wsp = false;
		started = true;
		if (o + 1 > out_size)
			return -1;
		out[o++] = c;
	}
	if (crlf) {
		if (o + 2 > out_size)
			return -1;
		out[o++] = '\r';
		out[o++] = '\n';
	}
	return (long)o;
}

long dkim_canon_header(enum dkim_canon c, const char *field, size_t len, bool crlf, char *out,
		       size_t out_size)
{
	if (memchr(field, ':', len) == NULL)
		return -1;
	if (c == DKIM_CANON_SIMPLE)
		return header_simple(field, len, crlf, out, out_size);
	return header_relaxed(field, len, crlf, out, out_size);
}

static void body_flush(struct dkim_body *b)
{
	if (b->buf_len > 0 && b->md != NULL)
		(void)EVP_DigestUpdate(b->md, b->buf, b->buf_len);
	b->buf_len = 0;
}

/* Emits canonical octets: hashed up to the limit, counted always. */
static void body_emit(struct dkim_body *b, const char *p, size_t n)
{
	uint64_t take = n;

	if (b->limited) {
		uint64_t room = b->total < b->limit ? b->limit - b->total : 0;
		if (take > room)
			take = room;
	}
	b->total += n;
	if (b->limited && b->total > b->limit)
		b->done = true; /* l= is now known to be within the body */
	while (take > 0) {
		size_t chunk = sizeof(b->buf) - b->buf_len;
		if (chunk > take)
			chunk = (size_t)take;
		memcpy(b->buf + b->buf_len, p, chunk);
		b->buf_len += chunk;
		p += chunk;
		take -= chunk;
		if (b->buf_len == sizeof(b->buf))
			body_flush(b);
	}
}

/* Releases held-back empty lines: a non-empty line follows them. */
static void body_release_empty(struct dkim_body *b)
{
	while (b->empty_lines > 0 && !b->done) {
		body_emit(b, "\r\n", 2);
		b->empty_lines--;
	}
	b->empty_lines = 0;
}

static void body_line_end(struct dkim_body *b)
{
	if (b->line_content)
		body_emit(b, "\r\n", 2);
	else
		b->empty_lines++;
	b->line_content = false;
	b->wsp_pending = false;
}

static void body_char(struct dkim_body *b, char c)
{
	if (b->canon == DKIM_CANON_RELAXED && is_wsp(c)) {
		b->wsp_pending = true;
		return;
	}
	if (!b->line_content) {
		body_release_empty(b);
		b->line_content = true;
	}
	if (b->wsp_pending) {
		body_emit(b, " ", 1);
		b->wsp_pending = false;
	}
	body_emit(b, &c, 1);
}

int dkim_body_init(struct dkim_body *b, enum dkim_canon c, int64_t limit)
{
	memset(b, 0, sizeof(*b));
	b->canon = c;
	b->limited = limit >= 0;
	b->limit = limit >= 0 ? (uint64_t)limit : 0;
	b->md = EVP_MD_CTX_new();
	if (b->md == NULL || EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(b->md);
		b->md = NULL;
		return -1;
	}
	return 0;
}

void dkim_body_update(struct dkim_body *b, const char *data, size_t len)
{
	size_t i = 0;

	while (i < len && !b->done) {
		char c = data[i];
		if (b->cr_pending) {
			b->cr_pending = false;
			if (c == '\n') {
				body_line_end(b);
				i++;
				continue;
			}
			body_char(b, '\r'); /* a lone CR is text */
			continue;
		}
		if (c == '\r') {
			b->cr_pending = true;
			i++;
			continue;
		}
		if (c == '\n') {
			body_line_end(b);
			i++;
			continue;
		}
		/* Fast path for runs of ordinary text inside a line. */
		if (b->line_content && !b->wsp_pending && c != ' ' && c != '\t') {
			size_t j = i;
			while (j < len && data[j] != '\r' && data[j] != '\n' &&
			       (b->canon == DKIM_CANON_SIMPLE || !is_wsp(data[j])))
				j++;
			body_emit(b, data + i, j - i);
			i = j;
			continue;
		}
		body_char(b, c);
		i++;
	}
}

int dkim_body_final(struct dkim_body *b, unsigned char out[DKIM_HASH_LEN], uint64_t *total_out)
{
	unsigned int n = 0;

	KASSERT(b->md != NULL);
	if (!b->done) {
		if (b->cr_pending) {
			b->cr_pending = false;
			body_char(b, '\r');
		}
		/* A last line without its line end gets one. */
		if (b->line_content)
			body_emit(b, "\r\n", 2);
		/* 3.4.3: simple makes an empty body one CRLF (trailing empty
		 * lines are never emitted, so total == 0 means empty). */
		if (b->canon == DKIM_CANON_SIMPLE && b->total == 0)
			body_emit(b, "\r\n", 2);
	}
	body_flush(b);
	if (EVP_DigestFinal_ex(b->md, out, &n) != 1 || n != DKIM_HASH_LEN)
		return -1;
	if (total_out != NULL)
		*total_out = b->total;
	return 0;
}

void dkim_body_fini(struct dkim_body *b)
{
	EVP_MD_CTX_free(b->md);
	b->md = NULL;
}

int dkim_body_hash(enum dkim_canon c, int64_t limit, const char *body, size_t len,
		   unsigned char out[DKIM_HASH_LEN], uint64_t *total_out)
{
	struct dkim_body b;
	int rc;

	if (dkim_body_init(&b, c, limit) != 0)
		return -1;
	dkim_body_update(&b, body, len);
	rc = dkim_body_final(&b, out, total_out);
	dkim_body_fini(&b);
	return rc;
}
