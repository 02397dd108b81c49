/* pop3_send: multi-line replies that may be large (RFC 1939 3): LIST and
 * UIDL of a whole maildrop and RETR/TOP of a message. Output is produced
 * only while less than POP3_OUTPUT_HIGH is queued and resumes on
 * CONN_EV_DRAINED, and a message is read in POP3_READ_CHUNK pieces, so a
 * 50 MB message or a 50,000-line listing never sits in memory whole
 * (Dovecot pop3-client.c client_output). Dot-stuffing and CRLF line ends
 * come from the shared codec (proto/dot). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "core/log.h"
#include "net/conn.h"
#include "pop3/pop3_internal.h"
#include "store/maildrop.h"

/* Listing lines produced per step between output checks. */
#define LIST_BATCH 512

void pop3_send_free(struct pop3_send **pp)
{
	struct pop3_send *snd = *pp;
	if (snd == NULL)
		return;
	if (snd->fd >= 0)
		(void)close(snd->fd);
	free(snd->in);
	free(snd->out);
	free(snd);
	*pp = NULL;
}

static struct pop3_send *send_new(struct pop3_session *s, enum pop3_send_kind kind)
{
	KASSERT(s->txn != NULL && s->txn->send == NULL);
	struct pop3_send *snd = xcalloc(1, sizeof(*snd));
	snd->kind = kind;
	snd->fd = -1;
	s->txn->send = snd;
	pop3_set_state(s, POP3_STATE_SENDING);
	return snd;
}

/* The terminating "." is queued: back to TRANSACTION, where the commands
 * the client pipelined meanwhile are taken up again. */
static void send_done(struct pop3_session *s)
{
	pop3_send_free(&s->txn->send);
	pop3_set_state(s, POP3_STATE_TRANSACTION);
}

/* Returns true when the listing is complete. */
static bool pump_listing(struct pop3_session *s, struct pop3_send *snd)
{
	struct maildrop *md = s->txn->md;
	size_t n = maildrop_count(md);
	size_t stop = snd->next + LIST_BATCH < n ? snd->next + LIST_BATCH : n;
	char line[32 + MAILDROP_UID_MAX];
	for (; snd->next < stop; snd->next++) {
		const struct maildrop_msg *m = maildrop_get(md, snd->next);
		if (m->deleted)
			continue; /* RFC 1939 5: deleted messages are not listed */
		int len;
		if (snd->kind == POP3_SEND_LIST)
			len = snprintf(line, sizeof(line), "%zu %llu\r\n", snd->next + 1,
				       (unsigned long long)m->size);
		else
			len = snprintf(line, sizeof(line), "%zu %s\r\n", snd->next + 1, m->uid);
		KASSERT(len > 0 && (size_t)len < sizeof(line));
		conn_write(s->conn, line, (size_t)len);
	}
	if (snd->next < n)
		return false;
	conn_write(s->conn, ".\r\n", 3);
	return true;
}

/* Returns 1 when the message is complete, 0 for more, -1 on a read error
 * (the +OK is out: the only honest end is closing the connection). */
static int pump_message(struct pop3_session *s, struct pop3_send *snd)
{
	ssize_t n;
	do
		n = read(snd->fd, snd->in, POP3_READ_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		log_error(s->sid, "proto=pop3 event=retr result=error reason=read errno=%d", errno);
		return -1;
	}
	size_t len = (size_t)n;
	bool done = n == 0;
	if (snd->is_top && len > 0) {
		bool cut;
		len = pop3_top_feed(&snd->top, snd->in, len, &cut);
		done = done || cut;
	}
	size_t out = dot_encoder_feed(&snd->enc, snd->in, len, snd->out);
	if (done)
		out += dot_encoder_finish(&snd->enc, snd->out + out);
	conn_write(s->conn, snd->out, out);
	return done ? 1 : 0;
}

void pop3_send_pump(struct pop3_session *s)
{
	if (s->state != POP3_STATE_SENDING || s->txn == NULL || s->txn->send == NULL)
		return;
	struct pop3_send *snd = s->txn->send;
	while (conn_output_len(s->conn) < POP3_OUTPUT_HIGH && !conn_is_closing(s->conn)) {
		if (snd->kind == POP3_SEND_MESSAGE) {
			int r = pump_message(s, snd);
			if (r < 0) {
				pop3_send_free(&s->txn->send);
				pop3_close(s);
				return;
			}
			if (r > 0) {
				send_done(s);
				return;
			}
		} else if (pump_listing(s, snd)) {
			send_done(s);
			return;
		}
	}
}

void pop3_send_listing(struct pop3_session *s, enum pop3_send_kind kind)
{
	KASSERT(kind == POP3_SEND_LIST || kind == POP3_SEND_UIDL);
	send_new(s, kind);
	pop3_send_pump(s);
}

void pop3_send_message(struct pop3_session *s, int fd, const uint64_t *top_lines)
{
	struct pop3_send *snd = send_new(s, POP3_SEND_MESSAGE);
	snd->fd = fd;
	snd->in = xmalloc(POP3_READ_CHUNK);
	/* dot_encoder_feed needs 2 * in + 2, finish 5 more. */
	snd->out = xmalloc(2 * POP3_READ_CHUNK + 8);
	dot_encoder_init(&snd->enc);
	if (top_lines != NULL) {
		snd->is_top = true;
		pop3_top_init(&snd->top, *top_lines);
	}
	pop3_send_pump(s);
}
