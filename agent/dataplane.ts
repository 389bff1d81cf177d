import { writeFileSync } from 'node:fs'
import type { Registry } from 'prom-client'
import type { DataPlaneStatus } from '../src/api/index.ts'
import { realClock, type Clock } from '../src/base/clock.ts'
import { createNftRunner } from '../src/base/nft.ts'
import type { DataPlaneConfig } from '../src/config/index.ts'
import type { CatalogNetwork } from '../src/api/network.ts'
import { Catalog, FileCatalogStore, localSlices, type CatalogSnapshot, type CatalogStore } from '../src/catalog/index.ts'
import { DnsServer, lookup, type DnsServerOptions, type DnsStatus, type ListenAddress, type LookupResult } from '../src/dns/index.ts'
import type { GossipEvent } from '../src/gossip/index.ts'
import { BRIDGE_PREFIX } from '../src/overlay/index.ts'
import { Ingress, kernelPathUnusable, vipStatus, type HealthTarget, type IngressOptions, type NetworkBridge, type PortStatus } from '../src/ingress/index.ts'
import type { Logger } from './log.ts'
import { LOOPBACK_RANGE } from '../src/config/index.ts'

/**
 * The agent's data plane: the catalog (services → endpoints) fed by the manager's push stream and by gossip, and
 * its two readers, the ingress routing mesh (every published port on this node) and the service DNS (on the
 * overlay gateway, a host-local address and each user network's gateway on this node, where the ingress rules send
 * those networks' containers' DNS). Started once the node belongs to a cluster and holds its overlay
 * subnet; the cached catalog (<data-dir>/catalog.json) is served at once, before the manager answers.
 * Gossip declaring a node dead takes its endpoints out of rotation here, without waiting for the manager.
 */

/** What the data plane needs of gossip: member events, and the members already known (`Gossip` fits). */
export interface MemberEvents {
  on(fn: (e: GossipEvent) => void): () => void
  members?(): readonly { name: string; ip: string; port: number }[]
}

/** The ingress as the data plane drives it: `Ingress` fits; the health hooks are optional (fakes in tests). */
export interface IngressPart extends DataPlanePart<PortStatus[]> {
  release?(drainMs: number): Promise<number>
  taskGone?(taskId: string): void
  nodeSuspected?(node: string): void
  membersChanged?(): void
  downNodes?(): string[]
}

/** The DNS part: it also answers on addresses that come and go (each user network's gateway here). */
export interface DnsPart extends DataPlanePart<DnsStatus> {
  setExtraListen?(addrs: readonly ListenAddress[]): Promise<void>
}

/** A reader of the catalog with a lifecycle: `Ingress` and `DnsServer` fit. */
export interface DataPlanePart<S> {
  start(): Promise<void>
  /** `keepRules`: leave kernel rules (nft) in place for the next start (stop without leaving). */
  stop(o?: { keepRules?: boolean }): Promise<void>
  status(): S
  registerMetrics(registry: Registry): void
}

export interface DataPlaneOptions {
  config: Readonly<DataPlaneConfig>
  dataDir: string
  gossip: MemberEvents
  /** Overlay ranges, for DNS recursion and reverse zones. */
  overlayRange: string
  vipRange: string
  log: Logger
  /** Time for the catalog, ingress and DNS. Default: each one's real clock. */
  clock?: Clock
  /** Where the catalog is cached. Default `<dataDir>/catalog.json`. */
  catalogStore?: CatalogStore
  /** Build the routing mesh. Default `new Ingress(o)`. */
  createIngress?(o: IngressOptions): IngressPart
  /** This node's gossip name (its endpoints' `node`): no node check for itself. */
  localNode?: string
  /** `--ingress-mode auto`: why the kernel path cannot be used here, or null. Default kernelPathUnusable (root, nft). */
  kernelPath?: () => Promise<string | null>
  /** Build the service DNS. Default `new DnsServer(o)`. */
  createDns?(o: DnsServerOptions): DnsPart
  /** This node's id in the cluster (which slices of user networks are here), once known. Default: none (no networks). */
  nodeId?: () => string | null
  /** The bridge of a user network on a node. Default the overlay's naming, `mbr-<vni>`. */
  networkBridge?: (n: CatalogNetwork) => string
}

/** The catalog cache is written at most this often, off the path from a manager push to the ingress and DNS. */
const CATALOG_CACHE_COALESCE_MS = 1000

/** How often the DNS retries binding a network gateway whose bridge was not up yet. */
const NETWORK_DNS_RETRY_MS = 2000


/** The sysctl that moves a closing reuseport listener's queued connections to another listener of its group. */
const TCP_MIGRATE_REQ = '/proc/sys/net/ipv4/tcp_migrate_req'

export class DataPlane {
  readonly catalog: Catalog
  #ingress: IngressPart | null = null
  /** The ingress mode in force (auto resolved at start) and, when auto chose userspace, why. */
  #mode: 'userspace' | 'nft' = 'userspace'
  #modeReason: string | undefined
  /** Where each gossip member's agent answers TCP (the node checks of nft mode). */
  readonly #members = new Map<string, HealthTarget>()
  #dns: DnsPart | null = null
  #unsubscribe: (() => void) | null = null
  #unsubscribeNets: (() => void) | null = null
  #netTimer: ReturnType<Clock['setTimeout']> | null = null
  readonly #o: DataPlaneOptions
  readonly #clock: Clock
  /** The default cache (deferred writes), flushed on stop and release. */
  readonly #fileStore: FileCatalogStore | null

  constructor(o: DataPlaneOptions) {
    this.#o = o
    this.#clock = o.clock ?? realClock()
    const clog = o.log.child({ sub: 'catalog' })
    this.#fileStore = o.catalogStore ? null : new FileCatalogStore(o.dataDir, {
      coalesceMs: CATALOG_CACHE_COALESCE_MS, onError: (err) => clog.warn({ err: err.message }, 'could not cache the catalog'),
    })
    this.catalog = new Catalog({
      store: o.catalogStore ?? (this.#fileStore as FileCatalogStore), log: (level, msg, fields) => clog[level](fields ?? {}, msg),
      ...(o.clock ? { clock: o.clock } : {}),
      // Endpoints must be overlay addresses. Not the VIP range: a worker's --vip-range need not match the manager's.
      overlayRange: o.overlayRange,
    })
  }

  /** Serve the cached catalog, follow gossip, open the published ports and the DNS (on `gateway` when given). */
  async start(gateway: string | null): Promise<void> {
    const { config: c, log } = this.#o
    this.catalog.restore()
    for (const m of this.#o.gossip.members?.() ?? []) this.#members.set(m.name, { ip: m.ip, port: m.port })
    this.#unsubscribe = this.#o.gossip.on((e) => {
      if (e.type === 'fail' || e.type === 'leave') this.catalog.nodeDown(e.member.name)
      else if (e.type === 'join' || e.type === 'alive') this.catalog.nodeUp(e.member.name)
      if (e.type === 'suspect') this.#ingress?.nodeSuspected?.(e.member.name)
      if ((e.type === 'join' || e.type === 'alive' || e.type === 'update') && typeof e.member.ip === 'string') {
        const was = this.#members.get(e.member.name)
        if (!was || was.ip !== e.member.ip || was.port !== e.member.port) {
          this.#members.set(e.member.name, { ip: e.member.ip, port: e.member.port })
          this.#ingress?.membersChanged?.()
        }
      } else if (e.type === 'reap') this.#members.delete(e.member.name)
    })
    this.#mode = c.ingressMode === 'auto' ? 'nft' : c.ingressMode
    if (c.ingressMode === 'auto') {
      const why = await (this.#o.kernelPath ?? (() => kernelPathUnusable()))().catch((err: Error) => err.message)
      if (why !== null) {
        this.#mode = 'userspace'
        this.#modeReason = `auto: ${why}`
      }
      log.child({ sub: 'ingress' }).info({ mode: this.#mode, ...(why !== null ? { why } : {}) }, 'ingress mode auto')
    }
    const ilog = log.child({ sub: 'ingress' })
    const clock = this.#o.clock ? { clock: this.#o.clock } : {}
    const createIngress = this.#o.createIngress ?? ((io: IngressOptions) => new Ingress(io))
    const createDns = this.#o.createDns ?? ((d: DnsServerOptions) => new DnsServer(d))
    this.#ingress = createIngress({
      catalog: this.catalog, mode: this.#mode, idleTimeoutMs: c.ingressIdleTimeoutMs, maxConnections: c.ingressMaxConnections,
      maxUdpFlows: c.ingressMaxUdpFlows, fdBudget: c.ingressFdBudget, maxConnectionsPerSource: c.ingressMaxPerSource,
      balancer: c.ingressPreferLocal && this.#o.nodeId ? { policy: c.ingressBalancer, localNodeId: this.#o.nodeId } : c.ingressBalancer, ...(gateway ? { snatAddr: gateway } : {}), ...clock,
      networkBridges: (snap) => this.networkBridges(snap),
      nft: createNftRunner(c.nftExec, { onFallback: (why) => ilog.info({ why }, 'nft rules go through nft -f -: libnftables unavailable') }),
      nodeAddress: (node) => this.#members.get(node), ...(this.#o.localNode !== undefined ? { localNode: this.#o.localNode } : {}),
      log: (level, msg, fields) => ilog[level](fields ?? {}, msg),
    })
    await this.#ingress.start()
    if (c.dns) {
      const dlog = log.child({ sub: 'dns' })
      const listen = [{ host: c.dnsLocalAddr, port: 53 }, ...(gateway ? [{ host: gateway, port: 53 }] : [])]
      this.#dns = createDns({
        catalog: this.catalog, listen, domain: c.dnsDomain, ttlSec: c.dnsTtlSec, udp: c.dnsUdp, workers: c.dnsWorkers, ...clock,
        ...(c.dnsUpstreams.length > 0 ? { upstreams: [...c.dnsUpstreams] } : {}),
        ...this.#ranges(),
        log: (level, msg, fields) => dlog[level](fields ?? {}, msg),
      })
      await this.#dns.start()
      this.#unsubscribeNets = this.catalog.onChange(() => this.#listenOnNetworks())
      this.#listenOnNetworks()
    }
  }

  /** This node's bridges of user networks in a snapshot, with their gateways and ranges (none before the node id). */
  networkBridges(snap: CatalogSnapshot): NetworkBridge[] {
    const id = this.#o.nodeId?.() ?? null
    if (id === null) return []
    const bridgeOf = this.#o.networkBridge ?? ((n: CatalogNetwork) => `${BRIDGE_PREFIX}${n.vni}`)
    return localSlices(snap, id).map((l) => ({ bridge: bridgeOf(l.network), gateway: l.gateway, subnet: l.network.subnet }))
  }

  /** The DNS on each user network's gateway here; again shortly while one is not bindable yet (its bridge not up). */
  #listenOnNetworks(): void {
    const dns = this.#dns
    if (!dns?.setExtraListen) return
    const clock = this.#clock
    clock.clearTimeout(this.#netTimer)
    this.#netTimer = null
    const want = this.networkBridges(this.catalog.current()).map((n) => ({ host: n.gateway, port: 53 }))
    void dns.setExtraListen(want).then(() => {
      const bound = new Set(dns.status().listen.map((l) => `${l.host}:${l.port}`))
      if (this.#unsubscribeNets !== null && want.some((a) => !bound.has(`${a.host}:${a.port}`))) {
        this.#netTimer = clock.setTimeout(() => this.#listenOnNetworks(), NETWORK_DNS_RETRY_MS)
      }
    }, (err: Error) => this.#o.log.warn({ err: err.message }, 'dns: network gateways'))
  }

  /**
   * A task of this node stopped running (the runtime's report, before the manager's catalog says so): its endpoints
   * leave the ingress (kernel rules and balancers) at once.
   */
  taskGone(taskId: string): void {
    this.#ingress?.taskGone?.(taskId)
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
      vips: vipStatus(snap),
      ingress: {
        mode: this.#mode, ...(this.#modeReason !== undefined ? { modeReason: this.#modeReason } : {}),
        downNodes: this.#ingress?.downNodes?.() ?? [], ports: this.#ingress?.status() ?? [],
      },
      dns: this.#dns?.status() ?? null,
    }
  }

  /**
   * Recursion only for the overlay, VIPs and the host; reverse zones for the overlay and VIPs; the overlay is the
   * default network's range. Each network's range in the catalog is added by the DNS itself (it follows the pool).
   */
  #ranges(): { allowCidrs: string[]; reverseCidrs: string[]; defaultCidrs: string[] } {
    return {
      allowCidrs: [this.#o.overlayRange, this.#o.vipRange, LOOPBACK_RANGE], reverseCidrs: [this.#o.overlayRange, this.#o.vipRange],
      defaultCidrs: [this.#o.overlayRange],
    }
  }

  #stopNetworks(): void {
    this.#unsubscribeNets?.()
    this.#unsubscribeNets = null
    this.#clock.clearTimeout(this.#netTimer)
    this.#netTimer = null
  }

  async stop(o: { keepRules?: boolean } = {}): Promise<void> {
    this.#unsubscribe?.()
    this.#stopNetworks()
    await this.#ingress?.stop(o).catch(() => undefined)
    await this.#dns?.stop().catch(() => undefined)
    await this.#fileStore?.flush()
  }

  /**
   * Let go of the published ports and the DNS for a new agent process that serves beside this one (reusePort):
   * the ingress stops listening and drains its open connections for at most `drainMs`, the DNS closes; the nft
   * rules stay. Resolves with the connections cut at the deadline.
   */
  async release(drainMs: number): Promise<number> {
    this.#unsubscribe?.()
    this.#stopNetworks()
    await this.#fileStore?.flush() // the new process starts from this cache
    // Connections still in this listener's accept queue move to the new process's listener instead of being reset
    // (Linux ≥ 5.14, per network namespace; best effort: an older kernel resets the few that race the close).
    try {
      writeFileSync(TCP_MIGRATE_REQ, '1\n')
    } catch (err) {
      this.#o.log.warn({ err: (err as Error).message }, `cannot set ${TCP_MIGRATE_REQ}: connections queued on the old listener may be reset`)
    }
    await this.#dns?.stop().catch(() => undefined)
    const ing = this.#ingress
    if (!ing) return 0
    if (ing.release) return ing.release(drainMs)
    await ing.stop({ keepRules: true })
    return 0
  }
}
