/**
 * The cluster's event history in the store: the role a backend plays so that `mesh events --since`, the dashboard
 * and the Docker API's /events survive a manager restart. SqliteStore keeps it in the `events` table, EtcdStore
 * under `<prefix>events/<id>`; the EventLog (events.ts) is the only writer.
 *
 * Events are derived from committed store changes (the EventLog follows the store's watch), so they cannot be
 * written in the transaction that caused them: they are appended afterwards in their own small write, which
 * neither moves the store revision nor reaches the store's watchers (an event is a record about the store, not a
 * part of the cluster's state). Nothing here runs inside `transact`, so the "fn may run twice" rule does not
 * apply; ids and times are the EventLog's, given as inputs.
 *
 * Ids. SQLite numbers events 1, 2, 3 … (one manager writes it). A store several managers share (etcd) says
 * `eventIds: 'revision'`: an event's id is `revision × 65,536 + its place among that revision's events`
 * (revisionEventId), so every manager derives the same id for the same event, ids grow with the store revision
 * across leaders and restarts, and such a backend stores an id at most once (the first append wins; a later one of
 * the same id is skipped, never overwrites): two managers appending during a leadership hand-over write each event
 * once. 65,536 events per revision is more than one commit can make (an etcd request is at most 1.5 MiB).
 *
 * Bounds: each append prunes what is older than `maxAgeMs` before `now` and all but the newest `maxCount`.
 * Events hold ids, names and states only (events.ts never copies a secret's value or sealed blob into one).
 */
import type { ClusterEvent } from '../api/index.ts'
import { EVENT_TYPES } from '../api/index.ts'

export interface EventBounds {
  /** Keep at most this many events (the newest). */
  maxCount: number
  /** Drop events whose time is older than `now - maxAgeMs`. */
  maxAgeMs: number
  /** The writer's clock, ms since the epoch. */
  now: number
}

export interface EventHistory {
  /** How the EventLog numbers events for this backend (default 'sequence'; see the ids note above). */
  readonly eventIds?: 'sequence' | 'revision'
  /**
   * Stores `events`, then prunes to `bounds`. An id already stored: overwritten ('sequence'), left as it is and the
   * new event skipped ('revision').
   */
  appendEvents(events: readonly ClusterEvent[], bounds: EventBounds): Promise<void>
  /** Every stored event, oldest (lowest id) first; a backend that reads locally (SQLite) answers at once. */
  listEvents(): ClusterEvent[] | Promise<ClusterEvent[]>
}

/** Events one store revision may number with revision ids (the multiplier). */
export const EVENTS_PER_REVISION = 65_536

/** The id of the `seq`-th event (0, 1, …) derived from store revision `revision`, for `eventIds: 'revision'`. */
export function revisionEventId(revision: number, seq: number): number {
  return revision * EVENTS_PER_REVISION + seq
}

/** Defaults of the bounds: the newest 10,000 events, none older than 24 h. */
export const DEFAULT_EVENT_COUNT = 10_000
export const DEFAULT_EVENT_AGE_MS = 24 * 3600_000

export function isEventHistory(x: unknown): x is EventHistory {
  const h = x as Partial<EventHistory> | null
  return typeof h?.appendEvents === 'function' && typeof h.listEvents === 'function'
}

/** An event as stored: its JSON. */
export function encodeEvent(e: ClusterEvent): string {
  return JSON.stringify(e)
}

/** A stored event read back, checked; a string says why it was refused (the reader skips it). */
export function decodeEvent(json: string): ClusterEvent | string {
  let v: Partial<ClusterEvent>
  try {
    v = JSON.parse(json) as Partial<ClusterEvent>
  } catch {
    return 'event: not JSON'
  }
  if (v === null || typeof v !== 'object') return 'event: not an object'
  if (!Number.isSafeInteger(v.id) || (v.id as number) < 1) return 'event: id must be a positive integer'
  if (!Number.isFinite(v.time) || !Number.isSafeInteger(v.revision)) return `event ${v.id}: time and revision must be numbers`
  if (!(EVENT_TYPES as readonly string[]).includes(v.type as string)) return `event ${v.id}: unknown type ${JSON.stringify(v.type)}`
  if (typeof v.action !== 'string' || typeof v.subject !== 'string' || typeof v.subjectId !== 'string') {
    return `event ${v.id}: action, subject and subjectId must be strings`
  }
  const attrs = v.attributes
  if (attrs === null || typeof attrs !== 'object' || Object.values(attrs).some((a) => typeof a !== 'string')) {
    return `event ${v.id}: attributes must be an object of strings`
  }
  return Object.freeze({
    id: v.id as number, time: v.time as number, revision: v.revision as number, type: v.type as ClusterEvent['type'],
    action: v.action, subject: v.subject, subjectId: v.subjectId, attributes: Object.freeze({ ...attrs }),
  })
}

/** Checks bounds once (a writer's options): integers ≥ 1. */
export function checkBounds(maxCount: number, maxAgeMs: number): string | undefined {
  if (!Number.isSafeInteger(maxCount) || maxCount < 1) return `event history: maxCount must be an integer ≥ 1 (got ${maxCount})`
  if (!Number.isSafeInteger(maxAgeMs) || maxAgeMs < 1) return `event history: maxAgeMs must be an integer ≥ 1 (got ${maxAgeMs})`
  return undefined
}
