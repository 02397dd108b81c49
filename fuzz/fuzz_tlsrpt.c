/* fuzz_tlsrpt: libFuzzer target for src/trust/tlsrpt.h. The input, in an
 * exactly sized heap copy, is read three ways:
 *   - as a "_smtp._tls" TXT record: a parsed record keeps its bounds, its
 *     addresses are distinct mailboxes that parse back to themselves from
 *     "v=TLSRPTv1; rua=mailto:<%XX-encoded address>";
 *   - as a counter file: what parses keeps the limits of live counters,
 *     serialises to text that parses back to the same text, and gives a
 *     report that is valid JSON (checked by a strict reader below) and
 *     survives gzip -> inflate and the report message;
 *   - as live input: its LF-separated pieces become policy strings and
 *     failure fields, and the counters then round-trip through the text
 *     form whatever bytes the pieces hold. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "fuzz_common.h"
#include "trust/tlsrpt.h"

/* ------------------------------------------------------------------ */
/* A strict RFC 8259 reader: true when [p, end) is one JSON value.     */

struct jr {
	const unsigned char *p, *end;
	int depth;
};

static void ws(struct jr *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static bool lit(struct jr *r, const char *s)
{
	size_t n = strlen(s);
	if ((size_t)(r->end - r->p) < n || memcmp(r->p, s, n) != 0)
		return false;
	r->p += n;
	return true;
}

static bool utf8_ok(struct jr *r)
{
	unsigned char c = *r->p;
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		lo = c == 0xe0 ? 0xa0 : 0x80;
		hi = c == 0xed ? 0x9f : 0xbf;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf;
	} else
		return false;
	if ((size_t)(r->end - r->p) < n || r->p[1] < lo || r->p[1] > hi)
		return false;
	for (size_t i = 2; i < n; i++)
		if (r->p[i] < 0x80 || r->p[i] > 0xbf)
			return false;
	r->p += n;
	return true;
}

static bool jstring(struct jr *r)
{
	if (!lit(r, "\""))
		return false;
	while (r->p < r->end) {
		unsigned char c = *r->p;
		if (c == '"') {
			r->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			r->p++;
			if (r->p >= r->end)
				return false;
			if (*r->p == 'u') {
				if (r->end - r->p < 5)
					return false;
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", r->p[i]) || r->p[i] == 0)
						return false;
				r->p += 5;
			} else if (*r->p != 0 && strchr("\"\\/bfnrt", *r->p)) {
				r->p++;
			} else {
				return false;
			}
		} else if (c >= 0x80) {
			if (!utf8_ok(r))
				return false;
		} else {
			r->p++;
		}
	}
	return false;
}

static bool jnumber(struct jr *r)
{
	const unsigned char *s = r->p;
	if (r->p < r->end && *r->p == '-')
		r->p++;
	if (r->p < r->end && *r->p == '0')
		r->p++;
	else
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	return r->p > s && r->p[-1] >= '0' && r->p[-1] <= '9';
}

static bool jvalue(struct jr *r);

static bool jlist(struct jr *r, char close, bool object)
{
	r->p++;
	ws(r);
	if (r->p < r->end && *r->p == close) {
		r->p++;
		return true;
	}
	for (;;) {
		if (object) {
			ws(r);
			if (!jstring(r))
				return false;
			ws(r);
			if (!lit(r, ":"))
				return false;
		}
		if (!jvalue(r))
			return false;
		ws(r);
		if (r->p >= r->end)
			return false;
		if (*r->p == close) {
			r->p++;
			return true;
		}
		if (*r->p != ',')
			return false;
		r->p++;
	}
}

static bool jvalue(struct jr *r)
{
	bool ok;
	ws(r);
	if (r->p >= r->end || ++r->depth > 16)
		return false;
	switch (*r->p) {
	case '{': ok = jlist(r, '}', true); break;
	case '[': ok = jlist(r, ']', false); break;
	case '"': ok = jstring(r); break;
	case 't': ok = lit(r, "true"); break;
	case 'f': ok = lit(r, "false"); break;
	case 'n': ok = lit(r, "null"); break;
	default: ok = jnumber(r); break;
	}
	r->depth--;
	return ok;
}

static bool is_json(const char *s, size_t len)
{
	struct jr r = {(const unsigned char *)s, (const unsigned char *)s + len, 0};
	if (!jvalue(&r))
		return false;
	ws(&r);
	return r.p == r.end;
}

/* ------------------------------------------------------------------ */

static void check_record(const char *buf, size_t size)
{
	struct tlsrpt_record rec, again;
	int rc = tlsrpt_parse_txt(buf, size, &rec);
	FUZZ_CHECK(rc == 0 || rc == -1);
	const char *one[] = {buf};
	size_t lens[] = {size};
	FUZZ_CHECK((tlsrpt_pick_record(one, lens, 1) == 0) == tlsrpt_is_record(buf, size));
	if (rc != 0) {
		FUZZ_CHECK(rec.rua_count == 0);
		return;
	}
	FUZZ_CHECK(tlsrpt_is_record(buf, size));
	FUZZ_CHECK(rec.rua_count <= TLSRPT_RUA_MAX);
	for (size_t i = 0; i < rec.rua_count; i++) {
		size_t l = strnlen(rec.rua[i], sizeof(rec.rua[i]));
		FUZZ_CHECK(l > 0 && l <= TLSRPT_ADDR_MAX);
		FUZZ_CHECK(strchr(rec.rua[i], '@') != NULL);
		for (size_t k = 0; k < i; k++)
			FUZZ_CHECK(strcmp(rec.rua[i], rec.rua[k]) != 0);
		char txt[64 + 3 * TLSRPT_ADDR_MAX];
		size_t n = (size_t)snprintf(txt, sizeof(txt), "v=TLSRPTv1; rua=mailto:");
		for (size_t k = 0; k < l; k++)
			n += (size_t)snprintf(txt + n, sizeof(txt) - n, "%%%02X",
					      (unsigned char)rec.rua[i][k]);
		FUZZ_CHECK(tlsrpt_parse_txt(txt, n, &again) == 0);
		FUZZ_CHECK(again.rua_count == 1 && strcmp(again.rua[0], rec.rua[i]) == 0);
	}
}

static void check_limits(const struct tlsrpt_domain_stats *s)
{
	FUZZ_CHECK(s->domain[0] != '\0' && s->day_start % 86400 == 0);
	FUZZ_CHECK(s->policy_count <= TLSRPT_POLICY_STRINGS_MAX);
	FUZZ_CHECK(s->mx_count <= TLSRPT_MX_HOSTS_MAX);
	FUZZ_CHECK(s->policy_type != TLSRPT_POLICY_NO_POLICY_FOUND ||
		   (s->policy_count == 0 && s->mx_count == 0));
	for (size_t i = 0; i < s->policy_count; i++)
		FUZZ_CHECK(strlen(s->policy_strings[i]) <= TLSRPT_POLICY_STRING_MAX);
	FUZZ_CHECK(s->failure_detail_count <= TLSRPT_FAILURES_MAX);
	for (size_t i = 0; i < s->failure_detail_count; i++) {
		const struct tlsrpt_failure *f = &s->failures[i];
		FUZZ_CHECK(f->count >= 1 && f->count <= s->failure_count);
		FUZZ_CHECK((unsigned)f->result < TLSRPT_RESULT_COUNT);
		for (size_t k = 0; k < i; k++)
			FUZZ_CHECK(f->result != s->failures[k].result ||
				   strcmp(f->receiving_mx, s->failures[k].receiving_mx) != 0 ||
				   strcmp(f->receiving_ip, s->failures[k].receiving_ip) != 0 ||
				   strcmp(f->sending_ip, s->failures[k].sending_ip) != 0);
	}
}

/* Text form fixpoint, JSON validity, gzip and message. */
static void check_stats(const struct tlsrpt_domain_stats *s, bool full)
{
	check_limits(s);
	size_t len, len2;
	char *text = tlsrpt_stats_serialize(s, &len);
	struct tlsrpt_domain_stats t;
	const char *err = NULL;
	FUZZ_CHECK(strlen(text) == len);
	FUZZ_CHECK(tlsrpt_stats_parse(text, len, &t, &err) == 0);
	char *text2 = tlsrpt_stats_serialize(&t, &len2);
	FUZZ_CHECK(len2 == len && memcmp(text, text2, len) == 0);
	FUZZ_CHECK(t.success_count == s->success_count && t.failure_count == s->failure_count);
	tlsrpt_stats_fini(&t);
	free(text2);
	free(text);
	if (!full)
		return;

	size_t jlen;
	char *json = tlsrpt_report_json(s, "org \"x\"", "c@x.test", "r@x.test", s->day_start, &jlen);
	FUZZ_CHECK(json != NULL && strlen(json) == jlen);
	FUZZ_CHECK(is_json(json, jlen));
	unsigned char *gz;
	size_t gzlen;
	FUZZ_CHECK(tlsrpt_gzip(json, jlen, &gz, &gzlen) == 0);
	char *back = malloc(jlen + 1);
	FUZZ_CHECK(back != NULL);
	uLongf blen = (uLongf)(jlen + 1);
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	FUZZ_CHECK(inflateInit2(&zs, 15 + 16) == Z_OK);
	zs.next_in = gz;
	zs.avail_in = (uInt)gzlen;
	zs.next_out = (Bytef *)back;
	zs.avail_out = (uInt)blen;
	FUZZ_CHECK(inflate(&zs, Z_FINISH) == Z_STREAM_END);
	FUZZ_CHECK(zs.total_out == jlen && memcmp(back, json, jlen) == 0);
	(void)inflateEnd(&zs);
	free(back);

	struct tlsrpt_message_params p = {.from = "r@x.test",
					  .to = "t@y.test",
					  .policy_domain = s->domain,
					  .submitter = "x.test",
					  .report_id = "r@x.test",
					  .unique_id = "u1",
					  .day_start = s->day_start,
					  .now = s->day_start,
					  .gz = gz,
					  .gz_len = gzlen};
	size_t mlen;
	char *msg = tlsrpt_message(&p, &mlen, &err);
	FUZZ_CHECK(msg != NULL && strlen(msg) == mlen);
	for (size_t i = 0; i < mlen; i++)
		FUZZ_CHECK((msg[i] != '\n' || (i > 0 && msg[i - 1] == '\r')) &&
			   (msg[i] != '\r' || msg[i + 1] == '\n'));
	free(msg);
	free(gz);
	free(json);
}

/* LF-separated pieces of the input as hostile live data. */
static void check_live(const char *buf, size_t size)
{
	char *pieces[TLSRPT_POLICY_STRINGS_MAX];
	size_t n = 0;
	const char *p = buf, *end = buf + size;
	while (p < end && n < TLSRPT_POLICY_STRINGS_MAX) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		pieces[n++] = strndup(p, (size_t)(e - p)); /* stops at a NUL */
		FUZZ_CHECK(pieces[n - 1] != NULL);
		p = nl ? nl + 1 : end;
	}
	struct tlsrpt_domain_stats s;
	FUZZ_CHECK(tlsrpt_stats_init(&s, "example.com", 1796515200) == 0);
	if (n > 0) {
		const char *mx[] = {"*.mx.example.com"};
		int rc = tlsrpt_stats_set_policy(&s, (enum tlsrpt_policy_type)(size % 3),
						 (const char *const *)pieces, n, mx, 1);
		FUZZ_CHECK(rc == 0 || rc == -1);
	}
	uint64_t failures = 0;
	for (size_t i = 0; i + 3 < n; i += 4) {
		enum tlsrpt_result r = (enum tlsrpt_result)(i % TLSRPT_RESULT_COUNT);
		(void)tlsrpt_stats_failure(&s, r, pieces[i], pieces[i + 1], pieces[i + 2],
					   pieces[i + 3]);
		failures++;
		tlsrpt_stats_success(&s);
	}
	FUZZ_CHECK(s.failure_count == failures);
	check_stats(&s, size < 4096);
	tlsrpt_stats_fini(&s);
	for (size_t i = 0; i < n; i++)
		free(pieces[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size > 0 ? size : 1);
	FUZZ_CHECK(buf != NULL);
	memcpy(buf, data, size);

	check_record(buf, size);

	struct tlsrpt_domain_stats s;
	const char *err = NULL;
	int rc = tlsrpt_stats_parse(buf, size, &s, &err);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		FUZZ_CHECK(err == NULL);
		check_stats(&s, true);
	} else {
		FUZZ_CHECK(err != NULL && s.failures == NULL && s.policy_strings == NULL);
	}
	tlsrpt_stats_fini(&s);

	check_live(buf, size);
	free(buf);
	return 0;
}
