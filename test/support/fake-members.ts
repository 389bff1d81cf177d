import type { ManagerMembers, MemberHealth } from '../../src/manager/index.ts'

/**
 * The managers' etcd members as a Manager sees them (src/manager/manager-members.ts), in memory: members added and
 * removed by name, each reachable unless a test says otherwise. Records every call.
 */
export class FakeMembers implements ManagerMembers {
  readonly members = new Map<string, { peerUrl: string; reachable: boolean }>()
  readonly calls: string[] = []

  /** `first`: the member a cluster starts with (named by the first manager's node id), or none yet. */
  constructor(first?: { name: string; peerUrl: string }) {
    if (first) this.members.set(first.name, { peerUrl: first.peerUrl, reachable: true })
  }

  async add(o: { name: string; peerUrl: string }): Promise<{ name: string; peerUrl: string }[]> {
    this.calls.push(`add ${o.name} ${o.peerUrl}`)
    this.members.set(o.name, { peerUrl: o.peerUrl, reachable: true })
    return [...this.members].map(([name, m]) => ({ name, peerUrl: m.peerUrl }))
  }

  async remove(name: string): Promise<boolean> {
    this.calls.push(`remove ${name}`)
    return this.members.delete(name)
  }

  async health(): Promise<MemberHealth[]> {
    return [...this.members].map(([name, m]) => ({ name, reachable: m.reachable }))
  }

  /** A member stops (or starts) answering. */
  reachable(name: string, up: boolean): void {
    const m = this.members.get(name)
    if (m) m.reachable = up
  }
}
