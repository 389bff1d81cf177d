#!/usr/bin/env bash
# mesh demo — the README's main job, the Docker Swarm tutorial's lab in one command. On a fresh Debian 12 machine
# (root): installs what it needs, builds a lab of four "hosts" (network namespaces, each with its own dockerd, on a
# private underlay 192.168.77.0/24), makes node1 a manager (`mesh agent --init`) and joins node2-4 as workers with
# the token, deploys the tutorial's stack (examples/getstartedlab.yml: web ×5 on port 4000, a visualizer and a
# redis-like counter pinned to the manager, a named volume), then fetches port 4000 on EVERY node (the routing mesh:
# each answer names the task that served it), shows `mesh stack ps` and `mesh status`, and tears down unless --keep.
# Not root: a gossip-only cluster on 127.0.0.x instead (demo-local.sh).
# Usage: ./demo.sh [--keep]
set -euo pipefail
cd "$(dirname "$0")"
KEEP=0; [ "${1:-}" = "--keep" ] && KEEP=1
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
  exec bash "$PWD/demo-local.sh" "$@"
fi
bash test/setup.sh
export PATH="/usr/local/bin:$PATH"   # setup's Node 24
npm run --silent build
PREFIX="demo$$"
LAB="bash $PWD/test/lab/lab.sh -p $PREFIX"
DIR=/var/lib/meshlab/$PREFIX
cleanup() {
  if [ "$KEEP" = 1 ]; then
    echo "kept: lab run $PREFIX. Try: $LAB exec node1 -- env MESH_DATA_DIR=$DIR/n1/mesh node $PWD/bin/mesh.js service ls"
    echo "      remove it with: $LAB down"
    return
  fi
  step "tearing down"
  $LAB down || true
}
trap cleanup EXIT

# The mesh CLI on node I (the manager is node1: its CLI talks to the local manager socket).
mesh() { local i=$1; shift; $LAB exec "node$i" -- env MESH_DATA_DIR="$DIR/n$i/mesh" node "$PWD/bin/mesh.js" "$@"; }
wait_for() { local what=$1 n=$2; shift 2; for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done; echo "timed out: $what" >&2; return 1; }

step "lab: 4 hosts (node1-node4), each a network namespace with its own dockerd"
bash test/lab/lab.sh up 4 --prefix "$PREFIX" --owner $$ | tail -5

step "node1: mesh agent --init (gossip :7946, WireGuard :51820, manager API :7947)"
$LAB spawn node1 --name agent -- node "$PWD/bin/mesh.js" agent --name node1 --bind 192.168.77.11 --data-dir "$DIR/n1/mesh" --overlay on --init >/dev/null
wait_for "the manager" 90 mesh 1 token show worker -q
TOKEN=$(mesh 1 token show worker -q)
echo "worker join token: $TOKEN"

step "node2-node4: MESH_JOIN_TOKEN=… mesh agent --join 192.168.77.11"
for i in 2 3 4; do
  $LAB spawn "node$i" --name agent -- env MESH_JOIN_TOKEN="$TOKEN" node "$PWD/bin/mesh.js" agent --name "node$i" \
    --bind "192.168.77.1$i" --data-dir "$DIR/n$i/mesh" --overlay on --join 192.168.77.11 >/dev/null
done
ready() { [ "$(mesh 1 node ls --json | grep -c '"state": *"ready"')" = 4 ]; }
wait_for "four ready nodes" 120 ready
mesh 1 node ls

step "mesh stack deploy -c examples/getstartedlab.yml getstartedlab"
mesh 1 stack deploy -c examples/getstartedlab.yml getstartedlab
mesh 1 stack ps getstartedlab

step "the routing mesh: port 4000 on every node, round-robin over the 5 web tasks wherever they run"
for i in 1 2 3 4; do
  printf 'node%s:4000 →' "$i"
  for _ in 1 2 3 4 5; do printf ' %s' "$($LAB client curl -s -m 3 "http://192.168.77.1$i:4000/" | cut -d. -f1-2)"; done
  echo
done

step "pinned to the manager: the visualizer on :8080 and the counter (named volume) on :6379, reached through node3"
$LAB client curl -s -m 3 http://192.168.77.13:8080/
for _ in 1 2 3; do $LAB client curl -s -m 3 http://192.168.77.13:6379/cgi-bin/hits; done

step "mesh status on node2 (members, overlay peers, published ports with their endpoints, DNS)"
mesh 2 status
echo; echo "demo finished (the live dashboard is https://192.168.77.11:7947/ui inside the lab: log in with a code from \`mesh ui login\`)"
