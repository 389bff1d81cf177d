/**
 * Ingress benchmark: wrk through four paths to the same nginx backends, interleaved in every round so that the
 * machine's load drifts over all of them alike, with keep-alive and with a new connection per request:
 *  - userspace: our Ingress (mode userspace), one Node process, round robin over 3 backends;
 *  - nft:       our Ingress (mode nft): the kernel DNATs (table ip mesh-ingress), numgen round robin;
 *  - haproxy:   HAProxy 2.6, mode tcp, balance roundrobin, nbthread 1 (one core, like our one Node process);
 *  - direct:    wrk straight to one backend (routed through the proxy namespace, no proxy).
 * Topology (all in namespaces this script creates; nothing leaves them):
 *   ib-<id>-cli (wrk, 10.99.1.2) ─veth─ ib-<id>-px (10.99.1.1 | 10.99.2.1; proxies, router) ─veth─ ib-<id>-be
 *   (3 nginx, worker_processes 1, master_process off, on 10.99.2.2/.3/.4:80, a 120-byte static page).
 * CPU: utime+stime of the proxy process and of the three nginx processes from /proc/<pid>/stat, per run.
 *
 * Usage (root): npx tsx bench/ingress-wrk.ts [--rounds N] [--seconds S] [--conns C] [--only a,b] [--prof] [--no-write]
 *   defaults 5 rounds × 5 s, 50 connections, wrk -t1. Writes the `## Ingress (wrk)` section of docs/benchmarks.md.
 * With `--network plain|encrypted [--ingress-mode userspace|nft]`: a 3-node mesh lab instead, the service on a user
 *   network (`plain`: `--opt encrypted=false`), see bench/ingress-lab.ts; run under the lab lock; defaults 3 rounds.
 *   `plain` writes the `## Routing mesh on an unencrypted network` section.
 *   --prof runs the Node proxy with --cpu-prof (profiles in /tmp/ib-prof). Internal: `serve <json>` is the proxy.
 * Every process started here is stopped by PID; the namespaces are deleted in finally (and on SIGINT/SIGTERM).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { cpus, loadavg, release } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { CatalogSnapshot, CatalogView } from '../src/catalog/index.ts'
import { runLab, type LabArgs } from './ingress-lab.ts'

const REPO = fileURLToPath(new URL('../', import.meta.url))
const DOCS = join(REPO, 'docs', 'benchmarks.md')
const SECTION = '## Ingress (wrk)'
const LAB_SECTION = '## Routing mesh on an unencrypted network'
const CLK_TCK = 100
const BACKENDS = ['10.99.2.2', '10.99.2.3', '10.99.2.4']
const PX = '10.99.1.1'
const PORTS = { userspace: 8080, haproxy: 8081, nft: 8082 } as const
type Path = 'userspace' | 'nft' | 'haproxy' | 'direct'
const PATHS: Path[] = ['userspace', 'nft', 'haproxy', 'direct']
type Conn = 'keepalive' | 'close'

interface Args { rounds: number; seconds: number; conns: number; only: Path[]; prof: boolean; write: boolean; network?: LabArgs['network']; ingressMode: LabArgs['ingressMode'] }

function parseArgs(argv: string[]): Args {
  const a: Args = { rounds: 5, seconds: 5, conns: 50, only: PATHS, prof: false, write: true, ingressMode: 'userspace' }
  if (argv.includes('--network')) a.rounds = 3
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]
    const num = (lo: number, hi: number) => {
      const v = Number(argv[++i])
      if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`bench: ${k} must be an integer in ${lo}..${hi}`)
      return v
    }
    if (k === '--rounds') a.rounds = num(1, 30)
    else if (k === '--seconds') a.seconds = num(1, 60)
    else if (k === '--conns') a.conns = num(1, 1000)
    else if (k === '--only') a.only = String(argv[++i]).split(',').filter((p): p is Path => (PATHS as string[]).includes(p))
    else if (k === '--prof') a.prof = true
    else if (k === '--no-write') a.write = false
    else if (k === '--network' && (argv[i + 1] === 'plain' || argv[i + 1] === 'encrypted')) a.network = argv[++i] as LabArgs['network']
    else if (k === '--ingress-mode' && (argv[i + 1] === 'userspace' || argv[i + 1] === 'nft')) a.ingressMode = argv[++i] as LabArgs['ingressMode']
    else throw new Error(`bench: unknown argument ${k}`)
  }
  return a
}

// ---------------------------------------------------------------------------------------------------------------
// serve: the proxy process (runs inside the proxy namespace)

async function serve(): Promise<void> {
  const { Ingress } = await import('../src/ingress/index.ts')
  const view = (published: number): CatalogView => {
    const snap: CatalogSnapshot = {
      revision: 1, nodes: [],
      services: [{
        id: 'web', name: 'web', shortName: 'web', endpointMode: 'vip', stopGracePeriodMs: 10_000,
        ports: [{ published, target: 80, protocol: 'tcp', mode: 'ingress' }],
        endpoints: BACKENDS.map((ip, i) => ({ taskId: `t${i}`, slot: i + 1, taskName: `web.${i + 1}`, nodeId: 'n', node: 'n', ip, state: 'running', health: 'none' })),
      }],
    }
    return { current: () => snap, onChange: () => () => undefined }
  }
  const log = (level: string, msg: string, f?: Record<string, unknown>) => {
    if (level !== 'debug') process.stderr.write(`${level} ${msg} ${JSON.stringify(f ?? {})}\n`)
  }
  const user = new Ingress({ catalog: view(PORTS.userspace), mode: 'userspace', bindAddr: PX, log, vipRules: false })
  const nft = new Ingress({ catalog: view(PORTS.nft), mode: 'nft', bindAddr: PX, log })
  await user.start()
  await nft.start()
  if (nft.nftError) throw new Error(nft.nftError)
  process.stdout.write('ready\n')
  const stop = async () => {
    await user.stop()
    await nft.stop()
    process.exit(0)
  }
  process.on('SIGTERM', () => void stop())
  process.on('SIGINT', () => void stop())
}

// ---------------------------------------------------------------------------------------------------------------
// orchestration

const procs = new Set<ChildProcess>()
let namespaces: string[] = []

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] })
}

function nsx(ns: string, ...args: string[]): string {
  return sh('ip', ['netns', 'exec', ns, ...args])
}

function start(name: string, ns: string, args: string[], readyLine?: string): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  procs.add(child)
  child.on('exit', () => procs.delete(child))
  let err = ''
  child.stderr?.on('data', (d) => (err = (err + String(d)).slice(-4000)))
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${name}: not ready after 20 s: ${err}`)), 20_000)
    child.once('exit', (code) => {
      clearTimeout(t)
      reject(new Error(`${name} exited (${code}): ${err}`))
    })
    if (!readyLine) {
      setTimeout(() => { clearTimeout(t); resolve(child) }, 300)
      return
    }
    let out = ''
    child.stdout?.on('data', (d) => {
      out += String(d)
      if (out.includes(readyLine)) {
        clearTimeout(t)
        resolve(child)
      }
    })
  })
}

async function stopProc(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  const t = setTimeout(() => child.kill('SIGKILL'), 3000)
  await exited
  clearTimeout(t)
}

async function cleanup(): Promise<void> {
  await Promise.all([...procs].map(stopProc))
  for (const ns of namespaces) {
    try {
      sh('ip', ['netns', 'del', ns])
    } catch {
      // already gone
    }
  }
  namespaces = []
}

function cpuTicks(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
  return Number(f[11]) + Number(f[12])
}

async function setupNet(id: string, work: string): Promise<{ cli: string; px: string; be: string }> {
  const cli = `ib-${id}-cli`
  const px = `ib-${id}-px`
  const be = `ib-${id}-be`
  for (const ns of [cli, px, be]) {
    sh('ip', ['netns', 'add', ns])
    namespaces.push(ns)
    nsx(ns, 'ip', 'link', 'set', 'lo', 'up')
  }
  sh('ip', ['link', 'add', `ib${id}c`, 'netns', cli, 'type', 'veth', 'peer', 'name', `ib${id}pc`, 'netns', px])
  sh('ip', ['link', 'add', `ib${id}b`, 'netns', be, 'type', 'veth', 'peer', 'name', `ib${id}pb`, 'netns', px])
  nsx(cli, 'ip', 'addr', 'add', '10.99.1.2/24', 'dev', `ib${id}c`)
  nsx(px, 'ip', 'addr', 'add', '10.99.1.1/24', 'dev', `ib${id}pc`)
  nsx(px, 'ip', 'addr', 'add', '10.99.2.1/24', 'dev', `ib${id}pb`)
  for (const ip of BACKENDS) nsx(be, 'ip', 'addr', 'add', `${ip}/24`, 'dev', `ib${id}b`)
  for (const [ns, dev] of [[cli, `ib${id}c`], [px, `ib${id}pc`], [px, `ib${id}pb`], [be, `ib${id}b`]] as const) nsx(ns, 'ip', 'link', 'set', dev, 'up')
  nsx(cli, 'ip', 'route', 'add', 'default', 'via', '10.99.1.1')
  nsx(be, 'ip', 'route', 'add', 'default', 'via', '10.99.2.1')
  for (const ns of [cli, px, be]) {
    nsx(ns, 'sysctl', '-qw', 'net.ipv4.ip_local_port_range=1024 65000')
    nsx(ns, 'sysctl', '-qw', 'net.ipv4.tcp_tw_reuse=1')
    nsx(ns, 'sysctl', '-qw', 'net.core.somaxconn=4096')
  }
  nsx(px, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
  mkdirSync(work, { recursive: true })
  writeFileSync(join(work, 'index.html'), `${'<!doctype html><title>mesh</title><p>ingress benchmark backend, a tiny static page.</p>'.padEnd(119, '.')}\n`)
  return { cli, px, be }
}

function nginxConf(work: string, ip: string, i: number): string {
  const f = join(work, `nginx-${i}.conf`)
  writeFileSync(f, `worker_processes 1;
master_process off;
daemon off;
pid ${work}/nginx-${i}.pid;
error_log ${work}/nginx-${i}.err warn;
events { worker_connections 8192; multi_accept on; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 75s;
  client_body_temp_path ${work}/cb-${i};
  proxy_temp_path ${work}/pt-${i};
  fastcgi_temp_path ${work}/ft-${i};
  uwsgi_temp_path ${work}/ut-${i};
  scgi_temp_path ${work}/st-${i};
  server { listen ${ip}:80 backlog=4096; root ${work}; location / { index index.html; } }
}
`)
  return f
}

function haproxyConf(work: string): string {
  const f = join(work, 'haproxy.cfg')
  writeFileSync(f, `global
  nbthread 1
  maxconn 9000
defaults
  mode tcp
  timeout connect 1s
  timeout client 1h
  timeout server 1h
frontend fe
  bind ${PX}:${PORTS.haproxy}
  default_backend be
backend be
  balance roundrobin
${BACKENDS.map((ip, i) => `  server s${i + 1} ${ip}:80`).join('\n')}
`)
  return f
}

interface Sample { path: Path; conn: Conn; round: number; rps: number; errors: number; proxyCpu: number; backendCpu: number }

function url(path: Path): string {
  if (path === 'direct') return `http://${BACKENDS[0]}:80/`
  return `http://${PX}:${PORTS[path]}/`
}

function runWrk(ns: string, path: Path, conn: Conn, a: Args): { rps: number; errors: number } {
  const args = ['wrk', '-t1', `-c${a.conns}`, `-d${a.seconds}s`, '--timeout', '2s']
  if (conn === 'close') args.push('-H', 'Connection: close')
  args.push(url(path))
  const out = execFileSync('timeout', [String(a.seconds + 20), 'ip', 'netns', 'exec', ns, ...args], { encoding: 'utf8' })
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 'NaN')
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0)
  // With Connection: close, wrk counts the server's close after a complete response as a read error; only
  // connect/write/timeout errors and bad statuses are real failures.
  const errors = (se ? Number(se[1]) + Number(se[3]) + Number(se[4]) : 0) + non2xx
  return { rps, errors }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const n = s.length
  if (n === 0) return NaN
  return n % 2 ? (s[(n - 1) / 2] as number) : ((s[n / 2 - 1] as number) + (s[n / 2] as number)) / 2
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2))
  if (process.getuid?.() !== 0) throw new Error('bench: needs root (network namespaces)')
  if (a.network) {
    const md = await runLab({ network: a.network, rounds: a.rounds, seconds: a.seconds, conns: a.conns, ingressMode: a.ingressMode })
    process.stdout.write(`${md}\n`)
    if (a.write && a.network === 'plain') writeSection(`${LAB_SECTION}\n\n${md}`, LAB_SECTION)
    return
  }
  const id = String(process.pid % 100000)
  const work = `/tmp/ib-${id}`
  const onSignal = () => void cleanup().then(() => process.exit(130))
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const startedAt = new Date().toISOString()
  const load0 = loadavg().map((x) => x.toFixed(1)).join(' ')
  const samples: Sample[] = []
  try {
    const { cli, px, be } = await setupNet(id, work)
    const nginx = await Promise.all(BACKENDS.map((ip, i) => start(`nginx ${ip}`, be, ['/usr/sbin/nginx', '-c', nginxConf(work, ip, i), '-e', join(work, `nginx-${i}.err`)])))
    const haproxy = await start('haproxy', px, ['/usr/sbin/haproxy', '-db', '-f', haproxyConf(work)])
    const nodeArgs = [process.execPath, '--import', 'tsx']
    if (a.prof) {
      rmSync('/tmp/ib-prof', { recursive: true, force: true })
      nodeArgs.push('--cpu-prof', '--cpu-prof-dir=/tmp/ib-prof')
    }
    const proxy = await start('mesh ingress', px, [...nodeArgs, fileURLToPath(import.meta.url), 'serve'], 'ready')
    const pidOf = (p: ChildProcess) => p.pid as number // `ip netns exec` execs the command: same pid
    const proxyPid: Record<Path, number | null> = { userspace: pidOf(proxy), nft: pidOf(proxy), haproxy: pidOf(haproxy), direct: null }
    // Sanity: every path answers with the page.
    for (const p of a.only) {
      const body = nsx(cli, 'curl', '-s', '--max-time', '3', url(p))
      if (!body.includes('ingress benchmark backend')) throw new Error(`bench: ${p} did not serve the page: ${body.slice(0, 200)}`)
    }
    const order = a.only
    for (let round = 0; round < a.rounds; round++) {
      const rotated = order.map((_, i) => order[(i + round) % order.length] as Path)
      for (const path of rotated) {
        for (const conn of ['keepalive', 'close'] as Conn[]) {
          const pp = proxyPid[path]
          const p0 = pp ? cpuTicks(pp) : 0
          const b0 = nginx.reduce((s, n) => s + cpuTicks(pidOf(n)), 0)
          const r = runWrk(cli, path, conn, a)
          const p1 = pp ? cpuTicks(pp) : 0
          const b1 = nginx.reduce((s, n) => s + cpuTicks(pidOf(n)), 0)
          const sample = { path, conn, round: round + 1, rps: r.rps, errors: r.errors, proxyCpu: (p1 - p0) / CLK_TCK / a.seconds, backendCpu: (b1 - b0) / CLK_TCK / a.seconds }
          samples.push(sample)
          process.stderr.write(`round ${round + 1} ${path.padEnd(9)} ${conn.padEnd(9)} ${r.rps.toFixed(0).padStart(7)} req/s  errors ${r.errors}  proxy ${(sample.proxyCpu * 100).toFixed(0)}%  nginx ${(sample.backendCpu * 100).toFixed(0)}%\n`)
        }
      }
    }
  } finally {
    await cleanup()
    rmSync(work, { recursive: true, force: true })
  }
  const md = report(samples, a, startedAt, load0)
  process.stdout.write(`${md}\n`)
  if (a.write) writeSection(md, SECTION)
}

function report(samples: Sample[], a: Args, startedAt: string, load0: string): string {
  const paths = PATHS.filter((p) => a.only.includes(p))
  const med = (p: Path, c: Conn, f: (s: Sample) => number) => median(samples.filter((s) => s.path === p && s.conn === c).map(f))
  const rows: string[] = []
  for (const c of ['keepalive', 'close'] as Conn[]) {
    for (const p of paths) {
      const rs = samples.filter((s) => s.path === p && s.conn === c).map((s) => s.rps.toFixed(0))
      const errs = samples.filter((s) => s.path === p && s.conn === c).reduce((x, s) => x + s.errors, 0)
      const proxyCpu = p === 'direct' ? '–' : p === 'nft' ? 'kernel' : `${(med(p, c, (s) => s.proxyCpu) * 100).toFixed(0)} %`
      rows.push(`| ${c === 'keepalive' ? 'keep-alive' : 'new conn/request'} | ${p} | ${rs.join(' ')} | **${med(p, c, (s) => s.rps).toFixed(0)}** | ${errs} | ${proxyCpu} | ${(med(p, c, (s) => s.backendCpu) * 100).toFixed(0)} % |`)
    }
  }
  const ratio = (x: Path, y: Path, c: Conn) => (med(x, c, (s) => s.rps) / med(y, c, (s) => s.rps)).toFixed(2)
  // Paired per round: both paths ran within the same minute, so the machine's load drift cancels out better.
  const perRound = (x: Path, y: Path, c: Conn) => {
    const rs: number[] = []
    for (let r = 1; r <= a.rounds; r++) {
      const sx = samples.find((s) => s.path === x && s.conn === c && s.round === r)
      const sy = samples.find((s) => s.path === y && s.conn === c && s.round === r)
      if (sx && sy) rs.push(sx.rps / sy.rps)
    }
    return `${rs.map((v) => v.toFixed(2)).join(' ')} | ${median(rs).toFixed(2)}`
  }
  const ratios: string[] = []
  for (const c of ['keepalive', 'close'] as Conn[]) {
    const label = c === 'keepalive' ? 'keep-alive' : 'new conn/request'
    const pair = (x: Path, y: Path, goal: string, bold: boolean) => {
      if (!paths.includes(x) || !paths.includes(y)) return
      const m = ratio(x, y, c)
      ratios.push(`| ${label} | ${x} / ${y} | ${bold ? `**${m}**` : m} | ${perRound(x, y, c)} | ${goal} |`)
    }
    pair('userspace', 'haproxy', '≥ 0.8', true)
    pair('nft', 'direct', '≥ 0.9', true)
    pair('haproxy', 'direct', '', false)
    pair('userspace', 'direct', '', false)
  }
  return `${SECTION}

Measured ${startedAt} by \`npx tsx bench/ingress-wrk.ts --rounds ${a.rounds} --seconds ${a.seconds} --conns ${a.conns}\` (as root).
Machine: ${cpus().length} cores, kernel ${release()}, Node ${process.version}, load average ${load0} at the start and
${loadavg().map((x) => x.toFixed(1)).join(' ')} at the end (shared with other sessions). wrk 4.1.0 \`-t1 -c${a.conns} -d${a.seconds}s\`, with
keep-alive and with \`-H 'Connection: close'\` (a new TCP connection per request). Paths interleaved in every round
(rotated order), ${a.seconds} s per run; medians.

Topology: three network namespaces made by the script: client (wrk) ─veth─ proxy (router; our Node ingress process,
HAProxy, the nft rules) ─veth─ backends (three nginx 1.22 processes, \`worker_processes 1\`, \`master_process off\`,
one per backend address 10.99.2.2/.3/.4, a 120-byte static page, access log off). Every proxied path round-robins
over the three nginx; \`direct\` is wrk to one nginx, routed through the proxy namespace without any proxy.
HAProxy 2.6: \`mode tcp\`, \`balance roundrobin\`, \`nbthread 1\`. Ours: \`Ingress\` in mode userspace (one Node
process, single-threaded JavaScript) and mode nft (kernel DNAT, same process only writes the rules).
CPU columns: utime+stime of the proxy process and of the three nginx together, from /proc/<pid>/stat, as a share
of one core over the run (medians). nft's work is softirq in the kernel and is not attributed to a process.

| connections | path | req/s per round | median req/s | errors | proxy CPU | nginx CPU |
|---|---|---|---:|---:|---:|---:|
${rows.join('\n')}

| connections | ratio | of the medians | per round | median of per-round | goal |
|---|---|---:|---|---:|---|
${ratios.join('\n')}
`
}

function writeSection(md: string, section: string): void {
  const text = existsSync(DOCS) ? readFileSync(DOCS, 'utf8') : '# Benchmarks\n'
  const start = text.indexOf(section)
  let out: string
  if (start < 0) out = `${text.trimEnd()}\n\n${md}`
  else {
    const next = text.indexOf('\n## ', start + section.length)
    // Keep any hand-written notes that follow the table block (### subsections inside the section are replaced).
    out = `${text.slice(0, start)}${md}${next < 0 ? '' : text.slice(next)}`
  }
  writeFileSync(DOCS, out.endsWith('\n') ? out : `${out}\n`)
}

if (process.argv[2] === 'serve') {
  serve().catch((err) => {
    process.stderr.write(`serve: ${(err as Error).stack}\n`)
    process.exit(1)
  })
} else {
  main().catch(async (err) => {
    process.stderr.write(`${(err as Error).stack}\n`)
    await cleanup()
    process.exit(1)
  })
}
