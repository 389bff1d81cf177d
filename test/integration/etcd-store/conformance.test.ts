/**
 * The Store conformance suite (test/unit/manager/store-conformance.ts) on EtcdStore against a real one-member
 * etcd: each test's store lives under its own key prefix, so one etcd serves the whole file.
 */
import t from 'tap'
import { Etcd3 } from 'etcd3'
import { EtcdStore } from '../../../src/manager/etcd-store/index.ts'
import { startEtcd } from '../../support/etcd.ts'
import { storeConformance, type BackendOptions } from '../../unit/manager/store-conformance.ts'

const etcd = await startEtcd(t)
let n = 0

async function openStore(prefix: string, o: BackendOptions = {}): Promise<EtcdStore> {
  const client = new Etcd3({ hosts: etcd.clientUrls })
  return new EtcdStore(client, { prefix, describe: etcd.endpoints.join(','), ...o }).open()
}

storeConformance(t, {
  name: 'etcd',
  open: async (t, o = {}) => {
    const s = await openStore(`/conf${++n}/`, o)
    t.teardown(() => s.close())
    return s
  },
  durable: async (t) => {
    const prefix = `/conf${++n}/`
    let s = await openStore(prefix)
    t.teardown(() => s.close())
    return { store: s, reopen: async () => { s.close(); s = await openStore(prefix); return s } }
  },
})
