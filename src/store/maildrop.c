/* maildrop: the POP3/POP2 session's locked, numbered snapshot of a Maildir,
 * a thin view over store/mailbox.c, which reads the names, flags, times and
 * CRLF sizes and renames, links and unlinks the files. This file owns only
 * what POP adds: the lock file (DIR/konvert-pop.lock), the numbering (seen
 * first, then delivery order), unique-ids, the session's deleted and seen
 * marks (RETR), LAST and RSET, and what UPDATE does with them. It does not
 * know POP3 commands, dot-stuffing or line conversion. Blocking I/O only:
 * worker threads or CLI. Nothing logs; see maildrop.h for the rules. */
#include "store/maildrop.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "store/mailbox.h"
#include "store/maildir.h"

#define LOCK_NAME "konvert-pop.lock"

struct entry {
	struct maildrop_msg pub; /* pub.file is m->file, owned by the list */
	struct mailbox_msg *m; /* its message in maildrop.list */
	bool gone; /* a search of cur/ found it removed: never searched again */
	bool in_undo; /* listed in maildrop.undo */
	bool seen_at_open; /* its name had the S flag when listed */
	bool seen_mark; /* marked seen by this session (RETR): S added at commit */
};

struct maildrop {
	struct mailbox *mb; /* owned */
	int lock_fd; /* holds the OFD lock; owned */
	/* The snapshot in POP order; owned, never reallocated after open. */
	struct mailbox_list list;
	struct entry *msgs; /* owned, n entries, msgs[i] for list.msgs[i] */
	size_t n;
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

/* ---- unique ids ---- */

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
	const char *name = mailbox_msg_name(e->m);
	size_t blen = mailbox_base_len(name);
	if (is_valid_uid(name, blen)) {
		memcpy(e->pub.uid, name, blen);
		e->pub.uid[blen] = '\0';
	} else {
		hash_uid(name, blen, e->pub.uid);
	}
}

static void fail(char *err, size_t err_size, const char *what, const char *sub)
{
	(void)snprintf(err, err_size, "%s %s: %s", what, sub, strerror(errno));
}

/* ---- snapshot ---- */

/* Seen messages first (LAST then covers exactly them, so a client that
 * fetches the messages after LAST gets every unseen one), each part by
 * delivery time. */
static int cmp_listing(const void *a, const void *b)
{
	const struct mailbox_msg *x = a, *y = b;
	bool xs = (x->flags & MAILBOX_SEEN) != 0, ys = (y->flags & MAILBOX_SEEN) != 0;
	if (xs != ys)
		return xs ? -1 : 1;
	return mailbox_msg_cmp(x, y);
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
	if (x->m->ino != y->m->ino)
		return x->m->ino < y->m->ino ? -1 : 1;
	c = strcmp(mailbox_msg_name(x->m), mailbox_msg_name(y->m));
	return c != 0 ? c : strcmp(x->pub.file, y->pub.file);
}

/* The id of a further file with the base name of e: the hash of the base
 * name, the size and the rank among the files with that base name and
 * size. Nothing of it changes when the file moves or its flags change. */
static void set_dup_uid(struct entry *e, uint64_t rank)
{
	const char *name = mailbox_msg_name(e->m);
	size_t blen = mailbox_base_len(name);
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
	md->lock_fd = openat(mailbox_fd(md->mb), LOCK_NAME,
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
	if (mailbox_open(maildir_path, &md->mb, err, err_size) != 0 ||
	    take_lock(md, busy_out, err, err_size) != 0 ||
	    mailbox_scan(md->mb, &md->list, err, err_size) != 0) {
		maildrop_close(&md);
		return -1;
	}
	md->n = md->list.n;
	if (md->n > 1)
		qsort(md->list.msgs, md->n, sizeof(*md->list.msgs), cmp_listing);
	md->msgs = xcalloc(md->n ? md->n : 1, sizeof(*md->msgs));
	for (size_t i = 0; i < md->n; i++) {
		struct entry *e = &md->msgs[i];
		e->m = &md->list.msgs[i];
		e->pub.file = e->m->file;
		e->pub.size = e->m->crlf_size;
		e->seen_at_open = (e->m->flags & MAILBOX_SEEN) != 0;
		e->pub.seen = e->seen_at_open;
	}
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

/* Finds the message under another name in cur/ (another client changed
 * its flags or moved it out of new/) and records it. Returns 0, or -1
 * with errno ENOENT when it is gone. */
static int relocate(struct entry *e, struct mailbox *mb)
{
	int rc = mailbox_relocate(mb, e->m);
	e->pub.file = e->m->file;
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
	int fd = mailbox_open_msg(md->mb, e->m);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	if (relocate(e, md->mb) == 0)
		return mailbox_open_msg(md->mb, e->m);
	if (errno == ENOENT)
		e->gone = true;
	return -1;
}

/* Kept messages still in new/ go to cur/ (with the info ":2,"), and those
 * the session retrieved get the S flag (in new/ or cur/; other flags kept
 * in ASCII order, as Dovecot and mutt write them): the client has seen
 * them. Best effort: one that cannot be renamed (gone, name taken, name
 * too long, an info not ":2,") stays as it is, or moves to cur/ unchanged
 * from new/, and is listed from there next time; its unique-id is the
 * same either way. A retrieved message that another client (IMAP, mutt)
 * moved out of new/ or flagged since the snapshot is looked for in cur/
 * by its base name, once (one listing of cur/ each, as maildrop_open_msg
 * costs). */
static void update_kept(struct maildrop *md)
{
	char err[64]; /* renames are best effort: their errors are not reported */
	for (size_t i = 0; i < md->n; i++) {
		struct entry *e = &md->msgs[i];
		if (e->pub.deleted || e->gone)
			continue;
		for (int attempt = 0; attempt < 2; attempt++) {
			uint64_t want = e->m->flags | (e->seen_mark ? MAILBOX_SEEN : 0);
			int rc = mailbox_set_flags(md->mb, e->m, want, err, sizeof(err));
			/* S cannot be written into this name: from new/ it
			 * still moves to cur/, as it is. */
			if (rc < 0 && (errno == EINVAL || errno == ENAMETOOLONG) &&
			    mailbox_msg_in_new(e->m))
				rc = mailbox_set_flags(md->mb, e->m, e->m->flags, err, sizeof(err));
			e->pub.file = e->m->file;
			/* Gone from where the snapshot saw it: only a message
			 * that needs its S flag is worth a listing of cur/. */
			if (rc >= 0 || errno != ENOENT || attempt > 0 || !e->seen_mark ||
			    relocate(e, md->mb) != 0)
				break;
		}
	}
}

int maildrop_commit(struct maildrop *md, char *err, size_t err_size)
{
	KASSERT(!md->committed);
	md->committed = true;
	int removed = 0;
	bool failed = false;
	char scratch[64];
	for (size_t i = 0; i < md->n; i++) {
		struct entry *e = &md->msgs[i];
		if (!e->pub.deleted || e->gone)
			continue; /* gone: removed by another client already */
		int rc = mailbox_expunge(md->mb, e->m, scratch, sizeof(scratch));
		if (rc != 0 && errno == ENOENT && relocate(e, md->mb) == 0)
			rc = mailbox_expunge(md->mb, e->m, scratch, sizeof(scratch));
		if (rc == 0) {
			removed++;
		} else if (errno != ENOENT && !failed) {
			/* ENOENT: another client removed it, which is what we want. */
			(void)snprintf(err, err_size, "unlink %s: %s", e->pub.file,
				       strerror(errno));
			failed = true;
		}
	}
	update_kept(md);
	/* The removals and renames are durable before the session answers
	 * +OK. */
	if (mailbox_flush(md->mb, failed ? scratch : err, failed ? sizeof(scratch) : err_size) !=
	    0)
		failed = true;
	return failed ? -1 : removed;
}

void maildrop_close(struct maildrop **pp)
{
	struct maildrop *md = *pp;
	if (md == NULL)
		return;
	mailbox_list_fini(&md->list);
	free(md->msgs);
	free(md->undo);
	/* Closing the only fd of the description releases the OFD lock. */
	if (md->lock_fd >= 0)
		(void)close(md->lock_fd);
	mailbox_close(&md->mb);
	free(md);
	*pp = NULL;
}
