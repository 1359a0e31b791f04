/*
 * test_server_ws.c - the WebSocket protocol of the real server binary:
 * snapshot then deltas, filters, resume (after a disconnect and after a
 * restart), reset, producer acks, malformed frames, a stalled subscriber.
 *
 * A test client rebuilds races from the frames with the protocol layer's
 * own delta applier and compares them with GET /race/{id}.
 */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "delta.h"
#include "json.h"
#include "support/http_client.h"
#include "support/server_proc.h"
#include "support/ws_client.h"
#include "support/ws_model.h"

static struct server_proc srv;

static void stop(void)
{
	server_cleanup(&srv);
}

TestSuite(ws, .fini = stop, .timeout = 120);

/* ---- helpers over REST, on this test's server ---- */

static json_object *rest(const char *method, const char *path,
			 const char *body, int *status)
{
	return rest_json(srv.port, method, path, body, status);
}

static uint64_t rest_seq(void)
{
	return rest_seq_of(srv.port);
}

static void patch(const char *id, const char *body)
{
	char path[160];
	int st;

	snprintf(path, sizeof(path), "/race/%s", id);
	json_object_put(rest("PATCH", path, body, &st));
	cr_assert_eq(st, 200, "PATCH %s %s", id, body);
}

static void create(const char *id, const char *source, const char *state)
{
	char body[256];
	int st;

	snprintf(body, sizeof(body),
		 "{\"id\":\"%s\",\"source\":\"%s\",\"title\":\"t %s\","
		 "\"state\":\"%s\",\"progress\":1}", id, source, id, state);
	json_object_put(rest("POST", "/race", body, &st));
	cr_assert(st == 201 || st == 200);
}

/* The model equals the server: same races, each as GET /race shows it
 * (minus the read-time progress_prediction). */
static void assert_model_matches_server(struct model *m)
{
	model_assert_matches(m, srv.port);
}

static void subscribe(struct ws_client *c, struct model *m, const char *msg)
{
	json_object *hello;

	cr_assert_eq(ws_open(c, srv.port, "/ws"), 0, "upgrade accepted");
	hello = next_frame(c);
	cr_assert_str_eq(type_of(hello), "hello");
	cr_assert_str_eq(json_object_get_string(
		json_object_object_get(hello, "protocol")), "raceboard.v1");
	json_object_put(hello);
	cr_assert_eq(ws_send(c, msg), 0);
	(void)m;
}

/* ---- tests ---- */

Test(ws, snapshot_then_deltas_rebuild_the_server_state)
{
	struct ws_client c;
	struct model m = {0};
	json_object *f;

	cr_assert_eq(server_start(&srv, NULL), 0);
	create("a", "cmd", "running");
	create("b", "gitlab", "queued");
	subscribe(&c, &m, "{\"type\":\"subscribe\"}");
	f = next_frame(&c);
	cr_assert_str_eq(model_frame(&m, f), "snapshot");
	json_object_put(f);
	cr_assert_eq(m.n, 2);
	cr_assert_eq(m.seq, rest_seq());
	patch("a", "{\"progress\":40,\"eta_sec\":90}");
	patch("a", "{\"metadata\":{\"k\":\"v\"}}");
	patch("b", "{\"state\":\"running\"}");
	json_object_put(rest("POST", "/race/a/event",
			     "{\"type\":\"log\",\"data\":[1,2]}", NULL));
	patch("a", "{\"state\":\"passed\"}");
	json_object_put(rest("DELETE", "/race/b", NULL, NULL));
	create("c", "cmd", "running");
	model_sync(&m, &c, rest_seq());
	assert_model_matches_server(&m);
	model_clear(&m);
	ws_close(&c);
}

Test(ws, filters_select_races_and_deliver_entering_ones_whole)
{
	struct ws_client c;
	struct model m = {0};
	json_object *f;

	cr_assert_eq(server_start(&srv, NULL), 0);
	create("x1", "gitlab", "running");
	create("x2", "cmd", "running");
	create("x3", "gitlab", "queued");
	subscribe(&c, &m, "{\"type\":\"subscribe\",\"filter\":{"
		  "\"sources\":[\"gitlab\"],\"states\":[\"running\"]}}");
	f = next_frame(&c);
	model_frame(&m, f);
	json_object_put(f);
	cr_assert_eq(m.n, 1, "only x1 matches");
	cr_assert_str_eq(m.races[0]->id, "x1");

	patch("x2", "{\"progress\":50}");        /* other source: not sent */
	patch("x3", "{\"state\":\"running\"}");  /* enters: sent whole */
	f = next_frame(&c);
	if (!strcmp(type_of(f), "batch"))
		f = json_object_get(json_object_array_get_idx(
			json_object_object_get(f, "deltas"), 0));
	cr_assert_str_eq(json_object_get_string(json_object_object_get(f, "op")),
			 "create", "a race entering the filter arrives whole");
	cr_assert_str_eq(json_object_get_string(json_object_object_get(f, "id")),
			 "x3");
	json_object_put(f);
	ws_close(&c);
	model_clear(&m);
}

Test(ws, resume_with_since_replays_exactly_the_missed_deltas)
{
	struct ws_client c;
	struct model m = {0};
	json_object *f;
	uint64_t seen;

	cr_assert_eq(server_start(&srv, NULL), 0);
	create("r", "cmd", "running");
	subscribe(&c, &m, "{\"type\":\"subscribe\"}");
	f = next_frame(&c);
	model_frame(&m, f);
	json_object_put(f);
	seen = m.seq;
	ws_close(&c);

	patch("r", "{\"progress\":10}");
	patch("r", "{\"progress\":20}");
	create("s", "cmd", "running");

	char msg[128];
	snprintf(msg, sizeof(msg), "{\"type\":\"subscribe\",\"since\":%llu}",
		 (unsigned long long)seen);
	subscribe(&c, &m, msg);
	model_sync(&m, &c, rest_seq());
	cr_assert_eq(m.snapshots, 1, "no second snapshot on a resume");
	cr_assert_eq(m.deltas, 3);
	assert_model_matches_server(&m);
	ws_close(&c);
	model_clear(&m);
}

Test(ws, resume_after_a_server_restart_replays_from_the_log)
{
	struct ws_client c;
	struct model m = {0};
	json_object *f;
	char msg[128];

	cr_assert_eq(server_start(&srv, NULL), 0);
	create("r", "cmd", "running");
	subscribe(&c, &m, "{\"type\":\"subscribe\"}");
	f = next_frame(&c);
	model_frame(&m, f);
	json_object_put(f);
	ws_close(&c);
	cr_assert_eq(server_stop(&srv), 0);
	cr_assert_eq(server_restart(&srv, NULL), 0);
	patch("r", "{\"progress\":30}");
	patch("r", "{\"eta_sec\":12}");

	snprintf(msg, sizeof(msg), "{\"type\":\"subscribe\",\"since\":%llu}",
		 (unsigned long long)m.seq);
	subscribe(&c, &m, msg);
	model_sync(&m, &c, rest_seq());
	cr_assert_eq(m.snapshots, 1, "deltas replayed, not a new snapshot");
	assert_model_matches_server(&m);
	ws_close(&c);
	model_clear(&m);
}

Test(ws, a_since_older_than_the_log_gets_a_reset_snapshot)
{
	static const char *const flags[] = {"--delta-log", "4", "--ws-backlog",
					    "16", NULL};
	struct ws_client c;
	struct model m = {0};
	json_object *f;

	cr_assert_eq(server_start(&srv, flags), 0);
	create("r", "cmd", "running");
	for (int i = 0; i < 40; i++) {
		char body[64];

		snprintf(body, sizeof(body), "{\"progress\":%d}", i + 2);
		patch("r", body);
	}
	subscribe(&c, &m, "{\"type\":\"subscribe\",\"since\":1}");
	f = next_frame(&c);
	cr_assert_str_eq(model_frame(&m, f), "snapshot");
	json_object_put(f);
	cr_assert_eq(m.resets, 1, "marked \"reset\": true");
	assert_model_matches_server(&m);
	ws_close(&c);
	model_clear(&m);
}

/*
 * No change may fall between the snapshot and the first delta: a writer
 * process patches continuously while clients subscribe; each client's
 * model must end equal to the server.
 */
Test(ws, no_change_falls_between_snapshot_and_deltas_under_writes)
{
	pid_t writer;
	struct ws_client c[5];
	struct model m[5] = {0};

	cr_assert_eq(server_start(&srv, NULL), 0);
	for (int i = 0; i < 4; i++) {
		char id[8];

		snprintf(id, sizeof(id), "w%d", i);
		create(id, "ci", "running");
	}
	writer = fork();
	if (writer == 0) {
		for (int v = 0; v < 400; v++) {
			char path[32], body[64];
			struct http_response r;

			snprintf(path, sizeof(path), "/race/w%d", v % 4);
			snprintf(body, sizeof(body), "{\"eta_sec\":%d}", 1000 - v);
			if (http_request(srv.port, "PATCH", path, body, &r) == 0)
				http_response_free(&r);
		}
		_exit(0);
	}
	for (int i = 0; i < 5; i++) {
		json_object *f;

		subscribe(&c[i], &m[i], "{\"type\":\"subscribe\"}");
		f = next_frame(&c[i]);
		model_frame(&m[i], f);
		json_object_put(f);
		usleep(20000);
	}
	waitpid(writer, NULL, 0);
	for (int i = 0; i < 5; i++) {
		model_sync(&m[i], &c[i], rest_seq());
		assert_model_matches_server(&m[i]);
		ws_close(&c[i]);
		model_clear(&m[i]);
	}
}

Test(ws, randomized_writes_keep_snapshot_plus_deltas_equal_to_get)
{
	struct ws_client c;
	struct model m = {0};
	json_object *f;
	unsigned seed = 12345;

	cr_assert_eq(server_start(&srv, NULL), 0);
	subscribe(&c, &m, "{\"type\":\"subscribe\"}");
	f = next_frame(&c);
	model_frame(&m, f);
	json_object_put(f);
	for (int step = 0; step < 300; step++) {
		char id[8], body[256];
		int r = rand_r(&seed) % 100, st;
		static const char *const states[] = {"queued", "running",
						     "passed", "failed",
						     "canceled"};

		snprintf(id, sizeof(id), "q%d", rand_r(&seed) % 6);
		if (r < 15) {
			snprintf(body, sizeof(body),
				 "{\"id\":\"%s\",\"source\":\"s%d\",\"title\":\"t\","
				 "\"eta_sec\":%d}", id, r % 3, r);
			json_object_put(rest("POST", "/race", body, &st));
		} else if (r < 25) {
			char path[32];

			snprintf(path, sizeof(path), "/race/%s", id);
			json_object_put(rest("DELETE", path, NULL, &st));
		} else if (r < 35) {
			char path[48];

			snprintf(path, sizeof(path), "/race/%s/event", id);
			snprintf(body, sizeof(body),
				 "{\"type\":\"e%d\",\"data\":{\"n\":%d}}", r, step);
			json_object_put(rest("POST", path, body, &st));
		} else {
			char path[32];

			snprintf(path, sizeof(path), "/race/%s", id);
			snprintf(body, sizeof(body),
				 "{\"progress\":%d,\"eta_sec\":%d,\"state\":\"%s\","
				 "\"metadata\":{\"k%d\":%s}}",
				 rand_r(&seed) % 101, rand_r(&seed) % 500,
				 states[rand_r(&seed) % 5], r % 4,
				 r % 2 ? "\"v\"" : "null");
			json_object_put(rest("PATCH", path, body, &st));
		}
	}
	model_sync(&m, &c, rest_seq());
	assert_model_matches_server(&m);
	ws_close(&c);
	model_clear(&m);
}

Test(ws, producer_acks_keep_order_and_come_after_durability)
{
	struct ws_client c;
	char msg[256];
	uint64_t last_seq = 0;
	json_object *f, *o;

	cr_assert_eq(server_start(&srv, NULL), 0);
	cr_assert_eq(ws_open(&c, srv.port, "/ws"), 0);
	json_object_put(next_frame(&c)); /* hello */
	cr_assert_eq(ws_send(&c, "{\"type\":\"create\",\"req\":\"c\",\"race\":"
			     "{\"id\":\"p\",\"source\":\"cmd\",\"title\":\"t\"}}"), 0);
	for (int i = 1; i <= 200; i++) {
		snprintf(msg, sizeof(msg),
			 "{\"type\":\"patch\",\"req\":%d,\"id\":\"p\","
			 "\"changes\":{\"eta_sec\":%d}}", i, 5000 - i);
		cr_assert_eq(ws_send(&c, msg), 0);
	}
	f = next_frame(&c);
	cr_assert_str_eq(type_of(f), "ack");
	cr_assert_str_eq(json_object_get_string(json_object_object_get(f, "req")),
			 "c");
	json_object_put(f);
	for (int i = 1; i <= 200; i++) {
		uint64_t seq;

		f = next_frame(&c);
		cr_assert_str_eq(type_of(f), "ack", "frame: %s", c.msg);
		cr_assert_eq(json_object_get_int(json_object_object_get(f, "req")),
			     i, "acks keep request order");
		seq = (uint64_t)json_object_get_int64(json_object_object_get(f, "seq"));
		cr_assert_gt(seq, last_seq);
		last_seq = seq;
		json_object_put(f);
	}
	/* Everything acknowledged survives kill -9. */
	server_kill(&srv);
	cr_assert_eq(server_restart(&srv, NULL), 0);
	o = rest("GET", "/race/p", NULL, NULL);
	cr_assert_eq(json_object_get_int(json_object_object_get(o, "eta_sec")),
		     4800);
	json_object_put(o);
	ws_close(&c);
}

Test(ws, producer_errors_name_the_request_and_the_field)
{
	struct ws_client c;
	json_object *f;

	cr_assert_eq(server_start(&srv, NULL), 0);
	cr_assert_eq(ws_open(&c, srv.port, "/ws"), 0);
	json_object_put(next_frame(&c));
	ws_send(&c, "{\"type\":\"patch\",\"req\":7,\"id\":\"nope\","
		"\"changes\":{\"progress\":5}}");
	f = next_frame(&c);
	cr_assert_str_eq(type_of(f), "error");
	cr_assert_eq(json_object_get_int(json_object_object_get(f, "req")), 7);
	cr_assert_eq(json_object_get_int(json_object_object_get(f, "status")), 404);
	cr_assert_str_eq(json_object_get_string(json_object_object_get(f, "code")),
			 "not_found");
	json_object_put(f);
	ws_send(&c, "{\"type\":\"create\",\"req\":\"x\",\"race\":{\"source\":\"s\","
		"\"title\":\"t\",\"progress\":300}}");
	f = next_frame(&c);
	cr_assert_str_eq(type_of(f), "error");
	cr_assert_str_eq(json_object_get_string(json_object_object_get(f, "field")),
			 "progress");
	json_object_put(f);
	ws_send(&c, "{\"type\":\"create\",\"req\":8,\"race\":{\"id\":\"..\","
		"\"source\":\"s\",\"title\":\"t\"}}");
	f = next_frame(&c);
	cr_assert_str_eq(type_of(f), "error");
	cr_assert_eq(json_object_get_int(json_object_object_get(f, "status")), 400);
	cr_assert_str_eq(json_object_get_string(json_object_object_get(f, "field")),
			 "id");
	json_object_put(f);
	/* RFC 8259 strictly, and integers are never rounded. */
	ws_send(&c, "{'type':'subscribe'}");
	f = next_frame(&c);
	cr_assert_str_eq(json_object_get_string(json_object_object_get(f, "code")),
			 "invalid_json");
	json_object_put(f);
	ws_send(&c, "{\"type\":\"create\",\"race\":{\"source\":\"s\","
		"\"title\":\"a\x01\"}}");
	f = next_frame(&c);
	cr_assert_str_eq(json_object_get_string(json_object_object_get(f, "code")),
			 "invalid_json");
	json_object_put(f);
	ws_send(&c, "{\"type\":\"create\",\"req\":9,\"race\":{\"source\":\"s\","
		"\"title\":\"t\",\"progress\":50.5}}");
	f = next_frame(&c);
	cr_assert_str_eq(type_of(f), "error");
	cr_assert_eq(json_object_get_int(json_object_object_get(f, "req")), 9);
	cr_assert_str_eq(json_object_get_string(json_object_object_get(f, "code")),
			 "invalid_type");
	cr_assert_str_eq(json_object_get_string(json_object_object_get(f, "field")),
			 "progress");
	json_object_put(f);
	ws_send(&c, "{\"type\":\"subscribe\",\"since\":1.5}");
	f = next_frame(&c);
	cr_assert_str_eq(json_object_get_string(json_object_object_get(f, "field")),
			 "since");
	json_object_put(f);
	ws_send(&c, "{\"type\":\"dance\"}");
	f = next_frame(&c);
	cr_assert_str_eq(type_of(f), "error");
	json_object_put(f);
	ws_send(&c, "not json");
	f = next_frame(&c);
	cr_assert_str_eq(json_object_get_string(json_object_object_get(f, "code")),
			 "invalid_json");
	json_object_put(f);
	ws_close(&c);
}

Test(ws, repeated_abuse_closes_with_1008_and_big_messages_with_1009)
{
	struct ws_client c;
	char *big;
	int rc;

	cr_assert_eq(server_start(&srv, NULL), 0);
	cr_assert_eq(ws_open(&c, srv.port, "/ws"), 0);
	json_object_put(next_frame(&c));
	for (int i = 0; i < 10; i++)
		ws_send(&c, "{");
	while ((rc = ws_recv(&c, 10000)) == 1)
		;
	cr_assert_eq(c.close_code, 1008);
	ws_close(&c);

	cr_assert_eq(ws_open(&c, srv.port, "/ws"), 0);
	json_object_put(next_frame(&c));
	big = malloc(70000);
	memset(big, 'a', 69999);
	big[69999] = '\0';
	ws_send(&c, big);
	free(big);
	while ((rc = ws_recv(&c, 10000)) == 1)
		;
	cr_assert_eq(c.close_code, 1009);
	ws_close(&c);
	cr_assert_eq(rest_seq(), 0, "nothing was written");
}

Test(ws, only_the_ws_path_upgrades)
{
	struct ws_client c;

	cr_assert_eq(server_start(&srv, NULL), 0);
	cr_assert_neq(ws_open(&c, srv.port, "/elsewhere"), 0);
}

Test(ws, idle_subscribers_get_heartbeats)
{
	static const char *const flags[] = {"--heartbeat", "1", NULL};
	struct ws_client c;
	struct model m = {0};
	json_object *f;

	cr_assert_eq(server_start(&srv, flags), 0);
	subscribe(&c, &m, "{\"type\":\"subscribe\"}");
	json_object_put(next_frame(&c)); /* snapshot */
	f = next_frame(&c);
	cr_assert_str_eq(type_of(f), "heartbeat");
	cr_assert(json_object_object_get_ex(f, "seq", NULL));
	cr_assert(json_object_object_get_ex(f, "server_time", NULL));
	json_object_put(f);
	ws_close(&c);
}

/*
 * One subscriber stops reading while another keeps up. The reader gets
 * every delta; the stalled one, once it reads again, converges through a
 * reset snapshot, and the server's memory stays bounded meanwhile.
 */
Test(ws, a_stalled_subscriber_neither_blocks_others_nor_grows_memory)
{
	static const char *const flags[] = {"--ws-backlog", "64", "--no-sync",
					    "--delta-log", "100", NULL};
	struct ws_client fast, slow;
	struct model mf = {0}, ms = {0};
	json_object *f;
	char pad[4000], body[8300];
	long rss_mid, rss_end;

	/* Freed memory must really be returned for RSS to mean anything. */
	setenv("ASAN_OPTIONS", "quarantine_size_mb=0:detect_leaks=1", 1);
	cr_assert_eq(server_start(&srv, flags), 0);
	create("big", "cmd", "running");
	cr_assert_eq(ws_open_ex(&slow, srv.port, "/ws", NULL, 4096), 0);
	json_object_put(next_frame(&slow)); /* hello */
	ws_send(&slow, "{\"type\":\"subscribe\"}");
	f = next_frame(&slow);
	model_frame(&ms, f);
	json_object_put(f);
	subscribe(&fast, &mf, "{\"type\":\"subscribe\"}");
	f = next_frame(&fast);
	model_frame(&mf, f);
	json_object_put(f);

	/* 16 MB of deltas: more than the socket buffers can hide; a queue
	 * that grew with them would add 8 MB over the second half. */
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	rss_mid = 0;
	for (int i = 0; i < 2000; i++) {
		snprintf(body, sizeof(body),
			 "{\"progress\":%d,\"metadata\":{\"a\":\"%d%s\","
			 "\"b\":\"%s\"}}", i % 100, i, pad + 10, pad);
		patch("big", body);
		if (i % 50 == 0)
			model_sync(&mf, &fast, rest_seq());
		if (i == 1000)
			rss_mid = server_rss_kb(&srv);
	}
	model_sync(&mf, &fast, rest_seq());
	cr_assert_eq(mf.resets, 0, "the reader never fell behind");
	assert_model_matches_server(&mf);
	rss_end = server_rss_kb(&srv);
	cr_assert(!server_rss_meaningful() || rss_end < rss_mid + 4 * 1024,
		     "memory does not grow with the stalled backlog: "
		     "%ld kB at half way, %ld kB at the end", rss_mid, rss_end);

	/* Now the stalled one reads: it must converge. */
	while (ms.seq < rest_seq()) {
		cr_assert_eq(ws_recv(&slow, 10000), 1);
		f = json_tokener_parse(slow.msg);
		model_frame(&ms, f);
		json_object_put(f);
	}
	cr_assert_geq(ms.resets, 1, "the stalled subscriber got a reset");
	assert_model_matches_server(&ms);
	ws_close(&fast);
	ws_close(&slow);
	model_clear(&mf);
	model_clear(&ms);
}

Test(ws, a_silent_client_is_closed_with_1008_after_the_deadline)
{
	static const char *const flags[] = {"--subscribe-deadline", "1", NULL};
	struct ws_client c;

	cr_assert_eq(server_start(&srv, flags), 0);
	cr_assert_eq(ws_open(&c, srv.port, "/ws"), 0);
	json_object_put(next_frame(&c)); /* hello */
	while (ws_recv(&c, 10000) == 1)
		;
	cr_assert_eq(c.close_code, 1008);
	ws_close(&c);
}

Test(ws, health_counts_subscribers_and_backlog_resets)
{
	struct ws_client c;
	struct model m = {0};
	json_object *h, *w;

	cr_assert_eq(server_start(&srv, NULL), 0);
	subscribe(&c, &m, "{\"type\":\"subscribe\"}");
	json_object_put(next_frame(&c));
	h = rest("GET", "/health", NULL, NULL);
	w = json_object_object_get(h, "websocket");
	cr_assert(w);
	cr_assert_eq(json_object_get_int(json_object_object_get(w, "subscribers")), 1);
	cr_assert(json_object_object_get_ex(w, "backlog_resets", NULL));
	json_object_put(h);
	ws_close(&c);
}

/*
 * A subscribe that arrives in the same loop turn as writes: its snapshot
 * reflects the whole committed batch and the deltas after it, each change
 * exactly once (an event applied twice would show in the comparison).
 */
Test(ws, a_snapshot_taken_mid_batch_neither_misses_nor_repeats)
{
	static const char *const msgs[] = {
		"{\"type\":\"patch\",\"req\":2,\"id\":\"m\","
		"\"changes\":{\"progress\":10}}",
		"{\"type\":\"subscribe\"}",
		"{\"type\":\"event\",\"req\":3,\"id\":\"m\","
		"\"event\":{\"type\":\"once\"}}",
	};
	unsigned char buf[1024];
	size_t n = 0;
	struct ws_client c;
	struct model m = {0};
	int acks = 0, snapshots = 0;

	cr_assert_eq(server_start(&srv, NULL), 0);
	create("m", "cmd", "running");
	cr_assert_eq(ws_open(&c, srv.port, "/ws"), 0);
	json_object_put(next_frame(&c)); /* hello */
	for (size_t i = 0; i < 3; i++)
		n += ws_encode_frame(msgs[i], buf + n, sizeof(buf) - n);
	cr_assert_eq(ws_send_raw(&c, buf, n), 0);
	while (acks < 2 || snapshots < 1 || m.seq < rest_seq()) {
		json_object *f = next_frame(&c);
		const char *t = type_of(f);

		if (!strcmp(t, "ack"))
			acks++;
		else if (!strcmp(t, "snapshot") || !strcmp(t, "delta") ||
			 !strcmp(t, "batch"))
			snapshots += !strcmp(model_frame(&m, f), "snapshot");
		json_object_put(f);
	}
	assert_model_matches_server(&m);
	ws_close(&c);
	model_clear(&m);
}

Test(ws, errors_known_at_once_still_wait_their_turn)
{
	struct ws_client c;
	unsigned char buf[1024];
	size_t n = 0;
	static const char *const msgs[] = {
		"{\"type\":\"create\",\"req\":1,\"race\":{\"source\":\"s\","
		"\"title\":\"t\"}}",
		"{\"type\":\"patch\",\"req\":2,\"id\":\"x\","
		"\"changes\":{\"progress\":500}}",
		"{\"type\":\"patch\",\"req\":3,\"id\":\"nope\","
		"\"changes\":{\"progress\":5}}",
	};

	cr_assert_eq(server_start(&srv, NULL), 0);
	cr_assert_eq(ws_open(&c, srv.port, "/ws"), 0);
	json_object_put(next_frame(&c)); /* hello */
	for (size_t i = 0; i < 3; i++)
		n += ws_encode_frame(msgs[i], buf + n, sizeof(buf) - n);
	cr_assert_eq(ws_send_raw(&c, buf, n), 0);
	for (int want = 1; want <= 3; want++) {
		json_object *f = next_frame(&c);

		cr_assert_eq(json_object_get_int(json_object_object_get(f, "req")),
			     want, "replies keep request order: %s", c.msg);
		json_object_put(f);
	}
	ws_close(&c);
}

/*
 * Subscribers that ask at the same moment share one snapshot buffer, and
 * frames larger than one write go out in pieces from that shared buffer
 * (lws writes each piece's header just before it, over text another
 * session may still have to send). Every subscriber must still get the
 * exact text: valid JSON, the same races, and then every delta.
 */
Test(ws, subscribers_sharing_large_frames_each_get_them_intact)
{
	enum { SUBS = 3, RACES = 200 };
	struct ws_client c[SUBS];
	struct model m[SUBS];
	char pad[1001], body[1200], id[32], *first = NULL;

	cr_assert_eq(server_start(&srv, NULL), 0);
	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (int i = 0; i < RACES; i++) {
		snprintf(id, sizeof(id), "r%d", i);
		create(id, "cmd", "running");
		snprintf(body, sizeof(body), "{\"metadata\":{\"pad\":\"%d%s\"}}",
			 i, pad);
		patch(id, body);
	}
	memset(m, 0, sizeof(m));
	for (int i = 0; i < SUBS; i++)
		subscribe(&c[i], &m[i], "{\"type\":\"subscribe\"}");
	for (int i = 0; i < SUBS; i++) {
		json_object *f = next_frame(&c[i]), *arr;
		const char *races;

		cr_assert_gt(c[i].msg_len, 3 * 64 * 1024,
			     "the snapshot takes several writes");
		cr_assert_str_eq(model_frame(&m[i], f), "snapshot");
		/* Snapshots encoded apart (the sharing window is 50 ms, a
		 * loaded machine can exceed it) differ only in the read-time
		 * progress_prediction; everything else must be equal. */
		arr = json_object_object_get(f, "races");
		for (size_t k = 0; k < json_object_array_length(arr); k++)
			json_object_object_del(json_object_array_get_idx(arr, k),
					       "progress_prediction");
		races = json_object_to_json_string(arr);
		if (first)
			cr_assert_str_eq(races, first);
		else
			first = strdup(races);
		json_object_put(f);
		cr_assert_eq(m[i].n, RACES);
	}
	free(first);
	for (int i = 0; i < RACES; i += 2) {
		snprintf(id, sizeof(id), "r%d", i);
		snprintf(body, sizeof(body),
			 "{\"progress\":50,\"metadata\":{\"more\":\"%s\"}}", pad);
		patch(id, body);
	}
	for (int i = 0; i < SUBS; i++) {
		model_sync(&m[i], &c[i], rest_seq());
		assert_model_matches_server(&m[i]);
		ws_close(&c[i]);
		model_clear(&m[i]);
	}
}
