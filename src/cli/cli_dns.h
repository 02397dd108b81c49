/* cli_dns: "konvert dns-records DOMAIN" and "konvert dkim rotate DOMAIN"
 * (SPEC.md "Command line", "Mail authentication").
 *
 * dns-records prints zone-file lines (absolute names, TTL 3600, class IN)
 * for a local domain: MX, SPF, each listed DKIM selector, DMARC
 * ("v=DMARC1; p=quarantine; rua=mailto:postmaster@DOMAIN": quarantine
 * rather than reject so that a forwarding mistake costs a Junk folder, not
 * a bounce), MTA-STS and TLS-RPT TXT, and the RFC 6186/8314 SRV records.
 * It generates the DKIM keys when the domain has none, so its output can be
 * published before the first start. */
#ifndef KONVERT_CLI_CLI_DNS_H
#define KONVERT_CLI_CLI_DNS_H

/* argv[0] is "dns-records", argv[1] the domain. config_path is the -c
 * value or NULL. Returns the exit status: 0, 1 (failure, also for a domain
 * that is not local), 2 (usage). */
int cli_dns_records_main(int argc, char **argv, const char *config_path);

/* argv[0] is "dkim", argv[1] "rotate", argv[2] the domain. Prints the new
 * selectors. Exit status as above. */
int cli_dkim_main(int argc, char **argv, const char *config_path);

#endif
