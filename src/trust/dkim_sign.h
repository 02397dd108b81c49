/* dkim_sign: makes the DKIM-Signature header field (RFC 6376 3.5, 5;
 * Ed25519 by RFC 8463) for a stored message, relaxed/relaxed, over the
 * header fields that matter: From, To, Cc, Subject, Date, Message-ID,
 * MIME-Version, Content-Type, Content-Transfer-Encoding, Reply-To,
 * In-Reply-To, References -- each listed in h= as often as it occurs, and
 * From once more (over-signed, so an added From breaks the signature).
 *
 * The result is the whole field in stored form, "DKIM-Signature: v=1;
 * ..." folded at 78 columns with LF + SP and ended by LF, ready to be put
 * in front of the message. Messages are read with LF or CRLF line ends.
 * To sign with two keys, sign twice (the order does not matter: neither
 * signature covers the other).
 *
 * Pure: no I/O, no logging. Keys are borrowed. */
#ifndef KONVERT_TRUST_DKIM_SIGN_H
#define KONVERT_TRUST_DKIM_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "trust/dkim_hash.h"

#define DKIM_DOMAIN_MAX 253
#define DKIM_SELECTOR_MAX 63

struct dkim_sign_params {
	const char *domain;   /* d=, borrowed; letters, digits, '-', '.' */
	const char *selector; /* s=, borrowed; same characters plus '_' */
	/* Borrowed; an RSA key of 1024..4096 bits (rsa-sha256) or an
	 * Ed25519 key (ed25519-sha256): the algorithm follows the key. */
	EVP_PKEY *key;
	int64_t timestamp; /* t= in seconds since the epoch; < 0 omits it */
};

struct dkim_signer;

/* Starts a signature over a message whose header block (every field, with
 * or without the blank line that ends it) is hdr[0..hdr_len); the block is
 * copied. Returns an owned signer, or NULL with *err_out set when the
 * parameters are unusable (bad domain or selector, unsuitable key) or the
 * header block has more than DKIM_FIELDS_MAX fields. */
struct dkim_signer *dkim_signer_new(const struct dkim_sign_params *p, const char *hdr,
				    size_t hdr_len, const char **err_out);

/* Feeds body text (what follows the blank line), in any pieces. */
void dkim_signer_body(struct dkim_signer *s, const char *data, size_t len);

/* Ends the body and signs. On success stores the owned field text
 * (NUL-terminated, free()) in *field_out and returns 0; returns -1 with
 * *err_out set otherwise. Call once. */
int dkim_signer_finish(struct dkim_signer *s, char **field_out, const char **err_out);

void dkim_signer_free(struct dkim_signer **sp);

/* The whole message (header block, blank line, body) in one buffer. */
int dkim_sign(const struct dkim_sign_params *p, const char *msg, size_t len, char **field_out,
	      const char **err_out);

/* Reads a PEM private key (PKCS#8 or traditional) from pem[0..len).
 * Returns an owned key (EVP_PKEY_free), or NULL. */
EVP_PKEY *dkim_key_from_pem(const char *pem, size_t len);

/* The key record to publish for key: "v=DKIM1; k=rsa; p=..." or
 * "v=DKIM1; k=ed25519; p=..." (one line, no quotes). Returns an owned
 * string (free()), or NULL when the key is neither type. */
char *dkim_key_record(EVP_PKEY *key);

#endif
