# shellcheck shell=bash
# Shared helpers for lab.sh: paths, the state file, process inspection, fork-free sleeps.
#
# Process creation costs 10-30 ms on the project VM, so hot paths here use bash builtins only: values come
# back in variables (REPLY or a nameref), never through $(...), and /proc is read with `read`.
#
# The state file ($S/state) is append-only, one record per line, written BEFORE the thing it names is
# created, so `down` after a crash still finds everything (deleting a name that never got created is a no-op):
#   version 1
#   owner PID STARTTIME BOOT_ID          process whose death makes the run stale (PID 0: never stale)
#   subnet 192.168.77                    underlay /24
#   mount DIR                            a host-ns mount we made (the private pins dir)
#   netns NAME                           a network namespace we made (P-net or P-nI)
#   nsino I net|mnt|uts INODE            namespace inodes (I=0 is labnet), matched against /proc/*/ns/*
#   cgroot DIR                           parent dir, one per cgroup hierarchy, of the per-node cgroups
#   cg2 DIR                              the cgroup2 mount (runc puts containers at DIR/P-nI there)
#   cgroup I DIR                         a per-node cgroup (always <cgroot>/P-nI)
#   node I                               node I created (ip 192.168.77.1I, netns P-nI, dir $S/nI)
#   pid I ROLE PID STARTTIME CMD...      a process started in node I (containerd|dockerd|spawn|exec)
#   dead I                               node I was killed; restart-node appends `node I` again

LAB_ROOT=${MESHLAB_ROOT:-/var/lib/meshlab}
LAB_SUBNET=192.168.77
LAB_IMAGE=mesh/busybox:latest
LAB_DOCKER=/usr/bin/docker          # /usr/local/bin/docker is a 28.x CLI; use the one matching dockerd 20.10
LAB_MAX_NODES=40
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { printf 'lab: %s\n' "$*" >&2; }
die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

now_ms() { REPLY=$(( ${EPOCHREALTIME/./} / 1000 )); }

# msleep SECONDS: sleep without a fork (read with a timeout on a pipe whose write end we hold).
msleep() {
  [[ -n ${_SLEEP_FD:-} ]] || exec {_SLEEP_FD}<> <(:)
  read -r -t "$1" -u "$_SLEEP_FD" _ || true
}

valid_prefix() { [[ $1 =~ ^[a-z][a-z0-9]{1,11}$ ]]; }

# set_run PREFIX: P, S (state dir), STATE (state file), PINS (private pin dir), LABNS (underlay netns).
set_run() {
  valid_prefix "$1" || die "bad prefix '$1' (want ^[a-z][a-z0-9]{1,11}\$)"
  P=$1 S=$LAB_ROOT/$1 STATE=$LAB_ROOT/$1/state PINS=$LAB_ROOT/$1/pins LABNS=$1-net
}

# record LINE...: append one record (one write(2) with O_APPEND: safe from parallel jobs).
record() { printf '%s\n' "$*" >>"$STATE"; }

# load_state: parse the state file once into arrays (re-run to see records appended since).
load_state() {
  local kind a b c d rest
  CGROOTS=() CG2='' NODES=() PIDREC=() OWNER=()
  declare -gA NODE_LAST=() NSINO=() NETNS_MADE=()
  [[ -f $STATE ]] || return 0
  while read -r kind a b c d rest; do
    case $kind in
      cgroot) CGROOTS+=("$a") ;;
      cg2) CG2=$a ;;
      node) [[ -n ${NODE_LAST[$a]:-} ]] || NODES+=("$a"); NODE_LAST[$a]=node ;;
      dead) NODE_LAST[$a]=dead ;;
      nsino) NSINO[$a.$b]=$c ;;
      netns) NETNS_MADE[$a]=1 ;;
      pid) PIDREC+=("$a $b $c $d") ;;
      owner) OWNER=("$a" "$b" "$c") ;;
    esac
  done <"$STATE"
  local -a sorted=()
  for a in "${NODES[@]}"; do sorted[a]=$a; done   # indexed arrays iterate in index order
  NODES=("${sorted[@]}")
}

node_alive() { [[ ${NODE_LAST[$1]:-} == node ]]; }

# resolve_node NAME: accepts 2, n2, node2 or P-n2; sets REPLY to the index.
resolve_node() {
  local n=$1
  n=${n#"$P-"}; n=${n#node}; n=${n#n}
  [[ $n =~ ^[0-9]+$ && -n ${NODE_LAST[$n]:-} ]] || die "no node '$1' in run $P (use node1, n1, 1 or $P-n1)"
  REPLY=$n
}

# proc_stat PID: PSTATE (R, S, Z, ...), PPID_ and PSTART (start time in ticks since boot); 1 if gone.
proc_stat() {
  local line f
  PSTATE='' PPID_='' PSTART=''
  { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
  line=${line##*) }                  # drop "pid (comm) ": comm may contain spaces and parentheses
  read -r -a f <<<"$line"
  PSTATE=${f[0]} PPID_=${f[1]} PSTART=${f[19]}
}

# proc_live PID: exists and is not a zombie. PID 1 here is the sandbox agent: it reaps orphans late, and
# kill -0 and /proc/PID/cgroup still see zombies, so they must be ignored.
proc_live() { proc_stat "$1" && [[ $PSTATE != Z && $PSTATE != X ]]; }

# protect_self: PROTECTED holds this shell and its ancestors (never signalled, whatever ns they are in).
protect_self() {
  local pid=$BASHPID n=0
  declare -gA PROTECTED=([$$]=1)
  while (( pid > 1 && n++ < 64 )); do
    PROTECTED[$pid]=1
    proc_stat "$pid" || break
    pid=${PPID_:-1}
  done
}

# with_lock CMD...: run CMD holding the run's lock (waits at most 60 s). Daemons close the fd.
with_lock() {
  local rc=0 fd
  exec {fd}>>"$S/lock" || die "cannot open $S/lock"
  flock -w 60 "$fd" || die "run $P is locked by another lab.sh for more than 60 s"
  "$@" || rc=$?
  exec {fd}>&-
  return "$rc"
}

# close_fds: close every fd above 2 of the current (sub)shell, so daemons hold no pipes or locks.
close_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    if (( fd > 2 )); then eval "exec $fd>&-"; fi
  done 2>/dev/null
  return 0
}

boot_id() { read -r REPLY </proc/sys/kernel/random/boot_id; }
