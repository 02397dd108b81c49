/* maildrop: the POP3/POP2 session's locked, numbered snapshot of a Maildir.
 * Owns the POP lock file (DIR/konvert-pop.lock), message ordering,
 * unique-ids, the CRLF sizes of messages, the session's seen marks (RETR)
 * and LAST, and at UPDATE the removal of deleted messages, the new/ -> cur/
 * move of the kept ones and the S flag of those the session retrieved.
 * It does not know POP3 commands, dot-stuffing or line conversion, and it
 * never writes messages (delivery is maildir.c). Blocking I/O only: worker
 * threads or CLI. Nothing logs; see maildrop.h for the on-disk rules. */
#include "store/maildrop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "store/maildir.h"

#define LOCK_NAME "konvert-pop.lock"
#define INFO_PREFIX ":2,"

struct entry {
	struct maildrop_msg pub;
	uint64_t secs; /* delivery time from the name (or mtime): sort key */
	uint64_t usec;
	ino_t ino; /* from the directory listing: tie-break for duplicate ids */
	bool gone; /* a search of cur/ found it removed: never searched again */
	bool in_undo; /* listed in maildrop.undo */
	bool seen_at_open; /* its name had the S flag when listed */
	bool seen_mark; /* marked seen by this session (RETR): S added at commit */
};

struct maildrop {
	int root_fd;	   /* O_DIRECTORY fd of the maildir; owned */
	int lock_fd;	   /* holds the OFD lock; owned */
	struct entry *msgs; /* owned, n used of cap; each pub.file owned */
	size_t n, cap;
	/* Messages not marked deleted and their octets, kept up to date by
	 * maildrop_mark_deleted() so that STAT is O(1). */
	size_t live_count;
	uint64_t live_octets;
	/* Indexes marked deleted or seen since the last maildrop_reset() (each
	 * at most once, possibly unmarked again since): RSET costs the number
	 * of DELEs and RETRs, not the size of the maildrop. Owned, n entries
	 * of room. */
	size_t *undo;
	size_t undo_len;
	/* LAST: the highest number of a seen message, at open and now. */
	size_t last_seen_open;
	size_t last_seen;
	bool committed;
};

/* ---- names ---- */

/* Length of the base name: up to, not including, the first ":2,". */
static size_t base_len(const char *name)
{
	const char *info = strstr(name, INFO_PREFIX);
	return info != NULL ? (size_t)(info - name) : strlen(name);
}

/* Parses 1..19 decimal digits at s (no overflow possible at 19); *end
 * points past them. Returns 0, or -1 when there is no digit or too many. */
static int parse_digits(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		if (i == 19)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == 0)
		return -1;
	*end = s + i;
	*out = v;
	return 0;
}

/* ",W=N" inside the base name, ended by ',', ':' or the end of the name. */
static bool has_vsize(const char *name, size_t blen, uint64_t *out)
{
	const char *p = name;
	const char *lim = name + blen;
	while ((p = memmem(p, (size_t)(lim - p), ",W=", 3)) != NULL) {
		const char *end;
		uint64_t v;
		p += 3;
		if (parse_digits(p, &end, &v) == 0 && end <= lim &&
		    (*end == '\0' || *end == ',' || *end == ':')) {
			*out = v;
			return true;
		}
	}
	return false;
}

/* Maildir names start "SECS." and, in the modern form, "SECS.M<usec>". */
static bool has_time(const char *name, uint64_t *secs_out, uint64_t *usec_out)
{
	const char *end;
	if (parse_digits(name, &end, secs_out) != 0 || *end != '.')
		return false;
	*usec_out = 0;
	if (end[1] == 'M') {
		uint64_t usec;
		const char *uend;
		if (parse_digits(end + 2, &uend, &usec) == 0)
			*usec_out = usec;
	}
	return true;
}

static bool is_valid_uid(const char *s, size_t len)
{
	if (len == 0 || len > MAILDROP_UID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x21 || c > 0x7e)
			return false;
	}
	return true;
}

/* 32 hex digits of SHA-256(s), for names that are no valid unique-id. */
static void hash_uid(const char *s, size_t len, char out[MAILDROP_UID_MAX + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	KASSERT(EVP_Digest(s, len, md, &md_len, EVP_sha256(), NULL) == 1 && md_len >= 16);
	for (size_t i = 0; i < 16; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0x0f];
	}
	out[32] = '\0';
}

static void set_uid(struct entry *e)
{
	const char *name = e->pub.file + 4; /* past "cur/" or "new/" */
	size_t blen = base_len(name);
	if (is_valid_uid(name, blen)) {
		memcpy(e->pub.uid, name, blen);
		e->pub.uid[blen] = '\0';
	} else {
		hash_uid(name, blen, e->pub.uid);
	}
}

/* ---- files ---- */

/* Opens a regular file without following symlinks or blocking on a FIFO
 * someone placed in the maildir. */
static int open_regular(int dir_fd, const char *path, struct stat *st)
{
	int fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (fstat(fd, st) != 0) {
		int saved = errno;
		(void)close(fd);
		errno = saved;
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		(void)close(fd);
		errno = ENOENT; /* not a message (any more) */
		return -1;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
		int saved = errno;
		(void)close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Size with CRLF line ends of a file without ",W=": bytes read plus bare
 * LFs (a CR ending one buffer still pairs with the LF starting the next),
 * plus the line end RETR adds to an unterminated last line (proto/dot's
 * encoder: CR LF after a last byte other than LF, or LF after a lone CR). */
static int count_size(int dir_fd, const char *name, uint64_t *size_out, struct stat *st)
{
	int fd = open_regular(dir_fd, name, st);
	if (fd < 0)
		return -1;
	char buf[16384];
	uint64_t total = 0;
	bool prev_cr = false;
	char last = '\n'; /* an empty file needs no line end */
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int saved = errno;
			(void)close(fd);
			errno = saved;
			return -1;
		}
		if (r == 0)
			break;
		total += (uint64_t)r;
		for (ssize_t i = 0; i < r; i++) {
			if (buf[i] == '\n' && !prev_cr)
				total++;
			prev_cr = buf[i] == '\r';
		}
		last = buf[r - 1];
	}
	(void)close(fd);
	if (last == '\r')
		total += 1;
	else if (last != '\n')
		total += 2;
	*size_out = total;
	return 0;
}

/* Regular file by d_type, or by lstat where the file system leaves it
 * unknown. Vanished entries count as not regular. */
static bool is_regular_entry(int dir_fd, const struct dirent *de)
{
	if (de->d_type == DT_REG)
		return true;
	if (de->d_type != DT_UNKNOWN)
		return false;
	struct stat st;
	return fstatat(dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

static int open_subdir(int root_fd, const char *sub)
{
	return openat(root_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void fail(char *err, size_t err_size, const char *what, const char *sub)
{
	(void)snprintf(err, err_size, "%s %s: %s", what, sub, strerror(errno));
}

/* ---- snapshot ---- */

static void set_file(struct entry *e, const char *sub, const char *name)
{
	size_t nlen = strlen(name);
	free(e->pub.file);
	e->pub.file = xmalloc(nlen + 5);
	memcpy(e->pub.file, sub, 3);
	e->pub.file[3] = '/';
	memcpy(e->pub.file + 4, name, nlen + 1);
}

static struct entry *add_entry(struct maildrop *md)
{
	if (md->n == md->cap) {
		size_t bytes;
		md->cap = md->cap ? md->cap * 2 : 64;
		KASSERT(!ckd_mul_size(&bytes, md->cap, sizeof(*md->msgs)));
		md->msgs = xrealloc(md->msgs, bytes);
	}
	struct entry *e = &md->msgs[md->n++];
	memset(e, 0, sizeof(*e));
	return e;
}

/* Adds SUB/NAME unless it vanished. Only names without ",W=" cost I/O. */
static int scan_one(struct maildrop *md, int dir_fd, const char *sub, const char *name, ino_t ino)
{
	uint64_t size = 0, secs = 0, usec = 0;
	bool timed = has_time(name, &secs, &usec);
	struct stat st;
	bool have_st = false;
	if (!has_vsize(name, base_len(name), &size)) {
		if (count_size(dir_fd, name, &size, &st) != 0)
			return errno == ENOENT || errno == ELOOP ? 0 : -1;
		have_st = true;
	}
	if (!timed) {
		if (!have_st && fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			return errno == ENOENT ? 0 : -1;
		secs = st.st_mtim.tv_sec < 0 ? 0 : (uint64_t)st.st_mtim.tv_sec;
		usec = (uint64_t)st.st_mtim.tv_nsec / 1000;
	}
	struct entry *e = add_entry(md);
	set_file(e, sub, name);
	e->pub.size = size;
	e->seen_at_open = maildir_name_has_flag(name, 'S');
	e->pub.seen = e->seen_at_open;
	e->secs = secs;
	e->usec = usec;
	e->ino = ino;
	return 0;
}

/* Lists SUB ("cur" or "new"): regular files, no dotfiles. */
static int scan_dir(struct maildrop *md, const char *sub, char *err, size_t err_size)
{
	int dir_fd = open_subdir(md->root_fd, sub);
	DIR *d = dir_fd >= 0 ? fdopendir(dir_fd) : NULL;
	if (d == NULL) {
		fail(err, err_size, "opendir", sub);
		if (dir_fd >= 0)
			(void)close(dir_fd);
		return -1;
	}
	int rc = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' && is_regular_entry(dir_fd, de) &&
		    scan_one(md, dir_fd, sub, de->d_name, de->d_ino) != 0) {
			(void)snprintf(err, err_size, "read %s/%s: %s", sub, de->d_name,
				       strerror(errno));
			rc = -1;
			break;
		}
		errno = 0;
	}
	if (rc == 0 && errno != 0) {
		fail(err, err_size, "readdir", sub);
		rc = -1;
	}
	(void)closedir(d);
	return rc;
}

/* Seen messages first (LAST then covers exactly them, so a client that
 * fetches the messages after LAST gets every unseen one), each part by
 * delivery time. */
static int cmp_listing(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	if (x->seen_at_open != y->seen_at_open)
		return x->seen_at_open ? -1 : 1;
	if (x->secs != y->secs)
		return x->secs < y->secs ? -1 : 1;
	if (x->usec != y->usec)
		return x->usec < y->usec ? -1 : 1;
	/* The name without "cur/" or "new/", so the order survives the move. */
	int c = strcmp(x->pub.file + 4, y->pub.file + 4);
	return c != 0 ? c : strcmp(x->pub.file, y->pub.file);
}

/* Equal ids next to each other; within one id by CRLF size, then inode,
 * then name. Size and inode survive the new/ -> cur/ move and flag changes
 * (both are renames); the name decides only between links to one file,
 * whose contents are the same anyway. */
static int cmp_uid_then_stable(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a;
	const struct entry *y = *(const struct entry *const *)b;
	int c = strcmp(x->pub.uid, y->pub.uid);
	if (c != 0)
		return c;
	if (x->pub.size != y->pub.size)
		return x->pub.size < y->pub.size ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	c = strcmp(x->pub.file + 4, y->pub.file + 4);
	return c != 0 ? c : strcmp(x->pub.file, y->pub.file);
}

/* The id of a further file with the base name of e: the hash of the base
 * name, the size and the rank among the files with that base name and
 * size. Nothing of it changes when the file moves or its flags change. */
static void set_dup_uid(struct entry *e, uint64_t rank)
{
	const char *name = e->pub.file + 4;
	size_t blen = base_len(name);
	char buf[NAME_MAX + 64];
	int n = snprintf(buf, sizeof(buf), "%.*s%c%llu%c%llu", (int)blen, name, '\0',
			 (unsigned long long)e->pub.size, '\0', (unsigned long long)rank);
	KASSERT(n > 0 && (size_t)n < sizeof(buf));
	hash_uid(buf, (size_t)n, e->pub.uid);
}

/* RFC 1939 7 wants ids unique within the maildrop, and stable across
 * sessions. Two files with one base name can only come from a damaged
 * maildir (or a crash between link and unlink); the smallest keeps the
 * base name as its id, the others get set_dup_uid(). */
static void assign_uids(struct maildrop *md)
{
	for (size_t i = 0; i < md->n; i++)
		set_uid(&md->msgs[i]);
	if (md->n < 2)
		return;
	size_t bytes;
	KASSERT(!ckd_mul_size(&bytes, md->n, sizeof(struct entry *)));
	struct entry **by_uid = xmalloc(bytes);
	for (size_t i = 0; i < md->n; i++)
		by_uid[i] = &md->msgs[i];
	qsort(by_uid, md->n, sizeof(*by_uid), cmp_uid_then_stable);
	for (size_t i = 0; i < md->n;) {
		size_t end = i + 1;
		while (end < md->n && strcmp(by_uid[end]->pub.uid, by_uid[i]->pub.uid) == 0)
			end++;
		/* Ranks are computed before any id of the run changes. */
		uint64_t rank = 0;
		for (size_t k = i + 1; k < end; k++) {
			rank = by_uid[k]->pub.size == by_uid[k - 1]->pub.size ? rank + 1 : 0;
			set_dup_uid(by_uid[k], rank);
		}
		i = end;
	}
	free(by_uid);
}

/* ---- lock ---- */

static int take_lock(struct maildrop *md, bool *busy_out, char *err, size_t err_size)
{
	md->lock_fd = openat(md->root_fd, LOCK_NAME,
			     O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (md->lock_fd < 0) {
		fail(err, err_size, "open", LOCK_NAME);
		return -1;
	}
	/* OFD locks belong to the open file description, so a second open()
	 * in this very process conflicts too; classic F_SETLK would not. */
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	if (fcntl(md->lock_fd, F_OFD_SETLK, &fl) != 0) {
		if (errno == EAGAIN || errno == EACCES) {
			*busy_out = true;
			(void)snprintf(err, err_size, "maildrop locked by another session");
		} else {
			fail(err, err_size, "lock", LOCK_NAME);
		}
		return -1;
	}
	return 0;
}

/* ---- API ---- */

int maildrop_open(const char *maildir_path, struct maildrop **out, bool *busy_out, char *err,
		  size_t err_size)
{
	*out = NULL;
	*busy_out = false;
	if (maildir_ensure(maildir_path, err, err_size) != 0)
		return -1;
	struct maildrop *md = xcalloc(1, sizeof(*md));
	md->lock_fd = -1;
	md->root_fd = open(maildir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (md->root_fd < 0) {
		fail(err, err_size, "open", maildir_path);
		maildrop_close(&md);
		return -1;
	}
	/* cur/ first: a message another client moves out of new/ meanwhile is
	 * missed for this session rather than listed twice. */
	if (take_lock(md, busy_out, err, err_size) != 0 || scan_dir(md, "cur", err, err_size) != 0 ||
	    scan_dir(md, "new", err, err_size) != 0) {
		maildrop_close(&md);
		return -1;
	}
	if (md->n > 1)
		qsort(md->msgs, md->n, sizeof(*md->msgs), cmp_listing);
	assign_uids(md);
	for (size_t i = 0; i < md->n; i++) {
		md->live_octets += md->msgs[i].pub.size;
		if (md->msgs[i].seen_at_open)
			md->last_seen_open = i + 1;
	}
	md->live_count = md->n;
	md->last_seen = md->last_seen_open;
	*out = md;
	return 0;
}

size_t maildrop_count(const struct maildrop *md)
{
	return md->n;
}

const struct maildrop_msg *maildrop_get(const struct maildrop *md, size_t index0)
{
	KASSERT(index0 < md->n);
	return &md->msgs[index0].pub;
}

void maildrop_stat(const struct maildrop *md, size_t *count_out, uint64_t *octets_out)
{
	*count_out = md->live_count;
	*octets_out = md->live_octets;
}

/* Lists index0 for maildrop_reset(), once. */
static void note_undo(struct maildrop *md, size_t index0)
{
	struct entry *e = &md->msgs[index0];
	if (e->in_undo)
		return;
	if (md->undo == NULL) {
		size_t bytes;
		KASSERT(!ckd_mul_size(&bytes, md->n, sizeof(*md->undo)));
		md->undo = xmalloc(bytes);
	}
	/* Each index is listed at most once: room for n. */
	KASSERT(md->undo_len < md->n);
	md->undo[md->undo_len++] = index0;
	e->in_undo = true;
}

void maildrop_mark_deleted(struct maildrop *md, size_t index0, bool deleted)
{
	KASSERT(index0 < md->n);
	struct entry *e = &md->msgs[index0];
	if (e->pub.deleted == deleted)
		return;
	e->pub.deleted = deleted;
	if (deleted) {
		md->live_count--;
		md->live_octets -= e->pub.size;
		note_undo(md, index0);
	} else {
		md->live_count++;
		md->live_octets += e->pub.size;
	}
}

void maildrop_mark_seen(struct maildrop *md, size_t index0)
{
	KASSERT(index0 < md->n);
	struct entry *e = &md->msgs[index0];
	if (e->pub.seen)
		return; /* seen at open, or marked already: LAST covers it */
	e->pub.seen = true;
	e->seen_mark = true;
	note_undo(md, index0);
	if (index0 + 1 > md->last_seen)
		md->last_seen = index0 + 1;
}

size_t maildrop_last_seen(const struct maildrop *md)
{
	return md->last_seen;
}

void maildrop_reset(struct maildrop *md)
{
	for (size_t i = 0; i < md->undo_len; i++) {
		size_t index0 = md->undo[i];
		struct entry *e = &md->msgs[index0];
		maildrop_mark_deleted(md, index0, false);
		if (e->seen_mark) {
			e->seen_mark = false;
			e->pub.seen = false; /* seen_mark is only set when not seen at open */
		}
		e->in_undo = false;
	}
	md->undo_len = 0;
	md->last_seen = md->last_seen_open;
}

/* Finds the message under another name in cur/ (same base name: another
 * client changed its flags or moved it out of new/) and records it.
 * Returns 0, or -1 with errno ENOENT when it is gone. */
static int relocate(struct maildrop *md, struct entry *e)
{
	const char *old = e->pub.file + 4;
	bool in_cur = memcmp(e->pub.file, "cur/", 4) == 0;
	size_t blen = base_len(old);
	int cur_fd = open_subdir(md->root_fd, "cur");
	DIR *d = cur_fd >= 0 ? fdopendir(cur_fd) : NULL;
	if (d == NULL) {
		if (cur_fd >= 0)
			(void)close(cur_fd);
		return -1;
	}
	int rc = -1;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		if (name[0] == '.' || (in_cur && strcmp(name, old) == 0) ||
		    strncmp(name, old, blen) != 0 || base_len(name) != blen)
			continue;
		set_file(e, "cur", name);
		rc = 0;
		break;
	}
	(void)closedir(d);
	if (rc != 0)
		errno = ENOENT;
	return rc;
}

int maildrop_open_msg(struct maildrop *md, size_t index0)
{
	KASSERT(index0 < md->n);
	struct entry *e = &md->msgs[index0];
	if (e->gone) {
		/* Searched for once already: a client repeating RETR of it
		 * must not make every attempt list cur/ again. */
		errno = ENOENT;
		return -1;
	}
	struct stat st;
	int fd = open_regular(md->root_fd, e->pub.file, &st);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	if (relocate(md, e) == 0)
		return open_regular(md->root_fd, e->pub.file, &st);
	if (errno == ENOENT)
		e->gone = true;
	return -1;
}

/* Renames from_fd/name to to_fd/target without replacing anything there:
 * renameat2(RENAME_NOREPLACE), or link + unlink where the file system lacks
 * it (that refuses to replace too). */
static int rename_noreplace(int from_fd, const char *name, int to_fd, const char *target,
			    bool *no_renameat2)
{
	if (!*no_renameat2) {
		if (renameat2(from_fd, name, to_fd, target, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno != EINVAL && errno != ENOSYS)
			return -1;
		*no_renameat2 = true;
	}
	if (linkat(from_fd, name, to_fd, target, 0) != 0)
		return -1;
	return unlinkat(from_fd, name, 0);
}

/* The cur/ name a kept message gets at UPDATE into target: its name with
 * the S flag added when this session marked it seen (Maildir flags in
 * ASCII order, as Dovecot and mutt write them), else, for one in new/, the
 * name with an empty info ":2," (new/ holds no info; a name that has one
 * anyway moves unchanged). Returns false when the file stays as it is:
 * already in cur/ with nothing to add, or no room for the name. */
static bool kept_target(const struct entry *e, char *target, size_t target_size)
{
	const char *name = e->pub.file + 4;
	if (e->seen_mark && maildir_name_add_flag(name, 'S', target, target_size) > 0)
		return true;
	if (memcmp(e->pub.file, "new/", 4) != 0)
		return false;
	const char *suffix = strchr(name, ':') != NULL ? "" : INFO_PREFIX;
	int len = snprintf(target, target_size, "%s%s", name, suffix);
	return len >= 0 && (size_t)len < target_size && len <= NAME_MAX;
}

/* Kept messages still in new/ go to cur/, and those the session retrieved
 * get the S flag (in new/ or cur/): the client has seen them. Best effort:
 * one that cannot be renamed (gone, name taken) stays as it is and is
 * listed from there next time; its unique-id is the same either way. A
 * retrieved message that another client (IMAP, mutt) moved out of new/ or
 * flagged since the snapshot is looked for in cur/ by its base name, once
 * (one listing of cur/ each, as maildrop_open_msg costs). */
static void update_kept(struct maildrop *md, bool *new_changed)
{
	int new_fd = open_subdir(md->root_fd, "new");
	int cur_fd = open_subdir(md->root_fd, "cur");
	bool no_renameat2 = false;
	char target[NAME_MAX + 1];
	for (size_t i = 0; new_fd >= 0 && cur_fd >= 0 && i < md->n; i++) {
		struct entry *e = &md->msgs[i];
		if (e->pub.deleted || e->gone)
			continue;
		for (int attempt = 0; attempt < 2; attempt++) {
			if (!kept_target(e, target, sizeof(target)))
				break;
			bool in_new = memcmp(e->pub.file, "new/", 4) == 0;
			if (rename_noreplace(in_new ? new_fd : cur_fd, e->pub.file + 4, cur_fd,
					     target, &no_renameat2) == 0) {
				set_file(e, "cur", target);
				*new_changed |= in_new;
				break;
			}
			/* Gone from where the snapshot saw it: only a message
			 * that needs its S flag is worth a listing of cur/. */
			if (errno != ENOENT || attempt > 0 || !e->seen_mark || relocate(md, e) != 0)
				break;
		}
	}
	if (new_fd >= 0)
		(void)close(new_fd);
	if (cur_fd >= 0)
		(void)close(cur_fd);
}

int maildrop_commit(struct maildrop *md, char *err, size_t err_size)
{
	KASSERT(!md->committed);
	md->committed = true;
	int removed = 0;
	bool failed = false;
	bool new_changed = false;
	for (size_t i = 0; i < md->n; i++) {
		struct entry *e = &md->msgs[i];
		if (!e->pub.deleted || e->gone)
			continue; /* gone: removed by another client already */
		int rc = unlinkat(md->root_fd, e->pub.file, 0);
		if (rc != 0 && errno == ENOENT && relocate(md, e) == 0)
			rc = unlinkat(md->root_fd, e->pub.file, 0);
		if (rc == 0) {
			removed++;
			new_changed |= memcmp(e->pub.file, "new/", 4) == 0;
		} else if (errno != ENOENT && !failed) {
			/* ENOENT: another client removed it, which is what we want. */
			(void)snprintf(err, err_size, "unlink %s: %s", e->pub.file,
				       strerror(errno));
			failed = true;
		}
	}
	update_kept(md, &new_changed);
	/* The removals and renames are durable before the session answers
	 * +OK. */
	static const char *const subs[] = {"cur", "new"};
	for (size_t i = 0; i < 2; i++) {
		if (i == 1 && !new_changed)
			break;
		int fd = open_subdir(md->root_fd, subs[i]);
		if (fd < 0 || fsync(fd) != 0) {
			if (!failed)
				fail(err, err_size, "fsync", subs[i]);
			failed = true;
		}
		if (fd >= 0)
			(void)close(fd);
	}
	return failed ? -1 : removed;
}

void maildrop_close(struct maildrop **pp)
{
	struct maildrop *md = *pp;
	if (md == NULL)
		return;
	for (size_t i = 0; i < md->n; i++)
		free(md->msgs[i].pub.file);
	free(md->msgs);
	free(md->undo);
	/* Closing the only fd of the description releases the OFD lock. */
	if (md->lock_fd >= 0)
		(void)close(md->lock_fd);
	if (md->root_fd >= 0)
		(void)close(md->root_fd);
	free(md);
	*pp = NULL;
}
