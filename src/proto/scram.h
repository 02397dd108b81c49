/* scram: SCRAM-SHA-256 credentials and primitives (RFC 5802, RFC 7677).
 *
 * The users file keeps, in the extra field of an account, one
 * ':'-separated field
 *     scram-sha-256=ITER,SALT_B64,STOREDKEY_B64,SERVERKEY_B64
 * (base64 as in proto/base64.h, so no ':' can appear inside). The server
 * never sees the password for SCRAM: it keeps StoredKey and ServerKey.
 *
 * Passwords are used as given: SASLprep (RFC 4013) is not implemented.
 * ASCII passwords are unaffected; a non-ASCII password must already be in
 * the normalised form the client will use (NFKC, RFC 4013), or SCRAM
 * logins with it fail. Nothing is rejected for this reason.
 *
 * Key derivation (RFC 5802 section 3):
 *   SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, i)
 *   ClientKey = HMAC(SaltedPassword, "Client Key")
 *   StoredKey = SHA-256(ClientKey)
 *   ServerKey = HMAC(SaltedPassword, "Server Key")
 * All functions return 0 or -1 (-1 also when OpenSSL fails); no logging.
 * Output key buffers are SCRAM_KEY_LEN bytes. Secrets computed
 * internally are wiped with OPENSSL_cleanse. */
#ifndef KONVERT_PROTO_SCRAM_H
#define KONVERT_PROTO_SCRAM_H

#include <stdbool.h>
#include <stddef.h>

#define SCRAM_KEY_LEN 32 /* SHA-256 output */
#define SCRAM_SALT_LEN 16 /* fresh salts from scram_make_credentials */
#define SCRAM_SALT_MAX 64 /* largest salt accepted from the users file */
/* RFC 7677 section 4: the iteration count SHOULD be at least 4096. */
#define SCRAM_DEFAULT_ITERATIONS 4096u
#define SCRAM_MIN_ITERATIONS 4096u /* for new credentials */
/* Clients run PBKDF2 with this count at every login; keep it sane. */
#define SCRAM_ITERATIONS_MAX 10000000u
/* Room for the text written by scram_make_credentials, NUL included:
 * "scram-sha-256=" + 10 digits + 3 commas + 24 + 44 + 44 + NUL = 140. */
#define SCRAM_CREDS_TEXT_MAX 160

struct scram_creds {
	unsigned iterations; /* 1 .. SCRAM_ITERATIONS_MAX */
	unsigned char salt[SCRAM_SALT_MAX];
	size_t salt_len; /* 1 .. SCRAM_SALT_MAX */
	unsigned char stored_key[SCRAM_KEY_LEN];
	unsigned char server_key[SCRAM_KEY_LEN];
};

/* Makes credentials for password with a fresh random 16-byte salt and
 * writes "scram-sha-256=ITER,SALT,STOREDKEY,SERVERKEY" (NUL-terminated)
 * into out; SCRAM_CREDS_TEXT_MAX bytes are always enough. iterations 0
 * means SCRAM_DEFAULT_ITERATIONS; otherwise it must lie in
 * SCRAM_MIN_ITERATIONS .. SCRAM_ITERATIONS_MAX. Any password is accepted,
 * the empty one included. Runs PBKDF2: slow on purpose, never call it on
 * the event loop thread. */
int scram_make_credentials(const char *password, unsigned iterations, char *out, size_t out_size);

/* Finds the one "scram-sha-256=" field (name matched case-insensitively)
 * among the ':'-separated fields of extra and decodes it into *out.
 * Returns -1 when extra is NULL, the field is absent or appears twice, or
 * its value is malformed: ITER must be decimal digits without sign or
 * leading zero in 1 .. SCRAM_ITERATIONS_MAX, SALT must decode to
 * 1 .. SCRAM_SALT_MAX bytes and both keys to exactly SCRAM_KEY_LEN bytes.
 * On -1, *out is zeroed. Use scram_has_credentials() to tell an absent
 * field from a malformed one. */
int scram_parse_credentials(const char *extra, struct scram_creds *out);

/* True when extra (may be NULL) has at least one "scram-sha-256=" field,
 * well-formed or not. */
bool scram_has_credentials(const char *extra);

/* SaltedPassword. password need not be NUL-terminated; iterations >= 1. */
int scram_salted_password(const void *password, size_t password_len, const unsigned char *salt,
			  size_t salt_len, unsigned iterations, unsigned char out[SCRAM_KEY_LEN]);

/* ClientKey / ServerKey from SaltedPassword. */
int scram_client_key(const unsigned char salted[SCRAM_KEY_LEN], unsigned char out[SCRAM_KEY_LEN]);
int scram_server_key(const unsigned char salted[SCRAM_KEY_LEN], unsigned char out[SCRAM_KEY_LEN]);

/* HMAC-SHA-256(key, data) and SHA-256(data): StoredKey = scram_hash of
 * ClientKey; ClientSignature = scram_hmac(StoredKey, AuthMessage);
 * ServerSignature = scram_hmac(ServerKey, AuthMessage). */
int scram_hmac(const unsigned char *key, size_t key_len, const void *data, size_t len,
	       unsigned char out[SCRAM_KEY_LEN]);
int scram_hash(const void *data, size_t len, unsigned char out[SCRAM_KEY_LEN]);

#endif
