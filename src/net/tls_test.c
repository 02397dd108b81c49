/* tls_test: unit tests for the server TLS context. Generation runs in a
 * fresh temporary data_dir per test and is checked field by field (modes,
 * CN/SAN, extensions, key match), reuse by fingerprint, concurrent starts
 * with fork. Handshakes run fully in memory over BIO pairs between a client
 * SSL made here and tls_server_new_ssl(), so no socket or event loop is
 * involved. */
#include "net/tls.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define HOST "mail.example.org"

struct fixture {
	char dir[64]; /* temporary data_dir */
	char err[512];
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/konvert-tls-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
	free(f);
	ERR_clear_error();
	return 0;
}

static void path_of(char *out, size_t size, const struct fixture *f, const char *rel)
{
	int n = snprintf(out, size, "%s/%s", f->dir, rel);
	assert_true(n > 0 && (size_t)n < size);
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static X509 *read_cert(const char *path)
{
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(x);
	return x;
}

static EVP_PKEY *read_key(const char *path)
{
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	EVP_PKEY *k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(k);
	return k;
}

static void fingerprint(const X509 *x, unsigned char out[32])
{
	unsigned int len = 0;
	assert_int_equal(X509_digest(x, EVP_sha256(), out, &len), 1);
	assert_int_equal(len, 32);
}

static void server_fingerprint(struct tls_server *t, unsigned char out[32])
{
	X509 *x = SSL_CTX_get0_certificate(tls_server_ctx(t));
	assert_non_null(x);
	fingerprint(x, out);
}

static void file_fingerprint(const char *path, unsigned char out[32])
{
	X509 *x = read_cert(path);
	fingerprint(x, out);
	X509_free(x);
}

/* ---- test-side certificate factory (explicit tls_cert/tls_key) ---- */

static EVP_PKEY *gen_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	assert_non_null(k);
	return k;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* A certificate for key, named cn, signed by issuer/issuer_key (or
 * self-signed when issuer is NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
		       bool is_ca)
{
	static long serial = 1;
	X509 *x = X509_new();
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	X509_NAME *name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
						    (const unsigned char *)cn, -1, -1, 0),
			 1);
	X509 *iss = issuer != NULL ? issuer : x;
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(iss)), 1);
	add_ext(x, iss, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "CA:FALSE");
	if (!is_ca) {
		char san[128];
		(void)snprintf(san, sizeof(san), "DNS:%s", cn);
		add_ext(x, iss, NID_subject_alt_name, san);
	}
	assert_true(X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()) > 0);
	return x;
}

static void write_key(const char *path, EVP_PKEY *k)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL), 1);
	assert_int_equal(fclose(fp), 0);
	/* tls_server_new refuses a private key others can read. */
	assert_int_equal(chmod(path, 0600), 0);
}

static void write_certs(const char *path, X509 *const *certs, size_t n)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(PEM_write_X509(fp, certs[i]), 1);
	assert_int_equal(fclose(fp), 0);
}

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* ---- in-memory handshake ---- */

struct hs_result {
	bool ok;
	bool client_failed;
	bool server_failed;
	int server_reason; /* ERR_GET_REASON of the server's first error */
};

/* Runs both sides over a BIO pair until both finish or one fails. Takes
 * nothing: c and s stay owned by the caller. */
static struct hs_result handshake(SSL *c, SSL *s)
{
	struct hs_result r = { 0 };
	BIO *cb = NULL, *sb = NULL;
	assert_int_equal(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	SSL_set_connect_state(c);
	bool c_done = false, s_done = false;
	ERR_clear_error();
	for (int i = 0; i < 100 && !(c_done && s_done); i++) {
		if (!c_done && !r.client_failed) {
			int rc = SSL_do_handshake(c);
			int e = SSL_get_error(c, rc);
			if (rc == 1)
				c_done = true;
			else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				r.client_failed = true;
			ERR_clear_error();
		}
		if (!s_done && !r.server_failed) {
			int rc = SSL_do_handshake(s);
			int e = SSL_get_error(s, rc);
			if (rc == 1) {
				s_done = true;
			} else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
				r.server_failed = true;
				r.server_reason = ERR_GET_REASON(ERR_peek_error());
			}
			ERR_clear_error();
		}
		if (r.client_failed && r.server_failed)
			break;
	}
	r.ok = c_done && s_done;
	return r;
}

/* A client context that trusts exactly trust (the server's self-signed
 * certificate) and checks the host name, with versions min..max. */
static SSL_CTX *client_ctx(X509 *trust, int min, int max)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_set_min_proto_version(ctx, min), 1);
	assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max), 1);
	if (trust != NULL) {
		assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), trust), 1);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	return ctx;
}

static SSL *client_ssl(SSL_CTX *ctx, const char *host)
{
	SSL *c = SSL_new(ctx);
	assert_non_null(c);
	assert_int_equal(SSL_set_tlsext_host_name(c, host), 1);
	assert_int_equal(SSL_set1_host(c, host), 1);
	return c;
}

static void exchange(SSL *c, SSL *s)
{
	char buf[16];
	assert_int_equal(SSL_write(c, "ping", 4), 4);
	assert_int_equal(SSL_read(s, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(SSL_write(s, "pong", 4), 4);
	assert_int_equal(SSL_read(c, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "pong", 4);
}

static struct tls_server *generated(struct fixture *f, const char *host)
{
	struct tls_server *t = tls_server_new(NULL, NULL, f->dir, host, f->err, sizeof(f->err));
	if (t == NULL)
		fail_msg("tls_server_new: %s", f->err);
	return t;
}

/* ---- generation ---- */

static void test_generate(void **state)
{
	struct fixture *f = *state;
	/* A restrictive umask must not change the documented modes. */
	mode_t old = umask(077);
	struct tls_server *t = generated(f, HOST);
	(void)umask(old);
	assert_string_equal(f->err, "");

	char tdir[256], cert[256], key[256];
	path_of(tdir, sizeof(tdir), f, "tls");
	path_of(cert, sizeof(cert), f, "tls/cert.pem");
	path_of(key, sizeof(key), f, "tls/key.pem");
	assert_int_equal(mode_of(tdir), 0700);
	assert_int_equal(mode_of(key), 0600);
	assert_int_equal(mode_of(cert), 0644);

	/* Only the pair, no temporary files left behind. */
	DIR *d = opendir(tdir);
	assert_non_null(d);
	int entries = 0;
	for (struct dirent *de; (de = readdir(d)) != NULL;)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			entries++;
	closedir(d);
	assert_int_equal(entries, 2);

	X509 *x = read_cert(cert);
	EVP_PKEY *k = read_key(key);
	assert_int_equal(EVP_PKEY_get_base_id(k), EVP_PKEY_EC);
	assert_int_equal(EVP_PKEY_get_bits(k), 256);
	assert_int_equal(X509_check_private_key(x, k), 1);
	assert_int_equal(X509_verify(x, k), 1); /* self-signed with that key */
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
	assert_int_equal(X509_get_version(x), X509_VERSION_3);

	char cn[128];
	assert_int_equal(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
						   sizeof(cn)),
			 (int)strlen(HOST));
	assert_string_equal(cn, HOST);
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);

	GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	assert_non_null(sans);
	assert_int_equal(sk_GENERAL_NAME_num(sans), 1);
	int type = -1;
	ASN1_IA5STRING *dns = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(sans, 0), &type);
	assert_int_equal(type, GEN_DNS);
	assert_int_equal(ASN1_STRING_length(dns), (int)strlen(HOST));
	assert_memory_equal(ASN1_STRING_get0_data(dns), HOST, strlen(HOST));
	GENERAL_NAMES_free(sans);
	assert_int_equal(X509_check_host(x, HOST, 0, 0, NULL), 1);

	assert_int_equal(X509_check_ca(x), 0);
	assert_true(X509_get_extension_flags(x) & EXFLAG_BCONS);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER);

	/* 128-bit random serial, positive. */
	BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	assert_non_null(serial);
	assert_false(BN_is_negative(serial));
	assert_true(BN_num_bits(serial) > 64 && BN_num_bits(serial) <= 128);
	BN_free(serial);

	/* now-1h .. now+825d */
	int days = 0, secs = 0;
	assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notBefore(x)), 1);
	assert_true(days == 0 && secs <= -3590 && secs >= -3700);
	assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)), 1);
	assert_true(days == 825 || (days == 824 && secs > 86300));

	unsigned char a[32], b[32];
	fingerprint(x, a);
	server_fingerprint(t, b);
	assert_memory_equal(a, b, 32);

	X509_free(x);
	EVP_PKEY_free(k);
	tls_server_unref(&t);
	assert_null(t);
}

static void test_reuse(void **state)
{
	struct fixture *f = *state;
	struct tls_server *t1 = generated(f, HOST);
	/* A different hostname later must not regenerate an existing pair. */
	struct tls_server *t2 = generated(f, "other.example.org");
	unsigned char a[32], b[32], c[32];
	server_fingerprint(t1, a);
	server_fingerprint(t2, b);
	char cert[256];
	path_of(cert, sizeof(cert), f, "tls/cert.pem");
	file_fingerprint(cert, c);
	assert_memory_equal(a, b, 32);
	assert_memory_equal(a, c, 32);
	assert_ptr_not_equal(tls_server_ctx(t1), tls_server_ctx(t2));
	tls_server_unref(&t1);
	tls_server_unref(&t2);
}

/* A crash between the two renames leaves key.pem alone: regenerate. */
static void test_incomplete_pair_regenerates(void **state)
{
	struct fixture *f = *state;
	struct tls_server *t1 = generated(f, HOST);
	unsigned char a[32], b[32];
	server_fingerprint(t1, a);
	tls_server_unref(&t1);
	char cert[256], key[256];
	path_of(cert, sizeof(cert), f, "tls/cert.pem");
	path_of(key, sizeof(key), f, "tls/key.pem");
	assert_int_equal(unlink(cert), 0);
	struct tls_server *t2 = generated(f, HOST);
	server_fingerprint(t2, b);
	assert_memory_not_equal(a, b, 32);
	assert_int_equal(mode_of(key), 0600);
	tls_server_unref(&t2);
}

/* Several starts at once on an empty data_dir all end with one pair. */
static void test_concurrent_starts(void **state)
{
	struct fixture *f = *state;
	enum { N = 4 };
	int fds[N];
	pid_t pids[N];
	for (int i = 0; i < N; i++) {
		int p[2];
		assert_int_equal(pipe(p), 0);
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			close(p[0]);
			char err[512];
			struct tls_server *t =
				tls_server_new(NULL, NULL, f->dir, HOST, err, sizeof(err));
			unsigned char fp[32] = { 0 };
			bool ok = t != NULL;
			if (t != NULL) {
				X509 *x = SSL_CTX_get0_certificate(tls_server_ctx(t));
				unsigned int len = 0;
				(void)X509_digest(x, EVP_sha256(), fp, &len);
				tls_server_unref(&t);
			}
			ssize_t n = write(p[1], fp, sizeof(fp));
			_exit(ok && n == (ssize_t)sizeof(fp) ? 0 : 1);
		}
		close(p[1]);
		fds[i] = p[0];
	}
	unsigned char fp[N][32];
	for (int i = 0; i < N; i++) {
		assert_int_equal(read(fds[i], fp[i], 32), 32);
		close(fds[i]);
		int status = 0;
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	static const unsigned char zero[32];
	char cert[256];
	path_of(cert, sizeof(cert), f, "tls/cert.pem");
	unsigned char file_fp[32];
	file_fingerprint(cert, file_fp);
	for (int i = 0; i < N; i++) {
		assert_memory_not_equal(fp[i], zero, 32);
		assert_memory_equal(fp[i], file_fp, 32);
	}
}

static void test_long_hostname(void **state)
{
	struct fixture *f = *state;
	const char *host = "a-very-long-label-that-keeps-going-and-going-and-going."
			   "mail.example.org"; /* over 64 characters */
	assert_true(strlen(host) > 64);
	struct tls_server *t = generated(f, host);
	X509 *x = SSL_CTX_get0_certificate(tls_server_ctx(t));
	assert_int_equal(X509_check_host(x, host, 0, 0, NULL), 1);
	assert_int_equal(X509_NAME_get_index_by_NID(X509_get_subject_name(x), NID_commonName, -1),
			 -1);
	tls_server_unref(&t);
}

static void test_bad_hostname(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = { "", "two words", "a,DNS:evil.example", "\xc3\xa9t\xc3\xa9" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f->err[0] = '\0';
		struct tls_server *t =
			tls_server_new(NULL, NULL, f->dir, bad[i], f->err, sizeof(f->err));
		assert_null(t);
		assert_non_null(strstr(f->err, "hostname"));
	}
	char cert[256];
	path_of(cert, sizeof(cert), f, "tls/cert.pem");
	assert_false(exists(cert));
	assert_null(tls_server_new(NULL, NULL, f->dir, NULL, f->err, sizeof(f->err)));
}

/* ---- explicit tls_cert / tls_key ---- */

static void test_explicit_chain(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *ca_key = gen_key(), *leaf_key = gen_key();
	X509 *ca = make_cert(ca_key, "Test CA", NULL, NULL, true);
	X509 *leaf = make_cert(leaf_key, HOST, ca, ca_key, false);
	char cert[256], key[256], tdir[256];
	path_of(cert, sizeof(cert), f, "chain.pem");
	path_of(key, sizeof(key), f, "leaf.key");
	path_of(tdir, sizeof(tdir), f, "tls");
	X509 *chain[] = { leaf, ca };
	write_certs(cert, chain, 2);
	write_key(key, leaf_key);

	struct tls_server *t = tls_server_new(cert, key, f->dir, HOST, f->err, sizeof(f->err));
	if (t == NULL)
		fail_msg("tls_server_new: %s", f->err);
	assert_false(exists(tdir)); /* nothing generated */

	unsigned char a[32], b[32];
	fingerprint(leaf, a);
	server_fingerprint(t, b);
	assert_memory_equal(a, b, 32);
	STACK_OF(X509) *extra = NULL;
	assert_int_equal(SSL_CTX_get0_chain_certs(tls_server_ctx(t), &extra), 1);
	assert_int_equal(sk_X509_num(extra), 1);
	assert_int_equal(X509_cmp(sk_X509_value(extra, 0), ca), 0);

	/* A client trusting only the CA verifies the chain we send. */
	SSL_CTX *cctx = client_ctx(ca, TLS1_2_VERSION, TLS1_3_VERSION);
	SSL *c = client_ssl(cctx, HOST);
	SSL *s = tls_server_new_ssl(t);
	struct hs_result r = handshake(c, s);
	assert_true(r.ok);
	assert_int_equal(SSL_get_verify_result(c), X509_V_OK);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);

	tls_server_unref(&t);
	X509_free(ca);
	X509_free(leaf);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(leaf_key);
}

static void test_mismatched_key(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *k1 = gen_key(), *k2 = gen_key();
	X509 *x = make_cert(k1, HOST, NULL, NULL, false);
	char cert[256], key[256];
	path_of(cert, sizeof(cert), f, "c.pem");
	path_of(key, sizeof(key), f, "other.key");
	write_certs(cert, &x, 1);
	write_key(key, k2);
	struct tls_server *t = tls_server_new(cert, key, NULL, NULL, f->err, sizeof(f->err));
	assert_null(t);
	assert_non_null(strstr(f->err, key));
	assert_non_null(strstr(f->err, "match"));
	assert_int_equal(ERR_peek_error(), 0); /* queue left clean */

	/* A key of another type lands in another OpenSSL slot; still named
	 * as a mismatch. */
	EVP_PKEY *rsa = EVP_RSA_gen(2048);
	assert_non_null(rsa);
	write_key(key, rsa);
	assert_null(tls_server_new(cert, key, NULL, NULL, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, key));
	assert_non_null(strstr(f->err, "does not match"));

	EVP_PKEY_free(rsa);
	X509_free(x);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

/* An RSA certificate gets the ECDHE-RSA suites of the TLS 1.2 list. */
static void test_rsa_pair(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *k = EVP_RSA_gen(2048);
	assert_non_null(k);
	X509 *x = make_cert(k, HOST, NULL, NULL, false);
	char cert[256], key[256];
	path_of(cert, sizeof(cert), f, "rsa.pem");
	path_of(key, sizeof(key), f, "rsa.key");
	write_certs(cert, &x, 1);
	write_key(key, k);
	struct tls_server *t = tls_server_new(cert, key, NULL, NULL, f->err, sizeof(f->err));
	if (t == NULL)
		fail_msg("tls_server_new: %s", f->err);
	SSL_CTX *cctx = client_ctx(x, TLS1_2_VERSION, TLS1_2_VERSION);
	SSL *c = client_ssl(cctx, HOST);
	SSL *s = tls_server_new_ssl(t);
	assert_true(handshake(c, s).ok);
	assert_int_equal(SSL_get_verify_result(c), X509_V_OK);
	assert_string_equal(tls_cipher_name(s), "ECDHE-RSA-AES128-GCM-SHA256");
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	tls_server_unref(&t);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void test_missing_and_bad_files(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *k = gen_key();
	X509 *x = make_cert(k, HOST, NULL, NULL, false);
	char cert[256], key[256], nope[256], junk[256];
	path_of(cert, sizeof(cert), f, "c.pem");
	path_of(key, sizeof(key), f, "k.pem");
	path_of(nope, sizeof(nope), f, "does-not-exist.pem");
	path_of(junk, sizeof(junk), f, "junk.pem");
	write_certs(cert, &x, 1);
	write_key(key, k);
	write_text(junk, "this is not PEM\n");

	struct {
		const char *cert, *key, *want;
	} cases[] = {
		{ nope, key, nope },
		{ cert, nope, nope },
		{ junk, key, junk },
		{ cert, junk, junk },
		{ key, key, key }, /* a key where the chain belongs */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f->err[0] = '\0';
		struct tls_server *t =
			tls_server_new(cases[i].cert, cases[i].key, f->dir, HOST, f->err,
				       sizeof(f->err));
		assert_null(t);
		if (strstr(f->err, cases[i].want) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, f->err, cases[i].want);
	}
	/* Sanity: the same pair loads. */
	struct tls_server *t = tls_server_new(cert, key, NULL, NULL, f->err, sizeof(f->err));
	assert_non_null(t);
	tls_server_unref(&t);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void test_half_configured(void **state)
{
	struct fixture *f = *state;
	assert_null(tls_server_new("/x/cert.pem", NULL, f->dir, HOST, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, "together"));
	assert_null(tls_server_new("", "/x/key.pem", f->dir, HOST, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, "together"));
	assert_null(tls_server_new(NULL, NULL, NULL, HOST, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, "data_dir"));
	/* err may be absent. */
	assert_null(tls_server_new("/x/cert.pem", NULL, NULL, HOST, NULL, 0));
	/* A data_dir that does not exist is reported by name. */
	char missing[256];
	path_of(missing, sizeof(missing), f, "no/such");
	assert_null(tls_server_new(NULL, NULL, missing, HOST, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, missing));
}

/* ---- context policy and handshakes ---- */

static void test_ctx_policy(void **state)
{
	struct fixture *f = *state;
	struct tls_server *t = generated(f, HOST);
	SSL_CTX *ctx = tls_server_ctx(t);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	uint64_t want = SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
			SSL_OP_NO_RENEGOTIATION;
	assert_int_equal(SSL_CTX_get_options(ctx) & want, want);
	assert_int_equal(SSL_CTX_get_options(ctx) & SSL_OP_NO_TICKET, 0);
	assert_true(SSL_CTX_get_mode(ctx) & SSL_MODE_RELEASE_BUFFERS);
	/* Every TLS 1.2 suite offered is ECDHE + AEAD. */
	STACK_OF(SSL_CIPHER) *ciphers = SSL_CTX_get_ciphers(ctx);
	int n12 = 0;
	for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(ciphers, i);
		if (SSL_CIPHER_get_kx_nid(c) == NID_kx_any) /* TLS 1.3 */
			continue;
		n12++;
		assert_true(SSL_CIPHER_is_aead(c));
		assert_int_equal(SSL_CIPHER_get_kx_nid(c), NID_kx_ecdhe);
	}
	assert_int_equal(n12, 6);
	tls_server_unref(&t);
}

static void test_handshake_tls13(void **state)
{
	struct fixture *f = *state;
	struct tls_server *t = generated(f, HOST);
	X509 *trust = SSL_CTX_get0_certificate(tls_server_ctx(t));
	SSL_CTX *cctx = client_ctx(trust, TLS1_3_VERSION, TLS1_3_VERSION);
	SSL *c = client_ssl(cctx, HOST);
	SSL *s = tls_server_new_ssl(t);
	assert_non_null(s);
	assert_true(SSL_is_server(s));

	char desc[TLS_DESCRIBE_SIZE];
	tls_describe(s, desc, sizeof(desc));
	assert_non_null(strstr(desc, "cipher=none bits=0"));
	assert_null(tls_sni_name(s));

	struct hs_result r = handshake(c, s);
	assert_true(r.ok);
	/* The generated certificate verifies for its hostname. */
	assert_int_equal(SSL_get_verify_result(c), X509_V_OK);
	assert_string_equal(tls_version_name(s), "TLSv1.3");
	assert_string_equal(tls_cipher_name(s), SSL_CIPHER_get_name(SSL_get_current_cipher(c)));
	assert_true(strncmp(tls_cipher_name(s), "TLS_", 4) == 0);
	assert_true(tls_cipher_bits(s) == 128 || tls_cipher_bits(s) == 256);
	char want[TLS_DESCRIBE_SIZE];
	(void)snprintf(want, sizeof(want), "version=TLSv1.3 cipher=%s bits=%d",
		       tls_cipher_name(s), tls_cipher_bits(s));
	tls_describe(s, desc, sizeof(desc));
	assert_string_equal(desc, want);
	assert_non_null(tls_sni_name(s));
	assert_string_equal(tls_sni_name(s), HOST);
	exchange(c, s);

	/* Truncation keeps a terminated prefix. */
	char small[12];
	tls_describe(s, small, sizeof(small));
	assert_string_equal(small, "version=TLS");
	tls_describe(s, small, 0);

	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	tls_server_unref(&t);
}

static void test_handshake_tls12(void **state)
{
	struct fixture *f = *state;
	struct tls_server *t = generated(f, HOST);
	X509 *trust = SSL_CTX_get0_certificate(tls_server_ctx(t));
	SSL_CTX *cctx = client_ctx(trust, TLS1_2_VERSION, TLS1_2_VERSION);
	/* The client prefers AES-256; server preference picks AES-128. */
	assert_int_equal(SSL_CTX_set_cipher_list(cctx, "ECDHE-ECDSA-AES256-GCM-SHA384:"
						       "ECDHE-ECDSA-AES128-GCM-SHA256"),
			 1);
	SSL *c = client_ssl(cctx, HOST);
	SSL *s = tls_server_new_ssl(t);
	struct hs_result r = handshake(c, s);
	assert_true(r.ok);
	assert_int_equal(SSL_get_verify_result(c), X509_V_OK);
	assert_string_equal(tls_version_name(s), "TLSv1.2");
	assert_string_equal(tls_cipher_name(s), "ECDHE-ECDSA-AES128-GCM-SHA256");
	assert_int_equal(tls_cipher_bits(s), 128);
	char desc[TLS_DESCRIBE_SIZE];
	tls_describe(s, desc, sizeof(desc));
	assert_string_equal(desc, "version=TLSv1.2 cipher=ECDHE-ECDSA-AES128-GCM-SHA256 bits=128");
	assert_string_equal(tls_sni_name(s), HOST);
	exchange(c, s);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	tls_server_unref(&t);
}

/* Renegotiation requested by a TLS 1.2 client is refused. */
static void test_no_renegotiation(void **state)
{
	struct fixture *f = *state;
	struct tls_server *t = generated(f, HOST);
	SSL_CTX *cctx = client_ctx(NULL, TLS1_2_VERSION, TLS1_2_VERSION);
	SSL *c = client_ssl(cctx, HOST);
	SSL *s = tls_server_new_ssl(t);
	assert_true(handshake(c, s).ok);
	assert_int_equal(SSL_renegotiate(c), 1);
	char buf[8];
	/* Client sends a ClientHello; the server answers with a
	 * no_renegotiation alert and the client's renegotiation fails. */
	(void)SSL_do_handshake(c);
	(void)SSL_read(s, buf, sizeof(buf));
	ERR_clear_error();
	int rc = SSL_do_handshake(c);
	assert_int_not_equal(rc, 1);
	assert_int_equal(ERR_GET_REASON(ERR_peek_error()), SSL_R_NO_RENEGOTIATION);
	ERR_clear_error();
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	tls_server_unref(&t);
}

static void test_tls12_cbc_refused(void **state)
{
	struct fixture *f = *state;
	struct tls_server *t = generated(f, HOST);
	SSL_CTX *cctx = client_ctx(NULL, TLS1_2_VERSION, TLS1_2_VERSION);
	assert_int_equal(SSL_CTX_set_cipher_list(cctx, "ECDHE-ECDSA-AES128-SHA256:"
						       "ECDHE-ECDSA-AES128-SHA"),
			 1);
	SSL *c = client_ssl(cctx, HOST);
	SSL *s = tls_server_new_ssl(t);
	struct hs_result r = handshake(c, s);
	assert_false(r.ok);
	assert_true(r.server_failed);
	assert_int_equal(r.server_reason, SSL_R_NO_SHARED_CIPHER);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	tls_server_unref(&t);
}

static void test_tls11_refused(void **state)
{
	struct fixture *f = *state;
	struct tls_server *t = generated(f, HOST);
	SSL_CTX *cctx = client_ctx(NULL, TLS1_1_VERSION, TLS1_1_VERSION);
	/* Let the client really offer TLS 1.1 (OpenSSL 3 refuses it at the
	 * default security level), so the refusal is the server's. */
	SSL_CTX_set_security_level(cctx, 0);
	assert_int_equal(SSL_CTX_set_cipher_list(cctx, "ALL:@SECLEVEL=0"), 1);
	SSL *c = client_ssl(cctx, HOST);
	SSL *s = tls_server_new_ssl(t);
	struct hs_result r = handshake(c, s);
	assert_false(r.ok);
	assert_true(r.server_failed);
	assert_int_equal(r.server_reason, SSL_R_UNSUPPORTED_PROTOCOL);
	assert_true(r.client_failed);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	tls_server_unref(&t);
}

/* Reload: a session's SSL keeps working after its tls_server is dropped,
 * and a held reference keeps the context for a later STARTTLS. */
static void test_refcount_and_reload(void **state)
{
	struct fixture *f = *state;
	struct tls_server *old = generated(f, HOST);
	struct tls_server *held = old;
	tls_server_ref(held);
	SSL *s = tls_server_new_ssl(old);
	tls_server_unref(&old); /* SIGHUP: the listener lets go */
	assert_null(old);
	tls_server_unref(&old); /* NULL is fine */
	struct tls_server *fresh = generated(f, HOST);

	SSL_CTX *cctx = client_ctx(NULL, TLS1_2_VERSION, TLS1_3_VERSION);
	SSL *c = client_ssl(cctx, HOST);
	assert_true(handshake(c, s).ok);
	exchange(c, s);
	SSL_free(c);
	SSL_free(s);

	SSL *s2 = tls_server_new_ssl(held);
	assert_ptr_equal(SSL_get_SSL_CTX(s2), tls_server_ctx(held));
	assert_ptr_not_equal(tls_server_ctx(held), tls_server_ctx(fresh));
	c = client_ssl(cctx, HOST);
	assert_true(handshake(c, s2).ok);
	SSL_free(c);
	SSL_free(s2);

	tls_server_unref(&held);
	tls_server_unref(&fresh);
	SSL_CTX_free(cctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_generate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incomplete_pair_regenerates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_starts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_hostname, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_hostname, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explicit_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mismatched_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rsa_pair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_and_bad_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_configured, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctx_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handshake_tls13, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handshake_tls12, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_renegotiation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls12_cbc_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls11_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refcount_and_reload, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
