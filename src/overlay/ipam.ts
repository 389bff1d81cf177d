import { ConfigError } from '../base/errors.ts'
import { randomInt, type Random } from '../base/clock.ts'

/**
 * IPAM arithmetic (pure): the cluster's overlay range split into equal per-node subnets.
 * Default 10.77.0.0/16 into /24s: node subnet i is 10.77.i.0/24, its gateway (the node's bridge) 10.77.i.1.
 */

export interface Cidr {
  /** Network address as an unsigned 32-bit integer. */
  network: number
  prefix: number
}

export function ipv4ToInt(ip: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip)
  if (!m) return null
  const parts = m.slice(1).map(Number)
  if (parts.some((p) => p > 255)) return null
  return (((parts[0] as number) << 24) >>> 0) + ((parts[1] as number) << 16) + ((parts[2] as number) << 8) + (parts[3] as number)
}

export function intToIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
}

/** Parse `a.b.c.d/p`; the address must be the network address (no host bits set). */
export function parseCidr(text: string, what = 'CIDR'): Cidr {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text.trim())
  const ip = m ? ipv4ToInt(m[1] as string) : null
  const prefix = m ? Number(m[2]) : NaN
  if (!m || ip === null || prefix > 32) throw new ConfigError(`${what} "${text}": want an IPv4 network like 10.77.0.0/16`)
  if ((ip & ~mask(prefix)) >>> 0 !== 0) {
    throw new ConfigError(`${what} "${text}": host bits are set; did you mean ${intToIpv4((ip & mask(prefix)) >>> 0)}/${prefix}?`)
  }
  return { network: ip, prefix }
}

export function formatCidr(c: Cidr): string {
  return `${intToIpv4(c.network)}/${c.prefix}`
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return ((ip & mask(c.prefix)) >>> 0) === c.network
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix)
  return ((a.network & mask(p)) >>> 0) === ((b.network & mask(p)) >>> 0)
}

/** The range split into per-node subnets. */
export class SubnetPool {
  readonly range: Cidr
  readonly subnetPrefix: number

  constructor(range: Cidr, subnetPrefix: number) {
    if (subnetPrefix < range.prefix || subnetPrefix > 30) {
      throw new ConfigError(`overlay subnet size /${subnetPrefix}: must be between /${range.prefix} and /30`)
    }
    this.range = range
    this.subnetPrefix = subnetPrefix
  }

  get size(): number {
    return 2 ** (this.subnetPrefix - this.range.prefix)
  }

  at(i: number): string {
    return formatCidr({ network: (this.range.network + i * 2 ** (32 - this.subnetPrefix)) >>> 0, prefix: this.subnetPrefix })
  }

  /** Index of a subnet of this pool, or -1 if it is not one. */
  indexOf(subnet: string): number {
    let c: Cidr
    try {
      c = parseCidr(subnet)
    } catch {
      return -1
    }
    if (c.prefix !== this.subnetPrefix || !cidrContains(this.range, c.network)) return -1
    return (c.network - this.range.network) / 2 ** (32 - this.subnetPrefix)
  }

  /** The subnet's gateway: its first host address (the node's bridge), e.g. 10.77.3.1. */
  gateway(subnet: string): string {
    return intToIpv4(parseCidr(subnet).network + 1)
  }

  /**
   * Pick a subnet: `preferred` (a persisted lease) when it is free, else a random free one (random, not lowest,
   * so that nodes joining at the same moment rarely pick the same). Null when the pool is exhausted.
   */
  choose(taken: ReadonlySet<string>, random: Random, preferred?: string | null): string | null {
    if (preferred && this.indexOf(preferred) >= 0 && !taken.has(preferred)) return preferred
    const free: number[] = []
    for (let i = 0; i < this.size; i++) if (!taken.has(this.at(i))) free.push(i)
    if (free.length === 0) return null
    return this.at(free[randomInt(random, free.length)] as number)
  }
}
