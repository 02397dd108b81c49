/* smtp_data: message intake for DATA (RFC 5321 4.1.1.4) and BDAT (RFC
 * 3030): trace headers, decoding through the shared dot codec, size and
 * line-ending checks, and the hand-off to delivery/intake whose completion
 * sends the final reply. The 250 is sent only from the commit callback,
 * i.e. after the message and its directory entries are fsynced. */
#include <event2/buffer.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/worker.h"
#include "delivery/intake.h"
#include "delivery/signing.h"
#include "trust/authcheck.h"
#include "net/conn.h"
#include "net/tls.h"
#include "proto/rfc5322.h"
#include "queue/queue_env.h"
#include "smtp/smtp_internal.h"
#include "trust/srs.h"

static void end_txn(struct smtp_session *s)
{
	smtp_txn_free(&s->txn);
	/* A BDAT refused before HELO leaves the session where it was. */
	smtp_set_state(s, s->helo[0] ? SMTP_STATE_HELO : SMTP_STATE_INIT);
}

/* Return-Path (RFC 5321 4.4, added at final delivery) with Delivered-To
 * (intake_write_return_path), and Received (RFC 5321 4.4 / RFC 6531 for
 * the "with" value), in stored (LF) form. */
static int write_trace_headers(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	const struct config *cfg = s->env->cfg;
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	(void)gmtime_r(&now, &tm);
	(void)strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	const struct sockaddr *peer = conn_peer(s->conn);
	const char *v6 = peer->sa_family == AF_INET6 ? "IPv6:" : "";
	/* RFC 3848 / RFC 6531 "with" values: ESMTP, ESMTPS, ESMTPA,
	 * ESMTPSA, UTF8SMTP... */
	char with[16];
	bool tls = conn_is_tls(s->conn);
	(void)snprintf(with, sizeof(with), "%s%s%s",
		       t->params.smtputf8 ? "UTF8SMTP" : s->esmtp ? "ESMTP" : "SMTP",
		       tls ? "S" : "", s->authenticated ? "A" : "");
	char tlsinfo[200] = "";
	if (tls) {
		SSL *ssl = conn_ssl(s->conn);
		(void)snprintf(tlsinfo, sizeof(tlsinfo), "\t(using %s with cipher %s (%d bits))\n",
			       tls_version_name(ssl), tls_cipher_name(ssl), tls_cipher_bits(ssl));
	}
	if (intake_write_return_path(t->intake, t->sender_text) != 0)
		return -1;
	char hdr[2048];
	if (s->kind == SMTP_LISTENER_LOCAL) {
		/* The local command line (sendmail): who, not where from. */
		int n = snprintf(hdr, sizeof(hdr),
				 "Received: by %s (konvert, from userid %ld)\n"
				 "\tid %s%s%s%s;\n"
				 "\t%s\n",
				 cfg->hostname, s->local_uid, t->id,
				 t->rcpt_count == 1 ? "\n\tfor <" : "",
				 t->rcpt_count == 1 ? t->rcpts[0] : "", t->rcpt_count == 1 ? ">" : "",
				 date);
		if (n < 0 || (size_t)n >= sizeof(hdr))
			return -1;
		return intake_write(t->intake, hdr, (size_t)n);
	}
	int n = snprintf(hdr, sizeof(hdr),
			 "Received: from %s ([%s%s])\n"
			 "%s"
			 "\tby %s (konvert) with %s id %s%s%s%s;\n"
			 "\t%s\n",
			 s->helo[0] ? s->helo : "unknown", v6,
			 conn_peer_text(s->conn), tlsinfo, cfg->hostname, with, t->id,
			 t->rcpt_count == 1 ? "\n\tfor <" : "",
			 t->rcpt_count == 1 ? t->rcpts[0] : "", t->rcpt_count == 1 ? ">" : "", date);
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return -1;
	return intake_write(t->intake, hdr, (size_t)n);
}

/* The remote recipients' envelope: it goes into the queue with the
 * message in the same durable commit. The Return-Path line is the
 * final-delivery header of RFC 5321 4.4: a relayed copy starts after it
 * and after Delivered-To (skip, set by the intake). */

/* The envelope sender for the queue: mail that a local alias forwards
 * outside keeps passing SPF at the next hop when its sender is rewritten
 * with SRS into one of our domains (trust/srs; bounces come back through
 * rcpt_srs). Mail of local senders, the null sender and plain relaying
 * keep the sender as it is. Owned. */
static char *forward_sender(const struct smtp_session *s)
{
	const struct smtp_txn *t = s->txn;
	const struct config *cfg = s->env->cfg;
	bool forwarded = false;
	for (size_t i = 0; i < t->remote_count; i++)
		forwarded = forwarded || t->remote[i].forwarded;
	const char *at = strrchr(t->sender_text, '@');
	if (!forwarded || s->env->srs_secret == NULL || at == NULL ||
	    cfg_is_local_domain(cfg, at + 1, strlen(at + 1)))
		return xstrdup(t->sender_text);
	char out[SRS_ADDR_MAX + 1];
	const char *why = NULL;
	if (srs_forward(s->env->srs_secret, s->env->srs_secret_len, t->sender_text, cfg->domains[0],
			time(NULL), out, sizeof(out), &why) != 0) {
		log_info(s->sid, "proto=smtp event=srs id=%s result=kept reason=\"%s\"", t->id,
			 why ? why : "?");
		return xstrdup(t->sender_text);
	}
	log_info(s->sid, "proto=smtp event=srs id=%s result=rewritten sender=<%s>", t->id, out);
	return xstrdup(out);
}

static void queue_remote(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	struct queue_env env;
	queue_env_init(&env);
	memcpy(env.id, t->id, sizeof(env.id));
	env.sender = forward_sender(s);
	env.envid = t->params.envid[0] ? xstrdup(t->params.envid) : NULL;
	env.ret = t->params.ret == SMTP_RET_FULL   ? QUEUE_RET_FULL
		  : t->params.ret == SMTP_RET_HDRS ? QUEUE_RET_HDRS
						   : QUEUE_RET_UNSET;
	env.body = t->params.body == SMTP_BODY_8BITMIME	    ? QUEUE_BODY_8BITMIME
		   : t->params.body == SMTP_BODY_BINARYMIME ? QUEUE_BODY_BINARYMIME
							    : QUEUE_BODY_7BIT;
	env.smtputf8 = t->params.smtputf8;
	env.requiretls = t->params.requiretls;
	env.created = (int64_t)time(NULL);
	/* env.skip: the intake's head (Return-Path, Delivered-To), at commit */
	for (size_t i = 0; i < t->remote_count; i++) {
		struct queue_rcpt *r = queue_env_add_rcpt(&env, t->remote[i].addr);
		if (r == NULL)
			break;
		r->orcpt = t->remote[i].orcpt ? xstrdup(t->remote[i].orcpt) : NULL;
		unsigned n = t->remote[i].notify, q = 0;
		if (n & SMTP_NOTIFY_NEVER)
			q |= QUEUE_NOTIFY_NEVER;
		if (n & SMTP_NOTIFY_SUCCESS)
			q |= QUEUE_NOTIFY_SUCCESS;
		if (n & SMTP_NOTIFY_FAILURE)
			q |= QUEUE_NOTIFY_FAILURE;
		if (n & SMTP_NOTIFY_DELAY)
			q |= QUEUE_NOTIFY_DELAY;
		r->notify = q;
		if (t->remote[i].delivered_locally) {
			r->state = QUEUE_RCPT_DELIVERED;
			r->attempts = 1;
			r->last_reply = xstrdup("250 2.0.0 delivered to the mailbox");
		}
	}
	intake_set_queue(t->intake, s->env->queue, &env, s->env->queued, s->env->queue_arg);
	queue_env_fini(&env);
}

/* Opens the intake file and writes the trace headers. */
static int64_t mono_ms(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The Message-ID of the client's header (what the delivery line logs),
 * escaped, or "-". */
static void message_id_of(const struct smtp_txn *t, char *out, size_t out_size)
{
	const char *v;
	long n = rfc5322_field_value(t->head, t->head_len, "Message-ID", &v);
	if (n < 0)
		(void)snprintf(out, out_size, "-");
	else
		(void)log_escape(out, out_size, v, (size_t)n);
}

static int open_intake(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	const struct config *cfg = s->env->cfg;
	char err[512];
	t->started_ms = mono_ms();
	t->intake = intake_new(cfg->data_dir, cfg->hostname, t->id, err, sizeof(err));
	if (t->intake == NULL) {
		log_error(s->sid, "proto=smtp event=intake id=%s error=\"%s\"", t->id, err);
		return -1;
	}
	for (size_t i = 0; i < t->mailbox_count; i++) {
		if (intake_add_mailbox(t->intake, t->mailboxes[i]) != 0) {
			log_error(s->sid, "proto=smtp event=intake id=%s error=\"bad mailbox\"", t->id);
			return -1;
		}
	}
	if (write_trace_headers(s) != 0) {
		log_error(s->sid, "proto=smtp event=intake id=%s error=\"header write\"", t->id);
		return -1;
	}
	if (t->remote_count > 0)
		queue_remote(s);
	/* RFC 6409 8.2, 8.3: submission completes Date and Message-ID. */
	if (s->kind == SMTP_LISTENER_SUBMISSION || s->kind == SMTP_LISTENER_SMTPS ||
	    s->kind == SMTP_LISTENER_LOCAL)
		intake_set_fill_headers(t->intake, t->id);
	/* DKIM (RFC 6376): mail our users submit (submission, smtps, the
	 * local sendmail socket) from one of our domains is signed with
	 * that domain's keys; mail arriving on port 25 never is. */
	if (s->env->signing != NULL && s->kind != SMTP_LISTENER_MTA && !t->sender.is_null) {
		const struct signing_domain *keys = signing_find(s->env->signing, t->sender.domain);
		if (keys != NULL)
			intake_set_dkim(t->intake, keys);
	}
	return 0;
}

void smtp_data_start(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	if (open_intake(s) != 0) {
		smtp_reply(s, 451, "4.3.0", "Error: local error in processing");
		end_txn(s);
		return;
	}
	dot_decoder_init(&t->dec, true);
	smtp_set_state(s, SMTP_STATE_DATA);
	smtp_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

static void commit_done(void *arg, int result, const char *err)
{
	struct smtp_session *s = arg;
	if (result == 0) /* ours now, whether or not the client hears the 250 */
		metrics_message_received(smtp_metrics_listener(s->kind));
	if (session_is_dead(&s->core)) {
		/* The client left before the reply; the message is delivered
		 * (or not) all the same, as with any lost 250. */
		log_info(s->sid, "proto=smtp event=%s id=%s note=client-gone",
			 result == 0 ? "delivered" : "delivery-failed", s->txn->id);
		(void)session_job_done(&s->core);
		return;
	}
	struct smtp_txn *t = s->txn;
	if (result == 0) {
		s->messages++;
		char esc[600], msgid[260];
		message_id_of(t, msgid, sizeof(msgid));
		log_info(s->sid, "proto=smtp event=delivered id=%s msgid=%s from=<%s> rcpts=%zu mailboxes=%zu size=%llu delay_ms=%lld result=ok%s",
			 t->id, msgid, log_escape(esc, sizeof(esc), t->sender_text, strlen(t->sender_text)),
			 t->rcpt_count, t->mailbox_count, (unsigned long long)t->wire_bytes,
			 (long long)(mono_ms() - t->started_ms), t->quarantined ? " folder=Junk" : "");
		smtp_reply(s, 250, "2.0.0", "Ok: queued as %s", t->id);
	} else {
		log_error(s->sid, "proto=smtp event=delivery-failed id=%s error=\"%s\"", t->id,
			  err ? err : "?");
		smtp_reply(s, 451, "4.3.0", "Error: local delivery failed, try again later");
	}
	end_txn(s);
	session_process_input(&s->core);
}

static void commit(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	struct intake *in = t->intake;
	t->intake = NULL;
	intake_commit(in, s->env->workers, commit_done, s);
}

/* The inbound checks are over (the session waited in COMMIT): add the
 * Authentication-Results field, drop forged ones, and commit; or refuse
 * the message for its sender's DMARC p=reject (RFC 7489 6.7: at the end
 * of DATA, so the sending server keeps it and tells its user). */
static void checks_done(struct authcheck *ac, const struct authcheck_result *res, void *arg)
{
	(void)ac;
	struct smtp_session *s = arg;
	metrics_dmarc_result(authcheck_dmarc_result_name(res->dmarc));
	if (session_is_dead(&s->core)) {
		(void)session_job_done(&s->core); /* frees the txn and the check */
		return;
	}
	struct smtp_txn *t = s->txn;
	const struct config *cfg = s->env->cfg;
	char dkim_txt[64] = "none";
	if (res->dkim_count > 0)
		(void)snprintf(dkim_txt, sizeof(dkim_txt), "%s", dkim_result_name(res->dkim[0].result));
	log_info(s->sid, "proto=smtp event=auth-checks id=%s spf=%s dkim=%s signatures=%zu dmarc=%s from_domain=%s",
		 t->id, spf_result_name(res->spf), dkim_txt, res->dkim_count,
		 authcheck_dmarc_result_name(res->dmarc), res->from_domain[0] ? res->from_domain : "-");
	if (cfg->dmarc_enforce == CFG_YES && res->dmarc == AUTHCHECK_DMARC_FAIL &&
	    res->dmarc_disposition == DMARC_POLICY_REJECT) {
		smtp_reply(s, 550, "5.7.1", "Message rejected: it fails the DMARC policy of %s",
			   res->from_domain);
		end_txn(s); /* frees the check: we return right away */
		session_process_input(&s->core);
		return;
	}
	if (cfg->dmarc_enforce == CFG_YES && res->dmarc == AUTHCHECK_DMARC_FAIL &&
	    res->dmarc_disposition == DMARC_POLICY_QUARANTINE) {
		/* RFC 7489 6.6.2: "quarantine" is the recipient's Junk folder. */
		intake_set_folder(t->intake, "Junk");
		t->quarantined = true;
	}
	char *hdr = NULL;
	if (authcheck_format_header(res, cfg->hostname, &hdr) == 0) {
		/* Every forged field goes (RFC 8601 5), however many: the
		 * count bounds itself by the header size. */
		size_t n = authcheck_strip_forged(t->check_msg, t->check_len, cfg->hostname, NULL, 0);
		struct authcheck_range *r = xcalloc(n ? n : 1, sizeof(*r));
		struct intake_range *drop = xcalloc(n ? n : 1, sizeof(*drop));
		n = authcheck_strip_forged(t->check_msg, t->check_len, cfg->hostname, r, n);
		for (size_t i = 0; i < n; i++)
			drop[i] = (struct intake_range){r[i].start, r[i].end};
		intake_set_header(t->intake, hdr, drop, n);
		free(r);
		free(drop);
	}
	/* The check is done: its memory can go before the commit (freeing
	 * it from its own done callback is allowed). */
	t->check = NULL;
	authcheck_free(&ac);
	free(t->check_msg);
	t->check_msg = NULL;
	commit(s);
}

static void check_read_work(void *arg);
static void check_read_done(void *arg);
static bool run_checks(struct smtp_session *s);

/* SPF, DKIM and DMARC of mail arriving on the smtp listener (auth_checks):
 * all DNS asynchronous; true when started (the session waits). */
static bool start_checks(struct smtp_session *s)
{
	const struct smtp_env *env = s->env;
	struct smtp_txn *t = s->txn;
	if (s->kind != SMTP_LISTENER_MTA || env->cfg->auth_checks != CFG_YES ||
	    env->authdns == NULL || env->psl == NULL)
		return false;
	/* The message is read back on a worker (it may be 25 MB), then the
	 * checks start on the loop. */
	t->check_rc = -1;
	worker_submit(env->workers, check_read_work, check_read_done, s);
	return true;
}

/* Worker thread: the session waits in COMMIT and touches nothing. */
static void check_read_work(void *arg)
{
	struct smtp_session *s = arg;
	struct smtp_txn *t = s->txn;
	t->check_rc = intake_read_message(t->intake, &t->check_msg, &t->check_len);
}

static void check_read_done(void *arg)
{
	struct smtp_session *s = arg;
	if (session_is_dead(&s->core)) {
		(void)session_job_done(&s->core);
		return;
	}
	if (s->txn->check_rc != 0 || !run_checks(s))
		commit(s); /* the commit reports a write error */
}

/* Starts the checks over the message read back; false when it cannot. */
static bool run_checks(struct smtp_session *s)
{
	const struct smtp_env *env = s->env;
	struct smtp_txn *t = s->txn;
	struct authcheck_input in;
	memset(&in, 0, sizeof(in));
	const struct sockaddr *peer = conn_peer(s->conn);
	if (peer->sa_family == AF_INET) {
		in.family = AF_INET;
		memcpy(in.ip, &((const struct sockaddr_in *)peer)->sin_addr, 4);
	} else if (peer->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)peer)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			in.family = AF_INET;
			memcpy(in.ip, a6->s6_addr + 12, 4);
		} else {
			in.family = AF_INET6;
			memcpy(in.ip, a6->s6_addr, 16);
		}
	} else {
		free(t->check_msg);
		t->check_msg = NULL;
		return false;
	}
	in.helo = s->helo[0] ? s->helo : "unknown";
	char local[SMTP_LOCAL_MAX + 1];
	(void)snprintf(local, sizeof(local), "%.*s", (int)t->sender.local_len, t->sender.local);
	in.mailfrom_local = t->sender.is_null ? NULL : local;
	in.mailfrom_domain = t->sender.is_null ? NULL : t->sender.domain;
	in.hostname = env->cfg->hostname;
	in.msg = t->check_msg;
	in.msg_len = t->check_len;
	in.now = (int64_t)time(NULL);
	/* DMARC pct= sampling: a 32-bit draw keeps % 100 unbiased enough. */
	uint32_t rnd = 0;
	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = (uint32_t)time(NULL);
	in.random_0_99 = rnd % 100;
	t->check = authcheck_new(&in, env->authdns, env->psl, checks_done, s);
	authcheck_start(t->check);
	return true;
}

/* The whole message has been read: judge it, then commit it. */
static void message_end(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	if (t->too_big) {
		smtp_reply(s, 552, "5.3.4", "Error: message file too big");
		end_txn(s);
		return;
	}
	/* SMTP smuggling (CVE-2023-51764): only CRLF . CRLF ended the
	 * message. A line ending in a bare LF is then read as a CRLF line
	 * (bare_newline = normalize, as Postfix 3.9: the stored form already
	 * has it as a line end) or refused; a bare CR is always refused. */
	if ((t->dec.flags & DOT_FLAG_BARE_CR) ||
	    ((t->dec.flags & DOT_FLAG_BARE_LF) &&
	     s->env->cfg->bare_newline == CFG_BARE_NEWLINE_REJECT)) {
		smtp_reply(s, 550, "5.5.2", "Error: bare <CR> or <LF> received; use <CR><LF>");
		end_txn(s);
		return;
	}
	if (t->dec.flags & DOT_FLAG_BARE_LF)
		log_info(s->sid, "proto=smtp event=bare-newline id=%s result=normalized", t->id);
	if (t->dec.flags & DOT_FLAG_NUL) {
		/* RFC 5321 2.3.8 / RFC 5322 2.1: NUL is not allowed in mail;
		 * stored verbatim it breaks C-string readers downstream (IMAP,
		 * filters). The intake file goes with the transaction. */
		smtp_reply(s, 554, "5.6.0", "Error: message contains NUL characters");
		end_txn(s);
		return;
	}
	/* Only BDAT can leave the last line unterminated: end it. */
	if (!intake_ends_with_newline(t->intake))
		(void)intake_write(t->intake, "\n", 1);
	smtp_set_state(s, SMTP_STATE_COMMIT);
	if (start_checks(s))
		return; /* checks_done commits (or refuses) */
	commit(s);
}

static void account(struct smtp_session *s, size_t wire, const char *out, size_t out_len)
{
	struct smtp_txn *t = s->txn;
	t->wire_bytes += wire;
	if (t->wire_bytes > s->env->cfg->max_message_size)
		t->too_big = true;
	if (!t->head_done && out_len > 0) {
		size_t take = out_len < sizeof(t->head) - t->head_len ? out_len
								    : sizeof(t->head) - t->head_len;
		memcpy(t->head + t->head_len, out, take);
		t->head_len += take;
		t->head_done = t->head_len == sizeof(t->head) ||
			       memmem(t->head, t->head_len, "\n\n", 2) != NULL;
	}
	if (!t->too_big && out_len > 0 && intake_write(t->intake, out, out_len) != 0) {
		/* Disk trouble: keep reading to stay in sync, answer 451 at the
		 * end via the failed intake. */
		log_error(s->sid, "proto=smtp event=intake-write id=%s", t->id);
	}
}

static void data_read_dot(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	struct evbuffer *in = conn_input(s->conn);
	char *out = smtp_decode_buf(s);
	for (;;) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			return;
		size_t take = v.iov_len < SMTP_DECODE_CHUNK ? v.iov_len : SMTP_DECODE_CHUNK;
		size_t consumed = 0, out_len = 0;
		int end = dot_decoder_feed(&t->dec, v.iov_base, take, &consumed, out, &out_len);
		(void)evbuffer_drain(in, consumed);
		account(s, consumed, out, out_len);
		if (end) {
			message_end(s);
			return;
		}
	}
}

static void chunk_end(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	if (t->chunk_discard) {
		smtp_reply(s, t->chunk_code, t->chunk_ecode, "%s", t->chunk_text);
		/* A refused chunk fails the transaction (RFC 3030 2). */
		end_txn(s);
		return;
	}
	if (t->chunk_last) {
		char tail[2];
		size_t n = dot_decoder_finish(&t->dec, tail);
		account(s, 0, tail, n);
		message_end(s);
		return;
	}
	smtp_set_state(s, SMTP_STATE_BDAT);
	if (t->too_big) {
		smtp_reply(s, 552, "5.3.4", "Error: message file too big");
		end_txn(s);
		return;
	}
	smtp_reply(s, 250, "2.0.0", "%llu octets received", (unsigned long long)t->wire_bytes);
}

static void data_read_chunk(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	struct evbuffer *in = conn_input(s->conn);
	char *out = smtp_decode_buf(s);
	while (t->chunk_left > 0) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			return;
		size_t take = v.iov_len < SMTP_DECODE_CHUNK ? v.iov_len : SMTP_DECODE_CHUNK;
		if (take > t->chunk_left)
			take = (size_t)t->chunk_left;
		if (t->chunk_discard) {
			(void)evbuffer_drain(in, take);
		} else {
			size_t consumed = 0, out_len = 0;
			(void)dot_decoder_feed(&t->dec, v.iov_base, take, &consumed, out, &out_len);
			(void)evbuffer_drain(in, consumed);
			account(s, consumed, out, out_len);
			take = consumed;
		}
		t->chunk_left -= take;
	}
	chunk_end(s);
}

void smtp_data_read(struct smtp_session *s)
{
	if (s->state == SMTP_STATE_DATA)
		data_read_dot(s);
	else if (s->state == SMTP_STATE_BDAT_CHUNK)
		data_read_chunk(s);
}

int smtp_bdat_start(struct smtp_session *s, uint64_t size, bool last, bool refuse, int code,
		    const char *ecode, const char *text)
{
	if (refuse) {
		/* No transaction to attach to: a throw-away one carries the
		 * chunk bookkeeping and is freed when the chunk ends. */
		if (s->txn == NULL)
			s->txn = xcalloc(1, sizeof(*s->txn));
		struct smtp_txn *t = s->txn;
		t->chunk_discard = true;
		t->chunk_code = code;
		t->chunk_ecode = ecode;
		t->chunk_text = text;
	} else {
		struct smtp_txn *t = s->txn;
		if (t->intake == NULL) {
			if (open_intake(s) != 0) {
				t->chunk_discard = true;
				t->chunk_code = 451;
				t->chunk_ecode = "4.3.0";
				t->chunk_text = "Error: local error in processing";
			} else {
				dot_decoder_init(&t->dec, false);
			}
		}
	}
	struct smtp_txn *t = s->txn;
	t->chunk_left = size;
	t->chunk_last = last;
	smtp_set_state(s, SMTP_STATE_BDAT_CHUNK);
	if (size == 0)
		chunk_end(s);
	return 0;
}
