/* cli_preflight: the checks that "konvert serve" and "konvert check-config"
 * share, so that check-config rejects and warns about exactly what serve
 * would: the configuration file's mode, the account and alias files, the
 * private key's mode, and whether anybody can read postmaster's mail. */
#ifndef KONVERT_CLI_CLI_PREFLIGHT_H
#define KONVERT_CLI_CLI_PREFLIGHT_H

#include <stddef.h>

struct config;
struct userdb;
struct aliases;

/* The configuration file (path may be NULL: built-in defaults) must not be
 * writable by group or others. A link is followed (the path is the
 * administrator's). 0, or -1 with the reason and the fixing chmod in err. */
int preflight_config_file(const char *path, char *err, size_t err_size);

/* A configured tls_key must not be writable by group or others nor
 * readable by others (the generated one is checked when it is loaded).
 * 0, or -1 with err. */
int preflight_tls_key(const struct config *cfg, char *err, size_t err_size);

/* Warning text (empty when none) when no account can read the mail that
 * postmaster@ and abuse@ of the local domains receive. */
void preflight_postmaster(const struct config *cfg, const struct userdb *users,
			  const struct aliases *aliases, char *warn, size_t warn_size);

#endif
