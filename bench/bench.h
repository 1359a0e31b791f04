/*
 * bench.h - raceboard-bench: the load generator and its shared pieces.
 *
 * The bench talks to a real raceboard-server over loopback only, with
 * non-blocking sockets and epoll, so one thread can drive a thousand
 * connections. It never links the server's code or libwebsockets: it
 * speaks HTTP/1.1 and RFC 6455 itself, like any client would. Every loop
 * is bounded in count and time, and every scenario stops by itself.
 */
#ifndef RACEBOARD_BENCH_H
#define RACEBOARD_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* ---- time ---- */

/* CLOCK_MONOTONIC in microseconds. Every timestamp of the bench (and the
 * send time embedded in updates) uses this one clock. */
int64_t bn_now_us(void);
void bn_sleep_us(int64_t us);

/* ---- latency histogram: 1 us buckets to 100 ms, then 1 ms to 100 s ---- */

#define BN_HIST_FINE 100000
#define BN_HIST_COARSE 100000

struct bn_hist {
	uint64_t *b;              /* BN_HIST_FINE + BN_HIST_COARSE counters */
	uint64_t n;
	int64_t max;
	double sum;
};

int bn_hist_init(struct bn_hist *h);
void bn_hist_fini(struct bn_hist *h);
static inline void bn_hist_add(struct bn_hist *h, int64_t us)
{
	size_t i;

	if (us < 0)
		us = 0;
	if (us < BN_HIST_FINE)
		i = (size_t)us;
	else if ((uint64_t)us / 1000 - BN_HIST_FINE / 1000 < BN_HIST_COARSE)
		i = BN_HIST_FINE + (size_t)((uint64_t)us / 1000 -
					     BN_HIST_FINE / 1000);
	else
		i = BN_HIST_FINE + BN_HIST_COARSE - 1;
	h->b[i]++;
	h->n++;
	h->sum += (double)us;
	if (us > h->max)
		h->max = us;
}
void bn_hist_merge(struct bn_hist *into, const struct bn_hist *from);
/* The q-quantile (0..1) in microseconds; 0 for an empty histogram. */
double bn_hist_q(const struct bn_hist *h, double q);

/* ---- the server process ---- */

struct bn_server {
	pid_t pid;                /* 0: an external server (no /proc stats) */
	int port;
	char dir[256];            /* temp dir: data/, port file, log */
	char data_dir[300];
	char log_path[300];
};

/*
 * Starts `bin` on a fresh (or, when srv->dir is set, the existing) data
 * dir with --port 0 --port-file, plus --no-sync when no_sync, plus the
 * NULL-terminated `extra` flags. Waits until the port file appears (at
 * most timeout_ms). Returns 0 or -1 (the child is then killed).
 */
int bn_server_start(struct bn_server *srv, const char *bin, int no_sync,
		    const char *const *extra, int timeout_ms);
/* SIGTERM, then waits (SIGKILL after 10 s). */
void bn_server_stop(struct bn_server *srv);
/* Removes the temp dir (rm -rf of a directory we created). */
void bn_server_cleanup(struct bn_server *srv);
/* utime + stime of `pid` in seconds, or -1. */
double bn_proc_cpu(pid_t pid);
/* A "Vm*:" field of /proc/pid/status in kB (e.g. "VmHWM"), or -1. */
long bn_proc_status_kb(pid_t pid, const char *field);
/* The 1-minute load average of the machine (other work competes for the
 * two cores; every result line records it). */
double bn_loadavg(void);
/* The bench's own user + system CPU seconds. */
double bn_self_cpu(void);

/* Raises RLIMIT_NOFILE to its hard limit. */
void bn_raise_nofile(void);

/* ---- connections ---- */

/* BN_WS_PRODUCER: a WebSocket at /ws?role=producer, which the server
 * serves beside its HTTP producers rather than on its fan-out thread. */
enum bn_kind { BN_HTTP, BN_WS, BN_WS_PRODUCER };
enum bn_state { BN_CONNECTING, BN_HANDSHAKE, BN_OPEN, BN_CLOSED };

struct bn_conn;

/* Called with one complete HTTP response or WebSocket text message.
 * `data` is valid only during the call. Return -1 to close. */
typedef int (*bn_msg_fn)(struct bn_conn *c, int status, char *data,
			 size_t len, int64_t now);

struct bn_conn {
	int fd;
	int epfd;
	enum bn_kind kind;
	enum bn_state state;
	int want_out;             /* EPOLLOUT is armed */
	char *in;                 /* received, not yet consumed */
	size_t in_len, in_cap;
	char *out;                /* queued, not yet written */
	size_t out_len, out_off, out_cap;
	char *msg;                /* a fragmented WS message being joined */
	size_t msg_len, msg_cap;
	bn_msg_fn on_msg;
	void (*on_open)(struct bn_conn *c);  /* WS: after the 101 */
	void *user;
	int64_t last_rx;
	uint64_t rx_bytes;
};

/* Starts a non-blocking connect to 127.0.0.1:port and registers it on
 * epfd (data.ptr = c). A WS connection sends its handshake first. */
int bn_conn_open(struct bn_conn *c, int epfd, int port, enum bn_kind kind,
		 bn_msg_fn on_msg, void *user);
/* The same with a receive buffer of `rcvbuf` bytes (0: the kernel's
 * default, which grows on its own), so a reader that stops reading
 * pushes back on the server after a few KB instead of a few MB. */
int bn_conn_open_rcvbuf(struct bn_conn *c, int epfd, int port,
			enum bn_kind kind, bn_msg_fn on_msg, void *user,
			int rcvbuf);
void bn_conn_close(struct bn_conn *c);
/* Queues bytes (written now when possible). -1 when closed. */
int bn_conn_send(struct bn_conn *c, const void *data, size_t len);
/* Queues one WebSocket text message (masked, as clients must). */
int bn_ws_send_text(struct bn_conn *c, const char *data, size_t len);
/* Handles one epoll event for c. Returns -1 when c closed. */
int bn_conn_event(struct bn_conn *c, uint32_t events, int64_t now);
/* Queues an HTTP request with a JSON body (body may be NULL). */
int bn_http_request(struct bn_conn *c, const char *method, const char *path,
		    const char *body, size_t body_len);

/* Runs epoll on epfd until done(arg) or the deadline; returns 0 when
 * done, -1 on timeout. */
int bn_loop_until(int epfd, int (*done)(void *), void *arg,
		  int64_t deadline_us);

/* ---- parsing what the server sends ---- */

/*
 * Finds `key` (e.g. "\"seq\":") in [p, end) by looking for its byte at
 * `at`, a byte rare in deltas ('q' occurs in no other key of an update
 * delta, 'b' in few), with memchr: at 5 M deltas/s the receivers' memmem
 * alone took a third of the bench's CPU, which shares the machine with
 * the server being measured. Returns the byte after the key, or NULL.
 */
static inline char *bn_find_key(char *p, char *end, const char *key,
				 size_t len, size_t at)
{
	for (p += at; p < end && (p = memchr(p, key[at], (size_t)(end - p)));
	     p++)
		if ((size_t)(end - p) >= len - at && !memcmp(p - at, key, len))
			return p - at + len;
	return NULL;
}

/* A decimal integer at p (digits only, as the server writes them). */
static inline uint64_t bn_digits(const char **p)
{
	uint64_t v = 0;

	while (**p >= '0' && **p <= '9')
		v = v * 10 + (uint64_t)(*(*p)++ - '0');
	return v;
}

/* ---- small blocking helpers (setup only) ---- */

/* One HTTP request on a fresh connection; returns the status or -1 and
 * copies up to cap-1 body bytes into body (may be NULL). */
int bn_http_once(int port, const char *method, const char *path,
		 const char *req_body, char *body, size_t cap);
/* GET /health's "seq", or -1. */
long long bn_health_seq(int port);

/*
 * Creates races r-<first>..r-<first+n-1> over one pipelined WebSocket
 * producer (window 512). `source_of(i)` names each race's source (NULL:
 * "bench"). Returns the number acknowledged, or -1.
 */
long bn_create_races(int port, long first, long n,
		     const char *(*source_of)(long i));

/* ---- options shared by every scenario ---- */

struct bn_opts {
	const char *server_bin;   /* NULL: use --port of a running server */
	int port;
	int no_sync;
	const char *extra[16];    /* --server-arg, NULL-terminated */
	int n_extra;
	/* load shape */
	long conns;               /* ingest: connections */
	long window;              /* ingest-ws: messages in flight per conn */
	long races;
	double duration;          /* seconds of load */
	long requests;            /* 0: bounded by duration only */
	long subs;                /* fanout: subscribers */
	double rate;              /* fanout: updates/s */
	int filter;               /* fanout: subscribe with a filter */
	int via_ws;               /* fanout: produce over WebSocket */
	long producers;           /* fanout: producer connections */
	long snapshot;            /* cold-start: races in the timed snapshot */
	int sub_threads;          /* fanout: subscriber threads */
	long chunk;               /* loopback: bytes per write */
	double stall;             /* stall: seconds subscribers read nothing */
	int rcvbuf;               /* stall: subscribers' SO_RCVBUF (0: default) */
	int sub_ports[8];         /* fanout: subscribers on these running
	                           * servers, round-robin (cluster nodes);
	                           * none: on the producers' server */
	int n_sub_ports;
	const char *label;
};

int bn_scenario_ingest_http(const struct bn_opts *o);
int bn_scenario_ingest_ws(const struct bn_opts *o);
int bn_scenario_fanout(const struct bn_opts *o);
int bn_scenario_stall(const struct bn_opts *o);
int bn_scenario_cold_start(const struct bn_opts *o);
int bn_scenario_loopback(const struct bn_opts *o);

/* Starts the server the options ask for (or adopts --port). */
int bn_start(const struct bn_opts *o, struct bn_server *srv);
void bn_finish(struct bn_server *srv);

#endif
