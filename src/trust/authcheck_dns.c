/* authcheck_dns: one struct adns_req per query in flight, owning the
 * net/dns request until the answer has been handed on or the check
 * cancelled it. */
#include "trust/authcheck_dns.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "net/dns.h"

struct adns_req {
	struct dns_req *req; /* owned until answered or cancelled */
	authcheck_answer_fn answer;
	void *req_arg;
};

static void on_answer(struct dns_answer *ans, void *arg)
{
	struct adns_req *r = arg;
	r->req = NULL;
	int status = AUTHCHECK_DNS_TEMPFAIL;
	struct authcheck_rr *rrs = NULL;
	size_t n = 0;
	switch (ans->status) {
	case DNS_A_OK:
		status = ans->truncated ? AUTHCHECK_DNS_TEMPFAIL : AUTHCHECK_DNS_OK;
		break;
	case DNS_A_NXDOMAIN:
		status = AUTHCHECK_DNS_NXDOMAIN;
		break;
	case DNS_A_NODATA:
		status = AUTHCHECK_DNS_NODATA;
		break;
	case DNS_A_TEMPFAIL:
		status = AUTHCHECK_DNS_TEMPFAIL;
		break;
	}
	if (status == AUTHCHECK_DNS_OK && ans->count > 0) {
		rrs = xcalloc(ans->count, sizeof(*rrs));
		for (size_t i = 0; i < ans->count; i++) {
			rrs[i].data = ans->recs[i].data;
			rrs[i].len = ans->recs[i].len;
			rrs[i].record_start = ans->recs[i].record_start;
			memcpy(rrs[i].addr, ans->recs[i].addr, sizeof(rrs[i].addr));
		}
		n = ans->count;
	}
	authcheck_answer_fn answer = r->answer;
	void *req_arg = r->req_arg;
	free(r);
	answer(req_arg, status, rrs, n);
	free(rrs);
	dns_answer_free(&ans);
}

static void *q_query(void *ctx, int qtype, const char *name, authcheck_answer_fn answer,
		     void *req_arg)
{
	static const enum dns_qtype map[] = {
		[AUTHCHECK_Q_TXT] = DNS_Q_TXT, [AUTHCHECK_Q_A] = DNS_Q_A,
		[AUTHCHECK_Q_AAAA] = DNS_Q_AAAA, [AUTHCHECK_Q_MX] = DNS_Q_MX,
		[AUTHCHECK_Q_PTR] = DNS_Q_PTR,
	};
	if (qtype < 0 || (size_t)qtype >= sizeof(map) / sizeof(map[0]))
		return NULL;
	struct adns_req *r = xcalloc(1, sizeof(*r));
	r->answer = answer;
	r->req_arg = req_arg;
	r->req = dns_query(ctx, map[qtype], name, on_answer, r);
	if (r->req == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

static void q_cancel(void *ctx, void *handle)
{
	(void)ctx;
	struct adns_req *r = handle;
	if (r == NULL)
		return;
	dns_cancel(&r->req);
	free(r);
}

void authcheck_dns_ops_init(struct authcheck_dns_ops *ops, struct dns *dns)
{
	ops->query = q_query;
	ops->cancel = q_cancel;
	ops->ctx = dns;
}
