/* remote: one struct rdel per batch in flight: routing, the address loop,
 * the mta_conn of the current attempt, and the per-recipient results. It
 * owns the message descriptor and the connection of its attempt; the
 * batch and the envelope are the scheduler's. It never frees a delivery
 * from inside a callback of its own connection other than through
 * mta_conn's documented "free from inside done". */
#include "delivery/remote.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/x509_vfy.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/kassert.h"
#include "core/log.h"
#include "core/metrics.h"
#include "delivery/tlspolicy.h"
#include "mta/mta_conn.h"
#include "net/dns.h"
#include "proto/mime8.h"
#include "proto/rfc5322.h"
#include "queue/queue_store.h"

/* RFC 5321 6.3: a loop is declared past this many Received: fields. */
#define REMOTE_HOPS_MAX 100
/* Addresses tried for one batch before it is deferred. */
#define REMOTE_ATTEMPTS_MAX 8
#define REMOTE_DNS_TIMEOUT_MS 20000
/* An idle outbound connection is kept this long for the next message to
 * the same address (Postfix's smtp_connection_cache_time_limit is 2 s). */
#define REMOTE_IDLE_MS 5000
#define REMOTE_IDLE_MAX 64
/* Bytes of the header block read for the hop count. */
#define REMOTE_HEADER_MAX (256 * 1024)

struct rdel {
	struct remote *r; /* borrowed */
	struct queue_batch *b; /* borrowed until done */
	struct rdel *next, *prev; /* in r's list */
	char id[ID_LEN + 1];
	int fd; /* owned, the queued message */
	uint64_t skip, size;
	struct dns_req *dns_req; /* owned while routing */
	struct dns_result *route; /* owned */
	size_t host_i, addr_i;
	unsigned attempts;
	bool clear_retry; /* the next attempt goes without STARTTLS */
	bool any_connected;
	bool route_failed_temp;
	struct mta_conn *conn; /* owned, the attempt in flight */
	struct sockaddr_storage conn_addr; /* its address, with the port */
	int conn_mode; /* conn_mode() of it: cached connections match on it */
	/* TLS policy (DANE, MTA-STS) of the destination, when looked up */
	struct tlspolicy_req *pol_req; /* owned while deciding */
	struct tlspolicy_result *pol; /* owned */
	bool tls_optional; /* "TLS-Required: No" (RFC 8689 5): no policy */
	enum tlspolicy_kind conn_kind; /* of the attempt in flight */
	struct event *check_ev; /* owned: after job_done, is the conn reusable? */
	unsigned checks;
	struct event *finish_ev; /* owned: done is reported from the loop */
	/* per batch recipient */
	bool *open;
	struct queue_result *res;
	char (*reply)[MTA_REPLY_MAX];
	char (*mta)[256]; /* host that gave each recipient's reply */
	char host[256]; /* of the current attempt */
	/* the job of the current attempt */
	struct mta_job job;
	const char **job_rcpts;
	char **job_dsn; /* owned strings */
	size_t *job_map; /* job index -> batch index */
	struct mta_rcpt_result *job_res;
	char dsn_mail[1200];
	char *mem; /* owned: downgraded body */
	size_t mem_len;
	bool dest_failed;
	bool conn_reused; /* the attempt's conn came from the cache */
	char msgid[260]; /* the message's Message-ID, escaped, for the log */
};

/* A connection that finished a delivery in good shape, waiting for the
 * next message to the same address. */
struct idle_conn {
	struct remote *r;
	struct mta_conn *c; /* owned */
	struct sockaddr_storage addr;
	int mode;
	/* The host name its certificate was checked against (verified
	 * modes): a connection verified for one MX is never reused for
	 * another name that happens to resolve to the same address. */
	char name[256];
	struct event *timer; /* owned */
	struct idle_conn *next, *prev;
};

struct remote {
	struct event_base *base;
	const struct config *cfg;
	struct dns *dns;
	struct queue_store *qs;
	SSL_CTX *tls_ctx;
	remote_done_fn done;
	void *arg;
	struct rdel *list; /* owned */
	unsigned active;
	struct idle_conn *idle; /* owned: the connection cache */
	unsigned idle_count;
	/* smarthost_auth split once: borrowed by the sessions */
	char auth_user[256], auth_pass[256];
	bool has_auth;
	struct tlspolicy *tp; /* borrowed, may be NULL */
	remote_tls_fn tls_obs;
	void *tls_obs_arg;
};

static void try_next(struct rdel *d);
static void check_cb(evutil_socket_t fd, short what, void *arg);
static void report_tls(struct rdel *d, const struct mta_conn_end *end);

/* ---- helpers ---- */

unsigned remote_count_received(const char *msg, size_t len)
{
	size_t hend = rfc5322_header_end(msg, len);
	size_t pos = 0, fs, fe, nl, vl;
	const char *name, *val;
	unsigned n = 0;
	while (rfc5322_next_field(msg, hend, &pos, &name, &nl, &val, &vl, &fs, &fe))
		if (rfc5322_name_is(name, nl, "Received"))
			n++;
	return n;
}

static void rdel_free(struct rdel *d)
{
	struct remote *r = d->r;
	if (d->prev)
		d->prev->next = d->next;
	else
		r->list = d->next;
	if (d->next)
		d->next->prev = d->prev;
	KASSERT(r->active > 0);
	r->active--;
	dns_cancel(&d->dns_req);
	tlspolicy_cancel(&d->pol_req);
	tlspolicy_result_free(&d->pol);
	dns_result_free(&d->route);
	mta_conn_free(&d->conn);
	if (d->check_ev)
		event_free(d->check_ev);
	if (d->finish_ev)
		event_free(d->finish_ev);
	if (d->fd >= 0)
		(void)close(d->fd);
	if (d->job_dsn != NULL)
		for (size_t i = 0; i < d->b->count; i++)
			free(d->job_dsn[i]);
	free(d->job_dsn);
	free(d->job_rcpts);
	free(d->job_map);
	free(d->job_res);
	free(d->open);
	free(d->res);
	free(d->reply);
	free(d->mta);
	free(d->mem);
	free(d);
}

static void finish_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct rdel *d = arg;
	struct remote *r = d->r;
	struct queue_batch *b = d->b;
	for (size_t i = 0; i < b->count; i++) {
		if (d->open[i]) {
			/* RFC 8689 4.2.1: no MX offered REQUIRETLS (or none
			 * could be verified): the message bounces. */
			bool rtls = b->env->requiretls && strstr(d->reply[i], " 5.7.30 ") != NULL;
			d->res[i].outcome = rtls ? QUEUE_OUT_PERMFAIL : QUEUE_OUT_TEMPFAIL;
			d->res[i].reply = d->reply[i];
		}
	}
	char esc[MTA_REPLY_MAX + 64];
	for (size_t i = 0; i < b->count; i++) {
		const struct queue_rcpt *rc = &b->env->rcpts[b->rcpt[i]];
		static const char *const names[] = {"sent", "sent", "sent", "deferred", "bounced",
						    "deferred"};
		char eto[QUEUE_ADDR_MAX + 64];
		char efrom[QUEUE_ADDR_MAX + 64];
		log_info(NULL, "event=relay id=%s msgid=%s from=<%s> to=<%s> size=%llu delay=%llds result=%s relay=%s attempts=%u reply=\"%s\"",
			 d->id, d->msgid,
			 log_escape(efrom, sizeof(efrom), b->env->sender, strlen(b->env->sender)),
			 log_escape(eto, sizeof(eto), rc->addr, strlen(rc->addr)),
			 (unsigned long long)d->size, (long long)(time(NULL) - b->env->created),
			 names[d->res[i].outcome],
			 /* the host last tried, whether or not it answered */
			 d->mta[i][0] ? d->mta[i] : "none", d->attempts,
			 log_escape(esc, sizeof(esc), d->reply[i], strlen(d->reply[i])));
		enum queue_outcome o = d->res[i].outcome;
		bool later = o == QUEUE_OUT_TEMPFAIL || o == QUEUE_OUT_UNTRIED;
		metrics_deliveries(later			 ? METRICS_RESULT_DEFERRED
				   : o == QUEUE_OUT_PERMFAIL ? METRICS_RESULT_BOUNCED
							     : METRICS_RESULT_DELIVERED,
				   METRICS_WHERE_REMOTE, 1);
		int64_t age_s = (int64_t)time(NULL) - b->env->created; /* whole seconds */
		if (!later)
			metrics_delivery_latency_ms(age_s > 0 ? (uint64_t)age_s * 1000 : 0);
	}
	remote_done_fn done = r->done;
	void *darg = r->arg;
	bool dest_failed = d->dest_failed;
	struct queue_result *res = d->res;
	d->res = NULL; /* kept alive across the callback */
	char (*reply)[MTA_REPLY_MAX] = d->reply;
	d->reply = NULL;
	char (*mta)[256] = d->mta; /* res[].remote_mta points here */
	d->mta = NULL;
	rdel_free(d);
	done(darg, b, res, dest_failed);
	free(res);
	free(reply);
	free(mta);
}

/* Ends the delivery: open recipients are deferred with their last reason.
 * Reported from the loop, never from inside remote_deliver. */
static void finish(struct rdel *d)
{
	if (d->finish_ev != NULL)
		return;
	mta_conn_free(&d->conn);
	d->finish_ev = event_new(d->r->base, -1, 0, finish_cb, d);
	struct timeval tv = {0, 0};
	(void)event_add(d->finish_ev, &tv);
}

/* All open recipients get one outcome and text. */
static void settle_all(struct rdel *d, enum queue_outcome o, const char *text)
{
	for (size_t i = 0; i < d->b->count; i++) {
		if (!d->open[i])
			continue;
		(void)snprintf(d->reply[i], MTA_REPLY_MAX, "%s", text);
		d->res[i].reply = d->reply[i];
		if (o != QUEUE_OUT_TEMPFAIL && o != QUEUE_OUT_UNTRIED) {
			d->res[i].outcome = o;
			d->open[i] = false;
		}
	}
}

static size_t open_count(const struct rdel *d)
{
	size_t n = 0;
	for (size_t i = 0; i < d->b->count; i++)
		n += d->open[i];
	return n;
}

/* ---- the message body ---- */

static ssize_t read_file(void *arg, uint64_t off, void *buf, size_t len)
{
	struct rdel *d = arg;
	if (d->mem != NULL) {
		if (off >= d->mem_len)
			return 0;
		size_t n = d->mem_len - off < len ? d->mem_len - off : len;
		memcpy(buf, d->mem + off, n);
		return (ssize_t)n;
	}
	ssize_t got;
	do {
		got = pread(d->fd, buf, len, (off_t)(d->skip + off));
	} while (got < 0 && errno == EINTR);
	return got;
}

/* RFC 6152 3: a peer without 8BITMIME gets quoted-printable. */
static int downgrade(void *arg, struct mta_job *job, char *why, size_t why_size)
{
	struct rdel *d = arg;
	uint64_t n = d->size;
	char *in = xmalloc(n ? n : 1);
	for (uint64_t off = 0; off < n;) {
		ssize_t got = read_file(d, off, in + off, n - off);
		if (got <= 0) {
			free(in);
			(void)snprintf(why, why_size, "451 4.3.0 cannot read the queued message");
			return -1;
		}
		off += (uint64_t)got;
	}
	char *out = NULL;
	size_t out_len = 0;
	enum mime8_err err = MIME8_ERR_NONE;
	int rc = mime8_downgrade(in, n, 2 * n + 4096, &out, &out_len, &err);
	free(in);
	if (rc != 0) {
		(void)snprintf(why, why_size,
			       "554 %s the message has 8-bit content the server cannot take "
			       "(no 8BITMIME) and it cannot be converted: %s",
			       mime8_status(err, job->smtputf8), mime8_strerror(err));
		return -1;
	}
	free(d->mem);
	d->mem = out;
	d->mem_len = out_len;
	job->size = out_len;
	job->body_8bit = false;
	return 0;
}

/* ---- the connection cache ---- */

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

static void idle_unlink(struct idle_conn *ic)
{
	struct remote *r = ic->r;
	if (ic->prev)
		ic->prev->next = ic->next;
	else
		r->idle = ic->next;
	if (ic->next)
		ic->next->prev = ic->prev;
	r->idle_count--;
	if (ic->timer)
		event_free(ic->timer);
}

static void idle_job_done(void *arg, struct mta_job *job)
{
	(void)arg;
	(void)job; /* an idle connection carries no job */
}

/* The cached connection ended (timer QUIT, or the server closed it). */
static void idle_conn_done(void *arg, struct mta_conn *c, const struct mta_conn_end *end)
{
	(void)c;
	(void)end;
	struct idle_conn *ic = arg;
	idle_unlink(ic);
	mta_conn_free(&ic->c);
	free(ic);
}

static void idle_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct idle_conn *ic = arg;
	/* QUIT; idle_conn_done frees it once answered. */
	mta_conn_finish(ic->c);
}

static void idle_put(struct remote *r, struct mta_conn *c, const struct sockaddr_storage *addr,
		     int mode, const char *name, bool reusable)
{
	if (r->idle_count >= REMOTE_IDLE_MAX || !reusable) {
		mta_conn_set_owner(c, idle_job_done, NULL, NULL);
		mta_conn_free(&c); /* cancels: no callbacks */
		return;
	}
	struct idle_conn *ic = xcalloc(1, sizeof(*ic));
	ic->r = r;
	ic->c = c;
	ic->addr = *addr;
	ic->mode = mode;
	(void)snprintf(ic->name, sizeof(ic->name), "%s", name);
	mta_conn_set_owner(c, idle_job_done, idle_conn_done, ic);
	ic->timer = event_new(r->base, -1, 0, idle_timer_cb, ic);
	struct timeval tv = {REMOTE_IDLE_MS / 1000, (REMOTE_IDLE_MS % 1000) * 1000};
	(void)event_add(ic->timer, &tv);
	ic->next = r->idle;
	if (r->idle)
		r->idle->prev = ic;
	r->idle = ic;
	r->idle_count++;
}

/* An idle connection to addr, taken out of the cache, or NULL. */
static struct mta_conn *idle_take(struct remote *r, const struct sockaddr_storage *addr,
				  int mode, const char *name)
{
	for (struct idle_conn *ic = r->idle; ic != NULL; ic = ic->next) {
		if (!same_addr(&ic->addr, addr) || ic->mode != mode || !mta_conn_is_idle(ic->c) ||
		    strcasecmp(ic->name, name) != 0)
			continue;
		struct mta_conn *c = ic->c;
		idle_unlink(ic);
		free(ic);
		return c;
	}
	return NULL;
}

/* ---- one attempt ---- */

static void notify_text(unsigned notify, char *out, size_t out_size)
{
	out[0] = '\0';
	if (notify == 0)
		return;
	if (notify & QUEUE_NOTIFY_NEVER) {
		(void)snprintf(out, out_size, "NOTIFY=NEVER");
		return;
	}
	(void)snprintf(out, out_size, "NOTIFY=%s%s%s%s%s",
		       (notify & QUEUE_NOTIFY_SUCCESS) ? "SUCCESS" : "",
		       (notify & QUEUE_NOTIFY_SUCCESS) && (notify & (QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY)) ? "," : "",
		       (notify & QUEUE_NOTIFY_FAILURE) ? "FAILURE" : "",
		       (notify & QUEUE_NOTIFY_FAILURE) && (notify & QUEUE_NOTIFY_DELAY) ? "," : "",
		       (notify & QUEUE_NOTIFY_DELAY) ? "DELAY" : "");
}

static void on_job_done(void *arg, struct mta_job *job)
{
	struct rdel *d = arg;
	char tls_desc[128] = ""; /* once per connection, not per reuse */
	if (!d->conn_reused && d->conn != NULL)
		mta_conn_describe_tls(d->conn, tls_desc, sizeof(tls_desc));
	if (tls_desc[0] != '\0')
		metrics_tls_session(tls_desc, METRICS_TLS_CLIENT);
	for (size_t k = 0; k < job->rcpt_count; k++) {
		size_t i = d->job_map[k];
		const struct mta_rcpt_result *mr = &job->results[k];
		(void)snprintf(d->reply[i], MTA_REPLY_MAX, "%s", mr->reply);
		d->res[i].reply = d->reply[i];
		/* Remote-MTA only for the server's own reply, not our reasons. */
		(void)snprintf(d->mta[i], sizeof(d->mta[i]), "%s", d->host);
		d->res[i].remote_mta = mr->code != 0 ? d->mta[i] : NULL;
		const struct queue_rcpt *rc = &d->b->env->rcpts[d->b->rcpt[i]];
		switch (mr->outcome) {
		case MTA_RCPT_DELIVERED:
			/* RFC 3461 5.2.3: a next hop without DSN gets "relayed". */
			d->res[i].outcome = job->peer_dsn			     ? QUEUE_OUT_DSN_PASSED
					    : (rc->notify & QUEUE_NOTIFY_SUCCESS) ? QUEUE_OUT_RELAYED
										   : QUEUE_OUT_DELIVERED;
			d->open[i] = false;
			break;
		case MTA_RCPT_PERMFAIL:
			d->res[i].outcome = QUEUE_OUT_PERMFAIL;
			d->open[i] = false;
			break;
		case MTA_RCPT_TEMPFAIL:
		case MTA_RCPT_UNTRIED:
			if (job->maybe_delivered) {
				/* RFC 1047: the reply to the final dot was lost;
				 * the server may have the message. Another MX now
				 * would make a duplicate: wait and retry later. */
				(void)snprintf(d->reply[i], MTA_REPLY_MAX,
					       "%.400s (after the end of data: the message may have "
					       "been delivered)",
					       mr->reply);
				d->res[i].remote_mta = NULL;
				d->res[i].outcome = QUEUE_OUT_TEMPFAIL;
				d->open[i] = false;
			}
			break;
		}
	}
	/* Whether the connection survived is known once the session has
	 * moved on: look from the loop. */
	if (d->check_ev == NULL)
		d->check_ev = event_new(d->r->base, -1, 0, check_cb, d);
	d->checks = 0;
	struct timeval tv = {0, 0};
	(void)event_add(d->check_ev, &tv);
}

/* The attempt is over (reply or failure): the next address for what is
 * still open, or the end. */
static void after_attempt(struct rdel *d, bool tls_failed, const char *reason)
{
	if (open_count(d) == 0) {
		finish(d);
		return;
	}
	/* Recipients never offered keep the connection's reason. */
	for (size_t i = 0; i < d->b->count; i++)
		if (d->open[i] && d->reply[i][0] == '\0')
			(void)snprintf(d->reply[i], MTA_REPLY_MAX, "%s", reason);
	if (tls_failed && d->r->cfg->relay_tls == CFG_RELAY_TLS_OPPORTUNISTIC && !d->clear_retry &&
	    d->conn_kind == TLSPOLICY_OPPORTUNISTIC && !d->b->env->requiretls) {
		/* The handshake failed before any mail data: the same host
		 * once more in clear (opportunistic TLS, RFC 7435). */
		d->clear_retry = true;
		if (d->addr_i > 0)
			d->addr_i--;
		else if (d->host_i > 0) {
			d->host_i--;
			d->addr_i = d->route->hosts[d->host_i].addr_count - 1;
		}
	} else {
		d->clear_retry = false;
	}
	try_next(d);
}

static void check_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct rdel *d = arg;
	if (d->conn == NULL)
		return; /* on_conn_done decided */
	if (!mta_conn_is_idle(d->conn)) {
		/* Still finishing (an RSET after a refused DATA): look again
		 * shortly; a connection that never settles is dropped. */
		if (++d->checks < 50) {
			struct timeval tv = {0, 100 * 1000};
			(void)event_add(d->check_ev, &tv);
			return;
		}
		mta_conn_free(&d->conn);
		d->any_connected = true;
		after_attempt(d, false, "4.4.2 the server did not settle after the transaction");
		return;
	}
	/* The job went through and the connection is fine: keep it for the
	 * next message to this address. */
	struct mta_conn *c = d->conn;
	d->conn = NULL;
	d->any_connected = true;
	struct mta_conn_end ok_end = {.ok = true, .connected = true};
	ok_end.tls_up = mta_conn_tls_up(c);
	ok_end.verify_result = mta_conn_verify_result(c);
	if (!ok_end.tls_up) {
		ok_end.ok = false;
		(void)snprintf(ok_end.reason, sizeof(ok_end.reason),
			       "the server does not offer STARTTLS");
	}
	report_tls(d, &ok_end);
	/* DANE connections are not kept: their check binds TLSA records,
	 * not a name, and another destination may publish others. */
	idle_put(d->r, c, &d->conn_addr, d->conn_mode, d->host, d->conn_kind != TLSPOLICY_DANE);
	after_attempt(d, false, "4.4.2 not accepted at this address");
}

static void on_conn_done(void *arg, struct mta_conn *c, const struct mta_conn_end *end)
{
	struct rdel *d = arg;
	(void)c;
	mta_conn_free(&d->conn);
	if (d->check_ev)
		(void)event_del(d->check_ev);
	if (end->connected)
		d->any_connected = true;
	report_tls(d, end);
	after_attempt(d, end->tls_failed, end->reason);
}

static void fill_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* ---- TLS policy (DANE, MTA-STS, REQUIRETLS) ---- */

static const struct tlspolicy_host *host_policy(const struct rdel *d, const struct dns_host *h)
{
	if (d->pol == NULL || d->route == NULL)
		return NULL;
	size_t i = (size_t)(h - d->route->hosts);
	return i < d->pol->host_count ? &d->pol->hosts[i] : NULL;
}

/* True when a REQUIRETLS message may go to this host: its certificate is
 * checked by DANE or by an MTA-STS policy that lists it (RFC 8689 4.2.1). */
static bool host_verified(const struct rdel *d, const struct dns_host *h)
{
	const struct tlspolicy_host *ph = host_policy(d, h);
	if (ph == NULL)
		return false;
	if (ph->kind == TLSPOLICY_DANE || ph->kind == TLSPOLICY_STS)
		return true;
	return ph->kind == TLSPOLICY_OPPORTUNISTIC && d->pol->has_sts &&
	       d->pol->sts.mode == MTASTS_MODE_TESTING && !ph->sts_mismatch;
}

/* Why this host must not be used now, or NULL. */
static const char *host_refused(struct rdel *d, const struct dns_host *h)
{
	const struct tlspolicy_host *ph = host_policy(d, h);
	if (ph != NULL && ph->kind == TLSPOLICY_SKIP)
		return ph->reason;
	if (d->b->env->requiretls && !host_verified(d, h))
		return "550 5.7.30 REQUIRETLS support required: this MX host cannot be verified "
		       "(no DANE record, not in an MTA-STS policy)";
	return NULL;
}

static void requiretls_refuse(struct rdel *d, const char *why)
{
	char text[MTA_REPLY_MAX];
	(void)snprintf(text, sizeof(text), "550 5.7.30 REQUIRETLS support required: %.400s", why);
	settle_all(d, QUEUE_OUT_PERMFAIL, text);
	finish(d);
}

static void tls_event(struct rdel *d, const char *mx, const struct sockaddr_storage *addr,
		      bool success, enum tlsrpt_result result, const char *reason)
{
	struct remote *r = d->r;
	if (r->tls_obs == NULL || d->pol == NULL)
		return;
	struct remote_tls_event ev = {.domain = d->b->domain,
				      .policy = d->pol,
				      .mx = mx,
				      .addr = addr,
				      .success = success,
				      .result = result,
				      .reason = reason};
	r->tls_obs(r->tls_obs_arg, &ev);
}

/* The TLS outcome of one attempt, for TLS reports (RFC 8460 4.3). */
static void report_tls(struct rdel *d, const struct mta_conn_end *end)
{
	if (d->pol == NULL || !end->connected || d->clear_retry)
		return;
	const char *mx = d->host;
	bool verified_mode = d->conn_kind == TLSPOLICY_DANE || d->conn_kind == TLSPOLICY_STS;
	bool testing = d->pol->has_sts && d->pol->sts.mode == MTASTS_MODE_TESTING;
	long vr = end->verify_result;
	if (end->tls_up && !end->tls_failed) {
		const struct tlspolicy_host *ph = NULL;
		for (size_t i = 0; d->route && i < d->route->host_count; i++)
			if (strcmp(d->route->hosts[i].name, mx) == 0)
				ph = host_policy(d, &d->route->hosts[i]);
		if (testing && ph != NULL && ph->sts_mismatch) {
			tls_event(d, mx, &d->conn_addr, false, TLSRPT_RESULT_VALIDATION_FAILURE,
				  "MX host not listed in the MTA-STS policy");
		} else if (testing && vr != X509_V_OK) {
			/* testing mode: delivered, the failure only reported */
			tls_event(d, mx, &d->conn_addr, false,
				  vr == X509_V_ERR_HOSTNAME_MISMATCH ? TLSRPT_RESULT_CERTIFICATE_HOST_MISMATCH
				  : vr == X509_V_ERR_CERT_HAS_EXPIRED ? TLSRPT_RESULT_CERTIFICATE_EXPIRED
								      : TLSRPT_RESULT_CERTIFICATE_NOT_TRUSTED,
				  X509_verify_cert_error_string(vr));
		} else {
			tls_event(d, mx, &d->conn_addr, true, TLSRPT_RESULT_COUNT, NULL);
		}
		return;
	}
	if (end->tls_failed) {
		enum tlsrpt_result res = TLSRPT_RESULT_VALIDATION_FAILURE;
		if (d->conn_kind == TLSPOLICY_DANE)
			res = TLSRPT_RESULT_VALIDATION_FAILURE; /* no record matched */
		else if (vr == X509_V_ERR_HOSTNAME_MISMATCH)
			res = TLSRPT_RESULT_CERTIFICATE_HOST_MISMATCH;
		else if (vr == X509_V_ERR_CERT_HAS_EXPIRED)
			res = TLSRPT_RESULT_CERTIFICATE_EXPIRED;
		else if (vr != X509_V_OK)
			res = TLSRPT_RESULT_CERTIFICATE_NOT_TRUSTED;
		tls_event(d, mx, &d->conn_addr, false, res, end->reason);
		return;
	}
	/* Connected, no TLS: the server did not offer STARTTLS where it
	 * had to (or the session broke before; only the first counts). */
	if ((verified_mode || d->conn_kind == TLSPOLICY_DANE_NOAUTH || !end->ok) &&
	    strstr(end->reason, "STARTTLS") != NULL)
		tls_event(d, mx, &d->conn_addr, false, TLSRPT_RESULT_STARTTLS_NOT_SUPPORTED,
			  end->reason);
}

static void on_policy(void *arg, struct tlspolicy_result *res)
{
	struct rdel *d = arg;
	d->pol_req = NULL;
	d->pol = res;
	size_t dane = 0, sts = 0, skip = 0;
	for (size_t i = 0; i < res->host_count; i++) {
		dane += res->hosts[i].kind == TLSPOLICY_DANE || res->hosts[i].kind == TLSPOLICY_DANE_NOAUTH;
		sts += res->hosts[i].kind == TLSPOLICY_STS;
		skip += res->hosts[i].kind == TLSPOLICY_SKIP;
	}
	if (dane || res->has_sts || res->sts_failed)
		log_info(NULL, "event=tls-policy id=%s domain=%s dnssec=%s mta-sts=%s dane_hosts=%zu sts_hosts=%zu skipped_hosts=%zu",
			 d->id, d->b->domain, res->mx_secure ? "signed" : "unsigned",
			 res->has_sts ? mtasts_mode_name(res->sts.mode) : res->sts_failed ? "failed" : "none",
			 dane, sts, skip);
	if (res->sts_failed)
		tls_event(d, NULL, NULL, false,
			  res->sts_invalid ? TLSRPT_RESULT_STS_POLICY_INVALID
					   : TLSRPT_RESULT_STS_POLICY_FETCH_ERROR,
			  res->sts_reason);
	if (d->b->env->requiretls) {
		bool any = false;
		for (size_t i = 0; i < d->route->host_count && !any; i++)
			any = host_verified(d, &d->route->hosts[i]);
		if (!any) {
			char why[MTA_REPLY_MAX];
			(void)snprintf(why, sizeof(why),
				       "%.200s has no MX host verified by DANE or MTA-STS", d->b->domain);
			requiretls_refuse(d, why);
			return;
		}
	}
	try_next(d);
}

static void start_attempt(struct rdel *d, const struct dns_host *h, const struct sockaddr_storage *addr)
{
	const struct config *cfg = d->r->cfg;
	const struct queue_env *env = d->b->env;
	d->attempts++;
	(void)snprintf(d->host, sizeof(d->host), "%s", h->name);
	/* The job: the recipients still open. */
	size_t n = 0;
	for (size_t i = 0; i < d->b->count; i++) {
		if (!d->open[i])
			continue;
		const struct queue_rcpt *rc = &env->rcpts[d->b->rcpt[i]];
		d->job_rcpts[n] = rc->addr;
		free(d->job_dsn[n]);
		char notify[64];
		notify_text(rc->notify, notify, sizeof(notify));
		char buf[QUEUE_ORCPT_MAX + 96];
		(void)snprintf(buf, sizeof(buf), "%s%s%s%s", notify,
			       notify[0] && rc->orcpt ? " " : "", rc->orcpt ? "ORCPT=" : "",
			       rc->orcpt ? rc->orcpt : "");
		d->job_dsn[n] = xstrdup(buf);
		d->job_map[n] = i;
		d->reply[i][0] = '\0';
		n++;
	}
	memset(&d->job, 0, sizeof(d->job));
	d->job.sender = env->sender;
	d->job.size = d->mem ? d->mem_len : d->size;
	d->job.body_8bit = d->mem == NULL && env->body != QUEUE_BODY_7BIT;
	d->job.smtputf8 = env->smtputf8;
	d->job.dsn_mail_params = d->dsn_mail[0] ? d->dsn_mail : NULL;
	d->job.rcpt_count = n;
	d->job.rcpts = d->job_rcpts;
	d->job.rcpt_dsn_params = (const char *const *)d->job_dsn;
	d->job.read = read_file;
	d->job.read_arg = d;
	d->job.downgrade = downgrade;
	d->job.downgrade_arg = d;
	d->job.results = d->job_res;

	struct mta_conn_options o;
	memset(&o, 0, sizeof(o));
	o.addr = *addr;
	o.addr_len = addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						  : sizeof(struct sockaddr_in);
	fill_port(&o.addr, cfg->has_smarthost ? cfg->smarthost.port : cfg->relay_port);
	o.peer_name = d->host;
	o.session.helo = cfg->hostname;
	o.session.pipelining = true;
	o.session.tls = d->clear_retry || cfg->relay_tls == CFG_RELAY_TLS_OFF
				? MTA_TLS_OFF
				: cfg->relay_tls == CFG_RELAY_TLS_REQUIRE ? MTA_TLS_REQUIRE
									  : MTA_TLS_OPPORTUNISTIC;
	/* The destination's policy for this host (RFC 7672, RFC 8461). */
	const struct tlspolicy_host *ph = host_policy(d, h);
	d->conn_kind = ph != NULL ? ph->kind : TLSPOLICY_OPPORTUNISTIC;
	switch (d->conn_kind) {
	case TLSPOLICY_DANE:
		o.session.tls = MTA_TLS_REQUIRE;
		o.tls_verify = TLS_CLIENT_VERIFY_DANE;
		o.tlsa = ph->tlsa;
		o.tlsa_count = ph->tlsa_count;
		break;
	case TLSPOLICY_STS:
		o.session.tls = MTA_TLS_REQUIRE;
		o.tls_verify = TLS_CLIENT_VERIFY_HOSTNAME;
		break;
	case TLSPOLICY_DANE_NOAUTH:
		o.session.tls = MTA_TLS_REQUIRE;
		break;
	case TLSPOLICY_OPPORTUNISTIC:
	case TLSPOLICY_SKIP:
		if (d->pol != NULL && d->pol->has_sts && d->pol->sts.mode == MTASTS_MODE_TESTING &&
		    o.session.tls != MTA_TLS_OFF)
			o.tls_verify = TLS_CLIENT_VERIFY_HOSTNAME_REPORT;
		break;
	}
	if (d->b->env->requiretls) {
		/* RFC 8689 4.2.1: only to a verified server. */
		o.session.tls = MTA_TLS_REQUIRE;
		d->job.requiretls = true;
		if (o.tls_verify == TLS_CLIENT_VERIFY_HOSTNAME_REPORT)
			o.tls_verify = TLS_CLIENT_VERIFY_HOSTNAME; /* testing policy, matching MX */
	}
	if (cfg->has_smarthost && d->r->has_auth) {
		o.session.auth_user = d->r->auth_user;
		o.session.auth_pass = d->r->auth_pass;
	}
	o.tls_ctx = d->r->tls_ctx;
	o.implicit_tls = cfg->has_smarthost && cfg->smarthost.port == 465;
	d->conn_addr = o.addr;
	d->conn_mode = o.session.tls == MTA_TLS_OFF ? -1 : (int)o.tls_verify * 16 + (int)d->conn_kind;
	struct mta_conn *cached = o.implicit_tls || d->conn_kind == TLSPOLICY_DANE
					  ? NULL
					  : idle_take(d->r, &o.addr, d->conn_mode, d->host);
	d->conn_reused = cached != NULL;
	if (cached != NULL) {
		d->conn = cached;
		mta_conn_set_owner(cached, on_job_done, on_conn_done, d);
	} else {
		d->conn = mta_conn_new(d->r->base, &o, on_job_done, on_conn_done, d);
	}
	/* No finish: after the job the connection goes to the cache (or,
	 * if it is no longer usable, ends by itself). */
	mta_conn_add_job(d->conn, &d->job);
}

/* The next address of the route, or the end. */
static void try_next(struct rdel *d)
{
	struct dns_result *rt = d->route;
	while (d->attempts < REMOTE_ATTEMPTS_MAX && rt != NULL && d->host_i < rt->host_count) {
		struct dns_host *h = &rt->hosts[d->host_i];
		if (d->addr_i >= h->addr_count) {
			if (h->addr_count == 0 && h->reason[0] != '\0')
				settle_all(d, QUEUE_OUT_TEMPFAIL, h->reason);
			d->host_i++;
			d->addr_i = 0;
			continue;
		}
		const char *why = host_refused(d, h);
		if (why != NULL) {
			/* Policy: not this host (now). Its reason is kept only
			 * where no server has answered yet: a REQUIRETLS
			 * message bounces on "5.7.30" alone, never because a
			 * verified MX failed for the moment and an unverified
			 * one came after it. */
			for (size_t i = 0; i < d->b->count; i++)
				if (d->open[i] && d->reply[i][0] == '\0')
					(void)snprintf(d->reply[i], MTA_REPLY_MAX, "%.500s", why);
			d->host_i++;
			d->addr_i = 0;
			continue;
		}
		const struct sockaddr_storage *a = &h->addrs[d->addr_i++];
		start_attempt(d, h, a);
		return;
	}
	d->dest_failed = !d->any_connected;
	finish(d);
}

/* An MX that is this host: RFC 5321 5.1 says to drop it and every MX of
 * the same or a worse preference; nothing left means a loop. */
static bool is_self(const struct config *cfg, const struct dns_host *h)
{
	if (strcasecmp(h->name, cfg->hostname) == 0)
		return true;
	for (size_t a = 0; a < h->addr_count; a++) {
		const struct sockaddr_storage *ss = &h->addrs[a];
		for (size_t l = 0; l < cfg->smtp_listen.count; l++) {
			const struct sockaddr_storage *ls = &cfg->smtp_listen.items[l].addr;
			if (ss->ss_family != ls->ss_family)
				continue;
			if (ss->ss_family == AF_INET) {
				const struct sockaddr_in *x = (const struct sockaddr_in *)ss;
				const struct sockaddr_in *y = (const struct sockaddr_in *)ls;
				if (x->sin_addr.s_addr == y->sin_addr.s_addr &&
				    ntohs(y->sin_port) == cfg->relay_port)
					return true;
			} else if (ss->ss_family == AF_INET6) {
				const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)ss;
				const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)ls;
				if (memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0 &&
				    ntohs(y->sin6_port) == cfg->relay_port)
					return true;
			}
		}
	}
	return false;
}

static void on_route(struct dns_result *res, void *arg)
{
	struct rdel *d = arg;
	d->dns_req = NULL;
	d->route = res;
	/* Long enough for any reason; settle_all cuts to MTA_REPLY_MAX. */
	char text[MTA_REPLY_MAX + DNS_REASON_MAX + 512];
	switch (res->status) {
	case DNS_OK:
		break;
	case DNS_NULL_MX:
		/* RFC 7505 4.1: the domain accepts no mail. */
		(void)snprintf(text, sizeof(text), "556 5.1.10 %s: %s", d->b->domain, res->reason);
		settle_all(d, QUEUE_OUT_PERMFAIL, text);
		finish(d);
		return;
	case DNS_PERMFAIL:
		(void)snprintf(text, sizeof(text), "550 %s %s: %s",
			       res->enhanced[0] ? res->enhanced : "5.1.2", d->b->domain, res->reason);
		settle_all(d, QUEUE_OUT_PERMFAIL, text);
		finish(d);
		return;
	case DNS_TEMPFAIL:
		(void)snprintf(text, sizeof(text), "451 %s %s: %s",
			       res->enhanced[0] ? res->enhanced : "4.4.3", d->b->domain, res->reason);
		settle_all(d, QUEUE_OUT_TEMPFAIL, text);
		d->dest_failed = true;
		finish(d);
		return;
	}
	if (!d->r->cfg->has_smarthost) {
		for (size_t i = 0; i < res->host_count; i++) {
			if (!is_self(d->r->cfg, &res->hosts[i]))
				continue;
			/* RFC 5321 5.1: drop this host and every MX of the same
			 * or a worse preference; nothing left is a loop. */
			unsigned pref = res->hosts[i].preference;
			size_t keep = i;
			while (keep > 0 && res->hosts[keep - 1].preference >= pref)
				keep--;
			if (keep == 0) {
				(void)snprintf(text, sizeof(text),
					       "554 5.4.6 mail for %s loops back to myself: its best MX %s "
					       "is this host (check the MX records or add %s to domains)",
					       d->b->domain, res->hosts[i].name, d->b->domain);
				settle_all(d, QUEUE_OUT_PERMFAIL, text);
				finish(d);
				return;
			}
			for (size_t k = keep; k < res->host_count; k++) {
				free(res->hosts[k].name);
				free(res->hosts[k].addrs);
			}
			res->host_count = keep;
			break;
		}
	}
	const struct config *cfg = d->r->cfg;
	if (d->r->tp != NULL && !cfg->has_smarthost && d->b->domain[0] != '[' &&
	    cfg->relay_tls != CFG_RELAY_TLS_OFF && !d->tls_optional) {
		d->pol_req = tlspolicy_start(d->r->tp, d->b->domain, res, on_policy, d);
		return;
	}
	if (d->b->env->requiretls) {
		requiretls_refuse(d, "no DANE or MTA-STS policy is looked up on this route");
		return;
	}
	try_next(d);
}

/* ---- public ---- */

void remote_set_tls(struct remote *r, struct tlspolicy *tp, remote_tls_fn obs, void *arg)
{
	r->tp = tp;
	r->tls_obs = obs;
	r->tls_obs_arg = arg;
}

bool remote_tls_required_no(const char *msg, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t e = i;
		while (e < len && msg[e] != '\n')
			e++;
		if (e == i || (e == i + 1 && msg[i] == '\r'))
			return false; /* end of the header block */
		static const char name[] = "TLS-Required:";
		size_t nl = sizeof(name) - 1;
		if (e - i >= nl && strncasecmp(msg + i, name, nl) == 0) {
			size_t v = i + nl;
			while (v < e && (msg[v] == ' ' || msg[v] == '\t'))
				v++;
			size_t ve = e;
			while (ve > v && (msg[ve - 1] == ' ' || msg[ve - 1] == '\t' || msg[ve - 1] == '\r'))
				ve--;
			return ve - v == 2 && strncasecmp(msg + v, "No", 2) == 0;
		}
		i = e + 1;
	}
	return false;
}

struct remote *remote_new(struct event_base *base, const struct config *cfg, struct dns *dns,
			  struct queue_store *qs, SSL_CTX *tls_ctx, remote_done_fn done, void *arg)
{
	struct remote *r = xcalloc(1, sizeof(*r));
	r->base = base;
	r->cfg = cfg;
	r->dns = dns;
	r->qs = qs;
	r->tls_ctx = tls_ctx;
	r->done = done;
	r->arg = arg;
	remote_set_config(r, cfg);
	return r;
}

void remote_set_config(struct remote *r, const struct config *cfg)
{
	r->cfg = cfg;
	OPENSSL_cleanse(r->auth_pass, sizeof(r->auth_pass));
	r->has_auth = false;
	const char *a = cfg->smarthost_auth;
	const char *colon = a ? strchr(a, ':') : NULL;
	if (colon == NULL)
		return;
	size_t ul = (size_t)(colon - a);
	if (ul >= sizeof(r->auth_user) || strlen(colon + 1) >= sizeof(r->auth_pass))
		return;
	memcpy(r->auth_user, a, ul);
	r->auth_user[ul] = '\0';
	(void)snprintf(r->auth_pass, sizeof(r->auth_pass), "%s", colon + 1);
	r->has_auth = true;
}

void remote_free(struct remote **pp)
{
	struct remote *r = *pp;
	if (r == NULL)
		return;
	*pp = NULL;
	while (r->list != NULL)
		rdel_free(r->list);
	while (r->idle != NULL) {
		struct idle_conn *ic = r->idle;
		idle_unlink(ic);
		mta_conn_free(&ic->c); /* cancels: no callbacks */
		free(ic);
	}
	OPENSSL_cleanse(r->auth_pass, sizeof(r->auth_pass));
	free(r);
}

unsigned remote_active(const struct remote *r)
{
	return r->active;
}

void remote_deliver(struct remote *r, struct queue_batch *b)
{
	struct rdel *d = xcalloc(1, sizeof(*d));
	d->r = r;
	d->b = b;
	d->fd = -1;
	(void)snprintf(d->msgid, sizeof(d->msgid), "-");
	d->next = r->list;
	if (r->list)
		r->list->prev = d;
	r->list = d;
	r->active++;
	const struct queue_env *env = b->env;
	(void)snprintf(d->id, sizeof(d->id), "%s", env->id);
	size_t n = b->count ? b->count : 1;
	d->open = xcalloc(n, sizeof(bool));
	d->res = xcalloc(n, sizeof(*d->res));
	d->reply = xcalloc(n, sizeof(*d->reply));
	d->mta = xcalloc(n, sizeof(*d->mta));
	d->job_rcpts = xcalloc(n, sizeof(char *));
	d->job_dsn = xcalloc(n, sizeof(char *));
	d->job_map = xcalloc(n, sizeof(size_t));
	d->job_res = xcalloc(n, sizeof(*d->job_res));
	for (size_t i = 0; i < b->count; i++) {
		d->open[i] = true;
		d->res[i].outcome = QUEUE_OUT_TEMPFAIL;
		d->res[i].reply = d->reply[i];
	}
	size_t dn = 0;
	if (env->ret != QUEUE_RET_UNSET)
		dn += (size_t)snprintf(d->dsn_mail + dn, sizeof(d->dsn_mail) - dn, "RET=%s",
				       env->ret == QUEUE_RET_FULL ? "FULL" : "HDRS");
	if (env->envid != NULL && dn < sizeof(d->dsn_mail))
		(void)snprintf(d->dsn_mail + dn, sizeof(d->dsn_mail) - dn, "%sENVID=%s",
			       dn ? " " : "", env->envid);

	char err[512];
	d->fd = queue_store_open_message(r->qs, env->id, err, sizeof(err));
	if (d->fd < 0) {
		settle_all(d, QUEUE_OUT_TEMPFAIL, "451 4.3.0 cannot open the queued message");
		log_error(NULL, "event=relay id=%s error=\"%s\"", d->id, err);
		finish(d);
		return;
	}
	d->skip = env->skip;
	d->size = env->size > env->skip ? env->size - env->skip : 0;
	/* RFC 5321 6.3: count the hops; a message that went round too often
	 * is a loop, not mail. */
	size_t hn = d->size < REMOTE_HEADER_MAX ? (size_t)d->size : REMOTE_HEADER_MAX;
	char *hdr = xmalloc(hn ? hn : 1);
	ssize_t got = read_file(d, 0, hdr, hn);
	unsigned hops = got > 0 ? remote_count_received(hdr, (size_t)got) : 0;
	const char *mid;
	long ml = got > 0 ? rfc5322_field_value(hdr, (size_t)got, "Message-ID", &mid) : -1;
	if (ml >= 0)
		(void)log_escape(d->msgid, sizeof(d->msgid), mid, (size_t)ml);
	else
		(void)snprintf(d->msgid, sizeof(d->msgid), "-");
	/* RFC 8689 5: the sender asks that policies not hold the message
	 * back (ignored for a REQUIRETLS message). */
	d->tls_optional = got > 0 && !env->requiretls && remote_tls_required_no(hdr, (size_t)got);
	free(hdr);
	if (hops > REMOTE_HOPS_MAX) {
		char text[128];
		(void)snprintf(text, sizeof(text),
			       "554 5.4.6 too many hops (%u Received: headers): mail loop", hops);
		settle_all(d, QUEUE_OUT_PERMFAIL, text);
		finish(d);
		return;
	}
	const struct config *cfg = r->cfg;
	if (cfg->has_smarthost) {
		d->dns_req = dns_resolve_host(r->dns, cfg->smarthost.host, on_route, d);
	} else if (b->domain[0] == '[') {
		/* An address literal: no MX lookup (RFC 5321 5.1). */
		char lit[80];
		const char *p = b->domain + 1;
		if (strncasecmp(p, "IPv6:", 5) == 0)
			p += 5;
		(void)snprintf(lit, sizeof(lit), "%s", p);
		char *close_br = strchr(lit, ']');
		if (close_br)
			*close_br = '\0';
		d->dns_req = dns_resolve_host(r->dns, lit, on_route, d);
	} else {
		d->dns_req = dns_resolve_mx(r->dns, b->domain, on_route, d);
	}
}
