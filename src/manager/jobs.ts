/**
 * Jobs (pure): Swarm's replicated-job and global-job modes, the orchestrator's step 2 for services whose tasks run
 * to completion instead of running on.
 *
 * - **Iteration.** Each spec version of a job service is one run of the job (swarmkit's JobIteration): creating
 *   the service starts the first, and every change (`service update`, `--force`, `scale`, a rollback) bumps the
 *   version and so starts the job afresh. Only tasks of the current version (`specVersion`) count; live tasks of an
 *   earlier one are shut down.
 * - **Replicated job** `{totalCompletions, maxConcurrent}`: slots 1..totalCompletions, each done once a task in it
 *   completed (exit 0). At most `maxConcurrent` slots are active at once — a live task, or a failed one waiting for
 *   its restart delay — and free places go to the lowest untouched slots.
 * - **Global job**: one slot per node that is ready, active and meets the constraints, done once its task completed.
 *   A node that becomes eligible later (joins, is activated) gets its task too.
 * - **Restarts.** A completed task is never restarted, whatever the restart condition; a failed one is replaced under
 *   the restart policy (restart.ts: condition, delay, max attempts, window); a task stopped by mesh (node lost,
 *   drained) is replaced at once. A completed task gets desired `shutdown`: it wants nothing more and counts nowhere.
 * - No rolling update: a job has no update or rollback config (validate.ts refuses one); `service rollback` is a
 *   new run of the previous spec, its status `rollback_completed` at once.
 */
import { endedOnItsOwn, isLive, isTerminal } from './placement.ts'
import type { DesiredSlot, Work } from './plan.ts'
import { restartDecision, succeeded } from './restart.ts'
import type { NodeRecord, ServiceRecord, TaskRecord } from '../api/types.ts'

/** What one slot of the current iteration needs. */
type SlotState = 'done' | 'active' | 'fresh' | 'withheld'

/** The slot's tasks of the current iteration, oldest first, and a decision: restart, replace, wait or leave. */
function driveSlot(w: Work, service: ServiceRecord, d: DesiredSlot, tasks: TaskRecord[], evicted: boolean): SlotState {
  const done = tasks.find(succeeded)
  if (done) {
    for (const t of tasks) if (t.desiredState === 'running' && isTerminal(t)) w.patch(t, { desiredState: 'shutdown' })
    return 'done'
  }
  const newest = tasks.at(-1)
  if (!newest) return 'fresh'
  if (tasks.some(isLive)) return 'active'
  if (!isTerminal(newest)) {
    // Stopping: evicted from its node → replace now; otherwise wait for it to end.
    if (evicted) w.create(service, d, `replacing job task ${newest.id} evicted from its node`)
    return 'active'
  }
  if (!endedOnItsOwn(newest)) {
    w.create(service, d, `replacing job task ${newest.id} (${newest.status.state}: ${newest.status.message})`)
    return 'active'
  }
  const r = restartDecision(newest, tasks, service.spec.restartPolicy, w.now)
  if (r.kind === 'wait') {
    w.wake(r.until)
    return 'active'
  }
  if (r.kind === 'replace') {
    if (newest.desiredState === 'running') w.patch(newest, { desiredState: 'shutdown' })
    w.create(service, d, r.reason)
    return 'active'
  }
  if (r.retryAt !== undefined) w.wake(r.retryAt)
  if (newest.desiredState === 'running') {
    w.patch(newest, { desiredState: 'shutdown' })
    w.event({ type: 'restartWithheld', serviceId: service.id, taskId: newest.id, slot: d.slot, message: `job slot left failed: ${r.reason}` })
  }
  return 'withheld'
}

/**
 * Step 2 for a job service. `eligible`: the nodes a global job runs on (ready, active, meeting the constraints);
 * `evicted`: slot keys whose live task was just stopped on a drained or no longer matching node.
 */
export function orchestrateJob(w: Work, job: ServiceRecord, eligible: readonly NodeRecord[], evicted: ReadonlySet<string>): void {
  let service = job
  if (service.updateStatus?.state === 'rollback_started') {
    // A job does not roll: going back to the previous spec is just a new run of it, started below.
    const message = 'rollback completed: the job runs the previous spec again'
    service = w.setService({ ...service, updateStatus: { state: 'rollback_completed', startedAt: service.updateStatus.startedAt, completedAt: w.now, message } })
    w.event({ type: 'rollbackCompleted', serviceId: service.id, message })
  }
  const mode = service.spec.mode
  const current: TaskRecord[] = []
  for (const t of w.tasksOf(service.id)) {
    if (t.specVersion === service.version) current.push(t)
    else if (isLive(t)) w.shutdown(t, `job run ${t.specVersion} replaced by run ${service.version} (service updated)`)
  }
  if ('globalJob' in mode) {
    for (const n of eligible) {
      const d: DesiredSlot = { key: `node:${n.id}`, slot: 0, nodeId: n.id }
      const state = driveSlot(w, service, d, current.filter((t) => t.nodeId === n.id), evicted.has(d.key))
      if (state === 'fresh') w.create(service, d, `job runs once on node ${n.hostname}`)
    }
    return
  }
  if (!('replicatedJob' in mode)) return
  const { totalCompletions: total, maxConcurrent } = mode.replicatedJob
  const fresh: DesiredSlot[] = []
  let active = 0
  for (let slot = 1; slot <= total; slot++) {
    const d: DesiredSlot = { key: String(slot), slot, nodeId: '' }
    const state = driveSlot(w, service, d, current.filter((t) => t.slot === slot), evicted.has(d.key))
    if (state === 'active') active++
    else if (state === 'fresh') fresh.push(d)
  }
  for (const t of current) if (t.slot > total && isLive(t)) w.shutdown(t, `slot ${t.slot} is beyond the job's ${total} completions`)
  for (const d of fresh.slice(0, Math.max(0, maxConcurrent - active))) {
    w.create(service, d, `job slot ${d.slot} of ${total} (at most ${maxConcurrent} at once)`)
  }
}

/** Completed tasks of the job's current run (for `service ls`: `0/2 (5/5 completed)`). */
export function completedTasks(service: ServiceRecord, tasks: readonly TaskRecord[]): number {
  return tasks.filter((t) => t.serviceId === service.id && t.specVersion === service.version && succeeded(t)).length
}
