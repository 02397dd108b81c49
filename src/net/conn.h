/* conn: one client connection: socket, bufferevent (plain, later TLS),
 * idle timeout, write queue and teardown (STYLE.md 4).
 *
 * Protocol code sees only events through one callback:
 *   CONN_EV_READ     input is waiting in conn_input()
 *   CONN_EV_DRAINED  the output buffer became empty
 *   CONN_EV_TIMEOUT  nothing was read (or written) for the timeout
 *   CONN_EV_CLOSED   the peer closed, an I/O error happened, or a
 *                    conn_close_after_flush() finished flushing
 *   CONN_EV_TLS_READY the TLS handshake (implicit or STARTTLS) finished
 * After CONN_EV_CLOSED no more events arrive and the owner must call
 * conn_free() (it may do so from inside the callback: conn_free only marks
 * the conn dead when called re-entrantly and frees once the stack unwinds).
 * A conn is owned by exactly one protocol session. */
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

typedef void (*conn_event_fn)(struct conn *c, enum conn_event ev, void *arg);

/* Takes ownership of fd (closed by conn_free). */
struct conn *conn_new(struct event_base *base, int fd, const struct sockaddr *peer,
		      socklen_t peer_len, conn_event_fn cb, void *arg);

/* Implicit TLS (RFC 8314): like conn_new, and the server handshake starts
 * at once; CONN_EV_TLS_READY reports its end. Takes ownership of ssl. */
struct conn *conn_new_tls(struct event_base *base, int fd, const struct sockaddr *peer,
			  socklen_t peer_len, SSL *ssl, conn_event_fn cb, void *arg);

/* STARTTLS (RFC 3207 / RFC 2595): discards every byte of plaintext input
 * already buffered (a command pipelined after STARTTLS must never be
 * executed: CVE-2011-0411), flushes pending plaintext output (the "ready"
 * reply), then starts the server handshake. Takes ownership of ssl.
 * Returns -1 when the conn is already in TLS. */
int conn_starttls(struct conn *c, SSL *ssl);

/* The SSL object once TLS is on (NULL before); valid while c lives. */
SSL *conn_ssl(const struct conn *c);
bool conn_is_tls(const struct conn *c);
/* True once the TLS handshake finished. */
bool conn_tls_ready(const struct conn *c);

void conn_free(struct conn **pp);

struct evbuffer *conn_input(struct conn *c);
size_t conn_output_len(const struct conn *c);

void conn_write(struct conn *c, const void *data, size_t len);
void conn_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Idle timeout for reads and writes; 0 turns it off. */
void conn_set_timeout(struct conn *c, unsigned ms);

/* Stop / start reading from the socket (input already buffered stays). */
void conn_pause_read(struct conn *c);
void conn_resume_read(struct conn *c);

/* Stops reading, flushes what is queued, then reports CONN_EV_CLOSED. */
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
