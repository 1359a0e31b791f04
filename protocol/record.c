/*
 * record.c - decoding a whole race (stored records, snapshots, create
 * deltas) and the stored record format.
 *
 * A record is the API object plus "v" and the server-private fields, so
 * the decoder for records, for snapshot races and for delta "changes" is
 * one per-field setter (proto_codec_race_set). Decoding is lenient about
 * absent optional fields (older records lack them) and strict about types
 * and ranges (a value that breaks the race invariants means corruption).
 * proto_record_decode() first tries the direct scanner (record_scan.c),
 * which reads what proto_record_write() writes without a json-c tree;
 * the json-c decoder here takes whatever it declines.
 * Never does I/O, never reads the clock, never includes libwebsockets or
 * LMDB.
 */
#include "codec.h"

#include "encode.h"
#include "record.h"

#include <stdlib.h>
#include <string.h>

/* Replaces an owned string with a copy of `s`. */
static int set_str(char **field, const char *s)
{
	char *d = strdup(s);

	if (!d)
		return PROTO_ENOMEM;
	free(*field);
	*field = d;
	return PROTO_OK;
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct proto_kv *)a)->key,
		      ((const struct proto_kv *)b)->key);
}

static void clear_metadata(struct proto_race *r)
{
	for (size_t i = 0; i < r->n_metadata; i++) {
		free(r->metadata[i].key);
		free(r->metadata[i].value);
	}
	free(r->metadata);
	r->metadata = NULL;
	r->n_metadata = 0;
	r->has &= ~PROTO_F_METADATA;
}

static int set_metadata(struct proto_race *r, json_object *v)
{
	const char *s;
	size_t n = 0;

	if (!json_object_is_type(v, json_type_object) ||
	    json_object_object_length(v) > PROTO_META_KEYS_MAX)
		return PROTO_EINVAL;
	clear_metadata(r);
	r->metadata = calloc((size_t)json_object_object_length(v) + 1,
			     sizeof *r->metadata);
	if (!r->metadata)
		return PROTO_ENOMEM;
	json_object_object_foreach(v, key, val) {
		if (strlen(key) > PROTO_META_KEY_MAX ||
		    proto_codec_string(val, key, PROTO_META_VALUE_MAX, &s,
				       NULL))
			return PROTO_EINVAL;
		r->metadata[n].key = strdup(key);
		r->metadata[n].value = strdup(s);
		r->n_metadata = ++n;
		if (!r->metadata[n - 1].key || !r->metadata[n - 1].value)
			return PROTO_ENOMEM;
	}
	/* Producers and older writers may emit keys in any order; the
	 * race keeps them sorted for lookups and stable output. */
	qsort(r->metadata, n, sizeof *r->metadata, kv_cmp);
	if (n)
		r->has |= PROTO_F_METADATA;
	return PROTO_OK;
}

static int set_revisions(struct proto_race *r, json_object *v)
{
	size_t n;

	if (!json_object_is_type(v, json_type_array))
		return PROTO_EINVAL;
	n = json_object_array_length(v);
	if (n > PROTO_ETA_REVISIONS_MAX)
		return PROTO_EINVAL;
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(v, i), *f[4];
		struct proto_eta_revision *rev = &r->eta_revisions[i];
		int64_t src;

		if (!json_object_is_type(o, json_type_object) ||
		    !json_object_object_get_ex(o, "eta_sec", &f[0]) ||
		    !json_object_object_get_ex(o, "timestamp", &f[1]) ||
		    !json_object_object_get_ex(o, "source", &f[2]) ||
		    !json_object_object_get_ex(o, "confidence", &f[3]) ||
		    proto_codec_int(f[0], "eta_sec", 0, PROTO_ETA_MAX_SEC,
				    &rev->eta_sec, NULL) ||
		    proto_codec_time(f[1], "timestamp", &rev->timestamp,
				     NULL) ||
		    proto_codec_int(f[2], "source", PROTO_ETA_EXACT,
				    PROTO_ETA_PROGRESS, &src, NULL) ||
		    proto_codec_double(f[3], "confidence", 0.0, 1.0,
				       &rev->confidence, NULL))
			return PROTO_EINVAL;
		rev->source = (int)src;
	}
	/* Unused slots are zeroed so equal races are equal byte for byte. */
	memset(r->eta_revisions + n, 0,
	       (PROTO_ETA_REVISIONS_MAX - n) * sizeof *r->eta_revisions);
	r->n_eta_revisions = n;
	r->has = n ? r->has | PROTO_F_ETA_REVISIONS :
		r->has & ~PROTO_F_ETA_REVISIONS;
	return PROTO_OK;
}

static void clear_events(struct proto_race *r)
{
	for (size_t i = 0; i < r->n_events; i++)
		proto_event_fini(&r->events[i]);
	free(r->events);
	r->events = NULL;
	r->n_events = 0;
	r->has &= ~PROTO_F_EVENTS;
}

static int set_events(struct proto_race *r, json_object *v)
{
	size_t n;

	if (!json_object_is_type(v, json_type_array))
		return PROTO_EINVAL;
	n = json_object_array_length(v);
	if (n > PROTO_EVENTS_MAX)
		return PROTO_EINVAL;
	clear_events(r);
	r->events = calloc(n + 1, sizeof *r->events);
	if (!r->events)
		return PROTO_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int rc = proto_codec_stored_event(
			json_object_array_get_idx(v, i), &r->events[i]);

		if (rc != PROTO_OK)
			return rc;
		r->n_events = i + 1;
	}
	if (n)
		r->has |= PROTO_F_EVENTS;
	return PROTO_OK;
}

static void clear_output(struct proto_race *r)
{
	for (size_t i = 0; i < r->n_output; i++)
		free(r->output[i]);
	free(r->output);
	r->output = NULL;
	r->n_output = 0;
	r->output_appended = 0;
	r->has &= ~PROTO_F_OUTPUT;
}

/* A whole output tail, within the bounds proto_race_apply() keeps. */
static int set_output(struct proto_race *r, json_object *v)
{
	size_t n, bytes = 0;

	if (!json_object_is_type(v, json_type_array))
		return PROTO_EINVAL;
	n = json_object_array_length(v);
	if (n > PROTO_OUTPUT_LINES_MAX)
		return PROTO_EINVAL;
	clear_output(r);
	r->output = calloc(n + 1, sizeof *r->output);
	if (!r->output)
		return PROTO_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *s;

		if (proto_codec_string(json_object_array_get_idx(v, i), "",
				       PROTO_OUTPUT_LINE_MAX, &s, NULL) ||
		    strchr(s, '\n'))
			return PROTO_EINVAL;
		bytes += strlen(s);
		if (bytes > PROTO_OUTPUT_BYTES_MAX)
			return PROTO_EINVAL;
		r->output[i] = strdup(s);
		if (!r->output[i])
			return PROTO_ENOMEM;
		r->n_output = i + 1;
	}
	if (n)
		r->has |= PROTO_F_OUTPUT;
	return PROTO_OK;
}

static int set_output_dropped(struct proto_race *r, json_object *v)
{
	int64_t x = 0;

	if (v && proto_codec_int(v, "", 0, INT64_MAX, &x, NULL))
		return PROTO_EINVAL;
	r->output_dropped = (uint64_t)x;
	r->has = x ? r->has | PROTO_F_OUTPUT_DROPPED :
		r->has & ~PROTO_F_OUTPUT_DROPPED;
	return PROTO_OK;
}

/* Sets or clears an optional int64 field read as an integer (`time`: read
 * as an RFC 3339 string instead). */
static int set_opt_i64(struct proto_race *r, uint32_t bit, int64_t *f,
		       json_object *v, int64_t min, int64_t max, int time)
{
	int64_t x;

	if (!v) {
		*f = 0;
		r->has &= ~bit;
		return PROTO_OK;
	}
	if (time ? proto_codec_time(v, "", &x, NULL) :
		   proto_codec_int(v, "", min, max, &x, NULL))
		return PROTO_EINVAL;
	*f = x;
	r->has |= bit;
	return PROTO_OK;
}

static int set_opt_int(struct proto_race *r, uint32_t bit, int *f,
		       json_object *v, int min, int max)
{
	int64_t x = 0;
	int rc = set_opt_i64(r, bit, &x, v, min, max, 0);

	if (rc == PROTO_OK)
		*f = (int)x;
	return rc;
}

static int set_dropped(struct proto_race *r, json_object *v)
{
	int64_t x = 0;

	if (v && proto_codec_int(v, "", 0, INT64_MAX, &x, NULL))
		return PROTO_EINVAL;
	r->events_dropped = (uint64_t)x;
	r->has = x ? r->has | PROTO_F_EVENTS_DROPPED :
		r->has & ~PROTO_F_EVENTS_DROPPED;
	return PROTO_OK;
}

/* The required fields: null is not a value they can take. */
static int set_required(struct proto_race *r, uint32_t field, json_object *v)
{
	const char *s = NULL;

	if (field == PROTO_F_STARTED_AT)
		return proto_codec_time(v, "", &r->started_at, NULL);
	if (proto_codec_string(v, "", PROTO_TITLE_MAX, &s, NULL))
		return PROTO_EINVAL;
	switch (field) {
	case PROTO_F_ID:
		return proto_id_valid(s) ? set_str(&r->id, s) : PROTO_EINVAL;
	case PROTO_F_SOURCE:
		return s[0] && strlen(s) <= PROTO_SOURCE_MAX ?
			set_str(&r->source, s) : PROTO_EINVAL;
	case PROTO_F_TITLE:
		return set_str(&r->title, s);
	default:
		return proto_state_parse(s, &r->state);
	}
}

int proto_codec_race_set(struct proto_race *r, uint32_t field, json_object *v)
{
	const char *s;
	double d;

	switch (field) {
	case PROTO_F_ID:
	case PROTO_F_SOURCE:
	case PROTO_F_TITLE:
	case PROTO_F_STATE:
	case PROTO_F_STARTED_AT:
		return v ? set_required(r, field, v) : PROTO_EINVAL;
	case PROTO_F_DEEPLINK:
		if (!v) {
			free(r->deeplink);
			r->deeplink = NULL;
			r->has &= ~field;
			return PROTO_OK;
		}
		if (proto_codec_string(v, "", PROTO_DEEPLINK_MAX, &s, NULL))
			return PROTO_EINVAL;
		r->has |= field;
		return set_str(&r->deeplink, s);
	case PROTO_F_COMPLETED_AT:
		return set_opt_i64(r, field, &r->completed_at, v, 0, 0, 1);
	case PROTO_F_LAST_PROGRESS_UPDATE:
		return set_opt_i64(r, field, &r->last_progress_update, v, 0, 0,
				   1);
	case PROTO_F_LAST_ETA_UPDATE:
		return set_opt_i64(r, field, &r->last_eta_update, v, 0, 0, 1);
	case PROTO_F_DURATION_SEC:
		return set_opt_i64(r, field, &r->duration_sec, v, 0,
				   INT64_MAX, 0);
	case PROTO_F_ETA_SEC:
		return set_opt_i64(r, field, &r->eta_sec, v, 0,
				   PROTO_ETA_MAX_SEC, 0);
	case PROTO_F_PREVIOUS_ETA_SEC:
		return set_opt_i64(r, field, &r->previous_eta_sec, v, 0,
				   PROTO_ETA_MAX_SEC, 0);
	case PROTO_F_PROGRESS:
		return set_opt_int(r, field, &r->progress, v, 0, 100);
	case PROTO_F_ETA_SOURCE:
		return set_opt_int(r, field, &r->eta_source, v,
				   PROTO_ETA_EXACT, PROTO_ETA_PROGRESS);
	case PROTO_F_UPDATE_INTERVAL_HINT:
		return set_opt_int(r, field, &r->update_interval_hint, v, 1,
				   PROTO_HINT_MAX_SEC);
	case PROTO_F_ETA_CONFIDENCE:
		if (v && proto_codec_double(v, "", 0.0, 1.0, &d, NULL))
			return PROTO_EINVAL;
		r->eta_confidence = v ? d : 0.0;
		r->has = v ? r->has | field : r->has & ~field;
		return PROTO_OK;
	case PROTO_F_METADATA:
		if (v)
			return set_metadata(r, v);
		clear_metadata(r);
		return PROTO_OK;
	case PROTO_F_ETA_REVISIONS:
		if (v)
			return set_revisions(r, v);
		memset(r->eta_revisions, 0, sizeof r->eta_revisions);
		r->n_eta_revisions = 0;
		r->has &= ~field;
		return PROTO_OK;
	case PROTO_F_EVENTS:
		if (v)
			return set_events(r, v);
		clear_events(r);
		return PROTO_OK;
	case PROTO_F_EVENTS_DROPPED:
		return set_dropped(r, v);
	case PROTO_F_OUTPUT:
		if (v)
			return set_output(r, v);
		clear_output(r);
		return PROTO_OK;
	case PROTO_F_OUTPUT_DROPPED:
		return set_output_dropped(r, v);
	default:
		return PROTO_EINVAL;
	}
}

/* The shared body of proto_json_race_from_object() and
 * proto_record_decode(): every known key, in API order. */
static int race_decode(json_object *obj, struct proto_race **out)
{
	static const uint32_t required = PROTO_F_ID | PROTO_F_SOURCE |
		PROTO_F_TITLE | PROTO_F_STATE | PROTO_F_STARTED_AT;
	struct proto_race *r = NULL;
	uint32_t seen = 0;
	int rc = PROTO_EINVAL;

	*out = NULL;
	if (!json_object_is_type(obj, json_type_object))
		goto fail;
	rc = PROTO_ENOMEM;
	r = calloc(1, sizeof *r);
	if (!r)
		goto fail;
	for (size_t i = 0; i < proto_codec_n_fields; i++) {
		json_object *v = NULL;

		/* Absent and null both leave an optional field unset. */
		if (!json_object_object_get_ex(obj, proto_codec_fields[i].name,
					       &v) || !v)
			continue;
		rc = proto_codec_race_set(r, proto_codec_fields[i].field, v);
		if (rc != PROTO_OK)
			goto fail;
		seen |= proto_codec_fields[i].field;
	}
	rc = PROTO_EINVAL;
	if ((seen & required) != required)
		goto fail;
	/* Records from before the hint existed get the source default, as
	 * a newly created race would. */
	if (!(r->has & PROTO_F_UPDATE_INTERVAL_HINT)) {
		r->update_interval_hint = proto_source_default_hint(r->source);
		r->has |= PROTO_F_UPDATE_INTERVAL_HINT;
	}
	*out = r;
	return PROTO_OK;
fail:
	proto_race_free(r);
	return rc;
}

int proto_json_race_from_object(json_object *obj, struct proto_race **out)
{
	return race_decode(obj, out);
}

int proto_record_encode(const struct proto_race *r, char **out, size_t *len)
{
	struct proto_buf b;
	int rc;

	/* The direct writer: the bytes proto_record_encode_json() gives,
	 * without building and freeing a json-c tree per write. */
	proto_buf_init(&b, 0);
	rc = proto_record_write(&b, r);
	*out = rc == PROTO_OK ? proto_buf_steal(&b, len) : NULL;
	if (!*out) {
		proto_buf_fini(&b);
		*len = 0;
		return PROTO_ENOMEM;
	}
	return PROTO_OK;
}

int proto_record_encode_json(const struct proto_race *r, char **out,
			     size_t *len)
{
	json_object *o = proto_json_race(r);
	const char *s;
	size_t n;
	int rc = PROTO_ENOMEM;

	*out = NULL;
	*len = 0;
	if (!o)
		goto done;
	if (json_object_object_add(o, "v",
				   json_object_new_int(PROTO_RECORD_VERSION)))
		goto done;
	if (r->hint_explicit &&
	    json_object_object_add(o, "hint_explicit",
				   json_object_new_boolean(1)))
		goto done;
	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &n);
	if (!s)
		goto done;
	*out = malloc(n + 1);
	if (!*out)
		goto done;
	memcpy(*out, s, n + 1);
	*len = n;
	rc = PROTO_OK;
done:
	json_object_put(o);
	return rc;
}

int proto_record_decode(const char *buf, size_t len, struct proto_race **out)
{
	int rc = proto_record_decode_direct(buf, len, out);

	return rc == PROTO_RECORD_DECLINED ?
		proto_record_decode_json(buf, len, out) : rc;
}

int proto_record_decode_json(const char *buf, size_t len,
			     struct proto_race **out)
{
	json_object *o, *v = NULL;
	int64_t version = 1;
	int rc = PROTO_EINVAL;

	*out = NULL;
	/* Records nest event data deeper than the request that carried it
	 * did, so they get the extra depth a request does not. */
	o = proto_codec_parse(buf, len,
			      PROTO_JSON_MAX_DEPTH + PROTO_CODEC_WRAP_DEPTH, NULL);
	if (!json_object_is_type(o, json_type_object))
		goto done;
	/* Absent "v" is a record from before versioning: version 1. A
	 * newer record may mean something this code cannot know. */
	if (json_object_object_get_ex(o, "v", &v) &&
	    proto_codec_int(v, "v", 1, PROTO_RECORD_VERSION, &version,
			    NULL))
		goto done;
	v = NULL;
	if (json_object_object_get_ex(o, "hint_explicit", &v) && v &&
	    !json_object_is_type(v, json_type_boolean))
		goto done;
	rc = race_decode(o, out);
	if (rc == PROTO_OK)
		(*out)->hint_explicit = v && json_object_get_boolean(v);
done:
	json_object_put(o);
	return rc;
}
