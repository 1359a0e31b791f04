/*
 * server.h - the server context every lws callback reaches through
 * lws_context_user(): what main() built, and nothing else.
 *
 * main() owns one struct srv_ctx for the life of the process (STYLE R8:
 * no mutable globals). Under the server lock (loop.h). The modules it points at have
 * headers of their own; this one names them without including them, so
 * any module may include it without a cycle.
 */
#ifndef RACEBOARD_SERVER_SERVER_H
#define RACEBOARD_SERVER_SERVER_H

#include "metrics.h"

struct lws_context;
struct srv_cfg;
struct srv_cluster;
struct srv_guard;
struct srv_hooks;
struct srv_hub;
struct srv_loop;
struct srv_loops;
struct srv_router;
struct srv_write;
struct store;
struct ws_all;

struct srv_ctx {
	const struct srv_cfg *cfg;
	struct store *store;
	struct srv_write *wp;         /* the write path (write.h) */
	struct srv_hub *hub;          /* the fan-out the write path feeds */
	struct lws_context *lws;      /* the main thread's */
	struct srv_loops *loops;      /* the service threads (loop.h) */
	struct srv_loop *fanout;      /* the fan-out thread; NULL: none */
	struct srv_router *router;    /* new connections to it (route.h) */
	struct ws_all *ws_all;        /* every WebSocket session (ws.c) */
	struct srv_guard *guard;      /* admission and access checks */
	struct srv_metrics metrics;   /* counters for GET /metrics */
	struct srv_hooks *hooks;      /* webhook deliveries seen */
	struct srv_cluster *cluster;  /* cluster mode; NULL: single node */
};

#endif
