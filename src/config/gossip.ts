/**
 * Gossip (SWIM / memberlist) settings. Defaults are memberlist's DefaultLANConfig, so a mesh agent and a serf agent
 * in one cluster probe, suspect and declare death on the same schedule.
 */
import { DEFAULT_GOSSIP_PORT } from './defaults.ts'

export interface GossipConfig {
  /** Node name, unique in the cluster. Default: the host name. */
  name: string
  /** Address and port to bind UDP and TCP on. Default 0.0.0.0:7946. */
  bindAddr: string
  bindPort: number
  /** Address and port other nodes use to reach us. Default: the bind address, or the first non-loopback IPv4. */
  advertiseAddr: string
  advertisePort: number
  /** Time between failure probes of one random member, ms. Lower finds failures sooner, costs bandwidth. Default 1000. */
  probeIntervalMs: number
  /** Time to wait for an ack before indirect probes, ms; should be about the 99th percentile RTT. Default 500. */
  probeTimeoutMs: number
  /** Number of members asked to probe a target indirectly after a direct probe fails. Default 3. */
  indirectChecks: number
  /** Suspicion timeout = suspicionMult × max(1, log10(n)) × probeInterval before a suspect is declared dead. Default 4. */
  suspicionMult: number
  /** Upper bound of the suspicion timeout, as a multiple of the minimum (Lifeguard). Default 6. */
  suspicionMaxTimeoutMult: number
  /** Lifeguard local health: the probe interval stretches up to this many times when we ourselves are slow. Default 8. */
  awarenessMaxMultiplier: number
  /** Time between gossip rounds, ms. Default 200. */
  gossipIntervalMs: number
  /** Members each gossip round sends to. Default 3. */
  gossipNodes: number
  /** Dead members still receive gossip for this long, so they learn they were declared dead, ms. Default 30000. */
  gossipToTheDeadMs: number
  /** A broadcast is sent retransmitMult × ceil(log10(n+1)) times. Default 4. */
  retransmitMult: number
  /** Full-state push/pull with one random member every so often, ms; 0 disables. Default 30000. */
  pushPullIntervalMs: number
  /** Deadline of one TCP exchange (push/pull, fallback ping), ms. Default 10000. */
  tcpTimeoutMs: number
  /** Dead members are forgotten after this long, ms. Default 30000. */
  deadNodePurgeMs: number
  /** A dead member's name may be taken by another address after this long, ms; 0 = never (as serf). Default 0. */
  deadNodeReclaimMs: number
  /** Max bytes of one UDP packet we send, including piggybacked broadcasts. Default 1400. */
  udpBufferBytes: number
  /** LZW-compress packets when it makes them smaller, and streams always. Default true. */
  enableCompression: boolean
  /** Fall back to a TCP ping when UDP probes fail (only towards peers that speak protocol ≥ 3). Default true. */
  tcpPings: boolean
  /** Base64 AES keys (16/24/32 bytes). The first is the primary, used to encrypt; all are tried to decrypt. */
  encryptKeys: string[]
  /**
   * Gossip unencrypted when this node has no keyring (none from a cluster, none given): only for interop with an
   * unkeyed serf or memberlist. Without it such an agent refuses to start. Default false.
   */
  plaintext: boolean
  /** Seeds to join at start: host[:port], comma separated on the command line. */
  join: string[]
  /** Time to wait after a leave broadcast before closing the sockets, ms (serf's LeavePropagateDelay). Default 1000. */
  leavePropagateDelayMs: number
  /** Retry joining failed members every so often (serf's reconnect), ms. Default 30000. */
  reconnectIntervalMs: number
  /** Forget a failed member after this long, ms (serf's ReconnectTimeout). Default 86400000 (24 h). */
  reconnectTimeoutMs: number
  /** Forget a member that left after this long, ms (serf's TombstoneTimeout). Default 86400000 (24 h). */
  tombstoneTimeoutMs: number
  /**
   * Most members one node keeps (any state, itself included). A new member beyond it is refused and counted
   * (`membersRefused`), after the longest-dead member has been forgotten to make room; known members keep working.
   * Bounds memory and the probe round (a flood of fake members slows failure detection). Default 4096.
   */
  maxMembers: number
  /** Most failed or left members kept for `members()`; beyond it the oldest are forgotten (reaped). Default 1024. */
  maxDeadMembers: number
  /** Tags published in our metadata (serf tags). */
  tags: Record<string, string>
}

/** memberlist DefaultLANConfig, plus serf's defaults where serf adds a layer. */
export function lanGossipConfig(): GossipConfig {
  return {
    name: '',
    bindAddr: '0.0.0.0',
    bindPort: DEFAULT_GOSSIP_PORT,
    advertiseAddr: '',
    advertisePort: DEFAULT_GOSSIP_PORT,
    probeIntervalMs: 1000,
    probeTimeoutMs: 500,
    indirectChecks: 3,
    suspicionMult: 4,
    suspicionMaxTimeoutMult: 6,
    awarenessMaxMultiplier: 8,
    gossipIntervalMs: 200,
    gossipNodes: 3,
    gossipToTheDeadMs: 30_000,
    retransmitMult: 4,
    pushPullIntervalMs: 30_000,
    tcpTimeoutMs: 10_000,
    deadNodePurgeMs: 30_000,
    deadNodeReclaimMs: 0,
    udpBufferBytes: 1400,
    enableCompression: true,
    tcpPings: true,
    encryptKeys: [],
    plaintext: false,
    join: [],
    leavePropagateDelayMs: 1000,
    reconnectIntervalMs: 30_000,
    reconnectTimeoutMs: 24 * 3600_000,
    tombstoneTimeoutMs: 24 * 3600_000,
    maxMembers: 4096,
    maxDeadMembers: 1024,
    tags: {},
  }
}

/** memberlist DefaultLocalConfig: for loopback clusters (tests, demos). Faster probing, shorter timeouts. */
export function localGossipConfig(): GossipConfig {
  return {
    ...lanGossipConfig(),
    probeIntervalMs: 1000,
    probeTimeoutMs: 200,
    suspicionMult: 3,
    gossipIntervalMs: 100,
    pushPullIntervalMs: 15_000,
    tcpTimeoutMs: 1000,
  }
}
