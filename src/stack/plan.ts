import type { ServiceRecord, ServiceSpec } from '../api/types.ts'
import { STACK_LABEL } from '../api/types.ts'
import { hasDigest, imageMatches } from '../api/image-ref.ts'
import { StackError } from './errors.ts'

/**
 * What a deploy must do (pure): given the specs from the compose files and the manager's services, which to
 * create, which to update (only when the spec differs) and, with `prune` (docker's `stack deploy --prune`), which of
 * the stack's services to remove because they are no longer in the files; without it they stay untouched, as
 * docker leaves them. Refuses, before anything is done, a name taken by a service outside the stack and an ingress
 * port published by a service the deploy keeps and does not update (outside the stack, or left out of the files
 * and not pruned). Order of execution: remove, update, create (so freed ports are free).
 *
 * Images: the manager stores a tag pinned to its digest (`nginx:latest@sha256:…`), so the files' `nginx` is
 * compared with the stored image digest aside (imageMatches). `--resolve-image` (docker's): `always` (default)
 * sends a service the files leave unchanged to the manager anyway (`refresh`) so it resolves the tag again; the
 * manager changes nothing when the digest is the same, and rolls the tasks out when it moved. `changed` and
 * `never` leave such a service alone, and an update that keeps the tag keeps the stored digest.
 */

export type ResolveImageMode = 'always' | 'changed' | 'never'
export const RESOLVE_IMAGE_MODES: readonly ResolveImageMode[] = ['always', 'changed', 'never']

export interface StackPlan {
  create: ServiceSpec[]
  /** `body` is what to POST to /v1/services/:id/update (see updateBody). */
  update: { id: string; spec: ServiceSpec; body: Record<string, unknown> }[]
  /** Names of services whose spec is already what the files say. */
  unchanged: string[]
  /**
   * Of the unchanged services, those whose tag the manager resolves again (`always`): `body` as for update; they
   * change only if the tag now points at another digest (the answer's `version` is then above `version`).
   */
  refresh: { id: string; name: string; version: number; body: Record<string, unknown> }[]
  remove: { id: string; name: string }[]
  /** Names of the stack's services no longer in the files that stay because the deploy does not prune. */
  kept: string[]
}

export interface PlanOptions {
  /** Remove the stack's services that are no longer in the files (`--prune`). Default false, as docker. */
  prune?: boolean
  /** docker's `--resolve-image`: `always` (default) asks the manager to resolve unchanged services' tags again. */
  resolveImage?: ResolveImageMode
}

/** The services of a stack (by the namespace label), sorted by name. */
export function stackServices<T extends ServiceRecord>(stack: string, all: readonly T[]): T[] {
  return all.filter((s) => s.spec.labels[STACK_LABEL] === stack).sort((a, b) => (a.spec.name < b.spec.name ? -1 : a.spec.name > b.spec.name ? 1 : 0))
}

/** JSON with sorted keys, null/undefined fields dropped: equal specs give equal text whatever their key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined && (v as Record<string, unknown>)[k] !== null).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`
  }
  return JSON.stringify(v) ?? 'null'
}

/** Optional fields a compose file may drop; an update must clear them (the update API merges onto the old spec). */
export const CLEARABLE = ['command', 'entrypoint', 'healthcheck', 'hostname', 'user', 'workdir', 'placementPreferences', 'maxReplicasPerNode'] as const

/**
 * Does the running service already have the spec the files ask for? Only the fields a compose file controls are
 * compared, so fields the manager adds or redacts (a registry credential, a field of a newer manager) do not make
 * every deploy an update.
 */
export function sameSpec(current: ServiceSpec, desired: ServiceSpec): boolean {
  const keys = new Set<string>([...Object.keys(desired), ...CLEARABLE])
  keys.delete('image')
  if (!imageMatches(current.image, desired.image)) return false
  for (const k of FILE_REFS) {
    keys.delete(k)
    if (canonical(fileRefs(current[k])) !== canonical(fileRefs(desired[k]))) return false
  }
  for (const k of keys) {
    if (canonical((current as unknown as Record<string, unknown>)[k]) !== canonical((desired as unknown as Record<string, unknown>)[k])) return false
  }
  return true
}

/** A service's secrets and configs: compared by what the files say (the manager fills `id`), none = []. */
const FILE_REFS = ['secrets', 'configs'] as const
const fileRefs = (refs: ServiceSpec['secrets']) => (refs ?? []).map(({ id: _, ...r }) => r)

/**
 * The body of an update: the new spec, plus `null` for each optional field the service has and the files no
 * longer set, so that the manager's merge drops it, and `[]` for secrets and configs the files no longer use.
 */
export function updateBody(current: ServiceSpec, desired: ServiceSpec): Record<string, unknown> {
  const body: Record<string, unknown> = { ...desired }
  for (const k of CLEARABLE) if (desired[k] === undefined && current[k] !== undefined && current[k] !== null) body[k] = null
  for (const k of FILE_REFS) if (desired[k] === undefined && (current[k]?.length ?? 0) > 0) body[k] = []
  return body
}

export function planStack(stack: string, desired: readonly ServiceSpec[], current: readonly ServiceRecord[], o: PlanOptions = {}): StackPlan {
  const byName = new Map(current.map((s) => [s.spec.name, s]))
  const plan: StackPlan = { create: [], update: [], unchanged: [], remove: [], kept: [], refresh: [] }
  const resolveImage: ResolveImageMode = o.resolveImage ?? 'always'
  const wanted = new Set(desired.map((s) => s.name))
  for (const spec of desired) {
    const cur = byName.get(spec.name)
    if (!cur) plan.create.push(spec)
    else if (cur.spec.labels[STACK_LABEL] !== stack) {
      const owner = cur.spec.labels[STACK_LABEL]
      throw new StackError(`service "${spec.name}" already exists and is not part of stack "${stack}"${owner ? ` (it belongs to stack "${owner}")` : ''}; remove it or choose another stack name`)
    } else if (sameSpec(cur.spec, spec)) {
      plan.unchanged.push(spec.name)
      if (resolveImage === 'always' && !hasDigest(spec.image)) {
        plan.refresh.push({ id: cur.id, name: spec.name, version: cur.version, body: updateBody(cur.spec, spec) })
      }
    } else {
      const body = updateBody(cur.spec, spec)
      // Same tag, not resolved again: the stored digest stays (docker's `changed` and `never`).
      if (resolveImage !== 'always' && imageMatches(cur.spec.image, spec.image)) body.image = cur.spec.image
      plan.update.push({ id: cur.id, spec, body })
    }
  }
  for (const s of stackServices(stack, current)) {
    if (wanted.has(s.spec.name)) continue
    if (o.prune) plan.remove.push({ id: s.id, name: s.spec.name })
    else plan.kept.push(s.spec.name)
  }
  const kept = new Set(plan.kept)
  const others = current.filter((s) => s.spec.labels[STACK_LABEL] !== stack || kept.has(s.spec.name))
  for (const spec of desired) {
    for (const p of spec.ports) {
      if (p.mode !== 'ingress') continue
      const taken = others.find((o) => o.spec.ports.some((q) => q.mode === 'ingress' && q.published === p.published && q.protocol === p.protocol))
      if (!taken) continue
      const why = kept.has(taken.spec.name) ? ', which is no longer in the files (deploy with --prune to remove it)' : ''
      throw new StackError(`service "${spec.name}": port ${p.published}/${p.protocol} is already published by service "${taken.spec.name}"${why}`)
    }
  }
  return plan
}
