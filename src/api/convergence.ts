/**
 * Has a service converged, is it getting there, or is it failing? (pure) — what `mesh service create|update|scale|
 * rollback` and `mesh stack deploy` print while they wait, computed from the service record, its tasks and the
 * manager's current time.
 *
 * The clock: times are compared only with the manager's, never with the CLI's (it may run on another host).
 * `GET /v1/services/:id` carries the manager's `now` (milliseconds) next to the record, and the command's start
 * (`since`) is the `updatedAt` of the record its own create/update/scale/rollback wrote (the first view the CLI
 * reads); failures are counted by the tasks' `createdAt`, also the manager's. A task's `startedAt` is the time in
 * its node's report, as the manager's own update monitor uses it: nodes are expected to keep NTP time.
 *
 * Long-running services (replicated: one slot per replica number; global: one slot per node holding a task):
 * - A slot is **stable** when its newest task runs the service's current task spec, is running (healthy, when it
 *   has a healthcheck) and has been running for the monitor period (`updateConfig.monitorMs`, `rollbackConfig`'s
 *   during a rollback; docker's `--update-monitor`, default 5 s). "N out of M" counts stable slots.
 * - **converged**: every slot stable, no other task still desired running (a scale-down or a start-first update in
 *   flight), no rolling update in flight. A global service with no task yet is given `EMPTY_GRACE_MS` to get some
 *   before "nothing to run" counts as converged.
 * - **failing**: some slot is not stable, and every slot that is not stable is failing: its newest task is not
 *   running and, since the command began, tasks of that slot running the current spec ended on their own
 *   (failed, rejected, or — a service task is meant to run on — completed) at least `GIVE_UP_AFTER_FAILURES` times,
 *   or once already when the restart policy will not replace it (condition `none`, `on-failure` after exit 0,
 *   `maxAttempts` spent). A slot that is still pending (no suitable node) never fails: the caller's timeout ends it.
 * - **paused**: the update or rollback is paused (the manager's failure action), as docker reports it.
 * Jobs (replicated-job, global-job): only tasks of the job's current run count (`specVersion` = the service's
 * version: every change starts the job afresh, as the orchestrator runs it); a task counts once it has completed
 * (exit 0); a replicated job converges when `totalCompletions` tasks completed, a global job when every node holding
 * one of its tasks has a completed one. A job slot fails like a service slot, except that completing is success.
 */
import { replicasOf } from './mode.ts'
import { taskSpecDiffers } from './task-spec.ts'
import type { ServiceRecord, TaskRecord, TaskState } from './types.ts'

/** Failed ends of every unstable slot, since the command began, before the command gives up (exit 1). */
export const GIVE_UP_AFTER_FAILURES = 3
/** How long a global service (or job) with no task yet is waited for before "nothing to run" counts as converged. */
export const EMPTY_GRACE_MS = 1500

export type Verdict = 'converged' | 'in progress' | 'failing' | 'paused'

export interface SlotProgress {
  /** The progress line's id, as docker prints it: `1/3` (replicated), the node's name (global). */
  id: string
  /** The task's name as `service ps` shows it: `web.1`, `web.node2`. */
  task: string
  /** What the slot shows now: its newest task's state (`running`, `starting`), or its error. */
  text: string
  /** Service: running the current spec for the monitor period. Job: a task of the slot completed. */
  stable: boolean
  /** Tasks of this slot, of the current spec, that ended on their own (not as success) since the command began. */
  failures: number
  /** The latest of those ends, as `service ps` shows it: `task: non-zero exit (1)`. */
  lastError?: string
  /** Not stable, not running, and failed enough (see the rule above). */
  failing: boolean
}

export interface Convergence {
  verdict: Verdict
  /** Stable slots (services) or completed tasks (jobs): the N of "N out of M". */
  done: number
  total: number
  job: boolean
  slots: SlotProgress[]
  /** Every slot runs the current spec but some have not run for the monitor period yet: ms until the last one has. */
  verifyInMs?: number
  /** paused: the update or rollback status message. failing: the first failing slot's task and error, `web.1: task: non-zero exit (1)`. */
  reason?: string
  /** failing: that slot. */
  culprit?: SlotProgress
}

export interface ConvergenceInput {
  service: ServiceRecord
  /** The service's tasks (any state). */
  tasks: readonly TaskRecord[]
  /** The manager's clock now. */
  now: number
  /** The manager's time when the command began (the record's `updatedAt` the command wrote). */
  since: number
  /** Node id → hostname, for global slots' names (the short node id without it). */
  hostnames?: ReadonlyMap<string, string>
}

const ENDED: ReadonlySet<TaskState> = new Set(['complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned'])
const succeeded = (t: TaskRecord): boolean => t.status.state === 'complete' && (t.status.exitCode ?? 0) === 0

/** A task's state or error, as `service ps` and docker's progress lines show it. */
export function taskText(t: TaskRecord): string {
  const s = t.status
  if (s.err) return s.err
  if (s.state === 'failed' || s.state === 'rejected') return s.message || s.state
  if (s.state === 'complete') return succeeded(t) ? 'complete' : `task: non-zero exit (${s.exitCode})`
  if (s.state === 'pending' && s.message) return s.message
  if (s.state === 'running' && s.health && s.health !== 'healthy') return `running (${s.health})`
  return s.state
}

function isRolling(service: ServiceRecord): boolean {
  const st = service.updateStatus?.state
  return st === 'updating' || st === 'rollback_started'
}

/** Will the restart policy leave this ended task's slot empty? */
function restartWithheld(service: ServiceRecord, newest: TaskRecord, ends: number): boolean {
  const p = service.spec.restartPolicy
  if (p.condition === 'none') return true
  if (p.condition === 'on-failure' && succeeded(newest)) return true
  return p.maxAttempts > 0 && p.windowMs <= 0 && ends > p.maxAttempts
}

/** Runs what the service asks now: a service's task spec; a job's current run. */
function isCurrent(service: ServiceRecord, job: boolean): (t: TaskRecord) => boolean {
  return job ? (t) => t.specVersion === service.version : (t) => !taskSpecDiffers(t.spec, service.spec)
}

interface SlotGroup {
  id: string
  task: string
  tasks: TaskRecord[]
}

function slotGroups(i: ConvergenceInput, job: boolean): Map<string, SlotGroup> {
  const { service, hostnames } = i
  const mode = service.spec.mode
  const name = service.spec.name
  const groups = new Map<string, SlotGroup>()
  const group = (key: string, id: string, task: string): SlotGroup => {
    let g = groups.get(key)
    if (!g) groups.set(key, g = { id, task, tasks: [] })
    return g
  }
  if ('replicated' in mode) {
    const m = mode.replicated.replicas
    for (let slot = 1; slot <= m; slot++) group(String(slot), `${slot}/${m}`, `${name}.${slot}`)
  }
  const byNode = 'global' in mode || 'globalJob' in mode
  const total = 'replicatedJob' in mode ? mode.replicatedJob.totalCompletions : 0
  const current = isCurrent(service, job)
  for (const t of [...i.tasks].sort((a, b) => a.createdAt - b.createdAt)) {
    if (byNode) {
      if (t.nodeId === '') continue
      // A node counts once it holds a task wanted running (service) or a task of the current spec (job).
      if (!groups.has(t.nodeId) && !(job ? current(t) : t.desiredState === 'running')) continue
      const host = hostnames?.get(t.nodeId) ?? t.nodeId.slice(0, 12)
      group(t.nodeId, host, `${name}.${host}`).tasks.push(t)
    } else if (job) {
      if (current(t)) group(String(t.slot), `${t.slot}/${total}`, `${name}.${t.slot}`).tasks.push(t)
    } else {
      groups.get(String(t.slot))?.tasks.push(t)
    }
  }
  return groups
}

/** Where a service stands; see the module comment for the rules. */
export function assessConvergence(i: ConvergenceInput): Convergence {
  const { service, now, since } = i
  const spec = service.spec
  const mode = spec.mode
  const job = 'replicatedJob' in mode || 'globalJob' in mode
  const rolling = isRolling(service)
  const cfg = service.updateStatus?.state.startsWith('rollback') ? spec.rollbackConfig : spec.updateConfig
  const current = isCurrent(service, job)
  const groups = slotGroups(i, job)
  let verifyAt: number | undefined
  let allRunning = true
  const slots: SlotProgress[] = []
  for (const g of groups.values()) {
    const newest = g.tasks.at(-1)
    const ends = g.tasks.filter((t) => current(t) && t.createdAt >= since && ENDED.has(t.status.state) &&
      (t.desiredState === 'running' || ['complete', 'failed', 'rejected'].includes(t.status.state)) && !(job && succeeded(t)))
    const lastEnd = ends.reduce<TaskRecord | undefined>((a, b) => (a && a.status.timestamp > b.status.timestamp ? a : b), undefined)
    const runningNow = newest !== undefined && newest.desiredState === 'running' && newest.status.state === 'running' && current(newest) &&
      newest.status.health !== 'starting' && newest.status.health !== 'unhealthy'
    let stable: boolean
    if (job) {
      stable = g.tasks.some((t) => current(t) && succeeded(t))
    } else {
      const startedAt = newest?.status.startedAt ?? newest?.status.timestamp ?? now
      stable = runningNow && now - startedAt >= cfg.monitorMs
      if (runningNow && !stable) verifyAt = Math.max(verifyAt ?? 0, startedAt + cfg.monitorMs)
      if (!runningNow) allRunning = false
    }
    const endedNow = newest !== undefined && ENDED.has(newest.status.state)
    const failing = !stable && !runningNow && ends.length > 0 &&
      (ends.length >= GIVE_UP_AFTER_FAILURES || (endedNow && newest === lastEnd && restartWithheld(service, newest, ends.length)))
    slots.push({
      id: g.id, task: g.task, text: newest ? taskText(newest) : 'new', stable, failures: ends.length, failing,
      ...(lastEnd ? { lastError: taskText(lastEnd) } : {}),
    })
  }
  const done = job ? i.tasks.filter((t) => current(t) && succeeded(t)).length : slots.filter((s) => s.stable).length
  const total = replicasOf(mode) ?? slots.length
  const base = { done: Math.min(done, total), total, job, slots }
  const st = service.updateStatus
  if (st && (st.state === 'paused' || st.state === 'rollback_paused')) return { ...base, verdict: 'paused', reason: st.message }
  const unstable = slots.filter((s) => !s.stable)
  const failing = unstable.filter((s) => s.failing)
  if (unstable.length > 0 && failing.length === unstable.length && !(job && done >= total && total > 0)) {
    const f = failing[0] as SlotProgress
    return { ...base, verdict: 'failing', reason: `${f.task}: ${f.lastError}`, culprit: f }
  }
  const extra = job
    ? i.tasks.some((t) => t.desiredState === 'running' && !ENDED.has(t.status.state) && !current(t))
    : i.tasks.filter((t) => t.desiredState === 'running' && !ENDED.has(t.status.state)).length > slots.length
  const waitingForTasks = slots.length === 0 && !('replicated' in mode) && now - since < EMPTY_GRACE_MS
  const allDone = job ? done >= total : unstable.length === 0
  if (allDone && !extra && !rolling && !waitingForTasks) return { ...base, verdict: 'converged' }
  const verify = !job && allRunning && slots.length > 0 && verifyAt !== undefined ? { verifyInMs: verifyAt - now } : {}
  return { ...base, verdict: 'in progress', ...verify }
}
