/* cli_preflight: start-up checks shared by serve and check-config. It only
 * reads; it never changes a file and never logs (the caller prints). */
#include "cli/cli_preflight.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/userdb.h"
#include "config/config.h"
#include "core/safefile.h"
#include "delivery/resolve.h"

int preflight_config_file(const char *path, char *err, size_t err_size)
{
	if (path == NULL)
		return 0;
	struct stat st;
	int fd = safefile_open(AT_FDCWD, path, path, 0, &st, err, err_size);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1; /* the parser names a missing file */
	(void)close(fd);
	return safefile_check_mode(&st, path, SAFEFILE_NO_FOREIGN_WRITE, err, err_size);
}

int preflight_tls_key(const struct config *cfg, char *err, size_t err_size)
{
	if (cfg->tls_key == NULL || cfg->tls_key[0] == '\0')
		return 0;
	struct stat st;
	int fd = safefile_open(AT_FDCWD, cfg->tls_key, cfg->tls_key, 0, &st, err, err_size);
	if (fd < 0)
		return -1;
	(void)close(fd);
	return safefile_check_mode(&st, cfg->tls_key,
				   SAFEFILE_NO_FOREIGN_WRITE | SAFEFILE_NO_OTHER_READ, err, err_size);
}

void preflight_postmaster(const struct config *cfg, const struct userdb *users,
			  const struct aliases *aliases, char *warn, size_t warn_size)
{
	warn[0] = '\0';
	struct resolve_result r;
	resolve_rcpt(cfg, users, aliases, "postmaster", 10, cfg->domains[0], &r);
	bool readable = r.remote_count > 0;
	for (size_t i = 0; i < r.mailbox_count && !readable; i++)
		readable = userdb_find(users, r.mailboxes[i], strlen(r.mailboxes[i])) != NULL;
	if (!readable)
		(void)snprintf(warn, warn_size,
			       "mail to postmaster@ and abuse@ of every local domain is stored in "
			       "the mailbox postmaster@%s, which no account can read: add an alias "
			       "(\"postmaster: you\" in %s/aliases) or the account (konvert user add "
			       "postmaster@%s)",
			       cfg->domains[0], cfg->data_dir, cfg->domains[0]);
	resolve_result_fini(&r);
}
