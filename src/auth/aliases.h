/* aliases: data_dir/aliases in /etc/aliases syntax (SPEC.md "Files").
 *
 *   name: target, target
 *
 * '#' comments, blank lines, continuation lines starting with whitespace.
 * name is a local part (valid in every local domain) or a full address;
 * a target is a local part, a local address or a remote address. Names and
 * targets are compared ignoring the case of ASCII letters (stored with
 * those in lower case); a UTF-8 local part (RFC 6531) is compared byte for
 * byte, neither case-folded nor normalised. Only plain
 * addresses are supported as targets: "|command", "/file" and ":include:"
 * are errors (a mail server must not run commands named in a data file).
 * The loaded table is an immutable snapshot. No logging here.
 *
 * File details: lines whose first non-blank byte is '#' and blank lines are
 * ignored anywhere (also between a line and its continuation); '#' inside a
 * line is not a comment. Targets are separated by ','; empty items
 * ("a: b,,c,") are skipped, but an alias needs at least one target and at
 * most ALIAS_TARGETS_MAX. Names and targets use userdb_is_valid_local() /
 * userdb_is_valid_address() syntax; one that is not (malformed UTF-8
 * included) is an error naming the line and why. Comment lines are not
 * checked: a Latin-1 comment in an old file is harmless. */
#ifndef KONVERT_AUTH_ALIASES_H
#define KONVERT_AUTH_ALIASES_H

#include <stdbool.h>
#include <stddef.h>

struct alias_entry {
	char *name; /* owned, ASCII lower case: "local" or "local@domain" */
	char **targets; /* owned array of owned strings, ASCII lower case, as written */
	size_t target_count;
};

struct aliases {
	struct alias_entry *entries; /* owned, sorted by name */
	size_t count;
};

/* Loads path; a missing file is an empty table. Errors: -1 with
 * "path:line: message" in err (duplicate name, bad target, syntax). */
int aliases_load(const char *path, struct aliases **out, char *err, size_t err_size);

void aliases_free(struct aliases **pp);

/* Says whether a domain (lower case) is local; used to resolve names. */
typedef bool (*aliases_is_local_fn)(const char *domain, void *ctx);

/* Expands local@domain (lower case, domain local) recursively.
 *
 * Lookup of an address a@d: first the full name "a@d", then, when d is
 * local, the bare name "a". A target without '@' means target@d where d is
 * the domain of the address being expanded. An address with no alias is a
 * final target. An address met again on the current expansion path (a
 * loop, or "bob: bob, bob@remote") is final too, so loops terminate and a
 * self-reference means "also deliver to the real mailbox". A target in a
 * domain that is_local() rejects is final (never looked up). Depth (the
 * number of aliases expanded inside one another) is capped at
 * ALIAS_DEPTH_MAX, the result at ALIAS_TARGETS_MAX and the work at
 * ALIAS_DEPTH_MAX * ALIAS_TARGETS_MAX targets visited; past a cap the
 * call returns -1 and *out is untouched. is_local must not be NULL.
 *
 * On success returns 0 and *out is an owned array of owned "local@domain"
 * strings, deduplicated, in first-seen order; *count_out its length. When
 * local@domain has no alias at all the result is just that address. */
int aliases_expand(const struct aliases *al, const char *local, const char *domain,
		   aliases_is_local_fn is_local, void *ctx, char ***out, size_t *count_out);

/* Frees an array returned by aliases_expand. */
void aliases_free_list(char **list, size_t count);

#endif
