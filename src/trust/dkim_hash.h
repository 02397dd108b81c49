/* dkim_hash: what DKIM signing and verifying share (RFC 6376 3.7, 5.4,
 * RFC 8463): the algorithm names, the header fields of a message, the
 * header selection of h= (bottom-up, 5.4.2), the byte string that is
 * signed, and the signature operation itself.
 *
 * rsa-sha256 is RSASSA-PKCS1-v1_5 over SHA-256 of the signed data;
 * ed25519-sha256 is PureEdDSA (Ed25519) over the 32-octet SHA-256 of the
 * same data (RFC 8463 3).
 *
 * Pure: no I/O, no logging; allocation only where noted. */
#ifndef KONVERT_TRUST_DKIM_HASH_H
#define KONVERT_TRUST_DKIM_HASH_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#include "trust/dkim_canon.h"

/* Header fields looked at per message; a message with more is refused
 * (permerror when verifying, an error when signing). */
#define DKIM_FIELDS_MAX 1000
/* Entries in h=. */
#define DKIM_H_MAX 64
/* Largest signature: RSA 4096 bits. */
#define DKIM_SIG_MAX 512
#define DKIM_RSA_BITS_MIN 1024
#define DKIM_RSA_BITS_MAX 4096

enum dkim_alg {
	DKIM_ALG_RSA_SHA256,
	DKIM_ALG_ED25519_SHA256,
};

/* Parses "rsa-sha256" / "ed25519-sha256". Returns 0 or -1. */
int dkim_alg_parse(const char *s, size_t len, enum dkim_alg *out);
const char *dkim_alg_name(enum dkim_alg a);

struct dkim_field {
	const char *name; /* borrowed: into the message */
	size_t name_len;
	const char *text; /* the whole field without its final line end */
	size_t len;
};

struct dkim_fields {
	struct dkim_field *v; /* owned: n entries */
	size_t n;
	size_t body_off; /* offset of the body in the message */
};

/* Splits the header block of msg[0..len) (LF or CRLF line ends) into
 * fields. Returns 0, or -1 (err_out set, nothing to fini) when there are
 * more than DKIM_FIELDS_MAX fields. The entries point into msg. */
int dkim_fields_init(struct dkim_fields *f, const char *msg, size_t len, const char **err_out);
void dkim_fields_fini(struct dkim_fields *f);

struct dkim_name {
	const char *p; /* borrowed */
	size_t len;
};

/* The data to sign or verify (3.7): for each name of h[0..nh), the next
 * field of that name not yet used, from the bottom up (a name with no
 * such field adds nothing), canonicalised with c and a CRLF; then
 * sig_field[0..sig_len) (the DKIM-Signature field with an empty b=)
 * canonicalised without CRLF. The field at self_index (the signature
 * being verified; SIZE_MAX for none) is never selected. Stores an owned
 * buffer in *out (free()). Returns 0, or -1 when a field is malformed. */
int dkim_signed_data(enum dkim_canon c, const struct dkim_fields *f, const struct dkim_name *h,
		     size_t nh, size_t self_index, const char *sig_field, size_t sig_len,
		     char **out, size_t *out_len);

/* True when key suits alg (type, and RSA size within the bounds). */
bool dkim_key_fits(EVP_PKEY *key, enum dkim_alg alg);

/* Signs data with key; writes at most DKIM_SIG_MAX octets to sig.
 * Returns 0 or -1. */
int dkim_crypto_sign(EVP_PKEY *key, enum dkim_alg alg, const char *data, size_t len,
		     unsigned char *sig, size_t *sig_len);

/* Returns 1 when sig is a valid signature of data under key, 0 when not,
 * -1 on an OpenSSL failure. */
int dkim_crypto_verify(EVP_PKEY *key, enum dkim_alg alg, const char *data, size_t len,
		       const unsigned char *sig, size_t sig_len);

#endif
