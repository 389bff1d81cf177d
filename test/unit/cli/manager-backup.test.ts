/**
 * `mesh manager backup` / `restore` through a real manager API: the file is 0600 and holds the store; `-` writes
 * it to stdout; --with-kek adds the KEK with a warning line and a restore then opens the secrets; a worker
 * certificate is refused (403) and leaves no file; restore refuses a data dir whose agent runs, and a held KEK
 * without --force.
 */
import t from 'tap'
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { main } from '../../../mesh/main.ts'
import { backup } from '../../../mesh/manager-backup.ts'
import { ManagerClient } from '../../../src/api/index.ts'
import { KekFile, SecretVault, createApp, decodeBackup, listen, managerDbPath, openSqliteStore, vaultDir } from '../../../src/manager/index.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { tlsApi } from '../../support/pki.ts'
import { SECRET_VALUE, contents, populatedManager, tempDir } from '../manager/backup/fixture.ts'

const { m, store, dataDir } = await populatedManager(t)
const server = await listen(createApp({ manager: m, local: true }, defaultServiceSpec), { socketPath: join(dataDir, 'manager.sock') })
t.teardown(() => {
  server.closeAllConnections()
  server.close()
})

async function mesh(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const saved = { out: process.stdout.write, err: process.stderr.write, dir: process.env.MESH_DATA_DIR }
  process.stdout.write = ((s: string | Uint8Array) => { out += typeof s === 'string' ? s : Buffer.from(s).toString('latin1'); return true }) as typeof process.stdout.write
  process.stderr.write = ((s: string) => { err += s; return true }) as typeof process.stderr.write
  process.env.MESH_DATA_DIR = dataDir
  try {
    const code = await main(argv, { out: (s) => void (out += s), err: (s) => void (err += s) })
    return { code, out, err }
  } finally {
    process.stdout.write = saved.out
    process.stderr.write = saved.err
    if (saved.dir === undefined) delete process.env.MESH_DATA_DIR
    else process.env.MESH_DATA_DIR = saved.dir
  }
}

t.test('backup FILE: mode 0600, the whole store, then restore and the same state', async (t) => {
  const dir = tempDir(t, 'cli-backup')
  const file = join(dir, 'c.backup')
  const r = await mesh('manager', 'backup', file)
  t.equal(r.code, 0, r.err)
  t.match(r.out, new RegExp(`^Backed up cluster ${store.getMeta('cluster_id')} at revision ${store.revision} \\(\\d+ records, \\d+ bytes\\) to ${file}\\n$`))
  t.equal(statSync(file).mode & 0o777, 0o600, 'mode 0600')
  t.same(readdirSync(dir), ['c.backup'], 'no temp file left')
  t.equal(decodeBackup(readFileSync(file)).header.kek, false, 'no KEK unless asked')
  const target = join(dir, 'restored')
  const rr = await mesh('manager', 'restore', file, '--data-dir', target)
  t.equal(rr.code, 0, rr.err)
  t.match(rr.out, /^Restored cluster \S+ \(revision \d+ of .*: 1 nodes, 2 services, \d+ tasks\) into .*manager\.db\nStart it alone: mesh agent --data-dir /)
  t.match(rr.err, /warning: the backup's secrets open only with the KEK of the manager it came from: copy its <data-dir>\/vault\/kek to /)
  const restored = openSqliteStore(managerDbPath(target))
  t.teardown(() => restored.close())
  t.same(contents(restored), contents(store))
  t.ok(store.getMeta('epoch'), 'the source store has an epoch (init made it)')
  t.match(restored.getMeta('epoch'), /^[0-9a-f]{32}$/, 'the restored store has a new random one')
  t.not(restored.getMeta('epoch'), store.getMeta('epoch'), 'not the backup\'s')
  const again = await mesh('manager', 'restore', file, '--data-dir', target)
  t.same([again.code, again.err], [1, `mesh: ${managerDbPath(target)} holds a store (revision 1): restore replaces it only with --force\n`])
})

t.test('backup -: the file on stdout, the summary on stderr', async (t) => {
  const r = await mesh('manager', 'backup', '-')
  t.equal(r.code, 0, r.err)
  t.equal(decodeBackup(Buffer.from(r.out, 'latin1')).header.revision, store.revision)
  t.match(r.err, /^Backed up cluster /)
})

t.test('--with-kek: a warning line, and the restored manager opens the secrets', async (t) => {
  const dir = tempDir(t, 'cli-kek')
  const file = join(dir, 'k.backup')
  const r = await mesh('manager', 'backup', '--with-kek', file)
  t.equal(r.code, 0, r.err)
  t.equal(r.err, `warning: ${file} holds the key-encryption key: whoever reads it opens every secret in it; keep it offline\n`)
  t.notOk(readFileSync(file).includes(Buffer.from(SECRET_VALUE)), 'the secret is still sealed in the file')
  const target = join(dir, 'restored')
  const rr = await mesh('manager', 'restore', file, '--data-dir', target)
  t.equal(rr.code, 0, rr.err)
  t.equal(rr.err, '', 'no KEK warning: the file had it')
  t.same(new KekFile(vaultDir(target)).read().current, new KekFile(vaultDir(dataDir)).read().current, 'the KEK file is back')
  t.equal(statSync(join(vaultDir(target), 'kek')).mode & 0o777, 0o600)
  const restored = openSqliteStore(managerDbPath(target))
  t.teardown(() => restored.close())
  const vault = new SecretVault({ store: restored, keys: new KekFile(vaultDir(target)) })
  await vault.load()
  t.equal(vault.open(restored.getObject('secret', 'db_password')!).toString(), SECRET_VALUE, 'the secret opens')
  const held = await mesh('manager', 'restore', file, '--data-dir', target, '--force')
  t.equal(held.code, 0, 'with --force a held store and KEK are replaced')
  const noForce = await mesh('manager', 'restore', file, '--data-dir', target)
  t.same([noForce.code, noForce.err], [1, `mesh: ${join(vaultDir(target), 'kek')} exists: restore replaces it with the backup's KEK only with --force\n`])
})

t.test('restore refuses a data dir whose agent runs, and writes nothing', async (t) => {
  const dir = tempDir(t, 'cli-running')
  const file = join(dir, 'c.backup')
  t.equal((await mesh('manager', 'backup', file)).code, 0)
  const target = join(dir, 'live')
  const { mkdirSync } = await import('node:fs')
  mkdirSync(target)
  const agent = createServer()
  await new Promise<void>((r) => agent.listen(join(target, 'mesh.sock'), r))
  t.teardown(() => agent.close())
  const r = await mesh('manager', 'restore', file, '--data-dir', target, '--force')
  t.same([r.code, r.err], [1, `mesh: an agent is running on ${target} (${join(target, 'mesh.sock')} answers): stop it before restoring\n`])
  t.notOk(existsSync(managerDbPath(target)), 'no store written')
})

t.test('restore of a damaged file: one line, nothing written', async (t) => {
  const dir = tempDir(t, 'cli-damaged')
  const file = join(dir, 'c.backup')
  t.equal((await mesh('manager', 'backup', file)).code, 0)
  const { writeFileSync } = await import('node:fs')
  writeFileSync(file, readFileSync(file).subarray(0, 100))
  const r = await mesh('manager', 'restore', file, '--data-dir', join(dir, 't'))
  t.equal(r.code, 1)
  t.match(r.err, /^mesh: .*c\.backup: not a mesh backup, or damaged \(.*\)\n$/)
  t.notOk(existsSync(join(dir, 't')), 'no data dir made')
})

t.test('the backup route refuses a worker certificate; nothing is written', async (t) => {
  const api = await tlsApi(t, m)
  const w1 = await api.joinNode('w-backup')
  const dir = tempDir(t, 'cli-worker')
  const file = join(dir, 'w.backup')
  const worker = new ManagerClient({ host: `tcp://127.0.0.1:${api.port}`, tls: w1.tls })
  await t.rejects(backup(worker, file, { withKek: false }, () => {}, () => {}), { status: 403, code: 'MESH_ERR_FORBIDDEN' })
  t.same(readdirSync(dir), [], 'no file, no temp file')
  const admin = new ManagerClient({ host: `tcp://127.0.0.1:${api.port}`, tls: api.admin })
  await backup(admin, file, { withKek: false }, () => {}, () => {})
  t.equal(decodeBackup(readFileSync(file)).header.clusterId, store.getMeta('cluster_id'), 'an admin certificate may')
})

t.test('a large backup shows progress on stderr; a stream that ends early or arrives damaged leaves no file', async (t) => {
  const { createHash, randomBytes } = await import('node:crypto')
  const data = randomBytes(9 * 1024 * 1024)
  const fake = (o: { drop?: boolean; badSum?: boolean }) => ({
    async stream(_path: string, onValue: (v: unknown) => void): Promise<'ended'> {
      onValue({ header: { clusterId: 'c1', revision: 7, records: 3 }, bytes: data.length })
      for (let at = 0; at < data.length; at += 1024 * 1024) {
        if (o.drop && at > 0) break
        onValue({ chunk: data.subarray(at, at + 1024 * 1024).toString('base64') })
      }
      const sha256 = o.badSum ? '0'.repeat(64) : createHash('sha256').update(data).digest('hex')
      if (!o.drop) onValue({ end: { bytes: data.length, sha256 } })
      return 'ended'
    },
  })
  const dir = tempDir(t, 'cli-progress')
  const file = join(dir, 'big.backup')
  let err = ''
  let out = ''
  await backup(fake({}), file, { withKek: false }, (s) => void (out += s), (s) => void (err += s))
  t.equal(err, 'backup: 4.0 of 9.0 MiB\nbackup: 8.0 of 9.0 MiB\n')
  t.equal(out, `Backed up cluster c1 at revision 7 (3 records, ${data.length} bytes) to ${file}\n`)
  t.ok(readFileSync(file).equals(data), 'the bytes as sent')
  for (const bad of [{ drop: true }, { badSum: true }]) {
    const f = join(dir, `bad-${Object.keys(bad)[0]}.backup`)
    await t.rejects(backup(fake(bad), f, { withKek: false }, () => {}, () => {}),
      { code: 'MESH_ERR_CONTROL', message: 'the manager\'s backup stream ended early or arrived damaged: nothing was written' }, JSON.stringify(bad))
  }
  t.same(readdirSync(dir), ['big.backup'], 'nothing else written')
})

t.test('restore - reads the file from stdin; a manager.sock that answers counts as a running agent', async (t) => {
  const { restoreManager } = await import('../../../src/manager/index.ts')
  const dir = tempDir(t, 'cli-stdin')
  const file = join(dir, 'c.backup')
  t.equal((await mesh('manager', 'backup', file)).code, 0)
  const target = join(dir, 'from-stdin')
  const r = await restoreManager({ file: '-', dataDir: target, force: false, stdin: async () => readFileSync(file) })
  t.equal(r.target, managerDbPath(target))
  const restored = openSqliteStore(managerDbPath(target))
  t.same(contents(restored), contents(store))
  restored.close()
  const live = createServer()
  await new Promise<void>((res) => live.listen(join(target, 'manager.sock'), res))
  t.teardown(() => live.close())
  await t.rejects(restoreManager({ file, dataDir: target, force: true }),
    { code: 'MESH_ERR_BACKUP', message: `an agent is running on ${target} (${join(target, 'manager.sock')} answers): stop it before restoring` })
})
