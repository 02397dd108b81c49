/* pop3_parse: pure parsers for POP3 (RFC 1939, RFC 2449, RFC 5034,
 * RFC 6856):
 * splitting a command line into verb and arguments, the per-verb argument
 * counts, message-number and line-count parsing, and the TOP cut point in
 * a stored message. No I/O, no logging, no replies: results and error
 * codes go back to the session, which decides what to answer. Inputs are
 * (pointer, length), need not be NUL-terminated and never hold the CRLF. */
#ifndef KONVERT_POP3_POP3_PARSE_H
#define KONVERT_POP3_POP3_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/words.h"

/* RFC 2449 4: a client sends at most 255 octets a command line (CRLF
 * included). We accept more so that long passwords (PASS, HELO in POP2)
 * fit, up to this many octets without the line end. */
#define POP3_CMD_LINE_MAX 1024
/* RFC 2449 4: keywords are at most 40 characters. */
#define POP3_VERB_MAX 40
/* Most arguments any command takes (TOP msg n, AUTH mech initial). */
#define POP3_ARGV_MAX 2
/* Largest message number accepted at all; larger is a syntax error. */
#define POP3_MSGNO_MAX UINT32_MAX

enum pop3_verb {
	POP3_VERB_UNKNOWN = 0,
	POP3_VERB_USER,
	POP3_VERB_PASS,
	POP3_VERB_AUTH,
	POP3_VERB_STLS,
	POP3_VERB_CAPA,
	POP3_VERB_STAT,
	POP3_VERB_LIST,
	POP3_VERB_RETR,
	POP3_VERB_DELE,
	POP3_VERB_NOOP,
	POP3_VERB_RSET,
	POP3_VERB_TOP,
	POP3_VERB_UIDL,
	POP3_VERB_LAST,
	POP3_VERB_QUIT,
	POP3_VERB_UTF8,
	POP3_VERB_COUNT
};

/* A command line split up. Pointers point into the parsed line and live as
 * long as it does. */
struct pop3_command {
	enum pop3_verb verb;
	const char *verb_text; /* as sent, for logs (escape it) */
	size_t verb_len;
	/* Everything after the verb and its one separating SP, unchanged:
	 * PASS takes this as the password, which may contain spaces
	 * (RFC 1939 7, PASS). */
	const char *rest;
	size_t rest_len;
	/* rest split at runs of SP; at most POP3_ARGV_MAX are kept. */
	struct word argv[POP3_ARGV_MAX];
	size_t argc; /* number of arguments found (may exceed POP3_ARGV_MAX) */
};

/* Splits line into verb (case-insensitive, ends at the first SP or the end)
 * and arguments. Never fails: an empty line, a verb longer than
 * POP3_VERB_MAX or an unknown one gives POP3_VERB_UNKNOWN. */
void pop3_parse_command(const char *line, size_t len, struct pop3_command *out);

/* Upper-case name of a verb ("RETR"); "?" for UNKNOWN. */
const char *pop3_verb_name(enum pop3_verb verb);

/* True when cmd has an argument count its verb accepts (RFC 1939 9,
 * RFC 2449, RFC 2595, RFC 5034, RFC 6856): PASS needs a non-empty rest; USER, RETR,
 * DELE one argument; LIST and UIDL none or one; TOP two; AUTH none (the
 * mechanism list) to two; the others none. */
bool pop3_args_ok(const struct pop3_command *cmd);

/* A message number (RFC 1939 3: "msg"): decimal digits only, no sign or
 * spaces, value 1..POP3_MSGNO_MAX. Returns 0, or -1 for the empty string,
 * 0, a sign, any non-digit, or a value out of range. */
int pop3_parse_msgno(const char *s, size_t len, uint32_t *out);

/* A non-negative line count (TOP msg n): digits only, 0 allowed, at most
 * UINT64_MAX. Returns 0 or -1. */
int pop3_parse_count(const char *s, size_t len, uint64_t *out);

/* TOP (RFC 1939 7): the header, the blank line after it, then n lines of
 * the body. pop3_top_feed() is given the stored message in pieces and says
 * how much of each piece belongs to the output; once *done_out is true the
 * rest of the message is not wanted. Line ends are LF (a CR before it is
 * kept as data: the dot encoder turns CR LF into one line end). A message
 * without a blank line is all header and is sent whole. */
struct pop3_top {
	uint64_t lines_left; /* body lines still to send */
	bool in_body;
	bool line_empty; /* nothing but an optional CR seen on this line yet */
	bool line_cr; /* that one CR was seen */
	bool done;
};

void pop3_top_init(struct pop3_top *t, uint64_t body_lines);
/* Returns how many leading bytes of in to send (all of them, or fewer
 * when the cut falls inside; then *done_out is true). */
size_t pop3_top_feed(struct pop3_top *t, const char *in, size_t len, bool *done_out);

#endif
