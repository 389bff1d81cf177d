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
import type { CatalogSnapshot } from '../api/catalog.ts'
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
  /** Every name any zone answers (a name hidden from an asker is NXDOMAIN, not forwarded). */
  known: ReadonlySet<string>
  defaultCidrs: readonly Cidr[]
  /** Flat scopes: the zone kept up to date per changed service, handed on to the next snapshot's scopes. */
  state?: ZoneState
}

function subnetOf(text: string): Cidr | null {
  try {
    return parseCidr(text, 'network subnet', 'clear')
  } catch {
    return null
  }
}

/** The services on one network as its zone sees them: that network's VIP, addresses and aliases. */
function project(snap: CatalogSnapshot, network: string, places: Map<string, ServicePlace[]>, defaults: ReadonlySet<string>): ZoneService[] {
  const out: ZoneService[] = []
  for (const s of snap.services) {
    const ps = places.get(s.id) as ServicePlace[]
    const place = ps.find((p) => p.network === network)
    if (place === undefined) continue
    const endpoints = []
    for (const e of s.endpoints) {
      const ip = addressOn(e, network, ps, defaults)
      if (ip !== null) endpoints.push(ip === e.ip ? e : { ...e, ip })
    }
    const same = place.vip === s.vip && endpoints.length === s.endpoints.length && place.aliases.length === 0 &&
      endpoints.every((e, i) => e === s.endpoints[i])
    if (same) { out.push(s); continue }
    const { vip: _vip, networks: _networks, ...rest } = s
    out.push({ ...rest, ...(place.vip !== undefined ? { vip: place.vip } : {}), endpoints, aliases: place.aliases })
  }
  return out
}

/**
 * Build every zone of a snapshot. Cost: linear in (service, network) pairs plus endpoints. With no network but the
 * default one, `prev` (the scopes of the snapshot before) hands on its zone, updated in place for the services that
 * changed (zone-state.ts: the same records a rebuild gives, in time linear in what changed); with networks every
 * zone is built again.
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
  const places = new Map<string, ServicePlace[]>()
  const ids = new Set<string>([DEFAULT_NETWORK])
  for (const n of snap.networks ?? []) if (!defaults.has(n.id)) ids.add(n.id)
  for (const s of snap.services) {
    const ps = servicePlaces(s, defaults)
    places.set(s.id, ps)
    for (const p of ps) ids.add(p.network)
  }
  const byNetwork = new Map<string, Zone>()
  for (const id of ids) byNetwork.set(id, buildZone({ revision: snap.revision, services: project(snap, id, places, defaults) }, zoneOpts))
  const askers = new Map<string, Asker>()
  for (const s of snap.services) {
    const ps = places.get(s.id) as ServicePlace[]
    for (const e of s.endpoints) {
      const addrs = endpointAddresses(e, ps, defaults)
      for (const a of addrs) {
        if (askers.has(a.ip)) continue
        const order = [a.network, ...addrs.map((x) => x.network).filter((n) => n !== a.network)]
        askers.set(a.ip, { zones: [...new Set(order)].map((n) => byNetwork.get(n) as Zone), stack: s.stack })
      }
    }
  }
  // Every service is on a network, so the networks' names are every name an asker on a network could be denied.
  const known = new Set<string>()
  for (const z of byNetwork.values()) {
    for (const k of z.names.keys()) known.add(k)
    for (const m of z.byStack.values()) for (const k of m.keys()) known.add(k)
  }
  return {
    ...base, flat: false, byNetwork, askers, known,
    get all(): Zone {
      all ??= buildZone(snap, zoneOpts)
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
