/*
 * test_proto_update_scan.c - the direct decoders of producer writes
 * (protocol/update_scan.c) against the json-c decoders, the reference:
 * where the direct one accepts a body or a message, the json-c one
 * accepts it with the same result; the decoders the server calls answer
 * exactly as the json-c ones, errors (code, field, message) included.
 * Checked on a table of awkward inputs (the tests/test_proto_regress.c
 * cases among them) and on seeded random bodies and byte mutations.
 * fuzz/fuzz_update_scan.c runs the same checks on fuzzed input.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_msg.h"
#include "json.h"
#include "race.h"
#include "support/update_same.h"

#define C PROTO_JSON_CREATE
#define P PROTO_JSON_PATCH

/* Checks one body in one mode; returns the direct decoder's answer. */
static int agree_update(const char *text, size_t n, enum proto_json_mode m)
{
	struct proto_race_update d, r, s;
	struct proto_json_error re, se;
	int drc = proto_json_decode_update_direct(text, n, m, &d);
	int rrc = proto_json_decode_update_json(text, n, m, &r, &re);
	int src = proto_json_decode_update(text, n, m, &s, &se);

	cr_assert(drc == PROTO_OK || drc == PROTO_JSON_DECLINED,
		  "direct rc %d on %.*s", drc, (int)n, text);
	if (drc == PROTO_OK)
		cr_assert(rrc == PROTO_OK && same_update(&d, &r),
			  "direct accepted what json-c decodes otherwise "
			  "(mode %d, json-c rc %d): %.*s", m, rrc, (int)n,
			  text);
	else
		cr_assert(d.set == 0 && !d.id && !d.source && !d.metadata &&
			  !d.output, "a declined decode owns nothing");
	cr_assert_eq(src, rrc, "%.*s", (int)n, text);
	cr_assert(same_update(&s, &r), "%.*s", (int)n, text);
	if (rrc != PROTO_OK)
		cr_assert(same_error(&se, &re), "error %s/%s/%s, json-c "
			  "%s/%s/%s on %.*s", se.code, se.field, se.message,
			  re.code, re.field, re.message, (int)n, text);
	proto_race_update_fini(&d);
	proto_race_update_fini(&r);
	proto_race_update_fini(&s);
	return drc;
}

static int same_msg(const struct proto_client_msg *a,
		    const struct proto_client_msg *b)
{
	return a->type == b->type && !strcmp(a->req, b->req) &&
	       !strcmp(a->id, b->id) && a->has_since == b->has_since &&
	       a->since == b->since && same_update(&a->update, &b->update);
}

static int agree_msg(const char *text, size_t n)
{
	struct proto_client_msg d, r, s;
	struct proto_json_error re, se;
	int drc = proto_client_msg_decode_direct(text, n, &d);
	int rrc = proto_client_msg_decode_json(text, n, 7, &r, &re);
	int src = proto_client_msg_decode(text, n, 7, &s, &se);

	cr_assert(drc == PROTO_OK || drc == PROTO_JSON_DECLINED);
	if (drc == PROTO_OK)
		cr_assert(rrc == PROTO_OK && same_msg(&d, &r),
			  "direct accepted what json-c decodes otherwise "
			  "(json-c rc %d): %.*s", rrc, (int)n, text);
	cr_assert_eq(src, rrc, "%.*s", (int)n, text);
	cr_assert_str_eq(s.req, r.req);
	if (rrc == PROTO_OK && r.type != PROTO_MSG_SUBSCRIBE &&
	    r.type != PROTO_MSG_EVENT)
		cr_assert(same_msg(&s, &r), "%.*s", (int)n, text);
	if (rrc != PROTO_OK)
		cr_assert(same_error(&se, &re), "error %s/%s/%s, json-c "
			  "%s/%s/%s on %.*s", se.code, se.field, se.message,
			  re.code, re.field, re.message, (int)n, text);
	proto_client_msg_fini(&d);
	proto_client_msg_fini(&r);
	proto_client_msg_fini(&s);
	return drc;
}

static int agree_all(const char *text, size_t n)
{
	int a = agree_update(text, n, C), b = agree_update(text, n, P);

	(void)agree_msg(text, n);
	return a == PROTO_OK || b == PROTO_OK;
}

/* What producers send: the direct decoder must take these itself, or
 * the server quietly loses its fast path. */
Test(update_scan, plain_bodies_take_the_direct_path)
{
	static const char *const patch[] = {
		"{\"progress\":40,\"eta_sec\":75}",
		"{\"progress\":40,\"eta_sec\":75,\"eta_source\":2,"
		"\"eta_confidence\":0.65}",
		" {\n\t\"state\" : \"passed\" , \"progress\": 100 }\r\n",
		"{\"output\":[\"line 1\",\"caf\xc3\xa9 \\u00e9\"],"
		"\"metadata\":{\"k\":\"v\",\"gone\":null}}",
		"{\"started_at\":\"2026-12-01T10:00:00.123Z\","
		"\"update_interval_hint\":30,\"deeplink\":\"https:\\/\\/x/y\"}",
		"{}",
		"{\"progress\":null,\"title\":\"\\ud83d\\ude00\"}",
	};
	static const char *const create[] = {
		"{\"id\":\"gh-raceboard-1234\",\"source\":\"github\",\"title\":"
		"\"Build #1234\",\"eta_sec\":600,\"metadata\":{\"branch\":"
		"\"main\"}}",
		"{\"source\":\"cmd\",\"title\":\"x\",\"id\":\"\"}",
	};
	static const char *const msg[] = {
		"{\"type\":\"patch\",\"req\":12,\"id\":\"r-1\",\"changes\":"
		"{\"progress\":40,\"eta_sec\":75}}",
		"{\"changes\":{\"progress\":1},\"id\":\"r-1\",\"type\":\"patch\"}",
		"{\"type\":\"patch\",\"req\":\"a b-1\",\"id\":\"r\",\"changes\":{}}",
		"{\"type\":\"create\",\"req\":-5,\"race\":{\"source\":\"s\","
		"\"title\":\"t\"}}",
	};

	for (size_t i = 0; i < sizeof patch / sizeof *patch; i++)
		cr_expect_eq(agree_update(patch[i], strlen(patch[i]), P),
			     PROTO_OK, "%s", patch[i]);
	for (size_t i = 0; i < sizeof create / sizeof *create; i++)
		cr_expect_eq(agree_update(create[i], strlen(create[i]), C),
			     PROTO_OK, "%s", create[i]);
	for (size_t i = 0; i < sizeof msg / sizeof *msg; i++)
		cr_expect_eq(agree_msg(msg[i], strlen(msg[i])), PROTO_OK,
			     "%s", msg[i]);
}

/* Inputs where json-c and RFC 8259 part ways, or where the reference
 * refuses: the direct decoder declines, the answer is json-c's. */
Test(update_scan, awkward_inputs_agree_with_json_c)
{
	static const char *const bodies[] = {
		/* Surrogates: a pair, lone halves, and pairs json-c 0.16
		 * turns into U+FFFD (low 16 bits of the code point in
		 * D800-DFFF, as in the regression tests). */
		"{\"title\":\"\\ud83d\\ude00\"}",
		"{\"title\":\"\\ud834\\udc00\"}",
		"{\"title\":\"\\ud836\\udc00\"}",
		"{\"title\":\"\\ud837\\udfff\"}",
		"{\"title\":\"\\ud800\"}",
		"{\"title\":\"\\udc00\"}",
		"{\"title\":\"\\ud800\\u0041\"}",
		"{\"title\":\"a\\u0000b\"}",
		"{\"title\":\"\\u00\"}",
		"{\"title\":\"\\uzzzz\"}",
		/* Null required fields and other create faults. */
		"{\"source\":null,\"title\":\"t\"}",
		"{\"source\":\"s\",\"title\":null}",
		"{\"source\":\"\",\"title\":\"t\"}",
		"{\"title\":\"t\"}",
		"{\"source\":\"s\"}",
		/* Fractions and other number forms in integer fields. */
		"{\"progress\":50.5}", "{\"progress\":50.0}",
		"{\"progress\":5e1}", "{\"progress\":-0}", "{\"progress\":-1}",
		"{\"progress\":101}", "{\"progress\":01}", "{\"progress\":1.}",
		"{\"progress\":\"5\"}", "{\"progress\":true}",
		"{\"eta_sec\":99999999999999999999}",
		"{\"eta_sec\":9223372036854775807}",
		"{\"eta_sec\":-9223372036854775808}",
		"{\"eta_sec\":315360000}", "{\"eta_sec\":315360001}",
		"{\"eta_source\":0}", "{\"eta_source\":4}",
		"{\"update_interval_hint\":0}",
		"{\"eta_confidence\":1}", "{\"eta_confidence\":0}",
		"{\"eta_confidence\":1.0000000000000002}",
		"{\"eta_confidence\":1e-320}", "{\"eta_confidence\":-0.0}",
		"{\"eta_confidence\":0.1e1}", "{\"eta_confidence\":NaN}",
		/* Keys: repeated, unknown, escaped, server-owned. */
		"{\"progress\":1,\"progress\":2}",
		"{\"progress\":1,\"progress\":null}",
		"{\"progr\\u0065ss\":3}", "{\"completed_at\":5}",
		"{\"x\":[1,{\"y\":null}],\"progress\":4}",
		/* Strings and UTF-8. */
		"{\"title\":\"\xc0\xaf\"}", "{\"title\":\"\xed\xa0\x80\"}",
		"{\"title\":\"\xf4\x90\x80\x80\"}", "{\"title\":\"\xe2\x82\"}",
		"{\"title\":\"\x80\"}", "{\"title\":\"\xff\"}",
		"{\"title\":\"a\tb\"}", "{\"title\":\"a\\tb\\/\\\\\\\"\"}",
		"{\"title\":'x'}", "{\"state\":\"RUNNING\"}",
		"{\"state\":\"running\\u0000x\"}", "{\"state\":\"run\\u006eing\"}",
		"{\"started_at\":\"2026-12-01\"}",
		"{\"started_at\":\"2026-12-01T10:00:00Z\"}",
		"{\"started_at\":\"2026-12-01T10:00:00.123+02:00\"}",
		"{\"id\":\"a/b\"}", "{\"id\":\".\"}", "{\"id\":\"..\"}",
		"{\"id\":\"\"}", "{\"id\":\"ok.id\"}", "{\"id\":5}",
		/* Metadata and output. */
		"{\"metadata\":{\"a\":\"1\",\"a\":\"2\"}}",
		"{\"metadata\":{\"a\":\"1\",\"\\u0061\":\"2\"}}",
		"{\"metadata\":{\"a\":1}}", "{\"metadata\":[]}",
		"{\"metadata\":{\"\":\"\"}}", "{\"metadata\":{}}",
		"{\"metadata\":{\"k\\u0000\":\"v\"}}",
		"{\"output\":[]}", "{\"output\":[\"a\\nb\"]}",
		"{\"output\":[\"a\",null]}", "{\"output\":\"a\"}",
		"{\"output\":[\"a\\r\"]}",
		/* Whole-text faults. */
		"", " ", "[]", "null", "{", "{}}", "{} x", "{}\x00",
		"{\"progress\":1,}", "{,\"progress\":1}", "{\"progress\" 1}",
		"\xef\xbb\xbf{}", "{\"progress\":1}\n\n",
	};

	for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
		const char *b = bodies[i];
		size_t n = strlen(b);
		char msg[512];

		/* The NUL test needs its byte. */
		if (!strcmp(b, "{}"))
			(void)agree_all("{}\0", 3);
		(void)agree_all(b, n);
		snprintf(msg, sizeof msg, "{\"type\":\"patch\",\"req\":1,"
			 "\"id\":\"r\",\"changes\":%s}", b);
		(void)agree_msg(msg, strlen(msg));
		snprintf(msg, sizeof msg, "{\"type\":\"create\",\"race\":%s}",
			 b);
		(void)agree_msg(msg, strlen(msg));
	}
}

Test(update_scan, message_forms_agree_with_json_c)
{
	static const char *const msgs[] = {
		"{\"type\":\"patch\",\"id\":\"r\",\"changes\":{}}",
		"{\"type\":\"patch\",\"id\":\"r\"}",
		"{\"type\":\"patch\",\"changes\":{}}",
		"{\"type\":\"patch\",\"id\":\"r\",\"changes\":null}",
		"{\"type\":\"patch\",\"id\":null,\"changes\":{}}",
		"{\"type\":\"patch\",\"id\":\"a b\",\"changes\":{}}",
		"{\"type\":\"patch\",\"id\":\"r\",\"changes\":{},\"race\":{}}",
		"{\"type\":\"patch\",\"id\":\"r\",\"changes\":{},\"x\":1}",
		"{\"type\":\"patch\",\"type\":\"patch\",\"id\":\"r\",\"changes\":{}}",
		"{\"type\":\"p\\u0061tch\",\"id\":\"r\",\"changes\":{}}",
		"{\"type\":\"create\",\"race\":{\"source\":\"s\"}}",
		"{\"type\":\"create\",\"id\":\"r\",\"race\":{\"source\":\"s\",\"title\":\"t\"}}",
		"{\"type\":\"delete\",\"id\":\"r\"}",
		"{\"type\":\"subscribe\",\"since\":3}",
		"{\"type\":\"event\",\"id\":\"r\",\"event\":{\"type\":\"x\"}}",
		"{\"type\":\"patch\",\"req\":null,\"id\":\"r\",\"changes\":{}}",
		"{\"type\":\"patch\",\"req\":1.5,\"id\":\"r\",\"changes\":{}}",
		"{\"type\":\"patch\",\"req\":-0,\"id\":\"r\",\"changes\":{}}",
		"{\"type\":\"patch\",\"req\":9223372036854775807,\"id\":\"r\",\"changes\":{}}",
		"{\"type\":\"patch\",\"req\":18446744073709551615,\"id\":\"r\",\"changes\":{}}",
		"{\"type\":\"patch\",\"req\":-9223372036854775808,\"id\":\"r\",\"changes\":{}}",
		"{\"type\":\"patch\",\"req\":\"a/b\",\"id\":\"r\",\"changes\":{}}",
		"{\"type\":\"patch\",\"req\":\"a\\\"b\",\"id\":\"r\",\"changes\":{}}",
		"{\"type\":\"patch\",\"req\":\"\xc3\xa9\",\"id\":\"r\",\"changes\":{}}",
		"{\"type\":\"patch\",\"req\":\"\x7f\",\"id\":\"r\",\"changes\":{}}",
		"{\"type\":\"patch\",\"req\":\"0123456789012345678901234567890123456789012345678901234567890\",\"id\":\"r\",\"changes\":{}}",
		"{\"type\":\"patch\",\"req\":\"01234567890123456789012345678901234567890123456789012345678901\",\"id\":\"r\",\"changes\":{}}",
		"{\"type\":\"patch\",\"req\":\"012345678901234567890123456789012345678901234567890123456789012\",\"id\":\"r\",\"changes\":{}}",
		"{\"type\":\"patch\",\"req\":true,\"id\":\"r\",\"changes\":{}}",
		"{\"type\":\"patch\",\"req\":[],\"id\":\"r\",\"changes\":{}}",
		"{\"type\":\"patch\",\"id\":\"r\",\"changes\":{\"progress\":1.5}}",
	};

	for (size_t i = 0; i < sizeof msgs / sizeof *msgs; i++)
		(void)agree_msg(msgs[i], strlen(msgs[i]));
}

/* A small deterministic generator (xorshift), so a failure reproduces. */
static uint64_t rng = 0x9e3779b97f4a7c15u;

static unsigned pick(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static const char *const keys[] = {
	"id", "source", "title", "state", "started_at", "progress",
	"update_interval_hint", "eta_sec", "eta_source", "eta_confidence",
	"deeplink", "metadata", "output", "completed_at", "x",
};

static const char *const values[] = {
	"null", "0", "1", "4", "40", "100", "101", "-1", "50.0", "50.5",
	"5e1", "0.65", "1.0", "1e0", "0.85", "-0", "86400", "86401",
	"315360000", "1e400", "true", "false", "\"\"", "\"s\"",
	"\"running\"", "\"passed\"", "\"queued \"", "\"ok.id-1\"", "\".\"",
	"\"a\\u00e9\\ud83d\\ude00\"", "\"\\ud834\\udc00\"", "\"\\ud800\"",
	"\"caf\xc3\xa9\"", "\"\xc3\"", "\"a\\nb\"", "\"a\\/b\"",
	"\"2026-12-01T10:00:00.123Z\"", "\"2026-13-01T10:00:00Z\"",
	"{}", "{\"k\":\"v\"}", "{\"k\":null,\"j\":\"w\"}",
	"{\"k\":\"v\",\"k\":\"w\"}", "{\"k\":1}", "[]", "[\"l\"]",
	"[\"a\",\"b\\u0000\"]", "[\"a\",\"b\\n\"]", "[1]",
	"{\"\\u006b\":\"v\"}",
};

static const char *const spaces[] = { "", "", "", " ", "\n", "\t ", "\r" };

/* A random body of up to 5 members into buf; returns its length. */
static size_t random_body(char *buf, size_t cap)
{
	size_t n = 0;
	unsigned members = pick(6);

	n += (size_t)snprintf(buf + n, cap - n, "%s{", spaces[pick(7)]);
	for (unsigned i = 0; i < members; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%s\"%s\"%s:%s%s",
				      i ? "," : "", spaces[pick(7)],
				      keys[pick(sizeof keys / sizeof *keys)],
				      spaces[pick(7)], spaces[pick(7)],
				      values[pick(sizeof values /
						  sizeof *values)]);
	n += (size_t)snprintf(buf + n, cap - n, "%s}%s", spaces[pick(7)],
			      spaces[pick(7)]);
	return n;
}

Test(update_scan, random_bodies_and_mutations_agree_with_json_c,
     .timeout = 120)
{
	char body[1024], msg[1200];
	int direct = 0;

	for (int i = 0; i < 6000; i++) {
		size_t n = random_body(body, sizeof body), m;

		direct += agree_all(body, n);
		m = (size_t)snprintf(msg, sizeof msg,
				     "{\"type\":\"patch\",\"req\":%d,\"id\":"
				     "\"r-%d\",\"changes\":%s}", i, i, body);
		(void)agree_msg(msg, m);
		/* One byte changed, dropped or doubled. */
		if (n > 1) {
			size_t at = pick((unsigned)n);

			switch (pick(3)) {
			case 0:
				body[at] = (char)pick(256);
				break;
			case 1:
				memmove(body + at, body + at + 1, n - at - 1);
				n--;
				break;
			default:
				memmove(body + at + 1, body + at, n - at);
				n++;
				break;
			}
			(void)agree_all(body, n);
		}
	}
	/* The generator must reach the fast path often enough to test it. */
	cr_assert_gt(direct, 500, "direct accepted %d", direct);
}
