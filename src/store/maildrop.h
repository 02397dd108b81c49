/* maildrop: the POP3/POP2 view of one Maildir (RFC 1939 "maildrop"): an
 * exclusive lock, a numbered snapshot of the messages, their sizes, unique
 * ids and seen state, and the UPDATE state: removal of deleted messages and
 * the S flag on the retrieved ones.
 *
 * Locking: DIR/konvert-pop.lock (created once, never removed) is held with
 * an open-file-description lock (F_OFD_SETLK), which excludes a second
 * maildrop_open() both in this process (another thread or session) and in
 * any other konvert process sharing the data_dir. The lock lives as long
 * as the struct maildrop. The fd is O_CLOEXEC; a fork() without exec would
 * share the lock with the child.
 *
 * Snapshot (at open): the regular files of cur/ and then new/ (dotfiles
 * and anything else skipped). The messages already seen, those whose name
 * has the Maildir flag S (":2,...S..."), come first, then the others; each
 * part is ordered by delivery time, the leading "SECS.MUSEC" of the name
 * (Maildir naming; names without a leading "SECS." use the file's mtime),
 * then by file name. So numbers are stable for the session, and LAST
 * (RFC 1460, maildrop_last_seen) at the start of a session is exactly the
 * number of seen messages: a client that fetches the messages after LAST
 * (fetchmail "keep" without UIDL) gets every unseen one, also when a
 * reader flagged a newer message seen before an older one. Mail delivered
 * later is not shown until the next open. Nothing is renamed at open:
 * moving 50,000 files costs about a second on ext4, so the new/ -> cur/
 * move (adding the Maildir info ":2,", as Dovecot does) happens in
 * maildrop_commit() for the messages that are kept, which also adds S to
 * those the session marked seen; deleted ones are unlinked where they are.
 * A session that ends without UPDATE leaves the maildir untouched. (cur/
 * is listed before new/: a message another client moves between the two
 * listings is missed for this session rather than listed twice.)
 *
 * Flags (store/maildir.h): the info ":2," then single letters in ASCII
 * order, "D F R S T" and Dovecot's keyword letters, as Dovecot and mutt
 * write them; adding S keeps the others (":2,F" becomes ":2,FS").
 *
 * Unique ids (RFC 1939 7, UIDL): the file name up to, not including, the
 * first ":2," (the whole name if there is none). This survives the
 * new/ -> cur/ move, restarts and flag changes. When that base name is not
 * 1..70 characters of 0x21..0x7E, the id is instead 32 lower-case hex
 * digits: the first 16 bytes of SHA-256(base name). Should several files
 * share a base name (a broken maildir, or a crash between link and unlink),
 * they are ordered by size, then inode, then name: the first keeps the id
 * above, each further one gets the same hash taken over the base name, a
 * NUL, its size in decimal, a NUL and its rank (1, 2, ...) among the files
 * of that base name and size. None of these change with the new/ -> cur/
 * move or with flags, so ids stay unique and survive both (only copying
 * the maildir, which changes inodes, may swap the ids of two same-sized
 * duplicates).
 *
 * Sizes (RFC 1939 LIST/STAT) are octets exactly as RETR sends them before
 * the byte-stuffing: the value of ",W=N" in the name when present (konvert
 * and Dovecot write it); otherwise the file size plus the number of LF
 * bytes not preceded by CR, plus the line end that RETR adds to a last
 * line without one (2 for CR LF, or 1 when the file ends in a lone CR).
 * The scan, the sizes and the file operations are store/mailbox.h's; this
 * view adds the lock, the numbering, unique-ids and the UPDATE rules.
 *
 * Everything here blocks (directory scans, reads, fsync): call it from
 * worker threads or the CLI, never from the event loop. One struct
 * maildrop is used by one thread at a time. Nothing logs; errors come
 * back as -1 with a message in err (or errno where stated). */
#ifndef KONVERT_STORE_MAILDROP_H
#define KONVERT_STORE_MAILDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 1939 7: a unique-id is 1 to 70 characters in 0x21..0x7E. */
#define MAILDROP_UID_MAX 70

struct maildrop;

struct maildrop_msg {
	char *file;			   /* "cur/NAME" or "new/NAME", relative to the maildir; owned */
	char uid[MAILDROP_UID_MAX + 1];	   /* NUL-terminated unique-id */
	uint64_t size;			   /* octets with CRLF line ends */
	bool deleted;			   /* set through maildrop_mark_deleted() */
	bool seen;			   /* S flag at open, or maildrop_mark_seen() */
};

/* Creates the maildir when missing (an account without mail has an empty
 * maildrop), takes the lock and builds the snapshot. On success *out is an
 * owned maildrop, free it with maildrop_close(). Returns 0, or -1 with
 * *busy_out = true when another session holds the lock (err then says so
 * too), or with *busy_out = false and err set on any other failure. */
int maildrop_open(const char *maildir_path, struct maildrop **out, bool *busy_out, char *err,
		  size_t err_size);

/* Messages in the snapshot, deleted ones included. POP3 message number n
 * is index0 n - 1. */
size_t maildrop_count(const struct maildrop *md);

/* Message index0 (< maildrop_count()). The pointer stays valid until
 * maildrop_close(); its file changes when the message is found under a
 * new name (maildrop_open_msg) or moved by maildrop_commit(). */
const struct maildrop_msg *maildrop_get(const struct maildrop *md, size_t index0);

/* Number and total size of the messages not marked deleted (POP3 STAT).
 * O(1): kept up to date by maildrop_mark_deleted(). */
void maildrop_stat(const struct maildrop *md, size_t *count_out, uint64_t *octets_out);

/* Sets or clears the deleted mark of index0 (DELE). O(1). */
void maildrop_mark_deleted(struct maildrop *md, size_t index0, bool deleted);

/* Marks index0 seen (POP3 RETR, POP2 ACKS): maildrop_commit() adds the S
 * flag to its name, unless it is deleted. A message seen at open stays as
 * it is. O(1). */
void maildrop_mark_seen(struct maildrop *md, size_t index0);

/* RFC 1460 LAST: the highest message number (index0 + 1) of a message
 * that is seen, at open or through maildrop_mark_seen(); 0 if none. O(1). */
size_t maildrop_last_seen(const struct maildrop *md);

/* RSET (RFC 1939 5, RFC 1460 LAST): clears every deleted mark and every
 * seen mark made by maildrop_mark_seen(), so LAST is again what it was at
 * open. Costs the number of messages marked since the last call, not the
 * size of the maildrop. */
void maildrop_reset(struct maildrop *md);

/* Opens message index0 read-only (stored form: LF line ends as written, not
 * dot-stuffed). When the snapshot's name is gone, cur/ is searched for the
 * same base name (another client, e.g. IMAP, may have moved it out of new/
 * or changed its flags) and the entry's file is updated. Returns an owned
 * fd, or -1 with errno set: ENOENT when the message has been removed since
 * the snapshot. A message the search did not find is remembered as gone:
 * later calls fail with ENOENT at once, without I/O (so a client repeating
 * RETR cannot make it list cur/ each time), and commit skips it. */
int maildrop_open_msg(struct maildrop *md, size_t index0);

/* UPDATE state (RFC 1939 6): unlinks the file of every message marked
 * deleted (a file already gone counts as done: another client removed it;
 * a renamed one is found as in maildrop_open_msg), moves the kept messages
 * of new/ to cur/NAME:2, and gives the kept ones marked seen the S flag
 * (new/NAME becomes cur/NAME:2,S, cur/NAME:2,F becomes cur/NAME:2,FS; a
 * file another client moved or flagged meanwhile is found in cur/ by its
 * base name). Renames are best effort: one that cannot be made leaves the
 * file as it is; names whose info is not ":2," keep their name; an
 * existing cur/ name is never replaced. Then fsyncs cur/ and, when it
 * changed, new/. Keeps going past a failed unlink and then reports it.
 * Returns the number of files removed by this call, or -1 with err set.
 * At most once per maildrop; the lock stays held until maildrop_close(). */
int maildrop_commit(struct maildrop *md, char *err, size_t err_size);

/* Releases the lock and frees the maildrop without changing the mailbox
 * (QUIT after commit, or a dropped or timed-out session: no UPDATE).
 * Sets *pp to NULL; accepts *pp == NULL. */
void maildrop_close(struct maildrop **pp);

#endif
