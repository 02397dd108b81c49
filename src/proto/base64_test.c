/* base64_test: RFC 4648 section 10 vectors, every rejected form (bad
 * length, characters, padding, unused bits), exact-size buffers (so ASan
 * sees any overrun), and randomized round trips checked against
 * OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock. */
#include "proto/base64.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "core/alloc.h"

struct vec {
	const char *plain;
	const char *b64;
};

static const struct vec rfc4648_vecs[] = {
	{ .plain = "", .b64 = "" },
	{ .plain = "f", .b64 = "Zg==" },
	{ .plain = "fo", .b64 = "Zm8=" },
	{ .plain = "foo", .b64 = "Zm9v" },
	{ .plain = "foob", .b64 = "Zm9vYg==" },
	{ .plain = "fooba", .b64 = "Zm9vYmE=" },
	{ .plain = "foobar", .b64 = "Zm9vYmFy" },
};

/* Encodes into a buffer of exactly the needed size, then checks that one
 * byte less is refused without writing. */
static void check_encode(const void *in, size_t len, const char *expect)
{
	size_t elen = strlen(expect);
	char *out = xmalloc(elen + 1);

	assert_int_equal(base64_encoded_len(len), elen);
	assert_int_equal(base64_encode(in, len, out, elen + 1), (int)elen);
	assert_string_equal(out, expect);
	free(out);

	out = xmalloc(elen + 1);
	memset(out, 'x', elen + 1);
	assert_int_equal(base64_encode(in, len, out, elen), -1);
	assert_int_equal(out[0], 'x');
	free(out);
}

static void check_decode(const char *b64, const void *expect, size_t elen)
{
	size_t blen = strlen(b64);
	/* malloc(0) may return NULL; keep one byte so the pointer is real. */
	unsigned char *out = xmalloc(elen ? elen : 1);
	size_t got = 99;

	assert_true(base64_decoded_max(blen) >= elen);
	assert_int_equal(base64_decode(b64, blen, out, elen, &got), 0);
	assert_int_equal(got, elen);
	assert_memory_equal(out, expect, elen);
	if (elen > 0) {
		got = 99;
		assert_int_equal(base64_decode(b64, blen, out, elen - 1, &got),
				 -1);
		assert_int_equal(got, 0);
	}
	free(out);
}

static void test_rfc4648_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rfc4648_vecs) / sizeof(rfc4648_vecs[0]);
	     i++) {
		const struct vec *v = &rfc4648_vecs[i];

		check_encode(v->plain, strlen(v->plain), v->b64);
		check_decode(v->b64, v->plain, strlen(v->plain));
	}
}

static void test_encode_null_empty(void **state)
{
	char out[1] = { 'x' };

	(void)state;
	assert_int_equal(base64_encode(NULL, 0, out, sizeof(out)), 0);
	assert_int_equal(out[0], '\0');
	assert_int_equal(base64_encode(NULL, 0, out, 0), -1);
}

static void test_encoded_len(void **state)
{
	(void)state;
	assert_int_equal(base64_encoded_len(0), 0);
	assert_int_equal(base64_encoded_len(1), 4);
	assert_int_equal(base64_encoded_len(3), 4);
	assert_int_equal(base64_encoded_len(4), 8);
	assert_int_equal(base64_encoded_len(32), 44);
	assert_int_equal(base64_encoded_len(SIZE_MAX), SIZE_MAX);
	assert_int_equal(base64_encoded_len(SIZE_MAX / 4 * 3), SIZE_MAX / 4 * 4);
	assert_int_equal(base64_decoded_max(0), 0);
	assert_int_equal(base64_decoded_max(7), 3);
	assert_int_equal(base64_decoded_max(8), 6);
}

struct bad_case {
	const char *in;
	size_t len; /* 0: strlen(in) */
	const char *why;
};

static const struct bad_case bad_cases[] = {
	{ .in = "Zg=", .why = "length 3" },
	{ .in = "Zg", .why = "no padding" },
	{ .in = "Z", .why = "length 1" },
	{ .in = "Zg===", .why = "length 5" },
	{ .in = "Z===", .why = "three pads" },
	{ .in = "====", .why = "all pads" },
	{ .in = "Zm=v", .why = "pad inside a quad" },
	{ .in = "Zg==Zg==", .why = "pad before the end" },
	{ .in = "=Zm9", .why = "leading pad" },
	{ .in = "Zh==", .why = "non-zero unused bits (one byte)" },
	{ .in = "Zm9=", .why = "non-zero unused bits (two bytes)" },
	{ .in = "QR==", .why = "non-zero unused bits" },
	{ .in = "Zm9v\n", .why = "trailing LF" },
	{ .in = "Zm9v\r\n", .why = "trailing CRLF" },
	{ .in = " Zm9v", .why = "leading space" },
	{ .in = "Zm 9v", .why = "inner space" },
	{ .in = "Zm9\tv", .why = "tab" },
	{ .in = "Zm9v\nYmFy", .why = "line break" },
	{ .in = "Zm-_", .why = "URL-safe alphabet" },
	{ .in = "Zm9.", .why = "dot" },
	{ .in = "Zm\0v", .len = 4, .why = "NUL" },
	{ .in = "Zm\xc3\xa9", .why = "non-ASCII" },
	{ .in = "*", .why = "SASL cancel is not base64" },
	{ .in = "=", .why = "RFC 4954 empty marker is not base64" },
};

static void test_rejects(void **state)
{
	unsigned char out[16];

	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		size_t got = 99;

		if (base64_decode(c->in, len, out, sizeof(out), &got) != -1)
			fail_msg("accepted: %s", c->why);
		assert_int_equal(got, 0);
	}
}

/* Every byte value in every position of a quad: accepted exactly when it
 * is in the alphabet (and, in a padded position, when it is '='). */
static void test_every_char(void **state)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789+/";
	unsigned char out[3];

	(void)state;
	for (int pos = 0; pos < 4; pos++) {
		for (int c = 0; c < 256; c++) {
			char q[4] = { 'A', 'A', 'A', 'A' };
			bool in_alpha = c != 0 && strchr(alphabet, c) != NULL;
			size_t got;
			int rc;

			q[pos] = (char)c;
			rc = base64_decode(q, 4, out, sizeof(out), &got);
			/* "AAA=" is canonical; other '=' positions are not. */
			if (c == '=' && pos == 3) {
				assert_int_equal(rc, 0);
				assert_int_equal(got, 2);
			} else {
				assert_int_equal(rc, in_alpha ? 0 : -1);
			}
			if (in_alpha) {
				assert_int_equal(got, 3);
				int v = (int)(strchr(alphabet, c) - alphabet);
				uint32_t w = (uint32_t)v << (6 * (3 - pos));

				assert_int_equal(out[0], (w >> 16) & 0xff);
				assert_int_equal(out[1], (w >> 8) & 0xff);
				assert_int_equal(out[2], w & 0xff);
			}
		}
	}
}

/* Only the canonical last quad is accepted: of the 64 characters in the
 * last data position, exactly those with zero unused bits. */
static void test_unused_bits(void **state)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789+/";
	unsigned char out[3];
	size_t got;

	(void)state;
	for (int v = 0; v < 64; v++) {
		char two[4] = { 'Q', alphabet[v], '=', '=' };
		char one[4] = { 'Q', 'U', alphabet[v], '=' };

		assert_int_equal(base64_decode(two, 4, out, sizeof(out), &got),
				 (v & 15) ? -1 : 0);
		assert_int_equal(base64_decode(one, 4, out, sizeof(out), &got),
				 (v & 3) ? -1 : 0);
	}
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Random lengths and bytes: our encoding equals OpenSSL's, decodes back,
 * and OpenSSL decodes ours to the same bytes. */
static void test_random_vs_openssl(void **state)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;

	(void)state;
	for (int round = 0; round < 2000; round++) {
		size_t len = (size_t)(rng_next(&seed) % 200);
		size_t elen = base64_encoded_len(len);
		unsigned char *in = xmalloc(len ? len : 1);
		char *ours = xmalloc(elen + 1);
		unsigned char *theirs = xmalloc(elen + 1);
		unsigned char *back = xmalloc(len ? len : 1);
		unsigned char *ossl_back = xmalloc(elen / 4 * 3 + 1);
		size_t got;

		for (size_t i = 0; i < len; i++)
			in[i] = (unsigned char)rng_next(&seed);
		assert_int_equal(base64_encode(in, len, ours, elen + 1),
				 (int)elen);
		assert_int_equal(EVP_EncodeBlock(theirs, in, (int)len),
				 (int)elen);
		assert_memory_equal(ours, theirs, elen);
		assert_int_equal(base64_decode(ours, elen, back, len, &got), 0);
		assert_int_equal(got, len);
		if (len)
			assert_memory_equal(back, in, len);
		/* EVP_DecodeBlock ignores padding in its count: it returns
		 * elen / 4 * 3 and leaves zero bytes in place of the pads. */
		assert_int_equal(EVP_DecodeBlock(ossl_back,
						 (const unsigned char *)ours,
						 (int)elen),
				 (int)(elen / 4 * 3));
		if (len)
			assert_memory_equal(ossl_back, in, len);
		free(in);
		free(ours);
		free(theirs);
		free(back);
		free(ossl_back);
	}
}

static void test_all_bytes_round_trip(void **state)
{
	unsigned char in[256];
	char enc[345];
	unsigned char dec[256];
	size_t got;

	(void)state;
	for (int i = 0; i < 256; i++)
		in[i] = (unsigned char)i;
	assert_int_equal(base64_encode(in, sizeof(in), enc, sizeof(enc)), 344);
	assert_int_equal(base64_decode(enc, 344, dec, sizeof(dec), &got), 0);
	assert_int_equal(got, 256);
	assert_memory_equal(in, dec, 256);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_vectors),
		cmocka_unit_test(test_encode_null_empty),
		cmocka_unit_test(test_encoded_len),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_every_char),
		cmocka_unit_test(test_unused_bits),
		cmocka_unit_test(test_random_vs_openssl),
		cmocka_unit_test(test_all_bytes_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
