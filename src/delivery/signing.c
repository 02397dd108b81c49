/* signing: owns the loaded DKIM private keys of the local domains and
 * signs with them. It reads keys from data_dir/dkim through
 * trust/dkim_keys and never writes a mail file itself (intake does). */
#include "delivery/signing.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "core/alloc.h"
#include "trust/dkim_keys.h"
#include "trust/dkim_sign.h"

#define SIGNING_KEYS_MAX 4

struct signing_domain {
	char *domain; /* owned */
	char *selector[SIGNING_KEYS_MAX]; /* owned */
	EVP_PKEY *key[SIGNING_KEYS_MAX]; /* owned */
	size_t count;
};

struct signing {
	struct signing_domain *domains; /* owned array */
	size_t count;
};

void signing_free(struct signing **pp)
{
	struct signing *s = *pp;
	if (s == NULL)
		return;
	*pp = NULL;
	for (size_t i = 0; i < s->count; i++) {
		struct signing_domain *d = &s->domains[i];
		for (size_t k = 0; k < d->count; k++) {
			free(d->selector[k]);
			EVP_PKEY_free(d->key[k]);
		}
		free(d->domain);
	}
	free(s->domains);
	free(s);
}

struct signing *signing_new(const struct config *cfg, char *err, size_t err_size)
{
	struct signing *s = xcalloc(1, sizeof(*s));
	s->domains = xcalloc(cfg->domain_count ? cfg->domain_count : 1, sizeof(*s->domains));
	for (size_t i = 0; i < cfg->domain_count; i++) {
		const char *dom = cfg->domains[i];
		if (!dkim_keys_is_valid_domain(dom))
			continue; /* e.g. "localhost" works; odd names sign nothing */
		struct dkim_keys_list list;
		char kerr[512];
		if (dkim_keys_ensure(cfg->data_dir, dom, time(NULL), &list, kerr, sizeof(kerr)) < 0) {
			(void)snprintf(err, err_size, "DKIM keys of %s: %s", dom, kerr);
			signing_free(&s);
			return NULL;
		}
		struct signing_domain *d = &s->domains[s->count++];
		d->domain = xstrdup(dom);
		for (size_t k = 0; k < list.count && d->count < SIGNING_KEYS_MAX; k++) {
			if (!list.sel[k].signing)
				continue;
			EVP_PKEY *key = dkim_keys_private(cfg->data_dir, dom, list.sel[k].name, kerr,
							  sizeof(kerr));
			if (key == NULL) {
				(void)snprintf(err, err_size, "DKIM key %s of %s: %s", list.sel[k].name,
					       dom, kerr);
				signing_free(&s);
				return NULL;
			}
			d->selector[d->count] = xstrdup(list.sel[k].name);
			d->key[d->count] = key;
			d->count++;
		}
	}
	return s;
}

const struct signing_domain *signing_find(const struct signing *s, const char *domain)
{
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < s->count; i++)
		if (strcmp(s->domains[i].domain, domain) == 0 && s->domains[i].count > 0)
			return &s->domains[i];
	return NULL;
}

const char *signing_domain_name(const struct signing_domain *d)
{
	return d->domain;
}

int signing_sign(const struct signing_domain *d, const char *msg, size_t len, int64_t now,
		 char **fields_out, size_t *fields_len_out, const char **err_out)
{
	char *all = NULL;
	size_t all_len = 0;
	for (size_t k = 0; k < d->count; k++) {
		struct dkim_sign_params p = {.domain = d->domain,
					     .selector = d->selector[k],
					     .key = d->key[k],
					     .timestamp = now};
		char *field = NULL;
		/* Each signature covers the message as received: neither signs
		 * the other (both are over the same header fields). */
		if (dkim_sign(&p, msg, len, &field, err_out) != 0) {
			free(all);
			return -1;
		}
		size_t n = strlen(field);
		all = xrealloc(all, all_len + n + 1);
		memcpy(all + all_len, field, n);
		all_len += n;
		all[all_len] = '\0';
		free(field);
	}
	*fields_out = all;
	*fields_len_out = all_len;
	return 0;
}
