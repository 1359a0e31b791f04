/*
 * test_abuse.c - the real server binary under bad input and abuse: a
 * catalogue of malformed HTTP requests and WebSocket frames (each gets
 * its documented status or close code, the server stays up and the
 * stored races are unchanged), slowloris, thousands of idle connections,
 * and the per-connection rate and per-address subscription limits, with
 * their counters in /metrics. See docs/HARDENING.md.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "support/http_client.h"
#include "support/server_proc.h"
#include "support/ws_client.h"

static struct server_proc srv;

static void stop(void)
{
	server_cleanup(&srv);
}

TestSuite(abuse, .fini = stop, .timeout = 120);

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void start(const char *const *extra)
{
	cr_assert_eq(server_start(&srv, extra), 0, "server did not start");
}

/* GET path: the body (caller frees) and status. */
static char *get(const char *path, int *status)
{
	struct http_response r;
	char *body;

	cr_assert_eq(http_request(srv.port, "GET", path, NULL, &r), 0,
		     "GET %s: no answer", path);
	*status = r.status;
	body = r.body;
	r.body = NULL;
	return body;
}

/* GET /races without the fields computed at read time (the progress
 * prediction moves with the clock): what is stored. Caller frees. */
static char *stored_races(void)
{
	int st;
	char *body = get("/races", &st), *out;
	json_object *arr = json_tokener_parse(body);

	cr_assert_eq(st, 200, "the server must stay up");
	cr_assert(arr, "GET /races is not JSON: %s", body);
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		json_object_object_del(json_object_array_get_idx(arr, i),
				       "progress_prediction");
	out = strdup(json_object_to_json_string(arr));
	json_object_put(arr);
	free(body);
	return out;
}

/* Two races the catalogue must leave untouched; returns them. */
static char *seed(void)
{
	struct http_response r;
	int st;

	cr_assert_eq(http_request(srv.port, "POST", "/race",
				  "{\"id\":\"keep-1\",\"source\":\"ci\","
				  "\"title\":\"one\",\"progress\":10}", &r), 0);
	http_response_free(&r);
	cr_assert_eq(http_request(srv.port, "POST", "/race",
				  "{\"id\":\"keep-2\",\"source\":\"cmd\","
				  "\"title\":\"two\",\"eta_sec\":60}", &r), 0);
	http_response_free(&r);
	(void)st;
	return stored_races();
}

/* The value of one metric line ("name{labels} value"), or -1. */
static long long metric(const char *line_prefix)
{
	int st;
	char *text = get("/metrics", &st), *p, want[256];
	long long v = -1;

	cr_assert_eq(st, 200);
	snprintf(want, sizeof(want), "\n%s", line_prefix);
	p = strstr(text, want);
	if (p)
		v = atoll(p + strlen(want));
	free(text);
	return v;
}

/* ---- malformed HTTP ---- */

/* Criterion re-executes the binary per case: parameters hold arrays,
 * never pointers. */
struct bad_request {
	char name[40];
	char head[400];      /* request line and headers, without the end */
	char body[64];       /* sent after the headers; "" for none */
	size_t body_len;     /* 0: strlen(body); without a body: that many
	                      * spaces */
	int status;          /* expected; 0 = closed or any 4xx */
	char code[32];       /* expected "error" value, or "" */
	char cl[16];         /* Content-Length to send; "": the body's,
	                      * "none": no such header */
};

#define JSON_POST "POST /race HTTP/1.1\r\nHost: 127.0.0.1\r\n" \
	"Content-Type: application/json"
#define PATCH_KEEP "PATCH /race/keep-1 HTTP/1.1\r\nHost: 127.0.0.1\r\n" \
	"Content-Type: application/json"

static struct bad_request bad_requests[] = {
	{"truncated JSON", JSON_POST, "{\"id\":\"x\",\"source\":\"", 0,
	 400, "invalid_json", ""},
	{"not JSON", JSON_POST, "{id: 1,}", 0, 400, "invalid_json", ""},
	{"trailing garbage", JSON_POST,
	 "{\"id\":\"x\",\"source\":\"a\",\"title\":\"t\"} {\"id\":\"y\"}", 0,
	 400, "invalid_json", ""},
	{"a JSON array", JSON_POST, "[]", 0, 400, "", ""},
	{"an empty body", JSON_POST, "", 0, 400, "", "0"},
	{"wrong type", PATCH_KEEP, "{\"progress\":\"5\"}", 0, 400,
	 "invalid_type", ""},
	{"wrong type: object for a string", PATCH_KEEP,
	 "{\"title\":{\"a\":1}}", 0, 400, "invalid_type", ""},
	{"huge integer", PATCH_KEEP,
	 "{\"eta_sec\":99999999999999999999999999}", 0, 400, "", ""},
	{"huge exponent", PATCH_KEEP, "{\"progress\":1e999}", 0, 400,
	 "", ""},
	{"out of range", PATCH_KEEP, "{\"progress\":101}", 0, 400,
	 "out_of_range", ""},
	{"negative ETA", PATCH_KEEP, "{\"eta_sec\":-1}", 0, 400, "", ""},
	{"NaN", PATCH_KEEP, "{\"eta_confidence\":NaN}  ", 0, 400,
	 "", ""},
	{"escaped NUL in a string", PATCH_KEEP,
	 "{\"title\":\"a\\u0000b\"} ", 0, 400, "", ""},
	{"escaped NUL in a metadata key", PATCH_KEEP,
	 "{\"metadata\":{\"a\\u0000b\":\"v\"}}", 0, 400, "invalid_json",
	 ""},
	{"raw NUL byte", PATCH_KEEP, "{\"title\":\"a\0b\"}", 15, 400,
	 "invalid_json", ""},
	{"invalid UTF-8", PATCH_KEEP, "{\"title\":\"\xff\xfe\"} ", 0,
	 400, "invalid_json", ""},
	{"overlong UTF-8", PATCH_KEEP, "{\"title\":\"\xc0\xaf\"}  ", 0,
	 400, "invalid_json", ""},
	{"too long id", "PATCH /race/"
	 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	 " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json",
	 "{}", 0, 400, "too_long", ""},
	{"bad id characters", "GET /race/a%20b HTTP/1.1\r\nHost: 127.0.0.1",
	 "", 0, 400, "invalid_value", ""},
	{"too many metadata keys", PATCH_KEEP, "", 0, 400, "", ""},
	{"oversized body", JSON_POST, "", 70000, 413,
	 "body_too_large", ""},
	{"huge Content-Length", JSON_POST, "{}", 0, 413,
	 "body_too_large", "104857600"},
	{"missing Content-Length", "POST /race HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	 "Content-Type: application/json", "{}", 0, 411, "length_required",
	 "none"},
	{"chunked body", "POST /race HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	 "Content-Type: application/json\r\nTransfer-Encoding: chunked",
	 "2\r\n{}\r\n0\r\n\r\n", 0, 411, "length_required", "none"},
	{"Content-Length not a number", JSON_POST, "{}", 0, 0, "", "12abc"},
	{"negative Content-Length", JSON_POST, "{}", 0, 400, "", "-5"},
	{"two Content-Lengths (smuggling)", JSON_POST "\r\nContent-Length: 2",
	 "{}", 0, 400, "invalid_header", "2"},
	{"form body", "POST /race HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	 "Content-Type: application/x-www-form-urlencoded", "a=b", 0, 415, "unsupported_media_type", ""},
	{"PUT", "PUT /race/keep-1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	 "Content-Type: application/json", "{}", 0, 405,
	 "method_not_allowed", ""},
	{"DELETE on the list", "DELETE /races HTTP/1.1\r\nHost: 127.0.0.1",
	 "", 0, 405, "method_not_allowed", ""},
	{"unknown method", "BREW /races HTTP/1.1\r\nHost: 127.0.0.1", "", 0,
	 0, "", ""},
	{"unknown path", "GET /race/keep-1/nope HTTP/1.1\r\nHost: 127.0.0.1",
	 "", 0, 404, "not_found", ""},
	{"relative URI", "GET races HTTP/1.1\r\nHost: 127.0.0.1", "", 0, 0,
	 "", ""},
	{"HTTP/0.9", "GET /races", "", 0, 0, "", ""},
	{"binary garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "",
	 0, 0, "", ""},
	{"very long URL", "", "", 0, 0, "", ""},
	{"very long header", "", "", 0, 0, "", ""},
	{"thousands of headers", "", "", 0, 0, "", ""},
};

ParameterizedTestParameters(abuse, malformed_http_request)
{
	return cr_make_param_array(struct bad_request, bad_requests,
				   sizeof(bad_requests) /
				   sizeof(bad_requests[0]));
}

/* Builds the raw bytes of a case; the generated ones are made here. */
static char *build(const struct bad_request *c, size_t *n)
{
	size_t cap = 300000, len = 0;
	char *buf = malloc(cap);

	cr_assert(buf);
	if (!strcmp(c->name, "very long URL")) {
		len = (size_t)sprintf(buf, "GET /races?state=");
		memset(buf + len, 'a', 20000);
		len += 20000;
		len += (size_t)sprintf(buf + len, " HTTP/1.1\r\nHost: 127.0.0.1"
				       "\r\n\r\n");
	} else if (!strcmp(c->name, "very long header")) {
		len = (size_t)sprintf(buf, "GET /races HTTP/1.1\r\nHost: "
				      "127.0.0.1\r\nX-Big: ");
		memset(buf + len, 'b', 64000);
		len += 64000;
		len += (size_t)sprintf(buf + len, "\r\n\r\n");
	} else if (!strcmp(c->name, "thousands of headers")) {
		len = (size_t)sprintf(buf, "GET /races HTTP/1.1\r\nHost: "
				      "127.0.0.1\r\n");
		for (int i = 0; i < 5000; i++)
			len += (size_t)sprintf(buf + len, "X-H%d: v\r\n", i);
		len += (size_t)sprintf(buf + len, "\r\n");
	} else if (!strcmp(c->name, "too many metadata keys")) {
		char body[4096];
		size_t b = (size_t)sprintf(body, "{\"metadata\":{");

		for (int i = 0; i < 70; i++)
			b += (size_t)sprintf(body + b, "%s\"k%d\":\"v\"",
					     i ? "," : "", i);
		b += (size_t)sprintf(body + b, "}}");
		len = (size_t)sprintf(buf, "PATCH /race/keep-1 HTTP/1.1\r\n"
				      "Host: 127.0.0.1\r\nContent-Type: "
				      "application/json\r\nContent-Length: "
				      "%zu\r\n\r\n%s", b, body);
	} else {
		size_t bl = c->body_len ? c->body_len : strlen(c->body);
		int has_body = c->body[0] || c->body_len;

		int raw = c->head[0] == '\x16' || !strcmp(c->name, "HTTP/0.9");

		if (raw)
			len = (size_t)sprintf(buf, "%s\r\n", c->head);
		else if (!strcmp(c->cl, "none"))
			len = (size_t)sprintf(buf, "%s\r\n\r\n", c->head);
		else if (c->cl[0])
			len = (size_t)sprintf(buf, "%s\r\nContent-Length: %s"
					      "\r\n\r\n", c->head, c->cl);
		else if (has_body)
			len = (size_t)sprintf(buf, "%s\r\nContent-Length: %zu"
					      "\r\n\r\n", c->head, bl);
		else
			len = (size_t)sprintf(buf, "%s\r\n\r\n", c->head);
		if (!c->body[0] && c->body_len)
			memset(buf + len, ' ', bl);
		else
			memcpy(buf + len, c->body, bl);
		len += bl;
	}
	*n = len;
	return buf;
}

ParameterizedTest(struct bad_request *c, abuse, malformed_http_request)
{
	struct http_response r = {0};
	char *before, *after, want[64];
	size_t n;
	char *raw;

	start((const char *[]){"--http-timeout", "3", NULL});
	before = seed();
	raw = build(c, &n);
	http_raw(srv.port, raw, n, &r);
	free(raw);
	if (c->status)
		cr_expect_eq(r.status, c->status, "%s: status %d, body %s",
			     c->name, r.status, r.body ? r.body : "");
	else
		cr_expect(r.status == 0 || (r.status >= 400 && r.status < 500),
			  "%s: status %d", c->name, r.status);
	if (c->code[0]) {
		snprintf(want, sizeof(want), "\"error\":\"%s\"", c->code);
		cr_expect(r.body && strstr(r.body, want), "%s: body %s",
			  c->name, r.body ? r.body : "(none)");
	}
	http_response_free(&r);
	after = stored_races();
	cr_assert_str_eq(after, before, "%s changed the stored races",
			 c->name);
	free(before);
	free(after);
}

Test(abuse, duplicate_keys_take_the_last_value)
{
	struct http_response r;

	start(NULL);
	cr_assert_eq(http_request(srv.port, "POST", "/race",
				  "{\"id\":\"d\",\"source\":\"a\",\"title\":"
				  "\"first\",\"title\":\"last\"}", &r), 0);
	cr_assert_eq(r.status, 201);
	cr_assert(strstr(r.body, "\"title\":\"last\""), "%s", r.body);
	http_response_free(&r);
}

/* ---- malformed WebSocket frames ---- */

struct bad_frame {
	char name[40];
	unsigned char bytes[64];
	size_t len;         /* 0: generated in the test */
	int close_code;     /* expected close code; 0: closed, any code;
	                     * -1: answered, need not close */
};

static struct bad_frame bad_frames[] = {
	{"reserved opcode 3", {0x83, 0x80, 1, 2, 3, 4}, 6, 1002},
	{"reserved control opcode 0xB", {0x8b, 0x80, 1, 2, 3, 4}, 6, 1002},
	/* lws 4.1.6 does not enforce client masking (RFC 6455 5.1); the
	 * frame is read as a message and answered. docs/HARDENING.md. */
	{"unmasked client frame", {0x81, 0x02, '{', '}'}, 4, -1},
	{"RSV1 without an extension", {0xc1, 0x82, 0, 0, 0, 0, '{', '}'}, 8,
	 1002},
	{"invalid UTF-8 text", {0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe}, 8, 1007},
	{"continuation without a start", {0x80, 0x82, 0, 0, 0, 0, '{', '}'},
	 8, 1002},
	{"new text inside a fragmented one",
	 {0x01, 0x81, 0, 0, 0, 0, '{', 0x81, 0x81, 0, 0, 0, 0, '}'}, 14, 1002},
	{"fragmented ping", {0x09, 0x80, 0, 0, 0, 0}, 6, 1002},
	{"ping over 125 bytes", {0x89, 0xfe, 0x00, 0xc8, 0, 0, 0, 0}, 0, 1002},
	{"oversized message", {0}, 0, 1009},
	{"oversized in small fragments", {0}, 0, 1009},
	{"a 2^63 length", {0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff,
			   0xff, 0xff, 0, 0, 0, 0}, 14, 1009},
};

ParameterizedTestParameters(abuse, malformed_ws_frame)
{
	return cr_make_param_array(struct bad_frame, bad_frames,
				   sizeof(bad_frames) / sizeof(bad_frames[0]));
}

/* Sends one masked (all-zero mask) frame of `len` payload bytes. */
static void send_frame(struct ws_client *c, int first, size_t len, char fill)
{
	unsigned char h[14];
	size_t hl = 2;
	char *p = malloc(len);

	h[0] = (unsigned char)first;
	if (len < 126) {
		h[1] = (unsigned char)(0x80 | len);
	} else if (len < 65536) {
		h[1] = 0x80 | 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		hl = 4;
	} else {
		h[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((unsigned long long)len >>
						   (56 - 8 * i));
		hl = 10;
	}
	memset(h + hl, 0, 4);
	hl += 4;
	memset(p, fill, len);
	ws_send_raw(c, h, hl);
	ws_send_raw(c, p, len);
	free(p);
}

ParameterizedTest(struct bad_frame *f, abuse, malformed_ws_frame)
{
	struct ws_client c;
	char *before, *after;
	int rc = 1;

	start(NULL);
	before = seed();
	cr_assert_eq(ws_open(&c, srv.port, "/ws"), 0);
	cr_assert_eq(ws_recv(&c, 5000), 1, "hello");
	if (!strcmp(f->name, "oversized message")) {
		send_frame(&c, 0x81, 70000, ' ');
	} else if (!strcmp(f->name, "oversized in small fragments")) {
		send_frame(&c, 0x01, 1000, ' ');
		for (int i = 0; i < 80; i++)
			send_frame(&c, 0x00, 1000, ' ');
	} else if (!strcmp(f->name, "a 2^63 length")) {
		char *junk = calloc(1, 70000);

		ws_send_raw(&c, f->bytes, f->len);
		ws_send_raw(&c, junk, 70000);
		free(junk);
	} else if (!strcmp(f->name, "ping over 125 bytes")) {
		ws_send_raw(&c, f->bytes, 8);
		send_frame(&c, 0x89, 200, 'p');
	} else {
		ws_send_raw(&c, f->bytes, f->len);
	}
	for (int i = 0; i < 20 && rc == 1 && f->close_code >= 0; i++)
		rc = ws_recv(&c, 5000);
	if (f->close_code < 0)
		cr_expect(ws_recv(&c, 5000) != 0, "%s: no answer", f->name);
	else
		cr_expect_eq(rc, -1, "%s: the connection must close",
			     f->name);
	if (f->close_code > 0)
		cr_expect(c.close_code == f->close_code || c.close_code == 0,
			  "%s: close code %d, want %d", f->name, c.close_code,
			  f->close_code);
	ws_close(&c);
	after = stored_races();
	cr_assert_str_eq(after, before, "%s changed the stored races",
			 f->name);
	free(before);
	free(after);
}

/* ---- slowloris and idle connections ---- */

/* Connects from `src` (e.g. "127.0.0.2") to the server. */
static int connect_from(const char *src)
{
	struct sockaddr_in a = {.sin_family = AF_INET}, b = {
		.sin_family = AF_INET,
		.sin_port = htons((unsigned short)srv.port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	inet_pton(AF_INET, src, &a.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &b.sin_addr);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    (connect(fd, (struct sockaddr *)&b, sizeof(b)) &&
	     errno != EINPROGRESS)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* 1 when the peer has closed fd (EOF or reset) within timeout_ms. */
static int closed_within(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char b[512];
	int64_t end = now_ms() + timeout_ms;
	ssize_t r;

	do {
		int64_t left = end - now_ms();

		if (poll(&p, 1, left > 0 ? (int)left : 0) <= 0)
			return 0;
		r = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN))
			return 1;
		/* A refused connection gets a 503 first: read through it. */
	} while (r > 0 || now_ms() < end);
	return 0;
}

/* A normal client: a GET answered 200 within a second. */
static void expect_served(const char *when)
{
	int64_t t0 = now_ms();
	int st;
	char *b = get("/races", &st);

	free(b);
	cr_assert_eq(st, 200, "%s: a normal client was not served", when);
	cr_expect_lt(now_ms() - t0, 1000, "%s: a normal GET took %lld ms",
		     when, (long long)(now_ms() - t0));
}

Test(abuse, slowloris_headers_are_cut_at_the_deadline)
{
	int fd, closed = 0;
	int64_t t0;
	const char *head = "GET /races HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";

	start((const char *[]){"--http-timeout", "2", NULL});
	fd = connect_from("127.0.0.2");
	cr_assert(fd >= 0);
	sleep_ms(50);
	t0 = now_ms();
	send(fd, head, strlen(head), MSG_NOSIGNAL);
	for (int i = 0; i < 60 && !closed; i++) {
		if (send(fd, "a", 1, MSG_NOSIGNAL) < 0 ||
		    closed_within(fd, 100))
			closed = 1;
		if (i % 10 == 0)
			expect_served("during a header trickle");
	}
	cr_assert(closed, "a header trickle was never cut");
	cr_expect_lt(now_ms() - t0, 4000, "cut after %lld ms",
		     (long long)(now_ms() - t0));
	close(fd);
	/* Counted once: the served GETs on their own connections are not. */
	cr_assert_eq(metric("raceboard_rejections_total{reason="
			    "\"slow_request\"} "), 1);
}

/* A connection that sends nothing is closed at the deadline like a
 * header trickle, and counted the same; one that was served and then
 * idles until the keep-alive timeout closes it is not. */
Test(abuse, silent_connections_are_counted_as_slow_requests)
{
	static const char req[] = "GET /races HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	int silent[3], kept;

	start((const char *[]){"--http-timeout", "1", NULL});
	for (int i = 0; i < 3; i++) {
		silent[i] = connect_from("127.0.0.2");
		cr_assert(silent[i] >= 0);
	}
	kept = connect_from("127.0.0.3");
	cr_assert(kept >= 0);
	sleep_ms(50);
	cr_assert_eq(send(kept, req, sizeof(req) - 1, MSG_NOSIGNAL),
		     (ssize_t)sizeof(req) - 1);
	for (int i = 0; i < 3; i++)
		cr_assert(closed_within(silent[i], 4000),
			  "a silent connection was never closed");
	cr_assert(closed_within(kept, 4000),
		  "an idle kept-alive connection was never closed");
	for (int i = 0; i < 3; i++)
		close(silent[i]);
	close(kept);
	cr_assert_eq(metric("raceboard_rejections_total{reason="
			    "\"slow_request\"} "), 3);
}

Test(abuse, slowloris_bodies_are_cut_at_the_deadline)
{
	int fd, closed = 0;
	int64_t t0;
	char *before;
	const char *head = "POST /race HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			   "Content-Type: application/json\r\n"
			   "Content-Length: 200\r\n\r\n{\"id\":\"slow\",";

	start((const char *[]){"--http-timeout", "2", NULL});
	before = stored_races();
	fd = connect_from("127.0.0.2");
	cr_assert(fd >= 0);
	sleep_ms(50);
	t0 = now_ms();
	send(fd, head, strlen(head), MSG_NOSIGNAL);
	for (int i = 0; i < 60 && !closed; i++) {
		if (send(fd, " ", 1, MSG_NOSIGNAL) < 0 ||
		    closed_within(fd, 150))
			closed = 1;
		if (i % 10 == 0)
			expect_served("during a body trickle");
	}
	cr_assert(closed, "a body trickle was never cut");
	cr_expect_lt(now_ms() - t0, 4500, "cut after %lld ms",
		     (long long)(now_ms() - t0));
	close(fd);
	cr_assert_geq(metric("raceboard_rejections_total{reason="
			     "\"slow_request\"} "), 1);
	{
		char *after = stored_races();

		cr_assert_str_eq(after, before, "the slow write was applied");
		free(after);
	}
	free(before);
}

static void raise_nofile(void)
{
	struct rlimit rl;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

Test(abuse, thousands_of_idle_connections_are_capped_and_timed_out)
{
	enum { N = 2000 };
	static int fds[N];
	int open_ok = 0, closed = 0;

	raise_nofile();
	start((const char *[]){"--http-timeout", "2", "--max-conns-per-ip",
			       "100", NULL});
	for (int i = 0; i < N; i++)
		if ((fds[i] = connect_from("127.0.0.2")) >= 0)
			open_ok++;
	cr_assert_geq(open_ok, N - 10, "could only open %d sockets", open_ok);
	expect_served("with 2000 idle connections from one address");
	/* Everything beyond the per-address cap is closed at once, the
	 * rest at the deadline. */
	for (int round = 0; round < 40 && closed < open_ok; round++) {
		closed = 0;
		for (int i = 0; i < N; i++)
			if (fds[i] >= 0 && closed_within(fds[i], 0))
				closed++;
		if (round % 5 == 0)
			expect_served("while idle connections are cut");
		sleep_ms(100);
		for (int i = 0; i < N; i++)
			if (fds[i] >= 0 && closed_within(fds[i], 0)) {
				close(fds[i]);
				fds[i] = -1;
			}
		closed = 0;
		for (int i = 0; i < N; i++)
			closed += fds[i] < 0;
	}
	cr_assert_eq(closed, N, "%d of %d idle connections still open", N -
		     closed, N);
	cr_assert_geq(metric("raceboard_rejections_total{reason="
			     "\"max_conns_per_ip\"} "), N - 100 - 10);
	expect_served("after the flood");
}

Test(abuse, the_global_connection_cap_holds)
{
	enum { N = 300 };
	static int fds[N];
	int refused = 0;

	raise_nofile();
	start((const char *[]){"--http-timeout", "2", "--max-connections",
			       "50", NULL});
	for (int i = 0; i < N; i++)
		fds[i] = connect_from("127.0.0.2");
	sleep_ms(300);
	for (int i = 0; i < N; i++)
		if (fds[i] >= 0 && closed_within(fds[i], 0))
			refused++;
	cr_assert_geq(refused, N - 50, "only %d connections refused", refused);
	for (int i = 0; i < N; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	sleep_ms(200);
	expect_served("once the flood is gone");
	cr_assert_geq(metric("raceboard_rejections_total{reason="
			     "\"max_connections\"} "), N - 50);
}

/* Issue 12, item 9: a connection over --max-connections gets a 503 with
 * a JSON body before it is closed, not a silent reset. */
Test(abuse, a_connection_over_the_cap_gets_503_json)
{
	struct http_response r;
	char buf[64];
	int held[2];

	start((const char *[]){"--max-connections", "2", NULL});
	for (int i = 0; i < 2; i++) {
		/* Answered, so the server has taken them, and kept alive. */
		held[i] = http_connect(srv.port);
		cr_assert_geq(held[i], 0);
		cr_assert_eq(send(held[i], "GET /health HTTP/1.1\r\nHost: "
				  "127.0.0.1\r\n\r\n", 41, 0), 41);
		cr_assert_eq(http_read_response(held[i], &r), 0);
		http_response_free(&r);
	}
	cr_assert_eq(http_raw(srv.port, "GET /health HTTP/1.1\r\nHost: "
			      "127.0.0.1\r\n\r\n", 41, &r), 0,
		     "no HTTP answer at the cap");
	cr_expect_eq(r.status, 503);
	cr_expect(strstr(r.headers, "503 Service Unavailable"), "%s",
		  r.headers);
	cr_expect(http_header(&r, "content-type", buf, sizeof(buf)) == 0 &&
		  !strcmp(buf, "application/json"));
	cr_expect(strstr(r.body, "\"error\":\"too_many_connections\""), "%s",
		  r.body);
	http_response_free(&r);
	for (int i = 0; i < 2; i++)
		close(held[i]);
}

/* ---- rate and subscription limits ---- */

Test(abuse, request_rate_is_limited_per_connection)
{
	char req[] = "GET /races HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	struct http_response r;
	int fd, ok = 0, limited = 0;

	start((const char *[]){"--rate-limit", "20", NULL});
	fd = http_connect(srv.port);
	cr_assert(fd >= 0);
	for (int i = 0; i < 40; i++) {
		if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0 ||
		    http_read_response(fd, &r))
			break;
		ok += r.status == 200;
		limited += r.status == 429;
		if (r.status == 429)
			cr_assert(strstr(r.body, "rate_limited"));
		http_response_free(&r);
	}
	close(fd);
	cr_assert_leq(ok, 20);
	cr_assert_eq(limited, 1, "the 21st request is refused, then closed");
	expect_served("on a fresh connection");
	cr_assert_geq(metric("raceboard_rejections_total{reason="
			     "\"rate_limit\"} "), 1);
}

Test(abuse, websocket_message_rate_is_limited)
{
	struct ws_client c;
	int rate_errors = 0;

	start((const char *[]){"--rate-limit", "5", NULL});
	cr_assert_eq(ws_open(&c, srv.port, "/ws"), 0);
	cr_assert_eq(ws_recv(&c, 5000), 1);
	for (int i = 0; i < 8; i++)
		ws_send(&c, "{\"type\":\"subscribe\",\"filter\":{\"ids\":[\"x\"]}}");
	for (int i = 0; i < 40 && ws_recv(&c, 1000) == 1; i++)
		rate_errors += strstr(c.msg, "\"rate_limited\"") != NULL;
	/* 5 per second pass; 3 are refused unless the burst straddles a
	 * second boundary. */
	cr_assert(rate_errors >= 1 && rate_errors <= 3, "%d refused",
		  rate_errors);
	ws_close(&c);
	cr_assert_geq(metric("raceboard_rejections_total{reason="
			     "\"rate_limit\"} "), 3);
}

Test(abuse, subscriptions_are_capped_per_address)
{
	struct ws_client c[3];

	start((const char *[]){"--max-subs-per-ip", "2", NULL});
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(ws_open(&c[i], srv.port, "/ws"), 0);
		cr_assert_eq(ws_recv(&c[i], 5000), 1);
		ws_send(&c[i], "{\"type\":\"subscribe\"}");
		cr_assert_eq(ws_recv(&c[i], 5000), 1);
	}
	cr_assert(strstr(c[0].msg, "\"snapshot\""));
	cr_assert(strstr(c[1].msg, "\"snapshot\""));
	cr_assert(strstr(c[2].msg, "too_many_subscriptions"), "%s", c[2].msg);
	/* Re-subscribing on a connection that holds a slot is fine. */
	ws_send(&c[0], "{\"type\":\"subscribe\",\"filter\":{\"ids\":[\"a\"]}}");
	cr_assert_eq(ws_recv(&c[0], 5000), 1);
	cr_assert(strstr(c[0].msg, "\"snapshot\""), "%s", c[0].msg);
	ws_close(&c[1]);
	sleep_ms(200);
	ws_send(&c[2], "{\"type\":\"subscribe\"}");
	cr_assert_eq(ws_recv(&c[2], 5000), 1);
	cr_assert(strstr(c[2].msg, "\"snapshot\""), "%s", c[2].msg);
	cr_assert_geq(metric("raceboard_rejections_total{reason="
			     "\"max_subs_per_ip\"} "), 1);
	cr_assert_eq(metric("raceboard_ws_subscribers "), 2);
	ws_close(&c[0]);
	ws_close(&c[2]);
}

Test(abuse, metrics_count_requests_commits_and_websockets)
{
	struct http_response r;
	struct ws_client c;

	start(NULL);
	free(seed());
	cr_assert_eq(http_request(srv.port, "GET", "/race/nope", NULL, &r), 0);
	http_response_free(&r);
	cr_assert_eq(ws_open(&c, srv.port, "/ws"), 0);
	cr_assert_eq(ws_recv(&c, 5000), 1);
	ws_send(&c, "{\"type\":\"subscribe\"}");
	cr_assert_eq(ws_recv(&c, 5000), 1);
	cr_assert_eq(metric("raceboard_http_requests_total{route=\"/race\","
			    "status=\"201\"} "), 2);
	cr_assert_eq(metric("raceboard_http_requests_total{route="
			    "\"/race/{id}\",status=\"404\"} "), 1);
	cr_assert_geq(metric("raceboard_commit_duration_seconds_count "), 1);
	cr_assert_eq(metric("raceboard_commit_duration_seconds_bucket"
			    "{le=\"+Inf\"} "),
		     metric("raceboard_commit_duration_seconds_count "));
	cr_assert_eq(metric("raceboard_ws_connections "), 1);
	cr_assert_eq(metric("raceboard_ws_subscribers "), 1);
	cr_assert_eq(metric("raceboard_deltas_published_total "), 2);
	cr_assert_eq(metric("raceboard_races "), 2);
	cr_assert_gt(metric("raceboard_store_map_used_bytes "), 0);
	ws_close(&c);
}
