/*
 * fanout.c - the fan-out scenario: S WebSocket subscribers, producers at
 * a target rate, every delta checked.
 *
 * Latency: each update carries its send time (CLOCK_MONOTONIC, us) in
 * metadata, {"metadata":{"bt":"<us>"}}. The server merges metadata and
 * every update delta carries the merged object, so each delta a
 * subscriber receives names the moment its update left the producer;
 * receipt time minus that is the end-to-end delay (producer send ->
 * server parse, commit, publish -> subscriber recv). Both ends run in
 * this process on one clock, so no clock sync is involved. The cost is
 * ~30 bytes per delta.
 *
 * Exactly-once, in order: every subscriber parses "seq" of each delta
 * (alone or inside a batch). Unfiltered, it must see every seq after its
 * snapshot's, each once, in order; with --filter (sources ["bench-a"],
 * states ["running","queued"]: half of the races) the seqs must rise
 * strictly and their count must equal the accepted updates to bench-a
 * races. A reset snapshot is counted as a failure.
 *
 * Producer acks: each producer connection keeps one request in flight
 * (HTTP) or up to 1000 (WS, acked in request order); the time from
 * sending an update to its 200 or ack is the producer's ack latency.
 * With --rate 0 ("stop-and-wait") the producers send the next update as
 * soon as the previous one is acknowledged: what a CI job or script
 * calling the REST API does, and how many updates/s the server lets it
 * reach while it fans out to the subscribers.
 *
 * Threads: one producer thread, --sub-threads subscriber threads (each
 * its own epoll), the main thread orchestrates. Nothing is shared but
 * atomics and data written before a thread starts.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define DRAIN_US (20 * 1000000LL)
#define WS_WINDOW 1000             /* WS producer: updates in flight */

struct sub {
	struct bn_conn c;
	struct sub_thread *t;
	int ready;                 /* got its first snapshot */
	uint64_t expect;           /* next seq (unfiltered) */
	uint64_t last;             /* last seq seen */
	uint64_t got, dups, gaps, resets, frames;
};

struct sub_thread {
	pthread_t th;
	int epfd;
	struct sub *subs;
	long n;
	int filter;
	struct bn_hist lat;
	atomic_long ready;
	atomic_int stop;
	atomic_int done;           /* every sub reached the target */
	_Atomic uint64_t target;   /* final seq, or per-sub count (filter) */
	atomic_int have_target;
};

struct producer {
	pthread_t th;
	const struct bn_opts *o;
	int port;
	int epfd;
	struct bn_conn *conns;
	int64_t *t_sent;           /* HTTP: per connection */
	int *busy;
	long *inflight;            /* WS: per connection */
	int64_t *t_ws;             /* WS: send times, WS_WINDOW per conn */
	long *ws_head;             /* WS: index of the oldest in flight */
	struct bn_hist ack;        /* send -> 200 or ack, us */
	uint64_t next, sent, ok, failed, ok_a, late;
	int64_t t0, t_end, t_last_ok;
	atomic_int finished;
};

/* ---- subscribers ---- */

static void sub_delta(struct sub *s, uint64_t seq)
{
	if (s->t->filter) {
		if (seq <= s->last)
			s->dups++;
		else
			s->got++;
		if (seq > s->last)
			s->last = seq;
		return;
	}
	if (seq < s->expect) {
		s->dups++;
		return;
	}
	if (seq > s->expect)
		s->gaps += seq - s->expect;
	s->got++;
	s->last = seq;
	s->expect = seq + 1;
}

static int sub_msg(struct bn_conn *c, int status, char *d, size_t n,
		   int64_t now)
{
	struct sub *s = c->user;
	char *end = d + n, *p;

	(void)status;
	if (n < 16 || strncmp(d, "{\"type\":\"", 9))
		return 0;
	p = d + 9;
	if (!strncmp(p, "delta\"", 6) || !strncmp(p, "batch\"", 6)) {
		s->frames++;
		while ((p = bn_find_key(p, end, "\"seq\":", 6, 3))) {
			const char *v = p;
			uint64_t seq = bn_digits(&v);
			char *b = bn_find_key((char *)v, end, "\"bt\":\"", 6,
					      1);

			sub_delta(s, seq);
			if (!b) {
				p = (char *)v;
				continue;
			}
			v = b;
			bn_hist_add(&s->t->lat, now - (int64_t)bn_digits(&v));
			p = (char *)v;
		}
	} else if (!strncmp(p, "snapshot\"", 9)) {
		p = strstr(d, "\"seq\":");
		if (s->ready && strstr(d, "\"reset\":true"))
			s->resets++;
		if (p) {
			s->last = strtoull(p + 6, NULL, 10);
			s->expect = s->last + 1;
		}
		if (!s->ready) {
			s->ready = 1;
			atomic_fetch_add(&s->t->ready, 1);
		}
	} else if (!strncmp(p, "hello\"", 6)) {
		static const char all[] = "{\"type\":\"subscribe\"}";
		static const char some[] =
			"{\"type\":\"subscribe\",\"filter\":{\"sources\":"
			"[\"bench-a\"],\"states\":[\"running\",\"queued\"]}}";

		if (s->t->filter)
			bn_ws_send_text(c, some, sizeof(some) - 1);
		else
			bn_ws_send_text(c, all, sizeof(all) - 1);
	}
	return 0;
}

/* 1 when every subscriber of the thread has what the target says. */
static int subs_done(struct sub_thread *t)
{
	uint64_t target = atomic_load(&t->target);

	for (long i = 0; i < t->n; i++) {
		struct sub *s = &t->subs[i];

		if (s->c.state == BN_CLOSED)
			continue;
		if (t->filter ? s->got < target : s->last < target)
			return 0;
	}
	return 1;
}

static void *sub_main(void *arg)
{
	struct sub_thread *t = arg;
	struct epoll_event evs[256];

	while (!atomic_load(&t->stop)) {
		int n = epoll_wait(t->epfd, evs, 256, 20);
		int64_t now = bn_now_us();

		for (int i = 0; i < n; i++)
			bn_conn_event(evs[i].data.ptr, evs[i].events, now);
		if (atomic_load(&t->have_target) && !atomic_load(&t->done) &&
		    subs_done(t))
			atomic_store(&t->done, 1);
	}
	return NULL;
}

/* ---- producer ---- */

static int prod_send(struct producer *p, long i, int64_t now)
{
	char body[160], msg[320], path[64];
	uint64_t k = p->next++;
	long race = (long)(k % (uint64_t)p->o->races);
	int n = snprintf(body, sizeof(body),
			 "{\"progress\":%u,\"metadata\":{\"bt\":\"%lld\"}}",
			 (unsigned)(k / (uint64_t)p->o->races % 100),
			 (long long)now);

	p->sent++;
	if (!p->o->via_ws) {
		snprintf(path, sizeof(path), "/race/r-%ld", race);
		p->t_sent[i] = now;
		p->busy[i] = 1 + (race % 2 == 0); /* 2: a bench-a race */
		return bn_http_request(&p->conns[i], "PATCH", path, body,
				       (size_t)n);
	}
	n = snprintf(msg, sizeof(msg),
		     "{\"type\":\"patch\",\"req\":%d,\"id\":\"r-%ld\","
		     "\"changes\":%s}", race % 2 == 0, race, body);
	p->t_ws[i * WS_WINDOW + (p->ws_head[i] + p->inflight[i]) % WS_WINDOW] =
		now;
	p->inflight[i]++;
	return bn_ws_send_text(&p->conns[i], msg, (size_t)n);
}

static int prod_msg(struct bn_conn *c, int status, char *d, size_t n,
		    int64_t now)
{
	struct producer *p = c->user;
	long i = c - p->conns;

	(void)n;
	if (!p->o->via_ws) {
		bn_hist_add(&p->ack, now - p->t_sent[i]);
		if (status == 200) {
			p->ok++;
			p->ok_a += p->busy[i] == 2;
			p->t_last_ok = now;
		} else {
			p->failed++;
		}
		p->busy[i] = 0;
		return 0;
	}
	if (p->inflight[i] > 0 && (!strncmp(d, "{\"type\":\"ack\"", 12) ||
				   !strncmp(d, "{\"type\":\"error\"", 15))) {
		bn_hist_add(&p->ack, now - p->t_ws[i * WS_WINDOW +
						   p->ws_head[i]]);
		p->ws_head[i] = (p->ws_head[i] + 1) % WS_WINDOW;
	}
	if (!strncmp(d, "{\"type\":\"ack\",\"req\":", 20)) {
		p->ok++;
		p->ok_a += d[20] == '1';
		p->t_last_ok = now;
		p->inflight[i]--;
	} else if (!strncmp(d, "{\"type\":\"error\"", 15)) {
		p->failed++;
		p->inflight[i]--;
	}
	return 0;
}

/* A connection that can take the next update now, or -1. */
static long free_conn(struct producer *p, long *rr)
{
	for (long k = 0; k < p->o->producers; k++) {
		long i = (*rr + k) % p->o->producers;

		if (p->conns[i].state != BN_OPEN)
			continue;
		if (p->o->via_ws ? p->inflight[i] < WS_WINDOW : !p->busy[i]) {
			*rr = i + 1;
			return i;
		}
	}
	return -1;
}

static int prod_quiet(struct producer *p)
{
	for (long i = 0; i < p->o->producers; i++)
		if (p->conns[i].state != BN_CLOSED &&
		    (p->o->via_ws ? p->inflight[i] > 0 : p->busy[i]))
			return 0;
	return 1;
}

static void *prod_main(void *arg)
{
	struct producer *p = arg;
	struct epoll_event evs[64];
	/* --rate 0: no schedule, the next update goes once acked. */
	double per = p->o->rate > 0 ? 1e6 / p->o->rate : 0;
	long rr = 0;

	for (;;) {
		int64_t now = bn_now_us(), due, wait;
		struct timespec ts;
		int n;

		if (now >= p->t_end && (prod_quiet(p) ||
					now >= p->t_end + DRAIN_US))
			break;
		due = p->t0 + (int64_t)((double)p->next * per);
		while (now < p->t_end && due <= now) {
			long i = free_conn(p, &rr);

			if (i < 0) {
				p->late += per > 0;
				break;
			}
			prod_send(p, i, now);
			due = p->t0 + (int64_t)((double)p->next * per);
		}
		wait = due > now ? due - now : per > 0 ? 200 : 20000;
		if (wait > 20000)
			wait = 20000;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)wait * 1000;
		n = epoll_pwait2(p->epfd, evs, 64, &ts, NULL);
		now = bn_now_us();
		for (int k = 0; k < n; k++)
			bn_conn_event(evs[k].data.ptr, evs[k].events, now);
	}
	atomic_store(&p->finished, 1);
	return NULL;
}

static const char *source_ab(long i)
{
	return i % 2 == 0 ? "bench-a" : "bench-b";
}

static int opened(struct bn_conn *conns, long n)
{
	for (long i = 0; i < n; i++)
		if (conns[i].state != BN_OPEN)
			return 0;
	return 1;
}

static int prod_ready(void *arg)
{
	struct producer *p = arg;

	return opened(p->conns, p->o->producers);
}

int bn_scenario_fanout(const struct bn_opts *o)
{
	struct bn_server srv;
	struct producer prod = {.o = o};
	struct sub_thread *ts = NULL;
	struct bn_hist lat;
	int nt = o->sub_threads > 0 ? o->sub_threads : 1, rc = 1, started = 0;
	long long final_seq;
	int64_t deadline, t_drained;
	double cpu0, cpu1, self0, secs, wall;
	uint64_t got = 0, dups = 0, gaps = 0, resets = 0, frames = 0, want;
	long closed = 0;

	if (bn_hist_init(&lat) || bn_hist_init(&prod.ack) ||
	    bn_start(o, &srv)) {
		fprintf(stderr, "fanout: cannot start the server\n");
		return 1;
	}
	if (bn_create_races(srv.port, 0, o->races, source_ab) != o->races) {
		fprintf(stderr, "fanout: could not create the races\n");
		goto out;
	}
	ts = calloc((size_t)nt, sizeof(*ts));
	if (!ts)
		goto out;
	/* Subscribers: connect, subscribe, wait for every snapshot. */
	for (int k = 0; k < nt; k++) {
		struct sub_thread *t = &ts[k];

		t->n = o->subs / nt + (k < o->subs % nt);
		t->filter = o->filter;
		t->subs = calloc((size_t)t->n + 1, sizeof(*t->subs));
		t->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (!t->subs || t->epfd < 0 || bn_hist_init(&t->lat))
			goto out;
		for (long i = 0; i < t->n; i++) {
			t->subs[i].t = t;
			int port = o->n_sub_ports ? o->sub_ports[
				(k + i * nt) % o->n_sub_ports] : 0;

			if (!port) /* 0 in --sub-ports: the producers' */
				port = srv.port;

			if (bn_conn_open(&t->subs[i].c, t->epfd, port,
					 BN_WS, sub_msg, &t->subs[i]))
				goto out;
		}
		if (pthread_create(&t->th, NULL, sub_main, t))
			goto out;
		started = k + 1;
	}
	deadline = bn_now_us() + 60 * 1000000LL;
	for (;;) {
		long ready = 0;

		for (int k = 0; k < nt; k++)
			ready += atomic_load(&ts[k].ready);
		if (ready == o->subs)
			break;
		if (bn_now_us() > deadline) {
			fprintf(stderr, "fanout: only %ld of %ld subscribers "
				"got their snapshot\n", ready, o->subs);
			goto out;
		}
		bn_sleep_us(2000);
	}
	/* Producers: connect, then run at the target rate. */
	prod.port = srv.port;
	prod.epfd = epoll_create1(EPOLL_CLOEXEC);
	prod.conns = calloc((size_t)o->producers, sizeof(*prod.conns));
	prod.t_sent = calloc((size_t)o->producers, sizeof(int64_t));
	prod.busy = calloc((size_t)o->producers, sizeof(int));
	prod.inflight = calloc((size_t)o->producers, sizeof(long));
	prod.ws_head = calloc((size_t)o->producers, sizeof(long));
	prod.t_ws = calloc((size_t)o->producers * WS_WINDOW,
			   sizeof(int64_t));
	if (prod.epfd < 0 || !prod.conns || !prod.t_sent || !prod.busy ||
	    !prod.inflight || !prod.ws_head || !prod.t_ws)
		goto out;
	for (long i = 0; i < o->producers; i++)
		if (bn_conn_open(&prod.conns[i], prod.epfd, srv.port,
				 o->via_ws ? BN_WS_PRODUCER : BN_HTTP, prod_msg,
				 &prod))
			goto out;
	if (bn_loop_until(prod.epfd, prod_ready, &prod,
			  bn_now_us() + 10 * 1000000LL)) {
		fprintf(stderr, "fanout: producers could not connect\n");
		goto out;
	}
	cpu0 = bn_proc_cpu(srv.pid);
	self0 = bn_self_cpu();
	prod.t0 = bn_now_us();
	prod.t_end = prod.t0 + (int64_t)(o->duration * 1e6);
	if (pthread_create(&prod.th, NULL, prod_main, &prod))
		goto out;
	pthread_join(prod.th, NULL);
	final_seq = bn_health_seq(srv.port);
	/* Drain: every subscriber must reach the last seq (or count). */
	want = o->filter ? prod.ok_a : (uint64_t)final_seq;
	for (int k = 0; k < nt; k++) {
		atomic_store(&ts[k].target, want);
		atomic_store(&ts[k].have_target, 1);
	}
	deadline = bn_now_us() + DRAIN_US;
	for (;;) {
		int done = 1;

		for (int k = 0; k < nt; k++)
			done &= atomic_load(&ts[k].done);
		if (done || bn_now_us() > deadline)
			break;
		bn_sleep_us(1000);
	}
	t_drained = bn_now_us();
	cpu1 = bn_proc_cpu(srv.pid);
	for (int k = 0; k < nt; k++) {
		atomic_store(&ts[k].stop, 1);
		pthread_join(ts[k].th, NULL);
	}
	started = 0;
	for (int k = 0; k < nt; k++) {
		bn_hist_merge(&lat, &ts[k].lat);
		for (long i = 0; i < ts[k].n; i++) {
			struct sub *s = &ts[k].subs[i];

			got += s->got;
			dups += s->dups;
			gaps += s->gaps;
			resets += s->resets;
			frames += s->frames;
			closed += s->c.state == BN_CLOSED;
		}
	}
	secs = (double)(prod.t_end - prod.t0) / 1e6;
	wall = (double)(t_drained - prod.t0) / 1e6;
	{
		/* What every subscriber should have received, in total. */
		double expected = (double)(o->filter ? prod.ok_a : prod.ok) *
				  (double)o->subs;
		double ratio = expected > 0 ? (double)got / expected : 0;
		int ok = got == (uint64_t)expected && !dups && !gaps &&
			 !resets && !closed && !prod.failed;

		printf("{\"scenario\":\"%s\",\"subs\":%ld,\"filter\":%s,"
		       "\"via\":\"%s\",\"producers\":%ld,\"races\":%ld,"
		       "\"durable\":%s,\"target_rate\":%.0f,"
		       "\"seconds\":%.2f,\"updates\":%llu,"
		       "\"updates_per_sec\":%.0f,\"failed\":%llu,"
		       "\"late_sends\":%llu,\"expected\":%.0f,"
		       "\"delivered\":%llu,\"delivery_ratio\":%.6f,"
		       "\"duplicates\":%llu,\"gaps\":%llu,\"resets\":%llu,"
		       "\"closed\":%ld,\"deltas_per_sec\":%.0f,"
		       "\"frames\":%llu,\"lat_p50_ms\":%.3f,"
		       "\"lat_p90_ms\":%.3f,\"lat_p99_ms\":%.3f,"
		       "\"lat_max_ms\":%.3f,\"ack_p50_ms\":%.3f,"
		       "\"ack_p99_ms\":%.3f,\"ack_max_ms\":%.3f,"
		       "\"server_cpu_sec\":%.2f,"
		       "\"server_cores\":%.2f,"
		       "\"server_cpu_sec_per_1000\":%.4f,"
		       "\"server_hwm_kb\":%ld,\"server_rss_kb\":%ld,"
		       "\"bench_cpu_sec\":%.2f,\"loadavg_1m\":%.2f,\"ok\":%s}\n",
		       o->rate > 0 ? "fanout" : "stop-and-wait",
		       o->subs, o->filter ? "true" : "false",
		       o->via_ws ? "ws" : "http", o->producers, o->races,
		       o->no_sync ? "false" : "true", o->rate, secs,
		       (unsigned long long)prod.ok, (double)prod.ok / secs,
		       (unsigned long long)prod.failed,
		       (unsigned long long)prod.late, expected,
		       (unsigned long long)got, ratio,
		       (unsigned long long)dups, (unsigned long long)gaps,
		       (unsigned long long)resets, closed,
		       (double)got / wall, (unsigned long long)frames,
		       bn_hist_q(&lat, 0.5) / 1e3, bn_hist_q(&lat, 0.9) / 1e3,
		       bn_hist_q(&lat, 0.99) / 1e3, (double)lat.max / 1e3,
		       bn_hist_q(&prod.ack, 0.5) / 1e3,
		       bn_hist_q(&prod.ack, 0.99) / 1e3,
		       (double)prod.ack.max / 1e3, cpu1 - cpu0, (cpu1 - cpu0) / wall,
		       prod.ok ? (cpu1 - cpu0) * 1000.0 / (double)prod.ok : 0,
		       bn_proc_status_kb(srv.pid, "VmHWM"),
		       bn_proc_status_kb(srv.pid, "VmRSS"),
		       bn_self_cpu() - self0, bn_loadavg(),
		       ok ? "true" : "false");
		printf("# %s: %ld %s subscribers, %.0f updates/s via %s "
		       "(target %.0f), ack p50 %.2f p99 %.2f ms: delivered %.4f%% of %.0f deltas "
		       "(%.0f deltas/s), %llu dup, %llu gap, %llu reset; "
		       "latency p50 %.2f p90 %.2f p99 %.2f max %.2f ms; "
		       "server %.2f cores, %.3f CPU s per 1000 updates, "
		       "peak RSS %ld MB\n",
		       o->rate > 0 ? "fanout" : "stop-and-wait",
		       o->subs, o->filter ? "filtered" : "unfiltered",
		       (double)prod.ok / secs, o->via_ws ? "WebSocket" : "HTTP",
		       o->rate, bn_hist_q(&prod.ack, 0.5) / 1e3,
		       bn_hist_q(&prod.ack, 0.99) / 1e3, ratio * 100, expected, (double)got / wall,
		       (unsigned long long)dups, (unsigned long long)gaps,
		       (unsigned long long)resets, bn_hist_q(&lat, 0.5) / 1e3,
		       bn_hist_q(&lat, 0.9) / 1e3, bn_hist_q(&lat, 0.99) / 1e3,
		       (double)lat.max / 1e3, (cpu1 - cpu0) / wall,
		       prod.ok ? (cpu1 - cpu0) * 1000.0 / (double)prod.ok : 0,
		       bn_proc_status_kb(srv.pid, "VmHWM") / 1024);
		rc = !ok;
	}
out:
	for (int k = 0; k < started; k++) {
		atomic_store(&ts[k].stop, 1);
		pthread_join(ts[k].th, NULL);
	}
	for (int k = 0; ts && k < nt; k++) {
		for (long i = 0; ts[k].subs && i < ts[k].n; i++)
			bn_conn_close(&ts[k].subs[i].c);
		free(ts[k].subs);
		if (ts[k].epfd > 0)
			close(ts[k].epfd);
		bn_hist_fini(&ts[k].lat);
	}
	free(ts);
	for (long i = 0; prod.conns && i < o->producers; i++)
		bn_conn_close(&prod.conns[i]);
	free(prod.conns);
	free(prod.t_sent);
	free(prod.busy);
	free(prod.inflight);
	free(prod.ws_head);
	free(prod.t_ws);
	bn_hist_fini(&prod.ack);
	if (prod.epfd > 0)
		close(prod.epfd);
	bn_hist_fini(&lat);
	bn_finish(&srv);
	return rc;
}
