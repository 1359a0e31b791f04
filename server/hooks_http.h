/*
 * hooks_http.h - the CI webhook routes, POST /hooks/github and
 * POST /hooks/gitlab: who sent a delivery (an HMAC signature or a shared
 * token, checked with OpenSSL's libcrypto in constant time), whether it
 * was seen before, and the write of what hooks/ maps it to.
 *
 * Service thread only. docs/WEBHOOKS.md is the operator's side of it.
 */
#ifndef RACEBOARD_SERVER_HOOKS_HTTP_H
#define RACEBOARD_SERVER_HOOKS_HTTP_H

#include <libwebsockets.h>
#include <stddef.h>

struct srv_ctx;
struct srv_requester;
struct srv_http_request;

/* Deliveries remembered for deduplication (in memory only: a restart
 * forgets them, and a replay then maps to the same, unchanged race). */
#define SRV_HOOKS_DELIVERIES 4096
#define SRV_HOOKS_HEADER_MAX 256

/* The headers a webhook route reads, copied when the request line and
 * headers are in (the route runs only once the body is read). A header
 * longer than SRV_HOOKS_HEADER_MAX - 1 bytes counts as wrong, not absent. */
struct srv_hook_headers {
	char event[SRV_HOOKS_HEADER_MAX];     /* X-GitHub-Event, X-Gitlab-Event */
	char delivery[SRV_HOOKS_HEADER_MAX];  /* X-GitHub-Delivery,
	                                       * X-Gitlab-Event-UUID */
	char signature[SRV_HOOKS_HEADER_MAX]; /* X-Hub-Signature-256 */
	char token[SRV_HOOKS_HEADER_MAX];     /* X-Gitlab-Token */
	int has_event, has_delivery, has_signature, has_token;
	int remember;         /* set by the route: remember `delivery` once
	                       * the answer is a success */
	int gitlab;           /* which provider's set of deliveries */
};

struct srv_hooks;

/* The deduplication state. NULL on allocation failure. */
struct srv_hooks *srv_hooks_new(void);
void srv_hooks_free(struct srv_hooks *h);

/* 1 for "/hooks" and anything below it. */
int srv_hooks_is_path(const char *path);

/*
 * Copies the webhook headers of the request on `wsi` into a new struct
 * (owned by the caller, free()). NULL on allocation failure.
 */
struct srv_hook_headers *srv_hooks_capture(struct lws *wsi, const char *path);

/*
 * Handles a request below /hooks: answers rq once, at once (refusals,
 * pings, ignored or duplicate deliveries) or once the write is durable.
 * req->hook must be the request's captured headers.
 */
void srv_hooks_handle(struct srv_ctx *srv, const struct srv_http_request *req,
		      struct srv_requester *rq);

/* Called with the status of the answer to a webhook request (borrowed
 * headers): a successful delivery the route asked to remember is now
 * remembered, so a redelivery of a failed one is still applied. */
void srv_hooks_answered(struct srv_ctx *srv, struct srv_hook_headers *h,
			int status);

#endif
