import type { CatalogService, CatalogSnapshot, Endpoint } from '../api/catalog.ts'
import { DEFAULT_NETWORK, type CatalogNetwork } from '../api/network.ts'
import { formatCidr, intToIpv4, parseCidr } from '../base/cidr.ts'
import { isIpv4Cidr } from '../base/values.ts'

/**
 * A catalog seen one network at a time (pure): which networks a service is on, its VIP and aliases on each, and a
 * task's address on each. The readers that must scope by network (the DNS answers a task only for services sharing a
 * network with it; the VIP rules DNAT each network's VIP to the endpoints' addresses on that network) ask here, so
 * both read the catalog's network fields the same way.
 *
 * The default network (`mesh`) is written `DEFAULT_NETWORK` here. A service without `networks` is on it alone, with
 * its VIP `vip`; a task without `addresses` is on its service's first network, at `ip`. An entry naming the default
 * network (by name, or by the id of a catalog network called `mesh`) counts as the default network.
 */

/** A service on one network: its VIP there (absent: none yet, or dnsrr) and the aliases it answers to there. */
export interface ServicePlace {
  /** Network id, or DEFAULT_NETWORK. */
  network: string
  vip?: string
  aliases: readonly string[]
}

/** The ids that mean the default network in a snapshot: DEFAULT_NETWORK, and a catalog network named so. */
export function defaultNetworkIds(snap: CatalogSnapshot): ReadonlySet<string> {
  const ids = new Set([DEFAULT_NETWORK])
  for (const n of snap.networks ?? []) if (n.name === DEFAULT_NETWORK) ids.add(n.id)
  return ids
}

/** Does any service or network of the snapshot involve a network besides the default one? */
export function hasNetworks(snap: CatalogSnapshot): boolean {
  const defaults = defaultNetworkIds(snap)
  if ((snap.networks ?? []).some((n) => !defaults.has(n.id))) return true
  return snap.services.some((s) => (s.networks ?? []).some((n) => !defaults.has(n.network)))
}

/** The networks a service is on, in its order (duplicates folded; the default network as DEFAULT_NETWORK). */
export function servicePlaces(s: CatalogService, defaults: ReadonlySet<string> = new Set([DEFAULT_NETWORK])): ServicePlace[] {
  if (s.networks === undefined) return [s.vip === undefined ? { network: DEFAULT_NETWORK, aliases: [] } : { network: DEFAULT_NETWORK, vip: s.vip, aliases: [] }]
  const out: ServicePlace[] = []
  const seen = new Set<string>()
  for (const n of s.networks) {
    const network = defaults.has(n.network) ? DEFAULT_NETWORK : n.network
    if (seen.has(network)) continue
    seen.add(network)
    const vip = n.vip ?? (network === DEFAULT_NETWORK ? s.vip : undefined)
    const aliases = Array.isArray(n.aliases) ? n.aliases : []
    out.push(vip === undefined ? { network, aliases } : { network, vip, aliases })
  }
  return out
}

/**
 * A task's address on a network (`network` as servicePlaces gives it), or null when it has none there: its entry in
 * `addresses`, else `ip` when that network is the service's first (the address a task gets on its first network).
 */
export function addressOn(e: Endpoint, network: string, places: readonly ServicePlace[], defaults: ReadonlySet<string> = new Set([DEFAULT_NETWORK])): string | null {
  for (const a of e.addresses ?? []) {
    if (a.network === network || (network === DEFAULT_NETWORK && defaults.has(a.network))) return a.ip
  }
  return places[0]?.network === network ? e.ip : null
}

/** A task's addresses, one per network of its service it has one on, in the service's order. */
export function endpointAddresses(e: Endpoint, places: readonly ServicePlace[], defaults?: ReadonlySet<string>): Array<{ network: string; ip: string }> {
  const out: Array<{ network: string; ip: string }> = []
  for (const p of places) {
    const ip = addressOn(e, p.network, places, defaults)
    if (ip !== null) out.push({ network: p.network, ip })
  }
  return out
}

/** A network with a slice on one node: the slice and its first address (the node's bridge gateway there). */
export interface LocalSlice {
  network: CatalogNetwork
  slice: string
  gateway: string
}

/**
 * The networks with a slice on `nodeId`, by network name, each with the slice's gateway (its first address). A slice
 * that is not an IPv4 network of at least 2 addresses is skipped (values from the catalog reach nft and bind()).
 */
export function localSlices(snap: CatalogSnapshot, nodeId: string): LocalSlice[] {
  const out: LocalSlice[] = []
  for (const n of snap.networks ?? []) {
    const mine = (n.slices ?? []).find((s) => s.nodeId === nodeId)
    if (!mine || !isIpv4Cidr(mine.subnet)) continue
    const c = parseCidr(mine.subnet, 'slice', 'clear')
    if (c.prefix > 30 || formatCidr(c) !== mine.subnet) continue
    out.push({ network: n, slice: mine.subnet, gateway: intToIpv4(c.network + 1) })
  }
  return out.sort((a, b) => (a.network.name < b.network.name ? -1 : a.network.name > b.network.name ? 1 : 0))
}
