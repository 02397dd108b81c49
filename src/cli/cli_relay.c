/* cli_relay: the queue's runtime inside "konvert serve": scheduler ops on
 * the worker pool (durable writes, removals), remote delivery, notices,
 * the tick timer. It must never block the loop: every queue_store call
 * runs in a worker job. */
#include "cli/cli_relay.h"

#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/worker.h"
#include "delivery/notice.h"
#include "delivery/remote.h"
#include "delivery/tlspolicy.h"
#include "delivery/tlsreport.h"
#include "net/dns.h"
#include "net/tls_client.h"
#include "queue/queue_control.h"
#include "queue/queue_env.h"
#include "queue/queue_sched.h"
#include "queue/queue_store.h"

#define RELAY_DNS_TIMEOUT_MS 20000
#define RELAY_TOTAL_MAX 100 /* deliveries in flight */
#define RELAY_PER_DEST_MAX 10 /* to one destination */

struct relay {
	struct event_base *base;
	const struct config *const *cfg;
	struct worker_pool *workers;
	struct queue_store *qs; /* owned */
	struct queue_sched *sched; /* owned */
	struct dns *dns; /* owned */
	SSL_CTX *tls_ctx; /* owned */
	struct remote *remote; /* owned */
	struct tlspolicy *tlspolicy; /* owned: DANE, MTA-STS */
	struct tlsreport *tlsreport; /* owned: TLS reports (RFC 8460) */
	int (*reload)(void *arg, char *msg, size_t msg_size); /* RELOAD */
	void *reload_arg;
	struct notice_ctx nc;
	struct queue_control *control; /* owned: data_dir/control.sock */
	struct event *tick; /* owned */
	unsigned pending; /* worker jobs in flight */
	bool stopping; /* no new deliveries */
};

/* ---- worker jobs ---- */

struct io_job {
	struct relay *r;
	struct queue_entry *e;
	struct queue_env env; /* owned snapshot (write) */
	char id[ID_LEN + 1]; /* (remove) */
	bool ok;
	char err[512];
};

static void write_work(void *arg)
{
	struct io_job *j = arg;
	j->ok = queue_store_update(j->r->qs, &j->env, j->err, sizeof(j->err)) == 0;
}

static void write_done(void *arg)
{
	struct io_job *j = arg;
	j->r->pending--;
	if (!j->ok)
		log_error(NULL, "event=queue-write id=%s error=\"%s\"", j->env.id, j->err);
	queue_sched_write_done(j->r->sched, j->e, j->ok);
	queue_env_fini(&j->env);
	free(j);
}

static void write_failed_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	write_done(arg);
}

static void remove_work(void *arg)
{
	struct io_job *j = arg;
	j->ok = queue_store_remove(j->r->qs, j->id, j->err, sizeof(j->err)) == 0;
}

static void remove_done(void *arg)
{
	struct io_job *j = arg;
	j->r->pending--;
	if (!j->ok)
		log_error(NULL, "event=queue-remove id=%s error=\"%s\"", j->id, j->err);
	else
		log_info(NULL, "event=queue-done id=%s", j->id);
	queue_sched_remove_done(j->r->sched, j->e);
	free(j);
}

/* ---- scheduler ops ---- */

static void op_deliver(void *ctx, struct queue_batch *b)
{
	struct relay *r = ctx;
	/* Stopping: the batch stays unanswered (freed with the scheduler);
	 * its recipients are still queued on disk for the next start. */
	if (r->stopping || r->remote == NULL)
		return;
	remote_deliver(r->remote, b);
}

static void op_write(void *ctx, struct queue_entry *e, const struct queue_env *env)
{
	struct relay *r = ctx;
	struct io_job *j = xcalloc(1, sizeof(*j));
	j->r = r;
	j->e = e;
	/* A deep snapshot: the loop may change env while the worker writes. */
	char *buf = NULL;
	size_t len = 0;
	const char *why = NULL;
	queue_env_init(&j->env);
	if (queue_env_encode(env, &buf, &len, &why) != 0 ||
	    queue_env_decode(buf, len, &j->env, &why) != 0) {
		log_error(NULL, "event=queue-write id=%s error=\"%s\"", env->id, why ? why : "?");
		free(buf);
		/* Reported from the loop, as the contract asks: a failed write. */
		j->ok = false;
		r->pending++;
		if (event_base_once(r->base, -1, EV_TIMEOUT, write_failed_cb, j, NULL) != 0)
			write_failed_cb(-1, 0, j);
		return;
	}
	free(buf);
	r->pending++;
	worker_submit(r->workers, write_work, write_done, j);
}

static void op_remove(void *ctx, struct queue_entry *e, const char *id)
{
	struct relay *r = ctx;
	struct io_job *j = xcalloc(1, sizeof(*j));
	j->r = r;
	j->e = e;
	(void)snprintf(j->id, sizeof(j->id), "%s", id);
	r->pending++;
	worker_submit(r->workers, remove_work, remove_done, j);
}

struct notice_arg {
	struct relay *r;
	struct queue_entry *e;
};

static void notice_done(void *arg, bool ok)
{
	struct notice_arg *na = arg;
	queue_sched_notice_done(na->r->sched, na->e, ok);
	free(na);
}

static void op_notice(void *ctx, struct queue_entry *e, const struct queue_env *env,
		      enum queue_notice_kind kind, const size_t *idx, size_t n)
{
	struct relay *r = ctx;
	struct notice_arg *na = xcalloc(1, sizeof(*na));
	na->r = r;
	na->e = e;
	notice_send(&r->nc, env, kind, idx, n, notice_done, na);
}

static int64_t op_now(void *ctx)
{
	(void)ctx;
	return (int64_t)time(NULL);
}

static void on_remote_done(void *arg, struct queue_batch *b, const struct queue_result *res,
			   bool dest_failed)
{
	struct relay *r = arg;
	queue_sched_batch_done(r->sched, b, res, dest_failed);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct relay *r = arg;
	queue_sched_tick(r->sched);
}

/* ---- the control socket (konvert queue flush|delete) ---- */

static int control_flush(void *ctx, const char *domain, char *msg, size_t msg_size)
{
	struct relay *r = ctx;
	size_t n = queue_sched_flush(r->sched, domain);
	(void)snprintf(msg, msg_size, "%zu message%s scheduled now", n, n == 1 ? "" : "s");
	log_info(NULL, "event=queue-flush domain=%s messages=%zu", domain ? domain : "*", n);
	return 0;
}

static int control_tls_report(void *ctx, bool today, char *msg, size_t msg_size)
{
	struct relay *r = ctx;
	if (r->tlsreport == NULL) {
		(void)snprintf(msg, msg_size, "TLS reports are not running");
		return -1;
	}
	return tlsreport_send_now(r->tlsreport, today, msg, msg_size);
}

static int control_reload(void *ctx, char *msg, size_t msg_size)
{
	struct relay *r = ctx;
	if (r->reload == NULL) {
		(void)snprintf(msg, msg_size, "reload is not available");
		return -1;
	}
	return r->reload(r->reload_arg, msg, msg_size);
}

static void delete_work(void *arg)
{
	struct io_job *j = arg;
	j->ok = queue_store_remove(j->r->qs, j->id, j->err, sizeof(j->err)) == 0;
}

static void delete_done(void *arg)
{
	struct io_job *j = arg;
	j->r->pending--;
	if (j->ok)
		log_info(NULL, "event=queue-delete id=%s", j->id);
	else
		log_error(NULL, "event=queue-delete id=%s error=\"%s\"", j->id, j->err);
	free(j);
}

static int control_delete(void *ctx, const char *id, char *msg, size_t msg_size)
{
	struct relay *r = ctx;
	if (!queue_sched_forget(r->sched, id)) {
		(void)snprintf(msg, msg_size, "%s",
			       queue_sched_find(r->sched, id) ? "message busy, try again in a moment"
							      : "no such message in the queue");
		return -1;
	}
	struct io_job *j = xcalloc(1, sizeof(*j));
	j->r = r;
	(void)snprintf(j->id, sizeof(j->id), "%s", id);
	r->pending++;
	worker_submit(r->workers, delete_work, delete_done, j);
	(void)snprintf(msg, msg_size, "%s deleted", id);
	return 0;
}

/* ---- startup scan ---- */

static void scan_env(void *arg, struct queue_env *env)
{
	struct relay *r = arg;
	queue_sched_add(r->sched, env);
}

static void scan_note(void *arg, enum queue_scan_action action, const char *name,
		      const char *reason)
{
	(void)arg;
	static const char *const names[] = {"moved-corrupt", "removed-tmp", "removed-orphan",
					    "kept-orphan", "failed"};
	if (action == QUEUE_SCAN_MOVED_CORRUPT || action == QUEUE_SCAN_FAILED)
		log_error(NULL, "event=queue-scan action=%s file=%s reason=\"%s\"", names[action],
			  name, reason);
	else
		log_info(NULL, "event=queue-scan action=%s file=%s reason=\"%s\"", names[action],
			 name, reason);
}

/* ---- public ---- */

struct relay *relay_new(struct event_base *base, const struct config *const *cfgp,
			struct userdb *const *users, struct aliases *const *aliases,
			struct worker_pool *workers, char *err, size_t err_size)
{
	const struct config *cfg = *cfgp;
	struct relay *r = xcalloc(1, sizeof(*r));
	r->base = base;
	r->cfg = cfgp;
	r->workers = workers;
	r->qs = queue_store_open(cfg->data_dir, 0, err, err_size);
	if (r->qs == NULL)
		goto fail;
	r->dns = dns_new(base, cfg->dns_server_count ? cfg->dns_servers : NULL,
			 cfg->dns_server_count, RELAY_DNS_TIMEOUT_MS, err, err_size);
	if (r->dns == NULL)
		goto fail;
	/* One client context: opportunistic STARTTLS (RFC 7435) verifies
	 * nothing; DANE and MTA-STS verify per destination (tlspolicy), the
	 * MTA-STS policy fetch against tls_trust_file or the system store. */
	r->tls_ctx = tls_client_ctx_new(cfg->tls_trust_file, err, err_size);
	if (r->tls_ctx == NULL)
		goto fail;
	r->remote = remote_new(base, cfg, r->dns, r->qs, r->tls_ctx, on_remote_done, r);
	r->tlspolicy = tlspolicy_new(base, r->dns, r->tls_ctx, cfg->data_dir, cfg->dnssec == CFG_YES,
				     cfg->relay_port, cfg->mta_sts_port);
	r->tlsreport = tlsreport_new(base, r->dns, cfgp, workers, r->qs, NULL, relay_queued, r);
	remote_set_tls(r->remote, r->tlspolicy, tlsreport_observe, r->tlsreport);
	struct queue_retry_policy policy;
	queue_retry_policy_init(&policy, cfg->queue_retry_s, cfg->queue_retry_count,
				cfg->queue_lifetime_s, cfg->delay_warning_s);
	struct queue_sched_ops ops = {op_deliver, op_write, op_remove, op_notice, op_now, r};
	struct queue_sched_limits lim = {RELAY_TOTAL_MAX, RELAY_PER_DEST_MAX};
	r->sched = queue_sched_new(&ops, &policy, &lim);
	r->nc = (struct notice_ctx){.base = base,
				    .cfg = cfgp,
				    .users = users,
				    .aliases = aliases,
				    .workers = workers,
				    .qs = r->qs,
				    .queued = relay_queued,
				    .queued_arg = r};
	/* Before any new message arrives: leftovers of a crash are cleaned,
	 * corrupt files moved to queue/corrupt/, the rest scheduled. */
	struct queue_scan_stats st;
	if (queue_store_scan(r->qs, QUEUE_STORE_ORPHAN_AGE, scan_env, scan_note, r, &st, err,
			     err_size) != 0)
		goto fail;
	log_info(NULL, "event=queue-scan messages=%zu corrupt=%zu removed=%zu", st.envelopes,
		 st.corrupt, st.removed);
	struct queue_control_ops cops = {.flush = control_flush,
					 .del = control_delete,
					 .tls_report = control_tls_report,
					 .reload = control_reload,
					 .ctx = r};
	r->control = queue_control_new(base, cfg->data_dir, &cops, err, err_size);
	if (r->control == NULL) {
		/* Mail still flows; only `konvert queue flush|delete` cannot
		 * reach this server (e.g. a data_dir path too long for a
		 * socket name). */
		log_warn(NULL, "event=start warning=\"no control socket: %s\"", err);
		err[0] = '\0';
	}
	r->tick = event_new(base, -1, EV_PERSIST, tick_cb, r);
	struct timeval tv = {1, 0};
	(void)event_add(r->tick, &tv);
	queue_sched_tick(r->sched);
	return r;
fail:
	relay_free(&r);
	return NULL;
}

void relay_free(struct relay **pp)
{
	struct relay *r = *pp;
	if (r == NULL)
		return;
	*pp = NULL;
	if (r->tick)
		event_free(r->tick);
	queue_control_free(&r->control);
	remote_free(&r->remote);
	tlspolicy_free(&r->tlspolicy);
	tlsreport_free(&r->tlsreport);
	queue_sched_free(&r->sched);
	dns_free(&r->dns);
	if (r->tls_ctx)
		SSL_CTX_free(r->tls_ctx);
	queue_store_close(&r->qs);
	free(r);
}

void relay_stop(struct relay *r)
{
	r->stopping = true;
	if (r->tick)
		(void)event_del(r->tick);
	/* Connections in flight are cut: a message whose remote 250 came but
	 * whose state was not written yet is sent again next time (the one
	 * duplicate window, INTERNALS.md). */
	remote_free(&r->remote);
	tlspolicy_free(&r->tlspolicy);
}

void relay_refresh_metrics(const struct relay *r)
{
	int64_t oldest = queue_sched_oldest_created(r->sched), now = (int64_t)time(NULL);
	metrics_set_queue(queue_sched_count(r->sched),
			  oldest > 0 && now > oldest ? (uint64_t)(now - oldest) : 0);
}

void relay_config_changed(struct relay *r)
{
	const struct config *cfg = *r->cfg;
	if (r->remote != NULL)
		remote_set_config(r->remote, cfg);
	if (r->tlspolicy != NULL)
		tlspolicy_set_options(r->tlspolicy, cfg->dnssec == CFG_YES, cfg->relay_port,
				      cfg->mta_sts_port);
	struct queue_retry_policy policy;
	queue_retry_policy_init(&policy, cfg->queue_retry_s, cfg->queue_retry_count,
				cfg->queue_lifetime_s, cfg->delay_warning_s);
	queue_sched_set_policy(r->sched, &policy);
}

void relay_set_reload(struct relay *r, int (*fn)(void *arg, char *msg, size_t msg_size),
		      void *arg)
{
	r->reload = fn;
	r->reload_arg = arg;
}

void relay_set_signing(struct relay *r, const struct signing *signing)
{
	tlsreport_set_signing(r->tlsreport, signing);
}

struct dns *relay_dns(struct relay *r)
{
	return r->dns;
}

struct queue_store *relay_store(struct relay *r)
{
	return r->qs;
}

void relay_queued(void *arg, struct queue_env *env)
{
	struct relay *r = arg;
	log_info(NULL, "event=queued id=%s recipients=%zu size=%llu", env->id, env->rcpt_count,
		 (unsigned long long)env->size);
	queue_sched_add(r->sched, env);
	queue_sched_tick(r->sched);
}

size_t relay_flush(void *arg, const char *domain)
{
	struct relay *r = arg;
	return queue_sched_flush(r->sched, domain);
}

unsigned relay_pending(const struct relay *r)
{
	return r->pending;
}
