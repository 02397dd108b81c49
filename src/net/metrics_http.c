/* metrics_http: owns the listening socket (net/listener, with a private
 * sesslimit as the connection cap) and one bufferevent per client. A
 * connection reads one request head, answers once, shuts its side down and
 * waits briefly for the client to close (a close with unread input would
 * reset the connection and could destroy the answer in flight). The
 * read high-watermark keeps at most METRICS_HTTP_REQUEST_MAX + 1 bytes
 * buffered. It parses only the request line; headers are skipped, and it
 * knows nothing of what the metrics mean. */
#include "net/metrics_http.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/strbuf.h"
#include "net/conn.h"
#include "net/listener.h"

/* After the answer: how long the client has to close its side. */
#define METRICS_HTTP_LINGER_MS 2000
/* Ceiling for a render (about 4.5 KiB today): a 500 past it. */
#define METRICS_HTTP_BODY_MAX (256 * 1024)

#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CONTENT_TYPE_TEXT "text/plain; charset=utf-8"

struct mh_conn {
	struct metrics_http *mh; /* borrowed */
	struct bufferevent *bev; /* owned, closes the socket */
	struct event *deadline; /* owned */
	struct sockaddr_storage peer; /* holds a slot of mh->limits */
	bool answered; /* the response is queued: input is only drained */
	bool peer_eof; /* the client closed its side: free once sent */
	struct mh_conn *prev, *next; /* mh->conns */
};

struct metrics_http {
	struct event_base *base;
	struct listener *l; /* owned */
	struct sesslimit *limits; /* owned: METRICS_HTTP_CONN_MAX in total */
	metrics_http_refresh_fn refresh;
	void *arg;
	unsigned timeout_ms;
	struct mh_conn *conns; /* owned list */
};

static void conn_free_mh(struct mh_conn *c)
{
	struct metrics_http *mh = c->mh;
	if (c->prev)
		c->prev->next = c->next;
	else
		mh->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	sesslimit_release(mh->limits, (const struct sockaddr *)&c->peer);
	/* Safe from inside the bufferevent's own callbacks (libevent defers
	 * the final free until they return). */
	bufferevent_free(c->bev);
	event_free(c->deadline);
	free(c);
}

/* Offset just past the blank line that ends the head in p[0..len), or 0.
 * A bare LF is taken as a line end (RFC 9112 2.2 allows it). */
static size_t head_end(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != '\n')
			continue;
		if (i + 1 < len && p[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static void respond(struct mh_conn *c, int code, const char *reason, const char *ctype,
		    const char *extra, const char *body, size_t body_len, bool head_only)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	(void)evbuffer_add_printf(out,
				  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
				  "%sCache-Control: no-store\r\nConnection: close\r\n\r\n",
				  code, reason, ctype, body_len, extra != NULL ? extra : "");
	if (!head_only && body_len > 0)
		(void)evbuffer_add(out, body, body_len);
	c->answered = true;
}

static void respond_text(struct mh_conn *c, int code, const char *reason, const char *extra,
			 const char *text, bool head_only)
{
	respond(c, code, reason, CONTENT_TYPE_TEXT, extra, text, strlen(text), head_only);
}

static void respond_metrics(struct mh_conn *c, bool head_only)
{
	struct metrics_http *mh = c->mh;
	if (mh->refresh != NULL)
		mh->refresh(mh->arg);
	struct strbuf b;
	strbuf_init(&b, METRICS_HTTP_BODY_MAX);
	metrics_render(&b);
	if (b.over) {
		log_error(NULL, "event=metrics-http error=\"render over %d bytes\"",
			  METRICS_HTTP_BODY_MAX);
		respond_text(c, 500, "Internal Server Error", NULL, "render too large\n",
			     head_only);
	} else {
		respond(c, 200, "OK", CONTENT_TYPE_METRICS, NULL, b.p, b.len, head_only);
	}
	strbuf_fini(&b);
}

static bool is_token(const char *p, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] < 'A' || p[i] > 'Z')
			return false;
	return true;
}

/* head[0..len) is a complete request head. Only the request line counts:
 * METHOD SP target SP HTTP/1.x (RFC 9112 3). */
static void handle_request(struct mh_conn *c, const char *head, size_t len)
{
	const char *nl = memchr(head, '\n', len);
	KASSERT(nl != NULL);
	size_t line_len = (size_t)(nl - head);
	if (line_len > 0 && head[line_len - 1] == '\r')
		line_len--;
	const char *sp1 = memchr(head, ' ', line_len);
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', line_len - (size_t)(sp1 + 1 - head)) : NULL;
	if (sp1 == NULL || sp2 == NULL) {
		respond_text(c, 400, "Bad Request", NULL, "bad request line\n", false);
		return;
	}
	const char *method = head, *target = sp1 + 1, *version = sp2 + 1;
	size_t method_len = (size_t)(sp1 - head), target_len = (size_t)(sp2 - target);
	size_t version_len = line_len - (size_t)(version - head);
	bool v1x = version_len == 8 && (memcmp(version, "HTTP/1.1", 8) == 0 ||
					 memcmp(version, "HTTP/1.0", 8) == 0);
	if (!is_token(method, method_len) || target_len == 0 || target[0] != '/' || !v1x) {
		respond_text(c, 400, "Bad Request", NULL, "bad request line\n", false);
		return;
	}
	char esc[128];
	log_debug(NULL, "event=metrics-http method=%.*s target=\"%s\"", (int)method_len, method,
		  log_escape(esc, sizeof(esc), target, target_len));
	bool get = method_len == 3 && memcmp(method, "GET", 3) == 0;
	bool head_only = method_len == 4 && memcmp(method, "HEAD", 4) == 0;
	if (!get && !head_only) {
		respond_text(c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n",
			     "only GET and HEAD\n", false);
		return;
	}
	const char *q = memchr(target, '?', target_len);
	size_t path_len = q != NULL ? (size_t)(q - target) : target_len;
	if (path_len == 8 && memcmp(target, "/metrics", 8) == 0)
		respond_metrics(c, head_only);
	else if (path_len == 1)
		respond_text(c, 200, "OK", NULL, "konvert: metrics at /metrics\n", head_only);
	else
		respond_text(c, 404, "Not Found", NULL, "not found\n", head_only);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct mh_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	if (c->answered) {
		/* A body we do not read, or a second request: dropped. */
		(void)evbuffer_drain(in, len);
		return;
	}
	size_t n = len < METRICS_HTTP_REQUEST_MAX ? len : METRICS_HTTP_REQUEST_MAX;
	const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
	size_t end = p != NULL ? head_end(p, n) : 0;
	if (end != 0) {
		handle_request(c, p, end);
	} else if (len > METRICS_HTTP_REQUEST_MAX) {
		/* RFC 9110 15.5.15 / RFC 6585 5 */
		if (memchr(p, '\n', n) == NULL)
			respond_text(c, 414, "URI Too Long", NULL, "request line too long\n", false);
		else
			respond_text(c, 431, "Request Header Fields Too Large", NULL,
				     "request head too large\n", false);
	} else {
		return; /* need more */
	}
	(void)evbuffer_drain(in, evbuffer_get_length(in));
}

/* The answer has left: close our side and wait for the client's. */
static void write_cb(struct bufferevent *bev, void *arg)
{
	struct mh_conn *c = arg;
	if (!c->answered)
		return;
	if (c->peer_eof) {
		conn_free_mh(c);
		return;
	}
	(void)shutdown(bufferevent_getfd(bev), SHUT_WR);
	struct timeval tv = {METRICS_HTTP_LINGER_MS / 1000, (METRICS_HTTP_LINGER_MS % 1000) * 1000};
	unsigned t = c->mh->timeout_ms;
	if (t < METRICS_HTTP_LINGER_MS)
		tv = (struct timeval){t / 1000, (t % 1000) * 1000};
	(void)evtimer_add(c->deadline, &tv);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct mh_conn *c = arg;
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && c->answered &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		/* Half-closed after its request: the answer still goes out. */
		c->peer_eof = true;
		return;
	}
	conn_free_mh(c);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct mh_conn *c = arg;
	if (!c->answered)
		log_debug(NULL, "event=metrics-http result=timeout");
	conn_free_mh(c);
}

static void accept_cb(int fd, const struct sockaddr *peer, socklen_t peer_len, bool allowed,
		      void *arg)
{
	struct metrics_http *mh = arg;
	if (!allowed) {
		static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
					   "Content-Length: 0\r\nConnection: close\r\n\r\n";
		char text[64];
		conn_sockaddr_text(peer, text, sizeof(text));
		log_debug(NULL, "event=metrics-http client=%s result=refused reason=too-many", text);
		(void)send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)close(fd);
		return;
	}
	struct mh_conn *c = xcalloc(1, sizeof(*c));
	c->mh = mh;
	if (peer_len > sizeof(c->peer))
		peer_len = sizeof(c->peer);
	memcpy(&c->peer, peer, peer_len);
	c->bev = bufferevent_socket_new(mh->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->deadline = evtimer_new(mh->base, deadline_cb, c);
	KASSERT(c->bev != NULL && c->deadline != NULL);
	c->next = mh->conns;
	if (mh->conns)
		mh->conns->prev = c;
	mh->conns = c;
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	/* One byte past the limit tells "too large" from "exactly full". */
	bufferevent_setwatermark(c->bev, EV_READ, 0, METRICS_HTTP_REQUEST_MAX + 1);
	struct timeval tv = {mh->timeout_ms / 1000, (mh->timeout_ms % 1000) * 1000};
	(void)evtimer_add(c->deadline, &tv);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0)
		conn_free_mh(c);
}

struct metrics_http *metrics_http_new(struct event_base *base, const struct sockaddr *addr,
				      socklen_t len, metrics_http_refresh_fn refresh, void *arg,
				      char *err, size_t err_size)
{
	struct metrics_http *mh = xcalloc(1, sizeof(*mh));
	mh->base = base;
	mh->refresh = refresh;
	mh->arg = arg;
	mh->timeout_ms = METRICS_HTTP_TIMEOUT_MS;
	mh->limits = sesslimit_new(METRICS_HTTP_CONN_MAX, METRICS_HTTP_CONN_MAX);
	mh->l = listener_new(base, addr, len, mh->limits, accept_cb, mh, err, err_size);
	if (mh->l == NULL) {
		sesslimit_free(&mh->limits);
		free(mh);
		return NULL;
	}
	return mh;
}

void metrics_http_free(struct metrics_http **pp)
{
	struct metrics_http *mh = *pp;
	if (mh == NULL)
		return;
	listener_free(&mh->l);
	while (mh->conns != NULL)
		conn_free_mh(mh->conns);
	sesslimit_free(&mh->limits);
	free(mh);
	*pp = NULL;
}

uint16_t metrics_http_port(const struct metrics_http *mh)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (listener_local_addr(mh->l, &ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

void metrics_http_set_timeout(struct metrics_http *mh, unsigned timeout_ms)
{
	mh->timeout_ms = timeout_ms;
}
