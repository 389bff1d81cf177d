import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WorkerLink } from '../../../src/worker/index.ts'
import type { DeliveredValue } from '../../../src/api/secrets.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { FakeManager, fakeNodeTls } from './fake-manager.ts'

/**
 * `{secrets}` / `{configs}` lines go to onValues before the `{tasks}` of the same line; a list that is not
 * `[{id, data: base64}]` is a bad line, logged without its content.
 */

const nodeTls = await fakeNodeTls('n1')
const VALUE = Buffer.from('s3cr3t').toString('base64')

t.test('values handed on in order; malformed lists refused without echoing them', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mesh-worker-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const clock = new FakeClock()
  const manager = new FakeManager(clock)
  const got: string[] = []
  const logs: string[] = []
  const link = new WorkerLink({
    transport: manager, clock, dataDir, hostname: 'w1', addr: '10.0.0.2', resources: { nanoCpus: 1e9, memoryBytes: 1e9 },
    onAssignments: (tasks) => got.push(`tasks ${tasks.length}`),
    onValues: (kind, values: DeliveredValue[]) => got.push(`${kind} ${values.map((v) => v.id).join(',')}`),
    log: (level, msg, fields) => logs.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`),
  })
  link.useIdentity({ nodeId: 'n1', role: 'worker', manager: manager.address }, nodeTls)
  t.teardown(() => link.stop())
  link.start()
  const s = manager.streams[0]!
  s.open()
  s.send({ secrets: [{ id: 's1', data: VALUE }], configs: [], tasks: [] })
  s.send({ secrets: [] })
  t.same(got, ['secrets s1', 'configs ', 'tasks 0', 'secrets '])
  s.send({ secrets: [{ id: 's2', data: 'not base64!' }] })
  s.send({ configs: 'all of them' })
  s.send({ secrets: [{ data: VALUE }] })
  t.equal(got.length, 4, 'three bad lines handed nothing on')
  t.equal(logs.filter((l) => l.includes('bad line on the assignment stream')).length, 3)
  t.notOk(logs.some((l) => l.includes(VALUE) || l.includes('not base64')), 'no log line carries what was sent')
})
