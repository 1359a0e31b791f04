/*
 * test_cluster_nodes.c - cluster mode end to end (issue 16): one real
 * nats-server with JetStream and three real raceboard-server processes
 * on loopback, writers on every node at once, a WebSocket subscriber on
 * every node. Every subscriber sees the same seqs in the same order, and
 * every acknowledged write is on every node. Also: a node whose
 * settings disagree with the stream exits, and with NATS down writes
 * get 503 at once while reads go on.
 */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/http_client.h"
#include "support/nats_proc.h"
#include "support/server_proc.h"
#include "support/ws_client.h"

#define NODES 3
#define WRITES 25             /* per writer: a create and a patch each */
#define SEQ_MAX 4096

static struct nats_proc nats;
static struct server_proc srv[NODES];

static void setup(void)
{
	cr_assert_eq(nats_start(&nats), 0, "nats-server did not start");
}

static void teardown(void)
{
	for (int i = 0; i < NODES; i++) {
		if (srv[i].pid > 0)
			server_kill(&srv[i]);
		if (srv[i].dir[0])
			server_cleanup(&srv[i]);
	}
	nats_cleanup(&nats);
}

TestSuite(cluster_nodes, .init = setup, .fini = teardown, .timeout = 120);

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char node_name[NODES][16];
static const char *node_args[NODES][12];

static void start_node_ex(int i, const char *stream, const char *replicas,
			  const char *flag, const char *value)
{
	const char *extra[] = {"--nats", nats.url, "--nats-stream", stream,
			       "--nats-replicas", replicas, "--node",
			       node_name[i], "--no-sync", flag, value, NULL};

	snprintf(node_name[i], sizeof(node_name[i]), "n%d", i);
	memcpy(node_args[i], extra, sizeof(extra));
	cr_assert_eq(server_start(&srv[i], node_args[i]), 0,
		     "node %d started", i);
}

static void start_node(int i, const char *stream, const char *replicas)
{
	start_node_ex(i, stream, replicas, NULL, NULL);
}

static json_object *rest(int port, const char *method, const char *path,
			 const char *body, int *status)
{
	struct http_response r;
	json_object *o;

	cr_assert_eq(http_request(port, method, path, body, &r), 0);
	*status = r.status;
	o = json_tokener_parse(r.body ? r.body : "");
	http_response_free(&r);
	return o;
}

static uint64_t health_u64(int port, const char *a, const char *b)
{
	int st;
	json_object *o = rest(port, "GET", "/health", NULL, &st), *v;
	uint64_t n;

	cr_assert_not_null(o);
	v = json_object_object_get(o, a);
	if (b)
		v = json_object_object_get(v, b);
	n = (uint64_t)json_object_get_int64(v);
	json_object_put(o);
	return n;
}

/* What one subscriber saw: the seq of every delta, in order. */
struct sub {
	struct ws_client c;
	uint64_t seq[SEQ_MAX];
	int n;
	int snapshots;
};

/* Subscribes, and waits for the subscription's snapshot: a change made
 * before the node took the subscribe is in the snapshot, not a delta, so
 * a test that wrote before then would count one delta fewer here. */
static void sub_open(struct sub *s, int port)
{
	json_object *f;

	memset(s, 0, sizeof(*s));
	cr_assert_eq(ws_open(&s->c, port, "/ws"), 0);
	cr_assert_eq(ws_recv(&s->c, 10000), 1, "hello");
	cr_assert_eq(ws_send(&s->c, "{\"type\":\"subscribe\"}"), 0);
	cr_assert_eq(ws_recv(&s->c, 10000), 1, "the snapshot");
	f = json_tokener_parse(s->c.msg);
	cr_assert_str_eq(json_object_get_string(json_object_object_get(f,
			 "type")), "snapshot", "%.80s", s->c.msg);
	json_object_put(f);
	s->snapshots++;
}

/* Subscribes again, on another node, from the last seq seen. */
static void sub_resume(struct sub *s, int port)
{
	char msg[96];

	ws_close(&s->c);
	cr_assert_eq(ws_open(&s->c, port, "/ws"), 0);
	cr_assert_eq(ws_recv(&s->c, 10000), 1, "hello");
	snprintf(msg, sizeof(msg), "{\"type\":\"subscribe\",\"since\":%llu}",
		 (unsigned long long)(s->n ? s->seq[s->n - 1] : 0));
	cr_assert_eq(ws_send(&s->c, msg), 0);
}

static void sub_delta(struct sub *s, json_object *d)
{
	uint64_t seq = (uint64_t)json_object_get_int64(
		json_object_object_get(d, "seq"));

	cr_assert(s->n == 0 || seq > s->seq[s->n - 1],
		  "seqs increase: %llu after %llu", (unsigned long long)seq,
		  (unsigned long long)s->seq[s->n - 1]);
	cr_assert_lt(s->n, SEQ_MAX);
	s->seq[s->n++] = seq;
}

/* Reads frames until a delta at or past `seq` was seen, or `count`
 * deltas in all (0: no such bound). */
static void sub_until_n(struct sub *s, uint64_t seq, int count)
{
	int64_t end = now_ms() + 20000;

	while ((!s->n || s->seq[s->n - 1] < seq) &&
	       (!count || s->n < count)) {
		json_object *f, *ds;
		const char *type;

		cr_assert_lt(now_ms(), end, "subscriber stuck at %d deltas",
			     s->n);
		if (ws_recv(&s->c, 1000) != 1)
			continue;
		f = json_tokener_parse(s->c.msg);
		cr_assert_not_null(f);
		type = json_object_get_string(json_object_object_get(f, "type"));
		if (!strcmp(type, "snapshot")) {
			s->snapshots++;
		} else if (!strcmp(type, "delta")) {
			sub_delta(s, f);
		} else if (!strcmp(type, "batch")) {
			ds = json_object_object_get(f, "deltas");
			for (size_t i = 0; i < json_object_array_length(ds); i++)
				sub_delta(s, json_object_array_get_idx(ds, i));
		}
		json_object_put(f);
	}
}

static void sub_until(struct sub *s, uint64_t seq)
{
	sub_until_n(s, seq, 0);
}

/* Waits until the first n nodes report the same seq; returns it. */
static uint64_t same_seq(int n)
{
	int64_t end = now_ms() + 20000;

	for (;;) {
		uint64_t s[NODES];
		int same = 1;

		for (int i = 0; i < n; i++) {
			s[i] = health_u64(srv[i].port, "seq", NULL);
			same &= s[i] == s[0] && s[0];
		}
		if (same)
			return s[0];
		cr_assert_lt(now_ms(), end, "nodes disagree: %llu %llu",
			     (unsigned long long)s[0],
			     (unsigned long long)s[n - 1]);
	}
}

struct writer {
	pthread_t t;
	int node;
	int port;
	int acked;               /* creates and patches answered 2xx */
	int failed;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	char path[64], body[160];

	for (int i = 0; i < WRITES; i++) {
		struct http_response r;

		snprintf(body, sizeof(body), "{\"id\":\"n%d-%d\",\"source\":"
			 "\"cmd\",\"title\":\"w\"}", w->node, i);
		if (!http_request(w->port, "POST", "/race", body, &r) &&
		    r.status == 201)
			w->acked++;
		else
			w->failed++;
		http_response_free(&r);
		snprintf(path, sizeof(path), "/race/n%d-%d", w->node, i);
		if (!http_request(w->port, "PATCH", path,
				  "{\"progress\":50}", &r) && r.status == 200)
			w->acked++;
		else
			w->failed++;
		http_response_free(&r);
		/* Everyone writes one shared race too: one order decides. */
		snprintf(body, sizeof(body), "{\"progress\":%d}", i);
		if (!http_request(w->port, "PATCH", "/race/shared", body,
				  &r) && r.status == 200)
			w->acked++;
		else
			w->failed++;
		http_response_free(&r);
	}
	return NULL;
}

Test(cluster_nodes, every_subscriber_sees_one_order_and_every_acked_write)
{
	struct sub subs[NODES];
	struct writer w[NODES];
	uint64_t last = 0;
	int st;

	for (int i = 0; i < NODES; i++)
		start_node(i, "RB", "1");
	for (int i = 0; i < NODES; i++)
		sub_open(&subs[i], srv[i].port);
	json_object_put(rest(srv[0].port, "POST", "/race",
		"{\"id\":\"shared\",\"source\":\"cmd\",\"title\":\"s\"}", &st));
	cr_assert_eq(st, 201);
	for (int i = 0; i < NODES; i++) {
		w[i] = (struct writer){.node = i, .port = srv[i].port};
		cr_assert_eq(pthread_create(&w[i].t, NULL, writer_main, &w[i]),
			     0);
	}
	for (int i = 0; i < NODES; i++) {
		pthread_join(w[i].t, NULL);
		cr_assert_eq(w[i].failed, 0, "node %d: %d writes failed", i,
			     w[i].failed);
	}
		last = same_seq(NODES);
	for (int i = 0; i < NODES; i++)
		sub_until(&subs[i], last);
	/* One order: the same seqs everywhere (1 create of shared, and for
	 * each writer WRITES creates, patches and shared patches, some of
	 * which may change nothing). */
	for (int i = 1; i < NODES; i++) {
		cr_assert_eq(subs[i].n, subs[0].n, "node %d saw %d deltas, "
			     "node 0 %d", i, subs[i].n, subs[0].n);
		for (int k = 0; k < subs[0].n; k++)
			cr_assert_eq(subs[i].seq[k], subs[0].seq[k]);
	}
	cr_assert_geq(subs[0].n, 1 + NODES * WRITES * 2);
	/* Every acknowledged write is on every node. */
	for (int i = 0; i < NODES; i++)
		for (int n = 0; n < NODES; n++)
			for (int k = 0; k < WRITES; k++) {
				char path[64];
				json_object *o;

				snprintf(path, sizeof(path), "/race/n%d-%d", n,
					 k);
				o = rest(srv[i].port, "GET", path, NULL, &st);
				cr_assert_eq(st, 200, "%s on node %d", path, i);
				cr_assert_eq(json_object_get_int(
					json_object_object_get(o, "progress")),
					50);
				json_object_put(o);
			}
	for (int i = 0; i < NODES; i++)
		ws_close(&subs[i].c);
}

Test(cluster_nodes, a_node_whose_settings_disagree_with_the_stream_exits)
{
	char out[4096];
	const char *args[] = {"--port", "0", "--nats", nats.url,
			      "--nats-stream", "RBX", "--nats-replicas", "3",
			      NULL};

	start_node(0, "RBX", "1");
	cr_assert_eq(server_run_once(args, out, sizeof(out)), 2, "%s", out);
	cr_assert_not_null(strstr(out, "RBX"), "%s", out);
	cr_assert_not_null(strstr(out, "1 replica"), "%s", out);
}

/* The next heartbeat of a subscriber (others are skipped): its "stale"
 * value, or "" when it has none. */
static void next_heartbeat_stale(struct sub *s, char *out, size_t cap)
{
	int64_t t0 = now_ms();

	for (;;) {
		json_object *m, *v;

		cr_assert_lt(now_ms() - t0, 10000, "a heartbeat");
		if (ws_recv(&s->c, 10000) != 1)
			continue;
		m = json_tokener_parse(s->c.msg);
		cr_assert_not_null(m, "%s", s->c.msg);
		if (strcmp(json_object_get_string(json_object_object_get(
			m, "type")), "heartbeat")) {
			json_object_put(m);
			continue;
		}
		v = json_object_object_get(m, "stale");
		snprintf(out, cap, "%s", v ? json_object_get_string(v) : "");
		json_object_put(m);
		return;
	}
}

Test(cluster_nodes, with_nats_down_writes_get_503_at_once_and_reads_go_on)
{
	struct http_response r;
	struct sub s;
	char stale[32];
	json_object *o;
	int st;
	int64_t t0;

	start_node_ex(0, "RBD", "1", "--heartbeat", "1");
	sub_open(&s, srv[0].port);
	next_heartbeat_stale(&s, stale, sizeof(stale));
	cr_assert_str_eq(stale, "", "a healthy node's heartbeat is not stale");
	json_object_put(rest(srv[0].port, "POST", "/race",
		"{\"id\":\"a\",\"source\":\"cmd\",\"title\":\"t\"}", &st));
	cr_assert_eq(st, 201);
	cr_assert_eq(health_u64(srv[0].port, "cluster", "lag"), 0);
	nats_kill(&nats);
	/* The client library notices the dead connection at once. */
	t0 = now_ms();
	while (strcmp("disconnected", json_object_get_string(
		json_object_object_get(json_object_object_get(
			o = rest(srv[0].port, "GET", "/health", NULL, &st),
			"cluster"), "nats")))) {
		json_object_put(o);
		cr_assert_lt(now_ms() - t0, 10000, "health says disconnected");
	}
	cr_assert_eq(st, 503, "a load balancer moves clients away");
	json_object_put(o);
	t0 = now_ms();
	o = rest(srv[0].port, "PATCH", "/race/a", "{\"progress\":9}", &st);
	cr_assert_eq(st, 503);
	cr_assert_str_eq(json_object_get_string(
		json_object_object_get(o, "error")), "cluster_unavailable");
	cr_assert_lt(now_ms() - t0, 3000, "within a bounded time");
	json_object_put(o);
	cr_assert_eq(http_request(srv[0].port, "GET", "/race/a", NULL, &r), 0);
	cr_assert_eq(r.status, 200, "reads go on");
	cr_assert_eq(http_header(&r, "raceboard-stale", stale, sizeof(stale)),
		     0, "and say they are stale: %s", r.headers);
	cr_assert_str_eq(stale, "disconnected");
	http_response_free(&r);
	/* A subscriber hears it from the heartbeats, the only frames a node
	 * cut off from the stream still has to send. */
	next_heartbeat_stale(&s, stale, sizeof(stale));
	cr_assert_str_eq(stale, "disconnected");
	/* NATS back: writes go through again. */
	cr_assert_eq(nats_restart(&nats), 0);
	t0 = now_ms();
	for (;;) {
		o = rest(srv[0].port, "PATCH", "/race/a", "{\"progress\":9}",
			 &st);
		json_object_put(o);
		if (st == 200)
			break;
		cr_assert_lt(now_ms() - t0, 15000, "writes resume");
	}
	cr_assert_eq(http_request(srv[0].port, "GET", "/race/a", NULL, &r), 0);
	cr_assert_neq(http_header(&r, "raceboard-stale", stale, sizeof(stale)),
		      0, "fresh again: %s", r.headers);
	http_response_free(&r);
	ws_close(&s.c);
}

Test(cluster_nodes, a_killed_node_s_subscriber_resumes_elsewhere_and_it_catches_up)
{
	struct sub ref, v;
	struct writer w[2];
	uint64_t last;
	int st, first = -1;

	for (int i = 0; i < NODES; i++)
		start_node(i, "RBK", "1");
	json_object_put(rest(srv[0].port, "POST", "/race",
		"{\"id\":\"shared\",\"source\":\"cmd\",\"title\":\"s\"}", &st));
	cr_assert_eq(st, 201);
	sub_open(&ref, srv[0].port);
	sub_open(&v, srv[2].port);
	for (int i = 0; i < 2; i++) {
		w[i] = (struct writer){.node = i, .port = srv[i].port};
		cr_assert_eq(pthread_create(&w[i].t, NULL, writer_main, &w[i]),
			     0);
	}
	/* Mid-stream, node 2 dies; its subscriber moves to node 0. */
	sub_until_n(&v, UINT64_MAX, 10);
	server_kill(&srv[2]);
	sub_resume(&v, srv[0].port);
	for (int i = 0; i < 2; i++) {
		pthread_join(w[i].t, NULL);
		cr_assert_eq(w[i].failed, 0, "writer on node %d: %d failed", i,
			     w[i].failed);
	}
	last = same_seq(2);
	sub_until(&ref, last);
	sub_until(&v, last);
	cr_assert_eq(v.snapshots, 1, "resumed with deltas, no reset");
	/* No gap, no repeat: from where v started, what ref saw. */
	for (int k = 0; k < ref.n && first < 0; k++)
		if (ref.seq[k] == v.seq[0])
			first = k;
	cr_assert_geq(first, 0);
	cr_assert_eq(ref.n - first, v.n, "ref %d from %d, v %d", ref.n, first,
		     v.n);
	for (int k = 0; k < v.n; k++)
		cr_assert_eq(v.seq[k], ref.seq[first + k]);
	/* The node comes back on its data dir and catches up. */
	cr_assert_eq(server_restart(&srv[2], node_args[2]), 0);
	cr_assert_eq(same_seq(NODES), last);
	for (int n = 0; n < 2; n++)
		for (int k = 0; k < WRITES; k++) {
			char path[64];
			json_object *o;

			snprintf(path, sizeof(path), "/race/n%d-%d", n, k);
			o = rest(srv[2].port, "GET", path, NULL, &st);
			cr_assert_eq(st, 200, "%s after the restart", path);
			json_object_put(o);
		}
	ws_close(&ref.c);
	ws_close(&v.c);
}

Test(cluster_nodes, a_resume_from_the_delta_log_skips_seqs_that_changed_nothing)
{
	struct sub v;
	json_object *o;
	char body[64];
	int st;

	/* A small ring, so the resume below is served from LMDB. */
	start_node_ex(0, "RBH", "1", "--ws-backlog", "16");
	json_object_put(rest(srv[0].port, "POST", "/race",
		"{\"id\":\"a\",\"source\":\"cmd\",\"title\":\"t\"}", &st));
	cr_assert_eq(st, 201);
	cr_assert_eq(health_u64(srv[0].port, "seq", NULL), 1);
	/* A 404 takes stream seq 2 and changes nothing: seq 2 is skipped. */
	o = rest(srv[0].port, "PATCH", "/race/nope", "{\"progress\":1}", &st);
	json_object_put(o);
	cr_assert_eq(st, 404);
	for (int k = 0; k < 20; k++) {
		snprintf(body, sizeof(body), "{\"progress\":%d}", k + 1);
		json_object_put(rest(srv[0].port, "PATCH", "/race/a", body,
				     &st));
		cr_assert_eq(st, 200);
	}
	cr_assert_eq(health_u64(srv[0].port, "seq", NULL), 22);
	memset(&v, 0, sizeof(v));
	v.seq[v.n++] = 1; /* what this client saw before */
	v.c.fd = -1;
	cr_assert_eq(ws_open(&v.c, srv[0].port, "/ws"), 0);
	cr_assert_eq(ws_recv(&v.c, 10000), 1, "hello");
	cr_assert_eq(ws_send(&v.c, "{\"type\":\"subscribe\",\"since\":1}"), 0);
	sub_until(&v, 22);
	cr_assert_eq(v.snapshots, 0, "deltas from the log, not a reset");
	cr_assert_eq(v.n, 21, "seq 1, then 3..22");
	cr_assert_eq(v.seq[1], 3);
	ws_close(&v.c);
}

Test(cluster_nodes, a_node_started_before_nats_comes_up_once_nats_does)
{
	const char *args[] = {"--nats", nats.url, "--nats-stream", "RBS",
			      "--nats-replicas", "1", "--node", "n0",
			      "--no-sync", "--nats-start-timeout", "60", NULL};
	json_object *o;
	int st;

	nats_stop(&nats);
	cr_assert_eq(server_spawn(&srv[0], args), 0);
	/* It waits, saying why, instead of exiting. */
	cr_assert(server_log_has(&srv[0], "waiting for NATS", 20000),
		  "the node says it waits for NATS");
	cr_assert(server_log_has(&srv[0], "cannot connect to NATS", 0));
	cr_assert_eq(nats_restart(&nats), 0);
	cr_assert_eq(server_wait_ready(&srv[0], 30000), 0,
		     "the node comes up once NATS does");
	cr_assert(server_log_has(&srv[0], "NATS answered after", 0));
	o = rest(srv[0].port, "POST", "/race",
		 "{\"id\":\"a\",\"source\":\"cmd\",\"title\":\"t\"}", &st);
	json_object_put(o);
	cr_assert_eq(st, 201, "and takes writes");
}

Test(cluster_nodes, a_node_gives_up_on_nats_after_the_start_timeout)
{
	char out[4096];
	const char *args[] = {"--port", "0", "--nats", nats.url,
			      "--nats-stream", "RBS", "--nats-replicas", "1",
			      "--nats-start-timeout", "1", NULL};
	int64_t t0;

	nats_stop(&nats);
	t0 = now_ms();
	cr_assert_eq(server_run_once(args, out, sizeof(out)), 1, "%s", out);
	cr_assert_geq(now_ms() - t0, 1000, "it tried for the whole bound");
	cr_assert_not_null(strstr(out, "cannot connect to NATS"), "%s", out);
	cr_assert_not_null(strstr(out, "gave up after"), "%s", out);
}

/* Purges the stream as an operator would ($JS.API.STREAM.PURGE.<name>). */
static void purge_stream(const char *stream)
{
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	jsErrCode jerr = 0;

	cr_assert_eq(natsConnection_ConnectTo(&nc, nats.url), NATS_OK);
	cr_assert_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	cr_assert_eq(js_PurgeStream(js, stream, NULL, &jerr), NATS_OK,
		     "purge: %d", (int)jerr);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* The cluster object of a node's /health, and its status. */
static json_object *cluster_health(int port, int *status)
{
	json_object *o = rest(port, "GET", "/health", NULL, status), *c;

	cr_assert_not_null(o);
	c = json_object_get(json_object_object_get(o, "cluster"));
	json_object_put(o);
	cr_assert_not_null(c);
	return c;
}

static int64_t jint(json_object *o, const char *k)
{
	return json_object_get_int64(json_object_object_get(o, k));
}

Test(cluster_nodes, a_node_whose_missed_entries_were_purged_says_it_has_a_gap)
{
	struct http_response r;
	json_object *o, *c;
	char stale[48];
	int st;
	int64_t t0;

	for (int i = 0; i < 2; i++)
		start_node(i, "RBP", "1");
	json_object_put(rest(srv[0].port, "POST", "/race",
		"{\"id\":\"a\",\"source\":\"cmd\",\"title\":\"t\"}", &st));
	cr_assert_eq(st, 201);
	cr_assert_eq(same_seq(2), 1);
	/* Node 1 is down while entries 2 and 3 are written and purged. */
	cr_assert_eq(server_stop(&srv[1]), 0);
	for (int k = 1; k <= 2; k++) {
		char body[32];

		snprintf(body, sizeof(body), "{\"progress\":%d}", 10 * k);
		json_object_put(rest(srv[0].port, "PATCH", "/race/a", body,
				     &st));
		cr_assert_eq(st, 200);
	}
	purge_stream("RBP");
	cr_assert_eq(server_restart(&srv[1], node_args[1]), 0,
		     "a node with a gap still starts, to say so");
	cr_assert(server_log_has(&srv[1], "entries 2 to 3 are no longer in the "
			  "stream", 10000), "the log names the gap");

	c = cluster_health(srv[1].port, &st);
	cr_assert_eq(st, 503, "a load balancer moves clients away");
	cr_assert_str_eq(json_object_get_string(
		json_object_object_get(c, "reason")), "gap");
	cr_assert_eq(jint(c, "missing_from"), 2);
	cr_assert_eq(jint(c, "missing_to"), 3);
	cr_assert_eq(jint(c, "applied_seq"), 1);
	json_object_put(c);

	/* Reads go on, marked stale; the state is the prefix it has. */
	cr_assert_eq(http_request(srv[1].port, "GET", "/race/a", NULL, &r), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(http_header(&r, "raceboard-stale", stale, sizeof(stale)),
		     0, "%s", r.headers);
	cr_assert_str_eq(stale, "gap=2-3");
	o = json_tokener_parse(r.body);
	cr_assert_eq(jint(o, "progress"), 0, "nothing past the gap");
	json_object_put(o);
	http_response_free(&r);

	/* Writes get 503 at once. */
	o = rest(srv[1].port, "PATCH", "/race/a", "{\"progress\":5}", &st);
	cr_assert_eq(st, 503);
	cr_assert_str_eq(json_object_get_string(
		json_object_object_get(o, "error")), "cluster_gap");
	json_object_put(o);

	/* A later entry does not paper over the gap: it is not applied. */
	json_object_put(rest(srv[0].port, "PATCH", "/race/a",
			     "{\"progress\":40}", &st));
	cr_assert_eq(st, 200);
	t0 = now_ms();
	for (;;) {
		c = cluster_health(srv[1].port, &st);
		if (jint(c, "stream_last_seq") >= 4)
			break;
		json_object_put(c);
		cr_assert_lt(now_ms() - t0, 10000, "the monitor sees seq 4");
	}
	cr_assert_eq(st, 503);
	cr_assert_eq(jint(c, "applied_seq"), 1);
	json_object_put(c);

	/* The node that has everything is healthy. */
	c = cluster_health(srv[0].port, &st);
	cr_assert_eq(st, 200);
	cr_assert_null(json_object_object_get(c, "reason"));
	json_object_put(c);

	/* And a restart finds the same gap: its store stayed a prefix. */
	cr_assert_eq(server_stop(&srv[1]), 0);
	cr_assert_eq(server_restart(&srv[1], node_args[1]), 0);
	c = cluster_health(srv[1].port, &st);
	cr_assert_eq(st, 503);
	cr_assert_eq(jint(c, "missing_from"), 2);
	cr_assert_eq(jint(c, "missing_to"), 3);
	json_object_put(c);
}

/* The store.state of a node's /health. */
static int store_full(int port)
{
	int st;
	json_object *o = rest(port, "GET", "/health", NULL, &st);
	int full = !strcmp(json_object_get_string(json_object_object_get(
		json_object_object_get(o, "store"), "state")), "full");

	json_object_put(o);
	return full;
}

Test(cluster_nodes, a_node_whose_commit_failed_applies_those_entries_again_not_later_ones)
{
	static char body[4400], pad[4001];
	const char *big[] = {"--nats", nats.url, "--nats-stream", "RBF",
			     "--nats-replicas", "1", "--node", "n1",
			     "--no-sync", "--max-store-mb", "64", NULL};
	json_object *c;
	uint64_t last;
	int st, n = 0;
	int64_t t0;

	memset(pad, 'x', 4000);
	start_node(0, "RBF", "1");
	start_node_ex(1, "RBF", "1", "--max-store-mb", "1");
	/* Node 0 has room; node 1's commits start failing (map full). */
	while (!store_full(srv[1].port)) {
		snprintf(body, sizeof(body), "{\"id\":\"f%d\",\"source\":"
			 "\"fill\",\"title\":\"t\",\"metadata\":{\"pad\":"
			 "\"%s\"}}", n, pad);
		json_object_put(rest(srv[0].port, "POST", "/race", body, &st));
		cr_assert_eq(st, 201, "node 0 takes write %d", n);
		cr_assert_lt(++n, 2000, "node 1's store never filled up");
	}
	cr_assert(server_log_has(&srv[1], "commit of "
			  "", 10000), "node 1 says it applies them again");
	/* A small write after the ones node 1 could not store: applying
	 * it there would serve a state with a hole. */
	json_object_put(rest(srv[0].port, "POST", "/race",
		"{\"id\":\"late\",\"source\":\"cmd\",\"title\":\"t\"}", &st));
	cr_assert_eq(st, 201);
	last = health_u64(srv[0].port, "seq", NULL);
	t0 = now_ms();
	for (;;) {
		c = cluster_health(srv[1].port, &st);
		if ((uint64_t)jint(c, "stream_last_seq") >= last)
			break;
		json_object_put(c);
		cr_assert_lt(now_ms() - t0, 10000, "node 1 sees seq %llu",
			     (unsigned long long)last);
	}
	cr_assert_eq(st, 503);
	cr_assert_lt((uint64_t)jint(c, "applied_seq"), last,
		     "node 1 stays behind the entries it could not store");
	json_object_put(c);
	json_object_put(rest(srv[1].port, "GET", "/race/late", NULL, &st));
	cr_assert_eq(st, 404, "and does not apply later ones on top");
	/* With room, it applies them all, in order. */
	cr_assert_eq(server_stop(&srv[1]), 0);
	cr_assert_eq(server_restart(&srv[1], big), 0);
	cr_assert_eq(same_seq(2), last);
	json_object_put(rest(srv[1].port, "GET", "/race/late", NULL, &st));
	cr_assert_eq(st, 200);
	snprintf(body, sizeof(body), "/race/f%d", n - 1);
	json_object_put(rest(srv[1].port, "GET", body, NULL, &st));
	cr_assert_eq(st, 200);
}

/* A GitLab delivery whose job is running: a create plus its event. */
Test(cluster_nodes, a_webhook_create_and_its_event_are_one_entry)
{
	char path[1024], *req;
	const char *flags[] = {"--nats", nats.url, "--nats-stream", "RBW",
			       "--nats-replicas", "1", "--node", "w0",
			       "--no-sync", "--gitlab-secret", "s3cret", NULL};
	const char *flags1[] = {"--nats", nats.url, "--nats-stream", "RBW",
				"--nats-replicas", "1", "--node", "w1",
				"--no-sync", "--gitlab-secret", "s3cret", NULL};
	struct http_response r;
	json_object *o, *ev;
	char id[256];
	long len;
	int n, st;
	FILE *f;

	cr_assert_eq(server_start(&srv[0], flags), 0);
	cr_assert_eq(server_start(&srv[1], flags1), 0);
	snprintf(path, sizeof(path), "%s/gitlab/job_running.json",
		 HOOKS_FIXTURES);
	f = fopen(path, "rb");
	cr_assert(f, "%s", path);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	req = malloc((size_t)len + 512);
	cr_assert(req);
	n = snprintf(req, 512, "POST /hooks/gitlab HTTP/1.1\r\n"
		     "Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
		     "Content-Length: %ld\r\nX-Gitlab-Event: Job Hook\r\n"
		     "X-Gitlab-Token: s3cret\r\n\r\n", len);
	cr_assert_eq(fread(req + n, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	cr_assert_eq(http_raw(srv[0].port, req, (size_t)n + (size_t)len, &r),
		     0);
	free(req);
	cr_assert_eq(r.status, 201, "%s", r.body);
	o = json_tokener_parse(r.body);
	http_response_free(&r);
	cr_assert_not_null(o);
	snprintf(id, sizeof(id), "/race/%s", json_object_get_string(
		json_object_object_get(o, "id")));
	json_object_put(o);
	/* One entry: the stream's first, on both nodes. */
	cr_assert_eq(same_seq(2), 1, "the create and its event are seq 1");
	for (int i = 0; i < 2; i++) {
		json_object *c = cluster_health(srv[i].port, &st);

		cr_assert_eq(jint(c, "applied_seq"), 1);
		json_object_put(c);
		o = rest(srv[i].port, "GET", id, NULL, &st);
		cr_assert_eq(st, 200);
		cr_assert(json_object_object_get_ex(o, "events", &ev));
		cr_assert_eq(json_object_array_length(ev), 1,
			     "node %d has the event", i);
		json_object_put(o);
	}
}
