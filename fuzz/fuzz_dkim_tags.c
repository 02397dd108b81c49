/* fuzz_dkim_tags: libFuzzer target for src/trust/dkim_tags.h. Parses the
 * input as a tag list and checks the contract: on success every tag lies
 * inside the input, names follow the grammar and are unique, values hold
 * no ';' and do not start or end with whitespace, the bounds hold and
 * dkim_tags_find finds each tag; on failure the list is empty. The input
 * is then parsed as a DKIM-Signature field (dkim_sig_parse), which must
 * not crash whatever it returns. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "trust/dkim_tags.h"
#include "trust/dkim_verify.h"

static bool inside(const char *base, size_t len, const char *p, size_t n)
{
	return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size > 0 ? size : 1);
	struct dkim_tag_list l;
	const char *err = NULL;
	int rc;

	FUZZ_CHECK(in != NULL);
	memcpy(in, data, size); /* exact block: no NUL after the text */
	rc = dkim_tags_parse(in, size, &l, &err);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc != 0) {
		FUZZ_CHECK(l.count == 0 && err != NULL);
	} else {
		FUZZ_CHECK(size <= DKIM_TAGS_INPUT_MAX && l.count <= DKIM_TAGS_MAX);
		for (size_t i = 0; i < l.count; i++) {
			const struct dkim_tag *t = &l.tags[i];
			char name[DKIM_TAG_NAME_MAX + 1];

			FUZZ_CHECK(inside(in, size, t->name, t->name_len));
			FUZZ_CHECK(inside(in, size, t->value, t->value_len));
			FUZZ_CHECK(t->name_len > 0 && t->name_len <= DKIM_TAG_NAME_MAX);
			FUZZ_CHECK(t->value_len <= DKIM_TAG_VALUE_MAX);
			FUZZ_CHECK(memchr(t->value, ';', t->value_len) == NULL);
			if (t->value_len > 0) {
				char a = t->value[0], z = t->value[t->value_len - 1];
				FUZZ_CHECK(a != ' ' && a != '\t' && a != '\r' && a != '\n');
				FUZZ_CHECK(z != ' ' && z != '\t' && z != '\r' && z != '\n');
			}
			for (size_t k = 0; k < t->name_len; k++) {
				char c = t->name[k];
				FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
					   (k > 0 && ((c >= '0' && c <= '9') || c == '_')));
			}
			memcpy(name, t->name, t->name_len);
			name[t->name_len] = '\0';
			FUZZ_CHECK(dkim_tags_find(&l, name) == t); /* unique */
		}
	}
	/* As a DKIM-Signature field. */
	{
		struct dkim_sig *sig = malloc(sizeof(*sig));
		char *field = malloc(size + 16);
		const char *reason = NULL;

		FUZZ_CHECK(sig != NULL && field != NULL);
		memcpy(field, "DKIM-Signature:", 15);
		memcpy(field + 15, data, size);
		rc = dkim_sig_parse(field, size + 15, sig, &reason);
		FUZZ_CHECK(rc == 0 || (rc == -1 && reason != NULL));
		if (rc == 0) {
			FUZZ_CHECK(sig->nh > 0 && sig->nh <= DKIM_H_MAX);
			FUZZ_CHECK(sig->b_len > 0 && sig->b_len <= DKIM_SIG_MAX);
			FUZZ_CHECK(sig->b_off + sig->b_len_raw <= size + 15);
		}
		free(field);
		free(sig);
	}
	free(in);
	return 0;
}
