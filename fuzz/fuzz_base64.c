/* fuzz_base64: libFuzzer target for src/proto/base64.h. The input is used
 * twice. As text: base64_decode must accept exactly the canonical
 * encodings (checked against a plain reference decoder written here), and
 * anything it accepts must encode back to the same text. As bytes:
 * base64_encode followed by base64_decode gives the bytes back, and the
 * room checks of both directions hold to the byte. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "proto/base64.h"

static int ref_value(unsigned char c)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c != '\0' ? strchr(alphabet, c) : NULL;

	return p != NULL ? (int)(p - alphabet) : -1;
}

/* RFC 4648 4 with the canonical rules of base64.h; returns the decoded
 * length or -1. out has room for len / 4 * 3 bytes. */
static long ref_decode(const unsigned char *s, size_t len, unsigned char *out)
{
	size_t o = 0;

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		int v[4];
		int pad = 0;

		for (int k = 0; k < 4; k++) {
			if (last && s[i + k] == '=' && k >= 2 &&
			    (k == 3 || s[i + 3] == '=')) {
				v[k] = 0;
				pad++;
				continue;
			}
			v[k] = ref_value(s[i + k]);
			if (v[k] < 0)
				return -1;
		}
		if (pad == 2 && (v[1] & 15) != 0)
			return -1;
		if (pad == 1 && (v[2] & 3) != 0)
			return -1;
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	return (long)o;
}

static void check_text(const uint8_t *data, size_t size)
{
	size_t cap = base64_decoded_max(size);
	unsigned char *ref = malloc(cap + 1);
	unsigned char *out = malloc(cap + 1);
	char *in = malloc(size + 1);
	long want;
	size_t n = 999;
	int rc;

	FUZZ_CHECK(ref != NULL && out != NULL && in != NULL);
	memcpy(in, data, size); /* exact block: no NUL after the text */
	want = ref_decode(data, size, ref);
	/* Room exactly base64_decoded_max: enough for every valid text. */
	rc = base64_decode(in, size, out, cap, &n);
	FUZZ_CHECK((rc == 0) == (want >= 0));
	if (rc != 0) {
		FUZZ_CHECK(n == 0);
	} else {
		char *enc;

		FUZZ_CHECK(n == (size_t)want && memcmp(out, ref, n) == 0);
		FUZZ_CHECK(base64_encoded_len(n) == size);
		/* Exactly the decoded size still fits; one byte less does not. */
		FUZZ_CHECK(base64_decode(in, size, out, n, &n) == 0 && n == (size_t)want);
		if (n > 0) {
			size_t m = 999;

			FUZZ_CHECK(base64_decode(in, size, out, n - 1, &m) == -1 && m == 0);
		}
		/* Canonical: the one encoding of these bytes is the input. */
		enc = malloc(size + 1);
		FUZZ_CHECK(enc != NULL);
		FUZZ_CHECK(base64_encode(out, n, enc, size + 1) == (int)size);
		FUZZ_CHECK(memcmp(enc, data, size) == 0 && enc[size] == '\0');
		free(enc);
	}
	free(in);
	free(out);
	free(ref);
}

static void check_bytes(const uint8_t *data, size_t size)
{
	size_t need = base64_encoded_len(size);
	char *enc = malloc(need + 1);
	unsigned char *dec = malloc(size > 0 ? size : 1);
	size_t n = 999;

	FUZZ_CHECK(enc != NULL && dec != NULL);
	FUZZ_CHECK(need % 4 == 0 && need / 4 * 3 >= size && need / 4 * 3 < size + 3);
	/* Room for the text but not the NUL: refused, out untouched. */
	memset(enc, 'Z', need + 1);
	FUZZ_CHECK(base64_encode(data, size, enc, need) == -1);
	for (size_t i = 0; i < need; i++)
		FUZZ_CHECK(enc[i] == 'Z');
	FUZZ_CHECK(base64_encode(size > 0 ? data : NULL, size, enc, need + 1) == (int)need);
	FUZZ_CHECK(strlen(enc) == need);
	for (size_t i = 0; i < need; i++)
		FUZZ_CHECK(ref_value((unsigned char)enc[i]) >= 0 ||
			   (enc[i] == '=' && i + 2 >= need));
	FUZZ_CHECK(base64_decode(enc, need, dec, size, &n) == 0);
	FUZZ_CHECK(n == size && (size == 0 || memcmp(dec, data, size) == 0));
	free(dec);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_text(data, size);
	check_bytes(data, size);
	return 0;
}
