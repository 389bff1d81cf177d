import type { NodeRecord } from '../api/types.ts'
import type { CertRole } from '../pki/index.ts'
import { MEMBER_CERT_NAME, peerUrl } from './etcd/config.ts'
import { withMemberBridge } from './etcd/tls.ts'
import type { InitialMember } from './etcd/flags.ts'
import type { Manager } from './manager.ts'
import type { KekContent } from './vault/key-file.ts'
import { RequestRefusedError } from './request-refused.ts'

type LogFn = (level: 'info' | 'warn' | 'error' | 'debug', msg: string, fields?: Record<string, unknown>) => void

/**
 * Managers and their etcd members (issue 15 items 2 and 8): the rules a manager applies when a node becomes a
 * manager (a manager-token join, `mesh node promote`) or stops being one (`mesh node demote`, `mesh node rm`).
 *
 * With a managed etcd (`mesh agent --init --store etcd`) every manager runs one etcd member, named by its node id;
 * the agent's wiring gives the Manager a `ManagerMembers` over its own member's client. A single manager on SQLite
 * gets a `StoreMove` instead: the first promote or manager-token join moves its state into a managed etcd on this
 * node, then goes on as on etcd. With an external `--store etcd://…` the cluster has one manager, and making a
 * second is refused with the way to move. Pure rules here (which refusal, quorum arithmetic); the etcd calls and
 * the move live behind the roles.
 */

/** The cluster's etcd members as the manager changes them (src/manager/etcd membership, behind the agent's wiring). */
export interface ManagerMembers {
  /** `member add` for a new manager's peer URL; the `--initial-cluster` its member starts with. */
  add(o: { name: string; peerUrl: string }): Promise<InitialMember[]>
  /** `member remove` by name (the node id); false when no such member is listed (a removal retried). */
  remove(name: string): Promise<boolean>
  /** Every member, and whether it answers now (a bounded status call to each). */
  health(): Promise<MemberHealth[]>
}

/**
 * A single manager on SQLite moves its state into a managed etcd on its own node (agent/store-move.ts): the store is
 * frozen before this is called (no write can follow the snapshot), and it resolves with the manager now running on
 * etcd (its `members` set), to which the request that asked for a second manager is handed. A rejection leaves the
 * manager on SQLite, as it was.
 */
export interface StoreMove {
  toEtcd(): Promise<Manager>
}

/** The line a write gets while a move runs (503: retry in a moment). */
export const MOVING_LINE = 'the manager is moving its state from SQLite into etcd (a second manager was asked for); try again in a moment'

/** The line of a request that reaches the manager that moved away (its successor answers the next one). */
export const MOVED_LINE = 'this manager moved its state into etcd and stopped; try again'

/** A move that failed: the manager stays on SQLite. */
export function moveFailed(hostname: string, err: Error): RequestRefusedError {
  return new RequestRefusedError('MESH_ERR_UNAVAILABLE', `node "${hostname}": moving the cluster's state from SQLite into etcd failed (${err.message}); ` +
    'the manager carries on on SQLite, nothing changed')
}

export interface MemberHealth {
  readonly name: string
  readonly reachable: boolean
}

/** What a new manager gets over mutual TLS (`POST /v1/agent/etcd-member`): everything to start its member. */
export interface EtcdMemberGrant {
  /** The member certificate (PEM chain) for the CSR it sent: CN = its node id, the pinned member name as DNS SAN. */
  certificate: string
  /** The cluster CA roots (PEM). */
  ca: string[]
  /** `--initial-cluster`: every member, this one included. */
  initialCluster: InitialMember[]
  /** `--initial-cluster-token`: the cluster id. */
  clusterToken: string
  /** The vault's key-encryption key as the granting manager's file keeps it (sealed by the unlock key with autolock). */
  kek?: KekContent
}

/** The line a cluster that cannot run a second manager answers (SQLite or an external etcd). */
export function singleManagerRefusal(hostname: string): RequestRefusedError {
  return new RequestRefusedError('MESH_ERR_CONFLICT', `node "${hostname}": this cluster's managers do not run their own etcd (SQLite or --store etcd://…), ` +
    'so it has one manager; to run several, start a cluster with mesh agent --init --store etcd and move the state over with ' +
    'mesh manager backup / mesh manager restore (docs/operations.md, "Running 3 managers")')
}

/** Refuses taking `node` out of the managers when it is the last one (docker: "attempting to demote the last manager"). */
export function checkNotLastManager(nodes: readonly NodeRecord[], node: NodeRecord, what: 'demote' | 'remove'): void {
  if (node.role !== 'manager') return
  const others = nodes.filter((n) => n.role === 'manager' && n.id !== node.id)
  if (others.length === 0) {
    throw new RequestRefusedError('MESH_ERR_CONFLICT', `node "${node.hostname}" is the last manager: cannot ${what} it (promote another node first)`)
  }
}

/**
 * Whether removing member `name` (a node id) would leave fewer than a quorum of the remaining members reachable
 * (etcd itself would then refuse or lose the cluster): after the removal, (remaining / 2) + 1 of the remaining
 * members must answer. Null when the removal may go ahead (also when `name` is no member: nothing to remove).
 * `hostname` names the node in the line (default `name`).
 */
export function quorumRefusal(members: readonly MemberHealth[], name: string, hostname = name): string | null {
  if (!members.some((m) => m.name === name)) return null
  const remaining = members.filter((m) => m.name !== name)
  if (remaining.length === 0) return null // the last member: checkNotLastManager refuses it before this
  const quorum = Math.floor(remaining.length / 2) + 1
  const reachable = remaining.filter((m) => m.reachable).length
  if (reachable >= quorum) return null
  return `node "${hostname}": removing its etcd member would leave ${reachable} of ${remaining.length} managers reachable, fewer than a quorum (${quorum}); ` +
    'bring the unreachable managers back first'
}

/**
 * A manager node stops being one (demote, rm): refused for the last manager, and, with a managed etcd, when removing
 * its member would cost the remaining members their quorum; else its etcd member is removed first (the store's own
 * write that follows still has its quorum; the removed member never sees it, and its agent retires on etcd's word).
 */
export async function leaveManagers(o: { nodes: readonly NodeRecord[]; members: ManagerMembers | undefined; log: LogFn }, node: NodeRecord, what: 'demote' | 'remove'): Promise<void> {
  checkNotLastManager(o.nodes, node, what)
  if (!o.members) return
  const refusal = quorumRefusal(await o.members.health(), node.id, node.hostname)
  if (refusal) throw new RequestRefusedError('MESH_ERR_CONFLICT', refusal)
  if (await o.members.remove(node.id)) o.log('info', 'etcd member removed', { node: node.hostname, id: node.id })
}

/** What grantMember needs of the manager. */
export interface GrantDeps {
  ca: { issue(csr: string, o: { nodeId: string; role: CertRole; clusterId: string; ipSans?: string[]; dnsSans?: string[] }): Promise<string>; trust(): { roots: string[] }; memberBridge?(): string | null }
  clusterId: string
  vault: { kekContent(): KekContent | null }
  members: ManagerMembers | undefined
  log: LogFn
}

/**
 * A manager node asks for its etcd member (after a manager-token join; again after a crash between add and start:
 * adding is idempotent): a member certificate for its CSR from the cluster CA (its registered address, never one
 * the request names), `member add` for its peer URL (registered address, `peerPort`), and the vault's KEK as the
 * granting manager's file keeps it.
 */
export async function grantMember(d: GrantDeps, node: NodeRecord, o: { csr: string; peerPort: number }): Promise<EtcdMemberGrant> {
  if (node.role !== 'manager') throw new RequestRefusedError('MESH_ERR_CONFLICT', `node "${node.hostname}" is not a manager (mesh node promote ${node.hostname})`)
  if (!d.members) throw singleManagerRefusal(node.hostname)
  if (!Number.isInteger(o.peerPort) || o.peerPort < 1 || o.peerPort > 65535) throw new RequestRefusedError('MESH_ERR_INVALID', `peer port ${o.peerPort}: must be 1-65535`)
  const issued = await d.ca.issue(o.csr, {
    nodeId: node.id, role: 'manager', clusterId: d.clusterId, ipSans: [...new Set([node.addr, '127.0.0.1'])], dnsSans: [MEMBER_CERT_NAME],
  })
  const certificate = withMemberBridge(issued, d.ca) // members still running with the previous root accept it
  const initialCluster = await d.members.add({ name: node.id, peerUrl: peerUrl({ addr: node.addr, peerPort: o.peerPort }) })
  d.log('info', 'etcd member added', { node: node.hostname, members: initialCluster.length })
  const kek = d.vault.kekContent()
  return { certificate, ca: d.ca.trust().roots, initialCluster, clusterToken: d.clusterId, ...(kek ? { kek } : {}) }
}
