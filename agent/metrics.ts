/**
 * agent/metrics.ts — Prometheus metrics of one agent and the small HTTP listener that serves them.
 *
 * `createAgentRegistry(parts)` builds a prom-client Registry with Node process metrics (collectDefaultMetrics),
 * gossip metrics (src/gossip/metrics.ts), overlay metrics (src/overlay/metrics.ts) and, on managers, the scheduler
 * metrics of src/manager/metrics.ts; each subsystem defines its own, this file only creates and wires. Every
 * value is read at scrape time; nothing is sampled in the background. `startMetrics(opts)` also listens on `--metrics-addr` (default 127.0.0.1:9947, `off` = none) and
 * serves GET /metrics; on a manager it makes the API port's /metrics serve the same registry, and feeds the
 * dashboard the node facts only this agent knows (tunnel health; the subnets it shows are the registered ones).
 * Other subsystems add theirs with `registerMetrics(registry)` on `running.registry`.
 */
import http from 'node:http'
import { collectDefaultMetrics, Registry } from 'prom-client'
import { ConfigError } from '../src/base/errors.ts'
import { registerGossipMetrics, type Gossip } from '../src/gossip/index.ts'
import { registerManagerMetrics, type Manager, type NodeFacts } from '../src/manager/index.ts'
import { TAG_SUBNET, cachedOverlayStatus, registerOverlayMetrics, type Overlay } from '../src/overlay/index.ts'
import type { Logger } from './log.ts'

import { DEFAULT_METRICS_ADDR } from '../src/config/index.ts'
/** A WireGuard session is rekeyed every 2 minutes while in use; older than this, the tunnel counts as stale. */
const TUNNEL_FRESH_S = 180

export interface MetricsParts {
  gossip?: Gossip | null
  overlay?: Overlay | null
  manager?: Manager | null
}

export function createAgentRegistry(parts: MetricsParts): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  if (parts.gossip) registerGossipMetrics(registry, parts.gossip)
  if (parts.overlay) registerOverlayMetrics(registry, parts.overlay)
  if (parts.manager) registerManagerMetrics(registry, parts.manager)
  return registry
}

/** Node facts for the dashboard: tunnel health from this node's WireGuard peers (subnets come from the registrations). */
export function nodeFactsSource(gossip: Gossip, overlay: Overlay | null): () => Promise<Map<string, NodeFacts>> {
  const status = overlay ? cachedOverlayStatus(overlay) : async () => null
  const self = gossip.config.name
  return async () => {
    const out = new Map<string, NodeFacts>()
    const st = await status()
    const peers = new Map((st?.peers ?? []).map((p) => [p.node, p]))
    const now = Date.now() / 1000
    for (const m of gossip.members()) {
      const f: NodeFacts = {}
      const subnet = m.tags[TAG_SUBNET] // a member with no subnet tag has no tunnel to speak of yet
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
  /** Serve this registry instead of building one from the parts (the agent builds it first, for the manager API). */
  registry?: Registry
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
 * Build the registry (unless given) and serve GET /metrics on `addr`. A port
 * already in use is logged and skipped, not fatal: several agents on one host (tests) all default to 9947.
 */
export async function startMetrics(o: MetricsOptions): Promise<RunningMetrics> {
  const where = parseMetricsAddr(o.addr ?? DEFAULT_METRICS_ADDR)
  const registry = o.registry ?? createAgentRegistry(o)
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
