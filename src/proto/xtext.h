/* xtext: the RFC 3461 section 4 encoding of ESMTP DSN parameter values
 * (ENVID, ORCPT), and the ORCPT value "addr-type;xtext" with its RFC 6533
 * "utf-8" address type.
 *
 *   xtext = *( xchar / hexchar )
 *   xchar = any ASCII from "!" (33) to "~" (126) except "+" and "="
 *   hexchar = "+" followed by two upper-case hexadecimal digits
 *
 * The decoder is strict: lower-case hex, a lone "+", "=" and anything
 * outside 33..126 are refused. A "+XX" for a byte that did not need it is
 * accepted (RFC 3461 only says SHOULD NOT send it). The encoder writes
 * "+XX" exactly for the bytes that need it.
 *
 * RFC 6533 3: for addr-type "utf-8" the value is utf-8-addr-xtext (ASCII,
 * non-ASCII and the specials written "\x{HEX}") or, when the SMTPUTF8
 * extension is in use, utf-8-addr-unitext (raw UTF-8 allowed).
 *
 * Pure: no allocation, no logging. Inputs are (pointer, length) and need
 * not be NUL-terminated; outputs are NUL-terminated. */
#ifndef KONVERT_PROTO_XTEXT_H
#define KONVERT_PROTO_XTEXT_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 3461 4.2: "The entire ORCPT parameter MAY be up to 500 characters". */
#define XTEXT_ORCPT_MAX 500
/* Longest addr-type we keep (an RFC 822 atom; in practice "rfc822"). */
#define XTEXT_ADDR_TYPE_MAX 32

/* True when in (len bytes) is valid xtext as defined above. */
bool xtext_is_valid(const char *in, size_t len);

/* Length of the xtext encoding of len bytes, without the NUL. Never more
 * than 3 * len (the caller checks 3 * len against its own bounds). */
size_t xtext_encoded_len(const char *in, size_t len);

/* Encodes len bytes (any values, NUL included) into out and NUL-terminates
 * it. Returns the encoded length, or -1 when out_size is smaller than
 * xtext_encoded_len + 1 (out set to "" if out_size > 0). */
int xtext_encode(const char *in, size_t len, char *out, size_t out_size);

/* Decodes xtext into out (not NUL-terminated unless room is left: a NUL
 * is written after the bytes when out_size allows it) and sets *out_len.
 * Returns 0, or -1 when in is not valid xtext or the result needs more
 * than out_size bytes; on -1 *out_len is 0. The result may contain any
 * byte, NUL included: callers that print it check it. */
int xtext_decode(const char *in, size_t len, char *out, size_t out_size, size_t *out_len);

enum xtext_addr_type {
	XTEXT_TYPE_RFC822 = 0, /* "rfc822": xtext of an RFC 822 address */
	XTEXT_TYPE_UTF8, /* "utf-8" (RFC 6533 3) */
	XTEXT_TYPE_OTHER, /* anything else: xtext decoded, kept as is */
};

/* A parsed ORCPT value. */
struct xtext_orcpt {
	enum xtext_addr_type type;
	char type_name[XTEXT_ADDR_TYPE_MAX + 1]; /* addr-type as sent */
	/* The decoded address, NUL-terminated; never holds a control byte
	 * (< 0x20 or 0x7f) nor a NUL. Bytes >= 0x80 only for XTEXT_TYPE_UTF8
	 * (then valid UTF-8). */
	char addr[XTEXT_ORCPT_MAX + 1];
	size_t addr_len;
};

/* Parses "addr-type;value" (the ORCPT parameter value, without
 * "ORCPT="): addr-type is 1..XTEXT_ADDR_TYPE_MAX atext characters,
 * compared case-insensitively; the value is xtext ("rfc822", other types)
 * or utf-8-addr-xtext / utf-8-addr-unitext ("utf-8": raw UTF-8 only when
 * allow_utf8, i.e. the transaction used SMTPUTF8). An empty address, a
 * decoded control byte, invalid UTF-8, a "\x{...}" that is not a Unicode
 * scalar value, and len > XTEXT_ORCPT_MAX are refused. Returns 0 (*out
 * filled) or -1 (*out cleared). */
int xtext_orcpt_parse(const char *in, size_t len, bool allow_utf8, struct xtext_orcpt *out);

/* Encodes an address for an ORCPT parameter or a DSN Original-Recipient /
 * Final-Recipient field: "rfc822;" + xtext when addr is ASCII; otherwise
 * "utf-8;" + utf-8-addr-unitext when allow_utf8, else utf-8-addr-xtext
 * (pure ASCII). Returns the length, or -1 when out_size is too small or
 * addr is not valid UTF-8 or holds a control byte (out "" if out_size > 0).
 * Each input byte takes at most 6 output bytes ("\x{2B}"), so
 * 6 * len + 8 bytes always suffice. */
int xtext_orcpt_build(const char *addr, size_t len, bool allow_utf8, char *out, size_t out_size);

/* Like xtext_orcpt_build but for human-readable text (DSN fields with
 * their own addr-type, the report's first part): returns the address
 * unchanged when it is printable ASCII, or raw UTF-8 when allow_utf8;
 * else the "\x{HEX}" form of RFC 6533 for the non-ASCII characters.
 * *type_out is set to "rfc822" or "utf-8" (static strings). Same return
 * and failure rules as xtext_orcpt_build. */
int xtext_addr_display(const char *addr, size_t len, bool allow_utf8, const char **type_out,
		       char *out, size_t out_size);

/* Length of the UTF-8 sequence starting at s (at most len bytes): 1..4,
 * or 0 when it is not a valid, shortest-form sequence of a Unicode scalar
 * value. ASCII bytes (including controls) give 1. */
size_t xtext_utf8_seq_len(const char *s, size_t len);

#endif
