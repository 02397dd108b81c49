/* dns_plan: the pure half of net/dns: the answer classes of c-ares
 * statuses, the routing plan of a domain's MX records (RFC 5321 5.1
 * order, implicit MX, RFC 7505 null MX, bounds), the settling of each
 * host's addresses, and the raw answers of dns_query with their bounds.
 * No sockets and no event loop: the resolver in dns.c feeds it, and the
 * tests call it directly. */
#include "net/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "core/log.h"
#include "net/dns_internal.h"

/* ---- Pure assembly ---- */

enum dns_answer_class dns_answer_class(int ares_status)
{
	switch (ares_status) {
	case ARES_SUCCESS:
		return DNS_ANSWER_OK;
	case ARES_ENODATA:
		return DNS_ANSWER_NODATA;
	case ARES_ENOTFOUND:
	case ARES_ENONAME:
		return DNS_ANSWER_NXDOMAIN;
	case ARES_EBADNAME:
		return DNS_ANSWER_BADNAME;
	default:
		/* SERVFAIL, REFUSED, NOTIMP, FORMERR, timeouts, connection
		 * errors, malformed or truncated answers (EBADRESP), and
		 * anything unknown: none of it proves the name is bad. */
		return DNS_ANSWER_TEMP;
	}
}

/* Words for bounces and `queue list`. c-ares 1.18 retries a SERVFAIL or
 * REFUSED answer on the next server (or the same one) and then reports
 * ECONNREFUSED, not the rcode: the text says so. */
const char *dns_strerror(int status)
{
	switch (status) {
	case DNS_LOOKUP_OPEN:
	case ARES_ETIMEOUT:
		return "DNS timeout";
	case ARES_ECONNREFUSED:
		return "no usable answer from the DNS servers (SERVFAIL, REFUSED or unreachable)";
	case ARES_ESERVFAIL:
		return "DNS server failure (SERVFAIL)";
	case ARES_EREFUSED:
		return "refused by the DNS server";
	case ARES_EBADRESP:
		return "malformed or truncated DNS answer";
	default:
		return ares_strerror(status);
	}
}

bool dns_is_hostname(const char *name, size_t len)
{
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > DNS_NAME_MAX)
		return false;
	size_t label = 0;
	bool label_numeric = true;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			label_numeric = true;
			continue;
		}
		bool digit = c >= '0' && c <= '9';
		if (!digit && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && c != '-' &&
		    c != '_')
			return false;
		if (!digit)
			label_numeric = false;
		if (++label > 63)
			return false;
	}
	/* RFC 3696 2: a top-level label is never all-numeric, which keeps
	 * "192.0.2.1" and "1.2.3" from being looked up as names. */
	return label > 0 && !label_numeric;
}

/* Lower case, one trailing dot dropped, escaped (identity for valid
 * names), truncated to out_size. */
void dns_name_show(char *out, size_t out_size, const char *name)
{
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	char tmp[DNS_NAME_MAX + 1];
	if (len > DNS_NAME_MAX)
		len = DNS_NAME_MAX;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		tmp[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	log_escape(out, out_size, tmp, len);
}

static void dns_vformat(char *dst, size_t size, const char *fmt, va_list ap)
{
	int n = vsnprintf(dst, size, fmt, ap);
	/* A reason cut short still says what happened; mark the cut. */
	if (n >= 0 && (size_t)n >= size && size > 4)
		memcpy(dst + size - 4, "...", 4);
}

void dns_format(char *dst, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void dns_format(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	dns_vformat(dst, size, fmt, ap);
	va_end(ap);
}

struct dns_result *dns_result_new(void)
{
	struct dns_result *res = xcalloc(1, sizeof(*res));
	res->status = DNS_TEMPFAIL;
	res->enhanced = "4.4.3";
	return res;
}

void dns_result_free(struct dns_result **pp)
{
	struct dns_result *res = *pp;
	if (res == NULL)
		return;
	*pp = NULL;
	for (size_t i = 0; i < res->host_count; i++) {
		free(res->hosts[i].name);
		free(res->hosts[i].addrs);
	}
	free(res->hosts);
	free(res);
}

void dns_result_set(struct dns_result *res, enum dns_status status, const char *enhanced,
		    const char *fmt, ...)
{
	res->status = status;
	res->enhanced = enhanced;
	va_list ap;
	va_start(ap, fmt);
	dns_vformat(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
}

struct dns_host *dns_result_add_host(struct dns_result *res, const char *name, unsigned preference)
{
	KASSERT(res->host_count < DNS_MX_HOSTS_MAX);
	res->hosts = xrealloc(res->hosts, (res->host_count + 1) * sizeof(res->hosts[0]));
	struct dns_host *h = &res->hosts[res->host_count++];
	memset(h, 0, sizeof(*h));
	char shown[DNS_NAME_MAX + 1];
	dns_name_show(shown, sizeof(shown), name);
	h->name = xstrdup(shown);
	h->preference = preference;
	return h;
}

bool dns_host_needs_lookup(const struct dns_host *h)
{
	return h->addr_count == 0 && h->reason[0] == '\0';
}

static bool dns_is_root(const char *name)
{
	return name[0] == '\0' || strcmp(name, ".") == 0;
}

/* An IP address where a name belongs: "192.0.2.1", "2001:db8::1",
 * "[192.0.2.1]", "[IPv6:2001:db8::1]" (one trailing dot tolerated). */
static bool dns_is_ip_literal(const char *name)
{
	char buf[64];
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len >= 2 && name[0] == '[' && name[len - 1] == ']') {
		name++;
		len -= 2;
	}
	if (len >= 5 && strncasecmp(name, "IPv6:", 5) == 0) {
		name += 5;
		len -= 5;
	}
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, name, len);
	buf[len] = '\0';
	unsigned char tmp[16];
	return inet_pton(AF_INET, buf, tmp) == 1 || inet_pton(AF_INET6, buf, tmp) == 1;
}

struct dns_mx_cand {
	const struct dns_mx_rr *rr;
	uint32_t key; /* random tie-break among equal preference */
};

static int dns_mx_cand_cmp(const void *a, const void *b)
{
	const struct dns_mx_cand *x = a, *y = b;
	if (x->rr->preference != y->rr->preference)
		return x->rr->preference < y->rr->preference ? -1 : 1;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	/* Same array: keeps qsort's result a function of its input. */
	return x->rr < y->rr ? -1 : x->rr > y->rr;
}

static bool dns_result_has_host(const struct dns_result *res, const char *shown)
{
	for (size_t i = 0; i < res->host_count; i++)
		if (strcmp(res->hosts[i].name, shown) == 0)
			return true;
	return false;
}

size_t dns_mx_plan(struct dns_result *res, const char *domain, int mx_status,
		   const struct dns_mx_rr *rrs, size_t n, dns_rand_fn rnd, void *rnd_arg)
{
	switch (dns_answer_class(mx_status)) {
	case DNS_ANSWER_NXDOMAIN:
		dns_result_set(res, DNS_PERMFAIL, "5.1.2", "domain %s does not exist (NXDOMAIN)",
			       domain);
		return 0;
	case DNS_ANSWER_BADNAME:
		dns_result_set(res, DNS_PERMFAIL, "5.1.2", "%s is not a valid domain name", domain);
		return 0;
	case DNS_ANSWER_TEMP:
		dns_result_set(res, DNS_TEMPFAIL, "4.4.3", "MX lookup for %s failed: %s", domain,
			       dns_strerror(mx_status));
		return 0;
	case DNS_ANSWER_NODATA:
		n = 0;
		break;
	case DNS_ANSWER_OK:
		break;
	}
	dns_result_set(res, DNS_TEMPFAIL, "4.4.3", "%s", "");
	if (n == 0) {
		/* RFC 5321 5.1: no MX, so the domain is its own host. */
		res->implicit_mx = true;
		dns_result_add_host(res, domain, 0);
		return 1;
	}

	struct dns_mx_cand *c = xcalloc(n, sizeof(*c));
	for (size_t i = 0; i < n; i++) {
		c[i].rr = &rrs[i];
		c[i].key = rnd(rnd_arg);
	}
	/* RFC 5321 5.1: lowest preference first, and among equals "the
	 * sender-SMTP MUST randomize them to spread the load". */
	qsort(c, n, sizeof(*c), dns_mx_cand_cmp);
	size_t need = 0;
	size_t roots = 0;
	for (size_t i = 0; i < n && res->host_count < DNS_MX_HOSTS_MAX; i++) {
		const char *x = c[i].rr->exchange;
		if (dns_is_root(x)) {
			/* Null MX among real ones (RFC 7505 3 forbids it):
			 * the root cannot take mail, the others might. */
			roots++;
			continue;
		}
		char shown[DNS_NAME_MAX + 1];
		dns_name_show(shown, sizeof(shown), x);
		if (dns_result_has_host(res, shown))
			continue; /* listed twice: keep the better preference */
		struct dns_host *h = dns_result_add_host(res, x, c[i].rr->preference);
		if (dns_is_ip_literal(x))
			dns_format(h->reason, sizeof(h->reason),
				   "MX host %s is an IP address, not a name (RFC 5321 5.1)", h->name);
		else if (!dns_is_hostname(x, strlen(x)))
			dns_format(h->reason, sizeof(h->reason), "MX host %s is not a valid host name",
				   h->name);
		else
			need++;
	}
	free(c);
	if (res->host_count == 0 && roots > 0) {
		/* Only root exchanges (RFC 7505 3: preference 0; a lone root
		 * at another preference can mean nothing else either). */
		dns_result_set(res, DNS_NULL_MX, "5.1.10",
			       "domain %s does not accept mail (null MX, RFC 7505)", domain);
		return 0;
	}
	return need;
}

/* Addresses we will not connect to, whatever DNS says. */
static bool dns_addr_usable(int fam, const unsigned char *a)
{
	if (fam == DNS_FAM_V4)
		return a[0] != 0 && a[0] < 224; /* 0/8, multicast, class E, broadcast */
	static const unsigned char zero[16];
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	/* ::, ff00::/8; ::ffff:0:0/96 belongs to the A answer. */
	return memcmp(a, zero, 16) != 0 && a[0] != 0xff && memcmp(a, mapped, 12) != 0;
}

static size_t dns_lookup_usable(const struct dns_lookup *lk, int fam,
				struct sockaddr_storage out[DNS_ADDRS_MAX], size_t *dropped)
{
	size_t n = 0;
	if (lk->status != ARES_SUCCESS)
		return 0;
	size_t count = lk->count < DNS_ADDRS_MAX ? lk->count : DNS_ADDRS_MAX;
	for (size_t i = 0; i < count; i++) {
		if (!dns_addr_usable(fam, lk->addr[i])) {
			(*dropped)++;
			continue;
		}
		memset(&out[n], 0, sizeof(out[n]));
		if (fam == DNS_FAM_V6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out[n];
			s6->sin6_family = AF_INET6;
			memcpy(&s6->sin6_addr, lk->addr[i], 16);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&out[n];
			s4->sin_family = AF_INET;
			memcpy(&s4->sin_addr, lk->addr[i], 4);
		}
		n++;
	}
	return n;
}

static enum dns_answer_class dns_lookup_class(const struct dns_lookup *lk)
{
	enum dns_answer_class a = dns_answer_class(lk->status);
	return a == DNS_ANSWER_OK && lk->count == 0 ? DNS_ANSWER_NODATA : a;
}

void dns_host_settle(struct dns_host *h, const struct dns_lookup *v6, const struct dns_lookup *v4)
{
	struct sockaddr_storage a6[DNS_ADDRS_MAX], a4[DNS_ADDRS_MAX];
	size_t dropped = 0;
	size_t n6 = dns_lookup_usable(v6, DNS_FAM_V6, a6, &dropped);
	size_t n4 = dns_lookup_usable(v4, DNS_FAM_V4, a4, &dropped);
	/* Half the slots each when both families overflow them. */
	size_t room6 = DNS_ADDRS_MAX - (n4 < DNS_ADDRS_MAX / 2 ? n4 : DNS_ADDRS_MAX / 2);
	size_t take6 = n6 < room6 ? n6 : room6;
	size_t take4 = n4 < DNS_ADDRS_MAX - take6 ? n4 : DNS_ADDRS_MAX - take6;

	free(h->addrs);
	h->addrs = NULL;
	h->addr_count = 0;
	h->temporary = false;
	h->reason[0] = '\0';
	if (take6 + take4 > 0) {
		h->addrs = xcalloc(take6 + take4, sizeof(h->addrs[0]));
		memcpy(h->addrs, a6, take6 * sizeof(a6[0]));
		memcpy(h->addrs + take6, a4, take4 * sizeof(a4[0]));
		h->addr_count = take6 + take4;
		return;
	}

	enum dns_answer_class c6 = dns_lookup_class(v6), c4 = dns_lookup_class(v4);
	if (c6 == DNS_ANSWER_TEMP || c4 == DNS_ANSWER_TEMP) {
		/* A broken AAAA server with an empty A answer is still a
		 * failure to know: defer rather than bounce. */
		h->temporary = true;
		if (c6 == DNS_ANSWER_TEMP && c4 == DNS_ANSWER_TEMP && v6->status == v4->status)
			dns_format(h->reason, sizeof(h->reason),
				   "address lookup of %s failed: %s", h->name,
				   dns_strerror(v6->status));
		else if (c6 == DNS_ANSWER_TEMP && c4 == DNS_ANSWER_TEMP)
			dns_format(h->reason, sizeof(h->reason),
				   "address lookup of %s failed: AAAA: %s; A: %s", h->name,
				   dns_strerror(v6->status), dns_strerror(v4->status));
		else
			dns_format(h->reason, sizeof(h->reason), "%s lookup of %s failed: %s",
				   c6 == DNS_ANSWER_TEMP ? "AAAA" : "A", h->name,
				   dns_strerror(c6 == DNS_ANSWER_TEMP ? v6->status : v4->status));
	} else if (c6 == DNS_ANSWER_NXDOMAIN || c4 == DNS_ANSWER_NXDOMAIN) {
		dns_format(h->reason, sizeof(h->reason), "host %s does not exist (NXDOMAIN)",
			   h->name);
	} else if (c6 == DNS_ANSWER_BADNAME || c4 == DNS_ANSWER_BADNAME) {
		dns_format(h->reason, sizeof(h->reason), "%s is not a valid host name", h->name);
	} else if (dropped > 0) {
		dns_format(h->reason, sizeof(h->reason),
			   "host %s has only unusable addresses (unspecified or multicast)", h->name);
	} else {
		dns_format(h->reason, sizeof(h->reason), "host %s has no AAAA or A record", h->name);
	}
}

void dns_result_settle(struct dns_result *res, enum dns_kind kind, const char *name)
{
	if (res->host_count == 0)
		return;
	bool temporary = false;
	for (size_t i = 0; i < res->host_count; i++) {
		if (res->hosts[i].addr_count > 0) {
			dns_result_set(res, DNS_OK, "", "%s", "");
			return;
		}
		temporary = temporary || res->hosts[i].temporary;
	}
	const struct dns_host *first = &res->hosts[0];
	enum dns_status st = temporary ? DNS_TEMPFAIL : DNS_PERMFAIL;
	const char *code = temporary ? "4.4.3" : "5.4.4";
	if (kind == DNS_KIND_HOST)
		dns_result_set(res, st, code, "%s", first->reason);
	else if (res->implicit_mx && temporary)
		dns_result_set(res, st, code, "%s has no MX record; %s", name, first->reason);
	else if (res->implicit_mx)
		dns_result_set(res, st, code, "%s has no MX and no A/AAAA record (%s)", name,
			       first->reason);
	else
		dns_result_set(res, st, code, "no MX host of %s has an address (%zu tried; %s)",
			       name, res->host_count, first->reason);
}

/* ---- Raw answers (dns_query) ---- */

struct dns_answer *dns_answer_new(enum dns_astatus status)
{
	struct dns_answer *ans = xcalloc(1, sizeof(*ans));
	ans->status = status;
	return ans;
}

void dns_answer_free(struct dns_answer **pp)
{
	struct dns_answer *ans = *pp;
	if (ans == NULL)
		return;
	*pp = NULL;
	for (size_t i = 0; i < ans->count; i++)
		free(ans->recs[i].data);
	free(ans->recs);
	free(ans);
}

void dns_answer_set(struct dns_answer *ans, enum dns_astatus status, const char *fmt, ...)
{
	ans->status = status;
	va_list ap;
	va_start(ap, fmt);
	dns_vformat(ans->reason, sizeof(ans->reason), fmt, ap);
	va_end(ap);
}

static size_t dns_answer_data_len(const struct dns_answer *ans)
{
	size_t total = 0;
	for (size_t i = 0; i < ans->count; i++)
		total += ans->recs[i].len;
	return total;
}

struct dns_arec *dns_answer_add(struct dns_answer *ans, const void *data, size_t len,
				bool record_start)
{
	if (ans->truncated)
		return NULL;
	size_t total = dns_answer_data_len(ans);
	if (ans->count >= DNS_ANSWER_RECS_MAX || len > DNS_ANSWER_DATA_MAX - total) {
		ans->truncated = true;
		/* A TXT record cut short could read as another policy (an SPF
		 * record without its last terms): drop it whole. */
		while (!record_start && ans->count > 0) {
			struct dns_arec *last = &ans->recs[--ans->count];
			record_start = last->record_start;
			free(last->data);
		}
		return NULL;
	}
	/* Grown by doubling; bounded by DNS_ANSWER_RECS_MAX. */
	if ((ans->count & (ans->count - 1)) == 0) {
		size_t cap = ans->count == 0 ? 1 : ans->count * 2;
		ans->recs = xrealloc(ans->recs, cap * sizeof(ans->recs[0]));
	}
	struct dns_arec *r = &ans->recs[ans->count++];
	memset(r, 0, sizeof(*r));
	r->record_start = record_start;
	if (data != NULL) {
		r->data = xmalloc(len + 1);
		memcpy(r->data, data, len);
		r->data[len] = '\0';
		r->len = len;
	}
	return r;
}

const char *dns_astatus_name(enum dns_astatus status)
{
	switch (status) {
	case DNS_A_OK:
		return "ok";
	case DNS_A_NXDOMAIN:
		return "nxdomain";
	case DNS_A_NODATA:
		return "nodata";
	case DNS_A_TEMPFAIL:
		return "tempfail";
	}
	return "?";
}

const char *dns_qtype_name(enum dns_qtype type)
{
	switch (type) {
	case DNS_Q_TXT:
		return "TXT";
	case DNS_Q_A:
		return "A";
	case DNS_Q_AAAA:
		return "AAAA";
	case DNS_Q_MX:
		return "MX";
	case DNS_Q_PTR:
		return "PTR";
	}
	return "?";
}

int dns_reverse_name(const struct sockaddr *sa, char *out, size_t out_size)
{
	static const char hex[] = "0123456789abcdef";
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const unsigned char *a;
	int n;
	if (sa->sa_family == AF_INET) {
		a = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		a = (const unsigned char *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (memcmp(a, mapped, 12) == 0) {
			a += 12;
		} else {
			char buf[80];
			size_t p = 0;
			for (int i = 15; i >= 0; i--) {
				buf[p++] = hex[a[i] & 0x0f];
				buf[p++] = '.';
				buf[p++] = hex[a[i] >> 4];
				buf[p++] = '.';
			}
			memcpy(buf + p, "ip6.arpa", 9);
			n = snprintf(out, out_size, "%s", buf);
			return n >= 0 && (size_t)n < out_size ? 0 : -1;
		}
	} else {
		return -1;
	}
	n = snprintf(out, out_size, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
	return n >= 0 && (size_t)n < out_size ? 0 : -1;
}

/* True when name (len bytes, trailing dot already dropped) can be put in
 * a question: 1..DNS_NAME_MAX bytes, labels of 1..63 printable ASCII
 * bytes. Wider than dns_is_hostname: SPF macros and DKIM selectors put
 * local-part characters ('+', '=', ...) into names, and those are real
 * DNS names. A backslash is refused because c-ares reads it as an
 * escape. */
bool dns_is_qname(const char *name, size_t len)
{
	if (len == 0 || len > DNS_NAME_MAX)
		return false;
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (c <= 0x20 || c >= 0x7f || c == '\\' || ++label > 63)
			return false;
	}
	return label > 0;
}

/* Copies a name from c-ares: lower case, one trailing dot dropped. */
struct dns_arec *dns_answer_add_name(struct dns_answer *ans, const char *name)
{
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	struct dns_arec *r = dns_answer_add(ans, name, len, true);
	for (size_t i = 0; r != NULL && i < len; i++)
		if (r->data[i] >= 'A' && r->data[i] <= 'Z')
			r->data[i] = (char)(r->data[i] - 'A' + 'a');
	return r;
}

