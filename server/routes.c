/*
 * routes.c - the REST API: which path and method does what.
 *
 *   GET    /health              store and server status
 *   GET    /races               races, newest first (?state=, ?source=,
 *                                ?limit=, ?before= with ?before_id=,
 *                                ?output=1 for the output tails)
 *   POST   /race                create (or update, when the id exists)
 *   GET    /race/{id}
 *   PATCH  /race/{id}
 *   DELETE /race/{id}           dismiss
 *   POST   /race/{id}/event     append an event
 *   GET    /metrics             Prometheus counters (metrics.c)
 *   POST   /hooks/github, /hooks/gitlab  CI webhooks (hooks_http.c)
 *
 * Decoding happens here (protocol/ validates); writes go through write.h so
 * REST and WebSocket producers share one path. No lws calls: replies go
 * back through the requester. Service thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "hooks_http.h"
#include "hub.h"
#include "json.h"
#include "rfc3339.h"
#include "routes.h"
#include "server.h"
#include "util.h"

/* Answers with a buffer laid out as LWS_PRE headroom + JSON (taken), or
 * with 503 when building it failed (buf NULL). */
static void reply_result(struct srv_requester *rq, struct srv_result *res)
{
	if (!res->buf) {
		srv_reply_error(rq, 503, "out_of_memory", NULL,
				"the server is out of memory");
		return;
	}
	rq->complete(rq, res);
	free(res->buf);
}

static void reply_buf(struct srv_requester *rq, int status, char *buf,
		      size_t len)
{
	struct srv_result res = {.status = status, .buf = buf, .len = len};

	reply_result(rq, &res);
}

static void reply_json(struct srv_requester *rq, int status, json_object *o)
{
	size_t len = 0;
	char *buf = o ? srv_json_encode(o, LWS_PRE, &len) : NULL;

	json_object_put(o);
	reply_buf(rq, status, buf, len);
}

static void reply_decode_error(struct srv_requester *rq,
			       const struct proto_json_error *err)
{
	srv_reply_error(rq, 400, err->code ? err->code : "invalid_json",
			err->field, err->message);
}

static void method_not_allowed(struct srv_requester *rq)
{
	srv_reply_error(rq, 405, "method_not_allowed", NULL,
			"this method is not supported on this path");
}

/* Parks a read behind pending writes, so it never sees uncommitted state.
 * Returns 1 when the read must wait. */
static int must_wait(struct srv_ctx *srv, const struct srv_http_request *req,
		     struct srv_requester *rq)
{
	if (req->resumed || !srv_write_busy(srv->wp))
		return 0;
	srv_write_wait(srv->wp, rq);
	return 1;
}

static void get_health(struct srv_ctx *srv, struct srv_requester *rq)
{
	struct store_stats st = {0};
	enum store_state state = store_state(srv->store);
	int writable = state == STORE_STATE_OK;
	struct srv_cluster_status cs = {0};
	int ok;
	json_object *o = json_object_new_object(), *s = json_object_new_object();

	store_stats(srv->store, &st);
	if (srv->cluster)
		srv_cluster_get_status(srv->cluster, &cs);
	/* A load balancer moves clients off a node that cannot order
	 * writes (NATS down) or lags the stream (docs/CLUSTER.md). */
	ok = writable && (!srv->cluster || cs.healthy);
	json_object_object_add(o, "status", json_object_new_string(
		ok ? "ok" : "unavailable"));
	json_object_object_add(o, "version",
			       json_object_new_string(RACEBOARD_VERSION));
	json_object_object_add(o, "races", json_object_new_int64(
		(int64_t)srv_write_table(srv->wp)->count));
	json_object_object_add(o, "seq", json_object_new_int64(
		(int64_t)srv_write_seq(srv->wp)));
	json_object_object_add(s, "path",
			       json_object_new_string(srv->cfg->data_dir));
	json_object_object_add(s, "writable",
			       json_object_new_boolean(writable));
	json_object_object_add(s, "state", json_object_new_string(
		store_state_name(state)));
	json_object_object_add(s, "size_bytes",
			       json_object_new_int64((int64_t)st.file_size));
	json_object_object_add(s, "map_size_bytes",
			       json_object_new_int64((int64_t)st.map_size));
	json_object_object_add(s, "map_used_bytes",
			       json_object_new_int64((int64_t)st.map_used));
	json_object_object_add(s, "map_max_bytes",
			       json_object_new_int64((int64_t)st.map_size_max));
	json_object_object_add(s, "map_usage_percent", json_object_new_double(
		st.map_size_max ? 100.0 * (double)st.map_used /
				  (double)st.map_size_max : 0.0));
	json_object_object_add(s, "deltas_logged",
			       json_object_new_int64((int64_t)st.deltas));
	json_object_object_add(o, "store", s);
	if (srv->hub) {
		struct srv_hub_stats hs;
		json_object *w = json_object_new_object();

		srv_hub_stats(srv->hub, &hs);
		json_object_object_add(w, "subscribers",
				       json_object_new_int64(hs.subscribers));
		json_object_object_add(w, "deltas_published",
				       json_object_new_int64((int64_t)hs.published));
		json_object_object_add(w, "frames_sent",
				       json_object_new_int64((int64_t)hs.frames));
		json_object_object_add(w, "frames_composed",
				       json_object_new_int64(
					       (int64_t)hs.frames_composed));
		json_object_object_add(w, "deltas_sent",
				       json_object_new_int64(
					       (int64_t)hs.deltas_sent));
		json_object_object_add(w, "wake_passes",
				       json_object_new_int64(
					       (int64_t)hs.pump_passes));
		json_object_object_add(w, "backlog_resets",
				       json_object_new_int64((int64_t)hs.resets));
		json_object_object_add(o, "websocket", w);
	}
	if (srv->cluster) {
		json_object *c = json_object_new_object();

		json_object_object_add(c, "mode", json_object_new_string("nats"));
		json_object_object_add(c, "node",
				       json_object_new_string(cs.node));
		json_object_object_add(c, "applied_seq", json_object_new_int64(
			(int64_t)cs.applied_seq));
		json_object_object_add(c, "stream_last_seq",
			json_object_new_int64((int64_t)cs.stream_last_seq));
		json_object_object_add(c, "lag", json_object_new_int64(
			(int64_t)cs.lag));
		json_object_object_add(c, "nats", json_object_new_string(
			cs.connected ? "connected" : "disconnected"));
		if (cs.reason)
			json_object_object_add(c, "reason",
				json_object_new_string(cs.reason));
		if (cs.missing_from) {
			json_object_object_add(c, "missing_from",
				json_object_new_int64(
					(int64_t)cs.missing_from));
			json_object_object_add(c, "missing_to",
				json_object_new_int64((int64_t)cs.missing_to));
		}
		json_object_object_add(o, "cluster", c);
	}
	reply_json(rq, ok ? 200 : 503, o);
}

static void get_metrics(struct srv_ctx *srv, struct srv_requester *rq)
{
	struct srv_metrics_gauges g = {0};
	struct store_stats st = {0};
	struct srv_result res = {
		.status = 200,
		.content_type = "text/plain; version=0.0.4; charset=utf-8",
	};

	store_stats(srv->store, &st);
	g.races = srv_write_table(srv->wp)->count;
	g.seq = srv_write_seq(srv->wp);
	g.store_file_bytes = st.file_size;
	g.store_map_bytes = st.map_size;
	g.store_map_used_bytes = st.map_used;
	g.store_map_max_bytes = st.map_size_max;
	g.store_writable = store_state(srv->store) == STORE_STATE_OK;
	if (srv->hub) {
		struct srv_hub_stats hs;

		srv_hub_stats(srv->hub, &hs);
		g.subscribers = hs.subscribers;
		g.deltas_published = hs.published;
		g.frames_sent = hs.frames;
		g.backlog_resets = hs.resets;
		g.ws_queued_bytes = hs.queued_bytes;
	}
	g.ws_queued_max_bytes = srv->cfg->ws_max_queued;
	res.buf = srv_metrics_render(&srv->metrics, &g, LWS_PRE, &res.len);
	reply_result(rq, &res);
}

/* The most races one GET /races page may ask for. */
#define RACES_LIMIT_MAX 10000

/* The races a GET /races page holds: ?limit= and the cursor ?before=
 * (a started_at) with ?before_id= (the id of the last race seen, for races
 * that started in the same millisecond). Parsed before anything is read. */
struct races_page {
	size_t limit;            /* 0: no limit */
	int has_before;
	int64_t before;
	const char *before_id;   /* NULL: every race at `before` is past */
};

/* 0, or -1 after replying 400 naming the field. */
static int parse_page(const struct srv_http_request *req,
		      struct srv_requester *rq, struct races_page *pg)
{
	memset(pg, 0, sizeof(*pg));
	if (req->q_limit) {
		const char *p = req->q_limit;
		unsigned long long v = 0;

		for (; *p >= '0' && *p <= '9' && v <= RACES_LIMIT_MAX; p++)
			v = v * 10 + (unsigned long long)(*p - '0');
		if (p == req->q_limit || *p || v < 1 || v > RACES_LIMIT_MAX) {
			srv_reply_error(rq, 400, "invalid_value", "limit",
					"limit must be an integer from 1 to "
					"10000");
			return -1;
		}
		pg->limit = (size_t)v;
	}
	if (req->q_before) {
		if (proto_time_parse(req->q_before, &pg->before)) {
			srv_reply_error(rq, 400, "invalid_value", "before",
					"before must be an RFC 3339 timestamp "
					"(a race's started_at)");
			return -1;
		}
		pg->has_before = 1;
	}
	if (req->q_before_id) {
		if (!pg->has_before) {
			srv_reply_error(rq, 400, "invalid_value", "before_id",
					"before_id needs before");
			return -1;
		}
		pg->before_id = req->q_before_id;
	}
	return 0;
}

/* 1 when `r` comes after the cursor in newest-first order (started_at
 * descending, then id ascending, as srv_table_newest_first sorts). */
static int past_cursor(const struct races_page *pg, const struct proto_race *r)
{
	if (!pg->has_before || r->started_at < pg->before)
		return 1;
	if (r->started_at > pg->before || !pg->before_id)
		return 0;
	return strcmp(r->id, pg->before_id) > 0;
}

/*
 * Writes one race of a GET /races reply. The output tail (up to 64 KiB a
 * race) is left out unless ?output=1 asked for it: a list of thousands of
 * races would otherwise weigh megabytes, and a page shows one tail at a
 * time (GET /race/{id} and the WebSocket carry it).
 */
static int list_race_write(struct srv_ctx *srv, const struct proto_race *r,
			   int with_output, int64_t now, struct proto_buf *b)
{
	struct proto_race lite;

	if (with_output || !(r->n_output || r->output_dropped))
		return srv_write_race_json(srv->wp, r, now, b);
	/* A shallow copy without the tail; it borrows everything else. */
	lite = *r;
	lite.output = NULL;
	lite.n_output = 0;
	lite.output_dropped = 0;
	lite.has &= ~(PROTO_F_OUTPUT | PROTO_F_OUTPUT_DROPPED);
	return srv_write_race_json(srv->wp, &lite, now, b);
}

static void get_races(struct srv_ctx *srv, const struct srv_http_request *req,
		      struct srv_requester *rq)
{
	enum proto_state want = PROTO_STATE_RUNNING;
	int64_t now = srv_now_ms();
	struct proto_race **all;
	struct races_page pg;
	struct proto_buf b;
	size_t n, len = 0, any = 0;
	int rc;
	char *buf;

	if (req->q_state && proto_state_parse(req->q_state, &want)) {
		srv_reply_error(rq, 400, "invalid_value", "state",
				"state must be one of queued, running, passed, "
				"failed, canceled");
		return;
	}
	if (parse_page(req, rq, &pg))
		return;
	if (req->q_output && strcmp(req->q_output, "0") &&
	    strcmp(req->q_output, "1")) {
		srv_reply_error(rq, 400, "invalid_value", "output",
				"output must be 1 (include each race's output "
				"tail) or 0");
		return;
	}
	all = srv_table_newest_first(srv_write_table(srv->wp), NULL, NULL,
				     &n);
	proto_buf_init(&b, LWS_PRE);
	rc = all ? proto_buf_append(&b, "[", 1) : PROTO_ENOMEM;
	for (size_t i = 0; i < n && rc == PROTO_OK; i++) {
		if (pg.limit && any == pg.limit)
			break;
		if (!past_cursor(&pg, all[i]))
			continue;
		if (req->q_state && all[i]->state != want)
			continue;
		if (req->q_source && strcmp(all[i]->source, req->q_source))
			continue;
		if (any++)
			rc = proto_buf_append(&b, ",", 1);
		if (rc == PROTO_OK)
			rc = list_race_write(srv, all[i], req->q_output &&
					     !strcmp(req->q_output, "1"), now,
					     &b);
	}
	if (rc == PROTO_OK)
		rc = proto_buf_append(&b, "]", 1);
	free(all);
	buf = proto_buf_finish(&b, rc, &len);
	reply_buf(rq, 200, buf, len);
}

static void post_race(struct srv_ctx *srv, const struct srv_http_request *req,
		      struct srv_requester *rq)
{
	struct proto_race_update u;
	struct proto_json_error err;

	if (proto_json_decode_update(req->body, req->body_len,
				     PROTO_JSON_CREATE, &u, &err)) {
		reply_decode_error(rq, &err);
		return;
	}
	srv_write_create(srv->wp, rq, &u);
	proto_race_update_fini(&u);
}

static void patch_race(struct srv_ctx *srv, const struct srv_http_request *req,
		       const char *id, struct srv_requester *rq)
{
	struct proto_race_update u;
	struct proto_json_error err;

	if (proto_json_decode_update(req->body, req->body_len,
				     PROTO_JSON_PATCH, &u, &err)) {
		reply_decode_error(rq, &err);
		return;
	}
	srv_write_patch(srv->wp, rq, id, &u);
	proto_race_update_fini(&u);
}

static void post_event(struct srv_ctx *srv, const struct srv_http_request *req,
		       const char *id, struct srv_requester *rq)
{
	struct proto_event ev;
	struct proto_json_error err;

	if (proto_json_decode_event(req->body, req->body_len, srv_now_ms(), &ev,
				    &err)) {
		reply_decode_error(rq, &err);
		return;
	}
	srv_write_event(srv->wp, rq, id, &ev);
}

static void get_race(struct srv_ctx *srv, const char *id,
		     struct srv_requester *rq)
{
	const struct proto_race *race = srv_write_get(srv->wp, id);
	char msg[PROTO_ID_MAX + 32], *buf;
	struct proto_buf b;
	size_t len = 0;
	int rc;

	if (!race) {
		snprintf(msg, sizeof(msg), "no race with id '%s'", id);
		srv_reply_error(rq, 404, "not_found", "id", msg);
		return;
	}
	proto_buf_init(&b, LWS_PRE);
	rc = srv_write_race_json(srv->wp, race, srv_now_ms(), &b);
	buf = proto_buf_finish(&b, rc, &len);
	reply_buf(rq, 200, buf, len);
}

/* Routes /race/{id} and /race/{id}/event. `rest` follows "/race/". */
static void race_item(struct srv_ctx *srv, const struct srv_http_request *req,
		      const char *rest, struct srv_requester *rq)
{
	char id[PROTO_ID_MAX + 1];
	const char *slash = strchr(rest, '/');
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
	int is_event = slash && !strcmp(slash, "/event");

	if ((slash && !is_event) || n == 0) {
		srv_reply_error(rq, 404, "not_found", NULL, "no such path");
		return;
	}
	if (n > PROTO_ID_MAX) {
		srv_reply_error(rq, 400, "too_long", "id",
				"id must be at most 128 characters");
		return;
	}
	memcpy(id, rest, n);
	id[n] = '\0';
	if (!proto_id_valid(id)) {
		srv_reply_error(rq, 400, "invalid_value", "id",
				"id may only hold letters, digits and . _ : -");
		return;
	}
	if (is_event) {
		if (req->method == SRV_HTTP_POST)
			post_event(srv, req, id, rq);
		else
			method_not_allowed(rq);
		return;
	}
	switch (req->method) {
	case SRV_HTTP_GET:
		if (!must_wait(srv, req, rq))
			get_race(srv, id, rq);
		break;
	case SRV_HTTP_PATCH:
		patch_race(srv, req, id, rq);
		break;
	case SRV_HTTP_DELETE:
		srv_write_delete(srv->wp, rq, id);
		break;
	default:
		method_not_allowed(rq);
	}
}

const char *const srv_api_mounts[SRV_API_MOUNTS + 1] = {
	"/race", "/races", "/health", "/metrics", "/hooks", NULL,
};

int srv_is_api_path(const char *uri)
{
	for (const char *const *m = srv_api_mounts; *m; m++) {
		size_t n = strlen(*m);

		if (!strncmp(uri, *m, n) && (uri[n] == '\0' || uri[n] == '/'))
			return 1;
	}
	return 0;
}

void srv_routes_handle(struct srv_ctx *srv, const struct srv_http_request *req,
		       struct srv_requester *rq)
{
	const char *p = req->path;

	if (!strcmp(p, "/health") || !strcmp(p, "/health/")) {
		if (req->method != SRV_HTTP_GET)
			method_not_allowed(rq);
		else if (!must_wait(srv, req, rq))
			get_health(srv, rq);
	} else if (!strcmp(p, "/races") || !strcmp(p, "/races/")) {
		if (req->method != SRV_HTTP_GET)
			method_not_allowed(rq);
		else if (!must_wait(srv, req, rq))
			get_races(srv, req, rq);
	} else if (!strcmp(p, "/race") || !strcmp(p, "/race/")) {
		if (req->method != SRV_HTTP_POST)
			method_not_allowed(rq);
		else
			post_race(srv, req, rq);
	} else if (!strncmp(p, "/race/", 6)) {
		race_item(srv, req, p + 6, rq);
	} else if (srv_hooks_is_path(p)) {
		srv_hooks_handle(srv, req, rq);
	} else if (!strcmp(p, "/metrics") || !strcmp(p, "/metrics/")) {
		if (req->method != SRV_HTTP_GET)
			method_not_allowed(rq);
		else
			get_metrics(srv, rq);
	} else {
		srv_reply_error(rq, 404, "not_found", NULL, "no such path");
	}
}
