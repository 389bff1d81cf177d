import { STACK_LABEL } from '../api/types.ts'
import { StackError } from './errors.ts'
import type { FileKind, StackObject } from './secrets.ts'

/**
 * What a deploy must do with the stack's secrets and configs (pure), decided before anything is sent: every external
 * one a service uses must exist (all missing ones are named in one refusal); the stack's own ones that do not exist
 * are created from their files; one that exists is kept when it belongs to the stack, and a config whose file
 * changed is refused as swarmkit refuses it (`only updates to Labels are allowed`): values are immutable, a new
 * value takes a new name (docs/secrets.md, Rotation). A secret's value never leaves the manager, so an existing
 * secret is compared there: `update` sends the file's value with the labels (docker's SecretUpdate), and the
 * manager refuses a different value with the same words, before anything is created.
 */

/** A secret or config as the manager lists it (a secret's view has no value; a config's has `spec.data`). */
export interface ExistingObject {
  id: string
  spec: { name: string; labels: Record<string, string>; data?: string }
}

export interface ObjectsPlan {
  /** To POST to /v1/secrets or /v1/configs, in this order (secrets first, by name). */
  create: { kind: FileKind; name: string; labels: Record<string, string>; data: string }[]
  /** Already on the cluster: external ones, and the stack's own (configs: with the same value). */
  keep: { kind: FileKind; name: string; id: string }[]
  /**
   * The stack's own that exist: POST /v1/{secrets,configs}/:id/update with the files' labels and value, before any
   * create (the manager refuses a secret whose value differs).
   */
  update: { kind: FileKind; name: string; id: string; labels: Record<string, string>; data: string }[]
}

export function planStackObjects(
  stack: string,
  objects: readonly StackObject[],
  values: ReadonlyMap<string, string>,
  current: { secrets: readonly ExistingObject[]; configs: readonly ExistingObject[] },
): ObjectsPlan {
  const plan: ObjectsPlan = { create: [], keep: [], update: [] }
  const missing: string[] = []
  const byName = { secret: new Map(current.secrets.map((o) => [o.spec.name, o])), config: new Map(current.configs.map((o) => [o.spec.name, o])) }
  const sorted = [...objects].sort((a, b) => (a.kind === b.kind ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a.kind === 'secret' ? -1 : 1))
  for (const o of sorted) {
    const have = byName[o.kind].get(o.name)
    const where = `${o.at.file}: ${o.at.path}`
    if (o.external) {
      if (have) plan.keep.push({ kind: o.kind, name: o.name, id: have.id })
      else missing.push(`external ${o.kind} "${o.name}" not found (${where}); create it with mesh ${o.kind} create ${o.name} FILE`)
      continue
    }
    const data = values.get(o.name)
    if (data === undefined) throw new StackError(`${o.kind} "${o.name}" (${where}): its value was not read`)
    if (!have) {
      plan.create.push({ kind: o.kind, name: o.name, labels: { ...o.labels }, data })
      continue
    }
    const owner = have.spec.labels[STACK_LABEL]
    if (owner !== stack) {
      throw new StackError(`${o.kind} "${o.name}" (${where}) already exists and is not part of stack "${stack}"${owner ? ` (it belongs to stack "${owner}")` : ''}; use it with external: true, or remove it`)
    }
    if (o.kind === 'config' && have.spec.data !== undefined && have.spec.data !== data) {
      throw new StackError(`config "${o.name}" (${where}): only updates to Labels are allowed: a config's value cannot change; give the new value another name and update the service (docs/secrets.md, Rotation)`)
    }
    plan.keep.push({ kind: o.kind, name: o.name, id: have.id })
    plan.update.push({ kind: o.kind, name: o.name, id: have.id, labels: { ...o.labels }, data })
  }
  if (missing.length > 0) throw new StackError(`${missing.join('; ')}; nothing was deployed`)
  return plan
}

/** The stack's own secrets or configs on the cluster (by the namespace label), sorted by name. */
export function stackOwned<T extends ExistingObject>(stack: string, all: readonly T[]): T[] {
  return all.filter((o) => o.spec.labels[STACK_LABEL] === stack).sort((a, b) => (a.spec.name < b.spec.name ? -1 : a.spec.name > b.spec.name ? 1 : 0))
}
