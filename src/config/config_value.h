/* config_value: the value syntaxes of konvert.conf (SPEC.md "Configuration
 * file"), apart from the schema that decides which key takes which.
 *
 * Every parser here is pure: it reads one value (or one list item), writes
 * the result only on success, and on failure puts a message into err that
 * quotes at most CFGV_SHOWN_MAX bytes of the value and never the key name;
 * config.c prefixes "file:line: key: ". Nothing here logs, allocates or
 * exits. The value types (struct cfg_listen, cfg_cidr, cfg_hostport) and
 * the public cfg_parse_duration() and cfg_cidr_match() are declared in
 * config.h, which this header includes; config_value.c implements them. */
#ifndef KONVERT_CONFIG_CONFIG_VALUE_H
#define KONVERT_CONFIG_CONFIG_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"

#define CFGV_DAY_S (24u * 3600u)
#define CFGV_TOKEN_MAX 300 /* longest single value token, NUL included */
#define CFGV_SHOWN_MAX 64 /* bytes of a bad value quoted in a message */

/* Formats fmt into err (always NUL-terminated, truncated to err_len) and
 * returns -1, so a parser can write "return cfgv_fail(...)". */
__attribute__((format(printf, 3, 4)))
int cfgv_fail(char *err, size_t err_len, const char *fmt, ...);

/* Plain decimal digits, at least one, no sign, space or suffix;
 * overflow-checked. Returns 0, or -1 leaving *out untouched. */
int cfgv_parse_uint(const char *s, uint64_t *out);

/* A byte count: digits with at most one k/M/G suffix (powers of 1024, any
 * case). Returns 0, or -1 on bad syntax or overflow. */
int cfgv_parse_size(const char *s, uint64_t *out);

/* Writes seconds as digits plus the largest whole unit (s, m, h, d), in a
 * form cfg_parse_duration() reads back to the same value; 0 is "0". */
void cfgv_fmt_duration(uint64_t s, char *buf, size_t len);

/* RFC 1035 2.3.1 / RFC 1123 2.1 host name syntax (len bytes of s). */
bool cfgv_is_valid_domain(const char *s, size_t len);

/* One domain list item: checks host name syntax and lower-cases tok in
 * place. Returns 0 or -1 with a message in err. */
int cfgv_parse_domain(char *tok, char *err, size_t err_len);

/* smarthost: "name[:port]", "a.b.c.d[:port]" or "[v6][:port]"; the port
 * defaults to 25. v must be non-empty. Returns 0 with *out set, or -1 with
 * a message in err and *out untouched. */
int cfgv_parse_hostport(const char *v, struct cfg_hostport *out, char *err,
			size_t err_len);

/* One listen item: "ADDR:PORT" or "[V6]:PORT", numeric address only.
 * tok is cut in place. On success *out holds the sockaddr and its
 * normalised text; *out may be partly written on failure. Duplicates are
 * the caller's business. */
int cfgv_parse_listen(char *tok, struct cfg_listen *out, char *err,
		      size_t err_len);

/* One CIDR item: "addr/prefix" or a bare address (/32, /128). Host bits
 * are cleared so matching is a plain prefix compare. tok is cut in place;
 * *out may be partly written on failure. */
int cfgv_parse_cidr(char *tok, struct cfg_cidr *out, char *err,
		    size_t err_len);

/* One dns_servers item: "a.b.c.d[:port]", "::1" or "[::1][:port]";
 * numeric only, port 53 unless given. The host is stored normalised and
 * unbracketed. tok is cut in place; *out may be partly written on
 * failure. */
int cfgv_parse_dns(char *tok, struct cfg_hostport *out, char *err,
		   size_t err_len);

/* Writes "host:port", or "[host]:port" when host holds a ':' (IPv6). */
void cfgv_print_hostport(const char *host, unsigned port, FILE *out);

/* Writes "addr/prefix". */
void cfgv_print_cidr(const struct cfg_cidr *c, FILE *out);

#endif
