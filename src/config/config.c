/* config: the one parser for konvert.conf (SPEC.md "Configuration file").
 *
 * Owns the schema table (one row per key: type, default text, bounds, field
 * in struct config), the line reader, error collection, lists, cross-key
 * checks, load/free and cfg_dump; one value's syntax is config_value.c's.
 * Defaults are parsed from their text like file values, so the two cannot
 * drift apart. It never logs and never exits: errors are collected as
 * "file:line: key: problem" and handed back; the caller decides. */
#include "config/config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config/config_value.h"
#include "core/alloc.h"
#include "core/kassert.h"
#include "core/limits.h"

enum cfg_type {
	CFG_T_STRING,
	CFG_T_HOSTNAME, /* RFC 1123 host name, case kept */
	CFG_T_USERPASS, /* "user:password" */
	CFG_T_HOSTPORT, /* smarthost: name or literal, optional :port */
	CFG_T_LIST, /* space-separated items, see struct cfg_list_type */
	CFG_T_SIZE, /* uint64_t bytes, optional k/M/G suffix */
	CFG_T_COUNT, /* unsigned */
	CFG_T_PORT, /* uint16_t */
	CFG_T_TIMEOUT_MS, /* unsigned ms, written as a duration */
	CFG_T_DURATION, /* uint64_t seconds */
	CFG_T_ENUM, /* int-sized enum, value = index into names */
};

#define CFG_F_OPTIONAL 0x1u /* empty value means unset (NULL) */
#define CFG_F_SECRET 0x2u /* never echoed in errors or cfg_dump */
#define CFG_F_ONE_WORD 0x4u /* no whitespace inside the value */
#define CFG_F_NONEMPTY 0x8u /* a list needs at least one item */
#define CFG_F_RESTART 0x10u /* a change needs a restart, not a reload */

struct cfg_key;

/* Element type of a CFG_T_LIST key: an array at off, its length at aux_off
 * (the array always has one zeroed slot past the end: domains relies on it
 * for its NULL terminator). */
struct cfg_list_type {
	size_t size; /* bytes per item */
	size_t max; /* most items accepted */
	/* Parses tok (writable, NUL-terminated) into items[n]; items[0..n) are
	 * the ones before it, for duplicate checks. */
	int (*parse_one)(const struct cfg_key *k, char *tok, void *items,
			 size_t n, char *err, size_t err_len);
	void (*dump_one)(const void *item, FILE *out);
	void (*free_one)(void *item); /* NULL: nothing owned inside */
};

struct cfg_key {
	const char *name;
	enum cfg_type type;
	const char *def; /* default, parsed like a file value; "" = unset/off */
	uint64_t min, max; /* numbers, durations (s), list items */
	size_t off; /* the field in struct config */
	size_t aux_off; /* list length, or has_smarthost */
	const struct cfg_list_type *list; /* CFG_T_LIST */
	const char *const *names; /* CFG_T_ENUM: names, index = enum value */
	unsigned flags;
};

#define F(field) offsetof(struct config, field)

/* The binary "make install" builds (-DKONVERT_INSTALLED) follows the FHS:
 * its default file is /etc/konvert/konvert.conf and its state lives in
 * /var/lib/konvert. The one "make" builds in the tree keeps both beside
 * the checkout for "make run" (SPEC.md "Command line"). The installed
 * binary never reads ./konvert.conf: root running it from some directory
 * must not pick up a stray file there. */
#ifdef KONVERT_INSTALLED
#define CFG_DEFAULT_FILE "/etc/konvert/konvert.conf"
#define CFG_DEFAULT_DATA_DIR "/var/lib/konvert"
#else
#define CFG_DEFAULT_FILE "konvert.conf"
#define CFG_DEFAULT_DATA_DIR "./var"
#endif

/* Enum keys are stored through an int; both enums must be int-sized. */
_Static_assert(sizeof(enum cfg_relay_tls) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cfg_plaintext_auth) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cfg_bool) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cfg_bare_newline) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cfg_log) == sizeof(int), "enum size");

static const char *const cfg_log_names[] = {
	[CFG_LOG_STDERR] = "stderr",
	[CFG_LOG_SYSLOG] = "syslog",
	NULL,
};

static const char *const cfg_bare_newline_names[] = {
	[CFG_BARE_NEWLINE_NORMALIZE] = "normalize",
	[CFG_BARE_NEWLINE_REJECT] = "reject",
	NULL,
};

static const char *const cfg_bool_names[] = {
	[CFG_NO] = "no",
	[CFG_YES] = "yes",
	NULL,
};

static const char *const cfg_plaintext_names[] = {
	[CFG_PLAINTEXT_TLS] = "tls",
	[CFG_PLAINTEXT_TLS_OR_LOOPBACK] = "tls-or-loopback",
	[CFG_PLAINTEXT_ALWAYS] = "always",
	NULL,
};

static const char *const cfg_relay_tls_names[] = {
	[CFG_RELAY_TLS_OPPORTUNISTIC] = "opportunistic",
	[CFG_RELAY_TLS_REQUIRE] = "require",
	[CFG_RELAY_TLS_OFF] = "off",
	NULL,
};

static const struct cfg_list_type cfg_domain_list, cfg_listen_list,
	cfg_cidr_list, cfg_dns_list, cfg_duration_list;

#define LISTEN_KEY(key, dflt)                                              \
	{ .name = #key, .type = CFG_T_LIST, .def = dflt,                   \
	  .off = F(key.items), .aux_off = F(key.count),                    \
	  .list = &cfg_listen_list }

/* The schema: SPEC.md's table, in its order. */
static const struct cfg_key cfg_keys[] = {
	{ .name = "hostname", .type = CFG_T_HOSTNAME, .def = "localhost",
	  .off = F(hostname) },
	{ .name = "domains", .type = CFG_T_LIST, .def = "localhost",
	  .off = F(domains), .aux_off = F(domain_count),
	  .list = &cfg_domain_list, .flags = CFG_F_NONEMPTY },
	{ .name = "data_dir", .type = CFG_T_STRING, .def = CFG_DEFAULT_DATA_DIR,
	  .off = F(data_dir), .flags = CFG_F_RESTART },
	LISTEN_KEY(smtp_listen, "127.0.0.1:2525"),
	LISTEN_KEY(submission_listen, "127.0.0.1:5870"),
	LISTEN_KEY(smtps_listen, "127.0.0.1:4650"),
	LISTEN_KEY(pop3_listen, "127.0.0.1:1100"),
	LISTEN_KEY(pop3s_listen, "127.0.0.1:9950"),
	LISTEN_KEY(pop2_listen, "127.0.0.1:1090"),
	{ .name = "tls_cert", .type = CFG_T_STRING, .def = "",
	  .off = F(tls_cert), .flags = CFG_F_OPTIONAL },
	{ .name = "tls_key", .type = CFG_T_STRING, .def = "",
	  .off = F(tls_key), .flags = CFG_F_OPTIONAL },
	{ .name = "max_message_size", .type = CFG_T_SIZE, .def = "26214400",
	  .min = 1, .max = SMTP_MESSAGE_SIZE_CEILING,
	  .off = F(max_message_size) },
	/* RFC 5321 4.5.3.1.8 asks for 100; lowering it is the admin's call. */
	{ .name = "max_recipients", .type = CFG_T_COUNT, .def = "100",
	  .min = 1, .max = SMTP_RCPTS_CEILING, .off = F(max_recipients) },
	{ .name = "relay_networks", .type = CFG_T_LIST,
	  .def = "127.0.0.0/8 ::1/128", .off = F(relay_networks),
	  .aux_off = F(relay_network_count), .list = &cfg_cidr_list },
	{ .name = "smarthost", .type = CFG_T_HOSTPORT, .def = "",
	  .off = F(smarthost), .aux_off = F(has_smarthost) },
	/* The resolver is made at start. */
	{ .name = "dns_servers", .type = CFG_T_LIST, .def = "",
	  .off = F(dns_servers), .aux_off = F(dns_server_count),
	  .list = &cfg_dns_list, .flags = CFG_F_RESTART },
	{ .name = "relay_port", .type = CFG_T_PORT, .def = "25",
	  .min = 1, .max = 65535, .off = F(relay_port) },
	{ .name = "smtp_timeout", .type = CFG_T_TIMEOUT_MS, .def = "5m",
	  .min = 1, .max = CFGV_DAY_S, .off = F(smtp_timeout_ms) },
	{ .name = "pop3_timeout", .type = CFG_T_TIMEOUT_MS, .def = "10m",
	  .min = 1, .max = CFGV_DAY_S, .off = F(pop3_timeout_ms) },
	{ .name = "max_sessions", .type = CFG_T_COUNT, .def = "20000",
	  .min = 1, .max = 1000000, .off = F(max_sessions) },
	{ .name = "max_sessions_per_ip", .type = CFG_T_COUNT, .def = "100",
	  .min = 1, .max = 1000000, .off = F(max_sessions_per_ip) },
	{ .name = "threads", .type = CFG_T_COUNT, .def = "0",
	  .min = 0, .max = 256, .off = F(threads), .flags = CFG_F_RESTART },
	{ .name = "plaintext_auth", .type = CFG_T_ENUM,
	  .def = "tls-or-loopback", .names = cfg_plaintext_names,
	  .off = F(plaintext_auth) },
	{ .name = "queue_retry", .type = CFG_T_LIST,
	  .def = "5m 10m 20m 40m 1h 2h 4h", .min = 1, .max = 30 * CFGV_DAY_S,
	  .off = F(queue_retry_s), .aux_off = F(queue_retry_count),
	  .list = &cfg_duration_list, .flags = CFG_F_NONEMPTY },
	{ .name = "queue_lifetime", .type = CFG_T_DURATION, .def = "5d",
	  .min = 1, .max = 365 * CFGV_DAY_S, .off = F(queue_lifetime_s) },
	{ .name = "delay_warning", .type = CFG_T_DURATION, .def = "4h",
	  .min = 0, .max = 365 * CFGV_DAY_S, .off = F(delay_warning_s) },
	{ .name = "relay_tls", .type = CFG_T_ENUM, .def = "opportunistic",
	  .names = cfg_relay_tls_names, .off = F(relay_tls) },
	{ .name = "smarthost_auth", .type = CFG_T_USERPASS, .def = "",
	  .off = F(smarthost_auth), .flags = CFG_F_OPTIONAL | CFG_F_SECRET },
	{ .name = "run_as", .type = CFG_T_STRING, .def = "konvert",
	  .off = F(run_as), .flags = CFG_F_ONE_WORD | CFG_F_RESTART },
	/* A stalled ClientHello holds a session (and OpenSSL's buffers)
	 * only this long, whatever smtp_timeout / pop3_timeout say. */
	{ .name = "tls_handshake_timeout", .type = CFG_T_TIMEOUT_MS, .def = "30s",
	  .min = 1, .max = CFGV_DAY_S, .off = F(tls_handshake_timeout_ms) },
	/* Bounds the whole transfer of one message, however it is spaced
	 * out; 10 minutes as RFC 5321 4.5.3.2.6 (the longest of its timers,
	 * the one a client gives our reply to the end of data). */
	{ .name = "data_timeout", .type = CFG_T_TIMEOUT_MS, .def = "10m",
	  .min = 1, .max = CFGV_DAY_S, .off = F(data_timeout_ms) },
	/* Keys are made at start; a change needs a restart. */
	{ .name = "dkim_sign", .type = CFG_T_ENUM, .def = "yes",
	  .names = cfg_bool_names, .off = F(dkim_sign), .flags = CFG_F_RESTART },
	{ .name = "auth_checks", .type = CFG_T_ENUM, .def = "yes",
	  .names = cfg_bool_names, .off = F(auth_checks) },
	{ .name = "dmarc_enforce", .type = CFG_T_ENUM, .def = "yes",
	  .names = cfg_bool_names, .off = F(dmarc_enforce) },
	/* DANE (RFC 7672) trusts the resolver's AD bit: only with a
	 * validating resolver on a trusted path (loopback). */
	{ .name = "dnssec", .type = CFG_T_ENUM, .def = "no",
	  .names = cfg_bool_names, .off = F(dnssec) },
	/* The client TLS context is built at start. */
	{ .name = "tls_trust_file", .type = CFG_T_STRING, .def = "",
	  .off = F(tls_trust_file), .flags = CFG_F_OPTIONAL | CFG_F_RESTART },
	{ .name = "mta_sts_port", .type = CFG_T_PORT, .def = "443",
	  .min = 1, .max = 65535, .off = F(mta_sts_port) },
	/* Postfix 3.9's smtpd_forbid_bare_newline = normalize: a line
	 * ending in a bare LF is read as a CRLF line. Only CRLF . CRLF ends
	 * DATA either way, so no smuggling variant splits a message. */
	{ .name = "bare_newline", .type = CFG_T_ENUM, .def = "normalize",
	  .names = cfg_bare_newline_names, .off = F(bare_newline) },
	{ .name = "log", .type = CFG_T_ENUM, .def = "stderr",
	  .names = cfg_log_names, .off = F(log) },
	LISTEN_KEY(metrics_listen, ""),
};

#define CFG_KEY_COUNT (sizeof cfg_keys / sizeof cfg_keys[0])

/* ---- small helpers ---- */

static void *field(struct config *cfg, size_t off)
{
	return (char *)cfg + off;
}

static const void *cfield(const struct config *cfg, size_t off)
{
	return (const char *)cfg + off;
}

/* Pointer fields of differing types, reached through the schema. */
static void *get_ptr(const struct config *cfg, size_t off)
{
	void *p;

	memcpy(&p, cfield(cfg, off), sizeof p);
	return p;
}

static void set_ptr(struct config *cfg, size_t off, void *p)
{
	memcpy(field(cfg, off), &p, sizeof p);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Returns the next space-separated token of *pp, or NULL at the end. */
static const char *next_token(const char **pp, size_t *len_out)
{
	const char *p = *pp, *start;

	while (is_space(*p))
		p++;
	start = p;
	while (*p != '\0' && !is_space(*p))
		p++;
	*len_out = (size_t)(p - start);
	*pp = p;
	return p == start ? NULL : start;
}

/* ---- strings ---- */

static void clear_string(const struct cfg_key *k, struct config *cfg)
{
	char *s = get_ptr(cfg, k->off);

	if (s != NULL && (k->flags & CFG_F_SECRET))
		explicit_bzero(s, strlen(s));
	free(s);
	set_ptr(cfg, k->off, NULL);
}

static int parse_string(const struct cfg_key *k, const char *v,
			struct config *cfg, char *err, size_t err_len)
{
	const char *colon = strchr(v, ':');

	if (*v == '\0' && !(k->flags & CFG_F_OPTIONAL))
		return cfgv_fail(err, err_len, "value is empty");
	if (k->flags & CFG_F_ONE_WORD) {
		for (const char *p = v; *p != '\0'; p++)
			if (is_space(*p))
				return cfgv_fail(
					err, err_len,
					"'%.*s' must not contain spaces",
					CFGV_SHOWN_MAX, v);
	}
	if (k->type == CFG_T_HOSTNAME && !cfgv_is_valid_domain(v, strlen(v)))
		return cfgv_fail(err, err_len,
				 "'%.*s' is not a valid host name",
				 CFGV_SHOWN_MAX, v);
	/* The password may hold anything but '#'; it is never echoed. */
	if (k->type == CFG_T_USERPASS && *v != '\0') {
		if (colon == NULL || colon == v)
			return cfgv_fail(err, err_len,
					 "expected USER:PASSWORD");
		for (const char *p = v; p < colon; p++)
			if (is_space(*p))
				return cfgv_fail(err, err_len,
						 "user name contains a space");
	}
	clear_string(k, cfg);
	if (*v != '\0')
		set_ptr(cfg, k->off, xstrdup(v));
	return 0;
}

static void dump_string(const struct cfg_key *k, const struct config *cfg,
			FILE *out)
{
	const char *s = get_ptr(cfg, k->off);

	if (s != NULL && k->type == CFG_T_USERPASS)
		fprintf(out, "%.*s:***", (int)strcspn(s, ":"), s);
	else if (s != NULL)
		fputs(s, out);
}

/* ---- smarthost ---- */

static void clear_hostport(const struct cfg_key *k, struct config *cfg)
{
	memset(field(cfg, k->off), 0, sizeof(struct cfg_hostport));
	*(bool *)field(cfg, k->aux_off) = false;
}

static int parse_hostport(const struct cfg_key *k, const char *v,
			  struct config *cfg, char *err, size_t err_len)
{
	struct cfg_hostport hp;

	if (*v == '\0') {
		clear_hostport(k, cfg);
		return 0;
	}
	if (cfgv_parse_hostport(v, &hp, err, err_len) < 0)
		return -1;
	*(struct cfg_hostport *)field(cfg, k->off) = hp;
	*(bool *)field(cfg, k->aux_off) = true;
	return 0;
}

static void dump_hostport(const struct cfg_key *k, const struct config *cfg,
			  FILE *out)
{
	const struct cfg_hostport *hp = cfield(cfg, k->off);

	if (*(const bool *)cfield(cfg, k->aux_off))
		cfgv_print_hostport(hp->host, hp->port, out);
}

/* ---- list items ---- */

static int parse_domain_one(const struct cfg_key *k, char *tok, void *items,
			    size_t n, char *err, size_t err_len)
{
	char **list = items;

	(void)k;
	if (cfgv_parse_domain(tok, err, err_len) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], tok) == 0)
			return cfgv_fail(err, err_len,
					 "duplicate domain '%s'", tok);
	list[n] = xstrdup(tok);
	return 0;
}

static void dump_domain_one(const void *item, FILE *out)
{
	fputs(*(char *const *)item, out);
}

static void free_domain_one(void *item)
{
	free(*(char **)item);
}

static int parse_listen_one(const struct cfg_key *k, char *tok, void *items,
			    size_t n, char *err, size_t err_len)
{
	struct cfg_listen *li = (struct cfg_listen *)items + n;

	(void)k;
	if (cfgv_parse_listen(tok, li, err, err_len) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strcmp(((struct cfg_listen *)items)[i].text, li->text) == 0)
			return cfgv_fail(err, err_len, "'%s' is listed twice",
					 li->text);
	return 0;
}

static void dump_listen_one(const void *item, FILE *out)
{
	fputs(((const struct cfg_listen *)item)->text, out);
}

static int parse_cidr_one(const struct cfg_key *k, char *tok, void *items,
			  size_t n, char *err, size_t err_len)
{
	(void)k;
	return cfgv_parse_cidr(tok, (struct cfg_cidr *)items + n, err, err_len);
}

static void dump_cidr_one(const void *item, FILE *out)
{
	cfgv_print_cidr(item, out);
}

static int parse_dns_one(const struct cfg_key *k, char *tok, void *items,
			 size_t n, char *err, size_t err_len)
{
	(void)k;
	return cfgv_parse_dns(tok, (struct cfg_hostport *)items + n, err,
			      err_len);
}

static void dump_dns_one(const void *item, FILE *out)
{
	const struct cfg_hostport *hp = item;

	cfgv_print_hostport(hp->host, hp->port, out);
}

static int parse_duration_one(const struct cfg_key *k, char *tok,
			      void *items, size_t n, char *err, size_t err_len)
{
	uint64_t s;
	char lo[32], hi[32];

	if (cfg_parse_duration(tok, &s) < 0)
		return cfgv_fail(err, err_len, "'%.*s' is not a duration "
				 "(number with s, m, h or d)", CFGV_SHOWN_MAX,
				 tok);
	if (s < k->min || s > k->max) {
		cfgv_fmt_duration(k->min, lo, sizeof lo);
		cfgv_fmt_duration(k->max, hi, sizeof hi);
		return cfgv_fail(err, err_len, "'%.*s' is out of range %s..%s",
				 CFGV_SHOWN_MAX, tok, lo, hi);
	}
	KASSERT(k->max <= UINT32_MAX);
	((unsigned *)items)[n] = (unsigned)s;
	return 0;
}

static void dump_duration_one(const void *item, FILE *out)
{
	char buf[32];

	cfgv_fmt_duration(*(const unsigned *)item, buf, sizeof buf);
	fputs(buf, out);
}

static const struct cfg_list_type cfg_domain_list = {
	sizeof(char *), 1024, parse_domain_one, dump_domain_one,
	free_domain_one,
};
static const struct cfg_list_type cfg_listen_list = {
	sizeof(struct cfg_listen), 64, parse_listen_one, dump_listen_one, NULL,
};
static const struct cfg_list_type cfg_cidr_list = {
	sizeof(struct cfg_cidr), 1024, parse_cidr_one, dump_cidr_one, NULL,
};
static const struct cfg_list_type cfg_dns_list = {
	sizeof(struct cfg_hostport), 16, parse_dns_one, dump_dns_one, NULL,
};
static const struct cfg_list_type cfg_duration_list = {
	sizeof(unsigned), 64, parse_duration_one, dump_duration_one, NULL,
};

/* ---- lists ---- */

static void free_items(const struct cfg_list_type *lt, unsigned char *items,
		       size_t n)
{
	for (size_t i = 0; lt->free_one != NULL && i < n; i++)
		lt->free_one(items + i * lt->size);
	free(items);
}

static void clear_list(const struct cfg_key *k, struct config *cfg)
{
	free_items(k->list, get_ptr(cfg, k->off),
		   *(size_t *)field(cfg, k->aux_off));
	set_ptr(cfg, k->off, NULL);
	*(size_t *)field(cfg, k->aux_off) = 0;
}

static int parse_list(const struct cfg_key *k, const char *v,
		      struct config *cfg, char *err, size_t err_len)
{
	const struct cfg_list_type *lt = k->list;
	unsigned char *items = xcalloc(1, lt->size);
	size_t n = 0, len, bytes;
	const char *tok;
	char buf[CFGV_TOKEN_MAX];

	while ((tok = next_token(&v, &len)) != NULL) {
		if (n == lt->max) {
			cfgv_fail(err, err_len, "more than %zu items", lt->max);
			goto bad;
		}
		if (len >= sizeof buf) {
			cfgv_fail(err, err_len, "'%.*s...' is too long",
				  CFGV_SHOWN_MAX, tok);
			goto bad;
		}
		memcpy(buf, tok, len);
		buf[len] = '\0';
		/* n + 2 items: the new one and the zeroed terminator. */
		bytes = (n + 2) * lt->size;
		items = xrealloc(items, bytes);
		memset(items + n * lt->size, 0, 2 * lt->size);
		if (lt->parse_one(k, buf, items, n, err, err_len) < 0)
			goto bad;
		n++;
	}
	if (n == 0 && (k->flags & CFG_F_NONEMPTY)) {
		cfgv_fail(err, err_len, "at least one item is needed");
		goto bad;
	}
	clear_list(k, cfg);
	set_ptr(cfg, k->off, n ? items : NULL);
	if (n == 0)
		free(items);
	*(size_t *)field(cfg, k->aux_off) = n;
	return 0;
bad:
	free_items(lt, items, n);
	return -1;
}

static void dump_list(const struct cfg_key *k, const struct config *cfg,
		      FILE *out)
{
	const unsigned char *items = get_ptr(cfg, k->off);
	size_t n = *(const size_t *)cfield(cfg, k->aux_off);

	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			fputc(' ', out);
		k->list->dump_one(items + i * k->list->size, out);
	}
}

/* ---- numbers, durations, enums ---- */

static void clear_nothing(const struct cfg_key *k, struct config *cfg)
{
	(void)k;
	(void)cfg;
}

static int parse_number(const struct cfg_key *k, const char *v,
			struct config *cfg, char *err, size_t err_len)
{
	bool is_time = k->type == CFG_T_DURATION || k->type == CFG_T_TIMEOUT_MS;
	const char *what = "a number";
	char lo[32], hi[32];
	uint64_t n;
	int rc;

	if (k->type == CFG_T_SIZE) {
		rc = cfgv_parse_size(v, &n);
		what = "a size (bytes, optional k/M/G suffix)";
	} else if (is_time) {
		rc = cfg_parse_duration(v, &n);
		what = "a duration (number with s, m, h or d)";
	} else {
		rc = cfgv_parse_uint(v, &n);
	}
	if (rc < 0)
		return cfgv_fail(err, err_len, "'%.*s' is not %s",
				 CFGV_SHOWN_MAX, v, what);
	if (n < k->min || n > k->max) {
		if (is_time) {
			cfgv_fmt_duration(k->min, lo, sizeof lo);
			cfgv_fmt_duration(k->max, hi, sizeof hi);
		} else {
			snprintf(lo, sizeof lo, "%" PRIu64, k->min);
			snprintf(hi, sizeof hi, "%" PRIu64, k->max);
		}
		return cfgv_fail(err, err_len, "'%.*s' is out of range %s..%s",
				 CFGV_SHOWN_MAX, v, lo, hi);
	}
	switch (k->type) {
	case CFG_T_COUNT:
		KASSERT(k->max <= UINT32_MAX);
		*(unsigned *)field(cfg, k->off) = (unsigned)n;
		break;
	case CFG_T_PORT:
		KASSERT(k->max <= UINT16_MAX);
		*(uint16_t *)field(cfg, k->off) = (uint16_t)n;
		break;
	case CFG_T_TIMEOUT_MS:
		KASSERT(k->max <= UINT32_MAX / 1000);
		*(unsigned *)field(cfg, k->off) = (unsigned)n * 1000;
		break;
	default:
		*(uint64_t *)field(cfg, k->off) = n;
		break;
	}
	return 0;
}

static void dump_number(const struct cfg_key *k, const struct config *cfg,
			FILE *out)
{
	const void *p = cfield(cfg, k->off);
	char buf[32];

	switch (k->type) {
	case CFG_T_COUNT:
		fprintf(out, "%u", *(const unsigned *)p);
		break;
	case CFG_T_PORT:
		fprintf(out, "%u", (unsigned)*(const uint16_t *)p);
		break;
	case CFG_T_TIMEOUT_MS:
		cfgv_fmt_duration(*(const unsigned *)p / 1000, buf, sizeof buf);
		fputs(buf, out);
		break;
	case CFG_T_DURATION:
		cfgv_fmt_duration(*(const uint64_t *)p, buf, sizeof buf);
		fputs(buf, out);
		break;
	default:
		fprintf(out, "%" PRIu64, *(const uint64_t *)p);
		break;
	}
}

static int parse_enum(const struct cfg_key *k, const char *v,
		      struct config *cfg, char *err, size_t err_len)
{
	char choices[128];
	size_t used = 0;

	for (int i = 0; k->names[i] != NULL; i++) {
		if (strcasecmp(v, k->names[i]) == 0) {
			memcpy(field(cfg, k->off), &i, sizeof i);
			return 0;
		}
	}
	choices[0] = '\0';
	for (int i = 0; k->names[i] != NULL; i++) {
		int w = snprintf(choices + used, sizeof choices - used, "%s%s",
				 i ? ", " : "", k->names[i]);

		KASSERT(w > 0 && (size_t)w < sizeof choices - used);
		used += (size_t)w;
	}
	return cfgv_fail(err, err_len, "'%.*s' is not one of: %s",
			 CFGV_SHOWN_MAX, v, choices);
}

static void dump_enum(const struct cfg_key *k, const struct config *cfg,
		      FILE *out)
{
	int i;

	memcpy(&i, cfield(cfg, k->off), sizeof i);
	fputs(k->names[i], out);
}

struct cfg_type_ops {
	/* Parses v (trimmed, NUL-terminated) into the key's field, replacing
	 * the old value only on success. On failure writes a message that
	 * repeats neither the key name nor a secret value. */
	int (*parse)(const struct cfg_key *k, const char *v,
		     struct config *cfg, char *err, size_t err_len);
	void (*dump)(const struct cfg_key *k, const struct config *cfg,
		     FILE *out);
	void (*clear)(const struct cfg_key *k, struct config *cfg);
};

static const struct cfg_type_ops cfg_type_ops[] = {
	[CFG_T_STRING] = { parse_string, dump_string, clear_string },
	[CFG_T_HOSTNAME] = { parse_string, dump_string, clear_string },
	[CFG_T_USERPASS] = { parse_string, dump_string, clear_string },
	[CFG_T_HOSTPORT] = { parse_hostport, dump_hostport, clear_hostport },
	[CFG_T_LIST] = { parse_list, dump_list, clear_list },
	[CFG_T_SIZE] = { parse_number, dump_number, clear_nothing },
	[CFG_T_COUNT] = { parse_number, dump_number, clear_nothing },
	[CFG_T_PORT] = { parse_number, dump_number, clear_nothing },
	[CFG_T_TIMEOUT_MS] = { parse_number, dump_number, clear_nothing },
	[CFG_T_DURATION] = { parse_number, dump_number, clear_nothing },
	[CFG_T_ENUM] = { parse_enum, dump_enum, clear_nothing },
};

/* ---- the file ---- */

struct cfg_errors {
	char *text; /* owned; lines joined by '\n' */
	size_t len, cap;
};

__attribute__((format(printf, 4, 5)))
static void errs_add(struct cfg_errors *e, const char *file, unsigned line,
		     const char *fmt, ...)
{
	char msg[512];
	size_t need;
	va_list ap;
	int n;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* "\n" + file + ":" + up to 10 digits + ": " + msg + NUL */
	need = e->len + strlen(file) + strlen(msg) + 16;
	if (need > e->cap) {
		e->cap = need * 2;
		e->text = xrealloc(e->text, e->cap);
	}
	n = snprintf(e->text + e->len, e->cap - e->len, "%s%s:%u: %s",
		     e->len ? "\n" : "", file, line, msg);
	KASSERT(n > 0 && (size_t)n < e->cap - e->len);
	e->len += (size_t)n;
}

static const struct cfg_key *find_key(const char *name)
{
	for (size_t i = 0; i < CFG_KEY_COUNT; i++)
		if (strcmp(cfg_keys[i].name, name) == 0)
			return &cfg_keys[i];
	return NULL;
}

static size_t key_index(const char *name)
{
	const struct cfg_key *k = find_key(name);

	KASSERT(k != NULL);
	return (size_t)(k - cfg_keys);
}

static char *trim(char *s)
{
	char *end;

	while (is_space(*s))
		s++;
	end = s + strlen(s);
	while (end > s && is_space(end[-1]))
		end--;
	*end = '\0';
	return s;
}

/* Reads one line (without '\n') into buf of FILE_LINE_MAX + 1 bytes.
 * Returns 1 for a line, 0 at end of file, -1 on a read error. A longer
 * line is consumed to its end and flagged, as is a NUL byte. */
static int read_line(FILE *f, char *buf, size_t *len_out, bool *too_long_out,
		     bool *has_nul_out)
{
	size_t len = 0;
	bool any = false;
	int c;

	*too_long_out = false;
	*has_nul_out = false;
	while ((c = getc(f)) != EOF) {
		any = true;
		if (c == '\n')
			break;
		if (c == '\0')
			*has_nul_out = true;
		if (len < FILE_LINE_MAX)
			buf[len++] = (char)c;
		else
			*too_long_out = true;
	}
	buf[len] = '\0';
	*len_out = len;
	if (ferror(f))
		return -1;
	return any ? 1 : 0;
}

/* Handles one line; set_line[] records where each key was given. */
static void parse_line(struct config *cfg, const char *file, unsigned lineno,
		       char *line, unsigned *set_line, struct cfg_errors *errs)
{
	char *eq, *key, *value, err[400];
	const struct cfg_key *k;
	size_t idx;

	line[strcspn(line, "#")] = '\0';
	line = trim(line);
	if (*line == '\0')
		return;
	eq = strchr(line, '=');
	if (eq == NULL) {
		errs_add(errs, file, lineno, "expected 'key = value'");
		return;
	}
	*eq = '\0';
	key = trim(line);
	value = trim(eq + 1);
	if (*key == '\0') {
		errs_add(errs, file, lineno, "missing key before '='");
		return;
	}
	k = find_key(key);
	if (k == NULL) {
		errs_add(errs, file, lineno, "unknown key '%.*s'",
			 CFGV_SHOWN_MAX, key);
		return;
	}
	idx = (size_t)(k - cfg_keys);
	if (set_line[idx] != 0) {
		errs_add(errs, file, lineno,
			 "%s: duplicate key (first set on line %u)", k->name,
			 set_line[idx]);
		return;
	}
	set_line[idx] = lineno;
	if (cfg_type_ops[k->type].parse(k, value, cfg, err, sizeof err) < 0)
		errs_add(errs, file, lineno, "%s: %s", k->name, err);
}

static void load_file(struct config *cfg, const char *path,
		      unsigned *set_line, struct cfg_errors *errs)
{
	char *buf, *line;
	FILE *f = fopen(path, "r");
	unsigned lineno = 0;
	size_t len;
	bool too_long, has_nul;
	int rc;

	if (f == NULL) {
		/* SPEC.md: the error names file and line; 0 means "no line". */
		errs_add(errs, path, 0, "cannot open: %s", strerror(errno));
		return;
	}
	buf = xmalloc(FILE_LINE_MAX + 1);
	while ((rc = read_line(f, buf, &len, &too_long, &has_nul)) == 1) {
		lineno++;
		line = buf;
		if (lineno == 1 && strncmp(line, "\xEF\xBB\xBF", 3) == 0)
			line += 3; /* UTF-8 byte order mark from some editors */
		if (too_long)
			errs_add(errs, path, lineno,
				 "line longer than %d bytes", FILE_LINE_MAX);
		else if (has_nul)
			errs_add(errs, path, lineno, "line contains a NUL byte");
		else
			parse_line(cfg, path, lineno, line, set_line, errs);
		/* The line may have held smarthost_auth's password. */
		explicit_bzero(buf, len);
	}
	if (rc < 0)
		errs_add(errs, path, lineno + 1, "read error: %s",
			 strerror(errno));
	free(buf);
	(void)fclose(f);
}

/* Two listeners on one ADDR:PORT would fail at bind(); say so now, on the
 * line of whichever of the two keys was set later in the file. */
static void check_listen_overlap(const struct config *cfg, const char *file,
				 const unsigned *set_line,
				 struct cfg_errors *errs)
{
	for (size_t a = 0; a < CFG_KEY_COUNT; a++) {
		for (size_t b = a + 1; b < CFG_KEY_COUNT; b++) {
			const struct cfg_listen *ia, *ib;
			size_t na, nb, later, other;

			if (cfg_keys[a].list != &cfg_listen_list ||
			    cfg_keys[b].list != &cfg_listen_list)
				continue;
			ia = get_ptr(cfg, cfg_keys[a].off);
			ib = get_ptr(cfg, cfg_keys[b].off);
			na = *(const size_t *)cfield(cfg, cfg_keys[a].aux_off);
			nb = *(const size_t *)cfield(cfg, cfg_keys[b].aux_off);
			later = set_line[b] >= set_line[a] ? b : a;
			other = later == a ? b : a;
			for (size_t i = 0; i < na; i++)
				for (size_t j = 0; j < nb; j++)
					if (strcmp(ia[i].text, ib[j].text) == 0)
						errs_add(errs, file,
							 set_line[later],
							 "%s: %s is also used by %s",
							 cfg_keys[later].name,
							 ia[i].text,
							 cfg_keys[other].name);
		}
	}
}

/* Checks that involve more than one key. */
static void check_keys(const struct config *cfg, const char *file,
		       const unsigned *set_line, struct cfg_errors *errs)
{
	bool has_cert = cfg->tls_cert != NULL;

	if (has_cert != (cfg->tls_key != NULL))
		errs_add(errs, file,
			 set_line[key_index(has_cert ? "tls_cert" : "tls_key")],
			 "%s: set without %s", has_cert ? "tls_cert" : "tls_key",
			 has_cert ? "tls_key" : "tls_cert");
	if (cfg->smarthost_auth != NULL && !cfg->has_smarthost)
		errs_add(errs, file, set_line[key_index("smarthost_auth")],
			 "smarthost_auth: set without smarthost");
	check_listen_overlap(cfg, file, set_line, errs);
}

int cfg_load(const char *path, struct config **out, char **errors_out)
{
	struct config *cfg = xcalloc(1, sizeof *cfg);
	struct cfg_errors errs = { 0 };
	unsigned set_line[CFG_KEY_COUNT] = { 0 };
	char err[400];

	for (size_t i = 0; i < CFG_KEY_COUNT; i++) {
		const struct cfg_key *k = &cfg_keys[i];
		int rc = cfg_type_ops[k->type].parse(k, k->def, cfg, err,
						     sizeof err);

		KASSERT(rc == 0); /* a default that fails is a table bug */
	}
	if (path != NULL) {
		cfg->path = xstrdup(path);
		load_file(cfg, path, set_line, &errs);
	}
	check_keys(cfg, path != NULL ? path : "(defaults)", set_line, &errs);
	if (errs.len > 0) {
		cfg_free(&cfg);
		*out = NULL;
		if (errors_out != NULL)
			*errors_out = errs.text;
		else
			free(errs.text);
		return -1;
	}
	free(errs.text);
	*out = cfg;
	if (errors_out != NULL)
		*errors_out = NULL;
	return 0;
}

const char *cfg_default_path(const char *explicit_path)
{
	const char *env;

	if (explicit_path != NULL)
		return explicit_path;
	env = getenv("KONVERT_CONF");
	if (env != NULL && *env != '\0')
		return env;
	if (access(CFG_DEFAULT_FILE, F_OK) == 0)
		return CFG_DEFAULT_FILE;
	return NULL;
}

void cfg_free(struct config **pp)
{
	struct config *cfg;

	if (pp == NULL || *pp == NULL)
		return;
	cfg = *pp;
	for (size_t i = 0; i < CFG_KEY_COUNT; i++)
		cfg_type_ops[cfg_keys[i].type].clear(&cfg_keys[i], cfg);
	free(cfg->path);
	free(cfg);
	*pp = NULL;
}

bool cfg_is_local_domain(const struct config *cfg, const char *domain,
			 size_t len)
{
	for (size_t i = 0; i < cfg->domain_count; i++) {
		const char *d = cfg->domains[i];

		if (strlen(d) == len && strncasecmp(d, domain, len) == 0)
			return true;
	}
	return false;
}

bool cfg_in_relay_networks(const struct config *cfg,
			   const struct sockaddr *sa)
{
	return cfg_cidr_match(cfg->relay_networks, cfg->relay_network_count,
			      sa);
}

/* Bytes of the field(s) a key of this type occupies. */
static size_t type_field_size(enum cfg_type t)
{
	switch (t) {
	case CFG_T_STRING:
	case CFG_T_HOSTNAME:
	case CFG_T_USERPASS:
		return sizeof(char *);
	case CFG_T_HOSTPORT:
		return sizeof(struct cfg_hostport);
	case CFG_T_LIST:
		return sizeof(void *); /* plus the count at aux_off */
	case CFG_T_COUNT:
	case CFG_T_TIMEOUT_MS:
		return sizeof(unsigned);
	case CFG_T_PORT:
		return sizeof(uint16_t);
	case CFG_T_ENUM:
		return sizeof(int);
	case CFG_T_SIZE:
	case CFG_T_DURATION:
		return sizeof(uint64_t);
	}
	return 0;
}

static char *dump_value(const struct cfg_key *k, const struct config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return NULL;
	cfg_type_ops[k->type].dump(k, cfg, f);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static void list_add(char *out, size_t size, const char *name)
{
	size_t n = strlen(out);
	if (n + strlen(name) + 2 > size)
		return;
	(void)snprintf(out + n, size - n, "%s%s", n ? " " : "", name);
}

size_t cfg_reload_merge(struct config *next, const struct config *running, char *changed,
			size_t changed_size, char *restart, size_t restart_size)
{
	size_t n = 0;
	changed[0] = restart[0] = '\0';
	for (size_t i = 0; i < CFG_KEY_COUNT; i++) {
		const struct cfg_key *k = &cfg_keys[i];
		char *a = dump_value(k, next), *b = dump_value(k, running);
		bool same = a != NULL && b != NULL && strcmp(a, b) == 0;
		free(a);
		free(b);
		if (same)
			continue;
		if (!(k->flags & CFG_F_RESTART)) {
			list_add(changed, changed_size, k->name);
			continue;
		}
		/* Swap the running value into next; next's own value goes to
		 * a scratch copy of running's bytes that is cleared below. */
		struct config *scratch = xcalloc(1, sizeof(*scratch));
		size_t sz = type_field_size(k->type);
		memcpy(field(scratch, k->off), field(next, k->off), sz);
		if (k->type == CFG_T_LIST)
			memcpy(field(scratch, k->aux_off), field(next, k->aux_off), sizeof(size_t));
		/* Deep copy of the running value through its text form. */
		char *text = dump_value(k, running);
		char err[400];
		memset(field(next, k->off), 0, sz);
		if (k->type == CFG_T_LIST)
			memset(field(next, k->aux_off), 0, sizeof(size_t));
		if (text == NULL || cfg_type_ops[k->type].parse(k, text, next, err, sizeof err) != 0) {
			/* Cannot happen for a value that was dumped by us; keep
			 * next's own then. */
			cfg_type_ops[k->type].clear(k, next);
			memcpy(field(next, k->off), field(scratch, k->off), sz);
			if (k->type == CFG_T_LIST)
				memcpy(field(next, k->aux_off), field(scratch, k->aux_off),
				       sizeof(size_t));
		} else {
			cfg_type_ops[k->type].clear(k, scratch);
		}
		free(text);
		free(scratch);
		list_add(restart, restart_size, k->name);
		n++;
	}
	return n;
}

void cfg_dump(const struct config *cfg, FILE *out)
{
	for (size_t i = 0; i < CFG_KEY_COUNT; i++) {
		const struct cfg_key *k = &cfg_keys[i];

		fprintf(out, "%s = ", k->name);
		cfg_type_ops[k->type].dump(k, cfg, out);
		fputc('\n', out);
	}
}
