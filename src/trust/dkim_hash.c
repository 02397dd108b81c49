/* dkim_hash: the header-hash input and the signature primitive shared by
 * dkim_sign and dkim_verify, so both sides select and canonicalise header
 * fields by the same code. Knows nothing of tags, DNS or policy; never
 * logs. */
#include "trust/dkim_hash.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/sha.h>

#include "core/alloc.h"
#include "proto/rfc5322.h"

int dkim_alg_parse(const char *s, size_t len, enum dkim_alg *out)
{
	if (len == 10 && memcmp(s, "rsa-sha256", 10) == 0)
		*out = DKIM_ALG_RSA_SHA256;
	else if (len == 14 && memcmp(s, "ed25519-sha256", 14) == 0)
		*out = DKIM_ALG_ED25519_SHA256;
	else
		return -1;
	return 0;
}

const char *dkim_alg_name(enum dkim_alg a)
{
	return a == DKIM_ALG_RSA_SHA256 ? "rsa-sha256" : "ed25519-sha256";
}

int dkim_fields_init(struct dkim_fields *f, const char *msg, size_t len, const char **err_out)
{
	size_t hdr_end = rfc5322_header_end(msg, len);
	size_t pos = 0, cap = 0;
	const char *name, *value;
	size_t name_len, value_len, start, end;

	memset(f, 0, sizeof(*f));
	f->body_off = hdr_end;
	while (rfc5322_next_field(msg, hdr_end, &pos, &name, &name_len, &value, &value_len, &start,
				  &end)) {
		struct dkim_field *d;

		if (f->n == DKIM_FIELDS_MAX) {
			dkim_fields_fini(f);
			*err_out = "too many header fields";
			return -1;
		}
		if (f->n == cap) {
			cap = cap == 0 ? 32 : cap * 2;
			f->v = xrealloc(f->v, cap * sizeof(*f->v));
		}
		d = &f->v[f->n++];
		d->name = name;
		d->name_len = name_len;
		d->text = msg + start;
		d->len = (size_t)(value + value_len - (msg + start));
	}
	return 0;
}

void dkim_fields_fini(struct dkim_fields *f)
{
	free(f->v);
	f->v = NULL;
	f->n = 0;
}

static bool name_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		char x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

/* Appends the canonical form of text to *buf, growing it. */
static int append_canon(enum dkim_canon c, const char *text, size_t len, bool crlf, char **buf,
			size_t *used, size_t *cap)
{
	size_t need = dkim_canon_header_max(len);
	size_t total;
	long n;

	if (need == SIZE_MAX || ckd_add_size(&total, *used, need))
		return -1;
	if (total > *cap) {
		*cap = total > *cap * 2 ? total : *cap * 2;
		*buf = xrealloc(*buf, *cap);
	}
	n = dkim_canon_header(c, text, len, crlf, *buf + *used, *cap - *used);
	if (n < 0)
		return -1;
	*used += (size_t)n;
	return 0;
}

int dkim_signed_data(enum dkim_canon c, const struct dkim_fields *f, const struct dkim_name *h,
		     size_t nh, size_t self_index, const char *sig_field, size_t sig_len,
		     char **out, size_t *out_len)
{
	bool *used_field = xcalloc(f->n > 0 ? f->n : 1, sizeof(bool));
	char *buf = NULL;
	size_t used = 0, cap = 0;

	for (size_t k = 0; k < nh; k++) {
		for (size_t i = f->n; i-- > 0;) {
			const struct dkim_field *d = &f->v[i];
			if (used_field[i] || i == self_index ||
			    !name_eq(d->name, d->name_len, h[k].p, h[k].len))
				continue;
			used_field[i] = true;
			if (append_canon(c, d->text, d->len, true, &buf, &used, &cap) != 0)
				goto fail;
			break;
		}
	}
	if (append_canon(c, sig_field, sig_len, false, &buf, &used, &cap) != 0)
		goto fail;
	free(used_field);
	*out = buf;
	*out_len = used;
	return 0;
fail:
	free(used_field);
	free(buf);
	return -1;
}

bool dkim_key_fits(EVP_PKEY *key, enum dkim_alg alg)
{
	if (alg == DKIM_ALG_ED25519_SHA256)
		return EVP_PKEY_is_a(key, "ED25519");
	if (!EVP_PKEY_is_a(key, "RSA"))
		return false;
	int bits = EVP_PKEY_get_bits(key);
	return bits >= DKIM_RSA_BITS_MIN && bits <= DKIM_RSA_BITS_MAX;
}

int dkim_crypto_sign(EVP_PKEY *key, enum dkim_alg alg, const char *data, size_t len,
		     unsigned char *sig, size_t *sig_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char digest[SHA256_DIGEST_LENGTH];
	size_t n = 0;
	int rc = -1;

	if (md == NULL || !dkim_key_fits(key, alg))
		goto out;
	if (alg == DKIM_ALG_RSA_SHA256) {
		if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
		    EVP_DigestSign(md, NULL, &n, (const unsigned char *)data, len) != 1 ||
		    n > DKIM_SIG_MAX ||
		    EVP_DigestSign(md, sig, &n, (const unsigned char *)data, len) != 1)
			goto out;
	} else {
		/* RFC 8463 3: Ed25519 signs the SHA-256 hash, not the data. */
		if (SHA256((const unsigned char *)data, len, digest) == NULL ||
		    EVP_DigestSignInit(md, NULL, NULL, NULL, key) != 1)
			goto out;
		n = DKIM_SIG_MAX;
		if (EVP_DigestSign(md, sig, &n, digest, sizeof(digest)) != 1)
			goto out;
	}
	*sig_len = n;
	rc = 0;
out:
	if (rc != 0)
		ERR_clear_error();
	EVP_MD_CTX_free(md);
	return rc;
}

int dkim_crypto_verify(EVP_PKEY *key, enum dkim_alg alg, const char *data, size_t len,
		       const unsigned char *sig, size_t sig_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char digest[SHA256_DIGEST_LENGTH];
	int rc = -1;

	if (md == NULL)
		goto out;
	if (alg == DKIM_ALG_RSA_SHA256) {
		if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) != 1)
			goto out;
		rc = EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)data, len) == 1;
	} else {
		if (SHA256((const unsigned char *)data, len, digest) == NULL ||
		    EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) != 1)
			goto out;
		rc = EVP_DigestVerify(md, sig, sig_len, digest, sizeof(digest)) == 1;
	}
out:
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	return rc;
}
