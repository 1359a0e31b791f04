/*
 * stall.c - the stalled-subscriber scenario: S dashboards subscribe while
 * updates flow, then stop reading for --stall seconds (a sleeping laptop,
 * a frozen tab), and the server's memory is watched throughout.
 *
 * One producer pipelines WebSocket patches at --rate for --duration
 * seconds. As soon as it runs, S subscribers connect (with a receive
 * buffer of --rcvbuf bytes), subscribe, and stop reading at once: not
 * even their snapshot is read. --stall seconds after the load started
 * they read again and must converge: reach the last seq, with every delta
 * after their (reset) snapshot once and in order. The server may close
 * some of them to stay under its cap (--ws-max-queued-mb); those are
 * reported, with the server's own counter from /metrics.
 *
 * The server's RSS is sampled every 50 ms: before (races created, no
 * subscriber), during the stall, during the catch-up, once drained, and
 * 3 s after every subscriber closed (was the memory handed back?).
 *
 * One thread and one epoll: the producer, the subscribers and the
 * sampling share the loop. Bounded: the load lasts --duration, the
 * catch-up at most DRAIN_US, the stall at most 60 s (the server hangs up
 * on a client that answers no ping for 70 s).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bench.h"

#define DRAIN_US (30 * 1000000LL)
#define WINDOW 1000                /* patches in flight */
#define SAMPLE_US 50000

struct st_sub {
	struct bn_conn c;
	int paused;                /* subscribed, reading nothing */
	int snapshots;
	uint64_t last, expect;     /* last seq applied, next one due */
	uint64_t dups, gaps, resets;
};

struct stall {
	const struct bn_opts *o;
	int epfd;
	struct st_sub *subs;
	struct bn_conn prod;
	uint64_t next, ok, failed;
	long inflight;
	int resumed;
};

static void sub_delta(struct st_sub *s, uint64_t seq)
{
	if (seq < s->expect) {
		s->dups++;
		return;
	}
	if (seq > s->expect)
		s->gaps += seq - s->expect;
	s->last = seq;
	s->expect = seq + 1;
}

/* Stops reading `s` (no epoll event at all, so the socket fills up). */
static void pause_sub(struct st_sub *s)
{
	struct epoll_event ev = {.events = 0, .data.ptr = &s->c};

	s->paused = 1;
	epoll_ctl(s->c.epfd, EPOLL_CTL_MOD, s->c.fd, &ev);
}

static void resume_sub(struct st_sub *s)
{
	struct epoll_event ev = {
		.events = EPOLLIN | (s->c.want_out ? EPOLLOUT : 0),
		.data.ptr = &s->c,
	};

	if (!s->paused || s->c.state == BN_CLOSED)
		return;
	s->paused = 0;
	epoll_ctl(s->c.epfd, EPOLL_CTL_MOD, s->c.fd, &ev);
}

static int sub_msg(struct bn_conn *c, int status, char *d, size_t n,
		   int64_t now)
{
	static const char subscribe[] = "{\"type\":\"subscribe\"}";
	struct st_sub *s = c->user;
	char *end = d + n, *p;

	(void)status, (void)now;
	if (n < 16 || strncmp(d, "{\"type\":\"", 9))
		return 0;
	p = d + 9;
	if (!strncmp(p, "delta\"", 6) || !strncmp(p, "batch\"", 6)) {
		while ((p = bn_find_key(p, end, "\"seq\":", 6, 3))) {
			const char *v = p;

			sub_delta(s, bn_digits(&v));
			p = (char *)v;
		}
	} else if (!strncmp(p, "snapshot\"", 9)) {
		/* "seq" and "reset" come before the races. */
		p = bn_find_key(d, end, "\"seq\":", 6, 3);
		if (p) {
			const char *v = p;

			s->last = bn_digits(&v);
			s->expect = s->last + 1;
			s->resets += !strncmp(v, ",\"reset\":true", 13);
		}
		s->snapshots++;
	} else if (!strncmp(p, "hello\"", 6)) {
		if (bn_ws_send_text(c, subscribe, sizeof(subscribe) - 1))
			return -1;
		pause_sub(s);
	}
	return 0;
}

static int prod_msg(struct bn_conn *c, int status, char *d, size_t n,
		    int64_t now)
{
	struct stall *st = c->user;

	(void)status, (void)n, (void)now;
	if (!strncmp(d, "{\"type\":\"ack\"", 13)) {
		st->ok++;
		st->inflight--;
	} else if (!strncmp(d, "{\"type\":\"error\"", 15)) {
		st->failed++;
		st->inflight--;
	}
	return 0;
}

static int prod_send(struct stall *st, int64_t now)
{
	char msg[320];
	uint64_t k = st->next++;
	long race = (long)(k % (uint64_t)st->o->races);
	int n = snprintf(msg, sizeof(msg),
			 "{\"type\":\"patch\",\"id\":\"r-%ld\",\"changes\":"
			 "{\"progress\":%u,\"metadata\":{\"bt\":\"%lld\"}}}",
			 race, (unsigned)(k / (uint64_t)st->o->races % 100),
			 (long long)now);

	st->inflight++;
	return bn_ws_send_text(&st->prod, msg, (size_t)n);
}

static int prod_open(void *arg)
{
	struct stall *st = arg;

	return st->prod.state == BN_OPEN;
}

/* The server's RSS, remembered as the peak of the current phase. */
static void sample(pid_t pid, long *peak)
{
	long kb = bn_proc_status_kb(pid, "VmRSS");

	if (kb > *peak)
		*peak = kb;
}

/* 1 when every subscriber still open has seq `final`. */
static int converged(const struct stall *st, uint64_t final, long *n)
{
	long k = 0, open = 0;

	for (long i = 0; i < st->o->subs; i++) {
		const struct st_sub *s = &st->subs[i];

		if (s->c.state == BN_CLOSED)
			continue;
		open++;
		k += s->snapshots && s->last >= final;
	}
	if (n)
		*n = k;
	return k == open;
}

/* A counter of GET /metrics (the line that starts with `name`), or -1
 * when the server has none by that name. */
static long long metric(int port, const char *name)
{
	static char body[65536];
	char *p;

	if (bn_http_once(port, "GET", "/metrics", NULL, body, sizeof(body)) !=
	    200)
		return -1;
	for (p = body; (p = strstr(p, name)); p++)
		if (p == body || p[-1] == '\n')
			return strtoll(p + strlen(name), NULL, 10);
	return -1;
}

int bn_scenario_stall(const struct bn_opts *o)
{
	struct bn_server srv;
	struct stall st = {.o = o, .epfd = -1,
			   .prod = {.fd = -1, .state = BN_CLOSED}};
	struct epoll_event evs[256];
	long rss_before, stall_peak = 0, catchup_peak = 0, drained, after;
	long closed = 0, ok_subs = 0;
	uint64_t dups = 0, gaps = 0, resets = 0, final = 0;
	int64_t t0, t_end, t_final = 0, t_sample = 0, deadline;
	double per = 1e6 / o->rate, cpu0;
	long long slow_closes;
	int rc = 1, ok;

	if (bn_start(o, &srv)) {
		fprintf(stderr, "stall: cannot start the server\n");
		return 1;
	}
	if (bn_create_races(srv.port, 0, o->races, NULL) != o->races) {
		fprintf(stderr, "stall: could not create the races\n");
		goto out;
	}
	st.subs = calloc((size_t)o->subs, sizeof(*st.subs));
	for (long i = 0; st.subs && i < o->subs; i++)
		st.subs[i].c.state = BN_CLOSED; /* not open yet */
	st.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!st.subs || st.epfd < 0 ||
	    bn_conn_open(&st.prod, st.epfd, srv.port, BN_WS_PRODUCER,
			 prod_msg, &st) ||
	    bn_loop_until(st.epfd, prod_open, &st,
			  bn_now_us() + 10 * 1000000LL))
		goto out;
	rss_before = bn_proc_status_kb(srv.pid, "VmRSS");
	cpu0 = bn_proc_cpu(srv.pid);
	t0 = bn_now_us();
	t_end = t0 + (int64_t)(o->duration * 1e6);
	deadline = t_end + DRAIN_US;
	for (long i = 0; i < o->subs; i++)
		if (bn_conn_open_rcvbuf(&st.subs[i].c, st.epfd, srv.port,
					BN_WS, sub_msg, &st.subs[i],
					o->rcvbuf))
			goto out;
	for (;;) {
		int64_t now = bn_now_us();
		int n;

		if (!st.resumed && now >= t0 + (int64_t)(o->stall * 1e6)) {
			st.resumed = 1;
			for (long i = 0; i < o->subs; i++)
				resume_sub(&st.subs[i]);
		}
		while (now < t_end && st.inflight < WINDOW &&
		       t0 + (int64_t)((double)st.next * per) <= now)
			if (prod_send(&st, now))
				goto out;
		if (now >= t_end && !t_final &&
		    (st.inflight == 0 || now >= t_end + 10 * 1000000LL)) {
			final = (uint64_t)bn_health_seq(srv.port);
			t_final = now;
		}
		if (t_final && st.resumed && converged(&st, final, NULL))
			break;
		if (now >= deadline)
			break;
		if (now - t_sample >= SAMPLE_US) {
			sample(srv.pid, st.resumed ? &catchup_peak : &stall_peak);
			t_sample = now;
		}
		n = epoll_wait(st.epfd, evs, 256, 2);
		now = bn_now_us();
		for (int k = 0; k < n; k++)
			bn_conn_event(evs[k].data.ptr, evs[k].events, now);
	}
	drained = bn_proc_status_kb(srv.pid, "VmRSS");
	converged(&st, final, &ok_subs);
	for (long i = 0; i < o->subs; i++) {
		struct st_sub *s = &st.subs[i];

		closed += s->c.state == BN_CLOSED;
		dups += s->dups;
		gaps += s->gaps;
		resets += s->resets;
	}
	slow_closes = metric(srv.port, "raceboard_rejections_total"
			     "{reason=\"ws_slow_subscriber\"} ");
	{
		double cpu = bn_proc_cpu(srv.pid) - cpu0;
		double catchup = (double)(bn_now_us() - t_final) / 1e6;
		long hwm = bn_proc_status_kb(srv.pid, "VmHWM");

		/* After: every subscriber gone, and time for the server to
		 * notice and hand its memory back. */
		for (long i = 0; i < o->subs; i++)
			bn_conn_close(&st.subs[i].c);
		bn_sleep_us(3000000);
		after = bn_proc_status_kb(srv.pid, "VmRSS");
		ok = ok_subs == o->subs - closed && !dups && !gaps &&
		     !st.failed && t_final;
		printf("{\"scenario\":\"stall\",\"subs\":%ld,\"races\":%ld,"
		       "\"stall_sec\":%.1f,\"rcvbuf\":%d,\"durable\":%s,"
		       "\"target_rate\":%.0f,\"seconds\":%.1f,"
		       "\"updates\":%llu,\"failed\":%llu,\"final_seq\":%llu,"
		       "\"converged\":%ld,\"closed\":%ld,"
		       "\"slow_closes_metric\":%lld,\"resets\":%llu,"
		       "\"duplicates\":%llu,\"gaps\":%llu,"
		       "\"catchup_after_load_sec\":%.2f,"
		       "\"rss_before_kb\":%ld,\"rss_stall_peak_kb\":%ld,"
		       "\"rss_catchup_peak_kb\":%ld,\"rss_drained_kb\":%ld,"
		       "\"rss_after_kb\":%ld,\"server_hwm_kb\":%ld,"
		       "\"server_cpu_sec\":%.2f,\"loadavg_1m\":%.2f,"
		       "\"ok\":%s}\n",
		       o->subs, o->races, o->stall, o->rcvbuf,
		       o->no_sync ? "false" : "true", o->rate, o->duration,
		       (unsigned long long)st.ok,
		       (unsigned long long)st.failed,
		       (unsigned long long)final, ok_subs, closed, slow_closes,
		       (unsigned long long)resets, (unsigned long long)dups,
		       (unsigned long long)gaps, catchup, rss_before,
		       stall_peak, catchup_peak, drained, after, hwm, cpu,
		       bn_loadavg(), ok ? "true" : "false");
		printf("# stall: %ld subscribers stopped reading for %.1f s "
		       "of %.1f s at %.0f updates/s: %ld converged, %ld "
		       "closed by the server, %llu reset snapshots; server "
		       "RSS %ld MB before, peak %ld MB stalled, %ld MB "
		       "catching up, %ld MB drained, %ld MB after they left "
		       "(high-water %ld MB)\n",
		       o->subs, o->stall, o->duration,
		       (double)st.ok / o->duration, ok_subs, closed,
		       (unsigned long long)resets, rss_before / 1024,
		       stall_peak / 1024, catchup_peak / 1024, drained / 1024,
		       after / 1024, hwm / 1024);
	}
	rc = !ok;
out:
	for (long i = 0; st.subs && i < o->subs; i++)
		bn_conn_close(&st.subs[i].c);
	free(st.subs);
	bn_conn_close(&st.prod);
	if (st.epfd >= 0)
		close(st.epfd);
	bn_finish(&srv);
	return rc;
}
