#!/usr/bin/env bash
# Builds dist/native/udpmmsg.node (native/udpmmsg*.c: the DNS server's batched UDP, recvmmsg/sendmmsg through N-API)
# with gcc against the running node's headers: no node-gyp, no npm dependency. Called by `npm run build`
# (scripts/build.mjs) and test/setup.sh. Does nothing when the .node is newer than its source. Without gcc or the
# headers it says so in one line and exits 0: the DNS server then uses node:dgram (docs/dns.md, "UDP path").
set -uo pipefail
cd "$(dirname "$0")/.."
SRC=(native/udpmmsg.c native/udpmmsg-send.c)
OUT=dist/native/udpmmsg.node
fresh=1
for f in "${SRC[@]}" native/udpmmsg.h "$0"; do [ -f "$OUT" ] && [ "$OUT" -nt "$f" ] || fresh=0; done
if [ "$fresh" = 1 ] && [ "${1:-}" != "--force" ]; then exit 0; fi
NODE_BIN=$(readlink -f "$(command -v node)")
INC=$(dirname "$(dirname "$NODE_BIN")")/include/node
if ! command -v gcc >/dev/null; then
  echo "build-native: no gcc: $OUT not built (the DNS server will use node:dgram)"
  exit 0
fi
if [ ! -f "$INC/node_api.h" ] || [ ! -f "$INC/uv.h" ]; then
  echo "build-native: no node headers in $INC: $OUT not built (the DNS server will use node:dgram)"
  exit 0
fi
mkdir -p dist/native
if gcc -O2 -fPIC -shared -fvisibility=hidden -Wall -Wextra -Werror -I"$INC" -o "$OUT.tmp" "${SRC[@]}"; then
  mv "$OUT.tmp" "$OUT"
  echo "build-native: $OUT"
else
  rm -f "$OUT.tmp"
  echo "build-native: gcc failed (above): $OUT not built (the DNS server will use node:dgram)"
fi
exit 0
