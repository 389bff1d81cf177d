import type { ClusterEvent } from '../../api/events.ts'
import { anyOf, labelsMatch, type Filters } from './filters.ts'
import { DockerApiError } from './shape.ts'

/**
 * GET /events (pure part): mesh's cluster events as dockerd's swarm events (events.Message), their filters, and the
 * `since`/`until` times. Task changes are not docker events (dockerd sends none for tasks): they are dropped.
 *
 *   node join → create · ready/down → update (state.new, state.old) · update → update · remove → remove
 *   service create · scale → update (replicas.new, replicas.old) · update · remove
 *   secret, config, network: create · update · remove
 */

export interface DockerEvent {
  Type: string
  Action: string
  Actor: { ID: string; Attributes: Record<string, string> }
  scope: 'swarm'
  time: number
  timeNano: number
}

/** One event as dockerd would send it, or null for an event docker has no counterpart for (task events). */
export function dockerEvent(e: ClusterEvent): DockerEvent | null {
  if (e.type === 'task') return null
  const a = e.attributes
  const attrs: Record<string, string> = { name: e.subject }
  let action = e.action
  if (e.type === 'node') {
    if (e.action === 'join') action = 'create'
    else if (e.action === 'ready' || e.action === 'down') {
      action = 'update'
      attrs['state.new'] = e.action
      if (a.from) attrs['state.old'] = a.from
    } else if (e.action === 'update') {
      for (const k of ['availability', 'role', 'addr', 'labels', 'hostname']) if (a[k] !== undefined) attrs[`${k}.new`] = a[k] as string
    }
  } else if (e.type === 'service') {
    if (e.action === 'scale') {
      action = 'update'
      if (a.replicas) attrs['replicas.new'] = a.replicas
      if (a.from) attrs['replicas.old'] = a.from
    } else if (e.action === 'update') {
      if (a.image) attrs['image.new'] = a.image
      for (const k of ['updatestate.new', 'updatestate.old', 'message']) if (a[k] !== undefined) attrs[k] = a[k] as string
    }
  } else if (e.type === 'network') {
    if (a.driver) attrs.type = a.driver
  }
  if (!['create', 'update', 'remove'].includes(action)) return null
  return {
    Type: e.type,
    Action: action,
    Actor: { ID: e.subjectId, Attributes: attrs },
    scope: 'swarm',
    time: Math.floor(e.time / 1000),
    timeNano: e.time * 1e6,
  }
}

/** dockerd's FuzzyMatch: the value is the whole id or name, or a prefix of the id. */
function fuzzy(e: DockerEvent, v: string): boolean {
  return e.Actor.ID === v || e.Actor.Attributes.name === v || (v !== '' && e.Actor.ID.startsWith(v))
}

/** The `filters` of /events: type, event (action), scope, and service/node/secret/config/network by id or name. */
export function eventMatches(e: DockerEvent, f: Filters): boolean {
  if (!anyOf(f, 'type', (v) => v === e.Type)) return false
  if (!anyOf(f, 'event', (v) => v === e.Action)) return false
  if (!anyOf(f, 'scope', (v) => v === e.scope)) return false
  for (const kind of ['service', 'node', 'secret', 'config', 'network']) {
    if (!anyOf(f, kind, (v) => e.Type === kind && fuzzy(e, v))) return false
  }
  return labelsMatch(f, 'label', e.Actor.Attributes)
}

/**
 * `since` / `until` as the docker CLI sends them (Unix seconds, with an optional fraction: `1700000000.123456789`)
 * → milliseconds; absent → undefined. Anything else is dockerd's 400.
 */
export function eventTime(raw: unknown, name: 'since' | 'until'): number | undefined {
  if (raw === undefined || raw === '') return undefined
  if (typeof raw !== 'string' || !/^\d+(\.\d{1,9})?$/.test(raw)) throw new DockerApiError(400, `invalid ${name} value ${JSON.stringify(raw)}: want Unix seconds (docker events --${name} converts dates and durations)`)
  return Math.floor(Number(raw) * 1000)
}
