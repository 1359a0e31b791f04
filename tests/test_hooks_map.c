/*
 * test_hooks_map.c - hooks/: GitHub and GitLab webhook payloads mapped to
 * race changes, from fixtures written after the fields GitHub's and
 * GitLab's webhook documentation gives (tests/data/hooks/), plus the
 * ordering rule for late and repeated deliveries. Pure: no server.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hooks.h"
#include "record.h"
#include "rfc3339.h"

#ifndef HOOKS_FIXTURES
#error "HOOKS_FIXTURES must name tests/data/hooks"
#endif

static char *slurp(const char *rel, size_t *len)
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

static int map_file(const char *provider, const char *event, const char *rel,
		    struct hook_change *c, struct proto_json_error *err)
{
	size_t len;
	char *body = slurp(rel, &len);
	int rc = !strcmp(provider, "github") ?
		hook_github_map(event, body, len, c, err) :
		hook_gitlab_map(event, body, len, c, err);

	free(body);
	return rc;
}

static const char *meta(const struct proto_race_update *u, const char *key)
{
	for (size_t i = 0; i < u->n_metadata; i++)
		if (!strcmp(u->metadata[i].key, key))
			return u->metadata[i].value;
	return NULL;
}

/* One fixture and what it must become. NULL strings and -1 numbers mean
 * "absent from the update". `meta` is "key=value;..." that must all be
 * there; `no_meta` is "key;..." that must not. */
struct row {
	const char *provider, *event, *file;
	enum hook_outcome outcome;
	const char *id, *title;
	int state, progress;
	const char *started, *completed, *deeplink, *meta, *no_meta;
	const char *ev_type, *ev_data, *ev_time;
};

#define GH_JOB "gh-186853002-2832853555"
#define GH_RUN "gh-186853002-run-940463255-1"
#define GH_LINK "https://github.com/Codertocat/Hello-World/actions/runs/" \
		"940463255/job/2832853555"
#define GH_META "repo=Codertocat/Hello-World;workflow=CI;run_id=940463255;" \
		"run_attempt=1;build=940463255;branch=main;sha=f83a356"
#define GL_JOB "gl-380-1977"
#define GL_LINK "https://gitlab.example.com/gitlab-org/gitlab-test/-/jobs/1977"
#define GL_META "repo=gitlab-org/gitlab-test;pipeline_id=2366;build=2366;" \
		"stage=test;branch=main;sha=2293ada"

static const struct row rows[] = {
	{"github", "workflow_job", "github/job_queued.json", HOOK_RACE,
	 GH_JOB, "CI \xc2\xb7 build (ubuntu-latest)", PROTO_STATE_QUEUED, -1,
	 "2026-11-28T09:59:50Z", NULL, GH_LINK, GH_META,
	 "runner;conclusion;reason;waiting", NULL, NULL, NULL},
	{"github", "workflow_job", "github/job_waiting.json", HOOK_RACE,
	 GH_JOB, "CI \xc2\xb7 build (ubuntu-latest)", PROTO_STATE_QUEUED, -1,
	 "2026-11-28T09:59:50Z", NULL, GH_LINK,
	 GH_META ";waiting=environment protection rule", "runner", NULL, NULL,
	 NULL},
	/* 2 of 6 steps done; step 3 runs. */
	{"github", "workflow_job", "github/job_in_progress.json", HOOK_RACE,
	 GH_JOB, "CI \xc2\xb7 build (ubuntu-latest)", PROTO_STATE_RUNNING, 33,
	 "2026-11-28T10:00:02Z", NULL, GH_LINK,
	 GH_META ";runner=GitHub Actions 2", "conclusion;reason", "step",
	 "{\"name\":\"Build\",\"number\":3}", "2026-11-28T10:00:25Z"},
	{"github", "workflow_job", "github/job_completed_success.json",
	 HOOK_RACE, GH_JOB, "CI \xc2\xb7 build (ubuntu-latest)",
	 PROTO_STATE_PASSED, 100, "2026-11-28T10:00:02Z",
	 "2026-11-28T10:01:10Z", GH_LINK,
	 GH_META ";runner=GitHub Actions 2;conclusion=success", "reason", NULL,
	 NULL, NULL},
	{"github", "workflow_job", "github/job_completed_failure.json",
	 HOOK_RACE, GH_JOB, "CI \xc2\xb7 build (ubuntu-latest)",
	 PROTO_STATE_FAILED, 100, "2026-11-28T10:00:02Z",
	 "2026-11-28T10:01:10Z", GH_LINK, GH_META ";conclusion=failure",
	 "reason", NULL, NULL, NULL},
	{"github", "workflow_job", "github/job_completed_skipped.json",
	 HOOK_RACE, GH_JOB, "CI \xc2\xb7 deploy", PROTO_STATE_CANCELED, -1,
	 "2026-11-28T09:59:51Z", "2026-11-28T09:59:51Z", GH_LINK,
	 GH_META ";conclusion=skipped;reason=skipped", "runner", NULL, NULL,
	 NULL},
	/* Canceled mid-run: 2 of 6 steps had completed. */
	{"github", "workflow_job", "github/job_completed_cancelled.json",
	 HOOK_RACE, GH_JOB, "CI \xc2\xb7 build (ubuntu-latest)",
	 PROTO_STATE_CANCELED, 33, "2026-11-28T10:00:02Z",
	 "2026-11-28T10:00:40Z", GH_LINK, GH_META ";conclusion=cancelled",
	 "reason", NULL, NULL, NULL},
	{"github", "workflow_run", "github/run_requested.json", HOOK_RACE,
	 GH_RUN, "CI", PROTO_STATE_QUEUED, -1, "2026-11-28T09:59:48Z", NULL,
	 "https://github.com/Codertocat/Hello-World/actions/runs/940463255",
	 GH_META ";run_number=42;trigger=push", "conclusion", NULL, NULL,
	 NULL},
	{"github", "workflow_run", "github/run_in_progress.json", HOOK_RACE,
	 GH_RUN, "CI", PROTO_STATE_RUNNING, -1, "2026-11-28T09:59:48Z", NULL,
	 "https://github.com/Codertocat/Hello-World/actions/runs/940463255",
	 GH_META, "conclusion", NULL, NULL, NULL},
	{"github", "workflow_run", "github/run_completed.json", HOOK_RACE,
	 GH_RUN, "CI", PROTO_STATE_PASSED, -1, "2026-11-28T09:59:48Z",
	 "2026-11-28T10:02:30Z",
	 "https://github.com/Codertocat/Hello-World/actions/runs/940463255",
	 GH_META ";conclusion=success", NULL, NULL, NULL, NULL},
	{"github", "ping", "github/ping.json", HOOK_PING, NULL, NULL, 0, -1,
	 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
	{"github", "push", "github/push.json", HOOK_IGNORED, NULL, NULL, 0, -1,
	 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL},

	{"gitlab", "Job Hook", "gitlab/job_created.json", HOOK_RACE, GL_JOB,
	 "gitlab_test \xc2\xb7 test", PROTO_STATE_QUEUED, -1,
	 "2026-11-28T10:00:00Z", NULL, GL_LINK, GL_META,
	 "runner;status;reason;failure_reason", NULL, NULL, NULL},
	{"gitlab", "Job Hook", "gitlab/job_pending.json", HOOK_RACE, GL_JOB,
	 "gitlab_test \xc2\xb7 test", PROTO_STATE_QUEUED, -1,
	 "2026-11-28T10:00:00Z", NULL, GL_LINK, GL_META, "runner", NULL, NULL,
	 NULL},
	{"gitlab", "Job Hook", "gitlab/job_running.json", HOOK_RACE, GL_JOB,
	 "gitlab_test \xc2\xb7 test", PROTO_STATE_RUNNING, -1,
	 "2026-11-28T10:00:05Z", NULL, GL_LINK,
	 GL_META ";runner=shared-runners-manager-6.gitlab.com",
	 "status;failure_reason", "stage", "{\"name\":\"test\"}",
	 "2026-11-28T10:00:05Z"},
	{"gitlab", "Job Hook", "gitlab/job_success.json", HOOK_RACE, GL_JOB,
	 "gitlab_test \xc2\xb7 test", PROTO_STATE_PASSED, -1,
	 "2026-11-28T10:00:05Z", "2026-11-28T10:01:35Z", GL_LINK,
	 GL_META ";status=success", "failure_reason;reason", NULL, NULL, NULL},
	{"gitlab", "Job Hook", "gitlab/job_failed.json", HOOK_RACE, GL_JOB,
	 "gitlab_test \xc2\xb7 test", PROTO_STATE_FAILED, -1,
	 "2026-11-28T10:00:05Z", "2026-11-28T10:01:35Z", GL_LINK,
	 GL_META ";status=failed;failure_reason=script_failure", "reason",
	 NULL, NULL, NULL},
	/* The classic "... UTC" field when the *_iso one is null. */
	{"gitlab", "Job Hook", "gitlab/job_skipped.json", HOOK_RACE,
	 "gl-380-1978", "gitlab_test \xc2\xb7 deploy", PROTO_STATE_CANCELED, -1,
	 "2026-11-28T10:00:00Z", "2026-11-28T10:01:36Z",
	 "https://gitlab.example.com/gitlab-org/gitlab-test/-/jobs/1978",
	 "stage=deploy;status=skipped;reason=skipped", NULL, NULL, NULL, NULL},
	/* Older GitLab: no *_iso, no pipeline_id (commit.id is the
	 * pipeline), no project object, a "+0100" offset. */
	{"gitlab", "Job Hook", "gitlab/job_running_old.json", HOOK_RACE, GL_JOB,
	 "gitlab_test \xc2\xb7 test", PROTO_STATE_RUNNING, -1,
	 "2026-11-28T10:00:05Z", NULL, GL_LINK,
	 "repo=gitlab-org/gitlab-test;pipeline_id=2366;build=2366", NULL,
	 "stage", "{\"name\":\"test\"}", "2026-11-28T10:00:05Z"},
	/* 1 of 3 jobs finished; "test" runs. */
	{"gitlab", "Pipeline Hook", "gitlab/pipeline_running.json", HOOK_RACE,
	 "gl-380-pipeline-2366", "gitlab_test \xc2\xb7 pipeline",
	 PROTO_STATE_RUNNING, 33, "2026-11-28T09:59:58Z", NULL,
	 "https://gitlab.example.com/gitlab-org/gitlab-test/-/pipelines/2366",
	 "repo=gitlab-org/gitlab-test;pipeline_id=2366;pipeline_iid=12;"
	 "build=2366;branch=main;sha=2293ada;trigger=push", "status", "stage",
	 "{\"name\":\"test\"}", "2026-11-28T10:00:05Z"},
	{"gitlab", "Pipeline Hook", "gitlab/pipeline_success.json", HOOK_RACE,
	 "gl-380-pipeline-2366", "gitlab_test \xc2\xb7 pipeline",
	 PROTO_STATE_PASSED, 100, "2026-11-28T09:59:58Z",
	 "2026-11-28T10:01:40Z",
	 "https://gitlab.example.com/gitlab-org/gitlab-test/-/pipelines/2366",
	 "build=2366;status=success", NULL, NULL, NULL, NULL},
	/* Without the header, object_kind decides. */
	{"gitlab", NULL, "gitlab/job_running.json", HOOK_RACE, GL_JOB,
	 "gitlab_test \xc2\xb7 test", PROTO_STATE_RUNNING, -1,
	 "2026-11-28T10:00:05Z", NULL, GL_LINK, GL_META, NULL, "stage",
	 "{\"name\":\"test\"}", NULL},
	{"gitlab", "Push Hook", "gitlab/push.json", HOOK_IGNORED, NULL, NULL, 0,
	 -1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
	{"gitlab", NULL, "gitlab/push.json", HOOK_IGNORED, NULL, NULL, 0, -1,
	 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};

/* Each test runs in a fresh process where the tables' string pointers
 * may differ (PIE), so the parameter is an index into them. */
static void free_params(struct criterion_test_params *p)
{
	cr_free(p->params);
}

static struct criterion_test_params indices(size_t n)
{
	size_t *ix = cr_malloc(n * sizeof(*ix));

	for (size_t i = 0; i < n; i++)
		ix[i] = i;
	return cr_make_param_array(size_t, ix, n, free_params);
}

ParameterizedTestParameters(hooks_map, fixture)
{
	return indices(sizeof(rows) / sizeof(rows[0]));
}

static void expect_time(const char *what, int has, int64_t ms,
			const char *want)
{
	char buf[PROTO_TIME_BUFSZ];
	int64_t w;

	if (!want) {
		cr_expect(!has, "%s should be absent", what);
		return;
	}
	cr_assert(has, "%s missing", what);
	cr_assert_eq(proto_time_parse(want, &w), PROTO_OK);
	cr_expect_eq(ms, w, "%s: %s, want %s", what,
		     proto_time_format(ms, buf), want);
}

static void expect_meta(const struct proto_race_update *u, const char *spec,
			int present)
{
	char copy[512], *save = NULL;

	if (!spec)
		return;
	snprintf(copy, sizeof(copy), "%s", spec);
	for (char *kv = strtok_r(copy, ";", &save); kv;
	     kv = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(kv, '=');
		const char *got;

		if (eq)
			*eq = '\0';
		got = meta(u, kv);
		if (!present) {
			cr_expect(!got, "metadata %s should be absent, is '%s'",
				  kv, got);
			continue;
		}
		cr_expect(got, "metadata %s missing", kv);
		if (got && eq)
			cr_expect_str_eq(got, eq + 1, "metadata %s", kv);
	}
}

ParameterizedTest(size_t *ix, hooks_map, fixture)
{
	const struct row *r = &rows[*ix];
	struct hook_change c;
	struct proto_json_error err = {0};
	const struct proto_race_update *u = &c.update;

	cr_assert_eq(map_file(r->provider, r->event, r->file, &c, &err),
		     PROTO_OK, "%s: %s", r->file, err.message);
	cr_assert_eq(c.outcome, r->outcome, "%s: outcome", r->file);
	if (r->outcome != HOOK_RACE) {
		cr_expect(!u->set && !c.has_event);
		cr_expect(r->outcome != HOOK_IGNORED || c.why);
		hook_change_fini(&c);
		return;
	}
	cr_assert(u->set & PROTO_F_ID);
	cr_expect_str_eq(u->id, r->id, "%s: id", r->file);
	cr_expect(proto_id_valid(u->id));
	cr_expect_str_eq(u->source, r->provider);
	cr_expect_str_eq(u->title, r->title, "%s: title", r->file);
	cr_expect(u->set & PROTO_F_STATE);
	cr_expect_eq(u->state, r->state, "%s: state %s", r->file,
		     proto_state_name(u->state));
	if (r->progress < 0)
		cr_expect(!(u->set & PROTO_F_PROGRESS), "%s: progress %d",
			  r->file, u->progress);
	else
		cr_expect(u->set & PROTO_F_PROGRESS &&
			  u->progress == r->progress, "%s: progress %d",
			  r->file, u->progress);
	expect_time("started_at", u->set & PROTO_F_STARTED_AT, u->started_at,
		    r->started);
	expect_time("completed_at", u->set & PROTO_F_COMPLETED_AT,
		    u->completed_at, r->completed);
	if (r->deeplink)
		cr_expect(u->deeplink && !strcmp(u->deeplink, r->deeplink),
			  "%s: deeplink %s", r->file, u->deeplink);
	expect_meta(u, r->meta, 1);
	expect_meta(u, r->no_meta, 0);
	cr_expect_eq(c.has_event, r->ev_type != NULL, "%s: event", r->file);
	if (r->ev_type && c.has_event) {
		cr_expect_str_eq(c.event.type, r->ev_type);
		cr_expect_str_eq(c.event.data_json, r->ev_data);
		if (r->ev_time)
			expect_time("event timestamp", 1, c.event.timestamp,
				    r->ev_time);
	}
	hook_change_fini(&c);
}

/* A delivery that is not the JSON the provider sends is refused with a
 * field to blame, and the change owns nothing. */
struct bad {
	const char *provider, *event, *body, *code, *field;
};

static const struct bad bads[] = {
	{"github", "workflow_job", "{", "invalid_json", ""},
	{"github", "workflow_job", "[1,2]", "invalid_type", ""},
	{"github", "workflow_job", "{\"workflow_job\":{\"id\":1},"
	 "\"repository\":{\"id\":2}}", "missing_field", "action"},
	{"github", "workflow_job", "{\"action\":\"queued\","
	 "\"repository\":{\"id\":2}}", "missing_field", "workflow_job.id"},
	{"github", "workflow_job", "{\"action\":\"queued\",\"workflow_job\":"
	 "{\"id\":-4},\"repository\":{\"id\":2}}", "missing_field",
	 "workflow_job.id"},
	{"github", "workflow_job", "{\"action\":\"queued\",\"workflow_job\":"
	 "{\"id\":1}}", "missing_field", "repository.id"},
	{"github", "workflow_run", "{\"action\":\"completed\","
	 "\"repository\":{\"id\":2}}", "missing_field", "workflow_run.id"},
	{"github", NULL, "{}", "missing_field", "X-GitHub-Event"},
	{"gitlab", "Job Hook", "{\"build_id\":1,\"project_id\":2}",
	 "missing_field", "build_status"},
	{"gitlab", "Job Hook", "{\"build_status\":\"running\",\"project_id\":2}",
	 "missing_field", "build_id"},
	{"gitlab", "Pipeline Hook", "{\"object_attributes\":{\"id\":1,"
	 "\"status\":\"running\"}}", "missing_field", "project.id"},
	{"gitlab", NULL, "{\"build_id\":1}", "missing_field", "object_kind"},
	{"gitlab", "Job Hook", "\"text\"", "invalid_type", ""},
};

ParameterizedTestParameters(hooks_map, refused)
{
	return indices(sizeof(bads) / sizeof(bads[0]));
}

ParameterizedTest(size_t *ix, hooks_map, refused)
{
	const struct bad *b = &bads[*ix];
	struct hook_change c;
	struct proto_json_error err = {0};
	int rc = !strcmp(b->provider, "github") ?
		hook_github_map(b->event, b->body, strlen(b->body), &c, &err) :
		hook_gitlab_map(b->event, b->body, strlen(b->body), &c, &err);

	cr_assert_eq(rc, PROTO_EINVAL, "%s", b->body);
	cr_expect_str_eq(err.code, b->code, "%s", b->body);
	cr_expect_str_eq(err.field, b->field, "%s", b->body);
	cr_expect(!c.update.set && !c.update.id && !c.has_event);
}

/* An action or status we do not map is not an error: the server answers
 * 202 and stores nothing. */
Test(hooks_map, unmapped_actions_are_ignored)
{
	static const char *const gh[] = {
		"{\"action\":\"deleted\",\"workflow_job\":{\"id\":1},"
		"\"repository\":{\"id\":2}}",
		"{\"action\":\"edited\"}",
	};
	static const char gl[] = "{\"build_status\":\"odd\",\"build_id\":1}";
	struct hook_change c;
	struct proto_json_error err;

	for (size_t i = 0; i < 2; i++) {
		cr_assert_eq(hook_github_map(i ? "workflow_run" : "workflow_job",
					     gh[i], strlen(gh[i]), &c, &err),
			     PROTO_OK);
		cr_expect_eq(c.outcome, HOOK_IGNORED);
	}
	cr_assert_eq(hook_gitlab_map("Job Hook", gl, strlen(gl), &c, &err),
		     PROTO_OK);
	cr_expect_eq(c.outcome, HOOK_IGNORED);
	/* An unknown event is not even parsed. */
	cr_assert_eq(hook_github_map("issues", "not json", 8, &c, &err),
		     PROTO_OK);
	cr_expect_eq(c.outcome, HOOK_IGNORED);
}

/* Titles longer than the race limit are cut on a character boundary. */
Test(hooks_map, long_titles_are_cut_on_a_character)
{
	size_t n = 3000, len;
	char *name = malloc(n * 2 + 1), *body = malloc(n * 2 + 256);
	struct hook_change c;
	struct proto_json_error err;

	for (size_t i = 0; i < n; i++)
		memcpy(name + 2 * i, "\xc3\xa9", 2); /* é */
	name[2 * n] = '\0';
	len = (size_t)sprintf(body, "{\"action\":\"queued\",\"workflow_job\":"
			      "{\"id\":7,\"name\":\"%s\",\"workflow_name\":"
			      "\"W\"},\"repository\":{\"id\":9}}", name);
	cr_assert_eq(hook_github_map("workflow_job", body, len, &c, &err),
		     PROTO_OK, "%s", err.message);
	cr_expect_leq(strlen(c.update.title), PROTO_TITLE_MAX);
	cr_expect_eq(strlen(c.update.title) % 2, 1); /* "W · " is 5 bytes */
	cr_expect_eq((unsigned char)c.update.title[strlen(c.update.title) - 1],
		     0xa9);
	cr_expect_str_eq(c.update.id, "gh-9-7");
	hook_change_fini(&c);
	free(name);
	free(body);
}

/* The short sha is 7 bytes of head_sha, cut on a character: cut inside
 * one, the race's stored record did not decode (fuzz_hooks). */
Test(hooks_map, a_short_sha_is_cut_on_a_character)
{
	static const char body[] = "{\"action\":\"queued\",\"workflow_job\":"
		"{\"id\":7,\"name\":\"b\",\"workflow_name\":\"W\","
		"\"head_sha\":\"f83a35\xca\x9b\xc8\xa3\"},"
		"\"repository\":{\"id\":9}}";
	struct proto_race *r, *back = NULL;
	struct proto_json_error err;
	struct hook_change c;
	char *rec = NULL;
	size_t n;
	int e = 0;

	cr_assert_eq(hook_github_map("workflow_job", body, sizeof(body) - 1,
				     &c, &err), PROTO_OK, "%s", err.message);
	cr_expect_str_eq(meta(&c.update, "sha"), "f83a35");
	r = proto_race_create(&c.update, c.update.id, 1700000000000, &e);
	cr_assert_not_null(r);
	cr_assert_eq(proto_record_encode(r, &rec, &n), PROTO_OK);
	cr_expect_eq(proto_record_decode_json(rec, n, &back), PROTO_OK,
		     "%.*s", (int)n, rec);
	proto_race_free(back);
	proto_race_free(r);
	free(rec);
	hook_change_fini(&c);
}

/* --- The ordering rule: a race never moves back. --- */

static struct proto_race *race_from(const char *rel)
{
	struct hook_change c;
	struct proto_json_error err;
	struct proto_race *r;
	int e = 0;

	cr_assert_eq(map_file("github", "workflow_job", rel, &c, &err),
		     PROTO_OK);
	r = proto_race_create(&c.update, c.update.id, 1000, &e);
	cr_assert(r);
	if (c.has_event) {
		cr_assert_eq(proto_race_add_event(r, &c.event, NULL), PROTO_OK);
		c.has_event = 0;
	}
	hook_change_fini(&c);
	return r;
}

static int fit(const char *rel, const struct proto_race *cur,
	       struct hook_change *c)
{
	struct proto_json_error err;

	cr_assert_eq(map_file("github", "workflow_job", rel, c, &err),
		     PROTO_OK);
	return hook_change_fit(c, cur);
}

Test(hooks_fit, finished_race_is_not_moved_back)
{
	struct proto_race *done = race_from("github/job_completed_success.json");
	struct hook_change c;

	cr_expect_eq(fit("github/job_in_progress.json", done, &c), 1);
	hook_change_fini(&c);
	cr_expect_eq(fit("github/job_queued.json", done, &c), 1);
	hook_change_fini(&c);
	/* The same completion again is not stale (it changes nothing). */
	cr_expect_eq(fit("github/job_completed_success.json", done, &c), 0);
	hook_change_fini(&c);
	proto_race_free(done);
}

Test(hooks_fit, running_race_is_not_queued_again)
{
	struct proto_race *run = race_from("github/job_in_progress.json");
	struct hook_change c;

	cr_expect_eq(fit("github/job_queued.json", run, &c), 1);
	hook_change_fini(&c);
	cr_expect_eq(fit("github/job_completed_failure.json", run, &c), 0);
	hook_change_fini(&c);
	proto_race_free(run);
}

Test(hooks_fit, progress_never_goes_down_and_events_are_not_repeated)
{
	struct proto_race *later = race_from("github/job_in_progress_later.json");
	struct proto_race *run = race_from("github/job_in_progress.json");
	struct hook_change c;

	/* An older in_progress after a newer one: progress stays. */
	cr_expect_eq(fit("github/job_in_progress.json", later, &c), 0);
	cr_expect(!(c.update.set & PROTO_F_PROGRESS));
	cr_expect(c.has_event); /* a different step than the race's last */
	hook_change_fini(&c);
	/* The same delivery twice: same progress, no second event. */
	cr_expect_eq(fit("github/job_in_progress.json", run, &c), 0);
	cr_expect(c.update.set & PROTO_F_PROGRESS);
	cr_expect(!c.has_event);
	hook_change_fini(&c);
	/* No race yet: everything applies. */
	cr_expect_eq(fit("github/job_in_progress.json", NULL, &c), 0);
	cr_expect(c.has_event && c.update.set & PROTO_F_PROGRESS);
	hook_change_fini(&c);
	proto_race_free(later);
	proto_race_free(run);
}

/* The completion time is the payload's, not the time of arrival, and
 * the duration follows from it. */
Test(hooks_fit, completed_at_comes_from_the_payload)
{
	struct proto_race *done = race_from("github/job_completed_success.json");
	int64_t want;

	cr_assert_eq(proto_time_parse("2026-11-28T10:01:10Z", &want), 0);
	cr_expect_eq(done->completed_at, want);
	cr_expect_eq(done->duration_sec, 68);
	proto_race_free(done);
}
