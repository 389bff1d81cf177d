import { TERMINAL_STATES, type TaskRecord } from '../api/types.ts'
import type { DeliveredValue } from '../api/secrets.ts'
import type { StoreReader } from './store.ts'
import type { SecretVault } from './vault/vault.ts'

/**
 * Which secret and config values a node gets on its watch stream (pure): only those its live tasks use — tasks
 * assigned to it that have not ended — so a node that runs no task using a secret never receives it, and one whose
 * last such task ended gets a list without it (and drops it). The watch route (http/api.ts) sends a list again only
 * when the set changes; the values themselves are immutable (docker's), so the ids say everything.
 */

/** Reads one secret's plain value by id (the vault unseals it); undefined when it is gone or cannot be read now. */
export type SecretValueReader = (secretId: string) => Buffer | undefined

export interface NeededValues {
  /** Secret ids, sorted, unique. */
  secrets: string[]
  /** Config ids, sorted, unique. */
  configs: string[]
}

/** The secret and config ids a node's assigned tasks use, counting only tasks that have not ended. */
export function neededValues(tasks: readonly TaskRecord[]): NeededValues {
  const secrets = new Set<string>()
  const configs = new Set<string>()
  for (const t of tasks) {
    if (TERMINAL_STATES.includes(t.status.state)) continue
    for (const r of t.spec.secrets ?? []) secrets.add(r.id)
    for (const r of t.spec.configs ?? []) configs.add(r.id)
  }
  return { secrets: [...secrets].sort(), configs: [...configs].sort() }
}

/** The values of `ids` as the stream carries them (base64); one `read` cannot give now is left out (tried again later). */
export function readValues(ids: readonly string[], read: (id: string) => Buffer | string | undefined): DeliveredValue[] {
  const out: DeliveredValue[] = []
  for (const id of ids) {
    const v = read(id)
    if (v === undefined) continue
    out.push({ id, data: typeof v === 'string' ? v : v.toString('base64') })
  }
  return out
}

/** A secret's plain value through the vault: undefined when the record is gone or the vault cannot open it now (locked). */
export function openSecret(store: Pick<StoreReader, 'getObject'>, vault: Pick<SecretVault, 'open'>, id: string): Buffer | undefined {
  const record = store.getObject('secret', id)
  if (!record) return undefined
  try {
    return vault.open(record)
  } catch {
    return undefined
  }
}
