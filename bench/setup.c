/*
 * setup.c - blocking helpers the scenarios use before and after their
 * timed part: one-off HTTP requests, the server's seq, bulk race creation
 * over a pipelined WebSocket producer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bench.h"

struct once {
	int status;
	char *body;
	size_t cap;
};

static int once_msg(struct bn_conn *c, int status, char *data, size_t len,
		    int64_t now)
{
	struct once *o = c->user;

	(void)now;
	o->status = status;
	if (o->body && o->cap) {
		size_t n = len < o->cap - 1 ? len : o->cap - 1;

		memcpy(o->body, data, n);
		o->body[n] = '\0';
	}
	return 0;
}

static int once_done(void *arg)
{
	struct bn_conn *c = arg;

	return ((struct once *)c->user)->status != 0 || c->state == BN_CLOSED;
}

int bn_http_once(int port, const char *method, const char *path,
		 const char *req_body, char *body, size_t cap)
{
	struct once o = {.body = body, .cap = cap};
	struct bn_conn c;
	int epfd = epoll_create1(EPOLL_CLOEXEC);

	if (epfd < 0)
		return -1;
	if (bn_conn_open(&c, epfd, port, BN_HTTP, once_msg, &o) ||
	    bn_http_request(&c, method, path, req_body,
			    req_body ? strlen(req_body) : 0)) {
		bn_conn_close(&c);
		close(epfd);
		return -1;
	}
	bn_loop_until(epfd, once_done, &c, bn_now_us() + 30 * 1000000LL);
	bn_conn_close(&c);
	close(epfd);
	return o.status ? o.status : -1;
}

long long bn_health_seq(int port)
{
	char body[4096], *p;

	if (bn_http_once(port, "GET", "/health", NULL, body, sizeof(body)) !=
	    200)
		return -1;
	p = strstr(body, "\"seq\":");
	return p ? strtoll(p + 6, NULL, 10) : -1;
}

struct creator {
	long first, n, sent, acked, failed;
	const char *(*source_of)(long i);
	struct bn_conn c;
};

static void create_more(struct creator *cr)
{
	char msg[512];

	while (cr->sent < cr->n && cr->sent - cr->acked - cr->failed < 512) {
		long i = cr->first + cr->sent;
		const char *src = cr->source_of ? cr->source_of(i) : NULL;
		int n = snprintf(msg, sizeof(msg),
				 "{\"type\":\"create\",\"req\":%ld,\"race\":"
				 "{\"id\":\"r-%ld\",\"source\":\"%s\","
				 "\"title\":\"bench race %ld\",\"eta_sec\":600,"
				 "\"progress\":0}}",
				 i, i, src ? src : "bench", i);

		if (bn_ws_send_text(&cr->c, msg, (size_t)n))
			return;
		cr->sent++;
	}
}

static int creator_msg(struct bn_conn *c, int status, char *data, size_t len,
		       int64_t now)
{
	struct creator *cr = c->user;

	(void)status, (void)len, (void)now;
	if (!strncmp(data, "{\"type\":\"ack\"", 13))
		cr->acked++;
	else if (!strncmp(data, "{\"type\":\"error\"", 15))
		cr->failed++;
	create_more(cr);
	return 0;
}

static void creator_open(struct bn_conn *c)
{
	create_more(c->user);
}

static int creator_done(void *arg)
{
	struct creator *cr = arg;

	return cr->acked + cr->failed >= cr->n || cr->c.state == BN_CLOSED;
}

long bn_create_races(int port, long first, long n,
		     const char *(*source_of)(long i))
{
	struct creator *cr = calloc(1, sizeof(*cr));
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	long acked = -1;

	if (!cr || epfd < 0)
		goto out;
	cr->first = first;
	cr->n = n;
	cr->source_of = source_of;
	if (bn_conn_open(&cr->c, epfd, port, BN_WS_PRODUCER, creator_msg, cr))
		goto out;
	cr->c.on_open = creator_open;
	if (bn_loop_until(epfd, creator_done, cr,
			  bn_now_us() + 600 * 1000000LL) == 0)
		acked = cr->acked;
	if (cr->failed)
		fprintf(stderr, "bench: %ld creates failed\n", cr->failed);
	bn_conn_close(&cr->c);
out:
	if (epfd >= 0)
		close(epfd);
	free(cr);
	return acked;
}
