/* resolve: what a recipient address means for this server.
 *
 * Given a recipient (local part as decoded by the protocol parser, domain
 * lower case) and the current user directory and alias table, tells
 * whether it is local (and which mailboxes receive it, after alias
 * expansion), remote, or unknown. Pure lookup on in-memory snapshots: safe
 * on the event loop. It never interprets '%', '!' or '@' inside a local
 * part: such an address can only match an account or alias of exactly
 * that name. */
#ifndef KONVERT_DELIVERY_RESOLVE_H
#define KONVERT_DELIVERY_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct userdb;
struct aliases;

enum resolve_kind {
	RESOLVE_LOCAL, /* mailboxes filled */
	RESOLVE_REMOTE, /* domain not local */
	RESOLVE_UNKNOWN, /* local domain, no such user or alias (also: an
			  * unusable local part, or an alias loop that reaches
			  * no existing mailbox) */
	RESOLVE_ALIAS_REMOTE, /* local alias with remote targets (remote[] set) */
	RESOLVE_ERROR, /* alias expansion too deep or too large */
};

struct resolve_result {
	enum resolve_kind kind;
	char **mailboxes; /* owned: "local@domain" of existing local mailboxes */
	size_t mailbox_count;
	char **remote; /* owned: remote addresses from aliases */
	size_t remote_count;
};

/* local: local part (len bytes, may contain anything); domain: lower case,
 * or NULL for the bare "postmaster" (resolved in the first local domain). */
void resolve_rcpt(const struct config *cfg, const struct userdb *users,
		  const struct aliases *aliases, const char *local, size_t local_len,
		  const char *domain, struct resolve_result *out);

void resolve_result_fini(struct resolve_result *r);

#endif
