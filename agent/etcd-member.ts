import { X509Certificate } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Etcd3 } from 'etcd3'
import { ConfigError, MeshError } from '../src/base/errors.ts'
import { errorOf, jsonRequest, managerCertificateCheck } from '../src/api/index.ts'
import {
  addMember, EtcdMember, etcdClient, issueMemberTls, KekFile, memberConfig, memberHealth, memberTlsFiles, removeMember, vaultDir, waitReady,
  writeMemberTls, type EtcdMemberGrant, type InitialMember, type ManagerMembers, type MemberTls, type StartMode,
} from '../src/manager/index.ts'
import { createClusterCa, createNodeKeyAndCsr, signNodeCsr, type ClusterCa } from '../src/pki/index.ts'
import { hasIdentity, readIdentity, readNodeTls, savedManager, writeIdentity } from '../src/worker/index.ts'
import type { Config } from '../src/config/index.ts'
import type { Logger } from './log.ts'
import type { ClusterParts } from './cluster.ts'

/**
 * A manager's own etcd member (`mesh agent --init --store etcd`, a manager-token join): the agent runs `etcd` as its
 * child under `<data-dir>/etcd` with the cluster CA's certificates in `<data-dir>/etcd-tls`, and the manager's
 * EtcdStore talks to it on 127.0.0.1. Three ways in: a new cluster (its root made here, before the store exists:
 * the member needs a certificate before the store can open), a member another manager added (the grant of
 * `POST /v1/agent/etcd-member`), and a restart from the data dir. Wiring only: the rules are in src/manager.
 */

/** How long a member may take to answer after it starts (a join catches up with the cluster first). */
const READY_TIMEOUT_MS = 60_000

export interface ManagedEtcd {
  readonly member: EtcdMember
  /** A client of the own member (127.0.0.1) with the member certificate: the store's and membership's. */
  readonly client: Etcd3
  readonly tls: MemberTls
  /** Another client of the own member (the store's: closing the store closes it). */
  newClient(): Etcd3
  /** Stop the member (and close the client). */
  stop(): Promise<void>
}

export function etcdDataDir(dataDir: string): string {
  return join(dataDir, 'etcd')
}

export function etcdTlsDir(dataDir: string): string {
  return join(dataDir, 'etcd-tls')
}

/** Whether this data dir holds an etcd member an earlier run started (then the manager restarts on it). */
export function hasManagedMember(dataDir: string): boolean {
  return existsSync(join(etcdDataDir(dataDir), 'member'))
}

/** A new cluster's root, and its first member's certificate issued from it (CN = the manager node's id to be). */
export async function bootstrapCluster(config: Readonly<Config>, o: { clusterId: string; nodeId: string }): Promise<{ ca: ClusterCa; tls: MemberTls }> {
  const { clusterId, nodeId } = o
  const ca = await createClusterCa({ clusterId, now: Date.now() })
  const issuer = {
    issue: (csr: string, o: { nodeId: string; role: 'manager' | 'worker' | 'admin'; clusterId: string; ipSans?: string[]; dnsSans?: string[] }) =>
      signNodeCsr(ca, csr, { ...o, now: Date.now() }),
    trust: () => ({ roots: [ca.certPem] }),
  }
  const tls = await issueMemberTls(issuer, { nodeId, clusterId, addr: config.gossip.advertiseAddr })
  return { ca, tls }
}

/**
 * Starts the member (`tls` given: written first; else the files of an earlier run) and waits until it answers. Its
 * name is the manager's node id: the CN of its certificate.
 */
export async function startManagedEtcd(config: Readonly<Config>, log: Logger, o: { mode: StartMode; tls?: MemberTls; clusterToken?: string; quorum?: QuorumWait }): Promise<ManagedEtcd> {
  const elog = log.child({ sub: 'etcd' })
  const tlsDir = etcdTlsDir(config.dataDir)
  const files = o.tls ? await writeMemberTls(tlsDir, o.tls) : memberTlsFiles(tlsDir)
  const tls = o.tls ?? readMemberTls(tlsDir)
  const name = memberName(tls)
  const member = new EtcdMember({
    config: memberConfig({
      name, addr: config.gossip.advertiseAddr, dataDir: etcdDataDir(config.dataDir), tls: files,
      clientPort: config.cluster.etcdClientPort, peerPort: config.cluster.etcdPeerPort,
      timing: { heartbeatMs: config.cluster.etcdHeartbeatMs, electionMs: config.cluster.etcdElectionMs, leaseTtlSeconds: config.cluster.leaderLeaseSeconds },
      clusterToken: o.clusterToken ?? 'mesh', // read by init and join only: a restart takes the cluster from its data dir
    }),
    mode: o.mode,
    log: (level, msg, fields) => elog[level](fields ?? {}, msg),
  })
  const newClient = (): Etcd3 => etcdClient({ endpoints: [`https://127.0.0.1:${config.cluster.etcdClientPort}`], tls })
  const client = newClient()
  const stop = async (): Promise<void> => {
    client.close()
    await member.stop()
  }
  try {
    await member.start()
    if (o.quorum) await waitQuorum(member, client, name, o.quorum)
    else await waitReady(client, { name, timeoutMs: READY_TIMEOUT_MS })
  } catch (err) {
    if (err instanceof QuorumWaitEnded) {
      await stop()
      throw err
    }
    await stop()
    const last = member.logs().at(-1)
    throw new ConfigError(`${(err as Error).message}${last ? ` (etcd: ${last.slice(0, 300)})` : ''}`, { cause: err })
  }
  elog.info({ mode: o.mode.kind, pid: member.pid(), clientPort: config.cluster.etcdClientPort, peerPort: config.cluster.etcdPeerPort }, 'etcd member serving')
  return { member, client, tls, newClient, stop }
}

/**
 * How a restarted manager waits for its member (manager-role.ts): no deadline — the member keeps running and
 * catching up while the other managers are away — with `waiting` told every `everyMs` it still has no answer,
 * until it answers, `signal` aborts (the agent stops) or etcd says the cluster removed this member.
 */
export interface QuorumWait {
  everyMs: number
  signal: AbortSignal
  waiting(why: string): void
}

/** The wait ended without a quorum: the agent stopped (`stopped`) or the member was removed from the cluster. */
export class QuorumWaitEnded extends MeshError {
  readonly why: 'stopped' | 'removed'
  constructor(why: 'stopped' | 'removed') {
    super('MESH_ERR_QUORUM_WAIT_ENDED', why === 'stopped' ? 'stopped while waiting for the quorum' : 'the cluster removed this etcd member')
    this.why = why
  }
}

async function waitQuorum(member: EtcdMember, client: Etcd3, name: string, q: QuorumWait): Promise<void> {
  let onAbort = (): void => undefined
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new QuorumWaitEnded('stopped'))
    q.signal.addEventListener('abort', onAbort, { once: true })
  })
  aborted.catch(() => undefined)
  try {
    for (;;) {
      if (q.signal.aborted) throw new QuorumWaitEnded('stopped')
      if (removedFromCluster(member.logs())) throw new QuorumWaitEnded('removed')
      try {
        return await Promise.race([waitReady(client, { name, timeoutMs: q.everyMs, intervalMs: 500 }), aborted])
      } catch (err) {
        if (err instanceof QuorumWaitEnded) throw err
        q.waiting((err as Error).message)
      }
    }
  } finally {
    q.signal.removeEventListener('abort', onAbort)
  }
}

/** The member's name: its certificate's CN (the node id). */
function memberName(tls: MemberTls): string {
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(new X509Certificate(tls.certPem).subject)?.[1]
  if (!cn) throw new ConfigError('the etcd member\'s certificate names no node (no CN)')
  return cn
}

/** A restarting manager's member certificates can be read (else one ConfigError line before anything starts). */
export function checkMemberFiles(dataDir: string): void {
  readMemberTls(etcdTlsDir(dataDir))
}

function readMemberTls(dir: string): MemberTls {
  const f = memberTlsFiles(dir)
  try {
    return { caPem: readFileSync(f.caFile, 'utf8'), certPem: readFileSync(f.certFile, 'utf8'), keyPem: readFileSync(f.keyFile, 'utf8') }
  } catch (err) {
    throw new ConfigError(`the etcd member's certificates in ${dir} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): ` +
      'remove this manager (mesh node demote) and join it again', { cause: err })
  }
}

/** The Manager's view of the members (src/manager/manager-members.ts), over the own member's client. */
export function managerMembers(etcd: ManagedEtcd): ManagerMembers {
  return {
    add: (o) => addMember(etcd.client, o),
    remove: (name) => removeMember(etcd.client, name),
    health: () => memberHealth(etcd.client, etcd.tls),
  }
}

/**
 * A manager node without a member asks a manager (`ask`: the link's current one; default the one it registered with;
 * mutual TLS, its node certificate) for one:
 * its key and CSR are made here, the key never leaves the node. `refused`: the manager says no member is to be had
 * (a cluster without a managed etcd, where such a node was only ever a worker; or a node no longer a manager).
 */
export async function requestMemberGrant(config: Readonly<Config>, ask?: string): Promise<{ tls: MemberTls; initialCluster: InitialMember[]; clusterToken: string; grant: EtcdMemberGrant } | { refused: string }> {
  const manager = ask ?? savedManager(config.dataDir)
  const m = manager ? /^\[?([^\]]+?)\]?:(\d+)$/.exec(manager) : null
  if (!m) throw new ConfigError('this node has no manager to ask for its etcd member (node.json names none)')
  const node = readNodeTls(config.dataDir)
  const { keyPem, csrPem } = await createNodeKeyAndCsr()
  const target = { host: m[1] as string, port: Number(m[2]), tls: { ca: node.ca, cert: node.cert, key: node.key, checkServerIdentity: managerCertificateCheck } }
  let r
  try {
    r = await jsonRequest(target, { method: 'POST', path: '/v1/agent/etcd-member', body: { csr: csrPem, peerPort: config.cluster.etcdPeerPort }, timeoutMs: 60_000 })
  } catch (err) {
    throw new ConfigError(`cannot reach the manager at ${manager} for this node's etcd member: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  }
  if (r.status === 409) return { refused: errorOf(r).message }
  if (r.status !== 200) throw new ConfigError(errorOf(r).message)
  const grant = r.body as EtcdMemberGrant
  if (typeof grant?.certificate !== 'string' || !Array.isArray(grant.ca) || !Array.isArray(grant.initialCluster)) {
    throw new ConfigError(`the manager at ${manager} answered no etcd member`)
  }
  return { tls: { caPem: grant.ca.join(''), certPem: grant.certificate, keyPem }, initialCluster: grant.initialCluster, clusterToken: grant.clusterToken, grant }
}

/**
 * The cluster's KEK from a grant, written 0600 in the 0700 vault folder (KekFile) when this node keeps none yet
 * (with autolock it stays sealed by the unlock key: the manager starts locked until `mesh unlock`). Never logged.
 */
export function keepGrantedKek(dataDir: string, grant: EtcdMemberGrant): boolean {
  if (!grant.kek) return false
  const file = new KekFile(vaultDir(dataDir))
  if (file.read().current) return false
  file.writeNext(grant.kek)
  file.promoteNext()
  return true
}

/** Whether etcd's last lines say the cluster removed this member (it exits, and every restart exits again). */
export function removedFromCluster(lines: readonly string[]): boolean {
  return lines.some((l) => l.includes('the member has been permanently removed from the cluster'))
}

/** After the member was removed (demote, rm): stop it, delete its data dir and certificates. */
export async function wipeManagedEtcd(dataDir: string, etcd: ManagedEtcd | null): Promise<void> {
  await etcd?.stop() // idempotent: the manager's stop may have stopped it already
  await etcd?.member.wipe()
  await rm(etcdDataDir(dataDir), { recursive: true, force: true })
  await rm(etcdTlsDir(dataDir), { recursive: true, force: true })
}

/**
 * A manager of a managed etcd whose member another manager removed (`mesh node demote`, `mesh node rm`) stops
 * being one: etcd says so as it exits ("permanently removed"; the store write of the new role never reaches this
 * member), then the manager, its API and sockets stop, `<data-dir>/etcd` and its certificates are deleted, and
 * node.json names another manager (from the last view of the store) for the worker side's next start.
 */
export function retireOnRemoval(config: Readonly<Config>, log: Logger, parts: Pick<ClusterParts, 'etcd' | 'manager'>, stopManager: () => Promise<void>): void {
  const etcd = parts.etcd
  if (!etcd) return
  const mlog = log.child({ sub: 'manager' })
  let retiring = false
  etcd.member.onEvent((e) => {
    if (e.event !== 'exited' || retiring || !removedFromCluster(etcd.member.logs())) return
    retiring = true
    const other = parts.manager?.listNodes().find((n) => n.role === 'manager' && n.hostname !== config.gossip.name && n.state !== 'down')
    void (async () => {
      await stopManager()
      parts.manager = null
      await wipeManagedEtcd(config.dataDir, etcd)
      const manager = other ? `${other.addr.includes(':') ? `[${other.addr}]` : other.addr}:${config.cluster.apiPort}` : null
      if (manager && hasIdentity(config.dataDir)) writeIdentity(config.dataDir, { ...readIdentity(config.dataDir), role: 'worker', manager })
      mlog.warn({ manager }, 'this node is no longer a manager (demoted or removed): its manager and etcd member stopped and <data-dir>/etcd was deleted')
    })().catch((err: Error) => mlog.error({ err: err.message }, 'stopping the removed manager failed'))
  })
}
