/* resolve: recipient classification and alias expansion against the
 * in-memory user and alias snapshots. Addresses are compared lower case
 * (SPEC.md: addresses match case-insensitively). "postmaster" in every
 * local domain exists even without an account (RFC 5321 4.5.1). */
#include "delivery/resolve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/aliases.h"
#include "auth/userdb.h"
#include "config/config.h"
#include "core/alloc.h"
#include "core/limits.h"

static bool is_local_cb(const char *domain, void *ctx)
{
	return cfg_is_local_domain(ctx, domain, strlen(domain));
}

static void push(char ***arr, size_t *n, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*arr)[i], s) == 0)
			return;
	*arr = xrealloc(*arr, (*n + 1) * sizeof(char *));
	(*arr)[(*n)++] = xstrdup(s);
}

/* RFC 5321 4.5.1 (postmaster) and RFC 2142 (abuse): role addresses that
 * every local domain must accept. */
static bool is_role(const char *lower)
{
	return strcmp(lower, "postmaster") == 0 || strcmp(lower, "abuse") == 0;
}

void resolve_rcpt(const struct config *cfg, const struct userdb *users,
		  const struct aliases *aliases, const char *local, size_t local_len,
		  const char *domain, struct resolve_result *out)
{
	memset(out, 0, sizeof(*out));
	if (domain == NULL)
		domain = cfg->domains[0];
	if (!cfg_is_local_domain(cfg, domain, strlen(domain))) {
		out->kind = RESOLVE_REMOTE;
		return;
	}
	char lower[SMTP_LOCAL_MAX + 1];
	/* '@' in a local part ("user@remote"@local) names no account: local
	 * parts are never re-parsed as addresses. */
	if (local_len == 0 || local_len > SMTP_LOCAL_MAX || memchr(local, '\0', local_len) ||
	    memchr(local, '@', local_len)) {
		out->kind = RESOLVE_UNKNOWN;
		return;
	}
	for (size_t i = 0; i < local_len; i++) {
		char c = local[i];
		lower[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
	}
	lower[local_len] = '\0';

	char **targets = NULL;
	size_t count = 0;
	if (aliases_expand(aliases, lower, domain, is_local_cb, (void *)cfg, &targets, &count) != 0) {
		out->kind = RESOLVE_ERROR;
		return;
	}
	for (size_t i = 0; i < count; i++) {
		const char *t = targets[i];
		const char *at = strrchr(t, '@');
		if (at == NULL)
			continue;
		if (!cfg_is_local_domain(cfg, at + 1, strlen(at + 1))) {
			push(&out->remote, &out->remote_count, t);
			continue;
		}
		bool exists = userdb_find(users, t, strlen(t)) != NULL;
		/* The last resort for role mail: the mailbox postmaster of the
		 * first domain, made even without an account (check-config
		 * warns when no account can read it). */
		if (!exists && (size_t)(at - t) == 10 && strncmp(t, "postmaster", 10) == 0 &&
		    strcmp(at + 1, cfg->domains[0]) == 0)
			exists = true;
		if (exists)
			push(&out->mailboxes, &out->mailbox_count, t);
	}
	aliases_free_list(targets, count);
	if (out->remote_count > 0)
		out->kind = RESOLVE_ALIAS_REMOTE;
	else if (out->mailbox_count > 0)
		out->kind = RESOLVE_LOCAL;
	else
		out->kind = RESOLVE_UNKNOWN;
	/* postmaster@ and abuse@ of any local domain without an alias or an
	 * account of their own go where postmaster of the first domain goes
	 * (its alias, its account, or that last-resort mailbox). */
	if (out->kind == RESOLVE_UNKNOWN && is_role(lower) &&
	    !(strcmp(lower, "postmaster") == 0 && strcmp(domain, cfg->domains[0]) == 0)) {
		resolve_result_fini(out);
		resolve_rcpt(cfg, users, aliases, "postmaster", 10, cfg->domains[0], out);
	}
}

void resolve_result_fini(struct resolve_result *r)
{
	for (size_t i = 0; i < r->mailbox_count; i++)
		free(r->mailboxes[i]);
	free(r->mailboxes);
	for (size_t i = 0; i < r->remote_count; i++)
		free(r->remote[i]);
	free(r->remote);
	memset(r, 0, sizeof(*r));
}
