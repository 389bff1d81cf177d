/**
 * The Manager's reconcile loop on an injected FakeClock: a committed change schedules a pass 20 ms later (not
 * before), the pass commits the plan, and stop() cancels what is scheduled. No wall-clock sleeps.
 */
import t from 'tap'
import { Manager, openSqliteStore } from '../../../src/manager/index.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { testCsr } from '../../support/pki.ts'

t.test('a change wakes the reconcile loop after 20 ms of the injected clock; stop cancels it', async (t) => {
  const clock = new FakeClock()
  const store = openSqliteStore(':memory:')
  t.teardown(() => store.close())
  const m = new Manager({ store, clock })
  await m.init()
  await m.join({ csr: await testCsr(), token: m.tokens().worker, hostname: 'w1', addr: '10.0.0.2', resources: { nanoCpus: 2e9, memoryBytes: 2 ** 31 } })
  m.start()
  await clock.advance(0)
  const spec = defaultServiceSpec('web', 'nginx')
  spec.mode = { replicated: { replicas: 2 } }
  await m.createService(spec)
  await clock.advance(19)
  t.equal(m.listTasks().length, 0, 'nothing before the 20 ms coalescing delay')
  await clock.advance(1)
  const tasks = m.listTasks()
  t.equal(tasks.length, 2, 'the pass created the tasks')
  t.ok(tasks.every((x) => x.status.state === 'assigned'), 'and placed them')
  m.stop()
  await m.updateService('web', (s) => ({ ...s, mode: { replicated: { replicas: 3 } } }))
  await clock.advance(1000)
  t.equal(m.listTasks().length, 2, 'stopped: no pass runs')
})
