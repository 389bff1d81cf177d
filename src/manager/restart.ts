/**
 * Restart policy (pure): when the newest task of a slot has ended on its own (complete, failed, rejected, or any
 * end while still desired running), decide whether the slot gets a replacement, must wait, or stays empty.
 *
 * - condition `none`: never replaced; `on-failure`: replaced unless it completed with exit code 0; `any`: always.
 * - `maxAttempts` (0 = unlimited) counts the earlier tasks of the slot, of the same spec, that ended on their own,
 *   within `windowMs` before now (0 = all time). Reached → the slot stays empty; with a window, until the oldest
 *   counted end leaves it. A spec change (service update) starts the count afresh, as swarmkit does.
 * - `delayMs` after the end, the replacement is created; before that the plan creates nothing and the caller is told
 *   when to come back (`nextWakeAt`).
 */
import { endedOnItsOwn } from './placement.ts'
import type { RestartPolicy, TaskRecord } from '../api/types.ts'

export type RestartDecision =
  | { kind: 'replace'; reason: string }
  | { kind: 'wait'; until: number }
  | { kind: 'withhold'; reason: string; retryAt?: number }

/** Why the task ended, for messages: `task t7 failed (exit 1: boom)`. */
export function endReason(t: TaskRecord): string {
  const code = t.status.exitCode !== undefined ? `exit ${t.status.exitCode}` : ''
  const msg = t.status.err ?? ''
  const detail = [code, msg].filter((s) => s !== '').join(': ')
  return `task ${t.id} ${t.status.state === 'complete' ? 'completed' : t.status.state}${detail ? ` (${detail})` : ''}`
}

/** Ended successfully: complete with exit code 0 (or none reported). */
export function succeeded(t: TaskRecord): boolean {
  return t.status.state === 'complete' && (t.status.exitCode ?? 0) === 0
}

/**
 * @param ended the slot's newest task, which ended on its own
 * @param earlier the slot's other tasks with the same spec (any state; only those that ended on their own count)
 */
export function restartDecision(ended: TaskRecord, earlier: readonly TaskRecord[], policy: RestartPolicy, now: number): RestartDecision {
  const why = endReason(ended)
  if (policy.condition === 'none') return { kind: 'withhold', reason: `${why}; restart condition is none` }
  if (policy.condition === 'on-failure' && succeeded(ended)) {
    return { kind: 'withhold', reason: `${why}; restart condition is on-failure` }
  }
  if (policy.maxAttempts > 0) {
    const since = policy.windowMs > 0 ? now - policy.windowMs : -Infinity
    const ends = earlier
      .filter((t) => t.id !== ended.id && endedOnItsOwn(t) && t.status.timestamp > since)
      .map((t) => t.status.timestamp)
    if (ends.length >= policy.maxAttempts) {
      const within = policy.windowMs > 0 ? ` within ${policy.windowMs / 1000}s` : ''
      const reason = `${why}; restart attempts exhausted (${ends.length} of ${policy.maxAttempts}${within})`
      if (policy.windowMs <= 0) return { kind: 'withhold', reason }
      // The count drops below maxAttempts when the (ends.length - maxAttempts + 1)-th oldest end leaves the window.
      ends.sort((a, b) => a - b)
      const leaving = ends[ends.length - policy.maxAttempts] as number
      return { kind: 'withhold', reason, retryAt: leaving + policy.windowMs }
    }
  }
  const at = ended.status.timestamp + policy.delayMs
  if (now < at) return { kind: 'wait', until: at }
  return { kind: 'replace', reason: `restart after ${why}` }
}
