#!/bin/sh
# tools/cluster.sh - cluster mode on loopback (docs/CLUSTER.md): a 3-node
# NATS JetStream cluster (routes, JetStream store dirs under one temp
# dir) and 3 Raceboard servers on ports 7777, 7778, 7779, each with its
# own data dir, all on the one stream (3 replicas). Ctrl-C stops them
# all and removes the temp dir.
#
# Usage: tools/cluster.sh [BUILD_DIR]   (default build; `make cluster`)
# Environment: CLUSTER_PORT (7777), NATS_PORT (4222, then +1, +2),
# NATS_ROUTE_PORT (6222...), NATS_MON_PORT (8222...), CLUSTER_KEEP=1 to
# keep the temp dir.
set -eu

build=${1:-build}
bin=$build/server/raceboard-server
port=${CLUSTER_PORT:-7777}
nport=${NATS_PORT:-4222}
rport=${NATS_ROUTE_PORT:-6222}
mport=${NATS_MON_PORT:-8222}
[ -x "$bin" ] || { echo "cluster.sh: no $bin (run make build)" >&2; exit 1; }
command -v nats-server >/dev/null ||
	{ echo "cluster.sh: nats-server missing (tools/install-deps.sh)" >&2; exit 1; }

dir=$(mktemp -d /tmp/raceboard-cluster-XXXXXX)
pids=""
stop() {
	trap - EXIT INT TERM
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	[ "${CLUSTER_KEEP:-0}" = 1 ] || rm -rf "$dir"
	echo "cluster stopped"
}
trap stop EXIT
trap 'exit 130' INT TERM

routes="nats://127.0.0.1:$rport,nats://127.0.0.1:$((rport + 1)),nats://127.0.0.1:$((rport + 2))"
urls=""
for i in 0 1 2; do
	mkdir -p "$dir/nats$i"
	nats-server -js -a 127.0.0.1 -p $((nport + i)) -m $((mport + i)) \
		-n "nats$i" -sd "$dir/nats$i" --cluster_name raceboard \
		--cluster "nats://127.0.0.1:$((rport + i))" --routes "$routes" \
		>"$dir/nats$i.log" 2>&1 &
	pids="$pids $!"
	urls="$urls${urls:+,}nats://127.0.0.1:$((nport + i))"
done

# JetStream answers once its meta group has a leader: wait for it.
for i in 0 1 2; do
	n=0
	until curl -sf "http://127.0.0.1:$((mport + i))/healthz" >/dev/null; do
		n=$((n + 1))
		[ $n -lt 150 ] || { echo "cluster.sh: nats$i not ready; see $dir/nats$i.log" >&2; exit 1; }
		sleep 0.2
	done
done

for i in 0 1 2; do
	p=$((port + i))
	n=0
	# The first node creates the stream; a fresh JetStream cluster may
	# still refuse it for a moment, so a node that exits is retried.
	while :; do
		"$bin" --port $p --data-dir "$dir/data$i" --nats "$urls" \
			--node "node$i" --nats-replicas 3 --log-level notice \
			>>"$dir/server$i.log" 2>&1 &
		spid=$!
		k=0
		while [ $k -lt 50 ] && kill -0 $spid 2>/dev/null &&
		      ! curl -sf "http://127.0.0.1:$p/health" >/dev/null; do
			k=$((k + 1)); sleep 0.1
		done
		if curl -sf "http://127.0.0.1:$p/health" >/dev/null; then
			pids="$pids $spid"
			break
		fi
		wait $spid 2>/dev/null && st=0 || st=$?
		n=$((n + 1))
		if [ $st -eq 2 ] || [ $n -ge 20 ]; then
			echo "cluster.sh: node$i did not start:" >&2
			tail -3 "$dir/server$i.log" >&2
			exit 1
		fi
		sleep 0.5
	done
done

echo "Raceboard cluster (3 NATS JetStream nodes, 3 servers, stream RACEBOARD, 3 replicas):"
for i in 0 1 2; do
	echo "  node$i  http://127.0.0.1:$((port + i))/   (NATS nats://127.0.0.1:$((nport + i)))"
done
echo "Logs and data in $dir. Ctrl-C stops all of them."
# Waits until Ctrl-C, or until any process exits.
while :; do
	for p in $pids; do
		kill -0 "$p" 2>/dev/null || { echo "cluster.sh: process $p exited" >&2; exit 1; }
	done
	sleep 1
done
