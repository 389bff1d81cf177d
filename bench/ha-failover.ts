/**
 * Manager failover benchmark (issue 15) on the netns lab: 3 managers (node1 `--init --store etcd`, node2 and node3
 * joined with the manager token) and 2 workers, `mesh agent` as a user runs it. Sections (`--only a,b`):
 *  - failover:  `--rounds` times, kill -9 the leading manager's agent and its etcd member (by PID) and measure from
 *               the kill to (i) the first write acknowledged through a surviving manager (POST scale on its
 *               manager.sock, one attempt at a time, 5 s each), (ii) the first write acknowledged by the admin CLI
 *               naming the killed manager first (MESH_HOST=tcp://dead,tcp://b,tcp://c: the CLI's failover order),
 *               (iii) the first `node ls` of a survivor naming a new Leader, (iv) the first task of service `fo`
 *               (5 replicas, one per node) running that was not there before the kill: the replacement of the
 *               killed node's task. Then the node comes back and the next round starts from a full cluster.
 *  - create:    service create latency (the API's answer, `-d`) on 1 manager with SQLite, 1 manager with its own
 *               one-member etcd, and the 3 managers (each its own lab).
 *  - partition: the leader's lab link down for `--partition-s` s: writes through it are refused (quorum line),
 *               the two others elect a leader and keep scheduling (a service created on them converges); after the
 *               heal, no slot has two running tasks.
 *  - soak:      `--soak` acknowledged-or-failed writes from the admin CLI (create/scale/update/rm, through the three
 *               managers in turn), the leader killed -9 midway; the final state checked Jepsen-style
 *               (test/e2e/ha/history.ts).
 *  - restore:   disaster recovery: backup, every manager killed and wiped, restore into SQLite on node1, node1 alone,
 *               node2 and node3 joined again (the first join moves the store into etcd); a request loop through a
 *               worker's published port throughout; services back, workers following the restored catalog.
 * Prints `uptime` before and after and the figures (median, min, max). Usage (root, alone on the machine, under
 * `flock /work/tools/e2e.lock`): npx tsx bench/ha-failover.ts [--rounds 5] [--only failover,create,partition,soak,restore]
 * [--partition-s 30] [--soak 200] [--agent-args '--etcd-election-ms 1000 …'] (flags for every agent of the 3-manager lab). Network: only the lab's namespaces; processes killed by PID; labs down in finally.
 */
import { execFileSync } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { LabNode } from '../test/lab/index.ts'
import { isRoot } from '../test/lab/index.ts'
import { MESH_BIN, waitFor } from '../test/support/procs.ts'
import { meshLab, type MeshLab } from '../test/support/mesh-lab.ts'
import { ManagerClient, defaultServiceSpec } from '../src/api/index.ts'
import { AdminCli, IMAGE, killManager, observe, restartManager, SLEEP } from '../test/e2e/ha/cluster.ts'
import { checkHistory, History, opArgs, workload } from '../test/e2e/ha/history.ts'

const SECTIONS = ['failover', 'create', 'partition', 'soak', 'restore'] as const
type Section = (typeof SECTIONS)[number]

function parseArgs(argv: string[]): { rounds: number; only: Set<Section>; partitionS: number; soak: number; agentArgs: string[] } {
  const o = { rounds: 5, only: new Set<Section>(SECTIONS), partitionS: 30, soak: 200, agentArgs: [] as string[] }
  for (let i = 0; i < argv.length; i++) {
    const [k, v] = [argv[i], argv[i + 1] ?? '']
    if (k === '--rounds') o.rounds = Number(v)
    else if (k === '--partition-s') o.partitionS = Number(v)
    else if (k === '--soak') o.soak = Number(v)
    else if (k === '--agent-args') o.agentArgs = v.split(' ').filter(Boolean)
    else if (k === '--only') o.only = new Set(v.split(',').filter((x): x is Section => (SECTIONS as readonly string[]).includes(x)))
    else throw new Error(`bench: unknown flag ${k}`)
    i++
  }
  return o
}

const log = (s: string): void => console.log(s)
const uptime = (): string => execFileSync('uptime', { encoding: 'utf8' }).trim()
const api = (c: MeshLab, n: LabNode, timeoutMs = 5000): ManagerClient => new ManagerClient({ dataDir: c.dataDir(n), timeoutMs })
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

interface NodeView { id: string; hostname: string; state: string; managerStatus?: { leader?: boolean; reachability?: string } }
interface TaskView { id: string; nodeId: string; slot: number; desiredState: string; status: { state: string } }

async function leaderOf(c: MeshLab, on: LabNode): Promise<string | undefined> {
  const nodes = await api(c, on).request<NodeView[]>('GET', '/v1/nodes')
  return nodes.find((n) => n.managerStatus?.leader)?.hostname
}

async function runningTasks(c: MeshLab, on: LabNode, service: string): Promise<TaskView[]> {
  const ts = await api(c, on).request<TaskView[]>('GET', `/v1/tasks?service=${encodeURIComponent(service)}`)
  return ts.filter((x) => x.desiredState === 'running' && x.status.state === 'running')
}

function stats(xs: readonly number[], unit: 's' | 'ms' = 's'): string {
  const f = (v: number): string => (unit === 's' ? (v / 1000).toFixed(2) : v.toFixed(0))
  const s = [...xs].sort((a, b) => a - b)
  if (s.length === 0) return 'n/a'
  const med = s.length % 2 ? s[(s.length - 1) / 2] as number : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2
  return `median ${f(med)} ${unit}, min ${f(s[0] as number)}, max ${f(s.at(-1) as number)} (n=${s.length})`
}

async function threeManagers(cleanups: (() => unknown)[], agentArgs: string[]): Promise<MeshLab> {
  return meshLab({ teardown: (fn) => { cleanups.push(fn) } }, { nodes: 5, managers: 3, managerArgs: ['--store', 'etcd'], agentArgs, prefix: `hb${randomBytes(3).toString('hex')}` })
}

/**
 * Polls `check` every `everyMs` from `t0` until it is true; when the first true answer came, ms after t0 (NaN after
 * 180 s). The answer's time, not the request's: a write counts once it is acknowledged.
 */
async function firstTime(t0: number, everyMs: number, check: () => Promise<boolean>): Promise<number> {
  while (Date.now() - t0 < 180_000) {
    if (await check().catch(() => false)) return Date.now() - t0
    await sleep(everyMs)
  }
  return Number.NaN
}

let probeWrites = 0

async function failover(c: MeshLab, admin: AdminCli, rounds: number): Promise<Record<string, number[]>> {
  const r: Record<string, number[]> = { write: [], cli: [], leader: [], task: [] }
  const all = c.managers
  await admin.run(['service', 'create', '--no-resolve-image', '--name', 'fo', '--replicas', '5', '--update-monitor', '1s', IMAGE, ...SLEEP], 0, 180_000)
  // Every probe write sets a new replica count (a scale to the current count commits nothing); no node matches its
  // constraint, so its tasks stay pending and cost the nodes nothing.
  await admin.run(['service', 'create', '-d', '--no-resolve-image', '--name', 'probe', '--replicas', '0', '--constraint', 'node.labels.none==x', IMAGE, ...SLEEP], 0, 60_000)
  for (let k = 0; k < rounds; k++) {
    const leader = await waitFor(() => leaderOf(c, c.manager), 60_000, { intervalMs: 500, what: 'a leader' })
    const victim = all.find((n) => n.name === leader) as LabNode
    const survivors = all.filter((n) => n !== victim)
    const byId = new Map((await api(c, c.manager).request<NodeView[]>('GET', '/v1/nodes')).map((n) => [n.id, n.hostname]))
    await waitFor(async () => (await runningTasks(c, c.manager, 'fo')).length === 5, 120_000, { intervalMs: 1000, what: 'fo 5/5' })
    const before = new Set((await runningTasks(c, c.manager, 'fo')).map((x) => x.id))
    const t0 = Date.now()
    await killManager(c, victim)
    const [write, cli, lead, task] = await Promise.all([
      firstTime(t0, 0, async () => {
        await api(c, survivors[probeWrites % 2] as LabNode).request('POST', '/v1/services/probe/scale', { replicas: ++probeWrites })
        return true
      }),
      firstTime(t0, 0, async () => (await admin.run(['service', 'scale', '-d', `probe=${++probeWrites}`], all.indexOf(victim), 30_000)).code === 0),
      firstTime(t0, 100, async () => {
        const l = await leaderOf(c, survivors[0] as LabNode)
        return l !== undefined && l !== victim.name
      }),
      firstTime(t0, 250, async () => (await runningTasks(c, survivors[0] as LabNode, 'fo')).some((x) => !before.has(x.id) && byId.get(x.nodeId) !== victim.name)),
    ])
    log(`round ${k + 1}: killed ${victim.name}; write ${write} ms, cli ${cli} ms, new leader ${lead} ms, task replaced ${task} ms`)
    r.write?.push(write)
    r.cli?.push(cli)
    r.leader?.push(lead)
    r.task?.push(task)
    await restartManager(c, victim)
  }
  return r
}

async function createLatency(c: MeshLab, label: string, n = 10): Promise<number[]> {
  const ms: number[] = []
  const client = api(c, c.manager, 60_000)
  for (let i = 0; i < n; i++) {
    const spec = { ...defaultServiceSpec(`lat${i}`, IMAGE), command: SLEEP, mode: { replicated: { replicas: 0 } } }
    const t0 = performance.now()
    await client.request('POST', '/v1/services?resolveImage=never', spec) // the store's latency, not a registry lookup (the lab has no uplink)
    ms.push(performance.now() - t0)
  }
  log(`create ${label}: ${ms.map((x) => x.toFixed(0)).join(' ')} ms`)
  return ms
}

/** The service probe writes scale (created by the failover section; here when it did not run). */
async function ensureProbe(admin: AdminCli): Promise<void> {
  await admin.run(['service', 'create', '-d', '--no-resolve-image', '--name', 'probe', '--replicas', '0', '--constraint', 'node.labels.none==x', IMAGE, ...SLEEP], 0, 60_000)
}

async function partition(c: MeshLab, admin: AdminCli, seconds: number): Promise<void> {
  await ensureProbe(admin)
  const leader = await waitFor(() => leaderOf(c, c.manager), 60_000, { intervalMs: 500, what: 'a leader' })
  const victim = c.managers.find((n) => n.name === leader) as LabNode
  const others = c.managers.filter((n) => n !== victim)
  const link = ['ip', '-n', `${c.lab.prefix}-net`, 'link', 'set', `v${victim.index}`]
  const t0 = Date.now()
  execFileSync(link[0] as string, [...link.slice(1), 'down'])
  try {
    const lead = await firstTime(t0, 100, async () => {
      const l = await leaderOf(c, others[0] as LabNode)
      return l !== undefined && l !== victim.name
    })
    const refused = await c.mesh(['service', 'scale', '-d', `probe=${++probeWrites}`], 60_000, victim)
    const created = await admin.run(['service', 'create', '--no-resolve-image', '--name', 'part', '--replicas', '2', '--update-monitor', '1s', IMAGE, ...SLEEP], c.managers.indexOf(others[0] as LabNode), 120_000)
    log(`partition of ${victim.name}: new leader after ${lead} ms; write through ${victim.name}: exit ${refused.code} ${refused.stderr.trim().split('\n').at(-1)}; ` +
      `create through the majority: exit ${created.code} after ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    const left = seconds * 1000 - (Date.now() - t0)
    if (left > 0) await sleep(left)
  } finally {
    execFileSync(link[0] as string, [...link.slice(1), 'up'])
  }
  const healed = Date.now()
  const ok = await firstTime(healed, 1000, async () => {
    const s = await observe(c, (args) => admin.run(args, 0))
    const dup = s.containers.filter((x, i, a) => a.findIndex((y) => y.name.split('.').slice(0, 2).join('.') === x.name.split('.').slice(0, 2).join('.')) !== i)
    return dup.length === 0 && (await c.mesh(['service', 'scale', '-d', `probe=${++probeWrites}`], 30_000, victim)).code === 0
  })
  log(`after the heal: writes through ${victim.name} again and no slot with two running containers after ${ok} ms`)
}

/**
 * Disaster recovery as docs/operations.md says (Swarm's --force-new-cluster): `mesh manager backup` on a manager,
 * every manager killed -9 and its data dir wiped, `mesh manager restore` into SQLite on node1, node1 started alone,
 * the stale manager records removed, node2 and node3 joined again with the manager token (the first join moves the
 * store into etcd). A request loop through a worker's published port runs throughout (the data plane never waits);
 * afterwards the services are back, the workers follow the restored catalog (a scale lands on them) and there are
 * 3 managers again.
 */
async function restore(c: MeshLab, admin: AdminCli): Promise<void> {
  const [m1, m2, m3] = c.managers as [LabNode, LabNode, LabNode]
  const w1 = c.workers[0] as LabNode
  const WEB = ['sh', '-c', 'mkdir -p /www && echo "$MESH_TASK_NAME" > /www/index.html && exec httpd -f -p 80 -h /www']
  const created = await admin.run(['service', 'create', '--no-resolve-image', '--name', 'dr', '--replicas', '2', '--constraint', 'node.role==worker', '--update-monitor', '1s', '-p', '8090:80', IMAGE, ...WEB], 0, 180_000)
  if (created.code !== 0) throw new Error(`restore: dr: ${created.stderr.trim()}`)
  await waitFor(async () => (await c.fetchLoop(w1.ip, 8090, 3)).every((x) => x.body.startsWith('dr.')), 60_000, { intervalMs: 500, what: 'dr through node4' })
  const names = async (on: LabNode): Promise<string[]> => (await c.mesh(['service', 'ls', '--format', '{{.Name}}'], 60_000, on)).stdout.trim().split('\n').filter(Boolean).sort()
  const before = await names(m1)
  const file = join(c.lab.stateDir, 'dr.backup')
  const b = await c.mesh(['manager', 'backup', '--with-kek', file], 120_000, m1) // the data dirs are wiped: the KEK must come back with it
  if (b.code !== 0) throw new Error(`restore: backup: ${b.stderr.trim()}`)
  const stop = join(c.lab.stateDir, 'dr-stop-loop')
  const loop = c.fetchLoop(w1.ip, 8090, 20_000, 0.1, 900, stop)
  const t0 = Date.now()
  for (const m of [m1, m2, m3]) await killManager(c, m)
  for (const m of [m1, m2, m3]) rmSync(c.dataDir(m), { recursive: true, force: true })
  const r = await m1.exec(['node', MESH_BIN, 'manager', 'restore', file, '--data-dir', c.dataDir(m1)], { timeoutMs: 120_000 })
  if (r.code !== 0) throw new Error(`restore: mesh manager restore: ${r.stderr.trim()}`)
  const p = c.agent(m1, [])
  await waitFor(async () => {
    if (!p.running()) throw new Error(`node1's agent exited: ${p.tail(5)}`)
    return (await c.mesh(['node', 'ls'], 30_000, m1)).code === 0
  }, 120_000, { intervalMs: 1000, what: 'the restored manager serving' })
  const serving = Date.now() - t0
  const after = await names(m1)
  // The workers follow the restored store: a scale of dr lands a third task on one of them.
  const scaled = await c.mesh(['service', 'scale', 'dr=3'], 180_000, m1)
  const followed = Date.now() - t0
  const rm = await c.mesh(['node', 'rm', '--force', m2.name, m3.name], 60_000, m1)
  const token = (await c.mesh(['token', 'show', 'manager', '-q'], 30_000, m1)).stdout.trim()
  for (const m of [m2, m3]) {
    const q = c.agent(m, ['--join', m1.ip], { MESH_JOIN_TOKEN: token })
    await waitFor(async () => {
      if (!q.running()) throw new Error(`${m.name}'s agent exited at join: ${q.tail(5)}`)
      return (await c.mesh(['node', 'ls'], 30_000, m)).code === 0
    }, 180_000, { intervalMs: 1000, what: `${m.name} a manager again` })
  }
  const managers = (await c.mesh(['node', 'ls', '--format', '{{.Hostname}} {{.ManagerStatus}}'], 30_000, m1)).stdout.trim()
  writeFileSync(stop, '')
  const got = await loop
  const failed = got.filter((x) => !x.body.startsWith('dr.')).length
  log(`restore: services before ${before.length}, after ${after.length}, same: ${JSON.stringify(before) === JSON.stringify(after)}; ` +
    `restored manager serving ${(serving / 1000).toFixed(1)} s after the kill; scale dr=3 exit ${scaled.code} (${scaled.stderr.trim().split('\n').at(-1) ?? ''}) at ${(followed / 1000).toFixed(1)} s; ` +
    `node rm exit ${rm.code}; managers again: ${managers.replace(/\n/g, ' | ')}; published port: ${got.length} requests, ${failed} failed`)
}

async function soak(c: MeshLab, admin: AdminCli, n: number): Promise<void> {
  const leader = await waitFor(() => leaderOf(c, c.manager), 60_000, { intervalMs: 500, what: 'a leader' })
  const victim = c.managers.find((x) => x.name === leader) as LabNode
  const h = new History()
  const t0 = Date.now()
  let killing: Promise<void> | undefined
  for (const [i, spec] of workload('s', 12, n).entries()) {
    if (i === Math.floor(n / 2)) killing = killManager(c, victim).then(() => restartManager(c, victim))
    const s = Date.now()
    const r = await admin.run(opArgs(spec, IMAGE, SLEEP), i % 3)
    h.record(spec, (c.managers[i % 3] as LabNode).name, r.code === 0, r.code === 0 ? '' : r.stderr.trim().split('\n').at(-1) ?? '', s, Date.now())
  }
  await killing
  let problems: string[] = []
  const at = await firstTime(Date.now(), 2000, async () => {
    const s = await observe(c, (args) => admin.run(args, 0))
    problems = checkHistory(h.ops, s.services.filter((x) => /^s\d+$/.test(x.name)), s.tasks, s.containers.filter((x) => /^s\d+\./.test(x.name)))
    return problems.length === 0
  })
  log(`soak: ${h.ops.length} writes in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${h.acknowledged} acknowledged, ${h.failed} failed (killed ${victim.name} at op ${Math.floor(n / 2)}); ` +
    `consistent after ${at} ms; problems: ${problems.length === 0 ? 'none' : problems.join('; ')}`)
  for (const o of h.ops) if (!o.ok) log(`  failed op ${o.i} ${o.kind} ${o.service} via ${o.via}: ${o.err}`)
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2))
  if (!isRoot()) throw new Error('bench: needs root (the lab builds namespaces)')
  log(`load before: ${uptime()}${o.agentArgs.length > 0 ? `; every agent with ${o.agentArgs.join(' ')}` : ''}`)
  const results: string[] = []
  if (o.only.has('failover') || o.only.has('partition') || o.only.has('soak') || o.only.has('create') || o.only.has('restore')) {
    const cleanups: (() => unknown)[] = []
    try {
      const c = await threeManagers(cleanups, o.agentArgs)
      const admin = await AdminCli.issue(c)
      if (o.only.has('create')) results.push(`create, 3 managers: ${stats(await createLatency(c, '3 managers'), 'ms')}`)
      if (o.only.has('failover')) {
        const r = await failover(c, admin, o.rounds)
        for (const [k, v] of Object.entries(r)) results.push(`failover ${k}: ${stats(v)}`)
      }
      if (o.only.has('partition')) await partition(c, admin, o.partitionS)
      if (o.only.has('soak')) await soak(c, admin, o.soak)
      if (o.only.has('restore')) await restore(c, admin) // last: it replaces the cluster's managers
    } finally {
      for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined)
    }
  }
  if (o.only.has('create')) {
    for (const [label, args] of [['1 manager, SQLite', []], ['1 manager, one-member etcd', ['--store', 'etcd']]] as const) {
      const cleanups: (() => unknown)[] = []
      try {
        const c = await meshLab({ teardown: (fn) => { cleanups.push(fn) } }, { nodes: 1, managerArgs: [...args], prefix: `hb${randomBytes(3).toString('hex')}` })
        results.push(`create, ${label}: ${stats(await createLatency(c, label), 'ms')}`)
      } finally {
        for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined)
      }
    }
  }
  log('\n' + results.join('\n'))
  log(`load after: ${uptime()}`)
}

main().catch((err: Error) => {
  console.error(`bench: ${err.stack ?? err.message}`)
  process.exitCode = 1
})
