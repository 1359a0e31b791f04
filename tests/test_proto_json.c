/*
 * test_proto_json.c - the JSON codec: bounded parsing, request and event
 * decoders (every error code with its field), the race encoder and the
 * stored record format (protocol/json*.c, protocol/record.c).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "json.h"
#include "race.h"
#include "record.h"

#define T0 1735787045000LL /* 2025-01-02T03:04:05.000Z */

static int decode(const char *body, enum proto_json_mode mode,
		  struct proto_race_update *u, struct proto_json_error *e)
{
	return proto_json_decode_update(body, strlen(body), mode, u, e);
}

/* A race with every field set (metadata, revisions, events and, past
 * PROTO_EVENTS_MAX, dropped events). */
static struct proto_race *full_race_n(int n_events)
{
	struct proto_race_update u = {0};
	struct proto_kv meta[] = {{"branch", "main"}, {"a\"q", "x/y"}};
	struct proto_race *r;
	struct proto_json_error e;
	int rc;

	rc = decode("{\"source\":\"github\",\"title\":\"Build \\u00e9\","
		    "\"progress\":40,\"eta_sec\":120,\"eta_confidence\":0.85,"
		    "\"deeplink\":\"https://ci/1\",\"update_interval_hint\":7}",
		    PROTO_JSON_CREATE, &u, &e);
	cr_assert_eq(rc, PROTO_OK, "%s", e.message);
	r = proto_race_create(&u, "full-1", T0, NULL);
	cr_assert_not_null(r);
	proto_race_update_fini(&u);
	u = (struct proto_race_update){.set = PROTO_F_METADATA | PROTO_F_ETA_SEC,
				       .metadata = meta, .n_metadata = 2,
				       .eta_sec = 90};
	cr_assert_eq(proto_race_apply(r, &u, T0 + 1500, NULL), PROTO_OK);
	u = (struct proto_race_update){.set = PROTO_F_STATE,
				       .state = PROTO_STATE_PASSED};
	cr_assert_eq(proto_race_apply(r, &u, T0 + 61499, NULL), PROTO_OK);
	for (int i = 0; i < n_events; i++) {
		struct proto_event ev;

		const char *b = "{\"type\":\"log\",\"data\":{\"n\":[1,2.5,\"s\"]}}";

		cr_assert_eq(proto_json_decode_event(b, strlen(b), T0 + i, &ev,
						     &e), PROTO_OK, "%s", e.message);
		cr_assert_eq(proto_race_add_event(r, &ev, NULL), PROTO_OK);
	}
	return r;
}

static struct proto_race *full_race(void)
{
	return full_race_n(PROTO_EVENTS_MAX + 2);
}

static struct proto_race *minimal_race(void)
{
	struct proto_race_update u = {.set = PROTO_F_SOURCE | PROTO_F_TITLE,
				      .source = "cmd", .title = "m"};
	struct proto_race *r = proto_race_create(&u, "min", T0, NULL);

	cr_assert_not_null(r);
	return r;
}

static char *race_text(const struct proto_race *r)
{
	json_object *o = proto_json_race(r);
	char *s;

	cr_assert_not_null(o);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

Test(json, parse_rejects_bad_json_text)
{
	static const char *const bad[] = {
		"", " ", "{", "{\"a\":1", "{\"a\":1}x", "{\"a\":1} {}", "[1,]",
		"{\"a\":1,}", "nul", "\"\xff\"", "{\"a\":\"\xc3\"}", "01",
		"{a:1}",
	};
	struct proto_json_error e;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&e, 0, sizeof e);
		cr_expect_null(proto_json_parse(bad[i], strlen(bad[i]), &e),
			       "%s", bad[i]);
		cr_expect_str_eq(e.code ? e.code : "", "invalid_json", "%s",
				 bad[i]);
		cr_expect_str_eq(e.field, "");
		cr_expect_gt(strlen(e.message), 0);
	}
}

/* What json-c 0.16 takes even in strict mode, and RFC 8259 does not. */
Test(json, parse_is_strict_rfc8259)
{
	static const struct {
		const char *text;
		size_t len;
	} bad[] = {
#define T(s) {s, sizeof(s) - 1}
		T("{'progress': 10}"),
		T("{\"a\":'x'}"),
		T("{\"a\":\"x\x01y\"}"),
		T("{\"a\":\"x\ty\"}"),
		T("{\"a\":\"x\ny\"}"),
		T("{\"a\":\"\x1f\"}"),
		T("{\"a\x01\":1}"),
		T("{\"a\":1.}"),
		T("{\"a\":-01}"),
		T("{\"a\":-}"),
		T("{\"a\":1e}"),
		T("{\"a\":NaN}"),
		T("{\"a\":Infinity}"),
		T("{\"a\":-Infinity}"),
		T("{\"a\":\"\\uD800\"}"),
		T("{\"a\":\"\\uDC00\"}"),
		T("{\"a\":\"\\uD800\\u0041\"}"),
		T("{\"a\":\"\\x41\"}"),
		T("{\"a\":true}x"),
		T("{\"a\":1}}"),
		T("[1]]"),
		T("{\"a\":1}\x0b"),
		T("\xef\xbb\xbf{}"),
		T("{\"a\":\"\xc0\xaf\"}"),
		T("{\"a\":\"\xed\xa0\x80\"}"),
#undef T
	};
	static const char *const good[] = {
		"{\"a\":\"\\uD83D\\uDE00 \\u00e9 \xc3\xa9 \\\" \\/ \\b\\f\\n\\r\\t\"}",
		"[0,-0,1.5,-2e10,3E+2,4e-1,0.0,true,false,null,{},[],\"\"]",
		" \r\n\t{ \"a\" : [ 1 , { } ] } \n",
	};
	struct proto_json_error e;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&e, 0, sizeof e);
		cr_expect_null(proto_json_parse(bad[i].text, bad[i].len, &e),
			       "case %zu: %s", i, bad[i].text);
		cr_expect_str_eq(e.code ? e.code : "", "invalid_json",
				 "case %zu", i);
		cr_expect_str_eq(e.field, "");
	}
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		json_object *o = proto_json_parse(good[i], strlen(good[i]), &e);

		cr_expect_not_null(o, "case %zu: %s: %s", i, good[i],
				   e.message);
		json_object_put(o);
	}
}

/* The strict check follows nesting without recursion, and leaves the
 * depth limit to json-c until its own 64 levels. */
Test(json, strict_check_bounds_nesting)
{
	char deep[2 * 200 + 1];
	size_t at = 0;

	memset(deep, '[', 200);
	memset(deep + 200, ']', 200);
	cr_expect_eq(proto_codec_strict(deep, 400, &at),
		     PROTO_CODEC_STRICT_DEPTH);
	cr_expect_eq(at, 64);
	cr_expect_eq(proto_codec_strict(deep + 200 - 64, 128, NULL), PROTO_OK);
	cr_expect_eq(proto_codec_strict("{\"a\":[1,{\"b\":2}]}x", 18, &at),
		     PROTO_CODEC_STRICT_SYNTAX);
	cr_expect_eq(at, 17);
}

Test(json, parse_rejects_embedded_nul_and_excess_depth)
{
	struct proto_json_error e;
	char deep[2 * (PROTO_JSON_MAX_DEPTH + 1) + 1];
	const size_t n = PROTO_JSON_MAX_DEPTH + 1;
	json_object *o;

	cr_expect_null(proto_json_parse("{}\0", 3, &e));
	cr_expect_str_eq(e.code, "invalid_json");
	cr_expect_null(proto_json_parse("{\"a\":\"x\0\"}", 10, &e));
	cr_expect_str_eq(e.code, "invalid_json");
	/* One level too deep... */
	memset(deep, '[', n);
	memset(deep + n, ']', n);
	deep[2 * n] = '\0';
	cr_expect_null(proto_json_parse(deep, 2 * n, &e));
	cr_expect_str_eq(e.code, "invalid_json");
	/* ...and exactly at the limit. */
	o = proto_json_parse(deep + 1, 2 * n - 2, &e);
	cr_expect_not_null(o, "%s", e.message);
	json_object_put(o);
}

Test(json, parse_accepts_scalars_and_whitespace)
{
	struct proto_json_error e;
	json_object *o = proto_json_parse("123", 3, &e);

	cr_assert_not_null(o);
	cr_expect_eq(json_object_get_int(o), 123);
	json_object_put(o);
	/* The length bounds the input: what follows is not read. */
	o = proto_json_parse(" {\"a\":1}\n\t xyz", 11, &e);
	cr_assert_not_null(o, "%s", e.message);
	json_object_put(o);
}

struct decode_error {
	const char *body;
	enum proto_json_mode mode;
	const char *code;
	const char *field;
};

#define C PROTO_JSON_CREATE
#define P PROTO_JSON_PATCH

static const struct decode_error decode_errors[] = {
	{"not json", P, "invalid_json", ""},
	{"[1,2]", P, "invalid_type", ""},
	{"\"str\"", C, "invalid_type", ""},
	{"{\"title\":\"t\"}", C, "missing_field", "source"},
	{"{\"source\":null,\"title\":\"t\"}", C, "missing_field", "source"},
	{"{\"source\":\"s\"}", C, "missing_field", "title"},
	{"{\"source\":1,\"title\":\"t\"}", C, "invalid_type", "source"},
	{"{\"source\":\"\"}", P, "invalid_value", "source"},
	{"{\"title\":[]}", P, "invalid_type", "title"},
	{"{\"title\":\"a\\u0000b\"}", P, "invalid_value", "title"},
	{"{\"id\":\"a b\"}", P, "invalid_value", "id"},
	{"{\"id\":7}", P, "invalid_type", "id"},
	{"{\"state\":\"done\"}", P, "invalid_value", "state"},
	{"{\"state\":\"running\\u0000\"}", P, "invalid_value", "state"},
	{"{\"state\":1}", P, "invalid_type", "state"},
	{"{\"started_at\":\"2025-02-30T00:00:00Z\"}", P, "invalid_value",
	 "started_at"},
	{"{\"started_at\":\"2025-01-01T00:00:00\"}", P, "invalid_value",
	 "started_at"},
	{"{\"started_at\":12345}", P, "invalid_type", "started_at"},
	{"{\"progress\":101}", P, "out_of_range", "progress"},
	{"{\"progress\":-1}", P, "out_of_range", "progress"},
	{"{\"progress\":100.6}", P, "invalid_type", "progress"},
	{"{\"progress\":1e400}", P, "out_of_range", "progress"},
	{"{\"progress\":NaN}", P, "invalid_json", ""},
	{"{\"progress\":true}", P, "invalid_type", "progress"},
	{"{\"progress\":\"50\"}", P, "invalid_type", "progress"},
	{"{\"eta_sec\":-5}", P, "out_of_range", "eta_sec"},
	{"{\"eta_sec\":315360001}", P, "out_of_range", "eta_sec"},
	{"{\"eta_sec\":99999999999999999999999}", P, "out_of_range",
	 "eta_sec"},
	{"{\"eta_sec\":-99999999999999999999999}", P, "out_of_range",
	 "eta_sec"},
	{"{\"eta_source\":0}", P, "out_of_range", "eta_source"},
	{"{\"eta_source\":5}", P, "out_of_range", "eta_source"},
	{"{\"eta_source\":1.5}", P, "invalid_type", "eta_source"},
	{"{\"eta_source\":\"exact\"}", P, "invalid_type", "eta_source"},
	{"{\"eta_confidence\":1.01}", P, "out_of_range", "eta_confidence"},
	{"{\"eta_confidence\":-0.5}", P, "out_of_range", "eta_confidence"},
	{"{\"eta_confidence\":\"high\"}", P, "invalid_type", "eta_confidence"},
	{"{\"update_interval_hint\":0}", P, "out_of_range",
	 "update_interval_hint"},
	{"{\"update_interval_hint\":86401}", P, "out_of_range",
	 "update_interval_hint"},
	{"{\"update_interval_hint\":false}", P, "invalid_type",
	 "update_interval_hint"},
	{"{\"deeplink\":5}", P, "invalid_type", "deeplink"},
	{"{\"metadata\":[]}", P, "invalid_type", "metadata"},
	{"{\"metadata\":\"k=v\"}", P, "invalid_type", "metadata"},
	{"{\"metadata\":{\"k\":1}}", P, "invalid_type", "metadata.k"},
	{"{\"metadata\":{\"k\":{}}}", P, "invalid_type", "metadata.k"},
	{"{\"metadata\":{\"k\":\"a\\u0000\"}}", P, "invalid_value",
	 "metadata.k"},
	{"{\"output\":\"one line\"}", P, "invalid_type", "output"},
	{"{\"output\":{\"0\":\"a\"}}", P, "invalid_type", "output"},
	{"{\"output\":[\"a\",2]}", P, "invalid_type", "output"},
	{"{\"output\":[null]}", P, "invalid_type", "output"},
	{"{\"output\":[\"a\\nb\"]}", P, "invalid_value", "output"},
	{"{\"output\":[\"a\\u0000\"]}", P, "invalid_value", "output"},
};

Test(json, every_decoder_error_code_names_its_field)
{
	for (size_t i = 0; i < sizeof decode_errors / sizeof decode_errors[0];
	     i++) {
		const struct decode_error *t = &decode_errors[i];
		struct proto_race_update u;
		struct proto_json_error e = {0};

		memset(&u, 0xab, sizeof u);
		cr_expect_eq(decode(t->body, t->mode, &u, &e), PROTO_EINVAL,
			     "%s", t->body);
		cr_expect_str_eq(e.code ? e.code : "(null)", t->code, "%s",
				 t->body);
		cr_expect_str_eq(e.field, t->field, "%s", t->body);
		cr_expect_gt(strlen(e.message), 0);
		/* Output zeroed and owning nothing. */
		cr_expect_eq(u.set, 0, "%s", t->body);
		cr_expect_null(u.source);
		cr_expect_null(u.metadata);
	}
}

Test(json, messages_are_sentences_naming_the_field)
{
	struct proto_race_update u;
	struct proto_json_error e;

	decode("{\"progress\":500}", P, &u, &e);
	cr_expect_str_eq(e.message, "progress must be between 0 and 100.");
	decode("{\"eta_confidence\":2}", P, &u, &e);
	cr_expect_str_eq(e.message, "eta_confidence must be between 0 and 1.");
	decode("{\"title\":\"t\"}", C, &u, &e);
	cr_expect_str_eq(e.message, "source is required.");
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	/* abort(), not cr_assert: GCC must see that p is non-NULL after. */
	if (!p)
		abort();
	return p;
}

static char *repeat(char c, size_t n)
{
	char *s = xmalloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* A body {"<key>":"<n times x>"} or, with `meta`, metadata of it. */
static int decode_long(const char *key, size_t n, int meta,
		       struct proto_json_error *e)
{
	char *v = repeat('x', n), *body = xmalloc(n + 600);
	struct proto_race_update u;
	int rc;

	if (meta)
		sprintf(body, "{\"metadata\":{\"%s\":\"%s\"}}", key, v);
	else
		sprintf(body, "{\"%s\":\"%s\"}", key, v);
	rc = decode(body, P, &u, e);
	proto_race_update_fini(&u);
	free(v);
	free(body);
	return rc;
}

Test(json, length_limits_are_too_long_with_field)
{
	static const struct {
		const char *key;
		size_t max;
	} table[] = {
		{"id", PROTO_ID_MAX},
		{"source", PROTO_SOURCE_MAX},
		{"title", PROTO_TITLE_MAX},
		{"deeplink", PROTO_DEEPLINK_MAX},
	};
	struct proto_json_error e;
	char *key;

	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		cr_expect_eq(decode_long(table[i].key, table[i].max, 0, &e),
			     PROTO_OK, "%s", table[i].key);
		cr_expect_eq(decode_long(table[i].key, table[i].max + 1, 0, &e),
			     PROTO_EINVAL, "%s", table[i].key);
		cr_expect_str_eq(e.code, "too_long");
		cr_expect_str_eq(e.field, table[i].key);
	}
	cr_expect_eq(decode_long("k", PROTO_META_VALUE_MAX, 1, &e), PROTO_OK);
	cr_expect_eq(decode_long("k", PROTO_META_VALUE_MAX + 1, 1, &e),
		     PROTO_EINVAL);
	cr_expect_str_eq(e.code, "too_long");
	cr_expect_str_eq(e.field, "metadata.k");
	key = repeat('k', PROTO_META_KEY_MAX + 1);
	cr_expect_eq(decode_long(key, 1, 1, &e), PROTO_EINVAL);
	cr_expect_str_eq(e.code, "too_long");
	cr_expect_str_eq(e.field, "metadata");
	free(key);
}

Test(json, metadata_over_64_keys_is_too_many)
{
	char body[4096] = "{\"metadata\":{";
	struct proto_race_update u;
	struct proto_json_error e;

	for (int i = 0; i <= PROTO_META_KEYS_MAX; i++)
		sprintf(body + strlen(body), "%s\"k%d\":\"v\"", i ? "," : "", i);
	strcat(body, "}}");
	cr_expect_eq(decode(body, P, &u, &e), PROTO_EINVAL);
	cr_expect_str_eq(e.code, "too_many");
	cr_expect_str_eq(e.field, "metadata");
}

Test(json, update_decodes_every_field_and_ignores_server_owned_keys)
{
	struct proto_race_update u;
	struct proto_json_error e;
	const char *body =
		"{\"id\":\"job-1\",\"source\":\"gitlab\",\"title\":\"T\","
		"\"state\":\"queued\",\"started_at\":\"2025-01-02T04:04:05+01:00\","
		"\"eta_sec\":30,\"progress\":7,\"deeplink\":\"https://d\","
		"\"metadata\":{\"b\":\"2\",\"gone\":null},\"eta_source\":3,"
		"\"eta_confidence\":0.25,\"update_interval_hint\":20,"
		"\"completed_at\":\"2025-01-02T00:00:00Z\",\"duration_sec\":5,"
		"\"last_progress_update\":\"2025-01-02T00:00:00Z\","
		"\"last_eta_update\":\"x\",\"previous_eta_sec\":1,"
		"\"eta_revisions\":[],\"events_dropped\":3,\"unknown\":{}}";

	cr_assert_eq(decode(body, C, &u, &e), PROTO_OK, "%s", e.message);
	cr_expect_eq(u.set, PROTO_F_ID | PROTO_F_SOURCE | PROTO_F_TITLE |
			    PROTO_F_STATE | PROTO_F_STARTED_AT |
			    PROTO_F_ETA_SEC | PROTO_F_PROGRESS |
			    PROTO_F_DEEPLINK | PROTO_F_METADATA |
			    PROTO_F_ETA_SOURCE | PROTO_F_ETA_CONFIDENCE |
			    PROTO_F_UPDATE_INTERVAL_HINT);
	cr_expect_str_eq(u.id, "job-1");
	cr_expect_str_eq(u.source, "gitlab");
	cr_expect_eq(u.state, PROTO_STATE_QUEUED);
	cr_expect_eq(u.started_at, T0);
	cr_expect_eq(u.eta_sec, 30);
	cr_expect_eq(u.progress, 7);
	cr_expect_eq(u.eta_source, 3);
	cr_expect_eq(u.eta_confidence, 0.25);
	cr_expect_eq(u.update_interval_hint, 20);
	cr_assert_eq(u.n_metadata, 2);
	cr_expect_str_eq(u.metadata[0].key, "b");
	cr_expect_str_eq(u.metadata[0].value, "2");
	cr_expect_str_eq(u.metadata[1].key, "gone");
	cr_expect_null(u.metadata[1].value);
	proto_race_update_fini(&u);
	cr_expect_eq(u.set, 0);
}

Test(json, null_and_empty_id_mean_unchanged)
{
	struct proto_race_update u;
	struct proto_json_error e;

	cr_assert_eq(decode("{\"id\":\"\",\"progress\":null,\"title\":null,"
			    "\"metadata\":null}", P, &u, &e), PROTO_OK);
	cr_expect_eq(u.set, 0);
	cr_expect_null(u.id);
	cr_assert_eq(decode("{}", P, &u, &e), PROTO_OK);
	cr_expect_eq(u.set, 0);
}

Test(json, numbers_accept_integral_doubles_and_refuse_fractions)
{
	static const struct {
		const char *body;
		int progress;
		int64_t eta;
		int hint;
	} table[] = {
		{"{\"progress\":12.0,\"eta_sec\":5.0,\"update_interval_hint\":3.0}",
		 12, 5, 3},
		{"{\"progress\":-0,\"eta_sec\":1e3,\"update_interval_hint\":2}",
		 0, 1000, 2},
		{"{\"progress\":5E1,\"eta_sec\":100e-2,\"update_interval_hint\":1}",
		 50, 1, 1},
	};
	/* Never rounded: each names its field. */
	static const struct {
		const char *body;
		const char *field;
	} fractions[] = {
		{"{\"progress\":50.5}", "progress"},
		{"{\"progress\":0.1}", "progress"},
		{"{\"eta_sec\":1.5}", "eta_sec"},
		{"{\"eta_sec\":99.999}", "eta_sec"},
		{"{\"update_interval_hint\":1.4}", "update_interval_hint"},
		{"{\"eta_source\":2.5}", "eta_source"},
		{"{\"progress\":5e-1}", "progress"},
	};

	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		struct proto_race_update u;
		struct proto_json_error e;

		cr_assert_eq(decode(table[i].body, P, &u, &e), PROTO_OK, "%s: %s",
			     table[i].body, e.message);
		cr_expect_eq(u.progress, table[i].progress, "%s", table[i].body);
		cr_expect_eq(u.eta_sec, table[i].eta, "%s", table[i].body);
		cr_expect_eq(u.update_interval_hint, table[i].hint, "%s",
			     table[i].body);
	}
	for (size_t i = 0; i < sizeof fractions / sizeof fractions[0]; i++) {
		struct proto_race_update u;
		struct proto_json_error e = {0};

		cr_expect_eq(decode(fractions[i].body, P, &u, &e), PROTO_EINVAL,
			     "%s", fractions[i].body);
		cr_expect_str_eq(e.code ? e.code : "", "invalid_type", "%s",
				 fractions[i].body);
		cr_expect_str_eq(e.field, fractions[i].field);
		cr_expect(strstr(e.message, "must be an integer"), "%s",
			  e.message);
	}
}

Test(json, events_decode_type_alias_data_and_timestamp)
{
	struct proto_event ev;
	struct proto_json_error e;
	const char *b1 = "{\"type\":\"step\",\"data\":{ \"a\" : [1, 2.50, "
			 "\"x/y\"] },\"timestamp\":\"2025-01-02T03:04:05.5Z\"}";
	const char *b2 = "{\"event_type\":\"log\",\"data\":null}";

	cr_assert_eq(proto_json_decode_event(b1, strlen(b1), 1, &ev, &e),
		     PROTO_OK, "%s", e.message);
	cr_expect_str_eq(ev.type, "step");
	/* Compact, with json-c's escaping of '/'; numbers keep their text. */
	cr_expect_str_eq(ev.data_json, "{\"a\":[1,2.50,\"x\\/y\"]}");
	cr_expect_eq(ev.timestamp, T0 + 500);
	proto_event_fini(&ev);
	cr_assert_eq(proto_json_decode_event(b2, strlen(b2), 77, &ev, &e),
		     PROTO_OK);
	cr_expect_str_eq(ev.type, "log");
	cr_expect_null(ev.data_json);
	cr_expect_eq(ev.timestamp, 77);
	proto_event_fini(&ev);
}

Test(json, event_errors_name_their_field)
{
	static const struct decode_error table[] = {
		{"[]", P, "invalid_type", ""},
		{"{\"data\":1}", P, "missing_field", "type"},
		{"{\"type\":null}", P, "missing_field", "type"},
		{"{\"type\":3}", P, "invalid_type", "type"},
		{"{\"type\":\"\"}", P, "invalid_value", "type"},
		{"{\"type\":\"t\",\"timestamp\":\"yesterday\"}", P,
		 "invalid_value", "timestamp"},
		{"{\"type\":\"t\",\"timestamp\":1}", P, "invalid_type",
		 "timestamp"},
		{"{\"type\":", P, "invalid_json", ""},
	};
	struct proto_json_error e;
	struct proto_event ev;
	char *body, *v;

	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		cr_expect_eq(proto_json_decode_event(table[i].body,
						     strlen(table[i].body), 0,
						     &ev, &e),
			     PROTO_EINVAL, "%s", table[i].body);
		cr_expect_str_eq(e.code, table[i].code, "%s", table[i].body);
		cr_expect_str_eq(e.field, table[i].field, "%s", table[i].body);
		cr_expect_null(ev.type);
	}
	v = repeat('t', PROTO_EVENT_TYPE_MAX + 1);
	body = xmalloc(PROTO_EVENT_DATA_MAX + 100);
	sprintf(body, "{\"type\":\"%s\"}", v);
	cr_expect_eq(proto_json_decode_event(body, strlen(body), 0, &ev, &e),
		     PROTO_EINVAL);
	cr_expect_str_eq(e.code, "too_long");
	cr_expect_str_eq(e.field, "type");
	free(v);
	/* data is limited as compact JSON: "..." adds 2 bytes of quotes. */
	v = repeat('d', PROTO_EVENT_DATA_MAX - 2);
	sprintf(body, "{\"type\":\"t\",\"data\":\"%s\"}", v);
	cr_expect_eq(proto_json_decode_event(body, strlen(body), 0, &ev, &e),
		     PROTO_OK);
	proto_event_fini(&ev);
	v[0] = 'D';
	sprintf(body, "{\"type\":\"t\",\"data\":\"d%s\"}", v);
	cr_expect_eq(proto_json_decode_event(body, strlen(body), 0, &ev, &e),
		     PROTO_EINVAL);
	cr_expect_str_eq(e.code, "too_long");
	cr_expect_str_eq(e.field, "data");
	free(v);
	free(body);
}

Test(json, race_output_has_api_keys_in_order)
{
	struct proto_race *r = full_race();
	json_object *o = proto_json_race(r);
	static const char *const keys[] = {
		"id", "source", "title", "state", "started_at", "completed_at",
		"duration_sec", "eta_sec", "progress", "deeplink", "metadata",
		"eta_source", "eta_confidence", "update_interval_hint",
		"last_progress_update", "last_eta_update", "previous_eta_sec",
		"eta_revisions", "events", "events_dropped",
	};
	size_t i = 0;
	json_object *ev, *rev;

	cr_assert_not_null(o);
	json_object_object_foreach(o, k, v) {
		(void)v;
		cr_assert_lt(i, sizeof keys / sizeof keys[0]);
		cr_expect_str_eq(k, keys[i], "position %zu", i);
		i++;
	}
	cr_expect_eq(i, sizeof keys / sizeof keys[0]);
	cr_expect_str_eq(json_object_get_string(
				 json_object_object_get(o, "completed_at")),
			 "2025-01-02T03:05:06.499Z");
	cr_expect_eq(json_object_get_int(json_object_object_get(o,
								"duration_sec")),
		     61);
	cr_expect_str_eq(json_object_get_string(json_object_object_get(o,
								       "state")),
			 "passed");
	ev = json_object_array_get_idx(json_object_object_get(o, "events"), 0);
	cr_expect_str_eq(json_object_to_json_string_ext(ev,
							JSON_C_TO_STRING_PLAIN),
			 "{\"type\":\"log\",\"data\":{\"n\":[1,2.5,\"s\"]},"
			 "\"timestamp\":\"2025-01-02T03:04:05.002Z\"}");
	rev = json_object_array_get_idx(json_object_object_get(o,
							       "eta_revisions"),
					1);
	cr_expect_str_eq(json_object_to_json_string_ext(rev,
							JSON_C_TO_STRING_PLAIN),
			 "{\"eta_sec\":90,\"timestamp\":\"2025-01-02T03:04:06.500Z\","
			 "\"source\":2,\"confidence\":0.5}");
	cr_expect_eq(json_object_get_int(json_object_object_get(o,
								"events_dropped")),
		     2);
	json_object_put(o);
	proto_race_free(r);
}

Test(json, minimal_race_output_has_only_set_fields)
{
	struct proto_race *r = minimal_race();
	char *s = race_text(r);

	cr_expect_str_eq(s, "{\"id\":\"min\",\"source\":\"cmd\",\"title\":\"m\","
			    "\"state\":\"running\","
			    "\"started_at\":\"2025-01-02T03:04:05.000Z\","
			    "\"update_interval_hint\":5}");
	free(s);
	proto_race_free(r);
}

Test(json, confidence_doubles_print_short_and_round_trip_exactly)
{
	static const struct {
		double d;
		const char *text;
	} table[] = {
		{0.5, "0.5"}, {0.85, "0.85"}, {1.0, "1.0"}, {0.0, "0.0"},
		{0.1, "0.1"}, {0.2, "0.2"}, {1.0 / 3.0, "0.3333333333333333"},
		{0.30000000000000004, "0.30000000000000004"}, {1e-7, "1e-07"},
	};

	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		struct proto_race *r = minimal_race(), *back = NULL;
		struct proto_race_update u = {.set = PROTO_F_ETA_CONFIDENCE,
					      .eta_confidence = table[i].d};
		json_object *v, *o;
		char *rec;
		size_t len;

		cr_assert_eq(proto_race_apply(r, &u, T0, NULL), PROTO_OK);
		v = proto_json_race_field(r, PROTO_F_ETA_CONFIDENCE);
		cr_expect_str_eq(json_object_to_json_string(v), table[i].text);
		json_object_put(v);
		cr_assert_eq(proto_record_encode(r, &rec, &len), PROTO_OK);
		cr_assert_eq(proto_record_decode(rec, len, &back), PROTO_OK);
		cr_expect_eq(back->eta_confidence, table[i].d, "%s",
			     table[i].text);
		o = proto_json_race(back);
		json_object_put(o);
		free(rec);
		proto_race_free(back);
		proto_race_free(r);
	}
}

Test(json, race_field_values_and_unset_fields)
{
	struct proto_race *r = minimal_race(), *f = full_race();
	static const uint32_t unset[] = {
		PROTO_F_COMPLETED_AT, PROTO_F_DURATION_SEC, PROTO_F_ETA_SEC,
		PROTO_F_PROGRESS, PROTO_F_DEEPLINK, PROTO_F_METADATA,
		PROTO_F_ETA_SOURCE, PROTO_F_ETA_CONFIDENCE,
		PROTO_F_LAST_PROGRESS_UPDATE, PROTO_F_LAST_ETA_UPDATE,
		PROTO_F_PREVIOUS_ETA_SEC, PROTO_F_ETA_REVISIONS,
		PROTO_F_EVENTS, PROTO_F_EVENTS_DROPPED,
	};
	json_object *v;

	for (size_t i = 0; i < sizeof unset / sizeof unset[0]; i++)
		cr_expect_null(proto_json_race_field(r, unset[i]), "%s",
			       proto_json_field_name(unset[i]));
	v = proto_json_race_field(r, PROTO_F_STATE);
	cr_expect_str_eq(json_object_get_string(v), "running");
	json_object_put(v);
	cr_expect_null(proto_json_race_field(r, PROTO_F_ID << 1));
	/* The EVENTS value is the last event, as a delta carries it. */
	v = proto_json_race_field(f, PROTO_F_EVENTS);
	cr_expect_str_eq(json_object_get_string(json_object_object_get(v,
								       "timestamp")),
			 "2025-01-02T03:04:05.201Z");
	json_object_put(v);
	v = proto_json_race_field(f, PROTO_F_EVENTS_DROPPED);
	cr_expect_eq(json_object_get_int(v), 2);
	json_object_put(v);
	v = proto_json_race_field(f, PROTO_F_METADATA);
	cr_expect_str_eq(json_object_to_json_string_ext(v,
							JSON_C_TO_STRING_PLAIN),
			 "{\"a\\\"q\":\"x\\/y\",\"branch\":\"main\"}");
	json_object_put(v);
	proto_race_free(r);
	proto_race_free(f);
}

Test(json, field_names)
{
	cr_expect_str_eq(proto_json_field_name(PROTO_F_LAST_ETA_UPDATE),
			 "last_eta_update");
	cr_expect_str_eq(proto_json_field_name(PROTO_F_UPDATE_INTERVAL_HINT),
			 "update_interval_hint");
	cr_expect_str_eq(proto_json_field_name(PROTO_F_EVENTS_DROPPED),
			 "events_dropped");
	cr_expect_null(proto_json_field_name(0));
	cr_expect_null(proto_json_field_name(PROTO_F_SOURCE | PROTO_F_TITLE));
}

/* encode -> decode -> encode must give identical bytes. */
static void assert_record_round_trip(struct proto_race *r)
{
	char *a, *b;
	size_t alen, blen;
	struct proto_race *back = NULL;

	cr_assert_eq(proto_record_encode(r, &a, &alen), PROTO_OK);
	cr_assert_eq(strlen(a), alen);
	cr_assert_eq(proto_record_decode(a, alen, &back), PROTO_OK, "%s", a);
	cr_assert_eq(proto_record_encode(back, &b, &blen), PROTO_OK);
	cr_expect_str_eq(b, a);
	cr_expect_eq(back->hint_explicit, r->hint_explicit);
	free(a);
	free(b);
	proto_race_free(back);
}

Test(json, record_round_trip_with_every_field)
{
	struct proto_race *r = full_race();
	char *rec;
	size_t len;

	cr_expect_eq(r->hint_explicit, 1);
	assert_record_round_trip(r);
	cr_assert_eq(proto_record_encode(r, &rec, &len), PROTO_OK);
	cr_expect(strstr(rec, ",\"v\":1,\"hint_explicit\":true}") != NULL,
		  "%s", rec + len - 40);
	free(rec);
	proto_race_free(r);
}

Test(json, record_round_trip_with_no_optional_field)
{
	struct proto_race *r = minimal_race();
	char *rec;
	size_t len;

	assert_record_round_trip(r);
	cr_assert_eq(proto_record_encode(r, &rec, &len), PROTO_OK);
	cr_expect_null(strstr(rec, "hint_explicit"));
	free(rec);
	proto_race_free(r);
}

Test(json, record_round_trip_with_deeply_nested_event_data)
{
	struct proto_race *r = minimal_race();
	char body[256] = "{\"type\":\"deep\",\"data\":";
	struct proto_event ev;
	struct proto_json_error e;
	int n = PROTO_JSON_MAX_DEPTH - 1;

	/* The request is at the parser's depth limit; the record nests the
	 * data three levels deeper and must still decode. */
	for (int i = 0; i < n; i++)
		strcat(body, "[");
	for (int i = 0; i < n; i++)
		strcat(body, "]");
	strcat(body, "}");
	cr_assert_eq(proto_json_decode_event(body, strlen(body), T0, &ev, &e),
		     PROTO_OK, "%s", e.message);
	cr_assert_eq(proto_race_add_event(r, &ev, NULL), PROTO_OK);
	assert_record_round_trip(r);
	proto_race_free(r);
}

Test(json, backward_compatible_decoding_of_a_minimal_record)
{
	const char *old = "{\"id\":\"old-1\",\"source\":\"claude-code\","
			  "\"title\":\"Old\",\"state\":\"passed\","
			  "\"started_at\":\"2024-01-01T00:00:00Z\"}";
	struct proto_race *r = NULL;

	cr_assert_eq(proto_record_decode(old, strlen(old), &r), PROTO_OK);
	cr_expect_str_eq(r->id, "old-1");
	cr_expect_eq(r->state, PROTO_STATE_PASSED);
	cr_expect_eq(r->started_at, 1704067200000);
	/* Missing hint: the source default, as at creation. */
	cr_expect_eq(r->update_interval_hint, 15);
	cr_expect_eq(r->hint_explicit, 0);
	cr_expect_eq(r->has, PROTO_F_UPDATE_INTERVAL_HINT);
	cr_expect_eq(r->n_events + r->n_metadata + r->n_eta_revisions, 0);
	proto_race_free(r);
}

Test(json, record_versions)
{
	static const struct {
		const char *v;
		int rc;
	} table[] = {
		{"", PROTO_OK}, {",\"v\":1", PROTO_OK},
		{",\"v\":2", PROTO_EINVAL}, {",\"v\":99", PROTO_EINVAL},
		{",\"v\":0", PROTO_EINVAL}, {",\"v\":\"1\"", PROTO_EINVAL},
		{",\"v\":null", PROTO_EINVAL},
	};
	char buf[256];

	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		struct proto_race *r = (struct proto_race *)buf;

		snprintf(buf, sizeof buf,
			 "{\"id\":\"a\",\"source\":\"s\",\"title\":\"t\","
			 "\"state\":\"running\",\"started_at\":"
			 "\"2024-01-01T00:00:00Z\"%s}", table[i].v);
		cr_expect_eq(proto_record_decode(buf, strlen(buf), &r),
			     table[i].rc, "%s", buf);
		if (table[i].rc != PROTO_OK)
			cr_expect_null(r);
		proto_race_free(table[i].rc == PROTO_OK ? r : NULL);
	}
}

Test(json, corrupt_records_are_rejected)
{
	static const char *const bad[] = {
		"", "[]", "{}", "{\"id\":\"a\"}",
		"{\"id\":\"a b\",\"source\":\"s\",\"title\":\"t\",\"state\":\"running\",\"started_at\":\"2024-01-01T00:00:00Z\"}",
		"{\"id\":\"a\",\"source\":\"s\",\"title\":\"t\",\"state\":\"zzz\",\"started_at\":\"2024-01-01T00:00:00Z\"}",
		"{\"id\":\"a\",\"source\":\"s\",\"title\":\"t\",\"state\":\"running\",\"started_at\":5}",
		"{\"id\":\"a\",\"source\":\"s\",\"title\":\"t\",\"state\":\"running\",\"started_at\":\"2024-01-01T00:00:00Z\",\"progress\":300}",
		"{\"id\":\"a\",\"source\":\"s\",\"title\":\"t\",\"state\":\"running\",\"started_at\":\"2024-01-01T00:00:00Z\",\"metadata\":{\"k\":1}}",
		"{\"id\":\"a\",\"source\":\"s\",\"title\":\"t\",\"state\":\"running\",\"started_at\":\"2024-01-01T00:00:00Z\",\"eta_revisions\":[{\"eta_sec\":1}]}",
		"{\"id\":\"a\",\"source\":\"s\",\"title\":\"t\",\"state\":\"running\",\"started_at\":\"2024-01-01T00:00:00Z\",\"events\":[{\"type\":\"x\"}]}",
		"{\"id\":\"a\",\"source\":\"s\",\"title\":\"t\",\"state\":\"running\",\"started_at\":\"2024-01-01T00:00:00Z\",\"hint_explicit\":1}",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct proto_race *r = NULL;

		cr_expect_eq(proto_record_decode(bad[i], strlen(bad[i]), &r),
			     PROTO_EINVAL, "%s", bad[i]);
		cr_expect_null(r);
	}
}

Test(json, race_from_object_matches_the_api_object)
{
	struct proto_race *r = full_race(), *back = NULL;
	json_object *o = proto_json_race(r);
	char *a = race_text(r), *b;

	cr_assert_eq(proto_json_race_from_object(o, &back), PROTO_OK);
	b = race_text(back);
	cr_expect_str_eq(b, a);
	/* hint_explicit is server-private: not in the API object. */
	cr_expect_eq(back->hint_explicit, 0);
	free(a);
	free(b);
	json_object_put(o);
	proto_race_free(back);
	proto_race_free(r);
}

/* Every prefix of valid input fails cleanly (or, for a complete object
 * followed by whitespace, succeeds); ASan checks the rest. */
Test(json, truncated_inputs_never_crash)
{
	/* Few events keep the quadratic prefix walk fast; the dropped
	 * count is set by hand so that every field is still present. */
	struct proto_race *r = full_race_n(3);
	char *rec;
	size_t len;
	const char *req = "{\"source\":\"github\",\"title\":\"x\",\"progress\":5,"
			  "\"metadata\":{\"a\":\"b\",\"c\":null},\"state\":\"passed\","
			  "\"started_at\":\"2025-01-02T03:04:05.678+01:00\"}";
	const char *evb = "{\"type\":\"t\",\"data\":[1,{\"x\":null}],"
			  "\"timestamp\":\"2025-01-02T03:04:05Z\"}";

	r->events_dropped = 9;
	cr_assert_eq(proto_record_encode(r, &rec, &len), PROTO_OK);
	cr_assert(strstr(rec, "\"events_dropped\":9") != NULL);
	for (size_t n = 0; n < len; n++) {
		struct proto_race *back = NULL;

		cr_expect_eq(proto_record_decode(rec, n, &back), PROTO_EINVAL);
		cr_expect_null(back);
	}
	for (size_t n = 0; n < strlen(req); n++) {
		struct proto_race_update u;
		struct proto_json_error e;

		cr_expect_eq(proto_json_decode_update(req, n, C, &u, &e),
			     PROTO_EINVAL);
		cr_expect_eq(u.set, 0);
	}
	for (size_t n = 0; n < strlen(evb); n++) {
		struct proto_event ev;
		struct proto_json_error e;

		cr_expect_eq(proto_json_decode_event(evb, n, 0, &ev, &e),
			     PROTO_EINVAL);
	}
	free(rec);
	proto_race_free(r);
}

/* ---- the output tail (issue 14) ---------------------------------------- */

Test(json, output_lines_decode_in_order_with_escapes_kept)
{
	static const char body[] =
		"{\"output\":[\"plain\",\"\\u001b[1;32mok\\u001b[0m\",\"\","
		"\"tab\\there\\r\",\"<b>x</b> & \\u00e9\"]}";
	struct proto_race_update u;
	struct proto_json_error e = {0};

	cr_assert_eq(decode(body, P, &u, &e), PROTO_OK, "%s", e.message);
	cr_assert_eq(u.set, PROTO_F_OUTPUT);
	cr_assert_eq(u.n_output, 5);
	cr_assert_str_eq(u.output[0], "plain");
	cr_assert_str_eq(u.output[1], "\x1b[1;32mok\x1b[0m");
	cr_assert_str_eq(u.output[2], "");
	cr_assert_str_eq(u.output[3], "tab\there\r");
	cr_assert_str_eq(u.output[4], "<b>x</b> & \xc3\xa9");
	proto_race_update_fini(&u);
	/* null means unchanged, like every other field. */
	cr_assert_eq(decode("{\"output\":null}", P, &u, &e), PROTO_OK);
	cr_assert_eq(u.set, 0);
	proto_race_update_fini(&u);
}

Test(json, output_over_the_write_limit_is_too_many)
{
	size_t n = PROTO_OUTPUT_WRITE_MAX + 1, len = 0;
	char *body = xmalloc(16 + 4 * n);
	struct proto_race_update u;
	struct proto_json_error e = {0};

	len += (size_t)sprintf(body, "{\"output\":[");
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(body + len, "%s\"\"", i ? "," : "");
	sprintf(body + len, "]}");
	cr_assert_eq(decode(body, P, &u, &e), PROTO_EINVAL);
	cr_assert_str_eq(e.code, "too_many");
	cr_assert_str_eq(e.field, "output");
	cr_assert_null(u.output);
	/* One line fewer is fine. */
	body[len - 3] = ']';
	body[len - 2] = '}';
	body[len - 1] = '\0';
	cr_assert_eq(decode(body, P, &u, &e), PROTO_OK, "%s", e.message);
	cr_assert_eq(u.n_output, PROTO_OUTPUT_WRITE_MAX);
	proto_race_update_fini(&u);
	free(body);
}

Test(json, output_tail_is_in_the_race_and_its_record)
{
	struct proto_race *r = full_race(), *back = NULL;
	struct proto_race_update u;
	struct proto_json_error e = {0};
	char *text, *rec;
	size_t n;

	cr_assert_eq(decode("{\"output\":[\"a\",\"\\u001b[0m/b\"]}", P, &u,
			    &e), PROTO_OK);
	cr_assert_eq(proto_race_apply(r, &u, T0, NULL), PROTO_OK);
	proto_race_update_fini(&u);
	r->output_dropped = 7;
	r->has |= PROTO_F_OUTPUT_DROPPED;
	text = race_text(r);
	cr_assert_not_null(strstr(text, ",\"output\":[\"a\",\"\\u001b[0m\\/b\"],"
				  "\"output_dropped\":7}"), "%s", text);
	free(text);
	assert_record_round_trip(r);
	/* Both record decoders read it back. */
	cr_assert_eq(proto_record_encode(r, &rec, &n), PROTO_OK);
	cr_assert_eq(proto_record_decode_direct(rec, n, &back), PROTO_OK);
	cr_assert_eq(back->n_output, 2);
	cr_assert_str_eq(back->output[1], "\x1b[0m/b");
	cr_assert_eq(back->output_dropped, 7);
	proto_race_free(back);
	back = NULL;
	cr_assert_eq(proto_record_decode_json(rec, n, &back), PROTO_OK);
	cr_assert_eq(back->n_output, 2);
	proto_race_free(back);
	free(rec);
	proto_race_free(r);
}

Test(json, records_with_an_output_tail_over_its_bounds_are_corrupt)
{
	static const char head[] = "{\"id\":\"r\",\"source\":\"s\",\"title\":\"t\","
		"\"state\":\"running\",\"started_at\":\"2025-01-02T03:04:05.000Z\","
		"\"output\":[";
	char *big = xmalloc(300 * 1100 + 256), *line = repeat('z', 1025);
	struct proto_race *r = NULL;
	size_t n;

	/* A line over the line cap. */
	n = (size_t)sprintf(big, "%s\"%s\"]}", head, line);
	cr_expect_eq(proto_record_decode(big, n, &r), PROTO_EINVAL);
	/* More lines than the count cap. */
	n = (size_t)sprintf(big, "%s", head);
	for (int i = 0; i < 201; i++)
		n += (size_t)sprintf(big + n, "%s\"x\"", i ? "," : "");
	n += (size_t)sprintf(big + n, "]}");
	cr_expect_eq(proto_record_decode(big, n, &r), PROTO_EINVAL);
	/* 65 lines of 1024 bytes: over the byte cap. */
	line[1024] = '\0';
	n = (size_t)sprintf(big, "%s", head);
	for (int i = 0; i < 65; i++)
		n += (size_t)sprintf(big + n, "%s\"%s\"", i ? "," : "", line);
	n += (size_t)sprintf(big + n, "]}");
	cr_expect_eq(proto_record_decode(big, n, &r), PROTO_EINVAL);
	/* 64 of them fit exactly. */
	n = (size_t)sprintf(big, "%s", head);
	for (int i = 0; i < 64; i++)
		n += (size_t)sprintf(big + n, "%s\"%s\"", i ? "," : "", line);
	n += (size_t)sprintf(big + n, "]}");
	cr_assert_eq(proto_record_decode(big, n, &r), PROTO_OK);
	cr_expect_eq(r->n_output, 64);
	proto_race_free(r);
	free(line);
	free(big);
}
