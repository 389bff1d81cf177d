/**
 * The records of a zone (zone.ts) and of each service, pre-encoded as wire bytes (owner compressed to the question
 * name at offset 12). Pure: no clock, no I/O.
 */
import type { CatalogService, Endpoint } from '../api/catalog.ts'
import { ipv4ToInt, type Cidr } from '../base/cidr.ts'
import { TYPE, encodeName, encodeRecord, ipv4Bytes, srvRdata } from './wire.ts'

/**
 * Records of one type at one name, concatenated. The bytes are kept as a one-byte (latin1) string, not a Buffer: a
 * zone holds ~24,000 sets at 10,000 endpoints, and a small Buffer costs a ~100-byte typed-array object plus a share
 * of a 64 KB pool slab that any surviving record keeps alive (after churn ~8 MB of slabs for ~1 MB of records);
 * a string is 16 bytes of header beside its bytes and V8's collector compacts it. Answers copy it with
 * `out.write(bytes, pos, 'latin1')` (bytes 0-255 round-trip unchanged).
 */
export interface RRSet {
  bytes: string
  /** Start offset of every record, then bytes.length (shared and frozen for one-record sets: never written). */
  offs: readonly number[]
  count: number
  /** Rotate the start record per answer (task address lists). */
  rotate: boolean
  /** Where the next rotated answer starts. */
  next: number
  /** Records for the additional section (addresses of SRV targets). */
  extra: RRSet | null
}

export interface Entry {
  a: RRSet | null
  srv: RRSet | null
  ptr: RRSet | null
  soa: RRSet | null
  /** Everything at this name, for qtype ANY. */
  any: RRSet | null
}

export interface Zone {
  revision: number
  /** Names everyone sees, by key (lower-cased wire form). */
  names: Map<string, Entry>
  /** Short names as seen from inside a stack. */
  byStack: Map<string, Map<string, Entry>>
  /** Task IP → its service's stack (whose short names the querier sees). */
  ipStack: Map<string, string>
  /** Key of the domain (`\x04mesh`). */
  domainKey: string
  /** The SOA record (full owner name) for the authority section of negative answers. */
  negSoa: Buffer
  reverseCidrs: readonly Cidr[]
}

/** A service as a zone sees it: on one network, with that network's VIP, addresses and aliases. */
export interface ZoneService extends CatalogService {
  aliases?: readonly string[]
}

/** What a zone is built from: a catalog snapshot, or one network's projection of it. */
export interface ZoneInput {
  revision: number
  services: readonly ZoneService[]
}

export interface ZoneOptions {
  /** Lower-case with trailing dot. */
  domain: string
  ttlSec: number
  reverseCidrs: readonly Cidr[]
}

export function isHealthy(e: Endpoint): boolean {
  return e.state === 'running' && (e.health === 'healthy' || e.health === 'none')
}

/** `[0, n]` per record length n: one-record sets (most of a zone's) share their offsets. */
const singleOffs: Array<readonly number[] | undefined> = []

/** A set from encoded records (wire bytes as Buffers, or as latin1 strings taken from other sets). */
export function makeSet(records: ReadonlyArray<Buffer | string>, rotate: boolean, extra: RRSet | null = null): RRSet {
  let bytes = ''
  let offs: readonly number[]
  if (records.length === 1) {
    const r = records[0] as Buffer | string
    bytes = typeof r === 'string' ? r : r.toString('latin1')
    offs = singleOffs[bytes.length] ??= Object.freeze([0, bytes.length])
  } else {
    const o: number[] = []
    const parts: string[] = []
    let p = 0
    for (const r of records) {
      const part = typeof r === 'string' ? r : r.toString('latin1')
      o.push(p)
      p += part.length
      parts.push(part)
    }
    o.push(p)
    offs = o
    bytes = parts.join('') // one sequential string (`+=` would keep a tree of parts)
  }
  return { bytes, offs, count: records.length, rotate: rotate && records.length > 1, next: 0, extra }
}

function byIp(a: string, b: string): number {
  return (ipv4ToInt(a) ?? -1) - (ipv4ToInt(b) ?? -1)
}

/** The in-addr.arpa name of an address (`4.3.2.1.in-addr.arpa`). */
export function reverseName(ip: number): string {
  return `${ip & 255}.${(ip >>> 8) & 255}.${(ip >>> 16) & 255}.${(ip >>> 24) & 255}.in-addr.arpa`
}

/** A records (owner = question name) for addresses; null when there are none. */
function aSet(ips: readonly string[], ttl: number, rotate: boolean): RRSet | null {
  const recs: Buffer[] = []
  for (const ip of ips) {
    const b = ipv4Bytes(ip)
    if (b) recs.push(encodeRecord(null, TYPE.A, ttl, b))
  }
  return recs.length === 0 ? null : makeSet(recs, rotate)
}

/** The endpoint a task name answers with: running before stopping, healthy before not. */
function bestEndpoint(eps: Endpoint[]): Endpoint {
  const rank = (e: Endpoint) => (e.state === 'running' ? 0 : 2) + (isHealthy(e) || e.state !== 'running' ? 0 : 1)
  return eps.slice().sort((x, y) => rank(x) - rank(y))[0] as Endpoint
}

export interface ServiceRecords {
  svcA: RRSet | null
  tasksA: RRSet | null
  srv: Map<string, RRSet>
  /** Task-name suffix (slot or node id) → A set of that task. */
  tasks: Map<string, RRSet | null>
}

export function serviceRecords(s: CatalogService, opts: ZoneOptions): ServiceRecords {
  const ttl = opts.ttlSec
  const healthyIps = s.endpoints.filter(isHealthy).map((e) => e.ip).sort(byIp)
  const tasksA = aSet(healthyIps, ttl, true)
  const svcA = s.endpointMode === 'vip' && s.vip ? aSet([s.vip], ttl, false) : tasksA
  const srv = new Map<string, RRSet>()
  const target = encodeName(`${s.name}.${opts.domain}`)
  if (target) {
    const addrs = s.endpointMode === 'vip' && s.vip ? [s.vip] : healthyIps
    const extraRecs = addrs.map((ip) => ipv4Bytes(ip)).filter((b): b is Buffer => b !== null)
      .map((b) => encodeRecord(target, TYPE.A, ttl, b))
    const extra = extraRecs.length ? makeSet(extraRecs, false) : null
    for (const p of s.ports) {
      const label = `_${p.target}._${p.protocol}`
      if (srv.has(label)) continue
      srv.set(label, makeSet([encodeRecord(null, TYPE.SRV, ttl, srvRdata(0, 0, p.target, target))], false, extra))
    }
  }
  const byName = new Map<string, Endpoint[]>()
  for (const e of s.endpoints) {
    const list = byName.get(e.taskName)
    if (list) list.push(e)
    else byName.set(e.taskName, [e])
  }
  const tasks = new Map<string, RRSet | null>()
  for (const [taskName, eps] of byName) {
    const suffix = taskName.startsWith(`${s.name}.`) ? taskName.slice(s.name.length + 1) : taskName
    tasks.set(suffix, aSet([bestEndpoint(eps).ip], ttl, false))
  }
  return { svcA, tasksA, srv, tasks }
}

