/*
 * test_server_output.c - the output tail (issue 14) against the real
 * server binary: lines appended over REST and WebSocket, the bounds, the
 * errors naming the field, what GET /races leaves out, deltas that carry
 * only the appended lines, and the tail read back from LMDB after a
 * restart and after a kill -9.
 */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "race.h"
#include "support/http_client.h"
#include "support/server_proc.h"
#include "support/ws_client.h"
#include "support/ws_model.h"

static struct server_proc srv;

static void stop(void)
{
	server_cleanup(&srv);
}

TestSuite(output, .fini = stop, .timeout = 120);

static json_object *rest(const char *method, const char *path,
			 const char *body, int *status)
{
	return rest_json(srv.port, method, path, body, status);
}

/* A body {"output":[...]} of `n` lines "<prefix><i>". */
static char *lines_body(const char *prefix, int from, int n)
{
	size_t cap = 64 + (size_t)n * (strlen(prefix) + 16), len;
	char *b = malloc(cap);

	cr_assert_not_null(b);
	len = (size_t)snprintf(b, cap, "{\"output\":[");
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(b + len, cap - len, "%s\"%s%d\"",
					i ? "," : "", prefix, from + i);
	snprintf(b + len, cap - len, "]}");
	return b;
}

static void patch_ok(const char *id, const char *body)
{
	char path[160];
	int st;

	snprintf(path, sizeof(path), "/race/%s", id);
	json_object_put(rest("PATCH", path, body, &st));
	cr_assert_eq(st, 200, "PATCH %s", id);
}

static json_object *output_of(json_object *race)
{
	json_object *o = NULL;

	json_object_object_get_ex(race, "output", &o);
	return o;
}

static int64_t dropped_of(json_object *race)
{
	json_object *o = NULL;

	if (!json_object_object_get_ex(race, "output_dropped", &o))
		return 0;
	return json_object_get_int64(o);
}

static const char *line_at(json_object *race, size_t i)
{
	return json_object_get_string(
		json_object_array_get_idx(output_of(race), i));
}

/* A 400 whose body names `field` with error code `code`. */
static void expect_400(const char *method, const char *path,
		       const char *body, const char *code, const char *field)
{
	int st;
	json_object *e = rest(method, path, body, &st);

	cr_assert_eq(st, 400, "%s %s %s", method, path, body);
	cr_assert_str_eq(json_object_get_string(
		json_object_object_get(e, "error")), code);
	cr_assert_str_eq(json_object_get_string(
		json_object_object_get(e, "field")), field);
	json_object_put(e);
}

Test(output, rest_appends_bounds_and_refuses_bad_lines)
{
	char *body, long_line[3000 + 64];
	json_object *r;
	int st;

	cr_assert_eq(server_start(&srv, NULL), 0);
	r = rest("POST", "/race", "{\"id\":\"job\",\"source\":\"cmd\","
		 "\"title\":\"make\",\"output\":[\"first\"]}", &st);
	cr_assert_eq(st, 201);
	cr_assert_str_eq(line_at(r, 0), "first");
	json_object_put(r);

	/* 260 more lines in three writes: the newest 200 stay. */
	for (int k = 0; k < 3; k++) {
		body = lines_body("l", k * 100, k < 2 ? 100 : 60);
		patch_ok("job", body);
		free(body);
	}
	r = rest("GET", "/race/job", NULL, &st);
	cr_assert_eq(st, 200);
	cr_assert_eq(json_object_array_length(output_of(r)),
		     PROTO_OUTPUT_LINES_MAX);
	cr_assert_eq(dropped_of(r), 61);
	cr_assert_str_eq(line_at(r, 0), "l60");
	cr_assert_str_eq(line_at(r, 199), "l259");
	json_object_put(r);

	/* A long line of 2-byte characters is cut at a character
	 * boundary, with a mark, to at most 1024 bytes. */
	{
		size_t n = (size_t)snprintf(long_line, sizeof long_line,
					    "{\"output\":[\"");
		for (int i = 0; i < 700; i++)
			n += (size_t)snprintf(long_line + n,
					      sizeof long_line - n, "\xc3\xa9");
		snprintf(long_line + n, sizeof long_line - n, "\"]}");
	}
	patch_ok("job", long_line);
	r = rest("GET", "/race/job", NULL, &st);
	{
		const char *last = line_at(r, 199);
		size_t n = strlen(last);

		cr_assert_leq(n, PROTO_OUTPUT_LINE_MAX);
		cr_assert_str_eq(last + n - 3, "\xe2\x80\xa6");
		cr_assert_eq((n - 3) % 2, 0, "no character split: %zu", n);
		cr_assert_eq(memcmp(last, "\xc3\xa9\xc3\xa9", 4), 0);
	}
	json_object_put(r);

	/* Bad input: 400 naming the field, and nothing changes. */
	expect_400("PATCH", "/race/job", "{\"output\":\"a line\"}",
		   "invalid_type", "output");
	expect_400("PATCH", "/race/job", "{\"output\":[\"ok\",7]}",
		   "invalid_type", "output");
	expect_400("PATCH", "/race/job", "{\"output\":[\"a\\nb\"]}",
		   "invalid_value", "output");
	expect_400("POST", "/race", "{\"source\":\"s\",\"title\":\"t\","
		   "\"output\":{}}", "invalid_type", "output");
	body = lines_body("", 0, PROTO_OUTPUT_WRITE_MAX + 1);
	expect_400("PATCH", "/race/job", body, "too_many", "output");
	free(body);
	r = rest("GET", "/race/job", NULL, &st);
	cr_assert_eq(dropped_of(r), 62);
	cr_assert_str_eq(line_at(r, 0), "l61");
	json_object_put(r);

	/* GET /races leaves tails out unless asked. */
	r = rest("GET", "/races", NULL, &st);
	cr_assert_eq(st, 200);
	cr_assert_null(output_of(json_object_array_get_idx(r, 0)));
	cr_assert_eq(dropped_of(json_object_array_get_idx(r, 0)), 0);
	json_object_put(r);
	r = rest("GET", "/races?output=1", NULL, &st);
	cr_assert_eq(st, 200);
	cr_assert_eq(json_object_array_length(
		output_of(json_object_array_get_idx(r, 0))), 200);
	cr_assert_eq(dropped_of(json_object_array_get_idx(r, 0)), 62);
	json_object_put(r);
	expect_400("GET", "/races?output=yes", NULL, "invalid_value",
		   "output");
}

/* Reads frames until the delta with `seq` arrives (in a batch or
 * alone); returns a new reference to it. */
static json_object *delta_with_seq(struct ws_client *c, uint64_t seq)
{
	for (int tries = 0; tries < 50; tries++) {
		json_object *f = next_frame(c), *ds = NULL, *hit = NULL;
		const char *t = type_of(f);

		if (!strcmp(t, "delta")) {
			ds = json_object_new_array();
			json_object_array_add(ds, json_object_get(f));
		} else if (!strcmp(t, "batch")) {
			json_object_object_get_ex(f, "deltas", &ds);
			json_object_get(ds);
		}
		for (size_t i = 0; ds && i < json_object_array_length(ds); i++) {
			json_object *d = json_object_array_get_idx(ds, i);

			if ((uint64_t)json_object_get_int64(
				    json_object_object_get(d, "seq")) == seq)
				hit = json_object_get(d);
		}
		json_object_put(ds);
		json_object_put(f);
		if (hit)
			return hit;
	}
	cr_assert_fail("no delta with seq %llu", (unsigned long long)seq);
	return NULL;
}

static uint64_t seq_of(json_object *o)
{
	return (uint64_t)json_object_get_int64(json_object_object_get(o, "seq"));
}

Test(output, ws_deltas_carry_only_the_appended_lines)
{
	struct ws_client sub, prod;
	struct model m = {0};
	json_object *f, *d, *ch;
	char *body;
	int st;

	cr_assert_eq(server_start(&srv, NULL), 0);
	json_object_put(rest("POST", "/race", "{\"id\":\"w\",\"source\":\"cmd\","
			     "\"title\":\"t\",\"output\":[\"a\",\"b\"]}", &st));
	cr_assert_eq(st, 201);
	cr_assert_eq(ws_open(&sub, srv.port, "/ws"), 0);
	json_object_put(next_frame(&sub)); /* hello */
	cr_assert_eq(ws_send(&sub, "{\"type\":\"subscribe\"}"), 0);
	f = next_frame(&sub);
	/* The snapshot carries the tail. */
	cr_assert_str_eq(model_frame(&m, f), "snapshot");
	cr_assert_eq(m.races[0]->n_output, 2);
	json_object_put(f);

	/* A REST append: the delta holds exactly the new lines. */
	json_object_put(rest("PATCH", "/race/w",
			     "{\"output\":[\"c\",\"<b>d</b>\"]}", &st));
	cr_assert_eq(st, 200);
	d = delta_with_seq(&sub, rest_seq_of(srv.port));
	cr_assert_str_eq(model_frame(&m, d), "delta");
	ch = json_object_object_get(d, "changes");
	cr_assert_str_eq(json_object_to_json_string_ext(ch,
		JSON_C_TO_STRING_PLAIN), "{\"output\":[\"c\",\"<b>d<\\/b>\"]}");
	json_object_put(d);

	/* A producer over the same protocol: patch with output, acked. */
	cr_assert_eq(ws_open(&prod, srv.port, "/ws"), 0);
	json_object_put(next_frame(&prod));
	body = lines_body("p", 0, 199);
	{
		size_t n = strlen(body) + 64;
		char *msg = malloc(n);

		cr_assert_not_null(msg);
		snprintf(msg, n, "{\"type\":\"patch\",\"req\":5,\"id\":\"w\","
			 "\"changes\":%s}", body);
		cr_assert_eq(ws_send(&prod, msg), 0);
		free(msg);
	}
	free(body);
	f = next_frame(&prod);
	cr_assert_str_eq(type_of(f), "ack", "%s", prod.msg);
	d = delta_with_seq(&sub, seq_of(f));
	json_object_put(f);
	cr_assert_str_eq(model_frame(&m, d), "delta");
	ch = json_object_object_get(d, "changes");
	/* 4 + 199 lines: the three oldest left; 199 lines in the delta. */
	cr_assert_eq(json_object_array_length(
		json_object_object_get(ch, "output")), 199);
	cr_assert_eq(json_object_get_int64(
		json_object_object_get(ch, "output_dropped")), 3);
	cr_assert_eq(json_object_object_length(ch), 2);
	json_object_put(d);

	/* A bad line over WebSocket: an error frame naming the field. */
	cr_assert_eq(ws_send(&prod, "{\"type\":\"patch\",\"req\":6,\"id\":\"w\","
			     "\"changes\":{\"output\":[1]}}"), 0);
	f = next_frame(&prod);
	cr_assert_str_eq(type_of(f), "error", "%s", prod.msg);
	cr_assert_str_eq(json_object_get_string(
		json_object_object_get(f, "field")), "output");
	cr_assert_eq(json_object_get_int(json_object_object_get(f, "status")),
		     400);
	json_object_put(f);

	/* Snapshot plus deltas equal GET /race/w. */
	model_sync(&m, &sub, rest_seq_of(srv.port));
	model_assert_matches(&m, srv.port);
	cr_assert_eq(m.races[0]->n_output, 200);
	model_clear(&m);
	ws_close(&prod);
	ws_close(&sub);
}

static char *race_text(const char *id)
{
	char path[64];
	int st;
	json_object *r;
	char *s;

	snprintf(path, sizeof path, "/race/%s", id);
	r = rest("GET", path, NULL, &st);
	cr_assert_eq(st, 200);
	json_object_object_del(r, "progress_prediction");
	s = strdup(json_object_to_json_string_ext(output_of(r),
						  JSON_C_TO_STRING_PLAIN));
	json_object_put(r);
	return s;
}

Test(output, the_tail_is_reloaded_from_lmdb_after_restart_and_kill_9)
{
	char *body, *before, *after;
	int st;

	cr_assert_eq(server_start(&srv, NULL), 0);
	json_object_put(rest("POST", "/race", "{\"id\":\"d\",\"source\":\"cmd\","
			     "\"title\":\"t\"}", &st));
	cr_assert_eq(st, 201);
	for (int k = 0; k < 5; k++) {
		body = lines_body("\\u001b[32mline\\u001b[0m ", k * 50, 50);
		patch_ok("d", body);
		free(body);
	}
	before = race_text("d");
	cr_assert_eq(server_stop(&srv), 0);
	cr_assert_eq(server_restart(&srv, NULL), 0);
	after = race_text("d");
	cr_assert_str_eq(after, before);
	cr_assert_not_null(strstr(after, "line\\u001b[0m 249\""));
	free(after);
	free(before);

	/* Acknowledged is durable: kill -9 right after the reply. */
	patch_ok("d", "{\"output\":[\"the very last line\"]}");
	before = race_text("d");
	server_kill(&srv);
	cr_assert_eq(server_restart(&srv, NULL), 0);
	after = race_text("d");
	cr_assert_str_eq(after, before);
	cr_assert_not_null(strstr(after, "\"the very last line\"]"));
	free(after);
	free(before);
}
