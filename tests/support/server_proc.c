/*
 * server_proc.c - start, stop and kill the real server binary.
 *
 * The binary's path comes from RACEBOARD_SERVER_BIN (set by meson). The
 * server writes its port to a file once it listens (--port-file); we poll
 * for that file, then for a TCP connect.
 */
#include "server_proc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
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

static int spawn(struct server_proc *s, const char *const *extra)
{
	const char *bin = getenv("RACEBOARD_SERVER_BIN");
	char port_file[320];
	const char *argv[64];
	int n = 0;

	if (!bin)
		bin = "build/server/raceboard-server";
	snprintf(port_file, sizeof(port_file), "%s/port", s->dir);
	unlink(port_file);
	argv[n++] = bin;
	argv[n++] = "--port";
	argv[n++] = "0";
	argv[n++] = "--data-dir";
	argv[n++] = s->data_dir;
	argv[n++] = "--port-file";
	argv[n++] = port_file;
	argv[n++] = "--log-level";
	argv[n++] = "warn";
	for (; extra && *extra && n < 62; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;

	s->pid = fork();
	if (s->pid < 0)
		return -1;
	if (s->pid == 0) {
		int fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	return 0;
}

int server_wait_ready(struct server_proc *s, int timeout_ms)
{
	char port_file[320];

	snprintf(port_file, sizeof(port_file), "%s/port", s->dir);
	for (int i = 0; i < timeout_ms / 20; i++) {
		int st;

		s->port = read_port(port_file);
		if (s->port > 0)
			return 0;
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = 0;
			return -1;
		}
		sleep_ms(20);
	}
	return -1;
}

/* Up to 20 s under sanitizers. */
static int launch(struct server_proc *s, const char *const *extra)
{
	return spawn(s, extra) ? -1 : server_wait_ready(s, 20000);
}

int server_spawn(struct server_proc *s, const char *const *extra)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/raceboard-test-XXXXXX");
	if (!mkdtemp(s->dir))
		return -1;
	snprintf(s->data_dir, sizeof(s->data_dir), "%s/data", s->dir);
	snprintf(s->log_path, sizeof(s->log_path), "%s/server.log", s->dir);
	return spawn(s, extra);
}

int server_start(struct server_proc *s, const char *const *extra)
{
	return server_spawn(s, extra) ? -1 : server_wait_ready(s, 20000);
}

int server_restart(struct server_proc *s, const char *const *extra)
{
	return launch(s, extra);
}

int server_stop(struct server_proc *s)
{
	int st = 0;

	if (s->pid <= 0)
		return -1;
	kill(s->pid, SIGTERM);
	if (waitpid(s->pid, &st, 0) != s->pid)
		return -1;
	s->pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void server_kill(struct server_proc *s)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
}

/* The whole log, NUL-terminated (caller frees), or NULL. */
static char *read_log(const struct server_proc *s)
{
	FILE *f = fopen(s->log_path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	do {
		if (cap - len < 4096) {
			char *p = realloc(buf, cap = cap ? 2 * cap : 65536);

			if (!p)
				break;
			buf = p;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	if (buf)
		buf[len] = '\0';
	return buf;
}

int server_log_has(const struct server_proc *s, const char *what, int ms)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		char *log = read_log(s);
		int found = log && strstr(log, what);

		free(log);
		if (found)
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000 >= ms)
			return 0;
		sleep_ms(20);
	}
}

void server_cleanup(struct server_proc *s)
{
	char cmd[400];

	if (s->pid > 0)
		server_kill(s);
	if (s->dir[0] && !getenv("RACEBOARD_KEEP_TEST_DIRS")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", s->dir);
	}
}

int server_rss_meaningful(void)
{
	return !getenv("RACEBOARD_RSS_UNRELIABLE");
}

long server_rss_kb(const struct server_proc *s)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)s->pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* The inodes of pid's sockets; returns how many (at most max). */
static int socket_inodes(pid_t pid, unsigned long *ino, int max)
{
	char path[64], link[64], *end;
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while (n < max && (de = readdir(d))) {
		char fdpath[330];
		ssize_t len;

		snprintf(fdpath, sizeof(fdpath), "%s/%s", path, de->d_name);
		len = readlink(fdpath, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (strncmp(link, "socket:[", 8))
			continue;
		ino[n] = strtoul(link + 8, &end, 10);
		if (*end == ']')
			n++;
	}
	closedir(d);
	return n;
}

/* Adds pid's listening sockets found in one /proc/PID/net/tcp* table. */
static int scan_table(pid_t pid, int v6, const unsigned long *ino, int nino,
		      char (*out)[64], int n, int max)
{
	char path[64], line[512], hex[40], ip[INET6_ADDRSTRLEN];
	unsigned port, st;
	unsigned long inode;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/net/tcp%s", (int)pid,
		 v6 ? "6" : "");
	f = fopen(path, "r");
	if (!f)
		return n;
	while (n < max && fgets(line, sizeof(line), f)) {
		unsigned char addr[16];
		int mine = 0;

		if (sscanf(line, " %*d: %39[0-9A-Fa-f]:%x %*s %x %*s %*s %*s "
			   "%*s %*s %lu", hex, &port, &st, &inode) != 4 ||
		    st != 0x0A)
			continue;
		for (int i = 0; i < nino; i++)
			mine |= ino[i] == inode;
		if (!mine || strlen(hex) != (v6 ? 32u : 8u))
			continue;
		/* Each 32-bit word is printed as the number it is in memory. */
		for (int w = 0; w < (v6 ? 4 : 1); w++) {
			char word[9];
			uint32_t v;

			memcpy(word, hex + 8 * w, 8);
			word[8] = '\0';
			v = (uint32_t)strtoul(word, NULL, 16);
			memcpy(addr + 4 * w, &v, 4);
		}
		inet_ntop(v6 ? AF_INET6 : AF_INET, addr, ip, sizeof(ip));
		snprintf(out[n++], 64, v6 ? "[%s]:%u" : "%s:%u", ip, port);
	}
	fclose(f);
	return n;
}

int server_listening(const struct server_proc *s, char (*out)[64], int max)
{
	unsigned long ino[256];
	int nino = socket_inodes(s->pid, ino, 256), n;

	if (nino < 0)
		return -1;
	n = scan_table(s->pid, 0, ino, nino, out, 0, max);
	return scan_table(s->pid, 1, ino, nino, out, n, max);
}

/*
 * Runs the binary once with `args` (NULL-terminated) on a fresh data dir,
 * waits for it to exit (at most 20 s) and returns its exit code, with its
 * stdout and stderr in out (always NUL-terminated); -1 on failure.
 */
int server_run_once(const char *const *args, char *out, size_t cap)
{
	const char *bin = getenv("RACEBOARD_SERVER_BIN");
	char cmd[2048], dir[] = "/tmp/raceboard-once-XXXXXX";
	size_t n;
	FILE *p;
	int st;

	out[0] = '\0';
	if (!bin || !mkdtemp(dir))
		return -1;
	n = (size_t)snprintf(cmd, sizeof(cmd), "timeout 20 %s --port 0 "
			     "--data-dir %s/data", bin, dir);
	for (; *args && n < sizeof(cmd); args++)
		n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, " %s", *args);
	if (n >= sizeof(cmd))
		return -1;
	snprintf(cmd + n, sizeof(cmd) - n, " 2>&1; st=$?; rm -rf %s; "
		 "exit $st", dir);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
