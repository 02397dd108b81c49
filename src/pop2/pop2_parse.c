/* pop2_parse: command-line splitting, argument counts and number parsing
 * for POP2 (RFC 937). Owns no state; must not log, reply or touch the
 * maildrop (STYLE.md 6). */
#include "pop2/pop2_parse.h"

#include <string.h>

struct verb_info {
	const char *name;
	unsigned min_args;
	unsigned max_args;
};

static const struct verb_info verbs[POP2_VERB_COUNT] = {
	[POP2_VERB_UNKNOWN] = {"?", 0, 0},
	[POP2_VERB_HELO] = {"HELO", 2, (unsigned)-1}, /* password may hold spaces */
	[POP2_VERB_FOLD] = {"FOLD", 1, 1},
	[POP2_VERB_READ] = {"READ", 0, 1},
	[POP2_VERB_RETR] = {"RETR", 0, 0},
	[POP2_VERB_ACKS] = {"ACKS", 0, 0},
	[POP2_VERB_ACKD] = {"ACKD", 0, 0},
	[POP2_VERB_NACK] = {"NACK", 0, 0},
	[POP2_VERB_QUIT] = {"QUIT", 0, 0},
};

const char *pop2_verb_name(enum pop2_verb verb)
{
	return verb < POP2_VERB_COUNT ? verbs[verb].name : "?";
}

static enum pop2_verb lookup_verb(const char *p, size_t len)
{
	for (int v = POP2_VERB_UNKNOWN + 1; v < POP2_VERB_COUNT; v++)
		if (words_equal_nocase(p, len, verbs[v].name))
			return (enum pop2_verb)v;
	return POP2_VERB_UNKNOWN;
}

void pop2_parse_command(const char *line, size_t len, struct pop2_command *out)
{
	memset(out, 0, sizeof(*out));
	size_t i = 0;
	while (i < len && line[i] != ' ')
		i++;
	out->verb_text = line;
	out->verb_len = i;
	out->verb = lookup_verb(line, i);
	out->rest = i < len ? line + i + 1 : line + len;
	out->rest_len = i < len ? len - i - 1 : 0;
	out->argc = words_split(out->rest, out->rest_len, out->argv, POP2_ARGV_MAX);
}

bool pop2_args_ok(const struct pop2_command *cmd)
{
	if (cmd->verb == POP2_VERB_UNKNOWN || cmd->verb >= POP2_VERB_COUNT)
		return false;
	const struct verb_info *vi = &verbs[cmd->verb];
	return cmd->argc >= vi->min_args && cmd->argc <= vi->max_args;
}

int pop2_parse_helo(const struct pop2_command *cmd, struct word *user_out,
		    struct word *password_out)
{
	const char *p = cmd->rest;
	size_t len = cmd->rest_len;
	size_t i = 0;
	while (i < len && p[i] != ' ')
		i++;
	if (i == 0 || i + 1 >= len)
		return -1;
	user_out->p = p;
	user_out->len = i;
	password_out->p = p + i + 1;
	password_out->len = len - i - 1;
	return 0;
}

int pop2_parse_msgno(const char *s, size_t len, uint32_t *out)
{
	uint64_t v;
	if (words_parse_decimal(s, len, UINT32_MAX, &v) != 0 || v == 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}
