/** A populated manager for the backup tests: SQLite in a temp data dir, its KEK in `<dir>/vault/kek`, real records. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KekFile, Manager, SecretVault, managerDbPath, openSqliteStore, vaultDir, type Store } from '../../../../src/manager/index.ts'
import { defaultServiceSpec } from '../../../../src/api/spec.ts'
import { FakeClock } from '../../../support/fake-clock.ts'
import { joinAs } from '../../../support/pki.ts'
import type { OBJECT_KINDS } from '../../../../src/manager/store.ts'

export const SECRET_VALUE = 'hunter2-backup-s3cr3t'

interface Teardown { teardown(fn: () => unknown): void }

export function tempDir(t: Teardown, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `mesh-${name}-`))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A manager with a joined node, two services (tasks scheduled), a secret, a config and a network. */
export async function populatedManager(t: Teardown): Promise<{ m: Manager; store: Store; dataDir: string }> {
  const dataDir = tempDir(t, 'backup-src')
  const store = openSqliteStore(managerDbPath(dataDir))
  const vault = new SecretVault({ store, keys: new KekFile(vaultDir(dataDir)) })
  const m = new Manager({ store, clock: new FakeClock(), vault })
  t.teardown(() => store.close())
  await m.init()
  await joinAs(m, 'w1')
  await m.createService({ ...defaultServiceSpec('web', 'nginx:1'), mode: { replicated: { replicas: 2 } } })
  await m.createService(defaultServiceSpec('db', 'postgres:16'))
  await m.secrets.createSecret({ name: 'db_password', labels: {}, data: Buffer.from(SECRET_VALUE).toString('base64') })
  await m.secrets.createConfig({ name: 'nginx.conf', labels: {}, data: Buffer.from('server {}').toString('base64') })
  await m.networks.create({ name: 'backend', driver: 'overlay', attachable: false, internal: false, encrypted: false, labels: {} })
  await m.reconcileNow()
  return { m, store, dataDir }
}

/** Everything a store holds, as lists and metadata (`epoch` left out: a restore sets a new one). */
export function contents(store: Store): Record<string, unknown> {
  const { epoch: _epoch, ...meta } = store.listMeta()
  const kinds: (typeof OBJECT_KINDS)[number][] = ['secret', 'config', 'network']
  return {
    nodes: store.listNodes(), services: store.listServices(), tasks: store.listTasks(),
    ...Object.fromEntries(kinds.map((k) => [k, store.listObjects(k)])), meta,
  }
}
