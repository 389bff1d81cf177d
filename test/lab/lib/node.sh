# shellcheck shell=bash
# Creating a node: netns + veth on the underlay, pinned mount/uts ns, cgroups, containerd, dockerd, image.
# Engines are driven through their API with curl (about 4x cheaper than a docker CLI process here).

# write_node_files I N: per-node /etc files and daemon configs under $S/nI (kept across restart-node).
write_node_files() {
  local i=$1 n=$2 d=$S/n$1 j reg insecure=''
  mkdir -p "$d/etc/docker" "$d/containerd" "$d/docker" "$d/tmp" "$d/log" "$d/.cgmove"
  echo "node$i" >"$d/etc/hostname"
  {
    echo "127.0.0.1 localhost"
    echo "::1 localhost ip6-localhost ip6-loopback"
    echo "$LAB_SUBNET.1 labnet"
    for (( j = 1; j <= n; j++ )); do echo "$LAB_SUBNET.1$j node$j"; done
  } >"$d/etc/hosts"
  # Nothing listens on the underlay gateway: lookups fail fast and no query leaves the lab.
  echo "nameserver $LAB_SUBNET.1" >"$d/etc/resolv.conf"
  [[ -s $d/etc/machine-id ]] || printf '%08x%08x%08x%08x\n' "$SRANDOM" "$SRANDOM" "$SRANDOM" "$SRANDOM" >"$d/etc/machine-id"
  cat >"$d/containerd.toml" <<EOF
version = 2
root = "$d/containerd"
state = "/run/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$d/containerd.sock"
EOF
  # Plain-HTTP registries on the underlay (`up --insecure-registry`), kept for restart-node.
  if [[ -f $S/insecure-registries ]]; then
    while read -r reg; do [[ -n $reg ]] && insecure+="${insecure:+,}\"$reg\""; done <"$S/insecure-registries"
  fi
  cat >"$d/etc/docker/daemon.json" <<EOF
{
  ${insecure:+\"insecure-registries\": [$insecure],}
  "data-root": "$d/docker",
  "exec-root": "/run/docker",
  "pidfile": "/run/docker.pid",
  "hosts": ["unix:///run/docker.sock", "unix://$d/docker.sock"],
  "containerd": "$d/containerd.sock",
  "bridge": "none",
  "iptables": true,
  "ip-forward": true,
  "exec-opts": ["native.cgroupdriver=cgroupfs"],
  "storage-driver": "overlay2",
  "cgroup-parent": "$P-n$i"
}
EOF
}

# make_node_ns I: netns P-nI plugged into lab0 (veth vI in labnet <-> eth0 in the node), then pinned
# mount + uts namespaces prepared by ns-setup.sh from inside the node netns. Records inodes for teardown.
make_node_ns() {
  local i=$1 ns=$P-n$1 d=$S/n$1 ino
  record "netns $ns"
  ip netns add "$ns"
  ip -n "$LABNS" -batch - <<EOF
link add v$i type veth peer name eth0 netns $ns
link set v$i master lab0 up
EOF
  : >"$PINS/n$i.mnt"; : >"$PINS/n$i.uts"
  nsenter --net="/run/netns/$ns" -- \
    unshare --mount="$PINS/n$i.mnt" --uts="$PINS/n$i.uts" --propagation private -- \
    bash "$LAB_LIB/ns-setup.sh" "$d" "$i" "$LAB_SUBNET" >>"$d/log/setup.log" 2>&1 \
    || die "node$i: namespace setup failed (see $d/log/setup.log)"
  ino=($(stat -L -c %i "/run/netns/$ns" "$PINS/n$i.mnt" "$PINS/n$i.uts"))
  record "nsino $i net ${ino[0]}"
  record "nsino $i mnt ${ino[1]}"
  record "nsino $i uts ${ino[2]}"
}

# enter_args I: ENTER = nsenter options that put a process into node I.
enter_args() { ENTER=("--net=/run/netns/$P-n$1" "--mount=$PINS/n$1.mnt" "--uts=$PINS/n$1.uts"); }

# start_in_node I ROLE LOG WD CMD...: start CMD detached in node I (node cgroups, setsid, no inherited
# fds, stdio to LOG, TMPDIR in the node dir). REPLY = its PID, which is recorded with its start time.
start_in_node() {
  local i=$1 role=$2 logf=$3 wd=$4 pid
  shift 4
  enter_args "$i"
  (
    cg_enter "$i" "$BASHPID"
    close_fds
    exec </dev/null >>"$logf" 2>&1
    export TMPDIR=$S/n$i/tmp
    exec setsid nsenter "${ENTER[@]}" --wd="$wd" -- "$@"
  ) &
  pid=$!
  proc_stat "$pid"
  record "pid $i $role $pid $PSTART $*"
  REPLY=$pid
}

# api I METHOD PATH [CURL ARGS...]: call node I's engine; REPLY = body, HTTP = status code.
api() {
  local i=$1 method=$2 path=$3 out
  shift 3
  out=$(curl -s --max-time 30 -X "$method" -w '\n%{http_code}' --unix-socket "$S/n$i/docker.sock" "$@" "http://lab$path") || true
  HTTP=${out##*$'\n'} REPLY=${out%$'\n'*}
}

# start_engine I: containerd first (dockerd dials its socket too early otherwise), then dockerd.
start_engine() {
  local i=$1 d=$S/n$1 dpid t
  rm -f "$d/containerd.sock" "$d/containerd.sock.ttrpc" "$d/docker.sock"
  start_in_node "$i" containerd "$d/log/containerd.log" / containerd --config "$d/containerd.toml"
  for (( t = 0; t < 400; t++ )); do    # 10 s at most
    [[ -S $d/containerd.sock ]] && break
    msleep 0.025
  done
  [[ -S $d/containerd.sock ]] || die "node$i: containerd socket did not appear in 10 s (see $d/log/containerd.log)"
  start_in_node "$i" dockerd "$d/log/dockerd.log" / dockerd --config-file /etc/docker/daemon.json
  dpid=$REPLY
  for (( t = 0; t < 600; t++ )); do    # 30 s at most; the host-visible socket is the last thing it opens
    if [[ -S $d/docker.sock ]]; then
      api "$i" GET /_ping
      [[ $REPLY == OK ]] && return 0
    fi
    proc_live "$dpid" || die "node$i: dockerd exited (see $d/log/dockerd.log)"
    msleep 0.05
  done
  die "node$i: dockerd did not answer /_ping in 30 s (see $d/log/dockerd.log)"
}

# provision_engine I TAR FRESH: the test image and a user-defined bridge network "lab" (172.31.I.0/24,
# outside mesh's overlay range 10.77.0.0/16), both at once. With bridge=none, a container without --network
# has no network and -p is ignored.
provision_engine() {
  local i=$1 tar=$2 fresh=$3 netjob=''
  HTTP=404
  (( fresh )) || api "$i" GET /networks/lab
  if [[ $HTTP != 200 ]]; then
    (
      api "$i" POST /networks/create -H 'Content-Type: application/json' \
        -d "{\"Name\":\"lab\",\"Driver\":\"bridge\",\"CheckDuplicate\":true,\"IPAM\":{\"Config\":[{\"Subnet\":\"172.31.$i.0/24\"}]}}"
      [[ $HTTP == 201 ]] || die "node$i: docker network create failed: $HTTP $REPLY"
    ) &
    netjob=$!
  fi
  HTTP=404
  (( fresh )) || api "$i" GET "/images/$LAB_IMAGE/json"
  if [[ $HTTP != 200 ]]; then
    api "$i" POST "/images/create?fromSrc=-&repo=${LAB_IMAGE%:*}&tag=${LAB_IMAGE#*:}&changes=CMD%20%5B%22sh%22%5D" \
      -H 'Content-Type: application/x-tar' --data-binary "@$tar"
    [[ $HTTP == 200 && $REPLY != *'"error'* ]] || die "node$i: docker import failed: $HTTP $REPLY"
  fi
  [[ -z $netjob ]] || wait "$netjob"
}

# create_node I N TAR FRESH: the whole node, from nothing or (FRESH=0) from a data dir kept by kill-node.
create_node() {
  local i=$1 n=$2 tar=$3 fresh=$4
  record "node $i"
  write_node_files "$i" "$n"
  make_node_ns "$i"
  cg_create "$i"
  start_engine "$i"
  provision_engine "$i" "$tar" "$fresh"
}
