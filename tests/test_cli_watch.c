/*
 * test_cli_watch.c - `raceboard watch` in a real terminal (tmux) against
 * the real server: bars, fresh and stale ETAs, the predicted overlay,
 * live redraws, and a clean Ctrl-C; plus the plain-lines mode.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/server_proc.h"
#include "test_cli_util.h"

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
