/*
 * fuzz_client_msg.c - libFuzzer target for the WebSocket client-message
 * decoder (proto_client_msg_decode), and the filter of a decoded
 * subscribe. Build and run with fuzz/run.sh.
 */
#include <stddef.h>
#include <stdint.h>

#include "client_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_client_msg m;
	struct proto_json_error err;

	if (proto_client_msg_decode((const char *)data, size, 1800000000000,
				    &m, &err) == PROTO_OK) {
		if (m.type == PROTO_MSG_SUBSCRIBE)
			proto_filter_match(&m.filter, "build-42", "ci",
					   PROTO_STATE_RUNNING);
		proto_client_msg_fini(&m);
	}
	return 0;
}
