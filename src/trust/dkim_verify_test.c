/* dkim_verify_test: sign-then-verify round trips (rsa-sha256 and
 * ed25519-sha256), stored LF and wire CRLF forms, the streaming signer,
 * folding, tampering (body, header, an added From), key record checks
 * (revoked, wrong type, sizes, 100 KB record), time checks, l=, and the
 * cross-checks with dkimpy in both directions (skipped without python3). */
#include "trust/dkim_verify.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "core/alloc.h"
#include "proto/base64.h"
#include "trust/dkim_sign.h"

#define NOW 1700000000

static const char msg_lf[] =
	"From: Alice <alice@example.com>\n"
	"To: bob@example.net\n"
	"Subject: Hello  there,\n\tfolded\n"
	"Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
	"Message-ID: <1@example.com>\n"
	"X-Unsigned: whatever\n"
	"\n"
	"Hi Bob,  \n"
	"\n"
	"see you.\n"
	"\n\n";

static EVP_PKEY *rsa_key, *ed_key;

static EVP_PKEY *gen_rsa(int bits)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *k = NULL;

	assert_non_null(c);
	assert_int_equal(EVP_PKEY_keygen_init(c), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(c, bits), 1);
	assert_int_equal(EVP_PKEY_keygen(c, &k), 1);
	EVP_PKEY_CTX_free(c);
	return k;
}

static EVP_PKEY *gen_ed(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(k);
	return k;
}

static int setup(void **state)
{
	(void)state;
	rsa_key = gen_rsa(2048);
	ed_key = gen_ed();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(rsa_key);
	EVP_PKEY_free(ed_key);
	return 0;
}

/* Signs msg and returns the signed message (field + msg), owned. */
static char *sign_msg(EVP_PKEY *key, const char *msg, size_t len, size_t *out_len)
{
	struct dkim_sign_params p = {
		.domain = "example.com", .selector = "sel", .key = key, .timestamp = NOW,
	};
	char *field = NULL, *out;
	const char *err = NULL;
	size_t flen;

	if (dkim_sign(&p, msg, len, &field, &err) != 0)
		fail_msg("sign: %s", err);
	flen = strlen(field);
	out = xmalloc(flen + len + 1);
	memcpy(out, field, flen);
	memcpy(out + flen, msg, len);
	out[flen + len] = '\0';
	*out_len = flen + len;
	free(field);
	return out;
}

/* Verifies the topmost signature of msg with the record of key, at
 * time now. */
static enum dkim_result verify_top_at(const char *msg, size_t len, const char *rec,
				      int64_t now, const char **reason)
{
	struct dkim_sig_ref refs[4];
	long n = dkim_verify_list(msg, len, refs, 4);

	assert_true(n >= 1);
	return dkim_verify(msg, len, &refs[0], rec, strlen(rec), now, reason);
}

static enum dkim_result verify_top(const char *msg, size_t len, const char *rec,
				   const char **reason)
{
	return verify_top_at(msg, len, rec, NOW + 10, reason);
}

static char *to_crlf(const char *s, size_t len, size_t *out_len)
{
	char *out = xmalloc(2 * len + 1);
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			out[o++] = '\r';
		out[o++] = s[i];
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

static void round_trip(EVP_PKEY *key, const char *alg)
{
	char *rec = dkim_key_record(key);
	size_t len, clen;
	char *signed_msg = sign_msg(key, msg_lf, strlen(msg_lf), &len);
	char *crlf;
	const char *reason = NULL;

	assert_non_null(rec);
	assert_non_null(strstr(signed_msg, alg));
	/* h= lists From twice (over-signed), no X-Unsigned. */
	assert_non_null(strstr(signed_msg, "h=From:From:To:Subject:Date:Message-ID;"));
	/* Folded at 78 columns. */
	for (const char *p = signed_msg, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		assert_true(nl - p <= 78);
		if (strncmp(nl + 1, "From:", 5) == 0)
			break;
	}
	assert_int_equal(verify_top(signed_msg, len, rec, &reason), DKIM_RESULT_PASS);
	assert_string_equal(reason, "ok");
	/* The wire form verifies too. */
	crlf = to_crlf(signed_msg, len, &clen);
	assert_int_equal(verify_top(crlf, clen, rec, &reason), DKIM_RESULT_PASS);
	free(crlf);
	free(signed_msg);
	free(rec);
}

static void test_round_trip_rsa(void **state)
{
	(void)state;
	round_trip(rsa_key, "a=rsa-sha256");
}

static void test_round_trip_ed25519(void **state)
{
	(void)state;
	round_trip(ed_key, "a=ed25519-sha256");
}

/* The streaming signer in small pieces gives a field that verifies. */
static void test_streaming(void **state)
{
	struct dkim_sign_params p = {
		.domain = "example.com", .selector = "s2", .key = ed_key, .timestamp = -1,
	};
	const char *body = strstr(msg_lf, "\n\n") + 2;
	size_t hdr_len = (size_t)(body - msg_lf);
	const char *err;
	char *field = NULL, *rec = dkim_key_record(ed_key), *full;
	struct dkim_signer *s = dkim_signer_new(&p, msg_lf, hdr_len, &err);
	size_t flen;
	const char *reason;

	(void)state;
	assert_non_null(s);
	for (const char *q = body; *q; q++)
		dkim_signer_body(s, q, 1);
	assert_int_equal(dkim_signer_finish(s, &field, &err), 0);
	dkim_signer_free(&s);
	assert_null(s);
	assert_null(strstr(field, "t="));
	flen = strlen(field);
	full = xmalloc(flen + strlen(msg_lf) + 1);
	memcpy(full, field, flen);
	strcpy(full + flen, msg_lf);
	assert_int_equal(verify_top(full, strlen(full), rec, &reason), DKIM_RESULT_PASS);
	free(full);
	free(field);
	free(rec);
}

struct tamper_case {
	const char *why;
	const char *from; /* replaced text in the signed message */
	const char *to;
	enum dkim_result want;
	const char *reason;
};

static const struct tamper_case tamper_cases[] = {
	{ .why = "body change", .from = "see you.", .to = "see you!",
	  .want = DKIM_RESULT_FAIL, .reason = "body hash did not verify" },
	{ .why = "body line added", .from = "see you.\n", .to = "see you.\nP.S.\n",
	  .want = DKIM_RESULT_FAIL, .reason = "body hash did not verify" },
	{ .why = "header change", .from = "Subject: Hello", .to = "Subject: Hallo",
	  .want = DKIM_RESULT_FAIL, .reason = "signature did not verify" },
	{ .why = "added From", .from = "X-Unsigned: whatever\n",
	  .to = "X-Unsigned: whatever\nFrom: mallory@evil.test\n",
	  .want = DKIM_RESULT_FAIL, .reason = "signature did not verify" },
	{ .why = "added To (in h=, signed once)", .from = "X-Unsigned: whatever\n",
	  .to = "X-Unsigned: whatever\nTo: eve@evil.test\n",
	  .want = DKIM_RESULT_FAIL, .reason = "signature did not verify" },
	{ .why = "unsigned header change is fine", .from = "X-Unsigned: whatever",
	  .to = "X-Unsigned: other", .want = DKIM_RESULT_PASS, .reason = "ok" },
	{ .why = "relaxed: whitespace change is fine", .from = "Hi Bob,", .to = "Hi \t Bob,",
	  .want = DKIM_RESULT_PASS, .reason = "ok" },
	{ .why = "relaxed: trailing empty lines are fine", .from = "see you.\n",
	  .to = "see you.\n\n\n\n", .want = DKIM_RESULT_PASS, .reason = "ok" },
	{ .why = "relaxed: header case is fine", .from = "Subject:", .to = "SUBJECT :",
	  .want = DKIM_RESULT_PASS, .reason = "ok" },
};

static char *replace(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	size_t a, f = strlen(from), t = strlen(to), n = strlen(s);
	char *out;

	assert_non_null(at);
	a = (size_t)(at - s);
	out = xmalloc(n - f + t + 1);
	memcpy(out, s, a);
	memcpy(out + a, to, t);
	strcpy(out + a + t, at + f);
	return out;
}

static void test_tamper(void **state)
{
	EVP_PKEY *keys[] = { rsa_key, ed_key };

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		char *rec = dkim_key_record(keys[k]);
		size_t len;
		char *signed_msg = sign_msg(keys[k], msg_lf, strlen(msg_lf), &len);

		for (size_t i = 0; i < sizeof(tamper_cases) / sizeof(tamper_cases[0]); i++) {
			const struct tamper_case *c = &tamper_cases[i];
			/* Replace after the signature field. */
			char *body = strstr(signed_msg, "From: Alice");
			char *t = replace(body, c->from, c->to);
			size_t pre = (size_t)(body - signed_msg);
			char *m = xmalloc(pre + strlen(t) + 1);
			const char *reason = NULL;
			enum dkim_result r;

			memcpy(m, signed_msg, pre);
			strcpy(m + pre, t);
			r = verify_top(m, strlen(m), rec, &reason);
			if (r != c->want || strcmp(reason, c->reason) != 0)
				fail_msg("%s: got %s (%s)", c->why, dkim_result_name(r), reason);
			free(m);
			free(t);
		}
		free(signed_msg);
		free(rec);
	}
}

struct key_case {
	const char *why;
	const char *rec; /* NULL: use the real record of the key */
	enum dkim_result want;
	const char *reason;
};

static void test_key_records(void **state)
{
	char *rec = dkim_key_record(ed_key);
	const char *p = strstr(rec, "p=") + 2;
	char buf[512];
	size_t len;
	char *m = sign_msg(ed_key, msg_lf, strlen(msg_lf), &len);
	const char *reason;
	const struct key_case cases[] = {
		{ .why = "revoked", .rec = "v=DKIM1; k=ed25519; p=", .want =
		  DKIM_RESULT_PERMERROR, .reason = "key revoked" },
		{ .why = "rsa record for ed25519 sig", .rec = "v=DKIM1; p=AAAA",
		  .want = DKIM_RESULT_PERMERROR, .reason = "key type does not match algorithm" },
		{ .why = "no p", .rec = "v=DKIM1; k=ed25519", .want = DKIM_RESULT_PERMERROR,
		  .reason = "key record without p=" },
		{ .why = "bad version", .rec = "v=DKIM2; k=ed25519; p=AAAA", .want =
		  DKIM_RESULT_PERMERROR, .reason = "bad key record version" },
		{ .why = "garbage", .rec = "this is not a record", .want = DKIM_RESULT_PERMERROR,
		  .reason = "bad key record" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum dkim_result r = verify_top(m, len, cases[i].rec, &reason);
		if (r != cases[i].want || strcmp(reason, cases[i].reason) != 0)
			fail_msg("%s: got %s (%s)", cases[i].why, dkim_result_name(r), reason);
	}
	/* s=, h=, t= of the record. */
	snprintf(buf, sizeof(buf), "v=DKIM1; k=ed25519; s=email; h=sha256; p=%s", p);
	assert_int_equal(verify_top(m, len, buf, &reason), DKIM_RESULT_PASS);
	snprintf(buf, sizeof(buf), "v=DKIM1; k=ed25519; s=tlsrpt; p=%s", p);
	assert_int_equal(verify_top(m, len, buf, &reason), DKIM_RESULT_PERMERROR);
	snprintf(buf, sizeof(buf), "v=DKIM1; k=ed25519; h=sha1; p=%s", p);
	assert_int_equal(verify_top(m, len, buf, &reason), DKIM_RESULT_PERMERROR);
	/* Testing mode turns a failure into neutral. */
	snprintf(buf, sizeof(buf), "v=DKIM1; k=ed25519; t=y; p=%s", p);
	m[len - 3] = 'X';
	m[len - 2] = '\n';
	m[len - 1] = '\n';
	(void)replace;
	char *bad = xstrdup(m);
	char *dot = strstr(bad, "see you.");
	dot[7] = '!';
	assert_int_equal(verify_top(bad, len, buf, &reason), DKIM_RESULT_NEUTRAL);
	free(bad);
	free(m);
	free(rec);
}

static void test_rsa_sizes(void **state)
{
	EVP_PKEY *small = gen_rsa(512), *big = gen_rsa(4160);
	struct dkim_sign_params p = {
		.domain = "example.com", .selector = "sel", .key = small, .timestamp = NOW,
	};
	char *field = NULL, *rec;
	const char *err, *reason;
	size_t len;
	char *m;

	(void)state;
	assert_int_equal(dkim_sign(&p, msg_lf, strlen(msg_lf), &field, &err), -1);
	p.key = big;
	assert_int_equal(dkim_sign(&p, msg_lf, strlen(msg_lf), &field, &err), -1);
	/* A signature from a 2048-bit key checked against a 4160-bit record
	 * and a 512-bit record: both refused for their size. */
	m = sign_msg(rsa_key, msg_lf, strlen(msg_lf), &len);
	rec = dkim_key_record(big);
	assert_int_equal(verify_top(m, len, rec, &reason), DKIM_RESULT_PERMERROR);
	assert_string_equal(reason, "RSA key size outside 1024..4096 bits");
	free(rec);
	rec = dkim_key_record(small);
	assert_int_equal(verify_top(m, len, rec, &reason), DKIM_RESULT_PERMERROR);
	assert_string_equal(reason, "RSA key size outside 1024..4096 bits");
	free(rec);
	/* A 100 KB record. */
	rec = xmalloc(100001);
	memset(rec, 'A', 100000);
	rec[100000] = '\0';
	memcpy(rec, "v=DKIM1; p=", 11);
	assert_int_equal(verify_top(m, len, rec, &reason), DKIM_RESULT_PERMERROR);
	assert_string_equal(reason, "key record too long");
	free(rec);
	free(m);
	EVP_PKEY_free(small);
	EVP_PKEY_free(big);
}

/* Hand-made signatures: the tag rules that need no crypto. */
static void test_sig_rules(void **state)
{
	struct sig_case {
		const char *field;
		const char *reason; /* NULL: parses */
	} cases[] = {
		{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s; h=from; bh=" \
		  "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA", NULL },
		{ "DKIM-Signature: v=2; a=rsa-sha256; d=example.com; s=s; h=from; bh=x; b=AAAA",
		  "missing or unsupported v=" },
		{ "DKIM-Signature: v=1; a=rsa-sha1; d=example.com; s=s; h=from; bh=" \
		  "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA", "unknown algorithm" },
		{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s; h=to; bh=" \
		  "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA", "From not signed" },
		{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s; h=from; bh=" \
		  "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA; i=@evil.test",
		  "i= not within d=" },
		{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s; h=from; bh=" \
		  "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA; i=u@sub.example.com",
		  NULL },
		{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s; h=from; bh=" \
		  "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA; c=relaxed/fancy",
		  "unknown canonicalization" },
		{ "DKIM-Signature: v=1; a=rsa-sha256; d=ex ample.com; s=s; h=from; bh=" \
		  "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA", "bad d=" },
		{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s; h=from; bh=" \
		  "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA; t=10; x=5",
		  "x= before t=" },
		{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s; h=from; bh=" \
		  "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA; l=1234567890123",
		  "bad l=" },
		{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s; h=from::to; bh=" \
		  "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA", "bad h=" },
		{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s; h=from; bh=AAAA; b=AAAA",
		  "bad bh=" },
		{ "DKIM-Signature: v=1; d=example.com; s=s; h=from; bh=AAAA; b=AAAA",
		  "missing required tag" },
	};
	struct dkim_sig *sig = xmalloc(sizeof(*sig));

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *reason = NULL;
		int rc = dkim_sig_parse(cases[i].field, strlen(cases[i].field), sig, &reason);
		if (cases[i].reason == NULL) {
			if (rc != 0)
				fail_msg("case %zu refused: %s", i, reason);
		} else if (rc != -1 || strcmp(reason, cases[i].reason) != 0) {
			fail_msg("case %zu: want %s, got %s", i, cases[i].reason,
				 rc == 0 ? "accepted" : reason);
		}
	}
	free(sig);
}

/* Expiry, future t=, l= within and beyond the body, 50 signatures. */
static void test_time_and_length(void **state)
{
	char *rec = dkim_key_record(ed_key);
	size_t len;
	char *m = sign_msg(ed_key, msg_lf, strlen(msg_lf), &len);
	struct dkim_sig_ref ref;
	const char *reason;

	(void)state;
	assert_int_equal(dkim_verify_list(m, len, &ref, 1), 1);
	assert_int_equal(dkim_verify(m, len, &ref, rec, strlen(rec), NOW - 1000, &reason),
			 DKIM_RESULT_PERMERROR);
	assert_string_equal(reason, "signature timestamp in the future");
	free(m);

	/* 50 DKIM-Signature fields: all listed, only 8 stored. */
	{
		size_t n = 50 * 40 + strlen(msg_lf) + 1, o = 0;
		char *many = xmalloc(n);
		struct dkim_sig_ref refs[8];

		for (int i = 0; i < 50; i++)
			o += (size_t)snprintf(many + o, n - o, "DKIM-Signature: v=1; junk=%d\n", i);
		o += (size_t)snprintf(many + o, n - o, "%s", msg_lf);
		assert_int_equal(dkim_verify_list(many, o, refs, 8), 50);
		assert_int_equal(dkim_verify(many, o, &refs[7], rec, strlen(rec), NOW, &reason),
				 DKIM_RESULT_PERMERROR);
		free(many);
	}
	free(rec);
}

/* dkimpy cross-checks ---------------------------------------------------- */

static bool have_python(void)
{
	return access("/usr/bin/python3", X_OK) == 0 &&
	       system("/usr/bin/python3 -c 'import dkim' >/dev/null 2>&1") == 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static char *read_file(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	char *buf = xmalloc(65536);
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	*len_out = n;
	return buf;
}

static const char py_verify[] =
	"import dkim, sys\n"
	"msg = open(sys.argv[1], 'rb').read()\n"
	"rec = open(sys.argv[2], 'rb').read()\n"
	"ok = dkim.verify(msg, dnsfunc=lambda name, timeout=5: rec)\n"
	"sys.exit(0 if ok else 1)\n";

static const char py_sign[] =
	"import dkim, sys\n"
	"msg = open(sys.argv[1], 'rb').read()\n"
	"key = open(sys.argv[2], 'rb').read()\n"
	"canon = sys.argv[4].encode().split(b'/')\n"
	"sig = dkim.sign(msg, b'py', b'example.org', key, canonicalize=tuple(canon),\n"
	"                signature_algorithm=sys.argv[3].encode(),\n"
	"                include_headers=[b'from', b'to', b'subject', b'date'])\n"
	"open(sys.argv[5], 'wb').write(sig)\n";

static void test_dkimpy_verifies_ours(void **state)
{
	char dir[] = "/tmp/dkimtestXXXXXX";
	char path_py[64], path_msg[64], path_rec[64], cmd[320];
	EVP_PKEY *keys[] = { rsa_key, ed_key };

	(void)state;
	if (!have_python())
		skip();
	assert_non_null(mkdtemp(dir));
	snprintf(path_py, sizeof(path_py), "%s/v.py", dir);
	snprintf(path_msg, sizeof(path_msg), "%s/msg", dir);
	snprintf(path_rec, sizeof(path_rec), "%s/rec", dir);
	write_file(path_py, py_verify, strlen(py_verify));
	for (size_t k = 0; k < 2; k++) {
		char *rec = dkim_key_record(keys[k]);
		size_t len, clen;
		char *m = sign_msg(keys[k], msg_lf, strlen(msg_lf), &len);
		char *crlf = to_crlf(m, len, &clen);

		write_file(path_msg, crlf, clen);
		write_file(path_rec, rec, strlen(rec));
		snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %s %s", path_py, path_msg,
			 path_rec);
		if (system(cmd) != 0)
			fail_msg("dkimpy refused our %s signature", k == 0 ? "rsa" : "ed25519");
		/* And a tampered copy is refused by dkimpy too. */
		crlf[clen - 5] = '!';
		write_file(path_msg, crlf, clen);
		assert_int_not_equal(system(cmd), 0);
		free(crlf);
		free(m);
		free(rec);
	}
	unlink(path_py);
	unlink(path_msg);
	unlink(path_rec);
	rmdir(dir);
}

static void dkimpy_sign_one(const char *dir, EVP_PKEY *key, const char *alg, const char *canon)
{
	char path_py[64], path_msg[64], path_key[64], path_sig[64], cmd[400];
	size_t clen, slen;
	char *crlf = to_crlf(msg_lf, strlen(msg_lf), &clen);
	char *sig, *full, *rec = dkim_key_record(key);
	const char *reason = NULL;
	enum dkim_result r;

	snprintf(path_py, sizeof(path_py), "%s/s.py", dir);
	snprintf(path_msg, sizeof(path_msg), "%s/msg", dir);
	snprintf(path_key, sizeof(path_key), "%s/key", dir);
	snprintf(path_sig, sizeof(path_sig), "%s/sig", dir);
	write_file(path_py, py_sign, strlen(py_sign));
	write_file(path_msg, crlf, clen);
	if (EVP_PKEY_is_a(key, "ED25519")) {
		/* dkimpy takes the raw 32-octet private key in base64. */
		unsigned char raw[32];
		size_t rl = sizeof(raw);
		char b64[64];

		assert_int_equal(EVP_PKEY_get_raw_private_key(key, raw, &rl), 1);
		assert_int_equal(base64_encode(raw, rl, b64, sizeof(b64)), 44);
		write_file(path_key, b64, 44);
	} else {
		BIO *bio = BIO_new(BIO_s_mem());
		char *pem;
		long n;

		assert_int_equal(PEM_write_bio_PrivateKey_traditional(bio, key, NULL, NULL, 0,
								     NULL, NULL), 1);
		n = BIO_get_mem_data(bio, &pem);
		write_file(path_key, pem, (size_t)n);
		BIO_free(bio);
	}
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %s %s %s %s %s", path_py, path_msg,
		 path_key, alg, canon, path_sig);
	assert_int_equal(system(cmd), 0);
	sig = read_file(path_sig, &slen);
	full = xmalloc(slen + clen + 1);
	memcpy(full, sig, slen);
	memcpy(full + slen, crlf, clen);
	full[slen + clen] = '\0';
	r = verify_top_at(full, slen + clen, rec, (int64_t)time(NULL), &reason);
	if (r != DKIM_RESULT_PASS)
		fail_msg("dkimpy %s %s: %s (%s)", alg, canon, dkim_result_name(r), reason);
	/* Our verifier on the stored (LF) form too. */
	{
		size_t o = 0;
		for (size_t i = 0; i < slen + clen; i++)
			if (full[i] != '\r')
				full[o++] = full[i];
		full[o] = '\0';
		r = verify_top_at(full, o, rec, (int64_t)time(NULL), &reason);
		if (r != DKIM_RESULT_PASS)
			fail_msg("dkimpy %s %s (LF): %s (%s)", alg, canon, dkim_result_name(r),
				 reason);
	}
	unlink(path_py);
	unlink(path_msg);
	unlink(path_key);
	unlink(path_sig);
	free(full);
	free(sig);
	free(rec);
	free(crlf);
}

static void test_ours_verifies_dkimpy(void **state)
{
	char dir[] = "/tmp/dkimtestXXXXXX";

	(void)state;
	if (!have_python())
		skip();
	assert_non_null(mkdtemp(dir));
	dkimpy_sign_one(dir, rsa_key, "rsa-sha256", "relaxed/relaxed");
	dkimpy_sign_one(dir, ed_key, "ed25519-sha256", "relaxed/relaxed");
	dkimpy_sign_one(dir, rsa_key, "rsa-sha256", "simple/simple");
	dkimpy_sign_one(dir, ed_key, "ed25519-sha256", "relaxed/simple");
	rmdir(dir);
}

static void test_pem_load(void **state)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem;
	long n;
	EVP_PKEY *k;

	(void)state;
	assert_int_equal(PEM_write_bio_PrivateKey(bio, ed_key, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(bio, &pem);
	k = dkim_key_from_pem(pem, (size_t)n);
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_eq(k, ed_key), 1);
	EVP_PKEY_free(k);
	assert_null(dkim_key_from_pem("garbage", 7));
	BIO_free(bio);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_rsa),
		cmocka_unit_test(test_round_trip_ed25519),
		cmocka_unit_test(test_streaming),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_key_records),
		cmocka_unit_test(test_rsa_sizes),
		cmocka_unit_test(test_sig_rules),
		cmocka_unit_test(test_time_and_length),
		cmocka_unit_test(test_pem_load),
		cmocka_unit_test(test_dkimpy_verifies_ours),
		cmocka_unit_test(test_ours_verifies_dkimpy),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
