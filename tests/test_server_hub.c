/*
 * test_server_hub.c - the fan-out hub fed by the real write path (a real
 * LMDB store in a temp dir, no network): what a subscriber's next frame
 * holds, filters, the shared frames, falling out of the ring, replay
 * from the log. Subscribers have no connection (wsi NULL); the test
 * asks for their frames itself, as ws.c does on a writable callback.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "support/write_fixture.h"

static struct wf_fixture fx;
static struct srv_hub *hub;

static void open_hub(unsigned backlog)
{
	wf_open(&fx, 0, 0);
	fx.cfg.ws_backlog = backlog;
	hub = srv_hub_new(&fx.cfg, fx.wp);
	cr_assert_not_null(hub);
	fx.publish_to = hub;
}

static void setup(void)
{
	open_hub(64);
}

static void teardown(void)
{
	wf_close(&fx); /* its last flush may publish: the hub goes after */
	srv_hub_free(hub);
	fx.publish_to = NULL;
	wf_destroy(&fx);
}

TestSuite(hub, .init = setup, .fini = teardown, .timeout = 30);

static void create(const char *id, const char *state)
{
	char body[160];

	snprintf(body, sizeof(body),
		 "{\"id\":\"%s\",\"source\":\"cmd\",\"title\":\"t\","
		 "\"state\":\"%s\"}", id, state);
	wf_create(&fx, NULL, body);
}

/* The next frame's text (owned copy), or NULL when nothing is pending. */
static char *next_text(struct srv_sub *sub)
{
	struct srv_frame *f = srv_hub_next_frame(hub, sub, 0);
	char *t;

	if (!f)
		return NULL;
	t = strndup(f->buf + LWS_PRE, f->len);
	srv_frame_unref(&f);
	return t;
}

static int count(const char *s, const char *needle)
{
	int n = 0;

	for (; (s = strstr(s, needle)); s += strlen(needle))
		n++;
	return n;
}

Test(hub, a_subscriber_gets_every_committed_delta_in_one_batch_frame)
{
	struct srv_sub sub = {.cursor = srv_hub_seq(hub) + 1};
	char *t;

	srv_hub_link(hub, &sub);
	cr_assert_eq(srv_hub_pending(hub, &sub), 0);
	create("a", "running");
	wf_patch(&fx, NULL, "a", "{\"progress\":10}");
	cr_assert_eq(srv_hub_pending(hub, &sub), 0, "nothing before commit");
	srv_write_flush(fx.wp);
	cr_assert_eq(srv_hub_seq(hub), 2);
	cr_assert(sub.armed, "the subscriber was woken");
	t = next_text(&sub);
	cr_assert_not_null(t);
	cr_assert_not_null(strstr(t, "\"type\":\"batch\""));
	cr_assert_eq(count(t, "\"type\":\"delta\""), 2);
	cr_assert_lt(strstr(t, "\"seq\":1"), strstr(t, "\"seq\":2"));
	free(t);
	cr_assert_eq(sub.cursor, 3);
	cr_assert_null(next_text(&sub), "nothing is sent twice");
	srv_hub_unlink(hub, &sub);
}

Test(hub, a_filtered_subscriber_gets_a_race_whole_when_it_enters)
{
	struct srv_sub sub = {.cursor = srv_hub_seq(hub) + 1};
	char *t;

	sub.filter.has_states = 1;
	sub.filter.states = 1u << PROTO_STATE_RUNNING;
	srv_hub_link(hub, &sub);
	create("q", "queued");
	srv_write_flush(fx.wp);
	cr_assert_null(next_text(&sub), "a queued race does not pass");
	wf_patch(&fx, NULL, "q", "{\"state\":\"running\"}");
	srv_write_flush(fx.wp);
	t = next_text(&sub);
	cr_assert_not_null(t);
	cr_assert_not_null(strstr(t, "\"op\":\"create\""),
			   "it enters as a create: %s", t);
	cr_assert_not_null(strstr(t, "\"title\":\"t\""));
	free(t);
	srv_hub_unlink(hub, &sub);
}

Test(hub, subscribers_at_the_same_cursor_share_one_frame)
{
	struct srv_sub a = {.cursor = 1}, b = {.cursor = 1};
	struct srv_frame *fa, *fb;
	struct srv_hub_stats st;

	srv_hub_link(hub, &a);
	srv_hub_link(hub, &b);
	create("x", "running");
	create("y", "running");
	srv_write_flush(fx.wp);
	fa = srv_hub_next_frame(hub, &a, 0);
	fb = srv_hub_next_frame(hub, &b, 0);
	cr_assert_not_null(fa);
	cr_assert_eq(fa, fb, "one frame, two references");
	srv_hub_stats(hub, &st);
	cr_assert_eq(st.frames, 2);
	cr_assert_eq(st.frames_composed, 1);
	srv_frame_unref(&fa);
	srv_frame_unref(&fb);
	srv_hub_unlink(hub, &a);
	srv_hub_unlink(hub, &b);
}

Test(hub, a_subscriber_left_behind_by_the_ring_owes_a_reset)
{
	struct srv_sub sub = {.cursor = 1};
	struct srv_hub_stats st;
	char id[16];

	srv_hub_link(hub, &sub);
	for (int i = 0; i < 70; i++) { /* more than the ring's 64 */
		snprintf(id, sizeof(id), "r%d", i);
		create(id, "running");
	}
	srv_write_flush(fx.wp);
	cr_assert_eq(srv_hub_covers(hub, 0), 0);
	cr_assert_null(srv_hub_next_frame(hub, &sub, 0));
	cr_assert(sub.behind);
	srv_hub_stats(hub, &st);
	cr_assert_eq(st.resets, 1);
	srv_hub_unlink(hub, &sub);
}

Test(hub, a_resume_beyond_the_ring_replays_the_log)
{
	struct srv_frame *f;
	char id[16];

	for (int i = 0; i < 70; i++) {
		snprintf(id, sizeof(id), "r%d", i);
		create(id, "running");
	}
	srv_write_flush(fx.wp);
	cr_assert_eq(srv_hub_covers(hub, 2), 0);
	f = srv_hub_replay(hub, 2, 0);
	cr_assert_not_null(f);
	cr_assert_eq(count(f->buf + LWS_PRE, "\"type\":\"delta\""), 68);
	cr_assert_not_null(strstr(f->buf + LWS_PRE, "\"seq\":3,"));
	cr_assert_null(strstr(f->buf + LWS_PRE, "\"seq\":2,"));
	srv_frame_unref(&f);
}

Test(hub, a_snapshot_holds_the_committed_races_at_the_hub_seq)
{
	struct proto_filter every = {0};
	struct srv_frame *f;
	uint64_t seq;
	int64_t at;

	create("a", "running");
	create("b", "passed");
	srv_write_flush(fx.wp);
	f = srv_hub_snapshot(hub, &every, 0, 0, &seq, &at);
	cr_assert_not_null(f);
	cr_assert_eq(seq, 2);
	cr_assert_not_null(strstr(f->buf + LWS_PRE, "\"seq\":2"));
	cr_assert_eq(count(f->buf + LWS_PRE, "\"source\":\"cmd\""), 2);
	srv_frame_unref(&f);
}

/* A snapshot at seq S and the ring's deltas after S are what a later
 * subscriber needs: while someone still sends it, it is handed out again
 * (no second encode, no second buffer), whatever its age. */
Test(hub, a_snapshot_still_being_sent_is_shared_at_later_seqs)
{
	struct proto_filter every = {0};
	struct srv_frame *f1, *f2;
	struct srv_hub_stats st;
	uint64_t seq;
	int64_t at;
	char *t;

	create("a", "running");
	srv_write_flush(fx.wp);
	f1 = srv_hub_snapshot(hub, &every, 1, 0, &seq, &at);
	cr_assert_eq(seq, 1);
	create("b", "running");
	srv_write_flush(fx.wp);
	f2 = srv_hub_snapshot(hub, &every, 1, 60000, &seq, &at);
	cr_assert_eq(f2, f1, "the same frame");
	cr_assert_eq(seq, 1, "at its own seq");
	cr_assert_eq(at, 0, "made at 0: the caller adds a fresh time");
	{
		struct srv_sub sub = {.cursor = seq + 1};

		t = next_text(&sub);
		cr_assert_not_null(strstr(t, "\"id\":\"b\""));
		free(t);
	}
	srv_hub_stats(hub, &st);
	cr_assert_eq(st.snapshots_encoded, 1);
	cr_assert_gt(srv_hub_queued_bytes(hub), f1->len);
	srv_frame_unref(&f1);
	srv_frame_unref(&f2);
}

/* One nobody holds any more goes stale after a second; one the ring no
 * longer continues is never handed out again. Either way a new one is
 * made, at the hub's seq, and the old one's bytes are no longer counted. */
Test(hub, a_stale_or_uncontinued_snapshot_is_made_anew)
{
	struct proto_filter every = {0};
	struct srv_frame *f, *held;
	struct srv_hub_stats st;
	uint64_t seq;
	int64_t at;
	char id[16];

	create("a", "running");
	srv_write_flush(fx.wp);
	f = srv_hub_snapshot(hub, &every, 0, 0, &seq, &at);
	srv_frame_unref(&f);
	f = srv_hub_snapshot(hub, &every, 0, 2000, &seq, &at);
	srv_hub_stats(hub, &st);
	cr_assert_eq(st.snapshots_encoded, 2, "stale: made anew");
	cr_assert_eq(at, 2000);
	held = f;
	for (int i = 0; i < 70; i++) { /* more than the ring's 64 */
		snprintf(id, sizeof(id), "r%d", i);
		create(id, "running");
	}
	srv_write_flush(fx.wp);
	f = srv_hub_snapshot(hub, &every, 0, 2001, &seq, &at);
	cr_assert_neq(f, held, "the ring moved past it");
	cr_assert_eq(seq, 71);
	srv_frame_unref(&held);
	srv_frame_unref(&f);
	srv_hub_expire(hub, 10000);
	cr_assert_eq(srv_hub_queued_bytes(hub), 0, "nothing held, nothing "
		     "counted");
}

/* The wake-up timer belongs on the fan-out thread's context whichever
 * thread's PROTOCOL_INIT comes first (lws 4.1 runs it when a context is
 * first serviced, so the order is a race). The contexts are never
 * touched while nothing is queued: two addresses stand for them. */
Test(hub, the_timer_stays_on_the_context_attached_for_it_in_either_order)
{
	static char a, b;
	struct lws_context *main_ctx = (struct lws_context *)&a;
	struct lws_context *fan_ctx = (struct lws_context *)&b;

	srv_hub_attach(hub, fan_ctx, 1);
	srv_hub_attach(hub, main_ctx, 0);
	cr_assert_eq(srv_hub_timer_ctx(hub), fan_ctx, "fan-out first");
	srv_hub_detach(hub, main_ctx);
	cr_assert_eq(srv_hub_timer_ctx(hub), fan_ctx);
	srv_hub_detach(hub, fan_ctx);
	cr_assert_null(srv_hub_timer_ctx(hub));

	srv_hub_attach(hub, main_ctx, 0);
	cr_assert_eq(srv_hub_timer_ctx(hub), main_ctx, "the only one");
	srv_hub_attach(hub, fan_ctx, 1);
	cr_assert_eq(srv_hub_timer_ctx(hub), fan_ctx, "main first");
	srv_hub_detach(hub, fan_ctx);
	cr_assert_eq(srv_hub_timer_ctx(hub), main_ctx, "it takes over");
	srv_hub_detach(hub, main_ctx);
	cr_assert_null(srv_hub_timer_ctx(hub));
}
