/* dot: the SMTP DATA / POP3 multi-line codec (RFC 5321 4.5.2, RFC 1939 3).
 *
 * The decoder turns the wire form (CRLF lines, dot-stuffed, ended by
 * CRLF.CRLF) into the stored form (LF lines, unstuffed) incrementally: it
 * can be fed any split of the input, byte by byte included, and gives the
 * same result. Only CR LF "." CR LF ends a message: a bare LF or bare CR
 * never ends it (SMTP smuggling, CVE-2023-51764/5/6); both are counted in
 * flags so the session can reject the message. Without dot transparency
 * (BDAT) the decoder only converts line endings and never sees an end.
 *
 * The encoder does the reverse for POP3 RETR/TOP: LF (or CRLF) lines in,
 * CRLF lines with leading dots doubled out, and ".\r\n" at the end. */
#ifndef KONVERT_PROTO_DOT_H
#define KONVERT_PROTO_DOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DOT_FLAG_BARE_CR 1u /* a CR not followed by LF */
#define DOT_FLAG_BARE_LF 2u /* an LF not preceded by CR */
#define DOT_FLAG_NUL 4u /* a NUL byte */

struct dot_decoder {
	int state; /* private */
	bool dot_transparency; /* private */
	unsigned flags; /* DOT_FLAG_* seen so far */
	uint64_t in_bytes; /* wire bytes consumed, end marker included */
	uint64_t out_bytes; /* decoded bytes produced */
	uint64_t lines; /* complete lines produced (CR LF ends; a bare LF
			 * is data and not counted) */
};

/* dot_transparency: true for DATA, false for BDAT chunks. */
void dot_decoder_init(struct dot_decoder *d, bool dot_transparency);

/* Decodes up to in_len bytes. out must have room for in_len + 2 bytes
 * (a held-back CR may be flushed). Sets *consumed_out and *out_len_out.
 * Returns 1 when the end marker has been consumed (bytes after it are left
 * unconsumed; the final CRLF before the dot belongs to the message and is
 * output as LF), 0 when more input is needed; with 0, all in_len bytes were
 * consumed (a trailing CR or leading dot is held inside d, not left in
 * in). Once 1 was returned, further calls consume nothing and return 1.
 * A leading dot is dropped from every line (".." -> ".", ".x" -> "x");
 * bare CR / bare LF / NUL bytes are copied to out unchanged and flagged.
 * Never fails: problems are reported in d->flags. */
int dot_decoder_feed(struct dot_decoder *d, const char *in, size_t in_len, size_t *consumed_out,
		     char *out, size_t *out_len_out);

/* For BDAT after the last chunk: flushes a held-back CR (counted as a
 * bare CR) into out (room for 2 bytes). Returns the number of bytes (0 or
 * 1). Not needed for DATA, which ends at the end marker. */
size_t dot_decoder_finish(struct dot_decoder *d, char *out);

struct dot_encoder {
	int state; /* private */
	uint64_t lines; /* complete lines emitted so far */
};

void dot_encoder_init(struct dot_encoder *e);

/* Encodes in_len bytes of stored text. out must have room for
 * 2 * in_len + 2 bytes. Returns the number of bytes written. A CR LF pair
 * in the input is kept as one line end; a lone LF becomes CR LF. */
size_t dot_encoder_feed(struct dot_encoder *e, const char *in, size_t in_len, char *out);

/* Ends the text: CR LF if the last line was not terminated, then ".\r\n".
 * A trailing lone CR in the text becomes that CR LF. Empty text gives just
 * ".\r\n". out needs room for 5 bytes. Returns the number of bytes
 * written. A bare CR inside the text is copied; the output still never
 * holds CR LF "." CR LF before its end. */
size_t dot_encoder_finish(struct dot_encoder *e, char *out);

#endif
