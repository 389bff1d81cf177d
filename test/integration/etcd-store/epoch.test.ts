/**
 * The store epoch on EtcdStore against a real one-member etcd (each case under its own key prefix; a restart is a
 * new EtcdStore on the same prefix): test/unit/manager/epoch-cases.ts.
 */
import t from 'tap'
import { Etcd3 } from 'etcd3'
import { EtcdStore } from '../../../src/manager/etcd-store/index.ts'
import { startEtcd } from '../../support/etcd.ts'
import { epochCases } from '../../unit/manager/epoch-cases.ts'

const etcd = await startEtcd(t)
let n = 0

async function openStore(prefix: string): Promise<EtcdStore> {
  const client = new Etcd3({ hosts: etcd.clientUrls })
  return new EtcdStore(client, { prefix, describe: etcd.endpoints.join(',') }).open()
}

epochCases(t, {
  durable: async (t) => {
    const prefix = `/epoch${++n}/`
    let s = await openStore(prefix)
    t.teardown(() => s.close())
    return { store: s, reopen: async () => { s.close(); s = await openStore(prefix); return s } }
  },
})
