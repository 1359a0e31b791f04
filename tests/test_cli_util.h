/*
 * test_cli_util.h - helpers for the raceboard CLI tests: run the real
 * binary (RACEBOARD_CLI_BIN) with captured output, and read races back
 * from the real server over REST.
 */
#ifndef RACEBOARD_TESTS_CLI_UTIL_H
#define RACEBOARD_TESTS_CLI_UTIL_H

#include <json-c/json.h>
#include <stddef.h>
#include <sys/types.h>

struct cli_result {
	int status;   /* exit status, or 128+N when killed by signal N */
	char *out;    /* owned, NUL-terminated */
	size_t out_len;
	char *err;    /* owned, NUL-terminated */
	size_t err_len;
};

/* Path of the raceboard binary under test. */
const char *tcli_bin(void);

/*
 * Runs `argv` (argv[0] is ignored and replaced by the CLI binary, or
 * used as is when `raw` is set) with RACEBOARD_SERVER=http://127.0.0.1:port
 * (port 0 leaves the environment alone), optional stdin text, and waits.
 * Returns 0 and fills *r. Free with tcli_result_free().
 */
int tcli_run(const char *const *argv, int port, const char *stdin_text,
	     struct cli_result *r);

/* Like tcli_run, but `sh -c SCRIPT` without the CLI. */
int tcli_sh(const char *script, struct cli_result *r);

/*
 * Starts the CLI with output into files in `dir` (out, err) and returns
 * its pid, for tests that signal it. Collect with tcli_wait(), which
 * then removes the files and `dir` itself.
 */
pid_t tcli_spawn(const char *const *argv, int port, const char *dir);
int tcli_wait(pid_t pid, const char *dir, struct cli_result *r);

void tcli_result_free(struct cli_result *r);

/* GET /race/{id} from the server on port: the owned race, or NULL. */
json_object *tcli_get_race(int port, const char *id);

/* Borrowed string member (NULL when absent); integer member (-1). */
const char *tcli_str(json_object *o, const char *key);
long long tcli_int(json_object *o, const char *key);

/* The metadata value for key (borrowed), or NULL. */
const char *tcli_meta(json_object *race, const char *key);

/* GET /health "seq". */
long long tcli_seq(int port);

/* Sleeps ms milliseconds. */
void tcli_sleep_ms(int ms);

#endif
