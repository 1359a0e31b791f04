/*
 * json_decode.c - decoders for what producers send: create/patch request
 * bodies and events.
 *
 * Each decoder checks exact JSON types, ranges and limits and reports the
 * first field at fault. On failure its output is zeroed and owns nothing.
 * Server-owned keys (completed_at, duration_sec, last_*_update, ...) are
 * never read from a request. Never does I/O, never reads the clock (an
 * event's default timestamp is the caller's `now`), never includes
 * libwebsockets or LMDB.
 */
#include "codec.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Returns the value of `key`, or NULL when the key is absent or null:
 * in a request both mean "unchanged". */
static json_object *get(json_object *obj, const char *key)
{
	json_object *v = NULL;

	json_object_object_get_ex(obj, key, &v);
	return v;
}

static int dup_into(const char *s, char **out, struct proto_json_error *err)
{
	*out = strdup(s);
	if (*out)
		return PROTO_OK;
	proto_codec_error(err, "out_of_memory", "", "Out of memory.");
	return PROTO_ENOMEM;
}

/* Reads an optional string field into *out (owned) and sets `bit`. */
static int opt_string(json_object *obj, const char *key, size_t max,
		      uint32_t bit, char **out, struct proto_race_update *u,
		      struct proto_json_error *err)
{
	json_object *v = get(obj, key);
	const char *s;
	int rc;

	if (!v)
		return PROTO_OK;
	rc = proto_codec_string(v, key, max, &s, err);
	if (rc == PROTO_OK)
		rc = dup_into(s, out, err);
	if (rc == PROTO_OK)
		u->set |= bit;
	return rc;
}

/* Reads an optional integer field (a fraction is refused) and sets
 * `bit`. */
static int opt_int(json_object *obj, const char *key, int64_t min,
		   int64_t max, uint32_t bit, int64_t *out,
		   struct proto_race_update *u, struct proto_json_error *err)
{
	json_object *v = get(obj, key);

	if (!v)
		return PROTO_OK;
	if (proto_codec_int(v, key, min, max, out, err))
		return PROTO_EINVAL;
	u->set |= bit;
	return PROTO_OK;
}

/* "" and absent both mean "the server picks the id". */
static int read_id(json_object *obj, struct proto_race_update *u,
		   struct proto_json_error *err)
{
	json_object *v = get(obj, "id");
	const char *s;
	int rc;

	if (!v)
		return PROTO_OK;
	rc = proto_codec_string(v, "id", PROTO_ID_MAX, &s, err);
	if (rc != PROTO_OK || !s[0])
		return rc;
	if (!proto_id_valid(s)) {
		proto_codec_error(err, "invalid_value", "id",
				  "id may only contain letters, digits and . _ : -");
		return PROTO_EINVAL;
	}
	if (!proto_id_creatable(s)) {
		proto_codec_error(err, "invalid_value", "id",
				  "id must not be \".\" or \"..\": a URL path "
				  "cannot name them");
		return PROTO_EINVAL;
	}
	rc = dup_into(s, &u->id, err);
	if (rc == PROTO_OK)
		u->set |= PROTO_F_ID;
	return rc;
}

/* source and title: required on create, never empty for source. */
static int read_names(json_object *obj, enum proto_json_mode mode,
		      struct proto_race_update *u,
		      struct proto_json_error *err)
{
	int rc;

	if (mode == PROTO_JSON_CREATE && !get(obj, "source")) {
		proto_codec_error(err, "missing_field", "source",
				  "source is required.");
		return PROTO_EINVAL;
	}
	rc = opt_string(obj, "source", PROTO_SOURCE_MAX, PROTO_F_SOURCE,
			&u->source, u, err);
	if (rc != PROTO_OK)
		return rc;
	/* The source picks the default hint and ETA provenance; an empty
	 * one would be a producer bug, not a name. */
	if (u->source && !u->source[0]) {
		proto_codec_error(err, "invalid_value", "source",
				  "source must not be empty.");
		return PROTO_EINVAL;
	}
	if (mode == PROTO_JSON_CREATE && !get(obj, "title")) {
		proto_codec_error(err, "missing_field", "title",
				  "title is required.");
		return PROTO_EINVAL;
	}
	return opt_string(obj, "title", PROTO_TITLE_MAX, PROTO_F_TITLE,
			  &u->title, u, err);
}

static int read_state_and_start(json_object *obj, struct proto_race_update *u,
				struct proto_json_error *err)
{
	json_object *v = get(obj, "state");
	const char *s;

	if (v) {
		if (!json_object_is_type(v, json_type_string)) {
			proto_codec_error(err, "invalid_type", "state",
					  "state must be a string.");
			return PROTO_EINVAL;
		}
		s = json_object_get_string(v);
		/* The length check catches "running\u0000...". */
		if ((size_t)json_object_get_string_len(v) != strlen(s) ||
		    proto_state_parse(s, &u->state) != PROTO_OK) {
			proto_codec_error(err, "invalid_value", "state",
					  "state must be one of queued, running, passed, failed, canceled.");
			return PROTO_EINVAL;
		}
		u->set |= PROTO_F_STATE;
	}
	v = get(obj, "started_at");
	if (v) {
		if (proto_codec_time(v, "started_at", &u->started_at, err))
			return PROTO_EINVAL;
		u->set |= PROTO_F_STARTED_AT;
	}
	return PROTO_OK;
}

/* Metadata: an object of strings, where null removes a key. */
static int read_metadata(json_object *obj, struct proto_race_update *u,
			 struct proto_json_error *err)
{
	json_object *m = get(obj, "metadata");
	char field[sizeof err->field];
	size_t n = 0;

	if (!m)
		return PROTO_OK;
	if (!json_object_is_type(m, json_type_object)) {
		proto_codec_error(err, "invalid_type", "metadata",
				  "metadata must be an object.");
		return PROTO_EINVAL;
	}
	if (json_object_object_length(m) > PROTO_META_KEYS_MAX) {
		proto_codec_error(err, "too_many", "metadata",
				  "metadata may hold at most %d keys.",
				  PROTO_META_KEYS_MAX);
		return PROTO_EINVAL;
	}
	u->metadata = calloc((size_t)json_object_object_length(m) + 1,
			     sizeof *u->metadata);
	if (!u->metadata) {
		proto_codec_error(err, "out_of_memory", "", "Out of memory.");
		return PROTO_ENOMEM;
	}
	json_object_object_foreach(m, key, val) {
		const char *s;

		if (strlen(key) > PROTO_META_KEY_MAX) {
			proto_codec_error(err, "too_long", "metadata",
					  "metadata keys must be at most %d bytes long.",
					  PROTO_META_KEY_MAX);
			return PROTO_EINVAL;
		}
		snprintf(field, sizeof field, "metadata.%s", key);
		if (val && proto_codec_string(val, field, PROTO_META_VALUE_MAX,
					      &s, err) != PROTO_OK)
			return PROTO_EINVAL;
		u->metadata[n].key = strdup(key);
		u->metadata[n].value = val ? strdup(s) : NULL;
		u->n_metadata = ++n;
		if (!u->metadata[n - 1].key || (val && !u->metadata[n - 1].value)) {
			proto_codec_error(err, "out_of_memory", "",
					  "Out of memory.");
			return PROTO_ENOMEM;
		}
	}
	u->set |= PROTO_F_METADATA;
	return PROTO_OK;
}

/* Output lines to append: an array of strings without line ends. */
static int read_output(json_object *obj, struct proto_race_update *u,
		       struct proto_json_error *err)
{
	json_object *a = get(obj, "output");
	size_t n;

	if (!a)
		return PROTO_OK;
	if (!json_object_is_type(a, json_type_array)) {
		proto_codec_error(err, "invalid_type", "output",
				  "output must be an array of strings "
				  "(lines to append).");
		return PROTO_EINVAL;
	}
	n = json_object_array_length(a);
	if (n > PROTO_OUTPUT_WRITE_MAX) {
		proto_codec_error(err, "too_many", "output",
				  "output may carry at most %d lines per "
				  "write.", PROTO_OUTPUT_WRITE_MAX);
		return PROTO_EINVAL;
	}
	u->output = calloc(n + 1, sizeof *u->output);
	if (!u->output) {
		proto_codec_error(err, "out_of_memory", "", "Out of memory.");
		return PROTO_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(a, i);
		const char *s;

		if (!json_object_is_type(v, json_type_string)) {
			proto_codec_error(err, "invalid_type", "output",
					  "output[%zu] must be a string.", i);
			return PROTO_EINVAL;
		}
		if (proto_codec_string(v, "output", SIZE_MAX, &s, err))
			return PROTO_EINVAL;
		if (strchr(s, '\n')) {
			proto_codec_error(err, "invalid_value", "output",
					  "output[%zu] holds a line end: send "
					  "one line per element.", i);
			return PROTO_EINVAL;
		}
		u->output[i] = strdup(s);
		u->n_output = i + 1;
		if (!u->output[i]) {
			proto_codec_error(err, "out_of_memory", "",
					  "Out of memory.");
			return PROTO_ENOMEM;
		}
	}
	u->set |= PROTO_F_OUTPUT;
	return PROTO_OK;
}

static int read_eta_fields(json_object *obj, struct proto_race_update *u,
			   struct proto_json_error *err)
{
	json_object *v;
	int64_t x;

	if (opt_int(obj, "eta_sec", 0, PROTO_ETA_MAX_SEC, PROTO_F_ETA_SEC,
		    &u->eta_sec, u, err) ||
	    opt_int(obj, "eta_source", PROTO_ETA_EXACT, PROTO_ETA_DEFAULT,
		    PROTO_F_ETA_SOURCE, &x, u, err))
		return PROTO_EINVAL;
	if (u->set & PROTO_F_ETA_SOURCE)
		u->eta_source = (int)x;
	v = get(obj, "eta_confidence");
	if (v) {
		if (proto_codec_double(v, "eta_confidence", 0.0, 1.0,
				       &u->eta_confidence, err))
			return PROTO_EINVAL;
		u->set |= PROTO_F_ETA_CONFIDENCE;
	}
	return PROTO_OK;
}

static int read_numbers(json_object *obj, struct proto_race_update *u,
			struct proto_json_error *err)
{
	int64_t x;

	if (opt_int(obj, "progress", 0, 100, PROTO_F_PROGRESS, &x, u, err))
		return PROTO_EINVAL;
	if (u->set & PROTO_F_PROGRESS)
		u->progress = (int)x;
	if (opt_int(obj, "update_interval_hint", 1, PROTO_HINT_MAX_SEC,
		    PROTO_F_UPDATE_INTERVAL_HINT, &x, u, err))
		return PROTO_EINVAL;
	if (u->set & PROTO_F_UPDATE_INTERVAL_HINT)
		u->update_interval_hint = (int)x;
	return read_eta_fields(obj, u, err);
}

int proto_json_update_from_object(json_object *obj, enum proto_json_mode mode,
				  struct proto_race_update *out,
				  struct proto_json_error *err)
{
	int rc;

	memset(out, 0, sizeof *out);
	if (!json_object_is_type(obj, json_type_object)) {
		proto_codec_error(err, "invalid_type", "",
				  "The body must be a JSON object.");
		return PROTO_EINVAL;
	}
	/* Fields are checked in a fixed order so that the error reported
	 * for a body with several faults does not depend on key order. */
	rc = read_id(obj, out, err);
	if (rc == PROTO_OK)
		rc = read_names(obj, mode, out, err);
	if (rc == PROTO_OK)
		rc = read_state_and_start(obj, out, err);
	if (rc == PROTO_OK)
		rc = read_numbers(obj, out, err);
	if (rc == PROTO_OK)
		rc = opt_string(obj, "deeplink", PROTO_DEEPLINK_MAX,
				PROTO_F_DEEPLINK, &out->deeplink, out, err);
	if (rc == PROTO_OK)
		rc = read_metadata(obj, out, err);
	if (rc == PROTO_OK)
		rc = read_output(obj, out, err);
	if (rc != PROTO_OK)
		proto_race_update_fini(out);
	return rc;
}

int proto_json_decode_update_json(const char *buf, size_t len,
				  enum proto_json_mode mode,
				  struct proto_race_update *out,
				  struct proto_json_error *err)
{
	json_object *obj = proto_json_parse(buf, len, err);
	int rc;

	if (!obj) {
		memset(out, 0, sizeof *out);
		return PROTO_EINVAL;
	}
	rc = proto_json_update_from_object(obj, mode, out, err);
	json_object_put(obj);
	return rc;
}

/* The event decoder behind both the request and the stored forms; a
 * stored event must carry its timestamp, a request's defaults to now. */
static int event_decode(json_object *obj, int need_ts, int64_t now,
			struct proto_event *out, struct proto_json_error *err)
{
	json_object *type, *data, *ts;
	const char *s;
	size_t n;
	int rc = PROTO_EINVAL;

	memset(out, 0, sizeof *out);
	out->timestamp = now;
	if (!json_object_is_type(obj, json_type_object)) {
		proto_codec_error(err, "invalid_type", "",
				  "An event must be a JSON object.");
		return PROTO_EINVAL;
	}
	type = get(obj, "type");
	if (!type)
		type = get(obj, "event_type");
	data = get(obj, "data");
	ts = get(obj, "timestamp");
	if (!type) {
		proto_codec_error(err, "missing_field", "type",
				  "type is required.");
		goto fail;
	}
	if (proto_codec_string(type, "type", PROTO_EVENT_TYPE_MAX, &s, err))
		goto fail;
	if (!s[0]) {
		proto_codec_error(err, "invalid_value", "type",
				  "type must not be empty.");
		goto fail;
	}
	if (need_ts && !ts) {
		proto_codec_error(err, "missing_field", "timestamp",
				  "timestamp is required.");
		goto fail;
	}
	if (ts && proto_codec_time(ts, "timestamp", &out->timestamp, err))
		goto fail;
	rc = PROTO_ENOMEM;
	out->type = strdup(s);
	if (!out->type)
		goto nomem;
	if (data) {
		/* Stored as compact text: it is opaque to the server and
		 * is re-parsed only when a race is shown. */
		s = json_object_to_json_string_length(
			data, JSON_C_TO_STRING_PLAIN, &n);
		if (!s)
			goto nomem;
		if (n > PROTO_EVENT_DATA_MAX) {
			proto_codec_error(err, "too_long", "data",
					  "data must be at most %d bytes of JSON.",
					  PROTO_EVENT_DATA_MAX);
			rc = PROTO_EINVAL;
			goto fail;
		}
		out->data_json = strdup(s);
		if (!out->data_json)
			goto nomem;
	}
	return PROTO_OK;
nomem:
	proto_codec_error(err, "out_of_memory", "", "Out of memory.");
fail:
	proto_event_fini(out);
	return rc;
}

int proto_json_event_from_object(json_object *obj, int64_t now,
				 struct proto_event *out,
				 struct proto_json_error *err)
{
	return event_decode(obj, 0, now, out, err);
}

int proto_codec_stored_event(json_object *v, struct proto_event *out)
{
	return event_decode(v, 1, 0, out, NULL);
}

int proto_json_decode_event(const char *buf, size_t len, int64_t now,
			    struct proto_event *out,
			    struct proto_json_error *err)
{
	json_object *obj = proto_json_parse(buf, len, err);
	int rc;

	if (!obj) {
		memset(out, 0, sizeof *out);
		return PROTO_EINVAL;
	}
	rc = proto_json_event_from_object(obj, now, out, err);
	json_object_put(obj);
	return rc;
}
