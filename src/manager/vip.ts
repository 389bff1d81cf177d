import { cidrContains, intToIpv4, ipv4ToInt, parseCidr, type Cidr } from '../base/cidr.ts'
import type { ServiceRecord, ServiceSpec } from '../api/types.ts'
import { MeshError } from '../base/errors.ts'

/** The default range lives in src/config; re-exported for the manager's callers. */

/**
 * Service VIPs (pure): every service in endpoint mode `vip` holds one address of the VIP range (default
 * 10.78.0.0/16) for its life; DNS answers it for the service name and every node DNATs VIP:port to the tasks.
 * The lowest free address wins (skipping the network address, .1 and the broadcast address), so VIPs are
 * stable and readable (10.78.0.2, 10.78.0.3, …). A freed VIP is reused by the next service.
 */

/** The VIP range has no free address left, or is too small to hold one. The API answers 409. */
export class VipExhaustedError extends MeshError {
  constructor(message: string) {
    super('MESH_ERR_VIP_EXHAUSTED', message)
  }
}

/** The lowest free VIP in `range` not in `used`. Throws VipExhaustedError when none is left. */
export function allocateVip(range: Cidr, used: ReadonlySet<string>): string {
  const size = 2 ** (32 - range.prefix)
  for (let i = 2; i < size - 1; i++) {
    const ip = intToIpv4((range.network + i) >>> 0)
    if (!used.has(ip)) return ip
  }
  throw new VipExhaustedError(`no free service VIP left in ${intToIpv4(range.network)}/${range.prefix}`)
}

/**
 * The VIP a service record should hold after `spec` becomes its spec: keeps the one it has (if still in range),
 * allocates one for endpoint mode vip, drops it for dnsrr.
 */
export function vipFor(spec: ServiceSpec, current: string | undefined, services: readonly ServiceRecord[], range: Cidr): string | undefined {
  if (spec.endpointMode === 'dnsrr') return undefined
  const ip = current === undefined ? null : ipv4ToInt(current)
  if (current !== undefined && ip !== null && cidrContains(range, ip)) return current
  const used = new Set<string>()
  for (const s of services) if (s.vip) used.add(s.vip)
  return allocateVip(range, used)
}

export function parseVipRange(text: string): Cidr {
  const c = parseCidr(text, 'VIP range')
  if (c.prefix > 30) throw new VipExhaustedError(`VIP range "${text}" is too small: use a /30 or larger`)
  return c
}
