/*
 * test_cli_watch.c - `raceboard watch` in a real terminal (tmux) against
 * the real server: bars, fresh and stale ETAs, the predicted overlay,
 * live redraws, and a clean Ctrl-C; lines that fit 80 columns and a
 * resize; following one race to its end (--exit-status); the plain-lines
 * mode; and `raceboard list` as a table on a terminal, JSON otherwise.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/server_proc.h"
#include "test_cli_util.h"
#include "width.h"

static struct server_proc srv;
static char sock[64];

static void start(void)
{
	cr_assert_eq(server_start(&srv, NULL), 0, "server did not start");
	snprintf(sock, sizeof(sock), "rbwatch-%d", (int)getpid());
}

static void stop(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "tmux -L %s kill-server 2>/dev/null", sock);
	if (system(cmd)) {
		/* No server left to kill. */
	}
	server_stop(&srv);
	server_cleanup(&srv);
}

TestSuite(cli_watch, .init = start, .fini = stop, .timeout = 120);

#define CLI(...) do { \
	const char *argv_[] = {"raceboard", __VA_ARGS__, NULL}; \
	struct cli_result r_; \
	cr_assert_eq(tcli_run(argv_, srv.port, NULL, &r_), 0); \
	cr_assert_eq(r_.status, 0, "stderr: %s", r_.err); \
	tcli_result_free(&r_); \
} while (0)

/* The pane's text (owned). */
static char *capture(void)
{
	char cmd[128], *buf = calloc(1, 65536);
	size_t n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "tmux -L %s capture-pane -p", sock);
	p = popen(cmd, "r");
	if (p) {
		n = fread(buf, 1, 65535, p);
		pclose(p);
	}
	buf[n] = '\0';
	return buf;
}

/* Waits up to 15 s for the pane to show `text`; returns the pane. */
static char *wait_for(const char *text)
{
	char *pane = NULL;

	for (int i = 0; i < 150; i++) {
		free(pane);
		pane = capture();
		if (strstr(pane, text))
			return pane;
		tcli_sleep_ms(100);
	}
	cr_assert_fail("the pane never showed '%s':\n%s", text, pane);
	return pane;
}

/* The pane line that mentions `text` (owned copy). */
static char *line_with(const char *pane, const char *text)
{
	const char *hit = strstr(pane, text), *b = hit, *e;

	cr_assert_not_null(hit, "no line with '%s':\n%s", text, pane);
	while (b > pane && b[-1] != '\n')
		b--;
	e = strchr(hit, '\n');
	return strndup(b, e ? (size_t)(e - b) : strlen(b));
}

Test(cli_watch, tmux_shows_bars_and_etas)
{
	char cmd[1024], *pane, *line;

	if (system("command -v tmux >/dev/null 2>&1"))
		cr_skip_test("tmux is not installed");
	CLI("create", "--id", "fresh", "--source", "cmd", "--title",
	    "fresh build", "--progress", "40", "--eta", "150",
	    "--interval", "60");
	CLI("create", "--id", "stale", "--source", "ci", "--title",
	    "stale deploy", "--progress", "40", "--eta", "100",
	    "--interval", "1");
	CLI("create", "--id", "exact", "--source", "cal", "--title",
	    "exact meeting", "--progress", "40", "--eta", "300",
	    "--eta-source", "1", "--interval", "1");
	snprintf(cmd, sizeof(cmd),
		 "tmux -L %s new-session -d -x 120 -y 30 "
		 "'LC_ALL=C.UTF-8 RACEBOARD_SERVER=http://127.0.0.1:%d %s watch;"
		 " echo WATCH-EXIT=$?; sleep 60'", sock, srv.port, tcli_bin());
	cr_assert_eq(system(cmd), 0);

	pane = wait_for("stale deploy");
	cr_assert(strstr(pane, "live"), "%s", pane);
	cr_assert(strstr(pane, "3 races"), "%s", pane);
	free(pane);
	tcli_sleep_ms(1500); /* past the 1 s trust window of "stale" */
	pane = wait_for("\u2592");

	line = line_with(pane, "fresh build");
	cr_assert(strstr(line, "running"), "%s", line);
	cr_assert(strstr(line, "\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2591"),
		  "solid 40%% rail: %s", line);
	cr_assert(strstr(line, " 40%  ETA 2m 2"), "fresh ETA: %s", line);
	cr_assert_null(strstr(line, "\u2248"), "fresh ETA has no ≈: %s", line);
	cr_assert_null(strstr(line, "\u2592"), "no overlay when fresh: %s",
		       line);
	free(line);

	line = line_with(pane, "stale deploy");
	cr_assert(strstr(line, "\u2588\u2592"), "overlay after the solid rail: %s",
		  line);
	cr_assert(strstr(line, "ETA \u22481m 3"), "stale ETA has ≈: %s", line);
	free(line);

	line = line_with(pane, "exact meeting");
	cr_assert(strstr(line, "ETA 4m 5"), "%s", line);
	cr_assert_null(strstr(line, "\u2248"), "exact ETA: %s", line);
	cr_assert_null(strstr(line, "\u2592"), "no overlay for exact: %s",
		       line);
	free(line);
	free(pane);

	/* A live update redraws in place. */
	CLI("update", "fresh", "--progress", "75");
	pane = wait_for(" 75%  ETA");
	line = line_with(pane, "fresh build");
	cr_assert(strstr(line, " 75%"), "%s", line);
	free(line);
	free(pane);
	CLI("finish", "exact", "--state", "failed");
	pane = wait_for("failed");
	free(pane);

	/* Ctrl-C exits 0 and gives the screen back. */
	snprintf(cmd, sizeof(cmd), "tmux -L %s send-keys C-c", sock);
	cr_assert_eq(system(cmd), 0);
	pane = wait_for("WATCH-EXIT=0");
	cr_assert_null(strstr(pane, "Ctrl-C quits"), "alternate screen left: %s",
		       pane);
	free(pane);
}

Test(cli_watch, plain_lines_when_not_a_terminal)
{
	const char *argv[] = {"raceboard", "watch", NULL};
	char dir[] = "/tmp/raceboard-cli-XXXXXX";
	struct cli_result r;
	pid_t pid;

	CLI("create", "--id", "p1", "--source", "cmd", "--title", "first",
	    "--progress", "10", "--eta", "60");
	cr_assert_not_null(mkdtemp(dir));
	pid = tcli_spawn(argv, srv.port, dir);
	tcli_sleep_ms(1500);
	CLI("update", "p1", "--progress", "60");
	CLI("create", "--id", "p2", "--source", "cmd", "--title", "second");
	CLI("delete", "p2");
	tcli_sleep_ms(1500);
	kill(pid, SIGINT);
	cr_assert_eq(tcli_wait(pid, dir, &r), 0);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_null(strstr(r.out, "\033"), "no escapes when piped");
	/* The ETA counts down from the create: a loaded machine may take a
	 * second to start watch. */
	cr_assert(strstr(r.out, " 10%  ETA 1m 00s") ||
		  strstr(r.out, " 10%  ETA 59s"), "%s", r.out);
	cr_assert(strstr(r.out, " 60%  ETA"), "%s", r.out);
	cr_assert(strstr(r.out, "second"), "%s", r.out);
	cr_assert(strstr(r.out, "gone     p2"), "%s", r.out);
	tcli_result_free(&r);
}

/* Starts `cli_args` in a detached tmux session cols x rows; the shell
 * prints WATCH-EXIT=<status> when the CLI ends. */
static void tmux_start(int cols, int rows, const char *cli_args)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "tmux -L %s new-session -d -x %d -y %d "
		 "'LC_ALL=C.UTF-8 RACEBOARD_SERVER=http://127.0.0.1:%d %s %s;"
		 " echo WATCH-EXIT=$?; sleep 60'", sock, cols, rows, srv.port,
		 tcli_bin(), cli_args);
	cr_assert_eq(system(cmd), 0);
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Every line of the pane (capture-pane without -J: one per screen row)
 * is at most `cols` - 1 cells, and joining wrapped lines (-J) changes
 * nothing: no line was wrapped. */
static void assert_fits(const char *pane, int cols)
{
	char cmd[128], joined[65536];
	size_t n = 0;
	FILE *p;

	for (const char *b = pane; *b;) {
		const char *e = strchr(b, '\n');
		char *line = strndup(b, e ? (size_t)(e - b) : strlen(b));

		cr_assert(cli_width(line) <= cols - 1, "%d cells > %d: '%s'",
			  cli_width(line), cols - 1, line);
		free(line);
		if (!e)
			break;
		b = e + 1;
	}
	snprintf(cmd, sizeof(cmd), "tmux -L %s capture-pane -p -J", sock);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	n = fread(joined, 1, sizeof(joined) - 1, p);
	pclose(p);
	joined[n] = '\0';
	/* Line counts, not texts: the header's clock may tick in between. */
	cr_assert_eq(count_lines(joined), count_lines(pane),
		     "a line wrapped:\n%s", joined);
}

Test(cli_watch, lines_fit_80_columns_and_a_resize_redraws)
{
	char cmd[256], *pane, *line;

	if (system("command -v tmux >/dev/null 2>&1"))
		cr_skip_test("tmux is not installed");
	CLI("create", "--id", "wide-1", "--source", "cmd", "--title",
	    "Build \u4e16\u754c\u4f60\u597d and a very long title that "
	    "goes well past eighty columns \U0001F680 end", "--progress",
	    "30", "--eta", "600", "--interval", "60");
	CLI("create", "--id", "a-rather-long-race-identifier-0123456789",
	    "--source", "gitlab", "--title", "short", "--progress", "70",
	    "--eta", "60", "--interval", "60");
	tmux_start(80, 20, "watch");
	pane = wait_for("short");
	cr_assert(strncmp(pane, "raceboard watch", 15) == 0,
		  "the header is the first line:\n%s", pane);
	assert_fits(pane, 80);
	line = line_with(pane, "Build ");
	cr_assert(strstr(line, "\u2026"), "a cut title ends in an ellipsis: %s",
		  line);
	cr_assert(strstr(line, "\u4e16\u754c"), "%s", line);
	free(line);
	free(pane);

	/* Narrower: SIGWINCH redraws at once, still one line per race. */
	snprintf(cmd, sizeof(cmd), "tmux -L %s resize-window -x 60 -y 20",
		 sock);
	cr_assert_eq(system(cmd), 0);
	pane = NULL;
	for (int i = 0; i < 100; i++) {
		free(pane);
		pane = capture();
		line = strstr(pane, "Build ") ? line_with(pane, "Build ") : NULL;
		if (line && cli_width(line) <= 59) {
			free(line);
			break;
		}
		free(line);
		tcli_sleep_ms(100);
	}
	assert_fits(pane, 60);
	cr_assert(strncmp(pane, "raceboard watch", 15) == 0, "%s", pane);
	free(pane);
}

Test(cli_watch, follows_one_race_to_its_end_in_a_terminal)
{
	char *pane;

	if (system("command -v tmux >/dev/null 2>&1"))
		cr_skip_test("tmux is not installed");
	CLI("create", "--id", "follow-tty", "--source", "cmd", "--title",
	    "followed build", "--progress", "10");
	CLI("create", "--id", "other", "--source", "cmd", "--title",
	    "not followed", "--progress", "10");
	tmux_start(100, 20, "watch follow-tty --exit-status");
	pane = wait_for("followed build");
	cr_assert_null(strstr(pane, "not followed"), "%s", pane);
	free(pane);
	CLI("finish", "follow-tty", "--state", "passed");
	pane = wait_for("WATCH-EXIT=0");
	/* Back on the normal screen, the race's last line stays visible. */
	cr_assert(strstr(pane, "passed"), "%s", pane);
	cr_assert(strstr(pane, "followed build"), "%s", pane);
	free(pane);
}

/* `watch ID --exit-status` as a script would use it: piped output. */
static int follow_exit(const char *id, const char *state, char **out)
{
	const char *argv[] = {"raceboard", "watch", id, "--exit-status", NULL};
	char dir[] = "/tmp/raceboard-cli-XXXXXX";
	struct cli_result r;
	int status;

	cr_assert_not_null(mkdtemp(dir));
	{
		pid_t pid = tcli_spawn(argv, srv.port, dir);

		tcli_sleep_ms(800);
		if (state)
			CLI("finish", id, "--state", state);
		cr_assert_eq(tcli_wait(pid, dir, &r), 0);
	}
	status = r.status;
	*out = strdup(r.out);
	if (!state)
		cr_assert(strstr(r.err, "no race 'nope-"), "%s", r.err);
	tcli_result_free(&r);
	return status;
}

Test(cli_watch, exit_status_says_how_the_race_ended)
{
	char *out;

	CLI("create", "--id", "es-pass", "--source", "cmd", "--title", "ok",
	    "--progress", "10");
	CLI("create", "--id", "es-fail", "--source", "cmd", "--title", "bad",
	    "--progress", "10");
	cr_assert_eq(follow_exit("es-pass", "passed", &out), 0, "%s", out);
	cr_assert(strstr(out, "passed"), "%s", out);
	free(out);
	cr_assert_eq(follow_exit("es-fail", "failed", &out), 1, "%s", out);
	cr_assert(strstr(out, "failed"), "%s", out);
	free(out);
	/* Already finished: it ends at once, with the same answer. */
	cr_assert_eq(follow_exit("es-fail", "failed", &out), 1);
	free(out);
	cr_assert_eq(follow_exit("nope-race", NULL, &out), 1);
	free(out);
}

Test(cli_watch, list_is_a_table_on_a_terminal_and_json_otherwise)
{
	const char *argv[] = {"raceboard", "list", NULL};
	const char *argv_json[] = {"raceboard", "list", "--json", NULL};
	struct cli_result r;
	json_object *o;
	char *pane;

	CLI("create", "--id", "lst-1", "--source", "gitlab", "--title",
	    "a list row with a title far too long for the narrow terminal "
	    "it is shown in", "--progress", "42", "--eta", "300");
	/* Piped: JSON, as before. */
	cr_assert_eq(tcli_run(argv, srv.port, NULL, &r), 0);
	cr_assert_eq(r.status, 0, "%s", r.err);
	o = json_tokener_parse(r.out);
	cr_assert(o && json_object_is_type(o, json_type_array), "%s", r.out);
	json_object_put(o);
	tcli_result_free(&r);
	cr_assert_eq(tcli_run(argv_json, srv.port, NULL, &r), 0);
	o = json_tokener_parse(r.out);
	cr_assert(o && json_object_is_type(o, json_type_array), "%s", r.out);
	json_object_put(o);
	tcli_result_free(&r);

	if (system("command -v tmux >/dev/null 2>&1"))
		cr_skip_test("tmux is not installed");
	tmux_start(80, 20, "list --source gitlab");
	pane = wait_for("WATCH-EXIT=0");
	cr_assert(strstr(pane, "STATE"), "%s", pane);
	cr_assert(strstr(pane, "TITLE"), "%s", pane);
	{
		char *line = line_with(pane, "a list row");

		cr_assert(strstr(line, "running"), "%s", line);
		cr_assert(strstr(line, " 42%"), "%s", line);
		cr_assert(strstr(line, "ETA "), "%s", line);
		cr_assert(strstr(line, "lst-1"), "%s", line);
		cr_assert(strstr(line, "\u2026"), "%s", line);
		free(line);
	}
	assert_fits(pane, 80);
	free(pane);
}
