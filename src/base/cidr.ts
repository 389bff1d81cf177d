import { ConfigError } from './errors.ts'

/**
 * IPv4 addresses and networks (pure), one rule set for every subsystem: the overlay range and its per-node
 * subnets, the service VIP range, the DNS allow-list and reverse zones.
 *
 * An address is a dotted quad of four decimal octets 0-255 without leading zeros (`10.0.0.1`, never `010.0.0.1`,
 * ` 10.0.0.1` or `10.0.0.1\n`); a network is `address/prefix` with a decimal prefix 0-32, also without leading
 * zeros. Nothing is trimmed: a value with whitespace is refused, so a value read from a file or the network cannot
 * smuggle a second line into a ruleset. Addresses are unsigned 32-bit integers in host order.
 */

export interface Cidr {
  /** Network address as an unsigned 32-bit integer (host bits cleared). */
  network: number
  /** Prefix length, 0-32. */
  prefix: number
}

/** What parseCidr does with host bits: refuse them (a range to allocate from) or clear them (an allow-list entry). */
export type HostBits = 'refuse' | 'clear'

const DOT = 46
const ZERO = 48
const NINE = 57

/** Dotted quad → unsigned integer; null when the text is not exactly an IPv4 address. Allocation-free (hot path). */
export function ipv4ToInt(text: string): number | null {
  if (text.length < 7 || text.length > 15) return null
  let n = 0
  let part = 0
  let digits = 0
  let dots = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === DOT) {
      if (digits === 0 || ++dots > 3) return null
      n = n * 256 + part
      part = 0
      digits = 0
    } else if (c >= ZERO && c <= NINE) {
      if (digits === 1 && part === 0) return null // leading zero
      part = part * 10 + c - ZERO
      if (++digits > 3 || part > 255) return null
    } else {
      return null
    }
  }
  if (digits === 0 || dots !== 3) return null
  return n * 256 + part
}

export function intToIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
}

/** A socket's peer address with the IPv4-mapped IPv6 prefix removed (`::ffff:10.0.0.1` → `10.0.0.1`). */
export function unmapIpv4(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address
}

/** The netmask of a prefix length as an unsigned integer (/24 → 0xffffff00). */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
}

const PREFIX = /^(?:0|[1-9]\d?)$/

/**
 * Parse `a.b.c.d/p`. Throws ConfigError naming `field`: for anything but an IPv4 network, and for host bits set
 * unless `hostBits` is 'clear' (then 127.0.0.1/8 means 127.0.0.0/8).
 */
export function parseCidr(text: string, field = 'CIDR', hostBits: HostBits = 'refuse'): Cidr {
  const slash = text.indexOf('/')
  const ip = slash < 0 ? null : ipv4ToInt(text.slice(0, slash))
  const p = slash < 0 ? '' : text.slice(slash + 1)
  const prefix = PREFIX.test(p) ? Number(p) : -1
  if (ip === null || prefix < 0 || prefix > 32) throw new ConfigError(`${field} "${text}": want an IPv4 network like 10.77.0.0/16`)
  const network = (ip & prefixMask(prefix)) >>> 0
  if (network !== ip && hostBits === 'refuse') {
    throw new ConfigError(`${field} "${text}": host bits are set; did you mean ${intToIpv4(network)}/${prefix}?`)
  }
  return { network, prefix }
}

export function formatCidr(c: Cidr): string {
  return `${intToIpv4(c.network)}/${c.prefix}`
}

/** Is the address (an unsigned integer from ipv4ToInt) inside the network? */
export function cidrContains(c: Cidr, ip: number): boolean {
  return ((ip & prefixMask(c.prefix)) >>> 0) === c.network
}

/** Is the address inside any of the networks? False for an empty list. */
export function anyCidrContains(cidrs: readonly Cidr[], ip: number): boolean {
  for (const c of cidrs) if (cidrContains(c, ip)) return true
  return false
}

/** Do the two networks share at least one address? */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const m = prefixMask(Math.min(a.prefix, b.prefix))
  return ((a.network & m) >>> 0) === ((b.network & m) >>> 0)
}

/**
 * True when `text` is exactly one of the per-node subnets `range` is split into (`prefix` long, inside the range, no
 * host bits, written canonically): `10.77.3.0/24` of 10.77.0.0/16 by /24s, never `10.77.3.0/25` or `10.77.3.0/24\n`.
 */
export function isPoolSubnet(text: unknown, range: Cidr, prefix: number): text is string {
  if (typeof text !== 'string') return false
  let c: Cidr
  try {
    c = parseCidr(text)
  } catch {
    return false
  }
  return c.prefix === prefix && prefix >= range.prefix && cidrContains(range, c.network) && formatCidr(c) === text
}
