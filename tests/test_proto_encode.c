/*
 * test_proto_encode.c - the direct writers (protocol/encode.c, buf.c)
 * against the json-c encoders they replace: every output must be byte for
 * byte what json-c prints, with the flags each path uses (server/ prints
 * races and deltas with PLAIN | NOSLASHESCAPE; records are PLAIN). Hand
 * edge cases, all 256 byte values, seeded random races, random change
 * masks, and every failure point of the buffer.
 */
#include <criterion/criterion.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "codec.h"
#include "delta.h"
#include "encode.h"
#include "json.h"
#include "race.h"
#include "record.h"

#define T0 1735787045000LL
#define API_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* The huge-reservation test needs malloc to fail rather than abort. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

/* ---- helpers ---------------------------------------------------------- */

/* Prints `o` (taken) with `flags` into a new string (*len bytes). */
static char *jc_text(json_object *o, int flags, size_t *len)
{
	const char *s;
	char *d;

	cr_assert_not_null(o, "the json-c encoder failed");
	s = json_object_to_json_string_length(o, flags, len);
	cr_assert_not_null(s);
	d = malloc(*len + 1);
	cr_assert_not_null(d);
	memcpy(d, s, *len + 1);
	json_object_put(o);
	return d;
}

/* Asserts two byte strings are equal, showing where they part. */
static void same(const char *want, size_t wn, const char *got, size_t gn,
		 const char *what)
{
	size_t i = 0;

	while (i < wn && i < gn && want[i] == got[i])
		i++;
	if (i == wn && i == gn)
		return;
	cr_assert_fail("%s differs at byte %zu (json-c %zu bytes, direct %zu)"
		       "\n json-c: ...%.80s\n direct: ...%.80s",
		       what, i, wn, gn, want + (i > 20 ? i - 20 : 0),
		       got + (i > 20 ? i - 20 : 0));
}

static void check_race(const struct proto_race *r)
{
	struct proto_buf b;
	size_t wn;
	char *want = jc_text(proto_json_race(r), API_FLAGS, &wn);

	proto_buf_init(&b, 16);
	cr_assert_eq(proto_race_write(&b, r), PROTO_OK);
	same(want, wn, proto_buf_text(&b), b.len, "race");
	cr_assert_eq(b.data[b.headroom + b.len], '\0');
	proto_buf_fini(&b);
	free(want);
}

static void check_record(const struct proto_race *r)
{
	struct proto_buf b;
	char *want, *got;
	size_t wn, gn;

	cr_assert_eq(proto_record_encode_json(r, &want, &wn), PROTO_OK);
	cr_assert_eq(proto_record_encode(r, &got, &gn), PROTO_OK);
	same(want, wn, got, gn, "record (proto_record_encode)");
	cr_assert_eq(got[gn], '\0');
	proto_buf_init(&b, 0);
	cr_assert_eq(proto_record_write(&b, r), PROTO_OK);
	same(want, wn, proto_buf_text(&b), b.len, "record (write)");
	proto_buf_fini(&b);
	free(want);
	free(got);
}

static void check_delta(uint64_t seq, int64_t t, enum proto_delta_op op,
			const char *id, const struct proto_race *r,
			uint32_t changed)
{
	struct proto_buf b;
	size_t wn;
	char *want = jc_text(proto_delta_new(seq, t, op, id, r, changed),
			     API_FLAGS, &wn);

	proto_buf_init(&b, 16);
	cr_assert_eq(proto_delta_write(&b, seq, t, op, id, r, changed),
		     PROTO_OK);
	same(want, wn, proto_buf_text(&b), b.len, "delta");
	proto_buf_fini(&b);
	free(want);
}

/* Every encoding of `r`, with a few change masks. */
static void check_all(const struct proto_race *r, uint64_t mask_seed)
{
	uint64_t s = mask_seed * 0x9e3779b97f4a7c15u + 1;

	check_race(r);
	check_record(r);
	check_delta(1, T0, PROTO_DELTA_CREATE, NULL, r, 0);
	check_delta(UINT64_MAX, -1, PROTO_DELTA_DELETE, NULL, r, 0);
	check_delta(2, T0, PROTO_DELTA_UPDATE, NULL, r, 0);
	check_delta(3, T0, PROTO_DELTA_UPDATE, NULL, r, 0xffffffffu);
	for (int i = 0; i < 4; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		check_delta(4 + (uint64_t)i, T0 + i, PROTO_DELTA_UPDATE,
			    NULL, r, (uint32_t)s);
	}
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	cr_assert_not_null(d);
	return d;
}

/* A bare valid race, fields set directly (not through the update rules:
 * the writers must print any valid race). */
static struct proto_race *bare_race(void)
{
	struct proto_race *r = calloc(1, sizeof *r);

	cr_assert_not_null(r);
	r->id = xstrdup("r-1");
	r->source = xstrdup("cmd");
	r->title = xstrdup("x");
	r->state = PROTO_STATE_RUNNING;
	r->started_at = T0;
	r->update_interval_hint = 5;
	r->has = PROTO_F_UPDATE_INTERVAL_HINT;
	return r;
}

static void add_meta(struct proto_race *r, const char *k, const char *v)
{
	struct proto_kv *m = realloc(r->metadata,
				     (r->n_metadata + 1) * sizeof *m);

	cr_assert_not_null(m);
	r->metadata = m;
	m[r->n_metadata].key = xstrdup(k);
	m[r->n_metadata].value = xstrdup(v);
	r->n_metadata++;
	r->has |= PROTO_F_METADATA;
}

/* An event as the server stores it: decoded from a request body, so its
 * data_json is what json-c printed. `data` is JSON source text or NULL. */
static void add_event(struct proto_race *r, const char *type,
		      const char *data, int64_t ts)
{
	json_object *t = json_object_new_string(type);
	size_t tn, cap = strlen(type) * 6 + (data ? strlen(data) : 0) + 128;
	char *tj = jc_text(t, JSON_C_TO_STRING_PLAIN, &tn), *body = malloc(cap);
	struct proto_json_error e;
	struct proto_event ev;

	cr_assert_not_null(body);
	snprintf(body, cap, "{\"type\":%s%s%s}", tj, data ? ",\"data\":" : "",
		 data ? data : "");
	cr_assert_eq(proto_json_decode_event(body, strlen(body), ts, &ev, &e),
		     PROTO_OK, "%s: %s", body, e.message);
	cr_assert_eq(proto_race_add_event(r, &ev, NULL), PROTO_OK);
	free(body);
	free(tj);
}

/* ---- hand-written edge cases ------------------------------------------ */

Test(encode, minimal_race_from_a_create_request)
{
	const char *body = "{\"source\":\"cmd\",\"title\":\"x\"}";
	struct proto_race_update u;
	struct proto_json_error e;
	struct proto_race *r;

	cr_assert_eq(proto_json_decode_update(body, strlen(body),
					      PROTO_JSON_CREATE, &u, &e),
		     PROTO_OK);
	r = proto_race_create(&u, "r-1", T0, NULL);
	cr_assert_not_null(r);
	check_all(r, 1);
	r->hint_explicit = 1;
	check_record(r);
	proto_race_update_fini(&u);
	proto_race_free(r);
}

Test(encode, every_field_set)
{
	struct proto_race *r = bare_race();

	r->has |= PROTO_F_ETA_SEC | PROTO_F_PROGRESS | PROTO_F_DEEPLINK |
		PROTO_F_ETA_SOURCE | PROTO_F_ETA_CONFIDENCE |
		PROTO_F_COMPLETED_AT | PROTO_F_DURATION_SEC |
		PROTO_F_LAST_PROGRESS_UPDATE | PROTO_F_LAST_ETA_UPDATE |
		PROTO_F_PREVIOUS_ETA_SEC;
	r->state = PROTO_STATE_PASSED;
	r->eta_sec = 600;
	r->progress = 100;
	r->deeplink = xstrdup("https://ci.example.com/a/b?c=d&e=\"f\"");
	r->eta_source = PROTO_ETA_ADAPTER;
	r->eta_confidence = 0.85;
	r->completed_at = T0 + 61000;
	r->duration_sec = 61;
	r->last_progress_update = T0 + 1;
	r->last_eta_update = T0 + 2;
	r->previous_eta_sec = 700;
	r->hint_explicit = 1;
	for (int i = 0; i < PROTO_ETA_REVISIONS_MAX; i++) {
		r->eta_revisions[i] = (struct proto_eta_revision){
			.eta_sec = 100 * i, .timestamp = T0 + i,
			.source = 1 + i % 4, .confidence = i / 7.0};
	}
	r->n_eta_revisions = PROTO_ETA_REVISIONS_MAX;
	r->has |= PROTO_F_ETA_REVISIONS;
	add_meta(r, "branch", "main");
	add_meta(r, "commit", "abc/def");
	add_event(r, "log", "{\"line\":\"a/b\",\"n\":[1,2.50,null,true]}",
		  T0);
	add_event(r, "ping", NULL, T0 + 1);
	r->events_dropped = 3;
	r->has |= PROTO_F_EVENTS_DROPPED;
	check_all(r, 2);
	proto_race_free(r);
}

Test(encode, empty_metadata_and_unset_optionals_are_absent)
{
	struct proto_race *r = bare_race();

	/* A `has` bit without entries: both paths leave the key out. */
	r->has |= PROTO_F_METADATA | PROTO_F_ETA_REVISIONS | PROTO_F_EVENTS;
	check_all(r, 3);
	r->has = 0;
	check_all(r, 4);
	proto_race_free(r);
}

Test(encode, every_byte_value_in_every_string)
{
	for (int c = 1; c < 256; c++) {
		struct proto_race *r = bare_race();
		char s[8] = {'a', (char)c, 'b', (char)c, (char)c, '\0'};

		free(r->title);
		r->title = xstrdup(s);
		free(r->source);
		r->source = xstrdup(s + 1);
		r->deeplink = xstrdup(s);
		r->has |= PROTO_F_DEEPLINK;
		add_meta(r, s, s + 3);
		r->events = calloc(1, sizeof *r->events);
		cr_assert_not_null(r->events);
		r->events[0].type = xstrdup(s);
		r->events[0].timestamp = T0;
		r->n_events = 1;
		r->has |= PROTO_F_EVENTS;
		check_all(r, (uint64_t)c);
		/* A delete names its race by the id it is given. */
		check_delta(9, T0, PROTO_DELTA_DELETE, s, NULL, 0);
		proto_race_free(r);
	}
}

Test(encode, json_c_escapes_as_documented)
{
	/* What encode.c's table claims, against json-c itself. */
	for (int c = 1; c < 256; c++) {
		char s[2] = {(char)c, '\0'}, want[16];
		size_t n;
		char *got = jc_text(json_object_new_string(s), API_FLAGS, &n);

		if (c == '"' || c == '\\')
			snprintf(want, sizeof want, "\"\\%c\"", c);
		else if (c == '\b' || c == '\f' || c == '\n' || c == '\r' ||
			 c == '\t')
			snprintf(want, sizeof want, "\"\\%c\"",
				 "bfnrt"[strchr("\b\f\n\r\t", c) -
					 "\b\f\n\r\t"]);
		else if (c < 0x20)
			snprintf(want, sizeof want, "\"\\u%04x\"", c);
		else
			snprintf(want, sizeof want, "\"%c\"", c);
		cr_assert_str_eq(got, want, "byte 0x%02x", c);
		free(got);
		got = jc_text(json_object_new_string(s), JSON_C_TO_STRING_PLAIN,
			      &n);
		if (c == '/')
			cr_assert_str_eq(got, "\"\\/\"");
		else
			cr_assert_str_eq(got, want, "byte 0x%02x", c);
		free(got);
	}
}

Test(encode, max_length_strings_and_limits)
{
	struct proto_race *r = bare_race();
	char *big = malloc(PROTO_META_VALUE_MAX + 1);
	char key[PROTO_META_KEY_MAX + 1];

	cr_assert_not_null(big);
	for (int i = 0; i < PROTO_META_VALUE_MAX; i++)
		big[i] = "\"\\/\x01\x1f\x7f\n"[i % 7];
	big[PROTO_META_VALUE_MAX] = '\0';
	free(r->title);
	r->title = strndup(big, PROTO_TITLE_MAX);
	r->deeplink = malloc(PROTO_DEEPLINK_MAX + 1);
	cr_assert_not_null(r->deeplink);
	memset(r->deeplink, '/', PROTO_DEEPLINK_MAX);
	r->deeplink[PROTO_DEEPLINK_MAX] = '\0';
	r->has |= PROTO_F_DEEPLINK;
	for (int i = 0; i < PROTO_META_KEYS_MAX; i++) {
		memset(key, 'k', PROTO_META_KEY_MAX);
		key[PROTO_META_KEY_MAX - 2] = (char)('0' + i / 10);
		key[PROTO_META_KEY_MAX - 1] = (char)('0' + i % 10);
		key[PROTO_META_KEY_MAX] = '\0';
		add_meta(r, key, big);
	}
	for (int i = 0; i < PROTO_EVENTS_MAX; i++)
		add_event(r, "t/\"", "[\"/\",\"\\\\/\",{\"a/b\":\"\\u0000\"}]",
			  T0 + i);
	check_all(r, 5);
	free(big);
	proto_race_free(r);
}

Test(encode, integer_extremes_and_negative_timestamps)
{
	static const int64_t times[] = {
		0, -1, -999, -1000, -86400001, INT64_MIN, INT64_MAX,
		-62135596800000LL,  /* 0001-01-01 */
		-62167219200001LL,  /* just before year 0 */
		253402300799999LL,  /* 9999-12-31T23:59:59.999 */
		253402300800000LL,  /* year 10000 */
	};
	struct proto_race *r = bare_race();

	r->has |= PROTO_F_ETA_SEC | PROTO_F_DURATION_SEC |
		PROTO_F_PREVIOUS_ETA_SEC | PROTO_F_PROGRESS |
		PROTO_F_COMPLETED_AT | PROTO_F_LAST_ETA_UPDATE |
		PROTO_F_EVENTS_DROPPED | PROTO_F_ETA_SOURCE;
	for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
		r->eta_sec = i % 2 ? INT64_MAX : INT64_MIN;
		r->duration_sec = times[i];
		r->previous_eta_sec = -(int64_t)i;
		r->progress = i % 2 ? INT_MAX : INT_MIN;
		r->eta_source = -1;
		r->started_at = times[i];
		r->completed_at = times[(i + 1) % 11];
		r->last_eta_update = times[(i + 5) % 11];
		r->events_dropped = i % 2 ? UINT64_MAX : (uint64_t)INT64_MAX + 1;
		r->eta_revisions[0] = (struct proto_eta_revision){
			.eta_sec = INT64_MIN, .timestamp = times[i],
			.source = INT_MIN, .confidence = 1};
		r->n_eta_revisions = 1;
		check_all(r, 6 + i);
		check_delta(UINT64_MAX, times[i], PROTO_DELTA_CREATE, NULL, r,
			    0);
	}
	proto_race_free(r);
}

Test(encode, confidence_doubles)
{
	static const double ds[] = {
		0.1, 0.85, 1, 1e-7, 0, -0.0, 0.5, 1.0 / 3, 2.0 / 3, 0.999999,
		1e-300, 5e-324, DBL_MIN, DBL_MAX, 123456789.0, 1e21, 1e22,
		0.30000000000000004, 100, 1e16, 12345678901234567.0,
	};
	struct proto_race *r = bare_race();

	r->has |= PROTO_F_ETA_CONFIDENCE;
	for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
		r->eta_confidence = ds[i];
		r->eta_revisions[0].confidence = -ds[i];
		r->n_eta_revisions = 1;
		check_all(r, 100 + i);
	}
	/* Not valid confidences, but the two paths still agree. */
	r->eta_confidence = NAN;
	check_race(r);
	r->eta_confidence = INFINITY;
	r->eta_revisions[0].confidence = -INFINITY;
	check_race(r);
	check_record(r);
	proto_race_free(r);
}

/* json-c's double text and the shared helper, over many bit patterns. */
Test(encode, double_format_matches_json_c_double_text)
{
	uint64_t s = 12345;

	for (int i = 0; i < 20000; i++) {
		double d;
		char buf[PROTO_CODEC_DOUBLE_BUFSZ];
		size_t n, jn;
		char *j;

		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		if (i % 2) {
			memcpy(&d, &s, sizeof d);
		} else {
			d = (double)(s % 1000001) / 1000000.0;
		}
		n = proto_codec_format_double(d, buf);
		cr_assert_eq(n, strlen(buf));
		j = jc_text(proto_codec_new_double(d), API_FLAGS, &jn);
		same(j, jn, buf, n, "double");
		free(j);
	}
}

/* The rule the formatter implements, spelled out the slow way: the
 * smallest %g precision that reads back as the same double. */
static void shortest_by_search(double d, char buf[PROTO_CODEC_DOUBLE_BUFSZ])
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, PROTO_CODEC_DOUBLE_BUFSZ, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (!strpbrk(buf, ".eEn"))
		strcat(buf, ".0");
}

Test(encode, double_format_is_the_shortest_round_trip)
{
	static const double odd[] = {
		0.0, -0.0, 1.0, -1.0, 0.1, 0.85, 1.0 / 3, 2.0 / 3, 1e14, 1e15,
		1e16, 1e17, 123456789012345.0, 1234567890123456.0, 1e-5, 1e-7,
		4.9e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
		9007199254740993.0, 0.30000000000000004, 100, 1e21, 1e22,
		HUGE_VAL, -HUGE_VAL, NAN,
	};
	char want[PROTO_CODEC_DOUBLE_BUFSZ], got[PROTO_CODEC_DOUBLE_BUFSZ];
	uint64_t s = 99;

	for (size_t i = 0; i < sizeof odd / sizeof odd[0] + 60000; i++) {
		double d;

		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		if (i < sizeof odd / sizeof odd[0])
			d = odd[i];
		else if (i % 3 == 0)
			memcpy(&d, &s, sizeof d);          /* any bits */
		else if (i % 3 == 1)                    /* k-digit decimals */
			d = (double)(s % 100000000000000000ULL) /
				pow(10, (double)((s >> 59) % 20));
		else                                    /* computed values */
			d = (double)(s >> 11) / (double)(1ULL << 53) * 600;
		shortest_by_search(d, want);
		proto_codec_format_double(d, got);
		cr_assert_str_eq(got, want, "%.17g", d);
	}
}

Test(encode, event_data_forms)
{
	static const char *const datas[] = {
		"null", "0", "-0", "-0.0", "1.50", "1e5", "1E400", "-1E400",
		"99999999999999999999", "-99999999999999999999",
		"18446744073709551615", "9223372036854775808", "true",
		"\"\"", "\"/\"", "\"\\/\"", "\"\\\\/\"", "\"\\\\\\/\"",
		"\"a\\u0000b\"", "\"\\ud83d\\ude00 \\u00e9 \xc3\xa9\"",
		"{}", "[]", "[[[[]]]]", " { \"a/b\" : [ 1 , 2 ] , \"a/b\" : 3 } ",
		"{\"k\":\"\\u0000x\"}", "{\"\\\\\":\"\\\\\"}",
		"{\"x\":{\"y\":{\"z\":[1,\"/\",{\"w\":\"\\b\\f\\n\\r\\t\"}]}}}",
	};
	struct proto_race *r = bare_race();

	for (size_t i = 0; i < sizeof datas / sizeof datas[0]; i++)
		add_event(r, "t", datas[i], T0 + (int64_t)i);
	check_all(r, 7);
	proto_race_free(r);
}

Test(encode, extra_member_matches_object_add)
{
	static const char pp[] = "{\"eta_sec\":12,\"model\":\"a/b\"}";
	struct proto_json_extra x = {"progress_prediction", pp, sizeof pp - 1};
	struct proto_race *r = bare_race();
	json_object *o, *changes;
	struct proto_buf b;
	size_t wn;
	char *want;

	r->has |= PROTO_F_PROGRESS;
	r->progress = 5;
	o = proto_json_race(r);
	json_object_object_add(o, x.key, json_tokener_parse(pp));
	want = jc_text(o, API_FLAGS, &wn);
	proto_buf_init(&b, 16);
	cr_assert_eq(proto_race_write_ex(&b, r, &x), PROTO_OK);
	same(want, wn, proto_buf_text(&b), b.len, "race + extra");
	free(want);
	/* In an update's "changes", with and without other members. */
	for (uint32_t changed = 0; changed <= PROTO_F_PROGRESS;
	     changed += PROTO_F_PROGRESS) {
		o = proto_delta_new(8, T0, PROTO_DELTA_UPDATE, NULL, r,
				    changed);
		cr_assert(json_object_object_get_ex(o, "changes", &changes));
		json_object_object_add(changes, x.key, json_tokener_parse(pp));
		want = jc_text(o, API_FLAGS, &wn);
		proto_buf_reset(&b);
		cr_assert_eq(proto_delta_write_ex(&b, 8, T0, PROTO_DELTA_UPDATE,
						  NULL, r, changed, &x),
			     PROTO_OK);
		same(want, wn, proto_buf_text(&b), b.len, "delta + extra");
		free(want);
	}
	cr_assert_eq(proto_delta_write_ex(&b, 8, T0, PROTO_DELTA_CREATE, NULL,
					  r, 0, &x), PROTO_EINVAL);
	proto_buf_fini(&b);
	proto_race_free(r);
}

Test(encode, delta_bad_arguments_write_nothing)
{
	struct proto_race *r = bare_race();
	struct proto_buf b;

	proto_buf_init(&b, 0);
	cr_assert_eq(proto_buf_append(&b, "keep", 4), PROTO_OK);
	cr_assert_null(proto_delta_new(1, T0, PROTO_DELTA_UPDATE, "x", NULL,
				       0));
	cr_assert_eq(proto_delta_write(&b, 1, T0, PROTO_DELTA_UPDATE, "x",
				       NULL, 0), PROTO_EINVAL);
	cr_assert_eq(proto_delta_write(&b, 1, T0, PROTO_DELTA_CREATE, NULL,
				       NULL, 0), PROTO_EINVAL);
	cr_assert_eq(proto_delta_write(&b, 1, T0, PROTO_DELTA_DELETE, NULL,
				       NULL, 0), PROTO_EINVAL);
	cr_assert_eq(proto_delta_write(&b, 1, T0, (enum proto_delta_op)7,
				       NULL, r, 0), PROTO_EINVAL);
	cr_assert_str_eq(proto_buf_text(&b), "keep");
	/* An explicit id wins over the race's own. */
	check_delta(1, T0, PROTO_DELTA_UPDATE, "other", r, PROTO_F_TITLE);
	proto_buf_fini(&b);
	proto_race_free(r);
}

/* ---- seeded random races ---------------------------------------------- */

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static unsigned pick(uint64_t *s, unsigned n)
{
	return (unsigned)(next(s) % n);
}

/* Text for a C string: ASCII (controls and DEL included), the bytes JSON
 * escapes, and multi-byte UTF-8. */
static char *random_string(uint64_t *s, size_t max)
{
	static const char *const pieces[] = {
		"/", "\"", "\\", "\x7f", "\x01", "\x1f", "\b", "\f", "\n",
		"\r", "\t", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
		" ", "https://", "</script>",
	};
	size_t n = max ? pick(s, (unsigned)max + 1) : 0, len = 0;
	char *out = malloc(max + 8);

	cr_assert_not_null(out);
	while (len < n) {
		const char *p;
		size_t k;

		if (pick(s, 3)) {
			out[len++] = (char)(0x20 + pick(s, 0x5f));
			continue;
		}
		p = pieces[pick(s, sizeof pieces / sizeof pieces[0])];
		k = strlen(p);
		if (len + k > n)
			break;
		memcpy(out + len, p, k);
		len += k;
	}
	out[len] = '\0';
	return out;
}

/* Random JSON source text for an event's data, appended at *len. */
static void random_json(uint64_t *s, char *buf, size_t *len, size_t cap,
			int depth)
{
	static const char *const atoms[] = {
		"0", "-0", "1", "-17", "123456789012345678901234567890",
		"-99999999999999999999", "18446744073709551615",
		"9223372036854775808", "-9223372036854775809", "1.50", "-0.0",
		"1e5", "1E400", "2.5e-3", "0.1",
		"3.141592653589793238462643383279", "true", "false", "null",
	};
	static const char *const strs[] = {
		"\"\"", "\"a/b\"", "\"\\/\"", "\"\\\\\"", "\"\\\"q\\\"\"",
		"\"\\n\\t\\b\\f\\r\"", "\"\\u00e9\\u0001\\u001F\"",
		"\"\xc3\xa9\xe2\x82\xac\"", "\"\\ud83d\\ude00\"",
		"\"\\u0000\"", "\"\\u007f\x7f\"", "\"http:\\/\\/x\\/y\"",
	};
	unsigned k = depth > 4 ? pick(s, 2) : pick(s, 4);

	if (cap - *len < 256)
		k = 0;
	if (pick(s, 4) == 0)
		buf[(*len)++] = ' ';
	if (k == 0) {
		const char *a = pick(s, 2) ?
			atoms[pick(s, sizeof atoms / sizeof atoms[0])] :
			strs[pick(s, sizeof strs / sizeof strs[0])];

		*len += (size_t)snprintf(buf + *len, cap - *len, "%s", a);
	} else if (k == 1) {
		*len += (size_t)snprintf(buf + *len, cap - *len, "%d",
					 (int)next(s));
	} else {
		int obj = k == 2, n = (int)pick(s, 5);

		buf[(*len)++] = obj ? '{' : '[';
		for (int i = 0; i < n; i++) {
			if (i)
				buf[(*len)++] = ',';
			if (obj) {
				const char *key = strs[pick(s, sizeof strs /
							      sizeof strs[0])];

				/* A NUL in a key is refused (json_strict.c);
				 * json-c stored it cut to "". */
				if (!strcmp(key, "\"\\u0000\""))
					key = "\"\"";
				*len += (size_t)snprintf(
					buf + *len, cap - *len, "%s:", key);
			}
			random_json(s, buf, len, cap, depth + 1);
		}
		buf[(*len)++] = obj ? '}' : ']';
	}
	buf[*len] = '\0';
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct proto_kv *)a)->key,
		      ((const struct proto_kv *)b)->key);
}

static int64_t random_time(uint64_t *s)
{
	static const int64_t odd[] = {0, -1, INT64_MIN, INT64_MAX,
				      -62167219200001LL, 253402300800000LL};

	if (pick(s, 10) == 0)
		return odd[pick(s, sizeof odd / sizeof odd[0])];
	return (int64_t)(next(s) % 400000000000000ULL) - 100000000000000LL;
}

static double random_confidence(uint64_t *s)
{
	static const double odd[] = {0.1, 0.85, 1, 1e-7, 0, 0.5, 0.3};

	if (pick(s, 2))
		return odd[pick(s, sizeof odd / sizeof odd[0])];
	return (double)(next(s) >> 11) / (double)(1ULL << 53);
}

static struct proto_race *random_race(uint64_t *s)
{
	static const char idc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-";
	struct proto_race *r = calloc(1, sizeof *r);
	size_t n;

	cr_assert_not_null(r);
	n = 1 + pick(s, pick(s, 8) ? 16 : PROTO_ID_MAX);
	r->id = malloc(n + 1);
	cr_assert_not_null(r->id);
	for (size_t i = 0; i < n; i++)
		r->id[i] = idc[pick(s, sizeof idc - 1)];
	r->id[n] = '\0';
	r->source = random_string(s, 24);
	r->title = random_string(s, pick(s, 10) ? 80 : PROTO_TITLE_MAX);
	r->state = (enum proto_state)pick(s, 5);
	r->started_at = random_time(s);
	r->has = (uint32_t)next(s) &
		(PROTO_F_ETA_SEC | PROTO_F_PROGRESS | PROTO_F_DEEPLINK |
		 PROTO_F_ETA_SOURCE | PROTO_F_ETA_CONFIDENCE |
		 PROTO_F_UPDATE_INTERVAL_HINT | PROTO_F_COMPLETED_AT |
		 PROTO_F_DURATION_SEC | PROTO_F_LAST_PROGRESS_UPDATE |
		 PROTO_F_LAST_ETA_UPDATE | PROTO_F_PREVIOUS_ETA_SEC);
	r->eta_sec = pick(s, 8) ? pick(s, 100000) :
		(int64_t)(next(s) % PROTO_ETA_MAX_SEC);
	r->progress = (int)pick(s, 101);
	if (r->has & PROTO_F_DEEPLINK)
		r->deeplink = random_string(s, pick(s, 10) ? 100 :
					    PROTO_DEEPLINK_MAX);
	r->eta_source = 1 + (int)pick(s, 4);
	r->eta_confidence = random_confidence(s);
	r->update_interval_hint = 1 + (int)pick(s, PROTO_HINT_MAX_SEC);
	r->hint_explicit = (int)pick(s, 2);
	r->completed_at = random_time(s);
	r->duration_sec = pick(s, 4) ? pick(s, 100000) : (int64_t)(next(s) >> 1);
	r->last_progress_update = random_time(s);
	r->last_eta_update = random_time(s);
	r->previous_eta_sec = pick(s, 100000);
	r->n_eta_revisions = pick(s, PROTO_ETA_REVISIONS_MAX + 1);
	for (size_t i = 0; i < r->n_eta_revisions; i++) {
		r->eta_revisions[i] = (struct proto_eta_revision){
			.eta_sec = pick(s, 100000), .timestamp = random_time(s),
			.source = 1 + (int)pick(s, 4),
			.confidence = random_confidence(s)};
	}
	if (r->n_eta_revisions)
		r->has |= PROTO_F_ETA_REVISIONS;
	n = pick(s, 4) ? pick(s, 9) : pick(s, PROTO_META_KEYS_MAX + 1);
	r->metadata = calloc(n + 1, sizeof *r->metadata);
	cr_assert_not_null(r->metadata);
	for (size_t i = 0; i < n; i++) {
		r->metadata[i].key = random_string(s, 20);
		r->metadata[i].value = random_string(s, pick(s, 10) ? 40 :
						     PROTO_META_VALUE_MAX);
	}
	/* Sorted, unique keys: the race invariant (json-c would also merge
	 * duplicates, which a valid race never has). */
	qsort(r->metadata, n, sizeof *r->metadata, kv_cmp);
	r->n_metadata = 0;
	for (size_t i = 0; i < n; i++) {
		if (r->n_metadata &&
		    strcmp(r->metadata[r->n_metadata - 1].key,
			   r->metadata[i].key) == 0) {
			free(r->metadata[i].key);
			free(r->metadata[i].value);
			continue;
		}
		r->metadata[r->n_metadata++] = r->metadata[i];
	}
	if (r->n_metadata)
		r->has |= PROTO_F_METADATA;
	n = pick(s, 3) ? pick(s, 13) : pick(s, 40);
	for (size_t i = 0; i < n; i++) {
		char data[4096], *type = random_string(s, 16);
		size_t len = 0;

		if (!type[0]) {
			free(type);
			type = xstrdup("t");
		}
		random_json(s, data, &len, sizeof data, 0);
		add_event(r, type, pick(s, 5) ? data : NULL, random_time(s));
		free(type);
	}
	r->events_dropped = pick(s, 3) ? 0 : next(s) >> pick(s, 64);
	if (r->events_dropped)
		r->has |= PROTO_F_EVENTS_DROPPED;
	/* The output tail: lines without line ends, within its bounds (at
	 * most 60 lines of at most PROTO_OUTPUT_LINE_MAX bytes each). */
	n = pick(s, 3) ? pick(s, 6) : pick(s, 61);
	r->output = calloc(n + 1, sizeof *r->output);
	cr_assert_not_null(r->output);
	for (size_t i = 0; i < n; i++) {
		char *line = random_string(s, pick(s, 8) ? 60 :
					   PROTO_OUTPUT_LINE_MAX);

		for (char *p = line; (p = strchr(p, '\n'));)
			*p = ' ';
		r->output[r->n_output++] = line;
	}
	if (r->n_output)
		r->has |= PROTO_F_OUTPUT;
	r->output_appended = pick(s, r->n_output + 2);
	r->output_dropped = pick(s, 2) ? 0 : next(s) >> pick(s, 64);
	if (r->output_dropped)
		r->has |= PROTO_F_OUTPUT_DROPPED;
	return r;
}

Test(encode, random_races_match_json_c, .timeout = 300)
{
	uint64_t seed = 0x5eedc0de12345678u;

	for (int i = 0; i < 600; i++) {
		struct proto_race *r = random_race(&seed);

		check_all(r, seed);
		proto_race_free(r);
	}
}

/* The same races after a record round trip: what the store loads back
 * must encode to the same bytes again. */
Test(encode, random_races_survive_a_record_round_trip, .timeout = 300)
{
	uint64_t seed = 77;
	int decoded = 0;

	for (int i = 0; i < 200; i++) {
		struct proto_race *r = random_race(&seed), *back = NULL;
		char *rec, *again;
		size_t n, m;

		/* Decoding checks ranges the generator does not keep to,
		 * and gives a race without a hint its source's default. */
		r->has |= PROTO_F_UPDATE_INTERVAL_HINT;
		r->started_at = T0;
		for (size_t k = 0; k < r->n_events; k++)
			r->events[k].timestamp = T0 + (int64_t)k;
		r->completed_at = r->last_progress_update =
			r->last_eta_update = T0;
		for (size_t k = 0; k < r->n_eta_revisions; k++)
			r->eta_revisions[k].timestamp = T0;
		cr_assert_eq(proto_record_encode(r, &rec, &n), PROTO_OK);
		if (proto_record_decode(rec, n, &back) == PROTO_OK) {
			decoded++;
			check_all(back, (uint64_t)i);
			cr_assert_eq(proto_record_encode(back, &again, &m),
				     PROTO_OK);
			same(rec, n, again, m, "record after round trip");
			free(again);
		}
		proto_race_free(back);
		free(rec);
		proto_race_free(r);
	}
	cr_expect_gt(decoded, 100, "only %d of 200 records decoded", decoded);
}

/* ---- the direct record decoder (record_scan.c) ------------------------ */

/*
 * Decodes `text` with both record decoders. Where the direct one accepts
 * it, the json-c one must too, with the same race (compared by the record
 * each writes). Returns 1 when the direct decoder accepted it.
 */
static int decoders_agree(const char *text, size_t n)
{
	struct proto_race *direct = NULL, *ref = NULL;
	int rc = proto_record_decode_direct(text, n, &direct);
	char *a, *b;
	size_t an, bn;

	if (rc == PROTO_RECORD_DECLINED) {
		cr_assert_null(direct);
		return 0;
	}
	cr_assert_eq(rc, PROTO_OK);
	cr_assert_eq(proto_record_decode_json(text, n, &ref), PROTO_OK,
		     "json-c refused what the direct decoder took: %.*s",
		     (int)(n > 300 ? 300 : n), text);
	cr_assert_eq(proto_record_encode(direct, &a, &an), PROTO_OK);
	cr_assert_eq(proto_record_encode(ref, &b, &bn), PROTO_OK);
	same(b, bn, a, an, "record decoded directly");
	cr_assert_eq(direct->hint_explicit, ref->hint_explicit);
	cr_assert_eq(direct->has, ref->has);
	free(a);
	free(b);
	proto_race_free(direct);
	proto_race_free(ref);
	return 1;
}

/* A random race whose record both decoders should accept. */
static struct proto_race *loadable_race(uint64_t *seed)
{
	struct proto_race *r = random_race(seed);

	r->has |= PROTO_F_UPDATE_INTERVAL_HINT;
	r->started_at = T0;
	for (size_t k = 0; k < r->n_events; k++)
		r->events[k].timestamp = T0 + (int64_t)k;
	r->completed_at = r->last_progress_update = r->last_eta_update = T0;
	for (size_t k = 0; k < r->n_eta_revisions; k++)
		r->eta_revisions[k].timestamp = T0;
	return r;
}

/* What the server writes, the direct decoder reads by itself (or, for a
 * form it does not take, leaves to json-c), and the two agree. */
Test(encode, direct_record_decoder_agrees_with_json_c, .timeout = 300)
{
	uint64_t seed = 0xdec0de;
	int direct[2] = {0}, valid[2] = {0};

	for (int i = 0; i < 400; i++) {
		struct proto_race *r = loadable_race(&seed), *back = NULL;
		int plain = i % 2;
		char *rec;
		size_t n;

		/* The generator's event data is mostly in forms json-c
		 * rewrites (spaces, "-0", "\u" escapes), and its
		 * events_dropped goes past INT64_MAX, where json-c clamps:
		 * the direct decoder leaves those to json-c. Every other
		 * race goes without both. */
		while (plain && r->n_events)
			proto_event_fini(&r->events[--r->n_events]);
		if (plain)
			r->events_dropped >>= 1;
		cr_assert_eq(proto_record_encode(r, &rec, &n), PROTO_OK);
		if (proto_record_decode_json(rec, n, &back) == PROTO_OK)
			valid[plain]++;
		direct[plain] += decoders_agree(rec, n);
		proto_race_free(back);
		free(rec);
		proto_race_free(r);
	}
	cr_log_info("direct decoder took %d of %d races with random events, "
		    "%d of %d without", direct[0], valid[0], direct[1],
		    valid[1]);
	cr_expect_eq(direct[1], valid[1]);
}

Test(encode, direct_record_decoder_takes_plain_records)
{
	static const char *const plain[] = {
		"{\"id\":\"r-0\",\"source\":\"snap\",\"title\":\"bench race 0\","
		"\"state\":\"running\",\"started_at\":\"2026-11-29T01:23:10.534Z\","
		"\"eta_sec\":600,\"progress\":0,\"eta_source\":2,"
		"\"eta_confidence\":0.5,\"update_interval_hint\":10,"
		"\"eta_revisions\":[{\"eta_sec\":600,\"timestamp\":"
		"\"2026-11-29T01:23:10.534Z\",\"source\":2,\"confidence\":0.5}],"
		"\"v\":1}",
		"{\"id\":\"a\",\"source\":\"s\",\"title\":\"T \\\"q\\\" \\u00e9"
		" \\ud83d\\ude00 a\\/b\",\"state\":\"failed\",\"started_at\":"
		"\"2026-01-01T00:00:00Z\",\"deeplink\":\"https:\\/\\/x\\/y\","
		"\"metadata\":{\"z\":\"1\",\"a\":\"feature\\/x\"},\"events\":"
		"[{\"type\":\"step\",\"timestamp\":\"2026-01-01T00:00:01Z\","
		"\"data\":{\"n\":-3,\"f\":1.50,\"l\":[true,false,null,\"a\\/b\\n\"],"
		"\"o\":{}}},{\"type\":\"x\",\"timestamp\":\"2026-01-01T00:00:02Z\","
		"\"data\":null}],\"events_dropped\":0,\"hint_explicit\":true}",
		"  {\"id\":\"b\" , \"source\":\"s\",\"title\":\"\",\"state\":"
		"\"queued\",\"started_at\":\"2026-01-01T00:00:00Z\",\"progress\":"
		"null,\"metadata\":{}, \"events\":[], \"eta_revisions\":[]}\n",
	};

	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
		cr_expect(decoders_agree(plain[i], strlen(plain[i])),
			  "declined: %s", plain[i]);
}

/* Forms the direct decoder must leave to json-c, each with the reason. */
Test(encode, direct_record_decoder_declines_what_json_c_reads_otherwise)
{
	static const char *const head =
		"{\"id\":\"a\",\"source\":\"s\",\"title\":\"t\",\"state\":"
		"\"running\",\"started_at\":\"2026-01-01T00:00:00Z\"";
	static const char *const tails[] = {
		",\"title\":\"again\"}",          /* json-c keeps the last */
		",\"unknown\":1}",                /* ignored by json-c */
		",\"progress\":50.0}",            /* json-c rounds it to 50 */
		",\"progress\":-0}",              /* json-c reads it as 0 */
		",\"eta_sec\":1e3}",
		",\"metadata\":{\"k\":\"1\",\"k\":\"2\"}}",
		",\"metadata\":{\"kA\":\"1\",\"k\\u0041\":\"2\"}}",
		",\"events\":[{\"type\":\"t\",\"timestamp\":\"2026-01-01T00:00:00Z\","
		"\"data\":{\"a\": 1}}]}",         /* json-c drops the space */
		",\"events\":[{\"type\":\"t\",\"timestamp\":\"2026-01-01T00:00:00Z\","
		"\"data\":\"a/b\"}]}",            /* json-c writes a\\/b */
		",\"events\":[{\"type\":\"t\",\"timestamp\":\"2026-01-01T00:00:00Z\","
		"\"data\":\"\\u0041\"}]}",        /* json-c writes A */
		",\"events\":[{\"type\":\"t\",\"timestamp\":\"2026-01-01T00:00:00Z\","
		"\"data\":{\"x\":1,\"x\":2}}]}",
		",\"events\":[{\"event_type\":\"t\",\"timestamp\":"
		"\"2026-01-01T00:00:00Z\"}]}",
		",\"title2\":\"\\ud800\"}",
		"}x",
		",\"v\":2}",
		",\"hint_explicit\":1}",
	};
	char text[512];

	for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
		snprintf(text, sizeof text, "%s%s", head, tails[i]);
		cr_expect_not(decoders_agree(text, strlen(text)),
			      "accepted: %s", text);
	}
}

/* Random damage to real records: wherever the direct decoder still says
 * yes, json-c must agree on every field (a deterministic small fuzzer;
 * fuzz/fuzz_record.c is the long-running one). */
Test(encode, direct_record_decoder_agrees_on_damaged_records,
     .timeout = 300)
{
	static const char *const inserts[] = {
		" ", "null", "-0", "1.0", "\\u0041", "\"", ",", "}", "]", "{",
		"\\/", "0", "\xc3\xa9", "\xc3", "\\ud800", "1e2", "true",
	};
	uint64_t seed = 0xbadc0de;
	int accepted = 0;

	for (int i = 0; i < 3000; i++) {
		struct proto_race *r = loadable_race(&seed);
		char *rec, *text;
		size_t n, at, cut;
		const char *ins = inserts[pick(&seed, sizeof inserts /
						      sizeof inserts[0])];

		cr_assert_eq(proto_record_encode(r, &rec, &n), PROTO_OK);
		text = malloc(n + 16);
		cr_assert_not_null(text);
		at = pick(&seed, (unsigned)n);
		cut = pick(&seed, 3);
		if (at + cut > n)
			cut = n - at;
		memcpy(text, rec, at);
		memcpy(text + at, ins, strlen(ins));
		memcpy(text + at + strlen(ins), rec + at + cut, n - at - cut);
		accepted += decoders_agree(text, n - cut + strlen(ins));
		free(text);
		free(rec);
		proto_race_free(r);
	}
	cr_log_info("damaged records the direct decoder took: %d", accepted);
}

/* ---- the buffer and its failure paths --------------------------------- */

Test(encode, writers_append_and_keep_headroom)
{
	struct proto_race *r = bare_race();
	struct proto_buf b;
	size_t wn, n;
	char *want = jc_text(proto_json_race(r), API_FLAGS, &wn), *p;

	proto_buf_init(&b, 16);
	cr_assert_eq(proto_buf_append(&b, "[", 1), PROTO_OK);
	memset(b.data, 0xAB, 16);
	cr_assert_eq(proto_race_write(&b, r), PROTO_OK);
	cr_assert_eq(proto_buf_append(&b, ",", 1), PROTO_OK);
	cr_assert_eq(proto_race_write(&b, r), PROTO_OK);
	cr_assert_eq(b.len, 2 * wn + 2);
	cr_assert_eq(memcmp(b.data + 16 + 1, want, wn), 0);
	cr_assert_eq(memcmp(b.data + 16 + 2 + wn, want, wn), 0);
	for (int i = 0; i < 16; i++)
		cr_assert_eq((unsigned char)b.data[i], 0xAB);
	p = proto_buf_steal(&b, &n);
	cr_assert_not_null(p);
	cr_assert_eq(n, 2 * wn + 2);
	cr_assert_eq(p[16 + n], '\0');
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.headroom, 16);
	free(p);
	/* An empty buffer still yields its headroom and a NUL. */
	p = proto_buf_steal(&b, &n);
	cr_assert_not_null(p);
	cr_assert_eq(n, 0);
	cr_assert_eq(p[16], '\0');
	free(p);
	cr_assert_str_eq(proto_buf_text(&b), "");
	proto_buf_fini(&b);
	proto_buf_fini(NULL);
	free(want);
	proto_race_free(r);
}

/* Runs one writer with every cap below its output size: each must fail
 * with PROTO_ELIMIT and leave the text exactly as it was. */
static void walk_failures(const struct proto_race *r, int which)
{
	struct proto_buf b;
	size_t full;
	int rc;

	proto_buf_init(&b, 8);
	proto_buf_append(&b, "prefix", 6);
	rc = which == 0 ? proto_race_write(&b, r) :
		which == 1 ? proto_record_write(&b, r) :
		proto_delta_write(&b, 1, T0, which == 2 ? PROTO_DELTA_CREATE :
				  PROTO_DELTA_UPDATE, NULL, r, 0xfffff);
	cr_assert_eq(rc, PROTO_OK);
	full = b.len;
	proto_buf_fini(&b);
	for (size_t cap = 6; cap <= full; cap++) {
		/* Fresh buffers, so each cap meets a different growth path. */
		for (int fresh = 0; fresh < 2; fresh++) {
			proto_buf_init(&b, 8);
			b.max = fresh ? cap : 0;
			cr_assert_eq(proto_buf_append(&b, "prefix", 6),
				     PROTO_OK);
			b.max = cap;
			rc = which == 0 ? proto_race_write(&b, r) :
				which == 1 ? proto_record_write(&b, r) :
				proto_delta_write(&b, 1, T0,
						  which == 2 ?
						  PROTO_DELTA_CREATE :
						  PROTO_DELTA_UPDATE,
						  NULL, r, 0xfffff);
			if (cap < full) {
				cr_assert_eq(rc, PROTO_ELIMIT, "cap %zu", cap);
				cr_assert_eq(b.len, 6);
				cr_assert_str_eq(proto_buf_text(&b), "prefix");
			} else {
				cr_assert_eq(rc, PROTO_OK);
				cr_assert_eq(b.len, full);
			}
			proto_buf_fini(&b);
		}
	}
}

Test(encode, every_failure_point_leaves_the_buffer_unchanged,
     .timeout = 300)
{
	struct proto_race *r = bare_race();

	add_meta(r, "a", "b\"c");
	add_event(r, "x", "{\"a\":[1,\"/\"]}", T0);
	r->has |= PROTO_F_DEEPLINK;
	r->deeplink = xstrdup("http://x/\x01");
	for (int which = 0; which < 4; which++)
		walk_failures(r, which);
	proto_race_free(r);
}

Test(encode, impossible_sizes_fail_cleanly)
{
	struct proto_buf b;

	proto_buf_init(&b, 0);
	cr_assert_eq(proto_buf_append(&b, "ab", 2), PROTO_OK);
	/* Overflowing sizes are refused before any allocation. */
	cr_assert_eq(proto_buf_reserve(&b, SIZE_MAX), PROTO_ENOMEM);
	cr_assert_eq(proto_buf_reserve(&b, SIZE_MAX - 1), PROTO_ENOMEM);
	/* A size malloc cannot give: realloc fails, nothing changes. */
	cr_assert_eq(proto_buf_reserve(&b, SIZE_MAX / 4), PROTO_ENOMEM);
	cr_assert_eq(b.len, 2);
	cr_assert_str_eq(proto_buf_text(&b), "ab");
	b.max = 3;
	cr_assert_eq(proto_buf_append(&b, "cd", 2), PROTO_ELIMIT);
	cr_assert_str_eq(proto_buf_text(&b), "ab");
	proto_buf_reset(&b);
	cr_assert_eq(b.len, 0);
	cr_assert_str_eq(proto_buf_text(&b), "");
	proto_buf_fini(&b);
}
