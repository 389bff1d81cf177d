/**
 * The wait after `mesh service create|update|scale|rollback`: a scripted manager (service view + tasks as a function
 * of the manager's clock, which each poll's sleep moves 1 s), and the exact lines a user sees.
 */
import t from 'tap'
import { converge, type ConvergeClient } from '../../../mesh/converge.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import type { ServiceRecord, ServiceSpec, TaskRecord, TaskStatus } from '../../../src/api/types.ts'

const START = 10_000

interface World {
  service: (now: number) => ServiceRecord
  tasks: (now: number) => TaskRecord[]
  nodes?: { id: string; hostname: string }[]
}

/** A fake manager whose clock starts at START; `sleep` moves it 1 s. Local clock: the same, for the timeout. */
function harness(w: World) {
  let now = START
  const paths: string[] = []
  const client: ConvergeClient = {
    request: async <T>(method: string, path: string): Promise<T> => {
      paths.push(`${method} ${path}`)
      if (path.startsWith('/v1/services/')) return { ...w.service(now), running: 0, desired: 0, now } as T
      if (path.startsWith('/v1/tasks?service=')) return w.tasks(now) as T
      if (path === '/v1/nodes') return (w.nodes ?? []) as T
      throw new Error(`unexpected ${path}`)
    },
  }
  let out = ''
  const o = { out: (s: string) => void (out += s), sleep: async () => void (now += 1000), clock: () => now, timeoutMs: 60_000 }
  return { client, o, text: () => out, paths }
}

function record(o: Partial<ServiceSpec> = {}): ServiceRecord {
  return { id: 's1', spec: { ...defaultServiceSpec('web', 'img:1'), mode: { replicated: { replicas: 2 } }, ...o }, version: 1, createdAt: START, updatedAt: START }
}

let n = 0
function task(s: ServiceRecord, slot: number, createdAt: number, st: Partial<TaskStatus>, o: Partial<TaskRecord> = {}): TaskRecord {
  return {
    id: `t${++n}`, serviceId: s.id, serviceName: s.spec.name, slot, nodeId: 'n1', specVersion: 1, spec: s.spec, desiredState: 'running',
    status: { state: 'running', message: '', timestamp: createdAt, ...st }, createdAt, updatedAt: createdAt, ...o,
  }
}

t.test('create: tasks count once they have run 5 s; verify counts down; then converged', async (t) => {
  const s = record()
  const tasks = (now: number) => [1, 2].map((slot) => now < START + 1000
    ? task(s, slot, START, { state: 'starting' }, { id: `a${slot}` })
    : task(s, slot, START, { state: 'running', startedAt: START + 1000 }, { id: `a${slot}` }))
  const h = harness({ service: () => s, tasks })
  await converge(h.client, 'web', h.o)
  t.equal(h.text(), [
    'overall progress: 0 out of 2 tasks',
    '1/2: starting',
    '2/2: starting',
    '1/2: running',
    '2/2: running',
    'verify: Waiting 5 seconds to verify that tasks are stable...',
    'verify: Waiting 4 seconds to verify that tasks are stable...',
    'verify: Waiting 3 seconds to verify that tasks are stable...',
    'verify: Waiting 2 seconds to verify that tasks are stable...',
    'verify: Waiting 1 seconds to verify that tasks are stable...',
    'overall progress: 2 out of 2 tasks',
    'verify: Service converged',
    '',
  ].join('\n'))
  t.notOk(h.paths.includes('GET /v1/nodes'), 'a replicated service needs no node names')
})

t.test('create of a task that exits at once: exit 1 after 3 failures, naming the task and its error', async (t) => {
  const s = record()
  const failed = (i: number) => task(s, 1, START + i * 1000, { state: 'failed', err: 'task: non-zero exit (1)', message: 'task: non-zero exit (1)', exitCode: 1, timestamp: START + i * 1000 + 10 }, { id: `f${i}` })
  const tasks = (now: number) => {
    const k = (now - START) / 1000 // one more failed task of slot 1 per second
    return [...Array.from({ length: k + 1 }, (_, i) => failed(i)), task(s, 2, START - 60_000, { state: 'running', startedAt: START - 60_000 }, { id: 'ok' })]
  }
  const h = harness({ service: () => s, tasks })
  await t.rejects(converge(h.client, 'web', h.o), {
    code: 'MESH_ERR_NOT_CONVERGING',
    message: 'service "web" is not converging: web.1: task: non-zero exit (1) (3 failures; see mesh service ps web)',
  })
  t.equal(h.text(), ['overall progress: 1 out of 2 tasks', '1/2: task: non-zero exit (1)', '2/2: running', ''].join('\n'))
})

t.test('update: tasks of the old spec do not count, failures from before the update are forgotten', async (t) => {
  const before = record()
  const s = { ...record({ image: 'img:2' }), version: 2, updatedAt: START }
  const tasks = (now: number) => [
    task(before, 1, START - 60_000, { state: 'failed', err: 'task: non-zero exit (1)', exitCode: 1 }, { id: 'x1' }),
    task(before, 1, START - 50_000, { state: 'failed', err: 'task: non-zero exit (1)', exitCode: 1 }, { id: 'x2' }),
    task(before, 1, START - 40_000, { state: 'failed', err: 'task: non-zero exit (1)', exitCode: 1 }, { id: 'x3' }),
    ...[1, 2].map((slot) => now < START + 3000
      ? task(before, slot, START - 30_000, { state: 'running', startedAt: START - 30_000 }, { id: `old${slot}` })
      : task(s, slot, START + 3000, { state: 'running', startedAt: START + 3000 }, { id: `new${slot}` })),
  ]
  const h = harness({ service: () => s, tasks })
  await converge(h.client, 'web', h.o)
  const lines = h.text().trim().split('\n')
  t.equal(lines[0], 'overall progress: 0 out of 2 tasks', 'old tasks running for minutes: not counted')
  t.equal(lines.at(-2), 'overall progress: 2 out of 2 tasks')
  t.equal(lines.at(-1), 'verify: Service converged')
})

t.test('paused update and the timeout end the wait with one line', async (t) => {
  const paused = { ...record(), updateStatus: { state: 'paused' as const, startedAt: START, message: 'update paused due to failure or early termination of task t7' } }
  const h = harness({ service: () => paused, tasks: () => [] })
  await t.rejects(converge(h.client, 'web', h.o), { code: 'MESH_ERR_CONFIG', message: 'service "web": update paused due to failure or early termination of task t7 (see mesh service ps web)' })
  const s = record({ mode: { replicated: { replicas: 1 } } })
  const pending = task(s, 1, START, { state: 'pending', message: 'no suitable node (1 node not satisfying constraint node.role==manager)' })
  const w = harness({ service: () => s, tasks: () => [pending] })
  await t.rejects(converge(w.client, 'web', { ...w.o, timeoutMs: 10_000 }), {
    code: 'MESH_ERR_CONFIG',
    message: 'service "web" did not converge in 10 s: web.1: no suitable node (1 node not satisfying constraint node.role==manager) (see mesh service ps web)',
  })
  t.match(w.text(), /^1\/1: no suitable node \(1 node not satisfying constraint node\.role==manager\)$/m)
})

t.test('global: slots are named by node; a job prints job complete', async (t) => {
  const s = record({ mode: { global: {} } })
  const h = harness({
    service: () => s,
    tasks: () => [task(s, 0, START - 10_000, { state: 'running', startedAt: START - 10_000 }, { nodeId: 'n1' })],
    nodes: [{ id: 'n1', hostname: 'node1' }],
  })
  await converge(h.client, 'web', h.o)
  t.equal(h.text(), 'overall progress: 1 out of 1 tasks\nnode1: running\nverify: Service converged\n')
  const job = record({ mode: { replicatedJob: { maxConcurrent: 1, totalCompletions: 1 } } })
  const j = harness({
    service: () => job,
    tasks: (now) => [task(job, 1, START, now < START + 2000 ? { state: 'running' } : { state: 'complete', exitCode: 0 })],
  })
  await converge(j.client, 'web', j.o)
  t.equal(j.text(), 'job progress: 0 out of 1 complete\n1/1: running\njob progress: 1 out of 1 complete\n1/1: complete\njob complete\n')
})

t.test('rollback: docker’s lines, the reason first', async (t) => {
  const s = record({ mode: { replicated: { replicas: 1 } } })
  const service = (now: number): ServiceRecord => ({
    ...s, updateStatus: now < START + 6000
      ? { state: 'rollback_started', startedAt: START, message: 'manually requested rollback' }
      : { state: 'rollback_completed', startedAt: START, completedAt: START + 6000, message: 'rollback completed' },
  })
  const tasks = (now: number) => [task(s, 1, START, now < START + 1000 ? { state: 'starting' } : { state: 'running', startedAt: START + 1000 }, { id: 'r1' })]
  const h = harness({ service, tasks })
  await converge(h.client, 'web', h.o)
  t.equal(h.text(), [
    'overall progress: rolling back update: 0 out of 1 tasks',
    'rollback: manually requested rollback',
    '1/1: starting',
    '1/1: running',
    'verify: Waiting 5 seconds to verify that tasks are stable...',
    'verify: Waiting 4 seconds to verify that tasks are stable...',
    'verify: Waiting 3 seconds to verify that tasks are stable...',
    'verify: Waiting 2 seconds to verify that tasks are stable...',
    'verify: Waiting 1 seconds to verify that tasks are stable...',
    'overall progress: 1 out of 1 tasks',
    'rollback: rollback completed',
    'verify: Service converged',
    '',
  ].join('\n'))
})

t.test('a task that dies during the countdown: docker’s "Detected task failure", then the countdown again', async (t) => {
  const s = record({ mode: { replicated: { replicas: 1 } } })
  const first = task(s, 1, START, { state: 'running', startedAt: START }, { id: 'd1' })
  const died = task(s, 1, START, { state: 'failed', err: 'task: non-zero exit (137)', exitCode: 137, timestamp: START + 2500, startedAt: START }, { id: 'd1' })
  const second = task(s, 1, START + 3000, { state: 'running', startedAt: START + 3000 }, { id: 'd2' })
  const tasks = (now: number) => now < START + 2000 ? [first] : now < START + 3000 ? [died] : [died, second]
  const h = harness({ service: () => s, tasks })
  await converge(h.client, 'web', h.o)
  t.equal(h.text(), [
    'overall progress: 0 out of 1 tasks',
    '1/1: running',
    'verify: Waiting 5 seconds to verify that tasks are stable...',
    'verify: Waiting 4 seconds to verify that tasks are stable...',
    '1/1: task: non-zero exit (137)',
    'verify: Detected task failure',
    '1/1: running',
    'verify: Waiting 5 seconds to verify that tasks are stable...',
    'verify: Waiting 4 seconds to verify that tasks are stable...',
    'verify: Waiting 3 seconds to verify that tasks are stable...',
    'verify: Waiting 2 seconds to verify that tasks are stable...',
    'verify: Waiting 1 seconds to verify that tasks are stable...',
    'overall progress: 1 out of 1 tasks',
    'verify: Service converged',
    '',
  ].join('\n'))
})
