/*
 * update_same.h - whether two decoded producer updates, or two decode
 * errors, are the same: what the direct decoders (protocol/update_scan.c)
 * must agree with json-c on, checked by test_proto_update_scan and
 * fuzz/fuzz_update_scan.c alike. Test code only.
 */
#ifndef RACEBOARD_TESTS_UPDATE_SAME_H
#define RACEBOARD_TESTS_UPDATE_SAME_H

#include <string.h>

#include "json.h"
#include "race.h"

static inline int str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* 1 when two decoded updates hold the same values. */
static inline int same_update(const struct proto_race_update *a,
		       const struct proto_race_update *b)
{
	if (a->set != b->set || !str_eq(a->id, b->id) ||
	    !str_eq(a->source, b->source) || !str_eq(a->title, b->title) ||
	    a->state != b->state || a->started_at != b->started_at ||
	    a->eta_sec != b->eta_sec || a->progress != b->progress ||
	    !str_eq(a->deeplink, b->deeplink) ||
	    a->eta_source != b->eta_source ||
	    memcmp(&a->eta_confidence, &b->eta_confidence,
		   sizeof a->eta_confidence) != 0 ||
	    a->update_interval_hint != b->update_interval_hint ||
	    a->n_metadata != b->n_metadata || a->n_output != b->n_output ||
	    a->completed_at != b->completed_at)
		return 0;
	for (size_t i = 0; i < a->n_metadata; i++)
		if (!str_eq(a->metadata[i].key, b->metadata[i].key) ||
		    !str_eq(a->metadata[i].value, b->metadata[i].value))
			return 0;
	for (size_t i = 0; i < a->n_output; i++)
		if (!str_eq(a->output[i], b->output[i]))
			return 0;
	return 1;
}

static inline int same_error(const struct proto_json_error *a,
		      const struct proto_json_error *b)
{
	return str_eq(a->code, b->code) && !strcmp(a->field, b->field) &&
	       !strcmp(a->message, b->message);
}

#endif
