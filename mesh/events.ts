import { Command } from 'commander'
import http from 'node:http'
import { join } from 'node:path'
import { DEFAULT_DATA_DIR } from '../src/config/index.ts'
import { ControlError } from '../src/base/errors.ts'
import { parseEventFilters, type ClusterEvent } from '../src/manager/events.ts'
import { ApiError, MANAGER_SOCKET } from './client.ts'

/**
 * `mesh events [--since DURATION|TIME] [--filter KEY=VALUE]… [--json]`: the manager's cluster events as they
 * happen, like `docker events`, until Ctrl-C. One line per event: time, type, action, subject, (attributes).
 * Same connection rules as every manager command: the local manager.sock, or MESH_HOST + MESH_TOKEN.
 */

interface EventsFlags {
  since?: string
  filter?: string[]
  json?: boolean
}

/** Attributes that only repeat an id the line already names some other way. */
const HIDDEN = new Set(['serviceId', 'nodeId'])

/** `2026-12-01T08:11:01.354Z task running web.1 (id=…, node=node2, from=starting)`. */
export function formatEvent(e: ClusterEvent): string {
  const attrs = Object.entries(e.attributes).filter(([k, v]) => !HIDDEN.has(k) && v !== '').map(([k, v]) => `${k}=${v}`)
  return `${new Date(e.time).toISOString()} ${e.type} ${e.action} ${e.subject}${attrs.length ? ` (${attrs.join(', ')})` : ''}`
}

type Target = { socketPath: string; where: string } | { host: string; port: number; where: string }

function target(): Target {
  const host = process.env.MESH_HOST
  if (host) {
    const m = /^tcp:\/\/([^:/]+|\[[^\]]+\]):(\d+)\/?$/.exec(host)
    if (!m) throw new ControlError(`MESH_HOST "${host}": want tcp://HOST:PORT, e.g. tcp://10.0.0.1:7947`)
    return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port: Number(m[2]), where: host }
  }
  const socketPath = join(process.env.MESH_DATA_DIR ?? DEFAULT_DATA_DIR, MANAGER_SOCKET)
  return { socketPath, where: socketPath }
}

/**
 * GET /v1/events and call `onEvent` per event until `signal` aborts (resolves) or the stream ends or fails
 * (rejects with a one-line error).
 */
export function streamEvents(query: URLSearchParams, onEvent: (e: ClusterEvent) => void, signal: AbortSignal): Promise<void> {
  const t = target()
  const token = process.env.MESH_TOKEN
  const headers: Record<string, string> = { accept: 'application/x-ndjson' }
  if (token && !('socketPath' in t)) headers.authorization = `Bearer ${token}`
  const { where, ...conn } = t
  return new Promise<void>((resolve, reject) => {
    const req = http.request({ ...conn, method: 'GET', path: `/v1/events?${query}`, headers }, (res) => {
      const status = res.statusCode ?? 500
      let buf = ''
      res.setEncoding('utf8')
      if (status >= 400) {
        res.on('data', (c: string) => { buf += c })
        res.on('end', () => {
          let e: { code?: string; message?: string } | undefined
          try { e = (JSON.parse(buf) as { error?: typeof e }).error } catch { /* not JSON */ }
          reject(new ApiError(status, e?.code ?? 'MESH_ERR_API', e?.message ?? `HTTP ${status}`))
        })
        return
      }
      res.on('data', (c: string) => {
        buf += c
        let i: number
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i)
          buf = buf.slice(i + 1)
          if (line.trim() === '') continue
          const e = JSON.parse(line) as Partial<ClusterEvent>
          if (typeof e.id === 'number') onEvent(e as ClusterEvent) // `{}` lines are heartbeats
        }
      })
      res.on('end', () => (signal.aborted ? resolve() : reject(new ControlError(`the manager at ${where} closed the event stream`))))
      res.on('error', () => undefined)
    })
    signal.addEventListener('abort', () => {
      req.destroy()
      resolve()
    }, { once: true })
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (signal.aborted) return resolve()
      const why = err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
        ? 'is this a manager node running `mesh agent --init` (or set MESH_HOST)?'
        : err.code === 'EACCES' ? 'permission denied (the manager socket is root-only)' : err.message
      reject(new ControlError(`cannot reach the manager at ${where}: ${why}`))
    })
    req.end()
  })
}

export function eventsCommand(): Command {
  return new Command('events')
    .description('stream cluster events (node, task, service) as they happen, until Ctrl-C')
    .option('--since <duration|time>', 'first replay buffered events since then: 10m, 1h30m, 45s, 2026-12-01T08:00:00Z or Unix seconds')
    .option('--filter <key=value>', 'only these events: type=node|task|service, action=…, service=NAME, node=NAME (repeatable; same key = any of)',
      (v: string, p: string[] = []) => p.concat(v))
    .option('--json', 'one JSON object per line')
    .addHelpText('after', `
Lines look like docker events:
  2026-12-01T08:11:01.354Z service create web (id=…, image=mesh/busybox, mode=replicated, replicas=2)
  2026-12-01T08:11:01.380Z task assigned web.1 (id=…, service=web, slot=1, node=node2, from=, desired=running)
  2026-12-01T08:11:02.120Z task running web.1 (id=…, service=web, slot=1, node=node2, from=starting, desired=running)
Examples:
  mesh events --since 10m --filter type=task --filter service=web
  mesh events --filter type=node --json`)
    .action(async (f: EventsFlags) => {
      const filters = f.filter ?? []
      try {
        parseEventFilters(filters)
      } catch (err) {
        throw new ControlError((err as Error).message)
      }
      const q = new URLSearchParams()
      if (f.since !== undefined) q.set('since', f.since)
      for (const x of filters) q.append('filter', x)
      const ac = new AbortController()
      const stop = () => ac.abort()
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
      try {
        await streamEvents(q, (e) => {
          process.stdout.write(`${f.json ? JSON.stringify(e) : formatEvent(e)}\n`)
        }, ac.signal)
      } finally {
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
      }
    })
}
