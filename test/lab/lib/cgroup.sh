# shellcheck shell=bash
# Per-node cgroups in EVERY hierarchy (cgroup v1 hybrid on the project VM: one mount per controller plus an
# empty cgroup2 at /sys/fs/cgroup/unified). Our own path differs per hierarchy (memory sits in
# /process_api/<session>), so each hierarchy's parent is read from /proc/self/cgroup, never assumed.
# A node's processes sit in <cgroot>/P-nI in every hierarchy; its containers below that (relative
# cgroup-parent P-nI, resolved by runc against dockerd's cgroup in v1) and at <cg2>/P-nI in cgroup2 (there
# runc resolves it against the root).

# cg_discover: set CG_OWN (our own cgroup dir in each hierarchy) and CG2_MOUNT (the cgroup2 mount, if any).
cg_discover() {
  local -A mp=()
  local line pre post fields opt key id ctrls path
  local -a f o
  CG_OWN=() CG2_MOUNT=''
  while read -r line; do                       # mountinfo: ... MOUNTPOINT opts - FSTYPE SOURCE SUPEROPTS
    pre=${line%% - *} post=${line#* - }
    read -r -a f <<<"$pre"
    [[ ${f[3]} == / ]] || continue
    read -r -a fields <<<"$post"
    case ${fields[0]} in
      cgroup2) mp[v2]=${f[4]}; CG2_MOUNT=${f[4]} ;;
      cgroup)
        key=''
        IFS=, read -r -a o <<<"${fields[2]}"
        for opt in "${o[@]}"; do
          case $opt in rw|ro|relatime|noatime|nosuid|nodev|noexec|xattr|clone_children|release_agent=*) ;; *) key+=${key:+,}$opt ;; esac
        done
        mp[$key]=${f[4]} ;;
    esac
  done </proc/self/mountinfo
  while IFS=: read -r id ctrls path; do       # /proc/self/cgroup: ID:controllers:path
    ctrls=${ctrls:-v2}
    [[ -n ${mp[$ctrls]+x} ]] || continue
    [[ $path == / ]] && path=''
    CG_OWN+=("${mp[$ctrls]}$path")
  done </proc/self/cgroup
}

# node_cgroups I: NODE_CG = the node's cgroup dir in every hierarchy, plus its cgroup2 container dir.
node_cgroups() {
  local root
  NODE_CG=()
  for root in "${CGROOTS[@]}"; do NODE_CG+=("$root/$P-n$1"); done
  [[ -n $CG2 && " ${NODE_CG[*]} " != *" $CG2/$P-n$1 "* ]] && NODE_CG+=("$CG2/$P-n$1")
  return 0
}

# cg_create I: make the node's cgroups (v1 cpuset needs cpus/mems copied from the parent before use).
cg_create() {
  local dir v
  node_cgroups "$1"
  for dir in "${NODE_CG[@]}"; do record "cgroup $1 $dir"; done
  mkdir -p "${NODE_CG[@]}"
  for dir in "${NODE_CG[@]}"; do
    [[ -f $dir/cpuset.cpus ]] || continue
    read -r v <"$dir/cpuset.cpus" || v=''
    if [[ -z $v ]]; then read -r v <"${dir%/*}/cpuset.cpus"; echo "$v" >"$dir/cpuset.cpus"; fi
    read -r v <"$dir/cpuset.mems" || v=''
    if [[ -z $v ]]; then read -r v <"${dir%/*}/cpuset.mems"; echo "$v" >"$dir/cpuset.mems"; fi
  done
}

# cg_enter I PID: move PID into the node's cgroups; its future children follow.
cg_enter() {
  local dir
  node_cgroups "$1"
  for dir in "${NODE_CG[@]}"; do
    [[ -d $dir ]] && echo "$2" >"$dir/cgroup.procs"
  done
  return 0
}

# cg_walk DIR: append DIR's subtree to CG_TREE, children before parents (rmdir order).
cg_walk() {
  local d
  for d in "$1"/*/; do
    [[ -d $d ]] && cg_walk "${d%/}"
  done
  [[ -d $1 ]] && CG_TREE+=("$1")
  return 0
}

# cg_pids I: append every task of the node's cgroup trees to CG_PIDS (builtins only).
cg_pids() {
  local dir
  local -a t
  CG_TREE=()
  node_cgroups "$1"
  for dir in "${NODE_CG[@]}"; do cg_walk "$dir"; done
  for dir in "${CG_TREE[@]}"; do
    { mapfile -t t <"$dir/cgroup.procs"; } 2>/dev/null && CG_PIDS+=("${t[@]}")
  done
  return 0
}

# cg_set_frozen I FROZEN|THAWED: freeze or thaw the node's whole tree (v1 freezer; bounded wait).
cg_set_frozen() {
  local dir v n
  node_cgroups "$1"
  for dir in "${NODE_CG[@]}"; do
    [[ -f $dir/freezer.state ]] || continue
    echo "$2" >"$dir/freezer.state" 2>/dev/null || return 0
    [[ $2 == FROZEN ]] || return 0
    for (( n = 0; n < 50; n++ )); do
      read -r v <"$dir/freezer.state" && [[ $v == FROZEN ]] && break
      msleep 0.02
    done
    return 0
  done
  return 0
}

# cg_remove I...: rmdir the nodes' cgroup trees depth-first (bounded retries while the last tasks exit).
cg_remove() {
  local i dir try
  for (( try = 0; try < 50; try++ )); do
    CG_TREE=()
    for i in "$@"; do
      node_cgroups "$i"
      for dir in "${NODE_CG[@]}"; do cg_walk "$dir"; done
    done
    (( ${#CG_TREE[@]} )) || return 0
    (( try == 0 )) || msleep 0.05
    rmdir "${CG_TREE[@]}" 2>/dev/null
  done
  log "warning: cgroups still busy after 5 s: ${CG_TREE[*]}"
  return 1
}
