import type { NetworkRecord, TaskNetworkAttachment } from '../../api/network.ts'
import { userNetworks } from '../../api/network-spec.ts'
import { isGlobalMode } from '../../api/mode.ts'
import type { ServiceRecord, ServiceSpec, TaskRecord } from '../../api/types.ts'
import { RequestRefusedError } from '../request-refused.ts'
import type { StoreTx } from '../store.ts'
import { AddressPoolExhaustedError, addressIn, allocateNetworkVip, vipSlice, withNodeSlice } from './ipam.ts'
import { findNetwork } from './objects.ts'
import { formatCidr } from '../../base/cidr.ts'

/**
 * Services and tasks on user networks (called inside a store transaction; reads and writes the tx only).
 * A service gets one VIP per network from that network's VIP slice (endpoint mode vip); a task gets its networks,
 * in the service's order, when the scheduler assigns it to a node, and the node gets its slice of each network in
 * the same transaction. A task whose node can get no slice stays pending, saying why.
 */

/**
 * The VIPs `spec` should hold on its user networks: the ones in `current` kept while still in their network's VIP
 * slice, the lowest free one otherwise; none for dnsrr. Throws a 404 refusal for a network that does not exist.
 */
export function serviceVirtualIps(tx: StoreTx, spec: ServiceSpec, self: string, current: ServiceRecord['virtualIps']): { network: string; addr: string }[] {
  const out: { network: string; addr: string }[] = []
  for (const a of userNetworks(spec)) {
    const n = findNetwork(tx, a.target)
    if (!n) throw new RequestRefusedError('MESH_ERR_NOT_FOUND', `service "${spec.name}": network "${a.target}" not found`)
    if (spec.endpointMode === 'dnsrr') continue
    const kept = current?.find((v) => v.network === n.id)
    if (kept && addressIn(kept.addr, formatCidr(vipSlice(n)))) {
      out.push(kept)
      continue
    }
    const used = new Set<string>()
    for (const s of tx.listServices()) {
      if (s.id === self) continue
      for (const v of s.virtualIps ?? []) if (v.network === n.id) used.add(v.addr)
    }
    const addr = allocateNetworkVip(n, used)
    if (!addr) throw new RequestRefusedError('MESH_ERR_CONFLICT', `service "${spec.name}": network "${n.spec.name}" has no free VIP left (${formatCidr(vipSlice(n))})`)
    out.push({ network: n.id, addr })
  }
  return out
}

/**
 * Gives every task of `tasks` that the plan has just assigned (state `assigned`, on user networks, no networks yet)
 * its networks, allocating its node's slices (written to the tx). A task that cannot have them (a network is gone, no
 * slice left) comes back pending on no node, with the reason as its message. Returns the tasks to store instead;
 * a task whose stored version (`stored`) already says the same is left out, so a stuck task writes nothing.
 */
export function attachAssignedTasks(tx: StoreTx, tasks: readonly TaskRecord[], now: number, stored: (id: string) => TaskRecord | undefined = () => undefined): TaskRecord[] {
  const out: TaskRecord[] = []
  for (const t of tasks) {
    const r = attachOne(tx, t, now)
    const before = stored(t.id)
    if (r !== t && before && before.status.state === 'pending' && before.status.message === r.status.message && before.nodeId === r.nodeId) continue
    out.push(r)
  }
  return out
}

function attachOne(tx: StoreTx, t: TaskRecord, now: number): TaskRecord {
  {
    if (t.status.state !== 'assigned' || t.nodeId === '' || t.networks) return t
    const wanted = userNetworks(t.spec)
    if (wanted.length === 0) return t
    const planned: NetworkRecord[] = []
    const networks: TaskNetworkAttachment[] = []
    let problem: string | null = null
    for (const a of wanted) {
      const n = findNetwork(tx, a.target)
      if (!n) {
        problem = `network "${a.target}" not found`
        break
      }
      try {
        planned.push(withNodeSlice(n, t.nodeId))
      } catch (err) {
        if (!(err instanceof AddressPoolExhaustedError)) throw err
        problem = err.message
        break
      }
      networks.push({ network: n.id, name: n.spec.name, aliases: [...a.aliases] })
    }
    if (problem) {
      const message = `no address for the task: ${problem}`
      const nodeId = isGlobalMode(t.spec.mode) ? t.nodeId : ''
      return { ...t, nodeId, updatedAt: now, status: { ...t.status, state: 'pending', message, timestamp: now } }
    }
    for (const n of planned) if (tx.getObject('network', n.id)?.slices[t.nodeId] !== n.slices[t.nodeId]) tx.putObject('network', { ...n, updatedAt: now })
    return { ...t, networks }
  }
}
