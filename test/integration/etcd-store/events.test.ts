/**
 * The event history on EtcdStore against a real one-member etcd (issue 15 item 6): the EventHistory conformance
 * (each test under its own prefix), a Manager on a new EtcdStore over the same etcd keeping `mesh events --since`,
 * and nothing secret in the stored values.
 */
import t from 'tap'
import { Etcd3 } from 'etcd3'
import { EtcdStore } from '../../../src/manager/etcd-store/index.ts'
import { Manager } from '../../../src/manager/manager.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { startEtcd } from '../../support/etcd.ts'
import { eventHistoryConformance } from '../../unit/manager/event-history-conformance.ts'

const etcd = await startEtcd(t)
let n = 0

async function openStore(prefix: string): Promise<EtcdStore> {
  const client = new Etcd3({ hosts: etcd.clientUrls })
  return new EtcdStore(client, { prefix, describe: etcd.endpoints.join(',') }).open()
}

eventHistoryConformance(t, {
  name: 'etcd',
  open: async (t) => {
    const s = await openStore(`/ev${++n}/`)
    t.teardown(() => s.close())
    return s
  },
  durable: async (t) => {
    const prefix = `/ev${++n}/`
    let s = await openStore(prefix)
    t.teardown(() => s.close())
    return { store: s, reopen: async () => { s.close(); s = await openStore(prefix); return s } }
  },
})

t.test('a Manager on a new EtcdStore over the same etcd keeps the history; nothing secret is stored', async (t) => {
  const prefix = `/ev${++n}/`
  const VALUE = 'hunter2-etcd-secret'
  let store = await openStore(prefix)
  let m = new Manager({ store })
  await m.init()
  m.start()
  const secret = await m.secrets.createSecret({ name: 'db', data: Buffer.from(VALUE).toString('base64') })
  const spec = defaultServiceSpec('web', 'nginx:1')
  spec.mode = { replicated: { replicas: 0 } } // no tasks: the orchestrator adds no events of its own
  await store.transact((tx) => tx.putService({ id: 'web1', spec, version: 1, createdAt: 1, updatedAt: 1 }))
  await m.events.flush()
  const before = m.events.since(0).map((e) => `${e.id} ${e.type} ${e.action} ${e.subject}`)
  t.ok(before.includes('1 secret create db') && before.includes('2 service create web'), before.join('; '))
  m.stop()
  store.close()

  store = await openStore(prefix)
  m = new Manager({ store })
  await m.init()
  m.start()
  t.teardown(() => {
    m.stop()
    store.close()
  })
  await m.events.ready
  t.same(m.events.since(0).map((e) => `${e.id} ${e.type} ${e.action} ${e.subject}`), before, 'the same events after the restart')
  await store.transact((tx) => tx.deleteService('web1'))
  await m.events.flush()
  const last = m.events.since(0).at(-1)
  t.same([last?.id, last?.action], [before.length + 1, 'remove'], 'new ids go on after the stored ones')

  const client = new Etcd3({ hosts: etcd.clientUrls })
  t.teardown(() => client.close())
  const raw = Object.values(await client.getAll().prefix(`${prefix}events/`).strings()).join('\n')
  const sealed = JSON.parse((await client.get(`${prefix}secret/${secret.id}`).string()) as string).sealed as string
  t.ok(raw.includes(secret.id), 'the secret event names its id')
  t.notOk(raw.includes(VALUE) || raw.includes(Buffer.from(VALUE).toString('base64')), 'no value in the stored events')
  t.notOk(raw.includes(sealed), 'no sealed value in the stored events')
})
