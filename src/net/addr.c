/* addr: client address keys shared by every per-client table. Pure. */
#include "net/addr.h"

#include <netinet/in.h>
#include <string.h>

void addr_key(const struct sockaddr *sa, unsigned char key[ADDR_KEY_LEN])
{
	memset(key, 0, ADDR_KEY_LEN);
	if (sa->sa_family == AF_INET) {
		key[10] = 0xff;
		key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, ADDR_KEY_LEN);
	}
}

uint32_t addr_key_hash(const unsigned char key[ADDR_KEY_LEN])
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < ADDR_KEY_LEN; i++)
		h = (h ^ key[i]) * 16777619u;
	return h;
}
