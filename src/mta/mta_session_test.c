/* Tests for mta_session with a scripted peer: what the client writes for
 * each reply, and the per-recipient outcomes it reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mta/mta_session.h"

struct peer {
	char out[1 << 16]; /* what the client wrote since the last take */
	size_t out_len;
	int starttls_calls;
	int jobs_done;
	int sessions_done;
	bool ok, temp;
	char reason[MTA_REPLY_MAX];
	const char *body;
};

static void io_write(void *ctx, const void *data, size_t len)
{
	struct peer *p = ctx;
	assert_true(p->out_len + len < sizeof(p->out));
	memcpy(p->out + p->out_len, data, len);
	p->out_len += len;
	p->out[p->out_len] = '\0';
}

static void io_starttls(void *ctx)
{
	((struct peer *)ctx)->starttls_calls++;
}

static size_t io_output_len(void *ctx)
{
	(void)ctx;
	return 0;
}

static ssize_t body_read(void *arg, uint64_t off, void *buf, size_t len)
{
	const char *b = arg;
	size_t total = strlen(b);
	if (off >= total)
		return 0;
	size_t n = total - off < len ? total - off : len;
	memcpy(buf, b + off, n);
	return (ssize_t)n;
}

static void on_job(void *arg, struct mta_job *job)
{
	(void)job;
	((struct peer *)arg)->jobs_done++;
}

static void on_session(void *arg, bool ok, bool temp, const char *reason)
{
	struct peer *p = arg;
	p->sessions_done++;
	p->ok = ok;
	p->temp = temp;
	(void)snprintf(p->reason, sizeof(p->reason), "%s", reason);
}

/* Returns what was written since the last call and forgets it. */
static const char *take(struct peer *p)
{
	static char copy[1 << 16];
	memcpy(copy, p->out, p->out_len + 1);
	p->out_len = 0;
	p->out[0] = '\0';
	return copy;
}

static void reply(struct mta_session *s, int code, const char *text)
{
	struct mta_reply r = {.code = code, .text = text, .caps = NULL};
	mta_session_reply(s, &r);
}

static void reply_ehlo(struct mta_session *s, const struct mta_caps *caps)
{
	struct mta_reply r = {.code = 250, .text = "250 mx.test", .caps = caps};
	mta_session_reply(s, &r);
}

struct fixture {
	struct peer peer;
	struct mta_io io;
	struct mta_options opt;
	struct mta_session *s;
	const char *rcpts[3];
	struct mta_rcpt_result results[3];
	struct mta_job job;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->io = (struct mta_io){io_write, io_starttls, io_output_len, &f->peer};
	f->opt = (struct mta_options){.helo = "me.test", .tls = MTA_TLS_OPPORTUNISTIC,
				      .pipelining = true};
	f->rcpts[0] = "a@far.test";
	f->rcpts[1] = "b@far.test";
	f->rcpts[2] = "c@far.test";
	f->peer.body = "Subject: x\n\n.dot line\nend\n";
	f->job = (struct mta_job){.sender = "s@here.test",
				  .size = strlen(f->peer.body),
				  .rcpt_count = 2,
				  .rcpts = f->rcpts,
				  .read = body_read,
				  .read_arg = (void *)f->peer.body,
				  .results = f->results};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	mta_session_free(&f->s);
	free(f);
	return 0;
}

static void start(struct fixture *f)
{
	f->s = mta_session_new(&f->opt, &f->io, on_job, on_session, &f->peer);
}

static void test_plain_transaction(void **state)
{
	struct fixture *f = *state;
	f->opt.pipelining = false;
	start(f);
	mta_session_add_job(f->s, &f->job);
	mta_session_finish(f->s);
	assert_string_equal(take(&f->peer), "");
	reply(f->s, 220, "220 mx.test ESMTP");
	assert_string_equal(take(&f->peer), "EHLO me.test\r\n");
	struct mta_caps caps = {.size = true, .size_max = 1000, .eightbitmime = true};
	reply_ehlo(f->s, &caps);
	assert_string_equal(take(&f->peer), "MAIL FROM:<s@here.test> SIZE=26\r\n");
	reply(f->s, 250, "250 2.1.0 Ok");
	assert_string_equal(take(&f->peer), "RCPT TO:<a@far.test>\r\n");
	reply(f->s, 250, "250 2.1.5 Ok");
	assert_string_equal(take(&f->peer), "RCPT TO:<b@far.test>\r\n");
	reply(f->s, 550, "550 5.1.1 <b@far.test>: user unknown");
	assert_string_equal(take(&f->peer), "DATA\r\n");
	reply(f->s, 354, "354 go ahead");
	assert_string_equal(take(&f->peer), "Subject: x\r\n\r\n..dot line\r\nend\r\n.\r\n");
	assert_int_equal(f->peer.jobs_done, 0);
	reply(f->s, 250, "250 2.0.0 Ok: queued as X");
	assert_int_equal(f->peer.jobs_done, 1);
	assert_int_equal(f->results[0].outcome, MTA_RCPT_DELIVERED);
	assert_string_equal(f->results[0].reply, "250 2.0.0 Ok: queued as X");
	assert_int_equal(f->results[1].outcome, MTA_RCPT_PERMFAIL);
	assert_int_equal(f->results[1].code, 550);
	assert_string_equal(take(&f->peer), "QUIT\r\n");
	reply(f->s, 221, "221 bye");
	assert_int_equal(f->peer.sessions_done, 1);
	assert_true(f->peer.ok);
}

static void test_pipelining_and_partial(void **state)
{
	struct fixture *f = *state;
	f->job.rcpt_count = 3;
	start(f);
	mta_session_add_job(f->s, &f->job);
	reply(f->s, 220, "220 hi");
	(void)take(&f->peer);
	struct mta_caps caps = {.pipelining = true};
	reply_ehlo(f->s, &caps);
	/* RFC 2920: MAIL, every RCPT and DATA at once; no SIZE= unannounced. */
	assert_string_equal(take(&f->peer), "MAIL FROM:<s@here.test>\r\n"
					    "RCPT TO:<a@far.test>\r\n"
					    "RCPT TO:<b@far.test>\r\n"
					    "RCPT TO:<c@far.test>\r\n"
					    "DATA\r\n");
	reply(f->s, 250, "250 ok");
	reply(f->s, 451, "451 4.3.0 try later");
	reply(f->s, 250, "250 ok");
	reply(f->s, 550, "550 5.1.1 no");
	assert_string_equal(take(&f->peer), "");
	reply(f->s, 354, "354 go");
	assert_non_null(strstr(take(&f->peer), "\r\n.\r\n"));
	reply(f->s, 250, "250 queued");
	assert_int_equal(f->results[0].outcome, MTA_RCPT_TEMPFAIL);
	assert_int_equal(f->results[1].outcome, MTA_RCPT_DELIVERED);
	assert_int_equal(f->results[2].outcome, MTA_RCPT_PERMFAIL);
	/* A second job on the same connection. */
	struct mta_rcpt_result r2[1];
	struct mta_job job2 = f->job;
	job2.rcpt_count = 1;
	job2.results = r2;
	mta_session_add_job(f->s, &job2);
	assert_string_equal(take(&f->peer),
			    "MAIL FROM:<s@here.test>\r\nRCPT TO:<a@far.test>\r\nDATA\r\n");
	mta_session_finish(f->s);
	reply(f->s, 250, "250 ok");
	reply(f->s, 250, "250 ok");
	reply(f->s, 354, "354 go");
	(void)take(&f->peer);
	reply(f->s, 250, "250 queued 2");
	assert_int_equal(r2[0].outcome, MTA_RCPT_DELIVERED);
	assert_string_equal(take(&f->peer), "QUIT\r\n");
	mta_session_lost(f->s, "closed");
	assert_int_equal(f->peer.sessions_done, 1);
	assert_true(f->peer.ok);
}

static void test_all_rejected_with_pipelined_354(void **state)
{
	struct fixture *f = *state;
	start(f);
	mta_session_add_job(f->s, &f->job);
	reply(f->s, 220, "220 hi");
	struct mta_caps caps = {.pipelining = true};
	reply_ehlo(f->s, &caps);
	(void)take(&f->peer);
	reply(f->s, 250, "250 ok");
	reply(f->s, 550, "550 5.1.1 a");
	reply(f->s, 550, "550 5.1.1 b");
	reply(f->s, 354, "354 go");
	/* RFC 2920 3.1: an empty message, then RSET. */
	assert_string_equal(take(&f->peer), ".\r\n");
	reply(f->s, 554, "554 no valid recipients");
	assert_string_equal(take(&f->peer), "RSET\r\n");
	assert_int_equal(f->results[0].outcome, MTA_RCPT_PERMFAIL);
	assert_int_equal(f->results[1].outcome, MTA_RCPT_PERMFAIL);
	assert_int_equal(f->peer.jobs_done, 1);
}

static void test_starttls_then_ehlo_again(void **state)
{
	struct fixture *f = *state;
	start(f);
	mta_session_add_job(f->s, &f->job);
	reply(f->s, 220, "220 hi");
	(void)take(&f->peer);
	struct mta_caps caps = {.starttls = true, .pipelining = true};
	reply_ehlo(f->s, &caps);
	assert_string_equal(take(&f->peer), "STARTTLS\r\n");
	reply(f->s, 220, "220 ready");
	assert_int_equal(f->peer.starttls_calls, 1);
	assert_int_equal(mta_session_state(f->s), MTA_STATE_TLS);
	mta_session_tls_ready(f->s);
	assert_true(mta_session_is_tls(f->s));
	assert_string_equal(take(&f->peer), "EHLO me.test\r\n");
	struct mta_caps after = {.pipelining = true, .starttls = true};
	reply_ehlo(f->s, &after);
	/* Never STARTTLS twice. */
	assert_non_null(strstr(take(&f->peer), "MAIL FROM:<s@here.test>"));
}

static void test_require_tls_not_offered(void **state)
{
	struct fixture *f = *state;
	f->opt.tls = MTA_TLS_REQUIRE;
	start(f);
	mta_session_add_job(f->s, &f->job);
	reply(f->s, 220, "220 hi");
	(void)take(&f->peer);
	struct mta_caps caps = {.pipelining = true};
	reply_ehlo(f->s, &caps);
	assert_string_equal(take(&f->peer), "QUIT\r\n");
	reply(f->s, 221, "221 bye");
	assert_int_equal(f->peer.sessions_done, 1);
	assert_false(f->peer.ok);
	assert_true(f->peer.temp);
	assert_non_null(strstr(f->peer.reason, "require"));
	/* The message was never offered: untried, with the reason. */
	assert_int_equal(f->peer.jobs_done, 1);
	assert_int_equal(f->results[0].outcome, MTA_RCPT_UNTRIED);
	assert_non_null(strstr(f->results[0].reply, "STARTTLS"));
}

/* RFC 8689: REQUIRETLS only over TLS to a server that offers it. */
static void test_requiretls(void **state)
{
	struct fixture *f = *state;
	f->opt.tls = MTA_TLS_REQUIRE;
	start(f);
	struct mta_job a = f->job, b = f->job;
	struct mta_rcpt_result ra[2], rb[2];
	a.results = ra;
	b.results = rb;
	a.requiretls = true;
	b.requiretls = true;
	mta_session_add_job(f->s, &a);
	mta_session_add_job(f->s, &b);
	mta_session_finish(f->s);
	reply(f->s, 220, "220 hi");
	(void)take(&f->peer);
	struct mta_caps caps = {.starttls = true};
	reply_ehlo(f->s, &caps);
	assert_string_equal(take(&f->peer), "STARTTLS\r\n");
	reply(f->s, 220, "220 ready");
	mta_session_tls_ready(f->s);
	assert_string_equal(take(&f->peer), "EHLO me.test\r\n");
	/* TLS, but the server does not offer REQUIRETLS: no MAIL, and a
	 * temporary 5.7.30 so the owner tries another MX. */
	struct mta_caps after = {.starttls = true};
	reply_ehlo(f->s, &after);
	assert_string_equal(take(&f->peer), "QUIT\r\n");
	assert_int_equal(f->peer.jobs_done, 2);
	assert_int_equal(ra[0].outcome, MTA_RCPT_TEMPFAIL);
	assert_non_null(strstr(ra[0].reply, "5.7.30"));
	assert_int_equal(rb[1].outcome, MTA_RCPT_TEMPFAIL);
}

static void test_requiretls_offered(void **state)
{
	struct fixture *f = *state;
	f->opt.tls = MTA_TLS_REQUIRE;
	start(f);
	f->job.requiretls = true;
	mta_session_add_job(f->s, &f->job);
	reply(f->s, 220, "220 hi");
	(void)take(&f->peer);
	struct mta_caps caps = {.starttls = true};
	reply_ehlo(f->s, &caps);
	(void)take(&f->peer);
	reply(f->s, 220, "220 ready");
	mta_session_tls_ready(f->s);
	(void)take(&f->peer);
	struct mta_caps after = {.requiretls = true};
	reply_ehlo(f->s, &after);
	assert_string_equal(take(&f->peer), "MAIL FROM:<s@here.test> REQUIRETLS\r\n");
}

static void test_size_smtputf8_8bit_refused_locally(void **state)
{
	struct fixture *f = *state;
	start(f);
	struct mta_job big = f->job, utf = f->job, eight = f->job;
	struct mta_rcpt_result rb[2], ru[2], re[2];
	big.results = rb;
	utf.results = ru;
	eight.results = re;
	big.size = 500;
	utf.smtputf8 = true;
	eight.body_8bit = true;
	mta_session_add_job(f->s, &big);
	mta_session_add_job(f->s, &utf);
	mta_session_add_job(f->s, &eight);
	mta_session_finish(f->s);
	reply(f->s, 220, "220 hi");
	(void)take(&f->peer);
	struct mta_caps caps = {.size = true, .size_max = 100};
	reply_ehlo(f->s, &caps);
	/* Nothing offered: each job fails before MAIL with its own reason. */
	assert_string_equal(take(&f->peer), "QUIT\r\n");
	assert_int_equal(f->peer.jobs_done, 3);
	assert_int_equal(rb[0].outcome, MTA_RCPT_PERMFAIL);
	assert_non_null(strstr(rb[0].reply, "5.3.4"));
	assert_non_null(strstr(ru[1].reply, "5.6.7"));
	assert_non_null(strstr(re[0].reply, "5.6.3"));
}

static int downgrade_ok(void *arg, struct mta_job *job, char *why, size_t why_size)
{
	(void)arg;
	(void)why;
	(void)why_size;
	job->body_8bit = false; /* "converted" */
	return 0;
}

static int downgrade_refuse(void *arg, struct mta_job *job, char *why, size_t why_size)
{
	(void)arg;
	(void)job;
	(void)snprintf(why, why_size, "554 5.6.7 non-ASCII header");
	return -1;
}

static void test_downgrade_hook(void **state)
{
	struct fixture *f = *state;
	start(f);
	struct mta_job conv = f->job, refuse = f->job;
	struct mta_rcpt_result rc[2], rr[2];
	conv.results = rc;
	refuse.results = rr;
	conv.body_8bit = refuse.body_8bit = true;
	conv.downgrade = downgrade_ok;
	refuse.downgrade = downgrade_refuse;
	mta_session_add_job(f->s, &refuse);
	mta_session_add_job(f->s, &conv);
	reply(f->s, 220, "220 hi");
	(void)take(&f->peer);
	reply_ehlo(f->s, &(struct mta_caps){.pipelining = true});
	assert_int_equal(rr[0].outcome, MTA_RCPT_PERMFAIL);
	assert_string_equal(rr[0].reply, "554 5.6.7 non-ASCII header");
	/* The converted job goes out without BODY=8BITMIME. */
	assert_non_null(strstr(take(&f->peer), "MAIL FROM:<s@here.test>\r\n"));
}

/* A queue value longer than any SMTP command may carry fails the job; it
 * never aborts the server. */
static void test_overlong_address_fails_the_job(void **state)
{
	struct fixture *f = *state;
	start(f);
	char big[2100];
	memset(big, 'a', 2000);
	(void)snprintf(big + 2000, sizeof(big) - 2000, "@far.test");
	const char *rc[1] = {big};
	struct mta_rcpt_result res[1];
	struct mta_job job = f->job;
	job.rcpt_count = 1;
	job.rcpts = rc;
	job.results = res;
	mta_session_add_job(f->s, &job);
	mta_session_finish(f->s);
	reply(f->s, 220, "220 hi");
	(void)take(&f->peer);
	reply_ehlo(f->s, &(struct mta_caps){.pipelining = true});
	assert_int_equal(res[0].outcome, MTA_RCPT_PERMFAIL);
	assert_non_null(strstr(res[0].reply, "5.5.4"));
	assert_string_equal(take(&f->peer), "QUIT\r\n");
}

static void test_lost_after_dot(void **state)
{
	struct fixture *f = *state;
	f->opt.pipelining = false;
	start(f);
	f->job.rcpt_count = 1;
	mta_session_add_job(f->s, &f->job);
	reply(f->s, 220, "220 hi");
	reply_ehlo(f->s, &(struct mta_caps){0});
	reply(f->s, 250, "250 ok");
	reply(f->s, 250, "250 ok");
	reply(f->s, 354, "354 go");
	assert_int_equal(mta_session_state(f->s), MTA_STATE_DOT);
	mta_session_lost(f->s, "421 4.4.2 connection closed");
	assert_true(f->job.maybe_delivered);
	assert_int_equal(f->results[0].outcome, MTA_RCPT_TEMPFAIL);
	assert_int_equal(f->peer.sessions_done, 1);
	assert_false(f->peer.ok);
}

static void test_failures_at_each_step(void **state)
{
	struct fixture *f = *state;
	f->opt.pipelining = false;
	start(f);
	mta_session_add_job(f->s, &f->job);
	reply(f->s, 220, "220 hi");
	(void)take(&f->peer);
	/* RFC 5321 4.1.4: EHLO not understood, HELO works. */
	reply(f->s, 502, "502 5.5.1 what");
	assert_string_equal(take(&f->peer), "HELO me.test\r\n");
	reply(f->s, 250, "250 hello");
	assert_string_equal(take(&f->peer), "MAIL FROM:<s@here.test>\r\n");
	reply(f->s, 452, "452 4.3.1 out of space");
	assert_int_equal(f->results[0].outcome, MTA_RCPT_TEMPFAIL);
	assert_int_equal(f->results[1].outcome, MTA_RCPT_TEMPFAIL);
	assert_int_equal(f->results[1].code, 452);
	assert_int_equal(f->peer.jobs_done, 1);
	/* DATA refused after accepted recipients: they take that reply. */
	struct mta_rcpt_result r2[2];
	struct mta_job job2 = f->job;
	job2.results = r2;
	mta_session_add_job(f->s, &job2);
	assert_string_equal(take(&f->peer), "MAIL FROM:<s@here.test>\r\n");
	reply(f->s, 250, "250 ok");
	reply(f->s, 250, "250 ok");
	reply(f->s, 250, "250 ok");
	reply(f->s, 554, "554 5.7.1 no thanks");
	assert_int_equal(r2[0].outcome, MTA_RCPT_PERMFAIL);
	assert_int_equal(r2[1].outcome, MTA_RCPT_PERMFAIL);
	assert_non_null(strstr(take(&f->peer), "RSET\r\n"));
}

static void test_bad_greeting_and_auth(void **state)
{
	struct fixture *f = *state;
	f->opt.auth_user = "u";
	f->opt.auth_pass = "p";
	start(f);
	mta_session_add_job(f->s, &f->job);
	reply(f->s, 220, "220 hi");
	(void)take(&f->peer);
	reply_ehlo(f->s, &(struct mta_caps){.auth_plain = true});
	/* base64("\0u\0p") */
	assert_string_equal(take(&f->peer), "AUTH PLAIN AHUAcA==\r\n");
	reply(f->s, 535, "535 5.7.8 bad credentials");
	assert_string_equal(take(&f->peer), "QUIT\r\n");
	reply(f->s, 221, "221 bye");
	assert_true(f->peer.temp);
	assert_non_null(strstr(f->peer.reason, "535 5.7.8"));
	assert_int_equal(f->results[0].outcome, MTA_RCPT_UNTRIED);

	struct peer p2 = {0};
	struct mta_io io2 = {io_write, io_starttls, io_output_len, &p2};
	struct mta_session *s2 = mta_session_new(&f->opt, &io2, on_job, on_session, &p2);
	reply(s2, 554, "554 5.7.1 go away");
	assert_string_equal(take(&p2), "QUIT\r\n");
	mta_session_lost(s2, "closed");
	assert_int_equal(p2.sessions_done, 1);
	assert_non_null(strstr(p2.reason, "greeting: 554"));
	mta_session_free(&s2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelining_and_partial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_rejected_with_pipelined_354, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_starttls_then_ehlo_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_require_tls_not_offered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_requiretls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_requiretls_offered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_smtputf8_8bit_refused_locally, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lost_after_dot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlong_address_fails_the_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_downgrade_hook, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failures_at_each_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_greeting_and_auth, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
