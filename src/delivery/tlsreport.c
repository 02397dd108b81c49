/* tlsreport: today's counters in a bounded array, a one-minute timer
 * that saves them and, once a day is over, turns the saved files of past
 * days into report messages (one send job a file, a few at a time). */
#include "delivery/tlsreport.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/id.h"
#include "core/kassert.h"
#include "core/log.h"
#include "delivery/signing.h"
#include "delivery/tlspolicy.h"
#include "net/dns.h"
#include "queue/queue_env.h"

#define TLSREPORT_TICK_S 60
#define TLSREPORT_SENDS_MAX 4 /* send jobs at once */
#define TLSREPORT_FILE_MAX (4u * 1024 * 1024)
#define TLSREPORT_KEEP_DAYS 7 /* files of older days are dropped unsent */

struct dstat {
	struct tlsrpt_domain_stats s;
	bool dirty;
};

struct send_job {
	struct tlsreport *t;
	struct send_job *next, *prev;
	char path[4608];
	struct tlsrpt_domain_stats s;
	struct dns_req *dr;
};

struct tlsreport {
	struct event_base *base;
	struct dns *dns;
	const struct config *const *cfgp;
	struct worker_pool *wp;
	struct queue_store *qs;
	const struct signing *signing;
	intake_queued_fn queued;
	void *queued_arg;
	char dir[4096];
	time_t day; /* day_start of the counters in stats */
	struct dstat *stats; /* owned, count entries */
	size_t count, cap;
	struct event *timer;
	struct send_job *sends; /* owned */
	unsigned sending;
};

/* ---- counting ---- */

static struct dstat *find_or_add(struct tlsreport *t, const char *domain)
{
	for (size_t i = 0; i < t->count; i++)
		if (strcasecmp(t->stats[i].s.domain, domain) == 0)
			return &t->stats[i];
	if (t->count >= TLSREPORT_DOMAINS_MAX)
		return NULL;
	if (t->count == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->stats = xrealloc(t->stats, t->cap * sizeof(*t->stats));
	}
	struct dstat *d = &t->stats[t->count];
	memset(d, 0, sizeof(*d));
	if (tlsrpt_stats_init(&d->s, domain, t->day) != 0) {
		tlsrpt_stats_fini(&d->s);
		return NULL;
	}
	t->count++;
	return d;
}

static void hex(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The policy of the report entry (RFC 8460 4.4): DANE where a host has
 * TLSA records, else the MTA-STS policy, else none found. */
static void set_policy(struct tlsrpt_domain_stats *s, const struct tlspolicy_result *p)
{
	for (size_t i = 0; i < p->host_count; i++) {
		const struct tlspolicy_host *h = &p->hosts[i];
		if (h->kind != TLSPOLICY_DANE || h->tlsa_count == 0)
			continue;
		char *strs[TLSPOLICY_TLSA_MAX] = {0};
		size_t n = 0;
		for (size_t k = 0; k < h->tlsa_count; k++) {
			const struct tls_client_tlsa *a = &h->tlsa[k];
			if (a->len * 2 + 16 > TLSRPT_POLICY_STRING_MAX)
				continue;
			char *str = xmalloc(a->len * 2 + 16);
			int o = snprintf(str, 16, "%u %u %u ", a->usage, a->selector, a->mtype);
			hex(a->data, a->len, str + o);
			strs[n++] = str;
		}
		(void)tlsrpt_stats_set_policy(s, TLSRPT_POLICY_TLSA, (const char *const *)strs, n,
					      NULL, 0);
		for (size_t k = 0; k < n; k++)
			free(strs[k]);
		return;
	}
	if (p->has_sts && p->sts.mode != MTASTS_MODE_NONE) {
		char lines[3][64];
		const char *strs[3 + MTASTS_MX_MAX];
		const char *mx[MTASTS_MX_MAX];
		char mxl[MTASTS_MX_MAX][MTASTS_HOST_MAX + 8];
		(void)snprintf(lines[0], sizeof(lines[0]), "version: STSv1");
		(void)snprintf(lines[1], sizeof(lines[1]), "mode: %s", mtasts_mode_name(p->sts.mode));
		(void)snprintf(lines[2], sizeof(lines[2]), "max_age: %lu", p->sts.max_age);
		size_t n = 0;
		for (size_t k = 0; k < 3; k++)
			strs[n++] = lines[k];
		for (size_t k = 0; k < p->sts.mx_count; k++) {
			(void)snprintf(mxl[k], sizeof(mxl[k]), "mx: %s", p->sts.mx[k]);
			strs[n++] = mxl[k];
			mx[k] = p->sts.mx[k];
		}
		(void)tlsrpt_stats_set_policy(s, TLSRPT_POLICY_STS, strs, n, mx, p->sts.mx_count);
		return;
	}
	(void)tlsrpt_stats_set_policy(s, TLSRPT_POLICY_NO_POLICY_FOUND, NULL, 0, NULL, 0);
}

/* ---- files ---- */

static void save(struct tlsreport *t)
{
	char daydir[4200];
	(void)snprintf(daydir, sizeof(daydir), "%s/%lld", t->dir, (long long)t->day);
	bool made = false;
	for (size_t i = 0; i < t->count; i++) {
		struct dstat *d = &t->stats[i];
		if (!d->dirty)
			continue;
		if (!made) {
			if (mkdir(daydir, 0700) != 0 && errno != EEXIST) {
				log_warn(NULL, "event=tls-report error=\"mkdir %s: %s\"", daydir,
					 strerror(errno));
				return;
			}
			made = true;
		}
		size_t len;
		char *text = tlsrpt_stats_serialize(&d->s, &len);
		char path[4500], tmp[4600];
		(void)snprintf(path, sizeof(path), "%s/%s", daydir, d->s.domain);
		(void)snprintf(tmp, sizeof(tmp), "%s/.tmp.%s", daydir, d->s.domain);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
		size_t off = 0;
		while (fd >= 0 && off < len) {
			ssize_t w = write(fd, text + off, len - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			off += (size_t)w;
		}
		bool ok = fd >= 0 && off == len;
		if (fd >= 0)
			ok = close(fd) == 0 && ok;
		free(text);
		if (!ok || rename(tmp, path) != 0) {
			(void)unlink(tmp);
			log_warn(NULL, "event=tls-report error=\"cannot write %s\"", path);
			continue;
		}
		d->dirty = false;
	}
}

static void clear_day(struct tlsreport *t, time_t day)
{
	for (size_t i = 0; i < t->count; i++)
		tlsrpt_stats_fini(&t->stats[i].s);
	t->count = 0;
	t->day = day;
}

static void roll(struct tlsreport *t, time_t now)
{
	time_t day = tlsrpt_day_start(now);
	if (day == t->day)
		return;
	save(t);
	clear_day(t, day);
}

/* ---- sending ---- */

static void job_free(struct send_job *j)
{
	struct tlsreport *t = j->t;
	if (j->prev)
		j->prev->next = j->next;
	else
		t->sends = j->next;
	if (j->next)
		j->next->prev = j->prev;
	t->sending--;
	dns_cancel(&j->dr);
	tlsrpt_stats_fini(&j->s);
	free(j);
}

static void commit_done(void *arg, int result, const char *err)
{
	char *to = arg;
	if (result == 0)
		log_info(NULL, "event=tls-report result=queued to=<%s>", to);
	else
		log_error(NULL, "event=tls-report result=failed to=<%s> error=\"%s\"", to,
			  err ? err : "?");
	free(to);
}

/* Queues one report message (msg: CRLF line ends) for to. */
static void queue_report(struct tlsreport *t, const char *msg, size_t len, const char *to,
			 const char *from_domain)
{
	const struct config *cfg = *t->cfgp;
	char id[ID_LEN + 1], err[512];
	id_new(id);
	struct intake *in = intake_new(cfg->data_dir, cfg->hostname, id, err, sizeof(err));
	if (in == NULL) {
		log_error(NULL, "event=tls-report result=failed error=\"%s\"", err);
		return;
	}
	(void)intake_write_return_path(in, "");
	/* RFC 8460 3 with RFC 8689 5: never held back by the policy it
	 * reports on. */
	static const char tr[] = "TLS-Required: No\n";
	(void)intake_write(in, tr, sizeof(tr) - 1);
	/* Stored form: LF line ends. */
	size_t s = 0;
	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n') {
			(void)intake_write(in, msg + s, i - s);
			s = i + 1;
		}
	}
	(void)intake_write(in, msg + s, len - s);
	if (t->signing != NULL) {
		const struct signing_domain *sd = signing_find(t->signing, from_domain);
		if (sd != NULL)
			intake_set_dkim(in, sd);
	}
	struct queue_env qe;
	queue_env_init(&qe);
	memcpy(qe.id, id, sizeof(qe.id));
	qe.sender = xstrdup("");
	qe.body = QUEUE_BODY_7BIT;
	qe.created = (int64_t)time(NULL);
	/* qe.skip: the intake's Return-Path head, set at commit */
	(void)queue_env_add_rcpt(&qe, to);
	intake_set_queue(in, t->qs, &qe, t->queued, t->queued_arg);
	queue_env_fini(&qe);
	intake_commit(in, t->wp, commit_done, xstrdup(to));
}

static void build_and_queue(struct tlsreport *t, const struct tlsrpt_domain_stats *s,
			    const struct tlsrpt_record *rec)
{
	const struct config *cfg = *t->cfgp;
	const char *submitter = cfg->domains[0] != NULL ? cfg->domains[0] : cfg->hostname;
	char contact[300], from[300], rid[400], uid[33];
	(void)snprintf(contact, sizeof(contact), "postmaster@%s", submitter);
	(void)snprintf(from, sizeof(from), "tlsrpt-noreply@%s", submitter);
	unsigned char rnd[16];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0x5a, sizeof(rnd));
	hex(rnd, sizeof(rnd), uid);
	(void)snprintf(rid, sizeof(rid), "%lld.%s@%s", (long long)s->day_start, uid, cfg->hostname);
	size_t jlen = 0;
	char *json = tlsrpt_report_json(s, submitter, contact, rid, s->day_start, &jlen);
	unsigned char *gz = NULL;
	size_t gzlen = 0;
	if (json == NULL || tlsrpt_gzip(json, jlen, &gz, &gzlen) != 0) {
		free(json);
		log_error(NULL, "event=tls-report domain=%s result=failed error=\"cannot build the report\"",
			  s->domain);
		return;
	}
	free(json);
	for (size_t i = 0; i < rec->rua_count; i++) {
		struct tlsrpt_message_params mp = {.from = from,
						   .to = rec->rua[i],
						   .policy_domain = s->domain,
						   .submitter = submitter,
						   .report_id = rid,
						   .unique_id = uid,
						   .day_start = s->day_start,
						   .now = time(NULL),
						   .gz = gz,
						   .gz_len = gzlen};
		const char *why = NULL;
		size_t mlen = 0;
		char *msg = tlsrpt_message(&mp, &mlen, &why);
		if (msg == NULL) {
			log_error(NULL, "event=tls-report domain=%s result=failed error=\"%s\"",
				  s->domain, why ? why : "?");
			continue;
		}
		queue_report(t, msg, mlen, rec->rua[i], submitter);
		free(msg);
	}
	free(gz);
}

static void on_txt(struct dns_answer *ans, void *arg)
{
	struct send_job *j = arg;
	j->dr = NULL;
	struct tlsreport *t = j->t;
	if (ans->status == DNS_A_TEMPFAIL || ans->truncated) {
		/* Try again at the next tick (the file stays). */
		log_warn(NULL, "event=tls-report domain=%s result=deferred error=\"%s\"", j->s.domain,
			 ans->reason);
		dns_answer_free(&ans);
		job_free(j);
		return;
	}
	struct tlsrpt_record rec;
	bool have = false;
	if (ans->status == DNS_A_OK) {
		struct dns_txt_set set;
		dns_txt_set_from(ans, TLSRPT_RECORD_MAX, &set);
		bool unreadable = set.more;
		for (size_t k = 0; k < set.n; k++)
			unreadable = unreadable ||
				     (set.cut[k] && tlsrpt_is_record(set.rec[k], set.len[k]));
		long pick = unreadable ? -1
				       : tlsrpt_pick_record((const char *const *)set.rec, set.len, set.n);
		have = pick >= 0 && tlsrpt_parse_txt(set.rec[pick], set.len[pick], &rec) == 0 &&
		       rec.rua_count > 0;
		dns_txt_set_fini(&set);
	}
	dns_answer_free(&ans);
	if (have)
		build_and_queue(t, &j->s, &rec);
	else
		log_info(NULL, "event=tls-report domain=%s result=none note=\"no _smtp._tls record with a mailto: rua\"",
			 j->s.domain);
	(void)unlink(j->path);
	job_free(j);
}

/* A counter file being reported is renamed DOMAIN!sending first ('!'
 * is never in a domain name), so counts saved for the same day after
 * this point (konvert queue tls-report today) go to a new DOMAIN file
 * instead of into the one the job removes when it is done. */
#define TLSREPORT_SENDING "!sending"

static void start_send(struct tlsreport *t, const char *file)
{
	char path[4608];
	size_t fl = strlen(file), sl = strlen(TLSREPORT_SENDING);
	if (fl >= sl && strcmp(file + fl - sl, TLSREPORT_SENDING) == 0) {
		(void)snprintf(path, sizeof(path), "%s", file); /* a retry */
	} else {
		if (snprintf(path, sizeof(path), "%s%s", file, TLSREPORT_SENDING) >= (int)sizeof(path))
			return;
		if (access(path, F_OK) == 0)
			return; /* the earlier report of this domain goes first */
		if (rename(file, path) != 0)
			return;
	}
	for (struct send_job *j = t->sends; j != NULL; j = j->next)
		if (strcmp(j->path, path) == 0)
			return; /* already on its way */
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	char *buf = NULL;
	ssize_t got = -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size <= TLSREPORT_FILE_MAX) {
		buf = xmalloc((size_t)st.st_size + 1);
		got = read(fd, buf, (size_t)st.st_size);
	}
	(void)close(fd);
	struct send_job *j = xcalloc(1, sizeof(*j));
	const char *why = NULL;
	if (got < 0 || tlsrpt_stats_parse(buf, (size_t)got, &j->s, &why) != 0) {
		log_warn(NULL, "event=tls-report file=%s result=dropped error=\"%s\"", path,
			 why ? why : "unreadable");
		(void)unlink(path);
		free(buf);
		free(j);
		return;
	}
	free(buf);
	j->t = t;
	(void)snprintf(j->path, sizeof(j->path), "%s", path);
	j->next = t->sends;
	if (t->sends)
		t->sends->prev = j;
	t->sends = j;
	t->sending++;
	char name[DNS_NAME_MAX + 16];
	if (tlsrpt_query_name(j->s.domain, name, sizeof(name)) != 0) {
		(void)unlink(path);
		job_free(j);
		return;
	}
	j->dr = dns_query(t->dns, DNS_Q_TXT, name, on_txt, j);
}

/* Starts send jobs for the saved files of days before `before`. Returns
 * how many files it found. */
static unsigned send_pending(struct tlsreport *t, time_t before)
{
	DIR *dir = opendir(t->dir);
	if (dir == NULL)
		return 0;
	unsigned found = 0;
	struct dirent *de;
	time_t now = time(NULL);
	while ((de = readdir(dir)) != NULL) {
		char *end = NULL;
		long long day = strtoll(de->d_name, &end, 10);
		if (de->d_name[0] < '0' || de->d_name[0] > '9' || end == NULL || *end != '\0' ||
		    (time_t)day >= before)
			continue;
		char daydir[4400];
		(void)snprintf(daydir, sizeof(daydir), "%s/%s", t->dir, de->d_name);
		DIR *dd = opendir(daydir);
		if (dd == NULL)
			continue;
		bool old = now - (time_t)day > TLSREPORT_KEEP_DAYS * 86400;
		struct dirent *fe;
		unsigned left = 0;
		while ((fe = readdir(dd)) != NULL) {
			if (fe->d_name[0] == '.')
				continue;
			char path[4608];
			if (snprintf(path, sizeof(path), "%s/%.255s", daydir, fe->d_name) >= (int)sizeof(path))
				continue;
			left++;
			found++;
			if (old) {
				(void)unlink(path);
				continue;
			}
			if (t->sending < TLSREPORT_SENDS_MAX)
				start_send(t, path);
		}
		(void)closedir(dd);
		if (left == 0 || old)
			(void)rmdir(daydir); /* fails while files remain */
	}
	(void)closedir(dir);
	return found;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct tlsreport *t = arg;
	roll(t, time(NULL));
	save(t);
	(void)send_pending(t, t->day);
}

/* ---- public ---- */

struct tlsreport *tlsreport_new(struct event_base *base, struct dns *dns,
				const struct config *const *cfgp, struct worker_pool *wp,
				struct queue_store *qs, const struct signing *signing,
				intake_queued_fn queued, void *queued_arg)
{
	struct tlsreport *t = xcalloc(1, sizeof(*t));
	t->base = base;
	t->dns = dns;
	t->cfgp = cfgp;
	t->wp = wp;
	t->qs = qs;
	t->signing = signing;
	t->queued = queued;
	t->queued_arg = queued_arg;
	(void)snprintf(t->dir, sizeof(t->dir), "%s/tlsrpt", (*cfgp)->data_dir);
	if (mkdir(t->dir, 0700) != 0 && errno != EEXIST)
		log_warn(NULL, "event=tls-report error=\"mkdir %s: %s\"", t->dir, strerror(errno));
	t->day = tlsrpt_day_start(time(NULL));
	t->timer = event_new(base, -1, EV_PERSIST, tick_cb, t);
	KASSERT(t->timer != NULL);
	struct timeval tv = {TLSREPORT_TICK_S, 0};
	(void)event_add(t->timer, &tv);
	return t;
}

void tlsreport_set_signing(struct tlsreport *t, const struct signing *signing)
{
	t->signing = signing;
}

void tlsreport_observe(void *arg, const struct remote_tls_event *ev)
{
	struct tlsreport *t = arg;
	roll(t, time(NULL));
	struct dstat *d = find_or_add(t, ev->domain);
	if (d == NULL)
		return;
	set_policy(&d->s, ev->policy);
	d->dirty = true;
	if (ev->success) {
		tlsrpt_stats_success(&d->s);
		return;
	}
	char ip[INET6_ADDRSTRLEN] = "";
	if (ev->addr != NULL) {
		if (ev->addr->ss_family == AF_INET)
			(void)inet_ntop(AF_INET, &((const struct sockaddr_in *)ev->addr)->sin_addr, ip,
					sizeof(ip));
		else if (ev->addr->ss_family == AF_INET6)
			(void)inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ev->addr)->sin6_addr,
					ip, sizeof(ip));
	}
	(void)tlsrpt_stats_failure(&d->s, ev->result, ev->mx, ip, NULL, ev->reason);
}

int tlsreport_send_now(struct tlsreport *t, bool today, char *msg, size_t msg_size)
{
	time_t now = time(NULL);
	roll(t, now);
	if (today) {
		/* Today's counts so far become a report of their own; counting
		 * starts again from zero. */
		for (size_t i = 0; i < t->count; i++)
			t->stats[i].dirty = true;
		save(t);
		clear_day(t, t->day);
	}
	save(t);
	unsigned n = send_pending(t, today ? t->day + 1 : t->day);
	(void)snprintf(msg, msg_size, "%u domain report(s) being sent", n);
	return 0;
}

void tlsreport_free(struct tlsreport **pp)
{
	struct tlsreport *t = *pp;
	if (t == NULL)
		return;
	*pp = NULL;
	save(t);
	while (t->sends != NULL)
		job_free(t->sends);
	clear_day(t, 0);
	free(t->stats);
	if (t->timer)
		event_free(t->timer);
	free(t);
}
