/*
 * race.c - the race model: lifetime (create, dup, free), events, and the
 * small lookup tables (states, per-source hints, ids, error strings).
 *
 * The update rules themselves live in race_apply.c. Like the rest of
 * protocol/, this file is pure: it never reads the clock, never does I/O,
 * keeps no mutable state of its own and never includes libwebsockets or
 * LMDB. "now" always comes in as an argument.
 */
#include "race.h"

#include <stdlib.h>
#include <string.h>

const char *proto_strerror(int err)
{
	switch (err) {
	case PROTO_OK:
		return "success";
	case PROTO_EINVAL:
		return "invalid or out-of-range input";
	case PROTO_ENOMEM:
		return "out of memory";
	case PROTO_ELIMIT:
		return "a size limit would be exceeded";
	default:
		return "unknown protocol error";
	}
}

static const char *const state_names[] = {
	[PROTO_STATE_QUEUED] = "queued",
	[PROTO_STATE_RUNNING] = "running",
	[PROTO_STATE_PASSED] = "passed",
	[PROTO_STATE_FAILED] = "failed",
	[PROTO_STATE_CANCELED] = "canceled",
};

#define N_STATES (sizeof state_names / sizeof state_names[0])

int proto_state_is_terminal(enum proto_state s)
{
	return s == PROTO_STATE_PASSED || s == PROTO_STATE_FAILED ||
	       s == PROTO_STATE_CANCELED;
}

const char *proto_state_name(enum proto_state s)
{
	/* Cast first: an out-of-range enum must not index the table. */
	if ((unsigned)s >= N_STATES)
		return NULL;
	return state_names[s];
}

int proto_state_parse(const char *name, enum proto_state *out)
{
	if (!name)
		return PROTO_EINVAL;
	for (size_t i = 0; i < N_STATES; i++) {
		if (strcmp(name, state_names[i]) == 0) {
			*out = (enum proto_state)i;
			return PROTO_OK;
		}
	}
	return PROTO_EINVAL;
}

int proto_source_default_hint(const char *source)
{
	static const struct {
		const char *source;
		int hint;
	} hints[] = {
		{"gitlab", 10},
		{"github", 10},
		{"cmd", 5},
		{"claude-code", 15},
		{"google-calendar", 60},
	};

	for (size_t i = 0; source && i < sizeof hints / sizeof hints[0]; i++) {
		if (strcmp(source, hints[i].source) == 0)
			return hints[i].hint;
	}
	return 10;
}

int proto_id_valid(const char *id)
{
	size_t n = 0;

	if (!id)
		return 0;
	for (; id[n]; n++) {
		char c = id[n];

		/* Spelled out rather than isalnum(): the locale must not widen
		 * the set of bytes an id may hold. */
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == ':' || c == '-'))
			return 0;
		if (n >= PROTO_ID_MAX)
			return 0;
	}
	return n > 0;
}

int proto_id_creatable(const char *id)
{
	return proto_id_valid(id) && strcmp(id, ".") && strcmp(id, "..");
}

const char *proto_race_meta_get(const struct proto_race *r, const char *key)
{
	size_t lo = 0, hi = r->n_metadata;

	/* Metadata is kept sorted by key, so a binary search suffices. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(key, r->metadata[mid].key);

		if (c == 0)
			return r->metadata[mid].value;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

void proto_event_fini(struct proto_event *ev)
{
	if (!ev)
		return;
	free(ev->type);
	free(ev->data_json);
	memset(ev, 0, sizeof *ev);
}

static void free_kvs(struct proto_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

static void free_lines(char **lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

void proto_race_update_fini(struct proto_race_update *u)
{
	if (!u)
		return;
	free_lines(u->output, u->n_output);
	free(u->id);
	free(u->source);
	free(u->title);
	free(u->deeplink);
	free_kvs(u->metadata, u->n_metadata);
	memset(u, 0, sizeof *u);
}

void proto_race_free(struct proto_race *r)
{
	if (!r)
		return;
	free(r->id);
	free(r->source);
	free(r->title);
	free(r->deeplink);
	free_kvs(r->metadata, r->n_metadata);
	for (size_t i = 0; i < r->n_events; i++)
		proto_event_fini(&r->events[i]);
	free(r->events);
	free_lines(r->output, r->n_output);
	free(r);
}

/* strdup() that maps NULL to NULL and reports failure through *ok, so a
 * deep copy can run to the end and clean up once. */
static char *dup_or_null(const char *s, int *ok)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*ok = 0;
	return d;
}

struct proto_race *proto_race_dup(const struct proto_race *r)
{
	struct proto_race *d = malloc(sizeof *d);
	int ok = 1;

	if (!d)
		return NULL;
	/* Scalars and the revision array come along by value; every pointer
	 * is then replaced by an owned copy (or NULL) before the first
	 * failure can reach proto_race_free(). */
	*d = *r;
	d->id = d->source = d->title = d->deeplink = NULL;
	d->metadata = NULL;
	d->n_metadata = 0;
	d->events = NULL;
	d->n_events = 0;
	d->output = NULL;
	d->n_output = 0;

	d->id = dup_or_null(r->id, &ok);
	d->source = dup_or_null(r->source, &ok);
	d->title = dup_or_null(r->title, &ok);
	d->deeplink = dup_or_null(r->deeplink, &ok);
	if (r->n_metadata) {
		d->metadata = calloc(r->n_metadata, sizeof *d->metadata);
		if (!d->metadata)
			goto fail;
		d->n_metadata = r->n_metadata;
		for (size_t i = 0; i < r->n_metadata; i++) {
			d->metadata[i].key = dup_or_null(r->metadata[i].key, &ok);
			d->metadata[i].value =
				dup_or_null(r->metadata[i].value, &ok);
		}
	}
	if (r->n_events) {
		d->events = calloc(r->n_events, sizeof *d->events);
		if (!d->events)
			goto fail;
		d->n_events = r->n_events;
		for (size_t i = 0; i < r->n_events; i++) {
			d->events[i].type = dup_or_null(r->events[i].type, &ok);
			d->events[i].data_json =
				dup_or_null(r->events[i].data_json, &ok);
			d->events[i].timestamp = r->events[i].timestamp;
		}
	}
	if (r->n_output) {
		d->output = calloc(r->n_output, sizeof *d->output);
		if (!d->output)
			goto fail;
		d->n_output = r->n_output;
		for (size_t i = 0; i < r->n_output; i++)
			d->output[i] = dup_or_null(r->output[i], &ok);
	}
	if (!ok)
		goto fail;
	return d;
fail:
	proto_race_free(d);
	return NULL;
}

int proto_race_add_event(struct proto_race *r, struct proto_event *ev,
			 uint32_t *changed)
{
	uint32_t bits = PROTO_F_EVENTS;

	if (!ev->type)
		return PROTO_EINVAL;
	if (r->n_events >= PROTO_EVENTS_MAX) {
		/* Full: the array keeps its size, the oldest entry makes room.
		 * Nothing is allocated, so this path cannot fail. */
		size_t drop = r->n_events - PROTO_EVENTS_MAX + 1;

		for (size_t i = 0; i < drop; i++)
			proto_event_fini(&r->events[i]);
		memmove(r->events, r->events + drop,
			(r->n_events - drop) * sizeof *r->events);
		r->n_events -= drop;
		r->events_dropped += drop;
		bits |= PROTO_F_EVENTS_DROPPED;
	} else {
		struct proto_event *grown =
			realloc(r->events, (r->n_events + 1) * sizeof *grown);

		/* realloc() leaves the old block intact on failure. */
		if (!grown)
			return PROTO_ENOMEM;
		r->events = grown;
	}
	r->events[r->n_events++] = *ev;
	memset(ev, 0, sizeof *ev);
	r->has |= bits;
	if (changed)
		*changed = bits;
	return PROTO_OK;
}

struct proto_race *proto_race_create(const struct proto_race_update *u,
				     const char *id, int64_t now, int *err)
{
	struct proto_race *r = NULL;
	int rc = PROTO_EINVAL;

	if (!(u->set & PROTO_F_SOURCE) || !(u->set & PROTO_F_TITLE) ||
	    !u->source || !u->title || !proto_id_creatable(id))
		goto fail;
	rc = PROTO_ENOMEM;
	r = calloc(1, sizeof *r);
	if (!r)
		goto fail;
	r->id = strdup(id);
	r->source = strdup(u->source);
	r->title = strdup(u->title);
	if (!r->id || !r->source || !r->title)
		goto fail;
	/* The blank race the request is applied to: creation is then just
	 * the first update, so every rule (terminal state, first progress,
	 * first ETA revision) holds the same way it does for a PATCH. */
	r->state = PROTO_STATE_RUNNING;
	r->started_at = now;
	r->update_interval_hint = proto_source_default_hint(r->source);
	r->has = PROTO_F_UPDATE_INTERVAL_HINT;
	rc = proto_race_apply(r, u, now, NULL);
	if (rc != PROTO_OK) {
		/* An over-limit metadata is bad input at creation time. */
		if (rc == PROTO_ELIMIT)
			rc = PROTO_EINVAL;
		goto fail;
	}
	return r;
fail:
	proto_race_free(r);
	if (err)
		*err = rc;
	return NULL;
}
