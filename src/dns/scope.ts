/**
 * Catalog snapshot → zones per network, and who sees which (pure: no clock, no I/O).
 *
 * A container sees the services that share a network with it, at their VIP and task addresses on that network, with
 * that network's aliases; every other service name is NXDOMAIN to it (not forwarded). Who asks is read from the
 * source address:
 *   - a task address (any of a task's addresses on any network): every network of that task, the one the address is
 *     on first, and the task's stack for short names;
 *   - else an address in a catalog network's range (a plain `docker run --network NAME` container on an attachable
 *     network): that network; the network's gateways (each node slice's first address: the node itself) excepted;
 *   - else an address of the default network's range (`defaultCidrs`): the default network;
 *   - else (the node, a host, loopback): the whole catalog as it is, answered as before networks existed.
 * With no network but the default one in the snapshot every asker gets that one zone: the answers are the same,
 * byte for byte, as a single zone's.
 */
import type { CatalogService, CatalogSnapshot } from '../api/catalog.ts'
import { DEFAULT_NETWORK } from '../api/network.ts'
import { cidrContains, ipv4ToInt, parseCidr, prefixMask, unmapIpv4, type Cidr } from '../base/cidr.ts'
import { addressOn, defaultNetworkIds, endpointAddresses, hasNetworks, servicePlaces, type ServicePlace } from '../catalog/index.ts'
import { ZoneState, buildZone, type Entry, type Zone, type ZoneOptions, type ZoneService } from './zone.ts'

export interface ScopeOptions extends ZoneOptions {
  /** The default network's range: a source there that is no task sees the default network's services. */
  defaultCidrs: readonly Cidr[]
}

/** One asker's view: the zones it sees, in the order they are searched, and its stack (short names). */
export interface Asker {
  zones: readonly Zone[]
  stack: string | undefined
}

export interface Scopes {
  revision: number
  /** Today's zone: the whole catalog with its `vip` and `ip` fields (askers on no network). Built on first use when
   *  there are networks (tasks and network containers never need it). */
  readonly all: Zone
  /** True when nothing but the default network exists: every asker sees `all`. */
  flat: boolean
  /** Zone per network id (the default network under DEFAULT_NETWORK). */
  byNetwork: ReadonlyMap<string, Zone>
  /** Every task address → its view. */
  askers: ReadonlyMap<string, Asker>
  /** Catalog networks' ranges by prefix length: masked network address → network id. */
  ranges: ReadonlyMap<number, ReadonlyMap<number, string>>
  /** Slice gateways (the node on each network's bridge): they see `all`. */
  gateways: ReadonlySet<number>
  /** The catalog networks' ranges (recursion and reverse names follow the pool). */
  networkCidrs: readonly Cidr[]
  /** Is this a name some zone answers (a name hidden from an asker is NXDOMAIN, not forwarded)? */
  known: { has(key: string): boolean }
  defaultCidrs: readonly Cidr[]
  /** Flat scopes: the zone kept up to date per changed service, handed on to the next snapshot's scopes. */
  state?: ZoneState
  /** Scopes with networks: the same per network, handed on likewise. */
  nets?: NetZones
}

/**
 * What the scopes of a catalog with networks hand on to the next snapshot's: a zone per network kept up to date per
 * changed service (zone-state.ts), one for `all`, and each service's projection onto each network by service object.
 * The catalog shares unchanged services between snapshots, so an unchanged service projects to the same object and
 * its zones do no work. Valid while the zones' options and the default network's ids stay the same (`key`).
 */
interface NetZones {
  key: string
  zones: Map<string, ZoneState>
  all: ZoneState
  /** The snapshot `all` last followed: an older snapshot's scopes build their own rather than move it back. */
  allRevision: number
  projected: WeakMap<CatalogService, Map<string, ZoneService | null>>
  /** Each service's task addresses with their views; dropped whenever a network's zone is made or dropped. */
  askersOf: WeakMap<CatalogService, Array<[string, Asker]>>
}

function subnetOf(text: string): Cidr | null {
  try {
    return parseCidr(text, 'network subnet', 'clear')
  } catch {
    return null
  }
}

/** One service as `network`'s zone sees it (that network's VIP, addresses and aliases), or null when it is not on it. */
function projectOne(s: CatalogService, network: string, ps: readonly ServicePlace[], defaults: ReadonlySet<string>): ZoneService | null {
  const place = ps.find((p) => p.network === network)
  if (place === undefined) return null
  const endpoints = []
  for (const e of s.endpoints) {
    const ip = addressOn(e, network, ps, defaults)
    if (ip !== null) endpoints.push(ip === e.ip ? e : { ...e, ip })
  }
  const same = place.vip === s.vip && endpoints.length === s.endpoints.length && place.aliases.length === 0 &&
    endpoints.every((e, i) => e === s.endpoints[i])
  if (same) return s
  const { vip: _vip, networks: _networks, ...rest } = s
  return { ...rest, ...(place.vip !== undefined ? { vip: place.vip } : {}), endpoints, aliases: place.aliases }
}

/** The services on one network as its zone sees them; a service's projection is computed once per service object. */
function project(snap: CatalogSnapshot, network: string, places: Map<CatalogService, ServicePlace[]>, defaults: ReadonlySet<string>, memo: NetZones['projected']): ZoneService[] {
  const out: ZoneService[] = []
  for (const s of snap.services) {
    let byNet = memo.get(s)
    if (byNet === undefined) { byNet = new Map(); memo.set(s, byNet) }
    let p = byNet.get(network)
    if (p === undefined) { p = projectOne(s, network, places.get(s) as ServicePlace[], defaults); byNet.set(network, p) }
    if (p !== null) out.push(p)
  }
  return out
}

/** A service's task addresses, each with the view of an asker there: its network's zone first, then the task's others. */
function serviceAskers(s: CatalogService, ps: readonly ServicePlace[], defaults: ReadonlySet<string>, byNetwork: ReadonlyMap<string, Zone>): Array<[string, Asker]> {
  const out: Array<[string, Asker]> = []
  for (const e of s.endpoints) {
    const addrs = endpointAddresses(e, ps, defaults)
    for (const a of addrs) {
      const order = [a.network, ...addrs.map((x) => x.network).filter((n) => n !== a.network)]
      out.push([a.ip, { zones: [...new Set(order)].map((n) => byNetwork.get(n) as Zone), stack: s.stack }])
    }
  }
  return out
}

/**
 * Build every zone of a snapshot. `prev` (the scopes of the snapshot before) hands on its zones, updated in place for
 * the services that changed (zone-state.ts: the same records a rebuild gives, in time linear in what changed), with no
 * network but the default one and with networks alike. What stays linear in the catalog with networks: the
 * (service, network) pairs looked up, the askers' map and the set of known names.
 */
export function buildScopes(snap: CatalogSnapshot, opts: ScopeOptions, prev?: Scopes): Scopes {
  const networkCidrs: Cidr[] = []
  const ranges = new Map<number, Map<number, string>>()
  const gateways = new Set<number>()
  const defaults = defaultNetworkIds(snap)
  for (const n of snap.networks ?? []) {
    if (defaults.has(n.id)) continue
    const c = subnetOf(n.subnet)
    if (c === null) continue
    networkCidrs.push(c)
    let byPrefix = ranges.get(c.prefix)
    if (!byPrefix) { byPrefix = new Map(); ranges.set(c.prefix, byPrefix) }
    if (!byPrefix.has(c.network)) byPrefix.set(c.network, n.id)
    for (const sl of n.slices ?? []) {
      const sc = subnetOf(sl.subnet)
      if (sc !== null && sc.prefix < 32) gateways.add(sc.network + 1)
    }
  }
  const zoneOpts: ZoneOptions = { domain: opts.domain, ttlSec: opts.ttlSec, reverseCidrs: [...opts.reverseCidrs, ...networkCidrs] }
  const base = { revision: snap.revision, ranges, gateways, networkCidrs, defaultCidrs: opts.defaultCidrs }
  if (!hasNetworks(snap)) {
    // Flat: no catalog network, so zoneOpts is the same for every snapshot of this responder.
    const state = prev?.flat && prev.state ? prev.state : new ZoneState(zoneOpts)
    const all = state.update(snap)
    return { ...base, all, flat: true, byNetwork: new Map([[DEFAULT_NETWORK, all]]), askers: new Map(), known: new Set(), state }
  }
  let all: Zone | null = null
  const key = JSON.stringify([zoneOpts.domain, zoneOpts.ttlSec, zoneOpts.reverseCidrs, [...defaults].sort()])
  const nets: NetZones = prev !== undefined && !prev.flat && prev.nets?.key === key
    ? prev.nets
    : { key, zones: new Map(), all: new ZoneState(zoneOpts), allRevision: -1, projected: new WeakMap(), askersOf: new WeakMap() }
  const places = new Map<CatalogService, ServicePlace[]>()
  const ids = new Set<string>([DEFAULT_NETWORK])
  for (const n of snap.networks ?? []) if (!defaults.has(n.id)) ids.add(n.id)
  for (const s of snap.services) {
    const ps = servicePlaces(s, defaults)
    places.set(s, ps)
    for (const p of ps) ids.add(p.network)
  }
  const byNetwork = new Map<string, Zone>()
  let zonesChanged = false
  for (const id of ids) {
    let state = nets.zones.get(id)
    if (state === undefined) { state = new ZoneState(zoneOpts); nets.zones.set(id, state); zonesChanged = true }
    byNetwork.set(id, state.update({ revision: snap.revision, services: project(snap, id, places, defaults, nets.projected) }))
  }
  for (const id of nets.zones.keys()) if (!ids.has(id)) { nets.zones.delete(id); zonesChanged = true }
  if (zonesChanged) nets.askersOf = new WeakMap()
  const askers = new Map<string, Asker>()
  for (const s of snap.services) {
    let mine = nets.askersOf.get(s)
    if (mine === undefined) { mine = serviceAskers(s, places.get(s) as ServicePlace[], defaults, byNetwork); nets.askersOf.set(s, mine) }
    for (const [ip, a] of mine) if (!askers.has(ip)) askers.set(ip, a) // an address two tasks share: the first's
  }
  // Every service is on a network, so the networks' names are every name an asker on a network could be denied.
  const zones = [...byNetwork.values()]
  const known = {
    has(key: string): boolean {
      for (const z of zones) {
        if (z.names.has(key)) return true
        for (const m of z.byStack.values()) if (m.has(key)) return true
      }
      return false
    },
  }
  return {
    ...base, flat: false, byNetwork, askers, known, nets,
    get all(): Zone {
      if (all === null) {
        if (nets.allRevision <= snap.revision) { all = nets.all.update(snap); nets.allRevision = snap.revision }
        else all = buildZone(snap, zoneOpts)
      }
      return all
    },
  }
}

/** Which view a source address gets; null: the whole catalog (`all`), as before networks. */
export function askerOf(sc: Scopes, from: string): Asker | null {
  if (sc.flat) return null
  const fromIp = unmapIpv4(from)
  const known = sc.askers.get(fromIp)
  if (known !== undefined) return known
  const ip = ipv4ToInt(fromIp)
  if (ip === null || sc.gateways.has(ip)) return null
  for (const [prefix, byNet] of sc.ranges) {
    const id = byNet.get((ip & prefixMask(prefix)) >>> 0)
    if (id !== undefined) return { zones: [sc.byNetwork.get(id) as Zone], stack: undefined }
  }
  for (const c of sc.defaultCidrs) {
    if (cidrContains(c, ip)) return { zones: [sc.byNetwork.get(DEFAULT_NETWORK) as Zone], stack: undefined }
  }
  return null
}

/** The entry an asker finds at a name key: its stack's short names first, then each zone's names, in order. */
export function findEntry(a: Asker, key: string): { zone: Zone; entry: Entry } | null {
  for (const zone of a.zones) {
    let e: Entry | undefined
    if (a.stack !== undefined && zone.byStack.size !== 0) e = zone.byStack.get(a.stack)?.get(key)
    if (e === undefined) e = zone.names.get(key)
    if (e !== undefined) return { zone, entry: e }
  }
  return null
}
