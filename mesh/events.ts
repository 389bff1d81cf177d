import { Command } from 'commander'
import { ControlError } from '../src/base/errors.ts'
import { parseEventFilters, type ClusterEvent } from '../src/api/index.ts'
import { managerClient } from './client.ts'

/**
 * `mesh events [--since DURATION|TIME] [--filter KEY=VALUE]… [--json]`: the manager's cluster events as they
 * happen, like `docker events`, until Ctrl-C. One line per event: time, type, action, subject, (attributes).
 * Same connection rules as every manager command: the local manager.sock, or MESH_HOST + MESH_CERT_PATH.
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

/**
 * GET /v1/events and call `onEvent` per event until `signal` aborts (resolves) or the stream ends or fails
 * (rejects with a one-line error).
 */
export async function streamEvents(query: URLSearchParams, onEvent: (e: ClusterEvent) => void, signal: AbortSignal): Promise<void> {
  const client = managerClient()
  const end = await client.stream(`/v1/events?${query}`, (v) => {
    if (typeof (v as Partial<ClusterEvent> | null)?.id === 'number') onEvent(v as ClusterEvent) // `{}` lines are heartbeats
  }, signal)
  if (end === 'ended') throw new ControlError(`the manager at ${client.where} closed the event stream`)
}

export function eventsCommand(): Command {
  return new Command('events')
    .description('stream cluster events (node, task, service, secret, config, network) as they happen, until Ctrl-C')
    .option('--since <duration|time>', 'first replay buffered events since then: 10m, 1h30m, 45s, 2026-12-01T08:00:00Z or Unix seconds')
    .option('--filter <key=value>', 'only these events: type=node|task|service|secret|config, action=…, service=NAME, node=NAME (repeatable; same key = any of)',
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
