/*
 * test_security.c - the access rules of the real server binary: Host
 * (DNS rebinding), Origin (CORS, WebSocket hijacking), the bearer token,
 * the start-up refusal of an open bind, file modes, path traversal and
 * the security headers of the page. See docs/HARDENING.md.
 */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/http_client.h"
#include "support/server_proc.h"
#include "support/ws_client.h"

static struct server_proc srv;

static void stop(void)
{
	server_cleanup(&srv);
}

TestSuite(security, .fini = stop, .timeout = 90);

static void start(const char *const *extra)
{
	cr_assert_eq(server_start(&srv, extra), 0, "server did not start");
}

/* Sends `method path` with the given extra header lines (each ending in
 * \r\n; a Host line replaces the default) and an optional body. */
static void req(const char *method, const char *path, const char *headers,
		const char *body, struct http_response *r)
{
	char buf[8192];
	int n;

	n = snprintf(buf, sizeof(buf), "%s %s HTTP/1.1\r\n%s%s"
		     "Connection: close\r\n", method, path,
		     headers && strstr(headers, "Host:") ? "" :
		     "Host: 127.0.0.1\r\n", headers ? headers : "");
	if (body)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n,
			      "Content-Type: application/json\r\n"
			      "Content-Length: %zu\r\n\r\n%s", strlen(body),
			      body);
	else
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "\r\n");
	cr_assert_eq(http_raw(srv.port, buf, (size_t)n, r), 0,
		     "%s %s: no response", method, path);
}

static int status_of(const char *method, const char *path,
		     const char *headers, const char *body)
{
	struct http_response r;
	int st;

	req(method, path, headers, body, &r);
	st = r.status;
	http_response_free(&r);
	return st;
}

static const char race[] = "{\"id\":\"r1\",\"source\":\"ci\",\"title\":\"t\"}";

/* ---- DNS rebinding ---- */

Test(security, foreign_host_gets_421_for_rest_files_and_ws)
{
	struct http_response r;
	struct ws_client c;
	char h[128];

	start(NULL);
	req("GET", "/races", "Host: evil.example:7777\r\n", NULL, &r);
	cr_assert_eq(r.status, 421);
	cr_assert(strstr(r.body, "\"misdirected_request\""), "%s", r.body);
	http_response_free(&r);
	cr_assert_eq(status_of("GET", "/", "Host: evil.example\r\n", NULL), 421);
	cr_assert_eq(status_of("GET", "/app.js", "Host: evil.example\r\n",
			       NULL), 421);
	cr_assert_eq(status_of("POST", "/race", "Host: evil.example\r\n",
			       race), 421);
	cr_assert_eq(status_of("GET", "/races", "Host: localhost:1\r\n", NULL),
		     200);
	cr_assert_eq(status_of("GET", "/races", "Host: [::1]:7777\r\n", NULL),
		     200);
	cr_assert_eq(status_of("GET", "/races", "Host: 127.0.0.9\r\n", NULL),
		     200);
	snprintf(h, sizeof(h), "Origin: http://127.0.0.1:%d\r\n", srv.port);
	cr_assert_eq(ws_open_headers(&c, srv.port, "/ws", h), 0,
		     "the own page must connect");
	ws_close(&c);
}

Test(security, allow_host_adds_a_name)
{
	start((const char *[]){"--allow-host", "dash.lan", NULL});
	cr_assert_eq(status_of("GET", "/races", "Host: dash.lan:7777\r\n", NULL),
		     200);
	cr_assert_eq(status_of("GET", "/races", "Host: other.lan\r\n", NULL),
		     421);
}

/* ---- Origin: WebSocket hijacking and CORS ---- */

/* Raw upgrade with our own Host and Origin; returns the HTTP status. */
static int upgrade_status(const char *host, const char *origin)
{
	char buf[1024];
	struct http_response r;
	int n = snprintf(buf, sizeof(buf),
			 "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\n"
			 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\n"
			 "Sec-WebSocket-Protocol: raceboard.v1\r\n%s%s%s\r\n",
			 host, origin ? "Origin: " : "", origin ? origin : "",
			 origin ? "\r\n" : "");
	int fd = http_connect(srv.port), st;

	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, buf, (size_t)n), n);
	st = http_read_response(fd, &r) && r.status != 101 ? -1 : r.status;
	http_response_free(&r);
	close(fd);
	return st;
}

Test(security, websocket_origin_is_checked_at_upgrade)
{
	char host[64], own[96];

	start((const char *[]){"--allow-origin", "https://dash.example.com",
			       NULL});
	snprintf(host, sizeof(host), "localhost:%d", srv.port);
	snprintf(own, sizeof(own), "http://localhost:%d", srv.port);
	cr_assert_eq(upgrade_status(host, NULL), 101, "no Origin: a tool");
	cr_assert_eq(upgrade_status(host, own), 101, "own page");
	cr_assert_eq(upgrade_status(host, "https://dash.example.com"), 101);
	cr_assert_eq(upgrade_status(host, "http://evil.example"), 403);
	cr_assert_eq(upgrade_status(host, "null"), 403);
	cr_assert_eq(upgrade_status(host, "http://localhost:1"), 403,
		     "another port is another origin");
	cr_assert_eq(upgrade_status("evil.example", NULL), 421);
	cr_assert_eq(upgrade_status("evil.example", "http://evil.example"),
		     421, "a rebound name is refused before its origin");
}

/* Behind a reverse proxy on this machine (docs/deploy/nginx.conf) the
 * page's origin is the proxy's https:// one, vouched for by
 * X-Forwarded-Proto and X-Forwarded-Host; the test's peer is loopback,
 * as the proxy's is. */
#define FWD "\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: board.example:8443"

Test(security, a_loopback_proxy_vouches_for_the_page_origin)
{
	char host[64];

	start(NULL);
	snprintf(host, sizeof(host), "localhost:%d", srv.port);
	cr_assert_eq(upgrade_status(host, "https://board.example:8443" FWD), 101);
	cr_assert_eq(upgrade_status(host, "https://board.example:8443"), 403,
		     "no forwarded headers: another origin");
	cr_assert_eq(upgrade_status(host, "https://evil.example" FWD), 403);
	cr_assert_eq(upgrade_status(host, "http://board.example:8443" FWD), 403,
		     "the scheme must match X-Forwarded-Proto");
	cr_assert_eq(status_of("POST", "/race", "Origin: https://board.example:8443"
			       FWD "\r\n", race), 201);
	cr_assert_eq(status_of("POST", "/race", "Origin: https://evil.example"
			       FWD "\r\n", race), 403);
}

/* With --trusted-proxy, only that address vouches: the same forwarded
 * headers from loopback are now a browser's claim like any other. */
Test(security, only_the_configured_proxy_vouches_for_the_page_origin)
{
	char host[64];

	start((const char *[]){"--trusted-proxy", "192.0.2.7", NULL});
	snprintf(host, sizeof(host), "localhost:%d", srv.port);
	cr_assert_eq(upgrade_status(host, "https://board.example:8443" FWD), 403);
	cr_assert_eq(status_of("POST", "/race", "Origin: https://board.example:8443"
			       FWD "\r\n", race), 403);
	cr_assert_eq(server_stop(&srv), 0);
	cr_assert_eq(server_restart(&srv, (const char *[]){
		"--trusted-proxy", "192.0.2.7", "--trusted-proxy", "127.0.0.1",
		NULL}), 0);
	snprintf(host, sizeof(host), "localhost:%d", srv.port);
	cr_assert_eq(upgrade_status(host, "https://board.example:8443" FWD), 101,
		     "a list naming the loopback proxy");
}

Test(security, cors_only_for_allowed_origins_and_preflight)
{
	struct http_response r;
	char v[256];

	start((const char *[]){"--allow-origin", "https://dash.example.com",
			       NULL});
	/* An allowed origin gets ACAO naming it, never "*". */
	req("GET", "/races", "Origin: https://dash.example.com\r\n", NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(http_header(&r, "access-control-allow-origin", v,
				 sizeof(v)), 0);
	cr_assert_str_eq(v, "https://dash.example.com");
	cr_assert_eq(http_header(&r, "vary", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "Origin");
	http_response_free(&r);
	/* Without Origin: no CORS header at all. */
	req("GET", "/races", NULL, NULL, &r);
	cr_assert_neq(http_header(&r, "access-control-allow-origin", v,
				  sizeof(v)), 0);
	http_response_free(&r);
	/* A foreign origin is refused, reads and writes alike. */
	req("GET", "/races", "Origin: http://evil.example\r\n", NULL, &r);
	cr_assert_eq(r.status, 403);
	cr_assert(strstr(r.body, "origin_not_allowed"));
	cr_assert_neq(http_header(&r, "access-control-allow-origin", v,
				  sizeof(v)), 0);
	http_response_free(&r);
	cr_assert_eq(status_of("POST", "/race",
			       "Origin: http://evil.example\r\n", race), 403);
	cr_assert_eq(status_of("GET", "/race/r1", NULL, NULL), 404,
		     "the refused write changed nothing");
	/* Preflight. */
	req("OPTIONS", "/race/r1", "Origin: https://dash.example.com\r\n"
	    "Access-Control-Request-Method: PATCH\r\n"
	    "Access-Control-Request-Headers: content-type, authorization\r\n",
	    NULL, &r);
	cr_assert_eq(r.status, 204);
	cr_assert_eq(http_header(&r, "access-control-allow-origin", v,
				 sizeof(v)), 0);
	cr_assert_str_eq(v, "https://dash.example.com");
	cr_assert_eq(http_header(&r, "access-control-allow-methods", v,
				 sizeof(v)), 0);
	cr_assert(strstr(v, "PATCH") && strstr(v, "DELETE"));
	cr_assert_eq(http_header(&r, "access-control-allow-headers", v,
				 sizeof(v)), 0);
	cr_assert(strstr(v, "Authorization") && strstr(v, "Content-Type"));
	cr_assert_eq(http_header(&r, "access-control-max-age", v, sizeof(v)),
		     0);
	http_response_free(&r);
	req("OPTIONS", "/race/r1", "Origin: http://evil.example\r\n"
	    "Access-Control-Request-Method: DELETE\r\n", NULL, &r);
	cr_assert_eq(r.status, 403);
	cr_assert(strstr(r.body, "origin_not_allowed"), "%s", r.body);
	http_response_free(&r);
	/* The page's own origin needs no CORS but is not refused. */
	snprintf(v, sizeof(v), "Origin: http://127.0.0.1:%d\r\n"
		 "Host: 127.0.0.1:%d\r\n", srv.port, srv.port);
	cr_assert_eq(status_of("POST", "/race", v, race), 201);
}

/* ---- the token ---- */

Test(security, token_guards_rest_writes_only)
{
	const char *tok = "Authorization: Bearer correct-horse-battery\r\n";
	struct http_response r;
	char v[128];

	start((const char *[]){"--token", "correct-horse-battery", NULL});
	req("POST", "/race", NULL, race, &r);
	cr_assert_eq(r.status, 401);
	cr_assert(strstr(r.body, "\"unauthorized\""));
	cr_assert_eq(http_header(&r, "www-authenticate", v, sizeof(v)), 0);
	http_response_free(&r);
	cr_assert_eq(status_of("POST", "/race",
			       "Authorization: Bearer wrong-horse-battery\r\n",
			       race), 401);
	cr_assert_eq(status_of("POST", "/race",
			       "Authorization: correct-horse-battery\r\n",
			       race), 401);
	cr_assert_eq(status_of("GET", "/race/r1", NULL, NULL), 404,
		     "refused writes changed nothing");
	cr_assert_eq(status_of("POST", "/race", tok, race), 201);
	cr_assert_eq(status_of("PATCH", "/race/r1", NULL, "{\"progress\":5}"),
		     401);
	cr_assert_eq(status_of("PATCH", "/race/r1", tok, "{\"progress\":5}"),
		     200);
	cr_assert_eq(status_of("POST", "/race/r1/event", NULL,
			       "{\"type\":\"x\"}"), 401);
	cr_assert_eq(status_of("DELETE", "/race/r1", NULL, NULL), 401);
	cr_assert_eq(status_of("GET", "/race/r1", NULL, NULL), 200,
		     "reads stay open");
	cr_assert_eq(status_of("GET", "/races", NULL, NULL), 200);
	cr_assert_eq(status_of("DELETE", "/race/r1", tok, NULL), 200);
}

Test(security, token_for_reads_guards_gets_too)
{
	const char *tok = "Authorization: Bearer correct-horse-battery\r\n";

	start((const char *[]){"--token", "correct-horse-battery",
			       "--token-for-reads", NULL});
	cr_assert_eq(status_of("GET", "/races", NULL, NULL), 401);
	cr_assert_eq(status_of("GET", "/health", NULL, NULL), 401);
	cr_assert_eq(status_of("GET", "/races", tok, NULL), 200);
	cr_assert_eq(status_of("GET", "/", NULL, NULL), 200,
		     "the page itself is public: it holds no data");
}

static int recv_type(struct ws_client *c, const char *type, char *code,
		     size_t cap)
{
	for (int i = 0; i < 20; i++) {
		json_object *o, *t, *k;
		int hit;

		if (ws_recv(c, 5000) != 1)
			return 0;
		o = json_tokener_parse(c->msg);
		hit = o && json_object_object_get_ex(o, "type", &t) &&
		      !strcmp(json_object_get_string(t), type);
		if (hit && code && json_object_object_get_ex(o, "code", &k))
			snprintf(code, cap, "%s", json_object_get_string(k));
		json_object_put(o);
		if (hit)
			return 1;
	}
	return 0;
}

Test(security, token_guards_websocket_producers)
{
	struct ws_client c;
	char code[64];
	const char *create = "{\"type\":\"create\",\"req\":1,\"race\":"
			     "{\"id\":\"w1\",\"source\":\"ci\",\"title\":\"t\"}}";

	start((const char *[]){"--token", "correct-horse-battery", NULL});
	/* No token: subscribing works, writing does not. */
	cr_assert_eq(ws_open(&c, srv.port, "/ws"), 0);
	cr_assert(recv_type(&c, "hello", NULL, 0));
	cr_assert_eq(ws_send(&c, "{\"type\":\"subscribe\"}"), 0);
	cr_assert(recv_type(&c, "snapshot", NULL, 0));
	cr_assert_eq(ws_send(&c, create), 0);
	cr_assert(recv_type(&c, "error", code, sizeof(code)));
	cr_assert_str_eq(code, "unauthorized");
	/* A wrong token in a message is refused too. */
	cr_assert_eq(ws_send(&c, "{\"type\":\"subscribe\",\"token\":\"nope\"}"),
		     0);
	cr_assert(recv_type(&c, "error", code, sizeof(code)));
	cr_assert_str_eq(code, "unauthorized");
	/* The token in a message authenticates the connection. */
	cr_assert_eq(ws_send(&c, "{\"type\":\"subscribe\","
			     "\"token\":\"correct-horse-battery\"}"), 0);
	cr_assert(recv_type(&c, "snapshot", NULL, 0));
	cr_assert_eq(ws_send(&c, create), 0);
	cr_assert(recv_type(&c, "ack", NULL, 0));
	ws_close(&c);
	/* Or the Authorization header at upgrade. */
	cr_assert_eq(ws_open_headers(&c, srv.port, "/ws", "Authorization: "
				     "Bearer correct-horse-battery\r\n"), 0);
	cr_assert(recv_type(&c, "hello", NULL, 0));
	cr_assert_eq(ws_send(&c, "{\"type\":\"delete\",\"req\":2,\"id\":\"w1\"}"),
		     0);
	cr_assert(recv_type(&c, "ack", NULL, 0));
	ws_close(&c);
}

Test(security, token_for_reads_guards_websocket_subscribe)
{
	struct ws_client c;
	char code[64];

	start((const char *[]){"--token", "correct-horse-battery",
			       "--token-for-reads", NULL});
	cr_assert_eq(ws_open(&c, srv.port, "/ws"), 0);
	cr_assert_eq(ws_send(&c, "{\"type\":\"subscribe\"}"), 0);
	cr_assert(recv_type(&c, "error", code, sizeof(code)));
	cr_assert_str_eq(code, "unauthorized");
	cr_assert_eq(ws_send(&c, "{\"type\":\"subscribe\","
			     "\"token\":\"correct-horse-battery\"}"), 0);
	cr_assert(recv_type(&c, "snapshot", NULL, 0));
	ws_close(&c);
}

/* The binary run once with args: its exit code, its output in out. */
static int run_server(const char *const *args, char *out, size_t cap)
{
	int st = server_run_once(args, out, cap);

	cr_assert_neq(st, -1, "could not run the server");
	return st;
}

Test(security, open_bind_without_token_is_refused_at_start)
{
	char out[4096];

	cr_assert_eq(run_server((const char *[]){"--bind", "0.0.0.0", NULL},
				out, sizeof(out)), 2);
	cr_assert(strstr(out, "--token"), "%s", out);
	cr_assert(strstr(out, "--insecure"), "%s", out);
	/* With --insecure it starts (and --version proves the parse). */
	cr_assert_eq(run_server((const char *[]){"--bind", "0.0.0.0",
						 "--insecure", "--version",
						 NULL}, out, sizeof(out)), 0);
	start((const char *[]){"--bind", "0.0.0.0", "--token",
			       "correct-horse-battery", NULL});
	cr_assert_eq(status_of("GET", "/races", "Host: anything.example\r\n",
			       NULL), 200,
		     "no Host check when bound beyond loopback");
}

/* ---- files ---- */

Test(security, data_directory_is_private)
{
	char path[PATH_MAX];
	struct stat sb;
	const char *files[] = {"data.mdb", "lock.mdb", "server.lock"};

	start(NULL);
	cr_assert_eq(status_of("POST", "/race", NULL, race), 201);
	cr_assert_eq(stat(srv.data_dir, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0700, "data dir mode %o",
		     sb.st_mode & 0777);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", srv.data_dir, files[i]);
		cr_assert_eq(stat(path, &sb), 0, "%s", path);
		cr_assert_eq(sb.st_mode & 0077, 0, "%s mode %o", files[i],
			     sb.st_mode & 0777);
	}
}

/* A web root with a secret beside it and a symlink pointing out. */
static void make_web_root(char *root, size_t cap, char *secret_dir)
{
	char path[PATH_MAX + 32];
	FILE *f;

	strcpy(secret_dir, "/tmp/raceboard-web-XXXXXX");
	cr_assert(mkdtemp(secret_dir));
	snprintf(root, cap, "%s/www", secret_dir);
	cr_assert_eq(mkdir(root, 0755), 0);
	snprintf(path, sizeof(path), "%s/index.html", root);
	f = fopen(path, "w");
	fputs("<!doctype html><title>t</title>", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/secret.txt", secret_dir);
	f = fopen(path, "w");
	fputs("TOPSECRET-CONTENT", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/link.txt", root);
	cr_assert_eq(symlink("../secret.txt", path), 0);
	snprintf(path, sizeof(path), "%s/etc", root);
	cr_assert_eq(symlink("/etc", path), 0);
}

Test(security, static_files_never_leave_the_web_root)
{
	static const char *const paths[] = {
		"/../secret.txt", "/..%2fsecret.txt", "/%2e%2e/secret.txt",
		"/%2e%2e%2fsecret.txt", "/%252e%252e/secret.txt",
		"/..\\secret.txt", "/./../secret.txt", "//../secret.txt",
		"/www/../../secret.txt", "/index.html/../../secret.txt",
		"/%2E%2E/%2E%2E/etc/passwd", "/../../../../etc/passwd",
		"/link.txt", "/etc/passwd", "/etc/hostname",
		"/%00../secret.txt", "/..%00/secret.txt", "/..;/secret.txt",
		"/%c0%ae%c0%ae/secret.txt", "/.%2e/secret.txt",
	};
	char root[PATH_MAX], dir[64], cmd[PATH_MAX + 16];
	struct http_response r;

	make_web_root(root, sizeof(root), dir);
	start((const char *[]){"--web-root", root, NULL});
	req("GET", "/", NULL, NULL, &r);
	cr_assert_eq(r.status, 200, "the root itself is served");
	http_response_free(&r);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char raw[1024];
		int n = snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\n"
				 "Host: 127.0.0.1\r\nConnection: close\r\n\r\n",
				 paths[i]);

		memset(&r, 0, sizeof(r));
		http_raw(srv.port, raw, (size_t)n, &r);
		/* lws cuts a path at an encoded NUL, which leaves "/": the
		 * index page is fine, anything else must be refused. */
		cr_expect(r.status == 0 || r.status == 400 ||
			  r.status == 403 || r.status == 404 ||
			  (r.status == 200 && r.body &&
			   strstr(r.body, "<title>t</title>")),
			  "%s: status %d", paths[i], r.status);
		cr_expect(!r.body || (!strstr(r.body, "TOPSECRET") &&
				      !strstr(r.body, "root:")),
			  "%s leaked a file", paths[i]);
		http_response_free(&r);
	}
	cr_assert_eq(status_of("GET", "/races", NULL, NULL), 200,
		     "still serving");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

/* ---- headers of the page ---- */

static void expect_security_headers(const struct http_response *r,
				    const char *what)
{
	char v[512];

	cr_assert_eq(http_header(r, "content-security-policy", v, sizeof(v)),
		     0, "%s: no CSP", what);
	cr_expect(strstr(v, "default-src 'none'"), "%s: %s", what, v);
	cr_expect(strstr(v, "script-src 'self'"), "%s: %s", what, v);
	cr_expect(strstr(v, "style-src 'self'"), "%s: %s", what, v);
	cr_expect(strstr(v, "frame-ancestors 'none'"), "%s: %s", what, v);
	cr_expect(!strstr(v, "unsafe-inline") && !strstr(v, "unsafe-eval"),
		  "%s: %s", what, v);
	cr_assert_eq(http_header(r, "x-content-type-options", v, sizeof(v)), 0);
	cr_expect_str_eq(v, "nosniff");
	cr_assert_eq(http_header(r, "x-frame-options", v, sizeof(v)), 0);
	cr_expect_str_eq(v, "deny");
	cr_assert_eq(http_header(r, "referrer-policy", v, sizeof(v)), 0);
	cr_expect_str_eq(v, "no-referrer");
}

Test(security, page_and_api_carry_strict_security_headers)
{
	struct http_response r;
	const char *web = getenv("RACEBOARD_WEB_ROOT");
	char path[PATH_MAX], line[4096];
	FILE *f;

	start(NULL);
	req("GET", "/", NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	expect_security_headers(&r, "page");
	http_response_free(&r);
	req("GET", "/races", NULL, NULL, &r);
	expect_security_headers(&r, "JSON");
	http_response_free(&r);
	req("GET", "/nope.html", NULL, NULL, &r);
	expect_security_headers(&r, "404");
	http_response_free(&r);
	/* The CSP forbids inline script and style: the page must have
	 * none, or it would not load (web-demo is checked as it is). */
	if (!web)
		return;
	snprintf(path, sizeof(path), "%s/index.html", web);
	f = fopen(path, "r");
	cr_assert(f, "%s", path);
	while (fgets(line, sizeof(line), f)) {
		cr_expect(!strstr(line, "<script>") &&
			  !strstr(line, "<script type=\"text/javascript\">"),
			  "inline script: %s", line);
		cr_expect(!strstr(line, "<style"), "inline style: %s", line);
		cr_expect(!strstr(line, " style=\""), "style attribute: %s",
			  line);
		cr_expect(!strstr(line, " onclick=") && !strstr(line, " onload="),
			  "inline handler: %s", line);
		cr_expect(!(strstr(line, "<script") &&
			    strstr(line, "src=\"http")) &&
			  !(strstr(line, "<link") && strstr(line, "href=\"http")),
			  "off-site script or style (CSP is 'self'): %s", line);
	}
	fclose(f);
}
