/**
 * Fake agents for tests of the manager and the CLI without Docker: every `intervalMs`, each node reports its tasks'
 * next state as an agent would — an assigned task starts running, a task told to stop stops. `next` decides first
 * (a task that crashes, a job task that completes); returning null falls back to that default.
 *
 *   const stop = startFakeAgents({ manager, store, nodes, next: (task, now) => task.spec.image === 'crashes' ? failed(now) : null })
 *   t.teardown(stop)
 */
import type { Manager } from '../../src/manager/manager.ts'
import type { NodeRecord, TaskRecord, TaskStatus } from '../../src/api/types.ts'

const STARTING = ['assigned', 'accepted', 'preparing', 'ready', 'starting']
const ENDED = ['complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned']

export interface FakeAgentsOptions {
  manager: Manager
  store: { listTasks(filter?: { nodeId?: string }): TaskRecord[] }
  nodes: readonly NodeRecord[]
  /** The time the agents stamp on reports (default the manager's clock). */
  now?: () => number
  /** A task's next status, or null for the default (start what is assigned, stop what is told to stop). */
  next?: (task: TaskRecord, now: number) => TaskStatus | null
  /** Runs before each round (e.g. to sample how many tasks are live). */
  onTick?: () => void
  intervalMs?: number
}

/** Start the agents; returns the function that stops them. */
export function startFakeAgents(o: FakeAgentsOptions): () => void {
  let stopped = false
  const timer = setInterval(() => {
    o.onTick?.()
    for (const node of o.nodes) {
      const updates = o.store.listTasks({ nodeId: node.id }).flatMap((task): { taskId: string; status: TaskStatus }[] => {
        const now = (o.now ?? (() => o.manager.now()))()
        const status = o.next?.(task, now) ?? defaultNext(task, now)
        return status ? [{ taskId: task.id, status }] : []
      })
      // A report still in flight at teardown may meet a closed store (an etcd commit outlives the tick, and a test
      // may close its store before it stops these agents): only that failure is expected; any other one fails the
      // test as an unhandled rejection.
      if (updates.length > 0) o.manager.reportTasks(node, updates).catch((err: unknown) => { if (!stopped && !closedStore(err)) throw err })
    }
  }, o.intervalMs ?? 20)
  return () => {
    stopped = true
    clearInterval(timer)
  }
}

/** The store was closed under the report (teardown): etcd-store's "not open", or the etcd client closed. */
function closedStore(err: unknown): boolean {
  return /the store is not open|client was already closed/.test(String((err as Error | undefined)?.message ?? ''))
}

function defaultNext(task: TaskRecord, now: number): TaskStatus | null {
  if (task.desiredState === 'running' && STARTING.includes(task.status.state)) return { state: 'running', message: 'started', timestamp: now, startedAt: now }
  if (task.desiredState !== 'running' && !ENDED.includes(task.status.state)) return { state: 'shutdown', message: 'stopped', timestamp: now }
  return null
}
