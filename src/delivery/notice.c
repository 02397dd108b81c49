/* notice: builds one DSN message with proto/dsn, reading the original from
 * the queue, and commits it through delivery/intake to the sender's
 * mailbox or the queue. It owns the intake until the commit, and nothing
 * after; it decides where a notice goes, never whether one is owed (the
 * scheduler does). */
#include "delivery/notice.h"

#include <errno.h>
#include <event2/event.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/aliases.h"
#include "auth/userdb.h"
#include "config/config.h"
#include "core/alloc.h"
#include "core/id.h"
#include "core/log.h"
#include "delivery/resolve.h"
#include "proto/dsn.h"
#include "queue/queue_store.h"

/* The original is returned whole up to this size (else headers only). */
#define NOTICE_FULL_MAX (10u * 1024 * 1024)

struct notice_job {
	notice_done_fn done;
	void *arg;
	bool ok; /* for answers without a commit */
};

struct orig_reader {
	int fd;
	uint64_t off, end;
};

static ssize_t orig_read(void *ctx, char *buf, size_t len)
{
	struct orig_reader *o = ctx;
	if (o->off >= o->end)
		return 0;
	if (len > o->end - o->off)
		len = (size_t)(o->end - o->off);
	ssize_t got;
	do {
		got = pread(o->fd, buf, len, (off_t)o->off);
	} while (got < 0 && errno == EINTR);
	if (got > 0)
		o->off += (uint64_t)got;
	return got;
}

static int intake_sink(void *ctx, const char *p, size_t len)
{
	return intake_write(ctx, p, len);
}

/* "550 5.1.1 text" -> "5.1.1"; without one, the class of the code. */
static void status_of(const char *reply, enum queue_notice_kind kind, char *out, size_t out_size)
{
	const char *dflt = kind == QUEUE_NOTICE_FAILED	  ? "5.0.0"
			   : kind == QUEUE_NOTICE_DELAYED ? "4.0.0"
							  : "2.0.0";
	(void)snprintf(out, out_size, "%s", dflt);
	if (reply == NULL || strlen(reply) < 9 || reply[3] != ' ')
		return;
	const char *p = reply + 4;
	size_t n = strspn(p, "0123456789.");
	if (n >= 5 && n < 12 && p[1] == '.' && (p[0] == '2' || p[0] == '4' || p[0] == '5') &&
	    p[0] == dflt[0])
		(void)snprintf(out, out_size, "%.*s", (int)n, p);
}

static void commit_done(void *arg, int result, const char *err)
{
	struct notice_job *j = arg;
	if (result != 0)
		log_error(NULL, "event=notice result=failed error=\"%s\"", err ? err : "?");
	j->done(j->arg, result == 0);
	free(j);
}

static void done_later_cb(evutil_socket_t fd, short what, void *arg);

/* Answers from the loop, never from inside notice_send. */
static void answer_later(const struct notice_ctx *nc, struct notice_job *j, bool ok)
{
	j->ok = ok;
	if (event_base_once(nc->base, -1, EV_TIMEOUT, done_later_cb, j, NULL) != 0) {
		j->done(j->arg, ok); /* cannot happen with a live base */
		free(j);
	}
}

void notice_send(const struct notice_ctx *nc, const struct queue_env *env,
		 enum queue_notice_kind kind, const size_t *idx, size_t n, notice_done_fn done,
		 void *arg)
{
	const struct config *cfg = *nc->cfg;
	struct notice_job *j = xcalloc(1, sizeof(*j));
	j->done = done;
	j->arg = arg;
	/* Where it goes: the sender, or postmaster for a failed bounce. */
	char to[QUEUE_ADDR_MAX + 64];
	if (env->sender[0] != '\0')
		(void)snprintf(to, sizeof(to), "%s", env->sender);
	else
		(void)snprintf(to, sizeof(to), "postmaster@%s", cfg->domains[0]);
	const char *at = strrchr(to, '@');
	char domain[300];
	(void)snprintf(domain, sizeof(domain), "%s", at ? at + 1 : cfg->domains[0]);
	for (char *c = domain; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c + 32);
	size_t local_len = at ? (size_t)(at - to) : strlen(to);
	struct resolve_result rr;
	resolve_rcpt(cfg, *nc->users, *nc->aliases, to, local_len, domain, &rr);
	bool remote = rr.kind == RESOLVE_REMOTE || rr.kind == RESOLVE_ALIAS_REMOTE;
	if (rr.mailbox_count == 0 && !remote) {
		char esc[600];
		log_warn(NULL, "event=notice result=dropped id=%s to=<%s> reason=\"the sender has no mailbox here\"",
			 env->id, log_escape(esc, sizeof(esc), to, strlen(to)));
		resolve_result_fini(&rr);
		answer_later(nc, j, true);
		return;
	}

	char id[ID_LEN + 1];
	id_new(id);
	char err[512];
	struct intake *in = intake_new(cfg->data_dir, cfg->hostname, id, err, sizeof(err));
	if (in == NULL) {
		log_error(NULL, "event=notice result=failed error=\"%s\"", err);
		resolve_result_fini(&rr);
		answer_later(nc, j, false); /* the scheduler tries again later */
		return;
	}
	for (size_t i = 0; i < rr.mailbox_count; i++)
		(void)intake_add_mailbox(in, rr.mailboxes[i]);
	/* RFC 3464 / RFC 5321 4.5.5: from the null sender. */
	(void)intake_write_return_path(in, "");

	struct dsn_rcpt *drs = xcalloc(n ? n : 1, sizeof(*drs));
	char (*status)[16] = xcalloc(n ? n : 1, sizeof(*status));
	for (size_t k = 0; k < n; k++) {
		const struct queue_rcpt *r = &env->rcpts[idx[k]];
		status_of(r->last_reply, kind, status[k], sizeof(status[k]));
		drs[k].addr = r->addr;
		drs[k].orcpt = r->orcpt;
		drs[k].action = kind == QUEUE_NOTICE_FAILED	 ? DSN_ACTION_FAILED
				: kind == QUEUE_NOTICE_DELAYED	 ? DSN_ACTION_DELAYED
				: kind == QUEUE_NOTICE_RELAYED	 ? DSN_ACTION_RELAYED
								 : DSN_ACTION_DELIVERED;
		drs[k].status = status[k];
		drs[k].remote_mta = r->remote_mta;
		/* A remote reply is the Diagnostic-Code; our own words are the
		 * reason in the readable part. */
		if (r->remote_mta != NULL && r->last_reply != NULL)
			drs[k].diagnostic = r->last_reply;
		else
			drs[k].reason = r->last_reply;
		drs[k].last_attempt = r->attempts > 0 ? time(NULL) : 0;
		if (kind == QUEUE_NOTICE_DELAYED)
			drs[k].retry_until = (time_t)(env->created + (int64_t)cfg->queue_lifetime_s);
	}
	struct dsn_report rep;
	memset(&rep, 0, sizeof(rep));
	rep.hostname = cfg->hostname;
	rep.kind = kind == QUEUE_NOTICE_FAILED	  ? DSN_KIND_FAILURE
		   : kind == QUEUE_NOTICE_DELAYED ? DSN_KIND_DELAY
						  : DSN_KIND_SUCCESS;
	rep.sender = to;
	rep.envid = env->envid;
	rep.ret = env->ret == QUEUE_RET_FULL   ? DSN_RET_FULL
		  : env->ret == QUEUE_RET_HDRS ? DSN_RET_HDRS
					       : DSN_RET_UNSET;
	rep.body = env->body == QUEUE_BODY_8BITMIME	? DSN_BODY_8BITMIME
		   : env->body == QUEUE_BODY_BINARYMIME ? DSN_BODY_BINARYMIME
							: DSN_BODY_7BIT;
	rep.smtputf8 = env->smtputf8;
	rep.arrival = (time_t)env->created;
	rep.now = time(NULL);
	rep.id = id;
	if (RAND_bytes(rep.rand, sizeof(rep.rand)) != 1)
		memset(rep.rand, 0x5a, sizeof(rep.rand));
	rep.rcpts = drs;
	rep.nrcpts = n;
	rep.orig_size = env->size > env->skip ? env->size - env->skip : 0;
	rep.full_max = NOTICE_FULL_MAX;
	struct orig_reader orig = {.fd = queue_store_open_message(nc->qs, env->id, err, sizeof(err)),
				   .off = env->skip,
				   .end = env->size};
	enum dsn_err derr = DSN_ERR_NONE;
	int rc = dsn_compose(&rep, orig.fd >= 0 ? orig_read : NULL, &orig, intake_sink, in, &derr);
	if (orig.fd >= 0)
		(void)close(orig.fd);
	free(drs);
	free(status);
	if (rc != 0) {
		/* A boundary collision would need 128 random bits guessed;
		 * treat it like any failure: the scheduler tries again. */
		log_error(NULL, "event=notice id=%s result=failed error=\"%s\"", env->id,
			  dsn_strerror(derr));
		intake_free(&in);
		resolve_result_fini(&rr);
		answer_later(nc, j, false);
		return;
	}
	if (remote) {
		struct queue_env qe;
		queue_env_init(&qe);
		memcpy(qe.id, id, sizeof(qe.id));
		qe.sender = xstrdup("");
		qe.body = dsn_needs_8bitmime(&rep) ? QUEUE_BODY_8BITMIME : QUEUE_BODY_7BIT;
		qe.smtputf8 = rep.smtputf8;
		qe.created = (int64_t)time(NULL);
		/* qe.skip: the intake's Return-Path head, set at commit */
		qe.is_bounce = true;
		qe.bounce_depth = env->sender[0] != '\0' ? 0 : env->bounce_depth + 1;
		if (rr.kind == RESOLVE_REMOTE)
			(void)queue_env_add_rcpt(&qe, to);
		for (size_t i = 0; i < rr.remote_count; i++)
			(void)queue_env_add_rcpt(&qe, rr.remote[i]);
		intake_set_queue(in, nc->qs, &qe, nc->queued, nc->queued_arg);
		queue_env_fini(&qe);
	}
	char esc[600];
	log_info(NULL, "event=notice id=%s notice=%s kind=%s to=<%s> recipients=%zu", env->id, id,
		 kind == QUEUE_NOTICE_FAILED    ? "failed"
		 : kind == QUEUE_NOTICE_DELAYED ? "delayed"
		 : kind == QUEUE_NOTICE_RELAYED ? "relayed"
						: "delivered",
		 log_escape(esc, sizeof(esc), to, strlen(to)), n);
	resolve_result_fini(&rr);
	intake_commit(in, nc->workers, commit_done, j);
}

static void done_later_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct notice_job *j = arg;
	j->done(j->arg, j->ok);
	free(j);
}
