/*
 * main.c - raceboard-server: wires configuration, the store, the write path and
 * libwebsockets together, then runs the event loop until SIGINT/SIGTERM.
 *
 * Only wiring lives here; the server's behaviour lives in the modules.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster.h"
#include "guard.h"
#include "hooks_http.h"
#include "http.h"
#include "hub.h"
#include "h1_gate.h"
#include "listen.h"
#include "log.h"
#include "loop.h"
#include "route.h"
#include "routes.h"
#include "server.h"
#include "store.h"
#include "write.h"
#include "ws.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* The guard is protocols[0]: lws asks it about every new connection and
 * every plain HTTP request (static files included). */
static int guard_callback(struct lws *wsi, enum lws_callback_reasons reason,
			  void *user, void *in, size_t len)
{
	return srv_guard_callback(wsi, (int)reason, user, in, len);
}

/* Every callback of ours runs under the server lock; lws itself does
 * not (loop.h). */
#define LOCKED(name, fn)						\
	static int name(struct lws *wsi, enum lws_callback_reasons reason, \
			void *user, void *in, size_t len)		\
	{								\
		int rc;							\
									\
		srv_lock();						\
		rc = (fn)(wsi, reason, user, in, len);			\
		srv_unlock();						\
		return rc;						\
	}
LOCKED(locked_guard, guard_callback)
LOCKED(locked_http, srv_http_protocol.callback)
LOCKED(locked_ws, srv_ws_protocol.callback)
LOCKED(locked_write, srv_write_callback)
LOCKED(locked_listen, srv_listen_protocol.callback)
LOCKED(locked_cluster, srv_cluster_callback)
LOCKED(locked_loop, srv_loop_protocol.callback)
LOCKED(locked_route, srv_route_protocol.callback)


/* lws sends a PING after this much silence and drops a peer that stays
 * silent; a PONG or any traffic counts as alive. */
static const lws_retry_bo_t idle_policy = {
	.secs_since_valid_ping = 30,
	.secs_since_valid_hangup = 70,
};

/* The fan-out thread (loop.h): its context serves the WebSocket
 * connections listen.c hands it, until main() sets stop. */
struct fanout {
	struct lws_context *ctx;
	struct srv_loops *loops;
	struct srv_loop *loop;
	pthread_t thread;
	int started;
	atomic_int stop;
};

static void *fanout_main(void *arg)
{
	struct fanout *fo = arg;

	srv_loop_thread(fo->loops);
	srv_h1_gate_init();
	srv_lock();
	srv_loop_run_here(fo->loop);
	srv_unlock();
	while (!atomic_load(&fo->stop))
		if (lws_service(fo->ctx, 0) < 0)
			break;
	if (!atomic_load(&fo->stop)) {
		/* Its connections would hang: stop the server instead. */
		srv_log_err("the fan-out thread's service loop failed\n");
		kill(getpid(), SIGTERM);
	}
	return NULL;
}

/* Starts the fan-out thread. Signals stay with the main thread. Returns
 * 0 or -1. */
static int fanout_start(struct fanout *fo, struct srv_ctx *srv)
{
	sigset_t all, old;
	int rc;

	/* Its context is this thread's until the thread runs. */
	fo->loop = srv->fanout = srv_loops_add(srv->loops, fo->ctx);
	srv->router = srv_router_new(srv, &srv->loops->loop[0],
				     lws_get_vhost_by_name(srv->lws, "default"),
				     srv->fanout,
				     lws_get_vhost_by_name(fo->ctx, "default"));
	if (!srv->router)
		srv_log_warn("cannot route connections to the fan-out thread: "
			     "the main thread serves them all\n");
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&fo->thread, NULL, fanout_main, fo);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return -1;
	fo->started = 1;
	return 0;
}

/* Stops the fan-out thread and makes the caller the owner of its
 * context, to destroy it. */
static void fanout_stop(struct fanout *fo, struct srv_ctx *srv)
{
	if (!fo->started)
		return;
	atomic_store(&fo->stop, 1);
	lws_cancel_service(fo->ctx);
	pthread_join(fo->thread, NULL);
	fo->started = 0;
	srv_loop_adopt_by_caller(srv->fanout);
	srv_loop_run_queue(&srv->loops->loop[0]);
}

/* Lets the server hold many subscribers: lws sizes its tables from it. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* The pipelining gate's table, for every descriptor the process may
 * open (h1_gate.h). */
static int gate_setup(void)
{
	struct rlimit rl;
	size_t n = (size_t)1 << 20;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < n)
		n = (size_t)rl.rlim_cur;
	return srv_h1_gate_setup(n);
}

/* Writes the bound port to a file, atomically (tests wait for it). */
static int write_port_file(const char *path, int port)
{
	char tmp[PATH_MAX];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -1;
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%d\n", port);
	if (fclose(f))
		return -1;
	return rename(tmp, path);
}

static void mount_api(struct lws_http_mount *m, const char *path,
		      const struct lws_http_mount *next)
{
	memset(m, 0, sizeof(*m));
	m->mount_next = next;
	m->mountpoint = path;
	m->mountpoint_len = (unsigned char)strlen(path);
	m->origin = "srv-http";
	m->origin_protocol = LWSMPRO_CALLBACK;
}

/*
 * Cluster mode: joins the log (docs/CLUSTER.md). A stream that exists
 * with other settings is a configuration error: say so and exit 2.
 * Returns 0, or -1 with *status set.
 */
static int open_cluster(struct srv_ctx *srv, const struct srv_cfg *cfg,
			const struct srv_listen *lsn, int *status)
{
	char node[128], why[512];
	int conflict = 0;

	if (cfg->node[0])
		snprintf(node, sizeof(node), "%s", cfg->node);
	else
		snprintf(node, sizeof(node), "%.60s:%d", cfg->bind,
			 lsn->port);
	srv->cluster = srv_cluster_open(cfg, node, srv->wp, &conflict, why,
					sizeof(why));
	if (!srv->cluster) {
		srv_log_err("cluster: %s\n", why);
		*status = conflict ? 2 : 1;
		return -1;
	}
	srv_log_notice("cluster: node %s on stream %s (%d replica(s)) at %s\n",
		       node, cfg->nats_stream, cfg->nats_replicas, cfg->nats);
	return 0;
}

int main(int argc, char **argv)
{
	struct srv_cfg cfg;
	struct srv_ctx srv = {.cfg = &cfg};
	struct lws_context_creation_info info;
	struct lws_http_mount mounts[SRV_API_MOUNTS + 1];
	char web_root[PATH_MAX];
	struct store_opts sopts = {0};
	struct lws_protocols protocols[8], ws_protocols[6];
	struct srv_loops loops;
	struct fanout fo = {0};
	struct srv_listen lsn = {0};
	struct lws_vhost *vh;
	char msg[512], where[SRV_LISTEN_MAX * 64];
	size_t wn = 0;
	int rc, err = 0, status = 1;

	srv_cfg_defaults(&cfg);
	rc = srv_cfg_parse(&cfg, argc, argv, getenv, stdout, stderr);
	if (rc != SRV_CFG_OK)
		return rc == SRV_CFG_EXIT_OK ? 0 : 2;
	srv_log_setup(cfg.log_level);
	if (!srv_guard_bind_is_loopback(cfg.bind) && !cfg.token[0] &&
	    !cfg.insecure) {
		fprintf(stderr, "raceboard-server: refusing to listen on %s "
			"without a token: anyone who can reach it could write. "
			"Set --token (or RACEBOARD_TOKEN), bind 127.0.0.1, or "
			"pass --insecure if the network is trusted.\n",
			cfg.bind);
		return 2;
	}
	/* Bound before anything else is opened, so a wrong --bind costs
	 * nothing; a name the rule above took for loopback must resolve to
	 * loopback only. */
	rc = srv_listen_open(&lsn, cfg.bind, cfg.port,
			     srv_guard_bind_is_loopback(cfg.bind), msg,
			     sizeof(msg));
	if (rc) {
		fprintf(stderr, "raceboard-server: %s%s\n", msg, rc == -2 ?
			"; set --token, or pass --insecure if the network is "
			"trusted" : "");
		return rc == -2 ? 2 : 1;
	}

	/* This thread serves the main context (loop.h). */
	srv_loops_init(&loops);
	srv_loop_thread(&loops);
	srv.loops = &loops;

	if (!realpath(cfg.web_root, web_root)) {
		srv_log_err("web root %s: %s\n", cfg.web_root, strerror(errno));
		goto done;
	}

	sopts.dir = cfg.data_dir;
	sopts.map_size_max = cfg.map_size_max;
	sopts.no_sync = cfg.no_sync;
	umask(077);
	rc = store_open(&sopts, &srv.store);
	if (rc) {
		srv_log_err("cannot open the data directory %s: %s\n",
			    cfg.data_dir, store_strerror(rc));
		goto done;
	}
	srv.wp = srv_write_new(srv.store, &cfg, &err);
	if (!srv.wp) {
		srv_log_err("cannot load races from %s: %s\n", cfg.data_dir,
			    store_strerror(err));
		goto done;
	}
	srv_write_set_metrics(srv.wp, &srv.metrics);
	/* The write path publishes every committed change to the hub, which
	 * fans it out to the WebSocket subscribers (docs/WRITE-PATH.md). */
	srv.hub = srv_hub_new(&cfg, srv.wp);
	if (!srv.hub) {
		srv_log_err("out of memory\n");
		goto done;
	}
	srv_write_set_publisher(srv.wp, srv_hub_publish, srv.hub);
	if (cfg.nats[0] && open_cluster(&srv, &cfg, &lsn, &status))
		goto done;
	srv.hooks = srv_hooks_new();
	srv.guard = srv_guard_new(&cfg, &srv.metrics);
	if (!srv.hooks || !srv.guard ||
	    srv_guard_set_web_root(srv.guard, web_root)) {
		srv_log_err("out of memory\n");
		goto done;
	}

	/* The REST mounts, then the page's files at "/" (lws picks the
	 * longest matching mountpoint). */
	for (int i = 0; i < SRV_API_MOUNTS; i++)
		mount_api(&mounts[i], srv_api_mounts[i], &mounts[i + 1]);
	memset(&mounts[SRV_API_MOUNTS], 0, sizeof(mounts[0]));
	mounts[SRV_API_MOUNTS].mountpoint = "/";
	mounts[SRV_API_MOUNTS].mountpoint_len = 1;
	mounts[SRV_API_MOUNTS].origin = web_root;
	mounts[SRV_API_MOUNTS].def = "index.html";
	mounts[SRV_API_MOUNTS].origin_protocol = LWSMPRO_FILE;

	protocols[0] = (struct lws_protocols){
		.name = "http", .callback = locked_guard,
	};
	protocols[1] = srv_http_protocol;
	protocols[1].callback = locked_http;
	protocols[2] = srv_ws_protocol;
	protocols[2].callback = locked_ws;
	/* No connection uses it: it takes the write path's wake-ups
	 * (LWS_CALLBACK_EVENT_WAIT_CANCELLED reaches every protocol). */
	protocols[3] = (struct lws_protocols){
		.name = "raceboard-write", .callback = locked_write,
		.user = srv.wp,
	};
	protocols[4] = srv_listen_protocol;
	protocols[4].callback = locked_listen;
	/* Cluster mode: the log's entries arrive the same way. */
	protocols[5] = (struct lws_protocols){
		.name = "raceboard-cluster", .callback = locked_cluster,
		.user = srv.cluster,
	};
	/* It runs the lws calls the other thread queued (loop.h). */
	protocols[6] = srv_loop_protocol;
	protocols[6].callback = locked_loop;
	memset(&protocols[7], 0, sizeof(protocols[7]));
	/* The fan-out thread's context serves the same requests, but takes
	 * no wake-ups of the write path, the listener or the cluster. */
	ws_protocols[0] = protocols[0];
	ws_protocols[1] = protocols[1];
	ws_protocols[2] = protocols[2];
	ws_protocols[3] = protocols[6];
	ws_protocols[4] = srv_route_protocol;
	ws_protocols[4].callback = locked_route;
	memset(&ws_protocols[5], 0, sizeof(ws_protocols[5]));

	raise_fd_limit();
	if (gate_setup()) {
		srv_log_err("out of memory\n");
		goto done;
	}

	memset(&info, 0, sizeof(info));
	/* A server vhost without a listener of its own: listen.c's sockets
	 * feed it (lws 4.1.6 binds [::] when given "127.0.0.1"). */
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = protocols;
	info.mounts = &mounts[0];
	info.user = &srv;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 |
		       LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
	/* Slowloris: headers must be whole within the deadline from the
	 * first byte (lws does not renew it as bytes trickle in), a body
	 * may not pause longer than it (http.c also caps its total time),
	 * and an idle kept-alive connection goes after 5 s at most. */
	info.timeout_secs = (unsigned)cfg.http_timeout_sec;
	info.timeout_secs_ah_idle = (unsigned)cfg.http_timeout_sec;
	info.keepalive_timeout = cfg.http_timeout_sec < 5 ?
				 cfg.http_timeout_sec : 5;
	info.retry_and_idle_policy = &idle_policy;
	srv.lws = lws_create_context(&info);
	if (!srv.lws) {
		srv_log_err("cannot create the lws context\n");
		goto done;
	}
	srv_loop_run_here(srv_loops_add(&loops, srv.lws));
	if (cfg.ws_threads) {
		info.protocols = ws_protocols;
		fo.ctx = lws_create_context(&info);
		fo.loops = &loops;
		if (!fo.ctx) {
			srv_log_err("cannot create the fan-out lws context\n");
			goto done;
		}
	}
	vh = lws_get_vhost_by_name(srv.lws, "default");
	if (!vh || srv_listen_attach(&lsn, vh)) {
		srv_log_err("cannot serve the listening sockets\n");
		goto done;
	}
	srv_write_attach(srv.wp, srv.lws);
	if (srv.cluster &&
	    srv_cluster_start(srv.cluster, srv.lws, msg, sizeof(msg))) {
		srv_log_err("cluster: %s\n", msg);
		goto done;
	}
	if (cfg.port_file[0] && write_port_file(cfg.port_file, lsn.port)) {
		srv_log_err("cannot write %s: %s\n", cfg.port_file,
			    strerror(errno));
		goto done;
	}
	/* Where the kernel says the sockets are, not what --bind said. */
	where[0] = '\0';
	for (unsigned i = 0; i < lsn.n; i++) {
		char a[64];

		srv_listen_name(&lsn, i, a, sizeof(a));
		wn += (size_t)snprintf(where + wn, sizeof(where) - wn,
				       "%shttp://%s/", i ? " and " : "", a);
	}
	srv_log_notice("listening on %s (data in %s)\n", where, cfg.data_dir);

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (fo.ctx && fanout_start(&fo, &srv)) {
		srv_log_err("cannot start the fan-out thread\n");
		goto done;
	}
	while (!stop_requested)
		if (lws_service(srv.lws, 0) < 0)
			break;
	srv_log_notice("shutting down\n");
	/* No WebSocket write may arrive after the flush. */
	fanout_stop(&fo, &srv);
	srv_cluster_stop(srv.cluster);
	srv_write_flush(srv.wp);
	status = 0;
done:
	fanout_stop(&fo, &srv);
	srv_cluster_stop(srv.cluster); /* before the context goes */
	if (fo.ctx)
		lws_context_destroy(fo.ctx);
	if (srv.wp)
		srv_write_detach(srv.wp);
	if (srv.lws)
		lws_context_destroy(srv.lws);
	srv_cluster_free(srv.cluster);
	srv_write_free(srv.wp); /* may still publish: the hub goes after */
	srv_router_free(srv.router); /* after the contexts: they used it */
	srv_hub_free(srv.hub);
	srv_guard_free(srv.guard);
	srv_hooks_free(srv.hooks);
	store_close(srv.store);
	srv_listen_close(&lsn);
	srv_loops_fini(&loops);
	return status;
}
