/* dkim_verify: one DKIM-Signature against its key record text. Owns the
 * tag rules of the signature (RFC 6376 3.5) and the key record (3.6.1),
 * the time checks and the mapping of every failure to a result; the
 * canonicalisation, header selection and crypto are dkim_canon and
 * dkim_hash, shared with the signer. No DNS, no I/O, no logging. */
#include "trust/dkim_verify.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "core/alloc.h"
#include "proto/base64.h"
#include "proto/rfc5322.h"
#include "trust/dkim_tags.h"

const char *dkim_result_name(enum dkim_result r)
{
	switch (r) {
	case DKIM_RESULT_PASS:
		return "pass";
	case DKIM_RESULT_FAIL:
		return "fail";
	case DKIM_RESULT_NEUTRAL:
		return "neutral";
	case DKIM_RESULT_POLICY:
		return "policy";
	case DKIM_RESULT_TEMPERROR:
		return "temperror";
	case DKIM_RESULT_PERMERROR:
		return "permerror";
	}
	return "permerror";
}

long dkim_verify_list(const char *msg, size_t len, struct dkim_sig_ref *out, size_t out_max)
{
	struct dkim_fields f;
	const char *err;
	long n = 0;

	if (dkim_fields_init(&f, msg, len, &err) != 0)
		return -1;
	for (size_t i = 0; i < f.n; i++) {
		if (!rfc5322_name_is(f.v[i].name, f.v[i].name_len, "DKIM-Signature"))
			continue;
		if ((size_t)n < out_max) {
			out[n].index = i;
			out[n].field = f.v[i].text;
			out[n].len = f.v[i].len;
		}
		n++;
	}
	dkim_fields_fini(&f);
	return n;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Copies a domain-like value, lowercased; only letters, digits, '-', '_'
 * and '.' (selectors may carry '_'; refusing the rest keeps odd bytes out
 * of the DNS name the caller builds). */
static int copy_dns(const struct dkim_tag *t, char *out, size_t out_size)
{
	if (t->value_len == 0 || t->value_len >= out_size)
		return -1;
	for (size_t i = 0; i < t->value_len; i++) {
		char c = lower(t->value[i]);
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			return -1;
		out[i] = c;
	}
	out[t->value_len] = '\0';
	if (out[0] == '.' || out[t->value_len - 1] == '.')
		return -1;
	return 0;
}

/* Decimal of at most 12 digits (3.5: l=, t=, x= are at most 12). */
static int parse_num(const struct dkim_tag *t, int64_t *out)
{
	int64_t v = 0;

	if (t->value_len == 0 || t->value_len > 12)
		return -1;
	for (size_t i = 0; i < t->value_len; i++) {
		if (t->value[i] < '0' || t->value[i] > '9')
			return -1;
		v = v * 10 + (t->value[i] - '0');
	}
	*out = v;
	return 0;
}

/* Base64 with FWS anywhere (b=, bh=, p=). */
static int decode_b64(const struct dkim_tag *t, unsigned char *out, size_t out_size,
		      size_t *out_len)
{
	char text[DKIM_TAG_VALUE_MAX + 1];
	int n = dkim_tags_copy_nows(t, text, sizeof(text));

	if (n < 0)
		return -1;
	return base64_decode(text, (size_t)n, out, out_size, out_len);
}

/* Parses h=: header names separated by ':' with FWS around. */
static int parse_h(const struct dkim_tag *t, struct dkim_sig *s)
{
	const char *p = t->value, *end = t->value + t->value_len;

	s->nh = 0;
	while (p <= end) {
		const char *c = memchr(p, ':', (size_t)(end - p));
		const char *e = c != NULL ? c : end;
		const char *a = p, *z = e;

		while (a < z && (*a == ' ' || *a == '\t' || *a == '\r' || *a == '\n'))
			a++;
		while (z > a && (z[-1] == ' ' || z[-1] == '\t' || z[-1] == '\r' || z[-1] == '\n'))
			z--;
		if (a == z)
			return -1;
		for (const char *q = a; q < z; q++) /* ftext, 5322 3.6.8 */
			if (*q <= 32 || *q >= 127 || *q == ':')
				return -1;
		if (s->nh == DKIM_H_MAX)
			return -1;
		s->h[s->nh].p = a;
		s->h[s->nh].len = (size_t)(z - a);
		s->nh++;
		if (c == NULL)
			break;
		p = c + 1;
	}
	return 0;
}

/* Is sub equal to dom or a subdomain of it (case already folded)? */
static bool is_within(const char *sub, const char *dom)
{
	size_t a = strlen(sub), b = strlen(dom);

	if (a == b)
		return memcmp(sub, dom, a) == 0;
	return a > b && sub[a - b - 1] == '.' && memcmp(sub + a - b, dom, b) == 0;
}

int dkim_sig_parse(const char *field, size_t len, struct dkim_sig *out, const char **reason_out)
{
	struct dkim_tag_list tl;
	const struct dkim_tag *t;
	const char *colon = memchr(field, ':', len);
	const char *err;
	size_t n;

	memset(out, 0, sizeof(*out));
	out->l = out->t = out->x = -1;
	if (colon == NULL) {
		*reason_out = "not a header field";
		return -1;
	}
	if (dkim_tags_parse(colon + 1, len - (size_t)(colon + 1 - field), &tl, &err) != 0) {
		*reason_out = err;
		return -1;
	}
	t = dkim_tags_find(&tl, "v");
	if (t == NULL || !dkim_tags_value_is(t, "1")) {
		*reason_out = "missing or unsupported v=";
		return -1;
	}
	static const char *const required[] = { "a", "b", "bh", "d", "h", "s" };
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (dkim_tags_find(&tl, required[i]) == NULL) {
			*reason_out = "missing required tag";
			return -1;
		}
	}
	t = dkim_tags_find(&tl, "a");
	if (dkim_alg_parse(t->value, t->value_len, &out->alg) != 0) {
		*reason_out = "unknown algorithm";
		return -1;
	}
	out->hcanon = out->bcanon = DKIM_CANON_SIMPLE;
	t = dkim_tags_find(&tl, "c");
	if (t != NULL) {
		const char *slash = memchr(t->value, '/', t->value_len);
		size_t hl = slash != NULL ? (size_t)(slash - t->value) : t->value_len;

		if (dkim_canon_parse(t->value, hl, &out->hcanon) != 0 ||
		    (slash != NULL &&
		     dkim_canon_parse(slash + 1, t->value_len - hl - 1, &out->bcanon) != 0)) {
			*reason_out = "unknown canonicalization";
			return -1;
		}
	}
	if (copy_dns(dkim_tags_find(&tl, "d"), out->domain, sizeof(out->domain)) != 0) {
		*reason_out = "bad d=";
		return -1;
	}
	if (copy_dns(dkim_tags_find(&tl, "s"), out->selector, sizeof(out->selector)) != 0) {
		*reason_out = "bad s=";
		return -1;
	}
	if (parse_h(dkim_tags_find(&tl, "h"), out) != 0) {
		*reason_out = "bad h=";
		return -1;
	}
	bool from = false;
	for (size_t i = 0; i < out->nh; i++)
		if (rfc5322_name_is(out->h[i].p, out->h[i].len, "From"))
			from = true;
	if (!from) {
		*reason_out = "From not signed";
		return -1;
	}
	if (decode_b64(dkim_tags_find(&tl, "bh"), out->bh, sizeof(out->bh), &n) != 0 ||
	    n != DKIM_HASH_LEN) {
		*reason_out = "bad bh=";
		return -1;
	}
	t = dkim_tags_find(&tl, "b");
	if (decode_b64(t, out->b, sizeof(out->b), &out->b_len) != 0 || out->b_len == 0) {
		*reason_out = "bad b=";
		return -1;
	}
	out->b_off = (size_t)(t->value - field);
	out->b_len_raw = t->value_len;
	if ((t = dkim_tags_find(&tl, "l")) != NULL && parse_num(t, &out->l) != 0) {
		*reason_out = "bad l=";
		return -1;
	}
	if ((t = dkim_tags_find(&tl, "t")) != NULL && parse_num(t, &out->t) != 0) {
		*reason_out = "bad t=";
		return -1;
	}
	if ((t = dkim_tags_find(&tl, "x")) != NULL && parse_num(t, &out->x) != 0) {
		*reason_out = "bad x=";
		return -1;
	}
	if (out->t >= 0 && out->x >= 0 && out->x < out->t) {
		*reason_out = "x= before t=";
		return -1;
	}
	t = dkim_tags_find(&tl, "q");
	if (t != NULL && !dkim_tags_value_is(t, "dns/txt")) {
		*reason_out = "unsupported q=";
		return -1;
	}
	t = dkim_tags_find(&tl, "i");
	if (t != NULL) {
		/* i= is dkim-quoted-printable; only its domain matters here. */
		const char *at = memchr(t->value, '@', t->value_len);
		struct dkim_tag dom;

		if (at == NULL || t->value_len >= sizeof(out->auid)) {
			*reason_out = "bad i=";
			return -1;
		}
		dom.value = at + 1;
		dom.value_len = t->value_len - (size_t)(at + 1 - t->value);
		char d[256];
		if (copy_dns(&dom, d, sizeof(d)) != 0 || !is_within(d, out->domain)) {
			*reason_out = "i= not within d=";
			return -1;
		}
		memcpy(out->auid, t->value, t->value_len);
		out->auid[t->value_len] = '\0';
		out->has_auid = true;
	} else {
		out->auid[0] = '@';
		memcpy(out->auid + 1, out->domain, strlen(out->domain) + 1);
	}
	return 0;
}

/* The key record (3.6.1) reduced to what verifying needs. */
struct dkim_key {
	EVP_PKEY *pkey; /* owned */
	bool testing;	/* t=y */
	bool strict;	/* t=s: i= domain must equal d= */
};

static bool list_has(const struct dkim_tag *t, const char *word)
{
	const char *p = t->value, *end = t->value + t->value_len;
	size_t wl = strlen(word);

	while (p < end) {
		const char *c = memchr(p, ':', (size_t)(end - p));
		const char *e = c != NULL ? c : end;
		const char *a = p, *z = e;

		while (a < z && (*a == ' ' || *a == '\t' || *a == '\r' || *a == '\n'))
			a++;
		while (z > a && (z[-1] == ' ' || z[-1] == '\t' || z[-1] == '\r' || z[-1] == '\n'))
			z--;
		if ((size_t)(z - a) == wl && memcmp(a, word, wl) == 0)
			return true;
		if (c == NULL)
			break;
		p = c + 1;
	}
	return false;
}

static int key_parse(const char *rec, size_t len, enum dkim_alg alg, struct dkim_key *k,
		     const char **reason_out)
{
	struct dkim_tag_list tl;
	const struct dkim_tag *t;
	const char *err;
	unsigned char der[DKIM_TAG_VALUE_MAX];
	size_t n;

	memset(k, 0, sizeof(*k));
	if (dkim_tags_parse(rec, len, &tl, &err) != 0) {
		*reason_out = len > DKIM_TAGS_INPUT_MAX ? "key record too long" : "bad key record";
		return -1;
	}
	t = dkim_tags_find(&tl, "v");
	if (t != NULL && (tl.tags[0].name != t->name || !dkim_tags_value_is(t, "DKIM1"))) {
		*reason_out = "bad key record version";
		return -1;
	}
	t = dkim_tags_find(&tl, "k");
	if (alg == DKIM_ALG_ED25519_SHA256 ? t == NULL || !dkim_tags_value_is(t, "ed25519")
					   : t != NULL && !dkim_tags_value_is(t, "rsa")) {
		*reason_out = "key type does not match algorithm";
		return -1;
	}
	t = dkim_tags_find(&tl, "h");
	if (t != NULL && !list_has(t, "sha256")) {
		*reason_out = "key does not allow sha256";
		return -1;
	}
	t = dkim_tags_find(&tl, "s");
	if (t != NULL && !list_has(t, "*") && !list_has(t, "email")) {
		*reason_out = "key not for email";
		return -1;
	}
	t = dkim_tags_find(&tl, "t");
	if (t != NULL) {
		k->testing = list_has(t, "y");
		k->strict = list_has(t, "s");
	}
	t = dkim_tags_find(&tl, "p");
	if (t == NULL) {
		*reason_out = "key record without p=";
		return -1;
	}
	if (t->value_len == 0) {
		*reason_out = "key revoked";
		return -1;
	}
	if (decode_b64(t, der, sizeof(der), &n) != 0) {
		*reason_out = "bad key data";
		return -1;
	}
	if (alg == DKIM_ALG_ED25519_SHA256) {
		/* RFC 8463 4: the raw 32-octet public key. */
		if (n == 32)
			k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, n);
	} else {
		const unsigned char *p = der;
		k->pkey = d2i_PUBKEY(NULL, &p, (long)n);
		if (k->pkey == NULL || p != der + n) {
			/* Some publish a bare RSAPublicKey (PKCS#1). */
			EVP_PKEY_free(k->pkey);
			p = der;
			k->pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)n);
			if (k->pkey != NULL && p != der + n) {
				EVP_PKEY_free(k->pkey);
				k->pkey = NULL;
			}
		}
	}
	ERR_clear_error();
	if (k->pkey == NULL) {
		*reason_out = "bad key data";
		return -1;
	}
	if (!dkim_key_fits(k->pkey, alg)) {
		*reason_out = alg == DKIM_ALG_RSA_SHA256 ? "RSA key size outside 1024..4096 bits"
							 : "key type does not match algorithm";
		EVP_PKEY_free(k->pkey);
		k->pkey = NULL;
		return -1;
	}
	return 0;
}

/* Parsed keys, shared by every verification: a busy sender signs every
 * message with the same key, and decoding it (d2i_PUBKEY) costs more
 * than the RSA check itself. Keyed by the algorithm and the whole record
 * text; only keys that parsed and fit are kept; a record that changes is
 * a new entry. Verification runs on worker threads: one mutex. */
#define KEY_CACHE_SIZE 64
#define KEY_CACHE_REC_MAX 1024

struct key_cache_entry {
	enum dkim_alg alg;
	size_t len; /* 0: empty slot */
	char rec[KEY_CACHE_REC_MAX];
	struct dkim_key key; /* pkey owned by the cache */
};

static struct key_cache_entry key_cache[KEY_CACHE_SIZE];
static size_t key_cache_next;
static pthread_mutex_t key_cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* key_parse through the cache; k->pkey is the caller's reference. */
static int key_get(const char *rec, size_t len, enum dkim_alg alg, struct dkim_key *k,
		   const char **reason_out)
{
	if (len == 0 || len > KEY_CACHE_REC_MAX)
		return key_parse(rec, len, alg, k, reason_out);
	(void)pthread_mutex_lock(&key_cache_lock);
	for (size_t i = 0; i < KEY_CACHE_SIZE; i++) {
		struct key_cache_entry *e = &key_cache[i];
		if (e->len == len && e->alg == alg && memcmp(e->rec, rec, len) == 0 &&
		    EVP_PKEY_up_ref(e->key.pkey) == 1) {
			*k = e->key;
			(void)pthread_mutex_unlock(&key_cache_lock);
			return 0;
		}
	}
	(void)pthread_mutex_unlock(&key_cache_lock);
	if (key_parse(rec, len, alg, k, reason_out) != 0)
		return -1;
	if (EVP_PKEY_up_ref(k->pkey) != 1)
		return 0; /* not cached; the caller's reference stands */
	(void)pthread_mutex_lock(&key_cache_lock);
	struct key_cache_entry *e = &key_cache[key_cache_next];
	key_cache_next = (key_cache_next + 1) % KEY_CACHE_SIZE;
	EVP_PKEY *old = e->len != 0 ? e->key.pkey : NULL;
	e->alg = alg;
	e->len = len;
	memcpy(e->rec, rec, len);
	e->key = *k;
	(void)pthread_mutex_unlock(&key_cache_lock);
	EVP_PKEY_free(old);
	return 0;
}

enum dkim_result dkim_verify(const char *msg, size_t len, const struct dkim_sig_ref *ref,
			     const char *key_rec, size_t key_len, int64_t now,
			     const char **reason_out)
{
	struct dkim_sig *sig = xmalloc(sizeof(*sig));
	struct dkim_fields f;
	struct dkim_key key = { 0 };
	unsigned char bh[DKIM_HASH_LEN];
	uint64_t total = 0;
	char *blank = NULL, *data = NULL;
	size_t data_len = 0;
	enum dkim_result r = DKIM_RESULT_PERMERROR;
	const char *err;
	int ok;

	if (dkim_fields_init(&f, msg, len, reason_out) != 0) {
		free(sig);
		return DKIM_RESULT_PERMERROR;
	}
	if (ref->index >= f.n || f.v[ref->index].text != ref->field ||
	    f.v[ref->index].len != ref->len) {
		*reason_out = "signature not in this message";
		goto out;
	}
	if (dkim_sig_parse(ref->field, ref->len, sig, reason_out) != 0)
		goto out;
	if (sig->x >= 0 && now > sig->x) {
		*reason_out = "signature expired";
		goto out;
	}
	if (sig->t >= 0 && sig->t > now + DKIM_CLOCK_SKEW) {
		*reason_out = "signature timestamp in the future";
		goto out;
	}
	if (key_get(key_rec, key_len, sig->alg, &key, reason_out) != 0)
		goto out;
	if (key.strict && sig->has_auid) {
		const char *at = strchr(sig->auid, '@');
		if (at == NULL || strcasecmp(at + 1, sig->domain) != 0) {
			*reason_out = "key requires i= domain equal to d=";
			goto out;
		}
	}
	/* Body: with l=, the scan stops soon after l octets. */
	if (dkim_body_hash(sig->bcanon, sig->l, msg + f.body_off, len - f.body_off, bh, &total) !=
	    0) {
		*reason_out = "body hash failed";
		goto out;
	}
	if (sig->l >= 0 && (uint64_t)sig->l > total) {
		*reason_out = "l= longer than the body";
		goto out;
	}
	if (memcmp(bh, sig->bh, sizeof(bh)) != 0) {
		r = key.testing ? DKIM_RESULT_NEUTRAL : DKIM_RESULT_FAIL;
		*reason_out = "body hash did not verify";
		goto out;
	}
	/* 3.7: the field itself with the b= value removed, nothing else. */
	blank = xmalloc(ref->len);
	memcpy(blank, ref->field, sig->b_off);
	memcpy(blank + sig->b_off, ref->field + sig->b_off + sig->b_len_raw,
	       ref->len - sig->b_off - sig->b_len_raw);
	if (dkim_signed_data(sig->hcanon, &f, sig->h, sig->nh, ref->index, blank,
			     ref->len - sig->b_len_raw, &data, &data_len) != 0) {
		*reason_out = "header canonicalisation failed";
		goto out;
	}
	ok = dkim_crypto_verify(key.pkey, sig->alg, data, data_len, sig->b, sig->b_len);
	if (ok == 1) {
		r = DKIM_RESULT_PASS;
		*reason_out = "ok";
	} else if (ok == 0) {
		r = key.testing ? DKIM_RESULT_NEUTRAL : DKIM_RESULT_FAIL;
		*reason_out = "signature did not verify";
	} else {
		r = DKIM_RESULT_TEMPERROR;
		*reason_out = "crypto failure";
	}
out:
	(void)err;
	free(data);
	free(blank);
	EVP_PKEY_free(key.pkey);
	dkim_fields_fini(&f);
	free(sig);
	return r;
}
