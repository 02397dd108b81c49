/* aliases_test: the aliases file syntax (continuations, comments, refused
 * command/file/include targets, duplicates) and the expansion rules of
 * aliases.h: nesting, loops, self reference, bare targets taking the
 * expanded address's domain, full-address names, remote finals, caps,
 * deduplication and first-seen order. */
#include "auth/aliases.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/limits.h"

struct tmpfile {
	char dir[64];
	char path[128];
};

static void tmp_write(struct tmpfile *t, const char *content)
{
	int n = snprintf(t->dir, sizeof(t->dir), "/tmp/aliases_test.XXXXXX");
	assert_true(n > 0 && (size_t)n < sizeof(t->dir));
	assert_non_null(mkdtemp(t->dir));
	n = snprintf(t->path, sizeof(t->path), "%s/aliases", t->dir);
	assert_true(n > 0 && (size_t)n < sizeof(t->path));
	if (content == NULL)
		return;
	FILE *f = fopen(t->path, "w");
	assert_non_null(f);
	assert_true(fputs(content, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static void tmp_remove(struct tmpfile *t)
{
	(void)unlink(t->path);
	assert_int_equal(rmdir(t->dir), 0);
}

static struct aliases *load_text(const char *content, char *err, size_t err_size)
{
	struct tmpfile t;
	tmp_write(&t, content);
	struct aliases *al = NULL;
	int rc = aliases_load(t.path, &al, err, err_size);
	tmp_remove(&t);
	if (rc < 0) {
		assert_null(al);
		return NULL;
	}
	assert_non_null(al);
	return al;
}

static bool is_local(const char *domain, void *ctx)
{
	int *calls = ctx;
	(*calls)++;
	return strcmp(domain, "x.org") == 0 || strcmp(domain, "y.org") == 0;
}

/* ---- loading ---- */

struct load_case {
	const char *name;
	const char *content; /* NULL: no file */
	int rc;
	const char *err; /* substring expected in the error */
	size_t count;
};

static const struct load_case load_cases[] = {
	{.name = "missing file", .content = NULL, .rc = 0, .count = 0},
	{.name = "only comments",
	 .content = "# aliases\n\n  # indented\n\t\n",
	 .rc = 0,
	 .count = 0},
	{.name = "basic",
	 .content = "postmaster: root\nteam: a, b@y.org,c@remote.net\r\nInfo@X.org:sales\n",
	 .rc = 0,
	 .count = 3},
	{.name = "continuation across comment",
	 .content = "team: a,\n# between\n  b,\n\tc\nother: d\n",
	 .rc = 0,
	 .count = 2},
	{.name = "empty items skipped", .content = "a: b,, c,\n", .rc = 0, .count = 1},
	{.name = "command target",
	 .content = "a: b\nx: |/bin/sh -c evil\n",
	 .rc = -1,
	 .err = ":2: command targets"},
	{.name = "command target on continuation",
	 .content = "x: b,\n  |cmd\n",
	 .rc = -1,
	 .err = ":1: command targets (\"|...\") are not supported: |cmd"},
	{.name = "quoted command target",
	 .content = "x: b,\n  \"|cmd\"\n",
	 .rc = -1,
	 .err = ":1: quoted targets are not supported"},
	{.name = "file target", .content = "x: /var/mail/x\n", .rc = -1, .err = ":1: file targets"},
	{.name = "include", .content = "x: :include:/etc/list\n", .rc = -1, .err = ":include:"},
	{.name = "include upper case",
	 .content = "x: :INCLUDE:/etc/list\n",
	 .rc = -1,
	 .err = ":include:"},
	{.name = "quoted", .content = "x: \"a b\"\n", .rc = -1, .err = "quoted targets"},
	{.name = "no colon", .content = "x b\n", .rc = -1, .err = ":1: missing ':'"},
	{.name = "empty name", .content = ": b\n", .rc = -1, .err = ":1: invalid alias name"},
	{.name = "bad name", .content = "a b: c\n", .rc = -1, .err = ":1: invalid alias name"},
	{.name = "no targets", .content = "a:\n", .rc = -1, .err = ":1: alias a has no targets"},
	{.name = "only commas", .content = "a: , ,\n", .rc = -1, .err = "has no targets"},
	{.name = "bad target", .content = "a: b c\n", .rc = -1, .err = ":1: invalid target"},
	{.name = "bad target address",
	 .content = "a: b@\n",
	 .rc = -1,
	 .err = ":1: invalid target address: b@"},
	{.name = "leading continuation",
	 .content = "# c\n  b\n",
	 .rc = -1,
	 .err = ":2: continuation line without an alias"},
	{.name = "duplicate, other case",
	 .content = "a: b\nc: d\nA: e\n",
	 .rc = -1,
	 .err = ":3: duplicate alias a (first on line 1)"},
	/* RFC 6531: UTF-8 local parts on either side */
	{.name = "utf-8 name and targets",
	 .content = "b\xc3\xbcro: j\xc3\xb6rg, \xe7\x94\xb0\xe4\xb8\xad@remote.net\n"
		    "info: J\xc3\xb6rg@X.org\n"
		    "\xd0\xbf\xd0\xbe\xd1\x87\xd1\x82\xd0\xb0@x.org: bob\n",
	 .rc = 0,
	 .count = 3},
	{.name = "latin-1 name",
	 .content = "a: b\nb\xfcro: j\n",
	 .rc = -1,
	 .err = ":2: invalid alias name \"b\\xfcro\": malformed UTF-8 in the local part"},
	{.name = "latin-1 target",
	 .content = "a: b\nc: d,\n  j\xf6rg\n",
	 .rc = -1,
	 .err = ":2: invalid target address: j\\xf6rg (malformed UTF-8 in the local part)"},
	{.name = "truncated utf-8 target at the end of the file",
	 .content = "a: j\xc3",
	 .rc = -1,
	 .err = ":1: invalid target address: j\\xc3 (malformed UTF-8"},
	{.name = "overlong utf-8 target",
	 .content = "a: \xc0\xae\xc0\xae@x.org\n",
	 .rc = -1,
	 .err = ":1: invalid target address: \\xc0\\xae\\xc0\\xae@x.org (malformed UTF-8"},
	{.name = "surrogate in a name",
	 .content = "\xed\xa0\x80: a\n",
	 .rc = -1,
	 .err = ":1: invalid alias name"},
	{.name = "C1 control in a target",
	 .content = "a: b\xc2\x9b\n",
	 .rc = -1,
	 .err = ":1: invalid target address: b\\xc2\\x9b (control, space or invisible"},
	{.name = "U-label target domain",
	 .content = "a: j@b\xc3\xbc" "cher.example\n",
	 .rc = -1,
	 .err = ":1: invalid target address: j@b\xc3\xbc" "cher.example (non-ASCII domain: IDNA"},
	{.name = "latin-1 comment is not checked",
	 .content = "# Gr\xfc\xdf" "e\na: b\n",
	 .rc = 0,
	 .count = 1},
	{.name = "bare and full name differ",
	 .content = "a: b\na@x.org: c\n",
	 .rc = 0,
	 .count = 2},
};

static void test_load(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(load_cases) / sizeof(load_cases[0]); i++) {
		const struct load_case *c = &load_cases[i];
		char err[512] = "";
		struct aliases *al = load_text(c->content, err, sizeof(err));
		int rc = al ? 0 : -1;
		if (rc != c->rc)
			fail_msg("%s: rc %d, err %s", c->name, rc, err);
		if (rc == 0) {
			assert_int_equal(al->count, c->count);
			for (size_t k = 1; k < al->count; k++)
				assert_true(strcmp(al->entries[k - 1].name,
						   al->entries[k].name) < 0);
		} else if (strstr(err, c->err) == NULL || strstr(err, "/aliases") == NULL) {
			fail_msg("%s: error \"%s\" lacks \"%s\"", c->name, err, c->err);
		}
		aliases_free(&al);
		assert_null(al);
	}
}

static void test_load_stored_form(void **state)
{
	(void)state;
	char err[512];
	struct aliases *al = load_text("Team: Alice@X.ORG,\n  Bob\n", err, sizeof(err));
	assert_non_null(al);
	assert_int_equal(al->count, 1);
	assert_string_equal(al->entries[0].name, "team");
	assert_int_equal(al->entries[0].target_count, 2);
	assert_string_equal(al->entries[0].targets[0], "alice@x.org");
	assert_string_equal(al->entries[0].targets[1], "bob");
	aliases_free(&al);
	aliases_free(&al); /* NULL is accepted */
}

/* ---- expansion ---- */

#define MAX_EXPECT 8

struct expand_case {
	const char *name;
	const char *content;
	const char *local, *domain;
	int rc;
	const char *expect[MAX_EXPECT]; /* NULL-terminated */
};

static const struct expand_case expand_cases[] = {
	{.name = "no alias",
	 .content = "a: b\n",
	 .local = "bob",
	 .domain = "x.org",
	 .expect = {"bob@x.org"}},
	{.name = "empty table",
	 .content = "",
	 .local = "bob",
	 .domain = "x.org",
	 .expect = {"bob@x.org"}},
	{.name = "simple",
	 .content = "postmaster: root\n",
	 .local = "postmaster",
	 .domain = "x.org",
	 .expect = {"root@x.org"}},
	{.name = "several targets",
	 .content = "team: a, b@y.org, c@remote.net\n",
	 .local = "team",
	 .domain = "x.org",
	 .expect = {"a@x.org", "b@y.org", "c@remote.net"}},
	{.name = "continuation lines",
	 .content = "team: a,\n  b\n\t, c\n",
	 .local = "team",
	 .domain = "x.org",
	 .expect = {"a@x.org", "b@x.org", "c@x.org"}},
	{.name = "nested",
	 .content = "all: team, d\nteam: a, sub\nsub: s1, s2\n",
	 .local = "all",
	 .domain = "x.org",
	 .expect = {"a@x.org", "s1@x.org", "s2@x.org", "d@x.org"}},
	{.name = "nested across local domains",
	 .content = "a: b@y.org\nb@y.org: c\n",
	 .local = "a",
	 .domain = "x.org",
	 .expect = {"c@y.org"}},
	{.name = "loop a->b->a from a",
	 .content = "a: b\nb: a\n",
	 .local = "a",
	 .domain = "x.org",
	 .expect = {"a@x.org"}},
	{.name = "loop a->b->a from b",
	 .content = "a: b\nb: a\n",
	 .local = "b",
	 .domain = "x.org",
	 .expect = {"b@x.org"}},
	{.name = "three-step loop with side targets",
	 .content = "a: b, x1\nb: c\nc: a, x2\n",
	 .local = "a",
	 .domain = "x.org",
	 .expect = {"a@x.org", "x2@x.org", "x1@x.org"}},
	{.name = "self reference keeps the mailbox",
	 .content = "bob: bob, bob@remote.net\n",
	 .local = "bob",
	 .domain = "x.org",
	 .expect = {"bob@x.org", "bob@remote.net"}},
	{.name = "self reference by full address",
	 .content = "bob: bob@x.org, carol\n",
	 .local = "bob",
	 .domain = "x.org",
	 .expect = {"bob@x.org", "carol@x.org"}},
	{.name = "bare target takes the expanded domain",
	 .content = "list: a, b\n",
	 .local = "list",
	 .domain = "y.org",
	 .expect = {"a@y.org", "b@y.org"}},
	{.name = "bare target in nested full-address alias",
	 .content = "a: list@y.org\nlist@y.org: m\n",
	 .local = "a",
	 .domain = "x.org",
	 .expect = {"m@y.org"}},
	{.name = "full name wins over bare name",
	 .content = "info: support\ninfo@x.org: sales\n",
	 .local = "info",
	 .domain = "x.org",
	 .expect = {"sales@x.org"}},
	{.name = "bare name in the other domain",
	 .content = "info: support\ninfo@x.org: sales\n",
	 .local = "info",
	 .domain = "y.org",
	 .expect = {"support@y.org"}},
	{.name = "full name of another domain does not apply",
	 .content = "info@x.org: sales\n",
	 .local = "info",
	 .domain = "y.org",
	 .expect = {"info@y.org"}},
	{.name = "remote targets are final",
	 .content = "a: b@remote.net\nb@remote.net: evil\nb: evil2\n",
	 .local = "a",
	 .domain = "x.org",
	 .expect = {"b@remote.net"}},
	{.name = "dedup in first-seen order",
	 .content = "a: b, c, b, d\nc: b, d, e, E\n",
	 .local = "a",
	 .domain = "x.org",
	 .expect = {"b@x.org", "d@x.org", "e@x.org"}},
	{.name = "case-insensitive",
	 .content = "Team: Alice@X.ORG, BOB\n",
	 .local = "TEAM",
	 .domain = "X.Org",
	 .expect = {"alice@x.org", "bob@x.org"}},
	{.name = "utf-8 name to a utf-8 target, ASCII letters folded",
	 .content = "B\xc3\xbcro: J\xc3\xb6rg, \xe7\x94\xb0\xe4\xb8\xad@Remote.net\n",
	 .local = "b\xc3\xbcRO",
	 .domain = "x.org",
	 .expect = {"j\xc3\xb6rg@x.org", "\xe7\x94\xb0\xe4\xb8\xad@remote.net"}},
	{.name = "utf-8 nested across domains",
	 .content = "b\xc3\xbcro: team@y.org\nteam@y.org: j\xc3\xb6rg\n",
	 .local = "b\xc3\xbcro",
	 .domain = "x.org",
	 .expect = {"j\xc3\xb6rg@y.org"}},
	{.name = "non-ASCII letters are not case-folded",
	 .content = "b\xc3\xbcro: j\n",
	 .local = "b\xc3\x9cro",
	 .domain = "x.org",
	 .expect = {"b\xc3\x9cro@x.org"}},
};

static void check_expand(const struct expand_case *c)
{
	char err[512] = "";
	struct aliases *al = load_text(c->content, err, sizeof(err));
	if (al == NULL)
		fail_msg("%s: load: %s", c->name, err);
	int calls = 0;
	char **list = NULL;
	size_t n = 0;
	int rc = aliases_expand(al, c->local, c->domain, is_local, &calls, &list, &n);
	if (rc != c->rc)
		fail_msg("%s: rc %d", c->name, rc);
	if (rc == 0) {
		size_t want = 0;
		while (want < MAX_EXPECT && c->expect[want] != NULL)
			want++;
		if (n != want)
			fail_msg("%s: %zu results, want %zu (first %s)", c->name, n, want,
				 n ? list[0] : "-");
		for (size_t i = 0; i < n; i++)
			if (strcmp(list[i], c->expect[i]) != 0)
				fail_msg("%s: result %zu is %s, want %s", c->name, i, list[i],
					 c->expect[i]);
		aliases_free_list(list, n);
	}
	aliases_free(&al);
}

static void test_expand(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(expand_cases) / sizeof(expand_cases[0]); i++)
		check_expand(&expand_cases[i]);
}

/* A chain a0 -> a1 -> ... -> a{links}; a{links} has no alias. */
static char *chain(int links)
{
	char *text = xcalloc(1, 64 * (size_t)(links + 1));
	size_t off = 0;
	for (int i = 0; i < links; i++)
		off += (size_t)snprintf(text + off, 64, "a%d: a%d\n", i, i + 1);
	return text;
}

static int expand_text(const char *text, const char *local, char ***list, size_t *n)
{
	char err[512] = "";
	struct aliases *al = load_text(text, err, sizeof(err));
	if (al == NULL)
		fail_msg("load: %s", err);
	int calls = 0;
	int rc = aliases_expand(al, local, "x.org", is_local, &calls, list, n);
	aliases_free(&al);
	return rc;
}

static void test_depth_cap(void **state)
{
	(void)state;
	char **list = NULL;
	size_t n = 0;
	char *text = chain(ALIAS_DEPTH_MAX);
	assert_int_equal(expand_text(text, "a0", &list, &n), 0);
	assert_int_equal(n, 1);
	char want[32];
	(void)snprintf(want, sizeof(want), "a%d@x.org", ALIAS_DEPTH_MAX);
	assert_string_equal(list[0], want);
	aliases_free_list(list, n);
	free(text);

	text = chain(ALIAS_DEPTH_MAX + 1);
	list = NULL;
	assert_int_equal(expand_text(text, "a0", &list, &n), -1);
	assert_null(list);
	/* Entering the same chain one step later fits again. */
	assert_int_equal(expand_text(text, "a1", &list, &n), 0);
	aliases_free_list(list, n);
	free(text);
}

/* name: PREFIX0, PREFIX1, ... (count targets) */
static size_t list_line(char *buf, size_t size, const char *name, const char *prefix, int count)
{
	size_t off = (size_t)snprintf(buf, size, "%s:", name);
	for (int i = 0; i < count; i++) {
		int w = snprintf(buf + off, size - off, " %s%d,", prefix, i);
		assert_true(w > 0 && (size_t)w < size - off);
		off += (size_t)w;
	}
	buf[off++] = '\n';
	buf[off] = '\0';
	return off;
}

static void test_target_cap(void **state)
{
	(void)state;
	size_t size = 64 * 1024;
	char *text = xmalloc(size);
	char **list = NULL;
	size_t n = 0;

	/* Exactly the cap: fine (continuations keep lines short). */
	size_t off = 0;
	off += (size_t)snprintf(text + off, size - off, "big: p\np:\n");
	for (int i = 0; i < ALIAS_TARGETS_MAX; i++)
		off += (size_t)snprintf(text + off, size - off, "  u%d,\n", i);
	assert_true(off < size);
	assert_int_equal(expand_text(text, "big", &list, &n), 0);
	assert_int_equal(n, ALIAS_TARGETS_MAX); /* "p" expands to u0..u999 */
	aliases_free_list(list, n);

	/* Two lists of 600 distinct members: over the cap. */
	off = (size_t)snprintf(text, size, "both: l1, l2\n");
	off += list_line(text + off, size - off, "l1", "m", 600);
	off += list_line(text + off, size - off, "l2", "k", 600);
	list = NULL;
	assert_int_equal(expand_text(text, "both", &list, &n), -1);
	assert_null(list);

	/* Two lists of 600 overlapping members: dedup keeps it under. */
	off = (size_t)snprintf(text, size, "both: l1, l2\n");
	off += list_line(text + off, size - off, "l1", "m", 600);
	off += list_line(text + off, size - off, "l2", "m", 600);
	assert_int_equal(expand_text(text, "both", &list, &n), 0);
	assert_int_equal(n, 600);
	aliases_free_list(list, n);
	free(text);
}

static void test_work_cap(void **state)
{
	(void)state;
	/* Each level names the next one twice (bare and full), so the walk
	 * doubles per level while the result stays one address. */
	char *text = xcalloc(1, 4096);
	size_t off = 0;
	for (int i = 0; i < ALIAS_DEPTH_MAX - 1; i++)
		off += (size_t)snprintf(text + off, 4096 - off, "f%d: f%d, f%d@x.org\n", i, i + 1,
					i + 1);
	char **list = NULL;
	size_t n = 0;
	assert_int_equal(expand_text(text, "f0", &list, &n), -1);
	assert_null(list);
	/* Few levels: fine, one result. */
	assert_int_equal(expand_text(text, "f8", &list, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0], "f15@x.org");
	aliases_free_list(list, n);
	free(text);
}

static void test_load_errors_io(void **state)
{
	(void)state;
	struct aliases *al = NULL;
	char err[256] = "";
	/* A directory cannot be read as a file. */
	assert_int_equal(aliases_load("/", &al, err, sizeof(err)), -1);
	assert_null(al);
	assert_true(strncmp(err, "/:", 2) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load),	   cmocka_unit_test(test_load_stored_form),
		cmocka_unit_test(test_expand),	   cmocka_unit_test(test_depth_cap),
		cmocka_unit_test(test_target_cap), cmocka_unit_test(test_work_cap),
		cmocka_unit_test(test_load_errors_io),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
