import { TASK_STATES, TERMINAL_STATES, type TaskRecord, type TaskState } from '../api/types.ts'
import type { ContainerInfo, ContainerState } from './runtime.ts'

/**
 * The reconciler (pure): the tasks assigned to this node and the mesh containers that exist → what to do.
 * No sockets, no timers; table-tested in test/unit/runtime/plan.test.ts.
 *
 * A task's status here is the runner's best knowledge (the later of the manager's record and the runner's own
 * reports), so a task the runner has already reported as rejected is not created again.
 */

export type RemoveReason =
  /** The task is desired `shutdown`. */
  | 'shutdown'
  /** The task is desired `remove`. */
  | 'remove'
  /** No assigned task has this container's `mesh.task.id`. */
  | 'orphan'
  /** The task has ended (terminal status) but its container still runs. */
  | 'ended'
  /** A second container for the same task. */
  | 'duplicate'

export type ContainerAction =
  /** Desired running, no container, not started yet: prepare (pull), create, start. */
  | { kind: 'create'; taskId: string; task: TaskRecord }
  /** Desired running, its container exists but was never started. */
  | { kind: 'start'; taskId: string; task: TaskRecord; containerId: string }
  /** Its container exists and the task's status may be behind it (adoption, an exit seen late): inspect and report. */
  | { kind: 'observe'; taskId: string; task: TaskRecord; containerId: string }
  /** The task was running but its container is gone: report failed. */
  | { kind: 'lost'; taskId: string; task: TaskRecord }
  /** Stop (grace period) and remove; report `shutdown` when `task` is given and has not ended. */
  | { kind: 'remove'; taskId: string; containerId: string; reason: RemoveReason; task?: TaskRecord }
  /** Desired shutdown/remove, no container, not ended: report `shutdown`. */
  | { kind: 'shutdown'; taskId: string; task: TaskRecord }

const index = (s: TaskState): number => TASK_STATES.indexOf(s)
export const isTerminal = (s: TaskState): boolean => TERMINAL_STATES.includes(s)
/** The container holds (or may hold) a live process. */
const isLive = (s: ContainerState): boolean => s === 'running' || s === 'paused' || s === 'restarting'

/** Which of several containers of one task to keep: live first, then never started, then ended, removing last. */
function rank(s: ContainerState): number {
  if (isLive(s)) return 0
  if (s === 'created') return 1
  if (s === 'exited' || s === 'dead') return 2
  return 3
}

const ORDER: Record<ContainerAction['kind'], number> = { remove: 0, shutdown: 1, lost: 2, observe: 3, start: 4, create: 5 }

/**
 * Plan container actions. Removals come first (they free names and resources), then reports, then starts.
 * `observed`: ids of tasks the caller has inspected since it started; an existing container of a task not in it
 * is observed even when the statuses already match (adoption after an agent restart). Omitted: all are.
 */
export function planContainers(assigned: readonly TaskRecord[], containers: readonly ContainerInfo[],
  observed?: ReadonlySet<string>): ContainerAction[] {
  const byTask = new Map<string, ContainerInfo[]>()
  for (const c of containers) {
    if (!c.taskId) continue
    const list = byTask.get(c.taskId)
    if (list) list.push(c)
    else byTask.set(c.taskId, [c])
  }
  const tasks = new Map<string, TaskRecord>()
  for (const t of assigned) tasks.set(t.id, t)

  const out: ContainerAction[] = []
  for (const task of tasks.values()) {
    const taskId = task.id
    const cs = [...(byTask.get(taskId) ?? [])].sort((a, b) => rank(a.state) - rank(b.state) || a.id.localeCompare(b.id))
    byTask.delete(taskId)
    const state = task.status.state
    const ended = isTerminal(state)

    if (task.desiredState !== 'running') {
      for (const c of cs) {
        if (c.state === 'removing') continue
        out.push({ kind: 'remove', taskId, containerId: c.id, reason: task.desiredState, task })
      }
      if (cs.length === 0 && !ended) out.push({ kind: 'shutdown', taskId, task })
      continue
    }

    const [keep, ...dups] = cs
    for (const c of dups) if (c.state !== 'removing') out.push({ kind: 'remove', taskId, containerId: c.id, reason: 'duplicate', task })
    if (!keep) {
      if (ended) continue
      if (index(state) >= index('running')) out.push({ kind: 'lost', taskId, task })
      else out.push({ kind: 'create', taskId, task })
      continue
    }
    if (keep.state === 'removing') continue
    if (ended) {
      if (isLive(keep.state)) out.push({ kind: 'remove', taskId, containerId: keep.id, reason: 'ended', task })
      continue
    }
    if (keep.state === 'created') {
      out.push({ kind: 'start', taskId, task, containerId: keep.id })
      continue
    }
    const seen = observed ? observed.has(taskId) : true
    if (state === 'running' && isLive(keep.state) && seen) continue
    out.push({ kind: 'observe', taskId, task, containerId: keep.id })
  }

  for (const [taskId, cs] of byTask) {
    for (const c of cs) if (c.state !== 'removing') out.push({ kind: 'remove', taskId, containerId: c.id, reason: 'orphan' })
  }
  return out.map((a, i) => ({ a, i })).sort((x, y) => ORDER[x.a.kind] - ORDER[y.a.kind] || x.i - y.i).map((x) => x.a)
}

/** The later of two statuses of one task (states only move forward; on a tie the second, newer one wins). */
export function laterState(a: TaskState, b: TaskState): 'a' | 'b' {
  return index(b) >= index(a) ? 'b' : 'a'
}

/**
 * Tasks whose secret and config files must stay on the node (pure): those wanted running and not ended, those whose
 * container still runs, and `busy` ones (an operation in flight). Every other task's files go (task-files.ts prune).
 */
export function tasksKeepingFiles(assigned: readonly TaskRecord[], containers: readonly ContainerInfo[], busy: Iterable<string>): Set<string> {
  const keep = new Set(busy)
  for (const t of assigned) if (t.desiredState === 'running' && !isTerminal(t.status.state)) keep.add(t.id)
  for (const c of containers) if (c.taskId && isLive(c.state)) keep.add(c.taskId)
  return keep
}
