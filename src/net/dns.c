/* dns: the resolver over c-ares on the libevent loop (the pure assembly of
 * routing and raw answers is in dns_plan.c).
 *
 * Each request runs on a c-ares channel of its own, with one libevent event
 * per socket of that channel (made and dropped through
 * ARES_OPT_SOCK_STATE_CB) and one timer for its retransmissions. Sharing a
 * channel would let one bad domain hurt others: c-ares 1.18 answers a
 * failed TCP connection (a truncated answer whose TCP retry is refused) by
 * resetting every query on that server, and a second time fails them all.
 * Channels are cloned from options read once at dns_new (resolv.conf is
 * not read again). User callbacks never run inside c-ares: a finished
 * request is handed over through its own zero-delay event, so a callback
 * may cancel, start requests or free the resolver. Must not block, log, or
 * decide delivery policy (MX pointing at us, relay_port): it only says
 * where a domain's mail may go. Raw queries (dns_query) for mail
 * authentication and DANE run on the same machinery, one channel each, and
 * only copy the records out within bounds: judging them is the caller's
 * job. */
#include "net/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/kassert.h"
#include "core/log.h"
#include "net/dns_internal.h"

struct dns_sock {
	int fd; /* c-ares' socket (c-ares closes it) */
	struct event *ev; /* owned */
	struct dns_sock *next;
};

/* One cached dns_query answer (see dns.h). */
struct dns_cache_entry {
	enum dns_qtype type;
	char name[DNS_NAME_MAX + 1]; /* lower case; "" for a free slot */
	time_t expires;
	struct dns_answer *ans; /* owned */
};

struct dns {
	struct dns_cache_entry *cache; /* owned, DNS_CACHE_SIZE slots */
	size_t cache_next; /* the slot the next new entry takes */
	struct event_base *base; /* borrowed */
	struct dns_req *reqs; /* owned list of open requests */
	unsigned timeout_ms; /* per request */
	uint64_t rng; /* splitmix64 state for MX shuffling */
	bool ares_ready; /* opts, optmask, servers and the library are set */
	struct ares_options opts; /* owned (ares_destroy_options): the
				     template of every request's channel */
	int optmask;
	struct ares_addr_port_node *servers; /* owned (ares_free_data) */
	bool is_fake; /* made by dns_new_fake */
	dns_fake_fn fake; /* routing answers of a fake; may be NULL */
	void *fake_arg;
	dns_fake_query_fn fake_query; /* dns_query answers of a fake; may be NULL */
	void *fake_query_arg;
};

struct dns_req {
	struct dns *dns; /* borrowed owner */
	struct dns_req *prev, *next; /* in dns->reqs */
	enum dns_kind kind;
	dns_result_fn cb; /* NULL once detached, and for a raw query */
	void *arg;
	struct dns_result *res; /* owned until handed to cb; NULL for a query */
	bool query; /* a dns_query request: qcb, qtype and ans are used */
	dns_query_fn qcb; /* NULL once detached */
	enum dns_qtype qtype;
	struct dns_answer *ans; /* owned until handed to qcb */
	struct dns_lookup (*lk)[2]; /* owned; per host: AAAA, A */
	unsigned char *left; /* owned; per host: lookups not answered */
	size_t hosts_left; /* hosts with left[i] > 0 */
	bool planned; /* host list known (MX answered, or a host request) */
	bool finished; /* res complete, done event active */
	bool detached; /* being freed: answers are ignored */
	ares_channel ch; /* owned; NULL for the fake and before the start */
	struct dns_sock *socks; /* owned list: ch's sockets */
	struct event *timer; /* owned: ch's next timeout */
	struct event *deadline; /* owned */
	struct event *done; /* owned */
	char name[DNS_NAME_MAX + 1]; /* lower case, no trailing dot; escaped
					when it was refused */
};

/* The argument of one c-ares query. */
struct dns_q {
	struct dns_req *req;
	size_t host;
	int fam;
	bool mx;
	bool query; /* the one query of a dns_query request */
};

/* ---- The resolver ---- */

static uint32_t dns_rand(void *arg)
{
	struct dns *dns = arg;
	/* splitmix64: spreading load over equal MX hosts needs no secrecy. */
	uint64_t z = (dns->rng += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static void dns_rearm(struct dns_req *req)
{
	struct timeval tv, *tvp = ares_timeout(req->ch, NULL, &tv);
	if (tvp != NULL)
		(void)evtimer_add(req->timer, tvp);
	else
		(void)evtimer_del(req->timer);
}

/* Answers met inside ares_process_fd only mark the request finished, so
 * req is still alive afterwards. */
static void dns_sock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_req *req = arg;
	ares_process_fd(req->ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
			(what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	dns_rearm(req);
}

static void dns_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_req *req = arg;
	(void)fd;
	(void)what;
	ares_process_fd(req->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_rearm(req);
}

/* c-ares opens, changes and closes its sockets through here, also from
 * inside ares_process_fd (freeing the event that is running then is safe:
 * libevent touches it no more after the callback). */
static void dns_sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_req *req = data;
	struct dns_sock **pp = &req->socks;
	while (*pp != NULL && (*pp)->fd != fd)
		pp = &(*pp)->next;
	struct dns_sock *s = *pp;
	if (!readable && !writable) {
		if (s != NULL) {
			*pp = s->next;
			event_free(s->ev);
			free(s);
		}
		return;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->fd = fd;
		s->next = req->socks;
		req->socks = s;
	} else {
		event_free(s->ev);
	}
	short what = (short)(EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
	s->ev = event_new(req->dns->base, fd, what, dns_sock_cb, req);
	KASSERT(s->ev != NULL);
	KASSERT(event_add(s->ev, NULL) == 0);
}

/* Unlinks and frees req, its channel first (queries still out are called
 * back with ARES_EDESTRUCTION and ignored). Never from inside c-ares. */
static void dns_req_free(struct dns_req *req)
{
	struct dns *dns = req->dns;
	req->detached = true;
	req->cb = NULL;
	req->qcb = NULL;
	if (req->ch != NULL) {
		ares_destroy(req->ch);
		req->ch = NULL;
	}
	while (req->socks != NULL) {
		struct dns_sock *s = req->socks;
		req->socks = s->next;
		event_free(s->ev);
		free(s);
	}
	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		dns->reqs = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	dns_result_free(&req->res);
	dns_answer_free(&req->ans);
	free(req->lk);
	free(req->left);
	if (req->timer != NULL)
		event_free(req->timer);
	event_free(req->deadline);
	event_free(req->done);
	free(req);
}

static void dns_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_req *req = arg;
	(void)fd;
	(void)what;
	KASSERT(req->finished && !req->detached);
	if (req->query) {
		dns_query_fn qcb = req->qcb;
		void *qarg = req->arg;
		struct dns_answer *ans = req->ans;
		req->ans = NULL;
		dns_req_free(req);
		qcb(ans, qarg);
		return;
	}
	dns_result_fn cb = req->cb;
	void *cb_arg = req->arg;
	struct dns_result *res = req->res;
	req->res = NULL;
	/* Gone before the callback runs, so the callback may free the whole
	 * resolver. */
	dns_req_free(req);
	cb(res, cb_arg);
}

static void dns_req_finish(struct dns_req *req)
{
	KASSERT(!req->finished);
	req->finished = true;
	(void)evtimer_del(req->deadline);
	event_active(req->done, EV_TIMEOUT, 1);
}

static void dns_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_req *req = arg;
	(void)fd;
	(void)what;
	if (req->finished)
		return;
	if (req->query) {
		dns_answer_set(req->ans, DNS_A_TEMPFAIL, "%s lookup for %s timed out",
			       dns_qtype_name(req->qtype), req->name);
	} else if (!req->planned) {
		dns_result_set(req->res, DNS_TEMPFAIL, "4.4.3", "MX lookup for %s timed out",
			       req->name);
	} else {
		/* Keep what has arrived; the rest counts as timed out. */
		for (size_t i = 0; i < req->res->host_count; i++) {
			if (req->left == NULL || req->left[i] == 0)
				continue;
			for (int f = 0; f < 2; f++)
				if (req->lk[i][f].status == DNS_LOOKUP_OPEN)
					req->lk[i][f].status = ARES_ETIMEOUT;
			dns_host_settle(&req->res->hosts[i], &req->lk[i][0], &req->lk[i][1]);
			req->left[i] = 0;
		}
		req->hosts_left = 0;
		dns_result_settle(req->res, req->kind, req->name);
	}
	dns_req_finish(req);
}

static void dns_query_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen);

static void dns_send(struct dns_req *req, const char *name, int type, size_t host, int fam,
		     bool mx)
{
	struct dns_q *q = xcalloc(1, sizeof(*q));
	q->req = req;
	q->host = host;
	q->fam = fam;
	q->mx = mx;
	/* ares_query, not ares_search: mail domains and MX hosts are
	 * absolute; resolv.conf search lists must not turn a missing domain
	 * into a local one. The callback may run before this returns. */
	ares_query(req->ch, name, DNS_CLASS_IN, type, dns_query_cb, q);
}

/* Asks AAAA and A for every planned host, or settles at once when there
 * is none. */
static void dns_start_hosts(struct dns_req *req)
{
	struct dns_result *res = req->res;
	req->planned = true;
	if (res->host_count > 0) {
		req->lk = xcalloc(res->host_count, sizeof(req->lk[0]));
		req->left = xcalloc(res->host_count, 1);
	}
	/* Count everything first: answers may come back synchronously. */
	for (size_t i = 0; i < res->host_count; i++) {
		if (!dns_host_needs_lookup(&res->hosts[i]))
			continue;
		req->lk[i][DNS_FAM_V6].status = DNS_LOOKUP_OPEN;
		req->lk[i][DNS_FAM_V4].status = DNS_LOOKUP_OPEN;
		req->left[i] = 2;
		req->hosts_left++;
	}
	if (req->hosts_left == 0) {
		dns_result_settle(res, req->kind, req->name);
		dns_req_finish(req);
		return;
	}
	for (size_t i = 0; i < res->host_count; i++) {
		if (req->left[i] == 0)
			continue;
		/* req and hosts[] outlive this loop even if every answer
		 * comes back synchronously: finishing only schedules the
		 * hand-over. */
		dns_send(req, res->hosts[i].name, DNS_TYPE_AAAA, i, DNS_FAM_V6, false);
		dns_send(req, res->hosts[i].name, DNS_TYPE_A, i, DNS_FAM_V4, false);
	}
}

/* A parser's verdict on an answer that arrived. Anything but "records" or
 * "no records of that type" means the answer was malformed or cut
 * (c-ares says EBADNAME for a broken compressed name): temporary, never a
 * reason to call the domain bad. */
static int dns_parse_status(int status)
{
	return status == ARES_SUCCESS || status == ARES_ENODATA ? status : ARES_EBADRESP;
}

static void dns_mx_answered(struct dns_req *req, int status, const unsigned char *abuf, int alen)
{
	struct ares_mx_reply *mx = NULL;
	struct dns_mx_rr *rrs = NULL;
	size_t n = 0;
	if (status == ARES_SUCCESS) {
		status = dns_parse_status(ares_parse_mx_reply(abuf, alen, &mx));
		size_t count = 0;
		for (struct ares_mx_reply *m = mx; m != NULL; m = m->next)
			count++;
		/* Bounded by the answer's size (64 KiB over TCP). */
		rrs = xcalloc(count > 0 ? count : 1, sizeof(*rrs));
		for (struct ares_mx_reply *m = mx; m != NULL; m = m->next) {
			rrs[n].exchange = m->host != NULL ? m->host : "";
			rrs[n].preference = m->priority;
			n++;
		}
	}
	(void)dns_mx_plan(req->res, req->name, status, rrs, n, dns_rand, req->dns);
	free(rrs);
	if (mx != NULL)
		ares_free_data(mx);
	dns_start_hosts(req);
}

static void dns_addr_answered(struct dns_req *req, size_t i, int fam, int status,
			      const unsigned char *abuf, int alen)
{
	struct dns_lookup *lk = &req->lk[i][fam];
	lk->count = 0;
	if (status == ARES_SUCCESS && fam == DNS_FAM_V6) {
		struct ares_addr6ttl t[DNS_ADDRS_MAX];
		int nt = DNS_ADDRS_MAX; /* c-ares stops there: the bound */
		status = dns_parse_status(ares_parse_aaaa_reply(abuf, alen, NULL, t, &nt));
		for (int k = 0; status == ARES_SUCCESS && k < nt && k < DNS_ADDRS_MAX; k++)
			memcpy(lk->addr[lk->count++], &t[k].ip6addr, 16);
	} else if (status == ARES_SUCCESS) {
		struct ares_addrttl t[DNS_ADDRS_MAX];
		int nt = DNS_ADDRS_MAX;
		status = dns_parse_status(ares_parse_a_reply(abuf, alen, NULL, t, &nt));
		for (int k = 0; status == ARES_SUCCESS && k < nt && k < DNS_ADDRS_MAX; k++)
			memcpy(lk->addr[lk->count++], &t[k].ipaddr, 4);
	}
	lk->status = status;
	KASSERT(req->left[i] > 0);
	if (--req->left[i] > 0)
		return;
	dns_host_settle(&req->res->hosts[i], &req->lk[i][0], &req->lk[i][1]);
	KASSERT(req->hosts_left > 0);
	if (--req->hosts_left > 0)
		return;
	dns_result_settle(req->res, req->kind, req->name);
	dns_req_finish(req);
}

/* Copies the records of a successful answer into ans, within its bounds.
 * Returns the c-ares parse status. */
static int dns_query_parse(enum dns_qtype type, const unsigned char *abuf, int alen,
			   struct dns_answer *ans)
{
	int st = ARES_EBADRESP;
	switch (type) {
	case DNS_Q_TXT: {
		struct ares_txt_ext *txt = NULL;
		st = ares_parse_txt_reply_ext(abuf, alen, &txt);
		/* c-ares holds the whole list (bounded by the 64 KiB answer). */
		for (struct ares_txt_ext *t = txt; st == ARES_SUCCESS && t != NULL; t = t->next)
			if (dns_answer_add(ans, t->txt, t->length, t->record_start != 0) == NULL)
				break;
		if (txt != NULL)
			ares_free_data(txt);
		break;
	}
	case DNS_Q_A: {
		/* One more than we keep, so an overflow shows as truncated. */
		int nt = DNS_ANSWER_RECS_MAX + 1;
		struct ares_addrttl *t = xcalloc((size_t)nt, sizeof(*t));
		st = ares_parse_a_reply(abuf, alen, NULL, t, &nt);
		for (int k = 0; st == ARES_SUCCESS && k < nt; k++) {
			struct dns_arec *r = dns_answer_add(ans, NULL, 0, true);
			if (r == NULL)
				break;
			memcpy(r->addr, &t[k].ipaddr, 4);
			r->family = AF_INET;
		}
		free(t);
		break;
	}
	case DNS_Q_AAAA: {
		int nt = DNS_ANSWER_RECS_MAX + 1;
		struct ares_addr6ttl *t = xcalloc((size_t)nt, sizeof(*t));
		st = ares_parse_aaaa_reply(abuf, alen, NULL, t, &nt);
		for (int k = 0; st == ARES_SUCCESS && k < nt; k++) {
			struct dns_arec *r = dns_answer_add(ans, NULL, 0, true);
			if (r == NULL)
				break;
			memcpy(r->addr, &t[k].ip6addr, 16);
			r->family = AF_INET6;
		}
		free(t);
		break;
	}
	case DNS_Q_MX: {
		struct ares_mx_reply *mx = NULL;
		st = ares_parse_mx_reply(abuf, alen, &mx);
		for (struct ares_mx_reply *m = mx; st == ARES_SUCCESS && m != NULL; m = m->next) {
			const char *x = m->host != NULL ? m->host : "";
			struct dns_arec *r = dns_answer_add_name(ans, x);
			if (r == NULL)
				break;
			r->preference = m->priority;
		}
		if (mx != NULL)
			ares_free_data(mx);
		break;
	}
	case DNS_Q_PTR: {
		struct hostent *he = NULL;
		/* c-ares copies addr into the hostent; the PTR names are the
		 * aliases (h_name is only the last of them). */
		unsigned char addr[4] = { 0 };
		st = ares_parse_ptr_reply(abuf, alen, addr, sizeof(addr), AF_INET, &he);
		for (char **a = he != NULL ? he->h_aliases : NULL;
		     st == ARES_SUCCESS && a != NULL && *a != NULL; a++)
			if (dns_answer_add_name(ans, *a) == NULL)
				break;
		if (he != NULL)
			ares_free_hostent(he);
		break;
	}
	case DNS_Q_TLSA:
		/* c-ares 1.18 has no TLSA parser: ours, in dns_plan.c. */
		st = dns_parse_tlsa(abuf, (size_t)alen, ans);
		break;
	}
	return st;
}

static void dns_answer_clear(struct dns_answer *ans)
{
	for (size_t i = 0; i < ans->count; i++)
		free(ans->recs[i].data);
	free(ans->recs);
	ans->recs = NULL;
	ans->count = 0;
	ans->truncated = false;
	ans->ad = false;
}

static struct dns_cache_entry *dns_cache_find(struct dns *dns, enum dns_qtype type,
					       const char *name)
{
	if (dns->cache == NULL)
		return NULL;
	time_t now = time(NULL);
	for (size_t i = 0; i < DNS_CACHE_SIZE; i++) {
		struct dns_cache_entry *e = &dns->cache[i];
		if (e->name[0] != '\0' && e->type == type && strcasecmp(e->name, name) == 0) {
			if (now < e->expires)
				return e;
			dns_answer_free(&e->ans);
			e->name[0] = '\0';
			return NULL;
		}
	}
	return NULL;
}

static void dns_cache_put(struct dns *dns, enum dns_qtype type, const char *name,
			  const struct dns_answer *ans, long ttl)
{
	size_t bytes = 0;
	for (size_t i = 0; i < ans->count; i++)
		bytes += ans->recs[i].len;
	if (bytes > DNS_CACHE_ANSWER_MAX)
		return; /* a huge answer is not worth the memory */
	if (dns->cache == NULL)
		dns->cache = xcalloc(DNS_CACHE_SIZE, sizeof(dns->cache[0]));
	struct dns_cache_entry *e = dns_cache_find(dns, type, name);
	if (e == NULL) {
		e = &dns->cache[dns->cache_next];
		dns->cache_next = (dns->cache_next + 1) % DNS_CACHE_SIZE;
	}
	dns_answer_free(&e->ans);
	e->type = type;
	(void)snprintf(e->name, sizeof(e->name), "%s", name);
	e->expires = time(NULL) + ttl;
	e->ans = dns_answer_copy(ans);
}

static void dns_query_answered(struct dns_req *req, int status, const unsigned char *abuf,
			       int alen)
{
	struct dns_answer *ans = req->ans;
	const char *what = dns_qtype_name(req->qtype);
	bool ad = false;
	if (status == ARES_SUCCESS && (abuf == NULL || alen < DNS_HDR_LEN))
		status = ARES_EBADRESP;
	if (status == ARES_SUCCESS) {
		ad = (abuf[3] & DNS_HDR_AD) != 0;
		status = dns_rcode_status(abuf);
	}
	if (status == ARES_SUCCESS)
		status = dns_parse_status(dns_query_parse(req->qtype, abuf, alen, ans));
	enum dns_answer_class c = dns_answer_class(status);
	if (c == DNS_ANSWER_OK && ans->count == 0)
		c = ans->truncated ? DNS_ANSWER_TEMP : DNS_ANSWER_NODATA;
	if (c != DNS_ANSWER_OK) {
		dns_answer_clear(ans);
		ad = c == DNS_ANSWER_TEMP ? false : ad;
	}
	ans->ad = ad;
	/* Only answers with records are cached: a negative answer's TTL
	 * lives in its SOA (RFC 2308), which we do not read. */
	long ttl = -1;
	if (c == DNS_ANSWER_OK && !ans->truncated && !ans->malformed)
		ttl = dns_answer_min_ttl(abuf, (size_t)alen);
	switch (c) {
	case DNS_ANSWER_OK:
		dns_answer_set(ans, DNS_A_OK, "%s", "");
		break;
	case DNS_ANSWER_NODATA:
		dns_answer_set(ans, DNS_A_NODATA, "%s has no %s record", req->name, what);
		break;
	case DNS_ANSWER_NXDOMAIN:
		dns_answer_set(ans, DNS_A_NXDOMAIN, "%s does not exist (NXDOMAIN)", req->name);
		break;
	case DNS_ANSWER_BADNAME:
	case DNS_ANSWER_TEMP:
		/* Only a broken answer gets here as BADNAME (dns_parse_status
		 * and dns_is_qname see to that): temporary. */
		dns_answer_set(ans, DNS_A_TEMPFAIL, "%s lookup for %s failed: %s", what, req->name,
			       ans->malformed ? "malformed TLSA record (RDATA under 3 bytes)"
			       : ans->count == 0 && status == ARES_SUCCESS
				       ? "answer over the size bounds"
				       : dns_strerror(status));
		break;
	}
	if (ttl > 0)
		dns_cache_put(req->dns, req->qtype, req->name, ans,
			      ttl > DNS_CACHE_TTL_MAX ? DNS_CACHE_TTL_MAX : ttl);
	dns_req_finish(req);
}

static void dns_query_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_q *q = arg;
	struct dns_req *req = q->req;
	(void)timeouts;
	/* Being freed (ARES_EDESTRUCTION) or past its deadline: the answer
	 * has no one to go to. */
	if (!req->detached && !req->finished) {
		if (q->query)
			dns_query_answered(req, status, abuf, alen);
		else if (q->mx)
			dns_mx_answered(req, status, abuf, alen);
		else
			dns_addr_answered(req, q->host, q->fam, status, abuf, alen);
	}
	free(q);
}

/* A request with its events, linked into dns->reqs. */
static struct dns_req *dns_req_link(struct dns *dns, void *arg)
{
	struct dns_req *req = xcalloc(1, sizeof(*req));
	req->dns = dns;
	req->arg = arg;
	req->done = event_new(dns->base, -1, 0, dns_done_cb, req);
	req->deadline = evtimer_new(dns->base, dns_deadline_cb, req);
	KASSERT(req->done != NULL && req->deadline != NULL);
	req->next = dns->reqs;
	if (dns->reqs != NULL)
		dns->reqs->prev = req;
	dns->reqs = req;
	return req;
}

static struct dns_req *dns_req_new(struct dns *dns, enum dns_kind kind, dns_result_fn cb,
				   void *arg)
{
	KASSERT(cb != NULL);
	struct dns_req *req = dns_req_link(dns, arg);
	req->kind = kind;
	req->cb = cb;
	req->res = dns_result_new();
	return req;
}

/* Gives req its channel and starts its deadline; on failure finishes it
 * with TEMPFAIL and returns false. */
static bool dns_req_open(struct dns_req *req)
{
	struct dns *dns = req->dns;
	struct ares_options o = dns->opts;
	o.sock_state_cb = dns_sock_state_cb;
	o.sock_state_cb_data = req;
	/* Every setting is in o, so c-ares reads no file here. */
	int st = ares_init_options(&req->ch, &o, dns->optmask);
	if (st == ARES_SUCCESS && dns->servers != NULL)
		st = ares_set_servers_ports(req->ch, dns->servers);
	if (st != ARES_SUCCESS) {
		if (req->ch != NULL)
			ares_destroy(req->ch);
		req->ch = NULL;
		if (req->query)
			dns_answer_set(req->ans, DNS_A_TEMPFAIL, "resolver unavailable: %s",
				       ares_strerror(st));
		else
			dns_result_set(req->res, DNS_TEMPFAIL, "4.4.3", "resolver unavailable: %s",
				       ares_strerror(st));
		req->planned = true;
		dns_req_finish(req);
		return false;
	}
	req->timer = evtimer_new(dns->base, dns_timer_cb, req);
	KASSERT(req->timer != NULL);
	struct timeval tv = { .tv_sec = dns->timeout_ms / 1000,
			      .tv_usec = (dns->timeout_ms % 1000) * 1000 };
	KASSERT(evtimer_add(req->deadline, &tv) == 0);
	return true;
}

/* Answers from the fake, delivered like real ones. */
static void dns_req_fake(struct dns_req *req)
{
	dns_result_free(&req->res);
	if (req->dns->fake != NULL) {
		req->res = req->dns->fake(req->kind, req->name, req->dns->fake_arg);
		KASSERT(req->res != NULL);
	} else {
		req->res = dns_result_new();
		dns_result_set(req->res, DNS_TEMPFAIL, "4.4.3", "no fake answer for %s", req->name);
	}
	req->planned = true;
	dns_req_finish(req);
}

struct dns_req *dns_resolve_mx(struct dns *dns, const char *domain, dns_result_fn cb, void *arg)
{
	struct dns_req *req = dns_req_new(dns, DNS_KIND_MX, cb, arg);
	dns_name_show(req->name, sizeof(req->name), domain);
	if (!dns_is_hostname(domain, strlen(domain))) {
		dns_result_set(req->res, DNS_PERMFAIL, "5.1.2", "%s is not a valid domain name",
			       req->name);
		req->planned = true;
		dns_req_finish(req);
		return req;
	}
	if (dns->is_fake) {
		dns_req_fake(req);
		return req;
	}
	if (!dns_req_open(req))
		return req;
	dns_send(req, req->name, DNS_TYPE_MX, 0, 0, true);
	dns_rearm(req);
	return req;
}

/* Fills v6/v4 for a numeric address or "localhost"; false otherwise. */
static bool dns_host_literal(const char *name, char *canon, size_t canon_size,
			     struct dns_lookup *v6, struct dns_lookup *v4)
{
	char buf[64];
	size_t len = strlen(name);
	memset(v6, 0, sizeof(*v6));
	memset(v4, 0, sizeof(*v4));
	v6->status = ARES_ENODATA;
	v4->status = ARES_ENODATA;
	if (strcasecmp(name, "localhost") == 0 || strcasecmp(name, "localhost.") == 0) {
		/* RFC 6761 6.3: never sent to DNS. */
		v6->status = v4->status = ARES_SUCCESS;
		v6->count = v4->count = 1;
		v6->addr[0][15] = 1;
		memcpy(v4->addr[0], "\x7f\0\0\x01", 4);
		dns_format(canon, canon_size, "localhost");
		return true;
	}
	if (len >= 2 && name[0] == '[' && name[len - 1] == ']') {
		name++;
		len -= 2;
		if (len >= 5 && strncasecmp(name, "IPv6:", 5) == 0) {
			name += 5;
			len -= 5;
		}
	}
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, name, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, v4->addr[0]) == 1) {
		v4->status = ARES_SUCCESS;
		v4->count = 1;
	} else if (inet_pton(AF_INET6, buf, v6->addr[0]) == 1) {
		v6->status = ARES_SUCCESS;
		v6->count = 1;
	} else {
		return false;
	}
	dns_format(canon, canon_size, "%s", buf);
	return true;
}

struct dns_req *dns_resolve_host(struct dns *dns, const char *name, dns_result_fn cb, void *arg)
{
	struct dns_req *req = dns_req_new(dns, DNS_KIND_HOST, cb, arg);
	struct dns_lookup v6, v4;
	req->planned = true;
	if (dns_host_literal(name, req->name, sizeof(req->name), &v6, &v4)) {
		struct dns_host *h = dns_result_add_host(req->res, req->name, 0);
		dns_host_settle(h, &v6, &v4);
		dns_result_settle(req->res, req->kind, req->name);
		dns_req_finish(req);
		return req;
	}
	dns_name_show(req->name, sizeof(req->name), name);
	if (!dns_is_hostname(name, strlen(name))) {
		dns_result_set(req->res, DNS_PERMFAIL, "5.1.2", "%s is not a valid host name",
			       req->name);
		dns_req_finish(req);
		return req;
	}
	if (dns->is_fake) {
		dns_req_fake(req);
		return req;
	}
	if (!dns_req_open(req))
		return req;
	dns_result_add_host(req->res, req->name, 0);
	dns_start_hosts(req);
	dns_rearm(req);
	return req;
}

static int dns_qtype_wire(enum dns_qtype type)
{
	switch (type) {
	case DNS_Q_TXT:
		return DNS_TYPE_TXT;
	case DNS_Q_A:
		return DNS_TYPE_A;
	case DNS_Q_AAAA:
		return DNS_TYPE_AAAA;
	case DNS_Q_MX:
		return DNS_TYPE_MX;
	case DNS_Q_PTR:
		return DNS_TYPE_PTR;
	case DNS_Q_TLSA:
		return DNS_TYPE_TLSA;
	}
	KASSERT(!"unknown dns_qtype");
	return 0;
}

/* Sends the one question of a dns_query request. ares_send rather than
 * ares_query, to set AD in the question (RFC 6840 5.7: a validating
 * resolver then reports AD in its answer); otherwise the same query
 * ares_query builds, from the channel's flags. Truncated answers are
 * still retried over TCP by c-ares. */
static void dns_send_query(struct dns_req *req)
{
	const struct ares_options *o = &req->dns->opts;
	unsigned char *qbuf = NULL;
	int qlen = 0;
	int st = ares_create_query(req->name, DNS_CLASS_IN, dns_qtype_wire(req->qtype), 0,
				   !(o->flags & ARES_FLAG_NORECURSE), &qbuf, &qlen,
				   (o->flags & ARES_FLAG_EDNS) ? o->ednspsz : 0);
	if (st != ARES_SUCCESS || qlen < DNS_HDR_LEN) {
		if (qbuf != NULL)
			ares_free_string(qbuf);
		dns_answer_set(req->ans, DNS_A_TEMPFAIL, "%s lookup for %s failed: %s",
			       dns_qtype_name(req->qtype), req->name, ares_strerror(st));
		dns_req_finish(req);
		return;
	}
	qbuf[3] |= DNS_HDR_AD;
	struct dns_q *q = xcalloc(1, sizeof(*q));
	q->req = req;
	q->query = true;
	/* Copies qbuf; the callback may run before this returns. */
	ares_send(req->ch, qbuf, qlen, dns_query_cb, q);
	ares_free_string(qbuf);
}

struct dns_req *dns_query(struct dns *dns, enum dns_qtype type, const char *name, dns_query_fn cb,
			  void *arg)
{
	KASSERT(cb != NULL);
	struct dns_req *req = dns_req_link(dns, arg);
	req->query = true;
	req->qcb = cb;
	req->qtype = type;
	req->planned = true;
	req->ans = dns_answer_new(DNS_A_TEMPFAIL);
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (!dns_is_qname(name, len)) {
		dns_name_show(req->name, sizeof(req->name), name);
		dns_answer_set(req->ans, DNS_A_NXDOMAIN, "%s is not a name that can exist in DNS",
			       req->name);
		dns_req_finish(req);
		return req;
	}
	memcpy(req->name, name, len);
	req->name[len] = '\0';
	if (dns->is_fake) {
		dns_answer_free(&req->ans);
		if (dns->fake_query != NULL) {
			req->ans = dns->fake_query(type, req->name, dns->fake_query_arg);
			KASSERT(req->ans != NULL);
		} else {
			req->ans = dns_answer_new(DNS_A_TEMPFAIL);
			dns_answer_set(req->ans, DNS_A_TEMPFAIL, "no fake answer for %s %s",
				       dns_qtype_name(type), req->name);
		}
		dns_req_finish(req);
		return req;
	}
	struct dns_cache_entry *hit = dns_cache_find(dns, type, req->name);
	if (hit != NULL) {
		/* Answered from the loop like any other (dns_req_finish). */
		dns_answer_free(&req->ans);
		req->ans = dns_answer_copy(hit->ans);
		dns_req_finish(req);
		return req;
	}
	if (!dns_req_open(req))
		return req;
	dns_send_query(req);
	dns_rearm(req);
	return req;
}

void dns_cancel(struct dns_req **pp)
{
	struct dns_req *req = *pp;
	if (req == NULL)
		return;
	*pp = NULL;
	KASSERT(!req->detached);
	dns_req_free(req);
}

static struct dns *dns_alloc(struct event_base *base)
{
	struct dns *dns = xcalloc(1, sizeof(*dns));
	dns->base = base;
	uint64_t seed;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	dns->rng = seed;
	return dns;
}

struct dns *dns_new_fake(struct event_base *base, dns_fake_fn fn, void *arg)
{
	struct dns *dns = dns_alloc(base);
	dns->is_fake = true;
	dns->fake = fn;
	dns->fake_arg = arg;
	return dns;
}

void dns_fake_set_query(struct dns *dns, dns_fake_query_fn fn, void *arg)
{
	KASSERT(dns->is_fake);
	dns->fake_query = fn;
	dns->fake_query_arg = arg;
}

/* dns_servers entries are numeric (config checks it; checked again). */
static int dns_set_servers(ares_channel ch, const struct cfg_hostport *servers, size_t n, char *err,
			   size_t err_size)
{
	struct ares_addr_port_node *nodes = xcalloc(n, sizeof(*nodes));
	int rc = -1;
	for (size_t i = 0; i < n; i++) {
		struct ares_addr_port_node *nd = &nodes[i];
		const char *host = servers[i].host;
		char buf[64];
		size_t len = strlen(host);
		if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
			host++;
			len -= 2;
		}
		if (len >= sizeof(buf)) {
			snprintf(err, err_size, "dns_servers: %.80s is not a numeric address", host);
			goto out;
		}
		memcpy(buf, host, len);
		buf[len] = '\0';
		if (inet_pton(AF_INET, buf, &nd->addr.addr4) == 1) {
			nd->family = AF_INET;
		} else if (inet_pton(AF_INET6, buf, &nd->addr.addr6) == 1) {
			nd->family = AF_INET6;
		} else {
			snprintf(err, err_size, "dns_servers: %.80s is not a numeric address", buf);
			goto out;
		}
		nd->udp_port = nd->tcp_port = servers[i].port != 0 ? servers[i].port : 53;
		nd->next = i + 1 < n ? &nodes[i + 1] : NULL;
	}
	int st = ares_set_servers_ports(ch, nodes);
	if (st != ARES_SUCCESS) {
		snprintf(err, err_size, "dns_servers: %s", ares_strerror(st));
		goto out;
	}
	rc = 0;
out:
	free(nodes);
	return rc;
}

struct dns *dns_new(struct event_base *base, const struct cfg_hostport *servers, size_t n,
		    unsigned timeout_ms, char *err, size_t err_size)
{
	int st = ares_library_init(ARES_LIB_INIT_ALL);
	if (st != ARES_SUCCESS) {
		snprintf(err, err_size, "c-ares: %s", ares_strerror(st));
		return NULL;
	}
	struct dns *dns = dns_alloc(base);
	dns->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
	struct ares_options o;
	memset(&o, 0, sizeof(o));
	/* A lost UDP packet is retried within the request's time: c-ares
	 * doubles the wait on the second try, 1/4 + 2/4 of it per stage. */
	o.timeout = (int)(dns->timeout_ms / 4 > 20 ? dns->timeout_ms / 4 : 20);
	o.tries = 2;
	/* The template: resolv.conf is read here, once; each request's
	 * channel is made from the options saved from it. */
	ares_channel tmpl = NULL;
	st = ares_init_options(&tmpl, &o, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (st != ARES_SUCCESS) {
		snprintf(err, err_size, "c-ares: %s", ares_strerror(st));
		goto fail;
	}
	if (servers != NULL && n > 0 && dns_set_servers(tmpl, servers, n, err, err_size) < 0)
		goto fail;
	st = ares_save_options(tmpl, &dns->opts, &dns->optmask);
	if (st != ARES_SUCCESS) {
		snprintf(err, err_size, "c-ares: %s", ares_strerror(st));
		goto fail;
	}
	st = ares_get_servers_ports(tmpl, &dns->servers);
	if (st != ARES_SUCCESS) {
		snprintf(err, err_size, "c-ares: %s", ares_strerror(st));
		ares_destroy_options(&dns->opts);
		goto fail;
	}
	dns->optmask |= ARES_OPT_SOCK_STATE_CB;
	dns->ares_ready = true;
	ares_destroy(tmpl);
	return dns;
fail:
	if (tmpl != NULL)
		ares_destroy(tmpl);
	if (dns->servers != NULL)
		ares_free_data(dns->servers);
	free(dns);
	ares_library_cleanup();
	return NULL;
}

void dns_free(struct dns **pp)
{
	struct dns *dns = *pp;
	if (dns == NULL)
		return;
	*pp = NULL;
	/* No callback fires from here on. */
	while (dns->reqs != NULL)
		dns_req_free(dns->reqs);
	if (dns->cache != NULL) {
		for (size_t i = 0; i < DNS_CACHE_SIZE; i++)
			dns_answer_free(&dns->cache[i].ans);
		free(dns->cache);
	}
	if (dns->ares_ready) {
		ares_destroy_options(&dns->opts);
		if (dns->servers != NULL)
			ares_free_data(dns->servers);
		ares_library_cleanup();
	}
	free(dns);
}

const char *dns_status_name(enum dns_status status)
{
	switch (status) {
	case DNS_OK:
		return "ok";
	case DNS_TEMPFAIL:
		return "tempfail";
	case DNS_PERMFAIL:
		return "permfail";
	case DNS_NULL_MX:
		return "null-mx";
	}
	return "?";
}
