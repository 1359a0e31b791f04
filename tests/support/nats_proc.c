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
	char store[300], log[300], parg[16];

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
		execlp("nats-server", "nats-server", "-js", "-a", "127.0.0.1",
		       "-p", parg, "-sd", store, "--ports_file_dir", n->dir,
		       (char *)NULL);
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
