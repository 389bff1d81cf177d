/**
 * The lab half of bench/ingress-wrk.ts (`--network plain|encrypted`, issue 21): the routing mesh of a real cluster
 * (3 lab nodes, `mesh agent` as a user runs it) with the service on a user network, against HAProxy and wrk
 * straight at a task over the same path, keep-alive and a new connection per request, interleaved in every round.
 *
 *   node1 (manager; no task of `web`)  ── underlay bridge ──  node2, node3 (workers: one `web` task each)
 *   client: the lab's underlay namespace (outside every node), wrk -t1.
 *
 * Paths (all end in the same nginx processes: the host's nginx entered into each task's network namespace with
 * `nsenter -n`, `worker_processes 1`, `master_process off`, a 120-byte page):
 *  - mesh:    client → node1:8080 (published port of `web`) → node1's agent → a task on node2/node3 (round robin);
 *  - haproxy: client → node1:8082 → HAProxy 2.6 in node1 (`nbthread 1`, mode tcp, roundrobin) → the same tasks;
 *  - direct:  wrk in node1's namespace straight at one `web` task: node1's host → the network's path (VXLAN
 *             `mvx-<vni>` or WireGuard `mesh0`, `ip route get` says which) → the task. No client-to-node1 hop;
 *  - local:   client → node1:8081 (published port of `webl`, a global service on a second network: one task on every node) with node1's
 *             agent in `--ingress-prefer-local on`: node1's own task answers, nothing crosses to another node.
 * CPU: the whole machine's busy time (/proc/stat, every process and softirq) per request, and node1's agent's and
 * HAProxy's utime+stime per request (/proc/<pid>/stat): what a path costs, not only how fast it is.
 * Network: only the lab's namespaces; every process started here is stopped by PID; the lab goes down in finally.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import type { LabNode } from '../test/lab/index.ts'
import { isRoot } from '../test/lab/index.ts'
import { StopWaiting, stop, waitFor, type Proc } from '../test/support/procs.ts'
import { meshLab, type MeshLab } from '../test/support/mesh-lab.ts'

export type LabPath = 'mesh' | 'haproxy' | 'direct' | 'local'
const PATHS: readonly LabPath[] = ['mesh', 'haproxy', 'direct', 'local']
type Conn = 'keepalive' | 'close'
const PORT = { mesh: 8080, local: 8081, haproxy: 8082 } as const

export interface LabArgs {
  network: 'plain' | 'encrypted'
  rounds: number
  seconds: number
  conns: number
  /** node1's agent `--ingress-mode` (the workers keep userspace). */
  ingressMode: 'userspace' | 'nft'
}

interface Sample { path: LabPath; conn: Conn; round: number; rps: number; errors: number; cpuUs: number; agentUs: number; haproxyUs: number }

const log = (msg: string): void => { process.stderr.write(`[ingress-lab] ${msg}\n`) }

async function mesh(c: MeshLab, args: string[]): Promise<void> {
  const r = await c.mesh(args, 180_000)
  if (r.code !== 0) throw new Error(`mesh ${args.join(' ')}: ${r.stderr.trim()}`)
}

/** Every container of `service` on node `n`: PID (for nsenter) and address on `network`. */
async function containers(n: LabNode, service: string, network: string): Promise<{ pid: string; ip: string }[]> {
  const names = (await n.docker(['ps', '--filter', `label=mesh.service.name=${service}`, '--format', '{{.Names}}'])).stdout.trim().split('\n').filter(Boolean)
  const out: { pid: string; ip: string }[] = []
  for (const name of names) {
    const s = (await n.docker(['inspect', '-f', `{{.State.Pid}} {{(index .NetworkSettings.Networks "${network}").IPAddress}}`, name])).stdout.trim()
    const [pid, ip] = s.split(' ')
    if (pid && ip && /^\d+$/.test(pid)) out.push({ pid, ip })
  }
  return out
}

/** Busy jiffies of the whole machine (user+nice+system+irq+softirq+steal). */
function busyTicks(): number {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number)
  return (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0)
}

function procTicks(pid: number | null): number {
  if (pid === null) return 0
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return Number(f[11]) + Number(f[12])
  } catch {
    return 0
  }
}

/** The PID whose command line holds every word (read-only scan of /proc: no signal is ever sent to it). */
function findPid(words: readonly string[]): number | null {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0')
      if (argv[0] !== 'bash' && words.every((w) => argv.includes(w))) return Number(d)
    } catch {
      // gone
    }
  }
  return null
}

function nginxConf(work: string, i: number): string {
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
  server { listen 80 backlog=4096; root ${work}; location / { index index.html; } }
}
`)
  return f
}

function haproxyConf(work: string, bind: string, servers: readonly string[]): string {
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
  bind ${bind}:${PORT.haproxy}
  default_backend be
backend be
  balance roundrobin
${servers.map((ip, i) => `  server s${i + 1} ${ip}:80`).join('\n')}
`)
  return f
}

function parseWrk(out: string): { rps: number; errors: number; requests: number } {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 'NaN')
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 'NaN')
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0)
  return { rps, requests, errors: (se ? Number(se[1]) + Number(se[3]) + Number(se[4]) : 0) + non2xx }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length === 0 ? NaN : s.length % 2 ? s[m] as number : ((s[m - 1] as number) + (s[m] as number)) / 2
}
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ')

export async function runLab(a: LabArgs): Promise<string> {
  if (!isRoot()) throw new Error('bench: needs root (the lab builds namespaces)')
  const started = Date.now()
  const startedAt = new Date().toISOString()
  const load0 = load()
  const cleanups: (() => unknown)[] = []
  const procs: Proc[] = []
  const samples: Sample[] = []
  const work = `/tmp/ibl-${process.pid}`
  let route = ''
  try {
    mkdirSync(work, { recursive: true })
    writeFileSync(join(work, 'index.html'), `${'<!doctype html><title>mesh</title><p>ingress benchmark backend, a tiny static page.</p>'.padEnd(119, '.')}\n`)
    const c = await meshLab({ teardown: (fn) => { cleanups.push(fn) } }, {
      nodes: 3, prefix: `il${randomBytes(3).toString('hex')}`, agentArgs: ['--ingress-prefer-local', 'on'],
      managerArgs: a.ingressMode === 'nft' ? ['--ingress-mode', 'nft'] : [],
    })
    const [n1, n2, n3] = c.lab.nodes as [LabNode, LabNode, LabNode]
    log(`lab up in ${((Date.now() - started) / 1000).toFixed(0)} s`)
    // Two networks, so that node1 holds no slice of `web`'s (its host reaches it as a host-only node) but one of webl's.
    const net = 'benchweb'
    const lnet = 'benchlocal'
    for (const n of [net, lnet]) await mesh(c, ['network', 'create', ...(a.network === 'plain' ? ['--opt', 'encrypted=false'] : []), n])
    await mesh(c, ['service', 'create', '--name', 'web', '--update-monitor', '1s', '--replicas', '2', '--constraint', `node.hostname!=${n1.name}`,
      '--network', net, '--publish', `published=${PORT.mesh},target=80`, 'mesh/busybox:latest', 'sleep', '3600'])
    await mesh(c, ['service', 'create', '--name', 'webl', '--update-monitor', '1s', '--mode', 'global',
      '--network', lnet, '--publish', `published=${PORT.local},target=80`, 'mesh/busybox:latest', 'sleep', '3600'])
    const web = [...await containers(n2, 'web', net), ...await containers(n3, 'web', net)]
    const webl = [...await containers(n1, 'webl', lnet), ...await containers(n2, 'webl', lnet), ...await containers(n3, 'webl', lnet)]
    if (web.length !== 2 || webl.length !== 3) throw new Error(`bench: want 2 web and 3 webl tasks, have ${web.length} and ${webl.length}`)
    let i = 0
    for (const [n, list] of [[n2, web.slice(0, 1)], [n3, web.slice(1)], [n1, webl.slice(0, 1)], [n2, webl.slice(1, 2)], [n3, webl.slice(2)]] as const) {
      for (const t of list) procs.push(n.spawn(['nsenter', '-t', t.pid, '-n', '/usr/sbin/nginx', '-c', nginxConf(work, i++)], { name: `nginx ${t.ip}` }))
    }
    procs.push(n1.spawn(['/usr/sbin/haproxy', '-db', '-f', haproxyConf(work, n1.ip, web.map((w) => w.ip))], { name: 'haproxy' }))
    const target = web[0]?.ip as string
    const urls: Record<LabPath, string> = {
      mesh: `http://${n1.ip}:${PORT.mesh}/`, local: `http://${n1.ip}:${PORT.local}/`, haproxy: `http://${n1.ip}:${PORT.haproxy}/`, direct: `http://${target}:80/`,
    }
    const fromNode1 = (p: LabPath) => p === 'direct'
    for (const p of PATHS) {
      await waitFor(async () => {
        const r = fromNode1(p) ? await n1.exec(['curl', '-s', '-m', '2', urls[p]]) : await c.lab.client.exec(['curl', '-s', '-m', '2', urls[p]])
        if (p === 'haproxy' && !procs.at(-1)?.running()) throw new StopWaiting(`haproxy exited: ${procs.at(-1)?.tail(5)}`)
        return r.stdout.includes('ingress benchmark backend')
      }, 60_000, { intervalMs: 500, what: `${p}: ${urls[p]} serves the page` })
    }
    route = (await n1.exec(['ip', 'route', 'get', target])).stdout.trim()
    log(`node1: ip route get ${target}: ${route}`)
    const agentPid = findPid(['agent', '--name', n1.name, c.dataDir(n1)])
    const haproxyPid = findPid(['/usr/sbin/haproxy', '-f', join(work, 'haproxy.cfg')])
    if (agentPid === null || haproxyPid === null) throw new Error(`bench: node1's agent (${agentPid}) or haproxy (${haproxyPid}) not found in /proc`)
    for (let round = 0; round < a.rounds; round++) {
      for (let k = 0; k < PATHS.length; k++) {
        const path = PATHS[(round + k) % PATHS.length] as LabPath
        for (const conn of ['keepalive', 'close'] as Conn[]) {
          const cmd = ['wrk', '-t1', `-c${a.conns}`, `-d${a.seconds}s`, '--timeout', '2s', ...(conn === 'close' ? ['-H', 'Connection: close'] : []), urls[path]]
          const t0 = busyTicks()
          const ag0 = procTicks(agentPid)
          const hp0 = procTicks(haproxyPid)
          const r = fromNode1(path) ? await n1.exec(cmd, { timeoutMs: (a.seconds + 30) * 1000 }) : await c.lab.client.exec(cmd, { timeoutMs: (a.seconds + 30) * 1000 })
          const w = parseWrk(r.stdout)
          const per = (ticks: number) => (ticks * 10_000) / w.requests // jiffies of 10 ms → µs per request
          const s: Sample = { path, conn, round: round + 1, rps: w.rps, errors: w.errors, cpuUs: per(busyTicks() - t0), agentUs: per(procTicks(agentPid) - ag0), haproxyUs: per(procTicks(haproxyPid) - hp0) }
          samples.push(s)
          log(`round ${round + 1} ${path.padEnd(7)} ${conn.padEnd(9)} ${w.rps.toFixed(0).padStart(7)} req/s  errors ${w.errors}  machine ${s.cpuUs.toFixed(0)} µs/req  agent ${s.agentUs.toFixed(0)}  haproxy ${s.haproxyUs.toFixed(0)}`)
        }
      }
    }
  } finally {
    for (const p of procs.reverse()) await stop(p, 'SIGTERM', 5_000).catch(() => undefined)
    for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined)
    rmSync(work, { recursive: true, force: true })
  }
  return report(samples, a, { startedAt, load0, route, s: (Date.now() - started) / 1000 })
}

function report(samples: Sample[], a: LabArgs, m: { startedAt: string; load0: string; route: string; s: number }): string {
  const med = (p: LabPath, c: Conn, f: (s: Sample) => number) => median(samples.filter((s) => s.path === p && s.conn === c).map(f))
  const rows: string[] = []
  for (const c of ['keepalive', 'close'] as Conn[]) {
    for (const p of PATHS) {
      const ss = samples.filter((s) => s.path === p && s.conn === c)
      const own = p === 'haproxy' ? `${med(p, c, (s) => s.haproxyUs).toFixed(0)} (HAProxy)` : p === 'direct' ? '–' : `${med(p, c, (s) => s.agentUs).toFixed(0)} (agent)`
      rows.push(`| ${c === 'keepalive' ? 'keep-alive' : 'new conn/request'} | ${p} | ${ss.map((s) => s.rps.toFixed(0)).join(' ')} | **${med(p, c, (s) => s.rps).toFixed(0)}** | ${ss.reduce((x, s) => x + s.errors, 0)} | ${med(p, c, (s) => s.cpuUs).toFixed(0)} | ${own} |`)
    }
  }
  const ratios: string[] = []
  for (const c of ['keepalive', 'close'] as Conn[]) {
    const perRound = (x: LabPath, y: LabPath) => {
      const rs: number[] = []
      for (let r = 1; r <= a.rounds; r++) {
        const sx = samples.find((s) => s.path === x && s.conn === c && s.round === r)
        const sy = samples.find((s) => s.path === y && s.conn === c && s.round === r)
        if (sx && sy) rs.push(sx.rps / sy.rps)
      }
      return rs
    }
    for (const [x, y, goal] of [['mesh', 'direct', '≥ 0.5'], ['mesh', 'haproxy', '≥ 1.0'], ['local', 'mesh', '']] as const) {
      const rs = perRound(x, y)
      ratios.push(`| ${c === 'keepalive' ? 'keep-alive' : 'new conn/request'} | ${x} / ${y} | **${(med(x, c, (s) => s.rps) / med(y, c, (s) => s.rps)).toFixed(2)}** | ${rs.map((v) => v.toFixed(2)).join(' ')} | ${c === 'keepalive' ? goal : ''} |`)
    }
  }
  return `Measured ${m.startedAt} by \`npx tsx bench/ingress-wrk.ts --network ${a.network} --rounds ${a.rounds} --seconds ${a.seconds} --conns ${a.conns}${a.ingressMode === 'nft' ? ' --ingress-mode nft' : ''}\`
(as root, under the lab lock, ${m.s.toFixed(0)} s with the lab). Load average ${m.load0} at the start, ${load()} at the end.
Networks \`benchweb\` (\`web\`: tasks on node2 and node3 only, so node1 holds no slice of it) and \`benchlocal\` (\`webl\`, global):
${a.network === 'plain' ? '`--opt encrypted=false` (kernel VXLAN)' : 'encrypted (WireGuard)'}; node1's agent \`--ingress-mode ${a.ingressMode}\`.
node1 \`ip route get <web task>\`: \`${m.route.split('\n')[0]?.trim() ?? ''}\`.

| connections | path | req/s per round | median | errors | machine CPU µs/req | own CPU µs/req |
|---|---|---|---:|---:|---:|---:|
${rows.join('\n')}

| connections | ratio | of the medians | per round | goal |
|---|---|---:|---|---|
${ratios.join('\n')}
`
}
