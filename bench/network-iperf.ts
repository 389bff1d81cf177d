/**
 * Networks benchmark (issue 18): iperf3 between two lab nodes (1 manager + 1 worker, `mesh agent` as a user runs it),
 * four paths interleaved in every round so that the machine's load drifts over all of them alike:
 *  - vxlan:    container → container on an `--opt encrypted=false` network (kernel VXLAN, mvx-<vni>), with the
 *              isolation rules of every node in place (nft `inet mesh`);
 *  - underlay: node1 → node2 host to host (veth + bridge), no tunnel: the baseline for vxlan (goal ≥ 0.75×);
 *  - wg:       container → container on an encrypted network (mesh0, mesh's wireguard-go);
 *  - bare:     node1 → node2 through `wgbare`, a second wireguard-go tunnel set up by hand with `wg` (same binary,
 *              MTU 1420, port 51821): the baseline for wg.
 * The iperf3 processes are the host's binary; for containers they enter the containers' network namespaces
 * (`nsenter -t PID -n`). Prints the load average before and after, the figures (median of the rounds) and the ratios.
 *
 * Usage (root, alone on the machine): node bench/network-iperf.ts [--rounds N] [--seconds S]   (defaults 2 × 5 s,
 * under 3 minutes with the lab). Network: only the lab's namespaces; every process started here is stopped by PID,
 * the lab goes down in finally.
 */
import { randomBytes } from 'node:crypto'
import { loadavg } from 'node:os'
import type { LabNode } from '../test/lab/index.ts'
import { isRoot } from '../test/lab/index.ts'
import { StopWaiting, stop, waitExit, waitFor, type Proc } from '../test/support/procs.ts'
import { meshLab, type MeshLab } from '../test/support/mesh-lab.ts'
import { PATH_BARE, must, startBareTunnel } from './bare-tunnel.ts'

const GOAL_VXLAN = 0.75
const IPERF_PORT = 5201
type PathName = 'vxlan' | 'underlay' | 'wg' | 'bare'
const PATHS: readonly PathName[] = ['vxlan', 'underlay', 'wg', 'bare']
interface PathSpec { clientNs: string[]; serverNs: string[]; target: string }

const log = (msg: string): void => { process.stderr.write(`[network-iperf] ${msg}\n`) }

function parseArgs(argv: readonly string[]): { rounds: number; seconds: number } {
  const a = { rounds: 2, seconds: 5 }
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]
    const v = Number(argv[++i])
    if (!Number.isInteger(v) || v < 1 || v > 60) throw new Error(`bench: ${k} must be an integer in 1..60`)
    if (k === '--rounds') a.rounds = v
    else if (k === '--seconds') a.seconds = v
    else throw new Error(`bench: unknown argument ${k} (usage: [--rounds N] [--seconds S])`)
  }
  return a
}

async function mesh(c: MeshLab, args: string[]): Promise<void> {
  const r = await c.mesh(args, 180_000)
  if (r.code !== 0) throw new Error(`mesh ${args.join(' ')}: ${r.stderr.trim()}`)
}

/** The container of `service` on node `n`: its PID (for nsenter) and its address on `network`. */
async function container(n: LabNode, service: string, network: string): Promise<{ pid: string; ip: string }> {
  const name = (await n.docker(['ps', '--filter', `label=mesh.service.name=${service}`, '--format', '{{.Names}}'])).stdout.trim().split('\n')[0]
  if (!name) throw new Error(`${n.name}: no container of ${service}`)
  const out = (await n.docker(['inspect', '-f', `{{.State.Pid}} {{(index .NetworkSettings.Networks "${network}").IPAddress}}`, name])).stdout.trim()
  const [pid, ip] = out.split(' ')
  if (!pid || !ip) throw new Error(`${n.name}: ${name} has no address on ${network}`)
  return { pid, ip }
}

async function iperf(n1: LabNode, n2: LabNode, name: PathName, p: PathSpec, seconds: number): Promise<number> {
  const server = n2.spawn([...p.serverNs, 'iperf3', '-s', '-1', '-p', String(IPERF_PORT), '--forceflush'], { name: `iperf3-s-${name}` })
  try {
    await waitFor(() => {
      if (!server.running()) throw new StopWaiting(`iperf3 server for ${name} exited: ${server.tail(3)}`)
      return server.stdout().includes('Server listening')
    }, 10_000, { intervalMs: 50, what: `iperf3 server for ${name}` })
    const r = await n1.exec([...p.clientNs, 'iperf3', '-c', p.target, '-p', String(IPERF_PORT), '-t', String(seconds), '-J'], { timeoutMs: (seconds + 30) * 1000 })
    const j = JSON.parse(r.stdout || '{}') as { error?: string; end?: { sum_received?: { bits_per_second: number } } }
    if (r.code !== 0 || j.error || !j.end?.sum_received) throw new Error(`iperf3 ${name}: ${j.error ?? (r.stderr.trim() || `exit ${r.code}`)}`)
    return j.end.sum_received.bits_per_second
  } finally {
    if (!(await waitExit(server, 5_000))) await stop(server, 'SIGTERM', 3_000)
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m] as number : ((s[m - 1] as number) + (s[m] as number)) / 2
}
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ')

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  if (!isRoot()) throw new Error('bench: needs root (the lab builds namespaces)')
  const started = Date.now()
  const load0 = load()
  const cleanups: (() => unknown)[] = []
  const procs: Proc[] = []
  const samples: Record<PathName, number[]> = { vxlan: [], underlay: [], wg: [], bare: [] }
  try {
    const c = await meshLab({ teardown: (fn) => { cleanups.push(fn) } }, { nodes: 2, prefix: `nb${randomBytes(3).toString('hex')}` })
    const [n1, n2] = c.lab.nodes as [LabNode, LabNode]
    log(`lab up in ${((Date.now() - started) / 1000).toFixed(0)} s`)
    await mesh(c, ['network', 'create', '--opt', 'encrypted=false', 'benchplain'])
    await mesh(c, ['network', 'create', 'benchenc'])
    for (const [svc, net] of [['bplain', 'benchplain'], ['benc', 'benchenc']] as const) {
      await mesh(c, ['service', 'create', '--name', svc, '--update-monitor', '1s', '--mode', 'global', '--network', net, 'mesh/busybox:latest', 'sleep', '3600'])
    }
    const [p1, p2, e1, e2] = await Promise.all([container(n1, 'bplain', 'benchplain'), container(n2, 'bplain', 'benchplain'),
      container(n1, 'benc', 'benchenc'), container(n2, 'benc', 'benchenc')])
    await startBareTunnel([n1, n2], procs, PATH_BARE)
    const ns = (pid: string) => ['nsenter', '-t', pid, '-n']
    const specs: Record<PathName, PathSpec> = {
      vxlan: { clientNs: ns(p1.pid), serverNs: ns(p2.pid), target: p2.ip },
      underlay: { clientNs: [], serverNs: [], target: n2.ip },
      wg: { clientNs: ns(e1.pid), serverNs: ns(e2.pid), target: e2.ip },
      bare: { clientNs: [], serverNs: [], target: '10.254.0.2' },
    }
    for (const [name, p] of Object.entries(specs)) {
      await waitFor(async () => (await n1.exec([...p.clientNs, 'ping', '-c', '1', '-W', '1', p.target])).code === 0, 30_000, { intervalMs: 300, what: `${name}: ping ${p.target}` })
    }
    const route = await must(n1, ['ip', 'route', 'get', p2.ip], 'ip route get')
    if (!/dev mvx-/.test(route)) throw new Error(`the encrypted=false path is not the VXLAN device: ${route}`)
    for (let r = 0; r < args.rounds; r++) {
      for (let k = 0; k < PATHS.length; k++) {
        const name = PATHS[(r + k) % PATHS.length] as PathName
        const bps = await iperf(n1, n2, name, specs[name], args.seconds)
        samples[name].push(bps)
        log(`round ${r + 1} ${name}: ${(bps / 1e6).toFixed(0)} Mbit/s`)
      }
    }
  } finally {
    for (const p of procs.reverse()) await stop(p, 'SIGTERM', 10_000).catch(() => undefined)
    for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined)
  }
  const m = Object.fromEntries(PATHS.map((p) => [p, median(samples[p])])) as Record<PathName, number>
  const vx = m.vxlan / m.underlay
  const wg = m.wg / m.bare
  process.stdout.write([
    `load average before: ${load0}; after: ${load()} (${((Date.now() - started) / 1000).toFixed(0)} s, ${args.rounds} rounds × ${args.seconds} s)`,
    ...PATHS.map((p) => `${p.padEnd(9)} ${(m[p] / 1e6).toFixed(0).padStart(6)} Mbit/s  (${samples[p].map((x) => (x / 1e6).toFixed(0)).join(', ')})`),
    `vxlan / underlay: ${vx.toFixed(2)}x (goal ≥ ${GOAL_VXLAN}x: ${vx >= GOAL_VXLAN ? 'met' : 'NOT met'})`,
    `wg / bare wireguard-go: ${wg.toFixed(2)}x`,
    '',
  ].join('\n'))
}

await main().catch((err: unknown) => {
  log(err instanceof Error ? err.message : String(err))
  process.exitCode = 1
})
