import { ConfigError } from '../base/errors.ts'
import { realClock, type Clock } from '../base/clock.ts'
import { TASK_STATES, type TaskRecord, type TaskState } from '../api/types.ts'
import { EngineError, engineText } from './errors.ts'
import { KeyedQueue } from './keyed-queue.ts'
import { SharedPulls } from './shared-pulls.ts'
import { RetrySchedule } from './retry.ts'
import { isTerminal, laterState, planContainers, tasksKeepingFiles, type ContainerAction } from './plan.ts'
import { engineStatus, exitStatus, isExited, isLive, lostStatus, runningStatus, sameStatus, type Status } from './statuses.ts'
import { taskNetworks } from './container-spec.ts'
import type { ContainerInfo, ContainerRuntime, ContainerStatus, EventSubscription, RegistryAuth, ReportFn, RuntimeEvent, TaskReport } from './runtime.ts'
import type { DeliveredValue } from '../api/secrets.ts'
import type { FileBind, TaskFileStore } from './task-files.ts'
import { TaskFilesError } from './errors.ts'

/**
 * The node's executor loop: runs the tasks the manager assigns to this node through a ContainerRuntime and
 * reports every status change. Decisions come from planContainers (pure); this class sequences engine calls,
 * one operation at a time per task, at most `concurrency` tasks at once.
 */

export type Log = (level: 'info' | 'warn' | 'error' | 'debug', msg: string, fields?: Record<string, unknown>) => void

export interface TaskRunnerOptions {
  runtime: ContainerRuntime
  /** Docker network every task container joins (the overlay's `mesh` network in the agent). */
  network: string
  /** Resolves once the named Docker networks are up on this node (rejects saying why); before each create. */
  networksReady?: (names: string[]) => Promise<void>
  /** Called, in order, for every status change of a task (synchronously; a throw is logged and ignored). */
  report: ReportFn
  /** Tasks with an engine operation in flight at once. Default 4. */
  concurrency?: number
  /** Credentials for pulling a task's image (what --with-registry-auth forwards). Default: none. */
  registryAuth?: (task: TaskRecord) => RegistryAuth | undefined
  /** Timers for retries and reconnects. Default: the real clock. */
  clock?: Clock
  /** Wall-clock milliseconds for TaskStatus.timestamp. Default Date.now. */
  now?: () => number
  /** First retry delay after an engine call failed, ms; doubles per failure up to 30000. Default 1000. */
  retryMs?: number
  /** Tasks' secret and config files (task-files.ts). Default: none (a task that uses one waits for ever). */
  files?: TaskFileStore
  log?: Log
}

/** Pull progress is reported in steps of this many percent (and at 100). */
const PROGRESS_STEP_PCT = 5
const MAX_RETRY_MS = 30_000
const index = (s: TaskState): number => TASK_STATES.indexOf(s)
const said = (err: unknown): string => (err instanceof EngineError ? err.engineMessage : engineText(err))

export class TaskRunner {
  readonly #rt: ContainerRuntime
  readonly #network: string
  readonly #networksReady: (names: string[]) => Promise<void>
  readonly #reportFn: ReportFn
  readonly #auth: (task: TaskRecord) => RegistryAuth | undefined
  readonly #clock: Clock
  readonly #now: () => number
  readonly #retryMs: number
  readonly #log: Log
  readonly #files: TaskFileStore | null
  /** Tasks waiting for a secret or config value the manager has not sent: not tried again until values arrive. */
  readonly #waiting = new Set<string>()

  #phase: 'new' | 'started' | 'stopped' = 'new'
  #assigned = new Map<string, TaskRecord>()
  #haveAssignments = false
  readonly #reported = new Map<string, TaskReport>()
  /** Tasks whose container this runner has inspected since it (re)subscribed to events. */
  readonly #observed = new Set<string>()
  readonly #ops: KeyedQueue
  readonly #pulls: SharedPulls
  readonly #abort = new AbortController()
  #sub: EventSubscription | null = null
  #subDelayMs = 0
  #subGen = 0
  #subTimer: ReturnType<Clock['setTimeout']> | null = null
  #reconciling: Promise<void> | null = null
  #again = false
  readonly #retry: RetrySchedule

  constructor(o: TaskRunnerOptions) {
    const concurrency = o.concurrency ?? 4
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
      throw new ConfigError(`runtime: concurrency must be an integer in 1..64, got ${concurrency}`)
    }
    if (!o.network) throw new ConfigError('runtime: network must name the Docker network tasks join')
    this.#rt = o.runtime
    this.#network = o.network
    this.#networksReady = o.networksReady ?? (() => Promise.resolve())
    this.#reportFn = o.report
    this.#auth = o.registryAuth ?? (() => undefined)
    this.#clock = o.clock ?? realClock()
    this.#now = o.now ?? Date.now
    this.#retryMs = o.retryMs ?? 1000
    this.#log = o.log ?? (() => {})
    this.#files = o.files ?? null
    this.#retry = new RetrySchedule(this.#clock, this.#retryMs, MAX_RETRY_MS, () => this.#kick())
    this.#pulls = new SharedPulls(this.#rt)
    this.#ops = new KeyedQueue(concurrency, (key, failure) => this.#settled(key, failure))
  }

  /**
   * Subscribe to engine events and begin reconciling. Nothing is created or removed before the first
   * setAssignments: until then the runner cannot tell an adopted container from an orphan. An engine that does
   * not answer is retried in the background; start() itself does not fail for it.
   */
  async start(): Promise<void> {
    if (this.#phase !== 'new') return
    this.#phase = 'started'
    await this.#subscribe()
  }

  /** The full list of tasks assigned to this node (desired running, shutdown or remove). Replaces the previous one. */
  setAssignments(tasks: readonly TaskRecord[]): void {
    this.#assigned = new Map(tasks.map((t) => [t.id, t]))
    this.#haveAssignments = true
    for (const id of [...this.#reported.keys()]) {
      if (!this.#assigned.has(id) && !this.#ops.has(id)) {
        this.#reported.delete(id)
        this.#observed.delete(id)
      }
    }
    for (const id of this.#waiting) if (!this.#assigned.has(id)) this.#waiting.delete(id)
    this.#kick()
  }

  /** The node's secret or config values (the watch stream's full list): tasks waiting for one are tried again. */
  setValues(kind: 'secrets' | 'configs', values: readonly DeliveredValue[]): void {
    this.#files?.setValues(kind, values)
    this.#waiting.clear()
    this.#kick()
  }

  /** The last status this runner reported for a task. */
  statusOf(taskId: string): TaskReport | undefined {
    return this.#reported.get(taskId)
  }

  /** Resolves once no reconcile and no operation is in flight (tests, graceful shutdown). */
  async idle(): Promise<void> {
    for (;;) {
      const pending: Promise<unknown>[] = this.#ops.pending()
      if (this.#reconciling) pending.push(this.#reconciling)
      if (pending.length === 0) return
      await Promise.allSettled(pending)
    }
  }

  /**
   * Stop watching: close the event stream, abort pulls, wait for operations in flight. Containers keep running
   * (an agent restart adopts them). Safe after a failed or no start.
   */
  async stop(): Promise<void> {
    if (this.#phase === 'stopped') return
    this.#phase = 'stopped'
    this.#abort.abort()
    this.#sub?.close()
    this.#sub = null
    this.#clock.clearTimeout(this.#subTimer)
    this.#retry.cancel()
    await this.idle()
  }

  // ---- events ----

  async #subscribe(): Promise<void> {
    this.#subTimer = null
    if (this.#phase !== 'started') return
    try {
      const gen = ++this.#subGen
      const sub = await this.#rt.events((e) => { if (gen === this.#subGen) this.#onEvent(e) }, (err) => this.#onEventsEnd(gen, err))
      if (this.#phase !== 'started' || gen !== this.#subGen) {
        sub.close() // stopped meanwhile, or the stream already ended (a resubscribe is scheduled)
        return
      }
      this.#sub = sub
      this.#subDelayMs = 0
      this.#observed.clear() // events may have been missed: look at every container again
      this.#kick()
    } catch (err) {
      this.#subDelayMs = Math.min(Math.max(this.#subDelayMs * 2, this.#retryMs), MAX_RETRY_MS)
      this.#log('warn', 'docker events unavailable; retrying', { err: said(err), retryMs: this.#subDelayMs })
      this.#subTimer = this.#clock.setTimeout(() => void this.#subscribe(), this.#subDelayMs)
    }
  }

  #onEventsEnd(gen: number, err?: Error): void {
    if (this.#phase !== 'started' || gen !== this.#subGen) return
    this.#subGen++
    this.#sub = null
    this.#subDelayMs = Math.min(Math.max(this.#subDelayMs * 2, this.#retryMs), MAX_RETRY_MS)
    this.#log('warn', 'docker event stream ended; resubscribing', { err: err?.message, retryMs: this.#subDelayMs })
    this.#subTimer = this.#clock.setTimeout(() => void this.#subscribe(), this.#subDelayMs)
  }

  #onEvent(e: RuntimeEvent): void {
    if (this.#phase !== 'started' || !e.taskId) return
    const task = this.#assigned.get(e.taskId)
    const known = task ? this.#effective(task).status.containerId : undefined
    if (!task || (known && known !== e.containerId)) {
      this.#kick() // an orphan or a duplicate: the planner deals with it
      return
    }
    this.#enqueue(e.taskId, () => this.#observe(e.taskId, e.containerId, false))
  }

  // ---- reconcile ----

  #kick(): void {
    if (this.#phase !== 'started' || !this.#haveAssignments) return
    if (this.#reconciling) {
      this.#again = true
      return
    }
    this.#reconciling = (async () => {
      do {
        this.#again = false
        await this.#reconcileOnce()
      } while (this.#again && this.#phase === 'started')
    })().catch((err: unknown) => {
      this.#log('error', 'reconcile failed', { err: (err as Error)?.message })
    }).finally(() => {
      this.#reconciling = null
    })
  }

  async #reconcileOnce(): Promise<void> {
    const busy = new Set(this.#ops.keys())
    if (this.#retry.waiting('')) return
    let containers
    try {
      containers = await this.#rt.list()
      this.#retry.ok('')
    } catch (err) {
      this.#backoff('', err)
      return
    }
    if (this.#phase !== 'started') return
    const tasks = [...this.#assigned.values()].map((t) => this.#effective(t))
    if (this.#files) await this.#pruneFiles(tasks, containers)
    if (this.#phase !== 'started') return
    const actions = planContainers(tasks, containers, this.#observed)
    this.#retry.prune(new Set(actions.map((a) => a.taskId)))
    for (const a of actions) {
      if (busy.has(a.taskId) || this.#ops.has(a.taskId) || this.#retry.waiting(a.taskId)) continue
      if (a.kind === 'create' && this.#waiting.has(a.taskId)) continue
      this.#enqueue(a.taskId, () => this.#execute(a))
    }
  }

  /** Remove the files of tasks that no longer need them (plan.ts; the first pass after a start clears an earlier run's). */
  async #pruneFiles(tasks: readonly TaskRecord[], containers: readonly ContainerInfo[]): Promise<void> {
    try {
      const removed = await (this.#files as TaskFileStore).prune(tasksKeepingFiles(tasks, containers, this.#ops.keys()))
      for (const id of removed) this.#log('info', 'task files removed', { task: id })
    } catch (err) {
      this.#log('warn', 'task files cleanup failed; will retry', { err: (err as Error).message })
    }
  }

  /** The task with the later of the manager's status and this runner's last report. */
  #effective(t: TaskRecord): TaskRecord {
    const r = this.#reported.get(t.id)
    return r && laterState(t.status.state, r.state) === 'b' ? { ...t, status: r } : t
  }

  #wanted(taskId: string): boolean {
    return this.#phase === 'started' && this.#assigned.get(taskId)?.desiredState === 'running'
  }

  #ended(taskId: string, fallback?: TaskRecord): boolean {
    const t = this.#assigned.get(taskId) ?? fallback
    return t ? isTerminal(this.#effective(t).status.state) : false
  }

  // ---- operations: one chain per task, a shared concurrency limit ----

  #enqueue(key: string, fn: () => Promise<void>): void {
    this.#ops.push(key, () => (this.#phase === 'stopped' ? Promise.resolve() : fn()))
  }

  /** After every operation: forget or extend the task's back-off, then plan again. */
  #settled(key: string, failure: { err: unknown } | null): void {
    if (failure) this.#backoff(key, failure.err)
    else this.#retry.ok(key)
    this.#kick()
  }

  #backoff(key: string, err: unknown): void {
    if (this.#phase !== 'started') return
    const retryMs = this.#retry.fail(key)
    this.#log('warn', 'runtime operation failed; will retry', { task: key || undefined, err: said(err), retryMs })
  }

  #execute(a: ContainerAction): Promise<void> {
    switch (a.kind) {
      case 'create': return this.#run(a.task)
      case 'start': return this.#startExisting(a.taskId, a.containerId)
      case 'observe': return this.#observe(a.taskId, a.containerId, false)
      case 'lost': return this.#lost(a.task)
      case 'remove': return this.#remove(a)
      case 'shutdown':
        if (!this.#ended(a.taskId, a.task)) this.#report(a.taskId, { state: 'shutdown', message: 'shutdown' })
        return Promise.resolve()
    }
  }

  /** preparing (pull) → create → starting → start → running (or rejected / failed). */
  async #run(planned: TaskRecord): Promise<void> {
    const id = planned.id
    if (!this.#wanted(id) || this.#ended(id)) return
    const task = this.#assigned.get(id) ?? planned
    this.#observed.add(id)
    // A secret or config not here yet: wait (never start without it) until the manager sends values again.
    const missing = this.#files ? this.#files.missing(task) : null
    if (missing) {
      this.#waiting.add(id)
      this.#report(id, { state: 'preparing', message: `waiting: ${missing}` })
      return
    }
    this.#report(id, { state: 'preparing', message: 'preparing' })
    let shown = -1
    try {
      const auth = this.#auth(task)
      await this.#pulls.pull(task.spec.image, (pct) => {
        if (pct === shown || (pct < 100 && shown >= 0 && pct < shown + PROGRESS_STEP_PCT)) return
        shown = pct
        this.#report(id, { state: 'preparing', message: `pulling image ${pct}%` })
      }, { signal: this.#abort.signal, ...(auth ? { auth } : {}) })
    } catch (err) {
      if (this.#abort.signal.aborted) return
      this.#report(id, engineStatus('rejected', said(err)))
      return
    }
    if (!this.#wanted(id)) return // the planner reports shutdown (no container yet)
    let files: FileBind[] = []
    try {
      if (this.#files) files = await this.#files.prepare(task)
      else if (task.spec.secrets?.length || task.spec.configs?.length) throw new TaskFilesError('this node keeps no secret or config files')
    } catch (err) {
      this.#report(id, engineStatus('rejected', err instanceof TaskFilesError ? err.message : said(err)))
      return
    }
    let containerId: string
    try {
      await this.#networksReady(taskNetworks(task, this.#network))
      if (!this.#wanted(id)) return
      containerId = await this.#rt.create(task, this.#network, files)
    } catch (err) {
      this.#report(id, engineStatus('rejected', said(err)))
      return
    }
    this.#report(id, { state: 'starting', message: 'starting', containerId })
    if (!this.#wanted(id)) return // the planner stops and removes it, reporting shutdown
    await this.#startAndObserve(id, containerId)
  }

  async #startExisting(taskId: string, containerId: string): Promise<void> {
    if (!this.#wanted(taskId) || this.#ended(taskId)) return
    this.#observed.add(taskId)
    this.#report(taskId, { state: 'starting', message: 'starting', containerId })
    await this.#startAndObserve(taskId, containerId)
  }

  async #startAndObserve(taskId: string, containerId: string): Promise<void> {
    try {
      await this.#rt.start(containerId)
    } catch (err) {
      this.#report(taskId, engineStatus('failed', said(err), containerId))
      return
    }
    await this.#observe(taskId, containerId, true)
  }

  /** Inspect the task's container and report what it is: running (IP, health), complete or failed. */
  async #observe(taskId: string, containerId: string, justStarted: boolean): Promise<void> {
    if (this.#ended(taskId)) return
    this.#observed.add(taskId)
    const st = await this.#rt.inspect(containerId)
    if (!st) return // gone: the next plan decides (lost, or create if it never started)
    if (this.#ended(taskId)) return
    if (isLive(st.state)) {
      const task = this.#assigned.get(taskId)
      this.#report(taskId, runningStatus(st, task ? taskNetworks(task, this.#network)[0] as string : this.#network, task?.networks))
    } else if (isExited(st.state)) {
      if (justStarted) this.#report(taskId, { state: 'running', message: 'started', containerId })
      await this.#reportExit(taskId, st)
    }
  }

  async #reportExit(taskId: string, st: ContainerStatus): Promise<void> {
    const failed = st.exitCode !== 0 || st.error !== ''
    this.#report(taskId, exitStatus(st, failed ? await this.#rt.lastLogLine(st.id) : undefined))
  }

  #lost(task: TaskRecord): Promise<void> {
    if (!this.#ended(task.id, task)) this.#report(task.id, lostStatus(this.#effective(task).status.containerId))
    return Promise.resolve()
  }

  /** Stop (the task's grace period) and remove. A task desired shutdown/remove that had not ended reports shutdown. */
  async #remove(a: Extract<ContainerAction, { kind: 'remove' }>): Promise<void> {
    const now = this.#assigned.get(a.taskId)
    if (a.reason === 'orphan' && now) return // assigned since the plan was made: plan again
    const task = now ?? a.task
    const graceMs = task?.spec.stopGracePeriodMs
    const shuttingDown = (a.reason === 'shutdown' || a.reason === 'remove') && task !== undefined && !this.#ended(a.taskId, task)
    if (shuttingDown) {
      const st = await this.#rt.inspect(a.containerId)
      if (st && isExited(st.state) && index(this.#effective(task).status.state) >= index('starting')) {
        await this.#reportExit(a.taskId, st) // it ended on its own before we stopped it
      } else {
        await this.#rt.stop(a.containerId, graceMs)
        this.#report(a.taskId, { state: 'shutdown', message: 'shutdown', containerId: a.containerId })
      }
    } else {
      await this.#rt.stop(a.containerId, graceMs)
    }
    await this.#rt.remove(a.containerId, true)
    this.#log('info', 'container removed', { task: a.taskId, container: a.containerId.slice(0, 12), reason: a.reason })
  }

  #report(taskId: string, s: Status): void {
    const last = this.#reported.get(taskId)
    if (last && sameStatus(last, s)) return
    const full: TaskReport = { ...s, timestamp: this.#now() }
    this.#reported.set(taskId, full)
    try {
      this.#reportFn(taskId, full)
    } catch (err) {
      this.#log('error', 'report callback threw', { task: taskId, err: (err as Error)?.message })
    }
  }
}
