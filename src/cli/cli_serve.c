/* cli_serve: wires the server together: loads the configuration, users and
 * aliases, prepares data_dir, binds every listener, drops root privileges,
 * starts the worker pool and runs the event loop until SIGTERM/SIGINT.
 * SIGHUP swaps in freshly loaded users and aliases. It owns every
 * process-wide object; protocol sessions borrow them. */
#include "cli/cli_serve.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <grp.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "auth/aliases.h"
#include "auth/authn.h"
#include "auth/userdb.h"
#include "cli/cli_preflight.h"
#include "cli/cli_relay.h"
#include "cli/cli_sendmail.h"
#include "cli/cli_shard.h"
#include "config/config.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/safefile.h"
#include "core/worker.h"
#include "delivery/intake.h"
#include "delivery/signing.h"
#include "trust/authcheck_dns.h"
#include "trust/psl.h"
#include "net/listener.h"
#include "net/metrics_http.h"
#include "net/tls.h"
#include "pop2/pop2_session.h"
#include "pop3/pop3_session.h"
#include "smtp/smtp_session.h"
#include "store/maildir.h"

/* Debian's publicsuffix package. */
#define KONVERT_PSL_PATH "/usr/share/publicsuffix/public_suffix_list.dat"
/* fsync-bound work: threads mostly wait on the disk, not the CPU. */
#define SERVE_WORKER_THREADS 8
/* yescrypt is CPU-bound: about one thread per core. */
#define SERVE_AUTH_THREADS 2
#define SERVE_MAX_LISTENERS 64
/* How long SIGTERM waits for open sessions before exiting anyway. */
#define SERVE_DRAIN_MS 2000

#define SERVE_SRS_KEY_LEN 32

struct serve;

enum serve_proto { SERVE_SMTP = SHARD_SMTP, SERVE_POP3 = SHARD_POP3, SERVE_POP2 = SHARD_POP2 };

struct serve_listener {
	struct serve *sv; /* borrowed */
	struct listener *l; /* owned; NULL: a free slot (closed by a reload) */
	enum serve_proto proto;
	int kind; /* enum smtp_listener_kind or enum pop3_listener_kind */
	const char *name; /* "smtp", "pop3s"... (static) */
	char text[80]; /* the address as configured */
};

/* Retired configurations are kept until exit: outbound connections and
 * queue policies may still borrow their strings. */
#define SERVE_RETIRED_MAX 64

struct serve {
	struct config *cfg; /* owned */
	const char *conf_path; /* the file SIGHUP re-reads; NULL: built-in defaults */
	struct config *retired[SERVE_RETIRED_MAX]; /* owned */
	size_t nretired;
	struct loop *main_loop; /* owned: the main thread's loop (shard 0) */
	struct event_base *base; /* main_loop's */
	struct shard_set *shards; /* owned: the sessions, one loop per core */
	struct worker_pool *workers; /* owned: fsync and mailbox jobs */
	/* owned: password hashing. Kept apart so that a crowd of login
	 * attempts cannot delay mail commits behind yescrypt. */
	struct worker_pool *auth_workers;
	struct sesslimit *limits; /* owned */
	struct userdb *users; /* owned, current snapshot */
	struct aliases *aliases; /* owned, current snapshot */
	struct tls_server *tls; /* owned reference, current context */
	struct authn *authn; /* owned */
	struct relay *relay; /* owned: queue, scheduler, remote delivery */
	struct signing *signing; /* owned: DKIM keys, NULL when dkim_sign = no */
	unsigned char srs_secret[SERVE_SRS_KEY_LEN]; /* data_dir/srs.key */
	struct psl *psl; /* owned: the public suffix list for DMARC */
	struct serve_listener listeners[SERVE_MAX_LISTENERS];
	size_t listener_count;
	struct event *sig_term, *sig_int, *sig_hup; /* owned */
	struct event *drain_timer; /* owned */
	struct metrics_http *metrics; /* owned; NULL: metrics_listen off */
	unsigned drain_ms;
	bool stopping;
};

static int load_directory(const struct config *cfg, struct userdb **users, struct aliases **aliases,
			  char *err, size_t err_size)
{
	char path[4096];
	(void)snprintf(path, sizeof(path), "%s/users", cfg->data_dir);
	if (userdb_load(path, users, err, err_size) != 0)
		return -1;
	(void)snprintf(path, sizeof(path), "%s/aliases", cfg->data_dir);
	if (aliases_load(path, aliases, err, err_size) != 0) {
		userdb_free(users);
		return -1;
	}
	return 0;
}

/* One log line per entry that loaded but is partly unusable. */
static void log_directory_warnings(const struct userdb *users)
{
	const char *p = users->warnings;
	while (p != NULL && *p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		log_warn(NULL, "event=users-warning error=\"%.*s\"", (int)n, p);
		p += n + (nl ? 1 : 0);
	}
}

static void log_postmaster(const struct config *cfg, const struct userdb *users,
			   const struct aliases *aliases)
{
	char warn[1024];
	preflight_postmaster(cfg, users, aliases, warn, sizeof(warn));
	if (warn[0] != '\0')
		log_warn(NULL, "event=postmaster warning=\"%s\"", warn);
}

static void on_accept(int fd, const struct sockaddr *peer, socklen_t peer_len, bool allowed,
		      void *arg)
{
	struct serve_listener *sl = arg;
	shard_accept(sl->sv->shards, (enum shard_proto)sl->proto, sl->kind, fd, peer, peer_len,
		     allowed);
}

/* Opens one address into a free slot (one a reload closed) or a new one. */
static int open_one(struct serve *sv, const struct cfg_listen *item, enum serve_proto proto,
		    int kind, const char *name)
{
	struct serve_listener *sl = NULL;
	for (size_t i = 0; i < sv->listener_count && sl == NULL; i++)
		if (sv->listeners[i].l == NULL && sv->listeners[i].name != NULL)
			sl = &sv->listeners[i];
	if (sl == NULL) {
		if (sv->listener_count == SERVE_MAX_LISTENERS) {
			log_error(NULL, "event=listen error=\"too many listen addresses\"");
			return -1;
		}
		sl = &sv->listeners[sv->listener_count++];
	}
	sl->sv = sv;
	sl->proto = proto;
	sl->kind = kind;
	sl->name = name;
	(void)snprintf(sl->text, sizeof(sl->text), "%s", item->text);
	char err[256];
	sl->l = listener_new(sv->base, (const struct sockaddr *)&item->addr, item->addr_len,
			     sv->limits, on_accept, sl, err, sizeof(err));
	if (sl->l == NULL) {
		log_error(NULL, "event=listen listener=%s addr=%s error=\"%s\"", name, item->text,
			  err);
		return -1;
	}
	log_info(NULL, "event=listen listener=%s addr=%s", name, item->text);
	return 0;
}

static int open_listeners(struct serve *sv, const struct cfg_listen_list *list,
			  enum serve_proto proto, int kind, const char *name)
{
	for (size_t i = 0; i < list->count; i++)
		if (open_one(sv, &list->items[i], proto, kind, name) != 0)
			return -1;
	return 0;
}

/* The network listeners a configuration names, for start and reload. */
static const struct {
	size_t off;
	enum serve_proto proto;
	int kind;
	const char *name;
} listen_keys[] = {
	{offsetof(struct config, smtp_listen), SERVE_SMTP, SMTP_LISTENER_MTA, "smtp"},
	{offsetof(struct config, submission_listen), SERVE_SMTP, SMTP_LISTENER_SUBMISSION,
	 "submission"},
	{offsetof(struct config, smtps_listen), SERVE_SMTP, SMTP_LISTENER_SMTPS, "smtps"},
	{offsetof(struct config, pop3_listen), SERVE_POP3, POP3_LISTENER_PLAIN, "pop3"},
	{offsetof(struct config, pop3s_listen), SERVE_POP3, POP3_LISTENER_TLS, "pop3s"},
	{offsetof(struct config, pop2_listen), SERVE_POP2, 0, "pop2"},
};

static const struct cfg_listen_list *listen_list(const struct config *cfg, size_t k)
{
	return (const struct cfg_listen_list *)((const char *)cfg + listen_keys[k].off);
}

/* A reload: listeners whose address left the configuration close (their
 * sessions go on), new addresses open. An address that cannot be bound
 * now (a port below 1024 after the privilege drop) is logged. */
static void reconcile_listeners(struct serve *sv, const struct config *next)
{
	for (size_t k = 0; k < sizeof(listen_keys) / sizeof(listen_keys[0]); k++) {
		const struct cfg_listen_list *want = listen_list(next, k);
		for (size_t i = 0; i < sv->listener_count; i++) {
			struct serve_listener *sl = &sv->listeners[i];
			if (sl->l == NULL || sl->name == NULL ||
			    strcmp(sl->name, listen_keys[k].name) != 0)
				continue;
			bool keep = false;
			for (size_t j = 0; j < want->count && !keep; j++)
				keep = strcmp(want->items[j].text, sl->text) == 0;
			if (!keep) {
				listener_free(&sl->l);
				log_info(NULL, "event=listen-closed listener=%s addr=%s", sl->name,
					 sl->text);
			}
		}
		for (size_t j = 0; j < want->count; j++) {
			bool open = false;
			for (size_t i = 0; i < sv->listener_count && !open; i++) {
				const struct serve_listener *sl = &sv->listeners[i];
				open = sl->l != NULL && sl->name != NULL &&
				       strcmp(sl->name, listen_keys[k].name) == 0 &&
				       strcmp(sl->text, want->items[j].text) == 0;
			}
			if (!open)
				(void)open_one(sv, &want->items[j], listen_keys[k].proto,
					       listen_keys[k].kind, listen_keys[k].name);
		}
	}
}

/* data_dir/public/submit.sock: local submission for "konvert sendmail".
 * Made by the unprivileged server; any local user may connect (mode
 * 0666, data_dir 0751, public/ 0755), as any local user may run
 * sendmail. A stale socket is replaced, anything else there is refused. */
static int open_local_listener(struct serve *sv)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (cli_sendmail_socket_path(sv->cfg->data_dir, sun.sun_path, sizeof(sun.sun_path)) != 0) {
		log_warn(NULL, "event=listen listener=local warning=\"data_dir path too long for a socket: sendmail cannot reach this server\"");
		return 0;
	}
	struct stat st;
	if (lstat(sun.sun_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error(NULL, "event=listen listener=local error=\"%s exists and is not a socket\"",
				  sun.sun_path);
			return -1;
		}
		(void)unlink(sun.sun_path);
	}
	if (sv->listener_count == SERVE_MAX_LISTENERS)
		return -1;
	struct serve_listener *sl = &sv->listeners[sv->listener_count];
	sl->sv = sv;
	sl->proto = SERVE_SMTP;
	sl->kind = SMTP_LISTENER_LOCAL;
	sl->name = NULL; /* never closed or reused by a reload */
	char err[256];
	sl->l = listener_new(sv->base, (const struct sockaddr *)&sun, sizeof(sun), sv->limits,
			     on_accept, sl, err, sizeof(err));
	if (sl->l == NULL) {
		log_error(NULL, "event=listen listener=local addr=%s error=\"%s\"", sun.sun_path, err);
		return -1;
	}
	(void)chmod(sun.sun_path, 0666);
	sv->listener_count++;
	log_info(NULL, "event=listen listener=local addr=%s", sun.sun_path);
	return 0;
}

/* Before each scrape, on the loop thread. */
static void metrics_refresh(void *arg)
{
	struct serve *sv = arg;
	metrics_set_worker_backlog(METRICS_POOL_MAIN, worker_pending(sv->workers) +
							      shard_set_backlog(sv->shards, false));
	metrics_set_worker_backlog(METRICS_POOL_AUTH, worker_pending(sv->auth_workers) +
							      shard_set_backlog(sv->shards, true));
	if (sv->relay != NULL)
		relay_refresh_metrics(sv->relay);
}

/* metrics_listen: the Prometheus endpoint (the first address), opened
 * at start and by a reload that changes it. */
static int open_metrics(struct serve *sv, const struct config *cfg)
{
	metrics_http_free(&sv->metrics);
	if (cfg->metrics_listen.count == 0)
		return 0;
	const struct cfg_listen *m = &cfg->metrics_listen.items[0];
	char err[256];
	sv->metrics = metrics_http_new(sv->base, (const struct sockaddr *)&m->addr, m->addr_len,
				       metrics_refresh, sv, err, sizeof(err));
	if (sv->metrics == NULL) {
		log_error(NULL, "event=listen listener=metrics addr=%s error=\"%s\"", m->text, err);
		return -1;
	}
	log_info(NULL, "event=listen listener=metrics addr=%s", m->text);
	return 0;
}

static void close_listeners(struct serve *sv)
{
	metrics_http_free(&sv->metrics);
	for (size_t i = 0; i < sv->listener_count; i++)
		listener_free(&sv->listeners[i].l);
	sv->listener_count = 0;
}

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct serve *sv = arg;
	sv->drain_ms += 100;
	/* Idle and mid-transaction sessions are told and closed; one whose
	 * message is being committed is closed on a later tick. Each shard
	 * reports what it still has (shard 0 at once, the others by the next
	 * tick; until their first report they count as busy). */
	shard_set_shutdown(sv->shards);
	unsigned live = shard_set_live(sv->shards);
	unsigned busy = shard_set_busy(sv->shards);
	/* Never exit with a commit in flight: its message is half-delivered
	 * until the worker finishes. */
	if (busy > live || worker_pending(sv->workers) > 0 || worker_pending(sv->auth_workers) > 0 ||
	    (sv->relay != NULL && relay_pending(sv->relay) > 0))
		return;
	if (live == 0 || sv->drain_ms >= SERVE_DRAIN_MS)
		event_base_loopbreak(sv->base);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct serve *sv = arg;
	if (sv->stopping)
		return;
	sv->stopping = true;
	log_info(NULL, "event=shutdown signal=%d sessions=%u", (int)sig,
		 shard_set_live(sv->shards));
	close_listeners(sv);
	if (sv->relay != NULL)
		relay_stop(sv->relay);
	shard_set_shutdown(sv->shards);
	struct timeval tv = {0, 100 * 1000};
	sv->drain_timer = event_new(sv->base, -1, EV_PERSIST, drain_cb, sv);
	(void)event_add(sv->drain_timer, &tv);
}

static unsigned fit_fd_limit(unsigned max_sessions);

/* SIGHUP, first part: the configuration file. A file that does not
 * load (or has unsafe modes) keeps the running configuration; keys that
 * need a restart keep their running values and are named in one line;
 * everything else takes effect now. */
static void reload_config(struct serve *sv)
{
	if (sv->conf_path == NULL)
		return;
	struct config *next = NULL;
	char *errors = NULL;
	char perr[4352];
	if (cfg_load(sv->conf_path, &next, &errors) != 0) {
		for (char *c = errors; c != NULL && *c; c++)
			if (*c == '\n')
				*c = ';';
		log_error(NULL, "event=reload-config result=failed error=\"%s\" note=\"keeping the running configuration\"",
			  errors ? errors : "?");
		free(errors);
		return;
	}
	if (preflight_config_file(sv->conf_path, perr, sizeof(perr)) != 0 ||
	    preflight_tls_key(next, perr, sizeof(perr)) != 0) {
		log_error(NULL, "event=reload-config result=failed error=\"%s\" note=\"keeping the running configuration\"",
			  perr);
		cfg_free(&next);
		return;
	}
	char changed[1024], restart[512];
	(void)cfg_reload_merge(next, sv->cfg, changed, sizeof(changed), restart, sizeof(restart));
	if (restart[0] != '\0')
		log_warn(NULL, "event=reload-config note=\"a restart is needed for: %s (their running values stay)\"",
			 restart);
	if (changed[0] == '\0') {
		cfg_free(&next);
		log_info(NULL, "event=reload-config result=unchanged");
		return;
	}
	reconcile_listeners(sv, next);
	if (strstr(changed, "metrics_listen") != NULL)
		(void)open_metrics(sv, next);
	if (sv->nretired == SERVE_RETIRED_MAX) {
		cfg_free(&sv->retired[0]);
		memmove(sv->retired, sv->retired + 1, (SERVE_RETIRED_MAX - 1) * sizeof(sv->retired[0]));
		sv->nretired--;
	}
	sv->retired[sv->nretired++] = sv->cfg;
	sv->cfg = next; /* the shards get it from on_hup's shard_set_publish */
	sesslimit_set(sv->limits, fit_fd_limit(next->max_sessions), next->max_sessions_per_ip);
	log_set_target(next->log == CFG_LOG_SYSLOG ? LOG_TO_SYSLOG : LOG_TO_STDERR);
	if (sv->relay != NULL)
		relay_config_changed(sv->relay);
	log_info(NULL, "event=reload-config result=ok changed=\"%s\"", changed);
}

/* users and aliases again (SIGHUP, and RELOAD from konvert user).
 * Returns 0 when the new tables are in force. */
static int reload_directory(struct serve *sv, char *msg, size_t msg_size)
{
	struct userdb *users = NULL;
	struct aliases *aliases = NULL;
	char err[512];
	/* Reading two small files on the loop thread: a reload is rare and
	 * the files are bounded by the administrator, not by clients. */
	if (load_directory(sv->cfg, &users, &aliases, err, sizeof(err)) != 0) {
		log_error(NULL, "event=reload result=failed error=\"%s\" note=\"keeping previous users and aliases\"",
			  err);
		(void)snprintf(msg, msg_size, "kept the previous tables: %.200s", err);
		return -1;
	}
	if (users->count == 0 && sv->users->count > 0) {
		/* ": > users" or "rm users" must not turn every local mailbox
		 * into a permanent 550: keep serving the accounts we have. */
		log_error(NULL, "event=reload result=failed error=\"%s/users %s\" note=\"keeping the previous %zu accounts and aliases\"",
			  sv->cfg->data_dir, users->absent ? "is missing" : "has no accounts",
			  sv->users->count);
		userdb_free(&users);
		aliases_free(&aliases);
		(void)snprintf(msg, msg_size, "kept the previous tables: users is empty or missing");
		return -1;
	}
	log_directory_warnings(users);
	log_postmaster(sv->cfg, users, aliases);
	/* Sessions on other loops may be reading the old tables: they are
	 * freed once every shard has switched. */
	struct userdb *old_users = sv->users;
	struct aliases *old_aliases = sv->aliases;
	sv->users = users;
	sv->aliases = aliases;
	shard_set_publish(sv->shards, sv->cfg, users, aliases, sv->tls, old_users, old_aliases);
	log_info(NULL, "event=reload result=ok users=%zu aliases=%zu", users->count, aliases->count);
	(void)snprintf(msg, msg_size, "%zu accounts, %zu aliases in force", users->count,
		       aliases->count);
	return 0;
}

static int control_reload(void *arg, char *msg, size_t msg_size)
{
	return reload_directory(arg, msg, msg_size);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	struct serve *sv = arg;
	char err[512];
	reload_config(sv);
	char msg[256];
	(void)reload_directory(sv, msg, sizeof(msg));
	/* New certificate for new handshakes; sessions in TLS keep theirs. */
	struct tls_server *tls = tls_server_new(sv->cfg->tls_cert, sv->cfg->tls_key,
						sv->cfg->data_dir, sv->cfg->hostname, err,
						sizeof(err));
	if (tls == NULL) {
		log_error(NULL, "event=reload-tls result=failed error=\"%s\" note=\"keeping previous certificate\"",
			  err);
	} else {
		tls_server_unref(&sv->tls);
		sv->tls = tls;
		log_info(NULL, "event=reload-tls result=ok");
	}
	/* One set for every shard: configuration, tables, TLS context. */
	shard_set_publish(sv->shards, sv->cfg, sv->users, sv->aliases, sv->tls, NULL, NULL);
}

/* Makes name under dfd (a directory root trusts) and, as root, hands it
 * to run_as. Never follows a link: data_dir belongs to run_as, who could
 * have planted "mail -> /etc" for root to chown. */
static int prepare_subdir(int dfd, const char *data_dir, const char *name, mode_t mode,
			  const struct passwd *pw, int *fd_out)
{
	char shown[4096];
	(void)snprintf(shown, sizeof(shown), "%s/%s", data_dir, name);
	if (mkdirat(dfd, name, mode) != 0 && errno != EEXIST) {
		fprintf(stderr, "konvert: mkdir %s: %s\n", shown, strerror(errno));
		return -1;
	}
	char err[4352];
	int fd = safefile_open(dfd, name, shown, SAFEFILE_DIR | SAFEFILE_NOFOLLOW, NULL, err,
			       sizeof(err));
	if (fd < 0) {
		fprintf(stderr, "konvert: refusing to start: %s\n", err);
		return -1;
	}
	if (pw != NULL && fchown(fd, pw->pw_uid, pw->pw_gid) != 0) {
		fprintf(stderr, "konvert: chown %s: %s\n", shown, strerror(errno));
		(void)close(fd);
		return -1;
	}
	if (fd_out != NULL)
		*fd_out = fd;
	else
		(void)close(fd);
	return 0;
}

/* As root, hands the plain file name under dfd to run_as; a missing file
 * is fine, a link or anything but a plain file with one link is refused. */
static int chown_data_file(int dfd, const char *dir, const char *name, const struct passwd *pw)
{
	char shown[4096];
	(void)snprintf(shown, sizeof(shown), "%s/%s", dir, name);
	char err[4352];
	int fd = safefile_open(dfd, name, shown, SAFEFILE_NOFOLLOW | SAFEFILE_ONE_LINK, NULL, err,
			       sizeof(err));
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		fprintf(stderr, "konvert: refusing to start: %s\n", err);
		return -1;
	}
	int rc = 0;
	if (fchown(fd, pw->pw_uid, pw->pw_gid) != 0) {
		fprintf(stderr, "konvert: chown %s: %s\n", shown, strerror(errno));
		rc = -1;
	}
	(void)close(fd);
	return rc;
}

/* Creates data_dir and its top-level directories; when running as root
 * (pw set), hands them to run_as before privileges are dropped. The path
 * of data_dir itself is the administrator's and may be a link; nothing
 * below it is followed. */
static int check_marker(int dfd, const char *data_dir);

static int prepare_data_dir(const struct config *cfg, const struct passwd *pw)
{
	if (mkdir(cfg->data_dir, 0750) != 0 && errno != EEXIST) {
		fprintf(stderr, "konvert: mkdir %s: %s\n", cfg->data_dir, strerror(errno));
		return -1;
	}
	char err[4352];
	int dfd = safefile_open(AT_FDCWD, cfg->data_dir, cfg->data_dir, SAFEFILE_DIR, NULL, err,
				sizeof(err));
	if (dfd < 0) {
		fprintf(stderr, "konvert: %s\n", err);
		return -1;
	}
	int rc = -1;
	int tls_fd = -1;
	if (pw != NULL && check_marker(dfd, cfg->data_dir) != 0)
		goto out;
	if (pw != NULL && fchown(dfd, pw->pw_uid, pw->pw_gid) != 0) {
		fprintf(stderr, "konvert: chown %s: %s\n", cfg->data_dir, strerror(errno));
		goto out;
	}
	/* Others may pass through data_dir (not list it) to reach
	 * public/submit.sock, sendmail's socket; everything else in it is
	 * closed to them by its own mode. */
	if (pw != NULL && fchmod(dfd, 0751) != 0) {
		fprintf(stderr, "konvert: chmod %s: %s\n", cfg->data_dir, strerror(errno));
		goto out;
	}
	if (prepare_subdir(dfd, cfg->data_dir, "mail", 0750, pw, NULL) != 0 ||
	    prepare_subdir(dfd, cfg->data_dir, "incoming", 0750, pw, NULL) != 0 ||
	    prepare_subdir(dfd, cfg->data_dir, "public", 0755, pw, NULL) != 0)
		goto out;
	/* The generated TLS pair lives in tls/ (0700); it is checked before
	 * root writes a key into it. */
	if (prepare_subdir(dfd, cfg->data_dir, "tls", 0700, pw, &tls_fd) != 0)
		goto out;
	/* Files root made with "konvert user" before the first start must be
	 * readable by the unprivileged server. */
	if (pw != NULL && (chown_data_file(dfd, cfg->data_dir, "users", pw) != 0 ||
			   chown_data_file(dfd, cfg->data_dir, "aliases", pw) != 0))
		goto out;
	rc = 0;
out:
	if (tls_fd >= 0)
		(void)close(tls_fd);
	(void)close(dfd);
	return rc;
}

/* Root chowns data_dir to run_as: never a directory that is not
 * konvert's (data_dir = /var/lib, or a home directory, by mistake). A
 * data_dir is konvert's when it has the marker file .konvert, or when
 * everything in it is a name konvert makes (then the marker is added:
 * a first start, or a data_dir of an older version). Returns 0, or -1
 * with the message printed. */
#define SERVE_MARKER ".konvert"
static int check_marker(int dfd, const char *data_dir)
{
	static const char *const own[] = {
		SERVE_MARKER, "users", "aliases", "mail", "incoming", "public", "tls", "queue",
		"dkim", "srs.key", ".srs.key.tmp", "mta-sts", "tlsrpt", "control.sock",
		"users.tmp", "aliases.tmp", "lost+found",
	};
	struct stat st;
	if (fstatat(dfd, SERVE_MARKER, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
		return 0;
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		if (fd >= 0)
			(void)close(fd);
		fprintf(stderr, "konvert: cannot list %s: %s\n", data_dir, strerror(errno));
		return -1;
	}
	struct dirent *de;
	const char *foreign = NULL;
	char name[256];
	while ((de = readdir(d)) != NULL && foreign == NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		bool known = false;
		for (size_t i = 0; i < sizeof(own) / sizeof(own[0]) && !known; i++)
			known = strcmp(de->d_name, own[i]) == 0;
		if (!known) {
			(void)snprintf(name, sizeof(name), "%s", de->d_name);
			foreign = name;
		}
	}
	(void)closedir(d);
	if (foreign != NULL) {
		fprintf(stderr,
			"konvert: refusing to start: %s holds files that are not konvert's (e.g. \"%s\") "
			"and no %s marker, so root will not take it over; set data_dir to a new or "
			"empty directory (or create %s/%s if this directory is meant for konvert)\n",
			data_dir, foreign, SERVE_MARKER, data_dir, SERVE_MARKER);
		return -1;
	}
	int mfd = openat(dfd, SERVE_MARKER, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			 0644);
	if (mfd < 0) {
		fprintf(stderr, "konvert: create %s/%s: %s\n", data_dir, SERVE_MARKER, strerror(errno));
		return -1;
	}
	static const char text[] = "This directory is konvert's data_dir.\n";
	(void)safefile_write_all(mfd, text, sizeof(text) - 1);
	(void)close(mfd);
	return 0;
}

/* A certificate generated by root into data_dir/tls must stay readable
 * by the unprivileged server for SIGHUP reloads. */
static int chown_tls_dir(const struct config *cfg, const struct passwd *pw)
{
	char dir[4096];
	(void)snprintf(dir, sizeof(dir), "%s/tls", cfg->data_dir);
	char err[4352];
	int fd = safefile_open(AT_FDCWD, dir, dir, SAFEFILE_DIR | SAFEFILE_NOFOLLOW, NULL, err,
			       sizeof(err));
	if (fd < 0) {
		fprintf(stderr, "konvert: refusing to start: %s\n", err);
		return -1;
	}
	int rc = 0;
	if (fchown(fd, pw->pw_uid, pw->pw_gid) != 0) {
		fprintf(stderr, "konvert: chown %s: %s\n", dir, strerror(errno));
		rc = -1;
	}
	if (rc == 0 && (chown_data_file(fd, dir, "cert.pem", pw) != 0 ||
			chown_data_file(fd, dir, "key.pem", pw) != 0))
		rc = -1;
	(void)close(fd);
	return rc;
}

/* An idle session holds one descriptor, its socket; files (a message
 * being received, a message being sent, a worker's copy) are opened only
 * while used. Raise the soft RLIMIT_NOFILE to what max_sessions sessions
 * plus a budget of open files need (up to the hard limit, or beyond it as
 * root), and lower the session limit only when even the hard limit cannot
 * hold them, so that the limit, not EMFILE, is what turns clients away. A
 * file that cannot be opened for lack of descriptors fails that one
 * command with a temporary error (451 / -ERR [SYS/TEMP]). */
static unsigned fit_fd_limit(unsigned max_sessions)
{
	struct rlimit rl;
	const rlim_t reserve = 64; /* listeners, logs, DNS, control sockets */
	/* files open at one time: sessions in DATA or RETR, worker jobs */
	rlim_t files = max_sessions < 1024 ? max_sessions : 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return max_sessions;
	rlim_t need = (rlim_t)max_sessions + files + reserve;
	if (rl.rlim_cur < need) {
		/* What max_sessions needs; root may raise the hard limit too
		 * (up to fs.nr_open), others up to the hard limit. */
		struct rlimit want = {need, rl.rlim_max > need ? rl.rlim_max : need};
		if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
			want.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
			want.rlim_max = rl.rlim_max;
			(void)setrlimit(RLIMIT_NOFILE, &want);
		}
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur >= need)
		return max_sessions;
	/* Too few: keep a quarter for files, the rest for sessions. */
	rlim_t spare = rl.rlim_cur > reserve ? rl.rlim_cur - reserve : 0;
	rlim_t usable = spare - (spare / 4 < files ? spare / 4 : files);
	if (usable < 16)
		usable = 16;
	log_warn(NULL, "event=start note=\"max_sessions %u lowered to %llu: open file limit is %llu\"",
		 max_sessions, (unsigned long long)usable, (unsigned long long)rl.rlim_cur);
	return (unsigned)usable;
}

static int drop_privileges(const struct passwd *pw)
{
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
		fprintf(stderr, "konvert: cannot switch to user %s: %s\n", pw->pw_name, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		fprintf(stderr, "konvert: privileges were not dropped\n");
		return -1;
	}
	return 0;
}

/* The SRS secret (trust/srs): data_dir/srs.key, 32 random bytes made on
 * first start (written to a temporary file, fsynced, renamed into place:
 * a crash leaves no empty key), read without following links. Losing it
 * only invalidates SRS addresses in flight. */
static int load_srs_key(const char *data_dir, unsigned char *key, char *err, size_t err_size)
{
	char path[4096], tmp[4200];
	(void)snprintf(path, sizeof(path), "%s/srs.key", data_dir);
	(void)snprintf(tmp, sizeof(tmp), "%s/.srs.key.tmp", data_dir);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		unsigned char fresh[SERVE_SRS_KEY_LEN];
		if (RAND_bytes(fresh, sizeof(fresh)) != 1) {
			(void)snprintf(err, err_size, "no random bytes for %.300s", path);
			return -1;
		}
		(void)unlink(tmp);
		int wfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		int rc = -1;
		if (wfd >= 0) {
			rc = safefile_write_all(wfd, fresh, sizeof(fresh)) == 0 && fsync(wfd) == 0 ? 0
												 : -1;
			(void)close(wfd);
		}
		OPENSSL_cleanse(fresh, sizeof(fresh));
		if (rc != 0 || rename(tmp, path) != 0) {
			(void)unlink(tmp);
			(void)snprintf(err, err_size, "cannot write %.300s", path);
			return -1;
		}
		(void)maildir_fsync_dir(data_dir);
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		(void)snprintf(err, err_size, "%.300s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	ssize_t got = -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) == 0)
		got = read(fd, key, SERVE_SRS_KEY_LEN);
	(void)close(fd);
	if (got != SERVE_SRS_KEY_LEN) {
		(void)snprintf(err, err_size,
			       "%.300s: not a 32-byte key file readable only by its owner", path);
		return -1;
	}
	return 0;
}

int cli_serve_main(int argc, char **argv, const char *config_path)
{
	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: konvert serve [-c FILE]\n");
		return 2;
	}
	struct serve sv;
	memset(&sv, 0, sizeof(sv));
	char *errors = NULL;
	if (cfg_load(cfg_default_path(config_path), &sv.cfg, &errors) != 0) {
		fprintf(stderr, "%s\n", errors ? errors : "konvert: configuration error");
		free(errors);
		return 1;
	}
	const struct config *cfg = sv.cfg;
	sv.conf_path = cfg_default_path(config_path);
	log_set_target(cfg->log == CFG_LOG_SYSLOG ? LOG_TO_SYSLOG : LOG_TO_STDERR);
	char perr[4352];
	if (preflight_config_file(cfg_default_path(config_path), perr, sizeof(perr)) != 0 ||
	    preflight_tls_key(cfg, perr, sizeof(perr)) != 0) {
		fprintf(stderr, "konvert: refusing to start: %s\n", perr);
		cfg_free(&sv.cfg);
		return 1;
	}

	/* Running as root: the server drops to run_as after binding. */
	struct passwd *pw = NULL;
	if (geteuid() == 0) {
		pw = getpwnam(cfg->run_as);
		if (pw == NULL) {
			fprintf(stderr,
				"konvert: run_as user '%s' does not exist: create it "
				"(useradd --system %s) or set run_as\n",
				cfg->run_as, cfg->run_as);
			cfg_free(&sv.cfg);
			return 1;
		}
		if (pw->pw_uid == 0)
			pw = NULL;
	}
	if (prepare_data_dir(cfg, pw) != 0) {
		cfg_free(&sv.cfg);
		return 1;
	}

	unsigned max_sessions = fit_fd_limit(cfg->max_sessions);

	(void)signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() != 0)
		fatal("evthread_use_pthreads failed");
	sv.main_loop = loop_new();
	sv.base = loop_base(sv.main_loop);
	sv.limits = sesslimit_new(max_sessions, cfg->max_sessions_per_ip);

	int rc = 1;
	char err[512];
	/* Loaded before privileges are dropped, so a key readable only by
	 * root works (reloads then need it readable by run_as too). */
	sv.tls = tls_server_new(cfg->tls_cert, cfg->tls_key, cfg->data_dir, cfg->hostname, err,
				sizeof(err));
	if (sv.tls == NULL) {
		log_error(NULL, "event=start error=\"TLS: %s\"", err);
		goto out;
	}
	if (pw != NULL && chown_tls_dir(cfg, pw) != 0)
		goto out;
	bool listening = true;
	for (size_t k = 0; k < sizeof(listen_keys) / sizeof(listen_keys[0]) && listening; k++)
		listening = open_listeners(&sv, listen_list(cfg, k), listen_keys[k].proto,
					   listen_keys[k].kind, listen_keys[k].name) == 0;
	if (!listening || open_metrics(&sv, cfg) != 0)
		goto out;
	if (pw != NULL && drop_privileges(pw) != 0)
		goto out;
	if (open_local_listener(&sv) != 0)
		goto out;

	if (intake_cleanup(cfg->data_dir, err, sizeof(err)) != 0) {
		log_error(NULL, "event=start error=\"%s\"", err);
		goto out;
	}
	if (load_directory(cfg, &sv.users, &sv.aliases, err, sizeof(err)) != 0) {
		log_error(NULL, "event=start error=\"%s\"", err);
		goto out;
	}
	log_directory_warnings(sv.users);
	if (sv.users->count == 0)
		log_warn(NULL, "event=start warning=\"%s/users %s: mail for local domains is deferred (451) until an account exists (konvert user add)\"",
			 cfg->data_dir, sv.users->absent ? "is missing" : "has no accounts");
	log_postmaster(cfg, sv.users, sv.aliases);
	sv.workers = worker_pool_new(sv.base, SERVE_WORKER_THREADS);
	sv.auth_workers = worker_pool_new(sv.base, SERVE_AUTH_THREADS);
	sv.authn = authn_new();
	sv.relay = relay_new(sv.base, (const struct config *const *)&sv.cfg, &sv.users, &sv.aliases,
			     sv.workers, err, sizeof(err));
	if (sv.relay == NULL) {
		log_error(NULL, "event=start error=\"queue: %s\"", err);
		goto out;
	}
	if (cfg->dkim_sign == CFG_YES) {
		/* Made as run_as (after the privilege drop), so the server
		 * owns its keys. */
		sv.signing = signing_new(cfg, err, sizeof(err));
		if (sv.signing == NULL) {
			log_error(NULL, "event=start error=\"%s\"", err);
			goto out;
		}
		relay_set_signing(sv.relay, sv.signing);
	}
	relay_set_reload(sv.relay, control_reload, &sv);
	bool srs = load_srs_key(cfg->data_dir, sv.srs_secret, err, sizeof(err)) == 0;
	if (!srs)
		log_warn(NULL, "event=start warning=\"SRS is off: %s\"", err);
	/* Inbound checks: Debian's public suffix list (package publicsuffix);
	 * without it every name is its own organisational domain, which
	 * only makes relaxed DMARC alignment stricter. */
	if (psl_load(KONVERT_PSL_PATH, &sv.psl, err, sizeof(err)) != 0) {
		log_warn(NULL, "event=start warning=\"public suffix list: %s\"", err);
		if (psl_load_buf("", 0, &sv.psl, err, sizeof(err)) != 0)
			sv.psl = NULL;
	}
	/* The sessions: one loop per core (threads), shard 0 on this one. */
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	struct shard_init si = {
		.main_loop = sv.main_loop,
		.count = cfg->threads ? cfg->threads : cores > 0 ? (unsigned)cores : 1,
		.cfg = cfg,
		.users = sv.users,
		.aliases = sv.aliases,
		.tls = sv.tls,
		.limits = sv.limits,
		.authn = sv.authn,
		.workers = sv.workers,
		.auth_workers = sv.auth_workers,
		.relay = sv.relay,
		.signing = sv.signing,
		.srs_secret = srs ? sv.srs_secret : NULL,
		.srs_secret_len = srs ? sizeof(sv.srs_secret) : 0,
		.psl = sv.psl,
	};
	sv.shards = shard_set_new(&si, err, sizeof(err));
	if (sv.shards == NULL) {
		log_error(NULL, "event=start error=\"%s\"", err);
		goto out;
	}
	shard_set_start(sv.shards);

	sv.sig_term = evsignal_new(sv.base, SIGTERM, on_stop, &sv);
	sv.sig_int = evsignal_new(sv.base, SIGINT, on_stop, &sv);
	sv.sig_hup = evsignal_new(sv.base, SIGHUP, on_hup, &sv);
	(void)event_add(sv.sig_term, NULL);
	(void)event_add(sv.sig_int, NULL);
	(void)event_add(sv.sig_hup, NULL);

	log_info(NULL, "event=start hostname=%s data_dir=%s users=%zu aliases=%zu threads=%u pid=%d",
		 cfg->hostname, cfg->data_dir, sv.users->count, sv.aliases->count, si.count,
		 (int)getpid());
	(void)event_base_dispatch(sv.base);
	log_info(NULL, "event=stop");
	rc = 0;
out:
	close_listeners(&sv);
	if (sv.drain_timer)
		event_free(sv.drain_timer);
	if (sv.sig_term)
		event_free(sv.sig_term);
	if (sv.sig_int)
		event_free(sv.sig_int);
	if (sv.sig_hup)
		event_free(sv.sig_hup);
	/* Deliveries are cut first (no callbacks); then the workers finish
	 * their jobs; then the queue's objects go. */
	if (sv.relay != NULL)
		relay_stop(sv.relay);
	/* The shard threads end (their jobs delivered), then the workers
	 * finish theirs, then the sessions left and the shards' handles go,
	 * before the relay's resolver that shard 0 borrows. */
	if (sv.shards != NULL)
		shard_set_stop(sv.shards);
	worker_pool_free(&sv.workers);
	worker_pool_free(&sv.auth_workers);
	shard_set_free(&sv.shards);
	relay_free(&sv.relay);
	signing_free(&sv.signing);
	OPENSSL_cleanse(sv.srs_secret, sizeof(sv.srs_secret));
	psl_free(&sv.psl);
	userdb_free(&sv.users);
	aliases_free(&sv.aliases);
	authn_free(&sv.authn);
	tls_server_unref(&sv.tls);
	sesslimit_free(&sv.limits);
	loop_free(&sv.main_loop);
	cfg_free(&sv.cfg);
	for (size_t i = 0; i < sv.nretired; i++)
		cfg_free(&sv.retired[i]);
	return rc;
}
