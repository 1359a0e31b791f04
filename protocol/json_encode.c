/*
 * json_encode.c - the race as the API shows it, field by field.
 *
 * One table gives the key of every PROTO_F_* field and the order keys
 * appear in; proto_json_race(), delta "changes" and the record format all
 * follow it, so a race encodes to the same bytes whichever path built it.
 * Unset fields are absent, never null. Never does I/O, never reads the
 * clock, never includes libwebsockets or LMDB.
 */
#include "codec.h"

#include <string.h>

const struct proto_codec_field proto_codec_fields[] = {
	{PROTO_F_ID, "id"},
	{PROTO_F_SOURCE, "source"},
	{PROTO_F_TITLE, "title"},
	{PROTO_F_STATE, "state"},
	{PROTO_F_STARTED_AT, "started_at"},
	{PROTO_F_COMPLETED_AT, "completed_at"},
	{PROTO_F_DURATION_SEC, "duration_sec"},
	{PROTO_F_ETA_SEC, "eta_sec"},
	{PROTO_F_PROGRESS, "progress"},
	{PROTO_F_DEEPLINK, "deeplink"},
	{PROTO_F_METADATA, "metadata"},
	{PROTO_F_ETA_SOURCE, "eta_source"},
	{PROTO_F_ETA_CONFIDENCE, "eta_confidence"},
	{PROTO_F_UPDATE_INTERVAL_HINT, "update_interval_hint"},
	{PROTO_F_LAST_PROGRESS_UPDATE, "last_progress_update"},
	{PROTO_F_LAST_ETA_UPDATE, "last_eta_update"},
	{PROTO_F_PREVIOUS_ETA_SEC, "previous_eta_sec"},
	{PROTO_F_ETA_REVISIONS, "eta_revisions"},
	{PROTO_F_EVENTS, "events"},
	{PROTO_F_EVENTS_DROPPED, "events_dropped"},
	{PROTO_F_OUTPUT, "output"},
	{PROTO_F_OUTPUT_DROPPED, "output_dropped"},
};
const size_t proto_codec_n_fields =
	sizeof proto_codec_fields / sizeof proto_codec_fields[0];

const char *proto_json_field_name(uint32_t field)
{
	for (size_t i = 0; i < proto_codec_n_fields; i++) {
		if (proto_codec_fields[i].field == field)
			return proto_codec_fields[i].name;
	}
	return NULL;
}

/* Adds `v` (taken) under `key`. A NULL `v` is a failed allocation, so
 * callers can pass a constructor's result straight in: PROTO_ENOMEM. */
static int put(json_object *obj, const char *key, json_object *v)
{
	if (!v)
		return PROTO_ENOMEM;
	if (json_object_object_add(obj, key, v) != 0) {
		json_object_put(v);
		return PROTO_ENOMEM;
	}
	return PROTO_OK;
}

json_object *proto_json_event(const struct proto_event *ev)
{
	json_object *o = json_object_new_object();
	json_object *data = NULL;

	if (!o)
		return NULL;
	if (put(o, "type", json_object_new_string(ev->type)))
		goto fail;
	if (ev->data_json) {
		/* data_json is compact JSON this layer wrote; re-parse it so
		 * the API shows the producer's value, not a string. */
		data = proto_codec_parse(ev->data_json, strlen(ev->data_json),
					 PROTO_JSON_MAX_DEPTH, NULL);
		if (put(o, "data", data))
			goto fail;
	}
	if (put(o, "timestamp", proto_codec_new_time(ev->timestamp)))
		goto fail;
	return o;
fail:
	json_object_put(o);
	return NULL;
}

static json_object *metadata_object(const struct proto_race *r)
{
	json_object *o = json_object_new_object();

	for (size_t i = 0; o && i < r->n_metadata; i++) {
		if (put(o, r->metadata[i].key,
			json_object_new_string(r->metadata[i].value))) {
			json_object_put(o);
			return NULL;
		}
	}
	return o;
}

static json_object *revision_object(const struct proto_eta_revision *rev)
{
	json_object *o = json_object_new_object();

	if (!o || put(o, "eta_sec", json_object_new_int64(rev->eta_sec)) ||
	    put(o, "timestamp", proto_codec_new_time(rev->timestamp)) ||
	    put(o, "source", json_object_new_int(rev->source)) ||
	    put(o, "confidence", proto_codec_new_double(rev->confidence))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static json_object *revisions_array(const struct proto_race *r)
{
	json_object *a = json_object_new_array_ext((int)r->n_eta_revisions);

	for (size_t i = 0; a && i < r->n_eta_revisions; i++) {
		json_object *rev = revision_object(&r->eta_revisions[i]);

		if (!rev || json_object_array_add(a, rev)) {
			json_object_put(rev);
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

static json_object *events_array(const struct proto_race *r)
{
	json_object *a = json_object_new_array_ext((int)r->n_events);

	for (size_t i = 0; a && i < r->n_events; i++) {
		json_object *ev = proto_json_event(&r->events[i]);

		if (!ev || json_object_array_add(a, ev)) {
			json_object_put(ev);
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

/* The newest `n` lines of the output tail as an array. */
static json_object *output_array(const struct proto_race *r, size_t n)
{
	json_object *a = json_object_new_array_ext((int)n);

	for (size_t i = r->n_output - n; a && i < r->n_output; i++) {
		json_object *line = json_object_new_string(r->output[i]);

		if (!line || json_object_array_add(a, line)) {
			json_object_put(line);
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

size_t proto_codec_output_appended(const struct proto_race *r)
{
	return r->output_appended < r->n_output ? r->output_appended :
		r->n_output;
}

int proto_codec_field_is_set(const struct proto_race *r, uint32_t field)
{
	switch (field) {
	case PROTO_F_ID:
	case PROTO_F_SOURCE:
	case PROTO_F_TITLE:
	case PROTO_F_STATE:
	case PROTO_F_STARTED_AT:
		return 1;
	case PROTO_F_METADATA:
		return r->n_metadata > 0;
	case PROTO_F_ETA_REVISIONS:
		return r->n_eta_revisions > 0;
	case PROTO_F_EVENTS:
		return r->n_events > 0;
	case PROTO_F_EVENTS_DROPPED:
		return r->events_dropped > 0;
	case PROTO_F_OUTPUT:
		return r->n_output > 0;
	case PROTO_F_OUTPUT_DROPPED:
		return r->output_dropped > 0;
	default:
		return (r->has & field) != 0;
	}
}

/* The value of a set field (new object), or NULL on allocation failure
 * or for a bit that names no field. */
static json_object *field_value(const struct proto_race *r, uint32_t field)
{
	switch (field) {
	case PROTO_F_ID:
		return json_object_new_string(r->id);
	case PROTO_F_SOURCE:
		return json_object_new_string(r->source);
	case PROTO_F_TITLE:
		return json_object_new_string(r->title);
	case PROTO_F_STATE:
		return json_object_new_string(proto_state_name(r->state));
	case PROTO_F_DEEPLINK:
		return json_object_new_string(r->deeplink);
	case PROTO_F_STARTED_AT:
		return proto_codec_new_time(r->started_at);
	case PROTO_F_COMPLETED_AT:
		return proto_codec_new_time(r->completed_at);
	case PROTO_F_LAST_PROGRESS_UPDATE:
		return proto_codec_new_time(r->last_progress_update);
	case PROTO_F_LAST_ETA_UPDATE:
		return proto_codec_new_time(r->last_eta_update);
	case PROTO_F_DURATION_SEC:
		return json_object_new_int64(r->duration_sec);
	case PROTO_F_ETA_SEC:
		return json_object_new_int64(r->eta_sec);
	case PROTO_F_PREVIOUS_ETA_SEC:
		return json_object_new_int64(r->previous_eta_sec);
	case PROTO_F_PROGRESS:
		return json_object_new_int(r->progress);
	case PROTO_F_ETA_SOURCE:
		return json_object_new_int(r->eta_source);
	case PROTO_F_UPDATE_INTERVAL_HINT:
		return json_object_new_int(r->update_interval_hint);
	case PROTO_F_ETA_CONFIDENCE:
		return proto_codec_new_double(r->eta_confidence);
	case PROTO_F_METADATA:
		return metadata_object(r);
	case PROTO_F_ETA_REVISIONS:
		return revisions_array(r);
	case PROTO_F_EVENTS:
		return proto_json_event(&r->events[r->n_events - 1]);
	case PROTO_F_EVENTS_DROPPED:
		return json_object_new_uint64(r->events_dropped);
	case PROTO_F_OUTPUT:
		return output_array(r, proto_codec_output_appended(r));
	case PROTO_F_OUTPUT_DROPPED:
		return json_object_new_uint64(r->output_dropped);
	default:
		return NULL;
	}
}

int proto_codec_race_field(const struct proto_race *r, uint32_t field,
			   json_object **out)
{
	*out = NULL;
	if (!proto_json_field_name(field))
		return PROTO_EINVAL;
	if (!proto_codec_field_is_set(r, field))
		return PROTO_OK;
	*out = field_value(r, field);
	return *out ? PROTO_OK : PROTO_ENOMEM;
}

json_object *proto_json_race_field(const struct proto_race *r, uint32_t field)
{
	json_object *v;

	proto_codec_race_field(r, field, &v);
	return v;
}

json_object *proto_json_race(const struct proto_race *r)
{
	json_object *o = json_object_new_object();

	for (size_t i = 0; o && i < proto_codec_n_fields; i++) {
		uint32_t f = proto_codec_fields[i].field;
		json_object *v;

		if (!proto_codec_field_is_set(r, f))
			continue;
		/* The race shows all of its events and its whole output
		 * tail; the EVENTS and OUTPUT field values (the last event,
		 * the lines just appended) are what a delta carries. */
		v = f == PROTO_F_EVENTS ? events_array(r) :
			f == PROTO_F_OUTPUT ? output_array(r, r->n_output) :
			field_value(r, f);
		if (put(o, proto_codec_fields[i].name, v)) {
			json_object_put(o);
			return NULL;
		}
	}
	return o;
}
