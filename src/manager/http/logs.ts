/**
 * The HTTP half of `mesh service logs` (the broker core is src/manager/logs.ts): `GET /v1/services/:id/logs` and
 * `GET /v1/tasks/:id/logs` answer NDJSON `LogMessage`s; the query string is parsed here, the tasks named are
 * looked up through the Manager's read methods, and the session runs on the manager's one LogBroker.
 */
import type { Request, Response } from 'express'
import { MeshError } from '../../base/errors.ts'
import { TERMINAL_STATES, type TaskRecord } from '../../api/types.ts'
import type { LogQuery } from '../logs.ts'
import type { Manager } from '../manager.ts'
import { sendError } from './http-error.ts'
import { streaming } from './limits.ts'

/** A request for logs that names nothing the manager knows. */
export class LogTargetError extends MeshError {
  constructor(message: string) {
    super('MESH_ERR_NOT_FOUND', message)
  }
}

/** Parse the CLI's query string; throws RequestError-shaped problems as LogQueryError. */
export function parseLogQuery(q: Record<string, unknown>): LogQuery | string {
  const flag = (v: unknown) => v === '1' || v === 'true'
  const tailText = typeof q.tail === 'string' ? q.tail : 'all'
  let tail = -1
  if (tailText !== 'all' && tailText !== '') {
    if (!/^\d+$/.test(tailText)) return `tail "${tailText}": want a number of lines or "all"`
    tail = Number(tailText)
  }
  const sinceText = typeof q.since === 'string' ? q.since : ''
  let since = 0
  if (sinceText !== '') {
    if (!/^\d+(\.\d+)?$/.test(sinceText)) return `since "${sinceText}": want a UNIX time in seconds`
    since = Number(sinceText)
  }
  return { tail, follow: flag(q.follow), since, timestamps: flag(q.timestamps) }
}

/**
 * The tasks `GET /v1/services/:id/logs` (or `/v1/tasks/:id/logs`) names: a service by name or id (its tasks that
 * got a node and are not removed), else one task by id or unique id prefix.
 */
export function logTargets(m: Manager, idOrName: string, kind: 'service' | 'task'): TaskRecord[] {
  if (kind === 'service') {
    const s = m.getService(idOrName)
    if (s) return m.listTasks({ serviceId: s.id }).filter((t) => t.nodeId !== '' && mayHaveContainer(t))
  }
  const all = m.listTasks()
  const exact = all.find((t) => t.id === idOrName)
  if (exact) return [exact]
  const pre = idOrName.length >= 4 ? all.filter((t) => t.id.startsWith(idOrName)) : []
  if (pre.length === 1) return pre
  if (pre.length > 1) throw new LogTargetError(`task id prefix "${idOrName}" is ambiguous (${pre.length} tasks)`)
  throw new LogTargetError(kind === 'service' ? `no such service or task: "${idOrName}"` : `task "${idOrName}" not found`)
}

/**
 * A task whose container may exist: it got a container and is still wanted (an ended one is kept until the task is
 * shut down), or it is still stopping. Nodes remove the containers of tasks shut down, so those have no logs left.
 */
function mayHaveContainer(t: TaskRecord): boolean {
  const started = t.status.containerId !== undefined || ['starting', 'running'].includes(t.status.state)
  return started && (t.desiredState === 'running' || !TERMINAL_STATES.includes(t.status.state))
}

/** The CLI route: NDJSON `LogMessage`s until every node is done (or, with follow, until the client leaves). */
export function serveLogs(m: Manager, kind: 'service' | 'task', req: Request, res: Response): void {
  const query = parseLogQuery(req.query as Record<string, unknown>)
  if (typeof query === 'string') {
    sendError(res, 400, 'MESH_ERR_INVALID', query)
    return
  }
  let tasks: TaskRecord[]
  try {
    tasks = logTargets(m, String(req.params.id), kind)
  } catch (err) {
    if (err instanceof LogTargetError) {
      sendError(res, 404, err.code, err.message)
      return
    }
    throw err
  }
  streaming(req) // `--follow` may wait long for a line
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' })
  res.flushHeaders()
  const session = m.logs.open(tasks, m.listNodes(), query, {
    write: (msg) => res.write(`${JSON.stringify(msg)}\n`),
    onDrain: (fn) => res.on('drain', fn),
    end: () => res.end(),
  })
  // Following a service: tasks that start later (scale, update, restarts) are asked for as they get a container.
  const serviceId = kind === 'service' ? m.getService(String(req.params.id))?.id : undefined
  let unwatch = (): void => {}
  if (query.follow && serviceId) {
    unwatch = m.watch((e) => {
      if (e.kind === 'task' && e.record.serviceId === serviceId && e.record.nodeId !== '' && mayHaveContainer(e.record)) {
        session.add([e.record], () => m.listNodes())
      }
    })
  }
  res.on('close', () => {
    unwatch()
    session.cancel()
  })
}
