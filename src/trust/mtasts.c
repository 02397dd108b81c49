/* mtasts: parses MTA-STS TXT records and policy bodies (RFC 8461 3.1,
 * 3.2) and matches MX host names against a policy (4.1). It owns no state
 * and does no I/O: DNS, the HTTPS fetch, the policy cache and its expiry,
 * logging and the delivery decision belong to the caller. Both inputs come
 * from a stranger's DNS zone or web server, so every length is bounded,
 * nothing is allocated, and a policy we cannot fully read is no policy. */
#include "trust/mtasts.h"

#include <string.h>
#include <strings.h>

#include "proto/span.h"

static const char txt_version[] = "v=STSv1";

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int fail(const char **err_out, const char *reason)
{
	if (err_out != NULL)
		*err_out = reason;
	return -1;
}

/* sts-ext-name and sts-policy-ext-name (RFC 8461 3.1, 3.2):
 * (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / "."). */
static bool is_ext_name(struct span s)
{
	if (s.len == 0 || s.len > 32 || !is_alnum(s.p[0]))
		return false;
	for (size_t i = 1; i < s.len; i++) {
		char c = s.p[i];
		if (!is_alnum(c) && c != '_' && c != '-' && c != '.')
			return false;
	}
	return true;
}

/* sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E): no '=', ';', SP, CTL. */
static bool is_txt_ext_value(struct span s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c < 0x21 || c > 0x7e || c == '=' || c == ';')
			return false;
	}
	return true;
}

bool mtasts_is_txt_record(const char *rec, size_t len)
{
	size_t n = sizeof(txt_version) - 1;
	if (len < n || memcmp(rec, txt_version, n) != 0)
		return false;
	while (n < len && span_is_wsp(rec[n]))
		n++;
	return n < len && rec[n] == ';';
}

int mtasts_parse_txt(const char *rec, size_t len, char *id_out, size_t id_size,
		     const char **err_out)
{
	if (id_size > 0)
		id_out[0] = '\0';
	if (!mtasts_is_txt_record(rec, len))
		return fail(err_out, "record does not start with v=STSv1;");
	const char *end = rec + len;
	const char *p = (const char *)memchr(rec, ';', len) + 1;
	struct span id = {NULL, 0};
	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		struct span f = span_trim(p, (size_t)((semi ? semi : end) - p));
		p = semi ? semi + 1 : end;
		if (f.len == 0) {
			/* Only the record's end may follow the last ';'. */
			if (semi == NULL)
				break;
			return fail(err_out, "empty field in record");
		}
		const char *eq = memchr(f.p, '=', f.len);
		if (eq == NULL)
			return fail(err_out, "field without '=' in record");
		struct span name = {f.p, (size_t)(eq - f.p)};
		struct span value = {eq + 1, f.len - name.len - 1};
		if (!is_ext_name(name))
			return fail(err_out, "bad field name in record");
		/* Case-sensitive (span_eq): RFC 8461 writes every name and
		 * keyword as %s"...". */
		if (id.p == NULL && span_eq(name, "id")) {
			if (value.len == 0 || value.len > MTASTS_ID_MAX)
				return fail(err_out, "id is not 1 to 32 letters and digits");
			for (size_t i = 0; i < value.len; i++)
				if (!is_alnum(value.p[i]))
					return fail(err_out,
						    "id is not 1 to 32 letters and digits");
			id = value;
		} else if (!is_txt_ext_value(value)) {
			return fail(err_out, "bad field value in record");
		}
	}
	if (id.p == NULL)
		return fail(err_out, "record has no id");
	if (id.len >= id_size)
		return fail(err_out, "id buffer too small");
	memcpy(id_out, id.p, id.len);
	id_out[id.len] = '\0';
	return 0;
}

int mtasts_pick_txt(const char *const *recs, const size_t *lens, size_t n, char *id_out,
		    size_t id_size, const char **err_out)
{
	size_t found = n;
	if (id_size > 0)
		id_out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (!mtasts_is_txt_record(recs[i], lens[i]))
			continue;
		if (found != n) {
			if (err_out != NULL)
				*err_out = "several v=STSv1 records";
			return 1;
		}
		found = i;
	}
	if (found == n)
		return fail(err_out, "no v=STSv1 record");
	return mtasts_parse_txt(recs[found], lens[found], id_out, id_size, err_out);
}

/* RFC 5321 Domain: labels of letters, digits and inner hyphens, each 1-63
 * bytes, at most MTASTS_HOST_MAX in all. No underscores, no IDN U-labels
 * (RFC 8461 3.2 wants A-labels). */
static bool is_domain(const char *s, size_t len)
{
	if (len == 0 || len > MTASTS_HOST_MAX)
		return false;
	size_t label = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if (is_alnum(s[i]) || (s[i] == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

/* sts-policy-mx-value = ["*."] Domain; one trailing dot is tolerated.
 * Writes the pattern lower-cased into out (MTASTS_HOST_MAX + 3 bytes). */
static bool parse_mx(struct span v, char *out)
{
	bool wild = v.len >= 2 && v.p[0] == '*' && v.p[1] == '.';
	const char *s = wild ? v.p + 2 : v.p;
	size_t n = wild ? v.len - 2 : v.len;
	if (n > 0 && s[n - 1] == '.')
		n--;
	if (!is_domain(s, n))
		return false;
	size_t k = 0;
	if (wild) {
		out[k++] = '*';
		out[k++] = '.';
	}
	for (size_t i = 0; i < n; i++)
		out[k++] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
	out[k] = '\0';
	return true;
}

/* sts-policy-max-age-value = 1*10(DIGIT), capped at one year. */
static bool parse_max_age(struct span v, unsigned long *out)
{
	if (v.len == 0 || v.len > 10)
		return false;
	unsigned long long n = 0;
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return false;
		n = n * 10 + (unsigned long long)(v.p[i] - '0'); /* <= 9999999999 */
	}
	*out = n > MTASTS_MAX_AGE_MAX ? MTASTS_MAX_AGE_MAX : (unsigned long)n;
	return true;
}

enum {
	SEEN_VERSION = 1u << 0,
	SEEN_MODE = 1u << 1,
	SEEN_MAX_AGE = 1u << 2,
};

/* One "name: value" line without its line end. Returns NULL or the reason
 * the policy is refused. */
static const char *parse_line(struct span line, struct mtasts_policy *out, unsigned *seen)
{
	const char *colon = memchr(line.p, ':', line.len);
	if (colon == NULL)
		return "line without ':' in policy";
	struct span name = {line.p, (size_t)(colon - line.p)};
	struct span value = span_trim(colon + 1, line.len - name.len - 1);
	if (!is_ext_name(name))
		return "bad field name in policy";
	/* sts-policy-ext-value excludes CTLs; UTF-8 is allowed. A lone CR
	 * (not part of CRLF) lands here too. */
	for (size_t i = 0; i < value.len; i++) {
		unsigned char c = (unsigned char)value.p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return "control character in policy";
	}
	/* Names and keywords compare case-sensitively here too (%s"..."). */
	if (span_eq(name, "mx")) {
		char pat[sizeof(out->mx[0])];
		if (!parse_mx(value, pat))
			return "bad mx pattern in policy";
		for (size_t i = 0; i < out->mx_count; i++)
			if (strcmp(out->mx[i], pat) == 0)
				return NULL;
		if (out->mx_count == MTASTS_MX_MAX)
			return "too many mx patterns in policy";
		memcpy(out->mx[out->mx_count++], pat, strlen(pat) + 1);
		return NULL;
	}
	/* RFC 8461 3.2: of a repeated non-mx field, all entries except the
	 * first SHALL be ignored. */
	unsigned bit = span_eq(name, "version") ? SEEN_VERSION
		       : span_eq(name, "mode")  ? SEEN_MODE
		       : span_eq(name, "max_age") ? SEEN_MAX_AGE
						  : 0;
	if (bit == 0 || (*seen & bit) != 0)
		return NULL; /* unknown field, or a repeat */
	*seen |= bit;
	if (bit == SEEN_VERSION)
		return span_eq(value, "STSv1") ? NULL : "policy version is not STSv1";
	if (bit == SEEN_MAX_AGE)
		return parse_max_age(value, &out->max_age) ? NULL : "bad max_age in policy";
	if (span_eq(value, "enforce"))
		out->mode = MTASTS_MODE_ENFORCE;
	else if (span_eq(value, "testing"))
		out->mode = MTASTS_MODE_TESTING;
	else if (span_eq(value, "none"))
		out->mode = MTASTS_MODE_NONE;
	else
		return "mode is not enforce, testing or none";
	return NULL;
}

int mtasts_parse_policy(const char *body, size_t len, struct mtasts_policy *out,
			const char **err_out)
{
	const char *err = NULL;
	unsigned seen = 0;
	memset(out, 0, sizeof(*out));
	if (len > MTASTS_POLICY_MAX)
		err = "policy longer than 65536 bytes";
	else if (len > 0 && memchr(body, '\0', len) != NULL)
		err = "NUL byte in policy";
	const char *p = body, *end = body + len;
	while (err == NULL && p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		struct span line = {p, (size_t)((lf ? lf : end) - p)};
		p = lf ? lf + 1 : end;
		/* sts-policy-term = LF / CRLF */
		if (line.len > 0 && line.p[line.len - 1] == '\r')
			line.len--;
		if (line.len > 0)
			err = parse_line(line, out, &seen);
	}
	if (err == NULL && (seen & SEEN_VERSION) == 0)
		err = "policy has no version";
	if (err == NULL && (seen & SEEN_MODE) == 0)
		err = "policy has no mode";
	if (err == NULL && (seen & SEEN_MAX_AGE) == 0)
		err = "policy has no max_age";
	if (err == NULL && out->mode != MTASTS_MODE_NONE && out->mx_count == 0)
		err = "policy has no mx (required unless mode is none)";
	if (err == NULL)
		return 0;
	memset(out, 0, sizeof(*out));
	return fail(err_out, err);
}

bool mtasts_is_mx_allowed(const struct mtasts_policy *p, const char *mx_host)
{
	size_t hl = strlen(mx_host);
	if (hl > 0 && mx_host[hl - 1] == '.')
		hl--;
	if (hl == 0)
		return false;
	for (size_t i = 0; i < p->mx_count && i < MTASTS_MX_MAX; i++) {
		const char *pat = p->mx[i];
		if (pat[0] == '*' && pat[1] == '.') {
			/* The wildcard stands for exactly one whole label. */
			const char *suffix = pat + 1; /* ".example.com" */
			size_t sl = strlen(suffix);
			if (hl > sl && strncasecmp(mx_host + hl - sl, suffix, sl) == 0 &&
			    memchr(mx_host, '.', hl - sl) == NULL)
				return true;
		} else if (strlen(pat) == hl && strncasecmp(mx_host, pat, hl) == 0) {
			return true;
		}
	}
	return false;
}

const char *mtasts_mode_name(enum mtasts_mode m)
{
	switch (m) {
	case MTASTS_MODE_NONE: return "none";
	case MTASTS_MODE_TESTING: return "testing";
	case MTASTS_MODE_ENFORCE: return "enforce";
	}
	return "?";
}
