/*
 * client_msg.h - messages a WebSocket client sends (PROTOCOL.md):
 * subscribe, and the producer writes create, patch, event and delete.
 *
 * Decoding validates exactly as REST does (the same update and event
 * decoders), so both transports accept the same writes. Pure: no I/O, no
 * clock; never includes libwebsockets or LMDB.
 */
#ifndef RACEBOARD_PROTOCOL_CLIENT_MSG_H
#define RACEBOARD_PROTOCOL_CLIENT_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "race.h"

#define PROTO_REQ_MAX 64           /* bytes of a req as JSON text */
#define PROTO_FILTER_ITEMS_MAX 64  /* entries per filter list */

enum proto_msg_type {
	PROTO_MSG_SUBSCRIBE,
	PROTO_MSG_CREATE,
	PROTO_MSG_PATCH,
	PROTO_MSG_EVENT,
	PROTO_MSG_DELETE,
};

/* A subscription filter; each list applies only when present. */
struct proto_filter {
	char **sources;
	size_t n_sources;
	int has_sources;
	uint32_t states;       /* bit (1 << enum proto_state) per state */
	int has_states;
	char **ids;
	size_t n_ids;
	int has_ids;
};

struct proto_client_msg {
	enum proto_msg_type type;
	char req[PROTO_REQ_MAX + 1];  /* "req" re-encoded as JSON, "" if none */
	int has_since;
	uint64_t since;
	struct proto_filter filter;   /* subscribe */
	char id[PROTO_ID_MAX + 1];    /* patch, event, delete */
	struct proto_race_update update; /* create, patch */
	struct proto_event event;     /* event */
};

/*
 * Decodes one client message. On success returns PROTO_OK and *out owns
 * its contents (free with proto_client_msg_fini). On failure returns
 * PROTO_EINVAL or PROTO_ENOMEM with *err filled; out->req still holds the
 * message's req when one could be read (so the error reply can carry it)
 * and nothing else is owned.
 */
int proto_client_msg_decode(const char *buf, size_t len, int64_t now,
			    struct proto_client_msg *out,
			    struct proto_json_error *err);

/*
 * The two decoders behind proto_client_msg_decode(), for tests and
 * fuzzing. proto_client_msg_decode_direct() (update_scan.c) reads a
 * "patch" or "create" message in its plain form in one pass, without
 * json-c, and returns PROTO_JSON_DECLINED (*out zeroed, nothing owned)
 * for anything else, every invalid message included;
 * proto_client_msg_decode_json() is the json-c decoder and the
 * reference: where the direct one answers PROTO_OK, both give the same
 * message.
 */
int proto_client_msg_decode_direct(const char *buf, size_t len,
				   struct proto_client_msg *out);
int proto_client_msg_decode_json(const char *buf, size_t len, int64_t now,
				 struct proto_client_msg *out,
				 struct proto_json_error *err);

/* Frees what a decoded message owns. NULL is a no-op. */
void proto_client_msg_fini(struct proto_client_msg *m);

/* Frees a filter's lists and zeroes it. */
void proto_filter_fini(struct proto_filter *f);

/* 1 when a race with this id, source and state passes the filter. */
int proto_filter_match(const struct proto_filter *f, const char *id,
		       const char *source, enum proto_state state);

/* 1 when the filter has no lists at all (matches every race). */
int proto_filter_is_empty(const struct proto_filter *f);

#endif
