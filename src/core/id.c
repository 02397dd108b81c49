/* id: time + counter identifiers. Owns one atomic counter; nothing else.
 * Ids sort roughly by creation time, which makes logs and spool listings
 * easy to read. */
#include "core/id.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/time.h>
#include <unistd.h>

static atomic_uint_fast32_t id_counter;

void id_new(char out[ID_LEN + 1])
{
	static const char alphabet[] = "0123456789BCDFGHJKLMNPQRSTVWXYZA";
	struct timeval tv;
	(void)gettimeofday(&tv, NULL);
	uint64_t usec = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	uint32_t n = (uint32_t)atomic_fetch_add(&id_counter, 1);
	/* 11 chars of time (55 bits) + 5 chars of counter xor pid (25 bits). */
	uint32_t low = (n + (uint32_t)getpid() * 2654435761u) & 0x1ffffffu;
	for (int i = 10; i >= 0; i--) {
		out[i] = alphabet[usec & 31];
		usec >>= 5;
	}
	for (int i = 15; i >= 11; i--) {
		out[i] = alphabet[low & 31];
		low >>= 5;
	}
	out[ID_LEN] = '\0';
}
