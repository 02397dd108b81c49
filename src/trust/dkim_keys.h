/* dkim_keys: the DKIM keys of each local domain, kept in
 * data_dir/dkim/DOMAIN/ (SPEC.md "Files under data_dir").
 *
 * Each selector has its private key in SELECTOR.pem (PKCS#8 PEM, mode
 * 0600). The text file "selectors" lists the active ones, one a line:
 *
 *     # SELECTOR ALGORITHM ROLE
 *     ed202607 ed25519 sign
 *     rsa202607 rsa sign
 *
 * ROLE "sign" marks the pair that signs outgoing mail; "publish" marks
 * older selectors that stay in DNS (so mail signed with them still
 * verifies) until the administrator deletes their line and .pem file by
 * hand. Selectors are named "ed" or "rsa" + YYYYMM (UTC) of their
 * creation, with a letter b..z appended when that name is taken.
 *
 * Every file is written atomically (temporary file with O_EXCL|O_NOFOLLOW,
 * fsync, rename, directory fsync) and, when root runs the command, owned
 * by data_dir's owner so that the server can read it. The generating calls
 * take an flock on the domain directory, so concurrent runs do not race.
 * All calls block (disk, key generation): run them at startup, from the
 * CLI or on a worker thread, never on the event loop. No logging; errors
 * go to err as "path: reason". */
#ifndef KONVERT_TRUST_DKIM_KEYS_H
#define KONVERT_TRUST_DKIM_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>

/* Selectors listed per domain; rotation past it asks to remove old ones. */
#define DKIM_KEYS_SELECTORS_MAX 16
#define DKIM_KEYS_NAME_MAX 63

enum dkim_keys_alg {
	DKIM_KEYS_ED25519,
	DKIM_KEYS_RSA, /* 2048 bits when generated */
};

struct dkim_keys_selector {
	char name[DKIM_KEYS_NAME_MAX + 1];
	enum dkim_keys_alg alg;
	bool signing; /* ROLE "sign" */
};

/* The selectors of one domain in file order (oldest first). */
struct dkim_keys_list {
	struct dkim_keys_selector sel[DKIM_KEYS_SELECTORS_MAX];
	size_t count;
};

/* True when domain is usable as a directory name here: lower case
 * letters, digits, '-' and '.', 1..253 octets, no empty label. */
bool dkim_keys_is_valid_domain(const char *domain);

/* Reads data_dir/dkim/DOMAIN/selectors. Returns 0 with *out filled
 * (count 0 when the file does not exist), or -1 with err set (unreadable,
 * malformed line, too many selectors). */
int dkim_keys_load(const char *data_dir, const char *domain, struct dkim_keys_list *out,
		   char *err, size_t err_size);

/* Makes sure the domain has keys: when no selector is listed, generates an
 * Ed25519 and an RSA-2048 key named after now and lists them as signing.
 * Creates data_dir (0750), dkim/ and dkim/DOMAIN/ (0700) when missing.
 * Returns 1 when keys were generated, 0 when they existed, -1 with err
 * set. *out (may be NULL) receives the resulting list. */
int dkim_keys_ensure(const char *data_dir, const char *domain, time_t now,
		     struct dkim_keys_list *out, char *err, size_t err_size);

/* Rotation: generates a new pair as dkim_keys_ensure does and makes it the
 * signing one; the selectors listed before stay listed with ROLE
 * "publish". Returns 0, or -1 with err set (also when the list would
 * exceed DKIM_KEYS_SELECTORS_MAX). *out (may be NULL) receives the list. */
int dkim_keys_rotate(const char *data_dir, const char *domain, time_t now,
		     struct dkim_keys_list *out, char *err, size_t err_size);

/* Loads the private key of selector. The file must be a regular file
 * with one link, not a symbolic link, and unreadable by others. Returns an
 * owned key (EVP_PKEY_free) or NULL with err set. */
EVP_PKEY *dkim_keys_private(const char *data_dir, const char *domain, const char *selector,
			    char *err, size_t err_size);

/* The DNS key record of selector: "v=DKIM1; k=ed25519; p=..." or
 * "v=DKIM1; k=rsa; p=..." (one string, unquoted, unsplit). Returns an owned
 * string (free()) or NULL with err set. */
char *dkim_keys_record(const char *data_dir, const char *domain, const char *selector,
		       char *err, size_t err_size);

/* "ed25519" or "rsa", as in the selectors file and the k= tag. */
const char *dkim_keys_alg_name(enum dkim_keys_alg alg);

#endif
