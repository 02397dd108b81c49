/* session: how a client session lives and dies, for every protocol
 * (see session.h): start, the input loop, reading on and off, deadlines,
 * close, the deferred free after in-flight work, shutdown and teardown.
 * It never decides what a line means nor words a reply: the protocol's
 * hooks (struct session_ops) do both. Everything runs on the session's
 * loop thread. */
#include "net/session.h"

#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/kassert.h"
#include "core/log.h"
#include "net/conn.h"
#include "net/listener.h"

/* ---- reading on and off ------------------------------------------------ */

/* Input is read unless the protocol waits for its own work or produces a
 * long reply, or the client is not reading our replies (output
 * backpressure, STYLE.md 4). Pausing also stops the command deadline, so
 * our own slowness is never blamed on the client. */
void session_state_changed(struct session *s)
{
	enum session_mode m = s->ops->mode(s->owner);
	if (m == SESSION_MODE_WORKING || m == SESSION_MODE_SENDING || s->out_blocked)
		conn_pause_read(s->conn);
	else
		conn_resume_read(s->conn);
}

/* ---- the input loop ------------------------------------------------------ */

void session_process_input(struct session *s)
{
	struct evbuffer *in = conn_input(s->conn);
	while (!s->dead && !conn_is_closing(s->conn)) {
		enum session_mode m = s->ops->mode(s->owner);
		if (m != SESSION_MODE_LINES && m != SESSION_MODE_BYTES)
			return;
		if (conn_output_len(s->conn) >= s->output_high) {
			/* A client pipelining without reading our replies
			 * waits until it has read them (CONN_EV_DRAINED). */
			s->out_blocked = true;
			session_state_changed(s);
			return;
		}
		if (m == SESSION_MODE_BYTES) {
			size_t avail = evbuffer_get_length(in);
			if (avail == 0)
				return;
			bool changed = s->ops->on_bytes(s->owner, in);
			/* Message bytes arrived: the command deadline starts
			 * again (a transfer deadline still bounds the whole). */
			if (evbuffer_get_length(in) < avail)
				conn_restart_deadline(s->conn);
			if (!changed)
				return; /* needs more input */
			continue;
		}
		const char *line;
		size_t len;
		enum linereader_status st = linereader_next(&s->lr, in, &line, &len);
		if (st == LINEREADER_NEED_MORE)
			return;
		/* The next line is due a full deadline from now, however slowly
		 * its bytes come (net/conn.h "Deadlines"). */
		conn_restart_deadline(s->conn);
		/* Decided before the handler runs (it may change the state),
		 * and wiped in the reader's own buffer once handled. */
		bool secret = st == LINEREADER_LINE &&
			      (s->ops->line_is_secret == NULL ||
			       s->ops->line_is_secret(s->owner, line, len));
		s->ops->on_line(s->owner, st, line, len);
		if (secret)
			OPENSSL_cleanse(s->lr.buf, len < s->lr.cap ? len : s->lr.cap);
	}
}

/* ---- end of life ------------------------------------------------------- */

void session_close(struct session *s)
{
	s->ops->enter_closed(s->owner);
	conn_close_after_flush(s->conn);
}

bool session_is_dead(const struct session *s)
{
	return s->dead;
}

/* The one teardown: log line, limit slot, count, gauge, list, then the
 * owner's state, the connection, and the owner itself. */
static void session_free(struct session *s)
{
	char fields[512];
	fields[0] = '\0';
	s->ops->end_fields(s->owner, fields, sizeof(fields));
	log_info(s->sid, "proto=%s event=disconnect client=%s %s", s->ops->proto,
		 conn_peer_text(s->conn), fields);
	if (s->limits != NULL)
		sesslimit_release(s->limits, conn_peer(s->conn));
	(*s->live)--;
	metrics_session_end(s->listener);
	if (s->prev)
		s->prev->next = s->next;
	else
		*s->list = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->ops->release(s->owner);
	conn_free(&s->conn);
	linereader_fini(&s->lr);
	free(s->owner); /* s is inside it */
}

/* The connection is gone. Work in flight still points at the session:
 * then its completion frees it (session_job_done). */
static void session_end(struct session *s)
{
	if (s->ops->abandon(s->owner)) {
		s->dead = true;
		return;
	}
	session_free(s);
}

bool session_job_done(struct session *s)
{
	if (!s->dead)
		return false;
	session_free(s);
	return true;
}

/* ---- events ---------------------------------------------------------------- */

static void conn_cb(struct conn *c, enum conn_event ev, void *arg)
{
	(void)c;
	struct session *s = arg;
	switch (ev) {
	case CONN_EV_READ:
		session_process_input(s);
		break;
	case CONN_EV_DRAINED:
		if (s->out_blocked) {
			s->out_blocked = false;
			session_state_changed(s);
		}
		if (s->ops->on_drained != NULL)
			s->ops->on_drained(s->owner);
		session_process_input(s);
		break;
	case CONN_EV_TLS_READY:
		if (s->ops->on_tls_ready != NULL)
			s->ops->on_tls_ready(s->owner);
		session_process_input(s);
		break;
	case CONN_EV_TIMEOUT:
		if (s->ops->mode(s->owner) == SESSION_MODE_WORKING)
			break; /* our own slowness is not the client's fault */
		s->ops->on_timeout(s->owner);
		session_close(s);
		break;
	case CONN_EV_CLOSED:
		session_end(s);
		break;
	}
}

/* ---- start and deadlines --------------------------------------------------- */

void session_start(struct session *s, const struct session_params *p)
{
	KASSERT(p->owner != NULL && p->ops != NULL && p->list != NULL && p->live != NULL);
	s->ops = p->ops;
	s->owner = p->owner;
	s->sid = p->sid;
	s->limits = p->limits;
	s->listener = p->listener;
	s->output_high = p->output_high;
	if (p->tls != NULL)
		s->conn = conn_new_tls(p->base, p->fd, p->peer, p->peer_len, p->tls, conn_cb, s);
	else
		s->conn = conn_new(p->base, p->fd, p->peer, p->peer_len, conn_cb, s);
	linereader_init(&s->lr, p->line_max);
	s->list = p->list;
	s->live = p->live;
	(*s->live)++;
	metrics_session_start(s->listener);
	s->prev = NULL;
	s->next = *s->list;
	if (*s->list)
		(*s->list)->prev = s;
	*s->list = s;
}

void session_set_deadlines(struct session *s, unsigned command_ms, unsigned handshake_ms)
{
	conn_set_handshake_timeout(s->conn, handshake_ms);
	conn_set_timeout(s->conn, command_ms);
}

void session_set_line_max(struct session *s, size_t max)
{
	linereader_set_max(&s->lr, max);
}

/* ---- shutdown --------------------------------------------------------------- */

void session_shutdown_all(struct session *list)
{
	for (struct session *s = list; s != NULL; s = s->next) {
		if (s->dead || conn_is_closing(s->conn) || s->ops->is_busy(s->owner))
			continue;
		s->ops->goodbye(s->owner);
		log_info(s->sid, "proto=%s event=disconnect reason=shutdown state=%s", s->ops->proto,
			 s->ops->state_name(s->owner));
		session_close(s);
	}
}

void session_free_all(struct session **list)
{
	while (*list != NULL)
		session_free(*list);
}
