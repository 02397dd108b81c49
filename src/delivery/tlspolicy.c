/* tlspolicy: one struct tlspolicy_req per destination being decided; it
 * counts its outstanding questions (MX AD bit, TLSA per host, _mta-sts
 * TXT, the policy fetch) and assembles the result when the count reaches
 * zero. The MTA-STS cache is a bounded list in memory mirrored in
 * data_dir/mta-sts/. */
#include "delivery/tlspolicy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "core/log.h"
#include "net/dns.h"
#include "net/https_get.h"

#define TLSPOLICY_CACHE_MAX 4096 /* domains whose policy is kept */
#define TLSPOLICY_FETCH_TIMEOUT_MS 30000
#define TLSPOLICY_CACHE_FILE_MAX (MTASTS_POLICY_MAX + 256)

struct sts_entry {
	char domain[DNS_NAME_MAX + 1];
	char id[MTASTS_ID_SIZE];
	time_t fetched;
	struct mtasts_policy pol;
	struct sts_entry *next;
};

enum dane_state { DANE_NONE = 0, DANE_RECORDS, DANE_NOAUTH, DANE_FAILED };

struct tlsa_q {
	struct tlspolicy_req *req;
	size_t idx;
	struct dns_req *dr;
};

struct tlspolicy {
	struct event_base *base;
	struct dns *dns;
	SSL_CTX *ctx;
	char *cache_dir; /* owned */
	bool dnssec;
	unsigned relay_port, sts_port;
	struct sts_entry *cache; /* owned list */
	size_t cache_count;
	struct tlspolicy_req *reqs; /* owned list */
};

struct tlspolicy_req {
	struct tlspolicy *tp;
	struct tlspolicy_req *next, *prev;
	char domain[DNS_NAME_MAX + 1];
	const struct dns_result *route;
	tlspolicy_fn cb;
	void *arg;
	struct tlspolicy_result *res; /* owned until handed over */
	unsigned pending;
	struct dns_req *mx_req;
	bool mx_failed; /* dnssec: the MX AD lookup failed temporarily */
	struct dns_req *txt_req;
	struct https_get *fetch;
	char fetch_id[MTASTS_ID_SIZE];
	struct tlsa_q tlsa[TLSPOLICY_HOSTS_MAX];
	enum dane_state dane[TLSPOLICY_HOSTS_MAX];
	char dane_reason[TLSPOLICY_HOSTS_MAX][TLSPOLICY_REASON_MAX];
	struct event *kick; /* owned: the callback fires from the loop */
};

/* ---- pure parts ---- */

bool tlspolicy_tlsa_usable(unsigned usage, unsigned selector, unsigned mtype, size_t len)
{
	if (usage != 2 && usage != 3)
		return false;
	if (selector > 1)
		return false;
	switch (mtype) {
	case 0: return len > 0;
	case 1: return len == 32;
	case 2: return len == 64;
	default: return false;
	}
}

char *tlspolicy_cache_format(time_t fetched, const char *id, const char *body, size_t len,
			     size_t *out_len)
{
	char head[128];
	int n = snprintf(head, sizeof(head), "fetched %lld\nid %s\n\n", (long long)fetched, id);
	KASSERT(n > 0 && (size_t)n < sizeof(head));
	char *out = xmalloc((size_t)n + len + 1);
	memcpy(out, head, (size_t)n);
	memcpy(out + n, body, len);
	out[(size_t)n + len] = '\0';
	*out_len = (size_t)n + len;
	return out;
}

int tlspolicy_cache_parse(const char *text, size_t len, time_t *fetched, char *id,
			  size_t id_size, const char **body, size_t *body_len)
{
	const char *end = text + len;
	const char *p = text;
	if ((size_t)(end - p) < 8 || memcmp(p, "fetched ", 8) != 0)
		return -1;
	p += 8;
	long long v = 0;
	size_t digits = 0;
	while (p < end && *p >= '0' && *p <= '9' && digits < 19) {
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p - '0', &v))
			return -1;
		p++;
		digits++;
	}
	if (digits == 0 || p >= end || *p != '\n')
		return -1;
	p++;
	if ((size_t)(end - p) < 3 || memcmp(p, "id ", 3) != 0)
		return -1;
	p += 3;
	const char *ids = p;
	while (p < end && *p != '\n')
		p++;
	size_t il = (size_t)(p - ids);
	if (p >= end || il == 0 || il >= id_size || il > MTASTS_ID_MAX)
		return -1;
	for (size_t i = 0; i < il; i++) {
		char c = ids[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return -1;
	}
	p++;
	if (p >= end || *p != '\n')
		return -1;
	p++;
	memcpy(id, ids, il);
	id[il] = '\0';
	*fetched = (time_t)v;
	*body = p;
	*body_len = (size_t)(end - p);
	return 0;
}

const char *tlspolicy_kind_name(enum tlspolicy_kind k)
{
	switch (k) {
	case TLSPOLICY_OPPORTUNISTIC: return "opportunistic";
	case TLSPOLICY_DANE: return "dane";
	case TLSPOLICY_DANE_NOAUTH: return "dane-noauth";
	case TLSPOLICY_STS: return "mta-sts";
	case TLSPOLICY_SKIP: return "skip";
	}
	return "?";
}

/* ---- the cache ---- */

static bool cache_name_ok(const char *domain)
{
	return domain[0] != '\0' && domain[0] != '.' && strchr(domain, '/') == NULL &&
	       strlen(domain) <= DNS_NAME_MAX;
}

static struct sts_entry *cache_find(struct tlspolicy *tp, const char *domain)
{
	for (struct sts_entry *e = tp->cache; e != NULL; e = e->next)
		if (strcasecmp(e->domain, domain) == 0)
			return e;
	return NULL;
}

static bool entry_valid(const struct sts_entry *e, time_t now)
{
	return e != NULL && now >= e->fetched && (unsigned long)(now - e->fetched) < e->pol.max_age;
}

/* Drops the entry that expired first (or the oldest) to make room. */
static void cache_evict(struct tlspolicy *tp)
{
	struct sts_entry **victim = NULL;
	time_t best = 0;
	for (struct sts_entry **pp = &tp->cache; *pp != NULL; pp = &(*pp)->next) {
		time_t end = (*pp)->fetched + (time_t)(*pp)->pol.max_age;
		if (victim == NULL || end < best) {
			victim = pp;
			best = end;
		}
	}
	if (victim != NULL) {
		struct sts_entry *e = *victim;
		*victim = e->next;
		if (tp->cache_dir != NULL) {
			char path[4096];
			(void)snprintf(path, sizeof(path), "%s/%s", tp->cache_dir, e->domain);
			(void)unlink(path);
		}
		free(e);
		tp->cache_count--;
	}
}

static struct sts_entry *cache_put(struct tlspolicy *tp, const char *domain, const char *id,
				   time_t fetched, const struct mtasts_policy *pol)
{
	struct sts_entry *e = cache_find(tp, domain);
	if (e == NULL) {
		if (tp->cache_count >= TLSPOLICY_CACHE_MAX)
			cache_evict(tp);
		e = xcalloc(1, sizeof(*e));
		(void)snprintf(e->domain, sizeof(e->domain), "%s", domain);
		e->next = tp->cache;
		tp->cache = e;
		tp->cache_count++;
	}
	(void)snprintf(e->id, sizeof(e->id), "%s", id);
	e->fetched = fetched;
	e->pol = *pol;
	return e;
}

/* Best effort: a lost or stale file only costs a fetch. */
static void cache_write(struct tlspolicy *tp, const char *domain, const char *id, time_t fetched,
			const char *body, size_t len)
{
	if (tp->cache_dir == NULL || !cache_name_ok(domain))
		return;
	char path[4096], tmp[4200];
	(void)snprintf(path, sizeof(path), "%s/%s", tp->cache_dir, domain);
	(void)snprintf(tmp, sizeof(tmp), "%s/.tmp.%s", tp->cache_dir, domain);
	size_t n;
	char *text = tlspolicy_cache_format(fetched, id, body, len, &n);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	bool ok = false;
	if (fd >= 0) {
		size_t off = 0;
		while (off < n) {
			ssize_t w = write(fd, text + off, n - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			off += (size_t)w;
		}
		ok = off == n;
		ok = close(fd) == 0 && ok;
	}
	free(text);
	if (!ok || rename(tmp, path) != 0) {
		(void)unlink(tmp);
		log_warn(NULL, "event=mta-sts domain=%s error=\"cannot write the policy cache %s\"",
			 domain, path);
	}
}

static void cache_load(struct tlspolicy *tp)
{
	DIR *dir = opendir(tp->cache_dir);
	if (dir == NULL)
		return;
	struct dirent *de;
	char *buf = xmalloc(TLSPOLICY_CACHE_FILE_MAX + 1);
	while ((de = readdir(dir)) != NULL && tp->cache_count < TLSPOLICY_CACHE_MAX) {
		if (strncmp(de->d_name, ".tmp.", 5) == 0) {
			/* a write cut short by a crash */
			char tmp[4096];
			(void)snprintf(tmp, sizeof(tmp), "%s/%.255s", tp->cache_dir, de->d_name);
			(void)unlink(tmp);
			continue;
		}
		if (de->d_name[0] == '.' || !cache_name_ok(de->d_name))
			continue;
		char path[4096];
		(void)snprintf(path, sizeof(path), "%s/%s", tp->cache_dir, de->d_name);
		int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		size_t len = 0;
		for (;;) {
			ssize_t r = read(fd, buf + len, TLSPOLICY_CACHE_FILE_MAX + 1 - len);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			len += (size_t)r;
			if (len > TLSPOLICY_CACHE_FILE_MAX)
				break;
		}
		(void)close(fd);
		time_t fetched;
		char id[MTASTS_ID_SIZE];
		const char *body;
		size_t blen;
		struct mtasts_policy pol;
		if (len > TLSPOLICY_CACHE_FILE_MAX ||
		    tlspolicy_cache_parse(buf, len, &fetched, id, sizeof(id), &body, &blen) != 0 ||
		    mtasts_parse_policy(body, blen, &pol, NULL) != 0) {
			log_warn(NULL, "event=mta-sts file=%s error=\"unreadable policy cache, ignored\"",
				 path);
			continue;
		}
		time_t now = time(NULL);
		if (now < fetched || (unsigned long)(now - fetched) >= pol.max_age) {
			(void)unlink(path); /* expired: the next delivery fetches */
			continue;
		}
		(void)cache_put(tp, de->d_name, id, fetched, &pol);
	}
	free(buf);
	(void)closedir(dir);
}

/* ---- one request ---- */

static void req_unlink(struct tlspolicy_req *q)
{
	struct tlspolicy *tp = q->tp;
	if (q->prev)
		q->prev->next = q->next;
	else
		tp->reqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
	q->next = q->prev = NULL;
}

static void req_free(struct tlspolicy_req *q)
{
	dns_cancel(&q->mx_req);
	dns_cancel(&q->txt_req);
	https_get_cancel(&q->fetch);
	for (size_t i = 0; i < TLSPOLICY_HOSTS_MAX; i++)
		dns_cancel(&q->tlsa[i].dr);
	if (q->kick)
		event_free(q->kick);
	tlspolicy_result_free(&q->res);
	free(q);
}

static void apply_sts(struct tlspolicy_req *q, const struct sts_entry *e)
{
	q->res->has_sts = true;
	q->res->sts = e->pol;
	(void)snprintf(q->res->sts_id, sizeof(q->res->sts_id), "%s", e->id);
}

/* Combines what came back into per-host decisions. */
static void assemble(struct tlspolicy_req *q)
{
	struct tlspolicy_result *res = q->res;
	const struct dns_result *rt = q->route;
	bool enforce = res->has_sts && res->sts.mode == MTASTS_MODE_ENFORCE;
	bool testing = res->has_sts && res->sts.mode == MTASTS_MODE_TESTING;
	for (size_t i = 0; i < res->host_count; i++) {
		struct tlspolicy_host *h = &res->hosts[i];
		const char *name = rt->hosts[i].name;
		enum dane_state ds = i < TLSPOLICY_HOSTS_MAX ? q->dane[i] : DANE_NONE;
		if (q->mx_failed) {
			h->kind = TLSPOLICY_SKIP;
			(void)snprintf(h->reason, sizeof(h->reason),
				       "4.7.5 the DNSSEC status of the MX records of %s is unknown "
				       "(lookup failed); DANE cannot be ruled out",
				       q->domain);
			continue;
		}
		if (res->mx_secure && i >= TLSPOLICY_HOSTS_MAX) {
			h->kind = TLSPOLICY_SKIP;
			(void)snprintf(h->reason, sizeof(h->reason),
				       "4.7.5 %s: beyond the MX hosts checked for DANE", name);
			continue;
		}
		if (ds == DANE_RECORDS) {
			h->kind = TLSPOLICY_DANE; /* DANE wins (RFC 8461 2) */
		} else if (ds == DANE_NOAUTH) {
			h->kind = TLSPOLICY_DANE_NOAUTH;
		} else if (ds == DANE_FAILED) {
			h->kind = TLSPOLICY_SKIP;
			(void)snprintf(h->reason, sizeof(h->reason), "%s", q->dane_reason[i]);
		} else if (enforce) {
			if (mtasts_is_mx_allowed(&res->sts, name)) {
				h->kind = TLSPOLICY_STS;
			} else {
				h->kind = TLSPOLICY_SKIP;
				(void)snprintf(h->reason, sizeof(h->reason),
					       "4.7.5 MX host %s is not listed in the MTA-STS policy of %s",
					       name, q->domain);
			}
		} else {
			h->kind = TLSPOLICY_OPPORTUNISTIC;
			h->sts_mismatch = testing && !mtasts_is_mx_allowed(&res->sts, name);
		}
	}
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct tlspolicy_req *q = arg;
	assemble(q);
	struct tlspolicy_result *res = q->res;
	q->res = NULL;
	tlspolicy_fn cb = q->cb;
	void *cbarg = q->arg;
	req_unlink(q);
	req_free(q);
	cb(cbarg, res);
}

static void one_done(struct tlspolicy_req *q)
{
	KASSERT(q->pending > 0);
	if (--q->pending > 0)
		return;
	struct timeval tv = {0, 0};
	(void)event_add(q->kick, &tv);
}

static void on_tlsa(struct dns_answer *ans, void *arg)
{
	struct tlsa_q *t = arg;
	struct tlspolicy_req *q = t->req;
	size_t i = t->idx;
	t->dr = NULL;
	const char *host = q->route->hosts[i].name;
	switch (ans->status) {
	case DNS_A_OK:
		if (!ans->ad) {
			q->dane[i] = DANE_NONE; /* unsigned TLSA: no DANE (RFC 7672 2.2) */
			break;
		}
		q->dane[i] = DANE_NOAUTH;
		for (size_t k = 0; k < ans->count; k++) {
			const struct dns_arec *a = &ans->recs[k];
			struct tlspolicy_host *h = &q->res->hosts[i];
			if (!tlspolicy_tlsa_usable(a->usage, a->selector, a->mtype, a->len) ||
			    h->tlsa_count >= TLSPOLICY_TLSA_MAX)
				continue;
			unsigned char *d = xmalloc(a->len);
			memcpy(d, a->data, a->len);
			h->tlsa[h->tlsa_count++] = (struct tls_client_tlsa){
				.usage = a->usage, .selector = a->selector, .mtype = a->mtype,
				.data = d, .len = a->len};
			q->dane[i] = DANE_RECORDS;
		}
		break;
	case DNS_A_NXDOMAIN:
	case DNS_A_NODATA:
		q->dane[i] = DANE_NONE;
		break;
	case DNS_A_TEMPFAIL:
		/* RFC 7672 2.2: a failed TLSA lookup in a signed zone must not
		 * turn into "no DANE": the host is not used for now. */
		q->dane[i] = DANE_FAILED;
		(void)snprintf(q->dane_reason[i], TLSPOLICY_REASON_MAX,
			       "4.7.5 TLSA lookup for %s failed: %.200s", host, ans->reason);
		break;
	}
	dns_answer_free(&ans);
	one_done(q);
}

static void on_mx(struct dns_answer *ans, void *arg)
{
	struct tlspolicy_req *q = arg;
	q->mx_req = NULL;
	struct tlspolicy *tp = q->tp;
	/* A signed MX RRset, or a signed denial for an implicit MX. */
	q->res->mx_secure = ans->ad && (ans->status == DNS_A_OK || ans->status == DNS_A_NODATA);
	/* RFC 7672 2.2.1: a failed lookup is not "insecure"; otherwise an
	 * attacker who drops this one query would turn DANE off. */
	q->mx_failed = ans->status == DNS_A_TEMPFAIL;
	dns_answer_free(&ans);
	if (q->res->mx_secure) {
		size_t n = q->route->host_count;
		if (n > TLSPOLICY_HOSTS_MAX)
			n = TLSPOLICY_HOSTS_MAX;
		for (size_t i = 0; i < n; i++) {
			char name[DNS_NAME_MAX + 32];
			(void)snprintf(name, sizeof(name), "_%u._tcp.%s", tp->relay_port,
				       q->route->hosts[i].name);
			q->tlsa[i].req = q;
			q->tlsa[i].idx = i;
			q->pending++;
			q->tlsa[i].dr = dns_query(tp->dns, DNS_Q_TLSA, name, on_tlsa, &q->tlsa[i]);
		}
	}
	one_done(q);
}

/* RFC 8461 3.2: the policy is served as text/plain (parameters allowed). */
static bool is_text_plain(const char *ct)
{
	size_t n = strlen("text/plain");
	return strncasecmp(ct, "text/plain", n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t');
}

static void on_fetch(void *arg, const struct https_get_result *r)
{
	struct tlspolicy_req *q = arg;
	q->fetch = NULL;
	struct tlspolicy *tp = q->tp;
	time_t now = time(NULL);
	struct sts_entry *old = cache_find(tp, q->domain);
	struct mtasts_policy pol;
	const char *why = NULL;
	bool invalid = false;
	if (!r->ok) {
		why = r->reason;
	} else if (!is_text_plain(r->content_type)) {
		why = "the policy is not served as text/plain";
		invalid = true;
	} else if (mtasts_parse_policy(r->body, r->body_len, &pol, &why) != 0) {
		invalid = true;
	} else {
		struct sts_entry *e = cache_put(tp, q->domain, q->fetch_id, now, &pol);
		cache_write(tp, q->domain, q->fetch_id, now, r->body, r->body_len);
		log_info(NULL, "event=mta-sts domain=%s id=%s mode=%s max_age=%lu mx=%zu result=fetched",
			 q->domain, q->fetch_id, mtasts_mode_name(pol.mode), pol.max_age,
			 pol.mx_count);
		apply_sts(q, e);
		one_done(q);
		return;
	}
	/* RFC 8461 5.1: a valid cached policy stays in force. */
	log_warn(NULL, "event=mta-sts domain=%s result=fetch-failed error=\"%s\"%s", q->domain,
		 why ? why : "?", entry_valid(old, now) ? " note=cached-policy-kept" : "");
	if (entry_valid(old, now)) {
		apply_sts(q, old);
	} else {
		q->res->sts_failed = true;
		q->res->sts_invalid = invalid;
		(void)snprintf(q->res->sts_reason, sizeof(q->res->sts_reason), "%s", why ? why : "?");
	}
	one_done(q);
}

static void on_sts_txt(struct dns_answer *ans, void *arg)
{
	struct tlspolicy_req *q = arg;
	q->txt_req = NULL;
	struct tlspolicy *tp = q->tp;
	time_t now = time(NULL);
	struct sts_entry *e = cache_find(tp, q->domain);
	char id[MTASTS_ID_SIZE] = "";
	int picked = -1;
	if (ans->status == DNS_A_OK && !ans->truncated) {
		/* One STSv1 record among them all (RFC 8461 3.1); a record
		 * too long to read that looks like one makes two. */
		struct dns_txt_set set;
		dns_txt_set_from(ans, 4096, &set);
		bool unreadable = set.more;
		for (size_t k = 0; k < set.n; k++)
			unreadable = unreadable ||
				     (set.cut[k] && mtasts_is_txt_record(set.rec[k], set.len[k]));
		picked = unreadable ? 1
				    : mtasts_pick_txt((const char *const *)set.rec, set.len, set.n, id,
						      sizeof(id), NULL);
		dns_txt_set_fini(&set);
	}
	dns_answer_free(&ans);
	if (picked == 0) {
		if (entry_valid(e, now) && strcmp(e->id, id) == 0) {
			apply_sts(q, e);
		} else {
			/* A new id or an expired cache: fetch (RFC 8461 3.3). */
			(void)snprintf(q->fetch_id, sizeof(q->fetch_id), "%s", id);
			char host[DNS_NAME_MAX + 16];
			(void)snprintf(host, sizeof(host), "mta-sts.%s", q->domain);
			q->pending++;
			q->fetch = https_get_start(tp->base, tp->dns, tp->ctx, host, tp->sts_port,
						   "/.well-known/mta-sts.txt", MTASTS_POLICY_MAX,
						   TLSPOLICY_FETCH_TIMEOUT_MS, on_fetch, q);
		}
	} else if (entry_valid(e, now)) {
		/* No usable record (or DNS failed): the cache holds (5.1). */
		apply_sts(q, e);
	}
	one_done(q);
}

/* ---- public ---- */

struct tlspolicy *tlspolicy_new(struct event_base *base, struct dns *dns, SSL_CTX *ctx,
				const char *data_dir, bool dnssec, unsigned relay_port,
				unsigned sts_port)
{
	struct tlspolicy *tp = xcalloc(1, sizeof(*tp));
	tp->base = base;
	tp->dns = dns;
	tp->ctx = ctx;
	tlspolicy_set_options(tp, dnssec, relay_port, sts_port);
	if (data_dir != NULL) {
		size_t n = strlen(data_dir) + sizeof("/mta-sts");
		tp->cache_dir = xmalloc(n);
		(void)snprintf(tp->cache_dir, n, "%s/mta-sts", data_dir);
		if (mkdir(tp->cache_dir, 0700) != 0 && errno != EEXIST)
			log_warn(NULL, "event=mta-sts error=\"mkdir %s: %s\"", tp->cache_dir,
				 strerror(errno));
		cache_load(tp);
	}
	return tp;
}

void tlspolicy_set_options(struct tlspolicy *tp, bool dnssec, unsigned relay_port,
			   unsigned sts_port)
{
	tp->dnssec = dnssec;
	tp->relay_port = relay_port;
	tp->sts_port = sts_port;
}

void tlspolicy_free(struct tlspolicy **pp)
{
	struct tlspolicy *tp = *pp;
	if (tp == NULL)
		return;
	*pp = NULL;
	while (tp->reqs != NULL) {
		struct tlspolicy_req *q = tp->reqs;
		req_unlink(q);
		req_free(q);
	}
	while (tp->cache != NULL) {
		struct sts_entry *e = tp->cache;
		tp->cache = e->next;
		free(e);
	}
	free(tp->cache_dir);
	free(tp);
}

struct tlspolicy_req *tlspolicy_start(struct tlspolicy *tp, const char *domain,
				      const struct dns_result *route, tlspolicy_fn cb, void *arg)
{
	struct tlspolicy_req *q = xcalloc(1, sizeof(*q));
	q->tp = tp;
	(void)snprintf(q->domain, sizeof(q->domain), "%s", domain);
	size_t dl = strlen(q->domain);
	if (dl > 0 && q->domain[dl - 1] == '.')
		q->domain[dl - 1] = '\0';
	for (char *c = q->domain; *c; c++) /* one cache file per domain */
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	q->route = route;
	q->cb = cb;
	q->arg = arg;
	q->kick = event_new(tp->base, -1, 0, kick_cb, q);
	KASSERT(q->kick != NULL);
	q->res = xcalloc(1, sizeof(*q->res));
	q->res->host_count = route->host_count;
	q->res->hosts = xcalloc(route->host_count ? route->host_count : 1, sizeof(*q->res->hosts));
	q->next = tp->reqs;
	if (tp->reqs)
		tp->reqs->prev = q;
	tp->reqs = q;
	/* One count for this function, so that no answer can finish the
	 * request while questions are still being asked. */
	q->pending = 1;
	if (tp->dnssec) {
		q->pending++;
		q->mx_req = dns_query(tp->dns, DNS_Q_MX, q->domain, on_mx, q);
	}
	char name[DNS_NAME_MAX + 16];
	(void)snprintf(name, sizeof(name), "_mta-sts.%s", q->domain);
	q->pending++;
	q->txt_req = dns_query(tp->dns, DNS_Q_TXT, name, on_sts_txt, q);
	one_done(q);
	return q;
}

void tlspolicy_cancel(struct tlspolicy_req **pp)
{
	struct tlspolicy_req *q = *pp;
	if (q == NULL)
		return;
	*pp = NULL;
	req_unlink(q);
	req_free(q);
}

void tlspolicy_result_free(struct tlspolicy_result **pp)
{
	struct tlspolicy_result *r = *pp;
	if (r == NULL)
		return;
	*pp = NULL;
	for (size_t i = 0; i < r->host_count; i++)
		for (size_t k = 0; k < r->hosts[i].tlsa_count; k++)
			free((void *)r->hosts[i].tlsa[k].data);
	free(r->hosts);
	free(r);
}
