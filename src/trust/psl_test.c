/* psl_test: public suffix rules (plain, wildcard, exception, the implicit
 * "*"), the publicsuffix.org checkPublicSuffix vectors against a small list
 * written here and against Debian's file when installed, and invalid
 * names. */
#include "trust/psl.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* A list in the file's own format: comments, blank lines, both sections,
 * a rule followed by a comment, CRLF line ends, Unicode rules. */
static const char small_list[] =
	"// ===BEGIN ICANN DOMAINS===\n"
	"com\n"
	"biz\n"
	"uk\n"
	"co.uk\n"
	"jp\n"
	"ac.jp\n"
	"kyoto.jp\n"
	"ide.kyoto.jp\n"
	"*.kobe.jp\n"
	"!city.kobe.jp\n"
	"*.ck\n"
	"!www.ck\n"
	"us\n"
	"ak.us\n"
	"k12.ak.us\n"
	"\xe5\x85\xac\xe5\x8f\xb8.cn\n" /* Unicode: skipped */
	"xn--55qx5d.cn\r\n"
	"cn\r\n"
	"\n"
	"// ===BEGIN PRIVATE DOMAINS===\n"
	"blogspot.com   // comment after the rule\n";

struct vec {
	const char *name;
	const char *registrable; /* NULL: none (a public suffix or invalid) */
};

/* checkPublicSuffix() vectors from publicsuffix.org's test_psl.txt that
 * the small list covers. */
static const struct vec vectors[] = {
	{.name = "COM", .registrable = NULL},
	{.name = "example.COM", .registrable = "example.com"},
	{.name = "WwW.example.COM", .registrable = "example.com"},
	{.name = "com", .registrable = NULL},
	{.name = "example.com", .registrable = "example.com"},
	{.name = "a.b.example.com", .registrable = "example.com"},
	{.name = "uk.com", .registrable = "uk.com"},
	{.name = "b.example.uk.com", .registrable = "uk.com"},
	{.name = "test.ac", .registrable = "test.ac"}, /* unlisted TLD: "*" */
	{.name = "mm", .registrable = NULL},
	{.name = "c.mm", .registrable = "c.mm"},
	{.name = "b.c.mm", .registrable = "c.mm"},
	{.name = "jp", .registrable = NULL},
	{.name = "test.jp", .registrable = "test.jp"},
	{.name = "www.test.jp", .registrable = "test.jp"},
	{.name = "ac.jp", .registrable = NULL},
	{.name = "test.ac.jp", .registrable = "test.ac.jp"},
	{.name = "www.test.ac.jp", .registrable = "test.ac.jp"},
	{.name = "kyoto.jp", .registrable = NULL},
	{.name = "test.kyoto.jp", .registrable = "test.kyoto.jp"},
	{.name = "ide.kyoto.jp", .registrable = NULL},
	{.name = "b.ide.kyoto.jp", .registrable = "b.ide.kyoto.jp"},
	{.name = "a.b.ide.kyoto.jp", .registrable = "b.ide.kyoto.jp"},
	{.name = "c.kobe.jp", .registrable = NULL},
	{.name = "b.c.kobe.jp", .registrable = "b.c.kobe.jp"},
	{.name = "a.b.c.kobe.jp", .registrable = "b.c.kobe.jp"},
	{.name = "city.kobe.jp", .registrable = "city.kobe.jp"},
	{.name = "www.city.kobe.jp", .registrable = "city.kobe.jp"},
	{.name = "ck", .registrable = NULL},
	{.name = "test.ck", .registrable = NULL},
	{.name = "b.test.ck", .registrable = "b.test.ck"},
	{.name = "a.b.test.ck", .registrable = "b.test.ck"},
	{.name = "www.ck", .registrable = "www.ck"},
	{.name = "www.www.ck", .registrable = "www.ck"},
	{.name = "us", .registrable = NULL},
	{.name = "test.us", .registrable = "test.us"},
	{.name = "www.test.us", .registrable = "test.us"},
	{.name = "ak.us", .registrable = NULL},
	{.name = "test.ak.us", .registrable = "test.ak.us"},
	{.name = "www.test.ak.us", .registrable = "test.ak.us"},
	{.name = "k12.ak.us", .registrable = NULL},
	{.name = "test.k12.ak.us", .registrable = "test.k12.ak.us"},
	{.name = "www.test.k12.ak.us", .registrable = "test.k12.ak.us"},
	{.name = "xn--85x722f.xn--55qx5d.cn", .registrable = "xn--85x722f.xn--55qx5d.cn"},
	{.name = "www.xn--85x722f.xn--55qx5d.cn", .registrable = "xn--85x722f.xn--55qx5d.cn"},
	{.name = "xn--55qx5d.cn", .registrable = NULL},
	{.name = "shishi.xn--55qx5d.cn", .registrable = "shishi.xn--55qx5d.cn"},
	{.name = "foo.blogspot.com", .registrable = "foo.blogspot.com"},
	{.name = "bar.foo.blogspot.com", .registrable = "foo.blogspot.com"},
	{.name = "www.example.com.", .registrable = "example.com."},
	/* Invalid names. */
	{.name = "", .registrable = NULL},
	{.name = ".com", .registrable = NULL},
	{.name = "a..example.com", .registrable = NULL},
	{.name = "example.com..", .registrable = NULL},
};

static void check_vectors(const struct psl *psl, const struct vec *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(v[i].name);
		long off = psl_registrable_domain(psl, v[i].name, len);
		if (v[i].registrable == NULL) {
			if (off >= 0)
				fail_msg("%s: expected none, got %s", v[i].name, v[i].name + off);
			continue;
		}
		if (off < 0)
			fail_msg("%s: expected %s, got none", v[i].name, v[i].registrable);
		/* The result is a suffix of the input: compare case-blind. */
		if (strcasecmp(v[i].name + off, v[i].registrable) != 0)
			fail_msg("%s: expected %s, got %s", v[i].name, v[i].registrable,
				 v[i].name + off);
	}
}

static void test_small_list_vectors(void **state)
{
	(void)state;
	struct psl *psl = NULL;
	assert_int_equal(psl_load_buf(small_list, strlen(small_list), &psl, NULL, 0), 0);
	check_vectors(psl, vectors, sizeof(vectors) / sizeof(vectors[0]));
	psl_free(&psl);
	assert_null(psl);
	psl_free(&psl); /* NULL is fine */
}

static void test_public_suffix_and_org(void **state)
{
	(void)state;
	struct psl *psl = NULL;
	assert_int_equal(psl_load_buf(small_list, strlen(small_list), &psl, NULL, 0), 0);
	const char *n = "a.b.example.co.uk";
	assert_string_equal(n + psl_public_suffix(psl, n, strlen(n)), "co.uk");
	assert_string_equal(n + psl_org_domain(psl, n, strlen(n)), "example.co.uk");
	/* A public suffix is its own organizational domain (RFC 7489 3.2
	 * leaves no label to add). */
	n = "co.uk";
	assert_int_equal(psl_org_domain(psl, n, strlen(n)), 0);
	assert_int_equal(psl_registrable_domain(psl, n, strlen(n)), -1);
	/* len bounds the name: no NUL needed after it. */
	n = "www.example.comXXXX";
	assert_int_equal(psl_org_domain(psl, n, 15), 4);
	/* Too long: 255 octets (254 would end in a dot, which is dropped). */
	char longname[300];
	memset(longname, 'a', sizeof(longname));
	for (size_t i = 1; i < 255; i += 2)
		longname[i] = '.';
	assert_int_equal(psl_org_domain(psl, longname, 255), -1);
	assert_true(psl_org_domain(psl, longname, 253) > 0);
	/* A label over 63 octets. */
	memset(longname, 'a', 64);
	memcpy(longname + 64, ".com", 4);
	assert_int_equal(psl_org_domain(psl, longname, 68), -1);
	assert_int_equal(psl_org_domain(psl, longname + 1, 67), 0);
	/* Embedded NUL. */
	assert_int_equal(psl_org_domain(psl, "a\0b.com", 7), -1);
	psl_free(&psl);
}

static void test_empty_list(void **state)
{
	(void)state;
	struct psl *psl = NULL;
	assert_int_equal(psl_load_buf("", 0, &psl, NULL, 0), 0);
	const char *n = "www.example.co.uk";
	assert_string_equal(n + psl_org_domain(psl, n, strlen(n)), "co.uk");
	psl_free(&psl);
}

static void test_load_missing_file(void **state)
{
	(void)state;
	struct psl *psl = NULL;
	char err[256] = "";
	assert_int_equal(psl_load("/nonexistent/psl.dat", &psl, err, sizeof(err)), -1);
	assert_null(psl);
	assert_non_null(strstr(err, "/nonexistent/psl.dat"));
	assert_int_equal(psl_load("/dev/null", &psl, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no public suffix rule"));
}

#define DEBIAN_PSL "/usr/share/publicsuffix/public_suffix_list.dat"

static void test_debian_list(void **state)
{
	(void)state;
	if (access(DEBIAN_PSL, R_OK) != 0)
		skip();
	struct psl *psl = NULL;
	char err[256] = "";
	if (psl_load(DEBIAN_PSL, &psl, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	static const struct vec real[] = {
		{.name = "www.example.com", .registrable = "example.com"},
		{.name = "a.b.example.co.uk", .registrable = "example.co.uk"},
		{.name = "co.uk", .registrable = NULL},
		{.name = "example.test", .registrable = "example.test"},
		{.name = "b.c.kobe.jp", .registrable = "b.c.kobe.jp"},
		{.name = "www.city.kobe.jp", .registrable = "city.kobe.jp"},
		{.name = "www.ck", .registrable = "www.ck"},
		{.name = "mail.google.com", .registrable = "google.com"},
		{.name = "x.github.io", .registrable = "x.github.io"},
	};
	check_vectors(psl, real, sizeof(real) / sizeof(real[0]));
	psl_free(&psl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_list_vectors),
		cmocka_unit_test(test_public_suffix_and_org),
		cmocka_unit_test(test_empty_list),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_debian_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
