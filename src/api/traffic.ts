/**
 * The traffic report an agent sends its manager (`POST /v1/agent/traffic`, node certificate) every few seconds:
 * its ingress counters per published port and its WireGuard tunnels per peer, all cumulative since the agent
 * started. The manager turns successive reports into rates (src/manager/traffic.ts) for the dashboard.
 * The reporting node is the caller (its certificate); a body may name it in `node`, never another node.
 */

/** One published port's ingress counters on the reporting node, cumulative since its agent started. */
export interface PortTraffic {
  service: string
  protocol: 'tcp' | 'udp'
  published: number
  /** Client connections (UDP: flows) forwarded to an endpoint. */
  connections: number
  /** Client → endpoint bytes. */
  bytesIn: number
  /** Endpoint → client bytes. */
  bytesOut: number
  /** Failed connects to an endpoint + client connections no endpoint took (rejected). */
  errors: number
  /** Client connections moved to another endpoint after a failed connect. */
  retries: number
}

/** The reporting node's WireGuard tunnel to one peer node. */
export interface TunnelTraffic {
  /** The peer's node name (hostname). */
  peer: string
  /** Bytes received from the peer, cumulative. */
  rxBytes: number
  /** Bytes sent to the peer, cumulative. */
  txBytes: number
  /** Seconds since the last handshake with the peer; null = never. */
  handshakeAgeS: number | null
}

export interface TrafficReport {
  /** The reporting node's name, when given: it must be the caller's. */
  node?: string
  ports: PortTraffic[]
  tunnels: TunnelTraffic[]
}
