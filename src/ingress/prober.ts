import { ConfigError, type Clock, type TimerHandle } from '../base/index.ts'
import { ingressDefaults } from '../config/index.ts'
import type { ActiveCheckOptions, HealthChecker } from './health-check.ts'
import { TcpHealthChecker } from './tcp-health-checker.ts'
import { ProbeSchedule, type EndpointTarget, type NodeChange, type NodeTarget, type Probe, type ProbePolicyOptions } from './probe-policy.ts'

/**
 * Runs a ProbeSchedule (probe-policy.ts): every `tickMs` it starts the probes that are due through the HealthChecker
 * and hands each answer back, to the schedule (node state) and to the controller (`endpointChecked`,
 * `nodeChanged`). Holds one timer; no policy of its own. Lifecycle: construct, start(), stop().
 */
export interface ProberOptions extends ProbePolicyOptions {
  checker: HealthChecker
  clock: Clock
  /** An endpoint probe answered (its key is `ip:port`). */
  endpointChecked(key: string, ok: boolean): void
  /** A node went down or came back (a probe or a mark). */
  nodeChanged(node: string, change: Exclude<NodeChange, null>): void
}

/** How often due probes are looked for, ms: a fifth of the shortest interval, within 20-200. */
export function tickMs(o: Pick<ProbePolicyOptions, 'nodeIntervalMs' | 'endpointIntervalMs'>): number {
  return Math.min(200, Math.max(20, Math.floor(Math.min(o.nodeIntervalMs, o.endpointIntervalMs) / 5)))
}

export class Prober {
  readonly #o: ProberOptions
  readonly schedule: ProbeSchedule
  #timer: TimerHandle | null = null
  #running = false

  constructor(o: ProberOptions) {
    this.#o = o
    this.schedule = new ProbeSchedule(o)
  }

  start(): void {
    this.#running = true
    this.#arm()
  }

  stop(): void {
    this.#running = false
    this.#o.clock.clearTimeout(this.#timer)
    this.#timer = null
  }

  /** The targets now (after each catalog change). */
  setTargets(nodes: Iterable<NodeTarget>, endpoints: Iterable<EndpointTarget>): void {
    const now = this.#o.clock.now()
    this.schedule.setNodes(nodes, now)
    this.schedule.setEndpoints(endpoints, now)
  }

  /** Gossip suspects `node`: treat it as down until a probe passes. */
  markDown(node: string): void {
    if (this.schedule.markDown(node) === 'down') this.#o.nodeChanged(node, 'down')
  }

  /** One round: start every due probe (bounded by the schedule's in-flight cap). */
  tick(): void {
    for (const p of this.schedule.due(this.#o.clock.now())) {
      this.#o.checker.probe(p.target, p.timeoutMs).catch(() => false).then((ok) => this.#answered(p, ok))
    }
  }

  #answered(p: Probe, ok: boolean): void {
    if (!this.#running) return
    const change = this.schedule.done(p, ok, this.#o.clock.now())
    if (p.kind === 'endpoint') this.#o.endpointChecked(p.key, ok)
    else if (change !== null) this.#o.nodeChanged(p.key, change)
  }

  #arm(): void {
    this.#timer = this.#o.clock.setTimeout(() => {
      if (!this.#running) return
      this.tick()
      this.#arm()
    }, tickMs(this.#o))
  }
}

/**
 * The ingress's prober, from its options: in nft mode (health is all the kernel path has) unless activeCheck is
 * false; in userspace mode only with activeCheck given. Defaults from src/config ingressDefaults(). Null: no probes.
 */
export function createProber(o: {
  mode: 'userspace' | 'nft'; activeCheck?: ActiveCheckOptions | false; nodeCheck?: ActiveCheckOptions; healthChecker?: HealthChecker; random?: () => number
}, clock: Clock, on: Pick<ProberOptions, 'endpointChecked' | 'nodeChanged'>): Prober | null {
  const d = ingressDefaults()
  const check = o.activeCheck === false ? null
    : o.activeCheck ?? (o.mode === 'nft' ? { intervalMs: d.activeCheckIntervalMs, timeoutMs: d.activeCheckTimeoutMs } : null)
  if (check === null) return null
  const node = o.nodeCheck ?? { intervalMs: d.nodeCheckIntervalMs, timeoutMs: d.nodeCheckTimeoutMs }
  for (const [k, v] of [['activeCheck', check], ['nodeCheck', node]] as const) {
    if (!(v.intervalMs >= 1 && v.timeoutMs >= 1)) throw new ConfigError(`ingress: ${k} intervalMs and timeoutMs must be ≥ 1, got ${v.intervalMs} and ${v.timeoutMs}`)
  }
  return new Prober({
    nodeIntervalMs: node.intervalMs, nodeTimeoutMs: node.timeoutMs, endpointIntervalMs: check.intervalMs, endpointTimeoutMs: check.timeoutMs,
    maxConcurrent: d.maxConcurrentProbes, maxEndpointProbesPerSec: d.maxEndpointProbesPerSec, jitter: d.probeJitter,
    random: o.random ?? Math.random, checker: o.healthChecker ?? new TcpHealthChecker(), clock, ...on,
  })
}
