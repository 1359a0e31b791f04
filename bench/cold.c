/*
 * cold.c - the cold-start scenario.
 *
 * Fills a data directory with N races (the first M with source "snap",
 * the rest "bulk"), stops the server, then times a restart: exec ->
 * port file written (listening) -> first 200 from GET /health. Then
 * times snapshots for new subscribers: the M "snap" races (filter
 * sources ["snap"]) and all N races, each from the TCP connect to the
 * last byte of the snapshot frame. With --subs S it then connects S
 * live subscribers (resuming with "since", so no snapshot each), proves
 * they are live with one update every one of them must receive, and
 * reports the server's memory with N races and S subscribers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bench.h"

struct snap_client {
	struct bn_conn c;
	const char *subscribe;     /* NULL: subscribe with "since" */
	int64_t t_start, t_done;
	long races;                /* in the snapshot */
	size_t bytes;
	int live;                  /* received a delta */
};

static int snap_msg(struct bn_conn *c, int status, char *d, size_t n,
		    int64_t now)
{
	struct snap_client *s = c->user;
	char msg[128];

	(void)status;
	if (!strncmp(d, "{\"type\":\"hello\"", 15)) {
		if (s->subscribe) {
			bn_ws_send_text(c, s->subscribe, strlen(s->subscribe));
		} else {
			char *p = strstr(d, "\"seq\":");
			int k = snprintf(msg, sizeof(msg),
					 "{\"type\":\"subscribe\",\"since\":%lld}",
					 p ? strtoll(p + 6, NULL, 10) : 0LL);

			bn_ws_send_text(c, msg, (size_t)k);
		}
	} else if (!strncmp(d, "{\"type\":\"snapshot\"", 18)) {
		const char *p = d;

		s->t_done = now;
		s->bytes = n;
		while ((p = memmem(p, n - (size_t)(p - d), "{\"id\":\"", 7))) {
			s->races++;
			p += 7;
		}
	} else if (!strncmp(d, "{\"type\":\"delta\"", 15) ||
		   !strncmp(d, "{\"type\":\"batch\"", 15)) {
		s->live = 1;
	}
	return 0;
}

static int snap_done(void *arg)
{
	struct snap_client *s = arg;

	return s->t_done || s->c.state == BN_CLOSED;
}

/* Times one snapshot; returns milliseconds, or -1. */
static double time_snapshot(int port, const char *subscribe, long *races,
			    size_t *bytes)
{
	struct snap_client s = {.subscribe = subscribe};
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	double ms = -1;

	if (epfd < 0)
		return -1;
	s.t_start = bn_now_us();
	if (!bn_conn_open(&s.c, epfd, port, BN_WS, snap_msg, &s) &&
	    !bn_loop_until(epfd, snap_done, &s, s.t_start + 60 * 1000000LL) &&
	    s.t_done)
		ms = (double)(s.t_done - s.t_start) / 1e3;
	*races = s.races;
	*bytes = s.bytes;
	bn_conn_close(&s.c);
	close(epfd);
	return ms;
}

static const char *source_snap(long i);
static long snap_count;

static const char *source_snap(long i)
{
	return i < snap_count ? "snap" : "bulk";
}

struct many {
	struct snap_client *c;
	long n;
};

static int many_open(void *arg)
{
	struct many *m = arg;

	for (long i = 0; i < m->n; i++)
		if (m->c[i].c.state != BN_OPEN)
			return 0;
	return 1;
}

static int many_live(void *arg)
{
	struct many *m = arg;

	for (long i = 0; i < m->n; i++)
		if (!m->c[i].live && m->c[i].c.state != BN_CLOSED)
			return 0;
	return 1;
}

int bn_scenario_cold_start(const struct bn_opts *o)
{
	struct bn_server srv;
	static const char snap_sub[] =
		"{\"type\":\"subscribe\",\"filter\":{\"sources\":[\"snap\"]}}";
	static const char all_sub[] = "{\"type\":\"subscribe\"}";
	struct many m = {0};
	int64_t t0, t_listen, t_health = 0;
	double snap_ms, all_ms, fill_s;
	long snap_races = 0, all_races = 0, live = 0, rss_races, rss_subs = -1;
	long hwm;
	size_t snap_bytes = 0, all_bytes = 0;
	int rc = 1, epfd = -1;

	if (!o->server_bin) {
		fprintf(stderr, "cold-start needs --server-bin\n");
		return 1;
	}
	snap_count = o->snapshot;
	memset(&srv, 0, sizeof(srv));
	/* Fill quickly (no fsync); what is timed is the restart. */
	if (bn_server_start(&srv, o->server_bin, 1, o->extra, 60000))
		return 1;
	t0 = bn_now_us();
	if (bn_create_races(srv.port, 0, o->races, source_snap) != o->races) {
		fprintf(stderr, "cold-start: could not create the races\n");
		goto out;
	}
	fill_s = (double)(bn_now_us() - t0) / 1e6;
	bn_server_stop(&srv);

	t0 = bn_now_us();
	if (bn_server_start(&srv, o->server_bin, o->no_sync, o->extra, 60000))
		goto out;
	t_listen = bn_now_us();
	while (bn_now_us() - t0 < 60 * 1000000LL) {
		if (bn_http_once(srv.port, "GET", "/health", NULL, NULL, 0) ==
		    200) {
			t_health = bn_now_us();
			break;
		}
		bn_sleep_us(500);
	}
	if (!t_health)
		goto out;
	rss_races = bn_proc_status_kb(srv.pid, "VmRSS");
	snap_ms = time_snapshot(srv.port, snap_sub, &snap_races, &snap_bytes);
	all_ms = time_snapshot(srv.port, all_sub, &all_races, &all_bytes);

	if (o->subs > 0) {
		m.n = o->subs;
		m.c = calloc((size_t)m.n, sizeof(*m.c));
		epfd = epoll_create1(EPOLL_CLOEXEC);
		if (!m.c || epfd < 0)
			goto out;
		for (long i = 0; i < m.n; i++)
			if (bn_conn_open(&m.c[i].c, epfd, srv.port, BN_WS,
					 snap_msg, &m.c[i]))
				goto out;
		bn_loop_until(epfd, many_open, &m, bn_now_us() + 30000000LL);
		/* Give every "subscribe" time to be read, then prove it. */
		bn_loop_until(epfd, many_live, &m, bn_now_us() + 500000LL);
		bn_http_once(srv.port, "PATCH", "/race/r-0", "{\"progress\":7}",
			     NULL, 0);
		bn_loop_until(epfd, many_live, &m, bn_now_us() + 30000000LL);
		for (long i = 0; i < m.n; i++)
			live += m.c[i].live;
		rss_subs = bn_proc_status_kb(srv.pid, "VmRSS");
	}
	hwm = bn_proc_status_kb(srv.pid, "VmHWM");
	printf("{\"scenario\":\"cold-start\",\"races\":%ld,\"fill_sec\":%.2f,"
	       "\"exec_to_listen_ms\":%.1f,\"exec_to_health_ms\":%.1f,"
	       "\"snapshot_races\":%ld,\"snapshot_bytes\":%zu,"
	       "\"snapshot_ms\":%.1f,\"full_snapshot_races\":%ld,"
	       "\"full_snapshot_bytes\":%zu,\"full_snapshot_ms\":%.1f,"
	       "\"rss_after_load_kb\":%ld,\"subs\":%ld,\"live_subs\":%ld,"
	       "\"rss_with_subs_kb\":%ld,\"hwm_kb\":%ld,\"loadavg_1m\":%.2f}\n",
	       o->races, fill_s, (double)(t_listen - t0) / 1e3,
	       (double)(t_health - t0) / 1e3, snap_races, snap_bytes, snap_ms,
	       all_races, all_bytes, all_ms, rss_races, o->subs, live,
	       rss_subs, hwm, bn_loadavg());
	printf("# cold-start: %ld stored races -> /health answered %.0f ms "
	       "after exec; snapshot of %ld races (%zu KB) in %.1f ms, of "
	       "all %ld (%zu KB) in %.1f ms; RSS %ld MB loaded, %ld MB with "
	       "%ld live subscribers (peak %ld MB)\n",
	       o->races, (double)(t_health - t0) / 1e3, snap_races,
	       snap_bytes / 1024, snap_ms, all_races, all_bytes / 1024,
	       all_ms, rss_races / 1024, rss_subs / 1024, live, hwm / 1024);
	rc = snap_races != o->snapshot || all_races != o->races ||
	     live != o->subs;
out:
	for (long i = 0; m.c && i < m.n; i++)
		bn_conn_close(&m.c[i].c);
	free(m.c);
	if (epfd >= 0)
		close(epfd);
	bn_finish(&srv);
	return rc;
}
