/**
 * Cluster events as the manager's event stream (`GET /v1/events`, NDJSON) carries them and `mesh events` shows them:
 * the event shape, and the `--filter` syntax both ends parse (pure). The manager's EventLog (src/manager/events.ts)
 * makes the events.
 */
import { MeshError } from '../base/errors.ts'

export const EVENT_TYPES = ['node', 'task', 'service', 'secret', 'config', 'network'] as const
export type ClusterEventType = (typeof EVENT_TYPES)[number]

export interface ClusterEvent {
  /**
   * Increasing in the order the events happened: 1, 2, 3, … on SQLite; on etcd `revision × 65,536 + place in the
   * revision`, the same on every manager (src/manager/event-history.ts).
   */
  id: number
  /** Milliseconds since the epoch, when the manager saw the change. */
  time: number
  /** Store revision of the change. */
  revision: number
  type: ClusterEventType
  action: string
  /** What the event is about: node hostname, service, secret or config name, task `service.slot` (global: `service.node`). */
  subject: string
  /** Record id of the subject. */
  subjectId: string
  attributes: Record<string, string>
}

/** Which events a reader wants: every key given must match (values of one key: any of them). */
export interface EventFilter {
  type?: string[]
  action?: string[]
  /** Service name or id (task and service events). */
  service?: string[]
  /** Node hostname or id (node and task events). */
  node?: string[]
}

/** A bad `--since` or `--filter` (API: 400). */
export class EventQueryError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_EVENT_QUERY', message, options)
  }
}

export const FILTER_KEYS = ['type', 'action', 'service', 'node'] as const

/** `type=service`, `node=n2` … (repeatable, as docker's --filter) → EventFilter; throws with the bad one named. */
export function parseEventFilters(specs: readonly string[]): EventFilter {
  const f: EventFilter = {}
  for (const spec of specs) {
    const i = spec.indexOf('=')
    const key = spec.slice(0, i) as (typeof FILTER_KEYS)[number]
    const value = spec.slice(i + 1)
    if (i <= 0 || value === '' || !FILTER_KEYS.includes(key)) {
      throw new EventQueryError(`filter "${spec}": want KEY=VALUE with KEY one of ${FILTER_KEYS.join(', ')}`)
    }
    if (key === 'type' && !(EVENT_TYPES as readonly string[]).includes(value)) {
      throw new EventQueryError(`filter "${spec}": type must be one of ${EVENT_TYPES.join(', ')}`)
    }
    ;(f[key] ??= []).push(value)
  }
  return f
}

export function matchesFilter(e: ClusterEvent, f: EventFilter): boolean {
  if (f.type && !f.type.includes(e.type)) return false
  if (f.action && !f.action.includes(e.action)) return false
  if (f.service) {
    const names = e.type === 'service' ? [e.subject, e.subjectId] : e.type === 'task' ? [e.attributes.service, e.attributes.serviceId] : []
    if (!f.service.some((s) => names.includes(s))) return false
  }
  if (f.node) {
    const names = e.type === 'node' ? [e.subject, e.subjectId] : e.type === 'task' ? [e.attributes.node, e.attributes.nodeId] : []
    if (!f.node.some((s) => names.includes(s))) return false
  }
  return true
}
