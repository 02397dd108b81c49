/* metrics_test: the registry under concurrent updates (several pthreads
 * bumping the same series sum exactly), the exposition text (every line
 * well formed, HELP and TYPE before each family's series, every series
 * present with zeros, exact lines for known series), the histogram
 * (cumulative buckets, inclusive bounds, _sum and _count), the name-based
 * labels (TLS version, DMARC, login protocol) and a bounded output that
 * runs over. */
#include "core/metrics.h"

#include <ctype.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/strbuf.h"

/* Every series line of a render: 7 connections + 7 sessions + 4 received +
 * 6 deliveries + 13 histogram lines + 2 queue + 3 auth failures + 6 TLS +
 * 1 DKIM + 5 DMARC + 2 backlog. */
#define SERIES_LINES 56
#define FAMILIES 12

static char *render(void)
{
	struct strbuf b;
	strbuf_init(&b, STRBUF_UNBOUNDED);
	metrics_render(&b);
	assert_false(b.over);
	return strbuf_take(&b, NULL);
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; p != NULL && *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len == n && memcmp(p, line, n) == 0)
			return true;
		p = nl ? nl + 1 : NULL;
	}
	return false;
}

static void assert_line(const char *text, const char *line)
{
	if (!has_line(text, line))
		fail_msg("missing line: %s\n--- render:\n%s", line, text);
}

static int setup(void **state)
{
	(void)state;
	metrics_reset();
	return 0;
}

/* ---- concurrency ---- */

#define THREADS 8
#define ROUNDS 20000

static void *bump(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		metrics_connection(METRICS_LISTENER_SUBMISSION);
		metrics_session_start(METRICS_LISTENER_POP3);
		metrics_deliveries(METRICS_RESULT_DEFERRED, METRICS_WHERE_REMOTE, 2);
		metrics_delivery_latency_ms((uint64_t)(i % 2) * 2000); /* 0 or 2 s */
		metrics_tls_session("TLSv1.3", METRICS_TLS_CLIENT);
		metrics_session_end(METRICS_LISTENER_POP3);
		metrics_session_start(METRICS_LISTENER_POP3);
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, bump, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	char *text = render();
	char line[160];
	const unsigned long long total = (unsigned long long)THREADS * ROUNDS;
	(void)snprintf(line, sizeof(line), "konvert_connections_total{listener=\"submission\"} %llu",
		       total);
	assert_line(text, line);
	(void)snprintf(line, sizeof(line), "konvert_sessions{listener=\"pop3\"} %llu", total);
	assert_line(text, line);
	(void)snprintf(line, sizeof(line),
		       "konvert_deliveries_total{result=\"deferred\",where=\"remote\"} %llu",
		       2 * total);
	assert_line(text, line);
	(void)snprintf(line, sizeof(line),
		       "konvert_tls_sessions_total{version=\"TLSv1.3\",side=\"client\"} %llu", total);
	assert_line(text, line);
	(void)snprintf(line, sizeof(line), "konvert_delivery_seconds_bucket{le=\"1\"} %llu",
		       total / 2);
	assert_line(text, line);
	(void)snprintf(line, sizeof(line), "konvert_delivery_seconds_count %llu", total);
	assert_line(text, line);
	(void)snprintf(line, sizeof(line), "konvert_delivery_seconds_sum %llu.000", total / 2 * 2);
	assert_line(text, line);
	free(text);
}

/* ---- exposition format ---- */

static bool is_name_start(char c)
{
	return isalpha((unsigned char)c) || c == '_' || c == ':';
}

static bool is_name_char(char c)
{
	return is_name_start(c) || isdigit((unsigned char)c);
}

/* One series line: name{label="value",...} number. Returns the length of
 * the metric name, 0 when malformed. */
static size_t parse_series(const char *p, size_t len)
{
	size_t i = 0;
	if (len == 0 || !is_name_start(p[0]))
		return 0;
	while (i < len && is_name_char(p[i]))
		i++;
	size_t name_len = i;
	if (i < len && p[i] == '{') {
		i++;
		for (;;) {
			if (i >= len || !is_name_start(p[i]))
				return 0;
			while (i < len && is_name_char(p[i]))
				i++;
			if (i + 1 >= len || p[i] != '=' || p[i + 1] != '"')
				return 0;
			i += 2;
			while (i < len && p[i] != '"' && p[i] != '\\' && p[i] != '\n')
				i++;
			if (i >= len || p[i] != '"')
				return 0;
			i++;
			if (i < len && p[i] == ',') {
				i++;
				continue;
			}
			if (i < len && p[i] == '}') {
				i++;
				break;
			}
			return 0;
		}
	}
	if (i >= len || p[i] != ' ')
		return 0;
	i++;
	if (i < len && p[i] == '-')
		i++;
	size_t digits = 0, dots = 0;
	for (; i < len; i++) {
		if (isdigit((unsigned char)p[i]))
			digits++;
		else if (p[i] == '.' && dots++ == 0)
			continue;
		else
			return 0;
	}
	return digits > 0 ? name_len : 0;
}

static void test_render_format(void **state)
{
	(void)state;
	char *text = render();
	size_t len = strlen(text);
	assert_true(len > 0 && text[len - 1] == '\n');
	size_t series = 0, helps = 0, types = 0;
	char family[64] = "";
	enum { WANT_HELP, WANT_TYPE, IN_FAMILY } st = WANT_HELP;
	for (const char *p = text; *p != '\0';) {
		const char *nl = strchr(p, '\n');
		assert_non_null(nl);
		size_t n = (size_t)(nl - p);
		if (n > 7 && memcmp(p, "# HELP ", 7) == 0) {
			assert_true(st != WANT_TYPE);
			size_t fn = strcspn(p + 7, " ");
			assert_true(fn > 0 && fn < sizeof(family));
			memcpy(family, p + 7, fn);
			family[fn] = '\0';
			helps++;
			st = WANT_TYPE;
		} else if (n > 7 && memcmp(p, "# TYPE ", 7) == 0) {
			assert_int_equal(st, WANT_TYPE);
			size_t fn = strlen(family);
			assert_true(n > 7 + fn + 1 && memcmp(p + 7, family, fn) == 0 &&
				    p[7 + fn] == ' ');
			const char *type = p + 7 + fn + 1;
			size_t tn = n - 7 - fn - 1;
			assert_true((tn == 7 && memcmp(type, "counter", 7) == 0) ||
				    (tn == 5 && memcmp(type, "gauge", 5) == 0) ||
				    (tn == 9 && memcmp(type, "histogram", 9) == 0));
			types++;
			st = IN_FAMILY;
		} else {
			assert_int_equal(st, IN_FAMILY);
			size_t name_len = parse_series(p, n);
			if (name_len == 0)
				fail_msg("malformed line: %.*s", (int)n, p);
			/* the series belongs to the family announced last */
			size_t fn = strlen(family);
			assert_true(name_len >= fn && memcmp(p, family, fn) == 0);
			series++;
		}
		p = nl + 1;
	}
	assert_int_equal(helps, FAMILIES);
	assert_int_equal(types, FAMILIES);
	assert_int_equal(series, SERIES_LINES);
	/* zeros are there from the start */
	assert_line(text, "konvert_connections_total{listener=\"pop2\"} 0");
	assert_line(text, "konvert_deliveries_total{result=\"bounced\",where=\"local\"} 0");
	assert_line(text, "konvert_auth_checks_total{dmarc=\"permerror\"} 0");
	assert_line(text, "konvert_queue_oldest_age_seconds 0");
	assert_line(text, "konvert_delivery_seconds_bucket{le=\"+Inf\"} 0");
	assert_line(text, "konvert_delivery_seconds_sum 0.000");
	assert_line(text, "# TYPE konvert_delivery_seconds histogram");
	assert_line(text, "# TYPE konvert_sessions gauge");
	assert_line(text, "# TYPE konvert_messages_received_total counter");
	/* POP listeners receive no messages: no such series */
	assert_null(strstr(text, "konvert_messages_received_total{listener=\"pop3\"}"));
	free(text);
}

static void test_render_values(void **state)
{
	(void)state;
	metrics_connection(METRICS_LISTENER_SMTP);
	metrics_connection(METRICS_LISTENER_SMTP);
	metrics_connection(METRICS_LISTENER_POP3S);
	metrics_session_start(METRICS_LISTENER_SMTPS);
	metrics_session_end(METRICS_LISTENER_POP2); /* a bug, shown as such */
	metrics_message_received(METRICS_LISTENER_LOCAL);
	metrics_deliveries(METRICS_RESULT_DELIVERED, METRICS_WHERE_LOCAL, 3);
	metrics_deliveries(METRICS_RESULT_BOUNCED, METRICS_WHERE_REMOTE, 1);
	metrics_dkim_signed();
	metrics_set_queue(42, 3600);
	metrics_set_queue(17, 120); /* a gauge: the last value counts */
	metrics_set_worker_backlog(METRICS_POOL_AUTH, 5);
	char *text = render();
	assert_line(text, "konvert_connections_total{listener=\"smtp\"} 2");
	assert_line(text, "konvert_connections_total{listener=\"pop3s\"} 1");
	assert_line(text, "konvert_connections_total{listener=\"submission\"} 0");
	assert_line(text, "konvert_sessions{listener=\"smtps\"} 1");
	assert_line(text, "konvert_sessions{listener=\"pop2\"} -1");
	assert_line(text, "konvert_messages_received_total{listener=\"local\"} 1");
	assert_line(text, "konvert_deliveries_total{result=\"delivered\",where=\"local\"} 3");
	assert_line(text, "konvert_deliveries_total{result=\"bounced\",where=\"remote\"} 1");
	assert_line(text, "konvert_deliveries_total{result=\"delivered\",where=\"remote\"} 0");
	assert_line(text, "konvert_dkim_signed_total 1");
	assert_line(text, "konvert_queue_messages 17");
	assert_line(text, "konvert_queue_oldest_age_seconds 120");
	assert_line(text, "konvert_worker_backlog{pool=\"auth\"} 5");
	assert_line(text, "konvert_worker_backlog{pool=\"main\"} 0");
	assert_line(text, "# HELP konvert_queue_messages Messages in the queue.");
	free(text);
}

static void test_histogram(void **state)
{
	(void)state;
	static const uint64_t obs[] = {0, 100, 101, 500, 999, 1000, 59999, 3600000, 3600001,
				       1000000000};
	uint64_t sum = 0;
	for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++) {
		metrics_delivery_latency_ms(obs[i]);
		sum += obs[i];
	}
	char *text = render();
	/* le is inclusive: 100 ms is in le="0.1", 101 ms is not */
	static const char *const want[] = {
		"konvert_delivery_seconds_bucket{le=\"0.1\"} 2",
		"konvert_delivery_seconds_bucket{le=\"0.5\"} 4",
		"konvert_delivery_seconds_bucket{le=\"1\"} 6",
		"konvert_delivery_seconds_bucket{le=\"5\"} 6",
		"konvert_delivery_seconds_bucket{le=\"10\"} 6",
		"konvert_delivery_seconds_bucket{le=\"30\"} 6",
		"konvert_delivery_seconds_bucket{le=\"60\"} 7",
		"konvert_delivery_seconds_bucket{le=\"300\"} 7",
		"konvert_delivery_seconds_bucket{le=\"1800\"} 7",
		"konvert_delivery_seconds_bucket{le=\"3600\"} 8",
		"konvert_delivery_seconds_bucket{le=\"+Inf\"} 10",
		"konvert_delivery_seconds_count 10",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_line(text, want[i]);
	char line[96];
	(void)snprintf(line, sizeof(line), "konvert_delivery_seconds_sum %llu.%03llu",
		       (unsigned long long)(sum / 1000), (unsigned long long)(sum % 1000));
	assert_line(text, line);
	/* buckets in increasing order, each at least the one before */
	const char *p = strstr(text, "konvert_delivery_seconds_bucket");
	unsigned long long prev = 0;
	for (int i = 0; i < 11; i++) {
		assert_non_null(p);
		const char *sp = strchr(p, ' ');
		assert_non_null(sp);
		unsigned long long v = strtoull(sp + 1, NULL, 10);
		assert_true(v >= prev);
		prev = v;
		p = strstr(sp, "konvert_delivery_seconds_bucket");
	}
	assert_null(p);
	free(text);
}

static void test_names(void **state)
{
	(void)state;
	metrics_tls_session("TLSv1.3", METRICS_TLS_SERVER);
	metrics_tls_session("version=TLSv1.2 cipher=ECDHE-RSA-AES256-GCM-SHA384 bits=256",
			    METRICS_TLS_CLIENT);
	metrics_tls_session("TLSv1.1", METRICS_TLS_SERVER);
	metrics_tls_session("TLSv1.30", METRICS_TLS_SERVER);
	metrics_tls_session(NULL, METRICS_TLS_SERVER);
	metrics_tls_session("", METRICS_TLS_CLIENT);
	metrics_dmarc_result("pass");
	metrics_dmarc_result("temperror");
	metrics_dmarc_result("bogus"); /* dropped */
	metrics_dmarc_result(NULL);
	metrics_auth_failure("pop3");
	metrics_auth_failure("pop3");
	metrics_auth_failure("smtp");
	metrics_auth_failure("imap"); /* dropped */
	char *text = render();
	assert_line(text, "konvert_tls_sessions_total{version=\"TLSv1.3\",side=\"server\"} 1");
	assert_line(text, "konvert_tls_sessions_total{version=\"TLSv1.2\",side=\"client\"} 1");
	assert_line(text, "konvert_tls_sessions_total{version=\"other\",side=\"server\"} 3");
	assert_line(text, "konvert_tls_sessions_total{version=\"other\",side=\"client\"} 1");
	assert_line(text, "konvert_tls_sessions_total{version=\"TLSv1.2\",side=\"server\"} 0");
	assert_line(text, "konvert_auth_checks_total{dmarc=\"pass\"} 1");
	assert_line(text, "konvert_auth_checks_total{dmarc=\"temperror\"} 1");
	assert_line(text, "konvert_auth_checks_total{dmarc=\"fail\"} 0");
	assert_line(text, "konvert_auth_failures_total{proto=\"pop3\"} 2");
	assert_line(text, "konvert_auth_failures_total{proto=\"smtp\"} 1");
	assert_line(text, "konvert_auth_failures_total{proto=\"pop2\"} 0");
	assert_null(strstr(text, "imap"));
	assert_null(strstr(text, "bogus"));
	free(text);
}

static void test_bounded_output(void **state)
{
	(void)state;
	struct strbuf b;
	strbuf_init(&b, 512);
	metrics_render(&b);
	assert_true(b.over);
	assert_true(b.len <= 512);
	strbuf_fini(&b);
	/* the documented size is enough */
	strbuf_init(&b, 8192);
	metrics_render(&b);
	assert_false(b.over);
	strbuf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_threads, setup),
		cmocka_unit_test_setup(test_render_format, setup),
		cmocka_unit_test_setup(test_render_values, setup),
		cmocka_unit_test_setup(test_histogram, setup),
		cmocka_unit_test_setup(test_names, setup),
		cmocka_unit_test_setup(test_bounded_output, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
