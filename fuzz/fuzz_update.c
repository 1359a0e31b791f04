/*
 * fuzz_update.c - libFuzzer target for the REST body decoders:
 * proto_json_decode_update (create and patch modes) and, when that
 * succeeds, proto_race_create/proto_race_apply on the result, plus the
 * event decoder. Any crash, leak or sanitizer report is a bug in
 * protocol/. Build and run with fuzz/run.sh.
 */
#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "race.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct proto_race_update u;
	struct proto_json_error err;
	struct proto_event ev;
	int64_t now = 1800000000000;

	if (proto_json_decode_update(buf, size, PROTO_JSON_CREATE, &u,
				     &err) == PROTO_OK) {
		int e = 0;
		struct proto_race *r = proto_race_create(&u, "fuzz-race", now,
							 &e);

		if (r) {
			uint32_t changed = 0;

			proto_race_apply(r, &u, now + 1000, &changed);
			proto_race_free(r);
		}
		proto_race_update_fini(&u);
	}
	if (proto_json_decode_update(buf, size, PROTO_JSON_PATCH, &u,
				     &err) == PROTO_OK)
		proto_race_update_fini(&u);
	if (proto_json_decode_event(buf, size, now, &ev, &err) == PROTO_OK)
		proto_event_fini(&ev);
	return 0;
}
