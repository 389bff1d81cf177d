import type { CatalogService, Endpoint } from '../api/catalog.ts'
import { DEFAULT_NETWORK, type CatalogNetwork, type CatalogServiceNetwork, type EndpointAddress } from '../api/network.ts'
import { cidrContains, ipv4ToInt, parseCidr, type Cidr } from '../base/cidr.ts'
import { hasControlChars, isIpv4, isIpv4Cidr } from '../base/values.ts'

/**
 * The network fields of a manager snapshot, re-checked (pure; check.ts calls it): each network's range and slices,
 * each service's VIP and aliases per network, each task's address per network. Their values reach DNS answers, the
 * VIP rules' nft text and bind() on every node, and they follow the address pool: a network's VIP and a task's
 * address there must lie in that network's range (not the overlay's, which only holds the default network). A bad
 * network, attachment, alias or address is dropped and described; everything else is kept as sent.
 */

export interface NetworkProblem {
  what: string
  service?: string
  task?: string
}

/** A network name, id or alias: printable, no control characters, at most 255 characters (DNS checks labels itself). */
function plain(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 255 && !hasControlChars(v)
}

const show = (v: unknown): string => JSON.stringify(v) ?? String(v)
const MAX_VNI = 16_777_215

function networkProblem(n: CatalogNetwork): string | null {
  if (!n || typeof n !== 'object') return 'network is not an object'
  if (!plain(n.id) || !plain(n.name)) return `network id or name ${show(n?.id)}/${show(n?.name)} is not a name`
  if (!isIpv4Cidr(n.subnet)) return `network ${n.name}: range ${show(n.subnet)} is not an IPv4 network`
  if (!Number.isSafeInteger(n.vni) || n.vni < 0 || n.vni > MAX_VNI) return `network ${n.name}: VNI ${show(n.vni)} is not 0-${MAX_VNI}`
  if (!Array.isArray(n.slices)) return `network ${n.name}: slices are not a list`
  return null
}

/** The valid networks (a bad slice dropped from its network) and each one's range by id. */
export function checkNetworks(list: readonly CatalogNetwork[], problems: NetworkProblem[]): { networks: CatalogNetwork[]; ranges: Map<string, Cidr> } {
  const networks: CatalogNetwork[] = []
  const ranges = new Map<string, Cidr>()
  for (const n of list) {
    const why = networkProblem(n)
    if (why) { problems.push({ what: why }); continue }
    const range = parseCidr(n.subnet)
    const slices = n.slices.filter((sl) => {
      const ok = sl && typeof sl === 'object' && plain(sl.nodeId) && isIpv4Cidr(sl.subnet) && cidrContains(range, parseCidr(sl.subnet).network) && parseCidr(sl.subnet).prefix >= range.prefix
      if (!ok) problems.push({ what: `network ${n.name}: slice ${show(sl)} is not a node's part of ${n.subnet}` })
      return ok
    })
    networks.push(slices.length === n.slices.length ? n : { ...n, slices })
    ranges.set(n.id, range)
  }
  return { networks, ranges }
}

function inRange(ip: unknown, range: Cidr | undefined): boolean {
  return range !== undefined && isIpv4(ip) && cidrContains(range, ipv4ToInt(ip) as number)
}

/**
 * A service's attachments with the ones naming no known network, a VIP outside that network's range or a bad alias
 * dropped (the default network, by name, is always known and keeps its VIP as the VIP range check left it).
 */
export function checkServiceNetworks(s: CatalogService, ranges: ReadonlyMap<string, Cidr>, problems: NetworkProblem[]): CatalogServiceNetwork[] | undefined {
  if (s.networks === undefined) return undefined
  if (!Array.isArray(s.networks)) { problems.push({ what: 'networks are not a list', service: s.name }); return [] }
  const out: CatalogServiceNetwork[] = []
  for (const n of s.networks) {
    const known = n && typeof n === 'object' && (n.network === DEFAULT_NETWORK || ranges.has(n.network))
    if (!known) { problems.push({ what: `network ${show(n?.network)} is not in the snapshot`, service: s.name }); continue }
    if (n.vip !== undefined && !(isIpv4(n.vip) && (n.network === DEFAULT_NETWORK || inRange(n.vip, ranges.get(n.network))))) {
      problems.push({ what: `VIP ${show(n.vip)} is not an address of network ${n.network}`, service: s.name })
      continue
    }
    const given = Array.isArray(n.aliases) ? n.aliases : []
    const aliases = given.filter((a) => plain(a) && /^[a-zA-Z0-9_.-]+$/.test(a))
    if (aliases.length !== given.length || !Array.isArray(n.aliases)) problems.push({ what: `network ${n.network}: aliases ${show(n.aliases)} are not all names`, service: s.name })
    out.push(aliases.length === given.length && Array.isArray(n.aliases) ? n : { ...n, aliases })
  }
  return out
}

/** Is an endpoint's `ip` in the range of one of its service's networks (then the overlay range does not apply)? */
export function inServiceNetwork(ip: unknown, nets: readonly CatalogServiceNetwork[] | undefined, ranges: ReadonlyMap<string, Cidr>): boolean {
  return (nets ?? []).some((n) => inRange(ip, ranges.get(n.network)))
}

/** An endpoint's addresses with those on no network of its service, or outside that network's range, dropped. */
export function checkAddresses(e: Endpoint, s: CatalogService, nets: readonly CatalogServiceNetwork[] | undefined, ranges: ReadonlyMap<string, Cidr>, problems: NetworkProblem[]): Endpoint {
  if (e.addresses === undefined) return e
  const given: readonly EndpointAddress[] = Array.isArray(e.addresses) ? e.addresses : []
  const on = new Set((nets ?? []).map((n) => n.network))
  const addresses = given.filter((a) => {
    const ok = a && typeof a === 'object' && on.has(a.network) && isIpv4(a.ip) && (a.network === DEFAULT_NETWORK || inRange(a.ip, ranges.get(a.network)))
    if (!ok) problems.push({ what: `address ${show(a?.ip)} on network ${show(a?.network)} is not one of that network's`, service: s.name, task: e.taskId })
    return ok
  })
  return addresses.length === given.length && Array.isArray(e.addresses) ? e : { ...e, addresses }
}
