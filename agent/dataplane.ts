import type { Registry } from 'prom-client'
import type { DataPlaneConfig } from '../src/config/index.ts'
import { Catalog, FileCatalogStore, type CatalogSnapshot } from '../src/catalog/index.ts'
import { DnsServer, lookup, type DnsStatus, type LookupResult } from '../src/dns/index.ts'
import type { Gossip } from '../src/gossip/index.ts'
import { Ingress, type PortStatus } from '../src/ingress/index.ts'
import type { Logger } from './log.ts'
import { LOOPBACK_RANGE } from '../src/config/index.ts'

/**
 * The agent's data plane: the catalog (services → endpoints) fed by the manager's push stream and by gossip, and
 * its two readers, the ingress routing mesh (every published port on this node) and the service DNS (on the
 * overlay gateway and a host-local address). Started once the node belongs to a cluster and holds its overlay
 * subnet; the cached catalog (<data-dir>/catalog.json) is served at once, before the manager answers.
 * Gossip declaring a node dead takes its endpoints out of rotation here, without waiting for the manager.
 */
export interface DataPlaneOptions {
  config: Readonly<DataPlaneConfig>
  dataDir: string
  gossip: Gossip
  /** Overlay ranges, for DNS recursion and reverse zones. */
  overlayRange: string
  vipRange: string
  log: Logger
}

export interface DataPlaneStatus {
  catalogRevision: number
  services: number
  /** Every service's VIP (endpoint mode vip) or `dnsrr`, with its serving endpoints. */
  vips: { service: string; vip: string | null; endpointMode: 'vip' | 'dnsrr'; endpoints: number }[]
  downNodes: string[]
  ingress: { mode: string; ports: PortStatus[] }
  dns: DnsStatus | null
}

export class DataPlane {
  readonly catalog: Catalog
  #ingress: Ingress | null = null
  #dns: DnsServer | null = null
  #unsubscribe: (() => void) | null = null
  readonly #o: DataPlaneOptions

  constructor(o: DataPlaneOptions) {
    this.#o = o
    const clog = o.log.child({ sub: 'catalog' })
    this.catalog = new Catalog({ store: new FileCatalogStore(o.dataDir), log: (level, msg, fields) => clog[level](fields ?? {}, msg) })
  }

  /** Serve the cached catalog, follow gossip, open the published ports and the DNS (on `gateway` when given). */
  async start(gateway: string | null): Promise<void> {
    const { config: c, log } = this.#o
    this.catalog.restore()
    this.#unsubscribe = this.#o.gossip.on((e) => {
      if (e.type === 'fail' || e.type === 'leave') this.catalog.nodeDown(e.member.name)
      else if (e.type === 'join' || e.type === 'alive') this.catalog.nodeUp(e.member.name)
    })
    const ilog = log.child({ sub: 'ingress' })
    this.#ingress = new Ingress({
      catalog: this.catalog, mode: c.ingressMode, idleTimeoutMs: c.ingressIdleTimeoutMs, maxConnections: c.ingressMaxConnections,
      balancer: c.ingressBalancer, ...(gateway ? { snatAddr: gateway } : {}),
      log: (level, msg, fields) => ilog[level](fields ?? {}, msg),
    })
    await this.#ingress.start()
    if (c.dns) {
      const dlog = log.child({ sub: 'dns' })
      const listen = [{ host: c.dnsLocalAddr, port: 53 }, ...(gateway ? [{ host: gateway, port: 53 }] : [])]
      this.#dns = new DnsServer({
        catalog: this.catalog, listen, domain: c.dnsDomain, ttlSec: c.dnsTtlSec,
        ...(c.dnsUpstreams.length > 0 ? { upstreams: [...c.dnsUpstreams] } : {}),
        ...this.#ranges(),
        log: (level, msg, fields) => dlog[level](fields ?? {}, msg),
      })
      await this.#dns.start()
    }
  }

  /** A snapshot pushed by the manager. */
  apply(snap: CatalogSnapshot): void {
    this.catalog.apply(snap)
  }

  /** The resolvers task containers get (the DNS on the overlay gateway), or none. */
  resolvers(gateway: string | null): string[] {
    return this.#o.config.dns && gateway ? [gateway] : []
  }

  /** Answer `name` as the DNS would for a container at `fromIp` (`mesh dns lookup`). */
  lookup(name: string, type: string, fromIp?: string): LookupResult {
    const c = this.#o.config
    return lookup(this.catalog, name, type, {
      domain: c.dnsDomain, ttlSec: c.dnsTtlSec, ...this.#ranges(), ...(fromIp ? { fromIp } : {}),
    })
  }

  registerMetrics(registry: Registry): void {
    this.#ingress?.registerMetrics(registry)
    this.#dns?.registerMetrics(registry)
  }

  status(): DataPlaneStatus {
    const snap = this.catalog.current()
    return {
      catalogRevision: snap.revision, services: snap.services.length, downNodes: this.catalog.downNodes(),
      vips: snap.services.map((v) => ({ service: v.name, vip: v.vip ?? null, endpointMode: v.endpointMode, endpoints: v.endpoints.length })),
      ingress: { mode: this.#o.config.ingressMode, ports: this.#ingress?.status() ?? [] },
      dns: this.#dns?.status() ?? null,
    }
  }

  /** Recursion only for the overlay, VIPs and the host; reverse zones for the overlay and VIPs. */
  #ranges(): { allowCidrs: string[]; reverseCidrs: string[] } {
    return { allowCidrs: [this.#o.overlayRange, this.#o.vipRange, LOOPBACK_RANGE], reverseCidrs: [this.#o.overlayRange, this.#o.vipRange] }
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.()
    await this.#ingress?.stop().catch(() => undefined)
    await this.#dns?.stop().catch(() => undefined)
  }
}
