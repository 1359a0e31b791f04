/*
 * config.c - command-line and environment configuration.
 *
 * Every setting has a default, an environment variable where the existing
 * Raceboard deployment defines one, and a flag. Values are validated here
 * so the rest of the server can trust them.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#ifndef RACEBOARD_VERSION
#define RACEBOARD_VERSION "dev"
#endif
/* The page: where `meson install` put it, unless this binary runs from
 * its build directory, which serves the source tree's web-demo/ (Meson
 * passes all three paths). */
#ifndef RACEBOARD_DEFAULT_WEB_ROOT
#define RACEBOARD_DEFAULT_WEB_ROOT "web-demo"
#endif
#ifndef RACEBOARD_INSTALLED_WEB_ROOT
#define RACEBOARD_INSTALLED_WEB_ROOT RACEBOARD_DEFAULT_WEB_ROOT
#endif
#ifndef RACEBOARD_BUILD_ROOT
#define RACEBOARD_BUILD_ROOT ""
#endif

static const char *const level_names[] = {"error", "warn", "notice", "info",
					  "debug"};

static const char usage[] =
	"Usage: raceboard-server [OPTIONS]\n"
	"\n"
	"Tracks long-running tasks (races) and streams their progress to live\n"
	"dashboards. REST and WebSocket share one port; the page is served at /.\n"
	"\n"
	"Options (environment variable in brackets):\n"
	"  -b, --bind ADDR         listen address [RACEBOARD_SERVER__BIND]\n"
	"                          (default 127.0.0.1)\n"
	"  -p, --port PORT         listen port, 0 for any free port\n"
	"                          [RACEBOARD_SERVER__HTTP_PORT] (default 7777)\n"
	"  -d, --data-dir DIR      LMDB data directory\n"
	"                          [RACEBOARD_PERSISTENCE__PATH] (default ./raceboard-data)\n"
	"  -l, --log-level LEVEL   error, warn, notice, info or debug\n"
	"                          [RACEBOARD_LOGGING__LEVEL] (default notice)\n"
	"      --access-log on|off one line per request at notice level: client,\n"
	"                          method, path, status, bytes, duration\n"
	"                          [RACEBOARD_LOGGING__ACCESS_LOG] (default on)\n"
	"      --web-root DIR      static files for / (default: the installed page)\n"
	"      --max-body BYTES    largest request body accepted (default 65536)\n"
	"      --max-races N       races kept at once (default 100000)\n"
	"      --finished-ttl SEC  how long finished races stay listed (default 86400)\n"
	"      --max-store-mb MB   largest the LMDB map may grow (default 1024)\n"
	"      --delta-log N       deltas kept for resuming clients (default 10000)\n"
	"      --heartbeat SEC     WebSocket heartbeat when idle (default 15)\n"
	"      --ws-max-conns N    WebSocket connections at once (default 4096)\n"
	"      --ws-backlog N      recent changes kept in memory per server for\n"
	"                          subscribers; one further behind gets a fresh\n"
	"                          snapshot (default 8192)\n"
	"      --ws-slice-us US    time one service pass spends writing to\n"
	"                          subscribers before it reads producers again;\n"
	"                          0: all of them in one pass (default 250)\n"
	"      --ws-threads N      threads serving WebSocket connections apart\n"
	"                          from the one serving HTTP: 1, or 0 for one\n"
	"                          thread serving both (default 1)\n"
	"      --ws-max-queued-mb MB  memory that frames waiting for subscribers\n"
	"                          may hold in all; over it the slowest are closed\n"
	"                          [RACEBOARD_SERVER__WS_MAX_QUEUED_MB] (default 128)\n"
	"      --subscribe-deadline SEC  close a WebSocket client that neither\n"
	"                          subscribes nor writes within SEC (default 30)\n"
	"      --predict-context-key KEY  metadata key that names a race's build\n"
	"                          or pipeline; races of one build inform each\n"
	"                          other's ETAs (default build)\n"
	"      --port-file FILE    write the bound port to FILE once listening\n"
	"\n";

/* The rest of --help (one string would pass the 4095 bytes C17 promises
 * a compiler supports). */
static const char usage_more[] =
	"Security (see docs/HARDENING.md):\n"
	"      --allow-origin ORIGIN  also accept browser requests and WebSocket\n"
	"                          upgrades from this origin, e.g.\n"
	"                          https://dash.example.com (repeatable)\n"
	"                          [RACEBOARD_SERVER__ALLOW_ORIGINS, comma-separated]\n"
	"      --allow-host NAME   accept this Host name besides loopback ones when\n"
	"                          bound to loopback (repeatable)\n"
	"                          [RACEBOARD_SERVER__ALLOW_HOSTS, comma-separated]\n"
	"      --trusted-proxy ADDR  believe X-Forwarded-Proto/-Host from this\n"
	"                          peer address only (repeatable; default: any\n"
	"                          loopback address)\n"
	"                          [RACEBOARD_SERVER__TRUSTED_PROXIES, comma-separated]\n"
	"      --token TOKEN       writes need 'Authorization: Bearer TOKEN'\n"
	"                          [RACEBOARD_TOKEN] (default: none)\n"
	"      --token-for-reads   reads (GET, WebSocket subscribe) need it too\n"
	"      --insecure          allow a non-loopback --bind without --token\n"
	"      --http-timeout SEC  request headers and body must arrive within SEC\n"
	"                          (default 20)\n"
	"      --max-connections N TCP connections at once (default 10000)\n"
	"      --max-conns-per-ip N  connections per client address (default 0:\n"
	"                          only --max-connections applies)\n"
	"      --rate-limit N      requests (HTTP) or messages (WebSocket) per\n"
	"                          second per connection; 0: none (default 100000)\n"
	"      --max-subs-per-ip N WebSocket subscriptions per client address\n"
	"                          (default 0: only --ws-max-conns applies)\n"
	"\n";

/* The webhook flags and the end, a third string for the same reason. */
static const char usage_hooks[] =
	"CI webhooks (see docs/WEBHOOKS.md):\n"
	"      --github-secret SECRET  enable POST /hooks/github; deliveries must\n"
	"                          be signed with SECRET [RACEBOARD_GITHUB__SECRET]\n"
	"      --gitlab-secret SECRET  enable POST /hooks/gitlab; deliveries must\n"
	"                          carry X-Gitlab-Token: SECRET\n"
	"                          [RACEBOARD_GITLAB__SECRET]\n"
	"      --hook-max-body BYTES  largest webhook delivery accepted\n"
	"                          (default 1048576, at most 26214400)\n"
	"\n"
	"Cluster mode (see docs/CLUSTER.md):\n"
	"      --nats URL[,URL]    join the cluster whose log is on these NATS\n"
	"                          JetStream servers [RACEBOARD_CLUSTER__NATS]\n"
	"      --node NAME         this node's name [RACEBOARD_CLUSTER__NODE]\n"
	"                          (default host:port)\n"
	"      --nats-stream NAME  the stream (default RACEBOARD)\n"
	"      --nats-replicas N   its replicas, 1 to 5 (default 3)\n"
	"      --nats-timeout-ms MS  a write NATS has not acknowledged by then\n"
	"                          gets 503 (default 2000)\n"
	"      --nats-start-timeout SEC  at start, keep trying this long while\n"
	"                          NATS is unreachable or its JetStream cannot\n"
	"                          serve the stream yet (default 60; 0: once)\n"
	"      --cluster-max-lag N /health answers 503 when this node is more\n"
	"                          than N entries behind the stream (default 1000)\n"
	"\n"
	"      --no-sync           do not fsync at commit: survives a crash of the\n"
	"                          server, not of the machine (benchmarks, tests)\n"
	"  -h, --help              show this help and exit\n"
	"  -V, --version           show the version and exit\n";

/* Whether the running executable lies under the build directory. */
static int running_from_build_dir(void)
{
	char self[PATH_MAX], root[PATH_MAX];
	size_t n;

	if (!RACEBOARD_BUILD_ROOT[0] || !realpath("/proc/self/exe", self) ||
	    !realpath(RACEBOARD_BUILD_ROOT, root))
		return 0;
	n = strlen(root);
	return !strncmp(self, root, n) && self[n] == '/';
}

void srv_cfg_defaults(struct srv_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->bind, "127.0.0.1");
	cfg->port = 7777;
	strcpy(cfg->data_dir, "./raceboard-data");
	snprintf(cfg->web_root, sizeof(cfg->web_root), "%s",
		 running_from_build_dir() ? RACEBOARD_DEFAULT_WEB_ROOT :
		 RACEBOARD_INSTALLED_WEB_ROOT);
	cfg->log_level = 2;
	cfg->access_log = 1;
	cfg->max_body = 64 * 1024;
	cfg->max_races = 100000;
	cfg->finished_ttl_sec = 86400;
	cfg->map_size_max = (size_t)1024 * 1024 * 1024;
	cfg->delta_log_max = 10000;
	cfg->heartbeat_sec = 15;
	cfg->ws_max_message = 64 * 1024;
	cfg->ws_max_conns = 4096;
	cfg->ws_backlog = 8192;
	cfg->ws_slice_us = SRV_CFG_WS_SLICE_US;
	cfg->ws_threads = 1;
	cfg->ws_max_queued = (size_t)128 * 1024 * 1024;
	cfg->subscribe_deadline_sec = 30;
	strcpy(cfg->predict_context_key, "build");
	cfg->http_timeout_sec = 20;
	cfg->max_connections = 10000;
	cfg->rate_limit = 100000;
	cfg->hook_max_body = 1024 * 1024;
	strcpy(cfg->nats_stream, "RACEBOARD");
	cfg->nats_replicas = 3;
	cfg->nats_timeout_ms = 2000;
	cfg->nats_start_timeout_sec = 60;
	cfg->cluster_max_lag = 1000;
}

/* Parses a whole decimal number within [min, max]; 0 on success. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n == 0 || n >= cap)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

static int parse_level(const char *s, int *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (!strcmp(s, level_names[i])) {
			*out = (int)i;
			return 0;
		}
	return -1;
}

enum {
	OPT_WEB_ROOT = 1000, OPT_MAX_BODY, OPT_MAX_RACES, OPT_FINISHED_TTL,
	OPT_MAX_STORE_MB, OPT_PORT_FILE, OPT_NO_SYNC, OPT_DELTA_LOG,
	OPT_HEARTBEAT, OPT_WS_MAX_CONNS, OPT_WS_BACKLOG, OPT_WS_SLICE_US,
	OPT_WS_THREADS,
	OPT_SUB_DEADLINE,
	OPT_ALLOW_ORIGIN, OPT_ALLOW_ORIGINS, OPT_ALLOW_HOST, OPT_ALLOW_HOSTS,
	OPT_TOKEN, OPT_TOKEN_FOR_READS, OPT_INSECURE, OPT_HTTP_TIMEOUT,
	OPT_MAX_CONNECTIONS, OPT_MAX_CONNS_PER_IP, OPT_RATE_LIMIT,
	OPT_MAX_SUBS_PER_IP, OPT_CONTEXT_KEY, OPT_GITHUB_SECRET,
	OPT_GITLAB_SECRET, OPT_HOOK_MAX_BODY, OPT_WS_MAX_QUEUED_MB,
	OPT_ACCESS_LOG, OPT_NATS, OPT_NODE, OPT_NATS_STREAM, OPT_NATS_REPLICAS,
	OPT_NATS_TIMEOUT, OPT_NATS_START_TIMEOUT, OPT_CLUSTER_MAX_LAG,
	OPT_TRUSTED_PROXY,
	OPT_TRUSTED_PROXIES,
};

/* A stream or node name of letters, digits and `extra`: a stream's
 * name may not hold the separators of NATS subjects ('.'), a node's
 * may ("127.0.0.1:7777"). */
static int set_name(char *dst, size_t cap, const char *v, const char *extra)
{
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(extra, *p))
			return -1;
	return copy_str(dst, cap, v);
}

/* An origin as browsers send it: scheme://host[:port], no path, no
 * trailing slash; "null" is accepted too (sandboxed pages). Stored lower
 * case, since scheme and host compare case-insensitively. */
static int add_origin(struct srv_cfg *cfg, const char *v)
{
	size_t n = strlen(v);
	const char *host = strstr(v, "://");
	char *dst;

	if (cfg->n_allow_origins == SRV_CFG_LIST_MAX || n == 0 ||
	    n >= SRV_CFG_NAME_MAX)
		return -1;
	if (strcmp(v, "null") &&
	    (!host || host == v || !host[3] || strchr(host + 3, '/')))
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
			return -1;
	dst = cfg->allow_origins[cfg->n_allow_origins++];
	for (size_t i = 0; i <= n; i++)
		dst[i] = (char)tolower((unsigned char)v[i]);
	return 0;
}

/* A host name or address as it appears in a Host header, without port. */
static int add_host(struct srv_cfg *cfg, const char *v)
{
	size_t n = strlen(v);
	char *dst;

	if (cfg->n_allow_hosts == SRV_CFG_LIST_MAX || n == 0 ||
	    n >= SRV_CFG_NAME_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && !strchr(".-_:[]", v[i]))
			return -1;
	dst = cfg->allow_hosts[cfg->n_allow_hosts++];
	for (size_t i = 0; i <= n; i++)
		dst[i] = (char)tolower((unsigned char)v[i]);
	return 0;
}

/* Applies add(cfg, item) to each item of a comma-separated list. */
/* A proxy's address, IPv4 or IPv6 (no names: it is compared with the
 * peer address of each connection). */
static int add_proxy(struct srv_cfg *cfg, const char *v)
{
	unsigned char *a;
	struct in_addr v4;

	if (cfg->n_trusted_proxies == SRV_CFG_LIST_MAX)
		return -1;
	a = cfg->trusted_proxies[cfg->n_trusted_proxies];
	if (inet_pton(AF_INET, v, &v4) == 1) {
		memset(a, 0, 10);
		a[10] = a[11] = 0xff;
		memcpy(a + 12, &v4, 4);
	} else if (inet_pton(AF_INET6, v, a) != 1) {
		return -1;
	}
	cfg->n_trusted_proxies++;
	return 0;
}

static int add_list(struct srv_cfg *cfg, const char *list,
		    int (*add)(struct srv_cfg *, const char *))
{
	char item[SRV_CFG_NAME_MAX];

	while (*list) {
		size_t n = strcspn(list, ",");

		while (n && *list == ' ') {
			list++;
			n--;
		}
		if (n >= sizeof(item))
			return -1;
		memcpy(item, list, n);
		while (n && item[n - 1] == ' ')
			n--;
		item[n] = '\0';
		if (n && add(cfg, item))
			return -1;
		list += strcspn(list, ",");
		if (*list == ',')
			list++;
	}
	return 0;
}

/* A bearer token: 8 to 255 visible ASCII characters. */
static int set_token(struct srv_cfg *cfg, const char *v)
{
	size_t n = strlen(v);

	if (n < 8 || n >= sizeof(cfg->token))
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
			return -1;
	memcpy(cfg->token, v, n + 1);
	return 0;
}

/* A webhook secret: 1 to 255 bytes, no control characters (it travels
 * in a header, for GitLab). */
static int set_secret(char dst[SRV_CFG_NAME_MAX], const char *v)
{
	size_t n = strlen(v);

	if (n < 1 || n >= SRV_CFG_NAME_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return -1;
	memcpy(dst, v, n + 1);
	return 0;
}

/*
 * Applies one named setting. `name` is the flag's long name, used in the
 * error message. Returns 0, or -1 after printing why to `err`.
 */
static int apply(struct srv_cfg *cfg, int opt, const char *name,
		 const char *val, FILE *err)
{
	uint64_t v = 0;
	int rc = 0;

	switch (opt) {
	case 'b':
		rc = copy_str(cfg->bind, sizeof(cfg->bind), val);
		break;
	case 'p':
		rc = parse_u64(val, 0, 65535, &v);
		cfg->port = (int)v;
		break;
	case 'd':
		rc = copy_str(cfg->data_dir, sizeof(cfg->data_dir), val);
		break;
	case 'l':
		rc = parse_level(val, &cfg->log_level);
		break;
	case OPT_WEB_ROOT:
		rc = copy_str(cfg->web_root, sizeof(cfg->web_root), val);
		break;
	case OPT_PORT_FILE:
		rc = copy_str(cfg->port_file, sizeof(cfg->port_file), val);
		break;
	case OPT_MAX_BODY:
		rc = parse_u64(val, 256, 64 * 1024 * 1024, &v);
		cfg->max_body = (size_t)v;
		break;
	case OPT_MAX_RACES:
		rc = parse_u64(val, 1, 100000000, &v);
		cfg->max_races = v;
		break;
	case OPT_FINISHED_TTL:
		rc = parse_u64(val, 0, 10ULL * 365 * 86400, &v);
		cfg->finished_ttl_sec = (int64_t)v;
		break;
	case OPT_MAX_STORE_MB:
		rc = parse_u64(val, 1, 1024 * 1024, &v);
		cfg->map_size_max = (size_t)v * 1024 * 1024;
		break;
	case OPT_DELTA_LOG:
		rc = parse_u64(val, 1, 100000000, &v);
		cfg->delta_log_max = v;
		break;
	case OPT_HEARTBEAT:
		rc = parse_u64(val, 1, 3600, &v);
		cfg->heartbeat_sec = (int)v;
		break;
	case OPT_WS_MAX_CONNS:
		rc = parse_u64(val, 1, 1000000, &v);
		cfg->ws_max_conns = (unsigned)v;
		break;
	case OPT_WS_BACKLOG:
		rc = parse_u64(val, 16, 1u << 24, &v);
		cfg->ws_backlog = (unsigned)v;
		break;
	case OPT_WS_SLICE_US:
		rc = parse_u64(val, 0, 1000000, &v);
		cfg->ws_slice_us = (unsigned)v;
		break;
	case OPT_WS_THREADS:
		rc = parse_u64(val, 0, 1, &v);
		cfg->ws_threads = (unsigned)v;
		break;
	case OPT_WS_MAX_QUEUED_MB:
		rc = parse_u64(val, 1, 1024 * 1024, &v);
		cfg->ws_max_queued = (size_t)v * 1024 * 1024;
		break;
	case OPT_CONTEXT_KEY:
		rc = copy_str(cfg->predict_context_key,
			      sizeof(cfg->predict_context_key), val);
		break;
	case OPT_SUB_DEADLINE:
		rc = parse_u64(val, 1, 86400, &v);
		cfg->subscribe_deadline_sec = (int)v;
		break;
	case OPT_ALLOW_ORIGIN:
		rc = add_origin(cfg, val);
		break;
	case OPT_ALLOW_ORIGINS:
		rc = add_list(cfg, val, add_origin);
		break;
	case OPT_ALLOW_HOST:
		rc = add_host(cfg, val);
		break;
	case OPT_TRUSTED_PROXY:
		rc = add_proxy(cfg, val);
		break;
	case OPT_TRUSTED_PROXIES:
		rc = add_list(cfg, val, add_proxy);
		break;
	case OPT_ALLOW_HOSTS:
		rc = add_list(cfg, val, add_host);
		break;
	case OPT_TOKEN:
		rc = set_token(cfg, val);
		break;
	case OPT_HTTP_TIMEOUT:
		rc = parse_u64(val, 1, 3600, &v);
		cfg->http_timeout_sec = (int)v;
		break;
	case OPT_MAX_CONNECTIONS:
		rc = parse_u64(val, 1, 1000000, &v);
		cfg->max_connections = (unsigned)v;
		break;
	case OPT_MAX_CONNS_PER_IP:
		rc = parse_u64(val, 0, 1000000, &v);
		cfg->max_conns_per_ip = (unsigned)v;
		break;
	case OPT_RATE_LIMIT:
		rc = parse_u64(val, 0, 10000000, &v);
		cfg->rate_limit = (unsigned)v;
		break;
	case OPT_MAX_SUBS_PER_IP:
		rc = parse_u64(val, 0, 1000000, &v);
		cfg->max_subs_per_ip = (unsigned)v;
		break;
	case OPT_GITHUB_SECRET:
		rc = set_secret(cfg->github_secret, val);
		break;
	case OPT_GITLAB_SECRET:
		rc = set_secret(cfg->gitlab_secret, val);
		break;
	case OPT_ACCESS_LOG:
		rc = strcmp(val, "on") && strcmp(val, "off") ? -1 : 0;
		cfg->access_log = !strcmp(val, "on");
		break;
	case OPT_HOOK_MAX_BODY:
		/* GitHub caps its payloads at 25 MB. */
		rc = parse_u64(val, 1024, 25 * 1024 * 1024, &v);
		cfg->hook_max_body = (size_t)v;
		break;
	case OPT_NATS:
		rc = copy_str(cfg->nats, sizeof(cfg->nats), val);
		break;
	case OPT_NODE:
		rc = set_name(cfg->node, sizeof(cfg->node), val, "-_:.");
		break;
	case OPT_NATS_STREAM:
		rc = set_name(cfg->nats_stream, sizeof(cfg->nats_stream), val,
			      "-_");
		break;
	case OPT_NATS_REPLICAS:
		rc = parse_u64(val, 1, 5, &v);
		cfg->nats_replicas = (int)v;
		break;
	case OPT_NATS_TIMEOUT:
		rc = parse_u64(val, 100, 600000, &v);
		cfg->nats_timeout_ms = (int64_t)v;
		break;
	case OPT_NATS_START_TIMEOUT:
		rc = parse_u64(val, 0, 86400, &v);
		cfg->nats_start_timeout_sec = (int)v;
		break;
	case OPT_CLUSTER_MAX_LAG:
		rc = parse_u64(val, 0, UINT64_MAX, &v);
		cfg->cluster_max_lag = v;
		break;
	default:
		rc = -1;
	}
	if (rc && opt == OPT_TOKEN) /* never echo a secret */
		fprintf(err, "raceboard-server: invalid value for %s: a token "
			"is 8 to 255 visible ASCII characters\n", name);
	else if (rc && (opt == OPT_GITHUB_SECRET || opt == OPT_GITLAB_SECRET))
		fprintf(err, "raceboard-server: invalid value for %s: a "
			"webhook secret is 1 to 255 bytes without control "
			"characters\n", name);
	else if (rc)
		fprintf(err, "raceboard-server: invalid value for %s: '%s'\n",
			name, val);
	return rc;
}

static const struct {
	const char *env;
	int opt;
	const char *name;
} env_map[] = {
	{"RACEBOARD_SERVER__BIND", 'b', "RACEBOARD_SERVER__BIND"},
	{"RACEBOARD_SERVER__HTTP_PORT", 'p', "RACEBOARD_SERVER__HTTP_PORT"},
	{"RACEBOARD_PERSISTENCE__PATH", 'd', "RACEBOARD_PERSISTENCE__PATH"},
	{"RACEBOARD_LOGGING__LEVEL", 'l', "RACEBOARD_LOGGING__LEVEL"},
	{"RACEBOARD_SERVER__ALLOW_ORIGINS", OPT_ALLOW_ORIGINS,
	 "RACEBOARD_SERVER__ALLOW_ORIGINS"},
	{"RACEBOARD_SERVER__ALLOW_HOSTS", OPT_ALLOW_HOSTS,
	 "RACEBOARD_SERVER__ALLOW_HOSTS"},
	{"RACEBOARD_SERVER__TRUSTED_PROXIES", OPT_TRUSTED_PROXIES,
	 "RACEBOARD_SERVER__TRUSTED_PROXIES"},
	{"RACEBOARD_TOKEN", OPT_TOKEN, "RACEBOARD_TOKEN"},
	{"RACEBOARD_LOGGING__ACCESS_LOG", OPT_ACCESS_LOG,
	 "RACEBOARD_LOGGING__ACCESS_LOG"},
	{"RACEBOARD_GITHUB__SECRET", OPT_GITHUB_SECRET,
	 "RACEBOARD_GITHUB__SECRET"},
	{"RACEBOARD_GITLAB__SECRET", OPT_GITLAB_SECRET,
	 "RACEBOARD_GITLAB__SECRET"},
	{"RACEBOARD_SERVER__WS_MAX_QUEUED_MB", OPT_WS_MAX_QUEUED_MB,
	 "RACEBOARD_SERVER__WS_MAX_QUEUED_MB"},
	{"RACEBOARD_CLUSTER__NATS", OPT_NATS, "RACEBOARD_CLUSTER__NATS"},
	{"RACEBOARD_CLUSTER__NODE", OPT_NODE, "RACEBOARD_CLUSTER__NODE"},
};

/* The long name of a flag, for messages ("port" for 'p'). */
static const char *flag_name(const struct option *opts, int opt)
{
	for (; opts->name; opts++)
		if (opts->val == opt)
			return opts->name;
	return "option";
}

int srv_cfg_parse(struct srv_cfg *cfg, int argc, char **argv,
		  char *(*getenv_fn)(const char *), FILE *out, FILE *err)
{
	static const struct option longopts[] = {
		{"bind", required_argument, NULL, 'b'},
		{"port", required_argument, NULL, 'p'},
		{"data-dir", required_argument, NULL, 'd'},
		{"log-level", required_argument, NULL, 'l'},
		{"web-root", required_argument, NULL, OPT_WEB_ROOT},
		{"max-body", required_argument, NULL, OPT_MAX_BODY},
		{"max-races", required_argument, NULL, OPT_MAX_RACES},
		{"finished-ttl", required_argument, NULL, OPT_FINISHED_TTL},
		{"max-store-mb", required_argument, NULL, OPT_MAX_STORE_MB},
		{"delta-log", required_argument, NULL, OPT_DELTA_LOG},
		{"port-file", required_argument, NULL, OPT_PORT_FILE},
		{"heartbeat", required_argument, NULL, OPT_HEARTBEAT},
		{"ws-max-conns", required_argument, NULL, OPT_WS_MAX_CONNS},
		{"ws-backlog", required_argument, NULL, OPT_WS_BACKLOG},
		{"ws-slice-us", required_argument, NULL, OPT_WS_SLICE_US},
		{"ws-threads", required_argument, NULL, OPT_WS_THREADS},
		{"ws-max-queued-mb", required_argument, NULL,
		 OPT_WS_MAX_QUEUED_MB},
		{"subscribe-deadline", required_argument, NULL, OPT_SUB_DEADLINE},
		{"predict-context-key", required_argument, NULL, OPT_CONTEXT_KEY},
		{"allow-origin", required_argument, NULL, OPT_ALLOW_ORIGIN},
		{"trusted-proxy", required_argument, NULL, OPT_TRUSTED_PROXY},
		{"allow-host", required_argument, NULL, OPT_ALLOW_HOST},
		{"token", required_argument, NULL, OPT_TOKEN},
		{"token-for-reads", no_argument, NULL, OPT_TOKEN_FOR_READS},
		{"insecure", no_argument, NULL, OPT_INSECURE},
		{"http-timeout", required_argument, NULL, OPT_HTTP_TIMEOUT},
		{"max-connections", required_argument, NULL,
		 OPT_MAX_CONNECTIONS},
		{"max-conns-per-ip", required_argument, NULL,
		 OPT_MAX_CONNS_PER_IP},
		{"rate-limit", required_argument, NULL, OPT_RATE_LIMIT},
		{"max-subs-per-ip", required_argument, NULL,
		 OPT_MAX_SUBS_PER_IP},
		{"access-log", required_argument, NULL, OPT_ACCESS_LOG},
		{"github-secret", required_argument, NULL, OPT_GITHUB_SECRET},
		{"gitlab-secret", required_argument, NULL, OPT_GITLAB_SECRET},
		{"hook-max-body", required_argument, NULL, OPT_HOOK_MAX_BODY},
		{"nats", required_argument, NULL, OPT_NATS},
		{"node", required_argument, NULL, OPT_NODE},
		{"nats-stream", required_argument, NULL, OPT_NATS_STREAM},
		{"nats-replicas", required_argument, NULL, OPT_NATS_REPLICAS},
		{"nats-timeout-ms", required_argument, NULL, OPT_NATS_TIMEOUT},
		{"nats-start-timeout", required_argument, NULL,
		 OPT_NATS_START_TIMEOUT},
		{"cluster-max-lag", required_argument, NULL,
		 OPT_CLUSTER_MAX_LAG},
		{"no-sync", no_argument, NULL, OPT_NO_SYNC},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int opt, idx;

	for (size_t i = 0; i < sizeof(env_map) / sizeof(env_map[0]); i++) {
		const char *v = getenv_fn(env_map[i].env);

		if (v && *v &&
		    apply(cfg, env_map[i].opt, env_map[i].name, v, err))
			return SRV_CFG_ERROR;
	}

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":b:p:d:l:hV", longopts,
				  &idx)) != -1) {
		switch (opt) {
		case 'h':
			fputs(usage, out);
			fputs(usage_more, out);
			fputs(usage_hooks, out);
			return SRV_CFG_EXIT_OK;
		case 'V':
			fprintf(out, "raceboard-server %s\n", RACEBOARD_VERSION);
			return SRV_CFG_EXIT_OK;
		case OPT_NO_SYNC:
			cfg->no_sync = 1;
			break;
		case OPT_TOKEN_FOR_READS:
			cfg->token_for_reads = 1;
			break;
		case OPT_INSECURE:
			cfg->insecure = 1;
			break;
		case ':':
			fprintf(err, "raceboard-server: %s needs a value\n",
				argv[optind - 1]);
			return SRV_CFG_ERROR;
		case '?':
			fprintf(err, "raceboard-server: unknown option '%s' "
				"(see --help)\n", argv[optind - 1]);
			return SRV_CFG_ERROR;
		default:
			if (apply(cfg, opt, flag_name(longopts, opt), optarg,
				  err))
				return SRV_CFG_ERROR;
		}
	}
	if (optind < argc) {
		fprintf(err, "raceboard-server: unexpected argument '%s'\n",
			argv[optind]);
		return SRV_CFG_ERROR;
	}
	if (cfg->token_for_reads && !cfg->token[0]) {
		fprintf(err, "raceboard-server: --token-for-reads needs a "
			"token (--token or RACEBOARD_TOKEN)\n");
		return SRV_CFG_ERROR;
	}
	return SRV_CFG_OK;
}
