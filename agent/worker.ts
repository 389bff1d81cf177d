import http from 'node:http'
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../src/base/errors.ts'
import { NotJsonError, errorOf, jsonRequest } from '../src/api/index.ts'
import type { TaskRecord, TaskStatus, Resources } from '../src/api/types.ts'
import type { CatalogSnapshot } from '../src/catalog/index.ts'
import type { LogControl } from './logs.ts'

/**
 * The agent's link to the manager: registers once with the join token (the credential it gets back is kept in
 * `<data-dir>/node.json`, 0600), then holds the manager's push stream of this node's task assignments open
 * (reconnecting with backoff when the manager restarts) and sends task state reports back in small batches.
 */

export interface WorkerLinkOptions {
  manager: { host: string; port: number }
  dataDir: string
  hostname: string
  addr: string
  resources: Resources
  token?: string
  onAssignments(tasks: TaskRecord[]): void
  /** The cluster catalog (services → endpoints), pushed on the same stream. */
  onCatalog?(catalog: CatalogSnapshot): void
  /** `{logs}` / `{logsCancel}` requests from the manager (agent/logs.ts answers them through upload()). */
  onLogs?(m: LogControl): void
  log: (level: 'info' | 'warn' | 'error' | 'debug', msg: string, fields?: Record<string, unknown>) => void
}

interface Identity { nodeId: string; credential: string; role: string; manager: string }

const NODE_FILE = 'node.json'

export class WorkerLink {
  readonly #o: WorkerLinkOptions
  #id: Identity | null = null
  #req: http.ClientRequest | null = null
  #stopped = false
  #pending = new Map<string, { taskId: string; status: TaskStatus; ip?: string }>()
  #flushTimer: NodeJS.Timeout | null = null
  #retryTimer: NodeJS.Timeout | null = null
  #connected = false

  constructor(o: WorkerLinkOptions) {
    this.#o = o
  }

  get nodeId(): string | null {
    return this.#id?.nodeId ?? null
  }

  get connected(): boolean {
    return this.#connected
  }

  /** Load our identity, or join with the token. Throws a one-line error when neither works. */
  async register(): Promise<Identity> {
    const path = join(this.#o.dataDir, NODE_FILE)
    const where = `${this.#o.manager.host}:${this.#o.manager.port}`
    if (existsSync(path) && !this.#o.token) {
      this.#id = JSON.parse(readFileSync(path, 'utf8')) as Identity
      return this.#id
    }
    if (!this.#o.token) throw new ConfigError('this node has not joined a cluster: pass --token TOKEN (see `mesh token show worker` on a manager) or --init')
    const r = await this.#call<{ nodeId: string; credential: string; role: string }>('POST', '/v1/agent/join', this.#o.token,
      { hostname: this.#o.hostname, addr: this.#o.addr, resources: this.#o.resources })
    if (r.status !== 200) throw new ConfigError(`joining the manager at ${where} failed: ${r.message}`)
    this.#id = { nodeId: r.body.nodeId, credential: r.body.credential, role: r.body.role, manager: where }
    writeFileSync(`${path}.tmp`, `${JSON.stringify(this.#id)}\n`, { mode: 0o600 })
    renameSync(`${path}.tmp`, path)
    this.#o.log('info', 'joined the cluster', { node: this.#o.hostname, role: r.body.role, manager: where })
    return this.#id
  }

  /** Use an identity issued in-process (the manager node registering itself). */
  useIdentity(id: Identity): void {
    this.#id = id
  }

  start(): void {
    this.#watch(0)
  }

  stop(): void {
    this.#stopped = true
    this.#req?.destroy()
    if (this.#retryTimer) clearTimeout(this.#retryTimer)
    if (this.#flushTimer) clearTimeout(this.#flushTimer)
  }

  /** Queue a task report; the latest status per task wins within a batch. */
  report(taskId: string, status: TaskStatus & { ip?: string }): void {
    const { ip, ...st } = status
    this.#pending.set(taskId, { taskId, status: st, ...(ip ? { ip } : {}) })
    if (!this.#flushTimer) this.#flushTimer = setTimeout(() => void this.#flush(), 50)
  }

  async #flush(): Promise<void> {
    this.#flushTimer = null
    if (!this.#id || this.#pending.size === 0) return
    const updates = [...this.#pending.values()]
    this.#pending.clear()
    try {
      const r = await this.#call('POST', '/v1/agent/status', this.#id.credential, { updates })
      if (r.status >= 500) throw new Error(r.message)
    } catch (err) {
      // Keep what failed (newer reports for the same task win) and retry.
      for (const u of updates) if (!this.#pending.has(u.taskId)) this.#pending.set(u.taskId, u)
      if (!this.#stopped && !this.#flushTimer) this.#flushTimer = setTimeout(() => void this.#flush(), 1000)
      this.#o.log('debug', 'task report failed; will retry', { err: (err as Error).message })
    }
  }

  #watch(attempt: number): void {
    if (this.#stopped || !this.#id) return
    const req = http.request({
      host: this.#o.manager.host, port: this.#o.manager.port, path: '/v1/agent/watch', method: 'GET',
      headers: { authorization: `Bearer ${this.#id.credential}` },
    }, (res) => {
      if (res.statusCode !== 200) {
        this.#o.log('error', 'manager refused the assignment stream', { status: res.statusCode })
        res.resume()
        return
      }
      this.#connected = true
      if (attempt > 0) this.#o.log('info', 'reconnected to the manager')
      attempt = 0
      let buf = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buf += chunk
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = buf.slice(0, i)
          buf = buf.slice(i + 1)
          try {
            const msg = JSON.parse(line) as { tasks?: TaskRecord[]; catalog?: CatalogSnapshot } & LogControl
            if (msg.tasks) this.#o.onAssignments(msg.tasks)
            if (msg.catalog) this.#o.onCatalog?.(msg.catalog)
            if (msg.logs || msg.logsCancel) this.#o.onLogs?.(msg)
          } catch {
            this.#o.log('warn', 'bad line on the assignment stream')
          }
        }
      })
    })
    this.#req = req
    const retry = () => {
      if (this.#stopped || this.#req !== req) return
      this.#req = null
      this.#connected = false
      const delay = Math.min(5000, 250 * 2 ** Math.min(attempt, 5))
      this.#retryTimer = setTimeout(() => this.#watch(attempt + 1), delay)
    }
    req.on('error', retry)
    req.on('close', retry)
    req.end()
  }

  /** A streaming request to the manager with this node's credential (log uploads); the caller writes and ends it. */
  upload(path: string): http.ClientRequest {
    return http.request({
      host: this.#o.manager.host, port: this.#o.manager.port, path, method: 'POST',
      headers: { authorization: `Bearer ${this.#id?.credential ?? ''}` },
    })
  }

  async #call<T>(method: string, path: string, token: string, body: unknown): Promise<{ status: number; body: T; message: string }> {
    const { host, port } = this.#o.manager
    try {
      const r = await jsonRequest({ host, port }, { method, path, body, headers: { authorization: `Bearer ${token}` }, timeoutMs: 10_000 })
      return { status: r.status, body: r.body as T, message: errorOf(r).message }
    } catch (err) {
      if (err instanceof NotJsonError) return { status: err.status, body: null as T, message: `HTTP ${err.status}` }
      throw new ConfigError(`cannot reach the manager at ${host}:${port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }
}
