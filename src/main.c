/* main: argv -> subcommand; nothing else (STYLE.md 1). "-c FILE" may stand
 * anywhere on the command line and selects the configuration for every
 * subcommand (SPEC.md "Command line"). */
#include <stdio.h>
#include <string.h>

#include "cli/cli_check.h"
#include "cli/cli_dns.h"
#include "cli/cli_queue.h"
#include "cli/cli_sendmail.h"
#include "cli/cli_serve.h"
#include "cli/cli_user.h"

#define KONVERT_VERSION "0.1.0"

static void usage(FILE *out)
{
	fputs("usage: konvert [-c FILE] COMMAND ...\n"
	      "  serve                          run the server in the foreground\n"
	      "  user add ADDRESS [--password-stdin]\n"
	      "  user passwd ADDRESS [--password-stdin]\n"
	      "  user del ADDRESS\n"
	      "  user list\n"
	      "  check-config [-v]              validate the configuration (-v: print it)\n"
	      "  queue list                     the queued messages (also: mailq, sendmail -bp)\n"
	      "  queue show ID                  one message's envelope and header\n"
	      "  queue flush [DOMAIN]           ask the server to try the queue now\n"
	      "  queue delete ID                remove a message from the queue\n"
	      "  queue tls-report [today]       send the TLS reports (RFC 8460) now\n"
	      "  sendmail [-t] [-i] [-f SENDER] [RCPT ...]   send a message read from stdin\n"
	      "  dns-records DOMAIN             the DNS records to publish, zone-file lines\n"
	      "  dkim rotate DOMAIN             new DKIM keys; the old ones stay published\n"
	      "  version\n"
	      "  help\n",
	      out);
}

int main(int argc, char **argv)
{
	const char *config_path = NULL;
	char *args[256];
	int n = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0) {
			if (i + 1 >= argc) {
				fputs("konvert: -c needs a file name\n", stderr);
				return 2;
			}
			config_path = argv[++i];
			continue;
		}
		if (n == (int)(sizeof(args) / sizeof(args[0])) - 1) {
			fputs("konvert: too many arguments\n", stderr);
			return 2;
		}
		args[n++] = argv[i];
	}
	args[n] = NULL;
	const char *self = strrchr(argv[0], '/');
	self = self ? self + 1 : argv[0];
	if (strcmp(self, "sendmail") == 0) {
		/* Called as sendmail: every argument is sendmail's. */
		char *sargs[257];
		sargs[0] = "sendmail";
		for (int i = 0; i < n; i++)
			sargs[i + 1] = args[i];
		sargs[n + 1] = NULL;
		return cli_sendmail_main(n + 1, sargs, config_path);
	}
	if (strcmp(self, "mailq") == 0) {
		/* Called as mailq: the queue list (Postfix, sendmail). */
		char *qargs[257];
		qargs[0] = "mailq";
		for (int i = 0; i < n; i++)
			qargs[i + 1] = args[i];
		qargs[n + 1] = NULL;
		return cli_queue_mailq(n + 1, qargs, config_path);
	}
	if (n == 0) {
		usage(stderr);
		return 2;
	}
	if (strcmp(args[0], "serve") == 0)
		return cli_serve_main(n, args, config_path);
	if (strcmp(args[0], "user") == 0)
		return cli_user_main(n, args, config_path);
	if (strcmp(args[0], "check-config") == 0)
		return cli_check_main(n, args, config_path);
	if (strcmp(args[0], "version") == 0) {
		printf("konvert %s\n", KONVERT_VERSION);
		return 0;
	}
	if (strcmp(args[0], "help") == 0 || strcmp(args[0], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(args[0], "sendmail") == 0)
		return cli_sendmail_main(n, args, config_path);
	if (strcmp(args[0], "queue") == 0)
		return cli_queue_main(n, args, config_path);
	if (strcmp(args[0], "dns-records") == 0)
		return cli_dns_records_main(n, args, config_path);
	if (strcmp(args[0], "dkim") == 0)
		return cli_dkim_main(n, args, config_path);
	fprintf(stderr, "konvert: unknown command '%s'\n", args[0]);
	usage(stderr);
	return 2;
}
