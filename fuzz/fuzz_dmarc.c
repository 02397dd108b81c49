/* fuzz_dmarc: libFuzzer target for src/trust/dmarc.h and src/trust/psl.h.
 * The input, in an exactly sized heap copy, is parsed as a DMARC record;
 * a parsed record must keep every field in its documented bounds (pct
 * 0..100, ri 3600..86400, fo never 0, URIs NUL-terminated and bounded).
 * The record is then evaluated with domains cut from the input, and the
 * input is also taken as a domain name for the public suffix functions,
 * whose offsets must fall on a label start inside the name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "trust/dmarc.h"
#include "trust/psl.h"

static const char list[] = "com\nuk\nco.uk\n*.ck\n!www.ck\ntest\n*.kobe.jp\n!city.kobe.jp\njp\n";

static void check_uris(const struct dmarc_uri *u, size_t n)
{
	FUZZ_CHECK(n <= DMARC_URI_COUNT_MAX);
	for (size_t i = 0; i < n; i++) {
		size_t l = strnlen(u[i].uri, sizeof(u[i].uri));
		FUZZ_CHECK(l > 0 && l <= DMARC_URI_MAX);
		FUZZ_CHECK(strchr(u[i].uri, ':') != NULL);
	}
}

static void check_offset(const char *name, size_t len, long off)
{
	if (off < 0)
		return;
	FUZZ_CHECK((size_t)off < len);
	FUZZ_CHECK(off == 0 || name[off - 1] == '.');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct psl *psl;
	if (psl == NULL)
		FUZZ_CHECK(psl_load_buf(list, sizeof(list) - 1, &psl, NULL, 0) == 0);
	char *buf = malloc(size > 0 ? size : 1);
	FUZZ_CHECK(buf != NULL);
	memcpy(buf, data, size);

	struct dmarc_record rec;
	const char *err = NULL;
	int rc = dmarc_parse(buf, size, &rec, &err);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		FUZZ_CHECK(dmarc_is_record(buf, size));
		FUZZ_CHECK(rec.pct <= 100);
		FUZZ_CHECK(rec.ri >= 3600 && rec.ri <= 86400);
		FUZZ_CHECK(rec.fo != 0);
		FUZZ_CHECK(!rec.p_implied || rec.rua_count > 0);
		check_uris(rec.rua, rec.rua_count);
		check_uris(rec.ruf, rec.ruf_count);
		/* Domains from the input's tail, NUL-terminated copies. */
		size_t half = size / 2;
		char *from = strndup(buf + half, size - half);
		char *auth = strndup(buf, half);
		FUZZ_CHECK(from != NULL && auth != NULL);
		struct dmarc_dkim dk = {.domain = auth, .pass = size % 2 == 0};
		struct dmarc_input in = {.from_domain = from,
					 .spf_pass = size % 3 == 0,
					 .spf_domain = auth,
					 .dkim = &dk,
					 .dkim_count = 1};
		struct dmarc_verdict v;
		dmarc_evaluate(psl, &rec, from, &in, (unsigned)size, &v);
		FUZZ_CHECK(v.result != DMARC_RESULT_NONE);
		if (v.result == DMARC_RESULT_PASS)
			FUZZ_CHECK(v.disposition == DMARC_POLICY_NONE);
		FUZZ_CHECK(v.disposition <= v.policy);
		free(from);
		free(auth);
	} else {
		FUZZ_CHECK(err != NULL);
	}

	check_offset(buf, size, psl_public_suffix(psl, buf, size));
	long org = psl_org_domain(psl, buf, size);
	check_offset(buf, size, org);
	long reg = psl_registrable_domain(psl, buf, size);
	FUZZ_CHECK(reg < 0 || reg == org);
	free(buf);
	return 0;
}
