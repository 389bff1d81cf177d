import { isIpv4 } from '../base/values.ts'
import { cidrContains, formatCidr, ipv4ToInt, parseCidr, type Cidr } from '../base/cidr.ts'

/**
 * The check on a task address a node reports (pure). The address goes into every agent's VIP and published-port
 * rules (`nft -f`), so only a canonical dotted-quad IPv4 inside the overlay subnet registered for the reporting node
 * (PUT /v1/agent/overlay) is taken. While the node has registered none, the address must at least lie in the
 * cluster overlay range.
 */

/** Why `ip` cannot be the address of a task on a node holding `subnet` (null: it can). */
export function taskAddressProblem(ip: unknown, subnet: string | null, range: Cidr): string | null {
  if (!isIpv4(ip)) return `task address ${JSON.stringify(ip)} is not a dotted-quad IPv4 address`
  const own = subnetWithin(subnet, range)
  const where = own ?? range
  if (cidrContains(where, ipv4ToInt(ip) as number)) return null
  return own ? `task address ${ip} is outside the node's overlay subnet ${subnet}` : `task address ${ip} is outside the overlay range ${formatCidr(range)}`
}

/** The node's subnet when it parses and lies inside the range, else null (then the range is the limit). */
function subnetWithin(subnet: string | null, range: Cidr): Cidr | null {
  if (!subnet) return null
  try {
    const c = parseCidr(subnet)
    return c.prefix >= range.prefix && cidrContains(range, c.network) ? c : null
  } catch {
    return null
  }
}
