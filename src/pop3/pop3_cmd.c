/* pop3_cmd: the POP3 command table, the dispatcher, and the commands of the
 * TRANSACTION state (RFC 1939 5 and 7, RFC 1460 LAST) plus CAPA (RFC 2449),
 * UTF8 (RFC 6856) and QUIT. The dispatcher checks the state mask and
 * argument count and answers wrong-state and syntax errors itself, so
 * handlers start from valid preconditions (STYLE.md 3). Login commands are
 * in pop3_auth.c, multi-line output in pop3_send.c. Reply texts follow the
 * RFC 1939 examples (reproduced in the project seeds). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "core/log.h"
#include "net/conn.h"
#include "pop3/pop3_internal.h"
#include "proto/sasl.h"
#include "store/maildrop.h"

typedef void (*pop3_cmd_fn)(struct pop3_session *s, const struct pop3_command *cmd);

#define ST(x) POP3_STATE_BIT(POP3_STATE_##x)

/* Arguments are never logged (PASS, AUTH initial responses). */
#define POP3_CMD_SECRET 1u

struct pop3_cmd {
	pop3_cmd_fn fn;
	unsigned states; /* POP3_STATE_BIT mask where the verb is legal */
	unsigned flags;
	const char *usage; /* for syntax errors */
};

static void cmd_capa(struct pop3_session *s, const struct pop3_command *cmd);
static void cmd_stat(struct pop3_session *s, const struct pop3_command *cmd);
static void cmd_list(struct pop3_session *s, const struct pop3_command *cmd);
static void cmd_retr(struct pop3_session *s, const struct pop3_command *cmd);
static void cmd_dele(struct pop3_session *s, const struct pop3_command *cmd);
static void cmd_noop(struct pop3_session *s, const struct pop3_command *cmd);
static void cmd_rset(struct pop3_session *s, const struct pop3_command *cmd);
static void cmd_top(struct pop3_session *s, const struct pop3_command *cmd);
static void cmd_uidl(struct pop3_session *s, const struct pop3_command *cmd);
static void cmd_last(struct pop3_session *s, const struct pop3_command *cmd);
static void cmd_quit(struct pop3_session *s, const struct pop3_command *cmd);
static void cmd_utf8(struct pop3_session *s, const struct pop3_command *cmd);

/* RFC 1939 4-6 and 9: which command is valid in which state. STLS is
 * AUTHORIZATION only (RFC 2595 4), AUTH too (RFC 5034 4), and UTF8
 * (RFC 6856 2); CAPA is valid in both states (RFC 2449 5). APOP and LANG
 * (RFC 6856 3) are not offered and so unknown. */
static const struct pop3_cmd cmds[POP3_VERB_COUNT] = {
	[POP3_VERB_USER] = {pop3_cmd_user, ST(AUTHORIZATION), 0, "USER name"},
	[POP3_VERB_PASS] = {pop3_cmd_pass, ST(AUTHORIZATION), POP3_CMD_SECRET, "PASS string"},
	[POP3_VERB_AUTH] = {pop3_cmd_auth, ST(AUTHORIZATION), POP3_CMD_SECRET,
			    "AUTH mechanism [initial-response]"},
	[POP3_VERB_STLS] = {pop3_cmd_stls, ST(AUTHORIZATION), 0, "STLS"},
	[POP3_VERB_CAPA] = {cmd_capa, ST(AUTHORIZATION) | ST(TRANSACTION), 0, "CAPA"},
	[POP3_VERB_STAT] = {cmd_stat, ST(TRANSACTION), 0, "STAT"},
	[POP3_VERB_LIST] = {cmd_list, ST(TRANSACTION), 0, "LIST [msg]"},
	[POP3_VERB_RETR] = {cmd_retr, ST(TRANSACTION), 0, "RETR msg"},
	[POP3_VERB_DELE] = {cmd_dele, ST(TRANSACTION), 0, "DELE msg"},
	[POP3_VERB_NOOP] = {cmd_noop, ST(TRANSACTION), 0, "NOOP"},
	[POP3_VERB_RSET] = {cmd_rset, ST(TRANSACTION), 0, "RSET"},
	[POP3_VERB_TOP] = {cmd_top, ST(TRANSACTION), 0, "TOP msg n"},
	[POP3_VERB_UIDL] = {cmd_uidl, ST(TRANSACTION), 0, "UIDL [msg]"},
	[POP3_VERB_LAST] = {cmd_last, ST(TRANSACTION), 0, "LAST"},
	[POP3_VERB_QUIT] = {cmd_quit, ST(AUTHORIZATION) | ST(TRANSACTION), 0, "QUIT"},
	[POP3_VERB_UTF8] = {cmd_utf8, ST(AUTHORIZATION), 0, "UTF8"},
};

enum pop3_check pop3_cmd_check(enum pop3_state state, const struct pop3_command *cmd)
{
	if (cmd->verb == POP3_VERB_UNKNOWN || cmd->verb >= POP3_VERB_COUNT ||
	    cmds[cmd->verb].fn == NULL)
		return POP3_CHECK_UNKNOWN;
	if (state >= POP3_STATE_COUNT || (cmds[cmd->verb].states & POP3_STATE_BIT(state)) == 0)
		return POP3_CHECK_STATE;
	if (!pop3_args_ok(cmd))
		return POP3_CHECK_ARGS;
	return POP3_CHECK_OK;
}

void pop3_dispatch(struct pop3_session *s, const char *line, size_t len)
{
	struct pop3_command cmd;
	pop3_parse_command(line, len, &cmd);
	char esc[128];
	switch (pop3_cmd_check(s->state, &cmd)) {
	case POP3_CHECK_UNKNOWN:
		if (s->txn == NULL) {
			/* Before login an "unknown command" may be a password or
			 * a SASL response the client pipelined after a refused
			 * PASS or AUTH: its text reaches neither the log nor the
			 * reply (which is logged); only its length does. */
			log_debug(s->sid, "proto=pop3 event=unknown-command len=%zu", len);
			pop3_reply(s, POP3_ERR_BAD, "unknown command");
			return;
		}
		pop3_reply(s, POP3_ERR_BAD, "unknown command \"%s\"",
			   log_escape(esc, 48, cmd.verb_text, cmd.verb_len));
		return;
	case POP3_CHECK_STATE:
		pop3_reply(s, POP3_ERR_BAD, "%s not valid in the %s state",
			   pop3_verb_name(cmd.verb),
			   s->state == POP3_STATE_AUTHORIZATION ? "AUTHORIZATION" : "TRANSACTION");
		return;
	case POP3_CHECK_ARGS:
		pop3_reply(s, POP3_ERR_BAD, "syntax: %s", cmds[cmd.verb].usage);
		return;
	case POP3_CHECK_OK:
		break;
	}
	const struct pop3_cmd *c = &cmds[cmd.verb];
	if (c->flags & POP3_CMD_SECRET)
		log_debug(s->sid, "proto=pop3 event=command verb=%s", pop3_verb_name(cmd.verb));
	else
		log_debug(s->sid, "proto=pop3 event=command verb=%s args=\"%s\"",
			  pop3_verb_name(cmd.verb), log_escape(esc, sizeof(esc), cmd.rest, cmd.rest_len));
	c->fn(s, &cmd);
}

/* ---- CAPA (RFC 2449 5, 6) ---------------------------------------------- */

static void cmd_capa(struct pop3_session *s, const struct pop3_command *cmd)
{
	(void)cmd;
	pop3_reply(s, POP3_OK, "Capability list follows");
	pop3_data_line(s, "TOP");
	pop3_data_line(s, "UIDL");
	pop3_data_line(s, "RESP-CODES");
	pop3_data_line(s, "AUTH-RESP-CODE");
	pop3_data_line(s, "PIPELINING");
	/* RFC 6856 2, the same in both states. USER: UTF-8 names and
	 * passwords are taken in USER/PASS (and SASL) with or without the
	 * UTF8 command; names must be the account's bytes (no SASLprep or
	 * normalisation: auth/userdb.h). */
	pop3_data_line(s, "UTF8 USER");
	if (s->state == POP3_STATE_AUTHORIZATION) {
		bool plain = pop3_plaintext_allowed(s);
		/* RFC 2449 6.2/6.3: announce only what can be used now. */
		if (plain)
			pop3_data_line(s, "USER");
		if (plain)
			pop3_data_line(s, "SASL %s %s %s", sasl_mech_name(SASL_MECH_PLAIN),
				       sasl_mech_name(SASL_MECH_LOGIN),
				       sasl_mech_name(SASL_MECH_SCRAM_SHA_256));
		else
			pop3_data_line(s, "SASL %s", sasl_mech_name(SASL_MECH_SCRAM_SHA_256));
		/* RFC 2595 4: STLS only while not in TLS. */
		if (pop3_stls_offered(s))
			pop3_data_line(s, "STLS");
	}
	pop3_data_line(s, "IMPLEMENTATION konvert");
	conn_write(s->conn, ".\r\n", 3);
}

/* ---- UTF8 (RFC 6856 2) ---------------------------------------------------- */

/* UTF-8 mode: replies may carry UTF-8 from now on. Messages are served
 * as stored in either mode (a maildrop holds what SMTP took, SMTPUTF8
 * mail included; there is no downgrading, RFC 6857). A second UTF8 is
 * harmless and answered the same. */
static void cmd_utf8(struct pop3_session *s, const struct pop3_command *cmd)
{
	(void)cmd;
	s->utf8 = true;
	pop3_reply(s, POP3_OK, "UTF-8 mode on");
}

/* ---- message arguments --------------------------------------------------- */

/* Resolves a "msg" argument (RFC 1939 5): a number of the snapshot whose
 * message is not marked deleted. Replies itself and returns false when it
 * is not one. */
static bool msg_arg(struct pop3_session *s, const struct word *a, size_t *index0_out)
{
	struct maildrop *md = s->txn->md;
	uint32_t n;
	if (pop3_parse_msgno(a->p, a->len, &n) < 0) {
		char esc[64];
		pop3_reply(s, POP3_ERR_BAD, "invalid message number \"%s\"",
			   log_escape(esc, 24, a->p, a->len));
		return false;
	}
	size_t count = maildrop_count(md);
	if (n > count) {
		pop3_reply(s, POP3_ERR_BAD, "no such message, only %zu message%s in maildrop", count,
			   pop3_plural(count));
		return false;
	}
	if (maildrop_get(md, (size_t)n - 1)->deleted) {
		pop3_reply(s, POP3_ERR_BAD, "message %u already deleted", n);
		return false;
	}
	*index0_out = (size_t)n - 1;
	return true;
}

/* ---- TRANSACTION commands (RFC 1939 5, 7) --------------------------------- */

static void cmd_stat(struct pop3_session *s, const struct pop3_command *cmd)
{
	(void)cmd;
	size_t count;
	uint64_t octets;
	maildrop_stat(s->txn->md, &count, &octets);
	pop3_reply(s, POP3_OK, "%zu %llu", count, (unsigned long long)octets);
}

static void cmd_list(struct pop3_session *s, const struct pop3_command *cmd)
{
	if (cmd->argc == 1) {
		size_t i;
		if (!msg_arg(s, &cmd->argv[0], &i))
			return;
		pop3_reply(s, POP3_OK, "%zu %llu", i + 1,
			   (unsigned long long)maildrop_get(s->txn->md, i)->size);
		return;
	}
	size_t count;
	uint64_t octets;
	maildrop_stat(s->txn->md, &count, &octets);
	pop3_reply(s, POP3_OK, "%zu message%s (%llu octets)", count, pop3_plural(count),
		   (unsigned long long)octets);
	pop3_send_listing(s, POP3_SEND_LIST);
}

static void cmd_uidl(struct pop3_session *s, const struct pop3_command *cmd)
{
	if (cmd->argc == 1) {
		size_t i;
		if (!msg_arg(s, &cmd->argv[0], &i))
			return;
		pop3_reply(s, POP3_OK, "%zu %s", i + 1, maildrop_get(s->txn->md, i)->uid);
		return;
	}
	pop3_reply(s, POP3_OK, "unique-id listing follows");
	pop3_send_listing(s, POP3_SEND_UIDL);
}

/* Opens message i for RETR/TOP; replies itself and returns -1 when the
 * file cannot be read. Opening a file is acceptable on the loop thread. */
static int open_message(struct pop3_session *s, size_t i)
{
	int fd = maildrop_open_msg(s->txn->md, i);
	if (fd >= 0)
		return fd;
	/* Both count towards POP3_BAD_CMDS_MAX: a client retrying the same
	 * unreadable message in a loop is closed, not served forever. */
	if (errno == ENOENT) {
		/* Removed behind our back (another client, e.g. IMAP later). */
		pop3_reply(s, POP3_ERR_BAD, "message %zu no longer exists", i + 1);
		return -1;
	}
	log_error(s->sid, "proto=pop3 event=retr result=error msg=%zu errno=%d", i + 1, errno);
	pop3_reply(s, POP3_ERR_BAD, "[SYS/TEMP] cannot read message %zu", i + 1);
	return -1;
}

static void cmd_retr(struct pop3_session *s, const struct pop3_command *cmd)
{
	size_t i;
	if (!msg_arg(s, &cmd->argv[0], &i))
		return;
	int fd = open_message(s, i);
	if (fd < 0)
		return;
	struct pop3_txn *t = s->txn;
	/* Seen from now on: LAST counts it (RFC 1460, RETR as Dovecot counts
	 * it), and UPDATE gives it the S flag, so mutt and IMAP show it read
	 * and fetchmail in "keep" mode does not fetch it again. TOP does not
	 * mark (fetchmail relies on that to peek). Only at QUIT does it reach
	 * the disk: a dropped session changes nothing (RFC 1939 6). */
	maildrop_mark_seen(t->md, i);
	t->retrieved++;
	pop3_reply(s, POP3_OK, "%llu octets", (unsigned long long)maildrop_get(t->md, i)->size);
	pop3_send_message(s, fd, NULL);
}

static void cmd_top(struct pop3_session *s, const struct pop3_command *cmd)
{
	size_t i;
	if (!msg_arg(s, &cmd->argv[0], &i))
		return;
	uint64_t lines;
	if (pop3_parse_count(cmd->argv[1].p, cmd->argv[1].len, &lines) < 0) {
		/* RFC 1939 7: n must be a non-negative number. */
		pop3_reply(s, POP3_ERR_BAD, "invalid number of lines");
		return;
	}
	int fd = open_message(s, i);
	if (fd < 0)
		return;
	pop3_reply(s, POP3_OK, "top of message follows");
	pop3_send_message(s, fd, &lines);
}

static void cmd_dele(struct pop3_session *s, const struct pop3_command *cmd)
{
	size_t i;
	if (!msg_arg(s, &cmd->argv[0], &i))
		return;
	/* RFC 1939 5: only marked; removed in UPDATE. */
	maildrop_mark_deleted(s->txn->md, i, true);
	pop3_reply(s, POP3_OK, "message %zu deleted", i + 1);
}

static void cmd_noop(struct pop3_session *s, const struct pop3_command *cmd)
{
	(void)cmd;
	pop3_reply(s, POP3_OK, "%s", "");
}

static void cmd_rset(struct pop3_session *s, const struct pop3_command *cmd)
{
	(void)cmd;
	struct pop3_txn *t = s->txn;
	/* RFC 1939 5 unmarks the deleted messages; RFC 1460: RSET also
	 * resets LAST to its value at the start, so the RETR marks go too. */
	maildrop_reset(t->md);
	size_t count;
	uint64_t octets;
	maildrop_stat(t->md, &count, &octets);
	pop3_reply(s, POP3_OK, "maildrop has %zu message%s (%llu octets)", count, pop3_plural(count),
		   (unsigned long long)octets);
}

/* RFC 1460 LAST: the highest number of a message seen, before this
 * session (S flag; the maildrop lists those first) or by its RETRs. */
static void cmd_last(struct pop3_session *s, const struct pop3_command *cmd)
{
	(void)cmd;
	pop3_reply(s, POP3_OK, "%zu", maildrop_last_seen(s->txn->md));
}

static void cmd_quit(struct pop3_session *s, const struct pop3_command *cmd)
{
	(void)cmd;
	if (s->state == POP3_STATE_TRANSACTION) {
		/* RFC 1939 6: QUIT in TRANSACTION enters UPDATE. */
		pop3_maildrop_update(s);
		return;
	}
	/* RFC 1939 4: QUIT in AUTHORIZATION ends without UPDATE. */
	log_info(s->sid, "proto=pop3 event=quit state=%s", pop3_state_name(s->state));
	pop3_reply(s, POP3_OK, "%s POP3 server signing off", s->env->cfg->hostname);
	pop3_close(s);
}
