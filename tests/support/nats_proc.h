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
	/* In a cluster (nats_cluster_start): */
	char name[16];        /* server name, "nats0"... */
	int route_port;       /* cluster routes */
	int mon_port;         /* HTTP monitoring (/healthz, /jsz) */
	char routes[256];     /* every member's route URL */
};

/*
 * Starts `count` servers as one JetStream cluster on loopback (fixed
 * ports picked free now, so a member restarts where it was) and waits
 * until each says it is healthy. Returns 0, or -1 with all stopped.
 */
int nats_cluster_start(struct nats_proc *n, int count);

/* GET http://127.0.0.1:<mon_port><path>: the body into buf (NUL-ended).
 * Returns 0, or -1. */
int nats_monitor_get(const struct nats_proc *n, const char *path, char *buf,
		     size_t cap);

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
