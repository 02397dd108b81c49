/* intake: owns the incoming/ file of one message and its commit into local
 * Maildirs through the worker pool. The loop thread only appends to the
 * file (buffered); fsync, mkdir and link run on workers (store/maildir).
 * It does not decide who the recipients are (delivery/resolve does). */
#include "delivery/intake.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/worker.h"
#include "queue/queue_env.h"
#include "queue/queue_store.h"
#include "delivery/signing.h"
#include "proto/mime8.h"
#include "proto/dsn.h"
#include "proto/rfc5322.h"
#include "store/maildir.h"

#define INTAKE_BUF_SIZE 65536

struct intake {
	char *data_dir; /* owned */
	char *hostname; /* owned */
	char path[4096];
	int fd;
	char *buf; /* owned write buffer */
	size_t buf_len;
	uint64_t size;
	uint64_t lfs;
	char last; /* the last byte written (when size > 0) */
	bool failed;
	char **mailboxes; /* owned array of owned addresses */
	size_t mailbox_count;
	/* The file's first line(s) from intake_write_return_path: the
	 * Return-Path line (owned), and with it Delivered-To: of mailboxes[0]
	 * when there is a mailbox; head_len covers both (0: not written). */
	char *rp_line;
	size_t head_len;
	bool delivered_to;
	/* DKIM: the keys to sign with (borrowed), and why signing failed */
	const struct signing_domain *dkim;
	const char *dkim_err; /* static text, logged when the commit ends */
	char *ar_fields; /* owned: Authentication-Results to add, or NULL */
	struct intake_range *drop; /* owned: forged fields to drop */
	size_t ndrop;
	const char *folder; /* borrowed: local copies go there, not INBOX */
	char fill_id[64]; /* non-empty: add Date / Message-ID when missing */
	/* remote recipients */
	struct queue_store *qs; /* borrowed */
	struct queue_env *qenv; /* owned until handed to queued() */
	intake_queued_fn queued;
	void *queued_arg;
	/* commit */
	intake_done_fn done;
	void *done_arg;
	int result;
	char err[512];
};

/* Unnamed O_TMPFILE files in incoming/, made ahead on workers: making an
 * inode can take a millisecond of kernel time (ext4 without a journal
 * steps over each recently deleted inode), too long for the loop thread.
 * intake_new names one with a link, which makes no inode. */
#define INTAKE_SPARES 32
static pthread_mutex_t spare_mu = PTHREAD_MUTEX_INITIALIZER;
static int spare_fds[INTAKE_SPARES];
static size_t spare_count;

static void spare_refill(const char *data_dir) /* worker thread */
{
	char dir[4096];
	(void)snprintf(dir, sizeof(dir), "%s/incoming", data_dir);
	for (;;) {
		(void)pthread_mutex_lock(&spare_mu);
		bool full = spare_count >= INTAKE_SPARES;
		(void)pthread_mutex_unlock(&spare_mu);
		int fd = full ? -1 : open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd < 0)
			return; /* full, or no O_TMPFILE: intake_new opens by name */
		(void)pthread_mutex_lock(&spare_mu);
		full = spare_count >= INTAKE_SPARES;
		if (!full)
			spare_fds[spare_count++] = fd;
		(void)pthread_mutex_unlock(&spare_mu);
		if (full) {
			(void)close(fd);
			return;
		}
	}
}

/* A spare linked as path; -1: none (open by name), -2: errno says why. */
static int spare_open(const char *path)
{
	int fd = -1;
	(void)pthread_mutex_lock(&spare_mu);
	if (spare_count > 0)
		fd = spare_fds[--spare_count];
	(void)pthread_mutex_unlock(&spare_mu);
	if (fd < 0)
		return -1;
	char proc[64];
	(void)snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
		return fd;
	int saved = errno;
	(void)close(fd);
	errno = saved;
	return saved == EEXIST ? -2 : -1; /* EEXIST: as O_EXCL would */
}

struct intake *intake_new(const char *data_dir, const char *hostname, const char *id, char *err,
			  size_t err_size)
{
	struct intake *in = xcalloc(1, sizeof(*in));
	int n = snprintf(in->path, sizeof(in->path), "%s/incoming/%s", data_dir, id);
	if (n < 0 || (size_t)n >= sizeof(in->path)) {
		(void)snprintf(err, err_size, "path too long");
		free(in);
		return NULL;
	}
	in->fd = spare_open(in->path);
	if (in->fd == -1)
		in->fd = open(in->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (in->fd < 0) {
		(void)snprintf(err, err_size, "open %s: %s", in->path, strerror(errno));
		free(in);
		return NULL;
	}
	in->data_dir = xstrdup(data_dir);
	in->hostname = xstrdup(hostname);
	in->buf = xmalloc(INTAKE_BUF_SIZE);
	return in;
}

static int intake_flush(struct intake *in)
{
	size_t off = 0;
	while (off < in->buf_len) {
		ssize_t w = write(in->fd, in->buf + off, in->buf_len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			in->failed = true;
			(void)snprintf(in->err, sizeof(in->err), "write: %s", strerror(errno));
			return -1;
		}
		off += (size_t)w;
	}
	in->buf_len = 0;
	return 0;
}

int intake_write(struct intake *in, const void *data, size_t len)
{
	if (in->failed)
		return -1;
	const char *p = data;
	/* Line ends for W= (memchr strides a line at a time). */
	for (const char *q = p, *end = p + len; (q = memchr(q, '\n', (size_t)(end - q))) != NULL;
	     q++)
		in->lfs++;
	in->size += len;
	if (len > 0)
		in->last = p[len - 1];
	while (len > 0) {
		size_t room = INTAKE_BUF_SIZE - in->buf_len;
		size_t n = len < room ? len : room;
		memcpy(in->buf + in->buf_len, p, n);
		in->buf_len += n;
		p += n;
		len -= n;
		if (in->buf_len == INTAKE_BUF_SIZE && intake_flush(in) != 0)
			return -1;
	}
	return 0;
}

uint64_t intake_size(const struct intake *in)
{
	return in->size;
}

/* Dovecot's W=: the size with CRLF line ends. Every stored message ends
 * with LF (intake_ends_with_newline), so POP3 RETR sends exactly this. */
uint64_t intake_vsize(const struct intake *in)
{
	return in->size + in->lfs;
}

bool intake_ends_with_newline(const struct intake *in)
{
	return in->size == 0 || in->last == '\n';
}

int intake_add_mailbox(struct intake *in, const char *address)
{
	char path[4096];
	if (maildir_path(in->data_dir, address, path, sizeof(path)) != 0)
		return -1;
	for (size_t i = 0; i < in->mailbox_count; i++)
		if (strcmp(in->mailboxes[i], address) == 0)
			return 0;
	in->mailboxes = xrealloc(in->mailboxes, (in->mailbox_count + 1) * sizeof(char *));
	in->mailboxes[in->mailbox_count++] = xstrdup(address);
	return 0;
}

size_t intake_mailbox_count(const struct intake *in)
{
	return in->mailbox_count;
}

void intake_set_dkim(struct intake *in, const struct signing_domain *keys)
{
	in->dkim = keys;
}

int intake_write_return_path(struct intake *in, const char *sender)
{
	if (in->size != 0 || in->rp_line != NULL)
		return -1;
	size_t n = strlen(sender) + sizeof("Return-Path: <>\n");
	in->rp_line = xmalloc(n);
	(void)snprintf(in->rp_line, n, "Return-Path: <%s>\n", sender);
	if (intake_write(in, in->rp_line, n - 1) != 0)
		return -1;
	if (in->mailbox_count > 0) {
		/* As Postfix's local(8) and Dovecot's LDA write it: the final
		 * recipient, after alias expansion. Other mailboxes get their
		 * own copy with their own line at commit. */
		static const char dt[] = "Delivered-To: ";
		if (intake_write(in, dt, sizeof(dt) - 1) != 0 ||
		    intake_write(in, in->mailboxes[0], strlen(in->mailboxes[0])) != 0 ||
		    intake_write(in, "\n", 1) != 0)
			return -1;
		in->delivered_to = true;
	}
	in->head_len = (size_t)in->size;
	return 0;
}

/* Where the sender's message starts in a stored file: after the
 * Return-Path line (and Delivered-To, the head_len bytes of
 * intake_write_return_path) and our Received: field (with its continuation
 * lines). rp_out gets the end of that head. */
static size_t trace_end(const char *buf, size_t len, size_t head_len, size_t *rp_out)
{
	*rp_out = 0;
	const char *nl = memchr(buf, '\n', len);
	if (nl == NULL || len < 12 || strncmp(buf, "Return-Path:", 12) != 0)
		return 0;
	size_t rp = (size_t)(nl - buf) + 1;
	if (head_len > rp && head_len <= len)
		rp = head_len;
	*rp_out = rp;
	size_t ins = rp;
	if (len - rp >= 9 && strncmp(buf + rp, "Received:", 9) == 0) {
		const char *p = memchr(buf + rp, '\n', len - rp);
		while (p != NULL && (size_t)(p - buf) + 1 < len && (p[1] == ' ' || p[1] == '\t'))
			p = memchr(p + 1, '\n', len - (size_t)(p + 1 - buf));
		if (p != NULL)
			ins = (size_t)(p - buf) + 1;
	}
	return ins;
}

static int read_file(struct intake *in, char **buf_out)
{
	size_t len = (size_t)in->size;
	char *buf = xmalloc(len + 1);
	size_t off = 0;
	while (off < len) {
		ssize_t got = pread(in->fd, buf + off, len - off, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			free(buf);
			return -1;
		}
		off += (size_t)got;
	}
	buf[len] = '\0';
	*buf_out = buf;
	return 0;
}

int intake_read_message(struct intake *in, char **buf_out, size_t *len_out)
{
	if (in->failed || intake_flush(in) != 0)
		return -1;
	char *buf;
	if (read_file(in, &buf) != 0)
		return -1;
	size_t rp, ins = trace_end(buf, (size_t)in->size, in->head_len, &rp);
	size_t n = (size_t)in->size - ins;
	memmove(buf, buf + ins, n);
	buf[n] = '\0';
	*buf_out = buf;
	*len_out = n;
	return 0;
}

void intake_set_header(struct intake *in, char *fields, const struct intake_range *drop,
		       size_t ndrop)
{
	free(in->ar_fields);
	in->ar_fields = fields;
	free(in->drop);
	in->drop = NULL;
	in->ndrop = 0;
	if (ndrop > 0) {
		in->drop = xcalloc(ndrop, sizeof(*drop));
		memcpy(in->drop, drop, ndrop * sizeof(*drop));
		in->ndrop = ndrop;
	}
}

/* Worker thread: rewrites the incoming file through a temporary file and
 * a rename: the checks' Authentication-Results field goes above our
 * Received: (RFC 8601 5), forged ones are dropped, and the DKIM-Signature
 * fields go below our Received:, at the head of the sender's header block
 * (the signature is over what follows our trace). On a failure the
 * message stays as it was (a signing failure: unsigned) and dkim_err says
 * why. */
static void rewrite_file(struct intake *in)
{
	char *buf;
	if (read_file(in, &buf) != 0) {
		in->dkim_err = "cannot read the message back";
		return;
	}
	size_t len = (size_t)in->size;
	size_t rp, ins = trace_end(buf, len, in->head_len, &rp);
	if (rp == 0) {
		in->dkim_err = "no Return-Path line";
		free(buf);
		return;
	}
	if (in->dkim != NULL && in->ndrop == 0 && !mime8_is_7bit(buf + ins, len - ins)) {
		/* RFC 6376 5.3 / RFC 6152 3: a signed message must not be
		 * changed afterwards, and a 7-bit next hop would force a
		 * quoted-printable conversion that breaks the body hash. So
		 * convert first and sign what leaves. A message that cannot be
		 * converted (8-bit headers, SMTPUTF8) is signed as it is. */
		char *conv = NULL;
		size_t clen = 0;
		enum mime8_err merr = MIME8_ERR_NONE;
		if (mime8_downgrade(buf + ins, len - ins, 2 * (len - ins) + 4096, &conv, &clen,
				    &merr) == 0) {
			char *nb = xmalloc(ins + clen + 1);
			memcpy(nb, buf, ins);
			memcpy(nb + ins, conv, clen);
			free(conv);
			free(buf);
			buf = nb;
			len = ins + clen;
			if (in->qenv != NULL)
				in->qenv->body = QUEUE_BODY_7BIT;
		}
	}
	if (in->fill_id[0] != '\0' && in->ndrop == 0) {
		/* RFC 6409 8.2 / 8.3: the submission server adds what the
		 * client left out, before the message is signed. */
		size_t hend = rfc5322_header_end(buf + ins, len - ins);
		size_t pos = 0, fs, fe, nl, vl;
		const char *name, *val;
		bool has_date = false, has_id = false;
		while (rfc5322_next_field(buf + ins, hend, &pos, &name, &nl, &val, &vl, &fs, &fe)) {
			has_date = has_date || rfc5322_name_is(name, nl, "Date");
			has_id = has_id || rfc5322_name_is(name, nl, "Message-ID");
		}
		char add[512] = "";
		size_t an = 0;
		char date[64];
		if (!has_date && dsn_format_date(time(NULL), date, sizeof(date)) == 0)
			an += (size_t)snprintf(add + an, sizeof(add) - an, "Date: %s\n", date);
		if (!has_id)
			an += (size_t)snprintf(add + an, sizeof(add) - an, "Message-ID: <%s@%.200s>\n",
					       in->fill_id, in->hostname);
		if (an == 0 && in->dkim == NULL && in->ar_fields == NULL) {
			free(buf); /* complete already: the file stays as it is */
			return;
		}
		if (an > 0 && an < sizeof(add)) {
			char *nb = xmalloc(len + an + 1);
			memcpy(nb, buf, ins);
			memcpy(nb + ins, add, an);
			memcpy(nb + ins + an, buf + ins, len - ins);
			free(buf);
			buf = nb;
			len += an;
		}
	}
	char *fields = NULL;
	size_t flen = 0;
	if (in->dkim != NULL) {
		const char *why = NULL;
		if (signing_sign(in->dkim, buf + rp, len - rp, (int64_t)time(NULL), &fields, &flen,
				 &why) != 0) {
			in->dkim_err = why ? why : "signing failed";
			fields = NULL;
			flen = 0;
		}
	}
	char tmp[4200];
	(void)snprintf(tmp, sizeof(tmp), "%s.new", in->path);
	int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	bool ok = fd >= 0;
	/* The pieces in order; the sender's part minus the dropped fields. */
	size_t cap = 6 + 2 * in->ndrop;
	const char **parts = xcalloc(cap, sizeof(char *));
	size_t *lens = xcalloc(cap, sizeof(size_t));
	size_t np = 0;
	parts[np] = buf, lens[np++] = rp;
	if (in->ar_fields != NULL)
		parts[np] = in->ar_fields, lens[np++] = strlen(in->ar_fields);
	parts[np] = buf + rp, lens[np++] = ins - rp;
	if (fields != NULL)
		parts[np] = fields, lens[np++] = flen;
	size_t at = ins;
	for (size_t i = 0; i < in->ndrop; i++) {
		size_t a = ins + in->drop[i].start, b = ins + in->drop[i].end;
		if (a < at || b < a || b > len)
			continue; /* not sorted or out of range: keep it */
		parts[np] = buf + at, lens[np++] = a - at;
		at = b;
	}
	parts[np] = buf + at, lens[np++] = len - at;
	uint64_t newsize = 0, newlfs = 0;
	for (size_t i = 0; ok && i < np; i++) {
		for (size_t k = 0; k < lens[i]; k++)
			newlfs += parts[i][k] == '\n';
		newsize += lens[i];
		size_t w = 0;
		while (ok && w < lens[i]) {
			ssize_t n = write(fd, parts[i] + w, lens[i] - w);
			if (n < 0 && errno == EINTR)
				continue;
			ok = n > 0;
			if (ok)
				w += (size_t)n;
		}
	}
	if (ok && rename(tmp, in->path) != 0)
		ok = false;
	if (!ok) {
		in->dkim_err = "cannot rewrite the message";
		if (fd >= 0) {
			(void)close(fd);
			(void)unlink(tmp);
		}
	} else {
		(void)close(in->fd);
		in->fd = fd;
		in->size = newsize;
		in->lfs = newlfs;
	}
	free(parts);
	free(lens);
	free(fields);
	free(buf);
}

void intake_set_fill_headers(struct intake *in, const char *id)
{
	(void)snprintf(in->fill_id, sizeof(in->fill_id), "%s", id);
}

void intake_set_folder(struct intake *in, const char *name)
{
	in->folder = name;
}

void intake_set_queue(struct intake *in, struct queue_store *qs, struct queue_env *env,
		      intake_queued_fn queued, void *arg)
{
	if (in->qenv != NULL) {
		queue_env_fini(in->qenv);
		free(in->qenv);
	}
	in->qs = qs;
	in->qenv = xcalloc(1, sizeof(*in->qenv));
	*in->qenv = *env;
	memset(env, 0, sizeof(*env));
	queue_env_init(env);
	in->queued = queued;
	in->queued_arg = arg;
}

static void intake_destroy(struct intake *in)
{
	if (in->fd >= 0) {
		(void)close(in->fd);
		(void)unlink(in->path);
	}
	for (size_t i = 0; i < in->mailbox_count; i++)
		free(in->mailboxes[i]);
	free(in->mailboxes);
	free(in->rp_line);
	if (in->qenv != NULL) {
		queue_env_fini(in->qenv);
		free(in->qenv);
	}
	free(in->ar_fields);
	free(in->drop);
	free(in->buf);
	free(in->data_dir);
	free(in->hostname);
	free(in);
}

void intake_free(struct intake **pp)
{
	if (*pp == NULL)
		return;
	intake_destroy(*pp);
	*pp = NULL;
}

/* Worker thread. */
static void commit_work(void *arg)
{
	struct intake *in = arg;
	in->result = -1;
	if (in->failed || intake_flush(in) != 0)
		return;
	if (in->dkim != NULL || in->ar_fields != NULL || in->fill_id[0] != '\0')
		rewrite_file(in);
	/* Remote recipients first: the file becomes the queued message (a
	 * hard link, so the bytes are written once). If the local links fail
	 * afterwards, the queue entry is taken back and nothing was accepted. */
	bool queued = false;
	if (in->qenv != NULL) {
		if (fsync(in->fd) != 0) {
			(void)snprintf(in->err, sizeof(in->err), "fsync incoming/%s: %s",
				       in->qenv->id, strerror(errno));
			goto closeout;
		}
		in->qenv->size = in->size;
		if (in->head_len > 0) /* relayed copies start after our head */
			in->qenv->skip = in->head_len;
		if (queue_store_adopt(in->qs, in->path, in->qenv, in->err, sizeof(in->err)) != 0)
			goto closeout;
		queued = true;
	}
	struct maildir_copy *copies = NULL;
	char **names = NULL, **heads = NULL;
	char **dirs = xcalloc(in->mailbox_count + 1, sizeof(char *));
	for (size_t i = 0; i < in->mailbox_count; i++) {
		dirs[i] = xmalloc(4096);
		if (maildir_path(in->data_dir, in->mailboxes[i], dirs[i], 4096) != 0) {
			(void)snprintf(in->err, sizeof(in->err), "bad mailbox %s", in->mailboxes[i]);
			goto out;
		}
		if (maildir_ensure(dirs[i], in->err, sizeof(in->err)) != 0)
			goto out;
		if (in->folder != NULL) {
			char *f = xmalloc(4096);
			int rc = maildir_ensure_folder(dirs[i], in->folder, f, 4096, in->err,
						       sizeof(in->err));
			free(dirs[i]);
			dirs[i] = f;
			if (rc != 0)
				goto out;
		}
	}
	/* The file is the first mailbox's copy (a hard link, and the queued
	 * message too); every other mailbox gets its own copy with its own
	 * Delivered-To line in place of the file's head. */
	size_t n = in->mailbox_count;
	copies = xcalloc(n + 1, sizeof(*copies));
	names = xcalloc(n + 1, sizeof(*names));
	heads = xcalloc(n + 1, sizeof(*heads));
	for (size_t i = 0; i < n; i++) {
		copies[i].dir = dirs[i];
		names[i] = xmalloc(512);
		copies[i].name = names[i];
		uint64_t size = intake_size(in);
		if (i > 0 && in->delivered_to) {
			size_t hl = strlen(in->rp_line) + strlen(in->mailboxes[i]) + 16;
			heads[i] = xmalloc(hl);
			int m = snprintf(heads[i], hl, "%sDelivered-To: %s\n", in->rp_line,
					 in->mailboxes[i]);
			copies[i].head = heads[i];
			copies[i].head_len = (size_t)m;
			size = size - in->head_len + (size_t)m;
		}
		/* The head has as many lines as the one it replaces. */
		maildir_unique_name(names[i], 512, in->hostname, size, size + in->lfs);
	}
	if (maildir_deliver_copies(in->fd, in->path, in->head_len, copies, n, in->err,
				   sizeof(in->err)) != 0)
		goto out;
	in->result = 0;
out:
	for (size_t i = 0; i < in->mailbox_count; i++) {
		free(dirs[i]);
		if (names != NULL)
			free(names[i]);
		if (heads != NULL)
			free(heads[i]);
	}
	free(dirs);
	free(copies);
	free(names);
	free(heads);
	if (in->result != 0 && queued) {
		char err2[256];
		(void)queue_store_remove(in->qs, in->qenv->id, err2, sizeof(err2));
	}
closeout:
	/* The incoming name goes in both cases: delivered copies are links. */
	(void)close(in->fd);
	(void)unlink(in->path);
	in->fd = -1;
	spare_refill(in->data_dir);
}

static void commit_done(void *arg)
{
	struct intake *in = arg;
	intake_done_fn done = in->done;
	void *darg = in->done_arg;
	int result = in->result;
	if (in->dkim_err != NULL) {
		const char *id = strrchr(in->path, '/');
		log_warn(NULL, "event=rewrite result=unchanged id=%s reason=\"%s\"",
			 id ? id + 1 : in->path, in->dkim_err);
	}
	if (result == 0) {
		metrics_deliveries(METRICS_RESULT_DELIVERED, METRICS_WHERE_LOCAL, in->mailbox_count);
		if (in->dkim != NULL && in->dkim_err == NULL) /* signed, not left as it was */
			metrics_dkim_signed();
	}
	if (result == 0 && in->qenv != NULL) {
		/* Durable in the queue: the scheduler takes the envelope. */
		in->queued(in->queued_arg, in->qenv);
	}
	char err[sizeof(in->err)];
	memcpy(err, in->err, sizeof(err));
	intake_destroy(in);
	done(darg, result, result == 0 ? NULL : err);
}

void intake_commit(struct intake *in, struct worker_pool *wp, intake_done_fn done, void *arg)
{
	in->done = done;
	in->done_arg = arg;
	worker_submit(wp, commit_work, commit_done, in);
}

int intake_cleanup(const char *data_dir, char *err, size_t err_size)
{
	char dir[4096];
	(void)snprintf(dir, sizeof(dir), "%s/incoming", data_dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		(void)snprintf(err, err_size, "mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	DIR *d = opendir(dir);
	if (d == NULL) {
		(void)snprintf(err, err_size, "opendir %s: %s", dir, strerror(errno));
		return -1;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char p[4096 + 256];
		(void)snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		(void)unlink(p);
	}
	(void)closedir(d);
	return 0;
}
