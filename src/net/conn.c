/* conn: wraps a libevent bufferevent for one accepted socket. It owns the
 * fd, the bufferevent and the timeouts, turns libevent callbacks into the
 * four conn events, and defers its own destruction while a callback is on
 * the stack. It knows nothing of any protocol. */
#include "net/conn.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "core/log.h"

/* Input is not read past this many buffered bytes; protocols drain it. */
#define CONN_READ_HIGH_WATERMARK (256 * 1024)
/* Under a STARTTLS filter, the plaintext layer holds at most about this
 * much before the filter stops producing records. */
#define CONN_WRITE_HIGH_WATERMARK (256 * 1024)
/* Output at or below this counts as drained (CONN_EV_DRAINED). */
#define CONN_WRITE_LOW_WATERMARK (64 * 1024)

struct conn {
	struct bufferevent *bev; /* owned */
	conn_event_fn cb;
	void *arg; /* borrowed: the owning session */
	struct sockaddr_storage peer;
	char peer_text[INET6_ADDRSTRLEN];
	unsigned local_port;
	unsigned timeout_ms;
	int depth; /* callbacks on the stack */
	bool free_requested;
	bool closing; /* close after flush */
	bool closed; /* CONN_EV_CLOSED delivered */
	bool paused;
	SSL *ssl; /* owned by the TLS bufferevent once TLS is on */
	struct evbuffer_cb_entry *under_cb; /* close wait on the plaintext layer */
	bool tls_ready;
	struct event_base *base; /* borrowed */
};

static void conn_apply_timeout(struct conn *c);

static void conn_destroy(struct conn *c)
{
	/* A STARTTLS filter's last records (a closing alert, a final reply)
	 * may still sit in the plaintext bufferevent below: one non-blocking
	 * write gives them their chance before the socket closes. */
	struct bufferevent *under = bufferevent_get_underlying(c->bev);
	if (under != NULL) {
		struct evbuffer *uout = bufferevent_get_output(under);
		if (c->under_cb != NULL)
			(void)evbuffer_remove_cb_entry(uout, c->under_cb);
		if (evbuffer_get_length(uout) > 0) {
			/* A socket bufferevent freezes the front of its output
			 * buffer outside its own write callback. */
			(void)evbuffer_unfreeze(uout, 1);
			(void)evbuffer_write(uout, bufferevent_getfd(under));
		}
	}
	bufferevent_free(c->bev);
	free(c);
}

static void conn_emit(struct conn *c, enum conn_event ev)
{
	if (c->closed)
		return;
	if (ev == CONN_EV_CLOSED) {
		c->closed = true;
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	}
	c->depth++;
	c->cb(c, ev, c->arg);
	c->depth--;
}

/* Runs at the end of every libevent callback: frees a conn whose owner
 * asked for it while we were inside. */
static void conn_leave(struct conn *c)
{
	if (c->depth == 0 && c->free_requested)
		conn_destroy(c);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct conn *c = arg;
	if (!c->closing)
		conn_emit(c, CONN_EV_READ);
	conn_leave(c);
}

/* With a STARTTLS filter, "our output is empty" only means the records
 * reached the plaintext bufferevent below; a closing conn must wait until
 * that one has written them to the socket too. */
static void under_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	(void)info;
	struct conn *c = arg;
	if (evbuffer_get_length(buf) != 0 || c->closed ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) != 0)
		return;
	/* Both layers are empty: what we wrote has reached the socket. */
	conn_emit(c, c->closing ? CONN_EV_CLOSED : CONN_EV_DRAINED);
	conn_leave(c);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct conn *c = arg;
	size_t left = evbuffer_get_length(bufferevent_get_output(c->bev));
	if (!c->closing) {
		if (conn_output_len(c) <= CONN_WRITE_LOW_WATERMARK)
			conn_emit(c, CONN_EV_DRAINED);
	} else if (left == 0) {
		struct bufferevent *under = bufferevent_get_underlying(c->bev);
		struct evbuffer *uout = under ? bufferevent_get_output(under) : NULL;
		/* With a STARTTLS filter, under_out_cb reports the close once
		 * the plaintext layer is empty too. */
		if (uout == NULL || evbuffer_get_length(uout) == 0)
			conn_emit(c, CONN_EV_CLOSED);
	}
	conn_leave(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct conn *c = arg;
	if (what & BEV_EVENT_CONNECTED) {
		if (c->ssl != NULL && !c->tls_ready) {
			c->tls_ready = true;
			conn_emit(c, CONN_EV_TLS_READY);
		}
	} else if (what & BEV_EVENT_TIMEOUT) {
		if (c->closing)
			conn_emit(c, CONN_EV_CLOSED);
		else {
			/* libevent disables the direction that timed out. */
			conn_emit(c, CONN_EV_TIMEOUT);
		}
	} else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (c->ssl != NULL && (what & BEV_EVENT_ERROR)) {
			unsigned long e = bufferevent_get_openssl_error(c->bev);
			if (e != 0) {
				char buf[256];
				ERR_error_string_n(e, buf, sizeof(buf));
				log_info(NULL, "event=tls-error client=%s handshake=%s error=\"%s\"",
					 c->peer_text, c->tls_ready ? "done" : "failed", buf);
			}
		}
		conn_emit(c, CONN_EV_CLOSED);
	}
	conn_leave(c);
}

static struct conn *conn_alloc(struct event_base *base, int fd, const struct sockaddr *peer,
			       socklen_t peer_len, conn_event_fn cb, void *arg)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->cb = cb;
	c->arg = arg;
	if (peer_len > sizeof(c->peer))
		peer_len = sizeof(c->peer);
	memcpy(&c->peer, peer, peer_len);
	conn_sockaddr_text(peer, c->peer_text, sizeof(c->peer_text));
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);
	if (getsockname(fd, (struct sockaddr *)&local, &llen) == 0) {
		if (local.ss_family == AF_INET)
			c->local_port = ntohs(((struct sockaddr_in *)&local)->sin_port);
		else if (local.ss_family == AF_INET6)
			c->local_port = ntohs(((struct sockaddr_in6 *)&local)->sin6_port);
	}
	(void)evutil_make_socket_nonblocking(fd);
	/* Replies leave in one write per loop turn already; Nagle would only
	 * hold the tail of each one back until the client's delayed ACK
	 * (~40 ms per POP3 RETR, per SMTP reply). */
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return c;
}

static void conn_setup_bev(struct conn *c)
{
	KASSERT(c->bev != NULL);
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONN_READ_HIGH_WATERMARK);
	/* CONN_EV_DRAINED fires once the output is down to this, so that a
	 * producer (RETR streaming) refills before the socket runs dry. */
	bufferevent_setwatermark(c->bev, EV_WRITE, CONN_WRITE_LOW_WATERMARK, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	conn_apply_timeout(c);
}

struct conn *conn_new(struct event_base *base, int fd, const struct sockaddr *peer,
		      socklen_t peer_len, conn_event_fn cb, void *arg)
{
	struct conn *c = conn_alloc(base, fd, peer, peer_len, cb, arg);
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	conn_setup_bev(c);
	return c;
}

struct conn *conn_new_tls(struct event_base *base, int fd, const struct sockaddr *peer,
			  socklen_t peer_len, SSL *ssl, conn_event_fn cb, void *arg)
{
	struct conn *c = conn_alloc(base, fd, peer, peer_len, cb, arg);
	c->ssl = ssl;
	c->bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
						BEV_OPT_CLOSE_ON_FREE);
	/* Many clients close without close_notify; that is not an error. */
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	conn_setup_bev(c);
	return c;
}

int conn_starttls(struct conn *c, SSL *ssl)
{
	if (c->ssl != NULL || c->closed) {
		SSL_free(ssl);
		return -1;
	}
	/* CVE-2011-0411: anything the client sent after STARTTLS in the same
	 * plaintext packet is dropped, never executed after the handshake. */
	struct evbuffer *in = bufferevent_get_input(c->bev);
	(void)evbuffer_drain(in, evbuffer_get_length(in));
	struct bufferevent *filter = bufferevent_openssl_filter_new(
		c->base, c->bev, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (filter == NULL) {
		SSL_free(ssl);
		return -1;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(filter, 1);
	/* Backpressure through both layers: the filter stops encrypting
	 * while the plaintext layer holds this much, and conn_output_len and
	 * CONN_EV_DRAINED see the plaintext layer (callbacks deferred to the
	 * loop, never inside libevent's write path). */
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, CONN_WRITE_HIGH_WATERMARK);
	struct evbuffer *uout = bufferevent_get_output(c->bev);
	(void)evbuffer_defer_callbacks(uout, c->base);
	c->under_cb = evbuffer_add_cb(uout, under_out_cb, c);
	c->ssl = ssl;
	c->bev = filter; /* frees the plaintext bufferevent with it */
	c->paused = false;
	conn_setup_bev(c);
	return 0;
}

SSL *conn_ssl(const struct conn *c)
{
	return c->ssl;
}

bool conn_is_tls(const struct conn *c)
{
	return c->ssl != NULL;
}

bool conn_tls_ready(const struct conn *c)
{
	return c->tls_ready;
}

void conn_free(struct conn **pp)
{
	struct conn *c = *pp;
	if (c == NULL)
		return;
	*pp = NULL;
	if (c->depth > 0) {
		c->free_requested = true;
		c->closed = true;
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		return;
	}
	conn_destroy(c);
}

struct evbuffer *conn_input(struct conn *c)
{
	return bufferevent_get_input(c->bev);
}

size_t conn_output_len(const struct conn *c)
{
	size_t n = evbuffer_get_length(bufferevent_get_output(c->bev));
	/* A STARTTLS filter hands its records to the plaintext layer at
	 * once: what waits for the socket waits there. */
	struct bufferevent *under = bufferevent_get_underlying(c->bev);
	if (under != NULL)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

void conn_write(struct conn *c, const void *data, size_t len)
{
	/* Once closing, the last reply is queued; nothing may follow it. */
	if (c->closed || c->closing)
		return;
	(void)bufferevent_write(c->bev, data, len);
}

void conn_printf(struct conn *c, const char *fmt, ...)
{
	if (c->closed || c->closing)
		return;
	va_list ap;
	va_start(ap, fmt);
	(void)evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
	va_end(ap);
}

static void conn_apply_timeout(struct conn *c)
{
	if (c->timeout_ms == 0) {
		bufferevent_set_timeouts(c->bev, NULL, NULL);
		return;
	}
	struct timeval tv = {.tv_sec = c->timeout_ms / 1000,
			     .tv_usec = (c->timeout_ms % 1000) * 1000};
	bufferevent_set_timeouts(c->bev, c->paused ? NULL : &tv, &tv);
}

void conn_set_timeout(struct conn *c, unsigned ms)
{
	c->timeout_ms = ms;
	conn_apply_timeout(c);
}

void conn_pause_read(struct conn *c)
{
	if (c->paused || c->closed || c->closing)
		return;
	c->paused = true;
	bufferevent_disable(c->bev, EV_READ);
	conn_apply_timeout(c);
}

void conn_resume_read(struct conn *c)
{
	if (!c->paused || c->closed || c->closing)
		return;
	c->paused = false;
	conn_apply_timeout(c);
	bufferevent_enable(c->bev, EV_READ);
}

void conn_close_after_flush(struct conn *c)
{
	if (c->closing || c->closed)
		return;
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	/* A client that does not read gets at most 10 s to take our reply. */
	struct timeval tv = {.tv_sec = 10, .tv_usec = 0};
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	bufferevent_enable(c->bev, EV_WRITE);
	/* Never report CLOSED from inside the caller's stack: with nothing
	 * left to flush, run the write callback on the next loop turn. */
	if (conn_output_len(c) == 0)
		bufferevent_trigger(c->bev, EV_WRITE,
				    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

bool conn_is_closing(const struct conn *c)
{
	return c->closing || c->closed;
}

const char *conn_peer_text(const struct conn *c)
{
	return c->peer_text;
}

const struct sockaddr *conn_peer(const struct conn *c)
{
	return (const struct sockaddr *)&c->peer;
}

unsigned conn_local_port(const struct conn *c)
{
	return c->local_port;
}

bool conn_sockaddr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a))
			return true;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return false;
}

bool conn_is_loopback(const struct conn *c)
{
	return conn_sockaddr_is_loopback(conn_peer(c));
}

void conn_sockaddr_text(const struct sockaddr *sa, char *out, size_t out_size)
{
	const void *a = NULL;
	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (a == NULL || inet_ntop(sa->sa_family, a, out, (socklen_t)out_size) == NULL)
		(void)snprintf(out, out_size, "unknown");
}
