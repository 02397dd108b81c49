/* queue_control: the running server's control channel for `konvert queue
 * flush|delete`. A unix stream socket at data_dir/control.sock, served on
 * the server's libevent loop; it never blocks.
 *
 * Protocol: the client connects, sends one command line (LF or CRLF, at
 * most QUEUE_CONTROL_LINE_MAX bytes), and gets exactly one reply line,
 * "OK <text>\n" or "ERR <text>\n", after which the server closes the
 * connection. Verbs are case-insensitive:
 *   FLUSH            try every queued message now
 *   FLUSH DOMAIN     try the messages for DOMAIN now (passed lower case)
 *   DELETE ID        forget message ID and remove its files
 *   RELOAD           re-read users and aliases now (konvert user); only
 *                    with ops->reload
 *   TLSREPORT [TODAY] send the TLS reports of finished days now (and
 *                    today's counts so far); only with ops->tls_report
 * Bytes after the first line are ignored. A peer that sends no complete
 * line within idle_ms is dropped without a reply; an over-long line gets
 * "ERR command too long".
 *
 * Who may send commands: the socket file is mode 0600 and belongs to the
 * user that created it (the server's user after it dropped privileges),
 * and on top of that every peer's SO_PEERCRED uid is checked: only uid 0
 * and the server's own effective uid are served; anybody else gets
 * "ERR permission denied" and no op is called.
 *
 * The module knows no scheduler: the owner supplies the ops. Each decision
 * is logged in one line (proto=control). All calls on the loop thread. */
#ifndef KONVERT_QUEUE_QUEUE_CONTROL_H
#define KONVERT_QUEUE_QUEUE_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct event_base;
struct queue_control;

/* Longest command line, line end excluded. */
#define QUEUE_CONTROL_LINE_MAX 512
/* A connection that has not sent its line after this is dropped. */
#define QUEUE_CONTROL_IDLE_MS 5000
/* Connections served at once; more are accepted and closed at once. */
#define QUEUE_CONTROL_CONN_MAX 16
/* Room for an op's reply text (it is cut to fit, one line). */
#define QUEUE_CONTROL_MSG_MAX 256
/* The socket's name under data_dir. */
#define QUEUE_CONTROL_SOCKET "control.sock"

struct queue_control_ops {
	/* FLUSH: domain is NULL for all messages, else a lower-case domain
	 * name ([a-z0-9.-], at most 255 bytes). msg (msg_size bytes,
	 * starts empty) takes the reply text. Return 0 for OK, -1 for ERR.
	 * Must not block: start the work (e.g. queue_sched_flush) and
	 * return. */
	int (*flush)(void *ctx, const char *domain, char *msg, size_t msg_size);
	/* DELETE: id passed queue_env_is_valid_id. As flush; an unknown id
	 * is -1 with a message such as "no message ID in the queue". Must
	 * not block: queue the file removal on a worker. */
	int (*del)(void *ctx, const char *id, char *msg, size_t msg_size);
	/* TLSREPORT (may be NULL: the verb is then unknown). today: the
	 * TODAY argument was given. As flush. */
	int (*tls_report)(void *ctx, bool today, char *msg, size_t msg_size);
	/* RELOAD (may be NULL). As flush. */
	int (*reload)(void *ctx, char *msg, size_t msg_size);
	/* The peer check; NULL means "uid 0 or geteuid()". Tests replace it
	 * to see a refusal even when they run as root. */
	bool (*may_control)(void *ctx, uid_t peer_uid);
	void *ctx; /* borrowed, passed to every op */
	/* 0 means QUEUE_CONTROL_IDLE_MS; tests use a short one. */
	unsigned idle_ms;
};

/* Writes "DATA_DIR/control.sock" into out. 0, or -1 when it does not fit
 * (out_size, and the 108 bytes of sun_path). */
int queue_control_socket_path(const char *data_dir, char *out, size_t out_size);

/* Creates data_dir/control.sock and starts serving it on base: a stale
 * socket left by an earlier run is removed first, but only when lstat says
 * it is a socket (a link, file or directory of that name is an error and
 * is left alone); bind, chmod 0600, listen. ops->flush and ops->del must
 * be set (KASSERT). ops is copied; ops->ctx and
 * base are borrowed and must outlive the control. Returns the control
 * (free it with queue_control_free), or NULL with "path: reason" in err. */
struct queue_control *queue_control_new(struct event_base *base, const char *data_dir,
					const struct queue_control_ops *ops, char *err,
					size_t err_size);

/* Stops listening, drops every open connection without a reply (no op is
 * called after this), removes the socket file, frees; sets *pp = NULL;
 * accepts *pp == NULL. Not from inside an op. */
void queue_control_free(struct queue_control **pp);

#endif
