/*
 * test_server_log.c - the server's log lines (server/log.h): whole lines
 * from several threads at once, the level filter, and the cut of an
 * over-long line. lws's own formatter (one static 256-byte buffer in
 * Debian's build) fails the first check: its lines are cut and mixed.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define THREADS 4
#define LINES 2000
#define BODY 600

/* Sends stderr to a temporary file for the test; returns the file. */
static FILE *capture_stderr(int *saved)
{
	FILE *f = tmpfile();

	cr_assert_not_null(f);
	fflush(stderr);
	*saved = dup(STDERR_FILENO);
	cr_assert(*saved >= 0);
	cr_assert(dup2(fileno(f), STDERR_FILENO) >= 0);
	return f;
}

static void restore_stderr(int saved)
{
	fflush(stderr);
	cr_assert(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
}

/* Line i of thread t: its numbers, then BODY copies of one letter. */
static void expected(int t, int i, char *out, size_t cap)
{
	char body[BODY + 1];

	memset(body, 'a' + t, BODY);
	body[BODY] = '\0';
	snprintf(out, cap, "raceboard-server notice: t%d n%d %s\n", t, i,
		 body);
}

static void *log_lines(void *arg)
{
	int t = (int)(intptr_t)arg;
	char body[BODY + 1];

	memset(body, 'a' + t, BODY);
	body[BODY] = '\0';
	for (int i = 0; i < LINES; i++)
		srv_log_notice("t%d n%d %s\n", t, i, body);
	return NULL;
}

Test(server_log, lines_from_several_threads_stay_whole)
{
	static char line[4096], want[4096];
	int next[THREADS] = { 0 }, saved, total = 0;
	pthread_t th[THREADS];
	FILE *f;

	srv_log_setup(2);
	f = capture_stderr(&saved);
	for (int t = 0; t < THREADS; t++)
		cr_assert_eq(pthread_create(&th[t], NULL, log_lines,
					    (void *)(intptr_t)t), 0);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	restore_stderr(saved);

	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		int t = -1;

		sscanf(line, "raceboard-server notice: t%d", &t);
		cr_assert(t >= 0 && t < THREADS, "a mixed line: %.80s", line);
		expected(t, next[t]++, want, sizeof(want));
		cr_assert_str_eq(line, want, "thread %d's line %d", t,
				 next[t] - 1);
		total++;
	}
	cr_assert_eq(total, THREADS * LINES);
	fclose(f);
}

Test(server_log, the_level_decides_what_is_shown)
{
	static char text[8192];
	size_t n;
	int saved;
	FILE *f;

	srv_log_setup(1);  /* warn: errors and warnings only */
	f = capture_stderr(&saved);
	srv_log_err("e%d\n", 1);
	srv_log_warn("w%d\n", 2);
	srv_log_notice("n%d\n", 3);
	srv_log_info("i%d\n", 4);
	restore_stderr(saved);
	rewind(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	cr_assert_str_eq(text, "raceboard-server error: e1\n"
			       "raceboard-server warn: w2\n");
	fclose(f);
}

Test(server_log, an_over_long_line_is_cut_and_says_so)
{
	static char text[2 * SRV_LOG_LINE_MAX], body[2 * SRV_LOG_LINE_MAX];
	const char *tag = "raceboard-server notice: ";
	size_t n;
	int saved;
	FILE *f;

	memset(body, 'x', sizeof(body) - 1);
	srv_log_setup(2);
	f = capture_stderr(&saved);
	srv_log_notice("%s\n", body);
	restore_stderr(saved);
	rewind(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	cr_assert_eq(n, strlen(tag) + SRV_LOG_LINE_MAX - 1);
	cr_assert_eq(strncmp(text, tag, strlen(tag)), 0);
	cr_assert_str_eq(text + n - 4, "...\n");
	cr_assert_eq(text[n - 5], 'x');
	fclose(f);
}
