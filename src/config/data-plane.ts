import { ingressDefaults } from './ingress.ts'

/**
 * Data-plane settings: the ingress routing mesh (src/ingress) and the service DNS (src/dns) every agent runs once
 * it belongs to a cluster. Both read the catalog the manager pushes.
 */
import { DEFAULT_DNS_DOMAIN, DEFAULT_DNS_LOCAL_ADDR, DEFAULT_DNS_TTL_SEC } from './defaults.ts'

export interface DataPlaneConfig {
  /**
   * How published ports are served. auto (default): nft where the kernel path is usable (root, nft answers),
   * userspace otherwise. nft: the kernel DNATs (nftables numgen) each port that needs no userspace-only feature
   * (a PROXY protocol port stays with the proxy), with health checks of nodes and endpoints deciding the rules and
   * the userspace listeners as the fallback. userspace: Node proxies every published port (retries a failed connect
   * on the next task). docs/ingress.md, "Which path serves a port".
   */
  ingressMode: 'auto' | 'userspace' | 'nft'
  /** Close an ingress TCP connection idle this long, ms (0 = never). Default 3 600 000 (1 h). */
  ingressIdleTimeoutMs: number
  /** Open ingress TCP connections per published port; more are refused. Default 16 384. */
  ingressMaxConnections: number
  /** UDP flows per published port; when full, the least recently used flow is dropped for a new one. Default 16 384. */
  ingressMaxUdpFlows: number
  /**
   * File descriptors ingress connections may hold across every published port (TCP 2 each, UDP flows 1); new
   * connections beyond it are closed on accept, counted and logged at most once per 10 s. 0 (default) = 80 % of
   * the agent's RLIMIT_NOFILE, leaving at least 256 for everything else (docs/ingress.md, "Limits").
   */
  ingressFdBudget: number
  /** Open ingress connections (UDP: flows) per client address on one published port; 0 (default) = no cap. */
  ingressMaxPerSource: number
  /** Which task gets a new connection: round-robin (default) or least-connections. */
  ingressBalancer: 'round-robin' | 'least-connections'
  /**
   * Send a published port's connections to a healthy task on this node while there is one, to the other nodes' only
   * when there is none (userspace mode; nft mode ignores it). Saves the hop between nodes, at the cost of an even
   * spread: a node's share of clients decides its tasks' load. Default false.
   */
  ingressPreferLocal: boolean
  /** Serve service DNS on the overlay gateway (10.77.X.1:53) and on dnsLocalAddr:53. Default true. */
  dns: boolean
  /** Zone of fully qualified service names (`web.mesh.`). Default `mesh.`. */
  dnsDomain: string
  /** TTL of service answers, seconds; low so changes are seen at once. Default 5. */
  dnsTtlSec: number
  /** Resolvers foreign names are forwarded to (`ip` or `ip:port`). Default: the host's /etc/resolv.conf. */
  dnsUpstreams: string[]
  /** Host-local address the DNS also answers on, for `mesh` and the host. Default 127.0.0.11. */
  dnsLocalAddr: string
  /** DNS UDP path: batched (recvmmsg/sendmmsg addon, up to 64 queries per system call), dgram (node:dgram), or auto
   *  (batched when the addon is built, else dgram with one log line). Default auto. */
  dnsUdp: 'auto' | 'dgram' | 'batched'
  /** DNS UDP responder threads: 1 (the agent's thread only) or up to 16, N−1 worker threads each with its own
   *  SO_REUSEPORT socket on every DNS address; TCP stays on the agent's thread. Default 1. */
  dnsWorkers: number
  /**
   * How nftables rulesets (ingress table, VIP rules, overlay firewall) are applied: lib (libnftables in-process through
   * the native/nftables.c addon: no process per change, the nft cache kept), process (`nft -f -` per change), or auto
   * (lib when the addon loads, else process with one log line). Default process: lib costs 22–66 MB more RSS at
   * 10,000 endpoints and had no lab run yet (docs/ingress.md).
   */
  nftExec: 'auto' | 'lib' | 'process'
}

export function defaultDataPlaneConfig(): DataPlaneConfig {
  const ingress = ingressDefaults()
  return {
    ingressMode: 'auto', ingressIdleTimeoutMs: ingress.idleTimeoutMs, ingressMaxConnections: ingress.maxConnections, ingressBalancer: 'round-robin', ingressPreferLocal: false,
    ingressMaxUdpFlows: ingress.maxUdpFlows, ingressFdBudget: ingress.fdBudget, ingressMaxPerSource: ingress.maxConnectionsPerSource,
    dns: true, dnsDomain: DEFAULT_DNS_DOMAIN, dnsTtlSec: DEFAULT_DNS_TTL_SEC, dnsUpstreams: [], dnsLocalAddr: DEFAULT_DNS_LOCAL_ADDR, dnsUdp: 'auto', dnsWorkers: 1,
    nftExec: 'process',
  }
}
