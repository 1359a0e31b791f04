/*
 * log.h - the server's log lines, on stderr.
 *
 * Debian's lws 4.1 (LWS_MAX_SMP 1) formats each of its log lines in one
 * static 256-byte buffer: two threads logging at once can mix their
 * lines, and a longer line is cut short. The server logs from both
 * service threads (loop.h) and from NATS's threads (cluster.c), so its
 * own lines are formatted here on the caller's stack and written with
 * one stdio call, which holds stderr's lock: a line is never mixed with
 * another and is cut only past SRV_LOG_LINE_MAX bytes. lws's own lines
 * (errors and warnings, more at --log-level debug) still pass through
 * its buffer; they come from lws on either thread, rarely.
 */
#ifndef RACEBOARD_SERVER_LOG_H
#define RACEBOARD_SERVER_LOG_H

#include <libwebsockets.h>

#define SRV_LOG_LINE_MAX 2048

/* Shows what --log-level `level` (0 error ... 4 debug, config.h) asks
 * for, ours and lws's; call before any thread starts. */
void srv_log_setup(int level);

/* Logs a line at an lws level (LLL_ERR, LLL_WARN, LLL_USER for the
 * server's notices, LLL_INFO) when that level is shown. Any thread. */
void srv_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define srv_log_err(...) srv_log(LLL_ERR, __VA_ARGS__)
#define srv_log_warn(...) srv_log(LLL_WARN, __VA_ARGS__)
#define srv_log_notice(...) srv_log(LLL_USER, __VA_ARGS__)
#define srv_log_info(...) srv_log(LLL_INFO, __VA_ARGS__)

#endif
