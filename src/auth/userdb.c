/* userdb: owns the in-memory account directory and the data_dir/users file
 * format: parsing, sorted lookup, the CLI's mutations, the atomic rewrite,
 * and crypt(3) hashing and checking of passwords. It must not log, read
 * configuration or touch mailboxes; callers report errors and run the slow
 * hash functions off the event loop. */
#include "auth/userdb.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/safefile.h"
#include "core/textfile.h"
#include "core/limits.h"
#include "core/utf8.h"
#include "proto/scram.h"

_Static_assert(USERDB_HASH_MAX >= CRYPT_OUTPUT_SIZE, "USERDB_HASH_MAX too small");
_Static_assert(USERDB_PASSWORD_MAX < CRYPT_MAX_PASSPHRASE_SIZE, "USERDB_PASSWORD_MAX too large");

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

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* ---- address syntax ---- */

static bool is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	/* RFC 5322 3.2.3 atext specials, minus '/' (path separator). */
	return c != '\0' && strchr("!#$%&'*+-=?^_`{|}~", c) != NULL;
}

const char *userdb_local_error(const char *s, size_t len)
{
	if (len == 0)
		return "empty local part";
	if (len > SMTP_LOCAL_MAX)
		return "local part longer than 64 bytes";
	if (s[0] == '.' || s[len - 1] == '.')
		return "local part starts or ends with '.'";
	if (s[0] == '#')
		return "local part starts with '#'";
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (i + 1 < len && s[i + 1] == '.')
				return "\"..\" in the local part";
			i++;
		} else if (c < 0x80) {
			if (c == ' ' || c < 0x20 || c == 0x7f)
				return "space or control character in the local part";
			if (c == '"')
				return "quoted local parts are not supported (dot-atom only)";
			if (!is_atext(c))
				return "character not allowed in a local part "
				       "(dot-atom: letters, digits, !#$%&'*+-=?^_`{|}~)";
			i++;
		} else {
			/* RFC 6531 3.3: atext =/ UTF8-non-ascii, so any
			 * well-formed character; minus the ones that are
			 * invisible or controls (core/utf8.h), since the name
			 * is also a directory and is echoed in replies. */
			uint32_t cp;
			size_t n = utf8_decode(s + i, len - i, &cp);
			if (n == 0)
				return "malformed UTF-8 in the local part";
			if (utf8_is_hidden(cp))
				return "control, space or invisible character in the local part";
			i += n;
		}
	}
	return NULL;
}

const char *userdb_domain_error(const char *s, size_t len)
{
	if (len == 0)
		return "empty domain";
	if (len > SMTP_DOMAIN_MAX)
		return "domain longer than 255 bytes";
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x80)
			return "non-ASCII domain: IDNA is not supported, "
			       "write the A-label (xn--...)";
		if (c == '.') {
			if (label == 0)
				return "empty label in the domain";
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return c == '[' ? "address literals are not supported"
					: "character not allowed in a domain";
		if (++label > 63)
			return "domain label longer than 63 bytes";
	}
	return label > 0 ? NULL : "empty label in the domain";
}

const char *userdb_address_error(const char *s, size_t len)
{
	const char *at = memchr(s, '@', len);
	if (at == NULL)
		return "no '@' (want local@domain)";
	/* RFC 5321 4.5.3.1.3: the path, angle brackets included, is <= 256. */
	if (len + 2 > SMTP_PATH_MAX)
		return "address longer than 254 bytes";
	size_t local_len = (size_t)(at - s);
	const char *why = userdb_local_error(s, local_len);
	return why != NULL ? why : userdb_domain_error(at + 1, len - local_len - 1);
}

bool userdb_is_valid_local(const char *s, size_t len)
{
	return userdb_local_error(s, len) == NULL;
}

bool userdb_is_valid_domain(const char *s, size_t len)
{
	return userdb_domain_error(s, len) == NULL;
}

bool userdb_is_valid_address(const char *s, size_t len)
{
	return userdb_address_error(s, len) == NULL;
}

/* ---- the directory ---- */

struct userdb *userdb_new(void)
{
	return xcalloc(1, sizeof(struct userdb));
}

static void entry_fini(struct user_entry *e)
{
	free(e->address);
	free(e->hash);
	free(e->extra);
	e->address = e->hash = e->extra = NULL;
}

void userdb_free(struct userdb **pp)
{
	if (*pp == NULL)
		return;
	struct userdb *db = *pp;
	for (size_t i = 0; i < db->count; i++)
		entry_fini(&db->users[i]);
	free(db->users);
	free(db->warnings);
	free(db);
	*pp = NULL;
}

/* Compares the query (len bytes, any case) with a stored lower-case,
 * NUL-terminated address, like strcmp on the lower-cased query. */
static int cmp_query(const char *q, size_t len, const char *stored)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char a = (unsigned char)lower(q[i]);
		unsigned char b = (unsigned char)stored[i];
		if (a != b)
			return a < b ? -1 : 1; /* b == 0 lands here too: query longer */
	}
	return stored[len] == '\0' ? 0 : -1;
}

/* Lower bound: first index whose address is >= the query; *found says
 * whether it is equal. */
static size_t search(const struct userdb *db, const char *q, size_t len, bool *found)
{
	size_t lo = 0, hi = db->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp_query(q, len, db->users[mid].address) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < db->count && cmp_query(q, len, db->users[lo].address) == 0;
	return lo;
}

const struct user_entry *userdb_find(const struct userdb *db, const char *address, size_t len)
{
	bool found;
	size_t i = search(db, address, len, &found);
	return found ? &db->users[i] : NULL;
}

static bool is_valid_hash(const char *hash)
{
	return hash != NULL && hash[0] != '\0' && strpbrk(hash, ":\r\n \t") == NULL;
}

static bool is_valid_extra(const char *extra)
{
	return extra == NULL || strpbrk(extra, "\r\n") == NULL;
}

static char *dup_extra(const char *extra)
{
	return (extra == NULL || extra[0] == '\0') ? NULL : xstrdup(extra);
}

static char *dup_lower(const char *s, size_t len)
{
	char *d = xstrndup(s, len);
	for (size_t i = 0; i < len; i++)
		d[i] = lower(d[i]);
	return d;
}

int userdb_add(struct userdb *db, const char *address, const char *hash, const char *extra)
{
	size_t len = strlen(address);
	if (!userdb_is_valid_address(address, len) || !is_valid_hash(hash) ||
	    !is_valid_extra(extra))
		return -1;
	bool found;
	size_t i = search(db, address, len, &found);
	if (found)
		return -1;
	size_t bytes;
	if (ckd_add_size(&bytes, db->count, 1) ||
	    ckd_mul_size(&bytes, bytes, sizeof(struct user_entry)))
		return -1;
	db->users = xrealloc(db->users, bytes);
	memmove(&db->users[i + 1], &db->users[i], (db->count - i) * sizeof(struct user_entry));
	db->users[i] = (struct user_entry){
		.address = dup_lower(address, len),
		.hash = xstrdup(hash),
		.extra = dup_extra(extra),
	};
	db->count++;
	return 0;
}

int userdb_set_hash(struct userdb *db, const char *address, const char *hash, const char *extra)
{
	if (!is_valid_hash(hash) || !is_valid_extra(extra))
		return -1;
	bool found;
	size_t i = search(db, address, strlen(address), &found);
	if (!found)
		return -1;
	struct user_entry *e = &db->users[i];
	/* Copy before freeing: extra may be e->extra itself. */
	char *new_hash = xstrdup(hash);
	char *new_extra = dup_extra(extra);
	free(e->hash);
	free(e->extra);
	e->hash = new_hash;
	e->extra = new_extra;
	return 0;
}

int userdb_remove(struct userdb *db, const char *address)
{
	bool found;
	size_t i = search(db, address, strlen(address), &found);
	if (!found)
		return -1;
	entry_fini(&db->users[i]);
	memmove(&db->users[i], &db->users[i + 1], (db->count - i - 1) * sizeof(struct user_entry));
	db->count--;
	return 0;
}

/* ---- loading ---- */

struct load_item {
	struct user_entry e;
	unsigned long line;
};

static int cmp_item(const void *a, const void *b)
{
	const struct load_item *x = a, *y = b;
	int c = strcmp(x->e.address, y->e.address);
	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* Parses one line (NUL-terminated, no line ending) into *e. Returns NULL
 * for success or a message: static, or in msg_buf (msg_size bytes). A
 * skipped line gives success with e->address NULL. */
static const char *parse_line(char *line, size_t len, struct user_entry *e, char *msg_buf,
			      size_t msg_size)
{
	*e = (struct user_entry){0};
	/* Hand-edited files pick up trailing blanks; they are never data. */
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r'))
		line[--len] = '\0';
	size_t skip = strspn(line, " \t");
	if (line[skip] == '\0' || line[skip] == '#')
		return NULL;
	char *colon = memchr(line, ':', len);
	if (colon == NULL)
		return "missing ':' after the address";
	size_t alen = (size_t)(colon - line);
	const char *why = userdb_address_error(line, alen);
	if (why != NULL) {
		(void)snprintf(msg_buf, msg_size, "invalid address: %s", why);
		return msg_buf;
	}
	char *hash = colon + 1;
	char *colon2 = strchr(hash, ':');
	size_t hlen = colon2 ? (size_t)(colon2 - hash) : strlen(hash);
	if (hlen == 0)
		return "empty password hash";
	if (memchr(hash, ' ', hlen) != NULL || memchr(hash, '\t', hlen) != NULL)
		return "whitespace in password hash";
	if (hlen >= USERDB_HASH_MAX)
		return "password hash too long";
	e->address = dup_lower(line, alen);
	e->hash = xstrndup(hash, hlen);
	e->extra = colon2 ? dup_extra(colon2 + 1) : NULL;
	return NULL;
}

/* Appends "path:line: msg\n" to the growing warnings text (bounded: the
 * file's size bounds the number of lines). */
static void add_warning(char **buf, size_t *len, const char *path, unsigned long lineno,
			const char *msg)
{
	char line[4352];
	int n = snprintf(line, sizeof(line), "%s:%lu: %s\n", path, lineno, msg);
	if (n < 0)
		return;
	size_t add = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	*buf = xrealloc(*buf, *len + add + 1);
	memcpy(*buf + *len, line, add);
	*len += add;
	(*buf)[*len] = '\0';
}

static void free_items(struct load_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		entry_fini(&items[i].e);
	free(items);
}

int userdb_load(const char *path, struct userdb **out, char *err, size_t err_size)
{
	*out = NULL;
	struct textfile tf;
	int open_rc = textfile_open(&tf, path, err, err_size);
	if (open_rc <= 0) {
		if (open_rc == 0) {
			*out = userdb_new();
			(*out)->absent = true;
		}
		return open_rc;
	}
	struct load_item *items = NULL;
	size_t n = 0, cap = 0;
	char *warnings = NULL; /* owned until handed to the db */
	size_t warnings_len = 0;
	char *line;
	size_t len;
	unsigned long lineno = 0;
	int rc = -1;
	for (;;) {
		int got = textfile_next(&tf, &line, &len, err, err_size);
		if (got < 0)
			goto out;
		if (got == 0)
			break;
		lineno = tf.lineno;
		struct user_entry e;
		char msg_buf[160];
		const char *msg = parse_line(line, len, &e, msg_buf, sizeof(msg_buf));
		if (msg != NULL) {
			set_err(err, err_size, "%s:%lu: %s", path, lineno, msg);
			goto out;
		}
		if (e.address == NULL)
			continue;
		if (scram_has_credentials(e.extra)) {
			struct scram_creds creds;
			if (scram_parse_credentials(e.extra, &creds) != 0)
				add_warning(&warnings, &warnings_len, path, lineno,
					    "malformed scram-sha-256 field ignored: SCRAM logins for "
					    "this account fail until `konvert user passwd` rewrites it");
			OPENSSL_cleanse(&creds, sizeof(creds));
		}
		if (n == cap) {
			size_t bytes;
			cap = cap ? cap * 2 : 16;
			if (ckd_mul_size(&bytes, cap, sizeof(*items))) {
				entry_fini(&e);
				set_err(err, err_size, "%s: too many entries", path);
				goto out;
			}
			items = xrealloc(items, bytes);
		}
		items[n++] = (struct load_item){.e = e, .line = lineno};
	}
	if (n > 0)
		qsort(items, n, sizeof(*items), cmp_item);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(items[i - 1].e.address, items[i].e.address) == 0) {
			set_err(err, err_size, "%s:%lu: duplicate address %s (first on line %lu)",
				path, items[i].line, items[i].e.address, items[i - 1].line);
			goto out;
		}
	}
	struct userdb *db = userdb_new();
	db->users = xcalloc(n, sizeof(struct user_entry));
	for (size_t i = 0; i < n; i++)
		db->users[i] = items[i].e;
	db->count = n;
	db->warnings = warnings;
	warnings = NULL;
	free(items);
	items = NULL;
	n = 0;
	*out = db;
	rc = 0;
out:
	free(warnings);
	free_items(items, n);
	textfile_close(&tf);
	return rc;
}

/* ---- saving ---- */

static char *format_db(const struct userdb *db, size_t *len_out)
{
	size_t total = 0;
	for (size_t i = 0; i < db->count; i++) {
		const struct user_entry *e = &db->users[i];
		size_t n = strlen(e->address) + strlen(e->hash) + 2;
		if (e->extra != NULL)
			n += strlen(e->extra) + 1;
		if (ckd_add_size(&total, total, n))
			return NULL;
	}
	char *buf = xmalloc(total + 1);
	size_t off = 0;
	for (size_t i = 0; i < db->count; i++) {
		const struct user_entry *e = &db->users[i];
		const char *parts[] = {e->address, ":", e->hash, e->extra ? ":" : "",
				       e->extra ? e->extra : "", "\n"};
		for (size_t k = 0; k < sizeof(parts) / sizeof(parts[0]); k++) {
			size_t pl = strlen(parts[k]);
			memcpy(buf + off, parts[k], pl);
			off += pl;
		}
	}
	buf[off] = '\0';
	*len_out = off;
	return buf;
}

int userdb_save(const struct userdb *db, const char *path, char *err, size_t err_size)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash == NULL ? xstrdup(".")
				  : xstrndup(path, slash == path ? 1 : (size_t)(slash - path));
	const char *base = slash == NULL ? path : slash + 1;
	size_t tmp_size = strlen(base) + 32;
	char *tmp = xmalloc(tmp_size);
	int dfd = -1, fd = -1, rc = -1;
	bool tmp_made = false;
	char *buf = NULL;

	if (base[0] == '\0') {
		set_err(err, err_size, "%s: not a file name", path);
		goto out;
	}
	int n = snprintf(tmp, tmp_size, "%s.tmp.%ld", base, (long)getpid());
	if (n < 0 || (size_t)n >= tmp_size) {
		set_err(err, err_size, "%s: name too long", path);
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	if (dfd < 0 || fstat(dfd, &st) < 0) {
		set_err(err, err_size, "%s: %s", dir, strerror(errno));
		goto out;
	}
	/* A stale temporary from a dead process with our pid may exist; the
	 * O_EXCL|O_NOFOLLOW open below then never follows a planted link. */
	if (unlinkat(dfd, tmp, 0) < 0 && errno != ENOENT) {
		set_err(err, err_size, "%s/%s: %s", dir, tmp, strerror(errno));
		goto out;
	}
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		set_err(err, err_size, "%s/%s: %s", dir, tmp, strerror(errno));
		goto out;
	}
	tmp_made = true;
	/* root running "konvert user" on the server's data_dir: the server,
	 * running as the directory's owner, must still be able to read it. */
	if (st.st_uid != geteuid() && fchown(fd, st.st_uid, st.st_gid) < 0) {
		set_err(err, err_size, "%s/%s: chown: %s", dir, tmp, strerror(errno));
		goto out;
	}
	if (fchmod(fd, 0600) < 0) { /* the umask may have cut the mode */
		set_err(err, err_size, "%s/%s: chmod: %s", dir, tmp, strerror(errno));
		goto out;
	}
	size_t len;
	buf = format_db(db, &len);
	if (buf == NULL) {
		set_err(err, err_size, "%s: directory too large", path);
		goto out;
	}
	if (safefile_write_all(fd, buf, len) < 0 || fsync(fd) < 0) {
		set_err(err, err_size, "%s/%s: %s", dir, tmp, strerror(errno));
		goto out;
	}
	int cfd = fd;
	fd = -1;
	if (close(cfd) < 0) {
		set_err(err, err_size, "%s/%s: close: %s", dir, tmp, strerror(errno));
		goto out;
	}
	if (renameat(dfd, tmp, dfd, base) < 0) {
		set_err(err, err_size, "%s: rename: %s", path, strerror(errno));
		goto out;
	}
	tmp_made = false;
	if (fsync(dfd) < 0) {
		set_err(err, err_size, "%s: fsync: %s", dir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		(void)close(fd); /* failing anyway */
	if (tmp_made)
		(void)unlinkat(dfd, tmp, 0); /* best effort cleanup */
	if (dfd >= 0)
		(void)close(dfd); /* read-only descriptor */
	free(buf);
	free(tmp);
	free(dir);
	return rc;
}

/* ---- passwords ---- */

int userdb_hash_password(const char *password, char *out, size_t out_size)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	/* count 0: libxcrypt's default cost; NULL rbytes: it reads the kernel
	 * random source itself. */
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, (int)sizeof(salt)) == NULL)
		return -1;
	struct crypt_data *cd = xcalloc(1, sizeof(*cd)); /* ~32 KiB: not on the stack */
	int rc = -1;
	const char *h = crypt_r(password, salt, cd);
	/* libxcrypt reports failure as NULL or a string starting with '*'. */
	if (h != NULL && h[0] != '*') {
		size_t len = strlen(h);
		if (len < out_size) {
			memcpy(out, h, len + 1);
			rc = 0;
		}
	}
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return rc;
}

bool userdb_check_password(const char *password, const char *hash)
{
	if (password == NULL || hash == NULL || hash[0] == '\0' || hash[0] == '*' || hash[0] == '!')
		return false;
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	bool ok = false;
	const char *h = crypt_r(password, hash, cd);
	if (h != NULL && h[0] != '*') {
		size_t hl = strlen(hash);
		ok = strlen(h) == hl && CRYPTO_memcmp(h, hash, hl) == 0;
	}
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return ok;
}
