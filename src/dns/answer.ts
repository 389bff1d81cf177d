/**
 * The answer builder: one query packet in, one response packet (or "drop", or "forward this") out. Pure apart from
 * the rotation counters in the zone: the zone follows the catalog's snapshot object (updated for the services that
 * changed), so a change is visible in the very next answer. The hot path parses the header and question by hand, looks the name up in a Map
 * and copies pre-encoded records; dns-packet decodes only unusual queries (records besides one OPT).
 */
import dnsPacket from 'dns-packet'
import type { CatalogSnapshot, CatalogView } from '../api/catalog.ts'
import { anyCidrContains, ipv4ToInt, unmapIpv4 } from '../base/cidr.ts'
import type { DnsConfig } from './options.ts'
import {
  CLASS_IN, CLASSIC_UDP_BYTES, EXT_RCODE_BADVERS, HEADER_BYTES, MAX_MESSAGE_BYTES, OPT_BYTES, ParseStatus, RCODE, TYPE,
  errorResponse, newQuery, parseQuery, writeOpt, type Query,
} from './wire.ts'
import { ownsMissing, recordsFor, type Entry, type RRSet, type Zone } from './zone.ts'
import { askerOf, buildScopes, findEntry, type Scopes } from './scope.ts'

/** Returned by `handle` when the name is not ours and the client may have it forwarded. */
export const FORWARD = Symbol('forward')

/** Query types counted under their own label; everything else is `other`. */
export const QTYPE_LABELS = ['A', 'AAAA', 'SRV', 'PTR', 'SOA', 'ANY', 'TXT', 'MX', 'NS', 'CNAME', 'HTTPS', 'other'] as const
const QTYPE_INDEX = new Map<number, number>(QTYPE_LABELS.slice(0, -1).map((l, i) => [TYPE[l as keyof typeof TYPE], i]))
export const RCODE_LABELS = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'] as const

export function qtypeIndex(qtype: number): number {
  return QTYPE_INDEX.get(qtype) ?? QTYPE_LABELS.length - 1
}

/** Counters the metrics adapter reads at scrape time (plain numbers: nothing costs more than `++` on the path). */
export class DnsStats {
  /** [qtypeIndex * 16 + rcode] → answers sent. */
  readonly answers = new Float64Array(QTYPE_LABELS.length * 16)
  /** Packets dropped unanswered: shorter than a header, or a response. */
  dropped = 0
  /** Queries answered FORMERR (broken question or OPT). */
  formerr = 0
  forwarded = 0
  /** Catalog snapshots turned into zones. */
  zoneBuilds = 0
  count(qtype: number, rcode: number): void {
    const i = qtypeIndex(qtype) * 16 + (rcode & 15)
    this.answers[i] = (this.answers[i] as number) + 1
  }
}

export interface ResponderConfig extends Pick<DnsConfig, 'domain' | 'ttlSec' | 'allowCidrs' | 'reverseCidrs' | 'maxUdpBytes' | 'defaultCidrs'> {}

export class Responder {
  readonly stats = new DnsStats()
  readonly #catalog: CatalogView
  readonly #cfg: ResponderConfig
  #snap: CatalogSnapshot | null = null
  #scopes: Scopes | null = null
  /** The query of the last `handle` call (valid until the next one). */
  readonly query: Query = newQuery()

  constructor(catalog: CatalogView, cfg: ResponderConfig) {
    this.#catalog = catalog
    this.#cfg = cfg
  }

  /** The zones for the catalog's current snapshot, brought up to date when the snapshot object changed. */
  scopes(): Scopes {
    const snap = this.#catalog.current()
    if (snap !== this.#snap || this.#scopes === null) {
      this.#scopes = buildScopes(snap, this.#cfg, this.#scopes ?? undefined)
      this.#snap = snap
      this.stats.zoneBuilds++
    }
    return this.#scopes
  }

  /** The zone of the whole catalog (what a source on no network sees). */
  zone(): Zone {
    return this.scopes().all
  }

  /**
   * Answer one query from `fromIp`. `tcp`: the answer may be up to 64 KiB; otherwise the UDP limit (512, or the
   * client's EDNS0 size capped at maxUdpBytes) applies and a longer answer is cut with TC set.
   * Returns the response, null (drop), or FORWARD (then `this.query` describes the question).
   */
  handle(msg: Buffer, fromIp: string, tcp: boolean): Buffer | null | typeof FORWARD {
    const q = this.query
    let st: ParseStatus = parseQuery(msg, q)
    if (st === ParseStatus.SLOW) st = this.#decodeSlow(msg, q)
    if (st !== ParseStatus.OK) {
      if (st === ParseStatus.DROP) { this.stats.dropped++; return null }
      const rcode = st === ParseStatus.NOTIMP ? RCODE.NOTIMP : RCODE.FORMERR
      if (rcode === RCODE.FORMERR) this.stats.formerr++
      this.stats.count(0, rcode)
      return errorResponse(msg, HEADER_BYTES, rcode, true, null)
    }
    const opt = q.ednsSize > 0
    if (opt && q.ednsVersion !== 0) {
      this.stats.count(q.qtype, RCODE.NOERROR)
      return errorResponse(msg, q.qEnd, 0, true, { udpSize: this.#cfg.maxUdpBytes, extRcode: EXT_RCODE_BADVERS, dnssecOk: q.ednsDo })
    }
    if (q.qclass !== CLASS_IN) return this.#refuseOrForward(msg, q, fromIp)
    const sc = this.scopes()
    const asker = askerOf(sc, fromIp)
    let zone = asker === null ? sc.all : asker.zones[0] as Zone
    let e: Entry | undefined
    if (asker === null) {
      if (zone.byStack.size !== 0) {
        const stack = zone.ipStack.get(fromIp)
        if (stack !== undefined) e = zone.byStack.get(stack)?.get(q.key)
      }
      if (e === undefined) e = zone.names.get(q.key)
    } else {
      const found = findEntry(asker, q.key)
      if (found !== null) { zone = found.zone; e = found.entry }
    }
    const max = tcp ? MAX_MESSAGE_BYTES : opt ? Math.min(q.ednsSize, this.#cfg.maxUdpBytes) : CLASSIC_UDP_BYTES
    if (e !== undefined) {
      const set = recordsFor(e, q.qtype)
      if (set !== null) return this.#positive(msg, q, set, max)
      return this.#negative(msg, q, zone, RCODE.NOERROR)
    }
    // A name another network's askers see is ours to deny to this one: NXDOMAIN, never forwarded.
    if (ownsMissing(zone, q.key) || (asker !== null && sc.known.has(q.key))) return this.#negative(msg, q, zone, RCODE.NXDOMAIN)
    return this.#refuseOrForward(msg, q, fromIp)
  }

  /** SERVFAIL for the last forwarded query (upstream timeout, no upstreams, table full). */
  servfail(msg: Buffer, q: Query): Buffer {
    this.stats.count(q.qtype, RCODE.SERVFAIL)
    return errorResponse(msg, q.qEnd, RCODE.SERVFAIL, true, q.ednsSize > 0 ? { udpSize: this.#cfg.maxUdpBytes, extRcode: 0, dnssecOk: q.ednsDo } : null)
  }

  /** May this source have foreign names forwarded? The configured ranges, and every network's range in the catalog. */
  allowed(fromIp: string): boolean {
    const ip = ipv4ToInt(unmapIpv4(fromIp))
    return ip !== null && (anyCidrContains(this.#cfg.allowCidrs, ip) || anyCidrContains(this.scopes().networkCidrs, ip))
  }

  #refuseOrForward(msg: Buffer, q: Query, fromIp: string): Buffer | typeof FORWARD {
    if (this.allowed(fromIp)) return FORWARD
    this.stats.count(q.qtype, RCODE.REFUSED)
    return errorResponse(msg, q.qEnd, RCODE.REFUSED, false, q.ednsSize > 0 ? { udpSize: this.#cfg.maxUdpBytes, extRcode: 0, dnssecOk: q.ednsDo } : null)
  }

  /** Queries with records besides a single OPT: let dns-packet find the OPT (the question is already parsed). */
  #decodeSlow(msg: Buffer, q: Query): ParseStatus {
    // Every record takes at least 11 bytes: lying counts are refused before dns-packet allocates arrays for them.
    const records = msg.readUInt16BE(6) + msg.readUInt16BE(8) + msg.readUInt16BE(10)
    if (records * 11 > msg.length - q.qEnd) return ParseStatus.FORMERR
    let p: dnsPacket.Packet
    // Hostile input makes dns-packet throw by the thousand; its stack traces would cost more than the decode.
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    try {
      p = dnsPacket.decode(msg)
    } catch {
      return ParseStatus.FORMERR
    } finally {
      Error.stackTraceLimit = limit
    }
    for (const rr of p.additionals ?? []) {
      if (rr.type !== 'OPT') continue
      const o = rr as dnsPacket.OptAnswer & { extendedRcode?: number; ednsVersion?: number; flag_do?: boolean }
      q.ednsSize = Math.max(CLASSIC_UDP_BYTES, o.udpPayloadSize ?? CLASSIC_UDP_BYTES)
      q.ednsVersion = o.ednsVersion ?? 0
      q.ednsDo = o.flag_do === true
      break
    }
    return ParseStatus.OK
  }

  #positive(msg: Buffer, q: Query, set: RRSet, max: number): Buffer {
    const optLen = q.ednsSize > 0 ? OPT_BYTES : 0
    const budget = max - q.qEnd - optLen
    const n = set.count
    let start = 0
    if (set.rotate) {
      start = set.next
      set.next = start + 1 === n ? 0 : start + 1
    }
    let k = n
    let ansBytes = set.bytes.length
    let tc = false
    if (ansBytes > budget) {
      tc = true
      k = 0
      ansBytes = 0
      for (let i = 0; i < n; i++) {
        const j = (start + i) % n
        const size = (set.offs[j + 1] as number) - (set.offs[j] as number)
        if (ansBytes + size > budget) break
        ansBytes += size
        k++
      }
    }
    const extra = !tc && set.extra !== null && set.extra.bytes.length <= budget - ansBytes ? set.extra : null
    const extraLen = extra === null ? 0 : extra.bytes.length
    const out = Buffer.allocUnsafe(q.qEnd + ansBytes + extraLen + optLen)
    msg.copy(out, 0, 0, q.qEnd)
    out[2] = 0x84 | ((msg[2] as number) & 0x01) | (tc ? 0x02 : 0)
    out[3] = 0x80
    out[4] = 0; out[5] = 1
    out[6] = k >> 8; out[7] = k & 0xff
    out[8] = 0; out[9] = 0
    const ar = (extra === null ? 0 : extra.count) + (optLen > 0 ? 1 : 0)
    out[10] = ar >> 8; out[11] = ar & 0xff
    let pos = q.qEnd
    if (k === n && start === 0) {
      pos += out.write(set.bytes, pos, 'latin1')
    } else if (k > 0) {
      const from = set.offs[start] as number
      const end = start + k <= n ? (set.offs[start + k] as number) : set.bytes.length
      pos += out.write(set.bytes.slice(from, end), pos, 'latin1')
      if (start + k > n) pos += out.write(set.bytes.slice(0, set.offs[start + k - n] as number), pos, 'latin1')
    }
    if (extra !== null) pos += out.write(extra.bytes, pos, 'latin1')
    if (optLen > 0) writeOpt(out, pos, this.#cfg.maxUdpBytes, 0, q.ednsDo)
    this.stats.count(q.qtype, RCODE.NOERROR)
    return out
  }

  /** NXDOMAIN or NODATA: no answers, the zone's SOA in the authority section (negative TTL = ttlSec). */
  #negative(msg: Buffer, q: Query, zone: Zone, rcode: number): Buffer {
    const optLen = q.ednsSize > 0 ? OPT_BYTES : 0
    const soa = zone.negSoa
    const out = Buffer.allocUnsafe(q.qEnd + soa.length + optLen)
    msg.copy(out, 0, 0, q.qEnd)
    out[2] = 0x84 | ((msg[2] as number) & 0x01)
    out[3] = 0x80 | rcode
    out[4] = 0; out[5] = 1; out[6] = 0; out[7] = 0; out[8] = 0; out[9] = 1
    out[10] = 0; out[11] = optLen > 0 ? 1 : 0
    soa.copy(out, q.qEnd)
    if (optLen > 0) writeOpt(out, q.qEnd + soa.length, this.#cfg.maxUdpBytes, 0, q.ednsDo)
    this.stats.count(q.qtype, rcode)
    return out
  }
}
