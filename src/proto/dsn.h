/* dsn: composes delivery status notifications (RFC 3464) as complete
 * RFC 5322 messages in konvert's stored form (LF line ends), ready to be
 * queued from the null sender:
 *
 *   multipart/report; report-type=delivery-status
 *     1. text/plain: what happened, in plain words, per recipient
 *     2. message/delivery-status: Reporting-MTA, Original-Envelope-Id,
 *        Arrival-Date; per recipient Original-Recipient, Final-Recipient,
 *        Action, Status, Remote-MTA, Diagnostic-Code, Last-Attempt-Date,
 *        Will-Retry-Until
 *     3. the original: message/rfc822 (whole) or text/rfc822-headers
 *
 * 8-bit originals (RFC 6531/6532/6533, RFC 6152): when the original
 * transaction used SMTPUTF8 the report is the "global" one:
 * report-type=global-delivery-status, message/global-delivery-status
 * (addresses written as UTF-8), message/global or message/global-headers,
 * charset=utf-8, Content-Transfer-Encoding 8bit; the caller must then send
 * the DSN with SMTPUTF8 and BODY=8BITMIME. When the original was only
 * BODY=8BITMIME (or BINARYMIME), part 3 is message/rfc822 with
 * Content-Transfer-Encoding 8bit, the rest stays ASCII, and the caller
 * sends the DSN with BODY=8BITMIME (dsn_needs_8bitmime tells). Without
 * SMTPUTF8 no raw non-ASCII address appears: a non-ASCII address is
 * written in RFC 6533's "utf-8; ...\x{HEX}..." form.
 *
 * What is returned (part 3): the whole original when RET=FULL, or when RET
 * is unset and the report is a failure; only its header when RET=HDRS, or
 * when RET is unset and the report is a delay or success notice (as
 * Postfix does: the sender has the message, or it is still coming).
 * Whatever RET says, an original larger than full_max is returned as
 * headers only, and the first part says so.
 *
 * The original is read through a callback in chunks, never loaded whole,
 * and the report is written through a callback as it is produced: a 25 MB
 * original costs one 8 KiB buffer. The boundary is made from 16 random
 * bytes the caller supplies (tests inject fixed ones) and is also checked
 * against every line of the original as it streams past; a collision makes
 * dsn_compose fail with DSN_ERR_BOUNDARY, and the caller discards the output
 * and composes again with new random bytes (with 128 random bits this does
 * not happen unless the original is built to hit it, which needs the bytes).
 *
 * Pure: no files, no sockets, no logging; errors come back as an enum. */
#ifndef KONVERT_PROTO_DSN_H
#define KONVERT_PROTO_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

enum dsn_kind {
	DSN_KIND_FAILURE = 0, /* "Undelivered Mail Returned to Sender" */
	DSN_KIND_DELAY, /* "Delayed Mail (still being retried)" */
	DSN_KIND_SUCCESS, /* "Successful Mail Delivery Report" (delivered,
			   * relayed, expanded) */
};

/* RFC 3464 2.3.3. */
enum dsn_action {
	DSN_ACTION_FAILED = 0,
	DSN_ACTION_DELAYED,
	DSN_ACTION_DELIVERED,
	DSN_ACTION_RELAYED,
	DSN_ACTION_EXPANDED,
};

enum dsn_ret { DSN_RET_UNSET = 0, DSN_RET_FULL, DSN_RET_HDRS };
enum dsn_body { DSN_BODY_7BIT = 0, DSN_BODY_8BITMIME, DSN_BODY_BINARYMIME };

/* One recipient the report is about. All pointers are borrowed for the
 * duration of dsn_compose. */
struct dsn_rcpt {
	const char *addr; /* final recipient "local@domain" (required) */
	const char *orcpt; /* ORCPT value as received ("rfc822;a+2Bb@x"), or
			    * NULL; an unparsable one is left out */
	enum dsn_action action;
	const char *status; /* "5.1.1" (required, RFC 3463 syntax) */
	const char *remote_mta; /* DNS name of the host that answered, or NULL */
	/* The remote server's reply on one line ("550 5.1.1 no such user",
	 * see smtp_reply_render), or NULL when there was none. */
	const char *diagnostic;
	/* Our own words when there is no remote reply ("connection timed
	 * out", "no MX for example.org"), or NULL. Only in the first part. */
	const char *reason;
	time_t last_attempt; /* 0: field left out */
	time_t retry_until; /* Will-Retry-Until for delayed; 0: left out */
};

/* Everything the composer needs; borrowed for the duration of the call. */
struct dsn_report {
	const char *hostname; /* our host: Reporting-MTA, From, Message-ID */
	enum dsn_kind kind;
	/* The original envelope sender, the report's To:. Must not be the
	 * null sender (RFC 5321 4.5.5: no notification goes to <>). */
	const char *sender;
	const char *envid; /* ENVID as received (xtext), or NULL */
	enum dsn_ret ret;
	enum dsn_body body; /* BODY= of the original */
	bool smtputf8; /* the original transaction used SMTPUTF8 */
	time_t arrival; /* Arrival-Date */
	time_t now; /* Date: of the report (injectable for tests) */
	/* Left part of the Message-ID ("<id@hostname>"): a unique token such
	 * as the report's queue id (printable ASCII without specials), or
	 * NULL to use hex of rand. */
	const char *id;
	unsigned char rand[16]; /* fresh random bytes, e.g. RAND_bytes() */
	const struct dsn_rcpt *rcpts;
	size_t nrcpts; /* >= 1 */
	/* The original's size as the read callback will deliver it, and the
	 * largest original that is returned whole. */
	uint64_t orig_size;
	uint64_t full_max;
};

/* Reads up to len bytes of the original (stored form: LF line ends) into
 * buf. Returns the count (> 0), 0 at the end, or -1 on a read error. The
 * composer stops calling after 0, -1, or once it has what it needs (the
 * header only). */
typedef ssize_t (*dsn_read_fn)(void *ctx, char *buf, size_t len);
/* Takes len > 0 bytes of the report. Returns 0, or -1 to stop. */
typedef int (*dsn_write_fn)(void *ctx, const char *p, size_t len);

enum dsn_err {
	DSN_ERR_NONE = 0,
	DSN_ERR_INPUT, /* a required field is missing or malformed */
	DSN_ERR_SENDER_UTF8, /* non-ASCII sender without smtputf8 */
	DSN_ERR_READ, /* the read callback failed */
	DSN_ERR_WRITE, /* the write callback failed */
	DSN_ERR_BOUNDARY, /* the original holds the boundary: retry */
};

const char *dsn_strerror(enum dsn_err err);

/* Writes the whole report through write_cb, reading the original through
 * read_cb (which may be NULL when there is no original: part 3 is then
 * left out). Returns 0, or -1 with *err_out set; after -1 the output
 * written so far is incomplete and must be discarded. Neither callback is
 * called after dsn_compose returns; neither may call dsn_compose. */
int dsn_compose(const struct dsn_report *r, dsn_read_fn read_cb, void *read_ctx,
		dsn_write_fn write_cb, void *write_ctx, enum dsn_err *err_out);

/* True when the report for r must be sent with BODY=8BITMIME (8-bit
 * original returned, or SMTPUTF8); SMTPUTF8 itself is r->smtputf8. */
bool dsn_needs_8bitmime(const struct dsn_report *r);

/* A read callback over a buffer: ctx is a struct dsn_mem_reader whose p
 * and len the caller sets (borrowed) and off starts at 0. */
struct dsn_mem_reader {
	const char *p;
	size_t len;
	size_t off;
};
ssize_t dsn_mem_read(void *ctx, char *buf, size_t len);

/* Writes t as an RFC 5322 date-time in UTC ("Mon, 02 Jan 2006 15:04:05
 * +0000") into out (at least 32 bytes). Returns 0, or -1 when t cannot be
 * represented (out set to ""). */
int dsn_format_date(time_t t, char *out, size_t out_size);

#endif
