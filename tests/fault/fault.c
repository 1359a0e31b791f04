/*
 * fault.c - crash and fault tests on the real server binary:
 *
 *   kill  steady writes from several producers; kill -9 at a random
 *         moment; restart; every acknowledged write is there, no write is
 *         half-applied, the store opens cleanly. Repeated --rounds times.
 *   map   the LMDB map at its limit (--max-store-mb 1): writes refused
 *         with 507 store_full, reads keep working, nothing stored is
 *         lost, writes resume once races are deleted.
 *   disk  the disk full (a 2 MB tmpfs; skipped when mount is not
 *         permitted): writes refused with 507/503, reads keep working,
 *         nothing is lost, writes resume once the tmpfs grows.
 *
 * Usage: fault [--rounds N] [--seed S] [kill|map|disk]...  (default: all)
 * RACEBOARD_SERVER_BIN names the binary. tests/fault/run.sh wraps it;
 * make test runs the short form (meson test fault_short). Exit 0 = pass,
 * 77 = everything skipped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "../support/http_client.h"
#include "../support/server_proc.h"

#define PRODUCERS 4
#define FAIL(...) do { fprintf(stderr, "fault: FAIL: " __VA_ARGS__); \
		       fputc('\n', stderr); exit(1); } while (0)

/* The server of the running case, killed at exit (a FAIL included) so
 * no orphan keeps its port and temp dir. */
static struct server_proc *current;

static void kill_current(void)
{
	if (current && current->pid > 0)
		server_kill(current);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* One producer owns race "p<i>" and writes v = 1, 2, 3...: progress v %
 * 101, eta_sec 100000 - v and metadata.v = "v" in one PATCH, so a half-
 * applied write shows as fields that disagree. It also creates
 * "p<i>-<v>" every 10th write, to check that acked creates survive. */
struct producer {
	pthread_t th;
	int id;
	int port;
	atomic_int stop;
	long acked;           /* last v answered 200 */
	long attempted;       /* last v sent */
	long created[4096];   /* acked creates (v values) */
	int n_created;
};

static int request(int port, const char *method, const char *path,
		   const char *body)
{
	struct http_response r;
	int st;

	st = http_request(port, method, path, body, &r) ? 0 : r.status;
	http_response_free(&r); /* a partial read may have a body */
	return st;
}

static void *produce(void *arg)
{
	struct producer *p = arg;
	char path[64], body[256];

	while (!atomic_load(&p->stop)) {
		long v = p->acked + 1;
		int st;

		snprintf(path, sizeof(path), "/race/p%d", p->id);
		snprintf(body, sizeof(body), "{\"progress\":%ld,\"eta_sec\":%ld,"
			 "\"metadata\":{\"v\":\"%ld\"}}", v % 101, 100000 - v,
			 v);
		p->attempted = v;
		st = request(p->port, "PATCH", path, body);
		if (st != 200)
			break; /* killed (0) or refused: stop this round */
		p->acked = v;
		if (v % 10 == 0 && p->n_created < 4096) {
			snprintf(body, sizeof(body), "{\"id\":\"p%d-%ld\","
				 "\"source\":\"fault\",\"title\":\"t\"}", p->id,
				 v);
			if (request(p->port, "POST", "/race", body) == 201)
				p->created[p->n_created++] = v;
			else
				break;
		}
	}
	return NULL;
}

static json_object *get_json(int port, const char *path, int *status)
{
	struct http_response r;
	json_object *o;

	if (http_request(port, "GET", path, NULL, &r)) {
		http_response_free(&r);
		FAIL("GET %s: no answer", path);
	}
	*status = r.status;
	o = json_tokener_parse(r.body);
	http_response_free(&r);
	return o;
}

static long num(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v)
						   : -1;
}

/* Checks one producer's race after a restart. */
static void check_producer(int port, struct producer *p, int round)
{
	char path[64];
	int st;
	json_object *o, *meta, *mv;
	long v;

	snprintf(path, sizeof(path), "/race/p%d", p->id);
	o = get_json(port, path, &st);
	if (st != 200)
		FAIL("round %d: %s is gone (%d)", round, path, st);
	if (!json_object_object_get_ex(o, "metadata", &meta) ||
	    !json_object_object_get_ex(meta, "v", &mv))
		FAIL("round %d: %s has no metadata.v", round, path);
	v = atol(json_object_get_string(mv));
	if (num(o, "progress") != v % 101 || num(o, "eta_sec") != 100000 - v)
		FAIL("round %d: %s half-applied: v %ld, progress %ld, eta %ld",
		     round, path, v, num(o, "progress"), num(o, "eta_sec"));
	if (v < p->acked)
		FAIL("round %d: %s lost acked write %ld (has %ld)", round,
		     path, p->acked, v);
	if (v > p->attempted)
		FAIL("round %d: %s has %ld, never sent", round, path, v);
	/* An unacknowledged write that did land counts as done. */
	p->acked = v;
	json_object_put(o);
	for (int i = 0; i < p->n_created; i++) {
		snprintf(path, sizeof(path), "/race/p%d-%ld", p->id,
			 p->created[i]);
		json_object_put(get_json(port, path, &st));
		if (st != 200)
			FAIL("round %d: acked create %s is gone", round, path);
	}
}

static void seed_producers(struct server_proc *s, struct producer *ps)
{
	char body[128];

	for (int i = 0; i < PRODUCERS; i++) {
		memset(&ps[i], 0, sizeof(ps[i]));
		ps[i].id = i;
		snprintf(body, sizeof(body), "{\"id\":\"p%d\",\"source\":"
			 "\"fault\",\"title\":\"t\",\"metadata\":{\"v\":\"0\"},"
			 "\"progress\":0,\"eta_sec\":100000}", i);
		if (request(s->port, "POST", "/race", body) != 201)
			FAIL("cannot create p%d", i);
	}
}

static void run_kill(int rounds)
{
	static struct producer ps[PRODUCERS];
	struct server_proc s;
	long writes = 0;

	current = &s;
	if (server_start(&s, NULL))
		FAIL("the server did not start");
	seed_producers(&s, ps);
	for (int round = 1; round <= rounds; round++) {
		for (int i = 0; i < PRODUCERS; i++) {
			ps[i].port = s.port;
			atomic_store(&ps[i].stop, 0);
			pthread_create(&ps[i].th, NULL, produce, &ps[i]);
		}
		sleep_ms(100 + rand() % 500);
		server_kill(&s);
		for (int i = 0; i < PRODUCERS; i++) {
			atomic_store(&ps[i].stop, 1);
			pthread_join(ps[i].th, NULL);
		}
		if (server_restart(&s, NULL))
			FAIL("round %d: the store did not reopen; see %s",
			     round, s.log_path);
		for (int i = 0; i < PRODUCERS; i++)
			check_producer(s.port, &ps[i], round);
	}
	for (int i = 0; i < PRODUCERS; i++)
		writes += ps[i].acked;
	if (server_stop(&s) != 0)
		FAIL("kill: clean stop failed");
	server_cleanup(&s);
	printf("fault: kill -9: %d rounds, %ld acknowledged writes, none "
	       "lost, none half-applied\n", rounds, writes);
}

/* Writes 4 KB races until the server refuses; returns how many were
 * acknowledged (ids <prefix>0..N-1), the refusal status in *st, and
 * fails unless the refusal is a store_* JSON error. */
static int fill(int port, int *st, const char *prefix)
{
	char *body = malloc(8192), pad[4001];
	struct http_response r;
	int n = 0;

	memset(pad, 'x', 4000);
	pad[4000] = '\0';
	for (;;) {
		snprintf(body, 8192, "{\"id\":\"%s%d\",\"source\":\"fault\","
			 "\"title\":\"t\",\"metadata\":{\"pad\":\"%s\"}}",
			 prefix, n, pad);
		*st = http_request(port, "POST", "/race", body, &r) ? 0
								  : r.status;
		if (*st != 201) {
			if (*st >= 500 && (!r.body || !strstr(r.body,
							      "\"store_")))
				FAIL("refusal %d without a store_* error: %s",
				     *st, r.body ? r.body : "");
			http_response_free(&r);
			break;
		}
		http_response_free(&r);
		if (++n > 100000)
			FAIL("the store never filled up");
	}
	free(body);
	return n;
}

static void check_all(int port, const char *prefix, int n, const char *what)
{
	char path[64];

	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/race/%s%d", prefix, i);
		if (request(port, "GET", path, NULL) != 200)
			FAIL("%s: acknowledged %s is gone", what, path);
	}
}

/* Writes are refused with 507/503 (fill() checked the body) and reads
 * keep working. */
static void check_refusal(int port, int st, const char *what)
{
	if (st != 507 && st != 503)
		FAIL("%s: writes refused with %d, want 507 or 503", what, st);
	if (request(port, "GET", "/races", NULL) != 200 ||
	    request(port, "GET", "/health", NULL) == 0)
		FAIL("%s: reads stopped working", what);
}

/* GET /health answers `status` with `needle` in its body. */
static void check_health(int port, int status, const char *needle,
			 const char *what)
{
	struct http_response r;

	if (http_request(port, "GET", "/health", NULL, &r))
		FAIL("%s: /health did not answer", what);
	if (r.status != status || !strstr(r.body, needle))
		FAIL("%s: /health answered %d %s, want %d with %s", what,
		     r.status, r.body, status, needle);
	http_response_free(&r);
}

static void run_map(void)
{
	struct server_proc s;
	const char *flags[] = {"--max-store-mb", "1", "--delta-log", "16",
			       NULL};
	char path[64];
	int st, n, again;

	current = &s;
	if (server_start(&s, flags))
		FAIL("map: the server did not start");
	n = fill(s.port, &st, "f");
	check_refusal(s.port, st, "map");
	if (st != 507)
		FAIL("map: a full map must answer 507 store_full, got %d", st);
	check_health(s.port, 503, "\"state\":\"full\"", "map full");
	check_all(s.port, "f", n, "map");
	for (int i = 0; i < n / 2; i++) {
		snprintf(path, sizeof(path), "/race/f%d", i);
		if (request(s.port, "DELETE", path, NULL) != 200)
			FAIL("map: delete of %s refused", path);
	}
	again = fill(s.port, &st, "g");
	if (again < 1)
		FAIL("map: writes did not resume after deletes");
	server_kill(&s);
	if (server_restart(&s, flags))
		FAIL("map: the full store did not reopen");
	for (int i = n / 2; i < n; i++) {
		snprintf(path, sizeof(path), "/race/f%d", i);
		if (request(s.port, "GET", path, NULL) != 200)
			FAIL("map: %s lost", path);
	}
	check_all(s.port, "g", again, "map after restart");
	server_stop(&s);
	server_cleanup(&s);
	printf("fault: map full: %d races then 507; reads kept working; %d "
	       "more after deleting %d; nothing lost\n", n, again, n / 2);
}

/* Returns 0, or 77 when the tmpfs cannot be mounted (not root, or in a
 * container without CAP_SYS_ADMIN). */
static int run_disk(void)
{
	char dir[] = "/tmp/raceboard-fault-disk-XXXXXX", data[128];
	struct server_proc s;
	const char *flags[8];
	int st, n, again;

	if (!mkdtemp(dir))
		FAIL("disk: mkdtemp");
	if (mount("tmpfs", dir, "tmpfs", 0, "size=2m,mode=0700")) {
		printf("fault: disk full: SKIPPED (mount -t tmpfs: %s; needs "
		       "root with CAP_SYS_ADMIN)\n", strerror(errno));
		rmdir(dir);
		return 77;
	}
	snprintf(data, sizeof(data), "%s/data", dir);
	flags[0] = "--max-store-mb";
	flags[1] = "64";
	flags[2] = "--delta-log";
	flags[3] = "16";
	flags[4] = NULL;
	current = &s;
	if (server_start(&s, flags))
		FAIL("disk: the server did not start");
	/* server_start made its own data dir; restart it on the tmpfs. */
	server_stop(&s);
	snprintf(s.data_dir, sizeof(s.data_dir), "%s", data);
	if (server_restart(&s, flags))
		FAIL("disk: the server did not start on the tmpfs");
	n = fill(s.port, &st, "d");
	check_refusal(s.port, st, "disk");
	/* One status for "no space", from the first refusal on, and /health
	 * says so (it used to answer 503 store_unavailable first, and /health
	 * 200 ok throughout). */
	if (st != 507)
		FAIL("disk: a full disk must answer 507 store_full, got %d", st);
	check_health(s.port, 503, "\"state\":\"full\"", "disk full");
	check_all(s.port, "d", n, "disk");
	if (mount("tmpfs", dir, "tmpfs", MS_REMOUNT, "size=16m,mode=0700"))
		FAIL("disk: remount bigger: %s", strerror(errno));
	again = fill(s.port, &st, "e");
	if (again < 1)
		FAIL("disk: writes did not resume after the disk grew");
	check_health(s.port, 503, "\"state\":\"full\"", "disk full again");
	server_kill(&s);
	if (server_restart(&s, flags))
		FAIL("disk: the store did not reopen after a full disk");
	check_all(s.port, "d", n, "disk after restart");
	check_all(s.port, "e", again, "disk after restart");
	server_stop(&s);
	server_cleanup(&s);
	umount(dir);
	rmdir(dir);
	printf("fault: disk full: %d races then %d; reads kept working; %d "
	       "more once the disk grew; nothing lost\n", n, st, again);
	return 0;
}

int main(int argc, char **argv)
{
	int rounds = 10, all = 1, want_kill = 0, want_map = 0, want_disk = 0;
	int ran = 0;
	unsigned seed = (unsigned)time(NULL);

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "kill"))
			want_kill = 1, all = 0;
		else if (!strcmp(argv[i], "map"))
			want_map = 1, all = 0;
		else if (!strcmp(argv[i], "disk"))
			want_disk = 1, all = 0;
		else {
			fprintf(stderr, "usage: fault [--rounds N] [--seed S] "
				"[kill|map|disk]...\n");
			return 2;
		}
	}
	srand(seed);
	atexit(kill_current);
	printf("fault: seed %u\n", seed);
	if (all || want_kill) {
		run_kill(rounds);
		ran++;
	}
	if (all || want_map) {
		run_map();
		ran++;
	}
	if ((all || want_disk) && run_disk() == 0)
		ran++;
	return ran ? 0 : 77;
}
