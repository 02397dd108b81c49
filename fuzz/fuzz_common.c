/* fuzz_common: see fuzz_common.h. Owns the temp directory of the process
 * and nothing else; it must not depend on any konvert module. */
#include "fuzz_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void fuzz_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "fuzz: check failed: %s (%s:%d)\n", expr, file, line);
	abort();
}

static char tmp_dir[256];

static void tmp_cleanup(void)
{
	DIR *d = opendir(tmp_dir);
	struct dirent *de;
	char p[512];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", tmp_dir, de->d_name) < (int)sizeof(p))
			(void)unlink(p);
	}
	(void)closedir(d);
	(void)rmdir(tmp_dir);
}

const char *fuzz_tmp_path(const char *name)
{
	/* A handful of names per target: a small fixed table is enough. */
	static struct {
		char name[32];
		char path[320];
	} paths[8];
	const char *base;
	size_t i;
	int n;

	if (tmp_dir[0] == '\0') {
		base = getenv("TMPDIR");
		if (base == NULL || base[0] == '\0')
			base = "/tmp";
		n = snprintf(tmp_dir, sizeof(tmp_dir), "%s/konvert-fuzz.XXXXXX", base);
		FUZZ_CHECK(n > 0 && (size_t)n < sizeof(tmp_dir));
		FUZZ_CHECK(mkdtemp(tmp_dir) != NULL);
		FUZZ_CHECK(atexit(tmp_cleanup) == 0);
	}
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (strcmp(paths[i].name, name) == 0)
			return paths[i].path;
		if (paths[i].name[0] == '\0') {
			FUZZ_CHECK(strlen(name) < sizeof(paths[i].name));
			memcpy(paths[i].name, name, strlen(name) + 1);
			n = snprintf(paths[i].path, sizeof(paths[i].path), "%s/%s", tmp_dir, name);
			FUZZ_CHECK(n > 0 && (size_t)n < sizeof(paths[i].path));
			return paths[i].path;
		}
	}
	fuzz_fail("too many temp file names", __FILE__, __LINE__);
}

void fuzz_write_file(const char *path, const void *data, size_t len)
{
	const char *p = data;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	FUZZ_CHECK(fd >= 0);
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		FUZZ_CHECK(w > 0);
		p += w;
		len -= (size_t)w;
	}
	FUZZ_CHECK(close(fd) == 0);
}

uint64_t fuzz_hash(const uint8_t *data, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= data[i];
		h *= 0x100000001b3ull;
	}
	return h != 0 ? h : 1;
}

uint64_t fuzz_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}
