/* scram: SCRAM-SHA-256 key derivation and the stored-credentials format
 * (RFC 5802 section 3, RFC 7677). It owns the "scram-sha-256=" field of
 * the users file (making and parsing it) and the HMAC/SHA-256/PBKDF2
 * wrappers the SASL mechanism uses. It knows nothing of the SASL
 * exchange itself (proto/sasl.c), does no I/O and never logs. PBKDF2 is
 * only run when making credentials: verifying a login needs just HMACs. */
#include "proto/scram.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "proto/base64.h"

#define SCRAM_FIELD_NAME "scram-sha-256="
#define SCRAM_FIELD_NAME_LEN (sizeof(SCRAM_FIELD_NAME) - 1)

int scram_hmac(const unsigned char *key, size_t key_len, const void *data, size_t len,
	       unsigned char out[SCRAM_KEY_LEN])
{
	unsigned int out_len = 0;

	if (key_len > INT_MAX)
		return -1;
	if (HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &out_len) == NULL ||
	    out_len != SCRAM_KEY_LEN)
		return -1;
	return 0;
}

int scram_hash(const void *data, size_t len, unsigned char out[SCRAM_KEY_LEN])
{
	unsigned int out_len = 0;

	if (EVP_Digest(data, len, out, &out_len, EVP_sha256(), NULL) != 1 ||
	    out_len != SCRAM_KEY_LEN)
		return -1;
	return 0;
}

int scram_salted_password(const void *password, size_t password_len, const unsigned char *salt,
			  size_t salt_len, unsigned iterations, unsigned char out[SCRAM_KEY_LEN])
{
	if (password_len > INT_MAX || salt_len > INT_MAX || iterations == 0 ||
	    iterations > INT_MAX)
		return -1;
	/* OpenSSL wants a non-NULL pointer even for an empty password. */
	if (PKCS5_PBKDF2_HMAC(password_len ? password : "", (int)password_len, salt,
			      (int)salt_len, (int)iterations, EVP_sha256(), SCRAM_KEY_LEN,
			      out) != 1)
		return -1;
	return 0;
}

int scram_client_key(const unsigned char salted[SCRAM_KEY_LEN], unsigned char out[SCRAM_KEY_LEN])
{
	return scram_hmac(salted, SCRAM_KEY_LEN, "Client Key", 10, out);
}

int scram_server_key(const unsigned char salted[SCRAM_KEY_LEN], unsigned char out[SCRAM_KEY_LEN])
{
	return scram_hmac(salted, SCRAM_KEY_LEN, "Server Key", 10, out);
}

int scram_make_credentials(const char *password, unsigned iterations, char *out, size_t out_size)
{
	unsigned char salt[SCRAM_SALT_LEN];
	unsigned char salted[SCRAM_KEY_LEN];
	unsigned char client_key[SCRAM_KEY_LEN];
	unsigned char stored_key[SCRAM_KEY_LEN];
	unsigned char server_key[SCRAM_KEY_LEN];
	char salt_b64[32], stored_b64[48], server_b64[48];
	int rc = -1;
	int n;

	if (iterations == 0)
		iterations = SCRAM_DEFAULT_ITERATIONS;
	if (iterations < SCRAM_MIN_ITERATIONS || iterations > SCRAM_ITERATIONS_MAX)
		return -1;
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return -1;
	if (scram_salted_password(password, strlen(password), salt, sizeof(salt), iterations,
				  salted) != 0 ||
	    scram_client_key(salted, client_key) != 0 ||
	    scram_hash(client_key, sizeof(client_key), stored_key) != 0 ||
	    scram_server_key(salted, server_key) != 0)
		goto out;
	if (base64_encode(salt, sizeof(salt), salt_b64, sizeof(salt_b64)) < 0 ||
	    base64_encode(stored_key, sizeof(stored_key), stored_b64, sizeof(stored_b64)) < 0 ||
	    base64_encode(server_key, sizeof(server_key), server_b64, sizeof(server_b64)) < 0)
		goto out;
	n = snprintf(out, out_size, SCRAM_FIELD_NAME "%u,%s,%s,%s", iterations, salt_b64,
		     stored_b64, server_b64);
	if (n < 0 || (size_t)n >= out_size) {
		if (out_size > 0)
			out[0] = '\0';
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	return rc;
}

static bool is_field_name(const char *field, size_t len)
{
	if (len < SCRAM_FIELD_NAME_LEN)
		return false;
	for (size_t i = 0; i < SCRAM_FIELD_NAME_LEN; i++) {
		unsigned char c = (unsigned char)field[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c != (unsigned char)SCRAM_FIELD_NAME[i])
			return false;
	}
	return true;
}

/* Finds the value of the scram field: sets *val and *val_len and returns the
 * number of scram fields seen (0, 1, or 2 meaning "more than one"). */
static int find_field(const char *extra, const char **val, size_t *val_len)
{
	int seen = 0;
	const char *p = extra;

	while (seen < 2) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (is_field_name(p, len)) {
			seen++;
			*val = p + SCRAM_FIELD_NAME_LEN;
			*val_len = len - SCRAM_FIELD_NAME_LEN;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return seen;
}

bool scram_has_credentials(const char *extra)
{
	const char *val;
	size_t val_len;

	return extra != NULL && find_field(extra, &val, &val_len) > 0;
}

static int parse_iterations(const char *s, size_t len, unsigned *out)
{
	unsigned long long v = 0;

	/* At most 10 digits, so v cannot overflow before the range check. */
	if (len == 0 || len > 10 || s[0] == '0')
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > SCRAM_ITERATIONS_MAX)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Decodes one base64 part that must give exactly want bytes (or, with
 * want 0, 1 .. out_size bytes). */
static int parse_b64(const char *s, size_t len, unsigned char *out, size_t out_size, size_t want,
		     size_t *out_len)
{
	size_t n;

	if (base64_decode(s, len, out, out_size, &n) != 0)
		return -1;
	if (want ? n != want : n == 0)
		return -1;
	*out_len = n;
	return 0;
}

int scram_parse_credentials(const char *extra, struct scram_creds *out)
{
	const char *val = NULL;
	const char *part[4];
	size_t part_len[4];
	size_t val_len = 0;
	size_t n;
	size_t k = 0;

	memset(out, 0, sizeof(*out));
	if (extra == NULL || find_field(extra, &val, &val_len) != 1)
		return -1;
	part[0] = val;
	for (size_t i = 0; i < val_len; i++) {
		if (val[i] != ',')
			continue;
		if (k == 3)
			return -1;
		part_len[k] = (size_t)(val + i - part[k]);
		part[++k] = val + i + 1;
	}
	if (k != 3)
		return -1;
	part_len[3] = (size_t)(val + val_len - part[3]);
	if (parse_iterations(part[0], part_len[0], &out->iterations) != 0 ||
	    parse_b64(part[1], part_len[1], out->salt, sizeof(out->salt), 0, &out->salt_len) != 0 ||
	    parse_b64(part[2], part_len[2], out->stored_key, sizeof(out->stored_key), SCRAM_KEY_LEN,
		      &n) != 0 ||
	    parse_b64(part[3], part_len[3], out->server_key, sizeof(out->server_key), SCRAM_KEY_LEN,
		      &n) != 0) {
		OPENSSL_cleanse(out, sizeof(*out));
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}
