/* mailbox: one Maildir folder as every protocol sees it, the layer under
 * the POP view (store/maildrop.h) and IMAP: opening a folder, scanning the
 * messages of cur/ and new/ with their flags, delivery times and sizes,
 * ordering them, and the changes a client may ask for (flags, append,
 * copy, expunge). The folders of an account and the "did it change" stamp
 * are store/mailbox_folder.h.
 *
 * Messages: the regular files of cur/ and new/ whose names do not start
 * with '.'. A name is BASE or BASE:INFO; the base name, up to (not
 * including) the first ":2,", never changes while the message lives (POP3
 * UIDL shows it). Flags are the letters after ":2," (store/maildir.h):
 * \Seen S, \Answered R, \Flagged F, \Deleted T, \Draft D, Dovecot's
 * keywords 'a'..'z'; other upper-case letters are kept as they are.
 *
 * Sizes: "size" is the octets on disk (",S=N" of the base name, else the
 * file size); "crlf_size" the octets with CR LF line ends, what POP3 LIST
 * and IMAP RFC822.SIZE report: ",W=N" of the base name when present
 * (konvert and Dovecot write it), else counted from the content by
 * mailbox_crlf_size(), the one implementation of the rule.
 *
 * Everything here but the pure name helpers blocks (directory scans,
 * reads, fsync): call it from worker threads or the CLI, never from an
 * event loop. One struct mailbox is used by one thread at a time. Nothing
 * logs; errors come back as -1 with a message in err (and errno where
 * stated). */
#ifndef KONVERT_STORE_MAILBOX_H
#define KONVERT_STORE_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* ---- flags: one bit per info letter ---- */

/* 'A'..'Z' are bits 0..25, 'a'..'z' bits 26..51; c must be a letter. */
#define MAILBOX_FLAG(c)                                                                    \
	((c) >= 'a' ? UINT64_C(1) << (26 + (c) - 'a') : UINT64_C(1) << ((c) - 'A'))
#define MAILBOX_DRAFT MAILBOX_FLAG('D')
#define MAILBOX_FLAGGED MAILBOX_FLAG('F')
#define MAILBOX_ANSWERED MAILBOX_FLAG('R')
#define MAILBOX_SEEN MAILBOX_FLAG('S')
#define MAILBOX_DELETED MAILBOX_FLAG('T')
#define MAILBOX_KEYWORDS (UINT64_C(0x3ffffff) << 26)

/* The flags of a file name: the letters after its ":2," (0 when it has
 * no info). *foreign_out is set true when the name has an info that is
 * not ":2," (e.g. ":1,..."): such a name is read, never rewritten. Pure. */
uint64_t mailbox_name_flags(const char *name, bool *foreign_out);

/* Length of the base name: up to, not including, the first ":2,". Pure. */
size_t mailbox_base_len(const char *name);

/* Octets of what fd holds from its offset to its end once every line ends
 * in CR LF: bytes read, plus one per LF not preceded by CR, plus the line
 * end the senders add to a last line without one (2 for CR LF, or 1 when
 * the content ends in a lone CR, which gets its LF); 0 for no content.
 * Returns 0, or -1 with errno. */
int mailbox_crlf_size(int fd, uint64_t *out);

struct mailbox;

/* Opens the folder at path (a Maildir with cur/, new/ and tmp/; nothing
 * is created). *out is owned, free it with mailbox_close(). */
int mailbox_open(const char *path, struct mailbox **out, char *err, size_t err_size);

/* Closes the directory fd and frees; sets *pp to NULL, accepts NULL. */
void mailbox_close(struct mailbox **pp);

/* The folder's O_DIRECTORY fd (borrowed, valid until mailbox_close()), for
 * files of a view's own beside the messages (the POP lock). */
int mailbox_fd(const struct mailbox *mb);

/* ---- scan ---- */

struct mailbox_msg {
	char *file; /* "cur/NAME" or "new/NAME", relative to the folder; owned */
	uint64_t flags; /* MAILBOX_FLAG bits of the name */
	bool foreign_info; /* info of another kind: flags cannot be written */
	uint64_t secs; /* delivery time: leading "SECS." of the name, else mtime */
	uint32_t usec; /* "SECS.M<usec>", else 0; or the mtime's microseconds */
	uint64_t size; /* octets on disk */
	uint64_t crlf_size; /* octets with CR LF line ends */
	ino_t ino; /* from the listing: tells duplicates of a base name apart */
};

/* The name of m without "cur/" or "new/". */
static inline const char *mailbox_msg_name(const struct mailbox_msg *m)
{
	return m->file + 4;
}

static inline bool mailbox_msg_in_new(const struct mailbox_msg *m)
{
	return m->file[0] == 'n';
}

/* Frees m->file. */
void mailbox_msg_fini(struct mailbox_msg *m);

struct mailbox_list {
	struct mailbox_msg *msgs; /* owned, n used of cap */
	size_t n, cap;
};

/* Appends the messages of cur/, then those of new/, to out (a zeroed or
 * earlier filled list), in directory order: a message moved from new/ to
 * cur/ by another client during the scan is missed rather than listed
 * twice. Files that vanish while being looked at are skipped. Only names
 * without ",W=" are opened; without ",S=" or a leading time, stat'ed. */
int mailbox_scan(struct mailbox *mb, struct mailbox_list *out, char *err, size_t err_size);

/* By delivery time (secs, usec), then by name without "cur/" or "new/"
 * (the order survives the move), then by file. */
int mailbox_msg_cmp(const struct mailbox_msg *a, const struct mailbox_msg *b);
void mailbox_sort(struct mailbox_list *l);

/* Frees every message and the array; the list is empty again. */
void mailbox_list_fini(struct mailbox_list *l);

/* ---- reading and changing messages ---- */

/* Opens m read-only (regular files only, no symlinks, no blocking on a
 * FIFO). Returns an owned fd, or -1 with errno (ENOENT: no such message,
 * e.g. renamed or removed by another client). */
int mailbox_open_msg(struct mailbox *mb, const struct mailbox_msg *m);

/* Looks in cur/ for another name with m's base name (another client
 * changed its flags or moved it out of new/) and takes it: m->file and
 * m->flags change. Costs one listing of cur/. Returns 0, or -1 with errno
 * (ENOENT when there is none). */
int mailbox_relocate(struct mailbox *mb, struct mailbox_msg *m);

/* Gives m the flags (MAILBOX_FLAG bits): letters added in ASCII order at
 * their place in the info, removed ones taken out, the rest of the name
 * left as it is; the file goes to cur/ (from new/ with the info ":2,", as
 * Dovecot and mutt do). Never replaces an existing name: renameat2
 * RENAME_NOREPLACE, or link + unlink. Returns 1 when renamed (m->file
 * changed), 0 when m is in cur/ with these flags already, or -1 with errno
 * and err: ENOENT m is not there (see mailbox_relocate), EEXIST the new
 * name is taken, EINVAL a foreign info, ENAMETOOLONG; nothing is renamed
 * then. Not fsynced: see mailbox_flush(). */
int mailbox_set_flags(struct mailbox *mb, struct mailbox_msg *m, uint64_t flags, char *err,
		      size_t err_size);

/* Unlinks m's file. Returns 0, or -1 with errno and err (ENOENT: not
 * there, e.g. renamed or removed by another client). Not fsynced: see
 * mailbox_flush(). */
int mailbox_expunge(struct mailbox *mb, const struct mailbox_msg *m, char *err,
		    size_t err_size);

/* fsyncs cur/ and new/ where mailbox_set_flags() or mailbox_expunge()
 * changed them since the last flush, so that a batch (a POP UPDATE, an
 * IMAP STORE or EXPUNGE of many messages) costs one fsync per directory.
 * Call it before telling the client the change is made. */
int mailbox_flush(struct mailbox *mb, char *err, size_t err_size);

/* Appends the content of src_fd (from offset 0 to its end) to the folder:
 * written to tmp/, fsynced, renamed to new/NAME when flags is 0, else to
 * cur/NAME:2,FLAGS, and that directory fsynced. NAME is a fresh
 * maildir_unique_name() with the message's ",S=" and ",W=". When mtime is
 * not 0 it becomes the file's mtime (IMAP APPEND's date-time; Dovecot's
 * INTERNALDATE of a Maildir message is its mtime). On success *out
 * describes the new message (owned file; free with mailbox_msg_fini()). */
int mailbox_append(struct mailbox *mb, int src_fd, uint64_t flags, time_t mtime,
		   const char *hostname, struct mailbox_msg *out, char *err, size_t err_size);

/* Copies m of from into to under a fresh name with m's sizes and flags
 * (new/ when it has none, else cur/NAME:2,FLAGS): a hard link, or, when
 * linking is impossible (another file system, link limits), a copy
 * written through tmp/ and fsynced; then the target directory is fsynced.
 * from and to may be the same folder. Returns 0 with *out as for
 * mailbox_append(), or -1 with errno and err (ENOENT: m is not there). */
int mailbox_copy(struct mailbox *from, const struct mailbox_msg *m, struct mailbox *to,
		 const char *hostname, struct mailbox_msg *out, char *err, size_t err_size);

#endif
