/*
 * test_server_route.c - new connections reach the service thread their
 * first bytes ask for (server/route.h): a WebSocket upgrade the fan-out
 * thread, whether its request line came with the connection, a moment
 * later, or in pieces; anything else the main thread, also when nothing
 * came for a while. /metrics counts what the fan-out thread adopted, and
 * every connection is served whichever thread has it.
 */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "support/http_client.h"
#include "support/server_proc.h"
#include "support/ws_client.h"

#define COUNTER "raceboard_fanout_connections_total "

static struct server_proc srv;

static void start_with(const char *const *extra)
{
	cr_assert_eq(server_start(&srv, extra), 0, "server did not start");
}

static void stop(void)
{
	server_stop(&srv);
	server_cleanup(&srv);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static long long fanout_count(void)
{
	struct http_response r;
	const char *p;
	long long v;

	cr_assert_eq(http_request(srv.port, "GET", "/metrics", NULL, &r), 0);
	cr_assert_eq(r.status, 200);
	p = strstr(r.body, "\n" COUNTER);
	cr_assert_not_null(p, "no %s in /metrics", COUNTER);
	v = atoll(p + 1 + strlen(COUNTER));
	http_response_free(&r);
	return v;
}

/* Writes all of it, or fails the test. */
static void send_all(int fd, const char *p, size_t n)
{
	cr_assert_eq(http_send_all(fd, p, n), 0, "send failed");
}

static const char upgrade[] =
	"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
	"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: raceboard.v1\r\n"
	"\r\n";

/* Sends the upgrade in two parts, `pause_ms` apart, the first `split`
 * bytes long (0: nothing before the pause), and expects 101. */
static void upgrade_slowly(size_t split, int pause_ms)
{
	int fd = http_connect(srv.port);
	char buf[512];
	ssize_t n;

	cr_assert_geq(fd, 0);
	send_all(fd, upgrade, split);
	sleep_ms(pause_ms);
	send_all(fd, upgrade + split, sizeof(upgrade) - 1 - split);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	cr_assert_gt(n, 12, "no answer to the upgrade");
	buf[n] = '\0';
	cr_assert(!strncmp(buf, "HTTP/1.1 101", 12), "answer: %s", buf);
	close(fd);
}

static void expect_status(const char *raw, int status)
{
	struct http_response r;

	cr_assert_eq(http_raw(srv.port, raw, strlen(raw), &r), 0);
	cr_assert_eq(r.status, status, "%s-> %d", raw, r.status);
	http_response_free(&r);
}

Test(route, websockets_go_to_the_fan_out_thread_and_work_there,
     .fini = stop, .timeout = 60)
{
	struct ws_client sub;
	struct http_response r;
	long long before;

	start_with(NULL);
	before = fanout_count();
	cr_assert_eq(ws_open(&sub, srv.port, "/ws"), 0);
	cr_assert_eq(ws_recv(&sub, 5000), 1); /* hello */
	cr_assert_eq(fanout_count(), before + 1);
	/* A producer on the main thread, a subscriber on the other. */
	cr_assert_eq(ws_send(&sub, "{\"type\":\"subscribe\"}"), 0);
	cr_assert_eq(ws_recv(&sub, 5000), 1);
	cr_assert_not_null(strstr(sub.msg, "\"snapshot\""), "%s", sub.msg);
	cr_assert_eq(http_request(srv.port, "POST", "/race",
				  "{\"id\":\"r1\",\"source\":\"cmd\","
				  "\"title\":\"t\"}", &r), 0);
	cr_assert_eq(r.status, 201);
	http_response_free(&r);
	cr_assert_eq(ws_recv(&sub, 5000), 1);
	cr_assert_not_null(strstr(sub.msg, "\"r1\""), "%s", sub.msg);
	ws_close(&sub);
	/* Plain HTTP, /wsx included, stays on the main thread. */
	expect_status("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 200);
	expect_status("GET /wsx HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 404);
	cr_assert_eq(fanout_count(), before + 1);
}

/* Opens a WebSocket at `path`, checks it works (hello, then a create
 * acknowledged), and returns by how much the fan-out counter moved. */
static long long open_and_write(const char *path)
{
	struct ws_client c;
	long long before = fanout_count();

	cr_assert_eq(ws_open(&c, srv.port, path), 0, "%s refused", path);
	cr_assert_eq(ws_recv(&c, 5000), 1); /* hello */
	cr_assert_eq(ws_send(&c, "{\"type\":\"create\",\"req\":1,\"race\":"
			     "{\"source\":\"cmd\",\"title\":\"t\"}}"), 0);
	cr_assert_eq(ws_recv(&c, 5000), 1);
	cr_assert_not_null(strstr(c.msg, "\"ack\""), "%s: %s", path, c.msg);
	ws_close(&c);
	return fanout_count() - before;
}

Test(route, a_producer_that_says_so_stays_with_the_http_producers,
     .fini = stop, .timeout = 60)
{
	start_with(NULL);
	cr_assert_eq(open_and_write("/ws?role=producer"), 0);
	cr_assert_eq(open_and_write("/ws?x=1&role=producer"), 0);
	cr_assert_eq(open_and_write("/ws?role=producers"), 1);
	cr_assert_eq(open_and_write("/ws?x=role=producer"), 1);
	cr_assert_eq(open_and_write("/ws"), 1);
}

Test(route, a_request_line_that_comes_late_or_in_pieces_is_still_routed,
     .fini = stop, .timeout = 60)
{
	long long before;

	start_with(NULL);
	before = fanout_count();
	upgrade_slowly(0, 300);          /* nothing at accept */
	cr_assert_eq(fanout_count(), before + 1);
	upgrade_slowly(6, 300);          /* "GET /w", then the rest */
	cr_assert_eq(fanout_count(), before + 2);
	upgrade_slowly(7, 300);          /* "GET /ws", then " HTTP/1.1" */
	cr_assert_eq(fanout_count(), before + 3);
}

Test(route, a_connection_silent_past_the_wait_is_served_by_the_main_thread,
     .fini = stop, .timeout = 60)
{
	int fd;
	struct http_response r;
	long long before;
	static const char req[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

	start_with(NULL);
	before = fanout_count();
	fd = http_connect(srv.port);
	cr_assert_geq(fd, 0);
	sleep_ms(1500);                  /* past route.c's 1 s wait */
	send_all(fd, req, sizeof(req) - 1);
	cr_assert_eq(http_read_response(fd, &r), 0);
	cr_assert_eq(r.status, 200);
	http_response_free(&r);
	close(fd);
	cr_assert_eq(fanout_count(), before);
}

Test(route, with_no_fan_out_thread_the_main_thread_serves_websockets,
     .fini = stop, .timeout = 60)
{
	struct ws_client sub;

	start_with((const char *[]){"--ws-threads", "0", NULL});
	cr_assert_eq(ws_open(&sub, srv.port, "/ws"), 0);
	cr_assert_eq(ws_recv(&sub, 5000), 1); /* hello */
	ws_close(&sub);
	upgrade_slowly(0, 200);
	cr_assert_eq(fanout_count(), 0);
}
