/* pop3_maildrop: the two blocking steps of a POP3 session, run on worker
 * threads: taking the maildrop lock and snapshot after a login (RFC 1939 4),
 * and the UPDATE state after QUIT (RFC 1939 6: deletions, and the S flag
 * of the messages retrieved). The job owns what the worker touches; the
 * session is only borrowed and is not freed while a job runs (s->job:
 * net/session frees a dead one in session_job_done).
 * Nothing here parses commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/kassert.h"
#include "core/log.h"
#include "core/worker.h"
#include "net/conn.h"
#include "pop3/pop3_internal.h"
#include "store/maildir.h"
#include "store/maildrop.h"

enum job_kind { JOB_OPEN, JOB_UPDATE };

struct pop3_job {
	enum job_kind kind;
	struct pop3_session *s; /* borrowed; outlives the job (s->job) */
	char path[4096]; /* the maildir */
	struct maildrop *md; /* owned by the job while it exists */
	bool busy; /* OPEN: another session holds the lock */
	int rc; /* OPEN: 0/-1; UPDATE: files removed or -1 */
	size_t left; /* UPDATE: messages that stay */
	char err[256];
};

static void job_run(void *arg)
{
	struct pop3_job *j = arg;
	if (j->kind == JOB_OPEN) {
		j->rc = maildrop_open(j->path, &j->md, &j->busy, j->err, sizeof(j->err));
		return;
	}
	j->rc = maildrop_commit(j->md, j->err, sizeof(j->err));
	/* Release the lock before the reply, so that a client reconnecting
	 * right after QUIT finds the maildrop free. */
	maildrop_close(&j->md);
}

static void job_free(struct pop3_job *j)
{
	maildrop_close(&j->md);
	free(j);
}

static void open_done(struct pop3_session *s, struct pop3_job *j)
{
	if (j->rc != 0) {
		pop3_set_state(s, POP3_STATE_AUTHORIZATION);
		if (j->busy) {
			/* RFC 1939 4 / RFC 2449 8.1.1: [IN-USE]. */
			log_info(s->sid, "proto=pop3 event=login result=in-use user=%s", s->login);
			pop3_reply(s, POP3_ERR, "[IN-USE] maildrop is locked by another session");
		} else {
			char esc[2 * sizeof(j->err)];
			log_error(s->sid, "proto=pop3 event=login result=error user=%s error=\"%s\"",
				  s->login, log_escape(esc, sizeof(esc), j->err, strlen(j->err)));
			pop3_reply(s, POP3_ERR, "[SYS/TEMP] unable to open maildrop");
		}
		return;
	}
	struct pop3_txn *t = xcalloc(1, sizeof(*t));
	(void)snprintf(t->user, sizeof(t->user), "%s", s->login);
	t->md = j->md;
	j->md = NULL;
	s->txn = t;
	size_t count;
	uint64_t octets;
	maildrop_stat(t->md, &count, &octets);
	log_info(s->sid, "proto=pop3 event=login result=ok user=%s messages=%zu octets=%llu", t->user,
		 count, (unsigned long long)octets);
	pop3_set_state(s, POP3_STATE_TRANSACTION);
	pop3_reply(s, POP3_OK, "%s's maildrop has %zu message%s (%llu octets)", t->user, count,
		   pop3_plural(count), (unsigned long long)octets);
}

static void update_done(struct pop3_session *s, struct pop3_job *j)
{
	if (j->rc < 0) {
		/* RFC 1939 6: -ERR when some deleted messages were not removed. */
		/* err may hold file names from the maildir, which other
		 * programs may have chosen: escaped like client text. */
		char esc[2 * sizeof(j->err)];
		log_error(s->sid, "proto=pop3 event=update result=error error=\"%s\"",
			  log_escape(esc, sizeof(esc), j->err, strlen(j->err)));
		pop3_reply(s, POP3_ERR, "[SYS/TEMP] some deleted messages not removed");
		pop3_close(s);
		return;
	}
	log_info(s->sid, "proto=pop3 event=update result=ok removed=%d left=%zu", j->rc, j->left);
	const char *host = s->env->cfg->hostname;
	if (j->left == 0)
		pop3_reply(s, POP3_OK, "%s POP3 server signing off (maildrop empty)", host);
	else
		pop3_reply(s, POP3_OK, "%s POP3 server signing off (%zu message%s left)", host,
			   j->left, pop3_plural(j->left));
	pop3_close(s);
}

static void job_done(void *arg)
{
	struct pop3_job *j = arg;
	struct pop3_session *s = j->s;
	KASSERT(s->job == j);
	s->job = NULL;
	if (session_is_dead(&s->core)) {
		/* The client went away meanwhile: an opened maildrop is
		 * closed without UPDATE by job_free. */
		job_free(j);
		(void)session_job_done(&s->core);
		return;
	}
	if (j->kind == JOB_OPEN)
		open_done(s, j);
	else
		update_done(s, j);
	job_free(j);
	session_process_input(&s->core);
}

void pop3_maildrop_open(struct pop3_session *s)
{
	KASSERT(s->job == NULL && s->txn == NULL);
	struct pop3_job *j = xcalloc(1, sizeof(*j));
	j->kind = JOB_OPEN;
	j->s = s;
	if (maildir_path(s->env->cfg->data_dir, s->login, j->path, sizeof(j->path)) != 0) {
		free(j);
		log_error(s->sid, "proto=pop3 event=login result=error user=%s error=\"bad path\"",
			  s->login);
		pop3_set_state(s, POP3_STATE_AUTHORIZATION);
		pop3_reply(s, POP3_ERR, "[SYS/PERM] no maildrop for this account");
		return;
	}
	pop3_set_state(s, POP3_STATE_LOGIN);
	s->job = j;
	worker_submit(s->env->workers, job_run, job_done, j);
}

void pop3_maildrop_update(struct pop3_session *s)
{
	KASSERT(s->job == NULL && s->txn != NULL);
	struct pop3_txn *t = s->txn;
	size_t deleted = maildrop_count(t->md);
	size_t left;
	uint64_t octets;
	maildrop_stat(t->md, &left, &octets);
	deleted -= left;
	log_info(s->sid, "proto=pop3 event=quit user=%s marked=%zu retrieved=%u left=%zu", t->user,
		 deleted, t->retrieved, left);
	/* RFC 1939 6: the reply comes after the removal. */
	struct pop3_job *j = xcalloc(1, sizeof(*j));
	j->kind = JOB_UPDATE;
	j->s = s;
	j->md = t->md;
	t->md = NULL;
	j->left = left;
	pop3_set_state(s, POP3_STATE_UPDATE);
	s->job = j;
	worker_submit(s->env->workers, job_run, job_done, j);
}
