/**
 * Live traffic for the dashboard (pure; wall time injected): every node's cumulative counters
 * (src/api/traffic.ts) become rates in rings of time buckets — per service (summed over the nodes its published
 * ports answer on), per service and ingress node (the traffic view's edges) and per node pair (WireGuard tunnels).
 *
 * A rate comes from two successive reports of one node: the difference, spread over the time between them. The
 * first report of a node, one after a gap longer than `maxGapMs`, and a counter that went down (the agent
 * restarted) only set a new baseline: never a negative or made-up rate. Times are the manager's (when a report
 * arrived), never the node's. Memory is bounded: rings of `buckets` per service, per service and node, per node
 * pair; baselines per node are replaced by each report; services, nodes and pairs that no longer exist are dropped.
 * Never: write to the store; trust a name in a report (unknown services and peers are ignored).
 */
import type { TrafficReport } from '../api/traffic.ts'
import type { TrafficLimits } from '../config/traffic.ts'
import { BucketRing } from './traffic-ring.ts'

/** Columns of a service ring: connections, bytes in, bytes out, errors, retries. */
const SERVICE_COLUMNS = ['conns', 'bytesIn', 'bytesOut', 'errors', 'retries'] as const
/** Buckets kept for the edges of the traffic view (only their current rate is shown). */
const EDGE_BUCKETS = 4

export type Rates = Record<(typeof SERVICE_COLUMNS)[number], number>

export interface ServiceTrafficView {
  service: string
  /** Per second, over the newest closed bucket. */
  rate: Rates
  /** Per second, one value per bucket, oldest first (the last one is `rate`). */
  series: Record<keyof Rates, number[]>
  /** Per ingress node that saw any traffic in the newest closed bucket: connections/s and bytes/s both ways. */
  nodes: { node: string; conns: number; bytesPerS: number }[]
}

export interface LinkTrafficView {
  /** The pair's node names, a < b. */
  a: string
  b: string
  /** Bytes/s a → b and b → a over the newest closed bucket (the larger of the sender's and the receiver's count). */
  aToB: number
  bToA: number
  /** Both ways, bytes/s per bucket, oldest first. */
  series: number[]
  /** Seconds since the newest handshake either side reported; null = none ever. */
  handshakeAgeS: number | null
}

export interface TrafficView {
  bucketMs: number
  /** Buckets in the whole window (a view may carry fewer: the newest ones). */
  window: number
  /** Start of the newest closed bucket, wall ms; `series` end with it. */
  t: number
  services: ServiceTrafficView[]
  links: LinkTrafficView[]
}

/** What exists now: the services with published ports and the nodes, by name. */
export interface TrafficKnown {
  services: ReadonlySet<string>
  nodes: ReadonlySet<string>
}

interface Baseline {
  at: number
  ports: Map<string, number[]>
  tunnels: Map<string, number[]>
}

interface Link {
  /** Columns: a→b by a's tx, b→a by a's rx, b→a by b's tx, a→b by b's rx. */
  ring: BucketRing
  handshakes: Map<string, { ageS: number; at: number }>
}

const round = (x: number): number => Math.round(x * 100) / 100

/** `cur - prev` per column, or null when any counter went down (a restart). */
function delta(prev: number[] | undefined, cur: number[]): number[] | null {
  if (!prev) return null
  const d = cur.map((v, i) => v - (prev[i] as number))
  return d.some((x) => x < 0) ? null : d
}

export class TrafficAggregator {
  readonly #l: TrafficLimits
  readonly #now: () => number
  readonly #baselines = new Map<string, Baseline>()
  readonly #services = new Map<string, BucketRing>()
  readonly #edges = new Map<string, Map<string, BucketRing>>()
  readonly #links = new Map<string, Link>()
  /** The `known` sets the rings were last pruned to. */
  #pruned: TrafficKnown | null = null

  constructor(o: { limits: TrafficLimits; now: () => number }) {
    this.#l = o.limits
    this.#now = o.now
  }

  /** One report of `node` (the caller, already checked): rates for known services and peers. */
  accept(node: string, r: TrafficReport, known: TrafficKnown): void {
    if (known !== this.#pruned) this.#prune(known) // what exists changed: drop the rest now, dashboard open or not
    if (!known.nodes.has(node)) return
    const now = this.#now()
    const prev = this.#baselines.get(node)
    const from = prev && now - prev.at <= this.#l.maxGapMs ? prev.at : null
    const next: Baseline = { at: now, ports: new Map(), tunnels: new Map() }
    for (const p of r.ports) {
      const cur = [p.connections, p.bytesIn, p.bytesOut, p.errors, p.retries]
      const key = `${p.service}\n${p.protocol}/${p.published}`
      next.ports.set(key, cur)
      if (from === null || !known.services.has(p.service)) continue
      const d = delta(prev?.ports.get(key), cur)
      if (!d) continue
      this.#ring(this.#services, p.service, SERVICE_COLUMNS.length, this.#l.buckets).add(from, now, d)
      const edges = this.#edges.get(p.service) ?? new Map<string, BucketRing>()
      this.#edges.set(p.service, edges)
      this.#ring(edges, node, 2, EDGE_BUCKETS).add(from, now, [d[0] as number, (d[1] as number) + (d[2] as number)])
    }
    for (const t of r.tunnels) {
      if (t.peer === node || !known.nodes.has(t.peer)) continue
      const cur = [t.rxBytes, t.txBytes]
      next.tunnels.set(t.peer, cur)
      const link = this.#link(node, t.peer)
      if (t.handshakeAgeS !== null) link.handshakes.set(node, { ageS: t.handshakeAgeS, at: now })
      if (from === null) continue
      const d = delta(prev?.tunnels.get(t.peer), cur)
      if (!d) continue
      const [rx, tx] = d as [number, number]
      link.ring.add(from, now, node < t.peer ? [tx, rx, 0, 0] : [0, 0, tx, rx])
    }
    this.#baselines.set(node, next)
  }

  /** Rates up to the newest closed bucket, for what still exists (the rest is dropped here). */
  view(known: TrafficKnown, points = this.#l.buckets): TrafficView {
    this.#prune(known)
    const now = this.#now()
    const w = this.#l.bucketMs
    const last = Math.floor(now / w) - 1
    const n = Math.max(1, Math.min(points, this.#l.buckets))
    const buckets = Array.from({ length: n }, (_, i) => last - n + 1 + i)
    const perS = 1000 / w
    const services = [...known.services].sort().map((service): ServiceTrafficView => {
      const ring = this.#services.get(service)
      const series = Object.fromEntries(SERVICE_COLUMNS.map((c, i) => [c, buckets.map((b) => round((ring?.sum(b, i) ?? 0) * perS))])) as ServiceTrafficView['series']
      const rate = Object.fromEntries(SERVICE_COLUMNS.map((c) => [c, series[c].at(-1) ?? 0])) as Rates
      const nodes = [...(this.#edges.get(service) ?? new Map<string, BucketRing>())]
        .map(([node, e]) => ({ node, conns: round(e.sum(last, 0) * perS), bytesPerS: round(e.sum(last, 1) * perS) }))
        .filter((e) => e.conns > 0 || e.bytesPerS > 0)
        .sort((x, y) => (x.node < y.node ? -1 : 1))
      return { service, rate, series, nodes }
    })
    const links = [...this.#links].sort(([x], [y]) => (x < y ? -1 : 1)).map(([key, l]): LinkTrafficView => {
      const [a, b] = key.split('\n') as [string, string]
      const ab = (bucket: number) => Math.max(l.ring.sum(bucket, 0), l.ring.sum(bucket, 3))
      const ba = (bucket: number) => Math.max(l.ring.sum(bucket, 1), l.ring.sum(bucket, 2))
      const ages = [...l.handshakes.values()].map((h) => h.ageS + Math.max(0, now - h.at) / 1000)
      return {
        a, b, aToB: round(ab(last) * perS), bToA: round(ba(last) * perS),
        series: buckets.map((bucket) => round((ab(bucket) + ba(bucket)) * perS)),
        handshakeAgeS: ages.length === 0 ? null : Math.round(Math.min(...ages)),
      }
    })
    return { bucketMs: w, window: this.#l.buckets, t: last * w, services, links }
  }

  #ring(map: Map<string, BucketRing>, key: string, width: number, size: number): BucketRing {
    let r = map.get(key)
    if (!r) {
      r = new BucketRing({ bucketMs: this.#l.bucketMs, size, width })
      map.set(key, r)
    }
    return r
  }

  #link(x: string, y: string): Link {
    const key = x < y ? `${x}\n${y}` : `${y}\n${x}`
    let l = this.#links.get(key)
    if (!l) {
      l = { ring: new BucketRing({ bucketMs: this.#l.bucketMs, size: this.#l.buckets, width: 4 }), handshakes: new Map() }
      this.#links.set(key, l)
    }
    return l
  }

  #prune(known: TrafficKnown): void {
    this.#pruned = known
    for (const s of this.#services.keys()) if (!known.services.has(s)) this.#services.delete(s)
    for (const [s, edges] of this.#edges) {
      if (!known.services.has(s)) this.#edges.delete(s)
      else for (const n of edges.keys()) if (!known.nodes.has(n)) edges.delete(n)
    }
    for (const n of this.#baselines.keys()) if (!known.nodes.has(n)) this.#baselines.delete(n)
    for (const key of this.#links.keys()) {
      const [a, b] = key.split('\n') as [string, string]
      if (!known.nodes.has(a) || !known.nodes.has(b)) this.#links.delete(key)
    }
  }
}
