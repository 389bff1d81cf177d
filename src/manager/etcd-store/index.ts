/**
 * src/manager/etcd-store — the manager's Store on etcd 3.4 (`--store etcd://…`), beside SqliteStore.
 *
 * keys.ts (key layout + codec), view.ts (the local view fed by the watch, and a transaction's writes over it),
 * commit.ts (one guarded etcd transaction per transact, retries, no-quorum), compaction.ts (bounded etcd history),
 * etcd-store.ts (the Store), client.ts (the etcd:// URL and TLS files → an etcd3 client), events.ts (the event
 * history under `<prefix>events/`: appended and pruned beside the store revision, never through the view), paged.ts
 * (whole-prefix reads in pages at one revision: an answer must fit gRPC's 4 MiB).
 *
 * Invariants: those of store.ts. Never: decrypt or add plaintext (records are stored exactly as SqliteStore stores
 * them), crash on a value it cannot read (logged once, skipped), or retry a write whose commit it cannot rule out.
 */
export { EtcdStore, openEtcdStore, type EtcdStoreOptions, type StoreLog } from './etcd-store.ts'
export { etcdClient, parseEtcdUrl, type EtcdStoreUrl, type EtcdTlsPaths } from './client.ts'
export { MAX_RERUNS } from './commit.ts'
