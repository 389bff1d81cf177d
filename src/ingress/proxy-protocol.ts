import { isIPv4, isIPv6 } from 'node:net'

/**
 * PROXY protocol headers (haproxy's proxy-protocol.txt), sent to a backend before the client's bytes so it learns
 * the client's real address. Pure. v1 is one text line; v2 is binary: 12-byte signature, version/command 0x21
 * (v2, PROXY), family/transport, 2-byte length, then addresses and ports.
 */

export const PP2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])

export interface ProxiedAddress {
  srcAddr: string
  srcPort: number
  dstAddr: string
  dstPort: number
}

/** Node reports IPv4 clients of a dual-stack listener as `::ffff:a.b.c.d`. */
function plain(addr: string): string {
  return addr.startsWith('::ffff:') && isIPv4(addr.slice(7)) ? addr.slice(7) : addr
}

/** `PROXY TCP4 src dst sport dport\r\n` (UNKNOWN when the family is unknown or the two differ). */
export function proxyV1(a: ProxiedAddress): Buffer {
  const src = plain(a.srcAddr)
  const dst = plain(a.dstAddr)
  const fam = isIPv4(src) && isIPv4(dst) ? 'TCP4' : isIPv6(src) && isIPv6(dst) ? 'TCP6' : null
  if (!fam) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1')
  return Buffer.from(`PROXY ${fam} ${src} ${dst} ${a.srcPort} ${a.dstPort}\r\n`, 'latin1')
}

/** A v2 PROXY header for one address family: signature, version/command, family/transport, length, addresses, ports. */
function v2Header(family: number, transport: number, addrBytes: number, write: (b: Buffer, at: number, ip: string) => void,
  src: string, dst: string, a: ProxiedAddress): Buffer {
  const len = 2 * addrBytes + 4
  const b = Buffer.alloc(16 + len)
  PP2_SIGNATURE.copy(b, 0)
  b[12] = 0x21
  b[13] = (family << 4) | transport
  b.writeUInt16BE(len, 14)
  write(b, 16, src)
  write(b, 16 + addrBytes, dst)
  b.writeUInt16BE(a.srcPort, 16 + 2 * addrBytes)
  b.writeUInt16BE(a.dstPort, 18 + 2 * addrBytes)
  return b
}

/** The binary v2 header; `transport` stream (TCP) or dgram (UDP). LOCAL-less: always the PROXY command. */
export function proxyV2(a: ProxiedAddress, transport: 'stream' | 'dgram' = 'stream'): Buffer {
  const src = plain(a.srcAddr)
  const dst = plain(a.dstAddr)
  const t = transport === 'stream' ? 0x1 : 0x2
  if (isIPv4(src) && isIPv4(dst)) return v2Header(0x1, t, 4, writeV4, src, dst, a)
  if (isIPv6(src) && isIPv6(dst)) return v2Header(0x2, t, 16, writeV6, src, dst, a)
  // AF_UNSPEC: the receiver must ignore the address block.
  const b = Buffer.alloc(16)
  PP2_SIGNATURE.copy(b, 0)
  b[12] = 0x21
  b[13] = 0x00
  b.writeUInt16BE(0, 14)
  return b
}

function writeV4(b: Buffer, at: number, ip: string): void {
  const parts = ip.split('.')
  for (let i = 0; i < 4; i++) b[at + i] = Number(parts[i])
}

function writeV6(b: Buffer, at: number, ip: string): void {
  let s = ip
  // An embedded IPv4 tail (`::ffff:1.2.3.4` when the other side was not IPv4): two hex groups.
  const m = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s)
  if (m) {
    const [p0, p1, p2, p3] = [m[1], m[2], m[3], m[4]].map(Number) as [number, number, number, number]
    s = `${s.slice(0, m.index)}${((p0 << 8) | p1).toString(16)}:${((p2 << 8) | p3).toString(16)}`
  }
  const [head, tail] = s.split('::') as [string, string | undefined]
  const hs = head ? head.split(':') : []
  const ts = tail ? tail.split(':') : []
  const groups = tail === undefined ? hs : [...hs, ...Array<string>(Math.max(0, 8 - hs.length - ts.length)).fill('0'), ...ts]
  for (let i = 0; i < 8; i++) b.writeUInt16BE(parseInt(groups[i] ?? '0', 16) || 0, at + 2 * i)
}
