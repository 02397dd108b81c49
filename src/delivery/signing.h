/* signing: the DKIM keys the server signs outgoing mail with, per local
 * domain (RFC 6376, RFC 8463): the signing selectors of
 * data_dir/dkim/DOMAIN/ (generated on first start by trust/dkim_keys),
 * loaded once. The private keys are only read (signing runs on worker
 * threads; OpenSSL allows concurrent use of one EVP_PKEY for signing).
 *
 * signing_message() adds the DKIM-Signature fields to a stored message
 * file in place (rewritten through a temporary file and a rename): it is
 * blocking and meant for the intake's worker thread. */
#ifndef KONVERT_DELIVERY_SIGNING_H
#define KONVERT_DELIVERY_SIGNING_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct signing;
struct signing_domain;

/* Makes (when missing) and loads the keys of every local domain. Blocking:
 * call at start, as the user that owns data_dir. NULL with err on failure. */
struct signing *signing_new(const struct config *cfg, char *err, size_t err_size);
void signing_free(struct signing **pp);

/* The keys of domain (lower case), or NULL when it has none. Borrowed:
 * valid while s lives. */
const struct signing_domain *signing_find(const struct signing *s, const char *domain);
const char *signing_domain_name(const struct signing_domain *d);

/* Signs msg[0..len) (stored form, LF line ends, the header block first)
 * with every signing key of d; *fields_out gets the owned text of the
 * DKIM-Signature fields (stored form, each ending in LF) to put in front
 * of the header. Returns 0, or -1 with a static reason. */
int signing_sign(const struct signing_domain *d, const char *msg, size_t len, int64_t now,
		 char **fields_out, size_t *fields_len_out, const char **err_out);

#endif
