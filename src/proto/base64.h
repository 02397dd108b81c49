/* base64: strict RFC 4648 section 4 base64 (standard alphabet, '='
 * padding), as SASL uses it on the wire (RFC 4954 4, RFC 5034 4) and as
 * konvert stores SCRAM keys. No line breaks on output, none accepted on
 * input.
 *
 * The decoder accepts only canonical encodings:
 *   - length a multiple of 4 (the empty string decodes to zero bytes);
 *   - only A-Z a-z 0-9 + / and '=' -- no whitespace, no CR/LF, no NUL;
 *   - '=' only as the last one or two characters ("xx==" or "xxx="),
 *     never "x===" or "====" and never inside the text;
 *   - the unused bits before the padding must be zero (RFC 4648 3.5
 *     lets decoders refuse them): "QQ==" is "A", "QR==" is rejected.
 *     So every byte string has exactly one accepted encoding, and a value
 *     compared after decoding (SCRAM c=) cannot be smuggled in two forms.
 * Both directions run in time that depends only on the length, not on the
 * data, because passwords pass through here (SASL PLAIN/LOGIN).
 *
 * No allocation, no logging. */
#ifndef KONVERT_PROTO_BASE64_H
#define KONVERT_PROTO_BASE64_H

#include <stddef.h>

/* Length of the encoding of n bytes, without the NUL: 4 * ceil(n / 3).
 * Returns SIZE_MAX when that does not fit a size_t (so a room check
 * against it fails). */
size_t base64_encoded_len(size_t n);

/* Upper bound of the decoded length of len characters: len / 4 * 3. */
size_t base64_decoded_max(size_t len);

/* Encodes len bytes of in into out and NUL-terminates it. Returns the
 * encoded length (without the NUL), or -1 when out_size is smaller than
 * base64_encoded_len(len) + 1 or the length does not fit an int; on -1
 * out is left untouched. in may be NULL when len is 0. */
int base64_encode(const void *in, size_t len, char *out, size_t out_size);

/* Decodes len characters of in (need not be NUL-terminated) into out and
 * sets *out_len. Returns 0, or -1 when the text is not a canonical
 * encoding (see above) or the result needs more than out_size bytes;
 * on -1, *out_len is 0 and out may hold partial output (callers wiping
 * secrets must wipe it). out is not NUL-terminated. */
int base64_decode(const char *in, size_t len, void *out, size_t out_size, size_t *out_len);

#endif
