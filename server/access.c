/*
 * access.c - the access log (access.h).
 */
#include <time.h>

#include <libwebsockets.h>

#include "access.h"
#include "guard.h"
#include "log.h"

int64_t srv_access_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* s (NULL or "": "-") copied into d, cut to fit cap, with every byte
 * that could split the line's fields or reach a terminal (space, control
 * bytes, DEL, non-ASCII and the backslash itself) written as \xNN. lws
 * hands over the path %-decoded. */
static const char *field(const char *s, char *d, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	if (!s || !*s)
		return "-";
	for (; *s && n + 5 <= cap; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch > 0x20 && ch < 0x7f && ch != '\\') {
			d[n++] = (char)ch;
			continue;
		}
		d[n++] = '\\';
		d[n++] = 'x';
		d[n++] = hex[ch >> 4];
		d[n++] = hex[ch & 15];
	}
	d[n] = '\0';
	return d;
}

void srv_access_log(struct lws *wsi, const char *method, const char *path,
		    int status, size_t bytes, int64_t started_us)
{
	char peer[64], m[64], p[1024];
	int64_t us = srv_access_now_us() - started_us;

	srv_guard_peer_name(wsi, peer, sizeof(peer));
	srv_log_notice("access %s %s %s %d %zu %lld.%03lldms\n", peer,
		       field(method, m, sizeof(m)), field(path, p, sizeof(p)),
		       status, bytes, (long long)(us / 1000),
		       (long long)(us % 1000));
}
