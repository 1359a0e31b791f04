/*
 * listen.h - the server's listening sockets: --bind resolved, bound and
 * listened on by us, then served by lws.
 *
 * lws 4.1.6 does not bind where it is told: with IPv6 built in, an IPv4
 * `iface` such as "127.0.0.1" is parsed into the wrong field and the
 * socket binds [::], every interface (issue 12); a host name is taken for
 * an interface name and nothing listens. So lws gets no port of its own
 * (CONTEXT_PORT_NO_LISTEN_SERVER): each listening socket is adopted into
 * the event loop as a raw descriptor, and each connection accepted on it
 * is adopted into the vhost as if lws's own listener had accepted it
 * (same guard check first, same socket options). Service thread only.
 */
#ifndef RACEBOARD_SERVER_LISTEN_H
#define RACEBOARD_SERVER_LISTEN_H

#include <libwebsockets.h>
#include <stddef.h>
#include <sys/socket.h>

#define SRV_LISTEN_MAX 8

struct srv_listen {
	unsigned n;                          /* sockets open */
	int fds[SRV_LISTEN_MAX];             /* -1 once lws owns it */
	struct sockaddr_storage addrs[SRV_LISTEN_MAX]; /* from getsockname */
	int port;                            /* the one port they share */
};

/*
 * Resolves `bind` (a numeric address, or a name: getaddrinfo) and listens
 * on every address it yields, all on `port` (0: one port the kernel picks
 * for the first, reused for the rest). An IPv6 socket is IPv6 only, so
 * "::" does not take IPv4 as well. When a name yields several addresses,
 * one the host does not have (EADDRNOTAVAIL, EAFNOSUPPORT: "localhost" ->
 * ::1 on a host without IPv6) is skipped; any other failure, or nothing
 * left, fails the whole call. With `loopback_only`, an address outside
 * 127.0.0.0/8 and ::1 fails it before anything is bound (a name the
 * token rule took for loopback must resolve to loopback). Returns 0; -2
 * for that refusal, -1 for any other failure, with a sentence in err and
 * nothing left open.
 */
int srv_listen_open(struct srv_listen *l, const char *bind, int port,
		    int loopback_only, char *err, size_t errcap);

/* "127.0.0.1:7777" or "[::1]:7777" for socket i, as the kernel reports. */
void srv_listen_name(const struct srv_listen *l, unsigned i, char *buf,
		     size_t cap);

/* 1 when every socket is on a loopback address. */
int srv_listen_loopback_only(const struct srv_listen *l);

/*
 * Hands every socket to lws, served on `vh` (which must carry
 * srv_listen_protocol). Call it on the thread that will run lws_service():
 * the connections accepted there are read through h1_gate.h. Returns 0,
 * or -1 when lws refused one (the rest stay ours: srv_listen_close()
 * closes them).
 */
int srv_listen_attach(struct srv_listen *l, struct lws_vhost *vh);

/* Closes the sockets lws does not own yet. */
void srv_listen_close(struct srv_listen *l);

/* The protocol the listening sockets are adopted with (accepts). */
extern const struct lws_protocols srv_listen_protocol;

#endif
