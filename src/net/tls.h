/* tls: the one server-side TLS context every protocol uses (SMTP STARTTLS,
 * smtps, POP3 STLS, pop3s).
 *
 * A tls_server owns one SSL_CTX configured for TLS 1.2 and 1.3 only, ECDHE
 * with AEAD ciphers for TLS 1.2, server cipher preference, no compression
 * and no renegotiation. It is built at start and again on SIGHUP; the new
 * one replaces the old one for new connections.
 *
 * Lifetime: tls_server_new() returns an object with one reference, owned by
 * the caller. tls_server_ref() adds one, tls_server_unref() drops one and
 * frees the object with the last. An SSL made by tls_server_new_ssl() holds
 * its own reference on the SSL_CTX (OpenSSL refcounts it), so it stays
 * usable after the tls_server is released; a session that wants to start
 * TLS later (STARTTLS) takes a tls_server_ref() at accept time so that it
 * uses the context it started with across reloads. The reference count is
 * atomic; everything else is meant for the event loop thread.
 *
 * Files: with cert_path and key_path NULL (or ""), the pair lives in
 * data_dir/tls/cert.pem and key.pem; when either is missing a self-signed
 * EC P-256 pair for hostname is generated there (directory 0700, key 0600,
 * cert 0644, each written to a temporary file, fsynced and renamed, under
 * an flock on the directory so that two starts never see half a pair).
 * Later starts reuse the pair. This does disk I/O and fsync: call it at
 * start and on reload, never per connection. */
#ifndef KONVERT_NET_TLS_H
#define KONVERT_NET_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

struct tls_server;

/* Enough room for any tls_describe() output. */
#define TLS_DESCRIBE_SIZE 128

/* Builds a server context. cert_path is a PEM chain (leaf first, then the
 * intermediates); key_path the PEM private key matching the leaf. Both NULL
 * (or empty) selects the generated pair under data_dir (see above); giving
 * only one is an error. hostname is used only when a pair is generated
 * (subject CN and subjectAltName DNS). On failure returns NULL and writes a
 * one-line message naming the file and the OpenSSL reason into err (may be
 * NULL when err_size is 0). Logs event=tls_generate / event=tls_load. */
struct tls_server *tls_server_new(const char *cert_path, const char *key_path,
				  const char *data_dir, const char *hostname, char *err,
				  size_t err_size);

/* The context; borrowed, valid while the caller holds a reference. */
SSL_CTX *tls_server_ctx(struct tls_server *t);

void tls_server_ref(struct tls_server *t);
/* Drops one reference, frees with the last; sets *pp = NULL; accepts
 * *pp == NULL. */
void tls_server_unref(struct tls_server **pp);

/* A new SSL in server (accept) mode for one connection, owned by the caller
 * (SSL_free, or hand it to bufferevent_openssl with BEV_OPT_CLOSE_ON_FREE).
 * Returns NULL only when OpenSSL runs out of memory. */
SSL *tls_server_new_ssl(struct tls_server *t);

/* After the handshake: protocol name ("TLSv1.3"), cipher name
 * ("TLS_AES_256_GCM_SHA384"; "none" before the handshake) and secret bits
 * (0 before the handshake). Returned strings are static. */
const char *tls_version_name(const SSL *ssl);
const char *tls_cipher_name(const SSL *ssl);
int tls_cipher_bits(const SSL *ssl);

/* Writes "version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256" into out
 * (always NUL-terminated when out_size > 0; TLS_DESCRIBE_SIZE always fits).
 * Only library-made names, safe for logs and Received: headers. */
void tls_describe(const SSL *ssl, char *out, size_t out_size);

/* The SNI host name the client sent, or NULL. Client-supplied text: escape
 * it (log_escape) before logging. Valid while ssl lives. */
const char *tls_sni_name(const SSL *ssl);

#endif
