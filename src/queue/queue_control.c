/* queue_control: the server end of data_dir/control.sock. It owns the
 * listening socket, the socket file and each control connection (a
 * bufferevent, one command line in, one reply line out, then close). It
 * checks who the peer is and what the line says, and hands valid commands
 * to the owner's ops; it must not know the scheduler or the queue files,
 * and must never block the loop (the ops start work, they do not do it). */
#include "queue/queue_control.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "core/log.h"
#include "net/linereader.h"
#include "queue/queue_env.h"

#define DOMAIN_MAX 255
#define BACKLOG 16

struct control_conn {
	struct queue_control *qc; /* borrowed: the owner */
	struct bufferevent *bev; /* owned; closes the socket */
	struct linereader lr; /* owned buffer */
	struct control_conn *prev, *next; /* in qc->conns */
	uid_t uid; /* the peer's, from SO_PEERCRED */
	bool answered; /* reply queued; waiting for it to drain */
};

struct queue_control {
	struct event_base *base; /* borrowed */
	struct queue_control_ops ops; /* copy; ctx borrowed */
	struct evconnlistener *listener; /* owned; closes the socket */
	char *path; /* owned: the socket file */
	dev_t dev; /* of the socket file we bound, to remove only ours */
	ino_t ino;
	struct control_conn *conns; /* owned list */
	size_t conn_count;
};

__attribute__((format(printf, 3, 4))) static int errf(char *err, size_t err_size,
						       const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && err_size > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(err, err_size, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int queue_control_socket_path(const char *data_dir, char *out, size_t out_size)
{
	struct sockaddr_un sun;
	int n = snprintf(out, out_size, "%s/" QUEUE_CONTROL_SOCKET, data_dir);

	if (n < 0 || (size_t)n >= out_size || (size_t)n >= sizeof(sun.sun_path))
		return -1;
	return 0;
}

/* ---- connections ---- */

/* Freeing the bufferevent from its own callback is safe: libevent holds a
 * reference while a callback runs and finishes the free afterwards. */
static void conn_free(struct control_conn *c)
{
	struct queue_control *qc = c->qc;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		qc->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	qc->conn_count--;
	bufferevent_free(c->bev);
	linereader_fini(&c->lr);
	free(c);
}

/* Queues "OK text" / "ERR text" and stops reading; the write callback
 * closes once it is out. text is cut at its first control byte, so an op's
 * message cannot add lines. */
static void conn_reply(struct control_conn *c, bool ok, const char *text)
{
	size_t len = 0;

	while (text[len] != '\0' && (unsigned char)text[len] >= 0x20 && text[len] != 0x7f &&
	       len < QUEUE_CONTROL_MSG_MAX)
		len++;
	(void)bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_add_printf(bufferevent_get_output(c->bev), "%s %.*s\n", ok ? "OK" : "ERR",
				(int)len, text) < 0) {
		conn_free(c);
		return;
	}
	c->answered = true;
	(void)bufferevent_enable(c->bev, EV_WRITE);
}

static bool is_domain(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > DOMAIN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		      ch == '-'))
			return false;
	}
	return true;
}

static void lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* Splits line in place into verb and an optional single argument at runs
 * of spaces and tabs. Returns the number of words (0..2), or 3 for "too
 * many". */
static int split(char *line, char **verb, char **arg)
{
	char *p = line;
	int n = 0;

	*verb = *arg = NULL;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (*p == '\0')
			return n;
		if (n == 2)
			return 3;
		if (n == 0)
			*verb = p;
		else
			*arg = p;
		n++;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
	}
}

static void conn_command(struct control_conn *c, const char *line, size_t len)
{
	struct queue_control *qc = c->qc;
	char buf[QUEUE_CONTROL_LINE_MAX + 1], msg[QUEUE_CONTROL_MSG_MAX], shown[64];
	char *verb, *arg;
	int words, rc;
	const char *what;

	if (memchr(line, '\0', len) != NULL || len >= sizeof(buf)) {
		conn_reply(c, false, "bad command");
		return;
	}
	memcpy(buf, line, len);
	buf[len] = '\0';
	words = split(buf, &verb, &arg);
	msg[0] = '\0';
	if (words >= 1 && strcasecmp(verb, "FLUSH") == 0 && words <= 2) {
		what = "flush";
		if (arg != NULL) {
			lower(arg);
			if (!is_domain(arg)) {
				conn_reply(c, false, "bad domain");
				return;
			}
		}
		rc = qc->ops.flush(qc->ops.ctx, arg, msg, sizeof(msg));
		if (msg[0] == '\0')
			(void)snprintf(msg, sizeof(msg), "%s", rc == 0 ? "flushing" : "flush failed");
	} else if (words == 2 && strcasecmp(verb, "DELETE") == 0) {
		what = "delete";
		if (!queue_env_is_valid_id(arg)) {
			conn_reply(c, false, "bad message id");
			return;
		}
		rc = qc->ops.del(qc->ops.ctx, arg, msg, sizeof(msg));
		if (msg[0] == '\0')
			(void)snprintf(msg, sizeof(msg), "%s", rc == 0 ? "deleted" : "delete failed");
	} else if (words == 1 && strcasecmp(verb, "RELOAD") == 0 && qc->ops.reload != NULL) {
		what = "reload";
		rc = qc->ops.reload(qc->ops.ctx, msg, sizeof(msg));
		if (msg[0] == '\0')
			(void)snprintf(msg, sizeof(msg), "%s", rc == 0 ? "reloaded" : "reload failed");
	} else if (words >= 1 && words <= 2 && strcasecmp(verb, "TLSREPORT") == 0 &&
		   qc->ops.tls_report != NULL && (arg == NULL || strcasecmp(arg, "TODAY") == 0)) {
		what = "tls-report";
		rc = qc->ops.tls_report(qc->ops.ctx, arg != NULL, msg, sizeof(msg));
		if (msg[0] == '\0')
			(void)snprintf(msg, sizeof(msg), "%s", rc == 0 ? "sending" : "failed");
	} else {
		(void)log_escape(shown, sizeof(shown), line, len);
		log_info(NULL, "proto=control event=command result=rejected uid=%ld line=\"%s\"",
			 (long)c->uid, shown);
		conn_reply(c, false, "unknown command (FLUSH [DOMAIN] or DELETE ID)");
		return;
	}
	(void)log_escape(shown, sizeof(shown), arg != NULL ? arg : "-", arg != NULL ? strlen(arg) : 1);
	log_info(NULL, "proto=control event=%s arg=%s uid=%ld result=%s", what, shown,
		 (long)c->uid, rc == 0 ? "ok" : "failed");
	conn_reply(c, rc == 0, msg);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct control_conn *c = arg;
	const char *line;
	size_t len;

	if (c->answered)
		return;
	switch (linereader_next(&c->lr, bufferevent_get_input(bev), &line, &len)) {
	case LINEREADER_LINE:
		conn_command(c, line, len);
		break;
	case LINEREADER_TOO_LONG:
		log_info(NULL, "proto=control event=command result=rejected uid=%ld "
			       "reason=too-long",
			 (long)c->uid);
		conn_reply(c, false, "command too long");
		break;
	case LINEREADER_NEED_MORE:
		break;
	}
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct control_conn *c = arg;

	/* Called when the output buffer has drained: the reply is out. */
	if (c->answered && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_free(c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct control_conn *c = arg;

	(void)bev;
	if ((what & BEV_EVENT_TIMEOUT) && !c->answered)
		log_info(NULL, "proto=control event=timeout uid=%ld", (long)c->uid);
	/* EOF, error or timeout: nothing more to say to this peer. */
	conn_free(c);
}

static bool default_may_control(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
		      int socklen, void *arg)
{
	struct queue_control *qc = arg;
	struct control_conn *c;
	struct ucred cred;
	socklen_t cred_len = sizeof(cred);
	struct timeval tv;
	bool allowed;

	(void)lis;
	(void)sa;
	(void)socklen;
	if (qc->conn_count >= QUEUE_CONTROL_CONN_MAX) {
		log_warn(NULL, "proto=control event=connect result=refused reason=too-many");
		(void)close(fd);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) != 0 ||
	    cred_len != sizeof(cred)) {
		log_warn(NULL, "proto=control event=connect result=refused reason=\"SO_PEERCRED: %s\"",
			 strerror(errno));
		(void)close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->qc = qc;
	c->uid = cred.uid;
	c->bev = bufferevent_socket_new(qc->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_warn(NULL, "proto=control event=connect result=refused reason=bufferevent");
		(void)close(fd);
		free(c);
		return;
	}
	linereader_init(&c->lr, QUEUE_CONTROL_LINE_MAX);
	c->next = qc->conns;
	if (qc->conns != NULL)
		qc->conns->prev = c;
	qc->conns = c;
	qc->conn_count++;
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	/* Input stops at the socket once a line could not fit anyway. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, QUEUE_CONTROL_LINE_MAX + 2);
	tv.tv_sec = qc->ops.idle_ms / 1000;
	tv.tv_usec = (suseconds_t)(qc->ops.idle_ms % 1000) * 1000;
	(void)bufferevent_set_timeouts(c->bev, &tv, &tv);
	allowed = qc->ops.may_control != NULL ? qc->ops.may_control(qc->ops.ctx, cred.uid)
					      : default_may_control(cred.uid);
	if (!allowed) {
		log_warn(NULL, "proto=control event=connect result=refused uid=%ld "
			       "reason=permission",
			 (long)cred.uid);
		conn_reply(c, false, "permission denied");
		return;
	}
	(void)bufferevent_enable(c->bev, EV_READ);
}

/* ---- the socket file ---- */

/* Removes a stale socket at path; anything else of that name is refused
 * (lstat: a link is judged itself, never followed). */
static int remove_stale(const char *path, char *err, size_t err_size)
{
	struct stat st;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		return errf(err, err_size, "%s: %s", path, strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return errf(err, err_size, "%s: exists and is not a socket; remove it", path);
	if (unlink(path) != 0 && errno != ENOENT)
		return errf(err, err_size, "%s: cannot remove the old socket: %s", path,
			    strerror(errno));
	return 0;
}

struct queue_control *queue_control_new(struct event_base *base, const char *data_dir,
					const struct queue_control_ops *ops, char *err,
					size_t err_size)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct queue_control *qc;
	struct stat st;
	int fd = -1;

	KASSERT(ops->flush != NULL && ops->del != NULL);
	qc = xcalloc(1, sizeof(*qc));
	qc->base = base;
	qc->ops = *ops;
	if (qc->ops.idle_ms == 0)
		qc->ops.idle_ms = QUEUE_CONTROL_IDLE_MS;
	if (queue_control_socket_path(data_dir, sun.sun_path, sizeof(sun.sun_path)) != 0) {
		(void)errf(err, err_size, "%s/" QUEUE_CONTROL_SOCKET ": path too long", data_dir);
		goto fail;
	}
	if (remove_stale(sun.sun_path, err, err_size) != 0)
		goto fail;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		(void)errf(err, err_size, "%s: socket: %s", sun.sun_path, strerror(errno));
		goto fail;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		(void)errf(err, err_size, "%s: bind: %s", sun.sun_path, strerror(errno));
		goto fail;
	}
	qc->path = xstrdup(sun.sun_path);
	/* connect(2) needs write permission on the file: only its owner (the
	 * server's user) and root. The peer uid check below backs this up. */
	if (chmod(qc->path, 0600) != 0 || lstat(qc->path, &st) != 0) {
		(void)errf(err, err_size, "%s: chmod: %s", qc->path, strerror(errno));
		goto fail_bound;
	}
	qc->dev = st.st_dev;
	qc->ino = st.st_ino;
	qc->listener = evconnlistener_new(base, accept_cb, qc,
					  LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, BACKLOG,
					  fd);
	if (qc->listener == NULL) {
		(void)errf(err, err_size, "%s: listen: %s", qc->path, strerror(errno));
		goto fail_bound;
	}
	return qc;
fail_bound:
	(void)unlink(qc->path);
fail:
	if (fd >= 0)
		(void)close(fd);
	free(qc->path);
	free(qc);
	return NULL;
}

void queue_control_free(struct queue_control **pp)
{
	struct queue_control *qc = *pp;
	struct stat st;

	if (qc == NULL)
		return;
	while (qc->conns != NULL)
		conn_free(qc->conns);
	evconnlistener_free(qc->listener);
	/* Only the file we bound: a later server may have replaced it. */
	if (lstat(qc->path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == qc->dev &&
	    st.st_ino == qc->ino)
		(void)unlink(qc->path);
	free(qc->path);
	free(qc);
	*pp = NULL;
}
