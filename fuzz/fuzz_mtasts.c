/* fuzz_mtasts: libFuzzer target for src/trust/mtasts.h. The input, in an
 * exactly sized heap copy, is parsed as a _mta-sts TXT record (an accepted
 * id is 1-32 letters and digits found in the input) and, split at LF, as
 * the TXT records of one name (the pick agrees with counting the STSv1
 * records). It is parsed as a policy body: an accepted policy keeps its
 * documented bounds, every pattern is a distinct lower-case name that
 * matches itself, and the body with each bare LF made CRLF parses the
 * same. Its last line is then matched as an MX host against the policy and
 * compared with a plain reading of RFC 8461 4.1. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_common.h"
#include "trust/mtasts.h"

static void check_txt(const char *buf, size_t size)
{
	char id[MTASTS_ID_SIZE];
	const char *err = NULL;
	int rc = mtasts_parse_txt(buf, size, id, sizeof(id), &err);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc != 0) {
		FUZZ_CHECK(err != NULL && id[0] == '\0');
		return;
	}
	FUZZ_CHECK(mtasts_is_txt_record(buf, size));
	size_t n = strnlen(id, sizeof(id));
	FUZZ_CHECK(n >= 1 && n <= MTASTS_ID_MAX);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(isalnum((unsigned char)id[i]));
	FUZZ_CHECK(memmem(buf, size, id, n) != NULL);
}

static void check_pick(const char *buf, size_t size)
{
	enum { RECS_MAX = 8 };
	const char *recs[RECS_MAX];
	size_t lens[RECS_MAX], n = 0, stsv1 = 0, last = 0;
	const char *p = buf, *end = buf + size;
	while (n < RECS_MAX && p <= end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		recs[n] = p;
		lens[n] = (size_t)((lf ? lf : end) - p);
		if (mtasts_is_txt_record(recs[n], lens[n])) {
			stsv1++;
			last = n;
		}
		n++;
		if (lf == NULL)
			break;
		p = lf + 1;
	}
	char id[MTASTS_ID_SIZE], id1[MTASTS_ID_SIZE];
	int rc = mtasts_pick_txt(recs, lens, n, id, sizeof(id), NULL);
	if (stsv1 > 1) {
		FUZZ_CHECK(rc == 1);
	} else if (stsv1 == 0) {
		FUZZ_CHECK(rc == -1);
	} else {
		int rc1 = mtasts_parse_txt(recs[last], lens[last], id1, sizeof(id1), NULL);
		FUZZ_CHECK(rc == rc1 && strcmp(id, id1) == 0);
	}
}

/* RFC 8461 4.1 as plainly as it reads: an exact name, or "*." and a name
 * that equals the host without its first label. */
static bool ref_match(const struct mtasts_policy *p, const char *host)
{
	char *h = strdup(host);
	FUZZ_CHECK(h != NULL);
	size_t hl = strlen(h);
	if (hl > 0 && h[hl - 1] == '.')
		h[--hl] = '\0';
	const char *dot = strchr(h, '.');
	bool found = false;
	for (size_t i = 0; i < p->mx_count && !found; i++) {
		const char *pat = p->mx[i];
		if (strncmp(pat, "*.", 2) == 0)
			found = dot != NULL && dot != h && strcasecmp(dot + 1, pat + 2) == 0;
		else
			found = hl > 0 && strcasecmp(h, pat) == 0;
	}
	free(h);
	return found;
}

static void check_pattern(const struct mtasts_policy *p, const char *pat)
{
	size_t n = strnlen(pat, sizeof(p->mx[0]));
	FUZZ_CHECK(n > 0 && n < sizeof(p->mx[0]));
	FUZZ_CHECK(pat[n - 1] != '.');
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(!isupper((unsigned char)pat[i]) && pat[i] != ' ');
	char host[sizeof(p->mx[0]) + 2];
	if (strncmp(pat, "*.", 2) == 0) {
		FUZZ_CHECK(strchr(pat + 1, '*') == NULL);
		memcpy(host, "x", 1);
		memcpy(host + 1, pat + 1, n); /* "x.example.com" and its NUL */
	} else {
		FUZZ_CHECK(strchr(pat, '*') == NULL);
		memcpy(host, pat, n + 1);
	}
	FUZZ_CHECK(mtasts_is_mx_allowed(p, host));
	host[0] = (char)toupper((unsigned char)host[0]);
	FUZZ_CHECK(mtasts_is_mx_allowed(p, host));
}

static void check_policy(const char *buf, size_t size)
{
	struct mtasts_policy p, q;
	const char *err = NULL;
	int rc = mtasts_parse_policy(buf, size, &p, &err);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc != 0) {
		FUZZ_CHECK(err != NULL && p.mx_count == 0);
	} else {
		FUZZ_CHECK(size <= MTASTS_POLICY_MAX);
		FUZZ_CHECK(p.mode == MTASTS_MODE_NONE || p.mode == MTASTS_MODE_TESTING ||
			   p.mode == MTASTS_MODE_ENFORCE);
		FUZZ_CHECK(p.max_age <= MTASTS_MAX_AGE_MAX);
		FUZZ_CHECK(p.mx_count <= MTASTS_MX_MAX);
		FUZZ_CHECK(p.mode == MTASTS_MODE_NONE || p.mx_count > 0);
		for (size_t i = 0; i < p.mx_count; i++) {
			check_pattern(&p, p.mx[i]);
			for (size_t j = 0; j < i; j++)
				FUZZ_CHECK(strcmp(p.mx[i], p.mx[j]) != 0);
		}
	}

	/* LF and CRLF line ends are the same (RFC 8461 3.2): every bare LF
	 * made CRLF gives the same result. */
	char *crlf = malloc(2 * size + 1);
	FUZZ_CHECK(crlf != NULL);
	size_t k = 0;
	for (size_t i = 0; i < size; i++) {
		if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r'))
			crlf[k++] = '\r';
		crlf[k++] = buf[i];
	}
	if (k <= MTASTS_POLICY_MAX) {
		int rc2 = mtasts_parse_policy(crlf, k, &q, NULL);
		FUZZ_CHECK(rc2 == rc);
		FUZZ_CHECK(memcmp(&p, &q, sizeof(p)) == 0);
	}
	free(crlf);

	/* The last line as an MX host name. */
	const char *nl = memrchr(buf, '\n', size);
	const char *h0 = nl ? nl + 1 : buf;
	char *host = strndup(h0, (size_t)(buf + size - h0));
	FUZZ_CHECK(host != NULL);
	FUZZ_CHECK(mtasts_is_mx_allowed(&p, host) == ref_match(&p, host));
	free(host);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size > 0 ? size : 1);
	FUZZ_CHECK(buf != NULL);
	memcpy(buf, data, size);
	check_txt(buf, size);
	check_pick(buf, size);
	check_policy(buf, size);
	free(buf);
	return 0;
}
