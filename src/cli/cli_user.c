/* cli_user: the "konvert user" subcommand. Owns argument checking, the
 * password prompt (stdin or /dev/tty without echo) and the
 * load-modify-save cycle of data_dir/users, serialised by an flock on
 * data_dir so that two concurrent runs cannot lose an update. It must not
 * touch mailboxes ("del" only says where the mailbox stays) and must not
 * keep a password in memory longer than needed. */
#include "cli/cli_user.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli_common.h"
#include "cli/cli_queue.h"
#include "queue/queue_control.h"
#include "proto/scram.h"
#include "auth/userdb.h"
#include "config/config.h"
#include "core/alloc.h"
#include "core/limits.h"
#include "core/log.h"

enum { CLI_USER_OK = 0, CLI_USER_FAIL = 1, CLI_USER_USAGE = 2 };

struct user_run {
	const struct config *cfg; /* borrowed */
	char address[SMTP_PATH_MAX]; /* lower case, validated; "" for list */
	bool password_stdin;
	char *users_path; /* owned: data_dir/users */
	struct userdb *db; /* owned */
};

struct user_verb {
	const char *name;
	int (*run)(struct user_run *r);
	bool needs_address;
	bool takes_password;
	bool mutates; /* takes the data_dir lock and saves */
	bool creates_dir; /* creates data_dir when missing */
};

static void usage(FILE *out)
{
	(void)fputs("usage: konvert user add ADDRESS [--password-stdin]\n"
		    "       konvert user passwd ADDRESS [--password-stdin]\n"
		    "       konvert user del ADDRESS\n"
		    "       konvert user list\n",
		    out);
}

static void secret_free(char **pp)
{
	if (*pp == NULL)
		return;
	OPENSSL_cleanse(*pp, strlen(*pp));
	free(*pp);
	*pp = NULL;
}

/* ---- password input ---- */

/* One line of stdin, CR/LF stripped. Returns an owned string or NULL. */
static char *read_password_stdin(void)
{
	char *line = NULL;
	size_t cap = 0;
	errno = 0;
	ssize_t got = getline(&line, &cap, stdin);
	char *pw = NULL;
	if (got < 0) {
		if (ferror(stdin))
			cli_err("reading the password from standard input: %s",
				 strerror(errno ? errno : EIO));
		else
			cli_err("no password on standard input");
		goto out;
	}
	size_t len = (size_t)got;
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (strlen(line) != len) {
		cli_err("the password contains a NUL byte");
		goto out;
	}
	if (len == 0) {
		cli_err("empty password");
		goto out;
	}
	if (len > USERDB_PASSWORD_MAX) {
		cli_err("password longer than %d bytes", USERDB_PASSWORD_MAX);
		goto out;
	}
	pw = xstrdup(line);
out:
	if (line != NULL)
		OPENSSL_cleanse(line, cap);
	free(line);
	return pw;
}

/* A signal while echo is off interrupts read() (no SA_RESTART) so that the
 * terminal is restored before the process goes away. */
static void ignore_signal(int sig)
{
	(void)sig;
}

static const int tty_signals[] = {SIGINT, SIGQUIT, SIGTSTP, SIGHUP, SIGTERM};
#define TTY_SIGNAL_COUNT (sizeof(tty_signals) / sizeof(tty_signals[0]))

/* Prompts on tty_fd and reads one line with echo off. Returns an owned
 * string (possibly empty) or NULL after reporting the error. */
static char *tty_read_line(int tty_fd, const char *prompt)
{
	struct termios old, quiet;
	if (tcgetattr(tty_fd, &old) < 0) {
		cli_err("/dev/tty: %s (use --password-stdin)", strerror(errno));
		return NULL;
	}
	quiet = old;
	quiet.c_lflag &= (tcflag_t) ~(ECHO | ECHOE | ECHOK);
	quiet.c_lflag |= ECHONL;

	struct sigaction sa = {.sa_handler = ignore_signal}, saved[TTY_SIGNAL_COUNT];
	(void)sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < TTY_SIGNAL_COUNT; i++)
		(void)sigaction(tty_signals[i], &sa, &saved[i]); /* cannot fail for these */

	char buf[USERDB_PASSWORD_MAX + 2];
	size_t len = 0;
	bool too_long = false, interrupted = false, eof = false;
	int read_errno = 0;
	if (tcsetattr(tty_fd, TCSAFLUSH, &quiet) < 0) {
		read_errno = errno;
		goto restore;
	}
	if (write(tty_fd, prompt, strlen(prompt)) < 0) {
		read_errno = errno;
		goto restore;
	}
	for (;;) {
		char c;
		ssize_t n = read(tty_fd, &c, 1);
		if (n < 0) {
			if (errno == EINTR)
				interrupted = true;
			else
				read_errno = errno;
			break;
		}
		if (n == 0) {
			eof = true;
			break;
		}
		if (c == '\n')
			break;
		if (len < USERDB_PASSWORD_MAX)
			buf[len++] = c;
		else
			too_long = true;
	}
restore:
	(void)tcsetattr(tty_fd, TCSAFLUSH, &old); /* best effort: nothing else to do */
	for (size_t i = 0; i < TTY_SIGNAL_COUNT; i++)
		(void)sigaction(tty_signals[i], &saved[i], NULL);
	buf[len] = '\0';
	char *pw = NULL;
	if (interrupted || eof) {
		ssize_t w = write(tty_fd, "\n", 1); /* ECHONL never saw a newline */
		(void)w; /* cosmetic only */
	}
	if (interrupted)
		cli_err("interrupted");
	else if (read_errno != 0)
		cli_err("/dev/tty: %s", strerror(read_errno));
	else if (eof && len == 0)
		cli_err("no password given");
	else if (too_long)
		cli_err("password longer than %d bytes", USERDB_PASSWORD_MAX);
	else {
		if (len > 0 && buf[len - 1] == '\r') /* a terminal in raw-ish CRLF mode */
			buf[--len] = '\0';
		pw = xstrdup(buf);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return pw;
}

static char *read_password_tty(const char *address)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		cli_err("/dev/tty: %s (use --password-stdin)", strerror(errno));
		return NULL;
	}
	char prompt[SMTP_PATH_MAX + 32];
	int n = snprintf(prompt, sizeof(prompt), "Password for %s: ", address);
	if (n < 0 || (size_t)n >= sizeof(prompt)) {
		(void)close(fd);
		return NULL;
	}
	char *pw = tty_read_line(fd, prompt);
	char *again = NULL;
	if (pw != NULL && pw[0] == '\0') {
		cli_err("empty password");
		secret_free(&pw);
	}
	if (pw != NULL) {
		again = tty_read_line(fd, "Retype password: ");
		if (again == NULL) {
			secret_free(&pw);
		} else if (strcmp(pw, again) != 0) {
			cli_err("passwords do not match");
			secret_free(&pw);
		}
	}
	secret_free(&again);
	(void)close(fd); /* read-only use of the terminal */
	return pw;
}

static char *read_password(const struct user_run *r)
{
	return r->password_stdin ? read_password_stdin() : read_password_tty(r->address);
}

/* Program-owned fields (the users file's third column on) derived from
 * the password: the SCRAM-SHA-256 keys (RFC 5802/7677) that AUTH
 * SCRAM-SHA-256 needs, since the crypt hash cannot serve it. An owned
 * string, or NULL when they cannot be made. passwd replaces the column
 * (it holds nothing else yet; a later quota field must be carried over). */
static char *user_extra_from_password(const char *address, const char *password)
{
	(void)address;
	char text[SCRAM_CREDS_TEXT_MAX];
	if (scram_make_credentials(password, SCRAM_DEFAULT_ITERATIONS, text, sizeof(text)) != 0)
		return NULL;
	return xstrdup(text);
}

/* Hashes the password read for r; 0 with hash and *extra_out filled. */
static int make_credentials(const struct user_run *r, char hash[USERDB_HASH_MAX],
			    char **extra_out)
{
	char *pw = read_password(r);
	if (pw == NULL)
		return -1;
	int rc = userdb_hash_password(pw, hash, USERDB_HASH_MAX);
	if (rc < 0)
		cli_err("cannot hash the password (crypt_r failed)");
	else
		*extra_out = user_extra_from_password(r->address, pw);
	secret_free(&pw);
	return rc;
}

/* ---- files ---- */

/* mkdir -p with mode 0750 for what it creates. */
static int make_dirs(const char *path)
{
	if (path[0] == '\0') {
		cli_err("data_dir is empty");
		return -1;
	}
	char *p = xstrdup(path);
	int rc = 0;
	for (char *s = p + 1; rc == 0; s++) {
		bool last = *s == '\0';
		if (*s != '/' && !last)
			continue;
		char saved = *s;
		*s = '\0';
		if (mkdir(p, 0750) < 0 && errno != EEXIST) {
			cli_err("%s: %s", p, strerror(errno));
			rc = -1;
		}
		*s = saved;
		if (last)
			break;
	}
	struct stat st;
	if (rc == 0) {
		if (stat(path, &st) < 0) {
			cli_err("%s: %s", path, strerror(errno));
			rc = -1;
		} else if (!S_ISDIR(st.st_mode)) {
			cli_err("%s: not a directory", path);
			rc = -1;
		}
	}
	free(p);
	return rc;
}

/* Takes an exclusive lock on data_dir for the load-modify-save cycle.
 * Returns the descriptor, -1 on error, or -2 when data_dir does not exist
 * and create is false (then there is nothing to lock: no users file). */
static int lock_data_dir(const char *dir, bool create)
{
	if (create && make_dirs(dir) < 0)
		return -1;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT && !create)
			return -2;
		cli_err("%s: %s", dir, strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		cli_err("%s: lock: %s", dir, strerror(errno));
		(void)close(fd);
		return -1;
	}
	return fd;
}

/* A running server takes the change at once (RELOAD over its control
 * socket, as SIGHUP would); the terminal says which happened. */
static void tell_server(const struct user_run *r)
{
	char reply[QUEUE_CONTROL_MSG_MAX + 16];
	switch (control_ask(r->cfg->data_dir, "RELOAD", reply, sizeof(reply))) {
	case ASK_REPLIED:
		if (strncmp(reply, "OK", 2) == 0)
			printf("the running server has the change (%s)\n", reply + 3);
		else
			printf("the running server did not take the change: %s\n", reply);
		break;
	case ASK_NO_SERVER:
		printf("no server is running; it reads the change when it starts\n");
		break;
	case ASK_FAILED:
		printf("the running server was not told; send it SIGHUP\n");
		break;
	}
}

static int save(struct user_run *r)
{
	char err[1024];
	if (userdb_save(r->db, r->users_path, err, sizeof(err)) < 0) {
		cli_err("%s", err);
		return CLI_USER_FAIL;
	}
	tell_server(r);
	return CLI_USER_OK;
}

/* ---- verbs ---- */

static int verb_add(struct user_run *r)
{
	if (userdb_find(r->db, r->address, strlen(r->address)) != NULL) {
		cli_err("user %s already exists", r->address);
		return CLI_USER_FAIL;
	}
	char hash[USERDB_HASH_MAX];
	char *extra = NULL;
	if (make_credentials(r, hash, &extra) < 0)
		return CLI_USER_FAIL;
	int rc = CLI_USER_FAIL;
	if (userdb_add(r->db, r->address, hash, extra) < 0)
		cli_err("cannot add %s", r->address);
	else
		rc = save(r);
	secret_free(&extra);
	return rc;
}

static int verb_passwd(struct user_run *r)
{
	if (userdb_find(r->db, r->address, strlen(r->address)) == NULL) {
		cli_err("no such user %s", r->address);
		return CLI_USER_FAIL;
	}
	char hash[USERDB_HASH_MAX];
	char *extra = NULL;
	if (make_credentials(r, hash, &extra) < 0)
		return CLI_USER_FAIL;
	/* Looked up again: nothing may have moved, but the pointer is only
	 * promised until the next mutation. */
	const struct user_entry *e = userdb_find(r->db, r->address, strlen(r->address));
	int rc = CLI_USER_FAIL;
	if (userdb_set_hash(r->db, r->address, hash, extra != NULL ? extra : e->extra) < 0)
		cli_err("cannot change the password of %s", r->address);
	else
		rc = save(r);
	secret_free(&extra);
	return rc;
}

static int verb_del(struct user_run *r)
{
	if (userdb_remove(r->db, r->address) < 0) {
		cli_err("no such user %s", r->address);
		return CLI_USER_FAIL;
	}
	int rc = save(r);
	if (rc == CLI_USER_OK) {
		const char *at = strchr(r->address, '@');
		printf("removed %s; its mailbox %s/mail/%s/%.*s/ was kept (delete it by hand)\n",
		       r->address, r->cfg->data_dir, at + 1, (int)(at - r->address), r->address);
	}
	return rc;
}

static int verb_list(struct user_run *r)
{
	for (size_t i = 0; i < r->db->count; i++)
		printf("%s\n", r->db->users[i].address);
	return CLI_USER_OK;
}

static const struct user_verb verbs[] = {
	{.name = "add", .run = verb_add, .needs_address = true, .takes_password = true,
	 .mutates = true, .creates_dir = true},
	{.name = "passwd", .run = verb_passwd, .needs_address = true, .takes_password = true,
	 .mutates = true},
	{.name = "del", .run = verb_del, .needs_address = true, .mutates = true},
	{.name = "list", .run = verb_list},
};

/* ---- driver ---- */

static const struct user_verb *find_verb(const char *name)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

/* Checks the address and lower-cases its ASCII letters into r->address
 * (a UTF-8 local part is kept byte for byte: auth/userdb.h); 0 or -1. */
static int set_address(struct user_run *r, const char *arg)
{
	size_t len = strlen(arg);
	const char *why = len >= sizeof(r->address) ? "address longer than 254 bytes"
						    : userdb_address_error(arg, len);
	if (why != NULL) {
		/* Shown as UTF-8 where it is valid, \xNN where not (a
		 * Latin-1 terminal, a stray control byte). */
		char shown[128];
		cli_err("invalid address \"%s\": %s", log_escape_utf8(shown, sizeof(shown), arg, len),
			why);
		return -1;
	}
	for (size_t i = 0; i <= len; i++) {
		char c = arg[i];
		r->address[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	const char *domain = strchr(r->address, '@') + 1;
	if (!cfg_is_local_domain(r->cfg, domain, strlen(domain))) {
		cli_err("unknown domain %s (not in domains of the configuration)", domain);
		return -1;
	}
	return 0;
}

static int load_config(const char *config_path, struct config **cfg_out)
{
	char *errors = NULL;
	if (cfg_load(cfg_default_path(config_path), cfg_out, &errors) == 0)
		return 0;
	if (errors == NULL || errors[0] == '\0') {
		cli_err("cannot load the configuration");
	} else {
		for (char *line = errors; *line != '\0';) {
			char *nl = strchr(line, '\n');
			size_t len = nl ? (size_t)(nl - line) : strlen(line);
			if (len > 0)
				cli_err("%.*s", (int)len, line);
			line += len + (nl ? 1 : 0);
		}
	}
	free(errors);
	return -1;
}

int cli_user_main(int argc, char **argv, const char *config_path)
{
	if (argc < 2) {
		usage(stderr);
		return CLI_USER_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return CLI_USER_OK;
	}
	const struct user_verb *verb = find_verb(argv[1]);
	if (verb == NULL) {
		cli_err("unknown user command \"%s\"", argv[1]);
		usage(stderr);
		return CLI_USER_USAGE;
	}
	const char *address = NULL;
	bool password_stdin = false;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (verb->takes_password && strcmp(a, "--password-stdin") == 0) {
			password_stdin = true;
		} else if (a[0] == '-') {
			cli_err("user %s: unknown option %s", verb->name, a);
			usage(stderr);
			return CLI_USER_USAGE;
		} else if (verb->needs_address && address == NULL) {
			address = a;
		} else {
			cli_err("user %s: unexpected argument %s", verb->name, a);
			usage(stderr);
			return CLI_USER_USAGE;
		}
	}
	if (verb->needs_address && address == NULL) {
		cli_err("user %s: ADDRESS missing", verb->name);
		usage(stderr);
		return CLI_USER_USAGE;
	}

	struct config *cfg = NULL;
	if (load_config(config_path, &cfg) < 0)
		return CLI_USER_FAIL;
	struct user_run r = {.cfg = cfg, .password_stdin = password_stdin};
	int rc = CLI_USER_FAIL;
	int lock_fd = -1;
	if (address != NULL && set_address(&r, address) < 0)
		goto out;
	size_t path_size = strlen(cfg->data_dir) + sizeof("/users");
	r.users_path = xmalloc(path_size);
	int n = snprintf(r.users_path, path_size, "%s/users", cfg->data_dir);
	if (n < 0 || (size_t)n >= path_size)
		goto out;
	if (verb->mutates) {
		lock_fd = lock_data_dir(cfg->data_dir, verb->creates_dir);
		if (lock_fd == -1)
			goto out;
	}
	char err[1024];
	if (userdb_load(r.users_path, &r.db, err, sizeof(err)) < 0) {
		cli_err("%s", err);
		goto out;
	}
	rc = verb->run(&r);
	if (fflush(stdout) != 0 && rc == CLI_USER_OK) {
		cli_err("standard output: %s", strerror(errno));
		rc = CLI_USER_FAIL;
	}
out:
	if (lock_fd >= 0)
		(void)close(lock_fd); /* releases the flock */
	userdb_free(&r.db);
	free(r.users_path);
	cfg_free(&cfg);
	return rc;
}
