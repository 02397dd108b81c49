/* psl: the public suffix list (https://publicsuffix.org/list/) and the
 * "organizational domain" of a name (RFC 7489 3.2), as DMARC alignment
 * needs it.
 *
 * The list is loaded once (Debian: /usr/share/publicsuffix/
 * public_suffix_list.dat) into an immutable object that any number of
 * threads may query. Rules are plain ("co.uk"), wildcard ("*.ck") and
 * exception ("!www.ck"); both the ICANN and the PRIVATE sections are used,
 * as other DMARC receivers do. Rules in Unicode (not A-labels) are skipped:
 * names in mail headers and DNS are compared in their xn-- form.
 * No logging here; errors travel out in err as "path:line: reason". */
#ifndef KONVERT_TRUST_PSL_H
#define KONVERT_TRUST_PSL_H

#include <stddef.h>

/* Longest domain name handled (RFC 1035 2.3.4, without the trailing dot). */
#define PSL_NAME_MAX 253

struct psl;

/* Loads the list file at path. Returns 0 and an owned *out, or -1 with
 * "path: reason" in err (cannot open, no rule at all). Lines it cannot use
 * (non-ASCII, malformed wildcards) are skipped, not errors. */
int psl_load(const char *path, struct psl **out, char *err, size_t err_size);

/* The same from text in memory (len bytes, need not be NUL-terminated);
 * used by tests and fuzz targets. An empty list is allowed here: every
 * name then falls back to the implicit "*" rule. */
int psl_load_buf(const char *text, size_t len, struct psl **out, char *err,
		 size_t err_size);

void psl_free(struct psl **pp);

/* The public suffix of name (len bytes, any case, one trailing dot
 * ignored): returns the offset in name where the suffix starts, or -1 when
 * name is not a valid domain name (empty label, over PSL_NAME_MAX, a label
 * over 63 octets). With no matching rule the implicit rule "*" applies:
 * the last label is the suffix. */
long psl_public_suffix(const struct psl *psl, const char *name, size_t len);

/* The organizational domain of name (RFC 7489 3.2: the public suffix plus
 * one label): returns its offset in name, so that the result is name +
 * offset up to len (a trailing dot included when name had one). A name that
 * is itself a public suffix is its own organizational domain (there is no
 * further label to add). Returns -1 for an invalid name as above. */
long psl_org_domain(const struct psl *psl, const char *name, size_t len);

/* The registrable domain as the PSL test vectors define it: like
 * psl_org_domain, but -1 also when name is itself a public suffix. */
long psl_registrable_domain(const struct psl *psl, const char *name, size_t len);

#endif
