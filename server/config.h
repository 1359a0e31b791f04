/*
 * config.h - server configuration from defaults, environment and flags.
 *
 * Precedence: defaults < environment (RACEBOARD_*) < command-line flags.
 * Parsing never exits the process: main() decides what to do with the
 * result, so the parser is testable.
 */
#ifndef RACEBOARD_SERVER_CONFIG_H
#define RACEBOARD_SERVER_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "race.h"

#define SRV_CFG_LIST_MAX 16   /* entries of --allow-origin, --allow-host */
#define SRV_CFG_NAME_MAX 256  /* bytes of one origin, host or token */
#define SRV_CFG_WS_SLICE_US 250 /* default of --ws-slice-us */

struct srv_cfg {
	char bind[64];            /* address to listen on */
	int port;                 /* 0: ephemeral (tests) */
	char data_dir[1024];
	char web_root[1024];      /* static files served at / */
	char port_file[1024];     /* when set, the bound port is written here */
	int log_level;            /* 0 error, 1 warn, 2 notice, 3 info, 4 debug */
	int access_log;           /* one line per HTTP request, at notice */
	size_t max_body;          /* bytes of one HTTP request body */
	uint64_t max_races;       /* races kept at once */
	int64_t finished_ttl_sec; /* finished races stay listed this long */
	size_t map_size_max;      /* LMDB growth limit, bytes */
	int no_sync;              /* skip fsync at commit (tests, benchmarks) */
	uint64_t delta_log_max;   /* deltas retained for resume */
	int heartbeat_sec;        /* WebSocket heartbeat when idle */
	size_t ws_max_message;    /* bytes of one inbound WebSocket message */
	unsigned ws_max_conns;    /* WebSocket connections at once */
	unsigned ws_backlog;      /* recent deltas kept in memory for fan-out */
	unsigned ws_slice_us;     /* subscriber writes per service pass, in
	                           * time; 0: every queued one at once */
	unsigned ws_threads;      /* fan-out threads for WebSockets: 0 or 1 */
	size_t ws_max_queued;     /* bytes of frames subscribers hold in all;
	                           * over it the slowest are closed */
	int subscribe_deadline_sec; /* a silent WebSocket client is closed */
	char predict_context_key[PROTO_META_KEY_MAX + 1]; /* metadata key
	                          * naming a race's build, for prediction */

	/* Hardening (docs/HARDENING.md). */
	char allow_origins[SRV_CFG_LIST_MAX][SRV_CFG_NAME_MAX]; /* lower case */
	unsigned n_allow_origins; /* cross-origin pages allowed (CORS, /ws) */
	char allow_hosts[SRV_CFG_LIST_MAX][SRV_CFG_NAME_MAX];   /* lower case */
	unsigned n_allow_hosts;   /* Host names accepted besides loopback */
	/* Reverse proxies whose X-Forwarded-Proto/-Host are believed, as
	 * IPv6 (IPv4 mapped); none given: loopback ones. */
	unsigned char trusted_proxies[SRV_CFG_LIST_MAX][16];
	unsigned n_trusted_proxies;
	char token[SRV_CFG_NAME_MAX]; /* bearer token for writes; "" = none */
	int token_for_reads;      /* reads need the token too */
	int insecure;             /* allow a non-loopback bind without token */
	int http_timeout_sec;     /* headers and body must arrive within it */
	unsigned max_connections; /* TCP connections at once */
	unsigned max_conns_per_ip; /* per peer address; 0: no such cap */
	unsigned rate_limit;      /* requests or messages per second per
	                           * connection; 0: no limit */
	/* CI webhooks (docs/WEBHOOKS.md): "" = the route answers 404. */
	char github_secret[SRV_CFG_NAME_MAX]; /* HMAC key of X-Hub-Signature-256 */
	char gitlab_secret[SRV_CFG_NAME_MAX]; /* expected X-Gitlab-Token */
	size_t hook_max_body;     /* bytes of one webhook delivery */
	unsigned max_subs_per_ip; /* WebSocket subscriptions per peer
	                           * address; 0: no such cap */

	/* Cluster mode (docs/CLUSTER.md): "" = single node. */
	char nats[1024];          /* NATS URLs, comma-separated */
	char node[64];            /* this node's name; "" = host:port */
	char nats_stream[64];     /* the JetStream stream's name */
	int nats_replicas;        /* the stream's replicas (1..5) */
	int64_t nats_timeout_ms;  /* bound on connecting and on each ack */
	int nats_start_timeout_sec; /* start: retry NATS this long; 0: once */
	uint64_t cluster_max_lag; /* /health answers 503 beyond this lag */
};

enum srv_cfg_result {
	SRV_CFG_OK = 0,
	SRV_CFG_EXIT_OK = 1,      /* --help or --version was printed */
	SRV_CFG_ERROR = -1,       /* a message was printed to `err` */
};

/* Fills `cfg` with the built-in defaults. */
void srv_cfg_defaults(struct srv_cfg *cfg);

/*
 * Applies the environment (read through `getenv_fn`, normally getenv) and
 * then argv on top of *cfg. Help and version text go to `out`, problems to
 * `err`. Returns an srv_cfg_result.
 */
int srv_cfg_parse(struct srv_cfg *cfg, int argc, char **argv,
		  char *(*getenv_fn)(const char *), FILE *out, FILE *err);

#endif
