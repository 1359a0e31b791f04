/*
 * test_server_ws_slow.c - subscribers that stop reading, against the real
 * server binary: what they cost in memory, and who is closed when the
 * frames waiting for them reach --ws-max-queued-mb.
 *
 * The races are large (32 of them with about 240 KB of metadata: a 7.7 MB
 * snapshot), so a subscriber that reads nothing keeps its snapshot frame
 * in the server: a loopback connection takes only 3-4.5 MB before it
 * pushes back, almost all of it in the server's send buffer, which grows
 * by itself. So the clients keep their default receive buffer: a small
 * one would hardly change that, and would make catching up crawl (one
 * scheduling round trip per few KB) on a busy machine. The memory bounds
 * are read from /proc/<pid>/status (VmRSS) and derived from the cap; the
 * server runs with ASan's quarantine off, so freed memory leaves its RSS.
 */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "support/http_client.h"
#include "support/server_proc.h"
#include "support/ws_client.h"
#include "support/ws_model.h"

#define BIG_RACES 32
#define META_KEYS 60
#define META_VALUE 4000          /* bytes of one metadata value */
/* What the server may hold besides the capped frames: the ring, the
 * sessions, lws, allocator caches (ASan's too). */
#define SLACK_KB (12 * 1024)

static struct server_proc srv;

static void stop(void)
{
	server_cleanup(&srv);
}

TestSuite(ws_slow, .fini = stop, .timeout = 240);

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void start(int cap_mb)
{
	char cap[16];
	const char *flags[] = {"--no-sync", "--max-body", "1048576",
			       "--ws-max-queued-mb", cap, NULL};

	snprintf(cap, sizeof(cap), "%d", cap_mb);
	/* Freed memory must really leave the RSS for it to mean anything. */
	setenv("ASAN_OPTIONS", "quarantine_size_mb=0:detect_leaks=1", 1);
	cr_assert_eq(server_start(&srv, flags), 0);
}

/* Races big-0 .. big-N, source "cmd", each with META_KEYS values of
 * META_VALUE bytes. */
static void create_big_races(void)
{
	size_t cap = (size_t)META_KEYS * (META_VALUE + 16) + 256;
	char *body = malloc(cap), *p;
	int st;

	cr_assert(body);
	for (int i = 0; i < BIG_RACES; i++) {
		p = body + sprintf(body, "{\"id\":\"big-%d\",\"source\":\"cmd\","
				   "\"title\":\"t\",\"metadata\":{", i);
		for (int k = 0; k < META_KEYS; k++) {
			p += sprintf(p, "%s\"k%d\":\"", k ? "," : "", k);
			memset(p, 'a' + (i + k) % 26, META_VALUE);
			p += META_VALUE;
			*p++ = '"';
		}
		strcpy(p, "}}");
		json_object_put(rest_json(srv.port, "POST", "/race", body, &st));
		cr_assert_eq(st, 201);
	}
	free(body);
}

static void patch_progress(int i)
{
	char path[64], body[64];
	int st;

	snprintf(path, sizeof(path), "/race/big-%d", i % BIG_RACES);
	snprintf(body, sizeof(body), "{\"progress\":%d}", i % 100);
	json_object_put(rest_json(srv.port, "PATCH", path, body, &st));
	cr_assert_eq(st, 200);
}

/* A sample of GET /metrics (the value on the line starting with `name`),
 * or -1 when the server has no such line. */
static long long metric(const char *name)
{
	struct http_response r;
	long long v = -1;
	const char *p;

	cr_assert_eq(http_request(srv.port, "GET", "/metrics", NULL, &r), 0);
	for (p = r.body; p && (p = strstr(p, name)); p++)
		if (p == r.body || p[-1] == '\n') {
			v = strtoll(p + strlen(name), NULL, 10);
			break;
		}
	http_response_free(&r);
	return v;
}

static long long slow_closes(void)
{
	return metric("raceboard_rejections_total"
		      "{reason=\"ws_slow_subscriber\"} ");
}

/* Waits until `n` subscriptions were made: live ones plus those closed
 * for being slow. */
static void wait_subscribed(long long n)
{
	long long live = 0, closed = 0;

	for (int i = 0; i < 1000; i++) {
		live = metric("raceboard_ws_subscribers ");
		closed = slow_closes();
		if (live + (closed > 0 ? closed : 0) >= n)
			return;
		sleep_ms(10);
	}
	cr_assert_fail("%lld subscriptions, %lld live and %lld closed", n,
		       live, closed);
}

/* The server's RSS once it has written what the sockets take: the most
 * of a few samples. */
static long settled_rss_kb(void)
{
	long most = 0;

	for (int i = 0; i < 10; i++) {
		long kb = server_rss_kb(&srv);

		if (kb > most)
			most = kb;
		sleep_ms(50);
	}
	return most;
}

/* A client that subscribes and then reads nothing. */
static void subscribe_stalled(struct ws_client *c, const char *msg)
{
	cr_assert_eq(ws_open(c, srv.port, "/ws"), 0);
	json_object_put(next_frame(c)); /* hello */
	cr_assert_eq(ws_send(c, msg), 0);
}

/* The model holds exactly the races of GET /races (`all`, read once:
 * the races are large), each equal but for the read-time
 * progress_prediction. */
static void assert_same_races(struct model *m, json_object *all)
{
	cr_assert_eq(json_object_array_length(all), m->n,
		     "race count: server %zu, client %zu",
		     json_object_array_length(all), m->n);
	for (size_t i = 0; i < m->n; i++) {
		json_object *mine = proto_json_race(m->races[i]), *got = NULL;

		for (size_t k = 0; !got && k < m->n; k++) {
			json_object *r = json_object_array_get_idx(all, k);

			if (!strcmp(json_object_get_string(
				    json_object_object_get(r, "id")),
				    m->races[i]->id))
				got = r;
		}
		cr_assert(got, "race %s is on the server", m->races[i]->id);
		json_object_object_del(got, "progress_prediction");
		cr_assert_str_eq(json_object_to_json_string(mine),
				 json_object_to_json_string(got));
		json_object_put(mine);
	}
}

/*
 * Reads what a stalled client was sent, until it has seq `final` (returns
 * 1) or the server closed it (returns 0).
 */
static int catch_up(struct ws_client *c, struct model *m, uint64_t final)
{
	while (m->seq < final || !m->snapshots) {
		json_object *f;

		if (ws_recv(c, 10000) != 1)
			return 0;
		f = json_tokener_parse(c->msg);
		cr_assert(f, "frame is JSON");
		model_frame(m, f);
		json_object_put(f);
	}
	return 1;
}

/*
 * Dashboards that subscribe while writes go on, and read nothing, share
 * one snapshot instead of holding one each (a later one gets the same
 * snapshot and the deltas after it): memory stays within the cap and
 * nobody has to be closed. Then they read again and converge.
 */
Test(ws_slow, stalled_subscribers_share_their_snapshot)
{
	enum { SUBS = 16, CAP_MB = 24 };
	struct ws_client c[SUBS];
	struct model m[SUBS];
	json_object *all;
	long rss0, rss;
	uint64_t final;

	start(CAP_MB);
	create_big_races();
	rss0 = server_rss_kb(&srv);
	memset(m, 0, sizeof(m));
	for (int i = 0; i < SUBS; i++) {
		subscribe_stalled(&c[i], "{\"type\":\"subscribe\"}");
		wait_subscribed(i + 1);
		patch_progress(i); /* the next one subscribes at a new seq */
	}
	rss = settled_rss_kb();
	cr_log_info("%d stalled subscribers: RSS %ld kB over the start, "
		    "%lld closed", SUBS, rss - rss0, slow_closes());
	cr_assert(!server_rss_meaningful() ||
		  rss - rss0 <= CAP_MB * 1024 + SLACK_KB,
		      "%d stalled subscribers cost %ld kB (cap %d MB)", SUBS,
		      rss - rss0, CAP_MB);
	cr_assert_eq(slow_closes(), 0, "sharing needs no closing");

	final = rest_seq_of(srv.port);
	all = rest_json(srv.port, "GET", "/races", NULL, NULL);
	for (int i = 0; i < SUBS; i++) {
		cr_assert(catch_up(&c[i], &m[i], final),
			  "subscriber %d converges", i);
		assert_same_races(&m[i], all);
		ws_close(&c[i]);
		model_clear(&m[i]);
	}
	json_object_put(all);
}

/*
 * Filtered subscribers get a snapshot each (a filter is theirs alone).
 * When the frames waiting for stalled ones pass the cap, the server
 * closes the one furthest behind, then the next: the oldest
 * subscriptions go, counted, and memory stays within the cap. A
 * subscriber that keeps reading is never closed; every survivor
 * converges once it reads again.
 */
Test(ws_slow, over_the_cap_the_slowest_subscribers_are_closed_first)
{
	enum { SUBS = 10, CAP_MB = 24 };
	struct ws_client c[SUBS], fast;
	struct model m[SUBS], mf = {0};
	int closed[SUBS], n_closed = 0;
	long long counted;
	long rss0, rss;
	uint64_t final;
	json_object *f, *all;

	start(CAP_MB);
	create_big_races();
	cr_assert_eq(ws_open(&fast, srv.port, "/ws"), 0);
	json_object_put(next_frame(&fast)); /* hello */
	ws_send(&fast, "{\"type\":\"subscribe\"}");
	f = next_frame(&fast);
	cr_assert_str_eq(model_frame(&mf, f), "snapshot");
	json_object_put(f);
	rss0 = server_rss_kb(&srv);

	memset(m, 0, sizeof(m));
	for (int i = 0; i < SUBS; i++) {
		subscribe_stalled(&c[i], "{\"type\":\"subscribe\",\"filter\":"
				  "{\"sources\":[\"cmd\"]}}");
		wait_subscribed(i + 2);
		patch_progress(i);
		model_sync(&mf, &fast, rest_seq_of(srv.port));
	}
	rss = settled_rss_kb();
	cr_log_info("%d stalled subscribers: RSS %ld kB over the start, "
		    "%lld closed", SUBS, rss - rss0, slow_closes());
	cr_assert(!server_rss_meaningful() ||
		  rss - rss0 <= CAP_MB * 1024 + SLACK_KB,
		      "%d stalled subscribers cost %ld kB (cap %d MB)", SUBS,
		      rss - rss0, CAP_MB);
	counted = slow_closes();
	cr_assert_gt(counted, 0, "the cap closed some (counted: %lld)",
		     counted);
	cr_assert_lt(counted, SUBS, "the newest stays");

	final = rest_seq_of(srv.port);
	all = rest_json(srv.port, "GET", "/races", NULL, NULL);
	model_sync(&mf, &fast, final);
	assert_same_races(&mf, all);
	for (int i = 0; i < SUBS; i++) {
		closed[i] = !catch_up(&c[i], &m[i], final);
		n_closed += closed[i];
		if (!closed[i])
			assert_same_races(&m[i], all);
		ws_close(&c[i]);
		model_clear(&m[i]);
	}
	json_object_put(all);
	cr_assert_eq(n_closed, counted, "every close is counted");
	for (int i = 0; i < SUBS; i++)
		cr_assert_eq(closed[i], i < n_closed,
			     "subscriber %d (of %d, %d closed): the oldest "
			     "subscriptions are closed first", i, SUBS,
			     n_closed);
	cr_assert_eq(slow_closes(), counted, "the reader was never closed");
	ws_close(&fast);
	model_clear(&mf);
}
