/*
 * ingest.c - the two ingest scenarios.
 *
 * ingest-http: K keep-alive connections, one PATCH in flight each,
 * progress and ETA changes spread over R races created first.
 * ingest-ws: P WebSocket producers, each pipelining up to W patch
 * messages, checking that acks come back in request order.
 * Both count only successful (2xx / ack) answers as accepted updates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bench.h"

struct ingest {
	const struct bn_opts *o;
	struct bn_conn *conns;
	long n_conns;
	int64_t t_start, t_end;       /* sending window */
	uint64_t next;                /* update counter */
	uint64_t sent, ok, failed, out_of_order;
	struct bn_hist lat;
	int64_t last_ok;
	/* per WS connection: send times and reqs in flight, a ring */
	int64_t **ws_sent;
	uint64_t **ws_req;
	long *ws_head, *ws_inflight;
};

/* The body of update number k: race k % R, a new progress and ETA. */
static int patch_fields(const struct ingest *in, uint64_t k, char *buf,
			size_t cap, long *race)
{
	uint64_t round = k / (uint64_t)in->o->races;

	*race = (long)(k % (uint64_t)in->o->races);
	return snprintf(buf, cap, "{\"progress\":%u,\"eta_sec\":%u}",
			(unsigned)(round % 100), (unsigned)(100000 - round % 100000));
}

static int more_allowed(const struct ingest *in, int64_t now)
{
	return now < in->t_end &&
	       (!in->o->requests || in->sent < (uint64_t)in->o->requests);
}

/* ---- HTTP ---- */

struct http_slot {
	struct ingest *in;
	int64_t t_sent;
	int busy;
};

static void http_send(struct bn_conn *c, int64_t now)
{
	struct http_slot *s = c->user;
	char body[128], path[64];
	long race;
	int n;

	if (!more_allowed(s->in, now))
		return;
	n = patch_fields(s->in, s->in->next++, body, sizeof(body), &race);
	snprintf(path, sizeof(path), "/race/r-%ld", race);
	s->t_sent = bn_now_us();
	s->busy = 1;
	s->in->sent++;
	bn_http_request(c, "PATCH", path, body, (size_t)n);
}

static int http_msg(struct bn_conn *c, int status, char *data, size_t len,
		    int64_t now)
{
	struct http_slot *s = c->user;

	(void)data, (void)len;
	s->busy = 0;
	if (status == 200) {
		s->in->ok++;
		s->in->last_ok = now;
		bn_hist_add(&s->in->lat, now - s->t_sent);
	} else {
		s->in->failed++;
	}
	http_send(c, now);
	return 0;
}

static int http_idle(void *arg)
{
	struct ingest *in = arg;
	int64_t now = bn_now_us();

	for (long i = 0; i < in->n_conns; i++) {
		struct http_slot *s = in->conns[i].user;

		if (in->conns[i].state == BN_CLOSED)
			continue;
		if (s->busy)
			return 0;
		if (more_allowed(in, now))
			http_send(&in->conns[i], now);
		if (s->busy)
			return 0;
	}
	return 1;
}

/* ---- WebSocket ---- */

static void ws_fill(struct bn_conn *c, int64_t now)
{
	struct ingest *in = c->user;
	long i = c - in->conns;
	char fields[128], msg[320];

	while (in->ws_inflight[i] < in->o->window && more_allowed(in, now)) {
		uint64_t k = in->next++;
		long race, slot;
		int n;

		patch_fields(in, k, fields, sizeof(fields), &race);
		n = snprintf(msg, sizeof(msg),
			     "{\"type\":\"patch\",\"req\":%llu,\"id\":\"r-%ld\","
			     "\"changes\":%s}", (unsigned long long)k, race,
			     fields);
		slot = (in->ws_head[i] + in->ws_inflight[i]) % in->o->window;
		in->ws_sent[i][slot] = bn_now_us();
		in->ws_req[i][slot] = k;
		in->ws_inflight[i]++;
		in->sent++;
		if (bn_ws_send_text(c, msg, (size_t)n))
			return;
	}
}

static int ws_msg(struct bn_conn *c, int status, char *data, size_t len,
		  int64_t now)
{
	struct ingest *in = c->user;
	long i = c - in->conns;
	const char *r;
	int ack = !strncmp(data, "{\"type\":\"ack\"", 13);

	(void)status, (void)len;
	if (!ack && strncmp(data, "{\"type\":\"error\"", 15)) {
		ws_fill(c, now); /* hello: start sending */
		return 0;
	}
	if (!in->ws_inflight[i])
		return 0;
	r = strstr(data, "\"req\":");
	if (!r || strtoull(r + 6, NULL, 10) !=
		  in->ws_req[i][in->ws_head[i]])
		in->out_of_order++;
	if (ack) {
		in->ok++;
		in->last_ok = now;
		bn_hist_add(&in->lat, now - in->ws_sent[i][in->ws_head[i]]);
	} else {
		in->failed++;
	}
	in->ws_head[i] = (in->ws_head[i] + 1) % in->o->window;
	in->ws_inflight[i]--;
	ws_fill(c, now);
	return 0;
}

static int ws_idle(void *arg)
{
	struct ingest *in = arg;
	int64_t now = bn_now_us();

	for (long i = 0; i < in->n_conns; i++) {
		if (in->conns[i].state != BN_OPEN)
			continue;
		if (in->ws_inflight[i])
			return 0;
		if (more_allowed(in, now))
			ws_fill(&in->conns[i], now);
		if (in->ws_inflight[i])
			return 0;
	}
	return now >= in->t_end || (in->o->requests &&
				    in->sent >= (uint64_t)in->o->requests);
}

static int run(const struct bn_opts *o, int ws)
{
	const char *name = ws ? "ingest-ws" : "ingest-http";
	struct bn_server srv;
	struct ingest in = {.o = o};
	struct http_slot *slots = NULL;
	int epfd = -1, rc = 1;
	double cpu0, cpu1, self0, elapsed;
	long created;

	if (bn_hist_init(&in.lat) || bn_start(o, &srv)) {
		fprintf(stderr, "%s: cannot start the server\n", name);
		bn_hist_fini(&in.lat);
		return 1;
	}
	created = bn_create_races(srv.port, 0, o->races, NULL);
	if (created != o->races) {
		fprintf(stderr, "%s: created %ld of %ld races\n", name,
			created, o->races);
		goto out;
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	in.n_conns = o->conns;
	in.conns = calloc((size_t)o->conns, sizeof(*in.conns));
	slots = calloc((size_t)o->conns, sizeof(*slots));
	in.ws_sent = calloc((size_t)o->conns, sizeof(*in.ws_sent));
	in.ws_req = calloc((size_t)o->conns, sizeof(*in.ws_req));
	in.ws_head = calloc((size_t)o->conns, sizeof(long));
	in.ws_inflight = calloc((size_t)o->conns, sizeof(long));
	if (epfd < 0 || !in.conns || !slots || !in.ws_sent || !in.ws_req ||
	    !in.ws_head || !in.ws_inflight)
		goto out;
	cpu0 = bn_proc_cpu(srv.pid);
	self0 = bn_self_cpu();
	in.t_start = bn_now_us();
	in.t_end = in.t_start + (int64_t)(o->duration * 1e6);
	for (long i = 0; i < o->conns; i++) {
		slots[i].in = &in;
		if (ws) {
			in.ws_sent[i] = calloc((size_t)o->window, sizeof(int64_t));
			in.ws_req[i] = calloc((size_t)o->window, sizeof(uint64_t));
			if (!in.ws_sent[i] || !in.ws_req[i] ||
			    bn_conn_open(&in.conns[i], epfd, srv.port,
					 BN_WS_PRODUCER,
					 ws_msg, &in))
				goto out;
		} else if (bn_conn_open(&in.conns[i], epfd, srv.port, BN_HTTP,
					http_msg, &slots[i])) {
			goto out;
		} else {
			http_send(&in.conns[i], in.t_start);
		}
	}
	if (bn_loop_until(epfd, ws ? ws_idle : http_idle, &in,
			  in.t_end + 30 * 1000000LL))
		fprintf(stderr, "%s: answers still missing 30 s after the end\n",
			name);
	cpu1 = bn_proc_cpu(srv.pid);
	elapsed = (double)(in.last_ok - in.t_start) / 1e6;
	if (elapsed <= 0)
		elapsed = 1e-6;
	printf("{\"scenario\":\"%s\",\"durable\":%s,\"conns\":%ld,"
	       "\"window\":%ld,\"races\":%ld,\"seconds\":%.3f,\"sent\":%llu,"
	       "\"accepted\":%llu,\"failed\":%llu,\"out_of_order\":%llu,"
	       "\"updates_per_sec\":%.0f,\"lat_p50_ms\":%.3f,"
	       "\"lat_p99_ms\":%.3f,\"lat_max_ms\":%.3f,"
	       "\"server_cpu_sec\":%.2f,\"server_cores\":%.2f,"
	       "\"server_cpu_ms_per_1000\":%.2f,\"bench_cpu_sec\":%.2f,"
	       "\"server_hwm_kb\":%ld,\"loadavg_1m\":%.2f}\n",
	       name, o->no_sync ? "false" : "true", o->conns,
	       ws ? o->window : 1L, o->races, elapsed,
	       (unsigned long long)in.sent, (unsigned long long)in.ok,
	       (unsigned long long)in.failed,
	       (unsigned long long)in.out_of_order, (double)in.ok / elapsed,
	       bn_hist_q(&in.lat, 0.5) / 1e3, bn_hist_q(&in.lat, 0.99) / 1e3,
	       (double)in.lat.max / 1e3, cpu1 - cpu0,
	       (cpu1 - cpu0) / elapsed,
	       in.ok ? (cpu1 - cpu0) * 1e6 / (double)in.ok : 0.0,
	       bn_self_cpu() - self0, bn_proc_status_kb(srv.pid, "VmHWM"),
	       bn_loadavg());
	printf("# %s: %.0f accepted updates/s (%s) over %ld %s connections, "
	       "latency p50 %.2f ms p99 %.2f ms; server %.2f cores; "
	       "%llu failed, %llu out of order\n",
	       name, (double)in.ok / elapsed,
	       o->no_sync ? "--no-sync" : "durable, fsync per commit",
	       o->conns, ws ? "pipelined WebSocket" : "keep-alive HTTP",
	       bn_hist_q(&in.lat, 0.5) / 1e3, bn_hist_q(&in.lat, 0.99) / 1e3,
	       (cpu1 - cpu0) / elapsed, (unsigned long long)in.failed,
	       (unsigned long long)in.out_of_order);
	rc = in.failed || in.out_of_order || !in.ok;
out:
	for (long i = 0; in.conns && i < o->conns; i++) {
		bn_conn_close(&in.conns[i]);
		if (in.ws_sent)
			free(in.ws_sent[i]);
		if (in.ws_req)
			free(in.ws_req[i]);
	}
	free(in.conns);
	free(slots);
	free(in.ws_sent);
	free(in.ws_req);
	free(in.ws_head);
	free(in.ws_inflight);
	if (epfd >= 0)
		close(epfd);
	bn_hist_fini(&in.lat);
	bn_finish(&srv);
	return rc;
}

int bn_scenario_ingest_http(const struct bn_opts *o)
{
	return run(o, 0);
}

int bn_scenario_ingest_ws(const struct bn_opts *o)
{
	return run(o, 1);
}
