/* queue_control_test: the control socket on a real libevent loop in a temp
 * data_dir. A blocking client connects and writes (a unix socket takes a
 * short command without the server's help), then the loop runs until the
 * server has answered and closed. Checks the replies, what the ops saw,
 * the refused peer, the idle timeout, over-long lines, the socket file's
 * mode, stale-socket replacement and the refusal of a planted name. */
#include "queue/queue_control.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <cmocka.h>

#define WAIT_MS 5000

struct recorder {
	int flush_calls, del_calls;
	char last_domain[300]; /* "(null)" for FLUSH without domain */
	char last_id[64];
	int rc; /* what the ops return */
	const char *msg; /* what the ops write, or NULL */
	bool refuse; /* may_control says no */
	uid_t seen_uid;
};

struct fixture {
	char dir[64];
	char sock[100];
	struct event_base *base;
	struct queue_control *qc;
	struct recorder rec;
};

static int rec_flush(void *ctx, const char *domain, char *msg, size_t msg_size)
{
	struct recorder *r = ctx;

	r->flush_calls++;
	(void)snprintf(r->last_domain, sizeof(r->last_domain), "%s",
		       domain != NULL ? domain : "(null)");
	if (r->msg != NULL)
		(void)snprintf(msg, msg_size, "%s", r->msg);
	return r->rc;
}

static int rec_del(void *ctx, const char *id, char *msg, size_t msg_size)
{
	struct recorder *r = ctx;

	r->del_calls++;
	(void)snprintf(r->last_id, sizeof(r->last_id), "%s", id);
	if (r->msg != NULL)
		(void)snprintf(msg, msg_size, "%s", r->msg);
	return r->rc;
}

/* TLSREPORT is counted as a flush of "today" or "(null)". */
static int rec_tls(void *ctx, bool today, char *msg, size_t msg_size)
{
	return rec_flush(ctx, today ? "today" : NULL, msg, msg_size);
}

static bool rec_may(void *ctx, uid_t uid)
{
	struct recorder *r = ctx;

	r->seen_uid = uid;
	return !r->refuse;
}

static struct queue_control *start(struct fixture *fx, bool hook, unsigned idle_ms)
{
	struct queue_control_ops ops = {
		.flush = rec_flush,
		.del = rec_del,
		.tls_report = rec_tls,
		.may_control = hook ? rec_may : NULL,
		.ctx = &fx->rec,
		.idle_ms = idle_ms,
	};
	char err[256] = "";
	struct queue_control *qc = queue_control_new(fx->base, fx->dir, &ops, err, sizeof(err));

	if (qc == NULL)
		print_error("queue_control_new: %s\n", err);
	return qc;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	(void)snprintf(fx->dir, sizeof(fx->dir), "/tmp/qctl-test.XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	(void)snprintf(fx->sock, sizeof(fx->sock), "%s/control.sock", fx->dir);
	fx->base = event_base_new();
	if (fx->base == NULL)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	queue_control_free(&fx->qc);
	(void)unlink(fx->sock);
	(void)rmdir(fx->dir);
	event_base_free(fx->base);
	free(fx);
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int client_connect(const struct fixture *fx)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	(void)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", fx->sock);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* Runs the loop until the server closes fd's connection; returns what it
 * sent (NUL-terminated in out). */
static void collect(struct fixture *fx, int fd, char *out, size_t out_size)
{
	size_t len = 0;
	int64_t deadline = now_ms() + WAIT_MS;

	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	for (;;) {
		ssize_t r;

		assert_int_equal(event_base_loop(fx->base, EVLOOP_NONBLOCK), 0);
		r = read(fd, out + len, out_size - 1 - len);
		if (r == 0)
			break;
		if (r > 0) {
			len += (size_t)r;
			assert_true(len < out_size - 1);
			continue;
		}
		assert_true(errno == EAGAIN || errno == ECONNRESET);
		if (errno == ECONNRESET)
			break;
		assert_true(now_ms() < deadline);
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		(void)poll(&pfd, 1, 5);
	}
	out[len] = '\0';
}

static void roundtrip(struct fixture *fx, const char *send, size_t send_len, char *out,
		      size_t out_size)
{
	int fd = client_connect(fx);

	if (send_len > 0)
		assert_int_equal(write(fd, send, send_len), (ssize_t)send_len);
	collect(fx, fd, out, out_size);
	(void)close(fd);
}

static void ask(struct fixture *fx, const char *send, char *out, size_t out_size)
{
	roundtrip(fx, send, strlen(send), out, out_size);
}

/* ---- command table ---- */

struct cmd_case {
	const char *send;
	int rc; /* what the op returns */
	const char *msg; /* what the op writes */
	const char *expect; /* the whole reply */
	int flush_calls, del_calls;
	const char *domain, *id; /* what the op saw, when called */
};

static const struct cmd_case cmd_cases[] = {
	{ .send = "FLUSH\n", .expect = "OK flushing\n", .flush_calls = 1, .domain = "(null)" },
	{ .send = "flush\r\n", .expect = "OK flushing\n", .flush_calls = 1, .domain = "(null)" },
	{ .send = "FLUSH Example.ORG\n", .msg = "3 messages", .expect = "OK 3 messages\n",
	  .flush_calls = 1, .domain = "example.org" },
	{ .send = "  FLUSH \t example.org  \n", .expect = "OK flushing\n", .flush_calls = 1,
	  .domain = "example.org" },
	{ .send = "FLUSH exa_mple.org\n", .expect = "ERR bad domain\n" },
	{ .send = "FLUSH a b\n", .expect = "ERR unknown command (FLUSH [DOMAIN] or DELETE ID)\n" },
	{ .send = "FLUSH\n", .rc = -1, .msg = "not now", .expect = "ERR not now\n",
	  .flush_calls = 1, .domain = "(null)" },
	{ .send = "DELETE 0123456789ABCDEF\n", .expect = "OK deleted\n", .del_calls = 1,
	  .id = "0123456789ABCDEF" },
	{ .send = "delete 0123456789ABCDEF\nFLUSH\n", .expect = "OK deleted\n", .del_calls = 1,
	  .id = "0123456789ABCDEF" },
	{ .send = "DELETE 0123456789ABCDEF\n", .rc = -1,
	  .msg = "no message 0123456789ABCDEF in the queue",
	  .expect = "ERR no message 0123456789ABCDEF in the queue\n", .del_calls = 1,
	  .id = "0123456789ABCDEF" },
	/* An op's message cannot add a line to the reply. */
	{ .send = "DELETE 0123456789ABCDEF\n", .msg = "gone\nOK forged", .expect = "OK gone\n",
	  .del_calls = 1, .id = "0123456789ABCDEF" },
	{ .send = "DELETE 0123456789abcdef\n", .expect = "ERR bad message id\n" },
	{ .send = "DELETE ../../etc/passwd\n", .expect = "ERR bad message id\n" },
	{ .send = "DELETE\n", .expect = "ERR unknown command (FLUSH [DOMAIN] or DELETE ID)\n" },
	{ .send = "\n", .expect = "ERR unknown command (FLUSH [DOMAIN] or DELETE ID)\n" },
	{ .send = "HELP\n", .expect = "ERR unknown command (FLUSH [DOMAIN] or DELETE ID)\n" },
	{ .send = "TLSREPORT\n", .expect = "OK sending\n", .flush_calls = 1, .domain = "(null)" },
	{ .send = "tlsreport Today\n", .expect = "OK sending\n", .flush_calls = 1,
	  .domain = "today" },
	{ .send = "TLSREPORT yesterday\n",
	  .expect = "ERR unknown command (FLUSH [DOMAIN] or DELETE ID)\n" },
	/* No line end: nothing is done, the peer's EOF ends it. */
	{ .send = "FLUSH", .expect = "" },
};

static void test_commands(void **state)
{
	struct fixture *fx = *state;
	char out[1024];

	fx->qc = start(fx, false, 0);
	assert_non_null(fx->qc);
	for (size_t i = 0; i < sizeof(cmd_cases) / sizeof(cmd_cases[0]); i++) {
		const struct cmd_case *c = &cmd_cases[i];
		int fd;

		memset(&fx->rec, 0, sizeof(fx->rec));
		fx->rec.rc = c->rc;
		fx->rec.msg = c->msg;
		fd = client_connect(fx);
		assert_int_equal(write(fd, c->send, strlen(c->send)), (ssize_t)strlen(c->send));
		if (c->expect[0] == '\0')
			assert_int_equal(shutdown(fd, SHUT_WR), 0);
		collect(fx, fd, out, sizeof(out));
		(void)close(fd);
		if (strcmp(out, c->expect) != 0)
			fail_msg("case %zu (%s): got '%s', want '%s'", i, c->send, out, c->expect);
		assert_int_equal(fx->rec.flush_calls, c->flush_calls);
		assert_int_equal(fx->rec.del_calls, c->del_calls);
		if (c->domain != NULL)
			assert_string_equal(fx->rec.last_domain, c->domain);
		if (c->id != NULL)
			assert_string_equal(fx->rec.last_id, c->id);
	}
}

/* The same command revealed byte by byte. */
static void test_byte_by_byte(void **state)
{
	struct fixture *fx = *state;
	const char *cmd = "FLUSH example.net\r\n";
	char out[256];
	int fd;

	fx->qc = start(fx, false, 0);
	assert_non_null(fx->qc);
	fd = client_connect(fx);
	for (size_t i = 0; cmd[i] != '\0'; i++) {
		assert_int_equal(write(fd, cmd + i, 1), 1);
		for (int k = 0; k < 3; k++)
			assert_int_equal(event_base_loop(fx->base, EVLOOP_NONBLOCK), 0);
		if (cmd[i + 1] != '\0')
			assert_int_equal(fx->rec.flush_calls, 0);
	}
	collect(fx, fd, out, sizeof(out));
	(void)close(fd);
	assert_string_equal(out, "OK flushing\n");
	assert_int_equal(fx->rec.flush_calls, 1);
	assert_string_equal(fx->rec.last_domain, "example.net");
}

static void test_too_long(void **state)
{
	struct fixture *fx = *state;
	char big[QUEUE_CONTROL_LINE_MAX + 100], out[256];

	fx->qc = start(fx, false, 0);
	assert_non_null(fx->qc);
	memset(big, 'A', sizeof(big));
	memcpy(big, "FLUSH ", 6);
	roundtrip(fx, big, sizeof(big), out, sizeof(out));
	assert_string_equal(out, "ERR command too long\n");
	assert_int_equal(fx->rec.flush_calls, 0);
}

static void test_refused_peer(void **state)
{
	struct fixture *fx = *state;
	char out[256];

	fx->qc = start(fx, true, 0);
	assert_non_null(fx->qc);
	fx->rec.refuse = true;
	fx->rec.seen_uid = (uid_t)-1;
	ask(fx, "DELETE 0123456789ABCDEF\n", out, sizeof(out));
	assert_string_equal(out, "ERR permission denied\n");
	assert_int_equal(fx->rec.del_calls, 0);
	/* The hook saw the real peer: this process. */
	assert_int_equal(fx->rec.seen_uid, geteuid());

	fx->rec.refuse = false;
	ask(fx, "DELETE 0123456789ABCDEF\n", out, sizeof(out));
	assert_string_equal(out, "OK deleted\n");
	assert_int_equal(fx->rec.del_calls, 1);
}

static void test_idle_peer_dropped(void **state)
{
	struct fixture *fx = *state;
	char out[256];
	int64_t t0 = now_ms();

	fx->qc = start(fx, false, 100);
	assert_non_null(fx->qc);
	ask(fx, "", out, sizeof(out));
	assert_string_equal(out, "");
	assert_true(now_ms() - t0 >= 90);
	/* A slow half line is dropped too. */
	ask(fx, "FLU", out, sizeof(out));
	assert_string_equal(out, "");
	assert_int_equal(fx->rec.flush_calls, 0);
}

static void test_socket_file(void **state)
{
	struct fixture *fx = *state;
	struct stat st;

	fx->qc = start(fx, false, 0);
	assert_non_null(fx->qc);
	assert_int_equal(lstat(fx->sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, geteuid());
	queue_control_free(&fx->qc);
	assert_null(fx->qc);
	assert_int_equal(lstat(fx->sock, &st), -1);
	assert_int_equal(errno, ENOENT);
	queue_control_free(&fx->qc); /* NULL is fine */
}

/* A socket left by a killed server is replaced. */
static void test_stale_socket(void **state)
{
	struct fixture *fx = *state;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char out[256];
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	(void)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", fx->sock);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	(void)close(fd);
	fx->qc = start(fx, false, 0);
	assert_non_null(fx->qc);
	ask(fx, "FLUSH\n", out, sizeof(out));
	assert_string_equal(out, "OK flushing\n");
}

/* A file, a link or a directory of that name is never removed. */
static void test_planted_name(void **state)
{
	struct fixture *fx = *state;
	char target[128], err[256];
	struct stat st;
	struct queue_control_ops ops = { .flush = rec_flush, .del = rec_del, .ctx = &fx->rec };
	int fd;

	(void)snprintf(target, sizeof(target), "%s/target", fx->dir);
	fd = open(target, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	(void)close(fd);

	assert_int_equal(symlink(target, fx->sock), 0);
	assert_null(queue_control_new(fx->base, fx->dir, &ops, err, sizeof(err)));
	assert_non_null(strstr(err, "not a socket"));
	assert_int_equal(lstat(fx->sock, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(unlink(fx->sock), 0);

	assert_int_equal(rename(target, fx->sock), 0);
	assert_null(queue_control_new(fx->base, fx->dir, &ops, err, sizeof(err)));
	assert_int_equal(lstat(fx->sock, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(unlink(fx->sock), 0);

	assert_int_equal(mkdir(fx->sock, 0700), 0);
	assert_null(queue_control_new(fx->base, fx->dir, &ops, err, sizeof(err)));
	assert_int_equal(rmdir(fx->sock), 0);

	/* A data_dir whose socket path cannot fit in sun_path. */
	char longdir[200];
	memset(longdir, 'x', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	assert_null(queue_control_new(fx->base, longdir, &ops, err, sizeof(err)));
	assert_non_null(strstr(err, "too long"));
}

/* Free with connections open (one idle, one answered but unread): no
 * leak, no op called later, the socket file gone. */
static void test_free_with_open_connections(void **state)
{
	struct fixture *fx = *state;
	struct stat st;
	int a, b;

	fx->qc = start(fx, false, 0);
	assert_non_null(fx->qc);
	a = client_connect(fx);
	b = client_connect(fx);
	assert_int_equal(write(b, "FLUSH\n", 6), 6);
	for (int k = 0; k < 20; k++)
		assert_int_equal(event_base_loop(fx->base, EVLOOP_NONBLOCK), 0);
	queue_control_free(&fx->qc);
	assert_int_equal(lstat(fx->sock, &st), -1);
	(void)close(a);
	(void)close(b);
	/* 1: nothing left on the loop. */
	assert_int_equal(event_base_loop(fx->base, EVLOOP_NONBLOCK), 1);
}

/* More connections than QUEUE_CONTROL_CONN_MAX: the extra ones are
 * closed, the first ones still served. */
static void test_connection_limit(void **state)
{
	struct fixture *fx = *state;
	int fds[QUEUE_CONTROL_CONN_MAX + 4];
	char out[256];
	size_t n = sizeof(fds) / sizeof(fds[0]);

	fx->qc = start(fx, false, 0);
	assert_non_null(fx->qc);
	for (size_t i = 0; i < n; i++) {
		fds[i] = client_connect(fx);
		for (int k = 0; k < 3; k++)
			assert_int_equal(event_base_loop(fx->base, EVLOOP_NONBLOCK), 0);
	}
	/* The last one was closed without a word. */
	collect(fx, fds[n - 1], out, sizeof(out));
	assert_string_equal(out, "");
	assert_int_equal(write(fds[0], "FLUSH\n", 6), 6);
	collect(fx, fds[0], out, sizeof(out));
	assert_string_equal(out, "OK flushing\n");
	for (size_t i = 0; i < n; i++)
		(void)close(fds[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_byte_by_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_peer_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_planted_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_with_open_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_limit, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
