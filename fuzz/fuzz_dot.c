/* fuzz_dot: libFuzzer target for src/proto/dot.h. The input is fed to the
 * decoder (DATA and BDAT mode) whole, byte by byte and in pseudo-random
 * splits derived from the input; every way must give the same output,
 * counters, flags and end position, and every call must stay within the
 * room the header promises (each call gets a heap block of exactly that
 * room). The input is also encoded as stored text, in one piece and split,
 * and the encoding must decode back to the stored text with CR LF and a
 * trailing CR normalised to LF, end exactly at its last byte and never
 * look like the end marker earlier. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "proto/dot.h"

struct dec_result {
	char *out; /* owned */
	size_t out_len;
	size_t consumed;
	int ended;
	struct dot_decoder d;
};

static void *xmalloc_fz(size_t n)
{
	void *p = malloc(n > 0 ? n : 1);

	FUZZ_CHECK(p != NULL);
	return p;
}

/* split: 0 whole, 1 byte by byte, else pseudo-random chunks from seed. */
static void decode(const uint8_t *data, size_t size, bool transparency, int split, uint64_t seed,
		   struct dec_result *r)
{
	uint64_t rng = seed;
	size_t pos = 0;
	/* Whole and byte-by-byte feeds read from one exact copy of the input
	 * (its end is the input's end) and, byte by byte, write into one
	 * reused 3-byte block; random splits get exact blocks per call. */
	char *copy = xmalloc_fz(size), *out1 = xmalloc_fz(3);

	memcpy(copy, data, size);
	memset(r, 0, sizeof(*r));
	r->out = xmalloc_fz(size + 2);
	dot_decoder_init(&r->d, transparency);
	do {
		size_t chunk = size - pos, consumed = 999, n = 999;
		char *in, *out;
		int rc;

		if (split == 1 && chunk > 1)
			chunk = 1;
		else if (split > 1 && chunk > 0) /* 0..16 bytes: empty feeds too */
			chunk = (size_t)(fuzz_rand(&rng) % (chunk < 16 ? chunk + 1 : 17));
		if (split == 2) {
			in = xmalloc_fz(chunk);
			memcpy(in, data + pos, chunk);
			out = xmalloc_fz(chunk + 2);
		} else {
			in = copy + pos;
			out = split == 1 ? out1 : xmalloc_fz(chunk + 2);
		}
		rc = dot_decoder_feed(&r->d, in, chunk, &consumed, out, &n);
		FUZZ_CHECK(rc == 0 || rc == 1);
		FUZZ_CHECK(consumed <= chunk && n <= chunk + 2);
		FUZZ_CHECK(rc == 1 || consumed == chunk);
		FUZZ_CHECK(r->out_len + n <= size + 2);
		memcpy(r->out + r->out_len, out, n);
		r->out_len += n;
		pos += consumed;
		r->consumed += consumed;
		r->ended = rc;
		if (split == 2)
			free(in);
		if (out != out1)
			free(out);
	} while (pos < size && !r->ended);
	if (r->ended) {
		/* After the end marker nothing more is consumed or produced. */
		size_t rest = size - pos, consumed = 999, n = 999;
		char *out = xmalloc_fz(rest + 2);

		FUZZ_CHECK(dot_decoder_feed(&r->d, copy + pos, rest, &consumed, out, &n) == 1);
		FUZZ_CHECK(consumed == 0 && n == 0);
		free(out);
	}
	if (!transparency) {
		char fin[2];
		size_t n = dot_decoder_finish(&r->d, fin);

		FUZZ_CHECK(n <= 1);
		memcpy(r->out + r->out_len, fin, n);
		r->out_len += n;
		FUZZ_CHECK(!r->ended);
	}
	FUZZ_CHECK(r->d.in_bytes == r->consumed && r->d.out_bytes == r->out_len);
	free(out1);
	free(copy);
}

static void same_result(const struct dec_result *a, const struct dec_result *b)
{
	FUZZ_CHECK(a->out_len == b->out_len && memcmp(a->out, b->out, a->out_len) == 0);
	FUZZ_CHECK(a->consumed == b->consumed && a->ended == b->ended);
	FUZZ_CHECK(a->d.flags == b->d.flags && a->d.lines == b->d.lines);
	FUZZ_CHECK(a->d.in_bytes == b->d.in_bytes && a->d.out_bytes == b->d.out_bytes);
}

static void check_decoder(const uint8_t *data, size_t size, bool transparency)
{
	struct dec_result whole, bytes, chunks;
	uint64_t seed = fuzz_hash(data, size);

	decode(data, size, transparency, 0, seed, &whole);
	decode(data, size, transparency, 1, seed, &bytes);
	decode(data, size, transparency, 2, seed, &chunks);
	same_result(&whole, &bytes);
	same_result(&whole, &chunks);
	if (whole.ended) {
		/* The marker is CR LF "." CR LF, or "." CR LF at the start. */
		FUZZ_CHECK(whole.consumed >= 3 &&
			   memcmp(data + whole.consumed - 3, ".\r\n", 3) == 0);
		FUZZ_CHECK(whole.consumed == 3 ||
			   (whole.consumed >= 5 && data[whole.consumed - 5] == '\r' &&
			    data[whole.consumed - 4] == '\n'));
		FUZZ_CHECK(whole.out_len == 0 || whole.out[whole.out_len - 1] == '\n');
	} else {
		FUZZ_CHECK(whole.consumed == size);
	}
	/* NUL and bare CR flags say exactly what the output holds (a CR is
	 * only ever output when it was bare). */
	FUZZ_CHECK(((whole.d.flags & DOT_FLAG_NUL) != 0) ==
		   (memchr(whole.out, '\0', whole.out_len) != NULL));
	FUZZ_CHECK(((whole.d.flags & DOT_FLAG_BARE_CR) != 0) ==
		   (memchr(whole.out, '\r', whole.out_len) != NULL));
	free(whole.out);
	free(bytes.out);
	free(chunks.out);
}

/* What decode(encode(text)) must give: CR LF -> LF, a final CR -> LF, and
 * an LF added after an unterminated last line. */
static size_t normalise(const uint8_t *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r' && (i + 1 == n || s[i + 1] == '\n')) {
			out[o++] = '\n';
			i += i + 1 < n;
		} else {
			out[o++] = (char)s[i];
		}
	}
	if (o > 0 && out[o - 1] != '\n')
		out[o++] = '\n';
	return o;
}

static size_t encode(const uint8_t *data, size_t size, bool split, uint64_t seed, char *enc,
		     uint64_t *lines_out)
{
	struct dot_encoder e;
	uint64_t rng = seed;
	size_t pos = 0, o = 0, n_fin;
	char *fin = xmalloc_fz(5);

	dot_encoder_init(&e);
	while (pos < size) {
		size_t chunk = size - pos;
		char *out;
		size_t n;

		if (split)
			chunk = 1 + (size_t)(fuzz_rand(&rng) % (chunk < 16 ? chunk : 16));
		out = xmalloc_fz(2 * chunk + 2);
		n = dot_encoder_feed(&e, (const char *)data + pos, chunk, out);
		FUZZ_CHECK(n <= 2 * chunk + 2);
		memcpy(enc + o, out, n);
		o += n;
		pos += chunk;
		free(out);
	}
	n_fin = dot_encoder_finish(&e, fin);
	FUZZ_CHECK(n_fin <= 5);
	memcpy(enc + o, fin, n_fin);
	o += n_fin;
	free(fin);
	*lines_out = e.lines;
	return o;
}

static void check_encoder(const uint8_t *data, size_t size)
{
	/* Encoded: at most 2 bytes per input byte, plus CR LF "." CR LF. */
	char *enc = xmalloc_fz(2 * size + 5), *enc2 = xmalloc_fz(2 * size + 5);
	char *want = xmalloc_fz(size + 1), *out = xmalloc_fz(2 * size + 7);
	uint64_t seed = fuzz_hash(data, size), lines, lines2;
	size_t n, n2, wn, consumed, on;
	struct dot_decoder d;

	n = encode(data, size, false, seed, enc, &lines);
	n2 = encode(data, size, true, seed, enc2, &lines2);
	FUZZ_CHECK(n == n2 && memcmp(enc, enc2, n) == 0 && lines == lines2);
	FUZZ_CHECK(n >= 3 && memcmp(enc + n - 3, ".\r\n", 3) == 0);

	dot_decoder_init(&d, true);
	FUZZ_CHECK(dot_decoder_feed(&d, enc, n, &consumed, out, &on) == 1);
	FUZZ_CHECK(consumed == n); /* no earlier end marker */
	wn = normalise(data, size, want);
	FUZZ_CHECK(on == wn && memcmp(out, want, on) == 0);
	FUZZ_CHECK((d.flags & DOT_FLAG_BARE_LF) == 0);
	FUZZ_CHECK(((d.flags & DOT_FLAG_BARE_CR) != 0) == (memchr(want, '\r', wn) != NULL));
	FUZZ_CHECK(d.lines == lines);
	free(out);
	free(want);
	free(enc2);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_decoder(data, size, true);
	check_decoder(data, size, false);
	check_encoder(data, size);
	return 0;
}
