/*
 * ws.c - the "raceboard.v1" WebSocket protocol at /ws: subscriptions
 * (snapshot, resume, live deltas, heartbeats) and producer writes (acks
 * in request order, only once durable). See protocol/PROTOCOL.md.
 *
 * Producer writes go through core.c like REST writes; deltas come from
 * hub.c. This file owns the session: reassembly of inbound messages under
 * a size cap, the order of outbound frames, backpressure and closing.
 * Service thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_msg.h"
#include "hub.h"
#include "server.h"
#include "rfc3339.h"
#include "util.h"

#define FRAGMENT (64 * 1024)    /* large frames go out in pieces */
#define REPLIES_PER_WRITABLE 64
#define INFLIGHT_HIGH 1024      /* stop reading a producer above this */
#define INFLIGHT_LOW 256        /* and resume below this */
#define BAD_MESSAGES_MAX 10     /* in a row, then close with 1008 */

struct reply {
	struct reply *next;
	char *buf;                  /* LWS_PRE headroom, then the frame */
	size_t len;
};

/* A producer write waiting for its result, in request order. */
struct pending {
	char req[PROTO_REQ_MAX + 1];
	char id[PROTO_ID_MAX + 1];  /* for a delete's ack */
	int is_delete;
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

	char *big;                  /* a frame going out in fragments */
	size_t big_len, big_off;
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

struct ws_vhd {
	struct srv_ctx *srv;
	struct srv_hub *hub;
	struct ws_pss *sessions;
	unsigned n_sessions;
	struct lws_context *ctx;
	lws_sorted_usec_list_t tick;
};

static void tick_cb(lws_sorted_usec_list_t *sul);

static struct ws_pss *pss_of(struct srv_requester *rq)
{
	return lws_container_of(rq, struct ws_pss, rq);
}

static void push_reply(struct ws_pss *pss, char *buf, size_t len)
{
	struct reply *r = malloc(sizeof(*r));

	if (!r) {
		free(buf);
		pss->close_status = LWS_CLOSE_STATUS_UNEXPECTED_CONDITION;
		pss->close_reason = "out of memory";
	} else {
		r->next = NULL;
		r->buf = buf;
		r->len = len;
		*pss->replies_tail = r;
		pss->replies_tail = &r->next;
		pss->n_replies++;
	}
	lws_callback_on_writable(pss->wsi);
}

/* Queues a frame built from a json-c object (taken). */
static void push_json(struct ws_pss *pss, json_object *o)
{
	size_t len = 0;
	char *buf = o ? srv_json_encode(o, LWS_PRE, &len) : NULL;

	json_object_put(o);
	if (buf)
		push_reply(pss, buf, len);
}

static void add_req(json_object *o, const char *req)
{
	json_object *v = req[0] ? json_tokener_parse(req) : NULL;

	if (v)
		json_object_object_add(o, "req", v);
}

static void add_time(json_object *o, int64_t now)
{
	char ts[PROTO_TIME_BUFSZ];

	json_object_object_add(o, "server_time", json_object_new_string(
		proto_time_format(now, ts)));
}

/* An error frame. `status` mirrors the HTTP status REST would answer. */
static void push_error(struct ws_pss *pss, const char *req, int status,
		       const char *code, const char *field, const char *msg)
{
	json_object *o = json_object_new_object();

	if (!o)
		return;
	json_object_object_add(o, "type", json_object_new_string("error"));
	add_req(o, req);
	json_object_object_add(o, "status", json_object_new_int(status));
	json_object_object_add(o, "code", json_object_new_string(code));
	json_object_object_add(o, "message", json_object_new_string(msg));
	if (field && *field)
		json_object_object_add(o, "field",
				       json_object_new_string(field));
	add_time(o, srv_now_ms());
	push_json(pss, o);
}

/* Builds an ack around the reply body the core encoded (no re-encode). */
static void push_ack(struct ws_pss *pss, const struct pending *p,
		     const struct srv_result *res)
{
	char ts[PROTO_TIME_BUFSZ], head[PROTO_REQ_MAX + PROTO_ID_MAX + 160];
	size_t hn, n;
	char *buf;

	hn = (size_t)snprintf(head, sizeof(head),
			      "{\"type\":\"ack\"%s%s,\"seq\":%llu,"
			      "\"server_time\":\"%s\",",
			      p->req[0] ? ",\"req\":" : "", p->req,
			      (unsigned long long)res->seq,
			      proto_time_format(srv_now_ms(), ts));
	if (p->is_delete) {
		/* ids are [A-Za-z0-9._:-]: no escaping needed */
		n = hn + strlen(p->id) + 10;
		buf = malloc(LWS_PRE + n + 1);
		if (buf)
			n = (size_t)sprintf(buf + LWS_PRE, "%s\"id\":\"%s\"}",
					    head, p->id);
	} else {
		n = hn + 8 + res->len + 1;
		buf = malloc(LWS_PRE + n + 1);
		if (buf) {
			memcpy(buf + LWS_PRE, head, hn);
			memcpy(buf + LWS_PRE + hn, "\"race\":", 7);
			memcpy(buf + LWS_PRE + hn + 7, res->buf + LWS_PRE,
			       res->len);
			n = hn + 7 + res->len;
			buf[LWS_PRE + n++] = '}';
			buf[LWS_PRE + n] = '\0';
		}
	}
	if (buf)
		push_reply(pss, buf, n);
}

static void resume_reading(struct ws_pss *pss)
{
	if (pss->rx_paused &&
	    pss->n_inflight + pss->n_replies < INFLIGHT_LOW) {
		pss->rx_paused = 0;
		lws_rx_flow_control(pss->wsi, 1);
	}
}

/* The core's answer to the oldest in-flight write. */
static void complete(struct srv_requester *rq, struct srv_result *res)
{
	struct ws_pss *pss = pss_of(rq);
	struct pending *p = &pss->inflight[pss->inflight_head];

	pss->inflight_head = (pss->inflight_head + 1) % pss->inflight_cap;
	pss->n_inflight--;
	if (res->status < 400) {
		push_ack(pss, p, res);
		return;
	}
	{
		json_object *e = res->buf ? json_tokener_parse(res->buf + LWS_PRE)
					  : NULL;
		json_object *code = NULL, *msg = NULL, *field = NULL;

		json_object_object_get_ex(e, "error", &code);
		json_object_object_get_ex(e, "message", &msg);
		json_object_object_get_ex(e, "field", &field);
		push_error(pss, p->req, res->status,
			   code ? json_object_get_string(code) : "error",
			   field ? json_object_get_string(field) : NULL,
			   msg ? json_object_get_string(msg) : "request failed");
		json_object_put(e);
	}
}

/* Records a write about to be queued in the core. Returns -1 when out of
 * memory (the caller answers with an error instead). */
static int track(struct ws_pss *pss, const struct proto_client_msg *m)
{
	struct pending *p;

	if (pss->n_inflight == pss->inflight_cap) {
		size_t cap = pss->inflight_cap ? pss->inflight_cap * 2 : 16;
		struct pending *ring = malloc(cap * sizeof(*ring));

		if (!ring)
			return -1;
		for (size_t i = 0; i < pss->n_inflight; i++)
			ring[i] = pss->inflight[(pss->inflight_head + i) %
						pss->inflight_cap];
		free(pss->inflight);
		pss->inflight = ring;
		pss->inflight_cap = cap;
		pss->inflight_head = 0;
	}
	p = &pss->inflight[(pss->inflight_head + pss->n_inflight) %
			   pss->inflight_cap];
	memcpy(p->req, m->req, sizeof(p->req));
	memcpy(p->id, m->id, sizeof(p->id));
	p->is_delete = m->type == PROTO_MSG_DELETE;
	pss->n_inflight++;
	if (!pss->rx_paused &&
	    pss->n_inflight + pss->n_replies >= INFLIGHT_HIGH) {
		pss->rx_paused = 1;
		lws_rx_flow_control(pss->wsi, 0);
	}
	return 0;
}

/* Sends the snapshot now (no write may be pending) and goes live. */
static void start_snapshot(struct ws_pss *pss)
{
	struct srv_hub *hub = pss->vhd->hub;
	size_t len;
	char *buf = srv_hub_snapshot(hub, &pss->sub.filter,
				     pss->snapshot_reset, srv_now_ms(), &len);

	if (!buf) {
		pss->close_status = LWS_CLOSE_STATUS_UNEXPECTED_CONDITION;
		pss->close_reason = "out of memory";
		lws_callback_on_writable(pss->wsi);
		return;
	}
	free(pss->big);
	pss->big = buf;
	pss->big_len = len;
	pss->big_off = 0;
	pss->sub.cursor = srv_hub_seq(hub) + 1;
	pss->sub.behind = 0;
	pss->sub_state = SUB_LIVE;
	srv_hub_link(hub, &pss->sub);
	lws_callback_on_writable(pss->wsi);
}

/* A snapshot reads committed state only: wait out a pending batch. */
static void want_snapshot(struct ws_pss *pss, int reset)
{
	struct srv_core *core = pss->vhd->srv->core;

	pss->snapshot_reset = reset;
	srv_hub_unlink(pss->vhd->hub, &pss->sub);
	if (srv_core_busy(core)) {
		pss->sub_state = SUB_WAITING;
		srv_core_wait(core, &pss->rq);
	} else {
		start_snapshot(pss);
	}
}

static void resume(struct srv_requester *rq)
{
	struct ws_pss *pss = pss_of(rq);

	if (pss->sub_state == SUB_WAITING)
		start_snapshot(pss);
}

static void subscribe(struct ws_pss *pss, struct proto_client_msg *m)
{
	struct srv_hub *hub = pss->vhd->hub;
	size_t len;
	char *replay;

	srv_hub_unlink(hub, &pss->sub);
	proto_filter_fini(&pss->sub.filter);
	pss->sub.filter = m->filter; /* taken */
	memset(&m->filter, 0, sizeof(m->filter));
	pss->sub.wsi = pss->wsi;
	pss->sub.armed = 0;
	if (m->has_since && srv_hub_covers(hub, m->since)) {
		pss->sub.cursor = m->since + 1;
		pss->sub_state = SUB_LIVE;
		srv_hub_link(hub, &pss->sub);
		return;
	}
	/* The log in LMDB can serve an unfiltered resume beyond the ring
	 * (after a restart); a filtered one gets a reset snapshot. */
	if (m->has_since && proto_filter_is_empty(&pss->sub.filter) &&
	    (replay = srv_hub_replay(hub, m->since, srv_now_ms(), &len))) {
		free(pss->big);
		pss->big = replay;
		pss->big_len = len;
		pss->big_off = 0;
		pss->sub.cursor = srv_hub_seq(hub) + 1;
		pss->sub_state = SUB_LIVE;
		srv_hub_link(hub, &pss->sub);
		lws_callback_on_writable(pss->wsi);
		return;
	}
	want_snapshot(pss, m->has_since);
}

static void bad_message(struct ws_pss *pss, const char *req,
			const struct proto_json_error *err)
{
	push_error(pss, req, 400, err->code ? err->code : "invalid_json",
		   err->field, err->message);
	srv_metrics_reject(&pss->vhd->srv->metrics, SRV_REJ_WS_BAD_MESSAGE);
	if (++pss->bad_in_a_row >= BAD_MESSAGES_MAX && !pss->close_status) {
		srv_metrics_reject(&pss->vhd->srv->metrics, SRV_REJ_WS_ABUSE);
		pss->close_status = LWS_CLOSE_STATUS_POLICY_VIOLATION;
		pss->close_reason = "too many invalid messages";
	}
}

/*
 * With a token configured, a message may carry it as "token" (browsers
 * cannot set an Authorization header on a WebSocket). A right token
 * authenticates the connection for good. Returns -1 after answering a
 * wrong one, else 0.
 */
static int take_token(struct ws_pss *pss, const char *buf, size_t len)
{
	const struct srv_cfg *cfg = pss->vhd->srv->cfg;
	struct proto_json_error err;
	json_object *o, *t;
	int rc = 0;

	if (!cfg->token[0] || pss->authed)
		return 0;
	o = proto_json_parse(buf, len, &err);
	if (o && json_object_object_get_ex(o, "token", &t)) {
		if (json_object_is_type(t, json_type_string) &&
		    srv_guard_token_ok(cfg, json_object_get_string(t),
				       (size_t)json_object_get_string_len(t))) {
			pss->authed = 1;
		} else {
			srv_metrics_reject(&pss->vhd->srv->metrics,
					   SRV_REJ_TOKEN);
			push_error(pss, "", 401, "unauthorized", "token",
				   "wrong token");
			/* Guessing counts as abuse: 10 in a row close. */
			if (++pss->bad_in_a_row >= BAD_MESSAGES_MAX) {
				pss->close_status =
					LWS_CLOSE_STATUS_POLICY_VIOLATION;
				pss->close_reason = "too many wrong tokens";
			}
			rc = -1;
		}
	}
	json_object_put(o);
	return rc;
}

/* 1 when the connection may do this kind of message (token rules). */
static int allowed(struct ws_pss *pss, int is_write)
{
	const struct srv_cfg *cfg = pss->vhd->srv->cfg;

	return pss->authed || !cfg->token[0] ||
	       (!is_write && !cfg->token_for_reads);
}

static const char need_token[] =
	"this server needs its token: send 'Authorization: Bearer <token>' "
	"with the upgrade, or \"token\" in the first message";

static void on_message(struct ws_pss *pss, const char *buf, size_t len)
{
	struct srv_core *core = pss->vhd->srv->core;
	struct proto_client_msg m;
	struct proto_json_error err = {0};

	pss->vhd->srv->metrics.ws_messages++;
	if (!srv_guard_rate_ok(pss->vhd->srv->guard, pss->wsi)) {
		struct proto_json_error rate = {
			.code = "rate_limited",
			.message = "too many messages on this connection; this "
				   "one was dropped",
		};

		bad_message(pss, "", &rate);
		return;
	}
	if (take_token(pss, buf, len))
		return;
	if (proto_client_msg_decode(buf, len, srv_now_ms(), &m, &err)) {
		bad_message(pss, m.req, &err);
		return;
	}
	pss->bad_in_a_row = 0;
	if (!allowed(pss, m.type != PROTO_MSG_SUBSCRIBE)) {
		srv_metrics_reject(&pss->vhd->srv->metrics, SRV_REJ_TOKEN);
		if (m.type == PROTO_MSG_SUBSCRIBE || track(pss, &m))
			push_error(pss, m.req, 401, "unauthorized", NULL,
				   need_token);
		else
			srv_core_fail(core, &pss->rq, 401, "unauthorized",
				      NULL, need_token);
	} else if (m.type == PROTO_MSG_SUBSCRIBE &&
		   srv_guard_sub_acquire(pss->vhd->srv->guard, pss->wsi)) {
		push_error(pss, m.req, 429, "too_many_subscriptions", NULL,
			   "this address holds its maximum of subscriptions "
			   "(--max-subs-per-ip)");
	} else if (m.type == PROTO_MSG_SUBSCRIBE) {
		pss->active = 1;
		subscribe(pss, &m);
	} else if (track(pss, &m)) {
		push_error(pss, m.req, 503, "out_of_memory", NULL,
			   "the server is out of memory");
	} else {
		pss->active = 1;
		switch (m.type) {
		case PROTO_MSG_CREATE:
			srv_core_create(core, &pss->rq, &m.update);
			break;
		case PROTO_MSG_PATCH:
			srv_core_patch(core, &pss->rq, m.id, &m.update);
			break;
		case PROTO_MSG_EVENT:
			srv_core_event(core, &pss->rq, m.id, &m.event);
			break;
		default:
			srv_core_delete(core, &pss->rq, m.id);
		}
	}
	proto_client_msg_fini(&m);
}

static int on_receive(struct ws_pss *pss, const char *in, size_t len)
{
	size_t max = pss->vhd->srv->cfg->ws_max_message;
	char *p;

	if (lws_frame_is_binary(pss->wsi)) {
		struct proto_json_error err = {
			.code = "invalid_type",
			.message = "send JSON text frames, not binary ones",
		};

		if (lws_is_final_fragment(pss->wsi))
			bad_message(pss, "", &err);
		return 0;
	}
	if (pss->rx_len + len > max) {
		srv_metrics_reject(&pss->vhd->srv->metrics,
				   SRV_REJ_WS_TOO_LARGE);
		lws_close_reason(pss->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
				 (unsigned char *)"message too large", 17);
		return -1;
	}
	p = realloc(pss->rx, pss->rx_len + len + 1);
	if (!p)
		return -1;
	pss->rx = p;
	memcpy(pss->rx + pss->rx_len, in, len);
	pss->rx_len += len;
	if (!lws_is_final_fragment(pss->wsi) ||
	    lws_remaining_packet_payload(pss->wsi))
		return 0;
	pss->rx[pss->rx_len] = '\0';
	on_message(pss, pss->rx, pss->rx_len);
	free(pss->rx);
	pss->rx = NULL;
	pss->rx_len = 0;
	return 0;
}

/* Writes the next fragment of pss->big. Returns -1 to close. */
static int send_big(struct ws_pss *pss)
{
	size_t left = pss->big_len - pss->big_off;
	size_t n = left > FRAGMENT ? FRAGMENT : left;
	int flags = pss->big_off ? LWS_WRITE_CONTINUATION : LWS_WRITE_TEXT;

	if (n < left)
		flags |= LWS_WRITE_NO_FIN;
	/* Bytes before this piece are sent, so lws may use them as its
	 * LWS_PRE headroom. */
	if (lws_write(pss->wsi, (unsigned char *)pss->big + LWS_PRE +
		      pss->big_off, n, (enum lws_write_protocol)flags) < (int)n)
		return -1;
	pss->big_off += n;
	if (pss->big_off == pss->big_len) {
		free(pss->big);
		pss->big = NULL;
		pss->big_len = pss->big_off = 0;
	}
	return 0;
}

static int send_replies(struct ws_pss *pss)
{
	for (int i = 0; pss->replies && i < REPLIES_PER_WRITABLE; i++) {
		struct reply *r = pss->replies;

		if (i && lws_send_pipe_choked(pss->wsi))
			break;
		if (lws_write(pss->wsi, (unsigned char *)r->buf + LWS_PRE,
			      r->len, LWS_WRITE_TEXT) < (int)r->len)
			return -1;
		pss->replies = r->next;
		if (!pss->replies)
			pss->replies_tail = &pss->replies;
		pss->n_replies--;
		free(r->buf);
		free(r);
	}
	resume_reading(pss);
	return 0;
}

static int send_heartbeat(struct ws_pss *pss, int64_t now)
{
	char ts[PROTO_TIME_BUFSZ], buf[LWS_PRE + 128];
	int n = snprintf(buf + LWS_PRE, sizeof(buf) - LWS_PRE,
			 "{\"type\":\"heartbeat\",\"seq\":%llu,"
			 "\"server_time\":\"%s\"}",
			 (unsigned long long)srv_hub_seq(pss->vhd->hub),
			 proto_time_format(now, ts));

	pss->heartbeat_due = 0;
	return lws_write(pss->wsi, (unsigned char *)buf + LWS_PRE, (size_t)n,
			 LWS_WRITE_TEXT) < n ? -1 : 0;
}

/*
 * One writable callback: finish a fragmented frame, else the replies
 * (hello, acks, errors), else start a queued large frame, else the deltas
 * pending for the subscription, else a heartbeat. Returns -1 to close.
 */
static int on_writable(struct ws_pss *pss)
{
	struct srv_hub *hub = pss->vhd->hub;
	int64_t now = srv_now_ms();
	int rc = 0, sent = 1;

	pss->sub.armed = 0;
	if (pss->close_status && !pss->replies) {
		lws_close_reason(pss->wsi,
				 (enum lws_close_status)pss->close_status,
				 (unsigned char *)pss->close_reason,
				 strlen(pss->close_reason));
		return -1;
	}
	if (pss->big && pss->big_off) {
		rc = send_big(pss);
	} else if (pss->replies) {
		rc = send_replies(pss);
	} else if (pss->big) {
		rc = send_big(pss);
	} else if (pss->sub_state == SUB_LIVE &&
		   srv_hub_pending(hub, &pss->sub)) {
		size_t len;
		char *frame = srv_hub_next_frame(hub, &pss->sub, now, &len);

		if (frame) {
			pss->big = frame;
			pss->big_len = len;
			pss->big_off = 0;
			rc = send_big(pss);
		} else if (pss->sub.behind) {
			want_snapshot(pss, 1);
			sent = 0;
		} else {
			sent = 0;
		}
	} else if (pss->heartbeat_due) {
		rc = send_heartbeat(pss, now);
	} else {
		sent = 0; /* a spurious callback */
	}
	if (rc)
		return -1;
	if (sent)
		pss->last_tx = now;
	if (pss->big || pss->replies || pss->close_status ||
	    (pss->sub_state == SUB_LIVE && srv_hub_pending(hub, &pss->sub))) {
		pss->sub.armed = 1;
		lws_callback_on_writable(pss->wsi);
	}
	return 0;
}

static void send_hello(struct ws_pss *pss)
{
	json_object *o = json_object_new_object();

	if (!o)
		return;
	json_object_object_add(o, "type", json_object_new_string("hello"));
	json_object_object_add(o, "protocol",
			       json_object_new_string("raceboard.v1"));
	json_object_object_add(o, "version",
			       json_object_new_string(RACEBOARD_VERSION));
	json_object_object_add(o, "seq", json_object_new_int64(
		(int64_t)srv_hub_seq(pss->vhd->hub)));
	add_time(o, srv_now_ms());
	json_object_object_add(o, "heartbeat_sec", json_object_new_int(
		pss->vhd->srv->cfg->heartbeat_sec));
	push_json(pss, o);
}

static int on_established(struct ws_vhd *vhd, struct ws_pss *pss,
			  struct lws *wsi)
{
	if (vhd->n_sessions >= vhd->srv->cfg->ws_max_conns) {
		srv_metrics_reject(&vhd->srv->metrics, SRV_REJ_WS_CONNS);
		return -1; /* admission control, as Mosquitto does */
	}
	memset(pss, 0, sizeof(*pss));
	pss->authed = srv_guard_conn_authed(wsi);
	vhd->srv->metrics.ws_connections++;
	vhd->srv->metrics.ws_connections_total++;
	pss->rq.complete = complete;
	pss->rq.resume = resume;
	pss->wsi = wsi;
	pss->sub.wsi = wsi;
	pss->vhd = vhd;
	pss->replies_tail = &pss->replies;
	pss->connected_at = pss->last_tx = srv_now_ms();
	pss->next = vhd->sessions;
	vhd->sessions = pss;
	vhd->n_sessions++;
	send_hello(pss);
	return 0;
}

static void on_closed(struct ws_vhd *vhd, struct ws_pss *pss)
{
	if (!pss->vhd)
		return; /* refused at ESTABLISHED: never linked */
	srv_hub_unlink(vhd->hub, &pss->sub);
	srv_guard_sub_release(vhd->srv->guard, pss->wsi);
	vhd->srv->metrics.ws_connections--;
	proto_filter_fini(&pss->sub.filter);
	if (pss->rq.queued)
		srv_core_forget(vhd->srv->core, &pss->rq);
	for (struct ws_pss **pp = &vhd->sessions; *pp; pp = &(*pp)->next)
		if (*pp == pss) {
			*pp = pss->next;
			break;
		}
	vhd->n_sessions--;
	while (pss->replies) {
		struct reply *r = pss->replies;

		pss->replies = r->next;
		free(r->buf);
		free(r);
	}
	free(pss->inflight);
	free(pss->rx);
	free(pss->big);
	pss->vhd = NULL;
}

/* Once a second: heartbeats for idle subscribers, and the deadline for
 * clients that never said anything. */
static void tick_cb(lws_sorted_usec_list_t *sul)
{
	struct ws_vhd *vhd = lws_container_of(sul, struct ws_vhd, tick);
	const struct srv_cfg *cfg = vhd->srv->cfg;
	int64_t now = srv_now_ms();

	for (struct ws_pss *p = vhd->sessions; p; p = p->next) {
		if (!p->active &&
		    now - p->connected_at >= cfg->subscribe_deadline_sec * 1000LL &&
		    !p->close_status) {
			p->close_status = LWS_CLOSE_STATUS_POLICY_VIOLATION;
			p->close_reason = "no subscribe or write in time";
			lws_callback_on_writable(p->wsi);
		} else if (p->sub_state == SUB_LIVE &&
			   now - p->last_tx >= cfg->heartbeat_sec * 1000LL) {
			p->heartbeat_due = 1;
			lws_callback_on_writable(p->wsi);
		}
	}
	lws_sul_schedule(vhd->ctx, 0, &vhd->tick, tick_cb, LWS_US_PER_SEC);
}

/* Only /ws speaks this protocol. */
static int check_path(struct lws *wsi)
{
	char uri[16];

	return lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) > 0 &&
	       !strcmp(uri, "/ws") ? 0 : -1;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct ws_vhd *vhd = lws_protocol_vh_priv_get(lws_get_vhost(wsi),
						      lws_get_protocol(wsi));
	struct ws_pss *pss = user;

	switch (reason) {
	case LWS_CALLBACK_PROTOCOL_INIT:
		vhd = lws_protocol_vh_priv_zalloc(lws_get_vhost(wsi),
						  lws_get_protocol(wsi),
						  sizeof(*vhd));
		if (!vhd)
			return -1;
		vhd->ctx = lws_get_context(wsi);
		vhd->srv = lws_context_user(vhd->ctx);
		vhd->hub = srv_hub_new(vhd->srv->cfg, vhd->srv->core);
		if (!vhd->hub)
			return -1;
		vhd->srv->hub = vhd->hub;
		srv_core_set_publisher(vhd->srv->core, srv_hub_publish,
				       vhd->hub);
		lws_sul_schedule(vhd->ctx, 0, &vhd->tick, tick_cb,
				 LWS_US_PER_SEC);
		return 0;
	case LWS_CALLBACK_PROTOCOL_DESTROY:
		if (!vhd)
			return 0;
		lws_sul_cancel(&vhd->tick);
		srv_core_set_publisher(vhd->srv->core, NULL, NULL);
		vhd->srv->hub = NULL;
		srv_hub_free(vhd->hub);
		vhd->hub = NULL;
		return 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (check_path(wsi))
			return -1;
		return vhd && vhd->srv->guard &&
		       srv_guard_ws_upgrade(vhd->srv->guard, wsi) ? -1 : 0;
	case LWS_CALLBACK_ESTABLISHED:
		return vhd ? on_established(vhd, pss, wsi) : -1;
	case LWS_CALLBACK_RECEIVE:
		return on_receive(pss, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return pss->vhd ? on_writable(pss) : 0;
	case LWS_CALLBACK_CLOSED:
		if (vhd && pss)
			on_closed(vhd, pss);
		return 0;
	default:
		return 0;
	}
}

const struct lws_protocols srv_ws_protocol = {
	.name = "raceboard.v1",
	.callback = callback,
	.per_session_data_size = sizeof(struct ws_pss),
	.rx_buffer_size = 0,        /* lws default; messages are reassembled */
	.tx_packet_size = 0,        /* frames are split by send_big() */
};
