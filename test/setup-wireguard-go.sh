#!/usr/bin/env bash
# The GSO/GRO-capable wireguard-go from Debian 13 (trixie) on a Debian 12 host, and Debian 12's own binary kept
# aside for the overlay benchmark's baseline. Idempotent, no stdin, runs as root; called by test/setup.sh.
#
# - An apt source for trixie (/etc/apt/sources.list.d/mesh-trixie.sources, the mirror bookworm already uses,
#   signed by bookworm's debian-archive-keyring, which carries trixie's keys) and a pin
#   (/etc/apt/preferences.d/mesh-trixie-wireguard-go): every trixie package at priority -1 (never installed),
#   `wireguard-go` alone at 990. trixie's wireguard-go needs only libc6 >= 2.34 (bookworm has 2.36), so
#   nothing else moves: `apt-cache policy` shows trixie as the candidate for wireguard-go only.
# - Only the trixie source is refreshed (apt-get update with that one list, List-Cleanup off), so the other
#   sources' lists stay as they were.
# - Debian 12's wireguard-go (0.0.20220316, one packet per syscall) is unpacked into $MESH_WG_CACHE
#   (default /var/cache/mesh/wireguard-go-bookworm/wireguard-go): bench/overlay-iperf.ts compares against it.
# Kernel WireGuard, where it exists, is still what mesh uses first (src/overlay/tunnel.ts); this is the fallback.
set -euo pipefail
WG_MIN=0.0.20230223
SRC=/etc/apt/sources.list.d/mesh-trixie.sources
PREF=/etc/apt/preferences.d/mesh-trixie-wireguard-go
CACHE=${MESH_WG_CACHE:-/var/cache/mesh/wireguard-go-bookworm}
export DEBIAN_FRONTEND=noninteractive

# The mirror bookworm comes from (deb822 or one-line sources), else Debian's CDN.
mirror() {
  local f u
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] && [ "$f" != "$SRC" ] || continue
    u=$(awk 'BEGIN{RS=""} /Suites:[^\n]*bookworm/ && /URIs:[^\n]*\/debian\/?(\n|$| )/ {
          for (i = 1; i <= NF; i++) if ($i == "URIs:") { print $(i + 1); exit } }' "$f")
    [ -n "$u" ] && { echo "${u%/}"; return; }
  done
  u=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
  echo "${u:-http://deb.debian.org/debian}" | sed 's,/$,,'
}

# Write $1 with content $2 only when it differs (so a rerun changes nothing on disk). Prints 1 when it wrote.
put() { if [ "$(cat "$1" 2>/dev/null)" != "$2" ]; then printf '%s\n' "$2" > "$1"; echo 1; else echo 0; fi; }

changed=$(put "$SRC" "# mesh (test/setup.sh): Debian 13 for wireguard-go only; see $PREF.
Types: deb
URIs: $(mirror)
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg")
changed=$changed$(put "$PREF" "# mesh (test/setup.sh): nothing from Debian 13 (trixie) but wireguard-go (GSO/GRO tun I/O; needs libc6 >= 2.34).
Package: *
Pin: release n=trixie
Pin-Priority: -1

Package: wireguard-go
Pin: release n=trixie
Pin-Priority: 990")

update_trixie() {
  apt-get update -qq -o Dir::Etc::SourceList="$SRC" -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0
}
lists_present() { ls /var/lib/apt/lists/*_dists_trixie_* >/dev/null 2>&1; }
if [ "$changed" != 00 ] || ! lists_present; then update_trixie; fi

# Debian 12's binary for the benchmark, before the package is replaced (apt-get download: no install).
if [ ! -x "$CACHE/wireguard-go" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq wireguard-go/bookworm 2>/dev/null) ||
    { apt-get update -qq && (cd "$tmp" && apt-get download -qq wireguard-go/bookworm); }
  mkdir -p "$CACHE"
  dpkg-deb -x "$tmp"/wireguard-go_*.deb "$tmp/x"
  install -m 0755 "$tmp/x/usr/bin/wireguard-go" "$CACHE/wireguard-go"
  rm -rf "$tmp"
  echo "setup: Debian 12's wireguard-go ($("$CACHE/wireguard-go" --version | head -1)) in $CACHE for bench/overlay-iperf.ts"
fi

have=$(dpkg-query -W -f='${Version}' wireguard-go 2>/dev/null || true)
if [ -z "$have" ] || dpkg --compare-versions "$have" lt "$WG_MIN"; then
  cand=$(apt-cache policy wireguard-go | awk '/Candidate:/ { print $2 }')
  if ! dpkg --compare-versions "${cand:-0}" ge "$WG_MIN"; then
    update_trixie
    cand=$(apt-cache policy wireguard-go | awk '/Candidate:/ { print $2 }')
  fi
  dpkg --compare-versions "${cand:-0}" ge "$WG_MIN" ||
    { echo "setup: no wireguard-go >= $WG_MIN from trixie (candidate ${cand:-none}); check $SRC" >&2; exit 1; }
  echo "setup: wireguard-go ${have:-none} -> $cand (Debian 13, pinned)"
  apt-get install -y -qq --no-install-recommends "wireguard-go=$cand" >/dev/null
fi
echo "setup: $(wireguard-go --version | head -1) ($(dpkg-query -W -f='${Version}' wireguard-go))"
