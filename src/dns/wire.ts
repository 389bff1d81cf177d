/**
 * DNS wire format, the parts the hot path needs (RFC 1035, RFC 6891): constants, a hand parser for the header and
 * the question section, name and record encoders for the pre-built answer templates, and small response writers.
 * Everything here is pure and allocation-light; nothing throws on hostile input (parsers return a status instead).
 */

import { ipv4ToInt } from '../base/cidr.ts'

export const TYPE = Object.freeze({ A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, HTTPS: 65, ANY: 255 })
export const CLASS_IN = 1
export const RCODE = Object.freeze({ NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 })
/** Extended RCODE BADVERS (16): upper 8 bits (1) go in the OPT record, lower 4 (0) in the header. */
export const EXT_RCODE_BADVERS = 1
export const HEADER_BYTES = 12
/** Largest UDP answer without EDNS0 (RFC 1035 §4.2.1). */
export const CLASSIC_UDP_BYTES = 512
export const MAX_MESSAGE_BYTES = 65535
const MAX_NAME_BYTES = 255

/** Why a packet was not parsed into a question. DROP: not worth an answer (short, or a response). */
export const ParseStatus = Object.freeze({ OK: 0, DROP: 1, FORMERR: 2, NOTIMP: 3, SLOW: 4 } as const)
export type ParseStatus = (typeof ParseStatus)[keyof typeof ParseStatus]

/** A parsed query. Offsets point into the packet it came from; `key` is the lower-cased wire-form name. */
export interface Query {
  id: number
  /** Header opcode (0 = QUERY). */
  opcode: number
  /** Offset just past the question section (qname + qtype + qclass). */
  qEnd: number
  qtype: number
  qclass: number
  /** Wire-form qname without the root byte, lower-cased ASCII, as a latin1 string (a Map key). */
  key: string
  /** EDNS0: the OPT record's UDP payload size (0 = no OPT in the query). */
  ednsSize: number
  ednsVersion: number
  /** The DO bit of the query's OPT record (echoed). */
  ednsDo: boolean
}

/** Parse result: status and, when OK, the query. The object is reused by the caller that passes it in. */
export function newQuery(): Query {
  return { id: 0, opcode: 0, qEnd: 0, qtype: 0, qclass: 0, key: '', ednsSize: 0, ednsVersion: 0, ednsDo: false }
}

const scratch = Buffer.alloc(MAX_NAME_BYTES + 1)

/**
 * Parse the header, the single question and (when it is the only additional record) the OPT record of a query.
 * Returns DROP for packets too short for a header or with QR set, NOTIMP for opcodes other than QUERY, FORMERR for a
 * broken question or OPT, SLOW when the query is legal but unusual (records in answer/authority, several additional
 * records) and the caller should decode it fully. Compression in a question is not accepted (FORMERR).
 */
export function parseQuery(msg: Buffer, q: Query): ParseStatus {
  const len = msg.length
  if (len < HEADER_BYTES) return ParseStatus.DROP
  const b2 = msg[2] as number
  if (b2 & 0x80) return ParseStatus.DROP
  q.id = ((msg[0] as number) << 8) | (msg[1] as number)
  q.opcode = (b2 >> 3) & 0x0f
  q.ednsSize = 0
  q.ednsVersion = 0
  q.ednsDo = false
  if (q.opcode !== 0) return ParseStatus.NOTIMP
  const qd = ((msg[4] as number) << 8) | (msg[5] as number)
  if (qd !== 1) return ParseStatus.FORMERR
  let off = HEADER_BYTES
  let upper = false
  for (;;) {
    if (off >= len) return ParseStatus.FORMERR
    const l = msg[off] as number
    if (l === 0) break
    if (l > 63) return ParseStatus.FORMERR
    const end = off + 1 + l
    if (end > len || end - HEADER_BYTES > MAX_NAME_BYTES - 1) return ParseStatus.FORMERR
    for (let i = off + 1; i < end; i++) {
      const c = msg[i] as number
      if (c >= 65 && c <= 90) upper = true
    }
    off = end
  }
  const nameEnd = off // offset of the root byte
  if (nameEnd + 5 > len) return ParseStatus.FORMERR
  if (upper) {
    const n = nameEnd - HEADER_BYTES
    for (let i = 0; i < n; i++) {
      const c = msg[HEADER_BYTES + i] as number
      scratch[i] = c >= 65 && c <= 90 ? c | 0x20 : c
    }
    q.key = scratch.toString('latin1', 0, n)
  } else {
    q.key = msg.toString('latin1', HEADER_BYTES, nameEnd)
  }
  q.qtype = ((msg[nameEnd + 1] as number) << 8) | (msg[nameEnd + 2] as number)
  q.qclass = ((msg[nameEnd + 3] as number) << 8) | (msg[nameEnd + 4] as number)
  q.qEnd = nameEnd + 5
  const an = ((msg[6] as number) << 8) | (msg[7] as number)
  const ns = ((msg[8] as number) << 8) | (msg[9] as number)
  const ar = ((msg[10] as number) << 8) | (msg[11] as number)
  if (an !== 0 || ns !== 0 || ar > 1) return ParseStatus.SLOW
  if (ar === 1) return parseOpt(msg, q.qEnd, q)
  return ParseStatus.OK
}

/** Parse an OPT record at `off` (the only additional record) into q. Other record types are a SLOW case. */
function parseOpt(msg: Buffer, off: number, q: Query): ParseStatus {
  const len = msg.length
  if (off + 11 > len) return ParseStatus.FORMERR
  if (msg[off] !== 0) return ParseStatus.SLOW // not a root owner: not an OPT, or a broken one; let the decoder judge
  const type = ((msg[off + 1] as number) << 8) | (msg[off + 2] as number)
  if (type !== TYPE.OPT) return ParseStatus.SLOW
  const rdlen = ((msg[off + 9] as number) << 8) | (msg[off + 10] as number)
  if (off + 11 + rdlen > len) return ParseStatus.FORMERR
  q.ednsSize = Math.max(CLASSIC_UDP_BYTES, ((msg[off + 3] as number) << 8) | (msg[off + 4] as number))
  q.ednsVersion = msg[off + 6] as number
  q.ednsDo = ((msg[off + 7] as number) & 0x80) !== 0
  return ParseStatus.OK
}

/** Wire form of a dotted name (trailing dot optional), with the root byte. Null when a label is empty or too long. */
export function encodeName(name: string): Buffer | null {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name
  if (trimmed === '') return Buffer.from([0])
  // One buffer, written once: the name's bytes after a length byte, each '.' then overwritten by the next label's
  // length (a zone build encodes a name per task: no per-label buffers). UTF-8 never has 0x2e inside a character.
  const n = Buffer.byteLength(trimmed, 'utf8') + 2
  const buf = Buffer.allocUnsafe(n)
  buf.write(trimmed, 1, 'utf8')
  buf[n - 1] = 0
  let lenAt = 0
  for (let i = 1; i < n; i++) {
    if (i !== n - 1 && buf[i] !== 0x2e) continue
    const len = i - lenAt - 1
    if (len === 0 || len > 63) return null
    buf[lenAt] = len
    lenAt = i
  }
  return n > MAX_NAME_BYTES ? null : buf
}

/** The Map key of a dotted name: lower-cased wire form without the root byte, as latin1. Null when not encodable. */
export function nameKey(name: string): string | null {
  const wire = encodeName(name.toLowerCase())
  return wire === null ? null : wire.toString('latin1', 0, wire.length - 1)
}

/** Dotted form of a key (for logs, lookup results and tests). */
export function keyToName(key: string): string {
  const labels: string[] = []
  let i = 0
  while (i < key.length) {
    const l = key.charCodeAt(i)
    labels.push(Buffer.from(key.slice(i + 1, i + 1 + l), 'latin1').toString('utf8'))
    i += 1 + l
  }
  return labels.join('.') + '.'
}

/** Offsets of each label start in a key (for suffix tests on label boundaries). */
export function labelStarts(key: string): number[] {
  const starts: number[] = []
  for (let i = 0; i < key.length; i += 1 + key.charCodeAt(i)) starts.push(i)
  return starts
}

/** Pointer to the question name, which always sits at offset 12 of our responses. */
const PTR_QNAME = Buffer.from([0xc0, 0x0c])

/** One resource record: owner (wire name, or null for the compressed question name), type, TTL and rdata. */
export function encodeRecord(owner: Buffer | null, type: number, ttlSec: number, rdata: Buffer): Buffer {
  const o = owner ?? PTR_QNAME
  const out = Buffer.allocUnsafe(o.length + 10 + rdata.length)
  o.copy(out, 0)
  let p = o.length
  out.writeUInt16BE(type, p)
  out.writeUInt16BE(CLASS_IN, p + 2)
  out.writeUInt32BE(ttlSec >>> 0, p + 4)
  out.writeUInt16BE(rdata.length, p + 8)
  rdata.copy(out, p + 10)
  return out
}

/** An A record's rdata; null when `ip` is not an IPv4 address. */
export function ipv4Bytes(ip: string): Buffer | null {
  const n = ipv4ToInt(ip)
  if (n === null) return null
  const out = Buffer.allocUnsafe(4)
  out.writeUInt32BE(n, 0)
  return out
}

export function srvRdata(priority: number, weight: number, port: number, target: Buffer): Buffer {
  const out = Buffer.allocUnsafe(6 + target.length)
  out.writeUInt16BE(priority, 0)
  out.writeUInt16BE(weight, 2)
  out.writeUInt16BE(port, 4)
  target.copy(out, 6)
  return out
}

export function soaRdata(mname: Buffer, rname: Buffer, serial: number, refresh: number, retry: number, expire: number, minimum: number): Buffer {
  const tail = Buffer.allocUnsafe(20)
  tail.writeUInt32BE(serial >>> 0, 0)
  tail.writeUInt32BE(refresh, 4)
  tail.writeUInt32BE(retry, 8)
  tail.writeUInt32BE(expire, 12)
  tail.writeUInt32BE(minimum, 16)
  return Buffer.concat([mname, rname, tail])
}

/** The OPT record of a response: our UDP payload size, extended rcode, version 0, the DO bit echoed, no options. */
export function writeOpt(out: Buffer, off: number, udpSize: number, extRcode: number, dnssecOk: boolean): number {
  out[off] = 0
  out.writeUInt16BE(TYPE.OPT, off + 1)
  out.writeUInt16BE(udpSize, off + 3)
  out[off + 5] = extRcode
  out[off + 6] = 0
  out[off + 7] = dnssecOk ? 0x80 : 0
  out[off + 8] = 0
  out.writeUInt16BE(0, off + 9)
  return off + 11
}
export const OPT_BYTES = 11

/**
 * Header-only (plus question when known) error response: FORMERR, NOTIMP, SERVFAIL, REFUSED. Copies the id, opcode
 * and RD bit of the query; echoes the question when `qEnd` > 12; adds an OPT when the query had one.
 */
export function errorResponse(msg: Buffer, qEnd: number, rcode: number, ra: boolean, opt: { udpSize: number; extRcode: number; dnssecOk: boolean } | null): Buffer {
  const qLen = qEnd > HEADER_BYTES ? qEnd : HEADER_BYTES
  const out = Buffer.allocUnsafe(qLen + (opt ? OPT_BYTES : 0))
  msg.copy(out, 0, 0, qLen)
  out[2] = 0x80 | ((msg[2] as number) & 0x79) // QR, keep opcode and RD; clear AA, TC
  out[3] = (ra ? 0x80 : 0) | (rcode & 0x0f)
  out.writeUInt16BE(qEnd > HEADER_BYTES ? 1 : 0, 4)
  out.writeUInt32BE(0, 6)
  out.writeUInt16BE(opt ? 1 : 0, 10)
  if (opt) writeOpt(out, qLen, opt.udpSize, opt.extRcode, opt.dnssecOk)
  return out
}
