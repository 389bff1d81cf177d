/** DNS server options: one typed, documented, validated and frozen config (defaults here, named in docs/dns.md). */
import { ConfigError } from '../base/errors.ts'
import { parseCidr, type Cidr } from '../base/cidr.ts'
import {
  DEFAULT_DNS_DOMAIN, DEFAULT_DNS_LOCAL_ADDR, DEFAULT_DNS_TTL_SEC, DEFAULT_OVERLAY_RANGE, DEFAULT_VIP_RANGE, LOOPBACK_RANGE, MAX_DNS_WORKERS,
} from '../config/index.ts'
import { UDP_MODES, type UdpMode } from './udp.ts'
import { CLASSIC_UDP_BYTES, nameKey } from './wire.ts'

export interface ListenAddress {
  host: string
  /** 0 = any free port (tests); the port actually bound is in status(). UDP and TCP use the same port. */
  port: number
}

/** What callers may set; every field has a default. */
export interface DnsOptions {
  /** Addresses to answer on, UDP and TCP each. Default [{ host: '127.0.0.11', port: 53 }]. */
  listen?: ListenAddress[]
  /** Zone for fully qualified service names (`web.mesh.`). Default `mesh.`. */
  domain?: string
  /** TTL of every answer we build, and of negative answers (SOA minimum), seconds. Low so a change is seen soon;
   *  0 disables caching in clients. Default 5, range 0–3600. */
  ttlSec?: number
  /** Upstream resolvers, `ip` or `ip:port`. Default: the nameservers of `resolvConf` (our own listen addresses
   *  removed). An empty list means every foreign name gets SERVFAIL. */
  upstreams?: string[]
  /** File read for upstreams when `upstreams` is not given. Default /etc/resolv.conf. */
  resolvConf?: string
  /** Sources allowed to have names forwarded (no open recursion); others get REFUSED for foreign names.
   *  Default 10.77.0.0/16 (overlay), 10.78.0.0/16 (VIPs), 127.0.0.0/8. */
  allowCidrs?: string[]
  /** Ranges whose in-addr.arpa names we own: an unknown address in them is NXDOMAIN, not forwarded.
   *  Default 10.77.0.0/16, 10.78.0.0/16. */
  reverseCidrs?: string[]
  /** The default network's range: a source there that is no task sees the default network's services (sources in
   *  a catalog network's range see that network's; others see every service). Default 10.77.0.0/16. */
  defaultCidrs?: string[]
  /** How long one upstream gets before the next one is tried, ms. Default 800. */
  forwardAttemptMs?: number
  /** After this long without an upstream answer the client gets SERVFAIL, ms. Default 2000 (below the 5 s a
   *  glibc stub waits). */
  forwardTimeoutMs?: number
  /** Forwarded queries in flight at once; beyond it new ones get SERVFAIL at once. Default 1024, max 65000. */
  maxInflight?: number
  /** UDP payload size we advertise in EDNS0 and the cap on a client's; RFC 9715 / DNS flag day 2020 value.
   *  Default 1232, range 512–4096. */
  maxUdpBytes?: number
  /** A TCP connection with no complete query for this long is closed, ms. Default 10000. */
  tcpIdleMs?: number
  /** Open TCP connections at once; further ones are closed on accept. Default 256. */
  maxTcpConnections?: number
  /** UDP path: `batched` reads and answers up to 64 queries per system call (the native/udpmmsg.c addon),
   *  `dgram` one per call (node:dgram), `auto` batched when the addon loads, else dgram. Default auto. */
  udp?: UdpMode
  /** UDP responders: 1 answers in the caller's thread (as always); N > 1 adds N−1 worker threads, each with its own
   *  SO_REUSEPORT socket on every listen address and its own answer tables, fed the catalog by message (workers.ts).
   *  TCP stays in the caller's thread. Default 1, range 1–16. */
  workers?: number
}

export interface DnsConfig {
  readonly listen: readonly ListenAddress[]
  /** Lower-case, with the trailing dot. */
  readonly domain: string
  readonly ttlSec: number
  /** Null = read resolvConf at start. */
  readonly upstreams: readonly string[] | null
  readonly resolvConf: string
  readonly allowCidrs: readonly Cidr[]
  readonly reverseCidrs: readonly Cidr[]
  readonly defaultCidrs: readonly Cidr[]
  readonly forwardAttemptMs: number
  readonly forwardTimeoutMs: number
  readonly maxInflight: number
  readonly maxUdpBytes: number
  readonly tcpIdleMs: number
  readonly maxTcpConnections: number
  readonly udp: UdpMode
  readonly workers: number
}

export const DNS_DEFAULTS = Object.freeze({
  listen: [{ host: DEFAULT_DNS_LOCAL_ADDR, port: 53 }],
  domain: DEFAULT_DNS_DOMAIN,
  ttlSec: DEFAULT_DNS_TTL_SEC,
  resolvConf: '/etc/resolv.conf',
  allowCidrs: [DEFAULT_OVERLAY_RANGE, DEFAULT_VIP_RANGE, LOOPBACK_RANGE],
  reverseCidrs: [DEFAULT_OVERLAY_RANGE, DEFAULT_VIP_RANGE],
  defaultCidrs: [DEFAULT_OVERLAY_RANGE],
  forwardAttemptMs: 800,
  forwardTimeoutMs: 2000,
  maxInflight: 1024,
  maxUdpBytes: 1232,
  tcpIdleMs: 10_000,
  maxTcpConnections: 256,
  udp: 'auto' as UdpMode,
  workers: 1,
})


function int(field: string, v: number | undefined, def: number, min: number, max: number): number {
  const n = v ?? def
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`dns: ${field} ${String(v)}: want an integer in ${min}–${max}`)
  return n
}

/** Upstream `ip`, `ip:port`, `v6` or `[v6]:port` → host and port (default 53). Throws ConfigError. */
export function parseUpstream(text: string): ListenAddress {
  const t = text.trim()
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(t) ?? /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(t) ??
    /^([0-9a-fA-F]*:[0-9a-fA-F:.]*)()$/.exec(t)
  if (!m) throw new ConfigError(`dns: upstream "${text}": want ip or ip:port`)
  const port = m[2] ? Number(m[2]) : 53
  if (port < 1 || port > 65535) throw new ConfigError(`dns: upstream "${text}": port must be 1–65535`)
  return { host: m[1] as string, port }
}

/** Validate once, fill defaults, freeze. Throws ConfigError naming the field. */
export function dnsConfig(opts: DnsOptions = {}): DnsConfig {
  let domain = (opts.domain ?? DNS_DEFAULTS.domain).toLowerCase()
  if (!domain.endsWith('.')) domain += '.'
  if (domain === '.' || nameKey(domain) === null) throw new ConfigError(`dns: domain "${opts.domain}": want a DNS name like mesh.`)
  const listen = (opts.listen ?? DNS_DEFAULTS.listen).map((l, i) => {
    if (typeof l?.host !== 'string' || l.host === '') throw new ConfigError(`dns: listen[${i}].host: want an IP address`)
    return Object.freeze({ host: l.host, port: int(`listen[${i}].port`, l.port, 53, 0, 65535) })
  })
  if (listen.length === 0) throw new ConfigError('dns: listen: want at least one address')
  const upstreams = opts.upstreams === undefined ? null : opts.upstreams.map((u) => { parseUpstream(u); return u })
  const udp = opts.udp ?? DNS_DEFAULTS.udp
  if (!UDP_MODES.includes(udp)) throw new ConfigError(`dns: udp "${String(opts.udp)}": want auto, dgram or batched`)
  const forwardTimeoutMs = int('forwardTimeoutMs', opts.forwardTimeoutMs, DNS_DEFAULTS.forwardTimeoutMs, 10, 60_000)
  return Object.freeze({
    listen: Object.freeze(listen),
    domain,
    ttlSec: int('ttlSec', opts.ttlSec, DNS_DEFAULTS.ttlSec, 0, 3600),
    upstreams: upstreams ? Object.freeze(upstreams) : null,
    resolvConf: opts.resolvConf ?? DNS_DEFAULTS.resolvConf,
    allowCidrs: Object.freeze((opts.allowCidrs ?? DNS_DEFAULTS.allowCidrs).map((c) => parseCidr(c, 'dns: allowCidrs', 'clear'))),
    reverseCidrs: Object.freeze((opts.reverseCidrs ?? DNS_DEFAULTS.reverseCidrs).map((c) => parseCidr(c, 'dns: reverseCidrs', 'clear'))),
    defaultCidrs: Object.freeze((opts.defaultCidrs ?? DNS_DEFAULTS.defaultCidrs).map((c) => parseCidr(c, 'dns: defaultCidrs', 'clear'))),
    forwardAttemptMs: int('forwardAttemptMs', opts.forwardAttemptMs, Math.min(DNS_DEFAULTS.forwardAttemptMs, forwardTimeoutMs), 10, forwardTimeoutMs),
    forwardTimeoutMs,
    maxInflight: int('maxInflight', opts.maxInflight, DNS_DEFAULTS.maxInflight, 1, 65_000),
    maxUdpBytes: int('maxUdpBytes', opts.maxUdpBytes, DNS_DEFAULTS.maxUdpBytes, CLASSIC_UDP_BYTES, 4096),
    tcpIdleMs: int('tcpIdleMs', opts.tcpIdleMs, DNS_DEFAULTS.tcpIdleMs, 100, 600_000),
    maxTcpConnections: int('maxTcpConnections', opts.maxTcpConnections, DNS_DEFAULTS.maxTcpConnections, 1, 65_535),
    udp,
    workers: int('workers', opts.workers, DNS_DEFAULTS.workers, 1, MAX_DNS_WORKERS),
  })
}

/** The `nameserver` lines of a resolv.conf text, in order. Pure. */
export function parseResolvConf(text: string): string[] {
  const out: string[] = []
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line)
    if (m) out.push((m[1] as string).replace(/%.*$/, ''))
  }
  return out
}
