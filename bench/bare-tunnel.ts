/**
 * What the overlay benchmarks share: `must` (a command in a lab node that has to succeed) and bare WireGuard
 * tunnels between two lab nodes, brought up by hand with a given wireguard-go binary: the one mesh runs (the peer
 * every overlay figure is a ratio against) and Debian 12's (the baseline issue 21 measures the GSO binary by).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { LabNode } from '../test/lab/index.ts'
import { waitFor, type Proc } from '../test/support/procs.ts'

/** One hand-made tunnel: its interface, UDP port, /30 (`10.254.0.<base+1>` ↔ `<base+2>`) and wireguard-go binary. */
export interface BareTunnel { ifname: string; port: number; base: number; binary: string }

/** The tunnel with the binary mesh runs, and the one with Debian 12's wireguard-go. */
export const BARE_IF = 'wgbare'
export const BARE_PORT = 51821
export const BARE12_IF = 'wgb12'
export const BARE12_PORT = 51822

/** The tunnel with wireguard-go from PATH (the binary an agent started without `overlay.wireguardGo` runs): 10.254.0.1 ↔ .2. */
export const PATH_BARE: BareTunnel = { ifname: BARE_IF, port: BARE_PORT, base: 0, binary: 'wireguard-go' }

/** Where test/setup.sh keeps Debian 12's wireguard-go (0.0.20220316: one packet per syscall, default UDP buffers). */
export const DEBIAN12_WG = '/var/cache/mesh/wireguard-go-bookworm/wireguard-go'

/** The tunnel's address on node `i` (0 or 1). */
export const bareAddr = (b: BareTunnel, i: number): string => `10.254.0.${b.base + 1 + i}`

/** A wireguard-go binary that exists, or an error naming how to get it. */
export function checkBinary(path: string, what: string): string {
  if (!existsSync(path)) throw new Error(`bench: no ${what} at ${path}: run test/setup.sh (it keeps one there), or pass its path`)
  return path
}

/** Run `cmd` in node `n`; its trimmed stdout, or an error naming the node and `what`. */
export async function must(n: LabNode, cmd: string[], what: string, timeoutMs = 30_000): Promise<string> {
  const r = await n.exec(cmd, { timeoutMs })
  if (r.code !== 0) throw new Error(`${n.name}: ${what} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`)
  return r.stdout.trim()
}

/**
 * Bring up tunnel `b` on both nodes: its wireguard-go -f (spawned, so its PID is known and it is reaped with
 * `procs`), keys from `wg`, `bareAddr(b, 0)` ↔ `bareAddr(b, 1)`, MTU `mtu`. Returns the two wireguard-go PIDs.
 */
export async function startBareTunnel(nodes: [LabNode, LabNode], procs: Proc[], b: BareTunnel, mtu = 1420): Promise<[number, number]> {
  const keys = await Promise.all(nodes.map(async (n) => {
    const priv = await must(n, ['wg', 'genkey'], 'wg genkey')
    const pub = await must(n, ['sh', '-c', `printf '%s\\n' '${priv}' | wg pubkey`], 'wg pubkey')
    const file = join(n.dir, `${b.ifname}.key`)
    writeFileSync(file, `${priv}\n`, { mode: 0o600 })
    return { file, pub }
  }))
  const pids: number[] = []
  for (const [i, n] of nodes.entries()) {
    const p = n.spawn([b.binary, '-f', b.ifname], { name: `wireguard-go-${b.ifname}-${n.name}`, env: { ...process.env, LOG_LEVEL: 'error' } })
    procs.push(p)
    await waitFor(async () => (await n.exec(['test', '-S', `/run/wireguard/${b.ifname}.sock`])).code === 0, 10_000,
      { intervalMs: 100, what: `${n.name}: /run/wireguard/${b.ifname}.sock` })
    const comm = readFileSync(`/proc/${p.pid}/comm`, 'utf8').trim()
    if (!comm.startsWith('wireguard')) throw new Error(`${n.name}: spawned pid ${p.pid} is ${comm}, not wireguard-go`)
    const other = nodes[1 - i] as LabNode
    await must(n, ['wg', 'set', b.ifname, 'listen-port', String(b.port), 'private-key', (keys[i] as { file: string }).file,
      'peer', (keys[1 - i] as { pub: string }).pub, 'endpoint', `${other.ip}:${b.port}`, 'allowed-ips', `${bareAddr(b, 1 - i)}/32`], 'wg set')
    await must(n, ['ip', 'address', 'add', `${bareAddr(b, i)}/30`, 'dev', b.ifname], 'ip address add')
    await must(n, ['ip', 'link', 'set', 'dev', b.ifname, 'mtu', String(mtu), 'up'], 'ip link set up')
    pids.push(p.pid)
  }
  return [pids[0] as number, pids[1] as number]
}
