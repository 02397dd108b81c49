/* pop3_parse: command-line splitting, argument counts, number parsing and
 * the TOP cut for POP3. Owns no state beyond the caller's structs; it must
 * not log, reply or touch the maildrop (STYLE.md 6). */
#include "pop3/pop3_parse.h"

#include <string.h>

struct verb_info {
	const char *name;
	unsigned min_args;
	unsigned max_args;
};

/* Argument counts from RFC 1939 9 (command summary), RFC 2449 5 (CAPA),
 * RFC 2595 4 (STLS), RFC 5034 4 (AUTH mechanism [initial-response]),
 * RFC 1460 (LAST) and RFC 6856 2 (UTF8). AUTH without arguments lists the mechanisms, as
 * Dovecot and the pre-RFC 5034 draft do for old clients. */
static const struct verb_info verbs[POP3_VERB_COUNT] = {
	[POP3_VERB_UNKNOWN] = {"?", 0, 0},
	[POP3_VERB_USER] = {"USER", 1, 1},
	[POP3_VERB_PASS] = {"PASS", 1, 1}, /* checked on rest, see pop3_args_ok */
	[POP3_VERB_AUTH] = {"AUTH", 0, 2},
	[POP3_VERB_STLS] = {"STLS", 0, 0},
	[POP3_VERB_CAPA] = {"CAPA", 0, 0},
	[POP3_VERB_STAT] = {"STAT", 0, 0},
	[POP3_VERB_LIST] = {"LIST", 0, 1},
	[POP3_VERB_RETR] = {"RETR", 1, 1},
	[POP3_VERB_DELE] = {"DELE", 1, 1},
	[POP3_VERB_NOOP] = {"NOOP", 0, 0},
	[POP3_VERB_RSET] = {"RSET", 0, 0},
	[POP3_VERB_TOP] = {"TOP", 2, 2},
	[POP3_VERB_UIDL] = {"UIDL", 0, 1},
	[POP3_VERB_LAST] = {"LAST", 0, 0},
	[POP3_VERB_QUIT] = {"QUIT", 0, 0},
	[POP3_VERB_UTF8] = {"UTF8", 0, 0}, /* RFC 6856 2: no parameters */
};

const char *pop3_verb_name(enum pop3_verb verb)
{
	return verb < POP3_VERB_COUNT ? verbs[verb].name : "?";
}

static enum pop3_verb lookup_verb(const char *p, size_t len)
{
	if (len == 0 || len > POP3_VERB_MAX)
		return POP3_VERB_UNKNOWN;
	for (int v = POP3_VERB_UNKNOWN + 1; v < POP3_VERB_COUNT; v++)
		if (words_equal_nocase(p, len, verbs[v].name))
			return (enum pop3_verb)v;
	return POP3_VERB_UNKNOWN;
}

void pop3_parse_command(const char *line, size_t len, struct pop3_command *out)
{
	memset(out, 0, sizeof(*out));
	size_t i = 0;
	while (i < len && line[i] != ' ')
		i++;
	out->verb_text = line;
	out->verb_len = i;
	out->verb = lookup_verb(line, i);
	if (i < len) {
		/* RFC 2449 3: a single SP separates the keyword and arguments. */
		out->rest = line + i + 1;
		out->rest_len = len - i - 1;
	} else {
		out->rest = line + len;
		out->rest_len = 0;
	}
	/* Arguments: runs of SP separate them; leading and trailing spaces
	 * are tolerated (some clients send "LIST 1 "). */
	out->argc = words_split(out->rest, out->rest_len, out->argv, POP3_ARGV_MAX);
}

bool pop3_args_ok(const struct pop3_command *cmd)
{
	if (cmd->verb == POP3_VERB_UNKNOWN || cmd->verb >= POP3_VERB_COUNT)
		return false;
	if (cmd->verb == POP3_VERB_PASS)
		return cmd->rest_len > 0; /* RFC 1939 7: spaces belong to it */
	const struct verb_info *vi = &verbs[cmd->verb];
	return cmd->argc >= vi->min_args && cmd->argc <= vi->max_args;
}

int pop3_parse_msgno(const char *s, size_t len, uint32_t *out)
{
	uint64_t v;
	if (words_parse_decimal(s, len, POP3_MSGNO_MAX, &v) < 0 || v == 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int pop3_parse_count(const char *s, size_t len, uint64_t *out)
{
	return words_parse_decimal(s, len, UINT64_MAX, out);
}

void pop3_top_init(struct pop3_top *t, uint64_t body_lines)
{
	memset(t, 0, sizeof(*t));
	t->lines_left = body_lines;
	t->line_empty = true;
}

size_t pop3_top_feed(struct pop3_top *t, const char *in, size_t len, bool *done_out)
{
	if (t->done) {
		*done_out = true;
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (t->in_body) {
			if (c == '\n' && --t->lines_left == 0) {
				t->done = true;
				*done_out = true;
				return i + 1;
			}
			continue;
		}
		if (c == '\n') {
			if (t->line_empty) {
				/* The blank line ends the header (RFC 5322 2.1). */
				t->in_body = true;
				if (t->lines_left == 0) {
					t->done = true;
					*done_out = true;
					return i + 1;
				}
			}
			t->line_empty = true;
			t->line_cr = false;
		} else if (c == '\r' && !t->line_cr) {
			t->line_cr = true; /* one CR before the LF is still blank */
		} else {
			t->line_empty = false;
		}
	}
	*done_out = false;
	return len;
}
