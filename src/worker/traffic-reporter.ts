/**
 * The agent's half of the dashboard's live traffic: every `intervalMs` it samples this node's ingress ports and
 * WireGuard peers, turns them into a TrafficReport (cumulative counters: the manager computes the rates) and sends
 * it (`POST /v1/agent/traffic`). One report in flight at a time; a failed send is logged at debug and the next
 * tick sends fresh counters (nothing is queued). Time through the injected Clock.
 */
import type { Clock, TimerHandle } from '../base/clock.ts'
import type { OverlayPeerStatus, PortStatus } from '../api/status.ts'
import type { TrafficReport } from '../api/traffic.ts'

/** The report for these ports and peers (pure); `nowS`: wall seconds, for the handshake ages. */
export function trafficReport(node: string, ports: readonly PortStatus[], peers: readonly OverlayPeerStatus[], nowS: number): TrafficReport {
  return {
    node,
    ports: ports.map((p) => ({
      service: p.service, protocol: p.protocol, published: p.published,
      connections: p.endpoints.reduce((n, e) => n + e.connections, 0),
      bytesIn: p.bytesIn, bytesOut: p.bytesOut, errors: p.errors + p.rejected, retries: p.retries,
    })),
    // Peers the overlay could not name ('?': not in the registered list) say nothing about a node pair.
    tunnels: peers.filter((p) => p.node !== '?' && p.node !== '').map((p) => ({
      peer: p.node, rxBytes: p.rxBytes, txBytes: p.txBytes,
      handshakeAgeS: p.lastHandshakeS > 0 ? Math.max(0, Math.round(nowS - p.lastHandshakeS)) : null,
    })),
  }
}

export interface TrafficReporterOptions {
  clock: Clock
  intervalMs: number
  /** This node's current counters. */
  sample: () => Promise<TrafficReport>
  /** Deliver one report to the manager; rejects when it could not. */
  send: (r: TrafficReport) => Promise<unknown>
  log?: (level: 'debug', msg: string, fields?: Record<string, unknown>) => void
}

export class TrafficReporter {
  readonly #o: TrafficReporterOptions
  #timer: TimerHandle | null = null
  #running = false

  constructor(o: TrafficReporterOptions) {
    this.#o = o
  }

  start(): void {
    if (this.#running) return
    this.#running = true
    this.#arm()
  }

  stop(): void {
    this.#running = false
    this.#o.clock.clearTimeout(this.#timer)
    this.#timer = null
  }

  /** Sample and send once (the timer calls it; tests too). */
  async tick(): Promise<void> {
    try {
      await this.#o.send(await this.#o.sample())
    } catch (err) {
      this.#o.log?.('debug', 'traffic report not sent', { err: (err as Error).message })
    }
  }

  #arm(): void {
    this.#timer = this.#o.clock.setTimeout(() => {
      void this.tick().finally(() => {
        if (this.#running) this.#arm()
      })
    }, this.#o.intervalMs)
  }
}
