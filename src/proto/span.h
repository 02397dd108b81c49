/* span: a borrowed run of bytes (pointer and length, no NUL) and the few
 * lexical helpers the DNS-record and policy parsers share: SP/HTAB
 * trimming, comparison with a literal (exact or ignoring ASCII case) and
 * cutting off the next separated part. Nothing is allocated: a span points
 * into the caller's input and is valid as long as that input is. */
#ifndef KONVERT_PROTO_SPAN_H
#define KONVERT_PROTO_SPAN_H

#include <stdbool.h>
#include <stddef.h>

struct span {
	const char *p; /* borrowed: points into the caller's input */
	size_t len;
};

/* SP or HTAB (RFC 5234 WSP). CR, LF and other white space are not. */
bool span_is_wsp(char c);

/* [p, p + len) without its leading and trailing SP/HTAB (only those). The
 * result points into the input; p may be NULL when len is 0. */
struct span span_trim(const char *p, size_t len);

/* True when s is exactly the NUL-terminated lit, byte for byte (case
 * matters: for grammars that write names as %s"..."). */
bool span_eq(struct span s, const char *lit);

/* True when s equals the NUL-terminated lit ignoring ASCII case
 * (strncasecmp), as ABNF string literals are by default (RFC 5234 2.3). */
bool span_ieq(struct span s, const char *lit);

/* The part of [*pp, end) before the first sep, or all of it without one,
 * trimmed as span_trim does. *pp moves past that sep, or to end. Needs
 * *pp <= end. A trailing sep yields no empty last part: at *pp == end
 * the caller's loop stops. */
struct span span_next(const char **pp, const char *end, char sep);

#endif
