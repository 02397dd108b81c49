/* spf_macro: the RFC 7208 section 7 macro language. It owns the grammar of
 * macro-strings and their expansion into bounded buffers; it must not do
 * DNS, read the clock or log. libspf2's expander overflowed on hostile
 * records (CVE-2021-20314, CVE-2021-33912), so every write here goes
 * through one bounded sink and no expansion can grow memory. */
#include "trust/spf_macro.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define SPF_MACRO_VALUE_MAX 1024 /* longest value a macro letter may have */
#define SPF_MACRO_DIGITS_MAX 1000 /* digit transformers saturate here */
/* Domain mode keeps a window of the expansion's tail: 7.3 truncation only
 * needs the last SPF_DOMAIN_MAX + 1 bytes to find the label boundary. */
#define SPF_MACRO_WINDOW 1024

struct sink {
	enum spf_macro_mode mode;
	char *out; /* borrowed: EXPLAIN output */
	size_t out_size;
	char win[SPF_MACRO_WINDOW]; /* DOMAIN: the tail of the expansion */
	size_t len; /* bytes held in out or win */
	bool cut; /* DOMAIN: bytes were dropped from the left */
};

static void sink_put(struct sink *s, char c)
{
	if (s->mode == SPF_MACRO_EXPLAIN) {
		if (s->len + 1 < s->out_size)
			s->out[s->len++] = c;
		return;
	}
	if (s->len == sizeof(s->win)) {
		memmove(s->win, s->win + s->len - (SPF_DOMAIN_MAX + 1), SPF_DOMAIN_MAX + 1);
		s->len = SPF_DOMAIN_MAX + 1;
		s->cut = true;
	}
	s->win[s->len++] = c;
}

static bool is_delim(char c)
{
	return c == '.' || c == '-' || c == '+' || c == ',' || c == '/' || c == '_' || c == '=';
}

static bool is_letter(char c, enum spf_macro_mode mode)
{
	c = (char)(c | 0x20);
	if (strchr("slodiphv", c) != NULL && c != '\0')
		return true;
	if (c == 'c' || c == 'r' || c == 't')
		return mode != SPF_MACRO_DOMAIN; /* 7.1: exp text only */
	return false;
}

/* Parses one "%..." at spec[*pos]; on success advances *pos and fills the
 * parts of a %{...} macro (letter 0 for %% %_ %-). */
struct macro {
	char letter; /* as written (case matters) or '%', '_', '-' */
	unsigned digits; /* 0: none */
	bool reverse;
	const char *delims; /* into spec */
	size_t delims_len;
};

static int parse_macro(const char *spec, size_t len, size_t *pos, enum spf_macro_mode mode,
		       struct macro *m, const char **err_out)
{
	size_t i = *pos + 1;

	memset(m, 0, sizeof(*m));
	if (i >= len) {
		*err_out = "'%' at the end of a macro string";
		return -1;
	}
	if (spec[i] == '%' || spec[i] == '_' || spec[i] == '-') {
		m->letter = spec[i];
		*pos = i + 1;
		return 0;
	}
	if (spec[i] != '{') {
		*err_out = "'%' not followed by '{', '%', '_' or '-'";
		return -1;
	}
	i++;
	if (i >= len || !is_letter(spec[i], mode)) {
		*err_out = "unknown or misplaced macro letter";
		return -1;
	}
	m->letter = spec[i++];
	bool have_digits = false;
	while (i < len && spec[i] >= '0' && spec[i] <= '9') {
		have_digits = true;
		m->digits = m->digits * 10 + (unsigned)(spec[i] - '0');
		if (m->digits > SPF_MACRO_DIGITS_MAX)
			m->digits = SPF_MACRO_DIGITS_MAX;
		i++;
	}
	if (have_digits && m->digits == 0) {
		*err_out = "zero digit transformer (RFC 7208 7.1)";
		return -1;
	}
	if (i < len && (spec[i] == 'r' || spec[i] == 'R')) {
		m->reverse = true;
		i++;
	}
	m->delims = spec + i;
	while (i < len && is_delim(spec[i]))
		i++;
	m->delims_len = (size_t)(spec + i - m->delims);
	if (i >= len || spec[i] != '}') {
		*err_out = "unterminated or malformed macro";
		return -1;
	}
	*pos = i + 1;
	return 0;
}

bool spf_macro_is_valid(const char *spec, size_t len, enum spf_macro_mode mode,
			const char **err_out)
{
	const char *dummy;
	size_t pos = 0;
	struct macro m;

	if (err_out == NULL)
		err_out = &dummy;
	while (pos < len) {
		unsigned char c = (unsigned char)spec[pos];
		if (c == '%') {
			if (parse_macro(spec, len, &pos, mode, &m, err_out) < 0)
				return false;
			continue;
		}
		if (!((c >= 0x21 && c <= 0x7e) || (c == ' ' && mode == SPF_MACRO_EXPLAIN))) {
			*err_out = "invalid character in macro string";
			return false;
		}
		pos++;
	}
	return true;
}

bool spf_macro_uses_p(const char *spec, size_t len)
{
	size_t pos = 0;
	struct macro m;
	const char *err;

	while (pos < len) {
		if (spec[pos] != '%') {
			pos++;
			continue;
		}
		if (parse_macro(spec, len, &pos, SPF_MACRO_EXPLAIN, &m, &err) < 0)
			return false;
		if (m.letter == 'p' || m.letter == 'P')
			return true;
	}
	return false;
}

/* The raw value of a macro letter into buf (buf_size >= 80; %{s} needs
 * room for local@domain). */
static const char *letter_value(char letter, const struct spf_macro_vars *v, char *buf,
				size_t buf_size)
{
	static const char hex[] = "0123456789abcdef";
	int n;

	switch (letter | 0x20) {
	case 's':
		n = snprintf(buf, buf_size, "%s@%s", v->local, v->sender_domain);
		return n < 0 || (size_t)n >= buf_size ? NULL : buf;
	case 'l':
		return v->local;
	case 'o':
		return v->sender_domain;
	case 'd':
		return v->domain;
	case 'h':
		return v->helo;
	case 'r':
		return v->receiver != NULL && v->receiver[0] != '\0' ? v->receiver : "unknown";
	case 'p':
		return v->validated != NULL ? v->validated : "unknown";
	case 'v':
		return v->family == AF_INET6 ? "ip6" : "in-addr";
	case 't':
		n = snprintf(buf, buf_size, "%lld", v->now);
		return n < 0 || (size_t)n >= buf_size ? NULL : buf;
	case 'c':
		return inet_ntop(v->family, v->ip, buf, (socklen_t)buf_size);
	case 'i':
		if (v->family == AF_INET)
			return inet_ntop(AF_INET, v->ip, buf, (socklen_t)buf_size);
		/* 7.3: IPv6 as dot-separated nibbles, most significant first */
		for (size_t k = 0; k < 32; k++) {
			uint8_t b = v->ip[k / 2];
			buf[2 * k] = hex[k % 2 == 0 ? b >> 4 : b & 15];
			buf[2 * k + 1] = k == 31 ? '\0' : '.';
		}
		return buf;
	}
	return NULL;
}

static void put_escaped(struct sink *s, char c, bool url)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char u = (unsigned char)c;

	/* 7.3: upper-case letters escape all but RFC 3986 unreserved */
	if (!url || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
	    u == '-' || u == '.' || u == '_' || u == '~') {
		sink_put(s, c);
		return;
	}
	sink_put(s, '%');
	sink_put(s, hex[u >> 4]);
	sink_put(s, hex[u & 15]);
}

static int expand_one(struct sink *s, const struct macro *m, const struct spf_macro_vars *v,
		      const char **err_out)
{
	/* %{s} is local@domain: 64 + 1 + 253 and more for hostile input; a
	 * value that does not fit is an error, never silently empty. */
	char buf[SPF_MACRO_VALUE_MAX + 1];
	struct {
		uint16_t off, len;
	} parts[SPF_MACRO_VALUE_MAX + 1];
	size_t nparts = 0, start = 0;

	const char *val = letter_value(m->letter, v, buf, sizeof(buf));
	if (val == NULL && (m->letter | 0x20) == 's') {
		*err_out = "macro value too long";
		return -1;
	}
	if (val == NULL)
		val = "";
	size_t vlen = strlen(val);
	if (vlen > SPF_MACRO_VALUE_MAX) {
		*err_out = "macro value too long";
		return -1;
	}
	for (size_t i = 0; i <= vlen; i++) {
		bool split = i == vlen;
		if (!split) {
			if (m->delims_len == 0)
				split = val[i] == '.';
			else
				split = memchr(m->delims, val[i], m->delims_len) != NULL;
		}
		if (split) {
			parts[nparts].off = (uint16_t)start;
			parts[nparts].len = (uint16_t)(i - start);
			nparts++;
			start = i + 1;
		}
	}
	/* 7.3: reverse first, then keep the right-hand `digits` parts */
	size_t keep = m->digits != 0 && m->digits < nparts ? m->digits : nparts;
	bool url = m->letter >= 'A' && m->letter <= 'Z';
	for (size_t k = nparts - keep; k < nparts; k++) {
		size_t idx = m->reverse ? nparts - 1 - k : k;
		if (k != nparts - keep)
			sink_put(s, '.');
		for (size_t j = 0; j < parts[idx].len; j++)
			put_escaped(s, val[parts[idx].off + j], url);
	}
	return 0;
}

/* 7.3: drop labels from the left until at most SPF_DOMAIN_MAX remain. */
static int finish_domain(struct sink *s, char *out, size_t out_size, const char **err_out)
{
	size_t from = 0;

	if (s->len > SPF_DOMAIN_MAX || s->cut) {
		size_t p = s->len - SPF_DOMAIN_MAX;
		while (p < s->len && s->win[p - 1] != '.')
			p++;
		if (p >= s->len) {
			*err_out = "expanded domain longer than 253 bytes";
			return -1;
		}
		from = p;
	}
	if (s->len - from >= out_size) {
		*err_out = "output buffer too small";
		return -1;
	}
	memcpy(out, s->win + from, s->len - from);
	out[s->len - from] = '\0';
	return 0;
}

int spf_macro_expand(const char *spec, size_t len, const struct spf_macro_vars *vars,
		     enum spf_macro_mode mode, char *out, size_t out_size, const char **err_out)
{
	const char *dummy;
	struct sink s = {.mode = mode, .out = out, .out_size = out_size};
	size_t pos = 0;

	if (err_out == NULL)
		err_out = &dummy;
	if (out_size == 0 || mode == SPF_MACRO_ANY) {
		*err_out = "bad arguments";
		return -1;
	}
	out[0] = '\0';
	if (!spf_macro_is_valid(spec, len, mode, err_out))
		return -1;
	while (pos < len) {
		struct macro m;
		if (spec[pos] != '%') {
			sink_put(&s, spec[pos++]);
			continue;
		}
		if (parse_macro(spec, len, &pos, mode, &m, err_out) < 0)
			return -1;
		if (m.letter == '%') {
			sink_put(&s, '%');
		} else if (m.letter == '_') {
			sink_put(&s, ' ');
		} else if (m.letter == '-') {
			sink_put(&s, '%');
			sink_put(&s, '2');
			sink_put(&s, '0');
		} else if (expand_one(&s, &m, vars, err_out) < 0) {
			return -1;
		}
	}
	if (mode == SPF_MACRO_EXPLAIN) {
		out[s.len] = '\0';
		return 0;
	}
	return finish_domain(&s, out, out_size, err_out);
}
