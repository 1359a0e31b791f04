/*
 * ws_model.c - the races as a WebSocket subscriber sees them (see
 * ws_model.h).
 */
#include "ws_model.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "delta.h"
#include "http_client.h"
#include "json.h"

static struct proto_race **find(struct model *m, const char *id)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->races[i]->id, id))
			return &m->races[i];
	return NULL;
}

void model_clear(struct model *m)
{
	for (size_t i = 0; i < m->n; i++)
		proto_race_free(m->races[i]);
	m->n = 0;
}

static void apply_delta(struct model *m, json_object *d)
{
	const char *id = json_object_get_string(json_object_object_get(d, "id"));
	const char *op = json_object_get_string(json_object_object_get(d, "op"));
	uint64_t seq = (uint64_t)json_object_get_int64(
		json_object_object_get(d, "seq"));
	struct proto_race **slot = find(m, id), *none = NULL;

	cr_assert_eq(seq, m->seq + 1, "deltas arrive in order, without gaps: "
		     "got %llu after %llu", (unsigned long long)seq,
		     (unsigned long long)m->seq);
	m->seq = seq;
	m->deltas++;
	if (!slot && !strcmp(op, "create")) {
		cr_assert(m->n < MODEL_MAX);
		m->races[m->n] = NULL;
		slot = &m->races[m->n++];
	}
	if (!slot)
		slot = &none; /* a change we could not see: must be harmless */
	cr_assert_eq(proto_delta_apply(d, slot), PROTO_OK, "delta applies: %s",
		     json_object_to_json_string(d));
	if (!*slot && slot != &none) { /* deleted: compact */
		*slot = m->races[--m->n];
	}
}

const char *model_frame(struct model *m, json_object *f)
{
	const char *type = json_object_get_string(json_object_object_get(f, "type"));

	cr_assert(json_object_object_get_ex(f, "server_time", NULL) ||
		  !strcmp(type, "delta") == 0, "every frame has server_time");
	if (!strcmp(type, "snapshot")) {
		json_object *races = json_object_object_get(f, "races");

		model_clear(m);
		for (size_t i = 0; i < json_object_array_length(races); i++) {
			cr_assert(m->n < MODEL_MAX);
			cr_assert_eq(proto_json_race_from_object(
				json_object_array_get_idx(races, i),
				&m->races[m->n]), PROTO_OK);
			m->n++;
		}
		m->seq = (uint64_t)json_object_get_int64(
			json_object_object_get(f, "seq"));
		m->snapshots++;
		if (json_object_object_get_ex(f, "reset", NULL))
			m->resets++;
	} else if (!strcmp(type, "delta")) {
		apply_delta(m, f);
	} else if (!strcmp(type, "batch")) {
		json_object *ds = json_object_object_get(f, "deltas");

		cr_assert(json_object_array_length(ds) >= 1);
		for (size_t i = 0; i < json_object_array_length(ds); i++)
			apply_delta(m, json_object_array_get_idx(ds, i));
	}
	return type;
}

void model_sync(struct model *m, struct ws_client *c, uint64_t seq)
{
	for (int i = 0; i < 100000 && m->seq < seq; i++) {
		json_object *f;

		cr_assert_eq(ws_recv(c, 10000), 1, "no frame while waiting for "
			     "seq %llu (at %llu)", (unsigned long long)seq,
			     (unsigned long long)m->seq);
		f = json_tokener_parse(c->msg);
		cr_assert(f, "frame is JSON");
		model_frame(m, f);
		json_object_put(f);
	}
	cr_assert_eq(m->seq, seq);
}

json_object *rest_json(int port, const char *method, const char *path,
		       const char *body, int *status)
{
	struct http_response r;
	json_object *o;

	cr_assert_eq(http_request(port, method, path, body, &r), 0);
	if (status)
		*status = r.status;
	o = json_tokener_parse(r.body);
	http_response_free(&r);
	return o;
}

uint64_t rest_seq_of(int port)
{
	json_object *o = rest_json(port, "GET", "/health", NULL, NULL);
	uint64_t seq = (uint64_t)json_object_get_int64(
		json_object_object_get(o, "seq"));

	json_object_put(o);
	return seq;
}

void model_assert_matches(struct model *m, int port)
{
	json_object *all = rest_json(port, "GET", "/races", NULL, NULL);

	cr_assert_eq(json_object_array_length(all), m->n,
		     "race count: server %zu, client %zu",
		     json_object_array_length(all), m->n);
	for (size_t i = 0; i < m->n; i++) {
		char path[160];
		json_object *got, *mine = proto_json_race(m->races[i]);

		snprintf(path, sizeof(path), "/race/%s", m->races[i]->id);
		got = rest_json(port, "GET", path, NULL, NULL);
		json_object_object_del(got, "progress_prediction");
		cr_assert_str_eq(json_object_to_json_string(mine),
				 json_object_to_json_string(got));
		json_object_put(mine);
		json_object_put(got);
	}
	json_object_put(all);
}

json_object *next_frame(struct ws_client *c)
{
	json_object *f;

	cr_assert_eq(ws_recv(c, 10000), 1, "expected a frame");
	f = json_tokener_parse(c->msg);
	cr_assert(f, "frame is JSON: %s", c->msg);
	return f;
}

const char *type_of(json_object *f)
{
	return json_object_get_string(json_object_object_get(f, "type"));
}
