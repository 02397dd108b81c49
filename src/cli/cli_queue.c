/* cli_queue: the "konvert queue" subcommand, mailq and sendmail -bp. It
 * reads the queue files itself for list and show (read-only, never
 * creating anything) and asks the running server over control.sock for
 * flush and delete. It must not write queue files while a server runs:
 * only the offline delete removes files, through queue_store_remove, and
 * only in a queue that already exists (as root, creating directories there
 * would leave root-owned ones the server cannot use). */
#include "cli/cli_queue.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_common.h"
#include "config/config.h"
#include "core/alloc.h"
#include "queue/queue_control.h"
#include "queue/queue_env.h"
#include "queue/queue_store.h"

enum { QCLI_OK = 0, QCLI_FAIL = 1, QCLI_USAGE = 2 };

#define REPLY_SHOWN_MAX 200
#define CONTROL_TIMEOUT_MS 10000
#define PATH_LEN 4096

static void usage(FILE *out)
{
	(void)fputs("usage: konvert queue list\n"
		    "       konvert queue show ID\n"
		    "       konvert queue flush [DOMAIN]\n"
		    "       konvert queue delete ID\n"
		    "       konvert queue tls-report [today]\n",
		    out);
}

static int load_config(const char *config_path, struct config **cfg_out)
{
	char *errors = NULL;

	if (cfg_load(cfg_default_path(config_path), cfg_out, &errors) == 0)
		return 0;
	cli_err("%s", errors != NULL && errors[0] != '\0' ? errors : "cannot load the configuration");
	free(errors);
	return -1;
}

/* ---- formatting ---- */

/* Prints s (len bytes) with control bytes as \xNN; UTF-8 passes. */
static void put_text(FILE *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			(void)fprintf(out, "\\x%02x", c);
		else
			(void)fputc(c, out);
	}
}

static void put_str(FILE *out, const char *s)
{
	put_text(out, s, strlen(s));
}

/* A reply cut at its first line end and to REPLY_SHOWN_MAX bytes (not in
 * the middle of a UTF-8 sequence). */
static void put_reply(FILE *out, const char *s)
{
	size_t len = strcspn(s, "\r\n");
	bool cut = s[len] != '\0';

	if (len > REPLY_SHOWN_MAX) {
		len = REPLY_SHOWN_MAX;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
		cut = true;
	}
	put_text(out, s, len);
	if (cut)
		(void)fputs("...", out);
}

/* "45s", "12m", "2h05m", "3d04h"; negative is "0s". */
static void fmt_duration(int64_t secs, char *out, size_t out_size)
{
	if (secs < 0)
		secs = 0;
	if (secs < 60)
		(void)snprintf(out, out_size, "%" PRId64 "s", secs);
	else if (secs < 3600)
		(void)snprintf(out, out_size, "%" PRId64 "m", secs / 60);
	else if (secs < 86400)
		(void)snprintf(out, out_size, "%" PRId64 "h%02" PRId64 "m", secs / 3600,
			       secs % 3600 / 60);
	else
		(void)snprintf(out, out_size, "%" PRId64 "d%02" PRId64 "h", secs / 86400,
			       secs % 86400 / 3600);
}

static bool is_final(enum queue_rcpt_state st)
{
	return st == QUEUE_RCPT_DELIVERED || st == QUEUE_RCPT_FAILED;
}

static void fmt_next(const struct queue_rcpt *r, int64_t now, char *out, size_t out_size)
{
	if (is_final(r->state))
		(void)snprintf(out, out_size, "-");
	else if (r->next_try <= now)
		(void)snprintf(out, out_size, "now");
	else
		fmt_duration(r->next_try - now, out, out_size);
}

static void fmt_time(int64_t t, char *out, size_t out_size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL ||
	    strftime(out, out_size, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
		(void)snprintf(out, out_size, "%" PRId64, t);
}

static const char *yes_no(bool b)
{
	return b ? "yes" : "no";
}

/* ---- opening the queue ---- */

/* Opens data_dir/queue read-only. Returns 1 with *qs_out, 0 when there is
 * no queue (no such directory: nothing was ever queued), -1 on error
 * (printed). */
static int open_rdonly(const char *data_dir, struct queue_store **qs_out)
{
	char path[PATH_LEN], err[PATH_LEN + 256];
	struct stat st;
	int n = snprintf(path, sizeof(path), "%s/queue", data_dir);

	*qs_out = NULL;
	if (n < 0 || (size_t)n >= sizeof(path)) {
		cli_err("%s: path too long", data_dir);
		return -1;
	}
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		cli_err("%s: %s", path, strerror(errno));
		return -1;
	}
	*qs_out = queue_store_open(data_dir, QUEUE_STORE_RDONLY, err, sizeof(err));
	if (*qs_out == NULL) {
		cli_err("%s", err);
		return -1;
	}
	return 1;
}

/* True when env/ID is still there (a read error for a message that is gone
 * means it was delivered meanwhile, not that it is damaged). */
static bool env_exists(const char *data_dir, const char *id)
{
	char path[PATH_LEN];
	struct stat st;

	(void)snprintf(path, sizeof(path), "%s/queue/env/%s", data_dir, id);
	return lstat(path, &st) == 0 || errno != ENOENT;
}

/* ---- list ---- */

struct list_totals {
	size_t messages, recipients, unreadable;
};

static void list_message(FILE *out, const struct queue_env *env, int64_t now,
			 struct list_totals *t)
{
	char age[32], next[32];

	fmt_duration(now - env->created, age, sizeof(age));
	(void)fprintf(out, "%s  %-6s %6" PRIu64 "  <", env->id, age, env->size);
	put_str(out, env->sender);
	(void)fputs(">\n", out);
	for (size_t i = 0; i < env->rcpt_count; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];

		fmt_next(r, now, next, sizeof(next));
		(void)fprintf(out, "  %-9s  tries=%u  next=%-5s  <", queue_env_state_name(r->state),
			      r->attempts, next);
		put_str(out, r->addr);
		(void)fputs(">\n", out);
		if (r->last_reply != NULL) {
			(void)fputs("             reply", out);
			if (r->remote_mta != NULL) {
				(void)fputs(" from ", out);
				put_reply(out, r->remote_mta);
			}
			(void)fputs(": ", out);
			put_reply(out, r->last_reply);
			(void)fputc('\n', out);
		}
	}
	t->messages++;
	t->recipients += env->rcpt_count;
}

/* The title before the first message, a blank line between messages. */
static void begin_block(FILE *out, size_t *shown)
{
	if ((*shown)++ == 0)
		(void)fputs("Queue ID          Age      Size  Sender / Recipients\n", out);
	else
		(void)fputc('\n', out);
}

int cli_queue_list(const struct config *cfg, FILE *out)
{
	struct queue_store *qs = NULL;
	struct queue_id *ids = NULL;
	struct list_totals t = { 0 };
	size_t count = 0, shown = 0;
	char err[PATH_LEN + 256];
	int64_t now = (int64_t)time(NULL);
	int rc = open_rdonly(cfg->data_dir, &qs);

	if (rc < 0)
		return QCLI_FAIL;
	if (rc > 0 && queue_store_list_ids(qs, &ids, &count, err, sizeof(err)) != 0) {
		cli_err("%s", err);
		queue_store_close(&qs);
		return QCLI_FAIL;
	}
	for (size_t i = 0; i < count; i++) {
		struct queue_env env;

		if (queue_store_read(qs, ids[i].s, &env, err, sizeof(err)) != 0) {
			if (!env_exists(cfg->data_dir, ids[i].s))
				continue; /* delivered since list_ids */
			begin_block(out, &shown);
			(void)fprintf(out, "%s  error: ", ids[i].s);
			put_reply(out, err);
			(void)fputc('\n', out);
			t.messages++;
			t.unreadable++;
			continue;
		}
		begin_block(out, &shown);
		list_message(out, &env, now, &t);
		queue_env_fini(&env);
	}
	free(ids);
	queue_store_close(&qs);
	if (t.messages == 0) {
		(void)fputs("Mail queue is empty\n", out);
	} else {
		(void)fprintf(out, "\n-- %zu message%s, %zu recipient%s", t.messages,
			      t.messages == 1 ? "" : "s", t.recipients, t.recipients == 1 ? "" : "s");
		if (t.unreadable > 0)
			(void)fprintf(out, ", %zu unreadable", t.unreadable);
		(void)fputc('\n', out);
	}
	if (fflush(out) != 0 || ferror(out)) {
		cli_err("standard output: %s", strerror(errno));
		return QCLI_FAIL;
	}
	return QCLI_OK;
}

/* ---- show ---- */

static void show_field(FILE *out, const char *indent, const char *key, const char *value)
{
	(void)fprintf(out, "%s%s: ", indent, key);
	if (value == NULL)
		(void)fputc('-', out);
	else
		put_str(out, value);
	(void)fputc('\n', out);
}

static void notify_words(unsigned notify, char *out, size_t out_size)
{
	static const struct {
		unsigned bit;
		const char *name;
	} words[] = {
		{ QUEUE_NOTIFY_SUCCESS, "success" },
		{ QUEUE_NOTIFY_FAILURE, "failure" },
		{ QUEUE_NOTIFY_DELAY, "delay" },
		{ QUEUE_NOTIFY_NEVER, "never" },
	};
	size_t o = 0;

	(void)snprintf(out, out_size, "-");
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (!(notify & words[i].bit))
			continue;
		int n = snprintf(out + o, out_size - o, "%s%s", o > 0 ? "," : "", words[i].name);
		if (n < 0 || (size_t)n >= out_size - o)
			return;
		o += (size_t)n;
	}
}

static void show_envelope(FILE *out, const struct queue_env *env, int64_t now)
{
	static const char *const ret[] = { "unset", "full", "hdrs" };
	static const char *const body[] = { "7bit", "8bitmime", "binarymime" };
	char when[64], rel[32], buf[128];

	(void)fprintf(out, "id: %s\nsender: <", env->id);
	put_str(out, env->sender);
	(void)fputs(">\n", out);
	show_field(out, "", "envid", env->envid);
	(void)fprintf(out, "ret: %s\nbody: %s\nsmtputf8: %s\nrequiretls: %s\n", ret[env->ret], body[env->body],
		      yes_no(env->smtputf8), yes_no(env->requiretls));
	fmt_time(env->created, when, sizeof(when));
	fmt_duration(now - env->created, rel, sizeof(rel));
	(void)fprintf(out, "created: %s (%s ago)\n", when, rel);
	(void)fprintf(out, "size: %" PRIu64 "\nskip: %" PRIu64 "\n", env->size, env->skip);
	(void)fprintf(out, "bounce: %s\nbounce-depth: %u\nrecipients: %zu\n",
		      yes_no(env->is_bounce), env->bounce_depth, env->rcpt_count);
	for (size_t i = 0; i < env->rcpt_count; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];

		(void)fprintf(out, "\nrecipient %zu: <", i + 1);
		put_str(out, r->addr);
		(void)fputs(">\n", out);
		show_field(out, "  ", "orcpt", r->orcpt);
		notify_words(r->notify, buf, sizeof(buf));
		(void)fprintf(out, "  notify: %s\n  state: %s\n  attempts: %u\n", buf,
			      queue_env_state_name(r->state), r->attempts);
		fmt_time(r->next_try, when, sizeof(when));
		if (is_final(r->state)) {
			(void)fprintf(out, "  next-try: %s\n", when);
		} else if (r->next_try <= now) {
			(void)fprintf(out, "  next-try: %s (due now)\n", when);
		} else {
			fmt_duration(r->next_try - now, rel, sizeof(rel));
			(void)fprintf(out, "  next-try: %s (in %s)\n", when, rel);
		}
		show_field(out, "  ", "last-reply", r->last_reply);
		show_field(out, "  ", "remote-mta", r->remote_mta);
		(void)fprintf(out, "  delay-notified: %s\n  dsn-sent: %s\n",
			      yes_no(r->delay_notified), yes_no(r->dsn_sent));
	}
}

/* Prints the header of msg/ID from byte skip up to the blank line, at most
 * CLI_QUEUE_HEADER_MAX bytes. */
static void show_header(FILE *out, struct queue_store *qs, const struct queue_env *env)
{
	char err[PATH_LEN + 256];
	char *buf;
	size_t len = 0;
	int fd = queue_store_open_message(qs, env->id, err, sizeof(err));
	bool ended = false;

	(void)fputs("\nheader:\n", out);
	if (fd < 0) {
		(void)fputs("(", out);
		put_str(out, err);
		(void)fputs(")\n", out);
		return;
	}
	buf = xmalloc(CLI_QUEUE_HEADER_MAX);
	while (len < CLI_QUEUE_HEADER_MAX) {
		ssize_t r = pread(fd, buf + len, CLI_QUEUE_HEADER_MAX - len,
				  (off_t)(env->skip + len));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	(void)close(fd);
	for (size_t p = 0; p < len;) {
		const char *nl = memchr(buf + p, '\n', len - p);
		size_t l = nl != NULL ? (size_t)(nl - (buf + p)) : len - p;
		size_t shown = l;

		if (shown > 0 && buf[p + shown - 1] == '\r')
			shown--;
		if (shown == 0 && nl != NULL) {
			ended = true;
			break;
		}
		if (nl == NULL && len == CLI_QUEUE_HEADER_MAX)
			break; /* a line cut by the bound */
		/* Tabs of folded lines stay; other controls are escaped. */
		for (size_t i = 0; i < shown; i++) {
			if (buf[p + i] == '\t')
				(void)fputc('\t', out);
			else
				put_text(out, buf + p + i, 1);
		}
		(void)fputc('\n', out);
		p += l + (nl != NULL ? 1 : 0);
	}
	if (!ended && len == CLI_QUEUE_HEADER_MAX)
		(void)fprintf(out, "(header longer than %d bytes: cut)\n", CLI_QUEUE_HEADER_MAX);
	free(buf);
}

static int cmd_show(const struct config *cfg, const char *id)
{
	struct queue_store *qs = NULL;
	struct queue_env env;
	char err[PATH_LEN + 256];
	int rc;

	if (!queue_env_is_valid_id(id)) {
		cli_err("queue show: '%.40s' is not a queue id (16 characters of 0-9 A-Z)", id);
		return QCLI_FAIL;
	}
	rc = open_rdonly(cfg->data_dir, &qs);
	if (rc < 0)
		return QCLI_FAIL;
	if (rc == 0 || !env_exists(cfg->data_dir, id)) {
		cli_err("queue show: no message %s in the queue", id);
		queue_store_close(&qs);
		return QCLI_FAIL;
	}
	if (queue_store_read(qs, id, &env, err, sizeof(err)) != 0) {
		cli_err("queue show: %s: unreadable envelope: %s", id, err);
		queue_store_close(&qs);
		return QCLI_FAIL;
	}
	show_envelope(stdout, &env, (int64_t)time(NULL));
	show_header(stdout, qs, &env);
	queue_env_fini(&env);
	queue_store_close(&qs);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_err("standard output: %s", strerror(errno));
		return QCLI_FAIL;
	}
	return QCLI_OK;
}

/* ---- the control socket client ---- */

enum ask_result control_ask(const char *data_dir, const char *cmd, char *reply,
			    size_t reply_size)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char line[QUEUE_CONTROL_LINE_MAX + 2];
	size_t len = 0;
	int fd, n;

	if (queue_control_socket_path(data_dir, sun.sun_path, sizeof(sun.sun_path)) != 0) {
		cli_err("%s/" QUEUE_CONTROL_SOCKET ": path too long", data_dir);
		return ASK_FAILED;
	}
	n = snprintf(line, sizeof(line), "%s\n", cmd);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		cli_err("command too long");
		return ASK_FAILED;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		cli_err("socket: %s", strerror(errno));
		return ASK_FAILED;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		int e = errno;

		(void)close(fd);
		if (e == ENOENT || e == ECONNREFUSED)
			return ASK_NO_SERVER;
		if (e == EACCES)
			cli_err("%s: %s (run as root or as the server's user)", sun.sun_path,
			     strerror(e));
		else
			cli_err("%s: %s", sun.sun_path, strerror(e));
		return ASK_FAILED;
	}
	/* A short line into a fresh unix socket does not block for long;
	 * MSG_NOSIGNAL: a server that goes away is an error, not a signal. */
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
		cli_err("%s: send: %s", sun.sun_path, strerror(errno));
		(void)close(fd);
		return ASK_FAILED;
	}
	while (len + 1 < reply_size) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int pr = poll(&pfd, 1, CONTROL_TIMEOUT_MS);
		ssize_t r;

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			cli_err("%s: %s", sun.sun_path,
			     pr == 0 ? "no answer from the server" : strerror(errno));
			(void)close(fd);
			return ASK_FAILED;
		}
		r = recv(fd, reply + len, reply_size - 1 - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cli_err("%s: %s", sun.sun_path, strerror(errno));
			(void)close(fd);
			return ASK_FAILED;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (memchr(reply, '\n', len) != NULL)
			break;
	}
	(void)close(fd);
	reply[len] = '\0';
	reply[strcspn(reply, "\r\n")] = '\0';
	if (len == 0) {
		cli_err("%s: the server closed the connection without an answer", sun.sun_path);
		return ASK_FAILED;
	}
	return ASK_REPLIED;
}

/* OK text -> stdout, 0; ERR text -> stderr, 1. */
static int report(const char *reply)
{
	if (strncmp(reply, "OK", 2) == 0 && (reply[2] == '\0' || reply[2] == ' ')) {
		(void)printf("%s\n", reply[2] == ' ' ? reply + 3 : "ok");
		return QCLI_OK;
	}
	if (strncmp(reply, "ERR", 3) == 0 && (reply[3] == '\0' || reply[3] == ' ')) {
		cli_err("%s", reply[3] == ' ' ? reply + 4 : "the server refused");
		return QCLI_FAIL;
	}
	cli_err("unexpected answer from the server: %.200s", reply);
	return QCLI_FAIL;
}

static bool is_domain_arg(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-'))
			return false;
	}
	return true;
}

static int cmd_flush(const struct config *cfg, const char *domain)
{
	char cmd[300], reply[QUEUE_CONTROL_MSG_MAX + 16];

	if (domain != NULL && domain[0] == '@')
		domain++; /* "@example.org" as ETRN writes it */
	if (domain != NULL && !is_domain_arg(domain)) {
		cli_err("queue flush: '%.80s' is not a domain name", domain);
		return QCLI_FAIL;
	}
	(void)snprintf(cmd, sizeof(cmd), "FLUSH%s%s", domain != NULL ? " " : "",
		       domain != NULL ? domain : "");
	switch (control_ask(cfg->data_dir, cmd, reply, sizeof(reply))) {
	case ASK_REPLIED:
		return report(reply);
	case ASK_NO_SERVER:
		(void)puts("konvert is not running; the queue is tried when it starts");
		return QCLI_OK;
	case ASK_FAILED:
		break;
	}
	return QCLI_FAIL;
}

/* Sends the TLS reports (RFC 8460) of finished days now; "today" adds
 * today's counts so far. Needs the running server. */
static int cmd_tls_report(const struct config *cfg, const char *arg)
{
	char reply[QUEUE_CONTROL_MSG_MAX + 16];
	if (arg != NULL && strcmp(arg, "today") != 0) {
		cli_err("queue tls-report: the only argument is \"today\"");
		return QCLI_USAGE;
	}
	switch (control_ask(cfg->data_dir, arg != NULL ? "TLSREPORT TODAY" : "TLSREPORT", reply,
			    sizeof(reply))) {
	case ASK_REPLIED:
		return report(reply);
	case ASK_NO_SERVER:
		cli_err("queue tls-report: konvert is not running");
		return QCLI_FAIL;
	case ASK_FAILED:
		break;
	}
	return QCLI_FAIL;
}

/* No server: remove the files here, but only in a queue that exists. */
static int delete_offline(const struct config *cfg, const char *id)
{
	struct queue_store *qs = NULL;
	char err[PATH_LEN + 256];
	int rc = open_rdonly(cfg->data_dir, &qs);

	if (rc < 0)
		return QCLI_FAIL;
	queue_store_close(&qs);
	if (rc == 0 || !env_exists(cfg->data_dir, id)) {
		cli_err("queue delete: no message %s in the queue", id);
		return QCLI_FAIL;
	}
	/* Every directory exists (the read-only open checked), so this open
	 * creates nothing; it only gives write access for the removal. */
	qs = queue_store_open(cfg->data_dir, 0, err, sizeof(err));
	if (qs == NULL) {
		cli_err("%s", err);
		return QCLI_FAIL;
	}
	rc = queue_store_remove(qs, id, err, sizeof(err));
	queue_store_close(&qs);
	if (rc != 0) {
		cli_err("queue delete: %s", err);
		return QCLI_FAIL;
	}
	(void)printf("deleted %s\n", id);
	return QCLI_OK;
}

static int cmd_delete(const struct config *cfg, const char *id)
{
	char cmd[64], reply[QUEUE_CONTROL_MSG_MAX + 16];

	if (!queue_env_is_valid_id(id)) {
		cli_err("queue delete: '%.40s' is not a queue id (16 characters of 0-9 A-Z)", id);
		return QCLI_FAIL;
	}
	(void)snprintf(cmd, sizeof(cmd), "DELETE %s", id);
	switch (control_ask(cfg->data_dir, cmd, reply, sizeof(reply))) {
	case ASK_REPLIED:
		return report(reply);
	case ASK_NO_SERVER:
		return delete_offline(cfg, id);
	case ASK_FAILED:
		break;
	}
	return QCLI_FAIL;
}

/* ---- entry points ---- */

struct queue_verb {
	const char *name;
	int min_args, max_args; /* after the verb */
};

static const struct queue_verb verbs[] = {
	{ "list", 0, 0 },
	{ "show", 1, 1 },
	{ "flush", 0, 1 },
	{ "delete", 1, 1 },
	{ "tls-report", 0, 1 },
};

int cli_queue_main(int argc, char **argv, const char *config_path)
{
	const struct queue_verb *verb = NULL;
	struct config *cfg = NULL;
	int nargs, rc = QCLI_FAIL;

	if (argc < 2) {
		usage(stderr);
		return QCLI_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return QCLI_OK;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(argv[1], verbs[i].name) == 0)
			verb = &verbs[i];
	if (verb == NULL) {
		cli_err("unknown queue command \"%.40s\"", argv[1]);
		usage(stderr);
		return QCLI_USAGE;
	}
	nargs = argc - 2;
	for (int i = 2; i < argc; i++) {
		if (argv[i][0] == '-') {
			cli_err("queue %s: unknown option %.40s", verb->name, argv[i]);
			usage(stderr);
			return QCLI_USAGE;
		}
	}
	if (nargs < verb->min_args || nargs > verb->max_args) {
		cli_err("queue %s: %s", verb->name,
		     nargs < verb->min_args ? "ID missing" : "too many arguments");
		usage(stderr);
		return QCLI_USAGE;
	}
	if (load_config(config_path, &cfg) != 0)
		return QCLI_FAIL;
	if (strcmp(verb->name, "list") == 0)
		rc = cli_queue_list(cfg, stdout);
	else if (strcmp(verb->name, "show") == 0)
		rc = cmd_show(cfg, argv[2]);
	else if (strcmp(verb->name, "flush") == 0)
		rc = cmd_flush(cfg, nargs == 1 ? argv[2] : NULL);
	else if (strcmp(verb->name, "tls-report") == 0)
		rc = cmd_tls_report(cfg, nargs == 1 ? argv[2] : NULL);
	else
		rc = cmd_delete(cfg, argv[2]);
	if (fflush(stdout) != 0 && rc == QCLI_OK) {
		cli_err("standard output: %s", strerror(errno));
		rc = QCLI_FAIL;
	}
	cfg_free(&cfg);
	return rc;
}

int cli_queue_mailq(int argc, char **argv, const char *config_path)
{
	struct config *cfg = NULL;
	int rc;

	(void)argv;
	if (argc > 1) {
		(void)fputs("usage: mailq [-c FILE]\n", stderr);
		return QCLI_USAGE;
	}
	if (load_config(config_path, &cfg) != 0)
		return QCLI_FAIL;
	rc = cli_queue_list(cfg, stdout);
	cfg_free(&cfg);
	return rc;
}
