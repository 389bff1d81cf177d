/**
 * FakeDocker: an in-memory ContainerRuntime (only the calls the runner makes), plus helpers a test uses to play
 * the engine's part: a container exits, a healthcheck flips, the event stream drops, an engine call fails.
 * Events are delivered synchronously, so `await runner.idle()` after a helper sees their effect.
 */
import { EngineError } from '../../../src/runtime/errors.ts'
import { LABEL, containerCreateOptions, taskNetworks } from '../../../src/runtime/container-spec.ts'
import type {
  ContainerInfo, ContainerRuntime, ContainerState, ContainerStatus, EventSubscription, HealthState, PullOptions, RuntimeEvent,
} from '../../../src/runtime/index.ts'
import type { TaskRecord } from '../../../src/api/types.ts'
import type { FileBind } from '../../../src/runtime/task-files.ts'

export interface FakeContainer {
  id: string
  name: string
  image: string
  labels: Record<string, string>
  state: ContainerState
  exitCode: number
  error: string
  health?: HealthState
  ips: Record<string, string>
  logs: string[]
  /** The create request, for assertions on the container spec. */
  config?: ReturnType<typeof containerCreateOptions>
  stopGraceMs?: number | undefined
}

interface Subscriber {
  onEvent: (e: RuntimeEvent) => void
  onEnd: (err?: Error) => void
}

export class FakeDocker implements ContainerRuntime {
  readonly images = new Set<string>()
  readonly containers = new Map<string, FakeContainer>()
  /** Every call, e.g. `create web.1.t1`, `stop abc`, in order. */
  readonly calls: string[] = []
  /** ref → the engine's pull error text. */
  readonly pullErrors = new Map<string, string>()
  /** image → the engine's start error text (the process cannot be started). */
  readonly startErrors = new Map<string, string>()
  /** image → the process exits at once with this code (the die event arrives while `start` is still answering). */
  readonly exitOnStart = new Map<string, number>()
  /** Percentages reported while pulling. */
  pullProgress: number[] = [0, 100]
  /** The auth each pull got. */
  readonly pullAuth: unknown[] = []
  /** When set, every pull waits for this promise (concurrency tests). */
  pullGate: Promise<void> | null = null
  /** Fail the next N calls of a method with an engine error. */
  readonly failNext = new Map<'list' | 'stop' | 'remove' | 'inspect' | 'events', number>()
  inFlightPulls = 0
  maxInFlightPulls = 0
  #seq = 0
  #subs = new Set<Subscriber>()

  #id(): string {
    this.#seq++
    return this.#seq.toString(16).padStart(4, '0') + 'c0ffee'.repeat(10).slice(0, 60)
  }

  #maybeFail(op: 'list' | 'stop' | 'remove' | 'inspect' | 'events'): void {
    const n = this.failNext.get(op) ?? 0
    if (n > 0) {
      this.failNext.set(op, n - 1)
      throw new EngineError(op, 'x', `fake engine: ${op} failed`, 500)
    }
  }

  #emit(e: RuntimeEvent): void {
    for (const s of [...this.#subs]) s.onEvent(e)
  }

  async list(): Promise<ContainerInfo[]> {
    this.calls.push('list')
    this.#maybeFail('list')
    return [...this.containers.values()].filter((c) => c.labels[LABEL.managed] === 'true')
      .map((c) => ({ id: c.id, name: c.name, taskId: c.labels[LABEL.taskId] ?? '', state: c.state, labels: { ...c.labels } }))
  }

  async ensureImage(ref: string, onProgress: (pct: number) => void, o: PullOptions = {}): Promise<'present' | 'pulled'> {
    this.calls.push(`ensureImage ${ref}`)
    if (this.images.has(ref)) return 'present'
    this.pullAuth.push(o.auth)
    this.inFlightPulls++
    this.maxInFlightPulls = Math.max(this.maxInFlightPulls, this.inFlightPulls)
    try {
      if (this.pullGate) await this.pullGate
      const err = this.pullErrors.get(ref)
      if (err !== undefined) throw new EngineError('pull', ref, err, 404)
      for (const p of this.pullProgress) onProgress(p)
      this.images.add(ref)
      return 'pulled'
    } finally {
      this.inFlightPulls--
    }
  }

  async create(task: TaskRecord, network: string, files: readonly FileBind[] = []): Promise<string> {
    const config = containerCreateOptions(task, network, [], '', files)
    // The engine adapter connects the task's other networks before start: the fake has them attached at once.
    for (const n of taskNetworks(task, network).slice(1)) (config.NetworkingConfig?.EndpointsConfig as Record<string, object>)[n] = {}
    const name = config.name as string
    this.calls.push(`create ${name}`)
    if (!this.images.has(task.spec.image)) throw new EngineError('create', name, `No such image: ${task.spec.image}`, 404)
    if ([...this.containers.values()].some((c) => c.name === name)) {
      throw new EngineError('create', name, `Conflict. The container name "/${name}" is already in use`, 409)
    }
    for (const m of task.spec.mounts) {
      if (m.type === 'bind' && m.source.startsWith('/nonexistent')) {
        throw new EngineError('create', name, `invalid mount config for type "bind": bind source path does not exist: ${m.source}`, 400)
      }
    }
    const id = this.#id()
    this.containers.set(id, {
      id, name, image: task.spec.image, labels: { ...config.Labels }, state: 'created', exitCode: 0, error: '', ips: {}, logs: [], config,
      ...(task.spec.healthcheck ? { health: 'starting' as const } : {}),
    })
    return id
  }

  /** A container that was there before the runner (adoption, orphans). */
  add(c: Partial<FakeContainer> & { labels: Record<string, string> }): FakeContainer {
    const id = c.id ?? this.#id()
    const full: FakeContainer = { id, name: c.name ?? `pre-${id.slice(0, 4)}`, image: 'img', state: 'running', exitCode: 0, error: '',
      ips: {}, logs: [], ...c }
    this.containers.set(id, full)
    return full
  }

  async start(id: string): Promise<void> {
    const c = this.#get(id, 'start')
    this.calls.push(`start ${c.name}`)
    const err = this.startErrors.get(c.image)
    if (err !== undefined) {
      c.error = err
      c.exitCode = 127
      throw new EngineError('start', id, err, 400)
    }
    c.state = 'running'
    // One address per attached network (10.<n>.0.x on the n-th), as the engine gives one per endpoint.
    const nets = Object.keys(c.config?.NetworkingConfig?.EndpointsConfig ?? { meshtest: {} })
    c.ips = Object.fromEntries(nets.map((n, i) => [n, `10.${i}.0.${this.#seq + 1}`]))
    this.#emit({ action: 'start', containerId: id, taskId: c.labels[LABEL.taskId] ?? '' })
    const code = this.exitOnStart.get(c.image)
    if (code !== undefined) this.exit(id, code, 'bye')
  }

  async stop(id: string, graceMs?: number): Promise<void> {
    this.#maybeFail('stop')
    const c = this.containers.get(id)
    this.calls.push(`stop ${c?.name ?? id}`)
    if (!c || c.state !== 'running') return
    c.stopGraceMs = graceMs
    this.exit(id, 143)
  }

  async remove(id: string, force: boolean): Promise<void> {
    this.#maybeFail('remove')
    const c = this.containers.get(id)
    this.calls.push(`remove ${c?.name ?? id}`)
    if (!c) return
    if (c.state === 'running' && !force) throw new EngineError('remove', id, 'You cannot remove a running container', 409)
    this.containers.delete(id)
  }

  async inspect(id: string): Promise<ContainerStatus | null> {
    this.#maybeFail('inspect')
    const c = this.containers.get(id)
    if (!c) return null
    const out: ContainerStatus = { id: c.id, name: c.name, state: c.state, exitCode: c.exitCode, error: c.error, oomKilled: false,
      ips: c.state === 'running' ? { ...c.ips } : {} }
    if (c.health) out.health = c.health
    return out
  }

  async lastLogLine(id: string): Promise<string | undefined> {
    return this.containers.get(id)?.logs.at(-1)
  }

  async events(onEvent: (e: RuntimeEvent) => void, onEnd: (err?: Error) => void): Promise<EventSubscription> {
    this.calls.push('events')
    this.#maybeFail('events')
    const s: Subscriber = { onEvent, onEnd }
    this.#subs.add(s)
    return { close: () => { this.#subs.delete(s) } }
  }

  // ---- the engine's part ----

  /** The container's process exits with `code` (after printing `log`). */
  exit(id: string, code: number, log?: string, o: { silent?: boolean } = {}): void {
    const c = this.#get(id, 'exit')
    if (log) c.logs.push(log)
    c.state = 'exited'
    c.exitCode = code
    if (!o.silent) this.#emit({ action: 'die', containerId: id, taskId: c.labels[LABEL.taskId] ?? '', exitCode: code })
  }

  setHealth(id: string, health: HealthState): void {
    const c = this.#get(id, 'setHealth')
    c.health = health
    this.#emit({ action: 'health_status', containerId: id, taskId: c.labels[LABEL.taskId] ?? '', health })
  }

  /** The event stream drops (dockerd restarted). */
  dropEvents(): void {
    const subs = [...this.#subs]
    this.#subs.clear()
    for (const s of subs) s.onEnd(new Error('socket hang up'))
  }

  get subscribers(): number {
    return this.#subs.size
  }

  byTask(taskId: string): FakeContainer[] {
    return [...this.containers.values()].filter((c) => c.labels[LABEL.taskId] === taskId)
  }

  #get(id: string, op: string): FakeContainer {
    const c = this.containers.get(id)
    if (!c) throw new EngineError(op, id, `No such container: ${id}`, 404)
    return c
  }
}
