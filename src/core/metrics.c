/* metrics: the registry is one static array of 64-bit atomics ("slots"),
 * every series of every family at a fixed index, and a table of families
 * that the renderer walks. Updates are single relaxed atomic adds or
 * stores: no lock, no allocation, callable from any thread. Gauges that go
 * up and down live in the same unsigned slots and are read back as signed
 * (two's complement wrap-around). This file knows label values, not the
 * modules that report them; it never logs. */
#include "core/metrics.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "core/kassert.h"
#include "core/strbuf.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *const listener_names[METRICS_LISTENER_COUNT] = {
	[METRICS_LISTENER_SMTP] = "smtp",   [METRICS_LISTENER_SUBMISSION] = "submission",
	[METRICS_LISTENER_SMTPS] = "smtps", [METRICS_LISTENER_LOCAL] = "local",
	[METRICS_LISTENER_POP3] = "pop3",   [METRICS_LISTENER_POP3S] = "pop3s",
	[METRICS_LISTENER_POP2] = "pop2",
};
static const char *const result_names[METRICS_RESULT_COUNT] = {
	[METRICS_RESULT_DELIVERED] = "delivered",
	[METRICS_RESULT_DEFERRED] = "deferred",
	[METRICS_RESULT_BOUNCED] = "bounced",
};
static const char *const where_names[METRICS_WHERE_COUNT] = {
	[METRICS_WHERE_LOCAL] = "local",
	[METRICS_WHERE_REMOTE] = "remote",
};
static const char *const proto_names[] = {"smtp", "pop3", "pop2"};
enum { TLS_V12, TLS_V13, TLS_OTHER, TLS_VERSION_COUNT };
static const char *const tls_version_names[TLS_VERSION_COUNT] = {"TLSv1.2", "TLSv1.3", "other"};
static const char *const side_names[METRICS_TLS_SIDE_COUNT] = {
	[METRICS_TLS_SERVER] = "server",
	[METRICS_TLS_CLIENT] = "client",
};
static const char *const dmarc_names[] = {"pass", "fail", "none", "temperror", "permerror"};
static const char *const pool_names[METRICS_POOL_COUNT] = {
	[METRICS_POOL_MAIN] = "main",
	[METRICS_POOL_AUTH] = "auth",
};

/* konvert_delivery_seconds: upper bounds (inclusive, as Prometheus' "le")
 * in milliseconds and as printed. One more bucket holds what is above
 * the last bound (+Inf). */
static const uint64_t latency_bounds_ms[] = {100,   500,   1000,   5000,    10000,
					     30000, 60000, 300000, 1800000, 3600000};
static const char *const latency_bounds_text[NELEM(latency_bounds_ms)] = {
	"0.1", "0.5", "1", "5", "10", "30", "60", "300", "1800", "3600"};
#define LATENCY_BUCKETS (NELEM(latency_bounds_ms) + 1)

/* Slot indexes: each family's series are consecutive, first label
 * outermost. */
enum {
	S_CONNECTIONS = 0,
	S_SESSIONS = S_CONNECTIONS + METRICS_LISTENER_COUNT,
	S_RECEIVED = S_SESSIONS + METRICS_LISTENER_COUNT,
	S_DELIVERIES = S_RECEIVED + METRICS_LISTENER_SMTP_COUNT,
	S_LATENCY = S_DELIVERIES + METRICS_RESULT_COUNT * METRICS_WHERE_COUNT,
	S_LATENCY_SUM = S_LATENCY + LATENCY_BUCKETS, /* milliseconds */
	S_QUEUE = S_LATENCY_SUM + 1,
	S_QUEUE_AGE = S_QUEUE + 1,
	S_AUTH_FAILURES = S_QUEUE_AGE + 1,
	S_TLS = S_AUTH_FAILURES + NELEM(proto_names),
	S_DKIM = S_TLS + TLS_VERSION_COUNT * METRICS_TLS_SIDE_COUNT,
	S_DMARC = S_DKIM + 1,
	S_BACKLOG = S_DMARC + NELEM(dmarc_names),
	S_COUNT = S_BACKLOG + METRICS_POOL_COUNT
};

static _Atomic uint64_t slots[S_COUNT];

struct family {
	const char *name;
	const char *type; /* "counter" or "gauge" */
	const char *help;
	const char *label[2]; /* NULL: no (second) label */
	const char *const *values[2];
	size_t nvalues[2];
	size_t slot; /* of the first series */
	bool is_signed;
};

#define L1(l, v, n) .label = {(l), NULL}, .values = {(v), NULL}, .nvalues = {(n), 1}
#define L2(l1, v1, l2, v2) \
	.label = {(l1), (l2)}, .values = {(v1), (v2)}, .nvalues = {NELEM(v1), NELEM(v2)}
#define L0 .label = {NULL, NULL}, .values = {NULL, NULL}, .nvalues = {1, 1}

/* Render order. The histogram is written after this family. */
#define FAMILY_BEFORE_HISTOGRAM 3
static const struct family families[] = {
	{.name = "konvert_connections_total", .type = "counter",
	 .help = "Connections accepted per listener, including those refused for the session limits.",
	 L1("listener", listener_names, METRICS_LISTENER_COUNT), .slot = S_CONNECTIONS},
	{.name = "konvert_sessions", .type = "gauge",
	 .help = "Sessions open now per listener.",
	 L1("listener", listener_names, METRICS_LISTENER_COUNT), .slot = S_SESSIONS,
	 .is_signed = true},
	{.name = "konvert_messages_received_total", .type = "counter",
	 .help = "Messages accepted (250 after DATA or BDAT) per SMTP listener.",
	 L1("listener", listener_names, METRICS_LISTENER_SMTP_COUNT), .slot = S_RECEIVED},
	{.name = "konvert_deliveries_total", .type = "counter",
	 .help = "Recipients by delivery result: local mailboxes written, remote recipients "
		 "per attempt (deferred counts every temporary failure).",
	 L2("result", result_names, "where", where_names), .slot = S_DELIVERIES},
	{.name = "konvert_queue_messages", .type = "gauge",
	 .help = "Messages in the queue.", L0, .slot = S_QUEUE},
	{.name = "konvert_queue_oldest_age_seconds", .type = "gauge",
	 .help = "Age of the oldest message in the queue (0 when empty).", L0, .slot = S_QUEUE_AGE},
	{.name = "konvert_auth_failures_total", .type = "counter",
	 .help = "Failed logins per protocol (wrong password, unknown user, locked out).",
	 L1("proto", proto_names, NELEM(proto_names)), .slot = S_AUTH_FAILURES},
	{.name = "konvert_tls_sessions_total", .type = "counter",
	 .help = "TLS handshakes completed, by protocol version, as server and as client.",
	 L2("version", tls_version_names, "side", side_names), .slot = S_TLS},
	{.name = "konvert_dkim_signed_total", .type = "counter",
	 .help = "Messages committed with our DKIM signature.", L0, .slot = S_DKIM},
	{.name = "konvert_auth_checks_total", .type = "counter",
	 .help = "DMARC results of the inbound checks on the smtp listener.",
	 L1("dmarc", dmarc_names, NELEM(dmarc_names)), .slot = S_DMARC},
	{.name = "konvert_worker_backlog", .type = "gauge",
	 .help = "Jobs queued or running in a worker pool.",
	 L1("pool", pool_names, METRICS_POOL_COUNT), .slot = S_BACKLOG, .is_signed = true},
};

static void add(size_t slot, uint64_t n)
{
	KASSERT(slot < S_COUNT);
	(void)atomic_fetch_add_explicit(&slots[slot], n, memory_order_relaxed);
}

static void set(size_t slot, uint64_t v)
{
	KASSERT(slot < S_COUNT);
	atomic_store_explicit(&slots[slot], v, memory_order_relaxed);
}

static uint64_t get(size_t slot)
{
	return atomic_load_explicit(&slots[slot], memory_order_relaxed);
}

/* Index of s in names, or -1. */
static int find_name(const char *const *names, size_t n, const char *s)
{
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

void metrics_connection(enum metrics_listener l)
{
	KASSERT(l < METRICS_LISTENER_COUNT);
	add(S_CONNECTIONS + l, 1);
}

void metrics_session_start(enum metrics_listener l)
{
	KASSERT(l < METRICS_LISTENER_COUNT);
	add(S_SESSIONS + l, 1);
}

void metrics_session_end(enum metrics_listener l)
{
	KASSERT(l < METRICS_LISTENER_COUNT);
	add(S_SESSIONS + l, UINT64_MAX); /* - 1, modulo 2^64 */
}

void metrics_message_received(enum metrics_listener l)
{
	KASSERT(l < METRICS_LISTENER_SMTP_COUNT);
	add(S_RECEIVED + l, 1);
}

void metrics_deliveries(enum metrics_result r, enum metrics_where w, uint64_t n)
{
	KASSERT(r < METRICS_RESULT_COUNT && w < METRICS_WHERE_COUNT);
	add(S_DELIVERIES + (size_t)r * METRICS_WHERE_COUNT + w, n);
}

void metrics_delivery_latency_ms(uint64_t ms)
{
	size_t b = 0;
	while (b < NELEM(latency_bounds_ms) && ms > latency_bounds_ms[b])
		b++;
	add(S_LATENCY + b, 1);
	add(S_LATENCY_SUM, ms);
}

void metrics_auth_failure(const char *proto)
{
	int i = find_name(proto_names, NELEM(proto_names), proto);
	if (i >= 0)
		add(S_AUTH_FAILURES + (size_t)i, 1);
}

void metrics_tls_session(const char *version, enum metrics_tls_side side)
{
	KASSERT(side < METRICS_TLS_SIDE_COUNT);
	size_t v = TLS_OTHER;
	if (version != NULL) {
		if (strncmp(version, "version=", 8) == 0)
			version += 8;
		size_t n = strcspn(version, " ");
		for (size_t i = 0; i < TLS_OTHER; i++)
			if (n == strlen(tls_version_names[i]) &&
			    memcmp(version, tls_version_names[i], n) == 0)
				v = i;
	}
	add(S_TLS + v * METRICS_TLS_SIDE_COUNT + side, 1);
}

void metrics_dkim_signed(void)
{
	add(S_DKIM, 1);
}

void metrics_dmarc_result(const char *result)
{
	int i = find_name(dmarc_names, NELEM(dmarc_names), result);
	if (i >= 0)
		add(S_DMARC + (size_t)i, 1);
}

void metrics_set_queue(uint64_t messages, uint64_t oldest_age_s)
{
	set(S_QUEUE, messages);
	set(S_QUEUE_AGE, oldest_age_s);
}

void metrics_set_worker_backlog(enum metrics_pool p, uint64_t jobs)
{
	KASSERT(p < METRICS_POOL_COUNT);
	set(S_BACKLOG + p, jobs);
}

void metrics_reset(void)
{
	for (size_t i = 0; i < S_COUNT; i++)
		set(i, 0);
}

/* ---- rendering ---- */

static void render_value(struct strbuf *out, const struct family *f, size_t slot)
{
	uint64_t v = get(slot);
	if (f->is_signed)
		strbuf_printf(out, " %" PRId64 "\n", (int64_t)v);
	else
		strbuf_printf(out, " %" PRIu64 "\n", v);
}

static void render_family(struct strbuf *out, const struct family *f)
{
	strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, f->type);
	for (size_t i = 0; i < f->nvalues[0]; i++) {
		for (size_t j = 0; j < f->nvalues[1]; j++) {
			strbuf_add_str(out, f->name);
			if (f->label[0] != NULL)
				strbuf_printf(out, "{%s=\"%s\"", f->label[0], f->values[0][i]);
			if (f->label[1] != NULL)
				strbuf_printf(out, ",%s=\"%s\"", f->label[1], f->values[1][j]);
			if (f->label[0] != NULL)
				strbuf_add_str(out, "}");
			render_value(out, f, f->slot + i * f->nvalues[1] + j);
		}
	}
}

/* Buckets are stored one range each and shown cumulative; _count is the
 * +Inf bucket, so the two always agree within one render. */
static void render_histogram(struct strbuf *out)
{
	static const char name[] = "konvert_delivery_seconds";
	strbuf_printf(out,
		      "# HELP %s Time from queueing to the final result (delivered or bounced) "
		      "of remote recipients.\n# TYPE %s histogram\n",
		      name, name);
	uint64_t cum = 0;
	for (size_t b = 0; b < LATENCY_BUCKETS; b++) {
		cum += get(S_LATENCY + b);
		strbuf_printf(out, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name,
			      b < NELEM(latency_bounds_text) ? latency_bounds_text[b] : "+Inf", cum);
	}
	uint64_t sum_ms = get(S_LATENCY_SUM);
	strbuf_printf(out, "%s_sum %" PRIu64 ".%03" PRIu64 "\n%s_count %" PRIu64 "\n", name,
		      sum_ms / 1000, sum_ms % 1000, name, cum);
}

void metrics_render(struct strbuf *out)
{
	for (size_t i = 0; i < NELEM(families); i++) {
		render_family(out, &families[i]);
		if (i == FAMILY_BEFORE_HISTOGRAM)
			render_histogram(out);
	}
}
