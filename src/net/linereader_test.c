/* linereader_test: unit tests for net/linereader.c. Every table case runs
 * with the input fed whole, byte by byte and at every 2-way split; all must
 * produce the same events (lines and TOO_LONG reports) and leave the same
 * bytes in the evbuffer. Separate tests cover a line that keeps growing
 * without LF (memory stays bounded) and linereader_set_max. */
#include "net/linereader.h"

#include <event2/buffer.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

/* One event from linereader_next() other than NEED_MORE. */
struct ev {
	enum linereader_status status;
	struct bytes line; /* LINEREADER_LINE only */
};

#define LINE(s) { .status = LINEREADER_LINE, .line = B(s) }
#define TOO_LONG { .status = LINEREADER_TOO_LONG }

#define EVENTS_MAX 8

struct lr_case {
	const char *name;
	struct bytes in;
	size_t max;
	struct ev ev[EVENTS_MAX];
	size_t ev_count;
	size_t rest; /* bytes still in the evbuffer at the end */
};

static const struct lr_case lr_cases[] = {
	{ .name = "crlf", .in = B("abc\r\n"), .max = 10,
	  .ev = { LINE("abc") }, .ev_count = 1 },
	{ .name = "bare lf", .in = B("abc\n"), .max = 10,
	  .ev = { LINE("abc") }, .ev_count = 1 },
	{ .name = "empty lines", .in = B("\r\n\n"), .max = 10,
	  .ev = { LINE(""), LINE("") }, .ev_count = 2 },
	{ .name = "mixed endings", .in = B("a\r\nbb\nccc\r\n"), .max = 10,
	  .ev = { LINE("a"), LINE("bb"), LINE("ccc") }, .ev_count = 3 },
	{ .name = "nul inside", .in = B("a\0b\r\n\0\n"), .max = 10,
	  .ev = { LINE("a\0b"), LINE("\0") }, .ev_count = 2 },
	{ .name = "bare cr inside kept", .in = B("a\rb\n"), .max = 10,
	  .ev = { LINE("a\rb") }, .ev_count = 1 },
	{ .name = "only the cr before lf goes", .in = B("a\r\r\n"), .max = 10,
	  .ev = { LINE("a\r") }, .ev_count = 1 },
	{ .name = "no lf yet", .in = B("abc"), .max = 10, .rest = 3 },
	{ .name = "line then partial", .in = B("abc\nde\r"), .max = 10,
	  .ev = { LINE("abc") }, .ev_count = 1, .rest = 3 },
	{ .name = "partial at exact limit + cr", .in = B("12345\r"), .max = 5,
	  .rest = 6 },
	{ .name = "exact limit crlf", .in = B("12345\r\n"), .max = 5,
	  .ev = { LINE("12345") }, .ev_count = 1 },
	{ .name = "exact limit lf", .in = B("12345\n"), .max = 5,
	  .ev = { LINE("12345") }, .ev_count = 1 },
	{ .name = "limit+1 crlf", .in = B("123456\r\nok\n"), .max = 5,
	  .ev = { TOO_LONG, LINE("ok") }, .ev_count = 2 },
	{ .name = "limit+1 lf", .in = B("123456\nok\n"), .max = 5,
	  .ev = { TOO_LONG, LINE("ok") }, .ev_count = 2 },
	{ .name = "limit+1 ending in cr cr", .in = B("12345\r\r\nok\n"),
	  .max = 5, .ev = { TOO_LONG, LINE("ok") }, .ev_count = 2 },
	{ .name = "over-long reported once then skipped",
	  .in = B("1234567890abcdef\r\nok\r\nfine\n"), .max = 5,
	  .ev = { TOO_LONG, LINE("ok"), LINE("fine") }, .ev_count = 3 },
	{ .name = "two over-long in a row",
	  .in = B("1234567890\n1234567890\r\nx\n"), .max = 5,
	  .ev = { TOO_LONG, TOO_LONG, LINE("x") }, .ev_count = 3 },
	{ .name = "over-long with nul", .in = B("\0\0\0\0\0\0\0\0\ny\n"),
	  .max = 5, .ev = { TOO_LONG, LINE("y") }, .ev_count = 2 },
	{ .name = "over-long without lf grows past limit",
	  .in = B("123456789"), .max = 5, .ev = { TOO_LONG }, .ev_count = 1,
	  .rest = 0 },
	{ .name = "over-long tail then partial", .in = B("123456789\nab"),
	  .max = 5, .ev = { TOO_LONG }, .ev_count = 1, .rest = 2 },
	{ .name = "max 0 empty line", .in = B("\r\n\n"), .max = 0,
	  .ev = { LINE(""), LINE("") }, .ev_count = 2 },
	{ .name = "max 0 one byte", .in = B("a\n\n"), .max = 0,
	  .ev = { TOO_LONG, LINE("") }, .ev_count = 2 },
};

/* ------------------------------------------------------------------ */
/* Driver                                                              */

struct got {
	struct ev ev[EVENTS_MAX + 4];
	char *owned[EVENTS_MAX + 4]; /* copies of the lines */
	size_t count;
	size_t rest;
};

static void got_fini(struct got *g)
{
	for (size_t i = 0; i < g->count; i++)
		free(g->owned[i]);
	memset(g, 0, sizeof(*g));
}

/* Calls linereader_next until NEED_MORE, appending every event to g. */
static void drain_events(struct linereader *lr, struct evbuffer *buf,
			 struct got *g, const char *what)
{
	for (;;) {
		const char *line = NULL;
		size_t len = 0;
		enum linereader_status st = linereader_next(lr, buf, &line,
							    &len);

		if (st == LINEREADER_NEED_MORE)
			return;
		if (g->count == EVENTS_MAX + 4)
			fail_msg("%s: too many events", what);
		if (st == LINEREADER_LINE) {
			assert_non_null(line);
			assert_true(len <= lr->max);
			/* NUL-terminated for convenience (linereader.h) */
			assert_int_equal(line[len], '\0');
			g->owned[g->count] = xmalloc(len + 1);
			memcpy(g->owned[g->count], line, len + 1);
			g->ev[g->count] = (struct ev){
				.status = st,
				.line = { .p = g->owned[g->count], .len = len },
			};
		} else {
			assert_int_equal(st, LINEREADER_TOO_LONG);
			g->owned[g->count] = NULL;
			g->ev[g->count] = (struct ev){ .status = st };
		}
		g->count++;
	}
}

/* Feeds in as chunks [0,cut0) [cut0,cut1) ... ; ncut cuts ascending. */
static void run_split(const struct lr_case *c, const size_t *cut, size_t ncut,
		      struct got *g, const char *what)
{
	struct linereader lr;
	struct evbuffer *buf = evbuffer_new();
	size_t start = 0;

	assert_non_null(buf);
	linereader_init(&lr, c->max);
	memset(g, 0, sizeof(*g));
	for (size_t i = 0; i <= ncut; i++) {
		size_t end = i < ncut ? cut[i] : c->in.len;

		assert_int_equal(evbuffer_add(buf, c->in.p + start,
					      end - start), 0);
		drain_events(&lr, buf, g, what);
		start = end;
	}
	g->rest = evbuffer_get_length(buf);
	linereader_fini(&lr);
	evbuffer_free(buf);
}

static void check_got(const struct lr_case *c, const struct got *g,
		      const char *how)
{
	if (g->count != c->ev_count)
		fail_msg("%s (%s): %zu events, want %zu", c->name, how,
			 g->count, c->ev_count);
	for (size_t i = 0; i < c->ev_count; i++) {
		const struct ev *w = &c->ev[i], *e = &g->ev[i];

		if (e->status != w->status)
			fail_msg("%s (%s): event %zu status %d, want %d",
				 c->name, how, i, (int)e->status,
				 (int)w->status);
		if (w->status != LINEREADER_LINE)
			continue;
		if (e->line.len != w->line.len ||
		    memcmp(e->line.p, w->line.p, w->line.len) != 0)
			fail_msg("%s (%s): event %zu line of %zu bytes differs",
				 c->name, how, i, e->line.len);
	}
	if (g->rest != c->rest)
		fail_msg("%s (%s): %zu bytes left, want %zu", c->name, how,
			 g->rest, c->rest);
}

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(lr_cases) / sizeof(lr_cases[0]); i++) {
		const struct lr_case *c = &lr_cases[i];
		struct got g;

		run_split(c, NULL, 0, &g, c->name);
		check_got(c, &g, "whole");
		got_fini(&g);

		/* byte by byte */
		size_t *cut = xcalloc(c->in.len + 1, sizeof(size_t));
		for (size_t k = 0; k < c->in.len; k++)
			cut[k] = k + 1;
		run_split(c, cut, c->in.len, &g, c->name);
		check_got(c, &g, "byte by byte");
		got_fini(&g);
		free(cut);

		/* every 2-way split */
		for (size_t k = 0; k <= c->in.len; k++) {
			char how[32];

			(void)snprintf(how, sizeof(how), "split at %zu", k);
			run_split(c, &k, 1, &g, c->name);
			check_got(c, &g, how);
			got_fini(&g);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Growing line without LF                                             */

/* A client sends an endless line: it is reported once, nothing of it is
 * kept in the evbuffer, and the stream resynchronises at the next LF. */
static void test_endless_line(void **state)
{
	(void)state;
	struct linereader lr;
	struct evbuffer *buf = evbuffer_new();
	char chunk[1000];
	const char *line;
	size_t len;
	unsigned too_long = 0;

	assert_non_null(buf);
	memset(chunk, 'x', sizeof(chunk));
	linereader_init(&lr, 512);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(evbuffer_add(buf, chunk, sizeof(chunk)), 0);
		enum linereader_status st = linereader_next(&lr, buf, &line,
							    &len);

		if (st == LINEREADER_TOO_LONG)
			too_long++;
		else
			assert_int_equal(st, LINEREADER_NEED_MORE);
		/* bounded: never more than one chunk buffered */
		assert_int_equal(evbuffer_get_length(buf), 0);
	}
	assert_int_equal(too_long, 1);
	assert_int_equal(evbuffer_add(buf, "tail\r\nnext\r\npart", 16), 0);
	assert_int_equal(linereader_next(&lr, buf, &line, &len),
			 LINEREADER_LINE);
	assert_int_equal(len, 4);
	assert_memory_equal(line, "next", 4);
	assert_int_equal(linereader_next(&lr, buf, &line, &len),
			 LINEREADER_NEED_MORE);
	assert_int_equal(evbuffer_get_length(buf), 4);
	linereader_fini(&lr);
	evbuffer_free(buf);
}

/* Up to max + 1 bytes without LF may wait (the last may be a CR). */
static void test_partial_kept_up_to_limit(void **state)
{
	(void)state;
	struct linereader lr;
	struct evbuffer *buf = evbuffer_new();
	const char *line;
	size_t len;

	assert_non_null(buf);
	linereader_init(&lr, 8);
	for (size_t i = 1; i <= 9; i++) {
		assert_int_equal(evbuffer_add(buf, "a", 1), 0);
		assert_int_equal(linereader_next(&lr, buf, &line, &len),
				 LINEREADER_NEED_MORE);
		assert_int_equal(evbuffer_get_length(buf), i);
	}
	assert_int_equal(evbuffer_add(buf, "a", 1), 0);
	assert_int_equal(linereader_next(&lr, buf, &line, &len),
			 LINEREADER_TOO_LONG);
	assert_int_equal(evbuffer_get_length(buf), 0);
	linereader_fini(&lr);
	evbuffer_free(buf);
}

/* ------------------------------------------------------------------ */
/* linereader_set_max                                                  */

struct max_step {
	size_t set_max; /* 0: keep the current limit */
	const char *feed; /* NUL-free text */
	enum linereader_status want;
	const char *line; /* expected line for LINEREADER_LINE */
};

static const struct max_step max_steps[] = {
	{ .feed = "12345\n", .want = LINEREADER_TOO_LONG },
	{ .feed = "1234\r\n", .want = LINEREADER_LINE, .line = "1234" },
	/* longer SASL-style line after growing the buffer */
	{ .set_max = 300,
	  .feed = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		  "AAAAAAAAAA\r\n",
	  .want = LINEREADER_LINE,
	  .line = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		  "AAAAAAAAAA" },
	/* shrinking keeps the buffer but enforces the smaller limit */
	{ .set_max = 3, .feed = "abcd\n", .want = LINEREADER_TOO_LONG },
	{ .feed = "abc\n", .want = LINEREADER_LINE, .line = "abc" },
	/* growing again below the old capacity */
	{ .set_max = 10, .feed = "0123456789\r\n", .want = LINEREADER_LINE,
	  .line = "0123456789" },
};

static void test_set_max(void **state)
{
	(void)state;
	struct linereader lr;
	struct evbuffer *buf = evbuffer_new();

	assert_non_null(buf);
	linereader_init(&lr, 4);
	for (size_t i = 0; i < sizeof(max_steps) / sizeof(max_steps[0]); i++) {
		const struct max_step *s = &max_steps[i];
		const char *line = NULL;
		size_t len = 0;

		if (s->set_max != 0)
			linereader_set_max(&lr, s->set_max);
		assert_int_equal(evbuffer_add(buf, s->feed, strlen(s->feed)),
				 0);
		enum linereader_status st = linereader_next(&lr, buf, &line,
							    &len);
		if (st != s->want)
			fail_msg("step %zu: status %d, want %d", i, (int)st,
				 (int)s->want);
		if (s->want == LINEREADER_LINE) {
			assert_int_equal(len, strlen(s->line));
			assert_memory_equal(line, s->line, len);
			assert_int_equal(line[len], '\0');
		}
		assert_int_equal(linereader_next(&lr, buf, &line, &len),
				 LINEREADER_NEED_MORE);
		assert_int_equal(evbuffer_get_length(buf), 0);
	}
	assert_true(lr.cap >= 300);
	linereader_fini(&lr);
	assert_null(lr.buf);
	evbuffer_free(buf);
}

/* A line already buffered when the limit grows is read under the new
 * limit (AUTH raises it before the client's next line is parsed). */
static void test_set_max_with_buffered_line(void **state)
{
	(void)state;
	struct linereader lr;
	struct evbuffer *buf = evbuffer_new();
	const char *line;
	size_t len;

	assert_non_null(buf);
	linereader_init(&lr, 4);
	assert_int_equal(evbuffer_add(buf, "ok\r\n0123456789abcdef\r\n", 22),
			 0);
	assert_int_equal(linereader_next(&lr, buf, &line, &len),
			 LINEREADER_LINE);
	assert_int_equal(len, 2);
	linereader_set_max(&lr, 16);
	assert_int_equal(linereader_next(&lr, buf, &line, &len),
			 LINEREADER_LINE);
	assert_int_equal(len, 16);
	assert_memory_equal(line, "0123456789abcdef", 16);
	assert_int_equal(linereader_next(&lr, buf, &line, &len),
			 LINEREADER_NEED_MORE);
	linereader_fini(&lr);
	evbuffer_free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_endless_line),
		cmocka_unit_test(test_partial_kept_up_to_limit),
		cmocka_unit_test(test_set_max),
		cmocka_unit_test(test_set_max_with_buffered_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
