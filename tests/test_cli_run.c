/*
 * test_cli_run.c - `raceboard run` wrapping real commands against the
 * real server: progress found in the output, final state and metadata,
 * exit status and output passed through byte for byte, signals, and a
 * server that is down.
 */
/* posix_openpt, grantpt, unlockpt and ptsname are X/Open. */
#define _XOPEN_SOURCE 700

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "race.h"
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

TestSuite(cli_run, .init = start, .fini = stop, .timeout = 180);

#define RUN(r, ...) do { \
	const char *argv_[] = {"raceboard", __VA_ARGS__, NULL}; \
	cr_assert_eq(tcli_run(argv_, srv.port, NULL, (r)), 0); \
} while (0)

/* Start metadata kept, end metadata added. */
static void assert_metadata(json_object *race, const char *exit_code)
{
	char cwd[4096];

	cr_assert_str_eq(tcli_meta(race, "exit_code"), exit_code);
	cr_assert_not_null(tcli_meta(race, "duration_sec"));
	cr_assert(atof(tcli_meta(race, "duration_sec")) >= 0);
	cr_assert_not_null(tcli_meta(race, "command"));
	cr_assert_not_null(tcli_meta(race, "host"));
	cr_assert_not_null(tcli_meta(race, "user"));
	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_str_eq(tcli_meta(race, "cwd"), cwd);
}

Test(cli_run, percentages_over_rest)
{
	static const char script[] =
		"for i in 10 20 30 40 50 60 70 80 90 100; do "
		"echo \"copying $i%\"; sleep 0.25; done";
	struct cli_result r;
	json_object *race;

	RUN(&r, "run", "--http", "--id", "pct", "--interval", "1", "-m",
	    "team=infra", "--", "sh", "-c", script);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "copying 10%\ncopying 20%\ncopying 30%\n"
			 "copying 40%\ncopying 50%\ncopying 60%\ncopying 70%\n"
			 "copying 80%\ncopying 90%\ncopying 100%\n");
	cr_assert_str_eq(r.err, "");
	tcli_result_free(&r);

	race = tcli_get_race(srv.port, "pct");
	cr_assert_not_null(race);
	cr_assert_str_eq(tcli_str(race, "state"), "passed");
	cr_assert_str_eq(tcli_str(race, "source"), "cmd");
	cr_assert_eq(tcli_int(race, "progress"), 100);
	cr_assert_eq(tcli_int(race, "update_interval_hint"), 1);
	cr_assert(strstr(tcli_str(race, "title"), "sh -c "), "%s",
		  tcli_str(race, "title"));
	cr_assert_str_eq(tcli_meta(race, "team"), "infra");
	cr_assert(strstr(tcli_meta(race, "command"), "copying"));
	assert_metadata(race, "0");
	cr_assert_not_null(tcli_str(race, "eta_revisions"),
			   "an ETA derived from the progress rate was sent");
	json_object_put(race);
}

Test(cli_run, counter_and_failure)
{
	static const char script[] =
		"i=1; while [ $i -le 7 ]; do echo \"[$i/10] step $i\"; "
		"i=$((i+1)); sleep 0.1; done; echo boom >&2; exit 3";
	struct cli_result r;
	json_object *race;

	RUN(&r, "run", "--http", "--id", "cnt", "--title", "counting",
	    "--source", "ci", "--", "sh", "-c", script);
	cr_assert_eq(r.status, 3, "stderr: %s", r.err);
	cr_assert(strstr(r.out, "[7/10] step 7\n"));
	cr_assert_str_eq(r.err, "boom\n");
	tcli_result_free(&r);

	race = tcli_get_race(srv.port, "cnt");
	cr_assert_str_eq(tcli_str(race, "state"), "failed");
	cr_assert_str_eq(tcli_str(race, "title"), "counting");
	cr_assert_str_eq(tcli_str(race, "source"), "ci");
	cr_assert_eq(tcli_int(race, "progress"), 70);
	assert_metadata(race, "3");
	json_object_put(race);
}

Test(cli_run, progress_never_goes_backwards)
{
	struct cli_result r;
	json_object *race;

	RUN(&r, "run", "--http", "--id", "back", "--", "sh", "-c",
	    "echo 50%; echo '[1/10]'; echo 30%; exit 1");
	cr_assert_eq(r.status, 1);
	tcli_result_free(&r);
	race = tcli_get_race(srv.port, "back");
	cr_assert_eq(tcli_int(race, "progress"), 50);
	cr_assert_str_eq(tcli_str(race, "state"), "failed");
	json_object_put(race);
}

/* With the default 5 s interval a fast command is reported as a create
 * and a final update, not one update per line. */
Test(cli_run, updates_are_paced)
{
	struct cli_result r;
	long long before = tcli_seq(srv.port), after;

	RUN(&r, "run", "--http", "--id", "paced", "--", "sh", "-c",
	    "i=1; while [ $i -le 100 ]; do echo \"$i%\"; i=$((i+1)); "
	    "sleep 0.01; done");
	cr_assert_eq(r.status, 0);
	tcli_result_free(&r);
	after = tcli_seq(srv.port);
	cr_assert(after - before >= 2 && after - before <= 3,
		  "%lld changes for one fast run", after - before);
}

/* The first progress goes out as soon as the command prints it, not one
 * interval later: with --interval 60 the command below would end long
 * before a paced update. It waits for the test to see "[3/10]" on the
 * board (or for 30 s, when the test fails) before it exits. */
Test(cli_run, first_progress_is_sent_at_once)
{
	char dir[] = "/tmp/raceboard-cli-XXXXXX", script[512], flag[64];
	const char *argv[] = {"raceboard", "run", "--http", "--id", "lead",
			      "--interval", "60", "--", "sh", "-c", script,
			      NULL};
	struct cli_result r;
	long long progress = -1;
	pid_t pid;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(flag, sizeof(flag), "%s/seen", dir);
	snprintf(script, sizeof(script),
		 "echo '[3/10] compiling'; i=0; "
		 "while [ ! -e %s ] && [ $i -lt 300 ]; do sleep 0.1; "
		 "i=$((i+1)); done; rm -f %s; echo '[4/10] linking'", flag,
		 flag);
	pid = tcli_spawn(argv, srv.port, dir);
	for (int i = 0; i < 400 && progress != 30; i++) {
		json_object *race = tcli_get_race(srv.port, "lead");

		progress = race ? tcli_int(race, "progress") : -1;
		json_object_put(race);
		if (progress != 30)
			tcli_sleep_ms(50);
	}
	f = fopen(flag, "w");
	cr_assert_not_null(f);
	fclose(f);
	cr_assert_eq(tcli_wait(pid, dir, &r), 0);
	unlink(flag); /* the command removed it, unless it timed out */
	rmdir(dir);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	tcli_result_free(&r);
	cr_assert_eq(progress, 30,
		     "the first progress reached the board while the command "
		     "ran (last seen: %lld)", progress);
}

Test(cli_run, fixed_eta)
{
	struct cli_result r;
	json_object *race;

	RUN(&r, "run", "--http", "--id", "eta", "--eta", "600", "--", "true");
	cr_assert_eq(r.status, 0);
	tcli_result_free(&r);
	race = tcli_get_race(srv.port, "eta");
	cr_assert_eq(tcli_int(race, "eta_sec"), 600);
	json_object_put(race);
}

Test(cli_run, sigint_cancels)
{
	const char *argv[] = {"raceboard", "run", "--http", "--id", "int",
			      "--interval", "1", "--", "sh", "-c",
			      "echo 25%; exec sleep 30", NULL};
	char dir[] = "/tmp/raceboard-cli-XXXXXX";
	struct cli_result r;
	json_object *race = NULL;
	pid_t pid;

	cr_assert_not_null(mkdtemp(dir));
	pid = tcli_spawn(argv, srv.port, dir);
	for (int i = 0; i < 200 && !race; i++) {
		tcli_sleep_ms(50);
		race = tcli_get_race(srv.port, "int");
	}
	cr_assert_not_null(race, "the race was never created");
	json_object_put(race);
	tcli_sleep_ms(200);
	kill(pid, SIGINT);
	cr_assert_eq(tcli_wait(pid, dir, &r), 0);
	cr_assert_eq(r.status, 130, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "25%\n");
	tcli_result_free(&r);
	race = tcli_get_race(srv.port, "int");
	cr_assert_str_eq(tcli_str(race, "state"), "canceled");
	cr_assert_eq(tcli_int(race, "progress"), 25);
	assert_metadata(race, "130");
	cr_assert_str_eq(tcli_meta(race, "signal"), "2");
	json_object_put(race);
}

Test(cli_run, sigterm_cancels)
{
	const char *argv[] = {"raceboard", "run", "--http", "--id", "term",
			      "--", "sleep", "30", NULL};
	char dir[] = "/tmp/raceboard-cli-XXXXXX";
	struct cli_result r;
	json_object *race = NULL;
	pid_t pid;

	cr_assert_not_null(mkdtemp(dir));
	pid = tcli_spawn(argv, srv.port, dir);
	for (int i = 0; i < 200 && !race; i++) {
		tcli_sleep_ms(50);
		race = tcli_get_race(srv.port, "term");
	}
	json_object_put(race);
	kill(pid, SIGTERM);
	cr_assert_eq(tcli_wait(pid, dir, &r), 0);
	cr_assert_eq(r.status, 128 + SIGTERM);
	tcli_result_free(&r);
	race = tcli_get_race(srv.port, "term");
	cr_assert_str_eq(tcli_str(race, "state"), "canceled");
	json_object_put(race);
}

/* Megabytes of binary output, on both streams, arrive unchanged. */
Test(cli_run, big_output_is_byte_identical)
{
	char dir[] = "/tmp/raceboard-cli-XXXXXX", cmd[1024], file[64];
	struct cli_result direct, wrapped;
	json_object *race;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/blob", dir);
	snprintf(cmd, sizeof(cmd),
		 "head -c 6000000 /dev/urandom > %s; printf '\\n50%%%%\\r\\0' >> %s",
		 file, file);
	cr_assert_eq(tcli_sh(cmd, &direct), 0);
	cr_assert_eq(direct.status, 0);
	tcli_result_free(&direct);
	snprintf(cmd, sizeof(cmd), "cat %s; cat %s >&2; cat %s", file, file,
		 file);
	cr_assert_eq(tcli_sh(cmd, &direct), 0);
	RUN(&wrapped, "run", "--id", "big", "--", "sh", "-c", cmd);
	cr_assert_eq(wrapped.status, 0, "stderr: %.200s", wrapped.err);
	cr_assert_eq(wrapped.out_len, direct.out_len);
	cr_assert_eq(wrapped.out_len, 2 * (6000000 + 6));
	cr_assert(!memcmp(wrapped.out, direct.out, direct.out_len),
		  "stdout differs");
	cr_assert_eq(wrapped.err_len, direct.err_len);
	cr_assert(!memcmp(wrapped.err, direct.err, direct.err_len),
		  "stderr differs");
	tcli_result_free(&direct);
	tcli_result_free(&wrapped);
	race = tcli_get_race(srv.port, "big");
	cr_assert_str_eq(tcli_str(race, "state"), "passed");
	json_object_put(race);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

/* The server being down changes nothing but one line on stderr. */
Test(cli_run, server_down_changes_nothing)
{
	static const char script[] =
		"printf 'a 50%%\\nno newline'; echo e1 >&2; sleep 0.3; "
		"echo e2 >&2; exit 5";
	const char *argv[] = {"raceboard", "--server", "http://127.0.0.1:1",
			      "run", "--interval", "1", "--", "sh", "-c",
			      script, NULL};
	struct cli_result direct, wrapped;
	const char *warn;

	cr_assert_eq(tcli_sh(script, &direct), 0);
	cr_assert_eq(tcli_run(argv, 0, NULL, &wrapped), 0);
	cr_assert_eq(wrapped.status, direct.status);
	cr_assert_eq(wrapped.status, 5);
	cr_assert_str_eq(wrapped.out, direct.out);
	warn = strstr(wrapped.err, "raceboard: warning: ");
	cr_assert_not_null(warn, "stderr: %s", wrapped.err);
	cr_assert_null(strstr(warn + 1, "raceboard: "), "one warning only: %s",
		       wrapped.err);
	/* Without the warning line, stderr is the command's own. */
	memmove((char *)warn, strchr(warn, '\n') + 1,
		strlen(strchr(warn, '\n') + 1) + 1);
	cr_assert_str_eq(wrapped.err, direct.err);
	tcli_result_free(&direct);
	tcli_result_free(&wrapped);
}

/* A command that cannot start is reported like a shell would. */
Test(cli_run, missing_command_exits_127)
{
	struct cli_result r;
	json_object *race;

	RUN(&r, "run", "--http", "--id", "nope", "--",
	    "/nonexistent/raceboard-test");
	cr_assert_eq(r.status, 127);
	cr_assert(strstr(r.err, "cannot run"), "stderr: %s", r.err);
	tcli_result_free(&r);
	race = tcli_get_race(srv.port, "nope");
	cr_assert_str_eq(tcli_str(race, "state"), "failed");
	cr_assert_str_eq(tcli_meta(race, "exit_code"), "127");
	json_object_put(race);
}

/* The default transport (WebSocket, or REST when the server has none)
 * reports the same race. */
Test(cli_run, default_transport)
{
	struct cli_result r;
	json_object *race;

	RUN(&r, "run", "--id", "dflt", "--interval", "1", "--", "sh", "-c",
	    "echo '[1/4]'; sleep 1.2; echo '[3/4]'; sleep 1.2; exit 2");
	cr_assert_eq(r.status, 2, "stderr: %s", r.err);
	cr_assert_str_eq(r.err, "");
	tcli_result_free(&r);
	race = tcli_get_race(srv.port, "dflt");
	cr_assert_str_eq(tcli_str(race, "state"), "failed");
	cr_assert_eq(tcli_int(race, "progress"), 75);
	assert_metadata(race, "2");
	json_object_put(race);
}

/* By default the producer speaks WebSocket to the real server. */
Test(cli_run, websocket_producer)
{
	struct cli_result r;
	json_object *race;

	setenv("RACEBOARD_DEBUG", "1", 1);
	RUN(&r, "run", "--id", "ws1", "--interval", "1", "-m", "k=v", "--",
	    "sh", "-c", "echo '[2/8]'; sleep 1.3; echo '[6/8]'; sleep 1.3");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert(strstr(r.err, "create over websocket: ok"), "%s", r.err);
	cr_assert(strstr(r.err, "patch over websocket: ok"), "%s", r.err);
	cr_assert_null(strstr(r.err, "over rest"), "%s", r.err);
	cr_assert_null(strstr(r.err, "warning"), "%s", r.err);
	tcli_result_free(&r);
	race = tcli_get_race(srv.port, "ws1");
	cr_assert_str_eq(tcli_str(race, "state"), "passed");
	cr_assert_eq(tcli_int(race, "progress"), 100);
	cr_assert_str_eq(tcli_meta(race, "k"), "v");
	assert_metadata(race, "0");
	json_object_put(race);
}

/* The server restarts mid-run: the producer reconnects and resends the
 * latest state, and the race ends right. */
Test(cli_run, websocket_reconnects_after_restart)
{
	const char *argv[] = {"raceboard", "run", "--id", "re1", "--interval",
			      "1", "-m", "keep=me", "--", "sh", "-c",
			      "echo 10%; sleep 2; echo 40%; sleep 2; echo 70%; "
			      "sleep 1.5", NULL};
	char dir[] = "/tmp/raceboard-cli-XXXXXX", port[16];
	const char *same_port[] = {"--port", port, NULL};
	struct cli_result r;
	json_object *race = NULL;
	pid_t pid;

	setenv("RACEBOARD_DEBUG", "1", 1);
	cr_assert_not_null(mkdtemp(dir));
	snprintf(port, sizeof(port), "%d", srv.port);
	pid = tcli_spawn(argv, srv.port, dir);
	for (int i = 0; i < 200 && tcli_int(race, "progress") < 10; i++) {
		json_object_put(race);
		tcli_sleep_ms(50);
		race = tcli_get_race(srv.port, "re1");
	}
	json_object_put(race);
	cr_assert_eq(server_stop(&srv), 0);
	tcli_sleep_ms(300);
	cr_assert_eq(server_restart(&srv, same_port), 0);
	cr_assert_eq(srv.port, atoi(port));
	cr_assert_eq(tcli_wait(pid, dir, &r), 0);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "10%\n40%\n70%\n");
	cr_assert(strstr(r.err, "WebSocket lost"), "%s", r.err);
	cr_assert(strstr(strstr(r.err, "WebSocket lost"),
			 "create over websocket: ok"), "%s", r.err);
	tcli_result_free(&r);
	race = tcli_get_race(srv.port, "re1");
	cr_assert_str_eq(tcli_str(race, "state"), "passed");
	cr_assert_eq(tcli_int(race, "progress"), 100);
	cr_assert_str_eq(tcli_meta(race, "keep"), "me");
	assert_metadata(race, "0");
	json_object_put(race);
}

/* ---- the output tail (issue 14) ---------------------------------------- */

static json_object *output_of(json_object *race)
{
	json_object *o = NULL;

	json_object_object_get_ex(race, "output", &o);
	return o;
}

/* The final lines reach the race at exit, over each transport: a fast
 * command's 300 lines (the newest 200 kept) and its unfinished last line,
 * with colours and a long line as the page and the server expect them. */
static void final_lines(const char *id, int http)
{
	struct cli_result r;
	json_object *race, *out;
	size_t n;
	const char *argv_http[] = {"raceboard", "run", "--http", "--id", id,
				   "--interval", "60", "--", "sh", "-c", NULL,
				   NULL};
	const char *argv_ws[] = {"raceboard", "run", "--id", id, "--interval",
				 "60", "--", "sh", "-c", NULL, NULL};
	static const char script[] =
		"i=0; while [ $i -lt 300 ]; do echo \"line $i\"; i=$((i+1)); "
		"done; printf '\\033[31mred\\033[0m\\n'; "
		"head -c 3000 /dev/zero | tr '\\0' x; echo; "
		"printf 'no newline at the end'; exit 3";

	argv_http[10] = script;
	argv_ws[9] = script;
	cr_assert_eq(tcli_run(http ? argv_http : argv_ws, srv.port, NULL, &r),
		     0);
	cr_assert_eq(r.status, 3, "stderr: %s", r.err);
	cr_assert_null(strstr(r.err, "warning"), "%s", r.err);
	tcli_result_free(&r);
	race = tcli_get_race(srv.port, id);
	cr_assert_str_eq(tcli_str(race, "state"), "failed");
	out = output_of(race);
	cr_assert_not_null(out, "the race has an output tail");
	n = json_object_array_length(out);
	cr_assert_eq(n, 200);
#define LINE(i) json_object_get_string(json_object_array_get_idx(out, (i)))
	cr_assert_str_eq(LINE(n - 1), "no newline at the end");
	cr_assert_eq(strlen(LINE(n - 2)), PROTO_OUTPUT_LINE_MAX);
	cr_assert_str_eq(LINE(n - 2) + PROTO_OUTPUT_LINE_MAX - 3,
			 "\xe2\x80\xa6");
	cr_assert_str_eq(LINE(n - 3), "\x1b[31mred\x1b[0m");
	cr_assert_str_eq(LINE(n - 4), "line 299");
	cr_assert_str_eq(LINE(0), "line 103");
#undef LINE
	json_object_put(race);
}

Test(cli_run, final_output_lines_over_rest)
{
	final_lines("tail-rest", 1);
}

Test(cli_run, final_output_lines_over_websocket)
{
	final_lines("tail-ws", 0);
}

/* While the command runs, its lines reach the board with the paced
 * updates (--interval 1), not only at exit: the command waits for the
 * test to see "step 2" on the board (or 30 s, when the test fails). */
Test(cli_run, output_lines_are_sent_while_the_command_runs)
{
	char dir[] = "/tmp/raceboard-cli-XXXXXX", script[512], flag[64];
	const char *argv[] = {"raceboard", "run", "--id", "live-tail",
			      "--interval", "1", "--", "sh", "-c", script,
			      NULL};
	struct cli_result r;
	int seen = 0;
	long long changes = 0, before = tcli_seq(srv.port);
	pid_t pid;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(flag, sizeof(flag), "%s/seen", dir);
	snprintf(script, sizeof(script),
		 "echo 'step 1'; echo 'step 2'; i=0; "
		 "while [ ! -e %s ] && [ $i -lt 300 ]; do sleep 0.1; "
		 "i=$((i+1)); done; rm -f %s; echo 'step 3'", flag, flag);
	pid = tcli_spawn(argv, srv.port, dir);
	for (int i = 0; i < 600 && !seen; i++) {
		json_object *race = tcli_get_race(srv.port, "live-tail");
		json_object *out = race ? output_of(race) : NULL;
		size_t n = out ? json_object_array_length(out) : 0;

		seen = n == 2 && !strcmp(json_object_get_string(
			json_object_array_get_idx(out, 1)), "step 2");
		json_object_put(race);
		if (!seen)
			tcli_sleep_ms(50);
	}
	changes = tcli_seq(srv.port) - before;
	f = fopen(flag, "w");
	cr_assert_not_null(f);
	fclose(f);
	cr_assert_eq(tcli_wait(pid, dir, &r), 0);
	unlink(flag);
	rmdir(dir);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	tcli_result_free(&r);
	cr_assert(seen, "the lines reached the board while the command ran");
	/* Paced: the create and at most a couple of updates, not a write
	 * per line or per poll. */
	cr_assert_leq(changes, 3, "%lld changes before the lines showed",
		      changes);
	{
		json_object *race = tcli_get_race(srv.port, "live-tail");
		json_object *out = output_of(race);

		cr_assert_eq(json_object_array_length(out), 3);
		cr_assert_str_eq(json_object_get_string(
			json_object_array_get_idx(out, 2)), "step 3");
		json_object_put(race);
	}
}

/*
 * Runs `raceboard ARGS` with a pseudo-terminal as its stdin, stdout and
 * stderr (as a shell in a terminal would), collecting what the terminal
 * shows until it exits. Returns the exit status.
 */
static int run_in_pty(const char *const *argv, char *out, size_t cap)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY), st = 0;
	size_t len = 0;
	char url[64];
	pid_t pid;

	cr_assert_geq(master, 0);
	cr_assert_eq(grantpt(master), 0);
	cr_assert_eq(unlockpt(master), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int slave;

		setsid();
		slave = open(ptsname(master), O_RDWR);
		if (slave < 0)
			_exit(126);
		ioctl(slave, TIOCSCTTY, 0);
		dup2(slave, 0);
		dup2(slave, 1);
		dup2(slave, 2);
		close(master);
		snprintf(url, sizeof url, "http://127.0.0.1:%d", srv.port);
		setenv("RACEBOARD_SERVER", url, 1);
		execv(tcli_bin(), (char *const *)argv);
		_exit(127);
	}
	for (;;) {
		struct pollfd p = {master, POLLIN, 0};
		ssize_t n;

		if (poll(&p, 1, 30000) <= 0)
			break;
		n = read(master, out + len, cap - 1 - len);
		if (n <= 0)
			break; /* EIO: the last writer closed the terminal */
		len += (size_t)n;
		if (len == cap - 1)
			break;
	}
	out[len] = '\0';
	waitpid(pid, &st, 0);
	close(master);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* On a terminal the command gets a pseudo-terminal too (output
 * processing left to the outer terminal, which shows "\r\n"): the race
 * gets the lines as the command wrote them, and the colour codes it
 * printed because it saw a terminal stay as sent (nothing is stripped on
 * the wire; the page strips them when it shows them). */
Test(cli_run, output_lines_under_a_terminal_keep_what_it_wrote)
{
	const char *argv[] = {"raceboard", "run", "--id", "tail-pty", "--",
			      "sh", "-c",
			      "test -t 1 && printf '\\033[1mtty\\033[0m\\n'; "
			      "echo plain; printf 'end'", NULL};
	char out[4096];
	json_object *race, *o = NULL;
	size_t n;

	cr_assert_eq(run_in_pty(argv, out, sizeof out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "plain\r\n"), "%s", out);
	race = tcli_get_race(srv.port, "tail-pty");
	cr_assert_str_eq(tcli_str(race, "state"), "passed");
	cr_assert(json_object_object_get_ex(race, "output", &o));
	n = json_object_array_length(o);
	cr_assert_eq(n, 3, "%s", json_object_to_json_string(o));
	cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(o, 0)),
			 "\x1b[1mtty\x1b[0m");
	cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(o, 1)),
			 "plain");
	cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(o, 2)),
			 "end");
	json_object_put(race);
}
