/**
 * The etcd key layout of EtcdStore and its codec (pure). Under one prefix (default `/mesh/`):
 *
 *   <prefix>rev                 "<revision> <commit id>": the store revision, rewritten by every commit; every
 *                               commit compares its mod_revision, so commits are serialised as SQLite's are
 *   <prefix>meta/<key>          a metadata value (cluster id, join tokens, the wrapped data key), as a string
 *   <prefix><kind>/<id>         one record as JSON: kind is node, service, task, secret, config or network
 *   <prefix>events/<id>         the event history (events.ts in this folder); not a record: parsed as foreign
 *
 * Values are exactly the JSON SqliteStore keeps (secrets stay sealed; nothing is decrypted here). Everything read
 * back is checked: a value that does not parse, lacks what the store indexes on, or names another id than its key
 * is refused with a reason, and the caller logs it and skips the key.
 */
import { OBJECT_KINDS, checkRecord, type StoreKind } from '../store.ts'
import { readService, readTask } from '../legacy-records.ts'
import type { ServiceRecord, TaskRecord } from '../../api/types.ts'

export const RECORD_KINDS: readonly StoreKind[] = ['node', 'service', 'task', ...OBJECT_KINDS]

export type ParsedKey =
  | { type: 'rev' }
  | { type: 'meta'; key: string }
  | { type: 'record'; kind: StoreKind; id: string }
  | { type: 'foreign' }

/** A key prefix must start and end with `/` (`/mesh/`, `/clusters/prod/mesh/`). */
export function checkPrefix(prefix: string): string | undefined {
  if (!/^\/([A-Za-z0-9._-]+\/)+$/.test(prefix)) return `prefix must look like /name/ (got ${JSON.stringify(prefix)})`
  return undefined
}

export class KeyLayout {
  readonly prefix: string
  readonly rev: string

  constructor(prefix: string) {
    this.prefix = prefix
    this.rev = `${prefix}rev`
  }

  meta(key: string): string {
    return `${this.prefix}meta/${key}`
  }

  record(kind: StoreKind, id: string): string {
    return `${this.prefix}${kind}/${id}`
  }

  /** What a key under the prefix holds. */
  parse(key: string): ParsedKey {
    if (!key.startsWith(this.prefix)) return { type: 'foreign' }
    const rest = key.slice(this.prefix.length)
    if (rest === 'rev') return { type: 'rev' }
    const slash = rest.indexOf('/')
    if (slash <= 0 || slash === rest.length - 1) return { type: 'foreign' }
    const head = rest.slice(0, slash)
    const tail = rest.slice(slash + 1)
    if (head === 'meta') return { type: 'meta', key: tail }
    if ((RECORD_KINDS as readonly string[]).includes(head)) return { type: 'record', kind: head as StoreKind, id: tail }
    return { type: 'foreign' }
  }
}

/** The value of the rev key: the store revision and the id of the commit that wrote it. */
export function encodeRev(revision: number, commitId: string): string {
  return `${revision} ${commitId}`
}

export function decodeRev(value: string): { revision: number; commitId: string } | string {
  const m = /^(\d{1,15}) (\S{1,100})$/.exec(value)
  if (!m) return `rev: not "<revision> <commit id>" (got ${JSON.stringify(value.slice(0, 60))})`
  return { revision: Number(m[1]), commitId: m[2] as string }
}

/**
 * A record read from etcd, checked and normalized as SqliteStore's readers normalize (legacy-records.ts); a string
 * says why it was refused.
 */
export function decodeRecord(kind: StoreKind, id: string, json: string): { id: string } | string {
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch {
    return `${kind} ${id}: not JSON`
  }
  try {
    checkRecord(kind, value)
  } catch (err) {
    return (err as Error).message
  }
  const rec = value as { id: string }
  if (rec.id !== id) return `${kind} ${id}: the record's id is ${JSON.stringify(rec.id)}`
  const bad = SHAPES[kind].find(([, check]) => !check(rec))
  if (bad) return `${kind} ${id}: ${bad[0]}`
  if (kind === 'service') return readService(rec as ServiceRecord)
  if (kind === 'task') return readTask(rec as TaskRecord)
  return rec
}

const obj = (v: unknown): boolean => v !== null && typeof v === 'object' && !Array.isArray(v)
type Check = [string, (r: any) => boolean]

/**
 * What the manager's core reads without checking, per kind (beyond checkRecord's ids and names): a value without
 * it would throw deep inside a reconcile pass, so it is refused here. Fields every mesh version has written.
 */
const SHAPES: Record<StoreKind, Check[]> = {
  node: [['resources must be an object', (r) => obj(r.resources)], ['role must be a string', (r) => typeof r.role === 'string']],
  service: [['spec must be an object with an image and a mode', (r) => obj(r.spec) && typeof r.spec.image === 'string' && obj(r.spec.mode)]],
  task: [
    ['spec must be an object', (r) => obj(r.spec)],
    ['status must be an object with a state', (r) => obj(r.status) && typeof r.status.state === 'string'],
    ['desiredState must be a string', (r) => typeof r.desiredState === 'string'],
  ],
  secret: [['sealed must be a string', (r) => typeof r.sealed === 'string']],
  config: [['spec must be an object', (r) => obj(r.spec)]],
  network: [['subnet must be a string', (r) => typeof r.subnet === 'string'], ['slices must be an object', (r) => obj(r.slices)]],
}

/** The name a record is unique by within its kind (hostname, spec.name); undefined for tasks. */
export function uniqueName(kind: StoreKind, rec: unknown): string | undefined {
  if (kind === 'task') return undefined
  if (kind === 'node') return (rec as { hostname: string }).hostname
  return (rec as { spec: { name: string } }).spec.name
}

/** How lists of a kind are ordered: nodes by hostname, tasks by service id, the rest by name; then by id. */
export function sortKey(kind: StoreKind, rec: unknown): string {
  if (kind === 'task') return (rec as TaskRecord).serviceId
  return uniqueName(kind, rec) as string
}
