/*
 * test_proto_regress.c - inputs that once got through protocol/'s
 * decoders, found by the abuse catalogue (tests/test_abuse.c) or the
 * fuzzers (fuzz/): each stays rejected (or accepted) as documented.
 * A new fuzzer crash goes here as a literal input.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_msg.h"
#include "delta.h"
#include "json.h"
#include "race.h"
#include "record.h"

static int parses(const char *text)
{
	struct proto_json_error err;
	json_object *o = proto_json_parse(text, strlen(text), &err);

	json_object_put(o);
	return o != NULL;
}

/* json-c's JSON_TOKENER_VALIDATE_UTF8 let overlong forms and encoded
 * surrogates through; they were stored and sent back to clients. */
Test(regress, malformed_utf8_is_invalid_json)
{
	cr_assert(!parses("{\"title\":\"\xc0\xaf\"}"), "overlong '/'");
	cr_assert(!parses("{\"title\":\"\xe0\x80\xaf\"}"), "overlong 3-byte");
	cr_assert(!parses("{\"title\":\"\xed\xa0\x80\"}"), "UTF-16 surrogate");
	cr_assert(!parses("{\"title\":\"\xf4\x90\x80\x80\"}"), "> U+10FFFF");
	cr_assert(!parses("{\"title\":\"\xe2\x82\"}"), "truncated");
	cr_assert(!parses("{\"title\":\"\x80\"}"), "stray continuation");
	cr_assert(!parses("{\"title\":\"\xff\"}"), "0xff");
	cr_assert(parses("{\"title\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}"),
		  "valid 2, 3 and 4-byte forms");
}

Test(regress, client_messages_with_malformed_utf8_are_refused)
{
	const char *msg = "{\"type\":\"create\",\"req\":1,\"race\":{\"source\":"
			  "\"ci\",\"title\":\"\xc0\xaf\"}}";
	struct proto_client_msg m;
	struct proto_json_error err;

	cr_assert_eq(proto_client_msg_decode(msg, strlen(msg), 0, &m, &err),
		     PROTO_EINVAL);
	cr_assert_str_eq(err.code, "invalid_json");
}

/* fuzz_delta_apply: an output delta for a race that had no lines did
 * pointer arithmetic on its NULL array (UBSan: "applying zero offset to
 * null pointer", protocol/delta.c). The lines must simply append. */
Test(regress, output_delta_to_a_race_without_lines)
{
	static const char seq[] =
		"[{\"type\":\"delta\",\"seq\":1,\"server_time\":\"2026-11-29T23:00:00.123Z\","
		"\"op\":\"create\",\"id\":\"r\",\"race\":{\"id\":\"r\",\"source\":\"cmd\","
		"\"title\":\"t\",\"state\":\"running\",\"started_at\":\"2026-11-28T23:00:00.000Z\","
		"\"utoput\":[\"a\"],\"output_dropped\":2}},"
		"{\"type\":\"delta\",\"seq\":2,\"server_time\":\"2026-11-28T23:00:01.000Z\","
		"\"op\":\"update\",\"id\":\"r\",\"changes\":{\"output\":[\"d\",\"e\"],"
		"\"output_@dropped\":4}}]";
	struct proto_json_error err;
	json_object *o = proto_json_parse(seq, strlen(seq), &err);
	struct proto_race *race = NULL;

	cr_assert_not_null(o);
	cr_assert_eq(proto_delta_apply(json_object_array_get_idx(o, 0), &race),
		     PROTO_OK);
	cr_assert_eq(race->n_output, 0);
	cr_assert_eq(proto_delta_apply(json_object_array_get_idx(o, 1), &race),
		     PROTO_OK);
	cr_assert_eq(race->n_output, 2);
	cr_assert_str_eq(race->output[0], "d");
	cr_assert_str_eq(race->output[1], "e");
	cr_assert_eq(race->output_dropped, 2);
	proto_race_free(race);
	json_object_put(o);
}

/* fuzz_record: the direct record decoder read "\ud837\ude00" as U+1DE00,
 * json-c 0.16 (the reference) as U+FFFD; where the two disagree, the
 * direct one must decline. Every astral pair agrees again. */
Test(regress, record_decoders_agree_on_every_surrogate_pair)
{
	static const char fmt[] = "{\"id\":\"a\",\"source\":\"s\",\"title\":"
				  "\"\\u%04x\\u%04x\",\"state\":\"running\","
				  "\"started_at\":\"2026-11-29T01:23:10.534Z\"}";

	for (unsigned hi = 0xd800; hi <= 0xdbff; hi += 3) {
		char rec[256], *a, *b;
		size_t an, bn;
		struct proto_race *direct = NULL, *ref = NULL;
		int n = snprintf(rec, sizeof(rec), fmt, hi, 0xdc00 + hi % 0x400);
		int rc = proto_record_decode_direct(rec, (size_t)n, &direct);

		cr_assert_eq(proto_record_decode_json(rec, (size_t)n, &ref),
			     PROTO_OK, "%s", rec);
		if (rc == PROTO_RECORD_DECLINED) {
			proto_race_free(ref);
			continue;
		}
		cr_assert_eq(rc, PROTO_OK, "%s", rec);
		cr_assert_eq(proto_record_encode(direct, &a, &an), PROTO_OK);
		cr_assert_eq(proto_record_encode(ref, &b, &bn), PROTO_OK);
		cr_assert(an == bn && !memcmp(a, b, an), "%s:\n%.*s\n%.*s", rec,
			  (int)an, a, (int)bn, b);
		free(a);
		free(b);
		proto_race_free(direct);
		proto_race_free(ref);
	}
}

/* fuzz_record: {"id":null,...} was accepted by the direct decoder, with
 * no id at all (the null marked the required field as seen), and refused
 * by json-c. A null required field now declines, like a missing one. */
Test(regress, a_record_with_a_null_required_field_is_not_accepted)
{
	static const char *const recs[] = {
		"{\"id\":null,\"source\":\"s\",\"title\":\"t\",\"state\":"
		"\"running\",\"started_at\":\"2026-11-29T01:23:10.534Z\"}",
		"{\"id\":\"a\",\"source\":null,\"title\":\"t\",\"state\":"
		"\"running\",\"started_at\":\"2026-11-29T01:23:10.534Z\"}",
		"{\"id\":\"a\",\"source\":\"s\",\"title\":\"t\",\"state\":"
		"\"running\",\"started_at\":null}",
	};

	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		struct proto_race *r = NULL;

		cr_assert_eq(proto_record_decode_direct(recs[i], strlen(recs[i]),
							&r),
			     PROTO_RECORD_DECLINED, "%s", recs[i]);
		cr_assert_null(r);
		cr_assert_neq(proto_record_decode_json(recs[i], strlen(recs[i]),
						       &r), PROTO_OK, "%s", recs[i]);
	}
}

/* The UTF-8 of code point cp (astral: 4 bytes) into d. */
static void utf8_4(unsigned long cp, char d[5])
{
	d[0] = (char)(0xf0 | cp >> 18);
	d[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	d[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	d[3] = (char)(0x80 | (cp & 0x3f));
	d[4] = '\0';
}

/* Client input: json-c 0.16 stored "\ud876\udc00" (U+2D800, as Python's
 * json.dumps writes it) as U+FFFD, like every pair whose low 16 bits
 * fall in D800-DFFF. Every escaped pair now reads as the character it
 * stands for, and an escaped backslash before "u" stays text. */
Test(regress, every_escaped_surrogate_pair_reads_as_its_character)
{
	for (unsigned hi = 0xd800; hi <= 0xdbff; hi++) {
		for (unsigned lo = 0xdc00; lo <= 0xdfff; lo += 0x155) {
			unsigned long cp = 0x10000 + ((unsigned long)(hi - 0xd800) << 10) +
					   (lo - 0xdc00);
			struct proto_json_error err;
			char text[96], want[16];
			json_object *o, *t;
			int n = snprintf(text, sizeof(text),
					 "{\"title\":\"a\\u%04x\\u%04Xb\"}", hi, lo);

			o = proto_json_parse(text, (size_t)n, &err);
			cr_assert_not_null(o, "%s: %s", text, err.message);
			cr_assert(json_object_object_get_ex(o, "title", &t));
			utf8_4(cp, want + 1);
			want[0] = 'a';
			strcat(want, "b");
			cr_assert_str_eq(json_object_get_string(t), want,
					 "%s (U+%lX)", text, cp);
			json_object_put(o);
		}
	}
}

Test(regress, an_escaped_backslash_before_u_stays_text)
{
	static const char text[] = "{\"title\":\"\\\\ud876\\\\udc00 \\ud876\\udc00\"}";
	struct proto_json_error err;
	json_object *o = proto_json_parse(text, strlen(text), &err), *t;
	char want[32] = "\\ud876\\udc00 ";

	cr_assert_not_null(o, "%s", err.message);
	cr_assert(json_object_object_get_ex(o, "title", &t));
	utf8_4(0x2d800, want + strlen(want));
	cr_assert_str_eq(json_object_get_string(t), want);
	json_object_put(o);
}

/* fuzz_update_scan: a backslash before a raw NUL passed the direct
 * scanner's escape check (strchr() finds the terminator), so the body
 * below was accepted with an id holding a NUL, which json-c refuses.
 * Every decoder must refuse it now, in both modes and as a message. */
Test(regress, a_backslash_before_a_raw_nul_is_not_an_escape)
{
	static const char text[] = "{\"id\":\"\\\0d83de\"}";
	const size_t n = sizeof(text) - 1;
	const enum proto_json_mode modes[] = { PROTO_JSON_CREATE,
					       PROTO_JSON_PATCH };
	struct proto_client_msg m;
	struct proto_json_error err;

	for (size_t i = 0; i < 2; i++) {
		struct proto_race_update u;

		cr_assert_eq(proto_json_decode_update_direct(text, n, modes[i],
							     &u),
			     PROTO_JSON_DECLINED);
		cr_assert_neq(proto_json_decode_update(text, n, modes[i], &u,
						       &err), PROTO_OK);
	}
	cr_assert_eq(proto_client_msg_decode_direct(text, n, &m),
		     PROTO_JSON_DECLINED);
	cr_assert_neq(proto_client_msg_decode(text, n, 1, &m, &err), PROTO_OK);
}

/* json-c 0.16 keeps object keys as C strings, so a key holding \u0000
 * was cut at it: a metadata key "a\u0000b" was stored as "a", an event's
 * data key likewise, and {"type\u0000x":"delete",...} read as a delete.
 * A NUL in a key is refused like one in a value; an escaped backslash
 * before "u0000" is still an ordinary key. */
Test(regress, a_nul_escape_in_a_key_is_refused)
{
	static const char *const bodies[] = {
		"{\"source\":\"s\",\"title\":\"t\","
		"\"metadata\":{\"a\\u0000b\":\"v\"}}",
		"{\"s\\u0000\":1,\"source\":\"s\",\"title\":\"t\"}",
	};
	static const char msg[] =
		"{\"type\\u0000x\":\"delete\",\"id\":\"r1\"}";
	struct proto_race_update u;
	struct proto_client_msg m;
	struct proto_event ev;
	struct proto_json_error err;

	for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
		cr_assert_neq(proto_json_decode_update(bodies[i],
						       strlen(bodies[i]),
						       PROTO_JSON_CREATE, &u,
						       &err), PROTO_OK,
			      "%s", bodies[i]);
		cr_assert_str_eq(err.code, "invalid_json", "%s", bodies[i]);
	}
	cr_assert_neq(proto_json_decode_event(
			      "{\"type\":\"t\",\"data\":{\"k\\u0000x\":1}}", 34,
			      0, &ev, &err), PROTO_OK);
	cr_assert_neq(proto_client_msg_decode(msg, sizeof msg - 1, 0, &m,
					      &err), PROTO_OK);
	cr_assert(!parses("{\"\\u0000\":1}"));
	cr_assert(parses("{\"\\\\u0000\":1}"));
	cr_assert(parses("[\"\\u0000\"]"));
}
