/*
 * test_cli_board.c - the model behind `raceboard watch` (cli/board.c):
 * frames applied to the board, and the dual-rail trust-window rules.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "board.h"
#include "rfc3339.h"
#include "width.h"

/* 2026-11-28T23:00:00.000Z */
#define T0 1795906800000LL

static json_object *race_at(const char *json)
{
	json_object *o = json_tokener_parse(json);

	cr_assert_not_null(o, "bad fixture: %s", json);
	return o;
}

static void rail(const char *json, int64_t now, struct cli_rail *r)
{
	json_object *o = race_at(json);

	cli_board_rail(o, now, r);
	json_object_put(o);
}

#define RUNNING "{\"id\":\"a\",\"state\":\"running\",\"progress\":40," \
	"\"eta_sec\":100,\"update_interval_hint\":10,"              \
	"\"started_at\":\"2026-11-28T22:59:00.000Z\","              \
	"\"last_progress_update\":\"2026-11-28T23:00:00.000Z\","    \
	"\"last_eta_update\":\"2026-11-28T23:00:00.000Z\""

Test(board, no_overlay_inside_trust_window)
{
	struct cli_rail r;

	rail(RUNNING "}", T0 + 9000, &r);
	cr_assert_eq(r.solid, 40);
	cr_assert_eq(r.predicted, -1);
	cr_assert_eq(r.eta_left, 91);
	cr_assert_eq(r.eta_approx, 0, "fresh ETA has no ≈");
}

Test(board, overlay_after_trust_window_at_eta_rate)
{
	struct cli_rail r;

	/* 60 points in 100 s: 0.6/s; 20 s later that is 12 points. */
	rail(RUNNING "}", T0 + 20000, &r);
	cr_assert_eq(r.predicted, 52);
	cr_assert_eq(r.eta_left, 80);
	cr_assert_eq(r.eta_approx, 1);
}

Test(board, overlay_capped_at_20_points)
{
	struct cli_rail r;

	rail(RUNNING "}", T0 + 90000, &r);
	cr_assert_eq(r.predicted, 60);
}

Test(board, server_rate_wins)
{
	struct cli_rail r;

	rail(RUNNING ",\"progress_prediction\":{\"rate_per_sec\":0.1}}",
	     T0 + 30000, &r);
	cr_assert_eq(r.predicted, 43);
}

Test(board, never_for_exact_eta)
{
	struct cli_rail r;

	rail(RUNNING ",\"eta_source\":1}", T0 + 60000, &r);
	cr_assert_eq(r.predicted, -1);
	cr_assert_eq(r.eta_left, 40);
	cr_assert_eq(r.eta_approx, 0, "an exact ETA is never approximate");
}

Test(board, none_below_five_percent)
{
	struct cli_rail r;

	rail("{\"state\":\"running\",\"progress\":4,\"update_interval_hint\":1,"
	     "\"started_at\":\"2026-11-28T22:59:00.000Z\","
	     "\"last_progress_update\":\"2026-11-28T23:00:00.000Z\"}",
	     T0 + 30000, &r);
	cr_assert_eq(r.predicted, -1);
	cr_assert_eq(r.eta_left, -1);
}

Test(board, rate_from_history_without_eta)
{
	struct cli_rail r;

	/* 40 points in 60 s since the start; 15 s later: +10. */
	rail("{\"state\":\"running\",\"progress\":40,\"update_interval_hint\":5,"
	     "\"started_at\":\"2026-11-28T22:59:00.000Z\","
	     "\"last_progress_update\":\"2026-11-28T23:00:00.000Z\"}",
	     T0 + 15000, &r);
	cr_assert_eq(r.predicted, 50);
}

Test(board, finishing_soon_and_finished)
{
	struct cli_rail r;

	rail(RUNNING "}", T0 + 100500, &r);
	cr_assert_eq(r.finishing, 1);
	cr_assert_eq(r.eta_left, 0);
	rail("{\"state\":\"passed\",\"progress\":100,\"eta_sec\":5,"
	     "\"last_eta_update\":\"2026-11-28T23:00:00.000Z\"}", T0, &r);
	cr_assert_eq(r.eta_left, -1, "no ETA once finished");
	cr_assert_eq(r.predicted, -1);
}

Test(board, durations)
{
	char b[32];

	cli_board_duration(45, b, sizeof(b));
	cr_assert_str_eq(b, "45s");
	cli_board_duration(150, b, sizeof(b));
	cr_assert_str_eq(b, "2m 30s");
	cli_board_duration(3900, b, sizeof(b));
	cr_assert_str_eq(b, "1h 05m");
}

static int apply(struct cli_board *b, const char *json, int64_t local)
{
	json_object *f = json_tokener_parse(json);
	int rc = cli_board_apply(b, f, local);

	json_object_put(f);
	return rc;
}

static json_object *race_of(struct cli_board *b, const char *id)
{
	json_object *r = NULL;

	json_object_object_get_ex(b->races, id, &r);
	return r;
}

Test(board, snapshot_then_deltas)
{
	struct cli_board b;
	json_object *r, *v;

	cr_assert_eq(cli_board_init(&b), 0);
	cr_assert_eq(apply(&b, "{\"type\":\"hello\",\"seq\":3}", T0), 0);
	cr_assert_eq(apply(&b, "{\"type\":\"snapshot\",\"seq\":7,"
		"\"server_time\":\"2026-11-28T23:00:05.000Z\",\"races\":["
		"{\"id\":\"a\",\"state\":\"running\",\"progress\":1,"
		"\"completed_at\":\"x\"},{\"id\":\"b\",\"state\":\"running\"}]}",
		T0), 1);
	cr_assert_eq(b.seq, 7);
	cr_assert_eq(cli_board_server_now(&b, T0 + 1000), T0 + 6000,
		     "clock offset from server_time");
	cr_assert_eq(apply(&b, "{\"type\":\"batch\",\"deltas\":["
		"{\"type\":\"delta\",\"seq\":8,\"op\":\"update\",\"id\":\"a\","
		"\"changes\":{\"progress\":50,\"completed_at\":null}},"
		"{\"type\":\"delta\",\"seq\":9,\"op\":\"create\",\"id\":\"c\","
		"\"race\":{\"id\":\"c\",\"state\":\"queued\"}},"
		"{\"type\":\"delta\",\"seq\":10,\"op\":\"delete\",\"id\":\"b\"},"
		"{\"type\":\"delta\",\"seq\":11,\"op\":\"update\",\"id\":\"a\","
		"\"changes\":{\"event\":{\"type\":\"log\"}}}]}", T0), 1);
	cr_assert_eq(b.seq, 11);
	r = race_of(&b, "a");
	cr_assert(json_object_object_get_ex(r, "progress", &v));
	cr_assert_eq(json_object_get_int(v), 50);
	cr_assert_not(json_object_object_get_ex(r, "completed_at", NULL),
		      "null removes a field");
	cr_assert_not(json_object_object_get_ex(r, "event", NULL));
	cr_assert_not_null(race_of(&b, "c"));
	cr_assert_null(race_of(&b, "b"));
	cr_assert_eq(apply(&b, "{\"type\":\"heartbeat\",\"seq\":12}", T0), 0);
	cr_assert_eq(apply(&b, "[1]", T0), -1);
	cli_board_fini(&b);
}

Test(board, race_leaving_the_filter_is_dropped)
{
	static const char *const states[] = {"running", NULL};
	struct cli_board b;

	cr_assert_eq(cli_board_init(&b), 0);
	b.states = states;
	apply(&b, "{\"type\":\"snapshot\",\"seq\":1,\"races\":["
	      "{\"id\":\"a\",\"state\":\"running\"}]}", T0);
	cr_assert_not_null(race_of(&b, "a"));
	apply(&b, "{\"type\":\"delta\",\"seq\":2,\"op\":\"update\",\"id\":\"a\","
	      "\"changes\":{\"state\":\"passed\"}}", T0);
	cr_assert_null(race_of(&b, "a"));
	cli_board_fini(&b);
}

Test(board, sorted_newest_first)
{
	struct cli_board b;
	json_object *list[4];

	cr_assert_eq(cli_board_init(&b), 0);
	apply(&b, "{\"type\":\"snapshot\",\"seq\":1,\"races\":["
	      "{\"id\":\"old\",\"started_at\":\"2026-01-01T00:00:00.000Z\"},"
	      "{\"id\":\"new\",\"started_at\":\"2026-02-01T00:00:00.000Z\"}]}",
	      T0);
	cr_assert_eq(cli_board_sorted(&b, list, 4), 2);
	cr_assert_str_eq(json_object_get_string(
		json_object_object_get(list[0], "id")), "new");
	cli_board_fini(&b);
}

/* Terminal cells of UTF-8 text (width.c): the widths watch and list fit
 * their lines with. */
Test(width, cells_of_ascii_wide_combining_and_emoji)
{
	cr_assert_eq(cli_width(""), 0);
	cr_assert_eq(cli_width("make all"), 8);
	cr_assert_eq(cli_width("\u2588\u2592\u2591 \u2248"), 5, "one each");
	cr_assert_eq(cli_width("\u4e16\u754c"), 4, "CJK takes two");
	cr_assert_eq(cli_width("\U0001F680"), 2, "emoji takes two");
	cr_assert_eq(cli_width("e\u0301"), 1, "combining mark takes none");
	cr_assert_eq(cli_width("\xff\xfe"), 2, "invalid bytes one each");
}

Test(width, fit_cuts_with_an_ellipsis_inside_the_width)
{
	char buf[64];

	cr_assert_eq(cli_width_fit(buf, sizeof(buf), "short", 10), 5);
	cr_assert_str_eq(buf, "short");
	cr_assert_eq(cli_width_fit(buf, sizeof(buf), "exactly10!", 10), 10);
	cr_assert_str_eq(buf, "exactly10!");
	cr_assert_eq(cli_width_fit(buf, sizeof(buf), "a longer title", 8), 8);
	cr_assert_str_eq(buf, "a longe\u2026");
	/* A wide character never straddles the edge. */
	cr_assert_eq(cli_width_fit(buf, sizeof(buf), "ab\u4e16\u754c", 4), 3);
	cr_assert_str_eq(buf, "ab\u2026");
	cr_assert_eq(cli_width_fit(buf, sizeof(buf), "anything", 0), 0);
	cr_assert_str_eq(buf, "");
	cr_assert_eq(cli_width_fit(buf, sizeof(buf), "abc", 1), 1);
	cr_assert_str_eq(buf, "\u2026");
}

Test(width, fit_turns_control_characters_into_spaces)
{
	char buf[64];

	cli_width_fit(buf, sizeof(buf), "red\033[31m\nline", 40);
	cr_assert_str_eq(buf, "red [31m line");
	cr_assert_null(strchr(buf, '\033'));
}

Test(width, fit_never_overflows_a_small_buffer)
{
	char buf[8];

	cli_width_fit(buf, sizeof(buf), "\u4e16\u754c\u4f60\u597d", 40);
	cr_assert_lt(strlen(buf), sizeof(buf));
	cr_assert_gt(strlen(buf), 0);
}
