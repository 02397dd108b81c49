/* mailbox_folder: the folders of an account (Maildir++ names, the INBOX
 * special case, listing) and the change stamp of one folder. Owns the
 * mapping of folder names to directories (through maildir_folder_path, the
 * one place that validates them) and the "did it change" rule; it reads no
 * message and knows no protocol. Blocking I/O: worker threads or the CLI. */
#include "store/mailbox_folder.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "store/maildir.h"

/* Directory times within this many seconds of a stamp may be shared by a
 * later change (see mailbox_changed). */
#define STAMP_SLACK_S 1

static void fail(char *err, size_t err_size, const char *what, const char *obj)
{
	int saved = errno;
	(void)snprintf(err, err_size, "%s %s: %s", what, obj, strerror(saved));
	errno = saved;
}

/* ---- folders ---- */

int mailbox_folder_path(const char *maildir, const char *name, char *out, size_t out_size,
			char *err, size_t err_size)
{
	if (strcasecmp(name, "INBOX") != 0)
		return maildir_folder_path(maildir, name, out, out_size, err, err_size);
	int n = snprintf(out, out_size, "%s", maildir);
	if (n < 0 || (size_t)n >= out_size) {
		(void)snprintf(err, err_size, "folder path too long");
		return -1;
	}
	return 0;
}

int mailbox_folder_create(const char *maildir, const char *name, char *err, size_t err_size)
{
	if (strcasecmp(name, "INBOX") == 0)
		return maildir_ensure(maildir, err, err_size);
	char path[4096];
	return maildir_ensure_folder(maildir, name, path, sizeof(path), err, err_size);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The folder name of directory entry d (".X.Y" -> "X/Y") into out when it
 * is one that mailbox_folder_path() maps back to d. */
static bool folder_of_entry(const char *maildir, const char *d, char *out, size_t out_size)
{
	size_t len = strlen(d);
	if (d[0] != '.' || len < 2 || len >= out_size)
		return false;
	for (size_t i = 1; i <= len; i++)
		out[i - 1] = d[i] == '.' ? '/' : d[i];
	char path[4096], err[64];
	int n = snprintf(path, sizeof(path), "%s/%s", maildir, d);
	char back[4096];
	return n > 0 && (size_t)n < sizeof(path) && strcasecmp(out, "INBOX") != 0 &&
	       maildir_folder_path(maildir, out, back, sizeof(back), err, sizeof(err)) == 0 &&
	       strcmp(back, path) == 0;
}

int mailbox_folders_list(const char *maildir, struct mailbox_folders *out, char *err,
			 size_t err_size)
{
	out->names = NULL;
	out->n = 0;
	DIR *d = opendir(maildir);
	if (d == NULL) {
		fail(err, err_size, "opendir", maildir);
		return -1;
	}
	size_t cap = 8;
	out->names = xmalloc(cap * sizeof(*out->names));
	out->names[out->n++] = xstrdup("INBOX");
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		char name[NAME_MAX + 1];
		struct stat st;
		if (!folder_of_entry(maildir, de->d_name, name, sizeof(name)) ||
		    fstatat(dirfd(d), de->d_name, &st, 0) != 0 || !S_ISDIR(st.st_mode)) {
			errno = 0;
			continue;
		}
		if (out->n == cap) {
			size_t bytes;
			cap *= 2;
			KASSERT(!ckd_mul_size(&bytes, cap, sizeof(*out->names)));
			out->names = xrealloc(out->names, bytes);
		}
		out->names[out->n++] = xstrdup(name);
		errno = 0;
	}
	int rc = 0;
	if (errno != 0) {
		fail(err, err_size, "readdir", maildir);
		rc = -1;
	}
	(void)closedir(d);
	if (rc != 0) {
		mailbox_folders_fini(out);
		return -1;
	}
	qsort(out->names + 1, out->n - 1, sizeof(*out->names), cmp_str);
	return 0;
}

void mailbox_folders_fini(struct mailbox_folders *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->names[i]);
	free(f->names);
	f->names = NULL;
	f->n = 0;
}

/* ---- change check ---- */

static int stat_sub(struct mailbox *mb, const char *sub, struct mailbox_dir_stamp *out)
{
	struct stat st;
	if (fstatat(mailbox_fd(mb), sub, &st, 0) != 0)
		return -1;
	out->dev = st.st_dev;
	out->ino = st.st_ino;
	out->mtime = st.st_mtim;
	out->ctime = st.st_ctim;
	return 0;
}

int mailbox_stamp(struct mailbox *mb, struct mailbox_stamp *out, char *err, size_t err_size)
{
	memset(out, 0, sizeof(*out));
	KASSERT(clock_gettime(CLOCK_REALTIME, &out->taken) == 0);
	if (stat_sub(mb, "cur", &out->cur) != 0 || stat_sub(mb, "new", &out->new_) != 0) {
		fail(err, err_size, "stat", "cur/ new/");
		return -1;
	}
	return 0;
}

static bool ts_equal(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static bool pair_equal(const struct mailbox_dir_stamp *a, const struct mailbox_dir_stamp *b)
{
	return a->dev == b->dev && a->ino == b->ino && ts_equal(a->mtime, b->mtime) &&
	       ts_equal(a->ctime, b->ctime);
}

/* A directory time that close to the stamp may be shared by a change made
 * after it (a coarse file system clock). Only the mtime: every change of
 * a directory's entries sets mtime and ctime alike, and the ctime alone
 * moves with chmod or utime, which change no entry. */
static bool is_recent(const struct mailbox_dir_stamp *p, struct timespec taken)
{
	return p->mtime.tv_sec >= taken.tv_sec - STAMP_SLACK_S;
}

int mailbox_changed(struct mailbox *mb, const struct mailbox_stamp *since, bool *changed_out,
		    char *err, size_t err_size)
{
	struct mailbox_stamp now;
	if (mailbox_stamp(mb, &now, err, err_size) != 0)
		return -1;
	*changed_out = !pair_equal(&now.cur, &since->cur) || !pair_equal(&now.new_, &since->new_) ||
		       is_recent(&since->cur, since->taken) || is_recent(&since->new_, since->taken);
	return 0;
}
