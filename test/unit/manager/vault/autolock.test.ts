/**
 * Autolock, the locked restart path on the real app: a cluster made with autolock returns its unlock key once and
 * keeps no plain KEK on disk; restarted, the manager answers every route with `the manager is locked: run mesh
 * unlock` until POST /v1/unlock with the right key (a wrong one is refused, still locked); then secrets open again.
 * `unlock-key` shows the key, `--rotate` replaces it: after the next restart only the new one unlocks.
 */
import t from 'tap'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KekFile, Manager, SecretVault, createApp, listen, managerDbPath, openSqliteStore, vaultDir } from '../../../../src/manager/index.ts'
import { defaultServiceSpec } from '../../../../src/api/spec.ts'
import { jsonRequest } from '../../../../src/api/index.ts'
import { FakeClock } from '../../../support/fake-clock.ts'
import { showUnlockKey, unlock } from '../../../../mesh/unlock.ts'

const dataDir = mkdtempSync(join(tmpdir(), 'mesh-autolock-'))
t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))

/** One manager process: store, vault, manager, API on 127.0.0.1:0; `stop` is the restart's first half. */
async function start(autolock = false) {
  const store = openSqliteStore(managerDbPath(dataDir))
  const vault = new SecretVault({ store, keys: new KekFile(vaultDir(dataDir)) })
  const manager = new Manager({ store, clock: new FakeClock(), vault })
  const init = await manager.init({ autolock })
  const server = await listen(createApp({ manager, local: true }, defaultServiceSpec), { host: '127.0.0.1', port: 0 })
  const target = { host: '127.0.0.1', port: (server.address() as { port: number }).port }
  const call = (method: string, path: string, body?: unknown) => jsonRequest(target, { method, path, body, timeoutMs: 30_000 })
  const client = {
    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      const r = await call(method, path, body)
      if (r.status >= 400) throw new Error((r.body as { error: { message: string } }).error.message)
      return r.body as T
    },
  }
  const stop = () => {
    server.closeAllConnections()
    server.close()
    store.close()
  }
  return { init, vault, manager, store, call, client, stop }
}

const VALUE = 'autolocked-value-91'
const LOCKED = { error: { code: 'MESH_ERR_LOCKED', message: 'the manager is locked: run mesh unlock' } }

t.test('autolock: locked after a restart until mesh unlock', async (t) => {
  const first = await start(true)
  const key = first.init.unlockKey as string
  t.match(key, /^MESHUNLOCK-1-[A-Za-z0-9_-]{43}$/, 'the unlock key, shown once')
  t.equal((await first.call('POST', '/v1/secrets', { name: 'db', data: Buffer.from(VALUE).toString('base64') })).status, 201)
  let out = ''
  await showUnlockKey(first.client, {}, (s) => { out += s })
  t.match(out, `run \`mesh unlock\` and provide the following key:\n\n    ${key}\n`, 'mesh unlock-key shows it')
  const kek = JSON.parse(readFileSync(join(vaultDir(dataDir), 'kek'), 'utf8')) as Record<string, unknown>
  t.same(Object.keys(kek).sort(), ['locked', 'version'], 'no plain KEK on disk')
  first.stop()

  const second = await start()
  t.equal(second.init.unlockKey, undefined, 'no new key on a restart')
  t.ok(second.vault.locked)
  for (const [method, path] of [['GET', '/v1/secrets'], ['GET', '/v1/services'], ['GET', '/v1/unlock-key'], ['GET', '/v1/nodes']]) {
    const r = await second.call(method as string, path as string)
    t.equal(r.status, 503, `${method} ${path}: 503`)
    t.same(r.body, LOCKED, `${method} ${path}: one line`)
  }
  const wrong = await second.call('POST', '/v1/unlock', { key: `MESHUNLOCK-1-${Buffer.alloc(32, 1).toString('base64url')}` })
  t.equal(wrong.status, 400)
  t.match(wrong.body, { error: { code: 'MESH_ERR_VAULT', message: /^invalid unlock key/ } })
  t.match((await second.call('POST', '/v1/unlock', { key: 'garbage' })).body, { error: { message: /^invalid unlock key: want MESHUNLOCK-1-/ } })
  t.ok(second.vault.locked, 'still locked')
  await unlock(second.client, key)
  t.notOk(second.vault.locked)
  t.equal((await second.call('GET', '/v1/secrets/db')).status, 200)
  t.equal(second.vault.open(second.store.getObject('secret', 'db')!).toString(), VALUE, 'secrets open again')
  t.match((await second.call('POST', '/v1/unlock', { key })).body, { error: { message: 'the manager is not locked' } })

  let rotated = ''
  await showUnlockKey(second.client, { rotate: true }, (s) => { rotated += s })
  const newKey = /MESHUNLOCK-1-\S+/.exec(rotated)?.[0] as string
  t.match(rotated, /^Successfully rotated the manager unlock key\./)
  t.not(newKey, key)
  let quiet = ''
  await showUnlockKey(second.client, { quiet: true }, (s) => { quiet += s })
  t.equal(quiet, `${newKey}\n`, '-q: the key alone')
  second.stop()

  const third = await start()
  t.ok(third.vault.locked)
  await t.rejects(unlock(third.client, key), /invalid unlock key/, 'the old key no longer unlocks')
  await unlock(third.client, newKey)
  t.equal(third.vault.open(third.store.getObject('secret', 'db')!).toString(), VALUE, 'rotation rewrapped: the value opens')
  third.stop()
})

t.test('without autolock: not locked after a restart, no unlock key', async (t) => {
  rmSync(dataDir, { recursive: true, force: true })
  const a = await start()
  t.equal(a.init.unlockKey, undefined)
  a.stop()
  const b = await start()
  t.notOk(b.vault.locked)
  t.match((await b.call('GET', '/v1/unlock-key')).body, { error: { code: 'MESH_ERR_VAULT', message: /^autolock is not enabled/ } })
  t.match((await b.call('POST', '/v1/unlock-key/rotate')).body, { error: { message: /^autolock is not enabled/ } })
  b.stop()
})
