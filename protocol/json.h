/*
 * json.h - JSON codec for races, requests and stored records (json-c).
 *
 * Decoders validate at the edge: a bounded parser (depth and size), exact
 * JSON types, ranges and limits, and an error that names the field at
 * fault. They never half-fill their output: on failure the output is
 * zeroed and owns nothing. Pure: no I/O, no clock; never includes
 * libwebsockets or LMDB.
 */
#ifndef RACEBOARD_PROTOCOL_JSON_H
#define RACEBOARD_PROTOCOL_JSON_H

#include <json-c/json.h>
#include <stddef.h>

#include "race.h"

#define PROTO_JSON_MAX_DEPTH 32

/* Why a decode failed. `code` is a static string, one of:
 * "invalid_json", "invalid_type", "missing_field", "out_of_range",
 * "invalid_value", "too_long", "too_many" (with PROTO_EINVAL), or
 * "out_of_memory" (only with PROTO_ENOMEM). `field` is "" when no single
 * field is at fault, else e.g. "progress" or "metadata.branch". */
struct proto_json_error {
	const char *code;
	char field[PROTO_META_KEY_MAX + 16];
	char message[256];
};

/*
 * Parses a complete JSON text of `len` bytes (NUL bytes inside are an
 * error, as is trailing garbage, invalid UTF-8 or nesting deeper than
 * PROTO_JSON_MAX_DEPTH). Returns a new object owned by the caller
 * (json_object_put), or NULL with *err filled.
 */
json_object *proto_json_parse(const char *buf, size_t len,
			      struct proto_json_error *err);

enum proto_json_mode {
	PROTO_JSON_CREATE, /* POST /race: source and title are required */
	PROTO_JSON_PATCH,  /* PATCH: every field optional */
};

/*
 * Decodes a create or patch request body from a parsed object (borrowed).
 * Unknown keys and server-owned keys are ignored; null means unchanged
 * (except inside metadata, where null removes the key). On success
 * returns PROTO_OK and *out owns its strings (free with
 * proto_race_update_fini). On failure returns PROTO_EINVAL or
 * PROTO_ENOMEM, fills *err and leaves *out zeroed.
 */
int proto_json_update_from_object(json_object *obj, enum proto_json_mode mode,
				  struct proto_race_update *out,
				  struct proto_json_error *err);

/*
 * Decodes a create or patch request body of `len` bytes, with the
 * contract of proto_json_update_from_object(). A body in the plain form
 * producers send goes through the direct scanner (update_scan.c), the
 * rest (every invalid body included) through the json-c decoder, so the
 * result and any error are the json-c decoder's.
 */
int proto_json_decode_update(const char *buf, size_t len,
			     enum proto_json_mode mode,
			     struct proto_race_update *out,
			     struct proto_json_error *err);

/*
 * The two decoders behind proto_json_decode_update(), for tests and
 * fuzzing. proto_json_decode_update_json() is proto_json_parse()
 * followed by proto_json_update_from_object(): the reference.
 * proto_json_decode_update_direct() reads known keys (each once, null
 * meaning absent), strings in well-formed UTF-8 and canonical integers
 * in one pass and returns PROTO_OK, or PROTO_JSON_DECLINED (*out zeroed,
 * nothing owned) for anything else, every body the reference refuses
 * included (and when out of memory). Where it answers PROTO_OK, the
 * reference gives the same update.
 */
#define PROTO_JSON_DECLINED 1
int proto_json_decode_update_direct(const char *buf, size_t len,
				    enum proto_json_mode mode,
				    struct proto_race_update *out);
int proto_json_decode_update_json(const char *buf, size_t len,
				  enum proto_json_mode mode,
				  struct proto_race_update *out,
				  struct proto_json_error *err);

/*
 * Decodes an event: {"type": string, "data": any JSON, "timestamp"?}.
 * "event_type" is accepted as an alias of "type". Without a timestamp the
 * event gets `now`. Same ownership and failure contract as above
 * (free with proto_event_fini).
 */
int proto_json_event_from_object(json_object *obj, int64_t now,
				 struct proto_event *out,
				 struct proto_json_error *err);
int proto_json_decode_event(const char *buf, size_t len, int64_t now,
			    struct proto_event *out,
			    struct proto_json_error *err);

/*
 * The race as the API shows it (GET /race/{id}): unset fields absent,
 * timestamps RFC 3339 UTC with milliseconds. Returns a new object owned
 * by the caller, or NULL on allocation failure.
 */
json_object *proto_json_race(const struct proto_race *r);

/* One field's API value, as it appears in the race object (borrowed race;
 * new object owned by the caller). Returns NULL for an unset field, which
 * a delta encodes as JSON null ("removed"). `field` is one PROTO_F_* bit. */
json_object *proto_json_race_field(const struct proto_race *r, uint32_t field);

/* The JSON key of one PROTO_F_* bit, e.g. "last_eta_update"; NULL if none. */
const char *proto_json_field_name(uint32_t field);

/* The event object {"type","data","timestamp"} (new, caller owns). */
json_object *proto_json_event(const struct proto_event *ev);

/* Decodes a race object as the API shows it (all fields, server-owned
 * ones included): what a client rebuilds from a snapshot or a create
 * delta. Same contract as proto_record_decode. */
int proto_json_race_from_object(json_object *obj, struct proto_race **out);

#endif
