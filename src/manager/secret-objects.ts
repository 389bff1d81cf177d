import { checkCreateRequest, type ConfigRecord, type FileReference, type SecretRecord, type SecretView, type ServiceRecord, type ValueKind } from '../api/index.ts'
import { RequestRefusedError } from './request-refused.ts'
import { updateObject } from './secret-update.ts'
import type { Store, StoreTx } from './store.ts'
import type { SecretVault } from './vault/vault.ts'

/**
 * Secrets and configs as cluster objects (docker secret/config create|ls|inspect|rm): named, immutable values. A
 * secret's value is sealed by the vault before its transaction and never leaves here but through `SecretVault.open`
 * (the watch stream of a node that needs it); what the API shows of a secret is its SecretView. A config's value
 * (base64 in spec.data) may be shown. Removal is refused while a service's spec, current or previous, uses the object.
 */

export interface SecretObjectsOptions {
  store: Store
  vault: SecretVault
  now: () => number
  newId: () => string
}

const refused = (code: 'MESH_ERR_INVALID' | 'MESH_ERR_NOT_FOUND' | 'MESH_ERR_CONFLICT', msg: string) => new RequestRefusedError(code, msg)

/** A secret record without its sealed value: what every API answer shows. */
export function secretView(r: SecretRecord): SecretView {
  return { id: r.id, spec: { name: r.spec.name, labels: { ...r.spec.labels } }, version: r.version, createdAt: r.createdAt, updatedAt: r.updatedAt }
}

/** The services whose spec (or previous spec, for a rollback) references the object `id` of `kind`. */
export function servicesUsing(services: readonly ServiceRecord[], kind: ValueKind, id: string): string[] {
  const refs = (s: ServiceRecord['spec'] | undefined): FileReference[] => (kind === 'secret' ? s?.secrets : s?.configs) ?? []
  return services.filter((s) => [...refs(s.spec), ...refs(s.previousSpec)].some((r) => r.id === id)).map((s) => s.spec.name)
}

export class SecretObjects {
  readonly #store: Store
  readonly #vault: SecretVault
  readonly #now: () => number
  readonly #newId: () => string

  constructor(o: SecretObjectsOptions) {
    this.#store = o.store
    this.#vault = o.vault
    this.#now = o.now
    this.#newId = o.newId
  }

  /** `POST /v1/secrets`: checked, sealed (outside the transaction), stored. */
  async createSecret(body: unknown): Promise<SecretView> {
    const req = checked('secret', body)
    await this.#vault.load()
    const id = this.#newId()
    const now = this.#now()
    const record: SecretRecord = { id, spec: { name: req.name, labels: req.labels }, sealed: this.#vault.sealSecret(id, req.value), version: 1, createdAt: now, updatedAt: now }
    req.value.fill(0)
    await this.#store.transact((tx) => {
      taken(tx, 'secret', req.name)
      tx.putObject('secret', record)
    })
    return secretView(record)
  }

  /** `POST /v1/configs`. */
  async createConfig(body: unknown): Promise<ConfigRecord> {
    const req = checked('config', body)
    const now = this.#now()
    const record: ConfigRecord = { id: this.#newId(), spec: { name: req.name, labels: req.labels, data: req.value.toString('base64') }, version: 1, createdAt: now, updatedAt: now }
    await this.#store.transact((tx) => {
      taken(tx, 'config', req.name)
      tx.putObject('config', record)
    })
    return record
  }

  listSecrets(): SecretView[] {
    return this.#store.listObjects('secret').map(secretView)
  }

  getSecret(idOrName: string): SecretView {
    const r = this.#store.getObject('secret', idOrName)
    if (!r) throw refused('MESH_ERR_NOT_FOUND', `secret "${idOrName}": not found`)
    return secretView(r)
  }

  listConfigs(): ConfigRecord[] {
    return this.#store.listObjects('config')
  }

  getConfig(idOrName: string): ConfigRecord {
    const r = this.#store.getObject('config', idOrName)
    if (!r) throw refused('MESH_ERR_NOT_FOUND', `config "${idOrName}": not found`)
    return r
  }

  /** `POST /v1/{secrets,configs}/:id/update`: labels only; a `data` that is not the stored value is refused (secret-update.ts). */
  update(kind: ValueKind, idOrName: string, body: unknown): Promise<SecretView | ConfigRecord> {
    return updateObject({ store: this.#store, vault: this.#vault, now: this.#now }, kind, idOrName, body)
  }

  /** `DELETE /v1/{secrets,configs}/:id`: refused (nothing removed) while a service uses it. */
  async remove(kind: ValueKind, idOrName: string): Promise<void> {
    await this.#store.transact((tx) => {
      const r = tx.getObject(kind, idOrName)
      if (!r) throw refused('MESH_ERR_NOT_FOUND', `${kind} "${idOrName}": not found`)
      const users = servicesUsing(tx.listServices(), kind, r.id)
      if (users.length > 0) {
        throw refused('MESH_ERR_CONFLICT', `${kind} "${r.spec.name}" is in use by ${users.length === 1 ? 'service' : 'services'} ${users.map((u) => `"${u}"`).join(', ')}`)
      }
      tx.deleteObject(kind, r.id)
    })
  }
}

function checked(kind: ValueKind, body: unknown): { name: string; labels: Record<string, string>; value: Buffer } {
  const r = checkCreateRequest(kind, body)
  if ('problem' in r) throw refused('MESH_ERR_INVALID', r.problem)
  return r
}

function taken(tx: StoreTx, kind: ValueKind, name: string): void {
  if (tx.getObject(kind, name)) throw refused('MESH_ERR_CONFLICT', `${kind} "${name}" already exists`)
}
