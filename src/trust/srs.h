/* srs: the Sender Rewriting Scheme in the format of libsrs2 and postsrsd
 * ("guarded" SRS), so that mail an alias forwards to an outside address
 * keeps passing SPF at the next hop, and bounces find their way back.
 *
 *   user@orig.example  ->  SRS0=HHHH=TT=orig.example=user@our.domain
 *   SRS0=HHHH=TT=orig.example=user@fwd.example
 *                      ->  SRS1=HHHH=fwd.example==HHHH=TT=orig.example=user@our.domain
 *
 * TT is the day (time / 86400, modulo 1024) in two base32 characters;
 * HHHH the first four base64 characters of HMAC-SHA1(secret, the fields
 * concatenated and ASCII-lowercased): TT, host, user for SRS0; host and the
 * opaque rest ("=HHHH=TT=orig.example=user") for SRS1. With the same
 * secret, addresses are byte-identical to postsrsd's.
 *
 * Pure code: no clock, no config, no logging. The secret (any length > 0,
 * KASSERTed; e.g. 32 random bytes, or a postsrsd secret file's text), the
 * time and our domain come from the caller; reasons come out as static
 * strings. Key rotation: call srs_reverse once per accepted secret. */
#ifndef KONVERT_TRUST_SRS_H
#define KONVERT_TRUST_SRS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* libsrs2's default lifetime of an SRS address, in days. */
#define SRS_MAX_AGE_DEFAULT 21u
/* Timestamps count days modulo this: an address is also accepted again
 * 1024 days after it was made (2.8 years), as with libsrs2. */
#define SRS_TIME_SLOTS 1024u
/* Longest rewritten address (RFC 5321 4.5.3.1.3: a path is 256 octets
 * with its angle brackets). The local part stays within SMTP_LOCAL_MAX (64)
 * since our own RCPT parser refuses longer ones: a bounce to a longer SRS
 * address could never come back. So out_size SRS_ADDR_MAX + 1 suffices. */
#define SRS_ADDR_MAX 254

/* Rewrites the envelope sender for forwarding. sender is "local@domain"
 * as smtp_addr_format() writes it (split at its last '@'); our_domain is
 * the domain bounces should come to (non-empty). now is the current time.
 *
 * Returns 0 with the SRS address in out: SRS0 for an ordinary sender,
 * SRS1 for a sender whose local part is SRS0 (its host is the previous
 * forwarder) or a well-formed SRS1 (its original host and opaque part are
 * kept, the hash is remade with our secret; the previous forwarder is
 * skipped on the way back). A local part that only looks like SRS1 is
 * wrapped in SRS0 like any other.
 *
 * Returns 1 when the sender stays as is: the null sender "" and a sender
 * already at our_domain (libsrs2 without alwaysrewrite).
 *
 * Returns -1 with *err_out set (err_out may be NULL) when no rewrite is
 * possible; the caller then keeps the original sender: "malformed sender"
 * (no '@', empty local part or domain), "unsupported sender" (a local part
 * needing quotes, an address literal), "too long" (local part over 64 or
 * address over SRS_ADDR_MAX), "buffer too small", "hmac failed".
 * Unless 0 is returned, out is "" (when out_size > 0). out must not
 * overlap sender. */
int srs_forward(const unsigned char *secret, size_t secret_len, const char *sender,
		const char *our_domain, time_t now, char *out, size_t out_size,
		const char **err_out);

/* Reverses an SRS recipient addr ("SRS0=...@our.domain"; the domain after
 * the last '@' is not looked at, the caller routed it here; it may be
 * absent). The tag ("SRS0"/"SRS1"), hash and timestamp are compared
 * without regard to case, as relays may fold local parts; after the tag
 * any of '=', '+', '-' is accepted.
 *
 * SRS0: the hash must match and the timestamp be at most max_age_days old
 * (a stamp from the future counts as 1024 days minus the difference old,
 * so it is expired). max_age_days < SRS_TIME_SLOTS is KASSERTed: config
 * must bound it (SRS_MAX_AGE_DEFAULT is the usual value). Returns 0 with "user@orig.example" in
 * out. SRS1: the hash must match; there is no timestamp at this level.
 * Returns 0 with "SRS0...@fwd.example", the address at the previous
 * forwarder, which checks its own hash and time.
 *
 * Returns -1 with *err_out: "not SRS", "malformed" (a field missing or
 * empty, a hash not 4 characters, a bad timestamp character, over
 * SRS_ADDR_MAX), "bad hash", "expired", "buffer too small", "hmac failed".
 * The hash is checked before the timestamp: "expired" only for addresses
 * we made; unless 0 is returned, out is "" (when out_size > 0). Whether
 * to reverse for non-bounce mail too is the caller's policy. out must not
 * overlap addr. */
int srs_reverse(const unsigned char *secret, size_t secret_len, const char *addr, time_t now,
		unsigned max_age_days, char *out, size_t out_size, const char **err_out);

/* True when localpart (NUL-terminated; a whole address works too) starts
 * with "SRS0" or "SRS1" in any case followed by '=', '+' or '-'. */
bool srs_is_srs(const char *localpart);

#endif
