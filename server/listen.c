/*
 * listen.c - the listening sockets (see listen.h for why they are ours
 * and not lws's): resolve --bind, bind and listen on each address, log
 * what the kernel says we got, then accept for lws.
 */
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "guard.h"
#include "h1_gate.h"
#include "log.h"
#include "loop.h"
#include "route.h"
#include "server.h"

/* Connections taken per wake-up, so one busy listener cannot starve the
 * rest of the loop; poll() says again if more are waiting. */
#define ACCEPT_BATCH 32
/* After accept() failed for want of descriptors or memory, the listener
 * rests this long instead of spinning on a socket that stays readable. */
#define ACCEPT_PAUSE_US (100 * LWS_US_PER_MS)

/* Per listening socket (the raw descriptor's session data). */
struct listener {
	struct lws *wsi;
	lws_sorted_usec_list_t resume; /* ends an ACCEPT_PAUSE_US rest */
};

static int same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET)
		return !memcmp(&((const struct sockaddr_in *)a)->sin_addr,
			       &((const struct sockaddr_in *)b)->sin_addr,
			       sizeof(struct in_addr));
	return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		       &((const struct sockaddr_in6 *)b)->sin6_addr,
		       sizeof(struct in6_addr)) &&
	       ((const struct sockaddr_in6 *)a)->sin6_scope_id ==
	       ((const struct sockaddr_in6 *)b)->sin6_scope_id;
}

static int is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr)
			>> 24) == 127;
	return sa->sa_family == AF_INET6 &&
	       IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

static void addr_text(const struct sockaddr *sa, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
			  ip, sizeof(ip));
		snprintf(buf, cap, "%s:%u", ip,
			 ntohs(((const struct sockaddr_in *)sa)->sin_port));
	} else {
		inet_ntop(AF_INET6,
			  &((const struct sockaddr_in6 *)sa)->sin6_addr, ip,
			  sizeof(ip));
		snprintf(buf, cap, "[%s]:%u", ip,
			 ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
	}
}

/* A listening socket on `sa` with `port`; its address as the kernel has
 * it in *out. Returns the fd, or -errno. */
static int listen_one(const struct sockaddr *sa, socklen_t salen, int port,
		      struct sockaddr_storage *out)
{
	struct sockaddr_storage a;
	socklen_t len = sizeof(*out);
	int one = 1, fd, e;

	memcpy(&a, sa, salen);
	if (a.ss_family == AF_INET)
		((struct sockaddr_in *)&a)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)&a)->sin6_port = htons((uint16_t)port);
	fd = socket(a.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* SO_REUSEADDR: a restart need not wait out TIME_WAIT (as lws did).
	 * IPV6_V6ONLY: "::" means IPv6, not IPv4 too behind our back. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (a.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    bind(fd, (struct sockaddr *)&a, salen) ||
	    listen(fd, SOMAXCONN) ||
	    getsockname(fd, (struct sockaddr *)out, &len)) {
		e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static void close_all(struct srv_listen *l)
{
	for (unsigned i = 0; i < l->n; i++)
		if (l->fds[i] >= 0)
			close(l->fds[i]);
	l->n = 0;
}

/* One try at listening on every address of `res`. Returns 0, or -errno
 * of the failure (described in err) with nothing open. */
static int listen_all(struct srv_listen *l, const struct addrinfo *res,
		      unsigned several, const char *bind, int port,
		      int loopback_only, char *err, size_t errcap)
{
	char text[INET6_ADDRSTRLEN + 16];
	int want = port;

	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int dup = 0, fd;

		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		for (unsigned i = 0; i < l->n; i++)
			dup |= same_addr(ai->ai_addr,
					 (struct sockaddr *)&l->addrs[i]);
		if (dup)
			continue;
		addr_text(ai->ai_addr, text, sizeof(text));
		*strrchr(text, ':') = '\0'; /* the port is not chosen yet */
		if (loopback_only && !is_loopback(ai->ai_addr)) {
			snprintf(err, errcap, "%s resolves to %s, which is not a "
				 "loopback address", bind, text);
			close_all(l);
			return -EACCES;
		}
		if (l->n == SRV_LISTEN_MAX)
			break;
		fd = listen_one(ai->ai_addr, ai->ai_addrlen, want,
				&l->addrs[l->n]);
		if (fd == -EADDRNOTAVAIL || fd == -EAFNOSUPPORT) {
			if (several) {
				srv_log_warn("not listening on %s (of %s): "
					     "%s\n", text, bind, strerror(-fd));
				continue;
			}
		}
		if (fd < 0) {
			snprintf(err, errcap, "cannot listen on %s port %d: %s",
				 text, want, strerror(-fd));
			close_all(l);
			return fd;
		}
		l->fds[l->n++] = fd;
		if (!want)
			want = ntohs(l->addrs[0].ss_family == AF_INET ?
				     ((struct sockaddr_in *)&l->addrs[0])->sin_port :
				     ((struct sockaddr_in6 *)&l->addrs[0])->sin6_port);
	}
	if (!l->n) {
		snprintf(err, errcap, "cannot listen on %s: none of its "
			 "addresses is usable here", bind);
		return -EADDRNOTAVAIL;
	}
	l->port = want;
	return 0;
}

int srv_listen_open(struct srv_listen *l, const char *bind, int port,
		    int loopback_only, char *err, size_t errcap)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE,
	}, *res;
	unsigned several = 0;
	int rc;

	memset(l, 0, sizeof(*l));
	if (!bind || !*bind) {
		snprintf(err, errcap, "no address to listen on (--bind)");
		return -1;
	}
	rc = getaddrinfo(bind, NULL, &hints, &res);
	if (rc) {
		snprintf(err, errcap, "cannot resolve %s: %s", bind,
			 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
		several++;
	several = several > 1;
	/* With port 0 the port the first socket got may be taken on another
	 * address: pick again, a few times. */
	for (int tries = 0; tries < 8; tries++) {
		rc = listen_all(l, res, several, bind, port, loopback_only, err,
				errcap);
		if (rc != -EADDRINUSE || port)
			break;
	}
	freeaddrinfo(res);
	return rc == 0 ? 0 : rc == -EACCES ? -2 : -1;
}

void srv_listen_name(const struct srv_listen *l, unsigned i, char *buf,
		     size_t cap)
{
	addr_text((const struct sockaddr *)&l->addrs[i], buf, cap);
}

int srv_listen_loopback_only(const struct srv_listen *l)
{
	for (unsigned i = 0; i < l->n; i++)
		if (!is_loopback((const struct sockaddr *)&l->addrs[i]))
			return 0;
	return l->n > 0;
}

int srv_listen_attach(struct srv_listen *l, struct lws_vhost *vh)
{
	/* This thread will serve the connections accepted here. */
	srv_h1_gate_init();
	for (unsigned i = 0; i < l->n; i++) {
		lws_sock_file_fd_type d;

		if (l->fds[i] < 0)
			continue;
		d.filefd = l->fds[i];
		if (!lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, d,
						srv_listen_protocol.name, NULL))
			return -1;
		l->fds[i] = -1; /* lws closes it with the context */
	}
	return 0;
}

void srv_listen_close(struct srv_listen *l)
{
	close_all(l);
}

static void accept_resume(lws_sorted_usec_list_t *sul)
{
	struct listener *ls = lws_container_of(sul, struct listener, resume);

	srv_lock();
	lws_rx_flow_control(ls->wsi, 1);
	srv_unlock();
}

/*
 * The listening socket is readable: accept what is waiting and hand each
 * connection to lws, as its own listener does (lib/roles/listen in 4.1.6):
 * protocols[0] may refuse it (FILTER_NETWORK_CONNECTION, the guard's
 * caps), Nagle goes off, then it is adopted as an HTTP connection, by
 * the fan-out thread when it opens a WebSocket.
 */
static int accept_some(struct listener *ls, struct lws *wsi)
{
	struct lws_vhost *vh = lws_get_vhost(wsi);
	struct srv_ctx *srv = lws_context_user(lws_get_context(wsi));
	int lfd = (int)lws_get_socket_fd(wsi), one = 1;

	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			srv_log_warn("accept: %s; pausing new connections\n",
				     strerror(errno));
			lws_rx_flow_control(wsi, 0);
			lws_sul_schedule(lws_get_context(wsi), 0, &ls->resume,
					 accept_resume, ACCEPT_PAUSE_US);
			return 0;
		}
		/* lws makes it non-blocking when it adopts it. */
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (srv_guard_callback(wsi, LWS_CALLBACK_FILTER_NETWORK_CONNECTION,
				       NULL, (void *)(intptr_t)fd, 0)) {
			close(fd);
			continue;
		}
		/* A closed connection's watch must not outlive its fd. */
		srv_h1_gate_watch(fd, NULL);
		srv_route(srv, vh, fd);
	}
	return 0;
}

static int listen_callback(struct lws *wsi, enum lws_callback_reasons reason,
			   void *user, void *in, size_t len)
{
	struct listener *ls = user;

	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_RAW_ADOPT_FILE:
		ls->wsi = wsi;
		return 0;
	case LWS_CALLBACK_RAW_RX_FILE:
		return accept_some(ls, wsi);
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		if (ls)
			lws_sul_cancel(&ls->resume);
		return 0;
	default:
		return 0;
	}
}

const struct lws_protocols srv_listen_protocol = {
	.name = "raceboard-listen",
	.callback = listen_callback,
	.per_session_data_size = sizeof(struct listener),
};
