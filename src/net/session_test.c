/* session_test: unit tests for net/session.c, the session core under every
 * protocol, driven on a real libevent loop by a scripted peer at the other
 * end of a socketpair. A small fake protocol (the "owner") records what
 * the core hands it: lines in order, a too-long line, secret lines wiped,
 * output backpressure, the pause while a "job" runs (buffered input taken
 * up afterwards), the deferred free when the peer goes away during a job,
 * the shutdown goodbye for an idle and for a busy session (only after the
 * job), and the idle timeout (never while the owner works). */
#include "net/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/log.h"
#include "net/conn.h"

#define MAX_LINES 16
#define WAIT_MS 3000

/* What the fake protocol saw; outlives the owner (which the core frees). */
struct record {
	char lines[MAX_LINES][128];
	size_t out_len_at[MAX_LINES]; /* output queued when the line came */
	size_t nlines;
	unsigned too_long;
	unsigned timeouts;
	unsigned goodbyes;
	unsigned abandons;
	unsigned released;
};

/* The fake protocol's session: "job" starts work that the test finishes
 * by hand (fake_job_done); "echo" writes 100 bytes. */
struct fake {
	struct session core;
	char sid[16];
	struct record *rec; /* borrowed */
	enum session_mode mode;
	bool busy; /* a "job" is in flight */
	bool closed;
};

struct env {
	struct session *sessions;
	unsigned live;
};

/* ---- the fake protocol's hooks ---------------------------------------- */

static enum session_mode fake_mode(void *owner)
{
	return ((struct fake *)owner)->mode;
}

static void fake_on_line(void *owner, enum linereader_status st, const char *line, size_t len)
{
	struct fake *f = owner;
	if (st == LINEREADER_TOO_LONG) {
		f->rec->too_long++;
		conn_printf(f->core.conn, "ERR too long\r\n");
		return;
	}
	assert_true(f->rec->nlines < MAX_LINES);
	(void)snprintf(f->rec->lines[f->rec->nlines], sizeof(f->rec->lines[0]), "%.*s", (int)len,
		       line);
	f->rec->out_len_at[f->rec->nlines] = conn_output_len(f->core.conn);
	f->rec->nlines++;
	if (strcmp(line, "job") == 0) {
		f->mode = SESSION_MODE_WORKING;
		f->busy = true;
		session_state_changed(&f->core);
	} else if (strcmp(line, "echo") == 0) {
		char big[100];
		memset(big, 'e', sizeof(big) - 2);
		memcpy(big + sizeof(big) - 2, "\r\n", 2);
		conn_write(f->core.conn, big, sizeof(big));
	}
}

/* Only "PASS ..." lines are secret (like SMTP's AUTH). */
static bool fake_line_is_secret(void *owner, const char *line, size_t len)
{
	(void)owner;
	return len >= 5 && memcmp(line, "PASS ", 5) == 0;
}

static void fake_on_timeout(void *owner)
{
	struct fake *f = owner;
	f->rec->timeouts++;
	conn_printf(f->core.conn, "TIMEOUT\r\n");
}

static bool fake_is_busy(const void *owner)
{
	return ((const struct fake *)owner)->busy;
}

static bool fake_abandon(void *owner)
{
	struct fake *f = owner;
	f->rec->abandons++;
	return f->busy;
}

static void fake_goodbye(void *owner)
{
	struct fake *f = owner;
	f->rec->goodbyes++;
	conn_printf(f->core.conn, "BYE\r\n");
}

static void fake_enter_closed(void *owner)
{
	struct fake *f = owner;
	f->closed = true;
	f->mode = SESSION_MODE_HOLD;
}

static const char *fake_state_name(const void *owner)
{
	return ((const struct fake *)owner)->busy ? "busy" : "idle";
}

static void fake_end_fields(const void *owner, char *out, size_t size)
{
	(void)snprintf(out, size, "lines=%zu", ((const struct fake *)owner)->rec->nlines);
}

static void fake_release(void *owner)
{
	struct fake *f = owner;
	assert_false(f->busy);
	f->rec->released++;
}

static const struct session_ops fake_ops = {
	.proto = "fake",
	.mode = fake_mode,
	.on_line = fake_on_line,
	.line_is_secret = fake_line_is_secret,
	.on_timeout = fake_on_timeout,
	.is_busy = fake_is_busy,
	.abandon = fake_abandon,
	.goodbye = fake_goodbye,
	.enter_closed = fake_enter_closed,
	.state_name = fake_state_name,
	.end_fields = fake_end_fields,
	.release = fake_release,
};

/* The job returns: the fake takes lines again, or the core frees a dead
 * session. Returns true when it was freed. */
static bool fake_job_done(struct fake *f, const char *reply)
{
	f->busy = false;
	if (session_job_done(&f->core))
		return true;
	f->mode = SESSION_MODE_LINES;
	if (reply != NULL)
		conn_printf(f->core.conn, "%s\r\n", reply);
	session_state_changed(&f->core);
	session_process_input(&f->core);
	return false;
}

/* ---- the fixture: a loop, a session and its scripted peer --------------- */

struct fix {
	struct event_base *base;
	struct env env;
	struct record rec;
	struct fake *f; /* owned by the core; valid until rec.released */
	int peer; /* the scripted client's end */
	char got[4096]; /* what the peer has read */
	size_t got_len;
	bool peer_eof;
};

static struct fix *fix_new(size_t line_max, size_t output_high)
{
	struct fix *x = xcalloc(1, sizeof(*x));
	x->base = event_base_new();
	assert_non_null(x->base);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(evutil_make_socket_nonblocking(sv[0]), 0);
	assert_int_equal(evutil_make_socket_nonblocking(sv[1]), 0);
	x->peer = sv[1];
	struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000)};
	peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct fake *f = xcalloc(1, sizeof(*f));
	(void)snprintf(f->sid, sizeof(f->sid), "testsid");
	f->rec = &x->rec;
	f->mode = SESSION_MODE_LINES;
	const struct session_params p = {
		.ops = &fake_ops,
		.owner = f,
		.sid = f->sid,
		.base = x->base,
		.fd = sv[0],
		.peer = (const struct sockaddr *)&peer,
		.peer_len = sizeof(peer),
		.list = &x->env.sessions,
		.live = &x->env.live,
		.listener = METRICS_LISTENER_POP2,
		.line_max = line_max,
		.output_high = output_high,
	};
	session_start(&f->core, &p);
	x->f = f;
	assert_int_equal(x->env.live, 1);
	assert_ptr_equal(x->env.sessions, &f->core);
	return x;
}

static void fix_free(struct fix *x)
{
	session_free_all(&x->env.sessions);
	assert_int_equal(x->env.live, 0);
	assert_int_equal(x->rec.released, 1);
	if (x->peer >= 0)
		(void)close(x->peer);
	event_base_free(x->base);
	free(x);
}

static void peer_send(struct fix *x, const char *text)
{
	size_t len = strlen(text);
	assert_int_equal(write(x->peer, text, len), (ssize_t)len);
}

static void peer_read(struct fix *x)
{
	while (!x->peer_eof && x->peer >= 0 && x->got_len < sizeof(x->got) - 1) {
		ssize_t n = read(x->peer, x->got + x->got_len, sizeof(x->got) - 1 - x->got_len);
		if (n > 0) {
			x->got_len += (size_t)n;
			x->got[x->got_len] = '\0';
		} else if (n == 0) {
			x->peer_eof = true;
		} else {
			break;
		}
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop (and the peer's reads) until cond holds; fails after
 * WAIT_MS. cond NULL: runs for ms and returns. */
static void run(struct fix *x, bool (*cond)(struct fix *), int64_t ms)
{
	int64_t end = now_ms() + (cond != NULL ? WAIT_MS : ms);
	for (;;) {
		(void)event_base_loop(x->base, EVLOOP_NONBLOCK);
		peer_read(x);
		if (cond != NULL && cond(x))
			return;
		if (now_ms() >= end)
			break;
		(void)usleep(1000);
	}
	if (cond != NULL)
		fail_msg("condition not reached in %d ms", WAIT_MS);
}

static bool released(struct fix *x)
{
	return x->rec.released > 0;
}

static bool peer_eof(struct fix *x)
{
	return x->peer_eof;
}

static size_t want_lines;
static bool has_lines(struct fix *x)
{
	return x->rec.nlines >= want_lines;
}

static void wait_lines(struct fix *x, size_t n)
{
	want_lines = n;
	run(x, has_lines, 0);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_lines_in_order(void **state)
{
	(void)state;
	struct fix *x = fix_new(64, 1 << 16);
	/* A line split over two writes, a bare LF, a CRLF. */
	peer_send(x, "one\r\ntw");
	run(x, NULL, 20);
	assert_int_equal(x->rec.nlines, 1);
	peer_send(x, "o\nthree\r\n");
	wait_lines(x, 3);
	assert_string_equal(x->rec.lines[0], "one");
	assert_string_equal(x->rec.lines[1], "two");
	assert_string_equal(x->rec.lines[2], "three");
	/* Not secret: the reader's copy stays. */
	assert_memory_equal(x->f->core.lr.buf, "three", 5);
	/* A secret line is wiped from the reader's buffer once handled. */
	peer_send(x, "PASS hunter2\r\n");
	wait_lines(x, 4);
	assert_string_equal(x->rec.lines[3], "PASS hunter2");
	assert_null(memmem(x->f->core.lr.buf, x->f->core.lr.cap, "hunter2", 7));
	fix_free(x);
}

static void test_too_long(void **state)
{
	(void)state;
	struct fix *x = fix_new(16, 1 << 16);
	char line[64];
	memset(line, 'x', 40);
	memcpy(line + 40, "\r\nok\r\n", 7);
	peer_send(x, line);
	wait_lines(x, 1);
	/* Reported once, discarded up to its LF, the stream stays in step. */
	assert_int_equal(x->rec.too_long, 1);
	assert_string_equal(x->rec.lines[0], "ok");
	run(x, NULL, 10);
	assert_string_equal(x->got, "ERR too long\r\n");
	fix_free(x);
}

/* Above output_high no line is taken until the client read our output. */
static void test_output_backpressure(void **state)
{
	(void)state;
	struct fix *x = fix_new(64, 64);
	peer_send(x, "echo\r\nnext\r\n");
	wait_lines(x, 2);
	assert_int_equal(x->rec.out_len_at[0], 0);
	/* "next" waited for the 100 bytes of "echo" to drain. */
	assert_int_equal(x->rec.out_len_at[1], 0);
	run(x, NULL, 10);
	assert_int_equal(x->got_len, 100);
	fix_free(x);
}

/* While a job runs the session takes no input; what arrived meanwhile is
 * taken up in order when the job returns. */
static void test_pause_while_job_runs(void **state)
{
	(void)state;
	struct fix *x = fix_new(64, 1 << 16);
	peer_send(x, "job\r\nafter1\r\n");
	wait_lines(x, 1);
	peer_send(x, "after2\r\n");
	run(x, NULL, 50);
	assert_int_equal(x->rec.nlines, 1);
	assert_true(x->f->busy);
	assert_false(fake_job_done(x->f, "DONE"));
	wait_lines(x, 3);
	assert_string_equal(x->rec.lines[1], "after1");
	assert_string_equal(x->rec.lines[2], "after2");
	run(x, NULL, 10);
	assert_string_equal(x->got, "DONE\r\n");
	fix_free(x);
}

static bool abandoned(struct fix *x)
{
	return x->rec.abandons > 0;
}

/* The peer leaves while a job runs: the session is marked dead, not freed,
 * until the job returns. */
static void test_deferred_free(void **state)
{
	(void)state;
	struct fix *x = fix_new(64, 1 << 16);
	peer_send(x, "job\r\n");
	wait_lines(x, 1);
	(void)close(x->peer);
	x->peer = -1;
	/* Reading is off during the job: the loss shows when we write. */
	conn_printf(x->f->core.conn, "progress\r\n");
	run(x, abandoned, 0);
	assert_true(session_is_dead(&x->f->core));
	assert_int_equal(x->rec.released, 0);
	assert_int_equal(x->env.live, 1);
	run(x, NULL, 20);
	assert_int_equal(x->rec.released, 0);
	assert_true(fake_job_done(x->f, NULL)); /* frees it */
	assert_int_equal(x->rec.released, 1);
	assert_int_equal(x->env.live, 0);
	assert_null(x->env.sessions);
	fix_free(x);
}

/* Without work in flight a vanished peer frees the session at once. */
static void test_peer_close_idle(void **state)
{
	(void)state;
	struct fix *x = fix_new(64, 1 << 16);
	peer_send(x, "hello\r\n");
	wait_lines(x, 1);
	(void)close(x->peer);
	x->peer = -1;
	run(x, released, 0);
	assert_int_equal(x->rec.abandons, 1);
	assert_int_equal(x->env.live, 0);
	fix_free(x);
}

static void test_shutdown_idle(void **state)
{
	(void)state;
	struct fix *x = fix_new(64, 1 << 16);
	session_shutdown_all(x->env.sessions);
	assert_int_equal(x->rec.goodbyes, 1);
	assert_true(x->f->closed);
	run(x, released, 0);
	run(x, peer_eof, 0);
	assert_string_equal(x->got, "BYE\r\n");
	fix_free(x);
}

/* A busy session gets its goodbye only after its job: the serve code
 * repeats the shutdown until every session is gone. */
static void test_shutdown_busy(void **state)
{
	(void)state;
	struct fix *x = fix_new(64, 1 << 16);
	peer_send(x, "job\r\n");
	wait_lines(x, 1);
	session_shutdown_all(x->env.sessions);
	assert_int_equal(x->rec.goodbyes, 0);
	run(x, NULL, 30);
	assert_int_equal(x->got_len, 0);
	session_shutdown_all(x->env.sessions); /* still busy */
	assert_int_equal(x->rec.goodbyes, 0);
	assert_false(fake_job_done(x->f, "DONE"));
	session_shutdown_all(x->env.sessions);
	assert_int_equal(x->rec.goodbyes, 1);
	session_shutdown_all(x->env.sessions); /* closing already: nothing */
	assert_int_equal(x->rec.goodbyes, 1);
	run(x, released, 0);
	run(x, peer_eof, 0);
	assert_string_equal(x->got, "DONE\r\nBYE\r\n");
	fix_free(x);
}

/* The idle deadline closes the session after the protocol's timeout line;
 * while a job runs it never fires, and a fresh one starts after. */
static void test_idle_timeout(void **state)
{
	(void)state;
	struct fix *x = fix_new(64, 1 << 16);
	session_set_deadlines(&x->f->core, 60, 0);
	peer_send(x, "job\r\n");
	wait_lines(x, 1);
	run(x, NULL, 200);
	assert_int_equal(x->rec.timeouts, 0);
	assert_int_equal(x->rec.released, 0);
	int64_t t0 = now_ms();
	assert_false(fake_job_done(x->f, NULL));
	run(x, released, 0);
	assert_true(now_ms() - t0 >= 50);
	assert_int_equal(x->rec.timeouts, 1);
	run(x, peer_eof, 0);
	assert_string_equal(x->got, "TIMEOUT\r\n");
	fix_free(x);
}

/* A line restarts the deadline: lines spaced below it keep the session. */
static void test_lines_restart_deadline(void **state)
{
	(void)state;
	struct fix *x = fix_new(64, 1 << 16);
	session_set_deadlines(&x->f->core, 150, 0);
	for (int i = 0; i < 4; i++) {
		run(x, NULL, 80);
		peer_send(x, "noop\r\n");
	}
	wait_lines(x, 4);
	assert_int_equal(x->rec.timeouts, 0);
	run(x, released, 0);
	assert_int_equal(x->rec.timeouts, 1);
	fix_free(x);
}

int main(void)
{
	(void)signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_in_order),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_output_backpressure),
		cmocka_unit_test(test_pause_while_job_runs),
		cmocka_unit_test(test_deferred_free),
		cmocka_unit_test(test_peer_close_idle),
		cmocka_unit_test(test_shutdown_idle),
		cmocka_unit_test(test_shutdown_busy),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_lines_restart_deadline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
