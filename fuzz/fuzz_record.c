/*
 * fuzz_record.c - libFuzzer target for the stored-record decoders: the
 * direct one (record_scan.c) against the json-c one it must agree with.
 * Where the direct decoder accepts a record, the json-c decoder must
 * accept it too, and both races must write the same record bytes;
 * anything else aborts, which libFuzzer reports as a crash.
 * Build and run with fuzz/run.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "encode.h"
#include "json.h"
#include "race.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The record bytes of r, or NULL. */
static char *record_of(const struct proto_race *r, size_t *len)
{
	char *out = NULL;

	if (proto_record_encode(r, &out, len) != PROTO_OK)
		abort();
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct proto_race *direct = NULL, *ref = NULL;
	int rc = proto_record_decode_direct(text, size, &direct);
	char *a, *b;
	size_t an, bn;

	if (rc == PROTO_RECORD_DECLINED) {
		if (direct)
			abort();
		return 0;
	}
	if (rc != PROTO_OK || !direct ||
	    proto_record_decode_json(text, size, &ref) != PROTO_OK)
		abort();
	a = record_of(direct, &an);
	b = record_of(ref, &bn);
	if (an != bn || memcmp(a, b, an) != 0 || direct->has != ref->has ||
	    direct->hint_explicit != ref->hint_explicit)
		abort();
	free(a);
	free(b);
	proto_race_free(direct);
	proto_race_free(ref);
	return 0;
}
