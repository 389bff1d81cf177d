import { isIP } from 'node:net'
import { EtcdMemberError } from './errors.ts'

/**
 * The DNS name every member certificate carries and etcd requires of every client and peer
 * (`--client-cert-allowed-hostname`, `--peer-cert-allowed-hostname`). Worker and admin certificates come from the
 * same cluster CA; without this pin any of them would open etcd, which holds the whole state and the CA key. The
 * manager never puts a SAN a requester asked for in a certificate, and `.invalid` is never a real host (RFC 2606).
 */
export const MEMBER_CERT_NAME = 'etcd-member.mesh.invalid'

/**
 * Timing of the etcd member and of the leader lease, tuned together for a loaded 2-core lab (docs/operations.md,
 * "managers and etcd"). etcd's own defaults (100 ms / 1000 ms) are for dedicated hardware: on a shared machine a
 * member that misses a heartbeat for one second starts an election and the cluster flaps.
 */
export interface EtcdTiming {
  /** `--heartbeat-interval`: how often the raft leader tells followers it is alive, ms. Default 250. */
  readonly heartbeatMs: number
  /**
   * `--election-timeout`: how long a follower waits without a heartbeat before it starts an election, ms. etcd
   * wants ≥ 5 × the heartbeat; we use 10 ×. Default 2500. It also bounds the smallest lease etcd grants (1.5 ×).
   */
  readonly electionMs: number
  /**
   * The manager leader's lease, s: a manager that dies is replaced after at most this. etcd raises a TTL below
   * 1.5 × the election timeout to that floor; default 5 (3.75 s floor for 2500 ms, plus margin).
   */
  readonly leaseTtlSeconds: number
}

/** The defaults every manager uses; tests pass the same (timings are never asserted). */
export function defaultEtcdTiming(): EtcdTiming {
  return Object.freeze({ heartbeatMs: 250, electionMs: 2500, leaseTtlSeconds: 5 })
}

/** One manager's etcd member. */
export interface MemberConfig {
  /** The member name: the manager's node id (unique in the cluster, stable across restarts). */
  readonly name: string
  /** The node's address (IPv4 or IPv6): peer URL and one of the client URLs; in the certificate's IP SANs. */
  readonly addr: string
  /** Client port (`https://<addr>:<port>` and `https://127.0.0.1:<port>`). Default 2379. */
  readonly clientPort: number
  /** Peer port (`https://<addr>:<port>`). Default 2380. */
  readonly peerPort: number
  /** etcd's data dir (`<data-dir>/etcd`, mode 0700). */
  readonly dataDir: string
  /** PEM files the member presents and trusts (tls.ts writes them, keys mode 0600). */
  readonly tls: { readonly caFile: string; readonly certFile: string; readonly keyFile: string }
  /** `--initial-cluster-token`: the cluster id, so two clusters' members never mix. */
  readonly clusterToken: string
  readonly timing: EtcdTiming
  /** `--quota-backend-bytes`: the backend size at which etcd raises NOSPACE and refuses writes. Default 2 GiB. */
  readonly quotaBackendBytes: number
  /** `--auto-compaction-retention` in periodic mode, hours of history kept. Default 1. */
  readonly autoCompactionHours: number
}

/** The fields a caller must give; the rest has defaults. */
export type MemberOptions = Pick<MemberConfig, 'name' | 'addr' | 'dataDir' | 'tls' | 'clusterToken'> & Partial<MemberConfig>

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

function checkPort(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1 || v > 65535) throw new EtcdMemberError(`etcd member: ${what} must be 1–65535, got ${v}`)
}

/** A validated, frozen member config (the defaults filled in). */
export function memberConfig(o: MemberOptions): MemberConfig {
  const c: MemberConfig = {
    clientPort: 2379, peerPort: 2380, timing: defaultEtcdTiming(), quotaBackendBytes: 2 * 1024 ** 3, autoCompactionHours: 1, ...o,
  }
  if (!NAME.test(c.name)) throw new EtcdMemberError(`etcd member: name ${JSON.stringify(c.name)} must be a node id (A-Z a-z 0-9 . _ -)`)
  if (isIP(c.addr) === 0) throw new EtcdMemberError(`etcd member "${c.name}": address ${JSON.stringify(c.addr)} is not an IP address`)
  checkPort('client port', c.clientPort)
  checkPort('peer port', c.peerPort)
  if (c.clientPort === c.peerPort) throw new EtcdMemberError(`etcd member "${c.name}": client and peer ports must differ (both ${c.clientPort})`)
  const { heartbeatMs, electionMs, leaseTtlSeconds } = c.timing
  if (!Number.isInteger(heartbeatMs) || heartbeatMs < 10 || heartbeatMs > 5000) throw new EtcdMemberError(`etcd member "${c.name}": heartbeat must be 10–5000 ms, got ${heartbeatMs}`)
  if (!Number.isInteger(electionMs) || electionMs < 5 * heartbeatMs || electionMs > 50_000) {
    throw new EtcdMemberError(`etcd member "${c.name}": election timeout must be 5 × the heartbeat (${5 * heartbeatMs} ms) to 50000 ms, got ${electionMs}`)
  }
  if (!Number.isInteger(leaseTtlSeconds) || leaseTtlSeconds < 2 || leaseTtlSeconds > 600) throw new EtcdMemberError(`etcd member "${c.name}": lease TTL must be 2–600 s, got ${leaseTtlSeconds}`)
  if (!Number.isSafeInteger(c.quotaBackendBytes) || c.quotaBackendBytes < 16 * 1024 ** 2) throw new EtcdMemberError(`etcd member "${c.name}": backend quota must be ≥ 16 MiB, got ${c.quotaBackendBytes}`)
  if (!Number.isInteger(c.autoCompactionHours) || c.autoCompactionHours < 1) throw new EtcdMemberError(`etcd member "${c.name}": auto-compaction must keep ≥ 1 hour, got ${c.autoCompactionHours}`)
  return Object.freeze({ ...c, tls: Object.freeze({ ...c.tls }), timing: Object.freeze({ ...c.timing }) })
}

/** `https://<host>:<port>`, IPv6 in brackets. */
export function url(host: string, port: number): string {
  return `https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`
}

export function peerUrl(c: Pick<MemberConfig, 'addr' | 'peerPort'>): string {
  return url(c.addr, c.peerPort)
}

/** The client URLs a member listens on: its address and loopback (once when they are the same). */
export function clientUrls(c: Pick<MemberConfig, 'addr' | 'clientPort'>): string[] {
  return [...new Set([url(c.addr, c.clientPort), url('127.0.0.1', c.clientPort)])]
}
