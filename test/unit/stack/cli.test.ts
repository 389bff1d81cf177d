/**
 * `mesh stack` against a real manager in this process: the manager core on an in-memory store, its HTTP API on a
 * unix socket in a temp dir, the CLI's own ManagerClient, and fake agents that report every task they are given as
 * running (no Docker needed). What is asserted is what a user sees: the lines printed and the services that exist.
 */
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp, listen } from '../../../src/manager/http/api.ts'
import { Manager } from '../../../src/manager/manager.ts'
import { openRegistryAuth } from '../../../src/manager/registry-auth.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { openSqliteStore } from '../../../src/manager/sqlite-store.ts'
import type { NodeRecord, ServiceRecord } from '../../../src/api/types.ts'
import { ManagerClient } from '../../../src/api/client.ts'
import { deployStack, listStackServices, listStackTasks, listStacks, removeStacks, type StackIo } from '../../../mesh/stack.ts'
import { runMesh } from '../../support/procs.ts'
import { TUTORIAL } from './fixtures.ts'
import { testCsr } from '../../support/pki.ts'
import { startFakeAgents } from '../../support/fake-agents.ts'

const dir = mkdtempSync(join(tmpdir(), 'mesh-stack-'))
const store = openSqliteStore(':memory:')
/** The manager's clock runs ahead of the real one by `skew`: each poll of a deploy moves it 1 s (see `deploy`). */
let skew = 0
const manager = new Manager({ store, now: () => Date.now() + skew })
await manager.init()
manager.start()
const nodes: NodeRecord[] = [
  (await manager.registerSelf({ hostname: 'manager1', addr: '10.0.0.1', resources: { nanoCpus: 4e9, memoryBytes: 8 * 2 ** 30 } }, { csr: await testCsr() })).node,
  ...await Promise.all([1, 2, 3].map(async (i) => (await manager.join({ csr: await testCsr(), token: manager.tokens().worker, hostname: `worker${i}`, addr: `10.0.0.${i + 1}`, resources: { nanoCpus: 4e9, memoryBytes: 8 * 2 ** 30 } })).node)),
]
const server = await listen(createApp({ manager, local: true }, defaultServiceSpec), { socketPath: join(dir, 'manager.sock') })
const client = new ManagerClient({ dataDir: dir })

/** Fake agents: every assigned task runs at once (an image named `crashes` fails at once); every task told to stop stops. */
const STARTING = ['assigned', 'accepted', 'preparing', 'ready', 'starting']
const stopAgents = startFakeAgents({
  manager, store, nodes,
  next: (task, now) => task.spec.image === 'crashes' && task.desiredState === 'running' && STARTING.includes(task.status.state)
    ? { state: 'failed', message: 'task: non-zero exit (1)', err: 'task: non-zero exit (1)', exitCode: 1, timestamp: now, startedAt: now }
    : null,
})

t.teardown(async () => {
  stopAgents()
  manager.stop()
  await new Promise<void>((r) => server.close(() => r()))
  store.close?.()
  rmSync(dir, { recursive: true, force: true })
})

function io(): StackIo & { text: () => string; errText: () => string } {
  let out = ''
  let err = ''
  return { out: (s) => void (out += s), err: (s) => void (err += s), text: () => out, errText: () => err }
}

/** A poll's pause: the manager's clock moves 1 s, the real one `ms` (so the agents and the reconcile loop run). */
const tick = async (ms: number): Promise<void> => {
  skew += 1000
  await new Promise((r) => setTimeout(r, ms))
}

const services = () => store.listServices().map((s: ServiceRecord) => s.spec.name).sort()
const deploy = (files: Record<string, string>, o: { detach?: boolean; prune?: boolean } = {}) => {
  const w = io()
  return deployStack(client, {
    stack: 'getstartedlab', files: Object.entries(files).map(([name, text]) => ({ name, text })), env: {}, cwd: dir,
    readFile: () => '', detach: o.detach ?? false, prune: o.prune ?? false, pollMs: 50, timeoutMs: 120_000, sleep: tick,
  }, w).then(() => w)
}

t.test('deploy the seed tutorial: services created, tasks converge', async (t) => {
  const w = await deploy({ 'docker-compose.yml': TUTORIAL })
  const lines = w.text().split('\n')
  t.same(lines.slice(0, 4), ['Creating network getstartedlab_webnet', 'Creating service getstartedlab_redis', 'Creating service getstartedlab_visualizer', 'Creating service getstartedlab_web'])
  t.ok(lines.includes('overall progress: 7 out of 7 tasks'), w.text())
  t.equal(lines.filter((l) => l !== '').at(-1), 'verify: 3 services converged')
  const waiting = lines.findIndex((l) => /^verify: Waiting [1-5] seconds to verify that tasks are stable\.\.\.$/.test(l))
  t.ok(waiting > 0 && waiting < lines.indexOf('overall progress: 7 out of 7 tasks'), 'tasks count only once they have run for the monitor period')
  t.same(services(), ['getstartedlab_redis', 'getstartedlab_visualizer', 'getstartedlab_web'])
  const mgr = nodes[0]?.id
  for (const task of store.listTasks().filter((x) => x.serviceName !== 'getstartedlab_web')) t.equal(task.nodeId, mgr, `${task.serviceName} pinned to the manager`)
})

t.test('stack ls / services / ps', async (t) => {
  const a = io()
  await listStacks(client, false, a)
  t.equal(a.text(), 'NAME            SERVICES\ngetstartedlab   3\n')
  const b = io()
  await listStackServices(client, 'getstartedlab', false, b)
  const rows = b.text().trim().split('\n')
  t.match(rows[0], /^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS$/)
  t.match(rows[3], /getstartedlab_web\s+replicated\s+5\/5\s+username\/repo:tag\s+\*:4000->80\/tcp$/)
  const c = io()
  await listStackTasks(client, 'getstartedlab', false, c)
  const ps = c.text().trim().split('\n')
  t.equal(ps.length, 1 + 7)
  t.match(ps[1], /getstartedlab_redis\.1\s+redis\s+manager1\s+Running\s+Running/)
  const d = io()
  await listStackServices(client, 'nope', false, d)
  t.equal(d.errText(), 'Nothing found in stack: nope\n')
  const j = io()
  await listStacks(client, true, j)
  t.same(JSON.parse(j.text()), [{ name: 'getstartedlab', services: 3 }])
})

t.test('redeploying the same file changes nothing', async (t) => {
  const before = store.listServices().map((s) => [s.spec.name, s.version])
  const w = await deploy({ 'docker-compose.yml': TUTORIAL })
  t.equal(w.text(), 'Stack getstartedlab is up to date (3 services)\n')
  t.same(store.listServices().map((s) => [s.spec.name, s.version]), before)
})

t.test('a bad file deploys nothing', async (t) => {
  const bad = TUTORIAL.replace('replicas: 5', 'replicas: 2').replace('"6379:6379"', '"6379:"')
  await t.rejects(deploy({ 'docker-compose.yml': bad }), { message: 'docker-compose.yml: services.redis.ports[0]: invalid port "6379:": want [PUBLISHED:]TARGET[/tcp|udp], e.g. "8080:80"' })
  t.same(store.getService('getstartedlab_web')?.spec.mode, { replicated: { replicas: 5 } }, 'web not scaled')
  t.equal(services().length, 3)
})

t.test('visualizer dropped from the file, no --prune: it stays, as docker leaves it', async (t) => {
  const next = TUTORIAL.replace(/  visualizer:[\s\S]*?(?=  redis:)/, '')
  const before = store.listServices().map((s) => [s.spec.name, s.version])
  const w = await deploy({ 'docker-compose.yml': next })
  t.equal(w.text(), 'Stack getstartedlab is up to date (2 services)\n')
  t.same(store.listServices().map((s) => [s.spec.name, s.version]), before, 'nothing removed or changed')
})

t.test('redeploy --prune 5→2 replicas, visualizer dropped: one update, one removal, converges', async (t) => {
  const next = TUTORIAL.replace('replicas: 5', 'replicas: 2').replace(/  visualizer:[\s\S]*?(?=  redis:)/, '')
  const redisVersion = store.getService('getstartedlab_redis')?.version
  const w = await deploy({ 'docker-compose.yml': next }, { prune: true })
  const lines = w.text().split('\n')
  t.equal(lines[0], 'Removing service getstartedlab_visualizer')
  t.match(lines[1], /^Updating service getstartedlab_web \(id: [0-9a-f]{12}\)$/)
  t.ok(lines.includes('overall progress: 2 out of 2 tasks'), w.text())
  t.same(services(), ['getstartedlab_redis', 'getstartedlab_web'])
  t.equal(store.getService('getstartedlab_redis')?.version, redisVersion, 'redis untouched')
  const running = store.listTasks().filter((x) => x.serviceName === 'getstartedlab_web' && x.desiredState === 'running')
  t.equal(running.length, 2)
})

t.test('a name owned by another service is refused before anything changes', async (t) => {
  await manager.createService(defaultServiceSpec('other_web', 'nginx'))
  const w = io()
  await t.rejects(deployStack(client, { stack: 'other', files: [{ name: 's.yml', text: 'services:\n  web:\n    image: nginx\n  db:\n    image: redis\n' }], env: {}, cwd: dir, detach: true }, w),
    { message: 'service "other_web" already exists and is not part of stack "other"; remove it or choose another stack name' })
  t.notOk(store.getService('other_db'), 'db not created either')
  await manager.removeService('other_web')
})

t.test('--with-registry-auth sends the credentials with created and updated services only', async (t) => {
  const auth = { username: 'u', password: 'p', serveraddress: 'registry:5000' }
  const files = (n: number) => [{ name: 's.yml', text: `services:\n  a:\n    image: registry:5000/a\n    deploy: {replicas: ${n}}\n  b:\n    image: b\n` }]
  const asked: string[] = []
  const registryAuth = (image: string) => (asked.push(image), image.startsWith('registry:5000/') ? auth : undefined)
  await deployStack(client, { stack: 'auth', files: files(1), env: {}, cwd: dir, detach: true, registryAuth }, io())
  const a = store.getService('auth_a')
  t.notOk(JSON.stringify(a).includes('"password"'), 'stored sealed, not in plain')
  t.same(openRegistryAuth(manager.vault, a?.id ?? '', a?.spec.registryAuth), auth, 'the sealed credentials open to what was sent')
  t.notOk(store.getService('auth_b')?.spec.registryAuth)
  asked.length = 0
  await deployStack(client, { stack: 'auth', files: files(2), env: {}, cwd: dir, detach: true, registryAuth }, io())
  t.same(asked, ['registry:5000/a'], 'asked only for the updated service')
  await removeStacks(client, ['auth'], io())
})

t.test('a crash-looping service ends the deploy with exit 1 naming the task and its error', async (t) => {
  const file = 'services:\n  web:\n    image: nginx\n  redis:\n    image: crashes\n    deploy: {restart_policy: {delay: 0s}}\n'
  const w = io()
  const err = await deployStack(client, { stack: 'crashy', files: [{ name: 's.yml', text: file }], env: {}, cwd: dir, pollMs: 50, timeoutMs: 120_000, sleep: tick }, w)
    .then(() => undefined, (e: unknown) => e as Error & { code?: string })
  t.equal(err?.code, 'MESH_ERR_NOT_CONVERGING')
  // The fake agents fail a task within milliseconds: a poll may see more than the 3 failures the verdict needs.
  const m = /^service "crashy_redis" is not converging: crashy_redis\.1: task: non-zero exit \(1\) \((\d+) failures; see mesh service ps crashy_redis\)$/.exec(err?.message ?? '')
  t.ok(m && Number(m[1]) >= 3, err?.message ?? 'no error')
  const lines = w.text().split('\n')
  // The progress shows the task's error unless the verdict came first (a loaded machine, fake agents failing in ms):
  // then the error names it, as checked above.
  const shown = lines.includes('crashy_redis.1: task: non-zero exit (1)') || lines.includes('crashy_redis.1: assigned')
  t.ok(shown, w.text())
  t.notOk(lines.includes('overall progress: 2 out of 2 tasks'), 'the failing task never counted')
  await removeStacks(client, ['crashy'], io())
})

t.test('stack rm removes every service of the stack and only those', async (t) => {
  await manager.createService(defaultServiceSpec('lonely', 'nginx'))
  const w = io()
  await removeStacks(client, ['getstartedlab', 'ghost'], w)
  t.equal(w.text(), 'Removing service getstartedlab_redis\nRemoving service getstartedlab_web\nRemoving network getstartedlab_webnet\n')
  t.equal(w.errText(), 'Nothing found in stack: ghost\n')
  t.same(services(), ['lonely'])
})

t.test('the mesh binary: -c twice, --detach, env interpolation; a bad file exits 1 with one line; --prune', async (t) => {
  writeFileSync(join(dir, 'base.yml'), 'services:\n  app:\n    image: nginx:${TAG:-1}\n    ports: ["9000:80"]\n')
  writeFileSync(join(dir, 'more.yml'), 'services:\n  app:\n    deploy: {replicas: 2}\n    build: .\n')
  const env = { ...process.env, MESH_DATA_DIR: dir, MESH_HOST: '', TAG: '2' }
  const ok = await runMesh(['stack', 'deploy', '-c', join(dir, 'base.yml'), '-c', join(dir, 'more.yml'), '--detach', 'demo'], { env, timeoutMs: 120_000 })
  t.equal(ok.code, 0, ok.stderr)
  t.equal(ok.stdout, 'Creating network demo_default\nCreating service demo_app\n')
  t.equal(ok.stderr, `warning: ignoring keys mesh does not support: ${join(dir, 'more.yml')}: services.app.build\n`)
  t.equal(store.getService('demo_app')?.spec.image, 'nginx:2')
  writeFileSync(join(dir, 'bad.yml'), 'services:\n  app:\n    image: nginx\n    deploy: {replicas: 3, placement: {constraints: ["node.zone == a"]}}\n')
  const bad = await runMesh(['stack', 'deploy', '-c', join(dir, 'bad.yml'), 'demo'], { env, timeoutMs: 120_000 })
  t.equal(bad.code, 1)
  t.equal(bad.stderr, `mesh: ${join(dir, 'bad.yml')}: services.app.deploy.placement.constraints[0]: constraint "node.zone == a": unknown field node.zone; use node.id, node.hostname, node.role or node.labels.<key>\n`)
  t.same(store.getService('demo_app')?.spec.mode, { replicated: { replicas: 2 } }, 'nothing changed')
  writeFileSync(join(dir, 'next.yml'), 'services:\n  web:\n    image: nginx\n')
  const pruned = await runMesh(['stack', 'deploy', '-c', join(dir, 'next.yml'), '--prune', '-d', 'demo'], { env, timeoutMs: 120_000 })
  t.equal(pruned.code, 0, pruned.stderr)
  t.equal(pruned.stdout, 'Removing service demo_app\nCreating service demo_web\n', '--prune removes the service the file dropped')
  const rm = await runMesh(['stack', 'rm', 'demo'], { env, timeoutMs: 120_000 })
  t.equal(rm.stdout, 'Removing service demo_web\nRemoving network demo_default\n')
  t.notOk(store.getService('demo_app'))
  t.notOk(store.getService('demo_web'))
})
