/* authn: the asynchronous password check and the per-address failure
 * throttle. Owns the throttle table (bounded: one entry per address that
 * failed recently, pruned as it grows) and the worker jobs of pending
 * checks. It never logs secrets and never replies: sessions do. */
#include "auth/authn.h"

#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/userdb.h"
#include "core/alloc.h"
#include "net/addr.h"
#include "core/worker.h"

#define AUTHN_BUCKETS 1024
/* Above this many tracked addresses, expired ones are pruned first. */
#define AUTHN_TRACK_MAX 100000
/* Delay after the n-th failure: 250 ms doubled per failure, capped. */
#define AUTHN_DELAY_BASE_MS 250
#define AUTHN_DELAY_MAX_MS 8000


struct authn_entry {
	unsigned char addr[ADDR_KEY_LEN];
	unsigned failures;
	time_t last;
	struct authn_entry *next;
};

struct authn {
	struct authn_entry *buckets[AUTHN_BUCKETS]; /* owned chains */
	size_t count;
	/* A real yescrypt hash of a random password, checked for unknown
	 * users so that they cost the same work as known ones. */
	char dummy_hash[USERDB_HASH_MAX + 1];
};

struct authn_job {
	char hash[USERDB_HASH_MAX + 1];
	char password[USERDB_PASSWORD_MAX + 1];
	bool known;
	bool ok;
	authn_done_fn done;
	void *arg;
};

bool authn_plaintext_allowed(enum cfg_plaintext_auth policy, bool tls, bool loopback)
{
	switch (policy) {
	case CFG_PLAINTEXT_ALWAYS:
		return true;
	case CFG_PLAINTEXT_TLS_OR_LOOPBACK:
		return tls || loopback;
	case CFG_PLAINTEXT_TLS:
		return tls;
	}
	return false;
}

struct authn *authn_new(void)
{
	struct authn *a = xcalloc(1, sizeof(struct authn));
	unsigned char rnd[16];
	char pw[40];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0x5a, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		(void)snprintf(pw + 2 * i, 3, "%02x", rnd[i]);
	if (userdb_hash_password(pw, a->dummy_hash, sizeof(a->dummy_hash)) != 0)
		a->dummy_hash[0] = '\0';
	OPENSSL_cleanse(pw, sizeof(pw));
	return a;
}

void authn_free(struct authn **pp)
{
	struct authn *a = *pp;
	if (a == NULL)
		return;
	for (size_t i = 0; i < AUTHN_BUCKETS; i++) {
		struct authn_entry *e = a->buckets[i];
		while (e) {
			struct authn_entry *n = e->next;
			free(e);
			e = n;
		}
	}
	free(a);
	*pp = NULL;
}

int authn_normalize_user(const char *name, size_t len, const char *default_domain, char *out,
			 size_t out_size)
{
	if (len == 0 || memchr(name, '\0', len) != NULL)
		return -1;
	bool has_at = memchr(name, '@', len) != NULL;
	int n = has_at ? snprintf(out, out_size, "%.*s", (int)len, name)
		       : snprintf(out, out_size, "%.*s@%s", (int)len, name, default_domain);
	if (n < 0 || (size_t)n >= out_size)
		return -1;
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	return userdb_is_valid_address(out, (size_t)n) ? 0 : -1;
}

static void check_work(void *arg)
{
	struct authn_job *job = arg;
	bool ok = userdb_check_password(job->password, job->hash);
	job->ok = ok && job->known;
	OPENSSL_cleanse(job->password, sizeof(job->password));
}

static void check_done(void *arg)
{
	struct authn_job *job = arg;
	authn_done_fn done = job->done;
	void *darg = job->arg;
	bool ok = job->ok;
	OPENSSL_cleanse(job, sizeof(*job));
	free(job);
	done(darg, ok);
}

void authn_check_password(struct authn *a, struct worker_pool *wp, const struct userdb *users,
			  const char *user, const char *password, size_t password_len,
			  authn_done_fn done, void *arg)
{
	struct authn_job *job = xcalloc(1, sizeof(*job));
	job->done = done;
	job->arg = arg;
	const struct user_entry *u = userdb_find(users, user, strlen(user));
	if (u != NULL && strlen(u->hash) <= USERDB_HASH_MAX) {
		memcpy(job->hash, u->hash, strlen(u->hash) + 1);
		job->known = true;
	} else {
		memcpy(job->hash, a->dummy_hash, sizeof(job->hash));
	}
	if (password_len > USERDB_PASSWORD_MAX || memchr(password, '\0', password_len) != NULL) {
		job->known = false; /* still do the work: no early answer */
		password_len = 0;
	}
	memcpy(job->password, password, password_len);
	job->password[password_len] = '\0';
	worker_submit(wp, check_work, check_done, job);
}

static unsigned addr_hash(const unsigned char key[ADDR_KEY_LEN])
{
	return addr_key_hash(key) % AUTHN_BUCKETS;
}

static void prune(struct authn *a, time_t now)
{
	for (size_t i = 0; i < AUTHN_BUCKETS; i++) {
		struct authn_entry **pe = &a->buckets[i];
		while (*pe) {
			if (now - (*pe)->last > AUTHN_FORGET_S) {
				struct authn_entry *dead = *pe;
				*pe = dead->next;
				free(dead);
				a->count--;
			} else {
				pe = &(*pe)->next;
			}
		}
	}
}

static struct authn_entry *find(struct authn *a, const struct sockaddr *peer, bool create)
{
	unsigned char key[ADDR_KEY_LEN];
	addr_key(peer, key);
	unsigned h = addr_hash(key);
	time_t now = time(NULL);
	for (struct authn_entry *e = a->buckets[h]; e; e = e->next) {
		if (memcmp(e->addr, key, ADDR_KEY_LEN) == 0) {
			if (now - e->last > AUTHN_FORGET_S)
				e->failures = 0;
			return e;
		}
	}
	if (!create)
		return NULL;
	if (a->count >= AUTHN_TRACK_MAX)
		prune(a, now);
	if (a->count >= AUTHN_TRACK_MAX)
		return NULL; /* still full: an attack from very many addresses */
	struct authn_entry *e = xcalloc(1, sizeof(*e));
	memcpy(e->addr, key, ADDR_KEY_LEN);
	e->last = now;
	e->next = a->buckets[h];
	a->buckets[h] = e;
	a->count++;
	return e;
}

unsigned authn_failure(struct authn *a, const struct sockaddr *peer)
{
	struct authn_entry *e = find(a, peer, true);
	if (e == NULL)
		return AUTHN_DELAY_MAX_MS;
	e->failures++;
	e->last = time(NULL);
	unsigned shift = e->failures - 1 > 5 ? 5 : e->failures - 1;
	unsigned delay = AUTHN_DELAY_BASE_MS << shift;
	return delay > AUTHN_DELAY_MAX_MS ? AUTHN_DELAY_MAX_MS : delay;
}

void authn_success(struct authn *a, const struct sockaddr *peer)
{
	struct authn_entry *e = find(a, peer, false);
	if (e != NULL)
		e->failures = 0;
}

unsigned authn_failures(struct authn *a, const struct sockaddr *peer)
{
	struct authn_entry *e = find(a, peer, false);
	return e ? e->failures : 0;
}
