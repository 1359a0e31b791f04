/*
 * test_server_durability.c - what survives a restart and a kill -9 of the
 * real server process, and the limits that keep a store healthy.
 */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/http_client.h"
#include "support/server_proc.h"
#include "support/ws_client.h"

static struct server_proc srv;

static void stop(void)
{
	server_cleanup(&srv);
}

TestSuite(durability, .fini = stop, .timeout = 120);

static int request(const char *method, const char *path, const char *body,
		   json_object **out)
{
	struct http_response r;
	int st;

	if (http_request(srv.port, method, path, body, &r))
		return 0;
	st = r.status;
	if (out)
		*out = json_tokener_parse(r.body);
	http_response_free(&r);
	return st;
}

static char *races_json(void)
{
	json_object *o = NULL;
	char *s;

	cr_assert_eq(request("GET", "/races", NULL, &o), 200);
	s = strdup(json_object_to_json_string(o));
	json_object_put(o);
	return s;
}

Test(durability, restart_serves_exactly_the_acknowledged_races)
{
	char body[256], *before, *after;

	cr_assert_eq(server_start(&srv, NULL), 0);
	for (int i = 0; i < 20; i++) {
		snprintf(body, sizeof(body),
			 "{\"id\":\"r%d\",\"source\":\"ci\",\"title\":\"job %d\","
			 "\"progress\":%d,\"eta_sec\":%d,\"state\":\"%s\"}",
			 i, i, i * 3, 100 + i, i % 4 ? "running" : "passed");
		cr_assert_eq(request("POST", "/race", body, NULL), 201);
	}
	cr_assert_eq(request("PATCH", "/race/r1", "{\"eta_sec\":50}", NULL), 200);
	cr_assert_eq(request("DELETE", "/race/r2", NULL, NULL), 200);
	before = races_json();
	cr_assert_eq(server_stop(&srv), 0, "clean exit on SIGTERM");
	cr_assert_eq(server_restart(&srv, NULL), 0);
	after = races_json();
	cr_assert_str_eq(after, before);
	cr_assert(strstr(after, "\"r5\""), "running races survive a restart");
	free(before);
	free(after);
}

/*
 * A writer updates five races with strictly increasing ETAs while another
 * process kills the server at a random moment. After a restart each race
 * must hold its last acknowledged value, or the one value that was in
 * flight when the server died (committed, but the reply never arrived).
 */
Test(durability, kill_9_never_loses_an_acknowledged_update)
{
	char body[256];

	cr_assert_eq(server_start(&srv, NULL), 0);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	for (int i = 0; i < 5; i++) {
		snprintf(body, sizeof(body),
			 "{\"id\":\"k%d\",\"source\":\"ci\",\"title\":\"t\","
			 "\"eta_sec\":0}", i);
		cr_assert_eq(request("POST", "/race", body, NULL), 201);
	}
	for (int round = 0; round < 5; round++) {
		long acked[5] = {-1, -1, -1, -1, -1}, inflight = -1;
		int inflight_race = -1;
		pid_t killer = fork();

		if (killer == 0) {
			struct timespec ts = {0, (long)(50 + rand() % 400) * 1000000L};

			nanosleep(&ts, NULL);
			kill(srv.pid, SIGKILL);
			_exit(0);
		}
		for (long v = 1 + round * 100000L;; v++) {
			int race = (int)(v % 5), st;
			char path[32];

			snprintf(path, sizeof(path), "/race/k%d", race);
			snprintf(body, sizeof(body), "{\"eta_sec\":%ld}", v);
			inflight = v;
			inflight_race = race;
			st = request("PATCH", path, body, NULL);
			if (st != 200)
				break;
			acked[race] = v;
		}
		waitpid(killer, NULL, 0);
		waitpid(srv.pid, NULL, 0);
		srv.pid = 0;
		cr_assert_eq(server_restart(&srv, NULL), 0,
			     "store reopens after kill -9 (round %d)", round);
		for (int i = 0; i < 5; i++) {
			json_object *o = NULL;
			char path[32];
			long got;

			snprintf(path, sizeof(path), "/race/k%d", i);
			cr_assert_eq(request("GET", path, NULL, &o), 200);
			got = (long)json_object_get_int64(
				json_object_object_get(o, "eta_sec"));
			json_object_put(o);
			if (acked[i] < 0)
				continue;
			cr_assert(got == acked[i] ||
				  (i == inflight_race && got == inflight),
				  "round %d race %d: acked %ld, in flight %ld, "
				  "stored %ld", round, i, acked[i], inflight, got);
		}
	}
}

Test(durability, finished_races_leave_the_list_after_the_ttl)
{
	static const char *const flags[] = {"--finished-ttl", "1", NULL};
	json_object *o = NULL;
	int listed = 1;

	cr_assert_eq(server_start(&srv, flags), 0);
	cr_assert_eq(request("POST", "/race",
			     "{\"id\":\"done\",\"source\":\"ci\",\"title\":\"t\","
			     "\"state\":\"passed\"}", NULL), 201);
	cr_assert_eq(request("POST", "/race",
			     "{\"id\":\"live\",\"source\":\"ci\",\"title\":\"t\"}",
			     NULL), 201);
	for (int i = 0; i < 100 && listed; i++) {
		usleep(100 * 1000);
		listed = request("GET", "/race/done", NULL, NULL) == 200;
	}
	cr_assert(!listed, "a finished race expires after --finished-ttl");
	cr_assert_eq(request("GET", "/race/live", NULL, &o), 200,
		     "running races never expire");
	json_object_put(o);
}

Test(durability, race_limit_is_enforced_with_409)
{
	static const char *const flags[] = {"--max-races", "2", NULL};
	json_object *o = NULL;

	cr_assert_eq(server_start(&srv, flags), 0);
	cr_assert_eq(request("POST", "/race", "{\"source\":\"a\",\"title\":\"1\"}",
			     NULL), 201);
	cr_assert_eq(request("POST", "/race", "{\"source\":\"a\",\"title\":\"2\"}",
			     NULL), 201);
	cr_assert_eq(request("POST", "/race", "{\"source\":\"a\",\"title\":\"3\"}",
			     &o), 409);
	cr_assert_str_eq(json_object_get_string(json_object_object_get(o, "error")),
			 "race_limit");
	json_object_put(o);
}

Test(durability, a_second_server_on_the_same_data_dir_refuses_to_start)
{
	struct server_proc other;

	cr_assert_eq(server_start(&srv, NULL), 0);
	memset(&other, 0, sizeof(other));
	other = srv;
	other.pid = 0;
	snprintf(other.log_path, sizeof(other.log_path), "%s/other.log", srv.dir);
	cr_assert_neq(server_restart(&other, NULL), 0,
		      "two servers must not share one LMDB directory");
	cr_assert_eq(request("GET", "/health", NULL, NULL), 200,
		     "the first server keeps working");
}

/* POSTs races with a 4 KB metadata value until the store refuses one;
 * returns how many were stored. */
static int fill_store(const char *prefix)
{
	char *body = malloc(8192), pad[4001];
	int n = 0, st;

	memset(pad, 'x', 4000);
	pad[4000] = '\0';
	for (;; n++) {
		snprintf(body, 8192, "{\"id\":\"%s%d\",\"source\":\"fill\","
			 "\"title\":\"t\",\"metadata\":{\"pad\":\"%s\"}}",
			 prefix, n, pad);
		st = request("POST", "/race", body, NULL);
		if (st != 201)
			break;
		cr_assert(n < 100000, "the store never filled up");
	}
	free(body);
	cr_assert_eq(st, 507, "a full map answers 507, got %d", st);
	return n;
}

/* Child process: keeps a WebSocket producer sending 4 KB creates, which
 * a full store refuses, for `sec` seconds, so that nearly every batch
 * holds a write that fails. */
static void flood_failing_writes(int port, int sec)
{
	static unsigned char buf[20 * 4200];
	char msg[4160], pad[4001];
	struct ws_client c;
	time_t end = time(NULL) + sec;
	int req = 0;

	memset(pad, 'x', 4000);
	pad[4000] = '\0';
	if (ws_open(&c, port, "/ws"))
		_exit(1);
	while (time(NULL) < end) {
		size_t n = 0;

		for (int i = 0; i < 20; i++) {
			snprintf(msg, sizeof(msg),
				 "{\"type\":\"create\",\"req\":%d,\"race\":"
				 "{\"source\":\"flood\",\"title\":\"t\","
				 "\"metadata\":{\"pad\":\"%s\"}}}", req++, pad);
			n += ws_encode_frame(msg, buf + n, sizeof(buf) - n);
		}
		if (ws_send_raw(&c, buf, n))
			break;
		while (ws_recv(&c, 1) == 1)
			;
	}
	ws_close(&c);
	_exit(0);
}

/*
 * Expiry deletes a finished race by queueing a delete; when that batch
 * fails (here: other writes in it do not fit the store), the race is
 * reloaded, and it must still expire later instead of staying listed
 * for good.
 */
Test(durability, a_race_whose_expiry_failed_still_expires)
{
	static const char *const flags[] = {"--max-store-mb", "1",
		"--delta-log", "16", "--finished-ttl", "1", "--no-sync", NULL};
	int listed = 1, status;
	pid_t flood;

	cr_assert_eq(server_start(&srv, flags), 0);
	fill_store("f");
	for (int i = 0; i < 3; i++) {
		char path[32];

		snprintf(path, sizeof(path), "/race/f%d", i);
		cr_assert_eq(request("DELETE", path, NULL, NULL), 200);
	}
	flood = fork();
	cr_assert(flood >= 0);
	if (flood == 0)
		flood_failing_writes(srv.port, 4);
	/* A batch holding one of the flood's writes fails as a whole (the
	 * store is full): the create may need a few tries, the flood's
	 * writes arriving on the other service thread meanwhile. */
	for (int i = 0; i < 100 && (status = request("POST", "/race",
			"{\"id\":\"done\",\"source\":\"ci\",\"title\":\"t\","
			"\"state\":\"passed\"}", NULL)) == 507; i++)
		usleep(10 * 1000);
	cr_assert_eq(status, 201);
	cr_assert_eq(waitpid(flood, &status, 0), flood);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (int i = 0; i < 60 && listed; i++) {
		usleep(100 * 1000);
		listed = request("GET", "/race/done", NULL, NULL) == 200;
	}
	cr_assert(!listed, "the race expires once its delete can commit");
}

/*
 * A finish teaches the prediction model only once it is durable: when
 * the commit of the finish fails, a later race of the same kind gets no
 * history ETA from it.
 */
Test(durability, a_finish_that_failed_to_commit_is_not_learned)
{
	static const char *const flags[] = {"--max-store-mb", "1",
		"--delta-log", "16", "--no-sync", NULL};
	char body[4400], pad[4001], started[32];
	time_t t = time(NULL) - 600;
	json_object *o = NULL, *src;
	struct tm tm;
	int n;

	memset(pad, 'x', 4000);
	pad[4000] = '\0';
	gmtime_r(&t, &tm);
	strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cr_assert_eq(server_start(&srv, flags), 0);
	snprintf(body, sizeof(body),
		 "{\"id\":\"n1\",\"source\":\"ci\",\"title\":\"nightly #1\","
		 "\"started_at\":\"%s\"}", started);
	cr_assert_eq(request("POST", "/race", body, NULL), 201);
	n = fill_store("f");
	/* The finish carries 4 KB more, so it cannot fit either. */
	snprintf(body, sizeof(body),
		 "{\"state\":\"passed\",\"metadata\":{\"pad\":\"%s\"}}", pad);
	cr_assert_eq(request("PATCH", "/race/n1", body, NULL), 507);
	for (int i = 0; i < n; i++) {
		char path[32];

		snprintf(path, sizeof(path), "/race/f%d", i);
		cr_assert_eq(request("DELETE", path, NULL, NULL), 200);
	}
	cr_assert_eq(request("GET", "/race/n1", NULL, &o), 200);
	cr_assert_str_eq(json_object_get_string(
		json_object_object_get(o, "state")), "running",
		"the failed finish was not applied");
	json_object_put(o);
	o = NULL;
	cr_assert_eq(request("POST", "/race",
			     "{\"id\":\"n2\",\"source\":\"ci\","
			     "\"title\":\"nightly #2\"}", &o), 201);
	cr_assert(!json_object_object_get_ex(o, "eta_source", &src) ||
		  json_object_get_int(src) != 3,
		  "no history ETA from a finish that was never stored: %s",
		  json_object_to_json_string(o));
	json_object_put(o);
}
