/*
 * http.c - the lws protocol behind the REST mounts: reads one request
 * (headers, bounded body), hands it to routes.c, writes the JSON reply.
 *
 * A reply may come at once (reads, errors) or after the write's batch is
 * committed (core.c calls complete()); either way it is written from
 * HTTP_WRITEABLE, headers and body as separate writes, large bodies in
 * pieces. Everything here runs on the service thread.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server.h"
#include "util.h"

#define PATH_CAP 512
#define ARG_CAP 256
#define CHUNK 16384
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
	const char *arg_state;    /* the value inside q_state, or NULL */
	const char *arg_source;

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
};

static struct http_pss *pss_of(struct srv_requester *rq)
{
	return lws_container_of(rq, struct http_pss, rq);
}

/* Takes res->buf as the reply and asks for a writable callback. */
static void complete(struct srv_requester *rq, struct srv_result *res)
{
	struct http_pss *pss = pss_of(rq);

	free(pss->resp);
	pss->status = res->status;
	pss->resp = res->buf;
	pss->resp_len = res->buf ? res->len : 0;
	pss->resp_sent = 0;
	pss->state = REPLY_HEADERS;
	res->buf = NULL;
	lws_callback_on_writable(pss->wsi);
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
		.resumed = resumed,
	};

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
	unsigned long long length;
	char *end;

	pss->rq.complete = complete;
	pss->rq.resume = resume;
	pss->wsi = wsi;
	pss->srv = lws_context_user(lws_get_context(wsi));
	pss->method = method_of(m);
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
	if (length > DISCARD_MAX) {
		pss->close_after = 1;
		srv_reply_error(&pss->rq, 413, "body_too_large", NULL,
				"the request body is over the size limit");
		return 0;
	}
	if (length > pss->srv->cfg->max_body)
		reject(pss, 413, "body_too_large",
		       "the request body is over the size limit");
	else if (!json_content_type(wsi))
		reject(pss, 415, "unsupported_media_type",
		       "send the body as application/json");
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

static void on_body(struct http_pss *pss, const char *in, size_t len)
{
	if (pss->reject_status || !pss->body)
		return;
	if (len > pss->body_cap - pss->body_len) {
		/* More bytes than Content-Length promised. */
		reject(pss, 413, "body_too_large",
		       "the request body is longer than its Content-Length");
		return;
	}
	memcpy(pss->body + pss->body_len, in, len);
	pss->body_len += len;
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

static int write_headers(struct http_pss *pss, struct lws *wsi)
{
	unsigned char buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start,
		*end = buf + sizeof(buf) - 1;
	static const char allow[] = "GET, POST, PATCH, DELETE";

	if (lws_add_http_common_headers(wsi, (unsigned)pss->status,
					"application/json", pss->resp_len, &p,
					end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)
					"cache-control:",
					(const unsigned char *)"no-store", 8,
					&p, end))
		return -1;
	if (pss->status == 405 &&
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"allow:",
					(const unsigned char *)allow,
					(int)strlen(allow), &p, end))
		return -1;
	if (pss->close_after &&
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
					 (const unsigned char *)"close", 5, &p,
					 end))
		return -1;
	return lws_finalize_write_http_header(wsi, start, &p, end) ? -1 : 0;
}

/* Writes the next piece of the reply. Returns -1 to close the connection. */
static int on_writable(struct http_pss *pss, struct lws *wsi)
{
	size_t left, n;
	int last;

	if (pss->state == REPLY_HEADERS) {
		if (write_headers(pss, wsi))
			return -1;
		pss->state = REPLY_BODY;
		if (pss->resp_len) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	} else if (pss->state == REPLY_BODY) {
		left = pss->resp_len - pss->resp_sent;
		n = left > CHUNK ? CHUNK : left;
		last = n == left;
		/* Bytes before this piece were sent already, so lws may use
		 * them as its LWS_PRE headroom. */
		if (lws_write(wsi, (unsigned char *)pss->resp + LWS_PRE +
			      pss->resp_sent, n,
			      last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) <
		    (int)n)
			return -1;
		pss->resp_sent += n;
		if (!last) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	} else {
		return 0; /* a spurious writable callback */
	}
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
	srv = lws_context_user(lws_get_context(wsi));
	if (pss->rq.queued && srv && srv->core)
		srv_core_forget(srv->core, &pss->rq);
	free(pss->body);
	free(pss->resp);
	pss->body = pss->resp = NULL;
}

int srv_http_callback(struct lws *wsi, enum lws_callback_reasons reason,
		      void *user, void *in, size_t len)
{
	struct http_pss *pss = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		release(pss, wsi);
		reset(pss);
		return on_request(pss, wsi);
	case LWS_CALLBACK_HTTP_BODY:
		on_body(pss, in, len);
		return 0;
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
