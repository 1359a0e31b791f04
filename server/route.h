/*
 * route.h - which service thread serves a new connection (loop.h).
 *
 * listen.c accepts on the main thread. A connection whose request line
 * asks for /ws goes to the fan-out thread's context, unless its query
 * says role=producer (a producer that will not subscribe: it belongs
 * with the HTTP producers, whose answers do not wait for the fan-out);
 * the rest stays. Both contexts serve every request, so the choice only
 * decides where the work lands. The request line has often not arrived when accept()
 * returns: such a connection waits for it in an epoll set that the
 * fan-out thread watches (its descriptor adopted into that context as a
 * raw file), for at most ROUTE_WAIT_MS, and then goes where its first
 * bytes say, or to the main thread when none came.
 */
#ifndef RACEBOARD_SERVER_ROUTE_H
#define RACEBOARD_SERVER_ROUTE_H

#include <libwebsockets.h>
#include <stddef.h>

struct srv_ctx;
struct srv_loop;
struct srv_router;

enum srv_route_kind {
	SRV_ROUTE_WAIT,   /* too few bytes to tell */
	SRV_ROUTE_WS,     /* "GET /ws " or "GET /ws?...": the fan-out thread */
	SRV_ROUTE_HTTP,   /* anything else, /ws?role=producer included: the
			   * main thread */
};

/* Where a connection whose first bytes are b[0..n) goes; `eof`: no more
 * bytes will come (the peer closed, or an error). Pure. */
enum srv_route_kind srv_route_classify(const char *b, size_t n, int eof);

/*
 * Creates the router: WebSocket connections to `ws_vh` (served by
 * ws_loop, whose protocols include srv_route_protocol), the others to
 * `http_vh` (http_loop); srv (borrowed) has the guard and metrics.
 * Call on the main thread before the fan-out thread starts (its
 * context is still the caller's). NULL on failure.
 */
struct srv_router *srv_router_new(struct srv_ctx *srv,
				  struct srv_loop *http_loop,
				  struct lws_vhost *http_vh,
				  struct srv_loop *ws_loop,
				  struct lws_vhost *ws_vh);

/* Frees the router once both contexts are gone; closes the connections
 * still waiting. NULL is a no-op. */
void srv_router_free(struct srv_router *r);

/*
 * Serves the accepted connection `fd` (taken): on `here` (the calling
 * thread's vhost) when there is no router, else where it belongs. Under
 * the server lock.
 */
void srv_route(struct srv_ctx *srv, struct lws_vhost *here, int fd);

/* The fan-out context's protocol for the router's epoll descriptor. */
extern const struct lws_protocols srv_route_protocol;

#endif
