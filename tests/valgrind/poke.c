/*
 * poke.c - a short client session for tests/valgrind-server.sh: REST
 * writes and reads, refusals, /metrics, and a WebSocket subscriber and
 * producer, so valgrind sees the server's usual paths. Exits 0 when
 * every answer was the expected one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/http_client.h"
#include "../support/ws_client.h"

static int failures;

static void expect(int port, const char *method, const char *path,
		   const char *body, int status)
{
	struct http_response r;

	if (http_request(port, method, path, body, &r) || r.status != status) {
		fprintf(stderr, "poke: %s %s: got %d, want %d\n", method, path,
			r.status, status);
		failures++;
	}
	http_response_free(&r);
}

static void raw(int port, const char *req, int status)
{
	struct http_response r;

	if (http_raw(port, req, strlen(req), &r) || r.status != status) {
		fprintf(stderr, "poke: raw: got %d, want %d\n", r.status,
			status);
		failures++;
	}
	http_response_free(&r);
}

/* Waits for a frame holding `what`, skipping others (deltas). */
static void ws_expect(struct ws_client *c, const char *what)
{
	for (int i = 0; i < 8; i++)
		if (ws_recv(c, 30000) == 1 && strstr(c->msg, what))
			return;
	fprintf(stderr, "poke: ws: no %s\n", what);
	failures++;
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 0;
	struct ws_client c;

	expect(port, "POST", "/race", "{\"id\":\"v1\",\"source\":\"ci\","
	       "\"title\":\"t\",\"eta_sec\":60,\"metadata\":{\"k\":\"v\"}}", 201);
	expect(port, "PATCH", "/race/v1", "{\"progress\":50}", 200);
	expect(port, "POST", "/race/v1/event", "{\"type\":\"log\",\"data\":1}",
	       200);
	expect(port, "GET", "/race/v1", NULL, 200);
	expect(port, "GET", "/races?state=running", NULL, 200);
	expect(port, "PATCH", "/race/v1", "{\"progress\":\"x\"}", 400);
	expect(port, "GET", "/race/none", NULL, 404);
	expect(port, "GET", "/health", NULL, 200);
	expect(port, "GET", "/metrics", NULL, 200);
	expect(port, "GET", "/", NULL, 200);
	raw(port, "GET /races HTTP/1.1\r\nHost: evil.example\r\n\r\n", 421);
	raw(port, "GET /races HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: "
	    "http://evil.example\r\nConnection: close\r\n\r\n", 403);
	if (ws_open(&c, port, "/ws")) {
		fprintf(stderr, "poke: ws: no upgrade\n");
		return 1;
	}
	ws_expect(&c, "\"hello\"");
	ws_send(&c, "{\"type\":\"subscribe\"}");
	ws_expect(&c, "\"snapshot\"");
	ws_send(&c, "{\"type\":\"patch\",\"req\":1,\"id\":\"v1\","
		"\"changes\":{\"progress\":60}}");
	ws_expect(&c, "\"ack\"");
	ws_send(&c, "not json");
	ws_expect(&c, "\"error\"");
	ws_close(&c);
	if (ws_open(&c, port, "/ws") == 0) {
		ws_expect(&c, "\"hello\"");
		ws_send(&c, "{\"type\":\"subscribe\",\"since\":1}");
		ws_close(&c); /* dropped while its replay may be pending */
	}
	expect(port, "DELETE", "/race/v1", NULL, 200);
	return failures ? 1 : 0;
}
