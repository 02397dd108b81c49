/* https_get: one asynchronous HTTPS GET on the event loop, made for
 * fetching MTA-STS policies (RFC 8461 3.3):
 * https://mta-sts.DOMAIN/.well-known/mta-sts.txt.
 *
 * What it does: resolves host with dns_resolve_host, connects to its
 * addresses in the resolver's order (at most HTTPS_GET_ADDRS_TRY of them;
 * the next one only when the TCP connect fails), runs TLS with
 * TLS_CLIENT_VERIFY_HOSTNAME (SNI = host; the chain must verify against
 * the SSL_CTX's trust store and the certificate must match host), sends
 *   GET path HTTP/1.1, Host, User-Agent: konvert, Accept: text/plain,
 *   Connection: close
 * and reads one HTTP/1.x response. The body is delimited by
 * Content-Length, chunked transfer coding, or the end of the connection;
 * the last is accepted only after a TLS close_notify, since a bare TCP
 * close could cut a policy short without anyone noticing. Only 200 is
 * success: RFC 8461 3.3 forbids following redirects, so any 3xx fails.
 * 1xx interim responses are skipped.
 *
 * Limits (nothing the server sends grows memory past them): the status
 * line, headers (of interim responses too) and trailers together
 * HTTPS_GET_HEAD_MAX bytes; the body max_body bytes (refused as soon as
 * Content-Length or a chunk size says it will pass); chunk-size lines
 * 1 KiB; the whole request, DNS included, timeout_ms, one timer from
 * https_get_start, so a server dripping a byte at a time is cut at the
 * same moment as a silent one. A connect that hangs uses up that same
 * budget: there is no separate connect timeout.
 *
 * Why not libevent's evhttp client: it reports failures as an enum
 * (EVREQ_HTTP_TIMEOUT, _EOF, ...), losing the errno of a refused connect
 * and the TLS verification result the caller must log; its timeout is a
 * bufferevent timeout that every byte read restarts; and it connects by
 * itself (bufferevent_socket_connect_hostname), so trying each address
 * c-ares gave us, with our SSL, needs more glue than the small parser
 * below, which takes its lines from net/linereader.
 *
 * Callback: fires exactly once per request, from the event loop, never
 * from inside https_get_start and never after https_get_cancel. The
 * handle is invalid from the moment the callback is entered (the request
 * frees itself when the callback returns); the callback may start new
 * requests, cancel other ones, or free the resolver.
 *
 * Everything runs on the loop thread; nothing blocks, nothing logs:
 * reasons come back as text. A server may reset the connection while we
 * write: the process must ignore SIGPIPE (konvert serve does). */
#ifndef KONVERT_NET_HTTPS_GET_H
#define KONVERT_NET_HTTPS_GET_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct dns;
struct https_get;
typedef struct ssl_ctx_st SSL_CTX;

#define HTTPS_GET_HEAD_MAX (16 * 1024) /* status line + headers + trailers */
#define HTTPS_GET_ADDRS_TRY 4 /* addresses of the host tried, in order */
#define HTTPS_GET_PATH_MAX 1024
#define HTTPS_GET_CTYPE_MAX 256 /* content_type kept, NUL included */
#define HTTPS_GET_REASON_MAX 512 /* reason text, NUL included */

/* Everything is borrowed and valid only during the callback. */
struct https_get_result {
	bool ok; /* a complete 200 response within the limits */
	/* Status of the final response; 0 when none was read (DNS, connect,
	 * TLS failures, timeouts before the status line). */
	int status;
	/* ok: the body, body_len bytes, NUL-terminated after them (it may
	 * hold NUL bytes itself: use body_len). Not ok: NULL and 0. */
	const char *body;
	size_t body_len;
	/* The Content-Type value, whitespace trimmed, cut at
	 * HTTPS_GET_CTYPE_MAX - 1 bytes; "" when absent. Not checked here:
	 * RFC 8461 3.2 wants text/plain, the caller decides. */
	const char *content_type;
	/* "" when ok; otherwise one line for logs, e.g. "DNS: ...",
	 * "connect: Connection refused", "TLS: certificate verify failed:
	 * hostname mismatch", "HTTP 404", "redirect not followed (RFC 8461
	 * 3.3)", "body over 65536 bytes", "response headers over 16384
	 * bytes", "connection closed before the end of the response",
	 * "timed out". */
	const char *reason;
};

typedef void (*https_get_fn)(void *arg, const struct https_get_result *r);

/* Starts GET https://host:port/path. host (a DNS name in A-labels, as
 * dns_is_hostname accepts; no address literals) and path (starting with
 * '/', printable ASCII without spaces, at most HTTPS_GET_PATH_MAX bytes)
 * are copied. A host that is not a valid name fails through the
 * callback; a bad path, port 0 or timeout_ms 0 is a caller bug
 * (KASSERT). base, dns and ctx are borrowed: base and dns must outlive
 * the request; the SSL keeps its own reference on ctx. The Host header
 * carries ":port" unless port is 443. Returns a handle valid until the
 * callback is entered or https_get_cancel; never NULL. */
struct https_get *https_get_start(struct event_base *base, struct dns *dns, SSL_CTX *ctx,
				  const char *host, unsigned port, const char *path,
				  size_t max_body, unsigned timeout_ms, https_get_fn cb, void *arg);

/* Abandons the request: closes its connection, cancels its DNS lookup;
 * the callback never fires. Sets *pp = NULL; accepts *pp == NULL. Must
 * not be called once the callback has been entered. */
void https_get_cancel(struct https_get **pp);

#endif
