/* tls: owns the server SSL_CTX (protocol floor, cipher policy, options),
 * loading the configured certificate chain and key, and generating the
 * self-signed pair in data_dir/tls/ when none is configured. It knows no
 * protocol and no socket: conn.c wraps the SSL objects it hands out in
 * bufferevents. It must not run per connection: loading and generation do
 * blocking file I/O and fsync, which is acceptable at start and on SIGHUP
 * only. */
#include "net/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "core/log.h"
#include "core/safefile.h"

/* TLS 1.2 only: forward secrecy (ECDHE) and AEAD, as in Mozilla's
 * "intermediate" profile. TLS 1.3 suites are OpenSSL's defaults, all AEAD. */
#define TLS_CIPHERS_12                                                          \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"            \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"            \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* CA/Browser Forum limit for server certificates at the time it applied. */
#define TLS_GEN_DAYS 825L
/* Clock skew allowance for clients slightly behind. */
#define TLS_GEN_BACKDATE_S 3600L
/* ub-common-name (RFC 5280 appendix A). */
#define TLS_CN_MAX 64
/* RFC 1035 2.3.4, presentation form without the trailing dot. */
#define TLS_HOSTNAME_MAX 253

struct tls_server {
	SSL_CTX *ctx; /* owned (one OpenSSL reference) */
	atomic_int refs;
};

static void tls_fail(char *err, size_t err_size, bool with_ssl, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Formats the message and, with with_ssl, the first (root-cause) OpenSSL
 * error of the queue; clears the queue either way so that a later failure
 * does not report a stale reason. */
static void tls_fail(char *err, size_t err_size, bool with_ssl, const char *fmt, ...)
{
	char msg[768];
	char reason[256] = "";
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (with_ssl) {
		unsigned long e = ERR_get_error();
		if (e != 0)
			ERR_error_string_n(e, reason, sizeof(reason));
	}
	ERR_clear_error();
	if (err != NULL && err_size > 0)
		(void)snprintf(err, err_size, "%s%s%s", msg, reason[0] ? ": " : "", reason);
}

static bool is_set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* ---- the context ---- */

/* SNI (RFC 6066 3). OpenSSL records the name in the SSL (and its session,
 * for resumption); tls_sni_name() reads it back. Every name is accepted:
 * an MTA sends whatever MX name it looked up, and refusing would only push
 * it back to plaintext. Per-name certificates plug in here: look the name
 * up in a table built by tls_server_new() and switch with
 * SSL_set_SSL_CTX(ssl, ctx_for_name). The callback takes no argument on
 * purpose: an SSL may outlive the tls_server that created it. */
static int tls_servername_cb(SSL *ssl, int *alert, void *arg)
{
	(void)ssl;
	(void)alert;
	(void)arg;
	return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *tls_ctx_new(char *err, size_t err_size)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		tls_fail(err, err_size, true, "cannot create TLS context");
		return NULL;
	}
	/* SSLv3, TLS 1.0 and 1.1 are deprecated (RFC 8996). */
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1) {
		tls_fail(err, err_size, true, "cannot set TLS protocol or cipher policy");
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* Server preference, except that a client which puts ChaCha20 first
	 * (no AES hardware) gets it. No compression (CRIME). No
	 * renegotiation: it only serves attacks on a mail server (CPU DoS,
	 * CVE-2009-3555 style prefix injection). */
	(void)SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
					       SSL_OP_PRIORITIZE_CHACHA |
					       SSL_OP_NO_COMPRESSION |
					       SSL_OP_NO_RENEGOTIATION);
	/* Idle sessions (POP3 clients sit for minutes) give back their 34 KB
	 * of read/write buffers. libevent may retry a write from a moved
	 * evbuffer chain. */
	(void)SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
					    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Session tickets stay on (OpenSSL default); their keys are per
	 * context, so a reload only costs returning clients a full handshake.
	 * The id context lets the server-side cache work should client
	 * certificates ever be requested. */
	static const unsigned char sid_ctx[] = "konvert";
	if (SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1) != 1) {
		tls_fail(err, err_size, true, "cannot set TLS session id context");
		SSL_CTX_free(ctx);
		return NULL;
	}
	(void)SSL_CTX_set_tlsext_servername_callback(ctx, tls_servername_cb);
	return ctx;
}

static void tls_fingerprint(X509 *x, char *out, size_t out_size)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	KASSERT(out_size > 0);
	out[0] = '\0';
	if (x == NULL || X509_digest(x, EVP_sha256(), md, &md_len) != 1)
		return;
	for (unsigned int i = 0; i < md_len && 2 * (size_t)i + 2 < out_size; i++)
		(void)snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static bool is_key_mismatch(unsigned long e)
{
	return ERR_GET_LIB(e) == ERR_LIB_X509 &&
	       (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ||
		ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH);
}

/* Returns 0, -1 with err set, or -2 when OpenSSL refused the key (the
 * caller tells a mismatch from other reasons).
 * Reads the private key as root may: never through a link planted in
 * data_dir (generated is true for data_dir/tls/key.pem), never a file that
 * others could change or read. A configured tls_key may be a link (certbot's
 * live/ directory is made of them); the file it reaches is checked. */
static int tls_use_key(SSL_CTX *ctx, const char *key_path, bool generated, char *err,
		       size_t err_size)
{
	struct stat st;
	unsigned flags = generated ? SAFEFILE_NOFOLLOW | SAFEFILE_ONE_LINK : 0;
	int fd = safefile_open(AT_FDCWD, key_path, key_path, flags, &st, err, err_size);
	if (fd < 0)
		return -1;
	if (safefile_check_mode(&st, key_path, SAFEFILE_NO_FOREIGN_WRITE | SAFEFILE_NO_OTHER_READ,
				err, err_size) != 0) {
		(void)close(fd);
		return -1;
	}
	BIO *bio = BIO_new_fd(fd, BIO_CLOSE);
	if (bio == NULL) {
		(void)close(fd);
		tls_fail(err, err_size, true, "cannot read private key %s", key_path);
		return -1;
	}
	EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (key == NULL) {
		tls_fail(err, err_size, true, "cannot load private key %s", key_path);
		return -1;
	}
	int ok = SSL_CTX_use_PrivateKey(ctx, key);
	EVP_PKEY_free(key);
	return ok == 1 ? 0 : -2;
}

static int tls_ctx_load(SSL_CTX *ctx, const char *cert_path, const char *key_path,
			bool generated, char *err, size_t err_size)
{
	/* Leaf first, then intermediates (RFC 8446 4.4.2 order). */
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
		tls_fail(err, err_size, true, "cannot load certificate chain %s", cert_path);
		return -1;
	}
	/* OpenSSL keeps one cert/key slot per key type: a key of another
	 * type than the leaf lands in an empty slot and the later check only
	 * says "no certificate assigned". Compare against the leaf directly. */
	X509 *leaf = SSL_CTX_get0_certificate(ctx);
	KASSERT(leaf != NULL);
	int krc = tls_use_key(ctx, key_path, generated, err, err_size);
	if (krc == -1)
		return -1;
	if (krc != 0) {
		if (is_key_mismatch(ERR_peek_error()))
			tls_fail(err, err_size, true, "private key %s does not match certificate %s",
				 key_path, cert_path);
		else
			tls_fail(err, err_size, true, "cannot load private key %s", key_path);
		return -1;
	}
	if (X509_check_private_key(leaf, SSL_CTX_get0_privatekey(ctx)) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		tls_fail(err, err_size, true, "private key %s does not match certificate %s",
			 key_path, cert_path);
		return -1;
	}
	char fp[2 * 32 + 1];
	tls_fingerprint(leaf, fp, sizeof(fp));
	log_info(NULL, "event=tls_load cert=%s key=%s sha256=%s", cert_path, key_path, fp);
	return 0;
}

/* ---- self-signed generation ---- */

/* The name goes into an IA5String and a log line: plain DNS characters. */
static bool is_cert_hostname(const char *h)
{
	size_t len = strlen(h);
	if (len == 0 || len > TLS_HOSTNAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)h[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
		if (!ok)
			return false;
	}
	return true;
}

static int tls_add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, v3, nid, value);
	if (ext == NULL)
		return -1;
	int ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

static int tls_add_san(X509 *x, const char *hostname, bool critical)
{
	/* Built directly rather than through "DNS:%s" text, so that nothing
	 * in the name is parsed as extension syntax. */
	int rc = -1;
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gen = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
	if (gens == NULL || gen == NULL || ia5 == NULL ||
	    ASN1_STRING_set(ia5, hostname, (int)strlen(hostname)) != 1)
		goto out;
	GENERAL_NAME_set0_value(gen, GEN_DNS, ia5);
	ia5 = NULL;
	if (sk_GENERAL_NAME_push(gens, gen) <= 0)
		goto out;
	gen = NULL;
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, critical ? 1 : 0,
			      X509V3_ADD_DEFAULT) == 1)
		rc = 0;
out:
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(gen);
	GENERAL_NAMES_free(gens);
	return rc;
}

/* Random positive 128-bit serial (RFC 5280 4.1.2.2: at most 20 octets;
 * CA/B BR: at least 64 random bits). */
static int tls_set_serial(X509 *x)
{
	unsigned char buf[16];
	if (RAND_bytes(buf, sizeof(buf)) != 1)
		return -1;
	buf[sizeof(buf) - 1] |= 1; /* never zero */
	BIGNUM *bn = BN_bin2bn(buf, sizeof(buf), NULL);
	int rc = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL ? 0 : -1;
	BN_free(bn);
	return rc;
}

static X509 *tls_make_cert(EVP_PKEY *key, const char *hostname)
{
	X509 *x = X509_new();
	if (x == NULL)
		return NULL;
	X509_NAME *name = X509_get_subject_name(x);
	/* A name longer than ub-common-name cannot be a CN; the SAN, which is
	 * what clients check (RFC 6125 6.4.4), carries it then. */
	bool has_cn = strlen(hostname) <= TLS_CN_MAX;
	const char *cn_field = has_cn ? "CN" : "O";
	const char *cn_value = has_cn ? hostname : "konvert";
	X509V3_CTX v3;
	bool ok = X509_set_version(x, X509_VERSION_3) == 1 && tls_set_serial(x) == 0 &&
		  X509_gmtime_adj(X509_getm_notBefore(x), -TLS_GEN_BACKDATE_S) != NULL &&
		  X509_gmtime_adj(X509_getm_notAfter(x), TLS_GEN_DAYS * 24 * 3600) != NULL &&
		  X509_set_pubkey(x, key) == 1 &&
		  X509_NAME_add_entry_by_txt(name, cn_field, MBSTRING_UTF8,
					     (const unsigned char *)cn_value, -1, -1, 0) == 1 &&
		  X509_set_issuer_name(x, name) == 1;
	if (ok) {
		X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
		ok = tls_add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
		     tls_add_ext(x, &v3, NID_key_usage, "critical,digitalSignature") == 0 &&
		     tls_add_ext(x, &v3, NID_ext_key_usage, "serverAuth") == 0 &&
		     tls_add_ext(x, &v3, NID_subject_key_identifier, "hash") == 0 &&
		     tls_add_san(x, hostname, false) == 0 &&
		     X509_sign(x, key, EVP_sha256()) > 0;
	}
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* Writes the memory BIO's bytes to dir/name via a temporary file: write,
 * fsync, rename. The caller fsyncs the directory. mode is set with fchmod
 * so the umask cannot widen or narrow it. */
static int tls_write_atomic(int dirfd, const char *dir, const char *name, const char *tmp,
			    mode_t mode, BIO *content, char *err, size_t err_size)
{
	char *data = NULL;
	long len = BIO_get_mem_data(content, &data);
	if (len <= 0 || data == NULL) {
		tls_fail(err, err_size, true, "cannot encode %s/%s", dir, name);
		return -1;
	}
	if (unlinkat(dirfd, tmp, 0) != 0 && errno != ENOENT) {
		tls_fail(err, err_size, false, "cannot remove %s/%s: %s", dir, tmp, strerror(errno));
		return -1;
	}
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		tls_fail(err, err_size, false, "cannot create %s/%s: %s", dir, tmp, strerror(errno));
		return -1;
	}
	const char *what = "fchmod";
	bool ok = fchmod(fd, mode) == 0;
	size_t off = 0;
	while (ok && off < (size_t)len) {
		ssize_t n = write(fd, data + off, (size_t)len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			what = "write";
			ok = false;
			break;
		}
		off += (size_t)n;
	}
	if (ok && fsync(fd) != 0) {
		what = "fsync";
		ok = false;
	}
	int saved = errno;
	if (close(fd) != 0 && ok) {
		what = "close";
		saved = errno;
		ok = false;
	}
	if (ok && renameat(dirfd, tmp, dirfd, name) != 0) {
		what = "rename";
		saved = errno;
		ok = false;
	}
	if (!ok) {
		(void)unlinkat(dirfd, tmp, 0);
		tls_fail(err, err_size, false, "%s %s/%s: %s", what, dir, tmp, strerror(saved));
		return -1;
	}
	return 0;
}

/* Generates a pair into dirfd. Key first, certificate second: a crash in
 * between leaves key.pem without cert.pem, which the next start treats as
 * missing and regenerates. */
static int tls_generate(int dirfd, const char *dir, const char *hostname, char *err,
			size_t err_size)
{
	int rc = -1;
	X509 *x = NULL;
	/* The key's PEM text lives in a secure-heap BIO, wiped on free. */
	BIO *key_pem = BIO_new(BIO_s_secmem());
	BIO *cert_pem = BIO_new(BIO_s_mem());
	EVP_PKEY *key = EVP_EC_gen("P-256");
	if (key == NULL || key_pem == NULL || cert_pem == NULL) {
		tls_fail(err, err_size, true, "cannot generate a P-256 key for %s", dir);
		goto out;
	}
	x = tls_make_cert(key, hostname);
	if (x == NULL) {
		tls_fail(err, err_size, true, "cannot make a certificate for %s", hostname);
		goto out;
	}
	if (PEM_write_bio_PrivateKey(key_pem, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    PEM_write_bio_X509(cert_pem, x) != 1) {
		tls_fail(err, err_size, true, "cannot encode the generated pair for %s", dir);
		goto out;
	}
	if (tls_write_atomic(dirfd, dir, "key.pem", ".key.pem.tmp", 0600, key_pem, err,
			     err_size) != 0 ||
	    tls_write_atomic(dirfd, dir, "cert.pem", ".cert.pem.tmp", 0644, cert_pem, err,
			     err_size) != 0)
		goto out;
	if (fsync(dirfd) != 0) {
		tls_fail(err, err_size, false, "fsync %s: %s", dir, strerror(errno));
		goto out;
	}
	char fp[2 * 32 + 1];
	tls_fingerprint(x, fp, sizeof(fp));
	log_info(NULL, "event=tls_generate dir=%s hostname=%s sha256=%s", dir, hostname, fp);
	rc = 0;
out:
	X509_free(x);
	EVP_PKEY_free(key);
	BIO_free(key_pem);
	BIO_free(cert_pem);
	return rc;
}

/* 1: exists, 0: missing, -1: error (err set). */
static int tls_file_exists(int dirfd, const char *dir, const char *name, char *err,
			   size_t err_size)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, 0) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	tls_fail(err, err_size, false, "cannot stat %s/%s: %s", dir, name, strerror(errno));
	return -1;
}

/* Makes sure dir holds cert.pem and key.pem, generating both when either
 * is missing. The flock on the directory serializes concurrent starts: the
 * second one waits and then finds the complete pair. */
static int tls_ensure_pair(const char *dir, const char *hostname, char *err, size_t err_size)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		tls_fail(err, err_size, false, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	/* data_dir belongs to run_as: a "tls" link planted there must not
	 * make root write a key elsewhere. */
	int dirfd = safefile_open(AT_FDCWD, dir, dir, SAFEFILE_DIR | SAFEFILE_NOFOLLOW, NULL, err,
				  err_size);
	if (dirfd < 0)
		return -1;
	int rc = -1;
	int lk;
	while ((lk = flock(dirfd, LOCK_EX)) != 0 && errno == EINTR)
		;
	if (lk != 0) {
		tls_fail(err, err_size, false, "cannot lock %s: %s", dir, strerror(errno));
		goto out;
	}
	int has_cert = tls_file_exists(dirfd, dir, "cert.pem", err, err_size);
	if (has_cert < 0)
		goto out;
	int has_key = tls_file_exists(dirfd, dir, "key.pem", err, err_size);
	if (has_key < 0)
		goto out;
	if (has_cert && has_key) {
		rc = 0;
		goto out;
	}
	if (!is_cert_hostname(hostname)) {
		tls_fail(err, err_size, false,
			 "hostname '%s' cannot name a generated certificate in %s", hostname, dir);
		goto out;
	}
	rc = tls_generate(dirfd, dir, hostname, err, err_size);
out:
	(void)close(dirfd); /* also releases the lock */
	return rc;
}

/* ---- public API ---- */

struct tls_server *tls_server_new(const char *cert_path, const char *key_path,
				  const char *data_dir, const char *hostname, char *err,
				  size_t err_size)
{
	if (err != NULL && err_size > 0)
		err[0] = '\0';
	/* A stale error left by unrelated code would be reported as ours. */
	ERR_clear_error();
	char gen_dir[4096], gen_cert[4096], gen_key[4096];
	bool generated = !is_set(cert_path);
	if (is_set(cert_path) != is_set(key_path)) {
		tls_fail(err, err_size, false, "tls_cert and tls_key must be set together");
		return NULL;
	}
	if (!is_set(cert_path)) {
		if (!is_set(data_dir)) {
			tls_fail(err, err_size, false, "no certificate configured and no data_dir");
			return NULL;
		}
		int n1 = snprintf(gen_dir, sizeof(gen_dir), "%s/tls", data_dir);
		int n2 = snprintf(gen_cert, sizeof(gen_cert), "%s/tls/cert.pem", data_dir);
		int n3 = snprintf(gen_key, sizeof(gen_key), "%s/tls/key.pem", data_dir);
		if (n1 < 0 || n2 < 0 || n3 < 0 || (size_t)n1 >= sizeof(gen_dir) ||
		    (size_t)n2 >= sizeof(gen_cert) ||
		    (size_t)n3 >= sizeof(gen_key)) {
			tls_fail(err, err_size, false, "data_dir path too long: %s", data_dir);
			return NULL;
		}
		if (tls_ensure_pair(gen_dir, hostname != NULL ? hostname : "", err, err_size) != 0)
			return NULL;
		cert_path = gen_cert;
		key_path = gen_key;
	}
	SSL_CTX *ctx = tls_ctx_new(err, err_size);
	if (ctx == NULL)
		return NULL;
	if (tls_ctx_load(ctx, cert_path, key_path, generated, err, err_size) != 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	struct tls_server *t = xcalloc(1, sizeof(*t));
	t->ctx = ctx;
	atomic_init(&t->refs, 1);
	return t;
}

SSL_CTX *tls_server_ctx(struct tls_server *t)
{
	KASSERT(t != NULL);
	return t->ctx;
}

void tls_server_ref(struct tls_server *t)
{
	KASSERT(t != NULL);
	int old = atomic_fetch_add(&t->refs, 1);
	KASSERT(old > 0);
}

void tls_server_unref(struct tls_server **pp)
{
	struct tls_server *t = *pp;
	if (t == NULL)
		return;
	*pp = NULL;
	int old = atomic_fetch_sub(&t->refs, 1);
	KASSERT(old > 0);
	if (old > 1)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

SSL *tls_server_new_ssl(struct tls_server *t)
{
	KASSERT(t != NULL);
	SSL *ssl = SSL_new(t->ctx);
	if (ssl == NULL) {
		ERR_clear_error();
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

const char *tls_version_name(const SSL *ssl)
{
	return SSL_get_version(ssl);
}

const char *tls_cipher_name(const SSL *ssl)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	return c != NULL ? SSL_CIPHER_get_name(c) : "none";
}

int tls_cipher_bits(const SSL *ssl)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	return c != NULL ? SSL_CIPHER_get_bits(c, NULL) : 0;
}

void tls_describe(const SSL *ssl, char *out, size_t out_size)
{
	if (out_size == 0)
		return;
	(void)snprintf(out, out_size, "version=%s cipher=%s bits=%d", tls_version_name(ssl),
		       tls_cipher_name(ssl), tls_cipher_bits(ssl));
}

const char *tls_sni_name(const SSL *ssl)
{
	return SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
}
