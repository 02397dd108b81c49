/* dkim_canon: RFC 6376 3.4 canonicalisation, "simple" and "relaxed", for
 * header fields and the body, with the body hash (SHA-256) computed as the
 * text streams past.
 *
 * Messages are stored with LF line ends; DKIM works on the CRLF wire form.
 * Both functions read a bare LF (and a CRLF) as one line end and produce
 * CRLF, so stored and wire text give the same result. A CR not followed
 * by LF is an ordinary character.
 *
 * Body rules (3.4.3, 3.4.4):
 *   - empty lines at the end of the body are dropped (for relaxed after
 *     trailing whitespace is removed, so " \n\t\n" at the end is dropped);
 *   - simple: an empty body becomes a single CRLF; relaxed: it stays empty;
 *   - a last line without a line end gets one (both, when non-empty);
 *   - relaxed: WSP at line ends is removed, runs of WSP become one SP.
 * With a length limit (the l= tag, 3.5) only the first limit octets of
 * the canonical body are hashed; the total canonical length is still
 * counted, but scanning stops once it passes the limit, so a huge body
 * under a small l= costs no more than the limit plus the current chunk.
 *
 * Pure: no I/O, no logging. The body context owns an OpenSSL digest. */
#ifndef KONVERT_TRUST_DKIM_CANON_H
#define KONVERT_TRUST_DKIM_CANON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define DKIM_HASH_LEN 32 /* SHA-256 */

enum dkim_canon {
	DKIM_CANON_SIMPLE,
	DKIM_CANON_RELAXED,
};

/* Parses "simple" or "relaxed" (len octets). Returns 0 or -1. */
int dkim_canon_parse(const char *s, size_t len, enum dkim_canon *out);
const char *dkim_canon_name(enum dkim_canon c);

/* Upper bound of the canonical size of a field of len octets, including
 * the CRLF; SIZE_MAX when it does not fit. */
size_t dkim_canon_header_max(size_t len);

/* Canonicalises one header field: field[0..len) is the whole field (name,
 * ':', value with any folding), without its final line end. Writes the
 * result into out and, when crlf is true, a final CRLF (the DKIM-Signature
 * field being verified or signed is hashed without it, 3.7). Returns the
 * output length, or -1 when out_size is too small or the field has no
 * ':'. out is not NUL-terminated. */
long dkim_canon_header(enum dkim_canon c, const char *field, size_t len, bool crlf, char *out,
		       size_t out_size);

/* Streaming body canonicaliser and hasher. Embedded: init/fini. */
struct dkim_body {
	enum dkim_canon canon;
	EVP_MD_CTX *md; /* owned */
	bool limited;
	uint64_t limit;       /* with limited: octets to hash */
	uint64_t total;       /* canonical octets produced so far */
	uint64_t empty_lines; /* empty lines held back (maybe trailing) */
	bool line_content;    /* the current line has non-WSP content (relaxed) or any */
	bool wsp_pending;     /* relaxed: a WSP run waits for a non-WSP char */
	bool cr_pending;      /* a CR waits to see if LF follows */
	bool done;            /* past the limit: further input is ignored */
	size_t buf_len;
	unsigned char buf[4096];
};

/* limit < 0: no limit (hash everything). Returns 0, or -1 when OpenSSL
 * fails (then nothing needs fini, but fini is harmless). */
int dkim_body_init(struct dkim_body *b, enum dkim_canon c, int64_t limit);

/* Feeds len octets of body text (any split, LF or CRLF line ends). */
void dkim_body_update(struct dkim_body *b, const char *data, size_t len);

/* Ends the body: writes the hash to out and the canonical length of the
 * whole body (not only the hashed part; once scanning stopped at the
 * limit, a value above the limit) to *total_out (may be NULL). Returns 0
 * or -1 when OpenSSL fails. Call once. */
int dkim_body_final(struct dkim_body *b, unsigned char out[DKIM_HASH_LEN], uint64_t *total_out);

void dkim_body_fini(struct dkim_body *b);

/* One-call body hash of body[0..len). Returns 0 or -1. */
int dkim_body_hash(enum dkim_canon c, int64_t limit, const char *body, size_t len,
		   unsigned char out[DKIM_HASH_LEN], uint64_t *total_out);

#endif
