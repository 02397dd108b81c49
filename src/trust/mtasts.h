/* mtasts: MTA-STS (RFC 8461) parsing and MX matching.
 *
 * Pure code: no DNS, no HTTPS, no logging, no clock, no allocation. The
 * caller queries TXT at "_mta-sts.DOMAIN", concatenates the strings of each
 * TXT record without spaces (RFC 8461 3.1) and hands the records to
 * mtasts_pick_txt(). When the id differs from the cached one it fetches
 * https://mta-sts.DOMAIN/.well-known/mta-sts.txt (at most MTASTS_POLICY_MAX
 * bytes, no redirects: RFC 8461 3.3) and parses the body with
 * mtasts_parse_policy(). The cache stores the raw body and the id, and
 * parses the body again when loaded; the expiry (max_age after the fetch)
 * is the caller's, since this module reads no clock.
 *
 * Error reasons are static strings in plain English, for the log line of
 * the caller; *err_out may be passed as NULL when the reason is not
 * wanted. */
#ifndef KONVERT_TRUST_MTASTS_H
#define KONVERT_TRUST_MTASTS_H

#include <stdbool.h>
#include <stddef.h>

/* sts-id is 1*32(ALPHA / DIGIT) (RFC 8461 3.1); an id buffer of
 * MTASTS_ID_SIZE bytes always fits it with its NUL. */
#define MTASTS_ID_MAX 32
#define MTASTS_ID_SIZE (MTASTS_ID_MAX + 1)
/* A policy body longer than this is refused (RFC 8461 3.3 suggests senders
 * limit the body; 64 KiB is far above any real policy). */
#define MTASTS_POLICY_MAX 65536
/* mx patterns kept per policy; a policy with more distinct patterns is
 * refused (see mtasts_parse_policy for why not truncated). */
#define MTASTS_MX_MAX 32
/* Longest host name in an mx pattern, without "*." and trailing dot. */
#define MTASTS_HOST_MAX 253
/* RFC 8461 3.2: max_age is at most 31557600 s (one year); larger values
 * are capped to it. */
#define MTASTS_MAX_AGE_MAX 31557600ul

enum mtasts_mode {
	MTASTS_MODE_NONE, /* "none": the domain withdraws its policy */
	MTASTS_MODE_TESTING, /* "testing": report failures, deliver anyway */
	MTASTS_MODE_ENFORCE, /* "enforce": never deliver to a failing MX */
};

/* A parsed policy; a zeroed struct is mode none without patterns. */
struct mtasts_policy {
	enum mtasts_mode mode;
	unsigned long max_age; /* seconds, 0..MTASTS_MAX_AGE_MAX */
	size_t mx_count; /* >= 1 unless mode is none */
	/* Distinct patterns in policy order: a host name or "*." + a host
	 * name, lower-case, NUL-terminated, without trailing dot. */
	char mx[MTASTS_MX_MAX][MTASTS_HOST_MAX + 3];
};

/* True when rec (len bytes, need not be NUL-terminated) begins with
 * "v=STSv1" followed by optional blanks and ';' (RFC 8461 3.1). Other TXT
 * records at _mta-sts are discarded before counting. */
bool mtasts_is_txt_record(const char *rec, size_t len);

/* Parses one _mta-sts TXT record (RFC 8461 3.1 ABNF): "v=STSv1" first,
 * fields separated by ';' with optional blanks (SP, HTAB) around it, one
 * trailing ';' allowed, no blanks around '='. Field names are
 * case-sensitive; the first "id" field is the id, later fields (a repeated
 * id too) are extensions that must be well-formed and are then ignored.
 * Returns 0 with the id and its NUL in id_out, or -1 with id_out[0] = '\0'
 * (when id_size > 0) and a reason in *err_out: not an STSv1 record, no id,
 * an id not 1-32 letters and digits, a malformed field, or an id that does
 * not fit id_size (never with id_size >= MTASTS_ID_SIZE). */
int mtasts_parse_txt(const char *rec, size_t len, char *id_out, size_t id_size,
		     const char **err_out);

/* Decides among all TXT records found at _mta-sts (recs[i], lens[i] bytes;
 * all borrowed): records that are not mtasts_is_txt_record() are dropped.
 * Returns 0 when exactly one is left and it parses (id_out filled as by
 * mtasts_parse_txt), 1 when several are left, -1 when none is left or the
 * one left is invalid. Anything but 0 means the domain has no usable
 * MTA-STS record (RFC 8461 3.1); a cached policy stays in force (5.1). */
int mtasts_pick_txt(const char *const *recs, const size_t *lens, size_t n, char *id_out,
		    size_t id_size, const char **err_out);

/* Parses a policy body (RFC 8461 3.2), len bytes, need not be
 * NUL-terminated. Lines end in LF or CRLF; empty lines are skipped. Every
 * other line is "name:" then optional blanks then the value (trailing
 * blanks dropped); names are case-sensitive, no blanks before ':'.
 * "version" (must be "STSv1"), "mode" (enforce, testing or none, lower
 * case) and "max_age" (1-10 digits, above MTASTS_MAX_AGE_MAX capped) are
 * required; "mx" is required at least once unless mode is none. Unknown
 * fields are ignored; of a repeated field other than mx only the first
 * counts (RFC 8461 3.2), later ones are not even checked. A repeated mx
 * pattern is stored once.
 *
 * Returns 0 with *out filled, or -1 with *out zeroed and a reason in
 * *err_out: body over MTASTS_POLICY_MAX bytes, a NUL byte, a line without
 * ':' or with a bad field name, a control character in a value, a missing
 * or bad required field, a bad mx pattern, or more than MTASTS_MX_MAX
 * distinct patterns. The last is refused rather than truncated: keeping
 * only some patterns would make an enforce policy reject the domain's own
 * MX hosts, while refusing leaves the domain without MTA-STS, which is
 * visible in the log. */
int mtasts_parse_policy(const char *body, size_t len, struct mtasts_policy *out,
			const char **err_out);

/* RFC 8461 4.1: true when mx_host (NUL-terminated, one trailing dot
 * ignored) matches a pattern of p, case-insensitively. "*.example.com"
 * matches exactly one more leftmost label: "mail.example.com", neither
 * "example.com" nor "a.b.example.com". The mode is not looked at. */
bool mtasts_is_mx_allowed(const struct mtasts_policy *p, const char *mx_host);

/* "none", "testing", "enforce". */
const char *mtasts_mode_name(enum mtasts_mode m);

#endif
