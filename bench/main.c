/*
 * main.c - raceboard-bench: picks a scenario, parses its options, runs it.
 *
 * Every scenario prints one JSON line of results, then a "# " line for
 * humans. See docs/PERFORMANCE.md for the commands and what they measure.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: raceboard-bench SCENARIO [options]\n"
		"scenarios: ingest-http, ingest-ws, fanout, stop-and-wait, stall,\n"
		"           cold-start, loopback\n"
		"  stop-and-wait is fanout with --rate 0 (each producer sends its\n"
		"  next update once the last is acknowledged), 1 HTTP producer and\n"
		"  1000 subscribers unless told otherwise\n"
		"  --server-bin PATH   start this server (else --port of a running one)\n"
		"  --port N            an already running server (no /proc stats)\n"
		"  --no-sync           start the server with --no-sync\n"
		"  --server-arg ARG    one more server flag (repeatable)\n"
		"  --conns K           ingest: connections (default 32 http, 4 ws)\n"
		"  --window W          ingest-ws: messages in flight per connection (256)\n"
		"  --races R           races created first (default 1000; cold-start 100000)\n"
		"  --duration SEC      seconds of load (default 5; stall 10)\n"
		"  --requests N        ingest: stop after N updates (0: duration only)\n"
		"  --subs S            fanout: subscribers (100); cold-start: live subs (0)\n"
		"  --rate U            fanout: target updates/s (1000); 0: stop-and-wait\n"
		"  --filter            fanout: subscribe with sources/states filters\n"
		"  --via http|ws       fanout: producer protocol (http)\n"
		"  --producers P       fanout: producer connections (8 http, 1 ws)\n"
		"  --sub-threads T     fanout: subscriber threads (1)\n"
		"  --sub-ports P,P..   fanout: subscribers on these running servers,\n"
		"                      round-robin (cluster nodes); 0 names the\n"
		"                      producers' server (the default)\n"
		"  --stall SEC         stall: seconds the subscribers read nothing (5)\n"
		"  --rcvbuf BYTES      stall: subscribers' socket receive buffer (0:\n"
		"                      the kernel's)\n"
		"  --snapshot M        cold-start: races in the timed snapshot (10000)\n"
		"  --chunk BYTES       loopback: bytes per write (65536)\n"
		"  --window 0          loopback: request/response (requests of --chunk bytes)\n");
}

int main(int argc, char **argv)
{
	enum { O_BIN = 256, O_PORT, O_NOSYNC, O_ARG, O_CONNS, O_WINDOW,
	       O_RACES, O_DUR, O_REQ, O_SUBS, O_RATE, O_FILTER, O_VIA,
	       O_PROD, O_THR, O_SNAP, O_CHUNK, O_STALL, O_RCVBUF, O_SUBPORTS,
	       O_HELP };
	static const struct option longopts[] = {
		{"server-bin", required_argument, NULL, O_BIN},
		{"port", required_argument, NULL, O_PORT},
		{"no-sync", no_argument, NULL, O_NOSYNC},
		{"server-arg", required_argument, NULL, O_ARG},
		{"conns", required_argument, NULL, O_CONNS},
		{"window", required_argument, NULL, O_WINDOW},
		{"races", required_argument, NULL, O_RACES},
		{"duration", required_argument, NULL, O_DUR},
		{"requests", required_argument, NULL, O_REQ},
		{"subs", required_argument, NULL, O_SUBS},
		{"rate", required_argument, NULL, O_RATE},
		{"filter", no_argument, NULL, O_FILTER},
		{"via", required_argument, NULL, O_VIA},
		{"producers", required_argument, NULL, O_PROD},
		{"sub-threads", required_argument, NULL, O_THR},
		{"snapshot", required_argument, NULL, O_SNAP},
		{"chunk", required_argument, NULL, O_CHUNK},
		{"stall", required_argument, NULL, O_STALL},
		{"rcvbuf", required_argument, NULL, O_RCVBUF},
		{"sub-ports", required_argument, NULL, O_SUBPORTS},
		{"help", no_argument, NULL, O_HELP},
		{0},
	};
	struct bn_opts o = {.races = -1, .duration = -1, .subs = -1,
			    .rate = 1000, .conns = -1, .window = 256,
			    .producers = -1, .sub_threads = 1,
			    .snapshot = 10000, .chunk = 65536, .stall = 5};
	const char *scenario;
	int c;

	if (argc < 2 || argv[1][0] == '-') {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	scenario = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case O_BIN: o.server_bin = optarg; break;
		case O_PORT: o.port = atoi(optarg); break;
		case O_NOSYNC: o.no_sync = 1; break;
		case O_ARG:
			if (o.n_extra < 15)
				o.extra[o.n_extra++] = optarg;
			break;
		case O_CONNS: o.conns = atol(optarg); break;
		case O_WINDOW: o.window = atol(optarg); break;
		case O_RACES: o.races = atol(optarg); break;
		case O_DUR: o.duration = atof(optarg); break;
		case O_REQ: o.requests = atol(optarg); break;
		case O_SUBS: o.subs = atol(optarg); break;
		case O_RATE: o.rate = atof(optarg); break;
		case O_FILTER: o.filter = 1; break;
		case O_VIA: o.via_ws = !strcmp(optarg, "ws"); break;
		case O_PROD: o.producers = atol(optarg); break;
		case O_THR: o.sub_threads = atoi(optarg); break;
		case O_SNAP: o.snapshot = atol(optarg); break;
		case O_CHUNK: o.chunk = atol(optarg); break;
		case O_STALL: o.stall = atof(optarg); break;
		case O_RCVBUF: o.rcvbuf = atoi(optarg); break;
		case O_SUBPORTS:
			for (char *t = strtok(optarg, ","); t && o.n_sub_ports < 8;
			     t = strtok(NULL, ","))
				o.sub_ports[o.n_sub_ports++] = atoi(t);
			break;
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (o.duration < 0)
		o.duration = strcmp(scenario, "stall") ? 5 : 10;
	/* Bounded: every scenario stops by itself; these keep it sane. */
	if (o.duration <= 0 || o.duration > 600 || o.rate < 0 ||
	    (o.rate == 0 && strcmp(scenario, "fanout") &&
	     strcmp(scenario, "stop-and-wait")) ||
	    (o.window < 1 && strcmp(scenario, "loopback")) || o.window < 0 ||
	    o.window > 1000 || o.sub_threads < 1 ||
	    o.sub_threads > 16 || o.chunk < 1 || o.chunk > 16 << 20 ||
	    o.stall < 0 || o.rcvbuf < 0 || o.rcvbuf > 64 << 20 ||
	    (!strcmp(scenario, "stall") &&
	     (o.stall > o.duration || o.stall > 60))) {
		fprintf(stderr, "bench: an option is out of range\n");
		return 2;
	}
	bn_raise_nofile();
	if (!strcmp(scenario, "ingest-http") || !strcmp(scenario, "ingest-ws")) {
		int ws = scenario[7] == 'w';

		if (o.races < 0)
			o.races = 1000;
		if (o.conns < 0)
			o.conns = ws ? 4 : 32;
		return ws ? bn_scenario_ingest_ws(&o)
			  : bn_scenario_ingest_http(&o);
	}
	if (!strcmp(scenario, "stop-and-wait")) {
		o.rate = 0;
		if (o.subs < 0)
			o.subs = 1000;
		if (o.producers < 0)
			o.producers = 1;
		scenario = "fanout";
	}
	if (!strcmp(scenario, "fanout")) {
		if (o.races < 0)
			o.races = 1000;
		if (o.subs < 0)
			o.subs = 100;
		if (o.producers < 0)
			o.producers = o.via_ws ? 1 : 8;
		return bn_scenario_fanout(&o);
	}
	if (!strcmp(scenario, "stall")) {
		if (o.races < 0)
			o.races = 2000;
		if (o.subs < 0)
			o.subs = 1000;
		return bn_scenario_stall(&o);
	}
	if (!strcmp(scenario, "cold-start")) {
		if (o.races < 0)
			o.races = 100000;
		if (o.subs < 0)
			o.subs = 0;
		if (o.snapshot > o.races)
			o.snapshot = o.races;
		return bn_scenario_cold_start(&o);
	}
	if (!strcmp(scenario, "loopback")) {
		if (o.subs < 1)
			o.subs = 1000;
		return bn_scenario_loopback(&o);
	}
	fprintf(stderr, "bench: unknown scenario '%s'\n", scenario);
	usage(stderr);
	return 2;
}
