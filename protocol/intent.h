/*
 * intent.h - a write intent as the cluster's log carries it: the decoded
 * request (create, patch, event, delete, expiry), the origin's clock and
 * nothing that depends on the current state of a race. Every node decodes
 * the same bytes and applies them through the same write path, so the
 * state-dependent checks (404, invalid changes, the race limit) are made
 * at apply time, in log order, identically everywhere.
 *
 * The encoding is binary and versioned (first byte), little-endian, with
 * length-prefixed strings; it is read only by this file. Every field of
 * struct proto_race_update is carried: a field added there must be added
 * here too (test_proto_intent round-trips every field). Pure: libc only.
 */
#ifndef RACEBOARD_PROTOCOL_INTENT_H
#define RACEBOARD_PROTOCOL_INTENT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "race.h"

enum proto_intent_op {
	PROTO_INTENT_CREATE = 1, /* u; id is the race's (generated if absent) */
	PROTO_INTENT_PATCH = 2,  /* id, u */
	PROTO_INTENT_EVENT = 3,  /* id, ev */
	PROTO_INTENT_DELETE = 4, /* id */
	PROTO_INTENT_EXPIRE = 5, /* id, completed_at: delete it only if it is
				  * still finished at that time */
	PROTO_INTENT_CREATE_EVENT = 6, /* id, u, ev: a create (or upsert)
				  * and its event, applied together as one
				  * change (a webhook delivery) */
};

/*
 * One intent. For proto_intent_encode() every pointer is borrowed; after
 * proto_intent_decode() the intent owns its strings (proto_intent_fini).
 */
struct proto_intent {
	enum proto_intent_op op;
	int64_t now;                 /* the origin's clock, ms since epoch */
	char *id;                    /* NULL only for a create without id */
	struct proto_race_update u;  /* CREATE, PATCH, CREATE_EVENT */
	struct proto_event ev;       /* EVENT, CREATE_EVENT */
	int64_t completed_at;        /* EXPIRE */
};

/* Appends the encoding of `in` to b. Returns PROTO_OK, or PROTO_ENOMEM /
 * PROTO_ELIMIT with b's text unchanged in length meaningfully (the caller
 * discards b). */
int proto_intent_encode(const struct proto_intent *in, struct proto_buf *b);

/*
 * Decodes len bytes into *out. Returns PROTO_OK (out owns its strings),
 * PROTO_EINVAL for bytes that are not an intent of this version, or
 * PROTO_ENOMEM; on failure *out is zeroed and owns nothing.
 */
int proto_intent_decode(const void *buf, size_t len,
			struct proto_intent *out);

/* Frees what a decoded intent owns and zeroes it; NULL is a no-op. */
void proto_intent_fini(struct proto_intent *in);

#endif
