/**
 * Catalog snapshot → zone: every name we answer, with its records pre-encoded as wire bytes (owner compressed to the
 * question name at offset 12), built once per catalog change. Pure: no clock, no I/O.
 *
 * Names per service S (full name, e.g. `app_web`), stack K, short name h (`web`), slot/task suffix n, domain D:
 *   S, S.K, h.K and each + `.D`                 → VIP (endpoint mode vip) or healthy task IPs (dnsrr, rotated)
 *   tasks.<any of those>                         → healthy task IPs (rotated)
 *   _<port>._tcp|_udp.<any of those>             → SRV 0 0 <target port> S.D, with S.D's addresses as additional
 *   task name (`S.n`) and + `.D`                 → that task's IP
 *   h, tasks.h, _p._tcp.h, h.n                   → S, for a querier whose own task is in stack K; for everyone when
 *                                                  h is unique among stacks and no service is called h
 *   a.b.c.d.in-addr.arpa (task IPs, VIPs)        → PTR task name.D / S.D
 *   alias a (a network's, ZoneService.aliases)   → as S: a, tasks.a, _<port>._tcp.a, each + `.D`
 * A name listed first wins when two services would produce the same name; an alias never takes a service's name.
 * The input is one network's view of the catalog (scope.ts projects it) or the whole catalog as it is.
 */
import type { CatalogService, CatalogSnapshot, Endpoint } from '../api/catalog.ts'
import { anyCidrContains, ipv4ToInt, type Cidr } from '../base/cidr.ts'
import { TYPE, encodeName, encodeRecord, ipv4Bytes, labelStarts, nameKey, soaRdata, srvRdata } from './wire.ts'

/** Records of one type at one name, concatenated. */
export interface RRSet {
  buf: Buffer
  /** Start offset of every record, then buf.length. */
  offs: number[]
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

function makeSet(records: Buffer[], rotate: boolean, extra: RRSet | null = null): RRSet {
  const offs: number[] = []
  let p = 0
  for (const r of records) { offs.push(p); p += r.length }
  offs.push(p)
  return { buf: Buffer.concat(records), offs, count: records.length, rotate: rotate && records.length > 1, next: 0, extra }
}

function byIp(a: string, b: string): number {
  return (ipv4ToInt(a) ?? -1) - (ipv4ToInt(b) ?? -1)
}

/** The in-addr.arpa name of an address (`4.3.2.1.in-addr.arpa`). */
function reverseName(ip: number): string {
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

class ZoneBuilder {
  readonly names = new Map<string, Entry>()
  readonly byStack = new Map<string, Map<string, Entry>>()

  entry(map: Map<string, Entry>, name: string, create: boolean): Entry | null {
    const key = nameKey(name)
    if (key === null) return null
    let e = map.get(key)
    if (!e && create) { e = { a: null, srv: null, ptr: null, soa: null, any: null }; map.set(key, e) }
    return e ?? null
  }

  /** Add records of one type at a name unless a name of higher priority already claimed it. */
  add(map: Map<string, Entry>, name: string, type: 'a' | 'srv' | 'ptr', set: RRSet | null, claimed: Set<string>): void {
    const key = nameKey(name)
    if (key === null) return
    if (claimed.has(key)) return
    const e = this.entry(map, name, true) as Entry
    if (type === 'ptr') {
      // Several addresses may legitimately point back to several names only for PTR: merge.
      if (set) e.ptr = e.ptr ? makeSet([e.ptr.buf, set.buf], false) : set
      return
    }
    if (e[type] === null) e[type] = set
  }
}

interface ServiceRecords {
  svcA: RRSet | null
  tasksA: RRSet | null
  srv: Map<string, RRSet>
  /** Task-name suffix (slot or node id) → A set of that task. */
  tasks: Map<string, RRSet | null>
}

function serviceRecords(s: CatalogService, opts: ZoneOptions): ServiceRecords {
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

/** Names of a service under `base` (one of its names): base, tasks.base, SRV names; each also under the domain. */
function addServiceNames(b: ZoneBuilder, map: Map<string, Entry>, base: string, r: ServiceRecords, domain: string | null, claimed: Set<string>): void {
  const variants = domain ? [base, `${base}.${domain}`] : [base]
  for (const n of variants) {
    b.add(map, n, 'a', r.svcA, claimed)
    b.add(map, `tasks.${n}`, 'a', r.tasksA, claimed)
    for (const [label, set] of r.srv) b.add(map, `${label}.${n}`, 'srv', set, claimed)
  }
}

/** Build the zone for a snapshot. Cost is linear in services + endpoints. */
export function buildZone(snap: ZoneInput | CatalogSnapshot, opts: ZoneOptions): Zone {
  const b = new ZoneBuilder()
  const domain = opts.domain
  const ttl = opts.ttlSec
  const services: ZoneService[] = snap.services.slice().sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
  const recs = new Map<CatalogService, ServiceRecords>()
  for (const s of services) recs.set(s, serviceRecords(s, opts))
  const none = new Set<string>()

  // Phase 1: full and stack-qualified service names (claimed before task names and short names).
  for (const s of services) {
    const r = recs.get(s) as ServiceRecords
    addServiceNames(b, b.names, s.name, r, domain, none)
    if (s.stack) {
      addServiceNames(b, b.names, `${s.name}.${s.stack}`, r, domain, none)
      if (s.shortName !== s.name) addServiceNames(b, b.names, `${s.shortName}.${s.stack}`, r, domain, none)
    }
  }
  const phase1 = new Set(b.names.keys())
  // Phase 1b: aliases on this network (never over a service's own name).
  for (const s of services) {
    const r = recs.get(s) as ServiceRecords
    for (const alias of s.aliases ?? []) addServiceNames(b, b.names, alias, r, domain, phase1)
  }
  // Phase 2: task names.
  for (const s of services) {
    const r = recs.get(s) as ServiceRecords
    for (const [suffix, set] of r.tasks) {
      b.add(b.names, `${s.name}.${suffix}`, 'a', set, phase1)
      b.add(b.names, `${s.name}.${suffix}.${domain}`, 'a', set, phase1)
    }
  }
  // Phase 3: short names, per stack and (when unique) for everyone.
  const shortCount = new Map<string, number>()
  for (const s of services) if (s.stack && s.shortName !== s.name) shortCount.set(s.shortName, (shortCount.get(s.shortName) ?? 0) + 1)
  const globalClaimed = new Set(b.names.keys())
  for (const s of services) {
    if (!s.stack || s.shortName === s.name) continue
    const r = recs.get(s) as ServiceRecords
    let map = b.byStack.get(s.stack)
    if (!map) { map = new Map(); b.byStack.set(s.stack, map) }
    const targets: Array<[Map<string, Entry>, Set<string>]> = [[map, none]]
    if (shortCount.get(s.shortName) === 1) targets.push([b.names, globalClaimed])
    for (const [m, claimed] of targets) {
      addServiceNames(b, m, s.shortName, r, null, claimed)
      for (const [suffix, set] of r.tasks) b.add(m, `${s.shortName}.${suffix}`, 'a', set, claimed)
    }
  }
  // Reverse names.
  const ipStack = new Map<string, string>()
  for (const s of services) {
    if (s.vip) {
      const ip = ipv4ToInt(s.vip)
      const target = encodeName(`${s.name}.${domain}`)
      if (ip !== null && target) b.add(b.names, reverseName(ip), 'ptr', makeSet([encodeRecord(null, TYPE.PTR, ttl, target)], false), none)
    }
    for (const e of s.endpoints) {
      if (s.stack) ipStack.set(e.ip, s.stack)
      const ip = ipv4ToInt(e.ip)
      const target = encodeName(`${e.taskName}.${domain}`)
      if (ip !== null && target) b.add(b.names, reverseName(ip), 'ptr', makeSet([encodeRecord(null, TYPE.PTR, ttl, target)], false), none)
    }
  }
  // The apex (SOA) and empty non-terminals inside the domain (NODATA rather than NXDOMAIN).
  const domainWire = encodeName(domain) as Buffer
  const domainKey = nameKey(domain) as string
  const mname = encodeName(`ns.${domain}`) as Buffer
  const rname = encodeName(`hostmaster.${domain}`) as Buffer
  const soa = soaRdata(mname, rname, snap.revision, 3600, 600, 86400, ttl)
  const apex = b.entry(b.names, domain, true) as Entry
  apex.soa = makeSet([encodeRecord(null, TYPE.SOA, ttl, soa)], false)
  for (const key of [...b.names.keys()]) {
    if (!key.endsWith(domainKey) || key === domainKey) continue
    for (const start of labelStarts(key).slice(1)) {
      const parent = key.slice(start)
      if (parent === domainKey) break
      if (!b.names.has(parent)) b.names.set(parent, { a: null, srv: null, ptr: null, soa: null, any: null })
    }
  }
  for (const map of [b.names, ...b.byStack.values()]) {
    for (const e of map.values()) {
      const sets = [e.a, e.srv, e.ptr, e.soa].filter((s): s is RRSet => s !== null)
      e.any = sets.length === 0 ? null : sets.length === 1 ? sets[0] as RRSet
        : makeSet(sets.flatMap((s) => Array.from({ length: s.count }, (_, i) => s.buf.subarray(s.offs[i], s.offs[i + 1]))), false)
    }
  }
  return {
    revision: snap.revision,
    names: b.names,
    byStack: b.byStack,
    ipStack,
    domainKey,
    negSoa: encodeRecord(domainWire, TYPE.SOA, ttl, soa),
    reverseCidrs: opts.reverseCidrs,
  }
}

const ARPA_KEY = '\x07in-addr\x04arpa'

/** True when a missing name is ours to deny (NXDOMAIN): inside the domain, or a full reverse name in our ranges. */
export function ownsMissing(zone: Zone, key: string): boolean {
  const dk = zone.domainKey
  if (key.length >= dk.length && key.endsWith(dk)) {
    if (key.length === dk.length) return true
    for (let i = 0; i < key.length; i += 1 + key.charCodeAt(i)) if (i === key.length - dk.length) return true
    return false
  }
  if (!key.endsWith(ARPA_KEY) || zone.reverseCidrs.length === 0) return false
  const octets: number[] = []
  let i = 0
  const stop = key.length - ARPA_KEY.length
  while (i < stop) {
    const l = key.charCodeAt(i)
    const s = key.slice(i + 1, i + 1 + l)
    if (!/^\d{1,3}$/.test(s) || Number(s) > 255) return false
    octets.push(Number(s))
    i += 1 + l
  }
  if (octets.length !== 4 || i !== stop) return false
  const ip = ((((octets[3] as number) * 256 + (octets[2] as number)) * 256 + (octets[1] as number)) * 256) + (octets[0] as number)
  return anyCidrContains(zone.reverseCidrs, ip)
}

/** The records at an entry for a query type (ANY: everything). */
export function recordsFor(e: Entry, qtype: number): RRSet | null {
  switch (qtype) {
    case TYPE.A: return e.a
    case TYPE.SRV: return e.srv
    case TYPE.PTR: return e.ptr
    case TYPE.SOA: return e.soa
    case TYPE.ANY: return e.any
    default: return null
  }
}
