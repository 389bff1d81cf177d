import { UnsafeValueError, isIpv4, isIpv4Cidr, plainText } from '../base/values.ts'
import { cidrContains, parseCidr } from '../base/cidr.ts'
import { VXLAN_PREFIX, type LocalNetwork } from './net-plan.ts'

/**
 * Isolation between networks (pure: facts → nftables rule lines for the chains of `inet mesh`, firewall.ts).
 *
 * A task address on network X reaches only addresses of X (VIPs are already translated when the forward hook runs:
 * the filter sees the task address), its own gateway (DNS), and — unless X is internal — the outside through the
 * node's masquerade. Replies of allowed flows pass (ct state established,related). The node's own hosts (every
 * slice's gateway, the default network's gateways) may reach every network, and flows this node translated itself
 * (ingress DNAT from outside) pass; DNS to its own gateway and to the default network's gateway (the resolver task
 * containers are given) is allowed. A packet entering from X's bridge must carry a source in this node's slice of X
 * and never the gateway's. An internal network has no way out: neither forwarded nor to the host, except DNS and
 * ICMP to its gateway. VXLAN (UDP 4789) is accepted only from the registered peers' underlay addresses.
 * The default network (its bridge, the node's overlay subnet, the overlay range) is one more network here.
 */

export const VXLAN_PORT = 4789

/** The default network as the rules see it. */
export interface DefaultNetworkFacts {
  bridge: string
  /** This node's subnet of the overlay range. */
  slice: string
  gateway: string
  /** The overlay range (the default network's whole range). */
  range: string
  /** The tunnel interface. */
  tunnel: string
}

export interface NetRulesSpec {
  default: DefaultNetworkFacts
  local: readonly LocalNetwork[]
  /** Every network range but the default's. */
  ranges: readonly string[]
  /** Host addresses that may reach every network: every slice's gateway and every node's default gateway. */
  gateways: readonly string[]
  multiHomed: readonly { ip: string; range: string }[]
  vxlanPeers: readonly string[]
  /** Whether this node has VXLAN devices (the 4789 rules are there either way). */
  vxlanDevices: readonly string[]
}

export interface NetRules {
  input: string[]
  forward: string[]
  postrouting: string[]
}

function dev(v: string, what: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(plainText(v, what))) throw new UnsafeValueError(`network rules: ${what} ${JSON.stringify(v)} refused`)
  return `"${v}"`
}
function net(v: string, what: string): string {
  if (!isIpv4Cidr(v)) throw new UnsafeValueError(`network rules: ${what} ${JSON.stringify(v)} is not an IPv4 network; refused`)
  return v
}
function addr(v: string, what: string): string {
  if (!isIpv4(v)) throw new UnsafeValueError(`network rules: ${what} ${JSON.stringify(v)} is not an IPv4 address; refused`)
  return v
}

/** An nft anonymous set of networks with the ones inside another left out (nft refuses overlapping intervals). */
export function cidrSet(cidrs: readonly string[]): string {
  const parsed = [...new Set(cidrs.map((c) => net(c, 'range')))].map((c) => ({ text: c, c: parseCidr(c) }))
  const kept = parsed.filter((a) => !parsed.some((b) => b !== a && b.c.prefix <= a.c.prefix && cidrContains(b.c, a.c.network) &&
    (b.c.prefix < a.c.prefix || b.text < a.text)))
  const texts = kept.map((k) => k.text).sort()
  return texts.length === 1 ? texts[0] as string : `{ ${texts.join(', ')} }`
}

function addrSet(list: readonly string[], what: string): string {
  const texts = [...new Set(list.map((a) => addr(a, what)))].sort()
  return texts.length === 1 ? texts[0] as string : `{ ${texts.join(', ')} }`
}

export function netRules(s: NetRulesSpec): NetRules {
  const d = s.default
  const dbr = dev(d.bridge, 'bridge')
  const tun = dev(d.tunnel, 'interface')
  const all = cidrSet([d.range, ...s.ranges])
  const gateways = s.gateways.length > 0 ? addrSet([...s.gateways, d.gateway], 'gateway') : addr(d.gateway, 'gateway')
  const input: string[] = []
  const forward: string[] = []
  const post: string[] = []

  input.push(s.vxlanPeers.length > 0 ? `udp dport ${VXLAN_PORT} ip saddr ${addrSet(s.vxlanPeers, 'peer address')} accept` : '')
  input.push(`udp dport ${VXLAN_PORT} counter drop`)

  // Anti-spoofing, then replies, on every bridge (the default network's too).
  const bridges = [{ br: dbr, slice: net(d.slice, 'subnet'), gw: addr(d.gateway, 'gateway') },
    ...s.local.map((n) => ({ br: dev(n.bridge, 'bridge'), slice: net(n.slice, 'slice'), gw: addr(n.gateway, 'gateway') }))]
  for (const b of bridges) {
    forward.push(`iifname ${b.br} ip saddr != ${b.slice} counter drop`)
    forward.push(`iifname ${b.br} ip saddr ${b.gw} counter drop`)
  }
  forward.push('ct state established,related accept')
  for (const m of s.multiHomed) forward.push(`ip saddr ${addr(m.ip, 'address')} ip daddr ${net(m.range, 'range')} accept`)

  // Out of a bridge: its own network anywhere; never another network; outside unless internal.
  forward.push(`iifname ${dbr} ip daddr ${net(d.range, 'range')} accept`)
  forward.push(`iifname ${dbr} ip daddr ${all} counter drop`)
  for (const n of s.local) {
    const br = dev(n.bridge, 'bridge')
    forward.push(`iifname ${br} ip daddr ${net(n.subnet, 'range')} accept`)
    forward.push(n.internal ? `iifname ${br} counter drop` : `iifname ${br} ip daddr ${all} counter drop`)
  }
  // Into a network's bridge: the same network (from the tunnel or its VXLAN device), nodes' hosts, this node's DNAT.
  for (const n of s.local) {
    const br = dev(n.bridge, 'bridge')
    const from = n.encrypted ? tun : `{ ${tun}, ${dev(`${VXLAN_PREFIX}${n.vni}`, 'device')} }`
    forward.push(`iifname ${from} oifname ${br} ip saddr ${net(n.subnet, 'range')} accept`)
    // Nodes' hosts: over VXLAN too on an unencrypted network (a node without a slice sends from its default gateway).
    forward.push(`iifname ${from} oifname ${br} ip saddr ${gateways} accept`)
    forward.push(`oifname ${br} ct status dnat accept`)
    forward.push(`oifname ${br} counter drop`)
  }
  for (const v of s.vxlanDevices) forward.push(`iifname ${dev(v, 'device')} counter drop`)

  // To the host from a bridge: DNS and ICMP at its own gateway; never another network's gateway; internal: nothing else.
  for (const n of s.local) {
    const br = dev(n.bridge, 'bridge')
    const gw = addr(n.gateway, 'gateway')
    // DNS at its own gateway, and at the default network's (the resolver task containers are given today).
    input.push(`iifname ${br} ip daddr { ${gw}, ${addr(d.gateway, 'gateway')} } meta l4proto { tcp, udp } th dport 53 accept`)
    input.push(`iifname ${br} ip daddr ${gw} meta l4proto icmp accept`)
    input.push(`iifname ${br} ct state established,related accept`)
    input.push(n.internal ? `iifname ${br} counter drop` : `iifname ${br} ip daddr ${all} counter drop`)
    if (!n.internal) post.push(`ip saddr ${net(n.slice, 'slice')} ip daddr != ${all} oifname != ${br} masquerade`)
  }
  // The node's own connections (ingress proxy, health checks) leave from its default-network gateway: to any network
  // they keep that address, which the other nodes' bridges accept (gateways) and their WireGuard knows as this peer's.
  // Masqueraded to the underlay address, the peer's WireGuard would drop them (not in this peer's allowed-ips).
  if (s.ranges.length > 0) post.unshift(`ip saddr ${net(d.slice, 'subnet')} ip daddr ${all} accept`)
  return { input: input.filter(Boolean), forward, postrouting: post }
}
