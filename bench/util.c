/*
 * util.c - the bench's clock, latency histogram, /proc readers and the
 * server process it starts and stops.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

int64_t bn_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void bn_sleep_us(int64_t us)
{
	struct timespec ts = {.tv_sec = us / 1000000,
			      .tv_nsec = (us % 1000000) * 1000};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int bn_hist_init(struct bn_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->b = calloc(BN_HIST_FINE + BN_HIST_COARSE, sizeof(*h->b));
	return h->b ? 0 : -1;
}

void bn_hist_fini(struct bn_hist *h)
{
	free(h->b);
	h->b = NULL;
}

void bn_hist_merge(struct bn_hist *into, const struct bn_hist *from)
{
	for (size_t i = 0; i < BN_HIST_FINE + BN_HIST_COARSE; i++)
		into->b[i] += from->b[i];
	into->n += from->n;
	into->sum += from->sum;
	if (from->max > into->max)
		into->max = from->max;
}

double bn_hist_q(const struct bn_hist *h, double q)
{
	uint64_t want, seen = 0;

	if (!h->n)
		return 0;
	want = (uint64_t)(q * (double)h->n);
	if (want >= h->n)
		want = h->n - 1;
	for (size_t i = 0; i < BN_HIST_FINE + BN_HIST_COARSE; i++) {
		seen += h->b[i];
		if (seen > want)
			return i < BN_HIST_FINE
				       ? (double)i
				       : (double)(i - BN_HIST_FINE +
						  BN_HIST_FINE / 1000) * 1000.0;
	}
	return (double)h->max;
}

void bn_raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

double bn_proc_cpu(pid_t pid)
{
	char path[64], buf[2048], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after the command name (which may hold spaces). */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

long bn_proc_status_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t fl = strlen(field);
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, fl) && line[fl] == ':') {
			kb = strtol(line + fl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

double bn_loadavg(void)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

double bn_self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static int read_port(const char *path)
{
	FILE *f = fopen(path, "r");
	int port = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%d", &port) != 1)
		port = 0;
	fclose(f);
	return port;
}

int bn_server_start(struct bn_server *srv, const char *bin, int no_sync,
		    const char *const *extra, int timeout_ms)
{
	char port_file[320];
	const char *argv[48];
	int argc = 0, status;
	int64_t deadline;

	if (!srv->dir[0]) {
		snprintf(srv->dir, sizeof(srv->dir), "/tmp/raceboard-bench-XXXXXX");
		if (!mkdtemp(srv->dir)) {
			perror("mkdtemp");
			srv->dir[0] = '\0';
			return -1;
		}
		snprintf(srv->data_dir, sizeof(srv->data_dir), "%s/data",
			 srv->dir);
		snprintf(srv->log_path, sizeof(srv->log_path),
			 "%s/server.log", srv->dir);
	}
	snprintf(port_file, sizeof(port_file), "%s/port", srv->dir);
	unlink(port_file);
	argv[argc++] = bin;
	argv[argc++] = "--port";
	argv[argc++] = "0";
	argv[argc++] = "--port-file";
	argv[argc++] = port_file;
	argv[argc++] = "--data-dir";
	argv[argc++] = srv->data_dir;
	argv[argc++] = "--log-level";
	argv[argc++] = "warn";
	if (no_sync)
		argv[argc++] = "--no-sync";
	for (int i = 0; extra && extra[i] && argc < 46; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;

	srv->pid = fork();
	if (srv->pid < 0)
		return -1;
	if (srv->pid == 0) {
		int fd = open(srv->log_path, O_WRONLY | O_CREAT | O_APPEND,
			      0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	deadline = bn_now_us() + (int64_t)timeout_ms * 1000;
	while (bn_now_us() < deadline) {
		srv->port = read_port(port_file);
		if (srv->port > 0)
			return 0;
		if (waitpid(srv->pid, &status, WNOHANG) == srv->pid) {
			fprintf(stderr, "bench: the server exited; see %s\n",
				srv->log_path);
			srv->pid = 0;
			return -1;
		}
		bn_sleep_us(200);
	}
	fprintf(stderr, "bench: the server did not start in %d ms\n",
		timeout_ms);
	kill(srv->pid, SIGKILL);
	waitpid(srv->pid, &status, 0);
	srv->pid = 0;
	return -1;
}

void bn_server_stop(struct bn_server *srv)
{
	int status;

	if (srv->pid <= 0)
		return;
	kill(srv->pid, SIGTERM);
	for (int i = 0; i < 1000; i++) {
		if (waitpid(srv->pid, &status, WNOHANG) == srv->pid) {
			srv->pid = 0;
			return;
		}
		bn_sleep_us(10000);
	}
	kill(srv->pid, SIGKILL);
	waitpid(srv->pid, &status, 0);
	srv->pid = 0;
}

void bn_server_cleanup(struct bn_server *srv)
{
	char cmd[300];

	if (!srv->dir[0] || strncmp(srv->dir, "/tmp/raceboard-bench-", 21))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", srv->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench: could not remove %s\n", srv->dir);
	srv->dir[0] = '\0';
}

int bn_start(const struct bn_opts *o, struct bn_server *srv)
{
	memset(srv, 0, sizeof(*srv));
	if (!o->server_bin) {
		srv->port = o->port;
		return srv->port > 0 ? 0 : -1;
	}
	return bn_server_start(srv, o->server_bin, o->no_sync, o->extra,
			       60000);
}

void bn_finish(struct bn_server *srv)
{
	bn_server_stop(srv);
	bn_server_cleanup(srv);
}
