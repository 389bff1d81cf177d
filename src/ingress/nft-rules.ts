import { defaultNetworkIds, type CatalogService, type CatalogSnapshot } from '../catalog/index.ts'
import { ingressDefaults } from '../config/index.ts'
import { isPort } from '../base/values.ts'
import { MARK_DNAT, MARK_INGRESS, markHex } from './nft-marks.ts'
import { checkNetworkBridges, checkNftPlan } from './nft-check.ts'
import { renderFull, type NftSetDef, type NftTable, type NftTarget } from './nft-table.ts'
import {
  catalogServing, foldVipServices, serviceVipPart, servingIps, sortVips, validPorts, vipRefuseRules, vipRule, vipServiceRule,
  type NftVipRule, type NftVipService, type ServingFilter,
} from './vip-rules.ts'

/**
 * The kernel fast path as one nftables table (pure). mesh-ingress owns table `ip mesh-ingress` and nothing
 * else (the overlay owns `inet mesh`). Each balanced target below is a chain of its own, reached from the base
 * chains through verdict maps, so that NftApplier applies a change as a delta (nft-table.ts); the rules and their
 * order are those of one flat ruleset: VIP ports, then VIPs' other ports, then network DNS, then published ports.
 *
 * - Published ports (mode ingress): in prerouting (traffic from the network and from local containers) and output
 *   (traffic the node itself originates, loopback excluded: it goes to the userspace listener), a packet to a
 *   local address on the port is DNATed to `numgen inc mod N` over the service's serving endpoints at the target
 *   port (round robin per new connection; conntrack keeps a connection on its endpoint). The connection is marked
 *   (ct mark bits INGRESS|DNAT) and source-NATed in postrouting, so the backend's replies come back through this node
 *   whether it is on the local bridge or on another node behind the overlay route.
 * - Service VIPs (built by vip-rules.ts): `ip daddr <vip> <proto> dport <target>` per published target port, then
 *   `ip daddr <vip> meta l4proto { tcp, udp }` for every other port → DNAT to an endpoint at the same port (mark
 *   DNAT); the source is kept, except towards a local bridge (the overlay's, and each network's), where it is
 *   masqueraded so a backend on the same bridge as the client replies through the host (hairpin) instead of
 *   straight to the client. A network's VIP DNATs to the endpoints' addresses on that network (vip-rules.ts). A VIP without a
 *   serving endpoint is refused in filter chains on forward and output (TCP RST, ICMP port unreachable).
 * - Counters: each published port's endpoints are elements of three counter sets (nft-counters.ts).
 * - Network DNS: on each user network's bridge, DNS (tcp/udp 53) to an address outside the network is DNATed to the
 *   bridge's gateway, where the agent's DNS answers by the asker's network.
 * With `snatAddr` (the node's overlay gateway) the source NAT is `snat to` it, so other nodes see an overlay
 * address; without, masquerade.
 *
 * Values come from the catalog, i.e. from other nodes. The catalog already dropped bad ones; `planNft` skips any
 * endpoint, VIP or port that is still not an IPv4 address or a port 1-65535 (one bad value never freezes the rules
 * for the others), and `nftIngressRuleset` refuses the whole text (UnsafeValueError) if one reaches it anyway.
 */

export interface NftPortRule {
  protocol: 'tcp' | 'udp'
  published: number
  target: number
  backends: string[]
}

export interface NftPlan {
  ports: NftPortRule[]
  /** Per VIP and published target port (they follow that port's ejections). */
  vips: NftVipRule[]
  /** Per VIP, every other tcp/udp port; no backends: the VIP refuses. */
  vipServices: NftVipService[]
}

/** One user network's bridge on this node. */
export interface NetworkBridge {
  bridge: string
  /** The bridge's address (the first of this node's slice): the network's DNS. */
  gateway: string
  /** The network's whole range (its containers' own addresses and VIPs). */
  subnet: string
}

export interface NftRulesOptions {
  /** The local Docker bridge of the overlay. Default mesh-br. */
  bridge?: string
  /**
   * This node's bridges of user networks: VIP connections DNATed back onto one are masqueraded (hairpin), and a DNS
   * query from one to an address outside its network is sent to its gateway (where the agent's DNS listens).
   */
  networkBridges?: readonly NetworkBridge[]
  /** Source address for NATed published-port traffic (the node's overlay gateway); default: masquerade. */
  snatAddr?: string
  /** Published ports to leave out (handled in userspace instead). */
  skipPorts?: ReadonlySet<string>
}

/**
 * What the kernel should do for a snapshot: one rule per published ingress port and per VIP port that has serving
 * endpoints. `serving` decides per endpoint (default: catalog state; the controller also drops ejected ones).
 *
 * A catalog change keeps every unchanged service as the same frozen object (src/catalog share.ts), so a service's
 * part of the plan is kept per object (a WeakMap) and made again only for a new object, another set of default
 * networks, or when `serving` may decide otherwise for it (an endpoint of it ejected: `serving.plain`). At 1,000
 * services / 10,000 endpoints that is what makes a change cost what changed (docs/benchmarks.md).
 */
export function planNft(snap: CatalogSnapshot, serving: ServingFilter = catalogServing): NftPlan {
  const defaults = defaultNetworkIds(snap)
  const defaultsKey = [...defaults].join(',')
  const ports: NftPortRule[] = []
  const seenPorts = new Set<string>()
  const vips: NftVipRule[] = []
  const vipServices: NftVipService[] = []
  for (const s of snap.services) {
    const part = servicePart(s, serving, defaults, defaultsKey)
    for (const p of part.ports) {
      const key = `${p.protocol}/${p.published}`
      if (!seenPorts.has(key)) {
        seenPorts.add(key)
        ports.push(p)
      }
    }
    vips.push(...part.vips)
    vipServices.push(...part.vipServices)
  }
  ports.sort((a, b) => a.published - b.published || cmp(a.protocol, b.protocol))
  return { ports, vips: sortVips(vips), vipServices: foldVipServices(vipServices) }
}

interface ServicePart {
  defaultsKey: string
  ports: NftPortRule[]
  vips: NftVipRule[]
  vipServices: NftVipService[]
}

const parts = new WeakMap<CatalogService, ServicePart>()

/** One service's part of the plan: kept per frozen service object while `serving` is plain for it. */
function servicePart(s: CatalogService, serving: ServingFilter, defaults: ReadonlySet<string>, defaultsKey: string): ServicePart {
  const plain = (serving === catalogServing || serving.plain?.(s) === true) && Object.isFrozen(s)
  const kept = plain ? parts.get(s) : undefined
  if (kept !== undefined && kept.defaultsKey === defaultsKey) return kept
  const ports: NftPortRule[] = []
  for (const p of validPorts(s)) {
    if (p.mode !== 'ingress' || !isPort(p.published) || ports.some((q) => q.protocol === p.protocol && q.published === p.published)) continue
    const backends = servingIps(s, p.target, serving)
    if (backends.length > 0) ports.push({ protocol: p.protocol, published: p.published, target: p.target, backends })
  }
  const part = { defaultsKey, ports, ...serviceVipPart(s, serving, defaults) }
  if (plain) parts.set(s, part)
  return part
}

/**
 * The whole table as `nft -f` input: create (so the delete cannot fail), delete, recreate. Throws UnsafeValueError
 * when a value is not what its place in the text allows (last line of defence; planNft already skips such values).
 */
export function nftIngressRuleset(plan: NftPlan, o: NftRulesOptions = {}): string {
  return renderFull(nftTable(plan, o))
}

const COUNTED = 'type inet_proto . ipv4_addr . inet_service; counter'
/** A plan entry's chain name and verdict, made once per entry object (planNft keeps unchanged entries). */
const names = new WeakMap<object, { name: string; goto: string }>()

/**
 * The table as data (nft-table.ts): one chain per balanced target, verdict maps from the base chains to them, the
 * refusing VIPs and the counted endpoints as set elements. Throws UnsafeValueError like nftIngressRuleset.
 * `prev` (the table in place): a target made of the same endpoints is taken from it as is, so that at 10,000
 * endpoints a change builds only the strings of what changed, and renderDelta skips the rest by identity.
 */
export function nftTable(plan: NftPlan, o: NftRulesOptions = {}, prev: NftTable | null = null): NftTable {
  const bridge = o.bridge ?? ingressDefaults().bridge
  checkNftPlan(plan, bridge, o.snatAddr)
  const nets = o.networkBridges ?? []
  checkNetworkBridges(nets)
  const bridges = [...new Set([bridge, ...nets.map((n) => n.bridge)])]
  const hairpin = bridges.length === 1 ? `"${bridge}"` : `{ ${bridges.map((b) => `"${b}"`).join(', ')} }`
  const both = markHex(MARK_DNAT | MARK_INGRESS)
  const targets = new Map<string, NftTarget>()
  const vipPorts = new Map<string, string>()
  const vips = new Map<string, string>()
  const ports = new Map<string, string>()
  const refused = new Map<string, string>()
  const counted = new Map<string, string>()
  /** The target `name`, from `prev` when made of the same endpoints, else built by `make`. */
  const target = (entry: object, named: () => string, backends: readonly string[], port: number, elements: Map<string, string>, make: () => NftTarget) => {
    let n = names.get(entry)
    if (n === undefined) {
      const name = named()
      names.set(entry, (n = { name, goto: `goto ${name}` }))
    }
    const was = prev?.targets.get(n.name)
    const t = was !== undefined && was.port === port && sameList(was.backends, backends) ? was : make()
    targets.set(n.name, t)
    elements.set(t.key, n.goto)
    return t
  }
  for (const v of plan.vips) {
    target(v, () => `vip-${v.vip}-${v.protocol}-${v.port}`, v.backends, 0, vipPorts,
      () => ({ rule: vipRule(v), map: 'vip-ports', key: `${v.vip} . ${v.protocol} . ${v.port}`, counted: [], backends: v.backends, port: 0 }))
  }
  for (const v of plan.vipServices) {
    if (v.backends.length === 0) refused.set(v.vip, '')
    else target(v, () => `vip-${v.vip}`, v.backends, 0, vips, () => ({ rule: vipServiceRule(v), map: 'vips', key: v.vip, counted: [], backends: v.backends, port: 0 }))
  }
  for (const p of plan.ports) {
    if (o.skipPorts?.has(`${p.protocol}/${p.published}`)) continue
    const t = target(p, () => `port-${p.protocol}-${p.published}`, p.backends, p.target, ports, () => ({
      rule: `${p.protocol} dport ${p.published} ct mark set ct mark or ${both} ${dnatAddrPort(p.backends, p.target)}`,
      map: 'ports', key: `${p.protocol} . ${p.published}`, counted: p.backends.map((b) => `${p.protocol} . ${b} . ${p.target}`),
      backends: p.backends, port: p.target,
    }))
    for (const k of t.counted) counted.set(k, '')
  }
  const sets = new Map<string, NftSetDef>([
    ['vip-ports', { decl: 'type ipv4_addr . inet_proto . inet_service : verdict', elements: vipPorts, follows: 'targets' }],
    ['vips', { decl: 'type ipv4_addr : verdict', elements: vips, follows: 'targets' }],
    ['ports', { decl: 'type inet_proto . inet_service : verdict', elements: ports, follows: 'targets' }],
    ['vip-refused', { decl: 'type ipv4_addr', elements: refused }],
    // One map for the three sets (never changed after this).
    ['ep-conns', { decl: COUNTED, elements: counted, follows: 'counted' }],
    ['ep-in', { decl: COUNTED, elements: counted, follows: 'counted' }],
    ['ep-out', { decl: COUNTED, elements: counted, follows: 'counted' }],
  ])
  const nat = o.snatAddr ? `snat to ${o.snatAddr}` : 'masquerade'
  const dispatch = ['ip daddr . meta l4proto . th dport vmap @vip-ports', 'meta l4proto { tcp, udp } ip daddr vmap @vips']
  const ingress = `ct mark and ${markHex(MARK_INGRESS)} == ${markHex(MARK_INGRESS)}`
  const base = (name: string, hook: string, rules: string[]) => [`  chain ${name} {`, `    ${hook}`, ...rules.map((r) => `    ${r}`), '  }']
  const frame = [
    ...base('prerouting', 'type nat hook prerouting priority dstnat; policy accept;', [
      ...dispatch, ...nets.map(dnsRedirectRule), 'fib daddr type local meta l4proto . th dport vmap @ports',
    ]),
    ...base('output', 'type nat hook output priority -100; policy accept;', [
      ...dispatch, 'ip daddr != 127.0.0.0/8 fib daddr type local meta l4proto . th dport vmap @ports',
    ]),
    ...base('postrouting', 'type nat hook postrouting priority srcnat; policy accept;', [
      `${ingress} ${nat}`, `ct mark and ${markHex(MARK_DNAT)} == ${markHex(MARK_DNAT)} oifname ${hairpin} masquerade`,
    ]),
    // Before Docker's FORWARD rules (filter priority 0), which would otherwise drop or route the packet away.
    ...base('vip-refuse-forward', 'type filter hook forward priority filter - 10; policy accept;', vipRefuseRules('@vip-refused')),
    ...base('vip-refuse-output', 'type filter hook output priority filter - 10; policy accept;', vipRefuseRules('@vip-refused')),
    // Published-port traffic per endpoint (after DNAT: the endpoint is the destination one way, the source back).
    '  chain ep-count {',
    '    ct state new meta l4proto . ip daddr . th dport @ep-conns',
    '    ct direction original meta l4proto . ip daddr . th dport @ep-in',
    '    ct direction reply meta l4proto . ip saddr . th sport @ep-out',
    '  }',
    // Each packet once, before the answer's source is put back (NAT at priority 100): forwarded packets both ways;
    // the node's own packets on the way out (an answer from a task on the host network, too); answers coming in.
    ...([['forward', ''], ['output', ''], ['input', 'ct direction reply ']] as const).flatMap(([h, dir]) =>
      base(`count-${h}`, `type filter hook ${h} priority filter - 5; policy accept;`, [`${ingress} ${dir}jump ep-count`])),
  ].join('\n')
  return { sets, targets, frame }
}

/**
 * A network's containers resolve through the agent's DNS on their gateway whatever resolver they ask (a plain
 * `docker run --network NAME` container's engine forwards to the host's resolvers): DNS to any address outside the
 * network goes to the gateway; DNS to the network's own addresses (a task or VIP serving DNS) is left alone.
 */
function dnsRedirectRule(n: NetworkBridge): string {
  return `iifname "${n.bridge}" ip daddr != ${n.subnet} meta l4proto { tcp, udp } th dport 53 dnat to ${n.gateway}`
}

function dnatAddrPort(ips: string[], port: number): string {
  if (ips.length === 1) return `dnat to ${ips[0]}:${port}`
  return `dnat ip to numgen inc mod ${ips.length} map { ${ips.map((ip, i) => `${i} : ${ip} . ${port}`).join(', ')} }`
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
