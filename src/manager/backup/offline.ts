/**
 * `mesh manager restore FILE --data-dir DIR [--store etcd://…] [--force]` (the offline part, run by the CLI on the host of the manager to restore): reads and checks the whole file
 * (src/manager/backup), refuses while an agent runs on DIR (its control or manager socket answers), refuses a
 * target that holds a store or a KEK file unless --force, then writes a fresh store (SQLite in DIR/manager.db, or
 * the etcd of --store) with a new epoch, and the KEK when the file carries one. Nothing is written before every
 * check passed.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { CONTROL_SOCKET, MANAGER_SOCKET } from '../../api/index.ts'
import { BackupError } from './errors.ts'
import { decodeBackup, type Backup } from './format.ts'
import { restoreEtcd, restoreSqlite } from './restore.ts'
import { managerDbPath } from '../sqlite-store.ts'
import { randomEpoch } from '../epoch.ts'
import { KekFile, vaultDir } from '../vault/key-file.ts'

export interface RestoreRequest {
  file: string
  dataDir: string
  /** etcd://HOST:PORT[,…][/prefix]; absent: SQLite in the data dir. */
  store?: string
  storeCa?: string
  storeCert?: string
  storeKey?: string
  force: boolean
  /** The file's bytes when FILE is `-` (stdin). */
  stdin?: () => Promise<Buffer>
  /** The new store epoch. Default: randomEpoch (src/manager/epoch.ts). */
  newEpoch?: () => string
}

export interface RestoreResult {
  backup: Backup
  target: string
  /** Warnings for stderr (one line each). */
  warnings: string[]
}

export async function restoreManager(r: RestoreRequest): Promise<RestoreResult> {
  const bytes = r.file === '-' ? await (r.stdin ?? readStdin)() : readBackupFile(r.file)
  const backup = decodeBackup(bytes, r.file === '-' ? 'stdin' : r.file)
  for (const sock of [CONTROL_SOCKET, MANAGER_SOCKET]) {
    const path = join(r.dataDir, sock)
    if (await answers(path)) throw new BackupError(`an agent is running on ${r.dataDir} (${path} answers): stop it before restoring`)
  }
  const kekFile = new KekFile(vaultDir(r.dataDir))
  const heldKek = kekFile.read().current
  if (backup.kek && heldKek && !r.force) {
    throw new BackupError(`${kekFile.where} exists: restore replaces it with the backup's KEK only with --force`)
  }
  const warnings: string[] = []
  if (!backup.kek && !heldKek && backup.meta.vault_data_key !== undefined) {
    warnings.push(`the backup's secrets open only with the KEK of the manager it came from: copy its <data-dir>/vault/kek to ${kekFile.where} before starting the agent`)
  }
  const epoch = (r.newEpoch ?? randomEpoch)()
  mkdirSync(r.dataDir, { recursive: true, mode: 0o700 })
  let target: string
  if (r.store === undefined || r.store === '') {
    target = managerDbPath(r.dataDir)
    await restoreSqlite(target, backup, { force: r.force, epoch })
  } else {
    const { etcdClient, parseEtcdUrl } = await import('../etcd-store/index.ts')
    const url = parseEtcdUrl(r.store)
    const client = etcdClient(url, {
      ...(r.storeCa ? { ca: r.storeCa } : {}), ...(r.storeCert ? { cert: r.storeCert } : {}), ...(r.storeKey ? { key: r.storeKey } : {}),
    })
    target = r.store
    try {
      await restoreEtcd(client, url.prefix ?? '/mesh/', backup, { force: r.force, epoch, describe: url.endpoints.join(',') })
    } catch (err) {
      if (err instanceof BackupError) throw err
      throw new BackupError(`${r.store}: ${(err as Error).message}`, { cause: err })
    } finally {
      client.close()
    }
  }
  if (backup.kek) {
    kekFile.writeNext(backup.kek)
    kekFile.promoteNext()
  }
  return { backup, target, warnings }
}

function readBackupFile(path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    throw new BackupError(`${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

/** Whether something accepts a connection on the unix socket at `path` (bounded: 2 s). */
function answers(path: string): Promise<boolean> {
  if (!existsSync(path)) return Promise.resolve(false)
  return new Promise((resolve) => {
    const s = connect(path)
    const done = (v: boolean): void => {
      clearTimeout(timer)
      s.destroy()
      resolve(v)
    }
    const timer = setTimeout(() => done(true), 2000)
    s.once('connect', () => done(true))
    s.once('error', () => done(false))
  })
}
