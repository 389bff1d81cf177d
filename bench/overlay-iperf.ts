/**
 * Overlay throughput benchmark: iperf3 over three paths between the same two lab nodes (test/lab), interleaved in
 * every round so that the machine's load drifts over all of them alike:
 *  - overlay:  container on node1 → container on node2, both on the `mesh` network, through mesh0 (mesh's
 *              wireguard-go, MTU 1420), as `mesh agent --overlay on` set it up;
 *  - bare:     node1 → node2 host to host through `wgbare`, a second wireguard-go tunnel configured by hand with
 *              `wg` (the very executable mesh0's wireguard-go runs, as `mesh status` reports it; same MTU 1420,
 *              port 51821, 10.254.0.1/30 ↔ .2/30): the baseline mesh must match (≥ 0.95×);
 *  - bare12:   the same through `wgb12` with Debian 12's wireguard-go 0.0.20220316 (no GSO/GRO; port 51822,
 *              10.254.0.5/30 ↔ .6/30; test/setup.sh keeps it in /var/cache/mesh/wireguard-go-bookworm): the
 *              baseline issue 21 measures the overlay against (≥ 5×);
 *  - underlay: node1 → node2 host to host on 192.168.77.0/24 (veth + bridge), no tunnel at all.
 * The iperf3 processes are the host's binary in every case; for the overlay they enter the containers' network
 * namespaces (`nsenter -t PID -n`), so they run in the same node cgroups as the other two paths.
 * Also measured: CPU of each tunnel's wireguard-go processes (/proc/PID/stat utime+stime) and of both node cgroups
 * (cpuacct), per GB received.
 *
 * Usage (root): npx tsx bench/overlay-iperf.ts [--rounds N] [--seconds S] [--no-write] [--debian12-wg PATH]
 *   defaults 3 rounds × 5 s. Prints a markdown section and writes it into docs/benchmarks.md as
 *   `## Overlay throughput (iperf3)` (replacing that section only), unless --no-write.
 * Network: only the lab's namespaces. Every process started here is stopped by PID; the lab goes down in finally.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, release } from 'node:os'
import { join } from 'node:path'
import { createLab, LAB_IMAGE, isRoot, type Lab, type LabNode } from '../test/lab/index.ts'
import { MESH_BIN, REPO_ROOT, StopWaiting, stop, waitExit, waitFor, type Proc } from '../test/support/procs.ts'
import { BARE12_IF, BARE12_PORT, BARE_IF, BARE_PORT, DEBIAN12_WG, bareAddr, checkBinary, must, startBareTunnel, type BareTunnel } from './bare-tunnel.ts'

const SECTION = '## Overlay throughput (iperf3)'
const DOCS = join(REPO_ROOT, 'docs', 'benchmarks.md')
const GOAL = 0.95
/** Issue 21: the overlay with the GSO binary ≥ 5× a bare Debian 12 wireguard-go tunnel. */
const GOAL_DEB12 = 5
const MTU = 1420
const IPERF_PORT = 5201
const CLK_TCK = 100

type PathName = 'overlay' | 'bare' | 'bare12' | 'underlay'
const PATHS: readonly PathName[] = ['overlay', 'bare', 'bare12', 'underlay']

interface Args { rounds: number; seconds: number; write: boolean; debian12Wg: string }

/** One iperf3 direction: the client runs on node1, the server on node2, each under an optional ns prefix. */
interface PathSpec {
  name: PathName
  clientNs: string[]
  serverNs: string[]
  target: string
  /** The tunnel's wireguard-go PIDs on node1 (sender) and node2 (receiver); none for the underlay. */
  wgPids: [number, number] | null
}

interface Sample {
  path: PathName
  round: number
  bps: number
  bytes: number
  retransmits: number
  /** CPU ticks of wireguard-go on the sending / receiving node during the run. */
  wgTxTicks: number
  wgRxTicks: number
  /** CPU of both node cgroups (iperf3, wireguard-go, kernel work charged to them), seconds. */
  nodeCpuS: number
  /** UDP datagrams node2 dropped because a socket's receive buffer was full (Udp RcvbufErrors). */
  udpDrops: number
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { rounds: 3, seconds: 5, write: true, debian12Wg: DEBIAN12_WG }
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]
    const num = (lo: number, hi: number): number => {
      const v = Number(argv[++i])
      if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`bench: ${k} must be an integer in ${lo}..${hi}`)
      return v
    }
    if (k === '--rounds') a.rounds = num(1, 30)
    else if (k === '--seconds') a.seconds = num(1, 120)
    else if (k === '--no-write') a.write = false
    else if (k === '--debian12-wg' && argv[i + 1]) a.debian12Wg = argv[++i] as string
    else throw new Error(`bench: unknown argument ${k} (usage: [--rounds N] [--seconds S] [--no-write] [--debian12-wg PATH])`)
  }
  return a
}

const log = (msg: string): void => { process.stderr.write(`[overlay-iperf] ${msg}\n`) }

async function mustDocker(n: LabNode, args: string[], what: string): Promise<string> {
  const r = await n.docker(args)
  if (r.code !== 0) throw new Error(`${n.name}: docker ${what} failed: ${r.stderr.trim()}`)
  return r.stdout.trim()
}

/** utime + stime of a process (all its threads), clock ticks; 0 if it is gone. */
function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(f[11]) + Number(f[12])
  } catch {
    return 0
  }
}

/** The cpuacct.usage file of the cgroup a process sits in (its node's cgroup for everything started in a node). */
function cpuacctFile(pid: number): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /^\d+:([^:]*,)?cpuacct(,[^:]*)?:/.test(l))
  if (!line) throw new Error(`no cpuacct cgroup for pid ${pid}`)
  const dir = cpuacctRoot()
  return join(dir, line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1), 'cpuacct.usage')
}

function cpuacctRoot(): string {
  for (const d of ['/sys/fs/cgroup/cpuacct', '/sys/fs/cgroup/cpu,cpuacct']) if (existsSync(join(d, 'cpuacct.usage'))) return d
  throw new Error('cpuacct hierarchy not found under /sys/fs/cgroup')
}

/** Udp RcvbufErrors of the node's host network namespace (/proc/net/snmp read from inside it). */
async function udpRcvbufErrors(n: LabNode): Promise<number> {
  const lines = (await must(n, ['cat', '/proc/net/snmp'], 'read /proc/net/snmp')).split('\n').filter((l) => l.startsWith('Udp:'))
  const [head, vals] = lines.map((l) => l.trim().split(/\s+/)) as [string[], string[]]
  return Number(vals[head.indexOf('RcvbufErrors')])
}

const nsUsage = (files: string[]): number => files.reduce((s, f) => s + Number(readFileSync(f, 'utf8').trim()), 0)

const GOSSIP_KEY = randomBytes(32).toString('base64')

function startAgent(lab: Lab, n: LabNode): Proc {
  const join0 = n.index === 1 ? [] : ['--join', (lab.nodes[0] as LabNode).ip]
  // Gossip is encrypted by default: these gossip-only agents share a key (by environment, not argv).
  return n.spawn(['env', `MESH_GOSSIP_KEY=${GOSSIP_KEY}`, 'node', MESH_BIN, 'agent', '--bind', n.ip, '--name', n.name, '--data-dir', join(n.dir, 'mesh'),
    '--overlay', 'on', ...join0], { name: `agent-${n.name}` })
}

interface Status { overlay: { held: boolean; peers: unknown[]; mtu: number; kind: string | null; wireguard?: { binary: string | null; version: string | null } | null } }

async function status(n: LabNode): Promise<Status> {
  return JSON.parse(await must(n, ['node', MESH_BIN, 'status', '--json', '--data-dir', join(n.dir, 'mesh')], 'mesh status', 15_000)) as Status
}

async function iperf(n1: LabNode, n2: LabNode, p: PathSpec, seconds: number, round: number, cgFiles: string[]): Promise<Sample> {
  const server = n2.spawn([...p.serverNs, 'iperf3', '-s', '-1', '-p', String(IPERF_PORT), '--forceflush'], { name: `iperf3-s-${p.name}` })
  try {
    await waitFor(() => {
      if (!server.running()) throw new StopWaiting(`iperf3 server for ${p.name} exited: ${server.tail(3)}`)
      return server.stdout().includes('Server listening')
    }, 10_000, { intervalMs: 50, what: `iperf3 server for ${p.name}` })
    const udp0 = await udpRcvbufErrors(n2)
    const wg0 = p.wgPids ? p.wgPids.map(cpuTicks) : [0, 0]
    const cg0 = nsUsage(cgFiles)
    const r = await n1.exec([...p.clientNs, 'iperf3', '-c', p.target, '-p', String(IPERF_PORT), '-t', String(seconds), '-J'],
      { timeoutMs: (seconds + 30) * 1000 })
    const cg1 = nsUsage(cgFiles)
    const wg1 = p.wgPids ? p.wgPids.map(cpuTicks) : [0, 0]
    const udp1 = await udpRcvbufErrors(n2)
    const j = JSON.parse(r.stdout || '{}') as { error?: string; end?: { sum_received?: { bits_per_second: number; bytes: number }; sum_sent?: { retransmits?: number } } }
    if (r.code !== 0 || j.error || !j.end?.sum_received) throw new Error(`iperf3 ${p.name}: ${j.error ?? (r.stderr.trim() || `exit ${r.code}`)}`)
    return {
      path: p.name, round, bps: j.end.sum_received.bits_per_second, bytes: j.end.sum_received.bytes,
      retransmits: j.end.sum_sent?.retransmits ?? 0,
      wgTxTicks: (wg1[0] as number) - (wg0[0] as number), wgRxTicks: (wg1[1] as number) - (wg0[1] as number),
      nodeCpuS: (cg1 - cg0) / 1e9, udpDrops: udp1 - udp0,
    }
  } finally {
    if (!(await waitExit(server, 5_000))) await stop(server, 'SIGTERM', 3_000)
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}
const mbit = (bps: number): string => (bps / 1e6).toFixed(0)
const f2 = (x: number): string => x.toFixed(2)

interface Env {
  date: string; kernel: string; cores: number; load0: string; load1: string; iperf: string; rounds: number; seconds: number; labUpMs: number
  /** mesh's wireguard-go (`binary vVERSION`) and Debian 12's. */
  wgGo: string; wgGo12: string
}

function report(samples: Sample[], e: Env): string {
  const by = (path: PathName): Sample[] => samples.filter((s) => s.path === path)
  const rounds = [...new Set(samples.map((s) => s.round))].sort((a, b) => a - b)
  const get = (path: PathName, r: number): Sample => samples.find((s) => s.path === path && s.round === r) as Sample
  const med = Object.fromEntries(PATHS.map((p) => [p, median(by(p).map((s) => s.bps))])) as Record<PathName, number>
  const ratioBare = med.overlay / med.bare
  const ratioBare12 = med.overlay / med.bare12
  const ratioUnder = med.overlay / med.underlay
  const perRound = (a: PathName, b: PathName): number[] => rounds.map((r) => get(a, r).bps / get(b, r).bps)
  const perRoundBare = perRound('overlay', 'bare')
  const perRoundBare12 = perRound('overlay', 'bare12')
  const met = ratioBare >= GOAL
  const met12 = ratioBare12 >= GOAL_DEB12
  const L: string[] = [SECTION, '', ...HOW_TO, '']
  L.push(`Measured ${e.date} by \`npm run bench:overlay -- --rounds ${e.rounds} --seconds ${e.seconds}\` (\`bench/overlay-iperf.ts\`, as root).`)
  L.push(`Machine: ${e.cores} cores, kernel ${e.kernel}, no kernel WireGuard module, so every tunnel is **wireguard-go**`)
  L.push(`(userspace) with MTU ${MTU}: mesh0 and wgbare run mesh's (${e.wgGo}), wgb12 Debian 12's (${e.wgGo12});`)
  L.push(`iperf3 ${e.iperf}, one TCP stream, ${e.seconds} s per run. Two-node lab`)
  L.push(`(\`test/lab\`, up in ${(e.labUpMs / 1000).toFixed(1)} s). The machine is shared with other sessions: load average ${e.load0} at the`)
  L.push(`start, ${e.load1} at the end, so absolute numbers swing a lot; the four paths are interleaved in every round`)
  L.push('(A B C D, B C D A, …) and the ratios are what to compare.')
  L.push('', '| path | what | ' + rounds.map((r) => `round ${r + 1}`).join(' | ') + ' | median |')
  L.push('|---|---|' + rounds.map(() => '---:|').join('') + '---:|')
  const what: Record<PathName, string> = {
    overlay: 'container node1 → container node2 over mesh0',
    bare: `node1 → node2 host to host over ${BARE_IF} (hand-made, mesh's wireguard-go)`,
    bare12: `node1 → node2 host to host over ${BARE12_IF} (hand-made, Debian 12's wireguard-go)`,
    underlay: 'node1 → node2 host to host, 192.168.77.11 → .12',
  }
  for (const p of PATHS) L.push(`| ${p} | ${what[p]} | ` + rounds.map((r) => mbit(get(p, r).bps)).join(' | ') + ` | **${mbit(med[p])}** |`)
  L.push('| overlay / bare | | ' + perRoundBare.map(f2).join(' | ') + ` | **${f2(ratioBare)}** |`)
  L.push('| overlay / bare12 | | ' + perRoundBare12.map(f2).join(' | ') + ` | **${f2(ratioBare12)}** |`)
  L.push('| bare / bare12 | | ' + perRound('bare', 'bare12').map(f2).join(' | ') + ` | **${f2(med.bare / med.bare12)}** |`)
  L.push('| overlay / underlay | | ' + rounds.map((r) => f2(get('overlay', r).bps / get('underlay', r).bps)).join(' | ') + ` | **${f2(ratioUnder)}** |`)
  L.push('', 'Throughput in Mbit/s (iperf3 `end.sum_received.bits_per_second`); the median ratios are computed from the medians.', '')
  L.push('CPU per GB received (sums over all rounds; 1 GB = 10⁹ bytes). wireguard-go: utime+stime of the tunnel\'s process on the')
  L.push('sending and the receiving node. Node cgroups: cpuacct of both nodes (iperf3, wireguard-go, containers, and the kernel')
  L.push('work done in their context; softirq work that ksoftirqd picks up is not in it).', '')
  L.push('| path | GB moved | wireguard-go sender CPU-s/GB | wireguard-go receiver CPU-s/GB | node cgroups CPU-s/GB | TCP retransmits | UDP rcvbuf drops on node2 |')
  L.push('|---|---:|---:|---:|---:|---:|---:|')
  for (const p of PATHS) {
    const s = by(p)
    const gb = s.reduce((a, x) => a + x.bytes, 0) / 1e9
    const tx = s.reduce((a, x) => a + x.wgTxTicks, 0) / CLK_TCK / gb
    const rx = s.reduce((a, x) => a + x.wgRxTicks, 0) / CLK_TCK / gb
    const node = s.reduce((a, x) => a + x.nodeCpuS, 0) / gb
    const wg = p === 'underlay' ? ['–', '–'] : [f2(tx), f2(rx)]
    const sum = (k: 'retransmits' | 'udpDrops'): number => s.reduce((a, x) => a + x[k], 0)
    L.push(`| ${p} | ${f2(gb)} | ${wg[0]} | ${wg[1]} | ${f2(node)} | ${sum('retransmits')} | ${sum('udpDrops')} |`)
  }
  L.push('', `**Goal: overlay ≥ ${GOAL}× the bare tunnel of mesh's binary — ${met ? 'met' : 'not met'}** (median ratio ${f2(ratioBare)}; per round ` +
    `${perRoundBare.map(f2).join(', ')}).`, '')
  L.push(`**Goal: overlay ≥ ${GOAL_DEB12}× a bare Debian 12 wireguard-go tunnel — ${met12 ? 'met' : 'not met'}** (median ratio ${f2(ratioBare12)}; ` +
    `per round ${perRoundBare12.map(f2).join(', ')}).`, '')
  L.push(...PACKET_PATH_NOTE)
  return L.join('\n') + '\n'
}

/** Static text: how to run it (kept at the top of the section every run rewrites). */
const HOW_TO = [
  'How to run: as root, alone on the machine (no test suite or other lab beside it), after `test/setup.sh` (it installs',
  'Debian 13\'s wireguard-go, pinned, and keeps Debian 12\'s in `/var/cache/mesh/wireguard-go-bookworm/`) and',
  '`npm run build`: `npm run bench:overlay -- --rounds 5 --seconds 5` (3–4 min; `--no-write` prints without',
  'touching this file, `--debian12-wg PATH` names another baseline binary). Goals (issue 21): overlay ≥ 0.95× the bare',
  'tunnel of the binary mesh runs, and ≥ 5× a bare Debian 12 wireguard-go tunnel, both measured in the same run.',
]

/**
 * Static text: the packet paths, and what the one-off experiments found (2026-12-01, a lab held open with this
 * script's setup; perf, route swaps and notrack are not part of a normal run, so this part is not regenerated).
 */
const PACKET_PATH_NOTE = [
  '*The notes below were taken on 2026-12-01, when mesh ran Debian 12\'s wireguard-go (0.0.20220316); with the GSO/GRO',
  'binary (issue 21) the per-packet costs they describe are paid per batch of up to 64 KB instead.*',
  '',
  '**Packet path.** Overlay: container eth0 → veth → `mesh-br` (bridge, br_netfilter on) → routing + netfilter forward',
  '(Docker\'s iptables-nft chains, mesh\'s `inet mesh` table, conntrack) → `mesh0` (tun) → wireguard-go (encrypt) → UDP',
  '51820 on the underlay → wireguard-go (decrypt) → `mesh0` → routing + netfilter forward → `mesh-br` → veth → container.',
  'Bare: host TCP → `wgbare` (tun) → wireguard-go → UDP 51821 on the underlay → wireguard-go → `wgbare` → host TCP. Same',
  'binary, same MTU 1420 and MSS 1368 (iperf3 reports it for both), same nodes and cgroups; the overlay adds a forwarding',
  'step and a veth + bridge hop on each side.',
  '',
  '**Why the overlay is below the bare tunnel** (experiments of 2026-12-01 on a lab held open with this setup):',
  '',
  '- Both tunnels are limited by the *receiving* wireguard-go: node2\'s UDP socket overflows (212,992-byte default',
  '  receive buffer; this wireguard-go does not raise it) and TCP retransmits about as many segments as were dropped',
  '  there (last two columns). That is common to both tunnels, so whatever costs the receiving wireguard-go extra CPU',
  '  per packet costs throughput almost one to one.',
  '- It is the container path, not mesh\'s tunnel: routing container → container through `wgbare` instead of `mesh0`',
  '  (allowed-ips and a DOCKER-USER accept added for it) gave the same as mesh0 (medians 200 and 208 Mbit/s, bare 218 in',
  '  the same 4 interleaved rounds). Keys, allowed-ips, persistent keepalive and MTU of mesh0 make no difference.',
  '- `perf record -g` on the receiving wireguard-go: its `write()` of decrypted packets into the tun takes 22–23 % of its',
  '  CPU on the overlay against 11–13 % on the bare tunnel (two runs each). On the overlay that syscall carries the whole',
  '  forwarding path synchronously (the backlog softirq runs at bh-enable in its context): `ip_rcv` → netfilter',
  '  (`nf_hook_slow` 8–9 % vs 3 %, conntrack 2 % vs 1 %) → `ip_forward` → `mesh-br` → veth → the container\'s TCP receive;',
  '  on the bare tunnel it is only local TCP delivery. In the three full runs of this script the receiving wireguard-go',
  '  used 15–21 % more CPU per GB on the overlay, the sending one 0–17 % more (it writes only the returning ACKs into the',
  '  tun; the container\'s 64 KB GSO packets cross veth, bridge and forward once, in iperf3\'s context, and are cut to',
  '  1368-byte segments only at `mesh0`).',
  '- Conntrack is a small part: a `notrack` rule for 10.77.0.0/16 ↔ 10.77.0.0/16 lowered wireguard-go CPU per GB by about',
  '  2 % (44.4 vs 45.4 CPU-s/GB, both ends; bare 39–41). The rest is per-packet forwarding, bridge, veth and the',
  '  br_netfilter hooks, paid once per 1368-byte packet because this wireguard-go (0.0.20220316, tun `vnet_hdr off`)',
  '  reads and writes the tun one packet at a time with no GSO/GRO.',
  '- The VM adds noise: the 2 cores are shared with other sessions (load average 5–12 during these runs) and interrupt',
  '  enabling is expensive on this paravirtualized guest (`pvm_irq_enable` is ~40 % of wireguard-go\'s samples on both',
  '  tunnels), so single runs swing by ±20 %; compare per-round ratios and CPU per GB, not absolute Mbit/s.',
  '',
  'What would close the gap (product changes, not made here): a wireguard-go that uses the tun\'s virtio-net header with',
  'TCP GSO/GRO (newer releases do), so forwarding is paid per batch rather than per packet, or kernel WireGuard where it',
  'exists; a notrack rule for overlay ↔ overlay traffic gains about 2 %. A larger UDP receive buffer for wireguard-go',
  'would cut the drops of both tunnels alike.',
]

function writeDocs(section: string): void {
  const old = existsSync(DOCS) ? readFileSync(DOCS, 'utf8') : '# Benchmarks\n'
  const lines = old.split('\n')
  const start = lines.findIndex((l) => l.trim() === SECTION)
  let out: string
  if (start < 0) out = `${old.replace(/\n*$/, '\n')}\n${section}`
  else {
    let end = lines.findIndex((l, i) => i > start && /^## /.test(l))
    if (end < 0) end = lines.length
    const after = lines.slice(end).join('\n')
    out = `${lines.slice(0, start).join('\n').replace(/\n*$/, '\n')}\n${section}${after ? `\n${after}` : ''}`
  }
  writeFileSync(DOCS, out.replace(/\n*$/, '\n'))
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  if (!isRoot()) throw new Error('bench: needs root (the lab builds namespaces)')
  const deb12 = checkBinary(args.debian12Wg, "Debian 12's wireguard-go")
  const load0 = loadavg().map((x) => x.toFixed(1)).join(' ')
  const lab = await createLab({ nodes: 2 })
  const procs: Proc[] = []
  const containers: [LabNode, string][] = []
  const samples: Sample[] = []
  let env: Env | null = null
  try {
    const [n1, n2] = lab.nodes as [LabNode, LabNode]
    log(`lab ${lab.prefix} up in ${lab.upMs} ms`)
    for (const n of lab.nodes) {
      procs.push(startAgent(lab, n))
      await waitFor(async () => (await status(n)).overlay.held, 45_000, { intervalMs: 300, what: `${n.name} holds a subnet` })
    }
    const st = await waitFor(async () => { const s = await status(n1); return s.overlay.held && s.overlay.peers.length === 1 ? s : null },
      45_000, { intervalMs: 300, what: 'node1 has one WireGuard peer' })
    if (st.overlay.mtu !== MTU || st.overlay.kind !== 'userspace') throw new Error(`overlay is ${st.overlay.kind} MTU ${st.overlay.mtu}; want userspace ${MTU}`)
    // The bare tunnel runs the executable mesh0's wireguard-go runs (as the agent reports it), not a guess from PATH.
    const meshBin = st.overlay.wireguard?.binary ?? 'wireguard-go'
    const bare: BareTunnel = { ifname: BARE_IF, port: BARE_PORT, base: 0, binary: meshBin }
    const bare12: BareTunnel = { ifname: BARE12_IF, port: BARE12_PORT, base: 4, binary: deb12 }
    const meshWg = lab.nodes.map((n) => Number(readFileSync(join(n.dir, 'mesh', 'wireguard-go.pid'), 'utf8').trim())) as [number, number]

    const ctr = await Promise.all(lab.nodes.map(async (n) => {
      const id = await mustDocker(n, ['run', '-d', '--network', 'mesh', LAB_IMAGE, 'sleep', '3600'], 'run')
      containers.push([n, id])
      const pid = await mustDocker(n, ['inspect', '-f', '{{.State.Pid}}', id], 'inspect pid')
      const ip = await mustDocker(n, ['inspect', '-f', '{{.NetworkSettings.Networks.mesh.IPAddress}}', id], 'inspect ip')
      return { pid, ip }
    }))
    const [c1, c2] = ctr as [{ pid: string; ip: string }, { pid: string; ip: string }]
    const bareWg = await startBareTunnel([n1, n2], procs, bare, MTU)
    const bare12Wg = await startBareTunnel([n1, n2], procs, bare12, MTU)
    log(`containers ${c1.ip} → ${c2.ip}; wireguard-go pids mesh0 ${meshWg.join(',')} ${BARE_IF} ${bareWg.join(',')} (${meshBin}) ` +
      `${BARE12_IF} ${bare12Wg.join(',')} (${bare12.binary})`)
    // Handshakes before measuring.
    await waitFor(async () => (await n1.exec(['nsenter', '-t', c1.pid, '-n', 'ping', '-c', '1', '-W', '2', c2.ip])).code === 0,
      20_000, { intervalMs: 200, what: 'overlay ping container → container' })
    for (const b of [bare, bare12]) {
      await waitFor(async () => (await n1.exec(['ping', '-c', '1', '-W', '2', bareAddr(b, 1)])).code === 0,
        20_000, { intervalMs: 200, what: `${b.ifname} ping ${bareAddr(b, 0)} → ${bareAddr(b, 1)}` })
    }

    const specs: Record<PathName, PathSpec> = {
      overlay: { name: 'overlay', clientNs: ['nsenter', '-t', c1.pid, '-n'], serverNs: ['nsenter', '-t', c2.pid, '-n'], target: c2.ip, wgPids: meshWg },
      bare: { name: 'bare', clientNs: [], serverNs: [], target: bareAddr(bare, 1), wgPids: bareWg },
      bare12: { name: 'bare12', clientNs: [], serverNs: [], target: bareAddr(bare12, 1), wgPids: bare12Wg },
      underlay: { name: 'underlay', clientNs: [], serverNs: [], target: n2.ip, wgPids: null },
    }
    const cgFiles = [...new Set(meshWg.map(cpuacctFile))]
    for (let r = 0; r < args.rounds; r++) {
      for (let k = 0; k < PATHS.length; k++) {
        const p = PATHS[(r + k) % PATHS.length] as PathName
        const s = await iperf(n1, n2, specs[p], args.seconds, r, cgFiles)
        samples.push(s)
        log(`round ${r + 1} ${p}: ${mbit(s.bps)} Mbit/s, retransmits ${s.retransmits}, wg cpu ${s.wgTxTicks}+${s.wgRxTicks} ticks`)
      }
    }
    const ver = async (cmd: string[], re: RegExp): Promise<string> => re.exec((await n1.exec(cmd)).stdout)?.[1] ?? '?'
    env = {
      date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), kernel: release(), cores: cpus().length, load0,
      load1: loadavg().map((x) => x.toFixed(1)).join(' '), rounds: args.rounds, seconds: args.seconds, labUpMs: lab.upMs,
      wgGo: `${meshBin} ${await ver([meshBin, '--version'], /(v[\d.]+)/)}`,
      wgGo12: `${bare12.binary} ${await ver([bare12.binary, '--version'], /(v[\d.]+)/)}`,
      iperf: await ver(['iperf3', '--version'], /iperf (\S+)/),
    }
  } finally {
    for (const [n, id] of containers) await n.docker(['rm', '-f', id]).catch(() => undefined)
    for (const p of procs.slice().reverse()) await stop(p, 'SIGTERM', 15_000).catch(() => undefined)
    await lab.down()
  }
  if (!env) throw new Error('bench: no results')
  const section = report(samples, env)
  process.stdout.write(section)
  if (args.write) {
    writeDocs(section)
    log(`wrote ${SECTION} into ${DOCS}`)
  }
}

await main().catch((err: unknown) => {
  log(err instanceof Error ? err.message : String(err))
  process.exitCode = 1
})
