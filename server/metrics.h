/*
 * metrics.h - counters for GET /metrics (Prometheus text format 0.0.4).
 *
 * One struct srv_metrics lives in the server context (STYLE R8: no
 * globals); the modules that see an event bump its counter. Gauges that
 * other modules already keep (hub, store, table) are read at scrape time
 * and passed in. Never includes libwebsockets, so it is unit-testable.
 * Service thread only.
 */
#ifndef RACEBOARD_SERVER_METRICS_H
#define RACEBOARD_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* REST routes, as labels (route="..."). */
enum srv_route {
	SRV_ROUTE_RACE,          /* POST /race */
	SRV_ROUTE_RACE_ID,       /* /race/{id} */
	SRV_ROUTE_RACE_EVENT,    /* /race/{id}/event */
	SRV_ROUTE_RACES,         /* GET /races */
	SRV_ROUTE_HEALTH,
	SRV_ROUTE_METRICS,
	SRV_ROUTE_OTHER,         /* refused before routing, unknown paths */
	SRV_ROUTE_COUNT,
};

/* Why a request, message or connection was refused (reason="..."). */
enum srv_reject {
	SRV_REJ_HOST,            /* Host not allowed (DNS rebinding) */
	SRV_REJ_ORIGIN,          /* Origin not allowed (CORS, /ws) */
	SRV_REJ_TOKEN,           /* missing or wrong bearer token */
	SRV_REJ_RATE,            /* over --rate-limit */
	SRV_REJ_CONNECTIONS,     /* over --max-connections */
	SRV_REJ_CONNS_PER_IP,    /* over --max-conns-per-ip */
	SRV_REJ_WS_CONNS,        /* over --ws-max-conns */
	SRV_REJ_SUBS_PER_IP,     /* over --max-subs-per-ip */
	SRV_REJ_BODY_TOO_LARGE,  /* 413 */
	SRV_REJ_LENGTH_REQUIRED, /* 411: no Content-Length, or chunked */
	SRV_REJ_SLOW_REQUEST,    /* first request's headers, or a body, not
	                          * complete within --http-timeout */
	SRV_REJ_BAD_REQUEST,     /* other 4xx from validation */
	SRV_REJ_WS_TOO_LARGE,    /* close 1009 */
	SRV_REJ_WS_ABUSE,        /* close 1008: invalid messages in a row */
	SRV_REJ_WS_BAD_MESSAGE,  /* one invalid WebSocket message */
	SRV_REJ_WS_SLOW,         /* a subscriber closed, slowest first, to
	                          * stay under --ws-max-queued-mb */
	SRV_REJ_COUNT,
};

#define SRV_METRICS_STATUSES 20 /* distinct statuses kept, plus "other" */
#define SRV_METRICS_BUCKETS 12  /* commit latency buckets, +Inf last */

struct srv_metrics {
	uint64_t http[SRV_ROUTE_COUNT][SRV_METRICS_STATUSES + 1];
	uint64_t rejects[SRV_REJ_COUNT];
	uint64_t commit_buckets[SRV_METRICS_BUCKETS]; /* not cumulative */
	double commit_sum_sec;
	uint64_t commit_count;
	uint64_t commit_failures;
	uint64_t connections_total;   /* TCP connections accepted */
	unsigned connections;         /* open now */
	uint64_t fanout_connections_total; /* of those, handed to the
					    * fan-out thread (loop.h) */
	uint64_t ws_connections_total;
	unsigned ws_connections;      /* open now */
	uint64_t ws_messages;         /* inbound messages decoded */
};

/* What the scrape reads from other modules at that moment. */
struct srv_metrics_gauges {
	uint64_t races;
	uint64_t seq;
	unsigned subscribers;
	uint64_t deltas_published;
	uint64_t frames_sent;
	uint64_t backlog_resets;
	uint64_t ws_queued_bytes;     /* held by frames for subscribers */
	uint64_t ws_queued_max_bytes; /* --ws-max-queued-mb */
	uint64_t store_file_bytes;
	uint64_t store_map_bytes;
	uint64_t store_map_used_bytes;
	uint64_t store_map_max_bytes;
	int store_writable;
};

/* The route label of a REST path ("/race/x/event" -> RACE_EVENT). */
enum srv_route srv_metrics_route(const char *path);

/* Counts one reply. */
void srv_metrics_http(struct srv_metrics *m, enum srv_route route,
		      int status);

/* Counts one refusal. */
void srv_metrics_reject(struct srv_metrics *m, enum srv_reject why);

/* Records one store commit that took `sec` seconds; `ok` is 0 when it
 * failed. */
void srv_metrics_commit(struct srv_metrics *m, double sec, int ok);

/*
 * Renders every metric as Prometheus text into a new buffer with
 * `headroom` bytes reserved in front (LWS_PRE): the text is at
 * buf + headroom, *len bytes, NUL-terminated. Returns NULL on allocation
 * failure. `m` and `g` are borrowed.
 */
char *srv_metrics_render(const struct srv_metrics *m,
			 const struct srv_metrics_gauges *g, size_t headroom,
			 size_t *len);

#endif
