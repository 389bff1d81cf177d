/**
 * What a task runs with (pure): a spec's fingerprint without the fields that do not change a running task (mode,
 * update/rollback config, service labels), so `service scale` does not roll tasks. Everything else counts,
 * `forceUpdate` included: `service update --force` bumps it so every task is replaced with nothing else changed.
 * The manager's updater decides with it which tasks are outdated; src/api/convergence.ts which tasks run the
 * current spec (and so count towards convergence).
 */
import type { ServiceSpec } from './types.ts'

/** Spec fields that do not change what a task runs. */
const NOT_TASK_FIELDS = new Set(['mode', 'updateConfig', 'rollbackConfig', 'labels'])

function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${stable(o[k])}`).join(',')}}`
  }
  return JSON.stringify(v) ?? 'null'
}

const fingerprints = new WeakMap<ServiceSpec, string>()
/** What a task runs with, as a canonical string. */
export function taskFingerprint(spec: ServiceSpec): string {
  let f = fingerprints.get(spec)
  if (f === undefined) {
    const o = Object.fromEntries(Object.entries(spec).filter(([k]) => !NOT_TASK_FIELDS.has(k)))
    f = stable(o)
    fingerprints.set(spec, f)
  }
  return f
}

/** Would a task made from `a` have to be replaced to run `b`? */
export function taskSpecDiffers(a: ServiceSpec, b: ServiceSpec): boolean {
  return a !== b && taskFingerprint(a) !== taskFingerprint(b)
}
