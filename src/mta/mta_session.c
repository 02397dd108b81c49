/* mta_session: drives one outbound SMTP connection through greeting,
 * EHLO (HELO fallback), STARTTLS, AUTH and one transaction per job, with
 * or without PIPELINING, and turns every reply into per-recipient
 * outcomes. It owns no socket and no file: writes go through mta_io and
 * message bytes come from the job's read callback. It must never free
 * itself: session_done is always the last thing it does in a call. */
#include "mta/mta_session.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "proto/base64.h"
#include "proto/dot.h"

/* The body stops being produced while this much output waits. */
#define MTA_OUTPUT_HIGH (256 * 1024)
#define MTA_BODY_CHUNK (64 * 1024)
/* Longest command line we build (RFC 5321 4.5.3.1.4 allows 512 plus
 * extension parameters; an AUTH PLAIN line may be longer). */
#define MTA_CMD_MAX 2048

enum auth_step { AUTH_NONE, AUTH_PLAIN_SENT, AUTH_LOGIN_USER, AUTH_LOGIN_PASS };

struct mta_session {
	struct mta_options opt; /* strings borrowed from the owner */
	struct mta_io io;
	mta_job_done_fn job_done;
	mta_session_done_fn session_done;
	void *arg;
	enum mta_state state;
	struct mta_caps caps;
	bool tls;
	bool finishing; /* no more jobs will be added */
	bool failed; /* session_done(ok=false) once QUIT is answered */
	bool fail_temp;
	char fail_reason[MTA_REPLY_MAX];
	enum auth_step auth;
	struct mta_job **jobs; /* borrowed jobs, FIFO */
	size_t job_head, job_count, job_cap;
	struct mta_job *cur; /* the job in a transaction, or NULL */
	bool discard_data; /* 354 with no recipient accepted: send "." only */
	struct dot_encoder enc;
	char *chunk; /* owned, MTA_BODY_CHUNK */
	char *wire; /* owned, 2 * MTA_BODY_CHUNK + 8 */
};

static const char *const state_names[MTA_STATE_COUNT] = {
	[MTA_STATE_GREETING] = "greeting", [MTA_STATE_EHLO] = "ehlo",
	[MTA_STATE_HELO] = "helo",	   [MTA_STATE_STARTTLS] = "starttls",
	[MTA_STATE_TLS] = "tls",	   [MTA_STATE_AUTH] = "auth",
	[MTA_STATE_READY] = "ready",	   [MTA_STATE_MAIL] = "mail",
	[MTA_STATE_BODY] = "body",	   [MTA_STATE_DOT] = "dot",
	[MTA_STATE_RSET] = "rset",	   [MTA_STATE_QUIT] = "quit",
	[MTA_STATE_DONE] = "done",
};

const char *mta_state_name(enum mta_state st)
{
	return st < MTA_STATE_COUNT ? state_names[st] : "?";
}

static void set_state(struct mta_session *s, enum mta_state st)
{
	s->state = st;
}

static void send_line(struct mta_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void send_line(struct mta_session *s, const char *fmt, ...)
{
	char buf[MTA_CMD_MAX + 2];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	KASSERT(n >= 0 && (size_t)n < sizeof(buf) - 2);
	buf[n++] = '\r';
	buf[n++] = '\n';
	s->io.write(s->io.ctx, buf, (size_t)n);
	OPENSSL_cleanse(buf, sizeof(buf)); /* AUTH lines carry secrets */
}

static bool is_2xx(int code)
{
	return code >= 200 && code < 300;
}

static enum mta_rcpt_outcome outcome_of(int code)
{
	if (is_2xx(code))
		return MTA_RCPT_DELIVERED;
	return code >= 500 ? MTA_RCPT_PERMFAIL : MTA_RCPT_TEMPFAIL;
}

static void set_result(struct mta_rcpt_result *r, enum mta_rcpt_outcome o, int code,
		       const char *text)
{
	r->outcome = o;
	r->code = code;
	(void)snprintf(r->reply, sizeof(r->reply), "%s", text);
}

/* ---- job queue ---- */

static struct mta_job *peek_job(struct mta_session *s)
{
	return s->job_head < s->job_count ? s->jobs[s->job_head] : NULL;
}

static void pop_job(struct mta_session *s)
{
	KASSERT(s->job_head < s->job_count);
	s->job_head++;
}

/* Every recipient of job still open gets outcome o with text. */
static void settle_open(struct mta_job *job, enum mta_rcpt_outcome o, int code, const char *text)
{
	for (size_t i = 0; i < job->rcpt_count; i++)
		if (job->results[i].outcome == MTA_RCPT_UNTRIED)
			set_result(&job->results[i], o, code, text);
}

static void finish_job(struct mta_session *s)
{
	struct mta_job *job = s->cur;
	s->cur = NULL;
	if (job != NULL)
		s->job_done(s->arg, job);
}

/* Ends the session: every job not finished yet is handed back untried
 * with reason, then session_done. The caller returns at once after. */
static void end_session(struct mta_session *s, bool ok, bool temp, const char *reason)
{
	set_state(s, MTA_STATE_DONE);
	if (s->cur != NULL) {
		settle_open(s->cur, MTA_RCPT_TEMPFAIL, 0, reason);
		finish_job(s);
	}
	struct mta_job *job;
	while ((job = peek_job(s)) != NULL) {
		pop_job(s);
		for (size_t i = 0; i < job->rcpt_count; i++)
			if (job->results[i].outcome == MTA_RCPT_UNTRIED)
				(void)snprintf(job->results[i].reply, sizeof(job->results[i].reply),
					       "%s", reason);
		s->job_done(s->arg, job);
	}
	s->session_done(s->arg, ok, temp, reason);
}

/* A policy or protocol failure while the connection still works: say
 * QUIT, then end the session with reason once answered. */
static void fail_politely(struct mta_session *s, bool temp, const char *reason)
{
	s->failed = true;
	s->fail_temp = temp;
	(void)snprintf(s->fail_reason, sizeof(s->fail_reason), "%s", reason);
	if (s->cur != NULL) {
		settle_open(s->cur, temp ? MTA_RCPT_TEMPFAIL : MTA_RCPT_PERMFAIL, 0, reason);
		finish_job(s);
	}
	send_line(s, "QUIT");
	set_state(s, MTA_STATE_QUIT);
}

/* ---- transaction ---- */

static void next_job(struct mta_session *s);

/* Every command line of the job fits MTA_CMD_MAX (queue files may hold
 * longer values than SMTP ever accepted: never abort on them). */
static bool job_lines_fit(const struct mta_job *job)
{
	const size_t room = MTA_CMD_MAX - 128; /* verbs, SIZE=, BODY=, SMTPUTF8 */
	size_t mail = strlen(job->sender) +
		      (job->dsn_mail_params != NULL ? strlen(job->dsn_mail_params) : 0);
	if (mail > room)
		return false;
	for (size_t i = 0; i < job->rcpt_count; i++) {
		size_t n = strlen(job->rcpts[i]);
		if (job->rcpt_dsn_params != NULL && job->rcpt_dsn_params[i] != NULL)
			n += strlen(job->rcpt_dsn_params[i]);
		if (n > room)
			return false;
	}
	return true;
}

static bool job_fits(struct mta_session *s, struct mta_job *job)
{
	const char *why = NULL;
	char buf[MTA_REPLY_MAX];
	if (!job_lines_fit(job)) {
		why = "501 5.5.4 an address or DSN parameter is too long for an SMTP command";
	} else if (s->caps.size_max > 0 && job->size > s->caps.size_max) {
		/* RFC 1870 6: do not send what the server said it refuses. */
		(void)snprintf(buf, sizeof(buf),
			       "552 5.3.4 message size %llu exceeds the limit the server announced (%llu)",
			       (unsigned long long)job->size, (unsigned long long)s->caps.size_max);
		why = buf;
	} else if (job->requiretls && (!s->caps.requiretls || !mta_session_is_tls(s))) {
		/* RFC 8689 4.2.1: try another MX; the owner bounces when none
		 * offers it. */
		settle_open(job, MTA_RCPT_TEMPFAIL, 0,
			    "550 5.7.30 REQUIRETLS support required: the server does not offer "
			    "REQUIRETLS");
		return false;
	} else if (job->smtputf8 && !s->caps.smtputf8) {
		/* RFC 6531 3.4: no downgrade of UTF-8 addresses. */
		why = "553 5.6.7 the message needs SMTPUTF8, which the server does not offer";
	} else if (job->body_8bit && !s->caps.eightbitmime) {
		/* RFC 6152 3: convert to 7 bit where possible, else bounce. */
		if (job->downgrade != NULL &&
		    job->downgrade(job->downgrade_arg, job, buf, sizeof(buf)) == 0 && !job->body_8bit)
			return true;
		why = job->downgrade != NULL ? buf
					     : "554 5.6.3 the message has 8-bit content and the "
					       "server does not offer 8BITMIME";
	}
	if (why == NULL)
		return true;
	settle_open(job, MTA_RCPT_PERMFAIL, 0, why);
	return false;
}

static void send_mail(struct mta_session *s, struct mta_job *job)
{
	char params[MTA_CMD_MAX];
	size_t n = 0;
	params[0] = '\0';
#define ADD(...)                                                                               \
	do {                                                                                   \
		int k = snprintf(params + n, sizeof(params) - n, __VA_ARGS__);                \
		if (k > 0 && (size_t)k < sizeof(params) - n)                                   \
			n += (size_t)k;                                                        \
	} while (0)
	if (s->caps.size)
		ADD(" SIZE=%llu", (unsigned long long)job->size);
	if (job->body_8bit)
		ADD(" BODY=8BITMIME");
	if (job->smtputf8)
		ADD(" SMTPUTF8");
	if (job->requiretls)
		ADD(" REQUIRETLS");
	if (s->caps.dsn && job->dsn_mail_params != NULL && job->dsn_mail_params[0] != '\0')
		ADD(" %s", job->dsn_mail_params);
#undef ADD
	send_line(s, "MAIL FROM:<%s>%s", job->sender, params);
}

static void send_rcpt(struct mta_session *s, struct mta_job *job, size_t i)
{
	const char *dsn = job->rcpt_dsn_params != NULL ? job->rcpt_dsn_params[i] : NULL;
	if (s->caps.dsn && dsn != NULL && dsn[0] != '\0')
		send_line(s, "RCPT TO:<%s> %s", job->rcpts[i], dsn);
	else
		send_line(s, "RCPT TO:<%s>", job->rcpts[i]);
}

static bool use_pipelining(const struct mta_session *s)
{
	return s->opt.pipelining && s->caps.pipelining;
}

static void start_job(struct mta_session *s, struct mta_job *job)
{
	s->cur = job;
	job->sent = 0;
	job->accepted = 0;
	job->next_rcpt_reply = 0;
	job->mail_ok = false;
	job->data_ok = false;
	job->maybe_delivered = false;
	job->peer_dsn = s->caps.dsn;
	s->discard_data = false;
	set_state(s, MTA_STATE_MAIL);
	send_mail(s, job);
	if (use_pipelining(s)) {
		/* RFC 2920 3.1: MAIL, every RCPT and DATA in one go; the
		 * replies come back in the same order. */
		for (size_t i = 0; i < job->rcpt_count; i++)
			send_rcpt(s, job, i);
		send_line(s, "DATA");
		job->replies_pending = job->rcpt_count + 2;
	} else {
		job->replies_pending = 1;
	}
}

static void next_job(struct mta_session *s)
{
	for (;;) {
		struct mta_job *job = peek_job(s);
		if (job == NULL)
			break;
		pop_job(s);
		if (job->rcpt_count == 0 || !job_fits(s, job)) {
			s->cur = job;
			finish_job(s);
			continue;
		}
		start_job(s, job);
		return;
	}
	set_state(s, MTA_STATE_READY);
	if (s->finishing) {
		send_line(s, "QUIT");
		set_state(s, MTA_STATE_QUIT);
	}
}

/* After the transaction failed or ended without data: RSET, then on. */
static void reset_then_next(struct mta_session *s)
{
	finish_job(s);
	send_line(s, "RSET");
	set_state(s, MTA_STATE_RSET);
}

/* Streams the body until the output is full or the message is sent. */
static void pump_body(struct mta_session *s)
{
	struct mta_job *job = s->cur;
	while (s->state == MTA_STATE_BODY) {
		if (s->io.output_len != NULL && s->io.output_len(s->io.ctx) > MTA_OUTPUT_HIGH)
			return; /* mta_session_drained resumes */
		ssize_t got = 0;
		if (job->sent < job->size) {
			uint64_t left = job->size - job->sent;
			size_t want = left < MTA_BODY_CHUNK ? (size_t)left : MTA_BODY_CHUNK;
			got = job->read(job->read_arg, job->sent, s->chunk, want);
			if (got < 0 || (got == 0 && job->sent < job->size)) {
				/* The queue file went bad under us: the message
				 * cannot be completed, and a "." now would send
				 * a truncated copy. Drop the connection. */
				mta_session_lost(s, "451 4.3.0 cannot read the queued message");
				return;
			}
		}
		if (got > 0) {
			size_t n = dot_encoder_feed(&s->enc, s->chunk, (size_t)got, s->wire);
			s->io.write(s->io.ctx, s->wire, n);
			job->sent += (uint64_t)got;
			continue;
		}
		size_t n = dot_encoder_finish(&s->enc, s->wire);
		s->io.write(s->io.ctx, s->wire, n);
		set_state(s, MTA_STATE_DOT);
	}
}

/* One reply during MAIL/RCPT/DATA, pipelined or not. */
static void on_txn_reply(struct mta_session *s, const struct mta_reply *r)
{
	struct mta_job *job = s->cur;
	KASSERT(job != NULL);
	bool pipelined = use_pipelining(s);
	/* Which command this reply answers: 0 MAIL, 1..n RCPT, n+1 DATA. */
	size_t idx = job->next_rcpt_reply++;
	if (job->replies_pending > 0)
		job->replies_pending--;
	if (idx == 0) {
		job->mail_ok = is_2xx(r->code);
		if (!job->mail_ok)
			settle_open(job, outcome_of(r->code), r->code, r->text);
		if (!pipelined) {
			if (!job->mail_ok) {
				finish_job(s);
				next_job(s);
				return;
			}
			send_rcpt(s, job, 0);
			job->replies_pending = 1;
		}
		return;
	}
	if (idx <= job->rcpt_count) {
		struct mta_rcpt_result *res = &job->results[idx - 1];
		if (job->mail_ok) {
			if (is_2xx(r->code)) {
				job->accepted++;
				res->code = r->code; /* decided by the final reply */
			} else {
				set_result(res, outcome_of(r->code), r->code, r->text);
			}
		}
		if (!pipelined) {
			if (idx < job->rcpt_count) {
				send_rcpt(s, job, idx);
				job->replies_pending = 1;
			} else if (job->accepted > 0) {
				send_line(s, "DATA");
				job->replies_pending = 1;
			} else {
				reset_then_next(s);
			}
		}
		return;
	}
	/* The DATA reply. */
	if (r->code == 354) {
		dot_encoder_init(&s->enc);
		if (!job->mail_ok || job->accepted == 0) {
			/* RFC 2920 3.1: DATA was accepted although nobody can
			 * receive the message: send an empty one and reset. */
			s->discard_data = true;
			s->io.write(s->io.ctx, ".\r\n", 3);
			set_state(s, MTA_STATE_DOT);
			return;
		}
		job->data_ok = true;
		set_state(s, MTA_STATE_BODY);
		pump_body(s);
		return;
	}
	if (job->mail_ok && job->accepted > 0)
		settle_open(job, outcome_of(r->code), r->code, r->text);
	reset_then_next(s);
}

static void on_final_reply(struct mta_session *s, const struct mta_reply *r)
{
	struct mta_job *job = s->cur;
	if (s->discard_data) {
		reset_then_next(s);
		return;
	}
	/* Recipients whose RCPT was accepted take the final reply. */
	settle_open(job, outcome_of(r->code), r->code, r->text);
	finish_job(s);
	next_job(s);
}

/* ---- greeting, EHLO, STARTTLS, AUTH ---- */

static void after_hello(struct mta_session *s);

static void send_ehlo(struct mta_session *s)
{
	memset(&s->caps, 0, sizeof(s->caps));
	send_line(s, "EHLO %s", s->opt.helo);
	set_state(s, MTA_STATE_EHLO);
}

static void start_auth(struct mta_session *s)
{
	if (!s->caps.auth_plain && !s->caps.auth_login) {
		fail_politely(s, true, "the server offers no AUTH PLAIN or LOGIN for smarthost_auth");
		return;
	}
	set_state(s, MTA_STATE_AUTH);
	if (s->caps.auth_plain) {
		/* RFC 4616: authzid NUL authcid NUL passwd. */
		char raw[600], b64[820];
		int n = snprintf(raw, sizeof(raw), "%c%s%c%s", 0, s->opt.auth_user, 0,
				 s->opt.auth_pass);
		if (n < 0 || (size_t)n >= sizeof(raw) ||
		    base64_encode(raw, (size_t)n, b64, sizeof(b64)) < 0) {
			OPENSSL_cleanse(raw, sizeof(raw));
			fail_politely(s, true, "smarthost_auth credentials are too long");
			return;
		}
		OPENSSL_cleanse(raw, sizeof(raw));
		s->auth = AUTH_PLAIN_SENT;
		send_line(s, "AUTH PLAIN %s", b64);
		OPENSSL_cleanse(b64, sizeof(b64));
		return;
	}
	s->auth = AUTH_LOGIN_USER;
	send_line(s, "AUTH LOGIN");
}

static void send_b64(struct mta_session *s, const char *text)
{
	char b64[820];
	if (base64_encode(text, strlen(text), b64, sizeof(b64)) < 0) {
		fail_politely(s, true, "smarthost_auth credentials are too long");
		return;
	}
	send_line(s, "%s", b64);
	OPENSSL_cleanse(b64, sizeof(b64));
}

static void on_auth_reply(struct mta_session *s, const struct mta_reply *r)
{
	if (r->code == 235) {
		s->auth = AUTH_NONE;
		next_job(s);
		return;
	}
	if (r->code == 334 && s->auth == AUTH_LOGIN_USER) {
		s->auth = AUTH_LOGIN_PASS;
		send_b64(s, s->opt.auth_user);
		return;
	}
	if (r->code == 334 && s->auth == AUTH_LOGIN_PASS) {
		s->auth = AUTH_NONE;
		send_b64(s, s->opt.auth_pass);
		return;
	}
	char why[MTA_REPLY_MAX];
	(void)snprintf(why, sizeof(why), "authentication at the smarthost failed: %s", r->text);
	/* A wrong password is the administrator's to fix: defer, never
	 * bounce the users' mail for it (as Postfix does). */
	fail_politely(s, true, why);
}

/* EHLO or HELO succeeded: TLS, then AUTH, then mail. */
static void after_hello(struct mta_session *s)
{
	if (!s->tls && s->opt.tls != MTA_TLS_OFF && s->caps.starttls) {
		send_line(s, "STARTTLS");
		set_state(s, MTA_STATE_STARTTLS);
		return;
	}
	if (!s->tls && s->opt.tls == MTA_TLS_REQUIRE) {
		fail_politely(s, true, "relay_tls = require and the server does not offer STARTTLS");
		return;
	}
	if (s->opt.auth_user != NULL) {
		if (!s->caps.esmtp) {
			fail_politely(s, true, "smarthost_auth is set but the server does not speak ESMTP");
			return;
		}
		start_auth(s);
		return;
	}
	next_job(s);
}

/* ---- public ---- */

struct mta_session *mta_session_new(const struct mta_options *opt, const struct mta_io *io,
				    mta_job_done_fn job_done, mta_session_done_fn session_done,
				    void *arg)
{
	struct mta_session *s = xcalloc(1, sizeof(*s));
	s->opt = *opt;
	s->io = *io;
	s->job_done = job_done;
	s->session_done = session_done;
	s->arg = arg;
	s->tls = opt->tls_active;
	s->state = MTA_STATE_GREETING;
	s->chunk = xmalloc(MTA_BODY_CHUNK);
	s->wire = xmalloc(2 * MTA_BODY_CHUNK + 8);
	return s;
}

void mta_session_free(struct mta_session **pp)
{
	struct mta_session *s = *pp;
	if (s == NULL)
		return;
	*pp = NULL;
	free(s->jobs);
	free(s->chunk);
	free(s->wire);
	free(s);
}

void mta_session_add_job(struct mta_session *s, struct mta_job *job)
{
	KASSERT(!s->finishing);
	for (size_t i = 0; i < job->rcpt_count; i++)
		memset(&job->results[i], 0, sizeof(job->results[i]));
	if (s->job_head > 0 && s->job_head == s->job_count)
		s->job_head = s->job_count = 0;
	if (s->job_count == s->job_cap) {
		s->job_cap = s->job_cap ? s->job_cap * 2 : 4;
		s->jobs = xrealloc(s->jobs, s->job_cap * sizeof(*s->jobs));
	}
	s->jobs[s->job_count++] = job;
	if (s->state == MTA_STATE_READY)
		next_job(s);
}

void mta_session_finish(struct mta_session *s)
{
	s->finishing = true;
	if (s->state == MTA_STATE_READY)
		next_job(s);
}

void mta_session_reply(struct mta_session *s, const struct mta_reply *r)
{
	char why[MTA_REPLY_MAX];
	switch (s->state) {
	case MTA_STATE_GREETING:
		if (r->code == 220) {
			send_ehlo(s);
			return;
		}
		/* RFC 5321 3.1: 554 (or anything else) instead of 220: this
		 * host will not take mail now; another MX may. */
		(void)snprintf(why, sizeof(why), "greeting: %s", r->text);
		fail_politely(s, true, why);
		return;
	case MTA_STATE_EHLO:
		if (r->code == 250) {
			if (r->caps != NULL)
				s->caps = *r->caps;
			s->caps.esmtp = true;
			after_hello(s);
			return;
		}
		if (r->code >= 500) {
			/* RFC 5321 4.1.4: an old server; try HELO. */
			send_line(s, "HELO %s", s->opt.helo);
			set_state(s, MTA_STATE_HELO);
			return;
		}
		(void)snprintf(why, sizeof(why), "EHLO: %s", r->text);
		fail_politely(s, true, why);
		return;
	case MTA_STATE_HELO:
		if (r->code == 250) {
			memset(&s->caps, 0, sizeof(s->caps));
			after_hello(s);
			return;
		}
		(void)snprintf(why, sizeof(why), "HELO: %s", r->text);
		fail_politely(s, true, why);
		return;
	case MTA_STATE_STARTTLS:
		if (r->code == 220) {
			set_state(s, MTA_STATE_TLS);
			s->io.starttls(s->io.ctx);
			return;
		}
		if (s->opt.tls == MTA_TLS_REQUIRE) {
			(void)snprintf(why, sizeof(why), "STARTTLS refused and relay_tls = require: %s",
				       r->text);
			fail_politely(s, true, why);
			return;
		}
		/* Opportunistic: carry on in clear (RFC 3207 4). */
		s->caps.starttls = false;
		after_hello(s);
		return;
	case MTA_STATE_AUTH:
		on_auth_reply(s, r);
		return;
	case MTA_STATE_MAIL:
		on_txn_reply(s, r);
		return;
	case MTA_STATE_DOT:
		on_final_reply(s, r);
		return;
	case MTA_STATE_RSET:
		next_job(s);
		return;
	case MTA_STATE_QUIT:
		if (s->failed)
			end_session(s, false, s->fail_temp, s->fail_reason);
		else
			end_session(s, true, false, "done");
		return;
	case MTA_STATE_TLS:
	case MTA_STATE_BODY:
	case MTA_STATE_READY:
		/* A reply nobody asked for: the peer is out of step. */
		(void)snprintf(why, sizeof(why), "unexpected reply in state %s: %s",
			       mta_state_name(s->state), r->text);
		mta_session_lost(s, why);
		return;
	case MTA_STATE_DONE:
	case MTA_STATE_COUNT:
		return;
	}
}

void mta_session_tls_ready(struct mta_session *s)
{
	if (s->state != MTA_STATE_TLS)
		return;
	s->tls = true;
	/* RFC 3207 4.2: forget what was learned before TLS; EHLO again. */
	send_ehlo(s);
}

void mta_session_drained(struct mta_session *s)
{
	if (s->state == MTA_STATE_BODY)
		pump_body(s);
}

void mta_session_lost(struct mta_session *s, const char *reason)
{
	if (s->state == MTA_STATE_DONE)
		return;
	if (s->state == MTA_STATE_QUIT) {
		/* QUIT sent: whatever happens now changes nothing. */
		if (s->failed)
			end_session(s, false, s->fail_temp, s->fail_reason);
		else
			end_session(s, true, false, "done");
		return;
	}
	char why[MTA_REPLY_MAX];
	(void)snprintf(why, sizeof(why), "%s", reason);
	if (s->cur != NULL && s->state == MTA_STATE_DOT && s->cur->data_ok && !s->discard_data)
		s->cur->maybe_delivered = true; /* RFC 1047: the reply was lost */
	end_session(s, false, true, why);
}

enum mta_state mta_session_state(const struct mta_session *s)
{
	return s->state;
}

unsigned mta_session_timeout_ms(const struct mta_session *s)
{
	switch (s->state) {
	case MTA_STATE_BODY:
		return 3 * 60 * 1000; /* a data block */
	case MTA_STATE_DOT:
		return 10 * 60 * 1000; /* DATA termination */
	case MTA_STATE_TLS:
		return 2 * 60 * 1000;
	case MTA_STATE_QUIT:
		return 30 * 1000;
	case MTA_STATE_MAIL:
		/* The DATA reply (2 min) comes last in a pipelined batch; MAIL
		 * and RCPT may take 5. */
		return 5 * 60 * 1000;
	default:
		return 5 * 60 * 1000;
	}
}

const struct mta_caps *mta_session_caps(const struct mta_session *s)
{
	return &s->caps;
}

bool mta_session_is_tls(const struct mta_session *s)
{
	return s->tls;
}
