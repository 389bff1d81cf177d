/**
 * The check on a node's traffic report (`POST /v1/agent/traffic`), pure: the shape, every counter a non-negative
 * finite number, names bounded, lists bounded. A report that fails any check is refused whole (TrafficReportError,
 * 400): nothing of it reaches the rates. Which services and peers exist is the aggregator's business
 * (traffic.ts ignores unknown ones); who reports is the caller's certificate, checked by the route.
 */
import type { PortTraffic, TrafficReport, TunnelTraffic } from '../api/traffic.ts'
import type { TrafficLimits } from '../config/traffic.ts'
import { TrafficReportError } from './errors.ts'

type Obj = Record<string, unknown>

function object(v: unknown, what: string): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new TrafficReportError(`${what} must be an object`)
  return v as Obj
}

function list(v: unknown, what: string, max: number): unknown[] {
  if (!Array.isArray(v)) throw new TrafficReportError(`${what} must be a list`)
  if (v.length > max) throw new TrafficReportError(`${what}: ${v.length} entries, at most ${max}`)
  return v
}

function name(v: unknown, what: string, max: number): string {
  if (typeof v !== 'string' || v === '' || v.length > max) throw new TrafficReportError(`${what} must be a name of 1 to ${max} characters`)
  return v
}

/** A counter: a finite number ≥ 0 (bytes above 2^53 lose precision, never validity). */
function count(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new TrafficReportError(`${what} must be a finite number ≥ 0`)
  return v
}

function port(v: unknown, i: number, l: TrafficLimits): PortTraffic {
  const o = object(v, `ports[${i}]`)
  const at = `ports[${i}]`
  if (o.protocol !== 'tcp' && o.protocol !== 'udp') throw new TrafficReportError(`${at}.protocol must be tcp or udp`)
  const published = o.published
  if (typeof published !== 'number' || !Number.isInteger(published) || published < 1 || published > 65535) {
    throw new TrafficReportError(`${at}.published must be a port (1-65535)`)
  }
  return {
    service: name(o.service, `${at}.service`, l.maxNameLength), protocol: o.protocol, published,
    connections: count(o.connections, `${at}.connections`), bytesIn: count(o.bytesIn, `${at}.bytesIn`),
    bytesOut: count(o.bytesOut, `${at}.bytesOut`), errors: count(o.errors, `${at}.errors`), retries: count(o.retries, `${at}.retries`),
  }
}

function tunnel(v: unknown, i: number, l: TrafficLimits): TunnelTraffic {
  const o = object(v, `tunnels[${i}]`)
  const at = `tunnels[${i}]`
  return {
    peer: name(o.peer, `${at}.peer`, l.maxNameLength), rxBytes: count(o.rxBytes, `${at}.rxBytes`), txBytes: count(o.txBytes, `${at}.txBytes`),
    handshakeAgeS: o.handshakeAgeS === null ? null : count(o.handshakeAgeS, `${at}.handshakeAgeS`),
  }
}

/** The report in `body`, checked; throws TrafficReportError naming the first bad field. */
export function parseTrafficReport(body: unknown, l: TrafficLimits): TrafficReport {
  const o = object(body, 'the traffic report')
  const ports = list(o.ports, 'ports', l.maxPorts).map((p, i) => port(p, i, l))
  const tunnels = list(o.tunnels, 'tunnels', l.maxTunnels).map((p, i) => tunnel(p, i, l))
  const keys = new Set<string>()
  for (const p of ports) {
    const k = `${p.protocol}/${p.published}`
    if (keys.has(k)) throw new TrafficReportError(`ports: ${k} reported twice`)
    keys.add(k)
  }
  const peers = new Set<string>()
  for (const t of tunnels) {
    if (peers.has(t.peer)) throw new TrafficReportError(`tunnels: peer "${t.peer}" reported twice`)
    peers.add(t.peer)
  }
  return { ...(o.node === undefined ? {} : { node: name(o.node, 'node', l.maxNameLength) }), ports, tunnels }
}
