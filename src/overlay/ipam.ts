import { ConfigError } from '../base/errors.ts'
import { randomInt, type Random } from '../base/clock.ts'
import { cidrContains, formatCidr, intToIpv4, parseCidr, type Cidr } from '../base/cidr.ts'

/**
 * IPAM arithmetic (pure): the cluster's overlay range split into equal per-node subnets.
 * Default 10.77.0.0/16 into /24s: node subnet i is 10.77.i.0/24, its gateway (the node's bridge) 10.77.i.1.
 * Addresses and networks are parsed by src/base/cidr.ts.
 */


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
      c = parseCidr(subnet, 'subnet')
    } catch {
      return -1
    }
    if (c.prefix !== this.subnetPrefix || !cidrContains(this.range, c.network)) return -1
    return (c.network - this.range.network) / 2 ** (32 - this.subnetPrefix)
  }

  /** The subnet's gateway: its first host address (the node's bridge), e.g. 10.77.3.1. */
  gateway(subnet: string): string {
    return intToIpv4(parseCidr(subnet, 'subnet').network + 1)
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
