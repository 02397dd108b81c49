/* listener: evconnlistener wrapper and the per-address session counter.
 * The counter is a small chained hash table keyed by the 16-byte address
 * (IPv4 stored v4-mapped so both families count together); entries are
 * removed when their count drops to zero, so its size is bounded by the
 * number of live sessions. */
#include "net/listener.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "net/addr.h"
#include "core/kassert.h"
#include "core/log.h"

struct listener {
	struct evconnlistener *evl; /* owned */
	struct event *retry; /* owned: re-enables accept after EMFILE */
	struct sesslimit *limits; /* borrowed */
	listener_accept_fn cb;
	void *arg;
};

struct ipcount {
	unsigned char addr[ADDR_KEY_LEN];
	unsigned count;
	struct ipcount *next;
};

#define SESSLIMIT_BUCKETS 4096

struct sesslimit {
	/* Sessions on every loop count here: acquire (at accept) and release
	 * (when a session ends, on its own loop) take mu. */
	pthread_mutex_t mu;
	unsigned max_total, max_per_ip;
	unsigned total;
	struct ipcount *buckets[SESSLIMIT_BUCKETS]; /* owned chains */
};

static void accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	(void)evl;
	struct listener *l = arg;
	bool ok = sesslimit_acquire(l->limits, sa);
	l->cb(fd, sa, (socklen_t)salen, ok, l->arg);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct listener *l = arg;
	(void)evconnlistener_enable(l->evl);
}

static void accept_error_cb(struct evconnlistener *evl, void *arg)
{
	struct listener *l = arg;
	int err = errno;
	/* Out of descriptors (or memory): the pending connection stays in
	 * the backlog and the socket stays readable, so retrying at once
	 * would spin. Stop accepting for a moment instead. */
	log_warn(NULL, "event=accept-error error=\"%s\" action=pause-100ms", strerror(err));
	(void)evconnlistener_disable(evl);
	struct timeval tv = {0, 100 * 1000};
	(void)evtimer_add(l->retry, &tv);
}

struct listener *listener_new(struct event_base *base, const struct sockaddr *addr,
			      socklen_t addr_len, struct sesslimit *limits,
			      listener_accept_fn cb, void *arg, char *err, size_t err_size)
{
	struct listener *l = xcalloc(1, sizeof(*l));
	l->limits = limits;
	l->cb = cb;
	l->arg = arg;
	unsigned flags = LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC;
	if (addr->sa_family == AF_INET6)
		flags |= LEV_OPT_BIND_IPV6ONLY;
	l->evl = evconnlistener_new_bind(base, accept_cb, l, flags, 1024, addr, (int)addr_len);
	if (l->evl == NULL) {
		(void)snprintf(err, err_size, "%s", strerror(errno));
		free(l);
		return NULL;
	}
	evconnlistener_set_error_cb(l->evl, accept_error_cb);
	l->retry = evtimer_new(base, retry_cb, l);
	KASSERT(l->retry != NULL);
	return l;
}

void listener_free(struct listener **pp)
{
	struct listener *l = *pp;
	if (l == NULL)
		return;
	event_free(l->retry);
	evconnlistener_free(l->evl);
	free(l);
	*pp = NULL;
}

int listener_local_addr(const struct listener *l, struct sockaddr_storage *out,
			socklen_t *len_out)
{
	socklen_t len = sizeof(*out);
	memset(out, 0, sizeof(*out));
	if (getsockname(evconnlistener_get_fd(l->evl), (struct sockaddr *)out, &len) != 0)
		return -1;
	*len_out = len;
	return 0;
}

static unsigned addr_hash(const unsigned char key[ADDR_KEY_LEN])
{
	return addr_key_hash(key) % SESSLIMIT_BUCKETS;
}

struct sesslimit *sesslimit_new(unsigned max_total, unsigned max_per_ip)
{
	struct sesslimit *sl = xcalloc(1, sizeof(*sl));
	sl->max_total = max_total;
	sl->max_per_ip = max_per_ip;
	KASSERT(pthread_mutex_init(&sl->mu, NULL) == 0);
	return sl;
}

void sesslimit_free(struct sesslimit **pp)
{
	struct sesslimit *sl = *pp;
	if (sl == NULL)
		return;
	for (size_t i = 0; i < SESSLIMIT_BUCKETS; i++) {
		struct ipcount *e = sl->buckets[i];
		while (e) {
			struct ipcount *n = e->next;
			free(e);
			e = n;
		}
	}
	pthread_mutex_destroy(&sl->mu);
	free(sl);
	*pp = NULL;
}

void sesslimit_set(struct sesslimit *sl, unsigned max_total, unsigned max_per_ip)
{
	pthread_mutex_lock(&sl->mu);
	sl->max_total = max_total;
	sl->max_per_ip = max_per_ip;
	pthread_mutex_unlock(&sl->mu);
}

bool sesslimit_acquire(struct sesslimit *sl, const struct sockaddr *peer)
{
	unsigned char key[ADDR_KEY_LEN];
	addr_key(peer, key);
	unsigned h = addr_hash(key);
	pthread_mutex_lock(&sl->mu);
	struct ipcount *e = sl->buckets[h];
	while (e && memcmp(e->addr, key, ADDR_KEY_LEN) != 0)
		e = e->next;
	bool ok = sl->total < sl->max_total && (e == NULL || e->count < sl->max_per_ip);
	if (ok) {
		if (e == NULL) {
			e = xcalloc(1, sizeof(*e));
			memcpy(e->addr, key, ADDR_KEY_LEN);
			e->next = sl->buckets[h];
			sl->buckets[h] = e;
		}
		e->count++;
		sl->total++;
	}
	pthread_mutex_unlock(&sl->mu);
	return ok;
}

void sesslimit_release(struct sesslimit *sl, const struct sockaddr *peer)
{
	unsigned char key[ADDR_KEY_LEN];
	addr_key(peer, key);
	unsigned h = addr_hash(key);
	pthread_mutex_lock(&sl->mu);
	struct ipcount **pe = &sl->buckets[h];
	while (*pe && memcmp((*pe)->addr, key, ADDR_KEY_LEN) != 0)
		pe = &(*pe)->next;
	KASSERT(*pe != NULL && (*pe)->count > 0 && sl->total > 0);
	sl->total--;
	struct ipcount *dead = NULL;
	if (--(*pe)->count == 0) {
		dead = *pe;
		*pe = dead->next;
	}
	pthread_mutex_unlock(&sl->mu);
	free(dead);
}

unsigned sesslimit_total(const struct sesslimit *sl)
{
	struct sesslimit *m = (struct sesslimit *)sl;
	pthread_mutex_lock(&m->mu);
	unsigned n = sl->total;
	pthread_mutex_unlock(&m->mu);
	return n;
}
