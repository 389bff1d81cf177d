/**
 * End-to-end: src/runtime on a 1-node lab (test/lab): a TaskRunner with a DockerRuntime on the node's real dockerd
 * 20.10 runs busybox tasks on a user-defined bridge network `meshtest` (172.30.1.0/24), reports their states, and
 * picks up after a restart. The test plays the manager: it records reports and pushes them back with the tasks.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TaskRecord } from '../../src/api/types.ts'
import { DockerRuntime, TaskRunner, type TaskReport } from '../../src/runtime/index.ts'
import { createLab, isRoot, LAB_IMAGE, type LabNode } from '../lab/index.ts'
import { waitFor } from '../support/procs.ts'
import { task, type TaskOpts } from '../unit/runtime/fixtures.ts'

if (!isRoot()) {
  t.plan(0, 'the lab needs root')
  process.exit(0)
}
t.setTimeout(240_000)

const NET = 'meshtest'
const VOLUME = 'meshtest-cache'
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'
/** A Swarm-shaped task id: 25 characters of [a-z0-9]. */
const newTaskId = (): string => Array.from(randomBytes(25), (b) => ALPHABET[b % 36]).join('')

/** The manager's side: every report, and the tasks with their latest status (what it would push back). */
class FakeManager {
  readonly reports = new Map<string, TaskReport[]>()
  tasks: TaskRecord[] = []
  readonly report = (id: string, s: TaskReport): void => {
    const list = this.reports.get(id) ?? []
    list.push(s)
    this.reports.set(id, list)
  }

  last(id: string): TaskReport | undefined {
    return this.reports.get(id)?.at(-1)
  }

  /** States in order, consecutive repeats folded. */
  states(id: string): string[] {
    return (this.reports.get(id) ?? []).map((r) => r.state).filter((s, i, a) => i === 0 || a[i - 1] !== s)
  }

  /** Tasks as the manager now records them. */
  current(): TaskRecord[] {
    return this.tasks.map((tk) => {
      const s = this.last(tk.id)
      return s ? { ...tk, status: { ...s }, ...(s.ip ? { ip: s.ip } : {}) } : tk
    })
  }

  async waitState(id: string, state: string, what = `${id} ${state}`, timeoutMs = 30_000): Promise<TaskReport> {
    return waitFor(() => { const s = this.last(id); return s?.state === state ? s : null }, timeoutMs, { intervalMs: 50, what })
  }
}

const lab = await createLab({ nodes: 1 })
const n1 = lab.nodes[0] as LabNode
const runners: TaskRunner[] = []
t.teardown(async () => {
  for (const r of runners) await r.stop().catch(() => undefined)
  await lab.down()
})

async function docker(args: string[]): Promise<string> {
  const r = await n1.docker(args)
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr.trim()}`)
  return r.stdout.trim()
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const inspect = async (ref: string): Promise<any> => (JSON.parse(await docker(['inspect', ref])) as unknown[])[0]
const meshContainers = async (): Promise<string[]> =>
  (await docker(['ps', '-a', '--filter', 'label=mesh.managed=true', '--format', '{{.Names}}'])).split('\n').filter(Boolean).sort()

await docker(['network', 'create', '--driver', 'bridge', '--subnet', '172.30.1.0/24', NET])

const rt = new DockerRuntime({ socketPath: n1.socketPath })
const mgr = new FakeManager()
let runner = new TaskRunner({ runtime: rt, network: NET, report: mgr.report })
runners.push(runner)
await runner.start()

function assign(...tasks: TaskRecord[]): void {
  mgr.tasks.push(...tasks)
  runner.setAssignments(mgr.current())
}
const mkTask = (o: Omit<TaskOpts, 'id'> & { spec?: TaskOpts['spec'] }): TaskRecord =>
  task({ ...o, id: newTaskId(), spec: { image: LAB_IMAGE, stopGracePeriodMs: 1000, ...o.spec } })

const web = mkTask({ slot: 1, spec: { name: 'web', command: ['sleep', '300'] } })

t.test('a busybox task runs: Swarm-style name, mesh labels, an IP on the network, hostname = id prefix', async (t) => {
  assign(web)
  const s = await mgr.waitState(web.id, 'running')
  t.same(mgr.states(web.id), ['preparing', 'starting', 'running'])
  const c = await inspect(`web.1.${web.id}`)
  t.equal(c.Id, s.containerId, 'the report carries the container id')
  t.equal(c.Name, `/web.1.${web.id}`)
  t.match(c.Config.Labels, { 'mesh.managed': 'true', 'mesh.service.id': web.serviceId, 'mesh.service.name': 'web', 'mesh.task.id': web.id,
    'mesh.task.slot': '1' })
  t.equal(c.NetworkSettings.Networks[NET].IPAddress, s.ip, 'the report carries the IP on the task network')
  t.match(s.ip, /^172\.30\.1\.\d+$/)
  t.equal(c.Config.Hostname, c.Id.slice(0, 12), 'hostname is the container id prefix, as in Swarm')
  t.equal(c.HostConfig.RestartPolicy.Name, 'no', 'the runner never restarts containers')
  t.equal(c.Config.StopTimeout, 1)
})

t.test('limits, a bind mount and a named volume are applied', async (t) => {
  const src = join(n1.dir, 'bind-src')
  mkdirSync(src, { recursive: true })
  writeFileSync(join(src, 'hello.txt'), 'hello from the host\n')
  const tk = mkTask({ slot: 1, spec: {
    name: 'limited', command: ['sh', '-c', 'echo from-task > /cache/x && exec sleep 300'],
    resources: { limits: { nanoCpus: 500_000_000, memoryBytes: 64 * 1024 * 1024 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
    mounts: [{ type: 'bind', source: src, target: '/data', readOnly: true }, { type: 'volume', source: VOLUME, target: '/cache', readOnly: false }],
  } })
  assign(tk)
  const s = await mgr.waitState(tk.id, 'running')
  const c = await inspect(s.containerId as string)
  t.equal(c.HostConfig.Memory, 64 * 1024 * 1024, 'Memory')
  t.equal(c.HostConfig.NanoCpus, 500_000_000, 'NanoCpus')
  const limit = await n1.docker(['exec', c.Id, 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes'])
  t.equal(limit.stdout.trim(), String(64 * 1024 * 1024), 'the memory cgroup enforces it')
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const mounts = c.Mounts.map((m: any) => `${m.Type} ${m.Type === 'volume' ? m.Name : m.Source} ${m.Destination} ${m.RW ? 'rw' : 'ro'}`).sort()
  t.same(mounts, [`bind ${src} /data ro`, `volume ${VOLUME} /cache rw`])
  t.equal(await docker(['exec', c.Id, 'cat', '/data/hello.txt']), 'hello from the host', 'bind mount readable')
  await waitFor(async () => (await n1.docker(['exec', c.Id, 'cat', '/cache/x'])).stdout.trim() === 'from-task', 5000, { what: 'volume written' })
  t.pass('named volume writable')
})

t.test('a task with an unknown image is rejected with the engine\'s own error text', async (t) => {
  const tk = mkTask({ slot: 1, spec: { name: 'ghost', image: 'nosuch:latest' } })
  const pulled = n1.docker(['pull', 'nosuch:latest']) // at the same time: each failed lookup takes ~5 s here
  assign(tk)
  const s = await mgr.waitState(tk.id, 'rejected')
  const cli = await pulled
  const engine = cli.stderr.trim().replace(/^Error response from daemon: /, '')
  // Each try differs in the resolver's source port and, when ICMP is rate-limited, in the last words
  // ("connection refused" vs "i/o timeout"); everything before them is the engine's text, unwrapped.
  const norm = (x: string | undefined): string => (x ?? '').replace(/read udp \S+->\S+: .*$/, 'read udp …')
  t.ok(engine.length > 0, `the CLI says: ${engine}`)
  t.notMatch(s.err, /^docker:|HTTP code/, 'not wrapped')
  t.equal(norm(s.err), norm(engine), 'the task error is what `docker pull` itself reports')
  t.equal(s.message, s.err)
  t.same(mgr.states(tk.id), ['preparing', 'rejected'])
  t.notOk((await meshContainers()).some((n) => n.startsWith('ghost.')), 'no container')
})

t.test('exit code 3 → failed with that code and the last log line', async (t) => {
  const tk = mkTask({ slot: 1, spec: { name: 'crash', command: ['sh', '-c', 'echo about to fail; sleep 0.3; exit 3'] } })
  assign(tk)
  const s = await mgr.waitState(tk.id, 'failed')
  t.same(mgr.states(tk.id), ['preparing', 'starting', 'running', 'failed'])
  t.equal(s.exitCode, 3)
  t.equal(s.err, 'task: non-zero exit (3)')
  t.equal(s.message, 'task: non-zero exit (3); last log: about to fail')
  t.equal((await inspect(s.containerId as string)).State.Status, 'exited', 'not restarted')
})

t.test('a healthcheck is reported: running/starting, then running/healthy', async (t) => {
  const tk = mkTask({ slot: 1, spec: { name: 'checked', command: ['sleep', '300'],
    healthcheck: { test: ['CMD', 'true'], intervalMs: 500, timeoutMs: 1000, retries: 1, startPeriodMs: 0 } } })
  assign(tk)
  const s = await waitFor(() => mgr.last(tk.id)?.health === 'healthy' && mgr.last(tk.id), 20_000, { what: 'healthy' })
  t.equal(s.state, 'running')
  t.equal(s.message, 'healthy')
  t.match((mgr.reports.get(tk.id) ?? []).map((r) => `${r.state}/${r.message}`), ['preparing/preparing', 'starting/starting', 'running/starting',
    'running/healthy'])
})

t.test('a new TaskRunner adopts a running container and removes an orphan', async (t) => {
  await runner.stop()
  const before = await inspect(`web.1.${web.id}`)
  t.equal(before.State.Status, 'running', 'stopping the runner leaves tasks running')
  await docker(['run', '-d', '--name', 'orphan-task', '--label', 'mesh.managed=true', '--label', 'mesh.task.id=notassigned',
    '--stop-timeout', '1', '--network', NET, LAB_IMAGE, 'sleep', '300'])
  await docker(['run', '-d', '--name', 'bystander', '--network', NET, LAB_IMAGE, 'sleep', '300'])
  const seen = new FakeManager()
  const fresh = new TaskRunner({ runtime: new DockerRuntime({ socketPath: n1.socketPath }), network: NET,
    report: (id, st) => { seen.report(id, st); mgr.report(id, st) } })
  runners.push(fresh)
  runner = fresh
  await fresh.start()
  fresh.setAssignments(mgr.current())
  await fresh.idle()
  const r = seen.reports.get(web.id) ?? []
  t.equal(r.length, 1, 'one report for the adopted task')
  t.match(r[0], { state: 'running', containerId: before.Id, ip: before.NetworkSettings.Networks[NET].IPAddress })
  t.equal((await inspect(`web.1.${web.id}`)).Id, before.Id, 'same container, not recreated')
  const names = await meshContainers()
  t.notOk(names.includes('orphan-task'), 'orphan removed')
  t.ok((await docker(['ps', '--format', '{{.Names}}'])).split('\n').includes('bystander'), 'unlabelled container untouched')
})

t.test('desired shutdown stops and removes; setAssignments([]) removes the rest; named volumes stay', async (t) => {
  mgr.tasks = mgr.current().map((tk) => (tk.id === web.id ? { ...tk, desiredState: 'shutdown' as const } : tk))
  runner.setAssignments(mgr.tasks)
  const s = await mgr.waitState(web.id, 'shutdown')
  t.equal(s.message, 'shutdown')
  await runner.idle()
  t.notOk((await meshContainers()).some((n) => n.startsWith('web.')), 'web container removed')
  t.ok((await meshContainers()).length > 0, 'the other tasks still have containers')
  runner.setAssignments([])
  await runner.idle()
  t.same(await meshContainers(), [], 'every mesh container gone')
  t.match(await docker(['volume', 'ls', '--format', '{{.Name}}']), new RegExp(`^${VOLUME}$`, 'm'), 'named volume kept')
})
