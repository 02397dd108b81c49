/* sasl: the server-side SASL state machines for PLAIN, LOGIN and
 * SCRAM-SHA-256, one struct sasl_server per AUTH exchange. It owns the
 * mechanism syntax (RFC 4616, draft-murchison-sasl-login, RFC 5802 5/7),
 * the phase of the exchange and the secrets seen during it, which it
 * wipes as soon as they are used. It must not do I/O, look users up,
 * check passwords, log or reply: the session does that when told to
 * (SASL_CHECK_PASSWORD, SASL_NEED_CREDS) and maps statuses to replies.
 * SCRAM key derivation lives in auth/scram.c. */
#include "proto/sasl.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "proto/base64.h"

/* Decoded size of the longest accepted line. */
#define SASL_DECODED_MAX (SASL_LINE_MAX / 4 * 3)
/* RFC 5802 leaves the nonce length open; 18 random bytes give a 24
 * character nonce without padding. */
#define SASL_SNONCE_BYTES 18
#define SASL_SNONCE_LEN 24
/* Server-first beyond the client nonce: "r=" ",s=" salt(88) ",i=" 10
 * digits, rounded up. */
#define SASL_SERVER_FIRST_EXTRA 128

/* The client nonce is at most the decoded line, so any server-first
 * message, base64-encoded with its NUL, fits SASL_CHALLENGE_MAX. */
_Static_assert((SASL_DECODED_MAX + SASL_SNONCE_LEN + SASL_SERVER_FIRST_EXTRA + 2) / 3 * 4 + 1 <=
		       SASL_CHALLENGE_MAX,
	       "SASL_CHALLENGE_MAX too small for a SCRAM server-first message");
_Static_assert(SASL_SNONCE_BYTES % 3 == 0 && SASL_SNONCE_BYTES / 3 * 4 == SASL_SNONCE_LEN,
	       "server nonce must encode without padding");

/* base64("Username:") and base64("Password:"), what LOGIN clients expect. */
#define SASL_LOGIN_USER_CHALLENGE "VXNlcm5hbWU6"
#define SASL_LOGIN_PASS_CHALLENGE "UGFzc3dvcmQ6"

enum sasl_phase {
	SASL_PHASE_NEW, /* start not called yet */
	SASL_PHASE_PLAIN, /* PLAIN: empty challenge sent, message next */
	SASL_PHASE_LOGIN_USER, /* "Username:" sent */
	SASL_PHASE_LOGIN_PASS, /* "Password:" sent */
	SASL_PHASE_CHECK, /* SASL_CHECK_PASSWORD returned */
	SASL_PHASE_SCRAM_FIRST, /* empty challenge sent, client-first next */
	SASL_PHASE_SCRAM_CREDS, /* SASL_NEED_CREDS returned */
	SASL_PHASE_SCRAM_FINAL, /* server-first sent, client-final next */
	SASL_PHASE_SCRAM_ACK, /* server-final sent, empty response next */
	SASL_PHASE_DONE, /* a terminal status was returned */
};

struct sasl_server {
	enum sasl_mech mech;
	enum sasl_phase phase;
	bool has_authcid;
	bool has_authzid;
	bool has_password;
	char authcid[SASL_FIELD_MAX + 1];
	char authzid[SASL_FIELD_MAX + 1];
	char password[SASL_FIELD_MAX + 1]; /* secret; wiped when used */
	/* SCRAM, from the client-first message on. AuthMessage needs the
	 * messages exactly as sent. */
	char *gs2_header; /* owned, e.g. "n,," */
	size_t gs2_len;
	char *client_first_bare; /* owned */
	size_t bare_len;
	char *nonce; /* owned: client nonce, then with the server nonce */
	size_t nonce_len;
	char *server_first; /* owned */
	size_t server_first_len;
	struct scram_creds creds; /* secret; real or fake */
	bool creds_known; /* false: fake creds, the proof must fail */
};

static const char *const mech_names[] = {
	[SASL_MECH_PLAIN] = "PLAIN",
	[SASL_MECH_LOGIN] = "LOGIN",
	[SASL_MECH_SCRAM_SHA_256] = "SCRAM-SHA-256",
};

static unsigned char ascii_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

static bool ascii_case_eq(const char *a, size_t a_len, const char *b, size_t b_len)
{
	if (a_len != b_len)
		return false;
	for (size_t i = 0; i < a_len; i++) {
		if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
			return false;
	}
	return true;
}

bool sasl_mech_from_name(const char *name, size_t len, enum sasl_mech *out)
{
	for (size_t m = 0; m < sizeof(mech_names) / sizeof(mech_names[0]); m++) {
		if (ascii_case_eq(name, len, mech_names[m], strlen(mech_names[m]))) {
			*out = (enum sasl_mech)m;
			return true;
		}
	}
	return false;
}

const char *sasl_mech_name(enum sasl_mech mech)
{
	KASSERT((size_t)mech < sizeof(mech_names) / sizeof(mech_names[0]));
	return mech_names[mech];
}

bool sasl_mech_is_plaintext(enum sasl_mech mech)
{
	return mech == SASL_MECH_PLAIN || mech == SASL_MECH_LOGIN;
}

/* Well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, nothing above
 * U+10FFFF) without NUL: RFC 4616's UTF8-SAFE and RFC 5802's value-char
 * sets, before their comma/equals exclusions. */
static bool is_safe_utf8(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];
		unsigned char lo = 0x80, hi = 0xbf;
		size_t more;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			more = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			more = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			more = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			return false;
		}
		if (n - i - 1 < more || p[i + 1] < lo || p[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= more; k++) {
			if (p[i + k] < 0x80 || p[i + k] > 0xbf)
				return false;
		}
		i += more + 1;
	}
	return true;
}

/* A PLAIN/LOGIN field: at most SASL_FIELD_MAX octets of safe UTF-8. */
static bool is_valid_field(const unsigned char *p, size_t n)
{
	return n <= SASL_FIELD_MAX && is_safe_utf8(p, n);
}

static void set_field(char dst[SASL_FIELD_MAX + 1], const void *src, size_t n)
{
	KASSERT(n <= SASL_FIELD_MAX);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void free_secret_str(char **pp, size_t len)
{
	if (*pp != NULL) {
		OPENSSL_cleanse(*pp, len);
		free(*pp);
		*pp = NULL;
	}
}

static void wipe_password(struct sasl_server *s)
{
	OPENSSL_cleanse(s->password, sizeof(s->password));
	s->has_password = false;
}

/* Drops everything but the identities. */
static void wipe_scratch(struct sasl_server *s)
{
	wipe_password(s);
	free_secret_str(&s->gs2_header, s->gs2_len);
	free_secret_str(&s->client_first_bare, s->bare_len);
	free_secret_str(&s->nonce, s->nonce_len);
	free_secret_str(&s->server_first, s->server_first_len);
	s->gs2_len = s->bare_len = s->nonce_len = s->server_first_len = 0;
	OPENSSL_cleanse(&s->creds, sizeof(s->creds));
	s->creds_known = false;
}

/* Every status goes out through here: terminal ones end the exchange. */
static enum sasl_status finish(struct sasl_server *s, enum sasl_status st)
{
	if (st != SASL_CHALLENGE && st != SASL_CHECK_PASSWORD && st != SASL_NEED_CREDS) {
		s->phase = SASL_PHASE_DONE;
		wipe_scratch(s);
	}
	return st;
}

static enum sasl_status challenge(struct sasl_server *s, enum sasl_phase next, const char *text,
				  char *out, size_t out_size)
{
	size_t n = strlen(text);

	KASSERT(n < out_size);
	memcpy(out, text, n + 1);
	s->phase = next;
	return SASL_CHALLENGE;
}

struct sasl_server *sasl_server_new(enum sasl_mech mech)
{
	struct sasl_server *s = xcalloc(1, sizeof(*s));

	KASSERT((size_t)mech < sizeof(mech_names) / sizeof(mech_names[0]));
	s->mech = mech;
	s->phase = SASL_PHASE_NEW;
	return s;
}

void sasl_server_free(struct sasl_server **pp)
{
	struct sasl_server *s = *pp;

	if (s == NULL)
		return;
	wipe_scratch(s);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
	*pp = NULL;
}

const char *sasl_authcid(const struct sasl_server *s)
{
	return s->has_authcid ? s->authcid : NULL;
}

const char *sasl_authzid(const struct sasl_server *s)
{
	return s->has_authzid ? s->authzid : NULL;
}

const char *sasl_password(const struct sasl_server *s)
{
	return s->has_password ? s->password : NULL;
}

/* ------------------------------------------------------------------ */
/* PLAIN and LOGIN                                                     */

/* RFC 4616 2: message = [authzid] UTF8NUL authcid UTF8NUL passwd. */
static enum sasl_status plain_message(struct sasl_server *s, const unsigned char *m, size_t n)
{
	const unsigned char *nul1 = memchr(m, 0, n);
	const unsigned char *nul2;
	size_t zid_len, cid_len, pw_len;

	if (nul1 == NULL)
		return SASL_FAIL_MALFORMED;
	nul2 = memchr(nul1 + 1, 0, n - (size_t)(nul1 + 1 - m));
	if (nul2 == NULL)
		return SASL_FAIL_MALFORMED;
	zid_len = (size_t)(nul1 - m);
	cid_len = (size_t)(nul2 - nul1 - 1);
	pw_len = n - (size_t)(nul2 + 1 - m);
	/* A third NUL makes the password invalid in is_valid_field(). */
	if (cid_len == 0 || pw_len == 0 || !is_valid_field(m, zid_len) ||
	    !is_valid_field(nul1 + 1, cid_len) || !is_valid_field(nul2 + 1, pw_len))
		return SASL_FAIL_MALFORMED;
	set_field(s->authcid, nul1 + 1, cid_len);
	s->has_authcid = true;
	if (zid_len > 0) {
		/* No proxy authorization: acting as someone else is refused
		 * before the password is even looked at. */
		if (!ascii_case_eq((const char *)m, zid_len, s->authcid, cid_len))
			return SASL_FAIL_AUTH;
		set_field(s->authzid, m, zid_len);
		s->has_authzid = true;
	}
	set_field(s->password, nul2 + 1, pw_len);
	s->has_password = true;
	s->phase = SASL_PHASE_CHECK;
	return SASL_CHECK_PASSWORD;
}

static enum sasl_status login_user(struct sasl_server *s, const unsigned char *m, size_t n,
				   char *out, size_t out_size)
{
	if (n == 0 || !is_valid_field(m, n))
		return SASL_FAIL_MALFORMED;
	set_field(s->authcid, m, n);
	s->has_authcid = true;
	return challenge(s, SASL_PHASE_LOGIN_PASS, SASL_LOGIN_PASS_CHALLENGE, out, out_size);
}

static enum sasl_status login_pass(struct sasl_server *s, const unsigned char *m, size_t n)
{
	if (n == 0 || !is_valid_field(m, n))
		return SASL_FAIL_MALFORMED;
	set_field(s->password, m, n);
	s->has_password = true;
	s->phase = SASL_PHASE_CHECK;
	return SASL_CHECK_PASSWORD;
}

/* ------------------------------------------------------------------ */
/* SCRAM-SHA-256                                                       */

/* Offset of the next ',' at or after i, or n. */
static size_t next_comma(const char *m, size_t n, size_t i)
{
	const char *c = memchr(m + i, ',', n - i);

	return c ? (size_t)(c - m) : n;
}

static bool has_prefix(const char *m, size_t n, size_t i, const char *prefix)
{
	size_t len = strlen(prefix);

	return n - i >= len && memcmp(m + i, prefix, len) == 0;
}

/* RFC 5802 7: saslname = 1*(value-safe-char / "=2C" / "=3D"). Decodes
 * m[0..n) (no ',' inside) into a field. */
static bool parse_saslname(const char *m, size_t n, char dst[SASL_FIELD_MAX + 1])
{
	size_t o = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = m[i];

		if (c == '=') {
			if (n - i < 3)
				return false;
			if (m[i + 1] == '2' && m[i + 2] == 'C')
				c = ',';
			else if (m[i + 1] == '3' && m[i + 2] == 'D')
				c = '=';
			else
				return false;
			i += 2;
		}
		if (o == SASL_FIELD_MAX)
			return false;
		dst[o++] = c;
	}
	dst[o] = '\0';
	return true;
}

/* RFC 5802 7: attr-val = ALPHA "=" value, value = 1*value-char. m[i..j)
 * is one attribute (no ',' inside; UTF-8 checked by the caller). */
static bool is_attr_val(const char *m, size_t i, size_t j)
{
	char a = m[i];

	return j - i >= 3 && ((a >= 'a' && a <= 'z') || (a >= 'A' && a <= 'Z')) &&
	       m[i + 1] == '=';
}

/* Client nonce: printable = %x21-2B / %x2D-7E (',' cannot occur). */
static bool is_nonce(const char *m, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (m[i] < 0x21 || m[i] > 0x7e)
			return false;
	}
	return true;
}

/* RFC 5802 7:
 *   client-first-message = gs2-header client-first-message-bare
 *   gs2-header = gs2-cbind-flag "," [ authzid ] ","
 *   client-first-message-bare = [reserved-mext ","] username "," nonce
 *                               ["," extensions] */
static enum sasl_status scram_client_first(struct sasl_server *s, const char *m, size_t n)
{
	char zid[SASL_FIELD_MAX + 1];
	bool has_zid = false;
	size_t i, j;

	if (!is_safe_utf8((const unsigned char *)m, n))
		return SASL_FAIL_MALFORMED;
	/* "p=": the client wants channel binding; we offer no -PLUS mech. */
	if (n < 2 || (m[0] != 'n' && m[0] != 'y') || m[1] != ',')
		return SASL_FAIL_MALFORMED;
	i = 2;
	if (has_prefix(m, n, i, "a=")) {
		j = next_comma(m, n, i);
		if (j == n || !parse_saslname(m + i + 2, j - i - 2, zid))
			return SASL_FAIL_MALFORMED;
		has_zid = true;
		i = j;
	}
	if (i == n || m[i] != ',')
		return SASL_FAIL_MALFORMED;
	s->gs2_len = ++i;

	/* "m=" is reserved for mandatory extensions: RFC 5802 5.1 says to
	 * fail when it is present, since we support none. */
	if (!has_prefix(m, n, i, "n="))
		return SASL_FAIL_MALFORMED;
	j = next_comma(m, n, i);
	if (j == n || !parse_saslname(m + i + 2, j - i - 2, s->authcid))
		return SASL_FAIL_MALFORMED;
	i = j + 1;
	if (!has_prefix(m, n, i, "r="))
		return SASL_FAIL_MALFORMED;
	j = next_comma(m, n, i);
	if (!is_nonce(m + i + 2, j - i - 2))
		return SASL_FAIL_MALFORMED;
	s->nonce = xstrndup(m + i + 2, j - i - 2);
	s->nonce_len = j - i - 2;
	while (j < n) {
		i = j + 1;
		j = next_comma(m, n, i);
		if (!is_attr_val(m, i, j))
			return SASL_FAIL_MALFORMED;
	}
	s->has_authcid = true;
	if (has_zid) {
		if (!ascii_case_eq(zid, strlen(zid), s->authcid, strlen(s->authcid)))
			return SASL_FAIL_AUTH;
		set_field(s->authzid, zid, strlen(zid));
		s->has_authzid = true;
	}
	s->gs2_header = xstrndup(m, s->gs2_len);
	s->bare_len = n - s->gs2_len;
	s->client_first_bare = xstrndup(m + s->gs2_len, s->bare_len);
	s->phase = SASL_PHASE_SCRAM_CREDS;
	return SASL_NEED_CREDS;
}

/* Process-wide key for fake salts, made once and never changed. It must
 * be secret: a salt computable from the name alone would tell an
 * attacker that the name has no account. */
static unsigned char fake_key[SCRAM_KEY_LEN];
static pthread_once_t fake_key_once = PTHREAD_ONCE_INIT;

static void fake_key_init(void)
{
	int rc = RAND_bytes(fake_key, sizeof(fake_key));

	/* No safe way on without a CSPRNG. */
	KASSERT(rc == 1);
}

/* HMAC(fake_key, label NUL lower(authcid)). Lower case because userdb
 * lookups ignore case: "Bob@x" and "bob@x" must get the same salt, as
 * they would for a real account. */
static int fake_derive(const struct sasl_server *s, const char *label,
		       unsigned char out[SCRAM_KEY_LEN])
{
	char buf[32 + SASL_FIELD_MAX];
	size_t label_len = strlen(label) + 1;
	size_t id_len = strlen(s->authcid);
	int rc;

	KASSERT(label_len <= 32);
	memcpy(buf, label, label_len);
	for (size_t i = 0; i < id_len; i++)
		buf[label_len + i] = (char)ascii_lower((unsigned char)s->authcid[i]);
	rc = scram_hmac(fake_key, sizeof(fake_key), buf, label_len + id_len, out);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

static int make_fake_creds(struct sasl_server *s)
{
	unsigned char salt[SCRAM_KEY_LEN];
	int rc;

	rc = pthread_once(&fake_key_once, fake_key_init);
	KASSERT(rc == 0);
	s->creds.iterations = SCRAM_DEFAULT_ITERATIONS;
	s->creds.salt_len = SCRAM_SALT_LEN;
	if (fake_derive(s, "salt", salt) != 0 ||
	    fake_derive(s, "stored", s->creds.stored_key) != 0 ||
	    fake_derive(s, "server", s->creds.server_key) != 0)
		return -1;
	memcpy(s->creds.salt, salt, SCRAM_SALT_LEN);
	return 0;
}

enum sasl_status sasl_set_scram_creds(struct sasl_server *s,
				      const struct scram_creds *creds_or_null, char *challenge_out,
				      size_t out_size)
{
	unsigned char snonce[SASL_SNONCE_BYTES];
	char salt_b64[(SCRAM_SALT_MAX + 2) / 3 * 4 + 1];
	char *nonce;
	size_t size;
	int n;

	KASSERT(out_size >= SASL_CHALLENGE_MAX);
	challenge_out[0] = '\0';
	if (s->phase != SASL_PHASE_SCRAM_CREDS)
		return finish(s, SASL_FAIL_MALFORMED);
	if (creds_or_null != NULL) {
		KASSERT(creds_or_null->iterations >= 1 &&
			creds_or_null->iterations <= SCRAM_ITERATIONS_MAX);
		KASSERT(creds_or_null->salt_len >= 1 && creds_or_null->salt_len <= SCRAM_SALT_MAX);
		s->creds = *creds_or_null;
		s->creds_known = true;
	} else if (make_fake_creds(s) != 0) {
		return finish(s, SASL_FAIL_AUTH);
	}
	if (RAND_bytes(snonce, sizeof(snonce)) != 1)
		return finish(s, SASL_FAIL_AUTH);

	/* The combined nonce: client nonce + server nonce (RFC 5802 5.1). */
	nonce = xmalloc(s->nonce_len + SASL_SNONCE_LEN + 1);
	memcpy(nonce, s->nonce, s->nonce_len);
	n = base64_encode(snonce, sizeof(snonce), nonce + s->nonce_len, SASL_SNONCE_LEN + 1);
	KASSERT(n == SASL_SNONCE_LEN);
	free_secret_str(&s->nonce, s->nonce_len);
	s->nonce = nonce;
	s->nonce_len += SASL_SNONCE_LEN;

	n = base64_encode(s->creds.salt, s->creds.salt_len, salt_b64, sizeof(salt_b64));
	KASSERT(n > 0);
	size = s->nonce_len + SASL_SERVER_FIRST_EXTRA;
	s->server_first = xmalloc(size);
	n = snprintf(s->server_first, size, "r=%s,s=%s,i=%u", s->nonce, salt_b64,
		     s->creds.iterations);
	KASSERT(n > 0 && (size_t)n < size);
	s->server_first_len = (size_t)n;
	n = base64_encode(s->server_first, s->server_first_len, challenge_out, out_size);
	KASSERT(n >= 0);
	s->phase = SASL_PHASE_SCRAM_FINAL;
	return SASL_CHALLENGE;
}

/* Checks the proof; on success writes base64("v=" ServerSignature). */
static enum sasl_status scram_verify(struct sasl_server *s, const char *without_proof,
				     size_t wp_len, const unsigned char proof[SCRAM_KEY_LEN],
				     char *out, size_t out_size)
{
	unsigned char sig[SCRAM_KEY_LEN], client_key[SCRAM_KEY_LEN];
	unsigned char stored[SCRAM_KEY_LEN];
	char final[2 + 44 + 1] = "v=";
	enum sasl_status st = SASL_FAIL_AUTH;
	size_t am_len = s->bare_len + 1 + s->server_first_len + 1 + wp_len;
	char *am = xmalloc(am_len);
	bool ok;

	/* AuthMessage = client-first-message-bare "," server-first-message
	 * "," client-final-message-without-proof (RFC 5802 3). */
	memcpy(am, s->client_first_bare, s->bare_len);
	am[s->bare_len] = ',';
	memcpy(am + s->bare_len + 1, s->server_first, s->server_first_len);
	am[s->bare_len + 1 + s->server_first_len] = ',';
	memcpy(am + s->bare_len + 2 + s->server_first_len, without_proof, wp_len);

	/* ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the
	 * client knows the password iff H(ClientKey) == StoredKey. */
	if (scram_hmac(s->creds.stored_key, SCRAM_KEY_LEN, am, am_len, sig) != 0)
		goto out;
	for (size_t i = 0; i < SCRAM_KEY_LEN; i++)
		client_key[i] = proof[i] ^ sig[i];
	if (scram_hash(client_key, SCRAM_KEY_LEN, stored) != 0)
		goto out;
	ok = CRYPTO_memcmp(stored, s->creds.stored_key, SCRAM_KEY_LEN) == 0;
	/* Fake creds never succeed, whatever the client sent. */
	if (!ok || !s->creds_known)
		goto out;
	if (scram_hmac(s->creds.server_key, SCRAM_KEY_LEN, am, am_len, sig) != 0 ||
	    base64_encode(sig, SCRAM_KEY_LEN, final + 2, sizeof(final) - 2) != 44 ||
	    base64_encode(final, strlen(final), out, out_size) < 0)
		goto out;
	s->phase = SASL_PHASE_SCRAM_ACK;
	st = SASL_CHALLENGE;
out:
	OPENSSL_cleanse(sig, sizeof(sig));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	OPENSSL_cleanse(stored, sizeof(stored));
	free(am);
	return st;
}

/* RFC 5802 7:
 *   client-final-message = client-final-message-without-proof "," proof
 *   client-final-message-without-proof = channel-binding "," nonce
 *                                        ["," extensions]
 * The whole message is parsed before any value is compared. */
static enum sasl_status scram_client_final(struct sasl_server *s, const char *m, size_t n,
					   char *out, size_t out_size)
{
	unsigned char cbind[SASL_DECODED_MAX];
	unsigned char proof[SCRAM_KEY_LEN];
	size_t cbind_len, proof_len, wp_len;
	size_t i, j, r_at, r_len;
	enum sasl_status st;

	if (!is_safe_utf8((const unsigned char *)m, n) || !has_prefix(m, n, 0, "c="))
		return SASL_FAIL_MALFORMED;
	j = next_comma(m, n, 0);
	if (j == n || base64_decode(m + 2, j - 2, cbind, sizeof(cbind), &cbind_len) != 0)
		return SASL_FAIL_MALFORMED;
	i = j + 1;
	if (!has_prefix(m, n, i, "r="))
		return SASL_FAIL_MALFORMED;
	j = next_comma(m, n, i);
	r_at = i + 2;
	r_len = j - r_at;
	/* Extensions, then the proof, which must come last. */
	for (;;) {
		if (j == n)
			return SASL_FAIL_MALFORMED;
		i = j + 1;
		j = next_comma(m, n, i);
		if (has_prefix(m, n, i, "p="))
			break;
		if (!is_attr_val(m, i, j))
			return SASL_FAIL_MALFORMED;
	}
	if (j != n)
		return SASL_FAIL_MALFORMED;
	wp_len = i - 1;
	if (base64_decode(m + i + 2, n - i - 2, proof, sizeof(proof), &proof_len) != 0 ||
	    proof_len != SCRAM_KEY_LEN) {
		OPENSSL_cleanse(proof, sizeof(proof));
		return SASL_FAIL_MALFORMED;
	}
	/* c= repeats the gs2 header: it would carry channel binding data,
	 * and it makes a downgrade of "y"/"n" or an authzid change visible
	 * inside the signed AuthMessage. r= must be our combined nonce. */
	if (cbind_len != s->gs2_len || memcmp(cbind, s->gs2_header, s->gs2_len) != 0 ||
	    r_len != s->nonce_len || memcmp(m + r_at, s->nonce, r_len) != 0) {
		OPENSSL_cleanse(proof, sizeof(proof));
		return SASL_FAIL_AUTH;
	}
	st = scram_verify(s, m, wp_len, proof, out, out_size);
	OPENSSL_cleanse(proof, sizeof(proof));
	return st;
}

/* ------------------------------------------------------------------ */
/* Driving                                                             */

/* Feeds one decoded client message to the current phase. */
static enum sasl_status feed(struct sasl_server *s, const unsigned char *m, size_t n, char *out,
			     size_t out_size)
{
	switch (s->phase) {
	case SASL_PHASE_PLAIN:
		return plain_message(s, m, n);
	case SASL_PHASE_LOGIN_USER:
		return login_user(s, m, n, out, out_size);
	case SASL_PHASE_LOGIN_PASS:
		return login_pass(s, m, n);
	case SASL_PHASE_SCRAM_FIRST:
		return scram_client_first(s, (const char *)m, n);
	case SASL_PHASE_SCRAM_FINAL:
		return scram_client_final(s, (const char *)m, n, out, out_size);
	case SASL_PHASE_SCRAM_ACK:
		/* The answer to the server-final challenge is empty. */
		return n == 0 ? SASL_SUCCESS : SASL_FAIL_MALFORMED;
	default:
		return SASL_FAIL_MALFORMED;
	}
}

/* Decodes a client line and feeds it; the decoded copy is wiped. */
static enum sasl_status feed_line(struct sasl_server *s, const char *line, size_t len, char *out,
				  size_t out_size)
{
	unsigned char buf[SASL_DECODED_MAX];
	size_t n = 0;
	enum sasl_status st;

	if (len > SASL_LINE_MAX)
		return finish(s, SASL_FAIL_MALFORMED);
	if (base64_decode(line, len, buf, sizeof(buf), &n) != 0) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return finish(s, SASL_FAIL_BASE64);
	}
	st = feed(s, buf, n, out, out_size);
	OPENSSL_cleanse(buf, n);
	return finish(s, st);
}

enum sasl_status sasl_server_start(struct sasl_server *s, const char *initial, size_t len,
				   char *challenge_out, size_t out_size)
{
	static const enum sasl_phase first_phase[] = {
		[SASL_MECH_PLAIN] = SASL_PHASE_PLAIN,
		[SASL_MECH_LOGIN] = SASL_PHASE_LOGIN_USER,
		[SASL_MECH_SCRAM_SHA_256] = SASL_PHASE_SCRAM_FIRST,
	};
	enum sasl_phase next;

	KASSERT(out_size >= SASL_CHALLENGE_MAX);
	challenge_out[0] = '\0';
	if (s->phase != SASL_PHASE_NEW)
		return finish(s, SASL_FAIL_MALFORMED);
	next = first_phase[s->mech];
	if (initial == NULL) {
		/* Client-first mechanisms: an empty challenge asks for the
		 * first message (RFC 4954 4); LOGIN asks for the name. */
		return challenge(s, next,
				 s->mech == SASL_MECH_LOGIN ? SASL_LOGIN_USER_CHALLENGE : "",
				 challenge_out, out_size);
	}
	s->phase = next;
	/* RFC 4954 4: "=" is an initial response of zero length. */
	if (len == 1 && initial[0] == '=')
		return finish(s, feed(s, (const unsigned char *)"", 0, challenge_out, out_size));
	return feed_line(s, initial, len, challenge_out, out_size);
}

enum sasl_status sasl_server_step(struct sasl_server *s, const char *line, size_t len,
				  char *challenge_out, size_t out_size)
{
	KASSERT(out_size >= SASL_CHALLENGE_MAX);
	challenge_out[0] = '\0';
	switch (s->phase) {
	case SASL_PHASE_PLAIN:
	case SASL_PHASE_LOGIN_USER:
	case SASL_PHASE_LOGIN_PASS:
	case SASL_PHASE_SCRAM_FIRST:
	case SASL_PHASE_SCRAM_FINAL:
	case SASL_PHASE_SCRAM_ACK:
		break;
	default:
		return finish(s, SASL_FAIL_MALFORMED);
	}
	if (len == 1 && line[0] == '*')
		return finish(s, SASL_FAIL_CANCELLED);
	return feed_line(s, line, len, challenge_out, out_size);
}

enum sasl_status sasl_password_result(struct sasl_server *s, bool ok, char *challenge_out,
				      size_t out_size)
{
	KASSERT(out_size >= SASL_CHALLENGE_MAX);
	challenge_out[0] = '\0';
	if (s->phase != SASL_PHASE_CHECK)
		return finish(s, SASL_FAIL_MALFORMED);
	return finish(s, ok ? SASL_SUCCESS : SASL_FAIL_AUTH);
}

const char *sasl_server_mech_name(const struct sasl_server *s)
{
	return sasl_mech_name(s->mech);
}
