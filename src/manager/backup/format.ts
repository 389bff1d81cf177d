/**
 * The backup file (pure: no I/O): one gzip stream holding two lines of JSON, the header and the body.
 *
 *   {"format":"mesh-backup","version":1,"meshVersion":"0.1.0","clusterId":"…","revision":42,
 *    "createdAt":"2026-12-07T11:00:00.000Z","records":17,"kek":false,"sha256":"<hex of the body line's bytes>"}
 *   {"meta":{"cluster_id":"…",…},"node":[…],"service":[…],"task":[…],"secret":[…],"config":[…],"network":[…]}
 *
 * The body is the whole store at one revision, records exactly as the store keeps them (secrets sealed by the data
 * key; the data key wrapped by the KEK in meta `vault_data_key`). With `--with-kek` the body also has `kek`: the
 * KEK as `<data-dir>/vault/kek` keeps it (plain, or sealed by the unlock key under autolock).
 * Reading is for hostile input: bounded gunzip, checksum, version, then every record through the checks the
 * stores apply when they read one (etcd-store/keys.ts decodeRecord), ids and unique names once each per kind.
 */
import { createHash } from 'node:crypto'
import { gunzipSync, gzipSync } from 'node:zlib'
import { RESERVED_META_KEYS, type StoreKind } from '../store.ts'
import { RECORD_KINDS, decodeRecord, uniqueName } from '../etcd-store/keys.ts'
import type { KekContent } from '../vault/key-file.ts'
import { BackupError } from './errors.ts'

export const BACKUP_FORMAT = 'mesh-backup'
export const BACKUP_VERSION = 1
/** The largest store a backup file may unpack to (a gzip bomb is refused at this bound). */
export const MAX_BACKUP_BYTES = 1024 * 1024 * 1024

export interface BackupHeader {
  format: typeof BACKUP_FORMAT
  version: number
  meshVersion: string
  clusterId: string
  /** The store revision the snapshot was read at. */
  revision: number
  /** ISO 8601. */
  createdAt: string
  /** Records in the body (every kind). */
  records: number
  /** Whether the body holds the KEK. */
  kek: boolean
  /** sha256 (hex) of the body line. */
  sha256: string
}

export type BackupRecords = Record<StoreKind, { id: string }[]>

export interface Backup {
  header: BackupHeader
  /** Every metadata key the store keeps for the cluster (not the store's own: revision, schema version). */
  meta: Record<string, string>
  records: BackupRecords
  kek?: KekContent
}

export interface SnapshotInput {
  meshVersion: string
  revision: number
  createdAt: string
  meta: Record<string, string>
  records: BackupRecords
  kek?: KekContent
}

/** The file's bytes (gzip) and its header. */
export function encodeBackup(s: SnapshotInput): { header: BackupHeader; bytes: Buffer } {
  const body = Buffer.from(JSON.stringify({ meta: s.meta, ...s.records, ...(s.kek ? { kek: s.kek } : {}) }), 'utf8')
  const header: BackupHeader = {
    format: BACKUP_FORMAT, version: BACKUP_VERSION, meshVersion: s.meshVersion, clusterId: s.meta.cluster_id ?? '',
    revision: s.revision, createdAt: s.createdAt, records: RECORD_KINDS.reduce((n, k) => n + s.records[k].length, 0),
    kek: s.kek !== undefined, sha256: sha256(body),
  }
  const text = Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`, 'utf8'), body, Buffer.from('\n')])
  return { header, bytes: gzipSync(text) }
}

/** Checks the whole file; throws BackupError with one line naming the first problem found. */
export function decodeBackup(bytes: Buffer, where = 'backup'): Backup {
  let text: Buffer
  try {
    text = gunzipSync(bytes, { maxOutputLength: MAX_BACKUP_BYTES })
  } catch (err) {
    throw new BackupError(`${where}: not a mesh backup, or damaged (${(err as Error).message})`, { cause: err })
  }
  const nl = text.indexOf(0x0a)
  if (nl < 0) throw new BackupError(`${where}: not a mesh backup, or truncated (no header line)`)
  const header = parseJson(text.subarray(0, nl), `${where}: header`) as Partial<BackupHeader> | null
  if (!isObject(header) || header.format !== BACKUP_FORMAT) throw new BackupError(`${where}: not a mesh backup (no "${BACKUP_FORMAT}" header)`)
  if (header.version !== BACKUP_VERSION) {
    throw new BackupError(`${where}: backup format version ${JSON.stringify(header.version)} is not supported (this mesh reads version ${BACKUP_VERSION})`)
  }
  let bodyBytes = text.subarray(nl + 1)
  if (bodyBytes.at(-1) === 0x0a) bodyBytes = bodyBytes.subarray(0, -1)
  if (typeof header.sha256 !== 'string' || sha256(bodyBytes) !== header.sha256) {
    throw new BackupError(`${where}: checksum mismatch: the file is damaged or was changed`)
  }
  for (const f of ['meshVersion', 'clusterId', 'createdAt'] as const) {
    if (typeof header[f] !== 'string') throw new BackupError(`${where}: header: ${f} must be a string`)
  }
  if (!Number.isSafeInteger(header.revision) || (header.revision as number) < 0) throw new BackupError(`${where}: header: revision must be a whole number`)
  const body = parseJson(bodyBytes, `${where}: body`)
  if (!isObject(body)) throw new BackupError(`${where}: body must be an object`)
  const meta = checkMeta(body.meta, where)
  const records = {} as BackupRecords
  let count = 0
  for (const kind of RECORD_KINDS) {
    records[kind] = checkRecords(kind, body[kind], where)
    count += records[kind].length
  }
  if (count !== header.records) throw new BackupError(`${where}: header says ${String(header.records)} records, the body holds ${count}`)
  if ((meta.cluster_id ?? '') !== header.clusterId) throw new BackupError(`${where}: the header's cluster id is not the one in the body`)
  const kek = body.kek === undefined ? undefined : checkKek(body.kek, where)
  if ((kek !== undefined) !== (header.kek === true)) throw new BackupError(`${where}: header and body disagree on whether the KEK is included`)
  return { header: header as BackupHeader, meta, records, ...(kek ? { kek } : {}) }
}

function checkMeta(v: unknown, where: string): Record<string, string> {
  if (!isObject(v)) throw new BackupError(`${where}: meta must be an object`)
  const out: Record<string, string> = Object.create(null) as Record<string, string>
  for (const [k, value] of Object.entries(v)) {
    // Keys as mesh writes them (cluster_id, vault_data_key …): never __proto__, a path or the store's own.
    if (!META_KEY.test(k) || RESERVED_META_KEYS.includes(k)) throw new BackupError(`${where}: meta key ${JSON.stringify(k.slice(0, 60))} is not allowed`)
    if (typeof value !== 'string') throw new BackupError(`${where}: meta "${k}" must be a string`)
    out[k] = value
  }
  return out
}

const META_KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/

function checkRecords(kind: StoreKind, v: unknown, where: string): { id: string }[] {
  if (!Array.isArray(v)) throw new BackupError(`${where}: ${kind} must be a list`)
  const ids = new Set<string>()
  const names = new Set<string>()
  const out: { id: string }[] = []
  for (const rec of v) {
    const id = isObject(rec) && typeof rec.id === 'string' ? rec.id : ''
    if (id === '' || id.length > 200 || id.includes('/')) throw new BackupError(`${where}: ${kind} record: id must be a non-empty string without '/'`)
    const read = decodeRecord(kind, id, JSON.stringify(rec))
    if (typeof read === 'string') throw new BackupError(`${where}: ${read}`)
    if (ids.has(id)) throw new BackupError(`${where}: ${kind} ${id} appears twice`)
    ids.add(id)
    const name = uniqueName(kind, rec)
    if (name !== undefined) {
      if (names.has(name)) throw new BackupError(`${where}: two ${kind} records are named ${JSON.stringify(name)}`)
      names.add(name)
    }
    // As stored: the store normalises legacy shapes when it reads, so the record goes back as it was kept.
    out.push(rec as { id: string })
  }
  return out
}

function checkKek(v: unknown, where: string): KekContent {
  if (isObject(v) && v.version === 1 && Object.keys(v).length === 2) {
    if (typeof v.kek === 'string' && v.kek !== '') return { version: 1, kek: v.kek }
    if (typeof v.locked === 'string' && v.locked !== '') return { version: 1, locked: v.locked }
  }
  throw new BackupError(`${where}: kek must be the KEK as <data-dir>/vault/kek keeps it`)
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch {
    throw new BackupError(`${what} is not JSON (damaged or truncated)`)
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex')
}
