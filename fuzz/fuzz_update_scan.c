/*
 * fuzz_update_scan.c - libFuzzer target for the direct decoders of
 * producer writes (protocol/update_scan.c) against the json-c decoders
 * they must agree with: a create or patch body in both modes, and a
 * WebSocket client message. Where the direct decoder accepts, the json-c
 * one must accept too with the same result; the decoders the server
 * calls must answer exactly as the json-c ones (result, or error code,
 * field and message). Anything else aborts, which libFuzzer reports as
 * a crash. Build and run with fuzz/run.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client_msg.h"
#include "json.h"
#include "race.h"
#include "../tests/support/update_same.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void update(const char *text, size_t size, enum proto_json_mode mode)
{
	struct proto_race_update d, r, s;
	struct proto_json_error re, se;
	int drc = proto_json_decode_update_direct(text, size, mode, &d);
	int rrc = proto_json_decode_update_json(text, size, mode, &r, &re);
	int src = proto_json_decode_update(text, size, mode, &s, &se);

	if (drc != PROTO_OK && drc != PROTO_JSON_DECLINED)
		abort();
	if (drc == PROTO_OK && (rrc != PROTO_OK || !same_update(&d, &r)))
		abort();
	if (src != rrc || !same_update(&s, &r) ||
	    (rrc != PROTO_OK && !same_error(&se, &re)))
		abort();
	proto_race_update_fini(&d);
	proto_race_update_fini(&r);
	proto_race_update_fini(&s);
}

static int same_msg(const struct proto_client_msg *a,
		    const struct proto_client_msg *b)
{
	return a->type == b->type && !strcmp(a->req, b->req) &&
	       !strcmp(a->id, b->id) && a->has_since == b->has_since &&
	       a->since == b->since && same_update(&a->update, &b->update) &&
	       proto_filter_is_empty(&a->filter) &&
	       proto_filter_is_empty(&b->filter) && !a->event.type &&
	       !b->event.type;
}

static void message(const char *text, size_t size)
{
	struct proto_client_msg d, r, s;
	struct proto_json_error re, se;
	int drc = proto_client_msg_decode_direct(text, size, &d);
	int rrc = proto_client_msg_decode_json(text, size, 1, &r, &re);
	int src = proto_client_msg_decode(text, size, 1, &s, &se);

	if (drc != PROTO_OK && drc != PROTO_JSON_DECLINED)
		abort();
	if (drc == PROTO_OK && (rrc != PROTO_OK || !same_msg(&d, &r)))
		abort();
	if (drc == PROTO_OK && (src != PROTO_OK || !same_msg(&s, &r)))
		abort();
	if (src != rrc || strcmp(s.req, r.req) != 0 ||
	    (rrc != PROTO_OK && !same_error(&se, &re)))
		abort();
	proto_client_msg_fini(&d);
	proto_client_msg_fini(&r);
	proto_client_msg_fini(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;

	update(text, size, PROTO_JSON_CREATE);
	update(text, size, PROTO_JSON_PATCH);
	message(text, size);
	return 0;
}
