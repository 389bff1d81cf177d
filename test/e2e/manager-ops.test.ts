/**
 * End-to-end, the rest of the manager issue on the seed lab's shape (1 manager + 3 workers, a dockerd each), driven
 * with the `mesh` CLI: a private registry on the underlay (pushed once, pulled by every worker; with htpasswd,
 * `--with-registry-auth`), an unknown image, `service logs`, rolling update (stop-first, start-first), automatic and
 * manual rollback, and the manager killed with -9 and restarted. Addresses: only the lab's own namespaces.
 */
import t from 'tap'
import http from 'node:http'
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { isRoot, LAB_IMAGE, type LabNode } from '../lab/index.ts'
import { MESH_BIN, killAndReap, sleep, waitFor } from '../support/procs.ts'
import { meshLab, type Node, type Task } from '../support/mesh-lab.ts'

if (!isRoot()) {
  t.plan(0, 'the lab needs root')
  process.exit(0)
}
t.setTimeout(480_000)

const MGR_IP = '192.168.77.11'
const REG = `${MGR_IP}:5000` // open registry
const AUTH_REG = `${MGR_IP}:5001` // same storage, htpasswd
const c = await meshLab(t, { nodes: 4, prefix: `mops${randomBytes(3).toString('hex')}`, insecureRegistries: [REG, AUTH_REG] })
const { lab, nodeName } = c
const [mgr, w1, w2, w3] = lab.nodes as [LabNode, LabNode, LabNode, LabNode]
if (mgr.ip !== MGR_IP) throw new Error(`node1 is ${mgr.ip}, not ${MGR_IP}`)
const workers = [w1, w2, w3]
const mesh = c.mesh.bind(c)
const json = c.json.bind(c)

/** Full task records, straight from the manager's unix socket (fast enough to sample a rolling update). */
interface FullTask extends Task {
  specVersion: number
  spec: { env: string[]; image: string; registryAuth?: unknown }
  status: Task['status'] & { startedAt?: number; timestamp: number }
}
function api<T>(path: string): Promise<T> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath: join(c.dataDir(mgr), 'manager.sock'), path, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (b: Buffer) => chunks.push(b))
      res.on('end', () => {
        try { resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as T) } catch (err) { reject(err as Error) }
      })
    }).on('error', reject).on('timeout', function (this: http.ClientRequest) { this.destroy(new Error('timeout')) })
  })
}
const tasksOf = async (service: string): Promise<FullTask[]> => {
  const r = await api<FullTask[] | { error: unknown }>(`/v1/tasks?service=${service}`)
  return Array.isArray(r) ? r : [] // 404 before the service exists
}
const live = (ts: FullTask[]) => ts.filter((x) => x.desiredState === 'running' && x.status.state === 'running')

/** Sample a service's tasks every ~100 ms while `during` runs. */
async function sample<T>(service: string, during: Promise<T>): Promise<{ result: T; samples: FullTask[][] }> {
  const samples: FullTask[][] = []
  let done = false
  const result = during.finally(() => { done = true })
  while (!done) {
    samples.push(await tasksOf(service).catch(() => []))
    await sleep(100)
  }
  return { result: await result, samples }
}

/** Mesh containers on a node: name → task id, and how many per task. */
async function containersOn(n: LabNode, all = false): Promise<{ names: string[]; tasks: string[] }> {
  const r = await n.docker(['ps', ...(all ? ['-a'] : []), '--filter', 'label=mesh.managed=true', '--format', '{{.Names}} {{.Label "mesh.task.id"}}'])
  const rows = r.stdout.trim().split('\n').filter(Boolean).map((l) => l.split(' '))
  return { names: rows.map((x) => x[0] as string).sort(), tasks: rows.map((x) => x[1] as string).sort() }
}

const LOOP = "trap 'exit 0' TERM; while true; do sleep 1; done"

// ---- the registry: docker-registry (distribution 2.8) on node1, http; a second one on the same storage with htpasswd
const regDir = join(mgr.dir, 'registry')
mkdirSync(join(regDir, 'data'), { recursive: true })
const hash = spawnSync('perl', ['-e', 'print crypt($ARGV[0], "\\$2b\\$05\\$meshmeshmeshmeshmeshmu")', 's3cret'], { encoding: 'utf8' }).stdout
if (!hash.startsWith('$2b$05$')) throw new Error(`perl crypt() made no bcrypt hash: ${hash}`)
writeFileSync(join(regDir, 'htpasswd'), `alice:${hash}\n`)
const regConfig = (addr: string, auth: boolean) => `version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: ${join(regDir, 'data')}
http:
  addr: ${addr}
  secret: mesh-lab-registry
${auth ? `auth:\n  htpasswd:\n    realm: mesh-lab\n    path: ${join(regDir, 'htpasswd')}\n` : ''}`
writeFileSync(join(regDir, 'open.yml'), regConfig(REG, false))
writeFileSync(join(regDir, 'auth.yml'), regConfig(AUTH_REG, true))
for (const f of ['open', 'auth']) mgr.spawn(['docker-registry', 'serve', join(regDir, `${f}.yml`)], { name: `registry-${f}` })
// The image: the lab image plus a 20 MB layer no worker has, so a pull really downloads (and reports progress).
const IMAGE = `${REG}/busybox:1`
const AUTH_IMAGE = `${AUTH_REG}/busybox:1`

t.test('the image is pushed once, from node1', async (t) => {
  await waitFor(async () => (await lab.client.exec(['curl', '-sf', `http://${REG}/v2/`])).code === 0, 20_000, { what: 'registry up' })
  const mk = await mgr.docker(['run', '--name', 'mkimg', '--network', 'lab', LAB_IMAGE, 'sh', '-c', 'head -c 20000000 /dev/urandom > /blob'])
  t.equal(mk.code, 0, `image layer made (${mk.stderr.trim()})`)
  t.equal((await mgr.docker(['commit', 'mkimg', IMAGE])).code, 0)
  await mgr.docker(['rm', '-f', 'mkimg'])
  const push = await mgr.docker(['push', IMAGE], { timeoutMs: 120_000 })
  t.equal(push.code, 0, `pushed (${push.stderr.trim()})`)
})

/** The CLI with a docker config that has alice's credentials for the htpasswd registry. */
const dockerConfig = join(regDir, 'docker-config')
mkdirSync(dockerConfig, { recursive: true })
writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify({ auths: { [AUTH_REG]: { auth: Buffer.from('alice:s3cret').toString('base64') } } }))
const meshWithAuth = (args: string[], timeoutMs = 120_000) =>
  mgr.exec(['env', `MESH_DATA_DIR=${c.dataDir(mgr)}`, `DOCKER_CONFIG=${dockerConfig}`, 'node', MESH_BIN, ...args], { timeoutMs })

t.test('private registry: pushed once, a global service pulls it on every worker', async (t) => {
  for (const w of workers) t.not((await w.docker(['image', 'inspect', IMAGE])).code, 0, `${w.name} does not have the image yet`)
  const messages = new Set<string>()
  const { result: r } = await sample('reg', mesh(['service', 'create', '--name', 'reg', '--update-monitor', '1s', '--mode', 'global', IMAGE, 'sh', '-c', LOOP], 180_000))
    .then(async (x) => {
      for (const s of x.samples) for (const k of s) if (k.status.state === 'preparing') messages.add(k.status.message)
      return x
    })
  t.equal(r.code, 0, `create converges (${r.stderr.trim()})`)
  const tasks = live(await tasksOf('reg'))
  t.same(tasks.map((x) => nodeName.get(x.nodeId)).sort(), ['node1', 'node2', 'node3', 'node4'], 'one task on every node')
  // The manager pinned the tag to its digest; engines pull by digest (as Swarm's do), so the tag is not on the workers.
  const pinned = (await api<{ spec: { image: string } }>('/v1/services/reg')).spec.image
  t.match(pinned, new RegExp(`^${REG.replace(/\./g, '\\.')}/busybox:1@sha256:[0-9a-f]{64}$`), `the service's image is pinned: ${pinned}`)
  for (const w of workers) {
    const img = await w.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', pinned.replace(':1@', '@')])
    t.match(img.stdout, new RegExp(`${REG.replace(/\./g, '\\.')}/busybox@sha256:`), `${w.name}: its engine pulled ${IMAGE} from the registry`)
  }
  t.ok([...messages].some((m) => /^pulling image \d+%$/.test(m)), `service ps showed pull progress: ${[...messages].join(', ')}`)
})

t.test('a registry that needs auth: rejected without --with-registry-auth, runs with it, never shown', async (t) => {
  const r = await meshWithAuth(['service', 'create', '--name', 'priv', '--update-monitor', '1s', '--replicas', '2', '--restart-delay', '1s', '--update-parallelism', '0',
    '--detach', AUTH_IMAGE, 'sh', '-c', LOOP])
  t.equal(r.code, 0, r.stderr.trim())
  const rejected = await waitFor(async () => (await tasksOf('priv')).find((x) => x.status.state === 'rejected') ?? null, 60_000,
    { intervalMs: 300, what: 'a rejected task' })
  t.match(rejected.status.err ?? rejected.status.message, /no basic auth credentials|unauthorized|authentication required/, `engine's error: ${rejected.status.err}`)
  const ps = await mesh(['service', 'ps', 'priv'])
  t.match(ps.stdout, /Rejected .*(no basic auth credentials|unauthorized|authentication required)/, 'the engine\'s error is visible in service ps')

  const u = await meshWithAuth(['service', 'update', '--with-registry-auth', 'priv'], 180_000)
  t.equal(u.code, 0, `update --with-registry-auth converges (${u.stderr.trim()})`)
  t.equal(live(await tasksOf('priv')).length, 2, 'two tasks run')
  // What `service inspect`, `ps --json` and `ls --json` print, straight from the API.
  const shown = JSON.stringify([await api('/v1/services/priv'), await api('/v1/tasks?service=priv'), await api('/v1/services')])
  t.notMatch(shown, /s3cret|alice|registryAuth/, 'credentials are not shown by inspect, ps or ls')

  // A later update without the flag keeps the stored credentials (as docker does): with the tag gone from every
  // engine, the new task has to pull again, and can.
  for (const n of lab.nodes) await n.docker(['rmi', '-f', AUTH_IMAGE])
  const k = await mesh(['service', 'update', '--env-add', 'X=1', 'priv'], 120_000)
  t.equal(k.code, 0, `update without the flag keeps them (${k.stderr.trim()})`)
  t.equal(live(await tasksOf('priv')).filter((x) => x.spec.env.includes('X=1')).length, 2, 'the new tasks pulled again and run')
  t.equal((await mesh(['service', 'rm', 'reg', 'priv'])).code, 0)
})

t.test('unknown image: the task is rejected with the engine\'s text, nothing is left running', async (t) => {
  const r = await mesh(['service', 'create', '--name', 'ghost', '--detach', `${REG}/nosuch:1`, 'sh'])
  t.equal(r.code, 0, r.stderr.trim())
  const rejected = await waitFor(async () => (await tasksOf('ghost')).find((x) => x.status.state === 'rejected') ?? null, 60_000,
    { intervalMs: 300, what: 'a rejected task' })
  t.match(rejected.status.err, /manifest unknown|not found/, `engine's error: ${rejected.status.err}`)
  t.match((await mesh(['service', 'ps', 'ghost'])).stdout, /Rejected .*(manifest unknown|not found)/, 'visible in service ps')
  for (const n of lab.nodes) t.same((await n.docker(['ps', '-aq', '--filter', 'name=ghost.'])).stdout.trim(), '', `no ghost container on ${n.name}`)
  t.equal((await mesh(['service', 'rm', 'ghost'])).code, 0)
})

t.test('a re-pushed tag rolls out by digest: create pins it, update --image resolves the new one', async (t) => {
  const PIN = `${REG}/pin:latest`
  const push = async (content: string): Promise<void> => {
    await mgr.docker(['rm', '-f', 'mkpin'])
    t.equal((await mgr.docker(['run', '--name', 'mkpin', '--network', 'lab', LAB_IMAGE, 'sh', '-c', `echo ${content} > /v`])).code, 0)
    t.equal((await mgr.docker(['commit', 'mkpin', PIN])).code, 0)
    await mgr.docker(['rm', '-f', 'mkpin'])
    const r = await mgr.docker(['push', PIN], { timeoutMs: 120_000 })
    t.equal(r.code, 0, `pushed ${content} (${r.stderr.trim()})`)
  }
  const pinned = async (): Promise<string> => ((await api<{ spec: { image: string } }>('/v1/services/pin')).spec.image)
  const reads = async (): Promise<string[]> => Promise.all(live(await tasksOf('pin')).map(async (x) => {
    const n = lab.nodes.find((l) => l.name === nodeName.get(x.nodeId)) as LabNode
    return (await n.docker(['exec', `pin.${x.slot}.${x.id}`, 'cat', '/v'])).stdout.trim()
  }))
  await push('one')
  const r = await mesh(['service', 'create', '--name', 'pin', '--update-monitor', '1s', '--replicas', '2', '--update-parallelism', '0', PIN, 'sh', '-c', LOOP], 180_000)
  t.equal(r.code, 0, `create converges (${r.stderr.trim()})`)
  const first = await pinned()
  t.match(first, new RegExp(`^${PIN.replace(/[.]/g, '\\.')}@sha256:[0-9a-f]{64}$`), `the service runs the tag pinned to its digest: ${first}`)
  t.same(await reads(), ['one', 'one'])
  await push('two')
  t.equal((await mesh(['service', 'update', '--env-add', 'X=1', 'pin'], 180_000)).code, 0)
  t.equal(await pinned(), first, 'an update without --image keeps the pinned digest')
  t.same(await reads(), ['one', 'one'], 'so the tasks still run the first image')
  const u = await mesh(['service', 'update', '--image', PIN, 'pin'], 180_000)
  t.equal(u.code, 0, `update --image converges (${u.stderr.trim()})`)
  const second = await pinned()
  t.not(second, first, `update --image resolved the re-pushed tag: ${second}`)
  t.same(await reads(), ['two', 'two'], 'and every task runs the new image')
  const ls = await mesh(['service', 'ls', '--filter', 'name=pin'])
  t.notMatch(ls.stdout, /sha256/, 'service ls shows the image without the digest, as docker')
  t.equal((await mesh(['service', 'rm', 'pin'])).code, 0)
})

// web: three tasks that say hello on stdout and stderr, then tick; FAIL=1 makes a task exit 1 at once.
const WEB = 'test "$FAIL" = 1 && exit 1; echo "hello v=$V"; echo "oops v=$V" >&2; i=0; ' +
  "trap 'exit 0' TERM; while true; do i=$((i+1)); echo tick $i; sleep 1; done"

t.test('service logs: lines from tasks on several nodes, prefixed by task and node', async (t) => {
  const r = await mesh(['service', 'create', '--name', 'web', '--replicas', '3', '--env', 'V=1', '--restart-delay', '1s', '--update-monitor', '2s', LAB_IMAGE, 'sh', '-c', WEB], 180_000)
  t.equal(r.code, 0, `create converges (${r.stderr.trim()})`)
  const tasks = live(await tasksOf('web'))
  await sleep(1500)
  const logs = await mesh(['service', 'logs', 'web'])
  t.equal(logs.code, 0, logs.stderr)
  const hello = logs.stdout.split('\n').filter((l) => /\| hello v=1$/.test(l))
  const nodesSeen = new Set(hello.map((l) => /@(node\d) +\|/.exec(l)?.[1]))
  t.equal(hello.length, 3, `one hello per task:\n${logs.stdout.slice(0, 800)}`)
  t.ok(nodesSeen.size >= 2, `from several nodes: ${[...nodesSeen].join(', ')}`)
  for (const x of tasks) t.match(logs.stdout, new RegExp(`^web\\.${x.slot}\\.${x.id.slice(0, 12)}@${nodeName.get(x.nodeId)} +\\| hello v=1$`, 'm'), `prefix web.${x.slot}.<task>@node`)
  t.match(logs.stderr, /^web\.\d\.[0-9a-z]{12}@node\d +\| oops v=1$/m, 'stderr lines go to stderr, prefixed')

  const tail = await mesh(['service', 'logs', '--tail', '1', '--timestamps', 'web'])
  const lines = tail.stdout.trim().split('\n')
  t.equal(lines.length, 3, `--tail 1: one line per task:\n${tail.stdout}`)
  t.ok(lines.every((l) => /^\d{4}-\d\d-\d\dT[\d:.]+Z web\.\d\.\w+@node\d +\| tick \d+$/.test(l)), '--timestamps: RFC 3339 first')
  const one = tasks[0] as FullTask
  const byTask = await mesh(['service', 'logs', '--since', '3s', '--no-trunc', one.id])
  const prefixes = new Set(byTask.stdout.trim().split('\n').map((l) => l.split(' ')[0]))
  t.same([...prefixes], [`web.${one.slot}.${one.id}@${nodeName.get(one.nodeId)}`], 'a task id: only that task, full ids with --no-trunc')
  t.match(byTask.stdout, /tick/)
  t.notMatch(byTask.stdout, /hello/, '--since leaves older lines out')

  // --follow: new lines keep coming from every task until the CLI goes away.
  const f = mgr.spawn(['env', `MESH_DATA_DIR=${c.dataDir(mgr)}`, 'node', MESH_BIN, 'service', 'logs', '-f', '--tail', '0', 'web'], { name: 'logs-follow' })
  await waitFor(() => new Set([...f.stdout().matchAll(/^(web\.\d)\.\w+@\w+ +\| tick/gm)].map((m) => m[1])).size === 3, 20_000,
    { intervalMs: 300, what: 'ticks from all three tasks' })
  t.pass('--follow streams new lines from every task')
  t.equal((await mesh(['service', 'scale', '--detach', 'web=4'])).code, 0)
  await waitFor(() => /^web\.4\.\w+@\w+ +\| hello v=1$/m.test(f.stdout()), 30_000, { intervalMs: 300, what: 'the new task\'s lines' })
  t.pass('--follow picks up a task that started later (scale), from its first line')
  await killAndReap(f)
  t.equal((await mesh(['service', 'scale', 'web=3'], 120_000)).code, 0)
})

/** Env of a task: V=… */
const vOf = (x: FullTask) => x.spec.env.find((e) => e.startsWith('V=')) ?? ''

t.test('rolling update, stop-first: one task at a time, 1 s apart', async (t) => {
  const { result: r, samples } = await sample('web', mesh(['service', 'update', '--env-add', 'V=2', '--update-parallelism', '1',
    '--update-delay', '1s', '--update-order', 'stop-first', 'web'], 180_000))
  t.equal(r.code, 0, `update converges (${r.stderr.trim()})`)
  const after = live(await tasksOf('web'))
  t.same(after.map(vOf), ['V=2', 'V=2', 'V=2'], 'every task runs the new spec')
  t.ok(samples.length > 10, `${samples.length} samples`)
  const minRunning = Math.min(...samples.map((s) => live(s).length))
  t.ok(minRunning >= 2, `never fewer than 2 of 3 running (min ${minRunning})`)
  const starts = after.map((x) => x.status.startedAt ?? 0).sort((a, b) => a - b)
  t.ok(starts[1]! - starts[0]! >= 1000 && starts[2]! - starts[1]! >= 1000, `new tasks started one after another, ≥ 1 s apart: ${starts.map((s) => s - starts[0]!)}`)
})

t.test('rolling update, start-first: never fewer than 3 running', async (t) => {
  const { result: r, samples } = await sample('web', mesh(['service', 'update', '--env-add', 'V=3', '--update-order', 'start-first', 'web'], 180_000))
  t.equal(r.code, 0, `update converges (${r.stderr.trim()})`)
  t.same(live(await tasksOf('web')).map(vOf), ['V=3', 'V=3', 'V=3'])
  const minRunning = Math.min(...samples.map((s) => live(s).length))
  t.ok(minRunning >= 3, `≥ 3 running in all ${samples.length} samples (min ${minRunning})`)
  t.ok(samples.some((s) => s.filter((x) => x.status.state === 'running').length > 3), 'old and new ran side by side at some point')
})

t.test('service rollback restores the previous spec', async (t) => {
  const r = await mesh(['service', 'rollback', 'web'], 180_000)
  t.equal(r.code, 0, `rollback converges (${r.stderr.trim()})`)
  t.same(live(await tasksOf('web')).map(vOf), ['V=2', 'V=2', 'V=2'], 'tasks run V=2 again')
  const s = await api<{ spec: { env: string[] }; updateStatus?: { state: string } }>('/v1/services/web')
  t.ok(s.spec.env.includes('V=2') && !s.spec.env.includes('V=3'), `spec env ${s.spec.env}`)
})

t.test('a failing update rolls back by itself (--update-failure-action rollback)', async (t) => {
  const r = await mesh(['service', 'update', '--env-add', 'FAIL=1', '--update-failure-action', 'rollback', '--detach', 'web'])
  t.equal(r.code, 0, r.stderr.trim())
  const s = await waitFor(async () => {
    const x = await api<{ spec: { env: string[] }; updateStatus?: { state: string; message: string } }>('/v1/services/web')
    return x.updateStatus?.state === 'rollback_completed' ? x : null
  }, 120_000, { intervalMs: 500, what: 'rollback_completed' })
  t.notOk(s.spec.env.includes('FAIL=1'), `spec is back without FAIL=1 (${s.updateStatus?.message})`)
  const tasks = await waitFor(async () => {
    const l = live(await tasksOf('web'))
    return l.length === 3 && l.every((x) => !x.spec.env.includes('FAIL=1')) ? l : null
  }, 60_000, { intervalMs: 500, what: 'three good tasks' })
  t.equal(tasks.length, 3)
  t.ok((await tasksOf('web')).some((x) => x.spec.env.includes('FAIL=1') && x.status.state === 'failed'), 'the failed task is in the history')
})

t.test('the manager is killed with -9 and restarted: state survives, no duplicates, no orphans', async (t) => {
  const before = { ls: await json<{ spec: { name: string }; running: number; desired: number }[]>(['service', 'ls']), tasks: live(await tasksOf('web')) }
  const perNode = new Map<string, string[]>()
  for (const n of lab.nodes) perNode.set(n.name, (await containersOn(n)).names)
  const t0 = Date.now()
  await c.killAgent(mgr)
  c.agent(mgr, ['--init'])
  await waitFor(() => api('/v1/info').then(() => true, () => false), 60_000, { intervalMs: 300, what: 'manager API back' })
  t.comment(`manager API back after ${Date.now() - t0} ms`)
  await waitFor(async () => (await api<Node[]>('/v1/nodes')).filter((n) => n.state === 'ready').length === 4, 60_000,
    { intervalMs: 300, what: '4 ready nodes' })
  t.comment(`4 nodes ready after ${Date.now() - t0} ms`)
  const after = { ls: await json<typeof before.ls>(['service', 'ls']), tasks: live(await tasksOf('web')) }
  t.same(after.ls.map((s) => [s.spec.name, s.desired]), before.ls.map((s) => [s.spec.name, s.desired]), 'service ls: same services and replicas')
  t.same(after.tasks.map((x) => x.id).sort(), before.tasks.map((x) => x.id).sort(), 'service ps: the same tasks run')
  await sleep(3000) // agents have reconnected and reconciled
  for (const w of workers) t.match(c.agents.get(w.name)?.stdout() ?? '', /reconnected to the manager/, `${w.name}'s agent reconnected`)
  for (const n of lab.nodes) t.same((await containersOn(n)).names, perNode.get(n.name), `${n.name}: docker ps shows exactly the containers it had`)

  const s = await mesh(['service', 'scale', 'web=5'], 180_000)
  t.equal(s.code, 0, `scale right after the restart converges (${s.stderr.trim()})`)
  t.comment(`scaled after ${Date.now() - t0} ms`)
  const tasks = live(await tasksOf('web'))
  t.equal(tasks.length, 5)
  await sleep(2000)
  for (const n of lab.nodes) {
    const mine = tasks.filter((x) => nodeName.get(x.nodeId) === n.name).map((x) => x.id).sort()
    const got = await containersOn(n)
    t.same(got.tasks, mine, `${n.name}: one running container per task assigned to it, nothing else (${got.names.join(' ')})`)
  }
})

t.test('service logs: a node that is down is reported in one line, not waited for', async (t) => {
  const victim = (await json<Node[]>(['node', 'ls'])).find((n) => n.hostname === w3.name) as Node
  t.ok(live(await tasksOf('web')).some((x) => x.nodeId === victim.id), `${w3.name} runs a task of web`)
  let started = Date.now()
  await mesh(['service', 'ls'])
  const baseMs = Date.now() - started // what any CLI call costs on this machine right now
  await c.killAgent(w3)
  started = Date.now()
  const r = await mesh(['service', 'logs', '--tail', '1', 'web'])
  const ms = Date.now() - started
  t.equal(r.code, 0, r.stderr)
  t.match(r.stderr, new RegExp(`^error from ${w3.name}: node ${w3.name} is (down|not connected to the manager)`, 'm'), `one line about ${w3.name}: ${r.stderr.trim()}`)
  t.equal(r.stderr.split('\n').filter((l) => l.startsWith('error from')).length, 1, 'exactly one')
  t.ok(r.stdout.trim().split('\n').length >= 3, 'the other nodes\' lines are there')
  t.ok(ms < baseMs + 8000, `answered in ${ms} ms (service ls: ${baseMs} ms), not after the 10 s answer timeout`)
})
