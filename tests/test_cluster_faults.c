/*
 * test_cluster_faults.c - cluster mode against a 3-node NATS JetStream
 * cluster on loopback (3 replicas) and three real servers: kill -9 of
 * the stream's leader during writes. Writes stall or fail with 503 while
 * a new leader is elected, none that was acknowledged is lost, and
 * service resumes.
 */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/http_client.h"
#include "support/nats_proc.h"
#include "support/server_proc.h"

#define NODES 3
#define ACKED_MAX 32768      /* far more than a run acknowledges */

static struct nats_proc nc[NODES];
static struct server_proc srv[NODES];

static void setup(void)
{
	cr_assert_eq(nats_cluster_start(nc, NODES), 0,
		     "the NATS cluster did not start");
}

static void teardown(void)
{
	for (int i = 0; i < NODES; i++) {
		if (srv[i].pid > 0)
			server_kill(&srv[i]);
		if (srv[i].dir[0])
			server_cleanup(&srv[i]);
		nats_cleanup(&nc[i]);
	}
}

TestSuite(cluster_faults, .init = setup, .fini = teardown, .timeout = 180);

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static char urls[256], names[NODES][16];

static void start_nodes(const char *stream)
{
	size_t n = 0;

	for (int i = 0; i < NODES; i++)
		n += (size_t)snprintf(urls + n, sizeof(urls) - n, "%s%s",
				      i ? "," : "", nc[i].url);
	for (int i = 0; i < NODES; i++) {
		const char *extra[] = {"--nats", urls, "--nats-stream", stream,
				       "--nats-replicas", "3", "--node",
				       names[i], "--no-sync", NULL};
		int k = 0;

		snprintf(names[i], sizeof(names[i]), "n%d", i);
		/* A fresh JetStream cluster may refuse the stream briefly. */
		while (server_start(&srv[i], extra)) {
			server_cleanup(&srv[i]);
			cr_assert_lt(++k, 20, "node %d did not start", i);
			sleep_ms(250);
		}
	}
}

/* The name of the stream's leader, from a live member's /jsz. */
static int leader_of(const char *stream, int ask)
{
	static char buf[65536];
	const char *p;
	char want[64];

	if (nats_monitor_get(&nc[ask], "/jsz?accounts=true&streams=true",
			     buf, sizeof(buf)))
		return -1;
	snprintf(want, sizeof(want), "\"name\": \"%s\"", stream);
	p = strstr(buf, want);
	if (!p) {
		snprintf(want, sizeof(want), "\"name\":\"%s\"", stream);
		p = strstr(buf, want);
	}
	p = p ? strstr(p, "\"leader\"") : NULL;
	if (!p)
		return -1;
	for (int i = 0; i < NODES; i++) {
		char q[32];

		snprintf(q, sizeof(q), "\"%s\"", nc[i].name);
		if (!strncmp(strchr(p + 8, '"'), q, strlen(q)))
			return i;
	}
	return -1;
}

struct writer {
	pthread_t t;
	int node;
	volatile int *stop;
	int acked;               /* ids acknowledged: w<node>-<k> for k < */
	char acked_ids[ACKED_MAX][24];
	int n_acked;
	int refused;             /* 503 */
	int other;               /* anything else: a failure */
	volatile int64_t last_ok; /* when the last write was acknowledged */
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	char body[128];

	for (int k = 0; !*w->stop && w->n_acked < ACKED_MAX; k++) {
		struct http_response r;

		snprintf(body, sizeof(body), "{\"id\":\"w%d-%d\",\"source\":"
			 "\"cmd\",\"title\":\"t\"}", w->node, k);
		if (http_request(srv[w->node].port, "POST", "/race", body,
				 &r)) {
			w->other++;
			continue;
		}
		if (r.status == 201) {
			snprintf(w->acked_ids[w->n_acked++], 24, "w%d-%d",
				 w->node, k);
			w->last_ok = now_ms();
		} else if (r.status == 503) {
			w->refused++;
		} else {
			w->other++;
		}
		http_response_free(&r);
	}
	return NULL;
}

static uint64_t seq_of(int port)
{
	struct http_response r;
	json_object *o;
	uint64_t seq = 0;

	if (http_request(port, "GET", "/health", NULL, &r))
		return 0;
	o = json_tokener_parse(r.body ? r.body : "");
	seq = (uint64_t)json_object_get_int64(json_object_object_get(o, "seq"));
	json_object_put(o);
	http_response_free(&r);
	return seq;
}

Test(cluster_faults, killing_the_stream_leader_loses_no_acknowledged_write)
{
	static struct writer w[NODES];
	volatile int stop = 0;
	int leader = -1;
	int64_t killed, end;

	start_nodes("RBL");
	for (int i = 0; i < NODES; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].node = i;
		w[i].stop = &stop;
		cr_assert_eq(pthread_create(&w[i].t, NULL, writer_main, &w[i]),
			     0);
	}
	end = now_ms() + 10000;
	while (w[0].n_acked < 20 || leader < 0) {
		leader = leader_of("RBL", 0);
		cr_assert_lt(now_ms(), end, "writes flow, the leader is known");
		sleep_ms(10);
	}
	nats_kill(&nc[leader]);
	killed = now_ms();
	/* Service resumes: every node acknowledges writes again. */
	end = killed + 60000;
	for (int i = 0; i < NODES; i++)
		while (w[i].last_ok < killed + 500) {
			cr_assert_lt(now_ms(), end, "node %d writes again", i);
			cr_assert_lt(w[i].n_acked, ACKED_MAX);
			sleep_ms(10);
		}
	stop = 1;
	for (int i = 0; i < NODES; i++) {
		pthread_join(w[i].t, NULL);
		cr_assert_eq(w[i].other, 0, "node %d: only 201 or 503", i);
	}
	/* Every node reaches one seq; every acknowledged write is there. */
	end = now_ms() + 30000;
	while (seq_of(srv[0].port) != seq_of(srv[1].port) ||
	       seq_of(srv[1].port) != seq_of(srv[2].port))
		cr_assert_lt(now_ms(), end, "nodes converge");
	for (int n = 0; n < NODES; n++)
		for (int i = 0; i < NODES; i++)
			for (int k = 0; k < w[i].n_acked; k++) {
				struct http_response r;
				char path[48];

				snprintf(path, sizeof(path), "/race/%s",
					 w[i].acked_ids[k]);
				cr_assert_eq(http_request(srv[n].port, "GET",
							  path, NULL, &r), 0);
				cr_assert_eq(r.status, 200, "%s lost on node %d",
					     path, n);
				http_response_free(&r);
			}
	cr_log_info("leader nats%d killed; acked %d/%d/%d, 503 %d/%d/%d",
		    leader, w[0].n_acked, w[1].n_acked, w[2].n_acked,
		    w[0].refused, w[1].refused, w[2].refused);
}

/* 1 when the server's log says it followed the stream again. */
static int refollowed(const struct server_proc *s)
{
	char buf[65536];
	FILE *f = fopen(s->log_path, "r");
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, "following again") != NULL;
}

/*
 * The stale-replica hazard of nats-server 2.9.10: a member killed and
 * restarted can stay behind while the leader says it is current, and a
 * consumer placed on it reads a truncated prefix. Here a NATS member
 * misses writes, comes back, and a server node restarts at once (its new
 * consumer may land on the stale member): it must still reach the
 * stream's last seq, by itself or by following again (logged).
 */
Test(cluster_faults, a_node_reaches_the_stream_end_after_a_nats_member_missed_writes)
{
	int st, victim = 2;
	int64_t end;
	uint64_t last;

	start_nodes("RBS");
	nats_kill(&nc[victim]);
	/* 200 acknowledged creates while the member is down (writes get
	 * 503 while a node reconnects or the stream elects a leader). */
	end = now_ms() + 60000;
	for (int k = 0, acked = 0; acked < 200; k++) {
		struct http_response r;
		char body[96];

		snprintf(body, sizeof(body), "{\"id\":\"s-%d\",\"source\":\"cmd\","
			 "\"title\":\"t\"}", k);
		cr_assert_eq(http_request(srv[k % 2].port, "POST", "/race",
					  body, &r), 0);
		st = r.status;
		http_response_free(&r);
		cr_assert(st == 201 || st == 503, "status %d", st);
		acked += st == 201;
		if (st == 503)
			sleep_ms(5);
		cr_assert_lt(now_ms(), end, "writes go through without %s",
			     nc[victim].name);
	}
	cr_assert_eq(nats_restart(&nc[victim]), 0);
	server_kill(&srv[2]);
	/* Right after a member restarts, JetStream may refuse the stream
	 * info for a moment: the node exits and is started again. */
	for (int k = 0; server_restart(&srv[2], (const char *const[]){
		"--nats", urls, "--nats-stream", "RBS", "--nats-replicas", "3",
		"--node", names[2], "--no-sync", NULL}); k++) {
		char tail[512] = "";
		FILE *f = fopen(srv[2].log_path, "r");

		if (f) {
			fseek(f, -(long)sizeof(tail) + 1, SEEK_END);
			tail[fread(tail, 1, sizeof(tail) - 1, f)] = '\0';
			fclose(f);
		}
		cr_assert_lt(k, 20, "node 2 did not restart: %s", tail);
	}
	end = now_ms() + 30000;
	for (;;) {
		last = seq_of(srv[0].port);
		if (last && seq_of(srv[2].port) == last &&
		    seq_of(srv[1].port) == last)
			break;
		cr_assert_lt(now_ms(), end, "node 2 at %llu of %llu",
			     (unsigned long long)seq_of(srv[2].port),
			     (unsigned long long)last);
	}
	cr_assert_geq(last, 200);
	cr_log_info("node 2 caught up to %llu%s", (unsigned long long)last,
		    refollowed(&srv[2]) ? " after following again (it was "
		    "behind with nothing arriving)" : " without following again");
}

/*
 * Started together with NATS: one member of three is up, so JetStream
 * has no meta leader ("JetStream system temporarily unavailable"). The
 * node waits instead of exiting, and comes up once the others are back.
 */
Test(cluster_faults, a_node_started_before_jetstream_has_a_leader_comes_up_when_it_has_one)
{
	const char *extra[] = {"--nats", urls, "--nats-stream", "RBM",
			       "--nats-replicas", "3", "--node", "n0",
			       "--no-sync", "--nats-start-timeout", "90", NULL};
	int64_t t0;
	int st = 0;

	snprintf(urls, sizeof(urls), "%s,%s,%s", nc[0].url, nc[1].url,
		 nc[2].url);
	nats_stop(&nc[1]);
	nats_stop(&nc[2]);
	cr_assert_eq(server_spawn(&srv[0], extra), 0);
	cr_assert(server_log_has(&srv[0], "waiting for NATS", 30000),
		  "the node says it waits (see %s)", srv[0].log_path);
	cr_assert_eq(nats_restart(&nc[1]), 0);
	cr_assert_eq(nats_restart(&nc[2]), 0);
	cr_assert_eq(server_wait_ready(&srv[0], 90000), 0,
		     "the node comes up once JetStream has a leader");
	cr_assert(server_log_has(&srv[0], "NATS answered after", 0));
	/* The new stream may still be electing its own leader. */
	t0 = now_ms();
	while (st != 201) {
		struct http_response r;

		cr_assert_eq(http_request(srv[0].port, "POST", "/race",
			"{\"id\":\"a\",\"source\":\"cmd\",\"title\":\"t\"}",
			&r), 0);
		st = r.status;
		http_response_free(&r);
		cr_assert_lt(now_ms() - t0, 30000, "a write goes through");
	}
}
