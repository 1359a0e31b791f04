/*
 * test_proto_intent.c - the codec of the cluster's write intents
 * (protocol/intent.h): every field survives a round trip, and bytes that
 * are not an intent are refused without leaking.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "intent.h"

static char *encode(const struct proto_intent *in, size_t *len)
{
	struct proto_buf b;
	char *p;

	proto_buf_init(&b, 0);
	cr_assert_eq(proto_intent_encode(in, &b), PROTO_OK);
	p = proto_buf_steal(&b, len);
	cr_assert_not_null(p);
	return p;
}

Test(intent, a_patch_keeps_every_field_of_the_update)
{
	struct proto_kv md[2] = {{"k", "v"}, {"gone", NULL}};
	char *lines[3] = {"one", "", "\x1b[31mtwo\x1b[0m\r"};
	struct proto_intent in = {
		.op = PROTO_INTENT_PATCH, .now = 1700000000123, .id = "r-1",
		.u = {.set = 0x3fffff, .id = "r-1", .source = "ci",
		      .title = "build \"x\"", .state = PROTO_STATE_FAILED,
		      .started_at = -5, .eta_sec = 3600, .progress = 77,
		      .deeplink = "https://x/y", .eta_source = 2,
		      .eta_confidence = 0.125, .update_interval_hint = 9,
		      .metadata = md, .n_metadata = 2,
		      .completed_at = 1700000000999,
		      .output = lines, .n_output = 3},
	};
	struct proto_intent out;
	size_t len;
	char *p = encode(&in, &len);

	cr_assert_eq(proto_intent_decode(p, len, &out), PROTO_OK);
	cr_assert_eq(out.op, PROTO_INTENT_PATCH);
	cr_assert_eq(out.now, in.now);
	cr_assert_str_eq(out.id, "r-1");
	cr_assert_eq(out.u.set, in.u.set);
	cr_assert_str_eq(out.u.id, "r-1");
	cr_assert_str_eq(out.u.source, "ci");
	cr_assert_str_eq(out.u.title, "build \"x\"");
	cr_assert_eq(out.u.state, PROTO_STATE_FAILED);
	cr_assert_eq(out.u.started_at, -5);
	cr_assert_eq(out.u.eta_sec, 3600);
	cr_assert_eq(out.u.progress, 77);
	cr_assert_str_eq(out.u.deeplink, "https://x/y");
	cr_assert_eq(out.u.eta_source, 2);
	cr_assert_eq(out.u.eta_confidence, 0.125);
	cr_assert_eq(out.u.update_interval_hint, 9);
	cr_assert_eq(out.u.completed_at, 1700000000999);
	cr_assert_eq(out.u.n_metadata, 2);
	cr_assert_str_eq(out.u.metadata[0].key, "k");
	cr_assert_str_eq(out.u.metadata[0].value, "v");
	cr_assert_str_eq(out.u.metadata[1].key, "gone");
	cr_assert_null(out.u.metadata[1].value, "null removes: kept as NULL");
	cr_assert_eq(out.u.n_output, 3);
	cr_assert_str_eq(out.u.output[0], "one");
	cr_assert_str_eq(out.u.output[1], "");
	cr_assert_str_eq(out.u.output[2], "\x1b[31mtwo\x1b[0m\r");
	proto_intent_fini(&out);
	free(p);
}

Test(intent, a_create_with_its_event_round_trips_as_one_intent)
{
	struct proto_intent in = {.op = PROTO_INTENT_CREATE_EVENT, .now = 7,
				  .id = "gh-1",
				  .ev = {"step", "{\"name\":\"build\"}", 43}};
	struct proto_intent out;
	size_t len;
	char *p;

	in.u.set = PROTO_F_ID | PROTO_F_SOURCE | PROTO_F_TITLE;
	in.u.id = "gh-1";
	in.u.source = "github";
	in.u.title = "CI #1";
	p = encode(&in, &len);
	cr_assert_eq(proto_intent_decode(p, len, &out), PROTO_OK);
	cr_assert_eq(out.op, PROTO_INTENT_CREATE_EVENT);
	cr_assert_eq(out.now, 7);
	cr_assert_str_eq(out.id, "gh-1");
	cr_assert_str_eq(out.u.title, "CI #1");
	cr_assert_str_eq(out.u.source, "github");
	cr_assert_str_eq(out.ev.type, "step");
	cr_assert_str_eq(out.ev.data_json, "{\"name\":\"build\"}");
	cr_assert_eq(out.ev.timestamp, 43);
	proto_intent_fini(&out);
	/* Cut anywhere, it is not an intent. */
	for (size_t k = 2; k < len; k++)
		cr_assert_eq(proto_intent_decode(p, k, &out), PROTO_EINVAL,
			     "cut at %zu", k);
	free(p);
}

Test(intent, events_deletes_and_expiries_round_trip)
{
	struct proto_intent ev = {.op = PROTO_INTENT_EVENT, .now = 1,
				  .id = "a", .ev = {"deploy", "{\"n\":1}", 42}};
	struct proto_intent del = {.op = PROTO_INTENT_DELETE, .now = 2,
				   .id = "a"};
	struct proto_intent exp = {.op = PROTO_INTENT_EXPIRE, .now = 3,
				   .id = "a", .completed_at = 99};
	struct proto_intent out;
	size_t len;
	char *p;

	p = encode(&ev, &len);
	cr_assert_eq(proto_intent_decode(p, len, &out), PROTO_OK);
	cr_assert_str_eq(out.ev.type, "deploy");
	cr_assert_str_eq(out.ev.data_json, "{\"n\":1}");
	cr_assert_eq(out.ev.timestamp, 42);
	proto_intent_fini(&out);
	free(p);

	p = encode(&del, &len);
	cr_assert_eq(proto_intent_decode(p, len, &out), PROTO_OK);
	cr_assert_eq(out.op, PROTO_INTENT_DELETE);
	cr_assert_eq(out.now, 2);
	proto_intent_fini(&out);
	free(p);

	p = encode(&exp, &len);
	cr_assert_eq(proto_intent_decode(p, len, &out), PROTO_OK);
	cr_assert_eq(out.op, PROTO_INTENT_EXPIRE);
	cr_assert_eq(out.completed_at, 99);
	proto_intent_fini(&out);
	free(p);
}

Test(intent, every_truncation_and_trailing_garbage_is_einval)
{
	struct proto_kv md[1] = {{"k", "v"}};
	char *lines[2] = {"a", "bc"};
	struct proto_intent in = {
		.op = PROTO_INTENT_CREATE, .now = 7, .id = "z",
		.u = {.set = 3, .id = "z", .source = "s", .title = "t",
		      .metadata = md, .n_metadata = 1,
		      .output = lines, .n_output = 2},
	};
	struct proto_intent out;
	size_t len;
	char *p = encode(&in, &len);
	char *longer = malloc(len + 1);

	for (size_t n = 0; n < len; n++)
		cr_assert_eq(proto_intent_decode(p, n, &out), PROTO_EINVAL,
			     "%zu of %zu bytes", n, len);
	memcpy(longer, p, len);
	longer[len] = 'x';
	cr_assert_eq(proto_intent_decode(longer, len + 1, &out),
		     PROTO_EINVAL);
	p[0] = 9; /* another version */
	cr_assert_eq(proto_intent_decode(p, len, &out), PROTO_EINVAL);
	p[0] = 2; /* this version (2: with output lines) */
	p[1] = 77; /* no such op */
	cr_assert_eq(proto_intent_decode(p, len, &out), PROTO_EINVAL);
	free(longer);
	free(p);
}
