/*
 * test_cli_hook.c - `raceboard hook claude-code` against the real server:
 * a recorded Claude Code session (tests/data/claude-code/session.jsonl,
 * written from the documented event fields) becomes the right races; the
 * prompt stays private; a server that is down or hung costs the agent
 * nothing; --install / --uninstall merge into a settings file in a
 * temporary HOME.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "support/server_proc.h"
#include "test_cli_util.h"

static struct server_proc srv;
static char home[] = "/tmp/raceboard-hook-XXXXXX";

static void start(void)
{
	cr_assert_not_null(mkdtemp(home));
	setenv("HOME", home, 1);
	unsetenv("XDG_STATE_HOME");
	unsetenv("CLAUDE_CONFIG_DIR");
	unsetenv("RACEBOARD_DEBUG");
	cr_assert_eq(server_start(&srv, NULL), 0, "server did not start");
}

static void stop(void)
{
	char cmd[128];

	server_stop(&srv);
	server_cleanup(&srv);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
	(void)!system(cmd);
}

TestSuite(cli_hook, .init = start, .fini = stop, .timeout = 180);

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		buf[0] = '\0';
	fclose(f);
	return buf;
}

/* Feeds one event to the hook (generous budget: a loaded machine under
 * ASan), checking it exits 0 and prints nothing on stdout. */
static void feed(const char *event, const char *extra)
{
	const char *argv[] = {"raceboard", "hook", "claude-code", "--budget",
			      "10000", extra, NULL};
	struct cli_result r;

	cr_assert_eq(tcli_run(argv, srv.port, event, &r), 0);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_eq(r.out_len, 0, "stdout: %s", r.out);
	tcli_result_free(&r);
}

static void feed_file(const char *name, const char *extra)
{
	char path[512], *text, *line, *save = NULL;

	snprintf(path, sizeof(path), "%s/%s", getenv("HOOK_DATA"), name);
	text = slurp(path);
	cr_assert_not_null(text, "%s", path);
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		feed(line, extra);
	free(text);
}

/* GET /races?source=claude-code: the owned array, newest first. */
static json_object *cc_races(void)
{
	struct cli_url u;
	struct cli_http_response res;
	char url[64];
	json_object *a;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv.port);
	cr_assert_eq(cli_url_parse(url, &u), 0);
	cr_assert_eq(cli_http_request(&u, NULL, "GET",
				      "/races?source=claude-code", NULL, 10000,
				      &res), 0);
	cr_assert_eq(res.status, 200);
	a = json_tokener_parse(res.body);
	cli_http_response_fini(&res);
	cr_assert(json_object_is_type(a, json_type_array));
	return a;
}

static json_object *race_titled(json_object *races, const char *title)
{
	for (size_t i = 0; i < json_object_array_length(races); i++) {
		json_object *r = json_object_array_get_idx(races, i);

		if (!strcmp(tcli_str(r, "title"), title))
			return r;
	}
	cr_assert_fail("no race titled '%s' in %s", title,
		       json_object_to_json_string(races));
	return NULL;
}

static void assert_stages(json_object *race, const char *const *names)
{
	json_object *ev;
	size_t n = 0;

	cr_assert(json_object_object_get_ex(race, "events", &ev));
	for (; names[n]; n++) {
		json_object *e = json_object_array_get_idx(ev, n), *d, *nm;

		cr_assert_not_null(e, "event %zu missing", n);
		cr_assert_str_eq(tcli_str(e, "type"), "stage");
		cr_assert(json_object_object_get_ex(e, "data", &d) &&
			  json_object_object_get_ex(d, "name", &nm));
		cr_assert_str_eq(json_object_get_string(nm), names[n]);
	}
	cr_assert_eq(json_object_array_length(ev), n);
}

Test(cli_hook, a_recorded_session_becomes_races)
{
	static const char *const first[] = {"Read", "Edit", "Bash", NULL};
	static const char *const second[] = {"Grep", NULL};
	static const char *const third[] = {"Bash", NULL};
	json_object *races, *r;
	const char *all;

	feed_file("session.jsonl", NULL);
	races = cc_races();
	cr_assert_eq(json_object_array_length(races), 3, "%s",
		     json_object_to_json_string(races));
	all = json_object_to_json_string(races);
	/* Only the first line, shortened, leaves the machine. */
	cr_assert_null(strstr(all, "DO-NOT-LEAK"), "%s", all);
	cr_assert_null(strstr(all, "pay.internal"), "%s", all);

	r = race_titled(races, "Add a retry with backoff to the payment "
			"client so that a flaky gateway does not\u2026");
	cr_assert_str_eq(tcli_str(r, "state"), "passed");
	cr_assert_eq(tcli_int(r, "progress"), 100);
	cr_assert_str_eq(tcli_meta(r, "stage"), "Bash");
	cr_assert_str_eq(tcli_meta(r, "project"), "shop");
	cr_assert_str_eq(tcli_meta(r, "session"),
			 "3f1c2a9e-5b7d-4e21-9c0a-8d2f6b1e4a77");
	assert_stages(r, first);

	/* Interrupted by the next prompt: no Stop came. */
	r = race_titled(races, "now the refund path");
	cr_assert_str_eq(tcli_str(r, "state"), "canceled");
	cr_assert_str_eq(tcli_meta(r, "end_reason"), "interrupted");
	assert_stages(r, second);

	r = race_titled(races, "stop, use the existing retry helper instead");
	cr_assert_str_eq(tcli_str(r, "state"), "canceled");
	cr_assert_str_eq(tcli_meta(r, "end_reason"), "prompt_input_exit");
	assert_stages(r, third);
	json_object_put(races);
}

Test(cli_hook, send_prompt_sends_the_prompt)
{
	json_object *races;

	feed("{\"session_id\":\"s-send\",\"cwd\":\"/w/x\",\"hook_event_name\":"
	     "\"UserPromptSubmit\",\"prompt\":\"line one\\nline two\"}",
	     "--send-prompt");
	races = cc_races();
	cr_assert_str_eq(tcli_meta(race_titled(races, "line one"), "prompt"),
			 "line one\nline two");
	json_object_put(races);
}

Test(cli_hook, garbage_and_unknown_events_are_quiet)
{
	json_object *races;

	feed("not json at all", NULL);
	feed("{\"hook_event_name\":\"Stop\"}", NULL); /* no session */
	feed("{\"session_id\":\"s-n\",\"hook_event_name\":\"Notification\","
	     "\"message\":\"Claude needs your permission\"}", NULL);
	feed("{\"session_id\":\"s-n\",\"hook_event_name\":\"Stop\"}", NULL);
	races = cc_races();
	cr_assert_eq(json_object_array_length(races), 0);
	json_object_put(races);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs the default-budget hook (150 ms) on a prompt against url; checks
 * it exits 0 with nothing on stdout or stderr. Returns the seconds. */
static double prompt_against(const char *url)
{
	const char *argv[] = {"raceboard", "--server", url, "hook",
			      "claude-code", NULL};
	struct cli_result r;
	double t0 = now_s(), secs;

	cr_assert_eq(tcli_run(argv, 0, "{\"session_id\":\"s-down\","
			      "\"hook_event_name\":\"UserPromptSubmit\","
			      "\"prompt\":\"hello\"}", &r), 0);
	secs = now_s() - t0;
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_eq(r.out_len, 0, "stdout: %s", r.out);
	cr_assert_eq(r.err_len, 0, "stderr: %s", r.err);
	tcli_result_free(&r);
	return secs;
}

Test(cli_hook, a_server_that_is_down_or_hung_costs_nothing)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	char url[64];
	double secs;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(ls, (struct sockaddr *)&a, &al);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(a.sin_port));
	prompt_against(url); /* bound, not listening: refused */
	cr_assert_eq(listen(ls, 64), 0); /* the kernel accepts; we never do */
	secs = prompt_against(url);
	close(ls);
	/* The budget is 150 ms; the rest is process start-up under ASan on
	 * a busy machine. A hang would be the server's 10 s default. */
	cr_assert(secs < 3.0, "took %.2f s", secs);
}

static char *settings_file(void)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/.claude/settings.json", home);
	return path;
}

static struct cli_result hook_cmd(const char *what)
{
	const char *argv[] = {"raceboard", "hook", "claude-code", what, NULL};
	struct cli_result r;

	cr_assert_eq(tcli_run(argv, 0, NULL, &r), 0);
	cr_assert_eq(r.status, 0, "%s", r.err);
	return r;
}

/* The number of hooks of ours under event `ev`. */
static int ours(json_object *settings, const char *ev)
{
	json_object *hooks, *groups;
	int n = 0;

	if (!json_object_object_get_ex(settings, "hooks", &hooks) ||
	    !json_object_object_get_ex(hooks, ev, &groups))
		return 0;
	for (size_t g = 0; g < json_object_array_length(groups); g++) {
		json_object *grp = json_object_array_get_idx(groups, g), *l;

		cr_assert(json_object_object_get_ex(grp, "hooks", &l));
		for (size_t i = 0; i < json_object_array_length(l); i++) {
			const char *c = tcli_str(json_object_array_get_idx(l, i),
						 "command");

			n += strstr(c, " hook claude-code") != NULL;
		}
	}
	return n;
}

Test(cli_hook, install_merges_is_idempotent_and_uninstalls)
{
	char src[512], cmd[1200], *before, *once, *twice, *backup, *after;
	json_object *s, *orig;
	struct cli_result r;

	snprintf(src, sizeof(src), "%s/settings-before.json",
		 getenv("HOOK_DATA"));
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/.claude' && cp '%s' '%s'",
		 home, src, settings_file());
	cr_assert_eq(system(cmd), 0);
	before = slurp(settings_file());
	orig = json_tokener_parse(before);

	r = hook_cmd("--install");
	cr_assert(strstr(r.out, "installed"), "%s", r.out);
	tcli_result_free(&r);
	once = slurp(settings_file());
	snprintf(cmd, sizeof(cmd), "%s.raceboard-backup", settings_file());
	backup = slurp(cmd);
	cr_assert_str_eq(backup, before, "the backup is the old file");
	s = json_tokener_parse(once);
	cr_assert_not_null(s, "%s", once);
	/* Ours in each event, theirs kept. */
	cr_assert_eq(ours(s, "UserPromptSubmit"), 1);
	cr_assert_eq(ours(s, "PreToolUse"), 1);
	cr_assert_eq(ours(s, "Stop"), 1);
	cr_assert_eq(ours(s, "SessionEnd"), 1);
	cr_assert(strstr(once, "notify-send 'Claude is done'"), "%s", once);
	cr_assert(strstr(once, "npx prettier"), "%s", once);
	cr_assert(strstr(once, "\"model\""), "%s", once);
	cr_assert(strstr(once, "Read(./.env)"), "%s", once);
	json_object_put(s);

	r = hook_cmd("--install");
	cr_assert(strstr(r.out, "already"), "%s", r.out);
	tcli_result_free(&r);
	twice = slurp(settings_file());
	cr_assert_str_eq(twice, once, "a second install changes nothing");

	r = hook_cmd("--uninstall");
	tcli_result_free(&r);
	after = slurp(settings_file());
	s = json_tokener_parse(after);
	cr_assert(json_object_equal(s, orig), "uninstall gives back %s, got %s",
		  before, after);
	json_object_put(s);
	json_object_put(orig);
	free(before);
	free(once);
	free(twice);
	free(backup);
	free(after);
}

Test(cli_hook, install_into_no_file_and_refuse_a_broken_one)
{
	char cmd[1200], *text;
	json_object *s;
	struct cli_result r;

	r = hook_cmd("--install");
	tcli_result_free(&r);
	text = slurp(settings_file());
	s = json_tokener_parse(text);
	cr_assert_eq(ours(s, "PreToolUse"), 1, "%s", text);
	json_object_put(s);
	free(text);
	r = hook_cmd("--uninstall");
	tcli_result_free(&r);
	text = slurp(settings_file());
	cr_assert_str_eq(text, "{\n}\n");
	free(text);

	snprintf(cmd, sizeof(cmd), "printf '{\"hooks\": [' > '%s'",
		 settings_file());
	cr_assert_eq(system(cmd), 0);
	{
		const char *argv[] = {"raceboard", "hook", "claude-code",
				      "--install", NULL};

		cr_assert_eq(tcli_run(argv, 0, NULL, &r), 0);
	}
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.err, "not a JSON object"), "%s", r.err);
	tcli_result_free(&r);
	text = slurp(settings_file());
	cr_assert_str_eq(text, "{\"hooks\": [", "left as it was");
	free(text);
}
