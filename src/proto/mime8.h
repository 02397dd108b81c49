/* mime8: RFC 6152 3 downgrade of an 8-bit message for a server that does
 * not offer 8BITMIME: every leaf MIME part whose body holds bytes >= 0x80
 * is re-encoded as quoted-printable (RFC 2045 6.7) and labelled so; the
 * rest of the message is copied byte for byte.
 *
 * The MIME structure is walked: the top level and nested multiparts (any
 * subtype; parts of multipart/digest default to message/rfc822, RFC 2046
 * 5.1.5), to at most MIME8_DEPTH_MAX levels. A message without
 * Content-Type is text/plain (RFC 2045 5.2). What cannot be downgraded
 * fails, and the caller bounces the recipient:
 *   - a non-ASCII byte in any header (message or part): 5.6.7 when the
 *     message was sent with SMTPUTF8 (it needs that extension), else
 *     5.6.3 (RFC 6531 3.7.5, RFC 3463 3.7);
 *   - 8-bit inside a message/ part (RFC 2046 5.2.1 allows only 7bit,
 *     8bit or binary there, so it cannot be re-encoded), 8-bit bytes in a
 *     part that says it is base64 or quoted-printable (broken: encoding it
 *     again would change it), a multipart without a boundary or with an
 *     encoding other than 7bit/8bit/binary: 5.6.3.
 * A preamble or epilogue (invisible to MIME readers, RFC 2046 5.1.1) that
 * holds 8-bit bytes is dropped.
 *
 * Input is the stored form (LF line ends); CR LF line ends are accepted
 * too, and kept where the text is copied. Encoded bodies get LF line ends;
 * a CR not before an LF is encoded as "=0D". A leaf's old
 * Content-Transfer-Encoding field is removed and the new one appended to
 * its header; "MIME-Version: 1.0" is added to the message header when it
 * had none. A part whose body is 7-bit is untouched, whatever its
 * encoding (so a part already in quoted-printable stays as it was).
 *
 * Pure: works on a buffer in memory (messages are bounded by
 * max_message_size), returns a new buffer, never logs. */
#ifndef KONVERT_PROTO_MIME8_H
#define KONVERT_PROTO_MIME8_H

#include <stdbool.h>
#include <stddef.h>

/* Deepest nesting of multiparts walked (the message itself is level 0). */
#define MIME8_DEPTH_MAX 32

enum mime8_err {
	MIME8_ERR_NONE = 0,
	MIME8_ERR_HEADER_8BIT, /* non-ASCII header: 5.6.7 (SMTPUTF8) / 5.6.3 */
	MIME8_ERR_MESSAGE_8BIT, /* 8-bit inside a message/ part: 5.6.3 */
	MIME8_ERR_ENCODED_8BIT, /* 8-bit in a base64/QP part: 5.6.3 */
	MIME8_ERR_MULTIPART, /* multipart w/o boundary or bad encoding: 5.6.3 */
	MIME8_ERR_DEPTH, /* nested deeper than MIME8_DEPTH_MAX: 5.6.3 */
	MIME8_ERR_TOO_BIG, /* the result would exceed out_max: 5.3.4 */
};

/* Static text, e.g. "8-bit header needs SMTPUTF8". */
const char *mime8_strerror(enum mime8_err err);

/* The enhanced status code to bounce with: "5.6.7" for
 * MIME8_ERR_HEADER_8BIT when the message used SMTPUTF8, "5.3.4" for
 * MIME8_ERR_TOO_BIG, else "5.6.3". */
const char *mime8_status(enum mime8_err err, bool smtputf8);

/* True when no byte of p (len bytes) is >= 0x80: nothing to downgrade. */
bool mime8_is_7bit(const char *p, size_t len);

/* Downgrades len bytes of in (see above). On success returns 0 and sets
 * *out to a new buffer (owned by the caller, free(); NUL-terminated for
 * convenience, the NUL not counted) of *out_len <= out_max bytes; a 7-bit
 * input comes back as an identical copy. On failure returns -1, sets
 * *err_out, and *out is NULL. Allocation failure aborts (core/alloc). */
int mime8_downgrade(const char *in, size_t len, size_t out_max, char **out, size_t *out_len,
		    enum mime8_err *err_out);

#endif
