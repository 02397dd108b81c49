/* dot: the dot-stuffing codec shared by SMTP DATA/BDAT intake and POP3
 * RETR/TOP. It owns the byte-level state machines that map the wire form
 * (CRLF lines, leading dots doubled, CRLF.CRLF end) to the stored form (LF
 * lines) and back. It is the only place in konvert that decides where a
 * DATA message ends. It does no I/O, never allocates, never logs and never
 * replies: anomalies are reported as flags and the session decides. */
#include "proto/dot.h"

#include <string.h>

#include "core/kassert.h"

/* Decoder states. "Held" states have consumed a CR whose meaning depends
 * on the next byte; that CR is output later (as LF with its LF, or as a
 * bare CR), so any split of the input gives the same result. */
enum dot_dec_state {
	DOT_DEC_BOL = 0, /* beginning of line: start, or after CR LF */
	DOT_DEC_MID, /* inside a line */
	DOT_DEC_CR, /* held CR inside a line */
	DOT_DEC_DOT, /* "." at beginning of line, dot already dropped */
	DOT_DEC_DOT_CR, /* ".\r" at beginning of line, CR held */
	DOT_DEC_END, /* end marker consumed */
};

enum dot_enc_state {
	DOT_ENC_BOL = 0, /* beginning of line (also: nothing fed yet) */
	DOT_ENC_MID, /* inside a line */
	DOT_ENC_CR, /* held CR: line end if an LF follows */
};

void dot_decoder_init(struct dot_decoder *d, bool dot_transparency)
{
	memset(d, 0, sizeof(*d));
	d->state = DOT_DEC_BOL;
	d->dot_transparency = dot_transparency;
}

/* One content byte inside a line. A lone LF is data, not a line end: only
 * CR LF ends a line, so "\n.\n" and friends can never end the message
 * (SMTP smuggling, CVE-2023-51764). */
static void dec_content(struct dot_decoder *d, unsigned char c, char *out,
			size_t *o)
{
	if (c == '\r') {
		d->state = DOT_DEC_CR;
		return;
	}
	if (c == '\n')
		d->flags |= DOT_FLAG_BARE_LF;
	else if (c == '\0')
		d->flags |= DOT_FLAG_NUL;
	out[(*o)++] = (char)c;
	d->state = DOT_DEC_MID;
}

static bool dec_is_plain(unsigned char c)
{
	return c != '\r' && c != '\n' && c != '\0';
}

int dot_decoder_feed(struct dot_decoder *d, const char *in, size_t in_len,
		     size_t *consumed_out, char *out, size_t *out_len_out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t i = 0, o = 0;
	bool ended = d->state == DOT_DEC_END;

	while (!ended && i < in_len) {
		unsigned char c = p[i++];

		switch (d->state) {
		case DOT_DEC_BOL:
			/* RFC 5321 4.5.2: a leading dot is dropped; BDAT
			 * (RFC 3030) has no transparency. */
			if (c == '.' && d->dot_transparency)
				d->state = DOT_DEC_DOT;
			else
				dec_content(d, c, out, &o);
			break;
		case DOT_DEC_MID:
			dec_content(d, c, out, &o);
			/* Fast path: copy the rest of an ordinary run. */
			if (d->state == DOT_DEC_MID) {
				size_t run = 0;

				while (i + run < in_len &&
				       dec_is_plain(p[i + run]))
					run++;
				memcpy(out + o, p + i, run);
				o += run;
				i += run;
			}
			break;
		case DOT_DEC_CR:
			if (c == '\n') {
				out[o++] = '\n';
				d->lines++;
				d->state = DOT_DEC_BOL;
			} else {
				d->flags |= DOT_FLAG_BARE_CR;
				out[o++] = '\r';
				dec_content(d, c, out, &o);
			}
			break;
		case DOT_DEC_DOT:
			if (c == '\r')
				d->state = DOT_DEC_DOT_CR;
			else
				dec_content(d, c, out, &o);
			break;
		case DOT_DEC_DOT_CR:
			if (c == '\n') {
				/* RFC 5321 4.1.1.4: CR LF "." CR LF. The first
				 * CR LF was already output as the last line's
				 * end. */
				d->state = DOT_DEC_END;
				ended = true;
			} else {
				d->flags |= DOT_FLAG_BARE_CR;
				out[o++] = '\r';
				dec_content(d, c, out, &o);
			}
			break;
		default:
			KASSERT(!"dot decoder: bad state");
		}
	}
	/* At most one held CR is flushed besides the input bytes. */
	KASSERT(o <= i + 1);
	d->in_bytes += i;
	d->out_bytes += o;
	*consumed_out = i;
	*out_len_out = o;
	return ended ? 1 : 0;
}

size_t dot_decoder_finish(struct dot_decoder *d, char *out)
{
	size_t o = 0;

	if (d->state == DOT_DEC_CR || d->state == DOT_DEC_DOT_CR) {
		d->flags |= DOT_FLAG_BARE_CR;
		out[o++] = '\r';
		d->state = DOT_DEC_MID;
	}
	d->out_bytes += o;
	return o;
}

void dot_encoder_init(struct dot_encoder *e)
{
	memset(e, 0, sizeof(*e));
	e->state = DOT_ENC_BOL;
}

/* One byte of stored text outside a held CR. */
static void enc_byte(struct dot_encoder *e, unsigned char c, char *out,
		     size_t *o)
{
	if (c == '\r') {
		e->state = DOT_ENC_CR;
		return;
	}
	if (c == '\n') {
		out[(*o)++] = '\r';
		out[(*o)++] = '\n';
		e->lines++;
		e->state = DOT_ENC_BOL;
		return;
	}
	/* RFC 1939 3: a line starting with "." gets another one. */
	if (c == '.' && e->state == DOT_ENC_BOL)
		out[(*o)++] = '.';
	out[(*o)++] = (char)c;
	e->state = DOT_ENC_MID;
}

size_t dot_encoder_feed(struct dot_encoder *e, const char *in, size_t in_len,
			char *out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0;

	for (size_t i = 0; i < in_len; i++) {
		unsigned char c = p[i];

		if (e->state == DOT_ENC_MID && c != '\r' && c != '\n') {
			/* Fast path: copy the rest of the line's ordinary bytes
			 * in one go (RETR spends its time here). */
			size_t j = i + 1;
			while (j < in_len && p[j] != '\n' && p[j] != '\r')
				j++;
			memcpy(out + o, p + i, j - i);
			o += j - i;
			i = j - 1;
			continue;
		}
		if (e->state != DOT_ENC_CR) {
			enc_byte(e, c, out, &o);
		} else if (c == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			e->lines++;
			e->state = DOT_ENC_BOL;
		} else {
			/* A bare CR is copied; the byte after it is mid-line,
			 * so the output can never hold CR LF "." CR LF
			 * before the end. */
			out[o++] = '\r';
			e->state = DOT_ENC_MID;
			enc_byte(e, c, out, &o);
		}
	}
	return o;
}

size_t dot_encoder_finish(struct dot_encoder *e, char *out)
{
	size_t o = 0;

	/* An unterminated last line gets CR LF; a trailing held CR becomes
	 * the CR of that CR LF (keeps the 5-byte bound). */
	if (e->state != DOT_ENC_BOL) {
		out[o++] = '\r';
		out[o++] = '\n';
		e->lines++;
	}
	out[o++] = '.';
	out[o++] = '\r';
	out[o++] = '\n';
	e->state = DOT_ENC_BOL;
	return o;
}
