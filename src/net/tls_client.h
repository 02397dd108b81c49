/* tls_client: the client side of TLS for outbound SMTP (mta/mta_conn):
 * one SSL_CTX for all outbound connections, and one SSL per connection
 * with its own verification mode.
 *
 * The context allows TLS 1.2 and 1.3 only (RFC 8996), no compression, no
 * renegotiation, and trusts either the system store or one CA file. It
 * verifies nothing by itself: each SSL says how much it checks.
 *   TLS_CLIENT_VERIFY_NONE      opportunistic TLS (RFC 7435, RFC 3207 4.1
 *                               as practised): the peer's certificate is
 *                               not checked; encryption against passive
 *                               eavesdroppers only. What relay_tls =
 *                               opportunistic and require use.
 *   TLS_CLIENT_VERIFY_HOSTNAME  the chain must verify against the trust
 *                               store and the certificate must match
 *                               peer_name (SSL_set1_host: SAN dNSName,
 *                               no partial wildcards). For a smarthost
 *                               configured by name.
 *   TLS_CLIENT_VERIFY_DANE      RFC 7672: the certificate must match one of
 *                               the TLSA records the router looked up
 *                               (tls_client_new_ssl_dane): DANE-EE(3)
 *                               matches the server's own key or
 *                               certificate, names and dates unchecked
 *                               (RFC 7672 3.1.1); DANE-TA(2) a trust
 *                               anchor in the chain, with the MX host
 *                               name checked (3.1.2). PKIX-TA(0) and
 *                               PKIX-EE(1) records are unusable for SMTP
 *                               (3.1.3) and skipped.
 * MTA-STS (RFC 8461) is TLS_CLIENT_VERIFY_HOSTNAME with the policy's MX
 * name check done by the router.
 *
 * Lifetime: tls_client_ctx_new returns an owned SSL_CTX (SSL_CTX_free).
 * SSL objects hold their own reference on it (OpenSSL refcount), so the
 * context may be replaced on reload while connections run. Building the
 * context reads the CA file: call it at start and on reload, never per
 * connection. */
#ifndef KONVERT_NET_TLS_CLIENT_H
#define KONVERT_NET_TLS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

enum tls_client_verify {
	TLS_CLIENT_VERIFY_NONE = 0, /* opportunistic: encrypt, check nothing */
	TLS_CLIENT_VERIFY_HOSTNAME, /* chain + certificate name = peer_name */
	TLS_CLIENT_VERIFY_DANE, /* TLSA records (tls_client_new_ssl_dane) */
	/* Like HOSTNAME, but the handshake goes on whatever the result: the
	 * caller reads SSL_get_verify_result afterwards (MTA-STS testing
	 * mode, RFC 8461 5: report, deliver anyway). */
	TLS_CLIENT_VERIFY_HOSTNAME_REPORT,
};

/* One TLSA record (RFC 6698 2.1), borrowed. */
struct tls_client_tlsa {
	unsigned char usage, selector, mtype;
	const unsigned char *data;
	size_t len;
};

/* "none", "hostname", "dane" */
const char *tls_client_verify_name(enum tls_client_verify verify);

/* Builds the client context. ca_file: a PEM bundle to trust instead of
 * the system store (NULL or "": the system store, OpenSSL's default
 * paths). On failure returns NULL and writes a one-line reason naming the
 * file and the OpenSSL error into err (may be NULL when err_size is 0). */
SSL_CTX *tls_client_ctx_new(const char *ca_file, char *err, size_t err_size);

/* A new SSL in client (connect) mode for one connection, owned by the
 * caller (SSL_free, or hand it to bufferevent_openssl with
 * BEV_OPT_CLOSE_ON_FREE). peer_name (borrowed, copied by OpenSSL) is sent
 * as SNI (RFC 6066 3) when it is a host name, not for an IP address
 * literal; one trailing dot is removed. With TLS_CLIENT_VERIFY_HOSTNAME
 * the handshake fails unless the certificate verifies and matches
 * peer_name (which must then be a host name or an IP literal). Returns
 * NULL with a reason in err on failure. */
SSL *tls_client_new_ssl(SSL_CTX *ctx, const char *peer_name, enum tls_client_verify verify,
			char *err, size_t err_size);

/* A new client SSL that only completes the handshake when the server's
 * certificate matches one of the n TLSA records (see the DANE mode
 * above); peer_name is the MX host name (SNI and, for DANE-TA, the name
 * checked). Records OpenSSL finds unusable (unknown usage or matching
 * type, a digest of the wrong length) are skipped; when none is usable
 * the result is NULL with "no usable TLSA record" in err, and *unusable
 * is set so the caller can fall back to unauthenticated but mandatory
 * TLS (RFC 7672 2.2). The context must come from tls_client_ctx_new. */
SSL *tls_client_new_ssl_dane(SSL_CTX *ctx, const char *peer_name,
			     const struct tls_client_tlsa *recs, size_t n, bool *unusable, char *err,
			     size_t err_size);

/* True when name is an IPv4 or IPv6 address literal (optionally in
 * brackets, as in "[192.0.2.1]"), which SNI must not carry. */
bool tls_client_name_is_ip(const char *name);

#endif
