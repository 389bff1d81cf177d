import { clientUrls, MEMBER_CERT_NAME, type MemberConfig, peerUrl } from './config.ts'
import { EtcdMemberError } from './errors.ts'

/** One member of `--initial-cluster`: its name (node id) and peer URL. */
export interface InitialMember {
  readonly name: string
  readonly peerUrl: string
}

/**
 * How a member starts:
 * - `init`: a new one-member cluster (`--initial-cluster-state new`).
 * - `join`: a member another manager added with `memberAdd`; `initialCluster` is every member including this one
 *   (`--initial-cluster-state existing`).
 * - `restart`: the data dir already holds a member: etcd starts from it and ignores every `--initial-*` flag.
 */
export type StartMode =
  | { readonly kind: 'init' }
  | { readonly kind: 'join'; readonly initialCluster: readonly InitialMember[] }
  | { readonly kind: 'restart' }

/** The mode a (re)start really uses: once the data dir holds a member, whatever was asked, etcd restarts from it. */
export function effectiveMode(requested: StartMode, dataDirHasMember: boolean): StartMode {
  return dataDirHasMember ? { kind: 'restart' } : requested
}

/** `a=https://…,b=https://…`; refuses names or URLs etcd would misparse. */
export function formatInitialCluster(members: readonly InitialMember[]): string {
  for (const m of members) {
    if (/[=,\s]/.test(m.name) || m.name === '') throw new EtcdMemberError(`etcd member: initial cluster name ${JSON.stringify(m.name)} is not usable`)
    if (!/^https:\/\/[^,\s=]+$/.test(m.peerUrl)) throw new EtcdMemberError(`etcd member "${m.name}": peer URL ${JSON.stringify(m.peerUrl)} must be https://host:port`)
  }
  return members.map((m) => `${m.name}=${m.peerUrl}`).join(',')
}

/**
 * The `etcd` command line for a member (pure: no file or process is touched). Mutual TLS on both the client and
 * the peer listeners, with the cluster CA as the only trusted root and only member certificates (MEMBER_CERT_NAME)
 * let in; timings, quota and compaction from the config.
 */
export function memberArgs(c: MemberConfig, mode: StartMode): string[] {
  const peer = peerUrl(c)
  const clients = clientUrls(c).join(',')
  const args = [
    `--name=${c.name}`,
    `--data-dir=${c.dataDir}`,
    `--listen-client-urls=${clients}`,
    `--advertise-client-urls=${clients}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    '--client-cert-auth=true',
    `--trusted-ca-file=${c.tls.caFile}`,
    `--cert-file=${c.tls.certFile}`,
    `--key-file=${c.tls.keyFile}`,
    `--client-cert-allowed-hostname=${MEMBER_CERT_NAME}`,
    '--peer-client-cert-auth=true',
    `--peer-trusted-ca-file=${c.tls.caFile}`,
    `--peer-cert-file=${c.tls.certFile}`,
    `--peer-key-file=${c.tls.keyFile}`,
    `--peer-cert-allowed-hostname=${MEMBER_CERT_NAME}`,
    `--heartbeat-interval=${c.timing.heartbeatMs}`,
    `--election-timeout=${c.timing.electionMs}`,
    `--quota-backend-bytes=${c.quotaBackendBytes}`,
    '--auto-compaction-mode=periodic',
    `--auto-compaction-retention=${c.autoCompactionHours}h`,
    '--snapshot-count=10000',
    '--strict-reconfig-check=true',
    // A member back from a partition asks before it campaigns (raft's pre-vote, etcd 3.5's default): without it, the
    // term it raised while cut off deposes the majority's healthy raft leader at the heal: another election without
    // writes, and the new raft leader renews every lease (a dead manager's leader lease too) by the election timeout.
    '--pre-vote=true',
    '--enable-v2=false',
    '--logger=zap',
    '--log-outputs=stderr',
  ]
  if (mode.kind === 'init') {
    args.push(`--initial-cluster=${formatInitialCluster([{ name: c.name, peerUrl: peer }])}`, '--initial-cluster-state=new', `--initial-cluster-token=${c.clusterToken}`)
  } else if (mode.kind === 'join') {
    const self = mode.initialCluster.find((m) => m.name === c.name)
    if (!self) throw new EtcdMemberError(`etcd member "${c.name}": the initial cluster of a join must list the member itself`)
    if (self.peerUrl !== peer) throw new EtcdMemberError(`etcd member "${c.name}": added with peer URL ${self.peerUrl}, but its own is ${peer}`)
    args.push(`--initial-cluster=${formatInitialCluster(mode.initialCluster)}`, '--initial-cluster-state=existing', `--initial-cluster-token=${c.clusterToken}`)
  }
  return args
}

/** Restart delay after the `failures`-th consecutive crash: 0.5 s doubling to 30 s (a member that stays up resets it). */
export function restartDelayMs(failures: number): number {
  return Math.min(30_000, 500 * 2 ** Math.max(0, Math.min(failures - 1, 10)))
}
