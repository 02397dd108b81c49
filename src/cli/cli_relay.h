/* cli_relay: wires the relaying half of "konvert serve" together: the
 * queue store, the startup scan, the scheduler and its one-second tick,
 * DNS, the client TLS context, remote delivery and notices. It owns all of
 * them; cli_serve owns it. The scheduler's ops are implemented here: the
 * durable writes and removals run on the worker pool, never on the loop. */
#ifndef KONVERT_CLI_CLI_RELAY_H
#define KONVERT_CLI_CLI_RELAY_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct config;
struct userdb;
struct aliases;
struct worker_pool;
struct queue_env;
struct queue_store;
struct relay;
struct dns;

/* Opens data_dir/queue, scans it (corrupt files are moved aside and
 * logged) and starts the scheduler. cfg, users and aliases are read
 * through the pointers given (the server swaps them on SIGHUP). Returns
 * NULL with err on failure. */
struct relay *relay_new(struct event_base *base, const struct config *const *cfg,
			struct userdb *const *users, struct aliases *const *aliases,
			struct worker_pool *workers, char *err, size_t err_size);
/* Stops everything; deliveries in flight are cut (their recipients stay
 * queued on disk and are tried again at the next start). */
void relay_free(struct relay **pp);

/* Sets the queue gauges of core/metrics (before a scrape). */
void relay_refresh_metrics(const struct relay *r);

/* The configuration (*cfg of relay_new) was replaced by a reload: the
 * parts that copied settings take the new ones. */
void relay_config_changed(struct relay *r);

/* What the control socket's RELOAD runs (users and aliases; konvert
 * user asks for it after a change). */
void relay_set_reload(struct relay *r, int (*fn)(void *arg, char *msg, size_t msg_size),
		      void *arg);

struct signing;
/* The DKIM keys TLS reports are signed with (borrowed; NULL: unsigned). */
void relay_set_signing(struct relay *r, const struct signing *signing);

/* SIGTERM: no new deliveries; the ones in flight are cut. Writes in
 * flight finish (relay_pending counts them). */
void relay_stop(struct relay *r);

/* For the SMTP sessions (struct smtp_env). */
struct queue_store *relay_store(struct relay *r);
void relay_queued(void *arg, struct queue_env *env);
size_t relay_flush(void *arg, const char *domain);

/* The resolver (for the inbound checks too). */
struct dns *relay_dns(struct relay *r);

/* Work in flight that must finish before exit (writes, removals). */
unsigned relay_pending(const struct relay *r);

#endif
