/**
 * The `{managers}` line of the agent push stream: every node with role manager and its API address, sent when the
 * stream opens and again when the managers change (coalesced over 10 ms of the manager's FakeClock), never for a
 * change that leaves them as they were; nothing while the store names no manager.
 */
import t from 'tap'
import { Manager, openSqliteStore } from '../../../src/manager/index.ts'
import { managerAddresses, managersLine } from '../../../src/manager/http/managers-line.ts'
import type { ManagerAddress } from '../../../src/api/watch.ts'
import type { NodeRecord } from '../../../src/api/types.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { openWatch } from '../../support/watch.ts'
import { testCsr, tlsApi } from '../../support/pki.ts'

t.test('managerAddresses: managers only, sorted by hostname, on the API port', async (t) => {
  const node = (hostname: string, role: 'manager' | 'worker', addr: string): NodeRecord => ({
    id: `id-${hostname}`, hostname, role, addr, availability: 'active', labels: {}, state: 'ready', stateChangedAt: 0,
    resources: { nanoCpus: 1, memoryBytes: 1 }, createdAt: 0, updatedAt: 0,
  })
  const nodes = [node('m10', 'manager', '10.0.0.10'), node('w1', 'worker', '10.0.0.5'), node('m2', 'manager', 'fd00::2'), node('m3', 'manager', '')]
  t.same(managerAddresses(nodes, 7950), [{ id: 'id-m2', addr: 'fd00::2', port: 7950 }, { id: 'id-m10', addr: '10.0.0.10', port: 7950 }])
  t.equal(managersLine([nodes[1] as NodeRecord], 7947), '', 'no manager: no line')
})

t.test('the stream names the managers at once and again when one is promoted or demoted', { timeout: 15_000 }, async (t) => {
  const clock = new FakeClock()
  const store = openSqliteStore(':memory:')
  t.teardown(() => store.close())
  const manager = new Manager({ store, clock })
  await manager.init()
  const api = await tlsApi(t, manager)
  const { tls } = await api.joinNode('w1', { addr: '10.0.0.2' })
  const quiet = await openWatch<Record<string, unknown>, string>(api.target(tls), (l) => (l.managers ? 'managers' : Object.keys(l).length === 0 ? 'heartbeat' : undefined))
  t.teardown(quiet.close)
  await clock.advance(10_000)
  t.equal(await quiet.next(), 'heartbeat', 'no manager in the store: no managers line before the first heartbeat')
  quiet.close()

  const self = await manager.registerSelf({ hostname: 'm1', addr: '10.0.0.1', resources: { nanoCpus: 1e9, memoryBytes: 1e9 } }, { csr: await testCsr() })
  const w = await openWatch<{ managers?: ManagerAddress[] }, ManagerAddress[]>(api.target(tls), (l) => l.managers)
  t.teardown(w.close)
  t.same(await w.next(), [{ id: self.node.id, addr: '10.0.0.1', port: 7947 }], 'the one manager, on the default API port')

  const w2 = await api.joinNode('w2', { addr: '10.0.0.3' })
  await manager.updateNode('w1', { labelAdd: { zone: 'a' } }) // changes no manager
  await manager.updateNode('w2', { role: 'manager' })
  await clock.advance(10)
  t.same(await w.next(), [{ id: self.node.id, addr: '10.0.0.1', port: 7947 }, { id: w2.node.id, addr: '10.0.0.3', port: 7947 }],
    'the next managers line names the promoted node too')
  await manager.updateNode('w2', { role: 'worker' })
  await clock.advance(10)
  t.same(await w.next(), [{ id: self.node.id, addr: '10.0.0.1', port: 7947 }], 'demoted: gone again')
})
