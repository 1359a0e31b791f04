/*
 * guard.h - who may talk to the server: Host (DNS rebinding), Origin
 * (cross-site requests and WebSocket hijacking), the bearer token, and
 * the connection, rate and subscription caps. docs/HARDENING.md explains
 * the model.
 *
 * The srv_guard_*_ok() string checks are pure (no lws, no state) so the
 * unit tests can drive them from tables; the rest reads lws headers and
 * keeps per-connection state in the wsi's opaque user data. Service
 * thread only.
 */
#ifndef RACEBOARD_SERVER_GUARD_H
#define RACEBOARD_SERVER_GUARD_H

#include <stddef.h>

#include "config.h"
#include "metrics.h"

struct lws;
struct srv_guard;

/* 1 when `bind` is a loopback address or name (127.0.0.0/8, ::1,
 * localhost), where DNS rebinding is the threat and a token optional. */
int srv_guard_bind_is_loopback(const char *bind);

/*
 * 1 when a request with this Host header value (with or without port;
 * NULL or "" when absent) may be served: any Host when the server is not
 * bound to loopback and no --allow-host is set; otherwise a loopback name
 * or address (localhost, *.localhost, 127.0.0.0/8, [::1]) or a configured
 * --allow-host name.
 */
int srv_guard_host_ok(const struct srv_cfg *cfg, const char *host);

/* 1 when `origin` is listed with --allow-origin (case-insensitive). */
int srv_guard_origin_listed(const struct srv_cfg *cfg, const char *origin);

/* 1 when `origin` (NULL: none sent) may use the API: absent, the
 * server's own page (http://<host>, host as sent), or listed. */
int srv_guard_origin_ok(const struct srv_cfg *cfg, const char *origin,
			const char *host);

/*
 * 1 when `origin` is the page's own origin as a trusted reverse proxy
 * reports it: the peer of wsi is one of cfg's --trusted-proxy addresses
 * (none given: any loopback address, a proxy on this machine), and the
 * request carries
 * X-Forwarded-Proto (http or https) and X-Forwarded-Host, with origin
 * equal to "<proto>://<forwarded host>" (case-insensitive). A browser
 * cannot set those headers itself on a WebSocket upgrade, nor on a
 * cross-origin request without a preflight, which the origin check
 * refuses. Service thread.
 */
int srv_guard_origin_forwarded(const struct srv_cfg *cfg, struct lws *wsi,
			       const char *origin);

/* 1 when `authorization` (a header value, NULL when absent) is
 * "Bearer <token>" with the configured token, compared in constant time;
 * always 1 when no token is configured. */
int srv_guard_bearer_ok(const struct srv_cfg *cfg, const char *authorization);

/* 1 when `given` (len bytes) equals the configured token, in time that
 * depends only on the lengths; 0 when no token is configured. */
int srv_guard_token_ok(const struct srv_cfg *cfg, const char *given,
		       size_t len);

/* Creates the guard (cfg and metrics borrowed). NULL when out of memory. */
struct srv_guard *srv_guard_new(const struct srv_cfg *cfg,
				struct srv_metrics *metrics);

/* Frees the guard; every connection must be gone. NULL is a no-op. */
void srv_guard_free(struct srv_guard *g);

/*
 * The vhost's protocols[0] callback: admits or refuses TCP connections
 * (caps), tracks them, and checks Host and the request rate before lws
 * serves anything, static files included. Other reasons go to
 * lws_callback_http_dummy. Reads the guard through the server context.
 */
int srv_guard_callback(struct lws *wsi, int reason, void *user, void *in,
		       size_t len);

/* Sets the realpath()-ed web root (copied) whose files may be served;
 * a static path that resolves outside it (a symlink out) is refused.
 * Returns -1 when the path is too long. */
int srv_guard_set_web_root(struct srv_guard *g, const char *real_root);

/*
 * Checks the start of an HTTP request (any protocol): Host, the
 * per-connection rate, then that `uri` (the decoded path lws hands to
 * FILTER_HTTP_CONNECTION; may be NULL) stays inside the web root. On
 * refusal it has already written a JSON error (421, 429 or 404, with
 * Connection: close) and returns -1: the caller returns non-zero so lws
 * closes. Returns 0 to go on.
 */
int srv_guard_http_request(struct srv_guard *g, struct lws *wsi,
			   const char *uri);

/*
 * Checks a WebSocket upgrade: Host and Origin. On refusal it has written
 * the HTTP error (421 or 403) and returns -1. Also records whether the
 * upgrade carried the right bearer token (srv_guard_conn_authed()).
 */
int srv_guard_ws_upgrade(struct srv_guard *g, struct lws *wsi);

/* 1 when the connection's upgrade request carried the bearer token. */
int srv_guard_conn_authed(struct lws *wsi);

/* The peer address of wsi's connection as it was at accept, as text
 * ("127.0.0.1", "::1"), or "-" when unknown: still right after the peer
 * has gone, when getpeername() no longer answers. */
void srv_guard_peer_name(struct lws *wsi, char *buf, size_t cap);

/*
 * Counts an accepted connection against --max-connections and
 * --max-conns-per-ip while it is on its way to a context (route.h),
 * before lws tracks it; srv_guard_unhold() gives that back just before
 * it is adopted (and counted again) or closed. NULL g: a no-op.
 */
struct srv_guard_hold;
struct srv_guard_hold *srv_guard_hold(struct srv_guard *g, int fd);
void srv_guard_unhold(struct srv_guard *g, struct srv_guard_hold *h);

/* 1 when one more request or message on this connection is within
 * --rate-limit (it is counted); 0 when over (counted as a rejection). */
int srv_guard_rate_ok(struct srv_guard *g, struct lws *wsi);

/* Takes one subscription slot of the connection's peer address. Returns
 * 0, or -1 when --max-subs-per-ip is reached (counted). A connection
 * holds at most one slot; taking it again is a no-op. */
int srv_guard_sub_acquire(struct srv_guard *g, struct lws *wsi);

/* Gives the connection's slot back (no-op if it holds none). */
void srv_guard_sub_release(struct srv_guard *g, struct lws *wsi);

/*
 * Writes a complete JSON error reply now ({"error","message"}, with
 * Connection: close), for refusals before any protocol has the request.
 * Returns the body's length when written, -1 when not.
 */
int srv_guard_reply_now(struct lws *wsi, int status, const char *code,
			const char *message);

#endif
