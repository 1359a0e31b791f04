/*
 * test_cli_script.c - the scripting subcommands (create, update, event,
 * finish, get, list, delete) against the real server binary.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/server_proc.h"
#include "test_cli_util.h"

static struct server_proc srv;

static void start(void)
{
	cr_assert_eq(server_start(&srv, NULL), 0, "server did not start");
}

static void stop(void)
{
	server_stop(&srv);
	server_cleanup(&srv);
}

TestSuite(cli_script, .init = start, .fini = stop, .timeout = 60);

#define RUN(r, ...) do { \
	const char *argv_[] = {"raceboard", __VA_ARGS__, NULL}; \
	cr_assert_eq(tcli_run(argv_, srv.port, NULL, (r)), 0); \
} while (0)

Test(cli_script, round_trip)
{
	struct cli_result r;
	json_object *race;

	RUN(&r, "create", "--id", "rt-1", "--source", "cmd", "--title",
	    "make all", "--eta", "60", "--interval", "7", "--deeplink",
	    "https://ci/1", "--eta-confidence", "0.8", "-m", "a=1",
	    "--meta", "branch=main");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "rt-1\n");
	tcli_result_free(&r);

	RUN(&r, "update", "rt-1", "--progress", "40", "-m", "b=2");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "");
	tcli_result_free(&r);

	RUN(&r, "get", "rt-1");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	race = json_tokener_parse(r.out);
	cr_assert_not_null(race, "not JSON: %s", r.out);
	cr_assert_eq(tcli_int(race, "progress"), 40);
	cr_assert_eq(tcli_int(race, "eta_sec"), 60);
	cr_assert_eq(tcli_int(race, "update_interval_hint"), 7);
	cr_assert_str_eq(tcli_str(race, "title"), "make all");
	cr_assert_str_eq(tcli_str(race, "deeplink"), "https://ci/1");
	cr_assert_str_eq(tcli_meta(race, "a"), "1");
	cr_assert_str_eq(tcli_meta(race, "b"), "2");
	cr_assert_str_eq(tcli_meta(race, "branch"), "main");
	json_object_put(race);
	tcli_result_free(&r);

	RUN(&r, "list");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	race = json_tokener_parse(r.out);
	cr_assert(json_object_is_type(race, json_type_array));
	cr_assert_eq(json_object_array_length(race), 1);
	cr_assert_str_eq(tcli_str(json_object_array_get_idx(race, 0), "id"),
			 "rt-1");
	json_object_put(race);
	tcli_result_free(&r);

	RUN(&r, "delete", "rt-1");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	tcli_result_free(&r);

	RUN(&r, "get", "rt-1");
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.err, "not_found"), "stderr: %s", r.err);
	tcli_result_free(&r);
}

Test(cli_script, create_prints_server_id)
{
	struct cli_result r;
	json_object *race;
	char id[200];

	RUN(&r, "create", "--source", "cmd", "--title", "no id");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert(r.out_len > 2 && r.out[r.out_len - 1] == '\n');
	snprintf(id, sizeof(id), "%.*s", (int)r.out_len - 1, r.out);
	race = tcli_get_race(srv.port, id);
	cr_assert_not_null(race);
	cr_assert_str_eq(tcli_str(race, "title"), "no id");
	json_object_put(race);
	tcli_result_free(&r);
}

Test(cli_script, server_error_exits_1_with_message)
{
	struct cli_result r;
	json_object *race;

	RUN(&r, "create", "--id", "e-1", "--source", "cmd", "--title", "t");
	tcli_result_free(&r);
	RUN(&r, "update", "e-1", "--progress", "150");
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.err, "progress must be"), "stderr: %s", r.err);
	cr_assert(strstr(r.err, "field: progress"), "stderr: %s", r.err);
	cr_assert(strstr(r.err, "out_of_range"), "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "");
	tcli_result_free(&r);
	race = tcli_get_race(srv.port, "e-1");
	cr_assert_eq(tcli_int(race, "progress"), -1, "the race changed");
	json_object_put(race);

	RUN(&r, "create", "--title", "no source");
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.err, "source"), "stderr: %s", r.err);
	tcli_result_free(&r);
}

Test(cli_script, finish_sets_state_and_progress)
{
	struct cli_result r;
	json_object *race;

	RUN(&r, "create", "--id", "f-1", "--source", "cmd", "--title", "t");
	tcli_result_free(&r);
	RUN(&r, "create", "--id", "f-2", "--source", "cmd", "--title", "t",
	    "--progress", "30");
	tcli_result_free(&r);
	RUN(&r, "finish", "f-1");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	tcli_result_free(&r);
	RUN(&r, "finish", "f-2", "--state", "failed");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	tcli_result_free(&r);

	race = tcli_get_race(srv.port, "f-1");
	cr_assert_str_eq(tcli_str(race, "state"), "passed");
	cr_assert_eq(tcli_int(race, "progress"), 100);
	cr_assert_not_null(tcli_str(race, "completed_at"));
	json_object_put(race);
	race = tcli_get_race(srv.port, "f-2");
	cr_assert_str_eq(tcli_str(race, "state"), "failed");
	cr_assert_eq(tcli_int(race, "progress"), 30);
	json_object_put(race);
}

Test(cli_script, event_appends)
{
	struct cli_result r;
	json_object *race, *events, *data;

	RUN(&r, "create", "--id", "ev-1", "--source", "cmd", "--title", "t");
	tcli_result_free(&r);
	RUN(&r, "event", "ev-1", "stage", "--data", "{\"name\":\"link\"}");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	tcli_result_free(&r);
	RUN(&r, "event", "ev-1", "--type", "log", "--data", "plain text",
	    "--print");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	race = json_tokener_parse(r.out);
	cr_assert(json_object_object_get_ex(race, "events", &events));
	cr_assert_eq(json_object_array_length(events), 2);
	data = json_object_object_get(json_object_array_get_idx(events, 0),
				      "data");
	cr_assert_str_eq(tcli_str(data, "name"), "link");
	cr_assert_str_eq(tcli_str(json_object_array_get_idx(events, 1),
				  "data"), "plain text");
	json_object_put(race);
	tcli_result_free(&r);
}

Test(cli_script, json_body_and_metadata_removal)
{
	struct cli_result r;
	json_object *race;

	RUN(&r, "create", "--json",
	    "{\"id\":\"j-1\",\"source\":\"cmd\",\"title\":\"raw\","
	    "\"metadata\":{\"k\":\"v\",\"gone\":\"x\"}}");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "j-1\n");
	tcli_result_free(&r);
	RUN(&r, "update", "j-1", "--json", "{\"progress\":5}",
	    "--title", "flag wins", "-m", "gone", "-m", "new=1");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	tcli_result_free(&r);
	race = tcli_get_race(srv.port, "j-1");
	cr_assert_eq(tcli_int(race, "progress"), 5);
	cr_assert_str_eq(tcli_str(race, "title"), "flag wins");
	cr_assert_str_eq(tcli_meta(race, "k"), "v");
	cr_assert_str_eq(tcli_meta(race, "new"), "1");
	cr_assert_null(tcli_meta(race, "gone"));
	json_object_put(race);

	RUN(&r, "update", "j-1", "--json", "{not json");
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.err, "invalid_json"), "stderr: %s", r.err);
	tcli_result_free(&r);
}

Test(cli_script, unreachable_server_exits_3)
{
	struct cli_result r;
	const char *argv[] = {"raceboard", "--server", "http://127.0.0.1:1",
			      "get", "x", NULL};

	cr_assert_eq(tcli_run(argv, 0, NULL, &r), 0);
	cr_assert_eq(r.status, 3);
	cr_assert(strstr(r.err, "cannot reach"), "stderr: %s", r.err);
	tcli_result_free(&r);
}

Test(cli_script, usage_errors_exit_2)
{
	struct cli_result r;

	RUN(&r, "update");
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "missing ID"), "stderr: %s", r.err);
	tcli_result_free(&r);
	RUN(&r, "update", "x", "--progress", "lots");
	cr_assert_eq(r.status, 2);
	tcli_result_free(&r);
	RUN(&r, "get", "x", "--title", "nope");
	cr_assert_eq(r.status, 2);
	tcli_result_free(&r);
	RUN(&r, "frobnicate");
	cr_assert_eq(r.status, 2);
	tcli_result_free(&r);
	RUN(&r, "--server", "ftp://x", "get", "y");
	cr_assert_eq(r.status, 2);
	tcli_result_free(&r);
}

Test(cli_script, help_and_version)
{
	static const char *const cmds[] = {"create", "update", "event",
		"finish", "get", "list", "delete", "run", "watch"};
	struct cli_result r;

	RUN(&r, "--version");
	cr_assert_eq(r.status, 0);
	cr_assert(!strncmp(r.out, "raceboard ", 10), "%s", r.out);
	tcli_result_free(&r);
	RUN(&r, "--help");
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "SYNOPSIS") && strstr(r.out, "EXIT STATUS"));
	tcli_result_free(&r);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		RUN(&r, cmds[i], "--help");
		cr_assert_eq(r.status, 0, "%s --help", cmds[i]);
		cr_assert(strstr(r.out, "SYNOPSIS"), "%s --help", cmds[i]);
		cr_assert(strstr(r.out, cmds[i]));
		tcli_result_free(&r);
	}
}

/* A fake server that records the request, to check the token header. */
Test(cli_script, token_sent_as_bearer)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);
	int ls = socket(AF_INET, SOCK_STREAM, 0), c;
	char url[64], dir[] = "/tmp/raceboard-cli-XXXXXX", req[4096] = "";
	size_t n = 0;
	struct cli_result r;
	pid_t pid;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(ls, 1), 0);
	getsockname(ls, (struct sockaddr *)&a, &al);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d",
		 ntohs(a.sin_port));
	cr_assert_not_null(mkdtemp(dir));
	setenv("RACEBOARD_TOKEN", "from-env", 1);
	{
		const char *argv[] = {"raceboard", "get", "tok-1", "--server",
				      url, "--token", "sekrit", NULL};

		pid = tcli_spawn(argv, 0, dir);
	}
	c = accept(ls, NULL, NULL);
	cr_assert(c >= 0);
	while (!strstr(req, "\r\n\r\n") && n < sizeof(req) - 1) {
		ssize_t k = read(c, req + n, sizeof(req) - 1 - n);

		if (k <= 0)
			break;
		n += (size_t)k;
		req[n] = '\0';
	}
	cr_assert(write(c, "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n"
		  "{\"id\":\"tok\"}\n", 53) == 53);
	close(c);
	close(ls);
	cr_assert_eq(tcli_wait(pid, dir, &r), 0);
	cr_assert(!strncmp(req, "GET /race/tok-1 HTTP/1.1\r\n", 26), "%s", req);
	cr_assert(strstr(req, "\r\nAuthorization: Bearer sekrit\r\n"), "%s",
		  req);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "{\"id\":\"tok\"}\n");
	tcli_result_free(&r);
}
