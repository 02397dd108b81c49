/* authn: the asynchronous password check, the login throttle and the
 * failed-login log line. Owns the four throttle tables (fixed size,
 * allocated once: networks, accounts, (account, network) pairs with
 * failures, trusted pairs) and the worker jobs of pending checks. It
 * never logs secrets and never replies: sessions do, from the result
 * given here. See authn.h for the policy. */
#include "auth/authn.h"

#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/userdb.h"
#include "core/alloc.h"
#include "core/kassert.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/worker.h"
#include "net/addr.h"

/* Keys are truncated SHA-256 of a per-process random salt and what is
 * counted: fixed size whatever the account name, and a client cannot aim
 * at one hash bucket. */
#define KEY_LEN 16
#define SALT_LEN 16
#define NAME_MAX_LEN 320 /* longest normalised user (POP2_USER_MAX) */
#define LOG_NAME_MAX 200
#define NIL 0u /* "no entry" in the index links below (they are index + 1) */

struct rec {
	unsigned char key[KEY_LEN];
	unsigned char owner[KEY_LEN]; /* trusted pairs: the account's key */
	int64_t last; /* last failure (trusted pairs: last success) */
	uint32_t bkey; /* picks the hash bucket */
	uint32_t failures;
	uint32_t acct_share; /* pairs: failures also counted for the account */
	uint32_t chain; /* next in the hash bucket */
	uint32_t older, newer; /* age list: newest touched at the head */
};
_Static_assert(sizeof(struct rec) == 64, "authn.h documents 64-byte entries");

/* A fixed-size hash table with an age list ordered by ->last, so the
 * expired entries are always the oldest ones. The bucket of an entry is
 * picked by a bkey: from its own key, except in the trusted table, where
 * all the networks of one account share the bucket of the account (so
 * they can be counted without a scan). */
struct table {
	struct rec *recs; /* owned, cap entries */
	uint32_t *buckets; /* owned, cap entries (a power of two) */
	uint32_t cap, count;
	uint32_t newest, oldest;
	uint32_t free_list; /* through ->chain */
	uint32_t never_used; /* recs from here on were never handed out */
	int64_t ttl_s; /* an entry is live while now - last <= ttl_s */
};

struct authn {
	/* Sessions on every loop use one throttle: the tables are read and
	 * changed under mu (recursive: entry points call each other). */
	pthread_mutex_t mu;
	struct table nets, accounts, pairs, trusted;
	unsigned char salt[SALT_LEN];
	authn_clock_fn clock;
	void *clock_arg; /* borrowed */
	/* A real yescrypt hash of a random password, checked for unknown
	 * users so that they cost the same work as known ones. */
	char dummy_hash[USERDB_HASH_MAX + 1];
};

struct authn_job {
	struct authn *a; /* borrowed; outlives every job (freed after the pool) */
	char hash[USERDB_HASH_MAX + 1];
	char password[USERDB_PASSWORD_MAX + 1];
	bool known; /* a real hash and a password that may match */
	bool exists; /* the account exists (for the log's reason) */
	bool locked; /* refused before the check: do no work */
	bool ok;
	/* copies of the attempt, for the throttle and the log line */
	char sid[64];
	const char *proto; /* static */
	const char *mechanism; /* static or NULL */
	struct sockaddr_storage peer;
	char peer_text[64];
	char user[NAME_MAX_LEN + 1];
	char name[LOG_NAME_MAX];
	authn_done_fn done;
	void *arg;
};

/* ---- policy and names --------------------------------------------------- */

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

/* ---- fixed-size tables -------------------------------------------------- */

static void table_init(struct table *t, uint32_t cap, int64_t ttl_s)
{
	KASSERT(cap > 0 && (cap & (cap - 1)) == 0);
	t->recs = xcalloc(cap, sizeof(struct rec));
	t->buckets = xcalloc(cap, sizeof(uint32_t));
	t->cap = cap;
	t->ttl_s = ttl_s;
	/* Untouched calloc memory costs no RSS until entries are used. */
	t->free_list = NIL;
	t->never_used = 0;
}

static void table_fini(struct table *t)
{
	free(t->recs);
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

static struct rec *at_index(struct table *t, uint32_t i)
{
	return i == NIL ? NULL : &t->recs[i - 1];
}

static uint32_t index_of(const struct table *t, const struct rec *r)
{
	return (uint32_t)(r - t->recs) + 1;
}

static uint32_t bkey_of(const unsigned char key[KEY_LEN])
{
	uint32_t h;
	memcpy(&h, key, sizeof(h));
	return h;
}

static uint32_t *bucket_of(struct table *t, uint32_t bkey)
{
	return &t->buckets[bkey & (t->cap - 1)];
}

static bool is_live(const struct table *t, const struct rec *r, int64_t now)
{
	return now - r->last <= t->ttl_s;
}

static struct rec *table_find_in(struct table *t, const unsigned char key[KEY_LEN], uint32_t bkey)
{
	for (struct rec *r = at_index(t, *bucket_of(t, bkey)); r != NULL; r = at_index(t, r->chain))
		if (memcmp(r->key, key, KEY_LEN) == 0)
			return r;
	return NULL;
}

static struct rec *table_find(struct table *t, const unsigned char key[KEY_LEN])
{
	return table_find_in(t, key, bkey_of(key));
}

static void age_unlink(struct table *t, struct rec *r)
{
	struct rec *o = at_index(t, r->older), *n = at_index(t, r->newer);
	if (o != NULL)
		o->newer = r->newer;
	else
		t->oldest = r->newer;
	if (n != NULL)
		n->older = r->older;
	else
		t->newest = r->older;
	r->older = r->newer = NIL;
}

static void age_push_newest(struct table *t, struct rec *r)
{
	uint32_t i = index_of(t, r);
	r->older = t->newest;
	r->newer = NIL;
	if (t->newest != NIL)
		at_index(t, t->newest)->newer = i;
	else
		t->oldest = i;
	t->newest = i;
}

/* Sets ->last to now and makes r the newest: the age list stays sorted by
 * ->last because the clock never goes backwards. */
static void table_touch(struct table *t, struct rec *r, int64_t now)
{
	r->last = now;
	age_unlink(t, r);
	age_push_newest(t, r);
}

static void table_remove(struct table *t, struct rec *r)
{
	uint32_t i = index_of(t, r);
	uint32_t *link = bucket_of(t, r->bkey);
	while (*link != i) {
		KASSERT(*link != NIL);
		link = &at_index(t, *link)->chain;
	}
	*link = r->chain;
	age_unlink(t, r);
	memset(r, 0, sizeof(*r));
	r->chain = t->free_list;
	t->free_list = i;
	t->count--;
}

static bool rec_locks(const struct rec *r)
{
	return r->failures >= AUTHN_LOCK_FAILURES;
}

/* The entry to drop from a full table: expired first (they are the
 * oldest), else the oldest of the AUTHN_EVICT_SCAN oldest that does not
 * lock an account, else the oldest. Sparing locks keeps an attacker from
 * lifting a lock by flooding the table with new names or networks. */
static struct rec *pick_victim(struct table *t, int64_t now)
{
	struct rec *oldest = at_index(t, t->oldest);
	KASSERT(oldest != NULL);
	if (!is_live(t, oldest, now))
		return oldest;
	struct rec *r = oldest;
	for (unsigned n = 0; r != NULL && n < AUTHN_EVICT_SCAN; n++, r = at_index(t, r->newer))
		if (!rec_locks(r))
			return r;
	return oldest;
}

/* Finds key or makes a zeroed entry for it (evicting when full); the age
 * of a new entry is now. Never fails. */
static struct rec *table_get_in(struct table *t, const unsigned char key[KEY_LEN], uint32_t bkey,
				int64_t now)
{
	struct rec *r = table_find_in(t, key, bkey);
	if (r != NULL)
		return r;
	if (t->count == t->cap)
		table_remove(t, pick_victim(t, now));
	uint32_t i = t->free_list;
	if (i != NIL) {
		t->free_list = at_index(t, i)->chain;
	} else {
		KASSERT(t->never_used < t->cap);
		i = ++t->never_used;
	}
	r = at_index(t, i);
	memset(r, 0, sizeof(*r));
	memcpy(r->key, key, KEY_LEN);
	r->bkey = bkey;
	uint32_t *b = bucket_of(t, bkey);
	r->chain = *b;
	*b = i;
	r->last = now;
	age_push_newest(t, r);
	t->count++;
	return r;
}

static struct rec *table_get(struct table *t, const unsigned char key[KEY_LEN], int64_t now)
{
	return table_get_in(t, key, bkey_of(key), now);
}

/* A live entry for key, or NULL (an expired one counts as none). */
static struct rec *table_live(struct table *t, const unsigned char key[KEY_LEN], int64_t now)
{
	struct rec *r = table_find(t, key);
	return r != NULL && is_live(t, r, now) ? r : NULL;
}

/* ---- keys ----------------------------------------------------------------- */

static int64_t default_clock(void *arg)
{
	(void)arg;
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return (int64_t)time(NULL);
	return (int64_t)ts.tv_sec;
}

/* The network a client counts for: an IPv4 address (also v4-mapped), or
 * the /64 of an IPv6 address, since one customer often gets a whole /64. */
static void net_of(const struct sockaddr *peer, unsigned char net[ADDR_KEY_LEN])
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	addr_key(peer, net);
	if (memcmp(net, mapped, sizeof(mapped)) != 0)
		memset(net + 8, 0, ADDR_KEY_LEN - 8);
}

enum key_kind { KEY_NET = 'N', KEY_ACCOUNT = 'A', KEY_PAIR = 'P' };

static void make_key(const struct authn *a, enum key_kind kind, const char *user,
		     const struct sockaddr *peer, unsigned char key[KEY_LEN])
{
	unsigned char buf[SALT_LEN + 1 + NAME_MAX_LEN + 1 + ADDR_KEY_LEN];
	size_t n = 0;
	memcpy(buf, a->salt, SALT_LEN);
	n += SALT_LEN;
	buf[n++] = (unsigned char)kind;
	if (kind != KEY_NET) {
		size_t len = strnlen(user, NAME_MAX_LEN);
		memcpy(buf + n, user, len);
		n += len;
		buf[n++] = '\0';
	}
	if (kind != KEY_ACCOUNT) {
		net_of(peer, buf + n);
		n += ADDR_KEY_LEN;
	}
	unsigned char md[SHA256_DIGEST_LENGTH];
	(void)SHA256(buf, n, md);
	memcpy(key, md, KEY_LEN);
}

/* ---- the throttle ----------------------------------------------------------- */

static int64_t now_s(struct authn *a)
{
	return a->clock(a->clock_arg);
}

static void count_up(uint32_t *n)
{
	if (*n < UINT32_MAX)
		(*n)++;
}

unsigned authn_delay_ms(unsigned n)
{
	unsigned shift = n <= 1 ? 0 : n - 1 > 5 ? 5 : n - 1;
	unsigned delay = AUTHN_DELAY_BASE_MS << shift;
	return delay > AUTHN_DELAY_MAX_MS ? AUTHN_DELAY_MAX_MS : delay;
}

/* The trusted entry of (user, peer's network), live or not. */
static struct rec *find_trust(struct authn *a, const char *user, const struct sockaddr *peer)
{
	unsigned char key[KEY_LEN], owner[KEY_LEN];
	make_key(a, KEY_PAIR, user, peer, key);
	make_key(a, KEY_ACCOUNT, user, NULL, owner);
	return table_find_in(&a->trusted, key, bkey_of(owner));
}

static bool authn_is_trusted_unlocked(struct authn *a, const char *user, const struct sockaddr *peer)
{
	if (user[0] == '\0')
		return false;
	struct rec *r = find_trust(a, user, peer);
	return r != NULL && is_live(&a->trusted, r, now_s(a));
}

static bool authn_is_locked_unlocked(struct authn *a, const char *user, const struct sockaddr *peer)
{
	if (user[0] == '\0')
		return false; /* not an address: can never log in anyway */
	unsigned char key[KEY_LEN];
	int64_t now = now_s(a);
	struct rec *r;
	if (authn_is_trusted(a, user, peer)) {
		make_key(a, KEY_PAIR, user, peer, key);
		r = table_live(&a->pairs, key, now);
	} else {
		make_key(a, KEY_ACCOUNT, user, NULL, key);
		r = table_live(&a->accounts, key, now);
	}
	return r != NULL && rec_locks(r);
}

/* Finds or makes the entry for key; an expired one starts from zero. */
static struct rec *fresh(struct table *t, const unsigned char key[KEY_LEN], int64_t now)
{
	struct rec *r = table_get(t, key, now);
	if (!is_live(t, r, now)) {
		r->failures = 0;
		r->acct_share = 0;
	}
	return r;
}

static unsigned authn_failure_unlocked(struct authn *a, const char *user, const struct sockaddr *peer)
{
	unsigned char key[KEY_LEN];
	int64_t now = now_s(a);
	make_key(a, KEY_NET, NULL, peer, key);
	struct rec *net = fresh(&a->nets, key, now);
	count_up(&net->failures);
	table_touch(&a->nets, net, now);
	uint64_t n = net->failures;
	if (user[0] != '\0') {
		bool trusted = authn_is_trusted(a, user, peer);
		make_key(a, KEY_PAIR, user, peer, key);
		struct rec *pair = fresh(&a->pairs, key, now);
		count_up(&pair->failures);
		if (!trusted) {
			/* A trusted network has its own allowance: its typos
			 * never lock the account for everyone else. */
			make_key(a, KEY_ACCOUNT, user, NULL, key);
			struct rec *acct = fresh(&a->accounts, key, now);
			count_up(&acct->failures);
			table_touch(&a->accounts, acct, now);
			count_up(&pair->acct_share);
		}
		table_touch(&a->pairs, pair, now);
		n += pair->failures - 1;
	}
	return authn_delay_ms(n > UINT32_MAX ? UINT32_MAX : (unsigned)n);
}

static void take_back(struct table *t, const unsigned char key[KEY_LEN], uint32_t share,
		      int64_t now)
{
	struct rec *r = table_live(t, key, now);
	if (r != NULL)
		r->failures -= share < r->failures ? share : r->failures;
}

/* Keeps at most AUTHN_TRUST_PER_ACCOUNT_MAX trusted networks per account
 * (one account logging in from countless IPv6 networks must not push
 * everyone else's out): drops the account's oldest when it has that many.
 * They all sit in the owner's bucket. */
static void cap_trust(struct authn *a, const unsigned char owner[KEY_LEN])
{
	struct table *t = &a->trusted;
	struct rec *oldest = NULL;
	unsigned n = 0;
	for (struct rec *r = at_index(t, *bucket_of(t, bkey_of(owner))); r != NULL;
	     r = at_index(t, r->chain)) {
		if (memcmp(r->owner, owner, KEY_LEN) != 0)
			continue;
		if (oldest == NULL || r->last < oldest->last)
			oldest = r;
		n++;
	}
	if (n >= AUTHN_TRUST_PER_ACCOUNT_MAX)
		table_remove(t, oldest);
}

static void authn_success_unlocked(struct authn *a, const char *user, const struct sockaddr *peer)
{
	if (user[0] == '\0')
		return;
	unsigned char pkey[KEY_LEN], key[KEY_LEN];
	int64_t now = now_s(a);
	make_key(a, KEY_PAIR, user, peer, pkey);
	struct rec *pair = table_live(&a->pairs, pkey, now);
	if (pair != NULL) {
		/* Only this account's share: a success on one's own account
		 * must not wipe the failures against another one. */
		make_key(a, KEY_NET, NULL, peer, key);
		take_back(&a->nets, key, pair->failures, now);
		make_key(a, KEY_ACCOUNT, user, NULL, key);
		take_back(&a->accounts, key, pair->acct_share, now);
	}
	if ((pair = table_find(&a->pairs, pkey)) != NULL)
		table_remove(&a->pairs, pair);
	make_key(a, KEY_ACCOUNT, user, NULL, key);
	struct rec *t = table_find_in(&a->trusted, pkey, bkey_of(key));
	if (t == NULL) {
		cap_trust(a, key);
		t = table_get_in(&a->trusted, pkey, bkey_of(key), now);
		memcpy(t->owner, key, KEY_LEN);
	}
	table_touch(&a->trusted, t, now);
}

static unsigned authn_net_failures_unlocked(struct authn *a, const struct sockaddr *peer)
{
	unsigned char key[KEY_LEN];
	make_key(a, KEY_NET, NULL, peer, key);
	struct rec *r = table_live(&a->nets, key, now_s(a));
	return r != NULL ? r->failures : 0;
}

static unsigned authn_account_failures_unlocked(struct authn *a, const char *user)
{
	unsigned char key[KEY_LEN];
	make_key(a, KEY_ACCOUNT, user, NULL, key);
	struct rec *r = table_live(&a->accounts, key, now_s(a));
	return r != NULL ? r->failures : 0;
}

static unsigned authn_pair_failures_unlocked(struct authn *a, const char *user, const struct sockaddr *peer)
{
	unsigned char key[KEY_LEN];
	make_key(a, KEY_PAIR, user, peer, key);
	struct rec *r = table_live(&a->pairs, key, now_s(a));
	return r != NULL ? r->failures : 0;
}

static void authn_get_usage_unlocked(const struct authn *a, struct authn_usage *out)
{
	out->nets = a->nets.count;
	out->accounts = a->accounts.count;
	out->pairs = a->pairs.count;
	out->trusted = a->trusted.count;
}

/* ---- lifecycle ---------------------------------------------------------------- */

struct authn *authn_new(void)
{
	struct authn *a = xcalloc(1, sizeof(struct authn));
	pthread_mutexattr_t attr;
	KASSERT(pthread_mutexattr_init(&attr) == 0);
	KASSERT(pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE) == 0);
	KASSERT(pthread_mutex_init(&a->mu, &attr) == 0);
	(void)pthread_mutexattr_destroy(&attr);
	table_init(&a->nets, AUTHN_NETS_MAX, AUTHN_WINDOW_S);
	table_init(&a->accounts, AUTHN_ACCOUNTS_MAX, AUTHN_WINDOW_S);
	table_init(&a->pairs, AUTHN_PAIRS_MAX, AUTHN_WINDOW_S);
	table_init(&a->trusted, AUTHN_TRUST_MAX, AUTHN_TRUST_S);
	a->clock = default_clock;
	if (RAND_bytes(a->salt, sizeof(a->salt)) != 1)
		fatal("authn: no random bytes for the throttle keys");
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
	table_fini(&a->nets);
	table_fini(&a->accounts);
	table_fini(&a->pairs);
	table_fini(&a->trusted);
	pthread_mutex_destroy(&a->mu);
	free(a);
	*pp = NULL;
}

void authn_set_clock(struct authn *a, authn_clock_fn clock, void *arg)
{
	a->clock = clock != NULL ? clock : default_clock;
	a->clock_arg = clock != NULL ? arg : NULL;
}

/* ---- the login flow ---------------------------------------------------------- */

static const char *reason_name(enum authn_result result, bool exists)
{
	if (result == AUTHN_LOCKED)
		return "locked";
	return exists ? "bad-password" : "unknown";
}

/* The one failed-login line (format in authn.h; fail2ban matches it). */
static void log_failure(const char *sid, const char *proto, const char *mech,
			const char *peer_text, const char *who, size_t who_len, const char *reason,
			unsigned delay)
{
	char esc[LOG_NAME_MAX];
	metrics_auth_failure(proto);
	log_info(sid, "event=auth-failure proto=%s client=%s user=\"%s\" reason=%s delay_ms=%u mechanism=%s",
		 proto, peer_text, log_escape(esc, sizeof(esc), who, who_len), reason, delay,
		 mech != NULL ? mech : "-");
}

/* Records the outcome of an attempt that was admitted or refused; the
 * lock is looked at again here since parallel attempts may have locked
 * the account while this one was being checked. */
static enum authn_result settle(struct authn *a, const char *user, const struct sockaddr *peer,
				bool ok, bool refused, unsigned *delay_out)
{
	*delay_out = 0;
	if (refused || authn_is_locked(a, user, peer)) {
		*delay_out = authn_failure(a, user, peer);
		return AUTHN_LOCKED;
	}
	if (ok && user[0] != '\0') {
		authn_success(a, user, peer);
		return AUTHN_OK;
	}
	*delay_out = authn_failure(a, user, peer);
	return AUTHN_FAILED;
}

/* settle() for a session-side outcome, with the log line. */
static enum authn_result settle_logged(struct authn *a, const struct userdb *users,
				       const struct authn_attempt *at, bool ok, bool refused,
				       unsigned *delay_out)
{
	enum authn_result r = settle(a, at->user, at->peer, ok, refused, delay_out);
	if (r != AUTHN_OK) {
		bool exists = at->user[0] != '\0' &&
			      userdb_find(users, at->user, strlen(at->user)) != NULL;
		const char *who = at->user[0] != '\0' || at->name == NULL ? at->user : at->name;
		size_t who_len = who == at->name ? at->name_len : strlen(who);
		log_failure(at->sid, at->proto, at->mechanism, at->peer_text, who, who_len,
			    reason_name(r, exists), *delay_out);
	}
	return r;
}

enum authn_result authn_conclude(struct authn *a, const struct userdb *users,
				 const struct authn_attempt *at, bool ok, unsigned *delay_ms_out)
{
	return settle_logged(a, users, at, ok, false, delay_ms_out);
}

int authn_admit(struct authn *a, const struct userdb *users, const struct authn_attempt *at,
		unsigned *delay_ms_out)
{
	*delay_ms_out = 0;
	if (!authn_is_locked(a, at->user, at->peer))
		return 0;
	(void)settle_logged(a, users, at, false, true, delay_ms_out);
	return -1;
}

static void check_work(void *arg)
{
	struct authn_job *job = arg;
	if (job->locked)
		return; /* refused: the password is not even looked at */
	bool ok = userdb_check_password(job->password, job->hash);
	job->ok = ok && job->known;
	OPENSSL_cleanse(job->password, sizeof(job->password));
}

static void check_done(void *arg)
{
	struct authn_job *job = arg;
	authn_done_fn done = job->done;
	void *darg = job->arg;
	unsigned delay;
	enum authn_result r = settle(job->a, job->user, (const struct sockaddr *)&job->peer,
				     job->ok, job->locked, &delay);
	if (r != AUTHN_OK)
		log_failure(job->sid[0] != '\0' ? job->sid : NULL, job->proto, job->mechanism,
			    job->peer_text, job->name, strlen(job->name),
			    reason_name(r, job->exists), delay);
	OPENSSL_cleanse(job, sizeof(*job));
	free(job);
	done(darg, r, delay);
}

static void copy_text(char *dst, size_t size, const char *src)
{
	(void)snprintf(dst, size, "%s", src != NULL ? src : "");
}

void authn_login(struct authn *a, struct worker_pool *wp, const struct userdb *users,
		 const struct authn_attempt *at, const char *password, size_t password_len,
		 authn_done_fn done, void *arg)
{
	struct authn_job *job = xcalloc(1, sizeof(*job));
	job->a = a;
	job->done = done;
	job->arg = arg;
	copy_text(job->sid, sizeof(job->sid), at->sid);
	job->proto = at->proto;
	job->mechanism = at->mechanism;
	copy_text(job->peer_text, sizeof(job->peer_text), at->peer_text);
	size_t plen = at->peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						       : sizeof(struct sockaddr_in);
	memcpy(&job->peer, at->peer, plen);
	copy_text(job->user, sizeof(job->user), at->user);
	/* The name for the log, escaped later; a name that is no address
	 * is logged as sent (cut), so that odd guesses still show. */
	if (at->user[0] != '\0' || at->name == NULL) {
		copy_text(job->name, sizeof(job->name), at->user);
	} else {
		size_t n = at->name_len < sizeof(job->name) - 1 ? at->name_len : sizeof(job->name) - 1;
		memcpy(job->name, at->name, n);
		job->name[n] = '\0'; /* a NUL inside cuts it: only for the log */
	}
	job->locked = authn_is_locked(a, job->user, at->peer);
	const struct user_entry *u =
		job->user[0] != '\0' ? userdb_find(users, job->user, strlen(job->user)) : NULL;
	job->exists = u != NULL;
	if (job->locked) {
		/* No copy of the password at all. */
	} else if (u != NULL && strlen(u->hash) <= USERDB_HASH_MAX) {
		memcpy(job->hash, u->hash, strlen(u->hash) + 1);
		job->known = true;
	} else {
		memcpy(job->hash, a->dummy_hash, sizeof(job->hash));
	}
	if (!job->locked) {
		if (password_len > USERDB_PASSWORD_MAX ||
		    memchr(password, '\0', password_len) != NULL) {
			job->known = false; /* still do the work: no early answer */
			password_len = 0;
		}
		memcpy(job->password, password, password_len);
		job->password[password_len] = '\0';
	}
	worker_submit(wp, check_work, check_done, job);
}

/* ---- the throttle's entry points: sessions on every loop share it ---- */

bool authn_is_trusted(struct authn *a, const char *user, const struct sockaddr *peer)
{
	pthread_mutex_lock(&a->mu);
	bool r = authn_is_trusted_unlocked(a, user, peer);
	pthread_mutex_unlock(&a->mu);
	return r;
}

bool authn_is_locked(struct authn *a, const char *user, const struct sockaddr *peer)
{
	pthread_mutex_lock(&a->mu);
	bool r = authn_is_locked_unlocked(a, user, peer);
	pthread_mutex_unlock(&a->mu);
	return r;
}

unsigned authn_failure(struct authn *a, const char *user, const struct sockaddr *peer)
{
	pthread_mutex_lock(&a->mu);
	unsigned r = authn_failure_unlocked(a, user, peer);
	pthread_mutex_unlock(&a->mu);
	return r;
}

void authn_success(struct authn *a, const char *user, const struct sockaddr *peer)
{
	pthread_mutex_lock(&a->mu);
	authn_success_unlocked(a, user, peer);
	pthread_mutex_unlock(&a->mu);
}

unsigned authn_net_failures(struct authn *a, const struct sockaddr *peer)
{
	pthread_mutex_lock(&a->mu);
	unsigned r = authn_net_failures_unlocked(a, peer);
	pthread_mutex_unlock(&a->mu);
	return r;
}

unsigned authn_account_failures(struct authn *a, const char *user)
{
	pthread_mutex_lock(&a->mu);
	unsigned r = authn_account_failures_unlocked(a, user);
	pthread_mutex_unlock(&a->mu);
	return r;
}

unsigned authn_pair_failures(struct authn *a, const char *user, const struct sockaddr *peer)
{
	pthread_mutex_lock(&a->mu);
	unsigned r = authn_pair_failures_unlocked(a, user, peer);
	pthread_mutex_unlock(&a->mu);
	return r;
}

void authn_get_usage(const struct authn *a, struct authn_usage *out)
{
	pthread_mutex_lock(&((struct authn *)a)->mu);
	authn_get_usage_unlocked(a, out);
	pthread_mutex_unlock(&((struct authn *)a)->mu);
}
