/*
 * test_server_ops.c - what an operator sees of the real server binary:
 * the access log (one line per request, --access-log off), no library
 * noise at --log-level info, HEAD wherever GET works, and a JSON 404 for
 * API paths that do not exist.
 */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/http_client.h"
#include "support/server_proc.h"

static struct server_proc srv;

static void stop(void)
{
	server_cleanup(&srv);
}

TestSuite(ops, .fini = stop, .timeout = 60);

static void start(const char *const *flags)
{
	cr_assert_eq(server_start(&srv, flags), 0, "server did not start");
}

static int call(const char *method, const char *path, const char *body)
{
	struct http_response r;
	int status;

	cr_assert_eq(http_request(srv.port, method, path, body, &r), 0,
		     "%s %s: no response", method, path);
	status = r.status;
	http_response_free(&r);
	return status;
}

/* The server's log after it stopped (caller frees). */
static char *stopped_log(void)
{
	FILE *f;
	char *buf = calloc(1, 1 << 20);
	size_t n;

	cr_assert_eq(server_stop(&srv), 0);
	f = fopen(srv.log_path, "r");
	cr_assert(f);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The access line for a request, or NULL. Checks the fields that do not
 * depend on timing: method, path, status, bytes; then "<n>.<3>ms". */
static const char *access_line(const char *log, const char *what)
{
	const char *p = log;

	while ((p = strstr(p, "notice: access "))) {
		const char *eol = strchr(p, '\n'), *hit = strstr(p, what);

		if (hit && (!eol || hit < eol))
			return p;
		p += 15;
	}
	return NULL;
}

Test(ops, access_log_has_one_line_per_request)
{
	static const char *const flags[] = {"--log-level", "notice", NULL};
	char *log;
	const char *line;

	start(flags);
	cr_assert_eq(call("POST", "/race", "{\"id\":\"a1\",\"source\":\"cmd\","
			  "\"title\":\"t\"}"), 201);
	cr_assert_eq(call("GET", "/race/a1", NULL), 200);
	cr_assert_eq(call("GET", "/race/nope", NULL), 404);
	cr_assert_eq(call("DELETE", "/races", NULL), 405);
	log = stopped_log();
	line = access_line(log, " POST /race 201 ");
	cr_expect(line, "no access line for the POST:\n%s", log);
	cr_expect(access_line(log, " GET /race/a1 200 "), "%s", log);
	cr_expect(access_line(log, " GET /race/nope 404 "), "%s", log);
	cr_expect(access_line(log, " DELETE /races 405 "), "%s", log);
	if (line) {
		/* client, method, path, status, bytes, duration */
		char client[64], method[16], path[64], ms[32];
		int status;
		size_t bytes;

		cr_assert_eq(sscanf(line, "notice: access %63s %15s %63s %d %zu "
				    "%31s", client, method, path, &status,
				    &bytes, ms), 6, "%.120s", line);
		cr_expect(strstr(client, "127.0.0.1"), "%s", client);
		cr_expect_gt(bytes, 20);
		cr_expect(strstr(ms, "ms") && strchr(ms, '.'), "%s", ms);
	}
	free(log);
}

/* The status of a HEAD request (its reply has a Content-Length but no
 * body, which http_read_response() would wait for). */
static int head_status(const char *path)
{
	char req[256], got[1024];
	size_t n = 0;
	int fd = http_connect(srv.port), status = 0;

	cr_assert(fd >= 0);
	snprintf(req, sizeof(req), "HEAD %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		 "Connection: close\r\n\r\n", path);
	cr_assert_eq(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	while (n < sizeof(got) - 1 && !strstr(got, "\r\n\r\n")) {
		ssize_t r = recv(fd, got + n, sizeof(got) - 1 - n, 0);

		if (r <= 0)
			break;
		n += (size_t)r;
		got[n] = '\0';
	}
	close(fd);
	cr_assert_eq(sscanf(got, "HTTP/1.1 %d", &status), 1, "%s", got);
	return status;
}

/* Static files, missing ones and the guard's refusals are requests too. */
Test(ops, access_log_covers_files_and_refusals)
{
	static const char *const flags[] = {"--log-level", "notice", NULL};
	struct http_response r;
	char want[64], *log;
	static const char refused[] = "GET /health HTTP/1.1\r\n"
				      "Host: elsewhere.example\r\n\r\n";
	size_t page;

	start(flags);
	cr_assert_eq(http_request(srv.port, "GET", "/", NULL, &r), 0);
	cr_assert_eq(r.status, 200);
	page = r.body_len;
	http_response_free(&r);
	cr_assert_eq(head_status("/app.js"), 200);
	cr_assert_eq(call("GET", "/no-such-file.html", NULL), 404);
	cr_assert_eq(http_raw(srv.port, refused, sizeof(refused) - 1, &r), 0);
	cr_assert_eq(r.status, 421);
	http_response_free(&r);
	log = stopped_log();
	snprintf(want, sizeof(want), " GET / 200 %zu ", page);
	cr_expect(access_line(log, want), "no '%s' line:\n%s", want, log);
	cr_expect(access_line(log, " HEAD /app.js 200 0 "), "%s", log);
	cr_expect(access_line(log, " GET /no-such-file.html 404 "), "%s", log);
	cr_expect(access_line(log, " GET /health 421 "), "%s", log);
	free(log);
}

/* A path is %-decoded by lws: its spaces, control bytes (a terminal's
 * escapes), backslashes and non-ASCII bytes are written as \xNN, so a
 * request cannot split a line's fields or forge one. The client's
 * address is the one seen at accept, even once the client has gone
 * (getpeername() then fails: its message used to stand in for it). */
Test(ops, access_log_escapes_paths_and_keeps_the_client)
{
	static const char *const flags[] = {"--log-level", "notice", NULL};
	static const char odd[] = "GET /a%20b%1b[31m%5c%c3%a9\x01z HTTP/1.1\r\n"
				  "Host: 127.0.0.1\r\n\r\n";
	static const char gone[] = "GET /health HTTP/1.1\r\n"
				   "Host: elsewhere.example\r\n"
				   "Connection: close\r\n\r\n";
	struct http_response r;
	const char *line;
	char *log;

	start(flags);
	cr_assert_eq(http_raw(srv.port, odd, sizeof(odd) - 1, &r), 0);
	cr_assert_eq(r.status, 404);
	http_response_free(&r);
	cr_assert_eq(http_raw(srv.port, gone, sizeof(gone) - 1, &r), 0);
	cr_assert_eq(r.status, 421);
	http_response_free(&r);
	log = stopped_log();
	cr_expect(access_line(log, "127.0.0.1 GET "
			      "/a\\x20b\\x1b[31m\\x5c\\xc3\\xa9\\x01z 404 "),
		  "%s", log);
	line = access_line(log, " GET /health 421 ");
	cr_expect(line && !strncmp(line, "notice: access 127.0.0.1 GET ", 29),
		  "%s", log);
	free(log);
}

Test(ops, access_log_off_and_no_library_noise_at_info)
{
	static const char *const flags[] = {"--log-level", "info",
					    "--access-log", "off", NULL};
	char *log;

	start(flags);
	cr_assert_eq(call("GET", "/health", NULL), 200);
	cr_assert_eq(call("GET", "/", NULL), 200);
	log = stopped_log();
	cr_expect(!strstr(log, "access "), "%s", log);
	cr_expect(!strstr(log, "lws "), "library lines at info:\n%s", log);
	cr_expect(strstr(log, "notice: listening on"), "%s", log);
	free(log);
}

/* Reads what arrives on fd within ms into buf (cap), NUL-terminated. */
static size_t read_for(int fd, char *buf, size_t cap, int ms)
{
	size_t n = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	while (n < cap - 1 && poll(&p, 1, ms) == 1) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	return n;
}

/* HEAD answers GET's status and headers, Content-Length included, with
 * no body, and the connection stays usable for the next request. */
Test(ops, head_works_wherever_get_does)
{
	static const char *const paths[] = {"/race/h1", "/races", "/health",
					    "/metrics", "/race/none"};
	static const char *const flags[] = {NULL};

	start(flags);
	cr_assert_eq(call("POST", "/race", "{\"id\":\"h1\",\"source\":\"cmd\","
			  "\"title\":\"t\"}"), 201);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct http_response get;
		char req[256], buf[8192], want[64], *cl;
		int fd = http_connect(srv.port);
		size_t n;

		cr_assert_eq(http_request(srv.port, "GET", paths[i], NULL,
					  &get), 0);
		cr_assert_geq(fd, 0);
		n = (size_t)snprintf(req, sizeof(req), "HEAD %s HTTP/1.1\r\n"
				     "Host: 127.0.0.1\r\n\r\n", paths[i]);
		cr_assert_eq(write(fd, req, n), (ssize_t)n);
		read_for(fd, buf, sizeof(buf), 300);
		snprintf(want, sizeof(want), "HTTP/1.1 %d", get.status);
		cr_expect(!strncmp(buf, want, strlen(want)), "HEAD %s: %.40s",
			  paths[i], buf);
		cl = strstr(buf, "content-length: ");
		/* /metrics counts requests, so its length moves between
		 * the GET and the HEAD. */
		cr_expect(cl && (strstr(paths[i], "metrics") ||
				 (size_t)atol(cl + 16) == get.body_len),
			  "HEAD %s: Content-Length differs from GET's %zu",
			  paths[i], get.body_len);
		cr_expect(strstr(buf, "\r\n\r\n") &&
			  strstr(buf, "\r\n\r\n")[4] == '\0',
			  "HEAD %s: a body followed the headers", paths[i]);
		/* The same connection serves the next request. */
		n = (size_t)snprintf(req, sizeof(req), "GET /health HTTP/1.1\r\n"
				     "Host: 127.0.0.1\r\nConnection: close\r\n\r\n");
		cr_assert_eq(write(fd, req, n), (ssize_t)n);
		read_for(fd, buf, sizeof(buf), 2000);
		cr_expect(!strncmp(buf, "HTTP/1.1 200", 12), "after HEAD %s: %.40s",
			  paths[i], buf);
		close(fd);
		http_response_free(&get);
	}
}

Test(ops, unknown_api_paths_answer_json_404)
{
	static const char *const paths[] = {
		"/races/x", "/race/a/b", "/health/x", "/metrics/x", "/hooks",
		"/hooks/jenkins",
	};
	static const char *const flags[] = {NULL};

	start(flags);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct http_response r;
		json_object *o, *e;

		cr_assert_eq(http_request(srv.port, "GET", paths[i], NULL, &r),
			     0);
		cr_expect_eq(r.status, 404, "%s: %d", paths[i], r.status);
		o = json_tokener_parse(r.body);
		cr_expect(o && json_object_object_get_ex(o, "error", &e) &&
			  !strcmp(json_object_get_string(e), "not_found"),
			  "%s: %s", paths[i], r.body);
		json_object_put(o);
		http_response_free(&r);
	}
}
