/**
 * What the agent's control socket answers (`GET /v1/status`, `/v1/members`, `/v1/overlay`, `/v1/dns/lookup`): the
 * status shapes of gossip, the overlay, the ingress, the DNS and the data plane, defined here so that the CLI reads
 * them without importing a subsystem. The subsystems produce these shapes and re-export them.
 */
import type { EndpointHealth, EndpointState } from './catalog.ts'

/** What `mesh status` shows per member. */
export interface MemberInfo {
  name: string
  /** "ip:port" */
  address: string
  ip: string
  port: number
  /** alive | suspect | dead | left (and leaving while a leave intent is spreading). */
  state: 'alive' | 'suspect' | 'dead' | 'left' | 'leaving'
  /** serf's status: alive | leaving | left | failed. */
  status: 'alive' | 'leaving' | 'left' | 'failed'
  incarnation: number
  tags: Record<string, string>
  /** memberlist/serf protocol versions [pmin, pmax, pcur, dmin, dmax, dcur]. */
  protocol: number[]
  /** Milliseconds since this member's last state change. */
  sinceChangeMs: number
}

/** One WireGuard peer of the overlay. */
export interface OverlayPeerStatus {
  node: string
  subnet: string
  endpoint: string
  /** Seconds since the epoch; 0 = never. */
  lastHandshakeS: number
  rxBytes: number
  txBytes: number
}

/** The node's overlay: its subnet claim, interface and peers (`GET /v1/overlay`). */
export interface OverlayStatus {
  enabled: boolean
  reason?: string
  subnet: string | null
  held: boolean
  gateway: string | null
  ifname: string
  kind: 'kernel' | 'userspace' | null
  mtu: number
  publicKey: string | null
  peers: OverlayPeerStatus[]
  /** Members skipped as peers because a gossip tag failed a check (bad subnet, key, port or address) or did not match the manager's registration, since start. */
  rejectedPeers: number
  /** Which WireGuard runs the tunnel (null until it is up). */
  wireguard?: WireGuardImpl | null
}

/** The node's WireGuard: kernel, or wireguard-go with what matters for its throughput (src/overlay/wg-impl.ts). */
export interface WireGuardImpl {
  kind: 'kernel' | 'userspace'
  /** wireguard-go's executable as it runs (/proc/PID/exe); null for kernel WireGuard or when unreadable. */
  binary: string | null
  /** What that executable's `--version` says (`0.0.20230223`); null for kernel WireGuard or when unknown. */
  version: string | null
  /** Whether its tun I/O does TCP GSO/GRO (wireguard-go ≥ 0.0.20230223); null for kernel WireGuard or unknown. */
  gso: boolean | null
  /** Receive / send buffer of its UDP socket, bytes, as the kernel reports them (`ss`); null when not measured. */
  udpRcvBufBytes: number | null
  udpSndBufBytes: number | null
}

/** One record of a `mesh dns lookup` answer. */
export interface LookupRecord {
  name: string
  type: string
  ttl: number
  /** A/AAAA: the address; PTR: the name; SRV: { priority, weight, port, target }; SOA: the SOA fields. */
  data: unknown
}

/** What the agent's DNS would answer a container (`GET /v1/dns/lookup`). */
export interface LookupResult {
  /** NOERROR, NXDOMAIN, REFUSED, …; null when the name is not ours and would be forwarded upstream. */
  rcode: string | null
  /** Not ours: a real query would go to the upstream resolvers. */
  forwarded: boolean
  authoritative: boolean
  answers: LookupRecord[]
  authorities: LookupRecord[]
  additionals: LookupRecord[]
}

/** The service DNS server: where it listens, its zone, its counters. */
export interface DnsStatus {
  running: boolean
  /** Bound addresses (the real port when 0 was asked). */
  listen: { host: string; port: number }[]
  upstreams: string[]
  domain: string
  ttlSec: number
  zone: { revision: number; names: number } | null
  answered: number
  forwarded: number
  forwardInflight: number
  forwardTimeouts: number
  dropped: number
  formerr: number
  tcpConnections: number
  /** The UDP path in use: batched (recvmmsg/sendmmsg addon) or dgram. */
  udp?: 'dgram' | 'batched'
  /** With DNS worker threads (`--dns-workers` > 1): responses per thread, 0 being the main thread. Counters of
   *  workers are at most ~200 ms old. */
  workers?: { id: number; running: boolean; restarts: number; answered: number }[]
}

/** One endpoint of one published port, as the ingress sees it. */
export interface EndpointStatus {
  key: string
  taskName: string
  node: string
  ip: string
  port: number
  state: EndpointState
  health: EndpointHealth
  /** Ejected by passive (or active) health checks right now. */
  ejected: boolean
  /** ms left of the ejection (0 when not ejected). */
  ejectedForMs: number
  ejections: number
  /** Open connections (TCP) or flows (UDP). */
  open: number
  /** Connections (flows) forwarded since the listener started. */
  connections: number
  /** Failed connects. */
  errors: number
  /** Client → backend bytes. */
  bytesIn: number
  /** Backend → client bytes. */
  bytesOut: number
}

/** One published port on this node and where it sends traffic. */
export interface PortStatus {
  service: string
  protocol: 'tcp' | 'udp'
  published: number
  target: number
  proxyProtocol?: 'v1' | 'v2'
  open: number
  bytesIn: number
  bytesOut: number
  /** Bytes waiting in this process's socket write buffers (bounded by backpressure). */
  queuedBytes: number
  /** Failed backend connects. */
  errors: number
  /** Client connections moved to another backend after a failed connect. */
  retries: number
  /** Client connections closed because no backend took them. */
  rejected: number
  endpoints: EndpointStatus[]
  /** What serves the port's connections from outside this node: the kernel's DNAT (nft) or the proxy. */
  path?: 'nft' | 'userspace'
  /** Why an nft-mode port is served by the proxy (PROXY protocol, rules failed, no serving endpoint yet). */
  pathReason?: string
}

/** One service's VIP (endpoint mode vip) or `dnsrr`, as this node's ingress rules treat it. */
export interface VipStatus {
  service: string
  vip: string | null
  endpointMode: 'vip' | 'dnsrr'
  /** Endpoints in the catalog. */
  endpoints: number
  /** Endpoints in rotation: running, and healthy or without a healthcheck (stopping and unhealthy ones are out). */
  serving: number
  /**
   * What a tcp/udp packet to the VIP gets, on any port: `all` balanced over the serving endpoints, `refused` (no
   * serving endpoint: TCP RST / ICMP port unreachable), `none` (dnsrr or no VIP: nothing is written).
   */
  ports: 'all' | 'refused' | 'none'
}

/** The node's data plane: catalog revision, VIPs, published ports, DNS. */
export interface DataPlaneStatus {
  catalogRevision: number
  services: number
  /** Every service's VIP (endpoint mode vip) or `dnsrr`, with its serving endpoints. */
  vips: VipStatus[]
  downNodes: string[]
  /**
   * mode: the path published ports take on this node (userspace or nft); modeReason: why `auto` chose userspace;
   * downNodes: nodes whose endpoints are out of the kernel rules (node check failed, or gossip suspects them).
   */
  ingress: { mode: string; modeReason?: string; downNodes?: string[]; ports: PortStatus[] }
  dns: DnsStatus | null
}

/** `GET /v1/status`: the node as its agent sees it. */
export interface AgentStatus {
  node: string
  address: string
  members: MemberInfo[]
  /** Gossip counters (packets, bytes, probes, …). */
  counters?: Record<string, unknown>
  /** Whether gossip is encrypted, and the installed keys' fingerprints, primary first (never the keys). */
  gossipKeys?: { encrypted: boolean; keys: { fingerprint: string; primary: boolean }[] }
  overlay?: OverlayStatus
  dataPlane?: DataPlaneStatus | null
}
