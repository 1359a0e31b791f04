/*
 * record.h - the stored record of a race (proto_record_*): what LMDB
 * keeps per race, its version, and its encoders and decoders. Pure: no
 * I/O, no clock; never includes libwebsockets or LMDB.
 */
#ifndef RACEBOARD_PROTOCOL_RECORD_H
#define RACEBOARD_PROTOCOL_RECORD_H

#include <stddef.h>

#include "buf.h"
#include "race.h"

/*
 * Stored record format (version PROTO_RECORD_VERSION): the API object plus
 * "v" and the server-private fields (hint_explicit). A record of an older
 * version, or one that lacks the optional fields, decodes fine.
 * proto_record_encode returns PROTO_OK and a malloc'd buffer (*out, caller
 * frees) of *len bytes, or PROTO_ENOMEM.
 * proto_record_decode returns PROTO_OK and a new race in *out (caller
 * owns), or PROTO_EINVAL (corrupt or from a newer version) / PROTO_ENOMEM
 * with *out NULL.
 */
#define PROTO_RECORD_VERSION 1
int proto_record_encode(const struct proto_race *r, char **out, size_t *len);
int proto_record_decode(const char *buf, size_t len, struct proto_race **out);

/*
 * The two decoders behind proto_record_decode(), for tests and fuzzing.
 * proto_record_decode_direct() reads the shape proto_record_write()
 * produces in one pass, without json-c, and returns
 * PROTO_RECORD_DECLINED (nothing allocated) for anything else;
 * proto_record_decode_json() decodes any record through json-c and is
 * the reference: where the direct decoder answers PROTO_OK, both give
 * the same race.
 */
#define PROTO_RECORD_DECLINED 1
int proto_record_decode_direct(const char *buf, size_t len,
			       struct proto_race **out);
int proto_record_decode_json(const char *buf, size_t len,
			     struct proto_race **out);

/*
 * Appends the stored record of `r` (borrowed): the bytes
 * proto_record_encode() returns, written directly (encode_race.c).
 * Returns PROTO_OK, PROTO_ENOMEM, or PROTO_ELIMIT when b->max is
 * reached; on failure the text of `b` is unchanged.
 */
int proto_record_write(struct proto_buf *b, const struct proto_race *r);

/*
 * The json-c encoding of a stored record: proto_json_race() plus "v" and
 * "hint_explicit", printed with JSON_C_TO_STRING_PLAIN. This was
 * proto_record_encode() before it wrote records directly (encode.c); it
 * is kept, same contract, as the reference the direct writer is tested
 * against byte for byte.
 */
int proto_record_encode_json(const struct proto_race *r, char **out,
			     size_t *len);

#endif
