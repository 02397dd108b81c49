/* aliases: owns the data_dir/aliases parser, the sorted alias table and the
 * recursive expansion of a local address into final addresses. It only
 * ever produces plain addresses: command, file and :include: targets are
 * refused at load time, so nothing here can be made to run a program or
 * write a file. No logging, no configuration: the caller says which
 * domains are local through a callback. */
#include "auth/aliases.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/userdb.h"
#include "core/alloc.h"
#include "core/textfile.h"
#include "core/kassert.h"
#include "core/limits.h"
#include "core/log.h"

/* A logical line (with its continuations) may hold a long list, but not an
 * unbounded one. */
#define ALIAS_LOGICAL_LINE_MAX (64 * FILE_LINE_MAX)
/* Room for a name or target quoted in an error (cut with "..."). */
#define ALIAS_SHOWN_MAX 96

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t err_size,
							   const char *fmt, ...)
{
	if (err == NULL || err_size == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

static void lower_in_place(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void entry_fini(struct alias_entry *e)
{
	aliases_free_list(e->targets, e->target_count);
	free(e->name);
	*e = (struct alias_entry){0};
}

void aliases_free_list(char **list, size_t count)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		free(list[i]);
	free(list);
}

void aliases_free(struct aliases **pp)
{
	if (*pp == NULL)
		return;
	struct aliases *al = *pp;
	for (size_t i = 0; i < al->count; i++)
		entry_fini(&al->entries[i]);
	free(al->entries);
	free(al);
	*pp = NULL;
}

/* ---- loading ---- */

struct load_item {
	struct alias_entry e;
	unsigned long line;
};

struct loader {
	const char *path;
	char *err;
	size_t err_size;
	struct load_item *items;
	size_t n, cap;
};

static int cmp_item(const void *a, const void *b)
{
	const struct load_item *x = a, *y = b;
	int c = strcmp(x->e.name, y->e.name);
	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* Why a name or target is not a local part or an address (userdb
 * syntax, UTF-8 local parts included); NULL when it is one. */
static const char *name_error(const char *s, size_t len)
{
	return memchr(s, '@', len) != NULL ? userdb_address_error(s, len)
					   : userdb_local_error(s, len);
}

/* Checks one trimmed target; NULL when fine, else a static reason and,
 * for a malformed address, *detail_out says what is wrong with it. */
static const char *check_target(const char *t, size_t len, const char **detail_out)
{
	*detail_out = NULL;
	if (t[0] == '|')
		return "command targets (\"|...\") are not supported";
	if (t[0] == '/')
		return "file targets (\"/...\") are not supported";
	if (len >= 9 && strncasecmp(t, ":include:", 9) == 0)
		return "\":include:\" is not supported";
	if (t[0] == '"')
		return "quoted targets are not supported";
	*detail_out = name_error(t, len);
	return *detail_out != NULL ? "invalid target address" : NULL;
}

/* Parses one logical line "name: t1, t2" (NUL-terminated, continuations
 * already joined) that started on line lineno, and appends the entry. */
static int parse_logical(struct loader *ld, char *text, unsigned long lineno)
{
	char *colon = strchr(text, ':');
	if (colon == NULL) {
		set_err(ld->err, ld->err_size, "%s:%lu: missing ':' after the alias name",
			ld->path, lineno);
		return -1;
	}
	size_t name_len = (size_t)(colon - text);
	while (name_len > 0 && is_blank(text[name_len - 1]))
		name_len--;
	/* The file is the administrator's, but a message quoting it must
	 * still be one clean line: text that is not shown is escaped. */
	char shown[ALIAS_SHOWN_MAX];
	const char *bad_name = name_error(text, name_len);
	if (bad_name != NULL) {
		set_err(ld->err, ld->err_size, "%s:%lu: invalid alias name \"%s\": %s", ld->path,
			lineno, log_escape_utf8(shown, sizeof(shown), text, name_len), bad_name);
		return -1;
	}
	struct alias_entry e = {.name = xstrndup(text, name_len)};
	lower_in_place(e.name);
	size_t cap = 0;
	char *p = colon + 1;
	for (;;) {
		char *comma = strchr(p, ',');
		char *end = comma ? comma : p + strlen(p);
		while (p < end && is_blank(*p))
			p++;
		char *q = end;
		while (q > p && is_blank(q[-1]))
			q--;
		size_t len = (size_t)(q - p);
		if (len > 0) {
			const char *detail;
			const char *why = check_target(p, len, &detail);
			if (why != NULL) {
				set_err(ld->err, ld->err_size, "%s:%lu: %s: %s%s%s%s", ld->path, lineno,
					why, log_escape_utf8(shown, sizeof(shown), p, len),
					detail != NULL ? " (" : "", detail != NULL ? detail : "",
					detail != NULL ? ")" : "");
				goto fail;
			}
			if (e.target_count == ALIAS_TARGETS_MAX) {
				set_err(ld->err, ld->err_size, "%s:%lu: more than %d targets",
					ld->path, lineno, ALIAS_TARGETS_MAX);
				goto fail;
			}
			if (e.target_count == cap) {
				cap = cap ? cap * 2 : 4;
				e.targets = xrealloc(e.targets, cap * sizeof(char *));
			}
			char *t = xstrndup(p, len);
			lower_in_place(t);
			e.targets[e.target_count++] = t;
		}
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	if (e.target_count == 0) {
		set_err(ld->err, ld->err_size, "%s:%lu: alias %s has no targets", ld->path, lineno,
			e.name);
		goto fail;
	}
	if (ld->n == ld->cap) {
		ld->cap = ld->cap ? ld->cap * 2 : 16;
		size_t bytes;
		if (ckd_mul_size(&bytes, ld->cap, sizeof(*ld->items))) {
			set_err(ld->err, ld->err_size, "%s: too many aliases", ld->path);
			goto fail;
		}
		ld->items = xrealloc(ld->items, bytes);
	}
	ld->items[ld->n++] = (struct load_item){.e = e, .line = lineno};
	return 0;
fail:
	entry_fini(&e);
	return -1;
}

static void free_items(struct load_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		entry_fini(&items[i].e);
	free(items);
}

int aliases_load(const char *path, struct aliases **out, char *err, size_t err_size)
{
	*out = NULL;
	struct textfile tf;
	int open_rc = textfile_open(&tf, path, err, err_size);
	if (open_rc <= 0) {
		if (open_rc == 0)
			*out = xcalloc(1, sizeof(struct aliases));
		return open_rc;
	}
	struct loader ld = {.path = path, .err = err, .err_size = err_size};
	char *line;
	size_t len;
	char *logical = NULL; /* the pending logical line, NULL when none */
	size_t logical_len = 0;
	unsigned long lineno = 0, logical_line = 0;
	int rc = -1;
	for (;;) {
		int got = textfile_next(&tf, &line, &len, err, err_size);
		if (got < 0)
			goto out;
		if (got == 0)
			break;
		lineno = tf.lineno;
		size_t skip = strspn(line, " \t");
		if (line[skip] == '\0' || line[skip] == '#')
			continue;
		if (skip > 0) {
			if (logical == NULL) {
				set_err(err, err_size, "%s:%lu: continuation line without an alias",
					path, lineno);
				goto out;
			}
			size_t new_len;
			if (ckd_add_size(&new_len, logical_len, len + 1) ||
			    new_len > ALIAS_LOGICAL_LINE_MAX) {
				set_err(err, err_size, "%s:%lu: alias too long", path,
					logical_line);
				goto out;
			}
			/* The joint is a blank, so "a,\n b" and "a\n ,b" both split. */
			logical = xrealloc(logical, new_len + 1);
			logical[logical_len] = ' ';
			memcpy(logical + logical_len + 1, line, len + 1);
			logical_len = new_len;
			continue;
		}
		if (logical != NULL) {
			int prc = parse_logical(&ld, logical, logical_line);
			free(logical);
			logical = NULL;
			if (prc < 0)
				goto out;
		}
		logical = xstrndup(line, len);
		logical_len = len;
		logical_line = lineno;
	}
	if (logical != NULL && parse_logical(&ld, logical, logical_line) < 0)
		goto out;
	if (ld.n > 0)
		qsort(ld.items, ld.n, sizeof(*ld.items), cmp_item);
	for (size_t i = 1; i < ld.n; i++) {
		if (strcmp(ld.items[i - 1].e.name, ld.items[i].e.name) == 0) {
			set_err(err, err_size, "%s:%lu: duplicate alias %s (first on line %lu)",
				path, ld.items[i].line, ld.items[i].e.name, ld.items[i - 1].line);
			goto out;
		}
	}
	struct aliases *al = xcalloc(1, sizeof(*al));
	al->entries = xcalloc(ld.n, sizeof(struct alias_entry));
	for (size_t i = 0; i < ld.n; i++)
		al->entries[i] = ld.items[i].e;
	al->count = ld.n;
	free(ld.items);
	ld.items = NULL;
	ld.n = 0;
	*out = al;
	rc = 0;
out:
	free_items(ld.items, ld.n);
	free(logical);
	textfile_close(&tf);
	return rc;
}

/* ---- expansion ---- */

struct expander {
	const struct aliases *al;
	aliases_is_local_fn is_local;
	void *ctx;
	char **out; /* owned until handed to the caller */
	size_t n, cap;
	/* Addresses being expanded, outermost first; borrowed from the
	 * recursion frames. */
	const char *path[ALIAS_DEPTH_MAX];
	size_t depth;
	size_t steps;
};

/* Exact lookup of a lower-case name of len bytes. */
static const struct alias_entry *lookup(const struct aliases *al, const char *name, size_t len)
{
	size_t lo = 0, hi = al->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *m = al->entries[mid].name;
		int c = strncmp(m, name, len);
		if (c == 0 && m[len] != '\0')
			c = 1;
		if (c == 0)
			return &al->entries[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int emit(struct expander *x, const char *addr)
{
	for (size_t i = 0; i < x->n; i++)
		if (strcmp(x->out[i], addr) == 0)
			return 0;
	if (x->n == ALIAS_TARGETS_MAX)
		return -1;
	if (x->n == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 8;
		x->out = xrealloc(x->out, x->cap * sizeof(char *));
	}
	x->out[x->n++] = xstrdup(addr);
	return 0;
}

static bool on_path(const struct expander *x, const char *addr)
{
	for (size_t i = 0; i < x->depth; i++)
		if (strcmp(x->path[i], addr) == 0)
			return true;
	return false;
}

/* addr is lower-case "local@domain" with a local domain. */
static int expand(struct expander *x, const char *addr)
{
	const char *at = strrchr(addr, '@');
	KASSERT(at != NULL);
	const char *domain = at + 1;
	if (on_path(x, addr))
		return emit(x, addr); /* loop or self-reference: the real mailbox */
	const struct alias_entry *e = lookup(x->al, addr, strlen(addr));
	/* The bare-name lookup is for names without '@' only: a local part
	 * that itself contains '@' ("x@remote"@local) must never reach an
	 * alias named by a full address. */
	if (e == NULL && memchr(addr, '@', (size_t)(at - addr)) == NULL)
		e = lookup(x->al, addr, (size_t)(at - addr));
	if (e == NULL)
		return emit(x, addr);
	if (x->depth == ALIAS_DEPTH_MAX)
		return -1;
	x->path[x->depth++] = addr;
	int rc = 0;
	for (size_t i = 0; i < e->target_count && rc == 0; i++) {
		/* Fan-out through nested lists can cost far more than the
		 * deduplicated result shows; bound the work itself. */
		if (++x->steps > (size_t)ALIAS_DEPTH_MAX * ALIAS_TARGETS_MAX) {
			rc = -1;
			break;
		}
		const char *t = e->targets[i];
		char *full;
		if (strchr(t, '@') == NULL) {
			size_t tl = strlen(t), dl = strlen(domain);
			full = xmalloc(tl + dl + 2);
			memcpy(full, t, tl);
			full[tl] = '@';
			memcpy(full + tl + 1, domain, dl + 1);
		} else {
			full = xstrdup(t);
		}
		const char *tdomain = strrchr(full, '@') + 1;
		if (x->is_local(tdomain, x->ctx))
			rc = expand(x, full);
		else
			rc = emit(x, full);
		free(full);
	}
	x->depth--;
	return rc;
}

int aliases_expand(const struct aliases *al, const char *local, const char *domain,
		   aliases_is_local_fn is_local, void *ctx, char ***out, size_t *count_out)
{
	KASSERT(is_local != NULL);
	size_t ll = strlen(local), dl = strlen(domain);
	char *addr = xmalloc(ll + dl + 2);
	memcpy(addr, local, ll);
	addr[ll] = '@';
	memcpy(addr + ll + 1, domain, dl + 1);
	lower_in_place(addr);
	struct expander x = {.al = al, .is_local = is_local, .ctx = ctx};
	int rc = expand(&x, addr);
	free(addr);
	if (rc < 0) {
		aliases_free_list(x.out, x.n);
		return -1;
	}
	*out = x.out;
	*count_out = x.n;
	return 0;
}
