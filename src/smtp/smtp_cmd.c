/* smtp_cmd: the SMTP command table and the handlers of every command
 * except the message intake (smtp_data.c). The dispatcher checks the state
 * mask and answers "bad sequence" itself, so handlers start from valid
 * preconditions (STYLE.md 3). Replies follow RFC 5321 4.2 with RFC 3463
 * enhanced codes, texts modelled on Postfix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/id.h"
#include "core/log.h"
#include "auth/aliases.h"
#include "auth/userdb.h"
#include "delivery/resolve.h"
#include "net/conn.h"
#include "net/tls.h"
#include "proto/sasl.h"
#include "smtp/smtp_internal.h"
#include "trust/srs.h"

typedef void (*smtp_cmd_fn)(struct smtp_session *s, const char *args, size_t len);

#define ST(x) SMTP_STATE_BIT(SMTP_STATE_##x)
/* States in which a command line is read at all. */
#define ST_ANY (ST(INIT) | ST(HELO) | ST(MAIL) | ST(RCPT) | ST(BDAT))

struct smtp_cmd {
	enum smtp_verb verb;
	const char *name;
	smtp_cmd_fn fn;
	unsigned states; /* SMTP_STATE_BIT mask where the verb is legal */
};

static void reset_txn(struct smtp_session *s)
{
	smtp_txn_free(&s->txn);
	if (s->state != SMTP_STATE_INIT)
		smtp_set_state(s, SMTP_STATE_HELO);
}

/* Relaying is for clients in relay_networks and logged-in users; a
 * local submission (sendmail's socket) is trusted like relay_networks. */
static bool may_relay(const struct smtp_session *s)
{
	return s->relay_ok || s->authenticated;
}

static void cmd_helo(struct smtp_session *s, const char *args, size_t len, bool esmtp)
{
	if (len == 0) {
		smtp_reply(s, 501, "5.5.4", "Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
		return;
	}
	if (!smtp_is_valid_helo(args, len) || len > SMTP_DOMAIN_MAX) {
		smtp_reply(s, 501, "5.5.4", "Error: invalid hostname");
		return;
	}
	/* RFC 5321 4.1.4: HELO/EHLO in a transaction resets it. */
	smtp_txn_free(&s->txn);
	memcpy(s->helo, args, len);
	s->helo[len] = '\0';
	s->esmtp = esmtp;
	smtp_set_state(s, SMTP_STATE_HELO);
	const struct config *cfg = s->env->cfg;
	char esc[300];
	log_info(s->sid, "proto=smtp event=%s helo=\"%s\"", esmtp ? "ehlo" : "helo",
		 log_escape(esc, sizeof(esc), args, len));
	if (!esmtp) {
		smtp_reply(s, 250, NULL, "%s", cfg->hostname);
		return;
	}
	smtp_reply_cont(s, 250, "%s", cfg->hostname);
	smtp_reply_cont(s, 250, "PIPELINING");
	smtp_reply_cont(s, 250, "SIZE %llu", (unsigned long long)cfg->max_message_size);
	smtp_reply_cont(s, 250, "8BITMIME");
	smtp_reply_cont(s, 250, "ENHANCEDSTATUSCODES");
	smtp_reply_cont(s, 250, "SMTPUTF8");
	smtp_reply_cont(s, 250, "CHUNKING");
	if (s->env->queue != NULL) {
		smtp_reply_cont(s, 250, "DSN");
		if (may_relay(s))
			smtp_reply_cont(s, 250, "ETRN");
	}
	if (s->env->tls != NULL && !conn_is_tls(s->conn) && s->kind != SMTP_LISTENER_LOCAL)
		smtp_reply_cont(s, 250, "STARTTLS");
	/* RFC 8689 4.1: only in a session that is itself TLS. */
	if (conn_is_tls(s->conn) && s->env->queue != NULL)
		smtp_reply_cont(s, 250, "REQUIRETLS");
	if (smtp_auth_offered(s) && !s->authenticated) {
		/* Plaintext mechanisms only where the password is safe. */
		if (smtp_plaintext_allowed(s))
			smtp_reply_cont(s, 250, "AUTH SCRAM-SHA-256 PLAIN LOGIN");
		else
			smtp_reply_cont(s, 250, "AUTH SCRAM-SHA-256");
	}
	smtp_reply(s, 250, NULL, "HELP");
}

static void cmd_ehlo_fn(struct smtp_session *s, const char *a, size_t l)
{
	cmd_helo(s, a, l, true);
}

static void cmd_helo_fn(struct smtp_session *s, const char *a, size_t l)
{
	cmd_helo(s, a, l, false);
}

static void reply_parse_error(struct smtp_session *s, enum smtp_parse_err err, bool mail)
{
	const char *what = smtp_parse_strerror(err);
	switch (err) {
	case SMTP_PERR_SYNTAX:
		smtp_reply(s, 501, "5.5.4", "Syntax: %s", mail ? "MAIL FROM:<address>" : "RCPT TO:<address>");
		break;
	case SMTP_PERR_ADDR:
	case SMTP_PERR_ADDR_TOO_LONG:
	case SMTP_PERR_NULL_NOT_ALLOWED:
		smtp_reply(s, 501, mail ? "5.1.7" : "5.1.3", "Bad %s address syntax: %s",
			   mail ? "sender" : "recipient", what);
		break;
	case SMTP_PERR_NEED_SMTPUTF8:
		smtp_reply(s, 553, "5.6.7", "Error: non-ASCII address needs SMTPUTF8");
		break;
	case SMTP_PERR_PARAM_UNKNOWN:
		smtp_reply(s, 555, "5.5.4", "Error: unsupported parameter");
		break;
	case SMTP_PERR_PARAM_VALUE:
	case SMTP_PERR_OK:
		smtp_reply(s, 501, "5.5.4", "Error: bad parameter: %s", what);
		break;
	}
}

/* An address or login echoed in a reply. RFC 6531 3.7.4: a reply may
 * carry UTF-8 once the client has asked for SMTPUTF8 in this transaction;
 * it then sees jörg, not j\xc3\xb6rg. Controls, bidi overrides and bytes
 * that are not UTF-8 are \xNN either way (core/log.h), so a reply stays
 * one line of text. Log lines keep log_escape (ASCII, greppable). */
static const char *reply_escape(bool utf8, char *buf, size_t size, const char *text)
{
	size_t len = strlen(text);
	return utf8 ? log_escape_utf8(buf, size, text, len) : log_escape(buf, size, text, len);
}

static bool has_non_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

static bool alias_is_local(const char *domain, void *ctx)
{
	return cfg_is_local_domain(ctx, domain, strlen(domain));
}

/* The envelope sender of an authenticated client must be the login
 * address itself or a local alias that delivers to it. */
static bool sender_owned(const struct smtp_session *s, const struct smtp_addr *a)
{
	const struct config *cfg = s->env->cfg;
	if (a->is_null || a->is_literal || a->local_len == 0)
		return false;
	char addr[SMTP_PATH_MAX + 8];
	int n = snprintf(addr, sizeof(addr), "%.*s@%s", (int)a->local_len, a->local, a->domain);
	if (n < 0 || (size_t)n >= sizeof(addr))
		return false;
	for (char *p = addr; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	if (strcmp(addr, s->auth_user) == 0)
		return true;
	if (!cfg_is_local_domain(cfg, a->domain, strlen(a->domain)))
		return false;
	char *at = strrchr(addr, '@');
	*at = '\0';
	char **targets = NULL;
	size_t count = 0;
	bool owned = false;
	if (aliases_expand(s->env->aliases, addr, at + 1, alias_is_local, (void *)cfg, &targets,
			   &count) == 0) {
		for (size_t i = 0; i < count && !owned; i++)
			owned = strcmp(targets[i], s->auth_user) == 0;
		aliases_free_list(targets, count);
	}
	return owned;
}

static void cmd_mail(struct smtp_session *s, const char *args, size_t len)
{
	const struct config *cfg = s->env->cfg;
	if (s->kind != SMTP_LISTENER_MTA && s->kind != SMTP_LISTENER_LOCAL && !s->authenticated) {
		/* RFC 6409 4.3 / RFC 4954 6: submission requires AUTH. */
		smtp_reply(s, 530, "5.7.0", "Authentication required");
		return;
	}
	struct smtp_txn *t = xcalloc(1, sizeof(*t));
	enum smtp_parse_err err = smtp_parse_mail(args, len, &t->sender, &t->params);
	if (err != SMTP_PERR_OK) {
		reply_parse_error(s, err, true);
		free(t);
		return;
	}
	/* DSN (RFC 3461) is advertised with the queue, BINARYMIME (RFC 3030)
	 * never: parameters of what is not advertised are refused as "not
	 * implemented" (RFC 5321 4.1.1.11). AUTH= (RFC 4954 5) is accepted
	 * where AUTH is offered and ignored: konvert trusts no other server's
	 * word for an identity. */
	bool dsn = s->env->queue != NULL;
	if ((!dsn && (t->params.ret != SMTP_RET_NONE || t->params.envid[0])) ||
	    (t->params.auth[0] && !smtp_auth_offered(s)) ||
	    t->params.body == SMTP_BODY_BINARYMIME) {
		smtp_reply(s, 555, "5.5.4", "Error: unsupported parameter");
		free(t);
		return;
	}
	if (t->params.requiretls && (!conn_is_tls(s->conn) || !dsn)) {
		/* RFC 8689 4.1: REQUIRETLS is for sessions that are TLS. */
		smtp_reply(s, 530, "5.7.10", "Error: REQUIRETLS needs a TLS session");
		free(t);
		return;
	}
	if (t->params.has_size && t->params.size > cfg->max_message_size) {
		/* RFC 1870 6.1: refuse at MAIL when the declared size is too big. */
		smtp_reply(s, 552, "5.3.4", "Error: message size exceeds fixed limit");
		free(t);
		return;
	}
	if (smtp_addr_format(&t->sender, t->sender_text, sizeof(t->sender_text)) < 0) {
		smtp_reply(s, 501, "5.1.7", "Bad sender address syntax");
		free(t);
		return;
	}
	if (s->authenticated && !sender_owned(s, &t->sender)) {
		/* RFC 6409 6.1: the submission server checks the sender. */
		char esc[300], user[300];
		bool utf8 = t->params.smtputf8;
		smtp_reply(s, 553, "5.7.1", "<%s>: Sender address rejected: not owned by user %s",
			   reply_escape(utf8, esc, sizeof(esc), t->sender_text),
			   reply_escape(utf8, user, sizeof(user), s->auth_user));
		free(t);
		return;
	}
	id_new(t->id);
	s->txn = t;
	smtp_set_state(s, SMTP_STATE_MAIL);
	char esc[600];
	log_info(s->sid, "proto=smtp event=mail id=%s from=<%s> size=%llu body=%d smtputf8=%d%s",
		 t->id, log_escape(esc, sizeof(esc), t->sender_text, strlen(t->sender_text)),
		 (unsigned long long)t->params.size, (int)t->params.body, (int)t->params.smtputf8,
		 t->params.requiretls ? " requiretls=1" : "");
	smtp_reply(s, 250, "2.1.0", "Ok");
}

static void add_unique(char ***arr, size_t *n, const char *v)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*arr)[i], v) == 0)
			return;
	*arr = xrealloc(*arr, (*n + 1) * sizeof(char *));
	(*arr)[(*n)++] = xstrdup(v);
}

/* Adds a queue recipient (once); returns it. */
static struct smtp_remote_rcpt *add_remote(struct smtp_txn *t, const char *addr,
					   const struct smtp_rcpt_params *p)
{
	for (size_t i = 0; i < t->remote_count; i++)
		if (strcmp(t->remote[i].addr, addr) == 0)
			return &t->remote[i];
	t->remote = xrealloc(t->remote, (t->remote_count + 1) * sizeof(*t->remote));
	struct smtp_remote_rcpt *r = &t->remote[t->remote_count++];
	r->addr = xstrdup(addr);
	r->orcpt = p->orcpt[0] ? xstrdup(p->orcpt) : NULL;
	r->notify = p->notify;
	r->delivered_locally = false;
	r->forwarded = false;
	return r;
}

/* As postsrsd does: a bounce to an SRS address of ours goes back to the
 * original sender, when the hash is ours and the address is young
 * enough; anything else is refused, so the rewriting cannot be used to
 * relay. Only bounces (and RFC 3834 auto-replies) use the null sender:
 * other mail to an SRS address is refused, so a 21-bit hash guessed or a
 * forwarded address learnt cannot carry mail of the guesser's choosing.
 * Returns true when it answered. */
static bool rcpt_srs(struct smtp_session *s, const struct smtp_addr *addr,
		     const struct smtp_rcpt_params *params, const char *text)
{
	const struct config *cfg = s->env->cfg;
	struct smtp_txn *t = s->txn;
	if (s->env->srs_secret == NULL || s->env->queue == NULL || addr->is_postmaster ||
	    !cfg_is_local_domain(cfg, addr->domain, strlen(addr->domain)))
		return false;
	char local[SMTP_LOCAL_MAX + 1];
	if (addr->local_len >= sizeof(local))
		return false;
	memcpy(local, addr->local, addr->local_len);
	local[addr->local_len] = '\0';
	if (!srs_is_srs(local))
		return false;
	char orig[SRS_ADDR_MAX + 1];
	const char *why = NULL;
	char esc[600], shown[600];
	log_escape(esc, sizeof(esc), text, strlen(text));
	reply_escape(t->params.smtputf8, shown, sizeof(shown), text);
	if (t->sender_text[0] != '\0') {
		log_info(s->sid, "proto=smtp event=rcpt id=%s to=<%s> result=srs-refused reason=\"not a bounce\"",
			 t->id, esc);
		smtp_reply(s, 550, "5.7.1",
			   "<%s>: Recipient address rejected: an SRS address only takes bounces", shown);
		return true;
	}
	if (srs_reverse(s->env->srs_secret, s->env->srs_secret_len, text, time(NULL),
			SRS_MAX_AGE_DEFAULT, orig, sizeof(orig), &why) != 0) {
		log_info(s->sid, "proto=smtp event=rcpt id=%s to=<%s> result=srs-refused reason=\"%s\"",
			 t->id, esc, why ? why : "?");
		smtp_reply(s, 550, "5.1.1", "<%s>: Recipient address rejected: invalid SRS address (%s)",
			   shown, why ? why : "?");
		return true;
	}
	const char *at = strrchr(orig, '@');
	if (at == NULL || cfg_is_local_domain(cfg, at + 1, strlen(at + 1))) {
		smtp_reply(s, 550, "5.1.1", "<%s>: Recipient address rejected: invalid SRS address",
			   shown);
		return true;
	}
	(void)add_remote(t, orig, params);
	add_unique(&t->rcpts, &t->rcpt_count, text);
	t->rcpt_accepted++;
	smtp_set_state(s, SMTP_STATE_RCPT);
	char eorig[600];
	log_info(s->sid, "proto=smtp event=rcpt id=%s to=<%s> result=srs-return orig=<%s>", t->id, esc,
		 log_escape(eorig, sizeof(eorig), orig, strlen(orig)));
	smtp_reply(s, 250, "2.1.5", "Ok");
	return true;
}

static void cmd_rcpt(struct smtp_session *s, const char *args, size_t len)
{
	const struct config *cfg = s->env->cfg;
	struct smtp_txn *t = s->txn;
	struct smtp_addr addr;
	struct smtp_rcpt_params params;
	enum smtp_parse_err err = smtp_parse_rcpt(args, len, t->params.smtputf8, &addr, &params);
	if (err != SMTP_PERR_OK) {
		reply_parse_error(s, err, false);
		return;
	}
	if ((params.notify != 0 || params.orcpt[0]) && s->env->queue == NULL) {
		smtp_reply(s, 555, "5.5.4", "Error: unsupported parameter");
		return;
	}
	if (t->rcpt_accepted >= cfg->max_recipients) {
		/* RFC 5321 4.5.3.1.10: 452 for too many recipients. */
		smtp_reply(s, 452, "4.5.3", "Error: too many recipients");
		return;
	}
	char text[SMTP_PATH_MAX + 8];
	if (smtp_addr_format(&addr, text, sizeof(text)) < 0) {
		smtp_reply(s, 501, "5.1.3", "Bad recipient address syntax");
		return;
	}
	if (rcpt_srs(s, &addr, &params, text))
		return;
	struct resolve_result r;
	resolve_rcpt(cfg, s->env->users, s->env->aliases, addr.local, addr.local_len,
		     addr.is_postmaster ? NULL : addr.domain, &r);
	char esc[600], shown[600];
	log_escape(esc, sizeof(esc), text, strlen(text));
	reply_escape(t->params.smtputf8, shown, sizeof(shown), text);
	const char *result = "ok";
	switch (r.kind) {
	case RESOLVE_LOCAL:
		for (size_t i = 0; i < r.mailbox_count; i++)
			add_unique(&t->mailboxes, &t->mailbox_count, r.mailboxes[i]);
		if ((params.notify & SMTP_NOTIFY_SUCCESS) && s->env->queue != NULL &&
		    t->sender_text[0] != '\0') {
			add_remote(t, text, &params)->delivered_locally = true;
		}
		add_unique(&t->rcpts, &t->rcpt_count, text);
		t->rcpt_accepted++;
		smtp_set_state(s, SMTP_STATE_RCPT);
		smtp_reply(s, 250, "2.1.5", "Ok");
		break;
	case RESOLVE_REMOTE:
		if (!may_relay(s)) {
			result = "relay-denied";
			smtp_reply(s, 554, "5.7.1", "<%s>: Relay access denied", shown);
		} else if (s->env->queue == NULL) {
			result = "deferred-relay";
			smtp_reply(s, 451, "4.3.0", "<%s>: relaying is not available, try again later",
				   shown);
		} else {
			result = "relay";
			(void)add_remote(t, text, &params);
			add_unique(&t->rcpts, &t->rcpt_count, text);
			t->rcpt_accepted++;
			smtp_set_state(s, SMTP_STATE_RCPT);
			smtp_reply(s, 250, "2.1.5", "Ok");
		}
		break;
	case RESOLVE_ALIAS_REMOTE:
		if (s->env->queue == NULL) {
			result = "deferred-forward";
			smtp_reply(s, 451, "4.3.0",
				   "<%s>: forwarding is not available, try again later", shown);
			break;
		}
		if (!t->params.smtputf8) {
			/* RFC 6531: an address with UTF-8 goes out only in a
			 * transaction that carries SMTPUTF8, and this one does
			 * not: a UTF-8 forwarding target cannot be reached with
			 * it (the queue would send an RCPT the peer must
			 * refuse). */
			bool utf8_target = false;
			for (size_t i = 0; i < r.remote_count && !utf8_target; i++)
				utf8_target = has_non_ascii(r.remote[i]);
			if (utf8_target) {
				result = "forward-needs-smtputf8";
				smtp_reply(s, 553, "5.6.7",
					   "<%s>: forwarded to a UTF-8 address, which needs SMTPUTF8",
					   shown);
				break;
			}
		}
		/* A local alias that forwards: the local copies and the
		 * remote ones, each with its own fate. The original recipient
		 * goes along as ORCPT (RFC 3461 4.2) unless the client gave
		 * one. */
		result = "forward";
		for (size_t i = 0; i < r.mailbox_count; i++)
			add_unique(&t->mailboxes, &t->mailbox_count, r.mailboxes[i]);
		for (size_t i = 0; i < r.remote_count; i++)
			add_remote(t, r.remote[i], &params)->forwarded = true;
		add_unique(&t->rcpts, &t->rcpt_count, text);
		t->rcpt_accepted++;
		smtp_set_state(s, SMTP_STATE_RCPT);
		smtp_reply(s, 250, "2.1.5", "Ok");
		break;
	case RESOLVE_UNKNOWN:
		if (s->env->users->count == 0) {
			/* No account table (users missing or emptied): a
			 * permanent 550 would bounce real mail for a mistake
			 * the administrator will fix. */
			result = "no-accounts";
			smtp_reply(s, 451, "4.3.0",
				   "<%s>: mailbox directory unavailable, try again later", shown);
			break;
		}
		result = "unknown-user";
		smtp_reply(s, 550, "5.1.1", "<%s>: Recipient address rejected: User unknown", shown);
		break;
	case RESOLVE_ERROR:
		result = "alias-error";
		smtp_reply(s, 550, "5.4.6", "<%s>: alias expansion failed (loop or too large)",
			   shown);
		break;
	}
	log_info(s->sid, "proto=smtp event=rcpt id=%s to=<%s> result=%s mailboxes=%zu", t->id, esc,
		 result, r.mailbox_count);
	resolve_result_fini(&r);
}

static void cmd_data(struct smtp_session *s, const char *args, size_t len)
{
	(void)args;
	if (len != 0) {
		smtp_reply(s, 501, "5.5.4", "Syntax: DATA");
		return;
	}
	smtp_data_start(s);
}

static void cmd_bdat(struct smtp_session *s, const char *args, size_t len)
{
	uint64_t size;
	bool last;
	if (smtp_parse_bdat(args, len, &size, &last) != 0) {
		/* Without a size the chunk cannot be skipped: the rest of the
		 * stream is read as commands, as OpenSMTPD does. */
		smtp_reply(s, 501, "5.5.4", "Syntax: BDAT chunk-size [LAST]");
		return;
	}
	/* The chunk's bytes follow whatever the verdict: a refused chunk is
	 * still read (and dropped) to stay in sync (RFC 3030 2). */
	if (s->state == SMTP_STATE_INIT || s->state == SMTP_STATE_HELO) {
		smtp_bdat_start(s, size, last, true, 503, "5.5.1", "Error: need MAIL command");
		return;
	}
	if (s->state == SMTP_STATE_MAIL) {
		smtp_bdat_start(s, size, last, true, 503, "5.5.1", "Error: need RCPT command");
		return;
	}
	smtp_bdat_start(s, size, last, false, 0, NULL, NULL);
}

static void cmd_rset(struct smtp_session *s, const char *args, size_t len)
{
	(void)args;
	if (len != 0) {
		smtp_reply(s, 501, "5.5.4", "Syntax: RSET");
		return;
	}
	reset_txn(s);
	smtp_reply(s, 250, "2.0.0", "Ok");
}

static void cmd_noop(struct smtp_session *s, const char *args, size_t len)
{
	(void)args;
	(void)len; /* RFC 5321 4.1.1.9: a NOOP argument is ignored */
	smtp_reply(s, 250, "2.0.0", "Ok");
}

static void cmd_vrfy(struct smtp_session *s, const char *args, size_t len)
{
	(void)args;
	if (len == 0) {
		smtp_reply(s, 501, "5.5.4", "Syntax: VRFY address");
		return;
	}
	/* RFC 5321 3.5.3: 252 neither confirms nor denies: no user harvesting. */
	smtp_reply(s, 252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
}

static void cmd_expn(struct smtp_session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	smtp_reply(s, 502, "5.5.1", "Error: EXPN is disabled");
}

static void cmd_help(struct smtp_session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	/* Only what works here and now (EXPN is disabled; STARTTLS, AUTH
	 * and ETRN as EHLO offers them). */
	bool starttls = s->env->tls != NULL && !conn_is_tls(s->conn) && s->kind != SMTP_LISTENER_LOCAL;
	bool auth = smtp_auth_offered(s) && !s->authenticated;
	bool etrn = s->env->queue != NULL && may_relay(s);
	smtp_reply(s, 214, "2.0.0", "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET VRFY HELP NOOP QUIT%s%s%s",
		   starttls ? " STARTTLS" : "", auth ? " AUTH" : "", etrn ? " ETRN" : "");
}

static void cmd_quit(struct smtp_session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	smtp_reply(s, 221, "2.0.0", "Bye");
	smtp_close(s);
}

static void cmd_starttls(struct smtp_session *s, const char *args, size_t len)
{
	(void)args;
	if (len != 0) {
		smtp_reply(s, 501, "5.5.4", "Syntax: STARTTLS");
		return;
	}
	if (s->kind == SMTP_LISTENER_LOCAL) {
		smtp_reply(s, 502, "5.5.1", "Error: command not implemented");
		return;
	}
	if (conn_is_tls(s->conn)) {
		smtp_reply(s, 503, "5.5.1", "Error: TLS already active");
		return;
	}
	if (s->env->tls == NULL) {
		smtp_reply(s, 454, "4.7.0", "TLS not available due to temporary reason");
		return;
	}
	SSL *ssl = tls_server_new_ssl(s->env->tls);
	if (ssl == NULL) {
		smtp_reply(s, 454, "4.7.0", "TLS not available due to temporary reason");
		return;
	}
	smtp_reply(s, 220, "2.0.0", "Ready to start TLS");
	smtp_set_state(s, SMTP_STATE_TLS);
	/* conn_starttls drops every byte pipelined after STARTTLS. */
	if (conn_starttls(s->conn, ssl) != 0)
		smtp_close(s);
}

/* ETRN (RFC 1985): "ETRN domain" or "ETRN @domain" starts the queued
 * mail of that domain now. Only clients that may relay may ask (as
 * Postfix's default smtpd_etrn_restrictions); the reply does not wait
 * for the deliveries. */
static void cmd_etrn(struct smtp_session *s, const char *args, size_t len)
{
	if (s->env->queue == NULL || s->env->etrn == NULL) {
		smtp_reply(s, 502, "5.5.1", "Error: command not implemented");
		return;
	}
	if (!may_relay(s)) {
		smtp_reply(s, 458, "4.7.0", "Unable to queue messages: not allowed for this client");
		return;
	}
	if (len > 0 && (args[0] == '@' || args[0] == '#')) {
		/* "#queue" names are not supported; "@domain" means the
		 * domain and its subdomains in RFC 1985; we take the domain. */
		if (args[0] == '#') {
			smtp_reply(s, 458, "4.5.4", "Unable to queue messages: unknown queue name");
			return;
		}
		args++;
		len--;
	}
	char domain[SMTP_DOMAIN_MAX + 1];
	if (len == 0 || len > SMTP_DOMAIN_MAX || !smtp_is_valid_helo(args, len) || args[0] == '[') {
		smtp_reply(s, 501, "5.5.4", "Syntax: ETRN domain");
		return;
	}
	for (size_t i = 0; i < len; i++) {
		char c = args[i];
		domain[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
	}
	domain[len] = '\0';
	size_t n = s->env->etrn(s->env->queue_arg, domain);
	log_info(s->sid, "proto=smtp event=etrn domain=%s messages=%zu", domain, n);
	if (n == 0)
		smtp_reply(s, 251, "2.0.0", "OK, no messages waiting for node %s", domain);
	else
		smtp_reply(s, 250, "2.0.0", "Queuing for node %s started", domain);
}

static void cmd_not_implemented(struct smtp_session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	smtp_reply(s, 502, "5.5.1", "Error: command not implemented");
}

static const struct smtp_cmd smtp_commands[] = {
	{SMTP_VERB_HELO, "HELO", cmd_helo_fn, ST_ANY},
	{SMTP_VERB_EHLO, "EHLO", cmd_ehlo_fn, ST_ANY},
	{SMTP_VERB_MAIL, "MAIL", cmd_mail, ST(HELO)},
	{SMTP_VERB_RCPT, "RCPT", cmd_rcpt, ST(MAIL) | ST(RCPT)},
	{SMTP_VERB_DATA, "DATA", cmd_data, ST(RCPT)},
	{SMTP_VERB_BDAT, "BDAT", cmd_bdat, ST_ANY},
	{SMTP_VERB_RSET, "RSET", cmd_rset, ST_ANY},
	{SMTP_VERB_VRFY, "VRFY", cmd_vrfy, ST_ANY},
	{SMTP_VERB_EXPN, "EXPN", cmd_expn, ST_ANY},
	{SMTP_VERB_HELP, "HELP", cmd_help, ST_ANY},
	{SMTP_VERB_NOOP, "NOOP", cmd_noop, ST_ANY},
	{SMTP_VERB_QUIT, "QUIT", cmd_quit, ST_ANY},
	{SMTP_VERB_STARTTLS, "STARTTLS", cmd_starttls, ST(INIT) | ST(HELO)},
	{SMTP_VERB_AUTH, "AUTH", smtp_cmd_auth, ST(INIT) | ST(HELO)},
	{SMTP_VERB_ETRN, "ETRN", cmd_etrn, ST(HELO)},
	{SMTP_VERB_TURN, "TURN", cmd_not_implemented, ST_ANY},
	{SMTP_VERB_SEND, "SEND", cmd_not_implemented, ST_ANY},
	{SMTP_VERB_SOML, "SOML", cmd_not_implemented, ST_ANY},
	{SMTP_VERB_SAML, "SAML", cmd_not_implemented, ST_ANY},
};

/* RFC 5321 4.3.2 lists 503 for each out-of-order command; the text says
 * what is missing, as Postfix does. */
static void reply_bad_sequence(struct smtp_session *s, enum smtp_verb verb)
{
	const char *text = "Error: bad sequence of commands";
	switch (verb) {
	case SMTP_VERB_MAIL:
		text = s->state == SMTP_STATE_INIT ? "Error: send HELO/EHLO first"
						   : "Error: nested MAIL command";
		break;
	case SMTP_VERB_RCPT:
		text = s->state == SMTP_STATE_BDAT ? "Error: RCPT not allowed after BDAT"
						   : "Error: need MAIL command";
		break;
	case SMTP_VERB_DATA:
		if (s->state == SMTP_STATE_BDAT)
			text = "Error: DATA not allowed after BDAT";
		else if (s->state == SMTP_STATE_MAIL)
			text = "Error: need RCPT command";
		else
			text = "Error: need MAIL command";
		break;
	default:
		break;
	}
	smtp_reply(s, 503, "5.5.1", "%s", text);
}

void smtp_dispatch(struct smtp_session *s, const char *line, size_t len)
{
	const char *args;
	size_t args_len;
	enum smtp_verb verb = smtp_parse_verb(line, len, &args, &args_len);
	const struct smtp_cmd *cmd = NULL;
	for (size_t i = 0; i < sizeof(smtp_commands) / sizeof(smtp_commands[0]); i++) {
		if (smtp_commands[i].verb == verb) {
			cmd = &smtp_commands[i];
			break;
		}
	}
	if (cmd == NULL) {
		char esc[64];
		log_debug(s->sid, "proto=smtp event=unknown-command line=\"%s\"",
			  log_escape(esc, sizeof(esc), line, len));
		smtp_reply(s, 500, "5.5.2", "Error: command not recognized");
		return;
	}
	if (!(cmd->states & SMTP_STATE_BIT(s->state))) {
		reply_bad_sequence(s, verb);
		return;
	}
	cmd->fn(s, args, args_len);
}
