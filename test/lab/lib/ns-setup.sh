#!/bin/bash
# Runs ONCE per node creation, inside the node's netns and its fresh, pinned mount + uts namespaces:
#   nsenter --net=/run/netns/P-nI unshare --mount=PIN --uts=PIN --propagation private ns-setup.sh DIR I SUBNET
# Every mount here is private to the node and made with `mount -n` (util-linux would otherwise fail on, or
# write node-only mounts into, the host's /run/mount/utab).
set -euo pipefail
nodedir=$1 i=$2 subnet=$3

echo "node$i" >/proc/sys/kernel/hostname          # this uts namespace only
echo 1 >/proc/sys/net/ipv4/ip_forward              # this netns only
ip -batch - <<EOF
link set lo up
addr add $subnet.1$i/24 dev eth0
link set eth0 up
route add default via $subnet.1
EOF

# 1. Drop our copies of other namespaces' pins (nsfs mounts: /run/netns/*, other nodes' uts pins, other
#    sessions' namespaces) and of everything else under /run. A copy would keep that namespace alive as long
#    as this node lives: a killed node's netns, and its address on the underlay, could outlive kill-node.
drop=()
while read -r line; do
  pre=${line%% - *} post=${line#* - }
  read -r -a f <<<"$pre"
  mp=${f[4]}
  [[ ${post%% *} == nsfs || $mp == /run/* ]] && drop=("$(printf '%b' "$mp")" "${drop[@]}")   # deepest first
done </proc/self/mountinfo
(( ${#drop[@]} == 0 )) || umount -n -l "${drop[@]}" 2>/dev/null || true

# 2. A sysfs that belongs to this netns (sysfs records the netns of whoever mounts it; dockerd and
#    libnetwork read /sys/class/net), with the cgroup tree moved back in (mounting over /sys hides it).
#    $nodedir/.cgmove is made by write_node_files.
mount -n --rbind /sys/fs/cgroup "$nodedir/.cgmove"
umount -n -l /sys
mount -n -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount -n --move "$nodedir/.cgmove" /sys/fs/cgroup

# 3. A private /run (the host's /run is ext4 here): containerd's hard-coded /run/containerd/s shim sockets,
#    /run/docker, /run/docker.sock, /run/netns, /run/xtables.lock and /run/wireguard are per node and vanish
#    with the namespace.
mount -n -t tmpfs -o mode=0755,nosuid,nodev,size=256m tmpfs /run
mkdir -p /run/lock /run/netns /run/wireguard /run/containerd /run/docker /run/user

# 4. Per-node identity: hostname, hosts, resolv.conf, machine-id and /etc/docker (key.json = engine ID).
for f in hostname hosts resolv.conf machine-id; do
  if [[ -e /etc/$f ]]; then mount -n --bind "$nodedir/etc/$f" "/etc/$f"; fi
done
mount -n --bind "$nodedir/etc/docker" /etc/docker
