/* cli_check: runs the configuration parser without starting anything, so
 * an administrator can test a file before a restart. Prints all errors as
 * FILE:LINE: message, or the effective settings with -v. It also checks
 * what serve would refuse at start (file modes, users, aliases) and warns
 * when nobody can read postmaster's mail. */
#include "cli/cli_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/aliases.h"
#include "auth/userdb.h"
#include "cli/cli_preflight.h"
#include "config/config.h"
#include "net/tls_client.h"

/* What serve would refuse beyond the configuration itself: file modes,
 * the users and aliases files; warnings go to stderr and do not fail. */
static int check_files(const char *path, const struct config *cfg)
{
	char err[4352];
	int rc = 0;
	if (preflight_config_file(path, err, sizeof(err)) != 0 ||
	    preflight_tls_key(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		rc = 1;
	}
	if (cfg->tls_trust_file != NULL) {
		/* serve builds its client TLS context from it at start. */
		SSL_CTX *ctx = tls_client_ctx_new(cfg->tls_trust_file, err, sizeof(err));
		if (ctx == NULL) {
			fprintf(stderr, "tls_trust_file: %s\n", err);
			rc = 1;
		} else {
			SSL_CTX_free(ctx);
		}
	}
	char file[4096];
	struct userdb *users = NULL;
	struct aliases *aliases = NULL;
	(void)snprintf(file, sizeof(file), "%s/users", cfg->data_dir);
	if (userdb_load(file, &users, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		rc = 1;
	}
	(void)snprintf(file, sizeof(file), "%s/aliases", cfg->data_dir);
	if (aliases_load(file, &aliases, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		rc = 1;
	}
	if (users != NULL && users->warnings != NULL)
		fprintf(stderr, "warning: %s", users->warnings);
	if (users != NULL && aliases != NULL) {
		char warn[1024];
		preflight_postmaster(cfg, users, aliases, warn, sizeof(warn));
		if (warn[0] != '\0')
			fprintf(stderr, "warning: %s\n", warn);
	}
	userdb_free(&users);
	aliases_free(&aliases);
	return rc;
}

int cli_check_main(int argc, char **argv, const char *config_path)
{
	bool verbose = argc == 2 && strcmp(argv[1], "-v") == 0;
	if (argc > 2 || (argc == 2 && !verbose)) {
		fprintf(stderr, "usage: konvert check-config [-c FILE] [-v]\n");
		return 2;
	}
	const char *path = cfg_default_path(config_path);
	struct config *cfg = NULL;
	char *errors = NULL;
	if (cfg_load(path, &cfg, &errors) != 0) {
		fprintf(stderr, "%s\n", errors ? errors : "konvert: configuration error");
		free(errors);
		return 1;
	}
	int rc = check_files(path, cfg);
	if (rc == 0) {
		if (verbose)
			cfg_dump(cfg, stdout);
		else
			printf("%s: ok\n", path ? path : "(built-in defaults)");
	}
	cfg_free(&cfg);
	return rc;
}
