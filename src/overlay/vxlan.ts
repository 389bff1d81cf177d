import { writeFile } from 'node:fs/promises'
import { UnsafeValueError, isIpv4, isIpv4Cidr, plainText } from '../base/values.ts'
import { run } from './exec.ts'
import { MAX_VNI, VXLAN_PREFIX, VXLAN_RULE_PREF, VXLAN_TABLE_BASE } from './net-plan.ts'
import { VXLAN_PORT } from './net-rules.ts'

/**
 * Thin adapter over iproute2 for the networks' kernel VXLAN devices, their forwarding (FDB) and neighbour entries
 * and the routes through them, plus the bridges' proxy ARP. No policy: net-plan.ts decides, this applies. Every
 * value is checked before `ip` or `bridge` runs (they come from the manager's catalog).
 */

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/

function checked<T extends string>(v: T, ok: boolean, what: string): T {
  if (!ok) throw new UnsafeValueError(`vxlan: ${what} ${JSON.stringify(v)} refused`)
  return v
}
const devName = (d: string) => checked(d, /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,14}$/.test(plainText(d, 'device')), 'device name')
const mac = (m: string) => checked(m, MAC.test(m), 'MAC')
const ip = (a: string) => checked(a, isIpv4(a), 'address')

interface JsonLink { ifname: string; mtu: number; address?: string; linkinfo?: { info_kind?: string; info_data?: { id?: number; local?: string; port?: number } } }

/** The VXLAN devices this node has that mesh made (`mvx-<vni>`), with their VNI. */
export async function listVxlans(): Promise<{ name: string; vni: number; mac: string; mtu: number; local: string }[]> {
  const links = JSON.parse(await run('ip', ['-j', '-d', 'link', 'show', 'type', 'vxlan'])) as JsonLink[]
  return links.filter((l) => l.ifname.startsWith(VXLAN_PREFIX)).map((l) => ({
    name: l.ifname, vni: l.linkinfo?.info_data?.id ?? 0, mac: l.address ?? '', mtu: l.mtu, local: l.linkinfo?.info_data?.local ?? '',
  }))
}

/** Create (or replace, when it differs) the device: VNI, local underlay address, UDP 4789, no learning. */
export async function ensureVxlan(d: { name: string; vni: number; mac: string; mtu: number; local: string }, existing?: { vni: number; mac: string; mtu: number; local: string }): Promise<'kept' | 'created'> {
  checked(String(d.vni), Number.isInteger(d.vni) && d.vni >= 1 && d.vni <= MAX_VNI, 'VNI')
  if (existing && existing.vni === d.vni && existing.mac === d.mac && existing.local === d.local) {
    if (existing.mtu !== d.mtu) await run('ip', ['link', 'set', 'dev', devName(d.name), 'mtu', String(d.mtu)])
    await run('ip', ['link', 'set', 'dev', devName(d.name), 'up'])
    return 'kept'
  }
  if (existing) await deleteVxlan(d.name)
  await run('ip', ['link', 'add', devName(d.name), 'address', mac(d.mac), 'mtu', String(d.mtu), 'type', 'vxlan', 'id', String(d.vni),
    'local', ip(d.local), 'dstport', String(VXLAN_PORT), 'nolearning'])
  await run('ip', ['link', 'set', 'dev', d.name, 'up'])
  return 'created'
}

/** Removing the device takes its FDB, neighbour entries and routes with it. */
export async function deleteVxlan(name: string): Promise<void> {
  await run('ip', ['link', 'del', 'dev', devName(name)]).catch(() => undefined)
}

/** FDB entries (MAC → underlay address) of a device. */
export async function fdbEntries(name: string): Promise<{ mac: string; dst: string }[]> {
  const out = JSON.parse(await run('bridge', ['-j', 'fdb', 'show', 'dev', devName(name)])) as { mac: string; dst?: string }[]
  return out.filter((e) => e.dst !== undefined).map((e) => ({ mac: e.mac, dst: e.dst as string }))
}

export async function replaceFdb(name: string, m: string, dst: string): Promise<void> {
  await run('bridge', ['fdb', 'replace', mac(m), 'dev', devName(name), 'dst', ip(dst), 'self', 'permanent'])
}

export async function deleteFdb(name: string, m: string, dst: string): Promise<void> {
  await run('bridge', ['fdb', 'del', mac(m), 'dev', devName(name), 'dst', ip(dst), 'self']).catch(() => undefined)
}

/** Permanent neighbour entries of a device (the peers' gateways). */
export async function neighbours(name: string): Promise<{ ip: string; mac: string }[]> {
  const out = JSON.parse(await run('ip', ['-j', 'neigh', 'show', 'dev', devName(name)])) as { dst: string; lladdr?: string }[]
  return out.filter((n) => n.lladdr).map((n) => ({ ip: n.dst, mac: n.lladdr as string }))
}

export async function replaceNeighbour(name: string, addr: string, m: string): Promise<void> {
  await run('ip', ['neigh', 'replace', ip(addr), 'lladdr', mac(m), 'dev', devName(name), 'nud', 'permanent'])
}

export async function deleteNeighbour(name: string, addr: string): Promise<void> {
  await run('ip', ['neigh', 'del', ip(addr), 'dev', devName(name)]).catch(() => undefined)
}

/** Route a peer's slice through the device to its gateway (on-link: the device has no address), from ours. */
export async function replaceOnlinkRoute(dst: string, via: string, name: string, src: string): Promise<void> {
  checked(dst, isIpv4Cidr(dst), 'route destination')
  await run('ip', ['route', 'replace', dst, 'via', ip(via), 'dev', devName(name), 'onlink', 'src', ip(src)])
}

/** Routes through a device: destination and next hop. */
export async function routesThrough(name: string): Promise<{ dst: string; via?: string }[]> {
  const out = JSON.parse(await run('ip', ['-j', '-4', 'route', 'show', 'dev', devName(name)])) as { dst: string; gateway?: string }[]
  return out.map((r) => (r.gateway ? { dst: r.dst, via: r.gateway } : { dst: r.dst }))
}

const table = (t: number) => checked(String(t), Number.isInteger(t) && t > VXLAN_TABLE_BASE && t <= VXLAN_TABLE_BASE + MAX_VNI, 'table')

/** Routes of one of the networks' tables (peers' hosts over VXLAN). */
export async function tableRoutes(t: number): Promise<{ dst: string; via?: string }[]> {
  let text: string
  try {
    text = await run('ip', ['-j', '-4', 'route', 'show', 'table', table(t)])
  } catch (err) {
    if (/table does not exist/.test((err as Error).message)) return [] // no route was ever added to it
    throw err
  }
  const out = JSON.parse(text) as { dst: string; gateway?: string }[]
  return out.map((r) => (r.gateway ? { dst: r.dst, via: r.gateway } : { dst: r.dst }))
}

export async function replaceTableRoute(dst: string, via: string, name: string, t: number): Promise<void> {
  checked(dst, isIpv4Cidr(dst), 'route destination')
  await run('ip', ['route', 'replace', dst, 'via', ip(via), 'dev', devName(name), 'onlink', 'table', table(t)])
}

export async function deleteTableRoute(dst: string, t: number): Promise<void> {
  await run('ip', ['route', 'del', checked(dst, isIpv4Cidr(dst) || isIpv4(dst), 'route destination'), 'table', table(t)]).catch(() => undefined)
}

/** mesh's `from <slice> lookup <table>` rules: those whose table is one of the networks'. */
export async function vxlanRules(): Promise<{ from: string; table: number }[]> {
  const out = JSON.parse(await run('ip', ['-j', '-4', 'rule', 'show'])) as { src?: string; srclen?: number; table?: string }[]
  return out.flatMap((r) => {
    const t = Number(r.table)
    if (!r.src || !Number.isInteger(t) || t <= VXLAN_TABLE_BASE || t > VXLAN_TABLE_BASE + MAX_VNI) return []
    return [{ from: `${r.src}/${r.srclen ?? 32}`, table: t }]
  })
}

export async function addRule(from: string, t: number): Promise<void> {
  checked(from, isIpv4Cidr(from), 'rule source')
  await run('ip', ['rule', 'add', 'from', from, 'lookup', table(t), 'pref', String(VXLAN_RULE_PREF)])
}

export async function deleteRule(from: string, t: number): Promise<void> {
  checked(from, isIpv4Cidr(from), 'rule source')
  await run('ip', ['rule', 'del', 'from', from, 'lookup', table(t), 'pref', String(VXLAN_RULE_PREF)]).catch(() => undefined)
}

/**
 * Proxy ARP on a network's bridge: its containers see the whole network range on-link, so the host answers for
 * addresses on other nodes (it routes them into the tunnel or the VXLAN device), at once.
 */
export async function enableProxyArp(bridge: string): Promise<void> {
  await writeFile(`/proc/sys/net/ipv4/conf/${devName(bridge)}/proxy_arp`, '1\n')
  // The kernel delays proxy replies by up to proxy_delay (0.8 s by default): every first packet to a new peer paid it.
  await writeFile(`/proc/sys/net/ipv4/neigh/${bridge}/proxy_delay`, '0\n')
}
