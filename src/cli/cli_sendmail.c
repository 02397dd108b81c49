/* cli_sendmail: reads a message from standard input and submits it to the
 * running server over its local socket with ordinary SMTP. It owns the
 * message buffer and the socket; it never writes into data_dir itself, so
 * it needs no privilege beyond reaching the socket. */
#include "cli/cli_sendmail.h"

#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_queue.h"
#include "config/config.h"
#include "core/alloc.h"
#include "core/safefile.h"
#include "core/id.h"
#include "proto/dot.h"
#include "proto/rfc5322.h"

#define SENDMAIL_RCPT_MAX 1000
#define SENDMAIL_ADDR_MAX 256
#define SENDMAIL_REPLY_MAX 4096

struct sendmail {
	const struct config *cfg; /* borrowed */
	bool extract; /* -t */
	bool ignore_dots; /* -i */
	bool smtp_stdin; /* -bs */
	const char *sender; /* -f, or NULL */
	const char *fullname; /* -F, or NULL */
	const char *notify; /* -N */
	const char *ret; /* -R */
	const char *envid; /* -V */
	char *rcpts[SENDMAIL_RCPT_MAX]; /* owned strings */
	size_t rcpt_count;
	char *msg; /* owned, stored form (LF) */
	size_t msg_len, msg_cap;
	int fd; /* socket */
	FILE *in; /* owned, reads replies from fd (a dup) */
};

int cli_sendmail_socket_path(const char *data_dir, char *out, size_t out_size)
{
	int n = snprintf(out, out_size, "%s/public/submit.sock", data_dir);
	return (n < 0 || (size_t)n >= out_size) ? -1 : 0;
}

static void usage(void)
{
	fputs("usage: sendmail [-t] [-i] [-f SENDER] [-F NAME] [-N NOTIFY] [-R RET] [-V ENVID] "
	      "[RCPT ...]\n"
	      "       sendmail -bs | -bp\n",
	      stderr);
}

/* The domain for names without '@' (cron's "root"): hostname when it is
 * local, else the first local domain, so such mail stays here. */
static const char *home_domain(const struct config *cfg)
{
	return cfg_is_local_domain(cfg, cfg->hostname, strlen(cfg->hostname)) ? cfg->hostname
									      : cfg->domains[0];
}

static int add_rcpt(struct sendmail *sm, const char *addr, size_t len)
{
	if (len == 0 || len >= SENDMAIL_ADDR_MAX || memchr(addr, '\n', len) != NULL ||
	    memchr(addr, '\r', len) != NULL || memchr(addr, '\0', len) != NULL ||
	    memchr(addr, '<', len) != NULL || memchr(addr, '>', len) != NULL) {
		fprintf(stderr, "sendmail: bad recipient address '%.*s'\n", (int)(len > 80 ? 80 : len),
			addr);
		return -1;
	}
	if (sm->rcpt_count == SENDMAIL_RCPT_MAX) {
		fprintf(stderr, "sendmail: more than %d recipients\n", SENDMAIL_RCPT_MAX);
		return -1;
	}
	char buf[SENDMAIL_ADDR_MAX + 256];
	if (memchr(addr, '@', len) == NULL)
		(void)snprintf(buf, sizeof(buf), "%.*s@%s", (int)len, addr, home_domain(sm->cfg));
	else
		(void)snprintf(buf, sizeof(buf), "%.*s", (int)len, addr);
	for (size_t i = 0; i < sm->rcpt_count; i++)
		if (strcmp(sm->rcpts[i], buf) == 0)
			return 0;
	sm->rcpts[sm->rcpt_count++] = xstrdup(buf);
	return 0;
}

static bool header_rcpt_cb(void *arg, const char *addr, size_t len)
{
	struct sendmail *sm = arg;
	return add_rcpt(sm, addr, len) == 0;
}

/* Reads the message; without -i a line of a single "." ends it. */
static int read_message(struct sendmail *sm, FILE *f)
{
	uint64_t max = sm->cfg->max_message_size + 65536;
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	while ((got = getline(&line, &cap, f)) > 0) {
		size_t n = (size_t)got;
		if (!sm->ignore_dots && ((n == 2 && memcmp(line, ".\n", 2) == 0) ||
					 (n == 3 && memcmp(line, ".\r\n", 3) == 0)))
			break;
		/* CRLF from a Windows-made file is a line end, like LF. */
		if (n >= 2 && line[n - 2] == '\r' && line[n - 1] == '\n') {
			line[n - 2] = '\n';
			n--;
		}
		if (sm->msg_len + n > max) {
			free(line);
			fprintf(stderr, "sendmail: message larger than max_message_size (%llu)\n",
				(unsigned long long)sm->cfg->max_message_size);
			return EX_DATAERR;
		}
		if (sm->msg_len + n + 1 > sm->msg_cap) {
			sm->msg_cap = (sm->msg_len + n + 1) * 2;
			sm->msg = xrealloc(sm->msg, sm->msg_cap);
		}
		memcpy(sm->msg + sm->msg_len, line, n);
		sm->msg_len += n;
	}
	bool err = ferror(f);
	free(line);
	if (err) {
		fprintf(stderr, "sendmail: reading the message: %s\n", strerror(errno));
		return EX_IOERR;
	}
	if (sm->msg_len > 0 && sm->msg[sm->msg_len - 1] != '\n') {
		if (sm->msg_len + 2 > sm->msg_cap) {
			sm->msg_cap = sm->msg_len + 2;
			sm->msg = xrealloc(sm->msg, sm->msg_cap);
		}
		sm->msg[sm->msg_len++] = '\n';
	}
	return 0;
}

/* Inserts text at offset at of the message. */
static void insert_text(struct sendmail *sm, size_t at, const char *text)
{
	size_t n = strlen(text);
	if (sm->msg_len + n + 1 > sm->msg_cap) {
		sm->msg_cap = sm->msg_len + n + 1;
		sm->msg = xrealloc(sm->msg, sm->msg_cap);
	}
	memmove(sm->msg + at + n, sm->msg + at, sm->msg_len - at);
	memcpy(sm->msg + at, text, n);
	sm->msg_len += n;
}

/* -t: recipients from To, Cc, Bcc (RFC 5322 3.6.3); Bcc fields removed.
 * Also notes which origin fields exist. */
static int scan_header(struct sendmail *sm, bool *has_from, bool *has_date, bool *has_msgid)
{
	size_t hend = rfc5322_header_end(sm->msg, sm->msg_len);
	size_t pos = 0, fs, fe, nl, vl;
	const char *name, *val;
	while (rfc5322_next_field(sm->msg, hend, &pos, &name, &nl, &val, &vl, &fs, &fe)) {
		if (rfc5322_name_is(name, nl, "From"))
			*has_from = true;
		else if (rfc5322_name_is(name, nl, "Date"))
			*has_date = true;
		else if (rfc5322_name_is(name, nl, "Message-ID"))
			*has_msgid = true;
		bool bcc = rfc5322_name_is(name, nl, "Bcc");
		if (sm->extract && (bcc || rfc5322_name_is(name, nl, "To") ||
				    rfc5322_name_is(name, nl, "Cc"))) {
			if (rfc5322_addresses(val, vl, SENDMAIL_ADDR_MAX - 1, header_rcpt_cb, sm) < 0) {
				fprintf(stderr, "sendmail: cannot parse the %.*s header\n", (int)nl,
					name);
				return EX_DATAERR;
			}
		}
		if (bcc) {
			/* Blind copies stay blind: the field never leaves. */
			memmove(sm->msg + fs, sm->msg + fe, sm->msg_len - fe);
			sm->msg_len -= fe - fs;
			hend -= fe - fs;
			pos = fs;
		}
	}
	return 0;
}

static void add_origin_fields(struct sendmail *sm, const char *sender, bool has_from,
			      bool has_date, bool has_msgid)
{
	char hdr[1024];
	size_t n = 0;
	hdr[0] = '\0';
	if (!has_from) {
		if (sm->fullname != NULL && strpbrk(sm->fullname, "\r\n\"\\") == NULL)
			n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, "From: \"%s\" <%s>\n",
					      sm->fullname, sender);
		else
			n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, "From: %s\n", sender);
	}
	if (!has_date && n < sizeof(hdr)) {
		char date[64];
		time_t now = time(NULL);
		struct tm tm;
		(void)localtime_r(&now, &tm);
		(void)strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
		n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, "Date: %s\n", date);
	}
	if (!has_msgid && n < sizeof(hdr)) {
		char id[ID_LEN + 1];
		id_new(id);
		n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, "Message-ID: <%s@%s>\n", id,
				      sm->cfg->hostname);
	}
	if (n > 0 && n < sizeof(hdr))
		insert_text(sm, 0, hdr);
}

/* ---- SMTP over the local socket ---- */

static int connect_server(struct sendmail *sm)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (cli_sendmail_socket_path(sm->cfg->data_dir, sun.sun_path, sizeof(sun.sun_path)) != 0) {
		fprintf(stderr, "sendmail: data_dir path too long for a socket\n");
		return EX_SOFTWARE;
	}
	sm->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sm->fd < 0 || connect(sm->fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		fprintf(stderr, "sendmail: cannot reach the konvert server at %s: %s (is it running?)\n",
			sun.sun_path, strerror(errno));
		return EX_TEMPFAIL;
	}
	int dfd = dup(sm->fd);
	sm->in = dfd >= 0 ? fdopen(dfd, "r") : NULL;
	if (sm->in == NULL) {
		fprintf(stderr, "sendmail: %s\n", strerror(errno));
		return EX_OSERR;
	}
	return 0;
}

static int send_cmd(struct sendmail *sm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int send_cmd(struct sendmail *sm, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf) - 2)
		return -1;
	buf[n++] = '\r';
	buf[n++] = '\n';
	return safefile_write_all(sm->fd, buf, (size_t)n);
}

/* Reads one (possibly multi-line) reply; returns its code (or -1) and the
 * last line's text in text. */
static int read_reply(struct sendmail *sm, char *text, size_t text_size)
{
	char line[SENDMAIL_REPLY_MAX];
	for (int lines = 0; lines < 100; lines++) {
		if (fgets(line, sizeof(line), sm->in) == NULL)
			return -1;
		size_t n = strcspn(line, "\r\n");
		line[n] = '\0';
		if (n < 3 || line[0] < '2' || line[0] > '5')
			return -1;
		(void)snprintf(text, text_size, "%s", line);
		if (n == 3 || line[3] == ' ')
			return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (line[3] != '-')
			return -1;
	}
	return -1;
}

static bool has_8bit(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return true;
	return false;
}

static int lost(void)
{
	fprintf(stderr, "sendmail: the server closed the connection\n");
	return EX_TEMPFAIL;
}

static int submit(struct sendmail *sm, const char *sender)
{
	char text[SENDMAIL_REPLY_MAX];
	int code = read_reply(sm, text, sizeof(text));
	if (code != 220) {
		fprintf(stderr, "sendmail: server not ready: %s\n", code < 0 ? "no greeting" : text);
		return EX_TEMPFAIL;
	}
	if (send_cmd(sm, "EHLO localhost") != 0 || read_reply(sm, text, sizeof(text)) != 250)
		return lost();
	bool utf8 = has_8bit(sender, strlen(sender));
	for (size_t i = 0; i < sm->rcpt_count; i++)
		utf8 = utf8 || has_8bit(sm->rcpts[i], strlen(sm->rcpts[i]));
	char params[256] = "";
	size_t pn = 0;
	if (has_8bit(sm->msg, sm->msg_len))
		pn += (size_t)snprintf(params + pn, sizeof(params) - pn, " BODY=8BITMIME");
	if (utf8)
		pn += (size_t)snprintf(params + pn, sizeof(params) - pn, " SMTPUTF8");
	if (sm->ret != NULL && pn < sizeof(params))
		pn += (size_t)snprintf(params + pn, sizeof(params) - pn, " RET=%s", sm->ret);
	if (sm->envid != NULL && pn < sizeof(params))
		pn += (size_t)snprintf(params + pn, sizeof(params) - pn, " ENVID=%s", sm->envid);
	if (pn >= sizeof(params) || send_cmd(sm, "MAIL FROM:<%s>%s", sender, params) != 0)
		return EX_USAGE;
	code = read_reply(sm, text, sizeof(text));
	if (code < 0)
		return lost();
	if (code != 250) {
		fprintf(stderr, "sendmail: sender <%s> refused: %s\n", sender, text);
		return code >= 500 ? EX_DATAERR : EX_TEMPFAIL;
	}
	size_t accepted = 0, perm = 0, temp = 0;
	for (size_t i = 0; i < sm->rcpt_count; i++) {
		int rc = sm->notify != NULL
				 ? send_cmd(sm, "RCPT TO:<%s> NOTIFY=%s", sm->rcpts[i], sm->notify)
				 : send_cmd(sm, "RCPT TO:<%s>", sm->rcpts[i]);
		if (rc != 0)
			return EX_USAGE;
		code = read_reply(sm, text, sizeof(text));
		if (code < 0)
			return lost();
		if (code == 250 || code == 251) {
			accepted++;
			continue;
		}
		fprintf(stderr, "sendmail: recipient <%s> refused: %s\n", sm->rcpts[i], text);
		if (code >= 500)
			perm++;
		else
			temp++;
	}
	if (accepted == 0) {
		(void)send_cmd(sm, "QUIT");
		return temp > 0 ? EX_TEMPFAIL : EX_NOUSER;
	}
	if (send_cmd(sm, "DATA") != 0)
		return lost();
	code = read_reply(sm, text, sizeof(text));
	if (code != 354) {
		fprintf(stderr, "sendmail: DATA refused: %s\n", code < 0 ? "connection lost" : text);
		return code >= 500 ? EX_DATAERR : EX_TEMPFAIL;
	}
	struct dot_encoder enc;
	dot_encoder_init(&enc);
	char *wire = xmalloc(2 * 65536 + 8);
	int wrc = 0;
	for (size_t off = 0; off < sm->msg_len && wrc == 0;) {
		size_t chunk = sm->msg_len - off < 65536 ? sm->msg_len - off : 65536;
		size_t n = dot_encoder_feed(&enc, sm->msg + off, chunk, wire);
		wrc = safefile_write_all(sm->fd, wire, n);
		off += chunk;
	}
	size_t n = dot_encoder_finish(&enc, wire);
	if (wrc == 0)
		wrc = safefile_write_all(sm->fd, wire, n);
	free(wire);
	if (wrc != 0)
		return lost();
	code = read_reply(sm, text, sizeof(text));
	if (code < 0)
		return lost();
	(void)send_cmd(sm, "QUIT");
	if (code != 250) {
		fprintf(stderr, "sendmail: message refused: %s\n", text);
		return code >= 500 ? EX_DATAERR : EX_TEMPFAIL;
	}
	/* Delivered to the accepted recipients; refused ones were named. */
	return perm + temp > 0 ? (temp > 0 ? EX_TEMPFAIL : EX_NOUSER) : EX_OK;
}

/* -bs: the caller speaks SMTP itself; we only carry the bytes. */
static int relay_stdio(struct sendmail *sm)
{
	struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = sm->fd, .events = POLLIN}};
	char buf[16384];
	bool stdin_open = true;
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return EX_OSERR;
		}
		if (stdin_open && (p[0].revents & (POLLIN | POLLHUP))) {
			ssize_t r = read(0, buf, sizeof(buf));
			if (r <= 0) {
				stdin_open = false;
				p[0].fd = -1;
				(void)shutdown(sm->fd, SHUT_WR);
			} else if (safefile_write_all(sm->fd, buf, (size_t)r) != 0) {
				return EX_IOERR;
			}
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = read(sm->fd, buf, sizeof(buf));
			if (r <= 0)
				return EX_OK;
			if (safefile_write_all(1, buf, (size_t)r) != 0)
				return EX_IOERR;
		}
	}
}

/* Takes the value of an option: "-fADDR" or "-f ADDR". */
static const char *opt_value(int argc, char **argv, int *i)
{
	if (argv[*i][2] != '\0')
		return argv[*i] + 2;
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

static int parse_args(struct sendmail *sm, int argc, char **argv, int *first_rcpt,
		      bool *list_queue)
{
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		switch (a[1]) {
		case 't':
			sm->extract = true;
			break;
		case 'i':
			sm->ignore_dots = true;
			break;
		case 'o':
			if (strcmp(a, "-oi") == 0)
				sm->ignore_dots = true;
			/* -odb, -oem, -oQ...: sendmail 8 tuning, no meaning here. */
			break;
		case 'f':
		case 'r':
			sm->sender = opt_value(argc, argv, &i);
			if (sm->sender == NULL)
				return EX_USAGE;
			break;
		case 'F':
			sm->fullname = opt_value(argc, argv, &i);
			if (sm->fullname == NULL)
				return EX_USAGE;
			break;
		case 'N':
			sm->notify = opt_value(argc, argv, &i);
			if (sm->notify == NULL || strpbrk(sm->notify, " \r\n") != NULL)
				return EX_USAGE;
			break;
		case 'R':
			sm->ret = opt_value(argc, argv, &i);
			if (sm->ret == NULL || strpbrk(sm->ret, " \r\n") != NULL)
				return EX_USAGE;
			break;
		case 'V':
			sm->envid = opt_value(argc, argv, &i);
			if (sm->envid == NULL || strpbrk(sm->envid, " \r\n") != NULL)
				return EX_USAGE;
			break;
		case 'b':
			if (strcmp(a, "-bs") == 0)
				sm->smtp_stdin = true;
			else if (strcmp(a, "-bp") == 0)
				*list_queue = true;
			else if (strcmp(a, "-bm") != 0) {
				fprintf(stderr, "sendmail: mode %s is not supported\n", a);
				return EX_USAGE;
			}
			break;
		case 'v':
		case 'U':
			break;
		case 'B':
			if (a[2] == '\0' && i + 1 < argc)
				i++;
			break;
		default:
			fprintf(stderr, "sendmail: unknown option %s\n", a);
			usage();
			return EX_USAGE;
		}
	}
	*first_rcpt = i;
	return 0;
}

int cli_sendmail_main(int argc, char **argv, const char *config_path)
{
	struct sendmail sm;
	memset(&sm, 0, sizeof(sm));
	sm.fd = -1;
	int first_rcpt = argc;
	bool list_queue = false;
	int rc = parse_args(&sm, argc, argv, &first_rcpt, &list_queue);
	if (rc != 0)
		return rc;
	struct config *cfg = NULL;
	char *errors = NULL;
	if (cfg_load(cfg_default_path(config_path), &cfg, &errors) != 0) {
		fprintf(stderr, "%s\n", errors ? errors : "sendmail: configuration error");
		free(errors);
		return EX_CONFIG;
	}
	sm.cfg = cfg;
	if (list_queue) {
		/* -bp is mailq: the same list and the same status. */
		rc = cli_queue_list(cfg, stdout);
		goto out;
	}
	if (sm.smtp_stdin) {
		rc = connect_server(&sm);
		if (rc == 0)
			rc = relay_stdio(&sm);
		goto out;
	}
	for (int i = first_rcpt; i < argc; i++) {
		if (add_rcpt(&sm, argv[i], strlen(argv[i])) != 0) {
			rc = EX_USAGE;
			goto out;
		}
	}
	rc = read_message(&sm, stdin);
	if (rc != 0)
		goto out;
	bool has_from = false, has_date = false, has_msgid = false;
	rc = scan_header(&sm, &has_from, &has_date, &has_msgid);
	if (rc != 0)
		goto out;
	if (sm.rcpt_count == 0) {
		fputs("sendmail: no recipients (give them as arguments or use -t)\n", stderr);
		rc = EX_USAGE;
		goto out;
	}
	char sender[SENDMAIL_ADDR_MAX + 256];
	if (sm.sender != NULL) {
		if (strcmp(sm.sender, "<>") == 0 || sm.sender[0] == '\0')
			sender[0] = '\0';
		else if (strchr(sm.sender, '@') == NULL)
			(void)snprintf(sender, sizeof(sender), "%s@%s", sm.sender, home_domain(cfg));
		else
			(void)snprintf(sender, sizeof(sender), "%s", sm.sender);
	} else {
		struct passwd *pw = getpwuid(getuid());
		(void)snprintf(sender, sizeof(sender), "%s@%s", pw ? pw->pw_name : "nobody",
			       home_domain(cfg));
	}
	if (strpbrk(sender, "<>\r\n ") != NULL) {
		fprintf(stderr, "sendmail: bad sender address\n");
		rc = EX_USAGE;
		goto out;
	}
	add_origin_fields(&sm, sender[0] ? sender : "MAILER-DAEMON", has_from, has_date,
			  has_msgid);
	rc = connect_server(&sm);
	if (rc == 0)
		rc = submit(&sm, sender);
out:
	if (sm.in != NULL)
		(void)fclose(sm.in);
	if (sm.fd >= 0)
		(void)close(sm.fd);
	for (size_t i = 0; i < sm.rcpt_count; i++)
		free(sm.rcpts[i]);
	free(sm.msg);
	cfg_free(&cfg);
	return rc;
}
