/* smtp_parse: pure parsers for SMTP command lines: verbs, RFC 5321 4.1.2
 * paths (with RFC 6531 UTF-8), the ESMTP parameters of MAIL and RCPT, BDAT
 * chunk sizes and HELO names. Input is (pointer, length): nothing here reads
 * past len, allocates, logs or replies. A local part is decoded, never
 * interpreted: '%', '!' and '@' inside it are plain characters, so the
 * classic relay tricks (user%remote@local, "user@remote"@local) stay
 * ordinary local parts of a local domain. */
#include "proto/smtp_parse.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "core/kassert.h"

/* Character classes are ASCII-only on purpose: <ctype.h> depends on the
 * locale and would accept bytes >= 0x80 as letters. */
static bool is_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(unsigned char c)
{
	return is_alpha(c) || is_digit(c);
}

static bool is_upper_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'A' && c <= 'F');
}

static unsigned char to_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* atext of RFC 5321 4.1.2 (= RFC 5322 3.2.3), ASCII part only. */
static bool is_atext(unsigned char c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* True when the n bytes at s equal the NUL-terminated lit, ignoring ASCII
 * case. */
static bool eq_nocase(const char *s, size_t n, const char *lit)
{
	size_t i;

	if (strlen(lit) != n)
		return false;
	for (i = 0; i < n; i++)
		if (to_lower((unsigned char)s[i]) != to_lower((unsigned char)lit[i]))
			return false;
	return true;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629 4), or 0 when it
 * is ill-formed or truncated: overlong forms (C0, C1, E0 80-9F, F0 80-8F),
 * UTF-16 surrogates (ED A0-BF) and code points above U+10FFFF (F4 90+,
 * F5-FF) are refused, since they smuggle characters past later checks. */
static size_t utf8_seq_len(const unsigned char *p, size_t rem)
{
	unsigned char lo = 0x80, hi = 0xBF;
	size_t n, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF) {
		n = 2;
	} else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
		n = 3;
		if (p[0] == 0xE0)
			lo = 0xA0;
		else if (p[0] == 0xED)
			hi = 0x9F;
	} else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
		n = 4;
		if (p[0] == 0xF0)
			lo = 0x90;
		else if (p[0] == 0xF4)
			hi = 0x8F;
	} else {
		return 0;
	}
	if (rem < n || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return n;
}

/* 1..20 decimal digits, no sign. A value beyond uint64_t fails, or, with
 * saturate, becomes UINT64_MAX (RFC 1870's SIZE allows 20 digits: such a
 * size is legal and simply too large). */
static int parse_u64_sat(const char *s, size_t n, bool saturate, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;
	bool over = false;

	if (n == 0 || n > 20)
		return -1;
	for (i = 0; i < n; i++) {
		if (!is_digit((unsigned char)s[i]))
			return -1;
		if (__builtin_mul_overflow(v, 10u, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
			over = true;
	}
	if (over && !saturate)
		return -1;
	*out = over ? UINT64_MAX : v;
	return 0;
}

static int parse_u64(const char *s, size_t n, uint64_t *out)
{
	return parse_u64_sat(s, n, false, out);
}

/* Copies n bytes and a NUL into dst; -1 when they do not fit. A value that
 * would be truncated is an error, never silently shortened. */
static int copy_str(char *dst, size_t dst_size, const char *src, size_t n)
{
	if (n >= dst_size)
		return -1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

/* Domain = sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str]
 * (RFC 5321 4.1.2), leniently allowing '_' anywhere like Postfix, plus
 * U-labels (RFC 6531 3.3) when allow_utf8. Stops at the first byte that
 * cannot continue the domain. Empty labels (hence "a..b" and a trailing
 * dot), labels over 63 octets (RFC 1035 2.3.4) and labels starting or
 * ending with '-' are errors. */
static enum smtp_parse_err parse_domain(const unsigned char *s, size_t end, size_t *pos,
					bool allow_utf8)
{
	size_t i = *pos;

	for (;;) {
		size_t label = i;

		while (i < end) {
			if (is_alnum(s[i]) || s[i] == '-' || s[i] == '_') {
				i++;
			} else if (s[i] >= 0x80 && allow_utf8) {
				size_t n = utf8_seq_len(s + i, end - i);

				if (n == 0)
					return SMTP_PERR_ADDR;
				i += n;
			} else {
				break;
			}
		}
		if (i == label || i - label > 63 || s[label] == '-' || s[i - 1] == '-')
			return SMTP_PERR_ADDR;
		if (i < end && s[i] == '.') {
			i++;
			continue;
		}
		break;
	}
	if (i - *pos > SMTP_DOMAIN_MAX)
		return SMTP_PERR_ADDR_TOO_LONG;
	*pos = i;
	return SMTP_PERR_OK;
}

/* Snum 3("." Snum), Snum = 1*3DIGIT with value 0..255 (RFC 5321 4.1.3). */
static bool is_ipv4_literal(const unsigned char *s, size_t n)
{
	size_t i = 0;
	int part;

	for (part = 0; part < 4; part++) {
		unsigned v = 0;
		size_t digits = 0;

		if (part > 0) {
			if (i >= n || s[i] != '.')
				return false;
			i++;
		}
		while (i < n && is_digit(s[i]) && digits < 3) {
			v = v * 10 + (unsigned)(s[i] - '0');
			i++;
			digits++;
		}
		if (digits == 0 || v > 255)
			return false;
	}
	return i == n;
}

static bool is_ipv6_literal(const unsigned char *s, size_t n)
{
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr addr;

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(AF_INET6, buf, &addr) == 1;
}

/* Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig: the Standardized-tag. */
static bool is_ldh_str(const unsigned char *s, size_t n)
{
	size_t i;

	if (n == 0 || !is_alnum(s[n - 1]))
		return false;
	for (i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

/* address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
 * General-address-literal ) "]" (RFC 5321 4.1.3), starting at s[*pos] ==
 * '['. Content bytes are dcontent (%d33-90 / %d94-126), so spaces,
 * controls, '[' and '\\' inside the brackets are errors. A tag spelled
 * IPv6 in any case must carry a real IPv6 address, not general text. */
static enum smtp_parse_err parse_literal(const unsigned char *s, size_t end, size_t *pos)
{
	size_t start = *pos + 1, i = start, colon = 0;
	bool ok;

	KASSERT(*pos < end && s[*pos] == '[');
	while (i < end && s[i] != ']') {
		if (s[i] < 33 || s[i] > 126 || s[i] == '[' || s[i] == '\\')
			return SMTP_PERR_ADDR;
		if (s[i] == ':' && colon == 0)
			colon = i;
		i++;
	}
	if (i == end)
		return SMTP_PERR_ADDR;
	if (colon == 0) {
		ok = is_ipv4_literal(s + start, i - start);
	} else if (!is_ldh_str(s + start, colon - start)) {
		ok = false;
	} else if (eq_nocase((const char *)s + start, colon - start, "IPv6")) {
		ok = is_ipv6_literal(s + colon + 1, i - colon - 1);
	} else {
		ok = i - colon - 1 > 0;
	}
	if (!ok)
		return SMTP_PERR_ADDR;
	*pos = i + 1;
	return SMTP_PERR_OK;
}

/* Appends one decoded local-part byte; the length check after parsing
 * guarantees n stays within the buffer before anything is kept. */
static void local_put(struct smtp_addr *out, size_t *n, unsigned char c)
{
	if (*n < SMTP_LOCAL_MAX)
		out->local[*n] = (char)c;
	(*n)++;
}

/* Local-part = Dot-string / Quoted-string (RFC 5321 4.1.2), atext and
 * qtextSMTP extended with UTF8-non-ascii when allow_utf8 (RFC 6531 3.3).
 * The 64-octet limit (4.5.3.1.1) counts the octets as sent, quotes and
 * backslashes included. Stores the decoded local part in out. */
static enum smtp_parse_err parse_local(const unsigned char *s, size_t end, size_t *pos,
				       bool allow_utf8, struct smtp_addr *out)
{
	size_t i = *pos, n = 0, seq;

	if (i < end && s[i] == '"') {
		i++;
		for (;;) {
			if (i >= end)
				return SMTP_PERR_ADDR; /* unbalanced quote */
			if (s[i] == '"') {
				i++;
				break;
			}
			if (s[i] == '\\') {
				/* quoted-pairSMTP = %d92 %d32-126 */
				if (i + 1 >= end || s[i + 1] < 32 || s[i + 1] > 126)
					return SMTP_PERR_ADDR;
				local_put(out, &n, s[i + 1]);
				i += 2;
			} else if (s[i] >= 32 && s[i] <= 126) {
				local_put(out, &n, s[i]);
				i++;
			} else if (s[i] >= 0x80 && allow_utf8 &&
				   (seq = utf8_seq_len(s + i, end - i)) > 0) {
				for (; seq > 0; seq--)
					local_put(out, &n, s[i++]);
			} else {
				return SMTP_PERR_ADDR;
			}
		}
		/* RFC 5321 allows "", but no mailbox has an empty name and an
		 * empty local part only confuses whatever maps it to a path. */
		if (n == 0)
			return SMTP_PERR_ADDR;
	} else {
		for (;;) {
			size_t atom = i;

			while (i < end) {
				if (is_atext(s[i])) {
					local_put(out, &n, s[i]);
					i++;
				} else if (s[i] >= 0x80 && allow_utf8) {
					seq = utf8_seq_len(s + i, end - i);
					if (seq == 0)
						return SMTP_PERR_ADDR;
					for (; seq > 0; seq--)
						local_put(out, &n, s[i++]);
				} else {
					break;
				}
			}
			if (i == atom)
				return SMTP_PERR_ADDR; /* ".a", "a..b", "a." */
			if (i < end && s[i] == '.') {
				local_put(out, &n, '.');
				i++;
				continue;
			}
			break;
		}
	}
	if (i - *pos > SMTP_LOCAL_MAX)
		return SMTP_PERR_ADDR_TOO_LONG;
	out->local[n] = '\0';
	out->local_len = n;
	*pos = i;
	return SMTP_PERR_OK;
}

static bool has_high_byte(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

static enum smtp_parse_err parse_path(const unsigned char *s, size_t len, bool allow_utf8,
				      bool allow_null, struct smtp_addr *out)
{
	size_t end, i, dstart, k;
	enum smtp_parse_err err;

	if (len < 2 || s[0] != '<' || s[len - 1] != '>')
		return SMTP_PERR_SYNTAX;
	/* RFC 5321 4.5.3.1.3: 256 octets including the punctuation. */
	if (len > SMTP_PATH_MAX)
		return SMTP_PERR_ADDR_TOO_LONG;
	if (!allow_utf8 && has_high_byte((const char *)s, len))
		return SMTP_PERR_NEED_SMTPUTF8;
	end = len - 1;
	if (end == 1) {
		if (!allow_null)
			return SMTP_PERR_NULL_NOT_ALLOWED;
		out->is_null = true;
		return SMTP_PERR_OK;
	}
	/* RFC 5321 4.1.1.3: "<Postmaster>" without a domain, any case. */
	if (eq_nocase((const char *)s + 1, end - 1, "postmaster")) {
		out->is_postmaster = true;
		memcpy(out->local, "postmaster", sizeof("postmaster"));
		out->local_len = sizeof("postmaster") - 1;
		return SMTP_PERR_OK;
	}
	i = 1;
	/* A-d-l ":" — RFC 5321 4.1.2 and appendix C: accept the source
	 * route, then ignore it; we never relay along it. */
	if (s[i] == '@') {
		for (;;) {
			if (i >= end || s[i] != '@')
				return SMTP_PERR_ADDR;
			i++;
			err = parse_domain(s, end, &i, allow_utf8);
			if (err != SMTP_PERR_OK)
				return err;
			if (i < end && s[i] == ',') {
				i++;
				continue;
			}
			if (i < end && s[i] == ':') {
				i++;
				break;
			}
			return SMTP_PERR_ADDR;
		}
		out->had_route = true;
	}
	err = parse_local(s, end, &i, allow_utf8, out);
	if (err != SMTP_PERR_OK)
		return err;
	if (i >= end || s[i] != '@')
		return SMTP_PERR_ADDR;
	i++;
	dstart = i;
	if (i < end && s[i] == '[') {
		err = parse_literal(s, end, &i);
		out->is_literal = true;
	} else {
		err = parse_domain(s, end, &i, allow_utf8);
	}
	if (err != SMTP_PERR_OK)
		return err;
	if (i != end)
		return SMTP_PERR_ADDR;
	if (end - dstart > SMTP_DOMAIN_MAX)
		return SMTP_PERR_ADDR_TOO_LONG;
	for (k = 0; k < end - dstart; k++)
		out->domain[k] = (char)(out->is_literal ? s[dstart + k] : to_lower(s[dstart + k]));
	out->domain[k] = '\0';
	out->has_utf8 = has_high_byte(out->local, out->local_len) ||
			has_high_byte(out->domain, end - dstart);
	return SMTP_PERR_OK;
}

enum smtp_parse_err smtp_parse_path(const char *s, size_t len, bool allow_utf8, bool allow_null,
				    struct smtp_addr *out)
{
	enum smtp_parse_err err;

	KASSERT(out != NULL && (s != NULL || len == 0));
	memset(out, 0, sizeof(*out));
	if (len == 0)
		return SMTP_PERR_SYNTAX;
	err = parse_path((const unsigned char *)s, len, allow_utf8, allow_null, out);
	if (err != SMTP_PERR_OK)
		memset(out, 0, sizeof(*out));
	return err;
}

/* Returns the index just past the '>' closing the path that opens at
 * a[pos] == '<', or 0 when there is none. Quoted strings are skipped so
 * that <"a>b"@c> stays one path. */
static size_t path_span_end(const char *a, size_t len, size_t pos)
{
	bool quoted = false;
	size_t i;

	for (i = pos + 1; i < len; i++) {
		if (quoted) {
			if (a[i] == '\\')
				i++;
			else if (a[i] == '"')
				quoted = false;
		} else if (a[i] == '"') {
			quoted = true;
		} else if (a[i] == '>') {
			return i + 1;
		}
	}
	return 0;
}

/* "FROM:" / "TO:" (any case), one optional SP, then "<...>" followed by
 * SP or the end. Sets the span of the path. */
static enum smtp_parse_err split_cmd(const char *a, size_t len, const char *prefix,
				     size_t *path_start, size_t *path_end)
{
	size_t plen = strlen(prefix), i, e;

	if (len < plen || !eq_nocase(a, plen, prefix))
		return SMTP_PERR_SYNTAX;
	i = plen;
	/* Not RFC 5321, but many clients send "MAIL FROM: <a@b>". */
	if (i < len && a[i] == ' ')
		i++;
	if (i >= len || a[i] != '<')
		return SMTP_PERR_SYNTAX;
	e = path_span_end(a, len, i);
	if (e == 0 || (e < len && a[e] != ' '))
		return SMTP_PERR_SYNTAX;
	*path_start = i;
	*path_end = e;
	return SMTP_PERR_OK;
}

struct esmtp_param {
	const char *kw;
	size_t kw_len;
	const char *val; /* NULL when the keyword had no "=" */
	size_t val_len;
};

/* Next esmtp-param = esmtp-keyword ["=" esmtp-value] (RFC 5321 4.1.2)
 * from *pos; runs of SP between parameters are tolerated. Returns 1 with
 * *p set, 0 at the end, -1 with *err set. Bytes >= 0x80 in a value pass
 * here (RFC 6531 3.3 esmtp-value); each parameter decides on them. */
static int next_param(const char *a, size_t len, size_t *pos, struct esmtp_param *p,
		      enum smtp_parse_err *err)
{
	size_t i = *pos, start, k;

	while (i < len && a[i] == ' ')
		i++;
	if (i == len) {
		*pos = i;
		return 0;
	}
	start = i;
	while (i < len && a[i] != ' ' && a[i] != '=')
		i++;
	p->kw = a + start;
	p->kw_len = i - start;
	p->val = NULL;
	p->val_len = 0;
	for (k = 0; k < p->kw_len; k++) {
		unsigned char c = (unsigned char)p->kw[k];

		if (!is_alnum(c) && (k == 0 || c != '-')) {
			*err = SMTP_PERR_SYNTAX;
			return -1;
		}
	}
	if (p->kw_len == 0) {
		*err = SMTP_PERR_SYNTAX;
		return -1;
	}
	if (i < len && a[i] == '=') {
		i++;
		start = i;
		while (i < len && a[i] != ' ') {
			unsigned char c = (unsigned char)a[i];

			if (c < 33 || c == '=' || c == 127) {
				*err = SMTP_PERR_PARAM_VALUE;
				return -1;
			}
			i++;
		}
		if (i == start) {
			*err = SMTP_PERR_PARAM_VALUE;
			return -1;
		}
		p->val = a + start;
		p->val_len = i - start;
	}
	*pos = i;
	return 1;
}

/* xtext (RFC 3461 4): xchar is "!".."~" except "+" and "="; "+" must be
 * followed by two upper-case hex digits. With allow_utf8, well-formed
 * UTF-8 is also taken (utf-8-addr-unitext, RFC 6533 3). */
static bool is_xtext(const char *s, size_t n, bool allow_utf8)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, seq;

	if (n == 0)
		return false;
	while (i < n) {
		if (u[i] == '+') {
			if (i + 2 >= n || !is_upper_hex(u[i + 1]) || !is_upper_hex(u[i + 2]))
				return false;
			i += 3;
		} else if (u[i] >= 33 && u[i] <= 126 && u[i] != '=') {
			i++;
		} else if (u[i] >= 0x80 && allow_utf8 &&
			   (seq = utf8_seq_len(u + i, n - i)) > 0) {
			i += seq;
		} else {
			return false;
		}
	}
	return true;
}

static enum smtp_parse_err mail_param(const struct esmtp_param *p, struct smtp_mail_params *mp)
{
	const char *v = p->val;
	size_t n = p->val_len;

	if (eq_nocase(p->kw, p->kw_len, "SIZE")) {
		if (mp->has_size || v == NULL || parse_u64_sat(v, n, true, &mp->size) < 0)
			return SMTP_PERR_PARAM_VALUE;
		mp->has_size = true;
	} else if (eq_nocase(p->kw, p->kw_len, "BODY")) {
		if (mp->body != SMTP_BODY_NONE || v == NULL)
			return SMTP_PERR_PARAM_VALUE;
		if (eq_nocase(v, n, "7BIT"))
			mp->body = SMTP_BODY_7BIT;
		else if (eq_nocase(v, n, "8BITMIME"))
			mp->body = SMTP_BODY_8BITMIME;
		else if (eq_nocase(v, n, "BINARYMIME"))
			mp->body = SMTP_BODY_BINARYMIME;
		else
			return SMTP_PERR_PARAM_VALUE;
	} else if (eq_nocase(p->kw, p->kw_len, "SMTPUTF8")) {
		if (mp->smtputf8 || v != NULL)
			return SMTP_PERR_PARAM_VALUE;
		mp->smtputf8 = true;
	} else if (eq_nocase(p->kw, p->kw_len, "REQUIRETLS")) {
		if (mp->requiretls || v != NULL)
			return SMTP_PERR_PARAM_VALUE;
		mp->requiretls = true;
	} else if (eq_nocase(p->kw, p->kw_len, "RET")) {
		if (mp->ret != SMTP_RET_NONE || v == NULL)
			return SMTP_PERR_PARAM_VALUE;
		if (eq_nocase(v, n, "FULL"))
			mp->ret = SMTP_RET_FULL;
		else if (eq_nocase(v, n, "HDRS"))
			mp->ret = SMTP_RET_HDRS;
		else
			return SMTP_PERR_PARAM_VALUE;
	} else if (eq_nocase(p->kw, p->kw_len, "ENVID")) {
		if (mp->envid[0] != '\0' || v == NULL || !is_xtext(v, n, false) ||
		    copy_str(mp->envid, sizeof(mp->envid), v, n) < 0)
			return SMTP_PERR_PARAM_VALUE;
	} else if (eq_nocase(p->kw, p->kw_len, "AUTH")) {
		/* "<>" is itself valid xtext, so one check covers both forms. */
		if (mp->auth[0] != '\0' || v == NULL || !is_xtext(v, n, false) ||
		    copy_str(mp->auth, sizeof(mp->auth), v, n) < 0)
			return SMTP_PERR_PARAM_VALUE;
	} else {
		return SMTP_PERR_PARAM_UNKNOWN;
	}
	return SMTP_PERR_OK;
}

/* NOTIFY="NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ) (RFC 3461 4.1). */
static int parse_notify(const char *v, size_t n, unsigned *out)
{
	unsigned bits = 0;
	size_t i = 0, start;

	if (eq_nocase(v, n, "NEVER")) {
		*out = SMTP_NOTIFY_NEVER;
		return 0;
	}
	for (;;) {
		start = i;
		while (i < n && v[i] != ',')
			i++;
		if (eq_nocase(v + start, i - start, "SUCCESS"))
			bits |= SMTP_NOTIFY_SUCCESS;
		else if (eq_nocase(v + start, i - start, "FAILURE"))
			bits |= SMTP_NOTIFY_FAILURE;
		else if (eq_nocase(v + start, i - start, "DELAY"))
			bits |= SMTP_NOTIFY_DELAY;
		else
			return -1; /* empty item, NEVER among others, junk */
		if (i == n)
			break;
		i++;
	}
	*out = bits;
	return 0;
}

/* ORCPT=addr-type ";" xtext (RFC 3461 4.2); addr-type is an RFC 822
 * atom. Only addr-type utf-8 may carry raw UTF-8 (RFC 6533 3). The
 * address itself is not checked against addr-type: RFC 3461 says it is
 * not constrained to that syntax. */
static bool is_orcpt(const char *v, size_t n, bool allow_utf8)
{
	size_t semi = 0, i;

	while (semi < n && v[semi] != ';')
		semi++;
	if (semi == 0 || semi == n)
		return false;
	for (i = 0; i < semi; i++)
		if (!is_atext((unsigned char)v[i]))
			return false;
	return is_xtext(v + semi + 1, n - semi - 1, allow_utf8 && eq_nocase(v, semi, "utf-8"));
}

static enum smtp_parse_err rcpt_param(const struct esmtp_param *p, bool allow_utf8,
				      struct smtp_rcpt_params *rp)
{
	if (eq_nocase(p->kw, p->kw_len, "NOTIFY")) {
		if (rp->notify != 0 || p->val == NULL ||
		    parse_notify(p->val, p->val_len, &rp->notify) < 0)
			return SMTP_PERR_PARAM_VALUE;
	} else if (eq_nocase(p->kw, p->kw_len, "ORCPT")) {
		if (rp->orcpt[0] != '\0' || p->val == NULL ||
		    !is_orcpt(p->val, p->val_len, allow_utf8) ||
		    copy_str(rp->orcpt, sizeof(rp->orcpt), p->val, p->val_len) < 0)
			return SMTP_PERR_PARAM_VALUE;
	} else {
		return SMTP_PERR_PARAM_UNKNOWN;
	}
	return SMTP_PERR_OK;
}

static enum smtp_parse_err parse_mail(const char *args, size_t len, struct smtp_addr *addr_out,
				      struct smtp_mail_params *params_out)
{
	struct esmtp_param p;
	enum smtp_parse_err err;
	size_t ps, pe, pos;
	int r;

	err = split_cmd(args, len, "FROM:", &ps, &pe);
	if (err != SMTP_PERR_OK)
		return err;
	pos = pe;
	while ((r = next_param(args, len, &pos, &p, &err)) > 0) {
		err = mail_param(&p, params_out);
		if (err != SMTP_PERR_OK)
			return err;
	}
	if (r < 0)
		return err;
	/* RFC 6531 3.4: UTF-8 in the reverse-path needs SMTPUTF8. */
	err = smtp_parse_path(args + ps, pe - ps, params_out->smtputf8, true, addr_out);
	if (err != SMTP_PERR_OK)
		return err;
	/* Reverse-path = Path / "<>": "<postmaster>" is only a forward-path. */
	if (addr_out->is_postmaster)
		return SMTP_PERR_ADDR;
	return SMTP_PERR_OK;
}

enum smtp_parse_err smtp_parse_mail(const char *args, size_t len, struct smtp_addr *addr_out,
				    struct smtp_mail_params *params_out)
{
	enum smtp_parse_err err;

	KASSERT(addr_out != NULL && params_out != NULL && (args != NULL || len == 0));
	memset(addr_out, 0, sizeof(*addr_out));
	memset(params_out, 0, sizeof(*params_out));
	err = parse_mail(args, len, addr_out, params_out);
	if (err != SMTP_PERR_OK) {
		memset(addr_out, 0, sizeof(*addr_out));
		memset(params_out, 0, sizeof(*params_out));
	}
	return err;
}

static enum smtp_parse_err parse_rcpt(const char *args, size_t len, bool allow_utf8,
				      struct smtp_addr *addr_out,
				      struct smtp_rcpt_params *params_out)
{
	struct esmtp_param p;
	enum smtp_parse_err err;
	size_t ps, pe, pos;
	int r;

	err = split_cmd(args, len, "TO:", &ps, &pe);
	if (err != SMTP_PERR_OK)
		return err;
	pos = pe;
	while ((r = next_param(args, len, &pos, &p, &err)) > 0) {
		err = rcpt_param(&p, allow_utf8, params_out);
		if (err != SMTP_PERR_OK)
			return err;
	}
	if (r < 0)
		return err;
	return smtp_parse_path(args + ps, pe - ps, allow_utf8, false, addr_out);
}

enum smtp_parse_err smtp_parse_rcpt(const char *args, size_t len, bool allow_utf8,
				    struct smtp_addr *addr_out, struct smtp_rcpt_params *params_out)
{
	enum smtp_parse_err err;

	KASSERT(addr_out != NULL && params_out != NULL && (args != NULL || len == 0));
	memset(addr_out, 0, sizeof(*addr_out));
	memset(params_out, 0, sizeof(*params_out));
	err = parse_rcpt(args, len, allow_utf8, addr_out, params_out);
	if (err != SMTP_PERR_OK) {
		memset(addr_out, 0, sizeof(*addr_out));
		memset(params_out, 0, sizeof(*params_out));
	}
	return err;
}

static const char *const verb_names[SMTP_VERB_COUNT] = {
	[SMTP_VERB_HELO] = "HELO",	   [SMTP_VERB_EHLO] = "EHLO",
	[SMTP_VERB_MAIL] = "MAIL",	   [SMTP_VERB_RCPT] = "RCPT",
	[SMTP_VERB_DATA] = "DATA",	   [SMTP_VERB_BDAT] = "BDAT",
	[SMTP_VERB_RSET] = "RSET",	   [SMTP_VERB_VRFY] = "VRFY",
	[SMTP_VERB_EXPN] = "EXPN",	   [SMTP_VERB_HELP] = "HELP",
	[SMTP_VERB_NOOP] = "NOOP",	   [SMTP_VERB_QUIT] = "QUIT",
	[SMTP_VERB_STARTTLS] = "STARTTLS", [SMTP_VERB_AUTH] = "AUTH",
	[SMTP_VERB_ETRN] = "ETRN",	   [SMTP_VERB_TURN] = "TURN",
	[SMTP_VERB_SEND] = "SEND",	   [SMTP_VERB_SOML] = "SOML",
	[SMTP_VERB_SAML] = "SAML",
};

enum smtp_verb smtp_parse_verb(const char *line, size_t len, const char **args_out,
			       size_t *args_len_out)
{
	size_t v = 0, a, e;
	int i;

	KASSERT(args_out != NULL && args_len_out != NULL && (line != NULL || len == 0));
	while (v < len && line[v] != ' ')
		v++;
	a = v;
	while (a < len && line[a] == ' ')
		a++;
	e = len;
	while (e > a && (line[e - 1] == ' ' || line[e - 1] == '\t'))
		e--;
	*args_out = a > 0 ? line + a : line;
	*args_len_out = e - a;
	for (i = 1; i < SMTP_VERB_COUNT; i++)
		if (eq_nocase(line, v, verb_names[i]))
			return (enum smtp_verb)i;
	return SMTP_VERB_UNKNOWN;
}

int smtp_parse_bdat(const char *args, size_t len, uint64_t *size_out, bool *last_out)
{
	uint64_t size;
	size_t i = 0;
	bool last = false;

	KASSERT(size_out != NULL && last_out != NULL && (args != NULL || len == 0));
	while (i < len && is_digit((unsigned char)args[i]))
		i++;
	if (parse_u64(args, i, &size) < 0)
		return -1;
	if (i < len) {
		if (args[i] != ' ')
			return -1;
		while (i < len && args[i] == ' ')
			i++;
		if (!eq_nocase(args + i, len - i, "LAST"))
			return -1;
		last = true;
	}
	*size_out = size;
	*last_out = last;
	return 0;
}

bool smtp_is_valid_helo(const char *args, size_t len)
{
	const unsigned char *s = (const unsigned char *)args;
	enum smtp_parse_err err;
	size_t i = 0;

	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return false;
	if (s[0] == '[')
		err = parse_literal(s, len, &i);
	else
		err = parse_domain(s, len, &i, false);
	return err == SMTP_PERR_OK && i == len;
}

/* Dot-string = Atom *("." Atom); bytes >= 0x80 count as atext because a
 * stored local part with them was accepted under SMTPUTF8 (RFC 6531). */
static bool is_dot_string(const char *s, size_t n)
{
	bool atom_empty = true;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (atom_empty)
				return false;
			atom_empty = true;
		} else if (is_atext(c) || c >= 0x80) {
			atom_empty = false;
		} else {
			return false;
		}
	}
	return !atom_empty;
}

struct fmt_buf {
	char *buf;
	size_t size;
	size_t n; /* bytes wanted so far; > size - 1 means overflow */
};

static void fmt_put(struct fmt_buf *f, char c)
{
	if (f->n + 1 < f->size)
		f->buf[f->n] = c;
	f->n++;
}

static void fmt_puts(struct fmt_buf *f, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		fmt_put(f, s[i]);
}

int smtp_addr_format(const struct smtp_addr *addr, char *out, size_t out_size)
{
	struct fmt_buf f = { .buf = out, .size = out_size, .n = 0 };
	size_t i;

	KASSERT(addr != NULL && (out != NULL || out_size == 0));
	if (addr->is_null) {
		/* nothing: "<>" formats as the empty string */
	} else if (addr->is_postmaster) {
		fmt_puts(&f, "postmaster", sizeof("postmaster") - 1);
	} else if (is_dot_string(addr->local, addr->local_len)) {
		fmt_puts(&f, addr->local, addr->local_len);
	} else {
		/* RFC 5321 4.1.2 Quoted-string: only '"' and '\\' need a
		 * quoted-pair; everything else the parser kept is qtext. */
		fmt_put(&f, '"');
		for (i = 0; i < addr->local_len; i++) {
			if (addr->local[i] == '"' || addr->local[i] == '\\')
				fmt_put(&f, '\\');
			fmt_put(&f, addr->local[i]);
		}
		fmt_put(&f, '"');
	}
	if (!addr->is_null && !addr->is_postmaster) {
		fmt_put(&f, '@');
		fmt_puts(&f, addr->domain, strlen(addr->domain));
	}
	if (out_size == 0 || f.n >= out_size) {
		if (out_size > 0)
			out[0] = '\0';
		return -1;
	}
	out[f.n] = '\0';
	return (int)f.n;
}

const char *smtp_parse_strerror(enum smtp_parse_err err)
{
	switch (err) {
	case SMTP_PERR_OK:
		return "ok";
	case SMTP_PERR_SYNTAX:
		return "syntax error in arguments";
	case SMTP_PERR_ADDR:
		return "bad address syntax";
	case SMTP_PERR_ADDR_TOO_LONG:
		return "address too long";
	case SMTP_PERR_NULL_NOT_ALLOWED:
		return "null address not allowed here";
	case SMTP_PERR_NEED_SMTPUTF8:
		return "non-ASCII address requires SMTPUTF8";
	case SMTP_PERR_PARAM_UNKNOWN:
		return "unknown parameter";
	case SMTP_PERR_PARAM_VALUE:
		return "bad or duplicate parameter value";
	}
	return "unknown error";
}
