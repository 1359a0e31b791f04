/*
 * test_server_write.c - the write path's batch logic, without a network:
 * a real LMDB store in a temp dir, no lws context (so batches commit on
 * this thread, when the test calls srv_write_flush()). What a requester
 * is told, in which order, what is published, and what survives.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "delta.h"
#include "learn.h"
#include "support/write_fixture.h"

static struct wf_fixture fx;

static void setup(void)
{
	wf_open(&fx, 0, 0);
}

static void teardown(void)
{
	wf_destroy(&fx);
}

TestSuite(write, .init = setup, .fini = teardown, .timeout = 30);

Test(write, answers_come_in_request_order_once_the_batch_is_committed)
{
	struct wf_requester r;

	wf_requester_init(&r, &fx);
	wf_create(&fx, &r, "{\"id\":\"a\",\"source\":\"cmd\",\"title\":\"t\"}");
	wf_patch(&fx, &r, "a", "{\"progress\":40}");
	wf_patch(&fx, &r, "nope", "{\"progress\":1}");
	srv_write_delete(fx.wp, &r.rq, "a");
	cr_assert_eq(r.n, 0, "nobody is answered before the commit");
	cr_assert_eq(fx.n_ch, 0, "nothing is published before the commit");
	cr_assert(srv_write_busy(fx.wp));
	cr_assert_eq(store_seq(fx.st), 0);

	srv_write_flush(fx.wp);
	cr_assert_eq(r.n, 4);
	cr_assert_eq(r.a[0].status, 201);
	cr_assert_eq(r.a[1].status, 200);
	cr_assert_eq(r.a[2].status, 404);
	cr_assert_eq(r.a[3].status, 200);
	cr_assert_eq(r.a[0].seq, 1);
	cr_assert_eq(r.a[1].seq, 2);
	cr_assert_eq(r.a[2].seq, 0, "a refused write takes no seq");
	cr_assert_eq(r.a[3].seq, 3);
	cr_assert_eq(store_seq(fx.st), 3, "durable before anyone is told");
	cr_assert_not_null(strstr(r.a[1].body, "\"progress\":40"));
	cr_assert_eq(srv_write_busy(fx.wp), 0);
}

Test(write, an_error_result_names_its_code_field_and_message)
{
	struct wf_requester r;

	wf_requester_init(&r, &fx);
	wf_patch(&fx, &r, "missing", "{\"progress\":1}");
	srv_write_flush(fx.wp);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.a[0].status, 404);
	cr_assert_str_eq(r.a[0].code, "not_found");
	cr_assert_str_eq(r.a[0].field, "id");
	cr_assert_str_eq(r.a[0].message, "no race with id 'missing'");
	/* REST's body says the same thing. */
	cr_assert_not_null(strstr(r.a[0].body, "\"error\":\"not_found\""));
	cr_assert_not_null(strstr(r.a[0].body, "\"field\":\"id\""));
}

Test(write, only_committed_changes_are_published_in_seq_order)
{
	struct wf_requester r;

	wf_requester_init(&r, &fx);
	wf_create(&fx, &r, "{\"id\":\"a\",\"source\":\"cmd\",\"title\":\"t\","
			   "\"state\":\"queued\"}");
	wf_patch(&fx, &r, "a", "{\"state\":\"running\"}");
	wf_patch(&fx, &r, "a", "{}"); /* no change: no seq, no delta */
	wf_patch(&fx, &r, "b", "{\"progress\":3}");
	srv_write_flush(fx.wp);
	cr_assert_eq(fx.n_ch, 2);
	cr_assert_eq(fx.ch[0].seq, 1);
	cr_assert_eq(fx.ch[0].op, PROTO_DELTA_CREATE);
	cr_assert_eq(fx.ch[1].seq, 2);
	cr_assert_eq(fx.ch[1].op, PROTO_DELTA_UPDATE);
	cr_assert_eq(fx.ch[1].prev_state, PROTO_STATE_QUEUED);
	cr_assert_eq(fx.ch[1].state, PROTO_STATE_RUNNING);
	cr_assert_eq(r.a[2].status, 200);
	cr_assert_eq(r.a[2].seq, 0);
}

Test(write, a_waiting_reader_resumes_after_the_writes_before_it)
{
	struct wf_requester w, rd;

	wf_requester_init(&w, &fx);
	wf_requester_init(&rd, &fx);
	wf_create(&fx, &w, "{\"id\":\"a\",\"source\":\"cmd\",\"title\":\"t\"}");
	srv_write_wait(fx.wp, &rd.rq);
	srv_write_flush(fx.wp);
	cr_assert_eq(w.n, 1);
	cr_assert_eq(rd.n, 1);
	cr_assert(rd.a[0].resumed);
	cr_assert_gt(rd.a[0].order, w.a[0].order);
	cr_assert_eq(rd.a[0].busy, 0, "nothing uncommitted is left to see");
	cr_assert_not_null(srv_write_get(fx.wp, "a"));
}

Test(write, a_forgotten_requester_is_not_called_but_its_write_stands)
{
	struct wf_requester r;

	wf_requester_init(&r, &fx);
	wf_create(&fx, &r, "{\"id\":\"a\",\"source\":\"cmd\",\"title\":\"t\"}");
	srv_write_forget(fx.wp, &r.rq);
	srv_write_flush(fx.wp);
	cr_assert_eq(r.n, 0);
	cr_assert_eq(fx.n_ch, 1);
	cr_assert_eq(store_seq(fx.st), 1);
}

Test(write, committed_writes_survive_a_reopen)
{
	const struct proto_race *race;

	wf_create(&fx, NULL, "{\"id\":\"a\",\"source\":\"cmd\",\"title\":\"t\"}");
	wf_patch(&fx, NULL, "a", "{\"progress\":70}");
	srv_write_flush(fx.wp);
	wf_close(&fx);
	wf_reopen(&fx);
	race = srv_write_get(fx.wp, "a");
	cr_assert_not_null(race);
	cr_assert_eq(race->progress, 70);
	cr_assert_eq(srv_write_seq(fx.wp), 2);
}

/* A store that cannot grow: the batch that does not fit fails as a
 * whole, and what it changed in memory is taken back from LMDB. */
Test(write, a_failed_commit_answers_every_write_and_undoes_them)
{
	char body[1200], title[1025];
	struct wf_requester r;
	uint64_t seq = 0;
	int i, full = -1;

	wf_destroy(&fx);
	wf_open(&fx, 256 * 1024, 256 * 1024);
	memset(title, 'x', sizeof(title) - 1);
	title[sizeof(title) - 1] = '\0';
	for (i = 0; i < 2000 && full < 0; i++) {
		char id[16];

		snprintf(id, sizeof(id), "r%d", i);
		snprintf(body, sizeof(body),
			 "{\"id\":\"%s\",\"source\":\"cmd\",\"title\":\"%s\"}",
			 id, title);
		wf_requester_init(&r, &fx);
		seq = srv_write_seq(fx.wp);
		wf_create(&fx, &r, body);
		wf_patch(&fx, &r, "r0", "{\"progress\":5}");
		srv_write_flush(fx.wp);
		cr_assert_eq(r.n, 2);
		if (r.a[0].status >= 500)
			full = i;
		else
			cr_assert_eq(r.a[0].status, 201);
	}
	cr_assert_geq(full, 1, "the store filled up");
	cr_assert_eq(r.a[0].status, 507);
	cr_assert_str_eq(r.a[0].code, "store_full");
	cr_assert_eq(r.a[1].status, 507, "the whole batch fails");
	cr_assert_eq(r.a[0].seq, 0);
	{
		char id[16];

		snprintf(id, sizeof(id), "r%d", full);
		cr_assert_null(srv_write_get(fx.wp, id), "the create is undone");
	}
	cr_assert_eq(srv_write_seq(fx.wp), seq, "its seqs are given back");
	cr_assert_eq(store_seq(fx.st), seq);
	cr_assert_eq(fx.last_seq, seq, "nothing of it was published");
}

/* progress_prediction's numbers are written without printf (issue 15):
 * srv_learn_format_rounded() must print exactly what %.6g printed for
 * the rounded value, or decline (0) so that printf still does. */
static void expect_g6(double x, int decimals)
{
	static const double units[] = {1, 0.1, 0.01, 0.001, 0.0001};
	char ref[64], got[64];
	size_t n = srv_learn_format_rounded(x, decimals, got);

	snprintf(ref, sizeof ref, "%.6g",
		 round(x / units[decimals]) * units[decimals]);
	if (n)
		cr_assert(n == strlen(ref) && !strcmp(got, ref),
			  "x=%.17g decimals=%d: %s, printf %s", x, decimals,
			  got, ref);
	else
		cr_assert(!(fabs(round(x / units[decimals])) < 1e6),
			  "x=%.17g decimals=%d declined", x, decimals);
}

Test(write, progress_prediction_numbers_print_as_printf_g6,
     .timeout = 120)
{
	static const double special[] = {
		0.0, -0.0, -0.004, 0.004, 0.005, -0.005, 0.015, 1e-9, -1e-9,
		999999.994, 9999.995, 9999.994, 99.99995, 99.99994, 1e6, -1e6,
		1e300, -1e300, 0.1 + 0.2, 57.0 * 0.01, 0.57, 1.0 / 3, 2.0 / 3,
	};
	uint64_t r = 0x2545f4914f6cdd1du;

	for (int d = 0; d <= 4; d++) {
		for (size_t i = 0; i < sizeof special / sizeof *special; i++)
			expect_g6(special[i], d);
		expect_g6(NAN, d);
		expect_g6(INFINITY, d);
		expect_g6(-INFINITY, d);
	}
	for (int d = 2; d <= 4; d += 2) {
		double unit = d == 2 ? 0.01 : 0.0001;

		for (int n = -30000; n <= 30000; n++) {
			expect_g6(n * unit, d);
			expect_g6((n + 0.5) * unit, d);
		}
	}
	for (int i = 0; i < 200000; i++) {
		/* Magnitudes from 1e-6 to 1e7, both signs. */
		double x;

		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		x = (double)(r >> 11) / 9007199254740992.0;
		x = pow(10, -6 + 13 * x) * (r & 1 ? -1 : 1);
		expect_g6(x, r >> 1 & 1 ? 2 : 4);
	}
}
