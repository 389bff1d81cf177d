import { UnsafeValueError, isIpv4, isIpv4Cidr, plainText } from '../base/values.ts'
import { nftErrorLine, type NftRunner } from '../base/nft.ts'
import { SystemCommandError, run } from './exec.ts'
import type { NetRules } from './net-rules.ts'
import { BRIDGE_PREFIX } from './net-plan.ts'

/**
 * Overlay firewall. mesh owns one nftables table (`inet mesh`), replaced atomically in one `nft -f` transaction:
 *  - forward: from the tunnel only overlay → this node's containers passes, plus replies to flows this node
 *    forwarded into the tunnel (ingress nft mode: client → DNAT → a task on another node); everything else drops;
 *  - input: from the tunnel only replies, ICMP and DNS to the gateway reach the host;
 *  - postrouting: containers reaching outside the overlay are masqueraded; overlay ↔ overlay is never NATed.
 * Docker's own iptables-nft FORWARD chain drops new flows into its bridges, so one rule in Docker's documented
 * DOCKER-USER chain lets tunnel → bridge through (an accept there does not bypass our drops above).
 */

export interface FirewallSpec {
  ifname: string
  bridgeName: string
  range: string
  subnet: string
  gateway: string
  /** The networks' isolation rules (net-rules.ts), placed before the default network's own. */
  nets?: NetRules
}

export const NFT_TABLE = 'mesh'

/** Refuse a spec whose values are not an interface name, a network and an address (they are written into nft text). */
function checkSpec(s: FirewallSpec): void {
  for (const [what, v] of [['interface', s.ifname], ['bridge', s.bridgeName]] as const) {
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(plainText(v, what))) throw new UnsafeValueError(`overlay firewall: ${what} name ${JSON.stringify(v)} refused`)
  }
  for (const [what, v] of [['range', s.range], ['subnet', s.subnet]] as const) {
    if (!isIpv4Cidr(v)) throw new UnsafeValueError(`overlay firewall: ${what} ${JSON.stringify(v)} is not an IPv4 network; refused`)
  }
  if (!isIpv4(s.gateway)) throw new UnsafeValueError(`overlay firewall: gateway ${JSON.stringify(s.gateway)} is not an IPv4 address; refused`)
}

/** The complete ruleset text (pure; exported for tests). Throws UnsafeValueError when a value is not what it says. */
export function nftRuleset(s: FirewallSpec): string {
  checkSpec(s)
  const lines = (list: readonly string[] | undefined) => (list ?? []).map((l) => `    ${l}\n`).join('')
  return `table inet ${NFT_TABLE}
delete table inet ${NFT_TABLE}
table inet ${NFT_TABLE} {
  chain input {
    type filter hook input priority filter; policy accept;
${lines(s.nets?.input)}    iifname "${s.ifname}" ct state established,related accept
    iifname "${s.ifname}" meta l4proto { icmp, icmpv6 } accept
    iifname "${s.ifname}" ip daddr ${s.gateway} meta l4proto { tcp, udp } th dport 53 accept
    iifname "${s.ifname}" counter drop
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
${lines(s.nets?.forward)}    iifname "${s.ifname}" oifname "${s.bridgeName}" ip saddr ${s.range} ip daddr ${s.subnet} accept
    iifname "${s.ifname}" ct state established,related accept
    iifname "${s.ifname}" counter drop
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
${lines(s.nets?.postrouting)}    ip saddr ${s.subnet} ip daddr != ${s.range} oifname != "${s.bridgeName}" masquerade
  }
}
`
}

function dockerUserRule(s: FirewallSpec): string[] {
  return ['-i', s.ifname, '-o', s.bridgeName, '-j', 'ACCEPT']
}

/**
 * Docker's own FORWARD rules drop flows into its bridges and between two of its networks; the networks' bridges
 * (`mbr-<vni>`) are policed by our table instead, so two DOCKER-USER rules let them through to it.
 */
const NETWORK_BRIDGE_RULES = [['-o', `${BRIDGE_PREFIX}+`, '-j', 'ACCEPT'], ['-i', `${BRIDGE_PREFIX}+`, '-j', 'ACCEPT']]

/** Run one nft buffer through the runner (src/base/nft.ts); a refusal is one line, as `run` gives for `nft -f -`. */
async function runNft(nft: NftRunner, text: string, what: string): Promise<void> {
  const a = await nft.run(text)
  if (!a.ok) throw new SystemCommandError(`nft ${what}: ${nftErrorLine(a)}`)
}

export async function applyFirewall(s: FirewallSpec, nft: NftRunner): Promise<void> {
  await runNft(nft, nftRuleset(s), '-f -')
  // DOCKER-USER exists once dockerd has started with iptables enabled; create it if not (dockerd keeps it).
  await run('iptables', ['-N', 'DOCKER-USER']).catch(() => undefined)
  const bridges = s.nets?.forward.some((l) => l.includes(`"${BRIDGE_PREFIX}`)) ?? false
  for (const rule of [dockerUserRule(s), ...(bridges ? NETWORK_BRIDGE_RULES : [])]) {
    const present = await run('iptables', ['-C', 'DOCKER-USER', ...rule]).then(() => true, () => false)
    if (!present) await run('iptables', ['-I', 'DOCKER-USER', '1', ...rule])
  }
  if (!bridges) await removeNetworkBridgeRules() // the last network left this node
}

export async function removeFirewall(s: FirewallSpec, nft: NftRunner): Promise<void> {
  await runNft(nft, `delete table inet ${NFT_TABLE}`, `delete table inet ${NFT_TABLE}`).catch(() => undefined)
  for (let i = 0; i < 5; i++) {
    const ok = await run('iptables', ['-D', 'DOCKER-USER', ...dockerUserRule(s)]).then(() => true, () => false)
    if (!ok) break
  }
  await removeNetworkBridgeRules()
}

/** Remove the DOCKER-USER rules of the networks' bridges (the last network left this node, or leave). */
export async function removeNetworkBridgeRules(): Promise<void> {
  for (const rule of NETWORK_BRIDGE_RULES) {
    for (let i = 0; i < 5; i++) {
      const ok = await run('iptables', ['-D', 'DOCKER-USER', ...rule]).then(() => true, () => false)
      if (!ok) break
    }
  }
}
