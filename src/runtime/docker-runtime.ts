import Docker from 'dockerode'
import type { TaskRecord } from '../api/types.ts'
import type { FileBind } from './task-files.ts'
import { DEFAULT_DOCKER_SOCKET } from '../config/index.ts'
import { LABEL, containerCreateOptions, containerName, graceSeconds, taskNetworks } from './container-spec.ts'
import { JsonLines } from '../base/ndjson.ts'
import { imageName, parseImageRef } from '../api/image-ref.ts'
import type { EngineRegistryConfig } from './registry-resolve.ts'
import { parseEngineEvent } from './engine-events.ts'
import { EngineError, engineError } from './errors.ts'
import { lastLogLine } from './log-tail.ts'
import { PullProgress, pullEventError, type PullEvent } from './pull-progress.ts'
import type {
  ContainerInfo, ContainerRuntime, ContainerState, ContainerStatus, EventSubscription, HealthState, PullOptions, RuntimeEvent,
} from './runtime.ts'

/**
 * ContainerRuntime on a local Docker engine through dockerode (thin adapter: translates, decides nothing).
 * Engine errors become EngineError with the engine's text in `engineMessage`. Registries: whatever the image
 * reference names (`registry:5000/app:1`) is pulled from there by the engine; whether a registry may be plain HTTP
 * is the daemon's `insecure-registries` setting, not mesh's.
 */

export interface DockerRuntimeOptions {
  /** The engine's API socket. Default /var/run/docker.sock. */
  socketPath?: string
  /** An existing client (then socketPath is ignored). */
  docker?: Docker
  /** Resolvers task containers use (the agent's DNS on the overlay gateway). Default: the engine's. */
  dns?: string[]
  /** This node's name, for `{{.Node.Hostname}}` in a service's hostname template. Default: the node id. */
  nodeHostname?: string
}

const statusOf = (err: unknown): number => {
  const s = (err as { statusCode?: unknown } | null)?.statusCode
  return typeof s === 'number' ? s : 0
}

/** `name:tag@sha256:…` → `name@sha256:…` (what the engine looks up and pulls); other references unchanged. */
export function byDigest(image: string): string {
  const r = parseImageRef(image)
  return r?.digest !== undefined ? `${imageName(r)}@${r.digest}` : image
}

const HEALTH = new Set<string>(['starting', 'healthy', 'unhealthy'])

export class DockerRuntime implements ContainerRuntime {
  readonly #docker: Docker
  readonly #dns: string[]
  readonly #nodeHostname: string

  constructor(o: DockerRuntimeOptions = {}) {
    this.#docker = o.docker ?? new Docker({ socketPath: o.socketPath ?? DEFAULT_DOCKER_SOCKET })
    this.#dns = o.dns ?? []
    this.#nodeHostname = o.nodeHostname ?? ''
  }

  async list(): Promise<ContainerInfo[]> {
    let raw: Docker.ContainerInfo[]
    try {
      raw = await this.#docker.listContainers({ all: true, filters: { label: [`${LABEL.managed}=true`] } })
    } catch (err) {
      throw engineError('list', 'containers', err)
    }
    return raw.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      taskId: c.Labels?.[LABEL.taskId] ?? '',
      state: c.State as ContainerState,
      labels: c.Labels ?? {},
    }))
  }

  /**
   * A pinned reference (`nginx:latest@sha256:…`) is looked up and pulled by its digest alone (`nginx@sha256:…`):
   * present when the engine has that very image, else pulled by digest (the engine verifies the content). A tag
   * is pulled only when missing.
   */
  async ensureImage(image: string, onProgress: (pct: number) => void, o: PullOptions = {}): Promise<'present' | 'pulled'> {
    const ref = byDigest(image)
    try {
      await this.#docker.getImage(ref).inspect()
      return 'present'
    } catch (err) {
      if (statusOf(err) !== 404) throw engineError('inspect image', ref, err)
    }
    const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) => {
      const opts = o.signal ? { abortSignal: o.signal } : {}
      this.#docker.pull(ref, opts, (err, s) => {
        if (err || !s) reject(engineError('pull', ref, err ?? new Error('no stream')))
        else resolve(s)
      }, o.auth)
    })
    const progress = new PullProgress()
    let last = -1
    await new Promise<void>((resolve, reject) => {
      let inStream: string | undefined
      this.#docker.modem.followProgress(stream, (err: Error | null) => {
        if (err) reject(engineError('pull', ref, err))
        else if (inStream !== undefined) reject(new EngineError('pull', ref, inStream, 0))
        else resolve()
      }, (e: PullEvent) => {
        const msg = pullEventError(e)
        if (msg !== undefined) {
          inStream ??= msg
          return
        }
        const pct = progress.update(e)
        if (pct !== last) {
          last = pct
          onProgress(pct)
        }
      })
    })
    if (last !== 100) onProgress(progress.finish())
    return 'pulled'
  }

  /** The engine's registry settings (`GET /info` → RegistryConfig: which registries are plain HTTP); undefined if unreachable. */
  async registryConfig(): Promise<EngineRegistryConfig | undefined> {
    try {
      return ((await this.#docker.info()) as { RegistryConfig?: EngineRegistryConfig }).RegistryConfig
    } catch {
      return undefined
    }
  }

  async create(task: TaskRecord, network: string, files: readonly FileBind[] = []): Promise<string> {
    try {
      const c = await this.#docker.createContainer(containerCreateOptions(task, network, this.#dns, this.#nodeHostname, files))
      // Its other networks before it starts (`docker network connect`): the task never runs half attached.
      for (const name of taskNetworks(task, network).slice(1)) {
        try {
          await this.#docker.getNetwork(name).connect({ Container: c.id })
        } catch (err) {
          await this.#docker.getContainer(c.id).remove({ force: true }).catch(() => undefined)
          throw engineError('connect to network ' + name, containerName(task), err)
        }
      }
      return c.id
    } catch (err) {
      throw engineError('create', containerName(task), err)
    }
  }

  async start(id: string): Promise<void> {
    try {
      await this.#docker.getContainer(id).start()
    } catch (err) {
      if (statusOf(err) === 304) return // already started
      throw engineError('start', id, err)
    }
  }

  async stop(id: string, graceMs?: number): Promise<void> {
    try {
      await this.#docker.getContainer(id).stop(graceMs === undefined ? {} : { t: graceSeconds(graceMs) })
    } catch (err) {
      const s = statusOf(err)
      if (s === 304 || s === 404) return // already stopped, or gone
      throw engineError('stop', id, err)
    }
  }

  async remove(id: string, force: boolean): Promise<void> {
    try {
      await this.#docker.getContainer(id).remove({ force, v: true })
    } catch (err) {
      const s = statusOf(err)
      if (s === 404) return
      if (s === 409 && /already in progress/i.test(String((err as Error).message))) return
      throw engineError('remove', id, err)
    }
  }

  async inspect(id: string): Promise<ContainerStatus | null> {
    let info: Docker.ContainerInspectInfo
    try {
      info = await this.#docker.getContainer(id).inspect()
    } catch (err) {
      if (statusOf(err) === 404) return null
      throw engineError('inspect', id, err)
    }
    const ips: Record<string, string> = {}
    for (const [name, n] of Object.entries(info.NetworkSettings?.Networks ?? {})) if (n?.IPAddress) ips[name] = n.IPAddress
    const health = info.State.Health?.Status
    const out: ContainerStatus = {
      id: info.Id,
      name: info.Name.replace(/^\//, ''),
      state: info.State.Status as ContainerState,
      exitCode: info.State.ExitCode,
      error: info.State.Error ?? '',
      oomKilled: info.State.OOMKilled,
      ips,
    }
    if (health && HEALTH.has(health)) out.health = health as HealthState
    return out
  }

  async lastLogLine(id: string): Promise<string | undefined> {
    try {
      const body: unknown = await this.#docker.getContainer(id).logs({ stdout: true, stderr: true, tail: 20, follow: false })
      return lastLogLine(Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)))
    } catch {
      return undefined // "if cheap": a missing log is never an error
    }
  }

  async events(onEvent: (e: RuntimeEvent) => void, onEnd: (err?: Error) => void): Promise<EventSubscription> {
    const ac = new AbortController()
    let stream: NodeJS.ReadableStream
    try {
      stream = await this.#docker.getEvents({
        filters: { type: ['container'], label: [`${LABEL.managed}=true`], event: ['start', 'die', 'health_status'] },
        abortSignal: ac.signal,
      } as Docker.GetEventsOptions)
    } catch (err) {
      throw engineError('events', 'containers', err)
    }
    const lines = new JsonLines()
    let ended = false
    const end = (err?: Error): void => {
      if (ended) return
      ended = true
      onEnd(err)
    }
    stream.on('data', (chunk: Buffer) => {
      for (const m of lines.push(chunk)) {
        const e = parseEngineEvent(m)
        if (e && !ended) onEvent(e)
      }
    })
    stream.on('error', (err: Error) => end(err))
    stream.on('end', () => end())
    stream.on('close', () => end())
    return {
      close: () => {
        ended = true
        ac.abort()
        ;(stream as unknown as { destroy?: () => void }).destroy?.()
      },
    }
  }
}
