/*
 * test_cluster_log.c - the cluster's ordered log (cluster/clog.h) against
 * a real nats-server with JetStream on loopback.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clog.h"
#include "support/nats_proc.h"

#define MAXE 512

/* What the callbacks of one log saw; they run on NATS threads. */
struct seen {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t n;
	uint64_t seq[MAXE];
	char origin[MAXE][64];
	char data[MAXE][32];
	size_t acks, ack_errors;
	uint64_t ack_seq[MAXE + 1];  /* by token */
	size_t links_down;
};

static struct nats_proc nats;

static void setup(void)
{
	cr_assert_eq(nats_start(&nats), 0, "nats-server did not start");
}

static void teardown(void)
{
	nats_cleanup(&nats);
}

TestSuite(cluster_log, .init = setup, .fini = teardown, .timeout = 60);

static void seen_init(struct seen *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
}

static void on_entry(void *ctx, const struct clu_entry *e)
{
	struct seen *s = ctx;

	pthread_mutex_lock(&s->lock);
	if (s->n < MAXE) {
		s->seq[s->n] = e->seq;
		snprintf(s->origin[s->n], 64, "%s", e->origin);
		snprintf(s->data[s->n], 32, "%.*s", (int)e->len,
			 (const char *)e->data);
		s->n++;
	}
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void on_appended(void *ctx, uint64_t token, int err, uint64_t seq)
{
	struct seen *s = ctx;

	pthread_mutex_lock(&s->lock);
	if (err)
		s->ack_errors++;
	else if (token <= MAXE)
		s->ack_seq[token] = seq;
	s->acks++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void on_link(void *ctx, int connected)
{
	struct seen *s = ctx;

	pthread_mutex_lock(&s->lock);
	if (!connected)
		s->links_down++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* Waits up to `secs` until *count reaches want; returns what it is. */
static size_t wait_for(struct seen *s, const size_t *count, size_t want,
		       int secs)
{
	struct timespec until;
	size_t got;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += secs;
	pthread_mutex_lock(&s->lock);
	while (*count < want &&
	       pthread_cond_timedwait(&s->cond, &s->lock, &until) == 0)
		;
	got = *count;
	pthread_mutex_unlock(&s->lock);
	return got;
}

static struct clu_log *open_log(const char *node, int replicas,
				struct seen *s, int *err)
{
	struct clu_log_cfg cfg = {
		.urls = nats.url, .stream = "RBTEST", .node = node,
		.replicas = replicas, .timeout_ms = 2000,
	};
	struct clu_log_handlers h = {on_entry, on_appended, on_link, s};
	char why[256];
	struct clu_log *log = clu_log_open(&cfg, &h, err, why, sizeof(why));

	if (!log)
		cr_log_info("open %s: %s", node, why);
	return log;
}

static void append_n(struct clu_log *log, int from, int to)
{
	char body[32];

	for (int i = from; i <= to; i++) {
		int len = snprintf(body, sizeof(body), "intent-%d", i);
		cr_assert_eq(clu_log_append(log, body, (size_t)len,
					    (uint64_t)i), CLU_OK);
	}
}

Test(cluster_log, appends_come_back_in_order_with_their_origin)
{
	struct seen s;
	int err;
	struct clu_log *log;

	seen_init(&s);
	log = open_log("node-a", 1, &s, &err);
	cr_assert_not_null(log, "open: %s", clu_strerror(err));
	cr_assert_eq(clu_log_follow(log, 0), CLU_OK);
	append_n(log, 1, 200);
	cr_assert_eq(wait_for(&s, &s.n, 200, 20), 200);
	cr_assert_eq(wait_for(&s, &s.acks, 200, 20), 200);
	cr_assert_eq(s.ack_errors, 0);
	for (size_t i = 0; i < 200; i++) {
		char want[32];
		unsigned tok;

		if (i)
			cr_assert_gt(s.seq[i], s.seq[i - 1]);
		cr_assert_eq(sscanf(s.origin[i], "node-a/%u", &tok), 1,
			     "origin %s", s.origin[i]);
		snprintf(want, sizeof(want), "intent-%u", tok);
		cr_assert_str_eq(s.data[i], want);
		cr_assert_eq(s.ack_seq[tok], s.seq[i],
			     "the ack and the entry disagree on the seq");
	}
	uint64_t first = 0, last = 0;
	cr_assert_eq(clu_log_bounds(log, &first, &last), CLU_OK);
	cr_assert_eq(last, s.seq[199]);
	clu_log_close(log);
}

Test(cluster_log, a_follow_resumes_after_what_was_applied)
{
	struct seen a, b;
	int err;
	struct clu_log *log;

	seen_init(&a);
	seen_init(&b);
	log = open_log("node-a", 1, &a, &err);
	cr_assert_not_null(log);
	append_n(log, 1, 50);
	cr_assert_eq(wait_for(&a, &a.acks, 50, 20), 50);
	clu_log_close(log);

	log = open_log("node-a", 1, &b, &err);
	cr_assert_not_null(log);
	cr_assert_eq(clu_log_follow(log, 20), CLU_OK);
	cr_assert_eq(wait_for(&b, &b.n, 30, 20), 30);
	cr_assert_eq(b.seq[0], 21);
	cr_assert_eq(b.seq[29], 50);
	/* Following again from an earlier point replays from there, once. */
	cr_assert_eq(clu_log_follow(log, 45), CLU_OK);
	cr_assert_eq(wait_for(&b, &b.n, 35, 20), 35);
	cr_assert_eq(b.seq[30], 46);
	cr_assert_eq(b.seq[34], 50);
	clu_log_close(log);
	cr_assert_eq(b.n, 35, "an entry was delivered twice");
}

Test(cluster_log, two_nodes_see_one_order)
{
	struct seen a, b;
	int err;
	struct clu_log *la, *lb;

	seen_init(&a);
	seen_init(&b);
	la = open_log("node-a", 1, &a, &err);
	lb = open_log("node-b", 1, &b, &err);
	cr_assert(la && lb);
	cr_assert_eq(clu_log_follow(la, 0), CLU_OK);
	cr_assert_eq(clu_log_follow(lb, 0), CLU_OK);
	for (int i = 1; i <= 100; i++) {
		append_n(la, i, i);
		append_n(lb, i, i);
	}
	cr_assert_eq(wait_for(&a, &a.n, 200, 20), 200);
	cr_assert_eq(wait_for(&b, &b.n, 200, 20), 200);
	for (size_t i = 0; i < 200; i++) {
		cr_assert_eq(a.seq[i], b.seq[i]);
		cr_assert_str_eq(a.origin[i], b.origin[i]);
	}
	clu_log_close(la);
	clu_log_close(lb);
}

Test(cluster_log, a_repeated_token_is_stored_once)
{
	struct seen s;
	int err;
	struct clu_log *log;

	seen_init(&s);
	log = open_log("node-a", 1, &s, &err);
	cr_assert_not_null(log);
	cr_assert_eq(clu_log_follow(log, 0), CLU_OK);
	append_n(log, 7, 7);
	append_n(log, 7, 7);
	append_n(log, 8, 8);
	cr_assert_eq(wait_for(&s, &s.acks, 3, 20), 3);
	cr_assert_eq(wait_for(&s, &s.n, 2, 20), 2);
	cr_assert_str_eq(s.origin[0], "node-a/7");
	cr_assert_str_eq(s.origin[1], "node-a/8");
	clu_log_close(log);
}

Test(cluster_log, other_settings_are_refused)
{
	struct seen s;
	int err;
	struct clu_log *log;

	seen_init(&s);
	log = open_log("node-a", 1, &s, &err);
	cr_assert_not_null(log);
	cr_assert_null(open_log("node-b", 3, &s, &err));
	cr_assert_eq(err, CLU_ECONFLICT);
	clu_log_close(log);
}

Test(cluster_log, nats_down_is_an_error_in_bounded_time)
{
	struct seen s;
	int err;
	struct clu_log *log;
	time_t t0;

	seen_init(&s);
	log = open_log("node-a", 1, &s, &err);
	cr_assert_not_null(log);
	nats_kill(&nats);
	cr_assert_eq(wait_for(&s, &s.links_down, 1, 10), 1);
	t0 = time(NULL);
	/* Queued while down: each is answered with an error in time, or
	 * refused at once. */
	if (clu_log_append(log, "x", 1, 1) == CLU_OK)
		cr_assert_eq(wait_for(&s, &s.acks, 1, 10), 1);
	cr_assert_eq(s.ack_seq[1], 0);
	cr_assert_leq(time(NULL) - t0, 10);
	clu_log_close(log);

	t0 = time(NULL);
	cr_assert_null(open_log("node-b", 1, &s, &err));
	cr_assert_eq(err, CLU_EUNAVAILABLE);
	cr_assert_leq(time(NULL) - t0, 10);
}
