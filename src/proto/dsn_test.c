/* dsn_test: composition of delivery status notifications. Every report is
 * composed twice, reading the original whole and one byte at a time (the
 * streaming copy must not depend on chunking), and the outputs compared.
 * The structure is checked textually here, and samples are written to a
 * temp file and parsed by Python's email package (skipped when
 * /usr/bin/python3 is missing), which must see a multipart/report with a
 * readable delivery-status part. */
#include "proto/dsn.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"

static const char orig_msg[] = "From: Alice <alice@example.org>\n"
			       "To: bob@example.com\n"
			       "Subject: hello\n"
			       "Message-ID: <m1@example.org>\n"
			       "\n"
			       "Hi Bob,\n"
			       "\n"
			       "see you.\n";

/* 2024-02-01 10:00:00 UTC */
#define T0 1706781600

struct sink {
	char *p; /* owned */
	size_t len, cap;
	long fail_at; /* fail the call that would pass this many bytes; -1 never */
};

static int sink_write(void *ctx, const char *p, size_t len)
{
	struct sink *s = ctx;

	assert_true(len > 0);
	if (s->fail_at >= 0 && s->len + len > (size_t)s->fail_at)
		return -1;
	if (s->len + len + 1 > s->cap) {
		s->cap = (s->len + len + 1) * 2;
		s->p = xrealloc(s->p, s->cap);
	}
	memcpy(s->p + s->len, p, len);
	s->len += len;
	s->p[s->len] = '\0';
	return 0;
}

/* Reader that hands out one byte per call. */
static ssize_t read_bytewise(void *ctx, char *buf, size_t len)
{
	return dsn_mem_read(ctx, buf, len > 0 ? 1 : 0);
}

static ssize_t read_fail(void *ctx, char *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
	return -1;
}

static struct dsn_rcpt rcpt_failed = {
	.addr = "bob@example.com",
	.orcpt = "rfc822;Bob+2BX@example.com",
	.action = DSN_ACTION_FAILED,
	.status = "5.1.1",
	.remote_mta = "mx.example.com",
	.diagnostic = "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown",
	.last_attempt = T0 + 60,
};

static void base_report(struct dsn_report *r, const struct dsn_rcpt *rcpts, size_t n)
{
	memset(r, 0, sizeof(*r));
	r->hostname = "mx.example.net";
	r->kind = DSN_KIND_FAILURE;
	r->sender = "alice@example.org";
	r->envid = "QQ+2B1";
	r->arrival = T0;
	r->now = T0 + 120;
	r->id = "20240201100200.ABCD";
	for (size_t i = 0; i < sizeof(r->rand); i++)
		r->rand[i] = (unsigned char)(i * 17);
	r->rcpts = rcpts;
	r->nrcpts = n;
	r->orig_size = sizeof(orig_msg) - 1;
	r->full_max = 1 << 20;
}

/* Composes with the original read whole and byte by byte; both must give
 * the same result. Returns the output (owned) or NULL with *err set. */
static char *compose(const struct dsn_report *r, const char *orig, size_t orig_len,
		     enum dsn_err *err)
{
	struct dsn_mem_reader m1 = { .p = orig, .len = orig_len };
	struct dsn_mem_reader m2 = { .p = orig, .len = orig_len };
	struct sink s1 = { .fail_at = -1 }, s2 = { .fail_at = -1 };
	enum dsn_err e2;
	int rc1 = dsn_compose(r, orig ? dsn_mem_read : NULL, &m1, sink_write, &s1, err);
	int rc2 = dsn_compose(r, orig ? read_bytewise : NULL, &m2, sink_write, &s2, &e2);

	assert_int_equal(rc1, rc2);
	assert_int_equal(*err, e2);
	assert_int_equal(rc1 == 0, *err == DSN_ERR_NONE);
	if (rc1 == 0) {
		assert_int_equal(s1.len, s2.len);
		assert_memory_equal(s1.p, s2.p, s1.len);
	}
	free(s2.p);
	if (rc1 != 0) {
		free(s1.p);
		return NULL;
	}
	return s1.p;
}

static void assert_has(const char *out, const char *want)
{
	if (strstr(out, want) == NULL) {
		fprintf(stderr, "missing: [%s]\nin:\n%s\n", want, out);
		fail();
	}
}

static void assert_lacks(const char *out, const char *no)
{
	if (strstr(out, no) != NULL) {
		fprintf(stderr, "unexpected: [%s]\nin:\n%s\n", no, out);
		fail();
	}
}

/* Lines of the report outside part 3 stay within 78 columns (no word in
 * these tests is longer) and the whole thing has no CR and no NUL. */
static void assert_shape(const char *out, size_t len)
{
	const char *p3 = strstr(out, "Content-Description: Undelivered Message");
	size_t end = p3 != NULL ? (size_t)(p3 - out) : len;
	size_t col = 0;

	assert_int_equal(strlen(out), len);
	assert_null(memchr(out, '\r', len));
	for (size_t i = 0; i < end; i++) {
		if (out[i] == '\n') {
			col = 0;
			continue;
		}
		col++;
		assert_true(col <= 78);
	}
	assert_true(len > 0 && out[len - 1] == '\n');
}

static bool ascii_only(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

static const char py_check[] =
	"import sys, email\n"
	"raw = open(sys.argv[1], 'rb').read()\n"
	"want_ds, want_orig, action, nrcpt = sys.argv[2], sys.argv[3], sys.argv[4], "
	"int(sys.argv[5])\n"
	"m = email.message_from_bytes(raw)\n"
	"assert m.get_content_type() == 'multipart/report', m.get_content_type()\n"
	"assert m.get_param('report-type') == want_ds.split('/')[1], m.get_param('report-type')\n"
	"assert m['Auto-Submitted'] == 'auto-replied'\n"
	"assert m['From'] == 'Mail Delivery System <MAILER-DAEMON@mx.example.net>', m['From']\n"
	"parts = m.get_payload()\n"
	"assert len(parts) == (3 if want_orig != 'none' else 2), len(parts)\n"
	"assert parts[0].get_content_type() == 'text/plain'\n"
	"assert parts[1].get_content_type() == want_ds, parts[1].get_content_type()\n"
	"if want_ds == 'message/delivery-status':\n"
	"    blocks = parts[1].get_payload()\n"
	"    assert len(blocks) == 1 + nrcpt, len(blocks)\n"
	"    assert blocks[0]['Reporting-MTA'] == 'dns; mx.example.net', blocks[0]['Reporting-MTA']\n"
	"    for b in blocks[1:]:\n"
	"        assert b['Action'] == action, b['Action']\n"
	"        assert b['Final-Recipient'].startswith(('rfc822; ', 'utf-8; '))\n"
	"        assert b['Status'][0] in '245'\n"
	"else:\n"
	"    text = raw.decode('utf-8')\n"
	"    assert 'Action: ' + action in text\n"
	"if want_orig != 'none':\n"
	"    assert parts[2].get_content_type() == want_orig, parts[2].get_content_type()\n"
	"    if want_orig == 'message/rfc822':\n"
	"        inner = parts[2].get_payload(0)\n"
	"        assert inner['Subject'] == 'hello', inner['Subject']\n"
	"assert not m.defects, m.defects\n"
	"for p in m.walk():\n"
	"    assert not p.defects, p.defects\n";

/* Runs py_check on out; skips when python3 is missing. */
static void python_check(const char *out, size_t len, const char *ds, const char *orig,
			 const char *action, size_t nrcpt)
{
	char msg_path[] = "/tmp/konvert-dsn-test-XXXXXX";
	char py_path[] = "/tmp/konvert-dsn-py-XXXXXX";
	char cmd[512];
	int fd, rc;
	FILE *f;

	if (access("/usr/bin/python3", X_OK) != 0)
		return;
	fd = mkstemp(msg_path);
	assert_true(fd >= 0);
	f = fdopen(fd, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(out, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	fd = mkstemp(py_path);
	assert_true(fd >= 0);
	f = fdopen(fd, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(py_check, 1, sizeof(py_check) - 1, f), sizeof(py_check) - 1);
	assert_int_equal(fclose(f), 0);
	rc = snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %s %s %s %s %zu", py_path, msg_path,
		      ds, orig, action, nrcpt);
	assert_true(rc > 0 && (size_t)rc < sizeof(cmd));
	rc = system(cmd);
	(void)unlink(msg_path);
	(void)unlink(py_path);
	if (rc != 0)
		fprintf(stderr, "python check failed for:\n%s\n", out);
	assert_int_equal(rc, 0);
}

static void test_failure_full(void **state)
{
	struct dsn_report r;
	enum dsn_err err;
	char *out;
	const char *p3;

	(void)state;
	base_report(&r, &rcpt_failed, 1);
	out = compose(&r, orig_msg, sizeof(orig_msg) - 1, &err);
	assert_non_null(out);
	assert_shape(out, strlen(out));
	assert_true(ascii_only(out));
	assert_true(strncmp(out, "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\n"
				 "To: <alice@example.org>\n"
				 "Subject: Undelivered Mail Returned to Sender\n"
				 "Date: Thu, 01 Feb 2024 10:02:00 +0000\n"
				 "Message-ID: <20240201100200.ABCD@mx.example.net>\n"
				 "Auto-Submitted: auto-replied\n"
				 "MIME-Version: 1.0\n"
				 "Content-Type: multipart/report; report-type=delivery-status;\n"
				 "\tboundary=\"=_konvert_00112233445566778899aabbccddeeff\"\n\n",
			     strlen("From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\n"
				    "To: <alice@example.org>\n"
				    "Subject: Undelivered Mail Returned to Sender\n"
				    "Date: Thu, 01 Feb 2024 10:02:00 +0000\n"
				    "Message-ID: <20240201100200.ABCD@mx.example.net>\n"
				    "Auto-Submitted: auto-replied\n"
				    "MIME-Version: 1.0\n"
				    "Content-Type: multipart/report; report-type=delivery-status;\n"
				    "\tboundary=\"=_konvert_00112233445566778899aabbccddeeff\"\n\n")) ==
		    0);
	assert_has(out, "\n--=_konvert_00112233445566778899aabbccddeeff\n"
			"Content-Description: Notification\n"
			"Content-Type: text/plain; charset=us-ascii\n\n"
			"This is the mail system at mx.example.net.\n\n");
	assert_has(out, "<bob@example.com>: could not be delivered.\n"
			"    The mail server mx.example.com answered:\n"
			"    550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown\n"
			"\n--=_konvert_");
	assert_has(out, "Your message is attached below.");
	assert_has(out, "Content-Type: message/delivery-status\n\n"
			"Reporting-MTA: dns; mx.example.net\n"
			"Original-Envelope-Id: QQ+1\n"
			"Arrival-Date: Thu, 01 Feb 2024 10:00:00 +0000\n"
			"\n"
			"Original-Recipient: rfc822; Bob+X@example.com\n"
			"Final-Recipient: rfc822; bob@example.com\n"
			"Action: failed\n"
			"Status: 5.1.1\n"
			"Remote-MTA: dns; mx.example.com\n"
			"Diagnostic-Code: smtp; 550 5.1.1 <bob@example.com>: Recipient address\n"
			" rejected: User unknown\n"
			"Last-Attempt-Date: Thu, 01 Feb 2024 10:01:00 +0000\n"
			"\n--=_konvert_");
	p3 = strstr(out, "Content-Description: Undelivered Message\n"
			 "Content-Type: message/rfc822\n\n");
	assert_non_null(p3);
	assert_has(p3, orig_msg);
	assert_has(p3, "see you.\n\n--=_konvert_00112233445566778899aabbccddeeff--\n");
	assert_lacks(out, "Will-Retry-Until");
	assert_lacks(out, "Content-Transfer-Encoding");
	python_check(out, strlen(out), "message/delivery-status", "message/rfc822", "failed", 1);
	free(out);
}

static void test_headers_only(void **state)
{
	struct dsn_report r;
	enum dsn_err err;
	char *out;

	(void)state;
	/* RET=HDRS. */
	base_report(&r, &rcpt_failed, 1);
	r.ret = DSN_RET_HDRS;
	out = compose(&r, orig_msg, sizeof(orig_msg) - 1, &err);
	assert_non_null(out);
	assert_has(out, "Content-Description: Undelivered Message Headers\n"
			"Content-Type: text/rfc822-headers\n\n"
			"From: Alice <alice@example.org>\n"
			"To: bob@example.com\n"
			"Subject: hello\n"
			"Message-ID: <m1@example.org>\n"
			"\n--=_konvert_00112233445566778899aabbccddeeff--\n");
	assert_lacks(out, "Hi Bob");
	assert_has(out, "The header of your message is attached below.");
	python_check(out, strlen(out), "message/delivery-status", "text/rfc822-headers", "failed",
		     1);
	free(out);

	/* Too large for a full return: headers, and the text says why. */
	base_report(&r, &rcpt_failed, 1);
	r.full_max = 10;
	out = compose(&r, orig_msg, sizeof(orig_msg) - 1, &err);
	assert_non_null(out);
	assert_has(out, "Content-Type: text/rfc822-headers\n");
	assert_has(out, "Your message was too large to be returned whole; its header is attached "
			"below.\n");
	assert_lacks(out, "Hi Bob");
	free(out);

	/* An original with no body at all, no final LF, no empty line. */
	base_report(&r, &rcpt_failed, 1);
	r.ret = DSN_RET_HDRS;
	out = compose(&r, "Subject: x", 10, &err);
	assert_non_null(out);
	assert_has(out, "Content-Type: text/rfc822-headers\n\nSubject: x\n--=_konvert_");
	free(out);
	/* An original that starts with the empty line: empty header. */
	out = compose(&r, "\nbody\n", 6, &err);
	assert_non_null(out);
	assert_has(out, "Content-Type: text/rfc822-headers\n\n\n--=_konvert_");
	assert_lacks(out, "body\n");
	free(out);
}

static void test_delay(void **state)
{
	struct dsn_rcpt rc[2] = {
		{ .addr = "carol@example.com",
		  .action = DSN_ACTION_DELAYED,
		  .status = "4.4.1",
		  .reason = "connection to mx.example.com timed out",
		  .last_attempt = T0 + 3600,
		  .retry_until = T0 + 5 * 86400 },
		{ .addr = "dave@example.com",
		  .action = DSN_ACTION_DELAYED,
		  .status = "4.7.1",
		  .remote_mta = "mx2.example.com",
		  .diagnostic = "451 4.7.1 greylisted, try again later" },
	};
	struct dsn_report r;
	enum dsn_err err;
	char *out;

	(void)state;
	base_report(&r, rc, 2);
	r.kind = DSN_KIND_DELAY;
	r.envid = NULL;
	out = compose(&r, orig_msg, sizeof(orig_msg) - 1, &err);
	assert_non_null(out);
	assert_shape(out, strlen(out));
	assert_has(out, "Subject: Delayed Mail (still being retried)\n");
	assert_has(out, "Final-Recipient: rfc822; carol@example.com\n"
			"Action: delayed\n"
			"Status: 4.4.1\n"
			"Last-Attempt-Date: Thu, 01 Feb 2024 11:00:00 +0000\n"
			"Will-Retry-Until: Tue, 06 Feb 2024 10:00:00 +0000\n"
			"\n"
			"Final-Recipient: rfc822; dave@example.com\n"
			"Action: delayed\n"
			"Status: 4.7.1\n"
			"Remote-MTA: dns; mx2.example.com\n"
			"Diagnostic-Code: smtp; 451 4.7.1 greylisted, try again later\n");
	assert_has(out, "<carol@example.com>: not delivered yet, still trying.\n"
			"    connection to mx.example.com timed out\n"
			"    It will be retried until Tue, 06 Feb 2024 10:00:00 +0000.\n");
	/* RET unset on a delay: headers only. */
	assert_has(out, "Content-Type: text/rfc822-headers\n");
	assert_lacks(out, "Original-Envelope-Id");
	assert_lacks(out, "Original-Recipient");
	python_check(out, strlen(out), "message/delivery-status", "text/rfc822-headers",
		     "delayed", 2);
	free(out);
}

static void test_success(void **state)
{
	struct dsn_rcpt rc[1] = { {
		.addr = "erin@example.com",
		.action = DSN_ACTION_RELAYED,
		.status = "2.0.0",
		.remote_mta = "mx.example.com",
		.diagnostic = "250 2.0.0 Ok: queued as 4F1",
	} };
	struct dsn_report r;
	enum dsn_err err;
	char *out;

	(void)state;
	base_report(&r, rc, 1);
	r.kind = DSN_KIND_SUCCESS;
	r.id = NULL;
	out = compose(&r, NULL, 0, &err);
	assert_non_null(out);
	assert_has(out, "Subject: Successful Mail Delivery Report\n");
	assert_has(out, "Message-ID: <dsn.ffeeddccbbaa9988@mx.example.net>\n");
	assert_has(out, "Action: relayed\n");
	assert_has(out, "<erin@example.com>: passed on to a mail system that does not send "
			"delivery\n    notices.\n");
	assert_lacks(out, "Undelivered Message");
	assert_lacks(out, "attached");
	python_check(out, strlen(out), "message/delivery-status", "none", "relayed", 1);
	free(out);
}

static void test_smtputf8(void **state)
{
	static const char orig8[] = "From: J\xc3\xbcrgen <j\xc3\xbcrgen@b\xc3\xbc"
				    "cher.example>\nSubject: hello\n\nGr\xc3\xbc\xc3\x9f"
				    "e\n";
	struct dsn_rcpt rc[1] = { {
		.addr = "\xe7\x94\xa8\xe6\x88\xb7@example.net",
		.orcpt = "utf-8;\\x{7528}\\x{6237}@example.net",
		.action = DSN_ACTION_FAILED,
		.status = "5.1.1",
		.remote_mta = "mx.example.net",
		.diagnostic = "550 5.1.1 \xe7\x94\xa8\xe6\x88\xb7 unknown",
	} };
	struct dsn_report r;
	enum dsn_err err;
	char *out;

	(void)state;
	base_report(&r, rc, 1);
	r.sender = "j\xc3\xbcrgen@b\xc3\xbc"
		   "cher.example";
	r.smtputf8 = true;
	r.body = DSN_BODY_8BITMIME;
	r.orig_size = sizeof(orig8) - 1;
	out = compose(&r, orig8, sizeof(orig8) - 1, &err);
	assert_non_null(out);
	assert_true(dsn_needs_8bitmime(&r));
	assert_has(out, "To: <j\xc3\xbcrgen@b\xc3\xbc"
			"cher.example>\n");
	assert_has(out, "report-type=global-delivery-status;");
	assert_has(out, "Content-Type: text/plain; charset=utf-8\n"
			"Content-Transfer-Encoding: 8bit\n");
	assert_has(out, "Content-Type: message/global-delivery-status\n"
			"Content-Transfer-Encoding: 8bit\n");
	assert_has(out, "Original-Recipient: utf-8; \xe7\x94\xa8\xe6\x88\xb7@example.net\n"
			"Final-Recipient: utf-8; \xe7\x94\xa8\xe6\x88\xb7@example.net\n");
	assert_has(out, "Diagnostic-Code: smtp; 550 5.1.1 \xe7\x94\xa8\xe6\x88\xb7 unknown\n");
	assert_has(out, "Content-Type: message/global\nContent-Transfer-Encoding: 8bit\n\n");
	assert_has(out, orig8);
	python_check(out, strlen(out), "message/global-delivery-status", "message/global",
		     "failed", 1);
	free(out);
}

static void test_8bitmime_and_ascii_forms(void **state)
{
	static const char orig8[] = "Subject: hello\n\nGr\xc3\xbc\xc3\x9f"
				    "e\n";
	struct dsn_rcpt rc[1] = { {
		/* A non-ASCII address without SMTPUTF8 (e.g. from an alias):
		 * written in RFC 6533's ASCII form, never raw. */
		.addr = "j\xc3\xbcrgen@example.net",
		.orcpt = "utf-8;j\\x{FC}rgen@example.net",
		.action = DSN_ACTION_FAILED,
		.status = "5.1.1",
		/* Peer bytes that are not ASCII become '?', a CR LF cannot
		 * start a new field. */
		.diagnostic = "550 5.1.1 caf\xc3\xa9\r\nInjected: yes",
	} };
	struct dsn_report r;
	enum dsn_err err;
	char *out, *p3;

	(void)state;
	base_report(&r, rc, 1);
	r.body = DSN_BODY_8BITMIME;
	r.orig_size = sizeof(orig8) - 1;
	out = compose(&r, orig8, sizeof(orig8) - 1, &err);
	assert_non_null(out);
	assert_has(out, "report-type=delivery-status;");
	assert_has(out, "\"\nContent-Transfer-Encoding: 8bit\n\nThis is a MIME");
	assert_has(out, "Original-Recipient: utf-8; j\\x{FC}rgen@example.net\n"
			"Final-Recipient: utf-8; j\\x{FC}rgen@example.net\n");
	assert_has(out, "Diagnostic-Code: smtp; 550 5.1.1 caf????Injected: yes\n");
	assert_lacks(out, "\nInjected");
	assert_has(out, "Content-Type: message/rfc822\nContent-Transfer-Encoding: 8bit\n\n");
	/* Everything before the original is ASCII. */
	p3 = strstr(out, "Content-Type: message/rfc822");
	assert_non_null(p3);
	*p3 = '\0';
	assert_true(ascii_only(out));
	*p3 = 'C';
	python_check(out, strlen(out), "message/delivery-status", "message/rfc822", "failed", 1);
	free(out);

	/* BINARYMIME originals are never returned whole. */
	r.body = DSN_BODY_BINARYMIME;
	out = compose(&r, orig8, sizeof(orig8) - 1, &err);
	assert_non_null(out);
	assert_has(out, "Content-Type: text/rfc822-headers\n");
	free(out);
}

static void test_long_fields_fold(void **state)
{
	char diag[600];
	struct dsn_rcpt rc[1] = { {
		.addr = "bob@example.com",
		.action = DSN_ACTION_FAILED,
		.status = "5.7.1",
		.remote_mta = "mx.example.com",
		.diagnostic = diag,
	} };
	struct dsn_report r;
	enum dsn_err err;
	char *out;

	(void)state;
	memcpy(diag, "554 5.7.1", 9);
	for (size_t i = 9; i + 6 < sizeof(diag); i += 6)
		memcpy(diag + i, " word.", 6);
	diag[sizeof(diag) - 6] = '\0';
	base_report(&r, rc, 1);
	out = compose(&r, orig_msg, sizeof(orig_msg) - 1, &err);
	assert_non_null(out);
	assert_shape(out, strlen(out));
	python_check(out, strlen(out), "message/delivery-status", "message/rfc822", "failed", 1);
	free(out);

	/* One 2000-byte word is cut into folded pieces under 998. */
	{
		char *word = xmalloc(2100);

		memcpy(word, "550 ", 4);
		memset(word + 4, 'x', 2000);
		word[2004] = '\0';
		rc[0].diagnostic = word;
		out = compose(&r, orig_msg, sizeof(orig_msg) - 1, &err);
		assert_non_null(out);
		for (char *l = out; l != NULL && *l != '\0';) {
			char *nl = strchr(l, '\n');

			assert_non_null(nl);
			assert_true(nl - l <= 998);
			l = nl + 1;
		}
		python_check(out, strlen(out), "message/delivery-status", "message/rfc822",
			     "failed", 1);
		free(out);
		free(word);
	}
}

static void test_boundary_collision(void **state)
{
	static const char evil[] = "Subject: x\n\nhi\n--=_konvert_00112233445566778899aabbccddeeff"
				   "--\nafter\n";
	static const char fine[] = "Subject: x\n\nhi --=_konvert_00112233445566778899aabbccddeeff"
				   "\n-=_konvert_00112233445566778899aabbccddeeff\n";
	struct dsn_report r;
	enum dsn_err err;
	char *out;

	(void)state;
	base_report(&r, &rcpt_failed, 1);
	r.orig_size = sizeof(evil) - 1;
	out = compose(&r, evil, sizeof(evil) - 1, &err);
	assert_null(out);
	assert_int_equal(err, DSN_ERR_BOUNDARY);
	/* New random bytes: fine. */
	r.rand[0] = 0xee;
	out = compose(&r, evil, sizeof(evil) - 1, &err);
	assert_non_null(out);
	free(out);
	/* Not at a line start: no collision. */
	r.rand[0] = 0;
	out = compose(&r, fine, sizeof(fine) - 1, &err);
	assert_non_null(out);
	free(out);
	/* In the header with RET=HDRS: still checked. */
	r.ret = DSN_RET_HDRS;
	out = compose(&r, "X: y\n--=_konvert_00112233445566778899aabbccddeeff\n\n", 52, &err);
	assert_null(out);
	assert_int_equal(err, DSN_ERR_BOUNDARY);
}

static void test_errors(void **state)
{
	struct dsn_rcpt bad = rcpt_failed;
	struct dsn_report r;
	struct dsn_mem_reader m = { .p = orig_msg, .len = sizeof(orig_msg) - 1 };
	struct sink s = { .fail_at = -1 };
	enum dsn_err err;
	long total;

	(void)state;
	base_report(&r, &rcpt_failed, 1);
	r.sender = "";
	assert_int_equal(dsn_compose(&r, NULL, NULL, sink_write, &s, &err), -1);
	assert_int_equal(err, DSN_ERR_INPUT);
	assert_int_equal(s.len, 0);
	r.sender = "a\n@x";
	assert_int_equal(dsn_compose(&r, NULL, NULL, sink_write, &s, &err), -1);
	assert_int_equal(err, DSN_ERR_INPUT);
	r.sender = "j\xc3\xbc@x";
	assert_int_equal(dsn_compose(&r, NULL, NULL, sink_write, &s, &err), -1);
	assert_int_equal(err, DSN_ERR_SENDER_UTF8);

	base_report(&r, &bad, 1);
	bad.status = "5.1";
	assert_int_equal(dsn_compose(&r, NULL, NULL, sink_write, &s, &err), -1);
	assert_int_equal(err, DSN_ERR_INPUT);
	bad.status = "3.1.1";
	assert_int_equal(dsn_compose(&r, NULL, NULL, sink_write, &s, &err), -1);
	bad.status = "5.1.1";
	bad.remote_mta = "a b";
	assert_int_equal(dsn_compose(&r, NULL, NULL, sink_write, &s, &err), -1);
	bad.remote_mta = NULL;
	bad.addr = "bad\xc3";
	assert_int_equal(dsn_compose(&r, NULL, NULL, sink_write, &s, &err), -1);
	base_report(&r, &rcpt_failed, 0);
	assert_int_equal(dsn_compose(&r, NULL, NULL, sink_write, &s, &err), -1);
	base_report(&r, &rcpt_failed, 1);
	r.hostname = "";
	assert_int_equal(dsn_compose(&r, NULL, NULL, sink_write, &s, &err), -1);
	assert_int_equal(s.len, 0);

	/* Read error. */
	base_report(&r, &rcpt_failed, 1);
	assert_int_equal(dsn_compose(&r, read_fail, NULL, sink_write, &s, &err), -1);
	assert_int_equal(err, DSN_ERR_READ);
	free(s.p);

	/* Write error at every possible point: always -1 / DSN_ERR_WRITE,
	 * and nothing is written after the failure. */
	{
		struct sink all = { .fail_at = -1 };

		m.off = 0;
		assert_int_equal(dsn_compose(&r, dsn_mem_read, &m, sink_write, &all, &err), 0);
		total = (long)all.len;
		free(all.p);
	}
	for (long at = 0; at < total; at += 7) {
		struct sink f = { .fail_at = at };

		m.off = 0;
		assert_int_equal(dsn_compose(&r, dsn_mem_read, &m, sink_write, &f, &err), -1);
		assert_int_equal(err, DSN_ERR_WRITE);
		assert_true(f.len <= (size_t)at);
		free(f.p);
	}
}

static void test_date(void **state)
{
	char out[40];

	(void)state;
	assert_int_equal(dsn_format_date(0, out, sizeof(out)), 0);
	assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 +0000");
	assert_int_equal(dsn_format_date(T0, out, sizeof(out)), 0);
	assert_string_equal(out, "Thu, 01 Feb 2024 10:00:00 +0000");
	assert_int_equal(dsn_format_date(T0, out, 10), -1);
	assert_string_equal(out, "");
	for (int e = DSN_ERR_NONE; e <= DSN_ERR_BOUNDARY; e++)
		assert_non_null(dsn_strerror((enum dsn_err)e));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failure_full),
		cmocka_unit_test(test_headers_only),
		cmocka_unit_test(test_delay),
		cmocka_unit_test(test_success),
		cmocka_unit_test(test_smtputf8),
		cmocka_unit_test(test_8bitmime_and_ascii_forms),
		cmocka_unit_test(test_long_fields_fold),
		cmocka_unit_test(test_boundary_collision),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_date),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
