/* userdb: the account directory, data_dir/users (SPEC.md "Files").
 *
 * One account a line, "ADDRESS:HASH[:FIELD...]". A loaded userdb is an
 * immutable snapshot: SIGHUP loads a new one and swaps it. Lookups ignore
 * the case of ASCII letters and compare every other byte exactly (a UTF-8
 * local part is neither case-folded nor normalised). Writing (konvert user ...) goes
 * through userdb_save(), which rewrites the file atomically (temporary
 * file, fsync, rename, fsync of the directory). No logging here.
 *
 * File syntax: blank lines and lines whose first non-blank byte is '#' are
 * skipped (and not preserved by userdb_save). ADDRESS is local@domain as
 * accepted by userdb_is_valid_address() and is stored with its ASCII
 * letters in lower case, its UTF-8 bytes as written; HASH is
 * the non-empty text up to the next ':' or the end of the line; the rest
 * after that ':' is the extra field, kept verbatim. A duplicate address is
 * an error. */
#ifndef KONVERT_AUTH_USERDB_H
#define KONVERT_AUTH_USERDB_H

#include <stdbool.h>
#include <stddef.h>

/* Room for any crypt(3) string plus NUL (libxcrypt CRYPT_OUTPUT_SIZE). */
#define USERDB_HASH_MAX 384
/* Longest password crypt(3) takes, in bytes (libxcrypt refuses more). */
#define USERDB_PASSWORD_MAX 511

struct user_entry {
	char *address; /* owned, "local@domain", ASCII letters lower case */
	char *hash; /* owned, crypt(3) string */
	char *extra; /* owned, everything after the second ':' or NULL (never "") */
};

struct userdb {
	struct user_entry *users; /* owned array, sorted by address (strcmp) */
	size_t count;
	bool absent; /* loaded from a file that does not exist */
	/* owned, NULL when none: "path:line: message\n" lines about entries
	 * that were loaded but are partly unusable (a malformed SCRAM field);
	 * the caller logs them (this module does not log). */
	char *warnings;
};

/* Loads path. A missing file is an empty directory with absent set (not an
 * error); a link, a file writable by group or others and the like are
 * refused (core/textfile.h). On a
 * malformed line returns -1 with "path:line: message" in err; on an I/O
 * error -1 with "path: reason". */
int userdb_load(const char *path, struct userdb **out, char *err, size_t err_size);

/* Returns a new empty directory (owned). */
struct userdb *userdb_new(void);

void userdb_free(struct userdb **pp);

/* Exact lookup of "local@domain" (len bytes, need not be NUL-terminated)
 * ignoring the case of ASCII letters only. The result points into db and lives as long as db is
 * not mutated or freed. NULL when absent. */
const struct user_entry *userdb_find(const struct userdb *db, const char *address, size_t len);

/* Mutations used by the CLI. add fails (-1) when the address exists or is
 * invalid; set_hash and remove fail when it does not exist. hash must be
 * non-empty without ':' or line breaks; extra (NULL or "": none) must have
 * no line breaks. Strings are copied: set_hash may be given the entry's
 * own current extra to keep it, since NULL removes it. */
int userdb_add(struct userdb *db, const char *address, const char *hash, const char *extra);
int userdb_set_hash(struct userdb *db, const char *address, const char *hash, const char *extra);
int userdb_remove(struct userdb *db, const char *address);

/* Atomically replaces path with the directory's contents (mode 0600): the
 * data goes to "path.tmp.PID" in the same directory, is fsynced, renamed
 * over path, and the directory is fsynced. When the directory belongs to
 * another uid than the process (root running the CLI on the server's
 * data_dir), the file is given the directory's owner and group. On failure
 * returns -1 with "path: reason" in err and leaves path untouched. */
int userdb_save(const struct userdb *db, const char *path, char *err, size_t err_size);

/* Makes a yescrypt ("$y$") hash of password with a fresh salt into out
 * (USERDB_HASH_MAX bytes are always enough). Returns 0 or -1 (also for a
 * password longer than USERDB_PASSWORD_MAX).
 * Slow on purpose: never call it on the event loop thread. */
int userdb_hash_password(const char *password, char *out, size_t out_size);

/* Checks password against a crypt(3) hash ($y$, $6$, $2b$ ...), in constant
 * time for the comparison. A malformed or locked hash ("*", "!") never
 * matches. Slow: never on the event loop thread. */
bool userdb_check_password(const char *password, const char *hash);

/* Address syntax shared by users, aliases, the CLI and every login.
 * Local part: 1..64 bytes of dot-atom (RFC 5322 3.2.3: no leading,
 * trailing or double dot, no quoting) whose atext is the ASCII one minus
 * '/' (it names a directory under data_dir/mail) plus, as RFC 6531 3.3
 * extends it, any well-formed UTF-8 character that utf8_is_hidden()
 * (core/utf8.h) does not refuse: no overlong forms, surrogates, C1
 * controls, odd spaces or invisible format characters. Not starting with
 * '#' (it would read as a comment). Domain: ASCII only (IDNA is not
 * supported: a U-label is refused, its A-label "xn--..." is fine), labels
 * of letters, digits, '-' and '_', 1..63 bytes each, total <= 255, no
 * address literals. The whole address fits an RFC 5321 path. Any case.
 * The _error forms return NULL when valid, else a static reason fit for
 * an administrator ("malformed UTF-8 in the local part"). */
const char *userdb_local_error(const char *s, size_t len);
const char *userdb_domain_error(const char *s, size_t len);
const char *userdb_address_error(const char *s, size_t len);
bool userdb_is_valid_local(const char *s, size_t len);
bool userdb_is_valid_domain(const char *s, size_t len);
bool userdb_is_valid_address(const char *s, size_t len);

#endif
