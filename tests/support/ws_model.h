/*
 * ws_model.h - the races as a WebSocket subscriber sees them, for the
 * integration tests: a snapshot, then every delta applied with the
 * protocol layer's own applier, checked for order and gaps; and the REST
 * reads it is compared with. Fails the running Criterion test on any
 * surprise (test programs only).
 */
#ifndef RACEBOARD_TESTS_WS_MODEL_H
#define RACEBOARD_TESTS_WS_MODEL_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "race.h"
#include "ws_client.h"

#define MODEL_MAX 512

struct model {
	struct proto_race *races[MODEL_MAX];
	size_t n;
	uint64_t seq;       /* last seq applied */
	int snapshots;
	int resets;
	int deltas;
};

/* Frees the races (the model can be reused). */
void model_clear(struct model *m);

/* Applies one server frame (snapshot, delta, batch; others are only
 * checked); returns its type. */
const char *model_frame(struct model *m, json_object *f);

/* Reads frames from `c` until `seq` is applied (10 s per frame). */
void model_sync(struct model *m, struct ws_client *c, uint64_t seq);

/* Every race of the model equals GET /race/{id} on `port` (minus the
 * read-time progress_prediction), and no race is missing. */
void model_assert_matches(struct model *m, int port);

/* One REST request on `port`; the reply parsed (caller puts). */
json_object *rest_json(int port, const char *method, const char *path,
		       const char *body, int *status);

/* GET /health's seq. */
uint64_t rest_seq_of(int port);

/* Reads one frame (10 s) and returns it parsed (caller puts). */
json_object *next_frame(struct ws_client *c);

/* A frame's "type". */
const char *type_of(json_object *f);

#endif
