/* cli_user: "konvert user add|passwd|del|list" (SPEC.md "Command line").
 *
 * Edits data_dir/users through auth/userdb; never touches mailboxes. */
#ifndef KONVERT_CLI_CLI_USER_H
#define KONVERT_CLI_CLI_USER_H

/* argv[0] is "user", argv[1] the verb:
 *   add ADDRESS [--password-stdin]
 *   passwd ADDRESS [--password-stdin]
 *   del ADDRESS
 *   list
 * config_path is the -c value or NULL (resolved with cfg_default_path).
 * Errors go to stderr as "konvert: ..."; returns the process exit status:
 * 0 success, 1 failure, 2 usage error. Reads stdin or /dev/tty for the
 * password and may create data_dir (mode 0750). */
int cli_user_main(int argc, char **argv, const char *config_path);

#endif
