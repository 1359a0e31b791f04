/*
 * delta.c - building delta frames from a change mask, and applying them
 * the way a client does.
 *
 * Both directions walk the same field table as proto_json_race(), so
 * "snapshot + deltas == GET /race/{id}" holds by construction and is
 * checked by the randomized test in tests/test_proto_delta.c. Pure: the
 * sequence number and server time come in as arguments; never does I/O,
 * never reads the clock, never includes libwebsockets or LMDB.
 */
#include "delta.h"

#include <stdlib.h>
#include <string.h>

#include "codec.h"

/* A delta names an appended event "event" (the client appends it), not
 * "events" (which would replace the whole list). */
#define EVENT_KEY "event"

static const char *const op_names[] = {
	[PROTO_DELTA_CREATE] = "create",
	[PROTO_DELTA_UPDATE] = "update",
	[PROTO_DELTA_DELETE] = "delete",
};

/* Adds `v` (taken; NULL means allocation failure) under `key`. */
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

/* {field: value-or-null} for every bit of `changed`, in API order. */
static json_object *changes_object(const struct proto_race *r,
				   uint32_t changed)
{
	json_object *c = json_object_new_object();

	for (size_t i = 0; c && i < proto_codec_n_fields; i++) {
		uint32_t f = proto_codec_fields[i].field;
		const char *key = proto_codec_fields[i].name;
		json_object *v = NULL;

		if (!(changed & f) || f == PROTO_F_ID)
			continue;
		if (f == PROTO_F_EVENTS)
			key = EVENT_KEY;
		/* A NULL value is stored as JSON null: "now unset". */
		if (proto_codec_race_field(r, f, &v) != PROTO_OK ||
		    json_object_object_add(c, key, v) != 0) {
			json_object_put(v);
			json_object_put(c);
			return NULL;
		}
	}
	return c;
}

json_object *proto_delta_new(uint64_t seq, int64_t server_time,
			     enum proto_delta_op op, const char *id,
			     const struct proto_race *race, uint32_t changed)
{
	json_object *d;

	if ((unsigned)op > PROTO_DELTA_DELETE || (!id && !race) ||
	    (op != PROTO_DELTA_DELETE && !race))
		return NULL;
	if (!id)
		id = race->id;
	d = json_object_new_object();
	if (!d || put(d, "type", json_object_new_string("delta")) ||
	    put(d, "seq", json_object_new_uint64(seq)) ||
	    put(d, "server_time", proto_codec_new_time(server_time)) ||
	    put(d, "op", json_object_new_string(op_names[op])) ||
	    put(d, "id", json_object_new_string(id)))
		goto fail;
	if (op == PROTO_DELTA_CREATE && put(d, "race", proto_json_race(race)))
		goto fail;
	if (op == PROTO_DELTA_UPDATE &&
	    put(d, "changes", changes_object(race, changed)))
		goto fail;
	return d;
fail:
	json_object_put(d);
	return NULL;
}

/*
 * Appends a delta's "output" (the lines one write appended) the way a
 * client does: the new output_dropped (absent: unchanged) says how many
 * lines left the tail. They are the oldest ones, the race's own first,
 * so the race drops min(that, what it holds) and then appends; when the
 * write's own lines overflowed, every older line is gone and only the
 * lines the delta carries remain. The bounds are the server's business.
 */
static int append_output(struct proto_race *r, json_object *lines,
			 json_object *changes)
{
	json_object *d = NULL;
	struct proto_race tmp = {0};
	uint64_t gone = 0, drop;
	char **next;
	int rc;

	if (json_object_object_get_ex(changes, "output_dropped", &d) && d) {
		int64_t x;

		if (proto_codec_int(d, "", 0, INT64_MAX, &x, NULL) ||
		    (uint64_t)x < r->output_dropped)
			return PROTO_EINVAL;
		gone = (uint64_t)x - r->output_dropped;
	}
	/* Decode the lines with the tail's own rules. */
	rc = proto_codec_race_set(&tmp, PROTO_F_OUTPUT, lines);
	drop = gone < r->n_output ? gone : r->n_output;
	next = rc == PROTO_OK && tmp.n_output ?
		calloc(r->n_output - drop + tmp.n_output, sizeof *next) : NULL;
	if (!next) {
		for (size_t i = 0; i < tmp.n_output; i++)
			free(tmp.output[i]);
		free(tmp.output);
		return rc != PROTO_OK ? rc : tmp.n_output ? PROTO_ENOMEM :
			PROTO_EINVAL;
	}
	for (size_t i = 0; i < drop; i++)
		free(r->output[i]);
	if (r->n_output > drop) /* r->output is NULL while the tail is empty */
		memcpy(next, r->output + drop,
		       (r->n_output - drop) * sizeof *next);
	memcpy(next + r->n_output - drop, tmp.output,
	       tmp.n_output * sizeof *next);
	free(r->output);
	free(tmp.output);
	r->output = next;
	r->n_output = r->n_output - drop + tmp.n_output;
	r->output_appended = tmp.n_output;
	r->has |= PROTO_F_OUTPUT;
	return PROTO_OK;
}

/*
 * Applies "changes" to `r` (a copy the caller may throw away). The event
 * is appended before "events_dropped" is read: appending to a full list
 * drops the oldest event exactly as the server did, and the delta's
 * absolute events_dropped then overrides the count the append made up, so
 * the client ends at the server's value rather than one past it.
 */
static int apply_changes(struct proto_race *r, json_object *changes)
{
	if (!json_object_is_type(changes, json_type_object))
		return PROTO_EINVAL;
	for (size_t i = 0; i < proto_codec_n_fields; i++) {
		uint32_t f = proto_codec_fields[i].field;
		const char *key = f == PROTO_F_EVENTS ? EVENT_KEY :
			proto_codec_fields[i].name;
		json_object *v = NULL;
		struct proto_event ev;
		int rc;

		/* Unknown keys are ignored: a newer server may send fields
		 * this client does not know. */
		if (f == PROTO_F_ID ||
		    !json_object_object_get_ex(changes, key, &v))
			continue;
		if (f == PROTO_F_OUTPUT) {
			rc = v ? append_output(r, v, changes) : PROTO_EINVAL;
		} else if (f != PROTO_F_EVENTS) {
			rc = proto_codec_race_set(r, f, v);
		} else {
			rc = proto_codec_stored_event(v, &ev);
			if (rc == PROTO_OK) {
				rc = proto_race_add_event(r, &ev, NULL);
				proto_event_fini(&ev);
			}
		}
		if (rc != PROTO_OK)
			return rc;
	}
	return PROTO_OK;
}

static int op_parse(const char *s, enum proto_delta_op *op)
{
	for (size_t i = 0; s && i < sizeof op_names / sizeof op_names[0]; i++) {
		if (strcmp(s, op_names[i]) == 0) {
			*op = (enum proto_delta_op)i;
			return PROTO_OK;
		}
	}
	return PROTO_EINVAL;
}

int proto_delta_apply(json_object *delta, struct proto_race **race)
{
	json_object *type = NULL, *op = NULL, *id = NULL, *body = NULL;
	struct proto_race *next = NULL;
	enum proto_delta_op o;
	int rc;

	if (!json_object_is_type(delta, json_type_object) ||
	    !json_object_object_get_ex(delta, "type", &type) ||
	    !json_object_object_get_ex(delta, "op", &op) ||
	    !json_object_object_get_ex(delta, "id", &id) ||
	    !json_object_is_type(type, json_type_string) ||
	    strcmp(json_object_get_string(type), "delta") != 0 ||
	    !json_object_is_type(op, json_type_string) ||
	    !json_object_is_type(id, json_type_string) ||
	    op_parse(json_object_get_string(op), &o) != PROTO_OK)
		return PROTO_EINVAL;
	/* An update or delete for another race than the one held is a
	 * client bug; refuse it rather than corrupt the wrong race. */
	if (o != PROTO_DELTA_CREATE &&
	    (!*race || strcmp((*race)->id, json_object_get_string(id)) != 0))
		return PROTO_EINVAL;
	if (o == PROTO_DELTA_DELETE) {
		proto_race_free(*race);
		*race = NULL;
		return PROTO_OK;
	}
	if (o == PROTO_DELTA_CREATE) {
		if (!json_object_object_get_ex(delta, "race", &body))
			return PROTO_EINVAL;
		rc = proto_json_race_from_object(body, &next);
	} else {
		if (!json_object_object_get_ex(delta, "changes", &body))
			return PROTO_EINVAL;
		/* Apply to a copy and swap, so a bad field halfway through
		 * leaves the caller's race untouched. */
		next = proto_race_dup(*race);
		rc = next ? apply_changes(next, body) : PROTO_ENOMEM;
	}
	if (rc != PROTO_OK) {
		proto_race_free(next);
		return rc;
	}
	proto_race_free(*race);
	*race = next;
	return PROTO_OK;
}
