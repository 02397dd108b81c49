/* dmarc: parses DMARC policy records and decides pass/fail and the
 * disposition of a message from results the caller gathered (SPF, DKIM,
 * the record). It owns no state and does no I/O: DNS lookups, logging and
 * the Authentication-Results header belong to the session that calls it.
 * Every value in a record comes from a stranger's DNS zone, so each is
 * bounded and an unusable one falls back to the RFC default (RFC 7489 6.3:
 * "Syntax errors in the remainder of the record SHOULD be discarded in
 * favor of default values"). */
#include "trust/dmarc.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/kassert.h"
#include "proto/span.h"

/* RFC 7489 6.3 ri: daily reports are required, hourly at best effort; a
 * record cannot ask for more than that nor for less than daily. */
#define DMARC_RI_MIN 3600u
#define DMARC_RI_MAX 86400u

/* Splits "tag = value" at the first '='. Returns false without one. Tag
 * names and keyword values are then matched with span_ieq (ABNF strings
 * ignore case, RFC 5234 2.3); the version value is the exception. */
static bool split_tag(struct span part, struct span *tag, struct span *value)
{
	const char *eq = memchr(part.p, '=', part.len);
	if (eq == NULL)
		return false;
	*tag = span_trim(part.p, (size_t)(eq - part.p));
	*value = span_trim(eq + 1, part.len - (size_t)(eq - part.p) - 1);
	return tag->len > 0;
}

bool dmarc_is_record(const char *txt, size_t len)
{
	const char *p = txt, *end = txt + len;
	struct span tag, value;
	struct span first = span_next(&p, end, ';');
	/* The version value is case-sensitive (RFC 7489 6.4: %x44 %x4d ...). */
	return split_tag(first, &tag, &value) && span_ieq(tag, "v") && value.len == 6 &&
	       memcmp(value.p, "DMARC1", 6) == 0;
}

static bool parse_policy(struct span v, enum dmarc_policy *out)
{
	if (span_ieq(v, "none"))
		*out = DMARC_POLICY_NONE;
	else if (span_ieq(v, "quarantine"))
		*out = DMARC_POLICY_QUARANTINE;
	else if (span_ieq(v, "reject"))
		*out = DMARC_POLICY_REJECT;
	else
		return false;
	return true;
}

static void parse_align(struct span v, enum dmarc_align *out)
{
	if (span_ieq(v, "s"))
		*out = DMARC_ALIGN_STRICT;
	else if (span_ieq(v, "r"))
		*out = DMARC_ALIGN_RELAXED;
	/* anything else: keep the default (relaxed) */
}

/* Decimal digits only, at most max_digits of them, without overflow. */
static bool parse_uint(struct span v, size_t max_digits, unsigned long long *out)
{
	if (v.len == 0 || v.len > max_digits)
		return false;
	unsigned long long n = 0;
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return false;
		if (__builtin_mul_overflow(n, 10ull, &n) ||
		    __builtin_add_overflow(n, (unsigned long long)(v.p[i] - '0'), &n))
			return false;
	}
	*out = n;
	return true;
}

/* fo = "0" / "1" / "d" / "s" joined by ':'; one bad option voids the tag. */
static void parse_fo(struct span v, unsigned *out)
{
	unsigned fo = 0;
	const char *p = v.p, *end = v.p + v.len;
	while (p <= end) {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		const char *e = colon ? colon : end;
		struct span opt = span_trim(p, (size_t)(e - p));
		if (span_ieq(opt, "0"))
			fo |= DMARC_FO_ALL_FAIL;
		else if (span_ieq(opt, "1"))
			fo |= DMARC_FO_ANY_FAIL;
		else if (span_ieq(opt, "d"))
			fo |= DMARC_FO_DKIM;
		else if (span_ieq(opt, "s"))
			fo |= DMARC_FO_SPF;
		else
			return;
		if (colon == NULL)
			break;
		p = colon + 1;
	}
	*out = fo;
}

/* rf = formats joined by ':'; only "afrf" is defined (RFC 7489 6.3). */
static void parse_rf(struct span v, bool *afrf_out)
{
	const char *p = v.p, *end = v.p + v.len;
	*afrf_out = false;
	while (p <= end) {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		const char *e = colon ? colon : end;
		if (span_ieq(span_trim(p, (size_t)(e - p)), "afrf"))
			*afrf_out = true;
		if (colon == NULL)
			break;
		p = colon + 1;
	}
}

/* One dmarc-uri: URI ["!" 1*DIGIT ["k"/"m"/"g"/"t"]] (RFC 7489 6.4). The
 * URI needs a scheme and printable ASCII without spaces. */
static bool parse_uri(struct span v, struct dmarc_uri *out)
{
	const char *bang = memchr(v.p, '!', v.len);
	struct span uri = {v.p, bang ? (size_t)(bang - v.p) : v.len};
	unsigned long long size = 0;
	if (bang != NULL) {
		struct span sz = {bang + 1, v.len - uri.len - 1};
		unsigned long long mult = 1;
		if (sz.len > 0) {
			switch (sz.p[sz.len - 1] | 0x20) {
			case 'k': mult = 1ull << 10; break;
			case 'm': mult = 1ull << 20; break;
			case 'g': mult = 1ull << 30; break;
			case 't': mult = 1ull << 40; break;
			default: mult = 0; break;
			}
			if (mult != 0)
				sz.len--;
			else
				mult = 1;
		}
		if (sz.len == 0)
			return false;
		/* An absurd size saturates: it cannot limit anything anyway. */
		for (size_t i = 0; i < sz.len; i++) {
			if (sz.p[i] < '0' || sz.p[i] > '9')
				return false;
			if (__builtin_mul_overflow(size, 10ull, &size) ||
			    __builtin_add_overflow(size, (unsigned long long)(sz.p[i] - '0'),
						   &size))
				size = ULLONG_MAX;
		}
		if (__builtin_mul_overflow(size, mult, &size))
			size = ULLONG_MAX;
	}
	if (uri.len == 0 || uri.len > DMARC_URI_MAX)
		return false;
	size_t i = 0;
	while (i < uri.len && ((uri.p[i] | 0x20) >= 'a' && (uri.p[i] | 0x20) <= 'z'))
		i++;
	while (i > 0 && i < uri.len &&
	       (((uri.p[i] | 0x20) >= 'a' && (uri.p[i] | 0x20) <= 'z') ||
		(uri.p[i] >= '0' && uri.p[i] <= '9') || uri.p[i] == '+' || uri.p[i] == '-' ||
		uri.p[i] == '.'))
		i++;
	if (i == 0 || i >= uri.len - 1 || uri.p[i] != ':')
		return false;
	for (size_t k = 0; k < uri.len; k++)
		if ((unsigned char)uri.p[k] <= 0x20 || (unsigned char)uri.p[k] >= 0x7f)
			return false;
	memcpy(out->uri, uri.p, uri.len);
	out->uri[uri.len] = '\0';
	out->max_size = size;
	return true;
}

/* rua/ruf: URIs joined by ','; bad ones are skipped, extra ones ignored. */
static void parse_uris(struct span v, struct dmarc_uri *uris, size_t *count_out)
{
	const char *p = v.p, *end = v.p + v.len;
	size_t n = 0;
	while (p <= end && n < DMARC_URI_COUNT_MAX) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *e = comma ? comma : end;
		if (parse_uri(span_trim(p, (size_t)(e - p)), &uris[n]))
			n++;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	*count_out = n;
}

enum dmarc_tag_seen {
	SEEN_P = 1u << 0,
	SEEN_SP = 1u << 1,
	SEEN_ADKIM = 1u << 2,
	SEEN_ASPF = 1u << 3,
	SEEN_PCT = 1u << 4,
	SEEN_RI = 1u << 5,
	SEEN_FO = 1u << 6,
	SEEN_RF = 1u << 7,
	SEEN_RUA = 1u << 8,
	SEEN_RUF = 1u << 9,
};

/* A repeated tag: the first one counts. */
static bool first_time(unsigned *seen, unsigned bit)
{
	if (*seen & bit)
		return false;
	*seen |= bit;
	return true;
}

int dmarc_parse(const char *txt, size_t len, struct dmarc_record *out, const char **err_out)
{
	static const char *dummy;
	const char **err = err_out ? err_out : &dummy;
	*out = (struct dmarc_record){
		.p = DMARC_POLICY_NONE,
		.adkim = DMARC_ALIGN_RELAXED,
		.aspf = DMARC_ALIGN_RELAXED,
		.pct = 100,
		.ri = DMARC_RI_MAX,
		.fo = DMARC_FO_ALL_FAIL,
		.rf_afrf = true,
	};
	if (len > DMARC_RECORD_MAX) {
		*err = "record too long";
		return -1;
	}
	if (memchr(txt, '\0', len) != NULL) {
		*err = "NUL byte in record";
		return -1;
	}
	if (!dmarc_is_record(txt, len)) {
		*err = "not a DMARC1 record";
		return -1;
	}
	const char *p = txt, *end = txt + len;
	(void)span_next(&p, end, ';'); /* v=DMARC1, checked above */
	unsigned seen = 0;
	bool p_ok = false, sp_ok = true;
	while (p < end) {
		struct span tag, v;
		if (!split_tag(span_next(&p, end, ';'), &tag, &v))
			continue; /* empty part ("p=none;") or junk: ignored */
		if (span_ieq(tag, "p") && first_time(&seen, SEEN_P)) {
			p_ok = parse_policy(v, &out->p);
		} else if (span_ieq(tag, "sp") && first_time(&seen, SEEN_SP)) {
			sp_ok = parse_policy(v, &out->sp);
		} else if (span_ieq(tag, "adkim") && first_time(&seen, SEEN_ADKIM)) {
			parse_align(v, &out->adkim);
		} else if (span_ieq(tag, "aspf") && first_time(&seen, SEEN_ASPF)) {
			parse_align(v, &out->aspf);
		} else if (span_ieq(tag, "pct") && first_time(&seen, SEEN_PCT)) {
			unsigned long long n;
			/* pct = 1*3DIGIT, 0..100; out of range keeps 100. */
			if (parse_uint(v, 3, &n) && n <= 100)
				out->pct = (unsigned)n;
		} else if (span_ieq(tag, "ri") && first_time(&seen, SEEN_RI)) {
			unsigned long long n;
			if (parse_uint(v, 32, &n))
				out->ri = n < DMARC_RI_MIN ? DMARC_RI_MIN
				       : n > DMARC_RI_MAX ? DMARC_RI_MAX
							  : (unsigned)n;
		} else if (span_ieq(tag, "fo") && first_time(&seen, SEEN_FO)) {
			parse_fo(v, &out->fo);
		} else if (span_ieq(tag, "rf") && first_time(&seen, SEEN_RF)) {
			parse_rf(v, &out->rf_afrf);
		} else if (span_ieq(tag, "rua") && first_time(&seen, SEEN_RUA)) {
			parse_uris(v, out->rua, &out->rua_count);
		} else if (span_ieq(tag, "ruf") && first_time(&seen, SEEN_RUF)) {
			parse_uris(v, out->ruf, &out->ruf_count);
		}
		/* unknown tags are ignored (RFC 7489 6.3) */
	}
	if (!(seen & SEEN_SP))
		out->sp = out->p;
	if (!p_ok || !sp_ok) {
		/* RFC 7489 6.6.3: no valid p (or a bad sp) is "p=none" when
		 * rua has a valid URI, else no DMARC processing at all. */
		if (out->rua_count == 0) {
			*err = p_ok ? "invalid sp= and no usable rua=" : "no valid p= and no usable rua=";
			return -1;
		}
		out->p = DMARC_POLICY_NONE;
		out->sp = DMARC_POLICY_NONE;
		out->p_implied = true;
	}
	return 0;
}

/* Length of name without one trailing dot. */
static size_t name_len(const char *name)
{
	size_t n = strlen(name);
	if (n > 0 && name[n - 1] == '.')
		n--;
	return n;
}

static bool names_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen > 0 && alen == blen && strncasecmp(a, b, alen) == 0;
}

int dmarc_query_name(const char *domain, char *out, size_t out_size)
{
	size_t n = name_len(domain);
	if (n == 0)
		return -1;
	int w = snprintf(out, out_size, "_dmarc.%.*s", (int)n, domain);
	return w < 0 || (size_t)w >= out_size ? -1 : 0;
}

const char *dmarc_fallback_domain(const struct psl *psl, const char *from_domain)
{
	KASSERT(psl != NULL);
	long off = psl_org_domain(psl, from_domain, strlen(from_domain));
	return off <= 0 ? NULL : from_domain + off;
}

bool dmarc_is_aligned(const struct psl *psl, enum dmarc_align mode, const char *from_domain,
		      const char *auth_domain)
{
	KASSERT(psl != NULL);
	if (from_domain == NULL || auth_domain == NULL)
		return false;
	size_t fl = name_len(from_domain), al = name_len(auth_domain);
	if (mode == DMARC_ALIGN_STRICT)
		return names_equal(from_domain, fl, auth_domain, al);
	long fo = psl_org_domain(psl, from_domain, fl);
	long ao = psl_org_domain(psl, auth_domain, al);
	if (fo < 0 || ao < 0)
		return false;
	return names_equal(from_domain + fo, fl - (size_t)fo, auth_domain + ao,
			   al - (size_t)ao);
}

void dmarc_evaluate(const struct psl *psl, const struct dmarc_record *rec,
		    const char *record_domain, const struct dmarc_input *in,
		    unsigned random_0_99, struct dmarc_verdict *out)
{
	*out = (struct dmarc_verdict){.result = DMARC_RESULT_NONE};
	if (rec == NULL)
		return;
	/* sp= applies below the domain that published the record (found via
	 * the organizational-domain query), never to that domain itself. */
	size_t fl = in->from_domain ? name_len(in->from_domain) : 0;
	bool at_from = record_domain != NULL &&
		       names_equal(in->from_domain, fl, record_domain, name_len(record_domain));
	out->policy = at_from ? rec->p : rec->sp;

	out->spf_aligned = in->spf_pass &&
			   dmarc_is_aligned(psl, rec->aspf, in->from_domain, in->spf_domain);
	for (size_t i = 0; i < in->dkim_count && !out->dkim_aligned; i++)
		out->dkim_aligned = in->dkim[i].pass &&
				    dmarc_is_aligned(psl, rec->adkim, in->from_domain,
						     in->dkim[i].domain);
	if (out->spf_aligned || out->dkim_aligned) {
		out->result = DMARC_RESULT_PASS;
		out->disposition = DMARC_POLICY_NONE;
		return;
	}
	out->result = DMARC_RESULT_FAIL;
	out->disposition = out->policy;
	/* pct (RFC 7489 6.3): messages not sampled get the next less
	 * stringent policy, reject -> quarantine -> none. */
	if (out->policy != DMARC_POLICY_NONE && random_0_99 % 100 >= rec->pct) {
		out->sampled_out = true;
		out->disposition = out->policy == DMARC_POLICY_REJECT ? DMARC_POLICY_QUARANTINE
								     : DMARC_POLICY_NONE;
	}
}

const char *dmarc_policy_name(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_POLICY_NONE: return "none";
	case DMARC_POLICY_QUARANTINE: return "quarantine";
	case DMARC_POLICY_REJECT: return "reject";
	}
	return "?";
}

const char *dmarc_result_name(enum dmarc_result r)
{
	switch (r) {
	case DMARC_RESULT_NONE: return "none";
	case DMARC_RESULT_PASS: return "pass";
	case DMARC_RESULT_FAIL: return "fail";
	}
	return "?";
}
