/* cli_check: "konvert check-config": validates the configuration. */
#ifndef KONVERT_CLI_CLI_CHECK_H
#define KONVERT_CLI_CLI_CHECK_H

/* argv[0] is "check-config". Prints every error (exit 1) or, with -v, the
 * effective configuration (exit 0). */
int cli_check_main(int argc, char **argv, const char *config_path);

#endif
