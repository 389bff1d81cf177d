import { isJobMode, replicasOf, type ServiceRecord } from '../src/api/index.ts'

/**
 * How the CLI shows a service's mode and progress, as docker does: the REPLICAS column (`3/3`, `2/3 (max 1 per
 * node)`, jobs `0/2 (5/5 completed)`) and a job's progress while `service create` waits for it.
 */

/** A service as GET /v1/services returns it: counts of its tasks, and for jobs the completions of the current run. */
export type ServiceView = ServiceRecord & { running: number; desired: number; completed?: number }

/**
 * The REPLICAS column. `desired` is what the caller counts as wanted for the long-running modes (the service's live
 * tasks for `service ls`, its target for `stack services`). A replicated job shows running / max-concurrent and its
 * completions of the total; a global job running / unfinished tasks and completions of all its nodes' tasks.
 */
export function replicasColumn(s: ServiceView, desired = s.desired): string {
  const mode = s.spec.mode
  const completed = s.completed ?? 0
  if ('replicatedJob' in mode) return `${s.running}/${mode.replicatedJob.maxConcurrent} (${completed}/${mode.replicatedJob.totalCompletions} completed)`
  if ('globalJob' in mode) return `${s.running}/${s.desired} (${completed}/${s.desired + completed} completed)`
  const max = 'replicated' in mode ? s.spec.maxReplicasPerNode ?? 0 : 0
  return `${s.running}/${desired}${max > 0 ? ` (max ${max} per node)` : ''}`
}

/** A job's progress line (`job progress: 3 out of 5 complete`) and whether it has finished; null for other modes. */
export function jobProgress(s: ServiceView): { line: string; done: boolean } | null {
  if (!isJobMode(s.spec.mode)) return null
  const completed = s.completed ?? 0
  const total = replicasOf(s.spec.mode) ?? s.desired + completed
  const done = 'replicatedJob' in s.spec.mode ? completed >= total : s.desired === 0 && completed > 0
  return { line: `job progress: ${completed} out of ${total} complete`, done }
}
