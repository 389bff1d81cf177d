import http from 'node:http'
import type { LogControl, LogLine, LogRequest } from '../api/watch.ts'
import { LogDemuxer, type DemuxedLine } from './log-demux.ts'

/**
 * The agent's half of `mesh service logs`: the manager asks on the watch stream (`{logs: LogRequest}`); this reads
 * the containers of those tasks from the local engine (`GET /containers/:id/logs`, stdout and stderr demultiplexed)
 * and uploads the lines as an NDJSON request body to `POST /v1/agent/logs/:id`. Nothing listens on the node.
 * `{logsCancel: id}`, a refused or broken upload, or stop() ends a session. Memory stays bounded: engine streams are
 * paused while the upload is full, and a line longer than `maxLineBytes` is cut.
 */

export interface LogShipperOptions {
  /** The engine's API socket. */
  dockerSocket: string
  /** Open the authenticated upload `POST <path>` to the manager (src/worker's WorkerLink.upload). */
  upload(path: string): http.ClientRequest
  /** Sessions at once; more are refused (the manager reports the node as not answering). Default 16. */
  maxSessions?: number
  /** Longest line uploaded, bytes. Default 16 KiB (Docker splits longer lines itself). */
  maxLineBytes?: number
  log: (level: 'info' | 'warn' | 'error' | 'debug', msg: string, fields?: Record<string, unknown>) => void
}

interface ShipSession {
  upload: http.ClientRequest
  engine: Set<http.IncomingMessage>
  ended: boolean
}

/** `2026-12-01T08:00:00.123456789Z text` (the engine's `timestamps=1`) → its parts. */
export function splitTimestamp(line: string): { ts?: string; line: string } {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) ?/.exec(line)
  return m ? { ts: m[1] as string, line: line.slice(m[0].length) } : { line }
}

/** The engine's log query for one request. */
export function engineLogPath(containerId: string, r: Pick<LogRequest, 'tail' | 'follow' | 'since' | 'timestamps'>): string {
  const q = new URLSearchParams({ stdout: '1', stderr: '1', follow: r.follow ? '1' : '0', tail: r.tail >= 0 ? String(r.tail) : 'all',
    timestamps: r.timestamps ? '1' : '0' })
  if (r.since > 0) q.set('since', String(r.since))
  return `/containers/${encodeURIComponent(containerId)}/logs?${q}`
}

export class LogShipper {
  readonly #o: LogShipperOptions
  readonly #sessions = new Map<string, ShipSession>()
  readonly #max: number
  #stopped = false

  constructor(o: LogShipperOptions) {
    this.#o = o
    this.#max = o.maxSessions ?? 16
  }

  /** A `{logs}` or `{logsCancel}` line from the watch stream. */
  handle(m: LogControl): void {
    if (m.logsCancel) this.#end(m.logsCancel, true)
    if (m.logs && !this.#stopped) void this.#serve(m.logs)
  }

  /** End every session (agent shutdown). */
  stop(): void {
    this.#stopped = true
    for (const id of [...this.#sessions.keys()]) this.#end(id, true)
  }

  async #serve(r: LogRequest): Promise<void> {
    if (this.#sessions.has(r.id) || this.#sessions.size >= this.#max || !/^[a-z0-9]+$/.test(r.id)) {
      this.#o.log('warn', 'log request refused', { session: r.id, open: this.#sessions.size })
      return
    }
    const upload = this.#o.upload(`/v1/agent/logs/${r.id}`)
    const s: ShipSession = { upload, engine: new Set(), ended: false }
    this.#sessions.set(r.id, s)
    upload.setHeader('content-type', 'application/x-ndjson')
    upload.on('response', (res) => {
      res.resume()
      if ((res.statusCode ?? 500) >= 300) this.#end(r.id, true) // the manager no longer wants it
    })
    upload.on('error', () => this.#end(r.id, true))
    upload.on('drain', () => { for (const e of s.engine) e.resume() })
    upload.flushHeaders() // tells the manager this node is answering
    try {
      const containers = await this.#containers(new Set(r.taskIds))
      this.#o.log('debug', 'serving logs', { session: r.id, tasks: r.taskIds.length, containers: containers.length, follow: r.follow })
      if (r.follow) await Promise.all(containers.map((c) => this.#stream(r, s, c)))
      else for (const c of containers) await this.#stream(r, s, c)
    } catch (err) {
      this.#o.log('warn', 'reading logs failed', { session: r.id, err: (err as Error).message })
    }
    this.#end(r.id, false)
  }

  /** Mesh containers of these tasks: [taskId, containerId], oldest first. */
  async #containers(taskIds: Set<string>): Promise<{ task: string; id: string }[]> {
    const filters = encodeURIComponent(JSON.stringify({ label: ['mesh.managed=true'] }))
    const body = await this.#get(`/containers/json?all=1&filters=${filters}`)
    const list = JSON.parse(body) as { Id: string; Created: number; Labels?: Record<string, string> }[]
    return list.filter((c) => taskIds.has(c.Labels?.['mesh.task.id'] ?? ''))
      .sort((a, b) => a.Created - b.Created)
      .map((c) => ({ task: c.Labels?.['mesh.task.id'] as string, id: c.Id }))
  }

  #get(path: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = http.get({ socketPath: this.#o.dockerSocket, path, timeout: 10_000 }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error(`engine: HTTP ${res.statusCode}`))))
        res.on('error', reject)
      })
      req.on('timeout', () => req.destroy(new Error('engine: no answer in 10 s')))
      req.on('error', reject)
    })
  }

  /** One container's log, until it ends (or the session does). */
  #stream(r: LogRequest, s: ShipSession, c: { task: string; id: string }): Promise<void> {
    return new Promise((resolve) => {
      if (s.ended) return resolve()
      const req = http.get({ socketPath: this.#o.dockerSocket, path: engineLogPath(c.id, r) }, (res) => {
        if (res.statusCode !== 200) {
          res.resume()
          return resolve() // removed meanwhile: nothing to send
        }
        s.engine.add(res)
        const demux = new LogDemuxer(this.#o.maxLineBytes)
        const send = (lines: DemuxedLine[]) => {
          for (const l of lines) {
            if (s.ended) return
            const { ts, line } = r.timestamps ? splitTimestamp(l.line) : { ts: undefined, line: l.line }
            const out: LogLine = { task: c.task, stream: l.stream, line, ...(ts ? { ts } : {}) }
            if (!s.upload.write(`${JSON.stringify(out)}\n`)) for (const e of s.engine) e.pause()
          }
        }
        res.on('data', (chunk: Buffer) => send(demux.push(chunk)))
        res.on('end', () => send(demux.flush()))
        res.on('close', () => {
          s.engine.delete(res)
          resolve()
        })
      })
      req.on('error', () => resolve())
    })
  }

  #end(id: string, abort: boolean): void {
    const s = this.#sessions.get(id)
    if (!s) return
    this.#sessions.delete(id)
    s.ended = true
    for (const e of s.engine) e.destroy()
    s.engine.clear()
    if (abort) s.upload.destroy()
    else s.upload.end()
  }
}
