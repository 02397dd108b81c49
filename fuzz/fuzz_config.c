/* fuzz_config: libFuzzer target for src/config/config.h. The input is
 * written to a temp file and loaded with cfg_load. A failed load must
 * report errors as "file:line: ..." lines; a successful one is dumped with
 * cfg_dump, and that dump must load again and dump identically (header:
 * "in a form cfg_load accepts again"). The first line also goes through
 * cfg_parse_duration, and the loaded config through the lookup helpers. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "fuzz_common.h"

/* Owned text of cfg_dump(cfg). */
static char *dump(const struct config *cfg, size_t *len_out)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	FUZZ_CHECK(f != NULL);
	cfg_dump(cfg, f);
	FUZZ_CHECK(fclose(f) == 0);
	*len_out = len;
	return text;
}

/* Every error line names the file, a line number and a message. */
static void check_errors(const char *path, const char *errors)
{
	size_t plen = strlen(path);
	const char *line = errors;

	FUZZ_CHECK(errors != NULL && errors[0] != '\0');
	FUZZ_CHECK(errors[strlen(errors) - 1] != '\n');
	while (line != NULL) {
		const char *p = line + plen;

		FUZZ_CHECK(strncmp(line, path, plen) == 0 && *p == ':');
		p++;
		FUZZ_CHECK(*p >= '0' && *p <= '9');
		while (*p >= '0' && *p <= '9')
			p++;
		FUZZ_CHECK(p[0] == ':' && p[1] == ' ');
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
}

static void check_lookups(const struct config *cfg)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

	FUZZ_CHECK(cfg->domain_count > 0 && cfg->domains[cfg->domain_count] == NULL);
	for (size_t i = 0; i < cfg->domain_count; i++)
		FUZZ_CHECK(cfg_is_local_domain(cfg, cfg->domains[i], strlen(cfg->domains[i])));
	FUZZ_CHECK(inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr) == 1);
	FUZZ_CHECK(inet_pton(AF_INET6, "::1", &sin6.sin6_addr) == 1);
	(void)cfg_in_relay_networks(cfg, (const struct sockaddr *)&sin);
	(void)cfg_in_relay_networks(cfg, (const struct sockaddr *)&sin6);
	for (size_t i = 0; i < cfg->relay_network_count; i++) {
		const struct cfg_cidr *c = &cfg->relay_networks[i];

		FUZZ_CHECK(c->family == AF_INET || c->family == AF_INET6);
		FUZZ_CHECK(c->prefix <= (c->family == AF_INET ? 32u : 128u));
		/* The network address itself is inside its own CIDR. */
		if (c->family == AF_INET) {
			memcpy(&sin.sin_addr, c->addr, 4);
			FUZZ_CHECK(cfg_cidr_match(c, 1, (const struct sockaddr *)&sin));
		} else {
			memcpy(&sin6.sin6_addr, c->addr, 16);
			FUZZ_CHECK(cfg_cidr_match(c, 1, (const struct sockaddr *)&sin6));
		}
	}
	FUZZ_CHECK(cfg->queue_retry_count > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_tmp_path("konvert.conf");
	const char *path2 = fuzz_tmp_path("dumped.conf");
	struct config *cfg = NULL, *cfg2 = NULL;
	char *errors = NULL, *text, *text2, *first;
	size_t len, len2, n;
	uint64_t secs = 777;

	/* Config files are small; long inputs only slow the fuzzer down. */
	if (size > 64 * 1024)
		return 0;
	n = 0;
	while (n < size && data[n] != '\n')
		n++;
	first = malloc(n + 1);
	FUZZ_CHECK(first != NULL);
	memcpy(first, data, n);
	first[n] = '\0';
	if (cfg_parse_duration(first, &secs) < 0)
		FUZZ_CHECK(secs == 777);
	free(first);

	fuzz_write_file(path, data, size);
	if (cfg_load(path, &cfg, &errors) < 0) {
		FUZZ_CHECK(cfg == NULL);
		check_errors(path, errors);
		free(errors);
		return 0;
	}
	FUZZ_CHECK(cfg != NULL && errors == NULL);
	check_lookups(cfg);
	text = dump(cfg, &len);
	cfg_free(&cfg);
	FUZZ_CHECK(cfg == NULL);

	fuzz_write_file(path2, text, len);
	if (cfg_load(path2, &cfg2, &errors) < 0) {
		fprintf(stderr, "dump does not load again:\n%s\n--- dump:\n%s", errors, text);
		fuzz_fail("cfg_load(cfg_dump(cfg)) == 0", __FILE__, __LINE__);
	}
	text2 = dump(cfg2, &len2);
	if (len != len2 || memcmp(text, text2, len) != 0) {
		fprintf(stderr, "dump changed on reload:\n%s--- second dump:\n%s", text, text2);
		fuzz_fail("cfg_dump(cfg_load(cfg_dump(cfg))) == cfg_dump(cfg)", __FILE__,
			  __LINE__);
	}
	cfg_free(&cfg2);
	free(text2);
	free(text);
	return 0;
}
