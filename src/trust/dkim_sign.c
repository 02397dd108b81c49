/* dkim_sign: builds and signs the DKIM-Signature field for outgoing mail.
 * Owns the choice of signed headers, the tag order and the folding; the
 * canonicalisation and the signature primitive come from dkim_canon and
 * dkim_hash, shared with the verifier. Never logs, never touches files or
 * the network. */
#include "trust/dkim_sign.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "core/strbuf.h"
#include "proto/base64.h"
#include "proto/rfc5322.h"
#include "trust/dkim_canon.h"

#define FOLD_COL 78

static const char *const sign_names[] = {
	"From",		"To",	       "Cc",	       "Subject",
	"Date",		"Message-ID",  "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "Reply-To", "In-Reply-To", "References",
};

struct dkim_signer {
	enum dkim_alg alg;
	EVP_PKEY *key;	 /* borrowed */
	char *domain;	 /* owned */
	char *selector;	 /* owned */
	int64_t timestamp;
	char *hdr;	 /* owned: copy of the header block */
	size_t hdr_len;
	struct dkim_fields fields; /* owned; points into hdr */
	struct dkim_body body;	   /* owned digest */
};

/* The field being built, and where its current line stands. */
struct sbuf {
	struct strbuf s; /* owned */
	size_t col;	 /* column of the next character */
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	strbuf_add(&b->s, s, n);
	b->col += n;
}

/* Adds a piece that must not be split: on the current line when it fits,
 * else on a new folded line. sep is put first when on the same line. */
static void sb_piece(struct sbuf *b, const char *s, size_t n, bool sep, size_t extra)
{
	if (b->col + (sep ? 1 : 0) + n + extra > FOLD_COL && b->col > 1) {
		sb_add(b, "\n ", 2);
		b->col = 1;
	} else if (sep) {
		sb_add(b, " ", 1);
	}
	sb_add(b, s, n);
}

/* Adds a tag whose value may be folded: after each ':' (h=) or anywhere
 * (base64; FWS inside b= and bh= is ignored, 3.5). */
static void sb_tag(struct sbuf *b, const char *name, const char *value, bool anywhere,
		   bool last)
{
	char head[8];
	size_t vlen = strlen(value);
	size_t i = 0;
	int n = snprintf(head, sizeof(head), "%s=", name);

	KASSERT(n > 0 && (size_t)n < sizeof(head));
	/* Keep the name with the first unbreakable piece of the value. */
	size_t first = 0;
	if (!anywhere) {
		const char *c = memchr(value, ':', vlen);
		first = c != NULL ? (size_t)(c - value) + 1 : vlen + (last ? 0 : 1);
	}
	sb_piece(b, head, (size_t)n, b->col > 0 && b->s.p[b->s.len - 1] == ';', first);
	while (i < vlen) {
		size_t j = i;
		if (anywhere) {
			size_t room = b->col < FOLD_COL ? FOLD_COL - b->col : 0;
			if (room == 0) {
				sb_add(b, "\n ", 2);
				b->col = 1;
				continue;
			}
			j = i + room < vlen ? i + room : vlen;
			sb_add(b, value + i, j - i);
		} else {
			const char *c = memchr(value + i, ':', vlen - i);
			j = c != NULL ? (size_t)(c - value) + 1 : vlen;
			/* The last piece keeps room for the ';' after it. */
			sb_piece(b, value + i, j - i, false, j == vlen && !last ? 1 : 0);
		}
		i = j;
	}
	if (!last) {
		/* FWS may precede the ';' (3.2), so it can go on a new line. */
		if (b->col + 1 > FOLD_COL) {
			sb_add(b, "\n ", 2);
			b->col = 1;
		}
		sb_add(b, ";", 1);
	}
}

static bool is_dns_chars(const char *s, size_t max, bool underscore)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || (underscore && c == '_')))
			return false;
	}
	return true;
}

struct dkim_signer *dkim_signer_new(const struct dkim_sign_params *p, const char *hdr,
				    size_t hdr_len, const char **err_out)
{
	struct dkim_signer *s;
	enum dkim_alg alg;

	if (p->domain == NULL || !is_dns_chars(p->domain, DKIM_DOMAIN_MAX, false)) {
		*err_out = "bad signing domain";
		return NULL;
	}
	if (p->selector == NULL || !is_dns_chars(p->selector, DKIM_SELECTOR_MAX, true)) {
		*err_out = "bad selector";
		return NULL;
	}
	if (p->key == NULL) {
		*err_out = "no key";
		return NULL;
	}
	alg = EVP_PKEY_is_a(p->key, "ED25519") ? DKIM_ALG_ED25519_SHA256 : DKIM_ALG_RSA_SHA256;
	if (!dkim_key_fits(p->key, alg)) {
		*err_out = "key is not Ed25519 or RSA of 1024..4096 bits";
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->alg = alg;
	s->key = p->key;
	s->domain = xstrdup(p->domain);
	s->selector = xstrdup(p->selector);
	s->timestamp = p->timestamp;
	s->hdr = xmalloc(hdr_len > 0 ? hdr_len : 1);
	memcpy(s->hdr, hdr, hdr_len);
	s->hdr_len = hdr_len;
	if (dkim_fields_init(&s->fields, s->hdr, s->hdr_len, err_out) != 0) {
		free(s->hdr);
		free(s->domain);
		free(s->selector);
		free(s);
		return NULL;
	}
	if (dkim_body_init(&s->body, DKIM_CANON_RELAXED, -1) != 0) {
		*err_out = "digest init failed";
		dkim_signer_free(&s);
		return NULL;
	}
	return s;
}

void dkim_signer_body(struct dkim_signer *s, const char *data, size_t len)
{
	dkim_body_update(&s->body, data, len);
}

static size_t count_fields(const struct dkim_fields *f, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < f->n; i++)
		if (rfc5322_name_is(f->v[i].name, f->v[i].name_len, name))
			n++;
	return n;
}

int dkim_signer_finish(struct dkim_signer *s, char **field_out, const char **err_out)
{
	unsigned char bh[DKIM_HASH_LEN];
	char bh64[64], tbuf[32];
	struct dkim_name h[DKIM_H_MAX];
	size_t nh = 0;
	struct sbuf hl = { 0 }, f = { 0 };
	unsigned char sig[DKIM_SIG_MAX];
	size_t sig_len = 0;
	char *sig64 = NULL, *data = NULL;
	size_t data_len = 0;
	int rc = -1;

	strbuf_init(&hl.s, STRBUF_UNBOUNDED);
	strbuf_init(&f.s, STRBUF_UNBOUNDED);
	if (dkim_body_final(&s->body, bh, NULL) != 0) {
		*err_out = "body hash failed";
		return -1;
	}
	KASSERT(base64_encode(bh, sizeof(bh), bh64, sizeof(bh64)) > 0);
	/* h=: every occurrence of each name, From once more (RFC 6376 8.15). */
	for (size_t k = 0; k < sizeof(sign_names) / sizeof(sign_names[0]); k++) {
		const char *name = sign_names[k];
		size_t n = count_fields(&s->fields, name);
		bool from = k == 0;

		if (from)
			n++;
		for (size_t j = 0; j < n; j++) {
			if (nh == DKIM_H_MAX) {
				*err_out = "too many header fields to sign";
				goto out;
			}
			h[nh].p = name;
			h[nh].len = strlen(name);
			nh++;
			if (hl.s.len > 0)
				sb_add(&hl, ":", 1);
			sb_add(&hl, name, strlen(name));
		}
	}

	sb_add(&f, "DKIM-Signature:", 15);
	sb_piece(&f, "v=1;", 4, true, 0);
	sb_tag(&f, "a", dkim_alg_name(s->alg), false, false);
	sb_tag(&f, "c", "relaxed/relaxed", false, false);
	sb_tag(&f, "d", s->domain, false, false);
	sb_tag(&f, "s", s->selector, false, false);
	if (s->timestamp >= 0) {
		int n = snprintf(tbuf, sizeof(tbuf), "%lld", (long long)s->timestamp);
		KASSERT(n > 0 && (size_t)n < sizeof(tbuf));
		sb_tag(&f, "t", tbuf, false, false);
	}
	sb_tag(&f, "h", hl.s.p, false, false);
	sb_tag(&f, "bh", bh64, true, false);
	sb_tag(&f, "b", "", true, true);

	/* 3.7: the signature covers its own field with b= empty. */
	if (dkim_signed_data(DKIM_CANON_RELAXED, &s->fields, h, nh, SIZE_MAX, f.s.p, f.s.len,
			     &data, &data_len) != 0) {
		*err_out = "header canonicalisation failed";
		goto out;
	}
	if (dkim_crypto_sign(s->key, s->alg, data, data_len, sig, &sig_len) != 0) {
		*err_out = "signing failed";
		goto out;
	}
	sig64 = xmalloc(base64_encoded_len(sig_len) + 1);
	KASSERT(base64_encode(sig, sig_len, sig64, base64_encoded_len(sig_len) + 1) > 0);
	/* Continue the b= value right after the "b=" that was hashed. */
	{
		size_t i = 0, n = strlen(sig64);
		while (i < n) {
			size_t room = f.col < FOLD_COL ? FOLD_COL - f.col : 0;
			size_t j;
			if (room == 0) {
				sb_add(&f, "\n ", 2);
				f.col = 1;
				continue;
			}
			j = i + room < n ? i + room : n;
			sb_add(&f, sig64 + i, j - i);
			i = j;
		}
	}
	sb_add(&f, "\n", 1);
	*field_out = strbuf_take(&f.s, NULL);
	rc = 0;
out:
	free(sig64);
	free(data);
	strbuf_fini(&hl.s);
	strbuf_fini(&f.s);
	return rc;
}

void dkim_signer_free(struct dkim_signer **sp)
{
	struct dkim_signer *s = *sp;

	if (s == NULL)
		return;
	dkim_body_fini(&s->body);
	dkim_fields_fini(&s->fields);
	free(s->hdr);
	free(s->domain);
	free(s->selector);
	free(s);
	*sp = NULL;
}

int dkim_sign(const struct dkim_sign_params *p, const char *msg, size_t len, char **field_out,
	      const char **err_out)
{
	size_t body_off = rfc5322_header_end(msg, len);
	struct dkim_signer *s = dkim_signer_new(p, msg, body_off, err_out);
	int rc;

	if (s == NULL)
		return -1;
	dkim_signer_body(s, msg + body_off, len - body_off);
	rc = dkim_signer_finish(s, field_out, err_out);
	dkim_signer_free(&s);
	return rc;
}

EVP_PKEY *dkim_key_from_pem(const char *pem, size_t len)
{
	BIO *bio;
	EVP_PKEY *key;

	if (len > INT32_MAX)
		return NULL;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL)
		return NULL;
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ERR_clear_error();
	return key;
}

char *dkim_key_record(EVP_PKEY *key)
{
	unsigned char *der = NULL;
	unsigned char raw[32];
	size_t raw_len = sizeof(raw);
	const unsigned char *bytes;
	size_t n;
	const char *k;
	char *b64, *rec;
	size_t rec_len;
	int dlen = 0;

	if (EVP_PKEY_is_a(key, "ED25519")) {
		if (EVP_PKEY_get_raw_public_key(key, raw, &raw_len) != 1)
			return NULL;
		bytes = raw;
		n = raw_len;
		k = "ed25519";
	} else if (EVP_PKEY_is_a(key, "RSA")) {
		/* SubjectPublicKeyInfo DER, as RFC 6376 3.6.1 publishes it. */
		dlen = i2d_PUBKEY(key, &der);
		if (dlen <= 0)
			return NULL;
		bytes = der;
		n = (size_t)dlen;
		k = "rsa";
	} else {
		return NULL;
	}
	b64 = xmalloc(base64_encoded_len(n) + 1);
	KASSERT(base64_encode(bytes, n, b64, base64_encoded_len(n) + 1) >= 0);
	rec_len = strlen(b64) + 40;
	rec = xmalloc(rec_len);
	KASSERT(snprintf(rec, rec_len, "v=DKIM1; k=%s; p=%s", k, b64) < (int)rec_len);
	free(b64);
	OPENSSL_free(der);
	ERR_clear_error();
	return rec;
}
