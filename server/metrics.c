/*
 * metrics.c - Prometheus counters: recording (cheap, array increments)
 * and the text rendering for GET /metrics.
 */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int statuses[SRV_METRICS_STATUSES] = {
	101, 200, 201, 204, 400, 401, 403, 404, 405, 408,
	409, 411, 413, 414, 415, 421, 429, 500, 503, 507,
};

static const char *const route_names[SRV_ROUTE_COUNT] = {
	"/race", "/race/{id}", "/race/{id}/event", "/races", "/health",
	"/metrics", "other",
};

static const char *const reject_names[SRV_REJ_COUNT] = {
	"host", "origin", "token", "rate_limit", "max_connections",
	"max_conns_per_ip", "ws_max_conns", "max_subs_per_ip",
	"body_too_large", "length_required", "slow_request", "bad_request",
	"ws_message_too_large", "ws_abuse", "ws_bad_message",
	"ws_slow_subscriber",
};

/* Upper bounds of the commit latency buckets, in seconds; +Inf last. */
static const double buckets[SRV_METRICS_BUCKETS - 1] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.5,
};

enum srv_route srv_metrics_route(const char *path)
{
	const char *slash;

	if (!strcmp(path, "/race") || !strcmp(path, "/race/"))
		return SRV_ROUTE_RACE;
	if (!strncmp(path, "/race/", 6)) {
		slash = strchr(path + 6, '/');
		if (!slash)
			return SRV_ROUTE_RACE_ID;
		return strcmp(slash, "/event") ? SRV_ROUTE_OTHER
					       : SRV_ROUTE_RACE_EVENT;
	}
	if (!strcmp(path, "/races") || !strcmp(path, "/races/"))
		return SRV_ROUTE_RACES;
	if (!strcmp(path, "/health") || !strcmp(path, "/health/"))
		return SRV_ROUTE_HEALTH;
	if (!strcmp(path, "/metrics") || !strcmp(path, "/metrics/"))
		return SRV_ROUTE_METRICS;
	return SRV_ROUTE_OTHER;
}

void srv_metrics_http(struct srv_metrics *m, enum srv_route route, int status)
{
	size_t i = 0;

	while (i < SRV_METRICS_STATUSES && statuses[i] != status)
		i++;
	m->http[route < SRV_ROUTE_COUNT ? route : SRV_ROUTE_OTHER][i]++;
}

void srv_metrics_reject(struct srv_metrics *m, enum srv_reject why)
{
	if (why < SRV_REJ_COUNT)
		m->rejects[why]++;
}

void srv_metrics_commit(struct srv_metrics *m, double sec, int ok)
{
	size_t i = 0;

	while (i < SRV_METRICS_BUCKETS - 1 && sec > buckets[i])
		i++;
	m->commit_buckets[i]++;
	m->commit_sum_sec += sec;
	m->commit_count++;
	if (!ok)
		m->commit_failures++;
}

static void help(FILE *f, const char *name, const char *type,
		 const char *text)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

static void gauge(FILE *f, const char *name, const char *text,
		  unsigned long long v)
{
	help(f, name, "gauge", text);
	fprintf(f, "%s %llu\n", name, v);
}

static void counter(FILE *f, const char *name, const char *text,
		    unsigned long long v)
{
	help(f, name, "counter", text);
	fprintf(f, "%s %llu\n", name, v);
}

static void render(FILE *f, const struct srv_metrics *m,
		   const struct srv_metrics_gauges *g)
{
	unsigned long long cum = 0;

	help(f, "raceboard_http_requests_total", "counter",
	     "REST replies by route and status.");
	for (size_t r = 0; r < SRV_ROUTE_COUNT; r++)
		for (size_t s = 0; s <= SRV_METRICS_STATUSES; s++) {
			if (!m->http[r][s])
				continue;
			if (s < SRV_METRICS_STATUSES)
				fprintf(f, "raceboard_http_requests_total{route="
					"\"%s\",status=\"%d\"} %llu\n",
					route_names[r], statuses[s],
					(unsigned long long)m->http[r][s]);
			else
				fprintf(f, "raceboard_http_requests_total{route="
					"\"%s\",status=\"other\"} %llu\n",
					route_names[r],
					(unsigned long long)m->http[r][s]);
		}
	help(f, "raceboard_rejections_total", "counter",
	     "Requests, messages and connections refused, by reason.");
	for (size_t i = 0; i < SRV_REJ_COUNT; i++)
		fprintf(f, "raceboard_rejections_total{reason=\"%s\"} %llu\n",
			reject_names[i], (unsigned long long)m->rejects[i]);
	gauge(f, "raceboard_connections", "Open TCP connections.",
	      m->connections);
	counter(f, "raceboard_connections_total", "TCP connections accepted.",
		m->connections_total);
	counter(f, "raceboard_fanout_connections_total",
		"TCP connections served by the fan-out thread.",
		m->fanout_connections_total);
	gauge(f, "raceboard_ws_connections", "Open WebSocket connections.",
	      m->ws_connections);
	counter(f, "raceboard_ws_connections_total",
		"WebSocket connections established.", m->ws_connections_total);
	counter(f, "raceboard_ws_messages_total",
		"Inbound WebSocket messages.", m->ws_messages);
	gauge(f, "raceboard_ws_subscribers", "Live WebSocket subscriptions.",
	      g->subscribers);
	counter(f, "raceboard_deltas_published_total",
		"Committed changes published to subscribers.",
		g->deltas_published);
	counter(f, "raceboard_delta_frames_total",
		"Delta frames composed for subscribers.", g->frames_sent);
	counter(f, "raceboard_backlog_resets_total",
		"Subscribers whose backlog collapsed into a reset snapshot.",
		g->backlog_resets);
	gauge(f, "raceboard_ws_queued_bytes",
	      "Memory held by frames on their way to subscribers.",
	      g->ws_queued_bytes);
	gauge(f, "raceboard_ws_queued_max_bytes",
	      "Over it the slowest subscribers are closed "
	      "(--ws-max-queued-mb).", g->ws_queued_max_bytes);
	help(f, "raceboard_commit_duration_seconds", "histogram",
	     "Time of one LMDB group commit.");
	for (size_t i = 0; i < SRV_METRICS_BUCKETS; i++) {
		cum += m->commit_buckets[i];
		if (i < SRV_METRICS_BUCKETS - 1)
			fprintf(f, "raceboard_commit_duration_seconds_bucket"
				"{le=\"%g\"} %llu\n", buckets[i], cum);
		else
			fprintf(f, "raceboard_commit_duration_seconds_bucket"
				"{le=\"+Inf\"} %llu\n", cum);
	}
	fprintf(f, "raceboard_commit_duration_seconds_sum %.9f\n"
		"raceboard_commit_duration_seconds_count %llu\n",
		m->commit_sum_sec, (unsigned long long)m->commit_count);
	counter(f, "raceboard_commit_failures_total",
		"Group commits that failed (their writes were refused).",
		m->commit_failures);
	gauge(f, "raceboard_races", "Races held.", g->races);
	gauge(f, "raceboard_seq", "Last sequence number.", g->seq);
	gauge(f, "raceboard_store_file_bytes", "Size of data.mdb on disk.",
	      g->store_file_bytes);
	gauge(f, "raceboard_store_map_bytes", "Current LMDB map size.",
	      g->store_map_bytes);
	gauge(f, "raceboard_store_map_used_bytes", "LMDB pages in use.",
	      g->store_map_used_bytes);
	gauge(f, "raceboard_store_map_max_bytes",
	      "Largest the LMDB map may grow (--max-store-mb).",
	      g->store_map_max_bytes);
	gauge(f, "raceboard_store_writable",
	      "1 when the store accepts writes.", (unsigned)g->store_writable);
}

char *srv_metrics_render(const struct srv_metrics *m,
			 const struct srv_metrics_gauges *g, size_t headroom,
			 size_t *len)
{
	char *text = NULL, *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);

	if (!f)
		return NULL;
	render(f, m, g);
	if (fclose(f) == 0 && text)
		buf = malloc(headroom + n + 1);
	if (buf) {
		memcpy(buf + headroom, text, n + 1);
		*len = n;
	}
	free(text);
	return buf;
}
