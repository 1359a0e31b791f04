/*
 * test_server_predict.c - what the real server learns: ETAs for new races
 * from finished ones (kept across a restart), the fallback labels, a
 * producer ETA winning, the learned update cadence, the read-time
 * progress_prediction, and (issue 17) a real progress trace replayed
 * through the server, checked against the evaluation's own computation.
 */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "predict.h"
#include "rfc3339.h"
#include "support/http_client.h"
#include "support/server_proc.h"

static struct server_proc srv;

static int64_t time_of(json_object *o, const char *key);

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
	struct pred_track t;
	int st, hint = 0;

	cr_assert_eq(server_start(&srv, NULL), 0);
	o = rest("POST", "/race",
		 "{\"id\":\"c\",\"source\":\"other\",\"title\":\"t\"}", &st);
	pred_track_begin(&t, time_of(o, "started_at"), NULL);
	json_object_put(rest("POST", "/race",
			     "{\"id\":\"e\",\"source\":\"other\",\"title\":\"t\","
			     "\"update_interval_hint\":30}", &st));
	for (int i = 1; i <= 5; i++) {
		char body[64];

		usleep(300 * 1000);
		snprintf(body, sizeof(body), "{\"progress\":%d}", i * 10);
		json_object_put(o);
		o = rest("PATCH", "/race/c", body, &st);
		cr_assert_eq(pred_track_observe(&t, time_of(o,
				"last_progress_update"), i * 10), PRED_OK);
		json_object_put(rest("PATCH", "/race/e", body, &st));
	}
	/* The rule (p90 of the gaps the server stamped, rounded up, at
	 * least PRED_CADENCE_MIN_SEC) applied to this run's own times, so a
	 * loaded machine's late report does not fail the test. */
	cr_assert_eq(pred_track_cadence(&t, &hint), PRED_OK);
	cr_assert_eq(num(o, "update_interval_hint"), hint);
	cr_assert_lt(hint, 10, "reports every 0.3 s: the hint drops from 10");
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
		 "{\"id\":\"r\",\"source\":\"ci\",\"title\":\"long job\","
		 "\"update_interval_hint\":1}", &st);
	cr_assert_eq(num(o, "eta_source"), 3);
	json_object_put(o);
	sleep(1);
	/* Half done after about a second: far faster than the history,
	 * which the progress now outweighs (eta_source 5). */
	o = rest("PATCH", "/race/r", "{\"progress\":50}", &st);
	cr_assert_lt(num(o, "eta_sec"), 900, "the server revised its ETA");
	cr_assert_eq(num(o, "eta_source"), 5, "the server's progress estimate");
	revs = json_object_object_get(o, "eta_revisions");
	cr_assert_eq(json_object_array_length(revs), 2);
	cr_assert_eq(json_object_get_int(json_object_object_get(
		json_object_array_get_idx(revs, 0), "source")), 3);
	cr_assert_eq(json_object_get_int(json_object_object_get(
		json_object_array_get_idx(revs, 1), "source")), 5);
	json_object_put(o);
}

/* ---- issue 17: one real trace through the real server ------------- */

#define REPLAY_JOB "git-clone.txt"
#define REPLAY_RUNS 8   /* at most; the last run is replayed, the others
			  * are history */
#define REPLAY_MAX 512

struct replay_run {
	double t[REPLAY_MAX];
	int pct[REPLAY_MAX];
	size_t n;
	double end;
};

/* Reads tests/data/traces/REPLAY_JOB (format: its README); returns the
 * number of runs. */
static size_t load_replay(struct replay_run *runs)
{
	const char *dir = getenv("RACEBOARD_TRACE_DIR");
	char path[512], line[256];
	size_t k = 0;
	FILE *f;

	cr_assert(dir, "RACEBOARD_TRACE_DIR is set by meson");
	snprintf(path, sizeof(path), "%s/%s", dir, REPLAY_JOB);
	f = fopen(path, "r");
	cr_assert(f, "%s", path);
	memset(runs, 0, REPLAY_RUNS * sizeof(*runs));
	while (fgets(line, sizeof(line), f)) {
		double s, p;

		if (!strncmp(line, "run ", 4)) {
			k++;
			cr_assert_leq(k, REPLAY_RUNS);
		} else if (k && sscanf(line, "end %lf", &s) == 1) {
			runs[k - 1].end = s;
		} else if (k && line[0] != '#' &&
			   sscanf(line, "%lf %lf", &s, &p) == 2 &&
			   runs[k - 1].n < REPLAY_MAX) {
			runs[k - 1].t[runs[k - 1].n] = s;
			runs[k - 1].pct[runs[k - 1].n++] = (int)floor(p + 1e-9);
		}
	}
	fclose(f);
	cr_assert_geq(k, 2);
	return k;
}

static int64_t time_of(json_object *o, const char *key)
{
	json_object *v;
	int64_t ms;

	cr_assert(json_object_object_get_ex(o, key, &v), "no %s", key);
	cr_assert_eq(proto_time_parse(json_object_get_string(v), &ms), 0);
	return ms;
}

static double dbl(json_object *o, const char *key)
{
	json_object *v;

	cr_assert(json_object_object_get_ex(o, key, &v), "no %s", key);
	return json_object_get_double(v);
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_until(int64_t ms)
{
	int64_t d = ms - wall_ms();

	if (d > 0) {
		struct timespec ts = {d / 1000, (d % 1000) * 1000000};

		nanosleep(&ts, NULL);
	}
}

/*
 * Runs history run k through the server at its real cadence (progress
 * reports, then passed at its end) and records it in m as the server
 * learns it: duration and progress shape from the times it stamped.
 */
static void replay_history_run(const struct replay_run *r, int k,
			       struct pred_model *m, const char *key)
{
	struct pred_track tr;
	uint16_t shape[PRED_SHAPE_MARKS];
	char body[256];
	json_object *o;
	int st, last = -1;
	int64_t t0, s, c;

	snprintf(body, sizeof(body), "{\"id\":\"h%d\",\"source\":\"cmd\","
		 "\"title\":\"trace replay\"}", k);
	o = rest("POST", "/race", body, &st);
	cr_assert_eq(st, 201);
	t0 = wall_ms();
	s = time_of(o, "started_at");
	json_object_put(o);
	pred_track_begin(&tr, s, NULL);
	snprintf(body, sizeof(body), "/race/h%d", k);
	for (size_t i = 0; i < r->n; i++) {
		char patch[64];

		if (r->pct[i] == last || r->t[i] > r->end)
			continue;
		last = r->pct[i];
		sleep_until(t0 + (int64_t)llround(r->t[i] * 1000));
		snprintf(patch, sizeof(patch), "{\"progress\":%d}", last);
		o = rest("PATCH", body, patch, &st);
		cr_assert_eq(st, 200);
		cr_assert_eq(pred_track_observe(&tr,
				time_of(o, "last_progress_update"), last), 0);
		json_object_put(o);
	}
	sleep_until(t0 + (int64_t)llround(r->end * 1000));
	o = rest("PATCH", body, "{\"state\":\"passed\"}", &st);
	cr_assert_eq(st, 200);
	c = time_of(o, "completed_at");
	json_object_put(o);
	cr_assert_eq(pred_track_shape(&tr, c, shape), PRED_OK);
	cr_assert_eq(pred_model_record_shaped(m, key, NULL, PRED_PASSED,
					      (double)(c - s) / 1000.0, c,
					      shape), 0);
}

/*
 * The first history runs are finished races whose started_at is
 * backdated by the recorded durations; the last two history runs and the
 * replayed run report their progress at its real cadence.
 * After every report, the ETA the server returns must be the one
 * predict-eval --eta computes with the same calls (pred_model_predict,
 * pred_track_observe, pred_live, pred_live_should_revise) for the
 * report times the server stamped; progress_prediction must use the same
 * rate; and both must read the same after a restart.
 */
Test(predict, a_replayed_trace_gets_the_etas_the_evaluation_computes)
{
	static struct replay_run runs[REPLAY_RUNS];
	struct pred_model_limits lim = {.use_context = 1};
	struct pred_model *m = pred_model_new(&lim);
	struct pred_estimate est;
	struct pred_prior prior;
	struct pred_track track;
	char key[PRED_KEY_MAX], body[256], started[PROTO_TIME_BUFSZ];
	json_object *o;
	int st, last_sent = -1, revisions = 0;
	double cur_eta, pp_rate = 0;
	int64_t cur_at, t0;
	size_t n_runs = load_replay(runs);
	const struct replay_run *r = &runs[n_runs - 1];

	cr_assert(m);
	cr_assert_eq(pred_key("cmd", "trace replay", NULL, 0, key, sizeof(key)), 0);
	cr_assert_eq(server_start(&srv, NULL), 0);
	for (int k = 0; k < (int)n_runs - 1; k++) {
		/* The last two history runs report their progress at their
		 * real cadence, so the server keeps their progress shapes. */
		if (k >= (int)n_runs - 3) {
			replay_history_run(&runs[k], k, m, key);
			continue;
		}
		int64_t s, c;

		proto_time_format(wall_ms() - (int64_t)llround(runs[k].end * 1000),
				  started);
		snprintf(body, sizeof(body), "{\"id\":\"h%d\",\"source\":\"cmd\","
			 "\"title\":\"trace replay\",\"started_at\":\"%s\"}", k,
			 started);
		json_object_put(rest("POST", "/race", body, &st));
		cr_assert_eq(st, 201);
		snprintf(body, sizeof(body), "/race/h%d", k);
		o = rest("PATCH", body, "{\"state\":\"passed\"}", &st);
		cr_assert_eq(st, 200);
		s = time_of(o, "started_at");
		c = time_of(o, "completed_at");
		/* The run as the server learned it, to the millisecond. */
		cr_assert_eq(pred_model_record(m, key, NULL, PRED_PASSED,
					       (double)(c - s) / 1000.0, c), 0);
		json_object_put(o);
	}
	cr_assert_eq(pred_model_predict(m, key, NULL, &est), PRED_OK);
	prior = (struct pred_prior){.has = 1, .total_sec = est.total_sec,
		.confidence = est.confidence, .source = est.source};
	pred_prior_shape(&prior, pred_model_history(m, key));
	cr_assert_eq(prior.n_shape, 2, "the server learned two shapes");

	o = rest("POST", "/race",
		 "{\"id\":\"r\",\"source\":\"cmd\",\"title\":\"trace replay\"}", &st);
	cr_assert_eq(st, 201);
	t0 = wall_ms();
	cr_assert_eq(num(o, "eta_source"), PRED_SRC_HISTORY);
	cr_assert_eq(num(o, "eta_sec"), llround(prior.total_sec));
	cur_eta = (double)num(o, "eta_sec");
	cur_at = time_of(o, "last_eta_update");
	pred_track_begin(&track, time_of(o, "started_at"), &prior);
	json_object_put(o);

	for (size_t i = 0; i < r->n; i++) {
		struct pred_live lv;
		int64_t now;
		int hint = 5, p = r->pct[i];

		if (p == last_sent)
			continue;
		last_sent = p;
		sleep_until(t0 + (int64_t)llround(r->t[i] * 1000));
		snprintf(body, sizeof(body), "{\"progress\":%d}", p);
		o = rest("PATCH", "/race/r", body, &st);
		cr_assert_eq(st, 200);
		now = time_of(o, "last_progress_update");
		cr_assert_eq(pred_track_observe(&track, now, p), PRED_OK);
		pred_track_cadence(&track, &hint);
		cr_assert_eq(num(o, "update_interval_hint"), hint);
		if (pred_live(&track, now, &lv) == PRED_OK &&
		    pred_live_should_revise(1, cur_eta, cur_at, lv.remaining_sec,
					    now, hint) &&
		    (double)llround(lv.remaining_sec) != cur_eta) {
			cur_eta = (double)llround(lv.remaining_sec);
			cur_at = now;
			revisions++;
			cr_assert_eq(num(o, "eta_source"), lv.source);
			cr_assert_float_eq(dbl(o, "eta_confidence"),
					   round(lv.confidence * 100) / 100, 1e-9);
		}
		cr_assert_eq(num(o, "eta_sec"), (int64_t)cur_eta,
			     "report %zu (%d %%): server %lld, evaluation %.0f", i,
			     p, (long long)num(o, "eta_sec"), cur_eta);
		cr_assert_eq(time_of(o, "last_eta_update"), cur_at);
		/* progress_prediction runs at the rate the ETA implies. */
		pp_rate = 0;
		if (p < 100 && cur_eta - (double)(now - cur_at) / 1000.0 >= 1) {
			json_object *pp = json_object_object_get(o,
				"progress_prediction");
			pp_rate = (100 - p) / (cur_eta - (double)(now - cur_at) / 1000.0);
			cr_assert(pp);
			cr_assert_float_eq(dbl(pp, "rate_per_sec"), pp_rate, 1e-4);
		}
		json_object_put(o);
	}
	cr_assert_geq(revisions, 1, "the server revised its ETA on the way");

	/* After a restart: the same ETA, and progress_prediction still
	 * runs at its rate (only the last report is known then) when the
	 * last report left one to run at (below 100 %, >= 1 s to go). */
	cr_assert_eq(server_stop(&srv), 0);
	cr_assert_eq(server_restart(&srv, NULL), 0);
	o = rest("GET", "/race/r", NULL, &st);
	cr_assert_eq(st, 200);
	cr_assert_eq(num(o, "eta_sec"), (int64_t)cur_eta);
	cr_assert_eq(time_of(o, "last_eta_update"), cur_at);
	if (pp_rate > 0)
		cr_assert_float_eq(dbl(json_object_object_get(o,
			"progress_prediction"), "rate_per_sec"), pp_rate, 1e-4);
	json_object_put(o);
	pred_model_free(m);
}
