/* config_test: unit tests for config/config.c. Files are written to mkstemp
 * temporaries; every case is a row in a table of designated initializers.
 * Error texts are compared exactly, including the "file:line: " prefix. */
#include "config/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/limits.h"

/* ---- helpers ---- */

static char *write_tmp_len(const char *text, size_t len)
{
	char tmpl[] = "/tmp/konvert_cfg_test_XXXXXX";
	int fd = mkstemp(tmpl);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	return xstrdup(tmpl);
}

static char *write_tmp(const char *text)
{
	return write_tmp_len(text, strlen(text));
}

/* Loads text as a file; returns the config or NULL with *errors_out set. */
static struct config *load_text(const char *text, char **path_out,
				char **errors_out)
{
	struct config *cfg = NULL;
	char *path = write_tmp(text);
	int rc = cfg_load(path, &cfg, errors_out);

	assert_int_equal(rc, cfg != NULL ? 0 : -1);
	if (path_out != NULL)
		*path_out = path;
	else {
		(void)unlink(path);
		free(path);
	}
	return cfg;
}

static struct config *load_ok(const char *text)
{
	char *errors = NULL;
	struct config *cfg = load_text(text, NULL, &errors);

	if (cfg == NULL)
		fail_msg("unexpected errors:\n%s", errors);
	assert_null(errors);
	return cfg;
}

/* Prefixes every line of "LINE: message" lines with "path:". */
static char *expected_errors(const char *path, const char *lines)
{
	size_t cap = strlen(lines) * 2 + 64 * (strlen(path) + 2);
	char *out = xmalloc(cap);
	size_t used = 0;
	const char *p = lines;

	out[0] = '\0';
	while (*p != '\0') {
		size_t n = strcspn(p, "\n");
		int w = snprintf(out + used, cap - used, "%s%s:%.*s",
				 used ? "\n" : "", path, (int)n, p);

		assert_true(w > 0 && (size_t)w < cap - used);
		used += (size_t)w;
		p += n;
		if (*p == '\n')
			p++;
	}
	return out;
}

static char *dump_text(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	cfg_dump(cfg, f);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void set_sockaddr(const char *addr, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, addr, &sin6->sin6_addr), 1);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
	}
}

/* ---- defaults ---- */

static void check_listen1(const struct cfg_listen_list *l, const char *text)
{
	assert_int_equal(l->count, 1);
	assert_string_equal(l->items[0].text, text);
}

static void test_defaults(void **state)
{
	struct config *cfg = NULL;
	char *errors = (char *)"untouched";
	char text[INET6_ADDRSTRLEN];

	(void)state;
	assert_int_equal(cfg_load(NULL, &cfg, &errors), 0);
	assert_null(errors);
	assert_non_null(cfg);
	assert_null(cfg->path);
	assert_string_equal(cfg->hostname, "localhost");
	assert_int_equal(cfg->domain_count, 1);
	assert_string_equal(cfg->domains[0], "localhost");
	assert_null(cfg->domains[1]);
	assert_string_equal(cfg->data_dir, "./var");
	check_listen1(&cfg->smtp_listen, "127.0.0.1:2525");
	check_listen1(&cfg->submission_listen, "127.0.0.1:5870");
	check_listen1(&cfg->smtps_listen, "127.0.0.1:4650");
	check_listen1(&cfg->pop3_listen, "127.0.0.1:1100");
	check_listen1(&cfg->pop3s_listen, "127.0.0.1:9950");
	check_listen1(&cfg->pop2_listen, "127.0.0.1:1090");
	assert_null(cfg->tls_cert);
	assert_null(cfg->tls_key);
	assert_int_equal(cfg->max_message_size, 26214400);
	assert_int_equal(cfg->max_recipients, 100);
	assert_int_equal(cfg->relay_network_count, 2);
	assert_int_equal(cfg->relay_networks[0].family, AF_INET);
	assert_int_equal(cfg->relay_networks[0].prefix, 8);
	assert_non_null(inet_ntop(AF_INET, cfg->relay_networks[0].addr, text,
				  sizeof text));
	assert_string_equal(text, "127.0.0.0");
	assert_int_equal(cfg->relay_networks[1].family, AF_INET6);
	assert_int_equal(cfg->relay_networks[1].prefix, 128);
	assert_false(cfg->has_smarthost);
	assert_null(cfg->dns_servers);
	assert_int_equal(cfg->dns_server_count, 0);
	assert_int_equal(cfg->relay_port, 25);
	assert_int_equal(cfg->smtp_timeout_ms, 5 * 60 * 1000);
	assert_int_equal(cfg->pop3_timeout_ms, 10 * 60 * 1000);
	assert_int_equal(cfg->max_sessions, 20000);
	assert_int_equal(cfg->max_sessions_per_ip, 100);
	assert_int_equal(cfg->plaintext_auth, CFG_PLAINTEXT_TLS_OR_LOOPBACK);
	assert_int_equal(cfg->queue_retry_count, 7);
	{
		static const unsigned want[] = { 300, 600, 1200, 2400,
						 3600, 7200, 14400 };

		for (size_t i = 0; i < 7; i++)
			assert_int_equal(cfg->queue_retry_s[i], want[i]);
	}
	assert_int_equal(cfg->queue_lifetime_s, 5 * 86400);
	assert_int_equal(cfg->delay_warning_s, 4 * 3600);
	assert_int_equal(cfg->relay_tls, CFG_RELAY_TLS_OPPORTUNISTIC);
	assert_null(cfg->smarthost_auth);
	assert_string_equal(cfg->run_as, "konvert");
	assert_int_equal(cfg->tls_handshake_timeout_ms, 30 * 1000);
	assert_int_equal(cfg->data_timeout_ms, 10 * 60 * 1000);
	cfg_free(&cfg);
	assert_null(cfg);
}

static const char defaults_dump[] =
	"hostname = localhost\n"
	"domains = localhost\n"
	"data_dir = ./var\n"
	"smtp_listen = 127.0.0.1:2525\n"
	"submission_listen = 127.0.0.1:5870\n"
	"smtps_listen = 127.0.0.1:4650\n"
	"pop3_listen = 127.0.0.1:1100\n"
	"pop3s_listen = 127.0.0.1:9950\n"
	"pop2_listen = 127.0.0.1:1090\n"
	"tls_cert = \n"
	"tls_key = \n"
	"max_message_size = 26214400\n"
	"max_recipients = 100\n"
	"relay_networks = 127.0.0.0/8 ::1/128\n"
	"smarthost = \n"
	"dns_servers = \n"
	"relay_port = 25\n"
	"smtp_timeout = 5m\n"
	"pop3_timeout = 10m\n"
	"max_sessions = 20000\n"
	"max_sessions_per_ip = 100\n"
	"threads = 0\n"
	"plaintext_auth = tls-or-loopback\n"
	"queue_retry = 5m 10m 20m 40m 1h 2h 4h\n"
	"queue_lifetime = 5d\n"
	"delay_warning = 4h\n"
	"relay_tls = opportunistic\n"
	"smarthost_auth = \n"
	"run_as = konvert\n"
	"tls_handshake_timeout = 30s\n"
	"data_timeout = 10m\n"
	"dkim_sign = yes\n"
	"auth_checks = yes\n"
	"dmarc_enforce = yes\n"
	"dnssec = no\n"
	"tls_trust_file = \n"
	"mta_sts_port = 443\n"
	"bare_newline = normalize\n"
	"log = stderr\n"
	"metrics_listen = \n";

static void test_dump_defaults(void **state)
{
	struct config *cfg = NULL;
	char *text;

	(void)state;
	assert_int_equal(cfg_load(NULL, &cfg, NULL), 0);
	text = dump_text(cfg);
	assert_string_equal(text, defaults_dump);
	free(text);
	cfg_free(&cfg);
}

/* ---- a full file ---- */

static const char full_file[] =
	"# every key, none at its default\n"
	"hostname = MX.Example.org\n"
	"domains = Example.ORG example.net\n"
	"data_dir = /srv/konvert data\n"
	"smtp_listen = 0.0.0.0:25 [::]:25\n"
	"submission_listen = 192.0.2.1:587\n"
	"smtps_listen = [2001:DB8::0001]:465\n"
	"pop3_listen = 127.0.0.1:110\n"
	"pop3s_listen = 127.0.0.1:995\n"
	"pop2_listen =\n"
	"tls_cert = /etc/konvert/cert.pem\n"
	"tls_key = /etc/konvert/key.pem\n"
	"max_message_size = 10M\n"
	"max_recipients = 50\n"
	"relay_networks = 10.1.2.3/8 192.168.0.7 2001:db8::/32\n"
	"smarthost = relay.example.net:587\n"
	"dns_servers = 127.0.0.1:5353 [::1]:53 192.0.2.53\n"
	"relay_port = 2500\n"
	"smtp_timeout = 90\n"
	"pop3_timeout = 1h\n"
	"max_sessions = 500\n"
	"max_sessions_per_ip = 7\n"
	"plaintext_auth = always\n"
	"queue_retry = 1m 90s\n"
	"queue_lifetime = 2d\n"
	"delay_warning = 0\n"
	"relay_tls = require\n"
	"smarthost_auth = user:s3cr=t pass\n"
	"run_as = mail\n"
	"tls_handshake_timeout = 1500\n"
	"data_timeout = 2h\n";

static void check_full(const struct config *cfg, bool from_dump)
{
	const struct sockaddr_in6 *sin6;
	char text[INET6_ADDRSTRLEN];

	assert_string_equal(cfg->hostname, "MX.Example.org");
	assert_int_equal(cfg->domain_count, 2);
	assert_string_equal(cfg->domains[0], "example.org");
	assert_string_equal(cfg->domains[1], "example.net");
	assert_null(cfg->domains[2]);
	assert_string_equal(cfg->data_dir, "/srv/konvert data");
	assert_int_equal(cfg->smtp_listen.count, 2);
	assert_string_equal(cfg->smtp_listen.items[0].text, "0.0.0.0:25");
	assert_string_equal(cfg->smtp_listen.items[1].text, "[::]:25");
	check_listen1(&cfg->submission_listen, "192.0.2.1:587");
	check_listen1(&cfg->smtps_listen, "[2001:db8::1]:465");
	sin6 = (const struct sockaddr_in6 *)&cfg->smtps_listen.items[0].addr;
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 465);
	assert_int_equal(cfg->smtps_listen.items[0].addr_len, sizeof *sin6);
	check_listen1(&cfg->pop3_listen, "127.0.0.1:110");
	check_listen1(&cfg->pop3s_listen, "127.0.0.1:995");
	assert_int_equal(cfg->pop2_listen.count, 0);
	assert_null(cfg->pop2_listen.items);
	assert_string_equal(cfg->tls_cert, "/etc/konvert/cert.pem");
	assert_string_equal(cfg->tls_key, "/etc/konvert/key.pem");
	assert_int_equal(cfg->max_message_size, 10 * 1024 * 1024);
	assert_int_equal(cfg->max_recipients, 50);
	assert_int_equal(cfg->relay_network_count, 3);
	assert_non_null(inet_ntop(AF_INET, cfg->relay_networks[0].addr, text,
				  sizeof text));
	assert_string_equal(text, "10.0.0.0");
	assert_int_equal(cfg->relay_networks[1].prefix, 32);
	assert_int_equal(cfg->relay_networks[2].family, AF_INET6);
	assert_int_equal(cfg->relay_networks[2].prefix, 32);
	assert_true(cfg->has_smarthost);
	assert_string_equal(cfg->smarthost.host, "relay.example.net");
	assert_int_equal(cfg->smarthost.port, 587);
	assert_int_equal(cfg->dns_server_count, 3);
	assert_string_equal(cfg->dns_servers[0].host, "127.0.0.1");
	assert_int_equal(cfg->dns_servers[0].port, 5353);
	assert_string_equal(cfg->dns_servers[1].host, "::1");
	assert_int_equal(cfg->dns_servers[1].port, 53);
	assert_string_equal(cfg->dns_servers[2].host, "192.0.2.53");
	assert_int_equal(cfg->dns_servers[2].port, 53);
	assert_int_equal(cfg->relay_port, 2500);
	assert_int_equal(cfg->smtp_timeout_ms, 90000);
	assert_int_equal(cfg->pop3_timeout_ms, 3600000);
	assert_int_equal(cfg->max_sessions, 500);
	assert_int_equal(cfg->max_sessions_per_ip, 7);
	assert_int_equal(cfg->plaintext_auth, CFG_PLAINTEXT_ALWAYS);
	assert_int_equal(cfg->queue_retry_count, 2);
	assert_int_equal(cfg->queue_retry_s[0], 60);
	assert_int_equal(cfg->queue_retry_s[1], 90);
	assert_int_equal(cfg->queue_lifetime_s, 2 * 86400);
	assert_int_equal(cfg->delay_warning_s, 0);
	assert_int_equal(cfg->relay_tls, CFG_RELAY_TLS_REQUIRE);
	assert_string_equal(cfg->smarthost_auth,
			    from_dump ? "user:***" : "user:s3cr=t pass");
	assert_string_equal(cfg->run_as, "mail");
	assert_int_equal(cfg->tls_handshake_timeout_ms, 1500 * 1000);
	assert_int_equal(cfg->data_timeout_ms, 2 * 3600 * 1000);
}

static void test_full_file(void **state)
{
	char *path = NULL, *errors = NULL;
	struct config *cfg = load_text(full_file, &path, &errors);

	(void)state;
	assert_null(errors);
	assert_non_null(cfg);
	assert_string_equal(cfg->path, path);
	check_full(cfg, false);
	cfg_free(&cfg);
	(void)unlink(path);
	free(path);
}

/* The dump hides the password and loads back to the same values. */
static void test_dump_round_trip(void **state)
{
	struct config *cfg = load_ok(full_file), *again;
	char *text = dump_text(cfg), *text2;

	(void)state;
	assert_null(strstr(text, "s3cr"));
	assert_non_null(strstr(text, "\nsmarthost_auth = user:***\n"));
	assert_non_null(strstr(text, "\nsmtps_listen = [2001:db8::1]:465\n"));
	assert_non_null(strstr(text, "\nrelay_networks = 10.0.0.0/8 "
				     "192.168.0.7/32 2001:db8::/32\n"));
	assert_non_null(strstr(text, "\ndns_servers = 127.0.0.1:5353 "
				     "[::1]:53 192.0.2.53:53\n"));
	assert_non_null(strstr(text, "\nqueue_retry = 1m 90s\n"));
	assert_non_null(strstr(text, "\nsmtp_timeout = 90s\n"));
	assert_non_null(strstr(text, "\ntls_handshake_timeout = 25m\n"));
	assert_non_null(strstr(text, "\ndata_timeout = 2h\n"));
	assert_non_null(strstr(text, "\ndelay_warning = 0\n"));
	assert_non_null(strstr(text, "\npop2_listen = \n"));
	again = load_ok(text);
	check_full(again, true);
	text2 = dump_text(again);
	assert_string_equal(text, text2);
	free(text);
	free(text2);
	cfg_free(&cfg);
	cfg_free(&again);
}

/* ---- comments, whitespace, odd but valid lines ---- */

static void test_comments_whitespace(void **state)
{
	static const char text[] =
		"\xEF\xBB\xBF# comment on the first line after a BOM\n"
		"\n"
		"   \t  \n"
		"   # indented comment\n"
		"\thostname\t=\tmx.example.org   # trailing comment\n"
		"max_recipients=5#no spaces at all\n"
		"domains = a.org   b.org\t\tc.org \r\n"
		"smarthost_auth = u:p=w\n"
		"smarthost = [2001:db8::25]\n"
		"dns_servers = ::1 [::2] 10.0.0.1\n"
		"run_as = nobody";	/* no final newline */
	struct config *cfg = load_ok(text);

	(void)state;
	assert_string_equal(cfg->hostname, "mx.example.org");
	assert_int_equal(cfg->max_recipients, 5);
	assert_int_equal(cfg->domain_count, 3);
	assert_string_equal(cfg->domains[2], "c.org");
	assert_string_equal(cfg->smarthost_auth, "u:p=w");
	assert_true(cfg->has_smarthost);
	assert_string_equal(cfg->smarthost.host, "2001:db8::25");
	assert_int_equal(cfg->smarthost.port, 25);
	assert_int_equal(cfg->dns_server_count, 3);
	assert_string_equal(cfg->dns_servers[0].host, "::1");
	assert_string_equal(cfg->dns_servers[1].host, "::2");
	assert_int_equal(cfg->dns_servers[1].port, 53);
	assert_string_equal(cfg->run_as, "nobody");
	cfg_free(&cfg);
}

/* A line of exactly FILE_LINE_MAX bytes is fine; one more is not. */
static void test_line_length(void **state)
{
	char *text = xmalloc(FILE_LINE_MAX + 64);
	char *path = NULL, *errors = NULL, *want;
	struct config *cfg;

	(void)state;
	text[0] = '#';
	memset(text + 1, 'x', FILE_LINE_MAX - 1);
	memcpy(text + FILE_LINE_MAX, "\nrelay_port = 26\n", 18);
	cfg = load_ok(text);
	assert_int_equal(cfg->relay_port, 26);
	cfg_free(&cfg);

	text[0] = '#';
	memset(text + 1, 'x', FILE_LINE_MAX);
	memcpy(text + FILE_LINE_MAX + 1, "\nrelay_port = 0\n", 17);
	cfg = load_text(text, &path, &errors);
	assert_null(cfg);
	want = expected_errors(path, "1: line longer than 4096 bytes\n"
				     "2: relay_port: '0' is out of range "
				     "1..65535");
	assert_string_equal(errors, want);
	free(want);
	free(errors);
	(void)unlink(path);
	free(path);
	free(text);
}

static void test_nul_byte(void **state)
{
	static const char text[] = "hostname = a\0b\nrelay_port = 26\n";
	char *path = write_tmp_len(text, sizeof text - 1);
	char *errors = NULL, *want = expected_errors(path, "1: line contains "
						     "a NUL byte");
	struct config *cfg = NULL;

	(void)state;
	assert_int_equal(cfg_load(path, &cfg, &errors), -1);
	assert_null(cfg);
	assert_string_equal(errors, want);
	free(want);
	free(errors);
	(void)unlink(path);
	free(path);
}

/* ---- errors ---- */

struct error_case {
	const char *text; /* file contents */
	const char *want; /* "LINE: message" lines; path is prefixed */
};

static const struct error_case error_cases[] = {
	{ .text = "foo = 1\n", .want = "1: unknown key 'foo'" },
	{ .text = "Hostname = x\n", .want = "1: unknown key 'Hostname'" },
	{ .text = "\nhostname\n", .want = "2: expected 'key = value'" },
	{ .text = "= x\n", .want = "1: missing key before '='" },
	{ .text = "hostname = a\n# x\nhostname = b\n",
	  .want = "3: hostname: duplicate key (first set on line 1)" },
	{ .text = "hostname =\n", .want = "1: hostname: value is empty" },
	{ .text = "hostname = bad_name\n",
	  .want = "1: hostname: 'bad_name' is not a valid host name" },
	{ .text = "hostname = a..b\n",
	  .want = "1: hostname: 'a..b' is not a valid host name" },
	{ .text = "domains =   # none\n",
	  .want = "1: domains: at least one item is needed" },
	{ .text = "domains = a.org A.ORG\n",
	  .want = "1: domains: duplicate domain 'a.org'" },
	{ .text = "domains = ok.org -bad.org\n",
	  .want = "1: domains: '-bad.org' is not a valid domain" },
	{ .text = "data_dir =\n", .want = "1: data_dir: value is empty" },
	{ .text = "smtp_listen = 127.0.0.1\n",
	  .want = "1: smtp_listen: '127.0.0.1': expected ADDR:PORT" },
	{ .text = "smtp_listen = 127.0.0.1:0\n",
	  .want = "1: smtp_listen: '127.0.0.1:0': port must be 1..65535" },
	{ .text = "pop3_listen = 127.0.0.1:65536\n",
	  .want = "1: pop3_listen: '127.0.0.1:65536': port must be 1..65535" },
	{ .text = "smtp_listen = 127.0.0.1:+25\n",
	  .want = "1: smtp_listen: '127.0.0.1:+25': port must be 1..65535" },
	{ .text = "smtp_listen = localhost:25\n",
	  .want = "1: smtp_listen: 'localhost:25': not a numeric IPv4 "
		  "address" },
	{ .text = "smtp_listen = ::1:25\n",
	  .want = "1: smtp_listen: '::1:25': an IPv6 address needs brackets: "
		  "[ADDR]:PORT" },
	{ .text = "smtp_listen = [::1:25\n",
	  .want = "1: smtp_listen: '[::1:25': expected [IPv6]:PORT" },
	{ .text = "smtp_listen = [::1]25\n",
	  .want = "1: smtp_listen: '[::1]25': expected [IPv6]:PORT" },
	{ .text = "smtp_listen = [1.2.3.4]:25\n",
	  .want = "1: smtp_listen: '[1.2.3.4]:25': not a numeric IPv6 "
		  "address" },
	{ .text = "smtp_listen = 127.0.0.1:25 127.0.0.1:025\n",
	  .want = "1: smtp_listen: '127.0.0.1:25' is listed twice" },
	{ .text = "smtp_listen = 127.0.0.1:1100\n",
	  .want = "1: smtp_listen: 127.0.0.1:1100 is also used by "
		  "pop3_listen" },
	{ .text = "pop2_listen = 127.0.0.1:7\nsmtp_listen = 127.0.0.1:7\n",
	  .want = "2: smtp_listen: 127.0.0.1:7 is also used by pop2_listen" },
	{ .text = "tls_cert = /c.pem\n",
	  .want = "1: tls_cert: set without tls_key" },
	{ .text = "\ntls_key = /k.pem\n",
	  .want = "2: tls_key: set without tls_cert" },
	{ .text = "max_message_size = 0\n",
	  .want = "1: max_message_size: '0' is out of range 1..2147483648" },
	{ .text = "max_message_size = 3G\n",
	  .want = "1: max_message_size: '3G' is out of range 1..2147483648" },
	{ .text = "max_message_size = 10x\n",
	  .want = "1: max_message_size: '10x' is not a size (bytes, optional "
		  "k/M/G suffix)" },
	{ .text = "max_message_size = 18446744073709551616\n",
	  .want = "1: max_message_size: '18446744073709551616' is not a size "
		  "(bytes, optional k/M/G suffix)" },
	{ .text = "max_message_size = 18014398509481984k\n",
	  .want = "1: max_message_size: '18014398509481984k' is not a size "
		  "(bytes, optional k/M/G suffix)" },
	{ .text = "max_recipients = 10001\n",
	  .want = "1: max_recipients: '10001' is out of range 1..10000" },
	{ .text = "max_recipients = -1\n",
	  .want = "1: max_recipients: '-1' is not a number" },
	{ .text = "max_recipients = 1k\n",
	  .want = "1: max_recipients: '1k' is not a number" },
	{ .text = "relay_networks = 10.0.0.0/33\n",
	  .want = "1: relay_networks: '10.0.0.0/33': prefix must be 0..32" },
	{ .text = "relay_networks = ::/129\n",
	  .want = "1: relay_networks: '::/129': prefix must be 0..128" },
	{ .text = "relay_networks = 10.0.0.0/\n",
	  .want = "1: relay_networks: '10.0.0.0/': prefix must be 0..32" },
	{ .text = "relay_networks = example.org/8\n",
	  .want = "1: relay_networks: 'example.org/8': not a numeric "
		  "address" },
	{ .text = "smarthost = a.org b.org\n",
	  .want = "1: smarthost: expected one HOST:PORT" },
	{ .text = "smarthost = mx.example.org:0\n",
	  .want = "1: smarthost: 'mx.example.org:0': port must be 1..65535" },
	{ .text = "smarthost = bad_host:25\n",
	  .want = "1: smarthost: 'bad_host:25': not a valid host name" },
	{ .text = "smarthost = [::1\n",
	  .want = "1: smarthost: '[::1': expected [IPv6]:PORT" },
	{ .text = "smarthost = :25\n",
	  .want = "1: smarthost: ':25': expected HOST:PORT" },
	{ .text = "dns_servers = 1.2.3.4:99999\n",
	  .want = "1: dns_servers: '1.2.3.4:99999': port must be 1..65535" },
	{ .text = "dns_servers = dns.google\n",
	  .want = "1: dns_servers: 'dns.google': not a numeric IPv4 "
		  "address" },
	{ .text = "relay_port = 0\n",
	  .want = "1: relay_port: '0' is out of range 1..65535" },
	{ .text = "smtp_timeout = 0\n",
	  .want = "1: smtp_timeout: '0' is out of range 1s..1d" },
	{ .text = "pop3_timeout = 2d\n",
	  .want = "1: pop3_timeout: '2d' is out of range 1s..1d" },
	{ .text = "smtp_timeout = 5x\n",
	  .want = "1: smtp_timeout: '5x' is not a duration (number with s, "
		  "m, h or d)" },
	{ .text = "tls_handshake_timeout = 0\n",
	  .want = "1: tls_handshake_timeout: '0' is out of range 1s..1d" },
	{ .text = "tls_handshake_timeout = 30x\n",
	  .want = "1: tls_handshake_timeout: '30x' is not a duration (number "
		  "with s, m, h or d)" },
	{ .text = "data_timeout = 0s\n",
	  .want = "1: data_timeout: '0s' is out of range 1s..1d" },
	{ .text = "data_timeout = 25h\n",
	  .want = "1: data_timeout: '25h' is out of range 1s..1d" },
	{ .text = "data_timeout = 10 m\n",
	  .want = "1: data_timeout: '10 m' is not a duration (number with s, "
		  "m, h or d)" },
	{ .text = "max_sessions = 1000001\n",
	  .want = "1: max_sessions: '1000001' is out of range 1..1000000" },
	{ .text = "max_sessions_per_ip = 0\n",
	  .want = "1: max_sessions_per_ip: '0' is out of range 1..1000000" },
	{ .text = "plaintext_auth = never\n",
	  .want = "1: plaintext_auth: 'never' is not one of: tls, "
		  "tls-or-loopback, always" },
	{ .text = "queue_retry =\n",
	  .want = "1: queue_retry: at least one item is needed" },
	{ .text = "queue_retry = 5m 0\n",
	  .want = "1: queue_retry: '0' is out of range 1s..30d" },
	{ .text = "queue_retry = 5m 1y\n",
	  .want = "1: queue_retry: '1y' is not a duration (number with s, "
		  "m, h or d)" },
	{ .text = "queue_lifetime = 0\n",
	  .want = "1: queue_lifetime: '0' is out of range 1s..365d" },
	{ .text = "delay_warning = soon\n",
	  .want = "1: delay_warning: 'soon' is not a duration (number with s, "
		  "m, h or d)" },
	{ .text = "relay_tls = maybe\n",
	  .want = "1: relay_tls: 'maybe' is not one of: opportunistic, "
		  "require, off" },
	{ .text = "smarthost = relay.example.org\nsmarthost_auth = nocolon\n",
	  .want = "2: smarthost_auth: expected USER:PASSWORD" },
	{ .text = "smarthost = relay.example.org\n"
		  "smarthost_auth = :secret\n",
	  .want = "2: smarthost_auth: expected USER:PASSWORD" },
	{ .text = "smarthost_auth = u:secret\n",
	  .want = "1: smarthost_auth: set without smarthost" },
	{ .text = "run_as = a b\n",
	  .want = "1: run_as: 'a b' must not contain spaces" },
	/* All errors of a file are collected, in line order. */
	{ .text = "hostname = ok.example\n"
		  "bogus = 1\n"
		  "max_recipients = 0\n"
		  "no equals sign\n"
		  "relay_tls = off\n"
		  "relay_tls = off\n"
		  "smtp_listen = 1.2.3.4\n",
	  .want = "2: unknown key 'bogus'\n"
		  "3: max_recipients: '0' is out of range 1..10000\n"
		  "4: expected 'key = value'\n"
		  "6: relay_tls: duplicate key (first set on line 5)\n"
		  "7: smtp_listen: '1.2.3.4': expected ADDR:PORT" },
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0];
	     i++) {
		const struct error_case *c = &error_cases[i];
		char *path = NULL, *errors = NULL, *want;
		struct config *cfg = load_text(c->text, &path, &errors);

		if (cfg != NULL)
			fail_msg("case %zu loaded: %s", i, c->text);
		assert_non_null(errors);
		want = expected_errors(path, c->want);
		if (strcmp(errors, want) != 0)
			fail_msg("case %zu:\n got: %s\nwant: %s", i, errors,
				 want);
		/* The secret must never show up in a message. */
		assert_null(strstr(errors, "secret"));
		free(want);
		free(errors);
		(void)unlink(path);
		free(path);
	}
}

static void test_missing_file(void **state)
{
	struct config *cfg = (struct config *)&cfg;
	char *errors = NULL;

	(void)state;
	assert_int_equal(cfg_load("/nonexistent/konvert.conf", &cfg, &errors),
			 -1);
	assert_null(cfg);
	assert_string_equal(errors, "/nonexistent/konvert.conf:0: cannot "
				    "open: No such file or directory");
	free(errors);
	/* errors_out may be NULL. */
	assert_int_equal(cfg_load("/nonexistent/konvert.conf", &cfg, NULL), -1);
}

/* ---- listen values ---- */

struct listen_case {
	const char *value;
	size_t count;
	const char *text[3];
	int family[3];
	unsigned port[3];
};

static const struct listen_case listen_cases[] = {
	{ .value = "", .count = 0 },
	{ .value = "   ", .count = 0 },
	{ .value = "127.0.0.1:2526", .count = 1, .text = { "127.0.0.1:2526" },
	  .family = { AF_INET }, .port = { 2526 } },
	{ .value = "[::1]:2525", .count = 1, .text = { "[::1]:2525" },
	  .family = { AF_INET6 }, .port = { 2525 } },
	{ .value = "[::]:1 0.0.0.0:65535", .count = 2,
	  .text = { "[::]:1", "0.0.0.0:65535" },
	  .family = { AF_INET6, AF_INET }, .port = { 1, 65535 } },
	{ .value = "[0:0::FFFF:7f00:1]:0025 \t 10.0.0.1:00080  [fe80::AB]:9",
	  .count = 3,
	  .text = { "[::ffff:127.0.0.1]:25", "10.0.0.1:80", "[fe80::ab]:9" },
	  .family = { AF_INET6, AF_INET, AF_INET6 }, .port = { 25, 80, 9 } },
};

static void test_listen(void **state)
{
	char line[256];

	(void)state;
	for (size_t i = 0; i < sizeof listen_cases / sizeof listen_cases[0];
	     i++) {
		const struct listen_case *c = &listen_cases[i];
		struct config *cfg;
		const struct cfg_listen_list *l;

		snprintf(line, sizeof line, "submission_listen = %s\n",
			 c->value);
		cfg = load_ok(line);
		l = &cfg->submission_listen;
		assert_int_equal(l->count, c->count);
		if (c->count == 0)
			assert_null(l->items);
		for (size_t j = 0; j < c->count; j++) {
			const struct cfg_listen *li = &l->items[j];

			assert_string_equal(li->text, c->text[j]);
			assert_int_equal(li->addr.ss_family, c->family[j]);
			if (c->family[j] == AF_INET) {
				const struct sockaddr_in *sin =
					(const struct sockaddr_in *)&li->addr;

				assert_int_equal(li->addr_len, sizeof *sin);
				assert_int_equal(ntohs(sin->sin_port),
						 c->port[j]);
			} else {
				const struct sockaddr_in6 *sin6 =
					(const struct sockaddr_in6 *)&li->addr;

				assert_int_equal(li->addr_len, sizeof *sin6);
				assert_int_equal(ntohs(sin6->sin6_port),
						 c->port[j]);
			}
		}
		cfg_free(&cfg);
	}
}

/* ---- CIDR matching ---- */

struct cidr_case {
	const char *networks; /* NULL: the default relay_networks */
	const char *addr;
	bool match;
};

static const struct cidr_case cidr_cases[] = {
	{ .networks = NULL, .addr = "127.0.0.1", .match = true },
	{ .networks = NULL, .addr = "127.255.255.254", .match = true },
	{ .networks = NULL, .addr = "128.0.0.1", .match = false },
	{ .networks = NULL, .addr = "126.255.255.255", .match = false },
	{ .networks = NULL, .addr = "::1", .match = true },
	{ .networks = NULL, .addr = "::2", .match = false },
	{ .networks = NULL, .addr = "::ffff:127.0.0.1", .match = true },
	{ .networks = NULL, .addr = "::ffff:10.0.0.1", .match = false },
	/* ::7f00:1 (IPv4-compatible, not mapped) is no IPv4 address. */
	{ .networks = NULL, .addr = "::127.0.0.1", .match = false },
	{ .networks = "10.1.2.3/8", .addr = "10.200.0.1", .match = true },
	{ .networks = "10.1.2.3/8", .addr = "::ffff:10.9.9.9", .match = true },
	{ .networks = "10.1.2.3/8", .addr = "11.0.0.0", .match = false },
	{ .networks = "192.168.1.0/25", .addr = "192.168.1.127", .match = true },
	{ .networks = "192.168.1.0/25", .addr = "192.168.1.128",
	  .match = false },
	{ .networks = "192.0.2.7", .addr = "192.0.2.7", .match = true },
	{ .networks = "192.0.2.7", .addr = "192.0.2.6", .match = false },
	{ .networks = "0.0.0.0/0", .addr = "203.0.113.9", .match = true },
	{ .networks = "0.0.0.0/0", .addr = "::ffff:203.0.113.9",
	  .match = true },
	{ .networks = "0.0.0.0/0", .addr = "2001:db8::1", .match = false },
	{ .networks = "::/0", .addr = "2001:db8::1", .match = true },
	{ .networks = "::/0", .addr = "192.0.2.1", .match = false },
	{ .networks = "2001:db8::/32", .addr = "2001:db8:ffff::1",
	  .match = true },
	{ .networks = "2001:db8::/32", .addr = "2001:db9::1", .match = false },
	{ .networks = "fe80::1/10", .addr = "febf::1", .match = true },
	{ .networks = "fe80::1/10", .addr = "fec0::1", .match = false },
	{ .networks = "::ffff:0:0/96", .addr = "::ffff:1.2.3.4",
	  .match = true },
	{ .networks = "10.0.0.0/8 2001:db8::1", .addr = "2001:db8::1",
	  .match = true },
	{ .networks = "", .addr = "127.0.0.1", .match = false },
	{ .networks = "", .addr = "::1", .match = false },
};

static void test_cidr_match(void **state)
{
	char line[256];

	(void)state;
	for (size_t i = 0; i < sizeof cidr_cases / sizeof cidr_cases[0]; i++) {
		const struct cidr_case *c = &cidr_cases[i];
		struct sockaddr_storage ss;
		struct config *cfg;

		if (c->networks != NULL)
			snprintf(line, sizeof line, "relay_networks = %s\n",
				 c->networks);
		else
			snprintf(line, sizeof line, "# defaults\n");
		cfg = load_ok(line);
		set_sockaddr(c->addr, &ss);
		if (cfg_in_relay_networks(cfg, (struct sockaddr *)&ss) !=
		    c->match)
			fail_msg("case %zu: %s in '%s' should be %d", i,
				 c->addr, c->networks ? c->networks : "",
				 c->match);
		assert_int_equal(cfg_cidr_match(cfg->relay_networks,
						 cfg->relay_network_count,
						 (struct sockaddr *)&ss),
				 c->match);
		cfg_free(&cfg);
	}
}

static void test_cidr_odd_sockaddr(void **state)
{
	struct config *cfg = load_ok("relay_networks = 0.0.0.0/0 ::/0\n");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	(void)state;
	assert_false(cfg_in_relay_networks(cfg, NULL));
	assert_false(cfg_in_relay_networks(cfg, (struct sockaddr *)&sun));
	cfg_free(&cfg);
}

/* ---- cfg_default_path ---- */

static void test_default_path(void **state)
{
	char dir_tmpl[] = "/tmp/konvert_cfg_dir_XXXXXX";
	char *dir = mkdtemp(dir_tmpl), *old_cwd = getcwd(NULL, 0);
	char *old_env = getenv("KONVERT_CONF");
	char *saved_env = old_env != NULL ? xstrdup(old_env) : NULL;
	FILE *f;

	(void)state;
	assert_non_null(dir);
	assert_non_null(old_cwd);
	assert_int_equal(chdir(dir), 0);

	assert_int_equal(unsetenv("KONVERT_CONF"), 0);
	assert_null(cfg_default_path(NULL));
	assert_string_equal(cfg_default_path("/x.conf"), "/x.conf");

	assert_int_equal(setenv("KONVERT_CONF", "", 1), 0);
	assert_null(cfg_default_path(NULL));

	assert_int_equal(setenv("KONVERT_CONF", "/etc/k.conf", 1), 0);
	assert_string_equal(cfg_default_path(NULL), "/etc/k.conf");
	assert_string_equal(cfg_default_path("/x.conf"), "/x.conf");

	f = fopen("konvert.conf", "w");
	assert_non_null(f);
	assert_int_equal(fclose(f), 0);
	/* The environment wins over ./konvert.conf. */
	assert_string_equal(cfg_default_path(NULL), "/etc/k.conf");
	assert_int_equal(unsetenv("KONVERT_CONF"), 0);
	assert_string_equal(cfg_default_path(NULL), "konvert.conf");
	assert_string_equal(cfg_default_path("other.conf"), "other.conf");

	assert_int_equal(unlink("konvert.conf"), 0);
	assert_int_equal(chdir(old_cwd), 0);
	assert_int_equal(rmdir(dir), 0);
	if (saved_env != NULL)
		assert_int_equal(setenv("KONVERT_CONF", saved_env, 1), 0);
	free(saved_env);
	free(old_cwd);
}

/* ---- lookups and freeing ---- */

struct domain_case {
	const char *domain;
	size_t len;
	bool local;
};

static const struct domain_case domain_cases[] = {
	{ .domain = "example.org", .len = 11, .local = true },
	{ .domain = "EXAMPLE.Org", .len = 11, .local = true },
	{ .domain = "example.orgX", .len = 11, .local = true },
	{ .domain = "mail.example.net>", .len = 16, .local = true },
	{ .domain = "example.or", .len = 10, .local = false },
	{ .domain = "example.org.", .len = 12, .local = false },
	{ .domain = "xample.org", .len = 10, .local = false },
	{ .domain = "", .len = 0, .local = false },
};

static void test_local_domain(void **state)
{
	struct config *cfg = load_ok("domains = Example.org mail.example.NET\n");

	(void)state;
	for (size_t i = 0; i < sizeof domain_cases / sizeof domain_cases[0];
	     i++) {
		const struct domain_case *c = &domain_cases[i];

		if (cfg_is_local_domain(cfg, c->domain, c->len) != c->local)
			fail_msg("case %zu: '%.*s'", i, (int)c->len, c->domain);
	}
	cfg_free(&cfg);
}

static void test_free_null(void **state)
{
	struct config *cfg = NULL;

	(void)state;
	cfg_free(NULL);
	cfg_free(&cfg);
	assert_null(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_dump_defaults),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_dump_round_trip),
		cmocka_unit_test(test_comments_whitespace),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_cidr_match),
		cmocka_unit_test(test_cidr_odd_sockaddr),
		cmocka_unit_test(test_default_path),
		cmocka_unit_test(test_local_domain),
		cmocka_unit_test(test_free_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
