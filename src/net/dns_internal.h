/* dns_internal: what net/dns.c (the resolver) and net/dns_plan.c (the
 * pure assembly of answers) share. Not for other modules. */
#ifndef KONVERT_NET_DNS_INTERNAL_H
#define KONVERT_NET_DNS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "net/dns.h"

/* A lookup of a host's addresses still waiting for its answer. */
#define DNS_LOOKUP_OPEN (-1)
/* Index of a host's two lookups. */
enum { DNS_FAM_V6, DNS_FAM_V4 };

/* c-ares status as words. */
const char *dns_strerror(int status);
/* name, printable and bounded, for reason texts. */
void dns_name_show(char *out, size_t out_size, const char *name);
void dns_format(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* True when name may be asked at all (RFC 7208 4.3 for SPF's sake). */
bool dns_is_qname(const char *name, size_t len);
/* Adds a domain name record (MX, PTR) to a raw answer, normalised. */
struct dns_arec *dns_answer_add_name(struct dns_answer *ans, const char *name);

#endif
