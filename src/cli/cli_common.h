/* cli_common: what every command-line tool shares. */
#ifndef KONVERT_CLI_CLI_COMMON_H
#define KONVERT_CLI_CLI_COMMON_H

/* Prints "konvert: MESSAGE\n" to stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
