import { defaultOverlayConfig } from './overlay.ts'

/**
 * Defaults of the ingress routing mesh (src/ingress): what `new Ingress(options)` uses for every option left out,
 * and what the agent's data-plane settings (data-plane.ts) start from. docs/ingress.md ("Config") lists them.
 */
export interface IngressDefaults {
  /** Address the listeners bind: every node address. */
  bindAddr: string
  /** Close a TCP connection with no byte either way this long, ms (0 = never). 1 h: Swarm's IPVS drops idle ones after 900 s. */
  idleTimeoutMs: number
  /** A UDP flow expires after this long without a datagram either way, ms (conntrack's UDP stream timeout is 120 s; most UDP services are request/reply). */
  udpIdleTimeoutMs: number
  /** Open TCP connections per published port; more are refused. */
  maxConnections: number
  /** UDP flows per published port; when full, the least recently used flow is dropped for a new one. */
  maxUdpFlows: number
  /**
   * File descriptors the ingress may hold across every published port (a proxied TCP connection costs 2, a UDP flow
   * 1); connections beyond it are closed on accept and counted. 0 = derived from RLIMIT_NOFILE (defaultFdBudget).
   */
  fdBudget: number
  /** Open connections (UDP: flows) per client address on one published port; more are refused. 0 = no cap. */
  maxConnectionsPerSource: number
  /** A backend connect not complete after this long counts as failed and the next endpoint is tried, ms. */
  connectTimeoutMs: number
  /** Connect attempts per client connection across endpoints (first try + retries). */
  maxAttempts: number
  /** First ejection after a failed connect, ms; doubles per consecutive failure. */
  ejectBaseMs: number
  /** Longest ejection, ms. */
  ejectMaxMs: number
  /** How long after being listed an endpoint that never accepted counts as starting up, ms. */
  warmupMs: number
  /** Ejection after a failed connect during warm-up, ms (doubling, at most 4×): a new task gets traffic within a second. */
  warmupEjectMs: number
  /** nft mode: how often the ruleset is recomputed so ejections that start or end reach the kernel, ms (applied only when its text changes). */
  nftRecheckMs: number
  /** The local Docker bridge of the overlay (the VIP rules' hairpin masquerade): the overlay's bridge name. */
  bridge: string
  /**
   * nft mode (the kernel cannot retry a connect, so health decides): probe every endpoint of a TCP published port
   * with a TCP connect this often, ms (stretched to keep within maxEndpointProbesPerSec: past 250 endpoints at the
   * defaults). A dead task on a live remote node leaves the rules within interval + timeout. Default 500.
   */
  activeCheckIntervalMs: number
  /** An endpoint probe not answered within this long fails (a dead container's address does not refuse), ms. Default 300. */
  activeCheckTimeoutMs: number
  /** nft mode: probe each remote node holding endpoints (a TCP connect to its agent's gossip port) this often, ms. Default 250. */
  nodeCheckIntervalMs: number
  /** A node probe not answered within this long fails: the node's endpoints leave the kernel rules, ms. Default 250. */
  nodeCheckTimeoutMs: number
  /** Probes (node and endpoint) in flight at once, at most. Default 64. */
  maxConcurrentProbes: number
  /** Endpoint probes started per second, at most: beyond it the endpoint interval stretches. Default 500. */
  maxEndpointProbesPerSec: number
  /** Each next probe is interval × (1 ± this), 0-0.5. Default 0.2. */
  probeJitter: number
}

export function ingressDefaults(): Readonly<IngressDefaults> {
  return Object.freeze({
    bindAddr: '0.0.0.0', idleTimeoutMs: 3_600_000, udpIdleTimeoutMs: 30_000, maxConnections: 16_384, maxUdpFlows: 16_384,
    fdBudget: 0, maxConnectionsPerSource: 0,
    connectTimeoutMs: 1000, maxAttempts: 3, ejectBaseMs: 1000, ejectMaxMs: 30_000, warmupMs: 5000, warmupEjectMs: 100,
    nftRecheckMs: 1000, bridge: defaultOverlayConfig().bridgeName,
    activeCheckIntervalMs: 500, activeCheckTimeoutMs: 300, nodeCheckIntervalMs: 250, nodeCheckTimeoutMs: 250,
    maxConcurrentProbes: 64, maxEndpointProbesPerSec: 500, probeJitter: 0.2,
  })
}

/** Descriptors left to everything but ingress connections (listeners, gossip, the API, DNS, files, etcd client). */
export const FD_RESERVE_MIN = 256

/**
 * The ingress fd budget for a process whose soft RLIMIT_NOFILE is `limit`: 80 % of it, leaving at least
 * FD_RESERVE_MIN descriptors for the rest of the agent (20,000 → 16,000 fds, 8,000 TCP connections; 1,024 → 768).
 */
export function defaultFdBudget(limit: number): number {
  return Math.max(0, Math.min(Math.floor(limit * 0.8), limit - FD_RESERVE_MIN))
}
