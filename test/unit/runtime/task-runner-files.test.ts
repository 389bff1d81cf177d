/**
 * The task runner with secret and config files (TaskRunner + TaskFiles on a fake tmpfs and a fake engine): a task
 * whose value has not arrived waits with a status naming it and never starts; once the value comes the container
 * is created with its files bound read-only at their targets; the files go when the task's container is removed,
 * and at start for tasks no longer assigned (what an earlier run left).
 */
import t, { type Test } from 'tap'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TaskFiles, TaskRunner, type TaskReport } from '../../../src/runtime/index.ts'
import type { FileReference, TaskRecord } from '../../../src/api/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { FakeDocker } from './fake-docker.ts'
import { FakeTmpfs } from './fake-tmpfs.ts'
import { task } from './fixtures.ts'

const uid = String(process.getuid?.() ?? 0)
const ref = (o: Partial<FileReference> = {}): FileReference => ({ id: 's1', name: 'db', target: 'db', uid, gid: uid, mode: 0o444, ...o })
const VALUE = Buffer.from('s3cr3t-value')

function setup(t: Test) {
  const root = mkdtempSync(join(tmpdir(), 'mesh-runner-files-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const docker = new FakeDocker()
  docker.images.add('mesh/busybox:latest')
  const tmpfs = new FakeTmpfs()
  const files = new TaskFiles({ runDir: join(root, 'run'), dataDir: join(root, 'data'), tmpfs })
  const reports: { id: string; s: TaskReport }[] = []
  const runner = new TaskRunner({ runtime: docker, network: 'meshtest', report: (id, s) => reports.push({ id, s }), clock: new FakeClock(), files })
  const seq = (id: string) => reports.filter((r) => r.id === id).map((r) => `${r.s.state} ${r.s.message}`)
  const dir = (id: string) => join(root, 'run', 'tasks', id)
  return { root, docker, tmpfs, runner, seq, dir }
}

t.test('waits for a value, then runs with its files bound read-only', async (t) => {
  const { docker, runner, seq, dir } = setup(t)
  await runner.start()
  const tk = task({ id: 't1', spec: { secrets: [ref()], configs: [ref({ id: 'c1', name: 'app', target: '/etc/app.conf' })] } })
  runner.setAssignments([tk])
  await runner.idle()
  t.same(seq('t1'), ['preparing waiting: secret "db" has not reached this node yet'], 'waits, saying for what')
  t.same(docker.byTask('t1'), [], 'no container without its secret')
  runner.setAssignments([tk]) // an unrelated change: still waiting, not retried in a loop
  await runner.idle()
  t.equal(seq('t1').length, 1)

  runner.setValues('secrets', [{ id: 's1', data: VALUE.toString('base64') }])
  await runner.idle()
  t.same(seq('t1').at(-1), 'preparing waiting: config "app" has not reached this node yet')
  runner.setValues('configs', [{ id: 'c1', data: Buffer.from('x=1').toString('base64') }])
  await runner.idle()
  t.same(seq('t1').slice(-3), ['preparing preparing', 'starting starting', 'running started'])
  const c = docker.byTask('t1')[0]
  const mounts = c?.config?.HostConfig?.Mounts ?? []
  t.same(mounts.map((m) => [m.Type, m.Target, m.ReadOnly]), [['bind', '/run/secrets/db', true], ['bind', '/etc/app.conf', true]])
  t.ok(mounts.every((m) => (m.Source ?? '').startsWith(`${dir('t1')}/`)), 'from the task\'s own tmpfs')
  t.notOk(JSON.stringify(c?.config).includes(VALUE.toString()), 'the create request carries no value')
  t.notOk(JSON.stringify(c?.config).includes(VALUE.toString('base64')), 'not even in base64')
})

t.test('files removed with the task\'s container; at start, leftovers of tasks no longer assigned go', async (t) => {
  const { docker, tmpfs, runner, dir } = setup(t)
  mkdirSync(dir('old-task'), { recursive: true }) // an earlier run's task, no longer here
  await runner.start()
  runner.setValues('secrets', [{ id: 's1', data: VALUE.toString('base64') }])
  const tk = task({ id: 't2', spec: { secrets: [ref()] } })
  runner.setAssignments([tk])
  await runner.idle()
  t.notOk(existsSync(dir('old-task')), 'the stale dir went on the first pass')
  t.ok(existsSync(dir('t2')), 'the running task keeps its files')

  const stopping: TaskRecord = { ...tk, desiredState: 'shutdown', status: { ...tk.status, state: 'running' } }
  runner.setAssignments([stopping])
  await runner.idle()
  t.same(docker.byTask('t2'), [], 'container removed')
  t.notOk(existsSync(dir('t2')), 'and its files with it')
  t.notOk(tmpfs.mounted.has(dir('t2')), 'tmpfs unmounted')
})

t.test('without a file store a task that uses a secret is rejected, never started', async (t) => {
  const docker = new FakeDocker()
  docker.images.add('mesh/busybox:latest')
  const reports: TaskReport[] = []
  const runner = new TaskRunner({ runtime: docker, network: 'meshtest', report: (_id, s) => reports.push(s), clock: new FakeClock() })
  await runner.start()
  runner.setAssignments([task({ id: 't3', spec: { secrets: [ref()] } })])
  await runner.idle()
  t.match(reports.at(-1), { state: 'rejected', message: 'this node keeps no secret or config files' })
  t.same(docker.byTask('t3'), [])
})
