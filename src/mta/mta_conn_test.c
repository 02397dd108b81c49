/* mta_conn_test: the outbound SMTP connection against a tiny scripted
 * SMTP server run on the same event loop (an evconnlistener on
 * 127.0.0.1:0). Each script step waits for a string in what the server
 * received, then answers and maybe acts (close, STARTTLS, drip bytes).
 * Covers a pipelined delivery with dot-stuffing, connection reuse,
 * refused connections, silent and dripping servers, endless and garbage
 * replies, a close during DATA and after the final dot, STARTTLS with a
 * certificate made here (opportunistic and verified), and a handshake
 * failure. Timeouts run scaled (timeout_scale_ms) so the suite is fast. */
#include "mta/mta_conn.h"

#include <arpa/inet.h>
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

#include "net/tls_client.h"

#define MX_NAME "mx.test"
#define HELO "client.test"
/* Wall-clock bound for one test's loop. */
#define GUARD_MS 4000

/* ---- the scripted server ---- */

enum act {
	ACT_NONE,
	ACT_CLOSE, /* close once the reply (if any) is flushed */
	ACT_STARTTLS, /* the server side of TLS starts after the reply */
	ACT_DRIP, /* send is dripped one byte every DRIP_MS, cycling forever */
};

#define DRIP_MS 20

struct step {
	const char *expect; /* wait for this in the input (NULL: at once) */
	const char *send; /* then send this (NULL: nothing) */
	enum act act;
};

struct server {
	struct event_base *base;
	struct evconnlistener *lis;
	uint16_t port;
	const struct step *script;
	size_t step;
	struct bufferevent *bev; /* the accepted connection */
	struct evbuffer *rx; /* everything received (plaintext after TLS) */
	size_t scan; /* the next expect is searched from here */
	SSL_CTX *tls; /* borrowed */
	bool closing;
	const char *drip;
	size_t drip_pos;
	struct event *drip_ev;
	int accepts;
};

static void srv_run(struct server *s);

static void srv_close(struct server *s)
{
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	s->bev = NULL;
	if (s->drip_ev != NULL)
		(void)event_del(s->drip_ev);
}

static void srv_read_cb(struct bufferevent *bev, void *arg)
{
	struct server *s = arg;
	(void)evbuffer_add_buffer(s->rx, bufferevent_get_input(bev));
	srv_run(s);
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
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		srv_close(s);
}

static void srv_drip_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct server *s = arg;
	if (s->bev == NULL)
		return;
	(void)bufferevent_write(s->bev, s->drip + s->drip_pos, 1);
	if (s->drip[++s->drip_pos] == '\0')
		s->drip_pos = 0;
}

static void srv_starttls(struct server *s)
{
	SSL *ssl = SSL_new(s->tls);
	assert_non_null(ssl);
	/* The reply already queued on the plain layer goes out first, in
	 * clear; the filter writes its records behind it. */
	struct bufferevent *f = bufferevent_openssl_filter_new(
		s->base, s->bev, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(f);
	bufferevent_openssl_set_allow_dirty_shutdown(f, 1);
	s->bev = f;
	bufferevent_setcb(f, srv_read_cb, srv_write_cb, srv_event_cb, s);
	(void)bufferevent_enable(f, EV_READ | EV_WRITE);
}

/* A step with all fields zero ends the script. */
static bool step_is_end(const struct step *st)
{
	return st->expect == NULL && st->send == NULL && st->act == ACT_NONE;
}

static void srv_start_drip(struct server *s, const char *text)
{
	s->drip = text;
	s->drip_pos = 0;
	s->drip_ev = event_new(s->base, -1, EV_PERSIST, srv_drip_cb, s);
	assert_non_null(s->drip_ev);
	struct timeval tv = {0, DRIP_MS * 1000};
	assert_int_equal(event_add(s->drip_ev, &tv), 0);
}

/* Runs the steps whose expectation is met (a step without expect at
 * once), in order. */
static void srv_run(struct server *s)
{
	while (s->bev != NULL && !s->closing && !step_is_end(&s->script[s->step])) {
		const struct step *st = &s->script[s->step];
		if (st->expect != NULL) {
			size_t len = evbuffer_get_length(s->rx);
			if (s->scan >= len)
				return;
			struct evbuffer_ptr from;
			assert_int_equal(evbuffer_ptr_set(s->rx, &from, s->scan, EVBUFFER_PTR_SET), 0);
			struct evbuffer_ptr p = evbuffer_search(s->rx, st->expect, strlen(st->expect),
								&from);
			if (p.pos < 0)
				return;
			s->scan = (size_t)p.pos + strlen(st->expect);
		}
		s->step++;
		if (st->act == ACT_DRIP) {
			srv_start_drip(s, st->send);
			continue;
		}
		if (st->send != NULL)
			(void)bufferevent_write(s->bev, st->send, strlen(st->send));
		if (st->act == ACT_CLOSE) {
			s->closing = true;
			if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
				srv_close(s);
			return;
		}
		if (st->act == ACT_STARTTLS)
			srv_starttls(s);
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
	s->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(s->bev);
	bufferevent_setcb(s->bev, srv_read_cb, srv_write_cb, srv_event_cb, s);
	(void)bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	srv_run(s);
}

static void srv_init(struct server *s, struct event_base *base, const struct step *script,
		     SSL_CTX *tls)
{
	memset(s, 0, sizeof(*s));
	s->base = base;
	s->script = script;
	s->tls = tls;
	s->rx = evbuffer_new();
	assert_non_null(s->rx);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lis = evconnlistener_new_bind(base, srv_accept_cb, s,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
					 (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(s->lis);
	struct sockaddr_in got;
	socklen_t len = sizeof(got);
	assert_int_equal(getsockname(evconnlistener_get_fd(s->lis), (struct sockaddr *)&got, &len),
			 0);
	s->port = ntohs(got.sin_port);
}

static void srv_fini(struct server *s)
{
	srv_close(s);
	if (s->drip_ev != NULL)
		event_free(s->drip_ev);
	evconnlistener_free(s->lis);
	evbuffer_free(s->rx);
}

/* What the server received, NUL-terminated (owned by the caller). */
static char *srv_received(struct server *s)
{
	size_t len = evbuffer_get_length(s->rx);
	char *out = malloc(len + 1);
	assert_non_null(out);
	assert_int_equal(evbuffer_copyout(s->rx, out, len), (ev_ssize_t)len);
	out[len] = '\0';
	return out;
}

/* ---- TLS material made here ---- */

static EVP_PKEY *tls_key;
static X509 *tls_cert;
static char ca_path[64];

static void make_cert(void)
{
	tls_key = EVP_EC_gen("P-256");
	assert_non_null(tls_key);
	X509 *x = X509_new();
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_set_pubkey(x, tls_key), 1);
	X509_NAME *name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
						    (const unsigned char *)MX_NAME, -1, -1, 0),
			 1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &v3, NID_subject_alt_name, "DNS:" MX_NAME);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, tls_key, EVP_sha256()) > 0);
	tls_cert = x;
	(void)snprintf(ca_path, sizeof(ca_path), "/tmp/konvert-mta-conn-ca-XXXXXX");
	int fd = mkstemp(ca_path);
	assert_true(fd >= 0);
	FILE *fp = fdopen(fd, "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_X509(fp, x), 1);
	assert_int_equal(fclose(fp), 0);
}

static SSL_CTX *server_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_use_certificate(ctx, tls_cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, tls_key), 1);
	return ctx;
}

/* ---- the client side ---- */

struct fx {
	struct event_base *base;
	struct server srv;
	struct mta_conn *c;
	struct mta_conn_options opt;
	int jobs_done;
	int done_calls;
	struct mta_conn_end end;
	char tls_desc[128];
	bool timed_out;
	/* reuse test: a second job added once the first is done */
	struct mta_job *second;
	struct event *later;
	bool was_idle;
};

struct body {
	const char *data;
	size_t len;
};

static ssize_t body_read(void *arg, uint64_t off, void *buf, size_t len)
{
	const struct body *b = arg;
	if (off >= b->len)
		return 0;
	size_t n = b->len - off < len ? b->len - off : len;
	memcpy(buf, b->data + off, n);
	return (ssize_t)n;
}

struct job_fx {
	struct mta_job job;
	const char *rcpts[4];
	struct mta_rcpt_result results[4];
	struct body body;
};

static void job_setup(struct job_fx *j, const char *body, size_t body_len, size_t nrcpt,
		      const char *const *rcpts)
{
	memset(j, 0, sizeof(*j));
	j->body.data = body;
	j->body.len = body_len;
	for (size_t i = 0; i < nrcpt; i++)
		j->rcpts[i] = rcpts[i];
	j->job.sender = "a@" HELO;
	j->job.size = body_len;
	j->job.rcpt_count = nrcpt;
	j->job.rcpts = j->rcpts;
	j->job.read = body_read;
	j->job.read_arg = &j->body;
	j->job.results = j->results;
}

static void on_job_done(void *arg, struct mta_job *job)
{
	struct fx *f = arg;
	(void)job;
	f->jobs_done++;
	if (f->second != NULL && f->jobs_done == 1)
		event_active(f->later, EV_TIMEOUT, 0);
}

static void on_done(void *arg, struct mta_conn *c, const struct mta_conn_end *end)
{
	struct fx *f = arg;
	assert_ptr_equal(c, f->c);
	f->done_calls++;
	f->end = *end;
	if (getenv("MTA_CONN_TEST_VERBOSE") != NULL)
		fprintf(stderr, "  done: ok=%d temp=%d connected=%d tls_failed=%d state=%s reason=%s\n",
			end->ok, end->temp, end->connected, end->tls_failed,
			mta_state_name(end->state), end->reason);
	mta_conn_describe_tls(c, f->tls_desc, sizeof(f->tls_desc));
	/* The contract: the owner may free from inside done. */
	mta_conn_free(&f->c);
	event_base_loopbreak(f->base);
}

static void later_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct fx *f = arg;
	f->was_idle = mta_conn_is_idle(f->c);
	mta_conn_add_job(f->c, f->second);
	assert_false(mta_conn_is_idle(f->c));
	mta_conn_finish(f->c);
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
	f->later = event_new(f->base, -1, 0, later_cb, f);
	f->opt.session.helo = HELO;
	f->opt.session.pipelining = true;
	f->opt.session.tls = MTA_TLS_OFF;
	f->opt.peer_name = MX_NAME;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	mta_conn_free(&f->c);
	if (f->srv.lis != NULL)
		srv_fini(&f->srv);
	if (f->opt.tls_ctx != NULL)
		SSL_CTX_free(f->opt.tls_ctx);
	event_free(f->later);
	event_base_free(f->base);
	free(f);
	ERR_clear_error();
	return 0;
}

static void set_addr(struct fx *f, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&f->opt.addr;
	memset(&f->opt.addr, 0, sizeof(f->opt.addr));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->opt.addr_len = sizeof(*sin);
}

static void serve(struct fx *f, const struct step *script, SSL_CTX *srv_tls)
{
	srv_init(&f->srv, f->base, script, srv_tls);
	set_addr(f, f->srv.port);
}

static long now_ms(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Starts the conn with the jobs, finishes, runs the loop until done. */
static long run(struct fx *f, struct job_fx *const *jobs, size_t njobs, bool finish)
{
	long t0 = now_ms();
	f->c = mta_conn_new(f->base, &f->opt, on_job_done, on_done, f);
	assert_non_null(f->c);
	for (size_t i = 0; i < njobs; i++)
		mta_conn_add_job(f->c, &jobs[i]->job);
	if (finish)
		mta_conn_finish(f->c);
	/* Nothing fires from inside the calls above. */
	assert_int_equal(f->jobs_done, 0);
	assert_int_equal(f->done_calls, 0);
	struct event *guard = evtimer_new(f->base, guard_cb, f);
	struct timeval tv = {GUARD_MS / 1000, (GUARD_MS % 1000) * 1000};
	assert_int_equal(event_add(guard, &tv), 0);
	assert_int_equal(event_base_dispatch(f->base), 0);
	event_free(guard);
	assert_false(f->timed_out);
	assert_int_equal(f->done_calls, 1);
	assert_null(f->c);
	return now_ms() - t0;
}

/* ---- tests ---- */

static const char *const two_rcpts[] = {"b@" MX_NAME, "c@" MX_NAME};
static const char *const one_rcpt[] = {"b@" MX_NAME};

/* LF line ends and lines starting with dots, as stored in the queue. */
static const char dot_body[] = "Subject: dots\n\n.hidden\n..two\nplain\n.\nend\n";
static const char dot_wire[] = "Subject: dots\r\n\r\n..hidden\r\n...two\r\nplain\r\n..\r\nend\r\n.\r\n";

static const char ehlo_reply[] = "250-" MX_NAME " hello\r\n250-PIPELINING\r\n"
				 "250-SIZE 1000000\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n";

static void test_pipelined_delivery(void **state)
{
	struct fx *f = *state;
	static const struct step script[] = {
		{NULL, "220 " MX_NAME " ESMTP\r\n", ACT_NONE},
		{"EHLO " HELO "\r\n", ehlo_reply, ACT_NONE},
		/* Only answered once DATA is there: a client that waited for
		 * the MAIL reply first would hang (and hit the guard). */
		{"DATA\r\n",
		 "250 2.1.0 sender ok\r\n250 2.1.5 ok\r\n550 5.1.1 <c@mx.test>: no such user\r\n"
		 "354 go ahead\r\n",
		 ACT_NONE},
		{"\r\n.\r\n", "250 2.0.0 queued as X\r\n", ACT_NONE},
		{"QUIT\r\n", "221 2.0.0 bye\r\n", ACT_CLOSE},
		{0},
	};
	serve(f, script, NULL);
	struct job_fx j;
	job_setup(&j, dot_body, strlen(dot_body), 2, two_rcpts);
	struct job_fx *jobs[] = {&j};
	(void)run(f, jobs, 1, true);

	assert_int_equal(f->jobs_done, 1);
	assert_true(f->end.ok);
	assert_true(f->end.connected);
	assert_false(f->end.tls_failed);
	assert_int_equal(j.results[0].outcome, MTA_RCPT_DELIVERED);
	assert_int_equal(j.results[0].code, 250);
	assert_string_equal(j.results[0].reply, "250 2.0.0 queued as X");
	assert_int_equal(j.results[1].outcome, MTA_RCPT_PERMFAIL);
	assert_int_equal(j.results[1].code, 550);
	assert_false(j.job.maybe_delivered);

	char want[512];
	(void)snprintf(want, sizeof(want),
		       "EHLO " HELO "\r\nMAIL FROM:<a@" HELO "> SIZE=%zu\r\n"
		       "RCPT TO:<b@" MX_NAME ">\r\nRCPT TO:<c@" MX_NAME ">\r\nDATA\r\n%sQUIT\r\n",
		       strlen(dot_body), dot_wire);
	char *got = srv_received(&f->srv);
	assert_string_equal(got, want);
	free(got);
}

/* Two jobs on one connection; the second is added once the conn is idle. */
static void test_reuse_when_idle(void **state)
{
	struct fx *f = *state;
	static const struct step script[] = {
		{NULL, "220 " MX_NAME " ESMTP\r\n", ACT_NONE},
		{"EHLO " HELO "\r\n", ehlo_reply, ACT_NONE},
		{"DATA\r\n", "250 ok\r\n250 ok\r\n354 go\r\n", ACT_NONE},
		{"\r\n.\r\n", "250 first\r\n", ACT_NONE},
		{"DATA\r\n", "250 ok\r\n250 ok\r\n354 go\r\n", ACT_NONE},
		{"\r\n.\r\n", "250 second\r\n", ACT_NONE},
		{"QUIT\r\n", "221 bye\r\n", ACT_CLOSE},
		{0},
	};
	serve(f, script, NULL);
	struct job_fx j1, j2;
	job_setup(&j1, "one\n", 4, 1, one_rcpt);
	job_setup(&j2, "two\n", 4, 1, one_rcpt);
	f->second = &j2.job;
	struct job_fx *jobs[] = {&j1};
	(void)run(f, jobs, 1, false);
	assert_true(f->was_idle);
	assert_int_equal(f->jobs_done, 2);
	assert_true(f->end.ok);
	assert_string_equal(j1.results[0].reply, "250 first");
	assert_string_equal(j2.results[0].reply, "250 second");
	assert_int_equal(f->srv.accepts, 1);
}

static void test_connection_refused(void **state)
{
	struct fx *f = *state;
	/* A port that was free a moment ago and has no listener now. */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	socklen_t len = sizeof(sin);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	(void)close(s);
	set_addr(f, ntohs(sin.sin_port));

	struct job_fx j;
	job_setup(&j, "x\n", 2, 1, one_rcpt);
	struct job_fx *jobs[] = {&j};
	(void)run(f, jobs, 1, true);
	assert_false(f->end.ok);
	assert_true(f->end.temp);
	assert_false(f->end.connected);
	assert_false(f->end.tls_failed);
	assert_string_equal(f->end.reason, "4.4.1 connect: Connection refused");
	assert_int_equal(f->jobs_done, 1);
	assert_int_equal(j.results[0].outcome, MTA_RCPT_UNTRIED);
	assert_string_equal(j.results[0].reply, "4.4.1 connect: Connection refused");
}

static void test_server_never_answers(void **state)
{
	struct fx *f = *state;
	static const struct step silent[] = {{0}};
	serve(f, silent, NULL);
	f->opt.timeout_scale_ms = 1; /* greeting: 5 min -> 300 ms */
	struct job_fx j;
	job_setup(&j, "x\n", 2, 1, one_rcpt);
	struct job_fx *jobs[] = {&j};
	long ms = run(f, jobs, 1, true);
	assert_true(ms >= 250 && ms < 2000);
	assert_true(f->end.connected);
	assert_true(f->end.temp);
	assert_int_equal(f->end.state, MTA_STATE_GREETING);
	assert_string_equal(f->end.reason, "4.4.2 timeout waiting for the server in state greeting");
	assert_int_equal(j.results[0].outcome, MTA_RCPT_UNTRIED);
}

/* One byte every DRIP_MS: partial input does not move the deadline. */
static void test_server_drips(void **state)
{
	struct fx *f = *state;
	static const struct step script[] = {
		{NULL, "220 a greeting that never ends ", ACT_DRIP},
		{0},
	};
	serve(f, script, NULL);
	f->opt.timeout_scale_ms = 1;
	struct job_fx j;
	job_setup(&j, "x\n", 2, 1, one_rcpt);
	struct job_fx *jobs[] = {&j};
	long ms = run(f, jobs, 1, true);
	assert_true(ms >= 250 && ms < 2000);
	assert_string_equal(f->end.reason, "4.4.2 timeout waiting for the server in state greeting");
}

/* Continuation lines keep coming slowly: still the state's timeout. */
static void test_multiline_drips(void **state)
{
	struct fx *f = *state;
	static const struct step script[] = {
		{NULL, "220-more\r\n", ACT_DRIP},
		{0},
	};
	serve(f, script, NULL);
	f->opt.timeout_scale_ms = 1;
	struct job_fx j;
	job_setup(&j, "x\n", 2, 1, one_rcpt);
	struct job_fx *jobs[] = {&j};
	long ms = run(f, jobs, 1, true);
	assert_true(ms >= 250 && ms < 2000);
	assert_string_equal(f->end.reason, "4.4.2 timeout waiting for the server in state greeting");
}

static char endless[200 * 10 + 1];

/* A multi-line reply past the parser's line bound: a protocol error. */
static void test_multiline_endless(void **state)
{
	struct fx *f = *state;
	endless[0] = '\0';
	for (int i = 0; i < 200; i++)
		strcat(endless, "220-more\r\n");
	const struct step script[] = {
		{NULL, endless, ACT_NONE},
		{0},
	};
	serve(f, script, NULL);
	struct job_fx j;
	job_setup(&j, "x\n", 2, 1, one_rcpt);
	struct job_fx *jobs[] = {&j};
	(void)run(f, jobs, 1, true);
	assert_true(f->end.temp);
	assert_non_null(strstr(f->end.reason, "4.4.2 protocol error in state greeting: "));
	assert_non_null(strstr(f->end.reason, "lines"));
	assert_string_equal(j.results[0].reply, f->end.reason);
}

static void test_garbage(void **state)
{
	struct fx *f = *state;
	static const struct step script[] = {
		{NULL, "hello, this is not SMTP\r\n", ACT_NONE},
		{0},
	};
	serve(f, script, NULL);
	struct job_fx j;
	job_setup(&j, "x\n", 2, 1, one_rcpt);
	struct job_fx *jobs[] = {&j};
	(void)run(f, jobs, 1, true);
	assert_true(f->end.temp);
	assert_true(f->end.connected);
	assert_non_null(strstr(f->end.reason, "4.4.2 protocol error in state greeting: "));
}

static char long_line[3000 + 1];

static void test_line_too_long(void **state)
{
	struct fx *f = *state;
	memset(long_line, 'x', sizeof(long_line) - 1);
	memcpy(long_line, "220 ", 4);
	const struct step script[] = {
		{NULL, long_line, ACT_NONE},
		{0},
	};
	serve(f, script, NULL);
	struct job_fx j;
	job_setup(&j, "x\n", 2, 1, one_rcpt);
	struct job_fx *jobs[] = {&j};
	(void)run(f, jobs, 1, true);
	assert_string_equal(f->end.reason,
			    "4.4.2 protocol error in state greeting: reply line longer than 2048 bytes");
}

static const struct step plain_to_data[] = {
	{NULL, "220 " MX_NAME " ESMTP\r\n", ACT_NONE},
	{"EHLO " HELO "\r\n", "250-" MX_NAME "\r\n250 8BITMIME\r\n", ACT_NONE},
	{"MAIL FROM:<a@" HELO ">\r\n", "250 ok\r\n", ACT_NONE},
	{"RCPT TO:<b@" MX_NAME ">\r\n", "250 ok\r\n", ACT_NONE},
};

/* 354, then the server goes away while the body streams. */
static void test_close_during_data(void **state)
{
	struct fx *f = *state;
	static const struct step script[] = {
		plain_to_data[0], plain_to_data[1], plain_to_data[2], plain_to_data[3],
		{"DATA\r\n", "354 go ahead\r\n", ACT_CLOSE},
		{0},
	};
	serve(f, script, NULL);
	/* Larger than the session's output mark: the body cannot be all
	 * queued (and the dot sent) before the close is noticed. */
	size_t len = 4 * 1024 * 1024;
	char *body = malloc(len);
	assert_non_null(body);
	for (size_t i = 0; i < len; i++)
		body[i] = (i % 64 == 63) ? '\n' : 'a';
	struct job_fx j;
	job_setup(&j, body, len, 1, one_rcpt);
	struct job_fx *jobs[] = {&j};
	(void)run(f, jobs, 1, true);
	free(body);
	assert_true(f->end.temp);
	assert_int_equal(f->end.state, MTA_STATE_BODY);
	assert_int_equal(j.results[0].outcome, MTA_RCPT_TEMPFAIL);
	assert_false(j.job.maybe_delivered);
	assert_non_null(strstr(f->end.reason, "in state body"));
}

/* The whole message and the dot went out; the reply never came. */
static void test_close_after_dot(void **state)
{
	struct fx *f = *state;
	static const struct step script[] = {
		plain_to_data[0], plain_to_data[1], plain_to_data[2], plain_to_data[3],
		{"DATA\r\n", "354 go ahead\r\n", ACT_NONE},
		{"\r\n.\r\n", NULL, ACT_CLOSE},
		{0},
	};
	serve(f, script, NULL);
	struct job_fx j;
	job_setup(&j, dot_body, strlen(dot_body), 1, one_rcpt);
	struct job_fx *jobs[] = {&j};
	(void)run(f, jobs, 1, true);
	assert_true(f->end.temp);
	assert_int_equal(f->end.state, MTA_STATE_DOT);
	assert_int_equal(j.results[0].outcome, MTA_RCPT_TEMPFAIL);
	assert_true(j.job.maybe_delivered);
	assert_string_equal(f->end.reason, "4.4.2 connection closed by the server in state dot");
}

/* STARTTLS, then EHLO again and a delivery over TLS. The server's "220"
 * carries a forged reply in the same packet: it must be dropped (else the
 * client would take it as an answer and be out of step). */
static const struct step starttls_script[] = {
	{NULL, "220 " MX_NAME " ESMTP\r\n", ACT_NONE},
	{"EHLO " HELO "\r\n", "250-" MX_NAME "\r\n250-STARTTLS\r\n250 PIPELINING\r\n", ACT_NONE},
	{"STARTTLS\r\n", "220 2.0.0 go ahead\r\n250 forged\r\n", ACT_STARTTLS},
	{"EHLO " HELO "\r\n", "250-" MX_NAME "\r\n250 PIPELINING\r\n", ACT_NONE},
	{"DATA\r\n", "250 ok\r\n250 ok\r\n354 go\r\n", ACT_NONE},
	{"\r\n.\r\n", "250 2.0.0 queued over TLS\r\n", ACT_NONE},
	{"QUIT\r\n", "221 bye\r\n", ACT_CLOSE},
	{0},
};

static void starttls_setup(struct fx *f, const char *ca_file)
{
	char err[256] = "";
	f->opt.tls_ctx = tls_client_ctx_new(ca_file, err, sizeof(err));
	assert_non_null(f->opt.tls_ctx);
	f->opt.session.tls = MTA_TLS_REQUIRE;
}

static void test_starttls_opportunistic(void **state)
{
	struct fx *f = *state;
	SSL_CTX *sctx = server_ctx();
	serve(f, starttls_script, sctx);
	starttls_setup(f, NULL);
	f->opt.tls_verify = TLS_CLIENT_VERIFY_NONE; /* self-signed is fine */
	struct job_fx j;
	job_setup(&j, dot_body, strlen(dot_body), 1, one_rcpt);
	struct job_fx *jobs[] = {&j};
	(void)run(f, jobs, 1, true);
	SSL_CTX_free(sctx);
	assert_true(f->end.ok);
	assert_false(f->end.tls_failed);
	assert_int_equal(j.results[0].outcome, MTA_RCPT_DELIVERED);
	assert_string_equal(j.results[0].reply, "250 2.0.0 queued over TLS");
	assert_non_null(strstr(f->tls_desc, "version=TLSv1."));
	char *got = srv_received(&f->srv);
	/* Plaintext up to STARTTLS, then (decrypted) the rest. */
	char want[512];
	(void)snprintf(want, sizeof(want),
		       "STARTTLS\r\nEHLO " HELO "\r\nMAIL FROM:<a@" HELO ">\r\n"
		       "RCPT TO:<b@" MX_NAME ">\r\nDATA\r\n%sQUIT\r\n",
		       dot_wire);
	assert_non_null(strstr(got, want));
	free(got);
}

static void test_starttls_verified(void **state)
{
	struct fx *f = *state;
	SSL_CTX *sctx = server_ctx();
	serve(f, starttls_script, sctx);
	starttls_setup(f, ca_path);
	f->opt.tls_verify = TLS_CLIENT_VERIFY_HOSTNAME;
	struct job_fx j;
	job_setup(&j, dot_body, strlen(dot_body), 1, one_rcpt);
	struct job_fx *jobs[] = {&j};
	(void)run(f, jobs, 1, true);
	SSL_CTX_free(sctx);
	assert_true(f->end.ok);
	assert_int_equal(j.results[0].outcome, MTA_RCPT_DELIVERED);
}

static void test_starttls_wrong_name(void **state)
{
	struct fx *f = *state;
	SSL_CTX *sctx = server_ctx();
	serve(f, starttls_script, sctx);
	starttls_setup(f, ca_path);
	f->opt.tls_verify = TLS_CLIENT_VERIFY_HOSTNAME;
	f->opt.peer_name = "other.test";
	struct job_fx j;
	job_setup(&j, dot_body, strlen(dot_body), 1, one_rcpt);
	struct job_fx *jobs[] = {&j};
	(void)run(f, jobs, 1, true);
	SSL_CTX_free(sctx);
	assert_false(f->end.ok);
	assert_true(f->end.tls_failed);
	assert_int_equal(f->end.state, MTA_STATE_TLS);
	assert_non_null(strstr(f->end.reason, "4.4.2 TLS handshake failed: "));
	assert_non_null(strstr(f->end.reason, "hostname mismatch"));
	assert_int_equal(j.results[0].outcome, MTA_RCPT_UNTRIED);
}

/* After 220 to STARTTLS the server answers the ClientHello with
 * plaintext garbage. */
static void test_starttls_handshake_garbage(void **state)
{
	struct fx *f = *state;
	static const struct step script[] = {
		{NULL, "220 " MX_NAME " ESMTP\r\n", ACT_NONE},
		{"EHLO " HELO "\r\n", "250-" MX_NAME "\r\n250 STARTTLS\r\n", ACT_NONE},
		{"STARTTLS\r\n", "220 go ahead\r\n", ACT_NONE},
		{"\x16\x03", "this is not TLS at all\r\n", ACT_NONE}, /* the ClientHello */
		{0},
	};
	serve(f, script, NULL);
	starttls_setup(f, NULL);
	f->opt.session.tls = MTA_TLS_OPPORTUNISTIC;
	struct job_fx j;
	job_setup(&j, "x\n", 2, 1, one_rcpt);
	struct job_fx *jobs[] = {&j};
	(void)run(f, jobs, 1, true);
	assert_false(f->end.ok);
	assert_true(f->end.temp);
	assert_true(f->end.tls_failed);
	assert_int_equal(f->end.state, MTA_STATE_TLS);
	assert_non_null(strstr(f->end.reason, "4.4.2 TLS handshake failed: "));
	assert_int_equal(j.results[0].outcome, MTA_RCPT_UNTRIED);
	assert_false(j.job.maybe_delivered);
}

/* A body far above the output marks, through the STARTTLS filter: the
 * body streams with back-pressure through both layers and never stalls. */
static void test_large_body_over_tls(void **state)
{
	struct fx *f = *state;
	SSL_CTX *sctx = server_ctx();
	serve(f, starttls_script, sctx);
	starttls_setup(f, NULL);
	size_t len = 3 * 1024 * 1024;
	char *body = malloc(len);
	assert_non_null(body);
	for (size_t i = 0; i < len; i++)
		body[i] = (i % 80 == 79) ? '\n' : (char)('a' + i % 26);
	struct job_fx j;
	job_setup(&j, body, len, 1, one_rcpt);
	struct job_fx *jobs[] = {&j};
	(void)run(f, jobs, 1, true);
	free(body);
	SSL_CTX_free(sctx);
	assert_true(f->end.ok);
	assert_int_equal(j.results[0].outcome, MTA_RCPT_DELIVERED);
	/* Every LF became CRLF: len + one byte per line, plus ".\r\n". */
	size_t lines = len / 80;
	assert_true(evbuffer_get_length(f->srv.rx) > len + lines);
}

/* Kept open with no job and nothing more coming: QUIT after the ready
 * state's timeout, a normal end. */
static void test_idle_quits(void **state)
{
	struct fx *f = *state;
	static const struct step script[] = {
		{NULL, "220 " MX_NAME " ESMTP\r\n", ACT_NONE},
		{"EHLO " HELO "\r\n", ehlo_reply, ACT_NONE},
		{"QUIT\r\n", "221 bye\r\n", ACT_CLOSE},
		{0},
	};
	serve(f, script, NULL);
	f->opt.timeout_scale_ms = 1;
	long ms = run(f, NULL, 0, false);
	assert_true(ms >= 250 && ms < 2000);
	assert_true(f->end.ok);
	assert_int_equal(f->jobs_done, 0);
}

/* Implicit TLS (smarthost on 465): TLS from the first byte, the
 * greeting over it, no STARTTLS. */
static void test_implicit_tls(void **state)
{
	struct fx *f = *state;
	SSL_CTX *sctx = server_ctx();
	static const struct step script[] = {
		{NULL, NULL, ACT_STARTTLS},
		{NULL, "220 " MX_NAME " ESMTP\r\n", ACT_NONE},
		{"EHLO " HELO "\r\n", "250-" MX_NAME "\r\n250-STARTTLS\r\n250 PIPELINING\r\n",
		 ACT_NONE},
		{"DATA\r\n", "250 ok\r\n250 ok\r\n354 go\r\n", ACT_NONE},
		{"\r\n.\r\n", "250 implicit\r\n", ACT_NONE},
		{"QUIT\r\n", "221 bye\r\n", ACT_CLOSE},
		{0},
	};
	serve(f, script, sctx);
	starttls_setup(f, NULL);
	f->opt.implicit_tls = true;
	struct job_fx j;
	job_setup(&j, dot_body, strlen(dot_body), 1, one_rcpt);
	struct job_fx *jobs[] = {&j};
	(void)run(f, jobs, 1, true);
	SSL_CTX_free(sctx);
	assert_true(f->end.ok);
	assert_int_equal(j.results[0].outcome, MTA_RCPT_DELIVERED);
	assert_string_equal(j.results[0].reply, "250 implicit");
	assert_non_null(strstr(f->tls_desc, "version=TLSv1."));
	char *got = srv_received(&f->srv);
	assert_null(strstr(got, "STARTTLS"));
	assert_int_equal(strncmp(got, "EHLO " HELO "\r\n", strlen("EHLO " HELO "\r\n")), 0);
	free(got);
}

int main(void)
{
	/* A server that resets the connection must not kill the process
	 * (konvert serve ignores SIGPIPE the same way). */
	(void)signal(SIGPIPE, SIG_IGN);
	make_cert();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pipelined_delivery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reuse_when_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_never_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_drips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multiline_drips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multiline_endless, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_during_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_after_dot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_starttls_opportunistic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_starttls_verified, setup, teardown),
		cmocka_unit_test_setup_teardown(test_starttls_wrong_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_starttls_handshake_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_body_over_tls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_quits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_implicit_tls, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	(void)unlink(ca_path);
	X509_free(tls_cert);
	EVP_PKEY_free(tls_key);
	return rc;
}
