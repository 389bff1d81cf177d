/**
 * The secret vault: AES-256-GCM sealing bound to its record; the data key in the store only wrapped by the KEK,
 * which lives in <data-dir>/vault/kek. A copy of manager.db (+ WAL) and the data dir without that file opens
 * nothing, and neither does another store's KEK; the value is in none of the copied bytes (plain, hex, base64).
 */
import t from 'tap'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KekFile, MemoryKeyFile, SecretVault, VaultError, managerDbPath, openSqliteStore, vaultDir } from '../../../../src/manager/index.ts'
import { open, seal } from '../../../../src/manager/vault/crypto.ts'

const VALUE = 'correct-horse-battery-staple-42'

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name))
}

/** Every form of the value a grep would look for. */
function leaks(bytes: Buffer): string[] {
  const forms = { plain: Buffer.from(VALUE), hex: Buffer.from(Buffer.from(VALUE).toString('hex')), base64: Buffer.from(Buffer.from(VALUE).toString('base64')) }
  return Object.entries(forms).filter(([, f]) => bytes.includes(f)).map(([k]) => k)
}

t.test('sealing: bound to the record, refused with another key, never the plain bytes', async (t) => {
  const key = Buffer.alloc(32, 1)
  const sealed = seal(key, 'secret:a', Buffer.from(VALUE), (n) => Buffer.alloc(n, 9))
  t.equal(open(key, 'secret:a', sealed, 'x').toString(), VALUE)
  t.throws(() => open(key, 'secret:b', sealed, 'secret "b"'), { code: 'MESH_ERR_VAULT', message: 'secret "b": does not open with this key' }, 'moved to another record')
  t.throws(() => open(Buffer.alloc(32, 2), 'secret:a', sealed, 'x'), VaultError, 'another key')
  t.throws(() => open(key, 'secret:a', 'plain text', 'x'), { message: 'x: not a sealed value' })
  t.same(leaks(Buffer.from(sealed)), [])
})

t.test('a copy of the store and data dir without the KEK opens nothing', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mesh-vault-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const store = openSqliteStore(managerDbPath(dataDir))
  const vault = new SecretVault({ store, keys: new KekFile(vaultDir(dataDir)) })
  await vault.load()
  const sealed = vault.sealSecret('id1', Buffer.from(VALUE))
  await store.transact((tx) => tx.putObject('secret', { id: 'id1', spec: { name: 'db', labels: {} }, sealed, version: 1, createdAt: 1, updatedAt: 1 }))
  const kek = join(vaultDir(dataDir), 'kek')
  t.equal(statSync(kek).mode & 0o777, 0o600, 'kek is 0600')
  t.equal(statSync(vaultDir(dataDir)).mode & 0o777, 0o700, 'its folder is 0700')

  // the copy, taken while the store is open (manager.db, -wal, -shm, everything), minus the KEK
  const copy = mkdtempSync(join(tmpdir(), 'mesh-vault-copy-'))
  t.teardown(() => rmSync(copy, { recursive: true, force: true }))
  cpSync(dataDir, copy, { recursive: true })
  rmSync(join(vaultDir(copy), 'kek'))
  t.ok(filesUnder(copy).some((f) => f.endsWith('manager.db')), 'the db was copied')
  for (const f of filesUnder(copy)) t.same(leaks(readFileSync(f)), [], `${f.slice(copy.length)}: no form of the value`)

  const copied = openSqliteStore(managerDbPath(copy))
  t.teardown(() => copied.close())
  await t.rejects(new SecretVault({ store: copied, keys: new KekFile(vaultDir(copy)) }).load(),
    { code: 'MESH_ERR_VAULT', message: `${join(vaultDir(copy), 'kek')} is missing: the secrets in this store cannot be read without its key-encryption key (restore the file from this manager's backup)` })

  // another store's KEK (an attacker's own cluster) does not open it either
  const other = mkdtempSync(join(tmpdir(), 'mesh-vault-other-'))
  t.teardown(() => rmSync(other, { recursive: true, force: true }))
  const otherStore = openSqliteStore(':memory:')
  await new SecretVault({ store: otherStore, keys: new KekFile(vaultDir(other)) }).load()
  otherStore.close()
  cpSync(join(vaultDir(other), 'kek'), join(vaultDir(copy), 'kek'))
  const wrong = new SecretVault({ store: copied, keys: new KekFile(vaultDir(copy)) })
  await t.rejects(wrong.load(), { code: 'MESH_ERR_VAULT', message: /does not open this store's data key/ })
  t.throws(() => wrong.open(copied.getObject('secret', 'db')!), VaultError, 'no value from a vault that did not load')

  // the manager itself, restarted with its own KEK, reads it
  store.close()
  const again = openSqliteStore(managerDbPath(dataDir))
  t.teardown(() => again.close())
  const reopened = new SecretVault({ store: again, keys: new KekFile(vaultDir(dataDir)) })
  await reopened.load()
  t.equal(reopened.open(again.getObject('secret', 'db')!).toString(), VALUE)
})

t.test('a crash between the KEK file and the store settles on the KEK that opens the data key', async (t) => {
  const store = openSqliteStore(':memory:')
  t.teardown(() => store.close())
  const keys = new MemoryKeyFile()
  const vault = new SecretVault({ store, keys })
  await vault.load()
  const sealed = vault.sealSecret('s', Buffer.from(VALUE))
  // a next KEK written, the store never took it (crash before the transaction): dropped at load
  keys.next = { version: 1, kek: Buffer.alloc(32, 3).toString('base64') }
  const a = new SecretVault({ store, keys })
  await a.load()
  t.equal(keys.next, null, 'unused next dropped')
  t.equal(a.openFor('secret:s', sealed, 'x').toString(), VALUE)
  // the store took the next KEK's wrap, the rename never happened: next promoted at load
  const before = keys.current
  await a.rotate()
  keys.next = keys.current
  keys.current = before
  const b = new SecretVault({ store, keys })
  await b.load()
  t.equal(keys.next, null)
  t.not(keys.current, before, 'the new KEK is current')
  t.equal(b.openFor('secret:s', sealed, 'x').toString(), VALUE, 'rotation rewraps only: old values open')
})
