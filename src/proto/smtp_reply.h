/* smtp_reply: the outbound SMTP client's reply parser (RFC 5321 4.2,
 * enhanced status codes RFC 3463 / RFC 2034), the EHLO keyword reader
 * (RFC 5321 4.1.1.1 and the extensions' RFCs), and a one-line rendering of
 * a reply for logs, queue state and DSN Diagnostic-Code fields.
 *
 * The parser is fed one line at a time, without its CRLF (the line reader
 * bounds each line): "250-text" continues, "250 text" or a bare "250" ends
 * the reply. Every line must carry the same 3-digit code, first digit 2..5
 * (RFC 5321 4.2: other digits are not SMTP; the second and third are not
 * checked, as real servers send odd ones and the class is all that
 * decides). A reply is bounded in lines and total text: a peer that sends
 * continuation lines forever gets an error, not our memory.
 *
 * Pure: no I/O, no logging; the reply's text is kept in one buffer owned
 * by struct smtp_reply that grows up to text_max bytes. */
#ifndef KONVERT_PROTO_SMTP_REPLY_H
#define KONVERT_PROTO_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Defaults for smtp_reply_init. Real EHLO replies have ~15 lines; 100
 * lines and 64 KiB leave room for verbose banners and still bound RAM. */
#define SMTP_REPLY_LINES_MAX 100
#define SMTP_REPLY_TEXT_MAX (64 * 1024)
/* "x.yyy.zzz" plus NUL (RFC 3463 2: subject and detail are 1..3 digits). */
#define SMTP_REPLY_ENH_MAX 10

enum smtp_reply_err {
	SMTP_REPLY_ERR_NONE = 0,
	SMTP_REPLY_ERR_SYNTAX, /* not "ddd", "ddd-..." or "ddd ..." */
	SMTP_REPLY_ERR_CODE, /* first digit not 2..5 */
	SMTP_REPLY_ERR_MISMATCH, /* a later line has another code */
	SMTP_REPLY_ERR_TOO_MANY_LINES, /* more than lines_max lines */
	SMTP_REPLY_ERR_TOO_LONG, /* text of all lines over text_max */
};

struct smtp_reply {
	int code; /* 200..599 once the first line parsed, else 0 */
	/* Enhanced status code of the first line ("5.1.1"), "" when absent
	 * or when its class differs from the code's first digit (RFC 2034
	 * 3: then it is not one). */
	char enh[SMTP_REPLY_ENH_MAX];
	size_t nlines; /* lines taken so far */
	/* Owned. Each line's text after "ddd-"/"ddd " (empty for a bare
	 * "ddd"), NUL-terminated, one after the other; line i starts at
	 * text + line_off[i] and is line_len[i] bytes long (it may itself
	 * contain NUL or control bytes as sent). Valid until the next
	 * smtp_reply_feed, smtp_reply_reset or smtp_reply_fini. */
	char *text;
	size_t text_len; /* bytes used in text, NULs included */
	size_t text_cap; /* private */
	size_t *line_off; /* owned, lines_max entries */
	size_t *line_len; /* owned, lines_max entries */
	size_t lines_max; /* limits, from smtp_reply_init */
	size_t text_max;
	int state; /* private */
	enum smtp_reply_err err; /* why smtp_reply_feed returned -1 */
};

/* Prepares r for a reply with at most lines_max lines (>= 1) and at most
 * text_max bytes of text in all (each line's text counts, plus one per
 * line). Allocation failure aborts (core/alloc). */
void smtp_reply_init(struct smtp_reply *r, size_t lines_max, size_t text_max);
/* Frees what r owns; r may be initialized again. */
void smtp_reply_fini(struct smtp_reply *r);
/* Forgets the current reply (complete, partial or failed) and keeps the
 * buffers, for the next reply on the same connection. */
void smtp_reply_reset(struct smtp_reply *r);

/* Feeds one reply line of len bytes (no CR LF; any bytes). Returns 1 when
 * this line ended the reply, 0 when more lines are needed, -1 on error
 * (r->err says why; the reply is then unusable and the connection out of
 * sync: the caller gives up on it). After 1 or -1, calling again without
 * smtp_reply_reset is a bug (KASSERT). */
int smtp_reply_feed(struct smtp_reply *r, const char *line, size_t len);

/* True once smtp_reply_feed returned 1. */
bool smtp_reply_is_complete(const struct smtp_reply *r);

/* Static text for an error, e.g. "reply has too many lines". */
const char *smtp_reply_strerror(enum smtp_reply_err err);

/* Line i (< r->nlines) of the reply: returns its text, sets *len_out. */
const char *smtp_reply_line(const struct smtp_reply *r, size_t i, size_t *len_out);

/* Renders a reply on one line for logs, queue state and DSN fields:
 * "550 5.1.1 text of line 1 text of line 2". An enhanced code that
 * repeats at the start of every line is written once. Bytes outside
 * printable ASCII and the backslash are escaped as "\xNN" ("\\\\" for a
 * backslash), so the result is printable ASCII with no CR/LF whatever the
 * peer sent. Output is cut to out_size - 1 bytes, ending in "..." when cut
 * (out_size >= 4 assumed for that marker). Returns the length written;
 * out is always NUL-terminated when out_size > 0. r must hold at least one
 * parsed line (complete or not). */
size_t smtp_reply_render(const struct smtp_reply *r, char *out, size_t out_size);

/* SMTP_EHLO_AUTH_* bits: the SASL mechanisms we can use or want to see. */
#define SMTP_EHLO_AUTH_PLAIN 1u
#define SMTP_EHLO_AUTH_LOGIN 2u
#define SMTP_EHLO_AUTH_CRAM_MD5 4u
#define SMTP_EHLO_AUTH_SCRAM_SHA_1 8u
#define SMTP_EHLO_AUTH_SCRAM_SHA_256 16u
#define SMTP_EHLO_AUTH_XOAUTH2 32u
#define SMTP_EHLO_AUTH_OTHER 64u /* some mechanism not listed above */

/* What a server announced in its EHLO reply. */
struct smtp_ehlo {
	bool pipelining; /* RFC 2920 */
	bool has_size; /* RFC 1870 SIZE announced */
	uint64_t size_max; /* SIZE n; 0 = no fixed limit (or none/bad value) */
	bool eightbitmime; /* RFC 6152 */
	bool smtputf8; /* RFC 6531 */
	bool dsn; /* RFC 3461 */
	bool starttls; /* RFC 3207 */
	bool chunking; /* RFC 3030 */
	bool binarymime; /* RFC 3030 */
	bool enhancedstatuscodes; /* RFC 2034 */
	bool requiretls; /* RFC 8689 */
	bool has_auth; /* AUTH (or old "AUTH=") seen */
	unsigned auth; /* SMTP_EHLO_AUTH_* of all AUTH lines together */
};

/* Reads the keywords of a complete 250 reply to EHLO: every line after the
 * first (the greeting) is "keyword [params]", keyword case-insensitive.
 * Unknown keywords are ignored; "AUTH=PLAIN LOGIN" (pre-RFC 4954 form)
 * counts as AUTH. "SIZE" without a number, or with a value that is not
 * 1..20 digits fitting uint64_t, is announced with size_max 0 (RFC 1870
 * 4: no fixed maximum). Returns 0 (*out filled), or -1 when r is not a
 * complete 250 reply (*out cleared). */
int smtp_reply_parse_ehlo(const struct smtp_reply *r, struct smtp_ehlo *out);

#endif
