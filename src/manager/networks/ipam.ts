import { cidrContains, cidrsOverlap, formatCidr, intToIpv4, ipv4ToInt, parseCidr, type Cidr } from '../../base/cidr.ts'
import { ConfigError, MeshError } from '../../base/errors.ts'
import type { NetworkRecord } from '../../api/network.ts'
export { DEFAULT_ADDR_POOL, DEFAULT_ADDR_POOL_MASK_LENGTH } from '../../config/index.ts'

/**
 * Address management of user networks (pure). One cluster pool (default 10.80.0.0/12, as Swarm's
 * `--default-addr-pool`) is cut into network ranges (default /20, `--default-addr-pool-mask-length`); a network may
 * instead name its own private range (`--subnet`, /16../24). Each range is split into equal per-node slices (64 of
 * them, at most /28 each: a /20 gives /26 slices); the FIRST slice holds the network's service VIPs, every other one
 * goes to one node the first time the node needs the network. Ranges, slices and VNIs are the lowest free ones, so
 * allocation is stable and readable; nothing here reads a clock or keeps state.
 */

/** The first VXLAN id given to a network (below: left to the engine's own overlay networks). */
export const FIRST_VNI = 4096
/** How many slices a network range is split into, unless that would make them smaller than MAX_SLICE_PREFIX. */
const SLICES_PER_NETWORK_BITS = 6
/** The smallest slice: 16 addresses (the bridge, 13 tasks, network and broadcast). */
const MAX_SLICE_PREFIX = 28
/** `--subnet` sizes a network may take. */
export const MIN_SUBNET_PREFIX = 16
export const MAX_SUBNET_PREFIX = 24

/** The pool has no free range left for a network, or a network has no free slice left for a node. The API answers 409. */
export class AddressPoolExhaustedError extends MeshError {
  constructor(message: string) {
    super('MESH_ERR_ADDR_POOL_EXHAUSTED', message)
  }
}

export interface AddressPool {
  range: Cidr
  /** Prefix length of each network's range cut from the pool. */
  maskLength: number
  /** Ranges no network may overlap (the overlay range and the VIP range). */
  reserved: { name: string; range: Cidr }[]
}

const PRIVATE = [parseCidr('10.0.0.0/8'), parseCidr('172.16.0.0/12'), parseCidr('192.168.0.0/16')]

/**
 * The pool from its settings, checked once at startup: an IPv4 private range, a mask length between the pool's
 * prefix and /24, and — when the pool was given (`explicit`) — no overlap with the reserved ranges. (The default pool
 * may overlap a custom overlay or VIP range: its ranges that do are skipped.) Throws ConfigError naming the setting.
 */
export function createAddressPool(text: string, maskLength: number, reserved: { name: string; range: string }[], explicit = true): AddressPool {
  const range = parseCidr(text, 'default address pool')
  if (!PRIVATE.some((p) => p.prefix <= range.prefix && cidrContains(p, range.network))) {
    throw new ConfigError(`default address pool ${text}: want a private IPv4 range (inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)`)
  }
  if (!Number.isInteger(maskLength) || maskLength < Math.max(range.prefix, MIN_SUBNET_PREFIX) || maskLength > MAX_SUBNET_PREFIX) {
    throw new ConfigError(`default address pool mask length ${maskLength}: must be ${Math.max(range.prefix, MIN_SUBNET_PREFIX)}-${MAX_SUBNET_PREFIX} for the pool ${text}`)
  }
  const res = reserved.map((r) => ({ name: r.name, range: parseCidr(r.range, r.name) }))
  for (const r of res) {
    if (explicit && cidrsOverlap(range, r.range)) throw new ConfigError(`default address pool ${text} overlaps the ${r.name} ${formatCidr(r.range)}: choose another pool`)
  }
  return { range, maskLength, reserved: res }
}

/** The slice size of a network range: 64 slices, none smaller than a /28. */
export function slicePrefixOf(subnet: Cidr): number {
  return Math.min(subnet.prefix + SLICES_PER_NETWORK_BITS, MAX_SLICE_PREFIX)
}

/** Slice `index` of a range (0 is the VIP slice). */
export function sliceAt(subnet: Cidr, index: number): Cidr {
  const prefix = slicePrefixOf(subnet)
  return { network: (subnet.network + index * 2 ** (32 - prefix)) >>> 0, prefix }
}

/** The network's VIP slice (its first). */
export function vipSlice(record: Pick<NetworkRecord, 'subnet'>): Cidr {
  return sliceAt(parseCidr(record.subnet), 0)
}

/**
 * The range a new network gets: `wanted` (its `--subnet`) checked — private, /16../24, no overlap with another
 * network or a reserved range — or else the lowest free range of the pool. Throws ConfigError for a bad `wanted`,
 * AddressPoolExhaustedError when the pool is full.
 */
export function allocateSubnet(pool: AddressPool, networks: readonly Pick<NetworkRecord, 'subnet' | 'spec'>[], wanted?: string): string {
  const taken = networks.map((n) => ({ name: n.spec.name, range: parseCidr(n.subnet) }))
  if (wanted !== undefined) {
    const c = parseCidr(wanted, 'subnet')
    if (!PRIVATE.some((p) => p.prefix <= c.prefix && cidrContains(p, c.network))) {
      throw new ConfigError(`subnet ${wanted}: want a private IPv4 range (inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)`)
    }
    if (c.prefix < MIN_SUBNET_PREFIX || c.prefix > MAX_SUBNET_PREFIX) throw new ConfigError(`subnet ${wanted}: must be a /${MIN_SUBNET_PREFIX} to /${MAX_SUBNET_PREFIX}`)
    for (const r of pool.reserved) if (cidrsOverlap(c, r.range)) throw new ConfigError(`subnet ${wanted} overlaps the ${r.name} ${formatCidr(r.range)}`)
    for (const t of taken) if (cidrsOverlap(c, t.range)) throw new ConfigError(`subnet ${wanted} overlaps network "${t.name}" (${formatCidr(t.range)})`)
    return wanted
  }
  const step = 2 ** (32 - pool.maskLength)
  const count = 2 ** (pool.maskLength - pool.range.prefix)
  for (let i = 0; i < count; i++) {
    const c: Cidr = { network: (pool.range.network + i * step) >>> 0, prefix: pool.maskLength }
    if (!taken.some((t) => cidrsOverlap(c, t.range)) && !pool.reserved.some((r) => cidrsOverlap(c, r.range))) return formatCidr(c)
  }
  throw new AddressPoolExhaustedError(`the address pool ${formatCidr(pool.range)} has no free /${pool.maskLength} left for a network (${count} in use): remove a network, or give --subnet`)
}

/** The lowest VNI from FIRST_VNI not held by another network. */
export function allocateVni(networks: readonly Pick<NetworkRecord, 'vni'>[]): number {
  const used = new Set(networks.map((n) => n.vni))
  let v = FIRST_VNI
  while (used.has(v)) v++
  return v
}

/**
 * The network with `nodeId` holding a slice: unchanged when it holds one, else the lowest free slice after the VIP
 * slice. Throws AddressPoolExhaustedError when every slice is taken.
 */
export function withNodeSlice(record: NetworkRecord, nodeId: string): NetworkRecord {
  if (record.slices[nodeId]) return record
  const subnet = parseCidr(record.subnet)
  const used = new Set(Object.values(record.slices))
  const count = 2 ** (slicePrefixOf(subnet) - subnet.prefix)
  for (let i = 1; i < count; i++) {
    const s = formatCidr(sliceAt(subnet, i))
    if (!used.has(s)) return { ...record, slices: { ...record.slices, [nodeId]: s } }
  }
  throw new AddressPoolExhaustedError(`network "${record.spec.name}" has no free address slice left for another node (${count - 1} slices of ${record.subnet} in use)`)
}

/** The network without the node's slice (the node was removed). */
export function withoutNodeSlice(record: NetworkRecord, nodeId: string): NetworkRecord {
  if (!record.slices[nodeId]) return record
  const slices = { ...record.slices }
  delete slices[nodeId]
  return { ...record, slices }
}

/** The lowest free VIP of the network's VIP slice (not its network or broadcast address), or null when none is left. */
export function allocateNetworkVip(record: Pick<NetworkRecord, 'subnet'>, used: ReadonlySet<string>): string | null {
  const slice = vipSlice(record)
  const size = 2 ** (32 - slice.prefix)
  for (let i = 1; i < size - 1; i++) {
    const ip = intToIpv4((slice.network + i) >>> 0)
    if (!used.has(ip)) return ip
  }
  return null
}

/** Does `ip` (dotted quad) lie in `cidr` (text)? False for anything unparsable. */
export function addressIn(ip: string, cidr: string | undefined): boolean {
  if (!cidr) return false
  const n = ipv4ToInt(ip)
  if (n === null) return false
  try {
    return cidrContains(parseCidr(cidr), n)
  } catch {
    return false
  }
}
