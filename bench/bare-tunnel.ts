/**
 * What the overlay benchmarks share: `must` (a command in a lab node that has to succeed) and a bare WireGuard
 * tunnel between two lab nodes, brought up by hand with the same wireguard-go binary mesh uses (the peer every
 * overlay figure is a ratio against).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { LabNode } from '../test/lab/index.ts'
import { waitFor, type Proc } from '../test/support/procs.ts'

export const BARE_IF = 'wgbare'
export const BARE_PORT = 51821

/** Run `cmd` in node `n`; its trimmed stdout, or an error naming the node and `what`. */
export async function must(n: LabNode, cmd: string[], what: string, timeoutMs = 30_000): Promise<string> {
  const r = await n.exec(cmd, { timeoutMs })
  if (r.code !== 0) throw new Error(`${n.name}: ${what} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`)
  return r.stdout.trim()
}

/**
 * Bring up `wgbare` on both nodes: wireguard-go -f (spawned, so its PID is known and it is reaped with `procs`),
 * keys from `wg`, 10.254.0.1/30 ↔ 10.254.0.2/30, MTU `mtu`. Returns the two wireguard-go PIDs.
 */
export async function startBareTunnel(nodes: [LabNode, LabNode], procs: Proc[], mtu = 1420): Promise<[number, number]> {
  const keys = await Promise.all(nodes.map(async (n) => {
    const priv = await must(n, ['wg', 'genkey'], 'wg genkey')
    const pub = await must(n, ['sh', '-c', `printf '%s\\n' '${priv}' | wg pubkey`], 'wg pubkey')
    const file = join(n.dir, `${BARE_IF}.key`)
    writeFileSync(file, `${priv}\n`, { mode: 0o600 })
    return { file, pub }
  }))
  const pids: number[] = []
  for (const [i, n] of nodes.entries()) {
    const p = n.spawn(['wireguard-go', '-f', BARE_IF], { name: `wireguard-go-${BARE_IF}-${n.name}`, env: { ...process.env, LOG_LEVEL: 'error' } })
    procs.push(p)
    await waitFor(async () => (await n.exec(['test', '-S', `/run/wireguard/${BARE_IF}.sock`])).code === 0, 10_000,
      { intervalMs: 100, what: `${n.name}: /run/wireguard/${BARE_IF}.sock` })
    const comm = readFileSync(`/proc/${p.pid}/comm`, 'utf8').trim()
    if (!comm.startsWith('wireguard')) throw new Error(`${n.name}: spawned pid ${p.pid} is ${comm}, not wireguard-go`)
    const other = nodes[1 - i] as LabNode
    await must(n, ['wg', 'set', BARE_IF, 'listen-port', String(BARE_PORT), 'private-key', (keys[i] as { file: string }).file,
      'peer', (keys[1 - i] as { pub: string }).pub, 'endpoint', `${other.ip}:${BARE_PORT}`, 'allowed-ips', `10.254.0.${2 - i}/32`], 'wg set')
    await must(n, ['ip', 'address', 'add', `10.254.0.${i + 1}/30`, 'dev', BARE_IF], 'ip address add')
    await must(n, ['ip', 'link', 'set', 'dev', BARE_IF, 'mtu', String(mtu), 'up'], 'ip link set up')
    pids.push(p.pid)
  }
  return [pids[0] as number, pids[1] as number]
}
