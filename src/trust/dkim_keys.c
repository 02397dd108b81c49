/* dkim_keys: generation, rotation and loading of the per-domain DKIM keys
 * under data_dir/dkim/DOMAIN/. It owns the directory layout, the
 * "selectors" file format and the atomic, owner-preserving writes; it does
 * not sign (dkim_sign does) and never deletes a key: retiring a selector
 * is the administrator's decision, since mail signed with it may still be
 * verified days later. */
#include "trust/dkim_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "net/dns.h"
#include "core/kassert.h"
#include "core/safefile.h"
#include "core/textfile.h"
#include "trust/dkim_sign.h"

#define SELECTORS_FILE "selectors"
/* A 4096-bit RSA key in PEM is ~3.3 KB; nothing we wrote is larger. */
#define KEY_FILE_MAX (16 * 1024)

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t err_size,
							   const char *fmt, ...)
{
	if (err == NULL || err_size == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

const char *dkim_keys_alg_name(enum dkim_keys_alg alg)
{
	return alg == DKIM_KEYS_ED25519 ? "ed25519" : "rsa";
}

bool dkim_keys_is_valid_domain(const char *domain)
{
	/* The one host-name check (labels 1..63, total 253), and lower case
	 * because the name is also a directory name here. */
	size_t n = strlen(domain);
	if (!dns_is_hostname(domain, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((domain[i] >= 'A' && domain[i] <= 'Z') || domain[i] == '_')
			return false;
	return true;
}

static bool is_valid_selector(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > DKIM_KEYS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

/* data_dir/dkim/DOMAIN[/name] into an owned string. */
static char *domain_path(const char *data_dir, const char *domain, const char *name)
{
	size_t n = strlen(data_dir) + strlen(domain) + (name ? strlen(name) : 0) + 16;
	char *p = xmalloc(n);
	int w = name ? snprintf(p, n, "%s/dkim/%s/%s", data_dir, domain, name)
		     : snprintf(p, n, "%s/dkim/%s", data_dir, domain);
	KASSERT(w > 0 && (size_t)w < n);
	return p;
}

/* ---- the selectors file ---- */

/* Cuts the next blank-separated word out of *pp (NUL-terminating it). */
static char *next_word(char **pp)
{
	char *p = *pp;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return NULL;
	char *w = p;
	while (*p != '\0' && *p != ' ' && *p != '\t')
		p++;
	if (*p != '\0')
		*p++ = '\0';
	*pp = p;
	return w;
}

static int parse_line(char *line, struct dkim_keys_selector *sel)
{
	char *name = next_word(&line);
	char *alg = name ? next_word(&line) : NULL;
	char *role = alg ? next_word(&line) : NULL;
	if (role == NULL || next_word(&line) != NULL || !is_valid_selector(name))
		return -1;
	if (strcmp(alg, "ed25519") == 0)
		sel->alg = DKIM_KEYS_ED25519;
	else if (strcmp(alg, "rsa") == 0)
		sel->alg = DKIM_KEYS_RSA;
	else
		return -1;
	if (strcmp(role, "sign") == 0)
		sel->signing = true;
	else if (strcmp(role, "publish") == 0)
		sel->signing = false;
	else
		return -1;
	memcpy(sel->name, name, strlen(name) + 1);
	return 0;
}

int dkim_keys_load(const char *data_dir, const char *domain, struct dkim_keys_list *out,
		   char *err, size_t err_size)
{
	out->count = 0;
	if (!dkim_keys_is_valid_domain(domain)) {
		set_err(err, err_size, "%s: not a valid domain name", domain);
		return -1;
	}
	char *path = domain_path(data_dir, domain, SELECTORS_FILE);
	struct textfile tf;
	int rc = textfile_open(&tf, path, err, err_size);
	if (rc <= 0) {
		free(path);
		return rc;
	}
	char *line;
	size_t len;
	while ((rc = textfile_next(&tf, &line, &len, err, err_size)) == 1) {
		size_t s = 0;
		while (line[s] == ' ' || line[s] == '\t')
			s++;
		if (line[s] == '\0' || line[s] == '#')
			continue;
		if (out->count == DKIM_KEYS_SELECTORS_MAX) {
			set_err(err, err_size, "%s:%lu: more than %d selectors", path, tf.lineno,
				DKIM_KEYS_SELECTORS_MAX);
			rc = -1;
			break;
		}
		if (parse_line(line + s, &out->sel[out->count]) < 0) {
			set_err(err, err_size,
				"%s:%lu: expected SELECTOR ed25519|rsa sign|publish", path,
				tf.lineno);
			rc = -1;
			break;
		}
		out->count++;
	}
	textfile_close(&tf);
	free(path);
	if (rc < 0)
		out->count = 0;
	return rc < 0 ? -1 : 0;
}

/* ---- atomic writes ---- */

/* Writes data as dfd/name (shown as dir/name): a temporary created with
 * O_EXCL|O_NOFOLLOW, mode 0600, owned by uid/gid, fsync, rename over name,
 * directory fsync. */
static int write_atomic(int dfd, const char *dir, const char *name, const char *data,
			size_t len, uid_t uid, gid_t gid, char *err, size_t err_size)
{
	char tmp[DKIM_KEYS_NAME_MAX + 64];
	int n = snprintf(tmp, sizeof(tmp), ".%s.tmp.%ld", name, (long)getpid());
	KASSERT(n > 0 && (size_t)n < sizeof(tmp));
	/* A stale temporary of a dead process with our pid may exist. */
	if (unlinkat(dfd, tmp, 0) < 0 && errno != ENOENT) {
		set_err(err, err_size, "%s/%s: %s", dir, tmp, strerror(errno));
		return -1;
	}
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		set_err(err, err_size, "%s/%s: %s", dir, tmp, strerror(errno));
		return -1;
	}
	const char *what = NULL;
	if (uid != geteuid() && fchown(fd, uid, gid) < 0)
		what = "chown";
	else if (fchmod(fd, 0600) < 0) /* the umask may have cut the mode */
		what = "chmod";
	else if (safefile_write_all(fd, data, len) < 0)
		what = "write";
	else if (fsync(fd) < 0)
		what = "fsync";
	if (close(fd) < 0 && what == NULL)
		what = "close";
	if (what == NULL && renameat(dfd, tmp, dfd, name) < 0)
		what = "rename";
	if (what != NULL) {
		set_err(err, err_size, "%s/%s: %s: %s", dir, tmp, what, strerror(errno));
		(void)unlinkat(dfd, tmp, 0); /* best effort cleanup */
		return -1;
	}
	if (fsync(dfd) < 0) {
		set_err(err, err_size, "%s: fsync: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Opens (creating with mode, owned by uid/gid) the directory parent/name,
 * refusing a symbolic link. */
static int open_dir(int parent, const char *shown, const char *name, mode_t mode, uid_t uid,
		    gid_t gid, char *err, size_t err_size)
{
	if (mkdirat(parent, name, mode) == 0) {
		if (uid != geteuid() && fchownat(parent, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
			set_err(err, err_size, "%s: chown: %s", shown, strerror(errno));
			return -1;
		}
		if (fsync(parent) < 0) {
			set_err(err, err_size, "%s: fsync of its directory: %s", shown,
				strerror(errno));
			return -1;
		}
	} else if (errno != EEXIST) {
		set_err(err, err_size, "%s: mkdir: %s", shown, strerror(errno));
		return -1;
	}
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		set_err(err, err_size, "%s: %s", shown, strerror(errno));
	return fd;
}

/* ---- generation ---- */

static char *key_pem(EVP_PKEY *key, size_t *len_out)
{
	/* Secure memory: the private key is wiped when the BIO is freed. */
	BIO *bio = BIO_new(BIO_s_secmem());
	KASSERT(bio != NULL);
	char *out = NULL;
	if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1) {
		char *data;
		long n = BIO_get_mem_data(bio, &data);
		if (n > 0) {
			out = xmalloc((size_t)n);
			memcpy(out, data, (size_t)n);
			*len_out = (size_t)n;
		}
	}
	BIO_free(bio);
	return out;
}

static bool name_taken(const struct dkim_keys_list *l, int dfd, const char *name)
{
	for (size_t i = 0; i < l->count; i++)
		if (strcmp(l->sel[i].name, name) == 0)
			return true;
	char file[DKIM_KEYS_NAME_MAX + 8];
	int n = snprintf(file, sizeof(file), "%s.pem", name);
	KASSERT(n > 0 && (size_t)n < sizeof(file));
	struct stat st;
	return fstatat(dfd, file, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}

/* Generates one key of alg and writes it as dfd/name.pem. */
static int make_key(int dfd, const char *dir, const char *name, enum dkim_keys_alg alg,
		    uid_t uid, gid_t gid, char *err, size_t err_size)
{
	EVP_PKEY *key = alg == DKIM_KEYS_ED25519 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
						 : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (key == NULL) {
		set_err(err, err_size, "%s: %s key generation failed", dir,
			dkim_keys_alg_name(alg));
		ERR_clear_error();
		return -1;
	}
	size_t len = 0;
	char *pem = key_pem(key, &len);
	EVP_PKEY_free(key);
	if (pem == NULL) {
		set_err(err, err_size, "%s: cannot encode the %s key", dir,
			dkim_keys_alg_name(alg));
		ERR_clear_error();
		return -1;
	}
	char file[DKIM_KEYS_NAME_MAX + 8];
	int n = snprintf(file, sizeof(file), "%s.pem", name);
	KASSERT(n > 0 && (size_t)n < sizeof(file));
	int rc = write_atomic(dfd, dir, file, pem, len, uid, gid, err, err_size);
	OPENSSL_cleanse(pem, len);
	free(pem);
	return rc;
}

static int save_list(int dfd, const char *dir, const char *domain,
		     const struct dkim_keys_list *l, uid_t uid, gid_t gid, char *err,
		     size_t err_size)
{
	size_t cap = 256 + l->count * (DKIM_KEYS_NAME_MAX + 24) + strlen(domain);
	char *buf = xmalloc(cap);
	int n = snprintf(buf, cap,
			 "# DKIM selectors of %s: SELECTOR ALGORITHM sign|publish\n"
			 "# \"publish\" ones stay in DNS; remove a line (and its .pem) to retire it.\n",
			 domain);
	KASSERT(n > 0 && (size_t)n < cap);
	size_t off = (size_t)n;
	for (size_t i = 0; i < l->count; i++) {
		n = snprintf(buf + off, cap - off, "%s %s %s\n", l->sel[i].name,
			     dkim_keys_alg_name(l->sel[i].alg),
			     l->sel[i].signing ? "sign" : "publish");
		KASSERT(n > 0 && (size_t)n < cap - off);
		off += (size_t)n;
	}
	int rc = write_atomic(dfd, dir, SELECTORS_FILE, buf, off, uid, gid, err, err_size);
	free(buf);
	return rc;
}

/* Adds a new signing pair to l (the old ones become "publish"). */
static int add_pair(int dfd, const char *dir, struct dkim_keys_list *l, time_t now, uid_t uid,
		    gid_t gid, char *err, size_t err_size)
{
	if (l->count + 2 > DKIM_KEYS_SELECTORS_MAX) {
		set_err(err, err_size,
			"%s/%s: %zu selectors listed; remove retired ones first (at most %d)",
			dir, SELECTORS_FILE, l->count, DKIM_KEYS_SELECTORS_MAX);
		return -1;
	}
	struct tm tm;
	if (gmtime_r(&now, &tm) == NULL) {
		set_err(err, err_size, "%s: the clock is out of range", dir);
		return -1;
	}
	char ed[DKIM_KEYS_NAME_MAX + 1], rsa[DKIM_KEYS_NAME_MAX + 1];
	bool found = false;
	for (char suffix = 'a'; suffix <= 'z' && !found; suffix++) {
		char s[2] = {suffix == 'a' ? '\0' : suffix, '\0'};
		int a = snprintf(ed, sizeof(ed), "ed%04d%02d%s", tm.tm_year + 1900, tm.tm_mon + 1, s);
		int b = snprintf(rsa, sizeof(rsa), "rsa%04d%02d%s", tm.tm_year + 1900,
				 tm.tm_mon + 1, s);
		KASSERT(a > 0 && (size_t)a < sizeof(ed) && b > 0 && (size_t)b < sizeof(rsa));
		found = !name_taken(l, dfd, ed) && !name_taken(l, dfd, rsa);
	}
	if (!found) {
		set_err(err, err_size, "%s: no free selector name left for this month", dir);
		return -1;
	}
	if (make_key(dfd, dir, ed, DKIM_KEYS_ED25519, uid, gid, err, err_size) < 0 ||
	    make_key(dfd, dir, rsa, DKIM_KEYS_RSA, uid, gid, err, err_size) < 0)
		return -1;
	for (size_t i = 0; i < l->count; i++)
		l->sel[i].signing = false;
	struct dkim_keys_selector *n = &l->sel[l->count];
	n[0] = (struct dkim_keys_selector){.alg = DKIM_KEYS_ED25519, .signing = true};
	n[1] = (struct dkim_keys_selector){.alg = DKIM_KEYS_RSA, .signing = true};
	memcpy(n[0].name, ed, strlen(ed) + 1);
	memcpy(n[1].name, rsa, strlen(rsa) + 1);
	l->count += 2;
	return 0;
}

/* The shared path of ensure and rotate: lock, load, maybe add a pair,
 * save the list last (the commit point: a crash before it leaves unused
 * .pem files, never a listed selector without its key). */
static int generate(const char *data_dir, const char *domain, time_t now, bool rotate,
		    struct dkim_keys_list *out, char *err, size_t err_size)
{
	if (!dkim_keys_is_valid_domain(domain)) {
		set_err(err, err_size, "%s: not a valid domain name", domain);
		return -1;
	}
	if (mkdir(data_dir, 0750) < 0 && errno != EEXIST) {
		set_err(err, err_size, "%s: mkdir: %s", data_dir, strerror(errno));
		return -1;
	}
	int ddfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	if (ddfd < 0 || fstat(ddfd, &st) < 0) {
		set_err(err, err_size, "%s: %s", data_dir, strerror(errno));
		if (ddfd >= 0)
			(void)close(ddfd); /* read-only */
		return -1;
	}
	/* root working on the server's data_dir: new files belong to the
	 * directory's owner, as userdb_save does. */
	uid_t uid = st.st_uid;
	gid_t gid = st.st_gid;
	char *top = domain_path(data_dir, "", NULL); /* "data_dir/dkim/" */
	char *dir = domain_path(data_dir, domain, NULL);
	int rc = -1, kfd = -1, dfd = -1;
	struct dkim_keys_list l = {.count = 0};
	kfd = open_dir(ddfd, top, "dkim", 0700, uid, gid, err, err_size);
	if (kfd < 0)
		goto out;
	dfd = open_dir(kfd, dir, domain, 0700, uid, gid, err, err_size);
	if (dfd < 0)
		goto out;
	if (flock(dfd, LOCK_EX) < 0) {
		set_err(err, err_size, "%s: flock: %s", dir, strerror(errno));
		goto out;
	}
	if (dkim_keys_load(data_dir, domain, &l, err, err_size) < 0)
		goto out;
	if (l.count > 0 && !rotate) {
		rc = 0;
		goto out;
	}
	if (add_pair(dfd, dir, &l, now, uid, gid, err, err_size) < 0 ||
	    save_list(dfd, dir, domain, &l, uid, gid, err, err_size) < 0)
		goto out;
	rc = rotate ? 0 : 1;
out:
	if (rc >= 0 && out != NULL)
		*out = l;
	if (dfd >= 0)
		(void)close(dfd); /* read-only; also drops the lock */
	if (kfd >= 0)
		(void)close(kfd);
	(void)close(ddfd);
	free(dir);
	free(top);
	return rc;
}

int dkim_keys_ensure(const char *data_dir, const char *domain, time_t now,
		     struct dkim_keys_list *out, char *err, size_t err_size)
{
	return generate(data_dir, domain, now, false, out, err, err_size);
}

int dkim_keys_rotate(const char *data_dir, const char *domain, time_t now,
		     struct dkim_keys_list *out, char *err, size_t err_size)
{
	return generate(data_dir, domain, now, true, out, err, err_size);
}

/* ---- reading keys ---- */

EVP_PKEY *dkim_keys_private(const char *data_dir, const char *domain, const char *selector,
			    char *err, size_t err_size)
{
	if (!dkim_keys_is_valid_domain(domain) || !is_valid_selector(selector)) {
		set_err(err, err_size, "%s/%s: not a valid domain or selector", domain, selector);
		return NULL;
	}
	char file[DKIM_KEYS_NAME_MAX + 8];
	int n = snprintf(file, sizeof(file), "%s.pem", selector);
	KASSERT(n > 0 && (size_t)n < sizeof(file));
	char *dir = domain_path(data_dir, domain, NULL);
	char *shown = domain_path(data_dir, domain, file);
	EVP_PKEY *key = NULL;
	char *buf = NULL;
	size_t len = 0;
	int fd = -1;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		set_err(err, err_size, "%s: %s", dir, strerror(errno));
		goto out;
	}
	struct stat st;
	fd = safefile_open(dfd, file, shown, SAFEFILE_NOFOLLOW | SAFEFILE_ONE_LINK, &st, err,
			   err_size);
	if (fd < 0 || safefile_check_mode(&st, shown,
					  SAFEFILE_NO_FOREIGN_WRITE | SAFEFILE_NO_OTHER_READ, err,
					  err_size) < 0)
		goto out;
	if (st.st_size <= 0 || st.st_size > KEY_FILE_MAX) {
		set_err(err, err_size, "%s: not a key file (size %lld)", shown,
			(long long)st.st_size);
		goto out;
	}
	buf = xmalloc((size_t)st.st_size);
	while (len < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			set_err(err, err_size, "%s: read: %s", shown,
				r < 0 ? strerror(errno) : "short file");
			goto out;
		}
		len += (size_t)r;
	}
	key = dkim_key_from_pem(buf, len);
	if (key == NULL)
		set_err(err, err_size, "%s: not a PEM private key", shown);
out:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, len);
		free(buf);
	}
	if (fd >= 0)
		(void)close(fd); /* read-only */
	if (dfd >= 0)
		(void)close(dfd);
	free(shown);
	free(dir);
	return key;
}

char *dkim_keys_record(const char *data_dir, const char *domain, const char *selector,
		       char *err, size_t err_size)
{
	EVP_PKEY *key = dkim_keys_private(data_dir, domain, selector, err, err_size);
	if (key == NULL)
		return NULL;
	char *rec = dkim_key_record(key);
	EVP_PKEY_free(key);
	if (rec == NULL)
		set_err(err, err_size, "%s/%s: neither an RSA nor an Ed25519 key", domain,
			selector);
	return rec;
}
