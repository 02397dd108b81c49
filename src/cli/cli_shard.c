/* cli_shard: shards of sessions, one event loop each (see cli_shard.h).
 * Messages between loops go through loop_call(); nothing here blocks a
 * loop except ETRN on a shard other than 0, which waits (bounded) for the
 * queue's answer on the main loop. */
#include "cli/cli_shard.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/aliases.h"
#include "auth/userdb.h"
#include "cli/cli_relay.h"
#include "config/config.h"
#include "core/alloc.h"
#include "core/kassert.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/worker.h"
#include "net/dns.h"
#include "net/tls.h"
#include "pop2/pop2_session.h"
#include "pop3/pop3_session.h"
#include "queue/queue_env.h"
#include "smtp/smtp_session.h"
#include "trust/authcheck_dns.h"

/* Each lookup of the inbound checks is bounded by this (as the relay's). */
#define SHARD_DNS_TIMEOUT_MS 20000
/* ETRN from shard k waits at most this long for the main loop. */
#define SHARD_ETRN_WAIT_S 5

struct shard {
	struct shard_set *set; /* borrowed */
	unsigned index;
	struct loop *loop; /* owned (shard 0: borrowed, the main loop) */
	struct worker_pool *workers, *auth_workers; /* owned handles (0: the pools) */
	struct dns *dns; /* owned (0: borrowed, the relay's) */
	struct authcheck_dns_ops authdns;
	struct tls_server *tls; /* owned reference */
	struct smtp_env smtp;
	struct pop3_env pop3;
	struct pop2_env pop2;
	/* Reported by the shard at each shutdown tick (read by main). */
	atomic_uint live, busy;
};

struct shard_set {
	struct shard_init init; /* borrowed members */
	struct shard *shards; /* owned array */
	unsigned count;
	unsigned next; /* round robin, main thread */
	atomic_bool stopping; /* the queue takes nothing more */
};

static void offload_to_workers(void *ctx, void (*work)(void *), void (*done)(void *), void *arg)
{
	worker_submit(ctx, work, done, arg);
}

/* ---- the queue, from any shard ---- */

struct queued_msg {
	struct shard_set *set;
	struct queue_env env; /* owned */
};

static void queued_on_main(void *arg)
{
	struct queued_msg *m = arg;
	/* After SIGTERM the scheduler is stopped; the message is durable in
	 * the queue and is found by the next start's scan. */
	if (!atomic_load(&m->set->stopping))
		relay_queued(m->set->init.relay, &m->env);
	queue_env_fini(&m->env);
	free(m);
}

static void shard_queued(void *arg, struct queue_env *env)
{
	struct shard *sh = arg;
	if (sh->index == 0) {
		relay_queued(sh->set->init.relay, env);
		return;
	}
	struct queued_msg *m = xcalloc(1, sizeof(*m));
	m->set = sh->set;
	m->env = *env; /* moved */
	memset(env, 0, sizeof(*env));
	queue_env_init(env);
	loop_call(sh->set->init.main_loop, queued_on_main, m);
}

struct etrn_call {
	struct shard_set *set;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	size_t n;
	atomic_int refs;
	char domain[256];
};

static void etrn_release(struct etrn_call *c)
{
	if (atomic_fetch_sub(&c->refs, 1) == 1) {
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cv);
		free(c);
	}
}

static void etrn_on_main(void *arg)
{
	struct etrn_call *c = arg;
	size_t n = atomic_load(&c->set->stopping) ? 0 : relay_flush(c->set->init.relay, c->domain);
	pthread_mutex_lock(&c->mu);
	c->n = n;
	c->done = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	etrn_release(c);
}

/* ETRN needs the count of the queue on the main loop; a rare command, so
 * the shard waits for it (the main loop never waits for a shard). */
static size_t shard_etrn(void *arg, const char *domain)
{
	struct shard *sh = arg;
	if (sh->index == 0)
		return relay_flush(sh->set->init.relay, domain);
	struct etrn_call *c = xcalloc(1, sizeof(*c));
	c->set = sh->set;
	KASSERT(pthread_mutex_init(&c->mu, NULL) == 0);
	KASSERT(pthread_cond_init(&c->cv, NULL) == 0);
	atomic_init(&c->refs, 2);
	(void)snprintf(c->domain, sizeof(c->domain), "%s", domain);
	loop_call(sh->set->init.main_loop, etrn_on_main, c);
	struct timespec until;
	(void)clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += SHARD_ETRN_WAIT_S;
	pthread_mutex_lock(&c->mu);
	int rc = 0;
	while (!c->done && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&c->cv, &c->mu, &until);
	/* No answer in time: say the run started (RFC 1985 250). */
	size_t n = c->done ? c->n : 1;
	pthread_mutex_unlock(&c->mu);
	etrn_release(c);
	return n;
}

/* ---- making the shards ---- */

static void env_fill(struct shard *sh, const struct shard_init *in)
{
	struct event_base *base = loop_base(sh->loop);
	sh->smtp.base = base;
	sh->smtp.loop_index = sh->index;
	sh->pop3.loop_index = sh->index;
	sh->pop2.loop_index = sh->index;
	sh->smtp.cfg = in->cfg;
	sh->smtp.users = in->users;
	sh->smtp.aliases = in->aliases;
	sh->smtp.workers = sh->workers;
	sh->smtp.auth_workers = sh->auth_workers;
	sh->smtp.limits = in->limits;
	sh->smtp.authn = in->authn;
	sh->smtp.tls = sh->tls;
	sh->smtp.queue = relay_store(in->relay);
	sh->smtp.queued = shard_queued;
	sh->smtp.etrn = shard_etrn;
	sh->smtp.queue_arg = sh;
	sh->smtp.signing = in->signing;
	sh->smtp.srs_secret = in->srs_secret;
	sh->smtp.srs_secret_len = in->srs_secret_len;
	sh->smtp.authdns = &sh->authdns;
	sh->smtp.psl = in->psl;
	sh->pop3.base = base;
	sh->pop3.cfg = in->cfg;
	sh->pop3.users = in->users;
	sh->pop3.workers = sh->workers;
	sh->pop3.auth_workers = sh->auth_workers;
	sh->pop3.limits = in->limits;
	sh->pop3.authn = in->authn;
	sh->pop3.tls = sh->tls;
	sh->pop2.base = base;
	sh->pop2.cfg = in->cfg;
	sh->pop2.users = in->users;
	sh->pop2.workers = sh->workers;
	sh->pop2.auth_workers = sh->auth_workers;
	sh->pop2.limits = in->limits;
	sh->pop2.authn = in->authn;
}

struct shard_set *shard_set_new(const struct shard_init *init, char *err, size_t err_size)
{
	KASSERT(init->count >= 1);
	struct shard_set *set = xcalloc(1, sizeof(*set));
	set->init = *init;
	set->count = init->count;
	set->shards = xcalloc(set->count, sizeof(*set->shards));
	for (unsigned i = 0; i < set->count; i++) {
		struct shard *sh = &set->shards[i];
		sh->set = set;
		sh->index = i;
		if (i == 0) {
			sh->loop = init->main_loop;
			sh->workers = init->workers;
			sh->auth_workers = init->auth_workers;
			sh->dns = relay_dns(init->relay);
		} else {
			/* Busy until its first report (shard_set_shutdown). */
			atomic_init(&sh->live, 1);
			atomic_init(&sh->busy, 1);
			sh->loop = loop_new();
			struct event_base *base = loop_base(sh->loop);
			sh->workers = worker_pool_share(init->workers, base);
			sh->auth_workers = worker_pool_share(init->auth_workers, base);
			const struct config *cfg = init->cfg;
			sh->dns = dns_new(base, cfg->dns_server_count ? cfg->dns_servers : NULL,
					  cfg->dns_server_count, SHARD_DNS_TIMEOUT_MS, err, err_size);
			if (sh->dns == NULL) {
				set->count = i + 1;
				shard_set_free(&set);
				return NULL;
			}
		}
		authcheck_dns_ops_init(&sh->authdns, sh->dns);
		/* DKIM body hashes run on the workers, never on a loop. */
		sh->authdns.offload = offload_to_workers;
		sh->authdns.offload_ctx = sh->workers;
		if (init->tls != NULL) {
			tls_server_ref(init->tls);
			sh->tls = init->tls;
		}
		env_fill(sh, init);
	}
	return set;
}

void shard_set_start(struct shard_set *set)
{
	for (unsigned i = 1; i < set->count; i++)
		loop_start(set->shards[i].loop);
}

/* ---- sessions ---- */

struct accept_msg {
	struct shard *sh;
	enum shard_proto proto;
	int kind;
	int fd;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	bool allowed;
};

static void start_session(struct shard *sh, enum shard_proto proto, int kind, int fd,
			  const struct sockaddr *peer, socklen_t peer_len, bool allowed)
{
	switch (proto) {
	case SHARD_SMTP:
		smtp_session_start(&sh->smtp, (enum smtp_listener_kind)kind, fd, peer, peer_len,
				   allowed);
		break;
	case SHARD_POP3:
		pop3_session_start(&sh->pop3, (enum pop3_listener_kind)kind, fd, peer, peer_len,
				   allowed);
		break;
	case SHARD_POP2:
		pop2_session_start(&sh->pop2, fd, peer, peer_len, allowed);
		break;
	}
}

static void accept_on_shard(void *arg)
{
	struct accept_msg *m = arg;
	start_session(m->sh, m->proto, m->kind, m->fd, (const struct sockaddr *)&m->peer,
		      m->peer_len, m->allowed);
	free(m);
}

void shard_accept(struct shard_set *set, enum shard_proto proto, int kind, int fd,
		  const struct sockaddr *peer, socklen_t peer_len, bool allowed)
{
	struct shard *sh = &set->shards[set->next++ % set->count];
	/* A refused client only gets its one line: no need to travel. */
	if (sh->index == 0 || !allowed || atomic_load(&set->stopping)) {
		start_session(&set->shards[0], proto, kind, fd, peer, peer_len, allowed);
		return;
	}
	struct accept_msg *m = xcalloc(1, sizeof(*m));
	m->sh = sh;
	m->proto = proto;
	m->kind = kind;
	m->fd = fd;
	if (peer_len > sizeof(m->peer))
		peer_len = sizeof(m->peer);
	memcpy(&m->peer, peer, peer_len);
	m->peer_len = peer_len;
	m->allowed = allowed;
	loop_call(sh->loop, accept_on_shard, m);
}

/* ---- publishing a configuration ---- */

struct retired {
	struct userdb *users; /* owned */
	struct aliases *aliases; /* owned */
	atomic_uint refs; /* shards that still may use them */
};

struct publish_msg {
	struct shard *sh;
	const struct config *cfg;
	const struct userdb *users;
	const struct aliases *aliases;
	struct tls_server *tls; /* owned reference, or NULL */
	struct retired *old; /* shared, or NULL */
};

static void retired_release(struct retired *r)
{
	if (r != NULL && atomic_fetch_sub(&r->refs, 1) == 1) {
		userdb_free(&r->users);
		aliases_free(&r->aliases);
		free(r);
	}
}

static void apply(void *arg)
{
	struct publish_msg *m = arg;
	struct shard *sh = m->sh;
	sh->smtp.cfg = m->cfg;
	sh->pop3.cfg = m->cfg;
	sh->pop2.cfg = m->cfg;
	sh->smtp.users = m->users;
	sh->smtp.aliases = m->aliases;
	sh->pop3.users = m->users;
	sh->pop2.users = m->users;
	/* New handshakes use the new certificate; sessions in TLS keep
	 * theirs (an SSL holds its own context reference). */
	tls_server_unref(&sh->tls);
	sh->tls = m->tls;
	sh->smtp.tls = m->tls;
	sh->pop3.tls = m->tls;
	retired_release(m->old);
	free(m);
}

void shard_set_publish(struct shard_set *set, const struct config *cfg,
		       const struct userdb *users, const struct aliases *aliases,
		       struct tls_server *tls, struct userdb *old_users, struct aliases *old_aliases)
{
	struct retired *old = NULL;
	if (old_users != NULL || old_aliases != NULL) {
		old = xcalloc(1, sizeof(*old));
		old->users = old_users;
		old->aliases = old_aliases;
		atomic_init(&old->refs, set->count);
	}
	for (unsigned i = 0; i < set->count; i++) {
		struct publish_msg *m = xcalloc(1, sizeof(*m));
		m->sh = &set->shards[i];
		m->cfg = cfg;
		m->users = users;
		m->aliases = aliases;
		if (tls != NULL)
			tls_server_ref(tls);
		m->tls = tls;
		m->old = old;
		if (i == 0)
			apply(m); /* our own loop: nothing of it is running now */
		else
			loop_call(set->shards[i].loop, apply, m);
	}
}

/* ---- shutdown ---- */

static void report(struct shard *sh)
{
	unsigned live = sh->smtp.live_sessions + sh->pop3.live_sessions + sh->pop2.live_sessions;
	atomic_store(&sh->live, live);
	atomic_store(&sh->busy,
		     live + worker_pending(sh->workers) + worker_pending(sh->auth_workers));
}

static void shutdown_on_shard(void *arg)
{
	struct shard *sh = arg;
	smtp_shutdown(&sh->smtp);
	pop3_shutdown(&sh->pop3);
	pop2_shutdown(&sh->pop2);
	report(sh);
}

void shard_set_shutdown(struct shard_set *set)
{
	atomic_store(&set->stopping, true);
	for (unsigned i = 0; i < set->count; i++) {
		if (i == 0)
			shutdown_on_shard(&set->shards[0]);
		else
			loop_call(set->shards[i].loop, shutdown_on_shard, &set->shards[i]);
	}
}

unsigned shard_set_live(const struct shard_set *set)
{
	unsigned n = 0;
	for (unsigned i = 0; i < set->count; i++) {
		struct shard *sh = &set->shards[i];
		n += i == 0 ? sh->smtp.live_sessions + sh->pop3.live_sessions +
				      sh->pop2.live_sessions
			    : atomic_load(&sh->live);
	}
	return n;
}

unsigned shard_set_busy(const struct shard_set *set)
{
	unsigned n = 0;
	for (unsigned i = 0; i < set->count; i++)
		n += atomic_load(&set->shards[i].busy);
	return n;
}

unsigned shard_set_backlog(const struct shard_set *set, bool auth)
{
	unsigned n = 0;
	for (unsigned i = 1; i < set->count; i++)
		n += worker_pending(auth ? set->shards[i].auth_workers : set->shards[i].workers);
	return n;
}

void shard_set_stop(struct shard_set *set)
{
	for (unsigned i = 1; i < set->count; i++) {
		struct shard *sh = &set->shards[i];
		loop_stop(sh->loop);
		/* A job that started after the shard's last report: its
		 * completion is delivered here, on the main thread, so that no
		 * session is freed under a running job. */
		while (worker_pending(sh->workers) > 0 || worker_pending(sh->auth_workers) > 0)
			(void)event_base_loop(loop_base(sh->loop), EVLOOP_ONCE);
	}
}

void shard_set_free(struct shard_set **pp)
{
	struct shard_set *set = *pp;
	if (set == NULL)
		return;
	for (unsigned i = 0; i < set->count; i++) {
		struct shard *sh = &set->shards[i];
		if (sh->loop != NULL && i > 0)
			loop_stop(sh->loop);
		/* Sessions still open after the drain (clients that never read
		 * their goodbye, checks still waiting for DNS) go now that no
		 * worker job refers to them, and before their resolver. */
		smtp_free_all(&sh->smtp);
		pop3_free_all(&sh->pop3);
		pop2_free_all(&sh->pop2);
		tls_server_unref(&sh->tls);
		if (i == 0)
			continue;
		dns_free(&sh->dns);
		worker_pool_free(&sh->workers);
		worker_pool_free(&sh->auth_workers);
		loop_free(&sh->loop);
	}
	free(set->shards);
	free(set);
	*pp = NULL;
}
