/* https_get: one HTTPS GET (see https_get.h). It owns the DNS request,
 * the socket (ours while connecting, then the TLS bufferevent's), the one
 * deadline timer, the response parser state and the body buffer. It
 * frees itself right after its callback returns, so nothing here touches
 * the request after hg_finish. It knows nothing of MTA-STS policies: the
 * caller parses the body. It never logs. */
#include "net/https_get.h"

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
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "net/dns.h"
#include "net/linereader.h"
#include "net/tls_client.h"

#define HG_CHUNK_LINE_MAX 1024

/* Where the request is. CONNECT covers DNS and TCP; BODY_LEN and
 * CHUNK_DATA wait for `left` more bytes; CHUNK_END for the CRLF after a
 * chunk; BODY_CLOSE for the TLS close_notify. */
enum hg_phase {
	HG_CONNECT,
	HG_HANDSHAKE,
	HG_STATUS,
	HG_HEADERS,
	HG_BODY_LEN,
	HG_CHUNK_SIZE,
	HG_CHUNK_DATA,
	HG_CHUNK_END,
	HG_TRAILERS,
	HG_BODY_CLOSE,
};

struct https_get {
	struct event_base *base; /* borrowed */
	SSL_CTX *ctx; /* borrowed; each SSL holds its own reference */
	char *host; /* owned */
	char *path; /* owned */
	unsigned port;
	size_t max_body;
	https_get_fn cb;
	void *arg; /* borrowed */
	struct dns_req *dreq; /* owned until its callback is entered */
	struct dns_result *res; /* owned: the addresses to try */
	size_t next_addr;
	int fd; /* owned while connecting; -1 when none or the bev has it */
	struct event *conn_ev; /* owned: waits for the TCP connect */
	struct bufferevent *bev; /* owned; owns the fd and the SSL */
	struct event *timer; /* owned: the deadline; also reports early failures */
	struct linereader lr;
	enum hg_phase phase;
	size_t head_used; /* bytes of status lines, headers and trailers */
	int status;
	bool chunked;
	bool has_len;
	uint64_t left;
	char ctype[HTTPS_GET_CTYPE_MAX];
	struct evbuffer *body; /* owned */
	bool early_fail; /* reason is set; the timer reports it */
	char reason[HTTPS_GET_REASON_MAX];
};

/* ---- lifetime ---- */

static void hg_destroy(struct https_get *g)
{
	dns_cancel(&g->dreq);
	dns_result_free(&g->res);
	if (g->conn_ev != NULL)
		event_free(g->conn_ev);
	if (g->fd >= 0)
		(void)close(g->fd);
	if (g->bev != NULL) {
		(void)bufferevent_disable(g->bev, EV_READ | EV_WRITE);
		bufferevent_free(g->bev);
	}
	event_free(g->timer);
	linereader_fini(&g->lr);
	evbuffer_free(g->body);
	free(g->host);
	free(g->path);
	free(g);
}

/* Reports and frees: the caller returns at once and touches g no more. */
static void hg_finish(struct https_get *g, bool ok)
{
	struct https_get_result r = {
		.ok = ok,
		.status = g->status,
		.content_type = g->ctype,
		.reason = ok ? "" : g->reason,
	};
	if (ok) {
		(void)evbuffer_add(g->body, "", 1);
		r.body = (const char *)evbuffer_pullup(g->body, -1);
		r.body_len = evbuffer_get_length(g->body) - 1;
	}
	(void)event_del(g->timer);
	if (g->bev != NULL)
		(void)bufferevent_disable(g->bev, EV_READ | EV_WRITE);
	g->cb(g->arg, &r);
	hg_destroy(g);
}

/* Sets the reason; returns -1 for the parser's callers. */
static __attribute__((format(printf, 2, 3))) int hg_fail(struct https_get *g, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(g->reason, sizeof(g->reason), fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- the response ---- */

static bool hg_is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* RFC 9112 4: HTTP-version SP 3DIGIT SP [reason]; a missing SP before
 * an empty reason is tolerated. */
static int hg_status_line(struct https_get *g, const char *s, size_t len)
{
	if (len < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' || s[7] > '9' || s[8] != ' ' ||
	    s[9] < '1' || s[9] > '5' || s[10] < '0' || s[10] > '9' || s[11] < '0' ||
	    s[11] > '9' || (len > 12 && s[12] != ' '))
		return hg_fail(g, "bad HTTP status line");
	g->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	g->chunked = g->has_len = false;
	g->ctype[0] = '\0';
	g->phase = HG_HEADERS;
	return 0;
}

static int hg_content_length(struct https_get *g, const char *v, size_t len)
{
	uint64_t n = 0;
	if (len == 0)
		return hg_fail(g, "bad Content-Length");
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9' || __builtin_mul_overflow(n, 10, &n) ||
		    __builtin_add_overflow(n, (uint64_t)(v[i] - '0'), &n))
			return hg_fail(g, "bad Content-Length");
	}
	/* RFC 9112 6.3: differing lengths are unrecoverable. */
	if (g->has_len && g->left != n)
		return hg_fail(g, "conflicting Content-Length");
	g->has_len = true;
	g->left = n;
	return 0;
}

/* One "name: value" line (a header, or a trailer, which is ignored). */
static int hg_field(struct https_get *g, const char *s, size_t len, bool trailer)
{
	/* RFC 9112 5.2: obsolete line folding may be rejected. */
	if (s[0] == ' ' || s[0] == '\t')
		return hg_fail(g, "folded header line");
	size_t n = 0;
	while (n < len && hg_is_tchar((unsigned char)s[n]))
		n++;
	/* RFC 9112 5.1: no whitespace between name and colon. */
	if (n == 0 || n == len || s[n] != ':')
		return hg_fail(g, "bad header line");
	const char *v = s + n + 1;
	size_t vlen = len - n - 1;
	for (size_t i = 0; i < vlen; i++) {
		unsigned char c = (unsigned char)v[i];
		/* RFC 9110 5.5: CR, LF and NUL never belong in a value. */
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return hg_fail(g, "control character in a header");
	}
	while (vlen > 0 && (v[0] == ' ' || v[0] == '\t'))
		v++, vlen--;
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (trailer)
		return 0;
	if (n == 14 && strncasecmp(s, "content-length", n) == 0)
		return hg_content_length(g, v, vlen);
	if (n == 17 && strncasecmp(s, "transfer-encoding", n) == 0) {
		/* Only "chunked", once: other codings are not asked for
		 * (no TE header) and a doubled one is a smuggling trick. */
		if (g->chunked || vlen != 7 || strncasecmp(v, "chunked", 7) != 0)
			return hg_fail(g, "unsupported Transfer-Encoding");
		g->chunked = true;
	} else if (n == 12 && strncasecmp(s, "content-type", n) == 0) {
		size_t keep = vlen < sizeof(g->ctype) - 1 ? vlen : sizeof(g->ctype) - 1;
		memcpy(g->ctype, v, keep);
		g->ctype[keep] = '\0';
	}
	return 0;
}

/* The empty line after the headers: decide how the body comes. Returns
 * 1 when the response is complete already. */
static int hg_headers_done(struct https_get *g)
{
	if (g->status >= 100 && g->status < 200 && g->status != 101) {
		g->phase = HG_STATUS; /* RFC 9110 15.2: interim, the final one follows */
		return 0;
	}
	if (g->status >= 300 && g->status < 400)
		return hg_fail(g, "redirect not followed (RFC 8461 3.3)");
	if (g->status != 200)
		return hg_fail(g, "HTTP %d", g->status);
	if (g->chunked) {
		/* RFC 9112 6.3: Transfer-Encoding overrides Content-Length. */
		g->phase = HG_CHUNK_SIZE;
	} else if (g->has_len) {
		if (g->left > g->max_body)
			return hg_fail(g, "body over %zu bytes", g->max_body);
		if (g->left == 0)
			return 1;
		g->phase = HG_BODY_LEN;
	} else {
		g->phase = HG_BODY_CLOSE;
	}
	return 0;
}

/* RFC 9112 7.1: chunk-size [chunk-ext]; extensions are ignored. */
static int hg_chunk_size(struct https_get *g, const char *s, size_t len)
{
	uint64_t n = 0;
	size_t i = 0;
	for (; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int d = c >= '0' && c <= '9' ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		if (d < 0)
			break;
		if (n > (UINT64_MAX >> 4))
			return hg_fail(g, "bad chunk size");
		n = n << 4 | (uint64_t)d;
	}
	size_t j = i;
	while (j < len && (s[j] == ' ' || s[j] == '\t'))
		j++;
	if (i == 0 || (j < len && s[j] != ';'))
		return hg_fail(g, "bad chunk size");
	if (n == 0) {
		g->phase = HG_TRAILERS;
		return 0;
	}
	size_t have = evbuffer_get_length(g->body);
	if (n > g->max_body - have)
		return hg_fail(g, "body over %zu bytes", g->max_body);
	g->left = n;
	g->phase = HG_CHUNK_DATA;
	return 0;
}

static int hg_line(struct https_get *g, const char *s, size_t len)
{
	switch (g->phase) {
	case HG_STATUS:
		return hg_status_line(g, s, len);
	case HG_HEADERS:
		return len == 0 ? hg_headers_done(g) : hg_field(g, s, len, false);
	case HG_CHUNK_SIZE:
		return hg_chunk_size(g, s, len);
	case HG_CHUNK_END:
		if (len != 0)
			return hg_fail(g, "bad chunk end");
		g->phase = HG_CHUNK_SIZE;
		return 0;
	case HG_TRAILERS:
		return len == 0 ? 1 : hg_field(g, s, len, true);
	default:
		KASSERT(!"not a line phase");
		return -1;
	}
}

/* Consumes what has arrived. Returns 1 when the response is complete,
 * 0 for more, -1 on failure (reason set). */
static int hg_parse(struct https_get *g)
{
	struct evbuffer *in = bufferevent_get_input(g->bev);
	for (;;) {
		if (g->phase == HG_BODY_LEN || g->phase == HG_CHUNK_DATA) {
			size_t avail = evbuffer_get_length(in);
			size_t n = (uint64_t)avail < g->left ? avail : (size_t)g->left;
			if (n == 0)
				return 0;
			(void)evbuffer_remove_buffer(in, g->body, n);
			g->left -= n;
			if (g->left > 0)
				return 0;
			if (g->phase == HG_BODY_LEN)
				return 1;
			g->phase = HG_CHUNK_END;
			continue;
		}
		if (g->phase == HG_BODY_CLOSE) {
			if (evbuffer_get_length(in) > g->max_body - evbuffer_get_length(g->body))
				return hg_fail(g, "body over %zu bytes", g->max_body);
			(void)evbuffer_add_buffer(g->body, in);
			return 0;
		}
		if (g->phase < HG_STATUS)
			return 0;
		bool head = g->phase != HG_CHUNK_SIZE && g->phase != HG_CHUNK_END;
		/* Each line costs its bytes and a CRLF out of the head budget. */
		size_t room = HTTPS_GET_HEAD_MAX - g->head_used;
		linereader_set_max(&g->lr, !head ? HG_CHUNK_LINE_MAX : room >= 2 ? room - 2 : 0);
		const char *line;
		size_t len;
		enum linereader_status st = linereader_next(&g->lr, in, &line, &len);
		if (st == LINEREADER_NEED_MORE)
			return 0;
		if (st == LINEREADER_TOO_LONG)
			return head ? hg_fail(g, "response headers over %d bytes", HTTPS_GET_HEAD_MAX)
				    : hg_fail(g, "chunk size line over %d bytes", HG_CHUNK_LINE_MAX);
		if (head)
			g->head_used += len + 2;
		int r = hg_line(g, line, len);
		if (r != 0)
			return r;
	}
}

/* ---- TLS and its events ---- */

/* "TLS: certificate verify failed: hostname mismatch": the first OpenSSL
 * error libevent saw (what when none) and the verification result.
 * Returns false, reason untouched, when there is neither and no what. */
static bool hg_tls_error(struct https_get *g, const char *what)
{
	unsigned long e, first = 0;
	while ((e = bufferevent_get_openssl_error(g->bev)) != 0)
		if (first == 0)
			first = e;
	const char *ossl = first != 0 ? ERR_reason_error_string(first) : NULL;
	long vr = SSL_get_verify_result(bufferevent_openssl_get_ssl(g->bev));
	const char *verify = vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "";
	if (ossl == NULL && (ossl = what) == NULL)
		return false;
	(void)hg_fail(g, "TLS: %s%s%s", ossl, verify[0] ? ": " : "", verify);
	return true;
}

static void hg_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct https_get *g = arg;
	int r = hg_parse(g);
	if (r != 0)
		hg_finish(g, r > 0);
}

static void hg_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct https_get *g = arg;
	if (what & BEV_EVENT_CONNECTED) {
		if (g->phase != HG_HANDSHAKE)
			return;
		g->phase = HG_STATUS;
		char hostport[DNS_NAME_MAX + 8];
		(void)snprintf(hostport, sizeof(hostport), g->port == 443 ? "%s" : "%s:%u", g->host,
			       g->port);
		(void)evbuffer_add_printf(bufferevent_get_output(g->bev),
					  "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: konvert\r\n"
					  "Accept: text/plain\r\nConnection: close\r\n\r\n",
					  g->path, hostport);
		return;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	if (g->phase == HG_HANDSHAKE) {
		(void)hg_tls_error(g, (what & BEV_EVENT_EOF) ? "connection closed by the server"
							     : "handshake failed");
		hg_finish(g, false);
		return;
	}
	/* Bytes that came with the end are still to be read. */
	int r = hg_parse(g);
	if (r != 0) {
		hg_finish(g, r > 0);
		return;
	}
	/* With allow_dirty_shutdown left off, libevent reports EOF only for
	 * a close_notify: a bare TCP close is an error (OpenSSL 3:
	 * "unexpected eof while reading"). */
	if (g->phase == HG_BODY_CLOSE && (what & BEV_EVENT_EOF)) {
		hg_finish(g, true);
		return;
	}
	if (g->phase == HG_BODY_CLOSE)
		(void)hg_fail(g, "connection closed without TLS close_notify (body may be cut)");
	else if (!hg_tls_error(g, NULL))
		(void)hg_fail(g, "connection closed before the end of the response");
	hg_finish(g, false);
}

/* ---- connecting ---- */

static void hg_conn_cb(evutil_socket_t fd, short what, void *arg);

/* Starts connecting to the next address; an immediate failure moves on.
 * Returns false (reason set) when no address is left. */
static bool hg_try_next(struct https_get *g)
{
	const struct dns_host *h = &g->res->hosts[0];
	while (g->next_addr < h->addr_count && g->next_addr < HTTPS_GET_ADDRS_TRY) {
		struct sockaddr_storage ss = h->addrs[g->next_addr++];
		socklen_t sl = sizeof(struct sockaddr_in6);
		if (ss.ss_family == AF_INET) {
			((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)g->port);
			sl = sizeof(struct sockaddr_in);
		} else {
			((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)g->port);
		}
		g->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (g->fd < 0) {
			(void)hg_fail(g, "socket: %s", strerror(errno));
			continue;
		}
		/* The request follows the handshake's last flight at once;
		 * Nagle would hold it for the server's delayed ACK. */
		int one = 1;
		(void)setsockopt(g->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/* Our own connect, so a failure keeps its errno. */
		if (connect(g->fd, (struct sockaddr *)&ss, sl) != 0 && errno != EINPROGRESS) {
			(void)hg_fail(g, "connect: %s", strerror(errno));
			(void)close(g->fd);
			g->fd = -1;
			continue;
		}
		g->conn_ev = event_new(g->base, g->fd, EV_WRITE, hg_conn_cb, g);
		KASSERT(g->conn_ev != NULL && event_add(g->conn_ev, NULL) == 0);
		return true;
	}
	return false;
}

/* TCP is up: TLS on the same socket, verified against the host name. */
static bool hg_start_tls(struct https_get *g)
{
	char err[HTTPS_GET_REASON_MAX - 16];
	SSL *ssl = tls_client_new_ssl(g->ctx, g->host, TLS_CLIENT_VERIFY_HOSTNAME, err, sizeof(err));
	if (ssl == NULL) {
		(void)hg_fail(g, "TLS: %s", err);
		return false;
	}
	g->bev = bufferevent_openssl_socket_new(g->base, g->fd, ssl, BUFFEREVENT_SSL_CONNECTING,
						BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	KASSERT(g->bev != NULL);
	g->fd = -1; /* the bufferevent's now, with the SSL */
	g->phase = HG_HANDSHAKE;
	bufferevent_setcb(g->bev, hg_read_cb, NULL, hg_event_cb, g);
	(void)bufferevent_enable(g->bev, EV_READ | EV_WRITE);
	return true;
}

static void hg_conn_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct https_get *g = arg;
	event_free(g->conn_ev);
	g->conn_ev = NULL;
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
		soerr = errno;
	if (soerr == 0) {
		if (!hg_start_tls(g))
			hg_finish(g, false);
		return;
	}
	(void)hg_fail(g, "connect: %s", strerror(soerr));
	(void)close(g->fd);
	g->fd = -1;
	if (!hg_try_next(g))
		hg_finish(g, false);
}

static void hg_dns_cb(struct dns_result *res, void *arg)
{
	struct https_get *g = arg;
	g->dreq = NULL;
	g->res = res;
	if (res->status != DNS_OK || res->host_count == 0 || res->hosts[0].addr_count == 0) {
		(void)hg_fail(g, "DNS: %s", res->reason[0] ? res->reason : "no address");
		hg_finish(g, false);
		return;
	}
	if (!hg_try_next(g))
		hg_finish(g, false);
}

static void hg_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct https_get *g = arg;
	if (!g->early_fail)
		(void)hg_fail(g, "timed out");
	hg_finish(g, false);
}

/* ---- public ---- */

struct https_get *https_get_start(struct event_base *base, struct dns *dns, SSL_CTX *ctx,
				  const char *host, unsigned port, const char *path,
				  size_t max_body, unsigned timeout_ms, https_get_fn cb, void *arg)
{
	KASSERT(path[0] == '/' && strlen(path) <= HTTPS_GET_PATH_MAX && port > 0 &&
		port <= 65535 && timeout_ms > 0);
	for (const char *p = path; *p != '\0'; p++)
		KASSERT((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f);
	struct https_get *g = xcalloc(1, sizeof(*g));
	g->base = base;
	g->ctx = ctx;
	size_t hlen = strlen(host);
	/* One trailing dot is allowed, but not in Host or SNI; lower case
	 * as the resolver shows names. */
	g->host = xstrndup(host, hlen > 0 && host[hlen - 1] == '.' ? hlen - 1 : hlen);
	for (char *p = g->host; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	g->path = xstrdup(path);
	g->port = port;
	g->max_body = max_body;
	g->cb = cb;
	g->arg = arg;
	g->fd = -1;
	g->body = evbuffer_new();
	g->timer = evtimer_new(base, hg_timer_cb, g);
	KASSERT(g->body != NULL && g->timer != NULL);
	linereader_init(&g->lr, HTTPS_GET_HEAD_MAX);
	/* The name goes into the Host header: nothing but a host name. */
	if (!dns_is_hostname(host, hlen)) {
		(void)hg_fail(g, "bad host name");
		g->early_fail = true;
		event_active(g->timer, EV_TIMEOUT, 0);
		return g;
	}
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	KASSERT(evtimer_add(g->timer, &tv) == 0);
	g->dreq = dns_resolve_host(dns, host, hg_dns_cb, g);
	return g;
}

void https_get_cancel(struct https_get **pp)
{
	struct https_get *g = *pp;
	if (g == NULL)
		return;
	*pp = NULL;
	hg_destroy(g);
}
