/* metrics_http_test: the scrape endpoint on 127.0.0.1:0, its event loop in
 * a second thread (evthread_use_pthreads), fetched with blocking sockets
 * from the test thread. Covers GET /metrics (status line, content type,
 * Content-Length, Connection: close and the close itself, a known series,
 * the refresh callback before the render), HEAD, / and 404, 405 for other
 * methods, 400 for bad request lines, the 8 KiB head limit (414 and 431),
 * a request revealed byte by byte, bare LF line ends, a client that
 * half-closes after its request, the 16-connection cap (503, slots come
 * back) and the per-connection timeout. Every socket read has a 5 s
 * timeout, so a hang fails the test instead of stalling it. */
#include "net/metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
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

#include "core/metrics.h"

struct fixture {
	struct event_base *base;
	struct metrics_http *mh;
	uint16_t port;
	pthread_t loop;
	struct event *stop; /* made active by teardown, from the test thread */
	atomic_uint refreshes;
};

static void refresh_cb(void *arg)
{
	struct fixture *fx = arg;
	unsigned n = atomic_fetch_add(&fx->refreshes, 1) + 1;
	metrics_set_queue(1000 + n, 60);
}

/* On the loop thread. A loopbreak from the test thread could come before
 * the loop starts, and event_base_loop forgets a break made before it. */
static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct fixture *fx = arg;
	(void)event_base_loopbreak(fx->base);
}

static void *loop_main(void *arg)
{
	struct fixture *fx = arg;
	(void)event_base_loop(fx->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static int start(void **state, unsigned timeout_ms)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (fx == NULL)
		return -1;
	metrics_reset();
	fx->base = event_base_new();
	if (fx->base == NULL)
		return -1;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	char err[256];
	fx->mh = metrics_http_new(fx->base, (const struct sockaddr *)&sin, sizeof(sin), refresh_cb,
				  fx, err, sizeof(err));
	if (fx->mh == NULL) {
		fprintf(stderr, "metrics_http_new: %s\n", err);
		return -1;
	}
	if (timeout_ms != 0)
		metrics_http_set_timeout(fx->mh, timeout_ms);
	fx->port = metrics_http_port(fx->mh);
	fx->stop = event_new(fx->base, -1, 0, stop_cb, fx);
	if (fx->port == 0 || fx->stop == NULL)
		return -1;
	if (pthread_create(&fx->loop, NULL, loop_main, fx) != 0)
		return -1;
	*state = fx;
	return 0;
}

static int setup(void **state)
{
	return start(state, 0);
}

static int setup_short_timeout(void **state)
{
	return start(state, 300);
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	event_active(fx->stop, EV_TIMEOUT, 1);
	(void)pthread_join(fx->loop, NULL);
	event_free(fx->stop);
	metrics_http_free(&fx->mh);
	assert_null(fx->mh);
	event_base_free(fx->base);
	free(fx);
	return 0;
}

/* ---- client side ---- */

static int connect_to(const struct fixture *fx)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct timeval tv = {5, 0};
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(fx->port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (const struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static void send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

/* Everything up to the server's close (a reset after the answer counts
 * as the close). Fails on the 5 s read timeout. */
static char *read_all(int fd, size_t *len_out)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	for (;;) {
		if (len + 1 == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			break;
		if (n < 0)
			fail_msg("recv: %s (no close from the server)", strerror(errno));
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (len_out != NULL)
		*len_out = len;
	return buf;
}

static char *exchange(const struct fixture *fx, const char *req, size_t req_len)
{
	int fd = connect_to(fx);
	send_all(fd, req, req_len);
	char *resp = read_all(fd, NULL);
	(void)close(fd);
	return resp;
}

static char *exchange_str(const struct fixture *fx, const char *req)
{
	return exchange(fx, req, strlen(req));
}

static void assert_status(const char *resp, const char *status_line)
{
	size_t n = strlen(status_line);
	if (strncmp(resp, status_line, n) != 0 || strncmp(resp + n, "\r\n", 2) != 0)
		fail_msg("want \"%s\", got:\n%.300s", status_line, resp);
}

static void assert_header(const char *resp, const char *header)
{
	char want[256];
	(void)snprintf(want, sizeof(want), "\r\n%s\r\n", header);
	const char *end = strstr(resp, "\r\n\r\n");
	const char *h = strstr(resp, want);
	if (h == NULL || end == NULL || h > end)
		fail_msg("missing header \"%s\" in:\n%.500s", header, resp);
}

static const char *body_of(const char *resp)
{
	const char *end = strstr(resp, "\r\n\r\n");
	assert_non_null(end);
	return end + 4;
}

static unsigned long content_length(const char *resp)
{
	const char *h = strstr(resp, "\r\nContent-Length: ");
	assert_non_null(h);
	return strtoul(h + 18, NULL, 10);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	(void)nanosleep(&ts, NULL);
}

/* ---- cases ---- */

static void test_get_metrics(void **state)
{
	struct fixture *fx = *state;
	metrics_connection(METRICS_LISTENER_SMTP);
	metrics_connection(METRICS_LISTENER_SMTP);
	metrics_connection(METRICS_LISTENER_SMTP);
	char *resp = exchange_str(fx, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n"
				      "User-Agent: test\r\nAccept: */*\r\n\r\n");
	assert_status(resp, "HTTP/1.1 200 OK");
	assert_header(resp, "Content-Type: text/plain; version=0.0.4; charset=utf-8");
	assert_header(resp, "Connection: close");
	const char *body = body_of(resp);
	assert_int_equal(content_length(resp), strlen(body));
	assert_non_null(strstr(body, "\nkonvert_connections_total{listener=\"smtp\"} 3\n"));
	assert_non_null(strstr(body, "# TYPE konvert_delivery_seconds histogram\n"));
	/* the refresh ran before this render */
	assert_int_equal(atomic_load(&fx->refreshes), 1);
	assert_non_null(strstr(body, "\nkonvert_queue_messages 1001\n"));
	free(resp);
	/* and again for the next scrape */
	resp = exchange_str(fx, "GET /metrics?name[]=x HTTP/1.0\r\n\r\n");
	assert_status(resp, "HTTP/1.1 200 OK");
	assert_non_null(strstr(body_of(resp), "\nkonvert_queue_messages 1002\n"));
	free(resp);
}

static void test_head(void **state)
{
	struct fixture *fx = *state;
	char *resp = exchange_str(fx, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_status(resp, "HTTP/1.1 200 OK");
	assert_true(content_length(resp) > 1000);
	assert_string_equal(body_of(resp), "");
	free(resp);
}

static void test_paths(void **state)
{
	struct fixture *fx = *state;
	char *resp = exchange_str(fx, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_status(resp, "HTTP/1.1 200 OK");
	assert_non_null(strstr(body_of(resp), "/metrics"));
	free(resp);
	static const char *const not_found[] = {
		"GET /metrics/ HTTP/1.1\r\n\r\n",
		"GET /metricsx HTTP/1.1\r\n\r\n",
		"GET /favicon.ico HTTP/1.1\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(not_found) / sizeof(not_found[0]); i++) {
		resp = exchange_str(fx, not_found[i]);
		assert_status(resp, "HTTP/1.1 404 Not Found");
		assert_header(resp, "Connection: close");
		free(resp);
	}
	assert_int_equal(atomic_load(&fx->refreshes), 0);
}

static void test_methods(void **state)
{
	struct fixture *fx = *state;
	static const char *const reqs[] = {
		"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
		"PUT / HTTP/1.1\r\n\r\n",
		"DELETE /nope HTTP/1.1\r\n\r\n",
		"OPTIONS /metrics HTTP/1.1\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		char *resp = exchange_str(fx, reqs[i]);
		assert_status(resp, "HTTP/1.1 405 Method Not Allowed");
		assert_header(resp, "Allow: GET, HEAD");
		free(resp);
	}
	assert_int_equal(atomic_load(&fx->refreshes), 0);
}

static void test_bad_request(void **state)
{
	struct fixture *fx = *state;
	static const char *const reqs[] = {
		"garbage\r\n\r\n",
		"GET /metrics\r\n\r\n", /* HTTP/0.9 */
		"GET /metrics HTTP/2.0\r\n\r\n",
		"GET metrics HTTP/1.1\r\n\r\n",
		"get /metrics HTTP/1.1\r\n\r\n",
		"GET  /metrics HTTP/1.1\r\n\r\n",
		"GET /metrics HTTP/1.1 \r\n\r\n",
		"\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		char *resp = exchange_str(fx, reqs[i]);
		assert_status(resp, "HTTP/1.1 400 Bad Request");
		free(resp);
	}
}

static void test_too_large(void **state)
{
	struct fixture *fx = *state;
	/* a 9 KB request line */
	size_t n = 9 * 1024;
	char *req = malloc(n + 64);
	assert_non_null(req);
	memcpy(req, "GET /", 5);
	memset(req + 5, 'a', n);
	size_t len = 5 + n;
	len += (size_t)snprintf(req + len, 64, " HTTP/1.1\r\n\r\n");
	char *resp = exchange(fx, req, len);
	assert_status(resp, "HTTP/1.1 414 URI Too Long");
	assert_header(resp, "Connection: close");
	free(resp);
	/* short lines, but a head over 8 KiB */
	len = (size_t)snprintf(req, n + 64, "GET /metrics HTTP/1.1\r\n");
	while (len < n)
		len += (size_t)snprintf(req + len, n + 64 - len, "X-Pad: %040d\r\n", 0);
	len += (size_t)snprintf(req + len, n + 64 - len, "\r\n");
	resp = exchange(fx, req, len);
	assert_status(resp, "HTTP/1.1 431 Request Header Fields Too Large");
	free(resp);
	free(req);
	/* a head just under the limit is fine */
	char small[METRICS_HTTP_REQUEST_MAX];
	len = (size_t)snprintf(small, sizeof(small), "GET /metrics HTTP/1.1\r\nX-Pad: ");
	memset(small + len, 'b', sizeof(small) - len - 4);
	memcpy(small + sizeof(small) - 4, "\r\n\r\n", 4);
	resp = exchange(fx, small, sizeof(small));
	assert_status(resp, "HTTP/1.1 200 OK");
	free(resp);
	assert_int_equal(atomic_load(&fx->refreshes), 1);
}

static void test_byte_by_byte(void **state)
{
	struct fixture *fx = *state;
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	int fd = connect_to(fx);
	for (size_t i = 0; i < sizeof(req) - 1; i++) {
		send_all(fd, req + i, 1);
		sleep_ms(2);
	}
	char *resp = read_all(fd, NULL);
	(void)close(fd);
	assert_status(resp, "HTTP/1.1 200 OK");
	assert_int_equal(atomic_load(&fx->refreshes), 1);
	free(resp);
}

static void test_bare_lf(void **state)
{
	struct fixture *fx = *state;
	char *resp = exchange_str(fx, "GET /metrics HTTP/1.0\nHost: x\n\n");
	assert_status(resp, "HTTP/1.1 200 OK");
	free(resp);
}

static void test_half_close(void **state)
{
	struct fixture *fx = *state;
	int fd = connect_to(fx);
	send_all(fd, "GET /metrics HTTP/1.1\r\n\r\n", 25);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	size_t len;
	char *resp = read_all(fd, &len);
	(void)close(fd);
	assert_status(resp, "HTTP/1.1 200 OK");
	assert_int_equal(content_length(resp), strlen(body_of(resp)));
	free(resp);
}

static void test_connection_cap(void **state)
{
	struct fixture *fx = *state;
	int fds[METRICS_HTTP_CONN_MAX];
	for (int i = 0; i < METRICS_HTTP_CONN_MAX; i++)
		fds[i] = connect_to(fx);
	/* Accepted in order: the first 16 hold every slot. The 17th sends
	 * nothing (a request the server never reads would turn its close
	 * into a reset that may discard the 503). */
	int extra = connect_to(fx);
	char *resp = read_all(extra, NULL);
	(void)close(extra);
	assert_status(resp, "HTTP/1.1 503 Service Unavailable");
	free(resp);
	/* the held connections still work */
	send_all(fds[0], "GET / HTTP/1.1\r\n\r\n", 18);
	resp = read_all(fds[0], NULL);
	assert_status(resp, "HTTP/1.1 200 OK");
	free(resp);
	for (int i = 0; i < METRICS_HTTP_CONN_MAX; i++)
		(void)close(fds[i]);
	/* slots come back once the server has seen the closes */
	bool ok = false;
	for (int tries = 0; tries < 100 && !ok; tries++) {
		resp = exchange_str(fx, "GET /metrics HTTP/1.1\r\n\r\n");
		ok = strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0;
		free(resp);
		if (!ok)
			sleep_ms(20);
	}
	assert_true(ok);
}

static void test_timeout(void **state)
{
	struct fixture *fx = *state;
	struct timespec t0, t1;
	/* silent client */
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	int fd = connect_to(fx);
	char *resp = read_all(fd, NULL);
	(void)close(fd);
	assert_string_equal(resp, "");
	free(resp);
	/* a client dripping bytes does not extend it */
	fd = connect_to(fx);
	static const char drip[] = "GET /metrics HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa";
	size_t sent = 0;
	for (; sent < sizeof(drip) - 1; sent++) {
		if (send(fd, drip + sent, 1, MSG_NOSIGNAL) != 1)
			break; /* closed under us: fine */
		sleep_ms(25);
	}
	resp = read_all(fd, NULL);
	(void)close(fd);
	(void)clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_string_equal(resp, "");
	free(resp);
	assert_true(sent < sizeof(drip) - 1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms < 3000);
	/* an answered request still goes through */
	resp = exchange_str(fx, "GET /metrics HTTP/1.1\r\n\r\n");
	assert_status(resp, "HTTP/1.1 200 OK");
	free(resp);
}

static void test_bind_error(void **state)
{
	struct fixture *fx = *state;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(fx->port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	char err[256] = "";
	struct event_base *base = event_base_new();
	assert_non_null(base);
	struct metrics_http *mh = metrics_http_new(base, (const struct sockaddr *)&sin,
						   sizeof(sin), NULL, NULL, err, sizeof(err));
	assert_null(mh);
	assert_true(err[0] != '\0');
	metrics_http_free(&mh); /* NULL is fine */
	event_base_free(base);
}

int main(void)
{
	(void)signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_methods, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_byte_by_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bare_lf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup_short_timeout, teardown),
		cmocka_unit_test_setup_teardown(test_bind_error, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
