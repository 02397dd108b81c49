/* cli_queue: "konvert queue list | show ID | flush [DOMAIN] | delete ID",
 * "mailq" (argv[0]) and "sendmail -bp".
 *
 * list and show read the queue files directly, read-only
 * (queue_store_open with QUEUE_STORE_RDONLY): safe while the server runs,
 * since envelopes are only ever replaced by rename. They create nothing,
 * so running them as root leaves no root-owned file in data_dir. flush and
 * delete ask the running server over data_dir/control.sock
 * (queue_control.h); with no server running, delete removes the files
 * itself (only when data_dir/queue exists) and flush says the queue is
 * tried when the server starts.
 *
 * Exit status: 0 done, 1 failure (an unknown id, an unreadable queue, the
 * server said ERR), 2 usage.
 *
 * Output of list (stdout; columns separated by at least two spaces where
 * a regular expression needs them). An empty or missing queue prints the
 * single line "Mail queue is empty". Otherwise a title line, then per
 * message (in arrival order) a blank-line-separated block:
 *
 *   Queue ID          Age      Size  Sender / Recipients
 *   0123456789ABCDEF  2h13m    1234  <alice@example.test>
 *     deferred   tries=3  next=14m    <bob@elsewhere.example>
 *                reply from mx.elsewhere.example: 451 4.7.1 Try later
 *     pending    tries=0  next=now    <carol@example.org>
 *
 *   -- 1 message, 2 recipients
 *
 *   message:    ^([0-9A-Z]{16})  +(\S+) +(\d+)  <(.*)>$
 *               id, age, size in bytes, sender (<> for the null sender)
 *   unreadable: ^([0-9A-Z]{16})  error: (.*)$      (no recipient lines)
 *   recipient:  ^  (pending|deferred|delivered|failed) +tries=(\d+)
 *               +next=(\S+) +<(.*)>$
 *               next is "now" when due, "-" for delivered and failed,
 *               else the time until the next try
 *   reply:      ^ +reply( from (\S+))?: (.*)$      the recipient's last
 *               reply, when it has one: the remote host, then the text cut
 *               at its first line end and to 200 bytes ("..." marks a cut)
 *   summary:    ^-- (\d+) messages?, (\d+) recipients?(, (\d+) unreadable)?$
 * Times (age, next) are "45s", "12m", "2h05m" or "3d04h". Control bytes in
 * addresses and replies are shown as \xNN; UTF-8 is shown as is.
 *
 * show prints "key: value" lines: id, sender, envid, ret, body, smtputf8,
 * created, size, skip, bounce, bounce-depth, recipients; then per
 * recipient a blank line, "recipient N: <ADDR>" and indented orcpt,
 * notify, state, attempts, next-try ("DATE (in 14m)", "DATE (due now)",
 * or just the date for a final state), last-reply, remote-mta,
 * delay-notified, dsn-sent ("-" for an absent value); then a blank line,
 * "header:" and the message's header lines as stored (after the
 * Return-Path line that only local delivery keeps), up to the blank line
 * and at most CLI_QUEUE_HEADER_MAX bytes. */
#ifndef KONVERT_CLI_CLI_QUEUE_H
#define KONVERT_CLI_CLI_QUEUE_H

#include <stdio.h>

struct config;

/* The most header bytes show prints. */
#define CLI_QUEUE_HEADER_MAX (64 * 1024)

/* argv[0] is "queue"; config_path is the -c value or NULL. Returns the
 * exit status. */
int cli_queue_main(int argc, char **argv, const char *config_path);

/* The binary called as "mailq": argv[0] is "mailq", no other arguments
 * are accepted. Same output and status as "queue list". */
int cli_queue_mailq(int argc, char **argv, const char *config_path);

/* Prints the list for cfg's data_dir to out (errors to stderr). Returns
 * the exit status (0 or 1). For "sendmail -bp", which has its config
 * already. */
int cli_queue_list(const struct config *cfg, FILE *out);

/* Sends cmd (one line, LF added) to the running server's control.sock
 * and reads its one reply line into reply (line end removed), waiting a
 * bounded time. Failures other than "no server" are printed. */
enum ask_result {
	ASK_REPLIED, /* reply holds the server's line ("OK ..." / "ERR ...") */
	ASK_NO_SERVER, /* nobody listens (ENOENT, ECONNREFUSED) */
	ASK_FAILED, /* printed */
};
enum ask_result control_ask(const char *data_dir, const char *cmd, char *reply,
			    size_t reply_size);

#endif
