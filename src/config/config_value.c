/* config_value: the value syntaxes of konvert.conf (numbers, sizes,
 * durations, host names, HOST:PORT, listen addresses, CIDRs, DNS servers)
 * and CIDR matching.
 *
 * Owns only the syntax of one value: which key takes which syntax, list
 * handling, duplicates across items and defaults belong to config.c. Like
 * every parser here it never logs, never allocates and never exits; errors
 * go back as text in the caller's buffer. */
#include "config/config_value.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <string.h>

#define DNS_PORT_DEFAULT 53
#define SMARTHOST_PORT_DEFAULT 25

int cfgv_fail(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- numbers ---- */

/* Plain decimal digits, at least one, no sign or space, overflow-checked.
 * *end_out is the first byte after the digits. */
static int parse_digits(const char *s, uint64_t *out, const char **end_out)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
			return -1;
	}
	*out = v;
	*end_out = p;
	return 0;
}

/* Digits with at most one suffix letter from units[] (mul[] alongside). */
static int parse_scaled(const char *s, const char *units,
			const uint64_t *mul, uint64_t *out)
{
	const char *end, *u;
	uint64_t v;

	if (parse_digits(s, &v, &end) < 0)
		return -1;
	if (*end == '\0') {
		*out = v;
		return 0;
	}
	u = strchr(units, *end);
	if (u == NULL || end[1] != '\0' ||
	    __builtin_mul_overflow(v, mul[u - units], &v))
		return -1;
	*out = v;
	return 0;
}

int cfgv_parse_uint(const char *s, uint64_t *out)
{
	return parse_scaled(s, "", NULL, out);
}

int cfgv_parse_size(const char *s, uint64_t *out)
{
	/* k, M, G are powers of 1024, any case. */
	static const uint64_t size_mul[] = { 1u << 10, 1u << 10, 1u << 20,
					     1u << 20, 1u << 30, 1u << 30 };

	return parse_scaled(s, "kKmMgG", size_mul, out);
}

static int parse_port(const char *s, uint16_t *out)
{
	uint64_t v;

	if (parse_scaled(s, "", NULL, &v) < 0 || v < 1 || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/* ---- durations ---- */

int cfg_parse_duration(const char *s, uint64_t *seconds_out)
{
	static const uint64_t mul[] = { 1, 60, 3600, CFGV_DAY_S };

	if (s == NULL)
		return -1;
	return parse_scaled(s, "smhd", mul, seconds_out);
}

/* Largest whole unit, so that the text parses back to the same value. */
void cfgv_fmt_duration(uint64_t s, char *buf, size_t len)
{
	if (s != 0 && s % CFGV_DAY_S == 0)
		snprintf(buf, len, "%" PRIu64 "d", s / CFGV_DAY_S);
	else if (s != 0 && s % 3600 == 0)
		snprintf(buf, len, "%" PRIu64 "h", s / 3600);
	else if (s != 0 && s % 60 == 0)
		snprintf(buf, len, "%" PRIu64 "m", s / 60);
	else
		snprintf(buf, len, "%" PRIu64 "%s", s, s ? "s" : "");
}

/* ---- host names and HOST:PORT ---- */

/* RFC 1035 2.3.1 / RFC 1123 2.1 host name syntax: dot-separated labels of
 * 1..63 letters, digits and hyphens, no hyphen at either end, 253 total. */
bool cfgv_is_valid_domain(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0 && s[len - 1] != '-';
}

int cfgv_parse_domain(char *tok, char *err, size_t err_len)
{
	if (!cfgv_is_valid_domain(tok, strlen(tok)))
		return cfgv_fail(err, err_len, "'%.*s' is not a valid domain",
				 CFGV_SHOWN_MAX, tok);
	for (char *c = tok; *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return 0;
}

/* Splits "host", "host:port", "[v6]" or "[v6]:port", cutting tok in place.
 * *port_out is NULL when no port was given. */
static int split_hostport(char *tok, char **host_out, bool *bracketed_out,
			  char **port_out, const char **why)
{
	char *colon;

	*port_out = NULL;
	*bracketed_out = tok[0] == '[';
	if (*bracketed_out) {
		char *close = strchr(tok, ']');

		*why = "expected [IPv6]:PORT";
		if (close == NULL || close == tok + 1 ||
		    (close[1] != '\0' && (close[1] != ':' || close[2] == '\0')))
			return -1;
		*close = '\0';
		*host_out = tok + 1;
		*port_out = close[1] == ':' ? close + 2 : NULL;
		return 0;
	}
	*host_out = tok;
	colon = strchr(tok, ':');
	if (colon == NULL)
		return 0;
	if (strchr(colon + 1, ':') != NULL) {
		*why = "an IPv6 address needs brackets: [ADDR]:PORT";
		return -1;
	}
	if (colon == tok || colon[1] == '\0') {
		*why = "expected HOST:PORT";
		return -1;
	}
	*colon = '\0';
	*port_out = colon + 1;
	return 0;
}

void cfgv_print_hostport(const char *host, unsigned port, FILE *out)
{
	fprintf(out, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
}

/* A bracketed IPv6 host is stored without brackets. */
int cfgv_parse_hostport(const char *v, struct cfg_hostport *out, char *err,
			size_t err_len)
{
	struct cfg_hostport hp = { .port = SMARTHOST_PORT_DEFAULT };
	char buf[CFGV_TOKEN_MAX];
	char *host, *port_s;
	bool bracketed;
	const char *why = "";
	struct in6_addr a6;

	if (strcspn(v, " \t") != strlen(v))
		return cfgv_fail(err, err_len, "expected one HOST:PORT");
	if (snprintf(buf, sizeof buf, "%s", v) >= (int)sizeof buf)
		return cfgv_fail(err, err_len, "'%.*s...' is too long",
				 CFGV_SHOWN_MAX, v);
	if (split_hostport(buf, &host, &bracketed, &port_s, &why) < 0)
		return cfgv_fail(err, err_len, "'%.*s': %s", CFGV_SHOWN_MAX, v,
				 why);
	if (port_s != NULL && parse_port(port_s, &hp.port) < 0)
		return cfgv_fail(err, err_len, "'%.*s': port must be 1..65535",
				 CFGV_SHOWN_MAX, v);
	if (bracketed) {
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return cfgv_fail(err, err_len,
					 "'%.*s': not a numeric IPv6 address",
					 CFGV_SHOWN_MAX, v);
		(void)inet_ntop(AF_INET6, &a6, hp.host, sizeof hp.host);
	} else {
		if (!cfgv_is_valid_domain(host, strlen(host)))
			return cfgv_fail(err, err_len,
					 "'%.*s': not a valid host name",
					 CFGV_SHOWN_MAX, v);
		snprintf(hp.host, sizeof hp.host, "%s", host);
	}
	*out = hp;
	return 0;
}

/* ---- addresses ---- */

int cfgv_parse_listen(char *tok, struct cfg_listen *li, char *err,
		      size_t err_len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&li->addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&li->addr;
	char shown[CFGV_SHOWN_MAX + 1], host_text[INET6_ADDRSTRLEN];
	char *host, *port_s;
	bool v6;
	uint16_t port;
	const char *why = "";

	snprintf(shown, sizeof shown, "%s", tok);
	if (split_hostport(tok, &host, &v6, &port_s, &why) < 0)
		return cfgv_fail(err, err_len, "'%s': %s", shown, why);
	if (port_s == NULL)
		return cfgv_fail(err, err_len, "'%s': expected ADDR:PORT",
				 shown);
	if (parse_port(port_s, &port) < 0)
		return cfgv_fail(err, err_len, "'%s': port must be 1..65535",
				 shown);
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host,
		      v6 ? (void *)&sin6->sin6_addr : (void *)&sin->sin_addr) != 1)
		return cfgv_fail(err, err_len, "'%s': not a numeric %s address",
				 shown, v6 ? "IPv6" : "IPv4");
	if (v6) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		li->addr_len = sizeof *sin6;
		(void)inet_ntop(AF_INET6, &sin6->sin6_addr, host_text,
				sizeof host_text);
	} else {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		li->addr_len = sizeof *sin;
		(void)inet_ntop(AF_INET, &sin->sin_addr, host_text,
				sizeof host_text);
	}
	snprintf(li->text, sizeof li->text, v6 ? "[%s]:%u" : "%s:%u",
		 host_text, (unsigned)port);
	return 0;
}

int cfgv_parse_cidr(char *tok, struct cfg_cidr *c, char *err, size_t err_len)
{
	char shown[CFGV_SHOWN_MAX + 1];
	char *slash = strchr(tok, '/');
	uint64_t prefix;
	unsigned bits;

	snprintf(shown, sizeof shown, "%s", tok);
	if (slash != NULL)
		*slash = '\0';
	if (inet_pton(AF_INET, tok, c->addr) == 1)
		c->family = AF_INET;
	else if (inet_pton(AF_INET6, tok, c->addr) == 1)
		c->family = AF_INET6;
	else
		return cfgv_fail(err, err_len, "'%s': not a numeric address",
				 shown);
	bits = c->family == AF_INET ? 32 : 128;
	prefix = bits;
	if (slash != NULL && (parse_scaled(slash + 1, "", NULL, &prefix) < 0 ||
			      prefix > bits))
		return cfgv_fail(err, err_len, "'%s': prefix must be 0..%u",
				 shown, bits);
	c->prefix = (unsigned)prefix;
	for (unsigned i = 0; i < bits / 8; i++) {
		if (i * 8 >= c->prefix)
			c->addr[i] = 0;
		else if (c->prefix - i * 8 < 8)
			c->addr[i] &= (unsigned char)(0xff << (8 - (c->prefix - i * 8)));
	}
	return 0;
}

void cfgv_print_cidr(const struct cfg_cidr *c, FILE *out)
{
	char text[INET6_ADDRSTRLEN];

	(void)inet_ntop(c->family, c->addr, text, sizeof text);
	fprintf(out, "%s/%u", text, c->prefix);
}

int cfgv_parse_dns(char *tok, struct cfg_hostport *hp, char *err,
		   size_t err_len)
{
	unsigned char a[16];
	char shown[CFGV_SHOWN_MAX + 1];
	char *host = tok, *port_s = NULL;
	bool v6 = true;
	const char *why = "";

	snprintf(shown, sizeof shown, "%s", tok);
	hp->port = DNS_PORT_DEFAULT;
	/* A bare "::1" has colons but no brackets; try it whole first. */
	if (inet_pton(AF_INET6, tok, a) != 1 &&
	    split_hostport(tok, &host, &v6, &port_s, &why) < 0)
		return cfgv_fail(err, err_len, "'%s': %s", shown, why);
	if (port_s != NULL && parse_port(port_s, &hp->port) < 0)
		return cfgv_fail(err, err_len, "'%s': port must be 1..65535",
				 shown);
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host, a) != 1)
		return cfgv_fail(err, err_len, "'%s': not a numeric %s address",
				 shown, v6 ? "IPv6" : "IPv4");
	(void)inet_ntop(v6 ? AF_INET6 : AF_INET, a, hp->host, sizeof hp->host);
	return 0;
}

/* ---- matching ---- */

static bool prefix_match(const unsigned char *addr, const unsigned char *net,
			 unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));

	if (memcmp(addr, net, full) != 0)
		return false;
	return rest == 0 || (addr[full] & mask) == net[full];
}

bool cfg_cidr_match(const struct cfg_cidr *cidrs, size_t n,
		    const struct sockaddr *sa)
{
	const unsigned char *v4 = NULL, *v6 = NULL;

	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		v4 = (const unsigned char *)&((const struct sockaddr_in *)sa)
			     ->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
			&((const struct sockaddr_in6 *)sa)->sin6_addr;

		v6 = a->s6_addr;
		/* A dual-stack socket shows IPv4 clients as ::ffff:a.b.c.d;
		 * they must match the IPv4 networks too. */
		if (IN6_IS_ADDR_V4MAPPED(a))
			v4 = a->s6_addr + 12;
	}
	for (size_t i = 0; i < n; i++) {
		const unsigned char *a =
			cidrs[i].family == AF_INET ? v4 : v6;

		if (a != NULL && prefix_match(a, cidrs[i].addr,
					      cidrs[i].prefix))
			return true;
	}
	return false;
}
