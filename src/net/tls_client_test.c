/* tls_client_test: the client context and per-connection SSL setup: which
 * peer names are IP literals (no SNI), SNI set from a name (trailing dot
 * removed), hostname verification refused without a name, a missing CA
 * file reported. Handshakes themselves run in mta/mta_conn_test.c. */
#include "net/tls_client.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/err.h>

static const struct {
	const char *name;
	bool ip;
} ip_cases[] = {
	{"mx.example.org", false},
	{"192.0.2.1", true},
	{"[192.0.2.1]", true},
	{"2001:db8::1", true},
	{"[IPv6:2001:db8::1]", true},
	{"192.0.2.1.example", false},
	{"", false},
	{"[]", false},
	{"[", false},
	{"999.0.0.1", false},
};

static void test_name_is_ip(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ip_cases) / sizeof(ip_cases[0]); i++) {
		if (tls_client_name_is_ip(ip_cases[i].name) != ip_cases[i].ip)
			fail_msg("case %zu (%s)", i, ip_cases[i].name);
	}
	assert_false(tls_client_name_is_ip(NULL));
}

static void test_new_ssl(void **state)
{
	(void)state;
	char err[256] = "";
	SSL_CTX *ctx = tls_client_ctx_new(NULL, err, sizeof(err));
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);

	SSL *ssl = tls_client_new_ssl(ctx, "mx.example.org.", TLS_CLIENT_VERIFY_NONE, err,
				      sizeof(err));
	assert_non_null(ssl);
	assert_string_equal(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name), "mx.example.org");
	assert_int_equal(SSL_get_verify_mode(ssl), SSL_VERIFY_NONE);
	SSL_free(ssl);

	/* An address literal gets no SNI (RFC 6066 3). */
	ssl = tls_client_new_ssl(ctx, "[192.0.2.1]", TLS_CLIENT_VERIFY_NONE, err, sizeof(err));
	assert_non_null(ssl);
	assert_null(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
	SSL_free(ssl);

	ssl = tls_client_new_ssl(ctx, "mx.example.org", TLS_CLIENT_VERIFY_HOSTNAME, err,
				 sizeof(err));
	assert_non_null(ssl);
	assert_int_equal(SSL_get_verify_mode(ssl), SSL_VERIFY_PEER);
	SSL_free(ssl);

	/* Nothing to check the certificate against. */
	err[0] = '\0';
	assert_null(tls_client_new_ssl(ctx, NULL, TLS_CLIENT_VERIFY_HOSTNAME, err, sizeof(err)));
	assert_non_null(strstr(err, "peer name"));
	SSL_CTX_free(ctx);
}

static void test_missing_ca_file(void **state)
{
	(void)state;
	char err[256] = "";
	assert_null(tls_client_ctx_new("/nonexistent/ca.pem", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/ca.pem: cannot load CA certificates"));
	assert_int_equal(ERR_peek_error(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_is_ip),
		cmocka_unit_test(test_new_ssl),
		cmocka_unit_test(test_missing_ca_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
