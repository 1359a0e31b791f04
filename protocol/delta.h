/*
 * delta.h - delta frames: what changed in one accepted write.
 *
 * A delta is {"type":"delta","seq":N,"server_time":T,"op":OP,"id":ID,...}
 * with the whole race under "race" for op "create", only the changed
 * top-level fields under "changes" for op "update" (each with its full new
 * value; null when the field became unset), and nothing more for
 * "delete". An appended event is an update whose changes hold just
 * "event" (plus "events_dropped" when an old event was dropped): the
 * client appends it. A delta is encoded once per accepted write and its
 * bytes are shared by every subscriber. Pure: no I/O, no clock.
 */
#ifndef RACEBOARD_PROTOCOL_DELTA_H
#define RACEBOARD_PROTOCOL_DELTA_H

#include <json-c/json.h>
#include <stdint.h>

#include "race.h"

enum proto_delta_op {
	PROTO_DELTA_CREATE,
	PROTO_DELTA_UPDATE,
	PROTO_DELTA_DELETE,
};

/*
 * Builds a delta object (new, caller owns) or returns NULL on allocation
 * failure. `race` is the race after the change (borrowed; NULL for
 * delete, where `id` names the race). `changed` is the mask
 * proto_race_apply()/proto_race_add_event() reported (update only).
 */
json_object *proto_delta_new(uint64_t seq, int64_t server_time,
			     enum proto_delta_op op, const char *id,
			     const struct proto_race *race, uint32_t changed);

/*
 * Applies one delta object (borrowed) the way a client would, to
 * *race: create replaces it with the delta's race, update applies the
 * changes (appending an event), delete frees it and sets *race NULL.
 * Returns PROTO_OK, PROTO_EINVAL for a malformed delta or an update/delete
 * of a NULL race (nothing changed), or PROTO_ENOMEM. Used by the tests and
 * the fuzzers to prove "snapshot + deltas == GET /race/{id}".
 */
int proto_delta_apply(json_object *delta, struct proto_race **race);

#endif
