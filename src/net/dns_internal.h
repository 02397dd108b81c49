/* dns_internal: what net/dns.c (the resolver) and net/dns_plan.c (the
 * pure assembly of answers) share. Not for other modules. */
#ifndef KONVERT_NET_DNS_INTERNAL_H
#define KONVERT_NET_DNS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "net/dns.h"

/* RFC 1035 3.2.2 / RFC 3596 / RFC 6698 7.1: the types and class we ask
 * for. */
#define DNS_CLASS_IN 1
#define DNS_TYPE_A 1
#define DNS_TYPE_PTR 12
#define DNS_TYPE_MX 15
#define DNS_TYPE_TXT 16
#define DNS_TYPE_AAAA 28
#define DNS_TYPE_TLSA 52

/* RFC 1035 4.1.1 header: TC bit in byte 2, rcode in byte 3; RFC 4035
 * 3.2.3 AD bit. */
#define DNS_HDR_LEN 12
#define DNS_HDR_TC 0x02
#define DNS_HDR_AD 0x20

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
/* What ares_query would make of the rcode of the answer in abuf (at least
 * DNS_HDR_LEN bytes): ARES_SUCCESS for NOERROR with answers, ARES_ENODATA
 * for NOERROR without, the c-ares code of the other rcodes (EBADRESP for
 * one c-ares does not know). */
int dns_rcode_status(const unsigned char *abuf);
/* Adds a domain name record (MX, PTR) to a raw answer, normalised. */
struct dns_arec *dns_answer_add_name(struct dns_answer *ans, const char *name);

#endif
