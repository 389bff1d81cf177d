/**
 * The zone kept up to date per changed service (pure: no clock, no I/O). buildZone (zone.ts) was the whole
 * catalog → zone pass on every change: at 1,000 services / 10,000 endpoints ~35 ms of the event loop per
 * snapshot. Here each service contributes its names ("claims", computed once per service object: the catalog
 * shares unchanged services between snapshots) and only the names a changed service touches are resolved again.
 *
 * Resolution reproduces buildZone's order exactly, so a zone updated through any sequence of snapshots answers
 * byte for byte what a zone built from the last one does (test/unit/dns/zone-state.test.ts): the contributions at
 * a name are ordered by phase (1 service names, 2 aliases, 3 task names, 4 short names, 5 PTR), then by the
 * service's place in the name-sorted catalog, then by their order within the service; the first non-empty record
 * set of a type wins, PTR sets are merged in that order; an alias or task name is dropped where a phase-1 name
 * exists, a short name where any name of phases 1-3 exists or when that short name is not unique among stacks.
 * Empty non-terminals inside the domain are counted per real name below them.
 */
import type { CatalogService } from '../api/catalog.ts'
import { ipv4ToInt } from '../base/cidr.ts'
import { TYPE, encodeName, encodeRecord, labelStarts, nameKey, soaRdata } from './wire.ts'
import { makeSet, reverseName, serviceRecords, type Entry, type RRSet, type ServiceRecords, type Zone, type ZoneInput, type ZoneOptions, type ZoneService } from './zone-records.ts'

type RecType = 'a' | 'srv' | 'ptr'
const P_NAME = 1
const P_ALIAS = 2
const P_TASK = 3
const P_SHORT = 4
const P_PTR = 5

/**
 * One name a service occurrence contributes, filed in the name maps as is (no wrapper): `w` the occurrence, `seq` its
 * place in the list it is filed from (w.names, or w.stackKeys for a stack map's copy).
 */
interface Claim { key: string; phase: number; type: RecType; set: RRSet | null; w: Svc; seq: number }
/** What a name map holds at a key: one claim (most names), or several in filing order. */
type Claims = Claim | Claim[]

/** One occurrence of a service in the catalog, with what it contributes. */
interface Svc {
  s: ZoneService
  rank: number
  /** Keys in `names` (phases 1-5, in order), the stack map's keys (phase 4 copies), task addresses (ipStack). */
  names: Claim[]
  stackKeys: Claim[]
  ips: string[]
}

interface IpStack { w: Svc; seq: number; stack: string }

const EMPTY_ENTRY = (): Entry => ({ a: null, srv: null, ptr: null, soa: null, any: null })
/** The entry of an empty non-terminal (a name with real names below it only): one shared, never written. */
const ENT: Entry = Object.freeze(EMPTY_ENTRY())

function byOrder(x: Claim, y: Claim): number {
  return x.phase - y.phase || x.w.rank - y.w.rank || x.seq - y.seq
}

function fileClaim(map: Map<string, Claims>, c: Claim): void {
  const v = map.get(c.key)
  if (v === undefined) map.set(c.key, c)
  else if (Array.isArray(v)) v.push(c)
  else map.set(c.key, [v, c])
}

/** Remove every claim of `w` at `key`. */
function dropClaims(map: Map<string, Claims>, key: string, w: Svc): void {
  const v = map.get(key)
  if (v === undefined) return
  if (!Array.isArray(v)) {
    if (v.w === w) map.delete(key)
    return
  }
  const kept = v.filter((x) => x.w !== w)
  if (kept.length === 0) map.delete(key)
  else map.set(key, kept.length === 1 ? kept[0] as Claim : kept)
}

/** The claims at a key, sorted by byOrder. */
function claimsAt(map: Map<string, Claims> | undefined, key: string): readonly Claim[] | null {
  const v = map?.get(key)
  if (v === undefined) return null
  if (!Array.isArray(v)) return [v]
  if (v.length > 1) v.sort(byOrder)
  return v
}

/** A service occurrence with its claims (w set, seq their index in each list). */
function occurrence(s: ZoneService, opts: ZoneOptions): Svc {
  const w: Svc = { s, rank: 0, names: [], stackKeys: [], ips: s.stack ? s.endpoints.map((e) => e.ip) : [] }
  const c = claims(s, opts)
  // Literals, not spreads: one tight shape for every claim (a spread's object keeps spare property slots).
  w.names = c.names.map((x, seq) => ({ key: x.key, phase: x.phase, type: x.type, set: x.set, w, seq }))
  w.stackKeys = c.stackKeys.map((x, seq) => ({ key: x.key, phase: x.phase, type: x.type, set: x.set, w, seq }))
  return w
}

type Draft = Omit<Claim, 'w' | 'seq'>

function claims(s: ZoneService, opts: ZoneOptions): { names: Draft[]; stackKeys: Draft[] } {
  const r: ServiceRecords = serviceRecords(s, opts)
  const domain = opts.domain
  const out: Draft[] = []
  const push = (list: Draft[], name: string, phase: number, type: RecType, set: RRSet | null) => {
    const key = nameKey(name)
    if (key !== null) list.push({ key, phase, type, set })
  }
  const serviceNames = (list: Draft[], base: string, phase: number, dom: string | null) => {
    for (const n of dom ? [base, `${base}.${dom}`] : [base]) {
      push(list, n, phase, 'a', r.svcA)
      push(list, `tasks.${n}`, phase, 'a', r.tasksA)
      for (const [label, set] of r.srv) push(list, `${label}.${n}`, phase, 'srv', set)
    }
  }
  serviceNames(out, s.name, P_NAME, domain)
  if (s.stack) {
    serviceNames(out, `${s.name}.${s.stack}`, P_NAME, domain)
    if (s.shortName !== s.name) serviceNames(out, `${s.shortName}.${s.stack}`, P_NAME, domain)
  }
  for (const alias of s.aliases ?? []) serviceNames(out, alias, P_ALIAS, domain)
  for (const [suffix, set] of r.tasks) {
    push(out, `${s.name}.${suffix}`, P_TASK, 'a', set)
    push(out, `${s.name}.${suffix}.${domain}`, P_TASK, 'a', set)
  }
  const stackKeys: Draft[] = []
  if (s.stack && s.shortName !== s.name) {
    serviceNames(stackKeys, s.shortName, P_SHORT, null)
    for (const [suffix, set] of r.tasks) push(stackKeys, `${s.shortName}.${suffix}`, P_SHORT, 'a', set)
    out.push(...stackKeys)
  }
  const ttl = opts.ttlSec
  const ptr = (ip: number | null, name: string) => {
    const target = encodeName(name)
    if (ip !== null && target) push(out, reverseName(ip), P_PTR, 'ptr', makeSet([encodeRecord(null, TYPE.PTR, ttl, target)], false))
  }
  if (s.vip) ptr(ipv4ToInt(s.vip), `${s.name}.${domain}`)
  for (const e of s.endpoints) ptr(ipv4ToInt(e.ip), `${e.taskName}.${domain}`)
  return { names: out, stackKeys }
}

function withAny(e: Entry): Entry {
  const sets = [e.a, e.srv, e.ptr, e.soa].filter((s): s is RRSet => s !== null)
  e.any = sets.length === 0 ? null : sets.length === 1 ? sets[0] as RRSet
    : makeSet(sets.flatMap((s) => Array.from({ length: s.count }, (_, i) => s.bytes.slice(s.offs[i], s.offs[i + 1]))), false)
  return e
}

export class ZoneState {
  readonly zone: Zone
  readonly #opts: ZoneOptions
  readonly #byObj = new Map<CatalogService, Svc[]>()
  /** The occurrences in catalog order, as of the last update. */
  #order: Svc[] = []
  readonly #names = new Map<string, Claims>()
  readonly #stacks = new Map<string, Map<string, Claims>>()
  readonly #ips = new Map<string, IpStack[]>()
  /** Stacked services by short name (a short name is global only when one service has it). */
  readonly #short = new Map<string, Set<Svc>>()
  readonly #entRefs = new Map<string, number>()
  #dirty = new Set<string>()
  #dirtyStack = new Map<string, Set<string>>()
  #dirtyIps = new Set<string>()

  constructor(opts: ZoneOptions) {
    this.#opts = opts
    const domainKey = nameKey(opts.domain) as string
    this.zone = { revision: -1, names: new Map(), byStack: new Map(), ipStack: new Map(), domainKey, negSoa: Buffer.alloc(0), reverseCidrs: opts.reverseCidrs }
  }

  /** Follow `input`: services not seen before (by object) are added, those gone removed. Returns the zone. */
  update(input: ZoneInput): Zone {
    // Match occurrences by object (a service listed twice is two occurrences); what is left over is gone.
    const old = this.#byObj
    const taken = new Map<CatalogService, number>()
    const next: Svc[] = []
    const added: Svc[] = []
    for (const s of input.services) {
      const n = taken.get(s) ?? 0
      let w = old.get(s)?.[n]
      if (w === undefined) {
        w = occurrence(s, this.#opts)
        added.push(w)
        const list = old.get(s)
        if (list) list.push(w)
        else old.set(s, [w])
      }
      taken.set(s, n + 1)
      next.push(w)
    }
    for (const [s, ws] of old) {
      const n = taken.get(s) ?? 0
      if (n === ws.length) continue
      for (const w of ws.slice(n)) this.#remove(w)
      if (n === 0) old.delete(s)
      else ws.length = n
    }
    // Ranks (place in the name-sorted catalog) depend on the sequence of names only: when it is the same, a
    // replaced service takes the rank of the one it replaced.
    const prev = this.#order
    if (prev.length === next.length && next.every((w, i) => w.s.name === (prev[i] as Svc).s.name)) {
      const fresh = new Set(added)
      const ranks = prev.map((w) => w.rank) // read before any is set: occurrences may have moved
      next.forEach((w, i) => {
        const r = ranks[i] as number
        if (w.rank !== r && !fresh.has(w)) this.#touch(w) // two of the same name swapped places
        w.rank = r
      })
    } else {
      const oldRank = new Map<Svc, number>(next.map((w) => [w, w.rank]))
      for (const w of added) oldRank.delete(w)
      const sorted = next.slice().sort((x, y) => (x.s.name < y.s.name ? -1 : x.s.name > y.s.name ? 1 : 0))
      sorted.forEach((w, i) => { w.rank = i })
      this.#reordered(sorted, oldRank)
    }
    this.#order = next
    for (const w of added) this.#add(w)
    this.#resolve(input.revision)
    return this.zone
  }

  /** Services of the same name that swapped places: their names resolve again (ties follow catalog order). */
  #reordered(sorted: Svc[], oldRank: Map<Svc, number>): void {
    for (let i = 0; i < sorted.length;) {
      let j = i + 1
      while (j < sorted.length && (sorted[j] as Svc).s.name === (sorted[i] as Svc).s.name) j++
      if (j - i > 1) {
        const group = sorted.slice(i, j)
        const ranks = group.map((w) => oldRank.get(w)).filter((r): r is number => r !== undefined)
        if (ranks.some((r, k) => k > 0 && r < (ranks[k - 1] as number))) for (const w of group) this.#touch(w)
      }
      i = j
    }
  }

  #touch(w: Svc): void {
    for (const c of w.names) this.#dirty.add(c.key)
    if (w.s.stack) for (const c of w.stackKeys) this.#stackDirty(w.s.stack).add(c.key)
    for (const ip of w.ips) this.#dirtyIps.add(ip)
  }

  #stackDirty(stack: string): Set<string> {
    let d = this.#dirtyStack.get(stack)
    if (!d) this.#dirtyStack.set(stack, (d = new Set()))
    return d
  }

  /** A short name's group changed size: its global names resolve again when it crossed "unique". */
  #shortGroup(w: Svc, delta: 1 | -1): void {
    if (!w.s.stack || w.s.shortName === w.s.name) return
    let g = this.#short.get(w.s.shortName)
    if (!g) this.#short.set(w.s.shortName, (g = new Set()))
    const before = g.size
    if (delta > 0) g.add(w)
    else g.delete(w)
    if ((before === 1) !== (g.size === 1)) for (const o of g) for (const c of o.stackKeys) this.#dirty.add(c.key)
    if (g.size === 0) this.#short.delete(w.s.shortName)
  }

  #add(w: Svc): void {
    for (const c of w.names) fileClaim(this.#names, c)
    if (w.s.stack && w.stackKeys.length > 0) {
      let m = this.#stacks.get(w.s.stack)
      if (!m) this.#stacks.set(w.s.stack, (m = new Map()))
      for (const c of w.stackKeys) fileClaim(m, c)
    }
    w.ips.forEach((ip, seq) => {
      let list = this.#ips.get(ip)
      if (!list) this.#ips.set(ip, (list = []))
      list.push({ w, seq, stack: w.s.stack as string })
    })
    this.#touch(w)
    this.#shortGroup(w, 1)
  }

  #remove(w: Svc): void {
    for (const c of w.names) dropClaims(this.#names, c.key, w)
    const m = w.s.stack ? this.#stacks.get(w.s.stack) : undefined
    if (m) {
      for (const c of w.stackKeys) dropClaims(m, c.key, w)
      if (m.size === 0) this.#stacks.delete(w.s.stack as string)
    }
    for (const ip of w.ips) {
      const list = this.#ips.get(ip)
      if (!list) continue
      const kept = list.filter((x) => x.w !== w)
      if (kept.length === 0) this.#ips.delete(ip)
      else this.#ips.set(ip, kept)
    }
    this.#touch(w)
    this.#shortGroup(w, -1)
  }

  #resolve(revision: number): void {
    const z = this.zone
    const o = this.#opts
    const dk = z.domainKey
    if (revision !== z.revision) {
      const soa = soaRdata(encodeName(`ns.${o.domain}`) as Buffer, encodeName(`hostmaster.${o.domain}`) as Buffer, revision, 3600, 600, 86400, o.ttlSec)
      z.revision = revision
      z.negSoa = encodeRecord(encodeName(o.domain) as Buffer, TYPE.SOA, o.ttlSec, soa)
      this.#apexSoa = makeSet([encodeRecord(null, TYPE.SOA, o.ttlSec, soa)], false)
      this.#dirty.add(dk)
    }
    const ent = new Set<string>()
    for (const key of this.#dirty) {
      let e = this.#entry(key)
      if (key === dk) (e ??= EMPTY_ENTRY()).soa = this.#apexSoa
      const was = this.#isReal(key)
      if (e !== null) {
        z.names.set(key, withAny(e))
      } else {
        if ((this.#entRefs.get(key) ?? 0) > 0) z.names.set(key, ENT)
        else z.names.delete(key)
      }
      if (was !== (e !== null) && key.endsWith(dk) && key !== dk) {
        for (const start of labelStarts(key).slice(1)) {
          const parent = key.slice(start)
          if (parent === dk) break
          const n = (this.#entRefs.get(parent) ?? 0) + (e !== null ? 1 : -1)
          if (n === 0) this.#entRefs.delete(parent)
          else this.#entRefs.set(parent, n)
          if (n === 0 || n === 1) ent.add(parent)
        }
      }
    }
    for (const key of ent) {
      if (this.#isReal(key)) continue
      if ((this.#entRefs.get(key) ?? 0) > 0) { if (!z.names.has(key)) z.names.set(key, ENT) } else z.names.delete(key)
    }
    this.#dirty = new Set()
    for (const [stack, keys] of this.#dirtyStack) {
      const m = this.#stacks.get(stack)
      let out = z.byStack.get(stack)
      for (const key of keys) {
        const e = first(claimsAt(m, key))
        if (e !== null) {
          if (!out) z.byStack.set(stack, (out = new Map()))
          out.set(key, withAny(e))
        } else out?.delete(key)
      }
      if (out && out.size === 0) z.byStack.delete(stack)
    }
    this.#dirtyStack = new Map()
    for (const ip of this.#dirtyIps) {
      let best: IpStack | null = null
      for (const x of this.#ips.get(ip) ?? []) if (best === null || x.w.rank > best.w.rank || (x.w === best.w && x.seq > best.seq)) best = x
      if (best) z.ipStack.set(ip, best.stack)
      else z.ipStack.delete(ip)
    }
    this.#dirtyIps = new Set()
  }

  #apexSoa: RRSet | null = null

  /** A name with records of its own (or claimed by a service) in the global map, as opposed to an ENT or nothing. */
  #isReal(key: string): boolean {
    const e = this.zone.names.get(key)
    return e !== undefined && e !== ENT
  }

  /** The entry at a name of the global map, or null when no contribution there survives the claims. */
  #entry(key: string): Entry | null {
    const list = claimsAt(this.#names, key)
    if (list === null) return null
    let p1 = false
    let p123 = false
    for (const c of list) {
      if (c.phase === P_NAME) p1 = true
      if (c.phase <= P_TASK) p123 = true
    }
    let e: Entry | null = null
    for (const c of list) {
      if ((c.phase === P_ALIAS || c.phase === P_TASK) && p1) continue
      if (c.phase === P_SHORT && (p123 || this.#short.get(c.w.s.shortName)?.size !== 1)) continue
      e ??= EMPTY_ENTRY()
      if (c.type === 'ptr') {
        if (c.set) e.ptr = e.ptr ? makeSet([e.ptr.bytes, c.set.bytes], false) : c.set
      } else if (e[c.type] === null) e[c.type] = c.set
    }
    return e
  }
}

/** A stack map's entry: the first non-empty set of each type, in catalog order. */
function first(list: readonly Claim[] | null): Entry | null {
  if (list === null) return null
  const e = EMPTY_ENTRY()
  for (const c of list) if (c.type !== 'ptr' && e[c.type] === null) e[c.type] = c.set
  return e
}
