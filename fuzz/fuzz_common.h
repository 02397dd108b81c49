/* fuzz_common: helpers shared by the libFuzzer targets in fuzz/. A failed
 * FUZZ_CHECK is a property violation (wrong result, broken contract), so it
 * prints what was expected and aborts: libFuzzer then saves the input as a
 * crash. Temp files live in one private directory per process, removed at
 * exit. Only fuzz/ includes this; nothing in src/ knows it exists. */
#ifndef KONVERT_FUZZ_FUZZ_COMMON_H
#define KONVERT_FUZZ_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FUZZ_CHECK(expr)                                                    \
	do {                                                                \
		if (!(expr))                                                \
			fuzz_fail(#expr, __FILE__, __LINE__);               \
	} while (0)

__attribute__((noreturn)) void fuzz_fail(const char *expr, const char *file, int line);

/* Path of a file named name in the per-process temp directory (made on
 * first use, removed with its files at exit). The pointer is owned by the
 * helper and stays valid for the process. */
const char *fuzz_tmp_path(const char *name);

/* Replaces the contents of path with len bytes of data; aborts on error. */
void fuzz_write_file(const char *path, const void *data, size_t len);

/* FNV-1a of the input: seeds input-derived pseudo-random choices, so a
 * crash reproduces from the saved input alone. */
uint64_t fuzz_hash(const uint8_t *data, size_t len);

/* xorshift64 step; *state must not be 0. */
uint64_t fuzz_rand(uint64_t *state);

#endif
