/*
 * hooks_priv.h - what github.c and gitlab.c share (common.c): lenient
 * readers of payload fields and a builder for the race update. Not part
 * of the API; only files in hooks/ include it.
 */
#ifndef RACEBOARD_HOOKS_PRIV_H
#define RACEBOARD_HOOKS_PRIV_H

#include <json-c/json.h>
#include <stdint.h>

#include "hooks.h"

#define HOOK_META_MAX 16   /* metadata keys one delivery sets */

/* Follows a path of object keys ("workflow_job", "id", NULL-terminated
 * varargs); NULL when a key is missing or a step is not an object. */
json_object *hook_get(json_object *o, ...);

/* The string at o[key], or NULL when absent, null, empty or not a
 * string (borrowed from o). */
const char *hook_str(json_object *o, const char *key);

/* The integer at o[key] (an integral JSON number >= 0), or -1. */
int64_t hook_id(json_object *o, const char *key);

/* A payload timestamp: RFC 3339 (GitHub, GitLab's *_iso fields) or
 * GitLab's "2016-08-12 15:23:28 UTC" / "... +0200". -1 when absent or
 * unreadable. */
int64_t hook_time(json_object *o, const char *key);

/* The update being built for one race. */
struct hook_builder {
	struct hook_change *c;
	int failed;               /* an allocation failed */
};

/* Sets id (printf-style), source and state; the update owns copies. */
void hook_build_start(struct hook_builder *b, struct hook_change *c,
		      const char *source, enum proto_state state,
		      const char *id_fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* The title "<a> · <b>" (either may be NULL), cut to PROTO_TITLE_MAX
 * bytes on a UTF-8 boundary; "untitled" when both are NULL. */
void hook_build_title(struct hook_builder *b, const char *a, const char *b2);

/* A string field (deeplink); NULL values are skipped. */
void hook_build_deeplink(struct hook_builder *b, const char *url);

/* Adds metadata key = value (copied, cut to PROTO_META_VALUE_MAX); NULL
 * or empty values are skipped. */
void hook_build_meta(struct hook_builder *b, const char *key,
		     const char *value);
void hook_build_meta_int(struct hook_builder *b, const char *key, int64_t v);

/* The first 7 characters of a commit sha as metadata "sha". */
void hook_build_sha(struct hook_builder *b, const char *sha);

/* Times from the payload; -1 is skipped. */
void hook_build_started(struct hook_builder *b, int64_t ms);
void hook_build_completed(struct hook_builder *b, int64_t ms);

/* Progress 0..100. */
void hook_build_progress(struct hook_builder *b, int progress);

/* The event {"type": type, "data": {"name": name[, "number": n]}} at
 * `ms` (n < 0: no number). */
void hook_build_event(struct hook_builder *b, const char *type,
		      const char *name, int64_t number, int64_t ms);

/* Ends the build: PROTO_OK, or PROTO_ENOMEM with *c freed and *err set. */
int hook_build_end(struct hook_builder *b, struct proto_json_error *err);

/* Fills *err with code "invalid_value"/"missing_field" and a message
 * naming the field. Returns PROTO_EINVAL. */
int hook_fail(struct proto_json_error *err, const char *code,
	      const char *field, const char *message);

/* Parses the body as a JSON object (the edge parser's limits apply).
 * NULL with *err filled when it is not one. */
json_object *hook_parse(const char *body, size_t len,
			struct proto_json_error *err);

#endif
