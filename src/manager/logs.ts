import type { Request, Response } from 'express'
import { realClock, type Clock, type TimerHandle } from '../base/clock.ts'
import { LineSplitter } from '../base/ndjson.ts'
import type { NodeRecord, TaskRecord } from '../api/types.ts'
import type { LogLine, LogRequest } from '../api/watch.ts'
import { sendError } from './http/http-error.ts'

/**
 * `mesh service logs` on the manager: a log broker between the CLI and the agents, with no listening port on the
 * agents. The CLI asks `GET /v1/services/:id/logs` (or `/v1/tasks/:id/logs`) and gets an NDJSON stream. The
 * manager asks every node that runs (or ran) one of the tasks over that node's watch stream, with one line
 * `{logs: LogRequest}`; the node answers with a streaming `POST /v1/agent/logs/:id` whose body is NDJSON
 * `LogLine`s, which the manager forwards with the task's name and node. `{logsCancel: id}` tells nodes to stop
 * when the CLI goes away. Without `follow` the CLI stream ends once every node has finished; with it, tasks of the
 * service that get a container later are asked for too (one more request to their node, whole log).
 *
 * Flow control instead of buffers: when the CLI's socket is full, every node's upload of that session is paused
 * (TCP pushes back to the agent, which pauses its engine streams) until it drains. A node that is down, not
 * connected, or silent for `answerTimeoutMs` is reported in one `{error}` line and not waited for.
 */

export type { LogRequest, LogLine } from '../api/watch.ts'

/** What the CLI gets, one JSON object per line: a log line with its context, or a problem with one node. */
export type LogMessage =
  | { task: string; name: string; node: string; stream: 'stdout' | 'stderr'; line: string; ts?: string }
  | { error: string; node?: string }

export interface LogQuery {
  tail: number
  follow: boolean
  since: number
  timestamps: boolean
}

export interface LogBrokerOptions {
  /** Timers for the answer timeout. Default: the real clock. */
  clock?: Clock
  /** How long a node has to start its upload after being asked, ms. Default 10000. */
  answerTimeoutMs?: number
  /** Longest line forwarded, bytes; longer ones are cut. Default 64 KiB. */
  maxLineBytes?: number
}

/** The CLI side of a session: an NDJSON sink with flow control. */
interface Sink {
  write(msg: LogMessage): boolean
  onDrain(fn: () => void): void
  end(): void
}

/** One request to one node: the tasks of that node the session asked it for (a follow session may ask again later). */
interface NodePart {
  /** Request id: what the node uploads to (`POST /v1/agent/logs/<reqId>`). */
  reqId: string
  node: NodeRecord
  taskIds: Set<string>
  state: 'asked' | 'streaming' | 'done'
  timer: TimerHandle | null
  upload: Request | null
}

let seq = 0

class Session {
  readonly id = `${Date.now().toString(36)}${(++seq).toString(36)}${Math.random().toString(36).slice(2, 8)}`
  /** By request id. */
  readonly parts = new Map<string, NodePart>()
  #next = 0
  readonly tasks: Map<string, TaskRecord>
  /** Set while open() asks the nodes: the session cannot finish before every node has been asked. */
  opening = true
  closed = false
  readonly query: LogQuery
  readonly sink: Sink
  constructor(query: LogQuery, tasks: TaskRecord[], sink: Sink) {
    this.query = query
    this.sink = sink
    this.tasks = new Map(tasks.map((t) => [t.id, t]))
  }

  nextReqId(): string {
    return `${this.id}n${(this.#next++).toString(36)}`
  }
}

/** What open() returns: the CLI went away (`cancel`), or, following, tasks appeared that were not asked for (`add`). */
export interface LogSessionHandle {
  cancel(): void
  add(tasks: TaskRecord[], nodes: () => NodeRecord[]): void
}

export class LogBroker {
  readonly #senders = new Map<string, Set<(line: string) => void>>()
  readonly #sessions = new Map<string, Session>()
  /** Request id → its session. */
  readonly #requests = new Map<string, Session>()
  readonly #answerMs: number
  readonly #maxLine: number
  readonly #clock: Clock

  constructor(o: LogBrokerOptions = {}) {
    this.#clock = o.clock ?? realClock()
    this.#answerMs = o.answerTimeoutMs ?? 10_000
    this.#maxLine = o.maxLineBytes ?? 64 * 1024
  }

  /** Sessions open now (tests, metrics). */
  get sessions(): number {
    return this.#sessions.size
  }

  /** A node's watch stream is open: `send` writes one NDJSON line on it. Returns the detach function. */
  attach(nodeId: string, send: (line: string) => void): () => void {
    let set = this.#senders.get(nodeId)
    if (!set) this.#senders.set(nodeId, (set = new Set()))
    set.add(send)
    return () => {
      set.delete(send)
      if (set.size > 0) return
      this.#senders.delete(nodeId)
      for (const s of this.#sessions.values()) {
        for (const p of s.parts.values()) {
          if (p.node.id === nodeId && p.state === 'asked') this.#nodeDone(s, p, `node ${p.node.hostname} disconnected before sending its logs`)
        }
      }
    }
  }

  /** Open a session for `tasks` (on `nodes`), streaming to `sink`. */
  open(tasks: TaskRecord[], nodes: NodeRecord[], query: LogQuery, sink: Sink): LogSessionHandle {
    const s = new Session(query, [], sink)
    this.#sessions.set(s.id, s)
    sink.onDrain(() => {
      for (const p of s.parts.values()) if (p.upload && p.state === 'streaming') p.upload.resume()
    })
    this.#ask(s, tasks, nodes, query)
    s.opening = false
    this.#maybeFinish(s)
    return { cancel: () => this.#cancel(s), add: (more, all) => this.#add(s, more, all) }
  }

  /** Following: ask for the whole log of tasks the session does not have yet. */
  #add(s: Session, tasks: TaskRecord[], nodes: () => NodeRecord[]): void {
    if (s.closed) return
    const fresh = tasks.filter((t) => t.nodeId !== '' && !s.tasks.has(t.id))
    if (fresh.length > 0) this.#ask(s, fresh, nodes(), { ...s.query, tail: -1 })
  }

  /** One request per node for its share of `tasks`; nodes that cannot answer are reported at once. */
  #ask(s: Session, tasks: TaskRecord[], nodes: NodeRecord[], query: LogQuery): void {
    const byId = new Map(nodes.map((n) => [n.id, n]))
    const grouped = new Map<string, string[]>()
    for (const t of tasks) {
      if (!t.nodeId) continue
      s.tasks.set(t.id, t)
      const list = grouped.get(t.nodeId)
      if (list) list.push(t.id)
      else grouped.set(t.nodeId, [t.id])
    }
    for (const [nodeId, taskIds] of grouped) {
      const node = byId.get(nodeId)
      if (!node) continue // removed from the cluster: its containers are gone
      const part: NodePart = { reqId: s.nextReqId(), node, taskIds: new Set(taskIds), state: 'asked', timer: null, upload: null }
      s.parts.set(part.reqId, part)
      this.#requests.set(part.reqId, s)
      const senders = this.#senders.get(nodeId)
      const n = taskIds.length
      const what = `logs of ${n} task${n === 1 ? '' : 's'} unavailable`
      if (node.state !== 'ready') {
        this.#nodeDone(s, part, `node ${node.hostname} is ${node.state}: ${what}`)
        continue
      }
      if (!senders || senders.size === 0) {
        this.#nodeDone(s, part, `node ${node.hostname} is not connected to the manager: ${what}`)
        continue
      }
      const req: LogRequest = { id: part.reqId, taskIds, ...query }
      const line = `${JSON.stringify({ logs: req })}\n`
      for (const send of senders) {
        send(line)
        break // one stream per node is enough
      }
      part.timer = this.#clock.setTimeout(() => {
        if (part.state === 'asked') this.#nodeDone(s, part, `node ${node.hostname} did not answer in ${this.#answerMs / 1000} s: ${what}`)
      }, this.#answerMs)
    }
  }

  /** A node's upload for request `id` (`POST /v1/agent/logs/:id`): forward its lines until it ends. */
  upload(node: NodeRecord, id: string, req: Request, res: Response): void {
    const s = this.#requests.get(id)
    const part = s?.parts.get(id)
    if (!s || s.closed || !part || part.node.id !== node.id || part.state === 'done') {
      req.resume()
      sendError(res, 410, 'MESH_ERR_GONE', `log session "${id}" is over`)
      return
    }
    part.state = 'streaming'
    part.upload = req
    this.#clock.clearTimeout(part.timer)
    part.timer = null
    // A line far too long to be an upload is cut (then fails to parse and is dropped), the rest skipped.
    const lines = new LineSplitter({ maxLineChars: this.#maxLine * 2 })
    let ended = false
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => {
      for (const line of lines.push(chunk)) this.#forward(s, part, line)
    })
    req.on('end', () => {
      ended = true
      const last = lines.flush()
      if (last !== null) this.#forward(s, part, last)
      res.status(204).end()
      this.#nodeDone(s, part)
    })
    req.on('close', () => {
      if (!ended && part.state !== 'done') this.#nodeDone(s, part, `node ${node.hostname}: its log stream broke off`)
    })
  }

  #forward(s: Session, part: NodePart, text: string): void {
    if (s.closed || text === '') return
    let l: LogLine
    try {
      l = JSON.parse(text) as LogLine
    } catch {
      return
    }
    const t = s.tasks.get(l.task)
    if (!t || !part.taskIds.has(t.id) || typeof l.line !== 'string') return
    const line = l.line.length > this.#maxLine ? l.line.slice(0, this.#maxLine) : l.line
    const msg: LogMessage = {
      task: t.id, name: taskName(t), node: part.node.hostname, stream: l.stream === 'stderr' ? 'stderr' : 'stdout', line,
      ...(typeof l.ts === 'string' ? { ts: l.ts } : {}),
    }
    if (!s.sink.write(msg)) for (const p of s.parts.values()) p.upload?.pause()
  }

  #nodeDone(s: Session, part: NodePart, error?: string): void {
    if (part.state === 'done') return
    part.state = 'done'
    this.#clock.clearTimeout(part.timer)
    part.timer = null
    if (error && !s.closed) s.sink.write({ error, node: part.node.hostname })
    this.#maybeFinish(s)
  }

  #maybeFinish(s: Session): void {
    if (s.closed || s.opening || s.query.follow) return
    for (const p of s.parts.values()) if (p.state !== 'done') return
    this.#close(s)
    s.sink.end()
  }

  #cancel(s: Session): void {
    if (s.closed) return
    for (const p of s.parts.values()) {
      if (p.state === 'done') continue
      const senders = this.#senders.get(p.node.id)
      if (senders) for (const send of senders) send(`${JSON.stringify({ logsCancel: p.reqId })}\n`)
      p.upload?.destroy()
    }
    this.#close(s)
  }

  #close(s: Session): void {
    s.closed = true
    for (const p of s.parts.values()) {
      this.#clock.clearTimeout(p.timer)
      p.timer = null
      p.state = 'done'
      this.#requests.delete(p.reqId)
    }
    this.#sessions.delete(s.id)
  }
}

/** `web.1.<taskid>` (replicated) or `web.<nodeid>.<taskid>` (global), as Swarm names tasks. */
export function taskName(t: TaskRecord): string {
  return `${t.serviceName}.${t.slot > 0 ? t.slot : t.nodeId}.${t.id}`
}
