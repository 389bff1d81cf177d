/**
 * Jobs end to end without Docker: `mesh stack deploy` of a replicated job and a global job against a real manager
 * (in-memory store, HTTP API on a unix socket), with fake agents that run every assigned task and complete job
 * tasks (exit 0) once they have run. Asserted is what a user sees: the progress lines, `stack services` and the tasks.
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp, listen } from '../../../src/manager/http/api.ts'
import { Manager } from '../../../src/manager/manager.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { isJobMode } from '../../../src/api/mode.ts'
import { openSqliteStore } from '../../../src/manager/sqlite-store.ts'
import type { NodeRecord } from '../../../src/api/types.ts'
import { ManagerClient } from '../../../src/api/client.ts'
import { deployStack, listStackServices, type StackIo } from '../../../mesh/stack.ts'
import { testCsr } from '../../support/pki.ts'
import { startFakeAgents } from '../../support/fake-agents.ts'

const dir = mkdtempSync(join(tmpdir(), 'mesh-jobs-'))
const store = openSqliteStore(':memory:')
const manager = new Manager({ store })
await manager.init()
manager.start()
const resources = { nanoCpus: 4e9, memoryBytes: 8 * 2 ** 30 }
const nodes: NodeRecord[] = [
  (await manager.registerSelf({ hostname: 'manager1', addr: '10.0.0.1', resources }, { csr: await testCsr() })).node,
  ...await Promise.all([1, 2].map(async (i) => (await manager.join({ csr: await testCsr(), token: manager.tokens().worker, hostname: `worker${i}`, addr: `10.0.0.${i + 1}`, resources })).node)),
]
const server = await listen(createApp({ manager, local: true }, defaultServiceSpec), { socketPath: join(dir, 'manager.sock') })
const client = new ManagerClient({ dataDir: dir })
let maxLive = 0

/** Fake agents: assigned tasks run; a running job task completes on the next round; tasks told to stop stop. */
const stopAgents = startFakeAgents({
  manager, store, nodes, now: () => Date.now(),
  onTick: () => {
    const live = store.listTasks().filter((x) => x.serviceName === 'batch_migrate' && x.desiredState === 'running' && !['complete', 'failed', 'shutdown'].includes(x.status.state))
    maxLive = Math.max(maxLive, live.length)
  },
  next: (task, now) => task.desiredState === 'running' && task.status.state === 'running' && isJobMode(task.spec.mode)
    ? { state: 'complete', message: 'finished', exitCode: 0, timestamp: now }
    : null,
})

t.teardown(async () => {
  stopAgents()
  manager.stop()
  await new Promise<void>((r) => server.close(() => r()))
  store.close?.()
  rmSync(dir, { recursive: true, force: true })
})

function io(): StackIo & { text: () => string } {
  let out = ''
  return { out: (s) => void (out += s), err: (s) => void (out += s), text: () => out }
}

const FILE = `version: "3.9"
services:
  migrate:
    image: mesh/busybox
    deploy:
      mode: replicated-job
      replicas: 4
  warm:
    image: mesh/busybox
    deploy:
      mode: global-job
`

t.test('stack deploy of jobs waits for them to complete; stack services shows docker\'s columns', async (t) => {
  const w = io()
  await deployStack(client, { stack: 'batch', files: [{ name: 'stack.yml', text: FILE }], env: {}, cwd: dir, readFile: () => '', detach: false, pollMs: 50, timeoutMs: 120_000 }, w)
  const lines = w.text().split('\n').filter((l) => l !== '')
  t.ok(lines.includes('overall progress: 7 out of 7 tasks'), w.text())
  t.equal(lines.at(-1), 'verify: 2 services converged')
  const done = store.listTasks().filter((x) => x.status.state === 'complete')
  t.equal(done.filter((x) => x.serviceName === 'batch_migrate').length, 4, 'the replicated job: 4 completions')
  t.same(done.filter((x) => x.serviceName === 'batch_warm').map((x) => x.nodeId).sort(), nodes.map((n) => n.id).sort(), 'the global job: once per node')
  t.ok(maxLive <= 4, `never more than max-concurrent live (${maxLive})`)
  await new Promise((r) => setTimeout(r, 300))
  t.equal(store.listTasks().length, 7, 'nothing restarted after completion')
  const ls = io()
  await listStackServices(client, 'batch', false, ls)
  t.match(ls.text(), /batch_migrate\s+replicated job\s+0\/4 \(4\/4 completed\)/)
  t.match(ls.text(), /batch_warm\s+global job\s+0\/0 \(3\/3 completed\)/)
})
