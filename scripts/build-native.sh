#!/usr/bin/env bash
# Builds the native addons with gcc against the running node's headers: no node-gyp, no npm dependency.
#  - dist/native/udpmmsg.node (native/udpmmsg*.c): the DNS server's batched UDP, recvmmsg/sendmmsg through N-API;
#  - dist/native/nftables.node (native/nftables.c): libnftables in-process (dlopen("libnftables.so.1") at run time:
#    no libnftables-dev needed to build it), so a ruleset change costs no `nft` process.
# Called by `npm run build` (scripts/build.mjs) and test/setup.sh. Does nothing for an addon newer than its sources.
# Without gcc or the headers it says so in one line and exits 0: the DNS server then uses node:dgram (docs/dns.md,
# "UDP path") and rulesets go through `nft -f -` (docs/ingress.md, "Applying rules").
set -uo pipefail
cd "$(dirname "$0")/.."
NODE_BIN=$(readlink -f "$(command -v node)")
INC=$(dirname "$(dirname "$NODE_BIN")")/include/node

# build OUT FALLBACK-TEXT NEEDS-UV SOURCE... (headers the sources include are listed among SOURCE too)
build() {
  local out=$1 fallback=$2 uv=$3; shift 3
  local fresh=1 f
  for f in "$@" "$0"; do [ -f "$out" ] && [ "$out" -nt "$f" ] || fresh=0; done
  if [ "$fresh" = 1 ] && [ "$FORCE" != 1 ]; then return; fi
  if ! command -v gcc >/dev/null; then
    echo "build-native: no gcc: $out not built ($fallback)"
    return
  fi
  if [ ! -f "$INC/node_api.h" ] || { [ "$uv" = 1 ] && [ ! -f "$INC/uv.h" ]; }; then
    echo "build-native: no node headers in $INC: $out not built ($fallback)"
    return
  fi
  mkdir -p dist/native
  local srcs=() s
  for s in "$@"; do [[ "$s" == *.c ]] && srcs+=("$s"); done
  if gcc -O2 -fPIC -shared -fvisibility=hidden -Wall -Wextra -Werror -I"$INC" -o "$out.tmp" "${srcs[@]}" -ldl; then
    mv "$out.tmp" "$out"
    echo "build-native: $out"
  else
    rm -f "$out.tmp"
    echo "build-native: gcc failed (above): $out not built ($fallback)"
  fi
}
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1
build dist/native/udpmmsg.node "the DNS server will use node:dgram" 1 native/udpmmsg.c native/udpmmsg-send.c native/udpmmsg.h
build dist/native/nftables.node "rulesets will go through nft -f -" 0 native/nftables.c
exit 0
