/* cli_serve: "konvert serve": runs the server in the foreground. */
#ifndef KONVERT_CLI_CLI_SERVE_H
#define KONVERT_CLI_CLI_SERVE_H

/* argv[0] is "serve". Returns the process exit status. */
int cli_serve_main(int argc, char **argv, const char *config_path);

#endif
