/**
 * One agent's data plane at scale (issue 21, item 4): the catalog → ingress (listeners, balancers), DNS (zone) and
 * nft ruleset, in one process, the way agent/dataplane.ts wires them (Catalog with a file cache → Ingress and
 * DnsServer through their index.ts). `--nft netns` (default when `ip`, `unshare` and `nft` exist and we are root)
 * applies each ruleset inside a throwaway network namespace (the host's rules are never touched), by `--nft-exec`:
 * `lib` (default; libnftables in-process, src/base/nft.ts) or `process` (`nft -f -`), the whole bench then running
 * under `unshare -n` (loopback up; the namespace goes with the process), or `ip-netns` (`ip netns exec NS nft -f -`
 * per change from the host's namespace, as before the runner existed). `--nft render` only hands the text to a
 * recording exec.
 *
 *   node bench/agent-scale.ts [--services 1000] [--per-service 10] [--seconds 30] [--churn 0.01] [--ticks 10]
 *        [--idle 10000] [--mode nft|userspace] [--nft netns|render] [--port-base 20000] [--dnsmasq on|off] [--vip-rules on|off]
 *        [--nft-exec lib|process|ip-netns]
 *        [--heap-snapshot FILE]
 *
 * 1. Load: `services` × `per-service` endpoints, each service with a VIP and one published TCP port on 127.0.0.1.
 * 2. Churn: `churn` of the endpoints per second (1 %: 100 of 10,000), in `ticks` snapshots a second, for `seconds`.
 *    Per snapshot: the time from Catalog.apply() to (a) the ingress following it (Ingress `reconciled`), (b) the nft
 *    ruleset text handed to `nft -f` and `nft -f` done (netns), (c) the DNS answering `tasks.<changed service>` with the new address over
 *    UDP. A snapshot waits for the three before the next (at most 5 s each); late ticks are counted.
 *    RSS (split into private and shared pages on Linux), heap and CPU (user+system of this process over the churn,
 *    % of one core).
 * 3. Idle connections: `idle` TCP connections from a child process through one published port to a backend in
 *    another child (both on 127.0.0.x), held open: RSS and open descriptors of this process before and after.
 *    They need 2 descriptors each here (the ingress fd budget: 80 % of RLIMIT_NOFILE): for 10,000 raise the limit,
 *    `prlimit --nofile=65536:65536 node bench/agent-scale.ts` (Node raises its soft limit to the hard one).
 * 4. Peer (`--dnsmasq on`, when /usr/sbin/dnsmasq exists): dnsmasq serving the same names from a hosts file: its
 *    RSS, and the time from a changed hosts file + SIGHUP to the new answer (5 times).
 * Everything is bounded (timeouts on every wait); children are stopped by PID and the temp dir removed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8'
import { createNftRunner, nftErrorLine } from '../src/base/index.ts'
import { Catalog, FileCatalogStore } from '../src/catalog/index.ts'
import { DnsServer } from '../src/dns/index.ts'
import { Ingress, execCommand } from '../src/ingress/index.ts'
import { ScaleCatalog } from './scale-catalog.ts'
import { Arrivals, dnsAsk, holdConnections, percentile, serveBackend, sleep, waitFor, type Child } from './scale-io.ts'

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : def
}
const num = (name: string, def: number): number => Number(arg(name, String(def)))

const MB = 1024 * 1024
/** RSS and heap now; with `node --expose-gc` also the heap still reachable after a full collection (`liveMb`). */
const mem = () => {
  const m = { rssMb: +(process.memoryUsage().rss / MB).toFixed(1), heapMb: +(process.memoryUsage().heapUsed / MB).toFixed(1), ...smaps() }
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) return m
  gc()
  const u = process.memoryUsage()
  return { ...m, liveMb: +(u.heapUsed / MB).toFixed(1), rssAfterGcMb: +(u.rss / MB).toFixed(1), heapTotalMb: +(u.heapTotal / MB).toFixed(1), externalMb: +(u.external / MB).toFixed(1) }
}
/**
 * RSS split (Linux): `privateMb` is this process's own memory (heap, code, malloc); `sharedMb` the file pages it
 * shares with every other process mapping them (mostly the node binary's text: ~50 MB whatever the catalog).
 */
function smaps(): { privateMb?: number; sharedMb?: number; split?: Record<string, number> } {
  try {
    const t = readFileSync('/proc/self/smaps_rollup', 'utf8')
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? 0)
    return { privateMb: +((kb('Private_Dirty') + kb('Private_Clean')) / 1024).toFixed(1), sharedMb: +((kb('Shared_Clean') + kb('Shared_Dirty')) / 1024).toFixed(1), split: rssSplit() }
  } catch {
    return {}
  }
}
/**
 * Where the RSS is (MB): `binary` the node executable's own file pages, `libs` other files mapped, `brk` glibc's main
 * malloc heap, `anon` every other anonymous mapping (V8's heap pages, ArrayBuffer backing stores, malloc's mmapped
 * arenas and large blocks, thread stacks); and V8's own view: `v8Committed` (every heap space's committed memory),
 * `v8Code` (code space committed), `v8Slack` (committed minus used: what V8 holds beyond its objects).
 */
function rssSplit(): Record<string, number> {
  const t = readFileSync('/proc/self/smaps', 'utf8')
  const out = { binary: 0, libs: 0, brk: 0, anon: 0 }
  let cat: keyof typeof out = 'anon'
  for (const line of t.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line)
    if (head) {
      const path = head[1] ?? ''
      cat = path === '[heap]' ? 'brk' : path.startsWith('/') ? (path === process.execPath || path.endsWith('/bin/node') ? 'binary' : 'libs') : 'anon'
      continue
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line)
    if (rss) out[cat] += Number(rss[1])
  }
  const spaces = getHeapSpaceStatistics()
  const committed = spaces.reduce((a, s) => a + s.physical_space_size, 0)
  const used = spaces.reduce((a, s) => a + s.space_used_size, 0)
  const code = spaces.filter((s) => s.space_name.startsWith('code')).reduce((a, s) => a + s.physical_space_size, 0)
  const r = (x: number) => +x.toFixed(1)
  return { binary: r(out.binary / 1024), libs: r(out.libs / 1024), brk: r(out.brk / 1024), anon: r(out.anon / 1024), v8Committed: r(committed / MB), v8Code: r(code / MB), v8Slack: r((committed - used) / MB), arrayBuffers: r(process.memoryUsage().arrayBuffers / MB) }
}
const fds = () => readdirSync('/proc/self/fd').length
const stats = (xs: number[]) => ({ n: xs.length, p50: +percentile(xs, 50).toFixed(2), p99: +percentile(xs, 99).toFixed(2), max: +percentile(xs, 100).toFixed(2) })

async function main(): Promise<void> {
  const services = num('services', 1000)
  const perService = num('per-service', 10)
  const seconds = num('seconds', 30)
  const churn = num('churn', 0.01)
  const ticks = num('ticks', 10)
  const idle = num('idle', 10_000)
  const mode = arg('mode', 'nft') as 'nft' | 'userspace'
  const portBase = num('port-base', 20_000)
  const wantDnsmasq = arg('dnsmasq', 'on') === 'on' && existsSync('/usr/sbin/dnsmasq')
  // off: no VIP ruleset at all (userspace mode then writes no nft), to weigh the catalog, ingress and DNS alone.
  const vipRules = arg('vip-rules', 'on') === 'on'
  const canNetns = process.getuid?.() === 0 && ['/usr/sbin/nft', '/usr/sbin/ip', '/sbin/ip', '/bin/ip'].filter(existsSync).length >= 2
  const nftWay = arg('nft-exec', 'lib') as 'lib' | 'process' | 'ip-netns'
  const inNetns = arg('nft', canNetns ? 'netns' : 'render') === 'netns'
  if (inNetns && nftWay !== 'ip-netns' && process.env.MESH_BENCH_NETNS !== '1') {
    // Run again inside a new network namespace with loopback up: every listener, child and rule lives there.
    const r = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
      { env: { ...process.env, MESH_BENCH_NETNS: '1' }, stdio: 'inherit', timeout: 60 * 60_000 })
    process.exit(r.status ?? 1)
  }
  const runner = inNetns && nftWay !== 'ip-netns' ? createNftRunner(nftWay === 'lib' ? 'lib' : 'process') : null
  const netns = inNetns && nftWay === 'ip-netns' ? `mesh-scale-${process.pid}` : null
  const dir = mkdtempSync(join(tmpdir(), 'mesh-scale-'))
  const children: ChildProcess[] = []
  let ingress: Ingress | null = null
  let dns: DnsServer | null = null
  const out: Record<string, unknown> = { services, perService, endpoints: services * perService, seconds, churnPerSec: churn, ticksPerSec: ticks, mode, nft: inNetns ? 'netns' : 'render', nftExec: runner?.kind ?? (netns ? 'ip-netns' : 'none'), vipRules, load: loadavg()[0] }
  try {
    if (netns) await execCommand('ip', ['netns', 'add', netns])
    // --- 1. load
    const sc = new ScaleCatalog({ services, perService, portBase })
    // The agent's cache as agent/dataplane.ts makes it (catalog.json written at most once a second, off the apply
    // path: temp file + fsync + rename through fs/promises); what save() costs inside Catalog.apply() is timed apart.
    const file = new FileCatalogStore(dir, { coalesceMs: 1000, onError: (err) => console.error(`catalog cache: ${err.message}`) })
    const saveMs: number[] = []
    const store = { load: () => file.load(), save: (s: Parameters<FileCatalogStore['save']>[0]) => { const a = performance.now(); file.save(s); saveMs.push(performance.now() - a) } }
    const catalog = new Catalog({ store })
    // Each stage reports the revision it has caught up with; the churn's latencies are taken from these.
    let reconciledRev = 0
    let nftDoneRev = 0
    let nftBytes = 0
    let nftErrors = 0
    let nftFirstMs = 0
    const lat = { ingress: new Arrivals(), nftRendered: new Arrivals(), nftApplied: new Arrivals() }
    ingress = new Ingress({
      catalog, mode, vipRules, bindAddr: '127.0.0.1', log: (level, msg, f) => { if (level === 'error') console.error(msg, f) },
      activeCheck: false, // its endpoints are not there to probe: every check would fail and eject
      reconciled: (snap) => { reconciledRev = snap.revision; lat.ingress.arrived(snap.revision, performance.now()) },
      exec: async (_cmd, args, input) => {
        if (args[0] !== '-f') return ''
        const rev = reconciledRev
        const a = performance.now()
        lat.nftRendered.arrived(rev, a)
        nftBytes = input?.length ?? 0
        const failed = (why: string) => { nftErrors++; if (nftErrors === 1) console.error(`nft -f (${nftWay}): ${why.slice(0, 300)}`) }
        if (runner) await runner.run(input ?? '').then((r) => { if (!r.ok) failed(nftErrorLine(r)) })
        else if (netns) await execCommand('ip', ['netns', 'exec', netns, 'nft', ...args], input).catch((err: Error) => failed(err.message))
        if (rev === 1) nftFirstMs = performance.now() - a
        nftDoneRev = rev
        lat.nftApplied.arrived(rev, performance.now())
        return ''
      },
    })
    dns = new DnsServer({ catalog, listen: [{ host: '127.0.0.1', port: 0 }], upstreams: [], ttlSec: 5 })
    await ingress.start()
    await dns.start()
    const dnsAddr = dns.status().listen[0] as { host: string; port: number }
    const before = mem()
    const t0 = performance.now()
    catalog.apply(sc.snapshot())
    const nftOn = mode === 'nft' || vipRules
    await waitFor(() => reconciledRev >= 1 && (!nftOn || nftDoneRev >= 1), 120_000, 'the first catalog in the ingress and nft')
    const ans = await dnsAsk(dnsAddr, `tasks.${sc.name(services - 1)}`, 10_000)
    out.load = { ms: +(performance.now() - t0).toFixed(0), nftApplyMs: +nftFirstMs.toFixed(0), dnsAnswers: ans.length, nftRulesetKb: +(nftBytes / 1024).toFixed(0), before, after: mem(), fds: fds(), listeners: ingress.status().length }
    console.log('load', JSON.stringify(out.load))

    // --- 2. churn
    const perTick = Math.max(1, Math.round((sc.endpoints * churn) / ticks))
    const applyMs: number[] = []
    // One DNS prober, one query in flight (≤ 200 queries/s, not a flood that would slow what it measures): it asks
    // for the newest change; its answer covers every earlier one (the zone follows the newest snapshot).
    const dnsLat = new Arrivals()
    const probe: { newest: { rev: number; service: string; ip: string } | null; churning: boolean } = { newest: null, churning: true }
    let dnsTimeouts = 0
    const prober = (async () => {
      let done = 0
      while (probe.churning || (probe.newest !== null && probe.newest.rev > done)) {
        const n = probe.newest
        if (n === null || n.rev <= done) { await sleep(1); continue }
        await dnsAsk(dnsAddr, `tasks.${n.service}`, 10_000, n.ip).then(() => dnsLat.arrived(n.rev, performance.now()), () => { dnsTimeouts++ })
        done = n.rev
      }
    })()
    let late = 0
    let maxRss = 0
    const cpu0 = process.cpuUsage()
    const wall0 = performance.now()
    const end = wall0 + seconds * 1000
    for (let next = wall0; performance.now() < end; next += 1000 / ticks) {
      const wait = next - performance.now()
      if (wait > 0) await sleep(wait)
      else late++
      const { snap, service, ip } = sc.churn(perTick)
      const a = performance.now()
      for (const s of [...(nftOn ? Object.values(lat) : [lat.ingress]), dnsLat]) s.expect(snap.revision, a)
      catalog.apply(snap)
      applyMs.push(performance.now() - a)
      probe.newest = { rev: snap.revision, service, ip }
      maxRss = Math.max(maxRss, process.memoryUsage().rss)
    }
    // Let every stage catch up with the last snapshot (bounded): the ingress and nft coalesce, so one pass may serve several.
    const lastRev = sc.snapshot().revision
    await waitFor(() => reconciledRev >= lastRev && (!nftOn || nftDoneRev >= lastRev), 60_000, 'the ingress and nft to catch up').catch((err: Error) => console.error(err.message))
    probe.churning = false
    await prober
    await file.flush()
    const cpu = process.cpuUsage(cpu0)
    const wall = performance.now() - wall0
    out.churn = {
      perTick, snapshots: applyMs.length, late, endpointChangesPerSec: +((applyMs.length * perTick) / (wall / 1000)).toFixed(1), dnsTimeouts,
      cpuPct: +(((cpu.user + cpu.system) / 1000 / wall) * 100).toFixed(1), maxRssMb: +(maxRss / MB).toFixed(1), ...mem(),
      nftErrors,
      ms: {
        catalogApply: stats(applyMs), catalogCacheWrite: stats(saveMs.slice(1)), ingress: stats(lat.ingress.ms), nftRendered: stats(lat.nftRendered.ms),
        nftApplied: stats(lat.nftApplied.ms), dns: stats(dnsLat.ms),
      },
    }
    console.log('churn', JSON.stringify(out.churn))
    // What is live after the churn, for a heap profiler (Chrome DevTools' Memory tab, or bench/heap-summary.ts).
    const snapPath = arg('heap-snapshot', '')
    if (snapPath !== '') console.log('heap snapshot', writeHeapSnapshot(snapPath))

    // --- 3. idle connections through one published port
    if (idle > 0) out.idle = await idlePhase(sc, catalog, ingress, idle, portBase + services, children)
    if (out.idle) console.log('idle', JSON.stringify(out.idle))

    // --- 4. dnsmasq with the same names
    if (wantDnsmasq) out.dnsmasq = await dnsmasqPeer(sc, dir, children)
    else out.dnsmasq = 'skipped (--dnsmasq off or /usr/sbin/dnsmasq missing)'
    console.log('dnsmasq', JSON.stringify(out.dnsmasq))
    console.log(JSON.stringify(out))
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
    await ingress?.stop().catch(() => undefined)
    await dns?.stop().catch(() => undefined)
    if (netns) await execCommand('ip', ['netns', 'delete', netns]).catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  }
}

async function idlePhase(sc: ScaleCatalog, catalog: Catalog, ingress: Ingress, n: number, port: number, children: ChildProcess[]) {
  const self = fileURLToPath(import.meta.url)
  const backend: Child = await serveBackend(self, '127.0.0.2', 18_080, children)
  catalog.apply(sc.add({
    id: 'idle', name: 'idle', shortName: 'idle', endpointMode: 'dnsrr', stopGracePeriodMs: 0,
    ports: [{ protocol: 'tcp', target: 18_080, published: port, mode: 'ingress' }],
    endpoints: [{ taskId: 'idle1', slot: 1, taskName: 'idle.1', nodeId: 'n0', node: 'node0', ip: '127.0.0.2', state: 'running', health: 'none' }],
  }))
  const open = () => ingress.status().find((p) => p.published === port)?.open ?? 0
  await waitFor(() => ingress.status().some((p) => p.published === port), 10_000, 'the idle port listening')
  const base = { ...mem(), fds: fds() }
  const limits0 = ingress.limits()
  const t0 = performance.now()
  const held = await holdConnections(self, '127.0.0.1', port, n, children)
  await waitFor(() => open() >= held.open, 60_000, 'the proxy to hold every connection').catch(() => undefined)
  await sleep(500)
  const with_ = { ...mem(), fds: fds() }
  const lim = ingress.limits()
  const heldHere = open()
  const r = {
    asked: n, clientConnected: held.connected, clientOpen: held.open, clientFailed: held.failed, heldByIngress: heldHere, ms: +(performance.now() - t0).toFixed(0),
    refusedFdBudget: lim.refusedFdBudget - limits0.refusedFdBudget, fdBudget: lim.fdBudget, before: base, with: with_,
    rssKbPerConnection: heldHere > 0 ? +(((with_.rssMb - base.rssMb) * 1024) / heldHere).toFixed(2) : null,
    fdsPerConnection: heldHere > 0 ? +((with_.fds - base.fds) / heldHere).toFixed(2) : null,
  }
  held.child.kill('SIGKILL')
  backend.child.kill('SIGKILL')
  await waitFor(() => open() === 0, 30_000, 'the held connections to close').catch(() => undefined)
  return r
}

async function dnsmasqPeer(sc: ScaleCatalog, dir: string, children: ChildProcess[]) {
  const hosts = join(dir, 'hosts')
  writeFileSync(hosts, sc.hostsFile())
  const addr = { host: '127.0.0.83', port: 15_383 }
  const p = spawn('/usr/sbin/dnsmasq', ['--conf-file=/dev/null', '--no-daemon', '--no-resolv', '--no-hosts', `--addn-hosts=${hosts}`,
    `--listen-address=${addr.host}`, `--port=${addr.port}`, '--bind-interfaces', '--local-ttl=5', '--log-facility=/dev/null', '--pid-file=', '-u', 'root'],
  { stdio: ['ignore', 'ignore', 'ignore'] })
  children.push(p)
  await dnsAsk(addr, `tasks.${sc.name(0)}`, 10_000)
  const rssMb = +(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024).toFixed(1)
  const reload: number[] = []
  for (let i = 0; i < 5; i++) {
    const { service, ip } = sc.churn(1)
    writeFileSync(hosts, sc.hostsFile())
    const a = performance.now()
    p.kill('SIGHUP')
    await dnsAsk(addr, `tasks.${service}`, 5000, ip)
    reload.push(performance.now() - a)
  }
  p.kill('SIGKILL')
  return { rssMb, records: sc.endpoints + (sc.snapshot().services.length), reloadMs: stats(reload) }
}

const role = process.argv[2]
if (role === '--backend' || role === '--hold') {
  const { childMain } = await import('./scale-io.ts')
  await childMain(process.argv.slice(2))
} else {
  main().then(() => process.exit(0), (err: Error) => {
    console.error(`bench/agent-scale: ${err.message}`)
    process.exit(1)
  })
}
