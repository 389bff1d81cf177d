import { UnsafeValueError, isIpv4, isIpv4Cidr, plainText } from '../base/values.ts'
import { run } from './exec.ts'

/** Thin adapter over iproute2 (`ip -j …`): links, addresses and routes. No policy here. */

interface JsonRoute { dst: string; dev?: string; prefsrc?: string; protocol?: string }
interface JsonLink { ifname: string; mtu: number; linkinfo?: { info_kind?: string } }
interface JsonAddr { ifname: string; mtu: number; addr_info: { local: string; family: string; prefixlen: number }[] }

export async function linkInfo(name: string): Promise<JsonLink | null> {
  try {
    const out = JSON.parse(await run('ip', ['-j', '-d', 'link', 'show', 'dev', name])) as JsonLink[]
    return out[0] ?? null
  } catch {
    return null
  }
}

export async function setLinkUp(name: string, mtu: number): Promise<void> {
  await run('ip', ['link', 'set', 'dev', name, 'mtu', String(mtu), 'up'])
}

export async function addKernelWireguard(name: string): Promise<boolean> {
  try {
    await run('ip', ['link', 'add', 'dev', name, 'type', 'wireguard'])
    return true
  } catch {
    return false
  }
}

export async function deleteLink(name: string): Promise<void> {
  await run('ip', ['link', 'del', 'dev', name]).catch(() => undefined)
}

/** MTU of the interface that holds `ip` (the underlay), or null if no interface has it. */
export async function mtuOfAddress(ip: string): Promise<number | null> {
  const addrs = JSON.parse(await run('ip', ['-j', 'addr', 'show'])) as JsonAddr[]
  for (const a of addrs) if (a.addr_info.some((i) => i.local === ip)) return a.mtu
  return null
}

/** Routes of the main table as `dst dev` pairs (dst "default" included). */
export async function routes(): Promise<{ dst: string; dev: string }[]> {
  const out = JSON.parse(await run('ip', ['-j', '-4', 'route', 'show'])) as JsonRoute[]
  return out.map((r) => ({ dst: r.dst, dev: r.dev ?? '' }))
}

export async function routesVia(dev: string): Promise<string[]> {
  return (await routes()).filter((r) => r.dev === dev).map((r) => r.dst)
}

/** An interface name as the kernel allows it (≤ 15 characters, no spaces, not an option). */
function checkDev(dev: string): string {
  if (!/^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,14}$/.test(plainText(dev, 'interface name'))) throw new UnsafeValueError(`interface name ${JSON.stringify(dev)} refused`)
  return dev
}

/** Route `dst` (an IPv4 network) into `dev` with source `src`; anything else is refused before `ip` runs. */
export async function replaceRoute(dst: string, dev: string, src: string): Promise<void> {
  if (!isIpv4Cidr(dst)) throw new UnsafeValueError(`route destination ${JSON.stringify(dst)} is not an IPv4 network; refused`)
  if (!isIpv4(src)) throw new UnsafeValueError(`route source ${JSON.stringify(src)} is not an IPv4 address; refused`)
  await run('ip', ['route', 'replace', dst, 'dev', checkDev(dev), 'src', src])
}

/** Delete a route `routesVia` listed (a network, an address or `default`); anything else is left alone. */
export async function deleteRoute(dst: string, dev: string): Promise<void> {
  if (dst !== 'default' && !isIpv4Cidr(dst) && !isIpv4(dst)) return
  await run('ip', ['route', 'del', dst, 'dev', checkDev(dev)]).catch(() => undefined)
}
