/*
 * encode.h - direct JSON writers for races and deltas (the one for stored
 * records, proto_record_write(), is declared in record.h).
 *
 * They write straight into a proto_buf, with no json-c tree, and produce
 * exactly the bytes the json-c encoders give:
 *   proto_race_write   == proto_json_race() printed with
 *                         JSON_C_TO_STRING_PLAIN |
 *                         JSON_C_TO_STRING_NOSLASHESCAPE (how server/
 *                         prints every reply and frame),
 *   proto_record_write == proto_record_encode() (PLAIN only: '/' is
 *                         written "\/" in records, as it always was),
 *   proto_delta_write  == proto_delta_new() printed like a race.
 * tests/test_proto_encode.c holds them to that byte for byte. Pure: no
 * I/O, no clock; never includes the WebSocket library or LMDB.
 *
 * Every writer appends to what `b` already holds. On failure it returns a
 * negative proto_err and the text of `b` is exactly as before (its
 * capacity may have grown). Nothing here keeps a pointer to its inputs.
 */
#ifndef RACEBOARD_PROTOCOL_ENCODE_H
#define RACEBOARD_PROTOCOL_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "delta.h"
#include "race.h"

/*
 * One more member for the object a writer emits, after all of its own:
 * what json_object_object_add() on the json-c object would have added
 * (server/ adds "progress_prediction"). `key` is escaped like any key;
 * `json` (`len` bytes) must already be JSON text and is copied verbatim.
 * Both are borrowed.
 */
struct proto_json_extra {
	const char *key;
	const char *json;
	size_t len;
};

/*
 * Appends the race `r` (borrowed, a valid race) as the API shows it: the
 * bytes of proto_json_race(r) printed with PLAIN | NOSLASHESCAPE.
 * Returns PROTO_OK, PROTO_ENOMEM, or PROTO_ELIMIT when b->max is reached;
 * on failure the text of `b` is unchanged.
 */
int proto_race_write(struct proto_buf *b, const struct proto_race *r);

/* proto_race_write() with `extra` (may be NULL) as the race object's last
 * member, as server/ adds the progress prediction. */
int proto_race_write_ex(struct proto_buf *b, const struct proto_race *r,
			const struct proto_json_extra *extra);

/*
 * Appends a delta frame: the bytes of proto_delta_new(seq, server_time,
 * op, id, race, changed) printed with PLAIN | NOSLASHESCAPE. The
 * arguments mean what they mean there (`id` and `race` borrowed; `id`
 * NULL means race->id). Returns PROTO_EINVAL (nothing written) where
 * proto_delta_new() returns NULL for bad arguments: an unknown op, no id
 * and no race, or no race for create/update. Otherwise the contract of
 * proto_race_write().
 */
int proto_delta_write(struct proto_buf *b, uint64_t seq, int64_t server_time,
		      enum proto_delta_op op, const char *id,
		      const struct proto_race *race, uint32_t changed);

/* proto_delta_write() with `extra` (may be NULL) as the last member of
 * an update's "changes". Giving one to a create or delete is
 * PROTO_EINVAL. */
int proto_delta_write_ex(struct proto_buf *b, uint64_t seq,
			 int64_t server_time, enum proto_delta_op op,
			 const char *id, const struct proto_race *race,
			 uint32_t changed, const struct proto_json_extra *extra);

#endif
