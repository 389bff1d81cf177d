import { isDeepStrictEqual } from 'node:util'
import { userNetworks, validateServiceSpec } from '../api/index.ts'
import type { ServiceRecord, ServiceSpec } from '../api/types.ts'
import type { Cidr } from '../base/cidr.ts'
import { resolveFileRefs } from './file-refs.ts'
import { serviceVirtualIps } from './networks/index.ts'
import { sealRegistryAuth } from './registry-auth.ts'
import { conflict, invalid, notFound } from './request-refused.ts'
import { checkPortsFree, serviceVip } from './service-rules.ts'
import type { Store, StoreTx } from './store.ts'
import { isPaused, rollbackService, updateService } from './update.ts'
import type { SecretVault } from './vault/vault.ts'


export interface ServiceWritesOptions {
  store: Store
  /** Seals registry credentials before they are stored. */
  vault: SecretVault
  /** The default network's VIP range. */
  vipRange: Cidr
  now: () => number
  newId: () => string
}

/**
 * The manager's service writes (`mesh service create/update/rollback/rm`): each is one store transaction, checked
 * before anything is written (spec validation, a name that cannot change, published ports free, secret and config
 * references resolved), so a bad request changes nothing. A transaction callback may run more than once
 * (optimistic stores): it only reads the tx and returns a value.
 */
export class ServiceWrites {
  readonly #o: ServiceWritesOptions

  constructor(o: ServiceWritesOptions) {
    this.#o = o
  }

  async create(spec: ServiceSpec): Promise<ServiceRecord> {
    const problems = validateServiceSpec(spec)
    if (problems.length) throw invalid(`service "${spec.name}": ${problems.join('; ')}`)
    const now = this.#o.now()
    const id = this.#o.newId()
    const stored = sealRegistryAuth(this.#o.vault, id, spec) // registry credentials never stored in plain
    return this.#o.store.transact((tx) => {
      if (tx.getService(spec.name)) throw conflict(`service "${spec.name}" already exists`)
      checkPortsFree(tx.listServices(), spec, null)
      const s: ServiceRecord = { id, spec: resolveFileRefs(tx, stored), version: 1, createdAt: now, updatedAt: now }
      return this.#putWithVip(tx, s, undefined)
    })
  }

  async update(idOrName: string, change: (spec: ServiceSpec) => ServiceSpec): Promise<ServiceRecord> {
    return this.#o.store.transact((tx) => {
      const s = tx.getService(idOrName)
      if (!s) throw notFound(`service "${idOrName}" not found`)
      const changed = sealRegistryAuth(this.#o.vault, s.id, change(structuredClone(s.spec)), s.spec)
      if (changed.name !== s.spec.name) throw invalid(`service "${s.spec.name}": the name cannot change`)
      const problems = validateServiceSpec(changed)
      if (problems.length) throw invalid(`service "${s.spec.name}": ${problems.join('; ')}`)
      const spec = resolveFileRefs(tx, changed)
      checkPortsFree(tx.listServices(), spec, s.id)
      if (isDeepStrictEqual(spec, s.spec) && !isPaused(s)) return s // nothing to do (a redeploy that resolved the same digest)
      const next = updateService(s, spec, this.#o.now())
      return this.#putWithVip(tx, next, s.vip)
    })
  }

  async rollback(idOrName: string): Promise<ServiceRecord> {
    return this.#o.store.transact((tx) => {
      const s = tx.getService(idOrName)
      if (!s) throw notFound(`service "${idOrName}" not found`)
      let next: ServiceRecord
      try {
        next = rollbackService(s, this.#o.now())
      } catch (err) {
        throw invalid((err as Error).message)
      }
      next.spec = resolveFileRefs(tx, next.spec) // a secret the previous spec used may be gone since
      return this.#putWithVip(tx, next, s.vip)
    })
  }

  /** The service goes; its tasks are marked for removal (the agents stop them). */
  async remove(idOrName: string): Promise<void> {
    await this.#o.store.transact((tx) => {
      const s = tx.getService(idOrName)
      if (!s) throw notFound(`service "${idOrName}" not found`)
      for (const t of tx.listTasks({ serviceId: s.id })) if (t.desiredState !== 'remove') tx.putTask({ ...t, desiredState: 'remove', updatedAt: this.#o.now() })
      tx.deleteService(s.id)
    })
  }

  /**
   * Store a service with its VIPs: on the default network, kept from `previous` when it still needs one, the lowest
   * free one if new, none for dnsrr; a service on user networks has one per network instead (networks/attach.ts).
   */
  #putWithVip(tx: StoreTx, s: ServiceRecord, previous: string | undefined): ServiceRecord {
    const virtualIps = serviceVirtualIps(tx, s.spec, s.id, s.virtualIps)
    const onDefault = userNetworks(s.spec).length === 0
    const vip = onDefault ? serviceVip(s.spec, previous, tx.listServices(), this.#o.vipRange) : undefined
    if (vip) s.vip = vip
    else delete s.vip
    if (virtualIps.length > 0) s.virtualIps = virtualIps
    else delete s.virtualIps
    tx.putService(s)
    return s
  }
}
