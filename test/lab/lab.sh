#!/bin/bash
# lab.sh: N fake hosts on one machine for mesh end-to-end tests. Each node is a network namespace with its
# own pinned mount + uts namespace, private /run, hostname, /etc/{hosts,resolv.conf,machine-id,docker},
# cgroups, containerd and dockerd, wired to an underlay bridge that lives in its own "labnet" namespace with
# no uplink. See docs/lab.md (layout, pitfalls) and test/lab/index.ts (the TypeScript API).
#
#   lab.sh up N [--prefix P] [--owner PID] [--json] [--keep-on-failure] [--no-sweep] [--insecure-registry HOST:PORT]...
#   lab.sh [-p P] exec NODE [--record] [--] CMD...     run CMD inside NODE (net + mount + uts ns, cgroups)
#   lab.sh [-p P] docker NODE ARGS...                  /usr/bin/docker against NODE's engine
#   lab.sh [-p P] spawn NODE [--name N] [--] CMD...    background CMD in NODE; prints "PID LOGFILE"
#   lab.sh [-p P] client CMD...                        run CMD in the labnet namespace (outside every node)
#   lab.sh [-p P] kill-node NODE | restart-node NODE
#   lab.sh [-p P] info [--json] | stats | down
#   lab.sh down --stale                                down every run whose owner process is gone
#   lab.sh list                                        runs under $MESHLAB_ROOT (default /var/lib/meshlab)
#
# NODE is node2, n2, 2 or P-n2. The run must be named: -p P or MESHLAB_PREFIX=P (never guessed).
# --owner PID: the run becomes stale (swept by `down --stale` and by every `up`) once PID is gone. The
# default, 0, means never: a run made from a shell lives until `down`, whoever's shell exits.
# LAB_TRACE=1 traces every step with timestamps on stderr.
set -uo pipefail
if [[ -n ${LAB_TRACE:-} ]]; then PS4='+ $EPOCHREALTIME $BASHPID ${FUNCNAME[0]:-main}: '; set -x; fi
LAB_LIB=${BASH_SOURCE[0]%/*}/lib
[[ $LAB_LIB == /* ]] || LAB_LIB=$PWD/$LAB_LIB
# shellcheck source=lib/common.sh
. "$LAB_LIB/common.sh"
# shellcheck source=lib/cgroup.sh
. "$LAB_LIB/cgroup.sh"
# shellcheck source=lib/node.sh
. "$LAB_LIB/node.sh"
# shellcheck source=lib/teardown.sh
. "$LAB_LIB/teardown.sh"
# shellcheck source=lib/image.sh
. "$LAB_LIB/image.sh"

usage() {
  local line
  while IFS= read -r line; do
    [[ $line == '#'* ]] || break
    [[ $line == '#!'* ]] || { line=${line#'#'}; printf '%s\n' "${line# }" >&2; }
  done <"${BASH_SOURCE[0]}"
  exit 2
}

require_root() { [[ $EUID -eq 0 ]] || die "must run as root (namespaces, mounts, cgroups)"; }

# pick_run: the run named by -p or $MESHLAB_PREFIX; loads its state. Never a default: other sessions share
# this machine and $LAB_ROOT, and guessing "the only run there is" once tore down another session's test lab.
pick_run() {
  local p=${OPT_PREFIX:-${MESHLAB_PREFIX:-}} runs=() f
  if [[ -z $p ]]; then
    for f in "$LAB_ROOT"/*/state; do [[ -f $f ]] && { f=${f%/state}; runs+=("${f##*/}"); }; done
    die "name the run: -p PREFIX or MESHLAB_PREFIX=PREFIX (runs here: ${runs[*]:-none}; see lab.sh list)"
  fi
  set_run "$p"
  load_state
}

need_state() { [[ -f $STATE ]] || die "no run $P (no $STATE)"; }

cmd_up() {
  local n='' owner=0 json=0 keep=0 sweep=1 prefix=${OPT_PREFIX:-} tool t0 rc=0 insecure=()
  while (( $# )); do
    case $1 in
      --prefix) prefix=${2:-}; shift 2 ;;
      --owner) owner=${2:-}; shift 2 ;;
      --json) json=1; shift ;;
      --keep-on-failure) keep=1; shift ;;
      --no-sweep) sweep=0; shift ;;
      --insecure-registry) insecure+=("${2:-}"); shift 2 ;;
      [0-9]*) n=$1; shift ;;
      *) usage ;;
    esac
  done
  require_root
  [[ $n =~ ^[0-9]+$ ]] && (( n >= 1 && n <= LAB_MAX_NODES )) || die "up: N must be 1..$LAB_MAX_NODES"
  [[ $owner =~ ^[0-9]+$ ]] || die "up: --owner must be a PID (0: never stale)"
  for tool in ip nsenter unshare setsid flock curl containerd dockerd runc; do
    type -P "$tool" >/dev/null || die "up: $tool not found (see docs/lab.md, Packages)"
  done
  (( sweep )) && sweep_stale
  [[ -n $prefix ]] || printf -v prefix 'ml%06x' $(( SRANDOM & 0xffffff ))
  set_run "$prefix"
  mkdir -p "$LAB_ROOT"
  mkdir "$S" 2>/dev/null || die "run $P already exists ($S): pick another --prefix, or down it"
  now_ms; t0=$REPLY
  boot_id
  PSTART=''
  (( owner > 0 )) && { proc_stat "$owner" || die "up: owner $owner does not exist"; }
  printf 'version 1\nowner %s %s %s\nsubnet %s\n' "$owner" "${PSTART:-0}" "$REPLY" "$LAB_SUBNET" >"$STATE"
  (( ${#insecure[@]} )) && printf '%s\n' "${insecure[@]}" >"$S/insecure-registries"   # read by write_node_files
  with_lock up_run "$n" || rc=1
  if (( rc )); then
    if (( keep )); then
      log "up failed; kept run $P for inspection (lab.sh -p $P down)"
    else
      log "up failed; tearing run $P down (--keep-on-failure keeps it)"
      with_lock down_run
    fi
    exit 1
  fi
  now_ms; log "up: run $P, $n nodes in $(( REPLY - t0 )) ms"
  load_state
  if (( json )); then cmd_info --json; else cmd_info; fi
}

up_run() {
  local n=$1 i tar dir jobs=() failed=0
  mkdir "$PINS"
  record "mount $PINS"
  mount --bind "$PINS" "$PINS" && mount --make-private "$PINS" || return 1
  cg_discover
  for dir in "${CG_OWN[@]}"; do record "cgroot $dir"; done
  [[ -n $CG2_MOUNT ]] && record "cg2 $CG2_MOUNT"
  load_state
  record "netns $LABNS"
  ip netns add "$LABNS" || return 1
  # labnet forwards, but its only route out is `unreachable`: traffic from a node or container to anything
  # outside the underlay fails at once with ICMP "network unreachable" (no hanging timeouts), and lab0 is
  # the only interface here, so nothing can leave the lab anyway.
  ip -n "$LABNS" -batch - <<EOF || return 1
link set lo up
link add lab0 type bridge
addr add $LAB_SUBNET.1/24 dev lab0
link set lab0 up
route add unreachable default
EOF
  nsenter --net="/run/netns/$LABNS" bash -c 'echo 1 >/proc/sys/net/ipv4/ip_forward' || return 1
  record "nsino 0 net $(stat -L -c %i "/run/netns/$LABNS")"
  image_tar || return 1
  tar=$REPLY
  for (( i = 1; i <= n; i++ )); do
    ( set -e; create_node "$i" "$n" "$tar" 1 ) &
    jobs+=($!)
  done
  for i in "${jobs[@]}"; do wait "$i" || failed=$((failed + 1)); done
  (( failed == 0 )) || { log "up: $failed of $n nodes failed (logs: $S/n*/log/)"; return 1; }
}

cmd_exec() {
  local rec=0 i wd=/
  [[ -n ${1:-} ]] || usage
  require_root; pick_run; need_state
  resolve_node "$1"; i=$REPLY; shift
  [[ ${1:-} == --record ]] && { rec=1; shift; }
  [[ ${1:-} == -- ]] && shift
  (( $# )) || usage
  node_alive "$i" || die "node$i is dead (kill-node); restart-node it first"
  if (( rec )); then proc_stat $$; record "pid $i exec $$ $PSTART $*"; fi
  cg_enter "$i" $$
  [[ $PWD =~ ^/(run|sys|proc)(/|$) ]] || wd=$PWD
  enter_args "$i"
  exec nsenter "${ENTER[@]}" --wd="$wd" -- "$@"
}

cmd_spawn() {
  local i name=proc logf wd=/
  [[ -n ${1:-} ]] || usage
  require_root; pick_run; need_state
  resolve_node "$1"; i=$REPLY; shift
  [[ ${1:-} == --name ]] && { name=${2:-}; shift 2; }
  [[ ${1:-} == -- ]] && shift
  (( $# )) || usage
  [[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || die "spawn: bad --name '$name'"
  node_alive "$i" || die "node$i is dead (kill-node); restart-node it first"
  [[ $PWD =~ ^/(run|sys|proc)(/|$) ]] || wd=$PWD
  logf=$S/n$i/log/spawn-$name-${EPOCHREALTIME/./}.log
  start_in_node "$i" spawn "$logf" "$wd" "$@"
  echo "$REPLY $logf"
}

cmd_docker() {
  [[ -n ${1:-} ]] || usage
  pick_run; need_state
  resolve_node "$1"; shift
  exec "$LAB_DOCKER" -H "unix://$S/n$REPLY/docker.sock" "$@"
}

cmd_client() {
  (( $# )) || usage
  require_root; pick_run; need_state
  exec ip netns exec "$LABNS" "$@"
}

cmd_kill_node() {
  local i t0
  require_root; pick_run; need_state
  resolve_node "${1:-}"; i=$REPLY
  node_alive "$i" || { log "node$i is already dead"; return 0; }
  now_ms; t0=$REPLY
  with_lock kill_node "$i" || exit 1
  now_ms; log "kill-node: node$i in $(( REPLY - t0 )) ms"
}

cmd_restart_node() {
  local i t0 n=0 j
  require_root; pick_run; need_state
  resolve_node "${1:-}"; i=$REPLY
  now_ms; t0=$REPLY
  for j in "${NODES[@]}"; do (( j > n )) && n=$j; done
  image_tar || exit 1
  with_lock restart_node "$i" "$n" "$REPLY" || exit 1
  now_ms; log "restart-node: node$i in $(( REPLY - t0 )) ms"
}

restart_node() {
  load_state                                        # under the lock: the latest records
  if node_alive "$1"; then kill_node "$1" || return 1; fi
  ( set -e; create_node "$1" "$2" "$3" 0 )
}

cmd_info() {
  local i first=1 alive
  if [[ ${1:-} == --json ]]; then
    printf '{"prefix":"%s","stateDir":"%s","labnet":"%s","gateway":"%s.1","image":"%s","labSh":"%s","nodes":[' \
      "$P" "$S" "$LABNS" "$LAB_SUBNET" "$LAB_IMAGE" "${LAB_LIB%/lib}/lab.sh"
    for i in "${NODES[@]}"; do
      alive=false; node_alive "$i" && alive=true
      (( first )) || printf ','
      first=0
      printf '{"index":%d,"name":"node%d","netns":"%s","ip":"%s.1%d","dir":"%s","socket":"%s","alive":%s}' \
        "$i" "$i" "$P-n$i" "$LAB_SUBNET" "$i" "$S/n$i" "$S/n$i/docker.sock" "$alive"
    done
    printf ']}\n'
    return 0
  fi
  echo "run $P  state $S  labnet netns $LABNS (lab0 $LAB_SUBNET.1/24)"
  for i in "${NODES[@]}"; do
    alive=alive; node_alive "$i" || alive=dead
    printf 'node%-3d %-6s netns %-14s ip %-15s docker -H unix://%s\n' \
      "$i" "$alive" "$P-n$i" "$LAB_SUBNET.1$i" "$S/n$i/docker.sock"
  done
}

# cmd_stats: per node, the memory charged to its memory cgroup (daemons, containers, and the page cache they
# touched first), the cgroup's rss, the PSS of its tasks (shared binary text split fairly) and the task count.
cmd_stats() {
  local i dir usage rss pss k v
  local -A uniq
  require_root; pick_run; need_state
  for i in "${NODES[@]}"; do
    node_alive "$i" || { echo "node$i dead"; continue; }
    node_cgroups "$i"
    usage=0 rss=0 pss=0
    for dir in "${NODE_CG[@]}"; do
      [[ -f $dir/memory.usage_in_bytes ]] || continue
      read -r usage <"$dir/memory.usage_in_bytes"
      while read -r k v; do [[ $k == total_rss ]] && rss=$v; done <"$dir/memory.stat"
    done
    CG_PIDS=(); cg_pids "$i"
    uniq=()
    for k in "${CG_PIDS[@]}"; do uniq[$k]=1; done
    for k in "${!uniq[@]}"; do
      while read -r dir v _; do [[ $dir == Pss: ]] && pss=$(( pss + v )); done 2>/dev/null <"/proc/$k/smaps_rollup"
    done
    printf 'node%d memory_cgroup_MiB=%d rss_MiB=%d pss_MiB=%d tasks=%d\n' \
      "$i" $(( usage >> 20 )) $(( rss >> 20 )) $(( pss >> 10 )) "${#uniq[@]}"
  done
}

cmd_down() {
  local t0
  require_root
  if [[ ${1:-} == --stale ]]; then sweep_stale; return 0; fi
  pick_run
  [[ -d $S ]] || { log "no run $P: nothing to do"; return 0; }
  now_ms; t0=$REPLY
  with_lock down_run || exit 1
  now_ms; log "down: run $P in $(( REPLY - t0 )) ms"
}

cmd_list() {
  local f
  for f in "$LAB_ROOT"/*/state; do
    [[ -f $f ]] || continue
    if owner_alive "$f"; then echo "${f%/state} owner-alive"; else echo "${f%/state} stale"; fi
  done
}

OPT_PREFIX=''
while [[ ${1:-} == -p || ${1:-} == --prefix ]]; do OPT_PREFIX=${2:-}; shift 2; done
cmd=${1:-}
(( $# )) && shift
case $cmd in
  up) cmd_up "$@" ;;
  exec) cmd_exec "$@" ;;
  spawn) cmd_spawn "$@" ;;
  docker) cmd_docker "$@" ;;
  client) cmd_client "$@" ;;
  kill-node) cmd_kill_node "$@" ;;
  restart-node) cmd_restart_node "$@" ;;
  info) pick_run; need_state; cmd_info "$@" ;;
  stats) cmd_stats ;;
  down) cmd_down "$@" ;;
  list) cmd_list ;;
  *) usage ;;
esac
