/* listener: a listening socket on the event loop, plus the session
 * accounting that every listener shares (total and per client address).
 *
 * The accept callback receives the new fd (ownership passes to it) and
 * whether the session limits allowed it; a refused client still gets a
 * protocol-specific refusal from the callback, which then closes the fd.
 * An accepted session must call sesslimit_release() exactly once. */
#ifndef KONVERT_NET_LISTENER_H
#define KONVERT_NET_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct event_base;
struct listener;
struct sesslimit;

typedef void (*listener_accept_fn)(int fd, const struct sockaddr *peer, socklen_t peer_len,
				   bool allowed, void *arg);

/* Binds and listens on addr. Returns NULL with a message in err on error. */
struct listener *listener_new(struct event_base *base, const struct sockaddr *addr,
			      socklen_t addr_len, struct sesslimit *limits,
			      listener_accept_fn cb, void *arg, char *err, size_t err_size);
void listener_free(struct listener **pp);
/* The address l is bound to (with the port the kernel chose when addr had
 * port 0) into *out, its length into *len_out. Returns 0, or -1 when
 * getsockname(2) fails. */
int listener_local_addr(const struct listener *l, struct sockaddr_storage *out,
			socklen_t *len_out);

struct sesslimit *sesslimit_new(unsigned max_total, unsigned max_per_ip);
void sesslimit_free(struct sesslimit **pp);
/* Takes effect for new sessions (reload). */
void sesslimit_set(struct sesslimit *sl, unsigned max_total, unsigned max_per_ip);
/* Counts a session for peer; false (and nothing counted) when over a limit. */
bool sesslimit_acquire(struct sesslimit *sl, const struct sockaddr *peer);
void sesslimit_release(struct sesslimit *sl, const struct sockaddr *peer);
unsigned sesslimit_total(const struct sesslimit *sl);

#endif
