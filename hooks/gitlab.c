/*
 * gitlab.c - GitLab CI webhooks ("Job Hook", "Pipeline Hook") as race
 * changes. The fields read are the ones GitLab documents for these
 * events ("Webhook events": Job events, Pipeline events); anything else
 * is ignored. Pure: no I/O, no clock; never includes lws.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hooks_priv.h"

static int ignored(struct hook_change *out, const char *why)
{
	memset(out, 0, sizeof(*out));
	out->outcome = HOOK_IGNORED;
	out->why = why;
	return PROTO_OK;
}

/* A GitLab job or pipeline status as a race state; -1 when unknown.
 * `skipped` is set for skipped, shown as canceled with a reason. */
static int status_state(const char *s, int *skipped)
{
	static const char *const waiting[] = {
		"created", "pending", "waiting_for_resource", "preparing",
		"scheduled", "manual", "waiting_for_callback",
	};

	*skipped = 0;
	if (!s)
		return -1;
	for (size_t i = 0; i < sizeof(waiting) / sizeof(waiting[0]); i++)
		if (!strcmp(s, waiting[i]))
			return PROTO_STATE_QUEUED;
	if (!strcmp(s, "running"))
		return PROTO_STATE_RUNNING;
	if (!strcmp(s, "success"))
		return PROTO_STATE_PASSED;
	if (!strcmp(s, "failed"))
		return PROTO_STATE_FAILED;
	if (!strcmp(s, "canceled") || !strcmp(s, "canceling"))
		return PROTO_STATE_CANCELED;
	if (!strcmp(s, "skipped")) {
		*skipped = 1;
		return PROTO_STATE_CANCELED;
	}
	return -1;
}

/* The first of two timestamp fields that is readable (the *_iso form
 * newer GitLab versions add, then the classic one); -1 if neither. */
static int64_t either_time(json_object *o, const char *iso, const char *plain)
{
	int64_t t = hook_time(o, iso);

	return t >= 0 ? t : hook_time(o, plain);
}

/* The project's web URL: project.web_url, else repository.homepage. */
static const char *project_url(json_object *p)
{
	const char *u = hook_str(hook_get(p, "project", NULL), "web_url");

	return u ? u : hook_str(hook_get(p, "repository", NULL), "homepage");
}

static int job_hook(json_object *p, struct hook_change *out,
		    struct proto_json_error *err)
{
	const char *status = hook_str(p, "build_status");
	const char *base = project_url(p);
	const char *repo = hook_str(hook_get(p, "project", NULL),
				    "path_with_namespace");
	int64_t project = hook_id(p, "project_id");
	int64_t job = hook_id(p, "build_id");
	int64_t pipeline = hook_id(p, "pipeline_id");
	int skipped, st = status_state(status, &skipped);
	int64_t created, started;
	struct hook_builder b;
	char link[PROTO_DEEPLINK_MAX + 1];

	if (!status)
		return hook_fail(err, "missing_field", "build_status",
				 "a Job Hook payload needs build_status");
	if (st < 0)
		return ignored(out, "this job status is not mapped");
	if (job < 0)
		return hook_fail(err, "missing_field", "build_id",
				 "a Job Hook payload needs build_id");
	if (project < 0)
		return hook_fail(err, "missing_field", "project_id",
				 "a Job Hook payload needs project_id");
	if (pipeline < 0) /* older payloads: commit.id is the pipeline */
		pipeline = hook_id(hook_get(p, "commit", NULL), "id");

	hook_build_start(&b, out, "gitlab", (enum proto_state)st,
			 "gl-%lld-%lld", (long long)project, (long long)job);
	hook_build_title(&b, hook_str(hook_get(p, "repository", NULL), "name") ?
			 hook_str(hook_get(p, "repository", NULL), "name") :
			 hook_str(p, "project_name"),
			 hook_str(p, "build_name"));
	if (base && (size_t)snprintf(link, sizeof(link), "%s/-/jobs/%lld", base,
				     (long long)job) < sizeof(link))
		hook_build_deeplink(&b, link);
	created = either_time(p, "build_created_at_iso", "build_created_at");
	started = either_time(p, "build_started_at_iso", "build_started_at");
	hook_build_started(&b, st == PROTO_STATE_QUEUED && created >= 0 ?
			   created : started >= 0 ? started : created);
	hook_build_completed(&b, either_time(p, "build_finished_at_iso",
					     "build_finished_at"));
	hook_build_meta(&b, "repo", repo ? repo : hook_str(p, "project_name"));
	hook_build_meta_int(&b, "pipeline_id", pipeline);
	hook_build_meta_int(&b, "build", pipeline);
	hook_build_meta(&b, "stage", hook_str(p, "build_stage"));
	hook_build_meta(&b, "branch", hook_str(p, "ref"));
	hook_build_sha(&b, hook_str(p, "sha"));
	hook_build_meta(&b, "runner", hook_str(hook_get(p, "runner", NULL),
					       "description"));
	if (st != PROTO_STATE_QUEUED && st != PROTO_STATE_RUNNING)
		hook_build_meta(&b, "status", status);
	if (st == PROTO_STATE_FAILED)
		hook_build_meta(&b, "failure_reason",
				hook_str(p, "build_failure_reason"));
	if (skipped)
		hook_build_meta(&b, "reason", "skipped");
	if (st == PROTO_STATE_RUNNING)
		hook_build_event(&b, "stage", hook_str(p, "build_stage"), -1,
				 started);
	return hook_build_end(&b, err);
}

/*
 * A pipeline: progress is finished jobs over all jobs of the payload's
 * "builds", and the stage of the first running job becomes the event.
 */
static void pipeline_builds(struct hook_builder *b, json_object *p,
			    enum proto_state state, int64_t started)
{
	json_object *builds = hook_get(p, "builds", NULL);
	size_t n, done = 0;
	const char *stage = NULL;
	int64_t stage_at = started;
	int progress, skipped;

	if (!builds || !json_object_is_type(builds, json_type_array))
		return;
	n = json_object_array_length(builds);
	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		json_object *j = json_object_array_get_idx(builds, i);
		int st = status_state(hook_str(j, "status"), &skipped);

		if (st >= 0 && proto_state_is_terminal((enum proto_state)st))
			done++;
		else if (st == PROTO_STATE_RUNNING && !stage) {
			stage = hook_str(j, "stage");
			if (hook_time(j, "started_at") >= 0)
				stage_at = hook_time(j, "started_at");
		}
	}
	progress = (int)(done * 100 / n);
	if (state == PROTO_STATE_RUNNING && progress > 99)
		progress = 99;
	hook_build_progress(b, progress);
	if (state == PROTO_STATE_RUNNING && stage)
		hook_build_event(b, "stage", stage, -1, stage_at);
}

static int pipeline_hook(json_object *p, struct hook_change *out,
			 struct proto_json_error *err)
{
	json_object *attr = hook_get(p, "object_attributes", NULL);
	json_object *proj = hook_get(p, "project", NULL);
	const char *status = hook_str(attr, "status");
	int64_t project = hook_id(proj, "id");
	int64_t pipeline = hook_id(attr, "id");
	int skipped, st = status_state(status, &skipped);
	int64_t created, started;
	struct hook_builder b;

	if (!status)
		return hook_fail(err, "missing_field", "object_attributes.status",
				 "a Pipeline Hook payload needs "
				 "object_attributes.status");
	if (st < 0)
		return ignored(out, "this pipeline status is not mapped");
	if (pipeline < 0)
		return hook_fail(err, "missing_field", "object_attributes.id",
				 "a Pipeline Hook payload needs "
				 "object_attributes.id");
	if (project < 0)
		return hook_fail(err, "missing_field", "project.id",
				 "a Pipeline Hook payload needs project.id");

	hook_build_start(&b, out, "gitlab", (enum proto_state)st,
			 "gl-%lld-pipeline-%lld", (long long)project,
			 (long long)pipeline);
	hook_build_title(&b, hook_str(proj, "name"),
			 hook_str(attr, "name") ? hook_str(attr, "name") :
			 "pipeline");
	hook_build_deeplink(&b, hook_str(attr, "url"));
	created = hook_time(attr, "created_at");
	started = hook_time(attr, "started_at"); /* not always present */
	hook_build_started(&b, st == PROTO_STATE_QUEUED || started < 0 ?
			   created : started);
	hook_build_completed(&b, hook_time(attr, "finished_at"));
	hook_build_meta(&b, "repo", hook_str(proj, "path_with_namespace"));
	hook_build_meta_int(&b, "pipeline_id", pipeline);
	hook_build_meta_int(&b, "pipeline_iid", hook_id(attr, "iid"));
	hook_build_meta_int(&b, "build", pipeline);
	hook_build_meta(&b, "branch", hook_str(attr, "ref"));
	hook_build_sha(&b, hook_str(attr, "sha"));
	hook_build_meta(&b, "trigger", hook_str(attr, "source"));
	if (st != PROTO_STATE_QUEUED && st != PROTO_STATE_RUNNING)
		hook_build_meta(&b, "status", status);
	if (skipped)
		hook_build_meta(&b, "reason", "skipped");
	pipeline_builds(&b, p, (enum proto_state)st,
			started >= 0 ? started : created);
	return hook_build_end(&b, err);
}

int hook_gitlab_map(const char *event, const char *body, size_t len,
		    struct hook_change *out, struct proto_json_error *err)
{
	json_object *p;
	const char *kind;
	int rc;

	memset(out, 0, sizeof(*out));
	if (event && strcmp(event, "Job Hook") && strcmp(event, "Pipeline Hook"))
		return ignored(out, "this event is not mapped; enable job and "
			       "pipeline events on the webhook");
	p = hook_parse(body, len, err);
	if (!p)
		return PROTO_EINVAL;
	kind = hook_str(p, "object_kind");
	if (!event && !kind) {
		rc = hook_fail(err, "missing_field", "object_kind",
			       "send X-Gitlab-Event or a payload with "
			       "object_kind");
	} else if (event ? !strcmp(event, "Job Hook") : !strcmp(kind, "build")) {
		rc = job_hook(p, out, err);
	} else if (event || !strcmp(kind, "pipeline")) {
		rc = pipeline_hook(p, out, err);
	} else {
		rc = ignored(out, "this event is not mapped; enable job and "
			     "pipeline events on the webhook");
	}
	json_object_put(p);
	return rc;
}
