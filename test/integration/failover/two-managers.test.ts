/**
 * Manager failover end to end, in one process: two managers (two Manager objects on one shared store, each serving
 * the real API over mutual TLS on 127.0.0.2 and 127.0.0.3, same port) and a worker's real link (WorkerLink over
 * FailoverTransport over HttpManagerTransport) that joined through the first. The join reply and the watch stream
 * name both managers (kept in managers.json); when the first manager's API closes, the link reconnects to the
 * second, gets its assignment there and reports to it; a restarted link starts from the saved list; the CLI, given both managers
 * (MESH_HOST or a context), answers from the second. Every wait is bounded; nothing asserts a duration.
 */
import t, { type Test } from 'tap'
import type http from 'node:http'
import net from 'node:net'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Manager, createApp, listen, openSqliteStore } from '../../../src/manager/index.ts'
import { defaultServiceSpec } from '../../../src/api/index.ts'
import type { TaskRecord } from '../../../src/api/types.ts'
import { realClock } from '../../../src/base/clock.ts'
import { certificateInfo, createNodeKeyAndCsr } from '../../../src/pki/index.ts'
import {
  FailoverTransport, HttpManagerTransport, WorkerLink, readSavedManagers, savedManager, seedManagers, splitManagerAddress,
} from '../../../src/worker/index.ts'
import { runMesh } from '../../support/cli.ts'

const dir = mkdtempSync(join(tmpdir(), 'mesh-failover-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

const store = openSqliteStore(':memory:')
t.teardown(() => store.close())
const m1 = new Manager({ store })
await m1.init()
const m2 = new Manager({ store })
if ((await m2.init()).created) throw new Error('the second manager made a cluster of its own') // it opens the first one's
const clusterId = m1.clusterInfo().clusterId
const resources = { nanoCpus: 2e9, memoryBytes: 2 ** 31 }

/** Serve `m`'s API on `host:port` with a manager certificate for that address. */
async function serve(m: Manager, name: string, host: string, port: number): Promise<http.Server> {
  const { keyPem, csrPem } = await createNodeKeyAndCsr()
  const cert = await m.ca.issue(csrPem, { nodeId: `api-${name}`, role: 'manager', clusterId, ipSans: [host] })
  const server = await listen(createApp({ manager: m, local: false, apiPort: port }, defaultServiceSpec), { host, port, tls: { key: keyPem, cert, ca: m.ca.trust().roots } })
  t.teardown(() => close(server))
  return server
}
function close(server: http.Server): Promise<void> {
  return new Promise((r) => {
    server.closeAllConnections()
    server.close(() => r())
  })
}

/** A port free on 127.0.0.2 (both managers serve on it, as every manager of a cluster serves on one API port). */
async function freePort(): Promise<number> {
  const probe = net.createServer()
  await new Promise<void>((r) => probe.listen(0, '127.0.0.2', r))
  const p = (probe.address() as { port: number }).port
  await new Promise<void>((r) => probe.close(() => r()))
  return p
}
const port = await freePort()
const a = await serve(m1, 'm1', '127.0.0.2', port)
await serve(m2, 'm2', '127.0.0.3', port)
await m1.registerSelf({ hostname: 'm1', addr: '127.0.0.2', resources }, { csr: (await createNodeKeyAndCsr()).csrPem })
await m2.registerSelf({ hostname: 'm2', addr: '127.0.0.3', resources }, { csr: (await createNodeKeyAndCsr()).csrPem })
const [first, second] = [`127.0.0.2:${port}`, `127.0.0.3:${port}`]

/** Poll `cond` every 20 ms, at most `ms`. */
async function until(t: Test, what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) {
      t.fail(`not within ${ms} ms: ${what}`)
      throw new Error(`gave up waiting: ${what}`)
    }
    await new Promise((r) => setTimeout(r, 20))
  }
}

interface Agent { link: WorkerLink; transport: FailoverTransport; tasks: TaskRecord[][]; logs: string[] }

function agent(t: Test, managers: string[], token?: string, name = 'w1'): Agent {
  const logs: string[] = []
  const log = (level: string, msg: string, fields?: Record<string, unknown>) => logs.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`)
  const transport = new FailoverTransport({ managers, connect: (addr) => new HttpManagerTransport(splitManagerAddress(addr)), log })
  const tasks: TaskRecord[][] = []
  const link = new WorkerLink({
    transport, clock: realClock(), dataDir: join(dir, name), hostname: name, addr: '127.0.0.9', resources,
    onAssignments: (ts) => tasks.push(ts), log, ...(token ? { token } : {}),
  })
  t.teardown(() => link.stop())
  return { link, transport, tasks, logs }
}

mkdirSync(join(dir, 'w1'))
mkdirSync(join(dir, 'w0'))

t.test('the join reply names both managers: managers.json is written before register() returns, no stream needed', { timeout: 60_000 }, async (t) => {
  const w = agent(t, [first], m1.tokens().worker, 'w0')
  await w.link.register()
  t.same(readSavedManagers(join(dir, 'w0')).list.map((m) => [m.addr, m.port]), [['127.0.0.2', port], ['127.0.0.3', port]])
  t.same(w.transport.managers, [first, second], 'the transport fails over along them')
  t.equal(w.transport.address, first)
  t.equal(w.link.connected, false, 'no watch stream was opened')
})

t.test('the link follows the managers list to the second manager when the first closes; a restart starts from the saved list', { timeout: 60_000 }, async (t) => {
  const w = agent(t, [first], m1.tokens().worker)
  await w.link.register()
  w.link.start()
  await until(t, 'the stream is open', () => w.link.connected)
  await until(t, 'the saved list names both managers', () => readSavedManagers(join(dir, 'w1')).list.length === 2)
  t.same(readSavedManagers(join(dir, 'w1')).list.map((m) => [m.addr, m.port]), [['127.0.0.2', port], ['127.0.0.3', port]])
  t.same(w.transport.managers, [first, second])
  t.equal(w.transport.address, first)

  await close(a) // the first manager is gone
  await until(t, 'reconnected to the second manager', () => w.link.connected && w.transport.address === second)

  const spec = defaultServiceSpec('web', 'nginx')
  spec.constraints = ['node.hostname == w1']
  await m2.createService(spec)
  await m2.reconcileNow()
  await until(t, 'the assignment arrives from the second manager', () => (w.tasks.at(-1)?.length ?? 0) === 1)
  const task = w.tasks.at(-1)?.[0] as TaskRecord
  w.link.report(task.id, { state: 'running', message: 'started', timestamp: Date.now() })
  await until(t, 'the report reached the second manager', () => m2.listTasks().find((x) => x.id === task.id)?.status.state === 'running')
  t.match(w.logs.join('\n'), /the assignment stream dropped; trying the next manager/)
  w.link.stop()

  // A restart: no --join, the identity and managers.json of the first run.
  const seeds = seedManagers({ manager: '', join: [], apiPort: port, saved: readSavedManagers(join(dir, 'w1')).list, registered: savedManager(join(dir, 'w1')) })
  t.same(seeds, [first, second], 'starts from the saved list')
  const again = agent(t, seeds)
  t.equal((await again.link.register()).nodeId, task.nodeId, 'the same identity')
  again.link.start()
  await until(t, 'the restarted link reaches the second manager', () => again.link.connected && again.transport.address === second)
})

t.test('the CLI, given both managers, answers from the second', { timeout: 60_000 }, async (t) => {
  const { keyPem, csrPem } = await createNodeKeyAndCsr()
  const cert = await m2.ca.issue(csrPem, { nodeId: 'ops', role: 'admin', clusterId })
  const info = certificateInfo(cert)
  await m2.ca.recordAdminClient({ name: 'ops', serial: info.serial, notAfter: info.notAfter })
  const bundle = join(dir, 'ops')
  mkdirSync(bundle)
  writeFileSync(join(bundle, 'ca.pem'), m2.ca.trust().roots.join(''))
  writeFileSync(join(bundle, 'cert.pem'), cert)
  writeFileSync(join(bundle, 'key.pem'), keyPem)
  const saved = { ...process.env }
  t.teardown(() => {
    for (const k of ['MESH_HOST', 'MESH_CERT_PATH', 'MESH_CONFIG_DIR', 'MESH_CONTEXT']) {
      if (saved[k] === undefined) delete process.env[k]
      else process.env[k] = saved[k]
    }
  })
  process.env.MESH_CONFIG_DIR = join(dir, 'cfg')
  delete process.env.MESH_CONTEXT

  process.env.MESH_HOST = `tcp://127.0.0.2:${port},tcp://127.0.0.3:${port}`
  process.env.MESH_CERT_PATH = bundle
  const ls = await runMesh('service', 'ls', '--format', '{{.Name}}')
  t.same(ls, { code: 0, out: 'web\n', err: '' }, 'MESH_HOST with both: answered by the second')
  delete process.env.MESH_HOST
  delete process.env.MESH_CERT_PATH

  const made = await runMesh('context', 'create', 'ha', '--host', `tcp://127.0.0.2:${port}`, '--host', `tcp://127.0.0.3:${port}`,
    '--tls-ca', join(bundle, 'ca.pem'), '--tls-cert', join(bundle, 'cert.pem'), '--tls-key', join(bundle, 'key.pem'))
  t.equal(made.code, 0, made.err)
  const nodes = await runMesh('--context', 'ha', 'node', 'ls', '-q')
  t.equal(nodes.code, 0, nodes.err)
  t.equal(nodes.out.trim().split('\n').length, 4, 'm1, m2, w0 and w1')

  process.env.MESH_CERT_PATH = bundle
  const only = await runMesh('--host', `tcp://127.0.0.2:${port}`, 'node', 'ls') // the closed one alone
  t.equal(only.code, 1)
  t.match(only.err, /^mesh: cannot reach the manager at tcp:\/\/127\.0\.0\.2:\d+: /)
})
