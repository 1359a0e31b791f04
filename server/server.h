/*
 * server.h - the server context every lws callback reaches through
 * lws_context_user(), and the HTTP request shape the REST routes see.
 *
 * main() owns one struct srv_ctx for the life of the process (STYLE R8:
 * no mutable globals). Service thread only.
 */
#ifndef RACEBOARD_SERVER_SERVER_H
#define RACEBOARD_SERVER_SERVER_H

#include <libwebsockets.h>
#include <stddef.h>

#include "config.h"
#include "write.h"
#include "guard.h"
#include "hooks_http.h"
#include "hub.h"
#include "metrics.h"
#include "store.h"

struct srv_ctx {
	const struct srv_cfg *cfg;
	struct store *store;
	struct srv_write *core;
	struct srv_hub *hub;          /* the fan-out the write path feeds */
	struct lws_context *lws;
	struct srv_guard *guard;      /* admission and access checks */
	struct srv_metrics metrics;   /* counters for GET /metrics */
	struct srv_hooks *hooks;      /* webhook deliveries seen */
};

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

/* Answers rq at once with an error body. */
void srv_reply_error(struct srv_requester *rq, int status, const char *code,
		     const char *field, const char *message);

/* The lws protocol that serves the REST mounts (http.c). */
int srv_http_callback(struct lws *wsi, enum lws_callback_reasons reason,
		      void *user, void *in, size_t len);

/* The "raceboard.v1" WebSocket protocol at /ws (ws.c). */
extern const struct lws_protocols srv_ws_protocol;

/*
 * The write path's names before it was renamed from "core", for http.c
 * and routes.c only: those files are renamed once the HTTP pipelining
 * fix in them has landed, and these go then. Do not use them elsewhere.
 */
#define srv_core_busy srv_write_busy
#define srv_core_wait srv_write_wait
#define srv_core_forget srv_write_forget
#define srv_core_create srv_write_create
#define srv_core_patch srv_write_patch
#define srv_core_event srv_write_event
#define srv_core_delete srv_write_delete
#define srv_core_get srv_write_get
#define srv_core_table srv_write_table
#define srv_core_seq srv_write_seq
#define srv_core_race_write srv_write_race_json

#endif
