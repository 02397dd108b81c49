/* rfc5322: the few RFC 5322 header operations the command-line mail path
 * needs (sendmail -t): walking the header block of a stored message and
 * taking the addr-specs out of an address-list field value.
 *
 * Pure and bounded: no allocation, no I/O, nothing read past len. Field
 * values may be folded (a line end followed by WSP). */
#ifndef KONVERT_PROTO_RFC5322_H
#define KONVERT_PROTO_RFC5322_H

#include <stdbool.h>
#include <stddef.h>

/* Called for each addr-spec found, as it appears (quoted local parts keep
 * their quotes, e.g. "\"a b\"@x.test"; comments and display names are
 * gone). Return false to stop. */
typedef bool (*rfc5322_addr_fn)(void *arg, const char *addr, size_t len);

/* Walks an address-list (RFC 5322 3.4): mailboxes with or without a
 * display name, groups ("team: a@x, b@y;"), comments (nested), quoted
 * strings and obsolete forms such as a missing "," between names are
 * tolerated as far as they are unambiguous. An element that is not an
 * address (a bare word without '@', an empty group) is skipped, not an
 * error. Returns the number of addresses reported, or -1 when the value
 * is malformed (unbalanced '<', '"' or '(') or an address is longer than
 * max_addr_len. */
int rfc5322_addresses(const char *value, size_t len, size_t max_addr_len, rfc5322_addr_fn fn,
		      void *arg);

/* The header block of msg: the offset of the first byte after the blank
 * line (or len when there is no body). Line ends are LF or CRLF. */
size_t rfc5322_header_end(const char *msg, size_t len);

/* Iterates header fields of the block hdr[0..len): *pos is the cursor (start
 * at 0). Sets the field name (without ':') and the raw value (after ':',
 * folding kept, final line end excluded), and the whole field's span
 * [*field_start, *field_end) including its line end, so a caller can cut it
 * out (Bcc). Returns false at the end. A line without ':' is skipped. */
bool rfc5322_next_field(const char *hdr, size_t len, size_t *pos, const char **name_out,
			size_t *name_len_out, const char **value_out, size_t *value_len_out,
			size_t *field_start, size_t *field_end);

/* The value of the first field called name in the header block of
 * msg[0..len), blanks around it trimmed (folding inside kept): *value
 * points into msg. Returns its length, or -1 when there is no such
 * field. */
long rfc5322_field_value(const char *msg, size_t len, const char *name, const char **value);

/* Case-insensitive comparison of a field name with a literal. */
bool rfc5322_name_is(const char *name, size_t len, const char *lit);

#endif
