/* tls_client: builds the outbound TLS context (protocol floor, options,
 * trust store) and the per-connection SSL objects with SNI and the chosen
 * verification. It knows no socket and no protocol: mta_conn wraps the
 * SSL in a bufferevent. It must not run per connection beyond
 * tls_client_new_ssl: loading the trust store reads files. */
#include "net/tls_client.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

/* RFC 1035 2.3.4, presentation form without the trailing dot. */
#define TLS_CLIENT_NAME_MAX 253

static void tls_client_fail(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Formats the message and the first (root-cause) OpenSSL error, then
 * clears the queue so that a later failure does not report a stale one. */
static void tls_client_fail(char *err, size_t err_size, const char *fmt, ...)
{
	char msg[512];
	char reason[256] = "";
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	unsigned long e = ERR_get_error();
	if (e != 0)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	if (err != NULL && err_size > 0)
		(void)snprintf(err, err_size, "%s%s%s", msg, reason[0] ? ": " : "", reason);
}

SSL_CTX *tls_client_ctx_new(const char *ca_file, char *err, size_t err_size)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		tls_client_fail(err, err_size, "cannot create the client TLS context");
		return NULL;
	}
	/* RFC 8996: no SSLv3, TLS 1.0 or 1.1. The TLS 1.2 cipher list stays
	 * OpenSSL's default: for opportunistic TLS any cipher a peer shares
	 * beats the clear text it would otherwise get (RFC 7435 3). */
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		tls_client_fail(err, err_size, "cannot set the client TLS protocol floor");
		SSL_CTX_free(ctx);
		return NULL;
	}
	(void)SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	/* libevent may retry a write from a moved evbuffer chain; idle
	 * connections kept for reuse give back their record buffers. */
	(void)SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
					    SSL_MODE_RELEASE_BUFFERS);
	/* DANE (RFC 7672) is enabled per SSL, with its records; the context
	 * only needs the digest table. */
	if (SSL_CTX_dane_enable(ctx) <= 0) {
		tls_client_fail(err, err_size, "cannot enable DANE in the client TLS context");
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* Verification is chosen per SSL (tls_client_new_ssl). */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (ca_file != NULL && ca_file[0] != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			tls_client_fail(err, err_size, "%s: cannot load CA certificates", ca_file);
			SSL_CTX_free(ctx);
			return NULL;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		tls_client_fail(err, err_size, "cannot load the system trust store");
		SSL_CTX_free(ctx);
		return NULL;
	}
	ERR_clear_error();
	return ctx;
}

bool tls_client_name_is_ip(const char *name)
{
	if (name == NULL)
		return false;
	char buf[INET6_ADDRSTRLEN + 2];
	size_t len = strlen(name);
	if (len >= 2 && name[0] == '[' && name[len - 1] == ']') {
		name++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, name, len);
	buf[len] = '\0';
	/* "IPv6:" prefix of RFC 5321 4.1.3 address literals. */
	const char *a = buf;
	if (strncmp(a, "IPv6:", 5) == 0)
		a += 5;
	unsigned char bin[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, a, bin) == 1 || inet_pton(AF_INET6, a, bin) == 1;
}

SSL *tls_client_new_ssl(SSL_CTX *ctx, const char *peer_name, enum tls_client_verify verify,
			char *err, size_t err_size)
{
	char name[TLS_CLIENT_NAME_MAX + 2] = "";
	bool is_name = false;
	if (peer_name != NULL && peer_name[0] != '\0' && !tls_client_name_is_ip(peer_name)) {
		size_t len = strlen(peer_name);
		if (peer_name[len - 1] == '.')
			len--; /* RFC 6066 3: no trailing dot in SNI */
		if (len == 0 || len > TLS_CLIENT_NAME_MAX) {
			tls_client_fail(err, err_size, "TLS peer name is not a valid host name");
			return NULL;
		}
		memcpy(name, peer_name, len);
		name[len] = '\0';
		is_name = true;
	}
	SSL *ssl = SSL_new(ctx);
	if (ssl == NULL) {
		tls_client_fail(err, err_size, "cannot create a TLS connection");
		return NULL;
	}
	SSL_set_connect_state(ssl);
	if (is_name && SSL_set_tlsext_host_name(ssl, name) != 1) {
		tls_client_fail(err, err_size, "cannot set TLS SNI");
		SSL_free(ssl);
		return NULL;
	}
	switch (verify) {
	case TLS_CLIENT_VERIFY_NONE:
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
		break;
	case TLS_CLIENT_VERIFY_HOSTNAME:
	case TLS_CLIENT_VERIFY_HOSTNAME_REPORT: {
		int ok;
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (is_name) {
			ok = SSL_set1_host(ssl, name);
		} else if (peer_name != NULL && tls_client_name_is_ip(peer_name)) {
			X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
			char ip[INET6_ADDRSTRLEN + 8];
			size_t len = strlen(peer_name);
			const char *p = peer_name;
			if (p[0] == '[') {
				p++;
				len -= 2;
			}
			if (strncmp(p, "IPv6:", 5) == 0) {
				p += 5;
				len -= 5;
			}
			(void)snprintf(ip, sizeof(ip), "%.*s", (int)len, p);
			ok = X509_VERIFY_PARAM_set1_ip_asc(vp, ip);
		} else {
			ok = 0;
		}
		if (ok != 1) {
			tls_client_fail(err, err_size,
					"TLS verification needs a peer name to check the certificate against");
			SSL_free(ssl);
			return NULL;
		}
		SSL_set_verify(ssl, verify == TLS_CLIENT_VERIFY_HOSTNAME ? SSL_VERIFY_PEER
									 : SSL_VERIFY_NONE,
			       NULL);
		break;
	}
	default:
		tls_client_fail(err, err_size, "unknown TLS verification mode");
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

SSL *tls_client_new_ssl_dane(SSL_CTX *ctx, const char *peer_name,
			     const struct tls_client_tlsa *recs, size_t n, bool *unusable, char *err,
			     size_t err_size)
{
	*unusable = false;
	if (peer_name == NULL || peer_name[0] == '\0' || tls_client_name_is_ip(peer_name)) {
		tls_client_fail(err, err_size, "DANE needs the MX host name");
		return NULL;
	}
	SSL *ssl = tls_client_new_ssl(ctx, peer_name, TLS_CLIENT_VERIFY_NONE, err, err_size);
	if (ssl == NULL)
		return NULL;
	char name[TLS_CLIENT_NAME_MAX + 2];
	(void)snprintf(name, sizeof(name), "%s", peer_name);
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		name[len - 1] = '\0';
	/* The reference identifier for DANE-TA(2) is the MX host name; no
	 * partial wildcards (RFC 7672 3.2.3 follows RFC 6125). */
	if (SSL_dane_enable(ssl, name) <= 0) {
		tls_client_fail(err, err_size, "cannot enable DANE for %s", name);
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	/* RFC 7672 3.1.1: DANE-EE(3) binds the key, not a name. */
	(void)SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	int usable = 0;
	for (size_t i = 0; i < n; i++) {
		const struct tls_client_tlsa *t = &recs[i];
		if (t->usage != 2 && t->usage != 3)
			continue; /* RFC 7672 3.1.3: PKIX-TA/PKIX-EE are unusable */
		int rc = SSL_dane_tlsa_add(ssl, t->usage, t->selector, t->mtype, t->data, t->len);
		if (rc > 0)
			usable++;
		/* rc 0: unusable (unknown selector, matching type...) and
		 * ignored; rc < 0: malformed data (a digest of the wrong
		 * length), ignored the same way (RFC 7672 2.2). */
	}
	ERR_clear_error();
	if (usable == 0) {
		*unusable = true;
		tls_client_fail(err, err_size, "no usable TLSA record for %s", name);
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	return ssl;
}

const char *tls_client_verify_name(enum tls_client_verify verify)
{
	switch (verify) {
	case TLS_CLIENT_VERIFY_NONE: return "none";
	case TLS_CLIENT_VERIFY_HOSTNAME: return "hostname";
	case TLS_CLIENT_VERIFY_DANE: return "dane";
	case TLS_CLIENT_VERIFY_HOSTNAME_REPORT: return "hostname-report";
	}
	return "?";
}
