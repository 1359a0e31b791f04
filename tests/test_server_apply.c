/*
 * test_server_apply.c - the write path's cluster seam (write.h:
 * srv_write_set_sequencer, srv_write_apply, srv_write_refuse) without a
 * network: a fake sequencer keeps the encoded intents in order, as the
 * log would, and the test applies them with the seqs it chooses. A real
 * LMDB store in a temp dir; batches commit when the test flushes.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "intent.h"
#include "support/write_fixture.h"

#define LOG_MAX 32

/* The fake log: encoded intents and who asked, in submission order. */
struct fake_log {
	struct wf_fixture *fx;
	char *data[LOG_MAX];
	size_t len[LOG_MAX];
	struct srv_requester *rq[LOG_MAX];
	int n;
	int forgotten;
};

static struct wf_fixture fx;
static struct fake_log lg;

static void fake_submit(void *ctx, struct srv_requester *rq,
			const struct proto_intent *in)
{
	struct fake_log *l = ctx;
	struct proto_buf b;

	cr_assert_lt(l->n, LOG_MAX);
	proto_buf_init(&b, 0);
	cr_assert_eq(proto_intent_encode(in, &b), PROTO_OK);
	l->data[l->n] = proto_buf_steal(&b, &l->len[l->n]);
	l->rq[l->n++] = rq;
	if (rq)
		rq->queued++;
}

static void fake_forget(void *ctx, struct srv_requester *rq)
{
	struct fake_log *l = ctx;

	for (int i = 0; i < l->n; i++)
		if (l->rq[i] == rq) {
			l->rq[i] = NULL;
			rq->queued--;
			l->forgotten++;
		}
}

/* Applies entry i of the log to wp as stream seq `seq`; its requester
 * only if `origin` (the node that submitted it). */
static int apply_to(struct srv_write *wp, int i, uint64_t seq, int origin)
{
	struct proto_intent in;
	struct srv_requester *rq = origin ? lg.rq[i] : NULL;
	int rc;

	cr_assert_eq(proto_intent_decode(lg.data[i], lg.len[i], &in),
		     PROTO_OK);
	if (rq) {
		rq->queued--;
		lg.rq[i] = NULL;
	}
	rc = srv_write_apply(wp, rq, &in, seq);
	proto_intent_fini(&in);
	return rc;
}

static void setup(void)
{
	struct srv_sequencer sq = {.submit = fake_submit,
				   .forget = fake_forget, .ctx = &lg};

	wf_open(&fx, 0, 0);
	memset(&lg, 0, sizeof(lg));
	lg.fx = &fx;
	srv_write_set_sequencer(fx.wp, &sq);
}

static void teardown(void)
{
	for (int i = 0; i < lg.n; i++)
		free(lg.data[i]);
	wf_destroy(&fx);
}

TestSuite(apply, .init = setup, .fini = teardown, .timeout = 30);

Test(apply, with_a_sequencer_writes_become_intents_and_change_nothing)
{
	struct wf_requester r;
	struct proto_event ev = {strdup("note"), NULL, 5};

	wf_requester_init(&r, &fx);
	wf_create(&fx, &r, "{\"id\":\"a\",\"source\":\"cmd\",\"title\":\"t\"}");
	wf_patch(&fx, &r, "a", "{\"progress\":40}");
	srv_write_event(fx.wp, &r.rq, "a", &ev);
	srv_write_delete(fx.wp, &r.rq, "a");
	srv_write_flush(fx.wp);
	cr_assert_eq(lg.n, 4);
	cr_assert_eq(r.rq.queued, 4, "the sequencer holds all four");
	cr_assert_eq(r.n, 0, "nobody is answered before the entry applies");
	cr_assert_eq(fx.n_ch, 0);
	cr_assert_null(srv_write_get(fx.wp, "a"));
	cr_assert_eq(srv_write_seq(fx.wp), 0);
	cr_assert_eq(store_seq(fx.st), 0);
}

Test(apply, entries_take_the_log_seq_and_answer_their_requester)
{
	struct wf_requester r;

	wf_requester_init(&r, &fx);
	wf_create(&fx, &r, "{\"id\":\"a\",\"source\":\"cmd\",\"title\":\"t\"}");
	wf_patch(&fx, &r, "a", "{\"progress\":40}");
	cr_assert_eq(apply_to(fx.wp, 0, 10, 1), 0);
	cr_assert_eq(apply_to(fx.wp, 1, 12, 1), 0);
	cr_assert_eq(r.n, 0, "answered only once durable");
	srv_write_flush(fx.wp);
	cr_assert_eq(r.n, 2);
	cr_assert_eq(r.a[0].status, 201);
	cr_assert_eq(r.a[0].seq, 10);
	cr_assert_eq(r.a[1].status, 200);
	cr_assert_eq(r.a[1].seq, 12);
	cr_assert_not_null(strstr(r.a[1].body, "\"progress\":40"));
	cr_assert_eq(fx.n_ch, 2);
	cr_assert_eq(fx.ch[0].seq, 10);
	cr_assert_eq(fx.ch[1].seq, 12);
	cr_assert_eq(srv_write_seq(fx.wp), 12);
	cr_assert_eq(store_seq(fx.st), 12, "the log's seq is stored");
	cr_assert_eq(r.rq.queued, 0);
}

Test(apply, an_entry_uses_the_time_of_its_intent_not_the_clock)
{
	struct wf_requester r;
	struct proto_intent in;

	wf_requester_init(&r, &fx);
	wf_create(&fx, &r, "{\"id\":\"a\",\"source\":\"cmd\",\"title\":\"t\"}");
	/* Rewrite the intent's time: 2023-11-14T22:13:20Z. */
	cr_assert_eq(proto_intent_decode(lg.data[0], lg.len[0], &in),
		     PROTO_OK);
	in.now = 1700000000000;
	r.rq.queued--;
	cr_assert_eq(srv_write_apply(fx.wp, &r.rq, &in, 1), 0);
	proto_intent_fini(&in);
	lg.rq[0] = NULL;
	srv_write_flush(fx.wp);
	cr_assert_eq(r.n, 1);
	cr_assert_not_null(strstr(r.a[0].body,
		"\"started_at\":\"2023-11-14T22:13:20.000Z\""), "%s",
		r.a[0].body);
}

Test(apply, validation_is_decided_at_apply_time_in_log_order)
{
	struct wf_requester r;

	wf_requester_init(&r, &fx);
	wf_create(&fx, &r, "{\"id\":\"a\",\"source\":\"cmd\",\"title\":\"t\"}");
	apply_to(fx.wp, 0, 1, 1);
	srv_write_flush(fx.wp);
	/* Both submitted while "a" exists; the log puts the delete first. */
	wf_patch(&fx, &r, "a", "{\"progress\":5}");
	srv_write_delete(fx.wp, &r.rq, "a");
	cr_assert_eq(apply_to(fx.wp, 2, 2, 1), 0);
	cr_assert_eq(apply_to(fx.wp, 1, 3, 1), 0);
	srv_write_flush(fx.wp);
	cr_assert_eq(r.n, 3);
	cr_assert_eq(r.a[1].status, 200, "the delete");
	cr_assert_eq(r.a[1].seq, 2);
	cr_assert_eq(r.a[2].status, 404, "the patch finds no race");
	cr_assert_str_eq(r.a[2].code, "not_found");
	cr_assert_eq(r.a[2].seq, 0, "a refused entry makes no change");
	cr_assert_eq(srv_write_seq(fx.wp), 2);
}

Test(apply, an_entry_at_or_below_the_applied_seq_is_refused)
{
	struct wf_requester r;

	wf_requester_init(&r, &fx);
	wf_create(&fx, &r, "{\"id\":\"a\",\"source\":\"cmd\",\"title\":\"t\"}");
	cr_assert_eq(apply_to(fx.wp, 0, 7, 0), 0);
	srv_write_flush(fx.wp);
	cr_assert_eq(apply_to(fx.wp, 0, 7, 0), -1);
	cr_assert_eq(apply_to(fx.wp, 0, 3, 0), -1);
	srv_write_flush(fx.wp);
	cr_assert_eq(fx.n_ch, 1);
	cr_assert_eq(srv_write_seq(fx.wp), 7);
}

Test(apply, two_nodes_applying_the_same_entries_end_identical)
{
	struct wf_fixture other;
	struct wf_requester r;
	const struct proto_race *x, *y;
	char id[PROTO_ID_MAX + 1];

	wf_open(&other, 0, 0);
	wf_requester_init(&r, &fx);
	/* No id: the origin picks one, and it travels in the intent. */
	wf_create(&fx, &r, "{\"source\":\"cmd\",\"title\":\"t\"}");
	wf_create(&fx, &r, "{\"id\":\"b\",\"source\":\"ci\",\"title\":\"u\","
			   "\"eta_sec\":60}");
	wf_patch(&fx, &r, "b", "{\"progress\":50,\"metadata\":{\"k\":\"v\"}}");
	wf_patch(&fx, &r, "b", "{\"state\":\"passed\"}");
	for (int i = 0; i < 4; i++) {
		struct srv_requester *rq = lg.rq[i];

		cr_assert_eq(apply_to(other.wp, i, (uint64_t)(2 * i + 1), 0),
			     0);
		lg.rq[i] = rq; /* the origin applies it with its requester */
		cr_assert_eq(apply_to(fx.wp, i, (uint64_t)(2 * i + 1), 1),
			     0);
	}
	srv_write_flush(fx.wp);
	srv_write_flush(other.wp);
	cr_assert_eq(r.n, 4);
	cr_assert_eq(fx.n_ch, other.n_ch);
	for (int i = 0; i < fx.n_ch; i++) {
		cr_assert_eq(fx.ch[i].seq, other.ch[i].seq);
		cr_assert_str_eq(fx.ch[i].id, other.ch[i].id);
	}
	snprintf(id, sizeof(id), "%s", fx.ch[0].id);
	x = srv_write_get(fx.wp, id);
	y = srv_write_get(other.wp, id);
	cr_assert(x && y);
	cr_assert_eq(x->started_at, y->started_at);
	x = srv_write_get(fx.wp, "b");
	y = srv_write_get(other.wp, "b");
	cr_assert(x && y);
	cr_assert_eq(x->state, y->state);
	cr_assert_eq(x->completed_at, y->completed_at);
	cr_assert_eq(x->last_progress_update, y->last_progress_update);
	cr_assert_eq(x->n_metadata, 1);
	cr_assert_eq(store_seq(fx.st), store_seq(other.st));
	wf_destroy(&other);
}

Test(apply, a_refused_write_is_answered_in_its_turn)
{
	struct wf_requester r;

	wf_requester_init(&r, &fx);
	wf_create(&fx, &r, "{\"id\":\"a\",\"source\":\"cmd\",\"title\":\"t\"}");
	apply_to(fx.wp, 0, 1, 1);
	srv_write_refuse(fx.wp, &r.rq, 503, "cluster_unavailable",
			 "the cluster's log cannot be reached");
	srv_write_flush(fx.wp);
	cr_assert_eq(r.n, 2);
	cr_assert_eq(r.a[0].status, 201);
	cr_assert_eq(r.a[1].status, 503);
	cr_assert_str_eq(r.a[1].code, "cluster_unavailable");
	cr_assert_not_null(strstr(r.a[1].body, "cluster_unavailable"));
}

Test(apply, forgetting_a_requester_reaches_the_sequencer)
{
	struct wf_requester r;

	wf_requester_init(&r, &fx);
	wf_patch(&fx, &r, "a", "{\"progress\":5}");
	cr_assert_eq(r.rq.queued, 1);
	srv_write_forget(fx.wp, &r.rq);
	cr_assert_eq(lg.forgotten, 1);
	cr_assert_eq(r.rq.queued, 0);
}

Test(apply, expiry_becomes_an_intent_that_deletes_only_the_same_finish)
{
	struct wf_requester r;
	const struct proto_race *race;
	struct proto_intent in = {.op = PROTO_INTENT_EXPIRE, .id = "b"};

	wf_requester_init(&r, &fx);
	wf_create(&fx, &r, "{\"id\":\"b\",\"source\":\"cmd\",\"title\":\"t\","
			   "\"state\":\"passed\"}");
	apply_to(fx.wp, 0, 1, 1);
	srv_write_flush(fx.wp);
	race = srv_write_get(fx.wp, "b");
	cr_assert_not_null(race);
	cr_assert(race->has & PROTO_F_COMPLETED_AT);
	/* A stale expiry (another finish time) keeps the race. */
	in.completed_at = race->completed_at - 1;
	in.now = race->completed_at;
	cr_assert_eq(srv_write_apply(fx.wp, NULL, &in, 2), 0);
	srv_write_flush(fx.wp);
	cr_assert_not_null(srv_write_get(fx.wp, "b"));
	/* Expiry itself only submits. */
	cr_assert_eq(srv_write_expire(fx.wp, race->completed_at +
				      (int64_t)fx.cfg.finished_ttl_sec * 1000 +
				      1000), 1);
	cr_assert_eq(lg.n, 2);
	cr_assert_not_null(srv_write_get(fx.wp, "b"), "not before it applies");
	cr_assert_eq(apply_to(fx.wp, 1, 3, 0), 0);
	srv_write_flush(fx.wp);
	cr_assert_null(srv_write_get(fx.wp, "b"));
	cr_assert_eq(fx.ch[fx.n_ch - 1].seq, 3);
}

/* A webhook's create and event: one intent, one entry, one change. */
Test(apply, a_create_with_its_event_is_one_entry_and_one_change)
{
	struct wf_requester r;
	struct proto_race_update u = {0};
	struct proto_event ev = {strdup("step"), NULL, 5};
	const struct proto_race *race;

	wf_requester_init(&r, &fx);
	u.set = PROTO_F_ID | PROTO_F_SOURCE | PROTO_F_TITLE;
	u.id = "h";
	u.source = "github";
	u.title = "CI";
	srv_write_create_event(fx.wp, &r.rq, &u, &ev);
	cr_assert_eq(lg.n, 1, "one intent");
	cr_assert_eq(apply_to(fx.wp, 0, 7, 1), 0);
	srv_write_flush(fx.wp);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.a[0].status, 201);
	cr_assert_eq(r.a[0].seq, 7);
	cr_assert_eq(fx.n_ch, 1, "one change");
	cr_assert_eq(fx.ch[0].seq, 7);
	race = srv_write_get(fx.wp, "h");
	cr_assert_not_null(race);
	cr_assert_eq(race->n_events, 1, "with its event");
	cr_assert_eq(store_seq(fx.st), 7);

	/* A later delivery for the same race: one update change. */
	ev = (struct proto_event){strdup("step2"), NULL, 6};
	u.title = "CI again";
	srv_write_create_event(fx.wp, &r.rq, &u, &ev);
	cr_assert_eq(apply_to(fx.wp, 1, 9, 1), 0);
	srv_write_flush(fx.wp);
	cr_assert_eq(r.n, 2);
	cr_assert_eq(r.a[1].status, 200);
	cr_assert_eq(r.a[1].seq, 9);
	cr_assert_eq(fx.n_ch, 2);
	cr_assert_eq(fx.ch[1].seq, 9);
	race = srv_write_get(fx.wp, "h");
	cr_assert_eq(race->n_events, 2);
	cr_assert_str_eq(race->title, "CI again");

	/* Both are in LMDB. */
	wf_close(&fx);
	wf_reopen(&fx);
	race = srv_write_get(fx.wp, "h");
	cr_assert_not_null(race);
	cr_assert_eq(race->n_events, 2);
	cr_assert_str_eq(race->title, "CI again");
	cr_assert_eq(srv_write_seq(fx.wp), 9);
}

/* Without a sequencer (single node): two changes in one commit. */
Test(apply, single_node_a_create_with_its_event_is_two_changes)
{
	struct wf_requester r;
	struct proto_race_update u = {0};
	struct proto_event ev = {strdup("step"), NULL, 5};

	srv_write_set_sequencer(fx.wp, NULL);
	wf_requester_init(&r, &fx);
	u.set = PROTO_F_ID | PROTO_F_SOURCE | PROTO_F_TITLE;
	u.id = "h";
	u.source = "github";
	u.title = "CI";
	srv_write_create_event(fx.wp, &r.rq, &u, &ev);
	srv_write_flush(fx.wp);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.a[0].status, 201);
	cr_assert_eq(fx.n_ch, 2);
	cr_assert_eq(fx.ch[1].seq, fx.ch[0].seq + 1);
	cr_assert_eq(srv_write_get(fx.wp, "h")->n_events, 1);
}
