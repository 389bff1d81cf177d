import type { Etcd3 } from 'etcd3'
import { EtcdMemberError } from './errors.ts'
import type { InitialMember } from './flags.ts'
import { etcdClient } from './client.ts'
import type { MemberTls } from './tls.ts'

/** A member as etcd lists it. A member added but not started yet has no name. */
export interface MemberInfo {
  /** etcd's member id (decimal string). */
  readonly id: string
  readonly name: string
  readonly peerUrls: readonly string[]
  readonly clientUrls: readonly string[]
}

export async function listMembers(client: Etcd3): Promise<MemberInfo[]> {
  const res = await client.cluster.memberList({})
  return res.members.map((m) => ({ id: String(m.ID), name: m.name, peerUrls: [...m.peerURLs], clientUrls: [...m.clientURLs] }))
}

/**
 * Adds a member (run by a manager already in the cluster, over its own member's client): `memberAdd` with the new
 * member's peer URL. Returns the `--initial-cluster` the new member must start with: every member by name, the
 * new one under `name`. Adding a peer URL already listed under that name again is a no-op (a join retried after
 * the manager crashed between add and start); under another name it is refused.
 */
export async function addMember(client: Etcd3, o: { name: string; peerUrl: string; unhealthyRetryMs?: number }): Promise<InitialMember[]> {
  const before = await listMembers(client)
  const existing = before.find((m) => m.peerUrls.includes(o.peerUrl))
  if (existing && existing.name !== '' && existing.name !== o.name) {
    throw new EtcdMemberError(`etcd member "${o.name}": peer URL ${o.peerUrl} belongs to member "${existing.name}"; remove it first`)
  }
  let members = before
  if (!existing) {
    const res = await reconfigure(() => client.cluster.memberAdd({ peerURLs: [o.peerUrl] }), `etcd member "${o.name}": the cluster refused to add it`, o.unhealthyRetryMs)
    members = res.members.map((m) => ({ id: String(m.ID), name: m.name, peerUrls: [...m.peerURLs], clientUrls: [...m.clientURLs] }))
  }
  return initialCluster(members, o)
}

/** Every member as `name=peerURL`; the unnamed member with `peerUrl` (the one being added) named `name`. */
export function initialCluster(members: readonly MemberInfo[], added: { name: string; peerUrl: string }): InitialMember[] {
  const out: InitialMember[] = []
  for (const m of members) {
    const name = m.peerUrls.includes(added.peerUrl) ? added.name : m.name
    if (name === '') continue // another member added and not started yet: it names itself when it starts
    for (const peerUrl of m.peerUrls) out.push({ name, peerUrl })
  }
  return out
}

/**
 * Removes the member named `name` (run from a member that stays). Removing a member that is not listed is a
 * no-op (a removal retried); returns whether one was removed. While the cluster is briefly unhealthy (a member
 * just restarted) the change is retried, bounded (reconfigure).
 */
export async function removeMember(client: Etcd3, name: string, o: { unhealthyRetryMs?: number } = {}): Promise<boolean> {
  const m = (await listMembers(client)).find((x) => x.name === name)
  if (!m) return false
  await reconfigure(() => client.cluster.memberRemove({ ID: m.id }), `etcd member "${name}": the cluster refused to remove it`, o.unhealthyRetryMs)
  return true
}

/**
 * Runs a membership change, retrying while etcd answers "unhealthy cluster": with --strict-reconfig-check it
 * refuses a change that could cost the quorum, including while a member restarted less than 5 s ago is not yet
 * counted as connected. Bounded by `retryMs` (default 20 s); any other refusal fails at once.
 */
async function reconfigure<T>(change: () => Promise<T>, what: string, retryMs = 20_000): Promise<T> {
  const deadline = Date.now() + retryMs
  for (;;) {
    try {
      return await change()
    } catch (err) {
      const message = (err as Error).message
      if (!/unhealthy cluster/.test(message) || Date.now() >= deadline) throw new EtcdMemberError(`${what}: ${message}`, { cause: err })
    }
    await new Promise((r) => setTimeout(r, 500))
  }
}

/**
 * Every member and whether it answers a status call now, each asked on its own client URL (not loopback, which
 * every member also listens on: that would ask the local member for each), bounded by `timeoutMs`. A member added
 * but not started yet has no name and never answers.
 */
export async function memberHealth(client: Etcd3, tls: MemberTls, o: { timeoutMs?: number } = {}): Promise<{ name: string; reachable: boolean }[]> {
  const members = await listMembers(client)
  return Promise.all(members.map(async (m) => {
    const urls = m.clientUrls.filter((u) => !u.startsWith('https://127.0.0.1:'))
    const endpoints = urls.length > 0 ? urls : m.clientUrls
    if (endpoints.length === 0) return { name: m.name, reachable: false }
    const probe = etcdClient({ endpoints, tls, callTimeoutMs: o.timeoutMs ?? 2000, dialTimeoutMs: o.timeoutMs ?? 2000 })
    try {
      await probe.maintenance.status()
      return { name: m.name, reachable: true }
    } catch {
      return { name: m.name, reachable: false }
    } finally {
      probe.close()
    }
  }))
}
