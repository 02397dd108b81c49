/* dns_plan: the pure half of net/dns: the answer classes of c-ares
 * statuses, the routing plan of a domain's MX records (RFC 5321 5.1
 * order, implicit MX, RFC 7505 null MX, bounds), the settling of each
 * host's addresses, the raw answers of dns_query with their bounds, and
 * the one wire parser of our own (TLSA, which c-ares 1.18 cannot parse).
 * No sockets and no event loop: the resolver in dns.c feeds it, and the
 * tests and fuzz/fuzz_dns_tlsa.c call it directly. */
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
	__attribute__((format(printf, 3, 0)));
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

void dns_txt_set_from(const struct dns_answer *ans, size_t max_len, struct dns_txt_set *out)
{
	memset(out, 0, sizeof(*out));
	if (ans->status != DNS_A_OK)
		return;
	for (size_t k = 0; k < ans->count;) {
		size_t end = k;
		do {
			end++;
		} while (end < ans->count && !ans->recs[end].record_start);
		if (out->n == DNS_TXT_SET_MAX) {
			out->more = true;
			break;
		}
		size_t total = 0;
		for (size_t m = k; m < end; m++)
			total += ans->recs[m].len;
		size_t keep = total < max_len ? total : max_len;
		char *b = xmalloc(keep + 1);
		size_t o = 0;
		for (size_t m = k; m < end && o < keep; m++) {
			size_t take = ans->recs[m].len < keep - o ? ans->recs[m].len : keep - o;
			memcpy(b + o, ans->recs[m].data, take);
			o += take;
		}
		b[o] = '\0';
		out->rec[out->n] = b;
		out->len[out->n] = o;
		out->cut[out->n] = total > max_len;
		out->n++;
		k = end;
	}
}

void dns_txt_set_fini(struct dns_txt_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		free(set->rec[i]);
	memset(set, 0, sizeof(*set));
}

struct dns_answer *dns_answer_new(enum dns_astatus status)
{
	struct dns_answer *ans = xcalloc(1, sizeof(*ans));
	ans->status = status;
	return ans;
}

struct dns_answer *dns_answer_copy(const struct dns_answer *ans)
{
	struct dns_answer *c = xmalloc(sizeof(*c));
	*c = *ans;
	c->recs = NULL;
	if (ans->count > 0) {
		c->recs = xcalloc(ans->count, sizeof(c->recs[0]));
		for (size_t i = 0; i < ans->count; i++) {
			c->recs[i] = ans->recs[i];
			if (ans->recs[i].data != NULL) {
				c->recs[i].data = xmalloc(ans->recs[i].len + 1);
				memcpy(c->recs[i].data, ans->recs[i].data, ans->recs[i].len + 1);
			}
		}
	}
	return c;
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
	case DNS_Q_TLSA:
		return "TLSA";
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

/* ---- The raw answer itself (RFC 1035 4.1) ---- */

/* We call ares_send (to set AD in the question), so the rcode is ours to
 * map; an rcode c-ares does not know is a bad answer, not a success. */
int dns_rcode_status(const unsigned char *abuf)
{
	unsigned ancount = (unsigned)abuf[6] << 8 | abuf[7];
	switch (abuf[3] & 0x0f) {
	case 0:
		return ancount > 0 ? ARES_SUCCESS : ARES_ENODATA;
	case 1:
		return ARES_EFORMERR;
	case 2:
		return ARES_ESERVFAIL;
	case 3:
		return ARES_ENOTFOUND;
	case 4:
		return ARES_ENOTIMP;
	case 5:
		return ARES_EREFUSED;
	default:
		return ARES_EBADRESP;
	}
}

/* RFC 1035 2.3.4: a name is at most 255 octets on the wire, length bytes
 * and the root included, so at most 127 labels. Compression pointers
 * (4.1.4) are followed at most this many times per name: a pointer chain
 * or loop costs bounded work and is refused past it. */
#define DNS_WIRE_NAME_MAX 255
#define DNS_WIRE_JUMPS_MAX 128

static unsigned dns_get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* Checks the name at off in m (len bytes): labels of 0..63 bytes inside
 * the message, pointers inside it and followed at most
 * DNS_WIRE_JUMPS_MAX times, DNS_WIRE_NAME_MAX octets in all. Pointers may
 * point anywhere in the message (forward ones too): the bounds, not the
 * direction, stop loops. Stores in *end_out the offset just past the name
 * where it sits (after its first pointer, if any). Returns 0, or -1 for a
 * name that runs off the message, loops, is too long, or uses the label
 * types 0x40/0x80 (RFC 6891 5 retired them). */
static int dns_wire_name(const unsigned char *m, size_t len, size_t off, size_t *end_out)
{
	size_t total = 0;
	unsigned jumps = 0;
	bool jumped = false;
	for (;;) {
		if (off >= len)
			return -1;
		unsigned c = m[off];
		if ((c & 0xc0) == 0xc0) {
			if (off + 1 >= len || ++jumps > DNS_WIRE_JUMPS_MAX)
				return -1;
			if (!jumped)
				*end_out = off + 2;
			jumped = true;
			off = (size_t)(c & 0x3f) << 8 | m[off + 1];
			continue;
		}
		if ((c & 0xc0) != 0)
			return -1;
		total += c + 1;
		if (total > DNS_WIRE_NAME_MAX)
			return -1;
		if (c == 0) {
			if (!jumped)
				*end_out = off + 1;
			return 0;
		}
		off += 1 + c; /* the label's bytes are checked by the next read */
	}
}

/* TLSA RDATA (RFC 6698 2.1): usage, selector, matching type, then the
 * certificate association data. */
#define DNS_TLSA_FIXED 3

/* One pass over the answer: when ans is NULL, only checks the message
 * and counts; otherwise adds every TLSA record to ans. *good_out counts the
 * TLSA records kept, *short_out those with RDATA under DNS_TLSA_FIXED
 * bytes. Returns 0, or -1 when the message is malformed or cut. */
static int dns_tlsa_walk(const unsigned char *m, size_t len, struct dns_answer *ans,
			 size_t *good_out, size_t *short_out)
{
	unsigned qdcount = dns_get16(m + 4), ancount = dns_get16(m + 6);
	size_t off = DNS_HDR_LEN;
	*good_out = *short_out = 0;
	/* Each question and record takes at least 5 and 11 bytes, so the
	 * counts cannot make us loop longer than the message allows. */
	for (unsigned i = 0; i < qdcount; i++) {
		if (dns_wire_name(m, len, off, &off) < 0 || len - off < 4)
			return -1;
		off += 4; /* QTYPE, QCLASS */
	}
	for (unsigned i = 0; i < ancount; i++) {
		/* The owner is checked, not compared: a validating resolver
		 * answers with the records at the end of the CNAME chain
		 * (RFC 7671 asks clients to follow it; the resolver already
		 * did), and c-ares matched the question to ours. */
		if (dns_wire_name(m, len, off, &off) < 0 || len - off < 10)
			return -1;
		unsigned type = dns_get16(m + off), class = dns_get16(m + off + 2);
		size_t rdlen = dns_get16(m + off + 8);
		off += 10; /* TYPE, CLASS, TTL, RDLENGTH */
		if (len - off < rdlen)
			return -1;
		const unsigned char *rd = m + off;
		off += rdlen;
		if (type != DNS_TYPE_TLSA || class != DNS_CLASS_IN)
			continue; /* CNAME, DNAME, RRSIG, ... */
		if (rdlen < DNS_TLSA_FIXED) {
			/* RFC 7672 2.2: a malformed TLSA record is
			 * "unusable" and ignored; the caller learns of it. */
			(*short_out)++;
			continue;
		}
		(*good_out)++;
		if (ans == NULL)
			continue;
		/* NULL once a bound is reached (truncated is set); the walk
		 * goes on so the message is checked to its end regardless. */
		struct dns_arec *r = dns_answer_add(ans, rd + DNS_TLSA_FIXED,
						    rdlen - DNS_TLSA_FIXED, true);
		if (r != NULL) {
			r->usage = rd[0];
			r->selector = rd[1];
			r->mtype = rd[2];
		}
	}
	/* The authority and additional sections are not read. */
	return 0;
}

long dns_answer_min_ttl(const unsigned char *m, size_t len)
{
	if (m == NULL || len < DNS_HDR_LEN)
		return -1;
	unsigned qdcount = dns_get16(m + 4), ancount = dns_get16(m + 6);
	size_t off = DNS_HDR_LEN;
	for (unsigned i = 0; i < qdcount; i++) {
		if (dns_wire_name(m, len, off, &off) < 0 || len - off < 4)
			return -1;
		off += 4;
	}
	long min = -1;
	for (unsigned i = 0; i < ancount; i++) {
		if (dns_wire_name(m, len, off, &off) < 0 || len - off < 10)
			return -1;
		unsigned long ttl = (unsigned long)m[off + 4] << 24 | (unsigned long)m[off + 5] << 16 |
				    (unsigned long)m[off + 6] << 8 | m[off + 7];
		size_t rdlen = dns_get16(m + off + 8);
		off += 10;
		if (len - off < rdlen)
			return -1;
		off += rdlen;
		if (ttl > 0x7fffffffUL)
			ttl = 0; /* RFC 2181 8: treat as zero */
		if (min < 0 || (long)ttl < min)
			min = (long)ttl;
	}
	return min;
}

int dns_parse_tlsa(const unsigned char *abuf, size_t alen, struct dns_answer *ans)
{
	if (abuf == NULL || alen < DNS_HDR_LEN)
		return ARES_EBADRESP;
	int st = dns_rcode_status(abuf);
	if (st != ARES_SUCCESS)
		return st;
	/* A cut answer may lack records of the RRset, and DANE must see all
	 * of it. c-ares 1.18 retries such answers over TCP (failing the
	 * query when it cannot), so TC only gets here from a channel set to
	 * ignore it (ARES_FLAG_IGNTC) or a hand-made message. */
	if (abuf[2] & DNS_HDR_TC)
		return ARES_EBADRESP;
	size_t good, bad;
	/* Checked whole before anything is added: a broken message leaves
	 * ans untouched. */
	if (dns_tlsa_walk(abuf, alen, NULL, &good, &bad) < 0)
		return ARES_EBADRESP;
	if (good == 0 && bad > 0) {
		/* A TLSA RRset exists but none of it can be read. NODATA would
		 * let a DANE client fall back to opportunistic TLS, which the
		 * published RRset forbids: defer instead. */
		ans->malformed = true;
		return ARES_EBADRESP;
	}
	if (good == 0)
		return ARES_ENODATA;
	ans->malformed = bad > 0;
	(void)dns_tlsa_walk(abuf, alen, ans, &good, &bad);
	return ARES_SUCCESS;
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

