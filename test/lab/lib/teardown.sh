# shellcheck shell=bash
# Teardown by PID, never by name: a node's processes are the tasks in its cgroup trees, every process whose
# /proc/PID/ns/net or ns/mnt is one of the node's namespaces, and the PIDs we recorded (checked against the
# recorded start time, so a reused PID is never signalled). We never signal ourselves or our ancestors.
#
# Namespace inodes are reused (the kernel hands out the lowest free number), so a recorded inode is only
# trusted while our own pin still holds that namespace: `verify_ns` compares it with what /run/netns/P-nI
# and pins/nI.mnt point at right now. PIDs and inodes from another boot are never trusted at all.

# ns_pids SPEC...: append to NS_PIDS the PIDs whose namespace matches a SPEC ("net:4026532001").
ns_pids() {
  local args=() spec dir
  for spec in "$@"; do
    (( ${#args[@]} )) && args+=(-o)
    args+=(-lname "${spec%%:*}:\\[${spec#*:}\\]")
  done
  (( ${#args[@]} )) || return 0
  while read -r dir; do
    dir=${dir#/proc/}; NS_PIDS+=("${dir%%/*}")
  done < <(find /proc/[0-9]*/ns/ -maxdepth 1 \( "${args[@]}" \) -printf '%h\n' 2>/dev/null)
}

# verify_ns I...: NS_SPECS = "net:INODE"/"mnt:INODE" of the nodes' namespaces that our pins still hold.
verify_ns() {
  local i paths=() path ino
  local -A want=()
  NS_SPECS=()
  for i in "$@"; do
    if (( i == 0 )); then path=/run/netns/$LABNS; else path=/run/netns/$P-n$i; fi
    [[ -n ${NSINO[$i.net]:-} ]] && { want[$path]=net:${NSINO[$i.net]}; paths+=("$path"); }
    [[ -n ${NSINO[$i.mnt]:-} ]] && { want[$PINS/n$i.mnt]=mnt:${NSINO[$i.mnt]}; paths+=("$PINS/n$i.mnt"); }
  done
  (( ${#paths[@]} )) || return 0
  local nsdev='' dev
  while read -r path dev ino; do                   # the first line tells us nsfs's device number
    if [[ -z $nsdev ]]; then nsdev=$dev; continue; fi
    [[ $dev == "$nsdev" && ${want[$path]:-} == *":$ino" ]] && NS_SPECS+=("${want[$path]}")
  done < <(stat -L -c '%n %d %i' /proc/self/ns/net "${paths[@]}" 2>/dev/null)
  return 0
}

# node_pids I...: LIVE = live (non-zombie), unprotected processes of the given nodes (0 = labnet).
# Uses NS_SPECS from verify_ns.
node_pids() {
  local i rec pid
  local -A seen=()
  local -a r
  CG_PIDS=() NS_PIDS=() LIVE=()
  for i in "$@"; do
    if (( i > 0 )); then cg_pids "$i"; fi
    for rec in "${PIDREC[@]}"; do                  # "I ROLE PID START"
      read -r -a r <<<"$rec"
      [[ ${r[0]} == "$i" ]] && proc_stat "${r[2]}" && [[ $PSTART == "${r[3]}" ]] && CG_PIDS+=("${r[2]}")
    done
  done
  ns_pids "${NS_SPECS[@]}"
  for pid in "${CG_PIDS[@]}" "${NS_PIDS[@]}"; do
    [[ -z ${seen[$pid]:-} && -z ${PROTECTED[$pid]:-} ]] || continue
    seen[$pid]=1
    proc_live "$pid" && LIVE+=("$pid")
  done
  return 0
}

# kill_nodes I...: freeze the nodes' cgroups, SIGKILL everything of theirs, thaw, and repeat until nothing
# is left (bounded: 100 rounds, about 6 s). Frozen tasks can't fork away while we collect them.
kill_nodes() {
  local i try own=''
  # From inside a node (`lab.sh exec node1 lab.sh down`) we would freeze ourselves and see the node's /run.
  while read -r i; do own+=" $i"; done </proc/$BASHPID/cgroup
  [[ $own != *"/$P-n"[0-9]* ]] || die "run this from the host, not from inside a node of run $P"
  protect_self
  verify_ns "$@"
  for i in "$@"; do if (( i > 0 )); then cg_set_frozen "$i" FROZEN; fi; done
  for (( try = 0; try < 100; try++ )); do
    node_pids "$@"
    (( ${#LIVE[@]} )) || break
    kill -9 "${LIVE[@]}" 2>/dev/null
    if (( try == 0 )); then for i in "$@"; do if (( i > 0 )); then cg_set_frozen "$i" THAWED; fi; done; fi
    if (( try < 20 )); then msleep 0.02; else msleep 0.1; fi
  done
  for i in "$@"; do if (( i > 0 )); then cg_set_frozen "$i" THAWED; fi; done
  (( ${#LIVE[@]} == 0 )) || { log "warning: still alive after 6 s: ${LIVE[*]}"; return 1; }
}

# unplug_nodes VETH_ONLY I...: take the nodes off the underlay (delete their veths: they are off the lab even
# if something still holds their netns) and, unless VETH_ONLY, unpin their mount/uts ns and delete their netns.
unplug_nodes() {
  local only=$1 i veths=() pins=() nets=()
  shift
  for i in "$@"; do
    veths+=("link del v$i")
    pins+=("$PINS/n$i.mnt" "$PINS/n$i.uts")
    [[ -n ${NETNS_MADE[$P-n$i]:-} ]] && nets+=("netns del $P-n$i")
  done
  [[ -n ${NETNS_MADE[$LABNS]:-} ]] && printf '%s\n' "${veths[@]}" | ip -force -n "$LABNS" -batch - 2>/dev/null
  (( only )) && return 0
  umount -l "${pins[@]}" 2>/dev/null
  (( ${#nets[@]} )) && printf '%s\n' "${nets[@]}" | ip -force -batch - 2>/dev/null
  return 0
}

# kill_node I: the node dies like a host losing power; its data dir stays for restart-node. If something
# survived SIGKILL, its namespaces stay pinned (so `down` can still find it by inode); it is off the lab anyway.
kill_node() {
  local rc=0
  kill_nodes "$1" || rc=1
  unplug_nodes "$rc" "$1"
  (( rc )) || cg_remove "$1" || rc=1
  record "dead $1"
  return "$rc"
}

# down_run: tear the whole run down (idempotent; copes with any prefix of a failed `up`). Lock held.
# After a reboot nothing of the run can be alive: only its netns files (plain files on the ext4 /run) and
# its state dir remain, and no recorded PID or inode is trusted.
down_run() {
  local rc=0 line pre f mps=()
  [[ -d $S ]] || return 0
  [[ -f $STATE ]] || { rm -rf --one-file-system -- "$S"; return 0; }
  load_state
  boot_id
  if [[ ${OWNER[2]:-} == "$REPLY" ]]; then
    kill_nodes 0 "${NODES[@]}" || rc=1
  else
    log "down: run $P is from an earlier boot; removing its files only"
    NSINO=() PIDREC=()
  fi
  if (( rc == 0 )); then
    (( ${#NODES[@]} )) && unplug_nodes 0 "${NODES[@]}"
    [[ -n ${NETNS_MADE[$LABNS]:-} ]] && ip netns del "$LABNS" 2>/dev/null
    (( ${#NODES[@]} )) && { cg_remove "${NODES[@]}" || rc=1; }
  fi
  if (( rc )); then
    log "down: kept run $P (namespaces pinned, $S) because something did not go away; run down again"
    return 1
  fi
  # Anything still mounted under the state dir in the host mount ns (normally just the private pins dir).
  while read -r line; do
    pre=${line%% - *}
    read -r -a f <<<"$pre"
    [[ ${f[4]} == "$S" || ${f[4]} == "$S"/* ]] && mps=("${f[4]}" "${mps[@]}")
  done </proc/self/mountinfo
  (( ${#mps[@]} )) && umount -l "${mps[@]}" 2>/dev/null
  keep_logs
  rm -rf --one-file-system -- "$S"
}

# keep_logs: with MESHLAB_KEEP_LOGS=1, move the run's logs to $LAB_ROOT/logs/P/nI/ before they are deleted.
keep_logs() {
  local d
  [[ ${MESHLAB_KEEP_LOGS:-} == 1 ]] || return 0
  mkdir -p "$LAB_ROOT/logs/$P"
  for d in "$S"/n*/; do
    d=${d%/}
    [[ -d $d/log ]] && mv "$d/log" "$LAB_ROOT/logs/$P/${d##*/}"
  done
  cp "$STATE" "$LAB_ROOT/logs/$P/state" 2>/dev/null
  log "down: logs kept in $LAB_ROOT/logs/$P"
}

# owner_alive STATEFILE: the run's owner still exists (same boot, same start time); --owner 0 never dies.
owner_alive() {
  local kind pid start boot
  read -r kind pid start boot < <(grep -m1 '^owner ' "$1")
  [[ ${pid:-} == 0 ]] && return 0
  boot_id
  [[ -n ${pid:-} && $boot == "$REPLY" ]] && proc_stat "$pid" && [[ $PSTART == "$start" ]]
}

# sweep_stale: down every run whose owner is gone (crashed tests, VM restarts).
sweep_stale() {
  local d name
  for d in "$LAB_ROOT"/*/; do
    d=${d%/} name=${d##*/}
    [[ -d $d && $name != cache && $name != logs ]] && valid_prefix "$name" || continue
    if [[ ! -f $d/state ]]; then
      # up writes the state right after mkdir; an old dir without one never got further.
      [[ -n $(find "$d" -maxdepth 0 -mmin +1) ]] && rm -rf --one-file-system -- "$d"
      continue
    fi
    owner_alive "$d/state" && continue
    log "down --stale: run $name (its owner is gone)"
    ( set_run "$name"; with_lock down_run ) || log "warning: could not fully remove stale run $name"
  done
  return 0
}
