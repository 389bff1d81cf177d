/**
 * agent/metrics.ts — Prometheus metrics of one agent and the small HTTP listener that serves them.
 *
 * `createAgentRegistry(parts)` builds a prom-client Registry with Node process metrics (collectDefaultMetrics),
 * gossip metrics (from Gossip.members()/counters()), overlay metrics (from Overlay.status()) and, on managers,
 * the scheduler metrics of src/manager/metrics.ts. Every value is read at scrape time; nothing is sampled in the
 * background. `startMetrics(opts)` also listens on `--metrics-addr` (default 127.0.0.1:9947, `off` = none) and
 * serves GET /metrics; on a manager it makes the API port's /metrics serve the same registry, and feeds the
 * dashboard the node facts only this agent knows (overlay subnets from gossip tags, tunnel health).
 * Other subsystems add theirs with `registerMetrics(registry)` on `running.registry`.
 */
import http from 'node:http'
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import { ConfigError } from '../src/base/errors.ts'
import type { Gossip } from '../src/gossip/index.ts'
import type { Manager } from '../src/manager/manager.ts'
import { registerManagerMetrics, setStateCounts } from '../src/manager/metrics.ts'
import { provideNodeFacts, useMetricsRegistry, type NodeFacts } from '../src/manager/observe-api.ts'
import { TAG_SUBNET, type Overlay, type OverlayStatus } from '../src/overlay/index.ts'
import type { Logger } from './log.ts'

import { DEFAULT_METRICS_ADDR } from '../src/config/index.ts'
/** A WireGuard session is rekeyed every 2 minutes while in use; older than this, the tunnel counts as stale. */
const TUNNEL_FRESH_S = 180

export interface MetricsParts {
  gossip?: Gossip | null
  overlay?: Overlay | null
  manager?: Manager | null
}

/** Overlay.status() once per scrape (several metrics read it), and never more than once a second. */
function cachedStatus(overlay: Overlay): () => Promise<OverlayStatus | null> {
  let at = 0
  let last: Promise<OverlayStatus | null> = Promise.resolve(null)
  return () => {
    const now = Date.now()
    if (now - at > 1000) {
      at = now
      last = overlay.status().catch(() => null)
    }
    return last
  }
}

export function createAgentRegistry(parts: MetricsParts): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  if (parts.gossip) registerGossipMetrics(registry, parts.gossip)
  if (parts.overlay) registerOverlayMetrics(registry, parts.overlay)
  if (parts.manager) registerManagerMetrics(registry, parts.manager.store)
  return registry
}

const MEMBER_STATES = ['alive', 'suspect', 'dead', 'left', 'leaving'] as const

export function registerGossipMetrics(registry: Registry, gossip: Gossip): void {
  const registers = [registry]
  new Gauge({
    name: 'mesh_gossip_members', help: 'Gossip members (this node included) by state.', labelNames: ['state'], registers,
    collect() {
      setStateCounts(this, MEMBER_STATES, gossip.members().map((m) => m.state))
    },
  })
  new Gauge({
    name: 'mesh_gossip_health_score', help: 'Lifeguard local health (awareness) score: 0 is healthy, higher means this node is slow to answer.', registers,
    collect() {
      this.set(gossip.counters().health)
    },
  })
  const counter = (name: string, help: string, read: (c: ReturnType<Gossip['counters']>) => number) => new Counter({
    name, help, registers,
    collect() {
      this.reset()
      this.inc(read(gossip.counters()))
    },
  })
  const inOut = (name: string, help: string, read: (c: ReturnType<Gossip['counters']>) => [number, number]) => new Counter({
    name, help, labelNames: ['direction'], registers,
    collect() {
      this.reset()
      const [i, o] = read(gossip.counters())
      this.inc({ direction: 'in' }, i)
      this.inc({ direction: 'out' }, o)
    },
  })
  counter('mesh_gossip_probes_total', 'Failure-detection probes sent.', (c) => c.probes)
  counter('mesh_gossip_probe_failures_total', 'Probes that got no ack, directly or indirectly.', (c) => c.probeFailures)
  counter('mesh_gossip_suspicions_total', 'Members this node started to suspect.', (c) => c.suspicions)
  counter('mesh_gossip_push_pulls_total', 'Full state exchanges (push/pull over TCP).', (c) => c.pushPulls)
  counter('mesh_gossip_decrypt_failures_total', 'Packets or streams no keyring key could decrypt.', (c) => c.decryptFailures)
  counter('mesh_gossip_decode_errors_total', 'Messages that did not decode (hostile or broken input).', (c) => c.decodeErrors)
  inOut('mesh_gossip_messages_total', 'Gossip messages in UDP packets (a compound packet carries several).', (c) => [c.messagesIn, c.messagesOut])
  inOut('mesh_gossip_packets_total', 'Gossip UDP packets.', (c) => [c.packetsIn, c.packetsOut])
  inOut('mesh_gossip_bytes_total', 'Gossip UDP bytes (after encryption).', (c) => [c.bytesIn, c.bytesOut])
}

export function registerOverlayMetrics(registry: Registry, overlay: Overlay): void {
  const status = cachedStatus(overlay)
  const registers = [registry]
  new Gauge({
    name: 'mesh_overlay_enabled', help: '1 when this node runs the WireGuard overlay.', registers,
    async collect() {
      this.set((await status())?.enabled ? 1 : 0)
    },
  })
  new Gauge({
    name: 'mesh_overlay_peers', help: 'WireGuard peers configured on this node.', registers,
    async collect() {
      this.set((await status())?.peers.length ?? 0)
    },
  })
  new Gauge({
    name: 'mesh_overlay_peer_handshake_age_seconds', help: 'Seconds since the last WireGuard handshake with a peer (-1: never).', labelNames: ['peer'], registers,
    async collect() {
      this.reset()
      const now = Date.now() / 1000
      for (const p of (await status())?.peers ?? []) this.set({ peer: p.node }, p.lastHandshakeS > 0 ? Math.max(0, Math.round(now - p.lastHandshakeS)) : -1)
    },
  })
  for (const [dir, key] of [['rx', 'rxBytes'], ['tx', 'txBytes']] as const) {
    new Counter({
      name: `mesh_overlay_peer_${dir}_bytes_total`, help: `Bytes ${dir === 'rx' ? 'received from' : 'sent to'} a WireGuard peer.`, labelNames: ['peer'], registers,
      async collect() {
        this.reset()
        for (const p of (await status())?.peers ?? []) this.inc({ peer: p.node }, p[key])
      },
    })
  }
}

/** Node facts for the dashboard: subnets from gossip tags, tunnel health from this node's WireGuard peers. */
export function nodeFactsSource(gossip: Gossip, overlay: Overlay | null): () => Promise<Map<string, NodeFacts>> {
  const status = overlay ? cachedStatus(overlay) : async () => null
  const self = gossip.config.name
  return async () => {
    const out = new Map<string, NodeFacts>()
    const st = await status()
    const peers = new Map((st?.peers ?? []).map((p) => [p.node, p]))
    const now = Date.now() / 1000
    for (const m of gossip.members()) {
      const f: NodeFacts = {}
      // Our own member entry may carry the tags we started with; the overlay knows our claim first-hand.
      const subnet = (m.name === self ? st?.subnet : undefined) ?? m.tags[TAG_SUBNET]
      if (subnet) f.subnet = subnet
      if (st?.enabled) {
        if (m.name === self) f.tunnel = 'self'
        else {
          const p = peers.get(m.name)
          if (p && p.lastHandshakeS > 0) {
            f.handshakeAgeS = Math.max(0, Math.round(now - p.lastHandshakeS))
            f.tunnel = f.handshakeAgeS <= TUNNEL_FRESH_S ? 'up' : 'stale'
          } else if (subnet) f.tunnel = 'none'
        }
      }
      out.set(m.name, f)
    }
    return out
  }
}

/** `HOST:PORT`, `[v6]:PORT` or `off` → listen address (null = off); throws ConfigError naming the input. */
export function parseMetricsAddr(text: string, what = '--metrics-addr'): { host: string; port: number } | null {
  const s = text.trim()
  if (s === 'off') return null
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s)
  if (!m || Number(m[2]) > 65535) throw new ConfigError(`${what} "${text}": want HOST:PORT (e.g. ${DEFAULT_METRICS_ADDR}) or off`)
  return { host: m[1] as string, port: Number(m[2]) }
}

export interface MetricsOptions extends MetricsParts {
  /** HOST:PORT or off. Default 127.0.0.1:9947. */
  addr?: string
  log?: Logger
}

export interface RunningMetrics {
  /** Add subsystem metrics here: `ingress.registerMetrics(metrics.registry)`. */
  registry: Registry
  /** Where /metrics is served ("127.0.0.1:9947"), or null (off, or the port was taken). */
  address: string | null
  stop(): Promise<void>
}

/**
 * Build the registry, hand it (and node facts) to the manager's API, and serve GET /metrics on `addr`. A port
 * already in use is logged and skipped, not fatal: several agents on one host (tests) all default to 9947.
 */
export async function startMetrics(o: MetricsOptions): Promise<RunningMetrics> {
  const where = parseMetricsAddr(o.addr ?? DEFAULT_METRICS_ADDR)
  const registry = createAgentRegistry(o)
  if (o.manager) {
    useMetricsRegistry(o.manager, registry)
    if (o.gossip) provideNodeFacts(o.manager, nodeFactsSource(o.gossip, o.overlay ?? null))
  }
  const log = o.log?.child({ sub: 'metrics' })
  if (!where) return { registry, address: null, stop: async () => undefined }
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n')
      return
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    )
  })
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(where.port, where.host, resolve)
    })
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    log?.warn({ addr: `${where.host}:${where.port}`, err: e.code ?? e.message }, 'metrics listener not started')
    return { registry, address: null, stop: async () => undefined }
  }
  const a = server.address() as { address: string; port: number }
  const address = `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`
  log?.info({ addr: address }, 'serving /metrics')
  return {
    registry, address,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}
