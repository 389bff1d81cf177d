import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { PortStatus } from './status.ts'
import type { IngressLimits } from './options.ts'

export type { Registry }

/**
 * Ingress metrics for prom-client. Counters and gauges are read from `status()` at scrape time (nothing on the
 * hot path); only the connect-latency histogram is observed per connection.
 */
export class IngressMetrics {
  readonly #latency: Histogram<'service' | 'port'>

  constructor(registry: Registry, status: () => PortStatus[], limits?: () => IngressLimits) {
    const ep = ['service', 'port', 'endpoint', 'task'] as const
    const each = (fn: (p: PortStatus, labels: Record<string, string>, e: PortStatus['endpoints'][number]) => void) => {
      for (const p of status()) {
        for (const e of p.endpoints) fn(p, { service: p.service, port: `${p.protocol}/${p.published}`, endpoint: e.key, task: e.taskName }, e)
      }
    }
    const counter = (name: string, help: string, value: (e: PortStatus['endpoints'][number]) => number) =>
      new Counter({
        name, help, labelNames: ep, registers: [registry],
        collect() {
          this.reset()
          each((_p, l, e) => this.inc(l, value(e)))
        },
      })
    counter('mesh_ingress_connections_total', 'Connections (UDP: flows) forwarded to an endpoint.', (e) => e.connections)
    counter('mesh_ingress_connect_errors_total', 'Failed connects to an endpoint (refused, unreachable, timed out).', (e) => e.errors)
    counter('mesh_ingress_ejections_total', 'Times an endpoint was ejected by passive or active health checks.', (e) => e.ejections)
    counter('mesh_ingress_received_bytes_total', 'Bytes from clients to an endpoint.', (e) => e.bytesIn)
    counter('mesh_ingress_sent_bytes_total', 'Bytes from an endpoint to clients.', (e) => e.bytesOut)
    new Gauge({
      name: 'mesh_ingress_open_connections', help: 'Open connections (UDP: flows) per endpoint.', labelNames: ep, registers: [registry],
      collect() {
        this.reset()
        each((_p, l, e) => this.set(l, e.open))
      },
    })
    new Gauge({
      name: 'mesh_ingress_endpoint_ejected', help: '1 while an endpoint is ejected.', labelNames: ep, registers: [registry],
      collect() {
        this.reset()
        each((_p, l, e) => this.set(l, e.ejected ? 1 : 0))
      },
    })
    const portCounter = (name: string, help: string, value: (p: PortStatus) => number) =>
      new Counter({
        name, help, labelNames: ['service', 'port'] as const, registers: [registry],
        collect() {
          this.reset()
          for (const p of status()) this.inc({ service: p.service, port: `${p.protocol}/${p.published}` }, value(p))
        },
      })
    portCounter('mesh_ingress_retries_total', 'Client connections retried on another endpoint after a failed connect.', (p) => p.retries)
    portCounter('mesh_ingress_rejected_total', 'Client connections closed because no endpoint took them.', (p) => p.rejected)
    if (limits) {
      new Gauge({
        name: 'mesh_ingress_fd_budget', help: 'File descriptors ingress connections may hold in all (TCP 2 each, UDP flows 1).', registers: [registry],
        collect() { this.set(limits().fdBudget) },
      })
      new Gauge({
        name: 'mesh_ingress_fds_used', help: 'File descriptors ingress connections hold now.', registers: [registry],
        collect() { this.set(limits().fdsUsed) },
      })
      new Counter({
        name: 'mesh_ingress_refused_by_limit_total', help: 'Client connections (UDP: flows) closed on accept by the fd budget or a per-source cap.',
        labelNames: ['limit'] as const, registers: [registry],
        collect() {
          this.reset()
          const l = limits()
          this.inc({ limit: 'fd-budget' }, l.refusedFdBudget)
          this.inc({ limit: 'per-source' }, l.refusedPerSource)
        },
      })
    }
    this.#latency = new Histogram({
      name: 'mesh_ingress_connect_seconds', help: 'Time to connect to the chosen endpoint.', labelNames: ['service', 'port'] as const,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1], registers: [registry],
    })
  }

  observeConnect(service: string, port: string, ms: number): void {
    this.#latency.observe({ service, port }, ms / 1000)
  }
}
