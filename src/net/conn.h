/* conn: one client connection: socket, bufferevent (plain or TLS), the
 * deadlines, write queue and teardown (STYLE.md 4).
 *
 * Protocol code sees only events through one callback:
 *   CONN_EV_READ     input is waiting in conn_input()
 *   CONN_EV_DRAINED  the output buffer became empty
 *   CONN_EV_TIMEOUT  a deadline passed (see "Deadlines" below)
 *   CONN_EV_CLOSED   the peer closed, an I/O error happened, a TLS
 *                    handshake ran out of time, or a
 *                    conn_close_after_flush() finished flushing
 *   CONN_EV_TLS_READY the TLS handshake (implicit or STARTTLS) finished
 * After CONN_EV_CLOSED no more events arrive and the owner must call
 * conn_free() (it may do so from inside the callback: conn_free only marks
 * the conn dead when called re-entrantly and frees once the stack unwinds).
 * A conn is owned by exactly one protocol session.
 *
 * Deadlines (a slow or half-open client must not hold a session longer
 * than the configured times, however it spaces its bytes):
 * - Command deadline (conn_set_timeout): runs while reading is on. Bytes
 *   arriving do NOT move it (unlike a libevent read timeout, which every
 *   byte resets): the owner restarts it with conn_restart_deadline() each
 *   time it takes a complete line (or, in a message transfer, a piece of
 *   it), so a line dripped one byte at a time still ends at the deadline
 *   (Postfix smtpd_per_record_deadline). It stops on conn_pause_read()
 *   and during a TLS handshake, and starts afresh on conn_resume_read()
 *   and when the handshake ends.
 * - Write timeout: the same length, per write operation (output pending
 *   and no progress), also while reading is paused.
 * - Transfer deadline (conn_start_transfer_deadline): one bound for a
 *   whole message transfer, independent of pauses and restarts.
 * These three report CONN_EV_TIMEOUT; the owner replies if it wants and
 * closes (conn_timeout_what() names the one that passed).
 * - TLS handshake deadline (conn_set_handshake_timeout): bounds each
 *   handshake from its start. On expiry the conn reports CONN_EV_TIMEOUT,
 *   during which the owner must not write (there is no plaintext channel
 *   to write to), and then CONN_EV_CLOSED in any case: nothing queued is
 *   ever sent. */
#ifndef KONVERT_NET_CONN_H
#define KONVERT_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct event_base;
struct evbuffer;
struct conn;

enum conn_event {
	CONN_EV_READ,
	CONN_EV_DRAINED,
	CONN_EV_TIMEOUT,
	CONN_EV_CLOSED,
	CONN_EV_TLS_READY,
};

typedef struct ssl_st SSL;
struct tls_server;

typedef void (*conn_event_fn)(struct conn *c, enum conn_event ev, void *arg);

/* Takes ownership of fd (closed by conn_free). */
struct conn *conn_new(struct event_base *base, int fd, const struct sockaddr *peer,
		      socklen_t peer_len, conn_event_fn cb, void *arg);

/* Implicit TLS (RFC 8314): like conn_new, in TLS from the start;
 * CONN_EV_TLS_READY reports the end of the handshake. The SSL object is
 * made from tls (tls_server_new_ssl) and the handshake started only once
 * the client's first TLS record has fully arrived: a client that sends
 * nothing, or part of a ClientHello, costs no OpenSSL memory. Takes a
 * reference on tls until then (so a reload in between is harmless). Output
 * written before the handshake is queued and sent encrypted after it. */
struct conn *conn_new_tls(struct event_base *base, int fd, const struct sockaddr *peer,
			  socklen_t peer_len, struct tls_server *tls, conn_event_fn cb, void *arg);

/* STARTTLS (RFC 3207 / RFC 2595): discards every byte of plaintext input
 * already buffered (a command pipelined after STARTTLS must never be
 * executed: CVE-2011-0411), flushes pending plaintext output (the "ready"
 * reply), stops reading plaintext, then starts the server handshake once
 * the client's first TLS record has fully arrived (as conn_new_tls). Takes
 * ownership of ssl. Returns -1 (ssl freed) when the conn is already in TLS
 * or closing. */
int conn_starttls(struct conn *c, SSL *ssl);

/* The SSL object once the handshake has begun (NULL before; for STARTTLS
 * the one given to conn_starttls); valid while c lives. */
SSL *conn_ssl(const struct conn *c);
/* True from conn_new_tls / a successful conn_starttls on. */
bool conn_is_tls(const struct conn *c);
/* True once the TLS handshake finished. */
bool conn_tls_ready(const struct conn *c);

void conn_free(struct conn **pp);

struct evbuffer *conn_input(struct conn *c);
size_t conn_output_len(const struct conn *c);

void conn_write(struct conn *c, const void *data, size_t len);
void conn_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sets the command deadline and the write timeout (see "Deadlines"); 0
 * turns both off. Starts the command deadline now when reading is on. */
void conn_set_timeout(struct conn *c, unsigned ms);

/* The owner took a complete line (or consumed message bytes): the command
 * deadline starts again from now. No-op while reading is paused, during a
 * TLS handshake and once closing. */
void conn_restart_deadline(struct conn *c);

/* Bounds every TLS handshake on c (implicit, STARTTLS) to ms from its
 * start; 0 turns it off. Called while a handshake runs (right after
 * conn_new_tls), the clock of that handshake starts now. */
void conn_set_handshake_timeout(struct conn *c, unsigned ms);

/* Whole-transfer deadline, e.g. one SMTP message (RFC 5321 4.5.3.2.6):
 * start arms it ms from now (re-arming a running one); stop disarms it
 * (no-op when not running). It runs whether reading is paused or not. */
void conn_start_transfer_deadline(struct conn *c, unsigned ms);
void conn_stop_transfer_deadline(struct conn *c);

/* Which deadline the last CONN_EV_TIMEOUT was for, for logs: "command",
 * "write", "transfer", "tls-handshake" ("-" before any). Static string. */
const char *conn_timeout_what(const struct conn *c);

/* Stop / start reading from the socket (input already buffered stays).
 * Pausing stops the command deadline; resuming starts it afresh. */
void conn_pause_read(struct conn *c);
void conn_resume_read(struct conn *c);

/* Stops reading and the command and transfer deadlines, flushes what is
 * queued (at most 10 s), then reports CONN_EV_CLOSED. */
void conn_close_after_flush(struct conn *c);
bool conn_is_closing(const struct conn *c);

/* Peer address as text ("127.0.0.1", "::1") and as sockaddr. */
const char *conn_peer_text(const struct conn *c);
const struct sockaddr *conn_peer(const struct conn *c);
/* Local port the client connected to. */
unsigned conn_local_port(const struct conn *c);
/* True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
bool conn_is_loopback(const struct conn *c);

/* Same test on any sockaddr. */
bool conn_sockaddr_is_loopback(const struct sockaddr *sa);
/* Formats a numeric address (no port) into out. */
void conn_sockaddr_text(const struct sockaddr *sa, char *out, size_t out_size);

#endif
