/*
 * client_msg.c - decoding of WebSocket client messages and filter
 * matching. Producer writes reuse the REST decoders, so there is one set
 * of validation rules.
 */
#include "client_msg.h"

#include <stdlib.h>
#include <string.h>

#include "codec.h"

void proto_filter_fini(struct proto_filter *f)
{
	for (size_t i = 0; i < f->n_sources; i++)
		free(f->sources[i]);
	for (size_t i = 0; i < f->n_ids; i++)
		free(f->ids[i]);
	free(f->sources);
	free(f->ids);
	memset(f, 0, sizeof(*f));
}

void proto_client_msg_fini(struct proto_client_msg *m)
{
	if (!m)
		return;
	proto_filter_fini(&m->filter);
	proto_race_update_fini(&m->update);
	proto_event_fini(&m->event);
}

static int in_list(char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], s))
			return 1;
	return 0;
}

int proto_filter_match(const struct proto_filter *f, const char *id,
		       const char *source, enum proto_state state)
{
	if (f->has_sources && !in_list(f->sources, f->n_sources, source))
		return 0;
	if (f->has_states && !(f->states & (1u << state)))
		return 0;
	if (f->has_ids && !in_list(f->ids, f->n_ids, id))
		return 0;
	return 1;
}

int proto_filter_is_empty(const struct proto_filter *f)
{
	return !f->has_sources && !f->has_states && !f->has_ids;
}

/* Reads a list of strings ("filter.sources"...) into an owned array. */
static int string_list(json_object *arr, const char *field, size_t max_len,
		       char ***out, size_t *n, struct proto_json_error *err)
{
	size_t len;

	if (!json_object_is_type(arr, json_type_array)) {
		proto_codec_error(err, "invalid_type", field,
				  "%s must be an array of strings", field);
		return PROTO_EINVAL;
	}
	len = json_object_array_length(arr);
	if (len > PROTO_FILTER_ITEMS_MAX) {
		proto_codec_error(err, "too_many", field,
				  "%s may hold at most %d entries", field,
				  PROTO_FILTER_ITEMS_MAX);
		return PROTO_EINVAL;
	}
	*out = calloc(len ? len : 1, sizeof(char *));
	if (!*out)
		return PROTO_ENOMEM;
	for (size_t i = 0; i < len; i++) {
		const char *s;
		int rc = proto_codec_string(json_object_array_get_idx(arr, i),
					    field, max_len, &s, err);

		if (rc)
			return rc;
		(*out)[i] = strdup(s);
		if (!(*out)[i])
			return PROTO_ENOMEM;
		*n = i + 1;
	}
	return PROTO_OK;
}

static int decode_filter(json_object *f, struct proto_filter *out,
			 struct proto_json_error *err)
{
	json_object *v;
	int rc;

	if (!json_object_is_type(f, json_type_object)) {
		proto_codec_error(err, "invalid_type", "filter",
				  "filter must be an object");
		return PROTO_EINVAL;
	}
	if (json_object_object_get_ex(f, "sources", &v) && v) {
		out->has_sources = 1;
		rc = string_list(v, "filter.sources", PROTO_SOURCE_MAX,
				 &out->sources, &out->n_sources, err);
		if (rc)
			return rc;
	}
	if (json_object_object_get_ex(f, "ids", &v) && v) {
		out->has_ids = 1;
		rc = string_list(v, "filter.ids", PROTO_ID_MAX, &out->ids,
				 &out->n_ids, err);
		if (rc)
			return rc;
	}
	if (json_object_object_get_ex(f, "states", &v) && v) {
		char **names = NULL;
		size_t n = 0;

		out->has_states = 1;
		rc = string_list(v, "filter.states", 16, &names, &n, err);
		for (size_t i = 0; rc == PROTO_OK && i < n; i++) {
			enum proto_state s;

			if (proto_state_parse(names[i], &s)) {
				proto_codec_error(err, "invalid_value",
						  "filter.states",
						  "unknown state '%s'",
						  names[i]);
				rc = PROTO_EINVAL;
			} else {
				out->states |= 1u << s;
			}
		}
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		if (rc)
			return rc;
	}
	return PROTO_OK;
}

static int decode_id(json_object *o, char *id, struct proto_json_error *err)
{
	json_object *v;
	const char *s;
	int rc;

	if (!json_object_object_get_ex(o, "id", &v) || !v) {
		proto_codec_error(err, "missing_field", "id", "id is required");
		return PROTO_EINVAL;
	}
	rc = proto_codec_string(v, "id", PROTO_ID_MAX, &s, err);
	if (rc)
		return rc;
	if (!proto_id_valid(s)) {
		proto_codec_error(err, "invalid_value", "id",
				  "id may only hold letters, digits and . _ : -");
		return PROTO_EINVAL;
	}
	strcpy(id, s);
	return PROTO_OK;
}

/* The object under `key`, required. */
static json_object *member(json_object *o, const char *key,
			   struct proto_json_error *err)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v) {
		proto_codec_error(err, "missing_field", key, "%s is required",
				  key);
		return NULL;
	}
	return v;
}

static int decode_req(json_object *o, char *req, struct proto_json_error *err)
{
	json_object *v;
	const char *s;
	size_t n;

	if (!json_object_object_get_ex(o, "req", &v) || !v)
		return PROTO_OK;
	if (!json_object_is_type(v, json_type_string) &&
	    !json_object_is_type(v, json_type_int)) {
		proto_codec_error(err, "invalid_type", "req",
				  "req must be a string or an integer");
		return PROTO_EINVAL;
	}
	s = json_object_to_json_string_length(v, JSON_C_TO_STRING_PLAIN, &n);
	if (!s || n > PROTO_REQ_MAX) {
		proto_codec_error(err, "too_long", "req",
				  "req must be at most %d bytes",
				  PROTO_REQ_MAX);
		return PROTO_EINVAL;
	}
	memcpy(req, s, n + 1);
	return PROTO_OK;
}

static int decode_body(json_object *o, const char *type, int64_t now,
		       struct proto_client_msg *out,
		       struct proto_json_error *err)
{
	json_object *v;
	int rc;

	if (!strcmp(type, "subscribe")) {
		out->type = PROTO_MSG_SUBSCRIBE;
		if (json_object_object_get_ex(o, "since", &v) && v) {
			int64_t since;

			rc = proto_codec_int(v, "since", 0, INT64_MAX,
					     &since, err);
			if (rc)
				return rc;
			out->has_since = 1;
			out->since = (uint64_t)since;
		}
		if (json_object_object_get_ex(o, "filter", &v) && v)
			return decode_filter(v, &out->filter, err);
		return PROTO_OK;
	}
	if (!strcmp(type, "create")) {
		out->type = PROTO_MSG_CREATE;
		v = member(o, "race", err);
		return v ? proto_json_update_from_object(v, PROTO_JSON_CREATE,
							 &out->update, err)
			 : PROTO_EINVAL;
	}
	if (!strcmp(type, "patch")) {
		out->type = PROTO_MSG_PATCH;
		rc = decode_id(o, out->id, err);
		v = rc ? NULL : member(o, "changes", err);
		return v ? proto_json_update_from_object(v, PROTO_JSON_PATCH,
							 &out->update, err)
			 : PROTO_EINVAL;
	}
	if (!strcmp(type, "event")) {
		out->type = PROTO_MSG_EVENT;
		rc = decode_id(o, out->id, err);
		v = rc ? NULL : member(o, "event", err);
		return v ? proto_json_event_from_object(v, now, &out->event,
							err)
			 : PROTO_EINVAL;
	}
	if (!strcmp(type, "delete")) {
		out->type = PROTO_MSG_DELETE;
		return decode_id(o, out->id, err);
	}
	proto_codec_error(err, "invalid_value", "type",
			  "unknown message type '%.32s'", type);
	return PROTO_EINVAL;
}

int proto_client_msg_decode_json(const char *buf, size_t len, int64_t now,
				 struct proto_client_msg *out,
				 struct proto_json_error *err)
{
	json_object *o = proto_json_parse(buf, len, err), *v;
	const char *type;
	char req[PROTO_REQ_MAX + 1];
	int rc;

	memset(out, 0, sizeof(*out));
	if (!o)
		return PROTO_EINVAL;
	if (!json_object_is_type(o, json_type_object)) {
		proto_codec_error(err, "invalid_type", NULL,
				  "a message must be a JSON object");
		json_object_put(o);
		return PROTO_EINVAL;
	}
	rc = decode_req(o, out->req, err);
	if (rc == PROTO_OK) {
		if (!json_object_object_get_ex(o, "type", &v) || !v) {
			proto_codec_error(err, "missing_field", "type",
					  "type is required");
			rc = PROTO_EINVAL;
		} else {
			rc = proto_codec_string(v, "type", 32, &type, err);
			if (rc == PROTO_OK)
				rc = decode_body(o, type, now, out, err);
		}
	}
	json_object_put(o);
	if (rc) {
		memcpy(req, out->req, sizeof(req));
		proto_client_msg_fini(out);
		memset(out, 0, sizeof(*out));
		memcpy(out->req, req, sizeof(req));
	}
	return rc;
}

int proto_client_msg_decode(const char *buf, size_t len, int64_t now,
			    struct proto_client_msg *out,
			    struct proto_json_error *err)
{
	/* The producers' patches and creates in their usual form take the
	 * direct scanner (update_scan.c); everything else, every error
	 * included, goes through json-c, the reference. */
	if (proto_client_msg_decode_direct(buf, len, out) == PROTO_OK)
		return PROTO_OK;
	return proto_client_msg_decode_json(buf, len, now, out, err);
}
