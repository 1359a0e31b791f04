/*
 * loopback.c - the "loopback" scenario: what moving bytes to S loopback
 * TCP connections costs this machine, with no server at all.
 *
 * It is the floor under any fan-out design: one thread writes a chunk to
 * every socket that is writable (as a server writes one composed frame
 * per subscriber per writable callback), another reads everything, like
 * S subscribers would. Each thread's CPU time (CLOCK_THREAD_CPUTIME_ID)
 * over the bytes moved gives CPU seconds per GB for the sending and the
 * receiving side; at ~190 bytes per update delta, 5 M deltas/s is
 * ~0.95 GB/s. With --window 0 it measures request/response instead
 * (see responder()).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define READ_BUF (256 * 1024)
#define DELTA_BYTES 190.0       /* an update delta, docs/PERFORMANCE.md */

struct side {
	int *fds;
	long n;
	size_t chunk;
	atomic_int *stop;
	uint64_t bytes;
	double cpu;             /* this thread's CPU seconds */
	int failed;
};

static double thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Adds every fd to a new epoll set for `events`; -1 on failure. */
static int watch_all(const struct side *s, uint32_t events)
{
	int ep = epoll_create1(0);

	for (long i = 0; ep >= 0 && i < s->n; i++) {
		struct epoll_event ev = {.events = events, .data.fd = s->fds[i]};

		if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fds[i], &ev)) {
			close(ep);
			return -1;
		}
	}
	return ep;
}

/* Writes one chunk to each socket epoll reports writable, until stop. */
static void *writer(void *arg)
{
	struct side *s = arg;
	struct epoll_event evs[256];
	char *chunk = malloc(s->chunk);
	int ep = watch_all(s, EPOLLOUT);

	if (!chunk || ep < 0) {
		s->failed = 1;
		free(chunk);
		return NULL;
	}
	memset(chunk, 'x', s->chunk);
	while (!atomic_load(s->stop)) {
		int n = epoll_wait(ep, evs, 256, 100);

		for (int i = 0; i < n; i++) {
			ssize_t w = send(evs[i].data.fd, chunk, s->chunk,
					 MSG_DONTWAIT | MSG_NOSIGNAL);

			if (w > 0)
				s->bytes += (uint64_t)w;
		}
	}
	s->cpu = thread_cpu();
	close(ep);
	free(chunk);
	return NULL;
}

/* Reads whatever arrives on any socket, until stop. */
static void *reader(void *arg)
{
	struct side *s = arg;
	struct epoll_event evs[256];
	char *buf = malloc(READ_BUF);
	int ep = watch_all(s, EPOLLIN);

	if (!buf || ep < 0) {
		s->failed = 1;
		free(buf);
		return NULL;
	}
	while (!atomic_load(s->stop)) {
		int n = epoll_wait(ep, evs, 256, 100);

		for (int i = 0; i < n; i++) {
			ssize_t r;

			while ((r = recv(evs[i].data.fd, buf, READ_BUF,
					 MSG_DONTWAIT)) > 0)
				s->bytes += (uint64_t)r;
		}
	}
	s->cpu = thread_cpu();
	close(ep);
	free(buf);
	return NULL;
}

/*
 * Request/response (--window 0 asks for it): every client socket keeps
 * one request of `chunk` bytes in flight; the other thread answers each
 * whole request with a reply of REPLY_BYTES, as an HTTP server answers a
 * PATCH. Each side is one thread, so the round trips per second and the
 * CPU per round trip are what the kernel alone allows per core.
 */
#define REPLY_BYTES 600         /* a PATCH reply: headers and the race */

/* One side of request/response: every `want` bytes received on a socket
 * are answered with `answer` bytes; `starts` sends the first requests. */
static void rr_side(struct side *s, size_t want, size_t answer, int starts)
{
	struct epoll_event evs[256];
	char *out = malloc(answer), buf[READ_BUF / 4];
	size_t *got = calloc((size_t)s->n + 1024, sizeof(size_t));
	int ep = watch_all(s, EPOLLIN);

	if (!out || !got || ep < 0) {
		s->failed = 1;
		goto done;
	}
	memset(out, 'x', answer);
	for (long i = 0; starts && i < s->n; i++)
		send(s->fds[i], out, answer, MSG_NOSIGNAL);
	while (!atomic_load(s->stop)) {
		int n = epoll_wait(ep, evs, 256, 100);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);

			if (r <= 0 || fd >= (int)s->n + 1024)
				continue;
			got[fd] += (size_t)r;
			for (; got[fd] >= want; got[fd] -= want) {
				send(fd, out, answer, MSG_NOSIGNAL);
				s->bytes++;   /* round trips */
			}
		}
	}
	s->cpu = thread_cpu();
done:
	if (ep >= 0)
		close(ep);
	free(out);
	free(got);
}

static void *responder(void *arg)
{
	struct side *s = arg;

	rr_side(s, s->chunk, REPLY_BYTES, 0);
	return NULL;
}

static void *requester(void *arg)
{
	struct side *s = arg;

	rr_side(s, REPLY_BYTES, s->chunk, 1);
	return NULL;
}

/* Makes n connected loopback TCP pairs: out[i] (accepted) -> in[i]. */
static int connect_pairs(long n, int *out, int *in)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);

	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) ||
	    listen(lfd, 4096) || getsockname(lfd, (struct sockaddr *)&a, &alen))
		goto fail;
	for (long i = 0; i < n; i++) {
		in[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (in[i] < 0 ||
		    connect(in[i], (struct sockaddr *)&a, sizeof a) ||
		    (out[i] = accept(lfd, NULL, NULL)) < 0)
			goto fail;
		setsockopt(out[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	close(lfd);
	return 0;
fail:
	perror("bench: loopback pairs");
	if (lfd >= 0)
		close(lfd);
	return -1;
}

int bn_scenario_loopback(const struct bn_opts *o)
{
	atomic_int stop = 0;
	int *out = calloc((size_t)o->subs, sizeof(int));
	int *in = calloc((size_t)o->subs, sizeof(int));
	struct side w = {out, o->subs, (size_t)o->chunk, &stop, 0, 0, 0};
	struct side r = {in, o->subs, (size_t)o->chunk, &stop, 0, 0, 0};
	pthread_t tw, tr;
	double secs, gb, w_gb, r_gb;
	int64_t t0;

	if (!out || !in || connect_pairs(o->subs, out, in)) {
		free(out);
		free(in);
		return 1;
	}
	t0 = bn_now_us();
	if (o->window == 0) {
		pthread_create(&tw, NULL, responder, &w);
		pthread_create(&tr, NULL, requester, &r);
	} else {
		pthread_create(&tw, NULL, writer, &w);
		pthread_create(&tr, NULL, reader, &r);
	}
	bn_sleep_us((int64_t)(o->duration * 1e6));
	atomic_store(&stop, 1);
	pthread_join(tw, NULL);
	pthread_join(tr, NULL);
	secs = (double)(bn_now_us() - t0) / 1e6;
	for (long i = 0; i < o->subs; i++) {
		close(out[i]);
		close(in[i]);
	}
	free(out);
	free(in);
	if (w.failed || r.failed || !r.bytes)
		return 1;
	if (o->window == 0) {
		printf("{\"scenario\":\"loopback\",\"mode\":\"request-response\","
		       "\"conns\":%ld,\"request\":%ld,\"reply\":%d,"
		       "\"seconds\":%.3f,\"round_trips_per_sec\":%.0f,"
		       "\"server_us_per_rt\":%.2f,\"client_us_per_rt\":%.2f,"
		       "\"loadavg_1m\":%.2f}\n",
		       o->subs, o->chunk, REPLY_BYTES, secs,
		       (double)w.bytes / secs, w.cpu * 1e6 / (double)w.bytes,
		       r.cpu * 1e6 / (double)r.bytes, bn_loadavg());
		printf("# loopback request-response: %.0f round trips/s over "
		       "%ld connections; the answering side spends %.2f us of "
		       "CPU per round trip on recv+send alone\n",
		       (double)w.bytes / secs, o->subs,
		       w.cpu * 1e6 / (double)w.bytes);
		return 0;
	}
	gb = (double)r.bytes / 1e9;
	w_gb = w.cpu / gb;
	r_gb = r.cpu / gb;
	printf("{\"scenario\":\"loopback\",\"subs\":%ld,\"chunk\":%ld,"
	       "\"seconds\":%.3f,\"gb_per_sec\":%.3f,"
	       "\"send_cpu_sec_per_gb\":%.3f,\"recv_cpu_sec_per_gb\":%.3f,"
	       "\"cores_for_5m_deltas_per_sec\":%.2f,\"loadavg_1m\":%.2f}\n",
	       o->subs, o->chunk, secs, gb / secs, w_gb, r_gb,
	       (w_gb + r_gb) * 5e6 * DELTA_BYTES / 1e9, bn_loadavg());
	printf("# loopback: %.2f GB/s to %ld sockets in %ld-byte writes; "
	       "send %.2f + receive %.2f CPU s per GB, so 5 M deltas/s "
	       "(%.2f GB/s) needs %.2f cores before any server work\n",
	       gb / secs, o->subs, o->chunk, w_gb, r_gb,
	       5e6 * DELTA_BYTES / 1e9,
	       (w_gb + r_gb) * 5e6 * DELTA_BYTES / 1e9);
	return 0;
}
