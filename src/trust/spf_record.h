/* spf_record: parses one SPF record ("v=spf1 ...") into its terms, by the
 * RFC 7208 4.6.1 grammar, strictly: any syntax error is a permerror for
 * the caller (4.6). Mechanism and modifier names are case-insensitive;
 * macro strings are checked (spf_macro_is_valid) but not expanded.
 * Unknown modifiers are checked and dropped (6); redirect= and exp= may
 * appear once each. Pure: no DNS, no logging. */
#ifndef KONVERT_TRUST_SPF_RECORD_H
#define KONVERT_TRUST_SPF_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPF_RECORD_MAX 4096 /* bytes of record text we accept */
#define SPF_TERMS_MAX 256 /* directives in one record */

enum spf_qual {
	SPF_QUAL_PASS, /* "+" or none */
	SPF_QUAL_FAIL, /* "-" */
	SPF_QUAL_SOFTFAIL, /* "~" */
	SPF_QUAL_NEUTRAL, /* "?" */
};

enum spf_mech {
	SPF_MECH_ALL,
	SPF_MECH_INCLUDE,
	SPF_MECH_A,
	SPF_MECH_MX,
	SPF_MECH_PTR,
	SPF_MECH_IP4,
	SPF_MECH_IP6,
	SPF_MECH_EXISTS,
};

/* One directive. Strings point into the record's own copy of the text. */
struct spf_term {
	enum spf_qual qual;
	enum spf_mech mech;
	const char *domain; /* domain-spec, or NULL when absent (a, mx, ptr:
			     * then <domain>); not NUL-terminated */
	size_t domain_len;
	uint8_t ip[16]; /* ip4: 4 bytes, ip6: 16, network as written */
	unsigned cidr4; /* 0..32; 32 when absent */
	unsigned cidr6; /* 0..128; 128 when absent */
};

struct spf_record {
	char *text; /* owned: NUL-terminated copy the terms point into */
	struct spf_term *terms; /* owned; term_count entries in order */
	size_t term_count;
	const char *redirect; /* domain-spec into text, or NULL */
	size_t redirect_len;
	const char *exp; /* domain-spec into text, or NULL */
	size_t exp_len;
};

/* True when txt (len bytes) is an SPF record: "v=spf1" (any case)
 * followed by a space or the end (4.5). */
bool spf_record_is_spf(const char *txt, size_t len);

/* Parses txt (len bytes, borrowed and copied; must pass
 * spf_record_is_spf). Returns 0 and an owned record in *out, or -1 with a
 * static reason in *err_out (may be NULL) and *out == NULL: a syntax
 * error, a record over SPF_RECORD_MAX bytes or SPF_TERMS_MAX terms, a
 * second redirect= or exp=, or a NUL byte. */
int spf_record_parse(const char *txt, size_t len, struct spf_record **out,
		     const char **err_out);

void spf_record_free(struct spf_record **pp);

const char *spf_mech_name(enum spf_mech mech);

#endif
