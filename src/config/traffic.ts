/**
 * Defaults of the dashboard's live traffic: how often agents report their counters (src/worker
 * traffic-reporter.ts) and how much the manager keeps (src/manager/traffic.ts). docs/observability.md lists them.
 */

/** How often an agent sends its ingress and tunnel counters to the manager, ms. */
export const TRAFFIC_REPORT_MS = 2000

export interface TrafficLimits {
  /** Width of one bucket of the manager's rings, ms: the rates' resolution and how often the dashboard gets them. */
  bucketMs: number
  /** Buckets kept per service and per node pair (120 × 5 s = the last 10 minutes). */
  buckets: number
  /** A report later than this after the node's previous one only sets a new baseline (no rate across a gap), ms. */
  maxGapMs: number
  /** The dashboard's `traffic` event goes out this long after a bucket ends, so every node's report for it is in, ms. */
  settleMs: number
  /** Published ports in one report; a longer list is refused. */
  maxPorts: number
  /** Tunnels (peers) in one report; a longer list is refused. */
  maxTunnels: number
  /** Longest service or node name in a report. */
  maxNameLength: number
}

export function trafficLimits(): TrafficLimits {
  return { bucketMs: 5000, buckets: 120, maxGapMs: 30_000, settleMs: TRAFFIC_REPORT_MS + 500, maxPorts: 1024, maxTunnels: 1024, maxNameLength: 255 }
}
