/*
 * github.c - GitHub Actions webhooks (workflow_job, workflow_run, ping)
 * as race changes. The fields read are the ones GitHub documents for
 * these events ("Webhook events and payloads"); anything else in the
 * payload is ignored. Pure: no I/O, no clock; never includes lws.
 */
#include <string.h>

#include "hooks_priv.h"

/* A finished job or run's conclusion as a race state. `skipped` is set
 * for a skipped job, which the board shows as canceled with a reason. */
static enum proto_state conclusion_state(const char *conclusion, int *skipped)
{
	*skipped = 0;
	if (!conclusion)
		return PROTO_STATE_FAILED; /* completed without one: unknown */
	if (!strcmp(conclusion, "success") || !strcmp(conclusion, "neutral"))
		return PROTO_STATE_PASSED;
	if (!strcmp(conclusion, "cancelled"))
		return PROTO_STATE_CANCELED;
	if (!strcmp(conclusion, "skipped")) {
		*skipped = 1;
		return PROTO_STATE_CANCELED;
	}
	/* failure, timed_out, action_required, startup_failure, stale */
	return PROTO_STATE_FAILED;
}

static int ignored(struct hook_change *out, const char *why)
{
	memset(out, 0, sizeof(*out));
	out->outcome = HOOK_IGNORED;
	out->why = why;
	return PROTO_OK;
}

/*
 * Steps: progress is completed steps over all steps (a running job stays
 * below 100), and the step in progress becomes the event.
 */
static void job_steps(struct hook_builder *b, json_object *job,
		      enum proto_state state)
{
	json_object *steps = hook_get(job, "steps", NULL);
	size_t n, done = 0;
	json_object *running = NULL;
	int progress;

	if (!steps || !json_object_is_type(steps, json_type_array))
		return;
	n = json_object_array_length(steps);
	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(steps, i);
		const char *st = hook_str(s, "status");

		if (!st)
			continue;
		if (!strcmp(st, "completed"))
			done++;
		else if (!strcmp(st, "in_progress") && !running)
			running = s;
	}
	progress = (int)(done * 100 / n);
	if (state == PROTO_STATE_RUNNING && progress > 99)
		progress = 99;
	hook_build_progress(b, progress);
	if (state == PROTO_STATE_RUNNING && running)
		hook_build_event(b, "step", hook_str(running, "name"),
				 hook_id(running, "number"),
				 hook_time(running, "started_at") >= 0 ?
				 hook_time(running, "started_at") :
				 hook_time(job, "started_at"));
}

static int workflow_job(json_object *p, struct hook_change *out,
			struct proto_json_error *err)
{
	json_object *job = hook_get(p, "workflow_job", NULL);
	const char *action = hook_str(p, "action");
	int64_t repo = hook_id(hook_get(p, "repository", NULL), "id");
	int64_t job_id = hook_id(job, "id");
	enum proto_state state;
	struct hook_builder b;
	int skipped = 0;

	if (!action)
		return hook_fail(err, "missing_field", "action",
				 "a workflow_job payload needs an action");
	if (!strcmp(action, "queued") || !strcmp(action, "waiting"))
		state = PROTO_STATE_QUEUED;
	else if (!strcmp(action, "in_progress"))
		state = PROTO_STATE_RUNNING;
	else if (!strcmp(action, "completed"))
		state = conclusion_state(hook_str(job, "conclusion"), &skipped);
	else
		return ignored(out, "this workflow_job action is not mapped");
	if (!job || job_id < 0)
		return hook_fail(err, "missing_field", "workflow_job.id",
				 "a workflow_job payload needs workflow_job.id");
	if (repo < 0)
		return hook_fail(err, "missing_field", "repository.id",
				 "a workflow_job payload needs repository.id");

	hook_build_start(&b, out, "github", state, "gh-%lld-%lld",
			 (long long)repo, (long long)job_id);
	hook_build_title(&b, hook_str(job, "workflow_name"),
			 hook_str(job, "name"));
	hook_build_deeplink(&b, hook_str(job, "html_url"));
	hook_build_started(&b, state == PROTO_STATE_QUEUED &&
			   hook_time(job, "created_at") >= 0 ?
			   hook_time(job, "created_at") :
			   hook_time(job, "started_at"));
	hook_build_completed(&b, hook_time(job, "completed_at"));
	hook_build_meta(&b, "repo", hook_str(hook_get(p, "repository", NULL),
					     "full_name"));
	hook_build_meta(&b, "workflow", hook_str(job, "workflow_name"));
	hook_build_meta_int(&b, "run_id", hook_id(job, "run_id"));
	hook_build_meta_int(&b, "run_attempt", hook_id(job, "run_attempt"));
	hook_build_meta_int(&b, "build", hook_id(job, "run_id"));
	hook_build_meta(&b, "branch", hook_str(job, "head_branch"));
	hook_build_sha(&b, hook_str(job, "head_sha"));
	hook_build_meta(&b, "runner", hook_str(job, "runner_name"));
	if (!strcmp(action, "waiting"))
		hook_build_meta(&b, "waiting", "environment protection rule");
	if (proto_state_is_terminal(state))
		hook_build_meta(&b, "conclusion", hook_str(job, "conclusion"));
	if (skipped)
		hook_build_meta(&b, "reason", "skipped");
	job_steps(&b, job, state);
	return hook_build_end(&b, err);
}

static int workflow_run(json_object *p, struct hook_change *out,
			struct proto_json_error *err)
{
	json_object *run = hook_get(p, "workflow_run", NULL);
	const char *action = hook_str(p, "action");
	int64_t repo = hook_id(hook_get(p, "repository", NULL), "id");
	int64_t run_id = hook_id(run, "id");
	int64_t attempt = hook_id(run, "run_attempt");
	enum proto_state state;
	struct hook_builder b;
	int skipped = 0;

	if (!action)
		return hook_fail(err, "missing_field", "action",
				 "a workflow_run payload needs an action");
	if (!strcmp(action, "requested"))
		state = PROTO_STATE_QUEUED;
	else if (!strcmp(action, "in_progress"))
		state = PROTO_STATE_RUNNING;
	else if (!strcmp(action, "completed"))
		state = conclusion_state(hook_str(run, "conclusion"), &skipped);
	else
		return ignored(out, "this workflow_run action is not mapped");
	if (!run || run_id < 0)
		return hook_fail(err, "missing_field", "workflow_run.id",
				 "a workflow_run payload needs workflow_run.id");
	if (repo < 0)
		return hook_fail(err, "missing_field", "repository.id",
				 "a workflow_run payload needs repository.id");

	hook_build_start(&b, out, "github", state, "gh-%lld-run-%lld-%lld",
			 (long long)repo, (long long)run_id,
			 (long long)(attempt > 0 ? attempt : 1));
	hook_build_title(&b, hook_str(run, "name"), NULL);
	hook_build_deeplink(&b, hook_str(run, "html_url"));
	hook_build_started(&b, hook_time(run, "run_started_at") >= 0 ?
			   hook_time(run, "run_started_at") :
			   hook_time(run, "created_at"));
	/* A run has no completed_at; its last update is its end. */
	hook_build_completed(&b, hook_time(run, "updated_at"));
	hook_build_meta(&b, "repo", hook_str(hook_get(p, "repository", NULL),
					     "full_name"));
	hook_build_meta(&b, "workflow", hook_str(run, "name"));
	hook_build_meta_int(&b, "run_id", run_id);
	hook_build_meta_int(&b, "run_attempt", attempt);
	hook_build_meta_int(&b, "run_number", hook_id(run, "run_number"));
	hook_build_meta_int(&b, "build", run_id);
	hook_build_meta(&b, "branch", hook_str(run, "head_branch"));
	hook_build_sha(&b, hook_str(run, "head_sha"));
	hook_build_meta(&b, "trigger", hook_str(run, "event"));
	if (proto_state_is_terminal(state))
		hook_build_meta(&b, "conclusion", hook_str(run, "conclusion"));
	if (skipped)
		hook_build_meta(&b, "reason", "skipped");
	return hook_build_end(&b, err);
}

int hook_github_map(const char *event, const char *body, size_t len,
		    struct hook_change *out, struct proto_json_error *err)
{
	json_object *p;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!event)
		return hook_fail(err, "missing_field", "X-GitHub-Event",
				 "the X-GitHub-Event header is missing");
	if (strcmp(event, "ping") && strcmp(event, "workflow_job") &&
	    strcmp(event, "workflow_run"))
		return ignored(out, "this event is not mapped; subscribe the "
			       "webhook to workflow jobs and workflow runs");
	p = hook_parse(body, len, err);
	if (!p)
		return PROTO_EINVAL;
	if (!strcmp(event, "ping")) {
		out->outcome = HOOK_PING;
		rc = PROTO_OK;
	} else if (!strcmp(event, "workflow_job")) {
		rc = workflow_job(p, out, err);
	} else {
		rc = workflow_run(p, out, err);
	}
	json_object_put(p);
	return rc;
}
