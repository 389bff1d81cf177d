/**
 * The event history on EtcdStore against a real one-member etcd (issue 15 item 6): the EventHistory conformance
 * (each test under its own prefix), which also restarts a Manager on a new EtcdStore over the same etcd and checks
 * nothing secret is in the stored values.
 */
import t from 'tap'
import { Etcd3 } from 'etcd3'
import { EtcdStore } from '../../../src/manager/etcd-store/index.ts'
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
    const client = new Etcd3({ hosts: etcd.clientUrls })
    t.teardown(() => client.close())
    return {
      store: s,
      reopen: async () => { s.close(); s = await openStore(prefix); return s },
      rawEvents: async () => Object.values(await client.getAll().prefix(`${prefix}events/`).strings()).join('\n'),
      rawSealed: async (id) => String(JSON.parse((await client.get(`${prefix}secret/${id}`).string()) as string).sealed),
    }
  },
})
