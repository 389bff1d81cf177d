import type { FileReference } from '../api/secrets.ts'
import type { ServiceSpec } from '../api/types.ts'
import type { StoreReader } from './store.ts'
import { RequestRefusedError } from './request-refused.ts'

/**
 * A service's secrets and configs resolved against the store (pure, inside the create/update transaction): each
 * reference's `name` (or, failing that, its `id`) must name an existing object of its kind; the stored reference
 * carries that object's id and name. An unknown one refuses the whole request (`secret "x" not found`), so nothing
 * changes. Empty lists are dropped, so a service that lost its last secret has the spec it would have had without.
 */
export function resolveFileRefs(tx: Pick<StoreReader, 'getObject'>, spec: ServiceSpec): ServiceSpec {
  const out: ServiceSpec = { ...spec }
  for (const kind of ['secret', 'config'] as const) {
    const key = kind === 'secret' ? 'secrets' : 'configs'
    const refs = spec[key]
    if (refs === undefined) continue
    if (refs.length === 0) {
      delete out[key]
      continue
    }
    out[key] = refs.map((r): FileReference => {
      const found = tx.getObject(kind, r.name) ?? (r.id ? tx.getObject(kind, r.id) : undefined)
      if (!found) throw new RequestRefusedError('MESH_ERR_NOT_FOUND', `${kind} "${r.name}" not found`)
      return { ...r, id: found.id, name: found.spec.name }
    })
  }
  return out
}

/** The ids of the secrets and of the configs a spec uses. */
export function fileRefIds(spec: ServiceSpec): { secrets: string[]; configs: string[] } {
  return { secrets: (spec.secrets ?? []).map((r) => r.id), configs: (spec.configs ?? []).map((r) => r.id) }
}
