/* dkim_tags: the RFC 6376 3.2 tag-list parser shared by DKIM-Signature
 * values and key records. Owns only the grammar and its bounds; what a tag
 * means (required tags, allowed values) is the caller's business. Never
 * allocates, logs or replies; every read is inside [in, in + len). */
#include "trust/dkim_tags.h"

#include <string.h>

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_namechar(char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9') || c == '_';
}

/* VALCHAR: printable ASCII except ';'. */
static bool is_valchar(char c)
{
	unsigned char u = (unsigned char)c;
	return u >= 0x21 && u <= 0x7e && u != ';';
}

/* Skips FWS at in[i]. Returns the new index, or (size_t)-1 when a line
 * end is not followed by WSP (a bare line end is not FWS). */
static size_t skip_fws(const char *in, size_t len, size_t i)
{
	for (;;) {
		while (i < len && is_wsp(in[i]))
			i++;
		size_t j = i;
		if (j < len && in[j] == '\r')
			j++;
		if (j < len && in[j] == '\n')
			j++;
		else if (j != i)
			return (size_t)-1; /* bare CR */
		if (j == i)
			return i;
		if (j >= len || !is_wsp(in[j]))
			return (size_t)-1;
		i = j;
	}
}

int dkim_tags_parse(const char *in, size_t len, struct dkim_tag_list *out, const char **err_out)
{
	size_t i = 0;

	out->count = 0;
	if (len > DKIM_TAGS_INPUT_MAX) {
		*err_out = "tag list too long";
		return -1;
	}
	for (;;) {
		struct dkim_tag t;

		i = skip_fws(in, len, i);
		if (i == (size_t)-1)
			goto bad_fws;
		if (i == len) {
			/* Empty input, or the optional ";" at the end. */
			return 0;
		}
		if (!is_alpha(in[i])) {
			*err_out = out->count > 0 && in[i] == ';' ? "empty tag" : "bad tag name";
			goto fail;
		}
		t.name = in + i;
		while (i < len && is_namechar(in[i]))
			i++;
		t.name_len = (size_t)(in + i - t.name);
		if (t.name_len > DKIM_TAG_NAME_MAX) {
			*err_out = "tag name too long";
			goto fail;
		}
		i = skip_fws(in, len, i);
		if (i == (size_t)-1)
			goto bad_fws;
		if (i == len || in[i] != '=') {
			*err_out = "missing '=' after tag name";
			goto fail;
		}
		i = skip_fws(in, len, i + 1);
		if (i == (size_t)-1)
			goto bad_fws;
		t.value = in + i;
		t.value_len = 0;
		/* tval runs separated by FWS; the value ends at the last tval. */
		while (i < len && in[i] != ';') {
			if (!is_valchar(in[i])) {
				size_t j = skip_fws(in, len, i);
				if (j == (size_t)-1)
					goto bad_fws;
				if (j == i) {
					*err_out = "bad character in tag value";
					goto fail;
				}
				i = j;
				continue;
			}
			while (i < len && is_valchar(in[i]))
				i++;
			t.value_len = (size_t)(in + i - t.value);
		}
		if (t.value_len > DKIM_TAG_VALUE_MAX) {
			*err_out = "tag value too long";
			goto fail;
		}
		for (size_t k = 0; k < out->count; k++) {
			const struct dkim_tag *o = &out->tags[k];
			if (o->name_len == t.name_len && memcmp(o->name, t.name, t.name_len) == 0) {
				*err_out = "duplicate tag";
				goto fail;
			}
		}
		if (out->count == DKIM_TAGS_MAX) {
			*err_out = "too many tags";
			goto fail;
		}
		out->tags[out->count++] = t;
		if (i == len)
			return 0;
		i++; /* the ';' */
	}
bad_fws:
	*err_out = "line end not followed by whitespace";
fail:
	out->count = 0;
	return -1;
}

const struct dkim_tag *dkim_tags_find(const struct dkim_tag_list *list, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < list->count; i++) {
		const struct dkim_tag *t = &list->tags[i];
		if (t->name_len == n && memcmp(t->name, name, n) == 0)
			return t;
	}
	return NULL;
}

int dkim_tags_copy_nows(const struct dkim_tag *t, char *out, size_t out_size)
{
	size_t o = 0;

	for (size_t i = 0; i < t->value_len; i++) {
		char c = t->value[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (o + 1 >= out_size)
			return -1;
		out[o++] = c;
	}
	if (out_size == 0)
		return -1;
	out[o] = '\0';
	return (int)o;
}

bool dkim_tags_value_is(const struct dkim_tag *t, const char *lit)
{
	size_t n = strlen(lit);
	return t->value_len == n && memcmp(t->value, lit, n) == 0;
}
