/*
 * server_proc.h - runs the real raceboard-server binary for a test: a
 * fresh data directory, an ephemeral loopback port, SIGTERM or SIGKILL.
 */
#ifndef RACEBOARD_TESTS_SERVER_PROC_H
#define RACEBOARD_TESTS_SERVER_PROC_H

#include <sys/types.h>

struct server_proc {
	pid_t pid;
	int port;
	char dir[256];        /* temp dir: data/, port, log */
	char data_dir[300];
	char log_path[300];
};

/* Creates the temp dir (once) and starts the server with `extra` flags
 * (NULL-terminated, may be NULL). Returns 0 when it answers on its port. */
int server_start(struct server_proc *s, const char *const *extra);

/* As server_start(), without waiting: the process runs, perhaps not
 * listening yet. Returns 0 once it is forked. */
int server_spawn(struct server_proc *s, const char *const *extra);

/* Waits up to timeout_ms until a started or spawned server listens
 * (its port file is written). Returns 0, or -1 if it exited (pid is
 * then 0) or the time ran out. */
int server_wait_ready(struct server_proc *s, int timeout_ms);

/* Starts it again on the same data directory (after a stop or a kill). */
int server_restart(struct server_proc *s, const char *const *extra);

/* SIGTERM and wait; returns the exit status (or -1). */
int server_stop(struct server_proc *s);

/* SIGKILL and wait. */
void server_kill(struct server_proc *s);

/* The server's resident memory in kB (VmRSS), or -1. */
long server_rss_kb(const struct server_proc *s);

/* 0 when the server's RSS says nothing about its own memory use: under
 * ThreadSanitizer (tests/tsan-server.sh sets RACEBOARD_RSS_UNRELIABLE),
 * whose allocator keeps freed memory in per-thread caches and whose
 * shadow memory grows with every address touched. Memory assertions
 * are then skipped. */
int server_rss_meaningful(void);

/*
 * The addresses the server listens on, as the kernel has them: its own
 * sockets (by inode, from /proc/PID/fd) in LISTEN state in its network
 * namespace's /proc/PID/net/tcp and tcp6, as "127.0.0.1:7777" or
 * "[::1]:7777". Returns how many (at most max), or -1.
 */
int server_listening(const struct server_proc *s, char (*out)[64], int max);

/* Runs the binary once with args on a fresh data dir until it exits (at
 * most 20 s); returns its exit code, its output in out, or -1. */
int server_run_once(const char *const *args, char *out, size_t cap);

/* Whether the server's log holds `what`, polling up to ms for it. */
int server_log_has(const struct server_proc *s, const char *what, int ms);

/* Removes the temp dir. */
void server_cleanup(struct server_proc *s);

#endif
