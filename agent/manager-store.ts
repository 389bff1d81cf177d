import { ConfigError } from '../src/base/errors.ts'
import { loadEtcdStore, managerDbPath, openSqliteStore, type Store } from '../src/manager/index.ts'
import type { Config } from '../src/config/index.ts'
import type { Logger } from './log.ts'

/**
 * The manager's store as the config says: SQLite in `<data-dir>/manager.db` (the default), or EtcdStore on the
 * external etcd of `--store etcd://…` (with `--store-ca/--store-cert/--store-key`), open and its view complete.
 * Without --init, an etcd that holds no cluster is refused (starting one there is --init's job).
 */
export async function openManagerStore(config: Readonly<Config>, log: Logger): Promise<Store> {
  const c = config.cluster
  if (c.store === '') return openSqliteStore(managerDbPath(config.dataDir))
  const { EtcdStore, etcdClient, parseEtcdUrl } = await loadEtcdStore()
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
