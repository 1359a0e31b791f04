/*
 * test_proto_race.c - the race model and its update rules
 * (protocol/race.c, protocol/race_apply.c).
 *
 * Every update rule of the product spec has a test here; time is always a
 * fixed argument, never the clock. Failed applies are checked to leave the
 * race exactly as it was (deep comparison against a copy).
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "race.h"

#define T0 1735787045000LL /* 2025-01-02T03:04:05Z */

/* Deep equality of two races, has-bits and private fields included. */
static int str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int race_equal(const struct proto_race *a, const struct proto_race *b)
{
	if (!str_eq(a->id, b->id) || !str_eq(a->source, b->source) ||
	    !str_eq(a->title, b->title) || !str_eq(a->deeplink, b->deeplink) ||
	    a->state != b->state || a->started_at != b->started_at ||
	    a->has != b->has || a->eta_sec != b->eta_sec ||
	    a->progress != b->progress || a->eta_source != b->eta_source ||
	    a->eta_confidence != b->eta_confidence ||
	    a->update_interval_hint != b->update_interval_hint ||
	    a->hint_explicit != b->hint_explicit ||
	    a->completed_at != b->completed_at ||
	    a->duration_sec != b->duration_sec ||
	    a->last_progress_update != b->last_progress_update ||
	    a->last_eta_update != b->last_eta_update ||
	    a->previous_eta_sec != b->previous_eta_sec ||
	    a->n_eta_revisions != b->n_eta_revisions ||
	    memcmp(a->eta_revisions, b->eta_revisions,
		   sizeof a->eta_revisions) != 0 ||
	    a->n_metadata != b->n_metadata || a->n_events != b->n_events ||
	    a->events_dropped != b->events_dropped ||
	    a->n_output != b->n_output ||
	    a->output_dropped != b->output_dropped ||
	    a->output_appended != b->output_appended)
		return 0;
	for (size_t i = 0; i < a->n_output; i++) {
		if (!str_eq(a->output[i], b->output[i]))
			return 0;
	}
	for (size_t i = 0; i < a->n_metadata; i++) {
		if (!str_eq(a->metadata[i].key, b->metadata[i].key) ||
		    !str_eq(a->metadata[i].value, b->metadata[i].value))
			return 0;
	}
	for (size_t i = 0; i < a->n_events; i++) {
		if (!str_eq(a->events[i].type, b->events[i].type) ||
		    !str_eq(a->events[i].data_json, b->events[i].data_json) ||
		    a->events[i].timestamp != b->events[i].timestamp)
			return 0;
	}
	return 1;
}

/* A create request for `source` with title "t". */
static struct proto_race_update req(const char *source)
{
	struct proto_race_update u = {0};

	u.set = PROTO_F_SOURCE | PROTO_F_TITLE;
	u.source = strdup(source);
	u.title = strdup("t");
	return u;
}

static struct proto_race *make(const char *source, int64_t now)
{
	struct proto_race_update u = req(source);
	int err = 0;
	struct proto_race *r = proto_race_create(&u, "r1", now, &err);

	cr_assert_not_null(r, "create failed: %d", err);
	proto_race_update_fini(&u);
	return r;
}

/* Applies a borrowed update and returns the change mask. */
static uint32_t apply(struct proto_race *r, struct proto_race_update *u,
		      int64_t now)
{
	uint32_t changed = 0xdeadbeef;

	cr_assert_eq(proto_race_apply(r, u, now, &changed), PROTO_OK);
	return changed;
}

static uint32_t set_state(struct proto_race *r, enum proto_state s,
			  int64_t now)
{
	struct proto_race_update u = {.set = PROTO_F_STATE, .state = s};

	return apply(r, &u, now);
}

static uint32_t set_eta(struct proto_race *r, int64_t eta, int64_t now)
{
	struct proto_race_update u = {.set = PROTO_F_ETA_SEC, .eta_sec = eta};

	return apply(r, &u, now);
}

Test(race, create_defaults)
{
	struct proto_race *r = make("github", T0);

	cr_expect_str_eq(r->id, "r1");
	cr_expect_str_eq(r->source, "github");
	cr_expect_str_eq(r->title, "t");
	cr_expect_eq(r->state, PROTO_STATE_RUNNING);
	cr_expect_eq(r->started_at, T0);
	cr_expect_eq(r->update_interval_hint, 10);
	cr_expect_eq(r->hint_explicit, 0);
	cr_expect_eq(r->has, PROTO_F_UPDATE_INTERVAL_HINT);
	cr_expect_eq(r->n_eta_revisions, 0);
	proto_race_free(r);
}

Test(race, default_hint_by_source)
{
	static const struct {
		const char *source;
		int hint;
	} table[] = {
		{"gitlab", 10}, {"github", 10}, {"cmd", 5},
		{"claude-code", 15}, {"google-calendar", 60},
		{"jenkins", 10}, {"GitHub", 10}, {"", 10},
	};

	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		cr_expect_eq(proto_source_default_hint(table[i].source),
			     table[i].hint, "%s", table[i].source);
		if (table[i].source[0]) {
			struct proto_race *r = make(table[i].source, T0);

			cr_expect_eq(r->update_interval_hint, table[i].hint);
			proto_race_free(r);
		}
	}
}

Test(race, create_with_explicit_hint_marks_it_explicit)
{
	struct proto_race_update u = req("cmd");
	struct proto_race *r;

	u.set |= PROTO_F_UPDATE_INTERVAL_HINT;
	u.update_interval_hint = 42;
	r = proto_race_create(&u, "r1", T0, NULL);
	cr_assert_not_null(r);
	cr_expect_eq(r->update_interval_hint, 42);
	cr_expect_eq(r->hint_explicit, 1);
	proto_race_free(r);
	proto_race_update_fini(&u);
}

Test(race, create_rejects_missing_fields_and_bad_id)
{
	struct proto_race_update u = req("cmd");
	int err = 0;

	u.set &= ~PROTO_F_TITLE;
	cr_expect_null(proto_race_create(&u, "r1", T0, &err));
	cr_expect_eq(err, PROTO_EINVAL);
	u.set = PROTO_F_TITLE;
	err = 0;
	cr_expect_null(proto_race_create(&u, "r1", T0, &err));
	cr_expect_eq(err, PROTO_EINVAL);
	u.set = PROTO_F_SOURCE | PROTO_F_TITLE;
	err = 0;
	cr_expect_null(proto_race_create(&u, "bad id", T0, &err));
	cr_expect_eq(err, PROTO_EINVAL);
	proto_race_update_fini(&u);
}

Test(race, create_in_terminal_state_completes_at_creation)
{
	struct proto_race_update u = req("cmd");
	struct proto_race *r;

	u.set |= PROTO_F_STATE | PROTO_F_STARTED_AT;
	u.state = PROTO_STATE_FAILED;
	u.started_at = T0 - 2500;
	r = proto_race_create(&u, "r1", T0, NULL);
	cr_assert_not_null(r);
	cr_expect_eq(r->state, PROTO_STATE_FAILED);
	cr_expect_eq(r->started_at, T0 - 2500);
	cr_expect(r->has & PROTO_F_COMPLETED_AT);
	cr_expect_eq(r->completed_at, T0);
	cr_expect(r->has & PROTO_F_DURATION_SEC);
	cr_expect_eq(r->duration_sec, 3); /* 2.5 s rounds up */
	proto_race_free(r);
	proto_race_update_fini(&u);
}

Test(race, create_in_queued_state_is_not_complete)
{
	struct proto_race_update u = req("cmd");
	struct proto_race *r;

	u.set |= PROTO_F_STATE;
	u.state = PROTO_STATE_QUEUED;
	r = proto_race_create(&u, "r1", T0, NULL);
	cr_assert_not_null(r);
	cr_expect_eq(r->state, PROTO_STATE_QUEUED);
	cr_expect_not(r->has & (PROTO_F_COMPLETED_AT | PROTO_F_DURATION_SEC));
	proto_race_free(r);
	proto_race_update_fini(&u);
}

Test(race, create_with_progress_and_eta_stamps_them)
{
	struct proto_race_update u = req("github");
	struct proto_race *r;

	u.set |= PROTO_F_PROGRESS | PROTO_F_ETA_SEC;
	u.progress = 12;
	u.eta_sec = 300;
	r = proto_race_create(&u, "r1", T0, NULL);
	cr_assert_not_null(r);
	cr_expect_eq(r->progress, 12);
	cr_expect_eq(r->last_progress_update, T0);
	cr_expect_eq(r->eta_sec, 300);
	cr_expect_eq(r->last_eta_update, T0);
	cr_expect_not(r->has & PROTO_F_PREVIOUS_ETA_SEC);
	cr_assert_eq(r->n_eta_revisions, 1);
	cr_expect_eq(r->eta_revisions[0].eta_sec, 300);
	cr_expect_eq(r->eta_revisions[0].timestamp, T0);
	cr_expect_eq(r->eta_revisions[0].source, PROTO_ETA_ADAPTER);
	cr_expect_eq(r->eta_revisions[0].confidence, 0.5);
	proto_race_free(r);
	proto_race_update_fini(&u);
}

/* from -> to: which completion fields end up set, which bits change. */
struct transition {
	enum proto_state from, to;
	int completed;      /* completed_at/duration set afterwards */
	uint32_t changed;
};

Test(race, state_transitions)
{
	static const uint32_t done = PROTO_F_COMPLETED_AT |
				     PROTO_F_DURATION_SEC;
	static const struct transition table[] = {
		{PROTO_STATE_RUNNING, PROTO_STATE_PASSED, 1,
		 PROTO_F_STATE | done},
		{PROTO_STATE_RUNNING, PROTO_STATE_FAILED, 1,
		 PROTO_F_STATE | done},
		{PROTO_STATE_QUEUED, PROTO_STATE_CANCELED, 1,
		 PROTO_F_STATE | done},
		{PROTO_STATE_RUNNING, PROTO_STATE_QUEUED, 0, PROTO_F_STATE},
		{PROTO_STATE_QUEUED, PROTO_STATE_RUNNING, 0, PROTO_F_STATE},
		/* terminal -> terminal keeps the completion fields */
		{PROTO_STATE_PASSED, PROTO_STATE_FAILED, 1, PROTO_F_STATE},
		{PROTO_STATE_FAILED, PROTO_STATE_CANCELED, 1, PROTO_F_STATE},
		/* restart clears them */
		{PROTO_STATE_PASSED, PROTO_STATE_RUNNING, 0,
		 PROTO_F_STATE | done},
		{PROTO_STATE_CANCELED, PROTO_STATE_QUEUED, 0,
		 PROTO_F_STATE | done},
		/* same state: nothing at all */
		{PROTO_STATE_RUNNING, PROTO_STATE_RUNNING, 0, 0},
		{PROTO_STATE_PASSED, PROTO_STATE_PASSED, 1, 0},
	};

	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		const struct transition *t = &table[i];
		struct proto_race *r = make("cmd", T0);
		int64_t first_done = T0 + 4000;
		uint32_t changed;

		if (t->from != PROTO_STATE_RUNNING)
			set_state(r, t->from, first_done);
		changed = set_state(r, t->to, T0 + 9000);
		cr_expect_eq(r->state, t->to, "case %zu", i);
		cr_expect_eq(changed, t->changed, "case %zu: %#x", i, changed);
		cr_expect_eq(!!(r->has & PROTO_F_COMPLETED_AT), t->completed,
			     "case %zu", i);
		cr_expect_eq(!!(r->has & PROTO_F_DURATION_SEC), t->completed,
			     "case %zu", i);
		if (t->completed) {
			/* Completion is stamped when the race first ended. */
			int64_t at = proto_state_is_terminal(t->from) ?
				first_done : T0 + 9000;

			cr_expect_eq(r->completed_at, at, "case %zu", i);
			cr_expect_eq(r->duration_sec, (at - T0) / 1000,
				     "case %zu", i);
		} else {
			cr_expect_eq(r->completed_at, 0, "case %zu", i);
			cr_expect_eq(r->duration_sec, 0, "case %zu", i);
		}
		proto_race_free(r);
	}
}

Test(race, duration_rounds_to_nearest_second_and_never_negative)
{
	static const struct {
		int64_t elapsed_ms, sec;
	} table[] = {
		{0, 0}, {499, 0}, {500, 1}, {1499, 1}, {1500, 2},
		{61234, 61}, {-5000, 0},
	};

	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		struct proto_race *r = make("cmd", T0);

		set_state(r, PROTO_STATE_PASSED, T0 + table[i].elapsed_ms);
		cr_expect_eq(r->duration_sec, table[i].sec, "elapsed %lld",
			     (long long)table[i].elapsed_ms);
		proto_race_free(r);
	}
}

Test(race, duration_uses_started_at_from_the_same_update)
{
	struct proto_race *r = make("cmd", T0);
	struct proto_race_update u = {
		.set = PROTO_F_STATE | PROTO_F_STARTED_AT,
		.state = PROTO_STATE_PASSED,
		.started_at = T0 - 60000,
	};

	apply(r, &u, T0);
	cr_expect_eq(r->duration_sec, 60);
	proto_race_free(r);
}

Test(race, progress_stamp_changes_only_with_the_value)
{
	struct proto_race *r = make("cmd", T0);
	struct proto_race_update u = {.set = PROTO_F_PROGRESS, .progress = 10};

	cr_expect_eq(apply(r, &u, T0 + 1000),
		     PROTO_F_PROGRESS | PROTO_F_LAST_PROGRESS_UPDATE);
	cr_expect_eq(r->last_progress_update, T0 + 1000);
	/* The same value again: no bit, timestamp unchanged. */
	cr_expect_eq(apply(r, &u, T0 + 2000), 0);
	cr_expect_eq(r->last_progress_update, T0 + 1000);
	u.progress = 0;
	cr_expect_eq(apply(r, &u, T0 + 3000),
		     PROTO_F_PROGRESS | PROTO_F_LAST_PROGRESS_UPDATE);
	cr_expect_eq(r->progress, 0);
	cr_expect_eq(r->last_progress_update, T0 + 3000);
	proto_race_free(r);
}

Test(race, eta_change_records_previous_and_revision)
{
	struct proto_race *r = make("github", T0);
	uint32_t all = PROTO_F_ETA_SEC | PROTO_F_LAST_ETA_UPDATE |
		       PROTO_F_ETA_REVISIONS | PROTO_F_ETA_SOURCE |
		       PROTO_F_ETA_CONFIDENCE;

	cr_expect_eq(set_eta(r, 600, T0 + 1000), all);
	cr_expect_not(r->has & PROTO_F_PREVIOUS_ETA_SEC);
	cr_expect_eq(r->last_eta_update, T0 + 1000);
	/* Provenance is unchanged, so its bits stay quiet now. */
	cr_expect_eq(set_eta(r, 550, T0 + 2000),
		     PROTO_F_ETA_SEC | PROTO_F_LAST_ETA_UPDATE |
		     PROTO_F_ETA_REVISIONS | PROTO_F_PREVIOUS_ETA_SEC);
	cr_expect_eq(r->previous_eta_sec, 600);
	cr_expect_eq(r->eta_sec, 550);
	cr_expect_eq(r->last_eta_update, T0 + 2000);
	/* Same ETA again: nothing changes, no revision. */
	cr_expect_eq(set_eta(r, 550, T0 + 3000), 0);
	cr_expect_eq(r->last_eta_update, T0 + 2000);
	cr_expect_eq(r->n_eta_revisions, 2);
	cr_expect_eq(r->previous_eta_sec, 600);
	proto_race_free(r);
}

Test(race, eta_revisions_keep_the_last_five_in_order)
{
	struct proto_race *r = make("github", T0);

	for (int i = 0; i < 6; i++)
		set_eta(r, 100 * (i + 1), T0 + i);
	cr_assert_eq(r->n_eta_revisions, PROTO_ETA_REVISIONS_MAX);
	for (int i = 0; i < 5; i++) {
		cr_expect_eq(r->eta_revisions[i].eta_sec, 100 * (i + 2));
		cr_expect_eq(r->eta_revisions[i].timestamp, T0 + i + 1);
	}
	cr_expect_eq(r->previous_eta_sec, 500);
	proto_race_free(r);
}

/* The provenance recorded for a new ETA, given what the update carried. */
struct provenance {
	const char *source;
	int give_src, src;
	int give_conf;
	double conf;
	int want_src;
	double want_conf;
};

Test(race, eta_provenance_inferred_unless_given)
{
	static const struct provenance table[] = {
		{"google-calendar", 0, 0, 0, 0, PROTO_ETA_EXACT, 1.0},
		{"github", 0, 0, 0, 0, PROTO_ETA_ADAPTER, 0.5},
		{"cmd", 0, 0, 0, 0, PROTO_ETA_ADAPTER, 0.5},
		/* given values win */
		{"google-calendar", 1, 3, 1, 0.85, 3, 0.85},
		{"github", 1, 1, 1, 0.7, 1, 0.7},
		/* eta_source alone: confidence from its table */
		{"github", 1, PROTO_ETA_EXACT, 0, 0, PROTO_ETA_EXACT, 1.0},
		{"github", 1, PROTO_ETA_ADAPTER, 0, 0, PROTO_ETA_ADAPTER, 0.5},
		{"github", 1, PROTO_ETA_HISTORY, 0, 0, PROTO_ETA_HISTORY, 0.5},
		{"google-calendar", 1, PROTO_ETA_DEFAULT, 0, 0,
		 PROTO_ETA_DEFAULT, 0.2},
		/* confidence alone: source still inferred */
		{"google-calendar", 0, 0, 1, 0.3, PROTO_ETA_EXACT, 0.3},
		{"github", 0, 0, 1, 0.0, PROTO_ETA_ADAPTER, 0.0},
	};

	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		const struct provenance *p = &table[i];
		struct proto_race *r = make(p->source, T0);
		struct proto_race_update u = {.set = PROTO_F_ETA_SEC,
					      .eta_sec = 90};

		if (p->give_src) {
			u.set |= PROTO_F_ETA_SOURCE;
			u.eta_source = p->src;
		}
		if (p->give_conf) {
			u.set |= PROTO_F_ETA_CONFIDENCE;
			u.eta_confidence = p->conf;
		}
		apply(r, &u, T0 + 10);
		cr_expect_eq(r->eta_source, p->want_src, "case %zu", i);
		cr_expect_eq(r->eta_confidence, p->want_conf, "case %zu", i);
		cr_assert_eq(r->n_eta_revisions, 1, "case %zu", i);
		cr_expect_eq(r->eta_revisions[0].source, p->want_src,
			     "case %zu", i);
		cr_expect_eq(r->eta_revisions[0].confidence, p->want_conf,
			     "case %zu", i);
		proto_race_free(r);
	}
}

Test(race, eta_inference_uses_the_source_of_the_same_update)
{
	struct proto_race *r = make("github", T0);
	struct proto_race_update u = {.set = PROTO_F_ETA_SEC | PROTO_F_SOURCE,
				      .eta_sec = 60,
				      .source = "google-calendar"};

	apply(r, &u, T0);
	cr_expect_eq(r->eta_source, PROTO_ETA_EXACT);
	cr_expect_eq(r->eta_confidence, 1.0);
	proto_race_free(r);
}

Test(race, eta_provenance_alone_sets_without_revision)
{
	struct proto_race *r = make("github", T0);
	struct proto_race_update u = {.set = PROTO_F_ETA_SOURCE,
				      .eta_source = PROTO_ETA_DEFAULT};

	set_eta(r, 100, T0);
	cr_expect_eq(apply(r, &u, T0 + 1),
		     PROTO_F_ETA_SOURCE | PROTO_F_ETA_CONFIDENCE);
	cr_expect_eq(r->eta_confidence, 0.2);
	cr_expect_eq(r->n_eta_revisions, 1);
	cr_expect_eq(r->eta_revisions[0].source, PROTO_ETA_ADAPTER);
	cr_expect_eq(r->last_eta_update, T0);
	/* Same values again: no bits. */
	cr_expect_eq(apply(r, &u, T0 + 2), 0);
	u.set = PROTO_F_ETA_CONFIDENCE;
	u.eta_confidence = 0.9;
	cr_expect_eq(apply(r, &u, T0 + 3), PROTO_F_ETA_CONFIDENCE);
	cr_expect_eq(r->eta_confidence, 0.9);
	cr_expect_eq(r->eta_source, PROTO_ETA_DEFAULT);
	cr_expect_eq(r->n_eta_revisions, 1);
	proto_race_free(r);
}

Test(race, hint_follows_source_unless_explicit)
{
	struct proto_race *r = make("github", T0);
	struct proto_race_update u = {.set = PROTO_F_SOURCE, .source = "cmd"};
	struct proto_race_update h = {.set = PROTO_F_UPDATE_INTERVAL_HINT,
				      .update_interval_hint = 33};

	cr_expect_eq(apply(r, &u, T0),
		     PROTO_F_SOURCE | PROTO_F_UPDATE_INTERVAL_HINT);
	cr_expect_eq(r->update_interval_hint, 5);
	cr_expect_eq(apply(r, &h, T0), PROTO_F_UPDATE_INTERVAL_HINT);
	cr_expect_eq(r->hint_explicit, 1);
	u.source = "google-calendar";
	cr_expect_eq(apply(r, &u, T0), PROTO_F_SOURCE);
	cr_expect_eq(r->update_interval_hint, 33);
	proto_race_free(r);
}

Test(race, hint_given_with_source_wins)
{
	struct proto_race *r = make("github", T0);
	struct proto_race_update u = {
		.set = PROTO_F_SOURCE | PROTO_F_UPDATE_INTERVAL_HINT,
		.source = "google-calendar",
		.update_interval_hint = 7,
	};

	apply(r, &u, T0);
	cr_expect_eq(r->update_interval_hint, 7);
	cr_expect_eq(r->hint_explicit, 1);
	proto_race_free(r);
}

Test(race, plain_fields_change_only_when_different)
{
	struct proto_race *r = make("github", T0);
	struct proto_race_update u = {
		.set = PROTO_F_TITLE | PROTO_F_DEEPLINK | PROTO_F_STARTED_AT |
		       PROTO_F_SOURCE,
		.title = "new", .deeplink = "https://x/1",
		.started_at = T0 - 5, .source = "github",
	};

	cr_expect_eq(apply(r, &u, T0 + 1),
		     PROTO_F_TITLE | PROTO_F_DEEPLINK | PROTO_F_STARTED_AT);
	cr_expect_str_eq(r->title, "new");
	cr_expect_str_eq(r->deeplink, "https://x/1");
	cr_expect_eq(r->started_at, T0 - 5);
	cr_expect_eq(apply(r, &u, T0 + 2), 0);
	proto_race_free(r);
}

static struct proto_kv kv(const char *k, const char *v)
{
	return (struct proto_kv){(char *)k, (char *)v};
}

static uint32_t patch_meta(struct proto_race *r, struct proto_kv *m, size_t n,
			   int *rc)
{
	struct proto_race_update u = {.set = PROTO_F_METADATA,
				      .metadata = m, .n_metadata = n};
	uint32_t changed = 0;

	*rc = proto_race_apply(r, &u, T0, &changed);
	return changed;
}

Test(race, metadata_merges_sorted_and_null_removes)
{
	struct proto_race *r = make("github", T0);
	struct proto_kv a[] = {kv("zeta", "1"), kv("alpha", "2"),
			       kv("mid", "3")};
	struct proto_kv b[] = {kv("mid", NULL), kv("beta", "4"),
			       kv("zeta", "9"), kv("nothere", NULL)};
	int rc;

	cr_expect_eq(patch_meta(r, a, 3, &rc), PROTO_F_METADATA);
	cr_assert_eq(rc, PROTO_OK);
	cr_assert_eq(r->n_metadata, 3);
	cr_expect_str_eq(r->metadata[0].key, "alpha");
	cr_expect_str_eq(r->metadata[1].key, "mid");
	cr_expect_str_eq(r->metadata[2].key, "zeta");
	cr_expect_eq(patch_meta(r, b, 4, &rc), PROTO_F_METADATA);
	cr_assert_eq(r->n_metadata, 3);
	cr_expect_str_eq(r->metadata[0].key, "alpha");
	cr_expect_str_eq(r->metadata[1].key, "beta");
	cr_expect_str_eq(r->metadata[2].key, "zeta");
	cr_expect_str_eq(proto_race_meta_get(r, "zeta"), "9");
	cr_expect_null(proto_race_meta_get(r, "mid"));
	/* Re-sending the same values, or removing an absent key: no bit. */
	cr_expect_eq(patch_meta(r, b + 1, 3, &rc), 0);
	cr_expect_eq(rc, PROTO_OK);
	proto_race_free(r);
}

Test(race, metadata_last_duplicate_key_wins)
{
	struct proto_race *r = make("github", T0);
	struct proto_kv a[] = {kv("k", "1"), kv("k", "2"), kv("j", "x"),
			       kv("j", NULL)};
	int rc;

	patch_meta(r, a, 4, &rc);
	cr_assert_eq(rc, PROTO_OK);
	cr_assert_eq(r->n_metadata, 1);
	cr_expect_str_eq(proto_race_meta_get(r, "k"), "2");
	proto_race_free(r);
}

Test(race, metadata_over_limits_is_refused_unchanged)
{
	struct proto_race *r = make("github", T0), *before;
	struct proto_kv many[PROTO_META_KEYS_MAX + 1];
	char keys[PROTO_META_KEYS_MAX + 1][8];
	char long_key[PROTO_META_KEY_MAX + 2];
	char long_val[PROTO_META_VALUE_MAX + 2];
	int rc;

	for (int i = 0; i < PROTO_META_KEYS_MAX; i++) {
		snprintf(keys[i], sizeof keys[i], "k%02d", i);
		many[i] = kv(keys[i], "v");
	}
	patch_meta(r, many, PROTO_META_KEYS_MAX, &rc);
	cr_assert_eq(rc, PROTO_OK);
	cr_assert_eq(r->n_metadata, PROTO_META_KEYS_MAX);
	before = proto_race_dup(r);
	cr_assert_not_null(before);
	/* One more key: 65 after the merge. */
	snprintf(keys[PROTO_META_KEYS_MAX], 8, "k99");
	many[0] = kv(keys[PROTO_META_KEYS_MAX], "v");
	cr_expect_eq(patch_meta(r, many, 1, &rc), 0);
	cr_expect_eq(rc, PROTO_ELIMIT);
	cr_expect(race_equal(r, before));
	/* Replacing one key and adding another stays at 64: fine. */
	many[1] = kv(keys[0], NULL);
	patch_meta(r, many, 2, &rc);
	cr_expect_eq(rc, PROTO_OK);
	cr_expect_eq(r->n_metadata, PROTO_META_KEYS_MAX);
	proto_race_free(before);
	before = proto_race_dup(r);

	memset(long_key, 'k', sizeof long_key - 1);
	long_key[sizeof long_key - 1] = '\0';
	memset(long_val, 'v', sizeof long_val - 1);
	long_val[sizeof long_val - 1] = '\0';
	many[0] = kv(long_key, "v");
	patch_meta(r, many, 1, &rc);
	cr_expect_eq(rc, PROTO_ELIMIT);
	many[0] = kv("short", long_val);
	patch_meta(r, many, 1, &rc);
	cr_expect_eq(rc, PROTO_ELIMIT);
	cr_expect(race_equal(r, before));
	proto_race_free(before);
	proto_race_free(r);
}

Test(race, invalid_updates_leave_the_race_unchanged)
{
	struct proto_race_update bad[] = {
		{.set = PROTO_F_PROGRESS, .progress = 101},
		{.set = PROTO_F_PROGRESS, .progress = -1},
		{.set = PROTO_F_ETA_SEC, .eta_sec = -1},
		{.set = PROTO_F_ETA_SEC, .eta_sec = PROTO_ETA_MAX_SEC + 1},
		{.set = PROTO_F_ETA_SOURCE, .eta_source = 0},
		{.set = PROTO_F_ETA_SOURCE, .eta_source = PROTO_ETA_PROGRESS + 1},
		{.set = PROTO_F_ETA_CONFIDENCE, .eta_confidence = 1.5},
		{.set = PROTO_F_ETA_CONFIDENCE, .eta_confidence = -0.1},
		{.set = PROTO_F_UPDATE_INTERVAL_HINT, .update_interval_hint = 0},
		{.set = PROTO_F_STATE, .state = (enum proto_state)9},
		{.set = PROTO_F_SOURCE, .source = ""},
		{.set = PROTO_F_SOURCE, .source = NULL},
		{.set = PROTO_F_TITLE, .title = NULL},
		/* a valid part must not be applied either */
		{.set = PROTO_F_TITLE | PROTO_F_PROGRESS, .title = "x",
		 .progress = 200},
	};
	struct proto_race *r = make("github", T0), *before;

	set_eta(r, 100, T0);
	before = proto_race_dup(r);
	cr_assert_not_null(before);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint32_t changed = 77;

		cr_expect_eq(proto_race_apply(r, &bad[i], T0 + 5, &changed),
			     PROTO_EINVAL, "case %zu", i);
		cr_expect_eq(changed, 77, "case %zu", i);
		cr_expect(race_equal(r, before), "case %zu", i);
	}
	proto_race_free(before);
	proto_race_free(r);
}

static struct proto_event event(const char *type, int64_t ts)
{
	struct proto_event ev = {strdup(type), strdup("{\"n\":1}"), ts};

	return ev;
}

Test(race, events_append_and_drop_oldest_beyond_the_cap)
{
	struct proto_race *r = make("cmd", T0);
	char type[16];
	uint32_t changed = 0;

	for (int i = 0; i < PROTO_EVENTS_MAX; i++) {
		struct proto_event ev;

		snprintf(type, sizeof type, "e%d", i);
		ev = event(type, T0 + i);
		cr_assert_eq(proto_race_add_event(r, &ev, &changed), PROTO_OK);
		cr_expect_eq(changed, PROTO_F_EVENTS);
		cr_expect_null(ev.type, "the race took the strings");
	}
	cr_expect_eq(r->events_dropped, 0);
	for (int i = 0; i < 3; i++) {
		struct proto_event ev = event("late", T0 + 1000 + i);

		cr_assert_eq(proto_race_add_event(r, &ev, &changed), PROTO_OK);
		cr_expect_eq(changed, PROTO_F_EVENTS | PROTO_F_EVENTS_DROPPED);
	}
	cr_expect_eq(r->n_events, PROTO_EVENTS_MAX);
	cr_expect_eq(r->events_dropped, 3);
	cr_expect_str_eq(r->events[0].type, "e3");
	cr_expect_str_eq(r->events[PROTO_EVENTS_MAX - 1].type, "late");
	cr_expect_eq(r->events[PROTO_EVENTS_MAX - 1].timestamp, T0 + 1002);
	proto_race_free(r);
}

Test(race, add_event_without_type_is_refused)
{
	struct proto_race *r = make("cmd", T0);
	struct proto_event ev = {NULL, strdup("1"), T0};

	cr_expect_eq(proto_race_add_event(r, &ev, NULL), PROTO_EINVAL);
	cr_expect_eq(r->n_events, 0);
	cr_expect_str_eq(ev.data_json, "1");
	proto_event_fini(&ev);
	cr_expect_null(ev.data_json);
	proto_race_free(r);
}

Test(race, dup_is_deep_and_independent)
{
	struct proto_race *r = make("github", T0), *d;
	struct proto_kv m[] = {kv("a", "1")};
	struct proto_event ev = event("x", T0);
	struct proto_race_update u = {.set = PROTO_F_DEEPLINK,
				      .deeplink = "https://d"};
	int rc;

	patch_meta(r, m, 1, &rc);
	apply(r, &u, T0);
	set_eta(r, 5, T0);
	proto_race_add_event(r, &ev, NULL);
	d = proto_race_dup(r);
	cr_assert_not_null(d);
	cr_expect(race_equal(r, d));
	cr_expect_neq(d->title, r->title);
	cr_expect_neq(d->metadata[0].value, r->metadata[0].value);
	cr_expect_neq(d->events[0].type, r->events[0].type);
	proto_race_free(r);
	cr_expect_str_eq(d->metadata[0].value, "1");
	proto_race_free(d);
	proto_race_free(NULL);
	proto_race_update_fini(NULL);
	proto_event_fini(NULL);
}

Test(race, state_names_parse_and_terminal)
{
	static const char *const names[] = {"queued", "running", "passed",
					    "failed", "canceled"};
	enum proto_state s;

	for (int i = 0; i < 5; i++) {
		cr_expect_str_eq(proto_state_name((enum proto_state)i),
				 names[i]);
		cr_expect_eq(proto_state_parse(names[i], &s), PROTO_OK);
		cr_expect_eq((int)s, i);
		cr_expect_eq(proto_state_is_terminal((enum proto_state)i),
			     i >= 2);
	}
	cr_expect_eq(proto_state_parse("Running", &s), PROTO_EINVAL);
	cr_expect_eq(proto_state_parse("cancelled", &s), PROTO_EINVAL);
	cr_expect_eq(proto_state_parse(NULL, &s), PROTO_EINVAL);
	cr_expect_null(proto_state_name((enum proto_state)5));
}

Test(race, id_charset_and_length)
{
	char max[PROTO_ID_MAX + 2];

	cr_expect(proto_id_valid("a"));
	cr_expect(proto_id_valid("Build-42_x.y:z"));
	cr_expect_not(proto_id_valid(""));
	cr_expect_not(proto_id_valid(NULL));
	cr_expect_not(proto_id_valid("a b"));
	cr_expect_not(proto_id_valid("a/b"));
	cr_expect_not(proto_id_valid("caf\xc3\xa9"));
	memset(max, 'a', PROTO_ID_MAX);
	max[PROTO_ID_MAX] = '\0';
	cr_expect(proto_id_valid(max));
	max[PROTO_ID_MAX] = 'a';
	max[PROTO_ID_MAX + 1] = '\0';
	cr_expect_not(proto_id_valid(max));
}

/* "." and ".." are dot-segments: a URL path resolves them away, so a race
 * under them could not be reached at /race/{id}. Stored ones still load. */
Test(race, dot_segment_ids_cannot_be_created)
{
	struct proto_race_update u = req("s");
	struct proto_race *r;
	int err = 0;

	cr_expect_not(proto_id_creatable("."));
	cr_expect_not(proto_id_creatable(".."));
	cr_expect_not(proto_id_creatable(""));
	cr_expect_not(proto_id_creatable("a/b"));
	cr_expect(proto_id_creatable("..."));
	cr_expect(proto_id_creatable(".a"));
	cr_expect(proto_id_creatable("a.."));
	cr_expect(proto_id_valid("."));
	cr_expect(proto_id_valid(".."));
	cr_expect_null(proto_race_create(&u, "..", 0, &err));
	cr_expect_eq(err, PROTO_EINVAL);
	r = proto_race_create(&u, "...", 0, &err);
	cr_expect_not_null(r);
	proto_race_free(r);
	proto_race_update_fini(&u);
}

Test(race, strerror_covers_every_code)
{
	cr_expect_str_eq(proto_strerror(PROTO_OK), "success");
	cr_expect_str_neq(proto_strerror(PROTO_EINVAL),
			  proto_strerror(PROTO_ENOMEM));
	cr_expect_str_neq(proto_strerror(PROTO_ELIMIT),
			  proto_strerror(PROTO_EINVAL));
	cr_expect_str_eq(proto_strerror(-99), "unknown protocol error");
}

/* ---- the output tail (issue 14) ---------------------------------------- */

/* An update appending `n` lines, each `fmt` with its index. */
static struct proto_race_update lines_update(size_t n, const char *fmt)
{
	struct proto_race_update u = {0};

	u.set = PROTO_F_OUTPUT;
	u.output = calloc(n + 1, sizeof *u.output);
	cr_assert_not_null(u.output);
	for (size_t i = 0; i < n; i++) {
		char buf[64];

		snprintf(buf, sizeof buf, fmt, (unsigned)i);
		u.output[i] = strdup(buf);
		u.n_output = i + 1;
	}
	return u;
}

/* An update appending one copy of `line`. */
static struct proto_race_update one_line(const char *line)
{
	struct proto_race_update u = {0};

	u.set = PROTO_F_OUTPUT;
	u.output = calloc(1, sizeof *u.output);
	cr_assert_not_null(u.output);
	u.output[0] = strdup(line);
	u.n_output = 1;
	return u;
}

static size_t tail_bytes(const struct proto_race *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n_output; i++)
		n += strlen(r->output[i]);
	return n;
}

/* 1 when buf is well-formed UTF-8 (no split or overlong sequences). */
static int utf8_ok(const unsigned char *p)
{
	while (*p) {
		int k = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 :
			(*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;

		if (k < 0)
			return 0;
		p++;
		for (int i = 0; i < k; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return 0;
		}
	}
	return 1;
}

Test(output, lines_append_in_order_and_report_what_they_added)
{
	struct proto_race *r = make("cmd", T0);
	struct proto_race_update u = lines_update(3, "line %u");
	uint32_t changed = 0;

	cr_assert_eq(proto_race_apply(r, &u, T0 + 1, &changed), PROTO_OK);
	cr_assert_eq(changed, PROTO_F_OUTPUT);
	cr_assert_eq(r->n_output, 3);
	cr_assert_eq(r->output_appended, 3);
	cr_assert_str_eq(r->output[0], "line 0");
	cr_assert_str_eq(r->output[2], "line 2");
	proto_race_update_fini(&u);
	u = one_line("\x1b[31mred\x1b[0m\r");
	cr_assert_eq(proto_race_apply(r, &u, T0 + 2, &changed), PROTO_OK);
	cr_assert_eq(changed, PROTO_F_OUTPUT);
	cr_assert_eq(r->n_output, 4);
	cr_assert_eq(r->output_appended, 1);
	/* Nothing is stripped: escapes and carriage returns stay. */
	cr_assert_str_eq(r->output[3], "\x1b[31mred\x1b[0m\r");
	cr_assert_eq(r->output_dropped, 0);
	cr_assert_eq(r->has & PROTO_F_OUTPUT_DROPPED, 0);
	proto_race_update_fini(&u);
	proto_race_free(r);
}

Test(output, an_empty_list_changes_nothing)
{
	struct proto_race *r = make("cmd", T0);
	struct proto_race_update u = lines_update(0, "%u");
	uint32_t changed = 1;

	cr_assert_eq(proto_race_apply(r, &u, T0 + 1, &changed), PROTO_OK);
	cr_assert_eq(changed, 0);
	cr_assert_eq(r->n_output, 0);
	cr_assert_eq(r->has & PROTO_F_OUTPUT, 0);
	proto_race_update_fini(&u);
	proto_race_free(r);
}

Test(output, the_count_cap_keeps_the_newest_200_and_counts_the_rest)
{
	struct proto_race *r = make("cmd", T0);
	struct proto_race_update u = lines_update(150, "a%u");
	uint32_t changed = 0;

	cr_assert_eq(proto_race_apply(r, &u, T0, &changed), PROTO_OK);
	proto_race_update_fini(&u);
	u = lines_update(100, "b%u");
	cr_assert_eq(proto_race_apply(r, &u, T0, &changed), PROTO_OK);
	cr_assert_eq(changed, PROTO_F_OUTPUT | PROTO_F_OUTPUT_DROPPED);
	cr_assert_eq(r->n_output, PROTO_OUTPUT_LINES_MAX);
	cr_assert_eq(r->output_dropped, 50);
	cr_assert_eq(r->output_appended, 100);
	cr_assert_str_eq(r->output[0], "a50");
	cr_assert_str_eq(r->output[99], "a149");
	cr_assert_str_eq(r->output[100], "b0");
	cr_assert_str_eq(r->output[199], "b99");
	proto_race_update_fini(&u);
	proto_race_free(r);
}

Test(output, one_write_over_the_count_cap_keeps_its_own_newest_lines)
{
	struct proto_race *r = make("cmd", T0);
	struct proto_race_update u = lines_update(5, "old%u");
	uint32_t changed = 0;

	cr_assert_eq(proto_race_apply(r, &u, T0, &changed), PROTO_OK);
	proto_race_update_fini(&u);
	u = lines_update(300, "n%u");
	cr_assert_eq(proto_race_apply(r, &u, T0, &changed), PROTO_OK);
	cr_assert_eq(r->n_output, 200);
	/* The 5 old lines and the write's own first 100 are gone. */
	cr_assert_eq(r->output_dropped, 105);
	cr_assert_eq(r->output_appended, 200);
	cr_assert_str_eq(r->output[0], "n100");
	cr_assert_str_eq(r->output[199], "n299");
	proto_race_update_fini(&u);
	proto_race_free(r);
}

Test(output, the_byte_cap_holds_before_the_count_cap)
{
	struct proto_race *r = make("cmd", T0);
	char line[1001];
	uint32_t changed = 0;

	memset(line, 'x', 1000);
	line[1000] = '\0';
	for (int i = 0; i < 100; i++) {
		struct proto_race_update u = one_line(line);

		u.output[0][0] = (char)('A' + i % 26);
		cr_assert_eq(proto_race_apply(r, &u, T0, &changed), PROTO_OK);
		proto_race_update_fini(&u);
		cr_assert_leq(tail_bytes(r), PROTO_OUTPUT_BYTES_MAX);
	}
	/* 65 lines of 1000 bytes fit in 65536; a 66th would not. */
	cr_assert_eq(r->n_output, 65);
	cr_assert_eq(r->output_dropped, 35);
	cr_assert_eq(r->output[64][0], 'A' + 99 % 26);
	cr_assert_eq(r->output[0][0], 'A' + 35 % 26);
	proto_race_free(r);
}

Test(output, long_lines_are_cut_to_the_cap_with_a_mark)
{
	struct proto_race *r = make("cmd", T0);
	char line[3000];
	struct proto_race_update u;
	uint32_t changed = 0;

	memset(line, 'y', sizeof line - 1);
	line[sizeof line - 1] = '\0';
	u = one_line(line);
	cr_assert_eq(proto_race_apply(r, &u, T0, &changed), PROTO_OK);
	proto_race_update_fini(&u);
	cr_assert_eq(strlen(r->output[0]), PROTO_OUTPUT_LINE_MAX);
	cr_assert_str_eq(r->output[0] + PROTO_OUTPUT_LINE_MAX - 3,
			 "\xe2\x80\xa6");
	/* A line of exactly the cap is kept whole. */
	line[PROTO_OUTPUT_LINE_MAX] = '\0';
	u = one_line(line);
	cr_assert_eq(proto_race_apply(r, &u, T0, &changed), PROTO_OK);
	proto_race_update_fini(&u);
	cr_assert_str_eq(r->output[1], line);
	proto_race_free(r);
}

/* Multi-byte characters straddling the cut: 2-, 3- and 4-byte ones at
 * every alignment. The cut line is valid UTF-8, as long as it may be, and
 * a prefix of the original. */
Test(output, cutting_never_splits_a_utf8_character)
{
	static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac",
					    "\xf0\x9f\x98\x80"};

	for (size_t c = 0; c < 3; c++) {
		for (size_t pad = 0; pad < 4; pad++) {
			struct proto_race *r = make("cmd", T0);
			char line[2100];
			size_t n = 0, w = strlen(chars[c]), keep;
			struct proto_race_update u;

			memset(line, 'p', pad);
			n = pad;
			while (n + w < sizeof line - 1) {
				memcpy(line + n, chars[c], w);
				n += w;
			}
			line[n] = '\0';
			u = one_line(line);
			cr_assert_eq(proto_race_apply(r, &u, T0, NULL),
				     PROTO_OK);
			proto_race_update_fini(&u);
			cr_assert(utf8_ok((const unsigned char *)r->output[0]),
				  "char %zu pad %zu", c, pad);
			cr_assert_leq(strlen(r->output[0]),
				      PROTO_OUTPUT_LINE_MAX);
			keep = strlen(r->output[0]) - 3;
			cr_assert_gt(keep, PROTO_OUTPUT_LINE_MAX - 3 - w);
			cr_assert_eq(memcmp(r->output[0], line, keep), 0);
			cr_assert_eq((keep - pad) % w, 0);
			proto_race_free(r);
		}
	}
}

Test(output, bad_lines_are_refused_and_change_nothing)
{
	struct proto_race *r = make("cmd", T0), *copy;
	struct proto_race_update u = lines_update(2, "l%u");
	uint32_t changed = 0;

	cr_assert_eq(proto_race_apply(r, &u, T0, &changed), PROTO_OK);
	proto_race_update_fini(&u);
	copy = proto_race_dup(r);
	cr_assert_not_null(copy);
	u = one_line("two\nlines");
	u.set |= PROTO_F_PROGRESS;
	u.progress = 50;
	cr_assert_eq(proto_race_apply(r, &u, T0 + 5, &changed), PROTO_EINVAL);
	cr_assert(race_equal(r, copy));
	proto_race_update_fini(&u);
	u = lines_update(PROTO_OUTPUT_WRITE_MAX + 1, "%u");
	cr_assert_eq(proto_race_apply(r, &u, T0 + 5, &changed), PROTO_EINVAL);
	cr_assert(race_equal(r, copy));
	proto_race_update_fini(&u);
	proto_race_free(copy);
	proto_race_free(r);
}

Test(output, create_takes_lines_and_dup_copies_them)
{
	struct proto_race_update u = req("cmd");
	struct proto_race *r, *d;
	int err = 0;

	u.set |= PROTO_F_OUTPUT;
	u.output = calloc(2, sizeof *u.output);
	u.output[0] = strdup("hello");
	u.output[1] = strdup("world");
	u.n_output = 2;
	r = proto_race_create(&u, "r1", T0, &err);
	cr_assert_not_null(r);
	proto_race_update_fini(&u);
	cr_assert_eq(r->n_output, 2);
	d = proto_race_dup(r);
	cr_assert_not_null(d);
	cr_assert(race_equal(r, d));
	cr_assert_neq(d->output, r->output);
	cr_assert_neq(d->output[0], r->output[0]);
	proto_race_free(r);
	cr_assert_str_eq(d->output[1], "world");
	proto_race_free(d);
}
