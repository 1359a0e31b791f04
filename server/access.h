/*
 * access.h - the access log: one line per answered HTTP request, REST
 * and static files alike, at notice level (LLL_USER, on by default;
 * --access-log off). Under the server lock (loop.h), on either service
 * thread.
 */
#ifndef RACEBOARD_SERVER_ACCESS_H
#define RACEBOARD_SERVER_ACCESS_H

#include <stddef.h>
#include <stdint.h>

struct lws;

/* Microseconds on the monotonic clock: request durations. */
int64_t srv_access_now_us(void);

/*
 * Logs "access CLIENT METHOD PATH STATUS BYTES DURATION": the client's
 * address (as seen at accept), the path without its query (%-decoded by
 * lws; spaces, control and non-ASCII bytes and backslashes as \xNN),
 * the body bytes sent (HEAD: 0), and the time since `started_us`
 * (srv_access_now_us()).
 */
void srv_access_log(struct lws *wsi, const char *method, const char *path,
		    int status, size_t bytes, int64_t started_us);

#endif
