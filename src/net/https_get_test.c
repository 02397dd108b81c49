/* https_get_test: the HTTPS GET client against a tiny TLS server run on
 * the same event loop (an evconnlistener on 127.0.0.1:0, the server side
 * of bufferevent_openssl, certificates made here and written to the
 * client's trust file), with a fake resolver (dns_new_fake) answering
 * the host with loopback addresses. Each scripted response runs twice:
 * sent at once, and revealed one byte per loop turn (one TLS record per
 * byte). Also covers the request sent, timeouts (silent and dripping
 * server), certificate failures, refused connects and falling back to
 * the next address, DNS failures, a bad host name and cancelling. */
#include "net/https_get.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "net/dns.h"
#include "net/tls_client.h"

#define HOST "mta-sts.example.test"
#define PATH "/.well-known/mta-sts.txt"
#define GUARD_MS 4000
#define MAX_BODY 65536

/* ---- the scripted TLS server ---- */

enum srv_end {
	END_KEEP, /* stay open after the response */
	END_CLEAN, /* TLS close_notify, then close */
	END_DIRTY, /* close the socket without close_notify */
};

struct server {
	struct event_base *base;
	struct evconnlistener *lis;
	uint16_t port;
	SSL_CTX *tls; /* borrowed */
	const char *resp; /* NULL: never answer */
	size_t resp_len, sent;
	enum srv_end end;
	int drip_ms; /* < 0: all at once; else one byte every drip_ms */
	struct bufferevent *bev;
	struct evbuffer *rx; /* the request, decrypted */
	bool answered, closing;
	bool break_on_request; /* stop the loop once the request is in */
	struct event *drip_ev;
	char sni[64];
	int accepts;
};

static void srv_close(struct server *s)
{
	if (s->bev == NULL)
		return;
	if (s->end == END_CLEAN && s->closing)
		(void)SSL_shutdown(bufferevent_openssl_get_ssl(s->bev));
	bufferevent_free(s->bev);
	s->bev = NULL;
	if (s->drip_ev != NULL)
		(void)event_del(s->drip_ev);
}

static void srv_sent_all(struct server *s)
{
	if (s->end == END_KEEP)
		return;
	s->closing = true;
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		srv_close(s);
}

static void srv_drip_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct server *s = arg;
	if (s->bev == NULL)
		return;
	(void)bufferevent_write(s->bev, s->resp + s->sent, 1);
	if (++s->sent == s->resp_len) {
		srv_sent_all(s);
		return;
	}
	/* Not EV_PERSIST: libevent does not repeat a zero timeout. */
	struct timeval tv = {0, s->drip_ms * 1000};
	assert_int_equal(event_add(s->drip_ev, &tv), 0);
}

static void srv_read_cb(struct bufferevent *bev, void *arg)
{
	struct server *s = arg;
	(void)evbuffer_add_buffer(s->rx, bufferevent_get_input(bev));
	if (s->answered || evbuffer_search(s->rx, "\r\n\r\n", 4, NULL).pos < 0)
		return;
	s->answered = true;
	const char *sni = SSL_get_servername(bufferevent_openssl_get_ssl(bev),
					     TLSEXT_NAMETYPE_host_name);
	(void)snprintf(s->sni, sizeof(s->sni), "%s", sni != NULL ? sni : "");
	if (s->break_on_request)
		event_base_loopbreak(s->base);
	if (s->resp == NULL)
		return;
	if (s->drip_ms >= 0) {
		s->drip_ev = evtimer_new(s->base, srv_drip_cb, s);
		assert_non_null(s->drip_ev);
		struct timeval tv = {0, s->drip_ms * 1000};
		assert_int_equal(event_add(s->drip_ev, &tv), 0);
		return;
	}
	(void)bufferevent_write(bev, s->resp, s->resp_len);
	srv_sent_all(s);
}

static void srv_write_cb(struct bufferevent *bev, void *arg)
{
	struct server *s = arg;
	if (s->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		srv_close(s);
}

static void srv_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct server *s = arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		s->closing = false; /* the client left: no close_notify */
		srv_close(s);
	}
}

static void srv_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			  int salen, void *arg)
{
	(void)l;
	(void)sa;
	(void)salen;
	struct server *s = arg;
	s->accepts++;
	if (s->bev != NULL) {
		(void)close(fd); /* one connection per test */
		return;
	}
	/* No Nagle: the response must not wait for the client's delayed ACK
	 * of the session tickets sent just before it. */
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	SSL *ssl = SSL_new(s->tls);
	assert_non_null(ssl);
	s->bev = bufferevent_openssl_socket_new(s->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
						BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(s->bev);
	bufferevent_setcb(s->bev, srv_read_cb, srv_write_cb, srv_event_cb, s);
	(void)bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static void srv_init(struct server *s, struct event_base *base, SSL_CTX *tls)
{
	memset(s, 0, sizeof(*s));
	s->base = base;
	s->tls = tls;
	s->drip_ms = -1;
	s->rx = evbuffer_new();
	assert_non_null(s->rx);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lis = evconnlistener_new_bind(base, srv_accept_cb, s,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
					 (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(s->lis);
	socklen_t len = sizeof(sin);
	assert_int_equal(getsockname(evconnlistener_get_fd(s->lis), (struct sockaddr *)&sin, &len),
			 0);
	s->port = ntohs(sin.sin_port);
}

static void srv_fini(struct server *s)
{
	srv_close(s);
	if (s->drip_ev != NULL)
		event_free(s->drip_ev);
	evconnlistener_free(s->lis);
	evbuffer_free(s->rx);
}

/* ---- TLS material made here ---- */

struct cert {
	EVP_PKEY *key;
	X509 *x;
};

static struct cert good_cert; /* HOST, trusted */
static struct cert other_cert; /* another name, trusted */
static struct cert stranger_cert; /* HOST, not trusted */

static void make_cert(struct cert *c, const char *name)
{
	c->key = EVP_EC_gen("P-256");
	assert_non_null(c->key);
	X509 *x = X509_new();
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_set_pubkey(x, c->key), 1);
	X509_NAME *xn = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(xn, "CN", MBSTRING_ASC,
						    (const unsigned char *)name, -1, -1, 0),
			 1);
	assert_int_equal(X509_set_issuer_name(x, xn), 1);
	char san[128];
	(void)snprintf(san, sizeof(san), "DNS:%s", name);
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &v3, NID_subject_alt_name, san);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, c->key, EVP_sha256()) > 0);
	c->x = x;
}

static void free_cert(struct cert *c)
{
	X509_free(c->x);
	EVP_PKEY_free(c->key);
}

/* The client's trust file: good_cert and other_cert (not the system
 * store, which would cost a bundle load per test). */
static char ca_path[64];

static void write_trust_file(void)
{
	(void)snprintf(ca_path, sizeof(ca_path), "/tmp/konvert-https-get-ca-XXXXXX");
	int fd = mkstemp(ca_path);
	assert_true(fd >= 0);
	FILE *fp = fdopen(fd, "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_X509(fp, good_cert.x), 1);
	assert_int_equal(PEM_write_X509(fp, other_cert.x), 1);
	assert_int_equal(fclose(fp), 0);
}

static SSL_CTX *server_ctx(const struct cert *c)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_use_certificate(ctx, c->x), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, c->key), 1);
	return ctx;
}

/* ---- the client side ---- */

struct fx {
	struct event_base *base;
	struct dns *dns;
	SSL_CTX *cctx; /* owned: client context, trusting ca_path */
	SSL_CTX *sctx; /* owned: the server's */
	struct server srv;
	const char *addrs[4]; /* the fake's IPv4 answers for HOST */
	size_t naddrs;
	struct https_get *g;
	int calls;
	bool timed_out;
	bool ok;
	int status;
	char *body; /* owned copy */
	size_t body_len;
	char ctype[HTTPS_GET_CTYPE_MAX];
	char reason[HTTPS_GET_REASON_MAX];
};

static struct dns_result *fake_host(enum dns_kind kind, const char *name, void *arg)
{
	struct fx *f = arg;
	struct dns_result *res = dns_result_new();
	if (kind != DNS_KIND_HOST || strcasecmp(name, HOST) != 0 || f->naddrs == 0) {
		dns_result_set(res, DNS_PERMFAIL, "5.1.2", "fake: %s does not exist", name);
		return res;
	}
	struct dns_host *h = dns_result_add_host(res, name, 0);
	struct dns_lookup v6 = {.status = ARES_ENODATA}, v4 = {.status = ARES_SUCCESS};
	for (size_t i = 0; i < f->naddrs; i++)
		assert_int_equal(inet_pton(AF_INET, f->addrs[i], v4.addr[v4.count++]), 1);
	dns_host_settle(h, &v6, &v4);
	dns_result_settle(res, kind, name);
	return res;
}

static void on_result(void *arg, const struct https_get_result *r)
{
	struct fx *f = arg;
	f->calls++;
	f->g = NULL; /* invalid from here on */
	f->ok = r->ok;
	f->status = r->status;
	assert_non_null(r->content_type);
	assert_non_null(r->reason);
	(void)snprintf(f->ctype, sizeof(f->ctype), "%s", r->content_type);
	(void)snprintf(f->reason, sizeof(f->reason), "%s", r->reason);
	if (r->ok) {
		assert_non_null(r->body);
		assert_int_equal(r->body[r->body_len], '\0');
		assert_string_equal(r->reason, "");
		f->body = malloc(r->body_len + 1);
		assert_non_null(f->body);
		memcpy(f->body, r->body, r->body_len + 1);
		f->body_len = r->body_len;
	} else {
		assert_null(r->body);
		assert_int_equal(r->body_len, 0);
		assert_true(r->reason[0] != '\0');
	}
	if (getenv("HTTPS_GET_TEST_VERBOSE") != NULL)
		fprintf(stderr, "  result: ok=%d status=%d reason=%s\n", r->ok, r->status, r->reason);
	event_base_loopbreak(f->base);
}

static void guard_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct fx *f = arg;
	f->timed_out = true;
	event_base_loopbreak(f->base);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->base = event_base_new();
	assert_non_null(f->base);
	f->dns = dns_new_fake(f->base, fake_host, f);
	assert_non_null(f->dns);
	char err[256] = "";
	f->cctx = tls_client_ctx_new(ca_path, err, sizeof(err));
	assert_non_null(f->cctx);
	f->addrs[0] = "127.0.0.1";
	f->naddrs = 1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	https_get_cancel(&f->g);
	if (f->srv.lis != NULL)
		srv_fini(&f->srv);
	SSL_CTX_free(f->sctx);
	SSL_CTX_free(f->cctx);
	dns_free(&f->dns);
	event_base_free(f->base);
	free(f->body);
	free(f);
	ERR_clear_error();
	return 0;
}

static void serve(struct fx *f, const struct cert *c)
{
	f->sctx = server_ctx(c);
	srv_init(&f->srv, f->base, f->sctx);
}

static long now_ms(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Runs the loop for ms (or until something breaks it). */
static void spin(struct fx *f, long ms)
{
	struct event *guard = evtimer_new(f->base, guard_cb, f);
	assert_non_null(guard);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	assert_int_equal(event_add(guard, &tv), 0);
	assert_int_equal(event_base_dispatch(f->base), 0);
	event_free(guard);
}

/* Starts the request and runs the loop until its callback; returns the
 * time it took. */
static long fetch(struct fx *f, const char *host, size_t max_body, unsigned timeout_ms)
{
	long t0 = now_ms();
	unsigned port = f->srv.lis != NULL ? f->srv.port : 443;
	f->g = https_get_start(f->base, f->dns, f->cctx, host, port, PATH, max_body, timeout_ms,
			       on_result, f);
	assert_non_null(f->g);
	assert_int_equal(f->calls, 0); /* never from inside the start */
	spin(f, GUARD_MS);
	assert_false(f->timed_out);
	assert_int_equal(f->calls, 1);
	assert_null(f->g);
	return now_ms() - t0;
}

/* ---- scripted responses ---- */

#define POLICY "version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmax_age: 86400\r\n"
#define POLICY_LEN "70"
#define CHUNKED_POLICY                                                                    \
	"10\r\nversion: STSv1\r\n\r\n"                                                     \
	"f;name=\"v\"\r\nmode: enforce\r\n\r\n"                                             \
	"27 \r\nmx: mail.example.test\r\nmax_age: 86400\r\n\r\n"                            \
	"0\r\nX-Checksum: none\r\n\r\n"

struct rcase {
	const char *name;
	const char *resp;
	enum srv_end end;
	size_t max_body; /* 0: MAX_BODY */
	bool ok;
	int status;
	const char *body; /* when ok */
	const char *ctype;
	const char *reason; /* when not ok */
};

static const struct rcase rcases[] = {
	{.name = "content-length",
	 .resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
		 "Content-Length: " POLICY_LEN "\r\n\r\n" POLICY,
	 .end = END_KEEP, /* done at the length, no wait for the close */
	 .ok = true, .status = 200, .body = POLICY, .ctype = "text/plain; charset=utf-8"},
	{.name = "chunked",
	 .resp = "HTTP/1.1 200 OK\r\nContent-Type:text/plain  \r\n"
		 "Transfer-Encoding: Chunked\r\n\r\n" CHUNKED_POLICY,
	 .end = END_KEEP, .ok = true, .status = 200, .body = POLICY, .ctype = "text/plain"},
	{.name = "until close",
	 .resp = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" POLICY,
	 .end = END_CLEAN, .ok = true, .status = 200, .body = POLICY, .ctype = "text/plain"},
	{.name = "until close, no close_notify",
	 .resp = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" POLICY,
	 .end = END_DIRTY, .status = 200, .ctype = "text/plain",
	 .reason = "connection closed without TLS close_notify (body may be cut)"},
	{.name = "bare LF line ends, empty body",
	 .resp = "HTTP/1.1 200\nContent-Length: 0\n\n", .end = END_KEEP,
	 .ok = true, .status = 200, .body = "", .ctype = ""},
	{.name = "interim 100",
	 .resp = "HTTP/1.1 100 Continue\r\nX-A: b\r\n\r\n"
		 "HTTP/1.1 200 OK\r\nContent-Length: " POLICY_LEN "\r\n\r\n" POLICY,
	 .end = END_KEEP, .ok = true, .status = 200, .body = POLICY, .ctype = ""},
	{.name = "404",
	 .resp = "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n"
		 "Content-Length: 9\r\n\r\nnot found",
	 .end = END_KEEP, .status = 404, .ctype = "text/html", .reason = "HTTP 404"},
	{.name = "301",
	 .resp = "HTTP/1.1 301 Moved Permanently\r\nLocation: https://elsewhere.test" PATH
		 "\r\nContent-Length: 0\r\n\r\n",
	 .end = END_KEEP, .status = 301, .ctype = "",
	 .reason = "redirect not followed (RFC 8461 3.3)"},
	{.name = "Content-Length over max_body",
	 .resp = "HTTP/1.1 200 OK\r\nContent-Length: " POLICY_LEN "\r\n\r\n" POLICY,
	 .end = END_KEEP, .max_body = 69, .status = 200, .ctype = "",
	 .reason = "body over 69 bytes"},
	{.name = "chunks over max_body",
	 .resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" CHUNKED_POLICY,
	 .end = END_KEEP, .max_body = 69, .status = 200, .ctype = "",
	 .reason = "body over 69 bytes"},
	{.name = "until close over max_body",
	 .resp = "HTTP/1.1 200 OK\r\n\r\n" POLICY, .end = END_CLEAN, .max_body = 69,
	 .status = 200, .ctype = "", .reason = "body over 69 bytes"},
	{.name = "exactly max_body",
	 .resp = "HTTP/1.1 200 OK\r\n\r\n" POLICY, .end = END_CLEAN, .max_body = 70,
	 .ok = true, .status = 200, .body = POLICY, .ctype = ""},
	{.name = "cut short",
	 .resp = "HTTP/1.1 200 OK\r\nContent-Length: 71\r\n\r\n" POLICY, .end = END_CLEAN,
	 .status = 200, .ctype = "",
	 .reason = "connection closed before the end of the response"},
	{.name = "closed before the status line", .resp = "HTTP/1.1 20", .end = END_CLEAN,
	 .ctype = "", .reason = "connection closed before the end of the response"},
	{.name = "HTTP/2 status line", .resp = "HTTP/2 200\r\n\r\n", .end = END_KEEP,
	 .ctype = "", .reason = "bad HTTP status line"},
	{.name = "conflicting lengths",
	 .resp = "HTTP/1.1 200 OK\r\nContent-Length: 70\r\nContent-Length: 71\r\n\r\n",
	 .end = END_KEEP, .status = 200, .ctype = "", .reason = "conflicting Content-Length"},
	{.name = "signed length",
	 .resp = "HTTP/1.1 200 OK\r\nContent-Length: +70\r\n\r\n", .end = END_KEEP,
	 .status = 200, .ctype = "", .reason = "bad Content-Length"},
	{.name = "gzip",
	 .resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .end = END_KEEP,
	 .status = 200, .ctype = "", .reason = "unsupported Transfer-Encoding"},
	{.name = "folded header",
	 .resp = "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n", .end = END_KEEP, .status = 200,
	 .ctype = "", .reason = "folded header line"},
	{.name = "space before colon",
	 .resp = "HTTP/1.1 200 OK\r\nContent-Length : 70\r\n\r\n", .end = END_KEEP,
	 .status = 200, .ctype = "", .reason = "bad header line"},
	{.name = "bare CR in a header",
	 .resp = "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n", .end = END_KEEP, .status = 200,
	 .ctype = "", .reason = "control character in a header"},
	{.name = "bad chunk size",
	 .resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", .end = END_KEEP,
	 .status = 200, .ctype = "", .reason = "bad chunk size"},
	{.name = "huge chunk size",
	 .resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
	 .end = END_KEEP, .status = 200, .ctype = "", .reason = "bad chunk size"},
	{.name = "chunk without its CRLF",
	 .resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
	 .end = END_KEEP, .status = 200, .ctype = "", .reason = "bad chunk end"},
};

static void run_rcase(const struct rcase *rc, int drip_ms)
{
	struct fx *f = NULL;
	assert_int_equal(setup((void **)&f), 0);
	serve(f, &good_cert);
	f->srv.resp = rc->resp;
	f->srv.resp_len = strlen(rc->resp);
	f->srv.end = rc->end;
	f->srv.drip_ms = drip_ms;
	(void)fetch(f, HOST, rc->max_body ? rc->max_body : MAX_BODY, 3000);
	if (f->ok != rc->ok || f->status != rc->status || strcmp(f->ctype, rc->ctype) != 0 ||
	    (rc->ok && (f->body_len != strlen(rc->body) || strcmp(f->body, rc->body) != 0)) ||
	    (!rc->ok && strcmp(f->reason, rc->reason) != 0))
		fail_msg("case \"%s\" (drip %d): sent=%zu ok=%d status=%d ctype=\"%s\" "
			 "reason=\"%s\"",
			 rc->name, drip_ms, f->srv.sent, f->ok, f->status, f->ctype, f->reason);
	assert_int_equal(teardown((void **)&f), 0);
}

static void test_responses(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rcases) / sizeof(rcases[0]); i++) {
		run_rcase(&rcases[i], -1);
		run_rcase(&rcases[i], 0); /* one byte (one TLS record) per loop turn */
	}
}

/* ---- other tests ---- */

static void test_request_sent(void **state)
{
	struct fx *f = *state;
	serve(f, &good_cert);
	f->srv.resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	f->srv.resp_len = strlen(f->srv.resp);
	(void)fetch(f, "MTA-STS.example.test.", MAX_BODY, 3000);
	assert_true(f->ok);
	assert_string_equal(f->body, "ok");
	assert_string_equal(f->srv.sni, HOST);
	char want[256];
	(void)snprintf(want, sizeof(want),
		       "GET " PATH " HTTP/1.1\r\nHost: " HOST ":%u\r\n"
		       "User-Agent: konvert\r\nAccept: text/plain\r\nConnection: close\r\n\r\n",
		       f->srv.port);
	size_t len = evbuffer_get_length(f->srv.rx);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(evbuffer_pullup(f->srv.rx, -1), want, len);
}

static void test_headers_too_big(void **state)
{
	struct fx *f = *state;
	static char resp[HTTPS_GET_HEAD_MAX + 256];
	size_t n = (size_t)snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\n");
	while (n + 100 < sizeof(resp)) {
		memcpy(resp + n, "X-Pad: ", 7);
		memset(resp + n + 7, 'a', 88);
		memcpy(resp + n + 95, "\r\n", 2);
		n += 97;
	}
	memcpy(resp + n, "\r\n", 3);
	serve(f, &good_cert);
	f->srv.resp = resp;
	f->srv.resp_len = strlen(resp);
	(void)fetch(f, HOST, MAX_BODY, 3000);
	assert_false(f->ok);
	assert_string_equal(f->reason, "response headers over 16384 bytes");
}

static void test_silent_server(void **state)
{
	struct fx *f = *state;
	serve(f, &good_cert); /* handshakes, reads the request, says nothing */
	long ms = fetch(f, HOST, MAX_BODY, 200);
	assert_false(f->ok);
	assert_string_equal(f->reason, "timed out");
	assert_int_equal(f->status, 0);
	assert_true(ms >= 180 && ms < 2000);
	assert_true(f->srv.answered);
}

/* One byte every 20 ms of a response that would take over a second:
 * arriving bytes do not move the deadline. */
static void test_dripping_server(void **state)
{
	struct fx *f = *state;
	serve(f, &good_cert);
	f->srv.resp = "HTTP/1.1 200 OK\r\nContent-Length: " POLICY_LEN "\r\n\r\n" POLICY;
	f->srv.resp_len = strlen(f->srv.resp);
	f->srv.drip_ms = 20;
	long ms = fetch(f, HOST, MAX_BODY, 300);
	assert_false(f->ok);
	assert_string_equal(f->reason, "timed out");
	assert_true(ms >= 280 && ms < 1000);
	assert_true(f->srv.sent > 3 && f->srv.sent < f->srv.resp_len);
}

static void test_wrong_name(void **state)
{
	struct fx *f = *state;
	serve(f, &other_cert);
	f->srv.resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	f->srv.resp_len = strlen(f->srv.resp);
	(void)fetch(f, HOST, MAX_BODY, 3000);
	assert_false(f->ok);
	assert_string_equal(f->reason, "TLS: certificate verify failed: hostname mismatch");
	assert_int_equal(evbuffer_get_length(f->srv.rx), 0); /* no request sent */
}

static void test_untrusted(void **state)
{
	struct fx *f = *state;
	serve(f, &stranger_cert);
	(void)fetch(f, HOST, MAX_BODY, 3000);
	assert_false(f->ok);
	assert_string_equal(f->reason, "TLS: certificate verify failed: self-signed certificate");
}

/* A loopback port that was free a moment ago. */
static uint16_t closed_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	socklen_t len = sizeof(sin);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	(void)close(s);
	return ntohs(sin.sin_port);
}

static void test_connection_refused(void **state)
{
	struct fx *f = *state;
	f->addrs[1] = "127.0.0.1";
	f->naddrs = 2; /* both refuse */
	uint16_t port = closed_port();
	f->g = https_get_start(f->base, f->dns, f->cctx, HOST, port, PATH, MAX_BODY, 3000,
			       on_result, f);
	spin(f, GUARD_MS);
	assert_int_equal(f->calls, 1);
	assert_false(f->ok);
	assert_string_equal(f->reason, "connect: Connection refused");
}

/* 127.0.0.2 has no listener on the port: the next address is tried. */
static void test_next_address(void **state)
{
	struct fx *f = *state;
	f->addrs[0] = "127.0.0.2";
	f->addrs[1] = "127.0.0.1";
	f->naddrs = 2;
	serve(f, &good_cert);
	f->srv.resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	f->srv.resp_len = strlen(f->srv.resp);
	(void)fetch(f, HOST, MAX_BODY, 3000);
	assert_true(f->ok);
	assert_string_equal(f->body, "ok");
	assert_int_equal(f->srv.accepts, 1);
}

static void test_dns_failure(void **state)
{
	struct fx *f = *state;
	(void)fetch(f, "mta-sts.nowhere.test", MAX_BODY, 3000);
	assert_false(f->ok);
	assert_string_equal(f->reason, "DNS: fake: mta-sts.nowhere.test does not exist");
}

static void test_bad_host(void **state)
{
	struct fx *f = *state;
	(void)fetch(f, "mta-sts.example.test\r\nX-Injected: 1", MAX_BODY, 3000);
	assert_false(f->ok);
	assert_string_equal(f->reason, "bad host name");
}

static void test_cancel(void **state)
{
	struct fx *f = *state;
	/* Before the DNS answer. */
	f->g = https_get_start(f->base, f->dns, f->cctx, HOST, 443, PATH, MAX_BODY, 100, on_result,
			       f);
	https_get_cancel(&f->g);
	assert_null(f->g);
	https_get_cancel(&f->g); /* NULL is fine */
	/* With the request sent, the connection up. */
	serve(f, &good_cert);
	f->srv.break_on_request = true;
	f->g = https_get_start(f->base, f->dns, f->cctx, HOST, f->srv.port, PATH, MAX_BODY, 100,
			       on_result, f);
	spin(f, GUARD_MS);
	assert_false(f->timed_out);
	assert_true(f->srv.answered);
	https_get_cancel(&f->g);
	spin(f, 300); /* past both deadlines */
	assert_true(f->timed_out);
	assert_int_equal(f->calls, 0);
	assert_null(f->srv.bev); /* the server saw the close */
}

int main(void)
{
	/* A server that resets the connection must not kill the process
	 * (konvert serve ignores SIGPIPE the same way). */
	(void)signal(SIGPIPE, SIG_IGN);
	make_cert(&good_cert, HOST);
	make_cert(&other_cert, "other.example.test");
	make_cert(&stranger_cert, HOST);
	write_trust_file();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_responses),
		cmocka_unit_test_setup_teardown(test_request_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_headers_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dripping_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_untrusted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_address, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dns_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	(void)unlink(ca_path);
	free_cert(&good_cert);
	free_cert(&other_cert);
	free_cert(&stranger_cert);
	return rc;
}
