/* psl: loads the public suffix list into a sorted array of rules and
 * answers "where does the public suffix / organizational domain of this
 * name start". It owns only the rule table; it does no DNS and no logging,
 * and never changes the object after loading (shared between threads). The
 * matching follows the algorithm on publicsuffix.org/list/: an exception
 * rule wins, otherwise the rule with the most labels, otherwise "*". */
#include "trust/psl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/kassert.h"

enum psl_rule_flag {
	PSL_RULE_PLAIN = 1u << 0, /* "co.uk" */
	PSL_RULE_WILDCARD = 1u << 1, /* "*.ck" stored as "ck" */
	PSL_RULE_EXCEPTION = 1u << 2, /* "!www.ck" stored as "www.ck" */
};

struct psl_rule {
	char *name; /* owned, lower case, no leading/trailing dot */
	unsigned flags; /* enum psl_rule_flag bits */
};

struct psl {
	struct psl_rule *rules; /* owned, sorted by name, names unique */
	size_t count;
};

/* The list file is ~230 KB with ~10k rules; anything far larger is not it. */
#define PSL_FILE_MAX (16u * 1024 * 1024)
#define PSL_LABEL_MAX 63

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

static int rule_cmp(const void *a, const void *b)
{
	const struct psl_rule *ra = a, *rb = b;
	return strcmp(ra->name, rb->name);
}

static bool is_rule_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
	       c == '_';
}

/* Parses one rule word (w, n bytes); adds it to the growing table. Words
 * it cannot use are skipped silently (see psl.h). */
static void add_rule(struct psl *p, size_t *cap, const char *w, size_t n)
{
	unsigned flag = PSL_RULE_PLAIN;
	if (n > 0 && w[0] == '!') {
		flag = PSL_RULE_EXCEPTION;
		w++;
		n--;
	} else if (n > 1 && w[0] == '*' && w[1] == '.') {
		flag = PSL_RULE_WILDCARD;
		w += 2;
		n -= 2;
	}
	if (n == 0 || n > PSL_NAME_MAX || w[0] == '.' || w[n - 1] == '.')
		return;
	char name[PSL_NAME_MAX + 1];
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)w[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		/* A '*' elsewhere than leading, or Unicode: skipped. */
		if (!is_rule_char(c) || (c == '.' && w[i + 1] == '.'))
			return;
		name[i] = (char)c;
	}
	name[n] = '\0';
	if (flag == PSL_RULE_EXCEPTION && memchr(name, '.', n) == NULL)
		return; /* "!com" would leave no suffix at all */
	if (p->count == *cap) {
		size_t ncap;
		KASSERT(!ckd_mul_size(&ncap, *cap ? *cap : 512, 2));
		p->rules = xrealloc(p->rules, ncap * sizeof(*p->rules));
		*cap = ncap;
	}
	p->rules[p->count].name = xstrndup(name, n);
	p->rules[p->count].flags = flag;
	p->count++;
}

int psl_load_buf(const char *text, size_t len, struct psl **out, char *err, size_t err_size)
{
	(void)err;
	(void)err_size;
	struct psl *p = xcalloc(1, sizeof(*p));
	size_t cap = 0;
	size_t i = 0;
	while (i < len) {
		size_t eol = i;
		while (eol < len && text[eol] != '\n')
			eol++;
		/* The rule is the first whitespace-free word of the line; "//"
		 * starts a comment line. */
		size_t s = i;
		while (s < eol && (text[s] == ' ' || text[s] == '\t' || text[s] == '\r'))
			s++;
		size_t e = s;
		while (e < eol && text[e] != ' ' && text[e] != '\t' && text[e] != '\r')
			e++;
		if (e > s && !(e - s >= 2 && text[s] == '/' && text[s + 1] == '/'))
			add_rule(p, &cap, text + s, e - s);
		i = eol + 1;
	}
	if (p->count > 0) {
		qsort(p->rules, p->count, sizeof(*p->rules), rule_cmp);
		/* Merge duplicates: "ck" may be both a wildcard and plain. */
		size_t w = 0;
		for (size_t r = 0; r < p->count; r++) {
			if (w > 0 && strcmp(p->rules[w - 1].name, p->rules[r].name) == 0) {
				p->rules[w - 1].flags |= p->rules[r].flags;
				free(p->rules[r].name);
				continue;
			}
			p->rules[w++] = p->rules[r];
		}
		p->count = w;
	}
	*out = p;
	return 0;
}

int psl_load(const char *path, struct psl **out, char *err, size_t err_size)
{
	*out = NULL;
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		set_err(err, err_size, "%s: %s", path, strerror(errno));
		return -1;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc = -1;
	for (;;) {
		if (len == cap) {
			if (cap >= PSL_FILE_MAX) {
				set_err(err, err_size, "%s: larger than %u bytes", path,
					PSL_FILE_MAX);
				goto out;
			}
			cap = cap ? cap * 2 : 256 * 1024;
			buf = xrealloc(buf, cap);
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0) {
			if (ferror(f)) {
				set_err(err, err_size, "%s: read error", path);
				goto out;
			}
			break;
		}
	}
	struct psl *p;
	(void)psl_load_buf(buf, len, &p, err, err_size);
	if (p->count == 0) {
		set_err(err, err_size, "%s: no public suffix rule in it", path);
		psl_free(&p);
		goto out;
	}
	*out = p;
	rc = 0;
out:
	free(buf);
	(void)fclose(f); /* read-only */
	return rc;
}

void psl_free(struct psl **pp)
{
	struct psl *p = *pp;
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->count; i++)
		free(p->rules[i].name);
	free(p->rules);
	free(p);
	*pp = NULL;
}

static unsigned rule_flags(const struct psl *psl, const char *name)
{
	struct psl_rule key = {.name = (char *)name};
	if (psl->count == 0)
		return 0;
	const struct psl_rule *r =
		bsearch(&key, psl->rules, psl->count, sizeof(*psl->rules), rule_cmp);
	return r ? r->flags : 0;
}

/* Lower-cases name into buf and records where each label starts. Returns
 * the label count, or -1 when the name is not a valid domain name. */
static int split_labels(const char *name, size_t len, char *buf, size_t *starts,
			size_t starts_max)
{
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > PSL_NAME_MAX)
		return -1;
	int n = 0;
	size_t label_start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || name[i] == '.') {
			size_t ll = i - label_start;
			if (ll == 0 || ll > PSL_LABEL_MAX || (size_t)n == starts_max)
				return -1;
			starts[n++] = label_start;
			label_start = i + 1;
			buf[i] = '.';
			continue;
		}
		unsigned char c = (unsigned char)name[i];
		if (c == '\0')
			return -1;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		buf[i] = (char)c;
	}
	buf[len] = '\0';
	return n;
}

/* Index of the label where the public suffix starts. */
static int suffix_label(const struct psl *psl, const char *buf, const size_t *starts, int n)
{
	/* An exception rule prevails: its suffix is the rule minus its
	 * leftmost label. The longest exception is taken. */
	for (int i = 0; i < n - 1; i++)
		if (rule_flags(psl, buf + starts[i]) & PSL_RULE_EXCEPTION)
			return i + 1;
	for (int i = 0; i < n; i++) {
		if (rule_flags(psl, buf + starts[i]) & PSL_RULE_PLAIN)
			return i;
		if (i + 1 < n && (rule_flags(psl, buf + starts[i + 1]) & PSL_RULE_WILDCARD))
			return i;
	}
	return n - 1; /* the implicit "*" rule */
}

long psl_public_suffix(const struct psl *psl, const char *name, size_t len)
{
	char buf[PSL_NAME_MAX + 2];
	size_t starts[PSL_NAME_MAX / 2 + 1];
	int n = split_labels(name, len, buf, starts, sizeof(starts) / sizeof(starts[0]));
	if (n < 0)
		return -1;
	return (long)starts[suffix_label(psl, buf, starts, n)];
}

static long org_domain(const struct psl *psl, const char *name, size_t len, bool self_ok)
{
	char buf[PSL_NAME_MAX + 2];
	size_t starts[PSL_NAME_MAX / 2 + 1];
	int n = split_labels(name, len, buf, starts, sizeof(starts) / sizeof(starts[0]));
	if (n < 0)
		return -1;
	int s = suffix_label(psl, buf, starts, n);
	if (s == 0)
		return self_ok ? 0 : -1;
	return (long)starts[s - 1];
}

long psl_org_domain(const struct psl *psl, const char *name, size_t len)
{
	return org_domain(psl, name, len, true);
}

long psl_registrable_domain(const struct psl *psl, const char *name, size_t len)
{
	return org_domain(psl, name, len, false);
}
