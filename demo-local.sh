#!/usr/bin/env bash
# mesh demo without root (called by demo.sh): a local gossip cluster on loopback — three mesh agents and, when
# Debian's serf is installed, a real serf agent in the same cluster — then `mesh status`, a graceful leave and a
# kill -9 as seen by the others. Everything it starts is stopped by PID at exit (unless --keep).
# Usage: ./demo.sh [--keep]
set -euo pipefail
cd "$(dirname "$0")"
KEEP=0; [ "${1:-}" = "--keep" ] && KEEP=1
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build   # bin/mesh.js runs dist/
MESH="node $PWD/bin/mesh.js"
WORK=$(mktemp -d /tmp/mesh-demo.XXXXXX)
PIDS=()
cleanup() {
  [ "$KEEP" = 1 ] && { echo "kept: data dirs in $WORK, pids ${PIDS[*]}"; return; }
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_alive() { # dir count
  for _ in $(seq 1 100); do
    n=$($MESH status --json --data-dir "$1" 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).members.filter(m=>m.state==="alive").length)}catch{console.log(0)}})')
    [ "$n" -ge "$2" ] && return 0; sleep 0.2
  done; echo "timed out waiting for $2 alive members"; return 1
}

step "starting 3 mesh agents on 127.0.0.41-43:7946 (gossip encrypted with one shared key, as serf keygen makes)"
# Gossip is encrypted by default; agents of no cluster share a key, by environment (argv is visible in ps).
MESH_GOSSIP_KEY=$(head -c 32 /dev/urandom | base64)
export MESH_GOSSIP_KEY
for i in 1 2 3; do
  join=(); [ "$i" -gt 1 ] && join=(--join 127.0.0.41)
  $MESH agent --name "node$i" --bind "127.0.0.4$i" --data-dir "$WORK/node$i" --profile local --tag "role=demo" "${join[@]}" >"$WORK/node$i.log" 2>&1 &
  PIDS+=($!)
  sleep 0.4
done
wait_alive "$WORK/node1" 3
if command -v serf >/dev/null; then
  step "a real serf agent joins the same cluster (memberlist wire protocol)"
  serf agent -node=serf1 -bind=127.0.0.44:7946 -rpc-addr=127.0.0.44:7373 -join=127.0.0.41 -encrypt="$MESH_GOSSIP_KEY" >"$WORK/serf1.log" 2>&1 &
  PIDS+=($!)
  wait_alive "$WORK/node1" 4
  serf members -rpc-addr=127.0.0.44:7373
fi
step "mesh status (node1)"
$MESH status --data-dir "$WORK/node1"

step "node3 leaves gracefully (SIGTERM)"
kill -TERM "${PIDS[2]}"; wait "${PIDS[2]}" || true
sleep 0.5
$MESH status --data-dir "$WORK/node1"

step "node2 is killed with -9: the others suspect it, then declare it dead"
kill -9 "${PIDS[1]}"; wait "${PIDS[1]}" 2>/dev/null || true
for _ in $(seq 1 60); do
  st=$($MESH status --json --data-dir "$WORK/node1" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).members.find(m=>m.name==="node2").state))')
  echo "  node2: $st"; [ "$st" = dead ] && break; sleep 1
done
$MESH status --data-dir "$WORK/node1"
echo; echo "demo finished"
