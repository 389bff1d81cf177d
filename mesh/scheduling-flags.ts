import { ConfigError } from '../src/base/errors.ts'
import { modeFromFlags, type PlacementPreference, type ServiceSpecRequest } from '../src/api/index.ts'

/**
 * The scheduling flags of `mesh service create|update` (pure), docker's: `--mode replicated|global|replicated-job|
 * global-job` (create only), `--replicas` (a replicated job's total completions), `--max-concurrent`,
 * `--placement-pref spread=node.labels.K` (update: `--placement-pref-add/-rm`) and `--replicas-max-per-node`. They
 * only translate; the manager's validateServiceSpec judges the result (jobs with update settings, bad labels, …).
 */
export interface SchedulingFlags {
  mode?: string
  replicas?: string
  maxConcurrent?: string
  placementPref?: string[]
  placementPrefAdd?: string[]
  placementPrefRm?: string[]
  replicasMaxPerNode?: string
}

function count(text: string, what: string): number {
  if (!/^\d+$/.test(text.trim())) throw new ConfigError(`${what} "${text}": want a whole number ≥ 0`)
  return Number(text)
}

/** `spread=node.labels.zone` → `{spread: 'node.labels.zone'}`, with docker's words for what is not that shape. */
export function parsePlacementPref(text: string): PlacementPreference {
  const at = text.indexOf('=')
  if (at <= 0) throw new ConfigError(`placement preference "${text}" must be of the format "<strategy>=<arg>", e.g. spread=node.labels.zone`)
  const strategy = text.slice(0, at)
  if (strategy !== 'spread') throw new ConfigError(`unsupported placement preference ${strategy} (only spread is supported)`)
  return { spread: text.slice(at + 1) }
}

/** Applies the scheduling flags to a spec request in place (`s` is the caller's private copy). */
export function applySchedulingFlags(s: ServiceSpecRequest, f: SchedulingFlags, forUpdate: boolean): void {
  const replicas = f.replicas === undefined ? undefined : count(f.replicas, `service "${s.name}": replicas`)
  const maxConcurrent = f.maxConcurrent === undefined ? undefined : count(f.maxConcurrent, '--max-concurrent')
  if (!forUpdate && f.mode !== undefined && f.mode !== 'replicated') {
    s.mode = modeFromFlags(f.mode, replicas, maxConcurrent)
  } else {
    // No mode chosen (create: replicated; update: the service's own): the counts apply to the mode there is.
    if (replicas !== undefined) {
      if (s.mode && 'replicatedJob' in s.mode) s.mode = { replicatedJob: { ...s.mode.replicatedJob, totalCompletions: replicas } }
      else if (s.mode && !('replicated' in s.mode)) throw new ConfigError('--replicas only applies to replicated services')
      else s.mode = { replicated: { replicas } }
    }
    if (maxConcurrent !== undefined) {
      if (!s.mode || !('replicatedJob' in s.mode)) throw new ConfigError('max-concurrent can only be used with replicated-job mode')
      s.mode = { replicatedJob: { ...s.mode.replicatedJob, maxConcurrent } }
    }
  }
  if (!forUpdate && f.placementPref && f.placementPref.length > 0) s.placementPreferences = f.placementPref.map(parsePlacementPref)
  if (forUpdate && (f.placementPrefRm?.length || f.placementPrefAdd?.length)) {
    const rm = new Set((f.placementPrefRm ?? []).map((p) => parsePlacementPref(p).spread))
    const kept = (s.placementPreferences ?? []).filter((p) => !rm.has(p.spread))
    s.placementPreferences = [...kept, ...(f.placementPrefAdd ?? []).map(parsePlacementPref)]
  }
  if (f.replicasMaxPerNode !== undefined) s.maxReplicasPerNode = count(f.replicasMaxPerNode, '--replicas-max-per-node')
}
