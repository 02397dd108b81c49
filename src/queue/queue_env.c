/* queue_env: the envelope struct and its file codec. It owns the text
 * format of data_dir/queue/env/ID (described in INTERNALS.md) and nothing
 * else: no files, no clocks, no logging. The decoder reads files that a
 * crash, a disk or a person may have damaged, so it trusts no byte: every
 * length is bounded, every number range-checked, and only the exact
 * canonical form that the encoder writes is accepted. */
#include "queue/queue_env.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/alloc.h"
#include "core/kassert.h"
#include "core/strbuf.h"

#define MAGIC "konvert-queue"
#define VERSION "1"
#define SUM_KEY "sha256 "
#define SUM_HEX_LEN 64
/* "sha256 " + 64 hex digits + LF */
#define SUM_LINE_LEN (sizeof(SUM_KEY) - 1 + SUM_HEX_LEN + 1)

/* Every key of the format, in file order; a key not listed is "unknown". */
static const char *const known_keys[] = {
	MAGIC, "id", "sender", "envid", "ret", "body", "smtputf8", "requiretls", "created", "size",
	"skip", "bounce", "bounce-depth", "rcpts", "rcpt", "orcpt", "notify", "state",
	"attempts", "next-try", "reply", "mta", "delay-notified", "dsn-sent", "sha256",
};

static const char *const state_names[] = {
	[QUEUE_RCPT_PENDING] = "pending",
	[QUEUE_RCPT_DEFERRED] = "deferred",
	[QUEUE_RCPT_DELIVERED] = "delivered",
	[QUEUE_RCPT_FAILED] = "failed",
};
static const char *const ret_names[] = {
	[QUEUE_RET_UNSET] = "unset",
	[QUEUE_RET_FULL] = "full",
	[QUEUE_RET_HDRS] = "hdrs",
};
static const char *const body_names[] = {
	[QUEUE_BODY_7BIT] = "7bit",
	[QUEUE_BODY_8BITMIME] = "8bitmime",
	[QUEUE_BODY_BINARYMIME] = "binarymime",
};
/* NOTIFY words in the one order the file uses. */
static const struct {
	const char *name;
	unsigned bit;
} notify_words[] = {
	{ "success", QUEUE_NOTIFY_SUCCESS },
	{ "failure", QUEUE_NOTIFY_FAILURE },
	{ "delay", QUEUE_NOTIFY_DELAY },
	{ "never", QUEUE_NOTIFY_NEVER },
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

void queue_env_init(struct queue_env *env)
{
	memset(env, 0, sizeof(*env));
}

static void rcpt_fini(struct queue_rcpt *r)
{
	free(r->addr);
	free(r->orcpt);
	free(r->last_reply);
	free(r->remote_mta);
	memset(r, 0, sizeof(*r));
}

void queue_env_fini(struct queue_env *env)
{
	for (size_t i = 0; i < env->rcpt_count; i++)
		rcpt_fini(&env->rcpts[i]);
	free(env->rcpts);
	free(env->sender);
	free(env->envid);
	memset(env, 0, sizeof(*env));
}

/* Room for one more recipient; the array doubles so n adds cost O(n). */
static struct queue_rcpt *rcpt_append(struct queue_env *env)
{
	size_t n = env->rcpt_count, bytes;

	if (n >= QUEUE_RCPTS_MAX)
		return NULL;
	/* Capacity is the next power of two >= n (0 -> 1). */
	if ((n & (n - 1)) == 0) {
		size_t cap = n == 0 ? 1 : n * 2;
		bool overflow = ckd_mul_size(&bytes, cap, sizeof(*env->rcpts));

		KASSERT(!overflow);
		env->rcpts = xrealloc(env->rcpts, bytes);
	}
	memset(&env->rcpts[n], 0, sizeof(env->rcpts[n]));
	env->rcpt_count = n + 1;
	return &env->rcpts[n];
}

struct queue_rcpt *queue_env_add_rcpt(struct queue_env *env, const char *addr)
{
	struct queue_rcpt *r = rcpt_append(env);

	if (r == NULL)
		return NULL;
	r->addr = xstrdup(addr);
	r->state = QUEUE_RCPT_PENDING;
	return r;
}

bool queue_env_is_valid_id(const char *s)
{
	for (size_t i = 0; i < ID_LEN; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')))
			return false;
	}
	return s[ID_LEN] == '\0';
}

unsigned queue_env_notify_effective(unsigned notify)
{
	return notify == 0 ? (QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY) : notify;
}

const char *queue_env_state_name(enum queue_rcpt_state state)
{
	if ((unsigned)state < NELEM(state_names))
		return state_names[state];
	return "unknown";
}

static bool notify_is_valid(unsigned n)
{
	if (n & ~(QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY |
		  QUEUE_NOTIFY_NEVER))
		return false;
	/* RFC 3461 4.1: NEVER cannot be combined with the others. */
	return !(n & QUEUE_NOTIFY_NEVER) || n == QUEUE_NOTIFY_NEVER;
}

static bool str_ok(const char *s, size_t max, bool may_be_null)
{
	if (s == NULL)
		return may_be_null;
	return strnlen(s, max + 1) <= max;
}

static int fail(const char **err_out, const char *why)
{
	if (err_out != NULL)
		*err_out = why;
	return -1;
}

int queue_env_validate(const struct queue_env *env, const char **err_out)
{
	if (!queue_env_is_valid_id(env->id))
		return fail(err_out, "bad id");
	if (env->sender == NULL)
		return fail(err_out, "missing sender");
	if (!str_ok(env->sender, QUEUE_ADDR_MAX, false))
		return fail(err_out, "sender too long");
	if (!str_ok(env->envid, QUEUE_ENVID_MAX, true))
		return fail(err_out, "envid too long");
	if ((unsigned)env->ret >= NELEM(ret_names))
		return fail(err_out, "bad ret");
	if ((unsigned)env->body >= NELEM(body_names))
		return fail(err_out, "bad body");
	if (env->created < 0)
		return fail(err_out, "bad created time");
	if (env->skip > env->size)
		return fail(err_out, "skip larger than size");
	if (env->bounce_depth > QUEUE_BOUNCE_DEPTH_MAX)
		return fail(err_out, "bounce depth too large");
	if (env->rcpt_count == 0 || env->rcpts == NULL)
		return fail(err_out, "no recipients");
	if (env->rcpt_count > QUEUE_RCPTS_MAX)
		return fail(err_out, "too many recipients");
	for (size_t i = 0; i < env->rcpt_count; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];

		if (r->addr == NULL || r->addr[0] == '\0')
			return fail(err_out, "empty recipient address");
		if (!str_ok(r->addr, QUEUE_ADDR_MAX, false))
			return fail(err_out, "recipient address too long");
		if (!str_ok(r->orcpt, QUEUE_ORCPT_MAX, true))
			return fail(err_out, "orcpt too long");
		if (!notify_is_valid(r->notify))
			return fail(err_out, "bad notify");
		if ((unsigned)r->state >= NELEM(state_names))
			return fail(err_out, "bad state");
		if (r->attempts > QUEUE_ATTEMPTS_MAX)
			return fail(err_out, "attempts too large");
		if (r->next_try < 0)
			return fail(err_out, "bad next-try time");
		if (!str_ok(r->last_reply, QUEUE_REPLY_MAX, true))
			return fail(err_out, "reply too long");
		if (!str_ok(r->remote_mta, QUEUE_MTA_MAX, true))
			return fail(err_out, "remote mta too long");
	}
	return 0;
}

/* ---- encoder ---- */

/* Printable ASCII other than space and '%' stands for itself; every other
 * byte (CR, LF, space, NUL-free controls, 8-bit UTF-8) is %XX, upper case. */
static bool byte_is_plain(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '%';
}

static void ob_field(struct strbuf *b, const char *key, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *v = (const unsigned char *)value;

	strbuf_add_str(b, key);
	strbuf_add(b, " ", 1);
	while (*v != '\0') {
		size_t run = 0;

		while (v[run] != '\0' && byte_is_plain(v[run]))
			run++;
		strbuf_add(b, (const char *)v, run);
		v += run;
		if (*v != '\0') {
			char esc[3] = { '%', hex[*v >> 4], hex[*v & 15] };

			strbuf_add(b, esc, 3);
			v++;
		}
	}
	strbuf_add(b, "\n", 1);
}

static void ob_u64(struct strbuf *b, const char *key, uint64_t v)
{
	char num[24];

	(void)snprintf(num, sizeof(num), "%" PRIu64, v);
	ob_field(b, key, num);
}

static void ob_bool(struct strbuf *b, const char *key, bool v)
{
	ob_field(b, key, v ? "1" : "0");
}

static void notify_text(unsigned notify, char *out, size_t out_size)
{
	size_t o = 0;

	if (notify == 0) {
		(void)snprintf(out, out_size, "-");
		return;
	}
	out[0] = '\0';
	for (size_t i = 0; i < NELEM(notify_words); i++) {
		if (!(notify & notify_words[i].bit))
			continue;
		int n = snprintf(out + o, out_size - o, "%s%s", o > 0 ? "," : "",
				 notify_words[i].name);
		KASSERT(n > 0 && (size_t)n < out_size - o);
		o += (size_t)n;
	}
}

static int sha256_hex(const char *data, size_t len, char out[SUM_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) != 1 ||
	    md_len * 2 != SUM_HEX_LEN)
		return -1;
	for (unsigned int i = 0; i < md_len; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[SUM_HEX_LEN] = '\0';
	return 0;
}

int queue_env_encode(const struct queue_env *env, char **out, size_t *len_out,
		     const char **err_out)
{
	struct strbuf b;
	char tmp[64], sum[SUM_HEX_LEN + 1];

	*out = NULL;
	*len_out = 0;
	if (queue_env_validate(env, err_out) != 0)
		return -1;
	strbuf_init(&b, QUEUE_ENV_FILE_MAX);
	ob_field(&b, MAGIC, VERSION);
	ob_field(&b, "id", env->id);
	ob_field(&b, "sender", env->sender);
	if (env->envid != NULL)
		ob_field(&b, "envid", env->envid);
	ob_field(&b, "ret", ret_names[env->ret]);
	ob_field(&b, "body", body_names[env->body]);
	ob_bool(&b, "smtputf8", env->smtputf8);
	if (env->requiretls) /* optional: files of older versions lack it */
		ob_bool(&b, "requiretls", true);
	ob_u64(&b, "created", (uint64_t)env->created);
	ob_u64(&b, "size", env->size);
	ob_u64(&b, "skip", env->skip);
	ob_bool(&b, "bounce", env->is_bounce);
	ob_u64(&b, "bounce-depth", env->bounce_depth);
	ob_u64(&b, "rcpts", env->rcpt_count);
	for (size_t i = 0; i < env->rcpt_count; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];

		ob_field(&b, "rcpt", r->addr);
		if (r->orcpt != NULL)
			ob_field(&b, "orcpt", r->orcpt);
		notify_text(r->notify, tmp, sizeof(tmp));
		ob_field(&b, "notify", tmp);
		ob_field(&b, "state", state_names[r->state]);
		ob_u64(&b, "attempts", r->attempts);
		ob_u64(&b, "next-try", (uint64_t)r->next_try);
		if (r->last_reply != NULL)
			ob_field(&b, "reply", r->last_reply);
		if (r->remote_mta != NULL)
			ob_field(&b, "mta", r->remote_mta);
		ob_bool(&b, "delay-notified", r->delay_notified);
		ob_bool(&b, "dsn-sent", r->dsn_sent);
	}
	if (!b.over && sha256_hex(b.p, b.len, sum) != 0) {
		strbuf_fini(&b);
		return fail(err_out, "SHA-256 failed");
	}
	if (!b.over) {
		strbuf_add_str(&b, SUM_KEY);
		strbuf_add_str(&b, sum);
		strbuf_add(&b, "\n", 1);
	}
	if (b.over) {
		strbuf_fini(&b);
		return fail(err_out, "envelope file too large");
	}
	*out = strbuf_take(&b, len_out);
	return 0;
}

/* ---- decoder ---- */

struct parser {
	const char *p, *end; /* unread part of the body (checksum line cut off) */
	/* The current line, split; valid while have is true. */
	bool have;
	const char *key, *val;
	size_t key_len, val_len;
	const char *err; /* first error, static */
};

static bool key_is(const struct parser *ps, const char *key)
{
	return ps->have && ps->key_len == strlen(key) && memcmp(ps->key, key, ps->key_len) == 0;
}

static bool key_is_known(const struct parser *ps)
{
	for (size_t i = 0; i < NELEM(known_keys); i++)
		if (key_is(ps, known_keys[i]))
			return true;
	return false;
}

/* Loads the next line into ps (have = false at the end of the body). A
 * line is KEY SP VALUE LF: KEY is [a-z0-9-]+, VALUE printable ASCII
 * without spaces (possibly empty). */
static void load(struct parser *ps)
{
	const char *nl, *sp;

	ps->have = false;
	if (ps->err != NULL || ps->p == ps->end)
		return;
	nl = memchr(ps->p, '\n', (size_t)(ps->end - ps->p));
	if (nl == NULL) {
		/* Cannot happen when the checksum line was found, but the
		 * body is not trusted either way. */
		ps->err = "line without end";
		return;
	}
	sp = memchr(ps->p, ' ', (size_t)(nl - ps->p));
	if (sp == NULL || sp == ps->p) {
		ps->err = "malformed line";
		return;
	}
	for (const char *k = ps->p; k < sp; k++) {
		if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '-')) {
			ps->err = "malformed key";
			return;
		}
	}
	for (const char *v = sp + 1; v < nl; v++) {
		if (*v <= 0x20 || *v >= 0x7f) {
			ps->err = "bad byte in value";
			return;
		}
	}
	ps->key = ps->p;
	ps->key_len = (size_t)(sp - ps->p);
	ps->val = sp + 1;
	ps->val_len = (size_t)(nl - sp - 1);
	ps->p = nl + 1;
	ps->have = true;
}

/* The current line must have key; on success the caller reads ps->val and
 * calls load() to move on. */
static bool expect(struct parser *ps, const char *key)
{
	if (ps->err != NULL)
		return false;
	if (key_is(ps, key))
		return true;
	if (!ps->have)
		ps->err = "missing field";
	else if (!key_is_known(ps))
		ps->err = "unknown key";
	else
		ps->err = "field missing or out of order";
	return false;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1; /* lower case is not canonical */
}

/* Unescapes the current value into a new string of at most max bytes. */
static char *take_str(struct parser *ps, const char *key, size_t max)
{
	char *s;
	size_t o = 0;

	if (!expect(ps, key))
		return NULL;
	/* Each output byte takes 1 or 3 input bytes: a cheap early bound. */
	if (ps->val_len > 3 * max) {
		ps->err = "field too long";
		return NULL;
	}
	s = xmalloc(ps->val_len + 1);
	for (size_t i = 0; i < ps->val_len; i++) {
		unsigned char c = (unsigned char)ps->val[i];

		if (c == '%') {
			int hi, lo;

			if (ps->val_len - i < 3 || (hi = hexval(ps->val[i + 1])) < 0 ||
			    (lo = hexval(ps->val[i + 2])) < 0) {
				ps->err = "bad escape";
				break;
			}
			c = (unsigned char)(hi * 16 + lo);
			if (c == 0) {
				ps->err = "NUL in value";
				break;
			}
			if (byte_is_plain(c)) {
				ps->err = "needless escape";
				break;
			}
			i += 2;
		}
		s[o++] = (char)c;
	}
	if (ps->err == NULL && o > max)
		ps->err = "field too long";
	if (ps->err != NULL) {
		free(s);
		return NULL;
	}
	s[o] = '\0';
	load(ps);
	return s;
}

/* Optional string: NULL without error when the key is absent. */
static char *take_opt_str(struct parser *ps, const char *key, size_t max)
{
	if (ps->err != NULL || !key_is(ps, key))
		return NULL;
	return take_str(ps, key, max);
}

/* Canonical decimal: "0" or [1-9][0-9]*, at most max. */
static uint64_t take_num(struct parser *ps, const char *key, uint64_t max)
{
	uint64_t v = 0;

	if (!expect(ps, key))
		return 0;
	if (ps->val_len == 0 || (ps->val[0] == '0' && ps->val_len > 1)) {
		ps->err = "bad number";
		return 0;
	}
	for (size_t i = 0; i < ps->val_len; i++) {
		char c = ps->val[i];

		if (c < '0' || c > '9' || __builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(c - '0'), &v)) {
			ps->err = "bad number";
			return 0;
		}
	}
	if (v > max) {
		ps->err = "number out of range";
		return 0;
	}
	load(ps);
	return v;
}

static bool val_is(const struct parser *ps, const char *s)
{
	return ps->val_len == strlen(s) && memcmp(ps->val, s, ps->val_len) == 0;
}

/* One of names[0..n); returns its index. */
static unsigned take_word(struct parser *ps, const char *key, const char *const *names, size_t n,
			  const char *bad)
{
	if (!expect(ps, key))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (val_is(ps, names[i])) {
			load(ps);
			return (unsigned)i;
		}
	}
	ps->err = bad;
	return 0;
}

static bool take_bool(struct parser *ps, const char *key)
{
	static const char *const names[] = { "0", "1" };

	return take_word(ps, key, names, 2, "bad boolean") == 1;
}

/* "-" or names from notify_words, comma-separated, in table order. */
static unsigned take_notify(struct parser *ps)
{
	unsigned bits = 0;
	size_t i = 0, next = 0;

	if (!expect(ps, "notify"))
		return 0;
	if (val_is(ps, "-")) {
		load(ps);
		return 0;
	}
	while (i < ps->val_len) {
		size_t j = i, w;

		while (j < ps->val_len && ps->val[j] != ',')
			j++;
		for (w = next; w < NELEM(notify_words); w++) {
			if (strlen(notify_words[w].name) == j - i &&
			    memcmp(notify_words[w].name, ps->val + i, j - i) == 0)
				break;
		}
		/* Unknown, repeated or out-of-order words, or an empty word
		 * (",," or a trailing comma) are all refused. */
		if (w == NELEM(notify_words) || (j < ps->val_len && j + 1 == ps->val_len)) {
			ps->err = "bad notify";
			return 0;
		}
		bits |= notify_words[w].bit;
		next = w + 1;
		i = j + 1;
	}
	if (bits == 0 || !notify_is_valid(bits)) {
		ps->err = "bad notify";
		return 0;
	}
	load(ps);
	return bits;
}

static void parse_rcpt(struct parser *ps, struct queue_rcpt *r)
{
	r->addr = take_str(ps, "rcpt", QUEUE_ADDR_MAX);
	r->orcpt = take_opt_str(ps, "orcpt", QUEUE_ORCPT_MAX);
	r->notify = take_notify(ps);
	r->state = (enum queue_rcpt_state)take_word(ps, "state", state_names, NELEM(state_names),
						    "bad state");
	r->attempts = (unsigned)take_num(ps, "attempts", QUEUE_ATTEMPTS_MAX);
	r->next_try = (int64_t)take_num(ps, "next-try", INT64_MAX);
	r->last_reply = take_opt_str(ps, "reply", QUEUE_REPLY_MAX);
	r->remote_mta = take_opt_str(ps, "mta", QUEUE_MTA_MAX);
	r->delay_notified = take_bool(ps, "delay-notified");
	r->dsn_sent = take_bool(ps, "dsn-sent");
}

static void parse_body(struct parser *ps, struct queue_env *env)
{
	char *id;
	uint64_t n;

	if (!key_is(ps, MAGIC)) {
		ps->err = ps->err != NULL ? ps->err : "not a queue file";
		return;
	}
	if (!val_is(ps, VERSION)) {
		ps->err = "unsupported version";
		return;
	}
	load(ps);
	id = take_str(ps, "id", ID_LEN);
	if (id != NULL) {
		if (queue_env_is_valid_id(id))
			memcpy(env->id, id, ID_LEN + 1);
		else
			ps->err = "bad id";
		free(id);
	}
	env->sender = take_str(ps, "sender", QUEUE_ADDR_MAX);
	env->envid = take_opt_str(ps, "envid", QUEUE_ENVID_MAX);
	env->ret = (enum queue_ret)take_word(ps, "ret", ret_names, NELEM(ret_names), "bad ret");
	env->body = (enum queue_body)take_word(ps, "body", body_names, NELEM(body_names),
					       "bad body");
	env->smtputf8 = take_bool(ps, "smtputf8");
	if (ps->err == NULL && key_is(ps, "requiretls"))
		env->requiretls = take_bool(ps, "requiretls");
	env->created = (int64_t)take_num(ps, "created", INT64_MAX);
	env->size = take_num(ps, "size", UINT64_MAX);
	env->skip = take_num(ps, "skip", UINT64_MAX);
	env->is_bounce = take_bool(ps, "bounce");
	env->bounce_depth = (unsigned)take_num(ps, "bounce-depth", QUEUE_BOUNCE_DEPTH_MAX);
	n = take_num(ps, "rcpts", UINT64_MAX);
	if (ps->err == NULL && n > QUEUE_RCPTS_MAX) {
		ps->err = "too many recipients";
		return;
	}
	if (ps->err == NULL && n == 0) {
		ps->err = "no recipients";
		return;
	}
	for (uint64_t i = 0; i < n && ps->err == NULL; i++) {
		struct queue_rcpt *r = rcpt_append(env);

		KASSERT(r != NULL); /* n <= QUEUE_RCPTS_MAX */
		parse_rcpt(ps, r);
	}
	if (ps->err == NULL && ps->have)
		ps->err = key_is(ps, "rcpt") ? "more recipients than declared" :
		          key_is_known(ps) ? "field missing or out of order" : "unknown key";
}

int queue_env_decode(const char *buf, size_t len, struct queue_env *env_out,
		     const char **err_out)
{
	struct parser ps = { 0 };
	const char *sum_line;
	char sum[SUM_HEX_LEN + 1];
	size_t body_len;

	queue_env_init(env_out);
	if (len > QUEUE_ENV_FILE_MAX)
		return fail(err_out, "file too large");
	if (len == 0)
		return fail(err_out, "empty file");
	/* The checksum line is the last line and ends the file: anything cut
	 * off at the end loses it or its LF. */
	if (buf[len - 1] != '\n' || len < SUM_LINE_LEN)
		return fail(err_out, "truncated (no checksum line)");
	body_len = len - SUM_LINE_LEN;
	sum_line = buf + body_len;
	if ((body_len > 0 && buf[body_len - 1] != '\n') ||
	    memcmp(sum_line, SUM_KEY, sizeof(SUM_KEY) - 1) != 0)
		return fail(err_out, "truncated (no checksum line)");
	if (sha256_hex(buf, body_len, sum) != 0)
		return fail(err_out, "SHA-256 failed");
	if (memcmp(sum_line + sizeof(SUM_KEY) - 1, sum, SUM_HEX_LEN) != 0)
		return fail(err_out, "checksum mismatch");

	ps.p = buf;
	ps.end = buf + body_len;
	load(&ps);
	parse_body(&ps, env_out);
	if (ps.err == NULL && queue_env_validate(env_out, &ps.err) == 0)
		return 0;
	queue_env_fini(env_out);
	return fail(err_out, ps.err);
}
