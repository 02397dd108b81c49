/* spf_record: the SPF record grammar of RFC 7208 4.6.1 and 5-6. It owns
 * the split of a record into directives and modifiers and every syntax
 * decision (a malformed record is a permerror, 4.6); it must not expand
 * macros, do DNS or log. */
#include "trust/spf_record.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "trust/spf_macro.h"

static const struct {
	const char *name;
	enum spf_mech mech;
} mechs[] = {
	{"all", SPF_MECH_ALL}, {"include", SPF_MECH_INCLUDE}, {"a", SPF_MECH_A},
	{"mx", SPF_MECH_MX},   {"ptr", SPF_MECH_PTR},	      {"ip4", SPF_MECH_IP4},
	{"ip6", SPF_MECH_IP6}, {"exists", SPF_MECH_EXISTS},
};

const char *spf_mech_name(enum spf_mech mech)
{
	for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
		if (mechs[i].mech == mech)
			return mechs[i].name;
	return "?";
}

bool spf_record_is_spf(const char *txt, size_t len)
{
	return len >= 6 && strncasecmp(txt, "v=spf1", 6) == 0 && (len == 6 || txt[6] == ' ');
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* toplabel = ( *alphanum ALPHA *alphanum ) /
 *            ( 1*alphanum "-" *( alphanum / "-" ) alphanum ) */
static bool is_toplabel(const char *s, size_t len)
{
	bool alpha = false, hyphen = false;

	if (len == 0 || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (is_alpha(s[i]))
			alpha = true;
		else if (s[i] == '-')
			hyphen = true;
		else if (!is_digit(s[i]))
			return false;
	}
	return alpha || hyphen;
}

/* domain-spec = macro-string domain-end;
 * domain-end = ( "." toplabel [ "." ] ) / macro-expand */
static bool is_domain_spec(const char *s, size_t len, const char **err_out)
{
	if (len == 0) {
		*err_out = "empty domain-spec";
		return false;
	}
	if (!spf_macro_is_valid(s, len, SPF_MACRO_DOMAIN, err_out))
		return false;
	/* Ends with a macro-expand: find where the last macro would start. */
	if (len >= 2 && s[len - 2] == '%' && strchr("%_-", s[len - 1]) != NULL) {
		/* "%%" at the end might be the tail of "x%%%" etc.: count the
		 * run of '%' before the final character. */
		size_t run = 0;
		while (run < len - 1 && s[len - 2 - run] == '%')
			run++;
		if (run % 2 == 1)
			return true;
	}
	if (s[len - 1] == '}') {
		const char *open = NULL;
		for (size_t i = len; i-- > 0;)
			if (s[i] == '{') {
				open = s + i;
				break;
			}
		if (open != NULL && open > s && open[-1] == '%')
			return true; /* validity of the macro was checked above */
	}
	size_t end = len;
	if (s[end - 1] == '.')
		end--;
	size_t dot = end;
	while (dot > 0 && s[dot - 1] != '.')
		dot--;
	if (dot == 0 || !is_toplabel(s + dot, end - dot)) {
		*err_out = "domain-spec does not end in a top label or macro";
		return false;
	}
	return true;
}

/* "0" / %x31-39 0*(max_digits - 1)DIGIT, value <= max */
static bool parse_cidr(const char *s, size_t len, unsigned max, unsigned *out)
{
	unsigned v = 0;

	if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/* Strips a dual-cidr-length from the end of s[0..*len). */
static bool take_dual_cidr(const char *s, size_t *len, struct spf_term *t)
{
	size_t n = *len, i = n;

	while (i > 0 && is_digit(s[i - 1]))
		i--;
	if (i >= 2 && i < n && s[i - 1] == '/' && s[i - 2] == '/') {
		if (!parse_cidr(s + i, n - i, 128, &t->cidr6))
			return false;
		n = i - 2;
	}
	i = n;
	while (i > 0 && is_digit(s[i - 1]))
		i--;
	if (i >= 1 && i < n && s[i - 1] == '/') {
		if (!parse_cidr(s + i, n - i, 32, &t->cidr4))
			return false;
		n = i - 1;
	}
	*len = n;
	return true;
}

static bool parse_ip(const char *s, size_t len, int family, uint8_t *ip)
{
	char buf[INET6_ADDRSTRLEN + 1];

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(family, buf, ip) == 1;
}

static int parse_mech(struct spf_term *t, const char *name, size_t name_len, const char *rest,
		      size_t rest_len, const char **err_out)
{
	size_t i;

	for (i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
		if (strlen(mechs[i].name) == name_len &&
		    strncasecmp(mechs[i].name, name, name_len) == 0)
			break;
	if (i == sizeof(mechs) / sizeof(mechs[0])) {
		*err_out = "unknown mechanism";
		return -1;
	}
	t->mech = mechs[i].mech;
	t->cidr4 = 32;
	t->cidr6 = 128;
	bool colon = rest_len > 0 && rest[0] == ':';
	const char *arg = colon ? rest + 1 : rest;
	size_t arg_len = colon ? rest_len - 1 : rest_len;

	switch (t->mech) {
	case SPF_MECH_ALL:
		if (rest_len != 0) {
			*err_out = "text after \"all\"";
			return -1;
		}
		return 0;
	case SPF_MECH_INCLUDE:
	case SPF_MECH_EXISTS:
	case SPF_MECH_PTR:
		if (t->mech == SPF_MECH_PTR && rest_len == 0)
			return 0;
		if (!colon || !is_domain_spec(arg, arg_len, err_out)) {
			if (!colon)
				*err_out = "mechanism needs \":domain\"";
			return -1;
		}
		t->domain = arg;
		t->domain_len = arg_len;
		return 0;
	case SPF_MECH_A:
	case SPF_MECH_MX:
		if (!colon && rest_len > 0 && rest[0] != '/') {
			*err_out = "bad text after a/mx";
			return -1;
		}
		if (!take_dual_cidr(arg, &arg_len, t)) {
			*err_out = "bad cidr length";
			return -1;
		}
		if (!colon) {
			if (arg_len != 0) {
				*err_out = "bad cidr length";
				return -1;
			}
			return 0;
		}
		if (!is_domain_spec(arg, arg_len, err_out))
			return -1;
		t->domain = arg;
		t->domain_len = arg_len;
		return 0;
	case SPF_MECH_IP4:
	case SPF_MECH_IP6: {
		bool v4 = t->mech == SPF_MECH_IP4;
		const char *slash = colon ? memchr(arg, '/', arg_len) : NULL;
		size_t net_len = slash != NULL ? (size_t)(slash - arg) : arg_len;
		if (!colon || !parse_ip(arg, net_len, v4 ? AF_INET : AF_INET6, t->ip)) {
			*err_out = v4 ? "bad ip4 network" : "bad ip6 network";
			return -1;
		}
		if (slash != NULL && !parse_cidr(slash + 1, arg_len - net_len - 1, v4 ? 32 : 128,
						 v4 ? &t->cidr4 : &t->cidr6)) {
			*err_out = "bad cidr length";
			return -1;
		}
		return 0;
	}
	}
	*err_out = "unknown mechanism";
	return -1;
}

static int parse_term(struct spf_record *r, char *s, size_t len, const char **err_out)
{
	struct spf_term t = {.qual = SPF_QUAL_PASS};
	bool qualified = true;

	switch (s[0]) {
	case '+':
		t.qual = SPF_QUAL_PASS;
		break;
	case '-':
		t.qual = SPF_QUAL_FAIL;
		break;
	case '~':
		t.qual = SPF_QUAL_SOFTFAIL;
		break;
	case '?':
		t.qual = SPF_QUAL_NEUTRAL;
		break;
	default:
		qualified = false;
	}
	if (qualified) {
		s++;
		len--;
	}
	/* name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) */
	size_t n = 0;
	if (len == 0 || !is_alpha(s[0])) {
		*err_out = "term does not start with a name";
		return -1;
	}
	while (n < len && (is_alpha(s[n]) || is_digit(s[n]) || s[n] == '-' || s[n] == '_' ||
			   s[n] == '.'))
		n++;
	if (n < len && s[n] == '=') {
		const char *val = s + n + 1;
		size_t val_len = len - n - 1;
		if (qualified) {
			*err_out = "qualifier on a modifier";
			return -1;
		}
		bool redirect = n == 8 && strncasecmp(s, "redirect", 8) == 0;
		bool exp = n == 3 && strncasecmp(s, "exp", 3) == 0;
		if (!redirect && !exp) /* 6: unknown modifiers are ignored */
			return spf_macro_is_valid(val, val_len, SPF_MACRO_ANY, err_out) ? 0 : -1;
		if (!is_domain_spec(val, val_len, err_out))
			return -1;
		if ((redirect && r->redirect != NULL) || (exp && r->exp != NULL)) {
			*err_out = "redirect= or exp= given twice";
			return -1;
		}
		if (redirect) {
			r->redirect = val;
			r->redirect_len = val_len;
		} else {
			r->exp = val;
			r->exp_len = val_len;
		}
		return 0;
	}
	if (parse_mech(&t, s, n, s + n, len - n, err_out) < 0)
		return -1;
	if (r->term_count >= SPF_TERMS_MAX) {
		*err_out = "too many terms";
		return -1;
	}
	r->terms[r->term_count++] = t; /* room: see spf_record_parse */
	return 0;
}

int spf_record_parse(const char *txt, size_t len, struct spf_record **out, const char **err_out)
{
	const char *dummy;

	if (err_out == NULL)
		err_out = &dummy;
	*out = NULL;
	if (!spf_record_is_spf(txt, len)) {
		*err_out = "not an SPF record";
		return -1;
	}
	if (len > SPF_RECORD_MAX) {
		*err_out = "record too long";
		return -1;
	}
	if (memchr(txt, '\0', len) != NULL) {
		*err_out = "NUL byte in record";
		return -1;
	}
	struct spf_record *r = xcalloc(1, sizeof(*r));
	r->text = xstrndup(txt, len);
	/* a term takes at least 2 bytes with its space: bounded by len */
	size_t cap = len / 2 + 1 < SPF_TERMS_MAX ? len / 2 + 1 : SPF_TERMS_MAX;
	r->terms = xcalloc(cap, sizeof(*r->terms));
	size_t pos = 6;
	while (pos < len) {
		if (r->text[pos] != ' ') {
			*err_out = "terms must be separated by spaces";
			goto fail;
		}
		while (pos < len && r->text[pos] == ' ')
			pos++;
		if (pos == len)
			break; /* record = version terms *SP */
		size_t start = pos;
		while (pos < len && r->text[pos] != ' ')
			pos++;
		if (parse_term(r, r->text + start, pos - start, err_out) < 0)
			goto fail;
	}
	*out = r;
	return 0;
fail:
	spf_record_free(&r);
	return -1;
}

void spf_record_free(struct spf_record **pp)
{
	struct spf_record *r = *pp;

	if (r == NULL)
		return;
	free(r->terms);
	free(r->text);
	free(r);
	*pp = NULL;
}
