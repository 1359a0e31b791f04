/*
 * ws.c - the "raceboard.v1" WebSocket protocol at /ws: subscriptions
 * (snapshot, resume, live deltas, heartbeats) and producer writes (acks
 * in request order, only once durable). See protocol/PROTOCOL.md.
 *
 * Producer writes go through write.c like REST writes; deltas come from
 * hub.c; replies and acks are queued by ws_reply.c. This file owns the
 * session: reassembly of inbound messages under a size cap, the order of
 * outbound frames, subscriptions, heartbeats and closing.
 *
 * Memory for subscribers is capped in total (--ws-max-queued-mb): the
 * frames they hold (shared, counted by the hub) plus what lws copied of
 * writes their sockets did not take. Lagging subscribers converge through
 * a reset snapshot, which costs nothing per subscriber; only when the
 * total is over the cap are subscribers closed, the furthest behind
 * first, each counted (STYLE.md "Converge, don't cull").
 * Service thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>             /* malloc_trim */
#endif

#include "client_msg.h"
#include "cluster.h"
#include "guard.h"
#include "hub.h"
#include "log.h"
#include "rfc3339.h"
#include "server.h"
#include "ws.h"
#include "util.h"
#include "ws_session.h"

/*
 * Large frames go out in pieces of PIECE bytes, each one lws_write() of a
 * WebSocket fragment. lws hands at most tx_packet_size (+ LWS_PRE + 4)
 * bytes to one send() and copies the rest of a write into its own buffer
 * (lws_issue_raw() in v4.1.6; without tx_packet_size the limit is the 4 KB
 * pt_serv_buf_size, so nearly every byte of a large frame was copied). So
 * the protocol's tx_packet_size is PIECE: a piece is one send(), and lws
 * copies only what a full socket did not take.
 */
#define PIECE SRV_FRAME_PIECE
/* A writable callback writes at most this many times, each write after
 * the first only while the socket still takes more (R13): a subscriber
 * gets a whole 256 KiB batch in one pass, and one slow socket cannot hold
 * the loop. */
#define WRITES_PER_WRITABLE 4
#define BAD_MESSAGES_MAX 10     /* in a row, then close with 1008 */
/* Once what subscribers hold fell this far from its peak, the tick hands
 * the freed heap back to the system (malloc_trim): large frames freed in
 * bulk otherwise stay in the process's free lists, counted in its RSS. */
#define TRIM_MIN ((size_t)8 * 1024 * 1024)

static void tick_cb(lws_sorted_usec_list_t *sul);

/* What subscribers hold in total: the hub's frames and lws's copies. */
static size_t queued(const struct ws_vhd *vhd)
{
	return srv_hub_queued_bytes(vhd->hub) + vhd->all->lws_held;
}

/* lws copies what the socket did not take of a write (at most that
 * write, `n` bytes) and sends it before any writable callback: counted
 * until then. */
static void hold(struct ws_pss *pss, size_t n)
{
	pss->vhd->all->lws_held += n - pss->lws_held;
	pss->lws_held = n;
}

static void release(struct ws_pss *pss)
{
	pss->vhd->all->lws_held -= pss->lws_held;
	pss->lws_held = 0;
}

/* 1 when `a` is further behind than `b`: it needs an older seq next,
 * else it has more of its frames left to send, else its socket took a
 * write longer ago. */
static int slower(const struct ws_pss *a, const struct ws_pss *b)
{
	size_t la = (a->big ? a->big->len - a->big_off : 0) + a->lws_held;
	size_t lb = (b->big ? b->big->len - b->big_off : 0) + b->lws_held;

	if (a->sub.cursor != b->sub.cursor)
		return a->sub.cursor < b->sub.cursor;
	if (la != lb)
		return la > lb;
	return a->last_tx < b->last_tx;
}

/* Closes a subscriber at once, without waiting for it to read a close
 * frame (it is not reading), and lets go of what it holds now. */
static void cull(struct ws_vhd *vhd, struct ws_pss *pss)
{
	srv_metrics_reject(&vhd->srv->metrics, SRV_REJ_WS_SLOW);
	srv_hub_unlink(vhd->hub, &pss->sub);
	pss->sub_state = SUB_NONE;
	srv_frame_unref(&pss->big);
	srv_frame_unref(&pss->next_big);
	pss->big_off = 0;
	release(pss);
	pss->culled = 1;
	srv_post_wsi(&pss->sub.post, pss->wsi, SRV_OP_KILL);
}

/*
 * Over --ws-max-queued-mb: closes the subscriber furthest behind, then
 * the next, until the total fits (R12). A frame shared by several is
 * freed with its last holder, and those are next in line anyway: they
 * are at the same cursor. A session may be culled here from inside its
 * own callback: callers check pss->culled.
 */
static void enforce_cap(struct ws_vhd *vhd)
{
	size_t q = queued(vhd), cap = vhd->srv->cfg->ws_max_queued;
	unsigned n = 0;

	if (q > vhd->all->trim_peak)
		vhd->all->trim_peak = q;
	while (q > cap) {
		struct ws_pss *worst = NULL;

		for (struct ws_pss *p = vhd->all->sessions; p; p = p->next)
			if (!p->culled && (p->big || p->next_big || p->lws_held) &&
			    (!worst || slower(p, worst)))
				worst = p;
		if (!worst)
			break;
		cull(vhd, worst);
		n++;
		q = queued(vhd);
	}
	if (n)
		srv_log_warn("closed %u slow subscribers: their frames held "
			     "more than --ws-max-queued-mb (%zu MB)\n", n,
			     cap / (1024 * 1024));
}

/* Queues a large frame (a reference, taken). A frame already half on the
 * wire (its fragments sent NO_FIN) must end first: the new one waits
 * behind it. */
static void set_big(struct ws_pss *pss, struct srv_frame *f)
{
	if (pss->big && pss->big_off) {
		srv_frame_unref(&pss->next_big);
		pss->next_big = f;
	} else {
		srv_frame_unref(&pss->big);
		pss->big = f;
		pss->big_off = 0;
	}
	srv_ws_want_write(pss);
}

/* Sends the snapshot now (no write may be pending) and goes live. */
static void start_snapshot(struct ws_pss *pss)
{
	struct srv_hub *hub = pss->vhd->hub;
	int64_t now = srv_now_ms(), at;
	uint64_t seq;
	struct srv_frame *f = srv_hub_snapshot(hub, &pss->sub.filter,
					       pss->snapshot_reset, now, &seq,
					       &at);

	if (!f) {
		pss->close_status = LWS_CLOSE_STATUS_UNEXPECTED_CONDITION;
		pss->close_reason = "out of memory";
		srv_ws_want_write(pss);
		return;
	}
	set_big(pss, f);
	/* A shared snapshot made a while ago: its "server_time" would set
	 * the client's clock back, so a fresh one follows it (a heartbeat,
	 * once the deltas after the snapshot are out). */
	if (now - at > 1000)
		pss->heartbeat_due = 1;
	pss->sub.cursor = seq + 1;
	pss->sub.behind = 0;
	pss->sub_state = SUB_LIVE;
	srv_hub_link(hub, &pss->sub);
	enforce_cap(pss->vhd);
}

/* A snapshot reads committed state only: wait out a pending batch. */
static void want_snapshot(struct ws_pss *pss, int reset)
{
	struct srv_write *wp = pss->vhd->srv->wp;

	pss->snapshot_reset = reset;
	srv_hub_unlink(pss->vhd->hub, &pss->sub);
	if (srv_write_busy(wp)) {
		pss->sub_state = SUB_WAITING;
		srv_write_wait(wp, &pss->rq);
	} else {
		start_snapshot(pss);
	}
}

static void resume(struct srv_requester *rq)
{
	struct ws_pss *pss = srv_ws_pss_of(rq);

	if (pss->sub_state == SUB_WAITING)
		start_snapshot(pss);
}

static void subscribe(struct ws_pss *pss, struct proto_client_msg *m)
{
	struct srv_hub *hub = pss->vhd->hub;
	struct srv_frame *replay;

	srv_hub_unlink(hub, &pss->sub);
	/* A frame of the previous subscription still waiting behind one half
	 * sent (a snapshot, a replay) would arrive after this one starts. */
	srv_frame_unref(&pss->next_big);
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
	    (replay = srv_hub_replay(hub, m->since, srv_now_ms()))) {
		set_big(pss, replay);
		pss->sub.cursor = srv_hub_seq(hub) + 1;
		pss->sub_state = SUB_LIVE;
		srv_hub_link(hub, &pss->sub);
		enforce_cap(pss->vhd);
		return;
	}
	want_snapshot(pss, m->has_since);
}

static void bad_message(struct ws_pss *pss, const char *req,
			const struct proto_json_error *err)
{
	srv_ws_error_in_order(pss, req, 400,
			      err->code ? err->code : "invalid_json",
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
			srv_ws_error_in_order(pss, "", 401, "unauthorized",
					      "token", "wrong token");
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
	struct srv_write *wp = pss->vhd->srv->wp;
	struct proto_client_msg m;
	struct proto_json_error err = {0};

	pss->vhd->srv->metrics.ws_messages++;
	if (!srv_guard_rate_ok(pss->vhd->srv->guard, pss->wsi)) {
		/* Dropped with an error (counted by the guard), not counted
		 * as abuse: a fast producer slows down, it is not cut off. */
		srv_ws_error_in_order(pss, "", 429, "rate_limited", NULL,
				      "too many messages on this connection; "
				      "this one was dropped");
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
		srv_ws_error_in_order(pss, m.req, 401, "unauthorized", NULL,
				      need_token);
	} else if (m.type == PROTO_MSG_SUBSCRIBE &&
		   srv_guard_sub_acquire(pss->vhd->srv->guard, pss->wsi)) {
		srv_ws_error_in_order(pss, m.req, 429,
				      "too_many_subscriptions", NULL,
				      "this address holds its maximum of "
				      "subscriptions (--max-subs-per-ip)");
	} else if (m.type == PROTO_MSG_SUBSCRIBE) {
		pss->active = 1;
		subscribe(pss, &m);
	} else if (srv_ws_track(pss, &m)) {
		srv_ws_push_error(pss, m.req, 503, "out_of_memory", NULL,
			   "the server is out of memory");
	} else {
		pss->active = 1;
		switch (m.type) {
		case PROTO_MSG_CREATE:
			srv_write_create(wp, &pss->rq, &m.update);
			break;
		case PROTO_MSG_PATCH:
			srv_write_patch(wp, &pss->rq, m.id, &m.update);
			break;
		case PROTO_MSG_EVENT:
			srv_write_event(wp, &pss->rq, m.id, &m.event);
			break;
		default:
			srv_write_delete(wp, &pss->rq, m.id);
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

/*
 * Writes the next piece of pss->big. Returns -1 to close, else 0. The
 * session's state moves on before the write, which lets go of the
 * server lock (srv_frame_write()): what the main thread queues for this
 * session meanwhile (a snapshot, the next frame) lands behind it.
 */
static int send_big(struct ws_pss *pss)
{
	struct srv_frame *f = srv_frame_ref(pss->big);
	size_t off = pss->big_off, left = f->len - off;
	size_t n = left > PIECE ? PIECE : left;
	int flags = off ? LWS_WRITE_CONTINUATION : LWS_WRITE_TEXT, rc;

	if (n < left)
		flags |= LWS_WRITE_NO_FIN;
	pss->big_off += n;
	if (pss->big_off == f->len) {
		srv_frame_unref(&pss->big);
		pss->big = pss->next_big;
		pss->big_off = 0;
		pss->next_big = NULL;
	}
	rc = srv_frame_write(f, pss->wsi, off, n,
			     (enum lws_write_protocol)flags);
	srv_frame_unref(&f);
	if (rc)
		return -1;
	if (lws_partial_buffered(pss->wsi))
		hold(pss, n);
	return 0;
}

/* A heartbeat, with "stale" while this cluster node serves state it
 * cannot bring up to date (docs/CLUSTER.md): a subscriber of a node cut
 * off from the stream gets no deltas, so heartbeats are what it hears. */
static int send_heartbeat(struct ws_pss *pss, int64_t now)
{
	char ts[PROTO_TIME_BUFSZ], buf[LWS_PRE + 160], why[32], stale[48] = "";
	int n;

	if (srv_cluster_stale(pss->vhd->srv->cluster, why, sizeof(why)))
		snprintf(stale, sizeof(stale), ",\"stale\":\"%s\"", why);
	n = snprintf(buf + LWS_PRE, sizeof(buf) - LWS_PRE,
		     "{\"type\":\"heartbeat\",\"seq\":%llu,"
		     "\"server_time\":\"%s\"%s}",
		     (unsigned long long)srv_hub_seq(pss->vhd->hub),
		     proto_time_format(now, ts), stale);

	pss->heartbeat_due = 0;
	return lws_write(pss->wsi, (unsigned char *)buf + LWS_PRE, (size_t)n,
			 LWS_WRITE_TEXT) < n ? -1 : 0;
}

/*
 * One write, chosen in this order: finish a fragmented frame, else the
 * replies (hello, acks, errors), else start a queued large frame, else
 * the deltas pending for the subscription, else (only as the callback's
 * first write) a heartbeat. Returns -1 to close, 0 after a write, 1 when
 * there is nothing to write.
 */
static int write_next(struct ws_pss *pss, int64_t now, int first)
{
	struct srv_hub *hub = pss->vhd->hub;

	if (pss->big && pss->big_off)
		return send_big(pss);
	if (pss->replies)
		return srv_ws_send_replies(pss);
	if (pss->big)
		return send_big(pss);
	if (pss->sub_state == SUB_LIVE && srv_hub_pending(hub, &pss->sub)) {
		pss->big = srv_hub_next_frame(hub, &pss->sub, now);
		pss->big_off = 0;
		if (!pss->big && pss->sub.behind)
			want_snapshot(pss, 1);
		return pss->big ? send_big(pss) : 1;
	}
	if (first && pss->heartbeat_due)
		return send_heartbeat(pss, now);
	return 1; /* a spurious callback, or done */
}

/* 1 when write_next() has something besides a heartbeat to write. */
static int more_to_write(struct ws_pss *pss)
{
	return pss->big || pss->replies ||
	       (pss->sub_state == SUB_LIVE &&
		srv_hub_pending(pss->vhd->hub, &pss->sub));
}

/* A monotonic clock in ns, to time writes. */
static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * One writable callback: up to WRITES_PER_WRITABLE writes while the socket
 * takes them (a close that waits only for the replies stops at once).
 * The socket is asked (a poll() in lws_send_pipe_choked) only when there
 * is more to write. A live subscriber's writes are timed for the hub,
 * which sizes each pass's share of wake-ups by them. Returns -1 to close.
 */
static int on_writable(struct ws_pss *pss)
{
	int64_t now = srv_now_ms(), t0 = mono_ns();
	int rc = 0, wrote = 0;

	if (pss->culled)
		return -1;
	srv_hub_set_armed(pss->vhd->hub, &pss->sub, 0);
	if (pss->lws_held && !lws_partial_buffered(pss->wsi))
		release(pss);
	for (int i = 0; i < WRITES_PER_WRITABLE; i++) {
		if (pss->close_status && !pss->replies) {
			if (i)
				break; /* close at the next callback */
			lws_close_reason(pss->wsi,
					 (enum lws_close_status)pss->close_status,
					 (unsigned char *)pss->close_reason,
					 strlen(pss->close_reason));
			return -1;
		}
		if (i && (!more_to_write(pss) ||
			  lws_send_pipe_choked(pss->wsi)))
			break;
		rc = write_next(pss, now, i == 0);
		if (rc < 0)
			return -1;
		if (rc > 0)
			break;
		pss->last_tx = now;
		wrote = 1;
	}
	if (wrote && pss->sub_state == SUB_LIVE)
		srv_hub_note_write(pss->vhd->hub, mono_ns() - t0);
	enforce_cap(pss->vhd);
	if (pss->culled)
		return -1;
	if (pss->big || pss->replies || pss->close_status ||
	    pss->heartbeat_due) {
		srv_hub_set_armed(pss->vhd->hub, &pss->sub, 1);
		srv_ws_want_write(pss);
	} else if (pss->sub_state == SUB_LIVE) {
		/* Deltas published since: the hub wakes it again in its
		 * turn, so that they share a frame with what comes next. */
		srv_hub_wake_later(pss->vhd->hub, &pss->sub);
	}
	return 0;
}

static void send_hello(struct ws_pss *pss)
{
	json_object *o = json_object_new_object();
	char why[32];

	if (!o)
		return;
	json_object_object_add(o, "type", json_object_new_string("hello"));
	json_object_object_add(o, "protocol",
			       json_object_new_string("raceboard.v1"));
	json_object_object_add(o, "version",
			       json_object_new_string(RACEBOARD_VERSION));
	json_object_object_add(o, "seq", json_object_new_int64(
		(int64_t)srv_hub_seq(pss->vhd->hub)));
	srv_ws_add_time(o, srv_now_ms());
	json_object_object_add(o, "heartbeat_sec", json_object_new_int(
		pss->vhd->srv->cfg->heartbeat_sec));
	if (srv_cluster_stale(pss->vhd->srv->cluster, why, sizeof(why)))
		json_object_object_add(o, "stale", json_object_new_string(why));
	srv_ws_push_json(pss, o);
}

static int on_established(struct ws_vhd *vhd, struct ws_pss *pss,
			  struct lws *wsi)
{
	/* Every context's sessions count (loop.h). */
	if (vhd->srv->metrics.ws_connections >= vhd->srv->cfg->ws_max_conns) {
		srv_metrics_reject(&vhd->srv->metrics, SRV_REJ_WS_CONNS);
		return -1; /* admission control, as Mosquitto does */
	}
	memset(pss, 0, sizeof(*pss));
	pss->authed = srv_guard_conn_authed(wsi);
	vhd->srv->metrics.ws_connections++;
	vhd->srv->metrics.ws_connections_total++;
	pss->rq.complete = srv_ws_complete;
	pss->rq.resume = resume;
	pss->wsi = wsi;
	pss->sub.wsi = wsi;
	pss->vhd = vhd;
	pss->replies_tail = &pss->replies;
	pss->connected_at = pss->last_tx = srv_now_ms();
	pss->next = vhd->all->sessions;
	vhd->all->sessions = pss;
	vhd->all->n_sessions++;
	send_hello(pss);
	return 0;
}

static void on_closed(struct ws_vhd *vhd, struct ws_pss *pss)
{
	srv_post_drop(&pss->sub.post);
	if (!pss->vhd)
		return; /* refused at ESTABLISHED: never linked */
	srv_hub_unlink(vhd->hub, &pss->sub);
	srv_guard_sub_release(vhd->srv->guard, pss->wsi);
	vhd->srv->metrics.ws_connections--;
	proto_filter_fini(&pss->sub.filter);
	if (pss->rq.queued || pss->rq.owed_listed)
		srv_write_forget(vhd->srv->wp, &pss->rq);
	for (struct ws_pss **pp = &vhd->all->sessions; *pp; pp = &(*pp)->next)
		if (*pp == pss) {
			*pp = pss->next;
			break;
		}
	vhd->all->n_sessions--;
	srv_ws_replies_free(pss);
	free(pss->rx);
	srv_frame_unref(&pss->big);
	srv_frame_unref(&pss->next_big);
	release(pss);
	pss->vhd = NULL;
}

/* Hands freed heap back to the system once what subscribers hold fell
 * by TRIM_MIN from its peak (subscribers left or were closed). */
static void give_back(struct ws_vhd *vhd)
{
	size_t q = queued(vhd), peak = srv_hub_queued_peak(vhd->hub);

	if (peak + vhd->all->lws_held > vhd->all->trim_peak)
		vhd->all->trim_peak = peak + vhd->all->lws_held;
	if (q > vhd->all->trim_peak)
		vhd->all->trim_peak = q;
	if (vhd->all->trim_peak - q < TRIM_MIN)
		return;
	vhd->all->trim_peak = q;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/* Once a second: heartbeats for idle subscribers, the deadline for
 * clients that never said anything, and the hub's stale shared frames. */
static void tick_cb(lws_sorted_usec_list_t *sul)
{
	struct ws_vhd *vhd = lws_container_of(sul, struct ws_vhd, tick);
	const struct srv_cfg *cfg = vhd->srv->cfg;
	int64_t now = srv_now_ms();

	srv_lock();
	for (struct ws_pss *p = vhd->all->sessions; p; p = p->next) {
		if (p->vhd != vhd)
			continue; /* the other context's tick sees to it */
		if (!p->active &&
		    now - p->connected_at >= cfg->subscribe_deadline_sec * 1000LL &&
		    !p->close_status) {
			p->close_status = LWS_CLOSE_STATUS_POLICY_VIOLATION;
			p->close_reason = "no subscribe or write in time";
			srv_ws_want_write(p);
		} else if (p->sub_state == SUB_LIVE &&
			   now - p->last_tx >= cfg->heartbeat_sec * 1000LL) {
			p->heartbeat_due = 1;
			srv_ws_want_write(p);
		}
	}
	srv_hub_expire(vhd->hub, now);
	enforce_cap(vhd);
	give_back(vhd);
	srv_unlock();
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
		/* One list of sessions for both contexts (loop.h), so that the
		 * cap sees them all. */
		if (!vhd->srv->ws_all &&
		    !(vhd->srv->ws_all = calloc(1, sizeof(struct ws_all))))
			return -1;
		vhd->all = vhd->srv->ws_all;
		vhd->all->vhosts++;
		/* main() wired the hub to the write path. */
		vhd->hub = vhd->srv->hub;
		if (!vhd->hub)
			return -1;
		/* The fan-out thread's context runs the hub's wake-ups. Its
		 * loop is known before either thread serves (main.c), or
		 * not yet, when lws inits at creation: then the fan-out
		 * context, created last, attaches last. */
		srv_hub_attach(vhd->hub, vhd->ctx,
			       !vhd->srv->fanout ||
			       vhd->srv->fanout->ctx == vhd->ctx);
		lws_sul_schedule(vhd->ctx, 0, &vhd->tick, tick_cb,
				 LWS_US_PER_SEC);
		return 0;
	case LWS_CALLBACK_PROTOCOL_DESTROY:
		if (!vhd)
			return 0;
		lws_sul_cancel(&vhd->tick);
		srv_hub_detach(vhd->hub, vhd->ctx);
		if (vhd->all && !--vhd->all->vhosts) {
			free(vhd->all);
			vhd->srv->ws_all = NULL;
		}
		vhd->all = NULL;
		vhd->hub = NULL; /* main() frees it */
		return 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (check_path(wsi))
			return -1;
		return vhd && vhd->srv->guard &&
		       srv_guard_ws_upgrade(vhd->srv->guard, wsi) ? -1 : 0;
	case LWS_CALLBACK_ESTABLISHED:
		return vhd ? on_established(vhd, pss, wsi) : -1;
	case LWS_CALLBACK_RECEIVE:
		return pss->culled ? -1 : on_receive(pss, in, len);
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
	.tx_packet_size = PIECE,    /* one send() per piece, see PIECE */
};
