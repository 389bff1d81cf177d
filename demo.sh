#!/usr/bin/env bash
# mesh demo — the README's main job. On a fresh Debian 12 machine (root): installs what it needs, builds a lab of
# three "hosts" (network namespaces, each with its own dockerd, on a private underlay 192.168.77.0/24), starts a
# mesh agent on each (gossip + WireGuard overlay), runs a web container on every node, fetches each one from a
# container on node1 across the encrypted overlay, shows `mesh status`, then kills node3 (-9) and shows the others
# drop it. Tears everything down unless --keep. Not root: a gossip-only cluster on 127.0.0.x instead.
# Usage: ./demo.sh [--keep]
set -euo pipefail
cd "$(dirname "$0")"
KEEP=0; [ "${1:-}" = "--keep" ] && KEEP=1
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
MESH="node $PWD/bin/mesh.js"

if [ "$(id -u)" != 0 ]; then
  [ -d node_modules ] || npm ci --no-audit --no-fund
  exec bash "$PWD/demo-local.sh" "$@"
fi
bash test/setup.sh
PREFIX="demo$$"
LAB="bash $PWD/test/lab/lab.sh -p $PREFIX"
cleanup() {
  if [ "$KEEP" = 1 ]; then echo "kept: lab run $PREFIX (bash test/lab/lab.sh -p $PREFIX down)"; return; fi
  step "tearing down"
  $LAB down || true
}
trap cleanup EXIT

step "lab: 3 hosts, each a network namespace with its own dockerd"
bash test/lab/lab.sh up 3 --prefix "$PREFIX" --owner $$ | tail -4

step "mesh agents: gossip on :7946, WireGuard overlay on :51820"
st() { $LAB exec "node$1" -- node "$PWD/bin/mesh.js" status --data-dir "/var/lib/meshlab/$PREFIX/n$1/mesh" "${@:2}"; }
peers() { st "$1" --json 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const j=JSON.parse(s);console.log(j.overlay.held?j.overlay.peers.length:-1)}catch{console.log(-1)}})'; }
for i in 1 2 3; do
  join=(); [ "$i" -gt 1 ] && join=(--join 192.168.77.11)
  $LAB spawn "node$i" --name agent -- node "$PWD/bin/mesh.js" agent --name "node$i" --bind "192.168.77.1$i" \
    --data-dir "/var/lib/meshlab/$PREFIX/n$i/mesh" --overlay on "${join[@]}" >/dev/null
  for _ in $(seq 1 60); do [ "$(peers "$i")" -ge 0 ] && break; sleep 0.5; done   # holds its subnet
  echo "node$i: up"
done
for _ in $(seq 1 60); do [ "$(peers 1)" = 2 ] && break; sleep 0.5; done
st 1

step "a web container on every node, on the overlay network 'mesh'"
declare -A IPS
for i in 1 2 3; do
  $LAB docker "node$i" run -d --name web --network mesh mesh/busybox:latest \
    sh -c "echo \"hello from \$(hostname) on node$i\" > /index.html && exec httpd -f -p 80 -h /" >/dev/null
  IPS[$i]=$($LAB docker "node$i" inspect -f '{{.NetworkSettings.Networks.mesh.IPAddress}}' web)
  echo "node$i: web at ${IPS[$i]}"
done

step "from a container on node1, fetch every node's web container across the encrypted overlay"
$LAB docker node1 run --rm --network mesh mesh/busybox:latest sh -c \
  "for ip in ${IPS[1]} ${IPS[2]} ${IPS[3]}; do printf '%-12s -> ' \$ip; timeout 5 wget -qO- http://\$ip/; done"

step "node3 dies (kill -9 of its agent and of the whole host); gossip declares it dead, node1 drops its peer"
$LAB kill-node node3 >/dev/null
for _ in $(seq 1 60); do [ "$(peers 1)" = 1 ] && break; sleep 0.5; done
st 1
echo; echo "demo finished"
