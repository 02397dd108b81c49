/* sasl: server side of the SASL mechanisms PLAIN (RFC 4616), LOGIN
 * (draft-murchison-sasl-login) and SCRAM-SHA-256 (RFC 5802, RFC 7677),
 * shared by SMTP AUTH (RFC 4954) and POP3 AUTH (RFC 5034). No I/O, no
 * logging, no replies: the session feeds what the client sent and acts
 * on the returned status.
 *
 * Driving an exchange:
 *   s = sasl_server_new(mech);
 *   st = sasl_server_start(s, initial_or_NULL, len, buf, sizeof(buf));
 *   loop on st:
 *     SASL_CHALLENGE       send buf as "334 <buf>" (SMTP; "334 " when buf
 *                          is empty) or "+ <buf>" (POP3), read one line,
 *                          st = sasl_server_step(s, line, len, ...)
 *     SASL_CHECK_PASSWORD  check sasl_authcid()/sasl_password() against
 *                          the userdb (off the loop: it is slow), then
 *                          st = sasl_password_result(s, ok, ...)
 *     SASL_NEED_CREDS      look up sasl_authcid()'s SCRAM credentials,
 *                          st = sasl_set_scram_creds(s, creds or NULL, ...)
 *                          (NULL: unknown user or no SCRAM credentials)
 *     anything else        terminal; reply, then sasl_server_free().
 * Suggested replies for the terminal statuses:
 *   SASL_SUCCESS         235 2.7.0 / +OK
 *   SASL_FAIL_CANCELLED  501 5.0.0 / -ERR
 *   SASL_FAIL_BASE64     501 5.5.2 / -ERR  (RFC 4954 4)
 *   SASL_FAIL_MALFORMED  501 5.5.2 / -ERR  (a client bug, not a wrong
 *                        password; too-long lines land here too)
 *   SASL_FAIL_AUTH       535 5.7.8 / -ERR [AUTH]
 *
 * SCRAM's server-final message ("v=...") is sent as a last
 * SASL_CHALLENGE, never inside the success reply: that form is the one
 * every SMTP and POP3 client handles (RFC 4422 gives it as the fallback
 * for profiles without "additional data with success"; Dovecot's
 * submission and POP3 logins do the same). The client answers that
 * challenge with an empty line, and only that step returns SASL_SUCCESS.
 * So SASL_SUCCESS always comes with an empty *challenge_out.
 *
 * Lines: the text as received without CRLF, need not be NUL-terminated.
 * In a step, "*" cancels (RFC 4954 4, RFC 5034 4) and an empty line is an
 * empty response. The initial response passed to start is NULL when none
 * was given, "=" for an empty one (RFC 4954 4); "*" there is not a
 * cancellation but bad base64. Lines over SASL_LINE_MAX bytes fail with
 * SASL_FAIL_MALFORMED (the session's line reader must allow that much
 * while AUTH runs; an SMTP AUTH command line is shorter anyway).
 *
 * Every call writes a NUL-terminated string to challenge_out (empty when
 * the status is not SASL_CHALLENGE); out_size must be at least
 * SASL_CHALLENGE_MAX (checked with KASSERT). A call in the wrong phase (a
 * step while a password check is pending, sasl_password_result without
 * SASL_CHECK_PASSWORD before it, anything after a terminal status) ends
 * the exchange: it returns SASL_FAIL_MALFORMED, and so does every later
 * call, so a late sasl_password_result(ok) can never turn a failed
 * exchange into a success. Identities stay readable for logging.
 *
 * Identities: authcid is 1..SASL_FIELD_MAX octets of UTF-8 without NUL.
 * An authzid (PLAIN's first field, SCRAM's "a=") is accepted only when it
 * equals the authcid ignoring ASCII case (no proxy authorization);
 * another one fails with SASL_FAIL_AUTH.
 *
 * PLAIN: message "[authzid] NUL authcid NUL passwd", each field at most
 * SASL_FIELD_MAX octets of UTF-8 without NUL; authcid and passwd must not
 * be empty (RFC 4616 2: 1*SAFE). Without an initial response the server
 * sends an empty challenge.
 * LOGIN: challenges "Username:" and "Password:"; an initial response is
 * the user name. Same field rules as PLAIN.
 * SCRAM-SHA-256: gs2 header "n" or "y" (no channel binding is offered, so
 * "y" is fine); "p=" (channel binding) and the reserved "m=" extension
 * fail with SASL_FAIL_MALFORMED. The client-final c= must decode to the
 * gs2 header as sent and r= must repeat the full nonce, or the exchange
 * fails with SASL_FAIL_AUTH, like a wrong proof. Usernames ("=2C", "=3D"
 * escapes) are not SASLprep'ed (see auth/scram.h). For an unknown user
 * the exchange goes on with a salt derived from the lower-cased name and
 * a per-process random key, and the default iteration count, and fails
 * only at the proof, so the server-first message does not tell whether
 * the account exists. (The key is new at each start of konvert, so the
 * fake salt of a name changes across restarts while a real one does not.)
 *
 * Secrets: decoded lines, the password and SCRAM keys are wiped with
 * OPENSSL_cleanse once used and in sasl_server_free(). */
#ifndef KONVERT_PROTO_SASL_H
#define KONVERT_PROTO_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/scram.h"

/* Longest client line (base64 text, CRLF excluded) accepted in an
 * exchange. */
#define SASL_LINE_MAX 12288
/* Longest authcid, authzid or password, in octets (RFC 4616 2 floor). */
#define SASL_FIELD_MAX 255
/* Room for any challenge, NUL included (the SCRAM server-first message
 * echoes the client nonce, so it grows with SASL_LINE_MAX). */
#define SASL_CHALLENGE_MAX 12544

enum sasl_mech {
	SASL_MECH_PLAIN,
	SASL_MECH_LOGIN,
	SASL_MECH_SCRAM_SHA_256,
};

/* Case-insensitive lookup of a mechanism name (len bytes, need not be
 * NUL-terminated): "PLAIN", "LOGIN", "SCRAM-SHA-256". */
bool sasl_mech_from_name(const char *name, size_t len, enum sasl_mech *out);
/* Upper-case name as advertised in EHLO / CAPA. */
const char *sasl_mech_name(enum sasl_mech mech);
/* PLAIN and LOGIN send the password itself: offer them only over TLS. */
bool sasl_mech_is_plaintext(enum sasl_mech mech);

enum sasl_status {
	SASL_CHALLENGE, /* send *challenge_out (base64, may be empty) */
	SASL_CHECK_PASSWORD, /* verify, then sasl_password_result() */
	SASL_NEED_CREDS, /* SCRAM: look up, then sasl_set_scram_creds() */
	SASL_SUCCESS, /* authenticated as sasl_authcid() */
	SASL_FAIL_CANCELLED, /* client sent "*" */
	SASL_FAIL_BASE64, /* a line was not canonical base64 */
	SASL_FAIL_MALFORMED, /* bad mechanism syntax, too long, wrong phase */
	SASL_FAIL_AUTH, /* wrong credentials or refused authzid */
};

struct sasl_server;

/* Returns a new exchange (owned by the caller) for mech. */
struct sasl_server *sasl_server_new(enum sasl_mech mech);
/* Wipes the secrets and frees *pp; sets *pp = NULL; accepts *pp == NULL. */
void sasl_server_free(struct sasl_server **pp);

/* First call of an exchange. initial: NULL for none, "=" for empty, else
 * the base64 initial response (len bytes). */
enum sasl_status sasl_server_start(struct sasl_server *s, const char *initial, size_t len,
				   char *challenge_out, size_t out_size);
/* Feeds one client line answering a SASL_CHALLENGE. */
enum sasl_status sasl_server_step(struct sasl_server *s, const char *line, size_t len,
				  char *challenge_out, size_t out_size);
/* Answers SASL_CHECK_PASSWORD: ok gives SASL_SUCCESS, else SASL_FAIL_AUTH.
 * The password is wiped here. */
enum sasl_status sasl_password_result(struct sasl_server *s, bool ok, char *challenge_out,
				      size_t out_size);
/* Answers SASL_NEED_CREDS. creds (borrowed, copied) must hold a valid
 * entry from scram_parse_credentials(); NULL for an unknown user or one
 * without SCRAM credentials. Returns SASL_CHALLENGE (server-first) or
 * SASL_FAIL_AUTH if the random nonce could not be made. */
enum sasl_status sasl_set_scram_creds(struct sasl_server *s,
				      const struct scram_creds *creds_or_null, char *challenge_out,
				      size_t out_size);

/* The authentication identity, NUL-terminated, once received (LOGIN: after
 * the user name step; PLAIN and SCRAM: with SASL_CHECK_PASSWORD /
 * SASL_NEED_CREDS), and kept after a failure for logging; NULL before.
 * Valid until sasl_server_free(). */
const char *sasl_authcid(const struct sasl_server *s);

/* The mechanism's name ("PLAIN", "LOGIN", "SCRAM-SHA-256"). */
const char *sasl_server_mech_name(const struct sasl_server *s);
/* The authzid the client sent, or NULL when it sent none (or an empty
 * one). When not NULL it equals sasl_authcid() ignoring ASCII case. */
const char *sasl_authzid(const struct sasl_server *s);
/* The password, only between SASL_CHECK_PASSWORD and the matching
 * sasl_password_result(); NULL otherwise. Never log it. */
const char *sasl_password(const struct sasl_server *s);

#endif
