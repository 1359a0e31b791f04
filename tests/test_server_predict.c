/*
 * test_server_predict.c - what the real server learns: ETAs for new races
 * from finished ones (kept across a restart), the fallback labels, a
 * producer ETA winning, the learned update cadence and the read-time
 * progress_prediction.
 */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support/http_client.h"
#include "support/server_proc.h"

static struct server_proc srv;

static void stop(void)
{
	server_cleanup(&srv);
}

TestSuite(predict, .fini = stop, .timeout = 120);

static json_object *rest(const char *method, const char *path,
			 const char *body, int *status)
{
	struct http_response r;
	json_object *o;

	cr_assert_eq(http_request(srv.port, method, path, body, &r), 0);
	if (status)
		*status = r.status;
	o = json_tokener_parse(r.body);
	http_response_free(&r);
	return o;
}

static int64_t num(json_object *o, const char *key)
{
	json_object *v;

	cr_assert(json_object_object_get_ex(o, key, &v), "no %s in %s", key,
		  json_object_to_json_string(o));
	return json_object_get_int64(v);
}

/* Finishes a race that started `sec` seconds before "now" by backdating
 * its start: the server measures duration from started_at. */
static void finish_after(const char *id, const char *title, int sec)
{
	char body[320], started[32];
	time_t t = time(NULL) - sec;
	struct tm tm;
	int st;

	gmtime_r(&t, &tm);
	strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(body, sizeof(body),
		 "{\"id\":\"%s\",\"source\":\"ci\",\"title\":\"%s\","
		 "\"started_at\":\"%s\"}", id, title, started);
	json_object_put(rest("POST", "/race", body, &st));
	cr_assert_eq(st, 201);
	snprintf(body, sizeof(body), "/race/%s", id);
	json_object_put(rest("PATCH", body, "{\"state\":\"passed\"}", &st));
	cr_assert_eq(st, 200);
}

Test(predict, a_new_race_gets_a_history_eta_that_survives_a_restart)
{
	json_object *o;
	int st;

	cr_assert_eq(server_start(&srv, NULL), 0);
	finish_after("b1", "nightly build #101", 600);
	finish_after("b2", "nightly build #102", 620);
	finish_after("b3", "nightly build #103", 610);
	o = rest("POST", "/race",
		 "{\"id\":\"b4\",\"source\":\"ci\",\"title\":\"nightly build #104\"}",
		 &st);
	cr_assert_eq(st, 201);
	cr_assert_eq(num(o, "eta_source"), 3, "a history prediction");
	cr_assert(num(o, "eta_sec") >= 590 && num(o, "eta_sec") <= 630,
		  "eta %lld from runs of 600-620 s", (long long)num(o, "eta_sec"));
	cr_assert(json_object_get_double(json_object_object_get(o,
		  "eta_confidence")) > 0.0);
	json_object_put(o);

	cr_assert_eq(server_stop(&srv), 0);
	cr_assert_eq(server_restart(&srv, NULL), 0);
	json_object_put(rest("DELETE", "/race/b1", NULL, NULL)); /* dismissal
		keeps what was learned */
	o = rest("POST", "/race",
		 "{\"id\":\"b5\",\"source\":\"ci\",\"title\":\"nightly build #105\"}",
		 &st);
	cr_assert_eq(num(o, "eta_source"), 3, "still predicted after restart");
	json_object_put(o);
}

Test(predict, fallbacks_are_labelled_and_a_producer_eta_wins)
{
	json_object *o;
	int st;

	cr_assert_eq(server_start(&srv, NULL), 0);
	o = rest("POST", "/race", "{\"source\":\"ci\",\"title\":\"never seen\"}",
		 &st);
	cr_assert(!json_object_object_get_ex(o, "eta_sec", NULL),
		  "no history at all: no ETA");
	json_object_put(o);
	finish_after("d1", "deploy production", 300);
	finish_after("d2", "deploy production", 320);
	o = rest("POST", "/race",
		 "{\"source\":\"ci\",\"title\":\"unrelated lint job\"}", &st);
	cr_assert_eq(num(o, "eta_source"), 4,
		     "only the source's typical duration: a default, not history");
	cr_assert(json_object_get_double(json_object_object_get(o,
		  "eta_confidence")) <= 0.3);
	json_object_put(o);
	o = rest("POST", "/race",
		 "{\"source\":\"ci\",\"title\":\"deploy production\",\"eta_sec\":42}",
		 &st);
	cr_assert_eq(num(o, "eta_sec"), 42, "a producer ETA always wins");
	cr_assert_eq(num(o, "eta_source"), 2);
	json_object_put(o);
}

Test(predict, the_update_cadence_is_learned_unless_set_explicitly)
{
	json_object *o = NULL;
	int st;

	cr_assert_eq(server_start(&srv, NULL), 0);
	json_object_put(rest("POST", "/race",
			     "{\"id\":\"c\",\"source\":\"other\",\"title\":\"t\"}",
			     &st));
	json_object_put(rest("POST", "/race",
			     "{\"id\":\"e\",\"source\":\"other\",\"title\":\"t\","
			     "\"update_interval_hint\":30}", &st));
	for (int i = 1; i <= 5; i++) {
		char body[64];

		usleep(300 * 1000);
		snprintf(body, sizeof(body), "{\"progress\":%d}", i * 10);
		json_object_put(o);
		o = rest("PATCH", "/race/c", body, &st);
		json_object_put(rest("PATCH", "/race/e", body, &st));
	}
	cr_assert_eq(num(o, "update_interval_hint"), 2,
		     "reports every 0.3 s: the hint drops from 10 to the 2 s floor");
	json_object_put(o);
	o = rest("GET", "/race/e", NULL, &st);
	cr_assert_eq(num(o, "update_interval_hint"), 30,
		     "an explicit hint is never overridden");
	json_object_put(o);
}

Test(predict, running_races_carry_a_bounded_progress_prediction)
{
	json_object *o, *pp;
	int st;
	double cur;

	cr_assert_eq(server_start(&srv, NULL), 0);
	o = rest("POST", "/race",
		 "{\"id\":\"p\",\"source\":\"cmd\",\"title\":\"t\",\"progress\":40,"
		 "\"update_interval_hint\":1}", &st);
	pp = json_object_object_get(o, "progress_prediction");
	cr_assert(pp, "a running race has progress_prediction");
	cr_assert_str_eq(json_object_get_string(json_object_object_get(pp,
			 "source")), "reported");
	json_object_put(o);
	sleep(2); /* past the 1 s trust window */
	json_object_put(rest("PATCH", "/race/p", "{\"progress\":60}", &st));
	sleep(2);
	o = rest("GET", "/race/p", NULL, &st);
	pp = json_object_object_get(o, "progress_prediction");
	cur = json_object_get_double(json_object_object_get(pp, "current"));
	cr_assert_geq(cur, 60.0, "never below the last reported progress");
	cr_assert_leq(cur, 99.0, "never above 99 while running");
	cr_assert_str_eq(json_object_get_string(json_object_object_get(pp,
			 "source")), "interpolated");
	json_object_put(o);
	o = rest("PATCH", "/race/p", "{\"state\":\"passed\"}", &st);
	cr_assert(!json_object_object_get_ex(o, "progress_prediction", NULL),
		  "only running races have one");
	json_object_put(o);
}

Test(predict, the_server_revises_its_own_eta_as_progress_comes_in)
{
	json_object *o, *revs;
	int st;

	cr_assert_eq(server_start(&srv, NULL), 0);
	finish_after("h1", "long job", 1000);
	finish_after("h2", "long job", 1000);
	o = rest("POST", "/race",
		 "{\"id\":\"r\",\"source\":\"ci\",\"title\":\"long job\"}", &st);
	cr_assert_eq(num(o, "eta_source"), 3);
	json_object_put(o);
	sleep(1);
	/* Half done after about a second: far faster than the history. */
	o = rest("PATCH", "/race/r", "{\"progress\":50}", &st);
	cr_assert_lt(num(o, "eta_sec"), 900, "the server revised its ETA");
	cr_assert_eq(num(o, "eta_source"), 3, "still the server's own ETA");
	revs = json_object_object_get(o, "eta_revisions");
	cr_assert_eq(json_object_array_length(revs), 2);
	cr_assert_eq(json_object_get_int(json_object_object_get(
		json_object_array_get_idx(revs, 1), "source")), 3);
	json_object_put(o);
}
