import type { CatalogSnapshot, CatalogService, Endpoint } from '../catalog/index.ts'
import { isServing } from './balancer.ts'

/**
 * The kernel fast path as one nftables ruleset (pure). mesh-ingress owns table `ip mesh-ingress` and nothing
 * else (the overlay owns `inet mesh`); the text replaces the whole table in one `nft -f` transaction.
 *
 * - Published ports (mode ingress): in prerouting (traffic from the network and from local containers) and output
 *   (traffic the node itself originates, loopback excluded: it goes to the userspace listener), a packet to a
 *   local address on the port is DNATed to `numgen inc mod N` over the service's serving endpoints at the target
 *   port (round robin per new connection; conntrack keeps a connection on its endpoint). The connection is marked
 *   (ct mark bits INGRESS|DNAT) and source-NATed in postrouting, so the backend's replies come back through this node
 *   whether it is on the local bridge or on another node behind the overlay route.
 * - Service VIPs: `ip daddr <vip> <proto> dport <target>` → DNAT to an endpoint at the same port (mark DNAT); the
 *   source is kept, except towards the local bridge, where it is masqueraded so a backend on the same bridge as the
 *   client replies through the host (hairpin) instead of straight to the client.
 * With `snatAddr` (the node's overlay gateway) the source NAT is `snat to` it, so other nodes see an overlay
 * address; without, masquerade.
 */

export const NFT_INGRESS_TABLE = 'mesh-ingress'
/** ct mark bit: a connection DNATed by mesh-ingress (forwarding of these is accepted in DOCKER-USER). */
export const MARK_DNAT = 0x00100000
/** ct mark bit: a published-port connection (always source-NATed). */
export const MARK_INGRESS = 0x00200000

export interface NftPortRule {
  protocol: 'tcp' | 'udp'
  published: number
  target: number
  backends: string[]
}

export interface NftVipRule {
  protocol: 'tcp' | 'udp'
  vip: string
  port: number
  backends: string[]
}

export interface NftPlan {
  ports: NftPortRule[]
  vips: NftVipRule[]
}

export interface NftRulesOptions {
  /** The local Docker bridge of the overlay. Default mesh-br. */
  bridge?: string
  /** Source address for NATed published-port traffic (the node's overlay gateway); default: masquerade. */
  snatAddr?: string
  /** Published ports to leave out (handled in userspace instead). */
  skipPorts?: ReadonlySet<string>
}

/**
 * What the kernel should do for a snapshot: one rule per published ingress port and per VIP port that has serving
 * endpoints. `serving` decides per endpoint (default: catalog state; the controller also drops ejected ones).
 */
export function planNft(snap: CatalogSnapshot, serving: (s: CatalogService, e: Endpoint, port: number) => boolean = (_s, e) => isServing(e)): NftPlan {
  const ports: NftPortRule[] = []
  const vips: NftVipRule[] = []
  const seenPorts = new Set<string>()
  for (const s of snap.services) {
    for (const p of s.ports) {
      const backends = uniq(s.endpoints.filter((e) => serving(s, e, p.target)).map((e) => e.ip))
      if (p.mode === 'ingress' && backends.length > 0) {
        const key = `${p.protocol}/${p.published}`
        if (!seenPorts.has(key)) {
          seenPorts.add(key)
          ports.push({ protocol: p.protocol, published: p.published, target: p.target, backends })
        }
      }
    }
    if (s.vip && s.endpointMode === 'vip') {
      const targets = new Map<string, NftVipRule>()
      for (const p of s.ports) {
        const backends = uniq(s.endpoints.filter((e) => serving(s, e, p.target)).map((e) => e.ip))
        const key = `${p.protocol}/${p.target}`
        if (backends.length > 0 && !targets.has(key)) targets.set(key, { protocol: p.protocol, vip: s.vip, port: p.target, backends })
      }
      vips.push(...targets.values())
    }
  }
  ports.sort((a, b) => a.published - b.published || cmp(a.protocol, b.protocol))
  vips.sort((a, b) => cmp(a.vip, b.vip) || a.port - b.port || cmp(a.protocol, b.protocol))
  return { ports, vips }
}

/** The whole table as `nft -f` input: create (so the delete cannot fail), delete, recreate. */
export function nftIngressRuleset(plan: NftPlan, o: NftRulesOptions = {}): string {
  const bridge = o.bridge ?? 'mesh-br'
  const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`
  const both = hex(MARK_DNAT | MARK_INGRESS)
  const pre: string[] = []
  const out: string[] = []
  for (const v of plan.vips) {
    const rule = `ip daddr ${v.vip} ${v.protocol} dport ${v.port} ct mark set ct mark or ${hex(MARK_DNAT)} ${dnatAddr(v.backends)}`
    pre.push(rule)
    out.push(rule)
  }
  for (const p of plan.ports) {
    if (o.skipPorts?.has(`${p.protocol}/${p.published}`)) continue
    const tail = `${p.protocol} dport ${p.published} ct mark set ct mark or ${both} ${dnatAddrPort(p.backends, p.target)}`
    pre.push(`fib daddr type local ${tail}`)
    out.push(`ip daddr != 127.0.0.0/8 fib daddr type local ${tail}`)
  }
  const nat = o.snatAddr ? `snat to ${o.snatAddr}` : 'masquerade'
  const lines = [
    `table ip ${NFT_INGRESS_TABLE}`,
    `delete table ip ${NFT_INGRESS_TABLE}`,
    `table ip ${NFT_INGRESS_TABLE} {`,
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    ...pre.map((r) => `    ${r}`),
    '  }',
    '  chain output {',
    '    type nat hook output priority -100; policy accept;',
    ...out.map((r) => `    ${r}`),
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ct mark and ${hex(MARK_INGRESS)} == ${hex(MARK_INGRESS)} ${nat}`,
    `    ct mark and ${hex(MARK_DNAT)} == ${hex(MARK_DNAT)} oifname "${bridge}" masquerade`,
    '  }',
    '}',
    '',
  ]
  return lines.join('\n')
}

function dnatAddr(ips: string[]): string {
  if (ips.length === 1) return `dnat to ${ips[0]}`
  return `dnat to numgen inc mod ${ips.length} map { ${ips.map((ip, i) => `${i} : ${ip}`).join(', ')} }`
}

function dnatAddrPort(ips: string[], port: number): string {
  if (ips.length === 1) return `dnat to ${ips[0]}:${port}`
  return `dnat ip to numgen inc mod ${ips.length} map { ${ips.map((ip, i) => `${i} : ${ip} . ${port}`).join(', ')} }`
}

function uniq(xs: string[]): string[] {
  return [...new Set(xs)]
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
