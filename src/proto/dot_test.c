/* dot_test: unit tests for the dot-stuffing codec. Every decoder and
 * encoder case runs whole, byte by byte, at every 2-way split (and every
 * 3-way split for short inputs); output buffers are allocated at exactly
 * the documented size so ASan catches an overrun. Randomized tests check
 * the decoder against a line-based reference model and the encoder by
 * round trip. */
#include "proto/dot.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"

struct bytes {
	const char *p;
	size_t len;
};

#define B(s) { .p = (s), .len = sizeof(s) - 1 }

/* Chunk boundaries: the input is fed as [0,cut[0]), [cut[0],cut[1]), ...
 * [cut[n-1],len). Cuts are ascending; equal cuts give empty chunks. */
struct split {
	const size_t *cut;
	size_t n;
	const char *how; /* for failure messages */
};

/* Random numbers for the randomized tests (fixed seeds, reproducible). */
static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64 */
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static size_t rng_below(uint64_t *s, size_t n)
{
	return (size_t)(rng_next(s) % n);
}

/* Up to 4 random ascending cuts in [0, len]. */
static void rng_split(uint64_t *s, size_t len, size_t cut[4],
		      struct split *sp)
{
	size_t n = rng_below(s, 5);

	for (size_t i = 0; i < n; i++)
		cut[i] = rng_below(s, len + 1);
	for (size_t i = 1; i < n; i++) {
		for (size_t j = i; j > 0 && cut[j - 1] > cut[j]; j--) {
			size_t t = cut[j];

			cut[j] = cut[j - 1];
			cut[j - 1] = t;
		}
	}
	*sp = (struct split){ .cut = cut, .n = n, .how = "random" };
}

/* ------------------------------------------------------------------ */
/* Decoder driver                                                      */

struct dec_result {
	char *out; /* owned; room for the whole input + 2 */
	size_t out_len;
	size_t consumed;
	unsigned flags;
	bool ended;
	uint64_t lines;
};

static void dec_result_fini(struct dec_result *r)
{
	free(r->out);
	r->out = NULL;
}

/* Feeds in[] cut as given; bdat selects no dot transparency and calls
 * dot_decoder_finish at the end. Checks the per-call contract on the way. */
static void dec_run(const char *in, size_t len, bool bdat,
		    const struct split *sp, struct dec_result *r)
{
	struct dot_decoder d;
	size_t start = 0;

	memset(r, 0, sizeof(*r));
	r->out = xmalloc(len + 3);
	dot_decoder_init(&d, !bdat);
	for (size_t k = 0; k <= sp->n && !r->ended; k++) {
		size_t end = k < sp->n ? sp->cut[k] : len;
		size_t chunk = end - start, consumed = 99, out_len = 99;
		/* Exactly the documented room, so ASan sees overruns. */
		char *buf = xmalloc(chunk + 2);
		int rc = dot_decoder_feed(&d, in + start, chunk, &consumed,
					  buf, &out_len);

		assert_true(rc == 0 || rc == 1);
		assert_true(consumed <= chunk);
		assert_true(out_len <= chunk + 2);
		if (rc == 0)
			assert_int_equal(consumed, chunk);
		memcpy(r->out + r->out_len, buf, out_len);
		r->out_len += out_len;
		r->consumed += consumed;
		r->ended = rc == 1;
		free(buf);
		start = end;
	}
	if (r->ended) {
		/* Once ended, the decoder takes nothing more. */
		size_t consumed = 99, out_len = 99;
		char buf[8];

		assert_int_equal(dot_decoder_feed(&d, "x\r\n", 3, &consumed,
						  buf, &out_len), 1);
		assert_int_equal(consumed, 0);
		assert_int_equal(out_len, 0);
	}
	if (bdat) {
		char *buf = xmalloc(2);
		size_t n = dot_decoder_finish(&d, buf);

		assert_true(n <= 2);
		memcpy(r->out + r->out_len, buf, n);
		r->out_len += n;
		free(buf);
	}
	r->flags = d.flags;
	r->lines = d.lines;
	assert_int_equal(d.in_bytes, r->consumed);
	assert_int_equal(d.out_bytes, r->out_len);
}

struct dec_expect {
	struct bytes out;
	unsigned flags;
	bool ended;
	size_t left; /* unconsumed input bytes (pipelined after the end) */
	uint64_t lines;
};

static void dec_check(const char *name, const char *in, size_t len,
		      bool bdat, const struct split *sp,
		      const struct dec_expect *x)
{
	struct dec_result r;

	dec_run(in, len, bdat, sp, &r);
	if (r.out_len != x->out.len ||
	    memcmp(r.out, x->out.p, r.out_len) != 0 ||
	    r.flags != x->flags || r.ended != x->ended ||
	    r.consumed != len - x->left || r.lines != x->lines) {
		print_error("case '%s', split %s: out_len %zu/%zu flags %u/%u "
			    "ended %d/%d consumed %zu/%zu lines %llu/%llu\n",
			    name, sp->how, r.out_len, x->out.len, r.flags,
			    x->flags, r.ended, x->ended, r.consumed,
			    len - x->left, (unsigned long long)r.lines,
			    (unsigned long long)x->lines);
		dec_result_fini(&r);
		fail();
	}
	dec_result_fini(&r);
}

/* Runs whole, byte by byte, every 2-way split, and for short inputs every
 * 3-way split. */
static void dec_check_all_splits(const char *name, const char *in,
				 size_t len, bool bdat,
				 const struct dec_expect *x)
{
	size_t cut[2];
	struct split sp = { .cut = cut, .n = 0, .how = "whole" };
	size_t *bytewise = xmalloc((len ? len : 1) * sizeof(*bytewise));

	dec_check(name, in, len, bdat, &sp, x);

	for (size_t i = 0; i + 1 < len; i++)
		bytewise[i] = i + 1;
	sp = (struct split){ .cut = bytewise, .n = len ? len - 1 : 0,
			     .how = "byte by byte" };
	dec_check(name, in, len, bdat, &sp, x);
	free(bytewise);

	for (size_t i = 0; i <= len; i++) {
		cut[0] = i;
		sp = (struct split){ .cut = cut, .n = 1, .how = "2-way" };
		dec_check(name, in, len, bdat, &sp, x);
	}
	if (len > 64)
		return;
	for (size_t i = 0; i <= len; i++) {
		for (size_t j = i; j <= len; j++) {
			cut[0] = i;
			cut[1] = j;
			sp = (struct split){ .cut = cut, .n = 2,
					     .how = "3-way" };
			dec_check(name, in, len, bdat, &sp, x);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Decoder table                                                       */

struct dec_case {
	const char *name;
	struct bytes in;
	bool bdat;
	struct dec_expect x;
};

#define CR_ DOT_FLAG_BARE_CR
#define LF_ DOT_FLAG_BARE_LF

static const struct dec_case dec_cases[] = {
	/* End marker and empty messages. */
	{ .name = "empty message", .in = B(".\r\n"),
	  .x = { .out = B(""), .ended = true } },
	{ .name = "empty message, pipelined", .in = B(".\r\nQUIT\r\n"),
	  .x = { .out = B(""), .ended = true, .left = 6 } },
	{ .name = "one empty line", .in = B("\r\n.\r\n"),
	  .x = { .out = B("\n"), .ended = true, .lines = 1 } },
	{ .name = "single line", .in = B("hello\r\n.\r\n"),
	  .x = { .out = B("hello\n"), .ended = true, .lines = 1 } },
	{ .name = "two lines, pipelined MAIL",
	  .in = B("a\r\nb\r\n.\r\nMAIL FROM:<x>\r\n"),
	  .x = { .out = B("a\nb\n"), .ended = true, .left = 15,
		 .lines = 2 } },
	{ .name = "pipelined data that looks like an end",
	  .in = B("a\r\n.\r\n.\r\n"),
	  .x = { .out = B("a\n"), .ended = true, .left = 3, .lines = 1 } },
	{ .name = "end after blank lines", .in = B("a\r\n\r\n\r\n.\r\n"),
	  .x = { .out = B("a\n\n\n"), .ended = true, .lines = 3 } },
	/* Transparency (RFC 5321 4.5.2). */
	{ .name = "dot-stuffed lines",
	  .in = B("..foo\r\n.bar\r\n\r\n..\r\n.\r\n"),
	  .x = { .out = B(".foo\nbar\n\n.\n"), .ended = true, .lines = 4 } },
	{ .name = "line that is just ..", .in = B("..\r\n.\r\n"),
	  .x = { .out = B(".\n"), .ended = true, .lines = 1 } },
	{ .name = "line ...", .in = B("...\r\n.\r\n"),
	  .x = { .out = B("..\n"), .ended = true, .lines = 1 } },
	{ .name = "dots inside lines kept", .in = B("a.b\r\n a.\r\n.\r\n"),
	  .x = { .out = B("a.b\n a.\n"), .ended = true, .lines = 2 } },
	{ .name = ".. then end, first line", .in = B("..\r\n.\r\nRSET\r\n"),
	  .x = { .out = B(".\n"), .ended = true, .left = 6, .lines = 1 } },
	/* Unfinished input. */
	{ .name = "no input", .in = B(""), .x = { .out = B("") } },
	{ .name = "no end yet", .in = B("a\r\nb"),
	  .x = { .out = B("a\nb"), .lines = 1 } },
	{ .name = "trailing CR held", .in = B("a\r"), .x = { .out = B("a") } },
	{ .name = "trailing dot held", .in = B("a\r\n."),
	  .x = { .out = B("a\n"), .lines = 1 } },
	{ .name = "trailing dot CR held", .in = B("a\r\n.\r"),
	  .x = { .out = B("a\n"), .lines = 1 } },
	{ .name = "lone dot", .in = B("."), .x = { .out = B("") } },
	/* Smuggling: bare LF / bare CR never end the message. */
	{ .name = "\\n.\\n", .in = B("a\n.\n"),
	  .x = { .out = B("a\n.\n"), .flags = LF_ } },
	{ .name = "\\n.\\r\\n", .in = B("a\n.\r\n"),
	  .x = { .out = B("a\n.\n"), .flags = LF_, .lines = 1 } },
	{ .name = "\\r\\n.\\n", .in = B("a\r\n.\n"),
	  .x = { .out = B("a\n\n"), .flags = LF_, .lines = 1 } },
	{ .name = "\\r.\\r\\n", .in = B("a\r.\r\n"),
	  .x = { .out = B("a\r.\n"), .flags = CR_, .lines = 1 } },
	{ .name = "\\n.\\n then real end", .in = B("a\n.\nb\r\n.\r\nX"),
	  .x = { .out = B("a\n.\nb\n"), .flags = LF_, .ended = true,
		 .left = 1, .lines = 1 } },
	{ .name = "\\n.\\r\\n then real end", .in = B("a\n.\r\nb\r\n.\r\n"),
	  .x = { .out = B("a\n.\nb\n"), .flags = LF_, .ended = true,
		 .lines = 2 } },
	{ .name = "\\r\\n.\\n then real end", .in = B("a\r\n.\nb\r\n.\r\n"),
	  .x = { .out = B("a\n\nb\n"), .flags = LF_, .ended = true,
		 .lines = 2 } },
	{ .name = "\\r.\\r\\n then real end", .in = B("a\r.\r\nb\r\n.\r\n"),
	  .x = { .out = B("a\r.\nb\n"), .flags = CR_, .ended = true,
		 .lines = 2 } },
	{ .name = ".\\n first", .in = B(".\n"),
	  .x = { .out = B("\n"), .flags = LF_ } },
	{ .name = "\\r.\\r\\n first", .in = B("\r.\r\n"),
	  .x = { .out = B("\r.\n"), .flags = CR_, .lines = 1 } },
	{ .name = "\\n.\\n first", .in = B("\n.\n"),
	  .x = { .out = B("\n.\n"), .flags = LF_ } },
	{ .name = ".\\r. first", .in = B(".\r.\r\n"),
	  .x = { .out = B("\r.\n"), .flags = CR_, .lines = 1 } },
	{ .name = "\\r\\n\\n.\\r\\n", .in = B("a\r\n\n.\r\n"),
	  .x = { .out = B("a\n\n.\n"), .flags = LF_, .lines = 2 } },
	{ .name = "\\r\\n.\\r\\r\\n", .in = B("a\r\n.\r\r\n"),
	  .x = { .out = B("a\n\r\n"), .flags = CR_, .lines = 2 } },
	{ .name = "\\r\\r\\n", .in = B("a\r\r\n.\r\n"),
	  .x = { .out = B("a\r\n"), .flags = CR_, .ended = true,
		 .lines = 1 } },
	{ .name = ".\\r\\r\\n first", .in = B(".\r\r\n.\r\n"),
	  .x = { .out = B("\r\n"), .flags = CR_, .ended = true,
		 .lines = 1 } },
	/* Bytes copied exactly. */
	{ .name = "8-bit and UTF-8",
	  .in = B("caf\xc3\xa9 \xff\x80\x01\x7f\r\n.\r\n"),
	  .x = { .out = B("caf\xc3\xa9 \xff\x80\x01\x7f\n"), .ended = true,
		 .lines = 1 } },
	{ .name = "NUL", .in = B("a\0b\r\n\0\r\n.\0\r\n.\r\n"),
	  .x = { .out = B("a\0b\n\0\n\0\n"), .flags = DOT_FLAG_NUL,
		 .ended = true, .lines = 3 } },
	{ .name = "all flags", .in = B("\0\n\r.\r\n.\r\n"),
	  .x = { .out = B("\0\n\r.\n"),
		 .flags = DOT_FLAG_NUL | CR_ | LF_, .ended = true,
		 .lines = 1 } },
	/* BDAT (RFC 3030): line endings only. */
	{ .name = "bdat: dots kept, no end", .bdat = true,
	  .in = B("a\r\n.\r\n..b\r\n"),
	  .x = { .out = B("a\n.\n..b\n"), .lines = 3 } },
	{ .name = "bdat: empty", .bdat = true, .in = B(""),
	  .x = { .out = B("") } },
	{ .name = "bdat: final CR flushed", .bdat = true, .in = B("a\r"),
	  .x = { .out = B("a\r"), .flags = CR_ } },
	{ .name = "bdat: final CRLF", .bdat = true, .in = B("a\r\n"),
	  .x = { .out = B("a\n"), .lines = 1 } },
	{ .name = "bdat: bare LF", .bdat = true, .in = B("a\nb\r\n"),
	  .x = { .out = B("a\nb\n"), .flags = LF_, .lines = 1 } },
	{ .name = "bdat: \\r\\r\\n", .bdat = true, .in = B("\r\r\n.\r"),
	  .x = { .out = B("\r\n.\r"), .flags = CR_, .lines = 1 } },
	{ .name = "bdat: NUL and 8-bit", .bdat = true, .in = B("\0\xfe\r\n"),
	  .x = { .out = B("\0\xfe\n"), .flags = DOT_FLAG_NUL, .lines = 1 } },
};

static void test_decoder_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dec_cases) / sizeof(dec_cases[0]); i++) {
		const struct dec_case *c = &dec_cases[i];

		dec_check_all_splits(c->name, c->in.p, c->in.len, c->bdat,
				     &c->x);
	}
}

static void test_decoder_long_line(void **state)
{
	enum { LONG = 10000 };
	static const char tail[] = "\r\n.\r\nNOOP\r\n";
	size_t len = 1 + LONG + sizeof(tail) - 1;
	char *in = xmalloc(len);
	char *out = xmalloc(LONG + 1);

	(void)state;
	/* A stuffed dot first, then 8-bit filler with dots inside. */
	in[0] = '.';
	for (size_t i = 0; i < LONG; i++)
		in[1 + i] = out[i] = (char)(i % 7 == 3 ? '.' : 0x80 + i % 50);
	memcpy(in + 1 + LONG, tail, sizeof(tail) - 1);
	out[LONG] = '\n';

	struct dec_expect x = { .out = { .p = out, .len = LONG + 1 },
				.ended = true, .left = 6, .lines = 1 };
	dec_check_all_splits("long line", in, len, false, &x);
	free(in);
	free(out);
}

/* The end marker split across calls, checked call by call. */
static void test_decoder_end_split_calls(void **state)
{
	static const char *const parts[] = { "a\r", "\n.", "\r", "\nQUIT" };
	static const size_t want_consumed[] = { 2, 2, 1, 1 };
	static const size_t want_out[] = { 1, 1, 0, 0 };
	static const int want_rc[] = { 0, 0, 0, 1 };
	struct dot_decoder d;
	char out[16];

	(void)state;
	dot_decoder_init(&d, true);
	for (size_t i = 0; i < 4; i++) {
		size_t consumed, out_len;
		int rc = dot_decoder_feed(&d, parts[i], strlen(parts[i]),
					  &consumed, out, &out_len);

		assert_int_equal(rc, want_rc[i]);
		assert_int_equal(consumed, want_consumed[i]);
		assert_int_equal(out_len, want_out[i]);
	}
	assert_int_equal(d.in_bytes, 6);
	assert_int_equal(d.out_bytes, 2);
	assert_int_equal(d.lines, 1);
	assert_int_equal(d.flags, 0);
}

/* ------------------------------------------------------------------ */
/* Encoder                                                             */

/* Encodes in[] cut as given, then finishes. Returns an owned buffer. */
static char *enc_run(const char *in, size_t len, const struct split *sp,
		     size_t *out_len_out, uint64_t *lines_out)
{
	struct dot_encoder e;
	char *out = xmalloc(2 * len + 5);
	size_t o = 0, start = 0;

	dot_encoder_init(&e);
	for (size_t k = 0; k <= sp->n; k++) {
		size_t end = k < sp->n ? sp->cut[k] : len;
		size_t chunk = end - start;
		char *buf = xmalloc(2 * chunk + 2);
		size_t n = dot_encoder_feed(&e, in + start, chunk, buf);

		assert_true(n <= 2 * chunk + 2);
		memcpy(out + o, buf, n);
		o += n;
		free(buf);
		start = end;
	}
	char *fin = xmalloc(5);
	size_t n = dot_encoder_finish(&e, fin);

	assert_true(n <= 5);
	memcpy(out + o, fin, n);
	free(fin);
	*out_len_out = o + n;
	*lines_out = e.lines;
	return out;
}

struct enc_case {
	const char *name;
	struct bytes in;
	struct bytes out;
	uint64_t lines;
};

static const struct enc_case enc_cases[] = {
	{ .name = "empty", .in = B(""), .out = B(".\r\n") },
	{ .name = "one line", .in = B("a\n"), .out = B("a\r\n.\r\n"),
	  .lines = 1 },
	{ .name = "no final newline", .in = B("a\nbc"),
	  .out = B("a\r\nbc\r\n.\r\n"), .lines = 2 },
	{ .name = "lone dot line", .in = B(".\n"), .out = B("..\r\n.\r\n"),
	  .lines = 1 },
	{ .name = "lone dot, no newline", .in = B("."),
	  .out = B("..\r\n.\r\n"), .lines = 1 },
	{ .name = "dots", .in = B("..\n.a\nb.\n"),
	  .out = B("...\r\n..a\r\nb.\r\n.\r\n"), .lines = 3 },
	{ .name = "empty lines", .in = B("\n\n"), .out = B("\r\n\r\n.\r\n"),
	  .lines = 2 },
	{ .name = "CRLF accepted", .in = B("a\r\nb\n.\r\n"),
	  .out = B("a\r\nb\r\n..\r\n.\r\n"), .lines = 3 },
	{ .name = "trailing CR", .in = B("a\r"), .out = B("a\r\n.\r\n"),
	  .lines = 1 },
	{ .name = "bare CR kept", .in = B("a\rb\n"),
	  .out = B("a\rb\r\n.\r\n"), .lines = 1 },
	{ .name = "dot after bare CR not stuffed", .in = B("\r.\n"),
	  .out = B("\r.\r\n.\r\n"), .lines = 1 },
	{ .name = "\\r\\r\\n", .in = B("\r\r\n"), .out = B("\r\r\n.\r\n"),
	  .lines = 1 },
	{ .name = "NUL and 8-bit", .in = B("\0\xff\n.\x80"),
	  .out = B("\0\xff\r\n..\x80\r\n.\r\n"), .lines = 2 },
};

static void enc_check(const struct enc_case *c, const struct split *sp)
{
	size_t n;
	uint64_t lines;
	char *out = enc_run(c->in.p, c->in.len, sp, &n, &lines);

	if (n != c->out.len || memcmp(out, c->out.p, n) != 0 ||
	    lines != c->lines) {
		print_error("encoder case '%s', split %s: len %zu/%zu "
			    "lines %llu/%llu\n", c->name, sp->how, n,
			    c->out.len, (unsigned long long)lines,
			    (unsigned long long)c->lines);
		free(out);
		fail();
	}
	free(out);
}

static void test_encoder_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(enc_cases) / sizeof(enc_cases[0]); i++) {
		const struct enc_case *c = &enc_cases[i];
		size_t cut[64];
		struct split sp = { .cut = cut, .n = 0, .how = "whole" };

		enc_check(c, &sp);
		assert_true(c->in.len < 64);
		for (size_t k = 0; k + 1 < c->in.len; k++)
			cut[k] = k + 1;
		sp = (struct split){ .cut = cut,
				     .n = c->in.len ? c->in.len - 1 : 0,
				     .how = "byte by byte" };
		enc_check(c, &sp);
		for (size_t k = 0; k <= c->in.len; k++) {
			cut[0] = k;
			sp = (struct split){ .cut = cut, .n = 1,
					     .how = "2-way" };
			enc_check(c, &sp);
		}
	}
}

/* decode(encode(x)) == x, with a final LF added to non-empty text that has
 * none; followed by pipelined bytes the decoder must leave alone. The wire
 * is decoded at every split, or at one random split when rng is set. */
static void round_trip(const char *x, size_t len, const struct split *esp,
		       uint64_t *rng)
{
	static const char pipelined[] = "QUIT\r\n";
	size_t wire_len;
	uint64_t enc_lines;
	char *wire = enc_run(x, len, esp, &wire_len, &enc_lines);
	bool add_lf = len > 0 && x[len - 1] != '\n';
	size_t total = wire_len + sizeof(pipelined) - 1;
	char *expect = xmalloc(len + 1);
	uint64_t want_lines = 0;

	wire = xrealloc(wire, total);
	memcpy(wire + wire_len, pipelined, sizeof(pipelined) - 1);
	memcpy(expect, x, len);
	if (add_lf)
		expect[len] = '\n';
	for (size_t i = 0; i < len + add_lf; i++)
		want_lines += expect[i] == '\n';
	assert_int_equal(enc_lines, want_lines);

	struct dec_expect dx = { .out = { .p = expect, .len = len + add_lf },
				 .flags = memchr(x, '\0', len) != NULL ?
						  DOT_FLAG_NUL : 0,
				 .ended = true,
				 .left = sizeof(pipelined) - 1,
				 .lines = want_lines };
	if (rng != NULL) {
		size_t cut[4];
		struct split dsp;

		rng_split(rng, total, cut, &dsp);
		dec_check("random round trip", wire, total, false, &dsp, &dx);
	} else {
		dec_check_all_splits("round trip", wire, total, false, &dx);
	}
	free(expect);
	free(wire);
}

static void test_round_trip(void **state)
{
	static const struct bytes xs[] = {
		B(""), B("a\n"), B(".\n"), B("..\n"), B(".\n.\n"),
		B("a\n.\nb\n"), B("\n"), B("\n\n.\n\n"),
		B("x\n..\n...\n"), B("no newline"), B("."),
		B("Subject: t\n\n.\n..\nend"), B("\xc3\xa9\n\0\n"),
	};
	struct split whole = { .n = 0, .how = "whole" };

	(void)state;
	for (size_t i = 0; i < sizeof(xs) / sizeof(xs[0]); i++)
		round_trip(xs[i].p, xs[i].len, &whole, NULL);
}

/* ------------------------------------------------------------------ */
/* Randomized tests                                                    */

static void test_round_trip_random(void **state)
{
	static const char alphabet[] = { 'a', '.', '\n' };
	uint64_t seed = 0x6b6f6e76657274ULL;
	char x[200];

	(void)state;
	for (int iter = 0; iter < 2000; iter++) {
		size_t len = rng_below(&seed, sizeof(x) + 1);
		size_t ecut[4];
		struct split esp;

		for (size_t i = 0; i < len; i++)
			x[i] = alphabet[rng_below(&seed, sizeof(alphabet))];
		rng_split(&seed, len, ecut, &esp);
		round_trip(x, len, &esp, &seed);
	}
}

/* Stored text with stray CRs (never produced by konvert, but the encoder
 * must stay safe): the encoded form still ends exactly at its own end. */
static void test_encoder_bare_cr_random(void **state)
{
	static const char alphabet[] = { 'a', '.', '\r', '\n' };
	uint64_t seed = 0x43524352ULL;
	char x[40];

	(void)state;
	for (int iter = 0; iter < 5000; iter++) {
		size_t len = rng_below(&seed, sizeof(x) + 1);
		size_t ecut[4], dcut[4], wire_len;
		struct split esp, dsp;
		struct dec_result r;
		uint64_t lines;

		for (size_t i = 0; i < len; i++)
			x[i] = alphabet[rng_below(&seed, sizeof(alphabet))];
		rng_split(&seed, len, ecut, &esp);
		char *wire = enc_run(x, len, &esp, &wire_len, &lines);

		wire = xrealloc(wire, wire_len + 3);
		memcpy(wire + wire_len, ".\r\n", 3);
		rng_split(&seed, wire_len + 3, dcut, &dsp);
		dec_run(wire, wire_len + 3, false, &dsp, &r);
		assert_true(r.ended);
		assert_int_equal(r.consumed, wire_len);
		assert_int_equal(r.lines, lines);
		dec_result_fini(&r);
		free(wire);
	}
}

/* Reference model of the decoder, line based rather than a state machine:
 * find the first end marker, cut the body at every CR LF, drop one leading
 * dot per line, keep everything else; an unfinished last line loses a held
 * trailing CR (flushed as bare CR by finish in BDAT mode). */
static void ref_decode(const char *in, size_t len, bool bdat,
		       struct dec_result *r)
{
	size_t body_len = len;

	memset(r, 0, sizeof(*r));
	r->out = xmalloc(len + 3);
	r->consumed = len;
	if (!bdat) {
		if (len >= 3 && memcmp(in, ".\r\n", 3) == 0) {
			r->ended = true;
			body_len = 0;
			r->consumed = 3;
		}
		for (size_t i = 0; !r->ended && i + 5 <= len; i++) {
			if (memcmp(in + i, "\r\n.\r\n", 5) == 0) {
				r->ended = true;
				body_len = i + 2;
				r->consumed = i + 5;
			}
		}
	}
	size_t ls = 0;

	while (ls < body_len) {
		size_t le = ls;
		bool complete = false;

		while (le < body_len) {
			if (in[le] == '\r' && le + 1 < body_len &&
			    in[le + 1] == '\n') {
				complete = true;
				break;
			}
			le++;
		}
		size_t cs = ls, ce = le;

		if (!complete && !bdat && ce > cs && in[ce - 1] == '\r')
			ce--;
		if (!bdat && ce > cs && in[cs] == '.')
			cs++;
		for (size_t i = cs; i < ce; i++) {
			if (in[i] == '\r')
				r->flags |= DOT_FLAG_BARE_CR;
			else if (in[i] == '\n')
				r->flags |= DOT_FLAG_BARE_LF;
			else if (in[i] == '\0')
				r->flags |= DOT_FLAG_NUL;
			r->out[r->out_len++] = in[i];
		}
		if (complete) {
			r->out[r->out_len++] = '\n';
			r->lines++;
			le += 2;
		}
		ls = le;
	}
}

static void test_decoder_random_vs_model(void **state)
{
	static const char alphabet[] = { 'a', '.', '.', '\r', '\r', '\n',
					 '\n', '\0', '\xe9' };
	uint64_t seed = 0x536d7567676c65ULL;
	char in[60];

	(void)state;
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = rng_below(&seed, sizeof(in) + 1);
		bool bdat = rng_below(&seed, 4) == 0;
		size_t cut[4];
		struct split sp;
		struct dec_result want;

		for (size_t i = 0; i < len; i++)
			in[i] = alphabet[rng_below(&seed, sizeof(alphabet))];
		rng_split(&seed, len, cut, &sp);
		ref_decode(in, len, bdat, &want);

		struct dec_expect x = {
			.out = { .p = want.out, .len = want.out_len },
			.flags = want.flags, .ended = want.ended,
			.left = len - want.consumed, .lines = want.lines,
		};
		dec_check("random vs model", in, len, bdat, &sp, &x);
		dec_result_fini(&want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decoder_table),
		cmocka_unit_test(test_decoder_long_line),
		cmocka_unit_test(test_decoder_end_split_calls),
		cmocka_unit_test(test_encoder_table),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_round_trip_random),
		cmocka_unit_test(test_encoder_bare_cr_random),
		cmocka_unit_test(test_decoder_random_vs_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
