import type { CatalogSnapshot, CatalogView } from '../catalog/index.ts'
import type { Clock } from '../base/index.ts'
import type { BalancePolicy, BalancerOptions } from './balancer.ts'
import type { ActiveCheckOptions, HealthChecker, HealthTarget } from './health-check.ts'
import type { Exec } from './nft.ts'
import type { NftRunner } from '../base/nft.ts'
import type { NetworkBridge } from './nft-rules.ts'

/** The options of the ingress controller (ingress.ts, IngressOptions) and what it reports of its limits. */

/** Ingress.limits(). */
export interface IngressLimits {
  /** Descriptors connections may hold across every published port. */
  fdBudget: number
  fdsUsed: number
  /** Connections (UDP: flows) refused because the budget was spent, and by per-source caps, since start. */
  refusedFdBudget: number
  refusedPerSource: number
}

export type IngressLog = (level: 'info' | 'warn' | 'error' | 'debug', msg: string, fields?: Record<string, unknown>) => void

export interface IngressOptions {
  catalog: CatalogView
  /** userspace: Node proxies every published port. nft: the kernel DNATs (table ip mesh-ingress); userspace listeners stay as the fallback. */
  mode: 'userspace' | 'nft'
  /** Address the listeners bind. Default 0.0.0.0 (every node address). */
  bindAddr?: string
  /** Close TCP connections idle (no byte either way) this long, ms; 0 = never. Default 3 600 000 (1 h). */
  idleTimeoutMs?: number
  /** UDP flows expire after this long without a datagram either way, ms. Default 30 000 (conntrack's UDP stream timeout is 120 s; most UDP services are request/reply). */
  udpIdleTimeoutMs?: number
  /** Open TCP connections per published port; more are refused. Default 16 384. */
  maxConnections?: number
  /** UDP flows per published port; when full, the least recently used one is dropped for a new one. Default 16 384. */
  maxUdpFlows?: number
  /**
   * Descriptors every published port's connections may hold together (TCP 2 each, UDP flows 1); beyond it new
   * connections are closed on accept, counted, and logged at most once per 10 s. Default 0: derived from the
   * process's RLIMIT_NOFILE (src/config defaultFdBudget).
   */
  fdBudget?: number
  /** Open connections (UDP: flows) per client address on one published port; 0 = no cap (default). */
  maxConnectionsPerSource?: number
  /** The process's soft RLIMIT_NOFILE, for the default fd budget. Default: read from /proc/self/limits. */
  openFileLimit?: () => number
  /** A backend connect that has not completed after this long counts as failed, ms. Default 1000. */
  connectTimeoutMs?: number
  /** Connect attempts per client connection across backends. Default 3. */
  maxAttempts?: number
  /** round-robin (default) or least-connections, plus ejection backoff. */
  balancer?: BalancePolicy | BalancerOptions
  /**
   * Active checks of every TCP backend: probe every intervalMs (stretched past 500 probes/s); a probe failing (or not
   * answered within timeoutMs) ejects, and in nft mode keeps the endpoint out of the kernel rules until one passes.
   * Default: on in nft mode (500 ms / 300 ms, src/config ingressDefaults), off in userspace mode; false = off.
   */
  activeCheck?: ActiveCheckOptions | false
  /** Node checks, with active checks on: a TCP connect to each remote node's agent (nodeAddress). Default 250 ms / 250 ms. */
  nodeCheck?: ActiveCheckOptions
  /** Where a node's agent answers TCP (its gossip address), for node checks; none known = that node is not probed. */
  nodeAddress?: (node: string) => HealthTarget | undefined
  /** This node's name (the catalog's endpoint.node): its own endpoints get no node check. */
  localNode?: string
  /** How active checks probe a backend. Default: a TCP connect (TcpHealthChecker). */
  healthChecker?: HealthChecker
  /** Uniform in [0, 1), for the probes' jitter. Default Math.random. */
  random?: () => number
  /** Write the service VIP rules (nft table ip mesh-ingress) in both modes. Default true. */
  vipRules?: boolean
  /** nft mode: the node's overlay gateway, used as source for NATed published-port traffic (default: masquerade). */
  snatAddr?: string
  /** nft mode: the local Docker bridge of the overlay. Default mesh-br. */
  bridge?: string
  /** This node's bridges of user networks in a snapshot (the overlay's naming): VIP hairpin and network DNS. */
  networkBridges?: (snap: CatalogSnapshot) => NetworkBridge[]
  /** TCP engine: raw (libuv handles, the fast path; default when this Node has them) or net (net.Socket). */
  tcpEngine?: 'raw' | 'net'
  log: IngressLog
  /**
   * Called after each reconcile has brought every published port (listeners, balancers) to `snap`, before the nft
   * ruleset is applied: how bench/agent-scale.ts times a catalog change to the ingress. Default none.
   */
  reconciled?: (snap: CatalogSnapshot) => void
  /** Runs commands (iptables, `nft -j`); when given, nft rulesets go through it too (tests see every command). */
  exec?: Exec
  /** Runs nft rulesets (src/base/nft.ts: the agent's `--nft-exec`). Default: createNftRunner('auto'). */
  nft?: NftRunner
  clock?: Clock
}
