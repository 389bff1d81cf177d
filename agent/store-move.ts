import { existsSync, readFileSync } from 'node:fs'
import { chmod, open, rename, rm } from 'node:fs/promises'
import type http from 'node:http'
import { dirname, join } from 'node:path'
import type { Registry } from 'prom-client'
import {
  FreezableStore, frozenCopy, MOVE_DONE_FILE, MOVE_PENDING_FILE, MOVING_LINE, issueMemberTls, loadIntoEtcd, managerDbPath, moveRecovery, movedDbName, randomEpoch,
  loadEtcdStore, OBJECT_KINDS, RequestRefusedError, stopOrphan, takeMoveSnapshot, type Manager, type MoveStep, type StoreMove,
} from '../src/manager/index.ts'
import { MESH_VERSION } from '../src/api/version.ts'
import { MeshError } from '../src/base/errors.ts'
import type { Config } from '../src/config/index.ts'
import type { Gossip } from '../src/gossip/index.ts'
import type { Logger } from './log.ts'
import type { ClusterParts } from './cluster.ts'
import { etcdDataDir, etcdTlsDir, startManagedEtcd, type ManagedEtcd } from './etcd-member.ts'
import { followGossip, managerMetrics } from './manager-half.ts'

/**
 * A single manager on SQLite moves its state into a managed etcd on its own node (issue 15 item 2), when a second
 * manager is asked for (`mesh node promote`, a manager-token join: the Manager calls its StoreMove role). Wiring
 * only: the rules and the data path are src/manager/backup/move.ts. In order:
 *
 *  1. freeze the store (writes answer 503 with MOVING_LINE), wait for the writes in flight and the event history;
 *  2. snapshot at one revision through the backup file's checks, with the event history;
 *  3. `store-move.pending`; the etcd dirs of an earlier attempt wiped; a member certificate from the cluster's own
 *     CA (CN = this manager's node id); a one-member etcd started in init mode with the cluster id as its token;
 *  4. the snapshot loaded (bounded batches, a new store epoch: agents follow the new store), then the events;
 *  5. `store-move.done`, the marker: from here on etcd is the cluster's store;
 *  6. the SQLite manager stops (not its API servers), manager.db becomes `manager.db.moved-<time>` (0600, kept for a
 *     rollback), both files are removed;
 *  7. the manager reopens on etcd (leader election, members) and takes over the API servers (`parts.serveMoved`).
 *
 * A failure before the marker stops the member, wipes its dirs and thaws SQLite: nothing changed. A crash at any
 * step is settled at the next start by recoverStoreMove (before openCluster looks at the data dir).
 */

type MoveLog = Pick<Logger, 'child'>

/** What a move needs from the agent. */
export interface MoveDeps {
  config: Readonly<Config>
  log: Logger
  parts: ClusterParts
  /** The SQLite store the manager runs on, wrapped so that its writes can stop. */
  store: FreezableStore
  /** Open the manager on `parts.etcd` (cluster.ts openManager): sets parts.store, parts.manager, parts.leadership. */
  reopen: () => Promise<unknown>
}

/** A crash a test injected at a kill point: the move stops there, its files left as a killed agent leaves them. */
export class InjectedCrash extends MeshError {
  readonly step: MoveStep
  constructor(step: MoveStep) {
    super('MESH_ERR_INJECTED_CRASH', `injected crash after step ${step}`)
    this.step = step
  }
}

/** The Manager's StoreMove role over the agent's parts. */
export function storeMoveRole(d: MoveDeps): StoreMove {
  return { toEtcd: () => moveToEtcd(d) }
}

async function moveToEtcd(d: MoveDeps): Promise<Manager> {
  const { config, parts, store } = d
  const dataDir = config.dataDir
  const mlog = d.log.child({ sub: 'manager' })
  const old = parts.manager
  const self = old?.getNode(config.gossip.name)
  if (!old || !self || self.role !== 'manager') throw new Error(`this manager's own node (${config.gossip.name}) is not registered yet`)
  const clusterId = old.clusterInfo().clusterId
  const kill = (step: MoveStep): void => {
    if (parts.moveKillPoint?.(step) === 'crash') throw new InjectedCrash(step)
  }
  // With autolock the manager on etcd loads its vault locked, like any start: it is unlocked with the cluster's own
  // unlock key, read from this (unlocked) vault and kept in memory only (never logged, never written).
  const unlockKey = old.vault.state === 'unlocked' && old.vault.autolock ? old.vault.unlockKey() : null
  store.freeze(MOVING_LINE)
  let etcd: ManagedEtcd | null = null
  let committed = false
  try {
    await store.drained()
    await old.events.flush()
    const snap = await takeMoveSnapshot(store, { meshVersion: MESH_VERSION, now: () => new Date() })
    mlog.info({ revision: snap.backup.header.revision, records: snap.backup.header.records, events: snap.events.length }, 'moving the store from SQLite into etcd')
    kill('snapshot')
    await writeAtomic(join(dataDir, MOVE_PENDING_FILE), `${JSON.stringify({ clusterId, revision: snap.backup.header.revision, startedAt: new Date().toISOString() })}\n`)
    kill('pending')
    await wipeEtcdDirs(dataDir)
    const tls = await issueMemberTls(old.ca, { nodeId: self.id, clusterId, addr: config.gossip.advertiseAddr })
    etcd = await startManagedEtcd(config, d.log, { mode: { kind: 'init' }, tls, clusterToken: clusterId })
    kill('etcd-started')
    const loaded = await loadIntoEtcd(etcd.client, snap, { epoch: randomEpoch(), describe: 'the own etcd member' })
    await verifyLoaded(etcd, snap.backup.header.records) // the store opens on etcd and holds every record, or no marker
    kill('loaded')
    const movedName = movedDbName(new Date()) // in the marker: a finish after a crash renames to the same name
    await writeAtomic(join(dataDir, MOVE_DONE_FILE), `${JSON.stringify({ clusterId, member: self.id, batches: loaded.batches, moved: movedName })}\n`)
    committed = true
    kill('marker')
    // The SQLite manager stops; its API servers stay (serveMoved hands them to the manager on etcd).
    parts.unsubscribeGossip?.()
    parts.unsubscribeGossip = undefined
    old.stop()
    await Promise.allSettled([...(parts.nodeUpdates ?? [])])
    store.retire(await frozenCopy(snap)) // SQLite closes; requests in flight on the old manager read the copy
    parts.store = null
    const moved = await finishMove(dataDir)
    kill('renamed')
    parts.etcd = etcd
    await d.reopen()
    const next = parts.manager as Manager | null
    if (!next || next === old) throw new Error('the manager did not reopen on etcd')
    if (unlockKey && next.vault.locked) await next.vault.unlock(unlockKey)
    await parts.serveMoved?.(next)
    mlog.warn({ moved, member: self.id }, 'the cluster\'s store moved from SQLite into etcd on this node; the old manager.db is kept, renamed')
    return next
  } catch (err) {
    if (err instanceof InjectedCrash) {
      await etcd?.stop() // what dies with a killed agent
      throw err
    }
    if (!committed) {
      await etcd?.stop()
      await wipeEtcdDirs(dataDir)
      await rm(join(dataDir, MOVE_PENDING_FILE), { force: true })
      store.thaw()
      mlog.error({ err: (err as Error).message }, 'moving the store into etcd failed: the manager stays on SQLite')
      throw err
    }
    mlog.error({ err: (err as Error).message }, 'the store moved into etcd, but the manager did not start on it: restart the agent (it starts on etcd)')
    throw new RequestRefusedError('MESH_ERR_UNAVAILABLE', `the cluster's state moved into etcd, but the manager did not start on it (${(err as Error).message}); ` +
      'restart this manager\'s agent: it starts on etcd')
  }
}

/** Opens the loaded etcd as the manager will (EtcdStore) and counts its records: a store it cannot open is no move. */
async function verifyLoaded(etcd: ManagedEtcd, records: number): Promise<void> {
  const { EtcdStore } = await loadEtcdStore()
  const store = new EtcdStore(etcd.newClient(), { describe: 'the own etcd member' })
  try {
    await store.open()
    const s = store.getState()
    const held = s.nodes.length + s.services.length + s.tasks.length + OBJECT_KINDS.reduce((n, k) => n + store.listObjects(k).length, 0)
    if (held !== records) throw new Error(`etcd holds ${held} records after the load, the snapshot ${records}`)
  } finally {
    store.close()
  }
}

/**
 * At agent start, before the data dir is looked at: settle a move a crash interrupted (backup/move.ts
 * moveRecovery): marker found → rename manager.db, drop the files (the manager starts on etcd); pending without the
 * marker → stop an etcd left running, wipe the etcd dirs, drop the file (the manager starts on SQLite, untouched).
 */
export async function recoverStoreMove(dataDir: string, log: MoveLog): Promise<'none' | 'finish' | 'rollback'> {
  const db = managerDbPath(dataDir)
  const action = moveRecovery({ pending: existsSync(join(dataDir, MOVE_PENDING_FILE)), done: existsSync(join(dataDir, MOVE_DONE_FILE)), db: existsSync(db) })
  const mlog = log.child({ sub: 'manager' })
  if (action === 'finish') {
    const moved = await finishMove(dataDir)
    mlog.warn({ moved }, 'finished a store move a restart interrupted: the manager runs on etcd')
  } else if (action === 'rollback') {
    await stopOrphan(etcdDataDir(dataDir), 10_000)
    await wipeEtcdDirs(dataDir)
    await rm(join(dataDir, MOVE_PENDING_FILE), { force: true })
    mlog.warn('a store move into etcd did not complete before the agent stopped: its etcd data was wiped, the manager stays on SQLite')
  } else {
    await rm(join(dataDir, MOVE_PENDING_FILE), { force: true })
  }
  return action
}

/**
 * manager.db and a WAL beside it → `manager.db.moved-<time>` (the name the marker holds, so a finish after a crash
 * between these renames keeps them together), 0600; then the move's files go.
 */
async function finishMove(dataDir: string): Promise<string | null> {
  const db = managerDbPath(dataDir)
  const moved = join(dataDir, markedName(join(dataDir, MOVE_DONE_FILE)) ?? movedDbName(new Date()))
  let renamed: string | null = null
  for (const suffix of ['-wal', '-shm', '']) {
    if (!existsSync(`${db}${suffix}`)) continue
    await rename(`${db}${suffix}`, `${moved}${suffix}`)
    await chmod(`${moved}${suffix}`, 0o600)
    if (suffix === '') renamed = moved
  }
  await syncDir(dataDir) // the renames are durable before the files that would undo them go
  await rm(join(dataDir, MOVE_PENDING_FILE), { force: true })
  await rm(join(dataDir, MOVE_DONE_FILE), { force: true })
  await syncDir(dataDir) // and before the manager writes to etcd
  return renamed
}

/** The renamed store's file name from the marker, if it holds a sound one (it is read as hostile input). */
function markedName(marker: string): string | null {
  try {
    const v = (JSON.parse(readFileSync(marker, 'utf8')) as { moved?: unknown }).moved
    return typeof v === 'string' && /^manager\.db\.moved-[0-9TZ-]{1,40}$/.test(v) ? v : null
  } catch {
    return null
  }
}

async function wipeEtcdDirs(dataDir: string): Promise<void> {
  await rm(etcdDataDir(dataDir), { recursive: true, force: true })
  await rm(etcdTlsDir(dataDir), { recursive: true, force: true })
}

/** Written through a rename, file and folder synced: a power loss leaves the old state or the new one. */
async function writeAtomic(path: string, text: string): Promise<void> {
  const fh = await open(`${path}.tmp`, 'w', 0o600)
  try {
    await fh.writeFile(text)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(`${path}.tmp`, path)
  await syncDir(dirname(path))
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/** A running server answers with `app` from its next request on (the ones in flight finish on the old one). */
export function swapHandler(server: http.Server, app: http.RequestListener): void {
  server.removeAllListeners('request')
  server.on('request', app)
}

/**
 * The manager on etcd takes over what startCluster gave the SQLite one: the API servers (same order as `apps`),
 * its own node (registered again: its id is kept), the gossip subscription, the metrics, retirement on removal.
 */
export async function serveMovedManager(next: Manager, o: {
  parts: ClusterParts; registry: Registry; gossip: Gossip; log: Logger; apps: (m: Manager) => http.RequestListener[]
  registerSelf: (m: Manager) => Promise<void>; retire: () => void
}): Promise<void> {
  const { parts } = o
  next.start()
  await o.registerSelf(next)
  const apps = o.apps(next)
  parts.servers.forEach((s, i) => {
    const app = apps[i]
    if (app) swapHandler(s, app)
  })
  // The old manager's metrics go, the new one's come (the same names), and stopManager drops these later.
  parts.dropManagerMetrics?.()
  parts.dropManagerMetrics = managerMetrics(o.registry, next)
  followGossip(parts, next, o.gossip, o.log.child({ sub: 'manager' }))
  o.retire()
}
