/* spf_macro: RFC 7208 section 7 macro strings: syntax check and expansion.
 *
 * A macro string mixes literals and macros: %{L[digits][r][delims]} with
 * the letters s l o d i p h c r t v (upper case: URL-escaped, 7.3), and
 * the escapes %% %_ %-. Letters c, r and t are legal only in explanation
 * text (7.1). Everything here is pure: no DNS, no clock, no logging; the
 * %{p} name and the %{t} time come in through struct spf_macro_vars.
 *
 * Output is bounded whatever the input does:
 * - SPF_MACRO_DOMAIN (a name to query): when the expansion exceeds 253
 *   bytes, labels are removed from the left until it fits (7.3). Work is
 *   linear in the expansion, memory is constant.
 * - SPF_MACRO_EXPLAIN (exp= text): the expansion is cut at out_size - 1
 *   bytes (it is only shown to people). */
#ifndef KONVERT_TRUST_SPF_MACRO_H
#define KONVERT_TRUST_SPF_MACRO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPF_DOMAIN_MAX 253 /* an expanded domain-spec, NUL excluded (7.3) */
#define SPF_EXPLAIN_MAX 512 /* an expanded explanation, NUL excluded */

enum spf_macro_mode {
	SPF_MACRO_DOMAIN, /* domain-spec: c r t refused, 253-byte truncation */
	SPF_MACRO_EXPLAIN, /* explain-string: SP allowed, c r t allowed */
	SPF_MACRO_ANY, /* unknown-modifier value: syntax only, any letter */
};

/* The values macros expand to; all strings borrowed, NUL-terminated. */
struct spf_macro_vars {
	const char *local; /* l: sender local-part ("postmaster" if none) */
	const char *sender_domain; /* o: domain of the sender */
	const char *domain; /* d: the current <domain> */
	int family; /* AF_INET or AF_INET6, for i c v */
	uint8_t ip[16]; /* client address: 4 bytes (AF_INET) or 16 */
	const char *validated; /* p: validated name; NULL means "unknown" */
	const char *helo; /* h: HELO/EHLO name */
	const char *receiver; /* r: our host name */
	long long now; /* t: seconds since the epoch */
};

/* True when spec (len bytes) is a valid macro-string for mode (RFC 7208
 * 7.1 grammar: bad '%' escapes, unknown letters, a zero digit transformer,
 * an unterminated "%{", bytes outside %x21-7E (and SP for EXPLAIN) all
 * make it false). *err_out (may be NULL) gets a static reason. */
bool spf_macro_is_valid(const char *spec, size_t len, enum spf_macro_mode mode,
			const char **err_out);

/* True when spec uses the %{p} macro (checked with spf_macro_is_valid). */
bool spf_macro_uses_p(const char *spec, size_t len);

/* Expands spec (len bytes, not necessarily NUL-terminated) into out
 * (out_size bytes, at least SPF_DOMAIN_MAX + 1 for SPF_MACRO_DOMAIN) and
 * NUL-terminates it. Returns 0, or -1 with a static reason in *err_out
 * (may be NULL) for a syntax error (permerror for the caller) or, in
 * DOMAIN mode, an expansion longer than 253 bytes with no label boundary
 * that makes it fit. mode must not be SPF_MACRO_ANY. */
int spf_macro_expand(const char *spec, size_t len, const struct spf_macro_vars *vars,
		     enum spf_macro_mode mode, char *out, size_t out_size, const char **err_out);

#endif
