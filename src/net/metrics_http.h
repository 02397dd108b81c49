/* metrics_http: the Prometheus scrape endpoint (config metrics_listen): a
 * minimal HTTP/1.1 server on the event loop that answers
 *   GET /metrics  200, "text/plain; version=0.0.4", core/metrics rendered
 *   GET /         200, a one-line pointer to /metrics
 *   GET other     404
 *   other method  405 (Allow: GET, HEAD); HEAD is GET without the body
 * and closes the connection after every response (Connection: close).
 *
 * Bounds (it faces whoever can reach metrics_listen): a request head of at
 * most METRICS_HTTP_REQUEST_MAX bytes (past it: 414 when the request line
 * alone is too long, else 431), no request body is read, at most
 * METRICS_HTTP_CONN_MAX connections at once (one more gets a best-effort
 * 503 and is closed), and each connection lives at most the timeout (10 s)
 * from accept to answer, whatever the client sends, plus a short wait for
 * the client to close after the answer. Everything runs on the loop
 * thread of base; nothing blocks. */
#ifndef KONVERT_NET_METRICS_HTTP_H
#define KONVERT_NET_METRICS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define METRICS_HTTP_REQUEST_MAX 8192
#define METRICS_HTTP_CONN_MAX 16
#define METRICS_HTTP_TIMEOUT_MS 10000

struct event_base;
struct metrics_http;

/* Called on the loop thread before every /metrics render, so the owner can
 * set gauges that are cheaper to read than to maintain (queue size and
 * age, worker backlog). Must not free the metrics_http. */
typedef void (*metrics_http_refresh_fn)(void *arg);

/* Binds and listens on addr (port 0: the kernel chooses; see
 * metrics_http_port). refresh may be NULL; arg is borrowed. Returns NULL
 * with a message in err when the socket cannot be bound. */
struct metrics_http *metrics_http_new(struct event_base *base, const struct sockaddr *addr,
				      socklen_t len, metrics_http_refresh_fn refresh, void *arg,
				      char *err, size_t err_size);

/* Closes the listener and every open connection (no answer is sent). */
void metrics_http_free(struct metrics_http **pp);

/* The bound port, host byte order (0 if it cannot be read). */
uint16_t metrics_http_port(const struct metrics_http *mh);

/* Tests: the per-connection timeout for connections accepted from now on
 * (default METRICS_HTTP_TIMEOUT_MS). */
void metrics_http_set_timeout(struct metrics_http *mh, unsigned timeout_ms);

#endif
