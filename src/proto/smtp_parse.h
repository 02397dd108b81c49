/* smtp_parse: pure parsers for SMTP command arguments (RFC 5321 4.1.2,
 * RFC 1869/1870/3030/3461/6152/6531): the RFC 5321 address grammar and the
 * ESMTP parameters, shared by the SMTP server, the queue, sendmail and the
 * outbound client (which is why it lives in proto/). No I/O, no logging, no replies: each
 * function fills an output struct or returns an error code that the session
 * maps to a reply. Inputs are (pointer, length) and need not be
 * NUL-terminated; they never contain the CRLF. */
#ifndef KONVERT_PROTO_SMTP_PARSE_H
#define KONVERT_PROTO_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
	SMTP_VERB_ETRN,
	SMTP_VERB_TURN,
	SMTP_VERB_SEND,
	SMTP_VERB_SOML,
	SMTP_VERB_SAML,
	SMTP_VERB_COUNT
};

/* Splits a command line into verb (case-insensitive) and arguments: the
 * verb ends at the first SP or end of line; *args_out points after the
 * single SP (leading extra spaces are skipped, trailing spaces removed).
 * An empty args has *args_len_out == 0. Returns the verb,
 * SMTP_VERB_UNKNOWN for anything else (including an empty line). */
enum smtp_verb smtp_parse_verb(const char *line, size_t len, const char **args_out,
			       size_t *args_len_out);

/* A parsed mailbox (RFC 5321 Path without the source route). */
struct smtp_addr {
	bool is_null; /* "<>" (MAIL only) */
	bool is_postmaster; /* "<postmaster>" with no domain (RCPT only) */
	bool has_utf8; /* some byte >= 0x80 in local part or domain */
	bool is_literal; /* domain is an address literal "[...]" */
	bool had_route; /* an "@a,@b:" source route was present and dropped */
	/* Local part with quoting removed: "a\"b"@x gives a"b. Never
	 * interpreted further: '%', '!' and '@' inside it have no routing
	 * meaning anywhere in konvert. */
	char local[SMTP_LOCAL_MAX + 1];
	size_t local_len;
	/* Domain name as sent, lower-cased (ASCII letters only; U-labels
	 * kept as sent). An address literal is kept exactly as sent, with its
	 * brackets. Empty for is_null and is_postmaster. */
	char domain[SMTP_DOMAIN_MAX + 1];
};

enum smtp_body { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME, SMTP_BODY_BINARYMIME };
enum smtp_ret { SMTP_RET_NONE = 0, SMTP_RET_FULL, SMTP_RET_HDRS };

#define SMTP_NOTIFY_NEVER 1u
#define SMTP_NOTIFY_SUCCESS 2u
#define SMTP_NOTIFY_FAILURE 4u
#define SMTP_NOTIFY_DELAY 8u

struct smtp_mail_params {
	bool has_size;
	uint64_t size; /* SIZE=n (RFC 1870) */
	enum smtp_body body; /* BODY= (RFC 6152, 3030) */
	bool smtputf8; /* SMTPUTF8 (RFC 6531) */
	bool requiretls; /* REQUIRETLS (RFC 8689) */
	enum smtp_ret ret; /* RET= (RFC 3461) */
	char envid[101]; /* ENVID= xtext as sent (RFC 3461), "" if absent */
	char auth[SMTP_PATH_MAX + 3]; /* AUTH= xtext as sent (RFC 4954), "" if absent */
};

/* RFC 3461 4.2: "The entire ORCPT parameter MAY be up to 500 characters";
 * xtext can triple a path's length, so SMTP_PATH_MAX would be too small. */
#define SMTP_ORCPT_MAX 500

struct smtp_rcpt_params {
	unsigned notify; /* SMTP_NOTIFY_* bits, 0 if absent */
	char orcpt[SMTP_ORCPT_MAX + 1]; /* ORCPT= as sent, "" if absent */
};

enum smtp_parse_err {
	SMTP_PERR_OK = 0,
	SMTP_PERR_SYNTAX, /* no "FROM:"/"TO:" or no <...>: 501 5.5.4 */
	SMTP_PERR_ADDR, /* malformed address: 501 5.1.7 (MAIL) / 501 5.1.3 (RCPT) */
	SMTP_PERR_ADDR_TOO_LONG, /* local > 64, domain > 255, path > 256: 501 5.1.7/5.1.3 */
	SMTP_PERR_NULL_NOT_ALLOWED, /* <> in RCPT: 501 5.1.3 */
	SMTP_PERR_NEED_SMTPUTF8, /* non-ASCII address without SMTPUTF8: 553 5.6.7 */
	SMTP_PERR_PARAM_UNKNOWN, /* unknown/unsupported parameter: 555 5.5.4 */
	SMTP_PERR_PARAM_VALUE, /* bad value or duplicate parameter: 501 5.5.4 */
};

/* Static text for an error, e.g. "bad address syntax". */
const char *smtp_parse_strerror(enum smtp_parse_err err);

/* Parses an address with its angle brackets: "<...>" exactly spanning
 * len bytes. allow_utf8 permits bytes >= 0x80 (must be valid UTF-8);
 * without it any such byte gives SMTP_PERR_NEED_SMTPUTF8. allow_null
 * permits "<>" (else SMTP_PERR_NULL_NOT_ALLOWED); "<postmaster>" (any
 * case) is always accepted, sets is_postmaster and local "postmaster".
 * Source routes "<@a,@b:x@y>" are parsed and dropped. No '<' first or no
 * '>' last gives SMTP_PERR_SYNTAX. The empty quoted local part ""@x is
 * refused (SMTP_PERR_ADDR): no mailbox has an empty name. *out is
 * cleared first and meaningful only on SMTP_PERR_OK. */
enum smtp_parse_err smtp_parse_path(const char *s, size_t len, bool allow_utf8, bool allow_null,
				    struct smtp_addr *out);

/* Arguments of MAIL (everything after "MAIL "): "FROM:<path> [params]".
 * One optional space after the colon is tolerated. The path may contain
 * UTF-8 only when the SMTPUTF8 parameter is present, so parameters are
 * checked before the path: a bad parameter is reported even when the path
 * is bad too. "<postmaster>" without a domain is not a reverse-path
 * (SMTP_PERR_ADDR). Parameters (keyword case-insensitive, each at most
 * once): SIZE=digits (<= 20 digits; above 2^64-1 saturates), BODY=7BIT|8BITMIME|BINARYMIME,
 * SMTPUTF8 (no value), RET=FULL|HDRS, ENVID=xtext (<= 100), AUTH=xtext or
 * <> (<= SMTP_PATH_MAX + 2). A malformed keyword gives SMTP_PERR_SYNTAX.
 * Both outputs are cleared first and meaningful only on SMTP_PERR_OK. */
enum smtp_parse_err smtp_parse_mail(const char *args, size_t len, struct smtp_addr *addr_out,
				    struct smtp_mail_params *params_out);

/* Arguments of RCPT: "TO:<path> [params]". allow_utf8 comes from the
 * transaction's SMTPUTF8. Parameters, checked before the path as for MAIL:
 * NOTIFY=NEVER|SUCCESS,FAILURE,DELAY (NEVER alone),
 * ORCPT=addr-type;xtext (<= SMTP_ORCPT_MAX; UTF-8 in the xtext only for
 * addr-type utf-8 with allow_utf8, RFC 6533). "<>" gives
 * SMTP_PERR_NULL_NOT_ALLOWED. Outputs as for smtp_parse_mail. */
enum smtp_parse_err smtp_parse_rcpt(const char *args, size_t len, bool allow_utf8,
				    struct smtp_addr *addr_out, struct smtp_rcpt_params *params_out);

/* Arguments of BDAT (RFC 3030): "chunk-size [LAST]". chunk-size is 1..20
 * digits without sign and must fit uint64_t; LAST is case-insensitive.
 * Returns 0 (outputs set) or -1 (outputs untouched). */
int smtp_parse_bdat(const char *args, size_t len, uint64_t *size_out, bool *last_out);

/* True when args is an acceptable HELO/EHLO argument: a domain
 * (letters, digits, '-', '_', dots; labels 1..63 not starting or ending
 * with '-', no trailing dot, total <= 255) or an address literal
 * ("[1.2.3.4]", "[IPv6:...]", "[tag:text]"), nothing after it. */
bool smtp_is_valid_helo(const char *args, size_t len);

/* Writes addr as "local@domain" into out, quoting the local part when it
 * is not a dot-string (RFC 5321 4.1.2) and escaping only '"' and '\\'.
 * "<>" gives "", postmaster gives "postmaster". For an address from
 * smtp_parse_* the result is never longer than the path as sent minus its
 * brackets, so SMTP_PATH_MAX - 1 bytes always suffice. Returns the length,
 * or -1 (out set to "" if out_size > 0) when out_size is too small. */
int smtp_addr_format(const struct smtp_addr *addr, char *out, size_t out_size);

#endif
