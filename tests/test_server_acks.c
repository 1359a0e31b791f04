/*
 * test_server_acks.c - producers do not wait for the audience (issue 15),
 * against the real server binary on an ephemeral loopback port.
 *
 * A thousand subscribers that read nothing while producers write: every
 * producer still gets each answer, in request order, from a durable
 * commit; then every subscriber, reading again, gets every delta exactly
 * once and in order (or a counted reset: none is expected here), however
 * the server grouped them into frames. Nothing here measures time: a
 * reply that waited for the subscribers would still arrive, so what is
 * asserted is what the subscribers got and in which order, and that the
 * server woke them through the hub's queue, in a later service pass than
 * the one that answered (/health websocket.wake_passes).
 */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "support/http_client.h"
#include "support/server_proc.h"
#include "support/ws_client.h"
#include "support/ws_model.h"

#define SUBS 1000
#define HTTP_WRITES 200
#define WS_WRITES 100
#define PAD 200                  /* metadata bytes per update */

static struct server_proc srv;
static struct ws_client *subs;
static struct model *models;

static void stop(void)
{
	for (int i = 0; subs && i < SUBS; i++) {
		ws_close(&subs[i]);
		model_clear(&models[i]);
	}
	free(subs);
	free(models);
	server_cleanup(&srv);
}

TestSuite(acks, .fini = stop, .timeout = 280);

/* The client side of a thousand connections (and the server's side, if
 * it inherits the limit) needs more than the usual 1024 descriptors. */
static void raise_nofile(void)
{
	struct rlimit rl;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	cr_assert_geq(rl.rlim_cur, (rlim_t)SUBS * 2 + 64,
		      "need %d descriptors, have %llu", SUBS * 2 + 64,
		      (unsigned long long)rl.rlim_cur);
}

static long long health_ws(const char *key)
{
	json_object *h = rest_json(srv.port, "GET", "/health", NULL, NULL);
	json_object *w = NULL, *v = NULL;
	long long n;

	cr_assert(h);
	cr_assert(json_object_object_get_ex(h, "websocket", &w));
	cr_assert(json_object_object_get_ex(w, key, &v), "/health has %s",
		  key);
	n = json_object_get_int64(v);
	json_object_put(h);
	return n;
}

/* A PATCH body for write i: a progress and a padded metadata value, so
 * that the deltas fill the subscribers' small receive buffers. */
static int patch_body(char *out, size_t cap, int i)
{
	char pad[PAD + 1];

	memset(pad, 'a' + i % 26, PAD);
	pad[PAD] = '\0';
	return snprintf(out, cap, "{\"progress\":%d,\"metadata\":"
			"{\"i\":\"%d\",\"pad\":\"%s\"}}", i % 100, i, pad);
}

/* The subscribers: connected with a small receive buffer, subscribed to
 * every race, their snapshots applied; then they read nothing. Each step
 * is done for all of them before the next, so that setting up a
 * thousand takes few round trips: lws hangs up on a client that has not
 * answered its pings for 70 s, and these answer only when they read. */
static void subscribe_all(void)
{
	for (int i = 0; i < SUBS; i++) {
		cr_assert_eq(ws_open_ex(&subs[i], srv.port, "/ws", NULL, 4096),
			     0, "subscriber %d connects", i);
		cr_assert_eq(ws_send(&subs[i], "{\"type\":\"subscribe\"}"),
			     0);
	}
	for (int i = 0; i < SUBS; i++) {
		json_object *f = next_frame(&subs[i]);

		cr_assert_str_eq(type_of(f), "hello");
		json_object_put(f);
		f = next_frame(&subs[i]);
		cr_assert_str_eq(model_frame(&models[i], f), "snapshot");
		json_object_put(f);
	}
}

/* Reads subscriber i's frames until it has applied `seq`: each delta
 * once, in order (the model asserts it). */
static void sync_sub(int i, uint64_t seq)
{
	while (models[i].seq < seq) {
		int rc = ws_recv(&subs[i], 10000);
		json_object *f;

		cr_assert_eq(rc, 1, "subscriber %d at seq %llu of %llu: %s "
			     "(close code %d)", i,
			     (unsigned long long)models[i].seq,
			     (unsigned long long)seq,
			     rc ? "closed" : "no frame in 10 s",
			     subs[i].close_code);
		f = json_tokener_parse(subs[i].msg);
		cr_assert(f, "frame is JSON");
		model_frame(&models[i], f);
		json_object_put(f);
	}
}

/* One keep-alive HTTP producer, one request in flight: each answer is a
 * 200 with the race as that write left it (acks in request order). */
static void http_producer(int first, int n)
{
	int fd = http_connect(srv.port);
	char body[PAD + 128], req[PAD + 512];

	cr_assert_geq(fd, 0);
	for (int i = first; i < first + n; i++) {
		struct http_response r;
		json_object *race, *meta = NULL, *v = NULL;
		int bl = patch_body(body, sizeof(body), i);
		int rl = snprintf(req, sizeof(req),
				  "PATCH /race/a HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				  "Content-Type: application/json\r\n"
				  "Content-Length: %d\r\n\r\n%s", bl, body);

		cr_assert_eq(write(fd, req, (size_t)rl), rl);
		cr_assert_eq(http_read_response(fd, &r), 0,
			     "write %d is answered", i);
		cr_assert_eq(r.status, 200, "write %d: %d %s", i, r.status,
			     r.body);
		race = json_tokener_parse(r.body);
		cr_assert(race);
		cr_assert(json_object_object_get_ex(race, "metadata", &meta));
		cr_assert(json_object_object_get_ex(meta, "i", &v));
		cr_assert_eq(atoi(json_object_get_string(v)), i,
			     "the answer to write %d is its own", i);
		json_object_put(race);
		http_response_free(&r);
	}
	close(fd);
}

/* A WebSocket producer that also subscribes: WS_WRITES patches in one
 * write (pipelined); the acks come back req 1..WS_WRITES in order, with
 * rising seqs, and its own deltas reach it once each, in order. */
static void ws_producer(int first)
{
	struct ws_client c;
	struct model m = {0};
	size_t cap = (size_t)WS_WRITES * (PAD + 256), len = 0;
	unsigned char *buf = malloc(cap);
	char body[PAD + 128], msg[PAD + 256];
	uint64_t last_ack_seq = 0;
	int acks = 0;
	json_object *f;

	cr_assert(buf);
	cr_assert_eq(ws_open(&c, srv.port, "/ws"), 0);
	json_object_put(next_frame(&c)); /* hello */
	ws_send(&c, "{\"type\":\"subscribe\"}");
	f = next_frame(&c);
	cr_assert_str_eq(model_frame(&m, f), "snapshot");
	json_object_put(f);
	for (int k = 0; k < WS_WRITES; k++) {
		patch_body(body, sizeof(body), first + k);
		snprintf(msg, sizeof(msg), "{\"type\":\"patch\",\"req\":%d,"
			 "\"id\":\"a\",\"changes\":%s}", k + 1, body);
		len += ws_encode_frame(msg, buf + len, cap - len);
	}
	cr_assert_eq(ws_send_raw(&c, buf, len), 0);
	while (acks < WS_WRITES || m.seq < last_ack_seq) {
		const char *type;

		f = next_frame(&c);
		type = model_frame(&m, f);
		if (!strcmp(type, "ack")) {
			uint64_t seq = (uint64_t)json_object_get_int64(
				json_object_object_get(f, "seq"));

			cr_assert_eq(json_object_get_int(
				json_object_object_get(f, "req")), acks + 1,
				"acks in request order");
			cr_assert_gt(seq, last_ack_seq, "acks' seqs rise");
			last_ack_seq = seq;
			acks++;
		} else {
			cr_assert(!strcmp(type, "delta") ||
				  !strcmp(type, "batch") ||
				  !strcmp(type, "heartbeat"),
				  "unexpected %s", type);
		}
		json_object_put(f);
	}
	cr_assert_eq(m.resets, 0);
	model_assert_matches(&m, srv.port);
	model_clear(&m);
	ws_close(&c);
	free(buf);
}

/*
 * Producers keep getting their answers, in request order, while a
 * thousand subscribers read nothing; then each subscriber gets every
 * delta once, in order, and ends equal to the server.
 */
Test(acks, producers_are_answered_in_order_while_1000_subscribers_read_nothing)
{
	const char *flags[] = {"--no-sync", "--max-body", "65536", NULL};
	uint64_t seq0, final;
	long long passes0;
	int st;

	raise_nofile();
	cr_assert_eq(server_start(&srv, flags), 0);
	json_object_put(rest_json(srv.port, "POST", "/race",
				  "{\"id\":\"a\",\"source\":\"s\","
				  "\"title\":\"t\"}", &st));
	cr_assert_eq(st, 201);
	subs = calloc(SUBS, sizeof(*subs));
	models = calloc(SUBS, sizeof(*models));
	cr_assert(subs && models);
	subscribe_all();
	seq0 = rest_seq_of(srv.port);
	passes0 = health_ws("wake_passes");

	http_producer(0, HTTP_WRITES);
	ws_producer(HTTP_WRITES);
	final = rest_seq_of(srv.port);
	cr_assert_eq(final, seq0 + HTTP_WRITES + WS_WRITES,
		     "every write committed once");
	/* The subscribers were woken through the hub's queue. */
	cr_assert_gt(health_ws("wake_passes") - passes0, 0,
		     "the subscribers were woken through the queue");

	for (int i = 0; i < SUBS; i++) {
		sync_sub(i, final);
		cr_assert_eq(models[i].seq, final);
		cr_assert_eq(models[i].resets, 0, "subscriber %d: no reset",
			     i);
		if (i % 97 == 0)
			model_assert_matches(&models[i], srv.port);
	}
	cr_assert_eq(health_ws("backlog_resets"), 0);
}
