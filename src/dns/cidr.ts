/** IPv4 networks for the forwarding allow-list and the reverse zones. Pure. */
import { ConfigError } from '../base/errors.ts'

export interface Cidr {
  /** Network address as an unsigned 32-bit integer (host bits cleared). */
  network: number
  prefix: number
}

/** Dotted quad → unsigned integer; -1 when not an IPv4 address. Accepts the IPv4-mapped IPv6 form (::ffff:a.b.c.d). */
export function ipv4ToInt(ip: string): number {
  let s = ip
  if (s.length > 7 && s.charCodeAt(0) === 58 /* : */ && s.startsWith('::ffff:')) s = s.slice(7)
  let n = 0
  let part = -1
  let parts = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 46 /* . */) {
      if (part < 0) return -1
      n = n * 256 + part
      part = -1
      parts++
    } else if (c >= 48 && c <= 57) {
      part = part < 0 ? c - 48 : part * 10 + c - 48
      if (part > 255) return -1
    } else return -1
  }
  if (part < 0 || parts !== 3) return -1
  return n * 256 + part
}

export function intToIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
}

/** Parse `a.b.c.d/n` (host bits ignored: 127.0.0.1/8 means 127.0.0.0/8). Throws ConfigError naming `field`. */
export function parseCidr(text: string, field: string): Cidr {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text.trim())
  const ip = m ? ipv4ToInt(m[1] as string) : -1
  const prefix = m ? Number(m[2]) : -1
  if (ip < 0 || prefix < 0 || prefix > 32) throw new ConfigError(`dns: ${field} "${text}": want an IPv4 network like 10.77.0.0/16`)
  return { network: (ip & mask(prefix)) >>> 0, prefix }
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return ip >= 0 && ((ip & mask(c.prefix)) >>> 0) === c.network
}

export function anyContains(cidrs: readonly Cidr[], ip: number): boolean {
  for (const c of cidrs) if (cidrContains(c, ip)) return true
  return false
}

/** The in-addr.arpa name of an address (`4.3.2.1.in-addr.arpa`). */
export function reverseName(ip: number): string {
  return `${ip & 255}.${(ip >>> 8) & 255}.${(ip >>> 16) & 255}.${(ip >>> 24) & 255}.in-addr.arpa`
}
