/* cli_sendmail: "konvert sendmail" and the binary called as "sendmail":
 * the interface scripts, cron, PHP and mutt use to send mail.
 *
 * The message never takes a path of its own: sendmail speaks SMTP to the
 * running server over its local socket (data_dir/public/submit.sock), so
 * it meets the same checks and the same durable queue as mail received
 * over the network, and the server writes a Received: line that names the
 * local user. Options (Postfix and sendmail 8 compatible): -t (recipients
 * from To/Cc/Bcc, added to those on the command line; Bcc removed), -i and
 * -oi (a lone "." line does not end the message), -f/-r SENDER, -F NAME,
 * -bs (SMTP on standard input and output), -bp (same as mailq), -bm (the
 * default), -N NOTIFY, -R RET, -V ENVID; -o*, -v, -U, -B are accepted and
 * ignored. Exit status from sysexits.h: 0 sent, 64 usage, 65 the message
 * was refused, 67 a recipient was refused, 69 no recipients accepted for
 * good, 74 read error, 75 try later (server not running, 4xx). */
#ifndef KONVERT_CLI_CLI_SENDMAIL_H
#define KONVERT_CLI_CLI_SENDMAIL_H

#include <stddef.h>

/* argv[0] is "sendmail" (either way it was called); config_path is the
 * -c value or NULL. Returns the exit status. */
int cli_sendmail_main(int argc, char **argv, const char *config_path);

/* The local submission socket for a data_dir, into out. 0 or -1. */
int cli_sendmail_socket_path(const char *data_dir, char *out, size_t out_size);

#endif
