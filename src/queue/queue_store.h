/* queue_store: the queue's files under data_dir/queue/ (INTERNALS.md has
 * the states, the order of writes and what a crash leaves):
 *   msg/ID      the message bytes: a hard link of the fsynced intake file
 *   env/ID      the envelope (queue_env format), replaced atomically
 *   corrupt/    files the startup scan could not use, kept for a person
 * env/ID exists only while msg/ID does; a msg/ID without env/ID is a
 * leftover of a crash (or an adopt in progress).
 *
 * Blocking calls: fsync, rename, link. Call them from worker threads,
 * never from the event loop. The store may be shared by threads; calls
 * on different ids may run at once, calls on one id must not (the
 * scheduler owns a message while it works on it). Other processes may
 * read (queue_store_read/list_ids, e.g. `konvert queue show`) while the
 * server writes: envelopes are replaced by rename, never rewritten in
 * place. No logging: failures come back as "path: reason" in the
 * caller's err buffer. */
#ifndef KONVERT_QUEUE_QUEUE_STORE_H
#define KONVERT_QUEUE_QUEUE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"

struct queue_env;
struct queue_store;

/* queue_store_open flags. */
enum queue_store_flags {
	/* Open existing directories only, create nothing, refuse writes: for
	 * the CLI, which may run as root and must not create root-owned
	 * directories in the server's data_dir. */
	QUEUE_STORE_RDONLY = 1u << 0,
};

/* A msg/ID whose envelope is missing is only removed by the scan once it
 * is this old (seconds since its last link/ctime change): younger ones
 * may belong to an adopt running in another process. */
#define QUEUE_STORE_ORPHAN_AGE 60

/* Opens data_dir/queue, creating queue/, msg/, env/ and corrupt/ with mode
 * 0750 when missing (not with QUEUE_STORE_RDONLY). data_dir must exist.
 * No directory may be a symbolic link. Returns the store (close it with
 * queue_store_close), or NULL with "path: reason" in err. */
struct queue_store *queue_store_open(const char *data_dir, unsigned flags, char *err,
				     size_t err_size);

/* Closes the directories and frees the store; sets *pp = NULL; accepts
 * *pp == NULL. */
void queue_store_close(struct queue_store **pp);

/* Puts a new message into the queue: hard-links incoming_path (the intake
 * file, already written and fsynced by the caller, on the same file
 * system) as msg/ID, fsyncs msg/, then writes env/ID (temporary file with
 * O_EXCL|O_NOFOLLOW, write, fsync, rename, fsync of env/). ID is env->id.
 * After 0 the message is durable in the queue; incoming_path is left for
 * the caller to remove. On -1 nothing of ID is left in the queue (the
 * link is undone) and err says why; an existing msg/ID or env/ID is an
 * error (EEXIST), never overwritten. */
int queue_store_adopt(struct queue_store *qs, const char *incoming_path,
		      const struct queue_env *env, char *err, size_t err_size);

/* Replaces env/ID (ID = env->id) atomically and durably: after 0 the new
 * states survive a crash; after -1 the file holds either the old or the
 * new envelope. Refused (-1) when msg/ID does not exist, so that a late
 * update cannot bring back a removed message as an envelope without
 * bytes. */
int queue_store_update(struct queue_store *qs, const struct queue_env *env, char *err,
		       size_t err_size);

/* Removes message id: env/ID, then an fsync of env/ (after 0 the message
 * will not be delivered again), then msg/ID (without an fsync: a msg/
 * entry that comes back after a crash is a leftover the scan removes).
 * Missing files are not an error. */
int queue_store_remove(struct queue_store *qs, const char *id, char *err, size_t err_size);

/* Opens msg/ID read-only (O_NOFOLLOW, close-on-exec, regular file).
 * Returns the descriptor, owned by the caller, or -1 with err (errno
 * ENOENT when the message is gone). The first env->skip bytes are the
 * Return-Path line that only local delivery keeps. */
int queue_store_open_message(struct queue_store *qs, const char *id, char *err,
			     size_t err_size);

/* Reads and decodes env/ID into env_out (overwritten; fini it after 0).
 * -1 with "path: reason" in err (a decode failure names the reason, an
 * envelope whose id differs from ID is refused), env_out zeroed. */
int queue_store_read(struct queue_store *qs, const char *id, struct queue_env *env_out,
		     char *err, size_t err_size);

struct queue_id {
	char s[ID_LEN + 1];
};

/* The ids that have an env/ file (valid names only), sorted (ids sort by
 * arrival time). *ids_out is owned by the caller (free()); NULL when
 * *count_out is 0. -1 with err when env/ cannot be read. */
int queue_store_list_ids(struct queue_store *qs, struct queue_id **ids_out, size_t *count_out,
			 char *err, size_t err_size);

/* What the scan did to a file it could not use (for the caller's log). */
enum queue_scan_action {
	QUEUE_SCAN_MOVED_CORRUPT, /* renamed into corrupt/ */
	QUEUE_SCAN_REMOVED_TMP, /* a temporary file of an unfinished write */
	QUEUE_SCAN_REMOVED_ORPHAN, /* msg/ID without env/ID, old enough */
	QUEUE_SCAN_KEPT_ORPHAN, /* msg/ID without env/ID, too young to judge */
	QUEUE_SCAN_FAILED, /* the move or removal itself failed */
};

/* Called once per usable envelope, in id order. env is valid for the call;
 * the callback may take its contents (copy *env, then queue_env_init(env));
 * the scan finis whatever is left in it. */
typedef void (*queue_store_env_fn)(void *arg, struct queue_env *env);

/* Called once per file the scan acted on: name relative to queue/ (e.g.
 * "env/ID", "corrupt/ID.env"), reason such as "checksum mismatch" or
 * "envelope without message"; both valid for the call only. */
typedef void (*queue_store_note_fn)(void *arg, enum queue_scan_action action, const char *name,
				    const char *reason);

struct queue_scan_stats {
	size_t envelopes; /* passed to env_cb */
	size_t corrupt; /* files moved to corrupt/ */
	size_t removed; /* tmp files and old orphans removed */
	size_t kept; /* young orphans left alone */
	size_t failed; /* moves or removals that failed */
};

/* The startup recovery pass; run it before anything else writes the
 * queue (temporary files are removed on sight). For each env/ID: decode
 * it, check that its id is ID and that msg/ID exists with env->size bytes,
 * and pass it to env_cb; otherwise move env/ID (and msg/ID when present)
 * to corrupt/ID.env / corrupt/ID.msg and tell note_cb. A msg/ID without
 * envelope is removed once older than orphan_age seconds
 * (QUEUE_STORE_ORPHAN_AGE; tests pass 0), else kept and noted. Names that
 * no konvert ever writes there are moved to corrupt/. Problems with one
 * file never stop the scan. note_cb may be NULL; stats_out may be NULL.
 * Returns -1 with err only when a directory cannot be read at all. */
int queue_store_scan(struct queue_store *qs, int64_t orphan_age, queue_store_env_fn env_cb,
		     queue_store_note_fn note_cb, void *arg, struct queue_scan_stats *stats_out,
		     char *err, size_t err_size);

#endif
