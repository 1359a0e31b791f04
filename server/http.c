/*
 * http.c - the lws protocol behind the REST mounts: reads one request
 * (headers, bounded body), hands it to routes.c, writes the JSON reply.
 *
 * A reply may come at once (reads, errors) or after the write's batch is
 * committed (the write path calls complete()); either way it is written from
 * HTTP_WRITEABLE: headers and body in one write when the body is small,
 * large bodies after the headers, in pieces. Everything here runs on the
 * service thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access.h"
#include "cluster.h"
#include "guard.h"
#include "hdr.h"
#include "hooks_http.h"
#include "loop.h"
#include "http.h"
#include "routes.h"
#include "util.h"

#define PATH_CAP 512
#define ARG_CAP 256
#define CHUNK 16384
#define HEADERS_MAX 2048
#define INLINE_BODY_MAX 16384  /* a body up to this goes out with its headers */
/* A too-large body up to this size is read and dropped, so the client sees
 * the 413 instead of a reset connection; beyond it we close at once. */
#define DISCARD_MAX (8u * 1024 * 1024)

enum reply_state { REPLY_NONE, REPLY_HEADERS, REPLY_BODY };

struct http_pss {
	struct srv_requester rq;
	struct lws *wsi;
	struct srv_ctx *srv;
	enum srv_http_method method;
	char path[PATH_CAP];
	char q_state[ARG_CAP];    /* "state=..." as lws copies it */
	char q_source[ARG_CAP];
	char q_limit[ARG_CAP];
	char q_before[ARG_CAP];
	char q_before_id[ARG_CAP];
	char q_output[ARG_CAP];
	const char *arg_state;    /* the value inside q_state, or NULL */
	const char *arg_source;
	const char *arg_limit;
	const char *arg_before;
	const char *arg_before_id;
	const char *arg_output;

	char *body;               /* request body, NUL-terminated */
	size_t body_len, body_cap;
	int reject_status;        /* set: drop the body, then answer this */
	const char *reject_code;
	const char *reject_msg;

	int status;
	char *resp;               /* LWS_PRE headroom, then JSON */
	size_t resp_len, resp_sent;
	enum reply_state state;
	int close_after;
	const char *content_type; /* NULL: application/json */

	struct srv_hook_headers *hook; /* below /hooks: its headers (owned) */
	struct srv_post post;     /* lws calls from the other thread */
	int head;                 /* a HEAD: GET's reply without its body */
	int64_t started_us;       /* for the access log's duration */
	int64_t started_ms;       /* the body must be in by http_timeout */
	int has_origin;           /* sent Origin: the reply varies by it */
	int held;                 /* input held until the answer (HTTP/1) */
	int h1;                   /* an HTTP/1 connection, not an h2 stream */
	int preflight;            /* a CORS preflight answer */
	char cors_origin[SRV_CFG_NAME_MAX]; /* a listed origin: gets ACAO */
};

static struct http_pss *pss_of(struct srv_requester *rq)
{
	return lws_container_of(rq, struct http_pss, rq);
}

/*
 * While an HTTP/1 request waits for its answer (a commit, typically),
 * its connection stops polling for input: a pipelined request behind it
 * would only wake the loop again and again to be told to wait
 * (h1_gate.h). Input resumes before the answer is written, since lws
 * 4.1.6 does not deliver writable callbacks to an HTTP/1 connection
 * whose input is held. HTTP/2 streams share their connection: untouched.
 */
static void hold_input(struct http_pss *pss, int hold)
{
	if (pss->held != hold && pss->h1) {
		srv_post_wsi(&pss->post, pss->wsi,
			     hold ? SRV_OP_RX_OFF : SRV_OP_RX_ON);
		pss->held = hold;
	}
}

/* Takes res->buf as the reply and asks for a writable callback. */
static void complete(struct srv_requester *rq, struct srv_result *res)
{
	struct http_pss *pss = pss_of(rq);

	free(pss->resp);
	pss->status = res->status;
	pss->content_type = res->content_type;
	pss->resp = res->buf;
	pss->resp_len = res->buf ? res->len : 0;
	pss->resp_sent = 0;
	pss->state = REPLY_HEADERS;
	res->buf = NULL;
	if (pss->hook)
		srv_hooks_answered(pss->srv, pss->hook, pss->status);
	hold_input(pss, 0);
	srv_post_wsi(&pss->post, pss->wsi, SRV_OP_WRITABLE);
}

static void dispatch(struct http_pss *pss, int resumed)
{
	struct srv_http_request req = {
		.method = pss->method,
		.path = pss->path,
		.body = pss->body,
		.body_len = pss->body_len,
		.q_state = pss->arg_state,
		.q_source = pss->arg_source,
		.q_limit = pss->arg_limit,
		.q_before = pss->arg_before,
		.q_before_id = pss->arg_before_id,
		.q_output = pss->arg_output,
		.hook = pss->hook,
		.resumed = resumed,
	};

	hold_input(pss, 1);
	srv_routes_handle(pss->srv, &req, &pss->rq);
}

static void resume(struct srv_requester *rq)
{
	dispatch(pss_of(rq), 1);
}

void srv_reply_error(struct srv_requester *rq, int status, const char *code,
		     const char *field, const char *message)
{
	struct srv_result res = {.status = status};

	res.buf = srv_error_json(code, field, message, LWS_PRE, &res.len);
	rq->complete(rq, &res);
	free(res.buf);
}

static void reset(struct http_pss *pss)
{
	free(pss->body);
	free(pss->resp);
	free(pss->hook);
	memset(pss, 0, sizeof(*pss));
}

static enum srv_http_method method_of(int m)
{
	switch (m) {
	case LWSHUMETH_GET: return SRV_HTTP_GET;
	case LWSHUMETH_POST: return SRV_HTTP_POST;
	case LWSHUMETH_PATCH: return SRV_HTTP_PATCH;
	case LWSHUMETH_PUT: return SRV_HTTP_PUT;
	case LWSHUMETH_DELETE: return SRV_HTTP_DELETE;
	case LWSHUMETH_OPTIONS: return SRV_HTTP_OPTIONS;
	case LWSHUMETH_HEAD: return SRV_HTTP_HEAD;
	default: return SRV_HTTP_OTHER;
	}
}

/* JSON, or no type at all (curl -d sends a form type, which we refuse so
 * a mistaken client learns early). */
static int json_content_type(struct lws *wsi)
{
	char ct[128];
	size_t n;

	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE) <= 0)
		return 1;
	if (lws_hdr_copy(wsi, ct, sizeof(ct), WSI_TOKEN_HTTP_CONTENT_TYPE) < 0)
		return 0;
	n = strcspn(ct, "; \t");
	ct[n] = '\0';
	return !strcasecmp(ct, "application/json") ||
	       (n > 5 && !strcasecmp(ct + n - 5, "+json"));
}

/*
 * Origin, CORS preflight and bearer token, before anything else of the
 * request is looked at. Returns 1 when it answered the request (refused,
 * or a preflight), 0 to go on.
 */
static int check_access(struct http_pss *pss, struct lws *wsi)
{
	const struct srv_cfg *cfg = pss->srv->cfg;
	char origin[SRV_CFG_NAME_MAX], host[SRV_CFG_NAME_MAX],
		auth[SRV_CFG_NAME_MAX + 16];
	const char *o = srv_hdr(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin));
	const char *h = srv_hdr(wsi, WSI_TOKEN_HOST, host, sizeof(host));
	int write = pss->method == SRV_HTTP_POST ||
		    pss->method == SRV_HTTP_PATCH ||
		    pss->method == SRV_HTTP_PUT ||
		    pss->method == SRV_HTTP_DELETE;

	pss->has_origin = o != NULL;
	if (o && srv_guard_origin_listed(cfg, o))
		snprintf(pss->cors_origin, sizeof(pss->cors_origin), "%s", o);
	if (!srv_guard_origin_ok(cfg, o, h) &&
	    !srv_guard_origin_forwarded(cfg, wsi, o)) {
		pss->close_after = write;
		srv_reply_error(&pss->rq, 403, "origin_not_allowed", NULL,
				"requests from this origin are not allowed; "
				"see --allow-origin");
		return 1;
	}
	if (pss->method == SRV_HTTP_OPTIONS) {
		struct srv_result res = {.status = 204};

		pss->preflight = o != NULL;
		pss->rq.complete(&pss->rq, &res);
		return 1;
	}
	/* A webhook proves its sender with its own signature or token
	 * (hooks_http.c); GitHub and GitLab cannot send a bearer token. */
	if ((write || cfg->token_for_reads) && !pss->hook &&
	    !srv_guard_bearer_ok(cfg, srv_hdr(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
					     auth, sizeof(auth)))) {
		pss->close_after = write;
		srv_reply_error(&pss->rq, 401, "unauthorized", NULL,
				"send 'Authorization: Bearer <token>' with the "
				"server's token");
		return 1;
	}
	return 0;
}

static void reject(struct http_pss *pss, int status, const char *code,
		   const char *msg)
{
	pss->reject_status = status;
	pss->reject_code = code;
	pss->reject_msg = msg;
}

/*
 * LWS_CALLBACK_HTTP: the headers are in. Requests without a body are
 * dispatched now; for the others we check the framing and size, then
 * let lws read the body. Returns the callback's return value.
 */
static int on_request(struct http_pss *pss, struct lws *wsi)
{
	char *uri = NULL, cl[32];
	int uri_len = 0, m = lws_http_get_uri_and_method(wsi, &uri, &uri_len);
	static const char too_large[] =
		"the request body is over the size limit (--max-body)";
	static const char hook_too_large[] =
		"the webhook delivery is over the size limit (--hook-max-body)";
	unsigned long long length;
	size_t cap;
	char *end;

	/* Read here, on the connection's own thread: complete() may run on
	 * the other one (loop.h), where lws's fields are not ours to read. */
	pss->h1 = lws_get_network_wsi(wsi) == wsi;
	pss->rq.complete = complete;
	pss->rq.resume = resume;
	pss->wsi = wsi;
	pss->srv = lws_context_user(lws_get_context(wsi));
	pss->method = method_of(m);
	pss->started_us = srv_access_now_us();
	if (pss->method == SRV_HTTP_HEAD) {
		/* Routed as the GET it asks about (RFC 9110 9.3.2). */
		pss->head = 1;
		pss->method = SRV_HTTP_GET;
	}
	if (!uri || uri_len <= 0 || uri_len >= PATH_CAP) {
		pss->close_after = 1;
		srv_reply_error(&pss->rq, 414, "uri_too_long", NULL,
				"the request path is too long");
		return 0;
	}
	memcpy(pss->path, uri, (size_t)uri_len);
	pss->path[uri_len] = '\0';
	pss->arg_state = lws_get_urlarg_by_name(wsi, "state=", pss->q_state,
					    sizeof(pss->q_state));
	pss->arg_source = lws_get_urlarg_by_name(wsi, "source=", pss->q_source,
					     sizeof(pss->q_source));
	pss->arg_limit = lws_get_urlarg_by_name(wsi, "limit=", pss->q_limit,
					    sizeof(pss->q_limit));
	pss->arg_before = lws_get_urlarg_by_name(wsi, "before=", pss->q_before,
					     sizeof(pss->q_before));
	pss->arg_before_id = lws_get_urlarg_by_name(wsi, "before_id=",
						pss->q_before_id,
						sizeof(pss->q_before_id));
	pss->arg_output = lws_get_urlarg_by_name(wsi, "output=", pss->q_output,
					     sizeof(pss->q_output));
	pss->started_ms = srv_now_ms();
	if (srv_hooks_is_path(pss->path)) {
		pss->hook = srv_hooks_capture(wsi, pss->path);
		if (!pss->hook) {
			pss->close_after = 1;
			srv_reply_error(&pss->rq, 503, "out_of_memory", NULL,
					"the server is out of memory");
			return 0;
		}
	}
	if (check_access(pss, wsi))
		return 0;

	if (pss->method != SRV_HTTP_POST && pss->method != SRV_HTTP_PATCH &&
	    pss->method != SRV_HTTP_PUT) {
		dispatch(pss, 0);
		return 0;
	}
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0 ||
	    lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0 ||
	    lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0) {
		pss->close_after = 1;
		srv_reply_error(&pss->rq, 411, "length_required", NULL,
				"send the body with a Content-Length header "
				"(chunked bodies are not accepted)");
		return 0;
	}
	length = strtoull(cl, &end, 10);
	if (*end || cl[0] == '-') {
		pss->close_after = 1;
		srv_reply_error(&pss->rq, 400, "invalid_header",
				"Content-Length", "Content-Length is not a number");
		return 0;
	}
	/* Webhook deliveries have their own, larger cap (GitHub's payloads
	 * can reach 25 MB). */
	cap = pss->hook ? pss->srv->cfg->hook_max_body :
			  pss->srv->cfg->max_body;
	if (length > cap && length > DISCARD_MAX) {
		pss->close_after = 1;
		srv_reply_error(&pss->rq, 413, "body_too_large", NULL,
				pss->hook ? hook_too_large : too_large);
		return 0;
	}
	if (length > cap)
		reject(pss, 413, "body_too_large",
		       pss->hook ? hook_too_large : too_large);
	else if (!json_content_type(wsi))
		reject(pss, 415, "unsupported_media_type",
		       "send the body as application/json");
	/* lws sends BODY_COMPLETION for an empty POST but not for an empty
	 * PATCH or PUT (4.1.6 lws_http_action): answer those now. The POST's
	 * completion then finds nothing to do (no body, no reject). */
	if (length == 0) {
		if (pss->reject_status) {
			srv_reply_error(&pss->rq, pss->reject_status,
					pss->reject_code, NULL, pss->reject_msg);
			pss->reject_status = 0;
		} else {
			dispatch(pss, 0);
		}
		return 0;
	}
	if (pss->reject_status)
		return 0;
	pss->body_cap = (size_t)length;
	pss->body = malloc(pss->body_cap + 1);
	if (!pss->body) {
		pss->close_after = 1;
		srv_reply_error(&pss->rq, 503, "out_of_memory", NULL,
				"the server is out of memory");
	}
	return 0;
}

/* Returns -1 to close: a body still trickling in after --http-timeout
 * (slowloris) is dropped with its connection. */
static int on_body(struct http_pss *pss, const char *in, size_t len)
{
	if (srv_now_ms() - pss->started_ms >
	    pss->srv->cfg->http_timeout_sec * 1000LL) {
		srv_metrics_reject(&pss->srv->metrics, SRV_REJ_SLOW_REQUEST);
		return -1;
	}
	/* Content-Length: 0 still brings one empty HTTP_BODY, with in NULL. */
	if (pss->reject_status || !pss->body || len == 0)
		return 0;
	if (len > pss->body_cap - pss->body_len) {
		/* More bytes than Content-Length promised. */
		reject(pss, 413, "body_too_large",
		       "the request body is longer than its Content-Length");
		return 0;
	}
	memcpy(pss->body + pss->body_len, in, len);
	pss->body_len += len;
	return 0;
}

static void on_body_complete(struct http_pss *pss)
{
	if (pss->reject_status) {
		pss->close_after = pss->reject_status == 413;
		srv_reply_error(&pss->rq, pss->reject_status,
				pss->reject_code, NULL, pss->reject_msg);
		return;
	}
	if (!pss->body)
		return; /* already answered */
	pss->body[pss->body_len] = '\0';
	dispatch(pss, 0);
}

/* Adds "name: value" to the headers being built; 0 on success. */
static int add_header(struct lws *wsi, const char *name, const char *value,
		      unsigned char **p, unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
					   (const unsigned char *)value,
					   (int)strlen(value), p, end);
}

/*
 * In cluster mode a node cut off from NATS, or lagging the stream beyond
 * --cluster-max-lag, still answers reads from what it applied: such a
 * read says so in a Raceboard-Stale header ("disconnected", or
 * "lag=N" entries behind the stream), as /health does.
 * Returns 0, or -1 out of room.
 */
static int add_stale(struct http_pss *pss, struct lws *wsi, unsigned char **p,
		     unsigned char *end)
{
	char buf[32];
	const char *why;

	if (pss->method != SRV_HTTP_GET || pss->status >= 300)
		return 0;
	why = srv_cluster_stale(pss->srv->cluster, buf, sizeof(buf));
	return why ? add_header(wsi, "raceboard-stale:", why, p, end) : 0;
}

/* Counts the reply by route and status, and refusals by reason. */
static void count_reply(struct http_pss *pss)
{
	struct srv_metrics *m = &pss->srv->metrics;

	srv_metrics_http(m, srv_metrics_route(pss->path), pss->status);
	switch (pss->status) {
	case 400: case 414: case 415:
		srv_metrics_reject(m, SRV_REJ_BAD_REQUEST);
		break;
	case 401:
		srv_metrics_reject(m, SRV_REJ_TOKEN);
		break;
	case 403:
		srv_metrics_reject(m, SRV_REJ_ORIGIN);
		break;
	case 411:
		srv_metrics_reject(m, SRV_REJ_LENGTH_REQUIRED);
		break;
	case 413:
		srv_metrics_reject(m, SRV_REJ_BODY_TOO_LARGE);
		break;
	default:
		break;
	}
}

/*
 * Writes the headers, and over HTTP/1 the body with them when it fits in
 * the same buffer (every reply but large listings): one send() and one
 * writable callback per reply instead of two of each. Returns 1 when the body went
 * too, 0 when it must follow, -1 to close.
 */
static int write_headers(struct http_pss *pss, struct lws *wsi)
{
	unsigned char buf[LWS_PRE + HEADERS_MAX + INLINE_BODY_MAX],
		*start = buf + LWS_PRE, *p = start,
		*end = buf + LWS_PRE + HEADERS_MAX - 1;
	static const char allow[] = "GET, POST, PATCH, DELETE, OPTIONS";

	count_reply(pss);
	if (pss->status == 204) {
		/* No body, so no Content-Length or type (RFC 9110 8.6). */
		if (lws_add_http_header_status(wsi, 204, &p, end))
			return -1;
	} else if (lws_add_http_common_headers(wsi, (unsigned)pss->status,
					       pss->content_type ?
					       pss->content_type :
					       "application/json",
					       pss->resp_len, &p, end)) {
		return -1;
	}
	if (srv_http_reason(start, &p, end, pss->status))
		return -1;
	if (add_header(wsi, "cache-control:", "no-store", &p, end) ||
	    add_stale(pss, wsi, &p, end))
		return -1;
	if (pss->has_origin && add_header(wsi, "vary:", "Origin", &p, end))
		return -1;
	if (pss->cors_origin[0] &&
	    add_header(wsi, "access-control-allow-origin:", pss->cors_origin,
		       &p, end))
		return -1;
	if (pss->preflight &&
	    (add_header(wsi, "access-control-allow-methods:",
			"GET, POST, PATCH, DELETE", &p, end) ||
	     add_header(wsi, "access-control-allow-headers:",
			"Authorization, Content-Type", &p, end) ||
	     add_header(wsi, "access-control-max-age:", "600", &p, end)))
		return -1;
	/* A webhook proves itself with its own signature, not a token. */
	if (pss->status == 401 && !pss->hook &&
	    add_header(wsi, "www-authenticate:", "Bearer realm=\"raceboard\"",
		       &p, end))
		return -1;
	if ((pss->status == 405 || pss->status == 204) &&
	    add_header(wsi, "allow:", allow, &p, end))
		return -1;
	if (pss->close_after &&
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
					 (const unsigned char *)"close", 5, &p,
					 end))
		return -1;
	/* HEAD: the GET's headers, its Content-Length included, no body. */
	if (pss->head)
		return lws_finalize_write_http_header(wsi, start, &p, end) ? -1
									   : 1;
	/* Over HTTP/2 a headers write becomes a HEADERS frame, and a body
	 * inside it would never reach the client as DATA: only a stream that
	 * is its own connection (HTTP/1) takes the one-write path. */
	if (pss->resp_len > INLINE_BODY_MAX || lws_get_network_wsi(wsi) != wsi)
		return lws_finalize_write_http_header(wsi, start, &p, end) ? -1
									   : 0;
	if (lws_finalize_http_header(wsi, &p, end))
		return -1;
	if (pss->resp_len)
		memcpy(p, pss->resp + LWS_PRE, pss->resp_len);
	p += pss->resp_len;
	/* The reply is this session's alone: sent without the lock. */
	return srv_loop_write(wsi, start, (size_t)(p - start),
			      LWS_WRITE_HTTP_HEADERS) < (int)(p - start) ? -1
									: 1;
}

static const char *method_name(const struct http_pss *pss)
{
	static const char *const names[] = {
		[SRV_HTTP_GET] = "GET", [SRV_HTTP_POST] = "POST",
		[SRV_HTTP_PATCH] = "PATCH", [SRV_HTTP_PUT] = "PUT",
		[SRV_HTTP_DELETE] = "DELETE", [SRV_HTTP_OPTIONS] = "OPTIONS",
		[SRV_HTTP_HEAD] = "HEAD", [SRV_HTTP_OTHER] = "OTHER",
	};

	return pss->head ? "HEAD" : names[pss->method];
}

/* Writes the next piece of the reply. Returns -1 to close the connection. */
static int on_writable(struct http_pss *pss, struct lws *wsi)
{
	size_t left, n;
	int last;

	if (pss->state == REPLY_HEADERS) {
		int with_body = write_headers(pss, wsi);

		if (with_body < 0)
			return -1;
		pss->state = REPLY_BODY;
		if (!with_body) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	} else if (pss->state == REPLY_BODY) {
		left = pss->resp_len - pss->resp_sent;
		n = left > CHUNK ? CHUNK : left;
		last = n == left;
		/* Bytes before this piece were sent already, so lws may use
		 * them as its LWS_PRE headroom. */
		if (srv_loop_write(wsi, (unsigned char *)pss->resp + LWS_PRE +
				   pss->resp_sent, n,
				   last ? LWS_WRITE_HTTP_FINAL
					: LWS_WRITE_HTTP) < (int)n)
			return -1;
		pss->resp_sent += n;
		if (!last) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	} else {
		return 0; /* a spurious writable callback */
	}
	if (pss->srv->cfg->access_log)
		srv_access_log(wsi, method_name(pss), pss->path, pss->status,
			       pss->head ? 0 : pss->resp_len, pss->started_us);
	free(pss->resp);
	pss->resp = NULL;
	pss->state = REPLY_NONE;
	if (pss->close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static void release(struct http_pss *pss, struct lws *wsi)
{
	struct srv_ctx *srv;

	if (!pss)
		return;
	srv_post_drop(&pss->post);
	srv = lws_context_user(lws_get_context(wsi));
	if ((pss->rq.queued || pss->rq.owed_listed) && srv && srv->wp)
		srv_write_forget(srv->wp, &pss->rq);
	free(pss->body);
	free(pss->resp);
	free(pss->hook);
	pss->body = pss->resp = NULL;
	pss->hook = NULL;
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason,
			 void *user, void *in, size_t len)
{
	struct http_pss *pss = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		release(pss, wsi);
		reset(pss);
		return on_request(pss, wsi);
	case LWS_CALLBACK_FILTER_HTTP_CONNECTION: {
		/* A kept-alive connection's next request can arrive here
		 * rather than at protocols[0]: same Host and rate checks. */
		struct srv_ctx *srv = lws_context_user(lws_get_context(wsi));

		return srv && srv->guard &&
		       srv_guard_http_request(srv->guard, wsi, in) ? -1 : 0;
	}
	case LWS_CALLBACK_HTTP_BODY:
		return on_body(pss, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		on_body_complete(pss);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return pss ? on_writable(pss, wsi) : 0;
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		release(pss, wsi);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

const struct lws_protocols srv_http_protocol = {
	.name = "srv-http",
	.callback = http_callback,
	.per_session_data_size = sizeof(struct http_pss),
};
