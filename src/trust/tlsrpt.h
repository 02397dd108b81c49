/* tlsrpt: the pure parts of SMTP TLS Reporting (RFC 8460) for the mail
 * konvert sends: the "_smtp._tls" TXT record (RFC 8460 3), the counters of
 * one policy domain for one UTC day, their line-based text form (so the
 * server keeps them across restarts), the JSON report (RFC 8460 4), its
 * gzip and the report message (RFC 8460 5.1, 5.3).
 *
 * Pure code: no DNS, no files, no clock, no randomness, no logging. The
 * caller queries TXT at tlsrpt_query_name() of the policy domain, picks the
 * one record (tlsrpt_pick_record), parses it, counts each outbound session
 * into that day's stats, persists them with tlsrpt_stats_serialize, and
 * after the day ends builds tlsrpt_report_json -> tlsrpt_gzip ->
 * tlsrpt_message once per rua address. RFC 8460 3: a report sent by mail
 * MUST be delivered despite TLS failures (do not apply the policy domain's
 * own MTA-STS/DANE policy to it) and its session SHOULD NOT be counted.
 *
 * Only "mailto:" rua URIs are kept: konvert does not submit reports by
 * HTTPS POST (RFC 8460 5.2), so "https:" URIs are counted and ignored. */
#ifndef KONVERT_TRUST_TLSRPT_H
#define KONVERT_TRUST_TLSRPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* A TXT record (strings concatenated) longer than this is refused. */
#define TLSRPT_RECORD_MAX 4096
/* mailto addresses kept per record; later ones are ignored. */
#define TLSRPT_RUA_MAX 4
/* Longest address kept: an RFC 5321 path (256) without its brackets. */
#define TLSRPT_ADDR_MAX 254
/* Domain names, MX host names and MX patterns ("*.mx.example.com"). */
#define TLSRPT_HOST_MAX 253
/* An IPv6 address with an IPv4 tail, as inet_ntop writes it. */
#define TLSRPT_IP_MAX 45
/* failure-reason-code text (RFC 8460 4.3: "an error code or error text"). */
#define TLSRPT_REASON_MAX 255
/* policy-string entries (MTA-STS policy lines or TLSA records) and the
 * length of each; a TLSA record of a full certificate in hex fits. */
#define TLSRPT_POLICY_STRINGS_MAX 64
#define TLSRPT_POLICY_STRING_MAX 8192
/* mx-host patterns of one policy. */
#define TLSRPT_MX_HOSTS_MAX 32
/* Distinct failure-details kept per domain and day; further distinct
 * failures count into the total only. */
#define TLSRPT_FAILURES_MAX 32
/* Longest line tlsrpt_stats_serialize writes (a policy string with every
 * byte escaped), and so the longest tlsrpt_stats_parse accepts. */
#define TLSRPT_LINE_MAX (3 * TLSRPT_POLICY_STRING_MAX + 32)

/* ------------------------------------------------------------------ */
/* The TXT record (RFC 8460 3)                                         */

struct tlsrpt_record {
	/* mailto addresses, percent-decoded and checked as RFC 5321
	 * mailboxes ("local@domain", domain lower-cased), without
	 * duplicates, in record order. */
	char rua[TLSRPT_RUA_MAX][TLSRPT_ADDR_MAX + 1];
	size_t rua_count; /* may be 0: then there is nowhere to mail to */
	size_t https_count; /* "https:" URIs seen and ignored */
	size_t ignored_count; /* other URIs skipped: unknown scheme, unusable
				 address, beyond TLSRPT_RUA_MAX, duplicate */
};

/* True when txt (len bytes) begins with "v=TLSRPTv1" (case-sensitive,
 * RFC 8460 3: %s"v=TLSRPTv1") followed by optional spaces and ';'. TXT
 * records for which this is false are discarded before counting. */
bool tlsrpt_is_record(const char *txt, size_t len);

/* Of the n TXT answers txts[i] (lens[i] bytes each), the index of the one
 * TLSRPT record; -1 when none or more than one (RFC 8460 3: "If the number
 * of resulting records is not one, senders MUST assume the recipient
 * domain does not implement TLSRPT"). */
long tlsrpt_pick_record(const char *const *txts, const size_t *lens, size_t n);

/* Parses one record (len bytes, need not be NUL-terminated):
 * "v=TLSRPTv1; rua=mailto:a@example.com,https://r.example/v1". The
 * version must come first; then ';'-separated fields "name=value" (spaces
 * around fields and '=' allowed, empty fields tolerated); unknown fields
 * are ignored (RFC 8460 3), a field without '=' or with a malformed name
 * makes the record invalid. rua= (case-sensitive, may repeat) holds URIs
 * separated by ','; a URI that is not "scheme:..." in printable ASCII is
 * skipped. A mailto URI gives its address (before any '?', %XX decoded):
 * one RFC 5321 mailbox, or the URI is skipped. Returns 0 with *out filled,
 * or -1 (*out cleared) when: longer than TLSRPT_RECORD_MAX, a NUL byte,
 * no leading version, a malformed field, no rua= field, or no URI at all
 * in the rua= fields. A valid record may still have rua_count == 0. */
int tlsrpt_parse_txt(const char *rec, size_t len, struct tlsrpt_record *out);

/* Writes "_smtp._tls.DOMAIN" into out (one trailing dot of domain dropped).
 * Returns 0, or -1 when it does not fit or domain is empty. */
int tlsrpt_query_name(const char *domain, char *out, size_t out_size);

/* ------------------------------------------------------------------ */
/* Counters of one policy domain for one UTC day (RFC 8460 4)          */

enum tlsrpt_policy_type {
	TLSRPT_POLICY_NO_POLICY_FOUND = 0, /* "no-policy-found" */
	TLSRPT_POLICY_STS, /* "sts": MTA-STS (RFC 8461) */
	TLSRPT_POLICY_TLSA, /* "tlsa": DANE (RFC 7672) */
};

/* Result types of RFC 8460 4.3 (the IANA "STARTTLS Validation Result
 * Types" registry). */
enum tlsrpt_result {
	TLSRPT_RESULT_STARTTLS_NOT_SUPPORTED = 0,
	TLSRPT_RESULT_CERTIFICATE_HOST_MISMATCH,
	TLSRPT_RESULT_CERTIFICATE_EXPIRED,
	TLSRPT_RESULT_CERTIFICATE_NOT_TRUSTED,
	TLSRPT_RESULT_VALIDATION_FAILURE,
	TLSRPT_RESULT_TLSA_INVALID,
	TLSRPT_RESULT_DNSSEC_INVALID,
	TLSRPT_RESULT_DANE_REQUIRED,
	TLSRPT_RESULT_STS_POLICY_FETCH_ERROR,
	TLSRPT_RESULT_STS_POLICY_INVALID,
	TLSRPT_RESULT_STS_WEBPKI_INVALID,
	TLSRPT_RESULT_COUNT
};

/* "starttls-not-supported", ... ; "?" outside the enum. */
const char *tlsrpt_result_name(enum tlsrpt_result r);
/* The result named by name (len bytes, exact case). Returns 0 or -1. */
int tlsrpt_result_from_name(const char *name, size_t len, enum tlsrpt_result *out);
/* "no-policy-found", "sts", "tlsa"; "?" outside the enum. */
const char *tlsrpt_policy_type_name(enum tlsrpt_policy_type t);

/* One failure-details entry. Its key is (result, receiving_mx,
 * receiving_ip, sending_ip); "" means unknown and is left out of the
 * report. */
struct tlsrpt_failure {
	enum tlsrpt_result result;
	char receiving_mx[TLSRPT_HOST_MAX + 1]; /* receiving-mx-hostname */
	char receiving_ip[TLSRPT_IP_MAX + 1]; /* receiving-ip */
	char sending_ip[TLSRPT_IP_MAX + 1]; /* sending-mta-ip */
	/* failure-reason-code: the first non-empty one given for the key
	 * (not part of it), bytes outside printable ASCII replaced by '?'. */
	char reason[TLSRPT_REASON_MAX + 1];
	uint64_t count; /* failed-session-count, >= 1, saturating */
};

/* Embedded; tlsrpt_stats_init / tlsrpt_stats_fini. Counts saturate at
 * UINT64_MAX. One policy per day: setting a new one replaces the old (the
 * counts stay), so a report names the policy last in force. */
struct tlsrpt_domain_stats {
	char domain[TLSRPT_HOST_MAX + 1]; /* policy-domain, lower case */
	time_t day_start; /* 00:00:00 UTC of the day counted */
	enum tlsrpt_policy_type policy_type;
	char **policy_strings; /* owned: the array and each string */
	size_t policy_count;
	char **mx_hosts; /* owned: the array and each string */
	size_t mx_count;
	uint64_t success_count; /* total-successful-session-count */
	uint64_t failure_count; /* total-failure-session-count: every failure,
				   also those not in failures[] */
	struct tlsrpt_failure *failures; /* owned; grown up to
					    TLSRPT_FAILURES_MAX entries */
	size_t failure_detail_count;
	size_t failure_cap; /* entries allocated in failures */
};

/* The 00:00:00 UTC that starts the day holding t. */
time_t tlsrpt_day_start(time_t t);

/* Initialises *s empty (no-policy-found, no counts) for policy_domain (a
 * DNS name of letters, digits, '-', '_' and dots; one trailing dot dropped;
 * lower-cased) and the day starting at day_start (a multiple of 86400, from
 * tlsrpt_day_start). Returns 0, or -1 when the domain is not such a name or
 * day_start not a day start; *s is initialised (and empty) either way, so
 * tlsrpt_stats_fini is always right. */
int tlsrpt_stats_init(struct tlsrpt_domain_stats *s, const char *policy_domain,
		      time_t day_start);

/* Frees what *s owns and leaves it empty. Safe to call twice. */
void tlsrpt_stats_fini(struct tlsrpt_domain_stats *s);

/* Sets the policy: for sts the policy lines ("version: STSv1", "mode:
 * enforce", ...), for tlsa the TLSA records as text ("3 1 1 ab12..."), and
 * the MX host patterns; strings and mx are copied. For no-policy-found both
 * lists are ignored. Returns 0, or -1 (policy unchanged) when there are
 * more than TLSRPT_POLICY_STRINGS_MAX strings or TLSRPT_MX_HOSTS_MAX
 * patterns, a string is longer than TLSRPT_POLICY_STRING_MAX, a pattern is
 * not a host name (optionally "*." first) or type is not in the enum. */
int tlsrpt_stats_set_policy(struct tlsrpt_domain_stats *s, enum tlsrpt_policy_type type,
			    const char *const *strings, size_t n, const char *const *mx,
			    size_t nmx);

/* Counts one session that negotiated TLS as the policy required. */
void tlsrpt_stats_success(struct tlsrpt_domain_stats *s);

/* Counts one failed session into the total and into the failure-details
 * entry of its key (made when new). receiving_mx, receiving_ip, sending_ip
 * and reason may be NULL or "" (unknown); a longer reason is cut to
 * TLSRPT_REASON_MAX. Returns 0 when an entry holds the session, -1 when
 * only the total does: the table holds TLSRPT_FAILURES_MAX other keys, or
 * the host is not a host name, an IP not an IPv4/IPv6 address, result not
 * in the enum. */
int tlsrpt_stats_failure(struct tlsrpt_domain_stats *s, enum tlsrpt_result result,
			 const char *receiving_mx, const char *receiving_ip,
			 const char *sending_ip, const char *reason);

/* ------------------------------------------------------------------ */
/* Text form of the counters                                           */

/* The stats as text, LF line ends, NUL-terminated, owned by the caller
 * (free()); *len_out (may be NULL) gets the length. Version 1:
 *
 *   tlsrpt-stats 1 example.com 1796515200
 *   policy sts
 *   policy-string version:%20STSv1
 *   mx-host *.mx.example.com
 *   success 12
 *   failure certificate-expired mx1.example.com 192.0.2.1 - 3 -
 *   failure-other 2
 *
 * "policy" names the type and drops earlier strings; "policy-string" and
 * "mx-host" add one each. "failure" is result, receiving-mx, receiving-ip,
 * sending-ip, count, reason; "failure-other" counts failures outside the
 * entries. Strings are %XX-escaped (bytes <= 0x20, >= 0x7f and '%'), "-"
 * stands for "". */
char *tlsrpt_stats_serialize(const struct tlsrpt_domain_stats *s, size_t *len_out);

/* Reads text written by tlsrpt_stats_serialize (len bytes, need not be
 * NUL-terminated) into *out, which it initialises: whatever *out held is
 * not freed. The lines add up, so a file may be rewritten whole or grow by
 * appending further serialised records: a later "tlsrpt-stats" line must
 * name the same domain and day, counts are summed, the last "policy" wins.
 * A final line without LF (a torn append) is ignored; every other line must
 * be well-formed and at most TLSRPT_LINE_MAX bytes, so a writer that appends
 * must first cut such a torn tail. Limits are those of the live counters
 * (failures past TLSRPT_FAILURES_MAX distinct keys count in the total). Returns 0 (tlsrpt_stats_fini it later), or -1 with a
 * static reason in *err_out (may be NULL) and *out left empty. */
int tlsrpt_stats_parse(const char *text, size_t len, struct tlsrpt_domain_stats *out,
		       const char **err_out);

/* ------------------------------------------------------------------ */
/* The report                                                          */

/* The aggregate report of RFC 8460 4.4 for s as compact JSON (UTF-8,
 * NUL-terminated, owned by the caller), covering the UTC day starting at
 * day_start (normally s->day_start): "start-datetime" is
 * "YYYY-MM-DDT00:00:00Z", "end-datetime" "YYYY-MM-DDT23:59:59Z". One
 * policies[] entry; policy-string and mx-host are left out when empty (as
 * for no-policy-found); failure-details is always present, possibly empty.
 * Every string is escaped; invalid UTF-8 becomes U+FFFD, so the output is
 * valid JSON whatever the input. contact should be an address at the
 * submitter domain (RFC 8460 5.3). *len_out (may be NULL) gets the length.
 * Returns NULL only when day_start is outside years 0..9999. */
char *tlsrpt_report_json(const struct tlsrpt_domain_stats *s, const char *org_name,
			 const char *contact, const char *report_id, time_t day_start,
			 size_t *len);

/* Compresses len bytes of in into a gzip member (RFC 1952, zlib
 * deflateInit2 with windowBits 15+16, mtime 0, so the output depends on the
 * input only). *out is owned by the caller (free()). Returns 0, or -1 on a
 * zlib error (*out NULL, *out_len 0). */
int tlsrpt_gzip(const void *in, size_t len, unsigned char **out, size_t *out_len);

/* The attachment name of RFC 8460 5.1:
 * "submitter!policy-domain!begin!end!unique-id.json.gz" with begin the
 * day_start and end its last second (day_start + 86399), in seconds since
 * the epoch. Returns 0, or -1 when a name is invalid, unique_id is not
 * 1..64 letters and digits, or out_size is too small. */
int tlsrpt_report_filename(const char *submitter, const char *policy_domain,
			   time_t day_start, const char *unique_id, char *out,
			   size_t out_size);

/* What tlsrpt_message needs; borrowed for the call. */
struct tlsrpt_message_params {
	const char *from; /* From: mailbox, e.g. "tlsrpt-noreply@mx.example.org" */
	const char *to; /* one rua address (struct tlsrpt_record.rua[i]) */
	const char *policy_domain; /* TLS-Report-Domain */
	const char *submitter; /* TLS-Report-Submitter: the domain of the
				  report's contact-info address */
	/* "id-left@id-right" (dot-atom text both sides): the Subject's
	 * Report-ID and the Message-ID, both written "<report_id>". */
	const char *report_id;
	/* 1..64 letters and digits: the file name's unique-id and part of
	 * the MIME boundary. */
	const char *unique_id;
	time_t day_start; /* the day reported (file name timestamps) */
	time_t now; /* Date: */
	const void *gz; /* the report: tlsrpt_gzip(tlsrpt_report_json()) */
	size_t gz_len;
};

/* Builds the whole RFC 5322 report message (RFC 8460 5.3), CRLF line ends,
 * NUL-terminated, owned by the caller: From, To, Date, Message-ID,
 * Subject "Report Domain: D Submitter: S Report-ID: <ID>" (folded before
 * "Submitter:" and "Report-ID:" when longer than 78 characters),
 * TLS-Report-Domain, TLS-Report-Submitter, Auto-Submitted:
 * auto-generated, MIME-Version and Content-Type: multipart/report;
 * report-type="tlsrpt", then a text/plain part and the
 * application/tlsrpt+gzip part in base64 (76-character lines) named per
 * tlsrpt_report_filename. The boundary contains '_', which base64 never
 * does, so it cannot occur in the parts. *len_out (may be NULL) gets the
 * length. Returns NULL with a static reason in *err_out (may be NULL) when
 * an input is missing or malformed (which also keeps CR/LF out of every
 * header). */
char *tlsrpt_message(const struct tlsrpt_message_params *p, size_t *len_out,
		     const char **err_out);

#endif
