import { createHash } from 'node:crypto'
import { DEFAULT_NETWORK, type NetworkRecord, type NetworkSpec } from '../../api/network.ts'
import type { NodeRecord } from '../../api/types.ts'
import { formatCidr, type Cidr } from '../../base/cidr.ts'
import type { Store } from '../store.ts'
import { createNetworkRecord, findNetwork, removeNetworkRecord } from './objects.ts'
import type { AddressPool } from './ipam.ts'

/**
 * The manager's network objects (`mesh network create|ls|inspect|rm`): one store transaction per request, the
 * decisions in objects.ts and ipam.ts. The default network `mesh` is no record: `list` and `get` show it as one,
 * built from the overlay range and the nodes' registered overlay subnets, and it cannot be removed.
 */
export interface NetworksOptions {
  store: Store
  pool: AddressPool
  /** The overlay range of the default network. */
  overlayRange: Cidr
  now: () => number
  newId: () => string
  log?: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void
}

export class Networks {
  readonly #o: NetworksOptions

  constructor(o: NetworksOptions) {
    this.#o = o
  }

  /** The address pool networks are cut from. */
  get pool(): AddressPool {
    return this.#o.pool
  }

  async create(spec: NetworkSpec): Promise<NetworkRecord> {
    const now = this.#o.now()
    const id = this.#o.newId()
    const r = await this.#o.store.transact((tx) => createNetworkRecord(tx, spec, this.#o.pool, id, now))
    this.#o.log?.('info', 'network created', { network: r.spec.name, subnet: r.subnet, vni: r.vni })
    return r
  }

  async remove(ref: string): Promise<NetworkRecord> {
    const r = await this.#o.store.transact((tx) => removeNetworkRecord(tx, ref))
    this.#o.log?.('info', 'network removed', { network: r.spec.name })
    return r
  }

  /** The default network first, then every user network by name. */
  list(): NetworkRecord[] {
    return [this.defaultNetwork(), ...this.#o.store.listObjects('network')]
  }

  /** By id or name (`mesh` is the default network). */
  get(ref: string): NetworkRecord | undefined {
    const d = this.defaultNetwork()
    if (ref === DEFAULT_NETWORK || ref === d.id) return d
    return findNetwork(this.#o.store, ref)
  }

  /**
   * The default network as a record: the overlay range, each node's registered overlay subnet as its slice, a
   * stable id derived from the cluster id (so `network ls` shows the same one on every call), encrypted.
   */
  defaultNetwork(): NetworkRecord {
    const cluster = this.#o.store.getMeta('cluster_id') ?? ''
    const id = createHash('sha256').update(`mesh-default-network\0${cluster}`).digest('hex').slice(0, 25)
    const slices: Record<string, string> = {}
    for (const n of this.#o.store.listNodes() as NodeRecord[]) if (n.overlay?.subnet) slices[n.id] = n.overlay.subnet
    return {
      id, subnet: formatCidr(this.#o.overlayRange), vni: 0, slices, createdAt: 0, updatedAt: 0,
      spec: { name: DEFAULT_NETWORK, driver: 'overlay', attachable: false, internal: false, encrypted: true, labels: {} },
    }
  }
}
