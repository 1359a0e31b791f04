/*
 * test_server_hooks.c - CI webhooks against the real server binary: the
 * fixtures of tests/data/hooks/ signed (HMAC-SHA256 with OpenSSL, as
 * GitHub does) or tokened (as GitLab does) and posted over real HTTP, in
 * order, out of order, twice, with bad signatures and as unknown events;
 * the board is then read back through GET /race and GET /races.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <json-c/json.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/http_client.h"
#include "support/server_proc.h"

#ifndef HOOKS_FIXTURES
#error "HOOKS_FIXTURES must name tests/data/hooks"
#endif

#define GH_SECRET "It's a Secret to Everybody"
#define GL_SECRET "gitlab-shared-token"
#define GH_JOB "gh-186853002-2832853555"
#define GL_JOB "gl-380-1977"

static struct server_proc srv;

static void start_with(const char *const *flags)
{
	cr_assert_eq(server_start(&srv, flags), 0, "server did not start");
}

static void start(void)
{
	static const char *const flags[] = {
		"--github-secret", GH_SECRET, "--gitlab-secret", GL_SECRET,
		"--no-sync", NULL,
	};

	start_with(flags);
}

static void stop(void)
{
	server_cleanup(&srv);
}

TestSuite(hooks, .init = start, .fini = stop, .timeout = 120);
/* Tests that start the server with flags of their own. */
TestSuite(hooks_cfg, .fini = stop, .timeout = 120);

static char *fixture(const char *rel, size_t *len)
{
	char path[1024];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", HOOKS_FIXTURES, rel);
	f = fopen(path, "rb");
	cr_assert(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	cr_assert(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

/* "sha256=<hex>" of body under key, as GitHub computes it. */
static void sign(const char *key, const char *body, size_t len,
		 char out[7 + 64 + 1])
{
	unsigned char mac[32];
	unsigned int n = 0;

	cr_assert(HMAC(EVP_sha256(), key, (int)strlen(key),
		       (const unsigned char *)body, len, mac, &n));
	strcpy(out, "sha256=");
	for (unsigned i = 0; i < n; i++)
		sprintf(out + 7 + 2 * i, "%02x", mac[i]);
}

/* POSTs body to path with extra header lines; returns the status and
 * the parsed reply (*reply, caller puts; NULL when not asked for). */
static char last_headers[4096]; /* post_raw()'s last reply's, lower case */

static int post_raw(const char *path, const char *headers, const char *body,
		    size_t len, json_object **reply)
{
	size_t cap = len + strlen(headers) + 512;
	char *req = malloc(cap);
	struct http_response r;
	int n, status;

	cr_assert(req);
	n = snprintf(req, cap, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		     "Content-Type: application/json\r\nContent-Length: %zu\r\n"
		     "%s\r\n", path, len, headers);
	memcpy(req + n, body, len);
	cr_assert_eq(http_raw(srv.port, req, (size_t)n + len, &r), 0,
		     "POST %s: no response", path);
	free(req);
	status = r.status;
	for (size_t i = 0; i < sizeof(last_headers); i++)
		last_headers[i] = (char)tolower((unsigned char)r.headers[i]);
	if (reply) {
		*reply = json_tokener_parse(r.body);
		cr_assert(*reply, "reply is not JSON: %s", r.body);
	}
	http_response_free(&r);
	return status;
}

/* Posts a GitHub fixture, signed, as `event` with a delivery id. */
static int github(const char *event, const char *rel, const char *delivery,
		  json_object **reply)
{
	size_t len;
	char *body = fixture(rel, &len), sig[80], hdr[512];
	int status;

	sign(GH_SECRET, body, len, sig);
	snprintf(hdr, sizeof(hdr), "X-GitHub-Event: %s\r\n"
		 "X-GitHub-Delivery: %s\r\nX-Hub-Signature-256: %s\r\n"
		 "User-Agent: GitHub-Hookshot/044aadd\r\n", event, delivery,
		 sig);
	status = post_raw("/hooks/github", hdr, body, len, reply);
	free(body);
	return status;
}

static int gitlab(const char *event, const char *rel, const char *token,
		  json_object **reply)
{
	size_t len;
	char *body = fixture(rel, &len), hdr[512];
	int status;

	snprintf(hdr, sizeof(hdr), "X-Gitlab-Event: %s\r\n%s%s%s", event,
		 token ? "X-Gitlab-Token: " : "", token ? token : "",
		 token ? "\r\n" : "");
	status = post_raw("/hooks/gitlab", hdr, body, len, reply);
	free(body);
	return status;
}

static json_object *get(const char *path, int *status)
{
	struct http_response r;
	json_object *o;

	cr_assert_eq(http_request(srv.port, "GET", path, NULL, &r), 0);
	*status = r.status;
	o = json_tokener_parse(r.body);
	cr_assert(o, "GET %s: not JSON: %s", path, r.body);
	http_response_free(&r);
	return o;
}

static json_object *race(const char *id)
{
	char path[256];
	int status;
	json_object *o;

	snprintf(path, sizeof(path), "/race/%s", id);
	o = get(path, &status);
	cr_assert_eq(status, 200, "GET %s: %d", path, status);
	return o;
}

static const char *str(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v)
						     : NULL;
}

static int64_t num(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v)
						     : -1;
}

static size_t n_events(json_object *r)
{
	json_object *ev;

	return json_object_object_get_ex(r, "events", &ev) ?
	       json_object_array_length(ev) : 0;
}

static size_t n_races(void)
{
	int status;
	json_object *all = get("/races", &status);
	size_t n = json_object_array_length(all);

	json_object_put(all);
	return n;
}

static void expect_status_reply(json_object *o, const char *status)
{
	cr_expect_str_eq(str(o, "status"), status);
	json_object_put(o);
}

/* A job's whole life, in order: queued, waiting, in_progress twice,
 * completed. */
Test(hooks, github_job_sequence_becomes_a_finished_race)
{
	json_object *o, *meta, *ev;

	cr_assert_eq(github("workflow_job", "github/job_queued.json", "d-1",
			    &o), 201);
	cr_expect_str_eq(str(o, "state"), "queued");
	json_object_put(o);
	cr_assert_eq(github("workflow_job", "github/job_waiting.json", "d-2",
			    NULL), 200);
	cr_assert_eq(github("workflow_job", "github/job_in_progress.json",
			    "d-3", NULL), 200);
	o = race(GH_JOB);
	cr_expect_str_eq(str(o, "state"), "running");
	cr_expect_eq(num(o, "progress"), 33);
	cr_expect_str_eq(str(o, "started_at"), "2026-11-28T10:00:02.000Z");
	cr_assert(json_object_object_get_ex(o, "events", &ev));
	cr_expect_str_eq(json_object_to_json_string_ext(
		json_object_array_get_idx(ev, 0), JSON_C_TO_STRING_PLAIN),
		"{\"type\":\"step\",\"data\":{\"name\":\"Build\",\"number\":3},"
		"\"timestamp\":\"2026-11-28T10:00:25.000Z\"}");
	json_object_put(o);
	cr_assert_eq(github("workflow_job", "github/job_in_progress_later.json",
			    "d-4", NULL), 200);
	cr_assert_eq(github("workflow_job", "github/job_completed_success.json",
			    "d-5", NULL), 200);

	o = race(GH_JOB);
	cr_expect_str_eq(str(o, "title"), "CI \xc2\xb7 build (ubuntu-latest)");
	cr_expect_str_eq(str(o, "source"), "github");
	cr_expect_str_eq(str(o, "state"), "passed");
	cr_expect_eq(num(o, "progress"), 100);
	cr_expect_str_eq(str(o, "completed_at"), "2026-11-28T10:01:10.000Z");
	cr_expect_eq(num(o, "duration_sec"), 68);
	cr_expect_str_eq(str(o, "deeplink"), "https://github.com/Codertocat/"
			 "Hello-World/actions/runs/940463255/job/2832853555");
	cr_assert(json_object_object_get_ex(o, "metadata", &meta));
	cr_expect_str_eq(str(meta, "build"), "940463255");
	cr_expect_str_eq(str(meta, "conclusion"), "success");
	cr_expect_str_eq(str(meta, "runner"), "GitHub Actions 2");
	cr_expect_eq(n_events(o), 2); /* Build, then Test */
	json_object_put(o);
}

/* A completed before its in_progress (and its queued): the finished
 * race stays finished, and the late deliveries say so. */
Test(hooks, out_of_order_never_moves_a_finished_race_back)
{
	json_object *o;

	cr_assert_eq(github("workflow_job", "github/job_completed_failure.json",
			    "o-1", &o), 201);
	cr_expect_str_eq(str(o, "state"), "failed");
	json_object_put(o);
	cr_assert_eq(github("workflow_job", "github/job_in_progress.json",
			    "o-2", &o), 200);
	expect_status_reply(o, "stale");
	cr_assert_eq(github("workflow_job", "github/job_queued.json", "o-3",
			    &o), 200);
	expect_status_reply(o, "stale");
	o = race(GH_JOB);
	cr_expect_str_eq(str(o, "state"), "failed");
	cr_expect_str_eq(str(o, "completed_at"), "2026-11-28T10:01:10.000Z");
	cr_expect_eq(num(o, "progress"), 100);
	cr_expect_eq(n_events(o), 0);
	json_object_put(o);
}

/* The same delivery twice is applied once; the same content under a new
 * delivery id (a redelivery after a restart) changes nothing either. */
Test(hooks, replays_are_applied_once)
{
	json_object *o;

	cr_assert_eq(github("workflow_job", "github/job_in_progress.json",
			    "r-1", NULL), 201);
	cr_assert_eq(github("workflow_job", "github/job_in_progress.json",
			    "r-1", &o), 200);
	expect_status_reply(o, "duplicate");
	cr_assert_eq(github("workflow_job", "github/job_in_progress.json",
			    "r-2", NULL), 200);
	o = race(GH_JOB);
	cr_expect_eq(n_events(o), 1);
	cr_expect_eq(num(o, "progress"), 33);
	json_object_put(o);
}

/* Nothing unsigned or wrongly signed is stored, and the error says
 * which header is at fault. */
Test(hooks, bad_signatures_are_refused_and_store_nothing)
{
	size_t len;
	char *body = fixture("github/job_queued.json", &len), sig[80],
		hdr[512];
	json_object *o;

	cr_assert_eq(post_raw("/hooks/github", "X-GitHub-Event: workflow_job"
			      "\r\n", body, len, &o), 401);
	cr_expect_str_eq(str(o, "error"), "unauthorized");
	cr_expect_str_eq(str(o, "field"), "X-Hub-Signature-256");
	/* A bearer token would not help: no challenge for one. */
	cr_expect(!strstr(last_headers, "www-authenticate"), "%s",
		  last_headers);
	json_object_put(o);

	sign("another secret", body, len, sig);
	snprintf(hdr, sizeof(hdr), "X-GitHub-Event: workflow_job\r\n"
		 "X-Hub-Signature-256: %s\r\n", sig);
	cr_assert_eq(post_raw("/hooks/github", hdr, body, len, NULL), 401);

	/* Right secret, one byte of the body changed. */
	sign(GH_SECRET, body, len, sig);
	snprintf(hdr, sizeof(hdr), "X-GitHub-Event: workflow_job\r\n"
		 "X-Hub-Signature-256: %s\r\n", sig);
	body[len - 3] = body[len - 3] == ' ' ? '\t' : ' ';
	cr_assert_eq(post_raw("/hooks/github", hdr, body, len, NULL), 401);

	/* The old SHA-1 header alone, and a malformed signature. */
	cr_assert_eq(post_raw("/hooks/github", "X-GitHub-Event: workflow_job\r\n"
			      "X-Hub-Signature: sha1=0123\r\n", body, len,
			      NULL), 401);
	cr_assert_eq(post_raw("/hooks/github", "X-GitHub-Event: workflow_job\r\n"
			      "X-Hub-Signature-256: sha256=zz\r\n", body, len,
			      NULL), 401);
	free(body);

	cr_assert_eq(gitlab("Job Hook", "gitlab/job_running.json", NULL, &o),
		     401);
	cr_expect_str_eq(str(o, "field"), "X-Gitlab-Token");
	json_object_put(o);
	cr_assert_eq(gitlab("Job Hook", "gitlab/job_running.json",
			    GL_SECRET "x", NULL), 401);
	cr_assert_eq(gitlab("Job Hook", "gitlab/job_running.json", "", NULL),
		     401);
	cr_expect_eq(n_races(), 0);
}

/* Events the server does not map are accepted (202) and ignored; a ping
 * answers 200; neither stores anything. */
Test(hooks, unknown_events_and_pings_store_nothing)
{
	json_object *o;

	cr_assert_eq(github("push", "github/push.json", "u-1", &o), 202);
	expect_status_reply(o, "ignored");
	cr_assert_eq(github("ping", "github/ping.json", "u-2", &o), 200);
	expect_status_reply(o, "pong");
	cr_assert_eq(gitlab("Push Hook", "gitlab/push.json", GL_SECRET, &o),
		     202);
	expect_status_reply(o, "ignored");
	cr_expect_eq(n_races(), 0);
}

/* A mapped event without the fields it needs: 400 naming the field. */
Test(hooks, payload_without_ids_is_a_400)
{
	static const char body[] = "{\"action\":\"queued\"}";
	char sig[80], hdr[512];
	json_object *o;

	sign(GH_SECRET, body, strlen(body), sig);
	snprintf(hdr, sizeof(hdr), "X-GitHub-Event: workflow_job\r\n"
		 "X-Hub-Signature-256: %s\r\n", sig);
	cr_assert_eq(post_raw("/hooks/github", hdr, body, strlen(body), &o),
		     400);
	cr_expect_str_eq(str(o, "error"), "missing_field");
	cr_expect_str_eq(str(o, "field"), "workflow_job.id");
	json_object_put(o);
}

Test(hooks, gitlab_job_sequence_becomes_a_finished_race)
{
	json_object *o, *meta;

	cr_assert_eq(gitlab("Job Hook", "gitlab/job_pending.json", GL_SECRET,
			    NULL), 201);
	cr_assert_eq(gitlab("Job Hook", "gitlab/job_running.json", GL_SECRET,
			    NULL), 200);
	o = race(GL_JOB);
	cr_expect_str_eq(str(o, "state"), "running");
	cr_expect_eq(n_events(o), 1);
	json_object_put(o);
	cr_assert_eq(gitlab("Job Hook", "gitlab/job_success.json", GL_SECRET,
			    NULL), 200);
	/* A late "running" after the success: stale. */
	cr_assert_eq(gitlab("Job Hook", "gitlab/job_running.json", GL_SECRET,
			    &o), 200);
	expect_status_reply(o, "stale");
	cr_assert_eq(gitlab("Pipeline Hook", "gitlab/pipeline_success.json",
			    GL_SECRET, NULL), 201);

	o = race(GL_JOB);
	cr_expect_str_eq(str(o, "title"), "gitlab_test \xc2\xb7 test");
	cr_expect_str_eq(str(o, "state"), "passed");
	cr_expect_str_eq(str(o, "started_at"), "2026-11-28T10:00:05.000Z");
	cr_expect_str_eq(str(o, "completed_at"), "2026-11-28T10:01:35.000Z");
	cr_expect_str_eq(str(o, "deeplink"), "https://gitlab.example.com/"
			 "gitlab-org/gitlab-test/-/jobs/1977");
	cr_assert(json_object_object_get_ex(o, "metadata", &meta));
	cr_expect_str_eq(str(meta, "build"), "2366");
	json_object_put(o);
	o = race("gl-380-pipeline-2366");
	cr_expect_str_eq(str(o, "state"), "passed");
	cr_expect_eq(num(o, "progress"), 100);
	json_object_put(o);
}

/* A run and its job share build = run id. */
Test(hooks, workflow_run_and_its_jobs_share_a_build)
{
	json_object *o, *meta;

	cr_assert_eq(github("workflow_run", "github/run_requested.json", "w-1",
			    NULL), 201);
	cr_assert_eq(github("workflow_run", "github/run_in_progress.json",
			    "w-2", NULL), 200);
	cr_assert_eq(github("workflow_job", "github/job_in_progress.json",
			    "w-3", NULL), 201);
	cr_assert_eq(github("workflow_run", "github/run_completed.json", "w-4",
			    NULL), 200);
	o = race("gh-186853002-run-940463255-1");
	cr_expect_str_eq(str(o, "state"), "passed");
	cr_expect_str_eq(str(o, "completed_at"), "2026-11-28T10:02:30.000Z");
	cr_assert(json_object_object_get_ex(o, "metadata", &meta));
	cr_expect_str_eq(str(meta, "build"), "940463255");
	json_object_put(o);
	o = race(GH_JOB);
	cr_assert(json_object_object_get_ex(o, "metadata", &meta));
	cr_expect_str_eq(str(meta, "build"), "940463255");
	json_object_put(o);
}

/* A write token protects REST writes; a webhook proves itself with its
 * signature instead and needs no bearer token. */
Test(hooks_cfg, bearer_token_is_not_asked_of_webhooks)
{
	static const char *const flags[] = {
		"--github-secret", GH_SECRET, "--token", "write-token-123",
		"--no-sync", NULL,
	};

	start_with(flags);
	cr_expect_eq(github("workflow_job", "github/job_queued.json", "t-1",
			    NULL), 201);
}

/* Without a secret the routes do not exist. */
Test(hooks_cfg, no_secret_no_route)
{
	static const char *const flags[] = {"--no-sync", NULL};
	json_object *o;

	start_with(flags);
	cr_assert_eq(github("workflow_job", "github/job_queued.json", "n-1",
			    &o), 404);
	cr_expect_str_eq(str(o, "error"), "not_found");
	json_object_put(o);
	cr_assert_eq(gitlab("Job Hook", "gitlab/job_running.json", GL_SECRET,
			    NULL), 404);
	cr_expect_eq(n_races(), 0);
}

/* A delivery over --hook-max-body: a clear 413, nothing stored. */
Test(hooks_cfg, oversized_delivery_is_a_413)
{
	static const char *const flags[] = {
		"--github-secret", GH_SECRET, "--hook-max-body", "2048",
		"--no-sync", NULL,
	};
	json_object *o;

	start_with(flags);
	cr_assert_eq(github("workflow_job", "github/job_in_progress.json",
			    "b-1", &o), 413);
	cr_expect_str_eq(str(o, "error"), "body_too_large");
	cr_expect(strstr(str(o, "message"), "--hook-max-body"));
	json_object_put(o);
	cr_expect_eq(n_races(), 0);
}
