#!/usr/bin/env bash
# Installs what mesh's tests and demo need on a fresh Debian 12 machine (idempotent; runs as root):
# Debian packages (serf for interop tests, docker/wireguard/nftables/busybox for the lab) and npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS=(serf tcpdump iputils-ping iproute2 nftables wireguard-go wireguard-tools busybox-static docker.io iperf3 procps
      docker-registry haproxy wrk nginx-light dnsperf dnsmasq-base bind9-dnsutils socat chromium
      openssh-server openssh-client hyperfine)
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
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
