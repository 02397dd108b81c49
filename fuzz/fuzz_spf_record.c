/* fuzz_spf_record: libFuzzer target for src/trust/spf_record.h and
 * src/trust/spf_macro.h. The input is parsed as an SPF record (with the
 * "v=spf1 " prefix added when missing, so the fuzzer reaches the terms);
 * every term's domain-spec, redirect= and exp= is expanded in domain mode
 * and must come out NUL-terminated and at most 253 bytes, and the whole
 * input is expanded as explanation text within SPF_EXPLAIN_MAX. A macro
 * string the validator accepts must expand without a syntax error. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz_common.h"
#include "trust/spf_macro.h"
#include "trust/spf_record.h"

static void expand_domain(const char *spec, size_t len, const struct spf_macro_vars *v)
{
	char out[SPF_DOMAIN_MAX + 1];

	memset(out, 'Z', sizeof(out));
	if (spf_macro_expand(spec, len, v, SPF_MACRO_DOMAIN, out, sizeof(out), NULL) == 0)
		FUZZ_CHECK(strlen(out) <= SPF_DOMAIN_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spf_macro_vars v = {
		.local = "strong-bad",
		.sender_domain = "email.example.com",
		.domain = "email.example.com",
		.helo = "mx.example.org",
		.receiver = "mx.our.example",
		.now = 1700000000,
	};
	uint64_t h = fuzz_hash(data, size);
	v.family = (h & 1) != 0 ? AF_INET6 : AF_INET;
	memcpy(v.ip, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\xcb\x01", 16);
	if (v.family == AF_INET)
		memcpy(v.ip, "\xc0\x00\x02\x03", 4);

	/* the parser, with and without a prefix */
	size_t len = size + 7;
	char *rec = malloc(len > 0 ? len : 1);
	FUZZ_CHECK(rec != NULL);
	memcpy(rec, "v=spf1 ", 7);
	memcpy(rec + 7, data, size);
	const char *text = spf_record_is_spf((const char *)data, size) ? (const char *)data : rec;
	size_t text_len = text == rec ? len : size;
	struct spf_record *r = NULL;
	const char *err = NULL;
	if (spf_record_parse(text, text_len, &r, &err) == 0) {
		FUZZ_CHECK(r != NULL && r->term_count <= SPF_TERMS_MAX);
		for (size_t i = 0; i < r->term_count; i++) {
			const struct spf_term *t = &r->terms[i];
			FUZZ_CHECK(t->cidr4 <= 32 && t->cidr6 <= 128);
			if (t->domain != NULL)
				expand_domain(t->domain, t->domain_len, &v);
		}
		if (r->redirect != NULL)
			expand_domain(r->redirect, r->redirect_len, &v);
		if (r->exp != NULL)
			expand_domain(r->exp, r->exp_len, &v);
		spf_record_free(&r);
	} else {
		FUZZ_CHECK(r == NULL && err != NULL);
	}
	free(rec);

	/* the expander on the raw input, both modes */
	char out[SPF_EXPLAIN_MAX + 1];
	bool valid = spf_macro_is_valid((const char *)data, size, SPF_MACRO_EXPLAIN, NULL);
	int rc = spf_macro_expand((const char *)data, size, &v, SPF_MACRO_EXPLAIN, out, sizeof(out),
				  NULL);
	FUZZ_CHECK((rc == 0) == valid);
	if (rc == 0)
		FUZZ_CHECK(strlen(out) <= SPF_EXPLAIN_MAX);
	expand_domain((const char *)data, size, &v);
	return 0;
}
