import { timingSafeEqual } from 'node:crypto'
import { labelsProblem, type ConfigRecord, type SecretView, type ValueKind } from '../api/index.ts'
import { RequestRefusedError } from './request-refused.ts'
import type { Store } from './store.ts'
import type { SecretVault } from './vault/vault.ts'

/**
 * `POST /v1/{secrets,configs}/:id/update` — docker's SecretUpdate / ConfigUpdate: values are immutable, only the
 * labels change. A body may carry `data` (base64), which must then be the stored value: a different one is refused
 * with swarmkit's words (`only updates to Labels are allowed`). This is how `mesh stack deploy` learns, without the
 * value ever leaving the manager, that a stack's secret file changed. The comparison is constant-time; the answer
 * says nothing of the value but same or not, which an admin (the only caller) could learn anyway by mounting it.
 */

export interface ObjectUpdateDeps {
  store: Store
  vault: SecretVault
  now: () => number
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/
const refused = (code: 'MESH_ERR_INVALID' | 'MESH_ERR_NOT_FOUND', msg: string) => new RequestRefusedError(code, msg)

export async function updateObject(d: ObjectUpdateDeps, kind: ValueKind, idOrName: string, body: unknown): Promise<SecretView | ConfigRecord> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw refused('MESH_ERR_INVALID', 'request body must be a JSON object')
  const b = body as Record<string, unknown>
  for (const k of Object.keys(b)) if (!['name', 'labels', 'data'].includes(k)) throw refused('MESH_ERR_INVALID', `${kind}: unknown field "${k}"`)
  const current = d.store.getObject(kind, idOrName)
  if (!current) throw refused('MESH_ERR_NOT_FOUND', `${kind} "${idOrName}": not found`)
  const name = current.spec.name
  const only = `${kind} "${name}": only updates to Labels are allowed`
  if (b.name !== undefined && b.name !== name) throw refused('MESH_ERR_INVALID', `${only} (not the name)`)
  const problem = b.labels === undefined ? null : labelsProblem(`${kind} "${name}"`, b.labels)
  if (problem) throw refused('MESH_ERR_INVALID', problem)
  if (b.data !== undefined) {
    if (typeof b.data !== 'string' || !BASE64.test(b.data)) throw refused('MESH_ERR_INVALID', `${kind} "${name}": data must be the value in base64`)
    if (kind === 'secret') await d.vault.load()
    const given = Buffer.from(b.data, 'base64')
    const stored = kind === 'secret' ? d.vault.open(current as Parameters<SecretVault['open']>[0]) : Buffer.from((current as ConfigRecord).spec.data, 'base64')
    const same = given.length === stored.length && timingSafeEqual(given, stored)
    given.fill(0)
    if (kind === 'secret') stored.fill(0)
    if (!same) throw refused('MESH_ERR_INVALID', `${only}: its value cannot change (create a new ${kind} under another name)`)
  }
  const labels = b.labels === undefined ? current.spec.labels : { ...(b.labels as Record<string, string>) }
  const now = d.now()
  const changed = JSON.stringify(labels) !== JSON.stringify(current.spec.labels)
  const next = await d.store.transact((tx) => {
    const r = tx.getObject(kind, current.id)
    if (!r) throw refused('MESH_ERR_NOT_FOUND', `${kind} "${name}": not found`)
    if (!changed) return r
    const updated = { ...r, spec: { ...r.spec, labels }, version: r.version + 1, updatedAt: now }
    if (kind === 'secret') tx.putObject('secret', updated as typeof r & { sealed: string })
    else tx.putObject('config', updated as ConfigRecord)
    return updated
  })
  if (kind === 'config') return next as ConfigRecord
  const s = next as SecretView & { sealed?: string }
  return { id: s.id, spec: { name: s.spec.name, labels: { ...s.spec.labels } }, version: s.version, createdAt: s.createdAt, updatedAt: s.updatedAt }
}
