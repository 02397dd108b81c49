/* userdb_test: the users file format (good, hand-written and malformed
 * lines), lookup, the CLI mutations, the atomic save round trip in a temp
 * directory, and crypt(3) hashing/checking with $y$ and $6$. */
#include "auth/userdb.h"

#include <crypt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"

struct tmpdir {
	char dir[64];
	char path[128]; /* dir/users */
};

static void tmp_make(struct tmpdir *t)
{
	int n = snprintf(t->dir, sizeof(t->dir), "/tmp/userdb_test.XXXXXX");
	assert_true(n > 0 && (size_t)n < sizeof(t->dir));
	assert_non_null(mkdtemp(t->dir));
	n = snprintf(t->path, sizeof(t->path), "%s/users", t->dir);
	assert_true(n > 0 && (size_t)n < sizeof(t->path));
}

static void tmp_write(const struct tmpdir *t, const char *content)
{
	FILE *f = fopen(t->path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(content, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static char *tmp_read(const struct tmpdir *t)
{
	FILE *f = fopen(t->path, "r");
	assert_non_null(f);
	char *buf = xcalloc(1, 8192);
	size_t n = fread(buf, 1, 8191, f);
	buf[n] = '\0';
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void tmp_remove(struct tmpdir *t)
{
	(void)unlink(t->path);
	assert_int_equal(rmdir(t->dir), 0); /* also proves no temp file was left */
}

/* ---- address syntax ---- */

struct addr_case {
	const char *addr;
	bool valid;
};

static const struct addr_case addr_cases[] = {
	{.addr = "bob@example.org", .valid = true},
	{.addr = "Bob.Smith+tag@Example.ORG", .valid = true},
	{.addr = "a_b-c@mail-1.x_y.example", .valid = true},
	{.addr = "o'hara@example.org", .valid = true},
	{.addr = "bob@localhost", .valid = true},
	{.addr = "bob", .valid = false},
	{.addr = "@example.org", .valid = false},
	{.addr = "bob@", .valid = false},
	{.addr = "bob@@example.org", .valid = false},
	{.addr = "a@b@example.org", .valid = false},
	{.addr = "bob:x@example.org", .valid = false},
	{.addr = "bob @example.org", .valid = false},
	{.addr = "bob\t@example.org", .valid = false},
	{.addr = ".bob@example.org", .valid = false},
	{.addr = "bob.@example.org", .valid = false},
	{.addr = "b..ob@example.org", .valid = false},
	{.addr = "..@example.org", .valid = false},
	{.addr = "a/b@example.org", .valid = false},
	{.addr = "#bob@example.org", .valid = false},
	{.addr = "\"bob\"@example.org", .valid = false},
	{.addr = "bob@exa mple.org", .valid = false},
	{.addr = "bob@example..org", .valid = false},
	{.addr = "bob@.example.org", .valid = false},
	{.addr = "bob@example.org.", .valid = false},
	{.addr = "bob@[127.0.0.1]", .valid = false},
	{.addr = "bob@ex/ample", .valid = false},
	/* RFC 6531 local parts: well-formed UTF-8 of shown characters */
	{.addr = "b\xc3\xa9@example.org", .valid = true},
	{.addr = "J\xc3\xb6rg@Example.ORG", .valid = true},
	{.addr = "\xe7\x94\xb0\xe4\xb8\xad.\xe5\xa4\xaa\xe9\x83\x8e@example.org", .valid = true},
	{.addr = "\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xbd+tag@example.org", .valid = true},
	{.addr = "\xf0\x9f\x93\xa7@example.org", .valid = true},
	{.addr = "a\xe2\x80\x8d" "b@example.org", .valid = true}, /* ZWJ */
	{.addr = "j\xf6rg@example.org", .valid = false}, /* Latin-1 */
	{.addr = "\xc0\xaf@example.org", .valid = false}, /* overlong '/' */
	{.addr = "a\xc0\xae\xc0\xae@example.org", .valid = false}, /* overlong ".." */
	{.addr = "a\xe0\x80\xaf@example.org", .valid = false}, /* overlong 3 byte */
	{.addr = "a\xed\xa0\x80@example.org", .valid = false}, /* surrogate */
	{.addr = "a\xf4\x90\x80\x80@example.org", .valid = false}, /* > U+10FFFF */
	{.addr = "a\xc3@example.org", .valid = false}, /* truncated */
	{.addr = "a\xe7\x94@example.org", .valid = false}, /* truncated */
	{.addr = "\xb6@example.org", .valid = false}, /* lone continuation */
	{.addr = "a\xc2\x85@example.org", .valid = false}, /* C1 NEL */
	{.addr = "a\xc2\x9b@example.org", .valid = false}, /* C1 CSI */
	{.addr = "a\xc2\xa0" "b@example.org", .valid = false}, /* no-break space */
	{.addr = "a\xe3\x80\x80" "b@example.org", .valid = false}, /* ideographic space */
	{.addr = "a\xe2\x80\x8b" "b@example.org", .valid = false}, /* zero width space */
	{.addr = "a\xe2\x80\xae" "b@example.org", .valid = false}, /* RLO */
	{.addr = "\xef\xbb\xbf" "a@example.org", .valid = false}, /* BOM */
	{.addr = "\"j\xc3\xb6rg\"@example.org", .valid = false}, /* quoted */
	{.addr = ".\xc3\xb6@example.org", .valid = false},
	{.addr = "\xc3\xb6.@example.org", .valid = false},
	{.addr = "\xc3\xb6..\xc3\xb6@example.org", .valid = false},
	/* domains stay ASCII: A-labels yes, U-labels no (no IDNA) */
	{.addr = "bob@xn--bcher-kva.example", .valid = true},
	{.addr = "bob@b\xc3\xbc" "cher.example", .valid = false},
	{.addr = "j\xc3\xb6rg@b\xc3\xbc" "cher.example", .valid = false},
	/* 64 bytes, not characters: 32 two-byte characters fit, 33 do not */
	{.addr = "\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6"
		 "\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6"
		 "\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6"
		 "\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6@x.org",
	 .valid = true},
	{.addr = "\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6"
		 "\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6"
		 "\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6"
		 "\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6\xc3\xb6"
		 "\xc3\xb6@x.org",
	 .valid = false},
	{.addr = "12345678901234567890123456789012345678901234567890123456789012345@x.org",
	 .valid = false},
	{.addr = "1234567890123456789012345678901234567890123456789012345678901234@x.org",
	 .valid = true},
	{.addr = "bob@1234567890123456789012345678901234567890123456789012345678901234.org",
	 .valid = false},
};

static void test_address_syntax(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
		const struct addr_case *c = &addr_cases[i];
		if (userdb_is_valid_address(c->addr, strlen(c->addr)) != c->valid)
			fail_msg("case %zu: %s: expected %s", i, c->addr,
				 c->valid ? "valid" : "invalid");
	}
	/* Path limit: 64 + 1 + 190 = 255 > 254. */
	char long_addr[300];
	memset(long_addr, 'a', sizeof(long_addr));
	long_addr[64] = '@';
	for (size_t i = 70; i < 255; i += 10)
		long_addr[i] = '.';
	assert_false(userdb_is_valid_address(long_addr, 255));
	assert_true(userdb_is_valid_address(long_addr, 250));
}

/* The reasons the CLI and the file loaders show. */
static void test_address_errors(void **state)
{
	(void)state;
	static const struct {
		const char *addr;
		const char *why; /* substring; NULL: valid */
	} cases[] = {
		{"j\xc3\xb6rg@example.org", NULL},
		{"j\xf6rg@example.org", "malformed UTF-8 in the local part"},
		{"a\xc2\x85@example.org", "invisible character in the local part"},
		{"bob@b\xc3\xbc" "cher.example", "IDNA is not supported"},
		{"bob@b\xc3\xbc" "cher.example", "xn--"},
		{"a b@example.org", "space or control character"},
		{"a/b@example.org", "not allowed in a local part"},
		{"bob", "no '@'"},
		{"@example.org", "empty local part"},
		{"bob@", "empty domain"},
		{"bob@[127.0.0.1]", "address literals"},
		{"a..b@example.org", "\"..\""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = userdb_address_error(cases[i].addr, strlen(cases[i].addr));
		if (cases[i].why == NULL ? why != NULL
					 : why == NULL || strstr(why, cases[i].why) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, why ? why : "(valid)",
				 cases[i].why ? cases[i].why : "(valid)");
	}
	assert_null(userdb_local_error("j\xc3\xb6rg", 5));
	assert_non_null(userdb_local_error("j\xc3", 2));
	assert_null(userdb_domain_error("xn--bcher-kva.example", 21));
	assert_non_null(userdb_domain_error("b\xc3\xbc" "cher", 7));
}

/* ---- loading ---- */

struct load_case {
	const char *name;
	const char *content; /* NULL: no file at all */
	int rc;
	const char *err; /* expected substring of the error */
	size_t count;
	const char *find; /* looked up (any case) when rc == 0 */
	const char *hash; /* expected hash of find */
	const char *extra; /* expected extra of find, NULL for none */
};

static const struct load_case load_cases[] = {
	{.name = "missing file", .content = NULL, .rc = 0, .count = 0},
	{.name = "empty file", .content = "", .rc = 0, .count = 0},
	{.name = "hand-written",
	 .content = "bob@example.org:$6$salt$hash\n",
	 .rc = 0,
	 .count = 1,
	 .find = "BOB@Example.org",
	 .hash = "$6$salt$hash"},
	{.name = "no final newline, CRLF, comments, blanks",
	 .content = "# users\n\n   \n\t# indented comment\r\n"
		    "Carol@Example.ORG:$y$abc$def\r\n"
		    "alice@example.org:$y$x$y:scram=1:quota=5",
	 .rc = 0,
	 .count = 2,
	 .find = "alice@example.org",
	 .hash = "$y$x$y",
	 .extra = "scram=1:quota=5"},
	{.name = "lower-cased address",
	 .content = "Carol@Example.ORG:h\n",
	 .rc = 0,
	 .count = 1,
	 .find = "carol@example.org",
	 .hash = "h"},
	{.name = "trailing blanks dropped",
	 .content = "bob@example.org:h  \t\n",
	 .rc = 0,
	 .count = 1,
	 .find = "bob@example.org",
	 .hash = "h"},
	{.name = "empty extra is none",
	 .content = "bob@example.org:h:\n",
	 .rc = 0,
	 .count = 1,
	 .find = "bob@example.org",
	 .hash = "h"},
	{.name = "no colon", .content = "bob@example.org\n", .rc = -1, .err = ":1: missing ':'"},
	{.name = "empty hash",
	 .content = "# x\nbob@example.org:\n",
	 .rc = -1,
	 .err = ":2: empty password hash"},
	{.name = "empty hash before extra",
	 .content = "bob@example.org::x\n",
	 .rc = -1,
	 .err = ":1: empty password hash"},
	{.name = "bare local part", .content = "bob:h\n", .rc = -1, .err = ":1: invalid address"},
	{.name = "leading space",
	 .content = " bob@x.org:h\n",
	 .rc = -1,
	 .err = ":1: invalid address"},
	{.name = "space in address",
	 .content = "bob smith@x.org:h\n",
	 .rc = -1,
	 .err = ":1: invalid address"},
	{.name = "space in hash",
	 .content = "bob@x.org:h h\n",
	 .rc = -1,
	 .err = ":1: whitespace in password hash"},
	{.name = "utf-8 local part, stored as written",
	 .content = "J\xc3\xb6rg@Example.ORG:$y$h\n\xe7\x94\xb0\xe4\xb8\xad@example.org:$y$t\n",
	 .rc = 0,
	 .count = 2,
	 .find = "j\xc3\xb6rg@EXAMPLE.org",
	 .hash = "$y$h"},
	{.name = "utf-8 local part, other line",
	 .content = "J\xc3\xb6rg@Example.ORG:$y$h\n\xe7\x94\xb0\xe4\xb8\xad@example.org:$y$t\n",
	 .rc = 0,
	 .count = 2,
	 .find = "\xe7\x94\xb0\xe4\xb8\xad@example.org",
	 .hash = "$y$t"},
	{.name = "malformed utf-8 (Latin-1)",
	 .content = "bob@x.org:h\nj\xf6rg@x.org:h\n",
	 .rc = -1,
	 .err = ":2: invalid address: malformed UTF-8 in the local part"},
	{.name = "overlong utf-8",
	 .content = "\xc0\xae\xc0\xae@x.org:h\n",
	 .rc = -1,
	 .err = ":1: invalid address: malformed UTF-8"},
	{.name = "surrogate",
	 .content = "\xed\xa0\x80@x.org:h\n",
	 .rc = -1,
	 .err = ":1: invalid address: malformed UTF-8"},
	{.name = "truncated utf-8 before the colon",
	 .content = "j\xc3@x.org:h\n",
	 .rc = -1,
	 .err = ":1: invalid address: malformed UTF-8"},
	{.name = "C1 control",
	 .content = "a\xc2\x9b@x.org:h\n",
	 .rc = -1,
	 .err = ":1: invalid address: control, space or invisible character"},
	{.name = "U-label domain",
	 .content = "bob@b\xc3\xbc" "cher.example:h\n",
	 .rc = -1,
	 .err = ":1: invalid address: non-ASCII domain: IDNA is not supported"},
	{.name = "utf-8 duplicate after ASCII case folding",
	 .content = "J\xc3\xb6rg@x.org:h1\nj\xc3\xb6rg@X.org:h2\n",
	 .rc = -1,
	 .err = ":2: duplicate address j\xc3\xb6rg@x.org (first on line 1)"},
	{.name = "non-ASCII letters are not case-folded",
	 .content = "j\xc3\xb6rg@x.org:h1\nj\xc3\x96rg@x.org:h2\n",
	 .rc = 0,
	 .count = 2,
	 .find = "J\xc3\x96RG@x.org",
	 .hash = "h2"},
	{.name = "duplicate, other case",
	 .content = "bob@x.org:h1\nalice@x.org:h\nBOB@X.org:h2\n",
	 .rc = -1,
	 .err = ":3: duplicate address bob@x.org (first on line 1)"},
};

static void test_load(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(load_cases) / sizeof(load_cases[0]); i++) {
		const struct load_case *c = &load_cases[i];
		struct tmpdir t;
		tmp_make(&t);
		if (c->content != NULL)
			tmp_write(&t, c->content);
		struct userdb *db = NULL;
		char err[512] = "";
		int rc = userdb_load(t.path, &db, err, sizeof(err));
		if (rc != c->rc)
			fail_msg("%s: rc %d, err %s", c->name, rc, err);
		if (rc == 0) {
			assert_non_null(db);
			assert_int_equal(db->count, c->count);
			for (size_t k = 1; k < db->count; k++)
				assert_true(strcmp(db->users[k - 1].address,
						   db->users[k].address) < 0);
			if (c->find != NULL) {
				const struct user_entry *e =
					userdb_find(db, c->find, strlen(c->find));
				if (e == NULL)
					fail_msg("%s: %s not found", c->name, c->find);
				assert_string_equal(e->hash, c->hash);
				if (c->extra == NULL)
					assert_null(e->extra);
				else
					assert_string_equal(e->extra, c->extra);
			}
		} else {
			assert_null(db);
			if (strstr(err, c->err) == NULL ||
			    strncmp(err, t.path, strlen(t.path)) != 0)
				fail_msg("%s: error \"%s\" lacks \"%s\"", c->name, err, c->err);
		}
		userdb_free(&db);
		assert_null(db);
		tmp_remove(&t);
	}
}

/* A missing file is an empty, absent table; a file others can write, or a
 * link, is refused; a malformed SCRAM field loads with a warning that
 * names the file and line. */
static void test_load_absent_modes_warnings(void **state)
{
	(void)state;
	struct tmpdir t;
	tmp_make(&t);
	struct userdb *db = NULL;
	char err[512] = "";
	assert_int_equal(userdb_load(t.path, &db, err, sizeof(err)), 0);
	assert_true(db->absent);
	assert_int_equal(db->count, 0);
	userdb_free(&db);

	tmp_write(&t, "a@x.test:$y$h\n# c\nb@x.test:$y$h:scram-sha-256=garbage\n");
	assert_int_equal(chmod(t.path, 0600), 0);
	assert_int_equal(userdb_load(t.path, &db, err, sizeof(err)), 0);
	assert_false(db->absent);
	assert_int_equal(db->count, 2);
	assert_non_null(db->warnings);
	char want[256];
	(void)snprintf(want, sizeof(want), "%s:3: malformed scram-sha-256 field", t.path);
	assert_non_null(strstr(db->warnings, want));
	userdb_free(&db);

	assert_int_equal(chmod(t.path, 0622), 0);
	assert_int_equal(userdb_load(t.path, &db, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "chmod go-w"));
	assert_null(db);
	assert_int_equal(chmod(t.path, 0600), 0);

	char link[160];
	(void)snprintf(link, sizeof(link), "%s/link", t.dir);
	assert_int_equal(symlink(t.path, link), 0);
	assert_int_equal(userdb_load(link, &db, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "symbolic link"));
	assert_int_equal(unlink(link), 0);
	tmp_remove(&t);
}

static void test_load_long_line(void **state)
{
	(void)state;
	struct tmpdir t;
	tmp_make(&t);
	char *content = xmalloc(6000);
	memcpy(content, "bob@x.org:", 10);
	memset(content + 10, 'h', 5000);
	memcpy(content + 5010, "\n", 2);
	tmp_write(&t, content);
	free(content);
	struct userdb *db = NULL;
	char err[512];
	assert_int_equal(userdb_load(t.path, &db, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":1: line too long"));
	tmp_remove(&t);
}

static void test_find(void **state)
{
	(void)state;
	struct userdb *db = userdb_new();
	static const char *const addrs[] = {"m@x.org", "a@x.org", "z@x.org", "mm@x.org",
					    "m@x.orgg", "b@x.org"};
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
		assert_int_equal(userdb_add(db, addrs[i], "h", NULL), 0);
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		const struct user_entry *e = userdb_find(db, addrs[i], strlen(addrs[i]));
		assert_non_null(e);
		assert_string_equal(e->address, addrs[i]);
	}
	/* Length-bounded: "m@x.orgXYZ" with len 7 is "m@x.org". */
	const struct user_entry *e = userdb_find(db, "M@X.ORGXYZ", 7);
	assert_non_null(e);
	assert_string_equal(e->address, "m@x.org");
	assert_null(userdb_find(db, "m@x.or", 6));
	assert_null(userdb_find(db, "c@x.org", 7));
	assert_null(userdb_find(db, "", 0));
	assert_null(userdb_find(db, "zz@x.org", 8));
	userdb_free(&db);
	struct userdb *empty = userdb_new();
	assert_null(userdb_find(empty, "a@x.org", 7));
	userdb_free(&empty);
	userdb_free(&empty); /* NULL is accepted */
}

static void test_mutations(void **state)
{
	(void)state;
	struct userdb *db = userdb_new();
	assert_int_equal(userdb_add(db, "Bob@X.org", "h1", NULL), 0);
	assert_int_equal(userdb_add(db, "bob@x.org", "h2", NULL), -1); /* exists */
	assert_int_equal(userdb_add(db, "bob", "h2", NULL), -1); /* invalid */
	assert_int_equal(userdb_add(db, "carol@x.org", "", NULL), -1); /* empty hash */
	assert_int_equal(userdb_add(db, "carol@x.org", "a:b", NULL), -1);
	assert_int_equal(userdb_add(db, "carol@x.org", "h", "a\nb"), -1);
	assert_int_equal(userdb_add(db, "carol@x.org", "h", "k=v"), 0);
	assert_int_equal(db->count, 2);
	assert_string_equal(db->users[0].address, "bob@x.org");

	/* set_hash keeping the entry's own extra (aliasing is allowed). */
	const struct user_entry *c = userdb_find(db, "carol@x.org", 11);
	assert_int_equal(userdb_set_hash(db, "CAROL@x.org", "h9", c->extra), 0);
	c = userdb_find(db, "carol@x.org", 11);
	assert_string_equal(c->hash, "h9");
	assert_string_equal(c->extra, "k=v");
	assert_int_equal(userdb_set_hash(db, "carol@x.org", "h10", NULL), 0);
	assert_null(userdb_find(db, "carol@x.org", 11)->extra);
	assert_int_equal(userdb_set_hash(db, "dave@x.org", "h", NULL), -1);
	assert_int_equal(userdb_set_hash(db, "carol@x.org", "", NULL), -1);

	assert_int_equal(userdb_remove(db, "dave@x.org"), -1);
	assert_int_equal(userdb_remove(db, "BOB@x.org"), 0);
	assert_int_equal(db->count, 1);
	assert_null(userdb_find(db, "bob@x.org", 9));
	assert_int_equal(userdb_remove(db, "carol@x.org"), 0);
	assert_int_equal(db->count, 0);
	assert_int_equal(userdb_remove(db, "carol@x.org"), -1);
	userdb_free(&db);
}

static void test_save_round_trip(void **state)
{
	(void)state;
	struct tmpdir t;
	tmp_make(&t);
	tmp_write(&t, "# a comment that the rewrite drops\nzed@x.org:hz\nAnn@x.org:ha:f1:f2\n");
	struct userdb *db = NULL;
	char err[512] = "";
	assert_int_equal(userdb_load(t.path, &db, err, sizeof(err)), 0);
	assert_int_equal(userdb_add(db, "mid@x.org", "hm", NULL), 0);
	assert_int_equal(userdb_remove(db, "zed@x.org"), 0);
	assert_int_equal(userdb_save(db, t.path, err, sizeof(err)), 0);

	struct stat st;
	assert_int_equal(stat(t.path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(S_ISREG(st.st_mode));
	char *text = tmp_read(&t);
	assert_string_equal(text, "ann@x.org:ha:f1:f2\nmid@x.org:hm\n");
	free(text);

	struct userdb *db2 = NULL;
	assert_int_equal(userdb_load(t.path, &db2, err, sizeof(err)), 0);
	assert_int_equal(db2->count, db->count);
	for (size_t i = 0; i < db->count; i++) {
		assert_string_equal(db2->users[i].address, db->users[i].address);
		assert_string_equal(db2->users[i].hash, db->users[i].hash);
	}
	assert_string_equal(db2->users[0].extra, "f1:f2");

	/* Empty directory saves as an empty file; the file is replaced, not
	 * appended to. */
	struct userdb *empty = userdb_new();
	assert_int_equal(userdb_save(empty, t.path, err, sizeof(err)), 0);
	text = tmp_read(&t);
	assert_string_equal(text, "");
	free(text);

	userdb_free(&empty);
	userdb_free(&db2);
	userdb_free(&db);
	tmp_remove(&t); /* rmdir fails if a .tmp.PID file was left behind */
}

static void test_save_errors(void **state)
{
	(void)state;
	struct userdb *db = userdb_new();
	char err[512] = "";
	assert_int_equal(userdb_save(db, "/nonexistent-konvert-dir/users", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent-konvert-dir"));
	/* Saving into a relative path works too (directory ".") */
	struct tmpdir t;
	tmp_make(&t);
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(t.dir), 0);
	assert_int_equal(userdb_add(db, "a@x.org", "h", NULL), 0);
	assert_int_equal(userdb_save(db, "users", err, sizeof(err)), 0);
	assert_int_equal(chdir(cwd), 0);
	char *text = tmp_read(&t);
	assert_string_equal(text, "a@x.org:h\n");
	free(text);
	tmp_remove(&t);
	userdb_free(&db);
}

/* As root, saving into a directory owned by someone else hands the file to
 * that owner (root running "konvert user" on the server's data_dir). */
static void test_save_chown(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	struct tmpdir t;
	tmp_make(&t);
	assert_int_equal(chown(t.dir, 65534, 65534), 0);
	struct userdb *db = userdb_new();
	assert_int_equal(userdb_add(db, "a@x.org", "h", NULL), 0);
	char err[512] = "";
	assert_int_equal(userdb_save(db, t.path, err, sizeof(err)), 0);
	struct stat st;
	assert_int_equal(stat(t.path, &st), 0);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_gid, 65534);
	assert_int_equal(st.st_mode & 07777, 0600);
	userdb_free(&db);
	tmp_remove(&t);
}

/* ---- passwords ---- */

static void test_hash_yescrypt(void **state)
{
	(void)state;
	char hash[USERDB_HASH_MAX];
	assert_int_equal(userdb_hash_password("correct horse", hash, sizeof(hash)), 0);
	assert_memory_equal(hash, "$y$", 3);
	assert_true(userdb_check_password("correct horse", hash));
	assert_false(userdb_check_password("correct horsE", hash));
	assert_false(userdb_check_password("", hash));

	/* Fresh salt every time. */
	char hash2[USERDB_HASH_MAX];
	assert_int_equal(userdb_hash_password("correct horse", hash2, sizeof(hash2)), 0);
	assert_string_not_equal(hash, hash2);

	/* The longest password crypt(3) takes, and one byte more. */
	char *pw = xmalloc(USERDB_PASSWORD_MAX + 2);
	memset(pw, 'p', USERDB_PASSWORD_MAX + 1);
	pw[USERDB_PASSWORD_MAX] = '\0';
	assert_int_equal(userdb_hash_password(pw, hash, sizeof(hash)), 0);
	assert_true(userdb_check_password(pw, hash));
	pw[USERDB_PASSWORD_MAX] = 'p';
	pw[USERDB_PASSWORD_MAX + 1] = '\0';
	assert_int_equal(userdb_hash_password(pw, hash2, sizeof(hash2)), -1);
	free(pw);

	/* Too small an output buffer is an error, not a truncation. */
	char small[10];
	assert_int_equal(userdb_hash_password("x", small, sizeof(small)), -1);
}

static void test_hash_sha512(void **state)
{
	(void)state;
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *h = crypt_r("s3cret", "$6$saltsaltsalt$", cd);
	assert_non_null(h);
	assert_memory_equal(h, "$6$saltsaltsalt$", 16);
	char *hash = xstrdup(h);
	free(cd);
	assert_true(userdb_check_password("s3cret", hash));
	assert_false(userdb_check_password("s3cret ", hash));
	assert_false(userdb_check_password("S3cret", hash));
	free(hash);
}

struct bad_hash_case {
	const char *hash;
};

static const struct bad_hash_case bad_hashes[] = {
	{.hash = ""},
	{.hash = "*"},
	{.hash = "!"},
	{.hash = "!$6$saltsaltsalt$abc"},
	{.hash = "$6$"},
	{.hash = "$y$"},
	{.hash = "$zz$garbage"},
	{.hash = "plaintext"},
};

static void test_hash_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_hashes) / sizeof(bad_hashes[0]); i++) {
		if (userdb_check_password("plaintext", bad_hashes[i].hash))
			fail_msg("hash \"%s\" matched", bad_hashes[i].hash);
	}
	assert_false(userdb_check_password("x", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address_syntax), cmocka_unit_test(test_address_errors),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_load_long_line), cmocka_unit_test(test_find),
		cmocka_unit_test(test_load_absent_modes_warnings),
		cmocka_unit_test(test_mutations),      cmocka_unit_test(test_save_round_trip),
		cmocka_unit_test(test_save_errors),    cmocka_unit_test(test_save_chown),
		cmocka_unit_test(test_hash_yescrypt),
		cmocka_unit_test(test_hash_sha512),    cmocka_unit_test(test_hash_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
