/*
 * fuzz_hooks.c - libFuzzer target for the webhook mapping (hooks/). The
 * first byte picks the provider and the event header, the rest is the
 * delivery's body. A signed delivery still carries text anyone can
 * choose (a fork's job or workflow name), so whatever the body: the
 * mapping answers without crashing or leaking, and a change it makes is
 * one the server can store and read back: a creatable id, a race that
 * can be created from it (or a metadata limit that refuses it), and a
 * record that decodes to the same race. Anything else aborts, which
 * libFuzzer reports as a crash. Build and run with fuzz/run.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hooks.h"
#include "race.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* NULL: no event header (the payload decides, or nothing maps). */
static const char *const github_events[] = {
	"workflow_job", "workflow_run", "ping", "push", NULL,
};
static const char *const gitlab_events[] = {
	"Job Hook", "Pipeline Hook", "Push Hook", NULL,
};
#define N_GITHUB (sizeof(github_events) / sizeof(github_events[0]))
#define N_GITLAB (sizeof(gitlab_events) / sizeof(gitlab_events[0]))

/* The race created from c survives a stored record's round trip. */
static void check_storable(struct hook_change *c)
{
	struct proto_race *r, *back = NULL;
	char *rec = NULL, *rec2 = NULL;
	size_t n, n2;
	int err = 0;

	if (!proto_id_creatable(c->update.id))
		abort();
	r = proto_race_create(&c->update, c->update.id, 1700000000000, &err);
	if (!r) {
		if (err != PROTO_ELIMIT && err != PROTO_ENOMEM)
			abort();
		return;
	}
	if (c->has_event && !c->event.type)
		abort();
	if (proto_record_encode(r, &rec, &n) != PROTO_OK ||
	    proto_record_decode_json(rec, n, &back) != PROTO_OK ||
	    proto_record_encode(back, &rec2, &n2) != PROTO_OK || n != n2 ||
	    memcmp(rec, rec2, n) != 0)
		abort();
	/* A redelivery of the same change, against the race it made. */
	hook_change_fit(c, r);
	free(rec);
	free(rec2);
	proto_race_free(back);
	proto_race_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hook_change c;
	struct proto_json_error err;
	const char *body = (const char *)data + 1;
	int rc;

	if (size < 1)
		return 0;
	if (data[0] % 2 == 0)
		rc = hook_github_map(github_events[data[0] / 2 % N_GITHUB], body,
				     size - 1, &c, &err);
	else
		rc = hook_gitlab_map(gitlab_events[data[0] / 2 % N_GITLAB], body,
				     size - 1, &c, &err);
	if (rc != PROTO_OK) {
		if (rc != PROTO_EINVAL && rc != PROTO_ENOMEM)
			abort();
		return 0;
	}
	if (c.outcome == HOOK_RACE)
		check_storable(&c);
	hook_change_fini(&c);
	return 0;
}
