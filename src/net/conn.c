/* conn: wraps a libevent bufferevent for one accepted socket. It owns the
 * fd, the bufferevent and the deadline timers, turns libevent callbacks
 * into the conn events, and defers its own destruction while a callback is
 * on the stack. It knows nothing of any protocol. The command deadline is
 * our own timer, not a bufferevent read timeout: libevent restarts that
 * one on every byte read, which lets a client drip a line forever.
 * A TLS handshake is not started before the client's first record is
 * complete in the socket buffer: libevent would otherwise start it as soon
 * as the socket is writable, and OpenSSL then holds ~34 KB of handshake
 * and record buffers (plus ~8 KB of SSL object for implicit TLS) for every
 * client that connects and sends nothing or half a ClientHello. */
#include "net/conn.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <event2/event.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "core/log.h"
#include "net/tls.h"

/* Input is not read past this many buffered bytes; protocols drain it. */
#define CONN_READ_HIGH_WATERMARK (256 * 1024)
/* Under a STARTTLS filter, the plaintext layer holds at most about this
 * much before the filter stops producing records. */
#define CONN_WRITE_HIGH_WATERMARK (256 * 1024)
/* Output at or below this counts as drained (CONN_EV_DRAINED). */
#define CONN_WRITE_LOW_WATERMARK (64 * 1024)
/* TLS record: 5-byte header, then at most 2^14 + 2048 bytes (RFC 8446
 * 5.2; a ClientHello record is plaintext, at most 2^14). */
#define CONN_TLS_HEADER_LEN 5
#define CONN_TLS_RECORD_MAX (CONN_TLS_HEADER_LEN + 16384 + 2048)
#define CONN_TLS_CONTENT_HANDSHAKE 22

struct conn {
	/* owned. While waiting for the first TLS record: for implicit TLS a
	 * placeholder socket bufferevent that neither reads nor writes and
	 * does not own fd; for STARTTLS the plaintext one, still flushing the
	 * "ready" reply, not reading. */
	struct bufferevent *bev;
	int fd;
	bool bev_owns_fd; /* else conn_destroy closes fd */
	conn_event_fn cb;
	void *arg; /* borrowed: the owning session */
	struct sockaddr_storage peer;
	char peer_text[INET6_ADDRSTRLEN];
	unsigned local_port;
	unsigned timeout_ms; /* command deadline and write timeout; 0: off */
	unsigned handshake_ms; /* TLS handshake deadline; 0: off */
	struct event *deadline_ev; /* owned: command deadline */
	struct event *handshake_ev; /* owned, made at the first handshake */
	struct event *transfer_ev; /* owned, made at the first transfer */
	const char *timeout_what; /* deadline of the last CONN_EV_TIMEOUT */
	int depth; /* callbacks on the stack */
	bool free_requested;
	bool closing; /* close after flush */
	bool closed; /* CONN_EV_CLOSED delivered */
	bool paused;
	bool tls; /* implicit TLS or STARTTLS accepted */
	bool starttls; /* TLS came by STARTTLS */
	SSL *ssl; /* owned; by the TLS bufferevent once ssl_in_bev */
	bool ssl_in_bev;
	struct tls_server *tls_ctx; /* reference until the SSL is made */
	struct event *hello_ev; /* owned while waiting for the first record */
	int hello_lowat; /* receive low-water mark set for that wait; 0: none */
	struct evbuffer *wait_out; /* owned: output queued during that wait */
	struct evbuffer_cb_entry *under_cb; /* close wait on the plaintext layer */
	bool tls_ready;
	struct event_base *base; /* borrowed */
};

static void conn_apply_timeout(struct conn *c);
static void conn_update_deadline(struct conn *c, bool restart);
static void conn_arm_handshake(struct conn *c);

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
	if (!c->bev_owns_fd)
		(void)close(c->fd);
	if (c->ssl != NULL && !c->ssl_in_bev)
		SSL_free(c->ssl);
	tls_server_unref(&c->tls_ctx);
	if (c->hello_ev != NULL)
		event_free(c->hello_ev);
	if (c->wait_out != NULL)
		evbuffer_free(c->wait_out);
	event_free(c->deadline_ev);
	if (c->handshake_ev != NULL)
		event_free(c->handshake_ev);
	if (c->transfer_ev != NULL)
		event_free(c->transfer_ev);
	free(c);
}

static bool conn_in_handshake(const struct conn *c)
{
	return c->tls && !c->tls_ready;
}

static struct timeval ms_to_tv(unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	return tv;
}

/* No deadline fires for a conn that is closed or being freed. */
static void conn_stop_timers(struct conn *c)
{
	(void)event_del(c->deadline_ev);
	if (c->handshake_ev != NULL)
		(void)event_del(c->handshake_ev);
	if (c->transfer_ev != NULL)
		(void)event_del(c->transfer_ev);
	if (c->hello_ev != NULL)
		(void)event_del(c->hello_ev);
}

static void conn_emit(struct conn *c, enum conn_event ev)
{
	if (c->closed)
		return;
	if (ev == CONN_EV_CLOSED) {
		c->closed = true;
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		conn_stop_timers(c);
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
		if (c->tls && !c->tls_ready) {
			c->tls_ready = true;
			if (c->handshake_ev != NULL)
				(void)event_del(c->handshake_ev);
			/* The client's first command is due from now. */
			conn_update_deadline(c, true);
			conn_emit(c, CONN_EV_TLS_READY);
		}
	} else if (what & BEV_EVENT_TIMEOUT) {
		if (c->closing)
			conn_emit(c, CONN_EV_CLOSED);
		else {
			/* Only writes have a bufferevent timeout; libevent
			 * disables the direction that timed out. */
			c->timeout_what = "write";
			conn_emit(c, CONN_EV_TIMEOUT);
		}
	} else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (c->ssl_in_bev && (what & BEV_EVENT_ERROR)) {
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

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	if (!c->closing) {
		c->timeout_what = "command";
		conn_emit(c, CONN_EV_TIMEOUT);
	}
	conn_leave(c);
}

static void transfer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	if (!c->closing) {
		c->timeout_what = "transfer";
		conn_emit(c, CONN_EV_TIMEOUT);
	}
	conn_leave(c);
}

/* A stalled ClientHello must not hold the session for the whole idle
 * time. No plaintext can be sent inside a handshake, and whatever the
 * owner queued would only go out if the client completed it: close. */
static void handshake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	if (!c->tls_ready) {
		log_info(NULL, "event=tls-timeout client=%s handshake=%s stage=%s", c->peer_text,
			 c->starttls ? "starttls" : "implicit",
			 c->hello_ev != NULL ? "client-hello" : "handshake");
		if (!c->closing) {
			c->timeout_what = "tls-handshake";
			conn_emit(c, CONN_EV_TIMEOUT);
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
	c->timeout_what = "-";
	c->deadline_ev = evtimer_new(base, deadline_cb, c);
	KASSERT(c->deadline_ev != NULL);
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
	c->fd = fd;
	c->bev_owns_fd = true;
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
	bufferevent_enable(c->bev, EV_WRITE);
	if (c->hello_ev == NULL)
		bufferevent_enable(c->bev, EV_READ);
	conn_apply_timeout(c);
	/* (During a handshake this stops the command deadline; the
	 * handshake deadline runs from conn_wait_hello on.) */
	conn_update_deadline(c, true);
}

struct conn *conn_new(struct event_base *base, int fd, const struct sockaddr *peer,
		      socklen_t peer_len, conn_event_fn cb, void *arg)
{
	struct conn *c = conn_alloc(base, fd, peer, peer_len, cb, arg);
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	conn_setup_bev(c);
	return c;
}

/* Peeks at the socket: 1 when the first TLS record is complete there (or
 * is no handshake record, which OpenSSL is left to refuse), 0 to wait (the
 * receive low-water mark is set to the record's length, so the loop wakes
 * us only when it is all there, or at EOF), -1 when the peer is gone. */
static int hello_check(struct conn *c)
{
	unsigned char hdr[CONN_TLS_HEADER_LEN];
	ssize_t n = recv(c->fd, hdr, sizeof(hdr), MSG_PEEK);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
	if (n == 0)
		return -1;
	if (hdr[0] != CONN_TLS_CONTENT_HANDSHAKE)
		return 1;
	int need = CONN_TLS_HEADER_LEN;
	if (n == CONN_TLS_HEADER_LEN) {
		need += (hdr[3] << 8) | hdr[4];
		int avail = 0;
		if (need > CONN_TLS_RECORD_MAX || ioctl(c->fd, FIONREAD, &avail) != 0 ||
		    avail >= need)
			return 1;
	}
	/* Woken with the mark unmet: only EOF (a half-close after part of
	 * a record) or an error does that, and the rest will never come. */
	if (need == c->hello_lowat)
		return -1;
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &need, sizeof(need)) != 0)
		return 1; /* cannot wait without spinning: let OpenSSL wait */
	c->hello_lowat = need;
	return 0;
}

/* The first record is there: make the TLS bufferevent and start. */
static int conn_tls_begin(struct conn *c)
{
	event_free(c->hello_ev);
	c->hello_ev = NULL;
	if (c->hello_lowat != 0) {
		int one = 1;
		(void)setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
	}
	struct bufferevent *bev;
	if (c->starttls) {
		bev = bufferevent_openssl_filter_new(c->base, c->bev, c->ssl,
						     BUFFEREVENT_SSL_ACCEPTING,
						     BEV_OPT_CLOSE_ON_FREE);
		if (bev == NULL)
			return -1;
		/* Backpressure through both layers: the filter stops
		 * encrypting while the plaintext layer holds this much, and
		 * conn_output_len and CONN_EV_DRAINED see the plaintext layer
		 * (callbacks deferred to the loop, never inside libevent's
		 * write path). */
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, CONN_WRITE_HIGH_WATERMARK);
		struct evbuffer *uout = bufferevent_get_output(c->bev);
		(void)evbuffer_defer_callbacks(uout, c->base);
		c->under_cb = evbuffer_add_cb(uout, under_out_cb, c);
		/* the filter frees the plaintext bufferevent (and fd) with it */
	} else {
		c->ssl = tls_server_new_ssl(c->tls_ctx);
		tls_server_unref(&c->tls_ctx);
		if (c->ssl == NULL)
			return -1;
		bev = bufferevent_openssl_socket_new(c->base, c->fd, c->ssl,
						     BUFFEREVENT_SSL_ACCEPTING,
						     BEV_OPT_CLOSE_ON_FREE);
		KASSERT(bev != NULL);
		bufferevent_free(c->bev); /* the placeholder; fd stays open */
		c->bev_owns_fd = true;
	}
	c->ssl_in_bev = true;
	/* Many clients close without close_notify; that is not an error. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	c->bev = bev;
	if (c->wait_out != NULL) {
		(void)evbuffer_add_buffer(bufferevent_get_output(bev), c->wait_out);
		evbuffer_free(c->wait_out);
		c->wait_out = NULL;
	}
	c->paused = false;
	conn_setup_bev(c);
	return 0;
}

static void hello_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	int r = hello_check(c);
	if (r < 0 || (r > 0 && conn_tls_begin(c) != 0))
		conn_emit(c, CONN_EV_CLOSED);
	conn_leave(c);
}

static void conn_wait_hello(struct conn *c)
{
	c->hello_ev = event_new(c->base, c->fd, EV_READ | EV_PERSIST, hello_cb, c);
	KASSERT(c->hello_ev != NULL);
	(void)event_add(c->hello_ev, NULL);
	conn_update_deadline(c, false);
	conn_arm_handshake(c);
}

struct conn *conn_new_tls(struct event_base *base, int fd, const struct sockaddr *peer,
			  socklen_t peer_len, struct tls_server *tls, conn_event_fn cb, void *arg)
{
	struct conn *c = conn_alloc(base, fd, peer, peer_len, cb, arg);
	c->tls = true;
	tls_server_ref(tls);
	c->tls_ctx = tls;
	/* Neither reads nor writes: it only gives conn_input() and the
	 * timeouts something to work on until conn_tls_begin. */
	c->bev = bufferevent_socket_new(base, fd, 0);
	KASSERT(c->bev != NULL);
	c->bev_owns_fd = false;
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	conn_wait_hello(c);
	return c;
}

int conn_starttls(struct conn *c, SSL *ssl)
{
	if (c->tls || c->closed || c->closing) {
		SSL_free(ssl);
		return -1;
	}
	/* CVE-2011-0411: anything the client sent after STARTTLS in the same
	 * plaintext packet is dropped, never executed after the handshake. */
	struct evbuffer *in = bufferevent_get_input(c->bev);
	(void)evbuffer_drain(in, evbuffer_get_length(in));
	/* The plaintext layer keeps flushing the "ready" reply but reads no
	 * more: the handshake's bytes wait in the socket (conn_wait_hello). */
	bufferevent_disable(c->bev, EV_READ);
	c->tls = true;
	c->starttls = true;
	c->ssl = ssl;
	c->paused = false;
	conn_wait_hello(c);
	return 0;
}

SSL *conn_ssl(const struct conn *c)
{
	return c->ssl;
}

bool conn_is_tls(const struct conn *c)
{
	return c->tls;
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
		conn_stop_timers(c);
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
	if (c->wait_out != NULL)
		n += evbuffer_get_length(c->wait_out);
	/* A STARTTLS filter hands its records to the plaintext layer at
	 * once: what waits for the socket waits there. */
	struct bufferevent *under = bufferevent_get_underlying(c->bev);
	if (under != NULL)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

/* Where output goes: before the handshake has begun, into wait_out, to
 * be encrypted once it has (never to the plaintext socket). */
static struct evbuffer *conn_out(struct conn *c)
{
	if (c->hello_ev == NULL)
		return bufferevent_get_output(c->bev);
	if (c->wait_out == NULL) {
		c->wait_out = evbuffer_new();
		KASSERT(c->wait_out != NULL);
	}
	return c->wait_out;
}

void conn_write(struct conn *c, const void *data, size_t len)
{
	/* Once closing, the last reply is queued; nothing may follow it. */
	if (c->closed || c->closing)
		return;
	(void)evbuffer_add(conn_out(c), data, len);
}

void conn_printf(struct conn *c, const char *fmt, ...)
{
	if (c->closed || c->closing)
		return;
	va_list ap;
	va_start(ap, fmt);
	(void)evbuffer_add_vprintf(conn_out(c), fmt, ap);
	va_end(ap);
}

/* The write side keeps a per-operation bufferevent timeout; reads have
 * none (the command deadline is our own timer). */
static void conn_apply_timeout(struct conn *c)
{
	if (c->closing || c->closed)
		return; /* conn_close_after_flush set its own */
	if (c->timeout_ms == 0) {
		bufferevent_set_timeouts(c->bev, NULL, NULL);
		return;
	}
	struct timeval tv = ms_to_tv(c->timeout_ms);
	bufferevent_set_timeouts(c->bev, NULL, &tv);
}

/* The command deadline runs exactly while reading is on, outside a
 * handshake; restart=false keeps a running one where it is. */
static void conn_update_deadline(struct conn *c, bool restart)
{
	bool reading = !c->paused && !c->closing && !c->closed && !conn_in_handshake(c);
	if (!reading || c->timeout_ms == 0) {
		(void)event_del(c->deadline_ev);
		return;
	}
	if (!restart && event_pending(c->deadline_ev, EV_TIMEOUT, NULL))
		return;
	struct timeval tv = ms_to_tv(c->timeout_ms);
	(void)event_add(c->deadline_ev, &tv);
}

static void conn_arm_handshake(struct conn *c)
{
	if (c->handshake_ms == 0 || c->closed) {
		if (c->handshake_ev != NULL)
			(void)event_del(c->handshake_ev);
		return;
	}
	if (c->handshake_ev == NULL) {
		c->handshake_ev = evtimer_new(c->base, handshake_cb, c);
		KASSERT(c->handshake_ev != NULL);
	}
	struct timeval tv = ms_to_tv(c->handshake_ms);
	(void)event_add(c->handshake_ev, &tv);
}

void conn_set_timeout(struct conn *c, unsigned ms)
{
	c->timeout_ms = ms;
	conn_apply_timeout(c);
	conn_update_deadline(c, true);
}

void conn_restart_deadline(struct conn *c)
{
	conn_update_deadline(c, true);
}

void conn_set_handshake_timeout(struct conn *c, unsigned ms)
{
	c->handshake_ms = ms;
	if (conn_in_handshake(c))
		conn_arm_handshake(c);
}

void conn_start_transfer_deadline(struct conn *c, unsigned ms)
{
	if (c->closing || c->closed || ms == 0)
		return;
	if (c->transfer_ev == NULL) {
		c->transfer_ev = evtimer_new(c->base, transfer_cb, c);
		KASSERT(c->transfer_ev != NULL);
	}
	struct timeval tv = ms_to_tv(ms);
	(void)event_add(c->transfer_ev, &tv);
}

void conn_stop_transfer_deadline(struct conn *c)
{
	if (c->transfer_ev != NULL)
		(void)event_del(c->transfer_ev);
}

const char *conn_timeout_what(const struct conn *c)
{
	return c->timeout_what;
}

void conn_pause_read(struct conn *c)
{
	if (c->paused || c->closed || c->closing)
		return;
	c->paused = true;
	bufferevent_disable(c->bev, EV_READ);
	conn_update_deadline(c, false);
}

void conn_resume_read(struct conn *c)
{
	if (!c->paused || c->closed || c->closing)
		return;
	c->paused = false;
	/* The client's next line is due from now, not from before the
	 * pause (our own work, or output it had to read first). */
	conn_update_deadline(c, true);
	if (c->hello_ev == NULL)
		bufferevent_enable(c->bev, EV_READ);
}

void conn_close_after_flush(struct conn *c)
{
	if (c->closing || c->closed)
		return;
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	(void)event_del(c->deadline_ev);
	conn_stop_transfer_deadline(c);
	if (c->hello_ev != NULL) {
		/* No handshake began: what was queued for it can never go. */
		(void)event_del(c->hello_ev);
		if (c->wait_out != NULL)
			(void)evbuffer_drain(c->wait_out, evbuffer_get_length(c->wait_out));
	}
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
