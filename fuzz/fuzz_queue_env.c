/* fuzz_queue_env: libFuzzer target for src/queue/queue_env.h, the decoder
 * of queue envelope files (read at startup and by `konvert queue`, from a
 * disk that may hold anything). Each input is decoded twice, from an
 * exact-size heap copy so that any read past the end is caught:
 *   as it is (the checksum must hold: mostly refused, which is the point);
 *   resealed: a last "sha256 ..." line is dropped and a correct one for
 *   the rest appended, so mutations reach the parser behind the checksum.
 * Whenever decoding succeeds, the envelope must validate and re-encode to
 * exactly the input bytes (the format is canonical), and every proper
 * prefix of it must be refused (spot-checked at a few input-derived cuts,
 * and at the cuts that drop the last line or its LF). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "fuzz_common.h"
#include "queue/queue_env.h"

#define SUM_LINE_LEN 72 /* "sha256 " + 64 hex + LF */

static char *copy_of(const void *data, size_t size)
{
	char *p = malloc(size > 0 ? size : 1);

	FUZZ_CHECK(p != NULL);
	memcpy(p, data, size);
	return p;
}

/* Decodes data[0..size) from an exact copy; true when accepted. On
 * success the canonical-form and truncation properties are checked. */
static bool decode_and_check(const char *data, size_t size)
{
	struct queue_env env;
	const char *err = (const char *)1;
	char *buf = copy_of(data, size), *enc = NULL;
	size_t enc_len = 0;
	uint64_t rng;
	int rc = queue_env_decode(buf, size, &env, &err);

	free(buf);
	if (rc != 0) {
		FUZZ_CHECK(rc == -1);
		FUZZ_CHECK(err != NULL && err != (const char *)1 && err[0] != '\0');
		/* Zeroed on failure. */
		FUZZ_CHECK(env.sender == NULL && env.rcpts == NULL && env.rcpt_count == 0);
		return false;
	}
	FUZZ_CHECK(queue_env_validate(&env, &err) == 0);
	FUZZ_CHECK(env.rcpt_count >= 1 && env.rcpt_count <= QUEUE_RCPTS_MAX);
	FUZZ_CHECK(env.skip <= env.size);
	FUZZ_CHECK(queue_env_encode(&env, &enc, &enc_len, &err) == 0);
	FUZZ_CHECK(enc_len == size && memcmp(enc, data, size) == 0);
	FUZZ_CHECK(enc[enc_len] == '\0');
	free(enc);
	queue_env_fini(&env);
	queue_env_fini(&env);

	/* Truncations: without the last byte, without the checksum line,
	 * and a few pseudo-random cuts. */
	rng = fuzz_hash((const uint8_t *)data, size);
	for (int i = 0; i < 6; i++) {
		size_t cut = i == 0 ? size - 1 :
			     i == 1 ? size - SUM_LINE_LEN :
				      (size_t)(fuzz_rand(&rng) % size);
		char *part = copy_of(data, cut);

		FUZZ_CHECK(queue_env_decode(part, cut, &env, &err) == -1);
		free(part);
	}
	return true;
}

/* The input with its checksum line replaced by a correct one. */
static char *reseal(const uint8_t *data, size_t size, size_t *len_out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	size_t body = size;
	char *out;

	/* Drop a last line that starts with "sha256 " (a seed's own). */
	if (size >= SUM_LINE_LEN && data[size - 1] == '\n' &&
	    memcmp(data + size - SUM_LINE_LEN, "sha256 ", 7) == 0)
		body = size - SUM_LINE_LEN;
	out = malloc(body + SUM_LINE_LEN);
	FUZZ_CHECK(out != NULL);
	memcpy(out, data, body);
	FUZZ_CHECK(EVP_Digest(data, body, md, &md_len, EVP_sha256(), NULL) == 1);
	FUZZ_CHECK(md_len == 32);
	memcpy(out + body, "sha256 ", 7);
	for (unsigned i = 0; i < 32; i++) {
		out[body + 7 + 2 * i] = hex[md[i] >> 4];
		out[body + 8 + 2 * i] = hex[md[i] & 15];
	}
	out[body + SUM_LINE_LEN - 1] = '\n';
	*len_out = body + SUM_LINE_LEN;
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len;
	char *sealed;

	/* Envelope files are small; a 64 MiB input would only be slow. */
	if (size > 1u << 20)
		return 0;
	(void)decode_and_check((const char *)data, size);
	sealed = reseal(data, size, &len);
	(void)decode_and_check(sealed, len);
	free(sealed);
	return 0;
}
