/* authcheck_dns: net/dns behind trust/authcheck's abstract DNS ops. An
 * answer truncated at net/dns's bounds counts as a temporary failure
 * (SPF, DKIM and DMARC must see every record). */
#ifndef KONVERT_TRUST_AUTHCHECK_DNS_H
#define KONVERT_TRUST_AUTHCHECK_DNS_H

#include "trust/authcheck.h"

struct dns;

/* Fills ops for dns (borrowed: it must outlive every check). */
void authcheck_dns_ops_init(struct authcheck_dns_ops *ops, struct dns *dns);

#endif
