/*
 * fuzz_delta_apply.c - libFuzzer target for the delta applier
 * (proto_delta_apply), the client-side half of "snapshot + deltas ==
 * GET". The input is parsed with the bounded protocol parser and applied
 * twice: to no race, and to a race built from the first delta that
 * creates one, so update and delete paths see real state.
 * Build and run with fuzz/run.sh.
 */
#include <stddef.h>
#include <stdint.h>

#include "delta.h"
#include "json.h"
#include "race.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_json_error err;
	json_object *o = proto_json_parse((const char *)data, size, &err);
	struct proto_race *race = NULL;

	if (!o)
		return 0;
	if (json_object_is_type(o, json_type_array)) {
		/* A sequence of deltas, applied in order. */
		for (size_t i = 0; i < json_object_array_length(o); i++)
			proto_delta_apply(json_object_array_get_idx(o, i),
					  &race);
	} else {
		proto_delta_apply(o, &race);
		proto_delta_apply(o, &race);
	}
	proto_race_free(race);
	json_object_put(o);
	return 0;
}
