/* pop2_parse: pure parsers for POP2 (RFC 937): splitting a command line
 * into verb and arguments, the per-verb argument counts, the HELO user and
 * password, and message numbers. No I/O, no logging, no replies. Inputs
 * are (pointer, length), need not be NUL-terminated and never hold the
 * line end. */
#ifndef KONVERT_POP2_POP2_PARSE_H
#define KONVERT_POP2_POP2_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/words.h"

/* Longest command line accepted, line end excluded (room for "HELO user
 * password" with a long password). */
#define POP2_CMD_LINE_MAX 1024
/* Most arguments kept (HELO user password). */
#define POP2_ARGV_MAX 2

enum pop2_verb {
	POP2_VERB_UNKNOWN = 0,
	POP2_VERB_HELO,
	POP2_VERB_FOLD,
	POP2_VERB_READ,
	POP2_VERB_RETR,
	POP2_VERB_ACKS,
	POP2_VERB_ACKD,
	POP2_VERB_NACK,
	POP2_VERB_QUIT,
	POP2_VERB_COUNT
};

struct pop2_command {
	enum pop2_verb verb;
	const char *verb_text; /* as sent, for logs (escape it) */
	size_t verb_len;
	const char *rest; /* after the verb and one SP */
	size_t rest_len;
	struct word argv[POP2_ARGV_MAX]; /* rest split at runs of SP */
	size_t argc; /* arguments found (may exceed POP2_ARGV_MAX) */
};

/* Splits line into verb (case-insensitive, four letters) and arguments.
 * Never fails: anything else gives POP2_VERB_UNKNOWN. */
void pop2_parse_command(const char *line, size_t len, struct pop2_command *out);

/* Upper-case name of a verb; "?" for UNKNOWN. */
const char *pop2_verb_name(enum pop2_verb verb);

/* RFC 937 argument counts: HELO user and password (the password may hold
 * spaces: it is the rest of the line after the user), FOLD one mailbox
 * name, READ an optional message number, RETR ACKS ACKD NACK QUIT none. */
bool pop2_args_ok(const struct pop2_command *cmd);

/* HELO: user is the first word, password everything after the single SP
 * that follows it. Returns 0, or -1 when either is empty. */
int pop2_parse_helo(const struct pop2_command *cmd, struct word *user_out,
		    struct word *password_out);

/* A message number: decimal digits only, 1..UINT32_MAX. Returns 0, or -1
 * for the empty string, 0, a sign, a non-digit or a value out of range. */
int pop2_parse_msgno(const char *s, size_t len, uint32_t *out);

#endif
