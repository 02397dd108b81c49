/* config: the one configuration parser (SPEC.md "Configuration file").
 *
 * A schema table in config.c lists every key with its type, default and
 * bounds. cfg_load() parses a file (or only the built-in defaults) into an
 * immutable struct config; every error is collected as "file:line: message"
 * and the load fails as a whole. Reload builds a new config and swaps it;
 * sessions keep the one they started with (refcounted by the owner). */
#ifndef KONVERT_CONFIG_CONFIG_H
#define KONVERT_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

/* One ADDR:PORT of a *_listen key. */
struct cfg_listen {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char text[80]; /* as written, normalised: "127.0.0.1:2525", "[::1]:2525" */
};

/* One CIDR of relay_networks. */
struct cfg_cidr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16]; /* network address, host bits cleared */
	unsigned prefix; /* 0..32 or 0..128 */
};

/* smarthost and dns_servers entries. host is a DNS name or a numeric
 * address; an IPv6 address is stored without brackets (so it contains ':').
 * The port defaults to 25 for smarthost and 53 for dns_servers. */
struct cfg_hostport {
	char host[256];
	uint16_t port;
};

enum cfg_relay_tls { CFG_RELAY_TLS_OPPORTUNISTIC, CFG_RELAY_TLS_REQUIRE, CFG_RELAY_TLS_OFF };
enum cfg_bare_newline { CFG_BARE_NEWLINE_NORMALIZE, CFG_BARE_NEWLINE_REJECT };
enum cfg_log { CFG_LOG_STDERR, CFG_LOG_SYSLOG };
enum cfg_plaintext_auth { CFG_PLAINTEXT_TLS, CFG_PLAINTEXT_TLS_OR_LOOPBACK, CFG_PLAINTEXT_ALWAYS };
enum cfg_bool { CFG_NO, CFG_YES };

struct cfg_listen_list {
	struct cfg_listen *items; /* owned */
	size_t count;
};

struct config {
	char *path; /* owned; file it came from, NULL for built-in defaults */
	char *hostname; /* owned */
	char **domains; /* owned, lower case, NULL-terminated */
	size_t domain_count;
	char *data_dir; /* owned */
	struct cfg_listen_list smtp_listen;
	struct cfg_listen_list submission_listen;
	struct cfg_listen_list smtps_listen;
	struct cfg_listen_list pop3_listen;
	struct cfg_listen_list pop3s_listen;
	struct cfg_listen_list pop2_listen;
	char *tls_cert; /* owned, NULL when unset */
	char *tls_key; /* owned, NULL when unset */
	uint64_t max_message_size;
	unsigned max_recipients;
	struct cfg_cidr *relay_networks; /* owned */
	size_t relay_network_count;
	bool has_smarthost;
	struct cfg_hostport smarthost;
	struct cfg_hostport *dns_servers; /* owned; host is a numeric address */
	size_t dns_server_count;
	uint16_t relay_port;
	unsigned smtp_timeout_ms;
	unsigned pop3_timeout_ms;
	unsigned max_sessions;
	unsigned max_sessions_per_ip;
	unsigned threads; /* event loops for sessions; 0: one per core */
	enum cfg_plaintext_auth plaintext_auth;
	unsigned *queue_retry_s; /* owned; at least one step */
	size_t queue_retry_count;
	uint64_t queue_lifetime_s;
	uint64_t delay_warning_s; /* 0: off */
	enum cfg_relay_tls relay_tls;
	char *smarthost_auth; /* owned, "user:password", NULL when unset */
	char *run_as; /* owned */
	unsigned tls_handshake_timeout_ms; /* each TLS handshake, from its start */
	unsigned data_timeout_ms; /* one whole DATA/BDAT message transfer */
	enum cfg_bool dkim_sign; /* sign mail from local domains (submission, smtps, sendmail) */
	enum cfg_bool auth_checks; /* SPF, DKIM, DMARC of mail received on the smtp listener */
	enum cfg_bool dmarc_enforce; /* act on a failing sender's DMARC p=reject / quarantine */
	enum cfg_bool dnssec; /* trust the resolver's AD bit: DANE */
	char *tls_trust_file; /* owned, NULL: the system store (MTA-STS, smarthost) */
	uint16_t mta_sts_port; /* HTTPS port of MTA-STS policy hosts */
	enum cfg_bare_newline bare_newline; /* a bare LF in DATA/BDAT */
	enum cfg_log log; /* where log lines go */
	struct cfg_listen_list metrics_listen; /* Prometheus endpoint; empty: off */
};

/* Loads path (NULL: built-in defaults only). On failure returns -1, *out
 * is NULL and *errors_out is an owned list of "file:line: key: message"
 * lines joined by '\n' without a trailing one (free with free()); a file
 * that cannot be opened is reported as "file:0: cannot open: ...". On
 * success returns 0, *out is an owned config and *errors_out is NULL.
 * errors_out may be NULL. */
int cfg_load(const char *path, struct config **out, char **errors_out);

/* Resolves the -c rule of SPEC.md: explicit path, else $KONVERT_CONF, else
 * ./konvert.conf when it exists, else NULL (built-in defaults). */
const char *cfg_default_path(const char *explicit_path);

void cfg_free(struct config **pp);

/* For a reload (SIGHUP): compares every key of next with running. Keys
 * flagged restart-only whose value changed take the running value back
 * (next is then what the server really runs) and are listed in restart;
 * the keys that change live are listed in changed. Both lists are
 * "key key ..." (cut to fit, NUL-terminated; "" when none). Returns how
 * many keys need a restart. */
size_t cfg_reload_merge(struct config *next, const struct config *running, char *changed,
			size_t changed_size, char *restart, size_t restart_size);

/* True when domain (any case, len bytes) is one of the local domains. */
bool cfg_is_local_domain(const struct config *cfg, const char *domain, size_t len);

/* True when the address falls in relay_networks. */
bool cfg_in_relay_networks(const struct config *cfg, const struct sockaddr *sa);

/* True when sa matches one of the CIDRs. */
bool cfg_cidr_match(const struct cfg_cidr *cidrs, size_t n, const struct sockaddr *sa);

/* Parses a duration ("30", "30s", "5m", "4h", "5d") into seconds: digits
 * and at most one suffix, nothing else. Returns -1 on bad syntax or
 * overflow, leaving *seconds_out untouched. */
int cfg_parse_duration(const char *s, uint64_t *seconds_out);

/* Writes the effective configuration as key = value lines, one per key in
 * schema order, in a form cfg_load accepts again. smarthost_auth is shown
 * as "user:***", never with its password. */
void cfg_dump(const struct config *cfg, FILE *out);

#endif
