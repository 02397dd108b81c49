/* pop2_session: one POP2 connection (RFC 937): greeting, the state
 * variable, the command table and its handlers, the reply writer, the
 * POP2 side of the session core's hooks (net/session.c: input loop,
 * reading on and off, deferred free after a job, shutdown, teardown), the
 * HELO login (on the shared login flow of auth/login: password check,
 * throttle, failure delay, log lines), the maildrop lock and UPDATE
 * on worker threads, and the RETR transfer of exactly the announced
 * number of octets under output backpressure. Parsing is pop2_parse.c.
 *
 * Error handling follows RFC 937 and UW ipop2d: a "-" reply to a bad,
 * unknown or out-of-sequence command ends the session; deletions made by
 * ACKD, and the seen flag of messages kept by ACKS, happen only when QUIT
 * is received, never on a dropped connection or timeout. POP2 has no TLS,
 * so HELO obeys plaintext_auth like USER/PASS. */
#include "pop2/pop2_session.h"

#include <errno.h>
#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth/authn.h"
#include "auth/login.h"
#include "config/config.h"
#include "core/alloc.h"
#include "core/id.h"
#include "core/kassert.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/worker.h"
#include "net/conn.h"
#include "net/linereader.h"
#include "net/session.h"
#include "pop2/pop2_parse.h"
#include "store/maildir.h"
#include "store/maildrop.h"

#define POP2_REPLY_MAX 512
#define POP2_USER_MAX 320
#define POP2_OUTPUT_HIGH (256 * 1024)
#define POP2_READ_CHUNK (64 * 1024)

/* RETR in progress: the message converted to CRLF lines, cut or padded
 * to the size announced by READ so that the client stays in step. */
struct pop2_xfer {
	int fd; /* owned */
	uint64_t left; /* octets still owed */
	bool prev_cr; /* last byte read was CR */
	bool at_bol; /* nothing read yet, or the last byte read was LF */
	char *in; /* owned, POP2_READ_CHUNK bytes */
	char *out; /* owned, 2 * POP2_READ_CHUNK bytes */
};

/* From a successful HELO to the end of the session: owns the lock. */
struct pop2_txn {
	char user[POP2_USER_MAX + 1];
	struct maildrop *md; /* owned */
	size_t *view; /* owned: index0 of each message of the folder */
	size_t view_count;
	uint32_t current; /* 1-based current message of the folder */
	unsigned retrieved;
	struct pop2_xfer *xfer; /* owned while XFER */
};

struct pop2_job {
	bool update; /* false: open */
	struct pop2_session *s; /* borrowed; outlives the job */
	char path[4096];
	struct maildrop *md; /* owned by the job while it exists */
	bool busy;
	int rc;
	char err[256];
};

struct pop2_session {
	char sid[ID_LEN + 1];
	struct pop2_env *env; /* borrowed */
	/* The shared skeleton (net/session): connection, line reader, list
	 * entry, deferred free. Owns the connection. */
	struct session core;
	struct conn *conn; /* borrowed: core.conn, for brevity */
	enum pop2_state state;
	char login[POP2_USER_MAX + 1]; /* the account HELO logged in, "" before */
	struct login *auth; /* owned: the HELO login flow, from HELO on */
	struct pop2_job *job; /* in flight on a worker */
	struct pop2_txn *txn; /* owned, NULL before login */
};

/* ---- state, replies, teardown ----------------------------------------- */

static const char *const state_names[POP2_STATE_COUNT] = {
	[POP2_STATE_AUTH] = "auth", [POP2_STATE_LOGIN] = "login", [POP2_STATE_MBOX] = "mbox",
	[POP2_STATE_ITEM] = "item", [POP2_STATE_XFER] = "xfer",	  [POP2_STATE_NEXT] = "next",
	[POP2_STATE_UPDATE] = "update", [POP2_STATE_DONE] = "done",
};

const char *pop2_state_name(enum pop2_state state)
{
	return state < POP2_STATE_COUNT ? state_names[state] : "?";
}

static void set_state(struct pop2_session *s, enum pop2_state state)
{
	if (s->state == state)
		return;
	log_debug(s->sid, "proto=pop2 event=state from=%s to=%s", pop2_state_name(s->state),
		  pop2_state_name(state));
	s->state = state;
	session_state_changed(&s->core);
}

static void pop2_close(struct pop2_session *s)
{
	session_close(&s->core);
}

/* The one reply writer. ind is the RFC 937 indicator: '+', '-', '#'
 * (message count) or '=' (message size). A '-' reply is logged and ends
 * the session. */
static void reply(struct pop2_session *s, char ind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void reply(struct pop2_session *s, char ind, const char *fmt, ...)
{
	char text[POP2_REPLY_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof(text) - 8, fmt, ap);
	va_end(ap);
	if (n < 0)
		text[0] = '\0';
	/* '+' and '-' are followed by a space, '#' and '=' by the number. */
	if (ind == '+' || ind == '-')
		conn_printf(s->conn, "%c %s\r\n", ind, text);
	else
		conn_printf(s->conn, "%c%s\r\n", ind, text);
	if (ind == '-') {
		char esc[256];
		log_info(s->sid, "proto=pop2 event=reply result=err state=%s text=\"%s\"",
			 pop2_state_name(s->state), log_escape(esc, sizeof(esc), text, strlen(text)));
		pop2_close(s);
	}
}

static void xfer_free(struct pop2_xfer **pp)
{
	struct pop2_xfer *x = *pp;
	if (x == NULL)
		return;
	if (x->fd >= 0)
		(void)close(x->fd);
	free(x->in);
	free(x->out);
	free(x);
	*pp = NULL;
}

static void txn_free(struct pop2_txn **pp)
{
	struct pop2_txn *t = *pp;
	if (t == NULL)
		return;
	xfer_free(&t->xfer);
	maildrop_close(&t->md); /* no UPDATE: nothing changes */
	free(t->view);
	free(t);
	*pp = NULL;
}

/* ---- maildrop jobs ------------------------------------------------------ */

static void job_run(void *arg)
{
	struct pop2_job *j = arg;
	if (!j->update) {
		j->rc = maildrop_open(j->path, &j->md, &j->busy, j->err, sizeof(j->err));
		return;
	}
	j->rc = maildrop_commit(j->md, j->err, sizeof(j->err));
	maildrop_close(&j->md); /* unlocked before the reply */
}

/* FOLD: the folder's messages are those not deleted (by ACKD) so far. */
static void select_inbox(struct pop2_txn *t)
{
	size_t n = maildrop_count(t->md);
	free(t->view);
	t->view = xcalloc(n > 0 ? n : 1, sizeof(*t->view));
	t->view_count = 0;
	for (size_t i = 0; i < n; i++)
		if (!maildrop_get(t->md, i)->deleted)
			t->view[t->view_count++] = i;
	t->current = 1;
}

static void open_done(struct pop2_session *s, struct pop2_job *j)
{
	if (j->rc != 0) {
		if (j->busy) {
			log_info(s->sid, "proto=pop2 event=login result=in-use user=%s", s->login);
			reply(s, '-', "mailbox in use by another session");
		} else {
			/* err may name maildir files: escaped like client text. */
			char esc[2 * sizeof(j->err)];
			log_error(s->sid, "proto=pop2 event=login result=error user=%s error=\"%s\"",
				  s->login, log_escape(esc, sizeof(esc), j->err, strlen(j->err)));
			reply(s, '-', "unable to open mailbox");
		}
		return;
	}
	struct pop2_txn *t = xcalloc(1, sizeof(*t));
	(void)snprintf(t->user, sizeof(t->user), "%s", s->login);
	t->md = j->md;
	j->md = NULL;
	s->txn = t;
	/* RFC 937: HELO selects the default mailbox and answers #nnn. */
	select_inbox(t);
	log_info(s->sid, "proto=pop2 event=login result=ok user=%s messages=%zu", t->user,
		 t->view_count);
	set_state(s, POP2_STATE_MBOX);
	reply(s, '#', "%zu messages in INBOX", t->view_count);
}

static void update_done(struct pop2_session *s, struct pop2_job *j)
{
	if (j->rc < 0) {
		char esc[2 * sizeof(j->err)];
		log_error(s->sid, "proto=pop2 event=update result=error error=\"%s\"",
			  log_escape(esc, sizeof(esc), j->err, strlen(j->err)));
		reply(s, '-', "some deleted messages not removed");
		return;
	}
	log_info(s->sid, "proto=pop2 event=update result=ok removed=%d", j->rc);
	reply(s, '+', "%s POP2 server signing off", s->env->cfg->hostname);
	pop2_close(s);
}

static void job_done(void *arg)
{
	struct pop2_job *j = arg;
	struct pop2_session *s = j->s;
	KASSERT(s->job == j);
	s->job = NULL;
	if (!session_is_dead(&s->core)) {
		if (j->update)
			update_done(s, j);
		else
			open_done(s, j);
	}
	maildrop_close(&j->md);
	free(j);
	if (session_job_done(&s->core))
		return; /* the connection was gone: freed */
	session_process_input(&s->core);
}

static void job_start(struct pop2_session *s, struct pop2_job *j, enum pop2_state state)
{
	j->s = s;
	s->job = j;
	set_state(s, state);
	worker_submit(s->env->workers, job_run, job_done, j);
}

/* ---- HELO ----------------------------------------------------------------- */

static bool plaintext_allowed(const struct pop2_session *s)
{
	/* POP2 has no TLS: only "always", or loopback under the default. */
	return authn_plaintext_allowed(s->env->cfg->plaintext_auth, false,
				       conn_is_loopback(s->conn));
}

/* The end of the HELO login, after the throttle's delay for a failure.
 * RFC 937 has one error reply ("-", which also ends the session), so a
 * refusal by the throttle differs only in its text. */
static void helo_done(void *arg, enum login_outcome outcome)
{
	struct pop2_session *s = arg;
	switch (outcome) {
	case LOGIN_ABANDONED:
		(void)session_job_done(&s->core); /* the connection is gone */
		return;
	case LOGIN_FAILED:
		reply(s, '-', "invalid user name or password");
		return;
	case LOGIN_TEMPFAIL:
		reply(s, '-', "temporary authentication failure, try again later");
		return;
	case LOGIN_OK:
		break;
	}
	(void)snprintf(s->login, sizeof(s->login), "%s", login_user(s->auth));
	struct pop2_job *j = xcalloc(1, sizeof(*j));
	if (maildir_path(s->env->cfg->data_dir, s->login, j->path, sizeof(j->path)) != 0) {
		free(j);
		reply(s, '-', "no mailbox for this account");
		return;
	}
	job_start(s, j, POP2_STATE_LOGIN);
}

static void cmd_helo(struct pop2_session *s, const struct pop2_command *cmd)
{
	struct word user, pw;
	char *secret = (char *)cmd->rest;
	size_t secret_len = cmd->rest_len;
	if (pop2_parse_helo(cmd, &user, &pw) != 0) {
		OPENSSL_cleanse(secret, secret_len);
		reply(s, '-', "missing user or password");
		return;
	}
	if (!plaintext_allowed(s)) {
		OPENSSL_cleanse(secret, secret_len);
		reply(s, '-', "plaintext login disallowed on this connection");
		return;
	}
	if (s->auth == NULL) {
		const struct login_params p = {
			.sid = s->sid,
			.proto = "pop2",
			.peer = conn_peer(s->conn),
			.peer_text = conn_peer_text(s->conn),
			.base = s->env->base,
			.auth_workers = s->env->auth_workers,
			.authn = s->env->authn,
			.users = &s->env->users,
			.cfg = &s->env->cfg,
			.done = helo_done,
			.arg = s,
		};
		s->auth = login_new(&p);
	}
	set_state(s, POP2_STATE_LOGIN);
	/* The login flow copies the password before returning. */
	login_password(s->auth, "HELO", user.p, user.len, pw.p, pw.len);
	OPENSSL_cleanse(secret, secret_len);
}

/* ---- mailbox commands ------------------------------------------------------ */

static void cmd_fold(struct pop2_session *s, const struct pop2_command *cmd)
{
	struct pop2_txn *t = s->txn;
	const struct word *name = &cmd->argv[0];
	set_state(s, POP2_STATE_MBOX);
	if (name->len == 5 && strncasecmp(name->p, "INBOX", 5) == 0) {
		select_inbox(t);
		reply(s, '#', "%zu messages in INBOX", t->view_count);
		return;
	}
	/* Only INBOX exists: another folder is an empty one. */
	t->view_count = 0;
	t->current = 1;
	reply(s, '#', "0 messages in that folder");
}

/* Answers =ccc for the current message (RFC 937 READ, ACKS, ACKD, NACK):
 * ITEM when it exists, MBOX with "=0" when there is none. */
static void read_current(struct pop2_session *s)
{
	struct pop2_txn *t = s->txn;
	if (t->current > t->view_count) {
		set_state(s, POP2_STATE_MBOX);
		reply(s, '=', "0 no more messages");
		return;
	}
	const struct maildrop_msg *m = maildrop_get(t->md, t->view[t->current - 1]);
	if (m->deleted) {
		set_state(s, POP2_STATE_MBOX);
		reply(s, '=', "0 message %u is deleted", t->current);
		return;
	}
	set_state(s, POP2_STATE_ITEM);
	reply(s, '=', "%llu characters in message %u", (unsigned long long)m->size, t->current);
}

static void cmd_read(struct pop2_session *s, const struct pop2_command *cmd)
{
	if (cmd->argc == 1) {
		uint32_t n;
		if (pop2_parse_msgno(cmd->argv[0].p, cmd->argv[0].len, &n) != 0) {
			reply(s, '-', "invalid message number");
			return;
		}
		s->txn->current = n;
	}
	read_current(s);
}

static bool xfer_pump(struct pop2_session *s);

static void cmd_retr(struct pop2_session *s, const struct pop2_command *cmd)
{
	(void)cmd;
	struct pop2_txn *t = s->txn;
	size_t i = t->view[t->current - 1];
	int fd = maildrop_open_msg(t->md, i);
	if (fd < 0) {
		log_error(s->sid, "proto=pop2 event=retr result=error msg=%u errno=%d", t->current,
			  errno);
		reply(s, '-', "cannot read message %u", t->current);
		return;
	}
	struct pop2_xfer *x = xcalloc(1, sizeof(*x));
	x->fd = fd;
	x->left = maildrop_get(t->md, i)->size;
	x->at_bol = true;
	x->in = xmalloc(POP2_READ_CHUNK);
	x->out = xmalloc(2 * POP2_READ_CHUNK);
	t->xfer = x;
	t->retrieved++;
	set_state(s, POP2_STATE_XFER);
	(void)xfer_pump(s);
}

/* Copies in to out turning each LF not preceded by CR into CR LF, which
 * is how the maildrop counts sizes. Returns the bytes written. */
static size_t to_crlf(bool *prev_cr, const char *in, size_t len, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\n' && !*prev_cr)
			out[o++] = '\r';
		out[o++] = in[i];
		*prev_cr = in[i] == '\r';
	}
	return o;
}

/* RETR sends exactly the octets READ announced and nothing after them
 * (RFC 937: the client counts). Returns true when the transfer is over. */
static bool xfer_pump(struct pop2_session *s)
{
	struct pop2_txn *t = s->txn;
	struct pop2_xfer *x = t->xfer;
	while (x->left > 0 && conn_output_len(s->conn) < POP2_OUTPUT_HIGH &&
	       !conn_is_closing(s->conn)) {
		ssize_t n;
		do
			n = read(x->fd, x->in, POP2_READ_CHUNK);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			log_error(s->sid, "proto=pop2 event=retr result=error reason=read errno=%d",
				  errno);
			xfer_free(&t->xfer);
			pop2_close(s);
			return true;
		}
		size_t out;
		if (n == 0 && !x->at_bol) {
			/* An unterminated last line ends with the line end that
			 * the maildrop's size counts for it (as POP3 RETR sends):
			 * CR LF, or only the LF after a final lone CR. */
			const char *eol = x->prev_cr ? "\n" : "\r\n";
			out = strlen(eol) < x->left ? strlen(eol) : (size_t)x->left;
			memcpy(x->out, eol, out);
			x->at_bol = true;
		} else if (n == 0) {
			/* The file is shorter than its size said: pad with
			 * spaces rather than leave the client waiting. */
			log_warn(s->sid, "proto=pop2 event=retr result=short missing=%llu",
				 (unsigned long long)x->left);
			out = x->left < POP2_READ_CHUNK ? (size_t)x->left : POP2_READ_CHUNK;
			memset(x->out, ' ', out);
		} else {
			x->at_bol = x->in[n - 1] == '\n';
			out = to_crlf(&x->prev_cr, x->in, (size_t)n, x->out);
			if (out > x->left) {
				log_warn(s->sid, "proto=pop2 event=retr result=long");
				out = (size_t)x->left;
			}
		}
		conn_write(s->conn, x->out, out);
		x->left -= out;
	}
	if (x->left > 0)
		return false;
	xfer_free(&t->xfer);
	set_state(s, POP2_STATE_NEXT);
	return true;
}

static void cmd_acks(struct pop2_session *s, const struct pop2_command *cmd)
{
	(void)cmd;
	struct pop2_txn *t = s->txn;
	/* Received and kept: seen, so QUIT gives it the S flag as POP3 RETR
	 * does (never without QUIT, like the deletions). */
	maildrop_mark_seen(t->md, t->view[t->current - 1]);
	t->current++;
	read_current(s);
}

static void cmd_ackd(struct pop2_session *s, const struct pop2_command *cmd)
{
	(void)cmd;
	struct pop2_txn *t = s->txn;
	/* Marked now, removed at QUIT (never without it). */
	maildrop_mark_deleted(t->md, t->view[t->current - 1], true);
	t->current++;
	read_current(s);
}

static void cmd_nack(struct pop2_session *s, const struct pop2_command *cmd)
{
	(void)cmd;
	/* Not received properly: the message stays current and is kept
	 * (as UW ipop2d does), so the client may RETR it again. */
	read_current(s);
}

static void cmd_quit(struct pop2_session *s, const struct pop2_command *cmd)
{
	(void)cmd;
	if (s->txn == NULL) {
		reply(s, '+', "%s POP2 server signing off", s->env->cfg->hostname);
		pop2_close(s);
		return;
	}
	struct pop2_job *j = xcalloc(1, sizeof(*j));
	j->update = true;
	j->md = s->txn->md;
	s->txn->md = NULL;
	job_start(s, j, POP2_STATE_UPDATE);
}

/* ---- the command table ----------------------------------------------------- */

typedef void (*pop2_cmd_fn)(struct pop2_session *s, const struct pop2_command *cmd);

#define ST(x) (1u << POP2_STATE_##x)

struct pop2_cmd {
	pop2_cmd_fn fn;
	unsigned states;
};

/* RFC 937 state diagram: which command is valid in which state. */
static const struct pop2_cmd cmds[POP2_VERB_COUNT] = {
	[POP2_VERB_HELO] = {cmd_helo, ST(AUTH)},
	[POP2_VERB_FOLD] = {cmd_fold, ST(MBOX) | ST(ITEM)},
	[POP2_VERB_READ] = {cmd_read, ST(MBOX) | ST(ITEM)},
	[POP2_VERB_RETR] = {cmd_retr, ST(ITEM)},
	[POP2_VERB_ACKS] = {cmd_acks, ST(NEXT)},
	[POP2_VERB_ACKD] = {cmd_ackd, ST(NEXT)},
	[POP2_VERB_NACK] = {cmd_nack, ST(NEXT)},
	[POP2_VERB_QUIT] = {cmd_quit, ST(AUTH) | ST(MBOX) | ST(ITEM)},
};

enum pop2_check pop2_cmd_check(enum pop2_state state, const struct pop2_command *cmd)
{
	if (cmd->verb == POP2_VERB_UNKNOWN || cmd->verb >= POP2_VERB_COUNT)
		return POP2_CHECK_UNKNOWN;
	if (state >= POP2_STATE_COUNT || (cmds[cmd->verb].states & (1u << state)) == 0)
		return POP2_CHECK_STATE;
	if (!pop2_args_ok(cmd))
		return POP2_CHECK_ARGS;
	return POP2_CHECK_OK;
}

static void dispatch(struct pop2_session *s, const char *line, size_t len)
{
	struct pop2_command cmd;
	pop2_parse_command(line, len, &cmd);
	switch (pop2_cmd_check(s->state, &cmd)) {
	case POP2_CHECK_UNKNOWN:
		reply(s, '-', "unknown command");
		return;
	case POP2_CHECK_STATE:
		reply(s, '-', "%s out of sequence", pop2_verb_name(cmd.verb));
		return;
	case POP2_CHECK_ARGS:
		reply(s, '-', "bad arguments to %s", pop2_verb_name(cmd.verb));
		return;
	case POP2_CHECK_OK:
		break;
	}
	log_debug(s->sid, "proto=pop2 event=command verb=%s", pop2_verb_name(cmd.verb));
	cmds[cmd.verb].fn(s, &cmd);
}

/* ---- the session core's hooks (net/session.h) --------------------------- */

/* LOGIN and UPDATE wait for the login flow or a worker: no reads, so no
 * idle timeout either. XFER sends a message: no reads, deadlines run. */
static enum session_mode ops_mode(void *owner)
{
	switch (((const struct pop2_session *)owner)->state) {
	case POP2_STATE_AUTH:
	case POP2_STATE_MBOX:
	case POP2_STATE_ITEM:
	case POP2_STATE_NEXT:
		return SESSION_MODE_LINES;
	case POP2_STATE_LOGIN:
	case POP2_STATE_UPDATE:
		return SESSION_MODE_WORKING;
	case POP2_STATE_XFER:
		return SESSION_MODE_SENDING;
	default:
		return SESSION_MODE_HOLD;
	}
}

static void ops_enter_closed(void *owner)
{
	set_state(owner, POP2_STATE_DONE);
}

/* HELO carries the password, accepted or not: every line is wiped once
 * used (no line_is_secret hook). */
static void ops_on_line(void *owner, enum linereader_status st, const char *line, size_t len)
{
	struct pop2_session *s = owner;
	if (st == LINEREADER_TOO_LONG)
		reply(s, '-', "command line too long");
	else if (memchr(line, '\0', len) != NULL)
		reply(s, '-', "NUL character in command");
	else
		dispatch(s, line, len);
}

static void ops_on_drained(void *owner)
{
	struct pop2_session *s = owner;
	if (s->state == POP2_STATE_XFER)
		(void)xfer_pump(s);
}

static void ops_on_timeout(void *owner)
{
	struct pop2_session *s = owner;
	/* Autologout: no UPDATE, ACKD deletions are dropped. */
	log_info(s->sid, "proto=pop2 event=timeout state=%s", pop2_state_name(s->state));
	if (s->state != POP2_STATE_XFER)
		conn_printf(s->conn, "- autologout; idle for too long\r\n");
}

/* A maildrop job or a password check points at s. */
static bool ops_is_busy(const void *owner)
{
	const struct pop2_session *s = owner;
	return s->job != NULL || login_is_busy(s->auth);
}

/* The connection is gone: a job or password check in flight frees the
 * session when it returns (job_done, helo_done). */
static bool ops_abandon(void *owner)
{
	struct pop2_session *s = owner;
	return login_abandon(s->auth) || s->job != NULL;
}

static void ops_goodbye(void *owner)
{
	struct pop2_session *s = owner;
	/* A delayed login-failure reply must not follow the goodbye. */
	login_free(&s->auth);
	/* A '-' reply ends the session (RFC 937); nothing is deleted. */
	conn_printf(s->conn, "- shutting down, try again later\r\n");
}

static const char *ops_state_name(const void *owner)
{
	return pop2_state_name(((const struct pop2_session *)owner)->state);
}

static void ops_end_fields(const void *owner, char *out, size_t size)
{
	const struct pop2_session *s = owner;
	(void)snprintf(out, size, "user=%s retrieved=%u", s->txn ? s->txn->user : "-",
		       s->txn ? s->txn->retrieved : 0);
}

static void ops_release(void *owner)
{
	struct pop2_session *s = owner;
	KASSERT(s->job == NULL && !login_is_busy(s->auth));
	login_free(&s->auth);
	txn_free(&s->txn);
}

static const struct session_ops pop2_ops = {
	.proto = "pop2",
	.mode = ops_mode,
	.on_line = ops_on_line,
	.on_drained = ops_on_drained,
	.on_timeout = ops_on_timeout,
	.is_busy = ops_is_busy,
	.abandon = ops_abandon,
	.goodbye = ops_goodbye,
	.enter_closed = ops_enter_closed,
	.state_name = ops_state_name,
	.end_fields = ops_end_fields,
	.release = ops_release,
};

void pop2_session_start(struct pop2_env *env, int fd, const struct sockaddr *peer,
			socklen_t peer_len, bool allowed)
{
	metrics_connection(METRICS_LISTENER_POP2);
	struct pop2_session *s = xcalloc(1, sizeof(*s));
	id_new(s->sid);
	s->env = env;
	s->state = POP2_STATE_AUTH;
	const struct session_params p = {
		.ops = &pop2_ops,
		.owner = s,
		.sid = s->sid,
		.base = env->base,
		.fd = fd,
		.peer = peer,
		.peer_len = peer_len,
		.list = &env->sessions,
		.live = &env->live_sessions,
		.limits = allowed ? env->limits : NULL,
		.listener = METRICS_LISTENER_POP2,
		.line_max = POP2_CMD_LINE_MAX,
		.output_high = POP2_OUTPUT_HIGH,
	};
	session_start(&s->core, &p);
	s->conn = s->core.conn;
	const struct config *cfg = env->cfg;
	log_info(s->sid, "proto=pop2 event=connect client=%s port=%u loop=%u",
		 conn_peer_text(s->conn), conn_local_port(s->conn), env->loop_index);
	if (!allowed) {
		log_info(s->sid, "proto=pop2 event=refused reason=session-limit");
		reply(s, '-', "too many connections");
		return;
	}
	session_set_deadlines(&s->core, cfg->pop3_timeout_ms, 0);
	/* RFC 937: "+ POP2 host server ready"; nothing may come between the
	 * '+' and "POP2" (UW ipop2d notes clients that check). */
	reply(s, '+', "POP2 %s server ready (konvert)", cfg->hostname);
}

void pop2_shutdown(struct pop2_env *env)
{
	session_shutdown_all(env->sessions);
}

void pop2_free_all(struct pop2_env *env)
{
	session_free_all(&env->sessions);
}
