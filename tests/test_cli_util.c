/*
 * test_cli_util.c - runs the raceboard binary for the CLI tests and reads
 * races back over REST (with the CLI's own HTTP client from cli/http.c).
 */
#include "test_cli_util.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

const char *tcli_bin(void)
{
	const char *b = getenv("RACEBOARD_CLI_BIN");

	return b ? b : "build/cli/raceboard";
}

void tcli_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void exec_child(const char *const *argv, int port, int raw)
{
	const char *args[64];
	char url[64];
	int n = 0;

	if (port) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
		setenv("RACEBOARD_SERVER", url, 1);
	}
	args[n++] = raw ? argv[0] : tcli_bin();
	for (int i = 1; argv[i] && n < 63; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	execv(args[0], (char *const *)args);
	_exit(127);
}

static int decode_status(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Reads both pipes to the end while feeding stdin_text. */
static void collect(int ofd, int efd, int ifd, const char *in,
		    struct cli_result *r)
{
	size_t ocap = 1 << 16, ecap = 1 << 12, in_left = in ? strlen(in) : 0;

	r->out = malloc(ocap);
	r->err = malloc(ecap);
	if (ifd >= 0 && !in_left) {
		close(ifd);
		ifd = -1;
	}
	while (ofd >= 0 || efd >= 0) {
		struct pollfd p[3] = {{ofd, POLLIN, 0}, {efd, POLLIN, 0},
				      {ifd, POLLOUT, 0}};

		if (poll(p, 3, -1) < 0)
			continue;
		for (int i = 0; i < 2; i++) {
			int *fd = i ? &efd : &ofd;
			char **buf = i ? &r->err : &r->out;
			size_t *len = i ? &r->err_len : &r->out_len;
			size_t *cap = i ? &ecap : &ocap;
			ssize_t n;

			if (*fd < 0 || !(p[i].revents & (POLLIN | POLLHUP)))
				continue;
			if (*len + 65536 + 1 > *cap) {
				*cap = 2 * (*len + 65536 + 1);
				*buf = realloc(*buf, *cap);
			}
			n = read(*fd, *buf + *len, 65536);
			if (n <= 0) {
				close(*fd);
				*fd = -1;
			} else {
				*len += (size_t)n;
			}
		}
		if (ifd >= 0 && (p[2].revents & (POLLOUT | POLLERR))) {
			ssize_t w = write(ifd, in, in_left);

			if (w > 0) {
				in += w;
				in_left -= (size_t)w;
			}
			if (w <= 0 || !in_left) {
				close(ifd);
				ifd = -1;
			}
		}
	}
	if (ifd >= 0)
		close(ifd);
	r->out[r->out_len] = '\0';
	r->err[r->err_len] = '\0';
}

static int run_impl(const char *const *argv, int port, const char *in,
		    int raw, struct cli_result *r)
{
	int o[2], e[2], i[2], st;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	if (pipe(o) || pipe(e) || pipe(i))
		return -1;
	signal(SIGPIPE, SIG_IGN);
	pid = fork();
	if (pid == 0) {
		dup2(i[0], 0);
		dup2(o[1], 1);
		dup2(e[1], 2);
		close(o[0]); close(o[1]); close(e[0]); close(e[1]);
		close(i[0]); close(i[1]);
		exec_child(argv, port, raw);
	}
	close(o[1]);
	close(e[1]);
	close(i[0]);
	collect(o[0], e[0], i[1], in, r);
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	r->status = decode_status(st);
	return 0;
}

int tcli_run(const char *const *argv, int port, const char *stdin_text,
	     struct cli_result *r)
{
	return run_impl(argv, port, stdin_text, 0, r);
}

int tcli_sh(const char *script, struct cli_result *r)
{
	const char *argv[] = {"/bin/sh", "-c", script, NULL};

	return run_impl(argv, 0, NULL, 1, r);
}

pid_t tcli_spawn(const char *const *argv, int port, const char *dir)
{
	pid_t pid = fork();

	if (pid == 0) {
		char p[512];
		int fd;

		snprintf(p, sizeof(p), "%s/out", dir);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		snprintf(p, sizeof(p), "%s/err", dir);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 2);
		fd = open("/dev/null", O_RDONLY);
		dup2(fd, 0);
		exec_child(argv, port, 0);
	}
	return pid;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	*len = 0;
	if (!f)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

int tcli_wait(pid_t pid, const char *dir, struct cli_result *r)
{
	char p[512];
	int st;

	memset(r, 0, sizeof(*r));
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	r->status = decode_status(st);
	snprintf(p, sizeof(p), "%s/out", dir);
	r->out = slurp(p, &r->out_len);
	unlink(p);
	snprintf(p, sizeof(p), "%s/err", dir);
	r->err = slurp(p, &r->err_len);
	unlink(p);
	rmdir(dir);
	return 0;
}

void tcli_result_free(struct cli_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

static json_object *get_json(int port, const char *path)
{
	struct cli_url u;
	struct cli_http_response res;
	char url[64];
	json_object *o = NULL;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	if (cli_url_parse(url, &u) ||
	    cli_http_request(&u, NULL, "GET", path, NULL, 10000, &res))
		return NULL;
	if (res.status == 200)
		o = json_tokener_parse(res.body);
	cli_http_response_fini(&res);
	return o;
}

json_object *tcli_get_race(int port, const char *id)
{
	char path[512];

	snprintf(path, sizeof(path), "/race/%s", id);
	return get_json(port, path);
}

long long tcli_seq(int port)
{
	json_object *h = get_json(port, "/health");
	long long seq = tcli_int(h, "seq");

	json_object_put(h);
	return seq;
}

const char *tcli_str(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return NULL;
	return json_object_get_string(v);
}

long long tcli_int(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return -1;
	return (long long)json_object_get_int64(v);
}

const char *tcli_meta(json_object *race, const char *key)
{
	json_object *m;

	if (!race || !json_object_object_get_ex(race, "metadata", &m))
		return NULL;
	return tcli_str(m, key);
}
