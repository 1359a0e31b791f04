/*
 * test_server_bind.c - the real server listens exactly where --bind says
 * (issue 12, item 1): the listening sockets of the process are read from
 * the kernel (/proc/PID/net/tcp*, by the inodes of its own sockets), never
 * probed by connecting anywhere but loopback. An address the server cannot
 * bind or resolve stops it at start with a message saying so.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/http_client.h"
#include "support/server_proc.h"

static struct server_proc srv;

static void stop(void)
{
	server_cleanup(&srv);
}

TestSuite(bind, .fini = stop, .timeout = 90);

/* Starts the server with `extra` and checks that it listens on exactly
 * `want` (addresses without the port, NULL-terminated), on its port. */
static void expect_listening(const char *const *extra,
			     const char *const *want)
{
	char got[16][64], w[64];
	int n, nwant = 0;

	cr_assert_eq(server_start(&srv, extra), 0, "server did not start");
	n = server_listening(&srv, got, 16);
	cr_assert_geq(n, 0, "cannot read the process's sockets");
	for (; want[nwant]; nwant++) {
		int found = 0;

		snprintf(w, sizeof(w), "%s:%d", want[nwant], srv.port);
		for (int i = 0; i < n; i++)
			found |= !strcmp(got[i], w);
		cr_expect(found, "not listening on %s", w);
	}
	for (int i = 0; i < n; i++)
		cr_expect_eq(n, nwant, "listening on %s too (%d sockets, "
			     "want %d)", got[i], n, nwant);
}

/* 1 when this host can bind `ip` (an address of its own). */
static int can_bind(int family, const char *ip)
{
	struct sockaddr_storage ss = {.ss_family = (sa_family_t)family};
	int fd = socket(family, SOCK_STREAM, 0), ok;

	if (family == AF_INET)
		inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr);
	else
		inet_pton(AF_INET6, ip,
			  &((struct sockaddr_in6 *)&ss)->sin6_addr);
	ok = fd >= 0 && !bind(fd, (struct sockaddr *)&ss,
			      family == AF_INET ? sizeof(struct sockaddr_in) :
						  sizeof(struct sockaddr_in6));
	if (fd >= 0)
		close(fd);
	return ok;
}

/* A loopback GET: the server behind the listed socket really serves. */
static void expect_served(void)
{
	struct http_response r;

	cr_assert_eq(http_request(srv.port, "GET", "/health", NULL, &r), 0);
	cr_expect_eq(r.status, 200);
	http_response_free(&r);
}

Test(bind, no_bind_setting_listens_on_127_0_0_1_only)
{
	expect_listening(NULL, (const char *[]){"127.0.0.1", NULL});
	expect_served();
}

Test(bind, bind_127_0_0_1_listens_there_only)
{
	expect_listening((const char *[]){"--bind", "127.0.0.1", NULL},
			 (const char *[]){"127.0.0.1", NULL});
	expect_served();
}

Test(bind, bind_127_0_0_2_listens_there_only)
{
	expect_listening((const char *[]){"--bind", "127.0.0.2", NULL},
			 (const char *[]){"127.0.0.2", NULL});
}

Test(bind, environment_bind_is_honoured)
{
	setenv("RACEBOARD_SERVER__BIND", "127.0.0.3", 1);
	expect_listening(NULL, (const char *[]){"127.0.0.3", NULL});
}

Test(bind, bind_ipv6_loopback_listens_there_only)
{
	if (!can_bind(AF_INET6, "::1"))
		cr_skip_test("no IPv6 loopback on this host");
	expect_listening((const char *[]){"--bind", "::1", NULL},
			 (const char *[]){"[::1]", NULL});
}

/* A name: every address it resolves to that this host has, loopback
 * only, all on one port; nothing else. */
Test(bind, bind_localhost_listens_on_what_it_resolves_to)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	char want[8][INET6_ADDRSTRLEN + 2], got[16][64];
	const char *wantp[9];
	int n = 0;

	cr_assert_eq(getaddrinfo("localhost", NULL, &hints, &res), 0);
	for (struct addrinfo *ai = res; ai && n < 8; ai = ai->ai_next) {
		char ip[INET6_ADDRSTRLEN];
		int dup = 0;

		if (ai->ai_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)
					     ai->ai_addr)->sin_addr, ip,
				  sizeof(ip));
		else if (ai->ai_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)
					      ai->ai_addr)->sin6_addr, ip,
				  sizeof(ip));
		else
			continue;
		if (!can_bind(ai->ai_family, ip))
			continue;
		snprintf(want[n], sizeof(want[n]),
			 ai->ai_family == AF_INET6 ? "[%s]" : "%s", ip);
		for (int i = 0; i < n; i++)
			dup |= !strcmp(want[i], want[n]);
		if (!dup)
			wantp[n] = want[n], n++;
	}
	freeaddrinfo(res);
	wantp[n] = NULL;
	cr_assert_gt(n, 0, "localhost resolves to nothing bindable");
	expect_listening((const char *[]){"--bind", "localhost", NULL}, wantp);
	for (int i = 0, m = server_listening(&srv, got, 16); i < m; i++)
		cr_expect(!strncmp(got[i], "127.", 4) ||
			  !strncmp(got[i], "[::1]", 5),
			  "%s is not loopback", got[i]);
}

Test(bind, the_log_names_the_address_the_kernel_reports)
{
	char line[512], want[128];
	int found = 0;
	FILE *f;

	cr_assert_eq(server_start(&srv, (const char *[]){
		"--bind", "127.0.0.2", "--log-level", "notice", NULL}), 0);
	snprintf(want, sizeof(want), "listening on http://127.0.0.2:%d/",
		 srv.port);
	f = fopen(srv.log_path, "r");
	cr_assert(f);
	while (fgets(line, sizeof(line), f))
		found |= strstr(line, want) != NULL;
	fclose(f);
	cr_assert(found, "no \"%s\" in the log", want);
}

/* The binary run once with args: its exit code, its output in out. */
static int run_server(const char *const *args, char *out, size_t cap)
{
	int st = server_run_once(args, out, cap);

	cr_assert_neq(st, -1, "could not run the server");
	return st;
}

/* 192.0.2.1 (TEST-NET-1) is no address of this host: bind() fails, and
 * the server must say so and stop, not listen somewhere else. */
Test(bind, an_address_it_cannot_bind_stops_it_at_start)
{
	char out[8192];
	int st;

	if (can_bind(AF_INET, "192.0.2.1"))
		cr_skip_test("this host owns 192.0.2.1");
	st = run_server((const char *[]){"--bind", "192.0.2.1", "--token",
					 "correct-horse-battery", NULL},
			out, sizeof(out));
	cr_assert(st != 0 && st != 124, "exit %d: %s", st, out);
	cr_assert(strstr(out, "cannot listen on 192.0.2.1"), "%s", out);
	cr_assert_null(strstr(out, "listening on http"), "%s", out);
}

Test(bind, a_name_it_cannot_resolve_stops_it_at_start)
{
	char out[8192];
	int st;

	st = run_server((const char *[]){"--bind", "no-such-host.invalid",
					 "--token", "correct-horse-battery",
					 NULL}, out, sizeof(out));
	cr_assert(st != 0 && st != 124, "exit %d: %s", st, out);
	cr_assert(strstr(out, "cannot resolve no-such-host.invalid"), "%s",
		  out);
}
