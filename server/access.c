/*
 * access.c - the access log (access.h).
 */
#include <time.h>

#include <libwebsockets.h>

#include "access.h"
#include "log.h"

int64_t srv_access_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void srv_access_log(struct lws *wsi, const char *method, const char *path,
		    int status, size_t bytes, int64_t started_us)
{
	char peer[64] = "-";
	int64_t us = srv_access_now_us() - started_us;

	lws_get_peer_simple(wsi, peer, sizeof(peer));
	srv_log_notice("access %s %s %s %d %zu %lld.%03lldms\n", peer,
		       method ? method : "-", path && path[0] ? path : "-", status,
		       bytes, (long long)(us / 1000), (long long)(us % 1000));
}
