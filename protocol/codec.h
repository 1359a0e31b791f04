/*
 * codec.h - internal helpers shared by the JSON codec files (json.c,
 * json_decode.c, json_encode.c, record.c, delta.c). Not part of the API:
 * only files in protocol/ include it, and it never includes libwebsockets
 * or LMDB.
 */
#ifndef RACEBOARD_PROTOCOL_CODEC_H
#define RACEBOARD_PROTOCOL_CODEC_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "race.h"

/*
 * Records and deltas nest a request's event "data" a few levels deeper
 * than the request did (race -> events -> event -> data), so their
 * decoders allow this much more depth than an edge request gets.
 */
#define PROTO_CODEC_WRAP_DEPTH 8

/* Fills *err (may be NULL) with a static code, a field name (copied,
 * truncated to fit) and a printf-style message. */
void proto_codec_error(struct proto_json_error *err, const char *code,
		       const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* 1 when buf holds well-formed UTF-8 (RFC 3629): no overlong forms, no
 * UTF-16 surrogates, nothing above U+10FFFF. */
int proto_codec_utf8_valid(const char *buf, size_t len);

/*
 * Checks that buf holds exactly one JSON text as RFC 8259 defines it
 * (surrounding whitespace allowed), in well-formed UTF-8, with no \u
 * escape of a lone surrogate and no \u0000 in an object's key: stricter
 * than json-c (json_strict.c says where). Returns PROTO_OK, PROTO_CODEC_STRICT_SYNTAX, or
 * PROTO_CODEC_STRICT_DEPTH for nesting deeper than 64 levels; *at (may
 * be NULL) gets the offset of the first byte at fault.
 */
#define PROTO_CODEC_STRICT_SYNTAX 1
#define PROTO_CODEC_STRICT_DEPTH 2
int proto_codec_strict(const char *buf, size_t len, size_t *at);

/* proto_json_parse() with an explicit depth limit. */
json_object *proto_codec_parse(const char *buf, size_t len, int depth,
			       struct proto_json_error *err);

/*
 * Reads an integer-valued number `v` (borrowed, non-NULL) in min..max.
 * A number without a fractional part is accepted however it is written
 * (50, 50.0, 5e1); one with a fractional part is refused as invalid_type,
 * never rounded. Returns PROTO_OK or PROTO_EINVAL with *err naming
 * `field`.
 */
int proto_codec_int(json_object *v, const char *field, int64_t min,
		    int64_t max, int64_t *out, struct proto_json_error *err);

/* Reads a finite number in min..max. Same contract as proto_codec_int(). */
int proto_codec_double(json_object *v, const char *field, double min,
		       double max, double *out, struct proto_json_error *err);

/* Reads a string of at most `max` bytes without NUL characters; *out is
 * borrowed from `v`. Same contract as proto_codec_int(). */
int proto_codec_string(json_object *v, const char *field, size_t max,
		       const char **out, struct proto_json_error *err);

/* Reads an RFC 3339 timestamp string. Same contract as proto_codec_int(). */
int proto_codec_time(json_object *v, const char *field, int64_t *out,
		     struct proto_json_error *err);

/* A JSON double (new, caller owns) that prints as the shortest decimal
 * that parses back to exactly `d`, or NULL on allocation failure. */
json_object *proto_codec_new_double(double d);

/* The text proto_codec_new_double() prints for `d` (json-c and the
 * direct writers share it): written to buf, NUL-terminated; returns its
 * length. */
#define PROTO_CODEC_DOUBLE_BUFSZ 40
size_t proto_codec_format_double(double d, char buf[PROTO_CODEC_DOUBLE_BUFSZ]);

/* A JSON string holding the RFC 3339 form of `ms` (new, caller owns). */
json_object *proto_codec_new_time(int64_t ms);

/* The race's top-level fields (one PROTO_F_* bit each) with their JSON
 * keys, in API order: the order of proto_json_race() keys, of a delta's
 * "changes" and of decoding. */
struct proto_codec_field {
	uint32_t field;
	const char *name;
};
extern const struct proto_codec_field proto_codec_fields[];
extern const size_t proto_codec_n_fields;

/* 1 when the race has a value for `field` (one PROTO_F_* bit): always
 * for the required fields, and for the optional ones when they are set
 * (a non-empty list, a non-zero events_dropped, a `has` bit). */
int proto_codec_field_is_set(const struct proto_race *r, uint32_t field);

/* How many of the output tail's newest lines the last apply appended
 * (race.h output_appended, never more than the tail holds). */
size_t proto_codec_output_appended(const struct proto_race *r);

/*
 * One field's API value (new object in *out, caller owns; *out NULL when
 * the field is unset). For PROTO_F_EVENTS this is the last event, for
 * PROTO_F_OUTPUT the lines the last apply appended. Returns
 * PROTO_OK or PROTO_ENOMEM.
 */
int proto_codec_race_field(const struct proto_race *r, uint32_t field,
			   json_object **out);

/*
 * Sets one field of `r` from its API value `v` (borrowed), or unsets it
 * when `v` is NULL (JSON null). Required fields cannot be unset. For
 * PROTO_F_EVENTS and PROTO_F_OUTPUT `v` is the whole array. On failure (PROTO_EINVAL,
 * PROTO_ENOMEM) the field may be left changed, so callers apply it to a
 * race they can throw away.
 */
int proto_codec_race_set(struct proto_race *r, uint32_t field, json_object *v);

/* Decodes a stored/API event object, whose timestamp is required. Same
 * contract as proto_json_event_from_object(). */
int proto_codec_stored_event(json_object *v, struct proto_event *out);

#endif
