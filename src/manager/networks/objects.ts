import { DEFAULT_NETWORK, type NetworkRecord, type NetworkSpec } from '../../api/network.ts'
import { RESERVED_NETWORK_NAMES, userNetworks } from '../../api/network-spec.ts'
import { TERMINAL_STATES, type ServiceRecord, type TaskRecord } from '../../api/types.ts'
import { ConfigError } from '../../base/errors.ts'
import { RequestRefusedError, invalid } from '../request-refused.ts'
import type { StoreReader, StoreTx } from '../store.ts'
import { allocateSubnet, allocateVni, withNodeSlice, withoutNodeSlice, type AddressPool } from './ipam.ts'

/**
 * Network objects in the store (called inside a store transaction: reads and writes the tx only, no side effects, so
 * it may run twice). Create cuts a range and a VNI; an attachable network gets a slice on every node at once (and
 * on nodes that join later, ensureAttachableSlices); remove is refused while a service names the network or a task
 * still holds an address on it; removing a node frees its slices.
 */


/** The network `ref` (id or name) names, or undefined; `mesh` is never one (the default network is no record). */
export function findNetwork(r: Pick<StoreReader, 'getObject'>, ref: string): NetworkRecord | undefined {
  return ref === DEFAULT_NETWORK ? undefined : r.getObject('network', ref)
}

export function createNetworkRecord(tx: StoreTx, spec: NetworkSpec, pool: AddressPool, id: string, now: number): NetworkRecord {
  if (RESERVED_NETWORK_NAMES.includes(spec.name)) {
    throw invalid(`network "${spec.name}": the name is reserved (${spec.name === DEFAULT_NETWORK ? 'the default network' : "the engine's own network"}); choose another`)
  }
  if (tx.getObject('network', spec.name)) throw new RequestRefusedError('MESH_ERR_CONFLICT', `network "${spec.name}" already exists`)
  const networks = tx.listObjects('network')
  let subnet: string
  try {
    subnet = allocateSubnet(pool, networks, spec.subnet)
  } catch (err) {
    if (err instanceof ConfigError) throw invalid(`network "${spec.name}": ${err.message}`)
    throw err
  }
  let record: NetworkRecord = { id, spec, subnet, vni: allocateVni(networks), slices: {}, createdAt: now, updatedAt: now }
  if (spec.attachable) for (const n of tx.listNodes()) record = withNodeSlice(record, n.id)
  tx.putObject('network', record)
  return record
}

/** Who still uses a network: the first service naming it, else the first task holding it that has not ended. */
export function networkUser(tx: StoreReader, n: NetworkRecord): string | null {
  const names = new Set([n.id, n.spec.name])
  const service = tx.listServices().find((s: ServiceRecord) => userNetworks(s.spec).some((a) => names.has(a.target)))
  if (service) return `service "${service.spec.name}"`
  const task = tx.listTasks().find((t: TaskRecord) => t.networks?.some((a) => a.network === n.id) && !TERMINAL_STATES.includes(t.status.state) && t.nodeId !== '')
  if (task) return `task ${task.serviceName}.${task.slot || task.nodeId} (${task.status.state})`
  return null
}

export function removeNetworkRecord(tx: StoreTx, ref: string): NetworkRecord {
  if (ref === DEFAULT_NETWORK) throw invalid(`network "${DEFAULT_NETWORK}" is the default network and cannot be removed`)
  const n = findNetwork(tx, ref)
  if (!n) throw new RequestRefusedError('MESH_ERR_NOT_FOUND', `network "${ref}" not found`)
  const user = networkUser(tx, n)
  if (user) throw new RequestRefusedError('MESH_ERR_CONFLICT', `network "${n.spec.name}" is in use by ${user}`)
  tx.deleteObject('network', n.id)
  return n
}

/** Every node holds a slice of every attachable network (plain containers may join it anywhere). */
export function ensureAttachableSlices(tx: StoreTx): number {
  let changed = 0
  const nodes = tx.listNodes()
  for (const n of tx.listObjects('network')) {
    if (!n.spec.attachable) continue
    let next = n
    for (const node of nodes) {
      try {
        next = withNodeSlice(next, node.id)
      } catch {
        break // exhausted: the nodes left get none; the network's tasks say so when they are scheduled
      }
    }
    if (next !== n) {
      tx.putObject('network', next)
      changed++
    }
  }
  return changed
}

/** A removed node's slices go back to their networks. */
export function releaseNodeSlices(tx: StoreTx, nodeId: string, now: number): void {
  for (const n of tx.listObjects('network')) {
    const next = withoutNodeSlice(n, nodeId)
    if (next !== n) tx.putObject('network', { ...next, updatedAt: now })
  }
}
