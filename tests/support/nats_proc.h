/*
 * nats_proc.h - runs a real nats-server with JetStream for a test: a
 * fresh store directory, a loopback port the server picks, SIGTERM or
 * SIGKILL.
 */
#ifndef RACEBOARD_TESTS_NATS_PROC_H
#define RACEBOARD_TESTS_NATS_PROC_H

#include <sys/types.h>

struct nats_proc {
	pid_t pid;
	int port;             /* client port, once started */
	char url[64];         /* "nats://127.0.0.1:PORT" */
	char dir[256];        /* temp dir: js/, ports file, log */
};

/* Creates the temp dir (once) and starts the server. Returns 0 once its
 * client port is known and accepts connections, else -1. */
int nats_start(struct nats_proc *n);

/* Starts it again on the same port and store (after a kill or stop), so
 * clients reconnect to the URL they had. Returns 0 as nats_start(). */
int nats_restart(struct nats_proc *n);

/* SIGKILL and wait. */
void nats_kill(struct nats_proc *n);

/* SIGTERM and wait. */
void nats_stop(struct nats_proc *n);

/* Stops it if running and removes the temp dir. */
void nats_cleanup(struct nats_proc *n);

#endif
