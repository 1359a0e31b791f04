/*
 * test_proto_delta.c - delta frames (protocol/delta.c): their shape, and
 * the invariant "snapshot + deltas == GET /race/{id}", checked by replaying
 * seeded random update sequences through a client-side copy.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delta.h"
#include "json.h"
#include "race.h"

#define T0 1735787045000LL

static char *text(json_object *o)
{
	char *s;

	cr_assert_not_null(o);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	cr_assert_not_null(s);
	return s;
}

static char *race_text(const struct proto_race *r)
{
	json_object *o = proto_json_race(r);
	char *s = text(o);

	json_object_put(o);
	return s;
}

static struct proto_race *create(const char *body, int64_t now)
{
	struct proto_race_update u;
	struct proto_json_error e;
	struct proto_race *r;

	cr_assert_eq(proto_json_decode_update(body, strlen(body),
					      PROTO_JSON_CREATE, &u, &e),
		     PROTO_OK, "%s", e.message);
	r = proto_race_create(&u, "r-1", now, NULL);
	cr_assert_not_null(r);
	proto_race_update_fini(&u);
	return r;
}

static uint32_t patch(struct proto_race *r, const char *body, int64_t now)
{
	struct proto_race_update u;
	struct proto_json_error e;
	uint32_t changed = 0;

	cr_assert_eq(proto_json_decode_update(body, strlen(body),
					      PROTO_JSON_PATCH, &u, &e),
		     PROTO_OK, "%s: %s", body, e.message);
	cr_assert_eq(proto_race_apply(r, &u, now, &changed), PROTO_OK);
	proto_race_update_fini(&u);
	return changed;
}

/* Builds the delta, round-trips it through its text like a client, and
 * applies it to *client. */
static void replay(struct proto_race **client, uint64_t seq,
		   enum proto_delta_op op, const struct proto_race *server,
		   uint32_t changed)
{
	json_object *d = proto_delta_new(seq, T0, op, server ? NULL : "r-1",
					 server, changed);
	char *s = text(d);
	json_object *parsed = json_tokener_parse(s);

	cr_assert_eq(proto_delta_apply(parsed, client), PROTO_OK, "%s", s);
	json_object_put(parsed);
	json_object_put(d);
	free(s);
}

Test(delta, create_delta_shape)
{
	struct proto_race *r = create("{\"source\":\"cmd\",\"title\":\"x\"}", T0);
	json_object *d = proto_delta_new(7, T0 + 1, PROTO_DELTA_CREATE, NULL,
					 r, 0);
	char *s = text(d), *rs = race_text(r);
	char want[1024];

	snprintf(want, sizeof want,
		 "{\"type\":\"delta\",\"seq\":7,\"server_time\":"
		 "\"2025-01-02T03:04:05.001Z\",\"op\":\"create\",\"id\":\"r-1\","
		 "\"race\":%s}", rs);
	cr_expect_str_eq(s, want);
	free(s);
	free(rs);
	json_object_put(d);
	proto_race_free(r);
}

Test(delta, update_delta_carries_changed_fields_and_nulls)
{
	struct proto_race *r = create("{\"source\":\"cmd\",\"title\":\"x\"}", T0);
	uint32_t changed;
	json_object *d;
	char *s;

	changed = patch(r, "{\"state\":\"passed\"}", T0 + 2000);
	changed = patch(r, "{\"state\":\"running\",\"progress\":5}", T0 + 3000);
	d = proto_delta_new(9, T0 + 3000, PROTO_DELTA_UPDATE, NULL, r, changed);
	s = text(d);
	cr_expect_str_eq(s, "{\"type\":\"delta\",\"seq\":9,\"server_time\":"
			    "\"2025-01-02T03:04:08.000Z\",\"op\":\"update\","
			    "\"id\":\"r-1\",\"changes\":{\"state\":\"running\","
			    "\"completed_at\":null,\"duration_sec\":null,"
			    "\"progress\":5,\"last_progress_update\":"
			    "\"2025-01-02T03:04:08.000Z\"}}");
	free(s);
	json_object_put(d);
	proto_race_free(r);
}

Test(delta, event_delta_uses_the_event_key)
{
	struct proto_race *r = create("{\"source\":\"cmd\",\"title\":\"x\"}", T0);
	struct proto_event ev = {strdup("step"), strdup("[1]"), T0};
	uint32_t changed = 0;
	json_object *d;
	char *s;

	cr_assert_eq(proto_race_add_event(r, &ev, &changed), PROTO_OK);
	d = proto_delta_new(1, T0, PROTO_DELTA_UPDATE, NULL, r, changed);
	s = text(d);
	cr_expect(strstr(s, "\"changes\":{\"event\":{\"type\":\"step\","
			    "\"data\":[1],\"timestamp\":"
			    "\"2025-01-02T03:04:05.000Z\"}}") != NULL, "%s", s);
	free(s);
	json_object_put(d);
	proto_race_free(r);
}

Test(delta, delete_delta_and_apply)
{
	struct proto_race *r = create("{\"source\":\"cmd\",\"title\":\"x\"}", T0);
	json_object *d = proto_delta_new(3, T0, PROTO_DELTA_DELETE, "r-1", NULL,
					 0);
	char *s = text(d);

	cr_expect_str_eq(s, "{\"type\":\"delta\",\"seq\":3,\"server_time\":"
			    "\"2025-01-02T03:04:05.000Z\",\"op\":\"delete\","
			    "\"id\":\"r-1\"}");
	cr_expect_eq(proto_delta_apply(d, &r), PROTO_OK);
	cr_expect_null(r);
	/* Deleting again: nothing to delete. */
	cr_expect_eq(proto_delta_apply(d, &r), PROTO_EINVAL);
	free(s);
	json_object_put(d);
}

Test(delta, malformed_deltas_leave_the_race_unchanged)
{
	static const char *const bad[] = {
		"[]",
		"{\"type\":\"snapshot\",\"op\":\"update\",\"id\":\"r-1\",\"changes\":{}}",
		"{\"type\":\"delta\",\"op\":\"merge\",\"id\":\"r-1\",\"changes\":{}}",
		"{\"type\":\"delta\",\"op\":\"update\",\"id\":\"r-2\",\"changes\":{}}",
		"{\"type\":\"delta\",\"op\":\"update\",\"id\":\"r-1\"}",
		"{\"type\":\"delta\",\"op\":\"update\",\"changes\":{}}",
		"{\"type\":\"delta\",\"op\":\"update\",\"id\":\"r-1\",\"changes\":[]}",
		/* a good field, then a bad one: neither is applied */
		"{\"type\":\"delta\",\"op\":\"update\",\"id\":\"r-1\",\"changes\":"
		"{\"title\":\"new\",\"progress\":500}}",
		"{\"type\":\"delta\",\"op\":\"update\",\"id\":\"r-1\",\"changes\":"
		"{\"title\":null}}",
		"{\"type\":\"delta\",\"op\":\"update\",\"id\":\"r-1\",\"changes\":"
		"{\"event\":{\"type\":\"x\"}}}",
		"{\"type\":\"delta\",\"op\":\"create\",\"id\":\"r-1\"}",
		"{\"type\":\"delta\",\"op\":\"create\",\"id\":\"r-1\",\"race\":"
		"{\"id\":\"r-1\"}}",
	};
	struct proto_race *r = create("{\"source\":\"cmd\",\"title\":\"x\"}", T0);
	char *before = race_text(r);

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_object *d = json_tokener_parse(bad[i]);
		struct proto_race *held = r;
		char *after;

		cr_assert_not_null(d, "%s", bad[i]);
		cr_expect_eq(proto_delta_apply(d, &r), PROTO_EINVAL, "%s",
			     bad[i]);
		cr_expect_eq(r, held, "%s", bad[i]);
		after = race_text(r);
		cr_expect_str_eq(after, before, "%s", bad[i]);
		free(after);
		json_object_put(d);
	}
	free(before);
	proto_race_free(r);
}

Test(delta, unknown_change_keys_are_ignored)
{
	struct proto_race *r = create("{\"source\":\"cmd\",\"title\":\"x\"}", T0);
	json_object *d = json_tokener_parse(
		"{\"type\":\"delta\",\"op\":\"update\",\"id\":\"r-1\",\"changes\":"
		"{\"progress_prediction\":42,\"title\":\"y\"}}");

	cr_expect_eq(proto_delta_apply(d, &r), PROTO_OK);
	cr_expect_str_eq(r->title, "y");
	json_object_put(d);
	proto_race_free(r);
}

Test(delta, event_beyond_the_cap_keeps_the_servers_dropped_count)
{
	struct proto_race *server = create("{\"source\":\"cmd\",\"title\":\"x\"}",
					   T0);
	struct proto_race *client = NULL;
	char *a, *b;

	replay(&client, 1, PROTO_DELTA_CREATE, server, 0);
	for (int i = 0; i < PROTO_EVENTS_MAX + 5; i++) {
		struct proto_event ev = {strdup("e"), NULL, T0 + i};
		uint32_t changed = 0;

		cr_assert_eq(proto_race_add_event(server, &ev, &changed),
			     PROTO_OK);
		replay(&client, (uint64_t)i + 2, PROTO_DELTA_UPDATE, server,
		       changed);
	}
	cr_expect_eq(server->events_dropped, 5);
	/* The client appended (and so dropped) too, yet its count is the
	 * server's, not one more per delta. */
	cr_expect_eq(client->events_dropped, 5);
	a = race_text(server);
	b = race_text(client);
	cr_expect_str_eq(b, a);
	free(a);
	free(b);
	proto_race_free(server);
	proto_race_free(client);
}

/* xorshift64*: a deterministic generator owned by each test. */
static uint64_t next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717u;
}

static unsigned pick(uint64_t *s, unsigned n)
{
	return (unsigned)(next(s) % n);
}

/* A random patch body: a few fields from a small value pool, so values
 * repeat (no-op updates) as often as they change. */
static void random_patch(uint64_t *s, char *buf, size_t cap)
{
	static const char *const states[] = {"queued", "running", "passed",
					     "failed", "canceled"};
	static const char *const sources[] = {"github", "cmd",
					      "google-calendar", "claude-code"};
	size_t n = (size_t)snprintf(buf, cap, "{\"title\":\"t%u\"", pick(s, 3));

#define ADD(...) n += (size_t)snprintf(buf + n, cap - n, __VA_ARGS__)
	if (pick(s, 2))
		ADD(",\"state\":\"%s\"", states[pick(s, 5)]);
	if (pick(s, 2))
		ADD(",\"progress\":%u", pick(s, 4) * 25);
	if (pick(s, 2))
		ADD(",\"eta_sec\":%u", pick(s, 5) * 60);
	if (pick(s, 4) == 0)
		ADD(",\"eta_source\":%u", 1 + pick(s, 4));
	if (pick(s, 4) == 0)
		ADD(",\"eta_confidence\":0.%u", pick(s, 10));
	if (pick(s, 5) == 0)
		ADD(",\"source\":\"%s\"", sources[pick(s, 4)]);
	if (pick(s, 6) == 0)
		ADD(",\"update_interval_hint\":%u", 1 + pick(s, 30));
	if (pick(s, 5) == 0)
		ADD(",\"deeplink\":\"https://x/%u\"", pick(s, 3));
	if (pick(s, 6) == 0)
		ADD(",\"started_at\":\"2025-01-02T03:0%u:00Z\"", pick(s, 5));
	if (pick(s, 3) == 0)
		ADD(",\"metadata\":{\"k%u\":\"v%u\",\"k%u\":null}", pick(s, 4),
		    pick(s, 3), pick(s, 4));
	ADD("}");
#undef ADD
}

Test(delta, random_sequences_converge_to_the_server_race)
{
	uint64_t seed = 0x5eed5eed12345678u;

	for (int run = 0; run < 200; run++) {
		struct proto_race *server, *client = NULL;
		int64_t now = T0 + run;
		uint64_t seq = 1;
		json_object *snap;

		server = create("{\"source\":\"github\",\"title\":\"t\","
				"\"progress\":10}", now);
		/* The client starts from the race as GET shows it. */
		snap = proto_json_race(server);
		cr_assert_eq(proto_json_race_from_object(snap, &client),
			     PROTO_OK);
		json_object_put(snap);
		for (int step = 0; step < 30; step++) {
			char body[512], *want, *got;
			uint32_t changed = 0;

			now += 1 + pick(&seed, 5000);
			if (pick(&seed, 4) == 0) {
				struct proto_event ev = {strdup("e"), NULL, now};

				if (pick(&seed, 2))
					ev.data_json = strdup("{\"i\":[1,\"a\"]}");
				cr_assert_eq(proto_race_add_event(server, &ev,
								  &changed),
					     PROTO_OK);
			} else {
				random_patch(&seed, body, sizeof body);
				changed = patch(server, body, now);
			}
			replay(&client, seq++, PROTO_DELTA_UPDATE, server,
			       changed);
			want = race_text(server);
			got = race_text(client);
			cr_assert_str_eq(got, want, "run %d step %d", run, step);
			free(want);
			free(got);
		}
		proto_race_free(server);
		proto_race_free(client);
	}
}

/* Many events in a row from one seed push races over the event cap. */
Test(delta, random_event_storms_converge)
{
	uint64_t seed = 42;

	for (int run = 0; run < 5; run++) {
		struct proto_race *server, *client = NULL;
		char *want, *got;

		server = create("{\"source\":\"cmd\",\"title\":\"t\"}", T0);
		replay(&client, 1, PROTO_DELTA_CREATE, server, 0);
		for (int i = 0; i < PROTO_EVENTS_MAX + 50; i++) {
			uint32_t changed = 0;
			struct proto_event ev = {strdup("s"), NULL, T0 + i};

			if (pick(&seed, 8) == 0)
				changed = patch(server, "{\"progress\":50}",
						T0 + i);
			else
				cr_assert_eq(proto_race_add_event(server, &ev,
								  &changed),
					     PROTO_OK);
			proto_event_fini(&ev);
			replay(&client, (uint64_t)i + 2, PROTO_DELTA_UPDATE,
			       server, changed);
		}
		want = race_text(server);
		got = race_text(client);
		cr_expect_str_eq(got, want);
		free(want);
		free(got);
		replay(&client, 999, PROTO_DELTA_DELETE, NULL, 0);
		cr_expect_null(client);
		proto_race_free(server);
	}
}

/* ---- the output tail (issue 14) ---------------------------------------- */

/* The "changes" text of the update delta for `changed`. */
static char *changes_text(const struct proto_race *r, uint32_t changed)
{
	json_object *d = proto_delta_new(9, T0, PROTO_DELTA_UPDATE, NULL, r,
					 changed);
	json_object *c = NULL;
	char *s;

	cr_assert(json_object_object_get_ex(d, "changes", &c));
	s = text(c);
	json_object_put(d);
	return s;
}

Test(delta, output_delta_carries_only_the_appended_lines)
{
	struct proto_race *r = create("{\"source\":\"cmd\",\"title\":\"t\","
				      "\"output\":[\"a\",\"b\"]}", T0);
	uint32_t changed = patch(r, "{\"output\":[\"c\",\"<i>d</i>\"]}", T0);
	char *s = changes_text(r, changed);

	cr_assert_str_eq(s, "{\"output\":[\"c\",\"<i>d<\\/i>\"]}");
	free(s);
	/* The race itself shows the whole tail. */
	s = race_text(r);
	cr_assert_not_null(strstr(s, "\"output\":[\"a\",\"b\",\"c\",\"<i>d<\\/i>\"]"),
			   "%s", s);
	free(s);
	/* Over the cap the delta names the new dropped count. */
	changed = patch(r, "{\"output\":[" /* 200 more lines: 204 in all */
		"\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
		"\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
		"\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
		"\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
		"\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
		"\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
		"\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
		"\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
		"\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
		"\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
		"\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
		"\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
		"\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
		"\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
		"\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
		"\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
		"\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
		"\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
		"\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
		"\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"last\"]}",
		T0);
	cr_assert_eq(changed, PROTO_F_OUTPUT | PROTO_F_OUTPUT_DROPPED);
	cr_assert_eq(r->n_output, 200);
	cr_assert_eq(r->output_dropped, 4);
	s = changes_text(r, changed);
	cr_assert_not_null(strstr(s, "\"last\"],\"output_dropped\":4}"), "%s", s);
	free(s);
	proto_race_free(r);
}

/* A random output write: 0..k lines of random length (some over the line
 * cap, with multi-byte characters), as a JSON body in buf. */
static void random_output(uint64_t *s, char *buf, size_t cap, unsigned k)
{
	static const char *const bits[] = {"x", "\\u00e9", "\\u20ac", "yz",
					   "\\u001b[31m", "<&>", "\\t", "\\r"};
	unsigned n = pick(s, k + 1);
	size_t len = (size_t)snprintf(buf, cap, "{\"output\":[");

	for (unsigned i = 0; i < n; i++) {
		unsigned w = pick(s, 8) ? pick(s, 40) : 300 + pick(s, 500);

		len += (size_t)snprintf(buf + len, cap - len, "%s\"",
					i ? "," : "");
		for (unsigned j = 0; j < w; j++)
			len += (size_t)snprintf(buf + len, cap - len, "%s",
						bits[pick(s, 8)]);
		buf[len++] = '"';
	}
	snprintf(buf + len, cap - len, "]}");
}

Test(delta, random_output_sequences_converge_to_the_server_race,
     .timeout = 120)
{
	uint64_t seed = 0x7a11u;
	size_t cap = 4u << 20;
	char *body = malloc(cap);

	cr_assert_not_null(body);
	for (int run = 0; run < 20; run++) {
		struct proto_race *server, *client = NULL;
		char *want, *got;

		server = create("{\"source\":\"cmd\",\"title\":\"t\"}", T0);
		replay(&client, 1, PROTO_DELTA_CREATE, server, 0);
		for (int step = 0; step < 60; step++) {
			uint32_t changed;
			size_t bytes = 0;

			/* Mostly small writes, some over the count cap. */
			random_output(&seed, body, cap,
				      pick(&seed, 10) ? 12 : 400);
			changed = patch(server, body, T0 + step);
			if (changed)
				replay(&client, (uint64_t)step + 2,
				       PROTO_DELTA_UPDATE, server, changed);
			for (size_t i = 0; i < server->n_output; i++) {
				cr_assert_leq(strlen(server->output[i]),
					      PROTO_OUTPUT_LINE_MAX);
				bytes += strlen(server->output[i]);
			}
			cr_assert_leq(bytes, PROTO_OUTPUT_BYTES_MAX);
			cr_assert_leq(server->n_output, PROTO_OUTPUT_LINES_MAX);
			want = race_text(server);
			got = race_text(client);
			cr_assert_str_eq(got, want, "run %d step %d", run, step);
			free(want);
			free(got);
		}
		proto_race_free(server);
		proto_race_free(client);
	}
	free(body);
}
