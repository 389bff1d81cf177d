/**
 * The manager's reconcile loop: every committed change (after 20 ms, coalesced) and every wake-up the orchestrator
 * asked for runs one pass — reconcile() (pure) on the store's state, its plan committed in the same transaction.
 * It runs on the leading manager only (manager.ts starts it on gaining the lead and stops it on losing it), and a
 * pass the store runs again after the lead was lost (another writer committed first) plans nothing.
 * Lifecycle: open() / close() with the Manager; start() / stop() with the lead.
 */
import type { Clock, TimerHandle } from '../base/clock.ts'
import { TERMINAL_STATES, type ClusterState } from '../api/types.ts'
import { isEmptyPlan, prunable, reconcile } from './orchestrator.ts'
import { attachAssignedTasks, ensureAttachableSlices } from './networks/index.ts'
import type { Store, Unsubscribe } from './store.ts'

type LogFn = (level: 'info' | 'warn' | 'error' | 'debug', msg: string, fields?: Record<string, unknown>) => void

export interface ReconcileLoopOptions {
  store: Store
  clock: Clock
  /** Wall-clock ms: the orchestrator's `now`. */
  now: () => number
  log: LogFn
  /** Whether this manager leads now: no pass plans, and no timer is set, otherwise. */
  isLeader: () => boolean
  /** Ids for new tasks. */
  newId: () => string
}

export class ReconcileLoop {
  readonly #o: ReconcileLoopOptions
  #unwatch: Unsubscribe | null = null
  #timer: TimerHandle | null = null
  #wake: TimerHandle | null = null
  #closed = false

  constructor(o: ReconcileLoopOptions) {
    this.#o = o
  }

  /** The manager started: timers may be set again. */
  open(): void {
    this.#closed = false
  }

  /** The manager stopped: nothing runs or is scheduled from now on. */
  close(): void {
    this.#closed = true
    this.stop()
  }

  /** Gained the lead: watch from the store's current revision and run a pass now. */
  start(): void {
    this.stop()
    this.#unwatch = this.#o.store.watch(this.#o.store.revision, () => this.#schedule(20))
    this.#schedule(0)
  }

  /** Lost the lead: no watch, no timer. */
  stop(): void {
    this.#unwatch?.()
    this.#unwatch = null
    this.#o.clock.clearTimeout(this.#timer)
    this.#o.clock.clearTimeout(this.#wake)
    this.#timer = null
    this.#wake = null
  }

  #schedule(ms: number): void {
    if (this.#closed || !this.#o.isLeader() || this.#timer) return
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = null
      this.reconcileNow().catch((err: unknown) => {
        this.#o.log('error', 'reconcile failed', { err: (err as Error).message })
        this.#schedule(1000)
      })
    }, ms)
  }

  /**
   * One pass: plan, commit, clean up; schedules the next wake-up. The plan is made inside the transaction from
   * what it reads, so a store that runs the callback again (another writer committed first) plans again.
   */
  async reconcileNow(): Promise<void> {
    const now = this.#o.now()
    const plan = await this.#o.store.transact((tx) => {
      // A run after the lead was lost (a retry on a newer view) plans nothing: the new leader decides.
      if (!this.#o.isLeader()) return null
      const state: ClusterState = { nodes: tx.listNodes(), services: tx.listServices(), tasks: tx.listTasks() }
      const p = reconcile(state, now, { newId: this.#o.newId })
      // Tasks just assigned get their networks and their node its slices, in this same transaction (networks/).
      const stored = new Map(state.tasks.map((t) => [t.id, t]))
      p.update = attachAssignedTasks(tx, p.update, now, (id) => stored.get(id))
      p.create = attachAssignedTasks(tx, p.create, now)
      const assigned = new Set([...p.update, ...p.create].filter((t) => t.status.state === 'assigned').map((t) => t.id))
      p.events = p.events.filter((e) => e.type !== 'taskAssigned' || assigned.has(e.taskId as string))
      const slices = ensureAttachableSlices(tx)
      const services = new Set(state.services.map((s) => s.id))
      const dropped = prunable(state)
      // Tasks of removed services go once their container is gone (or they never got one).
      for (const t of state.tasks) {
        if (!services.has(t.serviceId) && (TERMINAL_STATES.includes(t.status.state) || t.nodeId === '')) dropped.push(t.id)
      }
      if (isEmptyPlan(p) && dropped.length === 0 && slices === 0) return p
      for (const t of p.create) tx.putTask(t)
      for (const t of p.update) tx.putTask(t)
      for (const s of p.serviceUpdates) tx.putService(s)
      for (const id of new Set(dropped)) tx.deleteTask(id)
      return p
    })
    if (plan === null) return
    for (const e of plan.events) this.#o.log(e.type === 'taskUnschedulable' ? 'warn' : 'info', e.message, { event: e.type, service: e.serviceId, task: e.taskId })
    this.#o.clock.clearTimeout(this.#wake)
    this.#wake = null
    if (plan.wakeAt !== undefined && !this.#closed && this.#o.isLeader()) {
      this.#wake = this.#o.clock.setTimeout(() => this.#schedule(0), Math.max(10, plan.wakeAt - now))
    }
  }
}
