/* fuzz_sasl: libFuzzer target for src/proto/sasl.h. The input is a flags
 * byte and then client lines separated by LF, fed to one PLAIN, LOGIN or
 * SCRAM-SHA-256 exchange as a session would drive it. The property beyond
 * "no crash": SASL_SUCCESS only comes when the client proved credentials.
 * PLAIN/LOGIN succeed only from sasl_password_result(ok = true); SCRAM only
 * when the harness holds real credentials and computed the proof itself
 * (the fuzzer cannot: the server nonce is random), and then the
 * server-final "v=" must be the right ServerSignature. Statuses are
 * checked against the phase (no NEED_CREDS for PLAIN...), and a terminal
 * status must stick.
 *
 * Flags byte: bits 0-1 mechanism (3 = SCRAM), bit 2 first line is the
 * initial response, bit 3 lines are raw text the harness base64-encodes
 * (else they go in as sent), bit 4 SCRAM gets real credentials (else
 * NULL: unknown user), bit 5 password checks answer ok. In raw-text lines
 * these tokens are replaced: "@R@" the combined nonce of the last
 * server-first, "@C@" base64 of the gs2 header sent, "@P@" the correct
 * proof for the text before ",p=", "@L@" filler that brings the encoded
 * line to SASL_LINE_MAX characters. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "proto/base64.h"
#include "proto/sasl.h"
#include "proto/scram.h"

#define F_MECH 3u
#define F_INITIAL 4u
#define F_ENCODE 8u
#define F_CREDS 16u
#define F_PASS_OK 32u

/* The one SCRAM account: password "pencil", 1 iteration (the server never
 * runs PBKDF2, the harness does it once). */
static struct scram_creds creds;
static unsigned char client_key[SCRAM_KEY_LEN];

static void init_creds(void)
{
	static bool done;
	unsigned char salted[SCRAM_KEY_LEN];

	if (done)
		return;
	creds.iterations = 1;
	creds.salt_len = 12;
	memcpy(creds.salt, "konvert-fuzz", 12);
	FUZZ_CHECK(scram_salted_password("pencil", 6, creds.salt, creds.salt_len,
					 creds.iterations, salted) == 0);
	FUZZ_CHECK(scram_client_key(salted, client_key) == 0);
	FUZZ_CHECK(scram_hash(client_key, SCRAM_KEY_LEN, creds.stored_key) == 0);
	FUZZ_CHECK(scram_server_key(salted, creds.server_key) == 0);
	done = true;
}

/* A growable byte string; aborts on allocation failure. */
struct buf {
	char *p; /* owned */
	size_t len, cap;
};

static void buf_put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		FUZZ_CHECK(b->p != NULL);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_b64(struct buf *b, const void *p, size_t n)
{
	size_t need = base64_encoded_len(n);
	char *t = malloc(need + 1);

	FUZZ_CHECK(t != NULL && base64_encode(p, n, t, need + 1) == (int)need);
	buf_put(b, t, need);
	free(t);
}

/* What the harness knows of the SCRAM exchange so far. */
struct scram_view {
	struct buf gs2; /* gs2 header of the client-first sent */
	struct buf bare; /* client-first-message-bare sent */
	struct buf server_first; /* decoded */
	struct buf nonce; /* combined nonce from server_first */
	struct buf without_proof; /* client-final up to ",p=" of a good proof */
	bool proof_made; /* "@P@" became a correct proof in the last line */
};

/* Remembers the client-first message m (decoded) for later proofs. */
static void note_client_first(struct scram_view *v, const char *m, size_t n)
{
	size_t commas = 0, i;

	for (i = 0; i < n && commas < 2; i++)
		if (m[i] == ',')
			commas++;
	v->gs2.len = v->bare.len = 0;
	buf_put(&v->gs2, m, i);
	buf_put(&v->bare, m + i, n - i);
}

static void note_server_first(struct scram_view *v, const char *challenge)
{
	size_t len = strlen(challenge), n;
	char *d = malloc(base64_decoded_max(len) + 1);
	const char *e;

	FUZZ_CHECK(d != NULL);
	FUZZ_CHECK(base64_decode(challenge, len, d, base64_decoded_max(len), &n) == 0);
	d[n] = '\0';
	v->server_first.len = v->nonce.len = 0;
	buf_put(&v->server_first, d, n);
	FUZZ_CHECK(strncmp(d, "r=", 2) == 0);
	e = strstr(d, ",s=");
	FUZZ_CHECK(e != NULL && strstr(d, ",i=") != NULL);
	buf_put(&v->nonce, d + 2, (size_t)(e - d - 2));
	/* Combined nonce = client nonce + 24 characters of ours. */
	FUZZ_CHECK(v->nonce.len > 24);
	free(d);
}

/* AuthMessage of the exchange for a client-final without proof. */
static void auth_message(const struct scram_view *v, const char *wp, size_t wp_len,
			 struct buf *am)
{
	am->len = 0;
	buf_put(am, v->bare.p ? v->bare.p : "", v->bare.len);
	buf_put(am, ",", 1);
	buf_put(am, v->server_first.p ? v->server_first.p : "", v->server_first.len);
	buf_put(am, ",", 1);
	buf_put(am, wp, wp_len);
}

/* Expands the tokens of one raw line into out (raw, not yet base64). */
static void expand_line(struct scram_view *v, const char *l, size_t n, struct buf *out)
{
	size_t fill_at = SIZE_MAX;

	out->len = 0;
	buf_put(out, "", 0);
	v->proof_made = false;
	for (size_t i = 0; i < n;) {
		if (n - i >= 3 && l[i] == '@' && l[i + 2] == '@') {
			char t = l[i + 1];

			if (t == 'R') {
				buf_put(out, v->nonce.p ? v->nonce.p : "", v->nonce.len);
				i += 3;
				continue;
			}
			if (t == 'C') {
				buf_b64(out, v->gs2.p ? v->gs2.p : "", v->gs2.len);
				i += 3;
				continue;
			}
			if (t == 'L' && fill_at == SIZE_MAX) {
				fill_at = out->len;
				i += 3;
				continue;
			}
			if (t == 'P') {
				unsigned char sig[SCRAM_KEY_LEN], proof[SCRAM_KEY_LEN];
				struct buf am = { 0 };
				size_t wp = out->len >= 3 && memcmp(out->p + out->len - 3, ",p=", 3) == 0
						    ? out->len - 3
						    : out->len;

				auth_message(v, out->p, wp, &am);
				FUZZ_CHECK(scram_hmac(creds.stored_key, SCRAM_KEY_LEN, am.p, am.len,
						      sig) == 0);
				for (size_t k = 0; k < SCRAM_KEY_LEN; k++)
					proof[k] = client_key[k] ^ sig[k];
				v->without_proof.len = 0;
				buf_put(&v->without_proof, out->p, wp);
				v->proof_made = true;
				buf_b64(out, proof, sizeof(proof));
				free(am.p);
				i += 3;
				continue;
			}
		}
		buf_put(out, l + i, 1);
		i++;
	}
	if (fill_at != SIZE_MAX) {
		/* SASL_LINE_MAX characters of base64 carry this many bytes. */
		size_t want = SASL_LINE_MAX / 4 * 3;

		if (out->len < want) {
			size_t tail_len = out->len - fill_at;
			char *tail = malloc(tail_len + 1);
			char *fill = malloc(want - out->len);

			FUZZ_CHECK(tail != NULL && fill != NULL);
			memcpy(tail, out->p + fill_at, tail_len);
			memset(fill, 'x', want - out->len);
			out->len = fill_at;
			buf_put(out, fill, want - fill_at - tail_len);
			buf_put(out, tail, tail_len);
			free(fill);
			free(tail);
			/* A proof computed before the filler went in is stale. */
			v->proof_made = false;
		}
	}
}

static bool is_terminal(enum sasl_status st)
{
	return st != SASL_CHALLENGE && st != SASL_CHECK_PASSWORD && st != SASL_NEED_CREDS;
}

static unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static bool case_eq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (lower((unsigned char)*a) != lower((unsigned char)*b))
			return false;
	return *a == *b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum sasl_mech mechs[4] = { SASL_MECH_PLAIN, SASL_MECH_LOGIN,
						 SASL_MECH_SCRAM_SHA_256,
						 SASL_MECH_SCRAM_SHA_256 };
	struct scram_view v = { 0 };
	struct buf raw = { 0 }, wire = { 0 };
	struct sasl_server *s;
	enum sasl_mech mech, named;
	enum sasl_status st;
	char *out;
	const char *p, *end;
	unsigned flags;
	bool scram, pass_ok_given = false, first_line = true, proof_sent = false;
	bool proved = false; /* SCRAM: a harness-made proof was accepted */
	int steps = 0;

	if (size < 1)
		return 0;
	init_creds();
	flags = data[0];
	mech = mechs[flags & F_MECH];
	scram = mech == SASL_MECH_SCRAM_SHA_256;
	FUZZ_CHECK(sasl_mech_from_name(sasl_mech_name(mech), strlen(sasl_mech_name(mech)),
				       &named) &&
		   named == mech);
	p = (const char *)data + 1;
	end = (const char *)data + size;

	out = malloc(SASL_CHALLENGE_MAX); /* exactly the minimum: ASan sees overruns */
	FUZZ_CHECK(out != NULL);
	out[0] = '\0'; /* with an initial response nothing was written yet */
	s = sasl_server_new(mech);
	if (!(flags & F_INITIAL)) {
		st = sasl_server_start(s, NULL, 0, out, SASL_CHALLENGE_MAX);
		FUZZ_CHECK(st == SASL_CHALLENGE);
	} else {
		st = SASL_CHALLENGE; /* the first line goes to start */
	}

	while (!is_terminal(st) && steps++ < 16) {
		const char *nl;
		size_t n;
		const char *line;
		size_t line_len;

		FUZZ_CHECK(strlen(out) < SASL_CHALLENGE_MAX);
		if (st == SASL_CHECK_PASSWORD) {
			bool ok = flags & F_PASS_OK;

			FUZZ_CHECK(!scram);
			FUZZ_CHECK(sasl_password(s) != NULL && sasl_password(s)[0] != '\0');
			FUZZ_CHECK(sasl_authcid(s) != NULL && sasl_authcid(s)[0] != '\0');
			FUZZ_CHECK(strlen(sasl_authcid(s)) <= SASL_FIELD_MAX);
			FUZZ_CHECK(strlen(sasl_password(s)) <= SASL_FIELD_MAX);
			FUZZ_CHECK(sasl_authzid(s) == NULL ||
				   case_eq(sasl_authzid(s), sasl_authcid(s)));
			FUZZ_CHECK(out[0] == '\0');
			st = sasl_password_result(s, ok, out, SASL_CHALLENGE_MAX);
			pass_ok_given = ok;
			FUZZ_CHECK(st == (ok ? SASL_SUCCESS : SASL_FAIL_AUTH));
			FUZZ_CHECK(sasl_password(s) == NULL);
			continue;
		}
		if (st == SASL_NEED_CREDS) {
			FUZZ_CHECK(scram);
			FUZZ_CHECK(sasl_authcid(s) != NULL && sasl_authcid(s)[0] != '\0');
			FUZZ_CHECK(sasl_authzid(s) == NULL ||
				   case_eq(sasl_authzid(s), sasl_authcid(s)));
			FUZZ_CHECK(out[0] == '\0');
			st = sasl_set_scram_creds(s, (flags & F_CREDS) ? &creds : NULL, out,
						  SASL_CHALLENGE_MAX);
			FUZZ_CHECK(st == SASL_CHALLENGE);
			note_server_first(&v, out);
			continue;
		}
		/* SASL_CHALLENGE: answer with the next line. */
		if (p >= end)
			break;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (flags & F_ENCODE) {
			expand_line(&v, p, n, &raw);
			wire.len = 0;
			buf_b64(&wire, raw.p, raw.len);
			line = wire.p;
			line_len = wire.len;
			if (scram && first_line)
				note_client_first(&v, raw.p, raw.len);
		} else {
			line = p;
			line_len = n;
			v.proof_made = false;
			if (scram && first_line) {
				size_t dn;
				char *d = malloc(base64_decoded_max(n) + 1);

				FUZZ_CHECK(d != NULL);
				if (base64_decode(p, n, d, base64_decoded_max(n), &dn) == 0)
					note_client_first(&v, d, dn);
				free(d);
			}
		}
		{
			/* Exact-length heap copy: no NUL after the line. */
			char *copy = malloc(line_len > 0 ? line_len : 1);

			FUZZ_CHECK(copy != NULL);
			memcpy(copy, line, line_len);
			if (first_line && (flags & F_INITIAL))
				st = sasl_server_start(s, copy, line_len, out, SASL_CHALLENGE_MAX);
			else
				st = sasl_server_step(s, copy, line_len, out, SASL_CHALLENGE_MAX);
			free(copy);
		}
		proof_sent = v.proof_made;
		first_line = false;
		p = nl ? nl + 1 : end;

		/* PLAIN/LOGIN never succeed from a line; SCRAM only from the
		 * empty answer after the server-final, not from the proof. */
		FUZZ_CHECK(st != SASL_SUCCESS || (scram && !proof_sent));
		if (st == SASL_NEED_CREDS || st == SASL_CHECK_PASSWORD)
			FUZZ_CHECK(out[0] == '\0');
		if (scram && st == SASL_CHALLENGE && proof_sent) {
			/* Server-final: "v=" + base64(ServerSignature). */
			unsigned char sig[SCRAM_KEY_LEN];
			struct buf am = { 0 }, want = { 0 }, fin = { 0 };

			FUZZ_CHECK(flags & F_CREDS);
			auth_message(&v, v.without_proof.p, v.without_proof.len, &am);
			FUZZ_CHECK(scram_hmac(creds.server_key, SCRAM_KEY_LEN, am.p, am.len, sig) ==
				   0);
			buf_put(&fin, "v=", 2);
			buf_b64(&fin, sig, sizeof(sig));
			buf_b64(&want, fin.p, fin.len);
			FUZZ_CHECK(strcmp(out, want.p) == 0);
			free(am.p);
			free(want.p);
			free(fin.p);
			proved = true;
		}
	}

	FUZZ_CHECK(strlen(out) < SASL_CHALLENGE_MAX);
	if (st == SASL_SUCCESS) {
		FUZZ_CHECK(out[0] == '\0');
		FUZZ_CHECK(sasl_authcid(s) != NULL);
		if (scram)
			FUZZ_CHECK((flags & F_CREDS) && proved);
		else
			FUZZ_CHECK(pass_ok_given);
	}
	if (is_terminal(st)) {
		FUZZ_CHECK(st == SASL_SUCCESS || out[0] == '\0');
		FUZZ_CHECK(sasl_password(s) == NULL);
		/* A finished exchange stays finished, whatever comes next. */
		FUZZ_CHECK(sasl_server_step(s, "", 0, out, SASL_CHALLENGE_MAX) ==
			   SASL_FAIL_MALFORMED);
		FUZZ_CHECK(sasl_password_result(s, true, out, SASL_CHALLENGE_MAX) ==
			   SASL_FAIL_MALFORMED);
		FUZZ_CHECK(sasl_set_scram_creds(s, &creds, out, SASL_CHALLENGE_MAX) ==
			   SASL_FAIL_MALFORMED);
		FUZZ_CHECK(sasl_server_start(s, NULL, 0, out, SASL_CHALLENGE_MAX) ==
			   SASL_FAIL_MALFORMED);
		FUZZ_CHECK(out[0] == '\0');
	}
	sasl_server_free(&s);
	FUZZ_CHECK(s == NULL);
	free(out);
	free(raw.p);
	free(wire.p);
	free(v.gs2.p);
	free(v.bare.p);
	free(v.server_first.p);
	free(v.nonce.p);
	free(v.without_proof.p);
	return 0;
}
