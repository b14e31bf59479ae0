#!/usr/bin/env bash
# Runs a three-node nats-server cluster on this machine, JetStream on every
# node, until Ctrl-C: what the platform runs on with FAAS_JS_REPLICAS=3.
#
#   scripts/nats-cluster.sh [DATA_DIR]     # default .data/nats-cluster
#
# Node i (0, 1, 2) serves clients on 4222+i, routes on 6222+i and
# monitoring on 8222+i (http://127.0.0.1:8222/jsz?streams=true), and keeps
# its store in DATA_DIR/n<i>, so a restarted cluster has its state. Point
# every role at all three nodes:
#
#   export NATS_URL=nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224
#   export FAAS_JS_REPLICAS=3
#
# Kill one node (kill -9 the pid printed for it) to watch the platform ride
# out a lost node: the script starts it again after NATS_CLUSTER_RESTART_SECS
# (default 20) on the same store, and it catches up. Ctrl-C stops them all.
# Ports can be moved with NATS_CLUSTER_CLIENT_PORT, _ROUTE_PORT and
# _MONITOR_PORT (the first node's; the others follow).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${NATS_SERVER_BIN:-nats-server}"
command -v "$bin" >/dev/null || { echo "nats-server not found (install it or set NATS_SERVER_BIN)" >&2; exit 1; }
data="${1:-.data/nats-cluster}"
client="${NATS_CLUSTER_CLIENT_PORT:-4222}"
route="${NATS_CLUSTER_ROUTE_PORT:-6222}"
monitor="${NATS_CLUSTER_MONITOR_PORT:-8222}"
routes="\"nats-route://127.0.0.1:$route\", \"nats-route://127.0.0.1:$((route + 1))\", \"nats-route://127.0.0.1:$((route + 2))\""

restart_after="${NATS_CLUSTER_RESTART_SECS:-20}"
trap 'trap - EXIT INT TERM; kill 0 2>/dev/null; exit 0' EXIT INT TERM

# Runs node $1 and starts it again whenever it exits.
supervise() {
  local i="$1" dir="$data/n$1"
  while true; do
    # One Go scheduler thread per node, as the local stack runs its server
    # (ARCHITECTURE.md, "NATS server"), unless GOMAXPROCS is set.
    GOMAXPROCS="${GOMAXPROCS:-1}" "$bin" -c "$dir/node.conf" >>"$dir/nats-server.log" 2>&1 &
    echo "node n$i: nats://127.0.0.1:$((client + i)) (pid $!, log $dir/nats-server.log)"
    wait "$!" || true
    echo "node n$i exited; starting it again in ${restart_after}s" >&2
    sleep "$restart_after"
  done
}

for i in 0 1 2; do
  dir="$data/n$i"
  mkdir -p "$dir"
  cat >"$dir/node.conf" <<CONF
server_name: "n$i"
listen: "127.0.0.1:$((client + i))"
http: "127.0.0.1:$((monitor + i))"
jetstream {
  store_dir: "$dir"
}
cluster {
  name: "faas-local"
  listen: "127.0.0.1:$((route + i))"
  routes: [ $routes ]
}
CONF
  supervise "$i" &
done
sleep 1
echo "export NATS_URL=nats://127.0.0.1:$client,nats://127.0.0.1:$((client + 1)),nats://127.0.0.1:$((client + 2))"
echo "export FAAS_JS_REPLICAS=3"
wait
