/**
 * Rolling updates and rollbacks (pure), swarmkit's updater without its goroutines: everything is derived from the
 * tasks and `service.updateStatus` on every pass.
 *
 * A task is outdated when its spec differs from the service's in anything a task runs with (image, command, env,
 * ports, mounts, resources, constraints, restart policy, networks, …) — not replicas, update/rollback config or
 * service labels, so `service scale` does not roll tasks. Outdated live tasks in wanted slots start an update
 * (`updating`, or `rollback_started` when set by a rollback); the active config is `updateConfig`, or
 * `rollbackConfig` during a rollback.
 *
 * Pipeline: at most `parallelism` slots (0 = all) are in flight at once. A slot is in flight while its old task is
 * stopping (stop-first), while its new task is not yet running, and for `delayMs` after the new task started. A free
 * place takes the next outdated slot (by slot number / node id): stop-first shuts the old task down and the slot is
 * refilled once it has ended; start-first creates the new task in the same slot and shuts the old one down when the
 * new one runs. The update is `completed` (`rollback_completed`) when no wanted slot has an outdated task and every
 * task it started has run for `monitorMs`.
 *
 * Failures: tasks it started that end on their own before running `monitorMs` (or without ever running). When
 * failures / wanted slots > `maxFailureRatio`: `pause` (nothing more until the spec changes), `continue`, or
 * `rollback` (spec ← previousSpec, version + 1, `rollback_started`; a failing rollback pauses).
 */
import { RollbackError } from './errors.ts'
import type { DesiredSlot, Slot, Work } from './plan.ts'
import { endedOnItsOwn, isLive, isTerminal, runningSince } from './placement.ts'
import { taskFingerprint, taskSpecDiffers, type ServiceRecord, type ServiceSpec, type TaskRecord, type UpdateConfig } from '../api/index.ts'

export { taskFingerprint, taskSpecDiffers }

/** `mesh service update`: the new spec, the old one kept for rollback, version + 1, update status cleared. */
export function updateService(service: ServiceRecord, spec: ServiceSpec, now: number): ServiceRecord {
  const { updateStatus: _, ...rest } = service
  return { ...rest, previousSpec: service.spec, spec, version: service.version + 1, updatedAt: now }
}

/** `mesh service rollback`: spec ↔ previousSpec, version + 1, `rollback_started`. Throws RollbackError without one. */
export function rollbackService(service: ServiceRecord, now: number, message = 'manually requested rollback'): ServiceRecord {
  if (!service.previousSpec) {
    throw new RollbackError(`service "${service.spec.name}": no previous spec to roll back to`)
  }
  return {
    ...service, spec: service.previousSpec, previousSpec: service.spec, version: service.version + 1, updatedAt: now,
    updateStatus: { state: 'rollback_started', startedAt: now, message },
  }
}

export function isRollingBack(service: ServiceRecord): boolean {
  const s = service.updateStatus?.state
  return s === 'rollback_started' || s === 'rollback_paused'
}

/** updateConfig, or rollbackConfig while rolling back. */
export function activeUpdateConfig(service: ServiceRecord): UpdateConfig {
  return isRollingBack(service) ? service.spec.rollbackConfig : service.spec.updateConfig
}

/** An update stopped by its failure action: re-sending the same spec resumes it. */
export function isPaused(service: ServiceRecord): boolean {
  const s = service.updateStatus?.state
  return s === 'paused' || s === 'rollback_paused'
}

function isActive(service: ServiceRecord): boolean {
  const s = service.updateStatus?.state
  return s === 'updating' || s === 'rollback_started'
}

/** Ended on its own before running `monitorMs` (or without ever running). */
export function failedEarly(t: TaskRecord, monitorMs: number): boolean {
  if (!endedOnItsOwn(t)) return false
  const started = t.status.startedAt
  return started === undefined || t.status.timestamp - started < monitorMs
}

/** Before anything else in a pass: too many failures → pause, or roll back (the rest of the pass uses the old spec). */
export function checkUpdateFailures(w: Work, serviceId: string, wantedSlots: number): void {
  const service = w.services.get(serviceId) as ServiceRecord
  const st = service.updateStatus
  if (!st || !isActive(service)) return
  const cfg = activeUpdateConfig(service)
  const failed = w.tasksOf(serviceId).filter((t) =>
    t.createdAt >= st.startedAt && !taskSpecDiffers(t.spec, service.spec) && failedEarly(t, cfg.monitorMs))
  if (failed.length === 0 || failed.length / Math.max(1, wantedSlots) <= cfg.maxFailureRatio) return
  if (cfg.failureAction === 'continue') return
  const culprit = failed.reduce((a, b) => (b.status.timestamp > a.status.timestamp ? b : a))
  const rolling = isRollingBack(service)
  if (cfg.failureAction === 'rollback' && !rolling && service.previousSpec) {
    const message = `update rolled back due to failure or early termination of task ${culprit.id}`
    w.setService(rollbackService(service, w.now, message))
    w.event({ type: 'rollbackStarted', serviceId, taskId: culprit.id, message })
    return
  }
  const what = rolling ? 'rollback' : 'update'
  const message = `${what} paused due to failure or early termination of task ${culprit.id}` +
    (cfg.failureAction === 'rollback' && !rolling ? ' (no previous spec to roll back to)' : '')
  w.setService({ ...service, updateStatus: { state: rolling ? 'rollback_paused' : 'paused', startedAt: st.startedAt, message } })
  w.event({ type: rolling ? 'rollbackPaused' : 'updatePaused', serviceId, taskId: culprit.id, message })
}

/** Step 3 of a pass: start, advance and finish the rolling update of one service. */
export function rollTasks(w: Work, serviceId: string, desired: readonly DesiredSlot[]): void {
  let service = w.services.get(serviceId) as ServiceRecord
  const differs = (t: TaskRecord): boolean => taskSpecDiffers(t.spec, service.spec)
  const slots = w.slots(service)
  const slotOf = (d: DesiredSlot): Slot => slots.get(d.key) ?? { key: d.key, tasks: [] }
  const outdated = (s: Slot): boolean => {
    const newest = s.tasks.at(-1)
    return s.tasks.some((t) => isLive(t) && differs(t)) || (newest !== undefined && !isTerminal(newest) && differs(newest))
  }
  const anyOutdated = desired.some((d) => outdated(slotOf(d)))
  const rolling = isRollingBack(service)
  if (anyOutdated && !isActive(service) && service.updateStatus?.state !== 'paused' && service.updateStatus?.state !== 'rollback_paused') {
    const message = 'update in progress'
    service = w.setService({ ...service, updateStatus: { state: 'updating', startedAt: w.now, message } })
    w.event({ type: 'updateStarted', serviceId, message })
  }
  const st = service.updateStatus
  if (!st) return
  const cfg = activeUpdateConfig(service)
  const active = isActive(service)
  let inFlight = 0 // slots counting against parallelism
  let busy = 0 // of which stopping or not yet running (the delay after a batch does not hold up completion)
  let monitoring = 0
  let coolUntil: number | undefined
  const candidates: Array<{ d: DesiredSlot; old: TaskRecord[] }> = []
  for (const d of desired) {
    const s = slotOf(d)
    const newest = s.tasks.at(-1)
    if (!newest) continue
    const oldLive = s.tasks.filter((t) => isLive(t) && differs(t))
    if (differs(newest) && !isTerminal(newest) && newest.desiredState !== 'running') {
      inFlight++ // stop-first: the old task is stopping
      busy++
      continue
    }
    if (isLive(newest) && !differs(newest)) {
      const since = newest.status.state === 'running' ? runningSince(newest) : undefined
      if (since !== undefined) {
        for (const t of oldLive) w.shutdown(t, `replaced by ${newest.id} (start-first update)`)
      }
      if (newest.createdAt < st.startedAt) continue
      // The update's own attempt at this slot already ended on its own: what follows is the restart policy's.
      if (s.tasks.some((t) => t !== newest && t.createdAt >= st.startedAt && !differs(t) && endedOnItsOwn(t))) continue
      if (since === undefined) {
        inFlight++
        busy++
        continue
      }
      if (since + cfg.delayMs > w.now) {
        inFlight++
        coolUntil = Math.min(coolUntil ?? Infinity, since + cfg.delayMs)
      }
      if (since + cfg.monitorMs > w.now) {
        monitoring++
        if (active) w.wake(since + cfg.monitorMs)
      }
      continue
    }
    if (isLive(newest) && differs(newest)) candidates.push({ d, old: oldLive })
  }
  if (!active) return
  if (candidates.length > 0 && coolUntil !== undefined) w.wake(coolUntil)
  const room = cfg.parallelism === 0 ? candidates.length : Math.max(0, cfg.parallelism - inFlight)
  for (const c of candidates.slice(0, room)) {
    if (cfg.order === 'start-first') {
      w.create(service, c.d, `${rolling ? 'rollback' : 'rolling update'} (start-first) of ${c.old.map((t) => t.id).join(', ')}`)
      continue
    }
    const stopped = c.old.map((t) => w.shutdown(t, `${rolling ? 'rollback' : 'rolling update'}: stopping for the new spec`))
    // An old task no agent had yet stops at once: refill now rather than next pass.
    const others = slotOf(c.d).tasks.filter((t) => !c.old.includes(t))
    if (stopped.every(isTerminal) && others.every(isTerminal)) {
      w.create(service, c.d, `${rolling ? 'rollback' : 'rolling update'} of ${c.old.map((t) => t.id).join(', ')}`)
    }
  }
  if (anyOutdated || candidates.length > 0 || busy > 0 || monitoring > 0) return
  const done = rolling ? 'rollback_completed' : 'completed'
  const message = rolling ? 'rollback completed' : 'update completed'
  w.setService({ ...service, updateStatus: { state: done, startedAt: st.startedAt, completedAt: w.now, message } })
  w.event({ type: rolling ? 'rollbackCompleted' : 'updateCompleted', serviceId, message })
}
