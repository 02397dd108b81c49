/* dkim_verify: checks one DKIM-Signature field of a message against the
 * key record (RFC 6376 6, RFC 8463), without DNS: the caller lists the
 * signatures (dkim_verify_list), parses each (dkim_sig_parse) to learn
 * which record to fetch ("SELECTOR._domainkey.DOMAIN" TXT), fetches it and
 * calls dkim_verify with the record text. A DNS failure is the caller's
 * temperror; how many signatures to evaluate is the caller's limit.
 *
 * Results follow RFC 8601 2.7.1:
 *   pass      the signature verified;
 *   fail      body hash or signature did not verify;
 *   neutral   failed, but the key is in testing mode (t=y);
 *   policy    never returned here: for the caller's own policy decisions;
 *   temperror never returned here: DNS trouble, the caller's;
 *   permerror the signature or key record is malformed or unacceptable
 *             (missing tags, unknown algorithm, From not signed, expired,
 *             revoked key, wrong key type, RSA key outside 1024..4096
 *             bits, l= longer than the body, too many header fields).
 * Every result comes with a static reason text.
 *
 * Bounded: key records over DKIM_TAGS_INPUT_MAX octets are refused, h=
 * has at most DKIM_H_MAX entries, and with l= the body scan stops right
 * after l octets of canonical body. Pure: no I/O, no logging. */
#ifndef KONVERT_TRUST_DKIM_VERIFY_H
#define KONVERT_TRUST_DKIM_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trust/dkim_canon.h"
#include "trust/dkim_hash.h"

/* A signature's t= may lie this far in the future (clock skew). */
#define DKIM_CLOCK_SKEW 300
/* Signatures dkim_verify_list reports at most; callers evaluate fewer. */
#define DKIM_VERIFY_LIST_MAX 64

enum dkim_result {
	DKIM_RESULT_PASS,
	DKIM_RESULT_FAIL,
	DKIM_RESULT_NEUTRAL,
	DKIM_RESULT_POLICY,
	DKIM_RESULT_TEMPERROR,
	DKIM_RESULT_PERMERROR,
};

/* "pass", "fail", ... as RFC 8601 writes them. */
const char *dkim_result_name(enum dkim_result r);

/* A DKIM-Signature field of a message. */
struct dkim_sig_ref {
	size_t index;	   /* position among the message's header fields */
	const char *field; /* borrowed: the whole field, no final line end */
	size_t len;
};

/* Lists the DKIM-Signature fields of msg[0..len), top first, into
 * out[0..out_max) (out_max at most DKIM_VERIFY_LIST_MAX is sensible).
 * Returns how many exist (may exceed out_max: only out_max are stored),
 * or -1 when the header has more than DKIM_FIELDS_MAX fields. The
 * pointers are into msg. */
long dkim_verify_list(const char *msg, size_t len, struct dkim_sig_ref *out, size_t out_max);

/* A parsed signature. Pointers are into the field given to
 * dkim_sig_parse and live as long as it. */
struct dkim_sig {
	enum dkim_alg alg;
	enum dkim_canon hcanon, bcanon;
	char domain[256];   /* d=, NUL-terminated */
	char selector[256]; /* s=, NUL-terminated */
	struct dkim_name h[DKIM_H_MAX];
	size_t nh;
	unsigned char bh[DKIM_HASH_LEN];
	unsigned char b[DKIM_SIG_MAX];
	size_t b_len;
	bool has_auid;
	char auid[512]; /* i=, NUL-terminated (default "@" + d=) */
	int64_t l;	/* -1: absent */
	int64_t t;	/* -1: absent */
	int64_t x;	/* -1: absent */
	/* The b= value inside the field, to blank it for verifying. */
	size_t b_off, b_len_raw;
};

/* Parses the field (the whole "DKIM-Signature: ..." text, LF or CRLF
 * folds). Returns 0, or -1 with *reason_out set: the result is then
 * permerror. Checks syntax and the tag rules of 3.5 that need no key and
 * no clock (v=1, required tags, known a= and c=, From in h=, i= within
 * d=, q=dns/txt, sizes). */
int dkim_sig_parse(const char *field, size_t len, struct dkim_sig *out, const char **reason_out);

/* Verifies the signature ref (from dkim_verify_list on the same msg)
 * with the key record key_rec[0..key_len) (the TXT strings joined) at
 * time now (seconds since the epoch). Sets *reason_out to a static text
 * ("ok" for pass). */
enum dkim_result dkim_verify(const char *msg, size_t len, const struct dkim_sig_ref *ref,
			     const char *key_rec, size_t key_len, int64_t now,
			     const char **reason_out);

#endif
