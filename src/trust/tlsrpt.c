/* tlsrpt: SMTP TLS Reporting (RFC 8460) for outbound mail, the pure half:
 * parses the recipient domain's reporting record, keeps one domain's daily
 * counters, writes and reads them as text, and turns them into the JSON
 * report, its gzip and the report message. It owns no state beyond the
 * structs its caller hands in and does no I/O, logging or DNS: the
 * delivery side decides what to count and the scheduler when to send.
 * Everything here may come from a stranger (DNS, an MTA-STS policy, a
 * corrupt counter file), so every copy is bounded and every output escaped. */
#include "trust/tlsrpt.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST
#include <zlib.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "core/strbuf.h"
#include "proto/base64.h"
#include "proto/dsn.h"
#include "proto/smtp_parse.h"
#include "proto/span.h"

#define DAY_SECONDS 86400
/* 9999-12-31T00:00:00Z: the last day a four-digit RFC 3339 year holds. */
#define DAY_START_MAX 253402214400LL
#define UNIQUE_ID_MAX 64
#define REPORT_ID_MAX 200

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* %XX-decodes t into out (at most max bytes, then a NUL); a decoded NUL
 * is refused, strings here are C strings. Sets *n_out. */
static bool pct_decode(struct span t, char *out, size_t max, size_t *n_out)
{
	size_t n = 0;
	for (size_t i = 0; i < t.len; i++) {
		int c = (unsigned char)t.p[i];
		if (c == '%') {
			if (t.len - i < 3 || hex_val(t.p[i + 1]) < 0 || hex_val(t.p[i + 2]) < 0)
				return false;
			c = hex_val(t.p[i + 1]) * 16 + hex_val(t.p[i + 2]);
			i += 2;
		}
		if (c == 0 || n >= max)
			return false;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	*n_out = n;
	return true;
}

/* A DNS name (len bytes): labels of 1..63 letters, digits, '-' or '_',
 * at most TLSRPT_HOST_MAX in all after one trailing dot is dropped; with
 * wildcard, "*." may come first (an MTA-STS mx pattern, RFC 8461 3.2).
 * Writes it lower-cased and NUL-terminated into out. */
static bool norm_host(const char *s, size_t len, bool wildcard, char out[TLSRPT_HOST_MAX + 1])
{
	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > TLSRPT_HOST_MAX)
		return false;
	size_t i = 0, label = 0;
	if (wildcard && len > 2 && s[0] == '*' && s[1] == '.')
		i = 2;
	for (; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_')
			return false;
		if (++label > 63)
			return false;
	}
	if (label == 0)
		return false;
	for (i = 0; i < len; i++)
		out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] | 0x20) : s[i];
	out[len] = '\0';
	return true;
}

/* An IPv4 or IPv6 address in text, rewritten in inet_ntop's canonical
 * form so that one address is always one failure key. */
static bool norm_ip(const char *s, char out[TLSRPT_IP_MAX + 1])
{
	unsigned char bin[16];
	char tmp[INET6_ADDRSTRLEN];
	if (strnlen(s, TLSRPT_IP_MAX + 1) > TLSRPT_IP_MAX)
		return false;
	if (inet_pton(AF_INET, s, bin) == 1) {
		if (inet_ntop(AF_INET, bin, tmp, sizeof(tmp)) == NULL)
			return false;
	} else if (inet_pton(AF_INET6, s, bin) == 1) {
		if (inet_ntop(AF_INET6, bin, tmp, sizeof(tmp)) == NULL)
			return false;
	} else {
		return false;
	}
	KASSERT(strlen(tmp) <= TLSRPT_IP_MAX);
	memcpy(out, tmp, strlen(tmp) + 1);
	return true;
}

/* A mailbox "local@domain" (len bytes) as RFC 5321 reads it, through the
 * one address parser konvert has; written back normalised into out. */
static bool norm_addr(const char *s, size_t len, char out[TLSRPT_ADDR_MAX + 1])
{
	char path[TLSRPT_ADDR_MAX + 3];
	struct smtp_addr a;
	if (len == 0 || len > TLSRPT_ADDR_MAX)
		return false;
	path[0] = '<';
	memcpy(path + 1, s, len);
	path[len + 1] = '>';
	if (smtp_parse_path(path, len + 2, false, false, &a) != SMTP_PERR_OK)
		return false;
	if (a.is_null || a.is_postmaster || a.domain[0] == '\0')
		return false;
	return smtp_addr_format(&a, out, TLSRPT_ADDR_MAX + 1) > 0;
}

/* ------------------------------------------------------------------ */
/* The TXT record                                                      */

#define VERSION_TAG "v=TLSRPTv1"
#define VERSION_TAG_LEN (sizeof(VERSION_TAG) - 1)

bool tlsrpt_is_record(const char *txt, size_t len)
{
	if (len < VERSION_TAG_LEN || memcmp(txt, VERSION_TAG, VERSION_TAG_LEN) != 0)
		return false;
	size_t i = VERSION_TAG_LEN;
	while (i < len && span_is_wsp(txt[i]))
		i++;
	return i < len && txt[i] == ';';
}

long tlsrpt_pick_record(const char *const *txts, const size_t *lens, size_t n)
{
	long found = -1;
	for (size_t i = 0; i < n; i++) {
		if (txts[i] == NULL || !tlsrpt_is_record(txts[i], lens[i]))
			continue;
		if (found >= 0 || i > (size_t)LONG_MAX)
			return -1;
		found = (long)i;
	}
	return found;
}

/* tlsrpt-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / "."). */
static bool is_field_name(struct span s)
{
	if (s.len == 0 || s.len > 32 || !(is_alpha(s.p[0]) || is_digit(s.p[0])))
		return false;
	for (size_t i = 1; i < s.len; i++)
		if (!is_alpha(s.p[i]) && !is_digit(s.p[i]) && s.p[i] != '_' && s.p[i] != '-' &&
		    s.p[i] != '.')
			return false;
	return true;
}

/* scheme ":" 1*char, printable ASCII without spaces (RFC 3986 3.1 for the
 * scheme). Sets *scheme and *rest. */
static bool split_uri(struct span u, struct span *scheme, struct span *rest)
{
	for (size_t k = 0; k < u.len; k++)
		if ((unsigned char)u.p[k] <= 0x20 || (unsigned char)u.p[k] >= 0x7f)
			return false;
	size_t i = 0;
	if (u.len == 0 || !is_alpha(u.p[0]))
		return false;
	while (i < u.len && (is_alpha(u.p[i]) || is_digit(u.p[i]) || u.p[i] == '+' ||
			     u.p[i] == '-' || u.p[i] == '.'))
		i++;
	if (i >= u.len - 1 || u.p[i] != ':')
		return false;
	*scheme = (struct span){u.p, i};
	*rest = (struct span){u.p + i + 1, u.len - i - 1};
	return true;
}

/* The address of a mailto URI (RFC 6068): up to any '?', %XX decoded.
 * Decoded bytes must be printable ASCII; a ',' (two addresses) fails the
 * mailbox check later. */
static bool mailto_addr(struct span rest, char out[TLSRPT_ADDR_MAX + 1])
{
	char dec[TLSRPT_ADDR_MAX + 1];
	size_t n;
	const char *q = memchr(rest.p, '?', rest.len);
	struct span a = {rest.p, q ? (size_t)(q - rest.p) : rest.len};
	if (!pct_decode(a, dec, TLSRPT_ADDR_MAX, &n))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)dec[i] <= 0x20 || (unsigned char)dec[i] >= 0x7f)
			return false;
	return norm_addr(dec, n, out);
}

/* One rua value: URIs joined by ','. Adds the URIs found to *uris. */
static void parse_rua(struct span v, struct tlsrpt_record *out, size_t *uris)
{
	const char *p = v.p, *end = v.p + v.len;
	while (p < end) {
		struct span u = span_next(&p, end, ','), scheme, rest;
		char addr[TLSRPT_ADDR_MAX + 1];
		if (!split_uri(u, &scheme, &rest))
			continue; /* not a URI: skipped, not counted */
		(*uris)++;
		if (span_ieq(scheme, "https")) {
			out->https_count++;
			continue;
		}
		if (!span_ieq(scheme, "mailto") || !mailto_addr(rest, addr) ||
		    out->rua_count >= TLSRPT_RUA_MAX) {
			out->ignored_count++;
			continue;
		}
		bool dup = false;
		for (size_t i = 0; i < out->rua_count && !dup; i++)
			dup = strcmp(out->rua[i], addr) == 0;
		if (dup) {
			out->ignored_count++;
			continue;
		}
		memcpy(out->rua[out->rua_count++], addr, strlen(addr) + 1);
	}
}

int tlsrpt_parse_txt(const char *rec, size_t len, struct tlsrpt_record *out)
{
	memset(out, 0, sizeof(*out));
	if (len > TLSRPT_RECORD_MAX || memchr(rec, '\0', len) != NULL ||
	    !tlsrpt_is_record(rec, len))
		return -1;
	const char *p = rec, *end = rec + len;
	(void)span_next(&p, end, ';'); /* the version, checked above */
	bool seen_rua = false;
	size_t uris = 0;
	while (p < end) {
		struct span part = span_next(&p, end, ';');
		if (part.len == 0)
			continue; /* ";;" or a trailing ';' */
		const char *eq = memchr(part.p, '=', part.len);
		if (eq == NULL)
			goto invalid;
		struct span name = span_trim(part.p, (size_t)(eq - part.p));
		struct span value = span_trim(eq + 1, part.len - (size_t)(eq - part.p) - 1);
		if (!is_field_name(name))
			goto invalid;
		/* %s"rua=": case-sensitive; "RUA" is an unknown extension. */
		if (span_eq(name, "rua")) {
			seen_rua = true;
			parse_rua(value, out, &uris);
		}
	}
	if (!seen_rua || uris == 0)
		goto invalid;
	return 0;
invalid:
	memset(out, 0, sizeof(*out));
	return -1;
}

int tlsrpt_query_name(const char *domain, char *out, size_t out_size)
{
	size_t n = strlen(domain);
	if (n > 0 && domain[n - 1] == '.')
		n--;
	if (n == 0 || n > INT_MAX)
		return -1;
	int w = snprintf(out, out_size, "_smtp._tls.%.*s", (int)n, domain);
	return w < 0 || (size_t)w >= out_size ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Names                                                               */

static const char *const result_names[TLSRPT_RESULT_COUNT] = {
	[TLSRPT_RESULT_STARTTLS_NOT_SUPPORTED] = "starttls-not-supported",
	[TLSRPT_RESULT_CERTIFICATE_HOST_MISMATCH] = "certificate-host-mismatch",
	[TLSRPT_RESULT_CERTIFICATE_EXPIRED] = "certificate-expired",
	[TLSRPT_RESULT_CERTIFICATE_NOT_TRUSTED] = "certificate-not-trusted",
	[TLSRPT_RESULT_VALIDATION_FAILURE] = "validation-failure",
	[TLSRPT_RESULT_TLSA_INVALID] = "tlsa-invalid",
	[TLSRPT_RESULT_DNSSEC_INVALID] = "dnssec-invalid",
	[TLSRPT_RESULT_DANE_REQUIRED] = "dane-required",
	[TLSRPT_RESULT_STS_POLICY_FETCH_ERROR] = "sts-policy-fetch-error",
	[TLSRPT_RESULT_STS_POLICY_INVALID] = "sts-policy-invalid",
	[TLSRPT_RESULT_STS_WEBPKI_INVALID] = "sts-webpki-invalid",
};

const char *tlsrpt_result_name(enum tlsrpt_result r)
{
	return (unsigned)r < TLSRPT_RESULT_COUNT ? result_names[r] : "?";
}

int tlsrpt_result_from_name(const char *name, size_t len, enum tlsrpt_result *out)
{
	for (unsigned i = 0; i < TLSRPT_RESULT_COUNT; i++) {
		if (span_eq((struct span){name, len}, result_names[i])) {
			*out = (enum tlsrpt_result)i;
			return 0;
		}
	}
	return -1;
}

static const char *const policy_names[] = {
	[TLSRPT_POLICY_NO_POLICY_FOUND] = "no-policy-found",
	[TLSRPT_POLICY_STS] = "sts",
	[TLSRPT_POLICY_TLSA] = "tlsa",
};
#define POLICY_TYPE_COUNT (sizeof(policy_names) / sizeof(policy_names[0]))

const char *tlsrpt_policy_type_name(enum tlsrpt_policy_type t)
{
	return (unsigned)t < POLICY_TYPE_COUNT ? policy_names[t] : "?";
}

static int policy_type_from_name(struct span s, enum tlsrpt_policy_type *out)
{
	for (unsigned t = 0; t < POLICY_TYPE_COUNT; t++)
		if (span_eq(s, policy_names[t])) {
			*out = (enum tlsrpt_policy_type)t;
			return 0;
		}
	return -1;
}

/* ------------------------------------------------------------------ */
/* Counters                                                            */

time_t tlsrpt_day_start(time_t t)
{
	time_t r = t % DAY_SECONDS;
	return t - (r < 0 ? r + DAY_SECONDS : r);
}

static void free_list(char ***list, size_t *count)
{
	for (size_t i = 0; i < *count; i++)
		free((*list)[i]);
	free(*list);
	*list = NULL;
	*count = 0;
}

static void clear_policy(struct tlsrpt_domain_stats *s)
{
	free_list(&s->policy_strings, &s->policy_count);
	free_list(&s->mx_hosts, &s->mx_count);
	s->policy_type = TLSRPT_POLICY_NO_POLICY_FOUND;
}

static bool is_day_start(long long day)
{
	return day >= 0 && day <= DAY_START_MAX && day % DAY_SECONDS == 0;
}

int tlsrpt_stats_init(struct tlsrpt_domain_stats *s, const char *policy_domain,
		      time_t day_start)
{
	memset(s, 0, sizeof(*s));
	s->policy_type = TLSRPT_POLICY_NO_POLICY_FOUND;
	if (policy_domain == NULL || !is_day_start((long long)day_start) ||
	    !norm_host(policy_domain, strnlen(policy_domain, TLSRPT_HOST_MAX + 2), false,
		       s->domain)) {
		s->domain[0] = '\0';
		return -1;
	}
	s->day_start = day_start;
	return 0;
}

void tlsrpt_stats_fini(struct tlsrpt_domain_stats *s)
{
	clear_policy(s);
	free(s->failures);
	memset(s, 0, sizeof(*s));
}

int tlsrpt_stats_set_policy(struct tlsrpt_domain_stats *s, enum tlsrpt_policy_type type,
			    const char *const *strings, size_t n, const char *const *mx,
			    size_t nmx)
{
	char host[TLSRPT_HOST_MAX + 1];
	if ((unsigned)type >= POLICY_TYPE_COUNT)
		return -1;
	if (type == TLSRPT_POLICY_NO_POLICY_FOUND) {
		clear_policy(s);
		return 0;
	}
	if (n > TLSRPT_POLICY_STRINGS_MAX || nmx > TLSRPT_MX_HOSTS_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strnlen(strings[i], TLSRPT_POLICY_STRING_MAX + 1) > TLSRPT_POLICY_STRING_MAX)
			return -1;
	for (size_t i = 0; i < nmx; i++)
		if (!norm_host(mx[i], strnlen(mx[i], TLSRPT_HOST_MAX + 2), true, host))
			return -1;
	clear_policy(s);
	s->policy_type = type;
	if (n > 0) {
		s->policy_strings = xcalloc(n, sizeof(char *));
		for (size_t i = 0; i < n; i++)
			s->policy_strings[i] = xstrdup(strings[i]);
		s->policy_count = n;
	}
	if (nmx > 0) {
		s->mx_hosts = xcalloc(nmx, sizeof(char *));
		for (size_t i = 0; i < nmx; i++) {
			(void)norm_host(mx[i], strlen(mx[i]), true, host);
			s->mx_hosts[i] = xstrdup(host);
		}
		s->mx_count = nmx;
	}
	return 0;
}

void tlsrpt_stats_success(struct tlsrpt_domain_stats *s)
{
	s->success_count = sat_add(s->success_count, 1);
}

/* The failure key with its fields already normalised; n >= 1 sessions. */
struct failure_key {
	enum tlsrpt_result result;
	const char *mx, *rip, *sip, *reason;
};

static int add_failure(struct tlsrpt_domain_stats *s, const struct failure_key *k, uint64_t n)
{
	s->failure_count = sat_add(s->failure_count, n);
	for (size_t i = 0; i < s->failure_detail_count; i++) {
		struct tlsrpt_failure *f = &s->failures[i];
		if (f->result == k->result && strcmp(f->receiving_mx, k->mx) == 0 &&
		    strcmp(f->receiving_ip, k->rip) == 0 && strcmp(f->sending_ip, k->sip) == 0) {
			f->count = sat_add(f->count, n);
			if (f->reason[0] == '\0')
				memcpy(f->reason, k->reason, strlen(k->reason) + 1);
			return 0;
		}
	}
	if (s->failure_detail_count >= TLSRPT_FAILURES_MAX)
		return -1;
	if (s->failure_detail_count == s->failure_cap) {
		size_t cap = s->failure_cap == 0 ? 4 : s->failure_cap * 2;
		if (cap > TLSRPT_FAILURES_MAX)
			cap = TLSRPT_FAILURES_MAX;
		s->failures = xrealloc(s->failures, cap * sizeof(*s->failures));
		s->failure_cap = cap;
	}
	struct tlsrpt_failure *f = &s->failures[s->failure_detail_count++];
	memset(f, 0, sizeof(*f));
	f->result = k->result;
	memcpy(f->receiving_mx, k->mx, strlen(k->mx) + 1);
	memcpy(f->receiving_ip, k->rip, strlen(k->rip) + 1);
	memcpy(f->sending_ip, k->sip, strlen(k->sip) + 1);
	memcpy(f->reason, k->reason, strlen(k->reason) + 1);
	f->count = n;
	return 0;
}

/* Copies at most TLSRPT_REASON_MAX bytes of in, control and non-ASCII
 * bytes as '?': the reason often carries a remote server's own text. */
static void clean_reason(const char *in, char out[TLSRPT_REASON_MAX + 1])
{
	size_t n = 0;
	for (; in != NULL && in[n] != '\0' && n < TLSRPT_REASON_MAX; n++) {
		unsigned char c = (unsigned char)in[n];
		out[n] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
	}
	out[n] = '\0';
}

int tlsrpt_stats_failure(struct tlsrpt_domain_stats *s, enum tlsrpt_result result,
			 const char *receiving_mx, const char *receiving_ip,
			 const char *sending_ip, const char *reason)
{
	char mx[TLSRPT_HOST_MAX + 1] = "", rip[TLSRPT_IP_MAX + 1] = "";
	char sip[TLSRPT_IP_MAX + 1] = "", why[TLSRPT_REASON_MAX + 1];
	bool ok = (unsigned)result < TLSRPT_RESULT_COUNT;
	if (ok && receiving_mx != NULL && receiving_mx[0] != '\0')
		ok = norm_host(receiving_mx, strnlen(receiving_mx, TLSRPT_HOST_MAX + 2), false, mx);
	if (ok && receiving_ip != NULL && receiving_ip[0] != '\0')
		ok = norm_ip(receiving_ip, rip);
	if (ok && sending_ip != NULL && sending_ip[0] != '\0')
		ok = norm_ip(sending_ip, sip);
	if (!ok) {
		s->failure_count = sat_add(s->failure_count, 1);
		return -1;
	}
	clean_reason(reason, why);
	struct failure_key k = {result, mx, rip, sip, why};
	return add_failure(s, &k, 1);
}

/* ------------------------------------------------------------------ */
/* Text form                                                           */

#define STATS_MAGIC "tlsrpt-stats"
#define STATS_VERSION "1"

static void put_token(struct strbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	if (s[0] == '\0') {
		strbuf_add_str(b, "-");
		return;
	}
	if (strcmp(s, "-") == 0) {
		strbuf_add_str(b, "%2D");
		return;
	}
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 0x20 || c >= 0x7f || c == '%') {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			strbuf_add(b, e, 3);
		} else {
			strbuf_add(b, s, 1);
		}
	}
}

static void put_list(struct strbuf *b, const char *key, char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		strbuf_add_str(b, key);
		put_token(b, v[i]);
		strbuf_add_str(b, "\n");
	}
}

char *tlsrpt_stats_serialize(const struct tlsrpt_domain_stats *s, size_t *len_out)
{
	struct strbuf b;
	strbuf_init(&b, STRBUF_UNBOUNDED);
	strbuf_printf(&b, STATS_MAGIC " " STATS_VERSION " ");
	put_token(&b, s->domain);
	strbuf_printf(&b, " %lld\npolicy %s\n", (long long)s->day_start,
		      tlsrpt_policy_type_name(s->policy_type));
	put_list(&b, "policy-string ", s->policy_strings, s->policy_count);
	put_list(&b, "mx-host ", s->mx_hosts, s->mx_count);
	strbuf_printf(&b, "success %llu\n", (unsigned long long)s->success_count);
	uint64_t in_details = 0;
	for (size_t i = 0; i < s->failure_detail_count; i++) {
		const struct tlsrpt_failure *f = &s->failures[i];
		in_details = sat_add(in_details, f->count);
		strbuf_printf(&b, "failure %s ", tlsrpt_result_name(f->result));
		put_token(&b, f->receiving_mx);
		strbuf_add_str(&b, " ");
		put_token(&b, f->receiving_ip);
		strbuf_add_str(&b, " ");
		put_token(&b, f->sending_ip);
		strbuf_printf(&b, " %llu ", (unsigned long long)f->count);
		put_token(&b, f->reason);
		strbuf_add_str(&b, "\n");
	}
	if (s->failure_count > in_details)
		strbuf_printf(&b, "failure-other %llu\n",
			      (unsigned long long)(s->failure_count - in_details));
	return strbuf_take(&b, len_out);
}

/* Decodes a token written by put_token into out (NUL-terminated, at most
 * max bytes before the NUL). */
static bool get_token(struct span t, char *out, size_t max)
{
	size_t n;
	if (t.len == 1 && t.p[0] == '-') {
		out[0] = '\0';
		return true;
	}
	return pct_decode(t, out, max, &n) && n > 0;
}

/* 1..20 decimal digits that fit a uint64_t. */
static bool get_u64(struct span t, uint64_t *out)
{
	uint64_t v = 0;
	if (t.len == 0 || t.len > 20)
		return false;
	for (size_t i = 0; i < t.len; i++) {
		if (!is_digit(t.p[i]) || __builtin_mul_overflow(v, 10u, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(t.p[i] - '0'), &v))
			return false;
	}
	*out = v;
	return true;
}

#define LINE_TOKENS_MAX 8

/* Splits a line at single spaces. Returns the token count, or 0 when the
 * line is empty, has a byte outside 0x21..0x7e other than the separating
 * spaces, an empty token, or more than LINE_TOKENS_MAX tokens. */
static size_t split_line(const char *p, size_t len, struct span tok[LINE_TOKENS_MAX])
{
	size_t n = 0, start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && p[i] != ' ') {
			if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e)
				return 0;
			continue;
		}
		if (i == start || n == LINE_TOKENS_MAX)
			return 0;
		tok[n++] = (struct span){p + start, i - start};
		start = i + 1;
	}
	return n;
}

/* The header line: "tlsrpt-stats 1 DOMAIN DAY". */
static bool get_header(const struct span *tok, size_t n, char domain[TLSRPT_HOST_MAX + 1],
		       time_t *day)
{
	char raw[TLSRPT_HOST_MAX + 1];
	uint64_t d;
	if (n != 4 || !span_eq(tok[0], STATS_MAGIC) || !span_eq(tok[1], STATS_VERSION) ||
	    !get_token(tok[2], raw, TLSRPT_HOST_MAX) ||
	    !norm_host(raw, strlen(raw), false, domain) || !get_u64(tok[3], &d) ||
	    d > (uint64_t)DAY_START_MAX || !is_day_start((long long)d))
		return false;
	*day = (time_t)d;
	return true;
}

static void list_push(char ***list, size_t *count, const char *s)
{
	*list = xrealloc(*list, (*count + 1) * sizeof(char *));
	(*list)[(*count)++] = xstrdup(s);
}

/* Applies one line after the header. Returns NULL or the reason. */
static const char *apply_line(struct tlsrpt_domain_stats *s, const struct span *tok, size_t n,
			      char *scratch)
{
	uint64_t v;
	if (span_eq(tok[0], "policy")) {
		enum tlsrpt_policy_type t;
		if (n != 2 || policy_type_from_name(tok[1], &t) != 0)
			return "bad policy line";
		clear_policy(s);
		s->policy_type = t;
	} else if (span_eq(tok[0], "policy-string")) {
		if (n != 2 || !get_token(tok[1], scratch, TLSRPT_POLICY_STRING_MAX))
			return "bad policy-string line";
		if (s->policy_type == TLSRPT_POLICY_NO_POLICY_FOUND ||
		    s->policy_count >= TLSRPT_POLICY_STRINGS_MAX)
			return "policy-string not allowed here";
		list_push(&s->policy_strings, &s->policy_count, scratch);
	} else if (span_eq(tok[0], "mx-host")) {
		char host[TLSRPT_HOST_MAX + 1];
		if (n != 2 || !get_token(tok[1], scratch, TLSRPT_HOST_MAX) ||
		    !norm_host(scratch, strlen(scratch), true, host))
			return "bad mx-host line";
		if (s->policy_type == TLSRPT_POLICY_NO_POLICY_FOUND ||
		    s->mx_count >= TLSRPT_MX_HOSTS_MAX)
			return "mx-host not allowed here";
		list_push(&s->mx_hosts, &s->mx_count, host);
	} else if (span_eq(tok[0], "success")) {
		if (n != 2 || !get_u64(tok[1], &v))
			return "bad success line";
		s->success_count = sat_add(s->success_count, v);
	} else if (span_eq(tok[0], "failure-other")) {
		if (n != 2 || !get_u64(tok[1], &v))
			return "bad failure-other line";
		s->failure_count = sat_add(s->failure_count, v);
	} else if (span_eq(tok[0], "failure")) {
		char mx[TLSRPT_HOST_MAX + 1] = "", rip[TLSRPT_IP_MAX + 1] = "";
		char sip[TLSRPT_IP_MAX + 1] = "", why[TLSRPT_REASON_MAX + 1];
		struct failure_key k = {.mx = mx, .rip = rip, .sip = sip, .reason = why};
		if (n != 7 || tlsrpt_result_from_name(tok[1].p, tok[1].len, &k.result) != 0 ||
		    !get_u64(tok[5], &v) || v == 0)
			return "bad failure line";
		if (!get_token(tok[2], scratch, TLSRPT_HOST_MAX) ||
		    (scratch[0] != '\0' && !norm_host(scratch, strlen(scratch), false, mx)))
			return "bad receiving-mx in failure line";
		if (!get_token(tok[3], scratch, TLSRPT_IP_MAX) ||
		    (scratch[0] != '\0' && !norm_ip(scratch, rip)))
			return "bad receiving-ip in failure line";
		if (!get_token(tok[4], scratch, TLSRPT_IP_MAX) ||
		    (scratch[0] != '\0' && !norm_ip(scratch, sip)))
			return "bad sending-ip in failure line";
		if (!get_token(tok[6], scratch, TLSRPT_REASON_MAX))
			return "bad reason in failure line";
		clean_reason(scratch, why);
		(void)add_failure(s, &k, v); /* past the table: total only */
	} else {
		return "unknown line";
	}
	return NULL;
}

int tlsrpt_stats_parse(const char *text, size_t len, struct tlsrpt_domain_stats *out,
		       const char **err_out)
{
	static const char *dummy;
	const char **err = err_out ? err_out : &dummy;
	struct span tok[LINE_TOKENS_MAX];
	char *scratch = xmalloc(TLSRPT_POLICY_STRING_MAX + 1);
	const char *p = text, *end = text + len;
	bool have_header = false;

	*err = NULL;
	memset(out, 0, sizeof(*out));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			break; /* a torn last append: ignored */
		size_t line_len = (size_t)(nl - p);
		const char *line = p;
		p = nl + 1;
		if (line_len > TLSRPT_LINE_MAX) {
			*err = "line too long";
			break;
		}
		size_t n = split_line(line, line_len, tok);
		if (n == 0) {
			*err = "malformed line";
			break;
		}
		if (span_eq(tok[0], STATS_MAGIC)) {
			char domain[TLSRPT_HOST_MAX + 1];
			time_t day;
			if (!get_header(tok, n, domain, &day)) {
				*err = "bad header line";
				break;
			}
			if (!have_header) {
				KASSERT(tlsrpt_stats_init(out, domain, day) == 0);
				have_header = true;
			} else if (strcmp(domain, out->domain) != 0 || day != out->day_start) {
				*err = "header of another domain or day";
				break;
			}
			continue;
		}
		if (!have_header) {
			*err = "no header line";
			break;
		}
		*err = apply_line(out, tok, n, scratch);
		if (*err != NULL)
			break;
	}
	free(scratch);
	if (*err == NULL && !have_header)
		*err = "no header line";
	if (*err != NULL) {
		tlsrpt_stats_fini(out);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* JSON (RFC 8259)                                                     */

/* Length of the valid UTF-8 sequence at p (left bytes), 0 if invalid
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t utf8_len(const unsigned char *p, size_t left)
{
	unsigned char c = p[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (left < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

static void json_str(struct strbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t left = strlen((const char *)p);
	strbuf_add_str(b, "\"");
	while (left > 0) {
		unsigned char c = *p;
		size_t n = 1;
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			strbuf_add(b, e, 2);
		} else if (c < 0x20 || c == 0x7f) {
			strbuf_printf(b, "\\u%04x", c);
		} else if (c < 0x80) {
			strbuf_add(b, p, 1);
		} else if ((n = utf8_len(p, left)) > 0) {
			strbuf_add(b, p, n);
		} else {
			strbuf_add_str(b, "\\ufffd");
			n = 1;
		}
		p += n;
		left -= n;
	}
	strbuf_add_str(b, "\"");
}

/* RFC 3339 "YYYY-MM-DDTHH:MM:SSZ" of t; false outside years 0..9999. */
static bool format_datetime(time_t t, char out[32])
{
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
		return false;
	int n = snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return n > 0 && n < 32;
}

static void json_str_array(struct strbuf *b, const char *name, char *const *v, size_t n)
{
	if (n == 0)
		return;
	strbuf_printf(b, ",\"%s\":[", name);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strbuf_add_str(b, ",");
		json_str(b, v[i]);
	}
	strbuf_add_str(b, "]");
}

/* An optional failure-details member: left out when empty. */
static void json_opt(struct strbuf *b, const char *name, const char *v)
{
	if (v[0] == '\0')
		return;
	strbuf_printf(b, ",\"%s\":", name);
	json_str(b, v);
}

char *tlsrpt_report_json(const struct tlsrpt_domain_stats *s, const char *org_name,
			 const char *contact, const char *report_id, time_t day_start,
			 size_t *len)
{
	char start[32], end[32];
	if (day_start > (time_t)DAY_START_MAX || !format_datetime(day_start, start) ||
	    !format_datetime(day_start + (DAY_SECONDS - 1), end))
		return NULL;
	struct strbuf b;
	strbuf_init(&b, STRBUF_UNBOUNDED);
	strbuf_add_str(&b, "{\"organization-name\":");
	json_str(&b, org_name);
	strbuf_printf(&b, ",\"date-range\":{\"start-datetime\":\"%s\",\"end-datetime\":\"%s\"}",
		      start, end);
	strbuf_add_str(&b, ",\"contact-info\":");
	json_str(&b, contact);
	strbuf_add_str(&b, ",\"report-id\":");
	json_str(&b, report_id);
	strbuf_printf(&b, ",\"policies\":[{\"policy\":{\"policy-type\":\"%s\"",
		      tlsrpt_policy_type_name(s->policy_type));
	json_str_array(&b, "policy-string", s->policy_strings, s->policy_count);
	strbuf_add_str(&b, ",\"policy-domain\":");
	json_str(&b, s->domain);
	json_str_array(&b, "mx-host", s->mx_hosts, s->mx_count);
	strbuf_printf(&b,
		      "},\"summary\":{\"total-successful-session-count\":%llu,"
		      "\"total-failure-session-count\":%llu},\"failure-details\":[",
		      (unsigned long long)s->success_count, (unsigned long long)s->failure_count);
	for (size_t i = 0; i < s->failure_detail_count; i++) {
		const struct tlsrpt_failure *f = &s->failures[i];
		strbuf_printf(&b, "%s{\"result-type\":\"%s\"", i > 0 ? "," : "",
			      tlsrpt_result_name(f->result));
		json_opt(&b, "sending-mta-ip", f->sending_ip);
		json_opt(&b, "receiving-mx-hostname", f->receiving_mx);
		json_opt(&b, "receiving-ip", f->receiving_ip);
		strbuf_printf(&b, ",\"failed-session-count\":%llu", (unsigned long long)f->count);
		json_opt(&b, "failure-reason-code", f->reason);
		strbuf_add_str(&b, "}");
	}
	strbuf_add_str(&b, "]}]}");
	return strbuf_take(&b, len);
}

/* ------------------------------------------------------------------ */
/* gzip                                                                */

int tlsrpt_gzip(const void *in, size_t len, unsigned char **out, size_t *out_len)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	*out = NULL;
	*out_len = 0;
	/* windowBits 15 + 16: a gzip wrapper instead of zlib's own. */
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	size_t cap = (size_t)deflateBound(&zs, (uLong)len) + 64, used = 0;
	unsigned char *buf = xmalloc(cap);
	const unsigned char *ip = in;
	size_t left = len;
	int rc;
	do {
		/* avail_in/avail_out are uInt: feed and drain in pieces. */
		if (zs.avail_in == 0 && left > 0) {
			uInt n = left > UINT_MAX ? UINT_MAX : (uInt)left;
			zs.next_in = ip;
			zs.avail_in = n;
			ip += n;
			left -= n;
		}
		if (used == cap) {
			KASSERT(!ckd_mul_size(&cap, cap, 2));
			buf = xrealloc(buf, cap);
		}
		size_t room = cap - used;
		uInt avail = room > UINT_MAX ? UINT_MAX : (uInt)room;
		zs.next_out = buf + used;
		zs.avail_out = avail;
		rc = deflate(&zs, left == 0 ? Z_FINISH : Z_NO_FLUSH);
		used += avail - zs.avail_out;
		if (rc == Z_STREAM_ERROR) {
			(void)deflateEnd(&zs);
			free(buf);
			return -1;
		}
	} while (rc != Z_STREAM_END);
	if (deflateEnd(&zs) != Z_OK) {
		free(buf);
		return -1;
	}
	*out = buf;
	*out_len = used;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The message (RFC 8460 5.3)                                          */

static bool is_alnum_id(const char *s, size_t max)
{
	size_t n = 0;
	for (; s[n] != '\0'; n++)
		if (n >= max || !(is_alpha(s[n]) || is_digit(s[n])))
			return false;
	return n > 0;
}

/* RFC 5322 3.2.3 atext. */
static bool is_atext(char c)
{
	return is_alpha(c) || is_digit(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* dot-atom-text: atext runs joined by single dots. */
static bool is_dot_atom(const char *s, size_t len)
{
	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(is_atext(s[i]) || (s[i] == '.' && s[i - 1] != '.')))
			return false;
	return true;
}

/* msg-id without its brackets: id-left "@" id-right, both dot-atom-text
 * (RFC 5322 3.6.4), as the Subject ABNF of RFC 8460 5.3 asks. */
static bool is_msg_id(const char *s)
{
	size_t len = strnlen(s, REPORT_ID_MAX + 1);
	const char *at = memchr(s, '@', len);
	if (len > REPORT_ID_MAX || at == NULL)
		return false;
	size_t left = (size_t)(at - s);
	return is_dot_atom(s, left) && is_dot_atom(at + 1, len - left - 1);
}

static bool is_host(const char *s, char out[TLSRPT_HOST_MAX + 1])
{
	return s != NULL && norm_host(s, strnlen(s, TLSRPT_HOST_MAX + 2), false, out);
}

static bool is_mailbox(const char *s, char out[TLSRPT_ADDR_MAX + 1])
{
	return s != NULL && norm_addr(s, strnlen(s, TLSRPT_ADDR_MAX + 1), out);
}

/* "name!name!begin!end!uid.json.gz" */
#define FILENAME_MAX_LEN (2 * TLSRPT_HOST_MAX + 2 * 20 + UNIQUE_ID_MAX + 16)

int tlsrpt_report_filename(const char *submitter, const char *policy_domain,
			   time_t day_start, const char *unique_id, char *out,
			   size_t out_size)
{
	char sub[TLSRPT_HOST_MAX + 1], dom[TLSRPT_HOST_MAX + 1];
	if (out_size > 0)
		out[0] = '\0';
	if (!is_host(submitter, sub) || !is_host(policy_domain, dom) || unique_id == NULL ||
	    !is_alnum_id(unique_id, UNIQUE_ID_MAX) || day_start < 0 ||
	    day_start > (time_t)DAY_START_MAX)
		return -1;
	int n = snprintf(out, out_size, "%s!%s!%lld!%lld!%s.json.gz", sub, dom,
			 (long long)day_start, (long long)day_start + (DAY_SECONDS - 1), unique_id);
	if (n < 0 || (size_t)n >= out_size) {
		if (out_size > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

/* The base64 body in lines of 76 characters (RFC 2045 6.8). */
static void put_base64(struct strbuf *b, const unsigned char *p, size_t len)
{
	char line[80];
	for (size_t off = 0; off < len; off += 57) {
		size_t n = len - off < 57 ? len - off : 57;
		int w = base64_encode(p + off, n, line, sizeof(line));
		KASSERT(w > 0);
		strbuf_add(b, line, (size_t)w);
		strbuf_add_str(b, "\r\n");
	}
}

char *tlsrpt_message(const struct tlsrpt_message_params *p, size_t *len_out,
		     const char **err_out)
{
	static const char *dummy;
	const char **err = err_out ? err_out : &dummy;
	char from[TLSRPT_ADDR_MAX + 1], to[TLSRPT_ADDR_MAX + 1];
	char dom[TLSRPT_HOST_MAX + 1], sub[TLSRPT_HOST_MAX + 1];
	char fname[FILENAME_MAX_LEN + 1], date[40], day[32];

	*err = NULL;
	if (!is_mailbox(p->from, from))
		*err = "bad From address";
	else if (!is_mailbox(p->to, to))
		*err = "bad To address";
	else if (!is_host(p->policy_domain, dom))
		*err = "bad policy domain";
	else if (!is_host(p->submitter, sub))
		*err = "bad submitter domain";
	else if (p->report_id == NULL || !is_msg_id(p->report_id))
		*err = "bad report id";
	else if (p->unique_id == NULL || !is_alnum_id(p->unique_id, UNIQUE_ID_MAX))
		*err = "bad unique id";
	else if (p->gz == NULL && p->gz_len > 0)
		*err = "no report";
	else if (tlsrpt_report_filename(sub, dom, p->day_start, p->unique_id, fname,
					sizeof(fname)) != 0 ||
		 !format_datetime(p->day_start, day))
		*err = "bad report day";
	else if (dsn_format_date(p->now, date, sizeof(date)) != 0)
		*err = "bad date";
	if (*err != NULL)
		return NULL;
	day[10] = '\0'; /* "YYYY-MM-DD" */

	struct strbuf b;
	strbuf_init(&b, STRBUF_UNBOUNDED);
	strbuf_printf(&b, "From: %s\r\nTo: %s\r\nDate: %s\r\nMessage-ID: <%s>\r\n", from, to, date,
		      p->report_id);
	/* RFC 8460 5.3 tlsrpt-subject; FWS lets a long one fold. */
	size_t subj_len = strlen("Subject: Report Domain:  Submitter:  Report-ID: <>") +
			  strlen(dom) + strlen(sub) + strlen(p->report_id);
	const char *fws = subj_len > 78 ? "\r\n " : " ";
	strbuf_printf(&b, "Subject: Report Domain: %s%sSubmitter: %s%sReport-ID: <%s>\r\n", dom,
		      fws, sub, fws, p->report_id);
	strbuf_printf(&b, "TLS-Report-Domain: %s\r\nTLS-Report-Submitter: %s\r\n", dom, sub);
	/* RFC 3834: a machine wrote this; no vacation replies to it. */
	strbuf_add_str(&b, "Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n");
	/* '_' is outside the base64 alphabet and our text part never
	 * starts a line with "--": the boundary cannot collide. */
	strbuf_printf(&b,
		      "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
		      " boundary=\"=_tlsrpt_%s\"\r\n\r\n",
		      p->unique_id);
	strbuf_add_str(&b, "This is a multi-part message in MIME format.\r\n\r\n");
	strbuf_printf(&b,
		      "--=_tlsrpt_%s\r\nContent-Type: text/plain; charset=us-ascii\r\n"
		      "Content-Transfer-Encoding: 7bit\r\n\r\n",
		      p->unique_id);
	strbuf_printf(&b, "This is an aggregate SMTP TLS report (RFC 8460) from %s\r\n", sub);
	strbuf_printf(&b, "for %s, covering %s (UTC).\r\n\r\n", dom, day);
	strbuf_printf(&b,
		      "--=_tlsrpt_%s\r\nContent-Type: application/tlsrpt+gzip;\r\n name=\"%s\"\r\n"
		      "Content-Transfer-Encoding: base64\r\n",
		      p->unique_id, fname);
	strbuf_printf(&b, "Content-Disposition: attachment;\r\n filename=\"%s\"\r\n\r\n", fname);
	put_base64(&b, p->gz, p->gz_len);
	strbuf_printf(&b, "\r\n--=_tlsrpt_%s--\r\n", p->unique_id);
	return strbuf_take(&b, len_out);
}
