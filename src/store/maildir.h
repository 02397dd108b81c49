/* maildir: Maildir storage (https://cr.yp.to/proto/maildir.html) as
 * Dovecot and mutt read it: DIR/tmp, DIR/new, DIR/cur. konvert names files
 * "SECS.MUSECPPIDQN.HOST,S=SIZE,W=VSIZE" where S is the size on disk (LF
 * line ends) and W the size with CRLF line ends (what POP3 reports), so
 * listings never need to open messages.
 *
 * Everything here but the pure name helpers (maildir_name_*) does blocking
 * I/O and fsync: call it from worker threads (or the CLI), never from the
 * event loop. Errors are returned as -1 with a message in err; nothing
 * logs. */
#ifndef KONVERT_STORE_MAILDIR_H
#define KONVERT_STORE_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* data_dir/mail/DOMAIN/LOCAL for a lower-case "local@domain"; a UTF-8
 * local part is the directory name as it is. Refuses local parts or
 * domains that could escape the tree ('/', leading '.', empty, control
 * bytes) or list badly (malformed UTF-8, C1 controls, the invisible
 * characters of core/utf8.h). Returns 0, or -1 when invalid or too long. */
int maildir_path(const char *data_dir, const char *address, char *out, size_t out_size);

/* Creates path and its tmp/new/cur (and missing parents), fsyncing each
 * parent directory that gained an entry, so a new mailbox survives a crash. */
int maildir_ensure(const char *path, char *err, size_t err_size);

/* The path of the Maildir++ folder NAME of the account maildir (SPEC:
 * "Junk" is MAILDIR/.Junk, "Lists/konvert" is MAILDIR/.Lists.konvert) into
 * out. NAME is 1..200 bytes of '/'-separated parts, each non-empty, without
 * '.' (it separates the levels on disk, so "a.b" would be "a/b") and as
 * maildir_path() wants a component: no control bytes, well-formed UTF-8,
 * nothing utf8_is_hidden() refuses. Pure. Returns 0, or -1 with err. */
int maildir_folder_path(const char *maildir, const char *name, char *out, size_t out_size,
			char *err, size_t err_size);

/* The Maildir++ folder NAME of the account maildir: its path
 * (maildir_folder_path) into out, the folder made with maildir_ensure, and
 * the "maildirfolder" marker file that Maildir++ readers (Dovecot, Courier)
 * expect in a subfolder. Returns 0, or -1 with err. */
int maildir_ensure_folder(const char *maildir, const char *name, char *out, size_t out_size,
			  char *err, size_t err_size);

/* A fresh unique base name (see above) for a message of the given sizes. */
void maildir_unique_name(char *out, size_t out_size, const char *hostname, uint64_t size,
			 uint64_t vsize);

/* Delivers the complete file src_path (open as src_fd) into DIR/new/NAME
 * for each of the n maildirs: fsync(src_fd) first, then a hard link per
 * maildir (a copy through tmp/ when linking is impossible, e.g. EXDEV),
 * then fsync of each new/ directory. All or nothing: on error the entries
 * already made are removed again. */
int maildir_deliver(int src_fd, const char *src_path, const char *const *maildirs, size_t n,
		    const char *name, char *err, size_t err_size);

/* One local copy of a delivery: the maildir, the file name in its new/,
 * and what the copy holds: a hard link of the source when head is NULL,
 * else head followed by the source from the skip offset of
 * maildir_deliver_copies on (a per-mailbox Delivered-To:, for one). */
struct maildir_copy {
	const char *dir; /* borrowed */
	const char *name; /* borrowed */
	const char *head; /* borrowed, or NULL */
	size_t head_len;
};

/* maildir_deliver for copies that may differ in their first bytes: fsync of
 * src_fd, then each copy (a hard link, or written through tmp/ and fsynced,
 * and a link that fails turns into a written copy too), then fsync of every
 * new/ directory. All or nothing, as maildir_deliver. */
int maildir_deliver_copies(int src_fd, const char *src_path, uint64_t skip,
			   const struct maildir_copy *copies, size_t n, char *err, size_t err_size);

/* fsync of a directory by path. */
int maildir_fsync_dir(const char *path);

/* Maildir info flags (the spec's "experimental semantics" are left alone):
 * a name's info starts at its first ':' and is ":2," followed by flags,
 * single letters in ASCII order ("D F R S T", Dovecot keywords 'a'..'z'
 * after them), e.g. "BASE:2,FS". The base name, the part before the info,
 * is what POP3 UIDL shows and must never change. Pure, no I/O. */

/* True when name has an info ":2,FLAGS" that holds flag. */
bool maildir_name_has_flag(const char *name, char flag);

/* Writes into out the name with flag added to its info: inserted before
 * the first flag that sorts after it, or ":2,F" appended when name has no
 * ':' at all. Returns 1 when out holds a new name, 0 when name already has
 * flag (out holds name unchanged), or -1 when name has another kind of
 * info (a ':' not starting ":2,") or the result would not fit in out or
 * exceed NAME_MAX; out is then "". flag is an ASCII letter. */
int maildir_name_add_flag(const char *name, char flag, char *out, size_t out_size);

#endif
