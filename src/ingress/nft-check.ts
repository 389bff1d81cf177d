import { UnsafeValueError, isIpv4, isIpv4Cidr, isPort } from '../base/values.ts'

/** The parts of an nft plan that end up in the ruleset text. */
export interface CheckedPlan {
  ports: readonly { protocol: string; published: number; target: number; backends: readonly string[] }[]
  vips: readonly { protocol: string; vip: string; port: number; backends: readonly string[] }[]
  vipServices: readonly { vip: string; backends: readonly string[] }[]
}

/** A Linux interface name that may go into the text: 1-15 of letters, digits, `_`, `.`, `-`. */
export function isIfaceName(name: unknown): name is string {
  return typeof name === 'string' && /^[A-Za-z0-9_.-]{1,15}$/.test(name)
}

/**
 * Refuse a plan holding anything but IPv4 addresses, ports 1-65535, tcp/udp and an interface name (pure). The last
 * line of defence before values from the catalog are written into `nft -f` text: the catalog has dropped bad values
 * and `planNft` skips any left, so a refusal here is a bug; nothing is written rather than something injected.
 */
export function checkNftPlan(plan: CheckedPlan, bridge: string, snatAddr: string | undefined): void {
  const refuse = (what: string, v: unknown) => {
    throw new UnsafeValueError(`nft ingress rules: ${what} ${JSON.stringify(v)} refused; no rules written`)
  }
  const proto = (p: string) => p === 'tcp' || p === 'udp'
  for (const v of plan.vips) {
    if (passed.has(v)) continue
    if (!isIpv4(v.vip)) refuse('VIP', v.vip)
    if (!isPort(v.port) || !proto(v.protocol)) refuse('VIP port', `${v.port}/${v.protocol}`)
    for (const b of v.backends) if (!isIpv4(b)) refuse('backend address', b)
    pass(v)
  }
  for (const v of plan.vipServices) {
    if (passed.has(v)) continue
    if (!isIpv4(v.vip)) refuse('VIP', v.vip)
    for (const b of v.backends) if (!isIpv4(b)) refuse('backend address', b)
    pass(v)
  }
  for (const p of plan.ports) {
    if (passed.has(p)) continue
    if (!isPort(p.published) || !isPort(p.target) || !proto(p.protocol)) refuse('port', `${p.published}:${p.target}/${p.protocol}`)
    for (const b of p.backends) if (!isIpv4(b)) refuse('backend address', b)
    pass(p)
  }
  if (!isIfaceName(bridge)) refuse('bridge name', bridge)
  if (snatAddr !== undefined && !isIpv4(snatAddr)) refuse('source NAT address', snatAddr)
}

/**
 * Plan entries already checked, frozen then (with their backend lists) so that they cannot change after the check:
 * planNft keeps a service's entries from one catalog change to the next, and each is checked once.
 */
const passed = new WeakSet<object>()
function pass(entry: { backends: readonly string[] }): void {
  if (!Object.isFrozen(entry.backends)) Object.freeze(entry.backends)
  passed.add(Object.freeze(entry))
}

/** Refuse network bridges holding anything but an interface name, an IPv4 gateway and an IPv4 network (pure). */
export function checkNetworkBridges(nets: readonly { bridge: string; gateway: string; subnet: string }[]): void {
  for (const n of nets) {
    const bad = !isIfaceName(n.bridge) ? ['bridge name', n.bridge] : !isIpv4(n.gateway) ? ['gateway', n.gateway]
      : !isIpv4Cidr(n.subnet) ? ['network range', n.subnet] : null
    if (bad) throw new UnsafeValueError(`nft ingress rules: ${bad[0]} ${JSON.stringify(bad[1])} refused; no rules written`)
  }
}
