/* dsn: writes RFC 3464 delivery status notifications. It owns the report's
 * layout (headers, the three parts, folding, dates, the boundary) and the
 * streaming copy of the original into part 3. It decides nothing about
 * whom to notify or when: the queue does, and hands over a struct
 * dsn_report. No files, no sockets, no logging: bytes in through one
 * callback, bytes out through another. */
#include "proto/dsn.h"

#include <stdio.h>
#include <string.h>

#include "core/kassert.h"
#include "proto/xtext.h"

/* RFC 5322 2.1.1: lines SHOULD be at most 78 characters; a word longer than
 * this is cut (an inserted fold adds a space, acceptable in the free-text
 * fields where it can happen) to stay far under the 998 limit. */
#define DSN_FOLD_COLS 78
#define DSN_WORD_MAX 900
/* Copy buffer for the original. */
#define DSN_CHUNK 8192
/* "=_konvert_" + 32 hex digits. */
#define DSN_BOUNDARY_MAX 48
/* An address as displayed: every byte may become "\x{HH}" (6 bytes). */
#define DSN_ADDR_TEXT_MAX (6 * 512 + 16)

static const char hexdig[] = "0123456789abcdef";

const char *dsn_strerror(enum dsn_err err)
{
	switch (err) {
	case DSN_ERR_NONE:
		return "no error";
	case DSN_ERR_INPUT:
		return "bad report input";
	case DSN_ERR_SENDER_UTF8:
		return "non-ASCII sender without SMTPUTF8";
	case DSN_ERR_READ:
		return "cannot read the original message";
	case DSN_ERR_WRITE:
		return "cannot write the report";
	case DSN_ERR_BOUNDARY:
		return "boundary found in the original message";
	}
	return "unknown DSN error";
}

ssize_t dsn_mem_read(void *ctx, char *buf, size_t len)
{
	struct dsn_mem_reader *m = ctx;
	size_t n = m->len - m->off;

	if (n > len)
		n = len;
	memcpy(buf, m->p + m->off, n);
	m->off += n;
	return (ssize_t)n;
}

int dsn_format_date(time_t t, char *out, size_t out_size)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	int n;

	if (out_size > 0)
		out[0] = '\0';
	/* Our own tables, not strftime: the locale must not leak into mail. */
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900 ||
	    tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11)
		return -1;
	n = snprintf(out, out_size, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday],
		     tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		     tm.tm_sec);
	if (n < 0 || (size_t)n >= out_size) {
		if (out_size > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */

struct out {
	dsn_write_fn cb;
	void *ctx;
	bool failed; /* the callback said stop: write nothing more */
	bool utf8; /* raw UTF-8 allowed in text (SMTPUTF8 report) */
};

static void emit(struct out *o, const char *p, size_t n)
{
	if (o->failed || n == 0)
		return;
	if (o->cb(o->ctx, p, n) != 0)
		o->failed = true;
}

static void emits(struct out *o, const char *s)
{
	emit(o, s, strlen(s));
}

/* Text from a caller or a peer, made safe for a header or a text line:
 * control bytes become '?', and so does anything non-ASCII unless raw
 * UTF-8 is allowed and the sequence is valid. */
static void emit_clean(struct out *o, const char *s, size_t n)
{
	size_t start = 0, i = 0;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t k = 1;

		if (c >= 0x20 && c < 0x7f) {
			i++;
			continue;
		}
		emit(o, s + start, i - start);
		if (c >= 0x80 && o->utf8)
			k = xtext_utf8_seq_len(s + i, n - i);
		if (c >= 0x80 && o->utf8 && k > 1) {
			emit(o, s + i, k);
		} else {
			k = 1;
			emit(o, "?", 1);
		}
		i += k;
		start = i;
	}
	emit(o, s + start, n - start);
}

/* Writes s word by word from column col, breaking before a word that
 * would pass DSN_FOLD_COLS: the break is cont ("\n " folds a header field,
 * RFC 5322 2.2.3; "\n    " indents text), after which the column is
 * cont_col. Runs of spaces collapse to one. */
static void fold(struct out *o, size_t col, const char *s, const char *cont, size_t cont_col,
		 bool first)
{

	while (*s != '\0') {
		size_t n = 0;

		while (*s == ' ')
			s++;
		if (*s == '\0')
			break;
		bool cut;

		while (s[n] != '\0' && s[n] != ' ' && n < DSN_WORD_MAX)
			n++;
		cut = s[n] != '\0' && s[n] != ' ';
		/* Never cut inside a UTF-8 sequence. */
		while (cut && n > 4 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		if (!first) {
			if (col + 1 + n > DSN_FOLD_COLS) {
				emits(o, cont);
				col = cont_col;
			} else {
				emit(o, " ", 1);
				col++;
			}
		}
		emit_clean(o, s, n);
		col += n;
		s += n;
		first = false;
		/* A cut word goes on after a break, not a space. */
		if (cut) {
			emits(o, cont);
			col = cont_col;
			first = true;
		}
	}
}

static void emit_folded(struct out *o, size_t col, const char *s, const char *cont,
			size_t cont_col)
{
	fold(o, col, s, cont, cont_col, true);
}

/* Like emit_folded, but the first word is also preceded by a space (or a
 * break when it does not fit). */
static void emit_folded_more(struct out *o, size_t col, const char *s, const char *cont,
			     size_t cont_col)
{
	fold(o, col, s, cont, cont_col, false);
}

/* "Name: value\n", value folded. */
static void field(struct out *o, const char *name, const char *value)
{
	emits(o, name);
	emit(o, ": ", 2);
	emit_folded(o, strlen(name) + 2, value, "\n ", 1);
	emit(o, "\n", 1);
}

/* "Name: a; b\n" (RFC 3464 typed fields), folded. */
static void field_typed(struct out *o, const char *name, const char *type, const char *value)
{
	emits(o, name);
	emit(o, ": ", 2);
	emits(o, type);
	emit(o, "; ", 2);
	emit_folded(o, strlen(name) + strlen(type) + 4, value, "\n ", 1);
	emit(o, "\n", 1);
}

static void field_date(struct out *o, const char *name, time_t t)
{
	char date[40];

	if (dsn_format_date(t, date, sizeof(date)) == 0)
		field(o, name, date);
}

/* ------------------------------------------------------------------ */
/* Input checks                                                        */

static bool is_printable_word(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* RFC 3463 2: class.subject.detail, class 2/4/5, 1..3 digits each. */
static bool is_status(const char *s)
{
	size_t i = 1;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return false;
	for (int part = 0; part < 2; part++) {
		size_t start = ++i;

		while (s[i] >= '0' && s[i] <= '9' && i - start < 3)
			i++;
		if (i == start || (part == 0 && s[i] != '.'))
			return false;
	}
	return s[i] == '\0';
}

static bool has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

static bool has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return true;
	return false;
}

static enum dsn_err check_report(const struct dsn_report *r)
{
	if (!is_printable_word(r->hostname) || r->sender == NULL || r->sender[0] == '\0' ||
	    has_ctl(r->sender) || r->rcpts == NULL || r->nrcpts == 0 ||
	    (r->id != NULL && !is_printable_word(r->id)) || r->kind > DSN_KIND_SUCCESS ||
	    r->ret > DSN_RET_HDRS || r->body > DSN_BODY_BINARYMIME)
		return DSN_ERR_INPUT;
	if (has_8bit(r->sender) && !r->smtputf8)
		return DSN_ERR_SENDER_UTF8;
	for (size_t i = 0; i < r->nrcpts; i++) {
		const struct dsn_rcpt *rc = &r->rcpts[i];
		const char *type;
		char buf[DSN_ADDR_TEXT_MAX];

		if (rc->addr == NULL || !is_status(rc->status) || rc->action > DSN_ACTION_EXPANDED ||
		    strlen(rc->addr) > 512 ||
		    xtext_addr_display(rc->addr, strlen(rc->addr), r->smtputf8, &type, buf,
				       sizeof(buf)) < 0 ||
		    (rc->remote_mta != NULL && !is_printable_word(rc->remote_mta)))
			return DSN_ERR_INPUT;
	}
	return DSN_ERR_NONE;
}

/* ------------------------------------------------------------------ */
/* The parts                                                           */

static bool returns_whole(const struct dsn_report *r)
{
	bool want = r->ret == DSN_RET_FULL ||
		    (r->ret == DSN_RET_UNSET && r->kind == DSN_KIND_FAILURE);

	/* A BINARYMIME original may hold lines and bytes no 8bit part may. */
	return want && r->orig_size <= r->full_max && r->body != DSN_BODY_BINARYMIME;
}

bool dsn_needs_8bitmime(const struct dsn_report *r)
{
	return r->smtputf8 || r->body != DSN_BODY_7BIT;
}

/* An address for text: as is, or in RFC 6533's \x{HEX} form. Returns the
 * bytes written. */
static size_t emit_addr(struct out *o, const char *addr)
{
	const char *type;
	char buf[DSN_ADDR_TEXT_MAX];

	if (xtext_addr_display(addr, strlen(addr), o->utf8, &type, buf, sizeof(buf)) < 0)
		return 0;
	emit_clean(o, buf, strlen(buf));
	return strlen(buf);
}

static const char *action_words(enum dsn_action a)
{
	switch (a) {
	case DSN_ACTION_FAILED:
		return "could not be delivered.";
	case DSN_ACTION_DELAYED:
		return "not delivered yet, still trying.";
	case DSN_ACTION_DELIVERED:
		return "delivered.";
	case DSN_ACTION_RELAYED:
		return "passed on to a mail system that does not send delivery notices.";
	case DSN_ACTION_EXPANDED:
		return "delivered to an alias or list, which passed it on to its members.";
	}
	return "unknown";
}

static const char *action_name(enum dsn_action a)
{
	static const char *const names[] = { "failed", "delayed", "delivered", "relayed",
					     "expanded" };

	return names[a];
}

enum attach { ATTACH_NONE, ATTACH_WHOLE, ATTACH_HEADERS, ATTACH_HEADERS_BIG };

static const char *intro_words(enum dsn_kind kind)
{
	switch (kind) {
	case DSN_KIND_FAILURE:
		return "Your message could not be delivered to one or more recipients. The "
		       "mail system has given up on them; the reason for each is below.";
	case DSN_KIND_DELAY:
		return "Your message has not been delivered yet to one or more recipients. "
		       "The mail system keeps trying, so you do not need to send it again; "
		       "you will hear from it again if it finally gives up.";
	case DSN_KIND_SUCCESS:
		return "This is the delivery report you asked for: your message reached the "
		       "recipients below.";
	}
	return "";
}

static const char *attached_words(enum attach attach)
{
	switch (attach) {
	case ATTACH_NONE:
		break;
	case ATTACH_WHOLE:
		return "Your message is attached below.";
	case ATTACH_HEADERS:
		return "The header of your message is attached below.";
	case ATTACH_HEADERS_BIG:
		return "Your message was too large to be returned whole; its header is "
		       "attached below.";
	}
	return NULL;
}

static void text_part(struct out *o, const struct dsn_report *r, enum attach attach)
{
	char buf[320];

	emits(o, "This is the mail system at ");
	emits(o, r->hostname);
	emits(o, ".\n\n");
	emit_folded(o, 0, intro_words(r->kind), "\n", 0);
	if (attached_words(attach) != NULL) {
		emits(o, "\n\n");
		emit_folded(o, 0, attached_words(attach), "\n", 0);
	}
	emits(o, "\n\n");
	for (size_t i = 0; i < r->nrcpts; i++) {
		const struct dsn_rcpt *rc = &r->rcpts[i];
		size_t col;

		emit(o, "<", 1);
		col = emit_addr(o, rc->addr) + 3;
		emits(o, ">:");
		emit_folded_more(o, col, action_words(rc->action), "\n    ", 4);
		emit(o, "\n", 1);
		if (rc->diagnostic != NULL && rc->diagnostic[0] != '\0') {
			emits(o, "    ");
			if (rc->remote_mta != NULL) {
				(void)snprintf(buf, sizeof(buf), "The mail server %s answered:",
					       rc->remote_mta);
				emit_folded(o, 4, buf, "\n    ", 4);
				emits(o, "\n    ");
			}
			emit_folded(o, 4, rc->diagnostic, "\n    ", 4);
			emits(o, "\n");
		}
		if (rc->reason != NULL && rc->reason[0] != '\0') {
			emits(o, "    ");
			emit_folded(o, 4, rc->reason, "\n    ", 4);
			emits(o, "\n");
		}
		if (rc->action == DSN_ACTION_DELAYED && rc->retry_until != 0 &&
		    dsn_format_date(rc->retry_until, buf, sizeof(buf)) == 0) {
			emits(o, "    It will be retried until ");
			emits(o, buf);
			emits(o, ".\n");
		}
	}
}

static void status_part(struct out *o, const struct dsn_report *r)
{
	char buf[DSN_ADDR_TEXT_MAX];
	const char *type;

	/* RFC 3464 2.2: per-message fields. */
	field_typed(o, "Reporting-MTA", "dns", r->hostname);
	if (r->envid != NULL && r->envid[0] != '\0') {
		size_t n;

		/* RFC 3464 2.2.1: the ENVID decoded from xtext; kept as sent
		 * when decoding would give bytes a header cannot carry. */
		if (xtext_decode(r->envid, strlen(r->envid), buf, sizeof(buf), &n) == 0 &&
		    n < sizeof(buf) && strlen(buf) == n && !has_ctl(buf) && !has_8bit(buf))
			field(o, "Original-Envelope-Id", buf);
		else if (!has_ctl(r->envid) && !has_8bit(r->envid))
			field(o, "Original-Envelope-Id", r->envid);
	}
	if (r->arrival != 0)
		field_date(o, "Arrival-Date", r->arrival);

	for (size_t i = 0; i < r->nrcpts; i++) {
		const struct dsn_rcpt *rc = &r->rcpts[i];
		struct xtext_orcpt orcpt;

		/* RFC 3464 2.3: one block per recipient after a blank line. */
		emit(o, "\n", 1);
		if (rc->orcpt != NULL &&
		    xtext_orcpt_parse(rc->orcpt, strlen(rc->orcpt), r->smtputf8, &orcpt) == 0) {
			if (orcpt.type == XTEXT_TYPE_UTF8) {
				if (xtext_addr_display(orcpt.addr, orcpt.addr_len, o->utf8, &type,
						       buf, sizeof(buf)) >= 0)
					field_typed(o, "Original-Recipient", "utf-8", buf);
			} else {
				field_typed(o, "Original-Recipient",
					    orcpt.type == XTEXT_TYPE_RFC822 ? "rfc822"
									    : orcpt.type_name,
					    orcpt.addr);
			}
		}
		if (xtext_addr_display(rc->addr, strlen(rc->addr), o->utf8, &type, buf,
				       sizeof(buf)) >= 0)
			field_typed(o, "Final-Recipient", type, buf);
		field(o, "Action", action_name(rc->action));
		field(o, "Status", rc->status);
		if (rc->remote_mta != NULL)
			field_typed(o, "Remote-MTA", "dns", rc->remote_mta);
		if (rc->diagnostic != NULL && rc->diagnostic[0] != '\0')
			field_typed(o, "Diagnostic-Code", "smtp", rc->diagnostic);
		if (rc->last_attempt != 0)
			field_date(o, "Last-Attempt-Date", rc->last_attempt);
		if (rc->action == DSN_ACTION_DELAYED && rc->retry_until != 0)
			field_date(o, "Will-Retry-Until", rc->retry_until);
	}
}

/* Streams the original (or its header) into part 3 and watches every line
 * start for the delimiter. */
static enum dsn_err copy_original(struct out *o, bool headers_only, dsn_read_fn read_cb,
				  void *read_ctx, const char *delim)
{
	char buf[DSN_CHUNK];
	size_t dlen = strlen(delim);
	size_t m = 0; /* bytes of delim matched at this line start */
	bool at_bol = true, prev_nl = true;

	for (;;) {
		ssize_t n = read_cb(read_ctx, buf, sizeof(buf));
		size_t use, i;
		bool done = false;

		if (n < 0)
			return DSN_ERR_READ;
		if (n == 0)
			break;
		KASSERT((size_t)n <= sizeof(buf));
		use = (size_t)n;
		for (i = 0; i < (size_t)n; i++) {
			char c = buf[i];

			/* The header ends at the first empty line; the LF
			 * ending the last field is kept. */
			if (headers_only && c == '\n' && prev_nl) {
				use = i;
				done = true;
				break;
			}
			prev_nl = c == '\n';
			if (at_bol) {
				if (c == delim[m]) {
					if (++m == dlen)
						return DSN_ERR_BOUNDARY;
				} else {
					at_bol = false;
				}
			}
			if (c == '\n') {
				at_bol = true;
				m = 0;
			}
		}
		emit(o, buf, use);
		if (o->failed)
			return DSN_ERR_WRITE;
		if (done)
			break;
	}
	return DSN_ERR_NONE;
}

int dsn_compose(const struct dsn_report *r, dsn_read_fn read_cb, void *read_ctx,
		dsn_write_fn write_cb, void *write_ctx, enum dsn_err *err_out)
{
	static const char *const subjects[] = {
		[DSN_KIND_FAILURE] = "Undelivered Mail Returned to Sender",
		[DSN_KIND_DELAY] = "Delayed Mail (still being retried)",
		[DSN_KIND_SUCCESS] = "Successful Mail Delivery Report",
	};
	struct out o = { .cb = write_cb, .ctx = write_ctx, .utf8 = r->smtputf8 };
	char boundary[DSN_BOUNDARY_MAX], delim[DSN_BOUNDARY_MAX + 2], msgid[80];
	enum attach attach = ATTACH_NONE;
	bool eight = dsn_needs_8bitmime(r);
	enum dsn_err err;
	size_t b = 0;

	*err_out = DSN_ERR_NONE;
	err = check_report(r);
	if (err != DSN_ERR_NONE) {
		*err_out = err;
		return -1;
	}
	/* "=_" cannot occur in quoted-printable or base64 text, and 128
	 * random bits cannot be guessed by whoever wrote the original. */
	memcpy(boundary, "=_konvert_", 10);
	b = 10;
	for (size_t i = 0; i < sizeof(r->rand); i++) {
		boundary[b++] = hexdig[r->rand[i] >> 4];
		boundary[b++] = hexdig[r->rand[i] & 15];
	}
	boundary[b] = '\0';
	(void)snprintf(delim, sizeof(delim), "--%s", boundary);
	if (read_cb != NULL) {
		bool want = r->ret == DSN_RET_FULL ||
			    (r->ret == DSN_RET_UNSET && r->kind == DSN_KIND_FAILURE);

		attach = returns_whole(r) ? ATTACH_WHOLE
		       : want	       ? ATTACH_HEADERS_BIG
				       : ATTACH_HEADERS;
	}

	emits(&o, "From: Mail Delivery System <MAILER-DAEMON@");
	emits(&o, r->hostname);
	emits(&o, ">\nTo: <");
	emit_clean(&o, r->sender, strlen(r->sender));
	emits(&o, ">\n");
	field(&o, "Subject", subjects[r->kind]);
	field_date(&o, "Date", r->now);
	if (r->id != NULL) {
		(void)snprintf(msgid, sizeof(msgid), "%.60s", r->id);
	} else {
		memcpy(msgid, "dsn.", 4);
		for (size_t i = 0; i < 8; i++) {
			msgid[4 + 2 * i] = hexdig[r->rand[15 - i] >> 4];
			msgid[5 + 2 * i] = hexdig[r->rand[15 - i] & 15];
		}
		msgid[20] = '\0';
	}
	emits(&o, "Message-ID: <");
	emits(&o, msgid);
	emit(&o, "@", 1);
	emits(&o, r->hostname);
	emits(&o, ">\n");
	/* RFC 3834 5: a report is an automatic reply; RFC 3464 needs MIME. */
	field(&o, "Auto-Submitted", "auto-replied");
	field(&o, "MIME-Version", "1.0");
	emits(&o, "Content-Type: multipart/report; report-type=");
	emits(&o, r->smtputf8 ? "global-delivery-status" : "delivery-status");
	emits(&o, ";\n\tboundary=\"");
	emits(&o, boundary);
	emits(&o, "\"\n");
	if (eight)
		field(&o, "Content-Transfer-Encoding", "8bit");
	emits(&o, "\nThis is a MIME-encapsulated message.\n\n");

	/* Part 1: for people. */
	emits(&o, delim);
	emits(&o, "\nContent-Description: Notification\n");
	if (r->smtputf8)
		emits(&o, "Content-Type: text/plain; charset=utf-8\n"
			  "Content-Transfer-Encoding: 8bit\n\n");
	else
		emits(&o, "Content-Type: text/plain; charset=us-ascii\n\n");
	text_part(&o, r, attach);

	/* Part 2: for programs (RFC 3464 2, RFC 6533 6.2). */
	emits(&o, "\n");
	emits(&o, delim);
	emits(&o, "\nContent-Description: Delivery report\n");
	if (r->smtputf8)
		emits(&o, "Content-Type: message/global-delivery-status\n"
			  "Content-Transfer-Encoding: 8bit\n\n");
	else
		emits(&o, "Content-Type: message/delivery-status\n\n");
	status_part(&o, r);

	/* Part 3: the original (RFC 3462 2, RFC 6533 6.3/6.4). */
	if (attach != ATTACH_NONE) {
		bool whole = attach == ATTACH_WHOLE;

		emits(&o, "\n");
		emits(&o, delim);
		emits(&o, whole ? "\nContent-Description: Undelivered Message\n"
				: "\nContent-Description: Undelivered Message Headers\n");
		if (r->smtputf8)
			emits(&o, whole ? "Content-Type: message/global\n"
					: "Content-Type: message/global-headers\n");
		else
			emits(&o, whole ? "Content-Type: message/rfc822\n"
					: "Content-Type: text/rfc822-headers\n");
		if (eight)
			field(&o, "Content-Transfer-Encoding", "8bit");
		emits(&o, "\n");
		if (o.failed) {
			*err_out = DSN_ERR_WRITE;
			return -1;
		}
		err = copy_original(&o, !whole, read_cb, read_ctx, delim);
		if (err != DSN_ERR_NONE) {
			*err_out = err;
			return -1;
		}
	}
	emits(&o, "\n");
	emits(&o, delim);
	emits(&o, "--\n");
	if (o.failed) {
		*err_out = DSN_ERR_WRITE;
		return -1;
	}
	return 0;
}
