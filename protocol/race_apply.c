/*
 * race_apply.c - the update rules: how a create or patch request changes a
 * race, and which fields (server-derived ones included) it changed.
 *
 * proto_race_apply() works in three phases so that it is all-or-nothing:
 * validate the request, stage every allocation it needs (new strings, the
 * merged metadata) without touching the race, then commit with code that
 * cannot fail. It must never modify the race before the commit phase, never
 * read the clock (time is the `now` argument) and never include
 * libwebsockets or LMDB.
 */
#include "race.h"

#include <stdlib.h>
#include <string.h>

/* What the commit phase needs that had to be allocated first. A NULL
 * string means "unchanged". */
struct staged {
	char *source;
	char *title;
	char *deeplink;
	int meta_changed;
	struct proto_kv *meta;
	size_t n_meta;
	/* The output tail after the update: keep_old of the race's newest
	 * lines (borrowed) followed by the n_fresh lines in `fresh` (owned
	 * copies of the update's newest lines, already cut), in `tail`, an
	 * array with room for all of them. skipped counts the update's own
	 * lines that did not fit. */
	char **tail;
	char **fresh;
	size_t n_fresh, keep_old, skipped;
};

static void free_kvs(struct proto_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

static void staged_fini(struct staged *st)
{
	free(st->source);
	free(st->title);
	free(st->deeplink);
	free_kvs(st->meta, st->n_meta);
	for (size_t i = 0; i < st->n_fresh; i++)
		free(st->fresh[i]);
	free(st->fresh);
	free(st->tail);
}

static int str_ok(const char *s, size_t max)
{
	return s && strlen(s) <= max;
}

/* Rejects an update a decoder would never have produced, so that the race
 * invariants hold even for updates built by hand. */
static int validate(const struct proto_race_update *u)
{
	uint32_t s = u->set;

	if ((s & PROTO_F_SOURCE) &&
	    (!str_ok(u->source, PROTO_SOURCE_MAX) || !u->source[0]))
		return PROTO_EINVAL;
	if ((s & PROTO_F_TITLE) && !str_ok(u->title, PROTO_TITLE_MAX))
		return PROTO_EINVAL;
	if ((s & PROTO_F_DEEPLINK) && !str_ok(u->deeplink, PROTO_DEEPLINK_MAX))
		return PROTO_EINVAL;
	if ((s & PROTO_F_STATE) && !proto_state_name(u->state))
		return PROTO_EINVAL;
	if ((s & PROTO_F_PROGRESS) && (u->progress < 0 || u->progress > 100))
		return PROTO_EINVAL;
	if ((s & PROTO_F_ETA_SEC) &&
	    (u->eta_sec < 0 || u->eta_sec > PROTO_ETA_MAX_SEC))
		return PROTO_EINVAL;
	if ((s & PROTO_F_ETA_SOURCE) && (u->eta_source < PROTO_ETA_EXACT ||
					 u->eta_source > PROTO_ETA_PROGRESS))
		return PROTO_EINVAL;
	/* Written so that NaN fails too. */
	if ((s & PROTO_F_ETA_CONFIDENCE) &&
	    !(u->eta_confidence >= 0.0 && u->eta_confidence <= 1.0))
		return PROTO_EINVAL;
	if ((s & PROTO_F_UPDATE_INTERVAL_HINT) &&
	    (u->update_interval_hint < 1 ||
	     u->update_interval_hint > PROTO_HINT_MAX_SEC))
		return PROTO_EINVAL;
	if (s & PROTO_F_OUTPUT) {
		if (u->n_output > PROTO_OUTPUT_WRITE_MAX ||
		    (u->n_output && !u->output))
			return PROTO_EINVAL;
		for (size_t i = 0; i < u->n_output; i++) {
			if (!u->output[i] || strchr(u->output[i], '\n'))
				return PROTO_EINVAL;
		}
	}
	if (!(s & PROTO_F_METADATA))
		return PROTO_OK;
	for (size_t i = 0; i < u->n_metadata; i++) {
		if (!u->metadata[i].key)
			return PROTO_EINVAL;
		if (strlen(u->metadata[i].key) > PROTO_META_KEY_MAX ||
		    (u->metadata[i].value &&
		     strlen(u->metadata[i].value) > PROTO_META_VALUE_MAX))
			return PROTO_ELIMIT;
	}
	return PROTO_OK;
}

/* A merge candidate: borrowed key/value plus the patch position, which
 * breaks ties so that the last of duplicate patch keys wins. */
struct entry {
	const char *key;
	const char *value;
	size_t pos;
};

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c)
		return c;
	return (x->pos > y->pos) - (x->pos < y->pos);
}

/*
 * Merges the patch's metadata into the race's (both borrowed) as a list of
 * borrowed pairs in `out` (room for n_old + n_patch), sorted by key.
 * Returns the merged count.
 */
static size_t merge_meta(const struct proto_race *r, struct entry *patch,
			 size_t n_patch, struct entry *out)
{
	size_t i = 0, j = 0, n = 0;

	qsort(patch, n_patch, sizeof *patch, entry_cmp);
	while (i < r->n_metadata || j < n_patch) {
		int c;

		/* Of several patch entries for one key only the last counts. */
		while (j + 1 < n_patch &&
		       strcmp(patch[j].key, patch[j + 1].key) == 0)
			j++;
		if (j >= n_patch)
			c = -1;
		else if (i >= r->n_metadata)
			c = 1;
		else
			c = strcmp(r->metadata[i].key, patch[j].key);
		if (c < 0) {
			out[n].key = r->metadata[i].key;
			out[n++].value = r->metadata[i++].value;
			continue;
		}
		if (patch[j].value) {
			out[n].key = patch[j].key;
			out[n++].value = patch[j].value;
		}
		if (c == 0)
			i++;
		j++;
	}
	return n;
}

static int meta_equal(const struct proto_race *r, const struct entry *m,
		      size_t n)
{
	if (n != r->n_metadata)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(m[i].key, r->metadata[i].key) ||
		    strcmp(m[i].value, r->metadata[i].value))
			return 0;
	}
	return 1;
}

/* Stages the merged metadata as an owned array in st (or nothing when the
 * merge changes nothing). PROTO_ELIMIT when it would hold too many keys. */
static int stage_meta(const struct proto_race *r,
		      const struct proto_race_update *u, struct staged *st)
{
	struct entry *patch = NULL, *merged = NULL;
	size_t n;
	int rc = PROTO_ENOMEM;

	patch = calloc(u->n_metadata + 1, sizeof *patch);
	merged = calloc(r->n_metadata + u->n_metadata + 1, sizeof *merged);
	if (!patch || !merged)
		goto done;
	for (size_t i = 0; i < u->n_metadata; i++) {
		patch[i].key = u->metadata[i].key;
		patch[i].value = u->metadata[i].value;
		patch[i].pos = i;
	}
	n = merge_meta(r, patch, u->n_metadata, merged);
	rc = PROTO_ELIMIT;
	if (n > PROTO_META_KEYS_MAX)
		goto done;
	rc = PROTO_OK;
	if (meta_equal(r, merged, n))
		goto done;
	rc = PROTO_ENOMEM;
	st->meta = calloc(n + 1, sizeof *st->meta);
	if (!st->meta)
		goto done;
	st->meta_changed = 1;
	for (size_t i = 0; i < n; i++) {
		st->meta[i].key = strdup(merged[i].key);
		st->meta[i].value = strdup(merged[i].value);
		/* Count the slot first so staged_fini() frees a half pair. */
		st->n_meta = i + 1;
		if (!st->meta[i].key || !st->meta[i].value)
			goto done;
	}
	rc = PROTO_OK;
done:
	free(patch);
	free(merged);
	return rc;
}

/* Copies `s` into *slot when it differs from `cur` (NULL: unset). */
static int stage_str(const char *s, const char *cur, char **slot)
{
	if (cur && strcmp(s, cur) == 0)
		return PROTO_OK;
	*slot = strdup(s);
	return *slot ? PROTO_OK : PROTO_ENOMEM;
}

/* What an output line becomes: "…" (3 bytes) marks a cut. */
#define CUT_MARK "\xe2\x80\xa6"
#define CUT_MARK_LEN 3

/*
 * The length a line keeps: all of it when it fits in
 * PROTO_OUTPUT_LINE_MAX bytes, else the longest prefix of whole UTF-8
 * characters that leaves room for the mark (*cut set). Backing up over
 * continuation bytes (10xxxxxx) never splits a character of valid
 * UTF-8, and stops after three even in invalid input.
 */
static size_t line_keep(const char *s, int *cut)
{
	size_t n = strlen(s), k = PROTO_OUTPUT_LINE_MAX - CUT_MARK_LEN;

	*cut = n > PROTO_OUTPUT_LINE_MAX;
	if (!*cut)
		return n;
	for (int i = 0; i < 3 && k > 0 &&
	     ((unsigned char)s[k] & 0xc0) == 0x80; i++)
		k--;
	return k;
}

static char *line_copy(const char *s)
{
	int cut;
	size_t k = line_keep(s, &cut);
	char *d = malloc(k + (cut ? CUT_MARK_LEN : 0) + 1);

	if (!d)
		return NULL;
	memcpy(d, s, k);
	if (cut)
		memcpy(d + k, CUT_MARK, CUT_MARK_LEN);
	d[k + (cut ? CUT_MARK_LEN : 0)] = '\0';
	return d;
}

/*
 * Stages the output tail: walks back from the update's newest line, then
 * into the race's lines, keeping lines while both bounds hold, so the
 * newest lines always win. Copies only the update's lines that are kept.
 */
static int stage_output(const struct proto_race *r,
			const struct proto_race_update *u, struct staged *st)
{
	size_t lines = 0, bytes = 0, k = 0, j = 0;

	if (!u->n_output)
		return PROTO_OK;
	while (k < u->n_output && lines < PROTO_OUTPUT_LINES_MAX) {
		int cut;
		size_t n = line_keep(u->output[u->n_output - 1 - k], &cut);

		n += cut ? CUT_MARK_LEN : 0;
		if (bytes + n > PROTO_OUTPUT_BYTES_MAX)
			break;
		bytes += n;
		lines++;
		k++;
	}
	while (k == u->n_output && j < r->n_output &&
	       lines < PROTO_OUTPUT_LINES_MAX) {
		size_t n = strlen(r->output[r->n_output - 1 - j]);

		if (bytes + n > PROTO_OUTPUT_BYTES_MAX)
			break;
		bytes += n;
		lines++;
		j++;
	}
	st->tail = calloc(j + k, sizeof *st->tail);
	st->fresh = calloc(k, sizeof *st->fresh);
	if (!st->tail || !st->fresh)
		return PROTO_ENOMEM;
	for (size_t i = 0; i < k; i++) {
		st->fresh[i] = line_copy(u->output[u->n_output - k + i]);
		if (!st->fresh[i])
			return PROTO_ENOMEM;
		st->n_fresh = i + 1;
	}
	st->keep_old = j;
	st->skipped = u->n_output - k;
	return PROTO_OK;
}

static int stage(const struct proto_race *r, const struct proto_race_update *u,
		 struct staged *st)
{
	int rc = PROTO_OK;

	if (u->set & PROTO_F_SOURCE)
		rc = stage_str(u->source, r->source, &st->source);
	if (rc == PROTO_OK && (u->set & PROTO_F_TITLE))
		rc = stage_str(u->title, r->title, &st->title);
	if (rc == PROTO_OK && (u->set & PROTO_F_DEEPLINK))
		rc = stage_str(u->deeplink,
			       (r->has & PROTO_F_DEEPLINK) ? r->deeplink : NULL,
			       &st->deeplink);
	if (rc == PROTO_OK && (u->set & PROTO_F_METADATA))
		rc = stage_meta(r, u, st);
	if (rc == PROTO_OK && (u->set & PROTO_F_OUTPUT))
		rc = stage_output(r, u, st);
	return rc;
}

/* Setters for optional fields: they record a change only when the value
 * really changes (or the field was unset), which is what keeps deltas and
 * the "timestamps only on change" rule honest. */
static void set_i64(struct proto_race *r, int64_t *f, int64_t v, uint32_t bit,
		    uint32_t *bits)
{
	if ((r->has & bit) && *f == v)
		return;
	*f = v;
	r->has |= bit;
	*bits |= bit;
}

static void set_int(struct proto_race *r, int *f, int v, uint32_t bit,
		    uint32_t *bits)
{
	if ((r->has & bit) && *f == v)
		return;
	*f = v;
	r->has |= bit;
	*bits |= bit;
}

static void set_dbl(struct proto_race *r, double *f, double v, uint32_t bit,
		    uint32_t *bits)
{
	if ((r->has & bit) && *f == v)
		return;
	*f = v;
	r->has |= bit;
	*bits |= bit;
}

/* Unsets an optional int64 field; the value is zeroed so that equal races
 * are equal byte for byte. */
static void clear_i64(struct proto_race *r, int64_t *f, uint32_t bit,
		      uint32_t *bits)
{
	if (!(r->has & bit))
		return;
	*f = 0;
	r->has &= ~bit;
	*bits |= bit;
}

/* The confidence an eta_source implies when none is given. */
static double source_confidence(int eta_source)
{
	switch (eta_source) {
	case PROTO_ETA_EXACT:
		return 1.0;
	case PROTO_ETA_DEFAULT:
		return 0.2;
	default:
		return 0.5;
	}
}

/* Whole seconds between start and end, rounded half up, never negative. */
static int64_t duration_sec(int64_t start, int64_t end)
{
	if (end <= start)
		return 0;
	/* Both come from parsed RFC 3339 stamps or the caller's clock, but
	 * guard the subtraction anyway: signed overflow is undefined. */
	if (start < 0 && end > INT64_MAX + start)
		return INT64_MAX / 1000;
	return (end - start) / 1000 + ((end - start) % 1000 >= 500);
}

/* A changed ETA: previous value, timestamp, provenance and revision. */
static void commit_eta(struct proto_race *r, const struct proto_race_update *u,
		       int64_t now, uint32_t *bits)
{
	struct proto_eta_revision rev;

	if (r->has & PROTO_F_ETA_SEC)
		set_i64(r, &r->previous_eta_sec, r->eta_sec,
			PROTO_F_PREVIOUS_ETA_SEC, bits);
	else
		clear_i64(r, &r->previous_eta_sec, PROTO_F_PREVIOUS_ETA_SEC,
			  bits);
	set_i64(r, &r->eta_sec, u->eta_sec, PROTO_F_ETA_SEC, bits);
	set_i64(r, &r->last_eta_update, now, PROTO_F_LAST_ETA_UPDATE, bits);

	/* A producer that says nothing about its ETA gets the default
	 * provenance of its kind: a calendar knows the end exactly, anything
	 * else is an adapter's estimate. The source used is the race's after
	 * this update, since the ETA arrives with that source. */
	rev.eta_sec = u->eta_sec;
	rev.timestamp = now;
	if (u->set & PROTO_F_ETA_SOURCE)
		rev.source = u->eta_source;
	else if (strcmp(r->source, "google-calendar") == 0)
		rev.source = PROTO_ETA_EXACT;
	else
		rev.source = PROTO_ETA_ADAPTER;
	rev.confidence = (u->set & PROTO_F_ETA_CONFIDENCE) ?
		u->eta_confidence : source_confidence(rev.source);
	set_int(r, &r->eta_source, rev.source, PROTO_F_ETA_SOURCE, bits);
	set_dbl(r, &r->eta_confidence, rev.confidence,
		PROTO_F_ETA_CONFIDENCE, bits);

	if (r->n_eta_revisions == PROTO_ETA_REVISIONS_MAX) {
		memmove(r->eta_revisions, r->eta_revisions + 1,
			(PROTO_ETA_REVISIONS_MAX - 1) * sizeof rev);
		r->n_eta_revisions--;
	}
	r->eta_revisions[r->n_eta_revisions++] = rev;
	r->has |= PROTO_F_ETA_REVISIONS;
	*bits |= PROTO_F_ETA_REVISIONS;
}

/* `now` is when the race finished if this finishes it. */
static void commit_state(struct proto_race *r, enum proto_state to,
			 int64_t now, uint32_t *bits)
{
	int was_done = proto_state_is_terminal(r->state);
	int is_done = proto_state_is_terminal(to);

	if (to == r->state)
		return;
	r->state = to;
	*bits |= PROTO_F_STATE;
	if (!was_done && is_done) {
		set_i64(r, &r->completed_at, now, PROTO_F_COMPLETED_AT, bits);
		set_i64(r, &r->duration_sec, duration_sec(r->started_at, now),
			PROTO_F_DURATION_SEC, bits);
	} else if (was_done && !is_done) {
		/* A restart: the race is no longer complete. */
		clear_i64(r, &r->completed_at, PROTO_F_COMPLETED_AT, bits);
		clear_i64(r, &r->duration_sec, PROTO_F_DURATION_SEC, bits);
	}
	/* Terminal to terminal keeps the original completion time. */
}

/* Moves a staged string into place; returns 1 when it did. */
static int take_str(char **field, char **staged)
{
	if (!*staged)
		return 0;
	free(*field);
	*field = *staged;
	*staged = NULL;
	return 1;
}

/* Swaps in the staged output tail: frees the race's lines that were not
 * kept, counts every dropped line. */
static void commit_output(struct proto_race *r, struct staged *st,
			  uint32_t *bits)
{
	size_t gone = r->n_output - st->keep_old;

	for (size_t i = 0; i < gone; i++)
		free(r->output[i]);
	if (st->keep_old)
		memcpy(st->tail, r->output + gone,
		       st->keep_old * sizeof *st->tail);
	if (st->n_fresh)
		memcpy(st->tail + st->keep_old, st->fresh,
		       st->n_fresh * sizeof *st->tail);
	free(r->output);
	r->output = st->tail;
	r->n_output = st->keep_old + st->n_fresh;
	r->output_appended = st->n_fresh;
	r->has |= PROTO_F_OUTPUT;
	*bits |= PROTO_F_OUTPUT;
	if (gone + st->skipped) {
		r->output_dropped += gone + st->skipped;
		r->has |= PROTO_F_OUTPUT_DROPPED;
		*bits |= PROTO_F_OUTPUT_DROPPED;
	}
	/* The race owns the strings now; staged_fini() frees the arrays. */
	st->tail = NULL;
	st->n_fresh = 0;
}

/* The commit phase: everything is allocated, nothing here can fail. The
 * order matters: started_at before state (duration uses the new start),
 * source before the hint and the ETA (both derive from it). */
static void commit(struct proto_race *r, const struct proto_race_update *u,
		   struct staged *st, int64_t now, uint32_t *bits)
{
	int source_changed = take_str(&r->source, &st->source);

	if (source_changed)
		*bits |= PROTO_F_SOURCE;
	if (take_str(&r->title, &st->title))
		*bits |= PROTO_F_TITLE;
	if (take_str(&r->deeplink, &st->deeplink)) {
		r->has |= PROTO_F_DEEPLINK;
		*bits |= PROTO_F_DEEPLINK;
	}
	if (st->meta_changed) {
		free_kvs(r->metadata, r->n_metadata);
		r->metadata = st->meta;
		r->n_metadata = st->n_meta;
		st->meta = NULL;
		st->n_meta = 0;
		r->has = r->n_metadata ? r->has | PROTO_F_METADATA :
			r->has & ~PROTO_F_METADATA;
		*bits |= PROTO_F_METADATA;
	}
	if ((u->set & PROTO_F_STARTED_AT) && u->started_at != r->started_at) {
		r->started_at = u->started_at;
		*bits |= PROTO_F_STARTED_AT;
	}
	if (u->set & PROTO_F_UPDATE_INTERVAL_HINT) {
		r->hint_explicit = 1;
		set_int(r, &r->update_interval_hint, u->update_interval_hint,
			PROTO_F_UPDATE_INTERVAL_HINT, bits);
	} else if (source_changed && !r->hint_explicit) {
		set_int(r, &r->update_interval_hint,
			proto_source_default_hint(r->source),
			PROTO_F_UPDATE_INTERVAL_HINT, bits);
	}
	if ((u->set & PROTO_F_PROGRESS) &&
	    (!(r->has & PROTO_F_PROGRESS) || r->progress != u->progress)) {
		set_int(r, &r->progress, u->progress, PROTO_F_PROGRESS, bits);
		set_i64(r, &r->last_progress_update, now,
			PROTO_F_LAST_PROGRESS_UPDATE, bits);
	}
	if ((u->set & PROTO_F_ETA_SEC) &&
	    (!(r->has & PROTO_F_ETA_SEC) || r->eta_sec != u->eta_sec)) {
		commit_eta(r, u, now, bits);
	} else {
		/* Provenance alone: no new ETA, so no revision. An
		 * eta_source without a confidence implies its default. */
		if (u->set & PROTO_F_ETA_SOURCE)
			set_int(r, &r->eta_source, u->eta_source,
				PROTO_F_ETA_SOURCE, bits);
		if (u->set & PROTO_F_ETA_CONFIDENCE)
			set_dbl(r, &r->eta_confidence, u->eta_confidence,
				PROTO_F_ETA_CONFIDENCE, bits);
		else if (u->set & PROTO_F_ETA_SOURCE)
			set_dbl(r, &r->eta_confidence,
				source_confidence(u->eta_source),
				PROTO_F_ETA_CONFIDENCE, bits);
	}
	if (u->set & PROTO_F_STATE)
		commit_state(r, u->state, u->set & PROTO_F_COMPLETED_AT ?
			     u->completed_at : now, bits);
	if (st->tail)
		commit_output(r, st, bits);
}

int proto_race_apply(struct proto_race *r, const struct proto_race_update *u,
		     int64_t now, uint32_t *changed)
{
	struct staged st = {0};
	uint32_t bits = 0;
	int rc;

	rc = validate(u);
	if (rc != PROTO_OK)
		return rc;
	rc = stage(r, u, &st);
	if (rc != PROTO_OK)
		goto done;
	commit(r, u, &st, now, &bits);
	if (changed)
		*changed = bits;
done:
	/* After a commit this frees nothing: the race took every string. */
	staged_fini(&st);
	return rc;
}
