/**
 * Service modes in one place (pure): which modes are jobs, which place one task per node, how docker names them.
 * Every reader of `spec.mode` (orchestrator, catalog, runtime, CLI, dashboard) asks here rather than testing
 * `'replicated' in mode`, so the job modes (Swarm's replicated-job / global-job) are never taken for global ones.
 */
import { ConfigError } from '../base/errors.ts'
import type { ServiceMode } from './types.ts'

/** The `--mode` values, as docker spells them. */
export const MODE_FLAGS = ['replicated', 'global', 'replicated-job', 'global-job'] as const
export type ModeFlag = (typeof MODE_FLAGS)[number]

/** replicated-job or global-job: tasks run to completion and are not restarted once they complete. */
export function isJobMode(mode: ServiceMode): boolean {
  return 'replicatedJob' in mode || 'globalJob' in mode
}

/** One task per eligible node: global or global-job. */
export function isGlobalMode(mode: ServiceMode): boolean {
  return 'global' in mode || 'globalJob' in mode
}

/** The `--mode` word: `replicated-job`. */
export function modeFlag(mode: ServiceMode): ModeFlag {
  if ('replicatedJob' in mode) return 'replicated-job'
  if ('globalJob' in mode) return 'global-job'
  return 'global' in mode ? 'global' : 'replicated'
}

/** The MODE column of `service ls`, as docker prints it: `replicated job`. */
export function modeName(mode: ServiceMode): string {
  return modeFlag(mode).replace('-', ' ')
}

/**
 * The tasks a mode wants by count: replicas, or a replicated job's `totalCompletions`; undefined for the per-node
 * modes (their count depends on the nodes).
 */
export function replicasOf(mode: ServiceMode): number | undefined {
  if ('replicated' in mode) return mode.replicated.replicas
  if ('replicatedJob' in mode) return mode.replicatedJob.totalCompletions
  return undefined
}

/**
 * The mode for `--mode <flag>` with `--replicas` / `--max-concurrent` (strings as typed, or undefined), with docker's
 * rules and words: a replicated job runs `replicas` completions (default 1), `max-concurrent` at once (default: as
 * many as `replicas`); replicas only for replicated modes, max-concurrent only for replicated-job. Throws ConfigError.
 */
export function modeFromFlags(flag: string, replicas: number | undefined, maxConcurrent: number | undefined): ServiceMode {
  if (!(MODE_FLAGS as readonly string[]).includes(flag)) {
    throw new ConfigError(`unknown mode: ${flag}, want ${MODE_FLAGS.join(', ').replace(/, ([\w-]+)$/, ' or $1')}`)
  }
  if (maxConcurrent !== undefined && flag !== 'replicated-job') throw new ConfigError('max-concurrent can only be used with replicated-job mode')
  if (replicas !== undefined && (flag === 'global' || flag === 'global-job')) {
    throw new ConfigError('replicas can only be used with replicated or replicated-job mode')
  }
  if (flag === 'global') return { global: {} }
  if (flag === 'global-job') return { globalJob: {} }
  if (flag === 'replicated-job') {
    const total = replicas ?? 1
    return { replicatedJob: { totalCompletions: total, maxConcurrent: maxConcurrent ?? total } }
  }
  return { replicated: { replicas: replicas ?? 1 } }
}
