/*
 * write_fixture.c - see write_fixture.h.
 */
#include "write_fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "json.h"

static void on_publish(void *ctx, const struct srv_change *c)
{
	struct wf_fixture *fx = ctx;

	fx->last_seq = c->seq;
	if (fx->n_ch < WF_MAX) {
		struct wf_change *w = &fx->ch[fx->n_ch++];

		w->seq = c->seq;
		w->op = c->op;
		snprintf(w->id, sizeof(w->id), "%s", c->id);
		w->state = (int)c->state;
		w->prev_state = (int)c->prev_state;
	}
	if (fx->publish_to)
		srv_hub_publish(fx->publish_to, c);
}

static void load(struct wf_fixture *fx)
{
	int err = 0;

	cr_assert_eq(store_open(&fx->opts, &fx->st), STORE_OK);
	fx->wp = srv_write_new(fx->st, &fx->cfg, &err);
	cr_assert_not_null(fx->wp, "srv_write_new: %d", err);
	srv_write_set_publisher(fx->wp, on_publish, fx);
}

void wf_open(struct wf_fixture *fx, size_t map_size, size_t map_size_max)
{
	memset(fx, 0, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/rb-write-XXXXXX");
	cr_assert_not_null(mkdtemp(fx->dir));
	srv_cfg_defaults(&fx->cfg);
	fx->opts.dir = fx->dir;
	fx->opts.map_size = map_size;
	fx->opts.map_size_max = map_size_max;
	fx->opts.no_sync = 1;
	load(fx);
}

void wf_close(struct wf_fixture *fx)
{
	srv_write_free(fx->wp);
	fx->wp = NULL;
	store_close(fx->st);
	fx->st = NULL;
}

void wf_reopen(struct wf_fixture *fx)
{
	load(fx);
}

void wf_destroy(struct wf_fixture *fx)
{
	char cmd[128];

	wf_close(fx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	cr_assert_eq(system(cmd), 0);
}

static struct wf_answer *next(struct wf_requester *r)
{
	struct wf_answer *a;

	cr_assert_lt(r->n, WF_MAX);
	a = &r->a[r->n++];
	memset(a, 0, sizeof(*a));
	a->order = ++r->fx->order;
	a->busy = srv_write_busy(r->fx->wp);
	return a;
}

static void complete(struct srv_requester *rq, struct srv_result *res)
{
	struct wf_requester *r = (struct wf_requester *)rq;
	struct wf_answer *a = next(r);

	a->status = res->status;
	a->seq = res->seq;
	if (res->err.code)
		snprintf(a->code, sizeof(a->code), "%s", res->err.code);
	if (res->err.field)
		snprintf(a->field, sizeof(a->field), "%s", res->err.field);
	snprintf(a->message, sizeof(a->message), "%s", res->err.message);
	if (res->buf)
		snprintf(a->body, sizeof(a->body), "%.*s", (int)res->len,
			 res->buf + LWS_PRE);
	free(res->buf); /* the requester takes it */
	res->buf = NULL;
}

static void resume(struct srv_requester *rq)
{
	next((struct wf_requester *)rq)->resumed = 1;
}

void wf_requester_init(struct wf_requester *r, struct wf_fixture *fx)
{
	memset(r, 0, sizeof(*r));
	r->rq.complete = complete;
	r->rq.resume = resume;
	r->fx = fx;
}

static void decode(const char *json, enum proto_json_mode mode,
		   struct proto_race_update *u)
{
	struct proto_json_error err;

	cr_assert_eq(proto_json_decode_update(json, strlen(json), mode, u,
					      &err), PROTO_OK,
		     "%s: %s", json, err.message);
}

void wf_create(struct wf_fixture *fx, struct wf_requester *r,
	       const char *json)
{
	struct proto_race_update u;

	decode(json, PROTO_JSON_CREATE, &u);
	srv_write_create(fx->wp, r ? &r->rq : NULL, &u);
	proto_race_update_fini(&u);
}

void wf_patch(struct wf_fixture *fx, struct wf_requester *r, const char *id,
	      const char *json)
{
	struct proto_race_update u;

	decode(json, PROTO_JSON_PATCH, &u);
	srv_write_patch(fx->wp, r ? &r->rq : NULL, id, &u);
	proto_race_update_fini(&u);
}
