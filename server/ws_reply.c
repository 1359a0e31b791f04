/*
 * ws_reply.c - what a WebSocket session sends back to one client: the
 * queue of reply frames (hello, acks, errors) and the producer writes in
 * flight. Acks are built around the reply bytes the write path encoded
 * (no re-encode) and leave in request order, only once the write is
 * durable. A producer that pipelines too far is paused (rx flow control)
 * until its replies drain. Service thread only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rfc3339.h"
#include "util.h"
#include "ws_session.h"

#define REPLIES_PER_WRITABLE 64
#define INFLIGHT_HIGH 1024      /* stop reading a producer above this */
#define INFLIGHT_LOW 256        /* and resume below this */
/* A client that lets this many replies pile up is not reading them: it
 * is closed (1008) rather than allowed to grow the server's memory. */
#define REPLIES_MAX 8192

void srv_ws_want_write(struct ws_pss *pss)
{
	srv_post_wsi(&pss->sub.post, pss->wsi, SRV_OP_WRITABLE);
}

struct ws_pss *srv_ws_pss_of(struct srv_requester *rq)
{
	return lws_container_of(rq, struct ws_pss, rq);
}

void srv_ws_push_reply(struct ws_pss *pss, char *buf, size_t len)
{
	struct reply *r;

	if (pss->n_replies >= REPLIES_MAX) {
		free(buf);
		if (!pss->close_status) {
			pss->close_status = LWS_CLOSE_STATUS_POLICY_VIOLATION;
			pss->close_reason = "replies are not being read";
		}
		srv_ws_want_write(pss);
		return;
	}
	r = malloc(sizeof(*r));

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
	srv_ws_want_write(pss);
}

/* Queues a frame built from a json-c object (taken). */
void srv_ws_push_json(struct ws_pss *pss, json_object *o)
{
	size_t len = 0;
	char *buf = o ? srv_json_encode(o, LWS_PRE, &len) : NULL;

	json_object_put(o);
	if (buf)
		srv_ws_push_reply(pss, buf, len);
}

static void add_req(json_object *o, const char *req)
{
	json_object *v = req[0] ? json_tokener_parse(req) : NULL;

	if (v)
		json_object_object_add(o, "req", v);
}

void srv_ws_add_time(json_object *o, int64_t now)
{
	char ts[PROTO_TIME_BUFSZ];

	json_object_object_add(o, "server_time", json_object_new_string(
		proto_time_format(now, ts)));
}

/* An error frame (LWS_PRE headroom; NULL when out of memory). `status`
 * mirrors the HTTP status REST would answer. */
static char *error_frame(const char *req, int status, const char *code,
			 const char *field, const char *msg, size_t *len)
{
	json_object *o = json_object_new_object();
	char *buf;

	if (!o)
		return NULL;
	json_object_object_add(o, "type", json_object_new_string("error"));
	add_req(o, req);
	json_object_object_add(o, "status", json_object_new_int(status));
	json_object_object_add(o, "code", json_object_new_string(code));
	json_object_object_add(o, "message", json_object_new_string(msg));
	if (field && *field)
		json_object_object_add(o, "field",
				       json_object_new_string(field));
	srv_ws_add_time(o, srv_now_ms());
	buf = srv_json_encode(o, LWS_PRE, len);
	json_object_put(o);
	return buf;
}

void srv_ws_push_error(struct ws_pss *pss, const char *req, int status,
		       const char *code, const char *field, const char *msg)
{
	size_t len = 0;
	char *buf = error_frame(req, status, code, field, msg, &len);

	if (buf)
		srv_ws_push_reply(pss, buf, len);
}

/* Appends n bytes of s at p; returns the end. */
static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

/* Appends v in decimal at p; returns the end. */
static char *put_u64(char *p, uint64_t v)
{
	char d[20];
	size_t n = 0;

	do {
		d[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = d[--n];
	return p;
}

/* Builds an ack around the reply body the write path encoded (no
 * re-encode). */
static void push_ack(struct ws_pss *pss, const struct pending *p,
		     const struct srv_result *res)
{
	char ts[PROTO_TIME_BUFSZ], head[PROTO_REQ_MAX + PROTO_ID_MAX + 160];
	char *h = head;
	size_t hn, n;
	char *buf;

	/* By hand: snprintf was ~3 % of the server's instructions per
	 * pipelined write (issue 15). Fits: req <= PROTO_REQ_MAX, an
	 * id-free head, 20 digits, a timestamp. */
	h = put(h, "{\"type\":\"ack\"", 13);
	if (p->req[0]) {
		h = put(h, ",\"req\":", 7);
		h = put(h, p->req, strlen(p->req));
	}
	h = put(h, ",\"seq\":", 7);
	h = put_u64(h, res->seq);
	h = put(h, ",\"server_time\":\"", 16);
	proto_time_format(srv_now_ms(), ts);
	h = put(h, ts, strlen(ts));
	h = put(h, "\",", 2);
	*h = '\0';
	hn = (size_t)(h - head);
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
		srv_ws_push_reply(pss, buf, n);
}

static void resume_reading(struct ws_pss *pss)
{
	if (pss->rx_paused &&
	    pss->n_inflight + pss->n_replies < INFLIGHT_LOW) {
		pss->rx_paused = 0;
		srv_post_wsi(&pss->sub.post, pss->wsi, SRV_OP_RX_ON);
	}
}

/* Takes the oldest entry off the in-flight ring (there is one). */
static struct pending *pop_pending(struct ws_pss *pss)
{
	struct pending *p = &pss->inflight[pss->inflight_head];

	pss->inflight_head = (pss->inflight_head + 1) % pss->inflight_cap;
	pss->n_inflight--;
	return p;
}

/* The write path's answer to the oldest in-flight write; then the local
 * errors that waited behind it go out. */
void srv_ws_complete(struct srv_requester *rq, struct srv_result *res)
{
	struct ws_pss *pss = srv_ws_pss_of(rq);
	struct pending *p = pop_pending(pss);

	if (res->status < 400)
		push_ack(pss, p, res);
	else
		srv_ws_push_error(pss, p->req, res->status,
				  res->err.code ? res->err.code : "error",
				  res->err.field,
				  res->err.code ? res->err.message
						: "request failed");
	while (pss->n_inflight && pss->inflight[pss->inflight_head].frame) {
		p = pop_pending(pss);
		srv_ws_push_reply(pss, p->frame, p->frame_len);
		p->frame = NULL;
	}
}

/* A new entry at the end of the in-flight ring; stops reading when too
 * many are in flight. NULL when out of memory. */
static struct pending *push_pending(struct ws_pss *pss)
{
	struct pending *p;

	if (pss->n_inflight == pss->inflight_cap) {
		size_t cap = pss->inflight_cap ? pss->inflight_cap * 2 : 16;
		struct pending *ring = malloc(cap * sizeof(*ring));

		if (!ring)
			return NULL;
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
	pss->n_inflight++;
	if (!pss->rx_paused &&
	    pss->n_inflight + pss->n_replies >= INFLIGHT_HIGH) {
		pss->rx_paused = 1;
		srv_post_wsi(&pss->sub.post, pss->wsi, SRV_OP_RX_OFF);
	}
	return p;
}

/* Records a write about to be queued in the write path. Returns -1 when
 * out of memory (the caller answers with an error instead). */
int srv_ws_track(struct ws_pss *pss, const struct proto_client_msg *m)
{
	struct pending *p = push_pending(pss);

	if (!p)
		return -1;
	memcpy(p->req, m->req, sizeof(p->req));
	memcpy(p->id, m->id, sizeof(p->id));
	p->is_delete = m->type == PROTO_MSG_DELETE;
	p->frame = NULL;
	p->frame_len = 0;
	return 0;
}

int srv_ws_send_replies(struct ws_pss *pss)
{
	for (int i = 0; pss->replies && i < REPLIES_PER_WRITABLE; i++) {
		struct reply *r = pss->replies;

		if (i && lws_send_pipe_choked(pss->wsi))
			break;
		/* Without the lock: the other thread may only append to
		 * the list meanwhile, never touch r. */
		if (srv_loop_write(pss->wsi, (unsigned char *)r->buf + LWS_PRE,
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


void srv_ws_error_in_order(struct ws_pss *pss, const char *req, int status,
			   const char *code, const char *field,
			   const char *msg)
{
	struct pending *p;
	size_t len = 0;
	char *buf;

	if (!pss->n_inflight) {
		srv_ws_push_error(pss, req, status, code, field, msg);
		return;
	}
	/* Behind the writes in flight: it goes out after the answer to the
	 * last of them (srv_ws_complete), without touching the write path. */
	buf = error_frame(req, status, code, field, msg, &len);
	if (!buf)
		return;
	p = push_pending(pss);
	if (!p) {
		srv_ws_push_reply(pss, buf, len); /* out of order, not lost */
		return;
	}
	memset(p, 0, sizeof(*p));
	p->frame = buf;
	p->frame_len = len;
}

void srv_ws_replies_free(struct ws_pss *pss)
{
	while (pss->replies) {
		struct reply *r = pss->replies;

		pss->replies = r->next;
		free(r->buf);
		free(r);
	}
	pss->replies_tail = &pss->replies;
	pss->n_replies = 0;
	while (pss->n_inflight)
		free(pop_pending(pss)->frame);
	free(pss->inflight);
	pss->inflight = NULL;
	pss->n_inflight = pss->inflight_cap = 0;
}
