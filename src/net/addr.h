/* addr: a client address as a fixed 16-byte key, for tables keyed by
 * client (session limits, login throttling). IPv4 is stored v4-mapped, so
 * 192.0.2.1 and ::ffff:192.0.2.1 are the same client. */
#ifndef KONVERT_NET_ADDR_H
#define KONVERT_NET_ADDR_H

#include <stdint.h>
#include <sys/socket.h>

#define ADDR_KEY_LEN 16

/* Fills key from an AF_INET or AF_INET6 address (other families: zeros). */
void addr_key(const struct sockaddr *sa, unsigned char key[ADDR_KEY_LEN]);

/* FNV-1a of the key. */
uint32_t addr_key_hash(const unsigned char key[ADDR_KEY_LEN]);

#endif
