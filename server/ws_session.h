/*
 * ws_session.h - the WebSocket session shared by ws.c (the lws protocol:
 * subscriptions, frames out, lifecycle) and ws_reply.c (the queue of
 * replies and the producer writes waiting for their acks). Private to
 * those two files. Under the server lock: a session lives on the thread
 * that accepted it (the fan-out thread, loop.h), but write-path answers
 * and hub wake-ups reach it from the main thread; every lws call they
 * cause goes through srv_post_wsi().
 */
#ifndef RACEBOARD_SERVER_WS_SESSION_H
#define RACEBOARD_SERVER_WS_SESSION_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "client_msg.h"
#include "hub.h"
#include "server.h"

struct reply {
	struct reply *next;
	char *buf;                  /* LWS_PRE headroom, then the frame */
	size_t len;
};

/* A producer write waiting for its result, or an error frame waiting
 * behind such writes, in request order. */
struct pending {
	char req[PROTO_REQ_MAX + 1];
	char id[PROTO_ID_MAX + 1];  /* for a delete's ack */
	int is_delete;
	char *frame;                /* NULL: a write; else a local error
	                             * frame (owned, LWS_PRE headroom) */
	size_t frame_len;
};

enum sub_state { SUB_NONE, SUB_WAITING, SUB_LIVE };

struct ws_pss {
	struct srv_requester rq;
	struct srv_sub sub;
	struct lws *wsi;
	struct ws_vhd *vhd;
	struct ws_pss *next;        /* every session of the vhost */

	char *rx;                   /* the inbound message being reassembled */
	size_t rx_len;
	int bad_in_a_row;
	int active;                 /* sent a valid message: no deadline */
	int authed;                 /* proved the token (header or message) */
	int64_t connected_at;

	enum sub_state sub_state;
	int snapshot_reset;         /* the pending snapshot is a reset */

	struct srv_frame *big;      /* a frame going out in pieces (a ref) */
	size_t big_off;             /* text bytes of it already written */
	struct srv_frame *next_big; /* a frame waiting for `big` to end */
	size_t lws_held;            /* what lws may have copied of our last
	                             * write, until the socket drains it */
	int culled;                 /* closed for --ws-max-queued-mb */
	struct reply *replies, **replies_tail;
	size_t n_replies;
	struct pending *inflight;   /* ring */
	size_t inflight_cap, inflight_head, n_inflight;
	int rx_paused;

	int64_t last_tx;
	int heartbeat_due;
	int close_status;           /* set: close with it at next writable */
	const char *close_reason;
};

/* What every context's WebSocket sessions share (srv_ctx.ws_all). */
struct ws_all {
	struct ws_pss *sessions;    /* of both contexts */
	unsigned n_sessions;
	size_t lws_held;            /* sum of the sessions' lws_held */
	size_t trim_peak;           /* most queued since the last trim */
	unsigned vhosts;            /* contexts using it */
};

/* One context's WebSocket protocol. */
struct ws_vhd {
	struct srv_ctx *srv;
	struct srv_hub *hub;
	struct ws_all *all;
	struct lws_context *ctx;
	lws_sorted_usec_list_t tick;
};

/* Asks for a writable callback, from whichever thread (loop.h). */
void srv_ws_want_write(struct ws_pss *pss);

/* The session that embeds requester `rq`. */
struct ws_pss *srv_ws_pss_of(struct srv_requester *rq);

/* Queues a ready frame (buf taken: LWS_PRE headroom, then `len` bytes)
 * and asks for a writable callback. */
void srv_ws_push_reply(struct ws_pss *pss, char *buf, size_t len);

/* Queues a frame built from a json-c object (taken). */
void srv_ws_push_json(struct ws_pss *pss, json_object *o);

/* Adds "server_time" to a frame object. */
void srv_ws_add_time(json_object *o, int64_t now);

/* Queues an error frame; `status` mirrors the HTTP status REST answers,
 * `req` is the request's req as JSON text ("" for none). */
void srv_ws_push_error(struct ws_pss *pss, const char *req, int status,
		       const char *code, const char *field, const char *msg);

/* The same, but behind the writes still in flight, so replies keep
 * request order (PROTOCOL.md) even when an error is known at once. */
void srv_ws_error_in_order(struct ws_pss *pss, const char *req, int status,
			   const char *code, const char *field,
			   const char *msg);

/* Records a producer write about to go to the write path, in request order, and
 * stops reading when too many are in flight. -1 when out of memory. */
int srv_ws_track(struct ws_pss *pss, const struct proto_client_msg *m);

/* The requester callback: the write path's answer to the oldest write in flight
 * becomes an ack or an error frame. */
void srv_ws_complete(struct srv_requester *rq, struct srv_result *res);

/* Writes queued replies (several per callback while the socket takes
 * them). Returns -1 on a short write (close). */
int srv_ws_send_replies(struct ws_pss *pss);

/* Frees every queued reply and the in-flight ring (at close). */
void srv_ws_replies_free(struct ws_pss *pss);

#endif
