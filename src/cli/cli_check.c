/* cli_check: runs the configuration parser without starting anything, so
 * an administrator can test a file before a restart. Prints all errors as
 * FILE:LINE: message, or the effective settings with -v. */
#include "cli/cli_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

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
	if (verbose)
		cfg_dump(cfg, stdout);
	else
		printf("%s: ok\n", path ? path : "(built-in defaults)");
	cfg_free(&cfg);
	return 0;
}
