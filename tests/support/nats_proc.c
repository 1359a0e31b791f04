/*
 * nats_proc.c - start and stop a real nats-server for a test.
 *
 * The server picks its client port (-p -1) and reports it in a ports file
 * (--ports_file_dir); we poll for that file, then for a TCP connect.
 */
#include "nats_proc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* The client port from "<dir>/nats-server_<pid>.ports", or 0. */
static int read_port(const struct nats_proc *n)
{
	char path[400], text[512];
	const char *p;
	FILE *f;
	size_t len;

	snprintf(path, sizeof(path), "%s/nats-server_%d.ports", n->dir,
		 (int)n->pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = '\0';
	p = strstr(text, "nats://127.0.0.1:");
	return p ? atoi(p + strlen("nats://127.0.0.1:")) : 0;
}

static int accepts(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Starts the server on `port` (0: one it picks). */
static int launch(struct nats_proc *n, int port)
{
	char store[300], log[300], parg[16], rarg[48], marg[16];
	const char *argv[24];
	int argc = 0;

	if (!n->dir[0]) {
		snprintf(n->dir, sizeof(n->dir), "/tmp/rb-nats-XXXXXX");
		if (!mkdtemp(n->dir))
			return -1;
	}
	snprintf(store, sizeof(store), "%s/js", n->dir);
	snprintf(log, sizeof(log), "%s/log", n->dir);
	snprintf(parg, sizeof(parg), "%d", port ? port : -1);
	n->port = port;
	n->pid = fork();
	if (n->pid < 0)
		return -1;
	if (n->pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		argv[argc++] = "nats-server";
		argv[argc++] = "-js";
		argv[argc++] = "-a";
		argv[argc++] = "127.0.0.1";
		argv[argc++] = "-p";
		argv[argc++] = parg;
		argv[argc++] = "-sd";
		argv[argc++] = store;
		argv[argc++] = "--ports_file_dir";
		argv[argc++] = n->dir;
		if (n->routes[0]) {
			snprintf(rarg, sizeof(rarg), "nats://127.0.0.1:%d",
				 n->route_port);
			snprintf(marg, sizeof(marg), "%d", n->mon_port);
			argv[argc++] = "-n";
			argv[argc++] = n->name;
			argv[argc++] = "--cluster_name";
			argv[argc++] = "rbtest";
			argv[argc++] = "--cluster";
			argv[argc++] = rarg;
			argv[argc++] = "--routes";
			argv[argc++] = n->routes;
			argv[argc++] = "-m";
			argv[argc++] = marg;
		}
		argv[argc] = NULL;
		execvp("nats-server", (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		if (!n->port)
			n->port = read_port(n);
		if (n->port && accepts(n->port)) {
			snprintf(n->url, sizeof(n->url),
				 "nats://127.0.0.1:%d", n->port);
			return 0;
		}
		if (waitpid(n->pid, NULL, WNOHANG) == n->pid) {
			n->pid = 0;
			return -1;
		}
		sleep_ms(50);
	}
	nats_kill(n);
	return -1;
}

int nats_start(struct nats_proc *n)
{
	return launch(n, 0);
}

int nats_restart(struct nats_proc *n)
{
	return n->port ? launch(n, n->port) : -1;
}

static void stop_with(struct nats_proc *n, int sig)
{
	if (n->pid <= 0)
		return;
	kill(n->pid, sig);
	waitpid(n->pid, NULL, 0);
	n->pid = 0;
}

void nats_kill(struct nats_proc *n)
{
	stop_with(n, SIGKILL);
}

void nats_stop(struct nats_proc *n)
{
	stop_with(n, SIGTERM);
}

void nats_cleanup(struct nats_proc *n)
{
	char cmd[300];

	nats_kill(n);
	if (n->dir[0] && strncmp(n->dir, "/tmp/rb-nats-", 13) == 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", n->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", n->dir);
	}
}

/*
 * A loopback port that is free right now, drawn below the kernel's
 * ephemeral range (32768 and up on Linux): a port the kernel picked could
 * be handed out again, to another test or to an outgoing connection, before
 * nats-server binds it; one below the range goes only to who asks for it.
 */
static int free_port(void)
{
	static unsigned seed;
	struct sockaddr_in sa = {.sin_family = AF_INET};

	if (!seed)
		seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	for (int tries = 0; tries < 100; tries++) {
		int port = 20000 + (int)(rand_r(&seed) % 12000);
		int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

		if (fd < 0)
			return 0;
		sa.sin_port = htons((uint16_t)port);
		ok = !bind(fd, (struct sockaddr *)&sa, sizeof(sa));
		close(fd);
		if (ok)
			return port;
	}
	return 0;
}

int nats_monitor_get(const struct nats_proc *n, const char *path, char *buf,
		     size_t cap)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)n->mon_port)};
	char req[256];
	size_t len = 0;
	ssize_t r;
	const char *body;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = {2, 0};

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
		 path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		close(fd);
		return -1;
	}
	while (len + 1 < cap && (r = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	buf[len] = '\0';
	if (strncmp(buf, "HTTP/1.", 7) || strncmp(buf + 9, "200", 3))
		return -1;
	body = strstr(buf, "\r\n\r\n");
	if (!body)
		return -1;
	memmove(buf, body + 4, strlen(body + 4) + 1);
	return 0;
}

/* Whether a /jsz reply names the JetStream meta group's leader. */
static int has_meta_leader(const char *jsz)
{
	const char *meta = strstr(jsz, "\"meta_cluster\"");
	const char *leader = meta ? strstr(meta, "\"leader\"") : NULL;
	const char *value = leader ? strchr(leader + 8, '"') : NULL;

	return value && value[1] != '"';
}

static int cluster_start_once(struct nats_proc *n, int count)
{
	char routes[256] = "", buf[4096];
	size_t rl = 0;

	for (int i = 0; i < count; i++) {
		memset(&n[i], 0, sizeof(n[i]));
		snprintf(n[i].name, sizeof(n[i].name), "nats%d", i);
		n[i].route_port = free_port();
		n[i].mon_port = free_port();
		n[i].port = free_port();
		if (!n[i].route_port || !n[i].mon_port || !n[i].port)
			return -1;
		rl += (size_t)snprintf(routes + rl, sizeof(routes) - rl,
				       "%snats://127.0.0.1:%d", i ? "," : "",
				       n[i].route_port);
	}
	for (int i = 0; i < count; i++) {
		int port = n[i].port;

		snprintf(n[i].routes, sizeof(n[i].routes), "%s", routes);
		snprintf(n[i].dir, sizeof(n[i].dir), "/tmp/rb-nats-XXXXXX");
		if (!mkdtemp(n[i].dir) || launch(&n[i], port))
			goto fail;
	}
	/*
	 * JetStream is usable once every member says it is healthy and knows
	 * the meta leader; until then a stream cannot be created.
	 */
	for (int i = 0; i < count; i++) {
		int k = 0;

		while (nats_monitor_get(&n[i], "/healthz", buf, sizeof(buf)) ||
		       nats_monitor_get(&n[i], "/jsz", buf, sizeof(buf)) ||
		       !has_meta_leader(buf)) {
			if (++k > 300)
				goto fail;
			sleep_ms(100);
		}
	}
	return 0;
fail:
	for (int i = 0; i < count; i++)
		nats_cleanup(&n[i]);
	return -1;
}

/*
 * Another program may take a port between our check and nats-server's
 * bind; then that member exits at once, and a fresh set of ports is tried.
 */
int nats_cluster_start(struct nats_proc *n, int count)
{
	for (int attempt = 0; attempt < 3; attempt++)
		if (!cluster_start_once(n, count))
			return 0;
	return -1;
}
