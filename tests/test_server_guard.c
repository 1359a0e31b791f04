/*
 * test_server_guard.c - the pure checks behind the server's access rules
 * (Host, Origin, bearer token, loopback bind), the hardening flags, and
 * the Prometheus rendering. Tables, no sockets.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "guard.h"
#include "metrics.h"

static char *no_env(const char *name)
{
	(void)name;
	return NULL;
}

static int parse(struct srv_cfg *cfg, char **argv, int argc,
		 char *(*env)(const char *))
{
	FILE *out = fopen("/dev/null", "w");
	int rc;

	srv_cfg_defaults(cfg);
	rc = srv_cfg_parse(cfg, argc, argv, env, out, out);
	fclose(out);
	return rc;
}

/* Criterion re-executes the test binary for each case, so parameters
 * hold arrays, never pointers; "-" stands for an absent header. */
struct host_case {
	char host[32];
	int ok;
};

static struct host_case host_cases[] = {
	{"localhost", 1}, {"localhost:7777", 1}, {"LOCALHOST:1", 1},
	{"localhost.", 1}, {"app.localhost:80", 1}, {"127.0.0.1", 1},
	{"127.0.0.1:7777", 1}, {"127.255.3.4:9", 1}, {"[::1]", 1},
	{"[::1]:7777", 1}, {"-", 1}, {"", 1}, {"dash.lan:7777", 1},
	{"evil.com", 0}, {"evil.com:7777", 0}, {"localhost.evil.com", 0},
	{"evillocalhost", 0}, {"128.0.0.1", 0}, {"10.0.0.1:7777", 0},
	{"[::2]:7777", 0}, {"::1", 0}, {"localhost:77x", 0},
	{"[::1", 0}, {"[::1]x", 0}, {"127.0.0.1.evil.com", 0},
	{"0x7f.0.0.1", 0}, {"2130706433", 0}, {"dash.lan.evil", 0},
};

ParameterizedTestParameters(guard, host_header)
{
	return cr_make_param_array(struct host_case, host_cases,
				   sizeof(host_cases) / sizeof(host_cases[0]));
}

ParameterizedTest(struct host_case *c, guard, host_header)
{
	struct srv_cfg cfg;
	char *argv[] = {"s", "--allow-host", "dash.lan", NULL};
	const char *host = strcmp(c->host, "-") ? c->host : NULL;

	cr_assert_eq(parse(&cfg, argv, 3, no_env), SRV_CFG_OK);
	cr_expect_eq(srv_guard_host_ok(&cfg, host), c->ok, "Host '%s'",
		     c->host);
}

Test(guard, any_host_when_bound_elsewhere_without_allow_host)
{
	struct srv_cfg cfg;
	char *argv[] = {"s", "--bind", "0.0.0.0", NULL};

	cr_assert_eq(parse(&cfg, argv, 3, no_env), SRV_CFG_OK);
	cr_assert(srv_guard_host_ok(&cfg, "evil.com"));
	cr_assert(!srv_guard_bind_is_loopback(cfg.bind));
	cr_assert(srv_guard_bind_is_loopback("127.0.0.1"));
	cr_assert(srv_guard_bind_is_loopback("127.1.2.3"));
	cr_assert(srv_guard_bind_is_loopback("::1"));
	cr_assert(srv_guard_bind_is_loopback("localhost"));
	cr_assert(!srv_guard_bind_is_loopback("::"));
	cr_assert(!srv_guard_bind_is_loopback("192.168.1.2"));
}

struct origin_case {
	char origin[40];
	char host[20];
	int ok;
	int listed;
};

static struct origin_case origin_cases[] = {
	{"-", "localhost:7777", 1, 0},
	{"http://localhost:7777", "localhost:7777", 1, 0},
	{"HTTP://LocalHost:7777", "localhost:7777", 1, 0},
	{"http://127.0.0.1:7777", "127.0.0.1:7777", 1, 0},
	{"https://dash.example.com", "localhost:7777", 1, 1},
	{"https://DASH.example.com", "localhost:7777", 1, 1},
	{"http://localhost:7778", "localhost:7777", 0, 0},
	{"https://localhost:7777", "localhost:7777", 0, 0},
	{"http://evil.example", "localhost:7777", 0, 0},
	{"null", "localhost:7777", 0, 0},
	{"https://dash.example.com.evil", "localhost:7777", 0, 0},
	{"http://localhost:7777", "-", 0, 0},
};

ParameterizedTestParameters(guard, origin)
{
	return cr_make_param_array(struct origin_case, origin_cases,
				   sizeof(origin_cases) /
				   sizeof(origin_cases[0]));
}

ParameterizedTest(struct origin_case *c, guard, origin)
{
	struct srv_cfg cfg;
	char *argv[] = {"s", "--allow-origin", "https://dash.example.com",
			NULL};

	const char *origin = strcmp(c->origin, "-") ? c->origin : NULL;
	const char *host = strcmp(c->host, "-") ? c->host : NULL;

	cr_assert_eq(parse(&cfg, argv, 3, no_env), SRV_CFG_OK);
	cr_expect_eq(srv_guard_origin_ok(&cfg, origin, host), c->ok,
		     "Origin '%s' Host '%s'", c->origin, c->host);
	cr_expect_eq(srv_guard_origin_listed(&cfg, origin), c->listed);
}

Test(guard, bearer_token)
{
	struct srv_cfg cfg;
	char *argv[] = {"s", "--token", "s3cret-token", NULL};

	cr_assert_eq(parse(&cfg, argv, 1, no_env), SRV_CFG_OK);
	cr_assert(srv_guard_bearer_ok(&cfg, NULL), "no token: all allowed");
	cr_assert(!srv_guard_token_ok(&cfg, "", 0));
	cr_assert_eq(parse(&cfg, argv, 3, no_env), SRV_CFG_OK);
	cr_assert(srv_guard_bearer_ok(&cfg, "Bearer s3cret-token"));
	cr_assert(srv_guard_bearer_ok(&cfg, "bearer  s3cret-token"));
	cr_assert(!srv_guard_bearer_ok(&cfg, NULL));
	cr_assert(!srv_guard_bearer_ok(&cfg, ""));
	cr_assert(!srv_guard_bearer_ok(&cfg, "s3cret-token"));
	cr_assert(!srv_guard_bearer_ok(&cfg, "Basic s3cret-token"));
	cr_assert(!srv_guard_bearer_ok(&cfg, "Bearer s3cret-toke"));
	cr_assert(!srv_guard_bearer_ok(&cfg, "Bearer s3cret-tokenX"));
	cr_assert(!srv_guard_bearer_ok(&cfg, "Bearer S3cret-token"));
	cr_assert(!srv_guard_token_ok(&cfg, "s3cret-token\0x", 14));
	cr_assert(srv_guard_token_ok(&cfg, "s3cret-token", 12));
}

static const char *env_origins;

static char *env_security(const char *name)
{
	if (!strcmp(name, "RACEBOARD_SERVER__ALLOW_ORIGINS"))
		return (char *)env_origins;
	if (!strcmp(name, "RACEBOARD_TOKEN"))
		return "from-the-environment";
	return NULL;
}

Test(guard, security_flags_and_environment)
{
	struct srv_cfg cfg;
	char *argv[] = {"s", "--allow-origin", "http://c.example:8080",
			"--token-for-reads", "--http-timeout", "2",
			"--max-connections", "50", "--max-conns-per-ip", "5",
			"--rate-limit", "100", "--max-subs-per-ip", "3",
			"--insecure", NULL};

	env_origins = " https://a.example , https://B.example ";
	cr_assert_eq(parse(&cfg, argv, 15, env_security), SRV_CFG_OK);
	cr_assert_eq(cfg.n_allow_origins, 3);
	cr_assert_str_eq(cfg.allow_origins[0], "https://a.example");
	cr_assert_str_eq(cfg.allow_origins[1], "https://b.example");
	cr_assert_str_eq(cfg.allow_origins[2], "http://c.example:8080");
	cr_assert_str_eq(cfg.token, "from-the-environment");
	cr_assert(cfg.token_for_reads && cfg.insecure);
	cr_assert_eq(cfg.http_timeout_sec, 2);
	cr_assert_eq(cfg.max_connections, 50);
	cr_assert_eq(cfg.max_conns_per_ip, 5);
	cr_assert_eq(cfg.rate_limit, 100);
	cr_assert_eq(cfg.max_subs_per_ip, 3);
}

Test(guard, invalid_security_values_are_errors)
{
	struct srv_cfg cfg;
	char *bad[][3] = {
		{"s", "--allow-origin", "dash.example.com"},
		{"s", "--allow-origin", "https://dash.example.com/"},
		{"s", "--allow-origin", "https://a b"},
		{"s", "--allow-host", "evil.com/x"},
		{"s", "--token", "short"},
		{"s", "--token", "has a space"},
		{"s", "--http-timeout", "0"},
		{"s", "--max-connections", "0"},
		{"s", "--token-for-reads", NULL},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[4] = {bad[i][0], bad[i][1], bad[i][2], NULL};

		cr_expect_eq(parse(&cfg, argv, bad[i][2] ? 3 : 2, no_env),
			     SRV_CFG_ERROR, "%s %s", bad[i][1],
			     bad[i][2] ? bad[i][2] : "");
	}
}

Test(metrics, routes_and_prometheus_text)
{
	struct srv_metrics m;
	struct srv_metrics_gauges g = {.races = 3, .subscribers = 2,
				       .backlog_resets = 1};
	size_t len = 0;
	char *text;

	memset(&m, 0, sizeof(m));
	cr_assert_eq(srv_metrics_route("/race"), SRV_ROUTE_RACE);
	cr_assert_eq(srv_metrics_route("/race/x"), SRV_ROUTE_RACE_ID);
	cr_assert_eq(srv_metrics_route("/race/x/event"), SRV_ROUTE_RACE_EVENT);
	cr_assert_eq(srv_metrics_route("/race/x/y"), SRV_ROUTE_OTHER);
	cr_assert_eq(srv_metrics_route("/races"), SRV_ROUTE_RACES);
	cr_assert_eq(srv_metrics_route("/nope"), SRV_ROUTE_OTHER);
	srv_metrics_http(&m, SRV_ROUTE_RACE, 201);
	srv_metrics_http(&m, SRV_ROUTE_RACE, 201);
	srv_metrics_http(&m, SRV_ROUTE_RACES, 299);
	srv_metrics_reject(&m, SRV_REJ_HOST);
	srv_metrics_commit(&m, 0.0003, 1);
	srv_metrics_commit(&m, 2.0, 0);
	text = srv_metrics_render(&m, &g, 16, &len);
	cr_assert(text);
	cr_assert_eq(strlen(text + 16), len);
	cr_assert(strstr(text + 16, "raceboard_http_requests_total{route="
			 "\"/race\",status=\"201\"} 2\n"));
	cr_assert(strstr(text + 16, "{route=\"/races\",status=\"other\"} 1\n"));
	cr_assert(strstr(text + 16,
			 "raceboard_rejections_total{reason=\"host\"} 1\n"));
	cr_assert(strstr(text + 16, "_bucket{le=\"0.0005\"} 1\n"));
	cr_assert(strstr(text + 16, "_bucket{le=\"+Inf\"} 2\n"));
	cr_assert(strstr(text + 16, "raceboard_commit_duration_seconds_count 2\n"));
	cr_assert(strstr(text + 16, "raceboard_commit_failures_total 1\n"));
	cr_assert(strstr(text + 16, "raceboard_races 3\n"));
	cr_assert(strstr(text + 16, "raceboard_backlog_resets_total 1\n"));
	free(text);
}
