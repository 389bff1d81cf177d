/**
 * DNS benchmark: dnsperf against our DnsServer (on both UDP paths: `mesh` = node:dgram, `batched` = the
 * recvmmsg/sendmmsg addon, dist/native/udpmmsg.node from `npm run build`) and against dnsmasq serving the same names,
 * in one run.
 *
 *   npx tsx bench/dns-perf.ts [--rounds 5] [--seconds 5] [--clients 4] [--outstanding 100] [--rate 3000] [--services 50]
 *
 * Two more servers give context: a naive dns-packet responder (decode + encode per query; the issue's ~0.65×) and
 * a "floor" that echoes every question with one fixed record (no lookup: what Node's dgram itself costs).
 * All servers are pinned to CPU 1 and dnsperf to CPU 0 (taskset), listen on 127.0.0.x, and get the same query file
 * (service A, service.domain A, tasks.service A; a fifth of the services dnsrr). Each round runs both servers in
 * turn (order alternates per round) in two modes: saturation (fixed clients and outstanding queries: qps, and p99
 * under that load) and fixed rate (`--rate` qps: p99 where both keep up). Latencies come from `dnsperf -v` (one line
 * per query). Server CPU = utime + stime of its process (all threads) from /proc during the run.
 * Prints a table and a JSON summary; processes are stopped by PID, the temp dir removed.
 *
 * `--workers N` (N ≥ 2) runs another comparison: batched with one responder (`batched`), batched with N responders
 * (`workers`: N−1 worker threads, one SO_REUSEPORT socket each) and dnsmasq, in the same rounds. All are pinned to
 * CPU 1 like the others, so the figure is CPU per query with N threads against one (the threads' overhead), not a
 * throughput gain: with dnsperf on the other core this 2-core machine has no spare core for one. The queries each
 * thread answered (the server's status().workers, read after the rounds) show the spread; use `--clients 16` or
 * more, since the kernel spreads by client socket.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import type { SocketOptions } from 'node:dgram'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, createReadStream } from 'node:fs'
import { tmpdir, cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import dnsPacket from 'dns-packet'
import type { CatalogService, CatalogSnapshot, CatalogView } from '../src/api/catalog.ts'
import { DnsServer } from '../src/dns/index.ts'

const OURS = { host: '127.0.0.81', port: 15381 }
const BATCHED = { host: '127.0.0.85', port: 15385 }
const DNSMASQ = { host: '127.0.0.82', port: 15382 }
const NAIVE = { host: '127.0.0.83', port: 15383 }
const FLOOR = { host: '127.0.0.84', port: 15384 }
const WORKERS = { host: '127.0.0.86', port: 15386 }

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : def
}

/** services: svcN; every fifth dnsrr; three tasks each. */
function snapshot(n: number): CatalogSnapshot {
  const services: CatalogService[] = []
  for (let i = 0; i < n; i++) {
    const name = `svc${i}`
    const dnsrr = i % 5 === 0
    services.push({
      id: `s${i}`, name, shortName: name, endpointMode: dnsrr ? 'dnsrr' : 'vip', vip: dnsrr ? undefined : `10.78.0.${10 + i}`,
      ports: [], stopGracePeriodMs: 10_000,
      endpoints: [1, 2, 3].map((slot) => ({
        taskId: `t${i}.${slot}`, slot, taskName: `${name}.${slot}`, nodeId: `n${slot}`, node: `node${slot}`,
        ip: `10.77.${slot}.${10 + i}`, state: 'running' as const, health: 'none' as const,
      })),
    })
  }
  return { revision: 1, services, nodes: [] }
}

function hostsFile(snap: CatalogSnapshot): string {
  const lines: string[] = []
  for (const s of snap.services) {
    if (s.vip) lines.push(`${s.vip} ${s.name} ${s.name}.mesh`)
    for (const e of s.endpoints) lines.push(s.vip ? `${e.ip} tasks.${s.name}` : `${e.ip} ${s.name} ${s.name}.mesh tasks.${s.name}`)
  }
  return lines.join('\n') + '\n'
}

function queryFile(snap: CatalogSnapshot): string {
  return snap.services.flatMap((s) => [`${s.name} A`, `${s.name}.mesh A`, `tasks.${s.name} A`]).join('\n') + '\n'
}

/**
 * --serve-naive: the responder the issue measured at ~0.65× dnsmasq: dns-packet decode + encode per query over a
 * name → addresses map (same names and answers, no rotation, no EDNS, no forwarding).
 */
async function serveNaive(catalogPath: string): Promise<void> {
  const snap = JSON.parse(readFileSync(catalogPath, 'utf8')) as CatalogSnapshot
  const table = new Map<string, string[]>()
  for (const s of snap.services) {
    const tasks = s.endpoints.map((e) => e.ip)
    const addrs = s.vip ? [s.vip] : tasks
    table.set(s.name, addrs)
    table.set(`${s.name}.mesh`, addrs)
    table.set(`tasks.${s.name}`, tasks)
  }
  const dgram = await import('node:dgram')
  const sock = dgram.createSocket('udp4')
  sock.on('message', (msg, rinfo) => {
    let p: dnsPacket.DecodedPacket
    try { p = dnsPacket.decode(msg) } catch { return }
    const question = p.questions?.[0]
    if (!question) return
    const addrs = question.type === 'A' ? table.get(question.name.toLowerCase()) : undefined
    const answers = (addrs ?? []).map((ip) => ({ type: 'A' as const, name: question.name, ttl: 5, data: ip }))
    sock.send(dnsPacket.encode({ type: 'response', id: p.id, flags: dnsPacket.AUTHORITATIVE_ANSWER | (addrs ? 0 : 3), questions: [question], answers }), rinfo.port, rinfo.address)
  })
  await new Promise<void>((r) => sock.bind(NAIVE.port, NAIVE.host, () => r()))
  process.on('SIGTERM', () => process.exit(0))
}

/**
 * --serve-floor: the cheapest possible Node responder: echo the question with one fixed A record, no lookup at all.
 * What Node's dgram costs per packet on this machine; no DNS server in Node can beat it.
 */
async function serveFloor(): Promise<void> {
  const dgram = await import('node:dgram')
  const rr = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 78, 0, 10])
  const sock = dgram.createSocket({ type: 'udp4', lookup: (a: string, _o: unknown, cb: (e: null, a: string, f: number) => void) => cb(null, a, 4) } as SocketOptions)
  sock.on('message', (msg, rinfo) => {
    const out = Buffer.allocUnsafe(msg.length + rr.length)
    msg.copy(out)
    out[2] = 0x84 | ((msg[2] as number) & 1); out[3] = 0x80; out[7] = 1
    rr.copy(out, msg.length)
    sock.send(out, rinfo.port, rinfo.address)
  })
  await new Promise<void>((r) => sock.bind(FLOOR.port, FLOOR.host, () => r()))
  process.on('SIGTERM', () => process.exit(0))
}

/** --serve: run our server in this process on a static catalog until SIGTERM. */
async function serve(catalogPath: string, udp: 'dgram' | 'batched', workers: number): Promise<void> {
  const snap = JSON.parse(readFileSync(catalogPath, 'utf8')) as CatalogSnapshot
  const catalog: CatalogView = { current: () => snap, onChange: () => () => {} }
  const s = new DnsServer({ catalog, listen: [workers > 1 ? WORKERS : udp === 'batched' ? BATCHED : OURS], upstreams: [], udp, workers })
  await s.start()
  process.on('SIGTERM', () => { void s.stop().then(() => process.exit(0)) })
  // The queries each responder thread answered, one JSON line (workers' counters are posted every 200 ms).
  process.on('SIGUSR2', () => { process.stdout.write(JSON.stringify({ workers: s.status().workers ?? [] }) + '\n') })
  process.stdout.write('ready\n')
}

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ')
  return Number(rest[11]) + Number(rest[12]) // utime, stime (fields 14, 15)
}

async function waitAnswer(addr: { host: string; port: number }): Promise<void> {
  const dgram = await import('node:dgram')
  for (let i = 0; i < 50; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = dgram.createSocket('udp4')
      const timer = setTimeout(() => { s.close(); resolve(false) }, 200)
      s.on('message', () => { clearTimeout(timer); s.close(); resolve(true) })
      s.send(dnsPacket.encode({ type: 'query', id: 1, questions: [{ name: 'svc1', type: 'A' }] }), addr.port, addr.host)
    })
    if (ok) return
  }
  throw new Error(`no answer from ${addr.host}:${addr.port}`)
}

interface RunResult { qps: number; p50ms: number; p99ms: number; lost: number; cpuUsPerQuery: number; cpuCores: number; rcodes: string }

async function dnsperf(addr: { host: string; port: number }, pid: number, dir: string, opts: { seconds: number; clients: number; outstanding: number; rate?: number }): Promise<RunResult> {
  const out = join(dir, 'dnsperf.out')
  const args = ['-c', '0', 'dnsperf', '-s', addr.host, '-p', String(addr.port), '-d', join(dir, 'queries.txt'), '-c', String(opts.clients),
    '-q', String(opts.outstanding), '-l', String(opts.seconds), '-t', '2', '-v', ...(opts.rate ? ['-Q', String(opts.rate)] : [])]
  const c0 = cpuTicks(pid)
  const t0 = performance.now()
  await new Promise<void>((resolve, reject) => {
    const p = spawn('taskset', args, { stdio: ['ignore', 'pipe', 'inherit'] })
    const chunks: Buffer[] = []
    p.stdout.on('data', (d: Buffer) => chunks.push(d))
    p.on('error', reject)
    p.on('exit', () => { writeFileSync(out, Buffer.concat(chunks)); resolve() })
  })
  const wall = (performance.now() - t0) / 1000
  const ticks = cpuTicks(pid) - c0
  const lats: number[] = []
  let qps = 0, lost = 0, rcodes = '', completed = 0
  for await (const line of createInterface({ input: createReadStream(out) })) {
    if (line.startsWith('> ')) {
      const parts = line.split(' ')
      const lat = Number(parts[parts.length - 1])
      if (Number.isFinite(lat)) lats.push(lat) // timeouts have no latency; dnsperf counts them as lost
    } else if (line.includes('Queries per second:')) qps = Number(line.split(':')[1])
    else if (line.includes('Queries lost:')) lost = Number(line.split(':')[1]?.trim().split(' ')[0])
    else if (line.includes('Queries completed:')) completed = Number(line.split(':')[1]?.trim().split(' ')[0])
    else if (line.includes('Response codes:')) rcodes = line.split(':')[1]?.trim() ?? ''
  }
  const sorted = Float64Array.from(lats).sort()
  const pct = (p: number) => (sorted.length ? (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number) * 1000 : NaN)
  const cpuS = ticks / 100
  return { qps, p50ms: pct(0.5), p99ms: pct(0.99), lost, cpuUsPerQuery: completed ? (cpuS / completed) * 1e6 : NaN, cpuCores: cpuS / wall, rcodes }
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}

async function main(): Promise<void> {
  const rounds = arg('rounds', 5), seconds = arg('seconds', 5), clients = arg('clients', 4), outstanding = arg('outstanding', 100)
  const rate = arg('rate', 3000), services = arg('services', 50), workers = arg('workers', 1)
  const dir = mkdtempSync(join(tmpdir(), 'mesh-dns-perf-'))
  const snap = snapshot(services)
  writeFileSync(join(dir, 'catalog.json'), JSON.stringify(snap))
  writeFileSync(join(dir, 'hosts'), hostsFile(snap))
  writeFileSync(join(dir, 'queries.txt'), queryFile(snap))
  const procs: ChildProcess[] = []
  const cleanup = () => {
    for (const p of procs) if (p.pid && p.exitCode === null) { try { process.kill(p.pid, 'SIGTERM') } catch { /* gone */ } }
    rmSync(dir, { recursive: true, force: true })
  }
  process.on('SIGINT', () => { cleanup(); process.exit(130) })
  try {
    const self = fileURLToPath(import.meta.url)
    const spawnServe = (kind: string, n: number) => spawn('taskset', ['-c', '1', process.execPath, ...process.execArgv, self, '--serve', join(dir, 'catalog.json'), kind, String(n)], { stdio: ['ignore', 'pipe', 'inherit'] })
    if (workers > 1) { await compareWorkers(dir, snap, workers, procs, spawnServe, { rounds, seconds, clients, outstanding, rate }); return }
    const ours = spawn('taskset', ['-c', '1', process.execPath, ...process.execArgv, self, '--serve', join(dir, 'catalog.json'), 'dgram'], { stdio: ['ignore', 'pipe', 'inherit'] })
    procs.push(ours)
    const batched = spawn('taskset', ['-c', '1', process.execPath, ...process.execArgv, self, '--serve', join(dir, 'catalog.json'), 'batched'], { stdio: ['ignore', 'pipe', 'inherit'] })
    procs.push(batched)
    const naive = spawn('taskset', ['-c', '1', process.execPath, ...process.execArgv, self, '--serve-naive', join(dir, 'catalog.json')], { stdio: ['ignore', 'ignore', 'inherit'] })
    procs.push(naive)
    const floor = spawn('taskset', ['-c', '1', process.execPath, ...process.execArgv, self, '--serve-floor'], { stdio: ['ignore', 'ignore', 'inherit'] })
    procs.push(floor)
    const dnsmasq = spawn('taskset', ['-c', '1', '/usr/sbin/dnsmasq', '--conf-file=/dev/null', '--no-daemon', '--no-resolv', '--no-hosts',
      `--addn-hosts=${join(dir, 'hosts')}`, `--listen-address=${DNSMASQ.host}`, `--port=${DNSMASQ.port}`, '--bind-interfaces',
      '--local-ttl=5', '--log-facility=/dev/null', '--pid-file=', '-u', 'root'], { stdio: ['ignore', 'ignore', 'ignore'] })
    procs.push(dnsmasq)
    await Promise.all([waitAnswer(OURS), waitAnswer(BATCHED), waitAnswer(DNSMASQ), waitAnswer(NAIVE), waitAnswer(FLOOR)])
    const servers = [
      { name: 'mesh', addr: OURS, pid: ours.pid as number },
      { name: 'batched', addr: BATCHED, pid: batched.pid as number },
      { name: 'dnsmasq', addr: DNSMASQ, pid: dnsmasq.pid as number },
      { name: 'naive', addr: NAIVE, pid: naive.pid as number },
      { name: 'floor', addr: FLOOR, pid: floor.pid as number },
    ]
    console.log(`# dns-perf: ${services} services, ${snap.services.length * 3} names, rounds ${rounds} × ${seconds} s, clients ${clients}, outstanding ${outstanding}, fixed rate ${rate} qps; cpus ${cpus().length}; load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)
    const results: Record<string, { sat: RunResult[]; fixed: RunResult[] }> = { mesh: { sat: [], fixed: [] }, batched: { sat: [], fixed: [] }, dnsmasq: { sat: [], fixed: [] }, naive: { sat: [], fixed: [] }, floor: { sat: [], fixed: [] } }
    for (let r = 0; r < rounds; r++) {
      // Rotate the order every round (A B C D, B C D A, …) so drift in machine load hits every server alike.
      const order = servers.map((_, i) => servers[(i + r) % servers.length] as (typeof servers)[number])
      for (const s of order) {
        const sat = await dnsperf(s.addr, s.pid, dir, { seconds, clients, outstanding })
        const fixed = await dnsperf(s.addr, s.pid, dir, { seconds, clients, outstanding, rate })
        results[s.name]!.sat.push(sat)
        results[s.name]!.fixed.push(fixed)
        console.log(`round ${r + 1} ${s.name.padEnd(7)} saturation: ${sat.qps.toFixed(0)} qps, p50 ${sat.p50ms.toFixed(3)} ms, p99 ${sat.p99ms.toFixed(3)} ms, lost ${sat.lost}, ` +
          `cpu ${sat.cpuCores.toFixed(2)} cores = ${sat.cpuUsPerQuery.toFixed(1)} µs/query | at ${rate} qps: p50 ${fixed.p50ms.toFixed(3)} ms, p99 ${fixed.p99ms.toFixed(3)} ms, ` +
          `${fixed.cpuUsPerQuery.toFixed(1)} µs/query | ${sat.rcodes}`)
      }
    }
    const m = (name: string, mode: 'sat' | 'fixed', k: keyof RunResult) => median(results[name]![mode].map((x) => x[k] as number))
    const summary = {
      when: new Date().toISOString(), rounds, seconds, clients, outstanding, rate, services, load: loadavg(),
      mesh: { qps: m('mesh', 'sat', 'qps'), p99SatMs: m('mesh', 'sat', 'p99ms'), p99FixedMs: m('mesh', 'fixed', 'p99ms'), p50FixedMs: m('mesh', 'fixed', 'p50ms'), cpuUsPerQuery: m('mesh', 'sat', 'cpuUsPerQuery') },
      batched: { qps: m('batched', 'sat', 'qps'), p99SatMs: m('batched', 'sat', 'p99ms'), p99FixedMs: m('batched', 'fixed', 'p99ms'), p50FixedMs: m('batched', 'fixed', 'p50ms'), cpuUsPerQuery: m('batched', 'sat', 'cpuUsPerQuery') },
      naive: { qps: m('naive', 'sat', 'qps'), p99SatMs: m('naive', 'sat', 'p99ms'), p99FixedMs: m('naive', 'fixed', 'p99ms'), p50FixedMs: m('naive', 'fixed', 'p50ms'), cpuUsPerQuery: m('naive', 'sat', 'cpuUsPerQuery') },
      floor: { qps: m('floor', 'sat', 'qps'), p99SatMs: m('floor', 'sat', 'p99ms'), p99FixedMs: m('floor', 'fixed', 'p99ms'), p50FixedMs: m('floor', 'fixed', 'p50ms'), cpuUsPerQuery: m('floor', 'sat', 'cpuUsPerQuery') },
      dnsmasq: { qps: m('dnsmasq', 'sat', 'qps'), p99SatMs: m('dnsmasq', 'sat', 'p99ms'), p99FixedMs: m('dnsmasq', 'fixed', 'p99ms'), p50FixedMs: m('dnsmasq', 'fixed', 'p50ms'), cpuUsPerQuery: m('dnsmasq', 'sat', 'cpuUsPerQuery') },
      perRoundQpsRatio: results.mesh!.sat.map((x, i) => x.qps / results.dnsmasq!.sat[i]!.qps),
      perRoundFloorQpsRatio: results.floor!.sat.map((x, i) => x.qps / results.dnsmasq!.sat[i]!.qps),
      perRoundNaiveQpsRatio: results.naive!.sat.map((x, i) => x.qps / results.dnsmasq!.sat[i]!.qps),
      perRoundP99SatRatio: results.mesh!.sat.map((x, i) => x.p99ms / results.dnsmasq!.sat[i]!.p99ms),
      perRoundP99FixedRatio: results.mesh!.fixed.map((x, i) => x.p99ms / results.dnsmasq!.fixed[i]!.p99ms),
      perRoundBatchedQpsRatio: results.batched!.sat.map((x, i) => x.qps / results.dnsmasq!.sat[i]!.qps),
      perRoundBatchedCpuRatio: results.batched!.sat.map((x, i) => x.cpuUsPerQuery / results.dnsmasq!.sat[i]!.cpuUsPerQuery),
      perRoundBatchedP99SatRatio: results.batched!.sat.map((x, i) => x.p99ms / results.dnsmasq!.sat[i]!.p99ms),
      perRoundBatchedP99FixedRatio: results.batched!.fixed.map((x, i) => x.p99ms / results.dnsmasq!.fixed[i]!.p99ms),
    }
    console.log(`naive dns-packet responder: median qps ratio ${(summary.naive.qps / summary.dnsmasq.qps).toFixed(2)}, CPU ${summary.naive.cpuUsPerQuery.toFixed(1)} µs/query; floor (fixed answer, no lookup) qps ratio ${(summary.floor.qps / summary.dnsmasq.qps).toFixed(2)}, CPU ${summary.floor.cpuUsPerQuery.toFixed(1)}; mesh ${summary.mesh.cpuUsPerQuery.toFixed(1)}, dnsmasq ${summary.dnsmasq.cpuUsPerQuery.toFixed(1)}`)
    for (const name of ['mesh', 'batched'] as const) {
      const x = summary[name], d = summary.dnsmasq
      console.log(`${name === 'mesh' ? 'mesh (dgram)' : 'mesh (batched)'}: median qps ratio ${(x.qps / d.qps).toFixed(2)}, per core ${(d.cpuUsPerQuery / x.cpuUsPerQuery).toFixed(2)} ` +
        `(${x.cpuUsPerQuery.toFixed(1)} vs ${d.cpuUsPerQuery.toFixed(1)} µs/query; goal ≥ 0.9); p99 ratio at saturation ${(x.p99SatMs / d.p99SatMs).toFixed(2)}, ` +
        `at ${rate} qps ${(x.p99FixedMs / d.p99FixedMs).toFixed(2)} (goal ≤ 1.5)`)
    }
    console.log(JSON.stringify(summary))
  } finally {
    cleanup()
  }
}

/** `--workers N`: batched with one responder, with N, and dnsmasq, in the same rounds (see the top comment). */
async function compareWorkers(dir: string, snap: CatalogSnapshot, n: number, procs: ChildProcess[], spawnServe: (kind: string, n: number) => ChildProcess,
  o: { rounds: number; seconds: number; clients: number; outstanding: number; rate: number }): Promise<void> {
  const one = spawnServe('batched', 1)
  procs.push(one)
  const many = spawnServe('batched', n)
  procs.push(many)
  const dnsmasq = spawn('taskset', ['-c', '1', '/usr/sbin/dnsmasq', '--conf-file=/dev/null', '--no-daemon', '--no-resolv', '--no-hosts',
    `--addn-hosts=${join(dir, 'hosts')}`, `--listen-address=${DNSMASQ.host}`, `--port=${DNSMASQ.port}`, '--bind-interfaces',
    '--local-ttl=5', '--log-facility=/dev/null', '--pid-file=', '-u', 'root'], { stdio: ['ignore', 'ignore', 'ignore'] })
  procs.push(dnsmasq)
  await Promise.all([waitAnswer(BATCHED), waitAnswer(WORKERS), waitAnswer(DNSMASQ)])
  const servers = [
    { name: 'batched', addr: BATCHED, pid: one.pid as number },
    { name: 'workers', addr: WORKERS, pid: many.pid as number },
    { name: 'dnsmasq', addr: DNSMASQ, pid: dnsmasq.pid as number },
  ]
  console.log(`# dns-perf --workers ${n}: ${snap.services.length} services, rounds ${o.rounds} × ${o.seconds} s, clients ${o.clients}, outstanding ${o.outstanding}, fixed rate ${o.rate} qps; servers on CPU 1, dnsperf on CPU 0; load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)
  const res: Record<string, { sat: RunResult[]; fixed: RunResult[] }> = { batched: { sat: [], fixed: [] }, workers: { sat: [], fixed: [] }, dnsmasq: { sat: [], fixed: [] } }
  for (let r = 0; r < o.rounds; r++) {
    for (const s of servers.map((_, i) => servers[(i + r) % servers.length]!)) {
      const sat = await dnsperf(s.addr, s.pid, dir, { seconds: o.seconds, clients: o.clients, outstanding: o.outstanding })
      const fixed = await dnsperf(s.addr, s.pid, dir, o)
      res[s.name]!.sat.push(sat)
      res[s.name]!.fixed.push(fixed)
      console.log(`round ${r + 1} ${s.name.padEnd(7)} saturation: ${sat.qps.toFixed(0)} qps, p99 ${sat.p99ms.toFixed(3)} ms, lost ${sat.lost}, cpu ${sat.cpuCores.toFixed(2)} cores = ${sat.cpuUsPerQuery.toFixed(1)} µs/query | at ${o.rate} qps: p99 ${fixed.p99ms.toFixed(3)} ms, ${fixed.cpuUsPerQuery.toFixed(1)} µs/query`)
    }
  }
  await new Promise((r) => setTimeout(r, 500)) // the workers' last counters
  const spread = await new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve('(no answer)'), 5_000)
    createInterface({ input: many.stdout! }).on('line', (line) => { if (line.startsWith('{')) { clearTimeout(timer); resolve(line) } })
    process.kill(many.pid as number, 'SIGUSR2')
  })
  const m = (name: string, mode: 'sat' | 'fixed', k: keyof RunResult) => median(res[name]![mode].map((x) => x[k] as number))
  const cpuRatio = res.workers!.sat.map((x, i) => x.cpuUsPerQuery / res.batched!.sat[i]!.cpuUsPerQuery)
  console.log(`workers ${n} vs one responder: median CPU per query ${m('workers', 'sat', 'cpuUsPerQuery').toFixed(1)} vs ${m('batched', 'sat', 'cpuUsPerQuery').toFixed(1)} µs ` +
    `(ratio per round ${cpuRatio.map((x) => x.toFixed(2)).join(', ')}; goal ≤ 1.1), qps ${m('workers', 'sat', 'qps').toFixed(0)} vs ${m('batched', 'sat', 'qps').toFixed(0)}, ` +
    `p99 ${m('workers', 'sat', 'p99ms').toFixed(3)} vs ${m('batched', 'sat', 'p99ms').toFixed(3)} ms at saturation, ${m('workers', 'fixed', 'p99ms').toFixed(3)} vs ${m('batched', 'fixed', 'p99ms').toFixed(3)} ms at ${o.rate} qps; ` +
    `dnsmasq ${m('dnsmasq', 'sat', 'qps').toFixed(0)} qps at ${m('dnsmasq', 'sat', 'cpuUsPerQuery').toFixed(1)} µs/query`)
  console.log(`spread over the responders (answered per thread, 0 = main): ${spread}`)
  console.log(JSON.stringify({ when: new Date().toISOString(), workers: n, ...o, load: loadavg(), cpuRatio,
    median: Object.fromEntries(Object.keys(res).map((k) => [k, { qps: m(k, 'sat', 'qps'), cpuUsPerQuery: m(k, 'sat', 'cpuUsPerQuery'), p99SatMs: m(k, 'sat', 'p99ms'), p99FixedMs: m(k, 'fixed', 'p99ms') }])) }))
}

if (process.argv.includes('--serve-floor')) await serveFloor()
else if (process.argv.includes('--serve-naive')) await serveNaive(process.argv[process.argv.indexOf('--serve-naive') + 1] as string)
else if (process.argv.includes('--serve')) {
  const i = process.argv.indexOf('--serve')
  await serve(process.argv[i + 1] as string, process.argv[i + 2] === 'batched' ? 'batched' : 'dgram', Number(process.argv[i + 3] ?? 1) || 1)
}
else await main()
