/* dkim_tags: the RFC 6376 3.2 tag=value list, as DKIM-Signature header
 * values and DKIM key records (TXT) use it:
 *   tag-list  = tag-spec *( ";" tag-spec ) [ ";" ]
 *   tag-spec  = [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
 *   tag-name  = ALPHA *( ALPHA / DIGIT / "_" )
 *   tag-value = [ tval *( 1*(WSP / FWS) tval ) ], tval = 1*(%x21-3A / %x3C-7E)
 * FWS is WSP, or an optional run of WSP, a line end (CRLF or the stored
 * form's bare LF) and at least one WSP.
 *
 * Strict: an empty tag-spec ("a=1;;b=2"), a duplicate tag name (RFC 6376
 * 3.2: "MUST be treated as an error"), a bare line end, a control or
 * 8-bit character are refused. Bounded: at most DKIM_TAGS_MAX tags, names
 * up to DKIM_TAG_NAME_MAX and values up to DKIM_TAG_VALUE_MAX octets
 * (folding included), inputs up to DKIM_TAGS_INPUT_MAX octets.
 *
 * Pure: no allocation, no logging; the result points into the input. */
#ifndef KONVERT_TRUST_DKIM_TAGS_H
#define KONVERT_TRUST_DKIM_TAGS_H

#include <stdbool.h>
#include <stddef.h>

/* DKIM-Signature has 14 defined tags, key records 7; room for extensions. */
#define DKIM_TAGS_MAX 32
#define DKIM_TAG_NAME_MAX 32
/* b= of a 4096-bit RSA signature is 684 characters, p= of a 4096-bit key
 * 736; h= of a long header list is a few hundred. 8 KB leaves room for
 * folding and still refuses a 100 KB key record. */
#define DKIM_TAG_VALUE_MAX 8192
#define DKIM_TAGS_INPUT_MAX 16384

struct dkim_tag {
	const char *name; /* borrowed: into the parsed input */
	size_t name_len;
	/* Borrowed: into the input; FWS inside the value is kept, leading
	 * and trailing FWS is not part of it. May be empty (value_len 0). */
	const char *value;
	size_t value_len;
};

struct dkim_tag_list {
	struct dkim_tag tags[DKIM_TAGS_MAX];
	size_t count;
};

/* Parses in[0..len) (need not be NUL-terminated) into *out. Returns 0, or
 * -1 with *err_out set to a static description (out->count is then 0).
 * The pointers in *out stay valid while in does. */
int dkim_tags_parse(const char *in, size_t len, struct dkim_tag_list *out, const char **err_out);

/* The tag named name (case-sensitive: RFC 6376 3.2), or NULL. */
const struct dkim_tag *dkim_tags_find(const struct dkim_tag_list *list, const char *name);

/* Copies the value of t without any whitespace or line ends (b=, bh=, p=
 * may be folded anywhere) into out and NUL-terminates it. Returns the
 * copied length, or -1 when out_size is too small. */
int dkim_tags_copy_nows(const struct dkim_tag *t, char *out, size_t out_size);

/* True when the value of t equals lit exactly. */
bool dkim_tags_value_is(const struct dkim_tag *t, const char *lit);

#endif
