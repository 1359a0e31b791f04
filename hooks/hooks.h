/*
 * hooks.h - CI webhook payloads (GitHub Actions, GitLab CI) turned into
 * race changes.
 *
 * Pure, like protocol/: no I/O, no clock, no hidden state; it depends on
 * protocol/ and json-c only and never includes libwebsockets, LMDB or
 * OpenSSL. Checking who sent a payload (signatures, tokens) and
 * remembering which deliveries were seen is the server's job
 * (server/hooks_http.c); this layer only reads a payload that is already
 * trusted and says what it means for the board.
 *
 * The mapping (docs/WEBHOOKS.md has the full table):
 *   GitHub workflow_job  -> one race per job,  id gh-<repo id>-<job id>
 *   GitHub workflow_run  -> one race per run attempt,
 *                           id gh-<repo id>-run-<run id>-<attempt>
 *   GitLab Job Hook      -> one race per job,  id gl-<project id>-<job id>
 *   GitLab Pipeline Hook -> one race per pipeline,
 *                           id gl-<project id>-pipeline-<pipeline id>
 * Every race of one run or pipeline carries metadata build = its run or
 * pipeline id, so the prediction model treats them as one build.
 */
#ifndef RACEBOARD_HOOKS_HOOKS_H
#define RACEBOARD_HOOKS_HOOKS_H

#include <stddef.h>

#include "json.h"
#include "race.h"

enum hook_outcome {
	HOOK_RACE = 0,  /* `update` (and maybe `event`) change one race */
	HOOK_PING,      /* the provider checks the endpoint: nothing to store */
	HOOK_IGNORED,   /* an event or action not mapped: nothing to store */
};

/* How far along a race is; a delivery never moves a race to a lower
 * rank (webhooks arrive out of order). */
enum hook_rank {
	HOOK_RANK_QUEUED = 0,
	HOOK_RANK_RUNNING = 1,
	HOOK_RANK_FINISHED = 2,
};

struct hook_change {
	enum hook_outcome outcome;
	const char *why;      /* static; HOOK_IGNORED: a sentence saying why */
	/* HOOK_RACE: a create-or-update with PROTO_F_ID set (owned). It
	 * always carries id, source, title and state; completed_at (with
	 * PROTO_F_COMPLETED_AT) comes from the payload when it finishes. */
	struct proto_race_update update;
	int has_event;        /* the running step or stage, as an event */
	struct proto_event event; /* owned when has_event */
};

/*
 * Maps one GitHub delivery: `event` is the X-GitHub-Event header, `body`
 * the raw JSON (len bytes; need not be NUL-terminated). Returns PROTO_OK
 * with *out filled (HOOK_RACE, HOOK_PING or HOOK_IGNORED), or PROTO_EINVAL
 * (not JSON, or a mapped event without the fields it needs) /
 * PROTO_ENOMEM with *err filled and *out owning nothing. Free *out with
 * hook_change_fini().
 */
int hook_github_map(const char *event, const char *body, size_t len,
		    struct hook_change *out, struct proto_json_error *err);

/*
 * Maps one GitLab delivery: `event` is the X-Gitlab-Event header ("Job
 * Hook", "Pipeline Hook"; the payload's object_kind decides when the
 * header is absent). Same contract as hook_github_map().
 */
int hook_gitlab_map(const char *event, const char *body, size_t len,
		    struct hook_change *out, struct proto_json_error *err);

/* Frees what a change owns and zeroes it. NULL is a no-op. */
void hook_change_fini(struct hook_change *c);

/* The rank of a state: queued, running, or finished (any terminal). */
enum hook_rank hook_rank_of(enum proto_state s);

/*
 * Fits a HOOK_RACE change to the race as it stands (`current`, borrowed;
 * NULL when there is none yet), so that deliveries arriving out of order
 * or twice never move a race back:
 *   - a change of lower rank than the race (an in_progress after the
 *     completed, a queued after the in_progress) is stale: returns 1 and
 *     the caller stores nothing;
 *   - within the running rank, progress never goes down;
 *   - an event equal to the race's last one is dropped (a redelivery).
 * Returns 0 when what is left of *c should be applied.
 */
int hook_change_fit(struct hook_change *c, const struct proto_race *current);

#endif
