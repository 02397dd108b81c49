/* mta_conn: one outbound SMTP connection on the event loop. It owns the
 * socket, the bufferevents (plain, implicit TLS, or a STARTTLS filter over
 * the plain one), the one timer, the reply assembly (net/linereader +
 * proto/smtp_reply) and the mta_session; it turns socket events into
 * session calls and the session's end into mta_conn_end. It knows no
 * queue and no routing, and it never frees itself while a libevent
 * callback of its own is on the stack (depth + free_requested, as
 * net/conn.c). It does not use net/conn: that one is the server side. */
#include "mta/mta_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "core/limits.h"
#include "net/linereader.h"
#include "net/tls.h"
#include "proto/smtp_reply.h"

#define MTA_CONN_CONNECT_TIMEOUT_MS (30 * 1000)
/* A reply line longer than this is not SMTP (RFC 5321 4.5.3.1.5 allows
 * 512 octets; real servers stay far below our command ceiling). */
#define MTA_CONN_LINE_MAX SMTP_CMD_LINE_MAX
/* The write callback (mta_session_drained) fires once the output is down
 * to this; the session stops producing the body above 256 KiB. */
#define MTA_CONN_WRITE_LOW (64 * 1024)
/* Under a STARTTLS filter the plaintext layer takes at most this much
 * ciphertext. Kept at half the session's mark, so that whenever the
 * session has stopped, more than the low mark waits in the filter and
 * the filter's write callback will fire as it drains. */
#define MTA_CONN_UNDER_HIGH (128 * 1024)

struct mta_conn {
	struct event_base *base; /* borrowed */
	struct mta_conn_options opt; /* copy; opt.peer_name points at peer_name */
	char *peer_name; /* owned copy, may be NULL */
	struct tls_client_tlsa *tlsa; /* owned copy (opt.tlsa points here) */
	mta_job_done_fn job_done;
	mta_conn_done_fn done;
	void *arg; /* borrowed: the owner */
	struct mta_session *session; /* owned */
	int fd; /* owned unless bev_owns_fd; -1 when none */
	bool bev_owns_fd; /* the implicit TLS bufferevent closes it */
	/* owned: the plain socket bufferevent, the implicit TLS one, or the
	 * STARTTLS filter (which owns the plain one beneath it) */
	struct bufferevent *bev;
	struct event *timer; /* owned: connect timeout, then the state's */
	struct event *kick; /* owned: runs deferred work from the loop */
	struct linereader lr;
	struct smtp_reply reply;
	/* Jobs added while the session could have run them at once (state
	 * ready): handed over from the kick, so that job_done never fires
	 * inside mta_conn_add_job. Borrowed pointers; owned array. */
	struct mta_job **held;
	size_t held_head, held_count, held_cap; /* pending: head..count */
	bool finish_held; /* mta_conn_finish waits for the held jobs */
	bool finishing; /* mta_conn_finish called (or the idle QUIT) */
	bool fail_pending; /* report fail_reason from the kick */
	char fail_reason[MTA_REPLY_MAX];
	int depth; /* our libevent callbacks on the stack */
	bool free_requested;
	bool connected; /* TCP established */
	bool tls_handshaking;
	bool tls_up;
	bool tls_failed;
	long verify_result; /* X509_V_ERR_* of a failed handshake, else 0 */
	bool ended; /* the session ended: done fired (or was due) */
	enum mta_state state_before; /* state when the last event came in */
	struct mta_conn_end end;
};

static void read_cb(struct bufferevent *bev, void *arg);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);

/* ---- lifetime ---- */

static void conn_destroy(struct mta_conn *c)
{
	if (c->bev != NULL) {
		/* Stop the events now: the fd may close below while libevent
		 * still holds a reference for a deferred callback. */
		struct bufferevent *under = bufferevent_get_underlying(c->bev);
		if (under != NULL)
			(void)bufferevent_disable(under, EV_READ | EV_WRITE);
		(void)bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		bufferevent_free(c->bev);
	}
	if (!c->bev_owns_fd && c->fd >= 0)
		(void)close(c->fd);
	event_free(c->timer);
	event_free(c->kick);
	mta_session_free(&c->session);
	linereader_fini(&c->lr);
	smtp_reply_fini(&c->reply);
	free(c->held);
	free(c->peer_name);
	for (size_t i = 0; i < c->opt.tlsa_count; i++)
		free((void *)c->tlsa[i].data);
	free(c->tlsa);
	free(c);
}

static void conn_enter(struct mta_conn *c)
{
	c->depth++;
}

/* Ends every libevent callback: frees a conn whose owner asked for it
 * while we were inside. */
static void conn_leave(struct mta_conn *c)
{
	c->depth--;
	if (c->depth == 0 && c->free_requested)
		conn_destroy(c);
}

/* Nothing more happens on this conn: no reads, writes or timer. */
static void conn_quiesce(struct mta_conn *c)
{
	(void)event_del(c->timer);
	if (c->bev != NULL)
		(void)bufferevent_disable(c->bev, EV_READ | EV_WRITE);
}

static bool conn_dead(const struct mta_conn *c)
{
	return c->ended || c->free_requested;
}

/* ---- timer ---- */

static void timer_arm_ms(struct mta_conn *c, unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	(void)event_add(c->timer, &tv);
}

static unsigned state_timeout_ms(const struct mta_conn *c)
{
	unsigned ms = mta_session_timeout_ms(c->session);
	if (c->opt.timeout_scale_ms != 0) {
		unsigned long long scaled = (unsigned long long)ms * c->opt.timeout_scale_ms / 1000;
		ms = scaled == 0 ? 1 : scaled > 0xffffffffULL ? 0xffffffffU : (unsigned)scaled;
	}
	return ms;
}

/* Restarts the state's timer: after a complete reply, a write, progress
 * of written data, a finished handshake. Never on partial input. */
static void timer_restart(struct mta_conn *c)
{
	if (!c->connected || conn_dead(c))
		return;
	timer_arm_ms(c, state_timeout_ms(c));
}

/* ---- ending ---- */

/* The connection is unusable: the session settles its jobs and ends
 * (session_done -> done). */
static void conn_lost(struct mta_conn *c, const char *reason)
{
	if (conn_dead(c))
		return;
	c->state_before = mta_session_state(c->session);
	mta_session_lost(c->session, reason);
}

/* A failure found inside a call that must not report it (mta_conn_new,
 * the session's starttls request): reported from the loop. */
static void conn_fail_later(struct mta_conn *c, const char *reason)
{
	if (c->fail_pending)
		return;
	c->fail_pending = true;
	(void)snprintf(c->fail_reason, sizeof(c->fail_reason), "%s", reason);
	event_active(c->kick, EV_TIMEOUT, 0);
}

static void on_job_done(void *arg, struct mta_job *job)
{
	struct mta_conn *c = arg;
	if (!c->free_requested)
		c->job_done(c->arg, job);
}

static void on_session_done(void *arg, bool ok, bool temp, const char *reason)
{
	struct mta_conn *c = arg;
	c->ended = true;
	conn_quiesce(c);
	c->end.ok = ok;
	c->end.temp = temp;
	c->end.connected = c->connected;
	c->end.tls_failed = c->tls_failed;
	c->end.tls_up = c->tls_up;
	c->end.verify_result = c->verify_result;
	c->end.state = c->state_before;
	(void)snprintf(c->end.reason, sizeof(c->end.reason), "%s", reason);
	/* Jobs that never reached the session end the same way. */
	while (c->held_head < c->held_count) {
		struct mta_job *job = c->held[c->held_head++];
		for (size_t r = 0; r < job->rcpt_count; r++)
			(void)snprintf(job->results[r].reply, sizeof(job->results[r].reply), "%s",
				       reason);
		if (!c->free_requested)
			c->job_done(c->arg, job);
	}
	c->held_head = c->held_count = 0;
	if (!c->free_requested)
		c->done(c->arg, c, &c->end);
}

/* ---- the session's transport ---- */

static size_t conn_output_len(const struct mta_conn *c)
{
	if (c->bev == NULL)
		return 0;
	size_t n = evbuffer_get_length(bufferevent_get_output(c->bev));
	/* Under a STARTTLS filter the records wait in the layer below. */
	struct bufferevent *under = bufferevent_get_underlying(c->bev);
	if (under != NULL)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

static void io_write(void *ctx, const void *data, size_t len)
{
	struct mta_conn *c = ctx;
	if (conn_dead(c) || c->bev == NULL)
		return;
	(void)evbuffer_add(bufferevent_get_output(c->bev), data, len);
	timer_restart(c);
}

static size_t io_output_len(void *ctx)
{
	return conn_output_len(ctx);
}

/* The server said 220 to STARTTLS: the TLS layer goes on top of the
 * plain bufferevent, in place. */
static SSL *new_ssl(struct mta_conn *c, char *err, size_t err_size);

static void io_starttls(void *ctx)
{
	struct mta_conn *c = ctx;
	if (conn_dead(c))
		return;
	/* RFC 3207 5 / CVE-2011-0411 in reverse: a server must send nothing
	 * after its 220 until the handshake; whatever it did send in clear
	 * (a forged "250" to a later command) is dropped, never read as if
	 * it came over TLS. */
	struct evbuffer *in = bufferevent_get_input(c->bev);
	(void)evbuffer_drain(in, evbuffer_get_length(in));
	smtp_reply_reset(&c->reply);
	if (c->opt.tls_ctx == NULL) {
		c->tls_failed = true;
		conn_fail_later(c, "4.7.0 TLS is not available here (no client TLS context)");
		return;
	}
	char err[MTA_REPLY_MAX - 64];
	SSL *ssl = new_ssl(c, err, sizeof(err));
	if (ssl == NULL) {
		char why[MTA_REPLY_MAX];
		(void)snprintf(why, sizeof(why), "4.7.0 TLS handshake failed: %s", err);
		c->tls_failed = true;
		conn_fail_later(c, why);
		return;
	}
	/* The plain layer takes at most this much ciphertext: back-pressure
	 * reaches the filter (see MTA_CONN_UNDER_HIGH). */
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, MTA_CONN_UNDER_HIGH);
	/* Deferred callbacks: a write into the filter encrypts at once and
	 * could otherwise call us back (write or error) from inside the
	 * session's own write. */
	struct bufferevent *tls =
		bufferevent_openssl_filter_new(c->base, c->bev, ssl, BUFFEREVENT_SSL_CONNECTING,
					       BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (tls == NULL) {
		SSL_free(ssl);
		c->tls_failed = true;
		conn_fail_later(c, "4.7.0 TLS handshake failed: cannot set up the TLS layer");
		return;
	}
	/* the filter frees the plain bufferevent with it; the fd stays ours */
	c->bev = tls;
	c->tls_handshaking = true;
	bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	bufferevent_setcb(tls, read_cb, write_cb, event_cb, c);
	bufferevent_setwatermark(tls, EV_WRITE, MTA_CONN_WRITE_LOW, 0);
	(void)bufferevent_enable(tls, EV_READ | EV_WRITE);
}

/* The SSL for this connection with its verification mode. */
static SSL *new_ssl(struct mta_conn *c, char *err, size_t err_size)
{
	if (c->opt.tls_verify == TLS_CLIENT_VERIFY_DANE) {
		bool unusable;
		return tls_client_new_ssl_dane(c->opt.tls_ctx, c->peer_name, c->opt.tlsa,
					       c->opt.tlsa_count, &unusable, err, err_size);
	}
	return tls_client_new_ssl(c->opt.tls_ctx, c->peer_name, c->opt.tls_verify, err,
				  err_size);
}

/* ---- replies ---- */

static void caps_from_ehlo(const struct smtp_ehlo *e, struct mta_caps *caps)
{
	memset(caps, 0, sizeof(*caps));
	caps->esmtp = true;
	caps->pipelining = e->pipelining;
	caps->eightbitmime = e->eightbitmime;
	caps->smtputf8 = e->smtputf8;
	caps->dsn = e->dsn;
	caps->starttls = e->starttls;
	caps->chunking = e->chunking;
	caps->enhanced = e->enhancedstatuscodes;
	caps->requiretls = e->requiretls;
	caps->auth_plain = (e->auth & SMTP_EHLO_AUTH_PLAIN) != 0;
	caps->auth_login = (e->auth & SMTP_EHLO_AUTH_LOGIN) != 0;
	caps->size = e->has_size;
	caps->size_max = e->size_max;
}

/* A complete reply is in c->reply: hand it to the session. */
static void deliver_reply(struct mta_conn *c)
{
	char text[MTA_REPLY_MAX];
	struct mta_caps caps;
	struct mta_reply r = {.code = c->reply.code, .text = text, .caps = NULL};
	(void)smtp_reply_render(&c->reply, text, sizeof(text));
	c->state_before = mta_session_state(c->session);
	if (r.code == 250 && c->state_before == MTA_STATE_EHLO) {
		struct smtp_ehlo e;
		if (smtp_reply_parse_ehlo(&c->reply, &e) == 0) {
			caps_from_ehlo(&e, &caps);
			r.caps = &caps;
		}
	}
	smtp_reply_reset(&c->reply);
	mta_session_reply(c->session, &r);
	timer_restart(c);
}

static void protocol_error(struct mta_conn *c, const char *what)
{
	char why[MTA_REPLY_MAX];
	(void)snprintf(why, sizeof(why), "4.4.2 protocol error in state %s: %s",
		       mta_state_name(mta_session_state(c->session)), what);
	conn_lost(c, why);
}

/* Every complete reply in the input, in order (PIPELINING sends many at
 * once). Stops at the end of the session, and at STARTTLS: the input
 * was dropped and the next bytes belong to the handshake. */
static void read_replies(struct mta_conn *c)
{
	while (!conn_dead(c) && !c->tls_handshaking) {
		const char *line;
		size_t len;
		enum linereader_status st =
			linereader_next(&c->lr, bufferevent_get_input(c->bev), &line, &len);
		if (st == LINEREADER_NEED_MORE)
			return;
		if (st == LINEREADER_TOO_LONG) {
			char what[64];
			(void)snprintf(what, sizeof(what), "reply line longer than %d bytes",
				       MTA_CONN_LINE_MAX);
			protocol_error(c, what);
			return;
		}
		int r = smtp_reply_feed(&c->reply, line, len);
		if (r < 0) {
			protocol_error(c, smtp_reply_strerror(c->reply.err));
			return;
		}
		if (r > 0)
			deliver_reply(c);
	}
}

/* ---- libevent callbacks ---- */

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct mta_conn *c = arg;
	conn_enter(c);
	if (c->fail_pending) {
		c->fail_pending = false;
		conn_lost(c, c->fail_reason);
	}
	/* Jobs first, in order, then the finish that followed them. The
	 * array may grow while we hand over (a job_done adding a job). */
	while (!conn_dead(c) && c->held_head < c->held_count) {
		struct mta_job *job = c->held[c->held_head++];
		c->state_before = mta_session_state(c->session);
		mta_session_add_job(c->session, job);
	}
	if (!conn_dead(c)) {
		c->held_head = c->held_count = 0;
		if (c->finish_held) {
			c->finish_held = false;
			mta_session_finish(c->session);
		}
		timer_restart(c);
	}
	conn_leave(c);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct mta_conn *c = arg;
	conn_enter(c);
	char why[MTA_REPLY_MAX];
	if (conn_dead(c)) {
		/* nothing */
	} else if (!c->connected) {
		unsigned ms = c->opt.connect_timeout_ms;
		(void)snprintf(why, sizeof(why), "4.4.1 connect: timed out after %u ms", ms);
		conn_lost(c, why);
	} else if (c->tls_handshaking) {
		/* A handshake that stalls is a failed handshake: for
		 * relay_tls = opportunistic the router may retry in clear. */
		c->tls_failed = true;
		conn_lost(c, "4.4.2 TLS handshake failed: timeout");
	} else if (mta_session_state(c->session) == MTA_STATE_READY) {
		/* Kept for reuse and not reused: leave politely (unless jobs
		 * are about to be handed over by the kick). */
		if (c->held_head == c->held_count) {
			c->finishing = true;
			c->state_before = MTA_STATE_READY;
			mta_session_finish(c->session);
		}
		timer_restart(c);
	} else {
		(void)snprintf(why, sizeof(why), "4.4.2 timeout waiting for the server in state %s",
			       mta_state_name(mta_session_state(c->session)));
		conn_lost(c, why);
	}
	conn_leave(c);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct mta_conn *c = arg;
	conn_enter(c);
	read_replies(c);
	conn_leave(c);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct mta_conn *c = arg;
	conn_enter(c);
	if (!conn_dead(c) && !c->tls_handshaking) {
		/* Written data left: the server is reading (RFC 5321 4.5.3.2.5
		 * bounds each data block, not the whole body). */
		timer_restart(c);
		c->state_before = mta_session_state(c->session);
		mta_session_drained(c->session);
	}
	conn_leave(c);
}

/* The TCP connection is up. */
static void on_connected(struct mta_conn *c)
{
	c->connected = true;
	if (!c->opt.implicit_tls) {
		bufferevent_setwatermark(c->bev, EV_WRITE, MTA_CONN_WRITE_LOW, 0);
		(void)bufferevent_enable(c->bev, EV_READ | EV_WRITE);
		timer_restart(c);
		return;
	}
	/* Implicit TLS (RFC 8314, a smarthost on 465): the TLS bufferevent
	 * replaces the plain one on the same socket. */
	char err[MTA_REPLY_MAX - 64];
	SSL *ssl = c->opt.tls_ctx == NULL ? NULL : new_ssl(c, err, sizeof(err));
	if (ssl == NULL) {
		char why[MTA_REPLY_MAX];
		(void)snprintf(why, sizeof(why), "4.7.0 TLS handshake failed: %s",
			       c->opt.tls_ctx == NULL ? "no client TLS context" : err);
		c->tls_failed = true;
		conn_lost(c, why);
		return;
	}
	(void)bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_free(c->bev); /* does not own the fd */
	c->bev = bufferevent_openssl_socket_new(c->base, c->fd, ssl, BUFFEREVENT_SSL_CONNECTING,
						BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	KASSERT(c->bev != NULL);
	c->bev_owns_fd = true; /* and the SSL */
	c->tls_handshaking = true;
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, MTA_CONN_WRITE_LOW, 0);
	(void)bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	timer_restart(c);
}

static void on_tls_ready(struct mta_conn *c)
{
	c->tls_handshaking = false;
	c->tls_up = true;
	if (c->opt.tls_verify == TLS_CLIENT_VERIFY_HOSTNAME_REPORT) {
		SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
		c->verify_result = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	}
	timer_restart(c);
	if (c->opt.implicit_tls)
		return; /* the session waits for the greeting, already in TLS */
	c->state_before = mta_session_state(c->session);
	mta_session_tls_ready(c->session);
	timer_restart(c);
	/* Records that arrived with the last handshake message. */
	read_replies(c);
}

/* "TLS handshake failed: <first OpenSSL error>[ (<verify result>)]". */
static void tls_error_text(struct mta_conn *c, char *out, size_t out_size, short what)
{
	char ossl[256] = "";
	unsigned long e, first = 0;
	while ((e = bufferevent_get_openssl_error(c->bev)) != 0)
		if (first == 0)
			first = e;
	if (first != 0)
		ERR_error_string_n(first, ossl, sizeof(ossl));
	const char *verify = "";
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	/* Opportunistic TLS does not check the chain: its verify result
	 * ("self-signed certificate") is no reason for anything. */
	long vr = ssl != NULL && c->opt.tls_verify != TLS_CLIENT_VERIFY_NONE
			  ? SSL_get_verify_result(ssl)
			  : X509_V_OK;
	if (vr != X509_V_OK) {
		verify = X509_verify_cert_error_string(vr);
		c->verify_result = vr;
	}
	if (ossl[0] == '\0')
		(void)snprintf(ossl, sizeof(ossl), "%s",
			       (what & BEV_EVENT_EOF) ? "connection closed by the server"
						      : "connection error");
	(void)snprintf(out, out_size, "%s%s%s%s", ossl, verify[0] ? " (" : "", verify,
		       verify[0] ? ")" : "");
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct mta_conn *c = arg;
	conn_enter(c);
	char why[MTA_REPLY_MAX];
	if (conn_dead(c)) {
		/* nothing */
	} else if (!c->connected) {
		if (what & BEV_EVENT_CONNECTED) {
			on_connected(c);
		} else {
			/* libevent sets errno from SO_ERROR before this
			 * (non-deferred) callback. */
			int e = EVUTIL_SOCKET_ERROR();
			(void)snprintf(why, sizeof(why), "4.4.1 connect: %s",
				       e != 0 ? strerror(e) : "connection failed");
			conn_lost(c, why);
		}
	} else if (what & BEV_EVENT_CONNECTED) {
		if (c->tls_handshaking)
			on_tls_ready(c);
	} else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		const char *st = mta_state_name(mta_session_state(c->session));
		if (c->tls_handshaking) {
			char t[MTA_REPLY_MAX - 64];
			tls_error_text(c, t, sizeof(t), what);
			(void)snprintf(why, sizeof(why), "4.4.2 TLS handshake failed: %s", t);
			c->tls_failed = true;
		} else if (c->tls_up && (what & BEV_EVENT_ERROR)) {
			char t[MTA_REPLY_MAX - 64];
			tls_error_text(c, t, sizeof(t), what);
			(void)snprintf(why, sizeof(why), "4.4.2 TLS error in state %s: %s", st, t);
		} else if (what & BEV_EVENT_EOF) {
			(void)snprintf(why, sizeof(why),
				       "4.4.2 connection closed by the server in state %s", st);
		} else {
			int e = EVUTIL_SOCKET_ERROR();
			(void)snprintf(why, sizeof(why), "4.4.2 connection error in state %s: %s", st,
				       e != 0 ? strerror(e) : "unknown");
		}
		conn_lost(c, why);
	}
	conn_leave(c);
}

/* ---- public ---- */

struct mta_conn *mta_conn_new(struct event_base *base, const struct mta_conn_options *opt,
			      mta_job_done_fn job_done, mta_conn_done_fn done, void *arg)
{
	struct mta_conn *c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->opt = *opt;
	c->peer_name = opt->peer_name != NULL ? xstrdup(opt->peer_name) : NULL;
	c->opt.peer_name = c->peer_name;
	if (opt->tlsa_count > 0) {
		c->tlsa = xcalloc(opt->tlsa_count, sizeof(*c->tlsa));
		for (size_t i = 0; i < opt->tlsa_count; i++) {
			c->tlsa[i] = opt->tlsa[i];
			unsigned char *d = xmalloc(opt->tlsa[i].len ? opt->tlsa[i].len : 1);
			if (opt->tlsa[i].len)
				memcpy(d, opt->tlsa[i].data, opt->tlsa[i].len);
			c->tlsa[i].data = d;
		}
	}
	c->opt.tlsa = c->tlsa;
	if (c->opt.connect_timeout_ms == 0)
		c->opt.connect_timeout_ms = MTA_CONN_CONNECT_TIMEOUT_MS;
	c->job_done = job_done;
	c->done = done;
	c->arg = arg;
	c->fd = -1;
	c->timer = evtimer_new(base, timer_cb, c);
	c->kick = event_new(base, -1, 0, kick_cb, c);
	KASSERT(c->timer != NULL && c->kick != NULL);
	linereader_init(&c->lr, MTA_CONN_LINE_MAX);
	smtp_reply_init(&c->reply, SMTP_REPLY_LINES_MAX, SMTP_REPLY_TEXT_MAX);
	struct mta_options so = opt->session;
	so.tls_active = opt->implicit_tls;
	struct mta_io io = {
		.write = io_write,
		.starttls = io_starttls,
		.output_len = io_output_len,
		.ctx = c,
	};
	/* The session writes nothing before the greeting, so it can exist
	 * (and queue jobs) before the connection does. */
	c->session = mta_session_new(&so, &io, on_job_done, on_session_done, c);
	c->state_before = MTA_STATE_GREETING;

	char why[MTA_REPLY_MAX];
	const struct sockaddr *sa = (const struct sockaddr *)&c->opt.addr;
	c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		(void)snprintf(why, sizeof(why), "4.4.1 socket: %s", strerror(errno));
		conn_fail_later(c, why);
		return c;
	}
	/* Commands leave in one write per loop turn already; Nagle would
	 * hold each pipelined batch's tail until the server's delayed ACK. */
	int one = 1;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Our own connect, so an immediate failure keeps its errno (libevent
	 * reports one through a deferred callback, errno long gone). */
	if (connect(c->fd, sa, c->opt.addr_len) != 0 && errno != EINPROGRESS) {
		(void)snprintf(why, sizeof(why), "4.4.1 connect: %s", strerror(errno));
		conn_fail_later(c, why);
		return c;
	}
	/* Plain socket bufferevent without deferred callbacks: nothing we
	 * call on it runs a callback synchronously, and the connect error
	 * reaches event_cb with errno set. It does not own the fd. */
	c->bev = bufferevent_socket_new(base, c->fd, 0);
	KASSERT(c->bev != NULL);
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	if (bufferevent_socket_connect(c->bev, NULL, 0) != 0) {
		conn_fail_later(c, "4.4.1 connect: cannot watch the socket");
		return c;
	}
	timer_arm_ms(c, c->opt.connect_timeout_ms);
	return c;
}

void mta_conn_add_job(struct mta_conn *c, struct mta_job *job)
{
	KASSERT(!c->finishing && !c->ended);
	for (size_t i = 0; i < job->rcpt_count; i++)
		memset(&job->results[i], 0, sizeof(job->results[i]));
	if (c->held_head == c->held_count && mta_session_state(c->session) != MTA_STATE_READY) {
		/* Only queued: the session is busy, nothing runs now. */
		mta_session_add_job(c->session, job);
		return;
	}
	/* In state ready the session would start (or refuse) the job at
	 * once, and a refused job's job_done must not fire in here. */
	if (c->held_head == c->held_count)
		c->held_head = c->held_count = 0;
	if (c->held_count == c->held_cap) {
		c->held_cap = c->held_cap ? 2 * c->held_cap : 4;
		c->held = xrealloc(c->held, c->held_cap * sizeof(*c->held));
	}
	c->held[c->held_count++] = job;
	event_active(c->kick, EV_TIMEOUT, 0);
}

void mta_conn_finish(struct mta_conn *c)
{
	if (c->finishing || c->ended)
		return;
	c->finishing = true;
	if (c->held_head < c->held_count) {
		c->finish_held = true;
		return;
	}
	/* At most writes QUIT (state ready); no callback runs from here. */
	mta_session_finish(c->session);
	timer_restart(c);
}

void mta_conn_set_owner(struct mta_conn *c, mta_job_done_fn job_done, mta_conn_done_fn done,
			void *arg)
{
	c->job_done = job_done;
	c->done = done;
	c->arg = arg;
}

bool mta_conn_is_idle(const struct mta_conn *c)
{
	return c->connected && !conn_dead(c) && !c->finishing && !c->tls_handshaking &&
	       c->held_head == c->held_count && mta_session_state(c->session) == MTA_STATE_READY;
}

void mta_conn_describe_tls(const struct mta_conn *c, char *out, size_t out_size)
{
	if (out_size == 0)
		return;
	out[0] = '\0';
	if (!c->tls_up || c->bev == NULL)
		return;
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	if (ssl != NULL)
		tls_describe(ssl, out, out_size);
}

void mta_conn_free(struct mta_conn **pp)
{
	struct mta_conn *c = *pp;
	if (c == NULL)
		return;
	*pp = NULL;
	if (c->depth > 0) {
		c->free_requested = true;
		conn_quiesce(c);
		(void)event_del(c->kick);
		return;
	}
	conn_destroy(c);
}

bool mta_conn_tls_up(const struct mta_conn *c)
{
	return c->tls_up;
}

long mta_conn_verify_result(const struct mta_conn *c)
{
	return c->verify_result;
}
