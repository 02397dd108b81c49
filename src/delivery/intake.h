/* intake: one message being received, from the first byte to its durable
 * delivery (the step behind SMTP's "250 queued as").
 *
 * The message is written once to data_dir/incoming/ID on the loop thread
 * (page-cache writes, buffered), then intake_commit() hands it to a worker
 * thread that fsyncs it, hard-links it into the first local recipient's
 * Maildir (the file carries that mailbox's Delivered-To line), writes a
 * copy with its own Delivered-To for every other one, fsyncs those
 * directories and removes the incoming file. The
 * done callback runs on the loop thread with the result. Files left in
 * incoming/ by a crash were never acknowledged; intake_cleanup() removes
 * them at startup. */
#ifndef KONVERT_DELIVERY_INTAKE_H
#define KONVERT_DELIVERY_INTAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"

struct worker_pool;
struct intake;

/* Opens data_dir/incoming/ID for a new message. -1 with err on failure. */
struct intake *intake_new(const char *data_dir, const char *hostname, const char *id, char *err,
			  size_t err_size);

/* Appends stored-form bytes (LF line ends). Returns -1 on a write error
 * (then the message can only be aborted). */
int intake_write(struct intake *in, const void *data, size_t len);

/* The first bytes of the file, after the mailboxes are added: the
 * final-delivery Return-Path line (RFC 5321 4.4) of sender (as it appears
 * between the brackets), and Delivered-To: of the first mailbox when there
 * is one. A relayed copy starts after both (the queue's skip is set at
 * commit), and every further mailbox gets its own Delivered-To line. -1
 * when something was written already or on a write error. */
int intake_write_return_path(struct intake *in, const char *sender);

/* Bytes written so far, and the same with CRLF line ends. */
uint64_t intake_size(const struct intake *in);
uint64_t intake_vsize(const struct intake *in);

/* True when nothing was written or the last byte is LF. A message must
 * end with a line end before commit (BDAT may omit it, RFC 3030): the
 * session appends one, as Postfix does, so that the stored size, W= and
 * what POP3 RETR sends all agree. */
bool intake_ends_with_newline(const struct intake *in);

/* Adds a local mailbox "local@domain" (lower case); duplicates ignored.
 * Returns -1 when the address cannot name a mailbox. */
int intake_add_mailbox(struct intake *in, const char *address);
size_t intake_mailbox_count(const struct intake *in);

struct queue_env;
struct queue_store;
struct signing_domain;

/* Sign the message with these DKIM keys (borrowed until the commit ends)
 * at commit, on the worker, before anything is linked or queued: the
 * DKIM-Signature fields go below the Return-Path line and our Received:,
 * so local copies and relayed ones carry them. A message that cannot be signed
 * goes out unsigned, with a warning in the log (event=dkim-sign). */
void intake_set_dkim(struct intake *in, const struct signing_domain *keys);

/* RFC 6409 8.2, 8.3: at commit, add "Date:" and "Message-ID:
 * <ID@hostname>" to the sender's header when it has none (submission,
 * before signing). id is the intake's message id (copied). */
void intake_set_fill_headers(struct intake *in, const char *id);

/* The sender's message as written so far (after our Return-Path and
 * Received: lines), into an owned buffer. Flushes the write buffer and
 * reads the file back: blocking, bounded by max_message_size; call it on
 * a worker while the owner leaves the intake alone (the inbound checks). */
int intake_read_message(struct intake *in, char **buf_out, size_t *len_out);

/* A byte range of the message returned by intake_read_message. */
struct intake_range {
	size_t start, end;
};

/* At commit, fields (owned, "Authentication-Results: ...\n") go above our
 * Received: line and the ranges of drop (sorted, relative to the message
 * of intake_read_message: forged Authentication-Results) are removed. */
void intake_set_header(struct intake *in, char *fields, const struct intake_range *drop,
		       size_t ndrop);

/* Local copies go into the Maildir++ folder name (static or borrowed
 * until the commit ends; e.g. "Junk" for DMARC p=quarantine) of every
 * local mailbox instead of its INBOX; the folder is made when missing.
 * Remote recipients are not affected. */
void intake_set_folder(struct intake *in, const char *name);

/* Receives the envelope of a message that is now durable in the queue
 * (loop thread, before the done callback); it may move *env out. */
typedef void (*intake_queued_fn)(void *arg, struct queue_env *env);

/* The message also has remote recipients: takes over *env (moved out;
 * sender, recipients and parameters set, id equal to the intake's id). At
 * commit the incoming file is fsynced and adopted into qs (queue/msg is a
 * hard link of it, env->size set) before the local links are made; when
 * they fail, the queue entry is removed again and the commit fails. On
 * success queued(arg, env) runs on the loop thread. */
void intake_set_queue(struct intake *in, struct queue_store *qs, struct queue_env *env,
		      intake_queued_fn queued, void *arg);

typedef void (*intake_done_fn)(void *arg, int result, const char *err);

/* Takes ownership of in. done(arg, 0, NULL) when every mailbox has the
 * message durably; done(arg, -1, message) when nothing was delivered. */
void intake_commit(struct intake *in, struct worker_pool *wp, intake_done_fn done, void *arg);

/* Drops an uncommitted message: closes and removes the incoming file. */
void intake_free(struct intake **pp);

/* Removes data_dir/incoming/ leftovers and makes the directory. */
int intake_cleanup(const char *data_dir, char *err, size_t err_size);

#endif
