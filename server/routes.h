/*
 * routes.h - the REST API as the HTTP edge hands it over: one decoded
 * request in, one JSON answer out through a requester (write.h), now or
 * once its write is durable. routes.c knows the paths; http.c (the lws
 * protocol) knows HTTP. Service thread only.
 */
#ifndef RACEBOARD_SERVER_ROUTES_H
#define RACEBOARD_SERVER_ROUTES_H

#include <stddef.h>

#include "server.h"
#include "write.h"

struct srv_hook_headers;

enum srv_http_method {
	SRV_HTTP_GET,
	SRV_HTTP_POST,
	SRV_HTTP_PATCH,
	SRV_HTTP_PUT,
	SRV_HTTP_DELETE,
	SRV_HTTP_OPTIONS,
	SRV_HTTP_HEAD,
	SRV_HTTP_OTHER,
};

/* One decoded HTTP request, borrowed by the route handler for the call. */
struct srv_http_request {
	enum srv_http_method method;
	const char *path;        /* "/race/abc/event", without the query */
	const char *body;        /* NULL when the request has none */
	size_t body_len;
	const char *q_state;     /* ?state=, or NULL */
	const char *q_source;    /* ?source=, or NULL */
	const char *q_limit;     /* ?limit=, or NULL */
	const char *q_before;    /* ?before= (an RFC 3339 started_at), or NULL */
	const char *q_before_id; /* ?before_id=, or NULL */
	const char *q_output;    /* ?output= (GET /races: 1 shows tails) */
	struct srv_hook_headers *hook; /* below /hooks: its headers */
	int resumed;             /* 1 when re-run after srv_write_wait() */
};

/* The path prefixes the REST routes serve (each mounted on the srv-http
 * protocol; everything else is a static file), NULL-terminated. */
#define SRV_API_MOUNTS 5
extern const char *const srv_api_mounts[SRV_API_MOUNTS + 1];

/* 1 when `uri` is one of srv_api_mounts or below it ("/race/x"). */
int srv_is_api_path(const char *uri);

/*
 * Handles a REST request: answers through rq->complete (now, or once the
 * write is durable) or parks a read with srv_write_wait() (rq->resume then
 * calls this again with resumed = 1).
 */
void srv_routes_handle(struct srv_ctx *srv, const struct srv_http_request *req,
		       struct srv_requester *rq);

/* Answers rq at once with an error body (http.c). */
void srv_reply_error(struct srv_requester *rq, int status, const char *code,
		     const char *field, const char *message);

#endif
