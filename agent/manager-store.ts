import { ConfigError } from '../src/base/errors.ts'
import { loadEtcdStore, managerDbPath, openSqliteStore, type Store } from '../src/manager/index.ts'
import type { Config } from '../src/config/index.ts'
import type { Logger } from './log.ts'
import type { ManagedEtcd } from './etcd-member.ts'

/**
 * The manager's store as the config says: SQLite in `<data-dir>/manager.db` (the default), EtcdStore on the
 * agent's own etcd member (`etcd`: a managed etcd, etcd-member.ts), or on the external etcd of `--store etcd://…`
 * (with `--store-ca/--store-cert/--store-key`), open and its view complete.
 * Without --init, an etcd that holds no cluster is refused (starting one there is --init's job).
 */
export async function openManagerStore(config: Readonly<Config>, log: Logger, etcd: ManagedEtcd | null = null): Promise<Store> {
  const c = config.cluster
  const { EtcdStore, etcdClient, parseEtcdUrl } = etcd || c.store !== '' ? await loadEtcdStore() : { EtcdStore: null, etcdClient: null, parseEtcdUrl: null }
  if (etcd && EtcdStore) {
    const slog = log.child({ sub: 'store' })
    const store = new EtcdStore(etcd.newClient(), { describe: 'the own etcd member', log: (level, msg, fields) => slog[level](fields ?? {}, msg) })
    await store.open()
    slog.info({ revision: store.revision }, 'manager store on the own etcd member')
    return store
  }
  if (c.store === '' || !EtcdStore || !etcdClient || !parseEtcdUrl) return openSqliteStore(managerDbPath(config.dataDir))
  const url = parseEtcdUrl(c.store)
  const client = etcdClient(url, {
    ...(c.storeCa ? { ca: c.storeCa } : {}), ...(c.storeCert ? { cert: c.storeCert } : {}), ...(c.storeKey ? { key: c.storeKey } : {}),
  })
  const slog = log.child({ sub: 'store' })
  const store = new EtcdStore(client, {
    ...(url.prefix ? { prefix: url.prefix } : {}), describe: url.endpoints.join(','),
    log: (level, msg, fields) => slog[level](fields ?? {}, msg),
  })
  await store.open()
  if (!c.init && store.getMeta('cluster_id') === undefined) {
    store.close()
    throw new ConfigError(`--store ${c.store}: holds no mesh cluster yet; start the first manager with --init`)
  }
  slog.info({ endpoints: url.endpoints, revision: store.revision }, 'manager store on etcd')
  return store
}
