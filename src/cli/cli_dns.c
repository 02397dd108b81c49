/* cli_dns: prints the DNS records a local domain needs and rotates its
 * DKIM keys. It owns only the text of the records; the keys belong to
 * trust/dkim_keys, the settings to config. Every line must paste into a
 * zone file as it is: absolute names, TXT values quoted and split into
 * strings of at most 255 octets (RFC 1035 3.3.14). */
#include "cli/cli_dns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_common.h"
#include "config/config.h"
#include "trust/dkim_keys.h"

#define DNS_TTL 3600
/* RFC 1035 3.3: a character-string holds at most 255 octets. */
#define TXT_CHUNK_MAX 255

static int load_config(const char *config_path, struct config **cfg_out)
{
	char *errors = NULL;
	if (cfg_load(cfg_default_path(config_path), cfg_out, &errors) == 0)
		return 0;
	cli_err("%s", errors != NULL && errors[0] != '\0' ? errors : "cannot load the configuration");
	free(errors);
	return -1;
}

/* The domain argument, lower-cased, checked to be local. */
static int local_domain(const struct config *cfg, const char *arg, char *out, size_t out_size)
{
	size_t n = strlen(arg);
	if (n > 0 && arg[n - 1] == '.')
		n--;
	if (n == 0 || n >= out_size) {
		cli_err("%s: not a domain name", arg);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = (char)(arg[i] >= 'A' && arg[i] <= 'Z' ? arg[i] - 'A' + 'a' : arg[i]);
	out[n] = '\0';
	if (!cfg_is_local_domain(cfg, out, n) || !dkim_keys_is_valid_domain(out)) {
		cli_err("%s: not a local domain (see the domains setting)", out);
		return -1;
	}
	return 0;
}

/* One TXT record: value split into quoted strings of TXT_CHUNK_MAX. */
static void print_txt(FILE *out, const char *name, const char *value)
{
	(void)fprintf(out, "%s. %d IN TXT", name, DNS_TTL);
	size_t len = strlen(value);
	size_t i = 0;
	do {
		size_t n = len - i < TXT_CHUNK_MAX ? len - i : TXT_CHUNK_MAX;
		(void)fputs(" \"", out);
		for (size_t k = 0; k < n; k++) {
			char c = value[i + k];
			if (c == '"' || c == '\\')
				(void)fputc('\\', out);
			(void)fputc(c, out);
		}
		(void)fputc('"', out);
		i += n;
	} while (i < len);
	(void)fputc('\n', out);
}

static unsigned listen_port(const struct cfg_listen_list *l)
{
	if (l->count == 0)
		return 0;
	const struct sockaddr_storage *ss = &l->items[0].addr;
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

/* RFC 6186 SRV: "0 0 0 ." says the service is not offered (RFC 6186 4).
 * Implicit TLS gets the lower priority number (RFC 8314 5.1: preferred). */
static void print_srv(FILE *out, const char *service, const char *domain, unsigned prio,
		      unsigned port, const char *host)
{
	if (port == 0)
		(void)fprintf(out, "%s._tcp.%s. %d IN SRV 0 0 0 .\n", service, domain, DNS_TTL);
	else
		(void)fprintf(out, "%s._tcp.%s. %d IN SRV %u 1 %u %s.\n", service, domain,
			      DNS_TTL, prio, port, host);
}

/* MTA-STS policy id (RFC 8461 3.1: 1-32 alphanumerics): a digest of the
 * policy text, so that it changes exactly when the policy does. */
static void sts_id(const char *policy, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;
	if (EVP_Digest(policy, strlen(policy), md, &md_len, EVP_sha256(), NULL) != 1)
		md_len = 0;
	size_t k = 0;
	for (unsigned i = 0; i < md_len && k + 2 < 33; i++)
		k += (size_t)snprintf(out + k, 33 - k, "%02x", md[i]);
	out[k] = '\0';
	if (k == 0)
		(void)snprintf(out, 33, "konvert1");
}

static int print_records(const struct config *cfg, const char *domain,
			 const struct dkim_keys_list *keys)
{
	char host[260];
	size_t hl = strlen(cfg->hostname);
	if (hl > 0 && cfg->hostname[hl - 1] == '.')
		hl--;
	(void)snprintf(host, sizeof(host), "%.*s", (int)hl, cfg->hostname);
	char name[512];
	char value[512];
	FILE *out = stdout;

	(void)fprintf(out, "; DNS records for %s (konvert dns-records)\n", domain);
	(void)fprintf(out, "%s. %d IN MX 10 %s.\n", domain, DNS_TTL, host);
	print_txt(out, domain, "v=spf1 mx -all");
	for (size_t i = 0; i < keys->count; i++) {
		const struct dkim_keys_selector *s = &keys->sel[i];
		char err[512] = "";
		char *rec = dkim_keys_record(cfg->data_dir, domain, s->name, err, sizeof(err));
		if (rec == NULL) {
			cli_err("%s", err);
			return -1;
		}
		(void)fprintf(out, "; DKIM selector %s (%s, %s)\n", s->name,
			      dkim_keys_alg_name(s->alg), s->signing ? "signing" : "published only");
		(void)snprintf(name, sizeof(name), "%s._domainkey.%s", s->name, domain);
		print_txt(out, name, rec);
		free(rec);
	}
	(void)snprintf(name, sizeof(name), "_dmarc.%s", domain);
	(void)snprintf(value, sizeof(value), "v=DMARC1; p=quarantine; rua=mailto:postmaster@%s",
		       domain);
	print_txt(out, name, value);

	/* The policy that https://mta-sts.DOMAIN/.well-known/mta-sts.txt must
	 * serve; "testing" until the administrator has checked it. */
	char policy[400];
	(void)snprintf(policy, sizeof(policy),
		       "version: STSv1\nmode: testing\nmx: %s\nmax_age: 604800\n", host);
	char id[33];
	sts_id(policy, id);
	(void)fprintf(out,
		      "; MTA-STS: serve at https://mta-sts.%s/.well-known/mta-sts.txt:\n"
		      ";   version: STSv1 / mode: testing / mx: %s / max_age: 604800\n",
		      domain, host);
	(void)snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	(void)snprintf(value, sizeof(value), "v=STSv1; id=%s", id);
	print_txt(out, name, value);
	(void)snprintf(name, sizeof(name), "_smtp._tls.%s", domain);
	(void)snprintf(value, sizeof(value), "v=TLSRPTv1; rua=mailto:postmaster@%s", domain);
	print_txt(out, name, value);

	(void)fputs("; mail client autoconfiguration (RFC 6186, RFC 8314)\n", out);
	print_srv(out, "_submissions", domain, 0, listen_port(&cfg->smtps_listen), host);
	print_srv(out, "_submission", domain, 10, listen_port(&cfg->submission_listen), host);
	/* IMAP is not served yet: "not offered". */
	print_srv(out, "_imaps", domain, 0, 0, host);
	print_srv(out, "_imap", domain, 10, 0, host);
	print_srv(out, "_pop3s", domain, 0, listen_port(&cfg->pop3s_listen), host);
	print_srv(out, "_pop3", domain, 10, listen_port(&cfg->pop3_listen), host);
	if (fflush(out) != 0 || ferror(out)) {
		cli_err("write error on standard output");
		return -1;
	}
	return 0;
}

int cli_dns_records_main(int argc, char **argv, const char *config_path)
{
	if (argc != 2) {
		(void)fputs("usage: konvert dns-records DOMAIN\n", stderr);
		return 2;
	}
	struct config *cfg = NULL;
	if (load_config(config_path, &cfg) < 0)
		return 1;
	int rc = 1;
	char domain[256];
	char err[512] = "";
	struct dkim_keys_list keys;
	if (local_domain(cfg, argv[1], domain, sizeof(domain)) < 0)
		goto out;
	if (dkim_keys_ensure(cfg->data_dir, domain, time(NULL), &keys, err, sizeof(err)) < 0) {
		cli_err("%s", err);
		goto out;
	}
	rc = print_records(cfg, domain, &keys) < 0 ? 1 : 0;
out:
	cfg_free(&cfg);
	return rc;
}

int cli_dkim_main(int argc, char **argv, const char *config_path)
{
	if (argc != 3 || strcmp(argv[1], "rotate") != 0) {
		(void)fputs("usage: konvert dkim rotate DOMAIN\n", stderr);
		return 2;
	}
	struct config *cfg = NULL;
	if (load_config(config_path, &cfg) < 0)
		return 1;
	int rc = 1;
	char domain[256];
	char err[512] = "";
	struct dkim_keys_list keys;
	if (local_domain(cfg, argv[2], domain, sizeof(domain)) < 0)
		goto out;
	if (dkim_keys_rotate(cfg->data_dir, domain, time(NULL), &keys, err, sizeof(err)) < 0) {
		cli_err("%s", err);
		goto out;
	}
	for (size_t i = 0; i < keys.count; i++)
		(void)printf("%s %s %s\n", keys.sel[i].name, dkim_keys_alg_name(keys.sel[i].alg),
			     keys.sel[i].signing ? "sign" : "publish");
	(void)printf("; publish the new selectors (konvert dns-records %s) before mail is "
		     "signed with them; restart or reload the server\n",
		     domain);
	rc = 0;
out:
	cfg_free(&cfg);
	return rc;
}
