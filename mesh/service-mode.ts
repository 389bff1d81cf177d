import type { ServiceRecord } from '../src/api/index.ts'

/**
 * How the CLI shows a service's replicas, as docker does: the REPLICAS column (`3/3`, `2/3 (max 1 per node)`, jobs
 * `0/2 (5/5 completed)`). A job's progress while a command waits is src/api/convergence.ts's (mesh/converge.ts).
 */

/**
 * A service as GET /v1/services returns it: counts of its tasks, for jobs the completions of the current run, and
 * (GET /v1/services/:id) the manager's clock the convergence wait reads.
 */
export type ServiceView = ServiceRecord & { running: number; desired: number; completed?: number; now?: number }

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

