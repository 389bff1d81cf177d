/**
 * Prometheus metrics for the DNS server. The hot path only bumps plain counters (DnsStats); the prom-client objects
 * read them at scrape time. Only the latency histogram is observed per query.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { DnsStats, QTYPE_LABELS, RCODE_LABELS } from './answer.ts'
import type { DnsCounters } from './workers.ts'

export interface DnsMetricSources {
  stats: DnsStats
  forwardTimeouts(): number
  forwardInflight(): number
  tcpConnections(): number
  /** Datagrams the batched UDP path dropped before answering (over 4096 bytes) or after (send queue full). */
  udpDropped(): number
  /** With worker threads: responses sent per thread (worker 0 is the main thread). */
  perWorker?(): { worker: string; answered: number }[]
}

export interface DnsLatency {
  local: { observe(seconds: number): void }
  forward: { observe(seconds: number): void }
}

function rcodeLabel(rcode: number): string {
  return RCODE_LABELS[rcode] ?? `RCODE${rcode}`
}

/** Register the DNS metrics on `registry`; returns the latency observers for the adapter. */
export function registerDnsMetrics(registry: Registry, src: DnsMetricSources): DnsLatency {
  const registers = [registry]
  new Counter({
    name: 'mesh_dns_queries_total', help: 'DNS responses sent, by query type and response code', labelNames: ['qtype', 'rcode'], registers,
    collect() {
      this.reset()
      const a = src.stats.answers
      for (let i = 0; i < a.length; i++) {
        const n = a[i] as number
        if (n > 0) this.inc({ qtype: QTYPE_LABELS[i >> 4] as string, rcode: rcodeLabel(i & 15) }, n)
      }
    },
  })
  new Counter({
    name: 'mesh_dns_forwarded_total', help: 'Queries for foreign names sent to an upstream resolver', registers,
    collect() { this.reset(); this.inc(src.stats.forwarded) },
  })
  new Counter({
    name: 'mesh_dns_forward_timeouts_total', help: 'Forwarded queries no upstream answered in time (answered SERVFAIL)', registers,
    collect() { this.reset(); this.inc(src.forwardTimeouts()) },
  })
  new Counter({
    name: 'mesh_dns_malformed_total', help: 'Malformed packets: dropped (no header, or a response) or answered FORMERR', labelNames: ['action'], registers,
    collect() {
      this.reset()
      this.inc({ action: 'dropped' }, src.stats.dropped)
      this.inc({ action: 'formerr' }, src.stats.formerr)
    },
  })
  new Counter({
    name: 'mesh_dns_udp_dropped_total', help: 'Datagrams the batched UDP path dropped: over 4096 bytes, or answers beyond its send queue', registers,
    collect() { this.reset(); this.inc(src.udpDropped()) },
  })
  new Counter({
    name: 'mesh_dns_zone_builds_total', help: 'Catalog snapshots turned into DNS answer tables', registers,
    collect() { this.reset(); this.inc(src.stats.zoneBuilds) },
  })
  const perWorker = src.perWorker
  if (perWorker !== undefined) {
    new Counter({
      name: 'mesh_dns_worker_queries_total', help: 'DNS responses sent over UDP and TCP per responder thread (0: the main thread; with --dns-workers > 1)', labelNames: ['worker'], registers,
      collect() { this.reset(); for (const w of perWorker()) this.inc({ worker: w.worker }, w.answered) },
    })
  }
  new Gauge({ name: 'mesh_dns_forward_inflight', help: 'Forwarded queries waiting for an upstream', registers, collect() { this.set(src.forwardInflight()) } })
  new Gauge({ name: 'mesh_dns_tcp_connections', help: 'Open DNS TCP connections', registers, collect() { this.set(src.tcpConnections()) } })
  const h = new Histogram({
    name: 'mesh_dns_request_duration_seconds', help: 'Time from receiving a query to sending its answer', labelNames: ['path'], registers,
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.25, 1, 2.5],
  })
  return { local: h.labels('local'), forward: h.labels('forward') }
}

/** The same metrics over counters summed across responder threads (read at most once per 50 ms), plus per thread. */
export function registerSummedDnsMetrics(registry: Registry, sum: () => DnsCounters, tcpConnections: () => number,
  perWorker: () => { worker: string; answered: number }[]): DnsLatency {
  let cached: { at: number; c: DnsCounters } | null = null
  const all = () => {
    const now = performance.now()
    if (cached === null || now - cached.at > 50) cached = { at: now, c: sum() }
    return cached.c
  }
  const stats = Object.create(DnsStats.prototype) as DnsStats
  for (const k of ['answers', 'forwarded', 'dropped', 'formerr', 'zoneBuilds'] as const) Object.defineProperty(stats, k, { get: () => all()[k] })
  return registerDnsMetrics(registry, {
    stats, tcpConnections, perWorker,
    forwardTimeouts: () => all().forwardTimeouts,
    forwardInflight: () => all().forwardInflight,
    udpDropped: () => all().udpDropped,
  })
}
