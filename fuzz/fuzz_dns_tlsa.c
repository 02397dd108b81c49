/* fuzz_dns_tlsa: libFuzzer target for dns_parse_tlsa (src/net/dns.h), the
 * one DNS wire parser of our own (c-ares 1.18 cannot parse TLSA). The
 * input is a raw DNS answer, in an exactly sized heap copy. The status
 * must be one of those documented and agree with the rcode; records come
 * only with ARES_SUCCESS (at least one), within the answer bounds, each
 * NUL-terminated with data never NULL, and each found in the input as its
 * RDATA (usage, selector, matching type, data); malformed only with
 * SUCCESS or EBADRESP; status, reason and AD are left alone. Parsed again
 * into an answer that already holds a record, the result is the same and
 * a failure adds nothing. */
#include <ares.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "net/dns.h"

/* The rcode half of the contract, written out again as the reference. */
static int rcode_status(unsigned rcode)
{
	switch (rcode) {
	case 0:
		return ARES_SUCCESS;
	case 1:
		return ARES_EFORMERR;
	case 2:
		return ARES_ESERVFAIL;
	case 3:
		return ARES_ENOTFOUND;
	case 4:
		return ARES_ENOTIMP;
	case 5:
		return ARES_EREFUSED;
	default:
		return ARES_EBADRESP;
	}
}

static void check_recs(const struct dns_answer *ans, size_t from, const uint8_t *in, size_t size)
{
	size_t total = 0;
	FUZZ_CHECK(ans->count <= DNS_ANSWER_RECS_MAX);
	for (size_t i = from; i < ans->count; i++) {
		const struct dns_arec *r = &ans->recs[i];
		FUZZ_CHECK(r->data != NULL);
		FUZZ_CHECK(r->record_start);
		FUZZ_CHECK(r->family == 0 && r->preference == 0);
		FUZZ_CHECK(r->len + 3 <= size);
		FUZZ_CHECK(r->data[r->len] == '\0');
		total += r->len;
		unsigned char *rd = malloc(r->len + 3);
		FUZZ_CHECK(rd != NULL);
		rd[0] = r->usage;
		rd[1] = r->selector;
		rd[2] = r->mtype;
		memcpy(rd + 3, r->data, r->len);
		FUZZ_CHECK(memmem(in, size, rd, r->len + 3) != NULL);
		free(rd);
	}
	FUZZ_CHECK(total <= DNS_ANSWER_DATA_MAX);
}

static bool same_rec(const struct dns_arec *a, const struct dns_arec *b)
{
	return a->len == b->len && memcmp(a->data, b->data, a->len) == 0 &&
	       a->usage == b->usage && a->selector == b->selector && a->mtype == b->mtype;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *buf = malloc(size > 0 ? size : 1);
	FUZZ_CHECK(buf != NULL);
	memcpy(buf, data, size);

	struct dns_answer *ans = dns_answer_new(DNS_A_NODATA);
	int st = dns_parse_tlsa(buf, size, ans);
	FUZZ_CHECK(st == ARES_SUCCESS || st == ARES_ENODATA || st == ARES_ENOTFOUND ||
		   st == ARES_ESERVFAIL || st == ARES_EREFUSED || st == ARES_EFORMERR ||
		   st == ARES_ENOTIMP || st == ARES_EBADRESP);
	FUZZ_CHECK(ans->status == DNS_A_NODATA && ans->reason[0] == '\0' && !ans->ad);
	if (size < 12) {
		FUZZ_CHECK(st == ARES_EBADRESP);
	} else {
		int want = rcode_status(buf[3] & 0x0f);
		if (want != ARES_SUCCESS)
			FUZZ_CHECK(st == want);
		else
			FUZZ_CHECK(st == ARES_SUCCESS || st == ARES_ENODATA || st == ARES_EBADRESP);
		/* NOERROR and no answer record at all: NODATA, read no
		 * further. */
		if (want == ARES_SUCCESS && buf[6] == 0 && buf[7] == 0)
			FUZZ_CHECK(st == ARES_ENODATA);
		if (st == ARES_SUCCESS)
			FUZZ_CHECK((buf[2] & 0x02) == 0); /* TC refused */
	}
	if (st == ARES_SUCCESS)
		FUZZ_CHECK(ans->count >= 1);
	else
		FUZZ_CHECK(ans->count == 0 && !ans->truncated);
	if (ans->malformed)
		FUZZ_CHECK(st == ARES_SUCCESS || st == ARES_EBADRESP);
	check_recs(ans, 0, buf, size);

	/* Again, into an answer that already holds one record. */
	struct dns_answer *again = dns_answer_new(DNS_A_NODATA);
	FUZZ_CHECK(dns_answer_add(again, "S", 1, true) != NULL);
	int st2 = dns_parse_tlsa(buf, size, again);
	FUZZ_CHECK(st2 == st);
	FUZZ_CHECK(again->malformed == ans->malformed);
	if (st != ARES_SUCCESS) {
		FUZZ_CHECK(again->count == 1 && !again->truncated);
	} else if (!ans->truncated && !again->truncated) {
		FUZZ_CHECK(again->count == ans->count + 1);
		for (size_t i = 0; i < ans->count; i++)
			FUZZ_CHECK(same_rec(&ans->recs[i], &again->recs[i + 1]));
	}
	FUZZ_CHECK(again->recs[0].len == 1 && again->recs[0].data[0] == 'S');
	check_recs(again, 1, buf, size);

	dns_answer_free(&again);
	dns_answer_free(&ans);
	free(buf);
	return 0;
}
