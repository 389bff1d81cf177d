import type { CatalogService, CatalogSnapshot, CatalogView, Endpoint } from '../catalog/index.ts'
import { ConfigError, LatestWins, realClock, type Clock, type TimerHandle } from '../base/index.ts'
import type { PortSpec } from '../api/index.ts'
import { Balancer, isServing, type Backend, type BalancePolicy, type BalancerOptions } from './balancer.ts'
import { defaultFdBudget, ingressDefaults } from '../config/index.ts'
import { IngressMetrics, type Registry } from './metrics.ts'
import { NftApplier, nftExec, type Exec } from './nft.ts'
import { createNftRunner } from '../base/nft.ts'
import type { PortProxy } from './port-proxy.ts'
import { nftTable, planNft } from './nft-rules.ts'
import type { TrafficByEndpoint } from './nft-counters.ts'
import { checkNetworkBridges } from './nft-check.ts'
import { EndpointStats, portPath, portStatus, type PortStatus } from './status.ts'
import { applyProbe } from './health-check.ts'
import { IngressHealth } from './ingress-health.ts'
import { createProber } from './prober.ts'
import { RawTcpProxy, rawBindingsAvailable } from './raw-tcp-proxy.ts'
import { TcpProxy, type TcpProxyOptions } from './tcp-proxy.ts'
import { UdpProxy } from './udp-proxy.ts'
import { FdBudget, openFileLimit, REFUSED_FD_BUDGET, REFUSED_PER_SOURCE, SourceCaps, Throttle } from './limits.ts'
import type { IngressLimits, IngressOptions } from './options.ts'
import { ejectionFilter } from './serving.ts'

export type { IngressLimits, IngressLog, IngressOptions } from './options.ts'

/** How often a refusal by a limit may be logged (the count of refusals since the last line goes with it). */
const LIMIT_LOG_EVERY_MS = 10_000
/** nft mode: how often the per-endpoint counters are read from the kernel for status() and /metrics. */
const NFT_TRAFFIC_EVERY_MS = 5_000

interface PortEntry {
  key: string
  service: string
  spec: PortSpec
  balancer: Balancer
  /** What the balancer was last set from (the catalog shares an unchanged service's list between snapshots). */
  endpoints: readonly Endpoint[] | null
  proxy: PortProxy
  stats: Map<string, EndpointStats>
  retries: number
  rejected: number
  perSource: SourceCaps
}

/** The options that always have a value (from src/config's ingressDefaults() when left out). */
type Defaulted = 'bindAddr' | 'idleTimeoutMs' | 'udpIdleTimeoutMs' | 'maxConnections' | 'maxUdpFlows' | 'connectTimeoutMs' | 'maxAttempts'
  | 'fdBudget' | 'maxConnectionsPerSource'

/**
 * The ingress controller: one listener per published ingress port (TCP and UDP) on this node, reconciled from the
 * catalog; in nft mode also the kernel ruleset. Lifecycle: construct (no side effects), start(), stop().
 */
export class Ingress {
  readonly #o: Required<Pick<IngressOptions, Defaulted>> & IngressOptions
  readonly #nftRecheckMs: number
  readonly #clock: Clock
  readonly #ports = new Map<string, PortEntry>()
  readonly #nft: NftApplier | null
  readonly #health: IngressHealth
  #metrics: IngressMetrics | null = null
  #unsubscribe: (() => void) | null = null
  /** Reconciles run one at a time; while one runs only the newest snapshot waits. */
  readonly #reconciles = new LatestWins<CatalogSnapshot>(async (s) => { if (this.#running) await this.#reconcile(s) })
  /** nft applies likewise, in a queue of their own: a slow `nft -f` never holds back the listeners and balancers. */
  readonly #nftApplies = new LatestWins<CatalogSnapshot>(async (s) => { if (this.#running) await this.#applyNft(s) })
  #timers: TimerHandle[] = []
  #running = false
  #nftError: string | null = null
  #nftCleared = false
  #traffic: TrafficByEndpoint = new Map()
  readonly #fdBudget: FdBudget
  readonly #limitLog: Throttle

  constructor(o: IngressOptions) {
    if (o.mode !== 'userspace' && o.mode !== 'nft') throw new ConfigError(`ingress: mode must be userspace or nft, got ${String(o.mode)}`)
    const d = ingressDefaults()
    const merged = {
      bindAddr: d.bindAddr, idleTimeoutMs: d.idleTimeoutMs, udpIdleTimeoutMs: d.udpIdleTimeoutMs, maxConnections: d.maxConnections,
      maxUdpFlows: d.maxUdpFlows, connectTimeoutMs: d.connectTimeoutMs, maxAttempts: d.maxAttempts, fdBudget: d.fdBudget,
      maxConnectionsPerSource: d.maxConnectionsPerSource, ...o,
    }
    for (const k of ['idleTimeoutMs', 'udpIdleTimeoutMs', 'connectTimeoutMs'] as const) {
      if (!(merged[k] >= 0)) throw new ConfigError(`ingress: ${k} must be ≥ 0, got ${merged[k]}`)
    }
    for (const k of ['maxConnections', 'maxUdpFlows', 'maxAttempts'] as const) {
      if (!(merged[k] >= 1)) throw new ConfigError(`ingress: ${k} must be ≥ 1, got ${merged[k]}`)
    }
    for (const k of ['fdBudget', 'maxConnectionsPerSource'] as const) {
      if (!(Number.isSafeInteger(merged[k]) && merged[k] >= 0)) throw new ConfigError(`ingress: ${k} must be an integer ≥ 0, got ${merged[k]}`)
    }
    this.#o = merged
    this.#nftRecheckMs = d.nftRecheckMs
    this.#clock = o.clock ?? realClock()
    this.#nft = o.mode === 'nft' || o.vipRules !== false ? new NftApplier(o.exec ?? nftExec(o.nft ?? createNftRunner('auto', {
      onFallback: (why) => o.log('info', 'nft rules go through nft -f -: libnftables unavailable', { why }),
    }))) : null
    const prober = createProber(merged, this.#clock, {
      endpointChecked: (key, ok) => this.#endpointChecked(key, ok),
      nodeChanged: (name, change) => {
        this.#o.log(change === 'down' ? 'warn' : 'info', change === 'down' ? 'node check failed; its endpoints out of the kernel rules' : 'node check passed; its endpoints back', { node: name })
        if (this.#running && this.#o.mode === 'nft') this.#nftApplies.offer(this.#o.catalog.current())
      },
    })
    this.#health = new IngressHealth({ prober, localNode: o.localNode, nodeAddress: o.nodeAddress })
    this.#fdBudget = new FdBudget(merged.fdBudget > 0 ? merged.fdBudget : defaultFdBudget((o.openFileLimit ?? openFileLimit)()))
    this.#limitLog = new Throttle(this.#clock, LIMIT_LOG_EVERY_MS)
  }

  /** The admission limits: the fd budget (capacity, in use) and connections refused by it and by per-source caps. */
  limits(): IngressLimits {
    let perSource = 0
    for (const p of this.#ports.values()) perSource += p.perSource.refused
    return { fdBudget: this.#fdBudget.capacity, fdsUsed: this.#fdBudget.used, refusedFdBudget: this.#fdBudget.refused, refusedPerSource: perSource }
  }

  /** A connection refused by a limit: counted on its port, logged (warn) at most once per LIMIT_LOG_EVERY_MS. */
  #limited(entry: { key: string; rejected: number }, reason: string): void {
    entry.rejected++
    const n = this.#limitLog.hit()
    if (n > 0) {
      this.#o.log('warn', 'ingress connections refused by a limit', {
        port: entry.key, reason, refused: n, fdBudget: this.#fdBudget.capacity, fdsUsed: this.#fdBudget.used,
      })
    }
  }

  async start(): Promise<void> {
    this.#running = true
    this.#unsubscribe = this.#o.catalog.onChange((snap) => this.#enqueue(snap))
    this.#enqueue(this.#o.catalog.current())
    await this.#settled()
    this.#health.prober?.start()
    // nft mode: ejections start and end with time; recompute the ruleset (applied only when its text changes).
    if (this.#o.mode === 'nft') {
      this.#every(this.#nftRecheckMs, () => this.#enqueue(this.#o.catalog.current()))
      this.#every(NFT_TRAFFIC_EVERY_MS, () => void this.#nft?.traffic().then((t) => { this.#traffic = t }, () => undefined))
    }
  }

  /**
   * Close the listeners and every connection. `keepRules` (an agent stopping without leaving, or handing over to a
   * new process) leaves the nft ruleset in the kernel: the next start applies its own over it in one transaction.
   */
  async stop(o: { keepRules?: boolean } = {}): Promise<void> {
    this.#running = false
    this.#unsubscribe?.()
    this.#unsubscribe = null
    for (const h of this.#timers) this.#clock.clearTimeout(h)
    this.#timers = []
    this.#health.prober?.stop()
    await this.#settled()
    await Promise.all([...this.#ports.values()].map((p) => p.proxy.stop()))
    this.#ports.clear()
    if (this.#nft && !o.keepRules) await this.#nft.remove()
  }

  /**
   * Hand the published ports over (a new agent process listens beside this one with reusePort): stop listening,
   * let open connections finish for at most `drainMs` (polled every `pollMs`), then stop, keeping the nft rules.
   * Resolves with the connections still open at the deadline (closed by the stop).
   */
  async release(drainMs: number, pollMs = 100): Promise<number> {
    this.#running = false
    this.#unsubscribe?.()
    this.#unsubscribe = null
    this.#health.prober?.stop()
    await this.#settled()
    await Promise.all([...this.#ports.values()].map((p) => p.proxy.closeListener()))
    const open = (): number => [...this.#ports.values()].reduce((n, p) => n + p.proxy.open, 0)
    const deadline = this.#clock.now() + drainMs
    while (open() > 0 && this.#clock.now() < deadline) await new Promise<void>((r) => { this.#clock.setTimeout(r, pollMs) })
    const left = open()
    await this.stop({ keepRules: true })
    return left
  }

  /** Per published port: protocol, endpoints with health and ejection, open connections, bytes, errors, retries. */
  status(): PortStatus[] {
    const now = this.#clock.now()
    return [...this.#ports.values()]
      .map((p) => Object.assign(portStatus(p, now, p.proxy.openByBackend(), p.proxy.liveBytes(), p.proxy.queuedBytes(), this.#traffic),
        portPath(this.#o.mode, p.spec, this.#nftError, this.#nft?.current?.targets.has(`port-${p.spec.protocol}-${p.spec.published}`) === true)))
      .sort((a, b) => a.published - b.published || (a.protocol < b.protocol ? -1 : 1))
  }

  /** The nft ruleset error of the last apply, if it failed. */
  get nftError(): string | null {
    return this.#nftError
  }

  /** Register the ingress metrics (prom-client) on `registry`. */
  registerMetrics(registry: Registry): void {
    this.#metrics = new IngressMetrics(registry, () => this.status(), () => this.limits())
  }

  /** Run `fn` every `ms` until stop; each loop holds one timer slot (replaced, not appended, on every tick). */
  #every(ms: number, fn: () => void): void {
    const slot = this.#timers.length
    const tick = () => {
      if (!this.#running) return
      fn()
      this.#timers[slot] = this.#clock.setTimeout(tick, ms)
    }
    this.#timers.push(this.#clock.setTimeout(tick, ms))
  }

  /** Both queues done: the listeners and balancers, then the nft ruleset they led to. */
  async #settled(): Promise<void> {
    await this.#reconciles.settled()
    await this.#nftApplies.settled()
  }

  #enqueue(snap: CatalogSnapshot): void {
    this.#reconciles.offer(snap)
  }

  async #reconcile(snap: CatalogSnapshot): Promise<void> {
    const want = new Map<string, { svc: CatalogService; spec: PortSpec }>()
    for (const svc of snap.services) {
      for (const spec of svc.ports) {
        if (spec.mode !== 'ingress') continue
        const key = `${spec.protocol}/${spec.published}`
        const other = want.get(key)
        if (other) {
          this.#o.log('warn', 'published port claimed twice; the first service keeps it', { port: key, kept: other.svc.name, ignored: svc.name })
          continue
        }
        want.set(key, { svc, spec })
      }
    }
    for (const [key, p] of this.#ports) {
      const w = want.get(key)
      if (!w || w.svc.name !== p.service || w.spec.proxyProtocol !== p.spec.proxyProtocol) {
        this.#ports.delete(key)
        await p.proxy.stop()
        this.#o.log('info', 'stopped listening', { port: key, service: p.service })
      }
    }
    for (const [key, { svc, spec }] of want) {
      let p = this.#ports.get(key)
      if (!p) {
        const created = this.#createPort(key, svc, spec)
        try {
          await created.proxy.start()
        } catch (err) {
          this.#o.log('error', 'cannot listen on published port', { port: key, service: svc.name, err: (err as Error).message })
          continue
        }
        this.#ports.set(key, created)
        this.#o.log('info', 'listening', { port: key, service: svc.name, target: spec.target })
        p = created
      }
      // Only the ports whose endpoints changed (or target port) are set again.
      if (p.endpoints === svc.endpoints && p.spec.target === spec.target) { p.spec = spec; continue }
      p.spec = spec
      p.endpoints = svc.endpoints
      const retired = p.balancer.setEndpoints(svc.endpoints, spec.target)
      p.proxy.retire(retired, svc.stopGracePeriodMs)
      for (const k of p.stats.keys()) if (!p.balancer.get(k)) p.stats.delete(k)
    }
    this.#health.follow(snap, this.#ports.values())
    this.#o.reconciled?.(snap)
    if (this.#nft) this.#nftApplies.offer(snap)
  }

  /**
   * A task of this node stopped running (its runtime said so): its endpoints leave the kernel rules and the
   * balancers now, not after the manager's catalog round trip. Unknown ids are kept until the catalog drops them.
   */
  taskGone(taskId: string): void {
    if (!this.#running || !this.#health.taskGone(taskId)) return
    const now = this.#clock.now()
    for (const p of this.#ports.values()) {
      for (const b of p.balancer.backends()) if (b.endpoint.taskId === taskId && b.ejectedUntil <= now) p.balancer.failed(b)
    }
    this.#o.log('info', 'local task gone; out of rotation', { task: taskId })
    if (this.#nft) this.#nftApplies.offer(this.#o.catalog.current())
  }

  /** Gossip suspects `node`: its endpoints leave the kernel rules until its node probe passes (nft mode). */
  nodeSuspected(node: string): void {
    if (this.#running) this.#health.prober?.markDown(node)
  }

  /** Gossip's members changed (a node's address is known or moved): probe targets again. */
  membersChanged(): void {
    if (this.#running) this.#health.follow(this.#o.catalog.current(), this.#ports.values())
  }

  /** Nodes out of the kernel rules because their node probe failed or gossip suspects them. */
  downNodes(): string[] {
    return this.#health.prober?.schedule.downNodes() ?? []
  }

  #createPort(key: string, svc: CatalogService, spec: PortSpec): PortEntry {
    const o = this.#o
    const bo: BalancerOptions = typeof o.balancer === 'string' ? { policy: o.balancer } : (o.balancer ?? {})
    const balancer = new Balancer(() => this.#clock.now(), bo)
    const perSource = new SourceCaps(o.maxConnectionsPerSource)
    const entry = { key, service: svc.name, spec, balancer, endpoints: null, stats: new Map<string, EndpointStats>(), retries: 0, rejected: 0, perSource }
    // The hooks count into `entry` itself: keep its identity (assign, do not copy).
    return Object.assign(entry, { proxy: spec.protocol === 'tcp' ? this.#tcpProxy(entry) : this.#udpProxy(entry) })
  }

  #tcpProxy(entry: Omit<PortEntry, 'proxy'>): PortProxy {
    const o = this.#o
    const log = o.log
    const key = entry.key
    const st = endpointStats(entry.stats)
    const opts: TcpProxyOptions = {
      bindAddr: o.bindAddr, port: entry.spec.published, balancer: entry.balancer, clock: this.#clock,
      idleTimeoutMs: o.idleTimeoutMs, connectTimeoutMs: o.connectTimeoutMs, maxAttempts: o.maxAttempts,
      maxConnections: o.maxConnections, proxyProtocol: entry.spec.proxyProtocol, fdBudget: this.#fdBudget, perSource: entry.perSource,
      hooks: {
        connected: (b, ms) => {
          st(b).connections++
          this.#metrics?.observeConnect(entry.service, key, ms)
        },
        connectFailed: (b, err, retried) => {
          st(b).errors++
          if (retried) entry.retries++
          log('warn', 'backend connect failed; ejected', { port: key, endpoint: b.key, task: b.endpoint.taskName, err, failures: b.failures, retried })
        },
        rejected: (reason) => {
          if (reason === REFUSED_FD_BUDGET || reason === REFUSED_PER_SOURCE) return this.#limited(entry, reason)
          entry.rejected++
          log('debug', 'connection refused', { port: key, reason })
        },
        closed: (b, bytesIn, bytesOut) => st(b).closed(bytesIn, bytesOut),
      },
    }
    const raw = o.tcpEngine !== 'net' && rawBindingsAvailable()
    return raw ? new RawTcpProxy(opts) : new TcpProxy(opts)
  }

  #udpProxy(entry: Omit<PortEntry, 'proxy'>): PortProxy {
    const o = this.#o
    const st = endpointStats(entry.stats)
    return new UdpProxy({
      bindAddr: o.bindAddr, port: entry.spec.published, balancer: entry.balancer, clock: this.#clock,
      idleTimeoutMs: o.udpIdleTimeoutMs, maxFlows: o.maxUdpFlows, fdBudget: this.#fdBudget, perSource: entry.perSource,
      hooks: {
        flowOpened: (b) => {
          st(b).connections++
        },
        flowFailed: (b, err) => {
          st(b).errors++
          o.log('warn', 'udp backend unreachable; ejected', { port: entry.key, endpoint: b.key, err })
        },
        rejected: (reason) => {
          if (reason === REFUSED_FD_BUDGET || reason === REFUSED_PER_SOURCE) this.#limited(entry, reason)
          else entry.rejected++
        },
        flowClosed: (b, bytesIn, bytesOut) => st(b).closed(bytesIn, bytesOut),
      },
    })
  }

  async #applyNft(snap: CatalogSnapshot): Promise<void> {
    const nft = this.#nft as NftApplier
    const now = this.#clock.now()
    // With active checks, an endpoint (TCP: UDP is not checked) whose last check failed stays out until one passes.
    const plan = planNft(snap, ejectionFilter(this.#ports.values(), now, this.#health.prober !== null, this.#health.out))
    if (this.#o.mode !== 'nft') plan.ports = []
    if (this.#o.vipRules === false) {
      plan.vips = []
      plan.vipServices = []
    }
    if (plan.ports.length === 0 && plan.vips.length === 0 && plan.vipServices.length === 0) {
      // Nothing to write: delete our table (its base chains and maps would be left empty), or only clear what a
      // previous (crashed) agent may have left, once.
      if (nft.applied || !this.#nftCleared) {
        this.#nftCleared = true
        await nft.remove()
      }
      return
    }
    // One network bridge that cannot be written is left out, never the whole ruleset.
    const networkBridges = (this.#o.networkBridges?.(snap) ?? []).filter((n) => {
      try { checkNetworkBridges([n]); return true } catch { return false }
    })
    try {
      // A PROXY protocol port stays with its userspace listener (the proxy writes the header; the kernel cannot).
      const skipPorts = new Set([...this.#ports.values()].filter((p) => p.spec.proxyProtocol !== undefined).map((p) => p.key))
      const table = nftTable(plan, { bridge: this.#o.bridge, snatAddr: this.#o.snatAddr, networkBridges, skipPorts }, nft.current)
      const how = await nft.apply(table)
      if (how) this.#o.log(how === 'full' ? 'info' : 'debug', 'nft ingress rules applied', { how, ports: plan.ports.length, vips: plan.vipServices.length })
      this.#nftError = null
    } catch (err) {
      this.#nftError = (err as Error).message
      this.#o.log('error', 'nft ingress rules failed; userspace listeners serve', { err: this.#nftError })
    }
  }

  /** An endpoint probe answered: every TCP port's balancer that has it applies the answer (health-check.ts). */
  #endpointChecked(key: string, ok: boolean): void {
    if (!this.#running) return
    const now = this.#clock.now()
    let changed = false
    for (const p of this.#ports.values()) {
      const b = p.spec.protocol === 'tcp' ? p.balancer.get(key) : undefined
      if (!b || !isServing(b.endpoint)) continue
      const was = b.failures
      const outcome = applyProbe(p.balancer, b, ok, now)
      if (outcome === 'ejected') this.#o.log('warn', 'active check failed; ejected', { port: p.key, endpoint: b.key })
      if (outcome === 'ejected' || (outcome === 'passed' && was > 0)) changed = true
    }
    // nft mode: the kernel rules follow a check at once (an element delta), not at the next periodic re-check.
    if (changed && this.#o.mode === 'nft') this.#nftApplies.offer(this.#o.catalog.current())
  }
}

/** The counters of a backend in a port's stats map, created on first use. */
function endpointStats(stats: Map<string, EndpointStats>): (b: Backend) => EndpointStats {
  return (b) => {
    let s = stats.get(b.key)
    if (!s) stats.set(b.key, (s = new EndpointStats()))
    return s
  }
}
