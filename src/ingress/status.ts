import type { EndpointStatus, PortStatus, VipStatus } from '../api/index.ts'
import { defaultNetworkIds, servicePlaces, type CatalogSnapshot } from '../catalog/index.ts'
import { isServing, type Balancer } from './balancer.ts'
import { planVipServices } from './vip-rules.ts'
import { trafficKey, type TrafficByEndpoint } from './nft-counters.ts'

export type { EndpointStatus, PortStatus, VipStatus }

/**
 * Every service's VIP state (pure): what the VIP rules do with it, and how many endpoints serve. A service on several
 * networks has a row per network's VIP; one without a VIP (dnsrr, none allocated yet) a row with none.
 */
export function vipStatus(snap: CatalogSnapshot): VipStatus[] {
  const ruled = new Map(planVipServices(snap).map((v) => [v.vip, v.backends.length > 0 ? 'all' as const : 'refused' as const]))
  const defaults = defaultNetworkIds(snap)
  return snap.services.flatMap((s) => {
    const row = (vip: string | undefined): VipStatus => ({
      service: s.name, vip: vip ?? null, endpointMode: s.endpointMode, endpoints: s.endpoints.length,
      serving: s.endpoints.filter(isServing).length,
      ports: (s.endpointMode === 'vip' && vip !== undefined && ruled.get(vip)) || 'none',
    })
    if (s.networks === undefined) return [row(s.vip)]
    const vips = servicePlaces(s, defaults).flatMap((p) => (p.vip !== undefined ? [p.vip] : []))
    return vips.length === 0 ? [row(undefined)] : vips.map(row)
  })
}

/** Counters of one endpoint of one published port (closed connections; open ones are added at status time). */
export class EndpointStats {
  connections = 0
  errors = 0
  bytesIn = 0
  bytesOut = 0

  closed(bytesIn: number, bytesOut: number): void {
    this.bytesIn += bytesIn
    this.bytesOut += bytesOut
  }
}

interface PortLike {
  service: string
  spec: { protocol: 'tcp' | 'udp'; published: number; target: number; proxyProtocol?: 'v1' | 'v2' }
  balancer: Balancer
  stats: Map<string, EndpointStats>
  retries: number
  rejected: number
}

/**
 * One published port's status: the userspace proxy's counters plus, in nft mode, the kernel's for the same endpoint
 * (`kernel`, nft-counters.ts: connections the kernel DNATed never reach the proxy; an endpoint shared by two
 * published ports at the same target port shows the kernel's count under both).
 */
export function portStatus(p: PortLike, now: number, open: Map<string, number>, live: Map<string, [number, number]>, queuedBytes: number,
  kernel: TrafficByEndpoint = new Map()): PortStatus {
  const endpoints: EndpointStatus[] = p.balancer.backends().map((b) => {
    const s = p.stats.get(b.key)
    const l = live.get(b.key) ?? [0, 0]
    const k = kernel.get(trafficKey(p.spec.protocol, b.ip, b.port))
    return {
      key: b.key, taskName: b.endpoint.taskName, node: b.endpoint.node, ip: b.ip, port: b.port,
      state: b.endpoint.state, health: b.endpoint.health,
      ejected: b.ejectedUntil > now, ejectedForMs: Math.max(0, b.ejectedUntil - now), ejections: b.ejections,
      open: open.get(b.key) ?? 0, connections: (s?.connections ?? 0) + (k?.connections ?? 0), errors: s?.errors ?? 0,
      bytesIn: (s?.bytesIn ?? 0) + l[0] + (k?.bytesIn ?? 0), bytesOut: (s?.bytesOut ?? 0) + l[1] + (k?.bytesOut ?? 0),
    }
  })
  let errors = 0
  for (const s of p.stats.values()) errors += s.errors
  const out: PortStatus = {
    service: p.service, protocol: p.spec.protocol, published: p.spec.published, target: p.spec.target,
    open: [...open.values()].reduce((a, b) => a + b, 0),
    bytesIn: endpoints.reduce((a, e) => a + e.bytesIn, 0), bytesOut: endpoints.reduce((a, e) => a + e.bytesOut, 0),
    queuedBytes, errors, retries: p.retries, rejected: p.rejected, endpoints,
  }
  if (p.spec.proxyProtocol) out.proxyProtocol = p.spec.proxyProtocol
  return out
}

/**
 * Which path serves a published port from outside this node (pure), and why not the kernel's when the node is in nft
 * mode: a PROXY protocol port (the proxy writes the header), rules that failed to apply, no kernel rule yet.
 */
export function portPath(mode: 'userspace' | 'nft', spec: { proxyProtocol?: 'v1' | 'v2' }, nftError: string | null, hasRule: boolean): Pick<PortStatus, 'path' | 'pathReason'> {
  if (mode !== 'nft') return { path: 'userspace' }
  const why = spec.proxyProtocol !== undefined ? 'PROXY protocol (the proxy writes the header)'
    : nftError !== null ? 'nft rules failed to apply'
      : !hasRule ? 'no kernel rule (no serving endpoint yet)' : null
  return why === null ? { path: 'nft' } : { path: 'userspace', pathReason: why }
}
