/* srs: makes and checks SRS addresses (trust/srs.h has the format). It
 * owns the parsing of SRS local parts, the timestamp and the hash; it
 * knows nothing of aliases, sessions or the queue, reads no clock and never
 * logs. What it must never do is reverse an address whose hash it did not
 * make: a bounce address that turns into any recipient the sender likes
 * would make the server an open relay. */
#include "trust/srs.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/kassert.h"
#include "core/limits.h"
#include "proto/span.h"

#define SRS_HASH_LEN 4
#define SRS_STAMP_LEN 2
#define SRS_DAY_SECONDS 86400

/* libsrs2's alphabets: RFC 4648 base32 for the day, base64 for the hash. */
static const char b32_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static char ascii_upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* libsrs2 writes '=' but accepts all three after the tag (its
 * srs_separators); the fields after it are always split at '='. */
static bool is_sep(char c)
{
	return c == '=' || c == '+' || c == '-';
}

/* "SRS0"/"SRS1" (digit) in any case, then a separator. */
static bool has_tag(struct span s, char digit)
{
	return s.len >= 5 && strncasecmp(s.p, "SRS", 3) == 0 && s.p[3] == digit && is_sep(s.p[4]);
}

/* RFC 5322 atext, plus the UTF-8 bytes RFC 6531 3.3 adds to it. */
static bool is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c >= 0x80 || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* A local part we can embed: atext and dots. A quoted one ("a b"@x) would
 * need the whole SRS local part quoted, which libsrs2 does not do either. */
static bool is_plain_local(struct span s)
{
	for (size_t i = 0; i < s.len; i++)
		if (s.p[i] != '.' && !is_atext((unsigned char)s.p[i]))
			return false;
	return s.len > 0;
}

/* A domain name (no address literal: "[...]" cannot sit in a local part). */
static bool is_host(struct span s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_' || c >= 0x80))
			return false;
	}
	return s.len > 0;
}

/* The SRS1 opaque part is the SRS0 local part without its tag: it starts
 * with that separator, and "SRS0" + opaque is the address to go back to. */
static bool is_opaque(struct span s)
{
	return s.len >= 2 && is_sep(s.p[0]);
}

/* Cuts the field before the next '=' off the front of *rest. */
static bool cut_field(struct span *rest, struct span *field_out)
{
	const char *eq = memchr(rest->p, '=', rest->len);
	if (eq == NULL)
		return false;
	*field_out = (struct span){rest->p, (size_t)(eq - rest->p)};
	rest->len -= field_out->len + 1;
	rest->p = eq + 1;
	return true;
}

/* "SRS1" sep hash "=" host "=" opaque. The hash length is not checked:
 * another forwarder's SRS1 may use a longer one. */
static bool parse_srs1(struct span local, struct span *hash_out, struct span *host_out,
		       struct span *opaque_out)
{
	if (!has_tag(local, '1'))
		return false;
	struct span rest = {local.p + 5, local.len - 5};
	if (!cut_field(&rest, hash_out) || hash_out->len == 0 ||
	    !cut_field(&rest, host_out) || !is_host(*host_out) || !is_opaque(rest))
		return false;
	*opaque_out = rest;
	return true;
}

/* HMAC-SHA1 over the fields concatenated and ASCII-lowercased, as libsrs2
 * does (a relay that folds the case of a local part keeps the hash
 * valid); its first 24 bits in base64. Fields total at most SRS_ADDR_MAX. */
static int make_hash(const unsigned char *secret, size_t secret_len, const struct span *f,
		     size_t count, char out[SRS_HASH_LEN])
{
	unsigned char data[SRS_ADDR_MAX];
	size_t len = 0;
	for (size_t i = 0; i < count; i++) {
		if (f[i].len > sizeof(data) - len)
			return -1;
		for (size_t k = 0; k < f[i].len; k++)
			data[len++] = (unsigned char)ascii_lower(f[i].p[k]);
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	if (HMAC(EVP_sha1(), secret, (int)secret_len, data, len, md, &md_len) == NULL ||
	    md_len < 3)
		return -1;
	out[0] = b64_chars[md[0] >> 2];
	out[1] = b64_chars[((md[0] & 0x03) << 4) | (md[1] >> 4)];
	out[2] = b64_chars[((md[1] & 0x0f) << 2) | (md[2] >> 6)];
	out[3] = b64_chars[md[2] & 0x3f];
	return 0;
}

/* Compares without regard to case (libsrs2 uses strncasecmp: relays fold
 * local parts) and in constant time, so timing tells nothing about how
 * many characters of a guess were right. */
static int check_hash(const unsigned char *secret, size_t secret_len, struct span got,
		      const struct span *f, size_t count, const char **err)
{
	char want[SRS_HASH_LEN], have[SRS_HASH_LEN];
	KASSERT(got.len == SRS_HASH_LEN);
	if (make_hash(secret, secret_len, f, count, want) != 0) {
		*err = "hmac failed";
		return -1;
	}
	for (size_t i = 0; i < SRS_HASH_LEN; i++) {
		want[i] = ascii_lower(want[i]);
		have[i] = ascii_lower(got.p[i]);
	}
	if (CRYPTO_memcmp(want, have, SRS_HASH_LEN) != 0) {
		*err = "bad hash";
		return -1;
	}
	return 0;
}

static unsigned day_slot(time_t now)
{
	long long d = (long long)now / SRS_DAY_SECONDS % SRS_TIME_SLOTS;
	return (unsigned)(d < 0 ? d + SRS_TIME_SLOTS : d);
}

static bool decode_stamp(struct span s, unsigned *slot_out)
{
	unsigned v = 0;
	if (s.len != SRS_STAMP_LEN)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		char c = ascii_upper(s.p[i]);
		const char *hit = c != '\0' ? memchr(b32_chars, c, 32) : NULL;
		if (hit == NULL)
			return false;
		v = v << 5 | (unsigned)(hit - b32_chars);
	}
	*slot_out = v;
	return true;
}

static void clear_out(char *out, size_t out_size)
{
	if (out_size > 0)
		out[0] = '\0';
}

int srs_forward(const unsigned char *secret, size_t secret_len, const char *sender,
		const char *our_domain, time_t now, char *out, size_t out_size,
		const char **err_out)
{
	static const char *dummy;
	const char **err = err_out ? err_out : &dummy;
	KASSERT(secret != NULL && secret_len > 0 && secret_len <= INT_MAX);
	KASSERT(our_domain != NULL && our_domain[0] != '\0');
	clear_out(out, out_size);
	if (sender[0] == '\0')
		return 1; /* a bounce: SPF checks its HELO name; nothing to rewrite */
	const char *at = strrchr(sender, '@');
	if (at == NULL || at == sender || at[1] == '\0') {
		*err = "malformed sender";
		return -1;
	}
	struct span local = {sender, (size_t)(at - sender)};
	struct span host = {at + 1, strlen(at + 1)};
	if (strcasecmp(host.p, our_domain) == 0)
		return 1; /* passes SPF as it is */
	size_t domain_len = strlen(our_domain);
	/* Bounds first, so the sums below stay small. */
	if (local.len > SMTP_LOCAL_MAX || host.len > SMTP_DOMAIN_MAX || domain_len > SRS_ADDR_MAX) {
		*err = "too long";
		return -1;
	}
	if (!is_plain_local(local) || !is_host(host)) {
		*err = "unsupported sender";
		return -1;
	}

	struct span f[3], hash_in, prev_host, opaque;
	char stamp[SRS_STAMP_LEN];
	bool srs1 = true;
	size_t local_len;
	if (parse_srs1(local, &hash_in, &prev_host, &opaque)) {
		/* Keep the original host and opaque part: the bounce goes
		 * straight to the first forwarder, skipping the sender's. */
	} else if (has_tag(local, '0') &&
		   is_opaque((struct span){local.p + 4, local.len - 4})) {
		prev_host = host;
		opaque = (struct span){local.p + 4, local.len - 4};
	} else {
		srs1 = false;
	}
	if (srs1) {
		f[0] = prev_host;
		f[1] = opaque;
		local_len = 5 + SRS_HASH_LEN + 1 + prev_host.len + 1 + opaque.len;
	} else {
		unsigned slot = day_slot(now);
		stamp[0] = b32_chars[slot >> 5];
		stamp[1] = b32_chars[slot & 31];
		f[0] = (struct span){stamp, SRS_STAMP_LEN};
		f[1] = host;
		f[2] = local;
		local_len = 5 + SRS_HASH_LEN + 1 + SRS_STAMP_LEN + 1 + host.len + 1 + local.len;
	}
	/* A longer local part could not come back: our RCPT parser refuses it. */
	if (local_len > SMTP_LOCAL_MAX || local_len + 1 + domain_len > SRS_ADDR_MAX) {
		*err = "too long";
		return -1;
	}
	char hash[SRS_HASH_LEN];
	if (make_hash(secret, secret_len, f, srs1 ? 2 : 3, hash) != 0) {
		*err = "hmac failed";
		return -1;
	}
	int w;
	if (srs1)
		w = snprintf(out, out_size, "SRS1=%.4s=%.*s=%.*s@%s", hash, (int)prev_host.len,
			     prev_host.p, (int)opaque.len, opaque.p, our_domain);
	else
		w = snprintf(out, out_size, "SRS0=%.4s=%.2s=%.*s=%.*s@%s", hash, stamp,
			     (int)host.len, host.p, (int)local.len, local.p, our_domain);
	if (w < 0 || (size_t)w >= out_size) {
		clear_out(out, out_size);
		*err = "buffer too small";
		return -1;
	}
	return 0;
}

int srs_reverse(const unsigned char *secret, size_t secret_len, const char *addr, time_t now,
		unsigned max_age_days, char *out, size_t out_size, const char **err_out)
{
	static const char *dummy;
	const char **err = err_out ? err_out : &dummy;
	KASSERT(secret != NULL && secret_len > 0 && secret_len <= INT_MAX);
	KASSERT(max_age_days < SRS_TIME_SLOTS);
	clear_out(out, out_size);
	size_t addr_len = strlen(addr);
	const char *at = strrchr(addr, '@');
	struct span local = {addr, at != NULL ? (size_t)(at - addr) : addr_len};
	struct span hash, host;
	int w;
	if (!has_tag(local, '0') && !has_tag(local, '1')) {
		*err = "not SRS";
		return -1;
	}
	if (addr_len > SRS_ADDR_MAX) {
		*err = "malformed";
		return -1;
	}
	if (has_tag(local, '1')) {
		struct span opaque;
		if (!parse_srs1(local, &hash, &host, &opaque) || hash.len != SRS_HASH_LEN) {
			*err = "malformed";
			return -1;
		}
		struct span f[2] = {host, opaque};
		if (check_hash(secret, secret_len, hash, f, 2, err) != 0)
			return -1;
		w = snprintf(out, out_size, "SRS0%.*s@%.*s", (int)opaque.len, opaque.p,
			     (int)host.len, host.p);
	} else {
		/* The user is everything after the host: it may hold '='. */
		struct span rest = {local.p + 5, local.len - 5}, stamp, user;
		unsigned then;
		if (!cut_field(&rest, &hash) || !cut_field(&rest, &stamp) ||
		    !cut_field(&rest, &host) || hash.len != SRS_HASH_LEN || host.len == 0 ||
		    rest.len == 0 || !decode_stamp(stamp, &then)) {
			*err = "malformed";
			return -1;
		}
		user = rest;
		struct span f[3] = {stamp, host, user};
		if (check_hash(secret, secret_len, hash, f, 3, err) != 0)
			return -1;
		/* Days modulo 1024: a stamp "ahead" of today wrapped, so it is
		 * almost 1024 days old (libsrs2 srs_timestamp_check). */
		unsigned age = (day_slot(now) + SRS_TIME_SLOTS - then) % SRS_TIME_SLOTS;
		if (age > max_age_days) {
			*err = "expired";
			return -1;
		}
		w = snprintf(out, out_size, "%.*s@%.*s", (int)user.len, user.p, (int)host.len,
			     host.p);
	}
	if (w < 0 || (size_t)w >= out_size) {
		clear_out(out, out_size);
		*err = "buffer too small";
		return -1;
	}
	return 0;
}

bool srs_is_srs(const char *localpart)
{
	struct span s = {localpart, strnlen(localpart, 5)};
	return has_tag(s, '0') || has_tag(s, '1');
}
