/* mailbox_folder: the folders of an account and whether one changed; the
 * messages of a folder are store/mailbox.h.
 *
 * Folders (SPEC "IMAP4"): Maildir++ subfolders of the account's maildir.
 * "INBOX" (any case) is the maildir itself, "Junk" is MAILDIR/.Junk,
 * "Lists/konvert" is MAILDIR/.Lists.konvert; '/' is the hierarchy
 * delimiter. Names are the bytes on disk (UTF-8; any conversion such as
 * IMAP's modified UTF-7 belongs to the protocol). What is refused (names
 * that could leave the tree or alias another folder) is in
 * maildir_folder_path() (store/maildir.h).
 *
 * Everything but mailbox_folder_path() blocks: worker threads or the CLI,
 * never an event loop. Nothing logs; errors are -1 with a message in err. */
#ifndef KONVERT_STORE_MAILBOX_FOLDER_H
#define KONVERT_STORE_MAILBOX_FOLDER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "store/mailbox.h"

/* ---- folders ---- */

/* The directory of folder name of the account maildir into out: maildir
 * itself for "INBOX" (any case), else maildir_folder_path(). Pure. */
int mailbox_folder_path(const char *maildir, const char *name, char *out, size_t out_size,
			char *err, size_t err_size);

/* Makes folder name (maildir_ensure_folder; for "INBOX" maildir_ensure):
 * durable, idempotent. */
int mailbox_folder_create(const char *maildir, const char *name, char *err, size_t err_size);

/* Folder names of an account: "INBOX" first, then every directory
 * MAILDIR/.X.Y as "X/Y" whose name maps back to it (refused names, and
 * one that would be "INBOX" again, are left out), in strcmp order. A
 * parent that has no directory of its own ("Lists" of "Lists/konvert") is
 * not listed; IMAP LIST shows it \NoSelect. */
struct mailbox_folders {
	char **names; /* owned, each owned */
	size_t n;
};
int mailbox_folders_list(const char *maildir, struct mailbox_folders *out, char *err,
			 size_t err_size);
void mailbox_folders_fini(struct mailbox_folders *f);

/* ---- change check ---- */

/* What a folder looked like: the identity and times of cur/ and new/,
 * which change with every file created, renamed or removed in them. Take
 * the stamp BEFORE a scan, so that changes made during the scan are seen
 * next time. IMAP IDLE will add inotify on top; this check needs nothing
 * but two stat calls. */
struct mailbox_dir_stamp {
	dev_t dev;
	ino_t ino;
	struct timespec mtime, ctime;
};
struct mailbox_stamp {
	struct mailbox_dir_stamp cur, new_;
	struct timespec taken; /* CLOCK_REALTIME when the stamp was taken */
};

int mailbox_stamp(struct mailbox *mb, struct mailbox_stamp *out, char *err, size_t err_size);

/* *changed_out = true when cur/ or new/ differs from the stamp, and also
 * when the stamp is too recent to tell: a directory time within a second
 * of when the stamp was taken may be shared by a later change (file
 * system time granularity), so such a stamp reports a change until a
 * fresh one is taken a second later. */
int mailbox_changed(struct mailbox *mb, const struct mailbox_stamp *since, bool *changed_out,
		    char *err, size_t err_size);

#endif
