/* fuzz_aliases: libFuzzer target for src/auth/aliases.h. The input is
 * written to a temp file and loaded with aliases_load; a loaded table must
 * be sorted, duplicate-free and lower case, and a few names (the first
 * aliases of the table and some fixed ones) are expanded with
 * example.org/example.net/localhost as local domains. Expansion results
 * must be lower-case local@domain addresses, deduplicated, within
 * ALIAS_TARGETS_MAX; a failed expansion leaves the outputs alone. Names
 * and targets of a loaded table are well-formed UTF-8 (RFC 6531 local
 * parts), and a load error is one line of valid UTF-8 whatever the
 * input bytes. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/aliases.h"
#include "core/limits.h"
#include "core/utf8.h"
#include "fuzz_common.h"

static const char *const local_domains[] = { "example.org", "example.net", "localhost" };

static bool is_local(const char *domain, void *ctx)
{
	int *calls = ctx;

	(*calls)++;
	for (size_t i = 0; i < sizeof(local_domains) / sizeof(local_domains[0]); i++)
		if (strcmp(domain, local_domains[i]) == 0)
			return true;
	return false;
}

static bool has_upper(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			return true;
	return false;
}

static void expand(const struct aliases *al, const char *local, const char *domain)
{
	char **list = (char **)(uintptr_t)1, **sentinel = list;
	size_t count = 12345;
	int calls = 0;

	if (aliases_expand(al, local, domain, is_local, &calls, &list, &count) < 0) {
		FUZZ_CHECK(list == sentinel && count == 12345);
		return;
	}
	FUZZ_CHECK(count >= 1 && count <= ALIAS_TARGETS_MAX && list != NULL);
	for (size_t i = 0; i < count; i++) {
		const char *at = strrchr(list[i], '@');

		FUZZ_CHECK(at != NULL && at != list[i] && at[1] != '\0');
		FUZZ_CHECK(!has_upper(list[i]));
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(list[i], list[j]) != 0);
	}
	aliases_free_list(list, count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_tmp_path("aliases");
	struct aliases *al = NULL;
	char err[512];

	if (size > 64 * 1024)
		return 0;
	fuzz_write_file(path, data, size);
	err[0] = '\0';
	if (aliases_load(path, &al, err, sizeof(err)) < 0) {
		FUZZ_CHECK(al == NULL);
		FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':');
		FUZZ_CHECK(utf8_is_valid(err, strlen(err)) && strchr(err, '\n') == NULL);
		return 0;
	}
	FUZZ_CHECK(al != NULL);
	for (size_t i = 0; i < al->count; i++) {
		const struct alias_entry *e = &al->entries[i];

		FUZZ_CHECK(e->name[0] != '\0' && !has_upper(e->name));
		FUZZ_CHECK(utf8_is_valid(e->name, strlen(e->name)));
		FUZZ_CHECK(i == 0 || strcmp(al->entries[i - 1].name, e->name) < 0);
		FUZZ_CHECK(e->target_count >= 1 && e->target_count <= ALIAS_TARGETS_MAX);
		for (size_t t = 0; t < e->target_count; t++)
			FUZZ_CHECK(e->targets[t][0] != '\0' && !has_upper(e->targets[t]) &&
				   utf8_is_valid(e->targets[t], strlen(e->targets[t])));
	}
	/* The first few names of the table, in each local domain when bare. */
	for (size_t i = 0; i < al->count && i < 8; i++) {
		char *name = al->entries[i].name;
		char *at = strrchr(name, '@');

		if (at == NULL) {
			expand(al, name, "example.org");
			expand(al, name, "localhost");
		} else if (is_local(at + 1, &(int){ 0 })) {
			char *local = malloc((size_t)(at - name) + 1);

			FUZZ_CHECK(local != NULL);
			memcpy(local, name, (size_t)(at - name));
			local[at - name] = '\0';
			expand(al, local, at + 1);
			free(local);
		}
	}
	expand(al, "postmaster", "example.org");
	expand(al, "root", "example.net");
	expand(al, "nobody", "localhost");
	aliases_free(&al);
	FUZZ_CHECK(al == NULL);
	return 0;
}
