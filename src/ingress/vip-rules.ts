import { addressOn, defaultNetworkIds, servicePlaces, type CatalogService, type CatalogSnapshot, type Endpoint, type ServicePlace } from '../catalog/index.ts'
import { isIpv4, isPort } from '../base/values.ts'
import { isServing } from './balancer.ts'
import { MARK_DNAT, markHex } from './nft-marks.ts'

/**
 * Service VIP rules (pure): how a container's `wget http://web/` or `psql -h db` reaches a task. The manager
 * allocates the VIP, the DNS answers `web` with it, and these rules DNAT a connection to the VIP on ANY tcp or udp
 * port to one of the service's serving endpoints at the same port (`numgen inc` round robin per new connection,
 * mark DNAT), published or not, as Swarm's IPVS does. Two kinds, in this order:
 * - per target port of the service's published ports (`ip daddr <vip> <proto> dport <target>`): these follow the
 *   controller's per-port ejections (passive health, active checks), which only exist for published ports;
 * - one catch-all per VIP (`ip daddr <vip> meta l4proto { tcp, udp }`) over the catalog's serving endpoints, for
 *   every other port. A VIP with no serving endpoint refuses instead (TCP RST, ICMP port unreachable), so a client
 *   fails at once rather than hanging, as IPVS does with no real server.
 * Networks: a service has one VIP per network it is on (catalog `networks`; the default network's is `vip`), and each
 * VIP DNATs to the serving endpoints' addresses ON THAT network (Endpoint.addresses; `ip` on the service's first),
 * so a connection never leaves the network it came from; an endpoint without an address there is left out.
 * The ingress owns them (see docs/ingress.md, "Who owns what"): they are load balancing over the same catalog
 * snapshot and the same serving/ejection state as the published ports, and they share the ingress table's
 * postrouting hairpin masquerade, so they are written in the same `nft -f` transaction (in both ingress modes).
 */

export interface NftVipRule {
  protocol: 'tcp' | 'udp'
  vip: string
  port: number
  backends: string[]
}

/** Every tcp/udp port of one VIP: DNAT to `backends` (same port), or refuse when there is none. */
export interface NftVipService {
  vip: string
  backends: string[]
}

/**
 * Whether an endpoint of a service takes new connections at `port`, or at any port when `port` is null (the
 * controller also drops endpoints ejected at that port; ejections are per published port, so null is catalog state).
 */
export type ServingFilter = ((s: CatalogService, e: Endpoint, port: number | null) => boolean) & {
  /** When true for `s`, the filter decides as catalogServing for every endpoint of `s` (nothing of it ejected). */
  plain?: (s: CatalogService) => boolean
}

export const catalogServing: ServingFilter = (_s, e) => isServing(e)

/** The distinct addresses of a service's serving endpoints at `port`, in catalog order (IPv4 only: others are skipped). */
export function servingIps(s: CatalogService, port: number | null, serving: ServingFilter): string[] {
  return [...new Set(s.endpoints.filter((e) => isIpv4(e.ip) && serving(s, e, port)).map((e) => e.ip))]
}

/** A VIP of a service on one network and the distinct addresses there of its serving endpoints at `port`. */
function placeBackends(s: CatalogService, places: readonly ServicePlace[], network: string, port: number | null, serving: ServingFilter, defaults: ReadonlySet<string>): string[] {
  const out = new Set<string>()
  for (const e of s.endpoints) {
    if (!serving(s, e, port)) continue
    const ip = addressOn(e, network, places, defaults)
    if (ip !== null && isIpv4(ip)) out.add(ip)
  }
  return [...out]
}

/** A service's VIPs, one per network it is on (endpoint mode vip; IPv4 only), with that network's id. */
function serviceVips(s: CatalogService, defaults: ReadonlySet<string>): { places: ServicePlace[]; vips: Array<{ network: string; vip: string }> } {
  if (s.endpointMode !== 'vip') return { places: [], vips: [] }
  const places = servicePlaces(s, defaults)
  const vips: Array<{ network: string; vip: string }> = []
  for (const p of places) if (p.vip !== undefined && isIpv4(p.vip)) vips.push({ network: p.network, vip: p.vip })
  return { places, vips }
}

/** A service's ports whose target and protocol may go into a rule (one bad port never stops the others). */
export function validPorts(s: CatalogService): CatalogService['ports'] {
  return s.ports.filter((p) => isPort(p.target) && (p.protocol === 'tcp' || p.protocol === 'udp'))
}

/**
 * One service's VIP rules (its part of planVips) and VIP entries (its part of planVipServices, before the
 * first-wins fold of a VIP shared by two services), unsorted.
 */
export function serviceVipPart(s: CatalogService, serving: ServingFilter, defaults: ReadonlySet<string>): { vips: NftVipRule[]; vipServices: NftVipService[] } {
  const { places, vips: onNets } = serviceVips(s, defaults)
  const vips: NftVipRule[] = []
  const vipServices: NftVipService[] = []
  const seen = new Set<string>()
  for (const { network, vip } of onNets) {
    const targets = new Map<string, NftVipRule>()
    for (const p of validPorts(s)) {
      const key = `${p.protocol}/${p.target}`
      if (targets.has(key)) continue
      const backends = placeBackends(s, places, network, p.target, serving, defaults)
      if (backends.length > 0) targets.set(key, { protocol: p.protocol, vip, port: p.target, backends })
    }
    vips.push(...targets.values())
    if (!seen.has(vip)) {
      seen.add(vip)
      vipServices.push({ vip, backends: placeBackends(s, places, network, null, serving, defaults) })
    }
  }
  return { vips, vipServices }
}

/** planVips' order: by VIP, port, protocol. */
export function sortVips(vips: NftVipRule[]): NftVipRule[] {
  return vips.sort((a, b) => cmp(a.vip, b.vip) || a.port - b.port || cmp(a.protocol, b.protocol))
}

/** planVipServices' fold and order: the first service holding a VIP has it; sorted by VIP. */
export function foldVipServices(parts: Iterable<NftVipService>): NftVipService[] {
  const out = new Map<string, NftVipService>()
  for (const v of parts) if (!out.has(v.vip)) out.set(v.vip, v)
  return [...out.values()].sort((a, b) => cmp(a.vip, b.vip))
}

/**
 * One rule per VIP (a VIP service's, per network it is on) and distinct protocol/target port with serving endpoints
 * on that network, sorted by VIP, port, protocol.
 */
export function planVips(snap: CatalogSnapshot, serving: ServingFilter = catalogServing): NftVipRule[] {
  const defaults = defaultNetworkIds(snap)
  return sortVips(snap.services.flatMap((s) => serviceVipPart(s, serving, defaults).vips))
}

/**
 * One entry per VIP (a VIP service's, per network it is on), sorted by VIP: the service's serving endpoints'
 * addresses on that network at any port, or none (then the VIP refuses). Endpoints on one address fold into one.
 */
export function planVipServices(snap: CatalogSnapshot, serving: ServingFilter = catalogServing): NftVipService[] {
  const defaults = defaultNetworkIds(snap)
  return foldVipServices(snap.services.flatMap((s) => serviceVipPart(s, serving, defaults).vipServices))
}

/** The catch-all rule of one VIP with serving endpoints (after its per-port rules), in prerouting and output. */
export function vipServiceRule(v: NftVipService): string {
  return `ip daddr ${v.vip} meta l4proto { tcp, udp } ct mark set ct mark or ${markHex(MARK_DNAT)} ${dnatAddr(v.backends)}`
}

/** How a VIP with no serving endpoint refuses (filter chains: forward and output): TCP RST, ICMP port unreachable. */
export function vipRefuseRules(vip: string): string[] {
  return [`ip daddr ${vip} meta l4proto tcp reject with tcp reset`, `ip daddr ${vip} meta l4proto udp reject`]
}

/** The rule of one VIP port, the same in the prerouting and output chains. */
export function vipRule(v: NftVipRule): string {
  return `ip daddr ${v.vip} ${v.protocol} dport ${v.port} ct mark set ct mark or ${markHex(MARK_DNAT)} ${dnatAddr(v.backends)}`
}

function dnatAddr(ips: string[]): string {
  if (ips.length === 1) return `dnat to ${ips[0]}`
  return `dnat to numgen inc mod ${ips.length} map { ${ips.map((ip, i) => `${i} : ${ip}`).join(', ')} }`
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
