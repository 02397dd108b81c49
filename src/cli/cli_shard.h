/* cli_shard: the server's sessions spread over one event loop per core
 * (config "threads"). Shard 0 runs on the main thread's loop, beside the
 * queue, the control socket and the signals; the others each run a loop
 * on a thread of their own. A shard owns its protocol environments (its
 * sessions), handles on the shared worker pools (completions come back to
 * its loop), and a resolver for the inbound checks. What sessions share
 * across shards is thread-safe: the session limits, the login throttle,
 * the metrics, the worker queues; the configuration, users, aliases and
 * TLS context are published to every shard as one set on SIGHUP
 * (shard_set_publish) and the old tables are freed once every shard has
 * let go of them. Mail that a session queues, and ETRN, reach the queue
 * on the main loop.
 *
 * Listeners stay on the main loop: an accepted connection is handed to
 * the shards in turn. Everything here runs on the main thread unless said
 * otherwise. */
#ifndef KONVERT_CLI_CLI_SHARD_H
#define KONVERT_CLI_CLI_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct aliases;
struct authn;
struct config;
struct loop;
struct psl;
struct relay;
struct sesslimit;
struct shard_set;
struct signing;
struct tls_server;
struct userdb;
struct worker_pool;

enum shard_proto { SHARD_SMTP, SHARD_POP3, SHARD_POP2 };

/* What every shard borrows (all but main_loop shared by every shard). */
struct shard_init {
	struct loop *main_loop; /* shard 0's loop, dispatched by main */
	unsigned count; /* shards, >= 1 */
	const struct config *cfg;
	const struct userdb *users;
	const struct aliases *aliases;
	struct tls_server *tls; /* each shard takes its own reference */
	struct sesslimit *limits;
	struct authn *authn;
	struct worker_pool *workers, *auth_workers; /* the pools themselves */
	struct relay *relay;
	const struct signing *signing; /* NULL: no DKIM signing */
	const unsigned char *srs_secret; /* NULL: no SRS */
	size_t srs_secret_len;
	const struct psl *psl;
};

/* Makes the shards (threads not started). NULL with err on failure. */
struct shard_set *shard_set_new(const struct shard_init *init, char *err, size_t err_size);

/* Starts the threads of shards 1..count-1. */
void shard_set_start(struct shard_set *set);

/* A connection accepted on the main loop (fd owned from here on) starts
 * its session on the next shard. */
void shard_accept(struct shard_set *set, enum shard_proto proto, int kind, int fd,
		  const struct sockaddr *peer, socklen_t peer_len, bool allowed);

/* SIGHUP / RELOAD: every shard switches to this set (cfg and tables
 * borrowed; each shard takes its own TLS reference). old_users and
 * old_aliases (owned, may be NULL) are freed once every shard switched. */
void shard_set_publish(struct shard_set *set, const struct config *cfg,
		       const struct userdb *users, const struct aliases *aliases,
		       struct tls_server *tls, struct userdb *old_users, struct aliases *old_aliases);

/* SIGTERM and every drain tick: each shard says goodbye to its sessions
 * (see smtp_shutdown) and reports what it still has. */
void shard_set_shutdown(struct shard_set *set);

/* From the last reports: sessions still open, and sessions plus jobs in
 * flight (0: every shard is idle). */
unsigned shard_set_live(const struct shard_set *set);
unsigned shard_set_busy(const struct shard_set *set);

/* Jobs queued or running on the shards' handles of the main pool / the
 * auth pool (a snapshot, for the metrics). */
unsigned shard_set_backlog(const struct shard_set *set, bool auth);

/* Stops and joins the shard threads (after the drain). */
void shard_set_stop(struct shard_set *set);

/* After shard_set_stop and after the worker pools were freed: frees the
 * sessions left, the handles, the resolvers, the loops of shards 1.. */
void shard_set_free(struct shard_set **pp);

#endif
